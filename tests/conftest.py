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



@pytest.fixture(scope="session")
def whisper_token_list(tmp_path_factory) -> Path:
    """ESPnet's token list for `whisper_multilingual`, exported in-process (one per session)."""
    from espnet2.bin.whisper_export_vocabulary import export_vocabulary

    out = tmp_path_factory.mktemp("tokens") / "tokens.txt"
    export_vocabulary(str(out), "whisper_multilingual", log_level="WARNING")
    return out


def tiny_espnet_train_config(whisper: Path) -> dict:
    """ESPnet config: the tiny Whisper through `whisper_cs`, 3 AdamW steps of batch 1."""
    return {
        "frontend": None, "input_size": 1, "normalize": None,
        "encoder": "whisper_cs",
        "encoder_conf": {"whisper_model": str(whisper), "dropout_rate": 0.0, "do_pad_trim": False},
        "decoder": "whisper_cs",
        "decoder_conf": {"whisper_model": str(whisper), "dropout_rate": 0.0},
        "model_conf": {"ctc_weight": 0.0, "lsm_weight": 0.1, "length_normalized_loss": False,
                       "sym_sos": "<|startoftranscript|>", "sym_eos": "<|endoftext|>"},
        "token_type": "whisper_multilingual", "bpemodel": "whisper_multilingual",
        "cleaner": "whisper_basic",
        "preprocessor_conf": {"whisper_language": "en", "whisper_task": "transcribe"},
        "optim": "adamw", "optim_conf": {"lr": 1.0e-3},
        "max_epoch": 1, "batch_type": "unsorted", "batch_size": 1, "num_iters_per_epoch": 3,
        "accum_grad": 1, "num_workers": 0, "seed": 0,
        "best_model_criterion": [["valid", "loss", "min"]], "keep_nbest_models": 1,
    }


@pytest.fixture(scope="session")
def tiny_espnet_config():
    """`tiny_espnet_train_config` for test modules elsewhere (a conftest is not importable by name)."""
    return tiny_espnet_train_config


@pytest.fixture(scope="session")
def tiny_espnet_trained(tmp_path_factory, tiny_whisper, english_data_dir, whisper_token_list):
    """ONE tiny ESPnet training shared by tests/foundation and tests/pack: ESPnet's own
    collect-stats pass, then 3 steps through espnet_cs_ext.bin.asr_train.

    Returns (work dir, exp dir = work/exp/asr_tiny, data dir, whisper copy at
    work/whisper/tiny.pt). The Whisper is a copy in the work dir because the pack tests
    rename it away for a while (to prove an archive does not read it) and put it back.
    """
    import os
    import sys

    import yaml

    work = tmp_path_factory.mktemp("espnet_tiny")
    whisper = work / "whisper" / "tiny.pt"
    whisper.parent.mkdir()
    shutil.copy(tiny_whisper, whisper)
    tokens = work / "tokens.txt"  # a copy in the work dir: the pack tests pack it from there
    shutil.copy(whisper_token_list, tokens)
    config = work / "train.yaml"
    config.write_text(yaml.safe_dump(tiny_espnet_train_config(whisper)))
    data = english_data_dir
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    common = [sys.executable, "-m", "espnet_cs_ext.bin.asr_train", "--config", str(config),
              "--token_list", str(tokens), "--use_preprocessor", "true", "--ngpu", "0",
              "--train_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
              "--train_data_path_and_name_and_type", f"{data}/text,text,text",
              "--valid_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
              "--valid_data_path_and_name_and_type", f"{data}/text,text,text"]

    def run(args):
        proc = subprocess.run(common + args, cwd=work, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"asr_train {args[:2]} failed:\n{proc.stderr[-4000:]}"
        return proc

    stats = work / "stats"
    run(["--collect_stats", "true", "--output_dir", str(stats),
         "--train_shape_file", f"{data}/wav.scp", "--valid_shape_file", f"{data}/wav.scp"])
    exp = work / "exp" / "asr_tiny"
    proc = run(["--output_dir", str(exp), "--train_shape_file", f"{stats}/train/speech_shape",
                "--valid_shape_file", f"{stats}/valid/speech_shape"])
    (exp / "train.log").write_text(proc.stderr)
    assert (exp / "latest.pth").is_file() and (exp / "config.yaml").is_file(), sorted(os.listdir(exp))
    return work, exp, data, whisper
