"""DGTrainer: ESPnet's Trainer with `train_one_epoch` driven by a DG algorithm.

Each batch from the (domain-balanced, see `dg.task`) iterator is split by
utt2category into one minibatch per domain and handed to the algorithm's
`update(minibatches_by_domain)`, which runs its own forward/backward passes, clips
and steps ESPnet's optimizer. The trainer keeps ESPnet's bookkeeping: per-step batch
schedulers, the reporter (so every returned float - per-domain losses, penalties,
pairwise gradient cosines - lands in train.log and TensorBoard), optimizer lr logging.
Validation, checkpoints, resume and model selection are ESPnet's, unchanged.

Not supported (refused before training by `dg.task`): AMP, accum_grad > 1,
multi-GPU/distributed training.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path
from typing import Dict, Optional

import torch
from espnet2.schedulers.abs_scheduler import AbsBatchStepScheduler
from espnet2.torch_utils.device_funcs import to_device
from espnet2.train.trainer import Trainer, TrainerOptions
from espnet2.utils.build_dataclass import build_dataclass
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import str_or_none

from .batching import read_table, split_by_domain
from .registry import build_algorithm


@dataclasses.dataclass
class DGTrainerOptions(TrainerOptions):
    dg_algorithm: str
    dg_conf: dict
    dg_utt2category: Optional[str]  # set by DGASRTask from the training data dir


def espnet_loss(model: torch.nn.Module, batch: Dict[str, object]):
    """The DG loss contract over an ESPnet model: (batch-mean loss, stats as floats)."""
    retval = model(**batch)
    if isinstance(retval, dict):
        loss, stats = retval["loss"], retval["stats"]
    else:
        loss, stats, _ = retval
    return loss, {k: float(v) for k, v in stats.items() if v is not None and k != "loss"}


class DGTrainer(Trainer):
    """Trainer whose optimisation step is one DG `update` over per-domain minibatches."""

    # ESPnet's Trainer is all classmethods, so the (algorithm, utt2category) pair that must
    # live across epochs is kept on the model object itself: it dies with the model.
    _STATE_ATTR = "_cs_ext_dg_state"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser):
        from .registry import ALGORITHMS

        group = parser.add_argument_group("Domain generalisation (espnet_cs_ext.dg)")
        group.add_argument("--dg_algorithm", type=str, default="erm",
                           help=f"DG algorithm, one of: {', '.join(sorted(ALGORITHMS))}")
        group.add_argument("--dg_conf", action=NestedDictAction, default=dict(),
                           help="the algorithm's hyper-parameters (unknown names are an error)")
        group.add_argument("--dg_domains", type=str_or_none, nargs="*", default=None,
                           help="domains (utt2category values) that must be present in the "
                                "training data, e.g. ko-en ja-en de-en; default: all found")
        group.add_argument("--dg_utt2category", type=str_or_none, default=None,
                           help="utt2category of the training set (default: beside the first "
                                "--train_data_path_and_name_and_type file)")

    @classmethod
    def build_options(cls, args: argparse.Namespace) -> DGTrainerOptions:
        return build_dataclass(DGTrainerOptions, args)

    @classmethod
    def _algorithm(cls, model, optimizers, options, reporter):
        state = model.__dict__.get(cls._STATE_ATTR)
        if state is None:
            if len(optimizers) != 1:
                raise RuntimeError(f"the DG trainer drives one optimizer, got {len(optimizers)}")
            algo = build_algorithm(options.dg_algorithm, model, optimizers[0], espnet_loss,
                                   options.dg_conf, grad_clip=options.grad_clip,
                                   grad_clip_type=options.grad_clip_type, seed=options.seed,
                                   step=reporter.get_total_count())
            utt2category = read_table(Path(options.dg_utt2category))
            logging.info(f"DG algorithm {options.dg_algorithm}: {algo.hparams} "
                         f"(starting at step {algo.step_count})")
            state = (algo, utt2category)
            object.__setattr__(model, cls._STATE_ATTR, state)  # a plain attribute, not a submodule
        return state

    @classmethod
    def train_one_epoch(cls, model, iterator, optimizers, schedulers, scaler, reporter,
                        summary_writer, options, distributed_option) -> bool:
        if scaler is not None or distributed_option.distributed or options.accum_grad != 1:
            raise RuntimeError("the DG trainer supports neither AMP, distributed training nor accum_grad > 1")
        algo, utt2category = cls._algorithm(model, optimizers, options, reporter)
        log_interval = options.log_interval
        if log_interval is None:
            try:
                log_interval = max(len(iterator) // 20, 10)
            except TypeError:
                log_interval = 100
        device = "cuda" if options.ngpu > 0 else "cpu"
        model.train()
        all_steps_are_invalid = True
        start_time = time.perf_counter()
        for iiter, (utt_id, batch) in enumerate(reporter.measure_iter_time(iterator, "iter_time"), 1):
            assert isinstance(batch, dict), type(batch)
            batch = to_device(batch, device)
            if options.no_forward_run:
                all_steps_are_invalid = False
                continue
            mbs = split_by_domain(batch, utt_id, utt2category)
            with reporter.measure_time("update_time"):
                stats = algo.update(mbs)
            reporter.register({k: v for k, v in stats.items()})
            if torch.isfinite(torch.tensor(stats.get("grad_norm", 0.0))):
                all_steps_are_invalid = False
            for scheduler in schedulers:
                if isinstance(scheduler, AbsBatchStepScheduler):
                    scheduler.step()
            reporter.register(dict(
                {f"optim{i}_lr{j}": pg["lr"] for i, opt in enumerate(optimizers)
                 for j, pg in enumerate(opt.param_groups) if "lr" in pg},
                train_time=time.perf_counter() - start_time,
            ))
            start_time = time.perf_counter()
            reporter.next()
            if iiter % log_interval == 0:
                logging.info(reporter.log_message(-log_interval))
                if summary_writer is not None:
                    reporter.tensorboard_add_scalar(summary_writer, -log_interval)
        return all_steps_are_invalid
