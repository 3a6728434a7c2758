"""Merge configuration: a MergeKit-compatible YAML subset plus our own keys.

    merge_method: ties                 # registry key (cs-merge --list)
    base_model: exp/whisper_medium.pt  # required except for `linear`
    models:
      - model: exp/ft_koen/valid.acc.best.pth
        parameters: {weight: 1.0, density: 0.2}   # per model (lors: svp_ratio, mp_ratio)
      - model: exp/ft_jaen/model.safetensors
        parameters: {weight: 1.0, density: 0.2}
    parameters: {lambda: 1.0, normalize: true}    # global (method dependent)
    dtype: float32                     # output dtype of float tensors (default: the base's);
                                       # MergeKit's out_dtype wins if given. Math is always fp32.
    # our keys (MergeKit has none of these):
    seed: 0                            # dare_* and randomized SVD
    filters:                           # which tensors are merged; the rest are copied from base
      include: ["decoder.*"]           # fnmatch globs on canonical (openai-whisper) names
      exclude: ["*.positional_embedding"]
      layers: "12-23"                  # block indices; non-block tensors are then not merged
      layers_from_mav: exp/mav/flagged_layers.json   # only the blocks cs-mav flagged (per part)
      mav: {file: FILE, top_k: 3, min_pct: 20}       # the same with a new selection from FILE's scores;
                                       # without file: scored from this merge's own base and models
                                       # (threshold: 5e-5); see espnet_cs_ext.analysis.select
    output_format: same                # same | whisper | espnet | hf
    allow_different_base: false        # skip the "fine-tuned from this base" check

Relative model, base and MAV file paths in a YAML file are taken relative to the YAML's
own folder (so a config and its models can move together). A relative path that does not
exist there but does exist relative to the current directory is taken from there, with a
warning (how MergeKit reads them, and how the examples in conf/merge/, run from a recipe
dir, are written). Absolute paths are used as they are.
A model entry equal to `base_model` is dropped for methods that use a base (MergeKit
configs often list the base among the models). MergeKit's per-layer parameter lists
(gradients) and `slices` are not supported.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import logging
import os
import re
from typing import Any, Callable, Dict, List, Mapping, Optional

from ..utils.errors import CsExtError
from .methods import get_method, resolve_params

DTYPES = ("float32", "float16", "bfloat16")
OUTPUT_FORMATS = ("same", "whisper", "espnet", "hf")
_TOP_KEYS = {"merge_method", "base_model", "models", "parameters", "dtype", "out_dtype", "seed", "filters",
             "output_format", "allow_different_base"}


@dataclasses.dataclass
class ModelSpec:
    path: str
    parameters: Dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class MavFilter:
    """Layer-selective merging from the MAV analysis: only the flagged encoder/decoder blocks
    are merged, everything else (other blocks, embeddings, convolutions, final norms) is copied
    from base. `layers` is filled in by the merge engine (from `file`, or computed from the
    merge's models) and recorded in the sidecar."""
    file: Optional[str] = None
    top_k: Optional[int] = None
    min_pct: Optional[float] = None
    threshold: Optional[float] = None
    layers: Optional[Dict[str, List[int]]] = None

    def validate(self, where: str = "filters.mav") -> None:
        if self.file is not None and not isinstance(self.file, str):
            raise CsExtError(f"{where}.file must be a path, got {self.file!r}")
        if self.file is not None and self.threshold is not None:
            raise CsExtError(f"{where}: threshold applies when the MAV is computed at merge time; "
                             f"{self.file} was computed with its own threshold (rerun cs-mav --threshold)")
        if self.threshold is not None and (isinstance(self.threshold, bool) or
                                           not isinstance(self.threshold, (int, float)) or self.threshold <= 0):
            raise CsExtError(f"{where}.threshold must be a positive number, got {self.threshold!r}")
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, int)
                                       or self.top_k < 0):
            raise CsExtError(f"{where}.top_k must be a non-negative integer, got {self.top_k!r}")
        if self.min_pct is not None and (isinstance(self.min_pct, bool) or
                                         not isinstance(self.min_pct, (int, float)) or not 0 <= self.min_pct <= 100):
            raise CsExtError(f"{where}.min_pct must be a percentage in [0, 100], got {self.min_pct!r}")


