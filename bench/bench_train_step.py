"""Training step time of Whisper in ESPnet: 30 s padding vs none, raw audio vs log-mel features.

    .venv/bin/python bench/bench_train_step.py [--model base] [--batch 4] [--seconds 4] [--reps 3]

Builds the recipe's model (whisper_cs encoder/decoder) through ESPnet's ASRTask with the
demo config, then times forward + backward + AdamW step on one fixed batch of random
speech-like audio, each variant side by side in one process (median of --reps).
Prints a Markdown table for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


def build(model_spec: str, pad: bool, input_size: int, tokens: Path):
    import espnet_cs_ext.plugin  # noqa: F401
    from espnet2.tasks.asr import ASRTask

    conf = yaml.safe_load((ROOT / "egs2/cs_unseen/asr1/conf/tuning/demo/train_pair.yaml").read_text())
    conf["encoder_conf"].update(whisper_model=model_spec, do_pad_trim=pad)
    conf["decoder_conf"]["whisper_model"] = model_spec
    parser = ASRTask.get_parser()
    args = parser.parse_args(["--token_list", str(tokens), "--input_size", str(input_size)])
    for k, v in conf.items():
        setattr(args, k, v)
    args.input_size = input_size
    return ASRTask.build_model(args)


def step_time(model, speech, lens, text, text_lens, reps: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
    times = []
    for _ in range(reps + 1):  # first is warm-up
        t = time.perf_counter()
        loss, _, _ = model(speech=speech, speech_lengths=lens, text=text, text_lengths=text_lens)
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="base")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import subprocess
    import sys
    import tempfile

    from espnet_cs_ext.recipe.features import whisper_log_mel

    tokens = Path(tempfile.mkdtemp()) / "tokens.txt"
    subprocess.run([sys.executable, "-m", "espnet2.bin.whisper_export_vocabulary", "--whisper_model",
                    "whisper_multilingual", "--output", str(tokens)], check=True)
    rng = np.random.default_rng(0)
    n = int(args.seconds * 16000)
    audio = torch.from_numpy((0.1 * rng.standard_normal((args.batch, n))).astype(np.float32))
    lens = torch.full((args.batch,), n)
    feats = torch.stack([whisper_log_mel(a) for a in audio])
    flens = torch.full((args.batch,), feats.shape[1])
    text = torch.randint(300, 20000, (args.batch, 20))
    text_lens = torch.full((args.batch,), 20)

    rows = []
    for label, pad, inp, x, xl in [
        ("raw audio, no padding", False, 1, audio, lens),
        ("log-mel features, no padding", False, 80, feats, flens),
        ("raw audio, padded to 30 s", True, 1, audio, lens),
    ]:
        model = build(args.model, pad, inp, tokens)
        model.train()
        rows.append((label, step_time(model, x, xl, text, text_lens, args.reps)))
        del model
    base = rows[0][1]
    print(f"\nWhisper {args.model}, batch {args.batch} x {args.seconds:.0f} s, {args.threads} threads, "
          f"median of {args.reps} steps (forward + backward + AdamW)\n")
    print("| input | s/step | vs raw unpadded |\n|---|---:|---:|")
    for label, t in rows:
        print(f"| {label} | {t:.2f} | {t / base:.2f}x |")


if __name__ == "__main__":
    main()
