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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--beam", action="store_true", help="add a beam-5 row (ours)")
    ap.add_argument("--out", default=None,
                    help="also write the Markdown section here (paste it into docs/benchmarks.md)")
    args = ap.parse_args()

    import torch
    import whisper

    from espnet_cs_ext.decode import Decoder, config_from_dict, load_decode_model
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

    def transcribe():
        return {u: whisper.transcribe(model, audio[u], language="en", fp16=False, temperature=0.0)["text"].strip()
                for u in utts}

    rows = [("whisper.transcribe, one by one", transcribe),
            ("ours, padded 30 s, batch 1", lambda: ours(True, 1)),
            (f"ours, padded 30 s, batch {args.batch_size}", lambda: ours(True, args.batch_size)),
            (f"ours, unpadded, batch {args.batch_size}", lambda: ours(False, args.batch_size)),
            (f"ours, unpadded, batch {args.batch_size}, max 30 tokens/s", lambda: ours(False, args.batch_size, 1, 30)),
            (f"ours, padded 30 s, batch {args.batch_size}, max 30 tokens/s", lambda: ours(True, args.batch_size, 1, 30))]
    if args.beam:
        rows.append((f"ours, padded 30 s, batch {args.batch_size}, beam 5", lambda: ours(True, args.batch_size, 5)))
    ours(True, 2)  # warm-up (first-call allocations, tokenizer)
    results = []
    for name, fn in rows:
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        hyp = fn()
        wall = time.perf_counter() - t0
        results.append((name, wall, wer([refs[u] for u in utts], [hyp[u] for u in utts]), load0))
        print(f"{name}: {wall:.1f} s", file=sys.stderr, flush=True)
    base_wall = results[0][1]
    lines = [
        "## Decoding throughput (bench/bench_decode.py)",
        "",
        f"Command: `.venv/bin/python bench/bench_decode.py --n {args.n} --threads {args.threads} "
        f"--batch-size {args.batch_size}{' --beam' if args.beam else ''}`",
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
    md = "\n".join(lines)
    print(md)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(md)


if __name__ == "__main__":
    main()
