"""Recipe stage 8: RESULTS.md (Table-1 layout) + seen/unseen plot from score files.

    python -m espnet_cs_ext.bin.make_report --expdir exp --datadir data \
        --train_pairs "ko-en ja-en de-en" --test_pairs "ko-en ja-en de-en ko-ja ko-de" \
        --models models.txt --out RESULTS.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..utils.errors import cli_main


def _main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="make_report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--expdir", required=True)
    ap.add_argument("--datadir", required=True)
    ap.add_argument("--train_pairs", required=True)
    ap.add_argument("--test_pairs", required=True)
    ap.add_argument("--st_pairs", default="", help="ST pairs: BLEU table from test_st_<pair>")
    ap.add_argument("--mono_langs", default="", help="monolingual test sets: MER columns from test_mono_<lang>")
    ap.add_argument("--extra", nargs="*", default=[], help="markdown files appended to the report")
    ap.add_argument("--models", required=True, help="file with one system name per line")
    ap.add_argument("--whisper_model", default="")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    from ..recipe.report import write_report

    systems = [line.split()[0] for line in Path(args.models).read_text().splitlines() if line.strip()]
    out = write_report(args.expdir, args.datadir, systems, args.train_pairs.split(),
                       args.test_pairs.split(), args.out, args.whisper_model,
                       st_pairs=args.st_pairs.split(), mono_langs=args.mono_langs.split(),
                       extra_sections=[Path(x).read_text(encoding="utf-8") for x in args.extra])
    print(out)
    if args.st_pairs.split():  # the BLEU table on the console too: pretrained vs fine-tuned vs merged
        print(_section(Path(out).read_text(encoding="utf-8"), "## Speech translation"))
    return 0


def _section(markdown: str, heading: str) -> str:
    """The lines from the one starting with `heading` up to the next level-2 heading."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).rstrip()


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main("make_report", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
