"""Do different fine-tunes move the same rows? Jaccard overlap of heavily updated row sets.

For two models A and B and one projection matrix, with a = rows flagged in A,
b = rows flagged in B (MAV above the threshold): Jaccard = |a & b| / |a | b|.
Aggregates pool the rows (every row of every matrix is one item), so the pooled
figure is the exact Jaccard of the union sets, not a mean of ratios:

    (part, layer, matrix)   one matrix
    (part, layer, 'all')    all matrices of one block
    (part, 'all', 'all')    a whole encoder / decoder
    ('all', 'all', 'all')   every analysed matrix

`jaccard_chance` is the Jaccard expected if B flagged the same number of rows of
each matrix uniformly at random (E|a & b| = |a| |b| / rows): overlap well above it
means the models agree on *which* rows to move, not only on how many.
"""
from __future__ import annotations

import itertools
from typing import Dict, Iterator, List, Sequence, Tuple

from .mav import Key, MatrixMav

ALL = "all"
COLUMNS = ["model_a", "model_b", "part", "layer", "matrix", "rows", "above_a", "above_b", "both", "either",
           "jaccard", "jaccard_chance"]


class _Acc:
    """Pooled counts; jaccard / chance computed at the end."""

    __slots__ = ("rows", "a", "b", "both", "either", "chance_both")

    def __init__(self):
        self.rows = self.a = self.b = self.both = self.either = 0
        self.chance_both = 0.0

    def add(self, rows, a, b, both, either):
        self.rows += rows
        self.a += a
        self.b += b
        self.both += both
        self.either += either
        self.chance_both += a * b / rows if rows else 0.0

    def jaccard(self) -> float:
        return self.both / self.either if self.either else float("nan")

    def chance(self) -> float:
        denom = self.a + self.b - self.chance_both
        return self.chance_both / denom if denom > 0 else float("nan")


def pair_overlap(label_a: str, a: Dict[Key, MatrixMav], label_b: str, b: Dict[Key, MatrixMav]
                 ) -> List[Dict[str, object]]:
    """overlap.tsv rows of one pair: every matrix, then per-block, per-part and overall pools."""
    accs: Dict[Tuple[str, object, str], _Acc] = {}
    detail = []
    for key in a:
        part, layer, matrix = key
        fa, fb = a[key].flagged, b[key].flagged
        counts = (a[key].rows, a[key].above, b[key].above, int((fa & fb).sum()), int((fa | fb).sum()))
        one = _Acc()
        one.add(*counts)
        detail.append(((part, layer, matrix), one))
        for agg in ((part, layer, ALL), (part, ALL, ALL), (ALL, ALL, ALL)):
            accs.setdefault(agg, _Acc()).add(*counts)
    ordered = detail + sorted(accs.items(), key=_agg_order)
    return [_row(label_a, label_b, k, acc) for k, acc in ordered]


def _agg_order(item):
    (part, layer, _), _ = item
    part_rank = 2 if part == ALL else (0 if part == "encoder" else 1)
    return (part_rank, layer == ALL, layer if layer != ALL else 0)


def _row(label_a, label_b, key, acc: _Acc) -> Dict[str, object]:
    part, layer, matrix = key
    return {"model_a": label_a, "model_b": label_b, "part": part, "layer": layer, "matrix": matrix,
            "rows": acc.rows, "above_a": acc.a, "above_b": acc.b, "both": acc.both, "either": acc.either,
            "jaccard": acc.jaccard(), "jaccard_chance": acc.chance()}


def all_pairs(results: Dict[str, Dict[Key, MatrixMav]]) -> Iterator[Dict[str, object]]:
    """overlap.tsv rows for every pair of models, in the order the models were given."""
    for la, lb in itertools.combinations(list(results), 2):
        yield from pair_overlap(la, results[la], lb, results[lb])


def summary(rows: Sequence[Dict[str, object]]) -> Dict[Tuple[str, str], Dict[str, Tuple[float, float]]]:
    """{(model_a, model_b): {part or 'all': (jaccard, jaccard_chance)}} from the pooled rows."""
    out: Dict[Tuple[str, str], Dict[str, Tuple[float, float]]] = {}
    for r in rows:
        if r["layer"] == ALL and r["matrix"] == ALL:
            out.setdefault((r["model_a"], r["model_b"]), {})[r["part"]] = (r["jaccard"], r["jaccard_chance"])
    return out


def per_layer(rows: Sequence[Dict[str, object]], part: str) -> Dict[Tuple[str, str], List[Tuple[int, float, float]]]:
    """{pair: [(layer, jaccard, chance)]} from the per-block pooled rows of `part`."""
    out: Dict[Tuple[str, str], List[Tuple[int, float, float]]] = {}
    for r in rows:
        if r["part"] == part and r["layer"] != ALL and r["matrix"] == ALL:
            out.setdefault((r["model_a"], r["model_b"]), []).append((int(r["layer"]), r["jaccard"],
                                                                    r["jaccard_chance"]))
    return out
