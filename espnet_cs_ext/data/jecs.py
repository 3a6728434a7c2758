"""JECS: Japanese-English code-switching speech (Takamichi lab; 582 utterances, 1
speaker in the paper's use): ja-en training data.

    cs-prepare jecs /path/to/jecs --out data/raw [--seed 0 --split 0.8,0.1,0.1]

The distribution's exact layout was not available when this was written. Supported:
audio files (wav/flac/...) anywhere under the dir plus one transcript list that
names them by file stem, in any shape `transcripts.match_transcripts` reads - e.g.
JSUT-style `transcript_utf8.txt` lines `<id>:<text>`, a tab/space-separated list, a
Kaldi `text` file, or a CSV/TSV/JSONL with id and text columns (optional `speaker`).
Utterances without a transcript are reported in info.json, not silently used.
With fewer than 3 speakers the split is a seeded per-utterance split (--split);
otherwise speaker-disjoint. Output: `<split>_jecs`, utt2category `ja-en`, utt2lang
by script counts (kana/kanji vs Latin words). Transcripts keep their scripts.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Sequence

from ..utils.errors import CsExtError
from .datadir import Utt, make_id, write_split_dirs
from .sources import audio_duration, find_audio, resolve_source
from .splits import assign_splits
from .text import clean_transcript, guess_matrix_language
from .transcripts import match_transcripts

EXPECTED = ("audio files plus a transcript list naming them by stem, e.g. wav/<id>.wav + "
            "transcript_utf8.txt with '<id>:<text>' lines")


def prepare_transcribed_corpus(name: str, pair: str, corpus_dir, output_dir, seed: int,
                               split: Sequence[float], expected: str) -> Dict[str, Path]:
    root = resolve_source(corpus_dir, name)
    audio = find_audio(root)
    if not audio:
        raise CsExtError(f"{name}: no audio files under {root} (expected {expected})")
    tfile, recs = match_transcripts(root, audio, name, expected)
    utts: List[Utt] = []
    for stem in sorted(recs):
        rec = recs[stem]
        spk = make_id(name, rec.get("speaker") or rec.get("speaker_id") or "spk")
        uid = make_id(spk, stem)
        text = clean_transcript(rec["text"])
        wav = audio[stem]
        utts.append(Utt(uid, spk, text, str(wav.resolve()), pair, guess_matrix_language(text, pair),
                        audio_duration(wav)))
    given = {make_id(make_id(name, r.get("speaker") or r.get("speaker_id") or "spk"), s): r["split"]
             for s, r in recs.items() if r.get("split")}
    if given:
        norm = {"validation": "dev", "valid": "dev", "dev": "dev", "test": "test", "train": "train"}
        assign = {u.utt_id: norm.get(given.get(u.utt_id, "train").lower(), "train") for u in utts}
    else:
        assign = assign_splits({u.utt_id: u.speaker for u in utts}, split, seed=seed)
    untranscribed = sorted(set(audio) - set(recs))
    return write_split_dirs(output_dir, name, utts, assign,
                            info={"corpus": name, "source": str(corpus_dir), "transcripts": str(tfile),
                                  "seed": seed, "audio_without_transcript": untranscribed})


def prepare_jecs(corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, seed: int = 0,
                 split: Sequence[float] = (0.8, 0.1, 0.1)) -> Dict[str, Path]:
    return prepare_transcribed_corpus("jecs", "ja-en", corpus_dir, output_dir, seed, split, EXPECTED)
