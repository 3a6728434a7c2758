"""MER per language (espnet_cs_ext.scoring.per_language): hand-worked tables, the skip rule, the CLI."""
from __future__ import annotations

import json
import os

import pytest

from espnet_cs_ext.bin.cs_score import main
from espnet_cs_ext.scoring import per_language as pl
from espnet_cs_ext.scoring.report import score_tables
from espnet_cs_ext.utils.errors import CsExtError


def _score(rows, preset="default", utt2lang=None):
    """rows: (utt, segments [(lang, text)], hyp or None) -> (accumulator, per_language result).
    The reference text is the segments joined by spaces, as the synthetic corpus writes it."""
    refs = {u: " ".join(t for _, t in segs) for u, segs, _ in rows}
    hyps = {u: h for u, _, h in rows if h is not None}
    acc = score_tables(refs, hyps, preset)
    return acc, pl.per_language(acc, refs, {u: segs for u, segs, _ in rows}, utt2lang)


def _counts(res):
    return {lang: (v["n"], v["sub"], v["del"], v["ins"]) for lang, v in res["per_language"].items()}


# Worked by hand (default preset: casefold, punctuation removed, one token per word).
# expected: {lang: (N, S, D, I)} for the utterance alone.
DE_EN = [
    # "neuen" is inserted at the de->en boundary, after "den": the token before it is German
    ("d1", [("de", "Ich habe den"), ("en", "computer"), ("de", "vergessen.")],
     "ich habe den neuen computer vergessen", {"de": (4, 0, 0, 1), "en": (1, 0, 0, 0)}),
    # "oh" at the utterance start: no token before it, so the one after it (English "good")
    ("d2", [("en", "Good morning"), ("de", "zusammen")],
     "oh good morning zusammen", {"en": (2, 0, 0, 1), "de": (1, 0, 0, 0)}),
    # das -> die (S, German), "gesprochen" dropped (D, German); English "meeting" right
    ("d3", [("de", "Wir haben über das"), ("en", "meeting"), ("de", "gesprochen.")],
     "wir haben über die meeting", {"de": (5, 1, 1, 0), "en": (1, 0, 0, 0)}),
    # forgot -> forget (S, English), "home" dropped (D, English); German "Computer" right
    ("d4", [("en", "I forgot my"), ("de", "Computer"), ("en", "at home.")],
     "i forget my computer at", {"en": (5, 1, 1, 0), "de": (1, 0, 0, 0)}),
    # inter-sentential: "so" inserted after German "zusammen" (German), great -> good (English)
    ("d5", [("de", "Guten Morgen zusammen."), ("en", "That sounds like a great idea.")],
     "guten morgen zusammen so that sounds like a good idea", {"de": (3, 0, 0, 1), "en": (6, 1, 0, 0)}),
    # a doubled "the" before German "Besprechung": whichever copy counts as inserted, the
    # token before it is English
    ("d6", [("en", "Can you check the"), ("de", "Besprechung"), ("en", "again?")],
     "can you check the the besprechung again", {"en": (5, 0, 0, 1), "de": (1, 0, 0, 0)}),
    # no hypothesis at all: every token deleted, in its own language
    ("d7", [("de", "Das ist"), ("en", "okay")], None, {"de": (2, 0, 2, 0), "en": (1, 0, 1, 0)}),
    # empty reference: the insertion goes to the matrix language (utt2lang) ...
    ("d8", [], "äh", {"de": (0, 0, 0, 1)}),
    # ... or to "unk" when utt2lang does not know the utterance
    ("d9", [], "hm", {"unk": (0, 0, 0, 1)}),
]
UTT2LANG = {"d8": "de"}


@pytest.mark.parametrize("utt, segs, hyp, expected", DE_EN, ids=[r[0] for r in DE_EN])
def test_de_en_rows_by_hand(utt, segs, hyp, expected):
    _, res = _score([(utt, segs, hyp)], utt2lang=UTT2LANG)
    assert _counts(res) == expected


