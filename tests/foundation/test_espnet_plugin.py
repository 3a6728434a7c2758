"""The plugin end to end through ESPnet's own CLIs: collect stats, train 3 steps, decode.

Uses a tiny random Whisper checkpoint (a local .pt path, which ESPnet's own
`whisper` encoder refuses) named through the `whisper_cs` encoder and decoder.
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


def run(args, cwd):
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, f"{args[:2]} failed:\n{proc.stderr[-4000:]}"
    return proc


def train_config(whisper: Path) -> dict:
    return {
        "frontend": None,
        "input_size": 1,
        "normalize": None,
        "encoder": "whisper_cs",
        "encoder_conf": {"whisper_model": str(whisper), "dropout_rate": 0.0, "do_pad_trim": False},
        "decoder": "whisper_cs",
        "decoder_conf": {"whisper_model": str(whisper), "dropout_rate": 0.0},
        "model_conf": {"ctc_weight": 0.0, "lsm_weight": 0.1, "length_normalized_loss": False,
                       "sym_sos": "<|startoftranscript|>", "sym_eos": "<|endoftext|>"},
        "token_type": "whisper_multilingual",
        "bpemodel": "whisper_multilingual",
        "cleaner": "whisper_basic",
        "preprocessor_conf": {"whisper_language": "en", "whisper_task": "transcribe"},
        "optim": "adamw",
        "optim_conf": {"lr": 1.0e-3},
        "max_epoch": 1,
        "batch_type": "unsorted",
        "batch_size": 1,
        "num_iters_per_epoch": 3,
        "accum_grad": 1,
        "num_workers": 0,
        "seed": 0,
        "best_model_criterion": [["valid", "loss", "min"]],
        "keep_nbest_models": 1,
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_whisper, english_data_dir):
    work = tmp_path_factory.mktemp("espnet")
    tokens = work / "tokens.txt"
    run(["-m", "espnet2.bin.whisper_export_vocabulary", "--whisper_model", "whisper_multilingual",
         "--output", str(tokens)], work)
    config = work / "train.yaml"
    config.write_text(yaml.safe_dump(train_config(tiny_whisper)))
    data = english_data_dir
    common = [
        "-m", "espnet_cs_ext.bin.asr_train", "--config", str(config), "--token_list", str(tokens),
        "--use_preprocessor", "true", "--ngpu", "0",
        "--train_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
        "--train_data_path_and_name_and_type", f"{data}/text,text,text",
        "--valid_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
        "--valid_data_path_and_name_and_type", f"{data}/text,text,text",
    ]
    stats = work / "stats"
    run(common + ["--collect_stats", "true", "--output_dir", str(stats),
                  "--train_shape_file", f"{data}/wav.scp", "--valid_shape_file", f"{data}/wav.scp"], work)
    exp = work / "exp"
    before = {k: v.clone() for k, v in _load_whisper_state(tiny_whisper).items()}
    proc = run(common + ["--output_dir", str(exp),
                         "--train_shape_file", f"{stats}/train/speech_shape",
                         "--valid_shape_file", f"{stats}/valid/speech_shape"], work)
    (exp / "train.log").write_text(proc.stderr)
    return work, exp, data, before


def _load_whisper_state(path):
    from espnet_cs_ext.whisper import load_checkpoint

    return load_checkpoint(path)[1]


def test_training_updates_whisper_weights(trained):
    import torch

    _, exp, _, before = trained
    log = (exp / "train.log").read_text()
    m = re.search(r"1epoch results: \[train\].*? loss=([-0-9.e+a-z]+),.*?total_count=(\d+)", log)
    assert m, log[-2000:]
    assert math.isfinite(float(m.group(1))), m.group(0)
    assert int(m.group(2)) == 3, "expected exactly three training steps"
    state = torch.load(exp / "1epoch.pth", map_location="cpu", weights_only=True)
    q = state["encoder.encoders.blocks.0.attn.query.weight"]
    emb = state["decoder.decoders.token_embedding.weight"]
    assert q.shape == before["encoder.blocks.0.attn.query.weight"].shape
    assert not torch.equal(q, before["encoder.blocks.0.attn.query.weight"].float())
    assert not torch.equal(emb, before["decoder.token_embedding.weight"].float())
    assert torch.isfinite(q).all()


def test_decoding_with_the_trained_model(trained):
    work, exp, data, _ = trained
    key = work / "one_utt.scp"
    key.write_text((data / "wav.scp").read_text().splitlines()[0] + "\n")
    out = work / "decode"
    run(["-m", "espnet_cs_ext.bin.asr_inference", "--ngpu", "0",
         "--asr_train_config", str(exp / "config.yaml"), "--asr_model_file", str(exp / "1epoch.pth"),
         "--data_path_and_name_and_type", f"{key},speech,sound", "--key_file", str(key),
         "--output_dir", str(out), "--beam_size", "1", "--ctc_weight", "0", "--lm_weight", "0",
         "--maxlenratio", "0.1", "--batch_size", "1"], work)
    text = (out / "1best_recog" / "text").read_text().splitlines()
    assert len(text) == 1 and text[0].split()[0] == "utt1"
