"""Data dir -> text: padding policy, language policies, shards, resume, bad input, CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from espnet_cs_ext.decode import (Decoder, config_from_dict, decode_data_dir, is_pretrained, load_config,
                                  merge_shards, resolve_padding)
from espnet_cs_ext.utils.errors import CsExtError
from espnet_cs_ext.utils.kaldi import read_table

CFG = {"language": "en", "max_new_tokens": 20, "batch_size": 2}


def cfg(**kw):
    return config_from_dict({**CFG, **kw})


def record_prompts(monkeypatch):
    """Capture the prompt ids the search gets."""
    from espnet_cs_ext.decode import search

    seen = []
    orig = search.greedy_search

    def spy(model, xa, valid, prompts, *rest):
        seen.extend(prompts.tolist())
        return orig(model, xa, valid, prompts, *rest)

    monkeypatch.setattr(search, "greedy_search", spy)
    return seen


# ---------------------------------------------------------------- padding policy

@pytest.mark.parametrize("spec,setting,expected", [
    ("base", "auto", True),
    ("small", "auto", True),
    ("exp/asr_ko-en/valid.acc.best.pth", "auto", False),
    ("exp/merged/ties.pt", "auto", False),
    ("base", False, False),
    ("exp/merged/ties.pt", True, True),
])
def test_pad_to_30s_policy(spec, setting, expected):
    assert resolve_padding(cfg(pad_to_30s=setting), spec) is expected


def test_ct2_dir_counts_as_pretrained(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"")
    assert is_pretrained(str(tmp_path)) and is_pretrained(str(tmp_path / "model.bin"))
    assert not is_pretrained(str(tmp_path / "other.pt"))


def test_auto_padding_reaches_the_encoder(lively, english_mels, monkeypatch):
    from espnet_cs_ext.decode import search

    shapes = []
    orig = search.encode
    monkeypatch.setattr(search, "encode", lambda m, mels, lens: shapes.append(mels.shape[-1]) or orig(m, mels, lens))
    utts, mels = english_mels
    Decoder(lively, cfg()).decode_mels(mels[:1], utts[:1], ["en"])  # a .pt file: fine-tuned, unpadded
    pretrained = type(lively)(lively.model, "base", True, "test")
    Decoder(pretrained, cfg()).decode_mels(mels[:1], utts[:1], ["en"])
    assert shapes == [mels[0].shape[1], 3000]


# ---------------------------------------------------------------- language policies

def test_utt2lang_token_is_in_the_prompt(lively, data_copy, tmp_path, monkeypatch):
    (data_copy / "utt2lang").write_text("utt1 ko\nutt2 en\nutt3 de\nutt4 ja\n")
    seen = record_prompts(monkeypatch)
    out = decode_data_dir(lively, data_copy, tmp_path / "out", cfg(language="utt2lang"), progress=False)
    d = Decoder(lively, cfg())
    tok = d.tokenizer.tokenizer
    sot, task, nots = (tok.convert_tokens_to_ids(t) for t in ("<|startoftranscript|>", "<|transcribe|>", "<|notimestamps|>"))
    expected = {tuple([sot, tok.convert_tokens_to_ids(f"<|{lang}|>"), task, nots]) for lang in ("ko", "en", "de", "ja")}
    assert {tuple(p) for p in seen} == expected
    assert read_table(out / "utt2lang") == {"utt1": "ko", "utt2": "en", "utt3": "de", "utt4": "ja"}


def test_fixed_language_and_translate_task(lively, data_copy, tmp_path, monkeypatch):
    seen = record_prompts(monkeypatch)
    decode_data_dir(lively, data_copy, tmp_path / "out", cfg(language="de", task="translate"), progress=False)
    tok = Decoder(lively, cfg()).tokenizer.tokenizer
    assert {tuple(p) for p in seen} == {tuple(tok.convert_tokens_to_ids(
        ["<|startoftranscript|>", "<|de|>", "<|translate|>", "<|notimestamps|>"]))}


@pytest.mark.parametrize("task_file, expected", [
    (None, "<|transcribe|>"),              # no DATA/task: an ASR set
    ("translate\n", "<|translate|>"),      # an X->en speech translation set
    ("transcribe", "<|transcribe|>"),
])
def test_task_from_the_data_dir(lively, data_copy, tmp_path, monkeypatch, task_file, expected):
    if task_file is not None:
        (data_copy / "task").write_text(task_file)
    seen = record_prompts(monkeypatch)
    out = decode_data_dir(lively, data_copy, tmp_path / "out", cfg(language="de", task="data"), progress=False)
    tok = Decoder(lively, cfg()).tokenizer.tokenizer
    assert {tuple(p) for p in seen} == {tuple(tok.convert_tokens_to_ids(
        ["<|startoftranscript|>", "<|de|>", expected, "<|notimestamps|>"]))}
    assert expected.strip("<|>") in (out / "decode.yaml").read_text()


def test_bad_task_file_is_named(lively, data_copy, tmp_path):
    (data_copy / "task").write_text("summarise\n")
    with pytest.raises(CsExtError, match=r"task: expected 'transcribe' or 'translate', got 'summarise'"):
        decode_data_dir(lively, data_copy, tmp_path / "out", cfg(task="data"), progress=False)


def test_language_none_uses_the_detected_token(lively, data_copy, tmp_path, monkeypatch):
    from espnet_cs_ext.decode import search

    orig = search.detect_language
    detected = []

    def spy(*args):
        found = orig(*args)
        detected.extend(found)
        return found

    monkeypatch.setattr(search, "detect_language", spy)
    seen = record_prompts(monkeypatch)
    out = decode_data_dir(lively, data_copy, tmp_path / "out", cfg(language="none"), progress=False)
    assert len(seen) == 4 and sorted(p[1] for p in seen) == sorted(detected)
    d = Decoder(lively, cfg())
    langs = read_table(out / "utt2lang")
    assert sorted(d.language_tokens[v] for v in langs.values()) == sorted(detected)


@pytest.mark.parametrize("content,message", [
    (None, "needs"),
    ("utt1 ko\n", "no language for 3"),
    ("utt1 ko\nutt2 xx\nutt3 en\nutt4 en\n", "not Whisper language codes"),
])
def test_utt2lang_errors(lively, data_copy, tmp_path, content, message):
    if content is not None:
        (data_copy / "utt2lang").write_text(content)
    with pytest.raises(CsExtError, match=message):
        decode_data_dir(lively, data_copy, tmp_path / "out", cfg(language="utt2lang"), progress=False)


# ---------------------------------------------------------------- shards, resume, skip

def test_sharded_then_merged_equals_single_job(lively, data_copy, tmp_path):
    single = decode_data_dir(lively, data_copy, tmp_path / "single", cfg(), progress=False)
    out = tmp_path / "sharded"
    for job in (1, 2):
        d = decode_data_dir(lively, data_copy, out, cfg(), nj=2, job=job, progress=False)
        assert d == out / "split2" / str(job) and (d / ".done").is_file()
        assert len(read_table(d / "text")) == 2
    merge_shards(data_copy, out, 2)
    assert (out / "text").read_text() == (single / "text").read_text()
    assert read_table(out / "text").keys() == {"utt1", "utt2", "utt3", "utt4"}


def test_merge_names_missing_and_duplicate_utterances(lively, data_copy, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(CsExtError, match="not finished.*split2/1"):
        merge_shards(data_copy, out, 2)
    for job in (1, 2):
        decode_data_dir(lively, data_copy, out, cfg(), nj=2, job=job, progress=False)
    text2 = out / "split2" / "2" / "text"
    lines = text2.read_text().splitlines()
    text2.write_text(lines[0] + "\n")  # an utterance lost
    with pytest.raises(CsExtError, match=r"missing 1: utt4"):
        merge_shards(data_copy, out, 2)
    text2.write_text("\n".join(lines + ["utt1 again"]) + "\n")  # utt1 also in shard 1
    with pytest.raises(CsExtError, match=r"more than once: utt1 \(jobs 1 and 2\)"):
        merge_shards(data_copy, out, 2)
    assert not (out / "text").exists()


def count_decoded(monkeypatch):
    calls = []
    orig = Decoder.decode_mels

    def spy(self, mels, utts, languages):
        calls.extend(utts)
        return orig(self, mels, utts, languages)

    monkeypatch.setattr(Decoder, "decode_mels", spy)
    return calls


def test_resume_from_partial(lively, data_copy, tmp_path, monkeypatch):
    full = decode_data_dir(lively, data_copy, tmp_path / "full", cfg(), progress=False)
    out = tmp_path / "out"
    d = decode_data_dir(lively, data_copy, out, cfg(), max_batches=1, progress=False)  # "killed" after 1 batch
    partial = d / "text.partial"
    assert not (d / ".done").exists() and not (d / "text").exists()
    first = [json.loads(x)["utt"] for x in partial.read_text().splitlines()[1:]]
    assert len(first) == 2
    with open(partial, "a") as f:
        f.write('{"utt": "utt9", "la')  # the line a killed job was writing
    calls = count_decoded(monkeypatch)
    decode_data_dir(lively, data_copy, out, cfg(), progress=False)
    assert sorted(calls) == sorted(set(read_table(data_copy / "wav.scp")) - set(first))
    assert (d / "text").read_text() == (full / "text").read_text()
    assert not partial.exists() and (d / ".done").is_file()


def test_rerun_skips_done_and_redoes_on_changed_settings(lively, data_copy, tmp_path, monkeypatch):
    out = tmp_path / "out"
    decode_data_dir(lively, data_copy, out, cfg(), nj=2, job=1, progress=False)
    calls = count_decoded(monkeypatch)
    decode_data_dir(lively, data_copy, out, cfg(batch_size=1), nj=2, job=1, progress=False)
    assert calls == []  # batch size does not change the result
    decode_data_dir(lively, data_copy, out, cfg(max_new_tokens=5), nj=2, job=1, progress=False)
    assert len(calls) == 2


def test_feats_scp_gives_the_same_text(lively, data_copy, tmp_path):
    import kaldiio
    from whisper.audio import log_mel_spectrogram

    from espnet_cs_ext.whisper.audio import load_audio_16k

    wav_out = decode_data_dir(lively, data_copy, tmp_path / "wav", cfg(), progress=False)
    with kaldiio.WriteHelper(f"ark,scp:{data_copy}/feats.ark,{data_copy}/feats.scp") as w:
        for utt, path in read_table(data_copy / "wav.scp").items():
            w(utt, log_mel_spectrogram(torch.from_numpy(load_audio_16k(path))).T.numpy())
    feats_out = decode_data_dir(lively, data_copy, tmp_path / "feats", cfg(), progress=False)
    assert "feats.scp" in (feats_out / "decode.yaml").read_text()
    assert (feats_out / "text").read_text() == (wav_out / "text").read_text()


# ---------------------------------------------------------------- bad input

def test_missing_wav_names_the_utterance(lively, data_copy, tmp_path):
    scp = data_copy / "wav.scp"
    scp.write_text(scp.read_text() + "uttX /nonexistent/uttX.wav\n")
    with pytest.raises(CsExtError, match="utterance 'uttX': no such audio file /nonexistent/uttX.wav"):
        decode_data_dir(lively, data_copy, tmp_path / "out", cfg(), progress=False)


def test_not_a_whisper_model(tmp_path):
    from espnet_cs_ext.decode import load_decode_model

    junk = tmp_path / "model.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CsExtError, match="not a loadable"):
        load_decode_model(str(junk))
    other = tmp_path / "lm.pth"
    torch.save(torch.nn.Linear(3, 4).state_dict(), other)
    with pytest.raises(CsExtError, match="not an ESPnet Whisper model"):
        load_decode_model(str(other))
    with pytest.raises(CsExtError, match="unknown Whisper model spec"):
        load_decode_model("gpt2")


@pytest.mark.parametrize("raw,message", [
    ({"beam_size": 0}, "beam_size"),
    ({"language": "klingon"}, "neither a policy"),
    ({"pad_to_30s": "maybe"}, "pad_to_30s"),
    ({"beem_size": 5}, "unknown key"),
    ({"prompt": "<|startoftranscript|> {lang} hello"}, "special tokens"),
    ({"max_tokens_per_second": 0}, "max_tokens_per_second"),
])
def test_config_errors(raw, message):
    with pytest.raises(CsExtError, match=message):
        config_from_dict(raw)


def test_prompt_template_follows_the_config(lively, english_mels, monkeypatch):
    """ESPnet's prompt-file layout: the utterance's language replaces the task token."""
    utts, mels = english_mels
    seen = record_prompts(monkeypatch)
    d = Decoder(lively, cfg(prompt="<|startoftranscript|> <|en|> {lang} <|notimestamps|>"))
    d.decode_mels(mels[:1], utts[:1], ["ko"])
    assert seen == [d.tokenizer.tokenizer.convert_tokens_to_ids(
        ["<|startoftranscript|>", "<|en|>", "<|ko|>", "<|notimestamps|>"])]
    with pytest.raises(CsExtError, match="not a Whisper special token"):
        Decoder(lively, cfg(prompt="<|startoftranscript|> <|nonsense|> {lang}"))


def test_espnet_decode_keys_are_ignored():
    c = config_from_dict({"beam_size": 5, "ctc_weight": 0.0, "lm_weight": 0.0, "penalty": 0.0, "nbest": 1})
    assert c.beam_size == 5


def test_example_configs_load():
    recipe_conf = Path(__file__).parents[2] / "egs2" / "cs_unseen" / "asr1" / "conf"
    confs = sorted(recipe_conf.glob("tuning/decode/*.yaml")) + [recipe_conf / "tuning" / "test" / "decode_tiny.yaml"]
    assert len(confs) >= 4
    for path in confs:
        load_config(path)


# ---------------------------------------------------------------- ESPnet model files

def test_espnet_pth_decodes_like_the_whisper_checkpoint(lively, lively_pt, data_copy, tmp_path):
    from espnet_cs_ext.decode import load_decode_model

    exp = tmp_path / "exp"
    exp.mkdir()
    state = {("encoder.encoders." + k[len("encoder."):]) if k.startswith("encoder.")
             else ("decoder.decoders." + k[len("decoder."):]): v for k, v in lively.model.state_dict().items()
             if k != "decoder.mask"}
    state["ctc.ctc_lo.weight"] = torch.zeros(3, 64)
    torch.save(state, exp / "valid.acc.best.pth")
    with pytest.raises(CsExtError, match="--whisper-dims-from"):  # 64 wide: head count unknown
        load_decode_model(str(exp / "valid.acc.best.pth"))
    (exp / "config.yaml").write_text(f"encoder: whisper_cs\nencoder_conf:\n  whisper_model: {lively_pt}\n")
    from_config = load_decode_model(str(exp / "valid.acc.best.pth"))
    assert "config.yaml" in from_config.dims_source and not from_config.pretrained
    (exp / "config.yaml").unlink()
    explicit = load_decode_model(str(exp / "valid.acc.best.pth"), dims_from=str(lively_pt))
    a = decode_data_dir(explicit, data_copy, tmp_path / "a", cfg(), progress=False)
    b = decode_data_dir(lively, data_copy, tmp_path / "b", cfg(), progress=False)
    assert (a / "text").read_text() == (b / "text").read_text()


# ---------------------------------------------------------------- command line

def test_cli_sharded_merge_and_exit_codes(lively_pt, data_copy, tmp_path, capsys):
    from espnet_cs_ext.bin.decode import main

    conf = tmp_path / "greedy.yaml"
    conf.write_text("language: en\nmax_new_tokens: 10\n")
    common = ["--model", str(lively_pt), "--data", str(data_copy), "--config", str(conf), "--no-progress"]
    assert main(common + ["--out", str(tmp_path / "one")]) == 0
    for job in ("1", "2"):
        assert main(common + ["--out", str(tmp_path / "two"), "--nj", "2", "--job", job, "--batch-size", "3"]) == 0
    assert main(["--merge-shards", "2", "--data", str(data_copy), "--out", str(tmp_path / "two")]) == 0
    assert (tmp_path / "two" / "text").read_text() == (tmp_path / "one" / "text").read_text()
    assert "pad_to_30s: false" in (tmp_path / "one" / "decode.yaml").read_text()
    assert main(common + ["--out", str(tmp_path / "x"), "--nj", "2", "--job", "3"]) == 2
    assert "--job must be in 1..--nj" in capsys.readouterr().err


def test_cli_exit_code_2_in_a_subprocess(tmp_path, data_copy):
    junk = tmp_path / "junk.pth"
    junk.write_text("hello")
    proc = subprocess.run([sys.executable, "-m", "espnet_cs_ext.bin.decode", "--model", str(junk),
                           "--data", str(data_copy), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("decode: error: ")
    assert str(junk) in proc.stderr


def test_cli_several_data_dirs_share_one_model_load(lively_pt, data_copy, tmp_path, capsys):
    """--data D1 D2 --out O1 O2 gives the same files as one call per data dir."""
    import shutil

    from espnet_cs_ext.bin.decode import main

    second = tmp_path / "second"
    shutil.copytree(data_copy, second)
    conf = tmp_path / "greedy.yaml"
    conf.write_text("language: en\nmax_new_tokens: 10\n")
    common = ["--model", str(lively_pt), "--config", str(conf), "--no-progress"]
    assert main(common + ["--data", str(data_copy), "--out", str(tmp_path / "a1")]) == 0
    assert main(common + ["--data", str(second), "--out", str(tmp_path / "b1")]) == 0
    assert main(common + ["--data", str(data_copy), str(second),
                          "--out", str(tmp_path / "a2"), str(tmp_path / "b2")]) == 0
    for one, many in (("a1", "a2"), ("b1", "b2")):
        assert (tmp_path / many / "text").read_text() == (tmp_path / one / "text").read_text()
    assert main(common + ["--data", str(data_copy), str(second), "--out", str(tmp_path / "c")]) == 2
    assert "2 --data dirs but 1 --out dirs" in capsys.readouterr().err
