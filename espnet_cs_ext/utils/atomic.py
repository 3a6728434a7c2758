"""Write files so that readers never see half of one: temp file in the same dir, then rename.

Temp files are named `.<name>.cs-tmp.<host>.<pid>.<random>.tmp` so that they are recognisable
as ours and as belonging to one process. A process killed with -9 cannot remove its temp
file; `sweep_stale_temps(path)` (called by tools before they write `path`) deletes the temp
files of `path` whose process is gone: only ours (the pattern), only stale ones (same host,
pid not running), never a live writer's.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import IO, Iterator, List

from .halt import halt_point

TEMP_TAG = ".cs-tmp."


def _host() -> str:
    # dots would make the name ambiguous; a cluster's shared disk needs the host to tell pids apart
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host"


def temp_prefix(path: Path, pid: int | None = None) -> str:
    return f".{path.name}{TEMP_TAG}{_host()}.{os.getpid() if pid is None else pid}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


def sweep_stale_temps(path: str | os.PathLike) -> List[Path]:
    """Remove temp files of `path` left by dead processes of this host; return what was removed."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    head = f".{path.name}{TEMP_TAG}{_host()}."
    removed = []
    for p in path.parent.iterdir():
        name = p.name
        if not name.startswith(head):
            continue
        pid_s = name[len(head):].split(".", 1)[0]
        if not pid_s.isdigit() or int(pid_s) == os.getpid() or _pid_alive(int(pid_s)):
            continue
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`.

    On any exception the temporary file is removed and `path` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
    halt_point(f"write {path}")  # kill/resume tests stop here: after a whole file, before the next


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """`open()` for writing whose result appears at `path` only if the block succeeds."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
