"""Fixtures for the decoder tests: a tiny Whisper whose greedy output varies.

The plain random tiny model repeats one token forever (its tied embedding makes the
input token its own best successor), which would make "batched == one by one" hold
trivially. `lively` rescales the weights so tokens change from step to step and from
utterance to utterance, and lifts <|endoftext|> so hypotheses end at different lengths.
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest


def make_lively(seed: int = 1, eot_scale: float = 0.6):
    import torch

    from espnet_cs_ext.whisper.tiny import build_tiny_whisper

    model = build_tiny_whisper(seed=0).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2 and "token_embedding" not in name:
                p.copy_(torch.randn(p.shape, generator=g) * p.shape[-1] ** -0.5)
        model.decoder.token_embedding.weight.normal_(0, 0.1, generator=g)
        model.decoder.positional_embedding.normal_(0, 1, generator=g)
        eot = torch.randn(model.dims.n_text_state, generator=torch.Generator().manual_seed(0))
        model.decoder.token_embedding.weight[50257] = eot * eot_scale
    return model


@pytest.fixture(scope="session")
def lively_pt(tmp_path_factory) -> Path:
    import torch

    path = tmp_path_factory.mktemp("lively") / "lively.pt"
    model = make_lively()
    torch.save({"dims": dataclasses.asdict(model.dims), "model_state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="session")
def lively(lively_pt):
    from espnet_cs_ext.decode import load_decode_model

    return load_decode_model(str(lively_pt))


@pytest.fixture(scope="session")
def english_mels(english_data_dir):
    from espnet_cs_ext.decode.features import Source

    src = Source(english_data_dir)
    return src.utts, [src.mel(u) for u in src.utts]


@pytest.fixture
def data_copy(english_data_dir, tmp_path) -> Path:
    """A writable copy of the English data dir (tests add utt2lang, feats.scp, ...)."""
    d = tmp_path / "data"
    shutil.copytree(english_data_dir, d)
    # wav.scp holds absolute paths into the session dir: still valid
    return d


@pytest.fixture(scope="session")
def lively_factory():
    """`make_lively(seed=1, eot_scale=0.6)` for tests that need a variant."""
    return make_lively


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine, spinning OpenMP threads make tiny
    models 10x slower. Restored afterwards for the other test folders."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
