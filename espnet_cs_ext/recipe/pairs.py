"""Test pairs from a language list, and the three kinds of pair a report separates.

    all_pairs(["en", "ko", "ja", "de"], ["ko-en", "ja-en"])
        -> ["ko-en", "ja-en", "de-en", "ko-ja", "ko-de", "ja-de"]
    pair_groups(test_pairs, train_pairs) -> (seen, unseen, unseen_language)

A pair is named matrix language first, the way the recipe names them (`ko-en`, `ko-ja`,
`fr-de`): English last, otherwise the earlier language of NAME_ORDER first, languages not
listed after those, alphabetically. A training pair keeps the name it was given (the
same two languages in another order are the same pair). Groups: *seen* pairs are
training pairs; *unseen* pairs combine two languages that some training pair has (the
paper's unseen pairs, e.g. ko-ja after ko-en + ja-en); *unseen-language* pairs have at
least one language no training pair has (docs/unseen_languages.md).
"""
from __future__ import annotations

from itertools import combinations
from typing import List, Optional, Sequence, Tuple

from ..utils.errors import CsExtError

NAME_ORDER = ("ko", "ja", "zh", "fr", "es", "it", "de")  # then unknown ones, then en


def _rank(lang: str) -> Tuple[int, str]:
    if lang == "en":
        return (2, "")
    return (0, f"{NAME_ORDER.index(lang):02d}") if lang in NAME_ORDER else (1, lang)


def pair_name(a: str, b: str) -> str:
    first, second = sorted((a, b), key=_rank)
    return f"{first}-{second}"


def _split(pair: str) -> Optional[Tuple[str, str]]:
    """The two language codes of a pair name, or None for a name that is not one."""
    parts = pair.split("-")
    if len(parts) == 2 and parts[0] != parts[1] and all(x.isalpha() and len(x) <= 3 for x in parts):
        return parts[0], parts[1]
    return None


def _langs(pair: str) -> Tuple[str, str]:
    langs = _split(pair)
    if langs is None:
        raise CsExtError(f"pair '{pair}': expected two different language codes like ko-en")
    return langs


def all_pairs(languages: Sequence[str], train_pairs: Sequence[str]) -> List[str]:
    """Every pair of `languages` (default: the training pairs' languages), training pairs first."""
    if not languages:
        languages = [lang for p in train_pairs for lang in _langs(p)]
    langs = list(dict.fromkeys(languages))
    if len(langs) < 2:
        raise CsExtError(f"--languages '{' '.join(languages)}': need at least two languages")
    named = {frozenset(_langs(p)): p for p in train_pairs}
    out = list(train_pairs)
    for a, b in combinations(langs, 2):
        name = named.get(frozenset((a, b)), pair_name(a, b))
        if name not in out:
            out.append(name)
    return out


def pair_groups(test_pairs: Sequence[str], train_pairs: Sequence[str]) -> Tuple[List[str], List[str], List[str]]:
    """(seen, unseen pairs of seen languages, pairs with an unseen language), in test order.

    A name that is not two language codes (a `--test_sets` dir such as
    test_csfleurs_read_de-en) cannot be told apart, so it stays with the unseen pairs."""
    def langs(p: str) -> set:
        return set(_split(p) or ())

    trained = {lang for p in train_pairs for lang in langs(p)}
    seen = [p for p in test_pairs if p in train_pairs]
    rest = [p for p in test_pairs if p not in train_pairs]
    unseen = [p for p in rest if langs(p) <= trained]
    return seen, unseen, [p for p in rest if p not in unseen]
