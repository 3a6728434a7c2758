"""lors_grid.systems / test_sets: the exact training systems and test sets of the grid."""
from __future__ import annotations

import pytest

from espnet_cs_ext.bin.lors_grid import main
from espnet_cs_ext.recipe import lors_grid as g
from espnet_cs_ext.utils.errors import CsExtError

# (name, kind, train dirs, dev dirs, dir stage 5 trains on) for --langs "de ja"
EXPECTED = [
    ("asr_de", "asr", ["train_mono_de"], ["dev_mono_de"], "train_mono_de"),
    ("asr_ja", "asr", ["train_mono_ja"], ["dev_mono_ja"], "train_mono_ja"),
    ("st_de-en", "st", ["train_st_de-en"], ["dev_st_de-en"], "train_st_de-en"),
    ("st_ja-en", "st", ["train_st_ja-en"], ["dev_st_ja-en"], "train_st_ja-en"),
    ("mlasr", "asr", ["train_mono_de", "train_mono_ja"], ["dev_mono_de", "dev_mono_ja"], "train_mlasr"),
    ("mlst", "st", ["train_st_de-en", "train_st_ja-en"], ["dev_st_de-en", "dev_st_ja-en"], "train_mlst"),
    ("mt_de", "mt", ["train_mono_de", "train_st_de-en"], ["dev_mono_de", "dev_st_de-en"], "train_mt_de"),
    ("mt_ja", "mt", ["train_mono_ja", "train_st_ja-en"], ["dev_mono_ja", "dev_st_ja-en"], "train_mt_ja"),
    ("mlmt", "mt", ["train_mono_de", "train_mono_ja", "train_st_de-en", "train_st_ja-en"],
     ["dev_mono_de", "dev_mono_ja", "dev_st_de-en", "dev_st_ja-en"], "train_mlmt"),
]


def test_systems_exact():
    got = [(s.name, s.kind, list(s.train), list(s.dev), s.train_dir) for s in g.systems(["de", "ja"])]
    assert got == EXPECTED
    devs = {s.name: s.dev_dir for s in g.systems(["de", "ja"])}
    assert devs["asr_de"] == "dev_mono_de" and devs["mlmt"] == "dev_mlmt"


def test_systems_three_languages_count():
    names = [s.name for s in g.systems(["de", "ja", "ko"])]
    # 3 ASR + 3 ST + mlasr + mlst + 3 mt + mlmt
    assert len(names) == 12 == len(set(names))
    assert names[-1] == "mlmt" and "mt_ko" in names and "st_ko-en" in names


def test_systems_cli_lines(capsys):
    assert main(["systems", "--langs", "de ja"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "asr_de asr train_mono_de dev_mono_de"
    assert lines[6] == "mt_de mt train_mono_de,train_st_de-en dev_mono_de,dev_st_de-en"
    assert [ln.split()[0] for ln in lines] == [e[0] for e in EXPECTED]
    assert all(len(ln.split()) == 4 for ln in lines)


def test_test_sets(capsys):
    assert [(t.name, t.metric, t.lang) for t in g.test_sets(["de", "ja"])] == [
        ("test_mono_de", "wer", "de"), ("test_mono_ja", "wer", "ja"),
        ("test_st_de-en", "bleu", "de"), ("test_st_ja-en", "bleu", "ja")]
    assert main(["test-sets", "--langs", "de,ja"]) == 0
    assert capsys.readouterr().out.split("\n")[:2] == ["test_mono_de wer", "test_mono_ja wer"]


def test_decode_plan_covers_every_model_on_every_set():
    plan = g.decode_plan(["de", "ja"], g.load_methods(None))
    assert plan["pretrained"] == ["test_mono_de", "test_mono_ja", "test_st_de-en", "test_st_ja-en"]
    assert len(plan) == 1 + 9 + 26
    assert "lg3_lors_ja" in plan and "mlmt" in plan


@pytest.mark.parametrize("langs, needle", [
    (["de"], "at least 2 languages"),
    (["de", "de"], "listed twice"),
    (["de", "en"], "ST target"),
    (["DE", "ja"], "2-3 letter codes"),
    (["de-en", "ja"], "2-3 letter codes"),
])
def test_bad_languages(langs, needle):
    with pytest.raises(CsExtError, match=needle):
        g.systems(langs)


def test_bad_languages_cli_one_line(capsys):
    assert main(["systems", "--langs", "de"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lors_grid: error:") and "at least 2" in err[0]
