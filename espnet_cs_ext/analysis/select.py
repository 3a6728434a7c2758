"""Which blocks did fine-tuning move most? Layer selection for layer-selective merging.

A block's score is its pct_above (rows with MAV above the threshold, in %)
averaged over the analysed models and over the block's projection matrices.
Per part (encoder, decoder) the flagged blocks are the top_k scores (ties broken
towards the lower index) together with every block scoring at least min_pct; with
neither given, top_k is half the part's blocks (rounded up).

`flagged_layers.json` (written by cs-mav, read by the merge filter
`filters: {layers_from_mav: FILE}` or `filters: {mav: {file: FILE, top_k: K}}`):

    {"tool": "cs-mav", "threshold": 5e-05, "base": ..., "models": {name: path},
     "n_layers": {"encoder": 6, "decoder": 6},
     "score": {"encoder": [pct per block], "decoder": [...]},
     "selection": {"top_k": 3, "min_pct": null},
     "layers": {"encoder": [3, 4, 5], "decoder": [2, 4, 5]}}

Without a file, the merge filter computes the same scores from the merge's own base
and models (`filters: {mav: {top_k: 3}}`).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..utils.errors import CsExtError
from .mav import MAV_THRESHOLD, PARTS, Key, MatrixMav, analysed_tensors, layer_counts


def layer_scores(results: Mapping[str, Mapping[Key, MatrixMav]], n_layers: Mapping[str, int]
                 ) -> Dict[str, List[float]]:
    """{part: [score of block 0, 1, ...]}: pct_above averaged over models and matrices."""
    sums = {p: [0.0] * n_layers[p] for p in PARTS}
    counts = {p: [0] * n_layers[p] for p in PARTS}
    for result in results.values():
        for (part, layer, _), r in result.items():
            sums[part][layer] += r.pct
            counts[part][layer] += 1
    return {p: [s / c if c else 0.0 for s, c in zip(sums[p], counts[p])] for p in PARTS}


def select_layers(scores: Sequence[float], top_k: Optional[int] = None, min_pct: Optional[float] = None
                  ) -> List[int]:
    """Flagged block indices (ascending) of one part; see the module docstring."""
    if top_k is None and min_pct is None:
        top_k = math.ceil(len(scores) / 2)
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    chosen = set(ranked[:top_k or 0])
    if min_pct is not None:
        chosen |= {i for i, s in enumerate(scores) if s >= min_pct}
    return sorted(chosen)


def check_selection(top_k: Any, min_pct: Any, where: str) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
        raise CsExtError(f"{where}: top_k must be a non-negative integer, got {top_k!r}")
    if min_pct is not None and (isinstance(min_pct, bool) or not isinstance(min_pct, (int, float))
                                or not 0 <= min_pct <= 100):
        raise CsExtError(f"{where}: min_pct must be a percentage in [0, 100], got {min_pct!r}")


def flagged_document(results, n_layers, threshold, base, models: Mapping[str, str],
                     top_k: Optional[int] = None, min_pct: Optional[float] = None) -> Dict[str, Any]:
    """The flagged_layers.json content (see the module docstring)."""
    scores = layer_scores(results, n_layers)
    return {"tool": "cs-mav", "threshold": threshold, "base": str(base), "models": dict(models),
            "n_layers": dict(n_layers),
            "score_definition": "percent of rows with MAV > threshold, mean over models and matrices",
            "score": {p: scores[p] for p in PARTS},
            "selection": {"top_k": top_k, "min_pct": min_pct},
            "layers": {p: select_layers(scores[p], top_k, min_pct) if n_layers[p] else [] for p in PARTS}}


def read_flagged(path: str | os.PathLike) -> Dict[str, Any]:
    """Load and check a flagged_layers.json; CsExtError names the file and the bad field."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise CsExtError(f"MAV layer file {path} not found (write it with cs-mav --out DIR: "
                         f"DIR/flagged_layers.json)") from None
    except ValueError as e:
        raise CsExtError(f"{path}: not valid JSON ({e})") from None
    try:
        n_layers = {p: int(doc["n_layers"][p]) for p in PARTS}
        layers = {p: [int(i) for i in doc["layers"][p]] for p in PARTS}
        scores = {p: [float(s) for s in doc["score"][p]] for p in PARTS}
    except (KeyError, TypeError, ValueError) as e:
        raise CsExtError(f"{path}: not a cs-mav flagged_layers.json (needs n_layers, layers and score "
                         f"for encoder and decoder; problem: {type(e).__name__} {e})") from None
    for p in PARTS:
        bad = [i for i in layers[p] if not 0 <= i < n_layers[p]]
        if bad or len(scores[p]) != n_layers[p]:
            raise CsExtError(f"{path}: {p} layers {bad or layers[p]} / {len(scores[p])} scores do not fit "
                             f"n_layers {n_layers[p]}")
    return {**doc, "n_layers": n_layers, "layers": layers, "score": scores}


def resolve_for_merge(mav, base, models: Sequence, check_base: bool = True) -> Dict[str, List[int]]:
    """{part: flagged blocks} for a merge filter `mav` (merge.config.MavFilter) and opened
    merge.formats.Checkpoint objects; the file's model must have the base's block counts."""
    base_layers = layer_counts(k for k, _ in analysed_tensors(base.infos))
    if mav.file:
        doc = read_flagged(mav.file)
        if doc["n_layers"] != base_layers:
            raise CsExtError(f"{mav.file}: analysed a model with {doc['n_layers']} blocks, but the merge "
                             f"base {base.path} has {base_layers}")
        if mav.top_k is None and mav.min_pct is None:
            return doc["layers"]
        return {p: select_layers(doc["score"][p], mav.top_k, mav.min_pct) for p in PARTS}
    if not models:
        raise CsExtError("filters.mav: no fine-tuned models to analyse")
    from .mav import model_mav

    threshold = mav.threshold if mav.threshold is not None else MAV_THRESHOLD
    # hint=None: a rejection points at cs-merge's own option
    results = {m.path: model_mav(os.path.basename(m.path), m, base, threshold, check_base, hint=None)
               for m in models}
    scores = layer_scores(results, base_layers)
    return {p: select_layers(scores[p], mav.top_k, mav.min_pct) for p in PARTS}


def resolve_mav_filter(cfg):
    """A copy of the merge config `cfg` whose filters.mav names the flagged blocks (from the
    cs-mav file, or computed from cfg's models); unchanged when there is nothing to resolve.

    The merge engine takes the layer choice as a plain filter and never runs the analysis;
    its callers (cs-merge, the recipe's merge list) call this first. The sidecar then
    records which blocks were merged.
    """
    import dataclasses
    import logging

    from ..merge.engine import models_to_merge
    from ..whisper.checkpoint import Checkpoint

    mav = cfg.filters.mav
    if mav is None or mav.layers is not None:
        return cfg
    cfg.validate()
    if not cfg.base_model:
        raise CsExtError("filters.mav needs base_model (the MAV is measured against the base)")
    opened = []
    try:
        for p in [cfg.base_model] + [m.path for m in models_to_merge(cfg)]:
            opened.append(Checkpoint(p))
        layers = resolve_for_merge(mav, opened[0], opened[1:], check_base=not cfg.allow_different_base)
    finally:
        for c in opened:
            c.close()
    logging.getLogger(__name__).info("MAV filter: merging encoder blocks %s, decoder blocks %s",
                                     layers["encoder"], layers["decoder"])
    mav = dataclasses.replace(mav, layers=layers)
    return dataclasses.replace(cfg, filters=dataclasses.replace(cfg.filters, mav=mav))
