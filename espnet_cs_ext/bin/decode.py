"""Decode a Kaldi data dir with Whisper (batched, KV-cached greedy/beam search).

    python -m espnet_cs_ext.bin.decode --model SPEC --data DIR --config egs2/cs_unseen/asr1/conf/tuning/decode/greedy.yaml --out OUT \\
        [--nj N --job J] [--batch-size B] [--device cpu] [--whisper-dims-from SPEC]
    python -m espnet_cs_ext.bin.decode --merge-shards N --data DIR --out OUT
    python -m espnet_cs_ext.bin.decode --model SPEC --data D1 D2 --out O1 O2 ...  # one model load
    python -m espnet_cs_ext.bin.decode --job-table exp/decode/jobs.<hash>.txt --job-index JOB [options]

SPEC: `base` (offline), an openai-whisper .pt, a CTranslate2 dir, an ESPnet .pth
(dims from --whisper-dims-from or its config.yaml), a .safetensors.
Writes OUT/text (`<utt-id> <hypothesis>`, not normalised), OUT/utt2lang (language
token used) and OUT/decode.yaml (resolved settings). With --nj N --job J (1-based) it
writes OUT/split{N}/{J}/ instead; --merge-shards N then checks that every utterance of
DIR appears exactly once and writes OUT/text. Finished outputs (.done) are skipped on
rerun; a killed job resumes from its text.partial. --job-table FILE --job-index I
appends the arguments on line I of FILE (shell words, e.g. `--model M --data D --out O
--nj 2 --job 1`) to the command line: the recipe submits every (model, shard) job of a
stage as one array job that way. Config keys: see
espnet_cs_ext/decode/config.py. Bad input exits with status 2 and one line.
"""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from typing import List, Optional, Sequence

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
    p.add_argument("--pad-to-30s", choices=["true", "false", "auto"],
                   help="overrides the config's pad_to_30s (the recipe pads models that keep pretrained weights)")
    p.add_argument("--language", help="overrides the config's language policy (code, utt2lang, none)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: the launcher's share of the cores, $CS_JOB_CPUS or "
                        "$SLURM_CPUS_PER_TASK; run by hand, cores // nj), so parallel jobs do not oversubscribe")
    p.add_argument("--whisper-dims-from", metavar="SPEC", help="Whisper dims for an ESPnet .pth / .safetensors")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    p.add_argument("--job-table", help="file of per-job arguments, one job per line (see above)")
    p.add_argument("--job-index", type=int, help="which line of --job-table (1-based; the array index)")
    return p


def job_threads(nj: int) -> int:
    """Torch threads for one decoding job: the launcher's per-task share when it set one."""
    for var in ("CS_JOB_CPUS", "SLURM_CPUS_PER_TASK"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return max(1, (os.cpu_count() or 1) // max(1, nj))


def _job_args(argv: Sequence[str]) -> List[str]:
    """argv with `--job-table FILE --job-index I` replaced by the words on line I of FILE."""
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)  # `--job 1` is not --job-table
    pre.add_argument("--job-table")
    pre.add_argument("--job-index", type=int)
    known, rest = pre.parse_known_args(argv)
    if known.job_table is None:
        return list(argv)
    if known.job_index is None:
        raise CsExtError("--job-table needs --job-index I (1-based line number)")
    try:
        lines = [line for line in open(known.job_table, encoding="utf-8").read().splitlines() if line.strip()]
    except OSError as e:
        raise CsExtError(f"cannot read job table {known.job_table} ({e.strerror})")
    if not 1 <= known.job_index <= len(lines):
        raise CsExtError(f"{known.job_table}: no job {known.job_index} (it lists {len(lines)})")
    words = shlex.split(lines[known.job_index - 1])
    print(f"{PROG}: job {known.job_index} of {known.job_table}: {' '.join(words)}", file=sys.stderr)
    return list(rest) + words


def _main(argv: Optional[Sequence[str]]) -> int:
    from ..decode import decode_data_dir, load_config, merge_shards

    args = get_parser().parse_args(_job_args(sys.argv[1:] if argv is None else argv))
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
    config = load_config(args.config, batch_size=args.batch_size, beam_size=args.beam_size, language=args.language,
                         pad_to_30s=args.pad_to_30s)
    threads = args.threads or job_threads(args.nj)
    if args.device == "cpu":
        import torch

        torch.set_num_threads(threads)
    model = args.model
    if len(args.data) > 1 and config.backend == "torch":  # several test sets: load the model once
        from ..decode import load_decode_model

        model = load_decode_model(args.model, args.whisper_dims_from, args.device)
    for data, out_dir in zip(args.data, args.out):
        print(f"{PROG}: {args.model} x {data} -> {out_dir}"
              + ("" if args.job is None else f" (job {args.job}/{args.nj})"), file=sys.stderr)
        from ..utils.outputs import disk_errors_named
        with disk_errors_named(os.path.join(str(out_dir), "text"), "decoding output"):
            d = decode_data_dir(model, data, out_dir, config, nj=args.nj, job=args.job,
                                dims_from=args.whisper_dims_from, device=args.device,
                                progress=not args.no_progress)
        print(f"{PROG}: wrote {os.path.join(str(d), 'text')}", file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main(PROG, _main, argv)


if __name__ == "__main__":
    sys.exit(main())
