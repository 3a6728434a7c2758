"""The `local` backend: run the tasks as child processes of this one, N at a time."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import List, Sequence, Tuple

from .spec import JobSpec, describe_exit, exit_line, header


def run_local(spec: JobSpec, indices: Sequence[int], max_parallel: int = 1) -> List[Tuple[Path, str]]:
    """Run the given task indices; return (log, reason) for every task that failed."""
    pending = list(indices)
    running: List[tuple] = []
    failed: List[Tuple[Path, str]] = []
    # Each task's share of the cores (jobs read it for their thread count: N jobs with
    # all cores each would oversubscribe the machine N times over). From the slot count
    # only, not from how many tasks are pending: a resumed run with fewer stale tasks
    # then gets the same threads per job (docs/reproducibility.md). OpenMP gets the same
    # share: path.sh's ESPnet default of one thread per job would leave a lone training
    # job (train_cmd runs one at a time) on one of the machine's cores.
    cpus = str(job_cpus(max_parallel, max_parallel))
    env = dict(os.environ, CS_JOB_CPUS=cpus, OMP_NUM_THREADS=cpus)
    while pending or running:
        while pending and len(running) < max(1, max_parallel):
            i = pending.pop(0)
            log = spec.log(i)
            log.parent.mkdir(parents=True, exist_ok=True)
            cmd = spec.command(i)
            fh = open(log, "w")
            fh.write(header(cmd))
            fh.flush()
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
            running.append((proc, fh, log))
        still = []
        for proc, fh, log in running:
            rc = proc.poll()
            if rc is None:
                still.append((proc, fh, log))
                continue
            fh.write(exit_line(rc))
            fh.close()
            if rc != 0:
                failed.append((log, describe_exit(rc)))
        running = still
        if running:
            time.sleep(0.2)
    return failed


def job_cpus(max_parallel: int, num_tasks: int) -> int:
    """Cores per task when min(max_parallel, num_tasks) tasks run at once."""
    return max(1, (os.cpu_count() or 1) // max(1, min(max_parallel, num_tasks)))
