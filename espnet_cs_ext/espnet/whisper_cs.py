"""ESPnet Whisper encoder/decoder (`whisper_cs`) that accept any resolver spec.

ESPnet's own OpenAIWhisperEncoder/Decoder assert the name is an official one and call
`whisper.load_model`, which downloads and checks the official SHA256, so offline
`base` and local checkpoints are refused (REFERENCE.md section 1). These subclasses
run ESPnet's constructors unchanged while `whisper.load_model` is routed through
`espnet_cs_ext.whisper.load_whisper`, so everything else (SpecAug, do_pad_trim,
dropout, vocabulary expansion, beam-search scoring) is ESPnet's behaviour.

The encoder additionally accepts precomputed Whisper log-mel features (B, T, n_mels)
as its input (recipe stage 3 dumps them with kaldiio); raw waveforms (B, S) are
handled exactly as in ESPnet.
"""
from __future__ import annotations

import contextlib
from typing import Optional, Tuple, Union

import torch
from espnet2.asr.decoder.whisper_decoder import OpenAIWhisperDecoder
from espnet2.asr.encoder.whisper_encoder import OpenAIWhisperEncoder


@contextlib.contextmanager
def whisper_loads_through_resolver(spec: str):
    """Within the block, `whisper.load_model(spec)` uses the plugin's resolver."""
    import whisper

    from ..whisper import load_whisper

    orig_available, orig_load = whisper.available_models, whisper.load_model

    def load_model(name, device=None, download_root=None, in_memory=False):
        return load_whisper(name, device=device or "cpu", download_root=download_root)

    whisper.available_models = lambda: list(orig_available()) + [spec]
    whisper.load_model = load_model
    try:
        yield
    finally:
        whisper.available_models, whisper.load_model = orig_available, orig_load


class WhisperCSEncoder(OpenAIWhisperEncoder):
    """OpenAIWhisperEncoder for any model spec; also takes log-mel features as input."""

    def __init__(
        self,
        input_size: int = 1,
        dropout_rate: float = 0.0,
        whisper_model: str = "base",
        download_dir: Optional[str] = None,
        use_specaug: bool = False,
        specaug_conf: Union[dict, None] = None,
        do_pad_trim: bool = False,
    ):
        with whisper_loads_through_resolver(whisper_model):
            super().__init__(
                input_size=input_size,
                dropout_rate=dropout_rate,
                whisper_model=whisper_model,
                download_dir=download_dir,
                use_specaug=use_specaug,
                specaug_conf=specaug_conf,
                do_pad_trim=do_pad_trim,
            )
        self.n_mels = self.encoders.conv1.in_channels
        self.whisper_model = whisper_model

    def forward(
        self,
        xs_pad: torch.Tensor,
        ilens: torch.Tensor,
        prev_states: torch.Tensor = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        if xs_pad.dim() == 2:  # raw waveform: ESPnet's own path
            return super().forward(xs_pad, ilens, prev_states)
        if xs_pad.size(-1) != self.n_mels:
            raise ValueError(f"whisper_cs encoder got features of size {xs_pad.size(-1)}, "
                             f"expected {self.n_mels} log-mel bins (or a 1-D waveform)")
        feats = xs_pad.transpose(1, 2)  # (B, n_mels, T)
        feats_lens = ilens
        if self.do_pad_trim:
            frames = self.pad_samples // self.hop_length
            feats = self.pad_or_trim(feats, frames)
        if self.specaug is not None and self.encoders.training:
            feats = torch.transpose(feats, 1, 2)
            feats, feats_lens = self.specaug(feats, feats_lens)
            feats = torch.transpose(feats, 1, 2)
        xs, olens = self.whisper_encode(feats, feats_lens)
        return xs, olens, None


class WhisperCSDecoder(OpenAIWhisperDecoder):
    """OpenAIWhisperDecoder for any model spec the plugin's resolver accepts."""

    def __init__(
        self,
        vocab_size: int,
        encoder_output_size: int,
        dropout_rate: float = 0.0,
        whisper_model: str = "base",
        download_dir: Optional[str] = None,
        load_origin_token_embedding: bool = False,
    ):
        with whisper_loads_through_resolver(whisper_model):
            super().__init__(
                vocab_size=vocab_size,
                encoder_output_size=encoder_output_size,
                dropout_rate=dropout_rate,
                whisper_model=whisper_model,
                download_dir=download_dir,
                load_origin_token_embedding=load_origin_token_embedding,
            )
