"""Domain-generalisation training: each language pair is a domain (issue 7).

    from espnet_cs_ext.dg import build_algorithm, ALGORITHMS
    algo = build_algorithm("fish", model, optimizer, loss_fn, {"meta_lr": 0.5})
    stats = algo.update({"ko-en": batch_a, "ja-en": batch_b})   # one step -> floats

Algorithms (one file each, paper in the docstring, HPARAMS with defaults): erm, fish,
fishr, gga, gga_l, mldg. They are plain torch; ESPnet is plugged in by `dg.trainer`
(DGTrainer, a Trainer subclass) and `dg.task` (DGASRTask: --dg_algorithm, --dg_conf,
--dg_domains), run through `python -m espnet_cs_ext.bin.asr_train_dg`.
"""
from .base import Algorithm, DGConfigError
from .registry import ALGORITHMS, build_algorithm, get_algorithm, resolve_config

__all__ = ["ALGORITHMS", "Algorithm", "DGConfigError", "build_algorithm", "get_algorithm", "resolve_config"]
