"""Step time of each DG algorithm vs ERM on the same batch (issue 7).

    .venv/bin/python bench/bench_dg.py [--model base] [--per_domain 2] [--seconds 3] [--reps 2]

Builds the recipe's ESPnet model (whisper_cs encoder/decoder, conf/tuning/demo/train_all.yaml)
once, then for each algorithm restores the same initial weights and times
`update(minibatches_by_domain)` on one fixed set of 3 domain minibatches
(`per_domain` utterances of random speech-like audio each, 20 tokens) with AdamW,
median of --reps steps after one warm-up. Everything runs in one process, back to
back, so the ratios are comparable; absolute times depend on the machine's load.
Cosine logging is off (log_cos_every 0) so only the algorithm is measured; GGA is
timed inside its search window (outside it is ERM). Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ("de-en", "ja-en", "ko-en")


def build(model_spec: str, tokens: Path):
    import espnet_cs_ext.plugin  # noqa: F401
    from espnet2.tasks.asr import ASRTask

    conf = yaml.safe_load((ROOT / "egs2/cs_unseen/asr1/conf/tuning/demo/train_all.yaml").read_text())
    conf["encoder_conf"]["whisper_model"] = conf["decoder_conf"]["whisper_model"] = model_spec
    args = ASRTask.get_parser().parse_args(["--token_list", str(tokens), "--input_size", "1"])
    for k, v in conf.items():
        setattr(args, k, v)
    args.input_size = 1
    return ASRTask.build_model(args)


def batches(per_domain: int, seconds: float):
    rng = np.random.default_rng(0)
    n = int(seconds * 16000)
    out = {}
    for d in DOMAINS:
        audio = torch.from_numpy((0.1 * rng.standard_normal((per_domain, n))).astype(np.float32))
        text = torch.from_numpy(rng.integers(300, 20000, (per_domain, 20)))
        out[d] = {"speech": audio, "speech_lengths": torch.full((per_domain,), n),
                  "text": text, "text_lengths": torch.full((per_domain,), 20)}
    return out


CONFS = {
    "erm": {},
    "fish": {},
    "fishr": {"penalty_anneal_iters": 0},
    "gga_l": {},
    "gga": {"anneal_end": 10 ** 9},
    "mldg": {},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="base", help="whisper spec (base, or a tiny .pt path)")
    ap.add_argument("--per_domain", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--algorithms", nargs="*",
                    default=["erm", "fish", "erm", "fishr", "erm", "gga_l", "erm", "gga", "erm", "mldg", "erm"],
                    help="in order; each ratio is against the mean of the ERM rows next to it, "
                         "which absorbs drift in the machine's load")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from espnet_cs_ext.dg import build_algorithm
    from espnet_cs_ext.dg.trainer import espnet_loss

    tokens = Path(tempfile.mkdtemp()) / "tokens.txt"
    subprocess.run([sys.executable, "-m", "espnet2.bin.whisper_export_vocabulary", "--whisper_model",
                    "whisper_multilingual", "--output", str(tokens)], check=True, capture_output=True)
    model = build(args.model, tokens)
    model.train()
    init = {k: v.clone() for k, v in model.state_dict().items()}
    mbs = batches(args.per_domain, args.seconds)
    n_params = sum(p.numel() for p in model.parameters())

    rows = []
    for name in args.algorithms:
        model.load_state_dict(init)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
        algo = build_algorithm(name, model, opt, espnet_loss, {"log_cos_every": 0, **CONFS[name]},
                               grad_clip=1.0)
        wall, cpu = [], []
        for _ in range(args.reps + 1):  # first is warm-up
            t, c = time.perf_counter(), time.process_time()
            algo.update(mbs)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        rows.append((name, statistics.median(cpu[1:]), statistics.median(wall[1:]), algo.hparams))
        print(f"{name}: {rows[-1][1]:.2f} CPU s/step, {rows[-1][2]:.2f} s wall", file=sys.stderr, flush=True)
        del algo, opt
    def erm_near(i):  # mean CPU time of the nearest ERM rows before and after row i
        before = next((rows[j][1] for j in range(i - 1, -1, -1) if rows[j][0] == "erm"), None)
        after = next((rows[j][1] for j in range(i + 1, len(rows)) if rows[j][0] == "erm"), None)
        near = [t for t in (before, after) if t is not None] or [rows[i][1]]
        return sum(near) / len(near)

    print(f"\nWhisper {args.model} ({n_params / 1e6:.1f}M params) in ESPnet, 3 domains x {args.per_domain} "
          f"utterances x {args.seconds:.0f} s, {args.threads} threads, median of {args.reps} steps after a "
          "warm-up (one `update`: forward, backward, AdamW). Ratios use process CPU time, which "
          "other jobs on a shared machine disturb far less than wall time.\n")
    print("| algorithm | CPU s/step | vs ERM (neighbouring ERM rows) | wall s/step | settings |\n|---|---:|---:|---:|---|")
    for i, (name, c, w, hp) in enumerate(rows):
        shown = {k: v for k, v in hp.items() if k != "log_cos_every"}
        ratio = "" if name == "erm" else f"{c / erm_near(i):.2f}x"
        print(f"| {name} | {c:.2f} | {ratio} | {w:.2f} | {shown or ''} |")


if __name__ == "__main__":
    main()
