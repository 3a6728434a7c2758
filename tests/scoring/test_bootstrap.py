"""Bootstrap intervals and paired comparisons of cs-score: properties, kaldialign agreement, CLI."""
import json
import random

import numpy as np
import pytest

from espnet_cs_ext.bin.cs_score import main
from espnet_cs_ext.scoring import MerAccumulator, bootstrap, score_files
from espnet_cs_ext.scoring.report import per_utt_counts

WORDS = ["the", "cat", "sat", "mat", "나", "는", "좋", "다", "今", "日", "は", "de"]


def _corpus(rng: random.Random, n: int, p_err: float):
    """n (ref, hyp) pairs of script-token text; each token of hyp is wrong with probability p_err."""
    refs, hyps = [], []
    for _ in range(n):
        ref = [rng.choice(WORDS[:4]) for _ in range(rng.randint(0, 8))]
        hyp = [t if rng.random() > p_err else rng.choice(["x", "y", ""]) for t in ref]
        if rng.random() < p_err:
            hyp.append("z")
        refs.append(" ".join(ref))
        hyps.append(" ".join(t for t in hyp if t))
    return refs, hyps


def _write(path, ids, texts):
    path.write_text("".join(f"{u} {t}\n" for u, t in zip(ids, texts)), encoding="utf-8")
    return path


@pytest.mark.parametrize("preset", ["default", "hike"])
@pytest.mark.parametrize("case", range(25))
def test_interval_contains_the_point_estimate(tmp_path, preset, case):
    rng = random.Random(case)
    n = rng.choice([1, 2, 3, 5, 10, 40])
    refs, hyps = _corpus(rng, n, rng.choice([0.0, 0.1, 0.5, 0.9]))
    ids = [f"u{i:03d}" for i in range(n)]
    res = score_files(_write(tmp_path / "ref", ids, refs), _write(tmp_path / "hyp", ids, hyps), tmp_path / "o",
                      preset=preset)
    if res["mer"] is None:  # only empty references: no rate, no interval
        assert res["ci95"] is None
        return
    lo, hi = res["ci95"]
    assert lo <= res["mer"] <= hi, (res["mer"], lo, hi)


def _pair(tmp_path, refs, hyps, base, **kw):
    ids = [f"u{i:03d}" for i in range(len(refs))]
    return score_files(_write(tmp_path / "ref", ids, refs), _write(tmp_path / "hyp", ids, hyps), tmp_path / "o",
                       baseline_hyp=_write(tmp_path / "base", ids, base), **kw)


def test_perfect_hypothesis_beats_a_poor_baseline(tmp_path):
    refs, poor = _corpus(random.Random(1), 10, 0.6)
    vs = _pair(tmp_path, refs, refs, poor)["vs_baseline"]
    assert vs["p_improve"] >= 0.95
    assert vs["delta"] < 0 and vs["ci95"][1] < 0
    assert bootstrap.significance(vs) == -1


def test_hypothesis_against_itself_is_no_difference(tmp_path):
    refs, hyps = _corpus(random.Random(2), 10, 0.3)
    res = _pair(tmp_path, refs, hyps, hyps)
    assert res["vs_baseline"]["delta"] == 0.0
    assert res["vs_baseline"]["ci95"] == [0.0, 0.0]
    assert res["vs_baseline"]["p_improve"] == 0.0
    assert res["vs_baseline"]["baseline_mer"] == res["mer"]
    assert bootstrap.significance(res["vs_baseline"]) == 0


def test_same_inputs_same_bytes_and_seed_matters(tmp_path):
    refs, hyps = _corpus(random.Random(3), 30, 0.3)
    ids = [f"u{i}" for i in range(30)]
    ref, hyp = _write(tmp_path / "ref", ids, refs), _write(tmp_path / "hyp", ids, hyps)
    score_files(ref, hyp, tmp_path / "a")
    score_files(ref, hyp, tmp_path / "b")
    assert (tmp_path / "a" / "result.json").read_bytes() == (tmp_path / "b" / "result.json").read_bytes()
    c = score_files(ref, hyp, tmp_path / "c", seed=7)
    a = json.loads((tmp_path / "a" / "result.json").read_text())
    assert c["ci95"] != a["ci95"] and c["bootstrap"]["seed"] == 7


def test_resamples_depend_on_ids_not_on_the_hypothesis():
    rs1 = bootstrap.Resample(["a", "b", "c"], 50)
    rs2 = bootstrap.Resample(["a", "b", "c"], 50)
    rs3 = bootstrap.Resample(["a", "b", "d"], 50)
    assert (rs1.index == rs2.index).all() and not (rs1.index == rs3.index).all()
    assert rs1.index.shape == (50, 3) and rs1.index.min() >= 0 and rs1.index.max() <= 2


def test_average_of_sets_is_the_mean_of_their_replicates():
    a = bootstrap.Resample([f"a{i}" for i in range(5)], 200)
    b = bootstrap.Resample([f"b{i}" for i in range(8)], 200)
    ra = a.replicates([1, 0, 2, 0, 1], [4, 4, 4, 4, 4])
    rb = b.replicates([0] * 8, [3] * 8)
    avg = bootstrap.average([ra, rb])
    assert np.allclose(avg, (ra + rb) / 2) and (rb == 0).all()
    lo, hi = bootstrap.interval(avg)
    assert lo <= (4 / 20 + 0) / 2 <= hi


