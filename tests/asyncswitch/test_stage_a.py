"""Stage A on a tiny random Whisper: what it changes, resume after stop/kill, zero memory."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from espnet_cs_ext.asyncswitch.config import config_from_dict, load_config
from espnet_cs_ext.asyncswitch.groups import group_of
from espnet_cs_ext.asyncswitch.stage_a import collate, decoder_loss, run_stage_a
from espnet_cs_ext.merge.formats import load_state_dict
from espnet_cs_ext.utils.errors import CsExtError

TEST_CONF = Path(__file__).resolve().parents[2] / "egs2/cs_unseen/asr1/conf/tuning/test/asyncswitch"
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


def cfg(**over):
    d = {"steps": 4, "batch_size": 2, "lr": 1e-3, "warmup_steps": 1, "checkpoint_every": 2, "log_every": 1,
         "device": "cpu"}
    return config_from_dict({**d, **over})


def quiet(_msg):
    pass


@pytest.fixture(scope="module")
def straight(tmp_path_factory, tiny_whisper, cs_text):
    out = tmp_path_factory.mktemp("a_straight")
    res = run_stage_a(cfg(), str(tiny_whisper), [str(cs_text)], out, progress=False, echo=quiet)
    assert res.finished and res.step == 4
    return out


def test_stage_a_changes_decoder_lm_only(straight, tiny_whisper):
    before, after = load_state_dict(tiny_whisper), load_state_dict(straight / "model.pt")
    for name in before:
        same = torch.equal(before[name], after[name])
        g = group_of(name)
        if g in ("encoder", "cross_attn", "pos_embedding"):
            assert same, f"{name} ({g}) changed in stage A"
    changed = {group_of(n) for n in before if not torch.equal(before[n], after[n])}
    assert changed == {"self_attn", "ffn", "output", "final_ln"}
    assert (straight / "trainable.txt").read_text().startswith("AsyncSwitch stage A: trainable parameter groups")
    espnet = torch.load(straight / "espnet_init.pth", weights_only=True)
    assert torch.equal(espnet["decoder.decoders.blocks.1.mlp.0.weight"], after["decoder.blocks.1.mlp.0.weight"])
    assert not (straight / "checkpoint.pt").exists()  # removed once the outputs exist


def _same_weights(a: Path, b: Path):
    x, y = load_state_dict(a), load_state_dict(b)
    diff = [k for k in x if not torch.equal(x[k], y[k])]
    assert not diff, f"resumed run differs in {diff[:5]}"


def test_stop_and_resume_gives_identical_weights(tmp_path, straight, tiny_whisper, cs_text):
    out = tmp_path / "a"
    r1 = run_stage_a(cfg(), str(tiny_whisper), [str(cs_text)], out, stop_after=1, progress=False, echo=quiet)
    assert not r1.finished and r1.step == 1 and (out / "checkpoint.pt").is_file()
    assert not (out / "model.pt").exists()
    msgs = []
    r2 = run_stage_a(cfg(), str(tiny_whisper), [str(cs_text)], out, progress=False, echo=msgs.append)
    assert r2.finished and r2.step == 4
    assert any("resumed from" in m and "at step 1/4" in m for m in msgs)
    _same_weights(straight / "model.pt", out / "model.pt")
    # a finished dir is skipped on rerun
    msgs.clear()
    run_stage_a(cfg(), str(tiny_whisper), [str(cs_text)], out, progress=False, echo=msgs.append)
    assert any("is complete for these inputs" in m for m in msgs)


def test_resume_refuses_a_checkpoint_of_other_inputs(tmp_path, tiny_whisper, cs_text):
    out = tmp_path / "a"
    run_stage_a(cfg(), str(tiny_whisper), [str(cs_text)], out, stop_after=2, progress=False, echo=quiet)
    with pytest.raises(CsExtError, match="checkpoint.pt was written for other inputs"):
        run_stage_a(cfg(lr=5e-4), str(tiny_whisper), [str(cs_text)], out, progress=False, echo=quiet)


def test_killed_subprocess_resumes_to_identical_weights(tmp_path, tiny_whisper, cs_text):
    """SIGKILL the CLI after its third checkpoint, rerun it: same weights as one straight run."""
    conf = tmp_path / "a.yaml"
    conf.write_text("steps: 8\nbatch_size: 2\nlr: 1.0e-3\nwarmup_steps: 1\ncheckpoint_every: 1\n"
                    "log_every: 1\nencoder_frames: 1\ndevice: cpu\n")
    def cmd(out):
        return [sys.executable, "-m", "espnet_cs_ext.bin.asyncswitch", "stage-a", "--config", str(conf),
                "--init", str(tiny_whisper), "--text", str(cs_text), "--out", str(out), "--no-progress"]

    # the reference runs under the same thread settings (float sums depend on them)
    ref = tmp_path / "ref"
    subprocess.run(cmd(ref), env=ENV, check=True, capture_output=True)
    out = tmp_path / "killed"
    # the CLI SIGKILLs itself right after its third checkpoint (espnet_cs_ext/utils/halt.py)
    killed = subprocess.run(cmd(out), env=dict(ENV, CS_EXT_HALT_AT="3 kill stage-a-checkpoint *"),
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 3
    assert not (out / "model.pt").exists()
    done = subprocess.run(cmd(out), env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in done.stderr and "at step 3/8" in done.stderr, done.stderr[-3000:]
    _same_weights(ref / "model.pt", out / "model.pt")


def test_zero_memory_length_does_not_change_the_loss(tiny_whisper):
    from espnet_cs_ext.asyncswitch.textdata import TextEncoder
    from espnet_cs_ext.whisper import load_whisper

    model = load_whisper(str(tiny_whisper))
    enc = TextEncoder()
    inp, tgt = collate([enc.encode("hello world", "en"), enc.encode("제 동생도 bicycle", "ko")], enc.eot)
    assert (tgt[:, :3] == -100).all() and tgt[0, 3].item() != -100  # prefix is given, not predicted
    with torch.no_grad():
        full = decoder_loss(model, inp, tgt, model.dims.n_audio_ctx, 0.1)
        one = decoder_loss(model, inp, tgt, 1, 0.1)
    torch.testing.assert_close(full, one, rtol=1e-5, atol=1e-5)


def test_config_errors(tmp_path):
    with pytest.raises(CsExtError, match=r"unknown option\(s\) \['step'\]"):
        config_from_dict({"step": 3})
    with pytest.raises(CsExtError, match="warmup_steps must be an integer in \\[0, steps\\]"):
        config_from_dict({"steps": 3, "warmup_steps": 5})
    c = load_config(str(TEST_CONF / "stage_a.yaml"))
    assert (c.steps, c.batch_size, c.encoder_frames) == (4, 2, None)


def test_lr_schedule_warmup_then_cosine():
    from espnet_cs_ext.asyncswitch.config import lr_factor

    got = [round(lr_factor(s, 10, 2, 1.0, 0.0), 4) for s in range(10)]
    assert got[:3] == [0.5, 1.0, 1.0] and got[-1] == pytest.approx(0.0381, abs=1e-4)
    assert all(a >= b for a, b in zip(got[1:], got[2:]))
