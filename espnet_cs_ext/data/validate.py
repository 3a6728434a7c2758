"""Validate a Kaldi data dir and write a formatted, 16 kHz mono copy.

    cs-prepare validate DIR                       # check only; exit 2 naming bad items
    cs-prepare validate DIR --out DST [--drop-bad] [--max-duration 30]

Checks (each problem names the utterance/recording and the file):
  error (the item would be lost; stops unless --drop-bad, which drops and counts it)
    non-utf8        a table line that is not UTF-8 (named by its id)
    duplicate-id    an id twice in text / wav.scp / segments (all copies dropped)
    no-audio        utt in text without a wav.scp (or segments) entry
    no-text         utt in wav.scp/segments without a transcript
    missing-file    wav.scp path that does not exist
    unreadable      audio that soundfile / the pipe cannot decode (corrupt file)
    zero-length     audio (or segment) with no samples
    truncated       a WAV whose header promises more samples than the file holds
    too-short       fewer than 400 samples at 16 kHz (25 ms, one Whisper window: the
                    log-mel front end cannot frame less)
    bad-segment     segment outside its recording or with end <= start
    empty-text      empty or punctuation-only transcript (kept, as a note, in a test set
                    whose info.json says `"empty_refs_scored": true`: HiKE scores its empty
                    references, counting the hypothesis' insertions there)
    too-long        longer than --max-duration seconds (Whisper's 30 s window)
  note (fixed in the copy, never dropped)
    unsorted        table not in C-locale key order
    converted       audio not 16 kHz mono 16-bit PCM (stereo, 8 kHz, 24-bit, float...)
    utt2spk-missing utt without speaker (speaker := utt id)
    utf8-bom        a table starting with a UTF-8 byte-order mark (dropped, not part of an id)
    empty-ref-kept  an empty transcript kept because the corpus scores it (see empty-text)
The copy (DST) has sorted tables restricted to the kept utterances, audio that
already is 16 kHz mono PCM_16 referenced in place and everything else converted into
DST/audio/, plus DST/validate_report.txt (what was dropped and why, counts).
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError
from ..utils.kaldi import UTF8_BOM, show_id, strip_bom, write_table
from .text import is_punct_only

ERROR_KINDS = ("non-utf8", "duplicate-id", "no-audio", "no-text", "missing-file", "unreadable",
               "zero-length", "truncated", "too-short", "bad-segment", "empty-text", "too-long")


@dataclass
class Issue:
    kind: str
    item: str          # utterance or recording id (or line reference)
    file: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {show_id(self.item)} ({self.file}{': ' + self.detail if self.detail else ''})"


@dataclass
class Report:
    data_dir: str
    n_input: int = 0
    errors: List[Issue] = field(default_factory=list)
    notes: List[Issue] = field(default_factory=list)
    kept: List[str] = field(default_factory=list)
    dropped: Dict[str, str] = field(default_factory=dict)  # utt -> first error kind

    def counts(self) -> Dict[str, int]:
        return dict(Counter(i.kind for i in self.errors))

    def summary(self, limit: int = 20) -> str:
        lines = [f"data dir: {self.data_dir}", f"utterances in: {self.n_input}, kept: {len(self.kept)}, "
                 f"dropped: {len(self.dropped)}"]
        for kind, n in sorted(self.counts().items()):
            lines.append(f"  error {kind}: {n}")
        for kind, n in sorted(Counter(i.kind for i in self.notes).items()):
            lines.append(f"  note {kind}: {n}")
        shown = self.errors[:limit]
        if shown:
            lines.append("errors:")
            lines += [f"  {i}" for i in shown]
            if len(self.errors) > limit:
                lines.append(f"  ... and {len(self.errors) - limit} more (see the full report)")
        return "\n".join(lines)

    def full(self) -> str:
        lines = [self.summary(limit=0)]
        if self.errors:
            lines.append("errors:")
            lines += [f"  {i}" for i in self.errors]
        if self.notes:
            lines.append("notes:")
            lines += [f"  {i}" for i in self.notes]
        if self.dropped:
            lines.append("dropped utterances:")
            lines += [f"  {u} {k}" for u, k in sorted(self.dropped.items())]
        return "\n".join(lines) + "\n"


def _read_raw_table(path: Path, rep: Report, key_is_utt: bool = True) -> "OrderedDict[str, str]":
    """Tolerant table reader: records non-UTF-8 lines, duplicates and order as issues."""
    out: "OrderedDict[str, str]" = OrderedDict()
    dups = set()
    raw = path.read_bytes()
    if raw.startswith(UTF8_BOM):
        rep.notes.append(Issue("utf8-bom", path.name, path.name, "byte-order mark dropped"))
        raw = strip_bom(raw)
    keys_in_order = []
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        parts = re.split(rb"[ \t]", line, maxsplit=1)
        key_b, val_b = parts[0], (parts[1] if len(parts) > 1 else b"")
        key = key_b.decode("utf-8", errors="replace").strip()
        try:
            val = val_b.decode("utf-8").strip()
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            rep.errors.append(Issue("non-utf8", key, path.name, f"line {lineno}, byte {e.start}"))
            out.setdefault(key, None)  # type: ignore[arg-type]  (None marks a bad value)
            keys_in_order.append(key)
            continue
        keys_in_order.append(key)
        if key in out:
            dups.add(key)
            continue
        out[key] = val
    for k in sorted(dups):
        rep.errors.append(Issue("duplicate-id", k, path.name))
        out[k] = None  # type: ignore[assignment]
    if keys_in_order != sorted(keys_in_order):
        rep.notes.append(Issue("unsorted", path.name, path.name, "sorted in the copy"))
    return out


def _probe(spec: str) -> Tuple[Optional[str], Optional[float], Optional[str]]:
    """(error kind or None, duration, description of the format if not canonical)."""
    import soundfile as sf
    s = spec.strip()
    if not s.endswith("|"):
        if not os.path.exists(s):
            return "missing-file", None, None
        if os.path.getsize(s) == 0:
            return "zero-length", 0.0, None
        try:
            info = sf.info(s)
        except Exception as e:
            return "unreadable", None, str(e).splitlines()[0][:120]
        if info.frames == 0:
            return "zero-length", 0.0, None
        if info.format == "WAV":
            from .audio import wav_declared_frames
            frames = wav_declared_frames(s)
            if frames and frames[1] < frames[0]:
                return "truncated", None, (f"header promises {frames[0]} samples "
                                           f"({frames[0] / info.samplerate:.3f} s), the file holds {frames[1]}")
        try:  # decode a little to catch truncated/corrupt payloads that parse as headers
            with sf.SoundFile(s) as f:
                f.seek(max(0, info.frames - 1))
                f.read(1)
        except Exception as e:
            return "unreadable", None, str(e).splitlines()[0][:120]
        canonical = info.format == "WAV" and info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
        desc = None if canonical else f"{info.format} {info.subtype} {info.samplerate} Hz {info.channels} ch"
        return None, info.frames / info.samplerate, desc
    from .audio import read_audio
    try:
        data, sr = read_audio(s)
    except Exception as e:
        return "unreadable", None, str(e).splitlines()[0][:120]
    if len(data) == 0:
        return "zero-length", 0.0, None
    return None, len(data) / sr, "pipe"


def _empty_refs_scored(d: Path) -> bool:
    """True when the corpus' own protocol scores empty references (its prepare step says so
    in info.json, e.g. HiKE: dropping them would change the publisher's mean)."""
    p = d / "info.json"
    if not p.exists():
        return False
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CsExtError(f"{p}: not a JSON object ({e})") from None
    return isinstance(info, dict) and info.get("empty_refs_scored") is True


