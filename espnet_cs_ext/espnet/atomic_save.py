"""Make ESPnet's checkpoint writes atomic in our training entry points.

ESPnet's trainer writes `checkpoint.pth`, `<N>epoch.pth` and the `*.best.pth` files
with a plain `torch.save(obj, path)`. A run killed during that write leaves a
truncated `checkpoint.pth`, and `--resume true` then fails to load it, so the killed
stage cannot resume. Our entry points (bin/asr_train, bin/asr_train_dg) route
`torch.save` to a path through a temp file in the same directory and an atomic
rename: a reader sees the old complete file or the new complete file, never half of one.
File objects and buffers are passed through untouched.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from ..utils.atomic import sweep_stale_temps, temp_prefix
from ..utils.halt import halt_point

_ORIGINAL = torch.save


def atomic_torch_save(obj, f, *args, **kwargs):
    if not isinstance(f, (str, os.PathLike)):
        return _ORIGINAL(obj, f, *args, **kwargs)
    path = Path(f)
    # our temp naming, so that a run killed mid-save leaves a temp the next save sweeps
    sweep_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        with open(tmp, "wb") as fobj:  # a file object: the archive is named "archive", not after the temp
            _ORIGINAL(obj, fobj, *args, **kwargs)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    halt_point(f"save {path}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def install() -> None:
    """Route torch.save (as seen by every module, ESPnet's trainer included) through atomic_torch_save."""
    torch.save = atomic_torch_save
