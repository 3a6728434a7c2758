"""Split a (normalised) transcript into MER tokens, and name each token's script.

Rules of the ``script`` tokenizer (the default):

1. Whitespace (any Unicode whitespace, incl. the ideographic space U+3000)
   separates tokens and is never part of one.
2. Characters of scripts written without spaces are one token each:
   Hangul (syllables U+AC00-D7A3, jamo, compatibility and half-width jamo),
   Hiragana, Katakana (incl. U+30FC the long-vowel mark and the phonetic
   extensions; half-width katakana U+FF66-FF9F is one token per character too,
   and NFKC turns it into full-width), CJK ideographs (URO, extensions A-H,
   compatibility ideographs, radicals, U+3005-3007), Bopomofo, Thai, Lao,
   Khmer and Myanmar.
   A "character" is one code point plus the combining marks that follow it
   (general combining diacritics U+0300-036F, the kana voicing marks
   U+3099-309A, and the Mn/Mc marks inside the Thai, Lao, Khmer and Myanmar
   blocks), so Thai ``กั`` is one token, not two.
3. Everything else (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, digits,
   symbols, punctuation left by the normaliser) is grouped into maximal runs
   between whitespace and the characters of rule 2; each run is one token.
   So a mixed run is split at the script boundary: ``iPhone을`` -> ``iPhone``,
   ``을``; ``3개`` -> ``3``, ``개``; ``2024年`` -> ``2024``, ``年``;
   ``mp3`` stays one token and a Latin run glued to a Cyrillic run is not split.

The ``hangul`` tokenizer is HiKE's (``SpaceKoreanChars`` in HiKE's
``src/metrics/mer.py``): only Hangul syllables U+AC00-D7A3 are one token each;
everything else, kana and Han included, is split on whitespace only.

Script labels (for the per-script breakdown): tokens from rule 2 are labelled
``hangul``, ``kana`` (hiragana and katakana), ``han``, ``bopomofo``, ``thai``,
``lao``, ``khmer`` or ``myanmar``; other tokens take the script of their first
letter, read from the Unicode character name (``latin``, ``cyrillic``,
``greek``, ``arabic``, ...; full-width/half-width letters count as their base
script); a token without letters is ``number`` if it contains a digit, else
``other``.
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from typing import Callable, Dict, List, Tuple

# (first, last, label) code-point ranges of scripts tokenised per character.
_PER_CHAR_RANGES: List[Tuple[int, int, str]] = sorted([
    (0x0E00, 0x0E7F, "thai"),
    (0x0E80, 0x0EFF, "lao"),
    (0x1000, 0x109F, "myanmar"),
    (0x1100, 0x11FF, "hangul"),      # conjoining jamo
    (0x1780, 0x17FF, "khmer"),
    (0x19E0, 0x19FF, "khmer"),       # Khmer symbols
    (0x2E80, 0x2FDF, "han"),         # CJK and Kangxi radicals
    (0x3005, 0x3007, "han"),         # 々 〆 〇
    (0x3021, 0x3029, "han"),         # Hangzhou numerals
    (0x3038, 0x303B, "han"),
    (0x3041, 0x309F, "kana"),        # Hiragana (incl. voicing marks, ゝゞ)
    (0x30A0, 0x30FF, "kana"),        # Katakana (incl. ・ ー ヽヾ)
    (0x3100, 0x312F, "bopomofo"),
    (0x3130, 0x318F, "hangul"),      # compatibility jamo
    (0x31A0, 0x31BF, "bopomofo"),
    (0x31F0, 0x31FF, "kana"),        # Katakana phonetic extensions
    (0x3400, 0x4DBF, "han"),         # extension A
    (0x4E00, 0x9FFF, "han"),         # unified ideographs
    (0xA960, 0xA97F, "hangul"),      # jamo extended A
    (0xA9E0, 0xA9FF, "myanmar"),     # Myanmar extended B
    (0xAA60, 0xAA7F, "myanmar"),     # Myanmar extended A
    (0xAC00, 0xD7A3, "hangul"),      # syllables
    (0xD7B0, 0xD7FF, "hangul"),      # jamo extended B
    (0xF900, 0xFAFF, "han"),         # compatibility ideographs
    (0xFF66, 0xFF9F, "kana"),        # half-width katakana
    (0xFFA0, 0xFFDC, "hangul"),      # half-width jamo
    (0x1B000, 0x1B16F, "kana"),      # kana supplement / extended
    (0x20000, 0x2FA1F, "han"),       # extensions B-F, compatibility supplement
    (0x30000, 0x323AF, "han"),       # extensions G-H
])
_STARTS = [r[0] for r in _PER_CHAR_RANGES]

# Blocks whose own combining marks attach to the preceding character.
_MARK_BLOCKS = [(0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF),
                (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F)]


def _cls(ranges) -> str:
    return "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in ranges)


def _mark_ranges() -> List[Tuple[int, int]]:
    out = [(0x0300, 0x036F), (0x3099, 0x309A)]
    for lo, hi in _MARK_BLOCKS:
        out += [(cp, cp) for cp in range(lo, hi + 1) if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me")]
    return out


_PC = _cls((a, b) for a, b, _ in _PER_CHAR_RANGES)
_PC_BMP = _cls((a, b) for a, b, _ in _PER_CHAR_RANGES if b <= 0xFFFF)
_MK = _cls(_mark_ranges())
# Rule 2 first (a per-character char with its marks), then rule 3 (a run of anything else).
_SCRIPT_RE = re.compile(f"[{_PC}][{_MK}]*|[^\\s{_PC}]+")
# The same on text without supplementary-plane characters: `re` compiles classes of BMP
# characters to bitmaps, which makes this one several times faster.
_SCRIPT_RE_BMP = re.compile(f"[{_PC_BMP}][{_MK}]*|[^\\s{_PC_BMP}]+")
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")
_PC_BMP_SEARCH = re.compile(f"[{_PC_BMP}]").search
_HANGUL_RE = re.compile("[\uac00-\ud7a3]|[^\\s\uac00-\ud7a3]+")


def script_tokens(text: str) -> List[str]:
    """Tokenise by script (rules 1-3 of the module docstring)."""
    if text.isascii():
        return text.split()
    if _ASTRAL_RE.search(text):
        return _SCRIPT_RE.findall(text)
    if _PC_BMP_SEARCH(text) is None:  # only spaced scripts: rule 3 is a whitespace split
        return text.split()
    return _SCRIPT_RE_BMP.findall(text)


def hangul_tokens(text: str) -> List[str]:
    """HiKE's tokenisation: one token per Hangul syllable, whitespace words otherwise."""
    if text.isascii():
        return text.split()
    return _HANGUL_RE.findall(text)