def validate(data_dir: str | os.PathLike, max_duration: float = 30.0) -> Tuple[Report, dict]:
    """Check `data_dir`; return (report, state) where state carries the parsed tables."""
    d = Path(data_dir)
    rep = Report(str(d))
    for req in ("text", "wav.scp"):
        if not (d / req).exists():
            raise CsExtError(f"{d}: not a data dir (missing '{req}'; expected wav.scp, text, utt2spk)")
    text = _read_raw_table(d / "text", rep)
    wav = _read_raw_table(d / "wav.scp", rep)
    segments = _read_raw_table(d / "segments", rep) if (d / "segments").exists() else None
    utt2spk = _read_raw_table(d / "utt2spk", rep) if (d / "utt2spk").exists() else OrderedDict()
    rep.n_input = len(set(text) | (set(segments) if segments is not None else set(wav)))
    keep_empty_refs = _empty_refs_scored(d)
    bad: Dict[str, str] = {}

    def mark(utt: str, kind: str, file: str, detail: str = "") -> None:
        rep.errors.append(Issue(kind, utt, file, detail))
        bad.setdefault(utt, kind)

    def kind_of(key: str) -> str:
        return next((i.kind for i in rep.errors if i.item == key), "duplicate-id")

    for u, v in text.items():
        if v is None:
            bad.setdefault(u, kind_of(u))
    rec_status: Dict[str, Tuple[Optional[str], Optional[float], Optional[str]]] = {}
    for rec, spec in wav.items():
        if spec is None:
            rec_status[rec] = ("bad-entry", None, None)
            continue
        rec_status[rec] = _probe(spec)
        err, _, desc = rec_status[rec]
        if err:
            rep.errors.append(Issue(err, rec, "wav.scp", spec if err == "missing-file" else (desc or "")))
        elif desc:
            rep.notes.append(Issue("converted", rec, "wav.scp", desc))
    utt2rec: Dict[str, str] = {}
    durs: Dict[str, float] = {}
    if segments is not None:
        for u, v in segments.items():
            if v is None:
                bad.setdefault(u, kind_of(u))
                continue
            parts = v.split()
            try:
                rec, start, end = parts[0], float(parts[1]), float(parts[2])
            except (IndexError, ValueError):
                mark(u, "bad-segment", "segments", f"'{v}'")
                continue
            utt2rec[u] = rec
            st = rec_status.get(rec)
            if st is None:
                mark(u, "no-audio", "segments", f"recording '{rec}' not in wav.scp")
                continue
            if st[0]:
                bad.setdefault(u, st[0] if st[0] != "bad-entry" else kind_of(rec))
                continue
            rdur = st[1] or 0.0
            end = rdur if end < 0 else end
            if end <= start or start < 0 or start >= rdur + 0.01:
                mark(u, "bad-segment", "segments", f"{start}-{end} s of a {rdur:.2f} s recording")
                continue
            durs[u] = min(end, rdur) - start
    else:
        for rec in wav:
            utt2rec[rec] = rec
            st = rec_status[rec]
            if st[0]:
                bad.setdefault(rec, st[0] if st[0] != "bad-entry" else kind_of(rec))
            else:
                durs[rec] = st[1] or 0.0
    for u in text:
        if u not in utt2rec:
            mark(u, "no-audio", "text", "no wav.scp entry" if segments is None else "no segments entry")
    for u in utt2rec:
        if u not in text:
            mark(u, "no-text", "wav.scp" if segments is None else "segments")
    for u, v in text.items():
        if v is not None and u not in bad and is_punct_only(v):
            what = "empty" if not v else f"punctuation only: '{v}'"
            if keep_empty_refs:
                rep.notes.append(Issue("empty-ref-kept", u, "text", f"{what}; info.json: empty_refs_scored"))
            else:
                mark(u, "empty-text", "text", what)
    from .audio import MIN_SAMPLES_16K
    min_dur = MIN_SAMPLES_16K / 16000
    for u, dur in durs.items():
        if u not in bad and dur <= 0:
            mark(u, "zero-length", "segments" if segments is not None else "wav.scp")
        elif u not in bad and dur < min_dur:
            mark(u, "too-short", "segments" if segments is not None else "wav.scp",
                 f"{dur:.4f} s < {min_dur:g} s (the shortest clip Whisper's front end can frame)")
        elif u not in bad and dur > max_duration:
            mark(u, "too-long", "segments" if segments is not None else "wav.scp",
                 f"{dur:.1f} s > {max_duration:g} s")
    for u in list(text):
        if u not in bad and u in utt2rec and u not in utt2spk:
            rep.notes.append(Issue("utt2spk-missing", u, "utt2spk", "speaker := utterance id"))
    rep.kept = sorted(u for u in text if u not in bad and u in utt2rec)
    rep.dropped = {u: k for u, k in bad.items()}
    state = {"text": text, "wav": wav, "segments": segments, "utt2spk": utt2spk, "utt2rec": utt2rec,
             "rec_status": rec_status, "durs": durs}
    return rep, state


