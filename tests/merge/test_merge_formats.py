"""Checkpoint formats: key mapping against the real module trees, round trips, cross-format merges."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from merge_helpers import SMALL, base_state

from espnet_cs_ext.merge import (Checkpoint, config_from_dict, from_canonical, load_state_dict,
                                 merge_checkpoints, save_state_dict, to_canonical)
from espnet_cs_ext.utils.errors import CsExtError


@pytest.fixture(scope="module")
def canon():
    return base_state(0)


@pytest.mark.parametrize("naming", ["whisper", "espnet", "hf"])
def test_key_mapping_round_trips(canon, naming):
    for name in canon:
        key = from_canonical(naming, name)
        assert to_canonical(naming, key) == name


def test_hf_names_match_transformers(canon):
    import transformers

    cfg = transformers.WhisperConfig(
        vocab_size=SMALL["n_vocab"], num_mel_bins=80, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, d_model=64, encoder_ffn_dim=256,
        decoder_ffn_dim=256, max_source_positions=SMALL["n_audio_ctx"], max_target_positions=SMALL["n_text_ctx"],
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=3)
    hf = transformers.WhisperForConditionalGeneration(cfg).state_dict()
    ours = {from_canonical("hf", n): v.shape for n, v in canon.items()}
    assert set(hf) - set(ours) == {"proj_out.weight"}  # tied to embed_tokens, see formats.py
    assert set(ours) <= set(hf)
    assert all(hf[k].shape == s for k, s in ours.items())


def test_espnet_names_match_espnet_whisper_modules(canon, monkeypatch):
    import whisper

    from espnet_cs_ext.whisper.tiny import build_tiny_whisper
    monkeypatch.setattr(whisper, "load_model", lambda *a, **k: build_tiny_whisper(0, **SMALL))
    from espnet2.asr.decoder.whisper_decoder import OpenAIWhisperDecoder
    from espnet2.asr.encoder.whisper_encoder import OpenAIWhisperEncoder

    enc = OpenAIWhisperEncoder(whisper_model="tiny")
    dec = OpenAIWhisperDecoder(vocab_size=SMALL["n_vocab"], encoder_output_size=64, whisper_model="tiny")
    keys = {f"encoder.{k}" for k in enc.state_dict()} | {f"decoder.{k}" for k in dec.state_dict()}
    assert keys == {from_canonical("espnet", n) for n in canon}


@pytest.mark.parametrize("naming,container", [("whisper", "torch"), ("whisper", "safetensors"),
                                              ("espnet", "torch"), ("hf", "safetensors"), ("hf", "torch")])
def test_save_load_round_trip(tmp_path, canon, naming, container):
    p = save_state_dict(canon, tmp_path / "ck", naming, container)
    with Checkpoint(p) as ck:
        assert (ck.naming, ck.container) == (naming, container)
        assert list(ck.infos) == list(canon)
    back = load_state_dict(p)
    assert all(torch.equal(back[k], canon[k]) for k in canon)


def test_safetensors_output_readable_by_safetensors_library(tmp_path, canon):
    from safetensors.torch import load_file

    p = save_state_dict(canon, tmp_path / "m.safetensors", "hf")
    st = load_file(p)
    assert torch.equal(st["model.decoder.embed_tokens.weight"], canon["decoder.token_embedding.weight"])


def test_whisper_output_loads_into_openai_whisper(tmp_path, model_set):
    import whisper.model

    cfg = config_from_dict({"merge_method": "task_arithmetic", "base_model": str(model_set["base_hf"]),
                            "models": [str(model_set["ft0_hf"])], "output_format": "whisper"})
    out = tmp_path / "m.pt"
    merge_checkpoints(cfg, out, progress=False)
    ck = torch.load(out, weights_only=True)
    dims = whisper.model.ModelDimensions(**ck["dims"])
    model = whisper.model.Whisper(dims)
    model.load_state_dict(ck["model_state_dict"], strict=True)
    # torch output from safetensors inputs: copied and merged tensors survive read-buffer reuse
    base, ft = load_state_dict(model_set["base"]), load_state_dict(model_set["ft0"])
    for name, t in ck["model_state_dict"].items():
        want = base[name] if name == "encoder.positional_embedding" else ft[name]
        torch.testing.assert_close(t, want, rtol=0, atol=1e-6, msg=name)


def _ta(base, models, out, **kw):
    cfg = config_from_dict({"merge_method": "task_arithmetic", "base_model": str(base),
                            "models": [{"model": str(m), "parameters": {"weight": 0.5}} for m in models],
                            **kw})
    merge_checkpoints(cfg, out, progress=False)
    return load_state_dict(out)


def test_cross_format_merge_equals_single_format_merge(tmp_path, model_set):
    same = _ta(model_set["base"], [model_set[f"ft{i}"] for i in range(3)], tmp_path / "a.pt")
    mixed = _ta(model_set["base"], [model_set["ft0"], model_set["ft1_hf"], model_set["ft2_espnet"]],
                tmp_path / "b.pt")
    assert same.keys() == mixed.keys()
    assert all(torch.equal(same[k], mixed[k]) for k in same)
    # output follows the base's format, or output_format
    hf = _ta(model_set["base_hf"], [model_set["ft0"], model_set["ft1_hf"], model_set["ft2_espnet"]],
             tmp_path / "c.safetensors")
    with Checkpoint(tmp_path / "c.safetensors") as ck:
        assert (ck.naming, ck.container) == ("hf", "safetensors")
    assert all(torch.equal(same[k], hf[k]) for k in same)
    _ta(model_set["base"], [model_set["ft0"]], tmp_path / "d.pth", output_format="espnet")
    with Checkpoint(tmp_path / "d.pth") as ck:
        assert (ck.naming, ck.container) == ("espnet", "torch")


def test_espnet_extra_keys_pass_through(tmp_path, canon):
    def espnet_ck(path, delta):
        sd = {k: v + delta if v.is_floating_point() and k != "encoder.positional_embedding" else v
              for k, v in canon.items()}
        sd["espnet:ctc.ctc_lo.weight"] = torch.full((8, 64), 1.0 + delta)
        sd["espnet:normalize.count"] = torch.tensor([5])
        return save_state_dict(sd, path, "espnet")

    base = espnet_ck(tmp_path / "b.pth", 0.0)
    fts = [espnet_ck(tmp_path / f"f{i}.pth", 0.01 * (i + 1)) for i in range(2)]
    out = _ta(base, fts, tmp_path / "o.pth")
    raw = torch.load(tmp_path / "o.pth", weights_only=True)
    assert "ctc.ctc_lo.weight" in raw and "normalize.count" in raw
    torch.testing.assert_close(out["espnet:ctc.ctc_lo.weight"], torch.full((8, 64), 1.0 + 0.5 * 0.03))
    assert torch.equal(raw["normalize.count"], torch.tensor([5]))
    # a whisper-named base has no place for ESPnet's extras: they are dropped, Whisper tensors merged
    out2 = _ta(tmp_path / "b.pth", fts, tmp_path / "o2.pt", output_format="whisper")
    assert "espnet:ctc.ctc_lo.weight" not in out2 and "decoder.ln.weight" in out2


def test_pickled_code_is_refused_without_running_it(tmp_path, canon):
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    p = tmp_path / "evil.pt"
    torch.save({"dims": {}, "model_state_dict": canon, "x": Evil()}, p)
    with pytest.raises(CsExtError, match="refusing to load"):
        Checkpoint(p)
    assert not marker.exists()


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    p = tmp_path / "notes.pt"
    p.write_text("hello")
    with pytest.raises(CsExtError, match="notes.pt"):
        Checkpoint(p)
    p = tmp_path / "odd.pt"
    torch.save({"foo.bar": torch.zeros(2)}, p)
    with pytest.raises(CsExtError, match="cannot tell the checkpoint naming"):
        Checkpoint(p)


def test_import_does_not_pull_espnet2():
    code = "import sys, espnet_cs_ext.merge, espnet_cs_ext.bin.cs_merge; print('espnet2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
