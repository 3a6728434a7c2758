"""lors_grid.merge_list: the paper's merges, valid for the registry and for plan_merges."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from espnet_cs_ext.bin.lors_grid import main
from espnet_cs_ext.merge.methods import METHODS
from espnet_cs_ext.recipe import lors_grid as g
from espnet_cs_ext.recipe.merges import plan_merges
from espnet_cs_ext.utils.errors import CsExtError

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "egs2/cs_unseen/asr1/conf/tuning/lors_grid/methods.yaml"
DEMO = ROOT / "egs2/cs_unseen/asr1/conf/tuning/demo/merge.yaml"
FIVE = ["linear", "task_arithmetic", "magnitude_prune", "svp", "lors"]


def _table(name: str) -> str:
    return name.split("_", 1)[0]


@pytest.mark.parametrize("langs, counts", [
    (["de", "ja"], {"lg1": 5, "lg2": 5, "lg3": 10, "lg4merge": 2, "lg4mttrain": 2, "lg4mltrain": 2}),
    (["de", "ja", "ko"], {"lg1": 5, "lg2": 5, "lg3": 15, "lg4merge": 2, "lg4mttrain": 2, "lg4mltrain": 2}),
])
def test_counts_per_table(langs, counts):
    plan = g.merge_list(langs, g.load_methods(CONF))
    assert set(plan) == {"extra"}
    assert Counter(_table(e["name"]) for e in plan["extra"]) == counts


def test_entries_refer_to_grid_systems_and_registry_methods():
    langs = ["de", "ja", "ko"]
    known = {s.name for s in g.systems(langs)}
    extra = g.merge_list(langs, g.load_methods(CONF))["extra"]
    names = [e["name"] for e in extra]
    assert len(names) == len(set(names))
    for e in extra:
        assert e["method"] in METHODS, e
        assert set(e["systems"]) <= known, e
        assert len(e["systems"]) >= 2
        assert set(e) <= {"name", "method", "systems", "parameters", "model_parameters", "seed", "filters"}


def test_merge_groups_exact():
    by_name = {e["name"]: e for e in g.merge_list(["de", "ja"], g.load_methods(CONF))["extra"]}
    rows = [  # (name, method, systems, parameters, model_parameters)
        ("lg1_linear", "linear", ["asr_de", "asr_ja"], None, None),
        ("lg2_task_arithmetic", "task_arithmetic", ["st_de-en", "st_ja-en"], {"lambda": 0.15}, None),
        ("lg3_magnitude_prune_ja", "magnitude_prune", ["asr_ja", "st_ja-en"], {"lambda": 0.15}, {"density": 0.4}),
        ("lg3_svp_de", "svp", ["asr_de", "st_de-en"], {"lambda": 0.15}, {"svp_ratio": 0.03}),
        ("lg4merge_lors", "lors", ["asr_de", "asr_ja", "st_de-en", "st_ja-en"], {"lambda": 0.15},
         {"svp_ratio": 0.03, "mp_ratio": 0.4}),
        ("lg4mttrain_task_arithmetic", "task_arithmetic", ["mt_de", "mt_ja"], {"lambda": 0.15}, None),
        ("lg4mltrain_lors", "lors", ["mlasr", "mlst"], {"lambda": 0.15}, {"svp_ratio": 0.03, "mp_ratio": 0.4}),
    ]
    for name, method, systems, params, mparams in rows:
        e = by_name[name]
        assert (e["method"], e["systems"], e.get("parameters"), e.get("model_parameters")) == \
            (method, systems, params, mparams), name
    assert "lg4merge_svp" not in by_name  # Table 4 has TA and LoRS only


def test_conf_file_is_the_builtin_default():
    assert g.load_methods(CONF) == g.load_methods(None)
    assert list(g.load_methods(CONF)["methods"]) == FIVE


def test_fewer_methods_fewer_merges(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("methods:\n  lors: {parameters: {lambda: 1.0}, model_parameters: {weight: auto}}\n"
                 "table4: [lors]\n")
    names = [e["name"] for e in g.merge_list(["de", "ja"], g.load_methods(p))["extra"]]
    assert names == ["lg1_lors", "lg2_lors", "lg3_lors_de", "lg3_lors_ja",
                     "lg4merge_lors", "lg4mttrain_lors", "lg4mltrain_lors"]


@pytest.mark.parametrize("text, needle", [
    ("methods:\n  mystery: {}\n", "unknown merge method 'mystery'"),
    ("methods:\n  lors: {model_parameters: {mp_ratio: 1.5}}\n", "mp_ratio must be in (0, 1]"),
    ("methods:\n  svp: {parameters: {lamda: 0.1}}\n", "unknown parameter(s) ['lamda']"),
    ("methods:\n  linear: {}\ntable4: [lors]\n", "table4 names ['lors']"),
    ("methods:\n  linear: {weights: 1}\n", "unknown key(s) ['weights']"),
    ("method:\n  linear: {}\n", "non-empty 'methods:'"),
    ("methods: [linear\n", "not valid YAML"),
])
def test_bad_methods_file(tmp_path, text, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(CsExtError) as e:
        g.load_methods(p)
    assert needle in str(e.value) and str(p) in str(e.value)


def test_cli_include_keeps_main_list(tmp_path, capsys):
    out = tmp_path / "lg" / "merge.yaml"
    assert main(["merges", "--langs", "de ja", "--methods", str(CONF), "--include", str(DEMO),
                 "--out", str(out)]) == 0
    plan = yaml.safe_load(out.read_text())
    demo = yaml.safe_load(DEMO.read_text())
    assert plan["subsets"] == demo["subsets"] and plan["methods"] == demo["methods"]
    assert plan["extra"][:len(demo["extra"])] == demo["extra"]
    assert len(plan["extra"]) == len(demo["extra"]) + 26
    assert "26 grid merges" in capsys.readouterr().err


def test_include_name_clash(tmp_path):
    inc = {"extra": [{"name": "lg1_lors", "method": "lors", "subset": "all"}]}
    with pytest.raises(CsExtError, match=r"already has merges named \['lg1_lors'\]"):
        g.merge_list(["de", "ja"], g.load_methods(None), inc)


def test_plan_merges_accepts_the_list(tmp_path, tiny_whisper):
    """End to end: the recipe's stage-6 planner expands every grid merge."""
    langs = ["de", "ja"]
    cfg = tmp_path / "merge.yaml"
    g.write_merge_list(langs, CONF, cfg, DEMO)
    systems = [s.name for s in g.systems(langs)]
    exp = tmp_path / "exp"
    written = plan_merges(cfg, str(exp), str(tiny_whisper), ["ko-en", "ja-en", "de-en"], tmp_path / "merge",
                          systems=systems)
    names = [n for n, _ in written]
    grid = [name for name, _, _ in g.merge_groups(langs, g.load_methods(CONF))]
    assert [n for n in names if n.startswith("lg")] == grid
    # demo merges over ft_<pair> are planned too; its ft_de-en+st_de-en ones are skipped (no ft_de-en here)
    assert "ties_ko-en+ja-en" in names and "lors_de-en+st_de-en" not in names
    lines = (tmp_path / "merge" / "systems.txt").read_text().splitlines()
    assert len(lines) == len(names)
    for line in lines:  # name, config, then the inputs stage 6 checks and fingerprints
        name, cfg_path, *inputs = line.split()
        cfg = yaml.safe_load(Path(cfg_path).read_text())
        assert cfg_path == str(tmp_path / "merge" / name / "merge.yaml")
        assert inputs == [str(tiny_whisper)] + [m["model"] for m in cfg["models"]]
    lors = yaml.safe_load((tmp_path / "merge" / "lg4mltrain_lors" / "merge.yaml").read_text())
    assert lors["merge_method"] == "lors" and lors["base_model"] == str(tiny_whisper)
    assert [m["model"] for m in lors["models"]] == [str(exp / "asr_mlasr" / "latest.pth"),
                                                   str(exp / "asr_mlst" / "latest.pth")]
    assert lors["parameters"] == {"lambda": 0.15}
    assert lors["models"][0]["parameters"] == {"svp_ratio": 0.03, "mp_ratio": 0.4}
    wa = yaml.safe_load((tmp_path / "merge" / "lg3_linear_ja" / "merge.yaml").read_text())
    assert [m["model"] for m in wa["models"]] == [str(exp / "asr_asr_ja" / "latest.pth"),
                                                 str(exp / "asr_st_ja-en" / "latest.pth")]


