"""Offline TTS backends for the synthetic CS corpus, chosen per language with fallback.

Backends (best first per language; REFERENCE.md section 3 measured quality):
    en: pico (pico2wave en-US/en-GB), mbrola (espeak-ng mb-us1), espeak-ng
    de: pico (de-DE), mbrola (espeak-ng mb-de2/mb-de6), espeak-ng
    ja: openjtalk (pyopenjtalk-plus, bundled dictionary + voice), espeak-ng
    ko: mbrola_ko (MBROLA hn1 via our Hangul front end, `korean_pho`), espeak-ng
    fr, es, it: pico (fr-FR, es-ES, it-IT), espeak-ng  (measured: docs/benchmarks.md)
    others: espeak-ng (any language it has a voice for; its zh `cmn` is not usable)
A backend is "available" when its program/package/voice file is present. `resolve_voices`
returns the voices of every available backend in the best quality tier for a language
(tiers: good = pico, mbrola, openjtalk; fallback = espeak-ng, mbrola_ko); the
chosen backends are recorded by the caller (tts.json in the output dir).

A `Voice` is (backend, backend voice name, speed, pitch); speed/pitch variants make
different "speakers". `synthesize(voice, text)` returns float32 16 kHz mono samples,
silence-trimmed and loudness-normalised so segments from different voices match.
"""
from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import soundfile as sf

from ...utils.errors import CsExtError
from ..audio import TARGET_SR, to_mono_16k

MBROLA_DIRS = (Path("/usr/share/mbrola"), Path("/usr/local/share/mbrola"))

# backend -> quality tier (lower is better)
TIER = {"pico": 0, "openjtalk": 0, "mbrola": 0, "mbrola_ko": 1, "espeak-ng": 2}

# language -> [(backend, backend voice name)], best first
CANDIDATES: Dict[str, List[Tuple[str, str]]] = {
    "en": [("pico", "en-US"), ("pico", "en-GB"), ("mbrola", "mb-us1"),
           ("espeak-ng", "en-us"), ("espeak-ng", "en-us+m3"), ("espeak-ng", "en-gb+f2")],
    "de": [("pico", "de-DE"), ("mbrola", "mb-de2"), ("mbrola", "mb-de6"),
           ("espeak-ng", "de"), ("espeak-ng", "de+m3"), ("espeak-ng", "de+f2")],
    "ja": [("openjtalk", "mei"), ("espeak-ng", "ja")],
    "ko": [("mbrola_ko", "hn1"), ("espeak-ng", "ko"), ("espeak-ng", "ko+m3"), ("espeak-ng", "ko+f2")],
    "fr": [("pico", "fr-FR"), ("espeak-ng", "fr"), ("espeak-ng", "fr+f2")],
    "es": [("pico", "es-ES"), ("espeak-ng", "es"), ("espeak-ng", "es+f2")],
    "it": [("pico", "it-IT"), ("espeak-ng", "it")],
    "zh": [("espeak-ng", "cmn")],
}

SPEEDS = (0.9, 1.0, 1.1)
PITCHES = (-2, 0, 2)  # semitones (pico/espeak/mbrola/openjtalk each map this)


@dataclass(frozen=True)
class Voice:
    lang: str
    backend: str
    name: str
    speed: float = 1.0
    pitch: int = 0

    @property
    def id(self) -> str:
        """Short id for speaker names: e.g. en_pico_en-US_s1.1_p-2."""
        return f"{self.lang}_{self.backend}_{self.name}_s{self.speed:g}_p{self.pitch:+d}".replace("+", "").replace("/", "_")


def _mbrola_db(name: str) -> Optional[Path]:
    for d in MBROLA_DIRS:
        p = d / name / name
        if p.exists():
            return p
    return None


@functools.lru_cache(maxsize=None)
def backend_available(backend: str, name: str) -> bool:
    if backend == "espeak-ng":
        return shutil.which("espeak-ng") is not None
    if backend == "pico":
        return shutil.which("pico2wave") is not None
    if backend == "mbrola":
        return (shutil.which("espeak-ng") is not None and shutil.which("mbrola") is not None
                and _mbrola_db(name.replace("mb-", "")) is not None)
    if backend == "mbrola_ko":
        try:
            from . import korean_pho  # noqa: F401  (the Hangul -> MBROLA front end)
        except ImportError:
            return False
        return shutil.which("mbrola") is not None and _mbrola_db(name) is not None
    if backend == "openjtalk":
        try:
            _openjtalk()
        except Exception:
            return False
        return True
    return False


def resolve_voices(lang: str, prefer: Optional[str] = None) -> List[Voice]:
    """All base voices (speed 1, pitch 0) of the best available tier for `lang`.

    `prefer` forces one backend (error if unavailable). Raises CsExtError if no
    backend can speak `lang`.
    """
    cands = CANDIDATES.get(lang) or [("espeak-ng", lang)]
    if prefer:
        cands = [c for c in cands if c[0] == prefer] or ([(prefer, lang)] if prefer == "espeak-ng" else [])
        if not cands or not any(backend_available(*c) for c in cands):
            raise CsExtError(f"TTS backend '{prefer}' is not available for language '{lang}'")
    avail = [c for c in cands if backend_available(*c)]
    if not avail:
        raise CsExtError(f"no offline TTS for language '{lang}': install espeak-ng "
                         f"(apt-get install espeak-ng){' or pyopenjtalk-plus' if lang == 'ja' else ''}")
    best = min(TIER[b] for b, _ in avail)
    return [Voice(lang, b, n) for b, n in avail if TIER[b] == best]


