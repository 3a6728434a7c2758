"""Korean-Japanese code-switching speech (thetaone-ai/Korean-Japanese-Code-Switching-Speech,
Apache-2.0, ~450 utterances, 2 speakers): the unseen-pair ko-ja evaluation set.

    cs-prepare koja hf://thetaone-ai/Korean-Japanese-Code-Switching-Speech --out data/raw [--revision R]
    cs-prepare koja /path/to/copy --out data/raw

Which layout is read: the Hub serves this repo as a parquet export (revision
`refs/convert/parquet`, files `<config>/<split>/NNNN.parquet`), the default revision
for hf:// ids (`hub.DEFAULT_REVISIONS`); its column names were not published where
this could be checked, so the reader detects them. Supported layouts (first match wins):
  1. parquet files anywhere under the dir (HF `data/<split>-*.parquet`, or the
     `refs/convert/parquet` export), with an audio column (`audio`: {bytes, path})
  2. an audiofolder: `metadata.jsonl` / `metadata.csv` next to the audio, with a
     `file_name` column relative to that file
Columns: transcript = first of text, transcription, transcript, sentence, label;
id = first of id, sample_id, utt_id, file_name (else the row number); speaker =
first of speaker, speaker_id, spk (optional). Anything else fails with one line
naming the file, the columns found and the ones expected. Output: `test_koja` (all
rows are evaluation data), utt2category `ko-ja`, utt2lang by script counts (Hangul
vs kana/kanji), info.json with the revision and commit read.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional

from ..utils.errors import CsExtError
from .datadir import Utt, make_id, write_split_dirs
from .hub import RepoFiles, open_repo
from .sources import AUDIO_EXT, MANIFEST_NAMES, audio_value_to_wav, pick, read_manifest, read_parquet
from .text import clean_transcript, guess_matrix_language

TEXT_COLS = ("text", "transcription", "transcript", "sentence", "label")
ID_COLS = ("id", "sample_id", "utt_id", "file_name")
SPK_COLS = ("speaker", "speaker_id", "spk")
AUDIO_COLS = ("audio", "file_name", "path", "audio_path")


def load_rows(repo: RepoFiles, name: str) -> List[tuple]:
    """[(base dir for relative audio, row)] from parquet or an audiofolder manifest."""
    names = repo.match("*.parquet")
    if names:
        return [(f.parent, r) for f, r in read_parquet(repo.get_many(names), name)]
    listing = repo.list()
    for mname in MANIFEST_NAMES:
        if any(p.rsplit("/", 1)[-1] == mname for p in listing):
            # an audiofolder: the manifests name the audio beside them, so take the whole tree
            paths = dict(zip(listing, repo.get_many(listing)))
            ms = [paths[p] for p in listing if p.rsplit("/", 1)[-1] == mname]
            return [(m.parent, r) for m in ms for r in read_manifest(m, name)]
    raise CsExtError(f"{name}: no parquet files and no {'/'.join(MANIFEST_NAMES)} under {repo.provenance()['source']} "
                     f"(expected HF parquet with audio + text columns, or an audiofolder)")


def rows_to_utts(rows: List[tuple], name: str, pair: str, out: Path) -> List[Utt]:
    if not rows:
        raise CsExtError(f"{name}: no rows found")
    base0, first = rows[0]
    where = f"{name} ({base0})"
    tcol = pick(first, TEXT_COLS, where, "transcript")
    acol = pick(first, AUDIO_COLS, where, "audio")
    icol = pick(first, ID_COLS, name, "id", required=False)
    scol = pick(first, SPK_COLS, name, "speaker", required=False)
    utts: List[Utt] = []
    for n, (base, row) in enumerate(rows):
        raw_id = row.get(icol) if icol else None
        if isinstance(raw_id, str) and ("/" in raw_id or raw_id.lower().endswith(AUDIO_EXT)):
            raw_id = Path(raw_id).stem  # a file name used as id
        raw_id = raw_id if raw_id not in (None, "") else f"{n:05d}"
        spk = make_id(name, row[scol]) if scol and row.get(scol) not in (None, "") else None
        uid = make_id(spk, raw_id) if spk else make_id(name, raw_id)
        wav, dur = audio_value_to_wav(row[acol], base, out / "audio" / name / f"{uid}.wav", f"{name} {uid}")
        text = clean_transcript(str(row.get(tcol) or ""))
        utts.append(Utt(uid, spk or uid, text, wav, pair, guess_matrix_language(text, pair), dur))
    return utts


def prepare_koja(corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, seed: int = 0,
                 split=None, revision: Optional[str] = None) -> Dict[str, Path]:
    repo = open_repo(corpus_dir, "koja", revision)
    out = Path(output_dir)
    utts = rows_to_utts(load_rows(repo, "koja"), "koja", "ko-ja", out)
    return write_split_dirs(out, "koja", utts, {u.utt_id: "test" for u in utts},
                            info={"corpus": "koja", **repo.provenance()})
