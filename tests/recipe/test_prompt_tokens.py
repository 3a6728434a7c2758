"""Stage 4's prompt file really sets each utterance's language token in ESPnet training."""
from __future__ import annotations

import subprocess
import sys

import pytest

from espnet_cs_ext.recipe.text import prepare_text
from espnet_cs_ext.utils.errors import CsExtError
from espnet_cs_ext.utils.kaldi import read_table

CHECK = r"""
import sys
from espnet2.train.preprocessor import CommonPreprocessor
tokens, use_lang_prompt, prompt = sys.argv[1], sys.argv[2] == "true", sys.argv[3]
p = CommonPreprocessor(train=True, token_type="whisper_multilingual", token_list=tokens,
    bpemodel="whisper_multilingual", text_cleaner="whisper_basic", whisper_language="en",
    whisper_task="transcribe", use_lang_prompt=use_lang_prompt)
print(" ".join(map(str, p("u", {"text": "지금 team 기다리고 있어요", "prompt": prompt})["text"][:3])))
"""
KO, EN, TRANSCRIBE, NOTIMESTAMPS = 50264, 50259, 50359, 50363


@pytest.fixture(scope="module")
def token_list(whisper_token_list):
    return whisper_token_list


@pytest.mark.parametrize("use_lang_prompt, prompt, expected", [
    # what the recipe does: the prompt replaces <|en|> <|transcribe|>
    ("true", "<|ko|> <|transcribe|>", [KO, TRANSCRIBE, NOTIMESTAMPS]),
    # the pitfall: without the flag a one-token prompt replaces the task token
    ("false", "<|ko|>", [EN, KO, NOTIMESTAMPS]),
])
def test_prompt_sets_decoder_prefix(token_list, use_lang_prompt, prompt, expected):
    out = subprocess.run([sys.executable, "-c", CHECK, str(token_list), use_lang_prompt, prompt],
                         capture_output=True, text=True, check=True)
    assert [int(x) for x in out.stdout.split()] == expected


def _data_dir(tmp_path, text, utt2lang):
    d = tmp_path / "d"
    d.mkdir()
    (d / "text").write_text(text, encoding="utf-8")
    if utt2lang is not None:
        (d / "utt2lang").write_text(utt2lang)
    return d


def test_prepare_text_writes_nfc_text_and_prompts(tmp_path):
    decomposed = "\u1100\u1161 team"  # conjoining jamo for 가: NFC composes it
    d = _data_dir(tmp_path, f"a  {decomposed}\nb Hallo  Welt\n", "a ko\nb de\n")
    stats = prepare_text(d)
    assert stats["nfc_changed"] == 2 and stats["utterances"] == 2
    assert read_table(d / "text") == {"a": "가 team", "b": "Hallo Welt"}
    assert read_table(d / "prompt") == {"a": "<|ko|> <|transcribe|>", "b": "<|de|> <|transcribe|>"}
    assert (d / "text.orig").read_text(encoding="utf-8").startswith("a  \u1100")


@pytest.mark.parametrize("utt2lang, message", [
    (None, "no utt2lang"),
    ("a ko\n", "no language for 1 utterances"),
    ("a ko\nb xx\n", "not Whisper language codes: \\['xx'\\]"),
])
def test_prepare_text_bad_languages(tmp_path, utt2lang, message):
    d = _data_dir(tmp_path, "a 가\nb Hallo\n", utt2lang)
    with pytest.raises(CsExtError, match=message):
        prepare_text(d)


def test_prepare_text_rejects_overlong_transcripts(tmp_path):
    d = _data_dir(tmp_path, "a " + " ".join(["word"] * 500) + "\n", "a en\n")
    with pytest.raises(CsExtError, match="'a' has 50[0-9] Whisper tokens"):
        prepare_text(d)
