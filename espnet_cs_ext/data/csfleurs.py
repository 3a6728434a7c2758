"""CS-FLEURS (byan/cs-fleurs, CC-BY-NC-4.0): code-switched FLEURS sentences, X-English pairs.

    cs-prepare csfleurs hf://byan/cs-fleurs --out data/raw --subset read --pairs deu-eng,cmn-eng
    cs-prepare csfleurs /path/to/cs-fleurs --out data/raw [--subset read] [--pairs deu-eng]

Layout (the HF repo, audiofolder style): `<subset>/<split>/metadata.jsonl` with
fields `id`, `file_name` (audio path relative to that metadata file), `text`,
`duration`, `language` (the pair, e.g. `deu-eng`, matrix language first), `speaker`;
subsets `read` (human-read test set, default), `xtts` and `mms` (synthetic); the
whole repo is ~90k rows, ~40 GB. Only what is asked for is read: the subset's
metadata files first, then the audio files of the rows whose pair was asked for
(on the Hub: one download per file at one commit, see `hub`). Any `metadata.jsonl`
below `<subset>/` is read, so extra nesting works; a row without `language` takes
the pair from a folder name like `xxx-eng`. A requested pair the subset lacks is an
error listing the pairs it has.

Output: `<split>_csfleurs_<subset>_<pair>` per pair (e.g. `test_csfleurs_read_de-en`),
utt2category = the pair in two-letter codes, utt2lang = its first language,
speaker-prefixed utterance ids (utt2spk from the `speaker` field), utt2dur (the
metadata's duration, else measured), utt2orig_sr (the file's sample rate). Audio
that is not 16 kHz mono 16-bit wav is resampled once to
OUT/audio/csfleurs/<subset>/<utt>.wav (kept on rerun); 16 kHz mono wavs are
referenced in place.
"""
from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import soundfile as sf

from ..utils.errors import CsExtError
from .audio import is_canonical, read_audio, to_mono_16k, write_wav
from .datadir import Utt, make_id, write_data_dir
from .hub import open_repo
from .sources import read_manifest
from .text import clean_transcript, pair_code

EXPECTED = "<subset>/<split>/metadata.jsonl with fields id, file_name, text, language, speaker"
_PAIR_DIR = re.compile(r"^[a-z]{3}-[a-z]{3}$")


def _split_name(meta_rel: str, subset: str) -> str:
    parts = meta_rel.split("/")[1:-1]  # between <subset>/ and /metadata.jsonl
    name = parts[0] if parts else "test"
    return "dev" if name in ("dev", "validation", "valid") else name


def _to_16k(src: Path, dst: Path, what: str) -> tuple:
    """(wav.scp path, original sample rate, duration): resampled copy unless already canonical."""
    try:
        orig_sr = sf.info(str(src)).samplerate
    except Exception as e:
        raise CsExtError(f"{what}: cannot read audio {src} ({e})")
    if is_canonical(str(src)):
        return str(src.resolve()), orig_sr, sf.info(str(src)).duration
    if not dst.exists():  # written atomically: a killed run resumes here
        data, sr = read_audio(str(src))
        write_wav(dst, to_mono_16k(data, sr))
    return str(dst.resolve()), orig_sr, sf.info(str(dst)).duration


def prepare_csfleurs(corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, seed: int = 0, split=None,
                     subsets: Sequence[str] = ("read",), pairs: Optional[Sequence[str]] = None,
                     revision: Optional[str] = None) -> Dict[str, Path]:
    repo = open_repo(corpus_dir, "csfleurs", revision)
    want = {pair_code(p): p for p in pairs} if pairs else None
    out = Path(output_dir)
    result: Dict[str, Path] = {}
    listed = None
    for subset in subsets:
        meta_names = repo.match(f"{subset}/metadata.jsonl", f"{subset}/*/metadata.jsonl")
        if not meta_names:
            raise CsExtError(f"csfleurs: no {subset}/**/metadata.jsonl under {corpus_dir} (expected {EXPECTED})")
        rows = []  # (split, pair, metadata rel path, line, row)
        have: Dict[str, str] = {}  # pair code -> the corpus' own spelling
        for rel, m in zip(meta_names, repo.get_many(meta_names)):
            dir_pair = next((p for p in rel.split("/")[:-1] if _PAIR_DIR.match(p)), None)
            for i, row in enumerate(read_manifest(m, "csfleurs"), 1):
                missing = [k for k in ("file_name", "text") if k not in row]
                if missing:
                    raise CsExtError(f"csfleurs: {m}:{i}: no field(s) {', '.join(missing)} (expected {EXPECTED})")
                lang = row.get("language") or dir_pair
                if not lang:
                    raise CsExtError(f"csfleurs: {m}:{i}: no 'language' field and no pair folder")
                pair = pair_code(lang)
                have.setdefault(pair, lang)
                if want is None or pair in want:
                    rows.append((_split_name(rel, subset), pair, rel, i, row))
        if want:
            lacking = sorted(set(want) - set(have))
            if lacking:
                raise CsExtError(f"csfleurs: subset '{subset}' has no pair(s) "
                                 f"{', '.join(f'{want[p]} ({p})' if want[p] != p else p for p in lacking)}; it has: "
                                 f"{', '.join(f'{have[p]} ({p})' for p in sorted(have))}")
        listed = set(repo.list())
        audio_rel = []
        for _, _, rel, i, row in rows:
            a = posixpath.normpath(posixpath.join(posixpath.dirname(rel), row["file_name"]))
            if a not in listed:
                raise CsExtError(f"csfleurs: {rel}:{i}: audio {a} not found in {corpus_dir}")
            audio_rel.append(a)
        audio = repo.get_many(audio_rel)
        groups: Dict[tuple, List[Utt]] = {}
        for (split_name, pair, rel, i, row), src in zip(rows, audio):
            stem = Path(row["file_name"]).stem
            spk = make_id("csfleurs", pair, row.get("speaker") or "unk")
            uid = make_id(spk, row["id"], stem) if "id" in row else make_id(spk, stem)
            wav, orig_sr, measured = _to_16k(src, out / "audio" / "csfleurs" / subset / f"{uid}.wav",
                                             f"csfleurs: {rel}:{i}")
            dur = float(row["duration"]) if row.get("duration") not in (None, "") else measured
            groups.setdefault((split_name, pair), []).append(
                Utt(uid, spk, clean_transcript(row["text"]), wav, pair, pair.split("-")[0], dur,
                    extra={"orig_sr": str(orig_sr)}))
        for (split_name, pair), utts in sorted(groups.items()):
            name = f"{split_name}_csfleurs_{subset}_{pair}"
            result[name] = write_data_dir(out / name, utts, info={
                "corpus": "csfleurs", "subset": subset, "split": split_name, "pair": pair,
                "orig_sample_rates": sorted({int(u.extra["orig_sr"]) for u in utts}), **repo.provenance()})
    return result
