"""Text outputs of cs-mav: mav.tsv, overlap.tsv and the summary.md block for reports."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence, Tuple

from ..utils.atomic import atomic_open
from .mav import PARTS

MAV_COLUMNS = ["model", "part", "layer", "matrix", "rows", "rows_above", "pct_above", "mean_mav"]


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.6g}"
    return str(v)


def write_tsv(rows: Iterable[Mapping[str, object]], columns: Sequence[str], path: Path) -> int:
    """Header + one line per row, atomically; returns the row count."""
    n = 0
    with atomic_open(path) as f:
        f.write("\t".join(columns) + "\n")
        for r in rows:
            f.write("\t".join(_fmt(r[c]) for c in columns) + "\n")
            n += 1
    return n


def _pct(v: Optional[float]) -> str:
    return "-" if v is None or v != v else f"{v:.1f}"


def _jac(v: Tuple[float, float]) -> str:
    j, c = v
    return "-" if j != j else (f"{j:.3f} ({c:.3f})" if c == c else f"{j:.3f}")


def _link(path: Path, link_root: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), Path(link_root).resolve())).as_posix()


def write_summary(path: Path, threshold: float, base: str, part_means: Mapping[str, Mapping[str, Optional[float]]],
                  figures: Mapping[str, Path], overlap: Mapping[Tuple[str, str], Mapping[str, Tuple[float, float]]],
                  overlap_png: Optional[Path], flagged: Mapping[str, object], link_root: Path) -> Path:
    """A markdown block (level-3 headings) that a recipe report can include verbatim."""
    thr = f"{threshold:.0e}" if threshold < 1e-3 else f"{threshold:g}"
    lines = [f"### Layer-wise MAV of the fine-tuned models (threshold {thr})", "",
             f"Percentage of rows of each block projection matrix whose mean absolute change "
             f"|W_ft - W_base| (averaged over the row) exceeds {thr}, base `{base}`; the mean is "
             "over the (layer, matrix) cells of each part (arXiv 2606.05846 section 4).", "",
             "| model | encoder % | decoder % | all % | figure |", "|---|---:|---:|---:|---|"]
    for label, means in part_means.items():
        fig = f"[{figures[label].name}]({_link(figures[label], link_root)})" if label in figures else "-"
        lines.append(f"| {label} | {_pct(means.get('encoder'))} | {_pct(means.get('decoder'))} | "
                     f"{_pct(means.get('all'))} | {fig} |")
    if overlap:
        lines += ["", "Overlap of the heavily updated rows between models: Jaccard of the flagged row "
                  "sets, pooled over matrices (chance level for the same counts in parentheses).", "",
                  "| pair | encoder | decoder | all |", "|---|---:|---:|---:|"]
        for (a, b), d in overlap.items():
            cells = [_jac(d.get(p, (math.nan, math.nan))) for p in (*PARTS, "all")]
            lines.append(f"| {a} vs {b} | " + " | ".join(cells) + " |")
        if overlap_png is not None:
            lines += ["", f"Overlap figure: [{overlap_png.name}]({_link(overlap_png, link_root)})"]
    sel = flagged["selection"]
    how = ", ".join(f"{k} {v}" for k, v in sel.items() if v is not None) or "top half"
    lines += ["", f"Most-updated blocks ({how}; score = % rows above the threshold, mean over models and "
              f"matrices): " + "; ".join(f"{p} {', '.join(map(str, flagged['layers'][p])) or '-'}"
                                         for p in PARTS) + ".", ""]
    with atomic_open(path) as f:
        f.write("\n".join(lines))
    return path
