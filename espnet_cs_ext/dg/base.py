"""The contract every DG algorithm implements, and the gradient helpers they share.

An algorithm owns one optimisation step: `update(minibatches_by_domain)` takes one
minibatch per domain (language pair), computes its objective, steps the optimizer it
was given and returns plain floats to log. The model's loss is abstracted as

    loss_fn(model, batch) -> (loss, stats)      loss: scalar tensor, the MEAN over the
                                                batch's samples; stats: dict of floats

so the algorithms run on ESPnet's ASR model (see `trainer.espnet_loss`), a bare
Whisper or a toy model alike. Plain torch only: no espnet2 import here.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import random
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch

from ..utils.errors import CsExtError

Batch = object
LossFn = Callable[[torch.nn.Module, Batch], Tuple[torch.Tensor, Dict[str, float]]]


class DGConfigError(CsExtError):
    """A DG configuration that cannot train: unknown algorithm/option, bad domains."""


@dataclasses.dataclass(frozen=True)
class HParam:
    """One hyper-parameter, DomainBed style: its default and the range a sweep draws from.

    search: ("choice", v1, v2, ...), ("uniform", lo, hi) or ("log10", lo, hi) (10 ** uniform);
    None for options that are not searched (module lists, switches).
    """
    default: object
    search: Optional[Tuple[object, ...]] = None

    def sample(self, rng: random.Random) -> object:
        if self.search is None:
            return self.default
        kind, *args = self.search
        if kind == "choice":
            return rng.choice(args)
        if kind == "uniform":
            return rng.uniform(*args)
        if kind == "log10":
            return 10 ** rng.uniform(*args)
        raise ValueError(f"unknown search kind {kind!r} (choice, uniform, log10)")


class Algorithm:
    """Base class: hyper-parameters, the optimizer step and per-domain gradients.

    Subclasses declare `HPARAMS` (name -> HParam(default, search range)) once, set `MIN_DOMAINS` (the number
    of domains the method needs to mean anything; checked before training starts) and
    implement `_update`.
    """

    HPARAMS: Dict[str, HParam] = {}
    # Shared by all algorithms: measure pairwise cosines of the per-domain gradients
    # every N steps (0: never) where the method does not compute them anyway; a
    # measurement costs one extra backward per domain.
    COMMON_HPARAMS: Dict[str, HParam] = {"log_cos_every": HParam(10)}
    MIN_DOMAINS = 2

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn,
                 hparams: Optional[Mapping[str, object]] = None, grad_clip: float = math.inf,
                 grad_clip_type: float = 2.0, seed: int = 0, step: int = 0):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.hparams = self.resolve_hparams(hparams)
        self.grad_clip = float(grad_clip) if grad_clip and grad_clip > 0 else math.inf
        self.grad_clip_type = float(grad_clip_type)
        self.params: List[torch.nn.Parameter] = [p for p in model.parameters() if p.requires_grad]
        self.step_count = int(step)  # optimisation steps done so far (resumes keep it)
        self._seed = int(seed)
        self._generator: Optional[torch.Generator] = None
        self._model_stats: Dict[str, Dict[str, float]] = {}

    # ---- configuration -------------------------------------------------------------
    @classmethod
    def defaults(cls) -> Dict[str, object]:
        return {k: h.default for k, h in {**cls.COMMON_HPARAMS, **cls.HPARAMS}.items()}

    @classmethod
    def search_space(cls) -> Dict[str, Tuple[object, ...]]:
        """{name: search range} of the hyper-parameters a sweep varies."""
        return {k: h.search for k, h in cls.HPARAMS.items() if h.search is not None}

    @classmethod
    def random_hparams(cls, seed: int) -> Dict[str, object]:
        """One draw from the search space (defaults elsewhere), reproducible by `seed`,
        as DomainBed's random_hparams."""
        rng = random.Random(f"{cls.NAME}:{seed}")
        return {k: h.sample(rng) for k, h in {**cls.COMMON_HPARAMS, **cls.HPARAMS}.items()}

    @classmethod
    def schedule_warnings(cls, hparams: Mapping[str, object], total_steps: int) -> List[str]:
        """Warnings about `hparams` for a run of `total_steps` optimisation steps (0: unknown);
        an algorithm whose options depend on the run length overrides this."""
        return []

    @classmethod
    def resolve_hparams(cls, overrides: Optional[Mapping[str, object]] = None) -> Dict[str, object]:
        """Defaults updated by `overrides`; unknown names are an error listing valid ones."""
        hp = cls.defaults()
        unknown = sorted(set(overrides or {}) - set(hp))
        if unknown:
            raise DGConfigError(f"unknown dg_conf option(s) {unknown} for {cls.NAME!r}; "
                                f"valid: {sorted(hp)}")
        hp.update(overrides or {})
        return hp

    NAME = "base"

    # ---- the contract --------------------------------------------------------------
    def update(self, minibatches_by_domain: Mapping[str, Batch]) -> Dict[str, float]:
        """One optimisation step on one minibatch per domain; returns floats to log."""
        if not minibatches_by_domain:
            raise DGConfigError("update() got no minibatches")
        mbs = {d: minibatches_by_domain[d] for d in sorted(minibatches_by_domain)}
        self._model_stats = {}
        out = self._update(mbs)
        self.step_count += 1
        # Model statistics (acc, loss_att, ...) of each domain's first evaluation,
        # averaged over domains, under the names ESPnet uses; the algorithm's own
        # entries (e.g. `loss` = its objective) take precedence.
        merged: Dict[str, List[float]] = {}
        for stats in self._model_stats.values():
            for k, v in stats.items():
                merged.setdefault(k, []).append(v)
        for k, vs in merged.items():
            out.setdefault(k, sum(vs) / len(vs))
        return out

    def _update(self, mbs: Dict[str, Batch]) -> Dict[str, float]:
        raise NotImplementedError

    # ---- helpers -------------------------------------------------------------------
    @property
    def generator(self) -> torch.Generator:
        if self._generator is None:
            device = self.params[0].device if self.params else torch.device("cpu")
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self._seed)
        return self._generator

    def permutation(self, n: int) -> List[int]:
        return torch.randperm(n, generator=self.generator, device=self.generator.device).tolist()

    def domain_loss(self, batch: Batch, domain: str) -> torch.Tensor:
        """loss_fn on one domain's batch; keeps the model stats of the first call per domain."""
        loss, stats = self.loss_fn(self.model, batch)
        if domain not in self._model_stats:
            self._model_stats[domain] = {k: float(v) for k, v in (stats or {}).items()}
        return loss

    def grads_of(self, loss: torch.Tensor, retain_graph: bool = False) -> List[torch.Tensor]:
        gs = torch.autograd.grad(loss, self.params, retain_graph=retain_graph, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(self.params, gs)]

    def domain_gradients(self, mbs: Mapping[str, Batch]) -> Tuple[Dict[str, float], Dict[str, List[torch.Tensor]]]:
        """Per-domain losses and gradients (one forward/backward per domain)."""
        losses, grads = {}, {}
        for d, batch in mbs.items():
            loss = self.domain_loss(batch, d)
            losses[d] = float(loss.detach())
            grads[d] = self.grads_of(loss)
        return losses, grads

    def log_cos_now(self) -> bool:
        every = int(self.hparams["log_cos_every"])
        return every > 0 and self.step_count % every == 0

    def measure_cosines(self, losses: Mapping[str, torch.Tensor]) -> Dict[str, float]:
        """Pairwise gradient cosines from live per-domain losses (graphs are kept)."""
        if len(losses) < 2:
            return {}
        grads = {d: self.grads_of(l, retain_graph=True) for d, l in losses.items()}
        return cosine_stats(grads)

    def set_grads(self, grads: Sequence[torch.Tensor]) -> None:
        """Use `grads` as the parameters' .grad (takes ownership: no copy)."""
        for p, g in zip(self.params, grads):
            p.grad = g.detach()

    def apply_step(self) -> float:
        """Clip, step the optimizer if the norm is finite, zero the grads; return the norm."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads:
            norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm=self.grad_clip,
                                                  norm_type=self.grad_clip_type)
            norm = float(norm)
        else:
            norm = 0.0
        if math.isfinite(norm):
            self.optimizer.step()
        else:
            logging.warning(f"The grad norm is {norm}. Skipping updating the model.")
        self.optimizer.zero_grad(set_to_none=True)
        return norm

    def snapshot(self) -> List[torch.Tensor]:
        return [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def restore(self, saved: Sequence[torch.Tensor]) -> None:
        for p, s in zip(self.params, saved):
            p.copy_(s)


# ---- pure functions over per-domain gradients ------------------------------------------
def mean_grads(grads: Mapping[str, Sequence[torch.Tensor]], inplace: bool = False) -> List[torch.Tensor]:
    """Mean over domains; `inplace` accumulates into the first domain's tensors (no copy)."""
    per_domain = list(grads.values())
    if not inplace:
        return [torch.stack(gs).mean(0) for gs in zip(*per_domain)]
    out = list(per_domain[0])
    for other in per_domain[1:]:
        for acc, g in zip(out, other):
            acc.add_(g)
    for acc in out:
        acc.div_(len(per_domain))
    return out


