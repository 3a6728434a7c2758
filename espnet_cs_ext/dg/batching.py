"""Per-domain minibatches: a balanced sampler over utt2category and a batch splitter.

Each step needs one minibatch per domain (language pair). ESPnet's `category`
iterator (catbel) caps utterances per category in a batch but neither guarantees that
every category is present nor equalises how often small categories are drawn, so the
DG task uses `DomainBalancedBatches`: every batch holds exactly `per_domain`
utterances of every domain; each domain is reshuffled and cycled independently, so a
small domain (JECS: 582 utterances) is repeated as often as needed to keep pace with
the largest. Plain Python + torch; ESPnet wraps it as a sampler in `dg.task`.
"""
from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch

from .base import DGConfigError


def read_table(path: Path) -> Dict[str, str]:
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(maxsplit=1)
            if parts:
                out[parts[0]] = parts[1] if len(parts) > 1 else ""
    return out


def check_domains(utt2category: Mapping[str, str], keys: Iterable[str], algorithm: str,
                  min_domains: int, batch_size: int, expected: Optional[Sequence[str]] = None,
                  where: str = "training data") -> Dict[str, List[str]]:
    """domain -> utterances of the training keys, or a DGConfigError saying what is wrong.

    Errors: a key without a category; an expected domain (--dg_domains, category2utt)
    with no utterance; fewer than `min_domains` domains; a batch too small to hold
    one utterance per domain.
    """
    domain2utts: Dict[str, List[str]] = {}
    missing = []
    for k in keys:
        cat = utt2category.get(k)
        if not cat:
            missing.append(k)
        else:
            domain2utts.setdefault(cat, []).append(k)
    if missing:
        raise DGConfigError(f"{len(missing)} utterance(s) of the {where} have no category in utt2category "
                            f"(e.g. {missing[:3]}); every utterance needs its language pair")
    for d in expected or ():
        if not domain2utts.get(d):
            raise DGConfigError(f"domain {d!r} has no utterances in the {where} "
                                f"(domains with data: {sorted(domain2utts) or 'none'})")
    if len(domain2utts) < min_domains:
        raise DGConfigError(f"dg_algorithm {algorithm!r} needs at least {min_domains} domains (language pairs) "
                            f"in utt2category, found {len(domain2utts)}: {sorted(domain2utts)}")
    if batch_size < len(domain2utts):
        raise DGConfigError(f"batch_size {batch_size} cannot hold one utterance from each of the "
                            f"{len(domain2utts)} domains {sorted(domain2utts)}")
    return {d: domain2utts[d] for d in sorted(domain2utts)}


class DomainBalancedBatches:
    """Batches of `per_domain` utterances from every domain, concatenated in domain order.

    `generate(seed)` returns one pass: ceil(largest domain / per_domain) batches, so the
    largest domain is seen once and smaller ones are cycled (reshuffled per cycle).
    """

    def __init__(self, domain2utts: Mapping[str, Sequence[str]], per_domain: int, seed: int = 0):
        if per_domain < 1:
            raise DGConfigError(f"per-domain batch size must be >= 1, got {per_domain}")
        empty = [d for d, u in domain2utts.items() if not u]
        if empty:
            raise DGConfigError(f"domain(s) {empty} have no utterances")
        self.domain2utts = {d: list(domain2utts[d]) for d in sorted(domain2utts)}
        self.per_domain = int(per_domain)
        self.seed = int(seed)
        self.n_batches = max(math.ceil(len(u) / self.per_domain) for u in self.domain2utts.values())

    def __len__(self) -> int:
        return self.n_batches

    def generate(self, seed: int) -> List[Tuple[str, ...]]:
        need = self.n_batches * self.per_domain
        streams = {}
        for i, (d, utts) in enumerate(self.domain2utts.items()):
            rng = random.Random(f"{seed}:{d}")
            stream: List[str] = []
            while len(stream) < need:
                cycle = list(utts)
                rng.shuffle(cycle)
                stream += cycle
            streams[d] = stream[:need]
        return [tuple(u for d in streams for u in streams[d][b * self.per_domain:(b + 1) * self.per_domain])
                for b in range(self.n_batches)]

    def __iter__(self):
        return iter(self.generate(self.seed))


def split_by_domain(batch: Mapping[str, object], utt_ids: Sequence[str],
                    utt2category: Mapping[str, str]) -> Dict[str, Dict[str, object]]:
    """Split a collated ESPnet batch (dict of padded tensors) into one batch per domain.

    Tensors with a `<name>_lengths` companion are re-trimmed to the domain's longest
    item; other tensors are row-selected; `utt_id` becomes the domain's ids.
    """
    groups: Dict[str, List[int]] = {}
    for i, u in enumerate(utt_ids):
        cat = utt2category.get(u)
        if cat is None:
            raise DGConfigError(f"utterance {u!r} has no category in utt2category")
        groups.setdefault(cat, []).append(i)
    out = {}
    for d in sorted(groups):
        idx = groups[d]
        sub: Dict[str, object] = {}
        for k, v in batch.items():
            if k == "utt_id":
                continue
            if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == len(utt_ids):
                index = torch.tensor(idx, device=v.device)
                x = v.index_select(0, index)
                lens = batch.get(f"{k}_lengths")
                if isinstance(lens, torch.Tensor) and x.dim() > 1:
                    x = x[:, : int(lens.index_select(0, index.to(lens.device)).max())]
                sub[k] = x
            else:
                sub[k] = v
        sub["utt_id"] = [utt_ids[i] for i in idx]
        out[d] = sub
    return out
