"""V-REx: penalise the variance of the per-domain risks.

Krueger et al., "Out-of-Distribution Generalization via Risk Extrapolation (REx)",
ICML 2021 (arXiv 2003.00688), with DomainBed's choices: objective = mean of the
domain losses + w * (population variance of the domain losses); w = 1 for the first
`penalty_anneal_iters` steps and `lambda` from then on, with the optimizer state
reset at the switch (its moments were scaled for the small-penalty objective).
Pushing the risks to be equal is what extrapolates: a model whose loss differs by
pair is pulled towards the features every pair shares.
"""
from __future__ import annotations

from typing import Dict

import torch

from .base import Algorithm, HParam, loss_stats


class VREx(Algorithm):
    """Mean risk + w * variance of the risks across domains (w: 1, then lambda)."""

    NAME = "vrex"
    HPARAMS: Dict[str, HParam] = {
        "lambda": HParam(10.0, ("log10", -1, 5)),               # DomainBed default and range
        "penalty_anneal_iters": HParam(500, ("log10", 0, 4)),   # set per run (e.g. 10% of steps)
    }

    @classmethod
    def schedule_warnings(cls, hparams, total_steps):
        if total_steps and int(hparams["penalty_anneal_iters"]) >= total_steps:
            return [f"vrex penalty_anneal_iters {int(hparams['penalty_anneal_iters'])} >= {total_steps} "
                    "training steps: lambda never switches on (the penalty weight stays 1)"]
        return []

    def _update(self, mbs):
        losses = {d: self.domain_loss(b, d) for d, b in mbs.items()}
        anneal = int(self.hparams["penalty_anneal_iters"])
        weight = float(self.hparams["lambda"]) if self.step_count >= anneal else 1.0
        if self.step_count == anneal != 0:
            self.optimizer.state.clear()  # DomainBed rebuilds Adam at the switch
        out = self.measure_cosines(losses) if self.log_cos_now() else {}
        risks = torch.stack(list(losses.values()))
        mean = risks.mean()
        penalty = (risks - mean).pow(2).mean()  # population variance, as DomainBed
        objective = mean + weight * penalty
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        out["grad_norm"] = self.apply_step()
        out.update(loss=float(objective.detach()), nll=float(mean.detach()),
                   penalty=float(penalty.detach()), penalty_weight=weight,
                   **loss_stats({d: l.detach() for d, l in losses.items()}))
        return out
