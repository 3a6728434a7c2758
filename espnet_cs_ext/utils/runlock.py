"""One run per exp dir: an flock on DIR/.run.lock that the recipe shell holds while it runs.

    exec 9>>"${expdir}/.run.lock"
    python -m espnet_cs_ext.utils.runlock --fd 9 "${expdir}" || exit 2

The shell opens the lock file on a descriptor; this command takes a non-blocking
exclusive `flock` on that descriptor and writes the holder's pid (the calling shell),
start time and command line into the file. An flock belongs to the open file, which the
shell (and every job it starts, which inherit the descriptor) keeps open after this
command exits, so the lock lasts as long as the run; when the run ends, or is killed with
-9, the kernel closes the file and the lock is gone: a killed run never leaves it stuck
(the stale pid text in the file is overwritten by the next holder). A second run stops
at once naming the first's pid and start time.
"""
from __future__ import annotations

import argparse
import errno
import fcntl
import os
import sys
import time
from typing import Optional, Sequence

from .errors import CsExtError, cli_main

PROG = "run-lock"


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def acquire(fd: int, where: str, holder_pid: Optional[int] = None) -> str:
    """Lock `fd` or raise CsExtError naming the holder; return the text written."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        with open(f"/proc/self/fd/{fd}", encoding="utf-8", errors="replace") as f:
            holder = f.read().strip() or "a process that has not written its pid yet"
        raise CsExtError(f"{where} is in use by another run ({holder}); wait for it to finish "
                         f"or stop it, then rerun") from None
    pid = holder_pid or os.getppid()
    text = (f"pid {pid}, started {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime())}, "
            f"command: {_cmdline(pid)}\n")
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode())
    return text


def run(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    ap.add_argument("--fd", type=int, required=True, help="descriptor of the open lock file (the shell's)")
    ap.add_argument("dir", help="what the lock protects, for the message (the exp dir)")
    args = ap.parse_args(argv)
    acquire(args.fd, args.dir)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
