"""Multi-process (DDP, gloo, CPU) training of the tiny Whisper through our ESPnet entry point.

ESPnet's own spawner (`--multiprocessing_distributed true`) only spawns one process
per GPU and turns itself off with `--ngpu 0`, so CPU data parallelism goes through an
external launcher: torchrun sets RANK/WORLD_SIZE/LOCAL_RANK/MASTER_*, ESPnet reads
them (`--multiprocessing_distributed false --dist_backend gloo --ngpu 0`), splits every
global mini-batch across the ranks and wraps the model in DistributedDataParallel.

Checked: both ranks end with identical parameters (the `rank_check` digest each rank
logs, equal to the saved checkpoint's), and two steps of 2 processes x 1 utterance equal
two steps of 1 process x 2 utterances within float tolerance (SGD, dropout off, all
clips the same length so batching adds no padding).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

N_SAMPLES = 24000  # 1.5 s: every clip cut / zero-padded to this, so a batch of 2 has no padding


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


def _run(args, cwd, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args[:4]} failed:\n{proc.stderr[-6000:]}"
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_config(base: dict) -> dict:
    """test_espnet_plugin's tiny setup (conftest), with SGD (Adam would magnify float noise) and batch 2."""
    return {**base, "optim": "sgd", "optim_conf": {"lr": 0.5}, "batch_size": 2, "num_iters_per_epoch": 2,
            "grad_clip": -1}


@pytest.fixture(scope="module")
def ddp_setup(tmp_path_factory, tiny_whisper, english_data_dir, whisper_token_list, tiny_espnet_config):
    import numpy as np
    import soundfile as sf

    work = tmp_path_factory.mktemp("ddp")
    data = work / "data"
    (data / "wav").mkdir(parents=True)
    scp, text = [], []
    for line, tline in zip((english_data_dir / "wav.scp").read_text().splitlines(),
                           (english_data_dir / "text").read_text().splitlines()):
        utt, wav = line.split(maxsplit=1)
        audio, sr = sf.read(wav, dtype="float32")
        audio = np.pad(audio[:N_SAMPLES], (0, max(0, N_SAMPLES - len(audio))))
        sf.write(data / "wav" / f"{utt}.wav", audio, sr, subtype="PCM_16")
        scp.append(f"{utt} {data / 'wav' / f'{utt}.wav'}\n")
        text.append(tline + "\n")
    (data / "wav.scp").write_text("".join(scp))
    (data / "text").write_text("".join(text))
    tokens = whisper_token_list
    config = work / "train.yaml"
    config.write_text(yaml.safe_dump(train_config(tiny_espnet_config(tiny_whisper))))
    common = ["--config", str(config), "--token_list", str(tokens), "--use_preprocessor", "true", "--ngpu", "0"]
    for kind in ("train", "valid"):
        common += [f"--{kind}_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
                   f"--{kind}_data_path_and_name_and_type", f"{data}/text,text,text"]
    stats = work / "stats"
    _run([sys.executable, "-m", "espnet_cs_ext.bin.asr_train", *common, "--collect_stats", "true",
          "--output_dir", str(stats), "--train_shape_file", f"{data}/wav.scp",
          "--valid_shape_file", f"{data}/wav.scp"], work)
    common += ["--train_shape_file", f"{stats}/train/speech_shape",
               "--valid_shape_file", f"{stats}/valid/speech_shape"]
    return work, common


@pytest.fixture(scope="module")
def single(ddp_setup):
    work, common = ddp_setup
    out = work / "single"
    proc = _run([sys.executable, "-m", "espnet_cs_ext.bin.asr_train", *common, "--output_dir", str(out)], work)
    (out / "stderr.log").write_text(proc.stderr)
    return out


@pytest.fixture(scope="module")
def ddp(ddp_setup):
    work, common = ddp_setup
    out = work / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = _run([str(torchrun), "--nnodes", "1", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                 "--master_port", str(_free_port()), "-m", "espnet_cs_ext.bin.asr_train", *common,
                 "--output_dir", str(out), "--multiprocessing_distributed", "false",
                 "--dist_backend", "gloo"], work)
    (out / "stderr.log").write_text(proc.stderr)
    return out


def _state(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def test_both_ranks_hold_the_saved_parameters(ddp, single):
    from espnet_cs_ext.espnet.rank_check import state_digest

    log = (ddp / "stderr.log").read_text()
    assert re.search(r"^\[\S+:0/2\] .*1epoch results: \[train\]", log, re.M), log[-3000:]
    found = dict(re.findall(r"^rank_check: rank (\d)/2 state_dict sha256 ([0-9a-f]{64}) \(all 2 ranks agree\)$",
                            log, re.M))
    assert sorted(found) == ["0", "1"], log[-3000:]
    assert found["0"] == found["1"] == state_digest(_state(ddp / "1epoch.pth"))
    assert "rank_check" not in (single / "stderr.log").read_text()  # single process: no check


def test_ddp_equals_single_process_with_the_same_global_batch(single, ddp, tiny_whisper):
    import torch

    a, b = _state(single / "1epoch.pth"), _state(ddp / "1epoch.pth")
    assert a.keys() == b.keys()
    before = torch.load(tiny_whisper, map_location="cpu", weights_only=True)["model_state_dict"]
    # largest change any weight made in the two steps (ESPnet names: encoder.encoders.X <- encoder.X)
    moved = max((a[k.replace("encoder.", "encoder.encoders.", 1).replace("decoder.", "decoder.decoders.", 1)]
                 - v.float()).abs().max().item() for k, v in before.items() if k != "decoder.mask")
    assert moved > 1e-2, "training hardly changed the weights: the comparison would be vacuous"
    worst = max(((a[k].float() - b[k].float()).abs().max().item(), k) for k in a if a[k].is_floating_point())
    print(f"max |single - ddp| = {worst[0]:.3e} at {worst[1]}; max |update| of one weight {moved:.3e}")
    assert worst[0] < 1e-5, f"DDP and single-process training differ most at {worst[1]}: {worst[0]:.2e}"


def test_state_digest_table():
    import torch

    from espnet_cs_ext.espnet.rank_check import state_digest

    a = {"w": torch.zeros(2, 2), "b": torch.ones(2)}
    rows = [
        ({"b": torch.ones(2), "w": torch.zeros(2, 2)}, True),   # key order does not matter
        ({"w": torch.zeros(4), "b": torch.ones(2)}, False),     # same bytes, other shape
        ({"w": torch.zeros(2, 2, dtype=torch.float64)[:, :].float(), "b": torch.ones(2)}, True),
        ({"w": torch.zeros(2, 2), "b": torch.tensor([1.0, 1.0 + 2 ** -23])}, False),  # one ulp
        ({"w": torch.zeros(2, 2).t(), "b": torch.ones(2)}, True),  # non-contiguous view, same values
    ]
    for other, same in rows:
        assert (state_digest(a) == state_digest(other)) is same, other
