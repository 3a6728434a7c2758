"""Tables of docs/unseen_languages.md from bench/unseen_languages.sh's decodes.

Scores WORK/decode/<model>/test_<pair>/text against the recipe's data dirs (cs-score's
default preset, 95 % bootstrap intervals, per-language breakdown from cs_segments.jsonl),
links the demo's own score dirs for the seen and unseen pairs beside them, and prints the
MER table with three averages (seen pairs; unseen pairs of seen languages; pairs with an
unseen language) and paired marks against Pretrained (P) and ERM (E), as RESULTS.md does.

    python bench/unseen_languages.py --recipe egs2/cs_unseen/asr1 --work /tmp/unseen_languages
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from espnet_cs_ext.recipe.report import collect, display_name, fmt_ci, marks
from espnet_cs_ext.recipe.stats import ReportStats
from espnet_cs_ext.scoring.report import score_files

SEEN, UNSEEN, NEW = ["ko-en", "ja-en", "de-en"], ["ko-ja", "ko-de"], ["fr-en", "es-en", "fr-de", "ko-fr"]
MODELS = ["pretrained", "ft_ko-en", "ft_ja-en", "ft_de-en", "ft_all", "dg_fish", "dg_fishr", "dg_gga_l",
          "asyncswitch", "task_arithmetic_ko-en+ja-en+de-en", "ties_ko-en+ja-en+de-en", "lors_all"]


def build_exp(recipe: Path, work: Path) -> Path:
    """WORK/exp/decode/<model>/test_<set>/score for every set: new ones scored, demo ones linked."""
    exp = work / "exp"
    for m in MODELS:
        for p in SEEN + UNSEEN:
            dst = exp / "decode" / m / f"test_{p}"
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.symlink((recipe / "exp" / "decode" / m / f"test_{p}").resolve(), dst)
        for p in NEW:
            out = exp / "decode" / m / f"test_{p}" / "score"
            if not (out / "result.json").exists():
                score_files(recipe / "data" / f"test_{p}" / "text", work / "decode" / m / f"test_{p}" / "text", out)
    return exp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    exp = build_exp(args.recipe, args.work)
    sets = SEEN + UNSEEN + NEW
    res = collect(exp, MODELS, sets)
    st = ReportStats.from_exp(exp, MODELS, sets, res)

    def avg(m, xs):  # as RESULTS.md prints an average: interval and marks against P and E
        return fmt_ci(st.average(m, xs)[0], st.interval(m, xs)) + marks(st, m, xs, MODELS)

    def cell(m, x):
        return fmt_ci(res[m][x]["mer"], res[m][x]["ci95"])

    print("| System | " + " | ".join(NEW) + " | Seen avg | Unseen pairs of seen languages avg | Unseen-language pairs avg |")
    print("|---|" + "---:|" * (len(NEW) + 3))
    for m in MODELS:
        print(f"| {display_name(m)} | " + " | ".join(cell(m, x) for x in NEW)
              + f" | {avg(m, SEEN)} | {avg(m, UNSEEN)} | {avg(m, NEW)} |")
    print("\n| System | " + " | ".join(f"{p} {p.split('-')[0]} / {p.split('-')[1]}" for p in NEW) + " |")
    print("|---|" + "---:|" * len(NEW))
    for m in MODELS:
        row = []
        for p in NEW:
            per = res[m][p].get("per_language", {})
            row.append(" / ".join(f"{per[l]['mer']:.2f}" if per.get(l, {}).get("mer") is not None else "n/a"
                                  for l in p.split("-")))
        print(f"| {display_name(m)} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
