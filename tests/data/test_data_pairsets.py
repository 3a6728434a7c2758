"""`<split>_<pair>` names point at the best source (paper protocol when corpora exist)."""
from __future__ import annotations

import json
from pathlib import Path

from cs_data_helpers import read_table
from espnet_cs_ext.data.datadir import Utt, combine_data_dirs, write_data_dir
from espnet_cs_ext.data.pairsets import make_pair_sets


def _dir(root: Path, name: str, pair: str, n: int = 1):
    utts = [Utt(f"{name}-{i}", f"{name}-{i}", f"t {i}", f"/x/{name}-{i}.wav", pair, pair[:2]) for i in range(n)]
    write_data_dir(root / name, utts, info={"corpus": name})


def test_priorities(tmp_path: Path):
    for name, pair in [("test_csfleurs_read_ko-en", "ko-en"), ("test_hike", "ko-en"), ("test_aihub_koen", "ko-en"),
                       ("train_aihub_koen", "ko-en"), ("train_synthetic_ko-en", "ko-en"), ("test_synthetic_ko-en", "ko-en"),
                       ("test_synthetic_ko-ja", "ko-ja"), ("test_koja", "ko-ja"), ("train_synthetic_ja-en", "ja-en"),
                       ("test_csfleurs_read_zh-en", "zh-en"), ("test1_csfleurs_xtts_de-en", "de-en")]:
        _dir(tmp_path, name, pair)
    got = make_pair_sets(tmp_path)
    assert got == {"test_ko-en": "test_csfleurs_read_ko-en", "train_ko-en": "train_aihub_koen",
                   "test_ko-ja": "test_koja", "train_ja-en": "train_synthetic_ja-en",
                   "test_zh-en": "test_csfleurs_read_zh-en"}
    assert json.loads((tmp_path / "test_ko-en" / "info.json").read_text()) == {"alias_of": "test_csfleurs_read_ko-en"}
    assert read_table(tmp_path / "test_ko-ja" / "text") == read_table(tmp_path / "test_koja" / "text")
    # a rerun replaces aliases and ignores them (and combined dirs) as sources
    combine_data_dirs(tmp_path / "train_seen", [tmp_path / "train_ko-en", tmp_path / "train_ja-en"])
    assert make_pair_sets(tmp_path) == got
    assert read_table(tmp_path / "train_seen" / "category2utt") == {"ja-en": "train_synthetic_ja-en-0",
                                                                   "ko-en": "train_aihub_koen-0"}
