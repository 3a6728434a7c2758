"""The synthetic CS corpus: layout, tables, scripts, audio format, determinism, resume."""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
import soundfile as sf

from cs_data_helpers import SYNTH_KWARGS, read_table
from espnet_cs_ext.data.text import script_counts

SEEN = ("ko-en", "ja-en", "de-en")
UNSEEN = ("ko-ja", "ko-de")
SCRIPTS = {"ko": {"hangul"}, "ja": {"kana", "han"}, "en": {"latin"}, "de": {"latin"}}


def test_layout(synthetic_corpus: Path):
    names = sorted(p.name for p in synthetic_corpus.iterdir() if p.is_dir() and "_" in p.name and p.name != "cs_text")
    expected = sorted([f"{s}_{p}" for p in SEEN for s in ("train", "dev", "test")] + [f"test_{p}" for p in UNSEEN])
    assert names == expected
    for name in expected:
        d = synthetic_corpus / name
        for f in ("wav.scp", "text", "utt2spk", "spk2utt", "utt2category", "category2utt", "utt2lang", "utt2dur",
                  "utt2kind", "cs_segments.jsonl", "info.json"):
            assert (d / f).exists(), (name, f)
    assert sorted(p.name for p in (synthetic_corpus / "cs_text").iterdir()) == [f"{p}.txt" for p in sorted(SEEN)]
    tts = json.loads((synthetic_corpus / "tts.json").read_text())
    assert set(tts) == {"ko", "ja", "en", "de"}
    assert tts["ja"]["backends"] == ["openjtalk"]


@pytest.mark.parametrize("pair", SEEN + UNSEEN)
def test_tables(synthetic_corpus: Path, pair: str):
    a, b = pair.split("-")
    splits = ("test",) if pair in UNSEEN else ("train", "dev", "test")
    sizes = {"train": 6, "dev": 2, "test": 2} if pair in SEEN else {"test": 4}
    kinds = set()
    for sp in splits:
        d = synthetic_corpus / f"{sp}_{pair}"
        text = read_table(d / "text")
        assert len(text) == sizes[sp]
        lines = (d / "text").read_text(encoding="utf-8").splitlines()
        ids = [l.split()[0] for l in lines]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        for f in ("wav.scp", "utt2spk", "utt2category", "utt2lang", "utt2dur"):
            assert list(read_table(d / f)) == ids, f
        assert set(read_table(d / "utt2category").values()) == {pair}
        assert read_table(d / "category2utt") == {pair: " ".join(ids)}
        assert set(read_table(d / "utt2lang").values()) <= {a, b}
        spk2utt = read_table(d / "spk2utt")
        assert sorted(u for v in spk2utt.values() for u in v.split()) == ids
        for u, spk in read_table(d / "utt2spk").items():
            assert u.startswith(spk + "-") and u.startswith(f"syn-{pair}-")
        kinds |= set(read_table(d / "utt2kind").values())
        for u, t in text.items():
            assert unicodedata.normalize("NFC", t) == t
            found = set(script_counts(t))
            assert found & SCRIPTS[a] and found & SCRIPTS[b], (u, t)  # both languages, own scripts
            assert found <= SCRIPTS[a] | SCRIPTS[b], (u, t)
    assert kinds <= {"intra", "inter"}


def test_audio_is_16k_mono_short_and_matches_utt2dur(synthetic_corpus: Path):
    for d in synthetic_corpus.glob("*_*-*"):
        durs = read_table(d / "utt2dur")
        for u, path in read_table(d / "wav.scp").items():
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert abs(info.frames / 16000 - float(durs[u])) < 0.01
            assert 1.0 <= info.frames / 16000 <= 9.0, (u, info.frames / 16000)


