"""`backend: ct2`: decode with CTranslate2's Whisper on our own conversion of the model.

Same contract as the torch `Decoder` (runner.py): `decode_mels(mels, utts, languages)`
-> (language, text, tokens) per utterance, so sharding, resume and the job table are
the runner's, unchanged. What maps onto CTranslate2 and what is done around it:

- prompt, language and task: the same token ids (`Decoder.prompt_ids`); language None
  is detected with `Whisper.detect_language` (argmax over the language tokens on
  <|startoftranscript|>, as the torch backend does).
- suppression: every control token after <|endoftext|> plus, with
  suppress_non_speech, Whisper's non-speech symbols, passed as `suppress_tokens`;
  suppress_blank is CTranslate2's own (blank and <|endoftext|> barred at the first step).
- max_new_tokens: each hypothesis is cut at max_new_tokens. CTranslate2 4.8.5's Whisper
  generated at most max_length // 2 tokens in our probes (prompt lengths 3 and 4), so
  `max_length` = 2 * (prompt + cap) and the cut makes the limit exact.
- max_tokens_per_second: one `max_length` per call, so the batch runs to its largest
  cap and each hypothesis is cut at its own cap afterwards. For greedy search this is
  the torch result exactly (a prefix of a greedy run is the shorter run); for beam
  search the cut hypothesis may differ from one searched with that cap.
- max_repeat: the same `trim_repetition` post-check.
- length_penalty: null is CTranslate2's length_penalty=1 (sum / length, Whisper's rule);
  the GNMT alpha form has no CTranslate2 equivalent and is refused.
- padding: pad_to_30s batches are exact (every utterance padded with its own silence
  value, as the torch collate does). Unpadded: CTranslate2's Whisper `generate` and
  `detect_language` take one [batch, mels, frames] array and no per-item lengths (no
  encoder mask), so padding a shorter clip would change its encoder output. A batch is
  therefore split into groups of equal frame count and each group is one `generate`
  call: batched == one by one, exactly. Clips of distinct lengths run one at a time
  (what faster-whisper does); CTranslate2's intra-op threads still use every core.
"""
from __future__ import annotations

import logging
import math
from typing import List, Optional, Sequence, Tuple

from ..utils.errors import CsExtError
from .config import DecodeConfig, ct2_compute_type
from .runner import Decoder, resolve_padding

log = logging.getLogger(__name__)


class CT2Decoder(Decoder):
    """A CTranslate2 Whisper plus the prompt, suppression and search settings of one config."""

    def __init__(self, spec: str, config: DecodeConfig, dims_from: Optional[str] = None, device: str = "cpu"):
        import ctranslate2
        import whisper.tokenizer as wt

        from ..whisper.ct2_write import ct2_model_dir

        if config.length_penalty is not None:
            raise CsExtError("decode config: length_penalty alpha is not available with backend ct2 "
                             "(CTranslate2 divides by length ** penalty); use null or backend torch")
        self.config, self.spec = config, str(spec)
        self.model_dir, manifest = ct2_model_dir(self.spec, dims_from)
        dims = manifest["dims"]
        self.pad_to_30s = resolve_padding(config, self.spec)
        self.multilingual = dims["n_vocab"] >= 51865
        self.tokenizer = tok = wt.get_tokenizer(multilingual=self.multilingual)
        suppress = set(range(tok.eot + 1, dims["n_vocab"]))
        if config.suppress_non_speech:
            suppress.update(tok.non_speech_tokens)
        self.suppress = sorted(suppress)
        self.language_tokens = dict(zip(tok.all_language_codes, tok.all_language_tokens)) if self.multilingual else {}
        self.token_language = {v: k for k, v in self.language_tokens.items()}
        self.n_text_ctx = dims["n_text_ctx"]
        self._template = self._parse_prompt(config.prompt)
        import torch

        threads = torch.get_num_threads()  # the CLI's --threads share (bin/decode.py) holds for both backends
        try:
            self.ct2 = ctranslate2.models.Whisper(str(self.model_dir), device=device,
                                                  compute_type=ct2_compute_type(config.compute_type, device),
                                                  intra_threads=threads)
        except (RuntimeError, ValueError) as e:
            raise CsExtError(f"{self.model_dir / 'model.bin'}: CTranslate2 cannot load it "
                             f"({str(e).splitlines()[0][:200]}); remove {self.model_dir} to convert again")

    def _features(self, mels: Sequence["torch.Tensor"], utts: Sequence[str]):
        import ctranslate2
        import torch

        from .features import N_FRAMES_30S, collate

        if self.pad_to_30s:
            batch, _ = collate(mels, utts, True)
        else:  # equal lengths only (decode_mels groups them): no padding, no mask needed
            batch = torch.stack([m[:, :N_FRAMES_30S] for m in mels])
        return ctranslate2.StorageView.from_array(batch.float().contiguous().numpy())

    def decode_mels(self, mels: Sequence["torch.Tensor"], utts: Sequence[str],
                    languages: Sequence[Optional[str]]) -> List[Tuple[str, str, List[int]]]:
        from .features import N_FRAMES_30S

        if self.pad_to_30s:
            return self._decode_batch(mels, utts, languages)
        groups: dict = {}  # frame count -> indices, in batch order
        for i, m in enumerate(mels):
            groups.setdefault(min(m.shape[1], N_FRAMES_30S), []).append(i)
        out: List[Optional[Tuple[str, str, List[int]]]] = [None] * len(mels)
        for idx in groups.values():
            for i, r in zip(idx, self._decode_batch([mels[i] for i in idx], [utts[i] for i in idx],
                                                    [languages[i] for i in idx])):
                out[i] = r
        return out  # type: ignore[return-value]

    def _decode_batch(self, mels: Sequence["torch.Tensor"], utts: Sequence[str],
                      languages: Sequence[Optional[str]]) -> List[Tuple[str, str, List[int]]]:
        from .search import trim_repetition

        cfg = self.config
        features = self._features(mels, utts)
        langs = list(languages)
        if self.multilingual and any(lang is None for lang in langs):
            detected = self.ct2.detect_language(features)
            langs = [lang if lang is not None else d[0][0][2:-2] for lang, d in zip(langs, detected)]
        if not self.multilingual:
            langs = ["en"] * len(langs)
        prompts = [self.prompt_ids(lang) for lang in langs]
        p = len(prompts[0])
        max_new = max(1, min(cfg.max_new_tokens, self.n_text_ctx - p))
        caps = [max_new] * len(mels)
        if cfg.max_tokens_per_second is not None:  # seconds of speech, before any padding
            caps = [min(max_new, max(1, math.ceil(m.shape[1] / 100 * cfg.max_tokens_per_second))) for m in mels]
        results = self.ct2.generate(features, prompts, beam_size=cfg.beam_size, length_penalty=1.0,
                                    max_length=2 * (p + max(caps)), suppress_blank=cfg.suppress_blank,
                                    suppress_tokens=self.suppress, return_scores=False)
        tokens = [list(r.sequences_ids[0])[:cap] for r, cap in zip(results, caps)]
        if cfg.max_repeat is not None:
            tokens = [trim_repetition(t, cfg.max_repeat) for t in tokens]
        return [(lang, " ".join(self.tokenizer.decode(t).split()), t) for lang, t in zip(langs, tokens)]
