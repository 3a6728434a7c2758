"""Stage 8's scoring in one process: every (reference, hypothesis) pair of a job list.

One `cs-score` process per (model, test set) cost the demo about a minute (260 Python
start-ups); this runs the same scorers over a list and keeps the recipe's `.done`
markers, so a rerun rescored only what changed.

Job list: one line per pair, whitespace-separated::

    REF_TEXT HYP_TEXT OUT_DIR METRIC

METRIC is `bleu` (sacreBLEU BLEU + chrF) or `mer:<preset>` (Mixed Error Rate with a
cs-score preset). OUT_DIR/.done records the inputs (hypothesis, reference, metric, the
loanword table and, for MER, the bootstrap settings of its `ci95`). A MER job whose
reference dir holds `utt2loanwords` (HiKE, written by `cs-prepare hike`) gets HiKE's
loanword step, as `cs-score --loanwords` does. Comparisons between systems (against
Pretrained and ERM on the seen/unseen averages) need every system's per-utterance
counts at once, so the report builds them from the per_utt.tsv files written here
(espnet_cs_ext.recipe.report). A reference dir with cs_segments.jsonl gets the per-language
breakdown (espnet_cs_ext.scoring.per_language); a skipped utterance there is warned about
on stderr.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterable, List, NamedTuple

from ..utils.errors import CsExtError
from .stamp import is_done, mark_done


class ScoreJob(NamedTuple):
    ref: str
    hyp: str
    out: str
    metric: str  # "bleu" or "mer:<preset>"

    @property
    def loanwords(self) -> "str | None":
        """The reference dir's utt2loanwords, for MER jobs (HiKE's loanword step)."""
        p = Path(self.ref).parent / "utt2loanwords"
        return str(p) if self.metric != "bleu" and p.is_file() else None

    def marker_inputs(self) -> List[str]:
        # the same inputs the recipe's per-pair markers always recorded (+ the loanword table);
        # MER markers also name the bootstrap settings: score files from before ci95 existed
        # (or with other resamples) are stale and get rescored
        from ..scoring.bootstrap import REPLICATIONS, SEED
        opts = ("--metric bleu" if self.metric == "bleu"
                else f"--preset {self.metric[4:]} --bootstrap {REPLICATIONS} --seed {SEED}")
        return [self.hyp, self.ref, opts] + ([self.loanwords] if self.loanwords else []) + self.segments

    @property
    def segments(self) -> List[str]:
        """cs_segments.jsonl (+ utt2lang) beside the reference, for MER jobs: the per-language
        breakdown (espnet_cs_ext.scoring.per_language) reads them, so they are inputs."""
        d = Path(self.ref).parent
        if self.metric == "bleu" or not (d / "cs_segments.jsonl").is_file():
            return []
        return [str(d / "cs_segments.jsonl")] + ([str(d / "utt2lang")] if (d / "utt2lang").is_file() else [])


def read_jobs(path: "str | os.PathLike") -> List[ScoreJob]:
    jobs = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 4:
            raise CsExtError(f"{path}:{n}: expected 'REF HYP OUT METRIC', got {len(fields)} fields: {line!r}")
        job = ScoreJob(*fields)
        if job.metric != "bleu" and not job.metric.startswith("mer:"):
            raise CsExtError(f"{path}:{n}: metric {job.metric!r} is neither 'bleu' nor 'mer:<preset>'")
        jobs.append(job)
    return jobs


def run_jobs(jobs: Iterable[ScoreJob], force: bool = False) -> List[ScoreJob]:
    """Score every job whose marker is stale (all with force); return the ones scored."""
    from ..scoring import score_files
    from ..scoring.bleu import score_bleu_files

    scored = []
    for job in jobs:
        marker = Path(job.out) / ".done"
        if not force and is_done(marker, job.marker_inputs()):
            continue
        for f in (job.ref, job.hyp):
            if not Path(f).is_file():
                raise CsExtError(f"{f}: missing (scoring {job.hyp} against {job.ref})")
        if job.metric == "bleu":
            score_bleu_files(job.ref, job.hyp, job.out)
        else:
            res = score_files(job.ref, job.hyp, job.out, preset=job.metric[4:], loanwords=job.loanwords)
            skipped = res.get("per_language_meta", {}).get("skipped", {}).get("count", 0)
            if skipped:
                print(f"score: warning: {job.out}: per-language MER leaves out {skipped} utterance(s) whose "
                      "segments do not give the reference tokens (see result.txt)", file=sys.stderr)
        mark_done(marker, job.marker_inputs())
        scored.append(job)
    return scored
