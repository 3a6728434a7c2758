"""Compose code-switched sentences from the bundled aligned sentence lists.

Two kinds of utterance for a pair A-B:
  intra  a frame of the matrix language with a noun of the other language in its
         slot, e.g. ko-en "한 시간 동안 meeting에 대해 얘기했어요." (segments A, B, A)
  inter  a sentence of one language followed by a sentence of the other
         (segments A, B)
The matrix language is the pair's first language with probability `p_matrix_first`
(pairs are named matrix-first, like the corpora: ko-en is Korean with English).
Frames and sentences are split into train/dev/test item sets (see the resources
README) so test utterances use sentences never seen in training.
"""
from __future__ import annotations

import csv
import random
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional

from ...utils.errors import CsExtError
from .articles import fill_articles


@dataclass
class Segment:
    lang: str
    text: str
    say: Optional[str] = None      # what the TTS reads when it differs from `text` (see articles)


@dataclass
class Plan:
    text: str                      # the reference transcript (NFC, original scripts)
    segments: List[Segment]        # what is synthesised, in order
    matrix: str
    kind: str                      # intra | inter
    source: str                    # item ids, e.g. f03+w12
    pauses: List[float] = field(default_factory=list)  # lead, between..., tail (s)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Inventory:
    langs: List[str]
    words: List[Dict[str, str]]
    frames: List[Dict[str, str]]
    sentences: List[Dict[str, str]]


def _read_tsv(path) -> List[Dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return [dict(r) for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def load_inventory(resource_dir: Optional[str] = None) -> Inventory:
    """Read words/frames/sentences TSVs (default: the bundled package data)."""
    base = Path(resource_dir) if resource_dir else Path(str(resources.files("espnet_cs_ext.resources") / "synthetic"))
    try:
        words = _read_tsv(base / "words.tsv")
        frames = _read_tsv(base / "frames.tsv")
        sents = _read_tsv(base / "sentences.tsv")
    except FileNotFoundError as e:
        raise CsExtError(f"sentence lists missing: {e.filename} (expected words.tsv, frames.tsv, sentences.tsv in {base})")
    cols = [{c for c in t[0] if c != "id" and not c.endswith("_gender")} for t in (words, frames, sents) if t]
    langs = sorted(set.intersection(*cols)) if len(cols) == 3 else []
    return Inventory(langs, words, frames, sents)


def item_split(item_id: str) -> str:
    """Held-out item sets: number % 10 == 0 -> test, == 5 -> dev, else train."""
    num = int(re.sub(r"\D", "", item_id) or 0)
    return "test" if num % 10 == 0 else "dev" if num % 10 == 5 else "train"


def noun_gender(word: Dict[str, str], lang: str) -> str:
    """The gender a `lang` frame gives this words.tsv row: its `<lang>_gender` column (the
    noun's own translation in that language), whichever language fills the slot."""
    return word.get(f"{lang}_gender") or "m"


def fill_frame(frame: str, lang: str, filler: str, gender: str, noun: Optional[str] = None,
               spoken: bool = False) -> str:
    """Put `filler` in the slot, articles agreeing with `gender` and sounding right before
    `noun` (default: the filler; Composer passes a marker as filler to split the frame)."""
    frame = fill_articles(frame, lang, gender, filler if noun is None else noun, spoken)
    return frame.replace("{X}", filler)


def _has_letters(s: str) -> bool:
    return any(c.isalnum() for c in s)


class Composer:
    """Draw `Plan`s for one pair and split from a seeded RNG."""

    def __init__(self, inv: Inventory, pair: str, split: str, p_intra: float = 0.7,
                 p_matrix_first: float = 0.8):
        a, b = pair.split("-")
        for lang in (a, b):
            if lang not in inv.langs:
                raise CsExtError(f"language '{lang}' has no sentence lists (supported: {', '.join(inv.langs)})")
        if a == b:
            raise CsExtError(f"pair '{pair}' needs two different languages")
        self.a, self.b = a, b
        self.inv = inv
        self.frames = [f for f in inv.frames if item_split(f["id"]) == split]
        self.sents = [s for s in inv.sentences if item_split(s["id"]) == split]
        if not self.frames or not self.sents:
            raise CsExtError(f"no bundled sentences for split '{split}'")
        self.p_intra = p_intra
        self.p_first = p_matrix_first

    def draw(self, rng: random.Random) -> Plan:
        matrix, other = (self.a, self.b) if rng.random() < self.p_first else (self.b, self.a)
        if rng.random() < self.p_intra:
            fr = rng.choice(self.frames)
            w = rng.choice(self.inv.words)
            filler = w[other]
            g = noun_gender(w, matrix)
            pre, post = fill_frame(fr[matrix], matrix, "\0", g, noun=filler).split("\0")
            # an elided article ("l'") cannot be read alone before the switch: say the full form
            said = fill_frame(fr[matrix], matrix, "\0", g, noun=filler, spoken=True).split("\0")[0]
            text = pre + filler + post
            segs = []
            if _has_letters(pre):
                segs.append(Segment(matrix, pre.strip(), said.strip() if said != pre else None))
            segs.append(Segment(other, filler))
            if _has_letters(post):
                segs.append(Segment(matrix, post.strip()))
            gaps = [rng.uniform(0.03, 0.12) for _ in range(len(segs) - 1)]
            source = f"{fr['id']}+{w['id']}"
            kind = "intra"
        else:
            s1, s2 = rng.sample(self.sents, 2)
            text = f"{s1[matrix]} {s2[other]}"
            segs = [Segment(matrix, s1[matrix]), Segment(other, s2[other])]
            gaps = [rng.uniform(0.2, 0.45)]
            source = f"{s1['id']}+{s2['id']}"
            kind = "inter"
        pauses = [rng.uniform(0.1, 0.3)] + gaps + [rng.uniform(0.1, 0.3)]
        return Plan(text=text, segments=segs, matrix=matrix, kind=kind, source=source,
                    pauses=[round(p, 3) for p in pauses])


def generate_cs_text(pair: str, n: int, seed: int = 0, split: str = "train",
                     inv: Optional[Inventory] = None, unique: bool = True) -> List[str]:
    """`n` code-switched sentences for `pair` (text only, e.g. for AsyncSwitch).

    Unique lines while possible; the count can fall short of `n` only when `unique`
    and the inventory has fewer combinations.
    """
    inv = inv or load_inventory()
    comp = Composer(inv, pair, split)
    rng = random.Random(f"text-{seed}-{pair}-{split}")
    out: List[str] = []
    seen = set()
    tries = 0
    while len(out) < n and tries < 50 * n + 100:
        tries += 1
        t = comp.draw(rng).text
        if unique and t in seen:
            continue
        seen.add(t)
        out.append(t)
    return out
