"""Which parameters each AsyncSwitch stage trains: the one place that decides it.

AsyncSwitch (arXiv 2506.14190, section III-B) trains, in order:

    A  decoder self-attention, feed-forward and output projection on text only
       (encoder output replaced by zeros; encoder and cross-attention frozen)
    B  cross-attention only, on paired speech
    C  everything

Whisper ties its output projection to the token embedding (logits = x @ E^T), so
"output projection" *is* `decoder.token_embedding`; stage A trains it, and with it
the final decoder layer norm `decoder.ln` that feeds it. Each sub-layer's own layer
norm goes with its sub-layer (`attn_ln` -> self-attention, `cross_attn_ln` ->
cross-attention, `mlp_ln` -> FFN). The decoder's learned positional embedding is not
in the paper's list: it stays frozen until stage C.

Names may be openai-whisper's (`decoder.blocks.0.attn.query.weight`) or ESPnet's
(`decoder.decoders.blocks.0.attn.query.weight`); both map to the same group. Names
outside Whisper (ESPnet `ctc.*`) are `other`: trained in C only.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Dict, Iterable, List, Mapping, Sequence, Tuple, Union

from ..utils.errors import CsExtError

if TYPE_CHECKING:  # annotations only: importing this module must not import torch
    import torch

#: group -> what it is (the order is the summary's order)
GROUPS: Dict[str, str] = {
    "encoder": "audio encoder (conv, blocks, ln_post)",
    "self_attn": "decoder self-attention + attn_ln",
    "cross_attn": "decoder cross-attention + cross_attn_ln",
    "ffn": "decoder feed-forward (mlp) + mlp_ln",
    "output": "token embedding = tied output projection",
    "final_ln": "decoder final layer norm (feeds the output projection)",
    "pos_embedding": "decoder learned positional embedding",
    "other": "non-Whisper parameters (e.g. ESPnet ctc)",
}

#: stage -> trainable groups (paper section III-B)
STAGE_GROUPS: Dict[str, frozenset] = {
    "A": frozenset({"self_attn", "ffn", "output", "final_ln"}),
    "B": frozenset({"cross_attn"}),
    "C": frozenset(GROUPS),
}
STAGES = tuple(STAGE_GROUPS)

_BLOCK = re.compile(r"^decoder\.blocks\.\d+\.([a-z_]+)")
_SUBLAYER = {"attn": "self_attn", "attn_ln": "self_attn", "cross_attn": "cross_attn",
             "cross_attn_ln": "cross_attn", "mlp": "ffn", "mlp_ln": "ffn"}
_TOP = {"decoder.token_embedding": "output", "decoder.ln": "final_ln",
        "decoder.positional_embedding": "pos_embedding"}


def canonical(name: str) -> str:
    """ESPnet model name -> openai-whisper name (`decoder.decoders.x` -> `decoder.x`)."""
    from ..whisper.checkpoint import is_extra, to_canonical  # the one key mapping

    mapped = to_canonical("espnet", name)
    return name if is_extra(mapped) else mapped


def group_of(name: str) -> str:
    """The group of one parameter name (whisper or ESPnet naming)."""
    c = canonical(name)
    if c.startswith("encoder."):
        return "encoder"
    m = _BLOCK.match(c)
    if m:
        if m.group(1) not in _SUBLAYER:
            raise CsExtError(f"parameter {name!r}: unknown decoder block part {m.group(1)!r} "
                             f"(expected one of {sorted(_SUBLAYER)})")
        return _SUBLAYER[m.group(1)]
    for prefix, group in _TOP.items():
        if c == prefix or c.startswith(prefix + "."):
            return group
    if c.startswith("decoder."):
        raise CsExtError(f"parameter {name!r}: not a known Whisper decoder tensor")
    return "other"


def _check_stage(stage: str) -> str:
    s = str(stage).upper()
    if s not in STAGE_GROUPS:
        raise CsExtError(f"unknown AsyncSwitch stage {stage!r} (expected one of {', '.join(STAGES)})")
    return s


NamedSizes = Union["torch.nn.Module", Mapping[str, int], Iterable[Tuple[str, int]]]


#: tensors of a Whisper state dict that are buffers, not parameters (never trained)
BUFFERS = frozenset({"encoder.positional_embedding"})


def named_sizes(model: NamedSizes) -> List[Tuple[str, int]]:
    """(name, numel) of a module's parameters, or of a {name: numel|tensor} mapping
    (a state dict: its buffers are left out)."""
    if hasattr(model, "named_parameters"):
        return [(n, p.numel()) for n, p in model.named_parameters()]
    items = model.items() if isinstance(model, Mapping) else model
    return [(n, v if isinstance(v, int) else int(v.numel())) for n, v in items
            if canonical(n) not in BUFFERS]


def trainable_names(model: NamedSizes, stage: str) -> List[str]:
    """Names of the parameters that `stage` (A, B or C) trains, in model order."""
    groups = STAGE_GROUPS[_check_stage(stage)]
    return [n for n, _ in named_sizes(model) if group_of(n) in groups]


def apply_stage(model, stage: str) -> List[str]:
    """Set requires_grad on a module for `stage`; return the trainable names."""
    names = set(trainable_names(model, stage))
    if not names:
        raise CsExtError(f"stage {stage}: no trainable parameters found in the model")
    for n, p in model.named_parameters():
        p.requires_grad_(n in names)
    return [n for n, _ in model.named_parameters() if n in names]


def summary(model: NamedSizes, stage: str) -> str:
    """Table: per group the tensor count, parameter count and whether `stage` trains it."""
    stage = _check_stage(stage)
    counts = {g: [0, 0] for g in GROUPS}
    for n, size in named_sizes(model):
        c = counts[group_of(n)]
        c[0] += 1
        c[1] += size
    train = STAGE_GROUPS[stage]
    lines = [f"AsyncSwitch stage {stage}: trainable parameter groups",
             f"  {'group':<14}{'tensors':>8}{'params':>13}  trainable  what"]
    tot = [0, 0, 0, 0]
    for g, what in GROUPS.items():
        t, p = counts[g]
        if t == 0:
            continue
        yes = g in train
        lines.append(f"  {g:<14}{t:>8}{p:>13,}  {'yes' if yes else 'no':<9}  {what}")
        tot[0] += t
        tot[1] += p
        if yes:
            tot[2] += t
            tot[3] += p
    lines.append(f"  {'total':<14}{tot[0]:>8}{tot[1]:>13,}  trainable: {tot[2]} tensors, "
                 f"{tot[3]:,} params ({100.0 * tot[3] / max(tot[1], 1):.1f}%)")
    return "\n".join(lines)


def freeze_prefixes(names: Sequence[str], trainable: Iterable[str]) -> List[str]:
    """Fewest dotted prefixes that cover every frozen name and no trainable one.

    For ESPnet's `--freeze_param`, which freezes `k` when `k == t or k.startswith(t + ".")`.
    """
    train = set(trainable)
    unknown = train - set(names)
    if unknown:
        raise CsExtError(f"trainable names not in the model: {sorted(unknown)[:5]}")
    # Mark every dotted prefix that has a trainable name below it.
    mixed = set()
    for n in train:
        parts = n.split(".")
        for i in range(1, len(parts) + 1):
            mixed.add(".".join(parts[:i]))
    out: List[str] = []
    seen = set()
    for n in names:
        if n in train:
            continue
        parts = n.split(".")
        for i in range(1, len(parts) + 1):
            p = ".".join(parts[:i])
            if p not in mixed:
                if p not in seen:
                    seen.add(p)
                    out.append(p)
                break
    return out


def is_frozen_by(name: str, prefixes: Iterable[str]) -> bool:
    """ESPnet's --freeze_param rule."""
    return any(name == t or name.startswith(t + ".") for t in prefixes)
