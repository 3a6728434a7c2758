"""Fish: gradient matching through a first-order inner loop over domains.

Shi et al., "Gradient Matching for Domain Generalization", ICLR 2022
(arXiv 2104.09937), Algorithm 1 as in DomainBed. Per step: from theta, take one inner
optimizer step per domain minibatch in (random) sequence, reaching theta_inner; then
theta <- theta + meta_lr * (theta_inner - theta).

The inner optimizer is ESPnet's own optimizer (AdamW, its lr schedule and its state,
which DomainBed also keeps across steps), applied to the model in place; "the clone"
is a snapshot of theta. Memory: one extra copy of the trainable weights (Whisper
medium fp32: +3.1 GB) on top of ERM; no second optimizer state is allocated. Compute:
one forward/backward per domain, as ERM, plus one optimizer step per domain.
"""
from __future__ import annotations

from typing import Dict

import torch

from .base import Algorithm, HParam, cosine_stats, loss_stats


class Fish(Algorithm):
    """Sequential per-domain inner steps, then a meta step of size `meta_lr`."""

    NAME = "fish"
    HPARAMS: Dict[str, HParam] = {
        "meta_lr": HParam(0.5, ("choice", 0.05, 0.1, 0.5)),  # DomainBed default and sweep
        "shuffle_domains": HParam(True),  # Fish Algorithm 1 permutes the domains every step
    }

    def _update(self, mbs):
        theta = self.snapshot()
        names = list(mbs)
        order = self.permutation(len(names)) if self.hparams["shuffle_domains"] else range(len(names))
        log_cos = self.log_cos_now() and len(names) > 1
        losses, grads, norms = {}, {}, []
        for i in order:
            d = names[i]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.domain_loss(mbs[d], d)
            loss.backward()
            losses[d] = float(loss.detach())
            if log_cos:  # inner-loop gradients (each at its own point of the loop)
                grads[d] = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
                            for p in self.params]
            norms.append(self.apply_step())
        meta_lr = float(self.hparams["meta_lr"])
        with torch.no_grad():
            for p, t in zip(self.params, theta):
                # t + meta_lr * (p_inner - t); lerp is exact at meta_lr 1 (= the inner point)
                p.copy_(t.lerp_(p, meta_lr))
        out = cosine_stats(grads) if grads else {}
        out.update(loss=sum(losses.values()) / len(losses), grad_norm=max(norms), **loss_stats(losses))
        return out
