"""Checkpoint writers for merging; reading and the key mapping live in whisper/checkpoint.py.

The names below that this module does not define are re-exported from
`espnet_cs_ext.whisper.checkpoint` (the one place that knows the three namings and
two containers), so `from espnet_cs_ext.merge.formats import Checkpoint` keeps working.
"""
from __future__ import annotations

import json
import logging
import os
import struct
from typing import Any, Dict, List, Optional, Tuple

import torch

from ..whisper.checkpoint import (HF_PREFIX, NAMINGS, Checkpoint, TensorInfo, _as_bytes, _ST_NAMES,  # noqa: F401
                                  detect_naming, dims_to_dict, from_canonical, hf_head_counts, infer_dims,
                                  is_extra, load_torch_weights_only, to_canonical)

log = logging.getLogger(__name__)

#: default container per naming when writing a new format
DEFAULT_CONTAINER = {"whisper": "torch", "espnet": "torch", "hf": "safetensors"}


# ---------------------------------------------------------------- writers

class SafetensorsWriter:
    """Writes a safetensors file tensor by tensor: header first (all shapes are known),
    then each tensor's bytes in the declared order. Nothing is held in memory."""

    def __init__(self, path: str | os.PathLike, entries: List[Tuple[str, Tuple[int, ...], torch.dtype]],
                 metadata: Optional[Dict[str, str]] = None):
        header: Dict[str, Any] = {}
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        offset = 0
        self._order = []
        for key, shape, dtype in entries:
            n = TensorInfo(tuple(shape), dtype).numel * torch.empty((), dtype=dtype).element_size()
            header[key] = {"dtype": _ST_NAMES[dtype], "shape": list(shape), "data_offsets": [offset, offset + n]}
            self._order.append((key, tuple(shape), dtype, n))
            offset += n
        blob = json.dumps(header, separators=(",", ":")).encode()
        blob += b" " * (-len(blob) % 8)
        self._f = open(path, "wb")
        self._f.write(struct.pack("<Q", len(blob)) + blob)
        self._next = 0

    def write(self, key: str, tensor: torch.Tensor) -> None:
        want_key, shape, dtype, n = self._order[self._next]
        if key != want_key or tuple(tensor.shape) != shape or tensor.dtype != dtype:
            raise RuntimeError(f"SafetensorsWriter: expected {want_key} {shape} {dtype}, "
                               f"got {key} {tuple(tensor.shape)} {tensor.dtype}")
        self._f.write(_as_bytes(tensor))
        self._next += 1

    def close(self) -> None:
        if self._next != len(self._order):
            raise RuntimeError(f"SafetensorsWriter: {len(self._order) - self._next} tensors not written")
        self._f.close()

    def abort(self) -> None:
        self._f.close()


class TorchWriter:
    """Writes a torch `.pt`/`.pth` tensor by tensor (utils.torchzip: deterministic bytes,
    nothing but names and shapes held); `{"dims", "model_state_dict"}` for the whisper
    naming, a flat state dict otherwise."""

    def __init__(self, path: str | os.PathLike, naming: str, dims: Optional[Dict[str, int]] = None):
        from ..utils.torchzip import TorchZipWriter

        self.naming, self.dims = naming, dims
        self._zip = TorchZipWriter(path)
        self.refs: Dict[str, Any] = {}

    def write(self, key: str, tensor: torch.Tensor) -> None:
        self.refs[key] = self._zip.add(tensor)

    def close(self) -> None:
        obj: Any = self.refs
        if self.naming == "whisper":
            obj = {"dims": self.dims, "model_state_dict": self.refs}
        self._zip.close(obj)
        self.refs = {}

    def abort(self) -> None:
        self._zip.abort()
        self.refs = {}


def save_state_dict(state: Dict[str, torch.Tensor], path: str | os.PathLike, naming: str = "whisper",
                    container: Optional[str] = None, dims: Any = None,
                    hf_prefix: str = HF_PREFIX) -> str:
    """Write a canonical-named state dict in any naming/container (atomically).

    Used for conversions and test fixtures; extra names of other namings are dropped.
    """
    from ..utils.atomic import atomic_path

    container = container or DEFAULT_CONTAINER[naming]
    items = [(from_canonical(naming, k, hf_prefix), v) for k, v in state.items()]
    items = [(k, v) for k, v in items if k is not None]
    if naming == "whisper" and container == "torch":
        dims = (dims_to_dict(infer_dims(state, source=str(path), guess_heads=True)) if dims is None
                else dims if isinstance(dims, dict) else dims_to_dict(dims))
    with atomic_path(path) as tmp:
        if container == "safetensors":
            w = SafetensorsWriter(tmp, [(k, tuple(v.shape), v.dtype) for k, v in items], {"format": "pt"})
        else:
            w = TorchWriter(tmp, naming, dims)
        try:
            for k, v in items:
                w.write(k, v)
            w.close()
        except BaseException:
            w.abort()
            raise
    return str(path)


def load_state_dict(path: str | os.PathLike) -> Dict[str, torch.Tensor]:
    """Whole checkpoint as a canonical-named state dict (for tests and small models)."""
    with Checkpoint(path) as ck:
        return {n: ck.read(n).clone() for n in ck.infos}
