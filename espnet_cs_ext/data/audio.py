"""Audio I/O without torch: read any soundfile format or a Kaldi pipe, convert to
16 kHz mono, write 16-bit PCM wav atomically."""
from __future__ import annotations

import io
import os
import struct
import subprocess
from math import gcd
from pathlib import Path
from typing import Tuple

import numpy as np
import soundfile as sf

from ..utils.atomic import atomic_path
from ..utils.errors import CsExtError

TARGET_SR = 16000
# Whisper's log-mel front end pads each side by n_fft/2 = 200 samples with reflection, which
# needs more samples than that; one full 25 ms window (400 samples) is the shortest clip that
# gives a frame of real signal, so anything shorter is refused by validate.
MIN_SAMPLES_16K = 400


def no_such_file(spec: str) -> CsExtError:
    """The error for a missing audio file (libsndfile would only say "System error.")."""
    return CsExtError(f"{spec}: no such file")


def wav_declared_frames(path: str | os.PathLike) -> "Tuple[int, int] | None":
    """(frames the WAV header promises, frames the file holds) or None when it is not a
    plain RIFF/WAVE file or its writer left the size open (0 or 0xFFFFFFFF: streamed).

    libsndfile silently shortens a truncated file to what is there, so a header that says
    1 s over 78 samples reads as a valid 5 ms clip; this compares the two.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, clen = struct.unpack("<4sI", f.read(8))
            if cid == b"fmt ":
                fmt = f.read(min(clen, 16))
                if len(fmt) >= 14:
                    block_align = struct.unpack("<H", fmt[12:14])[0]
            elif cid == b"data":
                if not block_align or clen in (0, 0xFFFFFFFF):
                    return None
                have = min(clen, size - (pos + 8))
                return clen // block_align, have // block_align
            pos += 8 + clen + (clen & 1)
    return None


def read_audio(spec: str) -> Tuple[np.ndarray, int]:
    """Read a wav.scp value (path or 'cmd |') -> (float32 array [frames, channels], sr)."""
    spec = spec.strip()
    if spec.endswith("|"):
        proc = subprocess.run(spec[:-1], shell=True, capture_output=True)
        if proc.returncode != 0:
            raise CsExtError(f"pipe '{spec}' failed: {proc.stderr.decode(errors='replace').strip()[:200]}")
        data, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    else:
        if not os.path.exists(spec):
            raise no_such_file(spec)
        data, sr = sf.read(spec, dtype="float32", always_2d=True)
    return data, sr


def read_audio_bytes(blob: bytes) -> Tuple[np.ndarray, int]:
    data, sr = sf.read(io.BytesIO(blob), dtype="float32", always_2d=True)
    return data, sr


def to_mono_16k(data: np.ndarray, sr: int, target_sr: int = TARGET_SR) -> np.ndarray:
    """[frames] or [frames, ch] float -> [frames] float32 at target_sr (polyphase)."""
    if data.ndim == 2:
        data = data.mean(axis=1)
    data = np.asarray(data, dtype=np.float32)
    if sr != target_sr and len(data):
        try:
            import soxr  # high-quality and fast; in the pinned set (librosa)
            data = soxr.resample(data, int(sr), int(target_sr)).astype(np.float32)
        except ImportError:
            from scipy.signal import resample_poly
            g = gcd(int(sr), int(target_sr))
            data = resample_poly(data, target_sr // g, int(sr) // g).astype(np.float32)
    return data


def write_wav(path: str | os.PathLike, data: np.ndarray, sr: int = TARGET_SR) -> Path:
    """Write float [-1, 1] samples as 16-bit PCM wav; the file appears only when complete."""
    path = Path(path)
    data = np.clip(np.asarray(data, dtype=np.float32), -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), data, sr, subtype="PCM_16", format="WAV")
    return path


def is_canonical(spec: str) -> bool:
    """True if `spec` is a plain file already 16 kHz mono 16-bit PCM wav."""
    if spec.strip().endswith("|"):
        return False
    try:
        info = sf.info(spec)
    except Exception:
        return False
    return info.format == "WAV" and info.samplerate == TARGET_SR and info.channels == 1 and info.subtype == "PCM_16"