def format_data_dir(src: str | os.PathLike, dst: Optional[str | os.PathLike] = None, drop_bad: bool = False,
                    max_duration: float = 30.0, report_path: Optional[str | os.PathLike] = None) -> Report:
    """Validate `src`; with `dst`, write the cleaned, 16 kHz mono copy there.

    Raises CsExtError naming the bad items unless `drop_bad`; the report file is
    written either way (DST/validate_report.txt or `report_path`).
    """
    rep, st = validate(src, max_duration=max_duration)
    rpath = Path(report_path) if report_path else (Path(dst) / "validate_report.txt" if dst else None)
    if rpath:
        with atomic_open(rpath) as f:
            f.write(rep.full())
    if rep.errors and not drop_bad:
        raise CsExtError(f"{src}: {len(rep.dropped)} bad utterance(s); fix them or pass --drop-bad "
                         f"to drop them\n{rep.summary()}")
    if dst is None:
        return rep
    from .audio import is_canonical, read_audio, to_mono_16k, write_wav
    out = Path(dst)
    src = Path(src)
    if out.resolve() == src.resolve():
        raise CsExtError("--out must differ from the input data dir")
    out.mkdir(parents=True, exist_ok=True)
    kept = set(rep.kept)
    recs = sorted({st["utt2rec"][u] for u in kept})
    new_wav = {}
    for rec in recs:
        spec = st["wav"][rec]
        if st["rec_status"][rec][2] is None and is_canonical(spec):
            new_wav[rec] = os.path.abspath(spec) if not spec.strip().endswith("|") else spec
            continue
        target = (out / "audio" / f"{rec}.wav").resolve()
        if not target.exists():
            data, sr = read_audio(spec)
            write_wav(target, to_mono_16k(data, sr))
        new_wav[rec] = str(target)
    write_table(out / "wav.scp", new_wav)
    write_table(out / "text", {u: st["text"][u] for u in kept})
    if st["segments"] is not None:
        write_table(out / "segments", {u: st["segments"][u] for u in kept})
    elif (out / "segments").exists():
        (out / "segments").unlink()
    utt2spk = {u: (st["utt2spk"].get(u) or u) for u in kept}
    write_table(out / "utt2spk", utt2spk)
    spk2utt: Dict[str, List[str]] = {}
    for u in sorted(kept):
        spk2utt.setdefault(utt2spk[u], []).append(u)
    write_table(out / "spk2utt", {s: " ".join(v) for s, v in spk2utt.items()})
    # per-utterance side tables (utt2category, utt2lang, utt2dur, ...) restricted to kept
    for p in sorted(Path(src).glob("utt2*")):
        if p.name in ("utt2spk",) or not p.is_file():
            continue
        tmp = Report(str(src))
        tab = _read_raw_table(p, tmp)
        write_table(out / p.name, {u: v for u, v in tab.items() if u in kept and v is not None})
    if (out / "utt2category").exists():
        from ..utils.kaldi import read_table as _read
        from .datadir import write_inverse
        write_inverse(out / "category2utt", _read(out / "utt2category"))
    if not (Path(src) / "utt2dur").exists():
        write_table(out / "utt2dur", {u: f"{st['durs'][u]:.3f}" for u in kept if u in st["durs"]})
    for name in ("info.json", "task"):  # task: transcribe|translate for the whole dir (ST sets)
        if (src / name).exists():
            (out / name).write_bytes((src / name).read_bytes())
    if (src / "text.src").exists():  # ST sets: the source-language transcript beside the translation
        tab = _read_raw_table(src / "text.src", Report(str(src)))
        write_table(out / "text.src", {u: v for u, v in tab.items() if u in kept and v is not None})
    if (src / "cs_segments.jsonl").exists():
        with open(src / "cs_segments.jsonl", encoding="utf-8") as f, atomic_open(out / "cs_segments.jsonl") as g:
            for line in f:
                if line.strip() and json.loads(line).get("utt") in kept:
                    g.write(line)
    with atomic_open(out / "validate_report.txt") as f:
        f.write(rep.full())
    return rep
