"""Synthetic code-switched corpus: bundled aligned sentence lists -> offline TTS per
language -> concatenated 16 kHz utterances + Kaldi data dirs (see `corpus`)."""
from .compose import generate_cs_text, load_inventory
from .corpus import prepare_synthetic

__all__ = ["generate_cs_text", "load_inventory", "prepare_synthetic"]
