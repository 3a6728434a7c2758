"""Map a CTranslate2 Whisper model onto openai-whisper's module names.

CTranslate2 fuses projections that openai-whisper keeps apart (REFERENCE.md section 2):
self-attention q/k/v are stacked row-wise in `self_attention/linear_0` (the key
bias is stored as zeros: openai-whisper's key projection has no bias), cross-attention
k/v are stacked in `attention/linear_1`. The output projection is an alias of the
token embedding. The result loads into `whisper.model.Whisper` with strict=True.
"""
from __future__ import annotations

import re
from typing import Dict, Tuple

import numpy as np

from ..utils.errors import CsExtError
from .ct2 import CT2Model

_LN = {"gamma": "weight", "beta": "bias"}


def _split_rows(arr: np.ndarray, parts: int, name: str):
    if arr.shape[0] % parts:
        raise CsExtError(f"CTranslate2 variable '{name}' has {arr.shape[0]} rows, not divisible by {parts}")
    return np.split(arr, parts, axis=0)


def _attention(out: dict, src: Dict[str, np.ndarray], ct2: str, ow: str, fused_qkv: bool):
    """Fill `ow`.query/key/value/out from CT2 attention variables under prefix `ct2`."""
    get = lambda n: src[f"{ct2}/{n}"]  # noqa: E731
    if fused_qkv:
        q, k, v = _split_rows(get("linear_0/weight"), 3, f"{ct2}/linear_0/weight")
        qb, _kb, vb = _split_rows(get("linear_0/bias"), 3, f"{ct2}/linear_0/bias")
        o_w, o_b = get("linear_1/weight"), get("linear_1/bias")
    else:
        q, qb = get("linear_0/weight"), get("linear_0/bias")
        k, v = _split_rows(get("linear_1/weight"), 2, f"{ct2}/linear_1/weight")
        _kb, vb = _split_rows(get("linear_1/bias"), 2, f"{ct2}/linear_1/bias")
        o_w, o_b = get("linear_2/weight"), get("linear_2/bias")
    out[f"{ow}.query.weight"], out[f"{ow}.query.bias"] = q, qb
    out[f"{ow}.key.weight"] = k
    out[f"{ow}.value.weight"], out[f"{ow}.value.bias"] = v, vb
    out[f"{ow}.out.weight"], out[f"{ow}.out.bias"] = o_w, o_b
    out[f"{ow}_ln.weight"] = get("layer_norm/gamma")
    out[f"{ow}_ln.bias"] = get("layer_norm/beta")


def _ffn(out: dict, src, ct2: str, ow: str):
    out[f"{ow}.mlp.0.weight"] = src[f"{ct2}/ffn/linear_0/weight"]
    out[f"{ow}.mlp.0.bias"] = src[f"{ct2}/ffn/linear_0/bias"]
    out[f"{ow}.mlp.2.weight"] = src[f"{ct2}/ffn/linear_1/weight"]
    out[f"{ow}.mlp.2.bias"] = src[f"{ct2}/ffn/linear_1/bias"]
    out[f"{ow}.mlp_ln.weight"] = src[f"{ct2}/ffn/layer_norm/gamma"]
    out[f"{ow}.mlp_ln.bias"] = src[f"{ct2}/ffn/layer_norm/beta"]


def _count_layers(names, side: str) -> int:
    idx = {int(m.group(1)) for n in names if (m := re.match(rf"{side}/layer_(\d+)/", n))}
    if not idx or idx != set(range(max(idx) + 1)):
        raise CsExtError(f"CTranslate2 model has no contiguous {side} layers (found {sorted(idx)})")
    return max(idx) + 1


def ct2_to_openai(model: CT2Model) -> Tuple[dict, Dict[str, np.ndarray]]:
    """Return (dims dict for whisper.model.ModelDimensions, state dict of numpy arrays)."""
    if model.spec != "WhisperSpec":
        raise CsExtError(f"CTranslate2 model is a '{model.spec}', expected a 'WhisperSpec'")
    src = model.variables
    try:
        n_audio_layer = _count_layers(src, "encoder")
        n_text_layer = _count_layers(src, "decoder")
        out: Dict[str, np.ndarray] = {}
        for name in ("conv1", "conv2"):
            out[f"encoder.{name}.weight"] = src[f"encoder/{name}/weight"]
            out[f"encoder.{name}.bias"] = src[f"encoder/{name}/bias"]
        out["encoder.positional_embedding"] = src["encoder/position_encodings/encodings"]
        for i in range(n_audio_layer):
            _attention(out, src, f"encoder/layer_{i}/self_attention", f"encoder.blocks.{i}.attn", True)
            _ffn(out, src, f"encoder/layer_{i}", f"encoder.blocks.{i}")
        out["encoder.ln_post.weight"] = src["encoder/layer_norm/gamma"]
        out["encoder.ln_post.bias"] = src["encoder/layer_norm/beta"]

        out["decoder.token_embedding.weight"] = src["decoder/embeddings/weight"]
        out["decoder.positional_embedding"] = src["decoder/position_encodings/encodings"]
        for i in range(n_text_layer):
            _attention(out, src, f"decoder/layer_{i}/self_attention", f"decoder.blocks.{i}.attn", True)
            _attention(out, src, f"decoder/layer_{i}/attention", f"decoder.blocks.{i}.cross_attn", False)
            _ffn(out, src, f"decoder/layer_{i}", f"decoder.blocks.{i}")
        out["decoder.ln.weight"] = src["decoder/layer_norm/gamma"]
        out["decoder.ln.bias"] = src["decoder/layer_norm/beta"]
        dims = dict(
            n_mels=int(src["encoder/conv1/weight"].shape[1]),
            n_audio_ctx=int(src["encoder/position_encodings/encodings"].shape[0]),
            n_audio_state=int(src["encoder/conv1/weight"].shape[0]),
            n_audio_head=int(src["encoder/num_heads"]),
            n_audio_layer=n_audio_layer,
            n_vocab=int(src["decoder/embeddings/weight"].shape[0]),
            n_text_ctx=int(src["decoder/position_encodings/encodings"].shape[0]),
            n_text_state=int(src["decoder/embeddings/weight"].shape[1]),
            n_text_head=int(src["decoder/num_heads"]),
            n_text_layer=n_text_layer,
        )
    except KeyError as e:
        raise CsExtError(f"CTranslate2 Whisper model lacks variable {e.args[0]!r}")
    return dims, out
