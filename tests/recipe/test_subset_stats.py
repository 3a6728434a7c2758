"""A per-pair system's shape files cut from the pooled collect_stats run (stage 5)."""
from __future__ import annotations

from pathlib import Path

import pytest

from espnet_cs_ext.recipe.subset_stats import cut_stats, mismatch
from espnet_cs_ext.utils.errors import CsExtError

POOLED = {"a1": ("x.ark:10", "hello 안녕", "<|ko|> <|transcribe|>", "31,80", "5"),
          "a2": ("x.ark:99", "good 좋아", "<|ko|> <|transcribe|>", "40,80", "4"),
          "b1": ("y.ark:10", "gut good", "<|de|> <|transcribe|>", "22,80", "3")}


def _data_dir(path: Path, ids, override=None) -> Path:
    path.mkdir(parents=True)
    rows = {k: POOLED[k] for k in ids}
    rows.update(override or {})
    for i, name in enumerate(("feats.scp", "text", "prompt")):
        (path / name).write_text("".join(f"{k} {v[i]}\n" for k, v in rows.items()), encoding="utf-8")
    return path


def _stats(path: Path) -> Path:
    for split in ("train", "valid"):
        d = path / split
        d.mkdir(parents=True)
        (d / "speech_shape").write_text("".join(f"{k} {v[3]}\n" for k, v in POOLED.items()))
        (d / "text_shape").write_text("".join(f"{k} {v[4]}\n" for k, v in POOLED.items()))
        (d / "batch_keys").write_text("speech\ntext\n")
        (d / "feats_stats.npz").write_bytes(b"pooled mean/var")
    return path


def test_subset_shapes_are_the_pooled_lines_in_subset_order(tmp_path):
    pooled = _data_dir(tmp_path / "train_all", ["b1", "a1", "a2"])
    sub = _data_dir(tmp_path / "train_ko-en", ["a2", "a1"])
    out = tmp_path / "stats_ko-en"
    cut_stats(_stats(tmp_path / "stats_all"), [("train", sub, pooled), ("valid", sub, pooled)], out)
    for split in ("train", "valid"):
        assert (out / split / "speech_shape").read_text() == "a2 40,80\na1 31,80\n"
        assert (out / split / "text_shape").read_text() == "a2 4\na1 5\n"
        assert (out / split / "batch_keys").read_text() == "speech\ntext\n"
        assert not (out / split / "feats_stats.npz").exists()  # pooled statistics are not the subset's


@pytest.mark.parametrize("override, file", [
    ({"a1": ("x.ark:11",) + POOLED["a1"][1:]}, "feats.scp"),   # other features, same id
    ({"a1": (POOLED["a1"][0], "hello", *POOLED["a1"][2:])}, "text"),
    ({"zz": POOLED["a1"]}, "feats.scp"),                        # not in the pooled dir
])
def test_entries_that_differ_are_refused_and_nothing_is_written(tmp_path, override, file):
    pooled = _data_dir(tmp_path / "train_all", ["b1", "a1", "a2"])
    sub = _data_dir(tmp_path / "train_ko-en", ["a1"], override)
    why = mismatch(sub, pooled)
    assert why is not None and why.startswith(str(sub / file))
    out = tmp_path / "stats_ko-en"
    with pytest.raises(CsExtError, match="cannot reuse"):
        cut_stats(_stats(tmp_path / "stats_all"), [("train", sub, pooled)], out)
    assert not out.exists()


def test_missing_shape_is_named(tmp_path):
    pooled = _data_dir(tmp_path / "train_all", ["b1", "a1", "a2"])
    sub = _data_dir(tmp_path / "train_ko-en", ["a1", "a2"])
    stats = _stats(tmp_path / "stats_all")
    (stats / "train" / "text_shape").write_text("a1 5\n")
    with pytest.raises(CsExtError, match=r"text_shape: no shape for 1 utterance\(s\) .* e\.g\. a2"):
        cut_stats(stats, [("train", sub, pooled)], tmp_path / "out")
    assert not (tmp_path / "out").exists()
