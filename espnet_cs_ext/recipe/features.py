"""Stage 3: dump Whisper log-mel features with kaldiio, computed as ESPnet's encoder does.

The arithmetic of `OpenAIWhisperEncoder.log_mel_spectrogram` (STFT n_fft 400, hop 160,
Hann window, last frame dropped, mel filters, log10 clamped at 1e-10, floor at max-8,
then (x+4)/4), per utterance, stored as (frames, n_mels) float32 so
ESPnet reads them with `feats.scp,speech,kaldi_ark` and the `whisper_cs` encoder
takes them as precomputed input.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..utils.atomic import atomic_path, sweep_stale_temps
from ..utils.errors import CsExtError
from ..utils.kaldi import read_table, write_table

def whisper_log_mel(audio, n_mels: int = 80):
    """(samples,) float32 tensor -> (frames, n_mels) tensor, frames = samples // 160.

    openai-whisper's `log_mel_spectrogram` does the same arithmetic as ESPnet's
    Whisper encoder, so features dumped here equal what the encoder computes itself.
    """
    from whisper.audio import log_mel_spectrogram

    return log_mel_spectrogram(audio, n_mels=n_mels).T.contiguous()


def dump_features(data_dir: str | os.PathLike, n_mels: int = 80) -> int:
    """Write data_dir/feats.{ark,scp} and utt2num_frames; return the utterance count."""
    import kaldiio
    import torch
    from tqdm import tqdm

    from ..whisper.audio import load_audio_16k

    data_dir = Path(data_dir)
    wavs = read_table(data_dir / "wav.scp")
    if (data_dir / "segments").exists():
        raise CsExtError(f"{data_dir}: segments are not supported by dump_features; "
                         "run `cs-prepare validate --format` first")
    frames = {}
    ark = data_dir / "feats.ark"
    # the ark is renamed first (inner block), so a kill in between never leaves a scp without its ark;
    # such a kill leaves the scp's temp file, which the rerun removes here
    for p in (data_dir / "feats.scp", ark):
        sweep_stale_temps(p)
    with atomic_path(data_dir / "feats.scp") as tmp_scp, atomic_path(ark) as tmp_ark:
        with kaldiio.WriteHelper(f"ark,scp:{tmp_ark},{tmp_scp}") as writer:
            for utt, path in tqdm(wavs.items(), desc=f"feats {data_dir.name}", unit="utt"):
                if path.endswith("|"):
                    raise CsExtError(f"{data_dir}/wav.scp: '{utt}' is a pipe; format the data dir first")
                audio = torch.from_numpy(load_audio_16k(path))
                feats = whisper_log_mel(audio, n_mels).numpy()
                writer(utt, feats)
                frames[utt] = str(feats.shape[0])
        # kaldiio wrote the temporary ark name into the scp: point it at the final name.
        text = Path(tmp_scp).read_text().replace(str(tmp_ark), str(ark.resolve()))
        Path(tmp_scp).write_text(text)
    write_table(data_dir / "utt2num_frames", frames)
    return len(frames)
