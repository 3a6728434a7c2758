"""Figures of the MAV study, laid out like arXiv 2606.05846 figures 1-3.

`heatmap(...)`: one figure per fine-tuned model, an encoder and a decoder panel,
rows = blocks (layer 0, the input side, at the top), columns = projection matrices,
colour = % of rows whose MAV exceeds the threshold (one 0-100 scale for both
panels, so they compare), each cell annotated with its value.
`overlap_figure(...)`: pairwise Jaccard of the heavily updated rows (whole model)
and per block, with the chance level dashed.
matplotlib runs on the Agg backend (no display); files are written atomically.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Mapping, Sequence, Tuple

from ..utils.atomic import atomic_path
from .mav import MATRICES, PARTS, Key, MatrixMav

#: tick labels of the matrix columns (two lines: block type, then projection)
TICKS = {"self_attn.q": "self\nq", "self_attn.k": "self\nk", "self_attn.v": "self\nv",
         "self_attn.out": "self\nout", "cross_attn.q": "cross\nq", "cross_attn.k": "cross\nk",
         "cross_attn.v": "cross\nv", "cross_attn.out": "cross\nout", "fc1": "fc1", "fc2": "fc2"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def threshold_label(threshold: float) -> str:
    """'% rows MAV > 5e-05' (the colour-bar label)."""
    return f"% rows MAV > {threshold:.0e}" if threshold < 1e-3 else f"% rows MAV > {threshold:g}"


def grid(result: Mapping[Key, MatrixMav], part: str) -> Tuple[List[List[float]], List[str]]:
    """(pct[layer][column], column names) of one part; columns are the matrices the part has."""
    cols = [m for m, _ in MATRICES if any(k[0] == part and k[2] == m for k in result)]
    n = 1 + max((k[1] for k in result if k[0] == part), default=-1)
    values = [[math.nan] * len(cols) for _ in range(n)]
    for (p, layer, matrix), r in result.items():
        if p == part:
            values[layer][cols.index(matrix)] = r.pct
    return values, cols


def _save(fig, out: Path) -> None:
    plt = _pyplot()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=130, format="png", bbox_inches="tight")
    plt.close(fig)


def heatmap(label: str, result: Mapping[Key, MatrixMav], threshold: float, out: Path,
            base_name: str = "base") -> Path:
    """Write the per-model figure (see the module docstring) to `out`."""
    plt = _pyplot()
    panels = [(p, *grid(result, p)) for p in PARTS]
    panels = [x for x in panels if x[1]]
    n_rows = max(len(v) for _, v, _ in panels)
    widths = [len(cols) for _, _, cols in panels]
    # constrained layout keeps the suptitle, panel titles and the shared colour bar apart
    fig, axes = plt.subplots(1, len(panels), squeeze=False, layout="constrained",
                             figsize=(1.2 + 0.62 * sum(widths) + 1.0, 1.4 + 0.36 * max(n_rows, 4)),
                             gridspec_kw={"width_ratios": widths})
    image = None
    for ax, (part, values, cols) in zip(axes[0], panels):
        image = ax.imshow(values, cmap="viridis", vmin=0, vmax=100, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels([TICKS[c] for c in cols], fontsize=8)
        ax.set_yticks(range(len(values)))
        ax.set_yticklabels([str(i) for i in range(len(values))], fontsize=8)
        ax.set_title(part.capitalize(), fontsize=11)
        ax.set_xlabel("projection matrix", fontsize=9)
        if ax is axes[0][0]:
            ax.set_ylabel("layer (0 = input side)", fontsize=9)
        ax.tick_params(length=0)
        if len(values) * len(cols) <= 400:
            for i, row in enumerate(values):
                for j, v in enumerate(row):
                    if v == v:
                        # dark text on the bright (yellow) end of viridis, light text elsewhere
                        ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                                color="black" if v > 60 else "white")
    cbar = fig.colorbar(image, ax=list(axes[0]), fraction=0.04, pad=0.02)
    cbar.set_label(threshold_label(threshold), fontsize=9)
    fig.suptitle(f"{label}: layer-wise row-level MAV vs {base_name}", fontsize=11)
    _save(fig, out)
    return out


def overlap_figure(labels: Sequence[str], pooled: Mapping[Tuple[str, str], Mapping[str, Tuple[float, float]]],
                   layers: Mapping[str, Mapping[Tuple[str, str], List[Tuple[int, float, float]]]],
                   threshold: float, out: Path) -> Path:
    """Pairwise Jaccard matrix (whole model) + Jaccard per block for each part."""
    plt = _pyplot()
    parts = [p for p in PARTS if layers.get(p)]
    fig, axes = plt.subplots(1, 1 + len(parts), figsize=(4.2 + 4.4 * len(parts), 3.8), squeeze=False)
    axes = axes[0]
    n = len(labels)
    mat = [[1.0 if i == j else math.nan for j in range(n)] for i in range(n)]
    for (a, b), d in pooled.items():
        i, j = labels.index(a), labels.index(b)
        mat[i][j] = mat[j][i] = d["all"][0]
    ax = axes[0]
    im = ax.imshow(mat, cmap="magma", vmin=0, vmax=1)
    ax.set_xticks(range(n))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(n))
    ax.set_yticklabels(labels, fontsize=8)
    for i in range(n):
        for j in range(n):
            if i != j and mat[i][j] == mat[i][j]:
                chance = pooled.get((labels[i], labels[j])) or pooled.get((labels[j], labels[i]))
                ax.text(j, i, f"{mat[i][j]:.2f}\n({chance['all'][1]:.2f})", ha="center", va="center",
                        fontsize=7, color="white" if mat[i][j] < 0.6 else "black")
    ax.set_title("Jaccard, all matrices\n(chance in parentheses)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).set_label("Jaccard", fontsize=8)
    for ax, part in zip(axes[1:], parts):
        for k, ((a, b), pts) in enumerate(layers[part].items()):
            xs = [p[0] for p in pts]
            ax.plot(xs, [p[1] for p in pts], marker="o", ms=3, color=f"C{k % 10}", label=f"{a} vs {b}")
            ax.plot(xs, [p[2] for p in pts], ls="--", lw=0.8, color=f"C{k % 10}")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("layer (0 = input side)", fontsize=9)
        ax.set_ylabel("Jaccard of flagged rows", fontsize=9)
        ax.set_title(f"{part.capitalize()}: per block (dashed: chance)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(f"Overlap of heavily updated rows (MAV > {threshold:.0e}) between fine-tuned models",
                 fontsize=10)
    fig.tight_layout()
    _save(fig, out)
    return out
