"""Mixed Error Rate: align reference and hypothesis tokens, count S/D/I, total them.

`MerAccumulator` is the one implementation; `score_files` (report.py), the
ESPnet hook (hook.py) and the CLI all feed it. Alignment is a word-level
Levenshtein alignment by rapidfuzz's `Levenshtein.editops`, the call jiwer 4
makes, so on space-separated text the counts equal jiwer's (tested, ties
included). jiwer first maps words to integers; we hand rapidfuzz the token
strings, which it compares by code point (one-character tokens) or by their
64-bit Python hash (longer ones). That saves ~2 us of ~15-20 us per utterance;
the price is that two different tokens with equal hashes would count as a match,
a chance of about 2**-64 per pair of tokens compared.

Error attribution in the per-script breakdown: a hit, substitution or deletion
is charged to the script of the *reference* token, an insertion to the script
of the *hypothesis* token (`tokenize.script_of`). Per-script figures therefore
add up to the totals.

Empty references (after normalisation) are scored like any other utterance:
their insertions count in the corpus numerator (as in sclite and jiwer), but
per-utterance MER is undefined for them, so they are left out of the mean and
reported separately (count, insertions, ids) -- except in presets with
`empty_refs_in_mean` (``hike``), where each counts in the mean with its
insertion count as its MER (1 insertion = 100 %), as HiKE's jiwer call does. No figure ever divides by zero:
a rate over zero reference tokens is `None`.
"""
from __future__ import annotations

from collections import Counter
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from rapidfuzz.distance import Levenshtein

from .presets import Preset, get_preset
from .tokenize import ScriptLabeller

def rate(num: float, den: float) -> Optional[float]:
    """`num / den`, or None when `den` is 0 (an undefined rate, never a crash)."""
    return num / den if den else None


class UttResult(NamedTuple):
    """Scores of one utterance. `ref`/`hyp` are its tokens joined by single spaces.

    A flat tuple of strings and ints on purpose: CPython's garbage collector stops
    tracking such tuples, so keeping 100k of them costs nothing per collection
    (keeping token lists and edit operations per utterance made scoring markedly
    slower and used ~10x the memory). `dele` because `del` is a keyword.
    """

    utt_id: str
    status: str  # ok | empty_ref | missing_hyp
    ref: str
    hyp: str
    n_ref: int
    n_hyp: int
    sub: int
    dele: int
    ins: int

    @property
    def corr(self) -> int:
        return self.n_ref - self.sub - self.dele

    @property
    def err(self) -> int:
        return self.sub + self.dele + self.ins

    @property
    def mer(self) -> Optional[float]:
        return rate(self.err, self.n_ref)

    def alignment(self) -> Tuple[str, List[str], List[str]]:
        """(ops, ref column, hyp column): ops has one letter per aligned position
        (C correct, S substitution, D deletion, I insertion); gaps are `***`.
        The same alignment the counts came from (same call on the same tokens)."""
        return render_alignment(self.ref.split(), self.hyp.split())


_new_tuple = tuple.__new__  # builds a UttResult without NamedTuple's Python-level __new__


def edit_ops(ref: Sequence[str], hyp: Sequence[str]):
    """The alignment every MER count comes from: rapidfuzz editops as (tag, ref_pos, hyp_pos)
    triples, tag in replace | delete | insert; an insert at ref_pos i sits before ref[i].
    Empty for identical sequences. One function so that per-language attribution
    (`per_language`) re-derives exactly the alignment `MerAccumulator` counted."""
    return Levenshtein.editops(ref, hyp).as_list() if ref != hyp else ()


def render_alignment(ref: Sequence[str], hyp: Sequence[str]) -> Tuple[str, List[str], List[str]]:
    """Align `ref` and `hyp` (the same editops call the counts use) and lay the alignment out
    as (ops letters, ref column, hyp column), one entry per aligned position, `***` for gaps."""
    if ref == hyp:
        return "C" * len(ref), list(ref), list(hyp)
    letters: List[str] = []
    r_col: List[str] = []
    h_col: List[str] = []
    for tag, i1, i2, j1, j2 in Levenshtein.editops(ref, hyp).as_opcodes().as_list():
        if tag == "equal":
            letters.append("C" * (i2 - i1)); r_col += ref[i1:i2]; h_col += hyp[j1:j2]
        elif tag == "replace":
            letters.append("S" * (i2 - i1)); r_col += ref[i1:i2]; h_col += hyp[j1:j2]
        elif tag == "delete":
            letters.append("D" * (i2 - i1)); r_col += ref[i1:i2]; h_col += ["***"] * (i2 - i1)
        else:
            letters.append("I" * (j2 - j1)); r_col += ["***"] * (j2 - j1); h_col += hyp[j1:j2]
    return "".join(letters), r_col, h_col


