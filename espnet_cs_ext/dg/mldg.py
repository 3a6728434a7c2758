"""MLDG: meta-learning domain generalisation, first-order as in DomainBed.

Li, Yang, Song & Hospedales, "Learning to Generalize: Meta-Learning for Domain
Generalization", AAAI 2018 (arXiv 1710.03463). Per step the domains are split at
random into meta-train (all but `n_meta_test`) and meta-test; with F the mean
meta-train loss at theta and G the mean meta-test loss after a virtual SGD step
theta' = theta - inner_lr * grad F(theta), the update direction is
    grad F(theta) + beta * grad G(theta')
(first-order: the Hessian term of d theta'/d theta is dropped, as DomainBed does).
Cost: one forward/backward per domain plus one weight snapshot and one gradient buffer.
"""
from __future__ import annotations

from typing import Dict

import torch

from .base import Algorithm, HParam, loss_stats


class MLDG(Algorithm):
    """Meta-train on some domains, meta-test the virtually updated model on the others."""

    NAME = "mldg"
    HPARAMS: Dict[str, HParam] = {
        "beta": HParam(1.0, ("log10", -1, 1)),         # DomainBed mldg_beta and its range
        "inner_lr": HParam(1.0e-3, ("log10", -4, -2)),  # virtual SGD step (a small step for fine-tuning)
        "n_meta_test": HParam(1),                       # domains held out as meta-test each step
    }

    def _update(self, mbs):
        names = list(mbs)
        n_test = int(self.hparams["n_meta_test"])
        if not 0 < n_test < len(names):
            raise ValueError(f"mldg needs 0 < n_meta_test < number of domains ({len(names)}), got {n_test}")
        order = self.permutation(len(names))
        test = [names[i] for i in order[:n_test]]
        train = [names[i] for i in order[n_test:]]
        losses = {}
        for d in train:
            losses[d] = self.domain_loss(mbs[d], d)
        f = torch.stack([losses[d] for d in train]).mean()
        out = {}
        g_f = self.grads_of(f)
        theta = self.snapshot()
        lr = float(self.hparams["inner_lr"])
        with torch.no_grad():
            for p, g in zip(self.params, g_f):
                p.sub_(lr * g)
        test_losses = {d: self.domain_loss(mbs[d], d) for d in test}
        g_loss = torch.stack(list(test_losses.values())).mean()
        g_g = self.grads_of(g_loss)
        self.restore(theta)
        del theta
        beta = float(self.hparams["beta"])
        self.optimizer.zero_grad(set_to_none=True)
        self.set_grads([a + beta * b for a, b in zip(g_f, g_g)])
        out["grad_norm"] = self.apply_step()
        out.update(loss=float(f.detach()) + beta * float(g_loss.detach()), meta_train_loss=float(f.detach()),
                   meta_test_loss=float(g_loss.detach()),
                   **loss_stats({**{d: l.detach() for d, l in losses.items()},
                                 **{d: l.detach() for d, l in test_losses.items()}}))
        return out
