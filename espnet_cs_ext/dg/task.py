"""DGASRTask: ESPnet's ASRTask trained by DGTrainer on domain-balanced batches.

    python -m espnet_cs_ext.bin.asr_train_dg --config exp/asr_dg_fish/dg_config.yaml ...

Adds `--dg_algorithm`, `--dg_conf`, `--dg_domains`, `--dg_utt2category` (see
DGTrainer.add_arguments). Before any model is built it checks the configuration:
the algorithm name and its options, that every training utterance has a language
pair in utt2category, that each expected domain has utterances, that a DG method
sees at least two domains and that batch_size holds one utterance per domain.
Training batches come from `DomainBalancedBatches` (batch_size // n_domains
utterances of every domain per step); validation keeps ESPnet's own iterator.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import espnet_cs_ext.plugin  # noqa: F401  (registers whisper_cs)
from espnet2.iterators.sequence_iter_factory import SequenceIterFactory
from espnet2.samplers.abs_sampler import AbsSampler
from espnet2.tasks.asr import ASRTask

from .base import DGConfigError
from .batching import DomainBalancedBatches, check_domains, read_table
from .registry import get_algorithm
from .trainer import DGTrainer


class _BalancedSampler(DomainBalancedBatches, AbsSampler):
    """DomainBalancedBatches as an ESPnet sampler (`generate(seed)` reshuffles per pass)."""


def _train_keys(args: argparse.Namespace):
    """Utterance ids ESPnet will sample from: the first shape file, else the first data file."""
    src = args.train_shape_file[0] if args.train_shape_file else args.train_data_path_and_name_and_type[0][0]
    return src, list(read_table(Path(src)))


def resolve_domains(args: argparse.Namespace):
    """domain -> training utterances, after every check; raises DGConfigError."""
    cls = get_algorithm(args.dg_algorithm)
    cls.resolve_hparams(args.dg_conf)
    if not args.train_data_path_and_name_and_type:
        raise DGConfigError("no --train_data_path_and_name_and_type given")
    data_dir = Path(args.train_data_path_and_name_and_type[0][0]).parent
    if args.dg_utt2category is None:
        args.dg_utt2category = str(data_dir / "utt2category")
    u2c_path = Path(args.dg_utt2category)
    if not u2c_path.is_file():
        raise DGConfigError(f"DG training needs {u2c_path} (utterance -> language pair); "
                            "pass --dg_utt2category or put it beside the training data")
    expected = list(args.dg_domains or [])
    c2u = u2c_path.parent / "category2utt"
    if c2u.is_file():
        expected += [c for c in read_table(c2u) if c not in expected]
    src, keys = _train_keys(args)
    if not keys:
        raise DGConfigError(f"no training utterances in {src}")
    return check_domains(read_table(u2c_path), keys, args.dg_algorithm, cls.MIN_DOMAINS,
                         args.batch_size, expected, where=f"training data ({src})")


class DGASRTask(ASRTask):
    """ASRTask with the DG trainer and a domain-balanced training iterator."""

    trainer = DGTrainer

    @classmethod
    def check_required_command_args(cls, args: argparse.Namespace):
        super().check_required_command_args(args)
        get_algorithm(args.dg_algorithm).resolve_hparams(args.dg_conf)
        if args.collect_stats or args.dry_run:
            return
        problems = []
        if args.use_amp:
            problems.append("--use_amp")
        if args.accum_grad != 1:
            problems.append(f"--accum_grad {args.accum_grad}")
        if args.ngpu > 1 or args.multiprocessing_distributed or args.dist_world_size not in (None, 1):
            problems.append("multi-GPU / distributed training")
        if problems:
            raise DGConfigError(f"the DG trainer does not support {', '.join(problems)}")
        # Data checks now, before any model is built. (No logging here: ESPnet configures
        # logging later in main_worker, and a logging call now would pre-empt it.)
        resolve_domains(args)

    @classmethod
    def build_iter_factory(cls, args, distributed_option, mode, kwargs=None):
        if mode != "train" or args.collect_stats:
            return super().build_iter_factory(args, distributed_option, mode, kwargs)
        iter_options = cls.build_iter_options(args, distributed_option, mode)
        for k, v in (kwargs or {}).items():
            setattr(iter_options, k, v)
        domains = resolve_domains(args)
        per_domain = iter_options.batch_size // len(domains)
        sizes = {d: len(u) for d, u in domains.items()}
        logging.info(f"DG domains (utterances): {sizes}")
        algo = get_algorithm(args.dg_algorithm)
        total = (args.num_iters_per_epoch or 0) * args.max_epoch
        for warning in algo.schedule_warnings(algo.resolve_hparams(args.dg_conf), total):
            logging.warning(warning)
        if args.batch_type not in ("unsorted", "sorted", "folded"):
            logging.warning(f"DG training ignores --batch_type {args.batch_type}: batches hold "
                            "batch_size // n_domains utterances of every domain")
        sampler = _BalancedSampler(domains, per_domain, seed=args.seed)
        logging.info(f"[train] DG batches: {len(sampler)} per pass, {per_domain} utterance(s) from each of "
                     f"{sorted(domains)}")
        keys = {u for us in domains.values() for u in us}
        dataset = cls.build_dataset(args, iter_options, keys)
        return SequenceIterFactory(
            dataset=dataset, batches=sampler, seed=args.seed,
            num_iters_per_epoch=iter_options.num_iters_per_epoch, shuffle=True,
            num_workers=args.num_workers, collate_fn=iter_options.collate_fn, pin_memory=args.ngpu > 0,
        )
