"""MER per language: every reference token charged to the language of the segment it was spoken in.

The per-script breakdown (`mer`) cannot split de-en or fr-en (one script, two
languages). Where a data dir says which language each stretch of an utterance is
in, `score_files` (so ``cs-score`` and the recipe's stage 8) adds ``per_language``
to result.json and a table to result.txt; without that file nothing changes.

Input: ``cs_segments.jsonl`` beside the reference ``text`` (what
``cs-prepare synthetic`` writes and `data.validate` / `data.datadir` carry along;
a real corpus with language-tagged segments can write the same file). One JSON
object a line::

    {"utt": "<utt-id>", "segments": [{"lang": "de", "text": "Ich habe den"},
                                     {"lang": "en", "text": "computer"},
                                     {"lang": "de", "text": "vergessen."}]}

``segments`` in spoken order; ``lang`` any language code (used as given);
``text`` the words of that stretch as the transcript writes them. Other keys
(the synthetic corpus's ``voice``, ``start``, ``end``) are ignored, and so are
utterances the reference does not have. ``utt2lang`` (matrix language) beside it
is read when present, for the one case below that needs it.

Rules
-----
Reference tokens. Each segment's text goes through the preset's own reference
pipeline (normaliser + tokenizer, after HiKE's loanword step when given), so its
tokens are the MER's tokens; they are labelled with the segment's language. Their
concatenation must be exactly the token sequence MER scored for the utterance.
When it is not, a second try: if the transcript is the segments' texts in order
with only punctuation and spaces between them (the synthetic corpus leaves
punctuation-only pieces such as a final ``?`` out of its segments, which matters
for presets that keep punctuation), each such gap joins the segment before it (the
first segment takes a leading gap) and the pieces are tokenised instead.

Mismatch: the utterance is *skipped*, not an error. Reasons: a token can truly span
two languages (HiKE's tokenizer keeps ``まだmovieが`` one token; French ``l'ordinateur``
or German ``Computers`` glue a function word or suffix to a switched word), and
stage 8 should not fail after hours of decoding over a side table. A skipped
utterance is counted, named (with both token counts) in ``per_language_meta``,
listed in result.txt, and warned about by the CLIs; its S/D/I are reported there.

Alignment: `mer.edit_ops`, the very call whose counts MER reports, on the same
tokens. Substitutions and deletions go to the reference token's language.
An insertion sits between two reference positions; it goes to the language of the
reference token *before* it (whatever happened to that token), else (an insertion
before the first token) of the token after it; in an utterance with no reference
tokens, to its matrix language from utt2lang, else ``unk``. Note that rapidfuzz
puts an insertion run before a substitution it borders (``iPhone`` -> ``아이폰``:
I I S), so such insertions go to the language on the left.

Rates: per language always (S + D + I) / N (N = its reference tokens), whatever the
preset's headline; ``null`` when N = 0 (a language charged only insertions).
Totals: sum over languages + skipped = the corpus S, D, I and N (checked on every run).
"""
from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ..utils.errors import CsExtError
from ..utils.kaldi import show_id
from .mer import MerAccumulator, edit_ops, rate

SEGMENTS_FILE = "cs_segments.jsonl"
UNKNOWN = "unk"
ATTRIBUTION = ("substitutions, deletions -> language of the reference token; insertions -> language of "
               "the reference token before them, else after them, else the utterance's matrix language "
               "(utt2lang), else unk")
Segments = List[Tuple[str, str]]  # (lang, text) in spoken order


def segments_file(ref_text: "str | os.PathLike") -> Optional[Path]:
    """The cs_segments.jsonl beside a reference `text` file, or None."""
    p = Path(ref_text).parent / SEGMENTS_FILE
    return p if p.is_file() else None


