"""The building blocks every merge method is composed of: pure functions on tensors.

    task_vector(ft, base)            tau = theta_ft - theta_base
    magnitude_prune(_)               keep the top-k |tau| (k = max(1, int(density * numel)))
    bernoulli_drop_                  DARE: keep each entry with probability `density`, rescale
    consensus_sum_                   TIES sign election ("sum" or "count") + disjoint sum, fused
    low_rank / lors_split            truncated SVD (randomized or exact) and low-rank + sparse

Functions ending in `_` work in place on workspace buffers (the merge engine's hot
path); the others take and return float32 tensors and never modify their inputs.
Randomness comes only from an explicit `torch.Generator`. Plain reference versions
of the fused kernels live in tests/merge/oracles.py, where they check these.
"""
from __future__ import annotations

import hashlib
from typing import Optional, Sequence

import torch

__all__ = [
    "task_vector", "retained_count", "magnitude_prune", "low_rank", "lors_split", "stable_seed", "Workspace",
    "magnitude_prune_", "bernoulli_drop_", "consensus_sum_",
]


def task_vector(ft: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """tau = ft - base (Ilharco et al. 2023)."""
    return ft - base


def retained_count(numel: int, density: float) -> int:
    """Number of entries a magnitude sparsifier keeps: max(1, int(density * numel)).

    Same formula as MergeKit 0.1.5 (`mergekit.sparsify.magnitude`), so the two agree on k.
    """
    return min(numel, max(1, int(density * numel)))


class Workspace:
    """Scratch buffers reused from one tensor to the next.

    Large fresh allocations cost a page fault per 4 KiB page (as much as the
    arithmetic itself here), so the merge kernels take their temporaries from a
    workspace. Not thread-safe: one workspace per merging thread.
    """

    def __init__(self):
        self._bufs: dict = {}

    def get(self, key: str, shape, dtype=torch.float32) -> torch.Tensor:
        n = 1
        for d in shape:
            n *= d
        buf = self._bufs.get((key, dtype))
        if buf is None or buf.numel() < n:
            buf = self._bufs[(key, dtype)] = torch.empty(max(n, 1), dtype=dtype)
        return buf[:n].view(shape)


CONSENSUS_CHUNK = 1 << 22  # entries per slice of consensus_sum_ (16 MiB of fp32 per scratch buffer)


def _ws(ws: Optional[Workspace]) -> Workspace:
    return ws if ws is not None else Workspace()


def _kth_largest(a: torch.Tensor, k: int) -> torch.Tensor:
    """Value of the k-th largest entry of the flat non-negative tensor `a` (1 <= k <= numel).

    A strided sample brackets the cutoff, so the exact selection runs on the few
    entries inside the bracket; if the bracket misses (odd distributions), fall
    back to a full `topk`. The result is exact either way.
    """
    n = a.numel()
    if n <= 1 << 16:
        return torch.topk(a, k, sorted=False).values.min()
    step = max(1, n // 65536)
    sample = a[::step].contiguous()
    m = sample.numel()
    q = 1.0 - k / n  # quantile of the cutoff
    margin = 4.0 * (q * (1 - q) / m) ** 0.5 + 2.0 / m
    lo_i, hi_i = int(max(0.0, q - margin) * (m - 1)), int(min(1.0, q + margin) * (m - 1))
    lo = torch.kthvalue(sample, lo_i + 1).values if q - margin > 0 else None
    hi = torch.kthvalue(sample, hi_i + 1).values if q + margin < 1 else None
    above = int(torch.count_nonzero(a > hi)) if hi is not None else 0
    if lo is None and hi is None:
        return torch.topk(a, k, sorted=False).values.min()
    if lo is None:
        band = a[a <= hi]
    elif hi is None:
        band = a[a >= lo]
    else:
        band = a[(a >= lo) & (a <= hi)]
    need = k - above  # rank of the cutoff inside the band, counted from the top
    if 1 <= need <= band.numel():
        return torch.topk(band, need, sorted=False).values.min()
    return torch.topk(a, k, sorted=False).values.min()


def _keep_top(tau: torch.Tensor, k: int, ws: Workspace) -> torch.Tensor:
    """Float 0/1 mask (a workspace buffer, flat) of the k largest |tau|, ties by lowest index."""
    flat = tau.reshape(-1)
    a = torch.abs(flat, out=ws.get("abs", flat.shape))
    thr = _kth_largest(a, k)
    missing = k - int(torch.count_nonzero(a > thr))
    ties = torch.nonzero(a == thr).reshape(-1)[:missing] if missing > 0 else None
    keep = torch.gt(a, thr, out=a)  # in place: |tau| is not needed any more (one buffer fewer)
    if ties is not None:
        keep[ties] = 1.0
    return keep


def magnitude_prune_(tau: torch.Tensor, density: float, ws: Optional[Workspace] = None) -> torch.Tensor:
    """In-place magnitude_prune of a contiguous tensor; returns `tau`."""
    k = retained_count(tau.numel(), density)
    if density >= 1 or k >= tau.numel():
        return tau
    tau.reshape(-1).mul_(_keep_top(tau, k, _ws(ws)))
    return tau


def magnitude_prune(tau: torch.Tensor, density: float) -> torch.Tensor:
    """MP (LoRS paper eq. 1-2; TIES "trim"): zero all but the top-density |tau| entries."""
    if density >= 1:
        return tau
    return magnitude_prune_(tau.clone(), density)


def bernoulli_drop_(tau: torch.Tensor, density: float, generator: torch.Generator,
                    rescale: str | bool = True, ws: Optional[Workspace] = None) -> torch.Tensor:
    """In-place bernoulli_drop of a contiguous tensor; returns `tau`."""
    if density >= 1:
        return tau
    flat = tau.reshape(-1)
    ws = _ws(ws)
    u = ws.get("uniform", flat.shape).uniform_(generator=generator)
    keep = torch.lt(u, density, out=u)
    before = float(torch.linalg.vector_norm(flat, ord=1)) if rescale == "l1" else 0.0
    flat.mul_(keep)
    if rescale is True or rescale == "inverse_density":
        flat.mul_(1.0 / density)
    elif rescale == "l1":
        after = float(torch.linalg.vector_norm(flat, ord=1))
        if before > 1e-7 and after > 1e-7:
            flat.mul_(before / after)
    elif rescale not in (False, None, "none"):
        raise ValueError(f"unknown rescale mode {rescale!r}")
    return tau


def consensus_sum_(weighted: torch.Tensor, weights: Sequence[float], method: Optional[str],
                   normalize: bool, ws: Optional[Workspace] = None) -> torch.Tensor:
    """TIES sign election + disjoint (mean) sum over stacked weighted task vectors [N, ...].

    method "sum": elected sign = sign(sum_i w_i tau_i) (TIES paper); "count": sign of the
    sum of signs; None: no election. Zero sums elect +; exact zeros never agree. With
    `normalize`, divided by the summed weights of the contributing models (divisor 0 -> 1).
    Same arithmetic as the reference in tests/merge/oracles.py (and MergeKit): the mixed sum
    accumulates models in order, the divisor likewise. Overwrites `weighted`
    (disagreeing entries are zeroed) and returns a workspace buffer [...]: copy it
    before the next call with the same workspace.
    """
    ws = _ws(ws)
    mixed = ws.get("mixed", weighted.shape[1:])
    n = mixed.numel()
    rows, flat = weighted.reshape(weighted.shape[0], n), mixed.reshape(n)
    # element-wise, so done in slices: the scratch buffers (elected, agree, divisor) stay
    # CONSENSUS_CHUNK entries instead of three more copies of the largest tensor (issue 23)
    for s in range(0, max(n, 1), CONSENSUS_CHUNK):
        _consensus_part(rows[:, s:s + CONSENSUS_CHUNK], weights, method, normalize, ws,
                        flat[s:s + CONSENSUS_CHUNK])
    return mixed


def _consensus_part(weighted: torch.Tensor, weights: Sequence[float], method: Optional[str],
                    normalize: bool, ws: Workspace, mixed: torch.Tensor) -> None:
    """consensus_sum_ on the rows' slice `weighted` [N, c], result into `mixed` [c]."""
    shape = mixed.shape
    if method is None:
        torch.sum(weighted, dim=0, out=mixed)
        if normalize:
            total = sum(weights)
            mixed.div_(1.0 if abs(total) < 1e-8 else total)
        return
    # elected sign e in {-1, +1} (zero sums elect +)
    e = ws.get("elected", shape)
    if method == "sum":
        torch.sum(weighted, dim=0, out=e)
    elif method == "count":
        e.zero_()
        tmp = ws.get("tmp", shape)
        for row in weighted:
            e.add_(torch.sign(row, out=tmp))
    else:
        raise ValueError(f"unknown consensus method {method!r} (valid: sum, count)")
    torch.sign(e, out=e)
    e.masked_fill_(e == 0, 1.0)
    agree = ws.get("agree", shape)
    divisor = ws.get("divisor", shape) if normalize else None
    mixed.zero_()
    if divisor is not None:
        divisor.zero_()
    for row, w in zip(weighted, weights):
        torch.mul(row, e, out=agree)
        torch.gt(agree, 0, out=agree)  # 1 where the entry is non-zero with the elected sign
        row.mul_(agree)
        mixed.add_(row)
        if divisor is not None:
            divisor.add_(agree, alpha=w)
    if divisor is not None:
        divisor.masked_fill_(divisor == 0, 1.0)
        mixed.div_(divisor)


def _randomized_svd(w: torch.Tensor, rank: int, generator: torch.Generator,
                    oversample: int = 10, n_iter: int = 4):
    """Halko-Martinsson-Tropp randomized truncated SVD with subspace iteration."""
    m, n = w.shape
    q = min(rank + oversample, m, n)
    omega = torch.randn(n, q, generator=generator, dtype=w.dtype)
    y = w @ omega
    basis, _ = torch.linalg.qr(y)
    for _ in range(n_iter):
        z, _ = torch.linalg.qr(w.T @ basis)
        basis, _ = torch.linalg.qr(w @ z)
    small = basis.T @ w  # [q, n]
    u_s, s, vh = torch.linalg.svd(small, full_matrices=False)
    return (basis @ u_s)[:, :rank], s[:rank], vh[:rank]


def low_rank(w: torch.Tensor, ratio: float, svd: str = "auto",
             generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """SVP (LoRS paper eq. 3-4): U_r S_r V_r^T keeping r = max(1, int(ratio * min(m, n))).

    svd: "exact" (torch.linalg.svd), "randomized" (seeded, see _randomized_svd) or
    "auto": randomized when r + 10 <= min(m, n) / 4, exact otherwise.
    """
    if w.dim() != 2:
        raise ValueError(f"low_rank needs a 2-D matrix, got shape {tuple(w.shape)}")
    full = min(w.shape)
    r = retained_count(full, ratio)
    if r >= full:
        return w
    mode = svd
    if mode == "auto":
        mode = "randomized" if 4 * (r + 10) <= full else "exact"
    if mode == "randomized":
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        u, s, vh = _randomized_svd(w, r, generator)
    elif mode == "exact":
        u, s, vh = torch.linalg.svd(w, full_matrices=False)
        u, s, vh = u[:, :r], s[:r], vh[:r]
    else:
        raise ValueError(f"unknown svd mode {svd!r} (valid: auto, exact, randomized)")
    return (u * s) @ vh


def lors_split(tau: torch.Tensor, svp_ratio: float, mp_ratio: float, svd: str = "auto",
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """LoRS (LoRS paper eq. 5-7): L + MP(tau - L), L the rank-r SVP of tau."""
    lr = low_rank(tau, svp_ratio, svd=svd, generator=generator)
    return lr + magnitude_prune(tau - lr, mp_ratio)


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from the given parts, stable across runs and processes
    (Python's hash() is salted), so per-tensor randomness does not depend on order."""
    h = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)
