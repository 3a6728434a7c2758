"""cs-merge end to end: configs, sidecar, filters, and every bad-input case of issue 4.

Each bad input must give exit status 2, a one-line error naming the culprit, and
leave no output, no sidecar and no temporary file behind.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import yaml
from merge_helpers import base_state, finetune, write_yaml

from espnet_cs_ext.bin.cs_merge import main
from espnet_cs_ext.merge import METHODS, load_state_dict, save_state_dict


def cfg(model_set, method="ties", models=("ft0", "ft1", "ft2"), base="base", params=None, **extra):
    d = {"merge_method": method, "base_model": str(model_set[base]),
         "models": [{"model": str(model_set[m]), "parameters": dict(params or {})} for m in models]}
    d.update(extra)
    return d


def run(tmp_path, data, *args, out="out.pt"):
    c = write_yaml(tmp_path / "merge.yaml", data)
    rc = main([str(c), str(tmp_path / out), "-q", *args])
    return rc, tmp_path / out


def assert_failed_cleanly(rc, out: Path, capsys, *needles):
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("cs-merge: error: "), err
    for n in needles:
        assert n in err, err
    assert not out.exists()
    assert not Path(str(out) + ".merge.yaml").exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_list_shows_every_method_with_paper(capsys):
    assert main(["--list"]) == 0
    text = capsys.readouterr().out
    for name, m in METHODS.items():
        assert name in text and m.paper in text


def test_ties_merge_writes_output_and_sidecar(tmp_path, model_set):
    rc, out = run(tmp_path, cfg(model_set, params={"weight": 1.0, "density": 0.5}, dtype="float32"))
    assert rc == 0
    side = yaml.safe_load(Path(str(out) + ".merge.yaml").read_text())
    assert side["merge_method"] == "ties" and side["parameters"]["normalize"] is True
    assert side["models"][0]["parameters"] == {"weight": 1.0, "density": 0.5}
    for entry in side["inputs"]:
        assert entry["sha256"] == hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest()
    merged, base = load_state_dict(out), load_state_dict(model_set["base"])
    assert merged.keys() == base.keys()
    assert torch.equal(merged["encoder.positional_embedding"], base["encoder.positional_embedding"])


def test_base_listed_among_models_is_dropped(tmp_path, model_set):
    rc, out = run(tmp_path, cfg(model_set, "task_arithmetic", models=("base", "ft0")))
    assert rc == 0
    assert torch.equal(load_state_dict(out)["decoder.ln.weight"], load_state_dict(model_set["ft0"])["decoder.ln.weight"])


def test_filters_decoder_layers(tmp_path, model_set):
    rc, out = run(tmp_path, cfg(model_set, "task_arithmetic", models=("ft0",),
                                filters={"include": ["decoder.*"], "layers": "1"}))
    assert rc == 0
    merged, base, ft = (load_state_dict(p) for p in (out, model_set["base"], model_set["ft0"]))
    for k in merged:
        want = ft if k.startswith("decoder.blocks.1.") else base
        assert torch.equal(merged[k], want[k]), k


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_runs_from_yaml(tmp_path, model_set, method):
    models = ("ft0",) if METHODS[method].max_models == 1 else ("ft0", "ft1")
    rc, out = run(tmp_path, cfg(model_set, method, models=models, seed=3))
    assert rc == 0 and out.exists()


# ----------------------------------------------------------------- bad input

def test_different_shapes_name_the_tensor(tmp_path, model_set, capsys):
    sd = load_state_dict(model_set["ft0"])
    sd["decoder.ln.weight"] = torch.ones(65)
    model_set = dict(model_set, bad=Path(save_state_dict(sd, tmp_path / "bad.pt", "whisper")))
    rc, out = run(tmp_path, cfg(model_set, models=("ft0", "bad")))
    assert_failed_cleanly(rc, out, capsys, "decoder.ln.weight", "bad.pt", "shape")


def test_missing_key_names_the_tensor(tmp_path, model_set, capsys):
    sd = load_state_dict(model_set["ft1"])
    del sd["decoder.blocks.1.mlp.0.bias"]
    model_set = dict(model_set, bad=Path(save_state_dict(sd, tmp_path / "bad.safetensors", "hf")))
    rc, out = run(tmp_path, cfg(model_set, models=("ft0", "bad")))
    assert_failed_cleanly(rc, out, capsys, "decoder.blocks.1.mlp.0.bias", "lacks")


def test_not_same_base_detected_and_overridable(tmp_path, model_set, capsys):
    rc, out = run(tmp_path, cfg(model_set, models=("ft0", "foreign")))
    assert_failed_cleanly(rc, out, capsys, "foreign.pt", "does not look fine-tuned from base",
                          "--allow-different-base")
    rc, out = run(tmp_path, cfg(model_set, models=("ft0", "foreign")), "--allow-different-base")
    assert rc == 0 and out.exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_inf_input(tmp_path, model_set, capsys, value):
    sd = finetune(base_state(0), 5)
    sd["encoder.blocks.0.attn.query.weight"][1, 2] = value
    model_set = dict(model_set, bad=Path(save_state_dict(sd, tmp_path / "bad.pth", "espnet")))
    rc, out = run(tmp_path, cfg(model_set, models=("ft0", "bad")))
    assert_failed_cleanly(rc, out, capsys, "encoder.blocks.0.attn.query.weight", "NaN/Inf", "bad.pth")


@pytest.mark.parametrize("density", [0, -0.5, 1.01])
def test_density_outside_unit_interval(tmp_path, model_set, capsys, density):
    rc, out = run(tmp_path, cfg(model_set, params={"density": density}))
    assert_failed_cleanly(rc, out, capsys, "density must be in (0, 1]")


def test_unknown_method_lists_valid(tmp_path, model_set, capsys):
    rc, out = run(tmp_path, cfg(model_set, "tiez"))
    assert_failed_cleanly(rc, out, capsys, "unknown merge method 'tiez'", "task_arithmetic", "lors")


def test_pickled_code_in_input(tmp_path, model_set, capsys):
    class Payload:
        def __reduce__(self):
            return (print, ("owned",))

    bad = tmp_path / "bad.pt"
    torch.save({"model_state_dict": load_state_dict(model_set["ft0"]), "dims": Payload()}, bad)
    rc, out = run(tmp_path, cfg(dict(model_set, bad=bad), models=("ft0", "bad")))
    assert_failed_cleanly(rc, out, capsys, "bad.pt", "refusing to load")
    assert "owned" not in capsys.readouterr().out


def test_missing_input_file(tmp_path, model_set, capsys):
    rc, out = run(tmp_path, cfg(dict(model_set, gone=tmp_path / "gone.pt"), models=("ft0", "gone")))
    assert_failed_cleanly(rc, out, capsys, "gone.pt")


def test_existing_output_survives_a_failed_merge(tmp_path, model_set, capsys):
    out = tmp_path / "out.pt"
    out.write_bytes(b"previous")
    rc, _ = run(tmp_path, cfg(model_set, params={"density": 2}))
    assert rc == 2 and out.read_bytes() == b"previous"


def test_example_configs_parse():
    from espnet_cs_ext.merge import load_config

    paths = sorted((Path(__file__).resolve().parents[2] / "conf" / "merge").glob("*.yaml"))
    assert paths, "conf/merge/*.yaml examples are missing"
    for path in paths:
        assert load_config(path).merge_method in METHODS, path


def test_checksum_cache_follows_file_changes(tmp_path):
    import os

    from espnet_cs_ext.merge.engine import cached_sha256

    f = tmp_path / "blob.bin"
    f.write_bytes(b"one")
    assert cached_sha256(str(f)) == hashlib.sha256(b"one").hexdigest()
    assert cached_sha256(str(f)) == hashlib.sha256(b"one").hexdigest()  # from the cache
    f.write_bytes(b"two!")
    os.utime(f, ns=(1, 1))  # a different size and mtime both invalidate the entry
    assert cached_sha256(str(f)) == hashlib.sha256(b"two!").hexdigest()
    assert Path(os.environ["XDG_CACHE_HOME"], "espnet_cs_ext", "sha256.json").exists()
