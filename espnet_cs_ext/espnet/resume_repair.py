"""Finish the epoch a kill interrupted before `--resume true` goes on from it.

At the end of each epoch ESPnet's Trainer.run writes `checkpoint.pth` first, then
`<N>epoch.pth`, the `latest.pth` and `*.best.pth` links, and then removes the epoch
files that left the n-best. A kill between those steps (found by the kill/resume table
in tests/recipe) resumes from epoch N with no `<N>epoch.pth`: `latest.pth` still names
epoch N-1, `valid.loss.best.pth` links to a file that was never written, and the final
n-best averaging reads the wrong epochs or fails.

`install()` wraps `Trainer.resume`: once ESPnet has loaded the checkpoint, rank 0 redoes
those end-of-epoch steps for the checkpoint's epoch, as ESPnet does them: it writes
`<N>epoch.pth` when missing and resets the links and the n-best set (idempotent when
nothing was interrupted). The options come from `Trainer.run`, wrapped to hand them over.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from espnet2.train.trainer import Trainer

_ORIGINAL_RUN = Trainer.run.__func__
_ORIGINAL_RESUME = Trainer.resume
_running: dict = {}  # trainer_options and distributed_option of the Trainer.run in progress


def _relink(link: Path, target: str) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def finish_epoch(output_dir: Path, model, reporter, options) -> Optional[Path]:
    """ESPnet's end-of-epoch steps 5-6 for the reporter's epoch; return the epoch file if written."""
    import torch

    epoch = reporter.get_epoch()
    if epoch < 1:
        return None
    epoch_file = output_dir / f"{epoch}epoch.pth"
    written = None
    if not epoch_file.exists():
        if getattr(options, "use_adapter", False) and getattr(options, "save_strategy", "all") != "all":
            # ESPnet saved a filtered state dict; rebuilding that filter here would be a guess
            logging.warning("resume_repair: %s is missing and cannot be rebuilt with save_strategy=%s",
                            epoch_file, options.save_strategy)
            return None
        torch.save(model.state_dict(), epoch_file)
        written = epoch_file
        logging.info("resume_repair: the kill came before %s; written from %s/checkpoint.pth",
                     epoch_file.name, output_dir)
    _relink(output_dir / "latest.pth", epoch_file.name)
    criteria = [(ph, k, m) for ph, k, m in options.best_model_criterion if reporter.has(ph, k)]
    for phase, key, mode in criteria:
        if reporter.get_best_epoch(phase, key, mode) == epoch:
            _relink(output_dir / f"{phase}.{key}.best.pth", epoch_file.name)
    keep = options.keep_nbest_models
    keep = max(keep) if isinstance(keep, (list, tuple)) else keep
    nbests = set().union(*[set(reporter.sort_epochs(ph, k, m)[:keep]) for ph, k, m in criteria])
    interval = getattr(options, "nbest_averaging_interval", 0)
    if interval > 0 and epoch % interval == 0:
        from espnet2.main_funcs.average_nbest_models import average_nbest_models

        average_nbest_models(reporter=reporter, output_dir=output_dir,
                             best_model_criterion=options.best_model_criterion,
                             nbest=options.keep_nbest_models, suffix=f"till{epoch}epoch")
    for e in range(1, epoch):
        stale = output_dir / f"{e}epoch.pth"
        if stale.exists() and e not in nbests:
            stale.unlink()
    return written


def _run(cls, *args, **kwargs):
    _running.update(trainer_options=kwargs.get("trainer_options"),
                    distributed_option=kwargs.get("distributed_option"))
    try:
        return _ORIGINAL_RUN(cls, *args, **kwargs)
    finally:
        _running.clear()


def _resume(checkpoint, model, reporter, *args, **kwargs):
    _ORIGINAL_RESUME(checkpoint, model, reporter, *args, **kwargs)
    options, dist = _running.get("trainer_options"), _running.get("distributed_option")
    if options is None:
        return  # resume called outside Trainer.run: nothing to finish
    if dist is not None and dist.distributed and dist.dist_rank != 0:
        return  # ESPnet writes epoch files on rank 0 only
    finish_epoch(Path(checkpoint).parent, model, reporter, options)


def install() -> None:
    """Wrap Trainer.run and Trainer.resume (every subclass that does not override them)."""
    if Trainer.resume is _resume:
        return
    Trainer.run = classmethod(_run)
    Trainer.resume = staticmethod(_resume)
