"""cs-prepare: corpus preparation for code-switched ASR (Kaldi-style data dirs).

    cs-prepare synthetic --pairs ko-en,ja-en,de-en,ko-ja,ko-de --utts-per-pair 200 \
        --test-only-pairs ko-ja,ko-de --out data/synthetic
    cs-prepare cs-text --pairs ko-en,ko-ja --n 5000 --out data/cs_text
    cs-prepare validate data/train_ko-en [--out dump/train_ko-en] [--drop-bad]
    cs-prepare combine data/train_seen data/train_ko-en data/train_ja-en data/train_de-en
    cs-prepare pair-sets data        # name the best source per split+pair <split>_<pair>
    cs-prepare covost2 CV_DIR --src-langs de --out data/covost2 [--tasks st,asr] [--drop-bad]
    cs-prepare synthetic-st --langs de,ja,ko --utts-per-lang 200 --out data/synthetic_st
    cs-prepare synthetic-mono --langs en,de,ja,ko --utts-per-lang 200 --out data/synthetic_st
    cs-prepare <corpus> CORPUS_DIR --out data [corpus options]
        corpus: aihub_koen jecs unicom csfleurs koja kode hike
        (koja/hike/csfleurs also take a Hugging Face id, e.g. hf://thetaone-ai/HiKE)

Every subcommand prints what it wrote; errors are one line `cs-prepare: error: ...`
(exit 2). Run `cs-prepare <subcommand> -h` for the options.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

from espnet_cs_ext.utils.errors import CsExtError, cli_main

PROG = "cs-prepare"


def _csv(s: str) -> list:
    return [x.strip() for x in s.split(",") if x.strip()]


def _tts_prefs(s: Optional[str]) -> dict:
    out = {}
    for item in _csv(s or ""):
        if "=" not in item:
            raise CsExtError(f"--tts expects lang=backend[,lang=backend], got '{item}'")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("synthetic", help="synthesise the offline code-switched corpus")
    s.add_argument("--pairs", default="ko-en,ja-en,de-en,ko-ja,ko-de", help="comma-separated pairs, matrix language first")
    s.add_argument("--utts-per-pair", type=int, default=200, help="utterances per pair (all splits together)")
    s.add_argument("--split", default="0.8,0.1,0.1", help="train,dev,test fractions")
    s.add_argument("--test-only-pairs", default="", help="pairs that only get a test set (unseen pairs), e.g. ko-ja,ko-de")
    s.add_argument("--test-only-utts", type=int, default=None,
                   help="test utterances per test-only pair (default: the test share of --utts-per-pair)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--nj", type=int, default=1, help="parallel synthesis processes")
    s.add_argument("--tts", default=None, help="force backends, e.g. ko=espeak-ng,en=pico (default: best available)")
    s.add_argument("--text-per-pair", type=int, default=2000, help="lines of text-only CS corpus per seen pair (0: none)")
    s.add_argument("--p-intra", type=float, default=0.7, help="share of intra-sentential utterances")
    s.add_argument("--no-progress", action="store_true")
    s.add_argument("--out", required=True, help="output dir (data dirs <split>_<pair>, audio/, cs_text/)")

    t = sub.add_parser("cs-text", help="text-only code-switched sentences per pair (for AsyncSwitch)")
    t.add_argument("--pairs", default="ko-en,ja-en,de-en")
    t.add_argument("--n", type=int, default=2000, help="lines per pair")
    t.add_argument("--split", default="train", choices=["train", "dev", "test"], help="which sentence items to use")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, help="output dir: <out>/<pair>.txt")

    v = sub.add_parser("validate", help="check a data dir; with --out write a cleaned 16 kHz mono copy")
    v.add_argument("data_dir")
    v.add_argument("--out", default=None, help="formatted copy (sorted tables, 16 kHz mono 16-bit wavs)")
    v.add_argument("--drop-bad", action="store_true", help="drop bad utterances (counts reported) instead of stopping")
    v.add_argument("--max-duration", type=float, default=30.0, help="longer utterances are reported (and dropped)")
    v.add_argument("--report", default=None, help="write the full report here (default: OUT/validate_report.txt)")

    ps = sub.add_parser("pair-sets", help="write <split>_<pair> dirs from the best prepared source (see data.pairsets)")
    ps.add_argument("datadir")

    m = sub.add_parser("combine", help="concatenate data dirs into one (ids must not clash)")
    m.add_argument("out")
    m.add_argument("dirs", nargs="+")

    add_st_parsers(sub)
    from espnet_cs_ext.data import CORPORA
    for name, pair in CORPORA.items():
        c = sub.add_parser(name, help=f"prepare {name} ({pair})")
        c.add_argument("corpus_dir", help="local corpus dir (layout: see the module docstring)"
                       + (" or hf://<repo id> to download" if name in ("koja", "hike", "csfleurs") else ""))
        c.add_argument("--out", required=True, help="output dir for the data dirs")
        c.add_argument("--seed", type=int, default=0, help="seed for the train/dev/test split")
        c.add_argument("--split", default="0.8,0.1,0.1", help="train,dev,test fractions where the corpus has no split")
        if name in ("koja", "hike", "csfleurs"):
            from espnet_cs_ext.data.hub import DEFAULT_REVISIONS
            c.add_argument("--revision", default=None,
                           help=f"Hub revision (commit, tag or branch) for hf:// ids (default: "
                                f"{DEFAULT_REVISIONS[name][1]}); recorded in info.json with the commit read")
        if name == "hike":
            c.add_argument("--text-field", default="text_normalized", choices=["text_normalized", "text"],
                           help="reference column: text_normalized (what HiKE scores against) or the raw text")
        if name == "csfleurs":
            c.add_argument("--subset", default="read", help="read | xtts | mms (comma-separated)")
            c.add_argument("--pairs", default="", help="pair filter, e.g. deu-eng,cmn-eng (default: all); "
                                                      "only their files are downloaded")
    return p


def add_st_parsers(sub) -> None:
    """Speech translation (X->en) and monolingual sets: CoVoST 2 and the synthetic ones."""
    c = sub.add_parser("covost2", help="CoVoST 2 X->en ST data dirs from Common Voice clips + CoVoST tsvs")
    c.add_argument("cv_dir", help="Common Voice dir holding clips/ (or <src>/clips/); layout: espnet_cs_ext/data/covost2.py")
    c.add_argument("--src-langs", required=True, help="source languages, e.g. de,ca,es (X->en)")
    c.add_argument("--tsv-dir", default=None, help="dir of covost_v2.<src>_en.<split>.tsv (default: CV_DIR)")
    c.add_argument("--splits", default="train,dev,test")
    c.add_argument("--tasks", default="st", help="st (-> <split>_st_<src>-en) and/or asr (-> <split>_mono_<src>)")
    c.add_argument("--max-utts", type=int, default=None, help="seeded random subset of N rows per language and split")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--audio", default="convert", choices=["convert", "pipe"],
                   help="convert: 16 kHz wav files under OUT/audio (resumable); pipe: sox pipes in wav.scp")
    c.add_argument("--drop-bad", action="store_true",
                   help="drop rows with missing audio / empty text (reported by id) instead of stopping")
    c.add_argument("--nj", type=int, default=1, help="parallel audio conversion processes")
    c.add_argument("--no-progress", action="store_true")
    c.add_argument("--out", required=True)
    for name, what in (("synthetic-st", "ST sets <split>_st_<lang>-en (speech in <lang>, English text)"),
                       ("synthetic-mono", "monolingual ASR sets <split>_mono_<lang> (forgetting check)")):
        s = sub.add_parser(name, help=f"synthesise {what}")
        s.add_argument("--langs", required=True, help="languages, e.g. de,ja,ko" + ("" if "st" in name else ",en"))
        s.add_argument("--utts-per-lang", type=int, default=200, help="utterances per language (all splits together)")
        s.add_argument("--split", default="0.8,0.1,0.1", help="train,dev,test fractions")
        s.add_argument("--splits", default="train,dev,test" if name == "synthetic-st" else "test",
                       help="which splits to write (default: %(default)s)")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--nj", type=int, default=1)
        s.add_argument("--tts", default=None, help="force backends, e.g. de=espeak-ng")
        s.add_argument("--no-progress", action="store_true")
        s.add_argument("--out", required=True, help="output dir (data dirs + audio/mono_<lang>/)")


def run_st(args) -> int:
    if args.cmd == "covost2":
        from espnet_cs_ext.data.covost2 import prepare_covost2
        dirs = prepare_covost2(args.cv_dir, args.out, _csv(args.src_langs), tsv_dir=args.tsv_dir,
                               splits=_csv(args.splits), tasks=_csv(args.tasks), max_utts=args.max_utts,
                               seed=args.seed, audio=args.audio, drop_bad=args.drop_bad, nj=args.nj,
                               progress=not args.no_progress)
        from pathlib import Path
        report = Path(args.out) / "covost2_report.txt"
        if report.exists():  # only left when rows were dropped (--drop-bad)
            from espnet_cs_ext.data.covost2 import read_report
            print(f"dropped (--drop-bad): {read_report(report)}; full list: {report}")
    else:
        from espnet_cs_ext.data.synthetic.monolingual import prepare_synthetic_monolingual
        dirs = prepare_synthetic_monolingual(
            args.out, _csv(args.langs), task="st" if args.cmd == "synthetic-st" else "asr",
            utts_per_lang=args.utts_per_lang, split=_csv(args.split), splits=_csv(args.splits),
            seed=args.seed, nj=args.nj, tts_backend=_tts_prefs(args.tts), progress=not args.no_progress)
    for name, d in sorted(dirs.items()):
        print(f"{name}: {d}")
    return 0


def run(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd in ("covost2", "synthetic-st", "synthetic-mono"):
        return run_st(args)
    if args.cmd == "synthetic":
        from espnet_cs_ext.data.synthetic import prepare_synthetic
        dirs = prepare_synthetic(args.out, pairs=_csv(args.pairs), utts_per_pair=args.utts_per_pair,
                                 split=_csv(args.split), test_only_pairs=_csv(args.test_only_pairs),
                                 test_only_utts=args.test_only_utts,
                                 seed=args.seed, nj=args.nj, tts_backend=_tts_prefs(args.tts),
                                 text_per_pair=args.text_per_pair, p_intra=args.p_intra,
                                 progress=not args.no_progress)
        for name, d in sorted(dirs.items()):
            print(f"{name}: {d}")
        with open(f"{args.out}/log/synthesis_stats.json") as f:
            print("stats:", json.dumps(json.load(f)))
        return 0
    if args.cmd == "cs-text":
        from pathlib import Path
        from espnet_cs_ext.data.synthetic import generate_cs_text
        from espnet_cs_ext.utils.atomic import atomic_open
        for pair in _csv(args.pairs):
            lines = generate_cs_text(pair, args.n, seed=args.seed, split=args.split)
            path = Path(args.out) / f"{pair}.txt"
            with atomic_open(path) as f:
                f.write("\n".join(lines) + "\n")
            print(f"{pair}: {len(lines)} lines -> {path}")
        return 0
    if args.cmd == "validate":
        from espnet_cs_ext.data.validate import format_data_dir
        rep = format_data_dir(args.data_dir, args.out, drop_bad=args.drop_bad,
                              max_duration=args.max_duration, report_path=args.report)
        print(rep.summary())
        return 0
    if args.cmd == "pair-sets":
        from espnet_cs_ext.data.pairsets import make_pair_sets
        for alias, src in sorted(make_pair_sets(args.datadir).items()):
            print(f"{alias} <- {src}")
        return 0
    if args.cmd == "combine":
        from espnet_cs_ext.data.datadir import combine_data_dirs
        d = combine_data_dirs(args.out, args.dirs)
        print(f"{d}: {sum(1 for _ in open(d / 'text', encoding='utf-8'))} utterances from {len(args.dirs)} dirs")
        return 0
    from espnet_cs_ext.data import get_preparer
    kwargs = {"seed": args.seed, "split": _csv(args.split)}
    if args.cmd == "csfleurs":
        kwargs.update(subsets=_csv(args.subset), pairs=_csv(args.pairs))
    if args.cmd == "hike":
        kwargs.update(text_field=args.text_field)
    if args.cmd in ("koja", "hike", "csfleurs"):
        kwargs.update(revision=args.revision)
    dirs = get_preparer(args.cmd)(args.corpus_dir, args.out, **kwargs)
    for name, d in sorted(dirs.items()):
        print(f"{name}: {d}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point: errors become `cs-prepare: error: ...` and exit 2."""
    return cli_main(PROG, run, argv)


if __name__ == "__main__":
    sys.exit(main())