def voice_variants(base: List[Voice]) -> List[Voice]:
    """Speed x pitch variants of each base voice (the synthetic 'speakers')."""
    return [Voice(v.lang, v.backend, v.name, s, p) for v in base for s in SPEEDS for p in PITCHES]


# ---------------------------------------------------------------- backends
def _run(cmd: List[str], what: str, **kw) -> bytes:
    proc = subprocess.run(cmd, capture_output=True, **kw)
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode(errors="replace").strip()[:300]
        raise CsExtError(f"{what} failed (exit {proc.returncode}): {err}")
    return proc.stdout


def _espeak(voice: Voice, text: str) -> Tuple[np.ndarray, int]:
    wpm = int(round(165 * voice.speed))
    pitch = max(0, min(99, 50 + 6 * voice.pitch))
    out = _run(["espeak-ng", "-v", voice.name, "-s", str(wpm), "-p", str(pitch), "--stdout", text],
               f"espeak-ng -v {voice.name}")
    data, sr = sf.read(io.BytesIO(out), dtype="float32")
    return data, sr


def _pico(voice: Voice, text: str) -> Tuple[np.ndarray, int]:
    esc = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    markup = (f"<speed level='{int(round(100 * voice.speed))}'>"
              f"<pitch level='{int(round(100 * 2 ** (voice.pitch / 12)))}'>{esc}</pitch></speed>")
    with tempfile.TemporaryDirectory(prefix="cs_pico_") as d:
        wav = os.path.join(d, "x.wav")
        proc = subprocess.run(["pico2wave", "-l", voice.name, "-w", wav, markup], capture_output=True)
        if proc.returncode != 0 or not os.path.exists(wav):
            raise CsExtError(f"pico2wave -l {voice.name} failed: {proc.stderr.decode(errors='replace')[:300]}")
        data, sr = sf.read(wav, dtype="float32")
    return data, sr


@functools.lru_cache(maxsize=1)
def _openjtalk():
    # pyopenjtalk-plus prints an optional-onnxruntime notice on import; keep logs clean
    import contextlib
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
        import pyopenjtalk
    return pyopenjtalk


def _openjtalk_tts(voice: Voice, text: str) -> Tuple[np.ndarray, int]:
    pj = _openjtalk()
    data, sr = pj.tts(text, speed=voice.speed, half_tone=float(voice.pitch))
    return (np.asarray(data, dtype=np.float32) / 32768.0), int(sr)


def _mbrola_ko(voice: Voice, text: str) -> Tuple[np.ndarray, int]:
    from .korean_pho import text_to_pho
    pho = text_to_pho(text, speed=voice.speed, pitch_semitones=voice.pitch)
    db = _mbrola_db(voice.name)
    # raw output: a wav header written to a pipe carries no valid length
    out = _run(["mbrola", "-e", str(db), "-", "-.raw"], f"mbrola {voice.name}", input=pho.encode())
    data = np.frombuffer(out[: len(out) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    return data, 16000  # hn1 is a 16 kHz database


_BACKENDS = {"espeak-ng": _espeak, "mbrola": _espeak, "pico": _pico,
             "openjtalk": _openjtalk_tts, "mbrola_ko": _mbrola_ko}


def trim_silence(x: np.ndarray, sr: int = TARGET_SR, db: float = -40.0, margin: float = 0.03) -> np.ndarray:
    if not len(x):
        return x
    win = max(1, int(0.01 * sr))
    n = len(x) // win
    if n == 0:
        return x
    frames = x[: n * win].reshape(n, win)
    energy = np.sqrt((frames ** 2).mean(axis=1) + 1e-12)
    thr = energy.max() * (10 ** (db / 20))
    idx = np.nonzero(energy > thr)[0]
    if not len(idx):
        return x[:0]
    m = int(margin * sr)
    return x[max(0, idx[0] * win - m): min(len(x), (idx[-1] + 1) * win + m)]


def normalise(x: np.ndarray, rms_db: float = -20.0, peak: float = 0.95) -> np.ndarray:
    if not len(x):
        return x
    rms = float(np.sqrt((x ** 2).mean()))
    if rms < 1e-6:
        return x
    y = x * (10 ** (rms_db / 20) / rms)
    p = float(np.abs(y).max())
    if p > peak:
        y = y * (peak / p)
    return y.astype(np.float32)


def synthesize(voice: Voice, text: str) -> np.ndarray:
    """Text -> float32 16 kHz mono, trimmed and normalised. Raises CsExtError on failure."""
    fn = _BACKENDS.get(voice.backend)
    if fn is None:
        raise CsExtError(f"unknown TTS backend '{voice.backend}'")
    data, sr = fn(voice, text)
    x = trim_silence(to_mono_16k(data, sr))
    if len(x) < int(0.05 * TARGET_SR):
        raise CsExtError(f"TTS {voice.id} produced no speech for {text!r}")
    return normalise(x)