def test_segments_cover_both_languages_in_order(synthetic_corpus: Path):
    for d in synthetic_corpus.glob("*_*-*"):
        durs = read_table(d / "utt2dur")
        text = read_table(d / "text")
        for line in (d / "cs_segments.jsonl").read_text(encoding="utf-8").splitlines():
            j = json.loads(line)
            segs = j["segments"]
            assert {s["lang"] for s in segs} == set(d.name.split("_")[1].split("-"))
            ends = [0.0] + [x for s in segs for x in (s["start"], s["end"])] + [float(durs[j["utt"]])]
            assert ends == sorted(ends)
            for s in segs:
                assert s["text"] in text[j["utt"]]


def test_cs_text_corpus(synthetic_corpus: Path):
    lines = (synthetic_corpus / "cs_text" / "ko-en.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 50 and len(set(lines)) == 50
    assert all({"hangul", "latin"} <= set(script_counts(l)) for l in lines)


def test_rerun_resumes_without_resynthesis_and_is_deterministic(synthetic_corpus: Path, tmp_path: Path):
    from espnet_cs_ext.data.synthetic import prepare_synthetic
    before = {p: p.stat().st_mtime_ns for p in (synthetic_corpus / "audio").rglob("*.wav")}
    text_before = (synthetic_corpus / "test_ko-ja" / "text").read_text()
    # remove one wav: only that one is redone
    victim = sorted(before)[0]
    victim.unlink()
    prepare_synthetic(synthetic_corpus, **SYNTH_KWARGS)
    stats = json.loads((synthetic_corpus / "log" / "synthesis_stats.json").read_text())
    assert stats["synthesised"] == 1 and stats["skipped"] == len(before) - 1
    after = {p: p.stat().st_mtime_ns for p in (synthetic_corpus / "audio").rglob("*.wav")}
    assert set(after) == set(before)
    assert all(after[p] == before[p] for p in before if p != victim)
    assert (synthetic_corpus / "test_ko-ja" / "text").read_text() == text_before


def test_cli_synthetic_and_errors(tmp_path: Path, capsys):
    from espnet_cs_ext.bin.cs_prepare import main
    rc = main(["synthetic", "--pairs", "de-en", "--utts-per-pair", "2", "--split", "1,0,0",
               "--text-per-pair", "0", "--no-progress", "--tts", "de=espeak-ng,en=espeak-ng", "--out", str(tmp_path)])
    assert rc == 0
    assert "train_de-en" in capsys.readouterr().out
    assert json.loads((tmp_path / "tts.json").read_text())["de"]["backends"] == ["espeak-ng"]
    assert len(read_table(tmp_path / "train_de-en" / "text")) == 2
    assert main(["synthetic", "--pairs", "de-xx", "--utts-per-pair", "2", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cs-prepare: error:") and "language 'xx'" in err
    assert main(["synthetic", "--pairs", "de-en", "--test-only-pairs", "ko-ja", "--out", str(tmp_path / "y")]) == 2
    assert "not among --pairs" in capsys.readouterr().err


def test_backend_fallback_is_automatic_and_recorded(tmp_path: Path, monkeypatch):
    """Without pico/MBROLA/OpenJTalk the corpus is still made, with espeak-ng, and tts.json says so."""
    from espnet_cs_ext.data.synthetic import prepare_synthetic, tts
    real = tts.backend_available
    monkeypatch.setattr(tts, "backend_available", lambda b, n: b == "espeak-ng" and real(b, n))
    prepare_synthetic(tmp_path, pairs=["ja-en"], utts_per_pair=2, split=(1, 0, 0), text_per_pair=0, progress=False)
    info = json.loads((tmp_path / "tts.json").read_text())
    assert info["ja"]["backends"] == ["espeak-ng"] and info["ja"]["fallback"] is True
    assert "openjtalk" in info["ja"]["unavailable"] and "pico" in info["en"]["unavailable"]
    assert all("espeak-ng" in v for v in read_table(tmp_path / "train_ja-en" / "utt2tts").values())
    monkeypatch.setattr(tts, "backend_available", lambda b, n: False)
    with pytest.raises(Exception, match="no offline TTS for language 'en': install espeak-ng"):
        prepare_synthetic(tmp_path / "x", pairs=["ja-en"], utts_per_pair=2, progress=False)
