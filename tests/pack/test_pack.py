"""Pack -> espnet_model_zoo unpack -> Speech2Text round trip, offline, on a 3-step tiny model.

The archive must decode a real espeak-ng wav to exactly what the exp dir decodes to,
with the training-time Whisper checkpoint hidden (so the archive is self-contained);
merged whisper-format checkpoints must become ESPnet-loadable; bad inputs must fail
with a CsExtError naming the file and leave no archive behind.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from espnet_cs_ext.recipe.pack import extract_for_upload, pack_model
from espnet_cs_ext.utils.errors import CsExtError

DECODE = dict(beam_size=1, ctc_weight=0.0, lm_weight=0.0, maxlenratio=0.2, nbest=1, device="cpu")


def decode(wav: Path, **model_files):
    """(text, token ids, score) of ESPnet's Speech2Text with the plugin registered."""
    import soundfile as sf
    import torch

    import espnet_cs_ext.plugin  # noqa: F401
    from espnet2.bin.asr_inference import Speech2Text

    torch.manual_seed(0)
    s2t = Speech2Text(**model_files, **DECODE)
    speech, _ = sf.read(wav, dtype="float32")
    text, _, token_int, hyp = s2t(speech)[0]
    return text, list(token_int), round(float(hyp.score), 4), s2t


@contextlib.contextmanager
def hidden(path: Path):
    """`path` renamed away inside the block: proves a loaded archive does not read it."""
    away = path.with_name(path.name + ".hidden")
    os.rename(path, away)
    try:
        yield
    finally:
        os.rename(away, path)


def first_wav(data: Path) -> Path:
    return Path((data / "wav.scp").read_text().split()[1])


def unpack(zip_path: Path, cache: Path) -> dict:
    from espnet_model_zoo.downloader import ModelDownloader

    return ModelDownloader(cachedir=cache).download_and_unpack(str(zip_path))


def test_pack_unpack_decodes_like_the_exp_dir(packed_system, tmp_path):
    work, exp, data, whisper = packed_system
    results = tmp_path / "RESULTS.md"
    results.write_text("| System | en |\n|---|---:|\n| tiny | 1.000 |\n")
    (tmp_path / "images" / "sub").mkdir(parents=True)
    (tmp_path / "images" / "sub" / "loss.png").write_bytes(b"png")
    (tmp_path / "decode.yaml").write_text("beam_size: 1\n")
    out = tmp_path / "packed" / "asr_tiny.zip"
    res = pack_model(str(exp / "latest.pth"), out, asr_train_config=str(exp / "config.yaml"),
                     results=str(results), extras=[str(tmp_path / "decode.yaml"), str(tmp_path / "images")])
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        meta = yaml.safe_load(zf.read("meta.yaml"))
        packed_cfg = yaml.safe_load(zf.read("exp/asr_tiny/config.yaml"))
        packed_model = zf.read("exp/asr_tiny/latest.pth")
        readme = zf.read("README.md").decode()
    assert names == ["meta.yaml", "README.md", "exp/asr_tiny/whisper/tiny.pt", "exp/asr_tiny/config.yaml",
                     "exp/asr_tiny/latest.pth", "exp/asr_tiny/RESULTS.md", "exp/asr_tiny/decode.yaml",
                     "exp/asr_tiny/images/sub/loss.png"]
    assert meta["files"] == {"asr_model_file": "exp/asr_tiny/latest.pth"}
    assert meta["yaml_files"] == {"asr_train_config": "exp/asr_tiny/config.yaml"}
    # Whisper entries name the bundled member; the inline token list is kept whole.
    assert packed_cfg["encoder_conf"]["whisper_model"] == "exp/asr_tiny/whisper/tiny.pt"
    assert packed_cfg["decoder_conf"]["whisper_model"] == "exp/asr_tiny/whisper/tiny.pt"
    orig_cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert packed_cfg["token_list"] == orig_cfg["token_list"] and len(packed_cfg["token_list"]) > 50000
    assert packed_model == (exp / "latest.pth").read_bytes()  # shipped byte for byte
    assert res.model_naming == "espnet" and res.whisper_specs == ["exp/asr_tiny/whisper/tiny.pt"] * 2
    assert "The checkpoint is bundled" in readme and "import espnet_cs_ext.plugin" in readme
    assert "| System | en |\n|---|---:|\n| tiny | 1.000 |\n" in readme  # this system's RESULTS row

    wav = first_wav(data)
    want = decode(wav, asr_train_config=str(exp / "config.yaml"), asr_model_file=str(exp / "latest.pth"))
    assert want[1], "the reference decode produced no tokens; the comparison would be vacuous"
    with hidden(whisper.parent):
        files = unpack(out, tmp_path / "zoo")
        assert set(files) == {"asr_train_config", "asr_model_file"}
        cfg = yaml.safe_load(Path(files["asr_train_config"]).read_text())
        bundled = Path(cfg["encoder_conf"]["whisper_model"])
        assert bundled.is_absolute() and bundled.is_file() and str(tmp_path / "zoo") in str(bundled)
        got = decode(wav, **files)
        # The Hugging Face layout (--upload_dir) after espnet_model_zoo's post-download rewrite.
        from espnet_model_zoo.downloader import ModelDownloader

        up = extract_for_upload(out, tmp_path / "upload")
        assert yaml.safe_load((up / "exp/asr_tiny/config.yaml").read_text())["encoder_conf"][
            "whisper_model"] == "exp/asr_tiny/whisper/tiny.pt"
        got_hf = decode(wav, **ModelDownloader._unpack_cache_dir_for_huggingfase(str(up)))
    assert got[:3] == want[:3]
    assert got_hf[:3] == want[:3]


