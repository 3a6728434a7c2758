"""Plain reference versions of merge/parts.py's fused in-place kernels: the tests' oracles.

Written for clarity, not speed (full argsort, stacked masks); each one states the rule
the fused kernel must follow exactly.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch


def stack_weights(weights: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """Per-model weights as a tensor of shape [N, 1, ..., 1] matching `like` [N, ...]."""
    w = torch.tensor(list(weights), dtype=like.dtype)
    return w.reshape((-1,) + (1,) * (like.dim() - 1))


def magnitude_mask(tau: torch.Tensor, density: float) -> torch.Tensor:
    """The k = max(1, int(density * numel)) entries of largest |tau|; ties at the cutoff
    are taken lowest flat index first (a stable sort), so exactly k are kept."""
    k = max(1, int(density * tau.numel()))
    order = torch.argsort(-tau.abs().reshape(-1), stable=True)
    keep = torch.zeros(tau.numel(), dtype=torch.bool)
    keep[order[:k]] = True
    return keep.reshape(tau.shape)


def magnitude_prune(tau: torch.Tensor, density: float) -> torch.Tensor:
    return tau if density >= 1 else tau * magnitude_mask(tau, density)


def bernoulli_drop(tau: torch.Tensor, density: float, generator: torch.Generator,
                   rescale: str | bool = True) -> torch.Tensor:
    """DARE: keep an entry where uniform(0,1) < density (one draw per entry, flat order)."""
    if density >= 1:
        return tau
    keep = torch.empty(tau.numel()).uniform_(generator=generator).reshape(tau.shape) < density
    out = tau * keep
    if rescale is True or rescale == "inverse_density":
        out = out * (1.0 / density)
    elif rescale == "l1":
        before, after = float(tau.abs().sum()), float(out.abs().sum())
        if before > 1e-7 and after > 1e-7:
            out = out * (before / after)
    return out


def sign_consensus(weighted: torch.Tensor, method: str = "sum") -> torch.Tensor:
    """TIES sign election over [N, ...]: bool mask of entries agreeing with the elected sign."""
    sign = weighted.sign()
    votes = weighted.sum(dim=0) if method == "sum" else sign.sum(dim=0)
    elected = torch.where(votes >= 0, 1.0, -1.0)
    return sign == elected


def disjoint_sum(weighted: torch.Tensor, weights: torch.Tensor, mask: Optional[torch.Tensor],
                 normalize: bool) -> torch.Tensor:
    """Sum over models (over `mask` only), optionally divided by the contributing weights."""
    if mask is None:
        mixed = weighted.sum(dim=0)
        if normalize:
            divisor = weights.sum(dim=0)
            mixed = mixed / torch.where(divisor.abs() < 1e-8, torch.ones_like(divisor), divisor)
        return mixed
    maskf = mask.to(weighted.dtype)
    mixed = (weighted * maskf).sum(dim=0)
    if normalize:
        divisor = (weights * maskf).sum(dim=0)
        mixed = mixed / torch.where(divisor == 0, torch.ones_like(divisor), divisor)
    return mixed
