"""Streaming merge of whole checkpoints: tensor by tensor, one output file, atomically.

`merge_checkpoints(cfg, out)` runs named steps over a list of `PlannedTensor` records:
_open_inputs, plan_tensors (+ _output_format, _output_dims), _merged_tensors (read with
_Prefetcher, check, merge or copy) and _write_output (the one write step). It opens
every input lazily (safetensors: positional reads; torch: weights-only mmap), plans the
output from the base checkpoint's
tensors, then for each tensor reads it from base and models, checks it, merges it
and writes it. While one tensor is merged the next one is being read (one reader
thread) and the input checksums are computed (another thread). Peak memory beyond torch is
(2 n_models + 2, +1 for TIES/DARE) copies of the largest tensor (docs/benchmarks.md) for
either output container: safetensors and torch `.pt`/`.pth` (utils.torchzip) are both
written as the merge goes, straight from the merge workspace.

What happens to each tensor (`tensor_kind`):

    integer  non-float dtype                    copied from base
    buffer   encoder.positional_embedding       copied from base (fixed sinusoids)
    matrix   2-D float, not an embedding        merged; low-rank parts of svp/lors apply
    embedding token / learned positional table  merged; no low-rank part
    other    1-D (biases, norms), conv kernels  merged; no low-rank part

Tensors outside the filters are copied from base. Extra (non-Whisper) tensors
(ESPnet ctc/normalize, HF proj_out) are merged when every input has them with the
same shape, else copied from base; they are written only when the output naming
can hold them.

Checks, each a CsExtError naming the tensor and file (output is never created):
missing tensors or different shapes, NaN/Inf in any tensor read, and "not
fine-tuned from this base": a model is rejected when more than half of its
matrix/embedding tensors are more than `SAME_BASE_MAX_REL_CHANGE` (50 %) of the
base tensor's norm away from it, measured on the leading 128k entries of each
(fine-tunes move ~0.1-1 %; unrelated models ~140 %), or when a copied buffer
differs (by more than 1e-2, which allows a half-precision copy of the sinusoids). `allow_different_base` turns the check off.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import torch

from ..utils.atomic import atomic_open, atomic_path
from ..utils.errors import CsExtError
from .config import MergeConfig
from ..whisper.checkpoint import (Checkpoint, dims_to_dict, from_canonical, hf_head_counts, infer_dims,
                                  is_extra)
from .formats import DEFAULT_CONTAINER, SafetensorsWriter, TorchWriter
from .methods import TensorContext, get_method, resolve_params
from .parts import Workspace

log = logging.getLogger(__name__)

SAME_BASE_MAX_REL_CHANGE = 0.5
BIG_TENSOR_BYTES = 64 << 20  # tensors above this are read into fresh memory (see _Prefetcher)
_BUFFERS = {"encoder.positional_embedding"}
_EMBEDDINGS = {"decoder.token_embedding.weight", "decoder.positional_embedding"}
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def tensor_kind(name: str, dtype: torch.dtype, ndim: int) -> str:
    """integer | buffer | embedding | matrix | other (see module docstring)."""
    if not dtype.is_floating_point:
        return "integer"
    if name in _BUFFERS:
        return "buffer"
    if name in _EMBEDDINGS or "embed" in name.rsplit(":", 1)[-1]:
        return "embedding"
    return "matrix" if ndim == 2 else "other"


@dataclasses.dataclass
class MergeReport:
    out: str
    sidecar: str
    merged: int
    copied: int
    checksums: Dict[str, str]


def _checksum_cache_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "espnet_cs_ext" / "sha256.json"


def _file_id(path: str) -> str:
    st = os.stat(path)
    return f"{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


def cached_sha256(path: str) -> str:
    """sha256 of a file, remembered by (real path, size, mtime_ns, inode) in
    $XDG_CACHE_HOME/espnet_cs_ext/sha256.json, so sweeps over the same inputs hash them once."""
    import json

    cache_file = _checksum_cache_path()
    fid = _file_id(path)
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if isinstance(cache, dict) and isinstance(cache.get(fid), str):
        return cache[fid]
    digest = sha256_file(path)
    try:
        try:
            cache = json.loads(cache_file.read_text())  # another merge may have added entries meanwhile
        except (OSError, ValueError):
            cache = {}
        cache = {k: v for k, v in cache.items() if os.path.exists(k.split("|", 1)[0])} if isinstance(cache, dict) else {}
        cache[fid] = digest
        with atomic_open(cache_file) as f:
            json.dump(cache, f, indent=0)
    except OSError as e:  # a read-only home must not fail the merge
        log.warning("cannot update the checksum cache %s: %s", cache_file, e)
    return digest


def sha256_file(path: str, chunk: int = 8 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(chunk)
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


class SameBaseCheck:
    """Counts, per model, matrix/embedding tensors that moved too far from the base."""

    def __init__(self, paths: Sequence[str], base_path: str, hint: Optional[str] = None):
        self.paths, self.base_path = paths, base_path
        # what the user can do about a rejection (cs-mav reuses this check with its own option)
        self.hint = hint or ("set allow_different_base: true (cs-merge --allow-different-base) "
                             "to merge anyway")
        self.seen = 0
        self.far = [0] * len(paths)
        self.example: List[Optional[str]] = [None] * len(paths)

    def add(self, name: str, base: torch.Tensor, models: Sequence[torch.Tensor]) -> None:
        self.seen += 1
        # the leading 128k entries (contiguous, so cheap) are plenty for a 50 % threshold
        b = base.reshape(-1)[:1 << 17]
        bnorm = float(torch.linalg.vector_norm(b)) + 1e-12
        for i, m in enumerate(models):
            rel = float(torch.linalg.vector_norm(m.reshape(-1)[:1 << 17] - b)) / bnorm
            if rel > SAME_BASE_MAX_REL_CHANGE:
                self.far[i] += 1
                if self.example[i] is None:
                    self.example[i] = f"{name}: |theta - base| / |base| = {rel:.2f}"
        if self.seen >= 4:
            self.verify()

    def verify(self) -> None:
        for i, far in enumerate(self.far):
            if far * 2 > self.seen:
                raise CsExtError(
                    f"{self.paths[i]} does not look fine-tuned from base {self.base_path}: {far} of "
                    f"{self.seen} weight matrices differ from the base by more than "
                    f"{SAME_BASE_MAX_REL_CHANGE:.0%} of its norm (e.g. {self.example[i]}); {self.hint}")


def _check_finite(t: torch.Tensor, name: str, path: str) -> None:
    # a finite sum proves every entry finite (inf/nan propagate); only then is the exact test skipped
    if not t.dtype.is_floating_point or bool(torch.isfinite(t.sum())):
        return
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise CsExtError(f"{path}: tensor {name!r} has {bad} non-finite value(s) (NaN/Inf)")


@dataclasses.dataclass(frozen=True)
class PlannedTensor:
    """One output tensor: canonical `name`, its `key` in the output naming, `kind`
    (tensor_kind), `action` ('merge' or 'copy'), output `dtype` and `shape`."""
    name: str
    key: str
    kind: str
    action: str
    dtype: torch.dtype
    shape: Tuple[int, ...]


def _plan(base: Checkpoint, models: Sequence[Checkpoint], keep) -> List[tuple]:
    """[(name, kind, action)] in base order; action 'merge' or 'copy'. Raises on key/shape mismatch."""
    plan = []
    for m in models:
        for name in m.infos:
            if not is_extra(name) and name not in base.infos:
                raise CsExtError(f"{m.path} has tensor {name!r} ({m.raw[name]}) that the base "
                                 f"{base.path} lacks")
    for name, info in base.infos.items():
        kind = tensor_kind(name, info.dtype, len(info.shape))
        present = all(name in m.infos for m in models)
        for m in models:
            if name not in m.infos:
                if not is_extra(name):
                    raise CsExtError(f"{m.path} lacks tensor {name!r} (base {base.path} has it as "
                                     f"{base.raw[name]})")
            elif m.infos[name].shape != info.shape:
                if not is_extra(name):
                    raise CsExtError(f"tensor {name!r} has shape {tuple(m.infos[name].shape)} in {m.path} "
                                     f"but {tuple(info.shape)} in {base.path}")
                present = False
        merge = present and kind not in ("integer", "buffer") and keep(name)
        plan.append((name, kind, "merge" if merge else "copy"))
    return plan


def plan_tensors(ref: Checkpoint, others: Sequence[Checkpoint], keep, naming: str, hf_prefix: str,
                 out_dtype: Optional[torch.dtype]) -> List[PlannedTensor]:
    """The output, tensor by tensor in base order; names the output naming cannot hold are dropped."""
    planned = []
    for name, kind, action in _plan(ref, others, keep):
        key = from_canonical(naming, name, hf_prefix)
        if key is None:
            log.warning("dropping %s: the %s naming has no place for it", name, naming)
            continue
        dt = ref.infos[name].dtype
        if out_dtype is not None and dt.is_floating_point:
            dt = out_dtype
        planned.append(PlannedTensor(name, key, kind, action, dt, tuple(ref.infos[name].shape)))
    return planned


def merge_checkpoints(cfg: MergeConfig, out: str | os.PathLike, *, progress: bool = True,
                      checksums: bool = True, threads: Optional[int] = None) -> MergeReport:
    """Merge as `cfg` says and write `out` (+ `out`.merge.yaml). See the module docstring.

    threads: torch intra-op threads while merging (restored afterwards); default 1.
    The element-wise methods are memory bound and overlap with the reader and
    checksum threads anyway; on a busy 2-core machine two intra-op threads cost
    6x (TIES) to 9x (exact SVD) more CPU time in barrier waits (measured on the
    benchmark machine, docs/benchmarks.md). Raise it on an idle many-core
    machine for svp/lors.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, threads or 1))
    try:
        return _merge_checkpoints(cfg, out, progress, checksums)
    finally:
        torch.set_num_threads(previous)


