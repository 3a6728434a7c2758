"""The training entry points' atomic torch.save: a failed write leaves the old checkpoint intact."""
from __future__ import annotations

import io

import pytest
import torch

from espnet_cs_ext.espnet.atomic_save import atomic_torch_save


class Exploding:
    def __reduce__(self):
        raise RuntimeError("killed mid-write")


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "checkpoint.pth"
    atomic_torch_save({"epoch": 1, "w": torch.ones(3)}, path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="killed mid-write"):
        atomic_torch_save({"epoch": 2, "w": torch.zeros(1000), "x": Exploding()}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pth"]
    assert torch.load(path, weights_only=True)["epoch"] == 1


def test_successful_write_replaces_and_buffers_pass_through(tmp_path):
    path = tmp_path / "m.pth"
    atomic_torch_save({"epoch": 1}, str(path))
    atomic_torch_save({"epoch": 2}, path)
    assert torch.load(path, weights_only=True) == {"epoch": 2}
    buf = io.BytesIO()
    atomic_torch_save({"epoch": 3}, buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True) == {"epoch": 3}
