"""GGA-L: gradient noise scaled by the disagreement of the domain gradients.

The cheap variant of Gradient-Guided Annealing in Ballas & Diou, "Gradient-Guided
Annealing for Domain Generalization", CVPR 2025 (arXiv 2502.20162); the variant the
CS paper (arXiv 2606.05846, section 3.4) trains. Every step: per-domain gradients
g_d, the mean gradient g = mean_d g_d, and Gaussian noise added to it,
    g <- g + N(0, sigma^2 I),   sigma = gamma * (1 - mean pairwise cos(g_a, g_b)),
so the update is only perturbed while the domains disagree. Cost: one backward per
domain (as ERM pooled over the same utterances) plus D gradient buffers in memory
(Whisper medium fp32: 3.1 GB each).
"""
from __future__ import annotations

from typing import Dict, Mapping, Tuple

import torch

from .base import Algorithm, HParam, cosine_stats_from, loss_stats, mean_grads, pairwise_cosines


def noise_scale(cosines: Mapping[Tuple[str, str], float], gamma: float) -> float:
    """gamma * (1 - mean pairwise cosine); 0 when all domain gradients are parallel."""
    if not cosines:
        return 0.0
    mean = sum(cosines.values()) / len(cosines)
    return max(0.0, float(gamma) * (1.0 - mean))


class GGAL(Algorithm):
    """Mean domain gradient plus noise of scale gamma * (1 - mean pairwise cosine)."""

    NAME = "gga_l"
    HPARAMS: Dict[str, HParam] = {"gamma": HParam(1.0e-3, ("log10", -4, -2))}

    def _update(self, mbs):
        losses, grads = self.domain_gradients(mbs)
        cos = pairwise_cosines(grads)
        sigma = noise_scale(cos, self.hparams["gamma"])
        g = mean_grads(grads, inplace=True)
        del grads
        if sigma > 0:
            gen = self.generator
            for x in g:
                x.add_(torch.randn(x.shape, generator=gen, device=gen.device, dtype=x.dtype).to(x.device),
                       alpha=sigma)
        out = cosine_stats_from(cos)
        self.optimizer.zero_grad(set_to_none=True)
        self.set_grads(g)
        out["grad_norm"] = self.apply_step()
        out.update(loss=sum(losses.values()) / len(losses), noise_scale=sigma, **loss_stats(losses))
        return out
