"""Layer-selective merging from the MAV analysis (merge filter `layers_from_mav` / `mav`)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import yaml
from mav_helpers import base_state, save

from espnet_cs_ext.bin.cs_mav import main as cs_mav
from espnet_cs_ext.bin.cs_merge import main as cs_merge
from espnet_cs_ext.merge import load_config, load_state_dict
from espnet_cs_ext.merge.config import config_from_dict
from espnet_cs_ext.utils.errors import CsExtError

# fine-tuning "moved" encoder block 1 and decoder block 0 (MAV ~8e-4), the rest barely (~8e-7)
MOVED = ("encoder.blocks.1.", "decoder.blocks.0.")


def fake_finetune(base, seed):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in base.items():
        if not v.is_floating_point() or k == "encoder.positional_embedding":
            out[k] = v.clone()
            continue
        scale = 1e-3 if k.startswith(MOVED) else 1e-6
        out[k] = v + scale * torch.randn(v.shape, generator=g)
    return out


@pytest.fixture(autouse=True)
def _private_checksum_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("mav_merge")
    base = base_state(0)
    paths = {"base": save(base, d / "base.pt")}
    for i in range(3):
        paths[f"ft{i}"] = save(fake_finetune(base, 10 + i), d / f"ft{i}.pt")
    paths["mav"] = d / "mav"
    assert cs_mav(["--base", str(paths["base"]), "--finetuned", *[f"ft{i}={paths[f'ft{i}']}" for i in range(3)],
                   "--out", str(paths["mav"]), "--top-k", "1", "--no-figures", "-q"]) == 0
    return paths


def merge(tmp_path, models, filters, name="out.pt", method="ties"):
    cfg = {"merge_method": method, "base_model": str(models["base"]),
           "models": [{"model": str(models[f"ft{i}"]), "parameters": {"weight": 1.0, "density": 0.5}}
                      for i in range(3)]}
    if filters is not None:
        cfg["filters"] = filters
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / name
    rc = cs_merge([str(path), str(out), "-q"])
    return rc, out


def flagged(name):
    return re.match(r"(encoder\.blocks\.1|decoder\.blocks\.0)\.", name) is not None


def test_analysis_flags_the_moved_blocks(models):
    doc = json.loads((models["mav"] / "flagged_layers.json").read_text())
    assert doc["layers"] == {"encoder": [1], "decoder": [0]}


def test_only_flagged_blocks_are_merged(tmp_path, models):
    rc, out = merge(tmp_path, models, {"layers_from_mav": str(models["mav"] / "flagged_layers.json")})
    assert rc == 0
    rc, full = merge(tmp_path, models, None, name="full.pt")
    assert rc == 0
    merged, base, unfiltered = load_state_dict(out), load_state_dict(models["base"]), load_state_dict(full)
    assert merged.keys() == base.keys()
    n_flagged = 0
    for name, t in merged.items():
        if flagged(name):
            n_flagged += 1
            assert torch.equal(t, unfiltered[name]), name  # merged exactly as without the filter
            if t.dim() == 2:
                assert not torch.equal(t, base[name]), name
        else:
            assert torch.equal(t, base[name]), name  # bit-identical copy of the base
    assert n_flagged == 15 + 24  # encoder block: 4 attn + 2 mlp weights, 7 biases, 2 norms x 2; decoder: + cross
    side = yaml.safe_load(Path(str(out) + ".merge.yaml").read_text())
    assert side["filters"]["mav"]["layers"] == {"encoder": [1], "decoder": [0]}
    assert side["output"]["tensors_merged"] == n_flagged


def test_computed_at_merge_time_equals_file(tmp_path, models):
    rc, a = merge(tmp_path, models, {"layers_from_mav": str(models["mav"] / "flagged_layers.json")}, "a.pt")
    rc2, b = merge(tmp_path, models, {"mav": {"top_k": 1}}, "b.pt")
    assert rc == rc2 == 0
    sa, sb = load_state_dict(a), load_state_dict(b)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    side = yaml.safe_load(Path(str(b) + ".merge.yaml").read_text())
    assert side["filters"]["mav"] == {"file": None, "top_k": 1, "min_pct": None, "threshold": None,
                                      "layers": {"encoder": [1], "decoder": [0]}}


@pytest.mark.parametrize("filters,expected", [
    ({"mav": {"top_k": 2}}, {"encoder": [0, 1], "decoder": [0, 1]}),
    ({"mav": {"top_k": 0, "min_pct": 50}}, {"encoder": [1], "decoder": [0]}),
    ({"mav": {"top_k": 0, "min_pct": 50}, "include": ["decoder.*"]}, None),
])
def test_reselection_from_file_scores(tmp_path, models, filters, expected):
    filters = dict(filters)
    filters["mav"] = {**filters["mav"], "file": str(models["mav"] / "flagged_layers.json")}
    rc, out = merge(tmp_path, models, filters)
    assert rc == 0
    side = yaml.safe_load(Path(str(out) + ".merge.yaml").read_text())
    if expected is not None:
        assert side["filters"]["mav"]["layers"] == expected
    else:  # include narrows further: only the decoder block is merged
        merged, base = load_state_dict(out), load_state_dict(models["base"])
        assert side["output"]["tensors_merged"] == 24
        assert torch.equal(merged["encoder.blocks.1.attn.query.weight"], base["encoder.blocks.1.attn.query.weight"])


def test_file_of_another_model_size_is_refused(tmp_path, models, capsys):
    doc = json.loads((models["mav"] / "flagged_layers.json").read_text())
    doc["n_layers"] = {"encoder": 24, "decoder": 24}
    doc["score"] = {"encoder": [0.0] * 24, "decoder": [0.0] * 24}
    bad = tmp_path / "medium_flagged.json"
    bad.write_text(json.dumps(doc))
    rc, out = merge(tmp_path, models, {"layers_from_mav": str(bad)})
    err = capsys.readouterr().err
    assert rc == 2 and "medium_flagged.json" in err and "24" in err and not out.exists()


def test_missing_file_names_it_and_the_tool(tmp_path, models, capsys):
    rc, out = merge(tmp_path, models, {"layers_from_mav": str(tmp_path / "nope.json")})
    err = capsys.readouterr().err
    assert rc == 2 and "nope.json" in err and "cs-mav" in err and not out.exists()


@pytest.mark.parametrize("filters,needle", [
    ({"layers": "1", "mav": {"top_k": 1}}, "layers and layers_from_mav/mav both choose blocks"),
    ({"layers_from_mav": "a.json", "mav": {"top_k": 1}}, "not both"),
    ({"mav": {"file": "a.json", "threshold": 1e-4}}, "threshold applies when the MAV is computed"),
    ({"mav": {"top_k": -1}}, "top_k must be a non-negative integer"),
    ({"mav": {"min_pct": 101}}, "min_pct must be a percentage"),
    ({"mav": {"topk": 1}}, "filters.mav takes file, top_k, min_pct, threshold"),
    ({"layers_from_mav": 3}, "path of a cs-mav flagged_layers.json"),
    ({"mav_layers": "x"}, "filters takes include, exclude, layers, layers_from_mav, mav"),
])
def test_bad_filter_config(filters, needle):
    d = {"merge_method": "ties", "base_model": "b.pt", "models": ["m.pt"], "filters": filters}
    with pytest.raises(CsExtError, match=re.escape(needle)):
        config_from_dict(d)


def test_example_config_parses():
    yaml = Path(__file__).resolve().parents[2] / "conf" / "merge" / "ties_mav_layers.yaml"
    cfg = load_config(yaml)
    # a relative path in a merge YAML is the YAML's folder's (merge/config.py), when it exists nowhere else
    assert cfg.filters.mav.file == str(yaml.parent / "exp/mav/flagged_layers.json") and cfg.merge_method == "ties"


def test_recipe_merge_list_passes_the_filter(tmp_path, models):
    from espnet_cs_ext.recipe.merges import plan_merges

    plan = tmp_path / "merge.yaml"
    plan.write_text(yaml.safe_dump({"subsets": [], "extra": [{
        "name": "ties_mavlayers_all", "method": "ties", "subset": "all",
        "parameters": {"lambda": 1.0}, "model_parameters": {"weight": 1.0, "density": 0.2},
        "filters": {"mav": {"top_k": 3}}}]}))
    written = plan_merges(plan, str(tmp_path / "exp"), str(models["base"]), ["ko-en", "ja-en", "de-en"],
                          tmp_path / "exp" / "merge")
    assert [n for n, _ in written] == ["ties_mavlayers_all"]
    cfg = load_config(written[0][1])
    assert cfg.filters.mav.top_k == 3 and cfg.filters.mav.file is None and len(cfg.models) == 3
