"""Pair audio files with transcript lists in the common corpus shapes.

Used by corpora whose exact layout is not published (JECS, UniCoM): every `*.txt`,
`*.tsv`, `*.csv`, `*.jsonl` or Kaldi `text` file under the corpus dir is tried, and
lines are read as `<id><sep><transcript>` with sep one of ':' (JSUT style,
`BASIC5000_0001:...`), tab, ',' or space; JSON lines / CSV with a header use the
columns id|utt_id|file_name|audio|path and text|transcript|transcription|sentence.
An id matches an audio file by stem. The file (and separator) matching the most
audio files wins; files matching none are ignored.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..utils.errors import CsExtError

ID_COLS = ("id", "utt_id", "file_name", "audio", "path", "wav")
TEXT_COLS = ("text", "transcript", "transcription", "sentence")
EXTRA_COLS = ("speaker", "speaker_id", "split", "language", "lang")


def _stem(s: str) -> str:
    return Path(s.strip()).stem if ("/" in s or "." in s[-5:]) else s.strip()


def _parse_lines(path: Path, sep: str) -> Dict[str, dict]:
    out: Dict[str, dict] = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        if not line.strip() or sep not in line:
            continue
        k, v = line.split(sep, 1) if sep != " " else line.split(None, 1) if len(line.split(None, 1)) == 2 else (line, "")
        out[_stem(k)] = {"text": v.strip()}
    return out


def _parse_table(path: Path) -> Dict[str, dict]:
    rows: List[dict] = []
    if path.suffix == ".jsonl":
        rows = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    else:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ","))
    if not rows:
        return {}
    icol = next((c for c in ID_COLS if c in rows[0]), None)
    tcol = next((c for c in TEXT_COLS if c in rows[0]), None)
    if not icol or not tcol:
        return {}
    out = {}
    for r in rows:
        rec = {"text": str(r.get(tcol) or "")}
        rec.update({c: str(r[c]) for c in EXTRA_COLS if r.get(c) not in (None, "")})
        if icol in ("file_name", "audio", "path", "wav"):
            rec["audio_rel"] = str(r[icol])
        out[_stem(str(r[icol]))] = rec
    return out


def match_transcripts(root: Path, audio: Dict[str, Path], what: str, expected: str) -> Tuple[Path, Dict[str, dict]]:
    """Return (transcript file, {audio stem: record with 'text' and optional fields})."""
    best: Tuple[int, Optional[Path], Dict[str, dict]] = (0, None, {})
    cands = [p for p in sorted(root.rglob("*")) if p.is_file() and
             (p.suffix.lower() in (".txt", ".tsv", ".csv", ".jsonl") or p.name == "text")]
    for p in cands:
        try:
            parsed = []
            if p.suffix.lower() in (".csv", ".tsv", ".jsonl"):
                parsed.append(_parse_table(p))
            if p.suffix.lower() != ".jsonl":
                parsed += [_parse_lines(p, s) for s in (":", "\t", ",", " ")]
        except (UnicodeDecodeError, ValueError):
            continue
        for table in parsed:
            n = sum(1 for k in table if k in audio)
            if n > best[0]:
                best = (n, p, table)
    if best[1] is None:
        raise CsExtError(f"{what}: no transcript file under {root} names any of its {len(audio)} audio files "
                         f"(expected {expected})")
    return best[1], {k: v for k, v in best[2].items() if k in audio}
