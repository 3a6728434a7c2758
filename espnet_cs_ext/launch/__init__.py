"""Job backends behind `python -m espnet_cs_ext.bin.launch` (Kaldi's run.pl / slurm.pl).

    spec.py   the array spec and the task log layout every backend shares
    local.py  child processes on this machine
    slurm.py  one sbatch array job, polled with squeue; task.py runs inside each task
"""
from .local import run_local
from .spec import JobSpec, failure_message, is_done
from .slurm import SlurmOptions, run_slurm

__all__ = ["JobSpec", "SlurmOptions", "failure_message", "is_done", "run_local", "run_slurm"]
