"""After distributed training, check that every rank holds the same parameters.

DDP keeps replicas equal only if every rank applies the same all-reduced gradients;
a buffer updated locally, a parameter that skips the reducer or a rank-dependent
branch makes them drift silently, and only rank 0's copy is saved. So at the end of
`Trainer.run` each rank logs a SHA-256 of its state_dict and the ranks compare them:

    rank_check: rank 1/2 state_dict sha256 3f9c... (all 2 ranks agree)

A mismatch raises RuntimeError naming the ranks. Single-process runs are untouched.
`RankCheckedASRTask` is what `espnet_cs_ext.bin.asr_train` runs.
"""
from __future__ import annotations

import hashlib
import os
import sys
from typing import Mapping

import espnet_cs_ext.plugin  # noqa: F401  (registers whisper_cs, also in spawned workers)
from espnet2.tasks.asr import ASRTask
from espnet2.train.trainer import Trainer


def state_digest(state: Mapping[str, "object"]) -> str:
    """SHA-256 over (name, dtype, shape, bytes) of every tensor, in name order."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_ranks_agree(model) -> str:
    """All-gather each rank's digest; raise if any differs from rank 0's. Returns it."""
    import torch.distributed as dist

    digest = state_digest(model.state_dict())
    rank, world = dist.get_rank(), dist.get_world_size()
    digests = [None] * world
    dist.all_gather_object(digests, digest)
    odd = [r for r, d in enumerate(digests) if d != digests[0]]
    if odd:
        raise RuntimeError(f"DDP ranks diverged: ranks {odd} hold other parameters than rank 0 "
                           f"({', '.join(f'{r}:{d[:12]}' for r, d in enumerate(digests))})")
    # not logging: ESPnet sets ranks other than 0 to level ERROR. One os.write per line,
    # so lines of ranks sharing a stderr pipe do not interleave.
    sys.stderr.flush()
    os.write(2, f"rank_check: rank {rank}/{world} state_dict sha256 {digest} (all {world} ranks agree)\n".encode())
    return digest


class RankCheckedTrainer(Trainer):
    """ESPnet's Trainer; after `run`, distributed ranks prove they hold the same weights."""

    @classmethod
    def run(cls, *args, **kwargs) -> None:
        super().run(*args, **kwargs)
        option = kwargs.get("distributed_option")
        if option is not None and option.distributed:
            check_ranks_agree(kwargs["model"])


class RankCheckedASRTask(ASRTask):
    """ASRTask with RankCheckedTrainer. Module level, so ESPnet's spawn mode can pickle it."""

    trainer = RankCheckedTrainer

    @classmethod
    def main_worker(cls, args) -> None:
        if getattr(args, "use_deepspeed", False):
            # ESPnet accepts DeepSpeed only with its default Trainer class
            return ASRTask.main_worker(args)
        return super().main_worker(args)
