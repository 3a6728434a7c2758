"""Property tests for every registered merge method, on plain tensors."""
from __future__ import annotations

import math

import pytest
import torch
import oracles

from espnet_cs_ext.merge import METHODS, merge_tensors, parts
from espnet_cs_ext.utils.errors import CsExtError


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


BASE = rand(24, 16, seed=1)
FTS = [BASE + 0.1 * rand(24, 16, seed=10 + i) for i in range(3)]

# (method, params that make it a "lambda"-style method, identity-preserving per-model params)
LAMBDA_ZERO = {
    "task_arithmetic": {"lambda": 0.0},
    "ties": {"lambda": 0.0},
    "dare_linear": {"lambda": 0.0},
    "dare_ties": {"lambda": 0.0},
    "magnitude_prune": {"lambda": 0.0},
    "svp": {"lambda": 0.0},
    "lors": {"lambda": 0.0},
    "interpolate": {"ratio": 0.0},
}
# per-model parameters under which merging N identical fine-tunes must return that fine-tune
IDENTITY = {
    "linear": ({"weight": 1.0}, {}),
    "task_arithmetic": ({"weight": 1 / 3}, {}),
    "ties": ({"weight": 1.0, "density": 1.0}, {}),
    "dare_linear": ({"weight": 1 / 3, "density": 1.0}, {}),
    "dare_ties": ({"weight": 1.0, "density": 1.0}, {"normalize": True}),
    "magnitude_prune": ({"weight": 1 / 3, "density": 1.0}, {}),
    "svp": ({"weight": 1 / 3, "svp_ratio": 1.0}, {}),
    "lors": ({"weight": 1 / 3, "svp_ratio": 1.0, "mp_ratio": 1.0}, {}),
    "interpolate": ({}, {"ratio": 1.0}),
}


def test_every_method_has_property_rows():
    assert set(IDENTITY) == set(METHODS)
    assert set(LAMBDA_ZERO) == set(METHODS) - {"linear"}  # linear has no base and no lambda
    for m in METHODS.values():
        assert m.paper.startswith("https://arxiv.org/abs/"), m.name


@pytest.mark.parametrize("name", sorted(LAMBDA_ZERO))
def test_lambda_zero_returns_base_exactly(name):
    n = METHODS[name].max_models or 3
    out = merge_tensors(name, BASE, FTS[:n], params=LAMBDA_ZERO[name])
    assert torch.equal(out, BASE)


@pytest.mark.parametrize("name", sorted(IDENTITY))
def test_identical_finetunes_return_that_model(name):
    per_model, glob = IDENTITY[name]
    n = METHODS[name].max_models or 3
    out = merge_tensors(name, BASE, [FTS[0]] * n, [per_model] * n, glob)
    torch.testing.assert_close(out, FTS[0], rtol=0, atol=1e-5)


def test_task_arithmetic_formula():
    w = [0.5, 1.0, -0.25]
    out = merge_tensors("task_arithmetic", BASE, FTS, [{"weight": x} for x in w], {"lambda": 0.7})
    want = BASE + 0.7 * sum(x * (f - BASE) for x, f in zip(w, FTS))
    torch.testing.assert_close(out, want)


def test_linear_is_weighted_average_and_needs_no_base():
    out = merge_tensors("linear", None, FTS[:2], [{"weight": 1.0}, {"weight": 3.0}])
    torch.testing.assert_close(out, (FTS[0] + 3 * FTS[1]) / 4)


