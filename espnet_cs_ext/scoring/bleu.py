"""Speech translation scoring: corpus BLEU and chrF with sacreBLEU (what LoRS-Merging reports).

    cs-score --metric bleu --ref data/test_st_de-en/text --hyp exp/decode/m/test_st_de-en/text --out DIR

Writes, like the MER scorer, DIR/result.txt (human-readable, with a `Sum/Avg` row
holding BLEU and chrF, the sacreBLEU signatures and score lines), DIR/result.json
(`bleu`, `chrf`, `signature` {bleu, chrf}, `n`, `missing_hyps` {count, ids}, n-gram
precisions, brevity penalty, lengths) and DIR/per_utt.tsv (sentence BLEU with
effective order, sentence chrF, ref, hyp), each atomically.

Settings are sacreBLEU's defaults, stated in the signature: case-sensitive, BLEU
tokeniser `13a` (the standard for English and other space-delimited targets; the
targets here are always English, X->en, so `ja-mecab`/`zh`/`char` are not needed but
`tokenize=` accepts any sacreBLEU tokeniser), exponential smoothing, chrF with
character order 6, beta 2, no word n-grams. Texts are scored as written (no
normalisation): BLEU compares detokenised output, which is what sacreBLEU is for.
A reference utterance without a hypothesis is scored as an empty hypothesis (it
lowers BLEU through brevity and lost matches) and listed in `missing_hyps`;
hypothesis ids not in the reference are an error, as for MER.

sacrebleu is imported inside the functions, so `espnet_cs_ext.scoring` stays light.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Mapping

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError
from ..utils.kaldi import read_table, show_id

RESULT_FILES = ("result.txt", "result.json", "per_utt.tsv")
PER_UTT_COLUMNS = ("utt_id", "status", "bleu", "chrf", "ref", "hyp")
DEFAULT_TOKENIZE = "13a"


def _preview(ids: List[str], n: int = 10) -> str:
    return ", ".join(show_id(i) for i in ids[:n]) + (f" ... (+{len(ids) - n} more)" if len(ids) > n else "")


def _metrics(tokenize: str):
    from sacrebleu.metrics import BLEU, CHRF
    try:
        return BLEU(tokenize=tokenize), CHRF()
    except Exception as e:  # unknown tokeniser name (sacrebleu lists its choices)
        raise CsExtError(f"bleu: tokenize={tokenize!r} is not a sacrebleu tokeniser ({str(e).splitlines()[0][:200]})")


def score_bleu(refs: List[str], hyps: List[str], tokenize: str = DEFAULT_TOKENIZE) -> dict:
    """Corpus BLEU and chrF of parallel lists (one reference each); nothing written."""
    if len(refs) != len(hyps):
        raise CsExtError(f"bleu: {len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise CsExtError("bleu: nothing to score (no reference utterances)")
    bleu, chrf = _metrics(tokenize)
    b = bleu.corpus_score(hyps, [refs])
    c = chrf.corpus_score(hyps, [refs])
    return {"bleu": b.score, "chrf": c.score, "n": len(refs),
            "signature": {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())},
            "bleu_line": str(b), "chrf_line": str(c),
            "precisions": list(b.precisions), "bp": b.bp, "sys_len": b.sys_len, "ref_len": b.ref_len}


def score_bleu_tables(refs: Mapping[str, str], hyps: Mapping[str, str], tokenize: str = DEFAULT_TOKENIZE,
                      hyp_name: str = "hypothesis", ref_name: str = "reference") -> dict:
    """Score {utt: text} tables in reference order; missing hypotheses count as empty."""
    extra = [k for k in hyps if k not in refs]
    if extra:
        raise CsExtError(f"{hyp_name}: {len(extra)} utterance id(s) not in {ref_name}: {_preview(extra)}")
    ids = list(refs)
    missing = [k for k in ids if k not in hyps]
    res = score_bleu([refs[k] for k in ids], [hyps.get(k, "") for k in ids], tokenize)
    res["missing_hyps"] = {"count": len(missing), "ids": missing}
    res["tokenize"] = tokenize
    res["ids"] = ids
    return res


def format_result_txt(res: dict, ref: str = "", hyp: str = "") -> str:
    mh = res["missing_hyps"]
    head = f"| {'SPKR':<9}| {'# Snt':>6} | {'BLEU':>6} {'chrF':>6} |"
    row = f"| {'Sum/Avg':<9}| {res['n']:>6} | {res['bleu']:>6.2f} {res['chrf']:>6.2f} |"
    return "\n".join([
        "cs-score: speech translation, corpus BLEU and chrF (sacreBLEU)",
        f"ref: {ref}", f"hyp: {hyp}", "",
        head, "|" + "-" * (len(head) - 2) + "|", row, "",
        f"{res['bleu_line']}",
        f"{res['chrf_line']}",
        f"signature BLEU: {res['signature']['bleu']}",
        f"signature chrF: {res['signature']['chrf']}",
        f"missing hypotheses: {mh['count']} utterance(s) scored as empty"
        + (f": {_preview(mh['ids'])}" if mh["count"] else ""),
    ]) + "\n"


def format_per_utt(refs: Mapping[str, str], hyps: Mapping[str, str], tokenize: str) -> str:
    from sacrebleu.metrics import BLEU, CHRF
    # sentence BLEU needs effective order, or every short sentence without a 4-gram match is 0
    bleu, chrf = BLEU(tokenize=tokenize, effective_order=True), CHRF()
    out = ["\t".join(PER_UTT_COLUMNS)]
    for k, r in refs.items():
        h = hyps.get(k)
        status = "missing_hyp" if h is None else "ok"
        h = h or ""
        out.append(f"{k}\t{status}\t{bleu.sentence_score(h, [r]).score:.2f}\t"
                   f"{chrf.sentence_score(h, [r]).score:.2f}\t{r}\t{h}")
    return "\n".join(out) + "\n"


def score_bleu_files(ref: "str | os.PathLike", hyp: "str | os.PathLike", out_dir: "str | os.PathLike",
                     tokenize: str = DEFAULT_TOKENIZE) -> dict:
    """Score Kaldi text files; write out_dir/{result.txt,result.json,per_utt.tsv}; return the JSON dict."""
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise CsExtError(f"{out_dir}: exists and is not a directory")
    refs, hyps = read_table(ref), read_table(hyp)
    res = score_bleu_tables(refs, hyps, tokenize, hyp_name=str(hyp), ref_name=str(ref))
    res.pop("ids")
    result = {"metric": "bleu", "ref": str(ref), "hyp": str(hyp), **res}
    texts = {"result.txt": format_result_txt(res, str(ref), str(hyp)),
             "result.json": json.dumps(result, ensure_ascii=False, indent=2) + "\n",
             "per_utt.tsv": format_per_utt(refs, hyps, tokenize)}
    for name in RESULT_FILES:
        with atomic_open(Path(out_dir) / name) as f:
            f.write(texts[name])
    return result

