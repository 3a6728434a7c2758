"""Stage 4: transcripts ready for Whisper training: NFC text, language prompts, token checks.

- `text` is rewritten in Unicode NFC with collapsed whitespace (the original is kept
  as `text.orig` the first time); the count of changed lines is reported.
- `prompt` holds the decoder prefix of each utterance: the Whisper token of its
  matrix language (from `utt2lang`) and the task, e.g. `<|ko|> <|transcribe|>`. With
  `use_lang_prompt: true` ESPnet's preprocessor replaces the configured
  `<|en|> <|transcribe|>` by this prompt, so pooled training over several pairs teaches
  each utterance with its own matrix-language token. (Without that flag a one-token
  prompt replaces the *task* token, not the language token: checked in tests/recipe.)
- The task token comes, per utterance, from `utt2task` (`transcribe` | `translate`,
  what the ST preparers write; it survives validate and combine), else from a
  one-word `task` file in the dir, else from the `task` argument. A speech
  translation dir (X->en) thus gets `<|de|> <|translate|>`: utt2lang names the
  language of the *speech*, the text is English (tests/st check the decoder prefix).
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
TASKS = ("transcribe", "translate")


def utterance_tasks(data_dir: Path, utts, default: str = "transcribe") -> Dict[str, str]:
    """{utt: whisper task}: utt2task, else the dir's `task` file, else `default`."""
    if (data_dir / "utt2task").is_file():
        u2t = read_table(data_dir / "utt2task")
        missing = sorted(set(utts) - set(u2t))
        if missing:
            raise CsExtError(f"{data_dir}/utt2task: no task for {len(missing)} utterances, e.g. {missing[:3]}")
        where = f"{data_dir}/utt2task"
    else:
        if (data_dir / "task").is_file():
            default = (data_dir / "task").read_text(encoding="utf-8").strip()
            where = f"{data_dir}/task"
        else:
            where = "the task argument"
        u2t = {u: default for u in utts}
    bad = sorted({t for t in u2t.values() if t not in TASKS})
    if bad:
        raise CsExtError(f"{where}: tasks must be {' or '.join(TASKS)}, got {bad}")
    return {u: u2t[u] for u in utts}


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
    tasks = utterance_tasks(data_dir, cleaned, task)
    write_table(data_dir / "prompt", {u: f"<|{utt2lang[u]}|> <|{tasks[u]}|>" for u in cleaned})

    tok = wt.get_tokenizer(multilingual=True)
    longest = 0
    for utt, t in cleaned.items():
        n = len(tok.encode(" " + t))
        if n > MAX_TOKENS:
            raise CsExtError(f"{data_dir}/text: '{utt}' has {n} Whisper tokens (max {MAX_TOKENS})")
        longest = max(longest, n)
    return {"utterances": len(cleaned), "nfc_changed": changed, "max_tokens": longest}
