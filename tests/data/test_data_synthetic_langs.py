"""French, Spanish and Italian in the synthetic CS corpus, through the CLI:
`cs-prepare synthetic --pairs fr-en,es-de,... --utts-per-pair 3` makes valid 16 kHz
data dirs whose transcripts hold both languages of the pair."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import soundfile as sf

from cs_data_helpers import read_table
from espnet_cs_ext.bin.cs_prepare import main as cs_prepare
from espnet_cs_ext.data.synthetic.articles import BEFORE_VOWEL, FORMS, IT_LO
from espnet_cs_ext.data.synthetic.compose import load_inventory
from espnet_cs_ext.data.validate import validate

PAIRS = ("fr-en", "es-de", "it-en", "fr-de", "ko-fr")
# Hangul runs apart from Latin ones: a Korean particle sticks to an inserted Latin noun
_TOKEN = re.compile(r"[가-힣]+|[^\W\d_가-힣]+")


def _tokens(text: str) -> set:
    return set(_TOKEN.findall(text.lower()))


def _vocab(lang: str) -> set:
    """Every token the bundled lists can produce in `lang` (articles in all their forms)."""
    inv = load_inventory()
    forms = [f for table in (FORMS, BEFORE_VOWEL) for per_key in table.get(lang, {}).values()
             for f in per_key.values()] + (list(IT_LO.values()) if lang == "it" else [])
    out = set()
    for rows in (inv.words, inv.frames, inv.sentences):
        for r in rows:
            out |= _tokens(re.sub(r"\{[A-Za-z]+\}", " ", r[lang]))
    return out | _tokens(" ".join(forms))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic_langs")
    assert cs_prepare(["synthetic", "--pairs", ",".join(PAIRS), "--utts-per-pair", "3", "--seed", "1",
                       "--text-per-pair", "20", "--no-progress", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("pair", PAIRS)
def test_dirs_are_valid_16k(corpus: Path, pair: str):
    d = corpus / f"train_{pair}"
    rep, _ = validate(d)
    assert not rep.errors and len(rep.kept) == 3, rep.summary()
    for path in read_table(d / "wav.scp").values():
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert set(read_table(d / "utt2lang").values()) <= set(pair.split("-"))


@pytest.mark.parametrize("pair", PAIRS)
def test_transcripts_hold_both_languages(corpus: Path, pair: str):
    a, b = pair.split("-")
    vocab = {a: _vocab(a), b: _vocab(b)}
    d = corpus / f"train_{pair}"
    text = read_table(d / "text")
    for line in (d / "cs_segments.jsonl").read_text(encoding="utf-8").splitlines():
        j = json.loads(line)
        assert {s["lang"] for s in j["segments"]} == {a, b}, j
        for s in j["segments"]:  # each segment is in its own language's words
            assert _tokens(s["text"]) <= vocab[s["lang"]], (s, _tokens(s["text"]) - vocab[s["lang"]])
            assert s["text"] in text[j["utt"]]
    seen = set().union(*(_tokens(t) for t in text.values()))
    assert seen & (vocab[a] - vocab[b]), f"no word only {a} has in {pair}"
    assert seen & (vocab[b] - vocab[a]), f"no word only {b} has in {pair}"


def test_voices_are_the_good_tier_where_installed(corpus: Path):
    from espnet_cs_ext.data.synthetic import tts
    got = json.loads((corpus / "tts.json").read_text())
    for lang in ("fr", "es", "it"):
        want = ["pico"] if tts.backend_available("pico", "") else ["espeak-ng"]
        assert got[lang]["backends"] == want, (lang, got[lang])
