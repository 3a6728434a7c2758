"""Run a (possibly array) job through the recipe's backend, Kaldi `run.pl`/`slurm.pl` style.

    python -m espnet_cs_ext.bin.launch [--max-parallel 2] JOB=1:4 exp/log/decode.JOB.log CMD ... JOB ...
    python -m espnet_cs_ext.bin.launch exp/log/train.log CMD ...
    python -m espnet_cs_ext.bin.launch --backend slurm --gpu 1 --mem 16G --time 4:00:00 \\
        [--skip-done] JOB=1:4 exp/log/decode.JOB.log CMD ... JOB ...

The words are those of Kaldi/ESPnet's run.pl and slurm.pl (`[options] [JOB=a:b] LOG
CMD...`, no separator; their option names `--max-jobs-run`, `--gpu`, `--mem`,
`--num-threads`, `--time` are accepted), so a recipe line runs unchanged under either.
Unlike run.pl the command is executed as the argv it is given, not re-read by a shell:
a pipe or redirection needs an explicit `bash -c '...'`.

Every occurrence of the array variable (`JOB`) in the log path and the command is
replaced by the job index. Each job's stdout+stderr go to its log file, whose first
line is the command and whose last line is `# exit <code>`. At most --max-parallel
jobs run at once (local default 1; slurm default: no limit, else `--array=...%N`).
The exit status is non-zero if any job failed, and the failed log files are named on
stderr with their exit codes. --skip-done runs only the tasks whose log does not
already hold the same command ending in `# exit 0`, so rerunning a failed launch with
it resubmits just the failed tasks. Backends (espnet_cs_ext/launch/): `local` runs
child processes; `slurm` submits one sbatch array job and waits for it; resource
options only apply to slurm, and $CS_SLURM_OPTS adds sbatch words. cmd.sh selects.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from ..launch import JobSpec, SlurmOptions, failure_message, is_done, run_local, run_slurm
from ..utils.errors import CsExtError, cli_main

USAGE = "launch [--backend local|slurm] [--max-parallel N] [--skip-done] [VAR=a:b] LOG CMD ..."
FLAGS = ("--skip-done",)  # the only options without a value


def get_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="launch", usage=USAGE)
    ap.add_argument("--backend", choices=("local", "slurm"), default="local")
    ap.add_argument("--max-parallel", "--max-jobs-run", dest="max_parallel", type=int, default=None,
                    help="jobs at once (local: default 1; slurm: default unlimited)")
    ap.add_argument("--skip-done", action="store_true",
                    help="skip tasks whose log holds this command and ends in '# exit 0'")
    ap.add_argument("--gpu", type=int, default=0, help="slurm: GPUs per task (--gres=gpu:N)")
    ap.add_argument("--mem", help="slurm: memory per task, e.g. 16G")
    ap.add_argument("--time", help="slurm: time limit per task, e.g. 4:00:00")
    ap.add_argument("--num-threads", type=int, help="slurm: CPUs per task (--cpus-per-task)")
    ap.add_argument("--partition", help="slurm: partition")
    return ap


def split_options(argv: Sequence[str]) -> tuple:
    """(launcher options, `[VAR=a:b] LOG CMD...`): options are the leading `--name value`,
    `--name=value` and flag words; the first other word starts the job spec."""
    i = 0
    while i < len(argv) and argv[i].startswith("--") and argv[i] != "--":
        i += 1 if (argv[i] in FLAGS or "=" in argv[i]) else 2
    return list(argv[:i]), list(argv[i:])


def _main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    head, rest = split_options(argv)
    args = get_parser().parse_args(head)
    spec = JobSpec.parse(rest)
    indices = spec.indices
    if args.skip_done:
        indices = [i for i in indices if not is_done(spec, i)]
        if len(indices) < len(spec.indices):
            print(f"launch: --skip-done: {len(spec.indices) - len(indices)} of {len(spec.indices)} task(s) "
                  f"already finished ({spec.log_template})", file=sys.stderr)
        if not indices:
            return 0
    if args.backend == "local":
        failed = run_local(spec, indices, args.max_parallel or 1)
    else:
        opts = SlurmOptions.from_env(max_parallel=args.max_parallel, gpus=args.gpu, mem=args.mem,
                                     time=args.time, cpus=args.num_threads, partition=args.partition)
        failed = run_slurm(spec, indices, opts)
    if failed:
        raise CsExtError(failure_message(failed))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main("launch", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
