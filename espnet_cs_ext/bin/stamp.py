"""Stage markers for the recipe: `check MARKER INPUT...` exits 0 when up to date.

    python -m espnet_cs_ext.bin.stamp check exp/.done/stage3 data/train_ko-en conf/x.yaml
    python -m espnet_cs_ext.bin.stamp done  exp/.done/stage3 data/train_ko-en conf/x.yaml
"""
from __future__ import annotations

import sys

from ..recipe.stamp import is_done, mark_done


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] not in ("check", "done"):
        print(__doc__, file=sys.stderr)
        return 2
    verb, marker, inputs = args[0], args[1], args[2:]
    if verb == "check":
        return 0 if is_done(marker, inputs) else 1
    mark_done(marker, inputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
