"""Randomly initialised Whisper models with small dimensions, for fast tests.

The checkpoint layout is openai-whisper's own (`{"dims": {...}, "model_state_dict": {...}}`),
so every loader in this package (and `whisper.load_model(path)`) reads it.
The vocabulary keeps the multilingual size (51865) so the real tokenizer's special
tokens (<|startoftranscript|>, <|ko|>, ...) are valid ids.

    python -m espnet_cs_ext.whisper.tiny OUT.pt [--seed 0]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Optional, Sequence

MULTILINGUAL_VOCAB = 51865

TINY_DIMS = dict(
    n_mels=80,
    n_audio_ctx=1500,
    n_audio_state=64,
    n_audio_head=2,
    n_audio_layer=2,
    n_vocab=MULTILINGUAL_VOCAB,
    n_text_ctx=448,
    n_text_state=64,
    n_text_head=2,
    n_text_layer=2,
)


def build_tiny_whisper(seed: int = 0, **overrides):
    """Return a randomly initialised `whisper.model.Whisper` with TINY_DIMS (+ overrides)."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(**{**TINY_DIMS, **overrides})
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = Whisper(dims)
        # openai-whisper allocates the decoder's positional embedding with torch.empty
        # (pretrained weights overwrite it); uninitialised memory can hold NaN.
        # Layer norms start at 1/0: perturb them so merges and analyses see real values.
        with torch.no_grad():
            torch.nn.init.normal_(model.decoder.positional_embedding, std=0.01)
            for name, p in model.named_parameters():
                if p.dim() == 1:
                    p.add_(0.02 * torch.randn_like(p))
    finally:
        torch.random.set_rng_state(gen_state)
    return model


def save_tiny_whisper(path: str | os.PathLike, seed: int = 0, **overrides) -> str:
    """Build a tiny Whisper and save it as an openai-whisper checkpoint; return the path."""
    from ..utils.atomic import atomic_path
    from ..utils.torchzip import save_streaming

    model = build_tiny_whisper(seed=seed, **overrides)
    ckpt = {"dims": dataclasses.asdict(model.dims), "model_state_dict": model.state_dict()}
    with atomic_path(path) as tmp:
        save_streaming(ckpt, tmp)  # same bytes every run (torch.save names the archive after the temp file)
    return str(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(save_tiny_whisper(args.out, seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
