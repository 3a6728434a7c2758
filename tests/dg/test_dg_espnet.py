"""DG training end to end through `espnet_cs_ext.bin.asr_train_dg` (ESPnet's CLI):
collect stats, then 3 Fish steps on two domains of real espeak-ng audio; and the
configuration errors that must stop a run before training starts."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dg_data import DOMAINS, make_data_dir

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


def run(args, cwd, ok=True):
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    if ok:
        assert proc.returncode == 0, f"{args[:2]} failed:\n{proc.stderr[-4000:]}"
    return proc


def train_config(whisper: Path) -> dict:
    """The recipe's resolved dg_fish config, shrunk: tiny Whisper, batch 4 (2 per domain), 3 steps."""
    from espnet_cs_ext.recipe.dg_config import resolve

    conf_dir = Path(__file__).parents[2] / "egs2/cs_unseen/asr1/conf/tuning/dg"
    conf = resolve(conf_dir / "base.yaml", "fish", conf_dir / "fish.yaml")
    conf["encoder_conf"]["whisper_model"] = conf["decoder_conf"]["whisper_model"] = str(whisper)
    conf.update(batch_size=4, max_epoch=1, num_iters_per_epoch=3, optim_conf={"lr": 1e-3, "weight_decay": 0.0},
                scheduler=None, scheduler_conf={}, use_tensorboard=True,
                input_size=1)  # raw audio (the recipe passes --input_size)
    conf["dg_conf"] = {**conf.get("dg_conf", {}), "log_cos_every": 1}
    return conf


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_whisper, whisper_token_list):
    work = tmp_path_factory.mktemp("dg_espnet")
    data = make_data_dir(work / "data")
    tokens = whisper_token_list
    config = work / "train.yaml"
    config.write_text(yaml.safe_dump(train_config(tiny_whisper)))
    common = ["-m", "espnet_cs_ext.bin.asr_train_dg", "--config", str(config), "--token_list", str(tokens),
              "--use_preprocessor", "true", "--ngpu", "0"]
    for kind in ("train", "valid"):
        for f, name, typ in (("wav.scp", "speech", "sound"), ("text", "text", "text"), ("prompt", "prompt", "text")):
            common += [f"--{kind}_data_path_and_name_and_type", f"{data}/{f},{name},{typ}"]
    stats = work / "stats"
    run(common + ["--collect_stats", "true", "--output_dir", str(stats),
                  "--train_shape_file", f"{data}/wav.scp", "--valid_shape_file", f"{data}/wav.scp"], work)
    exp = work / "exp"
    shapes = ["--train_shape_file", f"{stats}/train/speech_shape", "--valid_shape_file", f"{stats}/valid/speech_shape"]
    proc = run(common + ["--output_dir", str(exp), *shapes], work)
    (exp / "train.log").write_text(proc.stderr)
    return work, exp, data, common, shapes


def test_fish_trains_three_steps_and_logs_domain_stats(trained, tiny_whisper):
    import torch

    from espnet_cs_ext.whisper import load_checkpoint

    _, exp, _, _, _ = trained
    log = (exp / "train.log").read_text()
    m = re.search(r"1epoch results: \[train\](.*?)\[valid\]", log)
    assert m, log[-3000:]
    train = dict(kv.split("=") for kv in re.findall(r"(\w[\w-]*=[-0-9.e+naif]+)", m.group(1)))
    assert int(train["total_count"]) == 3, train
    assert math.isfinite(float(train["loss"]))
    a, b = DOMAINS
    for key in (f"loss_{a}", f"loss_{b}", f"cos_{a}_{b}", "cos_mean", "grad_norm", "acc"):
        assert key in train and math.isfinite(float(train[key])), (key, train)
    assert "DG algorithm fish" in log and "2 utterance(s) from each of" in log
    state = torch.load(exp / "1epoch.pth", map_location="cpu", weights_only=True)
    before = load_checkpoint(tiny_whisper)[1]
    q = state["encoder.encoders.blocks.0.attn.query.weight"]
    assert not torch.equal(q, before["encoder.blocks.0.attn.query.weight"].float())
    assert torch.isfinite(q).all()
    events = list((exp / "tensorboard" / "train").glob("events.out.tfevents.*"))
    assert events, "no TensorBoard events for train"
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["dg_algorithm"] == "fish" and config["dg_conf"]["meta_lr"] == 0.5


def _cli_error(trained, tmp_path, extra, data=None):
    """Run training with `extra` args; it must exit 2 with a one-line error, building nothing."""
    work, _, data_dir, common, shapes = trained
    common = [c.replace(str(data_dir), str(data)) if data else c for c in common]
    out = tmp_path / "exp"
    proc = run(common + ["--output_dir", str(out), *shapes, *extra], work, ok=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert not (out / "checkpoint.pth").exists()
    return proc.stderr.strip().splitlines()[-1]


def test_bad_configs_stop_before_training(trained, tmp_path):
    msg = _cli_error(trained, tmp_path, ["--dg_algorithm", "fishy"])
    assert "unknown dg_algorithm 'fishy'; valid: erm, fish, fishr, gga, gga_l, mldg" in msg
    msg = _cli_error(trained, tmp_path, ["--dg_domains", *DOMAINS, "ja-en"])
    assert "domain 'ja-en' has no utterances" in msg
    one = make_data_dir(tmp_path / "one", single_domain=True)
    msg = _cli_error(trained, tmp_path, [], data=one)
    assert "'fish' needs at least 2 domains" in msg and "found 1" in msg
