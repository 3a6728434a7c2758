"""The recipe's system table (espnet_cs_ext/recipe/systems.py): rows for the options, names for the report."""
from __future__ import annotations

import subprocess
import sys

import pytest

from espnet_cs_ext.recipe.systems import display_name, family, system_table

CONFIGS = dict(asr_config="a.yaml", asr_all_config="all.yaml", st_config="st.yaml",
               dg_config_dir="dg", asyncswitch_conf_dir="as")


@pytest.mark.parametrize("options, expected", [
    (dict(train_pairs=["ko-en"], train_all=False), [("ft_ko-en", "ft", "train_ko-en", "a.yaml", False)]),
    (dict(train_pairs=["ko-en", "ja-en"], dg_algorithms=["fish"], st_pairs=["de-en"], asyncswitch=True),
     [("ft_ko-en", "ft", "train_ko-en", "a.yaml", False), ("ft_ja-en", "ft", "train_ja-en", "a.yaml", False),
      ("ft_all", "ft_all", "train_all", "all.yaml", False), ("dg_fish", "dg", "train_all", "dg/base.yaml", False),
      ("st_de-en", "st", "train_st_de-en", "st.yaml", False),
      ("asyncswitch", "asyncswitch", "train_all", "as/stage_b.yaml", False)]),
    # the LoRS grid's st_de-en is the main ST system (not grid-only); the rest are grid-only
    (dict(train_pairs=[], train_all=False, st_pairs=["de-en"], lors_grid_langs=["de", "ja"]),
     [("st_de-en", "st", "train_st_de-en", "st.yaml", False), ("asr_de", "asr", "train_mono_de", "a.yaml", True),
      ("asr_ja", "asr", "train_mono_ja", "a.yaml", True), ("st_ja-en", "st", "train_st_ja-en", "st.yaml", True),
      ("mlasr", "asr", "train_mlasr", "a.yaml", True), ("mlst", "st", "train_mlst", "st.yaml", True),
      ("mt_de", "mt", "train_mt_de", "st.yaml", True), ("mt_ja", "mt", "train_mt_ja", "st.yaml", True),
      ("mlmt", "mt", "train_mlmt", "st.yaml", True)]),
])
def test_table_rows_follow_the_options(options, expected):
    rows = system_table(**options, **CONFIGS)
    assert [(r.name, r.kind, r.train, r.config, r.grid_only) for r in rows] == expected
    assert all(r.dev == "dev_" + r.train[len("train_"):] for r in rows)
    assert [r.dg_algorithm for r in rows if r.kind == "dg"] == options.get("dg_algorithms", [])


@pytest.mark.parametrize("name, label", [
    ("pretrained", "Pretrained"), ("ft_all", "FT all seen pairs (ERM)"), ("ft_ko-en", "FT ko-en"),
    ("st_de-en", "FT ST de-en"), ("dg_gga_l", "GGA-L"), ("asyncswitch", "AsyncSwitch (r=0.4)"),
    ("asyncswitch_r0.2", "AsyncSwitch (r=0.2)"), ("ties_ko-en+ja-en", "TIES ko-en + ja-en"),
    ("dare_ties_all", "DARE-TIES all"), ("ties_mavlayers_all", "TIES all, MAV-selected layers"), ("odd", "odd"),
])
def test_display_names(name, label):
    assert display_name(name) == label


def test_cli_prints_one_line_per_row_for_bash():
    proc = subprocess.run([sys.executable, "-m", "espnet_cs_ext.bin.recipe_tools", "systems", "--train_pairs", "ko-en",
                           "--train_all", "true", *[w for k, v in CONFIGS.items() for w in (f"--{k}", v)]],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines() == ["ft_ko-en ft train_ko-en dev_ko-en a.yaml 0 -",
                                        "ft_all ft_all train_all dev_all all.yaml 0 -"]


@pytest.mark.parametrize("name, fam", [
    ("pretrained", "Pretrained"), ("ft_all", "FT all seen pairs (ERM)"), ("ft_ko-en", "FT one pair"),
    ("st_de-en", "FT speech translation"), ("dg_fish", "Domain generalisation"), ("asyncswitch", "AsyncSwitch"),
    ("asyncswitch_r0.8", "AsyncSwitch"), ("dare_ties_all", "DARE-TIES"), ("ties_ko-en+ja-en", "TIES"), ("odd", "Other"),
])
def test_families_come_from_the_table_module(name, fam):
    from espnet_cs_ext.recipe import report

    assert family(name) == fam
    assert report.family is family  # one source: the report does not parse names itself
