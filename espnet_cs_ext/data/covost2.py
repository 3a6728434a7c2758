"""CoVoST 2 X->en speech translation (Wang et al. 2020; LoRS-Merging's data) from Common Voice audio.

    cs-prepare covost2 CV_DIR --src-langs de,ca [--tsv-dir TSV_DIR] --out data/covost2 \
        [--splits train,dev,test] [--tasks st,asr] [--max-utts N] [--audio convert|pipe] \
        [--drop-bad] [--nj 2] [--seed 0]

Input layout:
    CV_DIR/clips/<path>            Common Voice clips of the source language (mp3 as
      or CV_DIR/<src>/clips/<path> distributed; wav/flac/ogg clips are read the same way)
    TSV_DIR/covost_v2.<src>_en.<split>.tsv   (TSV_DIR defaults to CV_DIR) tab-separated,
        unquoted, header `path sentence translation client_id`: `path` is the clip file
        name under clips/, `sentence` the source transcript, `translation` the English
        translation, `client_id` the Common Voice speaker (optional: without it each
        utterance is its own speaker). These are what CoVoST's get_covost_splits.py
        writes; the release file `covost_v2.<src>_en.tsv` with a `split` column
        (train/dev/test) is read instead when a per-split file is missing.
Output (OUT = --out):
    OUT/<split>_st_<src>-en/   Kaldi data dir per split: wav.scp (16 kHz mono), text (=
        the English translation), text.src (= the source transcript), utt2spk, spk2utt,
        utt2lang (= <src>: the Whisper language token of the speech, used with
        <|translate|>), utt2task (= translate, per utterance: survives pooling) and
        task (one word for the whole dir, what the decoder's `task: data` reads),
        utt2category (= <src>-en), utt2dur, info.json
    OUT/<split>_mono_<src>/    with --tasks ...,asr: the same clips as ASR (text = the
        transcript, utt2task and task = transcribe), e.g. for multi-task training or a forgetting check
    OUT/audio/covost2_<src>/<clip>.wav   with --audio convert (default): each clip decoded
        (soundfile/libsndfile reads mp3) and resampled to 16 kHz mono 16-bit PCM by the
        shared helpers in `data.audio`; written atomically, so a killed run resumes where
        it stopped. --audio pipe writes `sox <clip> -t wav -r 16000 -c 1 -b 16 - |`
        entries instead (needs a sox that reads the clip format; Debian's sox reads mp3
        only with libsox-fmt-mp3, checked up front)
    OUT/covost2_report.txt     every bad row: kind, clip id, tsv file and line
Ids: speaker `covost2-<src>-<client_id[:16]>` (`covost2-<src>-en-...` for ST), utterance
`<speaker>-<clip stem>`; the ST and ASR views differ by prefix so they can be pooled.

Bad rows (clip id = the clip's file stem): missing-audio (no such file under clips/),
empty-translation, empty-transcript, duplicate (a clip twice in one split),
unreadable (the clip does not decode). All are counted and the first few named in one
error, the full list goes to covost2_report.txt; with --drop-bad they are dropped and
the same report is written and printed. Nothing is dropped silently.
--max-utts N keeps a seeded random N rows per split (the LoRS paper uses 5 h of
training speech per language, 1 h dev/test: about 3,600 / 720 Common Voice clips).
Translations are kept as written (NFC, single spaces): sacreBLEU's 13a tokeniser
handles punctuation at scoring time.
"""
from __future__ import annotations

import contextlib
import csv
import os
import random
import re
import shlex
import shutil
import subprocess
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError
from ..utils.kaldi import write_table
from .datadir import Utt, make_id, write_data_dir
from .text import clean_transcript, is_punct_only

SPLITS = ("train", "dev", "test")
TASKS = ("st", "asr")
REQUIRED = ("path", "sentence", "translation")
BAD_KINDS = ("missing-audio", "empty-translation", "empty-transcript", "duplicate", "unreadable")
SHOW = 5  # ids named per kind in the error message


@dataclass
class Row:
    src: str
    split: str
    clip: Path          # the clip file (may not exist: reported)
    cid: str            # clip id = file stem
    sentence: str
    translation: str
    client: str
    where: str          # tsv file:line, for the report


