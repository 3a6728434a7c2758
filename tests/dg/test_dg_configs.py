"""The recipe's conf/tuning/dg/*.yaml name a registered algorithm with valid options."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from espnet_cs_ext.dg import ALGORITHMS, resolve_config

CONF = Path(__file__).parents[2] / "egs2/cs_unseen/asr1/conf/tuning/dg"


def test_one_config_per_algorithm():
    assert {p.stem.removeprefix("train_") for p in CONF.glob("train_*.yaml")} == set(ALGORITHMS)


@pytest.mark.parametrize("path", sorted(CONF.glob("train_*.yaml")), ids=lambda p: p.stem)
def test_config_is_valid(path):
    conf = yaml.safe_load(path.read_text())
    assert conf["dg_algorithm"] == path.stem.removeprefix("train_")
    resolve_config(conf["dg_algorithm"], conf.get("dg_conf"))
    assert conf["batch_size"] % 3 == 0, "batch must split evenly over the 3 seen pairs"
    if conf["dg_algorithm"] == "fishr":
        assert conf["dg_conf"]["penalty_anneal_iters"] < conf["max_epoch"] * conf["num_iters_per_epoch"]
