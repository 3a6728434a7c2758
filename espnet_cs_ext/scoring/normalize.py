"""Text normalisers for MER: small `str -> str` callables and the pipelines built from them.

Each step is a plain callable; `Compose(a, b, c)` applies them left to right,
as whisper's normalizers and jiwer's transforms do. The named pipelines in
`NORMALIZERS` are what presets (`presets.py`) pick from:

``default`` (applied to reference and hypothesis alike)
    1. Unicode NFKC: full-width Latin/digits/punctuation become ASCII, half-width
       katakana becomes full-width, decomposed Hangul jamo compose into syllables.
    2. casefold (``Straße`` -> ``strasse``).
    3. apostrophe look-alikes (’ ‘ ‛ ʼ ` ´) become ``'``.
    4. English contractions expanded (``CONTRACTIONS``: won't, can't, let's,
       n't, 're, 's, 'd, 'll, 't, 've, 'm; the same list HiKE uses through jiwer),
       in one left-to-right pass (differs from jiwer only on overlapping matches).
    5. Kaldi non-words -- anything in ``<...>`` or ``[...]`` such as ``<unk>``,
       ``[noise]`` -- become a space.
    6. punctuation = every character of Unicode general category P* (ASCII
       punctuation, CJK 。、「」『』・〜, full-width forms after NFKC, dashes,
       quotes...): apostrophes are deleted (``o'clock`` -> ``oclock``), a ``.``
       or ``,`` between two digits is kept (``3.5``, ``1,000`` stay one token),
       every other one becomes a space (``%`` and ``#`` are P* too). Symbols (S*:
       ``$`` ``+`` ``~`` ``♪``) are kept. Numbers are not verbalised: ``3`` vs ``three`` is an error.
    7. whitespace collapsed to single spaces, stripped.

``hike_hyp`` -- HiKE's hypothesis normalisation (``normalize_text`` in HiKE's
``src/utils.py``, built from jiwer transforms), reproduced step by step:
    ``str.lower``; contractions as above but applied pattern after pattern
    (`expand_contractions_sequential`, jiwer's order); Kaldi non-words deleted (no space);
    an em dash between two word characters becomes a space; every P* character
    deleted (no space); ASCII whitespace becomes a space; whitespace collapsed;
    stripped. No NFKC.

``none`` -- identity; the tokenizer still splits on whitespace.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import Callable, Dict, Tuple

Normalizer = Callable[[str], str]


class Compose:
    """Apply normalisers left to right: `Compose(a, b)(s) == b(a(s))`."""

    def __init__(self, *steps: Normalizer) -> None:
        self.steps: Tuple[Normalizer, ...] = steps

    def __call__(self, s: str) -> str:
        for step in self.steps:
            s = step(s)
        return s

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.steps))})"


class Sub:
    """`re.sub(pattern, repl, s)` as a normaliser step (pattern compiled once)."""

    def __init__(self, pattern: str, repl: str, name: str = "") -> None:
        self.pattern = re.compile(pattern)
        self.repl = repl
        self.name = name or f"Sub({pattern!r} -> {repl!r})"

    def __call__(self, s: str) -> str:
        return self.pattern.sub(self.repl, s)

    def __repr__(self) -> str:
        return self.name


def identity(s: str) -> str:
    return s


def nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


def casefold(s: str) -> str:
    return s.casefold()


def lower(s: str) -> str:
    return s.lower()


_APOSTROPHE_LOOKALIKES = "\u2019\u2018\u201b\u02bc`\u00b4"
_has_apostrophe_lookalike = re.compile(f"[{_APOSTROPHE_LOOKALIKES}]").search
unify_apostrophes = Sub(f"[{_APOSTROPHE_LOOKALIKES}]", "'", "unify_apostrophes")

# In the order jiwer's ExpandCommonEnglishContractions (and so HiKE) applies them,
# one pattern after another over the whole string. `expand_contractions` does one
# left-to-right pass over the alternation instead: the same text except where
# matches overlap (``you'llet's``: sequential -> ``you willet us``, one pass ->
# ``you willet is``); `expand_contractions_sequential` is jiwer's order, used by
# the `hike_hyp` pipeline.
CONTRACTIONS: Tuple[Tuple[str, str], ...] = (
    ("won't", "will not"), ("can't", "can not"), ("let's", "let us"),
    ("n't", " not"), ("'re", " are"), ("'s", " is"), ("'d", " would"),
    ("'ll", " will"), ("'t", " not"), ("'ve", " have"), ("'m", " am"),
)
_CONTRACTION_RE = re.compile("|".join(re.escape(k) for k, _ in CONTRACTIONS))
_CONTRACTION_MAP = dict(CONTRACTIONS)


def expand_contractions(s: str) -> str:
    """Expand English contractions (`CONTRACTIONS`); case-sensitive, so lowercase first."""
    if "'" not in s:
        return s
    return _CONTRACTION_RE.sub(lambda m: _CONTRACTION_MAP[m.group(0)], s)


def expand_contractions_sequential(s: str) -> str:
    """`CONTRACTIONS` applied one after another over the whole string, as jiwer does."""
    if "'" not in s:
        return s
    for k, v in CONTRACTIONS:
        s = s.replace(k, v)
    return s


_KALDI_NONWORD = r"[<\[][^>\]]*[>\]]"


class RemoveKaldiNonWords(Sub):
    """Delete `<unk>`, `[noise]`, ... (anything in `<...>` or `[...]`), replacing it by `repl`."""

    def __init__(self, repl: str = " ", name: str = "remove_kaldi_nonwords") -> None:
        super().__init__(_KALDI_NONWORD, repl, name)

    def __call__(self, s: str) -> str:
        if "<" not in s and "[" not in s:  # fast path: most lines have none
            return s
        return self.pattern.sub(self.repl, s)


remove_kaldi_nonwords = RemoveKaldiNonWords(" ")


@functools.lru_cache(maxsize=1)
def punctuation_chars() -> Tuple[str, str]:
    """All Unicode P* characters, as (BMP ones, supplementary-plane ones).

    Only planes 0 and 1 are scanned (a 10th of the code space): planes 2-3 hold
    ideographs, 14 tags and variation selectors, 15-16 private use; none has P*.
    """
    bmp, astral = [], []
    for cp in range(0x20000):
        if unicodedata.category(chr(cp))[0] == "P":
            (bmp if cp <= 0xFFFF else astral).append(chr(cp))
    return "".join(bmp), "".join(astral)


# Placeholders for kept number separators: Unicode noncharacters, never in real text.
_KEEP = {".": "\ufdd0", ",": "\ufdd1"}
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")
_NUMSEP_RE = re.compile(r"(?<=\d)[.,](?=\d)")


class RemovePunctuation:
    """Replace Unicode P* characters by `repl`.

    With `default_rules` (the `default` pipeline): `'` is deleted and `.`/`,`
    between digits is kept; everything else in P* becomes `repl`.
    """

    def __init__(self, repl: str = " ", default_rules: bool = True) -> None:
        self.repl = repl
        self.default_rules = default_rules
        self._bmp_re = None

    def _compile(self) -> None:
        bmp, astral = punctuation_chars()
        # A class of BMP characters only compiles to a bitmap in `re` (about 10x faster
        # than one with supplementary-plane ranges); those few are handled separately.
        self._bmp_re = re.compile("[" + "".join(re.escape(c) for c in bmp) + "]")
        self._astral = frozenset(astral)

    def __call__(self, s: str) -> str:
        if self._bmp_re is None:
            self._compile()
        repl = self.repl
        keep = False
        if self.default_rules:
            if "'" in s:
                s = s.replace("'", "")
            if ("." in s or "," in s) and _NUMSEP_RE.search(s):
                s = _NUMSEP_RE.sub(lambda m: _KEEP[m.group(0)], s)
                keep = True
        s = self._bmp_re.sub(repl, s)
        if not s.isascii() and _ASTRAL_RE.search(s):
            s = "".join(repl if c in self._astral else c for c in s)
        if keep:
            s = s.replace("\ufdd0", ".").replace("\ufdd1", ",")
        return s

    def __repr__(self) -> str:
        return f"RemovePunctuation(repl={self.repl!r}, default_rules={self.default_rules})"


def collapse_whitespace(s: str) -> str:
    """Any run of Unicode whitespace -> one space; strip both ends."""
    return " ".join(s.split())


# --- HiKE's hypothesis pipeline, step by step (see module docstring) -----------------
hike_remove_kaldi_nonwords = RemoveKaldiNonWords("", "hike_remove_kaldi_nonwords")


def hike_em_dash(s: str) -> str:
    """jiwer's SubstituteWords({"—": " "}): an em dash with a word character on both sides."""
    if "—" not in s:
        return s
    return _EM_DASH_RE.sub(" ", s)