@dataclasses.dataclass
class Filters:
    include: List[str] = dataclasses.field(default_factory=list)
    exclude: List[str] = dataclasses.field(default_factory=list)
    layers: Optional[str] = None
    mav: Optional[MavFilter] = None

    def predicate(self) -> Callable[[str], bool]:
        """name -> True when the tensor is merged (see module docstring)."""
        layer_set = parse_layers(self.layers) if self.layers is not None else None
        if self.mav is not None and self.mav.layers is None:
            raise CsExtError("filters.mav: the flagged layers are not resolved yet (merge_checkpoints "
                             "resolves them from the MAV file or the models)")
        mav_layers = {p: set(v) for p, v in self.mav.layers.items()} if self.mav is not None else None

        def keep(name: str) -> bool:
            if self.include and not any(fnmatch.fnmatchcase(name, p) for p in self.include):
                return False
            if any(fnmatch.fnmatchcase(name, p) for p in self.exclude):
                return False
            if layer_set is not None:
                m = re.search(r"\.blocks\.(\d+)\.", name)
                return bool(m) and int(m.group(1)) in layer_set
            if mav_layers is not None:
                m = re.match(r"(encoder|decoder)\.blocks\.(\d+)\.", name)
                return bool(m) and int(m.group(2)) in mav_layers.get(m.group(1), ())
            return True
        return keep


@dataclasses.dataclass
class MergeConfig:
    merge_method: str
    models: List[ModelSpec]
    base_model: Optional[str] = None
    parameters: Dict[str, Any] = dataclasses.field(default_factory=dict)
    dtype: Optional[str] = None
    seed: int = 0
    filters: Filters = dataclasses.field(default_factory=Filters)
    output_format: str = "same"
    allow_different_base: bool = False

    def validate(self) -> None:
        """Check everything that can be checked without opening a checkpoint."""
        method = get_method(self.merge_method)
        if method.needs_base and not self.base_model:
            raise CsExtError(f"{method.name} needs base_model")
        resolve_params(method, [m.parameters for m in self.models], self.parameters)
        if self.dtype is not None and self.dtype not in DTYPES:
            raise CsExtError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.output_format not in OUTPUT_FORMATS:
            raise CsExtError(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}, got {self.output_format!r}")
        if self.filters.layers is not None:
            parse_layers(self.filters.layers)
        if self.filters.mav is not None:
            if self.filters.layers is not None:
                raise CsExtError("filters: layers and layers_from_mav/mav both choose blocks; use one")
            if not self.filters.mav.file and not method.needs_base:
                raise CsExtError(f"filters.mav without a file needs a base model to compare with; "
                                 f"{method.name} has none")
            self.filters.mav.validate()

    def to_dict(self) -> Dict[str, Any]:
        """The config as YAML-able data, with method defaults filled in."""
        method = get_method(self.merge_method)
        mps, g = resolve_params(method, [m.parameters for m in self.models], self.parameters)
        d: Dict[str, Any] = {
            "merge_method": self.merge_method,
            "paper": method.paper,
            "base_model": self.base_model,
            "models": [{"model": m.path, "parameters": p} for m, p in zip(self.models, mps)],
            "parameters": g,
            "dtype": self.dtype,
            "seed": self.seed,
            "filters": dataclasses.asdict(self.filters),
            "output_format": self.output_format,
            "allow_different_base": self.allow_different_base,
        }
        return d


def parse_layers(spec: Any) -> set:
    """'12-23', '0,2,4-6', 5 or [1, 2] -> set of block indices."""
    if isinstance(spec, bool):
        raise CsExtError(f"filters.layers: expected e.g. '12-23' or [0, 1], got {spec!r}")
    if isinstance(spec, int):
        return {spec}
    if isinstance(spec, (list, tuple)):
        out = set()
        for s in spec:
            out |= parse_layers(s)
        return out
    out = set()
    for part in str(spec).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise CsExtError(f"filters.layers: bad range {part!r} in {spec!r} (expected e.g. '12-23' or '0,2,4-6')")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise CsExtError(f"filters.layers: empty range {part!r}")
        out |= set(range(lo, hi + 1))
    return out


