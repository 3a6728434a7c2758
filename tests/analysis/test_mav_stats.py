"""Row-level MAV per (part, layer, matrix): planted deltas give exactly the planted percentages."""
from __future__ import annotations

import pytest
import torch
from mav_helpers import base_state, planted, save

from espnet_cs_ext.analysis import mav as M
from espnet_cs_ext.analysis.select import layer_scores, select_layers
from espnet_cs_ext.merge.formats import Checkpoint
from espnet_cs_ext.utils.errors import CsExtError

# (tensor, rows, amount per entry, fraction of the row's entries) -> (part, layer, matrix, rows, above, mean_mav)
# Tiny dims: state 64, mlp 256, so q/k/v/out are 64 x 64, fc1 256 x 64, fc2 64 x 256.
PLANTS = [
    ("encoder.blocks.0.attn.query.weight", range(16), 2e-4, 0.5),      # MAV 1e-4: above
    ("encoder.blocks.1.mlp.0.weight", range(64), 1e-4, 1.0),           # MAV 1e-4: above
    ("encoder.blocks.1.mlp.0.weight", range(64, 128), 4e-5, 1.0),      # MAV 4e-5: below
    ("encoder.blocks.1.mlp.2.weight", [3], 6e-5, 1.0),                 # MAV 6e-5: just above
    ("decoder.blocks.0.cross_attn.key.weight", range(64), 1e-3, 0.25),  # MAV 2.5e-4: every row
    ("decoder.blocks.1.attn.out.weight", range(10, 20), 1e-4, 0.25),   # MAV 2.5e-5: below
    ("decoder.blocks.1.mlp.0.weight", range(100), -1e-4, 1.0),         # negative moves count too
]
EXPECTED = [
    (("encoder", 0, "self_attn.q"), 64, 16, 25.0, 16 * 1e-4 / 64),
    (("encoder", 1, "fc1"), 256, 64, 25.0, (64 * 1e-4 + 64 * 4e-5) / 256),
    (("encoder", 1, "fc2"), 64, 1, 100 / 64, 6e-5 / 64),
    (("decoder", 0, "cross_attn.k"), 64, 64, 100.0, 2.5e-4),
    (("decoder", 1, "self_attn.out"), 64, 0, 0.0, 10 * 2.5e-5 / 64),
    (("decoder", 1, "fc1"), 256, 100, 100 * 100 / 256, 100 * 1e-4 / 256),
]


@pytest.fixture(scope="module")
def planted_result(tmp_path_factory):
    d = tmp_path_factory.mktemp("mav_stats")
    base = base_state(0)
    b = save(base, d / "base.pt")
    ft = save(planted(base, PLANTS), d / "ft.pth", "espnet")  # another naming than the base on purpose
    with Checkpoint(b) as bc, Checkpoint(ft) as fc:
        return M.model_mav("koen", fc, bc)


@pytest.mark.parametrize("key,rows,above,pct,mean_mav", EXPECTED, ids=[str(e[0]) for e in EXPECTED])
def test_planted_rows_give_exact_percentages(planted_result, key, rows, above, pct, mean_mav):
    r = planted_result[key]
    assert (r.rows, r.above) == (rows, above)
    assert r.pct == pytest.approx(pct, abs=1e-12)
    assert r.mean_mav == pytest.approx(mean_mav, rel=1e-3)


def test_every_other_matrix_is_untouched(planted_result):
    touched = {e[0] for e in EXPECTED}
    # 2 encoder blocks x 6 matrices + 2 decoder blocks x 10 matrices
    assert len(planted_result) == 2 * 6 + 2 * 10
    for key, r in planted_result.items():
        if key not in touched:
            assert (r.above, r.mean_mav) == (0, 0.0), key
    assert [k[2] for k in planted_result if k[:2] == ("decoder", 0)] == [m for m, _ in M.MATRICES]
    assert [k[2] for k in planted_result if k[:2] == ("encoder", 0)] == [
        "self_attn.q", "self_attn.k", "self_attn.v", "self_attn.out", "fc1", "fc2"]


def test_flagged_rows_are_the_planted_rows(planted_result):
    flagged = planted_result[("encoder", 1, "fc1")].flagged
    assert torch.equal(flagged.nonzero().flatten(), torch.arange(64))


