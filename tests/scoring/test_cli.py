"""cs-score end to end on temporary Kaldi text files, including every bad-input case."""
import json
import subprocess
import sys

import pytest

from espnet_cs_ext.bin.cs_score import main
from espnet_cs_ext.scoring import report

REF = "u1 나는 iPhone을 샀다.\nu2 今日はいい天気ですね\nu3 Das ist ein Test, okay?\nu4\nu5 missing one\n"
HYP = "u1 나는 아이폰을 샀다\nu2 今日は良い天気ですね。\nu3 das ist ein test okay\nu4 uh\n"


def _write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


@pytest.fixture
def files(tmp_path):
    return _write(tmp_path / "ref", REF), _write(tmp_path / "hyp", HYP), tmp_path / "out"


def _no_results(out):
    return not out.exists() or not any(out.iterdir())


def test_cli_writes_three_outputs(files, capsys):
    ref, hyp, out = files
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["per_utt.tsv", "result.json", "result.txt"]
    res = json.loads((out / "result.json").read_text(encoding="utf-8"))
    # u1: S1 I2 over 6; u2: S1 over 10; u3: 0 over 5; u4: empty ref, I1; u5: missing, D2 over 2
    # corpus = (3 + 1 + 0 + 1 + 2) / 23; mean = (3/6 + 1/10 + 0 + 2/2) / 4
    assert (res["sub"], res["del"], res["ins"], res["num_ref_tokens"]) == (2, 2, 3, 23)
    assert res["corpus_mer"] == pytest.approx(7 / 23)
    assert res["mean_utt_mer"] == pytest.approx((0.5 + 0.1 + 0 + 1) / 4)
    assert res["mer"] == res["corpus_mer"] and res["mer_is"] == "corpus_mer"
    assert res["missing_hyps"] == {"count": 1, "ids": ["u5"]}
    assert res["empty_refs"] == {"count": 1, "insertions": 1, "ids": ["u4"]}
    txt = (out / "result.txt").read_text(encoding="utf-8")
    avg = [l for l in txt.splitlines() if "Avg" in l]
    assert len(avg) == 1  # ESPnet's show_asr_result.sh greps this single row
    assert avg[0].split("|")[2].split() == ["5", "23"]
    # Corr 19/23, Sub 2/23, Del 2/23, Ins 3/23, Err 7/23, S.Err 4 of 5 utterances
    assert avg[0].split("|")[3].split() == ["82.6", "8.7", "8.7", "13.0", "30.4", "80.0"]
    assert "missing hypotheses: 1" in txt and "u5" in txt
    rows = (out / "per_utt.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0].split("\t") == list(report.PER_UTT_COLUMNS)
    assert [r.split("\t")[0] for r in rows[1:]] == ["u1", "u2", "u3", "u4", "u5"]
    u5 = rows[5].split("\t")
    assert u5[1] == "missing_hyp" and u5[10] == "DD" and u5[12] == "*** ***"
    assert "MER (corpus_mer, preset default) = 30.43 %" in capsys.readouterr().out


def test_cli_hike_preset_headline_is_mean(files):
    ref, hyp, out = files
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--out", str(out), "--preset", "hike"]) == 0
    res = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert res["mer_is"] == "mean_utt_mer" and res["mer"] == res["mean_utt_mer"]
    assert res["preset"]["name"] == "hike"


def _fails(capsys, argv, out, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("cs-score: error: "), err
    for n in needles:
        assert n in err, err
    assert _no_results(out)
    return err


def test_non_utf8(files, capsys):
    ref, hyp, out = files
    _write(hyp, b"u1 ok\nu2 \xff\xfe bad\n")
    _fails(capsys, ["--ref", str(ref), "--hyp", str(hyp), "--out", str(out)], out, f"{hyp}:2", "UTF-8")


def test_duplicate_id(files, capsys):
    ref, hyp, out = files
    _write(ref, "u1 a\nu2 b\nu1 c\n")
    _fails(capsys, ["--ref", str(ref), "--hyp", str(hyp), "--out", str(out)], out, f"{ref}:3", "duplicate", "u1")


def test_line_without_id(files, capsys):
    ref, hyp, out = files
    _write(hyp, "u1 a\n   no id here\n")
    _fails(capsys, ["--ref", str(ref), "--hyp", str(hyp), "--out", str(out)], out, f"{hyp}:2", "no utterance id")


def test_blank_line(files, capsys):
    ref, hyp, out = files
    _write(ref, "u1 a\n\nu2 b\n")
    _fails(capsys, ["--ref", str(ref), "--hyp", str(hyp), "--out", str(out)], out, f"{ref}:2")


def test_hyp_ids_not_in_ref(files, capsys):
    ref, hyp, out = files
    _write(hyp, HYP + "x9 extra\nx8 more\n")
    _fails(capsys, ["--ref", str(ref), "--hyp", str(hyp), "--out", str(out)], out, str(hyp), "x9", "x8", "2 utterance")


def test_missing_file(files, capsys):
    ref, hyp, out = files
    _fails(capsys, ["--ref", str(ref), "--hyp", str(hyp) + ".nope", "--out", str(out)], out, "hyp.nope")


def test_missing_option(files, capsys):
    ref, hyp, out = files
    _fails(capsys, ["--ref", str(ref), "--out", str(out)], out, "--hyp")


def test_unknown_preset_is_rejected(files):
    ref, hyp, out = files
    with pytest.raises(SystemExit) as e:
        main(["--ref", str(ref), "--hyp", str(hyp), "--out", str(out), "--preset", "nope"])
    assert e.value.code == 2 and _no_results(out)


def test_failure_while_rendering_leaves_no_partial_output(files, monkeypatch):
    ref, hyp, out = files

    def boom(acc):
        raise RuntimeError("disk full")
    monkeypatch.setattr(report, "format_per_utt", boom)
    with pytest.raises(RuntimeError):
        report.score_files(ref, hyp, out)
    assert _no_results(out)


def test_list_presets(capsys):
    assert main(["--list-presets"]) == 0
    out = capsys.readouterr().out
    for name in ("default", "hike", "hike_script", "none"):
        assert f"{name}: " in out


def test_module_entry_point(files):
    ref, hyp, out = files
    r = subprocess.run([sys.executable, "-m", "espnet_cs_ext.bin.cs_score", "--ref", str(ref), "--hyp",
                        str(hyp), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out / "result.txt").exists()


def test_out_is_a_file(files, capsys):
    ref, hyp, out = files
    out.write_text("x")
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--out", str(out)]) == 2
    assert "not a directory" in capsys.readouterr().err
