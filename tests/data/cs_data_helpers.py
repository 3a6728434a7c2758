"""Helpers shared by the tests in tests/data (imported by name; unique module name)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

ALL_PAIRS = "ko-en,ja-en,de-en,ko-ja,ko-de"
#: the fixture corpus: 10 utterances per seen pair (6/2/2), 4 test utterances per unseen pair
SYNTH_KWARGS = dict(pairs=ALL_PAIRS.split(","), utts_per_pair=10, split=(0.6, 0.2, 0.2),
                    test_only_pairs=("ko-ja", "ko-de"), test_only_utts=4, seed=3, text_per_pair=50,
                    progress=False)


def tone(seconds: float = 1.0, sr: int = 16000, channels: int = 1, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def wav_bytes(seconds: float = 1.0, sr: int = 16000, fmt: str = "WAV", subtype: str = "PCM_16", channels: int = 1) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(seconds, sr, channels), sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def write_wav(path: Path, seconds: float = 1.0, sr: int = 16000, subtype: str = "PCM_16", channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds, sr, channels), sr, subtype=subtype)
    return path


def read_table(path: Path) -> dict:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        k, _, v = line.partition(" ")
        out[k] = v
    return out


def nfd(s: str) -> str:
    """Decomposed form: fixtures store NFD text so the preparers must normalise it."""
    import unicodedata
    return unicodedata.normalize("NFD", s)


def write_parquet(path: Path, rows: list) -> Path:
    """Rows with an `audio` cell {bytes, path} written the way HF datasets stores Audio."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path
