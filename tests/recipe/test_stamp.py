"""Stage markers: inputs are files, directories or plain strings (option values, lists)."""
from __future__ import annotations

from espnet_cs_ext.recipe.stamp import fingerprint, is_done, mark_done


def test_file_change_and_long_string_values(tmp_path):
    f = tmp_path / "text"
    f.write_text("a\n")
    long_value = "\n".join(f"model_{i} exp/asr_{i}/latest.pth " + "x" * 300 for i in range(5))  # > NAME_MAX
    marker = tmp_path / ".done"
    mark_done(marker, [str(f), long_value, "ko-en ja-en"])
    assert is_done(marker, [str(f), long_value, "ko-en ja-en"])
    assert not is_done(marker, [str(f), long_value + "!", "ko-en ja-en"])
    f.write_text("b\n")
    assert not is_done(marker, [str(f), long_value, "ko-en ja-en"])


def test_directory_ignores_hidden_markers(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "wav.scp").write_text("u1 a.wav\n")
    before = fingerprint([str(d)])
    (d / ".stage2.done").write_text("x")
    assert fingerprint([str(d)]) == before
    (d / "text").write_text("u1 hi\n")
    assert fingerprint([str(d)]) != before


def test_empty_option_value_is_a_string_not_the_working_dir(tmp_path, monkeypatch):
    """`--asr_args ""` reaches the marker as an empty input: it must not fingerprint "."
    (the recipe dir, exp/ and data/ included), or any later output retrains every system."""
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "train.yaml"
    f.write_text("lr: 1\n")
    marker = tmp_path / "exp" / ".done"
    marker.parent.mkdir()
    mark_done(marker, [str(f), "base", ""])
    (tmp_path / "exp" / "RESULTS.md").write_text("a later stage's output\n")
    (tmp_path / "decoded").mkdir()
    assert is_done(marker, [str(f), "base", ""])
    assert fingerprint([""]) != fingerprint(["."])
