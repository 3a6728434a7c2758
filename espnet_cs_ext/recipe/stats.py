"""Bootstrap figures of a report: every (system, test set) on the same resamples of that set.

`ReportStats` holds, per test set, one `scoring.bootstrap.Resample` (seeded by the set's
utterance ids, so its draws are the ones cs-score used for that set's `ci95`) and each
system's per-utterance counts from `per_utt.tsv`. Averages over sets and comparisons
between systems are then element-wise operations on replicate arrays:

    st = ReportStats.from_exp(expdir, systems, sets, results)
    st.average("ft_all", ["ko-ja", "ko-de"])          # (point, replicates) of the unseen average
    st.compare_average("dg_fishr", "ft_all", unseen)  # {delta, ci95, p_improve}
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..scoring import bootstrap
from ..utils.errors import CsExtError

Counts = Tuple[List[str], List[int], List[int]]  # utterance ids, errors, reference tokens


def read_per_utt(path: Path) -> Counts:
    """(ids, err, n_ref) from cs-score's per_utt.tsv."""
    if not path.is_file():
        raise CsExtError(f"report: no per-utterance file {path} (rerun stage 8: the intervals need it)")
    ids, err, n_ref = [], [], []
    with open(path, encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 2):
            try:
                ids.append(row["utt_id"]); err.append(int(row["err"])); n_ref.append(int(row["n_ref"]))
            except (KeyError, TypeError, ValueError):
                raise CsExtError(f"report: {path}:{n}: expected cs-score's per_utt.tsv columns utt_id, err, n_ref")
    return ids, err, n_ref


def _headline(result: dict) -> Tuple[str, bool]:
    """(headline, empty references counted in the mean) of one result.json."""
    return result.get("mer_is", "corpus_mer"), bool(result.get("preset", {}).get("empty_refs_in_mean", False))


class ReportStats:
    """Replicates of every (system, set) MER, sets resampled independently, systems paired."""

    def __init__(self, points: Mapping[str, Mapping[str, Optional[float]]], counts: Mapping[str, Mapping[str, Counts]],
                 headlines: Mapping[str, Mapping[str, Tuple[str, bool]]], replications: int = bootstrap.REPLICATIONS,
                 seed: int = bootstrap.SEED) -> None:
        self.points = points
        self.replications, self.seed = replications, seed
        self._reps: Dict[Tuple[str, str], Optional[np.ndarray]] = {}
        resamples: Dict[str, bootstrap.Resample] = {}
        for system, sets in counts.items():
            for name, (ids, err, n_ref) in sets.items():
                rs = resamples.get(name)
                if rs is None:
                    rs = resamples[name] = bootstrap.Resample(ids, replications, seed)
                elif rs.utt_ids != ids:
                    raise CsExtError(f"report: test_{name}: {system} was scored on other utterances than "
                                     f"{next(iter(counts))} (first difference: "
                                     f"{next((a for a, b in zip(ids, rs.utt_ids) if a != b), 'count')})")
                self._reps[system, name] = rs.replicates(err, n_ref, *headlines[system][name])

    @classmethod
    def from_exp(cls, expdir: "str | os.PathLike", systems: Sequence[str], sets: Sequence[str],
                 results: Mapping[str, Mapping[str, dict]]) -> "ReportStats":
        """From exp/decode/<system>/test_<set>/score/{result.json,per_utt.tsv}; the resample
        count and seed are the ones the score files were made with."""
        first = results[systems[0]][sets[0]] if systems and sets else {}
        boot = first.get("bootstrap", {})
        counts = {s: {x: read_per_utt(Path(expdir) / "decode" / s / f"test_{x}" / "score" / "per_utt.tsv")
                      for x in sets} for s in systems}
        return cls({s: {x: results[s][x]["mer"] for x in sets} for s in systems}, counts,
                   {s: {x: _headline(results[s][x]) for x in sets} for s in systems},
                   boot.get("replications", bootstrap.REPLICATIONS), boot.get("seed", bootstrap.SEED))

    def cell(self, system: str, name: str) -> Tuple[Optional[float], Optional[np.ndarray]]:
        return self.points[system][name], self._reps[system, name]

    def average(self, system: str, sets: Sequence[str]) -> Tuple[Optional[float], Optional[np.ndarray]]:
        """The unweighted mean over `sets` (as the table prints it) and its replicates."""
        pts = [self.points[system][x] for x in sets if self.points[system][x] is not None]
        point = sum(pts) / len(pts) if pts else None
        return point, bootstrap.average([self._reps[system, x] for x in sets])

    def interval(self, system: str, sets: Sequence[str]) -> Optional[List[float]]:
        return bootstrap.interval(self.average(system, sets)[1])

    def compare_average(self, system: str, baseline: str, sets: Sequence[str]) -> Optional[dict]:
        """Paired comparison of two systems' averages over `sets` on the same resamples."""
        return bootstrap.compare(*self.average(system, sets), *self.average(baseline, sets))