@dataclass
class Issue:
    kind: str
    cid: str
    where: str
    src: str = ""
    split: str = ""

    def __str__(self) -> str:
        return f"{self.kind}\t{self.cid}\t{self.where}"


def _clips_dir(cv_dir: Path, src: str) -> Path:
    for d in (cv_dir / src / "clips", cv_dir / "clips"):
        if d.is_dir():
            return d
    raise CsExtError(f"covost2: no Common Voice clips dir for '{src}' (expected {cv_dir}/clips/ or {cv_dir}/{src}/clips/)")


def _read_tsv(path: Path, extra: Sequence[str] = ()) -> List[Tuple[int, Dict[str, str]]]:
    # CoVoST/Common Voice tsvs are unquoted: sentences contain bare '"' characters.
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            cols = reader.fieldnames or []
            missing = [c for c in (*REQUIRED, *extra) if c not in cols]
            if missing:
                raise CsExtError(f"covost2: {path}: no column(s) {', '.join(missing)} "
                                 f"(expected header: path sentence translation client_id; found {' '.join(cols)})")
            return [(i, row) for i, row in enumerate(reader, start=2)]
    except UnicodeDecodeError as e:
        raise CsExtError(f"covost2: {path} is not UTF-8 ({e})")


def read_rows(cv_dir: Path, tsv_dir: Path, src: str, splits: Sequence[str]) -> List[Row]:
    """All rows of the requested splits of one source language (not yet checked)."""
    clips = _clips_dir(cv_dir, src)
    rows: List[Row] = []
    combined = tsv_dir / f"covost_v2.{src}_en.tsv"
    for split in splits:
        path = tsv_dir / f"covost_v2.{src}_en.{split}.tsv"
        if path.is_file():
            entries = _read_tsv(path)
        elif combined.is_file():
            path = combined
            entries = [(i, r) for i, r in _read_tsv(combined, ("split",)) if (r.get("split") or "").strip() == split]
        else:
            raise CsExtError(f"covost2: no {tsv_dir}/covost_v2.{src}_en.{split}.tsv "
                             f"(nor covost_v2.{src}_en.tsv with a split column)")
        for line, r in entries:
            name = (r.get("path") or "").strip()
            rows.append(Row(src, split, clips / name, Path(name).stem or f"<line {line}>",
                            clean_transcript(r.get("sentence") or ""), clean_transcript(r.get("translation") or ""),
                            (r.get("client_id") or "").strip(), f"{path.name}:{line}"))
    return rows


def check_rows(rows: Sequence[Row]) -> List[Issue]:
    """Every problem of every row (a row can have several); nothing is dropped here."""
    issues: List[Issue] = []
    seen = set()
    for r in rows:
        if (r.split, r.cid) in seen:
            issues.append(Issue("duplicate", r.cid, r.where, r.src, r.split))
        seen.add((r.split, r.cid))
        if not r.clip.name or not r.clip.is_file():
            issues.append(Issue("missing-audio", r.cid, r.where, r.src, r.split))
        if is_punct_only(r.translation):
            issues.append(Issue("empty-translation", r.cid, r.where, r.src, r.split))
        if is_punct_only(r.sentence):
            issues.append(Issue("empty-transcript", r.cid, r.where, r.src, r.split))
    return issues


def summarise(issues: Sequence[Issue]) -> str:
    """'missing-audio 2 (a, b), empty-translation 1 (c)': counts of all, the first few named."""
    parts = []
    for kind in BAD_KINDS:
        ids = [i.cid for i in issues if i.kind == kind]
        if ids:
            more = f", ... +{len(ids) - SHOW}" if len(ids) > SHOW else ""
            parts.append(f"{kind} {len(ids)} ({', '.join(ids[:SHOW])}{more})")
    return "; ".join(parts)


def _write_report(path: Path, issues: Sequence[Issue], dropped: bool) -> None:
    with atomic_open(path) as f:
        f.write(f"# {len(issues)} problem(s); {'dropped' if dropped else 'nothing written'}\n")
        f.write("kind\tclip_id\twhere\n")
        for i in issues:
            f.write(f"{i}\n")


