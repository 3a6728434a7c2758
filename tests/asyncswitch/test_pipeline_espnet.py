"""AsyncSwitch end to end through the driver: stage A (our loop), B and C (real ESPnet
training on espeak-ng audio, 2 steps each), interpolation (cs-merge) - on a tiny Whisper.

Checks what each stage may change, the printed group summaries, ratio 0/1 of the
interpolation, and that a rerun skips every finished stage.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch

from espnet_cs_ext.asyncswitch.groups import group_of
from espnet_cs_ext.merge.formats import load_state_dict

from pathlib import Path

TEST_CONF = Path(__file__).resolve().parents[2] / "egs2/cs_unseen/asr1/conf/tuning/test/asyncswitch"

ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


def run(args, cwd):
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, f"{args[:3]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def changed_groups(before: dict, after: dict) -> dict:
    """group -> number of tensors whose values differ (canonical names on both sides)."""
    assert set(before) == set(after)
    out = {}
    for k in before:
        if not torch.equal(before[k].float(), after[k].float()):
            out[group_of(k)] = out.get(group_of(k), 0) + 1
    return out


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, tiny_whisper, cs_text, prompted_data_dir, whisper_token_list):
    work = tmp_path_factory.mktemp("asyncswitch")
    tokens = whisper_token_list
    d = prompted_data_dir
    espnet_args = ["--token_list", str(tokens), "--use_preprocessor", "true", "--ngpu", "0", "--input_size", "1",
                   "--encoder_conf", f"whisper_model={tiny_whisper}", "--decoder_conf", f"whisper_model={tiny_whisper}"]
    for kind in ("train", "valid"):
        espnet_args += [f"--{kind}_data_path_and_name_and_type", f"{d}/wav.scp,speech,sound",
                        f"--{kind}_data_path_and_name_and_type", f"{d}/text,text,text",
                        f"--{kind}_data_path_and_name_and_type", f"{d}/prompt,prompt,text"]
    out = work / "exp" / "asr_asyncswitch"
    cmd = ["-m", "espnet_cs_ext.bin.asyncswitch", "run", "--out", str(out), "--conf-dir", str(TEST_CONF),
           "--whisper-model", str(tiny_whisper), "--text", str(cs_text), "--shape-files", f"{d}/text", f"{d}/text",
           "--ratios", "0,1", "--no-progress", "--", *espnet_args]
    first = run(cmd, work)
    second = run(cmd, work)
    return out, first.stderr, second.stderr


def test_stage_a_trains_only_the_decoder_lm(pipeline, tiny_whisper):
    out, _, _ = pipeline
    base = load_state_dict(tiny_whisper)
    a = load_state_dict(out / "stage_a" / "model.pt")
    assert changed_groups(base, a) == {"self_attn": 18, "ffn": 12, "output": 1, "final_ln": 2}
    # the ESPnet file for --init_param holds the same weights under ESPnet names
    a_espnet = torch.load(out / "stage_a" / "espnet_init.pth", weights_only=True)
    assert "decoder.decoders.blocks.0.attn.query.weight" in a_espnet
    assert torch.equal(a_espnet["decoder.decoders.token_embedding.weight"], a["decoder.token_embedding.weight"])


def test_stage_b_changes_only_cross_attention(pipeline):
    out, _, _ = pipeline
    a = load_state_dict(out / "stage_a" / "espnet_init.pth")
    b = load_state_dict(out / "stage_b" / "latest.pth")
    changed = changed_groups(a, b)
    assert set(changed) == {"cross_attn"}, changed
    assert changed["cross_attn"] >= 12  # query/out weights of both layers at least


def test_stage_c_changes_encoder_and_decoder(pipeline):
    out, _, _ = pipeline
    b = load_state_dict(out / "stage_b" / "latest.pth")
    c = load_state_dict(out / "stage_c" / "latest.pth")
    changed = changed_groups(b, c)
    assert {"encoder", "self_attn", "cross_attn", "ffn", "output"} <= set(changed), changed
    assert changed["encoder"] >= 30


def test_interpolation_ratio_0_is_original_and_1_is_finetuned(pipeline, tiny_whisper):
    out, _, _ = pipeline
    base = load_state_dict(tiny_whisper)
    c = load_state_dict(out / "stage_c" / "latest.pth")
    r0 = load_state_dict(out / "interp_0" / "model.pt")
    r1 = load_state_dict(out / "interp_1" / "model.pt")
    r04 = load_state_dict(out / "interp_0.4" / "model.pt")
    assert set(r0) == set(base) == set(r1)
    assert all(torch.equal(r0[k], base[k]) for k in base)
    assert all(torch.equal(r1[k], c[k]) for k in c)
    k = "encoder.blocks.0.attn.query.weight"
    torch.testing.assert_close(r04[k], base[k] + 0.4 * (c[k] - base[k]), rtol=0, atol=1e-6)
    assert not torch.equal(r04[k], base[k])
    # the final model: ratio 0.4 in both formats
    final = load_state_dict(out / "model.pt")
    final_espnet = torch.load(out / "latest.pth", weights_only=True)
    assert all(torch.equal(final[k], r04[k]) for k in r04)
    assert torch.equal(final_espnet["encoder.encoders.blocks.0.attn.query.weight"], r04[k])
    assert "0.4 * (fine-tuned - original)" in (out / "interp_0.4" / "interpolate.yaml").read_text()


def test_summaries_are_printed_per_stage(pipeline):
    _, log, _ = pipeline
    for stage, row in (("A", "  cross_attn          18       33,408  no "),
                       ("B", "  cross_attn          18       33,408  yes"),
                       ("C", "  encoder             36      127,744  yes")):
        i = log.index(f"AsyncSwitch stage {stage}: trainable parameter groups")
        assert row in log[i:i + 1500], (stage, log[i:i + 1500])
    # stage B trains only cross-attention: every tensor it changed is one of cross_attn's 18
    m = re.search(r"stage B: (\d+) tensors changed: cross_attn (\d+)$", log, re.M)
    assert m and m.group(1) == m.group(2) and 0 < int(m.group(1)) <= 18, log[-3000:]


def test_rerun_skips_finished_stages(pipeline):
    _, _, again = pipeline
    for s in ("A", "B", "C"):
        assert f"AsyncSwitch {s}: up to date" in again, again
    assert "ratio 0 up to date" in again and "ratio 1 up to date" in again
    assert "final model up to date" in again
