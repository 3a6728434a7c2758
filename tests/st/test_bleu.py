"""BLEU/chrF scoring (sacreBLEU): hand-checked values, agreement with sacrebleu's own call, CLI files."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from espnet_cs_ext.bin.cs_score import main as cs_score
from espnet_cs_ext.scoring.bleu import score_bleu, score_bleu_tables

TABLE = [
    # (refs, hyps, BLEU worked out by hand, or None = only compared with sacrebleu)
    (["the cat sat on the mat"], ["the cat sat on the mat"], 100.0),
    (["the cat sat on the mat"], ["dogs run far away quickly today"], 0.0),
    # precisions 4/5, 3/4, 2/3, 1/2, equal lengths: (0.8 * 0.75 * 2/3 * 0.5) ** (1/4) = 0.2 ** 0.25
    (["a b c d e"], ["a b c d x"], 100 * 0.2 ** 0.25),
    # all n-grams match, hypothesis 5 of 6 words: brevity penalty exp(1 - 6/5)
    (["a b c d e f"], ["a b c d e"], 100 * math.exp(-0.2)),
    # 13a splits the final period and the comma: "Hello , world ." is 4 tokens on both sides
    (["Hello, world."], ["Hello , world ."], 100.0),
    (["Good morning, everyone.", "I am a little tired today.", "Where is the station?"],
     ["Good morning everyone.", "I am tired today.", "Where's the station?"], None),
    (["The homework is ready now.", "My friend recommended the restaurant to me."],
     ["the homework is ready now", "My friend recommended me the restaurant."], None),
]


@pytest.mark.parametrize("refs, hyps, expected", TABLE)
def test_bleu_table(refs, hyps, expected):
    import sacrebleu

    res = score_bleu(refs, hyps)
    assert res["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)
    assert res["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)
    if expected is not None:
        assert res["bleu"] == pytest.approx(expected, abs=1e-6)
    assert res["n"] == len(refs)
    assert res["signature"]["bleu"] == f"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:{sacrebleu.__version__}"
    assert res["signature"]["chrf"].startswith("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|")


def test_identical_and_disjoint_chrf():
    assert score_bleu(["abc def"], ["abc def"])["chrf"] == pytest.approx(100.0)
    assert score_bleu(["abc def"], ["xyz uvw"])["chrf"] == 0.0


def test_missing_hypothesis_scores_as_empty_and_is_listed():
    import sacrebleu

    refs = {"u1": "a b c d e", "u2": "the cat sat on the mat", "u3": "one two three four"}
    hyps = {"u1": "a b c d x", "u3": "one two three four"}
    res = score_bleu_tables(refs, hyps)
    assert res["missing_hyps"] == {"count": 1, "ids": ["u2"]}
    assert res["bleu"] == pytest.approx(sacrebleu.corpus_bleu(
        ["a b c d x", "", "one two three four"], [list(refs.values())]).score)


def test_cli_writes_result_files(tmp_path, capsys):
    ref = tmp_path / "ref"
    hyp = tmp_path / "hyp"
    ref.write_text("u1 a b c d e\nu2 Good morning, everyone.\nu3 missing one\n", encoding="utf-8")
    hyp.write_text("u1 a b c d x\nu2 Good morning, everyone.\n", encoding="utf-8")
    out = tmp_path / "score"
    assert cs_score(["--metric", "bleu", "--ref", str(ref), "--hyp", str(hyp), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["per_utt.tsv", "result.json", "result.txt"]
    res = json.loads((out / "result.json").read_text())
    expect = score_bleu(["a b c d e", "Good morning, everyone.", "missing one"],
                        ["a b c d x", "Good morning, everyone.", ""])
    assert res["bleu"] == pytest.approx(expect["bleu"]) and res["chrf"] == pytest.approx(expect["chrf"])
    assert res["n"] == 3 and res["missing_hyps"] == {"count": 1, "ids": ["u3"]}
    assert res["metric"] == "bleu" and "tok:13a" in res["signature"]["bleu"]
    txt = (out / "result.txt").read_text()
    avg = [line for line in txt.splitlines() if "Sum/Avg" in line]
    assert len(avg) == 1 and avg[0].split("|")[2].split() == ["3"]
    assert avg[0].split("|")[3].split() == [f"{res['bleu']:.2f}", f"{res['chrf']:.2f}"]
    assert f"signature BLEU: {res['signature']['bleu']}" in txt and "missing hypotheses: 1 utterance(s)" in txt
    rows = (out / "per_utt.tsv").read_text().splitlines()
    assert rows[2].split("\t")[:4] == ["u2", "ok", "100.00", "100.00"]
    assert rows[3].split("\t")[:3] == ["u3", "missing_hyp", "0.00"]
    printed = capsys.readouterr().out
    assert f"BLEU = {res['bleu']:.2f}" in printed and "signature nrefs:1" in printed


@pytest.mark.parametrize("argv, message", [
    (["--metric", "bleu", "--preset", "hike"], "--preset applies to --metric mer only"),
    (["--tokenize", "13a"], "--tokenize applies to --metric bleu only"),
    (["--metric", "bleu", "--tokenize", "nonsense"], "is not a sacrebleu tokeniser"),
])
def test_cli_option_errors(tmp_path, capsys, argv, message):
    (tmp_path / "t").write_text("u1 a\n")
    rc = cs_score(["--ref", str(tmp_path / "t"), "--hyp", str(tmp_path / "t"), "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_extra_hypothesis_id_is_an_error(tmp_path, capsys):
    (tmp_path / "r").write_text("u1 a b\n")
    (tmp_path / "h").write_text("u1 a b\nu9 c\n")
    rc = cs_score(["--metric", "bleu", "--ref", str(tmp_path / "r"), "--hyp", str(tmp_path / "h"),
                   "--out", str(tmp_path / "o")])
    assert rc == 2 and "1 utterance id(s) not in" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_bleu_module_is_light():
    code = "import sys, espnet_cs_ext.scoring.bleu; print(sorted(m for m in ('torch', 'espnet2', 'sacrebleu') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
