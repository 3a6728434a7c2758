"""A DG system's training config: the recipe's DG base config plus the algorithm's overrides.

The six DG systems share every training option but the `dg_*` keys, so the recipe keeps
one base config (conf/tuning/dg/base.yaml) and, per algorithm, an optional override file
(conf/tuning/dg/<algorithm>.yaml, usually just `dg_conf:`). ESPnet's --config takes one
file, so stage 5 resolves base + override + `dg_algorithm` into exp/asr_dg_<name>/
dg_config.yaml and trains with that: the options a system trained with stay beside its
output (next to ESPnet's own argument dump, config.yaml). Without an override file the
algorithm trains with its HPARAMS defaults.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..utils.errors import CsExtError


def override_path(conf_dir: str | Path, algorithm: str) -> Path:
    """Where an algorithm's override file lives (it need not exist)."""
    return Path(conf_dir) / f"{algorithm}.yaml"


def _load(path: Path, what: str) -> dict:
    import yaml

    try:
        conf = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise CsExtError(f"{path}: cannot read the {what}: {e}") from None
    if conf is None:
        return {}
    if not isinstance(conf, dict):
        raise CsExtError(f"{path}: the {what} must be a YAML mapping, got {type(conf).__name__}")
    return conf


def _merge(base: dict, over: dict) -> dict:
    """`over` on top of `base`; mappings merge key by key (so an override may set one
    optimizer option), anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve(base: str | Path, algorithm: str, override: Optional[str | Path] = None) -> dict:
    """The full training config of DG system `algorithm`."""
    base = Path(base)
    conf = _load(base, "DG base config")
    for key in ("dg_algorithm", "dg_conf"):
        if key in conf:
            raise CsExtError(f"{base}: the DG base config must not set {key} (it goes in the algorithm's override file)")
    over = _load(Path(override), f"{algorithm} override") if override is not None else {}
    if over.get("dg_algorithm", algorithm) != algorithm:
        raise CsExtError(f"{override}: sets dg_algorithm {over['dg_algorithm']!r}, but the file is {algorithm!r}'s")
    return _merge(conf, {"dg_algorithm": algorithm, **over})


def write_resolved(base: str | Path, algorithm: str, conf_dir: str | Path, out: str | Path) -> dict:
    """Resolve and write `out` atomically (same inputs, same bytes); returns the config."""
    import yaml

    from ..utils.atomic import atomic_open

    over = override_path(conf_dir, algorithm)
    conf = resolve(base, algorithm, over if over.is_file() else None)
    header = (f"# Resolved by recipe_tools dg-config: {base} + "
              f"{over if over.is_file() else '(no override file: HPARAMS defaults)'}\n")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out) as f:
        f.write(header + yaml.safe_dump(conf, sort_keys=False, allow_unicode=True))
    return conf
