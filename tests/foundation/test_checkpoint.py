"""whisper/checkpoint.py: every format to (ModelDimensions, canonical state) and back; refusals."""
from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from espnet_cs_ext.utils.errors import CsExtError
from espnet_cs_ext.whisper.checkpoint import (OFFICIAL_HEADS, build_model, infer_dims, read_checkpoint,
                                              read_checkpoint_with_source, write_checkpoint)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cs_whisper_transcribe_refuses_code_in_one_line(tmp_path, capsys):
    from espnet_cs_ext.bin.cs_whisper import main

    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    torch.save({"dims": {}, "model_state_dict": {}, "x": _Evil(marker)}, evil)
    rc = main(["transcribe", "--model", str(evil), str(tmp_path / "a.wav")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and not marker.exists()
    assert len(err) == 1 and f"refusing to load {evil}" in err[0] and "(possibly code)" in err[0]
    assert "weights_only set to False" not in err[0] and "Re-running" not in err[0]


def test_junk_is_not_called_code(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CsExtError) as e:
        read_checkpoint(junk)
    assert "not a loadable" in str(e.value) and "possibly code" not in str(e.value)
    assert "weights_only` set to `False" not in str(e.value)


@pytest.mark.parametrize("naming,container", [("whisper", "torch"), ("espnet", "torch"), ("hf", "safetensors")])
def test_every_naming_reads_to_the_same_model(tmp_path, tiny_whisper, naming, container):
    from espnet_cs_ext.merge import save_state_dict

    dims, state = read_checkpoint(tiny_whisper)
    path = save_state_dict(state, tmp_path / f"m.{container}", naming, container, dims=dims)
    got_dims, got, source = read_checkpoint_with_source(path, dims_from=str(tiny_whisper))
    assert got_dims == dims and list(got) == list(state)
    assert all(torch.equal(got[k], state[k]) for k in state)
    assert source == ("checkpoint" if naming == "whisper" else f"--whisper-dims-from {tiny_whisper}")
    build_model(got_dims, got, str(path))  # every tensor fits


def test_write_then_read_round_trip(tmp_path, tiny_whisper):
    dims, state = read_checkpoint(tiny_whisper)
    out = write_checkpoint(dims, state, tmp_path / "o.pt")
    dims2, state2 = read_checkpoint(out)
    assert dims2 == dims and all(torch.equal(state2[k], state[k]) for k in state)


@pytest.mark.parametrize("width", sorted(OFFICIAL_HEADS))
def test_official_widths_give_their_heads(width):
    shapes = {"encoder.conv1.weight": (width, 80, 3), "decoder.token_embedding.weight": (51865, width),
              "encoder.positional_embedding": (1500, width), "decoder.positional_embedding": (448, width),
              "encoder.blocks.0.attn.query.weight": (width, width), "decoder.blocks.3.mlp.0.weight": (4, width)}
    d = infer_dims(shapes)
    assert (d.n_audio_head, d.n_text_head) == (OFFICIAL_HEADS[width],) * 2 == (width // 64,) * 2
    assert (d.n_audio_layer, d.n_text_layer, d.n_vocab) == (1, 4, 51865)


def test_unofficial_width_fails_naming_the_tensor(tiny_whisper):
    dims, state = read_checkpoint(tiny_whisper)
    with pytest.raises(CsExtError, match=r"tensor 'encoder.conv1.weight' is 64 wide.*head count is unknown"):
        infer_dims(state, source="x")
    assert infer_dims(state, (dims.n_audio_head, dims.n_text_head)) == dims
    assert infer_dims(state, guess_heads=True).n_audio_head == 1  # asked for, and logged


def test_missing_tensor_is_named(tiny_whisper):
    _, state = read_checkpoint(tiny_whisper)
    del state["decoder.token_embedding.weight"]
    with pytest.raises(CsExtError, match="tensor 'decoder.token_embedding.weight' is missing"):
        infer_dims(state, source="x")
