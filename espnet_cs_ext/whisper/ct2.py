"""Read a CTranslate2 `model.bin` with numpy alone (no ctranslate2 dependency).

Layout (little-endian; REFERENCE.md section 2): u32 binary version; str spec name;
u32 spec revision; u32 number of variables; per variable: str name, u8 rank,
u32 dims[rank], u8 dtype id, u32 byte count, raw data; then u32 number of aliases
and (alias, target) str pairs. A `str` is a u16 length that counts a trailing NUL,
then the bytes. Truncated or inconsistent files raise CsExtError naming the file.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict

import numpy as np

from ..utils.errors import CsExtError

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}


@dataclass
class CT2Model:
    spec: str
    revision: int
    variables: Dict[str, np.ndarray] = field(default_factory=dict)
    aliases: Dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> np.ndarray:
        """Variable by name, following aliases (e.g. the tied output projection)."""
        seen = set()
        while name in self.aliases and name not in self.variables:
            if name in seen:
                raise CsExtError(f"alias cycle at '{name}'")
            seen.add(name)
            name = self.aliases[name]
        return self.variables[name]


class _Reader:
    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int, what: str) -> memoryview:
        if self.pos + n > len(self.buf):
            raise CsExtError(
                f"{self.path}: truncated CTranslate2 file while reading {what} "
                f"(needs {n} bytes at offset {self.pos}, file has {len(self.buf)})")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self, what):
        return self.take(1, what)[0]

    def u16(self, what):
        return struct.unpack("<H", self.take(2, what))[0]

    def u32(self, what):
        return struct.unpack("<I", self.take(4, what))[0]

    def string(self, what):
        n = self.u16(what)
        raw = bytes(self.take(n, what))
        try:
            return raw.rstrip(b"\0").decode("utf-8")
        except UnicodeDecodeError:
            raise CsExtError(f"{self.path}: corrupt CTranslate2 file: {what} is not text at offset {self.pos - n}")


def read_ct2(path: str | os.PathLike, data: bytes | None = None) -> CT2Model:
    """Parse a model.bin into numpy arrays; bf16 is widened to float32.

    `data` may hold the file's bytes already (e.g. joined from split package parts);
    `path` then only names the source in error messages.
    """
    path = Path(path)
    if data is None:
        data = path.read_bytes()
    r = _Reader(memoryview(data), path)
    version = r.u32("binary version")
    if not 1 <= version <= 10:
        raise CsExtError(f"{path}: not a CTranslate2 model.bin (binary version {version})")
    model = CT2Model(spec=r.string("spec name"), revision=r.u32("spec revision"))
    nvars = r.u32("variable count")
    for i in range(nvars):
        name = r.string(f"name of variable {i}")
        rank = r.u8(f"rank of '{name}'")
        shape = tuple(r.u32(f"dims of '{name}'") for _ in range(rank))
        dtype_id = r.u8(f"dtype of '{name}'")
        nbytes = r.u32(f"size of '{name}'")
        raw = r.take(nbytes, f"data of '{name}'")
        if dtype_id not in _DTYPES:
            raise CsExtError(f"{path}: variable '{name}' has unknown dtype id {dtype_id}")
        dt = _DTYPES[dtype_id]
        if dt == "bfloat16":
            arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=dt)
        expected = int(np.prod(shape)) if shape else 1
        if arr.size != expected:
            raise CsExtError(f"{path}: variable '{name}' has {arr.size} values, shape {shape} needs {expected}")
        model.variables[name] = arr.reshape(shape)
    if r.pos < len(data):
        for i in range(r.u32("alias count")):
            alias = r.string(f"alias {i}")
            model.aliases[alias] = r.string(f"target of alias '{alias}'")
    return model
