"""Search properties on a tiny model: batching, caching and beam=1 change no token."""
from __future__ import annotations

import pytest
import torch

from espnet_cs_ext.decode import Decoder, load_config
from espnet_cs_ext.decode.features import collate
from espnet_cs_ext.decode.search import DecoderState, decoder_step, detect_language, encode


def decode(lively, mels, utts, **cfg):
    d = Decoder(lively, load_config(None, **{"language": "en", "max_new_tokens": 30, **cfg}))
    return [t for _, _, t in d.decode_mels(mels, utts, ["en"] * len(utts))]


@pytest.mark.parametrize("pad", [False, True])
def test_greedy_batched_equals_one_by_one(lively, english_mels, pad):
    utts, mels = english_mels
    batched = decode(lively, mels, utts, pad_to_30s=pad)
    single = [decode(lively, [m], [u], pad_to_30s=pad)[0] for m, u in zip(mels, utts)]
    assert batched == single
    # the test means something only if tokens vary (and, unpadded, hypotheses end at different steps)
    assert len(set(batched[0])) > 1
    assert pad or len({len(t) for t in batched}) > 1


def test_beam_size_1_is_greedy(lively, english_mels):
    utts, mels = english_mels
    assert decode(lively, mels, utts, beam_size=1) == decode(lively, mels, utts)
    from espnet_cs_ext.decode.search import beam_search, greedy_search

    d = Decoder(lively, load_config(None, language="en", max_new_tokens=30))
    batch, lengths = collate(mels, utts, False)
    xa, valid = encode(lively.model, batch, lengths)
    prompts = torch.tensor([d.prompt_ids("en")] * len(utts))
    assert beam_search(lively.model, xa, valid, prompts, d.rules, 1) == greedy_search(lively.model, xa, valid, prompts, d.rules)


def test_beam_batched_equals_one_by_one(lively, english_mels):
    utts, mels = english_mels
    batched = decode(lively, mels, utts, beam_size=3)
    assert batched == [decode(lively, [m], [u], beam_size=3)[0] for m, u in zip(mels, utts)]


def test_encoder_matches_espnet_style_stock_forward(lively, english_mels):
    """Unpadded: conv -> positional_embedding[:T'] -> stock blocks -> ln_post (ESPnet whisper_cs)."""
    import torch.nn.functional as F

    enc = lively.model.encoder
    utts, mels = english_mels
    batch, lengths = collate(mels, utts, False)
    xa, valid = encode(lively.model, batch, lengths)
    for i, m in enumerate(mels):
        with torch.no_grad():
            x = F.gelu(enc.conv2(F.gelu(enc.conv1(m[None])))).permute(0, 2, 1)
            x = x + enc.positional_embedding[:x.shape[1]]
            for block in enc.blocks:
                x = block(x)
            x = enc.ln_post(x)
        n = int(valid[i].sum())
        assert n == x.shape[1]
        torch.testing.assert_close(xa[i, :n], x[0], atol=1e-4, rtol=1e-4)
    padded, plen = collate(mels[:1], utts[:1], True)
    with torch.no_grad():
        stock = enc(padded)  # openai's own encoder asserts the 30 s shape
    torch.testing.assert_close(encode(lively.model, padded, plen)[0], stock, atol=1e-4, rtol=1e-4)


def test_kv_cache_equals_full_recompute(lively, english_mels):
    """Cached steps give the logits of openai-whisper's TextDecoder run on the whole prefix."""
    model = lively.model
    utts, mels = english_mels
    batch, lengths = collate(mels[:1], utts[:1], False)
    xa, valid = encode(model, batch, lengths)
    d = Decoder(lively, load_config(None, language="en"))
    seq = d.prompt_ids("en")
    state = DecoderState.start(model, xa, valid, 1, 64)
    logits = decoder_step(model, state, torch.tensor([seq]))
    for _ in range(6):
        with torch.no_grad():
            full = model.decoder(torch.tensor([seq]), xa)[:, -1]
        torch.testing.assert_close(logits, full, atol=1e-3, rtol=1e-4)
        nxt = int(full.argmax())
        seq.append(nxt)
        logits = decoder_step(model, state, torch.tensor([[nxt]]))
    assert len(set(seq[4:])) > 1


def test_length_is_capped_below_448_positions(english_mels, lively_factory):
    from espnet_cs_ext.decode import LoadedModel

    model = lively_factory(eot_scale=0.0)  # never ends by itself
    utts, mels = english_mels
    lm = LoadedModel(model, "never_ends.pt", False, "test")
    d = Decoder(lm, load_config(None, language="en", max_new_tokens=1000))
    _, _, tokens = d.decode_mels(mels[:1], utts[:1], ["en"])[0]
    assert len(tokens) == 448 - 4


def test_language_detection_matches_whisper(lively, english_mels):
    import whisper

    utts, mels = english_mels
    d = Decoder(lively, load_config(None))
    batch, lengths = collate(mels, utts, True)
    xa, valid = encode(lively.model, batch, lengths)
    ours = detect_language(lively.model, xa, valid, d.tokenizer.sot, list(d.token_language))
    with torch.no_grad():
        theirs, _ = whisper.decoding.detect_language(lively.model, batch, d.tokenizer)
    assert ours == theirs.tolist()


@pytest.mark.parametrize("beam", [1, 3])
def test_tokens_per_second_cap(english_mels, lively_factory, beam):
    import math

    from espnet_cs_ext.decode import LoadedModel

    utts, mels = english_mels
    lm = LoadedModel(lively_factory(eot_scale=0.0), "never_ends.pt", False, "test")
    d = Decoder(lm, load_config(None, language="en", max_tokens_per_second=4, beam_size=beam))
    got = [len(t) for _, _, t in d.decode_mels(mels, utts, ["en"] * len(utts))]
    assert got == [math.ceil(m.shape[1] / 100 * 4) for m in mels]
    assert len(set(got)) > 1


@pytest.mark.parametrize("tokens, max_repeat, expected", [
    ([5, 6, 7, 7, 7, 7], 4, [5, 6, 7]),            # one token looping
    ([5, 6, 7, 7, 7], 4, [5, 6, 7, 7, 7]),         # below the threshold: unchanged
    ([1, 2, 3, 2, 3, 2, 3, 2, 3], 4, [1, 2, 3]),   # a bigram loop
    ([1, 2, 3, 2, 3, 2, 3, 2, 3], 5, [1, 2, 3, 2, 3, 2, 3, 2, 3]),
    ([9, 9, 9, 9], 4, [9]),                        # the whole output is the loop
    ([1, 2, 3, 4], 2, [1, 2, 3, 4]),               # no loop
    ([4, 1, 2, 3, 1, 2, 3], 2, [4, 1, 2, 3]),      # trigram twice
    ([], 3, []),
])
def test_trim_repetition(tokens, max_repeat, expected):
    from espnet_cs_ext.decode.search import trim_repetition

    assert trim_repetition(tokens, max_repeat) == expected


@pytest.mark.parametrize("bad", [1, 0, True, 2.5, "4"])
def test_max_repeat_must_be_an_integer_of_at_least_two(bad):
    from espnet_cs_ext.decode.config import config_from_dict
    from espnet_cs_ext.utils.errors import CsExtError

    with pytest.raises(CsExtError, match="max_repeat must be an integer >= 2"):
        config_from_dict({"max_repeat": bad})
