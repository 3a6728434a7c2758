"""Fixtures for tests/st (speech translation data, prompts, training, BLEU)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from st_helpers import make_covost


@pytest.fixture(scope="session")
def covost_mp3(tmp_path_factory) -> Path:
    """A read-only fake CoVoST 2 de->en layout with real 48 kHz mp3 clips; copy before changing it."""
    return make_covost(tmp_path_factory.mktemp("covost_mp3"))


@pytest.fixture
def covost(tmp_path, covost_mp3) -> Path:
    """A private copy of the fake layout (tests may break rows in it)."""
    dst = tmp_path / "cv"
    shutil.copytree(covost_mp3, dst)
    return dst


@pytest.fixture(scope="session")
def synthetic_st(tmp_path_factory) -> Path:
    """Synthetic de->en ST (train/dev/test) and mono de test sets, small, in one dir."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (apt-get install espeak-ng)")
    from espnet_cs_ext.data.synthetic.monolingual import prepare_synthetic_monolingual

    out = tmp_path_factory.mktemp("synthetic_st")
    kw = dict(utts_per_lang=10, split=(0.6, 0.2, 0.2), seed=1, progress=False)
    prepare_synthetic_monolingual(out, ["de"], task="st", splits=("train", "dev", "test"), **kw)
    prepare_synthetic_monolingual(out, ["de", "en"], task="asr", splits=("test",), **kw)
    return out
