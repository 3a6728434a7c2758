"""An ST dir's prompt is <|de|> <|translate|>, and ESPnet really puts it in the decoder prefix."""
from __future__ import annotations

import subprocess
import sys

import pytest

from espnet_cs_ext.recipe.text import prepare_text
from espnet_cs_ext.utils.errors import CsExtError
from espnet_cs_ext.utils.kaldi import read_table

# openai-whisper 20230124 multilingual vocabulary
DE, KO, EN, TRANSLATE, TRANSCRIBE, NOTIMESTAMPS = 50261, 50264, 50259, 50358, 50359, 50363

CHECK = r"""
import sys
from espnet2.train.preprocessor import CommonPreprocessor
tokens = sys.argv[1]
p = CommonPreprocessor(train=True, token_type="whisper_multilingual", token_list=tokens,
    bpemodel="whisper_multilingual", text_cleaner="whisper_basic", whisper_language="en",
    whisper_task="transcribe", use_lang_prompt=True)
for prompt in sys.argv[2:]:
    print(" ".join(map(str, p("u", {"text": "Good morning, everyone.", "prompt": prompt})["text"][:3])))
"""


@pytest.fixture(scope="module")
def token_list(whisper_token_list):
    return whisper_token_list


def test_token_ids_are_whisper_s():
    import whisper.tokenizer as wt
    tok = wt.get_tokenizer(multilingual=True)
    ids = tok.tokenizer.convert_tokens_to_ids(["<|de|>", "<|ko|>", "<|en|>", "<|translate|>", "<|transcribe|>",
                                               "<|notimestamps|>"])
    assert ids == [DE, KO, EN, TRANSLATE, TRANSCRIBE, NOTIMESTAMPS]


def test_st_prompt_reaches_the_decoder_prefix(synthetic_st, token_list):
    d = synthetic_st / "train_st_de-en"
    prepare_text(d)  # default task argument is transcribe: utt2task must win
    prompts = read_table(d / "prompt")
    assert set(prompts.values()) == {"<|de|> <|translate|>"}
    out = subprocess.run([sys.executable, "-c", CHECK, str(token_list), next(iter(prompts.values())),
                          "<|ko|> <|transcribe|>"], capture_output=True, text=True, check=True)
    assert [[int(x) for x in line.split()] for line in out.stdout.splitlines()] == [
        [DE, TRANSLATE, NOTIMESTAMPS], [KO, TRANSCRIBE, NOTIMESTAMPS]]


def _dir(tmp_path, **files):
    d = tmp_path / "d"
    d.mkdir()
    (d / "text").write_text("a Good morning.\nb Hallo Welt\n", encoding="utf-8")
    (d / "utt2lang").write_text("a de\nb de\n")
    for name, body in files.items():
        (d / name).write_text(body)
    return d


@pytest.mark.parametrize("files, task_arg, expected", [
    ({}, "transcribe", {"a": "<|de|> <|transcribe|>", "b": "<|de|> <|transcribe|>"}),
    ({}, "translate", {"a": "<|de|> <|translate|>", "b": "<|de|> <|translate|>"}),
    ({"task": "translate\n"}, "transcribe", {"a": "<|de|> <|translate|>", "b": "<|de|> <|translate|>"}),
    # a pooled multi-task dir: per-utterance tasks beat the dir file and the argument
    ({"utt2task": "a translate\nb transcribe\n", "task": "translate\n"}, "translate",
     {"a": "<|de|> <|translate|>", "b": "<|de|> <|transcribe|>"}),
])
def test_task_sources(tmp_path, files, task_arg, expected):
    d = _dir(tmp_path, **files)
    prepare_text(d, task=task_arg)
    assert read_table(d / "prompt") == expected


@pytest.mark.parametrize("files, message", [
    ({"utt2task": "a translate\n"}, "utt2task: no task for 1 utterances"),
    ({"utt2task": "a translate\nb asr\n"}, r"utt2task: tasks must be transcribe or translate, got \['asr'\]"),
    ({"task": "st\n"}, r"/task: tasks must be transcribe or translate, got \['st'\]"),
])
def test_bad_tasks(tmp_path, files, message):
    with pytest.raises(CsExtError, match=message):
        prepare_text(_dir(tmp_path, **files))