_EM_DASH_RE = re.compile("\\b—\\b")

# HiKE turns ASCII whitespace into spaces, collapses runs and splits on spaces; its
# MER then collapses every Unicode whitespace run. Net effect: split on whitespace.
hike_whitespace = collapse_whitespace


_default_punct = RemovePunctuation(" ", default_rules=True)
DEFAULT_STEPS = Compose(nfkc, casefold, unify_apostrophes, expand_contractions, remove_kaldi_nonwords,
                        _default_punct, collapse_whitespace)


def default_normalize(s: str) -> str:
    """`DEFAULT_STEPS` fused into one function with fast paths; equal to `DEFAULT_STEPS(s)`
    for every input (tested)."""
    s = unicodedata.normalize("NFKC", s).casefold()
    if "`" in s or (not s.isascii() and _has_apostrophe_lookalike(s)):
        s = unify_apostrophes(s)
    if "'" in s:
        s = expand_contractions(s)
    if "<" in s or "[" in s:
        s = remove_kaldi_nonwords(s)
    return " ".join(_default_punct(s).split())


DEFAULT = default_normalize
HIKE_HYP = Compose(lower, expand_contractions_sequential, hike_remove_kaldi_nonwords, hike_em_dash,
                   RemovePunctuation("", default_rules=False), hike_whitespace)

NORMALIZERS: Dict[str, Normalizer] = {
    "default": DEFAULT,
    "hike_hyp": HIKE_HYP,
    "none": identity,
}
