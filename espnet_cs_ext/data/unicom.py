"""UniCoM de-en split (Lee et al. 2025: code-switched speech made by concatenating
monolingual segments): de-en training data.

    cs-prepare unicom /path/to/unicom/de-en --out data/raw [--seed 0]

The release's exact layout was not available when this was written. Supported:
audio files anywhere under the dir plus a manifest naming them, read like JECS
(`transcripts.match_transcripts`): a JSONL/CSV/TSV with `file_name`|`audio`|`path`|`id`
and `text`|`transcript`|`transcription` columns (optional `speaker`, and `split`
with train/dev|validation/test which is then kept), a Kaldi `text` file, or
`<id>:<text>` / tab-separated lines. Without a `split` column: seeded split by
--split, speaker-disjoint when >= 3 speakers are given. Output: `<split>_unicom`,
utt2category `de-en`, utt2lang by script counts (ties -> de).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Sequence

from .jecs import prepare_transcribed_corpus

EXPECTED = "audio files plus a manifest (metadata.jsonl/csv with file_name and text columns) naming them"


def prepare_unicom(corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, seed: int = 0,
                   split: Sequence[float] = (0.8, 0.1, 0.1)) -> Dict[str, Path]:
    return prepare_transcribed_corpus("unicom", "de-en", corpus_dir, output_dir, seed, split, EXPECTED)
