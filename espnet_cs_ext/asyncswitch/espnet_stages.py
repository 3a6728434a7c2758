"""AsyncSwitch stages B and C through real ESPnet training (`espnet_cs_ext.bin.asr_train`).

Each stage is one ESPnet run started from the previous stage's weights with
`--init_param`; stage B adds `--freeze_param` with the prefixes that leave only the
cross-attention trainable (computed by `groups.freeze_prefixes` from the names of the
init checkpoint, which are the ESPnet model's names). After training, the output is
compared with the init checkpoint: a tensor that changed outside the stage's groups is
an error (it would mean the freeze list missed something).

ESPnet runs in a subprocess (its import alone costs ~25 s and it configures logging
globally); its log goes to `<out>/train.log`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError
from .groups import GROUPS, freeze_prefixes, group_of, named_sizes, summary, trainable_names

ENTRY = "espnet_cs_ext.bin.asr_train"


def state_sizes(path: str | Path) -> Dict[str, int]:
    """{name: numel} of a state dict file, read with weights_only (no code runs)."""
    from ..whisper.checkpoint import load_torch_weights_only

    obj = load_torch_weights_only(str(path))
    if not isinstance(obj, dict) or not obj:
        raise CsExtError(f"{path}: expected an ESPnet model state dict")
    return {k: int(v.numel()) for k, v in obj.items()}


def freeze_args(init_param: str | Path, stage: str) -> List[str]:
    """`--freeze_param P...` for `stage` over the names in `init_param` ([] for stage C)."""
    sizes = state_sizes(init_param)
    names = [n for n, _ in named_sizes(sizes)]  # parameters only: buffers are never trained
    prefixes = freeze_prefixes(names, trainable_names(sizes, stage))
    return ["--freeze_param", *prefixes] if prefixes else []


def run_logged(cmd: Sequence[str], log_path: Path, what: str) -> None:
    """Run `cmd`, all output to `log_path`; a failure names the log and quotes its tail."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONWARNINGS=os.environ.get("PYTHONWARNINGS", "ignore"))
    with open(log_path, "a", encoding="utf-8") as f:
        f.write("# " + " ".join(cmd) + "\n")
        f.flush()
        rc = subprocess.run(list(cmd), stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise CsExtError(f"{what} failed (exit {rc}); see {log_path}:\n" + "\n".join(tail))


def collect_stats(config: str, espnet_args: Sequence[str], shape_files: Sequence[str], stats_dir: Path) -> None:
    """ESPnet's --collect_stats pass (speech/text shapes for batching)."""
    train_shape, valid_shape = shape_files
    cmd = [sys.executable, "-m", ENTRY, *espnet_args, "--config", config, "--collect_stats", "true",
           "--output_dir", str(stats_dir), "--train_shape_file", train_shape,
           "--valid_shape_file", valid_shape]
    run_logged(cmd, stats_dir.with_suffix(".log"), f"ESPnet collect_stats into {stats_dir}")


def changed_tensors(before: str | Path, after: str | Path) -> List[str]:
    """Names whose values differ between two ESPnet state dicts (same key set required)."""
    import torch

    from ..whisper.checkpoint import load_torch_weights_only

    a, b = load_torch_weights_only(str(before)), load_torch_weights_only(str(after))
    missing = sorted(set(a) ^ set(b))
    if missing:
        raise CsExtError(f"{after}: tensor names differ from {before}: {missing[:5]}")
    return [k for k in a if not torch.equal(a[k].float(), b[k].float())]


def run_espnet_stage(stage: str, config: str, init_param: str | Path, out_dir: Path,
                     espnet_args: Sequence[str], stats_dir: Path,
                     echo: Callable[[str], None]) -> Path:
    """Train stage B or C into `out_dir` (resumable: ESPnet --resume true); return latest.pth."""
    sizes = state_sizes(init_param)
    table = summary(sizes, stage)
    echo(table)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / "trainable.txt") as f:
        f.write(table + "\n")
    cmd = [sys.executable, "-m", ENTRY, *espnet_args, "--config", config,
           "--init_param", str(init_param), "--output_dir", str(out_dir), "--resume", "true",
           "--train_shape_file", str(stats_dir / "train" / "speech_shape"),
           "--valid_shape_file", str(stats_dir / "valid" / "speech_shape"),
           *freeze_args(init_param, stage)]
    run_logged(cmd, out_dir / "train.log", f"AsyncSwitch stage {stage} (ESPnet training)")
    latest = out_dir / "latest.pth"
    if not latest.is_file():
        raise CsExtError(f"stage {stage}: ESPnet left no {latest}; see {out_dir / 'train.log'}")
    changed = changed_tensors(init_param, latest)
    allowed = set(trainable_names(sizes, stage))
    wrong = [n for n in changed if n not in allowed]
    if wrong:
        raise CsExtError(f"stage {stage}: tensors outside its groups changed: {wrong[:5]} "
                         f"({len(wrong)} in all); the freeze list missed them")
    per_group: Dict[str, int] = {}
    for n in changed:
        per_group[group_of(n)] = per_group.get(group_of(n), 0) + 1
    echo(f"stage {stage}: {len(changed)} tensors changed: "
         + ", ".join(f"{g} {per_group[g]}" for g in GROUPS if g in per_group))
    return latest
