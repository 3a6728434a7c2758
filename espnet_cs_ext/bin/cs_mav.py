"""cs-mav: layer-wise row-level MAV of fine-tuned Whisper models against their base.

    cs-mav --base base --finetuned ko-en=exp/asr_ft_ko-en/latest.pth ja-en=exp/asr_ft_ja-en/latest.pth \\
           --out exp/mav [--threshold 5e-5] [--top-k 3 | --min-pct 20] [--link-root .]
    python -m espnet_cs_ext.bin.cs_mav ...   # the same

For each model, block and projection matrix: % of rows whose mean |W_ft - W_base|
exceeds the threshold (arXiv 2606.05846 section 4, figures 1-3). Writes
OUT/mav.tsv, OUT/overlap.tsv, OUT/mav_<name>.png, OUT/overlap.png,
OUT/flagged_layers.json (input of the merge filter `filters: {layers_from_mav: ...}`)
and OUT/summary.md (links relative to --link-root, default OUT). Reruns reuse the
models already analysed (OUT/.work). --base and the models: any checkpoint cs-merge
reads (openai-whisper .pt, ESPnet .pth, HF safetensors) or a Whisper spec ('base').
Models not fine-tuned from the base exit with status 2 naming model and tensor.
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, Optional, Sequence

from ..utils.errors import CsExtError, cli_main

PROG = "cs-mav"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="base model: checkpoint path or Whisper spec")
    p.add_argument("--finetuned", required=True, nargs="+", action="extend", metavar="NAME=PATH",
                   help="fine-tuned models (repeatable); NAME names rows and files")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--threshold", type=float, default=5e-5, help="row MAV threshold (default %(default)g)")
    p.add_argument("--top-k", type=int, help="flag the K highest-scoring blocks per part "
                   "(default: half of them unless --min-pct is given)")
    p.add_argument("--min-pct", type=float, help="also flag every block scoring at least this %%")
    p.add_argument("--link-root", help="directory the summary.md links are relative to (default: --out)")
    p.add_argument("--allow-different-base", action="store_true",
                   help="skip the 'fine-tuned from this base' check (shapes are still checked)")
    p.add_argument("--no-figures", action="store_true", help="tables and flagged_layers.json only")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def parse_models(items: Sequence[str]) -> Dict[str, str]:
    models: Dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise CsExtError(f"--finetuned {item!r}: expected NAME=PATH")
        if name in models:
            raise CsExtError(f"--finetuned: model name {name!r} given twice")
        models[name] = path
    return models


def _main(argv: Optional[Sequence[str]]) -> int:
    import logging

    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(levelname)s: %(message)s")
    from ..analysis.select import check_selection
    from ..analysis.study import run_study

    check_selection(args.top_k, args.min_pct, PROG)
    res = run_study(args.base, parse_models(args.finetuned), args.out, threshold=args.threshold,
                    top_k=args.top_k, min_pct=args.min_pct, link_root=args.link_root,
                    check_base=not args.allow_different_base, figures=not args.no_figures,
                    progress=not args.quiet)
    reused = f" ({res.reused} reused from {res.out_dir}/.work)" if res.reused else ""
    print(f"{PROG}: {len(res.results)} models{reused} -> {res.out_dir}/mav.tsv, overlap.tsv, "
          f"flagged_layers.json, summary.md, {len(res.figures)} heatmaps")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
