"""Fast paths for the (normaliser, tokenizer) pairs that scoring runs twice per utterance.

`PIPELINES[(normaliser, tokenizer)]` is a `text -> tokens` function equal to
`TOKENIZERS[tokenizer](NORMALIZERS[normaliser](text))` for every text
(property-tested in tests/scoring); presets use it where one exists and the
plain composition elsewhere (`pipeline`). Nothing here changes a rule; it only
saves passes over the string.

``default`` + ``script``: the default normaliser turns punctuation into spaces
and the tokenizer then splits on spaces, so one regex can do both -- the
tokenizer's pattern with every P* character treated as a separator. That
removes a substitution pass and one scan for supplementary-plane characters per
side (text with such characters takes the plain path).
"""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import Callable, Dict, List, Tuple

from .normalize import (NORMALIZERS, _ASTRAL_RE, _KEEP, _NUMSEP_RE, _default_punct, _has_apostrophe_lookalike,
                        expand_contractions, punctuation_chars, remove_kaldi_nonwords, unify_apostrophes)
from .tokenize import _MK, _PER_CHAR_RANGES, TOKENIZERS, _cls, script_tokens

Pipeline = Callable[[str], List[str]]


@functools.lru_cache(maxsize=1)
def _default_script_re() -> "re.Pattern[str]":
    punct = punctuation_chars()[0]
    holes = sorted(map(ord, punct))
    # Per-character scripts minus the punctuation inside their blocks (Thai ๏, Khmer ។, kana ・...).
    ranges: List[Tuple[int, int]] = []
    for a, b, _ in _PER_CHAR_RANGES:
        if b > 0xFFFF:
            continue
        for h in holes:
            if a <= h <= b:
                if a < h:
                    ranges.append((a, h - 1))
                a = h + 1
        if a <= b:
            ranges.append((a, b))
    per_char = _cls(ranges)
    p = "".join(re.escape(c) for c in punct)
    return re.compile(f"[{per_char}][{_MK}]*|[^\\s{per_char}{p}]+")


def default_script_tokens(s: str) -> List[str]:
    """`script_tokens(default_normalize(s))` in fewer passes (see module docstring)."""
    s = unicodedata.normalize("NFKC", s).casefold()
    if "`" in s or (not s.isascii() and _has_apostrophe_lookalike(s)):
        s = unify_apostrophes(s)
    if "'" in s:
        s = expand_contractions(s).replace("'", "")
    if "<" in s or "[" in s:
        s = remove_kaldi_nonwords(s)
    keep = False
    if ("." in s or "," in s) and _NUMSEP_RE.search(s):
        s = _NUMSEP_RE.sub(lambda m: _KEEP[m.group(0)], s)  # noncharacters: part of the digit run
        keep = True
    if not s.isascii() and _ASTRAL_RE.search(s):
        tokens = script_tokens(_default_punct(s))
    else:
        tokens = _default_script_re().findall(s)
    if keep:
        tokens = [t.replace("\ufdd0", ".").replace("\ufdd1", ",") for t in tokens]
    return tokens


PIPELINES: Dict[Tuple[str, str], Pipeline] = {
    ("default", "script"): default_script_tokens,
}


def pipeline(normaliser: str, tokenizer: str) -> Pipeline:
    """`text -> tokens` for a normaliser and a tokenizer named in the registries."""
    fast = PIPELINES.get((normaliser, tokenizer))
    if fast is not None:
        return fast
    norm, tok = NORMALIZERS[normaliser], TOKENIZERS[tokenizer]
    return lambda text: tok(norm(text))
