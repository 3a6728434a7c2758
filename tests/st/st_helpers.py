"""Helpers for tests/st: a tiny fake CoVoST 2 layout with real (espeak-ng) Common Voice-style clips."""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Sequence, Tuple

import numpy as np
import pytest
import soundfile as sf

# (clip stem, German transcript, English translation, client id)
ROWS = {
    "train": [("common_voice_de_101", "Guten Morgen zusammen.", "Good morning, everyone.", "a1" * 32),
              ("common_voice_de_102", "Ich bin heute müde.", "I am tired today.", "a1" * 32),
              ("common_voice_de_103", "Das klingt gut.", "That sounds good.", "b2" * 32)],
    "dev": [("common_voice_de_201", "Machen wir eine Pause.", "Let's take a break.", "c3" * 32)],
    "test": [("common_voice_de_301", "Wo ist der Bahnhof?", 'Where is the "station"?', "d4" * 32),
             ("common_voice_de_302", "Der Kaffee ist kalt.", "The coffee is cold.", "d4" * 32)],
}
HEADER = "path\tsentence\ttranslation\tclient_id\n"


def speak(text: str, voice: str = "de") -> Tuple[np.ndarray, int]:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (apt-get install espeak-ng)")
    out = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True).stdout
    x, sr = sf.read(io.BytesIO(out), dtype="float32")
    return x, sr


def write_clip(path: Path, text: str, fmt: str = "mp3") -> Path:
    """Common Voice style: 48 kHz mono mp3 (libsndfile >= 1.1 writes MPEG layer III)."""
    import soxr
    x, sr = speak(text)
    y = soxr.resample(x, sr, 48000).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "mp3":
        sf.write(path, y, 48000, format="MP3", subtype="MPEG_LAYER_III")
    else:
        sf.write(path, y, 48000, subtype="PCM_16")
    return path


def write_tsv(path: Path, rows: Sequence[tuple], ext: str = "mp3") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER)
        for stem, s, t, c in rows:
            f.write(f"{stem}.{ext}\t{s}\t{t}\t{c}\n")
    return path


def make_covost(root: Path, fmt: str = "mp3") -> Path:
    """root/clips/*.<fmt> + root/covost_v2.de_en.<split>.tsv for ROWS."""
    for split, rows in ROWS.items():
        for stem, s, _, _ in rows:
            write_clip(root / "clips" / f"{stem}.{fmt}", s, fmt)
        write_tsv(root / f"covost_v2.de_en.{split}.tsv", rows, fmt)
    return root
