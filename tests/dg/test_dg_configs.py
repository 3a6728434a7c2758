"""The recipe's DG configs: conf/tuning/dg/base.yaml plus one override file per algorithm,
resolved (recipe/dg_config.py) into a config naming a registered algorithm with valid options."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from espnet_cs_ext.dg import ALGORITHMS, resolve_config
from espnet_cs_ext.recipe.dg_config import resolve, write_resolved
from espnet_cs_ext.utils.errors import CsExtError

CONF = Path(__file__).parents[2] / "egs2/cs_unseen/asr1/conf/tuning/dg"
OVERRIDES = sorted(p for p in CONF.glob("*.yaml") if p.stem != "base")


def test_every_override_names_a_registered_algorithm():
    assert {p.stem for p in OVERRIDES} <= set(ALGORITHMS)
    assert {"erm", "fish", "fishr", "gga", "gga_l", "mldg"} <= {p.stem for p in OVERRIDES}


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_resolved_config_is_valid(algorithm):
    over = CONF / f"{algorithm}.yaml"
    conf = resolve(CONF / "base.yaml", algorithm, over if over.is_file() else None)
    assert conf["dg_algorithm"] == algorithm
    resolve_config(algorithm, conf.get("dg_conf"))
    assert conf["batch_size"] % 3 == 0, "batch must split evenly over the 3 seen pairs"
    steps = conf["max_epoch"] * conf["num_iters_per_epoch"]
    if "penalty_anneal_iters" in (conf.get("dg_conf") or {}):
        assert conf["dg_conf"]["penalty_anneal_iters"] < steps


def test_override_merges_into_base_key_by_key(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("optim_conf:\n    lr: 1.0\n    weight_decay: 0.5\nbatch_size: 6\n")
    (tmp_path / "toy.yaml").write_text("optim_conf:\n    lr: 2.0\ndg_conf:\n    x: 3\n")
    out = tmp_path / "exp" / "dg_config.yaml"
    conf = write_resolved(base, "toy", tmp_path, out)
    assert conf == {"optim_conf": {"lr": 2.0, "weight_decay": 0.5}, "batch_size": 6,
                    "dg_algorithm": "toy", "dg_conf": {"x": 3}}
    assert yaml.safe_load(out.read_text()) == conf
    first = out.read_bytes()
    write_resolved(base, "toy", tmp_path, out)
    assert out.read_bytes() == first  # same inputs, same bytes
    # no override file: the algorithm alone (HPARAMS defaults)
    assert write_resolved(base, "other", tmp_path, out)["dg_algorithm"] == "other"
    assert "dg_conf" not in yaml.safe_load(out.read_text())


def test_base_with_dg_keys_or_mismatched_override_is_refused(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("dg_algorithm: fish\n")
    with pytest.raises(CsExtError, match="must not set dg_algorithm"):
        resolve(base, "fish")
    base.write_text("batch_size: 6\n")
    (tmp_path / "fish.yaml").write_text("dg_algorithm: fishr\n")
    with pytest.raises(CsExtError, match="fish.yaml: sets dg_algorithm 'fishr'"):
        resolve(base, "fish", tmp_path / "fish.yaml")
