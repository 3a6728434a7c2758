"""Decode a Kaldi data dir with Whisper (batched, KV-cached greedy/beam search).

    python -m espnet_cs_ext.bin.decode --model SPEC --data DIR --config egs2/cs_unseen/asr1/conf/decode/greedy.yaml --out OUT \\
        [--nj N --job J] [--batch-size B] [--device cpu] [--whisper-dims-from SPEC]
    python -m espnet_cs_ext.bin.decode --merge-shards N --data DIR --out OUT
    python -m espnet_cs_ext.bin.decode --model SPEC --data D1 D2 --out O1 O2 ...  # one model load

SPEC: `base` (offline), an openai-whisper .pt, a CTranslate2 dir, an ESPnet .pth
(dims from --whisper-dims-from or its config.yaml), a .safetensors.
Writes OUT/text (`<utt-id> <hypothesis>`, not normalised), OUT/utt2lang (language
token used) and OUT/decode.yaml (resolved settings). With --nj N --job J (1-based) it
writes OUT/split{N}/{J}/ instead; --merge-shards N then checks that every utterance of
DIR appears exactly once and writes OUT/text. Finished outputs (.done) are skipped on
rerun; a killed job resumes from its text.partial. Config keys: see
espnet_cs_ext/decode/config.py. Bad input exits with status 2 and one line.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Optional, Sequence

from ..utils.errors import CsExtError, cli_main

PROG = "decode"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m espnet_cs_ext.bin.{PROG}", description=__doc__.split("\n")[0],
                                epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model spec (see below)")
    p.add_argument("--data", required=True, nargs="+",
                   help="Kaldi data dir(s) (wav.scp or feats.scp; utt2lang if the config says so)")
    p.add_argument("--out", required=True, nargs="+",
                   help="output dir, one per --data dir (the model is loaded once for all)")
    p.add_argument("--config", help="decode YAML (default: all defaults: greedy, language none)")
    p.add_argument("--nj", type=int, default=1, help="number of shards (default 1)")
    p.add_argument("--job", type=int, help="which shard, 1..nj; writes OUT/split{nj}/{job}/")
    p.add_argument("--merge-shards", type=int, metavar="N", help="merge OUT/split{N}/*/ into OUT/text and exit")
    p.add_argument("--batch-size", type=int, help="utterances per batch (overrides the config)")
    p.add_argument("--beam-size", type=int, help="overrides the config's beam_size")
    p.add_argument("--language", help="overrides the config's language policy (code, utt2lang, none)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: cores // nj, so N parallel jobs do not oversubscribe)")
    p.add_argument("--whisper-dims-from", metavar="SPEC", help="Whisper dims for an ESPnet .pth / .safetensors")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return p


def _main(argv: Optional[Sequence[str]]) -> int:
    from ..decode import decode_data_dir, load_config, merge_shards

    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"{PROG}: %(message)s")
    if len(args.data) != len(args.out):
        raise CsExtError(f"{len(args.data)} --data dirs but {len(args.out)} --out dirs; give one output per data dir")
    if args.merge_shards is not None:
        for data, out_dir in zip(args.data, args.out):
            out = merge_shards(data, out_dir, args.merge_shards)
            print(f"{PROG}: merged {out_dir}/split{args.merge_shards} -> {out}/text", file=sys.stderr)
        return 0
    if not args.model:
        raise CsExtError("--model is required (unless --merge-shards)")
    if args.job is None and args.nj != 1:
        raise CsExtError("--nj N needs --job J (1..N); or use --merge-shards N")
    config = load_config(args.config, batch_size=args.batch_size, beam_size=args.beam_size, language=args.language)
    threads = args.threads or max(1, (os.cpu_count() or 1) // max(1, args.nj))
    if args.device == "cpu":
        import torch

        torch.set_num_threads(threads)
    model = args.model
    if len(args.data) > 1:  # several test sets: load the model once
        from ..decode import load_decode_model

        model = load_decode_model(args.model, args.whisper_dims_from, args.device)
    for data, out_dir in zip(args.data, args.out):
        print(f"{PROG}: {args.model} x {data} -> {out_dir}"
              + ("" if args.job is None else f" (job {args.job}/{args.nj})"), file=sys.stderr)
        d = decode_data_dir(model, data, out_dir, config, nj=args.nj, job=args.job,
                            dims_from=args.whisper_dims_from, device=args.device,
                            progress=not args.no_progress)
        print(f"{PROG}: wrote {os.path.join(str(d), 'text')}", file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
