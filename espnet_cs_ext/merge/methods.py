"""Merge methods: one registry entry per method, the registry key is the CLI/YAML name.

Every method is a pure function over the tensors of *one* parameter:

    fn(base, models, ctx) -> merged          (all float32; base may be None for `linear`)

where `ctx` (`TensorContext`) carries the resolved per-model and global parameters,
the tensor's name and kind, and a per-(tensor, model) seeded generator. The
task-vector methods are one generalised algorithm (as in MergeKit): task vectors ->
per-model sparsifier -> weights -> optional sign consensus -> (normalised) sum ->
base + lambda * sum.

Tensor kinds (see `engine.tensor_kind`): only kind "matrix" (2-D weights of linear
layers) gets the low-rank treatment of `svp` / `lors`; embeddings, conv kernels and
1-D tensors are merged by the same method with the low-rank part left out (`svp`
keeps their task vector whole, `lors` keeps MP(tau)). Buffers and integer tensors
never reach a method: the engine copies them from the base.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import torch

from ..utils.errors import CsExtError
from . import parts


@dataclasses.dataclass
class TensorContext:
    """What a method needs to know about the tensor being merged."""

    name: str
    kind: str  # "matrix", "embedding", "other" (see module docstring)
    model_params: List[Dict[str, Any]]  # one resolved dict per fine-tuned model
    params: Dict[str, Any]  # resolved global parameters
    seed: int = 0
    workspace: parts.Workspace = dataclasses.field(default_factory=parts.Workspace)

    def generator(self, index: int) -> torch.Generator:
        """Generator for model `index` on this tensor: depends on (seed, name, index) only."""
        return torch.Generator().manual_seed(parts.stable_seed(self.seed, self.name, index))

    def per_model(self, key: str) -> List[Any]:
        return [p[key] for p in self.model_params]


MergeFn = Callable[[Optional[torch.Tensor], Sequence[torch.Tensor], TensorContext], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class MergeMethod:
    """A registered merge method. `model_params` / `params` map name -> default."""

    name: str
    fn: MergeFn
    paper: str
    summary: str
    model_params: Mapping[str, Any]
    params: Mapping[str, Any]
    needs_base: bool = True
    max_models: Optional[int] = None
    low_rank: bool = False  # uses an SVD (svd mode and seed matter)


METHODS: Dict[str, MergeMethod] = {}

#: Parameters that must lie in (0, 1].
FRACTION_PARAMS = ("density", "svp_ratio", "mp_ratio")


def register(method: MergeMethod) -> MergeMethod:
    if method.name in METHODS:
        raise ValueError(f"merge method {method.name!r} registered twice")
    METHODS[method.name] = method
    return method


def get_method(name: str) -> MergeMethod:
    """The registered method `name`; unknown names raise CsExtError listing valid ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise CsExtError(f"unknown merge method {name!r}; valid methods: {', '.join(sorted(METHODS))}") from None


def generalized_task_arithmetic(base, models, ctx: TensorContext, *,
                                sparsify: Optional[Callable[[torch.Tensor, int], torch.Tensor]] = None,
                                consensus: Optional[str] = None) -> torch.Tensor:
    """base + lambda * combine_i(w_i * sparsify_i(tau_i)); see module docstring.

    `sparsify(tau, i)` may work in place on `tau` (a row of a workspace buffer)
    and returns the sparsified task vector.
    """
    lam = ctx.params["lambda"]
    if lam == 0:
        return base.clone()
    ws = ctx.workspace
    deltas = ws.get("deltas", (len(models),) + tuple(base.shape))
    weights = ctx.per_model("weight")
    for i, m in enumerate(models):
        row = deltas[i]
        torch.sub(m, base, out=row)
        if sparsify is not None:
            out = sparsify(row, i)
            if out is not row:
                row.copy_(out)
        if weights[i] != 1:
            row.mul_(weights[i])
    mixed = parts.consensus_sum_(deltas, weights, consensus, bool(ctx.params["normalize"]), ws)
    if lam != 1:
        mixed.mul_(lam)
    # in place (mixed + base == base + mixed exactly): the result is a workspace buffer, valid
    # until the next call with this workspace (the engine writes it before that)
    return mixed.add_(base)


def _linear(base, models, ctx):
    weights = ctx.per_model("weight")
    out = torch.zeros_like(models[0])
    for w, m in zip(weights, models):
        out.add_(m, alpha=w)
    if ctx.params["normalize"]:
        total = sum(weights)
        if abs(total) < 1e-8:
            raise CsExtError("linear: the model weights sum to 0; cannot normalize")
        out /= total
    return out