def models_to_merge(cfg: MergeConfig) -> List[Any]:
    """cfg.models without entries that are the base model itself (for methods with a base)."""
    model_specs = list(cfg.models)
    if get_method(cfg.merge_method).needs_base:
        same = [m for m in model_specs if os.path.abspath(m.path) == os.path.abspath(cfg.base_model)]
        if same:
            log.info("dropping %d model entr(ies) equal to base_model", len(same))
            model_specs = [m for m in model_specs if m not in same]
    return model_specs


@dataclasses.dataclass
class _Inputs:
    """The opened checkpoints: `ref` is the base (or the first model without one)."""
    opened: List[Checkpoint]
    base: Optional[Checkpoint]
    models: List[Checkpoint]

    @property
    def ref(self) -> Checkpoint:
        return self.base if self.base is not None else self.models[0]

    @property
    def others(self) -> List[Checkpoint]:
        return self.models if self.base is not None else self.models[1:]

    def close(self) -> None:
        for c in self.opened:
            c.close()


def _open_inputs(base_path: Optional[str], model_paths: Sequence[str]) -> _Inputs:
    opened: List[Checkpoint] = []
    try:
        for p in ([base_path] if base_path else []) + list(model_paths):
            opened.append(Checkpoint(p))
    except BaseException:
        for c in opened:
            c.close()
        raise
    base = opened[0] if base_path else None
    return _Inputs(opened, base, opened[1:] if base_path else opened)