def gram(grads: Mapping[str, Sequence[torch.Tensor]]) -> Tuple[List[str], torch.Tensor]:
    """(domain names, D x D float64 matrix of gradient inner products), one pass over params."""
    names = sorted(grads)
    n = len(names)
    g = None
    for parts in zip(*(grads[k] for k in names)):
        flat = [t.reshape(-1) for t in parts]
        if g is None:  # on the gradients' device: one transfer at the end, not one per dot
            g = torch.zeros(n, n, dtype=torch.float64, device=flat[0].device)
        for i in range(n):  # per-parameter dots (no stacked copy), summed over params in float64
            for j in range(i, n):
                g[i, j] += torch.dot(flat[i], flat[j]).double()
    if g is None:
        return names, torch.zeros(n, n, dtype=torch.float64)
    g = g.cpu()
    return names, g + g.triu(1).T


def pairwise_cosines(grads: Mapping[str, Sequence[torch.Tensor]]) -> Dict[Tuple[str, str], float]:
    """Cosine similarity of every pair of domain gradients (lists of tensors, no flat copy)."""
    names, g = gram(grads)
    norms = g.diagonal().clamp_min(0).sqrt()
    out = {}
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            den = norms[i] * norms[j]
            out[(a, names[j])] = float(g[i, j] / den) if den > 0 else 0.0
    return out


def cosine(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    return pairwise_cosines({"a": a, "b": b})[("a", "b")]


def cosine_stats_from(cos: Mapping[Tuple[str, str], float]) -> Dict[str, float]:
    """`cos_<a>_<b>` per pair plus `cos_mean` and `cos_min` (empty for < 2 domains)."""
    if not cos:
        return {}
    out = {f"cos_{a}_{b}": v for (a, b), v in cos.items()}
    out["cos_mean"] = sum(cos.values()) / len(cos)
    out["cos_min"] = min(cos.values())
    return out


def cosine_stats(grads: Mapping[str, Sequence[torch.Tensor]]) -> Dict[str, float]:
    return cosine_stats_from(pairwise_cosines(grads))


def loss_stats(losses: Mapping[str, float]) -> Dict[str, float]:
    return {f"loss_{d}": float(v) for d, v in losses.items()}


def iter_domains(mbs: Mapping[str, Batch], order: Iterable[int]) -> List[str]:
    names = list(mbs)
    return [names[i] for i in order]
