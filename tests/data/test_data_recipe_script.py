"""egs2/cs_unseen/asr1/local/data.sh end to end: db.sh corpora + synthetic corpus,
validation stops on bad data unless --drop_bad true, sets lists and combined sets."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cs_data_helpers import read_table, write_wav

SCRIPT = Path(__file__).resolve().parents[2] / "egs2" / "cs_unseen" / "asr1" / "local" / "data.sh"


def run(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(["bash", "local/data.sh", *args], cwd=recipe, env=env, capture_output=True, text=True)


def make_recipe(tmp_path: Path, db: str = "") -> Path:
    recipe = tmp_path / "asr1"
    (recipe / "local").mkdir(parents=True)
    shutil.copy(SCRIPT, recipe / "local" / "data.sh")
    (recipe / "db.sh").write_text(db)
    return recipe


def make_kode(root: Path, bad: bool = False) -> Path:
    rows = [("s1", "0001", "오늘 Besprechung 있어요."), ("s2", "0002", "" if bad else "이 Kuchen 맛있어요.")]
    root.mkdir(parents=True)
    with open(root / "metadata.jsonl", "w", encoding="utf-8") as f:
        for s, i, t in rows:
            write_wav(root / "audio" / f"{s}_{i}.wav", 1.0)
            f.write(json.dumps({"file_name": f"audio/{s}_{i}.wav", "text": t, "speaker": s, "id": i}) + "\n")
    return root


def test_data_sh_synthetic_plus_db_corpus(tmp_path: Path):
    kode = make_kode(tmp_path / "kode")
    recipe = make_recipe(tmp_path, f"KODE={kode}\n")
    r = run(recipe, "--utts_per_pair", "10", "--unseen_utts", "2", "--pairs", "ko-en,de-en,ko-de",
            "--unseen_pairs", "ko-de")
    assert r.returncode == 0, r.stdout + r.stderr
    data = recipe / "data"
    assert (data / "train_sets.txt").read_text().split() == ["train_de-en", "train_ko-en"]
    assert (data / "dev_sets.txt").read_text().split() == ["dev_de-en", "dev_ko-en"]
    assert (data / "test_sets.txt").read_text().split() == ["test_de-en", "test_ko-de", "test_ko-en"]
    # ko-de has a real set, so it is not synthesised; the pair name points at it
    assert not (data / "synthetic" / "test_ko-de").exists()
    assert read_table(data / "pair_sets.txt") == {"dev_de-en": "dev_synthetic_de-en", "dev_ko-en": "dev_synthetic_ko-en",
                                                  "test_de-en": "test_synthetic_de-en", "test_ko-de": "test_kode",
                                                  "test_ko-en": "test_synthetic_ko-en",
                                                  "train_de-en": "train_synthetic_de-en",
                                                  "train_ko-en": "train_synthetic_ko-en"}
    assert read_table(data / "test_ko-de" / "text") == read_table(data / "test_kode" / "text")
    assert not (data / "train_seen").exists()  # the recipe pools its own train_all (stage 4)
    assert list(read_table(data / "test_kode" / "category2utt")) == ["ko-de"]
    assert read_table(data / "test_kode" / "text")["kode-s1-0001"] == "오늘 Besprechung 있어요."
    assert (data / "test_kode" / "validate_report.txt").exists()
    # rerun: the corpus step is skipped (.done) and everything else is reproduced
    r2 = run(recipe, "--utts_per_pair", "10", "--unseen_utts", "2", "--pairs", "ko-en,de-en,ko-de",
             "--unseen_pairs", "ko-de")
    assert r2.returncode == 0 and "already prepared" in r2.stdout


def test_data_sh_stops_on_a_set_but_missing_corpus_path(tmp_path: Path):
    recipe = make_recipe(tmp_path, f"KOJA={tmp_path / 'no_such_dir'}\n")
    r = run(recipe, "--utts_per_pair", "10", "--pairs", "ko-en,ko-ja", "--unseen_pairs", "ko-ja")
    assert r.returncode == 2
    assert f"KOJA={tmp_path / 'no_such_dir'} (db.sh or the environment) does not exist" in r.stderr
    assert not (recipe / "data").exists()  # stopped before writing anything


def test_data_sh_stops_on_bad_data_unless_told(tmp_path: Path):
    kode = make_kode(tmp_path / "kode", bad=True)
    recipe = make_recipe(tmp_path, f"KODE={kode}\nAIHUB_KOEN=\n")
    r = run(recipe, "--synthetic", "false")
    assert r.returncode != 0
    assert "empty-text: kode-s2-0002" in r.stderr and "--drop-bad" in r.stderr
    r = run(recipe, "--synthetic", "false", "--stage", "3", "--drop_bad", "true")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "dropped: 1" in r.stdout
    assert list(read_table(recipe / "data" / "test_kode" / "text")) == ["kode-s1-0001"]
    assert list(read_table(recipe / "data" / "test_ko-de" / "text")) == ["kode-s1-0001"]


def test_data_sh_options(tmp_path: Path):
    recipe = make_recipe(tmp_path)
    r = run(recipe, "--bogus", "1")
    assert r.returncode == 2 and "unknown option --bogus" in r.stderr
    r = run(recipe, "--help")
    assert r.returncode == 0 and "--utts_per_pair" in r.stdout and "HIKE" in r.stdout
    r = run(recipe, "--synthetic", "false")
    assert r.returncode != 0 and "no data dirs" in r.stderr
