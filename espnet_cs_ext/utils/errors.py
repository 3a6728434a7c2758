"""The one exception type users see, and the CLI wrapper that turns it into one line.

Every tool raises `CsExtError` with a message that names the offending file,
utterance or tensor and what was expected; `cli_main` prints it as
`<prog>: error: <message>` and exits 2, so shell stages stop with a clear reason.
"""
from __future__ import annotations

import sys
from typing import Callable, Optional, Sequence


class CsExtError(Exception):
    """A user-facing error: bad input, missing file, inconsistent models."""


def cli_main(prog: str, main: Callable[[Optional[Sequence[str]]], int | None],
             argv: Optional[Sequence[str]] = None) -> int:
    """Run `main(argv)`; report CsExtError (and missing files) on one line, exit 2."""
    try:
        rc = main(argv)
    except CsExtError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"{prog}: error: file not found: {e.filename or e}", file=sys.stderr)
        return 2
    except OSError as e:  # permission denied, is a directory, disk full ...
        where = f"{e.filename}: " if e.filename else ""
        print(f"{prog}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)