def test_de_en_table_totals_split_german_and_english_and_add_up():
    acc, res = _score([r[:3] for r in DE_EN], utt2lang=UTT2LANG)
    # de: N 4+1+5+1+3+1+2; S d3; D d3 + d7 (2); I d1, d5, d8
    # en: N 1+2+1+5+6+5+1; S d4, d5; D d4, d7; I d2, d6
    assert _counts(res) == {"en": (21, 2, 2, 2), "de": (17, 1, 3, 3), "unk": (0, 0, 0, 1)}
    assert res["per_language"]["de"]["mer"] == pytest.approx(7 / 17)
    assert res["per_language"]["en"]["mer"] == pytest.approx(6 / 21)
    assert res["per_language"]["unk"]["mer"] is None  # insertions only: no reference tokens
    # the breakdown adds up to the corpus figures MER reports
    c = _counts(res).values()
    assert [sum(x[k] for x in c) for k in range(4)] == [acc.n_ref, acc.sub, acc.dele, acc.ins] == [38, 3, 5, 6]
    assert res["per_language_meta"]["skipped"]["count"] == 0 and res["per_language_meta"]["utts"] == 9


CJK = [
    # Hangul is one token per syllable: 나 는 iphone 을 샀 다. rapidfuzz aligns 아 이 폰 as
    # I I S (the insertions come before the substitution), so 아 and 이 sit after Korean 는
    ("k1", [("ko", "나는"), ("en", "iPhone"), ("ko", "을 샀다.")], "나는 아이폰을 샀다",
     {"ko": (5, 0, 0, 2), "en": (1, 1, 0, 0)}),
    ("k2", [("ko", "오늘"), ("en", "meeting"), ("ko", "있어요")], "오 meeting 있어요",
     {"ko": (5, 0, 1, 0), "en": (1, 0, 0, 0)}),  # 늘 deleted
    # kana and kanji one token per character: 今 日 は | meeting | が あ り ま す
    ("j1", [("ja", "今日は"), ("en", "meeting"), ("ja", "があります。")], "今日はmeetingsがあります",
     {"ja": (8, 0, 0, 0), "en": (1, 1, 0, 0)}),
    ("j2", [("en", "I like"), ("ja", "寿司")], "i like 寿司です",
     {"en": (2, 0, 0, 0), "ja": (2, 0, 0, 2)}),  # で す appended after Japanese 司
    ("j3", [("ja", "まだ"), ("en", "movie"), ("ja", "が必要ですか。")], "まだmovie必要ですか",
     {"ja": (8, 0, 1, 0), "en": (1, 0, 0, 0)}),  # が deleted
]


@pytest.mark.parametrize("utt, segs, hyp, expected", CJK, ids=[r[0] for r in CJK])
def test_hangul_and_kana_per_character(utt, segs, hyp, expected):
    # glued as the corpus writes them: "나는 iPhone을 샀다." (no space before the particle)
    text = {"k1": "나는 iPhone을 샀다.", "j1": "今日はmeetingがあります。", "j3": "まだmovieが必要ですか。"}
    refs = {utt: text.get(utt, " ".join(t for _, t in segs))}
    acc = score_tables(refs, {utt: hyp})
    assert _counts(pl.per_language(acc, refs, {utt: segs})) == expected


def test_mismatch_is_skipped_counted_and_named():
    refs = {"ok": "Ich habe den computer vergessen",
            "edited": "Ich habe den Hund gesehen",       # segments say "dog": 5 tokens each, different
            "longer": "Ich habe den Hund heute gesehen",  # 6 tokens, segments give 5
            "absent": "hallo"}
    segs = {u: [("de", "Ich habe den"), ("en", "dog" if u != "ok" else "computer"),
                ("de", "gesehen" if u != "ok" else "vergessen")] for u in ("ok", "edited", "longer")}
    acc = score_tables(refs, {"ok": "ich habe den computer", "edited": "ich habe hund gesehen",
                              "longer": "x", "absent": "hallo"})
    res = pl.per_language(acc, refs, segs)
    sk = res["per_language_meta"]["skipped"]
    assert sk["count"] == 3 and sk["ids"] == ["edited", "longer", "absent"]
    assert res["per_language_meta"]["skipped_why"] == [
        "edited: segments give 5 tokens, the reference 5 (different ones)",
        "longer: segments give 5 tokens, the reference 6",
        "absent: no entry in the segments file"]
    assert _counts(res) == {"de": (4, 0, 1, 0), "en": (1, 0, 0, 0)}
    # what is skipped is reported, so the totals still add up
    assert (4 + 1 + sk["n"], 0 + sk["sub"], 1 + sk["del"], 0 + sk["ins"]) == (acc.n_ref, acc.sub, acc.dele, acc.ins)


