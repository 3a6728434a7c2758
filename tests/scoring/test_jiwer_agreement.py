"""On plain space-separated text our word error counts equal jiwer's, utterance by utterance."""
import random

import jiwer
import pytest

from espnet_cs_ext.scoring import MerAccumulator


def _pairs(n, seed, vocab_size):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(vocab_size)]
    out = []
    for _ in range(n):
        ref = rng.choices(vocab, k=rng.randint(1, 12))
        hyp = [w for w in ref if rng.random() > 0.15]
        for _ in range(rng.randint(0, 3)):
            hyp.insert(rng.randint(0, len(hyp)), rng.choice(vocab))
        if rng.random() < 0.3:
            hyp = rng.choices(vocab, k=rng.randint(0, 12))
        out.append((" ".join(ref), " ".join(hyp)))
    return out


@pytest.mark.parametrize("vocab_size", [3, 20, 500])  # a tiny vocabulary makes many alignment ties
def test_counts_equal_jiwer_per_utterance(vocab_size):
    pairs = _pairs(300, seed=vocab_size, vocab_size=vocab_size)
    acc = MerAccumulator("none")
    for ref, hyp in pairs:
        u = acc.add(ref, hyp)
        j = jiwer.process_words(ref, hyp)
        assert (u.corr, u.sub, u.dele, u.ins) == (j.hits, j.substitutions, j.deletions, j.insertions), (ref, hyp)
    s = acc.summary()
    j = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    assert (s["corr"], s["sub"], s["del"], s["ins"]) == (j.hits, j.substitutions, j.deletions, j.insertions)
    assert s["corpus_mer"] == pytest.approx(j.wer)


def test_default_preset_on_clean_lowercase_text_equals_jiwer():
    # already normalised ASCII text: the default normaliser changes nothing
    pairs = _pairs(200, seed=7, vocab_size=10)
    acc = MerAccumulator("default")
    acc.add_many([r for r, _ in pairs], [h for _, h in pairs])
    j = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    s = acc.summary()
    assert (s["sub"], s["del"], s["ins"]) == (j.substitutions, j.deletions, j.insertions)