@pytest.mark.parametrize("density", [0.05, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("name", ["magnitude_prune", "ties"])
def test_magnitude_density_is_exact_nonzero_fraction(name, density):
    base = torch.zeros(64, 50)
    tau = rand(64, 50, seed=3)
    out = merge_tensors(name, base, [tau], [{"density": density}])
    assert int((out != 0).sum()) == parts.retained_count(tau.numel(), density)
    kept = out != 0
    assert float(tau[kept].abs().min()) >= float(tau[~kept].abs().max())  # the largest ones


@pytest.mark.parametrize("density", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("name", ["dare_linear", "dare_ties"])
def test_dare_density_is_nonzero_fraction(name, density):
    base = torch.zeros(200, 100)
    tau = rand(200, 100, seed=4)
    out = merge_tensors(name, base, [tau], [{"density": density}])
    frac = float((out != 0).float().mean())
    sigma = math.sqrt(density * (1 - density) / tau.numel())
    assert abs(frac - density) < 5 * sigma
    kept = out != 0
    torch.testing.assert_close(out[kept], tau[kept] / density)  # rescale 1/density


def test_dare_l1_rescale_keeps_l1_norm():
    tau = rand(100, 100, seed=5)
    out = merge_tensors("dare_linear", torch.zeros_like(tau), [tau], [{"density": 0.3}], {"rescale": "l1"})
    torch.testing.assert_close(out.abs().sum(), tau.abs().sum())


def test_dare_seeded_reproducible():
    kw = dict(model_params=[{"density": 0.3}] * 3, name="decoder.blocks.0.mlp.0.weight")
    a = merge_tensors("dare_ties", BASE, FTS, seed=11, **kw)
    b = merge_tensors("dare_ties", BASE, FTS, seed=11, **kw)
    c = merge_tensors("dare_ties", BASE, FTS, seed=12, **kw)
    d = merge_tensors("dare_ties", BASE, FTS, seed=11, model_params=kw["model_params"], name="other.weight")
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, d)  # each tensor draws its own mask


# Hand-worked TIES example (base 10, weights 1). Task vectors:
T1 = [[1, -2, 3], [0, 4, -1], [2, 2, -3]]
T2 = [[2, 1, -1], [-3, 1.5, -1], [-1, 1, 3]]
T3 = [[-4, -1, -1], [1, -5, 2], [1, -4, 3]]
# density 1: sums [[-1,-2,1],[-1.5,0.5,0],[2,-1,3]] elect [[-,-,+],[-,+,+],[+,-,+]] (0 elects +);
# mean of the agreeing entries:
TIES_D1 = [[-4, -1.5, 3], [-3, 2.75, 2], [1.5, -4, 3]]
# density 0.34 -> k = int(0.34 * 9) = 3 per model: T1 keeps 4, 3, -3; T2 keeps -3, 3, 2; T3 keeps -5, -4, -4.
# trimmed sums: (0,0) 2-4=-2 -> -4; (1,1) 4-5=-1 -> -5; (2,2) -3+3=0 elects + -> 3; singles stay.
TIES_D034 = [[-4, 0, 3], [-3, -5, 0], [0, -4, 3]]


def _ties_inputs():
    base = torch.full((3, 3), 10.0)
    return base, [base + torch.tensor(t, dtype=torch.float32) for t in (T1, T2, T3)]


def test_ties_sign_election_hand_worked_3x3():
    base, fts = _ties_inputs()
    out = merge_tensors("ties", base, fts, [{"density": 1.0}] * 3)
    torch.testing.assert_close(out, base + torch.tensor(TIES_D1))
    out = merge_tensors("ties", base, fts, [{"density": 0.34}] * 3)
    torch.testing.assert_close(out, base + torch.tensor(TIES_D034))


def test_ties_count_consensus_differs_where_expected():
    base, fts = _ties_inputs()
    out = merge_tensors("ties", base, fts, [{"density": 1.0}] * 3, {"consensus": "count"})
    # (0,0): signs +,+,- -> count elects +, mean(1, 2) = 1.5 (sum consensus gave -4)
    assert float(out[0, 0] - 10) == pytest.approx(1.5)


def test_ties_tie_at_cutoff_takes_lowest_index():
    tau = torch.tensor([1.0, 2.0, 2.0, 2.0, 0.5])
    kept = parts.magnitude_prune_(tau.clone(), 0.4) != 0  # k = 2 of the three 2.0 entries
    assert kept.tolist() == [False, True, True, False, False] == oracles.magnitude_mask(tau, 0.4).tolist()


def test_svp_keeps_rank_and_leaves_vectors_whole():
    out = merge_tensors("svp", torch.zeros(40, 30), [rand(40, 30, seed=6)], [{"svp_ratio": 0.1}])
    assert int(torch.linalg.matrix_rank(out)) == 3
    vec = rand(30, seed=7)
    out = merge_tensors("svp", torch.zeros(30), [vec], [{"svp_ratio": 0.1}])
    torch.testing.assert_close(out, vec)  # 1-D tensors get no low-rank treatment


def _planted(seed=0, m=96, n=64, r=2, frac=0.02):
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(m, r, generator=g) @ torch.randn(r, n, generator=g)
    k = int(frac * m * n)
    sparse = torch.zeros(m * n)
    idx = torch.randperm(m * n, generator=g)[:k]
    sparse[idx] = 2 * torch.randn(k, generator=g).sign() * (1 + torch.rand(k, generator=g))
    return low, sparse.reshape(m, n), k


@pytest.mark.parametrize("svd", ["exact", "randomized"])
def test_lors_reconstructs_planted_low_rank_plus_sparse(svd):
    low, sparse, k = _planted()
    tau = low + sparse
    ratio = 2.5 / 64  # r = int(ratio * 64) = 2
    out = merge_tensors("lors", torch.zeros_like(tau), [tau], [{"svp_ratio": ratio, "mp_ratio": 0.02}],
                        {"svd": svd})
    err = float((out - tau).norm() / tau.norm())
    svp_only = float((parts.low_rank(tau, ratio, svd) - tau).norm() / tau.norm())
    mp_only = float((parts.magnitude_prune(tau, 0.02) - tau).norm() / tau.norm())
    assert err < 0.1
    assert err < 0.25 * min(svp_only, mp_only)
    sparse_part = out - parts.low_rank(tau, ratio, svd)
    assert bool(((sparse_part != 0) & (sparse != 0)).sum() == k)  # the planted support is found


def test_randomized_svd_matches_exact_on_low_rank():
    low, _, _ = _planted(seed=3)
    noisy = low + 1e-3 * rand(*low.shape, seed=9)
    a = parts.low_rank(noisy, 2.5 / 64, "exact")
    b = parts.low_rank(noisy, 2.5 / 64, "randomized")
    assert float((a - b).norm() / a.norm()) < 1e-4


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
@pytest.mark.parametrize("name,key", [("ties", "density"), ("dare_ties", "density"),
                                      ("lors", "svp_ratio"), ("lors", "mp_ratio")])
def test_fraction_outside_unit_interval_is_an_error(name, key, bad):
    with pytest.raises(CsExtError, match=key):
        merge_tensors(name, BASE, FTS[:1], [{key: bad}])


def test_unknown_method_lists_valid_ones():
    with pytest.raises(CsExtError, match="valid methods: .*dare_ties.*ties"):
        merge_tensors("tie", BASE, FTS)


def test_unknown_parameter_is_an_error():
    with pytest.raises(CsExtError, match="densty"):
        merge_tensors("ties", BASE, FTS[:1], [{"densty": 0.5}])


def test_interpolate_is_asyncswitch_step():
    out = merge_tensors("interpolate", BASE, FTS[:1], params={"ratio": 0.4})
    torch.testing.assert_close(out, 0.6 * BASE + 0.4 * FTS[0])
    with pytest.raises(CsExtError, match="at most 1"):
        merge_tensors("interpolate", BASE, FTS[:2])


def test_inputs_are_not_modified():
    base, fts = BASE.clone(), [f.clone() for f in FTS]
    for name in METHODS:
        n = METHODS[name].max_models or 3
        merge_tensors(name, base, fts[:n])
    assert torch.equal(base, BASE) and all(torch.equal(a, b) for a, b in zip(fts, FTS))


@pytest.mark.parametrize("consensus", [None, "sum", "count"])
@pytest.mark.parametrize("normalize", [False, True])
def test_fused_consensus_matches_reference_parts(consensus, normalize):
    d = torch.stack([rand(50, 40, seed=20 + i) for i in range(3)])
    d[:, :5] = 0.0  # zeros never agree, and a column of zero sums elects +
    d[0, 10:12] = 0.0
    weights = [1.0, 0.5, -0.25]
    wd = d * oracles.stack_weights(weights, d)
    mask = oracles.sign_consensus(wd, consensus) if consensus else None
    want = oracles.disjoint_sum(wd, oracles.stack_weights(weights, d), mask, normalize)
    got = parts.consensus_sum_(wd.clone(), weights, consensus, normalize).clone()
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_kth_largest_exact_on_large_and_skewed_inputs():
    g = torch.Generator().manual_seed(0)
    for a in (torch.rand(300_000, generator=g),
              torch.randn(300_000, generator=g).abs() ** 6,          # heavy tail
              torch.cat([torch.zeros(250_000), torch.rand(50_000, generator=g)])):  # mostly zeros
        for density in (0.001, 0.2, 0.5, 0.95):
            k = parts.retained_count(a.numel(), density)
            assert parts._kth_largest(a, k) == torch.topk(a, k).values[-1]


@pytest.mark.parametrize("density", [0.02, 0.3, 0.77])
def test_fused_magnitude_prune_matches_oracle(density):
    tau = rand(64, 48, seed=31)
    tau[:3] = 0.5  # exact ties at many cutoffs
    torch.testing.assert_close(parts.magnitude_prune_(tau.clone(), density), oracles.magnitude_prune(tau, density),
                               rtol=0, atol=0)


@pytest.mark.parametrize("rescale", [True, "l1", False])
def test_fused_bernoulli_drop_matches_oracle(rescale):
    tau = rand(64, 48, seed=32)
    got = parts.bernoulli_drop_(tau.clone(), 0.3, torch.Generator().manual_seed(5), rescale)
    want = oracles.bernoulli_drop(tau, 0.3, torch.Generator().manual_seed(5), rescale)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)
