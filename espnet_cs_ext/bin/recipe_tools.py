"""Small recipe steps called from egs2/cs_unseen/asr1 stage blocks.

    python -m espnet_cs_ext.bin.recipe_tools validate DATA_DIR...
    python -m espnet_cs_ext.bin.recipe_tools dump-feats DATA_DIR...
    python -m espnet_cs_ext.bin.recipe_tools prepare-text DATA_DIR...
    python -m espnet_cs_ext.bin.recipe_tools score JOB_LIST [--force]
    python -m espnet_cs_ext.bin.recipe_tools subset-stats --pooled-stats DIR --train SUB POOLED \
        --valid SUB POOLED --out DIR     # exit 3: not a verbatim subset (run collect_stats)
    python -m espnet_cs_ext.bin.recipe_tools all-pairs --languages "en ko ja de" --train_pairs "ko-en ja-en"
    python -m espnet_cs_ext.bin.recipe_tools dg-config --base conf/tuning/dg/base.yaml \
        --algorithm fish --conf_dir conf/tuning/dg --out exp/asr_dg_fish/dg_config.yaml
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
    s = sub.add_parser("score", help="MER/BLEU for every line 'REF HYP OUT METRIC' of a job list "
                                     "(espnet_cs_ext.recipe.score_all); skips up-to-date ones")
    s.add_argument("jobs")
    s.add_argument("--force", action="store_true", help="rescore even when OUT/.done is up to date")
    c = sub.add_parser("subset-stats", help="cut a subset's shape files from a pooled collect_stats run")
    c.add_argument("--pooled-stats", required=True, help="collect_stats output dir of the pooled data")
    c.add_argument("--train", nargs=2, required=True, metavar=("SUBSET", "POOLED"))
    c.add_argument("--valid", nargs=2, required=True, metavar=("SUBSET", "POOLED"))
    c.add_argument("--out", required=True)
    y = sub.add_parser("systems", help="the system table (recipe/systems.py): "
                                       "'name kind train dev config grid_only dg_algorithm' per line")
    for opt in ("train_pairs", "dg_algorithms", "st_pairs", "lors_grid_langs"):
        y.add_argument(f"--{opt}", default="", help="space-separated, as the recipe option")
    for opt in ("train_all", "asyncswitch"):
        y.add_argument(f"--{opt}", choices=("true", "false"), default="false")
    for opt in ("asr_config", "asr_all_config", "st_config", "dg_config_dir", "asyncswitch_conf_dir"):
        y.add_argument(f"--{opt}", required=True)
    a = sub.add_parser("all-pairs", help="every pair of --languages (recipe/pairs.py), training pairs first")
    a.add_argument("--languages", default="", help="space-separated; empty: the training pairs' languages")
    a.add_argument("--train_pairs", default="")
    g = sub.add_parser("dg-config", help="a DG system's config: base + the algorithm's override file "
                                         "(recipe/dg_config.py), written where the system trains")
    g.add_argument("--base", required=True)
    g.add_argument("--algorithm", required=True)
    g.add_argument("--conf_dir", required=True, help="holds <algorithm>.yaml (optional: HPARAMS defaults)")
    g.add_argument("--out", required=True)
    k = sub.add_parser("slim-exp", help="a finished system's dir: drop the optimizer state (recipe/slim.py)")
    k.add_argument("dir")
    k.add_argument("--keep_checkpoints", choices=("true", "false"), default="false")
    args = ap.parse_args(argv)
    if args.cmd == "slim-exp":
        if args.keep_checkpoints == "false":
            from ..recipe.slim import drop_optimizer_state

            removed, freed = drop_optimizer_state(args.dir)
            print(f"slim-exp: {args.dir}: dropped {len(removed)} optimizer state file(s), {freed / 2**20:.0f} MiB")
        return 0
    if args.cmd == "all-pairs":
        from ..recipe.pairs import all_pairs

        print(" ".join(all_pairs(args.languages.split(), args.train_pairs.split())))
        return 0
    if args.cmd == "dg-config":
        from ..recipe.dg_config import write_resolved

        conf = write_resolved(args.base, args.algorithm, args.conf_dir, args.out)
        print(f"dg-config: {args.out}: {args.algorithm} with dg_conf {conf.get('dg_conf') or {}}")
        return 0
    if args.cmd == "systems":
        from ..recipe.systems import system_table

        rows = system_table(args.train_pairs.split(), train_all=args.train_all == "true",
                            dg_algorithms=args.dg_algorithms.split(), st_pairs=args.st_pairs.split(),
                            asyncswitch=args.asyncswitch == "true", lors_grid_langs=args.lors_grid_langs.split(),
                            asr_config=args.asr_config, asr_all_config=args.asr_all_config,
                            st_config=args.st_config, dg_config_dir=args.dg_config_dir,
                            asyncswitch_conf_dir=args.asyncswitch_conf_dir)
        for row in rows:
            print(row.line())
        return 0
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
    elif args.cmd == "score":
        from ..recipe.score_all import read_jobs, run_jobs

        jobs = read_jobs(args.jobs)
        scored = run_jobs(jobs, force=args.force)
        for job in scored:
            print(f"scored {job.hyp} ({job.metric}) -> {job.out}")
        # the recipe reads this line to decide whether the report must be rewritten
        print(f"rescored {len(scored)} of {len(jobs)}")
    elif args.cmd == "subset-stats":
        from pathlib import Path

        from ..recipe.subset_stats import cut_stats, mismatch

        for sub_dir, pooled in (args.train, args.valid):
            why = mismatch(Path(sub_dir), Path(pooled))
            if why:
                print(f"subset-stats: not reusable: {why}")
                return 3
        cut_stats(Path(args.pooled_stats), [("train", *args.train), ("valid", *args.valid)], Path(args.out))
        print(f"subset-stats: {args.out} cut from {args.pooled_stats}")
    else:
        from ..recipe.text import prepare_text

        for d in args.dirs:
            print(f"{d}: {prepare_text(d)}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main("recipe_tools", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
