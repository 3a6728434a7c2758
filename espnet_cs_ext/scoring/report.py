"""Score Kaldi `text` files and write result.txt / result.json / per_utt.tsv.

`score_files(ref, hyp, out_dir, preset="default") -> dict` is what the recipe's
scoring stage calls (through `cs-score`). Both files are read and checked
completely before anything is scored or written; every output is written to a
temporary file and renamed, so a failed run leaves no partial result.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError
from ..utils.kaldi import read_table, show_id
from . import bootstrap, per_language
from .mer import MerAccumulator
from .presets import Preset, get_preset

RESULT_FILES = ("result.txt", "result.json", "per_utt.tsv")
PER_UTT_COLUMNS = ("utt_id", "status", "n_ref", "n_hyp", "corr", "sub", "del", "ins", "err", "mer",
                   "ops", "ref_aligned", "hyp_aligned")


def _ids_preview(ids: List[str], n: int = 10) -> str:
    more = f" ... (+{len(ids) - n} more)" if len(ids) > n else ""
    return ", ".join(show_id(i) for i in ids[:n]) + more


def score_tables(refs: Mapping[str, str], hyps: Mapping[str, str], preset: "str | Preset" = "default",
                 hyp_name: str = "hypothesis", ref_name: str = "reference") -> MerAccumulator:
    """Score {utt_id: text} tables in reference order.

    Reference ids missing from `hyps` are scored as full deletions (status
    `missing_hyp`); hypothesis ids absent from `refs` raise CsExtError naming them.
    """
    extra = [k for k in hyps if k not in refs]
    if extra:
        raise CsExtError(f"{hyp_name}: {len(extra)} utterance id(s) not in {ref_name}: {_ids_preview(extra)}")
    acc = MerAccumulator(preset, keep_utts=True)
    ids = list(refs)
    acc.add_many([refs[k] for k in ids], [hyps.get(k) for k in ids], ids)
    return acc


def _pct(num: float, den: float) -> str:
    return f"{100.0 * num / den:.1f}" if den else "n/a"


def _fmt_rate(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100.0 * x:.2f} %"


def format_result_txt(summary: dict, ref: str = "", hyp: str = "") -> str:
    """sclite-style summary: one `Sum/Avg` row (what ESPnet's show_asr_result.sh greps),
    then the per-script breakdown and both MER figures, each labelled."""
    s = summary
    n_snt, n_wrd = s["num_utts"], s["num_ref_tokens"]

    def line(name, snt, wrd, *cells) -> str:
        return f"| {name:<9}| {snt:>6} {wrd:>8} |" + "".join(f" {c:>6}" for c in cells) + " |"

    def row(name: str, snt: int, wrd: int, c: int, sb: int, d: int, i: int, serr: int) -> str:
        return line(name, snt, wrd, *(_pct(v, wrd) for v in (c, sb, d, i, sb + d + i)), _pct(serr, snt))

    header = line("SPKR", "# Snt", "# Wrd", "Corr", "Sub", "Del", "Ins", "Err", "S.Err")
    width = len(header)
    bar = "|" + "-" * (width - 2) + "|"
    sep = "".join("+" if c == "|" else "-" for c in header)
    sep = "|" + sep[1:-1] + "|"

    p = s["preset"]
    lines = [
        "cs-score: Mixed Error Rate (MER) -- tokens: " + (
            "one per character for Hangul, kana, Han, Bopomofo, Thai, Lao, Khmer, Myanmar; "
            "whitespace words otherwise" if p["tokenizer"] == "script" else
            "one per Hangul syllable, whitespace words otherwise (HiKE)"),
        f"preset: {p['name']} -- {p['description']}",
        f"ref: {ref}",
        f"hyp: {hyp}",
        "",
        "," + "-" * (width - 2) + ".",
        f"|{('hyp: ' + os.path.basename(os.path.dirname(hyp) or hyp)):^{width - 2}}|" if hyp else bar,
        bar,
        header,
        sep,
        row("Sum/Avg", n_snt, n_wrd, s["corr"], s["sub"], s["del"], s["ins"], s["sentence_errors"]),
        "`" + "-" * (width - 2) + "'",
        "",
        "Per script (hits, substitutions, deletions charged to the reference token's script;",
        "insertions to the hypothesis token's script; # Snt = utterances whose reference has the script",
        "or that are charged an error in it; S.Err = those charged an error in it):",
        line("script", "# Snt", "# Wrd", "Corr", "Sub", "Del", "Ins", "Err", "S.Err"),
        sep,
    ]
    for lab, v in s["per_script"].items():
        lines.append(row(lab[:9], v["utts"], v["ref_tokens"], v["corr"], v["sub"], v["del"], v["ins"],
                         v["utts_with_error"]))
    lines += per_language.format_lines(s)  # nothing without cs_segments.jsonl
    head = "corpus" if s["mer_is"] == "corpus_mer" else "mean_utt"
    lines += [
        "",
        f"MER (corpus)  = {_fmt_rate(s['corpus_mer'])}   errors summed over utterances / reference tokens"
        f" = {s['err']} / {n_wrd}" + ("   <- headline" if head == "corpus" else ""),
        f"MER (mean utt)= {_fmt_rate(s['mean_utt_mer'])}   mean of per-utterance MER over "
        f"{s['num_utts_in_mean']} utterances"
        + (" (empty references count their insertions, as HiKE)" if p.get("empty_refs_in_mean")
           else " with a non-empty reference")
        + ("   <- headline" if head == "mean_utt" else ""),
        f"S/D/I         = {s['sub']} / {s['del']} / {s['ins']}   correct {s['corr']}   "
        f"hypothesis tokens {s['num_hyp_tokens']}",
    ]
    er = s["empty_refs"]
    lines.append(f"empty references: {er['count']} utterance(s), {er['insertions']} insertion(s) "
                 + ("(counted in corpus MER and in the mean)" if p.get("empty_refs_in_mean")
                    else "(counted in corpus MER, left out of the mean)")
                 + (f": {_ids_preview(er['ids'])}" if er["count"] else ""))
    mh = s["missing_hyps"]
    lines.append(f"missing hypotheses: {mh['count']} utterance(s) scored as full deletions"
                 + (f": {_ids_preview(mh['ids'])}" if mh["count"] else ""))
    lines += _ci_lines(s)
    return "\n".join(lines) + "\n"


def _fmt_ci(ci: Optional[List[float]]) -> str:
    return "n/a" if ci is None else f"[{_fmt_rate(ci[0])}, {_fmt_rate(ci[1])}]"


def _ci_lines(s: dict) -> List[str]:
    """The interval (and the paired comparison) under the MER lines, when they were computed."""
    if "ci95" not in s:
        return []
    b = s["bootstrap"]
    out = ["", f"MER 95 % CI   = {_fmt_ci(s['ci95'])}   percentile bootstrap of the headline MER over "
               f"{b['replications']} utterance resamples (seed {b['seed']})"]
    vs = s.get("vs_baseline")
    if vs is not None:
        delta = "n/a" if vs["delta"] is None else f"{100.0 * vs['delta']:+.2f} %"
        ci = "n/a" if vs["ci95"] is None else f"[{100.0 * vs['ci95'][0]:+.2f} %, {100.0 * vs['ci95'][1]:+.2f} %]"
        p = "n/a" if vs["p_improve"] is None else f"{vs['p_improve']:.3f}"
        out += [f"baseline      = {vs['baseline_hyp']}: MER {_fmt_rate(vs['baseline_mer'])}",
                f"delta         = {delta}  95 % CI {ci}   MER(hyp) - MER(baseline) on the same resamples",
                f"p_improve     = {p}   share of resamples where hyp has the lower MER"]
    return out


def format_per_utt(acc: MerAccumulator) -> str:
    """per_utt.tsv: one row per reference utterance, in reference order, with its alignment."""
    out = ["\t".join(PER_UTT_COLUMNS)]
    for u in acc.utts:
        ops, r, h = u.alignment()
        if u.n_ref:
            mer = f"{u.err / u.n_ref:.4f}"
        else:  # undefined, unless the preset scores it as HiKE does (its insertions)
            mer = f"{u.ins:.4f}" if acc.preset.empty_refs_in_mean else "NA"
        out.append(f"{u.utt_id}\t{u.status}\t{u.n_ref}\t{u.n_hyp}\t{u.corr}\t{u.sub}\t{u.dele}\t{u.ins}\t"
                   f"{u.err}\t{mer}\t{ops}\t{' '.join(r)}\t{' '.join(h)}")
    return "\n".join(out) + "\n"


def per_utt_counts(acc: MerAccumulator) -> Tuple[List[str], List[int], List[int]]:
    """(utterance ids, errors, reference tokens) of every scored utterance, in scoring order."""
    return ([u.utt_id for u in acc.utts], [u.err for u in acc.utts], [u.n_ref for u in acc.utts])


def with_interval(summary: dict, acc: MerAccumulator, replications: int = bootstrap.REPLICATIONS,
                  seed: int = bootstrap.SEED, baseline: Optional[MerAccumulator] = None,
                  baseline_hyp: str = "") -> dict:
    """`summary` with `ci95` right after `mer` (and `vs_baseline` when a baseline is given)."""
    ids, err, n_ref = per_utt_counts(acc)
    rs = bootstrap.Resample(ids, replications, seed)
    empty_in_mean = acc.preset.empty_refs_in_mean
    reps = rs.replicates(err, n_ref, summary["mer_is"], empty_in_mean)
    out = {}
    for k, v in summary.items():
        out[k] = v
        if k == "mer":
            out["ci95"] = bootstrap.interval(reps)
    out["bootstrap"] = {"replications": replications, "seed": seed, "unit": "utterance",
                        "interval": "2.5th-97.5th percentile of the resampled headline MER"}
    if baseline is not None:
        b_ids, b_err, b_ref = per_utt_counts(baseline)
        assert b_ids == ids and b_ref == n_ref, "baseline scored on other utterances"
        b_sum = baseline.summary()
        cmp = bootstrap.compare(summary["mer"], reps, b_sum["mer"], rs.replicates(b_err, b_ref, summary["mer_is"], empty_in_mean))
        out["vs_baseline"] = {**(cmp or {"delta": None, "ci95": None, "p_improve": None}),
                              "baseline_hyp": baseline_hyp, "baseline_mer": b_sum["mer"]}
    return out


def write_outputs(acc: MerAccumulator, out_dir: "str | os.PathLike", ref: str = "", hyp: str = "",
                  extra: Optional[Dict] = None, summary: Optional[dict] = None) -> dict:
    """Render all three outputs in memory, then write each atomically. Returns the JSON dict."""
    summary = acc.summary() if summary is None else summary
    result = {"ref": str(ref), "hyp": str(hyp), **summary, **(extra or {})}
    texts = {
        "result.txt": format_result_txt(summary, str(ref), str(hyp)),
        "result.json": json.dumps(result, ensure_ascii=False, indent=2) + "\n",
        "per_utt.tsv": format_per_utt(acc),
    }
    out = Path(out_dir)
    for name in RESULT_FILES:
        with atomic_open(out / name) as f:
            f.write(texts[name])
    return result


def check_same_ids(hyps: Mapping[str, str], base: Mapping[str, str], hyp_name: str, base_name: str) -> None:
    """A paired comparison needs the same utterances on both sides: name the first one that is not."""
    missing = next((k for k in hyps if k not in base), None)
    if missing is not None:
        raise CsExtError(f"--baseline-hyp {base_name}: no utterance '{missing}', which {hyp_name} has "
                         "(the paired comparison needs the same utterance ids in both hypothesis files)")
    extra = next((k for k in base if k not in hyps), None)
    if extra is not None:
        raise CsExtError(f"--baseline-hyp {base_name}: utterance '{extra}' is not in {hyp_name} "
                         "(the paired comparison needs the same utterance ids in both hypothesis files)")


def score_files(ref: "str | os.PathLike", hyp: "str | os.PathLike", out_dir: "str | os.PathLike",
                preset: "str | Preset" = "default", loanwords: "str | os.PathLike | None" = None,
                baseline_hyp: "str | os.PathLike | None" = None,
                replications: int = bootstrap.REPLICATIONS, seed: int = bootstrap.SEED,
                segments: "str | os.PathLike | None" = "auto") -> dict:
    """Score Kaldi `text` files; write out_dir/{result.txt,result.json,per_utt.tsv}; return result.json's dict.

    `loanwords`: a utt2loanwords table (HiKE's step, see `loanwords`), substituted in
    every text (reference, hypothesis, baseline) before normalisation; result.json names
    it under ``loanwords``. result.json carries `ci95` (bootstrap, see `bootstrap`) and,
    with `baseline_hyp`, `vs_baseline: {delta, ci95, p_improve}` from the same resamples.
    Raises CsExtError (naming file and line) for non-UTF-8 input, duplicate ids, a
    line without an id, hypothesis (or loanword) ids that are not in the reference, or a
    baseline whose utterance ids differ from the hypothesis's (naming the first such id).
    `segments="auto"`: when the reference's dir holds cs_segments.jsonl, result.json and
    result.txt also break the MER down per language (`per_language`); a path: that file;
    None: never.
    """
    preset = get_preset(preset)
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise CsExtError(f"{out_dir}: exists and is not a directory")
    refs = read_table(ref)
    hyps = read_table(hyp)
    extra = None
    if loanwords is not None:
        from .loanwords import apply_loanwords, check_ids, read_loanwords
        table = read_loanwords(loanwords)
        check_ids(table, refs, str(loanwords), str(ref))
        refs, hyps = apply_loanwords(refs, table), apply_loanwords(hyps, table)
        extra = {"loanwords": {"file": str(loanwords), "utts_with_loanwords": sum(1 for v in table.values() if v)}}
    acc = score_tables(refs, hyps, preset, hyp_name=str(hyp), ref_name=str(ref))
    base_acc = None
    if baseline_hyp is not None:
        base = read_table(baseline_hyp)
        check_same_ids(hyps, base, str(hyp), str(baseline_hyp))
        if loanwords is not None:
            base = apply_loanwords(base, table)
        base_acc = score_tables(refs, base, preset, hyp_name=str(baseline_hyp), ref_name=str(ref))
    summary = with_interval(acc.summary(), acc, replications, seed, base_acc, str(baseline_hyp or ""))
    if segments is not None:
        summary.update(per_language.for_files(acc, ref, refs, table if loanwords is not None else None, segments))
    return write_outputs(acc, out_dir, str(ref), str(hyp), extra=extra, summary=summary)
