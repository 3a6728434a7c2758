"""Algorithm registry: the name is the CLI value (`--dg_algorithm`), the YAML value
and the file name. Hyper-parameters live on each class (`HPARAMS`) with defaults."""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Type

from .base import Algorithm, DGConfigError
from .erm import ERM
from .fish import Fish
from .fishr import Fishr
from .gga import GGA
from .gga_l import GGAL
from .mldg import MLDG
from .vrex import VREx

ALGORITHMS: Dict[str, Type[Algorithm]] = {c.NAME: c for c in (ERM, Fish, Fishr, GGA, GGAL, MLDG, VREx)}


def get_algorithm(name: str) -> Type[Algorithm]:
    """The class registered as `name`; unknown names list the valid ones."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise DGConfigError(f"unknown dg_algorithm {name!r}; valid: {', '.join(sorted(ALGORITHMS))}") from None


def resolve_config(name: str, conf: Optional[Mapping[str, object]] = None) -> Dict[str, object]:
    """Validate `name` and `conf` (unknown options are an error); return the full hparams."""
    return get_algorithm(name).resolve_hparams(conf)


def build_algorithm(name: str, model, optimizer, loss_fn, conf: Optional[Mapping[str, object]] = None,
                    **kwargs) -> Algorithm:
    return get_algorithm(name)(model, optimizer, loss_fn, hparams=conf, **kwargs)
