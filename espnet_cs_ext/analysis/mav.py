"""Row-level MAV of one fine-tuned Whisper against its base, per layer and projection matrix.

The quantity of arXiv 2606.05846 section 4 (after Bandarkar et al. 2025): for a
projection matrix W (out x in), delta = W_ft - W_base; a row's MAV is
mean_j |delta[i, j]|, and a row counts as *heavily updated* when its MAV exceeds
the threshold (5e-5 in the paper). Reported per (part, layer, matrix): the number
of rows, how many exceed the threshold, their percentage and the mean row MAV;
the flagged rows themselves are kept for the cross-model overlap.

Only the weight matrices of the blocks are analysed (biases and layer norms are
not projection matrices; embeddings and convolutions sit outside the blocks).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from ..whisper.checkpoint import Checkpoint
from ..utils.errors import CsExtError

log = logging.getLogger(__name__)

MAV_THRESHOLD = 5e-5
PARTS = ("encoder", "decoder")
#: (column name used in tables and figures, canonical openai-whisper module inside a block)
MATRICES: Tuple[Tuple[str, str], ...] = (
    ("self_attn.q", "attn.query"), ("self_attn.k", "attn.key"),
    ("self_attn.v", "attn.value"), ("self_attn.out", "attn.out"),
    ("cross_attn.q", "cross_attn.query"), ("cross_attn.k", "cross_attn.key"),
    ("cross_attn.v", "cross_attn.value"), ("cross_attn.out", "cross_attn.out"),
    ("fc1", "mlp.0"), ("fc2", "mlp.2"),
)
_MODULE_TO_MATRIX = {module: matrix for matrix, module in MATRICES}
_MATRIX_ORDER = {matrix: i for i, (matrix, _) in enumerate(MATRICES)}
_BLOCK_WEIGHT_RE = re.compile(r"^(encoder|decoder)\.blocks\.(\d+)\.(.+)\.weight$")

Key = Tuple[str, int, str]  # (part, layer, matrix)


@dataclasses.dataclass
class MatrixMav:
    """MAV statistics of one projection matrix; `flagged` marks the rows above the threshold."""
    rows: int
    above: int
    mean_mav: float
    flagged: torch.Tensor  # bool, shape (rows,)

    @property
    def pct(self) -> float:
        return 100.0 * self.above / self.rows if self.rows else 0.0


def analysed_tensors(names) -> List[Tuple[Key, str]]:
    """[((part, layer, matrix), canonical tensor name)] for the block projection weights among
    `names`, ordered by part (encoder first), layer, then the MATRICES column order."""
    found = []
    for name in names:
        m = _BLOCK_WEIGHT_RE.match(name)
        if m and m.group(3) in _MODULE_TO_MATRIX:
            found.append(((m.group(1), int(m.group(2)), _MODULE_TO_MATRIX[m.group(3)]), name))
    found.sort(key=lambda kn: (PARTS.index(kn[0][0]), kn[0][1], _MATRIX_ORDER[kn[0][2]]))
    return found


def layer_counts(keys) -> Dict[str, int]:
    """{part: number of blocks} from analysed keys (0 when a part has none)."""
    out = {p: 0 for p in PARTS}
    for part, layer, _ in keys:
        out[part] = max(out[part], layer + 1)
    return out


def row_mav(delta: torch.Tensor) -> torch.Tensor:
    """mean_j |delta[i, j]| for each row i (axes after the first are flattened; a 1-D
    tensor is one row)."""
    t = delta.reshape(1, -1) if delta.dim() <= 1 else delta.reshape(delta.shape[0], -1)
    return t.abs().mean(dim=1)


def matrix_mav(base: torch.Tensor, model: torch.Tensor, threshold: float = MAV_THRESHOLD) -> MatrixMav:
    """MatrixMav of one pair of tensors; math in fp32 whatever the stored dtypes."""
    mav = row_mav(model.float() - base.float())
    flagged = mav > threshold  # "exceeds": strictly above
    return MatrixMav(rows=int(mav.numel()), above=int(flagged.sum()), mean_mav=float(mav.mean()),
                     flagged=flagged)


def open_checkpoint(spec: str | os.PathLike) -> Checkpoint:
    """A checkpoint file in any merge format (whisper .pt, ESPnet .pth, HF safetensors) or any
    spec `espnet_cs_ext.whisper.resolve_checkpoint` accepts ('base', a CTranslate2 dir, ...)."""
    spec = str(spec)
    if os.path.isfile(spec):
        return Checkpoint(spec)
    from ..whisper import resolve_checkpoint

    return Checkpoint(str(resolve_checkpoint(spec)))


def check_compatible(label: str, model: Checkpoint, base: Checkpoint, tensors: Sequence[Tuple[Key, str]]) -> None:
    """Shapes and presence of every analysed tensor; a CsExtError names the model and tensor."""
    who = f"fine-tuned model '{label}' ({model.path})"
    for _, name in tensors:
        if name not in model.infos:
            raise CsExtError(f"{who} lacks tensor {name!r} that the base {base.path} has: "
                             f"not fine-tuned from this base")
        if model.infos[name].shape != base.infos[name].shape:
            raise CsExtError(f"{who}: tensor {name!r} has shape {tuple(model.infos[name].shape)} but "
                             f"{tuple(base.infos[name].shape)} in the base {base.path}: not fine-tuned "
                             f"from this base")
    extra = [n for _, n in analysed_tensors(model.infos) if n not in base.infos]
    if extra:
        raise CsExtError(f"{who} has tensor {extra[0]!r} (and {len(extra) - 1} more) that the base "
                         f"{base.path} lacks: not fine-tuned from this base")


CS_MAV_HINT = "pass --allow-different-base to analyse it anyway"


def model_mav(label: str, model: Checkpoint, base: Checkpoint, threshold: float = MAV_THRESHOLD,
              check_base: bool = True, hint: Optional[str] = CS_MAV_HINT) -> Dict[Key, MatrixMav]:
    """MatrixMav for every analysed matrix of `model` against `base`.

    check_base runs cs-merge's "fine-tuned from this base" test (relative change of
    the weight matrices) on the same tensors, so a model of another base of the
    same shape is refused too; `hint` ends its message (None: cs-merge's wording).
    """
    from ..merge.engine import SameBaseCheck

    tensors = analysed_tensors(base.infos)
    if not tensors:
        raise CsExtError(f"base {base.path}: no Whisper block projection matrices "
                         f"('encoder.blocks.N.attn.query.weight', ...) found")
    check_compatible(label, model, base, tensors)
    if model.infos[tensors[0][1]].dtype.itemsize < base.infos[tensors[0][1]].dtype.itemsize:
        log.warning("%s is stored in %s, the base in %s: rounding alone moves rows (by ~1e-5 for "
                    "weights of magnitude 0.05)", model.path, model.infos[tensors[0][1]].dtype,
                    base.infos[tensors[0][1]].dtype)
    same_base = (SameBaseCheck([f"fine-tuned model '{label}' ({model.path})"], base.path,
                                hint=hint)
                 if check_base else None)
    out: Dict[Key, MatrixMav] = {}
    for key, name in tensors:
        b, m = base.read(name).float(), model.read(name).float()
        if not bool(torch.isfinite(m.sum())):
            raise CsExtError(f"fine-tuned model '{label}' ({model.path}): tensor {name!r} has non-finite "
                             f"values (NaN/Inf)")
        if same_base is not None:
            same_base.add(name, b, [m])
        out[key] = matrix_mav(b, m, threshold)
    if same_base is not None:
        same_base.verify()
    return out


def rows_of(label: str, result: Dict[Key, MatrixMav]) -> Iterator[Dict[str, object]]:
    """mav.tsv rows of one model, in analysis order."""
    for (part, layer, matrix), r in result.items():
        yield {"model": label, "part": part, "layer": layer, "matrix": matrix, "rows": r.rows,
               "rows_above": r.above, "pct_above": r.pct, "mean_mav": r.mean_mav}


def part_means(result: Dict[Key, MatrixMav]) -> Dict[str, Optional[float]]:
    """Mean pct_above over the (layer, matrix) cells of each part and over all cells ('all')."""
    cells: Dict[str, List[float]] = {p: [] for p in PARTS}
    for (part, _, _), r in result.items():
        cells[part].append(r.pct)
    out = {p: (sum(v) / len(v) if v else None) for p, v in cells.items()}
    every = [x for v in cells.values() for x in v]
    out["all"] = sum(every) / len(every) if every else None
    return out
