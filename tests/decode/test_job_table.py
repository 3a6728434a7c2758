"""decode --job-table FILE --job-index I: line I of FILE supplies that job's arguments."""
from __future__ import annotations

import pytest

from espnet_cs_ext.bin.decode import _job_args
from espnet_cs_ext.utils.errors import CsExtError


def test_line_words_are_appended(tmp_path):
    table = tmp_path / "jobs.txt"
    table.write_text("--model a.pt --data d1 d2 --out o1 o2 --nj 2 --job 1\n"
                     "--model 'b c.pt' --data d1 --out o1 --nj 2 --job 2\n")
    common = ["--config", "x.yaml", "--no-progress"]
    assert _job_args(["--job-table", str(table), "--job-index", "2", *common]) == \
        common + ["--model", "b c.pt", "--data", "d1", "--out", "o1", "--nj", "2", "--job", "2"]
    assert _job_args(common) == common  # no table: unchanged
    # a plain sharded call (`--nj 2 --job 1`) is not mistaken for an abbreviated --job-table
    assert _job_args(["--model", "m", "--nj", "2", "--job", "1"]) == ["--model", "m", "--nj", "2", "--job", "1"]


@pytest.mark.parametrize("index, message", [
    ("3", r"jobs.txt: no job 3 \(it lists 2\)"),
    ("0", r"jobs.txt: no job 0 \(it lists 2\)"),
    (None, r"--job-table needs --job-index"),
])
def test_bad_index_is_named(tmp_path, index, message):
    table = tmp_path / "jobs.txt"
    table.write_text("--model a --data d --out o\n--model b --data d --out o\n")
    argv = ["--job-table", str(table)] + ([] if index is None else ["--job-index", index])
    with pytest.raises(CsExtError, match=message):
        _job_args(argv)


def test_missing_table_is_named(tmp_path):
    with pytest.raises(CsExtError, match="cannot read job table .*nope.txt"):
        _job_args(["--job-table", str(tmp_path / "nope.txt"), "--job-index", "1"])
