"""HiKE: Korean-English code-switching evaluation set (thetaone-ai/HiKE, Apache-2.0).

    cs-prepare hike /path/to/HiKE --out data/raw        # local copy of the HF repo
    cs-prepare hike hf://thetaone-ai/HiKE --out data/raw  # download (online)

Layout (the Hugging Face repo): `data/test-*.parquet` with columns
`audio` ({bytes, path}), `text`, `text_normalized`, `text_pier_labeled`, `cs_level`,
`cs_levels_all`, `category` (topic), `loanwords`, `sample_id`; 1,121 test rows.
Output: `test_hike` (utt id `hike-<sample_id>`, speaker unknown -> the utterance),
utt2category `ko-en`, utt2lang by script counts, utt2cs_level, utt2topic; the
transcript is `text` (set `text_field="text_normalized"` for the normalised one).
Audio is decoded to OUT/audio/hike/<utt>.wav (16 kHz mono).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

from ..utils.errors import CsExtError
from .datadir import Utt, make_id, write_split_dirs
from .sources import audio_value_to_wav, find_parquet, parquet_columns, read_parquet, resolve_source
from .text import clean_transcript, guess_matrix_language

PAIR = "ko-en"
EXPECTED = "data/test-*.parquet with columns audio, text, sample_id (thetaone-ai/HiKE)"


def prepare_hike(corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, seed: int = 0, split=None,
                 text_field: str = "text") -> Dict[str, Path]:
    root = resolve_source(corpus_dir, "hike")
    files = find_parquet(root, "data/test-*.parquet") or find_parquet(root)
    if not files:
        raise CsExtError(f"hike: no parquet files under {root} (expected {EXPECTED})")
    cols = parquet_columns(files)
    for c in ("audio", text_field, "sample_id"):
        if c not in cols:
            raise CsExtError(f"hike: {files[0]} has no '{c}' column (found {', '.join(cols)}; expected {EXPECTED})")
    out = Path(output_dir)
    utts = []
    for f, row in read_parquet(files, "hike"):
        uid = make_id("hike", row["sample_id"])
        wav, dur = audio_value_to_wav(row["audio"], f.parent, out / "audio" / "hike" / f"{uid}.wav", f"hike {uid}")
        text = clean_transcript(row[text_field] or "")
        extra = {}
        if row.get("cs_level"):
            extra["cs_level"] = str(row["cs_level"])
        if row.get("category"):
            extra["topic"] = make_id(row["category"])
        utts.append(Utt(uid, uid, text, wav, PAIR, guess_matrix_language(text, PAIR), dur, extra=extra))
    return write_split_dirs(out, "hike", utts, {u.utt_id: "test" for u in utts},
                            info={"corpus": "hike", "source": str(corpus_dir), "text_field": text_field})
