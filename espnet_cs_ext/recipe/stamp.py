"""`.done` markers that know their inputs: a stage is skipped only if nothing changed.

A marker stores a fingerprint of its inputs: for files, path + size + mtime; for
directories, the same over every file below them; for any other string (an option
value, a config text), the string itself. `check` succeeds when the marker exists and
the fingerprint is unchanged.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

from ..utils.atomic import atomic_open


def _describe(item: str) -> Iterable[str]:
    p = Path(item)
    try:
        # An empty option value (--asr_args "", --lors_grid_langs "") is a string: Path("")
        # is ".", and fingerprinting the whole working dir made every marker go stale as
        # soon as anything in the recipe dir (exp/, data/, RESULTS.md) changed.
        is_file, is_dir = (False, False) if item == "" else (p.is_file(), p.is_dir())
    except OSError:  # e.g. a long multi-line value: "File name too long" -> a plain string
        is_file = is_dir = False
    if is_file:
        st = p.stat()
        yield f"f {p} {st.st_size} {st.st_mtime_ns}"
    elif is_dir:
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue  # markers, temp files
                fp = Path(root) / name
                st = fp.stat()
                yield f"f {fp} {st.st_size} {st.st_mtime_ns}"
    else:
        yield f"s {item}"


def fingerprint(inputs: Iterable[str]) -> str:
    h = hashlib.sha256()
    for item in inputs:
        for line in _describe(item):
            h.update(line.encode() + b"\n")
    return h.hexdigest()


def is_done(marker: str | os.PathLike, inputs: Iterable[str]) -> bool:
    m = Path(marker)
    return m.is_file() and m.read_text().strip() == fingerprint(inputs)


def mark_done(marker: str | os.PathLike, inputs: Iterable[str]) -> None:
    with atomic_open(marker) as f:
        f.write(fingerprint(inputs) + "\n")
