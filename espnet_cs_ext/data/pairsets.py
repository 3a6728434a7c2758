"""Name prepared data dirs by language pair, the names the recipe trains and tests on.

Every prepared dir is `<split>_<source>` (`train_aihub_koen`, `test_koja`,
`test_csfleurs_read_de-en`, `train_synthetic_ko-en`, ...). `make_pair_sets(datadir)`
then writes `<split>_<pair>` (e.g. `train_ko-en`, `test_ko-ja`) for every split and
pair, copied (tables only; audio paths are absolute) from the best source:

    test:        csfleurs, koja, kode  >  aihub_koen, jecs, unicom  >  hike  >  synthetic
    train / dev: aihub_koen, jecs, unicom  >  csfleurs  >  synthetic

so the paper's protocol (train on AI-Hub / JECS / UniCoM, test seen pairs on
CS-FLEURS READ and unseen pairs on the ko-ja / ko-de sets) comes out when db.sh has
the corpora, and the synthetic corpus fills whatever is missing. Each alias records
its source in info.json (`alias_of`); `pair_sets.txt` lists `<alias> <source>`.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Dict, Tuple

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError
from ..utils.kaldi import read_table

RANK = {
    "test": {"csfleurs": 0, "koja": 0, "kode": 0, "aihub_koen": 1, "jecs": 1, "unicom": 1, "hike": 2, "synthetic": 9},
    "train": {"aihub_koen": 0, "jecs": 0, "unicom": 0, "csfleurs": 1, "synthetic": 9},
}
RANK["dev"] = RANK["train"]


def _source_of(d: Path) -> Tuple[str, str]:
    """(split, corpus) of a prepared dir from its name `<split>_<corpus>[_...]`."""
    split, _, rest = d.name.partition("_")
    return split, rest.split("_")[0] if not rest.startswith("aihub_koen") else "aihub_koen"


def make_pair_sets(datadir: str | os.PathLike) -> Dict[str, str]:
    """Create/refresh `<split>_<pair>` aliases in `datadir`; return {alias: source dir name}."""
    root = Path(datadir)
    best: Dict[str, Tuple[int, str]] = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and (p / "utt2category").exists()):
        info = {}
        if (d / "info.json").exists():
            info = json.loads((d / "info.json").read_text(encoding="utf-8"))
        if "alias_of" in info or "combined_from" in info:
            continue
        if (d / "task").exists():  # ST / monolingual sets (data.covost2, synthetic.monolingual): named already
            continue
        split, corpus = _source_of(d)
        if split not in RANK:
            continue
        pairs = set(read_table(d / "utt2category").values())
        if len(pairs) != 1:
            continue
        pair = pairs.pop()
        rank = RANK[split].get(corpus, 5)
        alias = f"{split}_{pair}"
        if alias not in best or (rank, d.name) < best[alias]:
            best[alias] = (rank, d.name)
    for alias, (_, src) in sorted(best.items()):
        target = root / alias
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        for f in (root / src).iterdir():
            if f.is_file() and not f.name.startswith("."):
                shutil.copy2(f, target / f.name)
        with atomic_open(target / "info.json") as fh:
            json.dump({"alias_of": src}, fh, indent=1)
            fh.write("\n")
    if not best:
        raise CsExtError(f"{root}: no prepared data dirs (<split>_<source> with utt2category) to name by pair")
    with atomic_open(root / "pair_sets.txt") as fh:
        fh.writelines(f"{a} {s}\n" for a, (_, s) in sorted(best.items()))
    return {a: s for a, (_, s) in best.items()}
