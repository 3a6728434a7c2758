"""Task-vector statistics table for the MAV study."""
from __future__ import annotations

import csv

import pytest
import torch

from mav_helpers import base_state, save

from espnet_cs_ext.analysis import task_vectors as analysis


@pytest.fixture(scope="module")
def model_set(tmp_path_factory):
    """base.pt, ft0.pt and an HF-named ft1 (a fine-tune is base + 0.01 N(0, 1) on float tensors)."""
    d = tmp_path_factory.mktemp("task_vectors")
    base = base_state(0)

    def finetune(seed):
        g = torch.Generator().manual_seed(seed)
        return {k: (v + 0.01 * torch.randn(v.shape, generator=g)
                    if v.is_floating_point() and k != "encoder.positional_embedding" else v.clone())
                for k, v in base.items()}

    return {"base": save(base, d / "base.pt"), "ft0": save(finetune(100), d / "ft0.pt"),
            "ft1_hf": save(finetune(101), d / "ft1.safetensors", "hf")}


def test_row_mav_and_sign_agreement_by_hand():
    tau = torch.tensor([[1e-4, -1e-4, 0.0], [1e-5, 0.0, -2e-5]])
    torch.testing.assert_close(analysis.row_mav(tau), torch.tensor([2e-4 / 3, 1e-5]))
    a = torch.tensor([1.0, -1.0, 2.0, 0.0])
    b = torch.tensor([3.0, 1.0, 1.0, 5.0])
    assert analysis.sign_agreement(a, b) == pytest.approx(2 / 3)  # entry 3 is zero in a


def test_stats_table(tmp_path, model_set):
    out = tmp_path / "stats.tsv"
    rc = analysis.main([str(model_set["base"]), str(model_set["ft0"]), str(model_set["ft1_hf"]),
                        "--labels", "koen", "jaen", "-o", str(out)])
    assert rc == 0
    rows = list(csv.DictReader(out.open(), delimiter="\t"))
    assert set(rows[0]) == set(analysis.COLUMNS)
    by = {(r["tensor"], r["model"]): r for r in rows}
    r = by[("decoder.blocks.1.mlp.0.weight", "jaen")]
    assert (r["part"], r["layer"], r["kind"], r["shape"]) == ("decoder", "1", "matrix", "256x64")
    assert float(r["mean_abs"]) == pytest.approx(0.01 * (2 / torch.pi) ** 0.5, rel=0.05)
    assert float(r["row_mav_frac"]) == 1.0  # every row moved by ~8e-3 > 5e-5
    assert 0.4 < float(r["sign_agree"]) < 0.6  # independent random deltas
    assert ("encoder.positional_embedding", "koen") not in by  # buffers are skipped
