"""Which parts of Whisper did code-switching fine-tuning change? (arXiv 2606.05846 section 4)

Layer-wise row-level MAV: for each fine-tuned model against its base, per block and
projection matrix, the percentage of rows whose mean absolute weight change exceeds
a threshold (5e-5), the overlap of those rows between models, heatmaps like the
paper's figures 1-3, and the most-updated blocks for layer-selective merging.

    cs-mav --base base --finetuned ko-en=exp/asr_ft_ko-en/latest.pth ja-en=... --out exp/mav

    from espnet_cs_ext.analysis import run_study, model_mav, select_layers

Modules: mav (per-matrix statistics, base checks), overlap (Jaccard), select
(flagged blocks, flagged_layers.json, the merge filter's resolution), tables (TSV,
summary.md), plots (matplotlib Agg), study (the whole run, resumable).
Light: torch only, never espnet2; matplotlib is imported when a figure is drawn.
"""
from .mav import MATRICES, MAV_THRESHOLD, MatrixMav, matrix_mav, model_mav, open_checkpoint
from .overlap import all_pairs, pair_overlap
from .select import layer_scores, read_flagged, resolve_mav_filter, select_layers
from .study import run_study

__all__ = ["MATRICES", "MAV_THRESHOLD", "MatrixMav", "matrix_mav", "model_mav", "open_checkpoint",
           "all_pairs", "pair_overlap", "layer_scores", "read_flagged", "resolve_mav_filter", "select_layers", "run_study"]
