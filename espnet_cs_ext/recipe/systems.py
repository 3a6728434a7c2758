"""The recipe's system table: every stage-5 training system, in training order.

One row per system: its name (exp/asr_<name>/), its kind (which trainer and config
family), the data dirs it trains and validates on (names inside the data dir), its
training config, whether it belongs to the LoRS grid only, and its display name in
RESULTS.md. cs_unseen.sh reads the table through `recipe_tools systems` (one line per
system); recipe/report.py names rows with `display_name`, so a system's name is parsed
in this file only.

Kinds: ft (one seen pair), ft_all (pooled ERM), dg (a DG algorithm on the pooled data,
trained by asr_train_dg), st (X->en speech translation), asyncswitch (the three-stage
driver), and the LoRS grid's asr / st / mt (pooled ASR+ST) systems.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

DG_NAMES = {"erm": "ERM (balanced batches)", "fish": "Fish", "fishr": "Fishr", "gga": "GGA",
            "gga_l": "GGA-L", "mldg": "MLDG"}
METHOD_NAMES = {"task_arithmetic": "Task Arithmetic", "ties": "TIES", "dare_ties": "DARE-TIES",
                "dare_linear": "DARE", "lors": "LoRS", "linear": "Weight averaging",
                "magnitude_prune": "MP", "svp": "SVP"}


@dataclasses.dataclass(frozen=True)
class System:
    name: str
    kind: str
    train: str      # data dir name, e.g. train_ko-en
    dev: str
    config: str     # training config (asyncswitch: its stage-B config, for the shape statistics)
    grid_only: bool = False  # a LoRS-grid system: decoded on the grid's sets, reported in RESULTS_lors.md
    dg_algorithm: str = "-"  # kind dg: the algorithm; `config` is then the DG base config (recipe/dg_config.py)

    def line(self) -> str:
        return f"{self.name} {self.kind} {self.train} {self.dev} {self.config} {int(self.grid_only)} {self.dg_algorithm}"


def system_table(train_pairs: Sequence[str], *, train_all: bool = True, dg_algorithms: Sequence[str] = (),
                 st_pairs: Sequence[str] = (), asyncswitch: bool = False, lors_grid_langs: Sequence[str] = (),
                 asr_config: str, asr_all_config: str, st_config: str, dg_config_dir: str,
                 asyncswitch_conf_dir: str) -> List[System]:
    """The systems the options ask for: per-pair fine-tunes, ERM, DG, ST, AsyncSwitch,
    then the LoRS grid's systems not already among them."""
    rows = [System(f"ft_{p}", "ft", f"train_{p}", f"dev_{p}", asr_config) for p in train_pairs]
    if train_all:
        rows.append(System("ft_all", "ft_all", "train_all", "dev_all", asr_all_config))
    rows += [System(f"dg_{a}", "dg", "train_all", "dev_all", f"{dg_config_dir}/base.yaml", dg_algorithm=a)
             for a in dg_algorithms]
    rows += [System(f"st_{p}", "st", f"train_st_{p}", f"dev_st_{p}", st_config) for p in st_pairs]
    if asyncswitch:
        rows.append(System("asyncswitch", "asyncswitch", "train_all", "dev_all",
                           f"{asyncswitch_conf_dir}/stage_b.yaml"))
    if lors_grid_langs:
        from .lors_grid import systems as grid_systems

        have = {r.name for r in rows}
        for g in grid_systems(lors_grid_langs):
            if g.name not in have:
                rows.append(System(g.name, g.kind, g.train_dir, g.dev_dir,
                                   asr_config if g.kind == "asr" else st_config, grid_only=True))
    return rows


# The plot legend group of each kind (recipe/report.py); merges group by method.
FAMILIES = {"pretrained": "Pretrained", "ft_all": "FT all seen pairs (ERM)", "ft": "FT one pair",
            "st": "FT speech translation", "dg": "Domain generalisation", "asyncswitch": "AsyncSwitch"}


def kind_of(system: str) -> str:
    """The kind of a system or merge name (the table's kinds plus pretrained, merge, other):
    the one place a name is read back into what it is."""
    if system in ("pretrained", "ft_all", "asyncswitch"):
        return system
    for prefix, kind in (("ft_", "ft"), ("st_", "st"), ("dg_", "dg"), ("asyncswitch_r", "asyncswitch")):
        if system.startswith(prefix):
            return kind
    return "merge" if merge_method(system) else "other"


def family(system: str) -> str:
    """The plot legend group of a system: pretrained, fine-tunes, DG, AsyncSwitch, one per merge method."""
    kind = kind_of(system)
    if kind == "merge":
        return METHOD_NAMES[merge_method(system)]
    return FAMILIES.get(kind, "Other")


def display_name(system: str) -> str:
    """The RESULTS.md row label of a system or merge name."""
    kind = kind_of(system)
    if kind in ("pretrained", "ft_all"):
        return FAMILIES[kind]
    if kind == "ft":
        return f"FT {system[3:]}"
    if kind == "st":
        return f"FT ST {system[3:]}"
    if kind == "asyncswitch":
        return f"AsyncSwitch (r={system[len('asyncswitch_r'):] or '0.4'})"
    if kind == "dg":
        return DG_NAMES.get(system[3:], system[3:])
    if kind == "merge":
        method = merge_method(system)
        rest = system[len(method) + 1:]
        if rest.startswith("mavlayers_"):  # layer-selective merge (MAV-flagged blocks only)
            rest = f"{rest[len('mavlayers_'):]}, MAV-selected layers"
        return f"{METHOD_NAMES[method]} {rest.replace('+', ' + ')}"
    return system


def merge_method(name: str) -> Optional[str]:
    """The merge method a merge's name starts with (longest match), or None."""
    for key in sorted(METHOD_NAMES, key=len, reverse=True):
        if name.startswith(key + "_"):
            return key
    return None
