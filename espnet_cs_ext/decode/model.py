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
- a `.safetensors` file in any naming (whisper, espnet, HF), dimensions found as for
  ESPnet files (or from an HF `config.json` beside it).

Reading, key mapping and dims are `espnet_cs_ext.whisper.checkpoint`'s; this module only
adds the spec rules and the `LoadedModel` record.

`is_pretrained(spec)` decides what `pad_to_30s: auto` means: official names and
CTranslate2 conversions are the released weights (trained on 30 s windows); every other
file is taken to be fine-tuned or merged from fine-tuned models (trained unpadded).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Dict, Optional

from ..utils.errors import CsExtError

log = logging.getLogger(__name__)


def is_pretrained(spec: str) -> bool:
    """True for released Whisper weights: an official name or a CTranslate2 model."""
    from ..whisper import OFFICIAL_NAMES

    p = Path(str(spec))
    if str(spec) in OFFICIAL_NAMES and not p.exists():
        return True
    return p.name == "model.bin" or (p.is_dir() and (p / "model.bin").is_file())


def espnet_to_whisper_keys(state: Dict[str, "torch.Tensor"], source: str = "?") -> Dict[str, "torch.Tensor"]:
    """ESPnet ASR state dict -> openai-whisper names; non-Whisper keys (ctc, ...) dropped.

    Kept for callers of this module; the mapping itself is `whisper.checkpoint.to_canonical`.
    """
    from ..whisper.checkpoint import is_extra, to_canonical

    out = {n: v for k, v in state.items() if not is_extra(n := to_canonical("espnet", k))}
    if not out:
        raise CsExtError(f"{source}: no encoder.encoders.* / decoder.decoders.* tensors: "
                         f"not an ESPnet Whisper model (first keys: {sorted(state)[:4]})")
    return out


@dataclasses.dataclass
class LoadedModel:
    model: "torch.nn.Module"   # whisper.model.Whisper, eval mode
    spec: str
    pretrained: bool
    dims_source: str


def load_decode_model(spec: str, dims_from: Optional[str] = None, device: str = "cpu") -> LoadedModel:
    """Return the model for `spec` (see module doc), in eval mode on `device`."""
    from ..whisper.checkpoint import build_model, read_checkpoint_with_source

    spec = str(spec)
    path = Path(spec)
    if not (path.is_file() and path.suffix in (".pt", ".pth", ".safetensors")):
        from ..whisper import load_whisper

        model = load_whisper(spec, device=device)
        return LoadedModel(model.eval(), spec, is_pretrained(spec), "checkpoint")
    dims, state, source = read_checkpoint_with_source(path, dims_from)
    if "decoder.token_embedding.weight" in state:  # ESPnet may have grown the vocabulary
        dims = dataclasses.replace(dims, n_vocab=int(state["decoder.token_embedding.weight"].shape[0]))
    model = build_model(dims, state, str(path), source)
    log.info("loaded %s (dims from %s)", path, source)
    return LoadedModel(model.to(device).eval(), spec, is_pretrained(spec), source)
