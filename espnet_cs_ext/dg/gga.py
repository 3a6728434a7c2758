"""GGA: gradient-guided annealing of the parameters early in training.

Ballas & Diou, "Gradient-Guided Annealing for Domain Generalization", CVPR 2025
(arXiv 2502.20162). During the step window [anneal_start, anneal_end) each step first
searches `n_trials` random uniform perturbations delta ~ U(-rho, rho) of all trainable
weights and moves to the one that raises the minimum pairwise cosine similarity of
the per-domain gradients most, among those whose mean loss is at most
(1 + loss_tol) * the unperturbed loss; then takes the usual step with the mean domain
gradient at that point. Outside the window it is ERM. A perturbation is accepted only
if it raises the min cosine, so the search never lowers it (the issue's property).

Cost inside the window: (1 + n_trials) forward/backward passes per domain; memory:
one snapshot of the weights, D gradient buffers and the best mean gradient. The
perturbation is regenerated from its RNG state, not stored.
"""
from __future__ import annotations

from typing import Dict

import torch

from .base import Algorithm, HParam, cosine_stats_from, loss_stats, mean_grads, pairwise_cosines
from .erm import ERM


class GGA(Algorithm):
    """Perturbation search for aligned domain gradients in an early step window."""

    NAME = "gga"
    HPARAMS: Dict[str, HParam] = {
        "anneal_start": HParam(0),                            # first step of the search window
        "anneal_end": HParam(20, ("choice", 10, 20, 40)),     # window end (exclusive): ~10% of 195 steps
        "n_trials": HParam(5, ("choice", 3, 5, 10)),          # random perturbations tried per step
        "rho": HParam(1.0e-5, ("log10", -6, -5)),             # neighbourhood half-width (1e-5 .. 1e-6)
        "loss_tol": HParam(0.01, ("choice", 0.005, 0.01, 0.02)),  # accept at most a 1% rise of the loss
    }

    def in_window(self) -> bool:
        return int(self.hparams["anneal_start"]) <= self.step_count < int(self.hparams["anneal_end"])

    def _perturb(self, sign: float, state) -> None:
        gen = self.generator
        gen.set_state(state)
        rho = float(self.hparams["rho"])
        with torch.no_grad():
            for p in self.params:
                u = torch.rand(p.shape, generator=gen, device=gen.device, dtype=p.dtype).to(p.device)
                p.add_((2 * u - 1) * (sign * rho))

    def _update(self, mbs):
        if not self.in_window():
            out = ERM._update(self, mbs)
            out["gga_searching"] = 0.0
            return out
        losses, grads = self.domain_gradients(mbs)
        base_loss = sum(losses.values()) / len(losses)
        cos = pairwise_cosines(grads)
        before = min(cos.values())
        best = {"min_cos": before, "state": None, "grad": mean_grads(grads, inplace=True), "losses": losses,
                "cos": cosine_stats_from(cos)}
        del grads
        theta = self.snapshot()
        limit = base_loss + abs(base_loss) * float(self.hparams["loss_tol"])  # relative tolerance
        tried = 0
        for _ in range(int(self.hparams["n_trials"])):
            state = self.generator.get_state()
            self._perturb(+1.0, state)
            t_losses, t_grads = self.domain_gradients(mbs)
            tried += 1
            t_cos = pairwise_cosines(t_grads)
            t_min = min(t_cos.values())
            t_loss = sum(t_losses.values()) / len(t_losses)
            if t_loss <= limit and t_min > best["min_cos"]:
                best = {"min_cos": t_min, "state": state, "grad": mean_grads(t_grads, inplace=True),
                        "losses": t_losses, "cos": cosine_stats_from(t_cos)}
            del t_grads
            self.restore(theta)
        if best["state"] is not None:  # move to the accepted point
            after_rng = self.generator.get_state()
            self._perturb(+1.0, best["state"])
            self.generator.set_state(after_rng)
        del theta
        self.last_search = {"min_cos_before": before, "min_cos_after": best["min_cos"],
                            "accepted": best["state"] is not None, "trials": tried}
        self.optimizer.zero_grad(set_to_none=True)
        self.set_grads(best["grad"])
        out = dict(best["cos"])
        out["grad_norm"] = self.apply_step()
        out.update(loss=sum(best["losses"].values()) / len(best["losses"]), gga_searching=1.0,
                   min_cos_before=before, min_cos_after=best["min_cos"],
                   gga_accepted=float(best["state"] is not None), **loss_stats(best["losses"]))
        return out
