"""Decode a Kaldi data dir into a Kaldi `text`: one job, or one of N shards, resumable.

Layout under OUT (job J of N is 1-based, as Kaldi's JOB=1:N):

    OUT/text, OUT/utt2lang, OUT/decode.yaml, OUT/.done        single job, or after merging
    OUT/split{N}/{J}/text, utt2lang, decode.yaml, .done         shard J of N
    <dir>/text.partial                                          results so far (JSON lines)

Shard J holds the utterances sorted by id at positions J-1, J-1+N, ... (round robin, so
shards are balanced whatever the id order). Every batch appends its results to
`text.partial` (flushed and fsynced); a killed job rerun with the same settings resumes
after the last complete line, so no utterance is lost or written twice. The finished
files are written atomically, then `.done`. A rerun skips a directory whose `.done`
exists and whose `decode.yaml` matches the settings (config, model file, data dir);
if the settings changed it decodes again. `utt2lang` records the language token each
utterance was decoded with (given or detected).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError
from ..utils.halt import halt_point
from ..utils.kaldi import read_table, write_table
from .config import DecodeConfig
from .model import LoadedModel, is_pretrained, load_decode_model

log = logging.getLogger(__name__)

PARTIAL = "text.partial"


class Decoder:
    """A loaded model plus the prompt, suppression and search settings of one config."""

    def __init__(self, loaded: LoadedModel, config: DecodeConfig):
        import whisper.tokenizer as wt

        from .search import SearchRules

        self.loaded, self.model, self.config = loaded, loaded.model, config
        self.pad_to_30s = resolve_padding(config, loaded.spec)
        self.multilingual = self.model.is_multilingual
        self.tokenizer = tok = wt.get_tokenizer(multilingual=self.multilingual)
        self.device = next(self.model.parameters()).device
        # everything after <|endoftext|> is a control token (sot, languages, tasks,
        # timestamps, added tokens): text-only output never emits one
        suppress = set(range(tok.eot + 1, self.model.dims.n_vocab))
        if config.suppress_non_speech:
            suppress.update(tok.non_speech_tokens)
        first = tuple(tok.encode(" ") + [tok.eot]) if config.suppress_blank else ()
        self.rules = SearchRules(eot=tok.eot, suppress=tuple(sorted(suppress)), suppress_first=first,
                                 max_new_tokens=config.max_new_tokens, length_penalty=config.length_penalty)
        self.language_tokens = dict(zip(tok.all_language_codes, tok.all_language_tokens)) if self.multilingual else {}
        self.token_language = {v: k for k, v in self.language_tokens.items()}
        self._template = self._parse_prompt(config.prompt)
        import torch

        # mixed precision: the model is cast once (in place: every Decoder over this loaded
        # model shares the config's dtype); the search keeps log-probabilities in float32
        self.dtype = getattr(torch, config.dtype)
        if self.model.encoder.conv1.weight.dtype != self.dtype:
            self.model.to(self.dtype)
            # whisper's LayerNorm normalises in float32 and casts back; on CPU its weights
            # must then be float32 too ("mixed dtype (CPU)"), as in openai-whisper's fp16 path
            for m in self.model.modules():
                if isinstance(m, torch.nn.LayerNorm):
                    m.float()

    def _parse_prompt(self, template: str) -> List[object]:
        items: List[object] = []
        vocab = self.tokenizer.tokenizer
        for item in template.split():
            if item in ("{lang}", "{task}"):
                if self.multilingual:
                    items.append(item)
                continue
            tid = vocab.convert_tokens_to_ids(item)
            if tid == vocab.unk_token_id and item != "<|endoftext|>":
                raise CsExtError(f"decode config: prompt item {item!r} is not a Whisper special token")
            items.append(tid)
        return items

    def prompt_ids(self, language: Optional[str]) -> List[int]:
        """The decoder prefix for one utterance, e.g. [<|startoftranscript|>, <|ko|>, <|transcribe|>, <|notimestamps|>]."""
        out = []
        for item in self._template:
            if item == "{lang}":
                if language not in self.language_tokens:
                    raise CsExtError(f"'{language}' is not a Whisper language code")
                out.append(self.language_tokens[language])
            elif item == "{task}":
                out.append(self.tokenizer.tokenizer.convert_tokens_to_ids(f"<|{self.config.task}|>"))
            else:
                out.append(item)
        return out

    def decode_mels(self, mels: Sequence["torch.Tensor"], utts: Sequence[str],
                    languages: Sequence[Optional[str]]) -> List[Tuple[str, str, List[int]]]:
        """Decode one batch of unpadded (n_mels, T) log-mels; language None = detect.

        Returns (language used, text, tokens) per utterance, in input order.
        """
        import torch

        from .features import collate
        from .search import beam_search, detect_language, encode, greedy_search, trim_repetition

        caps = None
        if self.config.max_tokens_per_second is not None:  # seconds of speech, before any padding
            caps = [max(1, math.ceil(m.shape[1] / 100 * self.config.max_tokens_per_second)) for m in mels]
        batch, lengths = collate(mels, utts, self.pad_to_30s)
        xa, valid = encode(self.model, batch.to(self.device, self.dtype), lengths.to(self.device))
        langs = list(languages)
        if self.multilingual and any(lang is None for lang in langs):
            detected = detect_language(self.model, xa, valid, self.tokenizer.sot, list(self.token_language))
            langs = [lang if lang is not None else self.token_language[d] for lang, d in zip(langs, detected)]
        if not self.multilingual:
            langs = ["en"] * len(langs)
        prompts = torch.tensor([self.prompt_ids(lang) for lang in langs], dtype=torch.long, device=self.device)
        if self.config.beam_size == 1:
            tokens = greedy_search(self.model, xa, valid, prompts, self.rules, caps)
        else:
            tokens = beam_search(self.model, xa, valid, prompts, self.rules, self.config.beam_size, caps)
        if self.config.max_repeat is not None:
            tokens = [trim_repetition(t, self.config.max_repeat) for t in tokens]
        # Kaldi text is one line per utterance: whitespace runs (newlines too) become one space
        return [(lang, " ".join(self.tokenizer.decode(t).split()), t) for lang, t in zip(langs, tokens)]


def resolve_padding(config: DecodeConfig, spec: str) -> bool:
    """pad_to_30s: auto -> True for released Whisper weights, False for fine-tuned/merged files."""
    return is_pretrained(spec) if config.pad_to_30s == "auto" else bool(config.pad_to_30s)


def shard_utts(utts: Sequence[str], nj: int, job: int) -> List[str]:
    """Utterances of job `job` (1-based) of `nj`: round robin over the sorted ids."""
    if nj < 1 or not 1 <= job <= nj:
        raise CsExtError(f"--job must be in 1..--nj ({nj}), got {job}")
    return sorted(utts)[job - 1::nj]


def shard_dir(out: str | os.PathLike, nj: int, job: Optional[int]) -> Path:
    return Path(out) if job is None else Path(out) / f"split{nj}" / str(job)


def resolve_task(config: DecodeConfig, data_dir: Path) -> DecodeConfig:
    """task: data -> the task named in DATA/task (transcribe when there is no such file)."""
    if config.task != "data":
        return config
    path = data_dir / "task"
    task = path.read_text(encoding="utf-8").strip() if path.is_file() else "transcribe"
    if task not in ("transcribe", "translate"):
        raise CsExtError(f"{path}: expected 'transcribe' or 'translate', got {task!r}")
    return dataclasses.replace(config, task=task)


def utt_languages(config: DecodeConfig, data_dir: Path, utts: Sequence[str]) -> Dict[str, Optional[str]]:
    """Language per utterance under the config's policy (None = let the model detect)."""
    if config.language == "none":
        return {u: None for u in utts}
    if config.language != "utt2lang":
        return {u: config.language for u in utts}
    import whisper.tokenizer as wt

    table = data_dir / "utt2lang"
    if not table.is_file():
        raise CsExtError(f"{data_dir}: language policy utt2lang needs {table} "
                         "(<utt-id> <Whisper code of the matrix language>)")
    values = read_table(table, allow_empty_value=False)
    missing = [u for u in utts if u not in values]
    if missing:
        raise CsExtError(f"{table}: no language for {len(missing)} utterance(s), e.g. {missing[:3]}")
    bad = sorted({values[u] for u in utts if values[u] not in wt.LANGUAGES})
    if bad:
        raise CsExtError(f"{table}: not Whisper language codes: {bad[:5]} (use ko, en, ja, de, ...)")
    return {u: values[u] for u in utts}


