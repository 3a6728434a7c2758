"""Same inputs, same bytes: every writer of a .pt file, run twice into two directories.

torch.save to a path names the zip archive's root folder after the file, and our atomic
writes save to a random temp name first, so a plain `torch.save(obj, tmp)` made every
output differ (the kill/resume table in tests/recipe found it in MAV's work files).
"""
from __future__ import annotations

import pytest
import torch


def _tiny(path):
    from espnet_cs_ext.whisper.tiny import save_tiny_whisper
    save_tiny_whisper(path, seed=3)


def _checkpoint(path):
    from espnet_cs_ext.whisper.checkpoint import read_checkpoint, write_checkpoint
    src = path.parent / "src.pt"
    _tiny(src)
    dims, state = read_checkpoint(str(src))
    write_checkpoint(dims, state, path)


def _mav_work(path):
    from espnet_cs_ext.analysis.mav import MatrixMav
    from espnet_cs_ext.analysis.study import _save_work
    _save_work(path, "f" * 64, {("encoder", 0, "attn.query"): MatrixMav(4, 1, 0.5, torch.tensor([0, 1, 0, 0]).bool())})


def _espnet_hook(path):
    from espnet_cs_ext.espnet.atomic_save import atomic_torch_save
    atomic_torch_save({"model": {"w": torch.arange(6.0)}, "epoch": 2}, path)


@pytest.mark.parametrize("write", [_tiny, _checkpoint, _mav_work, _espnet_hook], ids=lambda f: f.__name__)
def test_written_twice_gives_the_same_bytes(tmp_path, write):
    outs = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        out = tmp_path / run / "out.pt"
        write(out)
        outs.append(out.read_bytes())
        assert torch.load(out, weights_only=True) is not None
    assert outs[0] == outs[1]
