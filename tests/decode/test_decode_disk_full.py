"""A decode that cannot write (file-size limit: EFBIG, the same path as a full disk) stops with
one line naming the output and leaves the previous decode's text in place; rerun without the
limit, it resumes and finishes."""
from __future__ import annotations

import resource
import signal
import subprocess
import sys


def test_write_error_keeps_previous_text(lively_pt, data_copy, tmp_path):
    from espnet_cs_ext.bin.decode import main

    out = tmp_path / "dec"
    conf = tmp_path / "greedy.yaml"
    conf.write_text("language: en\nmax_new_tokens: 6\n")
    common = ["--model", str(lively_pt), "--data", str(data_copy), "--out", str(out), "--no-progress"]
    assert main(common + ["--config", str(conf)]) == 0
    previous = (out / "text").read_bytes()
    conf2 = tmp_path / "greedy2.yaml"  # other settings: a real re-decode
    conf2.write_text("language: en\nmax_new_tokens: 8\n")

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    p = subprocess.run([sys.executable, "-m", "espnet_cs_ext.bin.decode", *common, "--config", str(conf2)],
                       capture_output=True, text=True, preexec_fn=small_files, timeout=600)
    assert p.returncode == 2, p.stderr
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith(f"decode: error: {out / 'text'}: cannot write the decoding output: File too large"), last
    assert "previous one is left in place" in last
    assert (out / "text").read_bytes() == previous
    assert main(common + ["--config", str(conf2)]) == 0  # room again: finishes