def _merged(packed_system, tmp_path, naming="whisper", provenance=True):
    """0.5 * (fine-tuned + base): a task-arithmetic merge, saved in `naming`."""
    from espnet_cs_ext.merge.formats import load_state_dict, save_state_dict
    from espnet_cs_ext.whisper import load_checkpoint

    _, exp, _, whisper = packed_system
    ft, base = load_state_dict(exp / "latest.pth"), load_state_dict(whisper)
    assert set(ft) == set(base)
    merged = {k: (0.5 * (ft[k].float() + base[k].float())).contiguous() for k in base}
    ext = {"whisper": "model.pt", "hf": "model.safetensors", "espnet": "model.pth"}[naming]
    path = tmp_path / "merge" / f"ta_{naming}" / ext
    save_state_dict(merged, path, naming, dims=load_checkpoint(whisper)[0] if naming == "whisper" else None)
    if provenance:  # what cs-merge writes beside its output
        path.with_name(path.name + ".merge.yaml").write_text(yaml.safe_dump(
            {"merge_method": "task_arithmetic", "models": [{"model": str(exp / "latest.pth")}]}))
    return path, merged, ft


def test_merged_whisper_checkpoint_becomes_an_espnet_model(packed_system, tmp_path):
    import torch

    from espnet_cs_ext.whisper import load_whisper

    work, exp, data, whisper = packed_system
    path, merged, ft = _merged(packed_system, tmp_path)
    out = tmp_path / "ta.zip"
    res = pack_model(str(path), out)  # config found through model.pt.merge.yaml
    assert res.model_naming == "whisper" and res.tag == "ta_whisper" and res.n_tensors == len(merged)
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == sorted([
            "meta.yaml", "README.md", "exp/ta_whisper/whisper/tiny.pt", "exp/ta_whisper/config.yaml",
            "exp/ta_whisper/model.pth", "exp/ta_whisper/model.pt.merge.yaml"])
        meta = yaml.safe_load(zf.read("meta.yaml"))
    assert meta["espnet_cs_ext"]["source_config"] == str(exp / "config.yaml")

    # Reference: the exp-dir model with its Whisper modules loaded from the merged file
    # by openai-whisper itself (no key renaming involved).
    wav = first_wav(data)
    ref = decode(wav, asr_train_config=str(exp / "config.yaml"), asr_model_file=str(exp / "latest.pth"))
    w = load_whisper(str(path))
    s2t = ref[3]
    s2t.asr_model.encoder.encoders.load_state_dict(w.encoder.state_dict())
    s2t.asr_model.decoder.decoders.load_state_dict(w.decoder.state_dict())
    import soundfile as sf

    text, _, token_int, hyp = s2t(sf.read(wav, dtype="float32")[0])[0]
    want = (text, list(token_int), round(float(hyp.score), 4))

    with hidden(whisper.parent):
        files = unpack(out, tmp_path / "zoo")
        state = torch.load(files["asr_model_file"], map_location="cpu", weights_only=True)
        assert len(state) == len(merged)
        for name, t in merged.items():
            part, _, rest = name.partition(".")
            assert torch.equal(state[f"{part}.{part}s.{rest}"], t), name
        q = "encoder.blocks.0.attn.query.weight"
        assert not torch.equal(merged[q], ft[q].float())  # really a different model
        got = decode(wav, **files)
    assert got[:3] == want


