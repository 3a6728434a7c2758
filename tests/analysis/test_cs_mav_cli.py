"""cs-mav end to end on tiny random Whisper checkpoints (tests/conftest.py `tiny_whisper`)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from mav_helpers import planted, save

from espnet_cs_ext.bin.cs_mav import main
from espnet_cs_ext.merge.formats import load_state_dict

# two fine-tunes: rows 0-31 of the encoder block-1 query in both (overlap), fc1 rows apart
PLANTS = {
    "ko-en": [("encoder.blocks.1.attn.query.weight", range(32), 1e-4, 1.0),
              ("decoder.blocks.1.mlp.0.weight", range(0, 128), 1e-4, 1.0)],
    "ja-en": [("encoder.blocks.1.attn.query.weight", range(16, 48), 1e-4, 1.0),
              ("decoder.blocks.1.mlp.0.weight", range(128, 192), 1e-4, 1.0),
              ("decoder.blocks.0.cross_attn.out.weight", range(64), 3e-4, 0.5)],
}


@pytest.fixture(scope="module")
def finetunes(tiny_whisper, tmp_path_factory):
    d = tmp_path_factory.mktemp("cs_mav_models")
    base = load_state_dict(tiny_whisper)
    return {"ko-en": save(planted(base, PLANTS["ko-en"]), d / "koen.pt"),
            "ja-en": save(planted(base, PLANTS["ja-en"]), d / "jaen.pth", "espnet")}


def read_tsv(path: Path):
    return list(csv.DictReader(path.open(encoding="utf-8"), delimiter="\t"))


def assert_png(path: Path, min_size=(300, 150)):
    from PIL import Image

    assert path.is_file() and path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1], im.size
        assert len(im.convert("RGB").getcolors(1 << 20)) > 10  # drawn, not blank


@pytest.fixture(scope="module")
def study(tiny_whisper, finetunes, tmp_path_factory):
    out = tmp_path_factory.mktemp("cs_mav") / "mav"
    rc = main(["--base", str(tiny_whisper), "--finetuned", f"ko-en={finetunes['ko-en']}",
               "--finetuned", f"ja-en={finetunes['ja-en']}", "--out", str(out), "--top-k", "1",
               "--link-root", str(out.parent), "-q"])
    assert rc == 0
    return out


def test_mav_tsv_values(study):
    rows = read_tsv(study / "mav.tsv")
    assert list(rows[0]) == ["model", "part", "layer", "matrix", "rows", "rows_above", "pct_above", "mean_mav"]
    assert len(rows) == 2 * (2 * 6 + 2 * 10)
    by = {(r["model"], r["part"], int(r["layer"]), r["matrix"]): r for r in rows}
    table = [  # (model, part, layer, matrix) -> rows, rows_above, pct_above
        (("ko-en", "encoder", 1, "self_attn.q"), 64, 32, 50.0),
        (("ko-en", "decoder", 1, "fc1"), 256, 128, 50.0),
        (("ko-en", "decoder", 0, "cross_attn.out"), 64, 0, 0.0),
        (("ja-en", "encoder", 1, "self_attn.q"), 64, 32, 50.0),
        (("ja-en", "decoder", 1, "fc1"), 256, 64, 25.0),
        (("ja-en", "decoder", 0, "cross_attn.out"), 64, 64, 100.0),
        (("ja-en", "encoder", 0, "fc2"), 64, 0, 0.0),
    ]
    for key, n, above, pct in table:
        r = by[key]
        assert (int(r["rows"]), int(r["rows_above"]), float(r["pct_above"])) == (n, above, pct), key
    assert float(by[("ja-en", "decoder", 0, "cross_attn.out")]["mean_mav"]) == pytest.approx(1.5e-4, rel=1e-3)


def test_overlap_tsv_values(study):
    by = {(r["part"], r["layer"], r["matrix"]): r for r in read_tsv(study / "overlap.tsv")}
    assert {(r["model_a"], r["model_b"]) for r in by.values()} == {("ko-en", "ja-en")}
    q = by[("encoder", "1", "self_attn.q")]
    assert (int(q["both"]), int(q["either"]), float(q["jaccard"])) == (16, 48, pytest.approx(1 / 3))
    assert float(by[("decoder", "1", "fc1")]["jaccard"]) == 0.0
    overall = by[("all", "all", "all")]
    # both: 16 (query); either: 48 (query) + 192 (fc1) + 64 (cross out)
    assert (int(overall["both"]), int(overall["either"])) == (16, 304)
    assert by[("encoder", "0", "fc1")]["jaccard"] == "nan"


def test_figures_are_valid_pngs(study):
    for name in ("mav_ko-en.png", "mav_ja-en.png", "overlap.png"):
        assert_png(study / name)
    assert [p.name for p in study.iterdir() if p.name.startswith(".") and p.name != ".work"] == []


def test_flagged_layers_and_summary(study):
    doc = json.loads((study / "flagged_layers.json").read_text())
    assert doc["n_layers"] == {"encoder": 2, "decoder": 2}
    assert doc["layers"] == {"encoder": [1], "decoder": [0]}  # top-1: cross-attn out (100 %) beats fc1
    assert doc["score"]["encoder"] == [0.0, pytest.approx(50.0 / 6)]
    assert doc["score"]["decoder"] == [pytest.approx(100.0 / 10 / 2), pytest.approx((50 + 25) / 10 / 2)]
    assert doc["threshold"] == 5e-5 and doc["selection"] == {"top_k": 1, "min_pct": None}
    text = (study / "summary.md").read_text()
    assert "| ko-en | 4.2 | 2.5 | 3.1 | [mav_ko-en.png](mav/mav_ko-en.png) |" in text
    assert "[overlap.png](mav/overlap.png)" in text
    assert "| ko-en vs ja-en |" in text
    assert "encoder 1; decoder 0" in text


def test_rerun_reuses_finished_models(study, tiny_whisper, finetunes, capsys):
    before = (study / "mav.tsv").read_text()
    rc = main(["--base", str(tiny_whisper), "--finetuned", f"ko-en={finetunes['ko-en']}",
               f"ja-en={finetunes['ja-en']}", "--out", str(study), "--top-k", "1", "-q", "--no-figures"])
    assert rc == 0
    assert "(2 reused from" in capsys.readouterr().out
    assert (study / "mav.tsv").read_text() == before


def test_changed_threshold_recomputes(study, tiny_whisper, finetunes, tmp_path, capsys):
    rc = main(["--base", str(tiny_whisper), "--finetuned", f"ko-en={finetunes['ko-en']}",
               "--out", str(tmp_path), "--threshold", "2e-4", "-q", "--no-figures"])
    assert rc == 0
    rows = [r for r in read_tsv(tmp_path / "mav.tsv") if r["matrix"] == "self_attn.q" and r["layer"] == "1"
            and r["part"] == "encoder"]
    assert rows[0]["rows_above"] == "0"
    assert (tmp_path / "overlap.tsv").read_text().count("\n") == 1  # header only: one model, no pair
    assert "(threshold 2e-04)" in (tmp_path / "summary.md").read_text()
    assert not list(tmp_path.glob("*.png"))  # --no-figures


@pytest.mark.parametrize("args,needle", [
    (["--finetuned", "koen"], "expected NAME=PATH"),
    (["--finetuned", "a=x.pt", "a=y.pt"], "given twice"),
    (["--finetuned", "a b=x.pt"], "model name 'a b'"),
    (["--finetuned", "a=/nonexistent/ft.pt"], "/nonexistent/ft.pt"),
    (["--finetuned", "a=BASE", "--threshold", "0"], "threshold must be positive"),
    (["--finetuned", "a=BASE", "--min-pct", "150"], "min_pct must be a percentage"),
])
def test_bad_arguments_exit_2_with_one_line(tiny_whisper, tmp_path, capsys, args, needle):
    args = [a.replace("BASE", str(tiny_whisper)) for a in args]
    rc = main(["--base", str(tiny_whisper), "--out", str(tmp_path / "o"), "-q", *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("cs-mav: error: ") and err.count("\n") == 1, err
    assert needle in err


def test_foreign_model_named_in_error(tiny_whisper, tmp_path, capsys):
    from espnet_cs_ext.whisper.tiny import save_tiny_whisper

    other = save_tiny_whisper(tmp_path / "other_seed.pt", seed=3)
    rc = main(["--base", str(tiny_whisper), "--finetuned", f"de-en={other}", "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "'de-en'" in err and "other_seed.pt" in err and "does not look fine-tuned from base" in err
    assert not (tmp_path / "o" / "mav.tsv").exists()
