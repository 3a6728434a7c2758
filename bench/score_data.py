"""Synthetic code-switched (reference, hypothesis) pairs for bench_score.py.

Deterministic for a given seed. Each utterance mixes one spaced language
(English or German) with Korean, Japanese or Chinese, or is de-en; the
hypothesis is the reference with word-level substitutions, deletions and
insertions plus ASR-style surface noise (case, punctuation, full-width forms).
"""
from __future__ import annotations

import random
from typing import List, Tuple


def _words(rng: random.Random, n: int, make) -> List[str]:
    return sorted({make(rng) for _ in range(n)})


def _hangul(rng):
    return "".join(chr(0xAC00 + rng.randrange(11172)) for _ in range(rng.randint(1, 4)))


def _kana_kanji(rng):
    out = []
    for _ in range(rng.randint(1, 4)):
        r = rng.random()
        out.append(chr(0x3041 + rng.randrange(83)) if r < 0.4 else
                   chr(0x30A1 + rng.randrange(90)) if r < 0.6 else chr(0x4E00 + rng.randrange(3000)))
    return "".join(out)


def _han(rng):
    return "".join(chr(0x4E00 + rng.randrange(3000)) for _ in range(rng.randint(1, 3)))


def _latin(rng, alphabet="abcdefghijklmnopqrstuvwxyz"):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 9)))


def _german(rng):
    return _latin(rng, "abcdefghijklmnopqrstuvwxyzäöüß")


def make_pairs(n: int, seed: int = 0) -> List[Tuple[str, str]]:
    rng = random.Random(seed)
    en = _words(rng, 5000, _latin)
    de = _words(rng, 5000, _german)
    ko = _words(rng, 5000, _hangul)
    ja = _words(rng, 5000, _kana_kanji)
    zh = _words(rng, 3000, _han)
    pairs = [(en, ko), (en, ja), (de, en), (ko, ja), (ko, de), (en, zh)]
    punct = [",", ".", "?", "!", "、", "。"]
    out = []
    for _ in range(n):
        a, b = rng.choice(pairs)
        ref = []
        for _ in range(rng.randint(4, 18)):
            w = rng.choice(a) if rng.random() < 0.65 else rng.choice(b)
            ref.append(w)
        hyp = []
        for w in ref:
            r = rng.random()
            if r < 0.06:
                continue  # deletion
            if r < 0.14:
                w = rng.choice(a)  # substitution
            elif r < 0.18:
                hyp.append(rng.choice(b))  # insertion
            if rng.random() < 0.1:
                w = w.capitalize()
            if rng.random() < 0.08:
                w += rng.choice(punct)
            hyp.append(w)
        if rng.random() < 0.02:
            hyp = ["".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" else c for c in w) for w in hyp]
        out.append((" ".join(ref), " ".join(hyp)))
    return out
