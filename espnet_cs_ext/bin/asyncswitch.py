"""AsyncSwitch driver: stage A (text only), B (cross-attention), C (all), I (interpolation).

    python -m espnet_cs_ext.bin.asyncswitch run --out exp/asr_asyncswitch \\
        --conf-dir conf/tuning/asyncswitch/demo --whisper-model base \\
        --text data/synthetic/cs_text/ko-en.txt --text data/synthetic/cs_text/ja-en.txt \\
        --shape-files data/train_all/text data/dev_all/text [--stages A,B,C,I] [--sweep] \\
        -- ESPNET_ARGS...        # token list, data paths, --ngpu, ... as for asr_train
    python -m espnet_cs_ext.bin.asyncswitch stage-a --config stage_a.yaml --init base \\
        --text FILE[:LANG] ... --out DIR [--stop-after N]
    python -m espnet_cs_ext.bin.asyncswitch groups --model CKPT --stage A|B|C
    python -m espnet_cs_ext.bin.asyncswitch freeze-args --model ESPNET.pth --stage B
    python -m espnet_cs_ext.bin.asyncswitch interpolate --base base --model FT.pth \\
        --ratios 0.2,0.4 --out DIR          # DIR/interp_<r>/model.pt

Interpolation: theta = whisper + r * (fine-tuned - whisper); r weights the fine-tuned
model (r=0: original Whisper, r=1: fine-tuned). Text files: one sentence per line;
language per line from a `<|xx|>` tag, else FILE:LANG, else guessed for pair-named files
(ko-en.txt; see espnet_cs_ext/asyncswitch/textdata.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from ..utils.errors import CsExtError, cli_main

PROG = "asyncswitch"


def _split(argv: Sequence[str]):
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="stages A -> B -> C -> I with done markers (args after -- go to ESPnet)")
    r.add_argument("--out", required=True, help="system dir, e.g. exp/asr_asyncswitch")
    r.add_argument("--conf-dir", required=True, help="dir with stage_a.yaml, stage_b.yaml, stage_c.yaml")
    r.add_argument("--whisper-model", default="base", help="original Whisper (stage A init, interpolation base)")
    r.add_argument("--text", action="append", default=[], help="text corpus FILE[:LANG] (repeatable)")
    r.add_argument("--shape-files", nargs=2, metavar=("TRAIN", "VALID"),
                   help="utterance lists for ESPnet collect_stats (the recipe: <train>/text <dev>/text)")
    r.add_argument("--stats-dir", help="reuse this ESPnet collect_stats output (train/ and valid/speech_shape) "
                                       "instead of running collect_stats; then --shape-files is not needed")
    r.add_argument("--stages", default="A,B,C,I", help="subset of A,B,C,I (default all)")
    r.add_argument("--ratios", default="0.4", help="interpolation ratios (weight of the fine-tuned model)")
    r.add_argument("--sweep", action="store_true", help="ratios 0.2,0.4,0.6,0.8 (plus --ratios)")
    r.add_argument("--final-ratio", type=float, default=0.4, help="ratio of OUT/model.pt and OUT/latest.pth")
    r.add_argument("--stop-after-a", type=int, help="end stage A after this step (resume test / budget)")
    r.add_argument("--no-progress", action="store_true")

    a = sub.add_parser("stage-a", help="text-only stage A alone")
    a.add_argument("--config", required=True)
    a.add_argument("--init", default="base", help="Whisper spec to start from")
    a.add_argument("--text", action="append", required=True, help="FILE[:LANG] (repeatable)")
    a.add_argument("--out", required=True)
    a.add_argument("--stop-after", type=int, help="end this run after that step (a checkpoint is kept)")
    a.add_argument("--no-progress", action="store_true")

    g = sub.add_parser("groups", help="print the trainable-group summary of a checkpoint for a stage")
    g.add_argument("--model", required=True, help="Whisper spec or ESPnet .pth")
    g.add_argument("--stage", required=True, choices=["A", "B", "C"])

    f = sub.add_parser("freeze-args", help="print --freeze_param ... for an ESPnet run of a stage")
    f.add_argument("--model", required=True, help="ESPnet state dict (e.g. stage A espnet_init.pth)")
    f.add_argument("--stage", required=True, choices=["A", "B", "C"])

    i = sub.add_parser("interpolate", help="original Whisper + r * (fine-tuned - original), per ratio")
    i.add_argument("--base", required=True, help="original Whisper spec")
    i.add_argument("--model", required=True, help="fine-tuned checkpoint (ESPnet .pth or whisper .pt)")
    i.add_argument("--ratios", default="0.4")
    i.add_argument("--sweep", action="store_true")
    i.add_argument("--out", required=True, help="writes OUT/interp_<r>/model.pt")
    return ap


def _ratios(args) -> List[float]:
    from ..asyncswitch.interpolate import SWEEP, parse_ratios

    rs = parse_ratios(args.ratios)
    return sorted(set(rs) | (set(SWEEP) if args.sweep else set()))


def _sizes(spec: str):
    from ..asyncswitch.espnet_stages import state_sizes

    p = Path(spec)
    if p.suffix == ".pth" and p.is_file():
        return state_sizes(p)
    from ..whisper import load_whisper

    return load_whisper(spec)


def run(argv: Optional[Sequence[str]] = None) -> int:
    own, espnet_args = _split(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(own)
    if args.cmd == "run":
        from ..asyncswitch.pipeline import Plan, parse_stages, run as run_pipeline

        stages = parse_stages(args.stages)
        if any(s in stages for s in "BC"):
            if not args.shape_files and not args.stats_dir:
                raise CsExtError("stages B and C need --shape-files TRAIN VALID (for ESPnet collect_stats)")
            if not espnet_args:
                raise CsExtError("stages B and C need the ESPnet arguments after -- (token list, data paths ...)")
        if "A" in stages and not args.text:
            raise CsExtError("stage A needs at least one --text FILE[:LANG]")
        plan = Plan(out=Path(args.out), conf_dir=Path(args.conf_dir), whisper_model=args.whisper_model,
                    texts=args.text, espnet_args=espnet_args, shape_files=args.shape_files or [],
                    ratios=_ratios(args), final_ratio=args.final_ratio, stop_after_a=args.stop_after_a,
                    progress=not args.no_progress and sys.stderr.isatty(),
                    stats_dir=Path(args.stats_dir) if args.stats_dir else None)
        run_pipeline(plan, stages)
    elif args.cmd == "stage-a":
        from ..asyncswitch.config import load_config
        from ..asyncswitch.stage_a import run_stage_a

        run_stage_a(load_config(args.config), args.init, args.text, args.out, stop_after=args.stop_after,
                    progress=not args.no_progress and sys.stderr.isatty())
    elif args.cmd == "groups":
        from ..asyncswitch.groups import summary

        print(summary(_sizes(args.model), args.stage))
    elif args.cmd == "freeze-args":
        from ..asyncswitch.espnet_stages import freeze_args

        print(" ".join(freeze_args(args.model, args.stage)))
    elif args.cmd == "interpolate":
        from ..asyncswitch.interpolate import interpolate, ratio_name

        for r in _ratios(args):
            out = interpolate(args.base, args.model, r, Path(args.out) / f"interp_{ratio_name(r)}")
            print(out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main(PROG, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
