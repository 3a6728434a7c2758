"""A tiny random Whisper trained 3 steps through ESPnet (as in tests/foundation/test_espnet_plugin.py),
in its own work dir with its own copy of the Whisper checkpoint (tests hide it to prove the
archive does not need it)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


def train_config(whisper: Path) -> dict:
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
def packed_system(tmp_path_factory, tiny_whisper, english_data_dir):
    """(work dir, exp dir, data dir, whisper copy): exp holds config.yaml, 1epoch.pth, latest.pth."""
    from espnet2.bin.whisper_export_vocabulary import export_vocabulary

    work = tmp_path_factory.mktemp("pack")
    whisper = work / "whisper" / "tiny.pt"
    whisper.parent.mkdir()
    shutil.copy(tiny_whisper, whisper)
    tokens = work / "tokens.txt"
    export_vocabulary(str(tokens), "whisper_multilingual", log_level="WARNING")
    config = work / "train.yaml"
    config.write_text(yaml.safe_dump(train_config(whisper)))
    data, exp = english_data_dir, work / "exp" / "asr_tiny"
    # Unsorted batches read only the keys of the shape files, so wav.scp serves (no stats pass).
    args = ["-m", "espnet_cs_ext.bin.asr_train", "--config", str(config), "--token_list", str(tokens),
            "--use_preprocessor", "true", "--ngpu", "0", "--output_dir", str(exp),
            "--train_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
            "--train_data_path_and_name_and_type", f"{data}/text,text,text",
            "--valid_data_path_and_name_and_type", f"{data}/wav.scp,speech,sound",
            "--valid_data_path_and_name_and_type", f"{data}/text,text,text",
            "--train_shape_file", f"{data}/wav.scp", "--valid_shape_file", f"{data}/wav.scp"]
    proc = subprocess.run([sys.executable, *args], cwd=work, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (exp / "latest.pth").is_file() and (exp / "config.yaml").is_file(), sorted(os.listdir(exp))
    return work, exp, data, whisper
