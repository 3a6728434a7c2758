"""The text-only corpus of AsyncSwitch stage A: read, check, tag with a language, tokenise.

Input files hold one sentence per line (UTF-8), e.g. `data/synthetic/cs_text/ko-en.txt`
from `local/data.sh`. Each line becomes the Whisper decoder sequence

    <|startoftranscript|> <|LANG|> <|transcribe|> <|notimestamps|> text <|endoftext|>

which is exactly the sequence ESPnet's preprocessor builds for stages B and C
(`sot_sequence_including_notimestamps` + text, see espnet2 whisper_token_id_converter),
and the text goes through the same cleaner (`whisper_basic` by default) first.

The language token of a line, first match wins:

1. a tag at the start of the line, `<|ko|> 제 동생도 bicycle ...` (removed from the text);
2. the file's language, given as `PATH:LANG` (`cs_text/ko-en.txt:ko`);
3. for a file named after a pair (`ko-en.txt`): the pair's language that dominates the
   line's first sentence by script (Hangul / kana+Han / Latin words) - the matrix
   language of the synthetic corpus's inter- and most intra-sentential lines; when both languages share a script
   (`de-en`), the pair's first language (the synthetic corpus's matrix language in 80 %
   of sentences, `espnet_cs_ext/data/synthetic/compose.py`).

Otherwise the file is refused. Empty lines, lines that are not valid UTF-8, lines empty
after cleaning and lines longer than the decoder's context are skipped and *counted*
(with the first few line numbers) in a `TextReport`, never dropped silently.
"""
from __future__ import annotations

import dataclasses
import re
import unicodedata
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..utils.errors import CsExtError

_TAG = re.compile(r"^\s*<\|([a-z]{2,3}(?:_[a-z]+)?|haw|jw)\|>\s*")
_PAIR_STEM = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})$")
_SPEC_LANG = re.compile(r"^[a-z]{2,3}$")
FIRST_LINES = 5  # line numbers shown per problem kind

# script of each language's writing system, for the matrix-language guess
_SCRIPT_OF_LANG = {"ko": "hangul", "ja": "japanese", "zh": "han", "yue": "han", "ru": "cyrillic",
                   "uk": "cyrillic", "ar": "arabic", "th": "thai", "hi": "devanagari"}


def whisper_languages() -> Dict[str, str]:
    from whisper.tokenizer import LANGUAGES

    return LANGUAGES


def _script(ch: str) -> Optional[str]:
    o = ord(ch)
    if 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "hangul"
    if 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9D:
        return "kana"
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
        return "han"
    if 0x0400 <= o <= 0x04FF:
        return "cyrillic"
    if 0x0600 <= o <= 0x06FF:
        return "arabic"
    if 0x0E00 <= o <= 0x0E7F:
        return "thai"
    if 0x0900 <= o <= 0x097F:
        return "devanagari"
    if ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN"):
        return "latin"
    return None


def script_units(text: str) -> Dict[str, int]:
    """Units per script: one per character for kana/Han/Thai, one per word otherwise
    (the MER convention of espnet_cs_ext.scoring)."""
    units: Dict[str, int] = {}
    prev = None
    for ch in text:
        s = _script(ch)
        if s in ("kana", "han", "thai"):
            units[s] = units.get(s, 0) + 1
        elif s is not None and s != prev:
            units[s] = units.get(s, 0) + 1
        prev = s
    return units


_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s*")


def guess_matrix(text: str, pair: Tuple[str, str]) -> str:
    """The language of `pair` whose script dominates the first sentence of `text`
    (inter-sentential switches start in the matrix language; ties and shared scripts: first)."""
    a, b = pair
    sa, sb = _SCRIPT_OF_LANG.get(a, "latin"), _SCRIPT_OF_LANG.get(b, "latin")
    if sa == sb:
        return a
    u: Dict[str, int] = {}
    for sentence in _SENTENCE_END.split(text):
        u = script_units(sentence)
        if u:
            break

    def score(s):
        if s == "japanese":
            return u.get("kana", 0) + u.get("han", 0)
        return u.get(s, 0)
    return b if score(sb) > score(sa) else a


@dataclasses.dataclass
class TextSource:
    path: str
    lang: Optional[str] = None


def parse_source(spec: str) -> TextSource:
    """`PATH` or `PATH:LANG` (the suffix counts only when it is a language code)."""
    path, sep, tail = str(spec).rpartition(":")
    if sep and path and _SPEC_LANG.match(tail):
        return TextSource(path, tail)
    return TextSource(str(spec))


@dataclasses.dataclass
class FileReport:
    path: str
    lines: int = 0
    used: int = 0
    skipped: Dict[str, List[int]] = dataclasses.field(default_factory=dict)  # kind -> line numbers
    languages: Dict[str, int] = dataclasses.field(default_factory=dict)

    def skip(self, kind: str, lineno: int) -> None:
        self.skipped.setdefault(kind, []).append(lineno)


SKIP_KINDS = {
    "empty": "empty lines",
    "invalid_utf8": "not valid UTF-8",
    "empty_after_cleaning": "empty after the text cleaner",
    "too_long": "longer than the decoder context",
}