@pytest.mark.parametrize("naming", ["hf", "espnet"])
def test_other_namings_pack_to_the_same_weights(packed_system, tmp_path, naming):
    import torch

    _, exp, _, _ = packed_system
    path, merged, _ = _merged(packed_system, tmp_path, naming=naming, provenance=False)
    out = tmp_path / f"{naming}.zip"
    res = pack_model(str(path), out, asr_train_config=str(exp / "config.yaml"), tag="m")
    assert res.model_naming == naming
    with zipfile.ZipFile(out) as zf:
        with zf.open("exp/m/model.pth") as f:
            state = torch.load(f, map_location="cpu", weights_only=True)
    assert {k for k in state} == {f"{n.split('.')[0]}.{n.split('.')[0]}s.{n.partition('.')[2]}" for n in merged}
    for name, t in merged.items():
        part, _, rest = name.partition(".")
        assert torch.equal(state[f"{part}.{part}s.{rest}"], t), name


def test_token_list_file_is_packed_and_rewritten_and_pad_override(packed_system, tmp_path):
    work, exp, _, _ = packed_system
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    n_tokens = len(cfg["token_list"])
    cfg["token_list"] = str(work / "tokens.txt")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "tl.zip"
    pack_model(str(exp / "latest.pth"), out, asr_train_config=str(config), tag="tl", do_pad_trim=True)
    with zipfile.ZipFile(out) as zf:
        packed = yaml.safe_load(zf.read("exp/tl/config.yaml"))
        assert packed["token_list"] == "exp/tl/tokens.txt"
        assert packed["encoder_conf"]["do_pad_trim"] is True and cfg["encoder_conf"]["do_pad_trim"] is False
        assert zf.read("exp/tl/tokens.txt") == (work / "tokens.txt").read_bytes()
    files = unpack(out, tmp_path / "zoo")
    tl = Path(yaml.safe_load(Path(files["asr_train_config"]).read_text())["token_list"])
    assert tl.is_absolute() and len(tl.read_text().splitlines()) == n_tokens


