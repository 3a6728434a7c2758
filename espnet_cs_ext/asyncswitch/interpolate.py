"""AsyncSwitch's last step: interpolate the fine-tuned model with the original Whisper.

    theta = theta_whisper + ratio * (theta_finetuned - theta_whisper)
          = (1 - ratio) * theta_whisper + ratio * theta_finetuned

`ratio` weights the FINE-TUNED model (`torch.lerp(base, ft, ratio)` in
espnet_cs_ext/merge/methods.py): ratio 0 returns the original Whisper exactly, 1 the
fine-tuned model. The paper's 0.4 keeps 60 % of the original weights. The work is done
by `cs-merge` (merge method `interpolate`) from a YAML written beside the output.
"""
from __future__ import annotations

from pathlib import Path

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError

SWEEP = (0.2, 0.4, 0.6, 0.8)


def ratio_name(r: float) -> str:
    """0.4 -> '0.4' (the interp_<r> directory name)."""
    return f"{r:g}"


def parse_ratios(text: str) -> list:
    try:
        rs = [float(x) for x in str(text).replace(",", " ").split()]
    except ValueError:
        raise CsExtError(f"ratios must be numbers in [0, 1], got {text!r}") from None
    if not rs or any(not 0.0 <= r <= 1.0 for r in rs):
        raise CsExtError(f"ratios must be numbers in [0, 1], got {text!r}")
    return sorted(set(rs))


def write_config(base: str, finetuned: str, ratio: float, path: Path, output_format: str = "whisper") -> Path:
    import yaml

    from ..whisper import resolve_checkpoint

    cfg = {"merge_method": "interpolate", "base_model": str(resolve_checkpoint(base)),
           "models": [{"model": str(finetuned)}], "parameters": {"ratio": float(ratio)},
           "output_format": output_format}
    with atomic_open(path) as f:
        f.write(f"# AsyncSwitch interpolation: original Whisper ({base}) + {ratio:g} * (fine-tuned - original)\n")
        yaml.safe_dump(cfg, f, sort_keys=False)
    return path


def interpolate(base: str, finetuned: str | Path, ratio: float, out_dir: str | Path,
                output_format: str = "whisper", progress: bool = False) -> Path:
    """Write OUT/interpolate.yaml and OUT/model.pt (cs-merge `interpolate`); return model.pt."""
    from ..merge import load_config, merge_checkpoints

    out = Path(out_dir)
    cfg_path = write_config(base, str(finetuned), ratio, out / "interpolate.yaml", output_format)
    model = out / ("model.pt" if output_format == "whisper" else "model.pth")
    merge_checkpoints(load_config(str(cfg_path)), model, progress=progress)
    return model