def config_from_dict(d: Mapping[str, Any], where: str = "config") -> MergeConfig:
    """Parse the YAML data; raise CsExtError naming the offending key."""
    if not isinstance(d, Mapping):
        raise CsExtError(f"{where}: expected a mapping at the top level")
    unknown = set(d) - _TOP_KEYS
    if unknown:
        raise CsExtError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(_TOP_KEYS)}")
    if "merge_method" not in d:
        raise CsExtError(f"{where}: merge_method is missing")
    models_raw = d.get("models") or []
    if not isinstance(models_raw, list) or not models_raw:
        raise CsExtError(f"{where}: models must be a non-empty list of {{model: PATH, parameters: {{...}}}}")
    models = []
    for i, m in enumerate(models_raw):
        if isinstance(m, str):
            m = {"model": m}
        if not isinstance(m, Mapping) or "model" not in m:
            raise CsExtError(f"{where}: models[{i}] needs a 'model' path")
        extra = set(m) - {"model", "parameters"}
        if extra:
            raise CsExtError(f"{where}: models[{i}]: unsupported key(s) {sorted(extra)}")
        params = m.get("parameters") or {}
        if not isinstance(params, Mapping):
            raise CsExtError(f"{where}: models[{i}].parameters must be a mapping")
        models.append(ModelSpec(str(m["model"]), dict(params)))
    filt = d.get("filters") or {}
    if not isinstance(filt, Mapping) or set(filt) - {"include", "exclude", "layers", "layers_from_mav", "mav"}:
        raise CsExtError(f"{where}: filters takes include, exclude, layers, layers_from_mav, mav")

    def as_list(v, key):
        if v is None:
            return []
        if isinstance(v, str):
            return [v]
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return list(v)
        raise CsExtError(f"{where}: filters.{key} must be a glob or a list of globs")

    params = d.get("parameters") or {}
    if not isinstance(params, Mapping):
        raise CsExtError(f"{where}: parameters must be a mapping")
    seed = d.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CsExtError(f"{where}: seed must be an integer")
    cfg = MergeConfig(
        merge_method=str(d["merge_method"]),
        models=models,
        base_model=str(d["base_model"]) if d.get("base_model") else None,
        parameters=dict(params),
        dtype=d.get("out_dtype") or d.get("dtype"),
        seed=seed,
        filters=Filters(as_list(filt.get("include"), "include"), as_list(filt.get("exclude"), "exclude"),
                        filt.get("layers"), _mav_filter(filt, where)),
        output_format=str(d.get("output_format", "same")),
        allow_different_base=bool(d.get("allow_different_base", False)),
    )
    cfg.validate()
    return cfg


def _mav_filter(filt: Mapping[str, Any], where: str) -> Optional[MavFilter]:
    """filters.layers_from_mav: FILE (shorthand) or filters.mav: {file, top_k, min_pct, threshold}."""
    short, full = filt.get("layers_from_mav"), filt.get("mav")
    if short is not None and full is not None:
        raise CsExtError(f"{where}: give filters.layers_from_mav or filters.mav, not both")
    if short is not None:
        if not isinstance(short, str):
            raise CsExtError(f"{where}: filters.layers_from_mav must be the path of a cs-mav "
                             f"flagged_layers.json, got {short!r}")
        return MavFilter(file=short)
    if full is None:
        return None
    if full is True:
        full = {}
    if not isinstance(full, Mapping) or set(full) - {"file", "top_k", "min_pct", "threshold"}:
        raise CsExtError(f"{where}: filters.mav takes file, top_k, min_pct, threshold, got {full!r}")
    return MavFilter(**dict(full))


def load_config(path: str | os.PathLike) -> MergeConfig:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise CsExtError(f"{path}: not valid YAML: {e}") from None
    cfg = config_from_dict(data, where=str(path))
    here = os.path.dirname(os.path.abspath(path))
    cfg.base_model = _beside(cfg.base_model, here, path)
    for m in cfg.models:
        m.path = _beside(m.path, here, path)
    if cfg.filters.mav is not None and cfg.filters.mav.file:
        cfg.filters.mav.file = _beside(cfg.filters.mav.file, here, path)
    return cfg


def _beside(p: Optional[str], folder: str, yaml_path) -> Optional[str]:
    """`p` resolved against the YAML's folder (see the module docstring)."""
    if not p or os.path.isabs(p):
        return p
    there = os.path.normpath(os.path.join(folder, p))
    if not os.path.exists(there) and os.path.exists(p):
        logging.getLogger(__name__).warning("%s: '%s' is not in the YAML's folder; using ./%s "
                                            "(write paths relative to the YAML)", yaml_path, p, p)
        return p
    return there
