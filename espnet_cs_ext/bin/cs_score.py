"""cs-score: Mixed Error Rate of a hypothesis `text` file against a reference `text` file.

    cs-score --ref data/test/text --hyp exp/asr/decode_test/text --out exp/asr/decode_test/score_mer \\
             [--preset default|hike|hike_script|none]
    python -m espnet_cs_ext.bin.cs_score ...   # the same

Writes OUT/result.txt, OUT/result.json, OUT/per_utt.tsv (see espnet_cs_ext.scoring).
Bad input exits with status 2 and one line naming the file and line; nothing is written.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from ..utils.errors import CsExtError, cli_main

PROG = "cs-score"


def get_parser() -> argparse.ArgumentParser:
    from ..scoring.presets import PRESETS
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", help="reference Kaldi text file (<utt-id> <transcript>)")
    p.add_argument("--hyp", help="hypothesis Kaldi text file")
    p.add_argument("--out", help="output directory (created if missing)")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS),
                   help="normalisation/tokenisation/headline preset (default: %(default)s)")
    p.add_argument("--list-presets", action="store_true", help="describe every preset and exit")
    return p


def _main(argv: Optional[Sequence[str]]) -> int:
    from ..scoring import PRESETS, score_files
    args = get_parser().parse_args(argv)
    if args.list_presets:
        for name, p in PRESETS.items():
            print(f"{name}: {p.description}" + (f" [{p.source}]" if p.source else ""))
        return 0
    missing = [f"--{k}" for k in ("ref", "hyp", "out") if getattr(args, k) is None]
    if missing:
        raise CsExtError(f"missing required option(s): {' '.join(missing)}")
    res = score_files(args.ref, args.hyp, args.out, preset=args.preset)
    mer = res["mer"]
    print(f"{PROG}: {args.hyp} vs {args.ref} -> {args.out}: MER ({res['mer_is']}, preset {args.preset}) = "
          + ("n/a" if mer is None else f"{100 * mer:.2f} %")
          + f" over {res['num_utts']} utterances, {res['num_ref_tokens']} reference tokens")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
