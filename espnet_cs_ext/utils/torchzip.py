"""Write a `.pt` file tensor by tensor, in torch's zip format, with the same bytes every run.

`torch.save` needs the whole object in memory and names the archive's root folder after
the file (a random temp name made every output differ) and adds a random
`.data/serialization_id`. This writer follows the layout torch's reader documents
(torch/serialization.py, "zip file format"): `archive/data/<key>` holds each storage's raw
little-endian bytes (stored, 64-byte aligned like torch's own files, so `mmap=True` works),
`archive/data.pkl` a protocol-2 pickle whose tensors are `torch._utils._rebuild_tensor_v2`
calls over persistent storage ids, plus `version`, `byteorder`, `.format_version` and
`.storage_alignment`. The pickle is written last, after every tensor's bytes, so only the
names and shapes are held; the file loads with `torch.load(weights_only=True)`.
Written with the standard library's zipfile (fixed 1980-01-01 timestamps, no compression).
"""
from __future__ import annotations

import collections
import os
import pickle
import zipfile
from typing import Any, Dict, Tuple

import torch

ROOT = "archive"  # what torch.save uses for a file object: independent of the file's name
ALIGN = 64
_DATE = (1980, 1, 1, 0, 0, 0)
_PAD_ID = 0x4642  # torch pads its local headers with an extra field of this id ("FB")
_STORAGE_CLASS = {torch.float32: "FloatStorage", torch.float64: "DoubleStorage", torch.float16: "HalfStorage",
                  torch.bfloat16: "BFloat16Storage", torch.int64: "LongStorage", torch.int32: "IntStorage",
                  torch.int16: "ShortStorage", torch.int8: "CharStorage", torch.uint8: "ByteStorage",
                  torch.bool: "BoolStorage", torch.complex64: "ComplexFloatStorage",
                  torch.complex128: "ComplexDoubleStorage"}


class _StorageRef:
    __slots__ = ("key", "dtype", "numel")

    def __init__(self, key: str, dtype: torch.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel


class TensorRef:
    """Stands in for a written tensor inside the object given to `close`."""

    __slots__ = ("storage", "shape")

    def __init__(self, storage: _StorageRef, shape: Tuple[int, ...]):
        self.storage, self.shape = storage, shape

    def __reduce_ex__(self, protocol):
        stride, acc = [], 1
        for n in reversed(self.shape):
            stride.append(acc)
            acc *= max(n, 1)
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, tuple(self.shape), tuple(reversed(stride)), False, collections.OrderedDict()))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            return ("storage", getattr(torch, _STORAGE_CLASS[obj.dtype]), obj.key, "cpu", obj.numel)
        return None


class TorchZipWriter:
    """`add(tensor)` writes its bytes now and returns a TensorRef; `close(obj)` writes the
    pickle of `obj` (a structure of dicts/lists/ints/strings and TensorRefs)."""

    def __init__(self, path: str | os.PathLike):
        self._f = open(path, "wb")
        self._zip = zipfile.ZipFile(self._f, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self._n = 0

    def _record(self, name: str, data) -> None:
        data = memoryview(data).cast("B")
        info = zipfile.ZipInfo(f"{ROOT}/{name}", date_time=_DATE)
        info.compress_type = zipfile.ZIP_STORED
        info.file_size = len(data)
        info.external_attr = 0o644 << 16
        # local header = 30 bytes + name + extra (+ 20 when zipfile adds its zip64 field, by its own rule)
        zip64 = info.file_size * 1.05 > zipfile.ZIP64_LIMIT
        start = self._f.tell() + 30 + len(info.filename.encode()) + 4 + (20 if zip64 else 0)
        pad = -start % ALIGN
        info.extra = _PAD_ID.to_bytes(2, "little") + pad.to_bytes(2, "little") + b"Z" * pad
        with self._zip.open(info, "w", force_zip64=zip64) as w:
            w.write(data)

    def add(self, tensor: torch.Tensor) -> TensorRef:
        t = tensor.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        ref = _StorageRef(str(self._n), t.dtype, t.numel())
        self._n += 1
        raw = t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b""
        self._record(f"data/{ref.key}", raw)
        return TensorRef(ref, tuple(t.shape))

    def close(self, obj: Any) -> None:
        import io

        buf = io.BytesIO()
        _Pickler(buf, protocol=2).dump(obj)
        self._record("data.pkl", buf.getbuffer())
        for name, value in ((".format_version", b"1"), (".storage_alignment", str(ALIGN).encode()),
                            ("byteorder", b"little"), ("version", b"3\n")):
            self._record(name, value)
        self._zip.close()
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()

    def abort(self) -> None:
        try:
            self._zip.close()
        except Exception:  # already broken (disk full): only the file handle matters now
            pass
        self._f.close()


def save_streaming(obj_with_tensors: Dict[str, Any], path: str | os.PathLike) -> None:
    """torch.save-compatible, deterministic save of a (nested) dict of tensors (tests, small files)."""
    w = TorchZipWriter(path)
    try:
        def walk(o):
            if isinstance(o, torch.Tensor):
                return w.add(o)
            if isinstance(o, dict):
                return {k: walk(v) for k, v in o.items()}
            return o
        w.close(walk(obj_with_tensors))
    except BaseException:
        w.abort()
        raise
