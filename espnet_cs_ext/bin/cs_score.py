"""cs-score: Mixed Error Rate of a hypothesis `text` file against a reference `text` file.

    cs-score --ref data/test/text --hyp exp/asr/decode_test/text --out exp/asr/decode_test/score_mer \\
             [--preset default|hike|hike_script|none] [--loanwords data/test_hike/utt2loanwords]
             [--baseline-hyp B] [--bootstrap 1000] [--seed 0] [--strict]
    cs-score --metric bleu --ref data/test_st_de-en/text --hyp .../text --out DIR [--tokenize 13a]
    python -m espnet_cs_ext.bin.cs_score ...   # the same

Writes OUT/result.txt, OUT/result.json, OUT/per_utt.tsv (see espnet_cs_ext.scoring;
MER comes with `ci95: [lo, hi]`, an utterance-level bootstrap interval, and with
--baseline-hyp B with `vs_baseline: {delta, ci95, p_improve}` (paired bootstrap: delta =
MER(hyp) - MER(B), p_improve = share of resamples where hyp is lower; espnet_cs_ext.scoring.bootstrap);
for --metric bleu, espnet_cs_ext.scoring.bleu: sacreBLEU corpus BLEU + chrF).
When the --ref file's dir holds cs_segments.jsonl (language-tagged segments, e.g. the
synthetic corpus), result.json gains `per_language: {lang: {n, sub, del, ins, mer}}` and
result.txt a per-language table (espnet_cs_ext.scoring.per_language).
Bad input exits with status 2 and one line naming the file and line; nothing is written.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from ..utils.errors import CsExtError, cli_main

PROG = "cs-score"


def get_parser() -> argparse.ArgumentParser:
    from ..scoring.bootstrap import REPLICATIONS, SEED
    from ..scoring.presets import PRESETS
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", help="reference Kaldi text file (<utt-id> <transcript>)")
    p.add_argument("--hyp", help="hypothesis Kaldi text file")
    p.add_argument("--out", help="output directory (created if missing)")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS),
                   help="normalisation/tokenisation/headline preset (default: %(default)s)")
    p.add_argument("--list-presets", action="store_true", help="describe every preset and exit")
    p.add_argument("--loanwords", default=None,
                   help="utt2loanwords table (cs-prepare hike writes it): HiKE's loanword step, applied to "
                        "reference and hypothesis before normalisation")
    p.add_argument("--metric", default="mer", choices=["mer", "bleu"],
                   help="mer: Mixed Error Rate (ASR); bleu: sacreBLEU BLEU + chrF (speech translation)")
    p.add_argument("--baseline-hyp", default=None, metavar="B",
                   help="a second hypothesis file of the same utterances: adds vs_baseline (paired bootstrap)")
    p.add_argument("--bootstrap", type=int, default=None, metavar="N",
                   help=f"bootstrap resamples for ci95 (default {REPLICATIONS})")
    p.add_argument("--seed", type=int, default=None, help=f"bootstrap seed (default {SEED})")
    p.add_argument("--tokenize", default=None,
                   help="sacreBLEU tokeniser for --metric bleu (default 13a: English targets)")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 2, nothing written) when a reference utterance has no hypothesis")
    return p


def _check_complete(args) -> None:
    """--strict: refuse before anything is written when hypotheses are missing."""
    from ..utils.kaldi import read_table, show_id
    hyps = read_table(args.hyp)
    missing = [k for k in read_table(args.ref) if k not in hyps]
    if missing:
        shown = ", ".join(show_id(k) for k in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise CsExtError(f"{args.hyp}: {len(missing)} reference utterance(s) have no hypothesis "
                         f"(--strict): {shown}")


def _main(argv: Optional[Sequence[str]]) -> int:
    from ..scoring import PRESETS, score_files
    args = get_parser().parse_args(argv)
    if args.list_presets:
        for name, p in PRESETS.items():
            print(f"{name}: {p.description}" + (f" [{p.source}]" if p.source else ""))
        return 0
    missing = [f"--{k}" for k in ("ref", "hyp", "out") if getattr(args, k) is None]
    if missing:
        raise CsExtError(f"missing required option(s): {' '.join(missing)}")
    if args.strict:
        _check_complete(args)
    if args.metric == "bleu":
        return _bleu(args)
    if args.tokenize is not None:
        raise CsExtError("--tokenize applies to --metric bleu only")
    from ..scoring.bootstrap import REPLICATIONS, SEED
    replications = REPLICATIONS if args.bootstrap is None else args.bootstrap
    if replications < 1:
        raise CsExtError(f"--bootstrap must be >= 1 resample, got {replications}")
    if args.seed is not None and args.seed < 0:
        raise CsExtError(f"--seed must be >= 0, got {args.seed}")
    res = score_files(args.ref, args.hyp, args.out, preset=args.preset, loanwords=args.loanwords,
                      baseline_hyp=args.baseline_hyp, replications=replications,
                      seed=SEED if args.seed is None else args.seed)
    mer, ci = res["mer"], res["ci95"]
    print(f"{PROG}: {args.hyp} vs {args.ref} -> {args.out}: MER ({res['mer_is']}, preset {args.preset}) = "
          + ("n/a" if mer is None else f"{100 * mer:.2f} %")
          + ("" if ci is None else f" [95 % CI {100 * ci[0]:.2f}, {100 * ci[1]:.2f}]")
          + f" over {res['num_utts']} utterances, {res['num_ref_tokens']} reference tokens"
          + f" ({res['missing_hyps']['count']} missing hypotheses)")
    if "per_language" in res:
        _print_per_language(res)
    vs = res.get("vs_baseline")
    if vs is not None and vs["delta"] is not None:
        print(f"{PROG}: vs baseline {args.baseline_hyp}: delta {100 * vs['delta']:+.2f} %"
              + ("" if vs["ci95"] is None else f" [95 % CI {100 * vs['ci95'][0]:+.2f}, {100 * vs['ci95'][1]:+.2f}]")
              + f", p_improve {vs['p_improve']:.3f}")
    return 0


def _print_per_language(res: dict) -> None:
    """One line of per-language MER (cs_segments.jsonl beside --ref), a warning for skipped utterances."""
    def cell(lang: str, v: dict) -> str:
        mer = "n/a" if v["mer"] is None else f"{100 * v['mer']:.2f} %"
        return f"{lang} {mer} ({v['n']} tokens)"

    cells = [cell(lang, v) for lang, v in res["per_language"].items()]
    print(f"{PROG}: per language: " + (", ".join(cells) or "none"))
    sk = res["per_language_meta"]["skipped"]
    if sk["count"]:
        print(f"{PROG}: warning: per-language MER leaves out {sk['count']} of {res['num_utts']} utterance(s) "
              f"whose segments do not give the reference tokens: "
              + "; ".join(res["per_language_meta"]["skipped_why"]), file=sys.stderr)


def _bleu(args) -> int:
    from ..scoring.bleu import DEFAULT_TOKENIZE, score_bleu_files
    for opt, value in (("--loanwords", args.loanwords), ("--baseline-hyp", args.baseline_hyp),
                       ("--bootstrap", args.bootstrap), ("--seed", args.seed)):
        if value is not None:
            raise CsExtError(f"{opt} applies to --metric mer only")
    if args.preset != "default":
        raise CsExtError("--preset applies to --metric mer only (BLEU uses sacreBLEU's settings, see --tokenize)")
    res = score_bleu_files(args.ref, args.hyp, args.out, tokenize=args.tokenize or DEFAULT_TOKENIZE)
    print(f"{PROG}: {args.hyp} vs {args.ref} -> {args.out}: BLEU = {res['bleu']:.2f}, chrF = {res['chrf']:.2f}"
          f" over {res['n']} utterances ({res['missing_hyps']['count']} missing hypotheses)")
    print(f"{PROG}: signature {res['signature']['bleu']}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
