"""LoRS-Merging paper grid (arXiv 2502.17380 Tables 1-4) for the cs_unseen recipe.

    python -m espnet_cs_ext.bin.lors_grid systems --langs "de ja"
        one line per training system: <name> <asr|st|mt> <train_dir>[,...] <dev_dir>[,...]
        (dir names relative to the data dir; several = pool them into train_<name> / dev_<name>)
    python -m espnet_cs_ext.bin.lors_grid merges --langs "de ja" \
        --methods conf/tuning/lors_grid/methods.yaml [--include conf/tuning/demo/merge.yaml] --out exp/lors_grid/merge.yaml
        the stage-6 merge list (plan_merges --config); --include keeps another list's merges too
    python -m espnet_cs_ext.bin.lors_grid test-sets --langs "de ja"
        one line per test set: <set> <wer|bleu>
    python -m espnet_cs_ext.bin.lors_grid models --langs "de ja" [--methods ...]
        every model the report reads (pretrained, grid systems, grid merges), one per line
    python -m espnet_cs_ext.bin.lors_grid report --expdir exp --langs "de ja" \
        [--methods conf/tuning/lors_grid/methods.yaml] --out RESULTS_lors.md
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from ..utils.errors import cli_main


def _main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="lors_grid", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    cmds = {name: sub.add_parser(name) for name in ("systems", "merges", "test-sets", "models", "report")}
    for p in cmds.values():
        p.add_argument("--langs", required=True, help='source languages, e.g. "de ja ko"')
    for name in ("merges", "models", "report"):
        cmds[name].add_argument("--methods", default=None,
                                help="methods YAML (default: the paper's values built into lors_grid)")
    cmds["merges"].add_argument("--include", default=None, help="another merge list to keep in the output")
    cmds["merges"].add_argument("--out", required=True)
    cmds["report"].add_argument("--expdir", required=True)
    cmds["report"].add_argument("--out", required=True)
    args = ap.parse_args(argv)
    from ..recipe import lors_grid as g

    langs = args.langs.replace(",", " ").split()
    if args.cmd == "systems":
        for s in g.systems(langs):
            print(s.name, s.kind, ",".join(s.train), ",".join(s.dev))
    elif args.cmd == "test-sets":
        for t in g.test_sets(langs):
            print(t.name, t.metric)
    elif args.cmd == "models":
        print("\n".join(g.models(langs, g.load_methods(args.methods))))
    elif args.cmd == "merges":
        n = g.write_merge_list(langs, args.methods, args.out, args.include)
        print(f"lors_grid: {n} grid merges -> {args.out}", file=sys.stderr)
    else:
        out = g.report(args.expdir, langs, args.out, args.methods)
        print(f"lors_grid: wrote {out}", file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main("lors_grid", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
