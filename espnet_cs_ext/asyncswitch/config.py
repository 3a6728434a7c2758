"""Stage A hyper-parameters: YAML -> `StageAConfig` (unknown keys are refused).

    steps: 300              # optimizer updates
    batch_size: 16          # sentences per update
    lr: 1.0e-4              # peak learning rate (AdamW)
    min_lr: 0.0             # end of the cosine decay
    warmup_steps: 30        # linear warmup from 0, then cosine to min_lr (as the recipe's
                            # cosineannealingwarmuprestarts configs)
    weight_decay: 0.0
    grad_clip: 1.0          # max global grad norm (0: off)
    lsm_weight: 0.1         # label smoothing, as model_conf.lsm_weight of the ESPnet stages
    cleaner: whisper_basic  # text cleaner of the ESPnet stages (or none)
    task: transcribe
    encoder_frames: null    # length of the zero encoder output; null = the model's n_audio_ctx
    checkpoint_every: 50    # resume points (plus the last step)
    log_every: 10
    seed: 0
    device: cpu             # cpu | cuda | auto
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping, Optional

from ..utils.errors import CsExtError


@dataclasses.dataclass
class StageAConfig:
    steps: int = 300
    batch_size: int = 16
    lr: float = 1.0e-4
    min_lr: float = 0.0
    warmup_steps: int = 30
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    lsm_weight: float = 0.1
    cleaner: str = "whisper_basic"
    task: str = "transcribe"
    encoder_frames: Optional[int] = None
    checkpoint_every: int = 50
    log_every: int = 10
    seed: int = 0
    device: str = "cpu"

    def validate(self, source: str = "stage A config") -> "StageAConfig":
        def need(cond, msg):
            if not cond:
                raise CsExtError(f"{source}: {msg}")
        for k in ("steps", "batch_size", "checkpoint_every", "log_every"):
            need(isinstance(getattr(self, k), int) and getattr(self, k) > 0, f"{k} must be a positive integer")
        need(isinstance(self.warmup_steps, int) and 0 <= self.warmup_steps <= self.steps,
             "warmup_steps must be an integer in [0, steps]")
        for k in ("lr", "min_lr", "weight_decay", "grad_clip", "lsm_weight"):
            v = getattr(self, k)
            need(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0, f"{k} must be a number >= 0")
            setattr(self, k, float(v))
        need(self.lr > 0 and self.min_lr <= self.lr, "need 0 <= min_lr <= lr and lr > 0")
        need(self.lsm_weight < 1, "lsm_weight must be < 1")
        need(self.encoder_frames is None or (isinstance(self.encoder_frames, int) and self.encoder_frames > 0),
             "encoder_frames must be null or a positive integer")
        need(self.device in ("cpu", "cuda", "auto"), "device must be cpu, cuda or auto")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def config_from_dict(d: Mapping[str, Any], source: str = "stage A config") -> StageAConfig:
    if not isinstance(d, Mapping):
        raise CsExtError(f"{source}: expected a mapping of stage A options, got {type(d).__name__}")
    fields = {f.name for f in dataclasses.fields(StageAConfig)}
    unknown = sorted(set(d) - fields)
    if unknown:
        raise CsExtError(f"{source}: unknown option(s) {unknown}; valid: {sorted(fields)}")
    return StageAConfig(**dict(d)).validate(source)


def load_config(path: str) -> StageAConfig:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise CsExtError(f"stage A config not found: {path}")
    try:
        d = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise CsExtError(f"{path}: not valid YAML: {e}") from None
    return config_from_dict(d, source=str(path))


def lr_factor(step: int, steps: int, warmup: int, lr: float, min_lr: float) -> float:
    """LR multiplier for update `step` (0-based): linear warmup to 1, cosine to min_lr/lr."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(steps - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    floor = min_lr / lr
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
