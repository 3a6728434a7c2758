"""Check an output path before any work, and leave no directory behind when the work fails.

A tool that writes OUT calls `check_output_file(OUT)` first (before reading any input:
an OUT that is an existing directory should fail in a second, not after the whole job),
then runs the job inside `cleanup_created_dirs(OUT)`, which removes the parent
directories that did not exist before if the job raises (only while they are empty:
never anything that holds someone's files).
"""
from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Iterator, List, Sequence

from .errors import CsExtError


def missing_parents(path: str | os.PathLike) -> List[Path]:
    """The ancestors of `path` that do not exist yet, outermost first."""
    out: List[Path] = []
    p = Path(os.path.abspath(path)).parent
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out[::-1]


def check_output_file(path: str | os.PathLike, also: Sequence[str | os.PathLike] = (), what: str = "output") -> None:
    """Refuse an output path that cannot become a file: an existing directory, or one whose
    nearest existing ancestor is not a directory. `also`: files written beside it (sidecars)."""
    for p in [path, *also]:
        p = Path(p)
        if p.is_dir():
            raise CsExtError(f"{p}: is a directory; the {what} must be a file path (e.g. {p / 'model.pt'})")
        anc = Path(os.path.abspath(p)).parent
        while not anc.exists() and anc != anc.parent:
            anc = anc.parent
        if not anc.is_dir():
            raise CsExtError(f"{anc}: is not a directory, cannot write the {what} {p} below it")
        if not os.access(anc, os.W_OK):
            raise CsExtError(f"{anc}: not writable, cannot write the {what} {p}")


@contextlib.contextmanager
def cleanup_created_dirs(path: str | os.PathLike) -> Iterator[None]:
    """On an exception in the block, rmdir the (still empty) parents of `path` it created."""
    created = missing_parents(path)
    try:
        yield
    except BaseException:
        for d in reversed(created):
            with contextlib.suppress(OSError):
                d.rmdir()  # fails, and is kept, when something else was put there
        raise


# disk full, quota, file size limit: the output could not be written, the input was fine
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


@contextlib.contextmanager
def disk_errors_named(path: str | os.PathLike, what: str = "output") -> Iterator[None]:
    """Turn a disk-full write error inside the block into one line naming `path`.

    The writers write to a temp file and rename it at the end (utils.atomic), so the
    previous `path`, if there was one, is still in place when this is raised."""
    try:
        yield
    except OSError as e:
        if e.errno not in _DISK_ERRNOS:
            raise
        before = "the previous one is left in place" if Path(path).exists() else "nothing was written"
        raise CsExtError(f"{path}: cannot write the {what}: {os.strerror(e.errno)} ({before}; "
                         f"free some space and rerun)") from None