def _model_stamp(spec: str) -> Optional[str]:
    p = Path(spec)
    target = p / "model.bin" if p.is_dir() else p
    if not target.is_file():
        return None
    st = target.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def settings(config: DecodeConfig, spec: str, data_dir: Path, source_kind: str, nj: int,
             job: Optional[int], dims_from: Optional[str]) -> dict:
    """What decode.yaml records; equal settings mean a finished result can be reused."""
    cfg = config.to_dict()
    cfg.pop("batch_size")  # batching does not change the result
    cfg["pad_to_30s"] = resolve_padding(config, spec)
    return {"model": str(spec), "model_file": _model_stamp(spec), "whisper_dims_from": dims_from,
            "data": str(Path(data_dir).resolve()), "input": source_kind, "nj": nj, "job": job, "config": cfg}


def _read_partial(path: Path, expect: dict) -> Dict[str, Tuple[str, str]]:
    """{utt: (lang, text)} from a partial file written with the same settings, else {}."""
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").split("\n")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("settings") != expect:
        log.warning("%s: written with other settings, starting over", path)
        return {}
    done: Dict[str, Tuple[str, str]] = {}
    for line in lines[1:]:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            break  # the line a killed job was writing (and nothing after it)
        done.setdefault(rec["utt"], (rec["lang"], rec["text"]))
    return done


