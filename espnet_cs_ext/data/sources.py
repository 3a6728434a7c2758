"""Read corpus distributions: Hugging Face parquet, audiofolder manifests
(metadata.jsonl / .csv / .tsv + audio files), Kaldi dirs, plain transcript lists.

Hub-hosted corpora (`hf://owner/name`: HiKE, CS-FLEURS, ko-ja) go through `hub.open_repo`,
which downloads only the files a loader asks for, at a pinned revision, and reads a
local copy through the same interface. We do not use the `datasets` library:
with the pinned fsspec/huggingface_hub only datasets 2.14.4 resolves, and it fails to
import with pyarrow >= 21 (`pyarrow.PyExtensionType` was removed). Parquet needs
`pyarrow` (tested with 26.0.1).
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ..utils.errors import CsExtError
from .audio import read_audio, read_audio_bytes, to_mono_16k, write_wav

AUDIO_EXT = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
MANIFEST_NAMES = ("metadata.jsonl", "metadata.csv", "metadata.tsv")


def resolve_source(spec: str | os.PathLike, what: str) -> Path:
    """A local corpus dir (hub corpora use `hub.open_repo`)."""
    s = str(spec)
    if s.startswith("hf://"):
        raise CsExtError(f"{what}: {s}: hf:// ids are read by hike, koja and csfleurs only; "
                         f"pass a local directory")
    p = Path(s)
    if not p.is_dir():
        raise CsExtError(f"{what}: corpus directory {p} does not exist")
    return p


def find_parquet(root: Path, pattern: str = "**/*.parquet") -> List[Path]:
    return sorted(p for p in root.glob(pattern) if p.is_file() and not any(x.startswith(".") for x in p.relative_to(root).parts))


def read_parquet(files: Sequence[Path], what: str) -> Iterator[Tuple[Path, dict]]:
    """Yield (file, row) for every row of every parquet file (streamed by batches)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CsExtError(f"{what}: reading parquet needs pyarrow (pip install pyarrow==26.0.1)")
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except Exception as e:
            raise CsExtError(f"{what}: {f} is not a readable parquet file ({e})")
        for batch in pf.iter_batches(batch_size=64):
            for row in batch.to_pylist():
                yield f, row


def parquet_columns(files: Sequence[Path]) -> List[str]:
    import pyarrow.parquet as pq
    return list(pq.ParquetFile(files[0]).schema_arrow.names)


def read_manifest(path: Path, what: str) -> List[dict]:
    """Rows of metadata.jsonl / .csv / .tsv (UTF-8; errors name the line)."""
    rows: List[dict] = []
    try:
        if path.suffix == ".jsonl":
            with open(path, encoding="utf-8") as f:
                for i, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except ValueError as e:
                            raise CsExtError(f"{what}: {path}:{i}: not JSON ({e})")
        else:
            with open(path, encoding="utf-8", newline="") as f:
                rows = [dict(r) for r in csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ",")]
    except UnicodeDecodeError as e:
        raise CsExtError(f"{what}: {path} is not UTF-8 ({e})")
    return rows


def pick(row_or_cols, candidates: Sequence[str], what: str, kind: str, required: bool = True) -> Optional[str]:
    """First of `candidates` present among the columns; else error listing both."""
    cols = list(row_or_cols.keys()) if isinstance(row_or_cols, dict) else list(row_or_cols)
    for c in candidates:
        if c in cols:
            return c
    if required:
        raise CsExtError(f"{what}: no {kind} column (looked for {', '.join(candidates)}; found {', '.join(map(str, cols))})")
    return None


def audio_value_to_wav(value, base: Path, out_wav: Path, what: str) -> Tuple[str, float]:
    """Turn a dataset audio cell into a wav.scp entry and its duration.

    - {'bytes': b'...', 'path': ...} (HF Audio in parquet): decoded, written to out_wav
      as 16 kHz mono PCM16 (skipped if already there)
    - a path string / {'path': p} with no bytes: referenced in place (relative to base)
    """
    if isinstance(value, dict) and value.get("bytes"):
        if not out_wav.exists():
            try:
                data, sr = read_audio_bytes(value["bytes"])
            except Exception as e:
                raise CsExtError(f"{what}: cannot decode embedded audio '{value.get('path')}' ({e})")
            write_wav(out_wav, to_mono_16k(data, sr))
        import soundfile as sf
        return str(out_wav.resolve()), sf.info(str(out_wav)).duration
    p = value.get("path") if isinstance(value, dict) else value
    if not p:
        raise CsExtError(f"{what}: empty audio field")
    path = Path(p) if Path(p).is_absolute() else base / p
    if not path.exists():
        raise CsExtError(f"{what}: audio file {path} not found")
    return str(path.resolve()), audio_duration(path)


def audio_duration(path: Path) -> float:
    import soundfile as sf
    try:
        return sf.info(str(path)).duration
    except Exception:
        data, sr = read_audio(str(path))
        return len(data) / sr


def find_audio(root: Path) -> Dict[str, Path]:
    """{stem: path} of all audio files under root (error on ambiguous stems)."""
    out: Dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in AUDIO_EXT and p.is_file():
            if p.stem in out:
                raise CsExtError(f"two audio files named '{p.stem}': {out[p.stem]} and {p}")
            out[p.stem] = p
    return out
