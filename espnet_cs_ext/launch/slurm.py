"""The `slurm` backend: one sbatch array job per launch, polled until every task ends.

Per launch of `JOB=1:N LOGDIR/name.JOB.log CMD`, LOGDIR/q/ holds what Slurm needs:
`name.json` (the spec), `name.sh` (the batch script: runs espnet_cs_ext.launch.task),
`name.jobid` (the last job submitted) and Slurm's own output `name.<job>_<task>.out`
(empty unless the wrapper itself could not start). Task logs keep the local layout.

Resources: `--gpu N` -> `--gres=gpu:N`, `--mem`, `--time`, `--num-threads` ->
`--cpus-per-task`, `--partition`, plus every word of $CS_SLURM_OPTS (e.g.
`--account=x --qos=y`) and, for jobs with --gpu, of $CS_SLURM_GPU_OPTS (e.g.
`--partition=gpu`), appended last so they override. Jobs run from the current
directory with this environment (`--export=ALL`) and this Python, so the file system
and the venv must be visible on the compute nodes (as for Kaldi's slurm.pl).
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError
from .spec import JobSpec, describe_exit, read_exit

ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING",
          "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED"}


@dataclass
class SlurmOptions:
    max_parallel: Optional[int] = None  # array throttle `%N`; None: as many as Slurm gives
    gpus: int = 0
    mem: Optional[str] = None
    time: Optional[str] = None
    cpus: Optional[int] = None
    partition: Optional[str] = None
    extra: List[str] = field(default_factory=list)
    poll_s: float = 5.0

    @classmethod
    def from_env(cls, **kw) -> "SlurmOptions":
        """CS_SLURM_OPTS (extra sbatch words), CS_SLURM_GPU_OPTS (more words for jobs with
        --gpu, e.g. a GPU partition) and CS_SLURM_POLL (seconds between polls)."""
        extra = shlex.split(os.environ.get("CS_SLURM_OPTS", ""))
        if kw.get("gpus"):
            extra += shlex.split(os.environ.get("CS_SLURM_GPU_OPTS", ""))
        poll = os.environ.get("CS_SLURM_POLL", "")
        try:
            poll_s = float(poll) if poll else 5.0
        except ValueError:
            raise CsExtError(f"CS_SLURM_POLL={poll!r}: expected seconds, e.g. 2") from None
        return cls(extra=extra, poll_s=poll_s, **kw)


def array_ranges(indices: Sequence[int]) -> str:
    """[1, 2, 3, 5, 7, 8] -> '1-3,5,7-8' (sbatch --array syntax)."""
    idx = sorted(set(indices))
    parts, start = [], None
    for k, i in enumerate(idx):
        if start is None:
            start = i
        if k + 1 == len(idx) or idx[k + 1] != i + 1:
            parts.append(str(start) if start == i else f"{start}-{i}")
            start = None
    return ",".join(parts)


def sbatch_args(name: str, indices: Sequence[int], qdir: Path, opts: SlurmOptions, script: Path) -> List[str]:
    array = array_ranges(indices)
    if opts.max_parallel:
        array += f"%{opts.max_parallel}"
    args = ["sbatch", "--parsable", f"--job-name=cs-{name}", f"--array={array}",
            f"--output={qdir}/{name}.%A_%a.out", f"--chdir={os.getcwd()}", "--export=ALL"]
    if opts.gpus:
        args.append(f"--gres=gpu:{opts.gpus}")
    if opts.mem:
        args.append(f"--mem={opts.mem}")
    if opts.time:
        args.append(f"--time={opts.time}")
    if opts.cpus:
        args.append(f"--cpus-per-task={opts.cpus}")
    if opts.partition:
        args.append(f"--partition={opts.partition}")
    return args + list(opts.extra) + [str(script)]


def _slurm(args: List[str], check: bool = True) -> subprocess.CompletedProcess:
    if shutil.which(args[0]) is None:
        raise CsExtError(f"'{args[0]}' not found: the slurm backend needs Slurm's client commands "
                         "(apt-get install slurm-client) and a reachable cluster (SLURM_CONF)")
    proc = subprocess.run(args, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise CsExtError(f"{' '.join(args[:3])} ... failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc


def active_tasks(job_id: str) -> List[str]:
    """States of the job's tasks still queued or running ([] once all ended or purged)."""
    proc = _slurm(["squeue", "-h", "-r", "-j", job_id, "-o", "%T"], check=False)
    if proc.returncode != 0:  # "Invalid job id": ended and purged already
        return []
    return [s for s in proc.stdout.split() if s in ACTIVE]


