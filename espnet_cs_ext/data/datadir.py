"""Write Kaldi-style data dirs from a list of `Utt` records (one place, one format).

Files written (all sorted by key, C-locale order, UTF-8, NFC transcripts):
    wav.scp        <rec-id> <path or 'cmd |'>   (rec-id == utt-id unless segments)
    segments       <utt-id> <rec-id> <start> <end>   (only if any utt is a segment)
    text           <utt-id> <transcript>
    utt2spk        <utt-id> <spk-id>       spk2utt <spk-id> <utt-id> ...
    utt2category   <utt-id> <pair>         language pair, e.g. ko-en (ESPnet's
                                           `--iterator_type category` key)
    category2utt   <pair> <utt-id> ...     its inverse (what ESPnet's category
                                           batch sampler reads)
    utt2lang       <utt-id> <lang>         matrix language, e.g. ko
    utt2dur        <utt-id> <seconds>      when durations are known
    utt2<extra>    any further per-utterance fields given in `Utt.extra`
    info.json      provenance (corpus, split, options) when given

Utterance ids start with the speaker id so utt2spk and spk2utt sort the same way
(Kaldi's rule); use `make_id`.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError
from ..utils.kaldi import write_table
from .text import clean_transcript

_BAD_ID = re.compile(r"[^A-Za-z0-9_.\-]+")


def make_id(*parts: object) -> str:
    """Join parts with '-' into an id with only [A-Za-z0-9_.-] (other runs -> '_')."""
    out = "-".join(_BAD_ID.sub("_", str(p)).strip("_") or "x" for p in parts)
    return out


@dataclass
class Utt:
    utt_id: str
    speaker: str
    text: str
    audio: str                       # wav.scp value: a path or a 'cmd |' pipe
    category: str                    # language pair, e.g. "ko-en"
    lang: str                        # matrix language, e.g. "ko"
    duration: Optional[float] = None
    recording: Optional[str] = None  # set with start/end for segments
    start: Optional[float] = None
    end: Optional[float] = None
    extra: Dict[str, str] = field(default_factory=dict)  # name -> value => utt2<name>


def write_data_dir(out_dir: str | os.PathLike, utts: Iterable[Utt], info: Optional[dict] = None) -> Path:
    """Write the tables for `utts` into `out_dir` (created); return its path."""
    out = Path(out_dir)
    utts = list(utts)
    if not utts:
        raise CsExtError(f"{out}: no utterances to write")
    seen: Dict[str, Utt] = {}
    for u in utts:
        if not u.utt_id or any(c.isspace() for c in u.utt_id):
            raise CsExtError(f"bad utterance id {u.utt_id!r}")
        if u.utt_id in seen:
            raise CsExtError(f"{out}: duplicate utterance id '{u.utt_id}'")
        if not u.utt_id.startswith(u.speaker):
            raise CsExtError(f"{out}: utterance id '{u.utt_id}' must start with its speaker id '{u.speaker}'")
        seen[u.utt_id] = u
    out.mkdir(parents=True, exist_ok=True)
    segmented = any(u.recording for u in utts)
    text = {u.utt_id: clean_transcript(u.text) for u in utts}
    write_table(out / "text", text)
    if segmented:
        recs: Dict[str, str] = {}
        segs: Dict[str, str] = {}
        for u in utts:
            rec = u.recording or u.utt_id
            if rec in recs and recs[rec] != u.audio:
                raise CsExtError(f"{out}: recording '{rec}' has two audio sources")
            recs[rec] = u.audio
            start = u.start or 0.0
            end = u.end if u.end is not None else -1
            segs[u.utt_id] = f"{rec} {start:.3f} {end:.3f}" if end != -1 else f"{rec} {start:.3f} -1"
        write_table(out / "wav.scp", recs)
        write_table(out / "segments", segs)
    else:
        write_table(out / "wav.scp", {u.utt_id: u.audio for u in utts})
        if (out / "segments").exists():
            (out / "segments").unlink()
    write_table(out / "utt2spk", {u.utt_id: u.speaker for u in utts})
    spk2utt: Dict[str, List[str]] = {}
    for uid in sorted(seen):
        spk2utt.setdefault(seen[uid].speaker, []).append(uid)
    write_table(out / "spk2utt", {s: " ".join(v) for s, v in spk2utt.items()})
    write_table(out / "utt2category", {u.utt_id: u.category for u in utts})
    write_inverse(out / "category2utt", {u.utt_id: u.category for u in utts})
    write_table(out / "utt2lang", {u.utt_id: u.lang for u in utts})
    if all(u.duration is not None for u in utts):
        write_table(out / "utt2dur", {u.utt_id: f"{u.duration:.3f}" for u in utts})
    extras = sorted({k for u in utts for k in u.extra})
    for k in extras:
        write_table(out / f"utt2{k}", {u.utt_id: str(u.extra[k]) for u in utts if k in u.extra})
    if info is not None:
        with atomic_open(out / "info.json") as f:
            json.dump(info, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.write("\n")
    return out


def write_inverse(path: Path, utt2x: Dict[str, str]) -> None:
    """spk2utt-style inverse of an utt2x table (utterances sorted within each key)."""
    inv: Dict[str, List[str]] = {}
    for u in sorted(utt2x):
        inv.setdefault(utt2x[u], []).append(u)
    write_table(path, {k: " ".join(v) for k, v in inv.items()})


def split_dir_name(split: str, name: str) -> str:
    """The one naming rule for output data dirs: `<split>_<name>` (e.g. test_ko-ja)."""
    return f"{split}_{name}"


def combine_data_dirs(out_dir: str | os.PathLike, dirs: Iterable[str | os.PathLike]) -> Path:
    """Concatenate data dirs (e.g. train_ko-en + train_ja-en -> train_seen).

    Tables present in every input are combined (text, wav.scp, utt2spk, segments,
    utt2category, utt2lang, ..., and the recipe's prompt and feats.scp); cs_segments.jsonl too; spk2utt is rebuilt. Duplicate
    utterance or recording ids with different values are an error naming the id.
    """
    from ..utils.kaldi import read_table
    dirs = [Path(d) for d in dirs]
    if not dirs:
        raise CsExtError("combine: no input data dirs")
    for d in dirs:
        if not (d / "text").exists() or not (d / "wav.scp").exists():
            raise CsExtError(f"combine: {d} is not a data dir (needs text and wav.scp)")
    names = set.intersection(*[{p.name for p in d.iterdir() if p.is_file()} for d in dirs])
    # prompt and feats.scp are per-utterance tables the recipe adds (stages 3-4).
    per_utt = ("text", "wav.scp", "utt2spk", "segments", "prompt", "feats.scp")
    tables = sorted(n for n in names if n in per_utt or n.startswith("utt2"))
    if any((d / "segments").exists() for d in dirs) and "segments" not in tables:
        raise CsExtError("combine: some inputs have segments and some do not")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in tables:
        merged: Dict[str, str] = {}
        for d in dirs:
            for k, v in read_table(d / name).items():
                if k in merged and merged[k] != v:
                    raise CsExtError(f"combine: id '{k}' in {d / name} clashes with an earlier input")
                merged[k] = v
        write_table(out / name, merged)
    utt2spk = read_table(out / "utt2spk")
    spk2utt: Dict[str, List[str]] = {}
    for u in sorted(utt2spk):
        spk2utt.setdefault(utt2spk[u], []).append(u)
    write_table(out / "spk2utt", {s: " ".join(v) for s, v in spk2utt.items()})
    if (out / "utt2category").exists():
        write_inverse(out / "category2utt", read_table(out / "utt2category"))
    if "cs_segments.jsonl" in names:
        with atomic_open(out / "cs_segments.jsonl") as f:
            for d in dirs:
                f.write((d / "cs_segments.jsonl").read_text(encoding="utf-8"))
    with atomic_open(out / "info.json") as f:
        json.dump({"combined_from": [str(d) for d in dirs]}, f, indent=1)
        f.write("\n")
    return out


def write_split_dirs(output_dir: str | os.PathLike, name: str, utts: List[Utt], assign: Dict[str, str],
                     info: Optional[dict] = None) -> Dict[str, Path]:
    """Write one data dir per split: `<output_dir>/<split>_<name>`; return {dir name: path}."""
    by_split: Dict[str, List[Utt]] = {}
    for u in utts:
        by_split.setdefault(assign[u.utt_id], []).append(u)
    out: Dict[str, Path] = {}
    for split, us in sorted(by_split.items()):
        dname = split_dir_name(split, name)
        out[dname] = write_data_dir(Path(output_dir) / dname, us, info={**(info or {}), "split": split})
    return out
