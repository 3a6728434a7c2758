"""One run per exp dir: the second run stops at once naming the first; kill -9 frees the lock.

Drives the same two lines cs_unseen.sh runs, from real bash processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

LOCK_LINES = ('exec 9>>"$1/.run.lock"\n'
              f'{sys.executable} -m espnet_cs_ext.utils.runlock --fd 9 "$1" || exit 2\n')


def _script(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "fake_run.sh"
    p.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + LOCK_LINES + body)
    return p


def _start_holder(tmp_path, exp):
    """A run that takes the lock, then waits (reading a pipe nobody writes) until killed."""
    script = _script(tmp_path, 'echo locked\nread -r _\n')
    p = subprocess.Popen(["bash", str(script), str(exp)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         env=dict(os.environ), text=True)
    assert p.stdout.readline().strip() == "locked"  # blocks until the lock is held
    return p


def test_second_run_stops_naming_the_first_and_kill9_frees_it(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    first = _start_holder(tmp_path, exp)
    try:
        second = subprocess.run(["bash", str(_script(tmp_path, "echo ran\n")), str(exp)],
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second
        assert "ran" not in second.stdout
        assert f"pid {first.pid}, started " in second.stderr, second.stderr
        assert "is in use by another run" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    third = subprocess.run(["bash", str(_script(tmp_path, "echo ran\n")), str(exp)],
                           capture_output=True, text=True, timeout=120)
    assert third.returncode == 0 and third.stdout.strip() == "ran", third
    assert f"pid {first.pid}" not in (exp / ".run.lock").read_text()


def test_other_exp_dirs_do_not_block(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    first = _start_holder(tmp_path, a)
    try:
        other = subprocess.run(["bash", str(_script(tmp_path, "echo ran\n")), str(b)],
                               capture_output=True, text=True, timeout=120)
        assert other.returncode == 0, other
    finally:
        first.kill()
        first.wait()