def task_states(job_id: str) -> Dict[int, str]:
    """Final Slurm state per array index, from scontrol (or sacct where accounting runs)."""
    states: Dict[int, str] = {}
    proc = _slurm(["scontrol", "-o", "show", "job", job_id], check=False)
    for line in proc.stdout.splitlines() if proc.returncode == 0 else []:
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if f.get("ArrayTaskId", "").isdigit():
            states[int(f["ArrayTaskId"])] = f.get("JobState", "?")
    if not states and shutil.which("sacct"):
        proc = _slurm(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,State"], check=False)
        for line in proc.stdout.splitlines() if proc.returncode == 0 else []:
            jid, _, state = line.partition("|")
            task = jid.rpartition("_")[2]
            if task.isdigit():
                states[int(task)] = state.split()[0] if state else "?"
    return states


def _check_previous(jobid_file: Path, spec: JobSpec) -> None:
    """Refuse to start a second copy while an earlier job over the same logs still runs."""
    if not jobid_file.exists():
        return
    old = jobid_file.read_text().strip()
    if old and active_tasks(old):
        raise CsExtError(f"Slurm job {old} over {spec.log_template} is still queued or running; "
                         f"wait for it or `scancel {old}` ({jobid_file})")


def submit(spec: JobSpec, indices: Sequence[int], opts: SlurmOptions) -> Tuple[str, Path]:
    """Write q/<name>.{json,sh}, sbatch the array; return (job id, q dir)."""
    qdir = spec.log_dir() / "q"
    qdir.mkdir(parents=True, exist_ok=True)
    name = spec.name()
    jobid_file = qdir / f"{name}.jobid"
    _check_previous(jobid_file, spec)
    for i in indices:
        # a task cancelled before it starts must not leave last run's log looking current
        spec.log(i).unlink(missing_ok=True)
        spec.log(i).parent.mkdir(parents=True, exist_ok=True)
    spec_file, script = qdir / f"{name}.json", qdir / f"{name}.sh"
    with atomic_open(spec_file) as f:
        json.dump({"var": spec.var, "lo": spec.lo, "hi": spec.hi, "log_template": spec.log_template,
                   "cmd": list(spec.cmd), "cwd": os.getcwd()}, f, indent=1)
    with atomic_open(script) as f:
        f.write("#!/bin/bash\n# written by espnet_cs_ext.launch.slurm; one array task of "
                f"{spec.log_template}\nexec {shlex.quote(sys.executable)} -m espnet_cs_ext.launch.task "
                f"{shlex.quote(str(spec_file.resolve()))}\n")
    proc = _slurm(sbatch_args(name, indices, qdir, opts, script))
    job_id = proc.stdout.strip().split(";")[0]
    if not job_id.isdigit():
        raise CsExtError(f"sbatch printed no job id: {proc.stdout!r} {proc.stderr!r}")
    with atomic_open(jobid_file) as f:
        f.write(job_id + "\n")
    return job_id, qdir


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


def wait(job_id: str, poll_s: float) -> None:
    """Poll squeue until no task is queued or running; Ctrl-C / SIGTERM cancel the job,
    so a killed recipe leaves no orphaned jobs holding cluster resources."""
    old = signal.signal(signal.SIGTERM, _raise_exit)
    try:
        while active_tasks(job_id):
            time.sleep(poll_s)
    except BaseException:
        subprocess.run(["scancel", job_id], capture_output=True)
        raise
    finally:
        signal.signal(signal.SIGTERM, old)


def run_slurm(spec: JobSpec, indices: Sequence[int], opts: SlurmOptions) -> List[Tuple[Path, str]]:
    """Submit, wait, then judge every task by its log's exit line; return the failures."""
    job_id, qdir = submit(spec, indices, opts)
    print(f"launch: Slurm job {job_id}, array {array_ranges(indices)} -> {spec.log_template}",
          file=sys.stderr, flush=True)
    wait(job_id, opts.poll_s)
    failed: List[Tuple[Path, str]] = []
    states: Optional[Dict[int, str]] = None
    for i in indices:
        log = spec.log(i)
        _, rc = read_exit(log)
        if rc == 0:
            continue
        if states is None:
            states = task_states(job_id)
        state = states.get(i, "state unknown")
        if rc is None:
            failed.append((log, f"no exit line, Slurm {job_id}_{i} {state}; see {qdir}/{spec.name()}.{job_id}_{i}.out"))
        else:
            failed.append((log, f"{describe_exit(rc)}, Slurm {job_id}_{i} {state}"))
    return failed
