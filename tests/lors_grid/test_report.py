"""lors_grid.report: RESULTS_lors.md from a fake exp tree of planted result.json files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import pytest

from espnet_cs_ext.bin.lors_grid import main
from espnet_cs_ext.recipe import lors_grid as g
from espnet_cs_ext.utils.errors import CsExtError

LANGS = ["de", "ja"]
SETS = ["test_mono_de", "test_mono_ja", "test_st_de-en", "test_st_ja-en"]

# Planted numbers: (model, set) -> MER fraction (mono sets) or BLEU (st sets).
PLANTED = {
    ("pretrained", "test_mono_de"): 0.2062, ("pretrained", "test_mono_ja"): 0.1972,
    ("pretrained", "test_st_de-en"): 24.14, ("pretrained", "test_st_ja-en"): 11.0,
    ("asr_de", "test_mono_de"): 0.1950, ("asr_ja", "test_mono_ja"): 0.1234,
    ("st_de-en", "test_st_de-en"): 26.66, ("st_ja-en", "test_st_ja-en"): 12.04,
    ("mlasr", "test_mono_de"): 0.2180, ("mlasr", "test_mono_ja"): 0.1500,
    ("mlst", "test_st_de-en"): 24.4, ("mlst", "test_st_ja-en"): 10.0,
    ("lg1_lors", "test_mono_de"): 0.188, ("lg1_lors", "test_mono_ja"): 0.131,
    ("lg2_svp", "test_st_de-en"): 25.0, ("lg2_svp", "test_st_ja-en"): 13.0,
    ("mt_de", "test_mono_de"): 0.17, ("mt_ja", "test_mono_ja"): 0.13,
    ("mt_de", "test_st_de-en"): 22.3, ("mt_ja", "test_st_ja-en"): 10.1,
    ("lg3_lors_de", "test_mono_de"): 0.18, ("lg3_lors_ja", "test_mono_ja"): 0.12,
    ("lg3_lors_de", "test_st_de-en"): 30.0, ("lg3_lors_ja", "test_st_ja-en"): 20.0,
    ("mlmt", "test_mono_de"): 0.205, ("mlmt", "test_mono_ja"): 0.197,
    ("mlmt", "test_st_de-en"): 21.3, ("mlmt", "test_st_ja-en"): 9.9,
    ("lg4mltrain_lors", "test_mono_de"): 0.169, ("lg4mltrain_lors", "test_mono_ja"): 0.111,
    ("lg4mltrain_lors", "test_st_de-en"): 22.8, ("lg4mltrain_lors", "test_st_ja-en"): 14.2,
}


def _filler(i: int, test_set: str) -> float:
    """Distinct values for cells the test does not check (every model x set is decoded)."""
    return (0.3 + 0.001 * i) if "mono" in test_set else 40.0 + 0.1 * i


def write_tree(exp: Path) -> None:
    models = g.models(LANGS, g.load_methods(None))
    for i, model in enumerate(models):
        for s in SETS:
            value = PLANTED.get((model, s), _filler(i, s))
            d = exp / "decode" / model / s / "score"
            d.mkdir(parents=True, exist_ok=True)
            res = {"mer": value, "corpus_mer": value} if "mono" in s else {"metric": "bleu", "bleu": value, "chrf": 50.0}
            (d / "result.json").write_text(json.dumps(res))


def tables(text: str) -> Dict[str, Dict[str, List[str]]]:
    """{section heading: {row label: cells}} of every Markdown table."""
    out: Dict[str, Dict[str, List[str]]] = {}
    head = None
    for line in text.splitlines():
        if line.startswith("#"):
            head = line.lstrip("# ").split(":")[0]
        elif line.startswith("| ") and head:
            cells = [c.strip() for c in line.strip("|").split("|")]
            out.setdefault(head, {})[cells[0]] = cells[1:]
    return out


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("exp")
    write_tree(d)
    return d


@pytest.fixture(scope="module")
def report(exp) -> Dict[str, Dict[str, List[str]]]:
    return tables(g.report_tables(exp, LANGS))


# (table, row, expected cells)
CELLS = [
    ("Table 1", "System", ["de", "ja", "Avg."]),
    # averages use the unrounded numbers: (20.62 + 19.72) / 2 = 20.17, not (20.6 + 19.7) / 2
    ("Table 1", "Pretrained", ["20.6", "19.7", "20.17"]),
    ("Table 1", "Finetuned", ["19.5", "12.3", "15.92"]),
    ("Table 1", "Multi-lingual training", ["21.8", "15.0", "18.40"]),
    ("Table 1", "LoRS-Merging", ["18.8", "13.1", "15.95"]),
    ("Table 2", "Pretrained", ["24.1", "11.0", "17.57"]),
    ("Table 2", "Finetuned", ["26.7", "12.0", "19.35"]),
    ("Table 2", "Multi-lingual training", ["24.4", "10.0", "17.20"]),
    ("Table 2", "SVP-Merging", ["25.0", "13.0", "19.00"]),
    ("Table 3", "System", ["Avg. WER (%) ↓", "Avg. BLEU ↑"]),
    ("Table 3", "Pretrained", ["20.17", "17.57"]),
    ("Table 3", "Finetuned", ["15.92", "19.35"]),
    ("Table 3", "Multi-task training", ["15.00", "16.20"]),
    ("Table 3", "LoRS-Merging", ["15.00", "25.00"]),
    ("Table 3 per language (the paper's Table 11)", "LoRS-Merging",
     ["18.0", "12.0", "15.00", "30.0", "20.0", "25.00"]),
    ("Table 4", "System", ["WER de", "WER ja", "Avg. WER", "BLEU de", "BLEU ja", "Avg. BLEU"]),
    ("Table 4", "Pretrained", ["20.6", "19.7", "20.17", "24.1", "11.0", "17.57"]),
    ("Table 4", "Finetuned", ["19.5", "12.3", "15.92", "26.7", "12.0", "19.35"]),
    ("Table 4", "ML and MT training", ["20.5", "19.7", "20.10", "21.3", "9.9", "15.60"]),
    ("Table 4", "MT training", ["17.0", "13.0", "15.00", "22.3", "10.1", "16.20"]),
    # ML training = mlasr on WER, mlst on BLEU
    ("Table 4", "ML training", ["21.8", "15.0", "18.40", "24.4", "10.0", "17.20"]),
    ("Table 4", "↳ + MT LoRS-Merging", ["16.9", "11.1", "14.00", "22.8", "14.2", "18.50"]),
]


@pytest.mark.parametrize("table, row, cells", CELLS)
def test_cells(report, table, row, cells):
    assert report[table][row] == cells


def test_row_order(report):
    merges = ["Weight Averaging", "Task Arithmetic", "MP-Merging", "SVP-Merging", "LoRS-Merging"]
    assert list(report["Table 1"])[1:] == ["Pretrained", "Finetuned", "Multi-lingual training"] + merges
    assert list(report["Table 3"])[1:] == ["Pretrained", "Finetuned", "Multi-task training"] + merges
    assert list(report["Table 4"])[1:] == [
        "Pretrained", "Finetuned", "ML and MT training", "ML and MT Task Arithmetic", "ML and MT LoRS-Merging",
        "MT training", "↳ + ML Task Arithmetic", "↳ + ML LoRS-Merging",
        "ML training", "↳ + MT Task Arithmetic", "↳ + MT LoRS-Merging"]


def test_filler_cells_come_from_their_files(report):
    # lg1_linear is the first merge after pretrained + 9 systems: model index 10
    models = g.models(LANGS, g.load_methods(None))
    i = models.index("lg1_linear")
    assert report["Table 1"]["Weight Averaging"][:2] == [f"{100 * _filler(i, 'mono'):.1f}"] * 2


def test_missing_file_names_it(tmp_path):
    write_tree(tmp_path)
    gone = tmp_path / "decode" / "lg3_svp_ja" / "test_st_ja-en" / "score" / "result.json"
    gone.unlink()
    out = tmp_path / "RESULTS_lors.md"
    with pytest.raises(CsExtError, match="lg3_svp_ja/test_st_ja-en/score/result.json"):
        g.report(tmp_path, LANGS, out)
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize("content, needle", [
    ('{"bleu": 20.0}', "no numeric 'mer'"),
    ('{"mer": null}', "no numeric 'mer'"),
    ('{"mer": 0.2', "not valid JSON"),
])
def test_bad_result_file(tmp_path, content, needle):
    write_tree(tmp_path)
    bad = tmp_path / "decode" / "mlasr" / "test_mono_ja" / "score" / "result.json"
    bad.write_text(content)
    with pytest.raises(CsExtError, match=needle) as e:
        g.report_tables(tmp_path, LANGS)
    assert str(bad) in str(e.value)


def test_cli_writes_report(exp, tmp_path, capsys):
    out = tmp_path / "RESULTS_lors.md"
    assert main(["report", "--expdir", str(exp), "--langs", "de ja", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# LoRS-Merging grid: de ja")
    assert tables(text) == tables(g.report_tables(exp, LANGS))


def test_cli_missing_expdir_one_line(tmp_path, capsys):
    assert main(["report", "--expdir", str(tmp_path / "nope"), "--langs", "de ja",
                 "--out", str(tmp_path / "r.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pretrained/test_mono_de/score/result.json" in err[0]


def test_fewer_methods_fewer_rows(exp, tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("methods:\n  lors: {}\ntable4: [lors]\n")
    t = tables(g.report_tables(exp, LANGS, g.load_methods(p)))
    assert list(t["Table 1"])[-1] == "LoRS-Merging" and "Task Arithmetic" not in t["Table 1"]
    assert "ML and MT Task Arithmetic" not in t["Table 4"]