def _task_arithmetic(base, models, ctx):
    return generalized_task_arithmetic(base, models, ctx)


def _magnitude(ctx):
    dens = ctx.per_model("density")
    return lambda tau, i: parts.magnitude_prune_(tau, dens[i], ctx.workspace)


def _bernoulli(ctx):
    dens = ctx.per_model("density")
    return lambda tau, i: parts.bernoulli_drop_(tau, dens[i], ctx.generator(i), ctx.params["rescale"],
                                                ctx.workspace)


def _ties(base, models, ctx):
    return generalized_task_arithmetic(base, models, ctx, sparsify=_magnitude(ctx),
                                       consensus=ctx.params["consensus"])


def _dare_linear(base, models, ctx):
    return generalized_task_arithmetic(base, models, ctx, sparsify=_bernoulli(ctx))


def _dare_ties(base, models, ctx):
    return generalized_task_arithmetic(base, models, ctx, sparsify=_bernoulli(ctx),
                                       consensus=ctx.params["consensus"])


def _magnitude_prune(base, models, ctx):
    return generalized_task_arithmetic(base, models, ctx, sparsify=_magnitude(ctx))


def _svp(base, models, ctx):
    ratios = ctx.per_model("svp_ratio")
    svd = ctx.params["svd"]
    if ctx.kind != "matrix":
        return generalized_task_arithmetic(base, models, ctx)
    return generalized_task_arithmetic(
        base, models, ctx,
        sparsify=lambda tau, i: parts.low_rank(tau, ratios[i], svd=svd, generator=ctx.generator(i)))


def _lors(base, models, ctx):
    svp, mp = ctx.per_model("svp_ratio"), ctx.per_model("mp_ratio")
    svd = ctx.params["svd"]
    if ctx.kind != "matrix":
        return generalized_task_arithmetic(base, models, ctx,
                                           sparsify=lambda tau, i: parts.magnitude_prune_(tau, mp[i], ctx.workspace))
    return generalized_task_arithmetic(
        base, models, ctx,
        sparsify=lambda tau, i: parts.lors_split(tau, svp[i], mp[i], svd=svd, generator=ctx.generator(i)))


def _interpolate(base, models, ctx):
    ratio = ctx.params["ratio"]
    if ratio == 0:
        return base.clone()
    return torch.lerp(base, models[0], ratio)


_TA = {"lambda": 1.0, "normalize": False, "int8_mask": False}
register(MergeMethod(
    "linear", _linear, "https://arxiv.org/abs/2203.05482",
    "weighted average of the models: sum(w_i theta_i) / sum(w_i) (model soups / weight averaging)",
    model_params={"weight": 1.0}, params={"normalize": True}, needs_base=False))
register(MergeMethod(
    "task_arithmetic", _task_arithmetic, "https://arxiv.org/abs/2212.04089",
    "base + lambda * sum(w_i tau_i)",
    model_params={"weight": 1.0}, params=dict(_TA)))
register(MergeMethod(
    "ties", _ties, "https://arxiv.org/abs/2306.01708",
    "trim each tau_i to its top-density |entries|, elect signs, disjoint mean of agreeing entries",
    model_params={"weight": 1.0, "density": 1.0},
    params={"lambda": 1.0, "normalize": True, "consensus": "sum", "int8_mask": False}))
register(MergeMethod(
    "dare_linear", _dare_linear, "https://arxiv.org/abs/2311.03099",
    "drop tau_i entries with prob 1-density (seeded), rescale kept ones, weighted sum",
    model_params={"weight": 1.0, "density": 1.0},
    params={"lambda": 1.0, "normalize": False, "rescale": True, "int8_mask": False}))
register(MergeMethod(
    "dare_ties", _dare_ties, "https://arxiv.org/abs/2311.03099",
    "DARE drop-and-rescale, then TIES sign consensus",
    model_params={"weight": 1.0, "density": 1.0},
    params={"lambda": 1.0, "normalize": False, "rescale": True, "consensus": "sum", "int8_mask": False}))
register(MergeMethod(
    "magnitude_prune", _magnitude_prune, "https://arxiv.org/abs/2502.17380",
    "MP-merging: base + lambda * sum(w_i MP(tau_i)), MP keeps the top-density |entries|",
    model_params={"weight": 1.0, "density": 1.0}, params=dict(_TA)))
register(MergeMethod(
    "svp", _svp, "https://arxiv.org/abs/2502.17380",
    "SVP-merging: base + lambda * sum(w_i SVP(tau_i)), SVP keeps the top svp_ratio singular values",
    model_params={"weight": 1.0, "svp_ratio": 0.05}, params={**_TA, "svd": "auto"}, low_rank=True))