def _same_settings(path: Path, expect: dict) -> bool:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            return (yaml.safe_load(f) or {}).get("settings") == expect
    except (OSError, yaml.YAMLError):
        return False


def _write_results(d: Path, results: Dict[str, Tuple[str, str]], meta: dict) -> None:
    import yaml

    with atomic_open(d / "decode.yaml") as f:
        yaml.safe_dump(meta, f, sort_keys=False, allow_unicode=True)
    write_table(d / "text", {u: text for u, (_, text) in results.items()})
    write_table(d / "utt2lang", {u: lang for u, (lang, _) in results.items()})
    (d / ".done").write_text("")


def decode_data_dir(model: str | LoadedModel, data_dir: str | os.PathLike, out: str | os.PathLike,
                    config: DecodeConfig, nj: int = 1, job: Optional[int] = None,
                    dims_from: Optional[str] = None, device: str = "cpu", progress: bool = True,
                    max_batches: Optional[int] = None) -> Path:
    """Decode all utterances of `data_dir` (or shard `job` of `nj`) and return the result dir.

    `model` is a spec or an already loaded model (tests reuse one). `max_batches` stops
    after that many batches, leaving a partial file (used to test resuming).
    """
    from .features import Source, length_batches

    data_dir = Path(data_dir)
    config = resolve_task(config, data_dir)
    spec = model.spec if isinstance(model, LoadedModel) else str(model)
    source = Source(data_dir, use_feats=config.use_feats)
    utts = source.utts if job is None else shard_utts(source.utts, nj, job)
    d = shard_dir(out, nj, job)
    expect = settings(config, spec, data_dir, source.kind, nj, job, dims_from)
    if (d / ".done").is_file() and _same_settings(d / "decode.yaml", expect):
        log.info("%s: already decoded, skipping", d)
        return d
    (d / ".done").unlink(missing_ok=True)
    d.mkdir(parents=True, exist_ok=True)
    partial = d / PARTIAL
    results = _read_partial(partial, expect)
    stray = sorted(set(results) - set(utts))
    if stray:
        raise CsExtError(f"{partial}: holds utterances not in this job, e.g. {stray[:3]}; remove it")
    todo = [u for u in utts if u not in results]
    languages = utt_languages(config, data_dir, todo)
    source.check(todo)
    if results:
        log.info("%s: resuming, %d of %d utterances already decoded", d, len(results), len(utts))
    if todo:
        if config.backend == "ct2":
            from .ct2_backend import CT2Decoder

            decoder: Decoder = CT2Decoder(spec, config, dims_from, device)
        else:
            loaded = model if isinstance(model, LoadedModel) else load_decode_model(spec, dims_from, device)
            decoder = Decoder(loaded, config)
        batches = length_batches(source.lengths(todo), config.batch_size)
        if not results:
            with open(partial, "w", encoding="utf-8") as f:
                f.write(json.dumps({"settings": expect}, ensure_ascii=False) + "\n")
        _run_batches(decoder, source, batches, languages, partial, results, progress, max_batches,
                     desc=f"decode {data_dir.name}" + ("" if job is None else f" {job}/{nj}"))
        if max_batches is not None and len(results) < len(utts):
            return d
    meta = {"settings": expect, "utterances": len(utts)}
    _write_results(d, {u: results[u] for u in utts}, meta)
    partial.unlink(missing_ok=True)
    return d