def test_agrees_with_kaldialign_on_the_same_tokens():
    """kaldialign.bootstrap_wer_ci (Kaldi's compute-wer-bootci: mean +- 1.96 sd) on cs-score's tokens."""
    kaldialign = pytest.importorskip("kaldialign")
    refs, hyps = _corpus(random.Random(4), 300, 0.25)
    rng = random.Random(5)  # the baseline: the same references, other errors
    base = [" ".join(t if rng.random() > 0.3 else "q" for t in r.split()) for r in refs]
    acc, acc_b = MerAccumulator("default"), MerAccumulator("default")
    acc.add_many(refs, hyps)
    acc_b.add_many(refs, base)
    ids, err, n_ref = per_utt_counts(acc)
    tok = lambda u: u.split()  # noqa: E731  the scorer's own tokens, joined by spaces in UttResult
    for u in acc.utts:  # the same error counts from Kaldi's alignment
        assert kaldialign.edit_distance(tok(u.ref), tok(u.hyp))["total"] == u.err
    rs = bootstrap.Resample(ids, 10000)
    reps = rs.replicates(err, n_ref)
    lo, hi = bootstrap.interval(reps)
    k = kaldialign.bootstrap_wer_ci([tok(u.ref) for u in acc.utts], [tok(u.hyp) for u in acc.utts],
                                    replications=10000, seed=0)
    assert abs(k["wer"] - float(np.mean(reps))) < 0.005
    assert abs(k["ci95min"] - lo) < 0.01 and abs(k["ci95max"] - hi) < 0.01, (k, lo, hi)
    # paired: kaldialign's p_s2_improv_over_s1 with s1 = baseline, s2 = hypothesis
    b_reps = rs.replicates(per_utt_counts(acc_b)[1], n_ref)
    ours = bootstrap.compare(acc.summary()["mer"], reps, acc_b.summary()["mer"], b_reps)["p_improve"]
    k2 = kaldialign.bootstrap_wer_ci([tok(u.ref) for u in acc.utts], [tok(u.hyp) for u in acc_b.utts],
                                     [tok(u.hyp) for u in acc.utts], replications=10000, seed=0)
    assert abs(k2["p_s2_improv_over_s1"] - ours) < 0.03, (k2, ours)


# --- the CLI ---------------------------------------------------------------------------------

@pytest.fixture
def three(tmp_path):
    ids = ["u1", "u2", "u3"]
    return (_write(tmp_path / "ref", ids, ["a b c", "d e", "f"]), _write(tmp_path / "hyp", ids, ["a b", "d e", "g"]),
            tmp_path / "out")


def test_cli_writes_interval_and_comparison(three, tmp_path, capsys):
    ref, hyp, out = three
    base = _write(tmp_path / "base", ["u1", "u2", "u3"], ["x", "y", "z"])
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--baseline-hyp", str(base), "--out", str(out),
                 "--bootstrap", "2000"]) == 0
    res = json.loads((out / "result.json").read_text())
    assert list(res)[list(res).index("mer") + 1] == "ci95"  # beside mer
    assert res["bootstrap"]["replications"] == 2000
    assert res["vs_baseline"]["delta"] == pytest.approx(2 / 6 - 6 / 6)
    txt = (out / "result.txt").read_text()
    assert "MER 95 % CI   = [" in txt and "p_improve" in txt and str(base) in txt
    assert "delta -66.67 %" in capsys.readouterr().out


@pytest.mark.parametrize("base_ids, first", [
    (["u1", "u3"], "no utterance 'u2'"),                 # baseline lacks one of the hypothesis's ids
    (["u1", "u2", "u3", "u9"], "utterance 'u9' is not in"),  # baseline has one more
])
def test_cli_baseline_with_other_ids_is_one_error_and_no_output(three, tmp_path, capsys, base_ids, first):
    ref, hyp, out = three
    base = _write(tmp_path / "base", base_ids, ["x"] * len(base_ids))
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--baseline-hyp", str(base), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cs-score: error: --baseline-hyp ") and first in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--bootstrap", "0"], "--bootstrap must be >= 1"),
    (["--metric", "bleu", "--baseline-hyp", "x"], "--baseline-hyp applies to --metric mer only"),
])
def test_cli_bad_bootstrap_options(three, capsys, argv, message):
    ref, hyp, out = three
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--out", str(out), *argv]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_hike_interval_counts_empty_references_like_its_mean(tmp_path):
    """hike's mean counts an empty reference's insertions (err/1): the resamples must too,
    else the point estimate falls outside its own interval (2 insertions = 200 %)."""
    ids = ["u0", "u1", "u2"]
    res = score_files(_write(tmp_path / "ref", ids, ["", "나 는", "the cat"]),
                      _write(tmp_path / "hyp", ids, ["a b", "나 는", "the cat"]), tmp_path / "o", preset="hike")
    assert res["mer"] == pytest.approx(2 / 3)
    lo, hi = res["ci95"]
    assert lo <= res["mer"] <= hi and hi == pytest.approx(2.0)
