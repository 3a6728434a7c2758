"""The one place that reads and writes Whisper checkpoints in any format.

Every checkpoint this package meets becomes `(ModelDimensions, state dict)` with
openai-whisper's tensor names (*canonical* names, `encoder.blocks.0.attn.query.weight`):

    container    safetensors (read lazily with positional reads)
                 torch       (torch.load(weights_only=True, mmap=True): pickled code is refused)
                 CTranslate2 model.bin / its directory (whisper/ct2.py, via the resolver's cache)
    naming       whisper     openai-whisper `{"dims", "model_state_dict"}` .pt
                 espnet      ESPnet model state dict: `encoder.encoders.*`, `decoder.decoders.*`
                 hf          transformers WhisperForConditionalGeneration (`model.encoder.layers.*`)

Both are detected from the file's bytes and key names, not its extension.

    Checkpoint(path)              lazy reader: canonical name -> TensorInfo, read(name)
    read_checkpoint(path_or_spec) (ModelDimensions, canonical state dict), eagerly
    write_checkpoint(dims, state, path)   the way back: an openai-whisper .pt
    build_model(dims, state)      whisper.model.Whisper, strictly loaded
    to_canonical / from_canonical / detect_naming   the key mapping (ESPnet, HF <-> Whisper)
    infer_dims(shapes, heads)     ModelDimensions from tensor shapes

Keys that are not Whisper tensors (ESPnet `ctc.*`, `normalize.*`; HF `proj_out.weight`,
the output projection tied to `embed_tokens`) become *extra* names `espnet:<key>` /
`hf:<key>`; only the same naming can write them back. HF keeps q/k/v split exactly like
openai-whisper, so the mapping is one-to-one; neither has a key bias.

Head counts cannot be read from shapes. They come from the file (`dims`), the caller
(`dims_from`, an HF `config.json` or ESPnet `config.yaml` beside the file), or the
official widths (384 -> 6 heads ... 1280 -> 20); any other width is an error naming
the tensor, unless the caller explicitly asks for a guess (which is logged).
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
from typing import TYPE_CHECKING, Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

import torch

from ..utils.atomic import atomic_path
from ..utils.errors import CsExtError

if TYPE_CHECKING:
    from whisper.model import ModelDimensions

log = logging.getLogger(__name__)

NAMINGS = ("whisper", "espnet", "hf")

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
    raise CsExtError(f"{path}: cannot tell the checkpoint naming: not an ESPnet Whisper model "
                     f"('encoder.encoders.*' keys), an openai-whisper one ('encoder.blocks.N.*') or a "
                     f"Hugging Face one ('model.encoder.layers.N.*'); first keys: {sample}")


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

    def whisper_dims(self) -> Optional["ModelDimensions"]:
        """The `dims` an openai-whisper .pt carries, as ModelDimensions; None when absent."""
        dims = self.meta.get("dims") if self.naming == "whisper" else None
        return dims_from_dict(dims, self.path) if isinstance(dims, dict) else None

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
    """torch.load that never runs pickled code: weights_only=True, mmap when possible.

    A pickle holding anything but tensors and plain containers is refused with one line,
    "refusing to load FILE: ... (possibly code)", instead of torch's advice to re-run
    with weights_only=False (which would run that code).
    """
    def refuse(e: Exception) -> CsExtError:
        # "Unsupported global": the pickle names a callable (code); junk bytes give "Unsupported operand"
        if "Weights only load failed" in str(e) and ("GLOBAL" in str(e) or "global" in str(e)):
            first = next((ln for ln in str(e).splitlines() if "Unsupported" in ln or "GLOBAL" in ln),
                         str(e).splitlines()[0])
            return CsExtError(f"refusing to load {path}: it holds pickled objects other than tensors and "
                              f"plain containers (possibly code); torch.load(weights_only=True) said: "
                              f"{first.split(' Please use')[0].strip()}")
        lines = str(e).splitlines()
        # never echo torch's advice to re-run with weights_only=False
        said = next((ln.strip() for ln in lines if "Unsupported" in ln), lines[0].split(" In PyTorch")[0] if lines else "")
        return CsExtError(f"{path}: not a loadable PyTorch or safetensors checkpoint "
                          f"({type(e).__name__}: {said[:200]})")

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


# ---------------------------------------------------------------- dimensions

#: heads of every released Whisper width (all have 64-dim heads)
OFFICIAL_HEADS = {384: 6, 512: 8, 768: 12, 1024: 16, 1280: 20}


def dims_from_dict(dims: Mapping[str, Any], source: str = "?") -> "ModelDimensions":
    """ModelDimensions from a `dims` mapping (as an openai-whisper .pt stores it)."""
    from whisper.model import ModelDimensions

    try:
        return ModelDimensions(**{k: int(v) for k, v in dict(dims).items()})
    except (TypeError, ValueError) as e:
        raise CsExtError(f"{source}: bad Whisper 'dims' ({e})") from None


def dims_to_dict(dims: "ModelDimensions") -> Dict[str, int]:
    """The `dims` entry of an openai-whisper .pt (field order of ModelDimensions)."""
    return dataclasses.asdict(dims)


def _shape(shapes: Mapping[str, Any], name: str, source: str) -> Tuple[int, ...]:
    if name not in shapes:
        raise CsExtError(f"{source}: not a Whisper model: tensor {name!r} is missing")
    s = shapes[name]
    return tuple(int(x) for x in (s.shape if hasattr(s, "shape") else s))


def infer_dims(shapes: Mapping[str, Any], heads: Optional[Tuple[int, int]] = None, *, source: str = "?",
               guess_heads: bool = False, hint: str = "") -> "ModelDimensions":
    """ModelDimensions from canonical tensor shapes (values: tensors, TensorInfo or shape tuples).

    heads: (encoder, decoder) head counts when known from elsewhere. Otherwise an official
    width gives its head count; another width raises CsExtError naming the tensor (`hint`
    says what the caller can do), unless `guess_heads` asks for 64-dim heads (logged).
    """
    def n_layers(part):
        idx = {int(m.group(2)) for n in shapes if (m := _WHISPER_BLOCK_RE.match(n)) and m.group(1) == part}
        return max(idx) + 1 if idx else 0

    conv1 = _shape(shapes, "encoder.conv1.weight", source)
    t_vocab, t_state = _shape(shapes, "decoder.token_embedding.weight", source)
    a_state = conv1[0]
    if heads is None:
        found = []
        for tensor, width in (("encoder.conv1.weight", a_state), ("decoder.token_embedding.weight", t_state)):
            if width in OFFICIAL_HEADS:
                found.append(OFFICIAL_HEADS[width])
            elif guess_heads:
                log.warning("%s: tensor %r is %d wide, not an official Whisper width: guessing %d "
                            "heads of 64", source, tensor, width, max(1, width // 64))
                found.append(max(1, width // 64))
            else:
                raise CsExtError(f"{source}: tensor {tensor!r} is {width} wide, not an official Whisper "
                                 f"width ({', '.join(map(str, OFFICIAL_HEADS))}), so the head count is "
                                 f"unknown" + (f"; {hint}" if hint else ""))
        heads = (found[0], found[1])
    from whisper.model import ModelDimensions

    return ModelDimensions(
        n_mels=conv1[1], n_audio_ctx=_shape(shapes, "encoder.positional_embedding", source)[0],
        n_audio_state=a_state, n_audio_head=int(heads[0]), n_audio_layer=n_layers("encoder"),
        n_vocab=t_vocab, n_text_ctx=_shape(shapes, "decoder.positional_embedding", source)[0],
        n_text_state=t_state, n_text_head=int(heads[1]), n_text_layer=n_layers("decoder"))


def hf_head_counts(path: str | os.PathLike) -> Optional[Tuple[int, int]]:
    """(encoder, decoder) attention heads from a config.json beside an HF checkpoint."""
    cfg = Path(path).with_name("config.json")
    try:
        c = json.loads(cfg.read_text())
        return int(c["encoder_attention_heads"]), int(c["decoder_attention_heads"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def espnet_config_spec(path: str | os.PathLike) -> Optional[Tuple[str, str]]:
    """(Whisper spec, config file) from `encoder_conf.whisper_model` of the ESPnet
    config.yaml beside a model file; None when there is none."""
    config = Path(path).parent / "config.yaml"
    if not config.is_file():
        return None
    import yaml

    with open(config, encoding="utf-8") as f:
        conf = yaml.safe_load(f) or {}
    spec = (conf.get("encoder_conf") or {}).get("whisper_model") if isinstance(conf, dict) else None
    return (str(spec), str(config)) if spec else None


# ---------------------------------------------------------------- eager read, write, build

DIMS_HINT = "pass --whisper-dims-from SPEC (the base model)"


def _is_checkpoint_file(path: Path) -> bool:
    return path.is_file() and path.name != "model.bin"


def read_checkpoint_with_source(spec: str | os.PathLike, dims_from: Optional[str] = None,
                                hint: str = DIMS_HINT) -> Tuple["ModelDimensions", Dict[str, torch.Tensor], str]:
    """(dims, canonical state dict without extra names, where the dims came from).

    `spec` is a checkpoint file in any container/naming above, or anything the resolver
    accepts (an official name, a CTranslate2 model.bin or directory). Dims come from the
    file, else `dims_from` (any spec), else the ESPnet config.yaml or HF config.json
    beside the file, else the shapes of an official width (else CsExtError, see infer_dims).
    """
    path = Path(str(spec))
    if not _is_checkpoint_file(path):
        from .resolve import resolve_checkpoint

        path = Path(resolve_checkpoint(str(spec)))
    with Checkpoint(path) as ck:
        state = {n: ck.read(n) for n in ck.infos if not is_extra(n)}
        dims = ck.whisper_dims()
        naming = ck.naming
    if dims is not None:
        return dims, state, "checkpoint"
    if dims_from:
        return read_checkpoint(dims_from)[0], state, f"--whisper-dims-from {dims_from}"
    beside = espnet_config_spec(path) if naming == "espnet" else None
    if beside:
        return read_checkpoint(beside[0])[0], state, f"{beside[1]} encoder_conf.whisper_model={beside[0]}"
    heads = hf_head_counts(path) if naming == "hf" else None
    if heads:
        return infer_dims(state, heads, source=str(path)), state, f"{path.with_name('config.json')} heads"
    return infer_dims(state, source=str(path), hint=hint), state, "tensor shapes (official width)"


def read_checkpoint(spec: str | os.PathLike, dims_from: Optional[str] = None,
                    hint: str = DIMS_HINT) -> Tuple["ModelDimensions", Dict[str, torch.Tensor]]:
    """(ModelDimensions, canonical state dict) of any checkpoint (see read_checkpoint_with_source)."""
    dims, state, _ = read_checkpoint_with_source(spec, dims_from, hint)
    return dims, state


def write_checkpoint(dims: "ModelDimensions", state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> str:
    """Write an openai-whisper `{"dims", "model_state_dict"}` .pt atomically (other namings:
    `espnet_cs_ext.merge.save_state_dict`)."""
    from ..utils.torchzip import save_streaming

    with atomic_path(path) as tmp:  # save_streaming: same bytes every run, tensor by tensor
        save_streaming({"dims": dims_to_dict(dims), "model_state_dict": dict(state)}, tmp)
    return str(path)


def build_model(dims: "ModelDimensions", state: Mapping[str, torch.Tensor], source: str = "?",
                dims_source: str = "checkpoint"):
    """A `whisper.model.Whisper` (fp32) holding `state`; every tensor must fit `dims`."""
    from whisper.model import Whisper

    # openai-whisper >= 20230314 stores an alignment_heads buffer; this version has none.
    state = {k: v.float() for k, v in state.items() if k != "alignment_heads"}
    model = Whisper(dims)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise CsExtError(f"{source}: weights do not fit the Whisper dims from {dims_source} "
                         f"({str(e).splitlines()[-1].strip()[:300]})") from None
    if result.missing_keys or result.unexpected_keys:
        raise CsExtError(f"{source}: weights do not fit the Whisper dims from {dims_source} (not a complete model): "
                         f"missing {list(result.missing_keys)[:3]}, unexpected {list(result.unexpected_keys)[:3]}")
    return model
