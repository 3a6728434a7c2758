"""Corpus preparation: Kaldi-style data dirs for code-switched (CS) ASR.

One module per corpus, each with `prepare_<corpus>(corpus_dir, output_dir, ...)`:
`aihub_koen`, `jecs`, `unicom`, `csfleurs`, `koja`, `kode`, `hike`, plus the
offline synthetic CS corpus (`synthetic.prepare_synthetic`) and the validator /
formatter (`validate`). Every data dir holds wav.scp, text, utt2spk, spk2utt,
utt2category (language pair, e.g. `ko-en`), utt2lang (matrix language), utt2dur and
segments where needed.

CLI: `cs-prepare <corpus|synthetic|cs-text|validate> ...` (see `cs-prepare -h`).
Importing this package is light: no torch, no espnet2.
"""
from __future__ import annotations

import importlib
from typing import Callable

#: corpus name -> the language pair(s) it covers (CLI value == module name == key)
CORPORA = {
    "aihub_koen": "ko-en",
    "jecs": "ja-en",
    "unicom": "de-en",
    "csfleurs": "X-en",
    "koja": "ko-ja",
    "kode": "ko-de",
    "hike": "ko-en",
}


def get_preparer(name: str) -> Callable:
    """Return `prepare_<name>` from `espnet_cs_ext.data.<name>` (imported on demand)."""
    if name not in CORPORA:
        from ..utils.errors import CsExtError
        raise CsExtError(f"unknown corpus '{name}' (known: {', '.join(sorted(CORPORA))})")
    mod = importlib.import_module(f"{__name__}.{name}")
    return getattr(mod, f"prepare_{name}")


__all__ = ["CORPORA", "get_preparer"]
