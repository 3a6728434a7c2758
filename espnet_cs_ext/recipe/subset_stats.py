"""Shape statistics of a data subset, cut from a pooled directory's collect_stats output.

ESPnet's `--collect_stats` pass writes, per split, one `<key>_shape` file per input
(`uttid dims`) that the batch samplers read. The recipe trains per-pair systems on
`train_<pair>` and the pooled ERM/DG systems on `train_all`, whose utterances are the
same entries (same feature ark offsets, same text and prompt). Each collect_stats run
costs an espnet2 import (~25 s here), so a subset's shapes are cut from the pooled run
when every one of its entries is identical there; otherwise the caller runs collect_stats.

Only the shape files and the key lists are written. The feature mean/variance files
(`*_stats.npz`) describe the pooled data, so they are left out: Whisper configs use
`normalize: null` and never read them.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Dict, Optional, Sequence

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError

# the per-utterance files whose lines must agree for two entries to be "the same utterance"
ENTRY_FILES = ("feats.scp", "wav.scp", "text", "prompt")


def _table(path: Path) -> Dict[str, str]:
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, rest = line.rstrip("\n").partition(" ")
            if key:
                table[key] = rest
    return table


def mismatch(subset: Path, pooled: Path) -> Optional[str]:
    """Why `subset`'s entries are not a verbatim subset of `pooled`'s (None when they are)."""
    compared = 0
    for name in ENTRY_FILES:
        sub_f, pool_f = subset / name, pooled / name
        if not sub_f.is_file() and not pool_f.is_file():
            continue
        if not (sub_f.is_file() and pool_f.is_file()):
            return f"{name} exists in only one of {subset}, {pooled}"
        sub_t, pool_t = _table(sub_f), _table(pool_f)
        for key, value in sub_t.items():
            if pool_t.get(key) != value:
                return f"{sub_f}: entry {key} differs from (or is missing in) {pool_f}"
        compared += 1
    return None if compared else f"{subset}: none of {', '.join(ENTRY_FILES)}"


def cut_stats(pooled_stats: Path, splits: Sequence[tuple], out: Path) -> None:
    """Write out/<split>/*_shape for each (split, subset_dir, pooled_dir) from pooled_stats/<split>/.

    Raises CsExtError (naming the files) when a subset entry differs from the pooled dir
    or a shape is missing; nothing is written then.
    """
    for split, subset, pooled in splits:
        why = mismatch(Path(subset), Path(pooled))
        if why:
            raise CsExtError(f"cannot reuse {pooled_stats}/{split} for {subset}: {why}")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for split, subset, _ in splits:
        src, dst = Path(pooled_stats) / split, tmp / split
        dst.mkdir(parents=True)
        keys = list(_table(Path(subset) / "text"))
        shapes = sorted(src.glob("*_shape"))
        if not shapes:
            raise CsExtError(f"{src}: no *_shape files (collect_stats output expected)")
        for shape in shapes:
            table = _table(shape)
            missing = [k for k in keys if k not in table]
            if missing:
                raise CsExtError(f"{shape}: no shape for {len(missing)} utterance(s) of {subset}, e.g. {missing[0]}")
            with atomic_open(dst / shape.name, "w") as f:
                f.writelines(f"{k} {table[k]}\n" for k in keys)
        for name in ("batch_keys", "stats_keys"):
            if (src / name).is_file():
                shutil.copyfile(src / name, dst / name)
    out.mkdir(parents=True, exist_ok=True)
    for split, _, _ in splits:  # replace split dirs one by one (out may hold logs/markers)
        final = out / split
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp / split, final)
    shutil.rmtree(tmp, ignore_errors=True)
