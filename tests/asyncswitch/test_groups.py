"""Parameter groups per AsyncSwitch stage: names -> group, per-stage sets, summaries, freeze lists."""
from __future__ import annotations

import pytest

from espnet_cs_ext.asyncswitch.groups import (freeze_prefixes, group_of, is_frozen_by, summary,
                                              trainable_names)
from espnet_cs_ext.utils.errors import CsExtError

NAME_GROUPS = [
    ("encoder.encoders.blocks.0.attn.query.weight", "encoder"),
    ("encoder.conv1.weight", "encoder"),
    ("decoder.decoders.blocks.3.attn.key.weight", "self_attn"),
    ("decoder.blocks.3.attn_ln.bias", "self_attn"),
    ("decoder.decoders.blocks.0.cross_attn.value.bias", "cross_attn"),
    ("decoder.blocks.0.cross_attn_ln.weight", "cross_attn"),
    ("decoder.decoders.blocks.1.mlp.0.weight", "ffn"),
    ("decoder.blocks.1.mlp.2.bias", "ffn"),
    ("decoder.decoders.blocks.1.mlp_ln.weight", "ffn"),
    ("decoder.decoders.token_embedding.weight", "output"),
    ("decoder.ln.weight", "final_ln"),
    ("decoder.decoders.positional_embedding", "pos_embedding"),
    ("ctc.ctc_lo.weight", "other"),
]


@pytest.mark.parametrize("name,group", NAME_GROUPS)
def test_group_of(name, group):
    assert group_of(name) == group


def test_unknown_decoder_part_is_an_error():
    with pytest.raises(CsExtError, match="unknown decoder block part 'adapter'"):
        group_of("decoder.decoders.blocks.0.adapter.weight")


@pytest.fixture(scope="module")
def tiny():
    from espnet_cs_ext.whisper.tiny import build_tiny_whisper

    return build_tiny_whisper()


# stage -> (trainable tensors, trainable params) for TINY_DIMS (2+2 layers, width 64, vocab 51865)
EXPECTED = {"A": (33, 3_419_328), "B": (18, 33_408), "C": (88, 3_609_152)}


@pytest.mark.parametrize("stage", ["A", "B", "C"])
def test_trainable_sets_of_a_tiny_whisper(tiny, stage):
    names = trainable_names(tiny, stage)
    sizes = dict((n, p.numel()) for n, p in tiny.named_parameters())
    assert (len(names), sum(sizes[n] for n in names)) == EXPECTED[stage]
    groups = {group_of(n) for n in names}
    assert groups == {"A": {"self_attn", "ffn", "output", "final_ln"}, "B": {"cross_attn"},
                      "C": {"encoder", "self_attn", "cross_attn", "ffn", "output", "final_ln",
                            "pos_embedding"}}[stage]


def test_summary_table(tiny):
    text = summary(tiny, "A")
    assert text.splitlines()[0] == "AsyncSwitch stage A: trainable parameter groups"
    rows = {line.split()[0]: line.split()[1:4] for line in text.splitlines()[2:-1]}
    assert rows == {"encoder": ["36", "127,744", "no"], "self_attn": ["18", "33,408", "yes"],
                    "cross_attn": ["18", "33,408", "no"], "ffn": ["12", "66,432", "yes"],
                    "output": ["1", "3,319,360", "yes"], "final_ln": ["2", "128", "yes"],
                    "pos_embedding": ["1", "28,672", "no"]}
    assert text.splitlines()[-1].split()[:3] == ["total", "88", "3,609,152"]
    assert "trainable: 33 tensors, 3,419,328 params (94.7%)" in text


@pytest.mark.parametrize("stage", ["A", "B", "C"])
def test_freeze_prefixes_cover_exactly_the_frozen_names(tiny, stage):
    names = [n for n, _ in tiny.named_parameters()]
    espnet = [n.replace("encoder.", "encoder.encoders.", 1).replace("decoder.", "decoder.decoders.", 1)
              for n in names]
    train = set(trainable_names({n: 1 for n in espnet}, stage))
    prefixes = freeze_prefixes(espnet, train)
    for n in espnet:
        assert is_frozen_by(n, prefixes) == (n not in train), n
    if stage == "B":  # a short list: whole encoder, then per-layer sub-layers
        assert prefixes[0] == "encoder" and "decoder.decoders.blocks.0.attn" in prefixes
        assert len(prefixes) == 12
    if stage == "C":
        assert prefixes == []


def test_unknown_stage():
    with pytest.raises(CsExtError, match="unknown AsyncSwitch stage 'D'"):
        trainable_names({"decoder.ln.weight": 1}, "D")
