"""ERM: the pooled baseline ("ko-en + ja-en + de-en FT" in the paper's table).

Vapnik, "Statistical Learning Theory", 1998; the DomainBed baseline of
Gulrajani & Lopez-Paz, "In Search of Lost Domain Generalization", ICLR 2021
(arXiv 2007.01434). Objective: mean over domains of the domain losses; with the
balanced sampler (equal utterances per domain) this is the pooled minibatch loss.
"""
from __future__ import annotations

from typing import Dict

import torch

from .base import Algorithm, HParam, loss_stats


class ERM(Algorithm):
    """Minimise the average of the per-domain losses with the configured optimizer."""

    NAME = "erm"
    HPARAMS: Dict[str, HParam] = {}
    MIN_DOMAINS = 1

    def _update(self, mbs):
        losses = {d: self.domain_loss(b, d) for d, b in mbs.items()}
        out = self.measure_cosines(losses) if self.log_cos_now() else {}
        objective = torch.stack(list(losses.values())).mean()
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        out["grad_norm"] = self.apply_step()
        out["loss"] = float(objective.detach())
        out.update(loss_stats({d: l.detach() for d, l in losses.items()}))
        return out