def _run_batches(decoder: Decoder, source, batches: List[List[str]], languages, partial: Path,
                 results: Dict[str, Tuple[str, str]], progress: bool, max_batches: Optional[int],
                 desc: str) -> None:
    from tqdm import tqdm

    with open(partial, "a", encoding="utf-8") as f, \
            tqdm(total=sum(map(len, batches)), desc=desc, unit="utt", disable=not progress) as bar:
        for i, batch in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            mels = [source.mel(u) for u in batch]
            decoded = decoder.decode_mels(mels, batch, [languages[u] for u in batch])
            lines = []
            for utt, (lang, text, _) in zip(batch, decoded):
                results[utt] = (lang, text)
                lines.append(json.dumps({"utt": utt, "lang": lang, "text": text}, ensure_ascii=False) + "\n")
            f.write("".join(lines))
            f.flush()
            os.fsync(f.fileno())
            bar.update(len(batch))
            halt_point(f"decode-batch {partial}")


def merge_shards(data_dir: str | os.PathLike, out: str | os.PathLike, nj: int) -> Path:
    """Concatenate OUT/split{nj}/*/ into OUT/text after checking each utterance appears once."""
    import yaml

    from .features import Source

    out = Path(out)
    expected = set(Source(data_dir, use_feats=True).utts)
    unfinished = [str(shard_dir(out, nj, j)) for j in range(1, nj + 1) if not (shard_dir(out, nj, j) / ".done").is_file()]
    if unfinished:
        raise CsExtError(f"cannot merge {nj} shards: not finished: {', '.join(unfinished[:5])}")
    results: Dict[str, Tuple[str, str]] = {}
    seen: Dict[str, int] = {}
    dupes: List[str] = []
    settings_1 = None
    for j in range(1, nj + 1):
        d = shard_dir(out, nj, j)
        text = read_table(d / "text")
        langs = read_table(d / "utt2lang")
        for utt, hyp in text.items():
            if utt in seen:
                dupes.append(f"{utt} (jobs {seen[utt]} and {j})")
            seen[utt] = j
            results[utt] = (langs.get(utt, ""), hyp)
        if settings_1 is None:
            with open(d / "decode.yaml", encoding="utf-8") as f:
                settings_1 = (yaml.safe_load(f) or {}).get("settings", {})
    missing = sorted(expected - set(results))
    extra = sorted(set(results) - expected)
    problems = []
    if dupes:
        problems.append(f"decoded more than once: {', '.join(dupes[:5])}")
    if missing:
        problems.append(f"missing {len(missing)}: {', '.join(missing[:5])}")
    if extra:
        problems.append(f"not in {data_dir}: {', '.join(extra[:5])}")
    if problems:
        raise CsExtError(f"{out}/split{nj}: " + "; ".join(problems))
    merged = dict(settings_1 or {}, nj=nj, job=None)
    _write_results(out, results, {"settings": merged, "utterances": len(results), "merged_from": f"split{nj}"})
    return out
