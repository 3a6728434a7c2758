"""The paper's claims (arXiv 2606.05846), each checked against this run's numbers at 95 %.

Every check returns a `Finding`: the claim, a verdict (`supported`, `contradicted`,
`cannot tell`) and the evidence in one sentence. MER claims use the paired bootstrap
of `stats.ReportStats` (a difference counts when its 95 % interval excludes 0); the
MAV claim uses an exact two-sided sign test over (model, encoder/decoder) cells,
since MAV has no sampling noise to resample. A claim whose systems are not in the run
is `cannot tell`, saying which are missing.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from ..scoring import bootstrap
from .stats import ReportStats

SUPPORTED, CONTRADICTED, CANNOT_TELL = "supported", "contradicted", "cannot tell"
MERGE_METHODS = ("task_arithmetic", "ties", "dare_ties", "dare_linear", "lors", "linear", "magnitude_prune", "svp")


class Finding(NamedTuple):
    claim: str
    verdict: str
    evidence: str


def _ci(c: Optional[Sequence[float]]) -> str:
    return "n/a" if not c else f"[{c[0]:+.3f}, {c[1]:+.3f}]"


def _verdict(cmp: Optional[dict], better_is_supported: bool = True) -> str:
    sig = bootstrap.significance(cmp)
    if sig == 0:
        return CANNOT_TELL
    return SUPPORTED if (sig < 0) == better_is_supported else CONTRADICTED


def merges(systems: Sequence[str]) -> Dict[str, Dict[str, str]]:
    """{method: {merge inputs: system}} for plain merges (layer-selective variants left out)."""
    out: Dict[str, Dict[str, str]] = {}
    for s in systems:
        for key in sorted(MERGE_METHODS, key=len, reverse=True):
            if s.startswith(key + "_"):
                rest = s[len(key) + 1:]
                if not rest.startswith("mavlayers_"):
                    out.setdefault(key, {})[rest] = s
                break
    return out


def ties_most_stable(st: ReportStats, systems: Sequence[str], pairs: Sequence[str]) -> Finding:
    claim = "TIES is the most stable merge (its worst merge setting is better than every other method's)"
    by = merges(systems)
    if "ties" not in by or len(by) < 2:
        return Finding(claim, CANNOT_TELL, "needs TIES and another merge method over the same inputs")
    parts, verdicts = [], []
    for method, settings in sorted(by.items()):
        shared = sorted(settings.keys() & by["ties"].keys())
        if method == "ties" or not shared:
            continue
        worst = []
        for sysmap in (by["ties"], settings):
            avgs = [st.average(sysmap[k], pairs) for k in shared]
            reps = [r for _, r in avgs if r is not None]
            worst.append((max(p for p, _ in avgs), np.max(reps, axis=0) if reps else None))
        cmp = bootstrap.compare(*worst[0], *worst[1])
        verdicts.append(_verdict(cmp))
        parts.append(f"vs {method} over {len(shared)} setting(s): worst mean MER {worst[0][0]:.3f} vs "
                     f"{worst[1][0]:.3f}, delta 95 % CI {_ci(cmp and cmp['ci95'])}")
    if not parts:
        return Finding(claim, CANNOT_TELL, "no other merge method shares an input set with TIES")
    verdict = (CONTRADICTED if CONTRADICTED in verdicts else
               SUPPORTED if all(v == SUPPORTED for v in verdicts) else CANNOT_TELL)
    return Finding(claim, verdict, f"mean MER over {', '.join(pairs)}; " + "; ".join(parts))


def ft_helps_other_pairs(st: ReportStats, systems: Sequence[str], pairs: Sequence[str]) -> Finding:
    claim = "Fine-tuning on one pair also helps the other code-switched pairs (vs Pretrained)"
    fts = [s for s in systems if s.startswith("ft_") and s != "ft_all" and s[3:] in pairs]
    cells = [(s, y) for s in fts for y in pairs if y != s[3:]]
    if "pretrained" not in systems or not cells:
        return Finding(claim, CANNOT_TELL, "needs Pretrained and a single-pair fine-tune with other test pairs")
    diffs = [(st.cell(s, y), st.cell("pretrained", y)) for s, y in cells]
    diffs = [(a, b) for a, b in diffs if a[0] is not None and b[0] is not None and a[1] is not None and b[1] is not None]
    if not diffs:
        return Finding(claim, CANNOT_TELL, "no defined MER on the other pairs")
    point = sum(a[0] - b[0] for a, b in diffs) / len(diffs)
    reps = np.mean([a[1] - b[1] for a, b in diffs], axis=0)
    cmp = {"delta": point, "ci95": bootstrap.interval(reps), "p_improve": float(np.mean(reps < 0))}
    return Finding(claim, _verdict(cmp),
                   f"mean MER change on the {len(diffs)} (fine-tune, other pair) cells {point:+.3f}, "
                   f"95 % CI {_ci(cmp['ci95'])}, P(lower) {cmp['p_improve']:.2f}")


def fishr_beats_erm_unseen(st: ReportStats, systems: Sequence[str], unseen: Sequence[str]) -> Finding:
    claim = "Fishr improves the unseen pairs over ERM (FT all seen pairs)"
    if not unseen or "dg_fishr" not in systems or "ft_all" not in systems:
        return Finding(claim, CANNOT_TELL, "needs Fishr, FT all seen pairs and unseen test pairs")
    cmp = st.compare_average("dg_fishr", "ft_all", unseen)
    if cmp is None:
        return Finding(claim, CANNOT_TELL, "unseen average undefined")
    return Finding(claim, _verdict(cmp), f"unseen-average MER Fishr - ERM {cmp['delta']:+.3f}, "
                   f"95 % CI {_ci(cmp['ci95'])}, P(lower) {cmp['p_improve']:.2f}")


def sign_test_p(up: int, down: int) -> float:
    """Exact two-sided sign test: P(a split at least this uneven | no preferred direction)."""
    n = up + down
    if not n:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(up, down) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def mav_higher_layers(mav_tsv: Optional[Path]) -> Finding:
    claim = "Parameter change (MAV) is concentrated in the higher layers (encoder and decoder)"
    if mav_tsv is None or not Path(mav_tsv).is_file():
        return Finding(claim, CANNOT_TELL, "no MAV table (stage 9 has not run)")
    cells: Dict[tuple, Dict[int, List[int]]] = {}
    with open(mav_tsv, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            acc = cells.setdefault((row["model"], row["part"]), {}).setdefault(int(row["layer"]), [0, 0])
            acc[0] += int(row["rows_above"]); acc[1] += int(row["rows"])
    up = down = 0
    for layers in cells.values():
        order = sorted(layers)
        half = len(order) // 2
        if not half:
            continue
        share = lambda ls: sum(layers[i][0] for i in ls) / max(1, sum(layers[i][1] for i in ls))  # noqa: E731
        lo, hi = share(order[:half]), share(order[-half:])
        up += hi > lo
        down += hi < lo
    p = sign_test_p(up, down)
    verdict = CANNOT_TELL if p >= 0.05 else SUPPORTED if up > down else CONTRADICTED
    return Finding(claim, verdict, f"{up} of {up + down} (model, part) cells flag more rows in the upper half of "
                   f"their layers than in the lower half ({len(cells) - up - down} ties left out); "
                   f"two-sided sign test p = {p:.3g}")


def all_findings(st: ReportStats, systems: Sequence[str], seen: Sequence[str], unseen: Sequence[str],
                 mav_tsv: Optional[Path] = None) -> List[Finding]:
    pairs = list(seen) + list(unseen)
    return [ties_most_stable(st, systems, pairs), ft_helps_other_pairs(st, systems, pairs),
            fishr_beats_erm_unseen(st, systems, unseen), mav_higher_layers(mav_tsv)]