def _output_format(cfg: MergeConfig, ref: Checkpoint) -> Tuple[str, str, str]:
    """(naming, container, hf_prefix) of the output."""
    naming = ref.naming if cfg.output_format == "same" else cfg.output_format
    container = ref.container if naming == ref.naming else DEFAULT_CONTAINER[naming]
    return naming, container, ref.hf_prefix if ref.naming == "hf" else "model."


def _output_dims(inputs: _Inputs, naming: str, container: str) -> Optional[Dict[str, int]]:
    """The `dims` of an openai-whisper .pt output: from an input that has them, else the
    shapes (head counts from an HF config.json, or guessed with a warning)."""
    if not (naming == "whisper" and container == "torch"):
        return None
    dims = next((c.whisper_dims() for c in inputs.opened if c.whisper_dims()), None)
    if dims is None:
        heads = next((h for c in inputs.opened if c.naming == "hf" and (h := hf_head_counts(c.path))), None)
        dims = infer_dims(inputs.ref.infos, heads, source=inputs.ref.path, guess_heads=True)
    return dims_to_dict(dims)


class _Prefetcher:
    """Reads tensor idx+1 of the plan (one thread) while tensor idx is merged, into two
    alternating sets of read buffers (one per safetensors input). Models' buffers and
    integers are read only when they must be compared with the base's."""

    def __init__(self, inputs: _Inputs, plan: Sequence[PlannedTensor], compare_copies: bool):
        self.srcs = [inputs.ref] + inputs.others
        self.plan, self.compare_copies = plan, compare_copies
        sizes = sorted(c.infos[n].numel * torch.empty((), dtype=c.infos[n].dtype).element_size()
                       for c in inputs.opened for n in c.infos)
        # the reused buffers fit every tensor up to BIG_TENSOR_BYTES (or the smallest one); larger
        # ones (a Whisper-medium token embedding: 203 MiB) get fresh memory, freed after their
        # step, so two sets of them are never held for the whole run (issue 23: -0.8 GiB)
        fits = [n for n in sizes if n <= BIG_TENSOR_BYTES]
        max_bytes = fits[-1] if fits else (sizes[0] if sizes else 0)
        self.bufs = [[torch.empty(max_bytes, dtype=torch.uint8) if c.container == "safetensors" else None
                      for c in self.srcs] for _ in range(2)] if max_bytes else [[], []]
        self.pool = cf.ThreadPoolExecutor(1, thread_name_prefix="read")

    def _load(self, idx: int) -> List[torch.Tensor]:
        t = self.plan[idx]
        ref, others = self.srcs[0], self.srcs[1:]
        compare = (self.compare_copies and t.kind in ("buffer", "integer")
                   and all(t.name in o.infos and o.infos[t.name] == ref.infos[t.name] for o in others))
        srcs = [ref] + (others if t.action == "merge" or compare else [])
        bufs = self.bufs[idx % 2]
        return [s.read(t.name, bufs[j]) for j, s in enumerate(srcs)]

    def __iter__(self) -> Iterator[Tuple[PlannedTensor, List[torch.Tensor]]]:
        fut = self.pool.submit(self._load, 0) if self.plan else None
        for idx, t in enumerate(self.plan):
            tensors = fut.result()
            fut = self.pool.submit(self._load, idx + 1) if idx + 1 < len(self.plan) else None
            yield t, tensors

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _merged_tensors(cfg: MergeConfig, method, inputs: _Inputs, plan: Sequence[PlannedTensor], container: str,
                    model_params, params, same_base: Optional[SameBaseCheck], counts: Dict[str, int],
                    progress: bool) -> Iterator[Tuple[PlannedTensor, torch.Tensor]]:
    """(planned tensor, output tensor) in plan order: read, checked, merged or copied."""
    srcs = [inputs.ref] + inputs.others
    workspace = Workspace()
    reader = _Prefetcher(inputs, plan, same_base is not None)
    try:
        bar = _progress(len(plan), progress)
        for t, tensors in reader:
            for x, c in zip(tensors, srcs):
                _check_finite(x, t.name, c.path)
            if t.action == "merge":
                result = _merge_one(method, t.name, t.kind, tensors, inputs.base is not None,
                                    model_params, params, cfg.seed, same_base, workspace)
                counts["merged"] += 1
            else:
                if same_base is not None and len(tensors) > 1:
                    _check_buffer(t.name, tensors, srcs)
                result = tensors[0]
                counts["copied"] += 1
            # both writers write the bytes before the next tensor is read, so no copy is needed
            result = result.to(t.dtype)
            del tensors
            yield t, result
            bar.update(1)
        bar.close()
        if same_base is not None:
            same_base.verify()
    finally:
        reader.close()