def test_planned_grid_merge_runs_through_cs_merge(tmp_path, tiny_whisper):
    """Planned Table-4 merges are configs cs-merge runs; TA gives base + 0.15 * sum(tau_i)."""
    import torch

    from espnet_cs_ext.bin.cs_merge import main as cs_merge

    langs = ["de", "ja"]
    cfg = tmp_path / "merge.yaml"
    g.write_merge_list(langs, CONF, cfg)
    exp = tmp_path / "exp"
    base = torch.load(tiny_whisper, weights_only=True)
    for i, name in enumerate(["mlasr", "mlst"]):  # "fine-tuned" = base + a seeded task vector
        gen = torch.Generator().manual_seed(i)
        sd = {k: v + 0.01 * torch.randn(v.shape, generator=gen) if v.is_floating_point() and "positional_embedding" not in k else v
              for k, v in base["model_state_dict"].items()}
        (exp / f"asr_{name}").mkdir(parents=True)
        torch.save({"dims": base["dims"], "model_state_dict": sd}, exp / f"asr_{name}" / "latest.pth")
    plan_merges(cfg, str(exp), str(tiny_whisper), [], tmp_path / "merge",
                systems=[s.name for s in g.systems(langs)])
    out = tmp_path / "merged.pt"
    assert cs_merge([str(tmp_path / "merge" / "lg4mltrain_task_arithmetic" / "merge.yaml"), str(out), "-q"]) == 0
    merged = torch.load(out, weights_only=True)["model_state_dict"]
    models = [torch.load(exp / f"asr_{n}" / "latest.pth", weights_only=True)["model_state_dict"]
              for n in ("mlasr", "mlst")]
    key = "decoder.ln.weight"
    b = base["model_state_dict"][key]
    expected = b + 0.15 * ((models[0][key] - b) + (models[1][key] - b))
    torch.testing.assert_close(merged[key], expected)
    assert cs_merge([str(tmp_path / "merge" / "lg4mltrain_lors" / "merge.yaml"), str(tmp_path / "lors.pt"), "-q"]) == 0
