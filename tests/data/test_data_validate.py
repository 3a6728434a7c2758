"""cs-prepare validate: every bad input is named; nothing is dropped silently;
the formatted copy is sorted, 16 kHz mono 16-bit."""
from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from cs_data_helpers import read_table, write_wav
from espnet_cs_ext.data.validate import format_data_dir, validate
from espnet_cs_ext.utils.errors import CsExtError

# utt -> (expected error kind or None)
EXPECTED = {
    "g1": None, "g2": None, "g3": None, "g4": None,
    "m1": "missing-file", "c1": "unreadable", "c2": "unreadable", "z0": "zero-length", "z1": "zero-length",
    "d1": "duplicate-id", "t1": "no-audio", "a1": "no-text", "n1": "non-utf8",
    "e1": "empty-text", "p1": "empty-text", "l1": "too-long",
}


def make_bad_dir(root: Path) -> Path:
    d = root / "bad"
    w = root / "wav"
    specs = {
        "g1": write_wav(w / "g1.wav", 1.0),
        "g2": write_wav(w / "g2.wav", 1.0, sr=44100, channels=2, subtype="FLOAT"),   # stereo float 44.1k
        "g3": write_wav(w / "g3.wav", 1.5, sr=8000, subtype="PCM_24"),               # 8 kHz 24-bit
        "m1": w / "does_not_exist.wav",
        "c1": w / "c1.wav", "c2": w / "c2.wav",
        "z0": w / "z0.wav",
        "z1": write_wav(w / "z1.wav", 0.0),
        "d1": write_wav(w / "d1.wav", 1.0),
        "a1": write_wav(w / "a1.wav", 1.0),
        "n1": write_wav(w / "n1.wav", 1.0),
        "e1": write_wav(w / "e1.wav", 1.0), "p1": write_wav(w / "p1.wav", 1.0),
        "l1": write_wav(w / "l1.wav", 31.0),
    }
    (w / "c1.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")          # corrupt header
    good = (w / "g1.wav").read_bytes()
    (w / "c2.wav").write_bytes(b"garbage!" + good[8:200])                        # not a wav at all
    (w / "z0.wav").write_bytes(b"")                                              # empty file
    d.mkdir()
    wav_lines = [f"{u} {p}" for u, p in specs.items()]
    wav_lines.append(f"g4 cat {specs['g1']} |")                                  # a Kaldi pipe
    (d / "wav.scp").write_text("\n".join(reversed(wav_lines)) + "\n")           # unsorted on purpose
    text = [b"g1 \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 meeting", "g2 会議 meeting".encode(), b"g3 hello world",
            b"g4 Hallo Welt", b"m1 missing", b"c1 corrupt", b"c2 corrupt", b"z0 empty file", b"z1 no samples",
            b"d1 first", b"d1 second", b"t1 text without audio", b"n1 caf\xe9 latin-1", b"e1", b"p1 ... !",
            b"l1 too long"]
    (d / "text").write_bytes(b"\n".join(text) + b"\n")
    (d / "utt2spk").write_text("".join(f"{u} {u}\n" for u in sorted(EXPECTED) if u != "g3"))
    (d / "utt2category").write_text("".join(f"{u} ko-en\n" for u in sorted(EXPECTED)))
    return d


def test_every_bad_item_is_named(tmp_path: Path):
    d = make_bad_dir(tmp_path)
    rep, _ = validate(d)
    named = {(i.kind, i.item) for i in rep.errors}
    for utt, kind in EXPECTED.items():
        if kind:
            assert (kind, utt) in named, (utt, kind, sorted(named))
            assert rep.dropped[utt] == kind
    assert rep.kept == ["g1", "g2", "g3", "g4"]
    notes = {(i.kind, i.item) for i in rep.notes}
    assert ("converted", "g2") in notes and ("converted", "g3") in notes and ("converted", "g4") in notes
    assert ("unsorted", "wav.scp") in notes and ("utt2spk-missing", "g3") in notes


def test_default_stops_with_a_message_naming_items(tmp_path: Path):
    d = make_bad_dir(tmp_path)
    with pytest.raises(CsExtError) as e:
        format_data_dir(d, tmp_path / "out")
    msg = str(e.value)
    assert "--drop-bad" in msg and "12 bad utterance(s)" in msg
    for utt, kind in EXPECTED.items():
        if kind:
            assert f"{kind}: {utt} " in msg, (utt, kind)
    assert not (tmp_path / "out" / "text").exists()
    assert "missing-file: m1" in (tmp_path / "out" / "validate_report.txt").read_text()


