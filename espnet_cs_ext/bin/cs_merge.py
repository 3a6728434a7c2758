"""cs-merge: merge fine-tuned Whisper checkpoints from one base (TA, TIES, DARE, LoRS, ...).

    cs-merge CONFIG.yaml OUT            # OUT in the base's format unless output_format says
    cs-merge --list                     # methods, their parameters and papers
    python -m espnet_cs_ext.bin.cs_merge conf/merge/ties.yaml exp/merged/ties_d0.2.pt

CONFIG is a MergeKit-style YAML (see espnet_cs_ext/merge/config.py). OUT.merge.yaml
is written beside OUT with the resolved config and the inputs' sha256 checksums.
On any error nothing is written and the exit status is 2.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

from ..utils.errors import CsExtError, cli_main

PROG = "cs-merge"


def list_methods() -> str:
    from ..merge.methods import METHODS

    lines = []
    for name in sorted(METHODS):
        m = METHODS[name]
        per_model = ", ".join(f"{k}={v}" for k, v in m.model_params.items()) or "-"
        glob = ", ".join(f"{k}={v}" for k, v in m.params.items()) or "-"
        lines.append(f"{name:16s} {m.summary}\n{'':16s} per model: {per_model}; global: {glob}\n"
                     f"{'':16s} {m.paper}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", help="merge YAML")
    ap.add_argument("out", nargs="?", help="output checkpoint")
    ap.add_argument("--list", action="store_true", help="list merge methods and exit")
    ap.add_argument("--output-format", choices=["same", "whisper", "espnet", "hf"],
                    help="override output_format (default: the base checkpoint's format)")
    ap.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], help="override dtype")
    ap.add_argument("--seed", type=int, help="override seed (dare_*, randomized SVD)")
    ap.add_argument("--svd", choices=["auto", "exact", "randomized"],
                    help="svp/lors: SVD algorithm (default auto: randomized when the kept rank is small)")
    ap.add_argument("--allow-different-base", action="store_true",
                    help="skip the check that every model was fine-tuned from base_model")
    ap.add_argument("--no-checksums", action="store_true", help="do not sha256 the inputs")
    ap.add_argument("--threads", type=int,
                    help="torch intra-op threads (default 1: fastest on a busy machine; more can help "
                         "svp/lors on an idle many-core one)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return ap


def run(argv: Optional[Sequence[str]] = None) -> int:
    """The command without error handling (raises CsExtError)."""
    args = build_parser().parse_args(argv)
    if args.list:
        print(list_methods())
        return 0
    if not args.config or not args.out:
        raise CsExtError("usage: cs-merge CONFIG.yaml OUT (or cs-merge --list)")
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(levelname)s: %(message)s")
    from ..merge.engine import sidecar_path
    from ..utils.outputs import check_output_file, cleanup_created_dirs

    # before any input is read: a bad OUT fails at once, not after the merge
    check_output_file(args.out, also=[sidecar_path(args.out)], what="merged checkpoint")
    with cleanup_created_dirs(args.out):
        return _merge(args)


def _merge(args) -> int:
    from ..merge import get_method, load_config, merge_checkpoints
    from ..merge.engine import sidecar_path
    from ..utils.atomic import sweep_stale_temps

    cfg = load_config(args.config)
    if args.output_format:
        cfg.output_format = args.output_format
    if args.dtype:
        cfg.dtype = args.dtype
    if args.seed is not None:
        cfg.seed = args.seed
    if args.svd:
        if "svd" not in get_method(cfg.merge_method).params:
            raise CsExtError(f"--svd applies to svp and lors, not {cfg.merge_method}")
        cfg.parameters["svd"] = args.svd
    if args.allow_different_base:
        cfg.allow_different_base = True
    for p in (args.out, sidecar_path(args.out)):  # left by a run killed with -9
        for gone in sweep_stale_temps(p):
            logging.getLogger(PROG).warning("removed %s, a temp file of a killed run", gone)
    from ..analysis.select import resolve_mav_filter
    from ..utils.outputs import disk_errors_named

    cfg = resolve_mav_filter(cfg)  # the MAV layer choice is the caller's; merge gets a plain filter
    with disk_errors_named(args.out, "merged checkpoint"):
        rep = merge_checkpoints(cfg, args.out, progress=not args.quiet and sys.stderr.isatty(),
                                checksums=not args.no_checksums, threads=args.threads)
    print(f"{PROG}: {cfg.merge_method}: {len(cfg.models)} model(s) -> {rep.out} "
          f"({rep.merged} tensors merged, {rep.copied} copied; config in {rep.sidecar})", file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Console entry point: errors become one line on stderr and exit status 2."""
    return cli_main(PROG, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
