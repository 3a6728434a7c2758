"""The whole MAV study for a set of fine-tunes of one base: tables, figures, layer flags.

`run_study(base, {name: path}, out_dir)` writes into out_dir:

    mav.tsv              model part layer matrix rows rows_above pct_above mean_mav
    overlap.tsv          Jaccard of flagged rows for every pair (espnet_cs_ext.analysis.overlap)
    mav_<name>.png       per-model heatmap (encoder | decoder; layers x matrices)
    overlap.png          pairwise overlap figure (two or more models)
    flagged_layers.json  most-updated blocks per part (espnet_cs_ext.analysis.select)
    summary.md           markdown block for a report, links relative to link_root

Each model's result is kept in out_dir/.work/<name>.pt (tagged with the input files'
size and mtime and the threshold), so a killed run resumes with the models not done.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Dict, Mapping, Optional

import torch

from ..utils.atomic import atomic_open, atomic_path
from ..utils.errors import CsExtError
from ..utils.torchzip import save_streaming
from . import overlap as ov
from . import plots
from .mav import (MAV_THRESHOLD, Key, MatrixMav, analysed_tensors, layer_counts, model_mav, open_checkpoint,
                  part_means, rows_of)
from .select import flagged_document
from .tables import MAV_COLUMNS, write_summary, write_tsv

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_CACHE_VERSION = 1


@dataclasses.dataclass
class StudyOutputs:
    out_dir: Path
    results: Dict[str, Dict[Key, MatrixMav]]
    reused: int
    figures: Dict[str, Path]


def _file_id(path: str) -> Dict[str, object]:
    st = os.stat(path)
    return {"path": os.path.realpath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _fingerprint(base_path: str, model_path: str, threshold: float, check_base: bool) -> str:
    blob = json.dumps({"v": _CACHE_VERSION, "base": _file_id(base_path), "model": _file_id(model_path),
                       "threshold": threshold, "check_base": check_base}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _key_str(key: Key) -> str:
    return f"{key[0]}|{key[1]}|{key[2]}"


def _save_work(path: Path, fingerprint: str, result: Dict[Key, MatrixMav]) -> None:
    obj = {"fingerprint": fingerprint,
           "stats": {_key_str(k): [r.rows, r.above, r.mean_mav] for k, r in result.items()},
           # packed bits: a Whisper-medium model's row flags are ~60 kB this way
           "flagged": {_key_str(k): r.flagged.to(torch.uint8) for k, r in result.items()}}
    with atomic_path(path) as tmp:
        save_streaming(obj, tmp)  # torch.save would name the archive after the random temp file


def _load_work(path: Path, fingerprint: str) -> Optional[Dict[Key, MatrixMav]]:
    if not path.is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if obj.get("fingerprint") != fingerprint:
            return None
        out = {}
        for ks, (rows, above, mean_mav) in obj["stats"].items():
            part, layer, matrix = ks.split("|")
            out[(part, int(layer), matrix)] = MatrixMav(int(rows), int(above), float(mean_mav),
                                                        obj["flagged"][ks].bool())
        return out
    except Exception as e:  # noqa: BLE001 - a damaged cache file is recomputed, never trusted
        log.warning("ignoring unreadable work file %s (%s)", path, e)
        return None


def check_names(models: Mapping[str, str]) -> None:
    for name in models:
        if not NAME_RE.match(name):
            raise CsExtError(f"model name {name!r}: use letters, digits and . _ + - (it names files)")


def run_study(base: str, models: Mapping[str, str], out_dir: str | os.PathLike,
              threshold: float = MAV_THRESHOLD, top_k: Optional[int] = None, min_pct: Optional[float] = None,
              link_root: Optional[str | os.PathLike] = None, check_base: bool = True, figures: bool = True,
              progress: bool = True) -> StudyOutputs:
    """Analyse every model against `base` and write the outputs listed in the module docstring."""
    from tqdm import tqdm

    if not models:
        raise CsExtError("no fine-tuned models given")
    if not threshold > 0:
        raise CsExtError(f"threshold must be positive, got {threshold}")
    check_names(models)
    out_dir = Path(out_dir)
    work = out_dir / ".work"
    results: Dict[str, Dict[Key, MatrixMav]] = {}
    reused = 0
    with open_checkpoint(base) as base_ck:
        n_layers = layer_counts(k for k, _ in analysed_tensors(base_ck.infos))
        for name in tqdm(list(models), desc="cs-mav", unit="model", disable=not progress):
            with open_checkpoint(models[name]) as ck:
                fp = _fingerprint(base_ck.path, ck.path, threshold, check_base)
                cached = _load_work(work / f"{name}.pt", fp)
                if cached is not None:
                    results[name] = cached
                    reused += 1
                    continue
                results[name] = model_mav(name, ck, base_ck, threshold, check_base)
                _save_work(work / f"{name}.pt", fp, results[name])
        base_path = base_ck.path

    write_tsv((r for name, res in results.items() for r in rows_of(name, res)), MAV_COLUMNS, out_dir / "mav.tsv")
    overlap_rows = list(ov.all_pairs(results))
    write_tsv(overlap_rows, ov.COLUMNS, out_dir / "overlap.tsv")
    doc = flagged_document(results, n_layers, threshold, base_path, models, top_k, min_pct)
    with atomic_open(out_dir / "flagged_layers.json") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    figs: Dict[str, Path] = {}
    overlap_png = None
    pooled = ov.summary(overlap_rows)
    if figures:
        base_name = base if not os.path.exists(base) else Path(base).name
        for name, res in results.items():
            figs[name] = plots.heatmap(name, res, threshold, out_dir / f"mav_{name}.png", base_name)
        if len(results) > 1:
            overlap_png = plots.overlap_figure(list(results), pooled,
                                               {p: ov.per_layer(overlap_rows, p) for p in n_layers},
                                               threshold, out_dir / "overlap.png")
    write_summary(out_dir / "summary.md", threshold, base, {n: part_means(r) for n, r in results.items()},
                  figs, pooled, overlap_png, doc, Path(link_root) if link_root is not None else out_dir)
    return StudyOutputs(out_dir, results, reused, figs)
