"""Mixed Error Rate (MER) for code-switched ASR in any language pair.

MER = word-level edit distance over *mixed* tokens: one token per character in
scripts written without spaces (Hangul, kana, Han, Bopomofo, Thai, Lao, Khmer,
Myanmar), one per whitespace word elsewhere, a mixed run such as ``iPhone을``
split at the script boundary. The full rules are in `tokenize` (tokens and
script labels) and `normalize` (text normalisation); `presets` names the
combinations users select with one flag.

Run it
------
    cs-score --ref data/test/text --hyp exp/asr/decode_test/text --out exp/asr/decode_test/score_mer
    cs-score ... --preset hike --loanwords data/test_hike/utt2loanwords  # HiKE's published rules
    cs-score --list-presets

writes ``result.txt`` (sclite-style summary; its ``Sum/Avg`` row is what ESPnet's
show_asr_result.sh greps), ``result.json`` and ``per_utt.tsv``. The headline MER
comes with ``ci95: [lo, hi]`` (seeded utterance-level bootstrap, `bootstrap`);
``--baseline-hyp B`` adds ``vs_baseline: {delta, ci95, p_improve}`` (paired, the same
resamples).

Python API
----------
``score_files(ref, hyp, out_dir, preset="default", baseline_hyp=None, replications=1000, seed=0) -> dict``
    Score two Kaldi ``text`` files (``<utt-id> <transcript>`` per line), write the
    three outputs to ``out_dir`` atomically, return the result.json dict.
    Reference utterances without a hypothesis are full deletions (listed);
    hypothesis ids absent from the reference, non-UTF-8 input, duplicate ids and
    lines without an id raise `CsExtError` naming the file (and line).
``score_pairs(refs, hyps, preset="default") -> dict``
    The same figures for two parallel lists of strings, nothing written.
``MerAccumulator(preset="default", keep_utts=True)``
    ``.add(ref, hyp, utt_id=None) -> UttResult``, ``.add_many(refs, hyps, utt_ids=None)``,
    ``.summary() -> dict``; what the two functions above are built on.
``MerReporter(preset)`` / ``compute_mer(refs, hyps, preset) -> dict``
    The hook for ESPnet-side inference or validation (see `hook`).
``PRESETS``, ``get_preset(name)``, ``Preset``; ``NORMALIZERS``, ``TOKENIZERS``.

Figures
-------
``corpus_mer``  = (S + D + I summed over all utterances) / reference tokens.
``mean_utt_mer`` = mean over utterances with a non-empty reference of (S+D+I)/N
(``hike`` presets: over all utterances, an empty reference scoring its insertions).
``mer`` is whichever the preset calls its headline (``default``: corpus;
``hike``: mean of utterances, as HiKE reports). Rates in result.json are
fractions; result.txt shows percentages. Per-script breakdown: hits,
substitutions and deletions are charged to the reference token's script,
insertions to the hypothesis token's script, so the rows add up to the total.
The breakdown is by *script*, not language: it separates Korean (hangul),
Japanese (kana + han), Chinese (han) and Thai from English or German (latin),
but cannot split de-en, whose two languages share the Latin script; for that,
`per_language` charges tokens to languages where the reference dir has
``cs_segments.jsonl`` (result.json ``per_language``).
Empty references (after normalisation) are counted and listed; their
insertions count in the corpus figure, they are left out of the mean (but for
the ``hike`` presets), and no
rate ever divides by zero (an undefined rate is ``null``/``n/a``).

Alignment is rapidfuzz's Levenshtein ``editops``, the call jiwer 4 makes, so on
space-separated text the S/D/I counts equal jiwer's (see `mer` for one caveat).

Importing this package does not import torch or espnet2.
"""
from .hook import MerReporter, compute_mer
from .mer import MerAccumulator, UttResult, score_pairs
from .normalize import NORMALIZERS, Compose
from .presets import PRESETS, Preset, get_preset
from .report import score_files, score_tables
from .tokenize import TOKENIZERS, script_of, script_tokens

__all__ = [
    "score_files", "score_tables", "score_pairs", "MerAccumulator", "UttResult", "MerReporter",
    "compute_mer", "PRESETS", "Preset", "get_preset", "NORMALIZERS", "Compose", "TOKENIZERS",
    "script_of", "script_tokens",
]
