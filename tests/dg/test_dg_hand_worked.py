"""DG algorithms on planted problems small enough to work out by hand.

Each model has one or two scalar weights and quadratic losses, so every expected
number below is derived in the comments (not read back from the implementation):
Fishr's penalty through its EMA with bias correction and its optimizer reset,
GGA's acceptance rule on either side of the loss-tolerance boundary, one MLDG
meta-train / meta-test step, and V-REx's variance penalty, weight schedule and reset.
"""
from __future__ import annotations

import pytest
import torch

from espnet_cs_ext.dg import build_algorithm


class Line(torch.nn.Module):
    """y = w * x with w = 1 (Fishr's per-sample gradients of a Linear layer)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.lin.weight.fill_(1.0)

    def forward(self, x):
        return self.lin(x)


def line_loss(model, batch):
    """Batch mean of 0.5 (w x_i - t_i)^2: per-sample gradient g_i = (w x_i - t_i) x_i."""
    x, t = batch
    return 0.5 * (model(x[:, None])[:, 0] - t).pow(2).mean(), {}


def _b(x, t):
    return torch.tensor(x, dtype=torch.float32), torch.tensor(t, dtype=torch.float32)


def test_fishr_penalty_ema_bias_correction_and_optimizer_reset():
    model = Line()
    opt = torch.optim.Adam(model.parameters(), lr=0.0)  # w stays 1: the numbers stay hand-sized
    algo = build_algorithm("fishr", model, opt, line_loss,
                           {"modules": ["lin"], "ema": 0.5, "lambda": 10.0, "penalty_anneal_iters": 1,
                            "log_cos_every": 0}, grad_clip=0, seed=0)
    w = model.lin.weight
    # step 1: a: x=[1,2], t=0 -> g=[1,4], var=2.25;  b: x=[1,1], t=0 -> g=[1,1], var=0.
    # Bias-corrected EMA after one update is the variance itself, so the penalty is
    # mean_d (v_d - mean v)^2 = (2.25/2)^2 = 1.265625; lambda is 0 before step 1.
    s1 = algo.update({"a": _b([1, 2], [0, 0]), "b": _b([1, 1], [0, 0])})
    assert s1["penalty"] == pytest.approx(1.265625, rel=1e-6)
    assert s1["penalty_weight"] == 0.0
    nll1 = (0.5 * (1 + 4) / 2 + 0.5 * (1 + 1) / 2) / 2  # mean over domains of mean 0.5 (x - t)^2
    assert s1["loss"] == pytest.approx(nll1, rel=1e-6)
    assert opt.state[w]["step"] == 1
    # step 2: a: x=[1,1], t=[0,2] -> g=[1,-1], var=1;  b: x=[1,3], t=0 -> g=[1,9], var=16.
    # EMA (beta 0.5): 0.25 v1 + 0.5 v2, corrected by 1/(1 - 0.25): (v1 + 2 v2) / 3
    #   a: (2.25 + 2) / 3 = 17/12,  b: (0 + 32) / 3 = 32/3;  penalty = ((32/3 - 17/12) / 2)^2
    s2 = algo.update({"a": _b([1, 1], [0, 2]), "b": _b([1, 3], [0, 0])})
    pen2 = ((32 / 3 - 17 / 12) / 2) ** 2
    assert s2["penalty"] == pytest.approx(pen2, rel=1e-6)
    assert s2["penalty_weight"] == 10.0
    nll2 = (0.5 * (1 + 1) / 2 + 0.5 * (1 + 9) / 2) / 2
    assert s2["loss"] == pytest.approx(nll2 + 10.0 * pen2, rel=1e-6)
    # the penalty switched on at step 1: Adam's state was cleared, then stepped once
    assert opt.state[w]["step"] == 1
    algo.update({"a": _b([1, 1], [0, 2]), "b": _b([1, 3], [0, 0])})
    assert opt.state[w]["step"] == 2  # no further resets


class Point(torch.nn.Module):
    def __init__(self, *w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w, dtype=torch.float64))


def point_loss(model, c):
    """0.5 |w - c|^2: gradient w - c."""
    return 0.5 * (model.w - c).pow(2).sum(), {}


def _c(*v):
    return torch.tensor(v, dtype=torch.float64)


def _gga_case(seed=3, rho=0.1):
    """w0 = 0, c_a = (s, 0), c_b = (0, s); the single trial perturbation delta is the
    first draw of the algorithm's seeded generator (U(-rho, rho) per weight).

    cos(g_a, g_b) at w: 0 at w0; at delta it has the sign of |delta|^2 - s (d1 + d2), so
    s = -sign(d1 + d2) makes the trial raise the minimum cosine. Its mean loss is
    0.5 (|delta|^2 + 1 - s (d1 + d2)) = base + 0.5 (|delta|^2 + |d1 + d2|), base = 0.5:
    the trial is acceptable iff loss_tol >= (|delta|^2 + |d1 + d2|) (relative to base).
    """
    gen = torch.Generator()
    gen.manual_seed(seed)
    delta = (2 * torch.rand((2,), generator=gen, dtype=torch.float64) - 1) * rho
    s = -1.0 if float(delta.sum()) > 0 else 1.0
    boundary = float(delta.pow(2).sum() + delta.sum().abs())
    return delta, s, boundary


@pytest.mark.parametrize("side", ["inside", "outside"])
def test_gga_accepts_a_trial_exactly_within_the_loss_tolerance(side):
    seed, rho, lr = 3, 0.1, 0.5
    delta, s, boundary = _gga_case(seed, rho)
    tol = boundary * (1 + 1e-6 if side == "inside" else 1 - 1e-6)
    model = Point(0.0, 0.0)
    algo = build_algorithm("gga", model, torch.optim.SGD(model.parameters(), lr=lr), point_loss,
                           {"anneal_start": 0, "anneal_end": 1, "n_trials": 1, "rho": rho, "loss_tol": tol,
                            "log_cos_every": 0}, grad_clip=0, seed=seed)
    stats = algo.update({"a": _c(s, 0.0), "b": _c(0.0, s)})
    mid = _c(s / 2, s / 2)  # mean of c_a and c_b: the mean gradient is w - mid
    if side == "inside":
        assert stats["gga_accepted"] == 1.0 and stats["min_cos_after"] > stats["min_cos_before"]
        want = delta - lr * (delta - mid)  # moved to delta, then one SGD step from there
    else:
        assert stats["gga_accepted"] == 0.0
        want = -lr * (-mid)                # stayed at w0 = 0
    assert stats["min_cos_before"] == pytest.approx(0.0, abs=1e-12)
    torch.testing.assert_close(model.w.detach(), want, rtol=0, atol=1e-12)


def test_mldg_one_step_equals_the_hand_derived_update():
    """w = 1, c_a = 3, c_b = -2, inner lr a = 0.1, beta 1, SGD lr 0.5 (first-order MLDG).

    meta-train on a: g_f = w - 3 = -2, w' = 1.2, meta-test b at w': g_g = 1.2 + 2 = 3.2,
      w_new = 1 - 0.5 (-2 + 3.2) = 0.4; losses 0.5*2^2 = 2 and 0.5*3.2^2 = 5.12.
    meta-train on b: g_f = 3, w' = 0.7, meta-test a: g_g = 0.7 - 3 = -2.3,
      w_new = 1 - 0.5 (3 - 2.3) = 0.65; losses 4.5 and 0.5*2.3^2 = 2.645.
    Which domain is held out is the seeded permutation's choice; both seeds are run.
    """
    seen = set()
    for seed in range(8):
        model = Point(1.0)
        algo = build_algorithm("mldg", model, torch.optim.SGD(model.parameters(), lr=0.5), point_loss,
                               {"inner_lr": 0.1, "beta": 1.0, "n_meta_test": 1, "log_cos_every": 0},
                               grad_clip=0, seed=seed)
        stats = algo.update({"a": _c(3.0), "b": _c(-2.0)})
        held_out = "b" if stats["meta_train_loss"] == pytest.approx(2.0) else "a"
        want = {"b": (2.0, 5.12, 0.4), "a": (4.5, 2.645, 0.65)}[held_out]
        got = (stats["meta_train_loss"], stats["meta_test_loss"], float(model.w))
        assert got == pytest.approx(want, abs=1e-12), (seed, got, want)
        assert stats["loss"] == pytest.approx(want[0] + want[1], abs=1e-12)
        seen.add(held_out)
    assert seen == {"a", "b"}  # both splits were exercised


def test_vrex_variance_penalty_weight_schedule_and_optimizer_reset():
    model = Point(1.0)  # w = 1; lr 0 keeps it there so every step's numbers are hand-sized
    opt = torch.optim.Adam(model.parameters(), lr=0.0)
    algo = build_algorithm("vrex", model, opt, point_loss,
                           {"lambda": 10.0, "penalty_anneal_iters": 1, "log_cos_every": 0}, grad_clip=0)
    w = model.w
    # domain a: c=0 -> risk 0.5 (1-0)^2 = 0.5;  b: c=3 -> risk 0.5 (1-3)^2 = 2.
    # mean 1.25, population variance ((0.5-1.25)^2 + (2-1.25)^2) / 2 = 0.5625.
    # Step 0 < anneal: weight 1 (DomainBed), objective 1.25 + 0.5625 = 1.8125.
    a, b = torch.tensor([0.0], dtype=torch.float64), torch.tensor([3.0], dtype=torch.float64)
    s1 = algo.update({"a": a, "b": b})
    assert s1["penalty"] == pytest.approx(0.5625)
    assert s1["penalty_weight"] == 1.0
    assert s1["nll"] == pytest.approx(1.25)
    assert s1["loss"] == pytest.approx(1.8125)
    assert opt.state[w]["step"] == 1
    # Step 1 == anneal: weight lambda = 10, Adam's state cleared then stepped once.
    s2 = algo.update({"a": a, "b": b})
    assert s2["penalty_weight"] == 10.0
    assert s2["loss"] == pytest.approx(1.25 + 10.0 * 0.5625)
    assert opt.state[w]["step"] == 1
    algo.update({"a": a, "b": b})
    assert opt.state[w]["step"] == 2  # no further resets
    # equal risks: no penalty at all
    s4 = algo.update({"a": a, "b": torch.tensor([2.0], dtype=torch.float64)})
    assert s4["penalty"] == pytest.approx(0.0)


def test_vrex_step_follows_the_gradient_of_mean_plus_variance():
    model = Point(1.0)
    algo = build_algorithm("vrex", model, torch.optim.SGD(model.parameters(), lr=0.1), point_loss,
                           {"lambda": 10.0, "penalty_anneal_iters": 5, "log_cos_every": 0}, grad_clip=0)
    # risks r_a = 0.5 w^2, r_b = 0.5 (w - 3)^2 at w = 1: r = (0.5, 2), r' = (1, -2), mean' = -0.5.
    # var' = mean(2 (r - mean)(r' - mean')) = (2 (-0.75)(1.5) + 2 (0.75)(-1.5)) / 2 = -2.25.
    # Weight 1 before anneal: d objective / dw = -0.5 - 2.25 = -2.75, so w -> 1 + 0.1 * 2.75.
    algo.update({"a": torch.tensor([0.0], dtype=torch.float64), "b": torch.tensor([3.0], dtype=torch.float64)})
    assert float(model.w) == pytest.approx(1.275)