def read_report(path: Path) -> str:
    """`summarise` of a written covost2_report.txt (what the CLI prints after --drop-bad)."""
    issues = []
    for line in Path(path).read_text(encoding="utf-8").splitlines()[2:]:
        kind, cid, where = (line.split("\t") + ["", ""])[:3]
        issues.append(Issue(kind, cid, where))
    return summarise(issues)


def _convert(job: Tuple[str, str]) -> Tuple[str, Optional[float], str]:
    """(clip, wav) -> (clip, duration or None, error); skips a wav that already exists."""
    clip, wav = job
    import soundfile as sf

    from .audio import read_audio, to_mono_16k, write_wav
    try:
        if not os.path.exists(wav):
            data, sr = read_audio(clip)
            x = to_mono_16k(data, sr)
            if not len(x):
                return clip, None, "no samples"
            write_wav(wav, x)
        return clip, sf.info(wav).duration, ""
    except Exception as e:  # corrupt/truncated clip: reported by id, not fatal here
        return clip, None, f"{type(e).__name__}: {str(e)[:120]}"


_SOX_FORMATS = re.compile(r"AUDIO FILE FORMATS:(.*)")


def sox_formats() -> set:
    """File types the installed sox reads (from `sox -h`); empty if there is no sox."""
    if shutil.which("sox") is None:
        return set()
    out = subprocess.run(["sox", "-h"], capture_output=True, text=True).stdout
    m = _SOX_FORMATS.search(out)
    return set(m.group(1).split()) if m else set()


def sox_pipe(clip: Path) -> str:
    return f"sox {shlex.quote(str(clip))} -t wav -r 16000 -c 1 -b 16 - |"


