"""HiKE's loanword step: per utterance, Korean spellings of English words replaced by the English word.

HiKE (ThetaOne-AI/HiKE, src/main.py, ``--replace_loanword`` on by default) gives every
row a ``loanwords`` list such as ``[{"Korean": "버그", "English": "bug"}]`` and, before
normalising, substitutes each entry -- plain substring replacement, in list order --
in the prediction *and* the reference, so ``이번 버그는`` and ``이번 bug는`` score alike.

`cs-prepare hike` writes the lists as a Kaldi table ``utt2loanwords`` (one JSON list
a line); `cs-score --loanwords FILE` and the recipe's stage 8 read it with
`read_loanwords` and apply it with `apply_loanwords` to both tables before scoring.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Mapping, Sequence, Tuple

from ..utils.errors import CsExtError
from ..utils.kaldi import read_table

Loanwords = List[Tuple[str, str]]  # (Korean, English) in the order they are applied


def parse_loanwords(value, what: str) -> Loanwords:
    """A JSON list (string or already parsed) of {"Korean", "English"} -> [(korean, english)]."""
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError as e:
        raise CsExtError(f"{what}: loanwords are not JSON ({e}): {str(value)[:80]!r}")
    if items is None:
        return []
    if not isinstance(items, list):
        raise CsExtError(f"{what}: loanwords must be a JSON list of {{\"Korean\", \"English\"}}, got {str(value)[:80]!r}")
    out: Loanwords = []
    for it in items:
        if not (isinstance(it, dict) and isinstance(it.get("Korean"), str) and isinstance(it.get("English"), str)):
            raise CsExtError(f"{what}: loanword entry {it!r} is not {{\"Korean\": str, \"English\": str}}")
        out.append((it["Korean"], it["English"]))
    return out


def dump_loanwords(pairs: Sequence[Tuple[str, str]]) -> str:
    """The one-line JSON written into utt2loanwords (HiKE's key names, UTF-8 kept)."""
    return json.dumps([{"Korean": k, "English": e} for k, e in pairs], ensure_ascii=False, separators=(", ", ": "))


def read_loanwords(path: "str | os.PathLike") -> Dict[str, Loanwords]:
    """utt2loanwords -> {utt_id: [(korean, english), ...]}; a bad line names file and utterance."""
    return {utt: parse_loanwords(v or "[]", f"{path}: {utt}") for utt, v in read_table(path).items()}


def replace_loanwords(text: str, pairs: Loanwords) -> str:
    for korean, english in pairs:
        if korean:  # str.replace("", x) would insert x between every character
            text = text.replace(korean, english)
    return text


def apply_loanwords(table: Mapping[str, str], loanwords: Mapping[str, Loanwords]) -> Dict[str, str]:
    """{utt: text} with each utterance's loanwords substituted (utterances without any unchanged)."""
    return {u: replace_loanwords(t, loanwords[u]) if loanwords.get(u) else t for u, t in table.items()}


def check_ids(loanwords: Mapping[str, Loanwords], refs: Mapping[str, str], path: str, ref_name: str) -> None:
    """Loanword ids must be reference ids: anything else means the wrong file was given."""
    extra = [u for u in loanwords if u not in refs]
    if extra:
        more = f" ... (+{len(extra) - 5} more)" if len(extra) > 5 else ""
        raise CsExtError(f"{path}: {len(extra)} utterance id(s) not in {ref_name}: {', '.join(extra[:5])}{more}")
