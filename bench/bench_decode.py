"""Decoding throughput: our batched, KV-cached decoder vs one-by-one `whisper.transcribe`.

    .venv/bin/python bench/bench_decode.py [--n 16] [--threads 2] [--batch-size 8] [--beam]

Data: N English sentences (2-9 s) spoken by espeak-ng, resampled to 16 kHz, written
once into bench/.bench-data/decode/ (git-ignored) as a Kaldi data dir. Model: real
Whisper base (offline weights), language en, fp32, CPU, same process and same clips
for every row:

  whisper.transcribe     openai-whisper one clip at a time: fp16=False, temperature=0
                         (no fallback), greedy, its defaults otherwise (timestamps on,
                         mel padded to 30 s)
  ours padded, batch 1   our decoder, 30 s padding (what `pad_to_30s: auto` does for
                         pretrained `base`), one utterance per batch
  ours padded, batch B   the same, B utterances per batch (length-sorted)
  ours unpadded, batch B log-mels of each clip's own length (what fine-tuned models get);
                         pretrained base is not trained for this: it loops to the length
                         cap on some clips (slow), the WER column shows why `auto` pads
                         pretrained models
  ... max 30 tokens/s    the same with `max_tokens_per_second: 30`, which cuts such loops
  ours padded beam 5     (--beam) beam search, 5 beams per utterance, batch B
  ours ct2 int8 / fp32   `backend: ct2` (CTranslate2 on our own conversion of the same
                         weights, compute_type int8 or float32), same batches and rules;
                         the one-off conversion is done before the clock starts

With --processes, a second table: each decoder as a user runs it, one fresh process
each (whole-process wall and peak RSS from wait4, so model load and imports count):
our CLI `python -m espnet_cs_ext.bin.decode` with backend torch, ct2 int8 and ct2 fp32
(batch B, 30 s padding as `auto` does for base), and faster-whisper 1.2.1 int8 / fp32
(`WhisperModel.transcribe` one clip at a time, greedy, on our CTranslate2 conversion of
the same base weights; its own venv bench/.faster-whisper-venv, created on first use),
in interleaved order.

Wall time (time.perf_counter) of decoding only: the model is loaded and the audio read
before the clock starts (whisper.transcribe computes its log-mel inside the clock; ours
does too, inside `decode_mels`). WER: lower-cased words without punctuation, jiwer.
The machine is shared (2 cores): absolute times drift with load, the rows run back to
back. Results: a Markdown table on stdout and docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SENTENCES = [
    "hello world this is a test",
    "the weather is nice today",
    "please send me the report before the meeting starts",
    "good morning everyone",
    "the quick brown fox jumps over the lazy dog",
    "we will meet at the train station at seven o'clock",
    "can you tell me where the nearest pharmacy is",
    "the results of the experiment were better than expected",
    "thank you very much for your help yesterday",
    "my favourite season is autumn because of the colours",
    "the children are playing football in the park",
    "i would like a cup of coffee with milk please",
    "the company announced a new product last week and the shares went up",
    "turn left at the next corner and walk straight ahead",
    "she reads a book every night before going to sleep",
    "the museum is closed on mondays but open on every other day of the week",
    "our flight was delayed by two hours because of the storm",
    "music helps me concentrate when i study",
    "please remember to lock the door when you leave",
    "the library has thousands of books in many languages",
]


def make_data(n: int) -> Path:
    import numpy as np
    import soundfile as sf
    import soxr

    d = ROOT / "bench" / ".bench-data" / "decode" / f"en{n}"
    if (d / "wav.scp").is_file():
        return d
    if shutil.which("espeak-ng") is None:
        sys.exit("bench_decode: espeak-ng is not installed (apt-get install espeak-ng)")
    (d / "wav").mkdir(parents=True, exist_ok=True)
    scp, text = [], []
    for i in range(n):
        sentence = SENTENCES[i % len(SENTENCES)]
        utt = f"en{i:03d}"
        raw, wav = d / "wav" / f"{utt}.raw.wav", d / "wav" / f"{utt}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(150 + 10 * (i % 4)), "-w", str(raw), sentence],
                       check=True)
        audio, sr = sf.read(raw, dtype="float32")
        raw.unlink()
        sf.write(wav, soxr.resample(audio, sr, 16000).astype(np.float32), 16000, subtype="PCM_16")
        scp.append(f"{utt} {wav}\n")
        text.append(f"{utt} {sentence}\n")
    (d / "text").write_text("".join(text))
    (d / "wav.scp").write_text("".join(scp))
    return d


def words(s: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", s.lower()).split())


def wer(refs, hyps) -> float:
    import jiwer

    return jiwer.wer([words(r) for r in refs], [words(h) or "<empty>" for h in hyps])


FW_VENV = ROOT / "bench" / ".faster-whisper-venv"


def ensure_faster_whisper() -> Path:
    py = FW_VENV / "bin" / "python"
    if not (FW_VENV / "bin" / "pip").exists() or subprocess.run([str(py), "-c", "import faster_whisper"]).returncode:
        subprocess.run([sys.executable, "-m", "venv", str(FW_VENV)], check=True)
        subprocess.run([str(FW_VENV / "bin" / "pip"), "install", "-q", "faster-whisper==1.2.1"], check=True)
    return py


def run_child(cmd, log: Path) -> dict:
    """{wall_s, peak_rss_gib, load1} of one child process (rusage from wait4); raises on failure."""
    load = os.getloadavg()[0]
    rss_file = log.with_suffix(".maxrss")
    t0 = time.perf_counter()
    with open(log, "w") as f:
        # a small wrapper forks the decoder: a child forked from this process would count
        # this process's memory (the loaded base model) in its ru_maxrss
        p = subprocess.run([sys.executable, "-c", RSS_WRAPPER, str(rss_file)] + cmd, stdout=f,
                           stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {p.stderr[-2000:]}")
    return {"wall_s": wall, "peak_rss_gib": int(rss_file.read_text()) / 2**20, "load1": load}


RSS_WRAPPER = """import os, subprocess, sys
r = subprocess.run(sys.argv[2:])
ru = __import__("resource").getrusage(__import__("resource").RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(str(ru.ru_maxrss))
sys.exit(r.returncode)
"""


def process_table(data: Path, utts, refs, args) -> list:
    import json

    import yaml

    from espnet_cs_ext.utils.kaldi import read_table
    from espnet_cs_ext.whisper.ct2_write import ct2_model_dir

    work = ROOT / "bench" / ".bench-data" / "decode" / "runs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model_dir = ct2_model_dir("base")[0]  # converted (and cached) before any clock starts
    fw = ensure_faster_whisper()
    py = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cands = []
    for backend, ct in (("torch", "float32"), ("ct2", "int8"), ("ct2", "float32")):
        conf = work / f"{backend}-{ct}.yaml"
        conf.write_text(yaml.safe_dump({"language": "en", "backend": backend, "compute_type": ct,
                                        "batch_size": args.batch_size}))
        name = f"ours CLI, {backend}" + (f" {ct}" if backend == "ct2" else " fp32") + f", batch {args.batch_size}"
        out = work / conf.stem
        cands.append((name, [py, "-m", "espnet_cs_ext.bin.decode", "--model", "base", "--data", str(data),
                             "--out", str(out), "--config", str(conf), "--threads", str(args.threads),
                             "--no-progress"], work / f"{conf.stem}.log", lambda out=out: (read_table(out / "text"), None)))
    for ct in ("int8", "float32"):
        log = work / f"fw-{ct}.json"
        cands.append((f"faster-whisper 1.2.1 {ct}, one by one",
                      [str(fw), str(ROOT / "bench" / "faster_whisper_child.py"), str(model_dir),
                       str(data / "wav.scp"), ct, str(args.threads)], log,
                      lambda log=log: (lambda r: (r["hyps"], r["decode_s"]))(json.loads(log.read_text()))))
    order = [cands[i] for i in (3, 0, 1, 4, 2)]  # interleave the engines
    rows = []
    for name, cmd, log, read in order:
        r = run_child(cmd, log)
        hyps, decode_s = read()
        r.update(name=name, decode_s=decode_s, wer=wer([refs[u] for u in utts], [hyps[u] for u in utts]))
        print(f"{name}: {r}", file=sys.stderr, flush=True)
        rows.append(r)
    out = ["", "Whole process, one fresh process per decoder (`--processes`), same clips, run in this order:", "",
           "| decoder | whole-process wall s | decode-only s | peak RSS GiB | WER | load avg |",
           "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        dec = "-" if r["decode_s"] is None else f"{r['decode_s']:.1f}"
        out.append(f"| {r['name']} | {r['wall_s']:.1f} | {dec} | {r['peak_rss_gib']:.2f} | {r['wer']:.3f} | {r['load1']:.1f} |")
    return out + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--beam", action="store_true", help="add a beam-5 row (ours)")
    ap.add_argument("--processes", action="store_true",
                    help="add the whole-process table (our CLI per backend, faster-whisper int8/fp32)")
    ap.add_argument("--engines-only", action="store_true",
                    help="skip ours' padding/batch-size variants: transcribe, ours torch, ours ct2 rows only")
    ap.add_argument("--only-processes", action="store_true", help="only the whole-process table")
    ap.add_argument("--out", default=None,
                    help="also write the Markdown section here (paste it into docs/benchmarks.md)")
    args = ap.parse_args()

    import torch
    import whisper

    from espnet_cs_ext.decode import Decoder, config_from_dict, load_decode_model
    from espnet_cs_ext.decode.ct2_backend import CT2Decoder
    from espnet_cs_ext.utils.kaldi import read_table
    from espnet_cs_ext.whisper.audio import load_audio_16k

    torch.set_num_threads(args.threads)
    data = make_data(args.n)
    refs = read_table(data / "text")
    wavs = read_table(data / "wav.scp")
    utts = sorted(refs)
    audio = {u: load_audio_16k(wavs[u]) for u in utts}
    seconds = sum(len(a) for a in audio.values()) / 16000
    loaded = load_decode_model("base")
    model = loaded.model

    def ours(pad: bool, batch: int, beam: int = 1, rate=None):
        from whisper.audio import log_mel_spectrogram

        dec = Decoder(loaded, config_from_dict({"language": "en", "pad_to_30s": pad, "beam_size": beam,
                                                "max_tokens_per_second": rate}))
        order = sorted(utts, key=lambda u: -len(audio[u]))
        out = {}
        for i in range(0, len(order), batch):
            chunk = order[i:i + batch]
            mels = [log_mel_spectrogram(torch.from_numpy(audio[u])) for u in chunk]
            for u, (_, text, _) in zip(chunk, dec.decode_mels(mels, chunk, ["en"] * len(chunk))):
                out[u] = text
        return out

    def ct2(compute_type: str, pad: bool, batch: int, rate=None):
        from whisper.audio import log_mel_spectrogram

        dec = ct2_decoders.setdefault((compute_type, pad, rate), CT2Decoder("base", config_from_dict(
            {"language": "en", "pad_to_30s": pad, "max_tokens_per_second": rate, "backend": "ct2",
             "compute_type": compute_type})))
        order = sorted(utts, key=lambda u: -len(audio[u]))
        out = {}
        for i in range(0, len(order), batch):
            chunk = order[i:i + batch]
            mels = [log_mel_spectrogram(torch.from_numpy(audio[u])) for u in chunk]
            for u, (_, text, _) in zip(chunk, dec.decode_mels(mels, chunk, ["en"] * len(chunk))):
                out[u] = text
        return out

    ct2_decoders: dict = {}

    def transcribe():
        return {u: whisper.transcribe(model, audio[u], language="en", fp16=False, temperature=0.0)["text"].strip()
                for u in utts}

    rows = [("whisper.transcribe, one by one", transcribe),
            ("ours, padded 30 s, batch 1", lambda: ours(True, 1)),
            (f"ours, padded 30 s, batch {args.batch_size}", lambda: ours(True, args.batch_size)),
            (f"ours, unpadded, batch {args.batch_size}", lambda: ours(False, args.batch_size)),
            (f"ours, unpadded, batch {args.batch_size}, max 30 tokens/s", lambda: ours(False, args.batch_size, 1, 30)),
            (f"ours, padded 30 s, batch {args.batch_size}, max 30 tokens/s", lambda: ours(True, args.batch_size, 1, 30))]
    b = args.batch_size
    rows += [(f"ours ct2 int8, padded 30 s, batch {b}", lambda: ct2("int8", True, b)),
             (f"ours ct2 fp32, padded 30 s, batch {b}", lambda: ct2("float32", True, b)),
             (f"ours ct2 int8, unpadded, batch {b}, max 30 tokens/s", lambda: ct2("int8", False, b, 30)),
             (f"ours ct2 fp32, unpadded, batch {b}, max 30 tokens/s", lambda: ct2("float32", False, b, 30))]
    if args.beam:
        rows.append((f"ours, padded 30 s, batch {args.batch_size}, beam 5", lambda: ours(True, args.batch_size, 5)))
    if args.only_processes:
        rows = []
    if args.engines_only:  # the rows that compare engines: transcribe, ours torch, ours ct2
        rows = [r for r in rows if not r[0].startswith(("ours, padded 30 s, batch 1",
                                                        f"ours, unpadded, batch {b}", f"ours, padded 30 s, batch {b}, max"))
                or "max 30 tokens/s" in r[0] and "unpadded" in r[0]]
    ours(True, 2)  # warm-up (first-call allocations, tokenizer)
    for ct in ("int8", "float32"):  # conversion (cached) and model load outside the clock
        for pad, rate in ((True, None), (False, 30)):
            ct2_decoders[(ct, pad, rate)] = CT2Decoder("base", config_from_dict(
                {"language": "en", "pad_to_30s": pad, "max_tokens_per_second": rate, "backend": "ct2",
                 "compute_type": ct}))
    results = []
    for name, fn in rows:
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        hyp = fn()
        wall = time.perf_counter() - t0
        results.append((name, wall, wer([refs[u] for u in utts], [hyp[u] for u in utts]), load0))
        print(f"{name}: {wall:.1f} s", file=sys.stderr, flush=True)
    base_wall = results[0][1] if results else float("nan")
    lines = [
        "## Decoding throughput (bench/bench_decode.py)",
        "",
        f"Command: `.venv/bin/python bench/bench_decode.py --n {args.n} --threads {args.threads} "
        f"--batch-size {args.batch_size}{' --beam' if args.beam else ''}"
        f"{' --engines-only' if args.engines_only else ''}{' --processes' if args.processes else ''}`",
        "",
        f"{args.n} espeak-ng English clips, {seconds:.1f} s of audio in total; real Whisper base (offline "
        f"weights), fp32, language en, CPU ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {args.threads} threads), torch {torch.__version__}, "
        f"openai-whisper {whisper.__version__}. Greedy unless stated. The machine is shared: "
        "the load average at the start of each row is given.",
        "",
        "| decoder | wall s | audio s / wall s | speed-up vs transcribe | WER | load avg |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, wall, w, load in results:
        lines.append(f"| {name} | {wall:.1f} | {seconds / wall:.1f} | {base_wall / wall:.1f}x | {w:.3f} | {load:.1f} |")
    lines += [
        "",
        "Unpadded input is what fine-tuned models are trained and decoded with; pretrained base",
        "was trained on 30 s windows and degrades without them (WER column), which is why",
        "`pad_to_30s: auto` pads official/CTranslate2 specs and nothing else.",
        "",
    ]
    if args.processes or args.only_processes:
        lines += process_table(data, utts, refs, args)
    md = "\n".join(lines)
    print(md)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(md)


if __name__ == "__main__":
    main()
