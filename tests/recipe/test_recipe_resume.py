"""Killing the recipe during stage 5 (training) or stage 7 (decoding) and rerunning it resumes.

The training or decoding process is killed for real (SIGKILL, as a lost node would), at a
fixed point: right after its second epoch checkpoint (stage 5) or its second batch of
hypotheses (stage 7), through the CS_EXT_HALT_AT test hook (espnet_cs_ext/utils/halt.py). The rerun must continue from there: training from its last epoch
checkpoint (ESPnet's --resume), decoding from the utterances already in text.partial,
with every test utterance in the final hypotheses exactly once.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "cs_unseen" / "asr1"
EPOCHS = 6


def _cmd(tmp: Path, whisper: Path, *extra: str):
    return ["./cs_unseen.sh", "--whisper_model", str(whisper), "--train_pairs", "ko-en",
            "--test_pairs", "ko-en", "--train_all", "false", "--utts_per_pair", "60",
            "--nj", "1", "--inference_nj", "1",
            "--asr_config", str(tmp / "train.yaml"), "--inference_config", str(tmp / "decode.yaml"),
            "--merge_config", "conf/tuning/test/merge_tiny.yaml",
            "--datadir", str(tmp / "data"), "--expdir", str(tmp / "exp"),
            "--results", str(tmp / "RESULTS.md"), *extra]


def _run(tmp, whisper, *extra):
    proc = subprocess.run(_cmd(tmp, whisper, *extra), cwd=RECIPE, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, f"recipe failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def _killed_at(tmp, whisper, halt, *extra):
    """Run the recipe with CS_EXT_HALT_AT=`halt`: the matching process SIGKILLs itself there.

    The stop point is a fixed step of the run (espnet_cs_ext/utils/halt.py), so the test
    does not depend on how fast the machine is; the recipe must then fail.
    """
    proc = subprocess.run(_cmd(tmp, whisper, *extra), cwd=RECIPE, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1", CS_EXT_HALT_AT=halt))
    assert proc.returncode != 0, f"the run was not stopped:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_whisper):
    tmp = tmp_path_factory.mktemp("resume")
    cfg = yaml.safe_load((RECIPE / "conf" / "tuning" / "test" / "train_tiny.yaml").read_text())
    cfg.update(max_epoch=EPOCHS, num_iters_per_epoch=2)
    cfg["scheduler_conf"]["first_cycle_steps"] = 2 * EPOCHS
    (tmp / "train.yaml").write_text(yaml.safe_dump(cfg))
    # batch 1: the decode hook stops after a known number of utterances
    (tmp / "decode.yaml").write_text(yaml.safe_dump(dict(
        beam_size=4, language="utt2lang", task="transcribe", pad_to_30s=True,
        batch_size=1, max_new_tokens=40)))
    _run(tmp, tiny_whisper, "--stop_stage", "4")
    return tmp


def test_training_killed_mid_run_resumes_from_its_checkpoint(prepared, tiny_whisper):
    tmp = prepared
    out = tmp / "exp" / "asr_ft_ko-en"
    _killed_at(tmp, tiny_whisper, f"2 kill save {out}/checkpoint.pth", "--stage", "5", "--stop_stage", "5")
    assert not (out / ".done").exists()
    import torch

    # ESPnet's own checkpoint (our run wrote it, so trusted); whole, thanks to atomic saves
    done_epochs = torch.load(out / "checkpoint.pth", weights_only=False)["reporter"]["epoch"]
    assert done_epochs == 2, done_epochs

    _run(tmp, tiny_whisper, "--stage", "5", "--stop_stage", "5")
    log = (out / "train.log").read_text()
    assert f"The training was resumed using {out}/checkpoint.pth" in log
    started = [int(m) for m in re.findall(rf"(\d+)/{EPOCHS}epoch started", log)]
    assert started[0] > 1 and started[-1] == EPOCHS, started  # no epoch repeated from scratch
    assert (out / ".done").is_file() and (out / "latest.pth").exists()
    assert not (out / "checkpoint.pth").exists()  # optimizer state dropped once trained (--keep_checkpoints)


def test_decoding_killed_mid_run_resumes_without_lost_or_repeated_utterances(prepared, tiny_whisper):
    tmp = prepared
    if not (tmp / "exp" / "asr_ft_ko-en" / ".done").is_file():
        _run(tmp, tiny_whisper, "--stage", "5", "--stop_stage", "5")
    partial = tmp / "exp" / "decode" / "pretrained" / "test_ko-en" / "split1" / "1" / "text.partial"

    def decoded():  # text.partial: one settings line, then one JSON line per utterance
        return partial.read_text().count("\n") - 1 if partial.is_file() else 0

    _killed_at(tmp, tiny_whisper, f"2 kill decode-batch {partial}", "--stage", "7", "--stop_stage", "7")
    from espnet_cs_ext.utils.kaldi import read_table

    ref = read_table(tmp / "data" / "test_ko-en" / "text")
    kept = decoded()
    assert kept == 2 < len(ref), kept  # two batches of one utterance each
    assert not (tmp / "exp" / "decode" / "pretrained" / "test_ko-en" / "text").exists()

    _run(tmp, tiny_whisper, "--stage", "7", "--stop_stage", "7")
    log = (tmp / "exp" / "decode" / "log" / "decode.1.log").read_text()  # job 1: pretrained, shard 1
    assert re.search(rf"resuming, {kept} of {len(ref)} utterances already decoded", log), log[-2000:]
    for system in ("pretrained", "ft_ko-en"):
        text = tmp / "exp" / "decode" / system / "test_ko-en" / "text"
        ids = [line.split(maxsplit=1)[0] for line in text.read_text().splitlines()]
        assert sorted(ids) == sorted(ref), system  # every utterance exactly once


def test_num_procs_trains_with_two_ddp_ranks_that_agree(prepared, tiny_whisper):
    """--num_procs 2: stage 5 runs the ranks under torchrun (gloo) and they end with equal weights."""
    tmp = prepared
    _run(tmp, tiny_whisper, "--stage", "5", "--stop_stage", "5", "--num_procs", "2",
         "--expdir", str(tmp / "exp_ddp"))
    log = (tmp / "exp_ddp" / "asr_ft_ko-en" / "train.log").read_text()
    assert log.startswith("# torchrun --standalone --nproc_per_node 2 -m espnet_cs_ext.bin.asr_train")
    assert re.search(r"rank_check: rank 0/2 .*\(all 2 ranks agree\)", log), log[-2000:]
    assert re.search(r"rank_check: rank 1/2 .*\(all 2 ranks agree\)", log), log[-2000:]
    assert (tmp / "exp_ddp" / "asr_ft_ko-en" / ".done").is_file()
