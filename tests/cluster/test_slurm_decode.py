"""A real recipe piece (stage 7's sharded decode) through the slurm backend.

The same `decode --nj 2 --job JOB` array as cs_unseen.sh stage 7, on a tiny random
Whisper over real espeak-ng audio: the local and slurm backends must give identical
merged hypotheses; a shard cancelled midway (scancel) and rerun with --skip-done
decodes only what is missing (the shard halts at a fixed utterance through the
CS_EXT_HALT_AT hook, so nothing depends on the machine's speed), and the merge has every utterance exactly once.
"""
from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

N_UTTS = 8  # 4 per shard: the cancelled shard is halted after 2 (batch size 1)


@pytest.fixture(scope="module")
def decode_setup(tmp_path_factory, english_data_dir, tiny_whisper):
    """A data dir of N_UTTS utterances (the 4 synthesised wavs, reused) and a greedy config."""
    work = tmp_path_factory.mktemp("decode_cluster")
    data = work / "data"
    data.mkdir()
    wavs = [line.split(maxsplit=1)[1] for line in (english_data_dir / "wav.scp").read_text().splitlines()]
    texts = [line.split(maxsplit=1)[1] for line in (english_data_dir / "text").read_text().splitlines()]
    utts = [f"utt{k:03d}" for k in range(N_UTTS)]
    (data / "wav.scp").write_text("".join(f"{u} {wavs[k % 4]}\n" for k, u in enumerate(utts)))
    (data / "text").write_text("".join(f"{u} {texts[k % 4]}\n" for k, u in enumerate(utts)))
    (data / "utt2spk").write_text("".join(f"{u} spk1\n" for u in utts))
    (data / "spk2utt").write_text("spk1 " + " ".join(utts) + "\n")
    conf = work / "greedy.yaml"
    conf.write_text("language: en\nmax_new_tokens: 128\nbatch_size: 1\n")
    return work, data, conf, tiny_whisper, utts


def decode_cmd(setup, out: Path) -> list:
    work, data, conf, model, _ = setup
    return [sys.executable, "-m", "espnet_cs_ext.bin.decode", "--model", str(model), "--data", str(data),
            "--out", str(out), "--config", str(conf), "--nj", "2", "--job", "JOB", "--no-progress"]


def _merge(setup, out: Path) -> subprocess.CompletedProcess:
    _, data, *_ = setup
    return subprocess.run([sys.executable, "-m", "espnet_cs_ext.bin.decode", "--merge-shards", "2",
                           "--data", str(data), "--out", str(out)], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


@pytest.fixture(scope="module")
def local_result(decode_setup, launch):
    work = decode_setup[0]
    out = work / "local"
    launch("--max-parallel", 2, "JOB=1:2", "log_local/decode.JOB.log", *decode_cmd(decode_setup, out),
           cwd=work, check=0)
    assert _merge(decode_setup, out).returncode == 0
    return (out / "text").read_text()


def _ids(text: str) -> list:
    return [line.split(maxsplit=1)[0] for line in text.splitlines()]


def test_slurm_decode_equals_local(slurm_cluster, decode_setup, local_result, launch):
    work, *_, utts = decode_setup
    out = work / "slurm"
    proc = launch("--backend", "slurm", "JOB=1:2", "log_slurm/decode.JOB.log",
                  *decode_cmd(decode_setup, out), cwd=work, check=0)
    assert re.search(r"Slurm job \d+, array 1-2 ", proc.stderr), proc.stderr
    for j in (1, 2):
        log = (work / f"log_slurm/decode.{j}.log").read_text().splitlines()
        assert log[1].startswith("# slurm job ") and log[-1] == "# exit 0"
        assert f"decode: wrote {out}/split2/{j}/text" in log
    merged = _merge(decode_setup, out)
    assert merged.returncode == 0, merged.stderr
    text = (out / "text").read_text()
    assert text == local_result
    assert _ids(text) == utts  # every utterance once, sorted
    assert all(len(line.split()) > 1 for line in text.splitlines())  # a real hypothesis each


def test_cancelled_shard_resumes_only_missing(slurm_cluster, decode_setup, local_result, launch, wait_until):
    work, *_, utts = decode_setup
    out = work / "killed"
    args = ["--backend", "slurm", "JOB=1:2", "log_killed/decode.JOB.log", *decode_cmd(decode_setup, out)]
    partial = out / "split2" / "2" / "text.partial"
    # shard 2 holds still after its 2nd batch (espnet_cs_ext/utils/halt.py) until scancel ends it
    halt = f"2 wait decode-batch {partial}"
    first = subprocess.Popen([sys.executable, "-m", "espnet_cs_ext.bin.launch", *args], cwd=work,
                             env=dict(os.environ, OMP_NUM_THREADS="1", CS_EXT_HALT_AT=halt),
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: partial.exists() and partial.read_text().count("\n") >= 3,
                   "shard 2's second batch", first)
        job = (work / "log_killed/q/decode.jobid").read_text().strip()
        subprocess.run(["scancel", f"{job}_2"], check=True)
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 2, err
    assert f"log_killed/decode.2.log (killed by signal 15, Slurm {job}_2 CANCELLED)" in err, err
    assert "decode.1.log" not in err  # shard 1 finished
    done_before = partial.read_text().count("\n") - 1  # line 1 is the settings header
    assert done_before == 2, done_before
    assert not (out / "split2/2/.done").exists() and (out / "split2/1/.done").exists()
    refused = _merge(decode_setup, out)
    assert refused.returncode == 2 and "not finished" in refused.stderr and "split2/2" in refused.stderr

    proc = launch("--skip-done", *args, cwd=work, check=0)
    assert "1 of 2 task(s) already finished" in proc.stderr
    assert re.search(r"Slurm job \d+, array 2 ", proc.stderr), proc.stderr
    log2 = (work / "log_killed/decode.2.log").read_text()
    assert f"resuming, {done_before} of {N_UTTS // 2} utterances already decoded" in log2, log2
    assert (work / "log_killed/decode.1.log").read_text().splitlines()[1].startswith(f"# slurm job {job}_1 ")
    assert _merge(decode_setup, out).returncode == 0
    text = (out / "text").read_text()
    counts = collections.Counter(_ids(text))
    assert sorted(counts) == utts and set(counts.values()) == {1}
    assert text == local_result