def test_punctuation_between_segments_joins_the_segment_before_it():
    # preset none keeps "?" as a token; the corpus's segments leave it out: the gap rule gives it
    # to Korean (the segment before it), so the utterance is attributed, not skipped
    segs = {"u": [("en", "Did you already see the"), ("ko", "공항")]}
    refs = {"u": "Did you already see the 공항?"}
    acc = score_tables(refs, {"u": "Did you already see the 공항"}, "none")
    assert _counts(pl.per_language(acc, refs, segs)) == {"en": (5, 0, 0, 0), "ko": (3, 0, 1, 0)}
    # a gap inside the utterance: the "," after 공항 is Korean, not the English after it
    segs = {"u": [("en", "Did you see the"), ("ko", "공항"), ("en", "yesterday")]}
    refs = {"u": "Did you see the 공항, yesterday"}
    acc = score_tables(refs, {"u": "Did you see the 공항 yesterday"}, "none")
    assert _counts(pl.per_language(acc, refs, segs)) == {"en": (5, 0, 0, 0), "ko": (3, 0, 1, 0)}
    # HiKE's tokenizer keeps まだmovieが... one token, which spans two languages: skipped
    segs = {"u": [("ja", "まだ"), ("en", "movie"), ("ja", "が必要ですか。")]}
    refs = {"u": "まだmovieが必要ですか。"}
    acc = score_tables(refs, {"u": "まだmovieが必要ですか"}, "hike")
    assert pl.per_language(acc, refs, segs)["per_language_meta"]["skipped"]["ids"] == ["u"]


