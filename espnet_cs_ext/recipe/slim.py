"""Disk: what a finished training keeps.

ESPnet's trainer writes `checkpoint.pth` (weights + optimizer + scheduler + scaler
state, about three times the model) so that `--resume true` can continue an
interrupted run. Once a system is trained, decoding, merging, packing and the MAV
analysis read only the weights (`latest.pth` -> `<N>epoch.pth`, the AsyncSwitch
stages' `model.pt`), the config and the logs, and a rerun of a finished system is
skipped by its `.done` marker; so the optimizer state is dropped then (ESPnet keeps it
by default; `--keep_checkpoints true` keeps it here too). A run that is interrupted
never reaches this step and still resumes from its checkpoint.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

OPTIMIZER_STATE = "checkpoint.pth"


def drop_optimizer_state(exp_dir: str | Path) -> Tuple[List[Path], int]:
    """Remove every `checkpoint.pth` under a finished system's dir (AsyncSwitch keeps one
    per stage); return the removed paths (sorted) and the bytes freed."""
    removed = sorted(Path(exp_dir).rglob(OPTIMIZER_STATE))
    freed = 0
    for path in removed:
        freed += path.stat().st_size
        path.unlink()
    return removed, freed
