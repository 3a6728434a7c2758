"""Builders shared by the merge tests: a small Whisper base and fine-tunes = base + planted deltas.

The models are smaller than TINY_DIMS (vocabulary 512, short contexts) so that each
checkpoint is a few hundred kB and a whole merge takes well under a second. (A module
with its own name, not conftest: `from conftest import` picks whichever conftest was
imported first when several test folders run together.)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict

import torch

SMALL = dict(n_vocab=512, n_audio_ctx=32, n_text_ctx=16)


def base_state(seed: int = 0) -> Dict[str, torch.Tensor]:
    from espnet_cs_ext.whisper.tiny import build_tiny_whisper

    return {k: v.clone() for k, v in build_tiny_whisper(seed, **SMALL).state_dict().items()}


def base_dims(seed: int = 0) -> dict:
    from espnet_cs_ext.whisper.tiny import build_tiny_whisper

    return dataclasses.asdict(build_tiny_whisper(seed, **SMALL).dims)


def finetune(state: Dict[str, torch.Tensor], seed: int, scale: float = 0.01) -> Dict[str, torch.Tensor]:
    """base + scale * N(0, 1) on every trainable float tensor (not the sinusoid buffer)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in state.items():
        if v.is_floating_point() and k != "encoder.positional_embedding":
            out[k] = v + scale * torch.randn(v.shape, generator=g)
        else:
            out[k] = v.clone()
    return out


def write_yaml(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
