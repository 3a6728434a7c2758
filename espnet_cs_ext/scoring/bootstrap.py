"""Utterance-level bootstrap for MER: 95 % intervals and paired comparisons (Bisani & Ney 2004).

One resample = n utterances drawn with replacement from a test set of n; the MER of
a resample is recomputed from the per-utterance error and reference-token counts the
scorer already has (its own script tokens), so nothing is realigned. `Resample`
draws the utterance indices once per test set; every hypothesis scored on that set
(a system, its baseline, every system of a report) is evaluated on the *same*
resamples, which is what makes a comparison paired and an average over sets exact:

    rs = Resample(utt_ids)                        # seeded by (seed, the ids): same ids -> same draws
    a = rs.replicates(err_a, n_ref)               # MER of each resample, shape (replications,)
    interval(a)                                   # [lo, hi]: 2.5th and 97.5th percentiles
    compare(mer_a, a, mer_b, rs.replicates(err_b, n_ref))  # {delta, ci95, p_improve}

The average of several sets (a seen/unseen/mono average) is the element-wise mean of
their replicate arrays: each set's utterances are resampled independently, then the
per-set MERs are averaged, as the table averages them.

Why not kaldialign's `bootstrap_wer_ci` (Kaldi's compute-wer-bootci) directly: it
realigns the token sequences, it reports mean +- 1.96 sd (an interval that can go
below 0 near MER 0), and it exposes no resample indices, so averages over sets and
comparisons between many systems on the same draws cannot be built on it. Its figures
agree with these on the same tokens (tests/scoring/test_bootstrap.py).

Determinism: indices come from numpy's PCG64 seeded by SeedSequence([seed, sha256 of
the ids]) and are drawn in fixed chunks of `_CHUNK` resamples; counts are summed as
integers, so the figures are the same bytes on every run and machine with the same
numpy (numpy does not promise the same stream across its releases).
"""
from __future__ import annotations

import hashlib
from typing import Dict, List, Optional, Sequence

import numpy as np

REPLICATIONS = 1000  # resamples per interval (Bisani & Ney use 1000+; Kaldi defaults to 10000)
SEED = 0
_CHUNK = 256  # resamples drawn per call: a fixed chunking keeps the stream independent of n


def _seed_words(seed: int, utt_ids: Sequence[str]) -> List[int]:
    digest = hashlib.sha256("\n".join(utt_ids).encode("utf-8")).digest()
    return [int(seed)] + [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]


class Resample:
    """Bootstrap draws over one test set's utterances (in a fixed order, e.g. the reference's)."""

    def __init__(self, utt_ids: Sequence[str], replications: int = REPLICATIONS, seed: int = SEED) -> None:
        if replications < 1:
            raise ValueError(f"replications must be >= 1, got {replications}")
        self.utt_ids = list(utt_ids)
        self.n = len(self.utt_ids)
        self.replications = replications
        self.seed = seed
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(_seed_words(seed, self.utt_ids))))
        chunks = []
        if self.n:
            for start in range(0, replications, _CHUNK):
                rows = min(_CHUNK, replications - start)
                chunks.append(rng.integers(0, self.n, size=(rows, self.n), dtype=np.int64).astype(np.int32))
        self.index = np.concatenate(chunks) if chunks else np.zeros((replications, 0), np.int32)

    def replicates(self, err: Sequence[int], n_ref: Sequence[int], headline: str = "corpus_mer",
                   empty_in_mean: bool = False) -> Optional[np.ndarray]:
        """MER of every resample: `corpus_mer` = sum(err) / sum(n_ref) over the drawn utterances,
        `mean_utt_mer` = mean of err/n_ref over the drawn utterances with a non-empty reference,
        or over all drawn utterances with `empty_in_mean` (the `hike` preset's rule, as
        MerAccumulator applies it: an empty reference counts its insertions, err/1).
        None when the set's MER itself is undefined (no utterances, or no reference tokens
        where empty references do not count); a resample that happens to draw only
        uncounted utterances is NaN (ignored by `interval`)."""
        err = np.asarray(err, dtype=np.int64)
        n_ref = np.asarray(n_ref, dtype=np.int64)
        if err.shape != (self.n,) or n_ref.shape != (self.n,):
            raise ValueError(f"expected {self.n} per-utterance counts, got {err.shape[0]} errors and "
                             f"{n_ref.shape[0]} reference lengths")
        counts_empty = empty_in_mean and headline == "mean_utt_mer"
        if not self.n or not (n_ref.any() or counts_empty):
            return None
        idx = self.index
        if headline == "corpus_mer":
            num, den = err[idx].sum(axis=1), n_ref[idx].sum(axis=1)
        elif headline == "mean_utt_mer":
            keep = np.ones(self.n, bool) if counts_empty else n_ref > 0
            rates = np.where(keep, err / np.maximum(n_ref, 1), 0.0)
            num, den = rates[idx].sum(axis=1), keep[idx].sum(axis=1)
        else:
            raise ValueError(f"unknown headline {headline!r} (corpus_mer or mean_utt_mer)")
        return np.divide(num, den, out=np.full(len(den), np.nan), where=den > 0)


def interval(replicates: Optional[np.ndarray]) -> Optional[List[float]]:
    """[lo, hi]: the 2.5th and 97.5th percentiles of the replicates (None if undefined)."""
    if replicates is None:
        return None
    r = replicates[~np.isnan(replicates)]
    if not r.size:
        return None
    lo, hi = np.quantile(r, [0.025, 0.975])
    return [float(lo), float(hi)]


def average(replicate_sets: Sequence[Optional[np.ndarray]]) -> Optional[np.ndarray]:
    """Replicates of the unweighted mean over sets (undefined sets left out, as in the table)."""
    arrays = [r for r in replicate_sets if r is not None]
    return np.mean(arrays, axis=0) if arrays else None


def compare(point: Optional[float], reps: Optional[np.ndarray], base_point: Optional[float],
            base_reps: Optional[np.ndarray]) -> Optional[Dict[str, object]]:
    """Paired comparison on the same resamples: delta = point - base_point (negative: lower MER),
    ci95 of the per-resample differences, p_improve = share of resamples where the first is lower."""
    if point is None or base_point is None or reps is None or base_reps is None:
        return None
    diff = reps - base_reps
    ok = ~np.isnan(diff)
    return {"delta": float(point - base_point), "ci95": interval(diff),
            "p_improve": float(np.mean(diff[ok] < 0)) if ok.any() else None}


def significance(cmp: Optional[Dict[str, object]]) -> int:
    """-1: lower MER at 95 % (ci95 of delta entirely below 0); +1: higher; 0: cannot tell."""
    if not cmp or not cmp.get("ci95"):
        return 0
    lo, hi = cmp["ci95"]
    return -1 if hi < 0 else 1 if lo > 0 else 0
