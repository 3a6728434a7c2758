"""Transcript helpers: NFC clean-up, scripts, language codes, language pairs.

Scripts matter for CS transcripts: Korean is Hangul, Japanese kana/kanji, English
and German Latin. `clean_transcript` never transliterates; it only normalises to
NFC and collapses whitespace, so references keep the script they were written in.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Dict

_WS = re.compile(r"\s+")

#: ISO 639-3 / names seen in corpora -> the two-letter codes used in data dirs
_LANG = {
    "eng": "en", "english": "en", "en": "en",
    "deu": "de", "ger": "de", "german": "de", "de": "de",
    "kor": "ko", "korean": "ko", "ko": "ko",
    "jpn": "ja", "japanese": "ja", "ja": "ja", "jp": "ja",
    "cmn": "zh", "zho": "zh", "chinese": "zh", "mandarin": "zh", "zh": "zh",
    "fra": "fr", "fre": "fr", "french": "fr", "fr": "fr",
    "spa": "es", "spanish": "es", "es": "es",
    "hin": "hi", "hindi": "hi", "hi": "hi",
    "ara": "ar", "arb": "ar", "arabic": "ar", "ar": "ar",
}


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def clean_transcript(s: str) -> str:
    """NFC, no control characters, single spaces, stripped (scripts untouched)."""
    s = nfc(s)
    s = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in s)
    return _WS.sub(" ", s).strip()


def is_punct_only(s: str) -> bool:
    """True for empty strings and strings of punctuation/symbols/spaces only."""
    return not any(unicodedata.category(c)[0] in "LN" for c in s)


def lang_code(name: str) -> str:
    """'deu' / 'German' / 'de' -> 'de'; unknown codes are returned lower-cased."""
    return _LANG.get(name.strip().lower(), name.strip().lower())


def pair_code(pair: str) -> str:
    """'deu-eng' / 'de_en' / 'de-en' -> 'de-en' (matrix language first)."""
    parts = re.split(r"[-_/]", pair.strip())
    if len(parts) != 2:
        raise ValueError(f"not a language pair: {pair!r} (expected e.g. 'de-en' or 'deu-eng')")
    return f"{lang_code(parts[0])}-{lang_code(parts[1])}"


def char_script(c: str) -> str:
    """Coarse script of one character: hangul, kana, han, latin, other."""
    o = ord(c)
    if 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "hangul"
    if 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F:
        return "kana"
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
        return "han"
    if c.isalpha() and o < 0x250:
        return "latin"
    return "other"


def script_counts(s: str) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for c in s:
        k = char_script(c)
        if k != "other":
            out[k] = out.get(k, 0) + 1
    return out


def guess_matrix_language(text: str, pair: str) -> str:
    """Matrix language of a CS transcript of `pair` by script counts.

    Latin script counts per word (a word ~ 1 syllable-ish unit of CJK is unfair),
    Hangul/kana/han per character. Ties go to the pair's first language.
    """
    a, b = pair.split("-")
    counts = script_counts(text)
    latin_words = len(re.findall(r"[A-Za-zÀ-ɏ]+", text))

    def score(lang: str) -> int:
        if lang == "ko":
            return counts.get("hangul", 0)
        if lang == "ja":
            return counts.get("kana", 0) + counts.get("han", 0)
        if lang == "zh":
            return counts.get("han", 0)
        return latin_words
    return b if score(b) > score(a) else a
