"""Fixtures for the AsyncSwitch tests: a small code-switched text file and a data dir with prompts."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEST_CONF = REPO / "egs2" / "cs_unseen" / "asr1" / "conf" / "tuning" / "test" / "asyncswitch"

CS_LINES = [
    "제 동생도 bicycle 마음에 들어 했어요.",
    "printer에 대해 선생님께 물어봐요.",
    "The weather is nice today, 정말 좋아요.",
    "다음 달에 bicycle 바꿔도 돼요?",
    "Please send me the report 내일까지.",
    "hello world this is a test",
]


@pytest.fixture(scope="session")
def cs_text(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cs_text") / "ko-en.txt"
    p.write_text("\n".join(CS_LINES) + "\n", encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def prompted_data_dir(tmp_path_factory, english_data_dir) -> Path:
    """english_data_dir plus the per-utterance `prompt` file the recipe's configs read."""
    d = tmp_path_factory.mktemp("data_prompt")
    for name in ("wav.scp", "text", "utt2spk", "spk2utt"):
        shutil.copy(english_data_dir / name, d / name)
    utts = [line.split()[0] for line in (d / "text").read_text().splitlines()]
    (d / "prompt").write_text("".join(f"{u} <|en|> <|transcribe|>\n" for u in utts))
    return d