def read_segments(path: "str | os.PathLike") -> Dict[str, Segments]:
    """cs_segments.jsonl -> {utt: [(lang, text), ...]}; a bad line raises CsExtError naming file and line."""
    out: Dict[str, Segments] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise CsExtError(f"{where}: not JSON ({e})")
            utt = rec.get("utt") if isinstance(rec, dict) else None
            segs = rec.get("segments") if isinstance(rec, dict) else None
            if not isinstance(utt, str) or not isinstance(segs, list):
                raise CsExtError(f'{where}: expected {{"utt": str, "segments": [...]}}')
            if utt in out:
                raise CsExtError(f"{where}: utterance '{show_id(utt)}' twice")
            parsed = []
            for s in segs:
                if not (isinstance(s, dict) and isinstance(s.get("lang"), str) and s["lang"]
                        and isinstance(s.get("text"), str)):
                    raise CsExtError(f'{where}: segment {s!r} is not {{"lang": str, "text": str}}')
                parsed.append((s["lang"], s["text"]))
            out[utt] = parsed
    return out


def _no_words(s: str) -> bool:
    return not any(unicodedata.category(c)[0] in "LNM" for c in s)


def _with_gaps(segs: Segments, text: str) -> Optional[Segments]:
    """`segs` re-cut from `text` so the pieces cover it, when `text` is the segments' texts in
    order with nothing but punctuation and spaces between them (else None)."""
    segs = [(lang, t.strip()) for lang, t in segs if t.strip()]
    if not segs:
        return None
    starts, pos = [], 0
    for _, t in segs:
        k = text.find(t, pos)
        if k < 0 or not _no_words(text[pos:k]):
            return None
        starts.append(k)
        pos = k + len(t)
    if not _no_words(text[pos:]):
        return None
    bounds = [0] + starts[1:] + [len(text)]
    return [(lang, text[bounds[i]:bounds[i + 1]]) for i, (lang, _) in enumerate(segs)]


def _tokens(segs: Segments, tokenize) -> Tuple[List[str], List[str]]:
    toks: List[str] = []
    langs: List[str] = []
    for lang, t in segs:
        tt = tokenize(t)
        toks += tt
        langs += [lang] * len(tt)
    return toks, langs


def token_languages(ref_tokens: Sequence[str], segs: Segments, ref_text: str, tokenize) -> Optional[List[str]]:
    """Language of each reference token (rules in the module docstring), or None on a mismatch."""
    toks, langs = _tokens(segs, tokenize)
    if toks == list(ref_tokens):
        return langs
    pieces = _with_gaps(segs, ref_text)
    if pieces is not None:
        toks, langs = _tokens(pieces, tokenize)
        if toks == list(ref_tokens):
            return langs
    return None


def insertion_language(i: int, langs: Sequence[str], matrix: Optional[str]) -> str:
    """Language charged for an insertion before reference position `i` (rule in the module docstring)."""
    if i > 0:
        return langs[i - 1]
    if langs:
        return langs[0]
    return matrix or UNKNOWN


