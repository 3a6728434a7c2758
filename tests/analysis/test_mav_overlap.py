"""Overlap of heavily updated rows: planted row sets give exact Jaccard values."""
from __future__ import annotations

import math

import pytest
import torch

from espnet_cs_ext.analysis.mav import MatrixMav
from espnet_cs_ext.analysis.overlap import ALL, COLUMNS, all_pairs, pair_overlap, per_layer, summary


def mm(rows: int, flagged) -> MatrixMav:
    f = torch.zeros(rows, dtype=torch.bool)
    f[list(flagged)] = True
    return MatrixMav(rows, int(f.sum()), 0.0, f)


# key -> (rows, flagged in A, flagged in B, expected Jaccard)
PLANTED = {
    ("encoder", 0, "self_attn.q"): (64, range(0, 10), range(5, 15), 5 / 15),
    ("encoder", 0, "fc1"): (256, range(0, 40), range(0, 40), 1.0),
    ("encoder", 1, "self_attn.q"): (64, range(0, 8), range(8, 16), 0.0),
    ("decoder", 0, "cross_attn.v"): (64, [], [], math.nan),          # nothing flagged: undefined
    ("decoder", 0, "fc2"): (64, range(0, 64), range(0, 16), 16 / 64),
}


@pytest.fixture()
def rows():
    a = {k: mm(n, fa) for k, (n, fa, fb, _) in PLANTED.items()}
    b = {k: mm(n, fb) for k, (n, fa, fb, _) in PLANTED.items()}
    return pair_overlap("A", a, "B", b)


def by_key(rows):
    return {(r["part"], r["layer"], r["matrix"]): r for r in rows}


@pytest.mark.parametrize("key", list(PLANTED), ids=[str(k) for k in PLANTED])
def test_per_matrix_jaccard(rows, key):
    r = by_key(rows)[key]
    expected = PLANTED[key][3]
    if math.isnan(expected):
        assert math.isnan(r["jaccard"]) and (r["both"], r["either"]) == (0, 0)
    else:
        assert r["jaccard"] == pytest.approx(expected, abs=1e-15)
    assert set(r) == set(COLUMNS)


@pytest.mark.parametrize("key,both,either", [
    (("encoder", 0, ALL), 5 + 40, 15 + 40),
    (("encoder", 1, ALL), 0, 16),
    (("encoder", ALL, ALL), 45, 71),
    (("decoder", 0, ALL), 16, 64),
    (("decoder", ALL, ALL), 16, 64),
    ((ALL, ALL, ALL), 61, 135),      # the Jaccard of the pooled row sets, not a mean of ratios
])
def test_pooled_jaccard(rows, key, both, either):
    r = by_key(rows)[key]
    assert (r["both"], r["either"]) == (both, either)
    assert r["jaccard"] == pytest.approx(both / either, abs=1e-15)


def test_chance_level():
    # A flags 32 of 64 rows, B 16: expected intersection 8, union 40 -> 0.2
    r = pair_overlap("A", {("encoder", 0, "fc2"): mm(64, range(32))},
                     "B", {("encoder", 0, "fc2"): mm(64, range(48, 64))})[0]
    assert (r["jaccard"], r["jaccard_chance"]) == (0.0, pytest.approx(8 / 40))


def test_all_pairs_order_and_summaries(rows):
    k = ("encoder", 0, "fc1")
    res = {name: {k: mm(256, s)} for name, s in [("x", range(10)), ("y", range(5, 10)), ("z", range(20))]}
    out = list(all_pairs(res))
    assert [(r["model_a"], r["model_b"]) for r in out if r["part"] == ALL] == [("x", "y"), ("x", "z"), ("y", "z")]
    s = summary(out)
    assert s[("x", "y")]["all"][0] == pytest.approx(5 / 10)
    assert s[("y", "z")]["encoder"][0] == pytest.approx(5 / 20)
    assert per_layer(out, "encoder")[("x", "z")] == [(0, pytest.approx(10 / 20), pytest.approx(
        (10 * 20 / 256) / (30 - 10 * 20 / 256)))]