@pytest.mark.parametrize("value,threshold,above", [
    (0.25, 0.25, 0),        # "exceeds" is strict
    (0.2500001, 0.25, 64),
    (0.0, 0.0, 0),
    (-0.5, 0.25, 64),       # |delta|
])
def test_threshold_is_strict(value, threshold, above):
    base = torch.zeros(64, 8)
    assert M.matrix_mav(base, torch.full_like(base, value), threshold).above == above


def test_part_means(planted_result):
    means = M.part_means(planted_result)
    assert means["encoder"] == pytest.approx((25.0 + 25.0 + 100 / 64) / 12)
    assert means["decoder"] == pytest.approx((100.0 + 100 * 100 / 256) / 20)
    assert means["all"] == pytest.approx((50 + 100 / 64 + 100 + 100 * 100 / 256) / 32)


def test_layer_scores_average_models_and_matrices(planted_result):
    empty = {k: M.MatrixMav(r.rows, 0, 0.0, torch.zeros(r.rows, dtype=torch.bool)) for k, r in planted_result.items()}
    scores = layer_scores({"a": planted_result, "b": empty}, {"encoder": 2, "decoder": 2})
    assert scores["encoder"] == pytest.approx([25.0 / 6 / 2, (25.0 + 100 / 64) / 6 / 2])
    assert scores["decoder"] == pytest.approx([100.0 / 10 / 2, 100 * 100 / 256 / 10 / 2])


@pytest.mark.parametrize("scores,top_k,min_pct,expected", [
    ([1, 5, 3, 9], None, None, [1, 3]),        # default: top half
    ([1, 5, 3, 9, 7], None, None, [1, 3, 4]),  # half rounded up
    ([1, 5, 3, 9], 1, None, [3]),
    ([4, 4, 4, 4], 2, None, [0, 1]),           # ties go to the lower index
    ([1, 5, 3, 9], None, 3, [1, 2, 3]),        # at least min_pct
    ([1, 5, 3, 9], 1, 4.5, [1, 3]),            # union of both rules
    ([1, 5, 3, 9], 0, None, []),
    ([1, 5, 3, 9], 10, None, [0, 1, 2, 3]),
])
def test_select_layers(scores, top_k, min_pct, expected):
    assert select_layers(scores, top_k, min_pct) == expected


# ------------------------------------------------------------------ models from another base

@pytest.mark.parametrize("state_kwargs,needles", [
    (dict(n_audio_state=128, n_text_state=128), ["'other'", "encoder.blocks.0.attn.query.weight", "shape (128, 128)",
                                                 "(64, 64)"]),
    (dict(n_text_layer=1), ["'other'", "lacks tensor 'decoder.blocks.1.attn.query.weight'"]),
    (dict(n_audio_layer=3), ["'other'", "encoder.blocks.2.attn.query.weight", "that the base"]),
    (dict(seed=1), ["'other'", "does not look fine-tuned from base", "--allow-different-base"]),
])
def test_model_from_another_base_is_refused(tmp_path, state_kwargs, needles):
    b = save(base_state(0), tmp_path / "base.pt")
    other = save(base_state(**state_kwargs), tmp_path / "other.pt")
    with Checkpoint(b) as bc, Checkpoint(other) as oc, pytest.raises(CsExtError) as e:
        M.model_mav("other", oc, bc)
    for n in needles:
        assert n in str(e.value)
    assert "other.pt" in str(e.value)


def test_different_base_check_can_be_skipped(tmp_path):
    b = save(base_state(0), tmp_path / "base.pt")
    other = save(base_state(1), tmp_path / "other.pt")
    with Checkpoint(b) as bc, Checkpoint(other) as oc:
        result = M.model_mav("other", oc, bc, check_base=False)
    assert result[("encoder", 0, "self_attn.q")].pct == 100.0  # unrelated weights: every row moved


def test_non_finite_model_is_refused(tmp_path):
    base = base_state(0)
    bad = planted(base, [])
    bad["decoder.blocks.0.mlp.2.weight"][3, 3] = float("nan")
    b, m = save(base, tmp_path / "base.pt"), save(bad, tmp_path / "bad.pt")
    with Checkpoint(b) as bc, Checkpoint(m) as mc, pytest.raises(CsExtError, match=r"'bad'.*mlp\.2\.weight.*NaN"):
        M.model_mav("bad", mc, bc)