register(MergeMethod(
    "lors", _lors, "https://arxiv.org/abs/2502.17380",
    "LoRS-merging: base + lambda * sum(w_i (L_i + MP(tau_i - L_i))), L_i = SVP(tau_i)",
    model_params={"weight": 1.0, "svp_ratio": 0.05, "mp_ratio": 0.4},
    params={**_TA, "svd": "auto"}, low_rank=True))
register(MergeMethod(
    "interpolate", _interpolate, "https://arxiv.org/abs/2506.14190",
    "AsyncSwitch final step: base + ratio * (theta_ft - base), one fine-tuned model",
    model_params={}, params={"ratio": 0.4}, max_models=1))


def resolve_params(method: MergeMethod, model_params: Sequence[Mapping[str, Any]],
                   params: Mapping[str, Any]) -> tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Fill defaults and validate; raise CsExtError naming the bad parameter."""
    unknown = set(params) - set(method.params)
    if unknown:
        raise CsExtError(f"{method.name}: unknown parameter(s) {sorted(unknown)}; "
                         f"valid: {sorted(method.params) or 'none'}")
    g = {**method.params, **params}
    if method.max_models is not None and len(model_params) > method.max_models:
        raise CsExtError(f"{method.name} takes at most {method.max_models} model(s), got {len(model_params)}")
    if not model_params:
        raise CsExtError(f"{method.name}: no models to merge")
    resolved = []
    for i, mp in enumerate(model_params):
        unknown = set(mp) - set(method.model_params)
        if unknown:
            raise CsExtError(f"{method.name}: model {i}: unknown parameter(s) {sorted(unknown)}; "
                             f"valid: {sorted(method.model_params) or 'none'}")
        r = {**method.model_params, **mp}
        for k, v in r.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise CsExtError(f"{method.name}: model {i}: parameter {k!r} must be a number, got {v!r}")
            r[k] = float(v)
            if k in FRACTION_PARAMS and not (0.0 < r[k] <= 1.0):
                raise CsExtError(f"{method.name}: model {i}: {k} must be in (0, 1], got {v}")
        resolved.append(r)
    for k in ("lambda", "ratio"):
        if k in g:
            if isinstance(g[k], bool) or not isinstance(g[k], (int, float)):
                raise CsExtError(f"{method.name}: parameter {k!r} must be a number, got {g[k]!r}")
            g[k] = float(g[k])
    for k in ("normalize", "int8_mask"):  # int8_mask: accepted for MergeKit configs, no effect here
        if k in g and not isinstance(g[k], bool):
            raise CsExtError(f"{method.name}: {k} must be true or false, got {g[k]!r}")
    if "consensus" in g and g["consensus"] not in ("sum", "count"):
        raise CsExtError(f"{method.name}: consensus must be 'sum' or 'count', got {g['consensus']!r}")
    if "rescale" in g and g["rescale"] not in (True, False, "inverse_density", "l1"):
        raise CsExtError(f"{method.name}: rescale must be true, false, 'inverse_density' or 'l1', "
                         f"got {g['rescale']!r}")
    if "svd" in g and g["svd"] not in ("auto", "exact", "randomized"):
        raise CsExtError(f"{method.name}: svd must be 'auto', 'exact' or 'randomized', got {g['svd']!r}")
    return resolved, g


def merge_tensors(method: str | MergeMethod, base: Optional[torch.Tensor], models: Sequence[torch.Tensor],
                  model_params: Sequence[Mapping[str, Any]] = (), params: Optional[Mapping[str, Any]] = None,
                  *, name: str = "tensor", kind: Optional[str] = None, seed: int = 0) -> torch.Tensor:
    """Merge one parameter: convenience entry point for tests and analyses.

    model_params defaults to `{}` per model (all defaults). kind defaults to
    "matrix" for 2-D tensors and "other" otherwise. Computes in float32 and
    returns float32.
    """
    m = get_method(method) if isinstance(method, str) else method
    mps = list(model_params) or [{} for _ in models]
    if len(mps) != len(models):
        raise CsExtError(f"{len(models)} models but {len(mps)} parameter sets")
    resolved, g = resolve_params(m, mps, params or {})
    if m.needs_base and base is None:
        raise CsExtError(f"{m.name} needs a base model")
    ctx = TensorContext(name=name, kind=kind or ("matrix" if models[0].dim() == 2 else "other"),
                        model_params=resolved, params=g, seed=seed)
    f32 = [t.float() for t in models]
    return m.fn(base.float() if base is not None else None, f32, ctx)
