"""Issue 21 for cs-merge, as a table: bad OUT paths and mid-run failures leave nothing behind
(no output, no sidecar, no temp file, no directory the run made), plus the output's bytes
are the same on every run and stale temp files of killed runs are swept."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from merge_helpers import base_state, finetune, write_yaml

from espnet_cs_ext.bin.cs_merge import main
from espnet_cs_ext.merge import save_state_dict


def _cfg(model_set, models=("ft0", "ft1")):
    return {"merge_method": "ties", "base_model": str(model_set["base"]),
            "models": [{"model": str(model_set[m]), "parameters": {"density": 0.5}} for m in models]}


def _nan_model(tmp_path):
    sd = finetune(base_state(0), 5)
    sd["decoder.blocks.0.mlp.0.weight"][0, 0] = float("nan")
    return Path(save_state_dict(sd, tmp_path / "nan.pt", "whisper"))


# (name, out relative to tmp, setup(tmp) -> extra models, models, exit, fragment, paths that must not exist)
CASES = [
    ("out-is-dir", "existing_dir", lambda t: (t / "existing_dir").mkdir(), ("ft0", "ft1"), 2,
     "existing_dir: is a directory", ["existing_dir.merge.yaml"]),
    ("nan-in-new-dir", "new/deeper/m.pt", None, ("ft0", "nan"), 2, "NaN/Inf", ["new"]),
    ("other-base-in-new-dir", "new/m.pt", None, ("ft0", "foreign"), 2, "does not look fine-tuned", ["new"]),
    ("parent-is-file", "afile/m.pt", lambda t: (t / "afile").write_text("x"), ("ft0", "ft1"), 2,
     "afile: is not a directory", ["afile.merge.yaml"]),
    ("missing-config-new-dir", "new/m.pt", None, None, 2, "merge.yaml", ["new"]),
]


@pytest.mark.parametrize("name,out,setup,models,rc,frag,absent", CASES, ids=[c[0] for c in CASES])
def test_cs_merge_bad_inputs(tmp_path, model_set, capsys, name, out, setup, models, rc, frag, absent):
    work = tmp_path / "w"
    work.mkdir()
    if setup:
        setup(work)
    ms = dict(model_set, nan=_nan_model(tmp_path))
    cfg = tmp_path / "merge.yaml"
    if models is not None:
        write_yaml(cfg, _cfg(ms, models))
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    got = main([str(cfg), str(work / out), "-q"])
    err = capsys.readouterr().err
    assert got == rc, err
    assert err.startswith("cs-merge: error: ") and len(err.strip().splitlines()) == 1, err
    assert frag in err, err
    for a in absent:
        assert not (work / a).exists(), a
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before  # nothing new, no temp file


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_two_runs_give_identical_bytes(tmp_path, model_set, suffix):
    cfg = write_yaml(tmp_path / "merge.yaml", _cfg(model_set, ("ft0", "ft1", "ft2")))
    a, b = tmp_path / f"a{suffix}", tmp_path / "sub" / f"b{suffix}"
    assert main([str(cfg), str(a), "-q"]) == 0
    assert main([str(cfg), str(b), "-q"]) == 0
    assert _sha(a) == _sha(b)  # also under another name and folder
    merged = torch.load(a, weights_only=True)["model_state_dict"]
    assert merged and all(torch.isfinite(v).all() for v in merged.values() if v.is_floating_point())


def test_big_tensor_path_gives_same_bytes(tmp_path, model_set, monkeypatch):
    """Tensors above BIG_TENSOR_BYTES are read into fresh memory instead of the reused
    buffers; with the threshold lowered so every tensor takes that path, the bytes are the same."""
    from espnet_cs_ext.merge import engine

    cfg = write_yaml(tmp_path / "merge.yaml", _cfg(model_set, ("ft0", "ft1", "ft2")))
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    assert main([str(cfg), str(a), "-q"]) == 0
    monkeypatch.setattr(engine, "BIG_TENSOR_BYTES", 0)
    assert main([str(cfg), str(b), "-q"]) == 0
    assert _sha(a) == _sha(b)


def test_streamed_pt_matches_torch_save(tmp_path, model_set):
    """Same tensors (names, dtypes, values) as torch.save of the merged state, weights_only loads."""
    from espnet_cs_ext.merge import load_state_dict
    from espnet_cs_ext.utils.torchzip import save_streaming

    sd = load_state_dict(model_set["ft0"])
    sd["int"] = torch.arange(3)
    sd["half"] = torch.ones(2, 2, dtype=torch.bfloat16)
    torch.save({"dims": {"a": 1}, "model_state_dict": sd}, tmp_path / "ref.pt")
    save_streaming({"dims": {"a": 1}, "model_state_dict": sd}, tmp_path / "ours.pt")
    ref = torch.load(tmp_path / "ref.pt", weights_only=True)
    for mmap in (False, True):
        ours = torch.load(tmp_path / "ours.pt", weights_only=True, mmap=mmap)
        assert ours["dims"] == ref["dims"] and list(ours["model_state_dict"]) == list(ref["model_state_dict"])
        for k, v in ref["model_state_dict"].items():
            assert ours["model_state_dict"][k].dtype == v.dtype and torch.equal(ours["model_state_dict"][k], v), k


def test_stale_temp_of_a_killed_run_is_swept_only_ours(tmp_path, model_set):
    from espnet_cs_ext.utils.atomic import temp_prefix

    out = tmp_path / "m.pt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / (temp_prefix(out, int(dead)) + "abc123.tmp")
    live = tmp_path / (temp_prefix(out, os.getppid()) + "def456.tmp")  # a running process's
    foreign = tmp_path / ".m.pt.xyz.tmp"  # not our pattern
    for p in (stale, live, foreign):
        p.write_bytes(b"")
    cfg = write_yaml(tmp_path / "merge.yaml", _cfg(model_set))
    assert main([str(cfg), str(out), "-q"]) == 0
    assert not stale.exists() and live.exists() and foreign.exists()


def test_relative_paths_resolve_against_the_yaml(tmp_path, model_set, monkeypatch):
    import shutil

    d = tmp_path / "proj"
    d.mkdir()
    for k in ("base", "ft0", "ft1"):
        shutil.copy(model_set[k], d / model_set[k].name)
    write_yaml(d / "merge.yaml", {"merge_method": "task_arithmetic", "base_model": "base.pt",
                                  "models": [{"model": "ft0.pt"}, {"model": "ft1.pt"}]})
    monkeypatch.chdir(tmp_path)  # not the YAML's folder
    assert main([str(d / "merge.yaml"), "out.pt", "-q"]) == 0
    assert (tmp_path / "out.pt").exists()
