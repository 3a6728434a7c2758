"""A deterministic stop point for kill/resume tests; inert unless CS_EXT_HALT_AT is set.

Tests of "killed mid-run, rerun resumes" used to kill a process when a file appeared,
which races the machine's speed (a fast run ends first, a slow one is killed too early).
Instead the code calls `halt_point(name)` right after each durable step (a checkpoint
written, a batch of hypotheses fsynced) and a test sets

    CS_EXT_HALT_AT="<n> <kill|wait> <glob>"

so the process stops itself the n-th time it passes a point whose name matches the
fnmatch pattern <glob>: `kill` SIGKILLs itself (as a lost node would), `wait` blocks
until a signal ends it (so a test can scancel it at a known place). Real runs never set it.
"""
from __future__ import annotations

import fnmatch
import os
import signal

ENV = "CS_EXT_HALT_AT"
_seen = 0


def halt_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    n, how, pattern = spec.split(" ", 2)
    if not fnmatch.fnmatchcase(name, pattern):
        return
    global _seen
    _seen += 1
    if _seen < int(n):
        return
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "wait":
        while True:
            signal.pause()
    else:
        raise ValueError(f"{ENV}={spec!r}: expected '<n> <kill|wait> <glob>'")
