"""A real single-node Slurm for the tests of the `slurm` launch backend.

`slurm_cluster` (session) starts munged + slurmctld + slurmd with
tools/slurm/start_local_slurm.sh in a private temporary dir on free ports, exports
SLURM_CONF for this process and its children, and stops the daemons at session end.
The Debian packages are installed by tools/install_system_deps.sh (CI runs it), so a
missing binary fails the tests; set CS_SKIP_SLURM_TESTS=1 to skip them instead on a
machine that cannot have Slurm.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools" / "slurm"
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
APT = "apt-get install -y slurmctld slurmd slurm-client munge (or bash tools/install_system_deps.sh)"


def _free_ports(n: int) -> list:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """Path of the running cluster's dir; SLURM_CONF points at its slurm.conf."""
    missing = [b for b in BINARIES if shutil.which(b) is None]
    why = None
    if missing:
        why = f"Slurm binaries missing ({', '.join(missing)}): {APT}"
    elif os.geteuid() != 0:
        why = "the private Slurm needs root (slurmd starts jobs as their user)"
    if why:
        if os.environ.get("CS_SKIP_SLURM_TESTS") == "1":
            pytest.skip(why + " [CS_SKIP_SLURM_TESTS=1]")
        pytest.fail(why + "; set CS_SKIP_SLURM_TESTS=1 to skip", pytrace=False)
    d = tmp_path_factory.mktemp("slurm")
    ctld, slurmd = _free_ports(2)
    proc = subprocess.run(["bash", str(TOOLS / "start_local_slurm.sh"), str(d), str(ctld), str(slurmd)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        subprocess.run(["bash", str(TOOLS / "stop_local_slurm.sh"), str(d)], capture_output=True)
        pytest.fail(f"start_local_slurm.sh failed:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    old = {k: os.environ.get(k) for k in ("SLURM_CONF", "CS_SLURM_POLL")}
    os.environ["SLURM_CONF"] = str(d / "slurm.conf")
    os.environ["CS_SLURM_POLL"] = "0.3"
    try:
        yield d
    finally:
        subprocess.run(["bash", str(TOOLS / "stop_local_slurm.sh"), str(d)], capture_output=True, timeout=120)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def child_env() -> dict:
    """Environment for child processes: one thread each (2 cores shared), SLURM_CONF as set."""
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


@pytest.fixture(scope="session")
def launch():
    """launch(*args, cwd=..., check=RC): run `python -m espnet_cs_ext.bin.launch ARGS`."""
    def run(*args, cwd, check=None, timeout=300) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "espnet_cs_ext.bin.launch", *map(str, args)],
                              cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=timeout)
        if check is not None:
            assert proc.returncode == check, f"launch exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        return proc
    return run