def per_language(acc: MerAccumulator, refs: Mapping[str, str], segments: Mapping[str, Segments],
                 utt2lang: Optional[Mapping[str, str]] = None,
                 loanwords: Optional[Mapping[str, list]] = None, source: str = "") -> dict:
    """{"per_language": {lang: {n, sub, del, ins, mer}}, "per_language_meta": {...}} for a scored
    accumulator (`keep_utts=True`); `refs` the reference texts it scored (loanwords applied), `loanwords`
    the table applied to them, so segment texts get the same substitution."""
    tokenize = acc.preset.ref_pipeline
    utt2lang = utt2lang or {}
    if loanwords:
        from .loanwords import replace_loanwords
    counts: Dict[str, List[int]] = {}  # lang -> [n, sub, del, ins]
    skipped = {"count": 0, "ids": [], "n": 0, "sub": 0, "del": 0, "ins": 0}
    reasons: List[str] = []
    for u in acc.utts:
        ref, hyp = u.ref.split(), u.hyp.split()  # tokens never hold whitespace: exactly MER's tokens
        segs = segments.get(u.utt_id)
        langs = None
        if segs is not None:
            if loanwords and loanwords.get(u.utt_id):
                segs = [(lang, replace_loanwords(t, loanwords[u.utt_id])) for lang, t in segs]
            langs = token_languages(ref, segs, refs[u.utt_id], tokenize)
        if langs is None:
            if segs is None:
                why = "no entry in the segments file"
            else:
                n_seg = len(_tokens(segs, tokenize)[0])
                why = f"segments give {n_seg} tokens, the reference {len(ref)}" + (
                    " (different ones)" if n_seg == len(ref) else "")
            skipped["count"] += 1
            skipped["ids"].append(u.utt_id)
            for k, v in (("n", u.n_ref), ("sub", u.sub), ("del", u.dele), ("ins", u.ins)):
                skipped[k] += v
            if len(reasons) < 5:
                reasons.append(f"{show_id(u.utt_id)}: {why}")
            continue
        for lang in langs:
            counts.setdefault(lang, [0, 0, 0, 0])[0] += 1
        sub = dele = ins = 0
        for tag, i, _ in edit_ops(ref, hyp):
            if tag == "replace":
                lang, k = langs[i], 1
                sub += 1
            elif tag == "delete":
                lang, k = langs[i], 2
                dele += 1
            else:
                lang, k = insertion_language(i, langs, utt2lang.get(u.utt_id)), 3
                ins += 1
            counts.setdefault(lang, [0, 0, 0, 0])[k] += 1
        # the same alignment as the MER counts, or the breakdown would not add up
        assert (sub, dele, ins) == (u.sub, u.dele, u.ins), (u.utt_id, (sub, dele, ins), u)
    totals = [sum(c[k] for c in counts.values()) for k in range(4)]
    assert [totals[0] + skipped["n"], totals[1] + skipped["sub"], totals[2] + skipped["del"],
            totals[3] + skipped["ins"]] == [acc.n_ref, acc.sub, acc.dele, acc.ins], \
        "per-language counts do not add up to the corpus counts"
    table = {}
    for lang in sorted(counts, key=lambda k: (-counts[k][0], k)):
        n, s, d, i = counts[lang]
        table[lang] = {"n": n, "sub": s, "del": d, "ins": i, "mer": rate(s + d + i, n)}
    meta = {"segments": source, "utts": len(acc.utts) - skipped["count"], "skipped": skipped,
            "skipped_why": reasons, "attribution": ATTRIBUTION,
            "rate": "(sub + del + ins) / n per language, whatever the preset's headline"}
    return {"per_language": table, "per_language_meta": meta}


def for_files(acc: MerAccumulator, ref: "str | os.PathLike", refs: Mapping[str, str],
              loanwords: Optional[Mapping[str, list]] = None, segments: "str | os.PathLike" = "auto") -> dict:
    """`per_language` from cs_segments.jsonl (`segments`; "auto": the one beside the reference
    `text`, {} when there is none) and the utt2lang beside it."""
    path = segments_file(ref) if segments == "auto" else Path(segments)
    if path is None:
        return {}
    if not path.is_file():
        raise CsExtError(f"{path}: no such segments file")
    from ..utils.kaldi import read_table
    u2l = path.parent / "utt2lang"
    utt2lang = read_table(u2l) if u2l.is_file() else None
    return per_language(acc, refs, read_segments(path), utt2lang, loanwords, source=str(path))


def format_lines(s: dict) -> List[str]:
    """result.txt's per-language table ([] when the summary has none)."""
    if "per_language" not in s:
        return []
    m = s["per_language_meta"]
    sk = m["skipped"]

    def line(*cells) -> str:
        return f"| {cells[0]:<9}| {cells[1]:>8} |" + "".join(f" {c:>6}" for c in cells[2:6]) + f" | {cells[6]:>8} |"

    head = line("language", "# Wrd", "Sub", "Del", "Ins", "Err", "MER")
    out = ["", f"Per language ({m['segments']}, {m['utts']} utterance(s); counts, MER = Err / # Wrd):",
           "substitutions and deletions charged to the reference token's language, insertions to that",
           "of the reference token before them (else after them):", head,
           "|" + "".join("+" if c == "|" else "-" for c in head[1:-1]) + "|"]
    for lang, v in s["per_language"].items():
        mer = "n/a" if v["mer"] is None else f"{100.0 * v['mer']:.2f} %"
        out.append(line(lang[:9], v["n"], v["sub"], v["del"], v["ins"], v["sub"] + v["del"] + v["ins"], mer))
    if sk["count"]:
        out.append(f"skipped (segments do not give the reference tokens): {sk['count']} utterance(s), "
                   f"{sk['n']} tokens, S/D/I {sk['sub']} / {sk['del']} / {sk['ins']}: "
                   + "; ".join(m["skipped_why"]) + (" ..." if sk["count"] > len(m["skipped_why"]) else ""))
    return out