def prepare_covost2(cv_dir: str | os.PathLike, output_dir: str | os.PathLike, src_langs: Sequence[str],
                    tsv_dir: Optional[str | os.PathLike] = None, splits: Sequence[str] = SPLITS,
                    tasks: Sequence[str] = ("st",), max_utts: Optional[int] = None, seed: int = 0,
                    audio: str = "convert", drop_bad: bool = False, nj: int = 1,
                    progress: bool = True) -> Dict[str, Path]:
    """Prepare the X->en data dirs (see the module docstring); return {dir name: path}."""
    cv = Path(cv_dir)
    if not cv.is_dir():
        raise CsExtError(f"covost2: Common Voice dir {cv} does not exist")
    tsvs = Path(tsv_dir) if tsv_dir else cv
    out = Path(output_dir).resolve()
    bad = [s for s in splits if s not in SPLITS] + [t for t in tasks if t not in TASKS]
    if bad or not src_langs or not splits or not tasks:
        raise CsExtError(f"covost2: splits must be among {','.join(SPLITS)}, tasks among {','.join(TASKS)} "
                         f"and --src-langs non-empty; got {bad or 'nothing'}")
    if "en" in src_langs:
        raise CsExtError("covost2: 'en' as a source language is en->X, not prepared here (X->en only)")
    if audio not in ("convert", "pipe"):
        raise CsExtError(f"covost2: --audio must be convert or pipe, got {audio!r}")

    rows: List[Row] = []
    for src in src_langs:
        rows += read_rows(cv, tsvs, src, splits)
    if max_utts is not None:  # seeded subset per (language, split), before checking
        keep: List[Row] = []
        for src in src_langs:
            for split in splits:
                group = [r for r in rows if r.src == src and r.split == split]
                if len(group) > max_utts:
                    group = sorted(random.Random(f"{seed}-{src}-{split}").sample(group, max_utts),
                                   key=lambda r: r.where)
                keep += group
        rows = keep
    issues = check_rows(rows)
    report = out / "covost2_report.txt"
    if issues and not drop_bad:
        _write_report(report, issues, dropped=False)
        raise CsExtError(f"covost2: {len({i.where for i in issues})} bad row(s): {summarise(issues)}; "
                         f"all listed in {report}; pass --drop-bad to drop them")
    bad_rows = {i.where for i in issues}
    rows = [r for r in rows if r.where not in bad_rows]

    # audio: 16 kHz wav files (resumable) or sox pipes
    wav: Dict[str, str] = {}
    dur: Dict[str, Optional[float]] = {}
    if audio == "pipe":
        fmts = sox_formats()
        exts = sorted({r.clip.suffix.lstrip(".").lower() for r in rows} - fmts)
        if exts:
            raise CsExtError(f"covost2: --audio pipe: sox {'is not installed' if not fmts else 'cannot read ' + ', '.join(exts)}"
                             f" (Debian: apt-get install sox libsox-fmt-mp3), or use --audio convert")
        from .sources import audio_duration
        for r in rows:
            wav[str(r.clip)] = sox_pipe(r.clip.resolve())
            dur[str(r.clip)] = audio_duration(r.clip)
    else:
        jobs = sorted({(str(r.clip), str(out / "audio" / f"covost2_{r.src}" / f"{r.cid}.wav")) for r in rows})
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(jobs), desc="covost2: clips -> 16 kHz wav", unit="clip")
        failed: Dict[str, str] = {}
        with contextlib.ExitStack() as stack:
            if bar:
                stack.callback(bar.close)
            results = (stack.enter_context(ProcessPoolExecutor(max_workers=nj)).map(_convert, jobs, chunksize=16)
                       if nj > 1 else map(_convert, jobs))
            for (clip, target), (_, d, err) in zip(jobs, results):
                if err:
                    failed[clip] = err
                else:
                    wav[clip], dur[clip] = target, d
                if bar:
                    bar.update(1)
        if failed:
            unread = [Issue("unreadable", r.cid, f"{r.where}: {failed[str(r.clip)]}", r.src, r.split)
                      for r in rows if str(r.clip) in failed]
            issues += unread
            if not drop_bad:
                _write_report(report, issues, dropped=False)
                raise CsExtError(f"covost2: {len(unread)} clip(s) do not decode: {summarise(unread)}; "
                                 f"all listed in {report}; pass --drop-bad to drop them")
            rows = [r for r in rows if str(r.clip) not in failed]
    if issues:
        _write_report(report, issues, dropped=True)
    elif report.exists():
        report.unlink()  # a stale report of an earlier failed run would mislead

    result: Dict[str, Path] = {}
    for src in src_langs:
        for split in splits:
            group = [r for r in rows if r.src == src and r.split == split]
            if not group:
                raise CsExtError(f"covost2: no usable rows for {src} {split}"
                                 + (f" after dropping {len(bad_rows)} bad row(s)" if bad_rows else ""))
            dropped = sorted({i.cid for i in issues if (i.src, i.split) == (src, split)})
            for task in tasks:
                name, utts = _view(src, split, task, group, wav, dur)
                info = {"corpus": "covost2", "source_lang": src, "target_lang": "en" if task == "st" else src,
                        "task": "translate" if task == "st" else "transcribe", "split": split,
                        "cv_dir": str(cv), "tsv_dir": str(tsvs), "audio": audio, "max_utts": max_utts,
                        "seed": seed, "dropped": len(dropped), "dropped_ids": dropped[:100]}
                result[name] = write_data_dir(out / name, utts, info=info)
                with atomic_open(out / name / "task") as f:  # the decoder's `task: data` reads it
                    f.write(info["task"] + "\n")
                if task == "st":
                    write_table(out / name / "text.src", {u.utt_id: r.sentence for u, r in zip(utts, group)})
    return result


def _view(src: str, split: str, task: str, rows: Sequence[Row], wav: Dict[str, str],
          dur: Dict[str, Optional[float]]) -> Tuple[str, List[Utt]]:
    """One data dir's utterances: ST (text = translation) or ASR (text = transcript)."""
    utts: List[Utt] = []
    for r in rows:
        client = r.client[:16] if r.client else None
        if task == "st":
            spk = make_id("covost2", f"{src}-en", client) if client else None
        else:
            spk = make_id("covost2", src, client) if client else None
        base = spk or make_id("covost2", f"{src}-en" if task == "st" else src)
        uid = make_id(base, r.cid)
        extra = {"task": "translate" if task == "st" else "transcribe"}
        utts.append(Utt(uid, spk or uid, r.translation if task == "st" else r.sentence, wav[str(r.clip)],
                        f"{src}-en" if task == "st" else src, src, dur.get(str(r.clip)),
                        extra=extra))
    name = f"{split}_st_{src}-en" if task == "st" else f"{split}_mono_{src}"
    return name, utts
