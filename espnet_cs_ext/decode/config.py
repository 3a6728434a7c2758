"""Decode configuration: one YAML -> `DecodeConfig`, validated, saved beside every output.

Keys (defaults in brackets):

    beam_size        [1]        1 = greedy search; N > 1 = beam search with N beams per
                                utterance (beams of all utterances in a batch are flattened)
    language         [none]     language token policy:
                                  <code>    one Whisper code for every utterance (`ko`, `en`)
                                  utt2lang  per utterance from DATA/utt2lang (the matrix
                                            language; Whisper codes)
                                  none      no language given: the model picks it itself
                                            (one decoder step on <|startoftranscript|>,
                                            argmax over the language tokens, as Whisper does)
    task             [transcribe]  transcribe | translate | data. data = per data dir: the
                                word in DATA/task (`translate` for X->en speech translation
                                sets), transcribe when the file is absent; the recipe uses it
                                so one config decodes ASR and ST test sets
    pad_to_30s       [auto]     true | false | auto. auto = true for pretrained Whisper
                                (an official name like `base`, or a CTranslate2 conversion),
                                false for every other checkpoint (fine-tuned, merged)
    batch_size       [8]        utterances per batch (the CLI's --batch-size overrides it)
    max_new_tokens   [224]      tokens generated per utterance at most (Whisper's own
                                default, n_text_ctx // 2); always capped so that
                                prompt + tokens <= the decoder's positions (448)
    max_tokens_per_second [null]  also cap each utterance at ceil(seconds * this) tokens
                                (null = off). Stops hallucination loops early (a 3 s clip
                                looping to 224 tokens costs 20x its real length); Whisper
                                text runs at most ~10-15 tokens/s even for Korean/Japanese,
                                so 30 is safe
    max_repeat       [null]     trim a hallucination loop: when the output ends with the
                                same 1-8 token n-gram repeated >= this many times, keep one
                                copy (null = off). Whisper's transcribe retries such outputs
                                (compression-ratio check); a single pass can only trim them
    length_penalty   [null]     beam ranking: null = sum of log-probs / length (Whisper's
                                default); a float alpha = sum / ((5 + length) / 6) ** alpha
    suppress_blank   [true]     forbid a blank or <|endoftext|> as the first token
    suppress_non_speech [true]  forbid Whisper's non-speech symbols (its suppress_tokens=-1)
    use_feats        [true]     read DATA/feats.scp (Whisper log-mels from recipe stage 3)
                                when it exists, else compute log-mels from wav.scp
    prompt           ["<|startoftranscript|> {lang} {task} <|notimestamps|>"]
                                the decoder prefix (special tokens separated by spaces);
                                {lang} and {task} are filled in per utterance. It must
                                match the prefix the model was fine-tuned with. It is
                                ESPnet's default, and also what this recipe trains with
                                (`use_lang_prompt: true`, prompt file "<|ko|> <|transcribe|>").
                                Without use_lang_prompt, ESPnet 202511 puts a one-token
                                prompt in place of the *task* token: decode such models
                                with "<|startoftranscript|> <|en|> {lang} <|notimestamps|>"
                                (en = the training whisper_language).
    dtype            [float32]  float32 | bfloat16 | float16: the weights and activations
                                of the search (log-probabilities are always float32).
                                bfloat16 halves memory and is what GPUs run fast; on this
                                CPU it is slower than float32 (docs/benchmarks.md)
    backend          [torch]    torch | ct2. ct2 = CTranslate2 on our own conversion of the
                                model (espnet_cs_ext/whisper/ct2_write.py, cached by the
                                checkpoint's sha256); same prompts and limits, see
                                espnet_cs_ext/decode/ct2_backend.py for the differences
    compute_type     [auto]     ct2 only: int8 | int8_float16 | float16 | float32 | auto
                                (auto: int8 on a CPU, float16 on cuda, which is what the
                                recipe's --gpu_inference true then decodes with)

ESPnet decode keys that have no meaning here (ctc_weight, lm_weight, penalty,
maxlenratio, minlenratio, nbest, ...) are accepted and ignored with a warning, so an
ESPnet `decode_*.yaml` with `beam_size` works; any other unknown key is an error.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Dict, Optional, Union

from ..utils.errors import CsExtError

log = logging.getLogger(__name__)

DEFAULT_PROMPT = "<|startoftranscript|> {lang} {task} <|notimestamps|>"
LANGUAGE_POLICIES = ("utt2lang", "none")
DTYPES = ("float32", "bfloat16", "float16")
BACKENDS = ("torch", "ct2")
COMPUTE_TYPES = ("int8", "int8_float16", "float16", "float32", "auto")
TASKS = ("transcribe", "translate", "data")  # data: the data dir's `task` file (default transcribe)
ESPNET_IGNORED = ("ctc_weight", "lm_weight", "ngram_weight", "penalty", "maxlenratio", "minlenratio",
                  "nbest", "batch_size_espnet", "streaming", "quantize_asr_model", "normalize_length")


@dataclasses.dataclass
class DecodeConfig:
    beam_size: int = 1
    language: str = "none"
    task: str = "transcribe"
    pad_to_30s: Union[bool, str] = "auto"
    batch_size: int = 8
    max_new_tokens: int = 224
    max_tokens_per_second: Optional[float] = None
    max_repeat: Optional[int] = None
    length_penalty: Optional[float] = None
    suppress_blank: bool = True
    suppress_non_speech: bool = True
    use_feats: bool = True
    prompt: str = DEFAULT_PROMPT
    dtype: str = "float32"
    backend: str = "torch"
    compute_type: str = "auto"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for key in ("beam_size", "batch_size", "max_new_tokens"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise CsExtError(f"decode config: {key} must be an integer >= 1, got {v!r}")
        if self.task not in TASKS:
            raise CsExtError(f"decode config: task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if isinstance(self.pad_to_30s, str):
            low = self.pad_to_30s.lower()
            if low not in ("auto", "true", "false"):
                raise CsExtError(f"decode config: pad_to_30s must be true, false or auto, got {self.pad_to_30s!r}")
            self.pad_to_30s = "auto" if low == "auto" else low == "true"
        self.language = str(self.language).strip()
        if self.language not in LANGUAGE_POLICIES:
            from whisper.tokenizer import LANGUAGES

            if self.language not in LANGUAGES:
                raise CsExtError(f"decode config: language {self.language!r} is neither a policy "
                                 f"({', '.join(LANGUAGE_POLICIES)}) nor a Whisper language code (ko, en, ...)")
        if self.max_tokens_per_second is not None:
            if isinstance(self.max_tokens_per_second, bool) or not isinstance(self.max_tokens_per_second, (int, float)) \
                    or self.max_tokens_per_second <= 0:
                raise CsExtError(f"decode config: max_tokens_per_second must be a number > 0 or null, "
                                 f"got {self.max_tokens_per_second!r}")
            self.max_tokens_per_second = float(self.max_tokens_per_second)
        if self.max_repeat is not None and (isinstance(self.max_repeat, bool) or not isinstance(self.max_repeat, int)
                                            or self.max_repeat < 2):
            raise CsExtError(f"decode config: max_repeat must be an integer >= 2 or null, got {self.max_repeat!r}")
        if self.length_penalty is not None:
            self.length_penalty = float(self.length_penalty)
        for key in ("suppress_blank", "suppress_non_speech", "use_feats"):
            if not isinstance(getattr(self, key), bool):
                raise CsExtError(f"decode config: {key} must be true or false, got {getattr(self, key)!r}")
        for item in self.prompt.split():
            if item not in ("{lang}", "{task}") and not (item.startswith("<|") and item.endswith("|>")):
                raise CsExtError(f"decode config: prompt items are Whisper special tokens (<|...|>), "
                                 f"{{lang}} or {{task}}; got {item!r}")
        if not self.prompt.split():
            raise CsExtError("decode config: prompt is empty")
        if self.dtype not in DTYPES:
            raise CsExtError(f"decode config: dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.backend not in BACKENDS:
            raise CsExtError(f"decode config: backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.compute_type not in COMPUTE_TYPES:
            raise CsExtError(f"decode config: compute_type must be one of {', '.join(COMPUTE_TYPES)}, "
                             f"got {self.compute_type!r}")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_dict(raw: Optional[Dict[str, Any]], source: str = "decode config") -> DecodeConfig:
    raw = dict(raw or {})
    known = {f.name for f in dataclasses.fields(DecodeConfig)}
    ignored = sorted(k for k in raw if k not in known and k in ESPNET_IGNORED)
    unknown = sorted(k for k in raw if k not in known and k not in ESPNET_IGNORED)
    if unknown:
        raise CsExtError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if ignored:
        log.warning("%s: ignoring ESPnet-only key(s) %s", source, ", ".join(ignored))
    return DecodeConfig(**{k: v for k, v in raw.items() if k in known})


def load_config(path: Optional[str | os.PathLike], **overrides: Any) -> DecodeConfig:
    """Read a decode YAML (None = all defaults); non-None `overrides` win over the file."""
    import yaml

    raw: Dict[str, Any] = {}
    source = "decode config"
    if path is not None:
        source = str(path)
        try:
            with open(path, encoding="utf-8") as f:
                raw = yaml.safe_load(f) or {}
        except FileNotFoundError:
            raise CsExtError(f"{path}: no such decode config")
        except yaml.YAMLError as e:
            raise CsExtError(f"{path}: not valid YAML ({str(e).splitlines()[0]})")
        if not isinstance(raw, dict):
            raise CsExtError(f"{path}: expected a mapping of decode options, found {type(raw).__name__}")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(raw, source)


def ct2_compute_type(compute_type: str, device: str) -> str:
    """The CTranslate2 compute type a config asks for on `device` (`auto`: int8 on CPU, float16 on GPU)."""
    if compute_type != "auto":
        return compute_type
    return "float16" if str(device).startswith("cuda") else "int8"
