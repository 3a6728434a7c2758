"""Fixtures for the merge tests (builders in merge_helpers.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
from merge_helpers import base_dims, base_state, finetune


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
