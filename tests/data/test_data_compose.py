"""Sentence lists and composition: aligned, NFC, one slot per frame, German articles,
held-out items, both switch types, scripts preserved (Romance articles: test_data_articles.py)."""
from __future__ import annotations

import random
import re
import unicodedata

import pytest

from espnet_cs_ext.data.synthetic.compose import (Composer, fill_frame, generate_cs_text, item_split,
                                                  load_inventory)
from espnet_cs_ext.data.text import script_counts
from espnet_cs_ext.utils.errors import CsExtError

INV = load_inventory()
LANGS = ("en", "de", "ja", "ko", "fr", "es", "it")
# what may follow the slot in a Korean frame (case-neutral particles or none)
KO_AFTER_SLOT = re.compile(r"^\{X\}(도|에|에서|만|까지|보다|에 대해|에 대해서|에 대해서는| )")


def test_inventory_has_the_seven_languages():
    assert set(LANGS) <= set(INV.langs)
    assert len(INV.words) >= 40 and len(INV.frames) >= 30 and len(INV.sentences) >= 40


@pytest.mark.parametrize("table", ["words", "frames", "sentences"])
def test_every_cell_is_nfc_and_nonempty(table):
    for row in getattr(INV, table):
        for lang in LANGS:
            assert row[lang].strip(), (row["id"], lang)
            assert unicodedata.normalize("NFC", row[lang]) == row[lang], (row["id"], lang)


def test_frames_have_one_slot_and_korean_slots_take_neutral_particles():
    for fr in INV.frames:
        for lang in LANGS:
            assert fr[lang].count("{X}") == 1, (fr["id"], lang)
        ko = fr["ko"][fr["ko"].index("{X}"):]
        assert KO_AFTER_SLOT.match(ko), (fr["id"], fr["ko"])


@pytest.mark.parametrize("lang, script", [("ko", "hangul"), ("ja", None), ("en", "latin"), ("de", "latin"),
                                          ("fr", "latin"), ("es", "latin"), ("it", "latin")])
def test_sentences_are_in_their_script(lang, script):
    for s in INV.sentences:
        counts = script_counts(s[lang])
        if lang == "ja":
            assert counts.get("kana", 0) + counts.get("han", 0) > 0 and "hangul" not in counts and "latin" not in counts
        else:
            assert set(counts) == {script}, (s["id"], s[lang])


@pytest.mark.parametrize("frame, gender, expected", [
    ("{Der} {X} liegt auf dem Tisch.", "f", "Die Kamera liegt auf dem Tisch."),
    ("Ich habe {mein} {X} vergessen.", "m", "Ich habe meinen Kamera vergessen."),
    ("Ich habe {mein} {X} vergessen.", "n", "Ich habe mein Kamera vergessen."),
    ("Es gibt ein Problem mit {dem} {X}.", "f", "Es gibt ein Problem mit der Kamera."),
    ("Hast du {den} {X} gesehen?", "n", "Hast du das Kamera gesehen?"),
])
def test_german_articles_follow_the_german_gender(frame, gender, expected):
    assert fill_frame(frame, "de", "Kamera", gender) == expected


@pytest.mark.parametrize("item, split", [("f10", "test"), ("s40", "test"), ("f05", "dev"), ("s15", "dev"),
                                         ("f01", "train"), ("s33", "train")])
def test_item_split(item, split):
    assert item_split(item) == split


def test_test_items_never_used_in_train_plans():
    comp = Composer(INV, "ko-en", "train")
    rng = random.Random(0)
    for _ in range(300):
        plan = comp.draw(rng)
        for item in plan.source.split("+"):
            if not item.startswith("w"):
                assert item_split(item) == "train"


@pytest.mark.parametrize("pair", ["ko-en", "ja-en", "de-en", "ko-ja", "ko-de", "en-ko", "fr-en", "es-de", "it-en",
                                  "fr-de", "ko-fr"])
def test_plans_mix_both_languages_and_both_kinds(pair):
    a, b = pair.split("-")
    comp = Composer(INV, pair, "train")
    rng = random.Random(1)
    plans = [comp.draw(rng) for _ in range(200)]
    assert {p.kind for p in plans} == {"intra", "inter"}
    assert {p.matrix for p in plans} == {a, b}
    assert sum(p.matrix == a for p in plans) > 100  # matrix-first naming
    for p in plans:
        assert {s.lang for s in p.segments} == {a, b}
        assert len(p.pauses) == len(p.segments) + 1
        # the transcript is exactly the segments' texts in order (plus frame spacing)
        assert re.sub(r"\s", "", p.text) == re.sub(r"\s", "", "".join(s.text for s in p.segments)) or \
            p.text.endswith((".", "?", "。"))


def test_intra_plan_has_the_other_language_inside_a_matrix_frame():
    comp = Composer(INV, "ja-en", "train", p_intra=1.0, p_matrix_first=1.0)
    words = {w["en"] for w in INV.words}
    for seed in range(20):
        p = comp.draw(random.Random(seed))
        assert p.kind == "intra" and p.matrix == "ja"
        en = [s for s in p.segments if s.lang == "en"]
        assert len(en) == 1 and en[0].text in words and en[0].text in p.text
        assert [s.lang for s in p.segments].count("ja") in (1, 2)


def test_cs_text_is_unique_deterministic_and_mixed():
    a = generate_cs_text("ko-en", 300, seed=7)
    assert a == generate_cs_text("ko-en", 300, seed=7)
    assert len(set(a)) == 300
    assert a != generate_cs_text("ko-en", 300, seed=8)
    mixed = [t for t in a if {"hangul", "latin"} <= set(script_counts(t))]
    assert len(mixed) == 300


def test_unknown_language_is_a_clear_error():
    with pytest.raises(CsExtError, match="language 'xx' has no sentence lists"):
        Composer(INV, "ko-xx", "train")
