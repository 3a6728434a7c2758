"""Read and write Kaldi-style tables (`text`, `wav.scp`, `utt2spk`, ...).

A table line is `<key> <value>`; the value may be empty (an empty transcript) or
contain spaces. Errors name the file and the 1-based line number.

A UTF-8 byte-order mark at the start of a file (Windows editors add one) is accepted
and dropped: it is never part of the first id. Ids are shown with `show_id`, which
writes invisible characters as escapes so that '\\ufeffu1' does not read as 'u1'.
"""
from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Dict, Iterable, Tuple

from .atomic import atomic_open
from .errors import CsExtError


UTF8_BOM = b"\xef\xbb\xbf"


def show_id(key: str) -> str:
    """`key` with control, format (zero-width, BOM) and non-ASCII space characters escaped."""
    out = []
    for ch in key:
        cat = unicodedata.category(ch)
        if cat[0] == "C" or (cat[0] == "Z" and ch != " "):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def strip_bom(raw: bytes) -> bytes:
    """Drop one leading UTF-8 byte-order mark (see the module docstring)."""
    return raw[len(UTF8_BOM):] if raw.startswith(UTF8_BOM) else raw


def _split(line: str) -> Tuple[str, str]:
    parts = line.split(None, 1)
    return parts[0], (parts[1] if len(parts) > 1 else "")


def read_table(path: str | os.PathLike, allow_empty_value: bool = True) -> Dict[str, str]:
    """Return {key: value} in file order; reject non-UTF-8, duplicate keys, blank keys."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CsExtError(f"{path}: no such file")
    raw = strip_bom(raw)
    out: Dict[str, str] = {}
    lines = raw.split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()  # the newline that ends the last line, and blank lines after it
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            raise CsExtError(f"{path}:{lineno}: empty line (expected '<utt-id> <value>')")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CsExtError(f"{path}:{lineno}: not valid UTF-8 (byte {e.start}: {line[e.start:e.start+1]!r})")
        text = text.rstrip("\r")
        if text[:1].isspace():
            raise CsExtError(f"{path}:{lineno}: line starts with whitespace, no utterance id")
        key, value = _split(text)
        value = value.strip()
        if not value and not allow_empty_value:
            raise CsExtError(f"{path}:{lineno}: '{show_id(key)}' has no value")
        if key in out:
            raise CsExtError(f"{path}:{lineno}: duplicate id '{show_id(key)}'")
        out[key] = value
    return out


def write_table(path: str | os.PathLike, items: Iterable[Tuple[str, str]] | Dict[str, str],
                sort: bool = True) -> None:
    """Write `<key> <value>` lines atomically, sorted by key unless told otherwise."""
    pairs = list(items.items()) if isinstance(items, dict) else list(items)
    if sort:
        pairs.sort(key=lambda kv: kv[0])
    with atomic_open(path) as f:
        for k, v in pairs:
            f.write(f"{k} {v}\n" if v != "" else f"{k}\n")
