"""Synthetic monolingual speech: ASR sets (forgetting check) and X->en speech translation sets.

    cs-prepare synthetic-mono --langs en,de,ja,ko --utts-per-lang 200 --out data/synthetic_st
    cs-prepare synthetic-st --langs de,ja,ko --utts-per-lang 200 --out data/synthetic_st

Each utterance is speech in ONE language, drawn from the same aligned sentence lists
as the code-switched corpus (resources/synthetic, held-out ids: number % 10 == 0 test,
== 5 dev, else train; words shared by all splits), so its English translation is
known exactly:
    frame      a frame of language X with a word of X in its slot
               ("Ich habe meinen Computer zu Hause vergessen." -> "I forgot my computer at home.")
    sentences  two aligned sentences of X ("Guten Morgen zusammen. ..." -> "Good morning, everyone. ...")
Output under OUT:
    <split>_mono_<lang>/    ASR (synthetic-mono; default split test only): text = the X
                            transcript, utt2lang = X, utt2task = transcribe, utt2category = X
    <split>_st_<lang>-en/   ST (synthetic-st; train, dev, test): text = the English
                            translation, text.src = the X transcript, utt2lang = X (the
                            Whisper token of the speech, used with <|translate|>),
                            utt2task = translate, utt2category = <lang>-en
    both also: task (one word, the dir's task: what the decoder's `task: data` reads;
    utt2task is the per-utterance copy that survives pooling into multi-task sets)
    both also: wav.scp utt2spk spk2utt utt2dur utt2kind (frame|sentences) utt2source
    (item ids, e.g. f03+w12) utt2tts info.json
    audio/mono_<lang>/<split>/<id>.wav   16 kHz mono (+ .json sidecar), shared: the
                            utterance plan depends only on (seed, lang, split), so the
                            ASR and ST sets of one language and split made into one OUT
                            are the same recordings and are synthesised once
Ids: speaker `syn-mono-<lang>-v<kkk>` / `syn-st-<lang>-en-v<kkk>` (k: voice variant),
utterance `<speaker>-<split><nnnnn>`: the views never clash when pooled (multi-task).
Resumable like the CS corpus: finished wavs with a matching sidecar are kept.
"""
from __future__ import annotations

import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ...utils.atomic import atomic_open
from ...utils.errors import CsExtError
from ...utils.kaldi import write_table
from ..datadir import Utt, write_data_dir
from ..splits import SPLITS
from . import tts
from .compose import Inventory, fill_frame, item_split, load_inventory, noun_gender
from .corpus import _voice_dict, render, split_sizes

TASKS = ("asr", "st")
TARGET = "en"  # CoVoST-style X->en


@dataclass
class MonoPlan:
    text: str                 # transcript in the spoken language
    translation: str          # the aligned English sentence(s)
    kind: str                 # frame | sentences
    source: str               # item ids
    segments: List[str]       # what is synthesised, in order
    pauses: List[float] = field(default_factory=list)


class MonoComposer:
    """Draw monolingual plans of one language for one split (held-out items only)."""

    def __init__(self, inv: Inventory, lang: str, split: str, p_frame: float = 0.6):
        if lang not in inv.langs or TARGET not in inv.langs:
            raise CsExtError(f"language '{lang}' has no sentence lists (supported: {', '.join(inv.langs)})")
        self.lang, self.inv, self.p_frame = lang, inv, p_frame
        self.frames = [f for f in inv.frames if item_split(f["id"]) == split]
        self.sents = [s for s in inv.sentences if item_split(s["id"]) == split]
        if not self.frames or len(self.sents) < 2:
            raise CsExtError(f"no bundled sentences for split '{split}'")

    def draw(self, rng: random.Random) -> MonoPlan:
        x = self.lang
        if rng.random() < self.p_frame:
            fr, w = rng.choice(self.frames), rng.choice(self.inv.words)
            g = noun_gender(w, x)
            text = fill_frame(fr[x], x, w[x], g)
            plan = MonoPlan(text, fill_frame(fr[TARGET], TARGET, w[TARGET], g), "frame",
                            f"{fr['id']}+{w['id']}", [text])
            gaps: List[float] = []
        else:
            s1, s2 = rng.sample(self.sents, 2)
            plan = MonoPlan(f"{s1[x]} {s2[x]}", f"{s1[TARGET]} {s2[TARGET]}", "sentences",
                            f"{s1['id']}+{s2['id']}", [s1[x], s2[x]])
            gaps = [rng.uniform(0.2, 0.45)]
        plan.pauses = [round(p, 3) for p in [rng.uniform(0.1, 0.3)] + gaps + [rng.uniform(0.1, 0.3)]]
        return plan


