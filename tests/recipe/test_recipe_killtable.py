"""Every stage killable: kill -9 inside stage N, rerun stage N, and get the uninterrupted run's bytes.

One reference run goes stage by stage (1..9) in a fixed work dir and is snapshotted after
each stage. A row of the table restores the snapshot from before its stage into the same
work dir (absolute paths inside feats.scp, decode.yaml, ... stay valid), runs the stage with
CS_EXT_HALT_AT (espnet_cs_ext/utils/halt.py) so that one of its processes SIGKILLs itself
at a fixed point (after a whole file is renamed into place, or a checkpoint, or a batch of
hypotheses), checks that the recipe failed, reruns the stage and compares every file with
the reference snapshot after that stage, byte for byte. Left out of the comparison: logs,
TensorBoard event files and ESPnet's plots of step times (timestamps, pids, "resuming"
lines). Compared by presence only: `.done` markers (they fingerprint their inputs' mtimes,
as make does, and a rerun rewrites an output the kill left complete), MAV's reuse cache
`mav/.work/` (tagged with its inputs' mtimes) and `.run.lock` (the holder's pid and start
time); decode.yaml without its model's size:mtime stamp. RESULTS.md's date comes from SOURCE_DATE_EPOCH. Afterwards no temp file (ours:
`.cs-tmp.`) remains.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "cs_unseen" / "asr1"
LAST = 9

# stage -> CS_EXT_HALT_AT: the n-th pass of a hook point matching the glob, in any process of the stage
KILLS = {
    1: "5 kill write */data/*",                       # synthetic corpus: a few files written
    3: "2 kill write */feats.ark",                    # features: second data dir's ark in place, scp not yet
    5: "2 kill save */checkpoint.pth",                # training: after the second epoch checkpoint
    6: "1 kill write */merge/*/model.pt",             # merging: model written, .done not yet
    7: "1 kill decode-batch */text.partial",          # decoding: after the first batch of hypotheses
    8: "2 kill write */score/*",                      # scoring: between a set's score files
    9: "2 kill write */mav/*",                        # MAV: between its output files
}


def _cmd(work: Path, whisper: Path, *extra: str):
    return ["./cs_unseen.sh", "--whisper_model", str(whisper), "--train_pairs", "ko-en ja-en",
            "--test_pairs", "ko-en", "--train_all", "false", "--utts_per_pair", "10",
            "--nj", "1", "--inference_nj", "1",
            "--asr_config", "conf/tuning/test/train_tiny.yaml", "--inference_config", "conf/tuning/test/decode_tiny.yaml",
            "--merge_config", str(work.parent / "merge.yaml"),
            "--datadir", str(work / "data"), "--expdir", str(work / "exp"),
            "--results", str(work / "RESULTS.md"), *extra]


def _run(work, whisper, stage, halt=None, stop=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", SOURCE_DATE_EPOCH="1700000000")
    env.pop("CS_EXT_HALT_AT", None)
    if halt:
        env["CS_EXT_HALT_AT"] = halt
    return subprocess.run(_cmd(work, whisper, "--stage", str(stage), "--stop_stage", str(stop or stage)),
                          cwd=RECIPE, capture_output=True, text=True, env=env)


def _ok(proc):
    assert proc.returncode == 0, f"recipe failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


def _compared(root: Path):
    """relative path -> bytes of every file a stage leaves, less its logs."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if (p.is_dir() or p.suffix == ".log" or "log" in rel.parts[:-1] or "tensorboard" in rel.parts
                or p.name.endswith("_time.png")):
            continue
        if (p.name == ".run.lock" or p.name == ".done" or p.name.endswith(".done") or ".done" in rel.parts
                or ".work" in rel.parts):
            out[str(rel)] = b"(present)"
            continue
        if p.name == "decode.yaml":  # all but the model's size:mtime stamp (make-style, like the markers)
            settings = yaml.safe_load(p.read_text())
            settings.get("settings", {}).pop("model_file", None)
            out[str(rel)] = yaml.safe_dump(settings, sort_keys=True).encode()
            continue
        out[str(rel)] = p.read_bytes() if not p.is_symlink() else os.readlink(p).encode()
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_whisper):
    top = tmp_path_factory.mktemp("killtable")
    (top / "merge.yaml").write_text(yaml.safe_dump(dict(
        subsets=["pairwise"],
        methods=dict(ties=dict(parameters=dict(normalize=True), model_parameters=dict(weight=1.0, density=0.5))))))
    work = top / "work"
    work.mkdir()
    snaps = top / "snap"
    shutil.copytree(work, snaps / "0", symlinks=True)
    for stage in range(1, LAST + 1):
        _ok(_run(work, tiny_whisper, stage))
        shutil.copytree(work, snaps / str(stage), symlinks=True)
    return work, snaps


@pytest.mark.parametrize("stage", sorted(KILLS))
def test_stage_killed_and_rerun_gives_the_uninterrupted_bytes(reference, tiny_whisper, stage):
    work, snaps = reference
    shutil.rmtree(work)
    shutil.copytree(snaps / str(stage - 1), work, symlinks=True)
    killed = _run(work, tiny_whisper, stage, KILLS[stage])
    assert killed.returncode != 0, f"stage {stage} was not stopped by {KILLS[stage]!r}:\n{killed.stdout[-3000:]}"
    _ok(_run(work, tiny_whisper, stage))
    got, want = _compared(work), _compared(snaps / str(stage))
    assert not [p for p in got if ".cs-tmp." in p], "temp files left behind"
    assert sorted(got) == sorted(want), (set(got) ^ set(want))
    differ = [p for p in want if got[p] != want[p]]
    assert not differ, f"stage {stage}: rerun after the kill differs from the uninterrupted run: {differ}"


def test_second_run_from_empty_gives_the_same_bytes(reference, tiny_whisper):
    """Two runs from an empty work dir (all stages in one go vs the stage-by-stage reference)
    leave the same files, score JSONs included: seeds and thread counts fix every number."""
    work, snaps = reference
    shutil.rmtree(work)
    shutil.copytree(snaps / "0", work, symlinks=True)
    _ok(_run(work, tiny_whisper, 1, stop=LAST))
    got, want = _compared(work), _compared(snaps / str(LAST))
    assert sorted(got) == sorted(want), (set(got) ^ set(want))
    assert len([p for p in want if p.endswith("score/result.json")]) >= 4, "no score files compared"
    differ = [p for p in want if got[p] != want[p]]
    assert not differ, f"a second run from empty differs from the first: {differ}"
