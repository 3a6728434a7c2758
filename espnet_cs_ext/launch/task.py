"""One array task inside a Slurm job: run the command with the local backend's log layout.

    python -m espnet_cs_ext.launch.task q/decode.json      (sbatch's script runs this)

The task index is $SLURM_ARRAY_TASK_ID. The log gets `# <command>`, a line naming the
Slurm job, the command's output, and `# exit <code>`. `scancel` sends SIGTERM: it is
passed to the command and the exit line still gets written (`# exit -15`), so the
launcher can tell a killed task from one that never started.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from .spec import JobSpec, exit_line, header


def load_spec(path: Path) -> tuple:
    raw = json.loads(Path(path).read_text())
    spec = JobSpec(raw["var"], raw["lo"], raw["hi"], raw["log_template"], tuple(raw["cmd"]))
    return spec, raw["cwd"]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m espnet_cs_ext.launch.task SPEC.json", file=sys.stderr)
        return 2
    spec, cwd = load_spec(Path(argv[0]))
    os.chdir(cwd)
    index = int(os.environ["SLURM_ARRAY_TASK_ID"])
    job = f"{os.environ.get('SLURM_ARRAY_JOB_ID', '?')}_{index}"
    log, cmd = spec.log(index), spec.command(index)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        fh.write(header(cmd))
        fh.write(f"# slurm job {job} on {socket.gethostname()}\n")
        fh.flush()
        try:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        except OSError as e:  # command not found: a failed task, not a crashed wrapper
            fh.write(f"launch: cannot run {cmd[0]!r}: {e.strerror or e}\n")
            fh.write(exit_line(127))
            return 127
        forward = lambda signum, _frame: proc.send_signal(signum)  # noqa: E731
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(sig, forward)
        rc = proc.wait()
        fh.write(exit_line(rc))
    return 0 if rc == 0 else (128 - rc if rc < 0 else rc)


if __name__ == "__main__":
    sys.exit(main())
