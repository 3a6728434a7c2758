"""Child of bench_decode.py, run with bench/.faster-whisper-venv's python (faster-whisper 1.2.1).

    python faster_whisper_child.py MODEL_DIR WAV_SCP COMPUTE_TYPE THREADS

Transcribes each clip one by one as a user would (`WhisperModel.transcribe`, greedy,
temperature 0, language en, no VAD) and prints one JSON line: {"decode_s", "hyps"}.
MODEL_DIR is a CTranslate2 Whisper directory (bench_decode.py passes our conversion of base).
"""
import json
import sys
import time

from faster_whisper import WhisperModel


def main() -> None:
    model_dir, wav_scp, compute_type, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    wavs = dict(line.split(maxsplit=1) for line in open(wav_scp, encoding="utf-8").read().splitlines() if line)
    model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads)
    t0 = time.perf_counter()
    hyps = {}
    for utt in sorted(wavs):
        segments, _ = model.transcribe(wavs[utt].strip(), language="en", beam_size=1, temperature=0.0,
                                       condition_on_previous_text=False, vad_filter=False)
        hyps[utt] = " ".join(s.text.strip() for s in segments)
    print(json.dumps({"decode_s": time.perf_counter() - t0, "hyps": hyps}))


if __name__ == "__main__":
    main()
