"""Stage 8's one-process scorer: the figures of cs-score, rerun only what changed, clear errors."""
from __future__ import annotations

import json
import os

import pytest

from espnet_cs_ext.recipe.score_all import read_jobs, run_jobs
from espnet_cs_ext.utils.errors import CsExtError

# (reference, hypothesis, expected corpus MER): Hangul counts one token per character
CASES = [
    ("a b c d", "a x c", 0.5),            # 1 substitution + 1 deletion over 4 words
    ("나는 good", "나는 good", 0.0),
    ("나는 good", "나도 good bad", 2 / 3),  # 는->도, + "bad" over 3 tokens (나, 는, good)
]


def _setup(tmp_path):
    lines = []
    for i, (ref, hyp, _) in enumerate(CASES):
        (tmp_path / f"ref{i}").write_text(f"u1 {ref}\n", encoding="utf-8")
        (tmp_path / f"hyp{i}").write_text(f"u1 {hyp}\n", encoding="utf-8")
        lines.append(f"{tmp_path}/ref{i} {tmp_path}/hyp{i} {tmp_path}/out{i} mer:default")
    (tmp_path / "bref").write_text("u1 the cat sat on the mat\nu2 hello world\n")
    (tmp_path / "bhyp").write_text("u1 the cat sat on the mat\nu2 hello world\n")
    lines.append(f"{tmp_path}/bref {tmp_path}/bhyp {tmp_path}/bout bleu")
    (tmp_path / "jobs").write_text("\n".join(lines) + "\n")
    return tmp_path / "jobs"


def test_scores_match_hand_counts_and_reruns_only_changed(tmp_path):
    jobs = read_jobs(_setup(tmp_path))
    assert len(run_jobs(jobs)) == 4
    for i, (_, _, expected) in enumerate(CASES):
        res = json.loads((tmp_path / f"out{i}" / "result.json").read_text())
        assert res["mer"] == pytest.approx(expected), CASES[i]
    assert json.loads((tmp_path / "bout" / "result.json").read_text())["bleu"] == pytest.approx(100.0)
    assert run_jobs(jobs) == []  # everything up to date
    hyp0 = tmp_path / "hyp0"
    old = hyp0.stat().st_mtime_ns
    hyp0.write_text("u1 a b c d\n")
    # the marker keys on size + mtime: move the mtime past the old one (no sleep for the clock)
    os.utime(hyp0, ns=(old + 10**9, old + 10**9))
    rescored = run_jobs(jobs)
    assert [j.hyp for j in rescored] == [str(tmp_path / "hyp0")]
    assert json.loads((tmp_path / "out0" / "result.json").read_text())["mer"] == 0.0
    assert len(run_jobs(jobs, force=True)) == 4


@pytest.mark.parametrize("line, message", [
    ("a b c", "expected 'REF HYP OUT METRIC', got 3 fields"),
    ("a b c wer", "neither 'bleu' nor 'mer:<preset>'"),
])
def test_bad_job_lines_name_file_and_line(tmp_path, line, message):
    f = tmp_path / "jobs"
    f.write_text(f"\n{line}\n")
    with pytest.raises(CsExtError, match=rf"jobs:2: .*{message}"):
        read_jobs(f)


def test_missing_hypothesis_is_named_and_nothing_is_written(tmp_path):
    (tmp_path / "ref").write_text("u1 a\n")
    f = tmp_path / "jobs"
    f.write_text(f"{tmp_path}/ref {tmp_path}/nohyp {tmp_path}/out mer:default\n")
    with pytest.raises(CsExtError, match="nohyp: missing"):
        run_jobs(read_jobs(f))
    assert not (tmp_path / "out").exists()
