"""CS-FLEURS (byan/cs-fleurs): code-switched FLEURS sentences, X-English pairs.

    cs-prepare csfleurs /path/to/cs-fleurs --out data/raw [--subset read] [--pairs deu-eng]

Layout (the HF repo, audiofolder style): `<subset>/<split>/metadata.jsonl` with
fields `id`, `file_name` (audio path relative to that metadata file), `text`,
`duration`, `language` (the pair, e.g. `deu-eng`, matrix language first), `speaker`;
subsets `read` (human-read test set, default), `xtts` and `mms` (synthetic). Any
`metadata.jsonl` below `<subset>/` is read, so extra nesting (e.g. per-pair folders)
works; a row without `language` takes the pair from its folder name if that looks
like `xxx-eng`. Output: `<split>_csfleurs_<subset>_<pair>` per pair (e.g.
`test_csfleurs_read_de-en`), utt2category = the pair in two-letter codes, utt2lang
= its first language, speaker-prefixed utterance ids; audio referenced in place.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..utils.errors import CsExtError
from .datadir import Utt, make_id, write_data_dir
from .sources import read_manifest, resolve_source
from .text import clean_transcript, pair_code

EXPECTED = "<subset>/<split>/metadata.jsonl with fields id, file_name, text, language, speaker"
_PAIR_DIR = re.compile(r"^[a-z]{3}-[a-z]{3}$")


def prepare_csfleurs(corpus_dir: str | os.PathLike, output_dir: str | os.PathLike, seed: int = 0, split=None,
                     subsets: Sequence[str] = ("read",), pairs: Optional[Sequence[str]] = None) -> Dict[str, Path]:
    root = resolve_source(corpus_dir, "csfleurs")
    want = {pair_code(p) for p in pairs} if pairs else None
    out = Path(output_dir)
    result: Dict[str, Path] = {}
    for subset in subsets:
        metas = sorted((root / subset).rglob("metadata.jsonl")) if (root / subset).is_dir() else []
        if not metas:
            raise CsExtError(f"csfleurs: no {subset}/**/metadata.jsonl under {root} (expected {EXPECTED})")
        groups: Dict[tuple, List[Utt]] = {}
        for m in metas:
            rel = m.parent.relative_to(root / subset).parts
            split_name = rel[0] if rel else "test"
            split_name = "dev" if split_name in ("dev", "validation", "valid") else split_name
            dir_pair = next((p for p in rel if _PAIR_DIR.match(p)), None)
            for i, row in enumerate(read_manifest(m, "csfleurs"), 1):
                missing = [k for k in ("file_name", "text") if k not in row]
                if missing:
                    raise CsExtError(f"csfleurs: {m}:{i}: no field(s) {', '.join(missing)} (expected {EXPECTED})")
                lang = row.get("language") or dir_pair
                if not lang:
                    raise CsExtError(f"csfleurs: {m}:{i}: no 'language' field and no pair folder")
                pair = pair_code(lang)
                if want and pair not in want:
                    continue
                audio = m.parent / row["file_name"]
                if not audio.exists():
                    raise CsExtError(f"csfleurs: {m}:{i}: audio {audio} not found")
                spk = make_id("csfleurs", pair, row.get("speaker") or "unk")
                uid = make_id(spk, row.get("id", Path(row["file_name"]).stem), Path(row["file_name"]).stem) \
                    if "id" in row else make_id(spk, Path(row["file_name"]).stem)
                dur = float(row["duration"]) if row.get("duration") not in (None, "") else None
                if dur is None:
                    from .sources import audio_duration
                    dur = audio_duration(audio)
                groups.setdefault((split_name, pair), []).append(
                    Utt(uid, spk, clean_transcript(row["text"]), str(audio.resolve()), pair, pair.split("-")[0], dur))
        if want and not groups:
            raise CsExtError(f"csfleurs: no rows of pair(s) {', '.join(sorted(want))} in subset '{subset}'")
        for (split_name, pair), utts in sorted(groups.items()):
            name = f"{split_name}_csfleurs_{subset}_{pair}"
            result[name] = write_data_dir(out / name, utts, info={"corpus": "csfleurs", "subset": subset,
                                                                  "split": split_name, "pair": pair})
    return result
