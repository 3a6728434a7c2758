"""Deterministic seeded train/dev/test splits, speaker-disjoint when speakers are known.

The same (items, seed, fractions) always gives the same split, independent of input
order: items and speakers are sorted before a `random.Random(seed)` shuffle.
"""
from __future__ import annotations

import random
from typing import Dict, Iterable, Optional, Sequence, Tuple

from ..utils.errors import CsExtError

SPLITS = ("train", "dev", "test")


def parse_fractions(s: str | Sequence[float]) -> Tuple[float, float, float]:
    try:
        vals = [float(x) for x in (s.split(",") if isinstance(s, str) else s)]
    except ValueError:
        vals = []
    if len(vals) != 3 or any(v < 0 for v in vals) or sum(vals) <= 0:
        raise CsExtError(f"split fractions must be three non-negative numbers train,dev,test; got {s!r}")
    tot = sum(vals)
    # refused rather than rescaled: 0.5,0.9,0.1 is a typo more often than a ratio
    if abs(tot - 1.0) > 1e-6:
        raise CsExtError(f"split fractions train,dev,test must sum to 1; got {s!r} (sum {tot:g})")
    return tuple(v / tot for v in vals)  # type: ignore[return-value]


def assign_splits(utt2spk: Dict[str, Optional[str]], fractions: Sequence[float] = (0.8, 0.1, 0.1),
                  seed: int = 0, min_speakers: int = 3) -> Dict[str, str]:
    """Return {utt: 'train'|'dev'|'test'}.

    With at least `min_speakers` known speakers, whole speakers go to one split
    (greedy fill by utterance count towards the fractions, in seeded order);
    otherwise utterances are shuffled individually.
    """
    fr = parse_fractions(fractions)
    utts = sorted(utt2spk)
    spks = sorted({s for s in utt2spk.values() if s})
    rng = random.Random(seed)
    out: Dict[str, str] = {}
    if len(spks) >= min_speakers and all(utt2spk[u] for u in utts):
        by_spk: Dict[str, list] = {}
        for u in utts:
            by_spk.setdefault(utt2spk[u], []).append(u)  # type: ignore[arg-type]
        rng.shuffle(spks)
        total = len(utts)
        targets = [f * total for f in fr]
        got = [0, 0, 0]
        # smallest splits first so dev/test get at least one speaker when asked for
        order = [2, 1, 0]
        for i, spk in enumerate(spks):
            remaining = len(spks) - i
            need = [k for k in order if fr[k] > 0 and got[k] == 0]
            if need and remaining <= len(need):
                k = need[0]
            else:
                k = max(range(3), key=lambda j: (targets[j] - got[j]) if fr[j] > 0 else float("-inf"))
            for u in by_spk[spk]:
                out[u] = SPLITS[k]
            got[k] += len(by_spk[spk])
        return out
    rng.shuffle(utts)
    n = len(utts)
    n_test = int(round(fr[2] * n))
    n_dev = int(round(fr[1] * n))
    for i, u in enumerate(utts):
        out[u] = "test" if i < n_test else "dev" if i < n_test + n_dev else "train"
    return out


def group(assign: Dict[str, str], items: Iterable) -> Dict[str, list]:
    """Group `items` (objects with .utt_id) by their assigned split."""
    out: Dict[str, list] = {}
    for it in items:
        out.setdefault(assign[it.utt_id], []).append(it)
    return out