class MerAccumulator:
    """Score utterance pairs and keep corpus totals (S/D/I, both MERs, per-script figures).

    >>> acc = MerAccumulator("default")
    >>> _ = acc.add("나는 iPhone을 샀다", "나는 아이폰을 샀다")  # iphone->아 S, 이 I, 폰 I
    >>> acc.summary()["corpus_mer"]  # 3 errors / 6 reference tokens
    0.5

    `keep_utts` keeps every `UttResult` in `.utts` (needed for per_utt.tsv).
    """

    def __init__(self, preset: "str | Preset" = "default", keep_utts: bool = True) -> None:
        self.preset = get_preset(preset)
        self._empty_in_mean = self.preset.empty_refs_in_mean
        self._ref_tokens = self.preset.ref_pipeline
        self._hyp_tokens = self.preset.hyp_pipeline
        self._label = ScriptLabeller()
        self.keep_utts = keep_utts
        self.utts: List[UttResult] = []
        self.n_utts = self.n_ref = self.n_hyp = 0
        self.sub = self.dele = self.ins = 0
        self.sentence_errors = 0
        self.mer_sum = 0.0
        self.n_mer = 0
        self.empty_ref_ids: List[str] = []
        self.empty_ref_ins = 0
        self.missing_ids: List[str] = []
        # script -> [sub, del, ins]; utterances whose reference has it or that are charged an
        # error in it (so S.Err per script stays <= 100 %) / utterances charged an error in it
        self.scripts: Dict[str, List[int]] = {}
        self._script_utts: Dict[str, int] = {}
        self._script_err_utts: Dict[str, int] = {}
        # Script of every reference token (a C-level list extend per utterance), folded into
        # _ref_label_counts now and then so a long-lived accumulator stays small.
        self._ref_labels: List[str] = []
        self._ref_label_counts: Counter = Counter()

    def add(self, ref_text: str, hyp_text: Optional[str], utt_id: Optional[str] = None) -> UttResult:
        """Score one pair. `hyp_text=None` means the hypothesis is missing: a full deletion."""
        if hyp_text is None:
            return self._score(utt_id, self._ref_tokens(ref_text), [], "missing_hyp", True)
        return self._score(utt_id, self._ref_tokens(ref_text), self._hyp_tokens(hyp_text), "ok", True)

    def add_many(self, refs: Sequence[str], hyps: Sequence[Optional[str]],
                 utt_ids: Optional[Sequence[str]] = None) -> None:
        """Score parallel sequences (faster than calling `add` in a loop). None hyp = missing."""
        if len(refs) != len(hyps) or (utt_ids is not None and len(utt_ids) != len(refs)):
            raise ValueError(f"{len(refs)} references, {len(hyps)} hypotheses"
                             + ("" if utt_ids is None else f", {len(utt_ids)} ids"))
        score = self._score
        n = len(refs)
        if utt_ids is None:
            utt_ids = [None] * n
        # Lazy C-level map: text -> tokens without per-call bytecode in this loop.
        ref_toks = map(self._ref_tokens, refs)
        if not any(h is None for h in hyps):
            for u, r, h in zip(utt_ids, ref_toks, map(self._hyp_tokens, hyps)):
                score(u, r, h, "ok")
            return
        hyp_toks = map(self._hyp_tokens, ["" if h is None else h for h in hyps])
        for u, r, h, raw in zip(utt_ids, ref_toks, hyp_toks, hyps):
            if raw is None:
                score(u, r, [], "missing_hyp")
            else:
                score(u, r, h, "ok")

    def _score(self, utt_id, ref: List[str], hyp: List[str], status: str,
               want: bool = False) -> Optional[UttResult]:
        # The hot loop of every scoring path: keep per-utterance work to C-level calls
        # (map, set, editops) and touch Python only per edit operation.
        label = self._label
        ref_labels = list(map(label.__getitem__, ref))
        self._ref_labels += ref_labels
        if len(self._ref_labels) > 1_000_000:
            self._fold_labels()
        su = self._script_utts
        ref_scripts = set(ref_labels)
        for lab in ref_scripts:  # one or two scripts: a loop beats Counter.update here
            su[lab] = su.get(lab, 0) + 1
        ops = edit_ops(ref, hyp)
        sub = dele = ins = 0
        if ops:
            scripts = self.scripts
            hit = set()
            for tag, i, j in ops:
                if tag == "replace":
                    sub += 1
                    lab, k = ref_labels[i], 0
                elif tag == "delete":
                    dele += 1
                    lab, k = ref_labels[i], 1
                else:
                    ins += 1
                    lab, k = label[hyp[j]], 2
                c = scripts.get(lab)
                if c is None:
                    c = scripts[lab] = [0, 0, 0]
                c[k] += 1
                hit.add(lab)
            se = self._script_err_utts
            for lab in hit:
                se[lab] = se.get(lab, 0) + 1
                if lab not in ref_scripts:  # e.g. an inserted English word in a Korean sentence
                    su[lab] = su.get(lab, 0) + 1
            self.sentence_errors += 1

        n = len(ref)
        if utt_id is None:
            utt_id = str(self.n_utts)
        self.n_utts += 1
        self.n_ref += n
        self.n_hyp += len(hyp)
        self.sub += sub
        self.dele += dele
        self.ins += ins
        if status == "missing_hyp":
            self.missing_ids.append(utt_id)
        if n:
            self.mer_sum += (sub + dele + ins) / n
            self.n_mer += 1
        else:
            if status == "ok":
                status = "empty_ref"
            self.empty_ref_ids.append(utt_id)
            self.empty_ref_ins += ins
            if self._empty_in_mean:
                self.mer_sum += ins
                self.n_mer += 1
        if not (want or self.keep_utts):
            return None
        u = _new_tuple(UttResult, (utt_id, status, " ".join(ref), " ".join(hyp), n, len(hyp), sub, dele, ins))
        if self.keep_utts:
            self.utts.append(u)
        return u

    def _fold_labels(self) -> None:
        self._ref_label_counts.update(self._ref_labels)
        self._ref_labels = []

    def script_token_counts(self) -> Dict[str, int]:
        """Reference tokens per script."""
        self._fold_labels()
        return dict(self._ref_label_counts)

    def summary(self) -> dict:
        """All figures as a JSON-ready dict. Rates are fractions (0.12 = 12 %), None if undefined."""
        err = self.sub + self.dele + self.ins
        corpus = rate(err, self.n_ref)
        mean = rate(self.mer_sum, self.n_mer)
        counts = self.script_token_counts()
        per_script = {}
        for lab in sorted(self.scripts.keys() | counts.keys(), key=lambda k: (-counts.get(k, 0), k)):
            s, d, i = self.scripts.get(lab, (0, 0, 0))
            n, utts, utts_err = counts.get(lab, 0), self._script_utts.get(lab, 0), self._script_err_utts.get(lab, 0)
            per_script[lab] = {"ref_tokens": n, "corr": n - s - d, "sub": s, "del": d, "ins": i,
                               "err": s + d + i, "mer": rate(s + d + i, n),
                               "utts": utts, "utts_with_error": utts_err}
        headline = "corpus_mer" if self.preset.headline == "corpus" else "mean_utt_mer"
        return {
            "mer": corpus if headline == "corpus_mer" else mean,
            "mer_is": headline,
            "corpus_mer": corpus,
            "mean_utt_mer": mean,
            "num_utts": self.n_utts,
            "num_utts_in_mean": self.n_mer,
            "num_ref_tokens": self.n_ref,
            "num_hyp_tokens": self.n_hyp,
            "corr": self.n_ref - self.sub - self.dele,
            "sub": self.sub, "del": self.dele, "ins": self.ins, "err": err,
            "sentence_errors": self.sentence_errors,
            "empty_refs": {"count": len(self.empty_ref_ids), "insertions": self.empty_ref_ins,
                           "ids": list(self.empty_ref_ids)},
            "missing_hyps": {"count": len(self.missing_ids), "ids": list(self.missing_ids)},
            "per_script": per_script,
            "preset": self.preset.as_dict(),
            "units": "rates are fractions (0.12 = 12 %); null = undefined (no reference tokens)",
            "attribution": "hits, substitutions, deletions -> script of the reference token; "
                           "insertions -> script of the hypothesis token",
        }


def score_pairs(refs: Sequence[str], hyps: Sequence[str], preset: "str | Preset" = "default") -> dict:
    """Score parallel lists of reference and hypothesis texts; return `MerAccumulator.summary()`."""
    acc = MerAccumulator(preset, keep_utts=False)
    acc.add_many(refs, hyps)
    return acc.summary()