@pytest.mark.parametrize("line, message", [
    ("{not json", "not JSON"),
    ('{"utt": "u1"}', 'expected {"utt": str, "segments"'),
    ('{"utt": "u1", "segments": [{"lang": "de"}]}', 'is not {"lang": str, "text": str}'),
])
def test_bad_segments_file_names_file_and_line(tmp_path, line, message):
    f = tmp_path / "cs_segments.jsonl"
    f.write_text('{"utt": "u0", "segments": []}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(CsExtError, match=rf"cs_segments.jsonl:2: .*{message}"):
        pl.read_segments(f)


def _data_dir(d, rows):
    """A Kaldi data dir as cs-prepare synthetic leaves it: text, utt2lang, cs_segments.jsonl."""
    d.mkdir()
    (d / "text").write_text("".join(f"{u} {' '.join(t for _, t in s)}\n" for u, s, _ in rows), encoding="utf-8")
    (d / "utt2lang").write_text("".join(f"{u} {s[0][0] if s else 'de'}\n" for u, s, _ in rows))
    with open(d / "cs_segments.jsonl", "w", encoding="utf-8") as f:
        for u, s, _ in rows:
            f.write(json.dumps({"utt": u, "segments": [{"lang": la, "text": t, "voice": "v", "start": 0.1, "end": 0.9}
                                                        for la, t in s]}, ensure_ascii=False) + "\n")
    hyp = d.parent / "hyp"
    hyp.write_text("".join(f"{u} {h}\n" for u, _, h in rows if h is not None), encoding="utf-8")
    return d / "text", hyp


def test_cli_writes_per_language_and_changes_nothing_else(tmp_path, capsys):
    rows = [r[:3] for r in DE_EN[:7]]
    ref, hyp = _data_dir(tmp_path / "test_de-en", rows)
    out = tmp_path / "score"
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--out", str(out)]) == 0
    res = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert res["per_language"] == {
        "en": {"n": 21, "sub": 2, "del": 2, "ins": 2, "mer": 6 / 21},
        "de": {"n": 17, "sub": 1, "del": 3, "ins": 2, "mer": 6 / 17}}
    assert res["per_language_meta"]["segments"] == str(ref.parent / "cs_segments.jsonl")
    txt = (out / "result.txt").read_text(encoding="utf-8")
    assert "| de       |       17 |      1      3      2      6 |  35.29 % |" in txt
    assert "per language: en 28.57 % (21 tokens), de 35.29 % (17 tokens)" in capsys.readouterr().out
    # same inputs, same bytes
    before = {n: (out / n).read_bytes() for n in ("result.json", "result.txt", "per_utt.tsv")}
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--out", str(out)]) == 0
    assert before == {n: (out / n).read_bytes() for n in before}
    # without cs_segments.jsonl: the same outputs less the per-language parts
    os.remove(ref.parent / "cs_segments.jsonl")
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--out", str(out)]) == 0
    plain = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert "per_language" not in plain
    assert plain == {k: v for k, v in res.items() if not k.startswith("per_language")}
    plain_txt = (out / "result.txt").read_text(encoding="utf-8")
    assert "Per language" not in plain_txt
    table = txt[txt.index("\nPer language"):txt.index("\nMER (corpus)")]
    assert txt.replace(table, "", 1) == plain_txt


def test_cli_warns_about_skipped_utterances(tmp_path, capsys):
    ref, hyp = _data_dir(tmp_path / "d", [("u1", [("de", "Ich habe den"), ("en", "dog")], "ich habe den hund")])
    ref.write_text("u1 Ich habe den Hund\n", encoding="utf-8")  # the text edited after the corpus was made
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--out", str(tmp_path / "o")]) == 0
    assert "leaves out 1 of 1 utterance(s)" in capsys.readouterr().err
    assert "skipped (segments do not give the reference tokens): 1 utterance(s)" in \
        (tmp_path / "o" / "result.txt").read_text(encoding="utf-8")


def test_score_all_treats_the_segments_file_as_an_input(tmp_path):
    from espnet_cs_ext.recipe.score_all import ScoreJob, run_jobs
    ref, hyp = _data_dir(tmp_path / "d", [r[:3] for r in DE_EN[:2]])
    job = ScoreJob(str(ref), str(hyp), str(tmp_path / "o"), "mer:default")
    assert run_jobs([job]) == [job]
    assert "de" in json.loads((tmp_path / "o" / "result.json").read_text())["per_language"]
    assert run_jobs([job]) == []
    seg = ref.parent / "cs_segments.jsonl"
    old = seg.stat().st_mtime_ns
    seg.write_text(seg.read_text(encoding="utf-8").replace('"de"', '"fr"'), encoding="utf-8")
    os.utime(seg, ns=(old + 10**9, old + 10**9))  # the marker keys on size + mtime; no sleep for the clock
    assert run_jobs([job]) == [job]  # segments changed: rescored
    assert "fr" in json.loads((tmp_path / "o" / "result.json").read_text())["per_language"]


def test_loanword_step_applies_to_segments_too(tmp_path):
    # HiKE's loanword step rewrites the reference before scoring; the segments get the same
    # substitution, or 버그 -> bug would leave them one token longer than the reference
    from espnet_cs_ext.scoring.report import score_files
    ref, hyp = _data_dir(tmp_path / "d", [("u1", [("ko", "이번 버그는"), ("en", "fixed")], "이번 bug는 fix")])
    lw = tmp_path / "d" / "utt2loanwords"
    lw.write_text('u1 [{"Korean": "버그", "English": "bug"}]\n', encoding="utf-8")
    res = score_files(ref, hyp, tmp_path / "o", preset="hike", loanwords=lw, replications=10)
    assert res["per_language_meta"]["skipped"]["count"] == 0
    # 이 번 bug 는 (the substituted word stays in its Korean segment) | fixed -> fix (S)
    assert _counts(res) == {"ko": (4, 0, 0, 0), "en": (1, 1, 0, 0)}
