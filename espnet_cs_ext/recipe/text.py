"""Stage 4: transcripts ready for Whisper training: NFC text, language prompts, token checks.

- `text` is rewritten in Unicode NFC with collapsed whitespace (the original is kept
  as `text.orig` the first time); the count of changed lines is reported.
- `prompt` holds the decoder prefix of each utterance: the Whisper token of its
  matrix language (from `utt2lang`) and the task, e.g. `<|ko|> <|transcribe|>`. With
  `use_lang_prompt: true` ESPnet's preprocessor replaces the configured
  `<|en|> <|transcribe|>` by this prompt, so pooled training over several pairs teaches
  each utterance with its own matrix-language token. (Without that flag a one-token
  prompt replaces the *task* token, not the language token: checked in tests/recipe.)
- Every transcript must tokenise to at most MAX_TOKENS Whisper tokens (the decoder
  has 448 positions, four of which the prefix uses); longer ones are an error naming them.
"""
from __future__ import annotations

import os
import shutil
import unicodedata
from pathlib import Path
from typing import Dict

from ..utils.errors import CsExtError
from ..utils.kaldi import read_table, write_table

MAX_TOKENS = 440


def prepare_text(data_dir: str | os.PathLike, task: str = "transcribe") -> Dict[str, int]:
    import whisper.tokenizer as wt

    data_dir = Path(data_dir)
    text = read_table(data_dir / "text")
    if not (data_dir / "text.orig").exists():
        shutil.copyfile(data_dir / "text", data_dir / "text.orig")
    cleaned = {u: " ".join(unicodedata.normalize("NFC", t).split()) for u, t in text.items()}
    changed = sum(cleaned[u] != text[u] for u in text)
    write_table(data_dir / "text", cleaned)

    if not (data_dir / "utt2lang").is_file():
        raise CsExtError(f"{data_dir}: no utt2lang (matrix language per utterance) for the prompt file")
    utt2lang = read_table(data_dir / "utt2lang")
    missing = sorted(set(cleaned) - set(utt2lang))
    if missing:
        raise CsExtError(f"{data_dir}/utt2lang: no language for {len(missing)} utterances, e.g. {missing[:3]}")
    bad = sorted({lang for lang in utt2lang.values() if lang not in wt.LANGUAGES})
    if bad:
        raise CsExtError(f"{data_dir}/utt2lang: not Whisper language codes: {bad}")
    write_table(data_dir / "prompt", {u: f"<|{utt2lang[u]}|> <|{task}|>" for u in cleaned})

    tok = wt.get_tokenizer(multilingual=True)
    longest = 0
    for utt, t in cleaned.items():
        n = len(tok.encode(" " + t))
        if n > MAX_TOKENS:
            raise CsExtError(f"{data_dir}/text: '{utt}' has {n} Whisper tokens (max {MAX_TOKENS})")
        longest = max(longest, n)
    return {"utterances": len(cleaned), "nfc_changed": changed, "max_tokens": longest}
