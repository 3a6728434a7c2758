"""Merging fine-tuned Whisper checkpoints that share one base model.

Library (torch only; importing this never imports espnet2):

    from espnet_cs_ext.merge import load_config, merge_checkpoints, merge_tensors, METHODS
    merge_checkpoints(load_config("conf/merge/ties.yaml"), "exp/merged/ties.pt")
    merge_tensors("ties", base, [ft1, ft2], [{"density": 0.2}] * 2)   # one tensor

Command line: `cs-merge CONFIG.yaml OUT` (`cs-merge --list` for the methods).
Task-vector statistics for the MAV study: `espnet_cs_ext.analysis.task_vectors`.

Modules: parts (sparsifiers, sign consensus, SVD), methods (registry), formats
(checkpoint naming/containers and key mapping), config (YAML), engine (streaming
merge), analysis (per-tensor statistics).
"""
from .config import Filters, MergeConfig, ModelSpec, config_from_dict, load_config
from .engine import MergeReport, merge_checkpoints, sidecar_path, tensor_kind
from .formats import (Checkpoint, detect_naming, from_canonical, load_state_dict, save_state_dict,
                      to_canonical)
from .methods import METHODS, MergeMethod, TensorContext, get_method, merge_tensors, register

__all__ = [
    "METHODS", "MergeMethod", "TensorContext", "get_method", "merge_tensors", "register",
    "MergeConfig", "ModelSpec", "Filters", "config_from_dict", "load_config",
    "merge_checkpoints", "MergeReport", "sidecar_path", "tensor_kind",
    "Checkpoint", "detect_naming", "to_canonical", "from_canonical", "load_state_dict", "save_state_dict",
]
