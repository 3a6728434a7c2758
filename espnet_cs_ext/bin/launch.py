"""Run a (possibly array) job through the recipe's backend, Kaldi `run.pl` style.

    python -m espnet_cs_ext.bin.launch [--max-parallel 2] JOB=1:4 exp/log/decode.JOB.log -- CMD ... JOB ...
    python -m espnet_cs_ext.bin.launch exp/log/train.log -- CMD ...

Every occurrence of the array variable (`JOB`) in the log path and the command is
replaced by the job index. Each job's stdout+stderr go to its log file, whose first
line is the command and whose last line is `# exit <code>`. Jobs run in parallel up to
--max-parallel. The exit status is non-zero if any job failed, and the failed log
files are named on stderr. This is the `local` backend; cmd.sh selects it.
"""
from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

from ..utils.errors import CsExtError, cli_main

_ARRAY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\d+):(\d+)$")


def _substitute(items: Sequence[str], var: Optional[str], index: int) -> List[str]:
    if var is None:
        return list(items)
    return [re.sub(rf"\b{var}\b", str(index), x) for x in items]


def _main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        raise CsExtError("usage: launch [--max-parallel N] [VAR=a:b] LOG -- CMD ...")
    head, cmd = argv[: argv.index("--")], argv[argv.index("--") + 1:]
    ap = argparse.ArgumentParser(prog="launch")
    ap.add_argument("--max-parallel", type=int, default=1)
    ap.add_argument("spec", nargs="+")
    args = ap.parse_args(head)
    var, lo, hi = None, 1, 1
    if len(args.spec) == 2:
        m = _ARRAY.match(args.spec[0])
        if not m:
            raise CsExtError(f"bad array spec '{args.spec[0]}' (expected e.g. JOB=1:4)")
        var, lo, hi = m.group(1), int(m.group(2)), int(m.group(3))
    log_template = args.spec[-1]
    if not cmd:
        raise CsExtError("no command after --")

    pending = list(range(lo, hi + 1))
    running: List[tuple] = []
    failed: List[str] = []
    while pending or running:
        while pending and len(running) < max(1, args.max_parallel):
            i = pending.pop(0)
            log = Path(_substitute([log_template], var, i)[0])
            log.parent.mkdir(parents=True, exist_ok=True)
            job_cmd = _substitute(cmd, var, i)
            fh = open(log, "w")
            fh.write("# " + shlex.join(job_cmd) + "\n")
            fh.flush()
            proc = subprocess.Popen(job_cmd, stdout=fh, stderr=subprocess.STDOUT)
            running.append((proc, fh, log))
        still = []
        for proc, fh, log in running:
            rc = proc.poll()
            if rc is None:
                still.append((proc, fh, log))
                continue
            fh.write(f"# exit {rc}\n")
            fh.close()
            if rc != 0:
                failed.append(str(log))
        running = still
        if running:
            time.sleep(0.2)
    if failed:
        raise CsExtError(f"{len(failed)} job(s) failed; see " + ", ".join(failed))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main("launch", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
