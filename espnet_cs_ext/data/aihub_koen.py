"""AI-Hub "Korean-English mixed speech recognition" (dataSetSn=71260): ko-en training data.

    cs-prepare aihub_koen /path/to/aihub --out data/raw [--seed 0 --split 0.9,0.1,0]

AI-Hub distributes it after registration; its exact folder/JSON layout was not
available when this was written. Supported layout (AI-Hub's usual shape):
    <dir>/**/<name>.wav   audio (also .flac/.mp3; a .pcm is not supported: convert it)
    <dir>/**/<name>.json  one label file per utterance with the SAME stem, anywhere
                          under <dir> (e.g. 01.원천데이터/ and 02.라벨링데이터/ trees)
In each JSON the transcript is the first string found under one of the keys
    LabelText, TransLabelText, transcription, transcript, text, Text, stt, 전사
(searched at any depth, e.g. {"전사정보": {"LabelText": "..."}}) and the speaker
under SpeakerId, SpeakerID, speaker_id, speakerId, speaker, 화자ID (optional; else
the parent folder name). Paths containing Training / Validation (or 1.Training,
2.Validation, train, valid) keep AI-Hub's split: Validation -> test, Training ->
train + dev (seeded, speaker-disjoint); otherwise a seeded speaker-disjoint
train/dev/test split by --split. Output: `<split>_aihub_koen`, utt2category
`ko-en`, utt2lang by script counts. A tree without matching (json, audio) pairs
fails with a message that says this.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..utils.errors import CsExtError
from .datadir import Utt, make_id, write_split_dirs
from .sources import audio_duration, find_audio, resolve_source
from .splits import assign_splits
from .text import clean_transcript, guess_matrix_language

TEXT_KEYS = ("LabelText", "TransLabelText", "transcription", "transcript", "text", "Text", "stt", "전사")
SPK_KEYS = ("SpeakerId", "SpeakerID", "speaker_id", "speakerId", "speaker", "화자ID")
PAIR = "ko-en"


def _find_key(obj, keys: Sequence[str]) -> Optional[str]:
    """Breadth-first: the first string (or number) value under any of `keys`."""
    queue = [obj]
    while queue:
        cur = queue.pop(0)
        if isinstance(cur, dict):
            for k in keys:
                v = cur.get(k)
                if isinstance(v, (str, int)) and str(v).strip():
                    return str(v)
            queue.extend(v for v in cur.values() if isinstance(v, (dict, list)))
        elif isinstance(cur, list):
            queue.extend(v for v in cur if isinstance(v, (dict, list)))
    return None


def _aihub_split(path: Path) -> Optional[str]:
    parts = [p.lower() for p in path.parts]
    if any("validation" in p or p in ("valid", "val", "2.validation") for p in parts):
        return "test"
    if any("training" in p or p in ("train", "1.training") for p in parts):
        return "train"
    return None


def prepare_aihub_koen(corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, seed: int = 0,
                       split: Sequence[float] = (0.8, 0.1, 0.1)) -> Dict[str, Path]:
    root = resolve_source(corpus_dir, "aihub_koen")
    audio = find_audio(root)
    labels = sorted(root.rglob("*.json"))
    pairs = [(j, audio[j.stem]) for j in labels if j.stem in audio]
    if not pairs:
        raise CsExtError(f"aihub_koen: found {len(labels)} .json and {len(audio)} audio files under {root} but no "
                         f"label/audio pair with the same name (expected <name>.json + <name>.wav anywhere "
                         f"under the dir, transcript under one of {', '.join(TEXT_KEYS)})")
    utts: List[Utt] = []
    orig: Dict[str, Optional[str]] = {}
    for j, wav in pairs:
        try:
            obj = json.loads(j.read_text(encoding="utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as e:
            raise CsExtError(f"aihub_koen: {j} is not UTF-8 JSON ({e})")
        text = _find_key(obj, TEXT_KEYS)
        if text is None:
            raise CsExtError(f"aihub_koen: {j} has no transcript under any of {', '.join(TEXT_KEYS)}")
        spk_raw = _find_key(obj, SPK_KEYS) or wav.parent.name
        spk = make_id("aihub", spk_raw)
        uid = make_id(spk, wav.stem)
        text = clean_transcript(text)
        utts.append(Utt(uid, spk, text, str(wav.resolve()), PAIR, guess_matrix_language(text, PAIR),
                        audio_duration(wav)))
        # only the part below the corpus root counts (a parent dir may say "validation")
        orig[uid] = _aihub_split(wav.relative_to(root)) or _aihub_split(j.relative_to(root))
    if len({u.utt_id for u in utts}) != len(utts):
        raise CsExtError("aihub_koen: two label files give the same speaker+file name")
    utt2spk = {u.utt_id: u.speaker for u in utts}
    if any(orig.values()):
        assign = {u: "test" for u, s in orig.items() if s == "test"}
        train_pool = {u: utt2spk[u] for u, s in orig.items() if s != "test"}
        sub = assign_splits(train_pool, (0.9, 0.1, 0.0), seed=seed)
        assign.update(sub)
    else:
        assign = assign_splits(utt2spk, split, seed=seed)
    return write_split_dirs(output_dir, "aihub_koen", utts, assign,
                            info={"corpus": "aihub_koen", "source": str(corpus_dir), "seed": seed})
