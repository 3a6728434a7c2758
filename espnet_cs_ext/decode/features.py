"""Decoder input from a Kaldi data dir: log-mels per utterance, length-sorted batches.

- `DATA/feats.scp` (Whisper log-mels (frames, n_mels) dumped with kaldiio by recipe
  stage 3) is used when present, else log-mels are computed from `DATA/wav.scp` with
  Whisper's own `log_mel_spectrogram` (the arithmetic of ESPnet's Whisper encoder:
  frames = samples // 160). wav.scp values must be file paths (no pipes, no segments).
- Padding to 30 s (`pad_to_30s`) is done on the log-mel, with the value a zero waveform
  would have had: Whisper floors log-mels at (max - 8) before (x + 4) / 4, so silence
  is `max(feature) - 2` after normalisation. Doing it on the log-mel makes the wav and
  feats.scp paths agree. Longer than 30 s is cut to 30 s (warned): the encoder has 1500
  positions.
- Utterances are sorted longest first and cut into batches, so each batch pads little.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..utils.errors import CsExtError
from ..utils.kaldi import read_table

log = logging.getLogger(__name__)

HOP = 160
SAMPLE_RATE = 16000
N_FRAMES_30S = 3000


class Source:
    """Where each utterance's log-mel comes from (feats.scp or wav.scp) and its length."""

    def __init__(self, data_dir: str | os.PathLike, use_feats: bool = True, n_mels: int = 80):
        self.dir = Path(data_dir)
        if not self.dir.is_dir():
            raise CsExtError(f"{self.dir}: no such data directory")
        if (self.dir / "segments").exists():
            raise CsExtError(f"{self.dir}: has a segments file; decoding needs one file per utterance "
                             "(format the data dir first)")
        self.n_mels = n_mels
        self.feats: Optional[Dict[str, str]] = None
        if use_feats and (self.dir / "feats.scp").is_file():
            self.feats = read_table(self.dir / "feats.scp", allow_empty_value=False)
        self.wavs: Dict[str, str] = {}
        if (self.dir / "wav.scp").is_file():
            self.wavs = read_table(self.dir / "wav.scp", allow_empty_value=False)
        elif self.feats is None:
            raise CsExtError(f"{self.dir}: no wav.scp (nor feats.scp)")
        self.utts: List[str] = sorted(self.wavs or self.feats)
        if self.feats is not None:
            missing = [u for u in self.utts if u not in self.feats]
            if missing:
                raise CsExtError(f"{self.dir}/feats.scp: no features for {len(missing)} utterance(s), "
                                 f"e.g. {missing[:3]} (rerun feature extraction or remove feats.scp)")
        self._reader = None

    @property
    def kind(self) -> str:
        return "feats.scp" if self.feats is not None else "wav.scp"

    def check(self, utts: Sequence[str]) -> None:
        """Fail before decoding if an utterance's audio file is missing or a pipe."""
        if self.feats is not None:
            return
        for utt in utts:
            path = self.wavs[utt]
            if path.rstrip().endswith("|"):
                raise CsExtError(f"{self.dir}/wav.scp: utterance '{utt}' is a pipe command; "
                                 "format the data dir to files first")
            if not os.path.isfile(path):
                raise CsExtError(f"{self.dir}/wav.scp: utterance '{utt}': no such audio file {path}")

    def lengths(self, utts: Sequence[str]) -> Dict[str, int]:
        """Length in mel frames per utterance, from utt2num_frames / utt2dur / file headers."""
        for name, scale in (("utt2num_frames", 1.0), ("utt2dur", SAMPLE_RATE / HOP)):
            table = self.dir / name
            if table.is_file():
                values = read_table(table)
                if all(u in values for u in utts):
                    try:
                        return {u: int(float(values[u]) * scale) for u in utts}
                    except ValueError:
                        log.warning("%s: non-numeric values, ignoring it", table)
        if self.feats is not None:
            return {u: int(self.mel(u).shape[1]) for u in utts}
        import soundfile as sf

        out = {}
        for u in utts:
            if not self.wavs[u].rstrip().endswith("|") and not os.path.exists(self.wavs[u]):
                raise CsExtError(f"{self.dir}/wav.scp: utterance '{u}': {self.wavs[u]}: no such file")
            try:
                info = sf.info(self.wavs[u])
            except Exception as e:  # unreadable header: decoding will name the file
                raise CsExtError(f"{self.dir}/wav.scp: utterance '{u}': cannot read {self.wavs[u]} ({e})")
            out[u] = int(info.frames * SAMPLE_RATE / info.samplerate) // HOP
        return out

    def mel(self, utt: str):
        """(n_mels, frames) float32 tensor, unpadded."""
        import torch

        if self.feats is not None:
            import kaldiio

            try:
                mat = kaldiio.load_mat(self.feats[utt])
            except Exception as e:
                raise CsExtError(f"{self.dir}/feats.scp: utterance '{utt}': cannot read {self.feats[utt]} ({e})")
            if mat.ndim != 2 or mat.shape[1] != self.n_mels:
                raise CsExtError(f"{self.dir}/feats.scp: utterance '{utt}' has shape {tuple(mat.shape)}, "
                                 f"expected (frames, {self.n_mels}) Whisper log-mels")
            return torch.from_numpy(mat.astype("float32")).T.contiguous()
        from whisper.audio import log_mel_spectrogram

        from ..whisper.audio import load_audio_16k

        try:
            audio = load_audio_16k(self.wavs[utt])
        except CsExtError as e:
            raise CsExtError(f"utterance '{utt}': {e}")
        if audio.shape[0] < HOP:
            raise CsExtError(f"utterance '{utt}': {self.wavs[utt]} is shorter than 10 ms")
        return log_mel_spectrogram(torch.from_numpy(audio), n_mels=self.n_mels)


def length_batches(lengths: Dict[str, int], batch_size: int) -> List[List[str]]:
    """Utterances longest first (ties by id), cut into batches of `batch_size`."""
    order = sorted(lengths, key=lambda u: (-lengths[u], u))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(mels: Sequence["torch.Tensor"], utts: Sequence[str], pad_to_30s: bool) -> Tuple["torch.Tensor", "torch.Tensor"]:
    """List of (n_mels, T_i) -> (B, n_mels, T) batch and lengths (B,).

    Unpadded: zero-padded to the longest (masked by the search). Padded: every
    utterance filled to 3000 frames with its own silence value, lengths all 3000.
    """
    import torch

    mels = list(mels)
    for i, m in enumerate(mels):
        if m.shape[1] > N_FRAMES_30S:
            log.warning("utterance '%s' is %.1f s long: decoding its first 30 s only", utts[i], m.shape[1] / 100)
            mels[i] = m[:, :N_FRAMES_30S]
    if pad_to_30s:
        batch = torch.stack([torch.cat([m, m.new_full((m.shape[0], N_FRAMES_30S - m.shape[1]), float(m.max()) - 2.0)],
                                       dim=1) for m in mels])
        return batch, torch.full((len(mels),), N_FRAMES_30S, dtype=torch.long)
    t = max(m.shape[1] for m in mels)
    batch = mels[0].new_zeros((len(mels), mels[0].shape[0], t))
    for i, m in enumerate(mels):
        batch[i, :, :m.shape[1]] = m
    return batch, torch.tensor([m.shape[1] for m in mels], dtype=torch.long)
