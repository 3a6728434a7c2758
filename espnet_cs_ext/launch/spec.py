"""What one `launch` call asks for, shared by every backend: the array, the log layout.

A job spec is Kaldi's `[JOB=1:N] LOG CMD...`, word for word as run.pl / slurm.pl take it
(no separator: the first word after LOG starts the command): every whole-word
occurrence of the array variable in LOG and CMD becomes the task index. Each task's log starts with
`# <command>` and ends with `# exit <code>` (negative: killed by that signal). That
last line is what `--skip-done` reads: a task whose log holds the same command and
ends in `# exit 0` finished and is not run again.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..utils.errors import CsExtError

_ARRAY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\d+)(?::(\d+))?$")  # JOB=1:4, or JOB=3 (run.pl)
_EXIT = re.compile(r"^# exit (-?\d+)$")


def substitute(items: Sequence[str], var: Optional[str], index: int) -> List[str]:
    if var is None:
        return list(items)
    return [re.sub(rf"\b{re.escape(var)}\b", str(index), x) for x in items]


def header(cmd: Sequence[str]) -> str:
    """First line of a task log: the command as a shell would read it."""
    return "# " + shlex.join(cmd) + "\n"


def exit_line(rc: int) -> str:
    return f"# exit {rc}\n"


@dataclass(frozen=True)
class JobSpec:
    var: Optional[str]  # None: a single job, no array variable
    lo: int
    hi: int
    log_template: str
    cmd: Tuple[str, ...]

    @classmethod
    def parse(cls, words: Sequence[str]) -> "JobSpec":
        """From the words after the launcher's options: `[VAR=a:b] LOG CMD...`."""
        words = list(words)
        var, lo, hi = None, 1, 1
        if words and "=" in words[0] and not words[0].startswith("-"):
            m = _ARRAY.match(words[0])
            if not m:
                raise CsExtError(f"bad array spec '{words[0]}' (expected e.g. JOB=1:4)")
            var, lo = m.group(1), int(m.group(2))
            hi = int(m.group(3)) if m.group(3) is not None else lo
            if hi < lo:
                raise CsExtError(f"empty array '{words[0]}': {hi} < {lo}")
            words = words[1:]
        if not words:
            raise CsExtError("expected [VAR=a:b] LOG CMD..., got no log file")
        log, cmd = words[0], words[1:]
        if not cmd:
            raise CsExtError(f"no command after the log file {log}")
        if cmd[0] == "--":
            raise CsExtError(f"'--' after {log}: the command follows the log file directly "
                             "(run.pl's form: [JOB=1:N] LOG CMD...)")
        return cls(var, lo, hi, log, tuple(cmd))

    @property
    def indices(self) -> List[int]:
        return list(range(self.lo, self.hi + 1))

    def log(self, index: int) -> Path:
        return Path(substitute([self.log_template], self.var, index)[0])

    def command(self, index: int) -> List[str]:
        return substitute(self.cmd, self.var, index)

    def log_dir(self) -> Path:
        """The folder holding the task logs (the first task's, if the folder varies)."""
        return self.log(self.lo).parent

    def name(self) -> str:
        """A short job name from the log file name: exp/log/decode.JOB.log -> decode."""
        stem = Path(self.log_template).name
        stem = substitute([stem], self.var, 0)[0] if self.var else stem
        stem = re.sub(r"(\.0)?\.log$", "", stem)
        return re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "job"


def _head_and_tail(log: Path) -> Optional[Tuple[str, List[str]]]:
    """(first line, lines of the last 4 KiB) of a task log, or None if it does not exist.
    Only the tail is read: logs of long trainings are large."""
    try:
        with open(log, "rb") as f:
            first = f.readline().decode("utf-8", "replace")
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            return first, f.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return None


def read_exit(log: Path) -> Tuple[Optional[str], Optional[int]]:
    """(first line, exit code from the last line) of a task log; None where absent."""
    read = _head_and_tail(log)
    if read is None:
        return None, None
    first, tail = read
    last = tail[-1] if tail else ""
    m = _EXIT.match(last.strip())
    return first, (int(m.group(1)) if m else None)


def is_done(spec: JobSpec, index: int) -> bool:
    """The task ran this very command before and exited 0."""
    first, rc = read_exit(spec.log(index))
    return rc == 0 and first == header(spec.command(index))


def describe_exit(rc: int) -> str:
    return f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"


def last_output_line(log: Path) -> Optional[str]:
    """The task's last line of output (for a Python tool: its error or the exception).

    Launcher lines (`# <command>`, `# exit N`, `# slurm job ...`) are skipped.
    """
    read = _head_and_tail(log)
    if read is None:
        return None
    for line in reversed(read[1]):
        text = line.strip()
        if text and not text.startswith("# "):
            return text[:300]
    return None


# A stage's console shows why a task failed, not only where its log is: the
# first few failed tasks' last output lines follow the summary line.
SHOWN_FAILURES = 3


def failure_message(failed: Sequence[Tuple[Path, str]]) -> str:
    """A line naming every failed log and why (`a.2.log (exit 3)`), then the last
    output line of the first few failed tasks."""
    items = ", ".join(f"{log} ({why})" for log, why in failed)
    lines = [f"{len(failed)} job(s) failed; see {items}; "
             "rerun with --skip-done to run only the failed ones"]
    for log, _ in failed[:SHOWN_FAILURES]:
        last = last_output_line(log)
        if last:
            lines.append(f"  {log}: {last}")
    return "\n".join(lines)
