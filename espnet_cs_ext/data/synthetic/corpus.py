"""Build the synthetic code-switched speech corpus (UniCoM-style concatenation).

    cs-prepare synthetic --pairs ko-en,ja-en,de-en,ko-ja,ko-de --utts-per-pair 200 \
        --test-only-pairs ko-ja,ko-de --out data/synthetic

Output layout under OUT:
    <split>_<pair>/          Kaldi data dir per split and pair, e.g. train_ko-en,
                             dev_ko-en, test_ko-en, test_ko-ja: wav.scp text utt2spk
                             spk2utt utt2category (= pair) category2utt utt2lang (=
                             matrix language) utt2dur utt2kind (intra|inter) utt2tts
                             (voices) utt2source (sentence-list item ids)
                             cs_segments.jsonl (per utterance: each segment's
                             language, text, voice, start/end in seconds; `say`
                             where the TTS read another text, see articles) info.json
    audio/<split>_<pair>/<utt>.wav   16 kHz mono 16-bit PCM (+ <utt>.json sidecar)
    cs_text/<pair>.txt       text-only CS sentences from the train items (AsyncSwitch)
    tts.json                 the TTS backend/voices chosen per language and why
    log/synthesis_stats.json counts, audio seconds, wall time of the last run (a run report,
                             like a log: it differs between a fresh and a resumed run)
Ids: speaker `syn-<pair>-v<kkk>` (k numbers the voice combination: one voice with
its speed/pitch per language), utterance `<speaker>-<split><nnnnn>`, e.g.
`syn-ko-en-v017-train00042`.

Splits: `--utts-per-pair N` utterances per pair are split by `--split` fractions
(default 0.8,0.1,0.1); pairs in `--test-only-pairs` (unseen pairs) get only a test
set of `--test-only-utts` utterances (default: the test share of N, so unseen and
seen test sets have the same size).
Resumable: a wav that exists with a matching sidecar is not synthesised again
(wavs are written atomically, so an existing wav is complete).
"""
from __future__ import annotations

import json
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ...utils.atomic import atomic_open
from ...utils.errors import CsExtError
from ..audio import TARGET_SR, write_wav
from ..datadir import Utt, split_dir_name, write_data_dir
from ..splits import SPLITS, parse_fractions
from . import tts
from .compose import Composer, generate_cs_text, load_inventory

_CACHE: Dict[tuple, np.ndarray] = {}
_CACHE_MAX = 4000


def _segment_audio(voice: tts.Voice, text: str) -> np.ndarray:
    key = (voice, text)
    x = _CACHE.get(key)
    if x is None:
        x = tts.synthesize(voice, text)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = x
    return x


def render(job: dict) -> dict:
    """Synthesise one planned utterance to job['wav'] (skip if already complete)."""
    wav, side = Path(job["wav"]), Path(job["wav"]).with_suffix(".json")
    if wav.exists() and side.exists():
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
            if meta.get("text") == job["text"] and meta.get("voices") == job["voices"]:
                meta["skipped"] = True
                return meta
        except (OSError, ValueError):
            pass
    voices = {lang: tts.Voice(**v) for lang, v in job["voices"].items()}
    pauses = job["pauses"]
    parts = [np.zeros(int(pauses[0] * TARGET_SR), np.float32)]
    t = len(parts[0]) / TARGET_SR
    segs = []
    for i, seg in enumerate(job["segments"]):
        v = voices[seg["lang"]]
        x = _segment_audio(v, seg.get("say") or seg["text"])
        segs.append({"lang": seg["lang"], "text": seg["text"], **({"say": seg["say"]} if seg.get("say") else {}),
                     "voice": v.id, "start": round(t, 3), "end": round(t + len(x) / TARGET_SR, 3)})
        parts.append(x)
        t += len(x) / TARGET_SR
        gap = np.zeros(int(pauses[i + 1] * TARGET_SR), np.float32)
        parts.append(gap)
        t += len(gap) / TARGET_SR
    audio = np.concatenate(parts)
    meta = {"utt": job["utt"], "text": job["text"], "voices": job["voices"], "segments": segs,
            "duration": round(len(audio) / TARGET_SR, 3)}
    with atomic_open(side) as f:
        json.dump(meta, f, ensure_ascii=False)
    write_wav(wav, audio)
    return meta


def _segment_dict(s) -> dict:
    # "say" only where the TTS reads another text, so older plans keep their bytes
    return {"lang": s.lang, "text": s.text, **({"say": s.say} if s.say else {})}


def _voice_dict(v: tts.Voice) -> dict:
    return {"lang": v.lang, "backend": v.backend, "name": v.name, "speed": v.speed, "pitch": v.pitch}


def split_sizes(n: int, fractions: Sequence[float], test_only: bool, test_only_utts: Optional[int] = None) -> Dict[str, int]:
    fr = parse_fractions(fractions)
    if test_only:
        return {"test": test_only_utts if test_only_utts is not None else max(1, int(round(fr[2] * n)))}
    n_dev = int(round(fr[1] * n))
    n_test = int(round(fr[2] * n))
    sizes = {"train": n - n_dev - n_test, "dev": n_dev, "test": n_test}
    return {k: v for k, v in sizes.items() if v > 0}


