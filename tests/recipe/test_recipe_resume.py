"""Killing the recipe during stage 5 (training) or stage 7 (decoding) and rerunning it resumes.

The run is killed for real (SIGKILL to the whole process group, as a lost node or a
Ctrl-C'd terminal would), once a checkpoint (stage 5) or a partial hypothesis file
(stage 7) exists. The rerun must continue from there: training from its last epoch
checkpoint (ESPnet's --resume), decoding from the utterances already in text.partial,
with every test utterance in the final hypotheses exactly once.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
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
            "--merge_config", "conf/test/merge_tiny.yaml",
            "--datadir", str(tmp / "data"), "--expdir", str(tmp / "exp"),
            "--results", str(tmp / "RESULTS.md"), *extra]


def _run(tmp, whisper, *extra):
    proc = subprocess.run(_cmd(tmp, whisper, *extra), cwd=RECIPE, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, f"recipe failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def _kill_when(tmp, whisper, ready, *extra, timeout=600.0):
    """Start the recipe, SIGKILL its process group as soon as ready() is true."""
    proc = subprocess.Popen(_cmd(tmp, whisper, *extra), cwd=RECIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"the run ended (rc {proc.returncode}) before it could be killed:\n"
                            f"{proc.stdout.read()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("timed out waiting for the point to kill the run")
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, tiny_whisper):
    tmp = tmp_path_factory.mktemp("resume")
    cfg = yaml.safe_load((RECIPE / "conf" / "test" / "train_tiny.yaml").read_text())
    cfg.update(max_epoch=EPOCHS, num_iters_per_epoch=2)
    cfg["scheduler_conf"]["first_cycle_steps"] = 2 * EPOCHS
    (tmp / "train.yaml").write_text(yaml.safe_dump(cfg))
    # Slow enough per utterance (beam 4, 30 s padding, batch 1) to be caught mid-way.
    (tmp / "decode.yaml").write_text(yaml.safe_dump(dict(
        beam_size=4, language="utt2lang", task="transcribe", pad_to_30s=True,
        batch_size=1, max_new_tokens=40)))
    _run(tmp, tiny_whisper, "--stop_stage", "4")
    return tmp


def test_training_killed_mid_run_resumes_from_its_checkpoint(prepared, tiny_whisper):
    tmp = prepared
    out = tmp / "exp" / "asr_ft_ko-en"
    proc = _kill_when(tmp, tiny_whisper, lambda: (out / "checkpoint.pth").is_file(),
                      "--stage", "5", "--stop_stage", "5")
    assert proc.returncode != 0
    assert not (out / ".done").exists()
    import torch

    # ESPnet's own checkpoint (our run wrote it, so trusted); whole, thanks to atomic saves
    done_epochs = torch.load(out / "checkpoint.pth", weights_only=False)["reporter"]["epoch"]
    assert 1 <= done_epochs < EPOCHS, "killed too late to test resuming"

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

    proc = _kill_when(tmp, tiny_whisper, lambda: decoded() >= 1, "--stage", "7", "--stop_stage", "7")
    assert proc.returncode != 0
    from espnet_cs_ext.utils.kaldi import read_table

    ref = read_table(tmp / "data" / "test_ko-en" / "text")
    kept = decoded()
    assert 1 <= kept < len(ref), "killed too late to test resuming"
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
