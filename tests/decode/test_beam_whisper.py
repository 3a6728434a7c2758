"""Our beam search against openai-whisper's own `whisper.decode(beam_size=K)` on real
base (offline weights) and espeak-ng English, plus a hand-worked ranking case."""
from __future__ import annotations

import pytest
import torch

from espnet_cs_ext.decode import Decoder, config_from_dict, load_decode_model
from espnet_cs_ext.decode.search import SearchRules


@pytest.fixture(scope="module")
def base():
    return load_decode_model("base")


@pytest.fixture(scope="module")
def clips(english_data_dir):
    from espnet_cs_ext.decode.features import Source, collate

    src = Source(english_data_dir)
    utts = src.utts[:2]
    mels = [src.mel(u) for u in utts]
    padded, _ = collate(mels, utts, True)
    return utts, mels, padded


@pytest.mark.parametrize("beam", [2, 5])
@pytest.mark.parametrize("length_penalty", [None, 1.0])
def test_beam_search_equals_whisper_decode(base, clips, beam, length_penalty):
    import whisper

    utts, mels, padded = clips
    cfg = config_from_dict({"language": "en", "beam_size": beam, "length_penalty": length_penalty})
    ours = Decoder(base, cfg).decode_mels(mels, utts, ["en"] * len(utts))
    opts = whisper.DecodingOptions(language="en", fp16=False, without_timestamps=True, beam_size=beam,
                                   length_penalty=length_penalty)
    with torch.no_grad():
        theirs = whisper.decode(base.model, padded, opts)
    assert [t for _, _, t in ours] == [list(r.tokens) for r in theirs]
    assert all(len(r.tokens) > 2 for r in theirs)  # real transcripts, not an empty agreement


def test_ranking_length_penalty_flips_the_winner():
    """A: sum log-prob -2.0 over 1 token, B: -4.0 over 4 tokens.

    No penalty (Whisper's default: divide by the length): A -2.0, B -1.0 -> B wins.
    length_penalty 1: divide by ((5 + n) / 6)^1: A -2.0 / 1 = -2.0, B -4.0 / 1.5 = -2.667 -> A wins.
    """
    def rules(lp):
        return SearchRules(eot=0, suppress=(), suppress_first=(), max_new_tokens=8, length_penalty=lp)

    hyps = {"A": (-2.0, 1), "B": (-4.0, 4)}
    plain, penal = rules(None), rules(1.0)
    assert plain.rank_score(*hyps["A"]) == -2.0 and plain.rank_score(*hyps["B"]) == -1.0
    assert penal.rank_score(*hyps["A"]) == -2.0
    assert penal.rank_score(*hyps["B"]) == pytest.approx(-4.0 / 1.5)
    assert max(hyps, key=lambda h: plain.rank_score(*hyps[h])) == "B"
    assert max(hyps, key=lambda h: penal.rank_score(*hyps[h])) == "A"
    # length_penalty 0 is "no normalisation": the raw sum ranks
    assert rules(0.0).rank_score(-4.0, 4) == -4.0
