"""HiKE: Korean-English code-switching evaluation set (thetaone-ai/HiKE, Apache-2.0).

    cs-prepare hike hf://thetaone-ai/HiKE --out data/raw [--revision COMMIT]  # download (online)
    cs-prepare hike /path/to/HiKE --out data/raw                               # local copy of the repo
    cs-score --preset hike --loanwords data/raw/test_hike/utt2loanwords ...    # HiKE's own scoring

Layout (the Hugging Face repo): `data/test-*.parquet` with columns
`audio` ({bytes, path}), `text`, `text_normalized`, `text_pier_labeled`, `cs_level`,
`cs_levels_all`, `category` (topic), `loanwords`, `sample_id`; 1,121 test rows.

Output `test_hike` (utt id `hike-<sample_id>`, speaker unknown -> the utterance):
- text: `text_normalized`, the reference HiKE scores against (src/main.py), NFC and
  whitespace-collapsed only; `text_field="text"` (`--text-field text`) for the raw one.
- utt2loanwords: the row's `loanwords` list (JSON, HiKE's {"Korean", "English"} keys,
  `[]` when none), which HiKE substitutes in both prediction and reference before
  scoring; `cs-score --loanwords` and the recipe's stage 8 do the same.
- utt2category `ko-en`, utt2lang by script counts, utt2cs_level, utt2topic.
- info.json: the text field, the revision / commit read (`hub.provenance`) and
  `empty_refs_scored: true` (HiKE's mean counts utterances with an empty reference, so
  `cs-prepare validate` keeps them instead of dropping them as empty-text).
Audio is decoded to OUT/audio/hike/<utt>.wav (16 kHz mono).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional

from ..utils.errors import CsExtError
from .datadir import Utt, make_id, write_split_dirs
from .hub import open_repo
from .sources import audio_value_to_wav, parquet_columns, read_parquet
from .text import clean_transcript, guess_matrix_language, nfc

PAIR = "ko-en"
TEXT_FIELDS = ("text_normalized", "text")
EXPECTED = "data/test-*.parquet with columns audio, text_normalized (or text), loanwords, sample_id (thetaone-ai/HiKE)"


def prepare_hike(corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, seed: int = 0, split=None,
                 text_field: str = "text_normalized", revision: Optional[str] = None) -> Dict[str, Path]:
    if text_field not in TEXT_FIELDS:
        raise CsExtError(f"hike: text field '{text_field}' is not one of {', '.join(TEXT_FIELDS)}")
    repo = open_repo(corpus_dir, "hike", revision)
    names = repo.match("data/test-*.parquet") or repo.match("*.parquet")
    if not names:
        raise CsExtError(f"hike: no parquet files under {corpus_dir} (expected {EXPECTED})")
    files = repo.get_many(names)
    cols = parquet_columns(files)
    for c in ("audio", text_field, "sample_id", "loanwords"):
        if c not in cols:
            raise CsExtError(f"hike: {files[0]} has no '{c}' column (found {', '.join(cols)}; expected {EXPECTED})")
    from ..scoring.loanwords import dump_loanwords, parse_loanwords
    import pyarrow.parquet as pq
    # Every row's loanwords are checked before any audio is written (no half-written output).
    loanwords = {}
    for f in files:
        t = pq.read_table(f, columns=["sample_id", "loanwords"]).to_pylist()
        for row in t:
            uid = make_id("hike", row["sample_id"])
            # NFC like the reference, so the substitution finds its Korean spelling there
            pairs = parse_loanwords(row["loanwords"] or "[]", f"hike: {f}: {uid}")
            loanwords[uid] = dump_loanwords([(nfc(k), nfc(e)) for k, e in pairs])
    out = Path(output_dir)
    utts = []
    for f, row in read_parquet(files, "hike"):
        uid = make_id("hike", row["sample_id"])
        wav, dur = audio_value_to_wav(row["audio"], f.parent, out / "audio" / "hike" / f"{uid}.wav", f"hike {uid}")
        text = clean_transcript(row[text_field] or "")
        extra = {"loanwords": loanwords[uid]}
        if row.get("cs_level"):
            extra["cs_level"] = str(row["cs_level"])
        if row.get("category"):
            extra["topic"] = make_id(row["category"])
        utts.append(Utt(uid, uid, text, wav, PAIR, guess_matrix_language(text, PAIR), dur, extra=extra))
    return write_split_dirs(out, "hike", utts, {u.utt_id: "test" for u in utts},
                            info={"corpus": "hike", "text_field": text_field, "empty_refs_scored": True,
                                  **repo.provenance()})
