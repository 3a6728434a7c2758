"""Issue 21's bad-input sweep, as tables: cs-score and cs-prepare (validate, synthetic).

Each row: the input, the exit status, a fragment of the one-line error (or of the
console line / report) and the files that must not exist afterwards.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from espnet_cs_ext.bin.cs_prepare import main as cs_prepare
from espnet_cs_ext.bin.cs_score import main as cs_score

BOM = b"\xef\xbb\xbf"


def _w(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# (name, ref bytes, hyp bytes, extra args, exit, fragment in the error (stdout summary when 0), outputs that must not exist)
SCORE_CASES = [
    ("bom-in-hyp", b"u1 a b\nu2 c\n", BOM + b"u1 a b\nu2 c\n", [], 0, "0 missing hypotheses", []),
    ("bom-in-ref", BOM + b"u1 a b\n", b"u1 a b\n", [], 0, "0 missing hypotheses", []),
    ("zero-width-id", b"u1 a\n", b"u1\xe2\x80\x8b a\n", [], 2, "u1\\u200b", ["out"]),
    ("empty-hyp", b"u1 a\nu2 b\n", b"", [], 0, "2 missing hypotheses", []),
    ("incomplete-hyp", b"u1 a\nu2 b\n", b"u1 a\n", [], 0, "1 missing hypotheses", []),
    ("empty-hyp-strict", b"u1 a\nu2 b\n", b"", ["--strict"], 2, "2 reference utterance(s) have no hypothesis",
     ["out"]),
    ("incomplete-strict-bleu", b"u1 a\nu2 b\n", b"u1 a\n", ["--strict", "--metric", "bleu"], 2,
     "1 reference utterance(s) have no hypothesis (--strict): u2", ["out"]),
    ("complete-strict", b"u1 a\n", b"u1 a\n", ["--strict"], 0, "0 missing hypotheses", []),
]


@pytest.mark.parametrize("name,ref,hyp,args,rc,frag,absent", SCORE_CASES, ids=[c[0] for c in SCORE_CASES])
def test_cs_score_table(tmp_path, capsys, name, ref, hyp, args, rc, frag, absent):
    r, h = _w(tmp_path / "ref", ref), _w(tmp_path / "hyp", hyp)
    got = cs_score(["--ref", str(r), "--hyp", str(h), "--out", str(tmp_path / "out"), *args])
    cap = capsys.readouterr()
    err = cap.err
    assert got == rc, err
    assert frag in (err if rc else cap.out), cap
    if rc:
        assert len(err.strip().splitlines()) == 1 and err.startswith("cs-score: error: "), err
    for a in absent:
        assert not (tmp_path / a).exists()


def _wav(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(int(16000 * seconds), dtype=np.float32), 16000, subtype="PCM_16")
    return path


def _truncated(path: Path) -> Path:
    """A header that promises 1 s (16000 samples) over a file that holds 78."""
    _wav(path, 1.0)
    raw = path.read_bytes()
    return _w(path, raw[:44 + 2 * 78])


def _data_dir(root: Path, wavs: dict, text_prefix: bytes = b"") -> Path:
    d = root / "dir"
    d.mkdir(parents=True)
    (d / "wav.scp").write_text("".join(f"{u} {p}\n" for u, p in sorted(wavs.items())))
    (d / "text").write_bytes(text_prefix + "".join(f"{u} hello\n" for u in sorted(wavs)).encode())
    return d


# (name, {utt: wav builder}, text prefix, exit, fragment in the output, nothing under --out)
VALIDATE_CASES = [
    ("truncated", {"u1": _truncated}, b"", 2, "truncated: u1", True),
    ("too-short", {"u1": lambda p: _wav(p, 0.01)}, b"", 2, "too-short: u1", True),
    ("missing-file", {"u1": lambda p: p.parent / "nope.wav"}, b"", 2, "missing-file: u1", True),
    ("bom-text", {"u1": lambda p: _wav(p, 1.0)}, BOM, 0, "note utf8-bom: 1", False),
]


@pytest.mark.parametrize("name,wavs,prefix,rc,frag,nothing_out", VALIDATE_CASES, ids=[c[0] for c in VALIDATE_CASES])
def test_cs_prepare_validate_table(tmp_path, capsys, name, wavs, prefix, rc, frag, nothing_out):
    d = _data_dir(tmp_path, {u: b(tmp_path / "wav" / f"{u}.wav") for u, b in wavs.items()}, prefix)
    out = tmp_path / "out"
    got = cs_prepare(["validate", str(d), "--out", str(out), "--report", str(tmp_path / "report.txt")])
    captured = capsys.readouterr()
    text = captured.err + captured.out + (tmp_path / "report.txt").read_text()
    assert got == rc, captured.err
    assert frag in text, text
    if nothing_out:
        assert not out.exists()
    else:
        assert (out / "text").read_text().startswith("u1 hello")  # the BOM is not part of the id


def test_truncated_wav_detail_names_the_promise(tmp_path):
    from espnet_cs_ext.data.validate import validate

    d = _data_dir(tmp_path, {"u1": _truncated(tmp_path / "wav" / "u1.wav")})
    rep, _ = validate(d)
    [issue] = rep.errors
    assert issue.kind == "truncated" and "promises 16000 samples" in issue.detail and "holds 78" in issue.detail


# (name, argv after `synthetic`, exit, fragment, paths under tmp that must not exist)
SYNTH_CASES = [
    ("unknown-language", ["--pairs", "ko-xx"], 2, "language 'xx'", ["out"]),
    ("split-sum", ["--pairs", "de-en", "--split", "0.5,0.9,0.1"], 2, "must sum to 1", ["out"]),
    ("bad-pair", ["--pairs", "koen"], 2, "bad pair 'koen'", ["out"]),
]


@pytest.mark.parametrize("name,args,rc,frag,absent", SYNTH_CASES, ids=[c[0] for c in SYNTH_CASES])
def test_cs_prepare_synthetic_table(tmp_path, capsys, name, args, rc, frag, absent):
    got = cs_prepare(["synthetic", *args, "--utts-per-pair", "2", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert got == rc and frag in err, err
    assert len(err.strip().splitlines()) == 1, err
    for a in absent:
        assert not (tmp_path / a).exists()


def test_missing_audio_says_no_such_file(tmp_path):
    from espnet_cs_ext.data.audio import read_audio
    from espnet_cs_ext.utils.errors import CsExtError

    with pytest.raises(CsExtError, match="nope.wav: no such file"):
        read_audio(str(tmp_path / "nope.wav"))


def test_whisper_audio_missing_says_no_such_file(tmp_path):
    from espnet_cs_ext.utils.errors import CsExtError
    from espnet_cs_ext.whisper.audio import load_audio_16k

    with pytest.raises(CsExtError, match="gone.wav: no such file"):
        load_audio_16k(tmp_path / "gone.wav")
