"""The pack tests' ESPnet system: the session's one tiny ESPnet training (tests/conftest.py)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def packed_system(tiny_espnet_trained):
    """(work dir, exp dir, data dir, whisper copy): exp holds config.yaml, 1epoch.pth, latest.pth."""
    return tiny_espnet_trained
