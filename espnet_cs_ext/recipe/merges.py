"""Stage 6 plan: expand a merge list into one cs-merge config per merged system.

Recipe merge list (e.g. egs2/cs_unseen/asr1/conf/tuning/demo/merge.yaml):

    subsets: [pairwise, all]          # C(N,2) pairs of fine-tuned models, and all N
    methods:                          # applied to every subset
      ties: {parameters: {lambda: 1.0}, model_parameters: {weight: 1.0, density: 0.2}}
      task_arithmetic: {model_parameters: {weight: auto}}   # auto = 1/N
    extra:                            # single merges with their own subset
      - {name: lors_all, method: lors, subset: all,
         parameters: {lambda: 0.15}, model_parameters: {svp_ratio: 0.03, mp_ratio: 0.3}}

      - {name: lors_de-en+st_de-en, method: lors, systems: [ft_de-en, st_de-en]}
                                      # any stage-5 systems by name (here ASR + ST of one
                                      # language: the LoRS paper's multi-task merge); skipped
                                      # with a notice when this run does not train them

System names carry what produced them: `<method>_<pair>+<pair>[+...]`.
The base model is the pretrained spec resolved to a checkpoint file; fine-tuned
models are `<expdir>/asr_ft_<pair>/latest.pth`. Output: `<out>/<name>/merge.yaml`
for each merge and `<out>/systems.txt` with `<name> <config> <base> <model>...` lines.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import yaml

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError

SUBSETS = ("pairwise", "all")


def _subsets(kind: str, pairs: Sequence[str]) -> List[Tuple[str, ...]]:
    if kind == "pairwise":
        return list(itertools.combinations(pairs, 2))
    if kind == "all":
        return [tuple(pairs)] if len(pairs) > 2 else []
    raise CsExtError(f"merge list: unknown subset '{kind}' (expected one of {SUBSETS})")


def _entry(name, method, subset, spec, base, expdir, prefix: str = "ft_") -> Tuple[str, dict]:
    model_params = dict(spec.get("model_parameters") or {})
    if model_params.get("weight") == "auto":
        model_params["weight"] = 1.0 / len(subset)
    models = []
    for pair in subset:
        path = Path(expdir) / f"asr_{prefix}{pair}" / "latest.pth"
        models.append({"model": str(path), "parameters": dict(model_params)})
    config = {"merge_method": method, "base_model": base, "models": models,
              "parameters": dict(spec.get("parameters") or {}), "output_format": "whisper",
              "seed": int(spec.get("seed", 0))}
    if spec.get("filters"):
        config["filters"] = spec["filters"]
    return name, config


def plan_merges(config_path: str | os.PathLike, expdir: str, base: str,
                train_pairs: Sequence[str], out: str | os.PathLike,
                systems: Sequence[str] = ()) -> List[Tuple[str, Path]]:
    """`systems`: the stage-5 systems of this run, for `extra` entries that name `systems:`."""
    from ..whisper import resolve_checkpoint

    try:
        plan = yaml.safe_load(Path(config_path).read_text()) or {}
    except yaml.YAMLError as e:
        raise CsExtError(f"{config_path}: not valid YAML ({e})")
    base_path = str(resolve_checkpoint(base))
    merges: Dict[str, dict] = {}
    for kind in plan.get("subsets", []):
        for subset in _subsets(kind, train_pairs):
            for method, spec in (plan.get("methods") or {}).items():
                name, cfg = _entry(f"{method}_{'+'.join(subset)}", method, subset, spec or {},
                                   base_path, expdir)
                merges[name] = cfg
    for spec in plan.get("extra", []) or []:
        if "name" not in spec or "method" not in spec:
            raise CsExtError(f"{config_path}: every 'extra' entry needs 'name' and 'method'")
        if spec.get("systems"):
            wanted = list(spec["systems"])
            missing = [x for x in wanted if x not in systems]
            if missing:
                print(f"plan_merges: {spec['name']} skipped: needs {', '.join(missing)}, not trained in this run")
                continue
            name, cfg = _entry(spec["name"], spec["method"], tuple(wanted), spec, base_path, expdir, prefix="")
            merges[name] = cfg
            continue
        kind = spec.get("subset", "all")
        subset = tuple(train_pairs) if kind == "all" else tuple(kind.split("+"))
        unknown = [p for p in subset if p not in train_pairs]
        if unknown:
            raise CsExtError(f"{config_path}: merge '{spec['name']}' uses pairs {unknown} "
                             f"that are not trained (--train_pairs {' '.join(train_pairs)})")
        name, cfg = _entry(spec["name"], spec["method"], subset, spec, base_path, expdir)
        merges[name] = cfg
    out = Path(out)
    written = []
    for name, cfg in merges.items():
        path = out / name / "merge.yaml"
        text = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)
        if not path.exists() or path.read_text() != text:  # keep mtimes stable for stamps
            with atomic_open(path) as f:
                f.write(text)
        written.append((name, path))
    # The inputs follow the config on each line: stage 6 checks that they exist and
    # puts them in the merge's .done fingerprint, so a retrained model is re-merged.
    with atomic_open(out / "systems.txt") as f:
        for name, path in written:
            inputs = [merges[name]["base_model"]] + [m["model"] for m in merges[name]["models"]]
            f.write(" ".join([name, str(path), *inputs]) + "\n")
    return written
