"""Read audio files as 16 kHz mono float32 arrays (what Whisper expects), without ffmpeg."""
from __future__ import annotations

import os

import numpy as np

from ..utils.errors import CsExtError

SAMPLE_RATE = 16000


def load_audio_16k(path: str | os.PathLike) -> np.ndarray:
    """Return mono float32 samples at 16 kHz; stereo is averaged, other rates resampled."""
    import soundfile as sf

    if not os.path.exists(path):  # libsndfile would only say "System error."
        raise CsExtError(f"{path}: no such file")
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as e:
        raise CsExtError(f"{path}: cannot read audio ({e})")
    audio = audio.mean(axis=1)
    if audio.size == 0:
        raise CsExtError(f"{path}: audio has no samples")
    if sr != SAMPLE_RATE:
        import soxr

        audio = soxr.resample(audio, sr, SAMPLE_RATE).astype(np.float32)
    return audio
