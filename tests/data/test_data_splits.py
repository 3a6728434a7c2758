"""Seeded splits: deterministic, order-independent, speaker-disjoint when speakers are known."""
from __future__ import annotations

import random

import pytest

from espnet_cs_ext.data.splits import assign_splits, parse_fractions
from espnet_cs_ext.utils.errors import CsExtError


def test_speaker_disjoint_deterministic_and_order_independent():
    utt2spk = {f"s{s}-u{u}": f"s{s}" for s in range(10) for u in range(5)}
    a = assign_splits(utt2spk, (0.8, 0.1, 0.1), seed=4)
    items = list(utt2spk.items())
    random.Random(0).shuffle(items)
    assert assign_splits(dict(items), (0.8, 0.1, 0.1), seed=4) == a
    spk_split = {}
    for u, sp in a.items():
        assert spk_split.setdefault(utt2spk[u], sp) == sp            # a speaker is in one split
    counts = {k: sum(v == k for v in a.values()) for k in ("train", "dev", "test")}
    assert counts == {"train": 40, "dev": 5, "test": 5}
    assert assign_splits(utt2spk, (0.8, 0.1, 0.1), seed=5) != a


def test_single_speaker_falls_back_to_utterance_split():
    utt2spk = {f"u{i:02d}": "spk" for i in range(20)}
    a = assign_splits(utt2spk, "0.5,0.25,0.25", seed=0)
    assert sorted(a.values()).count("test") == 5 and sorted(a.values()).count("dev") == 5


def test_two_fractions_and_zero_test():
    utt2spk = {f"s{s}-u{u}": f"s{s}" for s in range(6) for u in range(2)}
    a = assign_splits(utt2spk, (0.9, 0.1, 0.0), seed=0)
    assert set(a.values()) == {"train", "dev"}


@pytest.mark.parametrize("bad", ["0.8,0.2", "a,b,c", "-1,1,1", "0,0,0"])
def test_bad_fractions(bad):
    with pytest.raises(CsExtError, match="three non-negative numbers"):
        parse_fractions(bad)


@pytest.mark.parametrize("bad", ["0.5,0.9,0.1", "8,1,1", "0.5,0.2,0.2"])
def test_fractions_not_summing_to_one_refused(bad):
    with pytest.raises(CsExtError, match="must sum to 1"):
        parse_fractions(bad)


def test_fractions_within_rounding_accepted():
    assert parse_fractions("0.7,0.2,0.1") == pytest.approx((0.7, 0.2, 0.1))
