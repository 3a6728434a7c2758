"""Load any model spec the decoder accepts as an openai-whisper `Whisper` (fp32, eval).

Specs:

- anything `espnet_cs_ext.whisper.resolve_checkpoint` accepts: an official name
  (`base` works offline), an openai-whisper `.pt` (also what `cs-merge` writes with the
  whisper naming), a CTranslate2 `model.bin` or its directory;
- an ESPnet model file (`exp/asr_*/valid.acc.best.pth`, or a merged one): a plain state
  dict with `encoder.encoders.*` / `decoder.decoders.*` keys. Its ctc/criterion keys are
  dropped. It holds no Whisper dimensions, so they come from, in this order:
  `dims_from` (CLI `--whisper-dims-from SPEC`, any spec above), the ESPnet `config.yaml`
  beside the file (`encoder_conf.whisper_model`), or the tensor shapes when the width
  is an official Whisper one (head size 64: 384, 512, 768, 1024, 1280);
- a `.safetensors` file in any naming `espnet_cs_ext.merge` reads (whisper, espnet, HF),
  dimensions found as for ESPnet files.

`is_pretrained(spec)` decides what `pad_to_30s: auto` means: official names and
CTranslate2 conversions are the released weights (trained on 30 s windows); every other
file is taken to be fine-tuned or merged from fine-tuned models (trained unpadded).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..utils.errors import CsExtError

log = logging.getLogger(__name__)

OFFICIAL_WIDTHS = (384, 512, 768, 1024, 1280)  # every released Whisper has 64-dim heads


def is_pretrained(spec: str) -> bool:
    """True for released Whisper weights: an official name or a CTranslate2 model."""
    from ..whisper import OFFICIAL_NAMES

    p = Path(str(spec))
    if str(spec) in OFFICIAL_NAMES and not p.exists():
        return True
    return p.name == "model.bin" or (p.is_dir() and (p / "model.bin").is_file())


def espnet_to_whisper_keys(state: Dict[str, "torch.Tensor"], source: str = "?") -> Dict[str, "torch.Tensor"]:
    """ESPnet ASR state dict -> openai-whisper names; non-Whisper keys (ctc, ...) dropped.

    The one place that knows ESPnet's naming (`encoder.encoders.X` -> `encoder.X`,
    `decoder.decoders.X` -> `decoder.X`); swap in `espnet_cs_ext.merge.formats.to_canonical`
    here if the two ever need to agree on more.
    """
    out = {}
    for key, value in state.items():
        for pre, canon in (("encoder.encoders.", "encoder."), ("decoder.decoders.", "decoder.")):
            if key.startswith(pre):
                out[canon + key[len(pre):]] = value
                break
    if not out:
        raise CsExtError(f"{source}: no encoder.encoders.* / decoder.decoders.* tensors: "
                         f"not an ESPnet Whisper model (first keys: {sorted(state)[:4]})")
    return out


def _dims_from_shapes(state: Dict[str, "torch.Tensor"], source: str) -> Dict[str, int]:
    try:
        n_audio_state = state["encoder.conv1.weight"].shape[0]
        n_text_state = state["decoder.token_embedding.weight"].shape[1]
        dims = dict(
            n_mels=state["encoder.conv1.weight"].shape[1],
            n_audio_ctx=state["encoder.positional_embedding"].shape[0],
            n_audio_state=n_audio_state,
            n_audio_head=n_audio_state // 64,
            n_audio_layer=len({k.split(".")[2] for k in state if k.startswith("encoder.blocks.")}),
            n_vocab=state["decoder.token_embedding.weight"].shape[0],
            n_text_ctx=state["decoder.positional_embedding"].shape[0],
            n_text_state=n_text_state,
            n_text_head=n_text_state // 64,
            n_text_layer=len({k.split(".")[2] for k in state if k.startswith("decoder.blocks.")}),
        )
    except KeyError as e:
        raise CsExtError(f"{source}: not a Whisper model (no tensor {e})")
    if n_audio_state not in OFFICIAL_WIDTHS or n_text_state not in OFFICIAL_WIDTHS:
        raise CsExtError(f"{source}: width {n_audio_state} is not an official Whisper one, so the head "
                         "count is unknown; pass --whisper-dims-from SPEC (the base model)")
    return dims


def _dims_of_spec(spec: str) -> Dict[str, int]:
    from ..whisper import load_checkpoint, resolve_checkpoint

    return load_checkpoint(resolve_checkpoint(spec))[0]


def _dims_for_state(path: Path, state: Dict, dims_from: Optional[str]) -> Tuple[Dict[str, int], str]:
    """Whisper dims for a bare state dict, and where they came from (for the log/yaml)."""
    if dims_from:
        return _dims_of_spec(dims_from), f"--whisper-dims-from {dims_from}"
    config = path.parent / "config.yaml"
    if config.is_file():
        import yaml

        with open(config, encoding="utf-8") as f:
            conf = yaml.safe_load(f) or {}
        spec = (conf.get("encoder_conf") or {}).get("whisper_model")
        if spec:
            return _dims_of_spec(str(spec)), f"{config} encoder_conf.whisper_model={spec}"
    return _dims_from_shapes(state, str(path)), "tensor shapes (64-dim heads)"


def _read_state(path: Path) -> Tuple[Optional[Dict[str, int]], Dict]:
    """(dims or None, openai-whisper-named state dict) from a .pt/.pth/.safetensors file."""
    import torch

    if path.suffix == ".safetensors":
        from ..merge.formats import load_state_dict  # reads whisper / espnet / HF namings

        state = load_state_dict(path)
        return None, {k: v for k, v in state.items() if ":" not in k}
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, KeyError, ... on junk
        first = (str(e).strip().splitlines() or [type(e).__name__])[0] if not isinstance(e, KeyError) else "corrupt"
        if isinstance(e, MemoryError):
            raise
        raise CsExtError(f"{path}: not a loadable Whisper or ESPnet checkpoint ({first[:200]})")
    if isinstance(obj, dict) and "dims" in obj and "model_state_dict" in obj:
        return dict(obj["dims"]), obj["model_state_dict"]
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return None, espnet_to_whisper_keys(obj, str(path))
    kind = f"keys {sorted(obj)[:4]}" if isinstance(obj, dict) else type(obj).__name__
    raise CsExtError(f"{path}: not a Whisper checkpoint: expected an openai-whisper .pt "
                     f"({{dims, model_state_dict}}) or an ESPnet state dict, found {kind}")


@dataclasses.dataclass
class LoadedModel:
    model: "torch.nn.Module"   # whisper.model.Whisper, eval mode
    spec: str
    pretrained: bool
    dims_source: str


def load_decode_model(spec: str, dims_from: Optional[str] = None, device: str = "cpu") -> LoadedModel:
    """Return the model for `spec` (see module doc), in eval mode on `device`."""
    from whisper.model import ModelDimensions, Whisper

    spec = str(spec)
    path = Path(spec)
    if not (path.suffix in (".pth", ".safetensors") and path.is_file()) and not (
            path.is_file() and path.suffix == ".pt"):
        from ..whisper import load_whisper

        model = load_whisper(spec, device=device)
        return LoadedModel(model.eval(), spec, is_pretrained(spec), "checkpoint")
    dims, state = _read_state(path)
    source = "checkpoint"
    if dims is None:
        dims, source = _dims_for_state(path, state, dims_from)
    dims = dict(dims)
    if "decoder.token_embedding.weight" in state:  # ESPnet may have grown the vocabulary
        dims["n_vocab"] = int(state["decoder.token_embedding.weight"].shape[0])
    state = {k: v.float() for k, v in state.items() if k != "alignment_heads"}
    try:
        model = Whisper(ModelDimensions(**dims))
    except TypeError as e:
        raise CsExtError(f"{path}: bad Whisper dims from {source} ({e})")
    missing, unexpected = [], []
    try:
        result = model.load_state_dict(state, strict=False)
        missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    except RuntimeError as e:
        raise CsExtError(f"{path}: weights do not fit the Whisper dims from {source} "
                         f"({str(e).splitlines()[-1].strip()[:300]})")
    if missing or unexpected:
        raise CsExtError(f"{path}: not a complete Whisper model for the dims from {source}: "
                         f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    log.info("loaded %s (dims from %s)", path, source)
    return LoadedModel(model.to(device).eval(), spec, is_pretrained(spec), source)