def _write_output(out: str, naming: str, container: str, plan: Sequence[PlannedTensor],
                  dims: Optional[Dict[str, int]], stream: Iterable[Tuple[PlannedTensor, torch.Tensor]],
                  before_rename: Callable[[], None]) -> None:
    """The write step: every tensor of `stream` into a temp file beside `out`, renamed onto
    `out` only after `before_rename` (the sidecar) succeeded; on any error nothing is left."""
    with atomic_path(out) as tmp:
        if container == "safetensors":
            meta = {"format": "pt"} if naming == "hf" else {}
            writer = SafetensorsWriter(tmp, [(t.key, t.shape, t.dtype) for t in plan], meta)
        else:
            writer = TorchWriter(tmp, naming, dims)
        try:
            for t, tensor in stream:
                writer.write(t.key, tensor)
                del tensor
            writer.close()
        except BaseException:
            writer.abort()
            raise
        before_rename()


def _merge_checkpoints(cfg: MergeConfig, out: str, progress: bool, checksums: bool) -> MergeReport:
    cfg.validate()
    if cfg.filters.mav is not None and cfg.filters.mav.layers is None:
        # merge is the lower floor: it never runs the analysis; cs-merge and the recipe resolve it
        raise CsExtError("filters.mav names no layers yet: resolve it first with "
                         "espnet_cs_ext.analysis.resolve_mav_filter(cfg) (cs-merge does)")
    method = get_method(cfg.merge_method)
    out = str(out)
    model_specs = models_to_merge(cfg)
    model_params, params = resolve_params(method, [m.parameters for m in model_specs], cfg.parameters)

    inputs = _open_inputs(cfg.base_model, [m.path for m in model_specs])
    try:
        naming, container, hf_prefix = _output_format(cfg, inputs.ref)
        plan = plan_tensors(inputs.ref, inputs.others, cfg.filters.predicate(), naming, hf_prefix,
                            _DTYPES[cfg.dtype] if cfg.dtype else None)
        dims = _output_dims(inputs, naming, container)
        same_base = (SameBaseCheck([m.path for m in inputs.models], inputs.base.path)
                     if inputs.base is not None and not cfg.allow_different_base else None)
        hasher = cf.ThreadPoolExecutor(1, thread_name_prefix="sha256") if checksums else None
        digests = {c.path: hasher.submit(cached_sha256, c.path) for c in inputs.opened} if hasher else {}
        counts = {"merged": 0, "copied": 0}
        sums: Dict[str, str] = {}
        sidecar = sidecar_path(out)

        def write_sidecar():
            sums.update({p: f.result() for p, f in digests.items()})
            _write_sidecar(sidecar, cfg, method, inputs.opened, sums, naming, container,
                           counts["merged"], counts["copied"])

        try:
            stream = _merged_tensors(cfg, method, inputs, plan, container, model_params, params, same_base,
                                     counts, progress)
            try:
                _write_output(out, naming, container, plan, dims, stream, write_sidecar)
            finally:
                stream.close()  # stops the reader thread now, also when writing failed
        finally:
            if hasher:
                hasher.shutdown(wait=True, cancel_futures=True)
        return MergeReport(out, sidecar, counts["merged"], counts["copied"], sums)
    finally:
        inputs.close()


