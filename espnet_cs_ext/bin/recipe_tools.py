"""Small recipe steps called from egs2/cs_unseen/asr1 stage blocks.

    python -m espnet_cs_ext.bin.recipe_tools validate DATA_DIR...
    python -m espnet_cs_ext.bin.recipe_tools dump-feats DATA_DIR...
    python -m espnet_cs_ext.bin.recipe_tools prepare-text DATA_DIR...
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from ..utils.errors import cli_main


def _main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="recipe_tools", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="check data dirs in place (cs-prepare validate, many dirs)")
    v.add_argument("dirs", nargs="+")
    f = sub.add_parser("dump-feats", help="Whisper log-mel features -> feats.scp (kaldiio)")
    f.add_argument("dirs", nargs="+")
    t = sub.add_parser("prepare-text", help="NFC text, prompt file, Whisper token checks")
    t.add_argument("dirs", nargs="+")
    args = ap.parse_args(argv)
    if args.cmd == "validate":
        from ..data.validate import format_data_dir

        for d in args.dirs:
            print(f"{d}: {format_data_dir(d).summary()}")
    elif args.cmd == "dump-feats":
        import torch

        from ..recipe.features import dump_features

        torch.set_num_threads(1)
        for d in args.dirs:
            print(f"{d}: {dump_features(d)} utterances -> {d}/feats.scp")
    else:
        from ..recipe.text import prepare_text

        for d in args.dirs:
            print(f"{d}: {prepare_text(d)}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main("recipe_tools", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
