"""Per-tensor task-vector statistics for the MAV study (which layers did fine-tuning move?).

For each float tensor of the base (buffers and integer tensors skipped) and each
fine-tuned model i, with tau_i = theta_i - theta_0:

    l2, rel_l2        ||tau_i||, ||tau_i|| / ||theta_0||
    mean_abs, max_abs mean and max of |tau_i|
    row_mav_mean      mean over rows of the row-level mean absolute value (MAV) of tau_i
                      (row = first axis; a 1-D tensor is one row)
    row_mav_frac      fraction of rows whose MAV exceeds `threshold` (default 5e-5,
                      the threshold of arXiv 2606.05846 / Bandarkar et al. 2025)
    sign_agree        mean over the other models j of the fraction of entries, among
                      those where tau_i and tau_j are both non-zero, with the same sign
                      (empty when there is one model)

    python -m espnet_cs_ext.analysis.task_vectors BASE FT1 [FT2 ...] -o stats.tsv [--threshold 5e-5]

Rows are (tensor, model) in base order; `part` is encoder/decoder and `layer` the
block index (-1 outside blocks), so layer-wise plots are one groupby away.
Inputs may be in any supported format (names are canonical, openai-whisper).
"""
from __future__ import annotations

import argparse
import re
from typing import Dict, Iterator, List, Optional, Sequence

import torch

from ..merge.engine import tensor_kind
from ..utils.errors import CsExtError, cli_main
from ..whisper.checkpoint import Checkpoint
from . import tables
from .mav import MAV_THRESHOLD, row_mav

COLUMNS = ["tensor", "part", "layer", "kind", "shape", "model", "l2", "rel_l2", "mean_abs", "max_abs",
           "row_mav_mean", "row_mav_frac", "sign_agree"]


def sign_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of entries with equal sign among those where both are non-zero (nan if none)."""
    both = (a != 0) & (b != 0)
    n = int(both.sum())
    if n == 0:
        return float("nan")
    return float(((a.sign() == b.sign()) & both).sum()) / n


def tensor_stats(name: str, base: torch.Tensor, models: Sequence[torch.Tensor], labels: Sequence[str],
                 threshold: float = MAV_THRESHOLD) -> List[Dict[str, object]]:
    """Statistics rows for one tensor (see module docstring)."""
    base = base.float()
    taus = [m.float() - base for m in models]
    bnorm = float(torch.linalg.vector_norm(base))
    m = re.search(r"\.blocks\.(\d+)\.", name)
    rows = []
    for i, (tau, label) in enumerate(zip(taus, labels)):
        mav = row_mav(tau)
        others = [sign_agreement(tau, taus[j]) for j in range(len(taus)) if j != i]
        others = [x for x in others if x == x]
        l2 = float(torch.linalg.vector_norm(tau))
        rows.append({
            "tensor": name, "part": name.split(".", 1)[0], "layer": int(m.group(1)) if m else -1,
            "kind": tensor_kind(name, base.dtype, base.dim()), "shape": "x".join(map(str, base.shape)),
            "model": label, "l2": l2, "rel_l2": l2 / bnorm if bnorm else float("nan"),
            "mean_abs": float(tau.abs().mean()), "max_abs": float(tau.abs().max()),
            "row_mav_mean": float(mav.mean()), "row_mav_frac": float((mav > threshold).float().mean()),
            "sign_agree": sum(others) / len(others) if others else "",
        })
    return rows


def task_vector_stats(base_path: str, model_paths: Sequence[str], labels: Optional[Sequence[str]] = None,
                      threshold: float = MAV_THRESHOLD) -> Iterator[Dict[str, object]]:
    """Stream statistics rows over all float tensors of `base_path`, tensor by tensor."""
    labels = list(labels or model_paths)
    with Checkpoint(base_path) as base:
        models = [Checkpoint(p) for p in model_paths]
        try:
            for name, info in base.infos.items():
                if tensor_kind(name, info.dtype, len(info.shape)) in ("integer", "buffer"):
                    continue
                for mck in models:
                    if name not in mck.infos or mck.infos[name].shape != info.shape:
                        raise CsExtError(f"{mck.path}: tensor {name!r} missing or of another shape than in "
                                         f"{base.path}")
                yield from tensor_stats(name, base.read(name), [m.read(name) for m in models], labels, threshold)
        finally:
            for mck in models:
                mck.close()


def write_tsv(rows, path: str) -> int:
    """Write rows (dicts with COLUMNS) as a TSV with a header; return the row count."""
    return tables.write_tsv(rows, COLUMNS, path)


def _run(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="cs-merge-stats", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base")
    ap.add_argument("models", nargs="+")
    ap.add_argument("-o", "--out", required=True, help="output TSV")
    ap.add_argument("--labels", nargs="+", help="model labels (default: paths)")
    ap.add_argument("--threshold", type=float, default=MAV_THRESHOLD, help="row MAV threshold")
    a = ap.parse_args(argv)
    if a.labels and len(a.labels) != len(a.models):
        raise CsExtError(f"{len(a.labels)} labels for {len(a.models)} models")
    n = write_tsv(task_vector_stats(a.base, a.models, a.labels, a.threshold), a.out)
    print(f"cs-merge-stats: {n} rows -> {a.out}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return cli_main("cs-merge-stats", _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