def plan_language(inv: Inventory, lang: str, split: str, n: int, seed: int,
                  voices: List[tts.Voice], audio_dir: Path) -> List[dict]:
    """The first `n` utterances of (lang, split): a prefix-stable, task-independent plan."""
    comp = MonoComposer(inv, lang, split)
    rng = random.Random(f"{seed}-mono-{lang}-{split}")
    jobs = []
    for i in range(n):
        p = comp.draw(rng)
        k = rng.randrange(len(voices))
        base = f"syn-{lang}-v{k:03d}-{split}{i:05d}"
        jobs.append({"utt": base, "k": k, "i": i, "split": split, "lang": lang, "text": p.text,
                     "translation": p.translation, "kind": p.kind, "source": p.source,
                     "segments": [{"lang": lang, "text": t} for t in p.segments], "pauses": p.pauses,
                     "voices": {lang: _voice_dict(voices[k])}, "wav": str(audio_dir / split / f"{base}.wav")})
    return jobs


def prepare_synthetic_monolingual(output_dir: str | os.PathLike, langs: Sequence[str], task: str = "asr",
                                  utts_per_lang: int = 200, split: Sequence[float] = (0.8, 0.1, 0.1),
                                  splits: Sequence[str] = ("test",), seed: int = 0, nj: int = 1,
                                  tts_backend: Optional[Dict[str, str]] = None,
                                  progress: bool = True) -> Dict[str, Path]:
    """Synthesise `<split>_mono_<lang>` (task asr) or `<split>_st_<lang>-en` (task st) dirs."""
    if task not in TASKS:
        raise CsExtError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise CsExtError(f"splits must be among {','.join(SPLITS)}; got {','.join(splits) or 'none'}")
    langs = [lang.strip() for lang in langs if lang.strip()]
    if not langs:
        raise CsExtError("no languages given (e.g. --langs de,ja,ko)")
    if task == "st" and TARGET in langs:
        raise CsExtError(f"'{TARGET}' cannot be an ST source: the targets are English (X->{TARGET})")
    if utts_per_lang < 1:
        raise CsExtError("--utts-per-lang must be at least 1")
    out = Path(output_dir).resolve()
    inv = load_inventory()
    prefs = tts_backend or {}
    jobs: List[dict] = []
    for lang in langs:
        voices = tts.voice_variants(tts.resolve_voices(lang, prefs.get(lang)))
        sizes = split_sizes(utts_per_lang, split, test_only=False)
        for sp in splits:
            if sizes.get(sp, 0) < 1:
                raise CsExtError(f"{lang}: split '{sp}' gets no utterances from --utts-per-lang {utts_per_lang} "
                                 f"and --split {','.join(map(str, split))}")
            jobs += plan_language(inv, lang, sp, sizes[sp], seed, voices, out / "audio" / f"mono_{lang}")

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc=f"synthesising ({task})", unit="utt")
    metas: Dict[str, dict] = {}
    try:
        if nj > 1:
            with ProcessPoolExecutor(max_workers=nj) as ex:
                for job, meta in zip(jobs, ex.map(render, jobs, chunksize=8)):
                    metas[job["utt"]] = meta
                    if bar:
                        bar.update(1)
        else:
            for job in jobs:
                metas[job["utt"]] = render(job)
                if bar:
                    bar.update(1)
    finally:
        if bar:
            bar.close()

    result: Dict[str, Path] = {}
    for lang in langs:
        for sp in splits:
            group = [j for j in jobs if j["lang"] == lang and j["split"] == sp]
            prefix = f"syn-mono-{lang}" if task == "asr" else f"syn-st-{lang}-{TARGET}"
            name = f"{sp}_mono_{lang}" if task == "asr" else f"{sp}_st_{lang}-{TARGET}"
            utts, src_text = [], {}
            for j in group:
                spk = f"{prefix}-v{j['k']:03d}"
                uid = f"{spk}-{sp}{j['i']:05d}"
                voice = tts.Voice(**j["voices"][lang])
                utts.append(Utt(uid, spk, j["text"] if task == "asr" else j["translation"], j["wav"],
                                lang if task == "asr" else f"{lang}-{TARGET}", lang, metas[j["utt"]]["duration"],
                                extra={"task": "transcribe" if task == "asr" else "translate",
                                       "kind": j["kind"], "source": j["source"], "tts": f"{lang}:{voice.id}"}))
                src_text[uid] = j["text"]
            d = write_data_dir(out / name, utts, info={
                "corpus": "synthetic", "dir": name, "task": "transcribe" if task == "asr" else "translate",
                "source_lang": lang, "target_lang": lang if task == "asr" else TARGET, "seed": seed,
                "utts_per_lang": utts_per_lang, "split": list(split)})
            if task == "st":
                write_table(d / "text.src", src_text)
            with atomic_open(d / "task") as f:  # the whole dir's task, for the decoder's `task: data`
                f.write(("transcribe" if task == "asr" else "translate") + "\n")
            result[name] = d
    return result
