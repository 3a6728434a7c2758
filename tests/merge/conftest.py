"""Fixtures for the merge tests: a tiny Whisper base and fine-tunes = base + planted deltas.

The models are smaller than TINY_DIMS (vocabulary 512, short contexts) so that each
checkpoint is a few hundred kB and a whole merge takes well under a second.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict

import pytest
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


@pytest.fixture(autouse=True)
def _private_checksum_cache(tmp_path_factory, monkeypatch):
    """cs-merge caches input checksums under $XDG_CACHE_HOME: keep the tests' out of ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


@pytest.fixture(scope="session")
def model_set(tmp_path_factory) -> Dict[str, Path]:
    """base.pt and ft0..ft2 in every (naming, container): ftI.pt, ftI.pth (ESPnet), ftI.safetensors (HF)."""
    from espnet_cs_ext.merge import save_state_dict

    d = tmp_path_factory.mktemp("merge_models")
    base = base_state(0)
    dims = base_dims(0)
    paths = {"base": Path(save_state_dict(base, d / "base.pt", "whisper", dims=dims)),
             "base_hf": Path(save_state_dict(base, d / "base.safetensors", "hf")),
             "base_espnet": Path(save_state_dict(base, d / "base.pth", "espnet"))}
    for i in range(3):
        ft = finetune(base, 100 + i)
        paths[f"ft{i}"] = Path(save_state_dict(ft, d / f"ft{i}.pt", "whisper", dims=dims))
        paths[f"ft{i}_hf"] = Path(save_state_dict(ft, d / f"ft{i}.safetensors", "hf"))
        paths[f"ft{i}_espnet"] = Path(save_state_dict(ft, d / f"ft{i}.pth", "espnet"))
    other = finetune(base_state(1), 7)
    paths["foreign"] = Path(save_state_dict(other, d / "foreign.pt", "whisper", dims=dims))
    return paths


def write_yaml(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
