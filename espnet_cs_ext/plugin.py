"""Register the plugin's components into ESPnet's ASR task (import for the side effect).

    import espnet_cs_ext.plugin   # then --encoder whisper_cs --decoder whisper_cs work

ESPnet has no plugin entry points: components are chosen by name from module-level
ClassChoices, so registration adds entries there before any parser is built. It runs
at import time because ESPnet's multiprocessing uses spawn, and each process that
builds a model must import this module first (our bin/ entry points do).
"""
from __future__ import annotations

ENCODERS = {"whisper_cs": "espnet_cs_ext.espnet.whisper_cs:WhisperCSEncoder"}
DECODERS = {"whisper_cs": "espnet_cs_ext.espnet.whisper_cs:WhisperCSDecoder"}


def _load(ref: str):
    import importlib

    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def register() -> None:
    """Add our encoders/decoders to espnet2.tasks.asr's ClassChoices (idempotent)."""
    from espnet2.tasks import asr

    for name, ref in ENCODERS.items():
        asr.encoder_choices.classes[name] = _load(ref)
    for name, ref in DECODERS.items():
        asr.decoder_choices.classes[name] = _load(ref)


register()