def prepare_synthetic(output_dir: str | os.PathLike, pairs: Sequence[str] = ("ko-en", "ja-en", "de-en", "ko-ja", "ko-de"),
                      utts_per_pair: int = 200, split: Sequence[float] = (0.8, 0.1, 0.1),
                      test_only_pairs: Sequence[str] = (), test_only_utts: Optional[int] = None,
                      seed: int = 0, nj: int = 1,
                      tts_backend: Optional[Dict[str, str]] = None, text_per_pair: int = 2000,
                      p_intra: float = 0.7, progress: bool = True) -> Dict[str, Path]:
    """Synthesise the corpus; return {data dir name: path}. See the module docstring."""
    out = Path(output_dir).resolve()
    pairs = [p.strip() for p in pairs if p.strip()]
    bad = [p for p in test_only_pairs if p not in pairs]
    if bad:
        raise CsExtError(f"--test-only-pairs {','.join(bad)} not among --pairs {','.join(pairs)}")
    if utts_per_pair < 1:
        raise CsExtError("--utts-per-pair must be at least 1")
    inv = load_inventory()
    langs = sorted({l for p in pairs for l in p.split("-")})
    for p in pairs:
        if len(p.split("-")) != 2:
            raise CsExtError(f"bad pair '{p}' (expected e.g. ko-en)")
    prefs = tts_backend or {}
    voices: Dict[str, List[tts.Voice]] = {}
    tts_info = {}
    for lang in langs:
        base = tts.resolve_voices(lang, prefs.get(lang))
        voices[lang] = tts.voice_variants(base)
        best_possible = [b for b, _ in tts.CANDIDATES.get(lang, [("espeak-ng", lang)])]
        tts_info[lang] = {"backends": sorted({v.backend for v in base}), "voices": [v.name for v in base],
                          "fallback": base[0].backend != best_possible[0],
                          "unavailable": sorted({b for b, n in tts.CANDIDATES.get(lang, []) if not tts.backend_available(b, n)})}
    # 1. plan every utterance deterministically (independent of nj and of resumption)
    jobs: List[dict] = []
    dirs: Dict[str, List[dict]] = {}
    for pair in pairs:
        a, b = pair.split("-")
        combos = [(va, vb) for va in voices[a] for vb in voices[b]]
        sizes = split_sizes(utts_per_pair, split, pair in test_only_pairs, test_only_utts)
        for sp in SPLITS:
            n = sizes.get(sp, 0)
            if not n:
                continue
            comp = Composer(inv, pair, sp, p_intra=p_intra)
            rng = random.Random(f"{seed}-{pair}-{sp}")
            name = split_dir_name(sp, pair)
            for i in range(n):
                plan = comp.draw(rng)
                k = rng.randrange(len(combos))
                va, vb = combos[k]
                spk = f"syn-{pair}-v{k:03d}"
                utt = f"{spk}-{sp}{i:05d}"
                job = {"utt": utt, "spk": spk, "pair": pair, "dir": name, "text": plan.text,
                       "matrix": plan.matrix, "kind": plan.kind, "source": plan.source,
                       "segments": [_segment_dict(s) for s in plan.segments],
                       "pauses": plan.pauses, "voices": {a: _voice_dict(va), b: _voice_dict(vb)},
                       "wav": str(out / "audio" / name / f"{utt}.wav")}
                jobs.append(job)
                dirs.setdefault(name, []).append(job)

    # written only once the plan stands: a bad pair or language must leave nothing behind
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "tts.json") as f:
        json.dump(tts_info, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")

    # 2. synthesise (resumable), in parallel when asked
    t0 = time.time()
    metas: Dict[str, dict] = {}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc="synthesising", unit="utt")
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
    wall = time.time() - t0
    synthesised = [m for m in metas.values() if not m.get("skipped")]
    audio_s = sum(m["duration"] for m in synthesised)

    # 3. data dirs
    result: Dict[str, Path] = {}
    for name, djobs in dirs.items():
        utts = []
        for j in djobs:
            m = metas[j["utt"]]
            tts_desc = " ".join(f"{l}:{tts.Voice(**v).id}" for l, v in sorted(j["voices"].items()))
            utts.append(Utt(utt_id=j["utt"], speaker=j["spk"], text=j["text"], audio=j["wav"],
                            category=j["pair"], lang=j["matrix"], duration=m["duration"],
                            extra={"kind": j["kind"], "tts": tts_desc, "source": j["source"]}))
        d = write_data_dir(out / name, utts, info={"corpus": "synthetic", "dir": name, "seed": seed,
                                                  "utts_per_pair": utts_per_pair, "split": list(split),
                                                  "test_only_pairs": list(test_only_pairs), "tts": tts_info})
        with atomic_open(d / "cs_segments.jsonl") as f:
            for j in sorted(djobs, key=lambda j: j["utt"]):
                m = metas[j["utt"]]
                f.write(json.dumps({"utt": j["utt"], "segments": m["segments"]}, ensure_ascii=False) + "\n")
        result[name] = d

    # 4. text-only CS corpus per pair (train items only: no test sentences leak)
    for pair in pairs:
        if pair in test_only_pairs or text_per_pair <= 0:
            continue
        lines = generate_cs_text(pair, text_per_pair, seed=seed, inv=inv)
        with atomic_open(out / "cs_text" / f"{pair}.txt") as f:
            f.write("\n".join(lines) + "\n")
    stats = {"utterances": len(jobs), "synthesised": len(synthesised), "skipped": len(jobs) - len(synthesised),
             "audio_seconds": round(audio_s, 1), "wall_seconds": round(wall, 1),
             "realtime_factor": round(audio_s / wall, 1) if wall > 0 and audio_s else None, "nj": nj}
    with atomic_open(out / "log" / "synthesis_stats.json") as f:
        json.dump(stats, f, indent=1)
        f.write("\n")
    return result