@dataclasses.dataclass
class TextReport:
    files: List[FileReport]

    @property
    def used(self) -> int:
        return sum(f.used for f in self.files)

    def count(self, kind: str) -> int:
        return sum(len(f.skipped.get(kind, [])) for f in self.files)

    def format(self) -> str:
        out = []
        for f in self.files:
            langs = ", ".join(f"{k} {v}" for k, v in sorted(f.languages.items()))
            out.append(f"{f.path}: {f.lines} lines, {f.used} used ({langs or 'none'})")
            for kind, nums in f.skipped.items():
                first = ", ".join(str(n) for n in nums[:FIRST_LINES])
                more = ", ..." if len(nums) > FIRST_LINES else ""
                out.append(f"  skipped {len(nums)} {SKIP_KINDS[kind]} (lines {first}{more})")
        return "\n".join(out)

    def to_dict(self) -> dict:
        return {"used": self.used, "files": [dataclasses.asdict(f) for f in self.files]}


class TextEncoder:
    """Whisper's multilingual tokenizer + ESPnet's text cleaner -> decoder sequences."""

    def __init__(self, cleaner: str = "whisper_basic", task: str = "transcribe"):
        import whisper.tokenizer as wt

        if cleaner not in ("whisper_basic", "none"):
            raise CsExtError(f"stage A: cleaner must be whisper_basic or none, got {cleaner!r}")
        if task not in ("transcribe", "translate"):
            raise CsExtError(f"stage A: task must be transcribe or translate, got {task!r}")
        self.tok = wt.get_tokenizer(multilingual=True)
        ids = self.tok.tokenizer.convert_tokens_to_ids
        self.sot, self.eot = self.tok.sot, self.tok.eot
        self.task_id = ids(f"<|{task}|>")
        self.no_timestamps = self.tok.no_timestamps
        self.lang_ids = {code: ids(f"<|{code}|>") for code in whisper_languages()}
        if cleaner == "whisper_basic":
            from whisper.normalizers import BasicTextNormalizer

            self.clean = BasicTextNormalizer()
        else:
            self.clean = lambda s: s

    def prefix(self, lang: str) -> List[int]:
        return [self.sot, self.lang_ids[lang], self.task_id, self.no_timestamps]

    def encode(self, text: str, lang: str) -> List[int]:
        """Full sequence: prefix + text tokens + eot (empty text -> [])."""
        text = self.clean(text)
        if not text.strip():
            return []
        return self.prefix(lang) + self.tok.encode(text) + [self.eot]


PREFIX_LEN = 4  # sot, lang, task, notimestamps


def read_corpus(specs: Sequence[str], encoder: TextEncoder, max_len: int,
                ) -> Tuple[List[List[int]], TextReport]:
    """Encode every usable line of every file; report what was skipped and why."""
    if not specs:
        raise CsExtError("stage A needs at least one text file (--text PATH[:LANG])")
    langs = whisper_languages()
    seqs: List[List[int]] = []
    reports = []
    for spec in specs:
        src = parse_source(spec)
        p = Path(src.path)
        if not p.is_file():
            raise CsExtError(f"text file not found: {src.path}")
        if src.lang is not None and src.lang not in langs:
            raise CsExtError(f"{spec}: {src.lang!r} is not a Whisper language code")
        m = _PAIR_STEM.match(p.stem)
        pair = (m.group(1), m.group(2)) if m and m.group(1) in langs and m.group(2) in langs else None
        rep = FileReport(src.path)
        data = p.read_bytes()
        raw_lines = data.split(b"\n")
        if raw_lines and raw_lines[-1] == b"":
            raw_lines.pop()  # the final newline ends the last line, it does not start one
        for i, raw in enumerate(raw_lines, start=1):
            rep.lines += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                rep.skip("invalid_utf8", i)
                continue
            line = unicodedata.normalize("NFC", line.strip().lstrip("\ufeff"))
            if not line:
                rep.skip("empty", i)
                continue
            tag = _TAG.match(line)
            if tag:
                lang = tag.group(1)
                if lang not in langs:
                    raise CsExtError(f"{src.path}:{i}: language tag <|{lang}|> is not a Whisper language")
                line = line[tag.end():]
            elif src.lang is not None:
                lang = src.lang
            elif pair is not None:
                lang = guess_matrix(line, pair)
            else:
                raise CsExtError(f"{src.path}:{i}: no language for this line: tag it (<|ko|> ...), give "
                                 f"the file as {src.path}:LANG, or name it after a pair (ko-en.txt)")
            ids = encoder.encode(line, lang)
            if not ids:
                rep.skip("empty_after_cleaning", i)
                continue
            if len(ids) - 1 > max_len:  # inputs drop the final eot
                rep.skip("too_long", i)
                continue
            seqs.append(ids)
            rep.used += 1
            rep.languages[lang] = rep.languages.get(lang, 0) + 1
        reports.append(rep)
    report = TextReport(reports)
    if not seqs:
        raise CsExtError(f"no usable text lines in {', '.join(specs)}:\n{report.format()}")
    return seqs, report
