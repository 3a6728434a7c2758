"""Disk full during cs-merge: one line naming the output, exit 2, the previous output intact,
no temp file. Two ways to run out of room: a real 64 kB tmpfs (in a user+mount namespace,
skipped where the kernel does not allow one) and, always, a file-size limit (RLIMIT_FSIZE:
the write fails with EFBIG instead of ENOSPC, through the same code path)."""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys

import pytest
from merge_helpers import write_yaml


def _cfg(tmp_path, model_set):
    return write_yaml(tmp_path / "merge.yaml", {
        "merge_method": "ties", "base_model": str(model_set["base"]),
        "models": [{"model": str(model_set[m]), "parameters": {"density": 0.5}} for m in ("ft0", "ft1")]})


def _env(tmp_path):
    return dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))


def test_fsize_limit_keeps_previous_output(tmp_path, model_set):
    out = tmp_path / "out" / "m.pt"
    out.parent.mkdir()
    out.write_bytes(b"previous")
    cfg = _cfg(tmp_path, model_set)
    limit = os.path.getsize(model_set["base"]) // 4  # well under the merged checkpoint's size

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    p = subprocess.run([sys.executable, "-m", "espnet_cs_ext.bin.cs_merge", str(cfg), str(out), "-q"],
                       capture_output=True, text=True, env=_env(tmp_path), preexec_fn=small_files, timeout=300)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith(f"cs-merge: error: {out}: cannot write the merged checkpoint: File too large"), p.stderr
    assert "previous one is left in place" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"previous"
    assert sorted(x.name for x in out.parent.iterdir()) == ["m.pt"]


def test_full_tmpfs_keeps_previous_output(tmp_path, model_set):
    if not shutil.which("unshare"):
        pytest.skip("no unshare(1) to mount a private tmpfs")
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {tmp_path}"],
                           capture_output=True, text=True)
    if probe.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.strip()}")
    d = tmp_path / "full"
    d.mkdir()
    cfg = _cfg(tmp_path, model_set)
    script = (f'mount -t tmpfs -o size=64k tmpfs "{d}" && printf previous > "{d}/m.pt" || exit 99\n'
              f'"{sys.executable}" -m espnet_cs_ext.bin.cs_merge "{cfg}" "{d}/m.pt" -q\n'
              f'echo "rc=$?"; cat "{d}/m.pt"; echo; ls -A "{d}"\n')
    p = subprocess.run(["unshare", "-rm", "bash", "-c", script], capture_output=True, text=True,
                       env=_env(tmp_path), timeout=300)
    assert p.stdout.split("\n")[:3] == ["rc=2", "previous", "m.pt"], (p.stdout, p.stderr)
    assert f"{d}/m.pt: cannot write the merged checkpoint: No space left on device" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
