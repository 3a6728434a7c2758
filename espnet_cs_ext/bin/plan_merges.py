"""Recipe stage 6 planner: merge list YAML -> one cs-merge config per merged system.

    python -m espnet_cs_ext.bin.plan_merges --config conf/tuning/demo/merge.yaml --expdir exp \
        --base base --train_pairs "ko-en ja-en de-en" --out exp/merge
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from ..utils.errors import cli_main


def _main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="plan_merges", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--expdir", required=True)
    ap.add_argument("--base", required=True, help="pretrained Whisper spec (resolver)")
    ap.add_argument("--train_pairs", required=True)
    ap.add_argument("--systems", default="", help="stage-5 systems of this run (for `systems:` merges)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    from ..recipe.merges import plan_merges

    written = plan_merges(args.config, args.expdir, args.base, args.train_pairs.split(), args.out,
                          systems=args.systems.split())
    print(f"{len(written)} merges planned -> {args.out}/systems.txt")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main("plan_merges", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
