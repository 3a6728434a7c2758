"""The `local` backend: run the tasks as child processes of this one, N at a time."""
from __future__ import annotations

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
    while pending or running:
        while pending and len(running) < max(1, max_parallel):
            i = pending.pop(0)
            log = spec.log(i)
            log.parent.mkdir(parents=True, exist_ok=True)
            cmd = spec.command(i)
            fh = open(log, "w")
            fh.write(header(cmd))
            fh.flush()
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
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
