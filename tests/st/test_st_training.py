"""ST fine-tuning through ESPnet: 3 steps of a tiny random Whisper on a synthetic de->en dir.

The recipe's demo ST config (conf/tuning/st/demo_train_st.yaml) with the tiny model and a
larger rate; the decoder's inputs are recorded by a wrapper around the plugin's
decoder forward, so the test sees the exact ids the model was trained on:
<|startoftranscript|> <|de|> <|translate|> <|notimestamps|> then the English text.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from espnet_cs_ext.recipe.text import prepare_text
from espnet_cs_ext.utils.kaldi import read_table

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "cs_unseen" / "asr1"
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
SOT, DE, TRANSLATE, NOTIMESTAMPS = 50258, 50261, 50358, 50363

# Train with a recorder around the decoder (ESPnet runs in this process: ngpu 0, no workers).
TRAIN = r"""
import json, sys
import espnet_cs_ext.plugin
from espnet_cs_ext.espnet.whisper_cs import WhisperCSDecoder
seen = []
orig = WhisperCSDecoder.forward
def forward(self, hs_pad, hlens, ys_in_pad, ys_in_lens):
    if self.training:
        seen.append([row[:int(n)] for row, n in zip(ys_in_pad.tolist(), ys_in_lens.tolist())])
    return orig(self, hs_pad, hlens, ys_in_pad, ys_in_lens)
WhisperCSDecoder.forward = forward
from espnet_cs_ext.bin.asr_train import main
try:
    main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as f:
        json.dump(seen, f)
"""


def run(args, cwd):
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, f"{args[:3]} failed:\n{proc.stderr[-4000:]}"
    return proc


def st_config(whisper: Path) -> dict:
    cfg = yaml.safe_load((RECIPE / "conf" / "tuning" / "st" / "demo_train_st.yaml").read_text())
    cfg["encoder_conf"]["whisper_model"] = cfg["decoder_conf"]["whisper_model"] = str(whisper)
    cfg.update(optim_conf={"lr": 1.0e-3, "weight_decay": 0.0}, scheduler=None, scheduler_conf={},
               batch_size=2, max_epoch=1, num_iters_per_epoch=3, input_size=1)  # raw audio in (the recipe passes --input_size)
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_whisper, synthetic_st, whisper_token_list):
    work = tmp_path_factory.mktemp("st_train")
    dirs = {}
    for split in ("train", "dev"):
        d = dirs[split] = work / f"{split}_st_de-en"
        shutil.copytree(synthetic_st / d.name, d)
        prepare_text(d)  # recipe stage 4: prompt = "<|de|> <|translate|>"
    tokens = whisper_token_list
    config = work / "train.yaml"
    config.write_text(yaml.safe_dump(st_config(tiny_whisper)))
    common = ["--config", str(config), "--token_list", str(tokens), "--use_preprocessor", "true", "--ngpu", "0"]
    for kind, d in (("train", dirs["train"]), ("valid", dirs["dev"])):
        common += [f"--{kind}_data_path_and_name_and_type", f"{d}/wav.scp,speech,sound",
                   f"--{kind}_data_path_and_name_and_type", f"{d}/text,text,text",
                   f"--{kind}_data_path_and_name_and_type", f"{d}/prompt,prompt,text"]
    # shape files (what collect_stats would write: samples per utterance; tests/foundation runs it)
    import soundfile as sf
    for split in ("train", "dev"):
        (work / f"{split}_shape").write_text("".join(
            f"{u} {sf.info(p).frames}\n" for u, p in sorted(read_table(dirs[split] / "wav.scp").items())))
    exp = work / "exp"
    seen = work / "decoder_inputs.json"
    proc = run(["-c", TRAIN, str(seen), *common, "--output_dir", str(exp),
                "--train_shape_file", str(work / "train_shape"), "--valid_shape_file", str(work / "dev_shape")], work)
    return {"exp": exp, "log": proc.stderr, "seen": json.loads(seen.read_text()), "train": dirs["train"]}


def test_decoder_prefix_is_the_translate_prompt(trained):
    import whisper.tokenizer as wt

    batches = trained["seen"]
    assert len(batches) == 3  # three training steps, each recorded
    tok = wt.get_tokenizer(multilingual=True)
    english = set(read_table(trained["train"] / "text").values())
    for batch in batches:
        assert len(batch) == 2
        for ids in batch:
            assert ids[:4] == [SOT, DE, TRANSLATE, NOTIMESTAMPS]
            # the rest is the English translation (the target), not the German transcript
            assert tok.decode(ids[4:]).strip() in english


def test_st_training_updates_weights_with_finite_loss(trained, tiny_whisper):
    import torch

    from espnet_cs_ext.whisper import load_checkpoint

    m = re.search(r"1epoch results: \[train\].*? loss=([-0-9.e+a-z]+),.*?total_count=(\d+)", trained["log"])
    assert m, trained["log"][-2000:]
    assert math.isfinite(float(m.group(1))) and int(m.group(2)) == 3
    before = load_checkpoint(tiny_whisper)[1]
    state = torch.load(trained["exp"] / "1epoch.pth", map_location="cpu", weights_only=True)
    for ours, theirs in (("decoder.decoders.token_embedding.weight", "decoder.token_embedding.weight"),
                         ("encoder.encoders.blocks.0.attn.query.weight", "encoder.blocks.0.attn.query.weight")):
        assert torch.isfinite(state[ours]).all()
        assert not torch.equal(state[ours], before[theirs].float())
