"""Real Whisper base (offline weights) on espeak-ng English: a recognisable transcript,
and our batched greedy search gives openai-whisper's own `decode` tokens."""
from __future__ import annotations

import re

import pytest
import torch

from espnet_cs_ext.decode import Decoder, config_from_dict, decode_data_dir, load_decode_model
from espnet_cs_ext.utils.kaldi import read_table


@pytest.fixture(scope="module")
def base():
    return load_decode_model("base")


def words(text: str):
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def test_base_beam_search_transcribes_english(base, english_data_dir, tmp_path):
    cfg = config_from_dict({"language": "en", "beam_size": 5, "batch_size": 4})
    out = decode_data_dir(base, english_data_dir, tmp_path / "out", cfg, progress=False)
    hyp, ref = read_table(out / "text"), read_table(english_data_dir / "text")
    assert hyp.keys() == ref.keys()
    hits = sum(sum(w in words(hyp[u]) for w in set(words(ref[u]))) for u in ref)
    total = sum(len(set(words(ref[u]))) for u in ref)
    assert hits >= total / 2, hyp
    assert "pad_to_30s: true" in (out / "decode.yaml").read_text()  # `base` is pretrained: auto pads


def test_batched_greedy_equals_whisper_decode(base, english_data_dir):
    import whisper

    from espnet_cs_ext.decode.features import Source, collate

    src = Source(english_data_dir)
    utts = src.utts[:2]
    mels = [src.mel(u) for u in utts]
    ours = Decoder(base, config_from_dict({"language": "en"})).decode_mels(mels, utts, ["en", "en"])
    padded, _ = collate(mels, utts, True)
    opts = whisper.DecodingOptions(language="en", fp16=False, without_timestamps=True)
    with torch.no_grad():
        theirs = whisper.decode(base.model, padded, opts)
    assert [t for _, _, t in ours] == [list(r.tokens) for r in theirs]
