"""A tiny openai-whisper model and synthetic per-domain batches for DG unit tests."""
from __future__ import annotations

import torch
import torch.nn.functional as F

N_MELS, FRAMES, TOKENS = 80, 32, 6


def tiny_model(seed: int = 0):
    from espnet_cs_ext.whisper.tiny import build_tiny_whisper

    # n_audio_ctx 16: 32 mel frames instead of 3000 keeps each step a few ms.
    return build_tiny_whisper(seed=seed, n_audio_ctx=FRAMES // 2)


def domain_batch(domain: int, n: int = 3, seed: int = 0):
    """(mel, tokens) whose statistics and token range differ per domain."""
    g = torch.Generator().manual_seed(1000 * domain + seed)
    mel = torch.randn(n, N_MELS, FRAMES, generator=g) * (1 + 0.5 * domain) + domain
    tokens = torch.randint(1000 + 300 * domain, 1100 + 300 * domain, (n, TOKENS), generator=g)
    return mel, tokens


def domains(k: int = 3, n: int = 3, seed: int = 0):
    names = ["de-en", "ja-en", "ko-en"][:k]
    return {name: domain_batch(i, n, seed) for i, name in enumerate(names)}


def loss_fn(model, batch):
    """Batch mean of per-utterance summed token cross-entropies (ESPnet's convention)."""
    mel, tokens = batch
    logits = model(mel, tokens[:, :-1])
    ce = F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="none").sum(1)
    loss = ce.mean()
    return loss, {"acc": float((logits.argmax(-1) == tokens[:, 1:]).float().mean())}


def adamw(model, lr=1e-3):
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
