"""Throughput of the MER scorer against a plain jiwer per-utterance loop, same data, same run.

    .venv/bin/python bench/bench_score.py [--n 100000] [--rounds 5] [--seed 0] [--md]
    .venv/bin/python bench/bench_score.py --bootstrap [--sets 260] [--rounds 3]   # cost of ci95

--bootstrap: the interval's cost for stage 8's 260 (model, set) pairs at several set
sizes: scoring alone (MerAccumulator, keep_utts) vs the same plus `with_interval`
(1000 seeded resamples, percentile interval), and kaldialign's bootstrap_wer_ci
(realigns, 1000 replications) on the same tokens, CPU time of this process.

Data: `score_data.make_pairs` -- synthetic code-switched pairs (ko-en, ja-en,
de-en, ko-ja, ko-de, zh-en), 4-18 words each, with substitutions, deletions,
insertions, case, punctuation and full-width noise in the hypothesis.

Rows:
  jiwer loop        `jiwer.process_words(ref, hyp)` per utterance, counts summed
                    (jiwer's default transform: whitespace words, no normalisation).
  cs-score <preset> `MerAccumulator(preset, keep_utts=False).add_many(refs, hyps)`:
                    normalisation, script tokenisation, alignment, S/D/I, both MERs,
                    per-script breakdown.
  ... keep_utts     the same keeping every utterance's result (what score_files does).
  score_files       end to end: read two Kaldi text files, score, write result.txt,
                    result.json and per_utt.tsv (alignments recomputed for it).
  jiwer + HiKE norm context only: jiwer with HiKE's hypothesis normalisation built
                    from jiwer transforms, i.e. jiwer doing part of what `hike` does.

Timing is CPU time of this process (time.process_time) with the methods
interleaved round by round, because the machine is shared: the best round's
time per method, and the median over rounds of its CPU time divided by the jiwer
loop's in the same round (pairing cancels slow swings in load). Wall time of the
best round is shown too. S/D/I differ between jiwer and cs-score rows by design:
jiwer counts whitespace words, cs-score counts script tokens (Hangul, kana, Han
per character), and the presets normalise differently.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from score_data import make_pairs  # noqa: E402


def jiwer_loop(pairs):
    import jiwer
    h = s = d = i = 0
    for ref, hyp in pairs:
        o = jiwer.process_words(ref, hyp)
        h += o.hits; s += o.substitutions; d += o.deletions; i += o.insertions
    return s, d, i


def jiwer_hike_loop(pairs):
    import jiwer
    from jiwer.transforms import (Compose, ExpandCommonEnglishContractions, ReduceToListOfListOfWords,
                                  ReduceToSingleSentence, RemoveKaldiNonWords, RemoveMultipleSpaces,
                                  RemovePunctuation, RemoveWhiteSpace, Strip, SubstituteWords, ToLowerCase)
    norm = Compose([ToLowerCase(), ExpandCommonEnglishContractions(), RemoveKaldiNonWords(),
                    SubstituteWords({"\u2014": " "}), RemovePunctuation(), RemoveWhiteSpace(replace_by_space=True),
                    RemoveMultipleSpaces(), Strip(), ReduceToSingleSentence(), ReduceToListOfListOfWords()])
    s = d = i = 0
    for ref, hyp in pairs:
        o = jiwer.process_words(ref, hyp, hypothesis_transform=norm)
        s += o.substitutions; d += o.deletions; i += o.insertions
    return s, d, i


def ours(pairs, preset, keep=False):
    from espnet_cs_ext.scoring import MerAccumulator
    acc = MerAccumulator(preset, keep_utts=keep)
    acc.add_many([r for r, _ in pairs], [h for _, h in pairs])
    x = acc.summary()
    return x["sub"], x["del"], x["ins"]


def files(pairs, tmp):
    from espnet_cs_ext.scoring import score_files
    x = score_files(tmp / "ref", tmp / "hyp", tmp / "out", preset="default")
    return x["sub"], x["del"], x["ins"]


def bootstrap_cost(sets: int, rounds: int, seed: int) -> None:
    import kaldialign

    from espnet_cs_ext.scoring import MerAccumulator
    from espnet_cs_ext.scoring.bootstrap import REPLICATIONS
    from espnet_cs_ext.scoring.report import with_interval

    print(f"{sets} (model, set) pairs, {REPLICATIONS} resamples, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print("| utterances per set | scoring CPU s | + ci95 CPU s | ci95 share | kaldialign bootstrap_wer_ci CPU s |")
    print("|---:|---:|---:|---:|---:|")
    for n in (10, 40, 400, 2000):
        pairs = make_pairs(n, seed)
        refs, hyps = [r for r, _ in pairs], [h for _, h in pairs]
        ids = [f"utt{k:07d}" for k in range(n)]
        best = {}
        for _ in range(rounds):
            for name in ("score", "score+ci", "kaldialign"):
                c0 = time.process_time()
                for _ in range(sets):
                    acc = MerAccumulator("default", keep_utts=True)
                    acc.add_many(refs, hyps, ids)
                    summ = acc.summary()
                    if name == "score+ci":
                        with_interval(summ, acc)
                    elif name == "kaldialign":
                        kaldialign.bootstrap_wer_ci([u.ref.split() for u in acc.utts],
                                                    [u.hyp.split() for u in acc.utts], replications=REPLICATIONS)
                c = time.process_time() - c0
                best[name] = min(best.get(name, c), c)
        ci = best["score+ci"] - best["score"]
        print(f"| {n} | {best['score']:.2f} | {best['score+ci']:.2f} | {ci / best['score+ci']:.0%} | "
              f"{best['kaldialign'] - best['score']:.2f} |")
    print("best of rounds; ci95 share = (score+ci - score) / (score+ci); kaldialign column: its call alone.")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--md", action="store_true", help="also print a markdown table")
    ap.add_argument("--bootstrap", action="store_true", help="measure what ci95 costs instead (see above)")
    ap.add_argument("--sets", type=int, default=260, help="--bootstrap: (model, set) pairs (default 260)")
    args = ap.parse_args(argv)
    if args.bootstrap:
        return bootstrap_cost(args.sets, args.rounds, args.seed)

    pairs = make_pairs(args.n, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="bench_score."))
    with open(tmp / "ref", "w", encoding="utf-8") as fr, open(tmp / "hyp", "w", encoding="utf-8") as fh:
        for k, (r, h) in enumerate(pairs):
            fr.write(f"utt{k:07d} {r}\n")
            fh.write(f"utt{k:07d} {h}\n")
    methods = [
        ("jiwer loop", lambda: jiwer_loop(pairs)),
        ("cs-score none", lambda: ours(pairs, "none")),
        ("cs-score default", lambda: ours(pairs, "default")),
        ("cs-score hike", lambda: ours(pairs, "hike")),
        ("cs-score default, keep_utts", lambda: ours(pairs, "default", keep=True)),
        ("score_files default (I/O + 3 outputs)", lambda: files(pairs, tmp)),
        ("context: jiwer + HiKE norm (jiwer transforms)", lambda: jiwer_hike_loop(pairs)),
    ]
    best = {}
    ratios = {name: [] for name, _ in methods}
    counts = {}
    for rnd in range(args.rounds):
        cpu = {}
        for name, fn in methods:
            w0, c0 = time.perf_counter(), time.process_time()
            counts[name] = fn()
            c, w = time.process_time() - c0, time.perf_counter() - w0
            cpu[name] = c
            if name not in best or c < best[name][0]:
                best[name] = (c, w)
        for name in cpu:  # paired with jiwer in the same round: cancels slow swings in load
            ratios[name].append(cpu[name] / cpu["jiwer loop"])
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)

    print(f"{args.n} utterance pairs, seed {args.seed}, {args.rounds} rounds, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    head = (f"{'method':46s} {'CPU s':>6} {'us/utt':>7} {'wall s':>7} {'ratio':>6} "
            f"{'range':>11}   S/D/I")
    print(head)
    print("-" * len(head))
    rows = []
    for name, _ in methods:
        c, w = best[name]
        r = sorted(ratios[name])
        rows.append((name, c, 1e6 * c / args.n, w, statistics.median(r), r[0], r[-1]))
        print(f"{name:46s} {c:6.2f} {1e6 * c / args.n:7.1f} {w:7.2f} {rows[-1][4]:5.2f}x "
              f"{r[0]:5.2f}-{r[-1]:4.2f}   {counts[name]}")
    print("CPU s, us/utt, wall s: best round. ratio: median over rounds of CPU time / jiwer loop's CPU time "
          "in the same round (range: min-max).")
    if args.md:
        print("\n| method | CPU s (best) | us/utt | wall s | CPU vs jiwer loop, median (range) |")
        print("|---|---:|---:|---:|---:|")
        for name, c, us, w, med, lo, hi in rows:
            print(f"| {name} | {c:.2f} | {us:.1f} | {w:.2f} | {med:.2f}x ({lo:.2f}-{hi:.2f}) |")
    for p in (tmp / "out").glob("*"):
        p.unlink()
    for p in tmp.glob("*"):
        if p.is_file():
            p.unlink()
    (tmp / "out").rmdir() if (tmp / "out").exists() else None
    tmp.rmdir()


if __name__ == "__main__":
    main()
