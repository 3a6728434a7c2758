"""Shared fixtures: a tiny random Whisper checkpoint and real synthesised audio.

Audio is made by espeak-ng (Debian package, installed by .ci/run) and resampled to
16 kHz mono with soundfile/soxr, so tests run offline and fast.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ENGLISH = [
    ("utt1", "hello world this is a test"),
    ("utt2", "the weather is nice today"),
    ("utt3", "please send me the report"),
    ("utt4", "good morning everyone"),
]


def synthesize(text: str, out: Path, voice: str = "en-us") -> Path:
    """espeak-ng -> 16 kHz mono 16-bit wav at `out`."""
    import numpy as np
    import soundfile as sf
    import soxr

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (apt-get install espeak-ng; .ci/run does this)")
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
    audio, sr = sf.read(raw, dtype="float32")
    raw.unlink()
    audio = soxr.resample(audio, sr, 16000).astype(np.float32)
    sf.write(out, audio, 16000, subtype="PCM_16")
    return out


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory) -> Path:
    from espnet_cs_ext.whisper.tiny import save_tiny_whisper

    return Path(save_tiny_whisper(tmp_path_factory.mktemp("tiny") / "tiny.pt", seed=0))


@pytest.fixture(scope="session")
def english_data_dir(tmp_path_factory) -> Path:
    """Kaldi data dir (wav.scp, text, utt2spk, spk2utt) over 4 real espeak-ng wavs."""
    d = tmp_path_factory.mktemp("data")
    wavs = d / "wav"
    wavs.mkdir()
    with open(d / "wav.scp", "w") as scp, open(d / "text", "w") as txt, open(d / "utt2spk", "w") as u2s:
        for utt, sentence in ENGLISH:
            wav = synthesize(sentence, wavs / f"{utt}.wav")
            scp.write(f"{utt} {wav}\n")
            txt.write(f"{utt} {sentence}\n")
            u2s.write(f"{utt} spk1\n")
    (d / "spk2utt").write_text("spk1 " + " ".join(u for u, _ in ENGLISH) + "\n")
    return d


def _wait_until(ready, what: str, proc=None, cap: float = 900.0, poll: float = 0.05) -> None:
    """Poll `ready()` until true; fail naming `what` if `proc` ends first or after `cap` s.

    The cap only turns a hang into a failure (it is far above any run's length); nothing
    here depends on how fast the machine is.
    """
    import time

    end = time.monotonic() + cap
    while not ready():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the process ended (rc {proc.returncode}) before {what}")
        if time.monotonic() > end:
            pytest.fail(f"no {what} within {cap:.0f} s: the run hangs")
        time.sleep(poll)


@pytest.fixture(scope="session")
def wait_until():
    """`wait_until(ready, what, proc=None)`: a condition wait with a generous hang cap."""
    return _wait_until


