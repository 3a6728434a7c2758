"""Domain-balanced batches, the per-domain batch split and the pre-training domain
checks (plain Python + torch; no espnet2)."""
from __future__ import annotations

from collections import Counter

import pytest
import torch

from espnet_cs_ext.dg import DGConfigError
from espnet_cs_ext.dg.batching import DomainBalancedBatches, check_domains, split_by_domain

U2C = {**{f"ko{i}": "ko-en" for i in range(7)}, **{f"ja{i}": "ja-en" for i in range(2)},
       **{f"de{i}": "de-en" for i in range(4)}}


def test_every_batch_has_per_domain_utterances_of_each_domain():
    d2u = check_domains(U2C, list(U2C), "fish", 2, batch_size=6)
    sampler = DomainBalancedBatches(d2u, per_domain=2, seed=0)
    batches = sampler.generate(0)
    assert len(batches) == len(sampler) == 4  # ceil(7 / 2): the largest domain once
    for b in batches:
        assert Counter(U2C[u] for u in b) == {"de-en": 2, "ja-en": 2, "ko-en": 2}
    seen = Counter(u for b in batches for u in b)
    assert {u for u in seen if u.startswith("ko")} == {f"ko{i}" for i in range(7)}
    assert all(seen[f"ja{i}"] == 4 for i in range(2))  # the small domain is cycled evenly
    assert sampler.generate(1) != batches  # reshuffled per pass
    assert sampler.generate(0) == batches  # reproducible


@pytest.mark.parametrize("keys,expected,algo,min_d,bs,match", [
    (list(U2C) + ["zz1"], None, "fish", 2, 6, "have no category"),
    (list(U2C), ["ko-en", "ja-en", "de-en", "ko-ja"], "fish", 2, 6, "domain 'ko-ja' has no utterances"),
    ([u for u in U2C if u.startswith("ko")], None, "fishr", 2, 6, "'fishr' needs at least 2 domains"),
    (list(U2C), None, "gga_l", 2, 2, "batch_size 2 cannot hold one utterance from each of the 3"),
])
def test_bad_domains_are_clear_errors(keys, expected, algo, min_d, bs, match):
    with pytest.raises(DGConfigError, match=match):
        check_domains(U2C, keys, algo, min_d, bs, expected)


def test_erm_accepts_a_single_domain():
    d2u = check_domains(U2C, ["ko0", "ko1"], "erm", 1, 2)
    assert d2u == {"ko-en": ["ko0", "ko1"]}


def test_empty_domain_in_sampler_is_an_error():
    with pytest.raises(DGConfigError, match="no utterances"):
        DomainBalancedBatches({"ko-en": ["a"], "ja-en": []}, 1)


def test_split_by_domain_trims_padding_per_domain():
    batch = {
        "speech": torch.arange(4 * 5, dtype=torch.float32).reshape(4, 5),
        "speech_lengths": torch.tensor([5, 2, 3, 1]),
        "text": torch.tensor([[1, 2, -1], [3, -1, -1], [4, 5, 6], [7, -1, -1]]),
        "text_lengths": torch.tensor([2, 1, 3, 1]),
    }
    ids = ["ko0", "ja0", "ko1", "ja1"]
    out = split_by_domain(batch, ids, U2C)
    assert list(out) == ["ja-en", "ko-en"]
    ja = out["ja-en"]
    assert ja["utt_id"] == ["ja0", "ja1"]
    assert ja["speech"].shape == (2, 2) and ja["text"].tolist() == [[3], [7]]
    assert ja["speech_lengths"].tolist() == [2, 1]
    assert out["ko-en"]["text"].tolist() == [[1, 2, -1], [4, 5, 6]]
    with pytest.raises(DGConfigError, match="'xx' has no category"):
        split_by_domain(batch, ["ko0", "ja0", "ko1", "xx"], U2C)