def _merge_one(method, name, kind, tensors, has_base, model_params, params, seed, same_base, workspace):
    base = tensors[0].float() if has_base else None
    models = [t.float() for t in (tensors[1:] if has_base else tensors)]
    if same_base is not None and kind in ("matrix", "embedding"):
        same_base.add(name, base, models)
    ctx = TensorContext(name=name, kind=kind, model_params=model_params, params=params, seed=seed,
                        workspace=workspace)
    return method.fn(base, models, ctx)


def _check_buffer(name, tensors, srcs):
    for t, c in zip(tensors[1:], srcs[1:]):
        ref = tensors[0]
        # tolerance: a fine-tune saved in half precision rounds the sinusoid table
        same = t.shape == ref.shape and (torch.equal(t, ref) or (
            ref.is_floating_point() and float((t.float() - ref.float()).abs().max()) <= 1e-2))
        if not same:
            raise CsExtError(f"{c.path}: tensor {name!r} is copied from the base, but differs from the "
                             f"base's ({srcs[0].path}); checkpoints from different bases? set "
                             f"allow_different_base: true (cs-merge --allow-different-base) to merge anyway")


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="tensor", desc="merge", disable=not enabled, leave=False)


def sidecar_path(out: str | os.PathLike) -> str:
    return str(out) + ".merge.yaml"


def _write_sidecar(path, cfg: MergeConfig, method, opened, sums, naming, container, merged_n, copied_n):
    import yaml

    from .. import __name__ as pkg

    # no timestamp: the same inputs give the same bytes (the inputs' sha256 are the provenance)
    d: Dict[str, Any] = {"tool": f"{pkg}.merge (cs-merge)"}
    d.update(cfg.to_dict())
    d["output"] = {"naming": naming, "container": container, "tensors_merged": merged_n,
                   "tensors_copied": copied_n}
    d["inputs"] = [{"path": c.path, "container": c.container, "naming": c.naming,
                    "sha256": sums.get(c.path)} for c in opened]
    with atomic_open(path) as f:
        yaml.safe_dump(d, f, sort_keys=False)
