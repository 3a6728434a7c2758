"""The ESPnet-side hook: MER from decoded texts or token ids, accumulated over batches."""
import pytest

from espnet_cs_ext.scoring import MerReporter, compute_mer


def test_reporter_accumulates_batches_and_resets():
    rep = MerReporter("default")
    rep.update(["나는 iPhone을 샀다"], ["나는 아이폰을 샀다"])   # S1 I2 over 6
    rep.update(["das ist gut"], ["das ist gut"])                 # 0 over 3
    out = rep.compute()
    assert out["corpus_mer"] == pytest.approx(3 / 9) and out["mer"] == out["corpus_mer"]
    assert out["mean_utt_mer"] == pytest.approx((0.5 + 0) / 2)
    assert (out["sub"], out["del"], out["ins"], out["num_utts"]) == (1, 0, 2, 2)
    assert out["per_script_mer"]["latin"] == pytest.approx(1 / 4)   # iphone substituted; das ist gut right
    assert out["per_script_mer"]["hangul"] == pytest.approx(2 / 5)  # two inserted Hangul syllables
    rep.reset()
    assert rep.compute()["mer"] is None


def test_update_ids_drops_padding():
    vocab = {1: "안", 2: "녕", 3: " hello", 4: " world"}
    decode = lambda ids: "".join(vocab[i] for i in ids)   # noqa: E731
    rep = MerReporter()
    rep.update_ids([[1, 2, 3, -1, -1]], [[1, 2, 4]], decode)   # 안|녕|hello vs 안|녕|world
    out = rep.compute()
    assert (out["sub"], out["num_ref_tokens"]) == (1, 3)


def test_compute_mer_one_shot():
    assert compute_mer(["a b"], ["a c"], "none")["mer"] == pytest.approx(0.5)
