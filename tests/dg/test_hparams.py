"""DG hyper-parameters: a default and a search range each (DomainBed style)."""
from __future__ import annotations

import pytest

from espnet_cs_ext.dg.base import Algorithm, HParam
from espnet_cs_ext.dg.registry import ALGORITHMS


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_hparam_has_a_default_and_draws_inside_its_range(name):
    algo = ALGORITHMS[name]
    assert all(isinstance(h, HParam) for h in algo.HPARAMS.values())
    defaults = algo.defaults()
    assert not any(isinstance(v, HParam) for v in defaults.values())
    for seed in range(20):
        draw = algo.random_hparams(seed)
        assert set(draw) == set(defaults)
        for key, (kind, *args) in algo.search_space().items():
            v = draw[key]
            if kind == "choice":
                assert v in args
            elif kind == "uniform":
                assert args[0] <= v <= args[1]
            else:
                assert 10 ** args[0] <= v <= 10 ** args[1]
    assert algo.random_hparams(3) == algo.random_hparams(3)


def test_searched_options_really_vary():
    draws = {ALGORITHMS["fish"].random_hparams(s)["meta_lr"] for s in range(30)}
    assert draws == {0.05, 0.1, 0.5}
    assert ALGORITHMS["fish"].defaults()["meta_lr"] == 0.5


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_schedule_warnings_name_a_penalty_that_never_switches_on(name):
    """An algorithm with `penalty_anneal_iters` warns when the run ends before it; others never warn."""
    algo = ALGORITHMS[name]
    if "penalty_anneal_iters" not in algo.HPARAMS:
        assert algo.schedule_warnings(algo.defaults(), 1) == []
        return
    hp = algo.resolve_hparams({"penalty_anneal_iters": 100})
    assert "never switches on" in algo.schedule_warnings(hp, 50)[0]
    assert algo.schedule_warnings(hp, 500) == [] and algo.schedule_warnings(hp, 0) == []


def test_trainer_keeps_no_class_level_state():
    pytest.importorskip("espnet2")
    from espnet_cs_ext.dg.trainer import DGTrainer

    assert not any(isinstance(v, dict) for k, v in vars(DGTrainer).items() if "state" in k.lower())


def test_unknown_search_kind_is_an_error():
    import random

    with pytest.raises(ValueError, match="unknown search kind"):
        HParam(1, ("gauss", 0, 1)).sample(random.Random(0))
    assert Algorithm.search_space() == {}
