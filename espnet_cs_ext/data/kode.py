"""Korean-German code-switching evaluation set (the paper's 387 utterances, 2
speakers; not public): the unseen-pair ko-de test set, read from a local dir.

    cs-prepare kode /path/to/kode --out data/raw

Documented layout (an audiofolder, as for the ko-ja set):
    <dir>/metadata.jsonl   one JSON object per line:
        {"file_name": "audio/spk1_0001.wav", "text": "...", "speaker": "spk1", "id": "0001"}
    <dir>/audio/...        the audio files (any format soundfile reads)
`metadata.csv` / `.tsv` with the same columns, or parquet with an `audio` column,
also work; `id` and `speaker` are optional. Output: `test_kode`, utt2category
`ko-de`, utt2lang by script counts (Hangul vs Latin words).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

from .datadir import write_split_dirs
from .koja import load_rows, rows_to_utts
from .hub import open_repo


def prepare_kode(corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, seed: int = 0,
                 split=None) -> Dict[str, Path]:
    repo = open_repo(corpus_dir, "kode")
    out = Path(output_dir)
    utts = rows_to_utts(load_rows(repo, "kode"), "kode", "ko-de", out)
    return write_split_dirs(out, "kode", utts, {u.utt_id: "test" for u in utts},
                            info={"corpus": "kode", "source": str(corpus_dir)})
