"""Synthetic monolingual ASR and X->en ST sets: aligned translations, held-out items, shared audio."""
from __future__ import annotations

import pytest
import soundfile as sf

from espnet_cs_ext.bin.cs_prepare import main as cs_prepare
from espnet_cs_ext.data.synthetic.compose import fill_frame, item_split, load_inventory, noun_gender
from espnet_cs_ext.data.synthetic.monolingual import MonoComposer, prepare_synthetic_monolingual
from espnet_cs_ext.utils.errors import CsExtError
from espnet_cs_ext.utils.kaldi import read_table


def _expected(source: str, lang: str):
    """(transcript in lang, English translation) rebuilt from the bundled lists by item ids."""
    inv = load_inventory()
    a, b = source.split("+")
    if a.startswith("f"):
        fr = next(f for f in inv.frames if f["id"] == a)
        w = next(x for x in inv.words if x["id"] == b)
        g = noun_gender(w, lang)
        return fill_frame(fr[lang], lang, w[lang], g), fill_frame(fr["en"], "en", w["en"], g)
    s1, s2 = (next(s for s in inv.sentences if s["id"] == i) for i in (a, b))
    return f"{s1[lang]} {s2[lang]}", f"{s1['en']} {s2['en']}"


def test_expected_sets_exist(synthetic_st):
    names = sorted(p.name for p in synthetic_st.iterdir() if (p / "text").exists())
    assert names == ["dev_st_de-en", "test_mono_de", "test_mono_en", "test_st_de-en", "train_st_de-en"]
    sizes = {n: len(read_table(synthetic_st / n / "text")) for n in names}
    assert sizes == {"train_st_de-en": 6, "dev_st_de-en": 2, "test_st_de-en": 2, "test_mono_de": 2, "test_mono_en": 2}


@pytest.mark.parametrize("name", ["train_st_de-en", "dev_st_de-en", "test_st_de-en"])
def test_st_text_is_the_aligned_english_translation(synthetic_st, name):
    d = synthetic_st / name
    split = name.split("_")[0]
    text, src, source = (read_table(d / f) for f in ("text", "text.src", "utt2source"))
    assert set(read_table(d / "utt2lang").values()) == {"de"}
    assert set(read_table(d / "utt2task").values()) == {"translate"}
    assert (d / "task").read_text() == "translate\n"
    assert set(read_table(d / "utt2category").values()) == {"de-en"}
    for utt in text:
        assert utt.startswith("syn-st-de-en-v") and utt.endswith(tuple(f"{split}{i:05d}" for i in range(10)))
        assert (src[utt], text[utt]) == _expected(source[utt], "de")
        # held-out rule of resources/synthetic/README.md: frames and sentences of this split only
        assert all(item_split(i) == split for i in source[utt].split("+") if not i.startswith("w"))


def test_mono_sets_share_the_st_recordings(synthetic_st):
    mono, st = synthetic_st / "test_mono_de", synthetic_st / "test_st_de-en"
    assert sorted(read_table(mono / "wav.scp").values()) == sorted(read_table(st / "wav.scp").values())
    assert sorted(read_table(mono / "text").values()) == sorted(read_table(st / "text.src").values())
    assert set(read_table(mono / "utt2task").values()) == {"transcribe"}
    assert (mono / "task").read_text() == "transcribe\n"
    assert not set(read_table(mono / "text")) & set(read_table(st / "text"))  # poolable ids
    en = read_table(synthetic_st / "test_mono_en" / "text")
    src = read_table(synthetic_st / "test_mono_en" / "utt2source")
    assert all(en[u] == _expected(src[u], "en")[0] for u in en)
    for wav in read_table(mono / "wav.scp").values():
        info = sf.info(wav)
        assert (info.samplerate, info.channels) == (16000, 1) and info.duration > 0.5


def test_plan_is_a_stable_prefix_across_sizes():
    """A test set of 3 is the first 3 of a test set of 6: the ASR and ST views can share audio."""
    import random

    def texts(n):
        comp, rng = MonoComposer(load_inventory(), "ja", "test"), random.Random("x")
        return [comp.draw(rng).text for _ in range(n)]

    assert texts(6)[:3] == texts(3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(langs=["en"], task="st"), "'en' cannot be an ST source"),
    (dict(langs=["xx"], task="asr"), "no offline TTS|no sentence lists"),
    (dict(langs=["de"], task="mt"), "task must be one of"),
    (dict(langs=["de"], task="st", splits=("valid",)), "splits must be among"),
    (dict(langs=["de"], task="st", utts_per_lang=3, splits=("dev",), split=(1, 0, 0)), "split 'dev' gets no utterances"),
])
def test_bad_requests(tmp_path, kwargs, message):
    with pytest.raises(CsExtError, match=message):
        prepare_synthetic_monolingual(tmp_path, progress=False, **kwargs)


def test_cli_synthetic_st(tmp_path, capsys):
    rc = cs_prepare(["synthetic-st", "--langs", "de", "--utts-per-lang", "10", "--split", "0.6,0.2,0.2",
                     "--splits", "test", "--out", str(tmp_path), "--no-progress"])
    assert rc == 0 and "test_st_de-en:" in capsys.readouterr().out
    assert len(read_table(tmp_path / "test_st_de-en" / "text")) == 2


def test_pair_sets_leave_st_and_mono_sets_alone(synthetic_st, tmp_path):
    """test_st_de-en has utt2category de-en: it must not become the recipe's CS test set test_de-en."""
    import shutil

    from espnet_cs_ext.data.pairsets import make_pair_sets
    for name in ("test_st_de-en", "test_mono_de"):
        shutil.copytree(synthetic_st / name, tmp_path / name)
    cs = tmp_path / "test_synthetic_de-en"
    shutil.copytree(synthetic_st / "test_st_de-en", cs)
    (cs / "task").unlink()  # stands in for a code-switched de-en set
    assert make_pair_sets(tmp_path) == {"test_de-en": "test_synthetic_de-en"}