def test_drop_bad_writes_a_clean_16k_mono_copy_and_reports_counts(tmp_path: Path):
    d = make_bad_dir(tmp_path)
    out = tmp_path / "out"
    rep = format_data_dir(d, out, drop_bad=True)
    assert rep.counts() == {"missing-file": 1, "unreadable": 2, "zero-length": 2, "duplicate-id": 1, "no-audio": 1,
                            "no-text": 1, "non-utf8": 1, "empty-text": 2, "too-long": 1}
    assert list(read_table(out / "text")) == ["g1", "g2", "g3", "g4"]
    assert read_table(out / "text")["g2"] == "会議 meeting"
    assert read_table(out / "utt2spk")["g3"] == "g3"
    assert list(read_table(out / "utt2category")) == ["g1", "g2", "g3", "g4"]
    assert (out / "spk2utt").exists() and (out / "utt2dur").exists()
    wav = read_table(out / "wav.scp")
    assert wav["g1"] == str((tmp_path / "wav" / "g1.wav").resolve())   # canonical audio kept in place
    for u in ("g2", "g3", "g4"):
        assert wav[u].startswith(str(out.resolve() / "audio"))
        info = sf.info(wav[u])
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert abs(sf.info(wav["g3"]).duration - 1.5) < 0.01
    report = (out / "validate_report.txt").read_text()
    assert "dropped: 12" in report and "l1 too-long" in report and "n1 non-utf8" in report
    # the copy validates cleanly
    rep2, _ = validate(out)
    assert not rep2.errors and rep2.kept == ["g1", "g2", "g3", "g4"]


def test_segments_are_checked_against_their_recording(tmp_path: Path):
    d = tmp_path / "seg"
    d.mkdir()
    rec = write_wav(tmp_path / "rec.wav", 5.0)
    (d / "wav.scp").write_text(f"rec1 {rec}\nrec2 {tmp_path / 'gone.wav'}\n")
    (d / "segments").write_text("s1 rec1 0.0 2.0\ns2 rec1 2.0 4.5\ns3 rec1 4.0 9.0\ns4 rec1 3.0 2.0\ns5 rec2 0 1\ns6 recX 0 1\n")
    (d / "text").write_text("".join(f"s{i} word {i}\n" for i in range(1, 7)))
    rep, _ = validate(d)
    assert rep.kept == ["s1", "s2", "s3"]            # s3 ends past the recording: clipped, kept
    assert rep.dropped == {"s4": "bad-segment", "s5": "missing-file", "s6": "no-audio"}
    out = tmp_path / "out"
    format_data_dir(d, out, drop_bad=True)
    assert list(read_table(out / "segments")) == ["s1", "s2", "s3"]
    assert list(read_table(out / "wav.scp")) == ["rec1"]


def test_cli_validate(tmp_path: Path, capsys):
    from espnet_cs_ext.bin.cs_prepare import main
    d = make_bad_dir(tmp_path)
    assert main(["validate", str(d)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cs-prepare: error:") and "non-utf8: n1" in err
    assert main(["validate", str(d), "--out", str(tmp_path / "o"), "--drop-bad"]) == 0
    out = capsys.readouterr().out
    assert "kept: 4" in out and "error too-long: 1" in out
    assert main(["validate", str(tmp_path / "nope")]) == 2
    assert "not a data dir" in capsys.readouterr().err


@pytest.mark.parametrize("info, kept", [(None, False), ('{"empty_refs_scored": false}', False),
                                        ('{"empty_refs_scored": true}', True)])
def test_empty_references_kept_only_where_the_corpus_scores_them(tmp_path: Path, info, kept):
    d = tmp_path / "d"
    d.mkdir()
    (d / "wav.scp").write_text(f"u1 {write_wav(tmp_path / 'u1.wav', 1.0)}\nu2 {write_wav(tmp_path / 'u2.wav', 1.0)}\n")
    (d / "text").write_text("u1 hello\nu2 \n")
    if info is not None:
        (d / "info.json").write_text(info)
    rep, _ = validate(d)
    assert [(i.kind, i.item) for i in rep.errors] == ([] if kept else [("empty-text", "u2")])
    assert [(i.kind, i.item) for i in rep.notes if i.kind == "empty-ref-kept"] == ([("empty-ref-kept", "u2")] if kept else [])
    if kept:
        format_data_dir(d, tmp_path / "out")
        assert read_table(tmp_path / "out" / "text") == {"u1": "hello", "u2": ""}


def test_unreadable_info_json_is_named(tmp_path: Path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "wav.scp").write_text(f"u1 {write_wav(tmp_path / 'u1.wav', 1.0)}\n")
    (d / "text").write_text("u1 hello\n")
    (d / "info.json").write_text("{not json")
    with pytest.raises(CsExtError, match="info.json: not a JSON object"):
        validate(d)