TOKENIZERS: Dict[str, Callable[[str], List[str]]] = {
    "script": script_tokens,
    "hangul": hangul_tokens,
}


def per_char_script(ch: str) -> str | None:
    """Label of `ch` if it belongs to a per-character script, else None."""
    cp = ord(ch)
    i = bisect.bisect_right(_STARTS, cp) - 1
    if i >= 0 and cp <= _PER_CHAR_RANGES[i][1]:
        return _PER_CHAR_RANGES[i][2]
    return None


_NAME_PREFIXES_SKIPPED = ("FULLWIDTH", "HALFWIDTH", "MATHEMATICAL", "SMALL", "MODIFIER")


def script_of(token: str) -> str:
    """Script label of a token (see the module docstring). Pure function of `token`."""
    if not token:
        return "other"
    lab = per_char_script(token[0])
    if lab is not None:
        return lab
    has_digit = False
    for ch in token:
        cat = unicodedata.category(ch)
        if cat[0] == "L":
            lab = per_char_script(ch)
            if lab is not None:  # e.g. a kana run in the `hangul` tokenizer
                return lab
            words = unicodedata.name(ch, "").split()
            while words and words[0] in _NAME_PREFIXES_SKIPPED:
                words.pop(0)
            return words[0].lower() if words else "other"
        if cat == "Nd" or cat == "No" or cat == "Nl":
            has_digit = True
    return "number" if has_digit else "other"


class ScriptLabeller(dict):
    """`script_of` as a caching dict: `labeller[token]` (tokens repeat a lot in a corpus;
    a dict hit costs far less than a function call)."""

    def __missing__(self, token: str) -> str:
        lab = self[token] = script_of(token)
        return lab
