"""Every DG algorithm on a tiny Whisper with synthetic domains: three updates and the
property the issue names for it. Plain torch (no espnet2 import)."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from espnet_cs_ext.dg import ALGORITHMS, DGConfigError, build_algorithm, get_algorithm, resolve_config
from espnet_cs_ext.dg.gga_l import noise_scale

from helpers import adamw, domains, loss_fn, tiny_model

torch.set_num_threads(1)

SMALL = {
    "erm": {},
    "fish": {"meta_lr": 0.5},
    "fishr": {"modules": ["decoder.ln"], "penalty_anneal_iters": 1, "lambda": 10.0},
    "gga": {"anneal_start": 0, "anneal_end": 2, "n_trials": 2, "rho": 1e-3},
    "gga_l": {"gamma": 1e-3},
    "mldg": {"inner_lr": 1e-2},
}  # options that make a 3-step run exercise the method; an algorithm not listed runs on its defaults


@pytest.fixture(scope="module")
def base_model():
    return tiny_model(seed=0)


def make(name, base_model, conf=None, seed=0):
    model = copy.deepcopy(base_model)
    conf = {"log_cos_every": 1, **SMALL.get(name, {}), **(conf or {})}
    return model, build_algorithm(name, model, adamw(model), loss_fn, conf, grad_clip=1.0, seed=seed)


def test_registry_has_every_issue_algorithm():
    import importlib

    assert {"erm", "fish", "fishr", "gga", "gga_l", "mldg"} <= set(ALGORITHMS)
    for name, cls in ALGORITHMS.items():
        module = importlib.import_module(cls.__module__)
        assert cls.NAME == name and module.__name__.endswith(f"dg.{name}")
        assert "arXiv" in module.__doc__, f"{name}: cite the paper in the module docstring"


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_three_updates_finite_and_change_params(name, base_model):
    model, algo = make(name, base_model)
    before = [p.detach().clone() for p in model.parameters()]
    mbs = domains(3)
    for step in range(3):
        stats = algo.update(mbs)
        assert all(isinstance(v, float) for v in stats.values()), stats
        assert math.isfinite(stats["loss"]), stats
        for d in mbs:
            assert math.isfinite(stats[f"loss_{d}"])
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert changed > 0
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert algo.step_count == 3
    assert "acc" in stats  # the model's own stats are passed through (ESPnet logs them)
    if name != "mldg":
        assert -1.0 <= stats["cos_mean"] <= 1.0 and "cos_de-en_ja-en" in stats


def test_fish_meta_lr_one_single_domain_is_a_plain_step(base_model):
    one = {"ko-en": domains(3)["ko-en"]}
    fish_model, fish = make("fish", base_model, {"meta_lr": 1.0})
    plain = copy.deepcopy(base_model)
    opt = adamw(plain)
    for _ in range(2):
        fish.update(one)
        opt.zero_grad()
        loss, _ = loss_fn(plain, one["ko-en"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(plain.parameters(), 1.0)
        opt.step()
    for (n, a), b in zip(fish_model.named_parameters(), plain.parameters()):
        assert torch.equal(a, b), n


def test_fish_meta_lr_half_moves_half_way(base_model):
    one = {"ko-en": domains(3)["ko-en"]}
    half_model, half = make("fish", base_model, {"meta_lr": 0.5})
    full_model, full = make("fish", base_model, {"meta_lr": 1.0})
    half.update(one)
    full.update(one)
    for a, b, t in zip(half_model.parameters(), full_model.parameters(), base_model.parameters()):
        torch.testing.assert_close(a, t + 0.5 * (b - t), rtol=0, atol=1e-6)


def test_fishr_penalty_zero_for_identical_domains(base_model):
    batch = domains(1)["de-en"]
    _, algo = make("fishr", base_model, {"penalty_anneal_iters": 0})
    for _ in range(3):
        stats = algo.update({"a-b": batch, "c-d": batch, "e-f": batch})
        # zero up to float rounding of the mean over domains
        assert stats["penalty"] < 1e-10, stats["penalty"]
    _, algo = make("fishr", base_model, {"penalty_anneal_iters": 0})
    assert algo.update(domains(3))["penalty"] > 1e-6


def test_fishr_per_sample_grads_match_autograd(base_model):
    """The analytic layer-norm per-sample gradients equal per-utterance autograd."""
    model, algo = make("fishr", base_model)
    mel, tokens = domains(1)["de-en"]
    ln = model.decoder.ln
    handle = ln.register_forward_hook(algo._hook("decoder.ln"))
    try:
        loss, _ = loss_fn(model, (mel, tokens))
        fast = algo._per_sample_grads(loss).detach()
    finally:
        handle.remove()
    for i in range(mel.shape[0]):
        li, _ = loss_fn(model, (mel[i:i + 1], tokens[i:i + 1]))
        gw, gb = torch.autograd.grad(li, [ln.weight, ln.bias])
        torch.testing.assert_close(fast[i], torch.cat([gw, gb]), rtol=1e-4, atol=1e-5)


def test_fishr_resets_optimizer_when_penalty_switches_on(base_model):
    _, algo = make("fishr", base_model, {"penalty_anneal_iters": 1})
    assert algo.update(domains(2))["penalty_weight"] == 0.0
    assert len(algo.optimizer.state) > 0
    stats = algo.update(domains(2))
    assert stats["penalty_weight"] == 10.0


def test_gga_l_noise_scale_zero_for_parallel_gradients(base_model):
    assert noise_scale({("a", "b"): 1.0, ("a", "c"): 1.0, ("b", "c"): 1.0}, 1e-3) == 0.0
    assert noise_scale({("a", "b"): 0.0}, 1e-3) == pytest.approx(1e-3)
    assert noise_scale({("a", "b"): -1.0}, 1e-3) == pytest.approx(2e-3)
    batch = domains(1)["de-en"]
    _, algo = make("gga_l", base_model)
    for _ in range(3):
        stats = algo.update({"a-b": batch, "c-d": batch})
        assert stats["noise_scale"] < 1e-12 and stats["cos_mean"] == pytest.approx(1.0)
    _, algo = make("gga_l", base_model)
    assert algo.update(domains(3))["noise_scale"] > 0


def test_gga_search_never_lowers_min_cosine(base_model):
    _, algo = make("gga", base_model, {"anneal_end": 3, "n_trials": 3, "rho": 1e-2, "loss_tol": 1.0})
    accepted = 0
    for seed in range(3):
        stats = algo.update(domains(3, seed=seed))
        s = algo.last_search
        assert s["trials"] == 3 and stats["gga_searching"] == 1.0
        assert s["min_cos_after"] >= s["min_cos_before"]
        assert stats["cos_min"] == pytest.approx(s["min_cos_after"])
        accepted += s["accepted"]
    assert accepted > 0  # the search did move somewhere
    assert algo.update(domains(3))["gga_searching"] == 0.0  # window over: ERM


def test_gga_rejects_perturbations_that_raise_the_loss(base_model):
    _, algo = make("gga", base_model, {"anneal_end": 1, "n_trials": 3, "rho": 1.0, "loss_tol": -0.5})
    algo.update(domains(3))
    assert algo.last_search["accepted"] is False


def test_unknown_algorithm_lists_valid_names():
    with pytest.raises(DGConfigError, match="valid: erm, fish, fishr, gga, gga_l, mldg"):
        get_algorithm("fishy")


def test_unknown_option_lists_valid_options():
    with pytest.raises(DGConfigError, match="meta_lr"):
        resolve_config("fish", {"meta_rl": 0.1})
