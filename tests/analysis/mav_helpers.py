"""Small Whisper bases and fine-tunes with planted row deltas for the MAV tests.

A planted delta adds `amount` to the first `cols` entries of chosen rows, so the
row MAV is amount * cols / n_cols exactly (up to fp32 rounding far below the
margins the tables use) and every other row is unchanged (MAV 0).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Tuple

import torch

# tiny dims (64 state, 2+2 blocks) with a small vocabulary and contexts: ~200 kB checkpoints
SMALL = dict(n_vocab=512, n_audio_ctx=32, n_text_ctx=16)

Plant = Tuple[str, Iterable[int], float, float]  # (tensor name, rows, amount per entry, fraction of columns)


def base_state(seed: int = 0, **overrides) -> Dict[str, torch.Tensor]:
    from espnet_cs_ext.whisper.tiny import build_tiny_whisper

    return {k: v.clone() for k, v in build_tiny_whisper(seed, **{**SMALL, **overrides}).state_dict().items()}


def planted(base: Dict[str, torch.Tensor], plants: Iterable[Plant]) -> Dict[str, torch.Tensor]:
    out = {k: v.clone() for k, v in base.items()}
    for name, rows, amount, frac in plants:
        t = out[name]
        cols = round(frac * t.shape[1])
        for r in rows:
            t[r, :cols] += amount
    return out


def save(state: Dict[str, torch.Tensor], path: Path, naming: str = "whisper") -> Path:
    from espnet_cs_ext.merge import save_state_dict

    return Path(save_state_dict(state, path, naming))
