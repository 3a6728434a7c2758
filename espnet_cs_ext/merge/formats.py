"""Checkpoint I/O for merging: three namings, two containers, one canonical naming.

Canonical tensor names are openai-whisper's (`encoder.blocks.0.attn.query.weight`).
Each input is described by a *container* and a *naming*:

    container    safetensors (read lazily with positional reads; written incrementally)
                 torch       (torch.load(weights_only=True, mmap=True): pickled code is refused)
    naming       whisper     openai-whisper `{"dims", "model_state_dict"}` .pt
                 espnet      ESPnet model state dict: `encoder.encoders.*`, `decoder.decoders.*`
                 hf          transformers WhisperForConditionalGeneration (`model.encoder.layers.*`)

Both are detected from the file's bytes and key names, not its extension.
`to_canonical(naming, key)` / `from_canonical(naming, name)` map names. Keys that
are not Whisper tensors (ESPnet `ctc.*`, `normalize.*`; HF `proj_out.weight`, the
output projection tied to `embed_tokens`) become *extra* names `espnet:<key>` /
`hf:<key>`; only the same naming can write them back.

HF keeps q/k/v split exactly like openai-whisper, so the mapping is one-to-one;
neither has a key bias (`attn.key` / `k_proj` have no `.bias`).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import re
import struct
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch

from ..utils.errors import CsExtError

log = logging.getLogger(__name__)

NAMINGS = ("whisper", "espnet", "hf")
#: default container per naming when writing a new format
DEFAULT_CONTAINER = {"whisper": "torch", "espnet": "torch", "hf": "safetensors"}

# ---------------------------------------------------------------- key mapping

_HF_BLOCK = {
    "attn.query": "self_attn.q_proj", "attn.key": "self_attn.k_proj",
    "attn.value": "self_attn.v_proj", "attn.out": "self_attn.out_proj",
    "attn_ln": "self_attn_layer_norm",
    "cross_attn.query": "encoder_attn.q_proj", "cross_attn.key": "encoder_attn.k_proj",
    "cross_attn.value": "encoder_attn.v_proj", "cross_attn.out": "encoder_attn.out_proj",
    "cross_attn_ln": "encoder_attn_layer_norm",
    "mlp.0": "fc1", "mlp.2": "fc2", "mlp_ln": "final_layer_norm",
}
_HF_BLOCK_INV = {v: k for k, v in _HF_BLOCK.items()}
_HF_TOP = {
    "encoder.conv1.weight": "encoder.conv1.weight", "encoder.conv1.bias": "encoder.conv1.bias",
    "encoder.conv2.weight": "encoder.conv2.weight", "encoder.conv2.bias": "encoder.conv2.bias",
    "encoder.positional_embedding": "encoder.embed_positions.weight",
    "encoder.ln_post.weight": "encoder.layer_norm.weight", "encoder.ln_post.bias": "encoder.layer_norm.bias",
    "decoder.token_embedding.weight": "decoder.embed_tokens.weight",
    "decoder.positional_embedding": "decoder.embed_positions.weight",
    "decoder.ln.weight": "decoder.layer_norm.weight", "decoder.ln.bias": "decoder.layer_norm.bias",
}
_HF_TOP_INV = {v: k for k, v in _HF_TOP.items()}
_WHISPER_BLOCK_RE = re.compile(r"^(encoder|decoder)\.blocks\.(\d+)\.(.+)\.(weight|bias)$")
_HF_BLOCK_RE = re.compile(r"^(encoder|decoder)\.layers\.(\d+)\.(.+)\.(weight|bias)$")
HF_PREFIX = "model."


def is_extra(name: str) -> bool:
    """Extra names (`espnet:...`, `hf:...`) are not Whisper tensors."""
    return ":" in name


def to_canonical(naming: str, key: str, hf_prefix: str = HF_PREFIX) -> str:
    """Map a key of `naming` to the canonical (openai-whisper) name or an extra name."""
    if naming == "whisper":
        return key
    if naming == "espnet":
        for pre, canon in (("encoder.encoders.", "encoder."), ("decoder.decoders.", "decoder.")):
            if key.startswith(pre):
                return canon + key[len(pre):]
        return "espnet:" + key
    if naming == "hf":
        if not key.startswith(hf_prefix):
            return "hf:" + key
        k = key[len(hf_prefix):]
        if k in _HF_TOP_INV:
            return _HF_TOP_INV[k]
        m = _HF_BLOCK_RE.match(k)
        if m and m.group(3) in _HF_BLOCK_INV:
            return f"{m.group(1)}.blocks.{m.group(2)}.{_HF_BLOCK_INV[m.group(3)]}.{m.group(4)}"
        return "hf:" + key
    raise ValueError(f"unknown naming {naming!r}")


def from_canonical(naming: str, name: str, hf_prefix: str = HF_PREFIX) -> Optional[str]:
    """Map a canonical name to `naming`'s key; None for an extra name `naming` cannot hold.

    Raises CsExtError for a Whisper name that has no counterpart in `naming`.
    """
    if is_extra(name):
        fmt, _, key = name.partition(":")
        return key if fmt == naming else None
    if naming == "whisper":
        return name
    if naming == "espnet":
        part, _, rest = name.partition(".")
        return f"{part}.{part}s.{rest}"
    if naming == "hf":
        if name in _HF_TOP:
            return hf_prefix + _HF_TOP[name]
        m = _WHISPER_BLOCK_RE.match(name)
        if m and m.group(3) in _HF_BLOCK:
            return f"{hf_prefix}{m.group(1)}.layers.{m.group(2)}.{_HF_BLOCK[m.group(3)]}.{m.group(4)}"
        raise CsExtError(f"tensor {name!r} has no Hugging Face Whisper name")
    raise ValueError(f"unknown naming {naming!r}")


def detect_naming(keys: Iterable[str], path: str = "?") -> Tuple[str, str]:
    """(naming, hf_prefix) from the key names of a state dict."""
    keys = list(keys)
    if any(k.startswith(("encoder.encoders.", "decoder.decoders.")) for k in keys):
        return "espnet", ""
    if any(_WHISPER_BLOCK_RE.match(k) or k == "decoder.token_embedding.weight" for k in keys):
        return "whisper", ""
    for prefix in (HF_PREFIX, ""):
        if any(k.startswith(prefix) and (_HF_BLOCK_RE.match(k[len(prefix):]) or
                                         k[len(prefix):] == "decoder.embed_tokens.weight") for k in keys):
            return "hf", prefix
    sample = ", ".join(keys[:5])
    raise CsExtError(f"{path}: cannot tell the checkpoint naming (expected openai-whisper "
                     f"'encoder.blocks.N.*', ESPnet 'encoder.encoders.*' or Hugging Face "
                     f"'model.encoder.layers.N.*' keys); first keys: {sample}")


# ---------------------------------------------------------------- safetensors container

_ST_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
_ST_NAMES = {v: k for k, v in _ST_DTYPES.items()}


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    shape: Tuple[int, ...]
    dtype: torch.dtype

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


def _as_bytes(t: torch.Tensor) -> memoryview:
    t = t.detach().contiguous().reshape(-1)
    return memoryview(t.view(torch.uint8).numpy())


def _read_safetensors_header(path: str) -> Tuple[Dict[str, Any], int]:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CsExtError(f"{path}: truncated safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, 100 << 20):
            raise CsExtError(f"{path}: bad safetensors header length {n}")
        try:
            header = json.loads(f.read(n))
        except ValueError as e:
            raise CsExtError(f"{path}: unreadable safetensors header: {e}") from None
    return header, 8 + n


class Checkpoint:
    """An opened input: canonical names -> TensorInfo, read tensor by tensor.

    Attributes: path, container, naming, hf_prefix, infos (canonical -> TensorInfo,
    in file order), raw (canonical -> key in the file), meta (whisper `dims` or
    safetensors `__metadata__`).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        if not os.path.isfile(self.path):
            raise CsExtError(f"checkpoint not found: {self.path}")
        with open(self.path, "rb") as f:
            magic = f.read(9)
        self.meta: Dict[str, Any] = {}
        self._state: Optional[Dict[str, torch.Tensor]] = None
        self._fd: Optional[int] = None
        if len(magic) == 9 and magic[8:9] == b"{":
            self.container = "safetensors"
            raw_infos = self._open_safetensors()
        else:
            self.container = "torch"
            raw_infos = self._open_torch()
        self.naming, self.hf_prefix = detect_naming(raw_infos, self.path)
        self.infos: Dict[str, TensorInfo] = {}
        self.raw: Dict[str, str] = {}
        for key, info in raw_infos.items():
            name = to_canonical(self.naming, key, self.hf_prefix)
            self.infos[name] = info
            self.raw[name] = key

    # -- safetensors
    def _open_safetensors(self) -> Dict[str, TensorInfo]:
        header, data_start = _read_safetensors_header(self.path)
        size = os.path.getsize(self.path)
        self.meta = dict(header.pop("__metadata__", None) or {})
        entries = []
        for key, e in header.items():
            try:
                dtype = _ST_DTYPES[e["dtype"]]
                shape = tuple(int(s) for s in e["shape"])
                begin, end = (int(x) for x in e["data_offsets"])
            except (KeyError, TypeError, ValueError):
                raise CsExtError(f"{self.path}: tensor {key!r}: unsupported or malformed entry {e}") from None
            info = TensorInfo(shape, dtype)
            nbytes = info.numel * torch.empty((), dtype=dtype).element_size()
            if end - begin != nbytes or data_start + end > size or begin < 0:
                raise CsExtError(f"{self.path}: tensor {key!r}: data offsets {begin}-{end} do not "
                                 f"match its shape {shape} / file size")
            entries.append((begin, key, info))
        entries.sort(key=lambda x: x[0])
        self._offsets = {key: data_start + begin for begin, key, _ in entries}
        self._fd = os.open(self.path, os.O_RDONLY)
        return {key: info for _, key, info in entries}

    # -- torch pickle (weights only)
    def _open_torch(self) -> Dict[str, TensorInfo]:
        obj = load_torch_weights_only(self.path)
        if not isinstance(obj, dict):
            raise CsExtError(f"{self.path}: expected a state dict or an openai-whisper checkpoint, "
                             f"got {type(obj).__name__}")
        if "model_state_dict" in obj:
            state = obj["model_state_dict"]
            self.meta = {k: v for k, v in obj.items() if k != "model_state_dict"}
        else:
            state = obj
        if not isinstance(state, dict):
            raise CsExtError(f"{self.path}: model_state_dict is {type(state).__name__}, not a dict")
        bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
        if bad:
            raise CsExtError(f"{self.path}: not a state dict: entries {bad[:5]} are not tensors "
                             f"(top-level keys: {list(obj)[:8]})")
        self._state = state
        return {k: TensorInfo(tuple(v.shape), v.dtype) for k, v in state.items()}

    def read(self, name: str, buffer: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The tensor `name` (canonical) as stored (dtype unchanged).

        For safetensors inputs the bytes are read into `buffer` (a flat uint8 tensor
        at least as large; reused by the caller to avoid page faults) or a new tensor.
        Torch inputs return the memory-mapped tensor. Reads are positional, so
        different threads may read different tensors at once.
        """
        key = self.raw[name]
        if self._state is not None:
            return self._state[key]
        info = self.infos[name]
        nbytes = info.numel * torch.empty((), dtype=info.dtype).element_size()
        if buffer is not None and buffer.numel() >= nbytes:
            out = buffer[:nbytes].view(info.dtype).view(info.shape)
        else:
            out = torch.empty(info.shape, dtype=info.dtype)
        buf = _as_bytes(out)
        pos, done = self._offsets[key], 0
        while done < len(buf):
            n = os.preadv(self._fd, [buf[done:]], pos + done)
            if n <= 0:
                raise CsExtError(f"{self.path}: unexpected end of file reading {key!r}")
            done += n
        return out

    def whisper_dims(self) -> Optional[Dict[str, int]]:
        dims = self.meta.get("dims") if self.naming == "whisper" else None
        return dict(dims) if isinstance(dims, dict) else None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._state = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"Checkpoint({self.path!r}, {self.container}/{self.naming}, {len(self.infos)} tensors)"


def load_torch_weights_only(path: str) -> Any:
    """torch.load that never runs pickled code: weights_only=True, mmap when possible."""
    def refuse(e: Exception) -> CsExtError:
        if "Weights only load failed" in str(e):
            first = next((ln for ln in str(e).splitlines() if "Unsupported" in ln or "GLOBAL" in ln),
                         str(e).splitlines()[0])
            return CsExtError(f"{path}: refusing to load: it contains pickled objects other than tensors "
                              f"and plain containers (possibly code); torch.load(weights_only=True) said: "
                              f"{first.split(' Please use')[0].strip()}")
        return CsExtError(f"{path}: cannot read as a PyTorch or safetensors checkpoint "
                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as e:
        raise refuse(e) from None
    except RuntimeError:
        pass  # legacy (non-zip) serialization cannot be memory-mapped; retry without mmap
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is a user error here
        raise refuse(e) from None


# ---------------------------------------------------------------- writers

def whisper_dims_from_shapes(infos: Dict[str, TensorInfo], n_head: Optional[Tuple[int, int]] = None) -> Dict[str, int]:
    """openai-whisper ModelDimensions from canonical tensor shapes.

    Head counts cannot be read from shapes; without `n_head` they follow the
    official models (head size 64: tiny 6, base 8, small 12, medium 16, large 20).
    """
    def n_layers(part):
        idx = {int(m.group(2)) for n in infos if (m := _WHISPER_BLOCK_RE.match(n)) and m.group(1) == part}
        return max(idx) + 1 if idx else 0

    try:
        conv1 = infos["encoder.conv1.weight"].shape
        a_state, n_mels = conv1[0], conv1[1]
        t_vocab, t_state = infos["decoder.token_embedding.weight"].shape
        dims = dict(
            n_mels=n_mels, n_audio_ctx=infos["encoder.positional_embedding"].shape[0],
            n_audio_state=a_state, n_audio_head=max(1, a_state // 64), n_audio_layer=n_layers("encoder"),
            n_vocab=t_vocab, n_text_ctx=infos["decoder.positional_embedding"].shape[0],
            n_text_state=t_state, n_text_head=max(1, t_state // 64), n_text_layer=n_layers("decoder"),
        )
    except KeyError as e:
        raise CsExtError(f"cannot write an openai-whisper checkpoint: tensor {e.args[0]!r} is missing") from None
    if n_head is not None:
        dims["n_audio_head"], dims["n_text_head"] = n_head
    return dims


def hf_head_counts(path: str) -> Optional[Tuple[int, int]]:
    """(encoder, decoder) attention heads from a config.json beside an HF checkpoint."""
    cfg = Path(path).with_name("config.json")
    try:
        c = json.loads(cfg.read_text())
        return int(c["encoder_attention_heads"]), int(c["decoder_attention_heads"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class SafetensorsWriter:
    """Writes a safetensors file tensor by tensor: header first (all shapes are known),
    then each tensor's bytes in the declared order. Nothing is held in memory."""

    def __init__(self, path: str | os.PathLike, entries: List[Tuple[str, Tuple[int, ...], torch.dtype]],
                 metadata: Optional[Dict[str, str]] = None):
        header: Dict[str, Any] = {}
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        offset = 0
        self._order = []
        for key, shape, dtype in entries:
            n = TensorInfo(tuple(shape), dtype).numel * torch.empty((), dtype=dtype).element_size()
            header[key] = {"dtype": _ST_NAMES[dtype], "shape": list(shape), "data_offsets": [offset, offset + n]}
            self._order.append((key, tuple(shape), dtype, n))
            offset += n
        blob = json.dumps(header, separators=(",", ":")).encode()
        blob += b" " * (-len(blob) % 8)
        self._f = open(path, "wb")
        self._f.write(struct.pack("<Q", len(blob)) + blob)
        self._next = 0

    def write(self, key: str, tensor: torch.Tensor) -> None:
        want_key, shape, dtype, n = self._order[self._next]
        if key != want_key or tuple(tensor.shape) != shape or tensor.dtype != dtype:
            raise RuntimeError(f"SafetensorsWriter: expected {want_key} {shape} {dtype}, "
                               f"got {key} {tuple(tensor.shape)} {tensor.dtype}")
        self._f.write(_as_bytes(tensor))
        self._next += 1

    def close(self) -> None:
        if self._next != len(self._order):
            raise RuntimeError(f"SafetensorsWriter: {len(self._order) - self._next} tensors not written")
        self._f.close()

    def abort(self) -> None:
        self._f.close()


class TorchWriter:
    """Writes a torch `.pt`/`.pth` tensor by tensor (utils.torchzip: deterministic bytes,
    nothing but names and shapes held); `{"dims", "model_state_dict"}` for the whisper
    naming, a flat state dict otherwise."""

    def __init__(self, path: str | os.PathLike, naming: str, dims: Optional[Dict[str, int]] = None):
        from ..utils.torchzip import TorchZipWriter

        self.naming, self.dims = naming, dims
        self._zip = TorchZipWriter(path)
        self.refs: Dict[str, Any] = {}

    def write(self, key: str, tensor: torch.Tensor) -> None:
        self.refs[key] = self._zip.add(tensor)

    def close(self) -> None:
        obj: Any = self.refs
        if self.naming == "whisper":
            obj = {"dims": self.dims, "model_state_dict": self.refs}
        self._zip.close(obj)
        self.refs = {}

    def abort(self) -> None:
        self._zip.abort()
        self.refs = {}


def save_state_dict(state: Dict[str, torch.Tensor], path: str | os.PathLike, naming: str = "whisper",
                    container: Optional[str] = None, dims: Optional[Dict[str, int]] = None,
                    hf_prefix: str = HF_PREFIX) -> str:
    """Write a canonical-named state dict in any naming/container (atomically).

    Used for conversions and test fixtures; extra names of other namings are dropped.
    """
    from ..utils.atomic import atomic_path

    container = container or DEFAULT_CONTAINER[naming]
    items = [(from_canonical(naming, k, hf_prefix), v) for k, v in state.items()]
    items = [(k, v) for k, v in items if k is not None]
    if naming == "whisper" and container == "torch" and dims is None:
        dims = whisper_dims_from_shapes({k: TensorInfo(tuple(v.shape), v.dtype) for k, v in state.items()})
    with atomic_path(path) as tmp:
        if container == "safetensors":
            w = SafetensorsWriter(tmp, [(k, tuple(v.shape), v.dtype) for k, v in items], {"format": "pt"})
        else:
            w = TorchWriter(tmp, naming, dims)
        try:
            for k, v in items:
                w.write(k, v)
            w.close()
        except BaseException:
            w.abort()
            raise
    return str(path)


def load_state_dict(path: str | os.PathLike) -> Dict[str, torch.Tensor]:
    """Whole checkpoint as a canonical-named state dict (for tests and small models)."""
    with Checkpoint(path) as ck:
        return {n: ck.read(n).clone() for n in ck.infos}
