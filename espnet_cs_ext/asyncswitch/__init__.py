"""AsyncSwitch (arXiv 2506.14190): text-only decoder adaptation, then cross-attention,
then full fine-tuning, then interpolation with the original Whisper.

    python -m espnet_cs_ext.bin.asyncswitch run --out exp/asr_asyncswitch ...   # A -> B -> C -> I

Modules: groups (which parameters each stage trains: the single source of truth),
textdata (text corpus -> Whisper decoder sequences), config + stage_a (the text-only
trainer), espnet_stages (B and C through ESPnet), interpolate (cs-merge `interpolate`),
pipeline (stages, markers, resume). Importing this package imports neither torch nor
espnet2; the functions do.
"""
from .groups import GROUPS, STAGE_GROUPS, apply_stage, freeze_prefixes, group_of, summary, trainable_names

__all__ = ["GROUPS", "STAGE_GROUPS", "apply_stage", "freeze_prefixes", "group_of", "summary", "trainable_names"]