def _bad_cases(work: Path, exp: Path, tmp: Path):
    """(name, kwargs for pack_model, expected message fragment) rows."""
    import torch

    from espnet_cs_ext.whisper.tiny import save_tiny_whisper

    cfg = yaml.safe_load((exp / "config.yaml").read_text())

    def config_with(name, **changes):
        c = {**cfg, **changes}
        p = tmp / f"{name}.yaml"
        p.write_text(yaml.safe_dump(c))
        return str(p)

    no_tokens = config_with("no_tokens", token_list=None)
    missing_tokens = config_with("missing_tokens", token_list=str(tmp / "nowhere" / "tokens.txt"))
    missing_whisper = config_with("missing_whisper", encoder_conf={
        **cfg["encoder_conf"], "whisper_model": str(tmp / "nowhere" / "w.pt")})
    state = torch.load(exp / "latest.pth", map_location="cpu", weights_only=True)
    del state["decoder.decoders.ln.bias"]
    torch.save(state, tmp / "missing_key.pth")
    save_tiny_whisper(tmp / "narrow.pt", seed=1, n_audio_state=32, n_text_state=32)
    (tmp / "notes.pth").write_text("not a checkpoint\n")
    (tmp / "orphan").mkdir()
    torch.save(state, tmp / "orphan" / "model.pt")
    model, config = str(exp / "latest.pth"), str(exp / "config.yaml")
    return [
        ("missing config", dict(asr_model_file=model, asr_train_config=str(tmp / "nope.yaml")),
         f"training config not found: {tmp / 'nope.yaml'}"),
        ("missing model", dict(asr_model_file=str(tmp / "nope.pth"), asr_train_config=config),
         f"model file not found: {tmp / 'nope.pth'}"),
        ("no token list", dict(asr_model_file=model, asr_train_config=no_tokens), "no token list"),
        ("token list file missing", dict(asr_model_file=model, asr_train_config=missing_tokens),
         f"token_list {tmp / 'nowhere' / 'tokens.txt'} does not exist"),
        ("whisper checkpoint missing", dict(asr_model_file=model, asr_train_config=missing_whisper),
         "encoder_conf.whisper_model is"),
        ("not a checkpoint", dict(asr_model_file=str(tmp / "notes.pth"), asr_train_config=config),
         f"{tmp / 'notes.pth'}: not a PyTorch or safetensors checkpoint (starts with b'not a ch')"),
        ("missing key", dict(asr_model_file=str(tmp / "missing_key.pth"), asr_train_config=config),
         "1 missing (e.g. decoder.decoders.ln.bias)"),
        ("other dims", dict(asr_model_file=str(tmp / "narrow.pt"), asr_train_config=config),
         "with other shapes (e.g. decoder.decoders.blocks.0.attn.key.weight (32, 32) vs (64, 64)"),
        ("merged without provenance", dict(asr_model_file=str(tmp / "orphan" / "model.pt")),
         "no --asr_train_config given and no model.pt.merge.yaml"),
        ("not a zip", dict(asr_model_file=model, asr_train_config=config, out=tmp / "out" / "x.tar"),
         "must end in .zip"),
    ]


def test_bad_inputs_fail_clearly_and_write_nothing(packed_system, tmp_path):
    work, exp, _, _ = packed_system
    outdir = tmp_path / "out"
    for name, kwargs, fragment in _bad_cases(work, exp, tmp_path):
        kwargs.setdefault("out", outdir / f"{name.replace(' ', '_')}.zip")
        with pytest.raises(CsExtError) as e:
            pack_model(**kwargs)
        assert fragment in str(e.value), f"{name}: {e.value}"
        assert not Path(kwargs["out"]).exists(), name
    assert not outdir.exists() or list(outdir.iterdir()) == [], "temporary files left behind"


def test_cli_one_line_error_and_light_import(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-m", "espnet_cs_ext.bin.pack_model", "--asr_model_file",
                           str(tmp_path / "none.pth"), "--out", str(tmp_path / "x.zip")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"pack_model: error: model file not found: {tmp_path / 'none.pth'} (expected "
        f"exp/asr_<system>/*.pth, a merged exp/merge/<name>/model.pt, or a Whisper name like 'base')"]
    mods = subprocess.run([sys.executable, "-c", "import sys, espnet_cs_ext.recipe.pack, "
                           "espnet_cs_ext.bin.pack_model; print(' '.join(sys.modules))"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert "espnet2" not in mods and "torch" not in mods
