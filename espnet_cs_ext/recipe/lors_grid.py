"""The LoRS-Merging paper's experiment grid (arXiv 2502.17380, section 5, Tables 1-4).

For languages L (speech in <l>; ASR = <l> transcripts, ST = <l> -> English):

    systems(L)           the stage-5 training systems: asr_<l>, st_<l>-en (one task, one
                         language), mlasr / mlst (multi-lingual training, Tables 1-2),
                         mt_<l> (multi-task training, Table 3), mlmt (both, Table 4)
    merge_list(L, spec)  a stage-6 merge list (`extra:` entries naming `systems:`):
                         Table 1 lg1_<method>       over {asr_<l>}
                         Table 2 lg2_<method>       over {st_<l>-en}
                         Table 3 lg3_<method>_<l>   over {asr_<l>, st_<l>-en}, per language
                         Table 4 lg4merge_<m>       over every asr_<l> and st_<l>-en
                                 lg4mttrain_<m>     over {mt_<l>}       (MT training + ML merging)
                                 lg4mltrain_<m>     over {mlasr, mlst}  (ML training + MT merging)
    test_sets(L)         test_mono_<l> (WER) and test_st_<l>-en (BLEU)
    report(expdir, L)    RESULTS_lors.md with the paper's table layouts, every number
                         read from exp/decode/<model>/<test set>/score/result.json

Merge hyper-parameters come from a small YAML (egs2/cs_unseen/asr1/conf/tuning/lors_grid/
methods.yaml; DEFAULT_METHODS below is the same content): merge registry name ->
{parameters, model_parameters, seed}, plus `table4:` (the methods of Table 4, TA and
LoRS in the paper). Run: `python -m espnet_cs_ext.bin.lors_grid -h`.

This module imports no torch and no ESPnet at import time (the merge registry is
imported only to validate a methods file).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from ..utils.atomic import atomic_open
from ..utils.errors import CsExtError

TARGET = "en"  # ST direction of the paper: X -> English

# Paper values where it gives them (Appendix A, Tables 5-6): lambda = 0.15 for TA and
# LoRS. Its ratios are tuned per language from SVP {1,2,3,5} % and MP {10,20,40,60} %
# (kept fractions); a merge list entry has one value for all models, so the defaults
# are the paper's German choices (ASR 3 % / 60 %, ST 3 % / 40 %) rounded to one
# setting: svp_ratio 0.03, mp_ratio 0.4. MP- and SVP-merging alone reuse those ratios
# (the paper gives none for them).
DEFAULT_METHODS: Dict[str, Any] = {
    "methods": {
        "linear": {},
        "task_arithmetic": {"parameters": {"lambda": 0.15}},
        "magnitude_prune": {"parameters": {"lambda": 0.15}, "model_parameters": {"density": 0.4}},
        "svp": {"parameters": {"lambda": 0.15}, "model_parameters": {"svp_ratio": 0.03}},
        "lors": {"parameters": {"lambda": 0.15}, "model_parameters": {"svp_ratio": 0.03, "mp_ratio": 0.4}},
    },
    "table4": ["task_arithmetic", "lors"],
}

# Row labels as the paper prints them; other registry methods show their key.
METHOD_ROWS = {"linear": "Weight Averaging", "task_arithmetic": "Task Arithmetic",
               "magnitude_prune": "MP-Merging", "svp": "SVP-Merging", "lors": "LoRS-Merging"}
SPEC_KEYS = ("parameters", "model_parameters", "seed", "filters")
KINDS = ("asr", "st", "mt")
_LANG = re.compile(r"^[a-z]{2,3}$")


# ----------------------------------------------------------------------------- systems

@dataclasses.dataclass(frozen=True)
class System:
    """One stage-5 training system: exp/asr_<name>/latest.pth.

    `train` / `dev` are data dir names relative to the data dir; more than one means
    they are pooled (cs-prepare combine) into `train_<name>` / `dev_<name>`.
    """

    name: str
    kind: str  # asr | st | mt (asr+st pooled): picks the training config
    train: Tuple[str, ...]
    dev: Tuple[str, ...]

    @property
    def pooled(self) -> bool:
        return len(self.train) > 1

    @property
    def train_dir(self) -> str:
        """The dir stage 5 trains on (pooled ones are combined into it in stage 4)."""
        return f"train_{self.name}" if self.pooled else self.train[0]

    @property
    def dev_dir(self) -> str:
        return f"dev_{self.name}" if self.pooled else self.dev[0]


def check_langs(langs: Sequence[str]) -> List[str]:
    """Validated language list: Whisper-style codes, no duplicates, not the ST target, >= 2."""
    langs = list(langs)
    bad = [x for x in langs if not _LANG.match(x)]
    if bad:
        raise CsExtError(f"lors grid: languages must be 2-3 letter codes like 'de', got {bad}")
    if TARGET in langs:
        raise CsExtError(f"lors grid: '{TARGET}' is the ST target language, not a source language")
    dups = sorted({x for x in langs if langs.count(x) > 1})
    if dups:
        raise CsExtError(f"lors grid: languages listed twice: {dups}")
    if len(langs) < 2:
        raise CsExtError(f"lors grid: multi-lingual merging needs at least 2 languages, got {langs}")
    return langs


def asr_name(lang: str) -> str:
    return f"asr_{lang}"


def st_name(lang: str) -> str:
    return f"st_{lang}-{TARGET}"


def mono_set(lang: str, split: str) -> str:
    return f"{split}_mono_{lang}"


def st_set(lang: str, split: str) -> str:
    return f"{split}_st_{lang}-{TARGET}"


def systems(langs: Sequence[str]) -> List[System]:
    """Every training system of the grid, in training order (single ones first)."""
    langs = check_langs(langs)

    def make(name, kind, sets):
        return System(name, kind, tuple(s("train") for s in sets), tuple(s("dev") for s in sets))

    def mono(lang):
        return lambda split: mono_set(lang, split)

    def st(lang):
        return lambda split: st_set(lang, split)

    out = [make(asr_name(x), "asr", [mono(x)]) for x in langs]
    out += [make(st_name(x), "st", [st(x)]) for x in langs]
    out.append(make("mlasr", "asr", [mono(x) for x in langs]))
    out.append(make("mlst", "st", [st(x) for x in langs]))
    out += [make(f"mt_{x}", "mt", [mono(x), st(x)]) for x in langs]
    out.append(make("mlmt", "mt", [mono(x) for x in langs] + [st(x) for x in langs]))
    return out


# ----------------------------------------------------------------------------- merges

def merge_name(table: str, method: str, lang: Optional[str] = None) -> str:
    """lg1_<m>, lg2_<m>, lg3_<m>_<l>, lg4merge_<m>, lg4mttrain_<m>, lg4mltrain_<m>."""
    return f"{table}_{method}" + (f"_{lang}" if lang else "")


def load_methods(path: Optional[str | os.PathLike] = None) -> Dict[str, Any]:
    """Read and validate a methods YAML (None: DEFAULT_METHODS).

    Every method must be in the merge registry and its parameters must resolve
    there (so a typo fails here, not after training); `table4` must name methods
    of `methods`.
    """
    from ..merge.methods import get_method, resolve_params

    where = str(path) if path is not None else "lors grid default methods"
    if path is None:
        spec = copy.deepcopy(DEFAULT_METHODS)
    else:
        try:
            spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise CsExtError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("methods"), dict) or not spec["methods"]:
        raise CsExtError(f"{where}: expected a mapping with a non-empty 'methods:' mapping")
    unknown_top = sorted(set(spec) - {"methods", "table4"})
    if unknown_top:
        raise CsExtError(f"{where}: unknown key(s) {unknown_top}; expected 'methods' and 'table4'")
    methods: Dict[str, dict] = {}
    for name, entry in spec["methods"].items():
        entry = entry or {}
        if not isinstance(entry, dict):
            raise CsExtError(f"{where}: methods.{name} must be a mapping, got {entry!r}")
        extra = sorted(set(entry) - set(SPEC_KEYS))
        if extra:
            raise CsExtError(f"{where}: methods.{name}: unknown key(s) {extra}; valid: {list(SPEC_KEYS)}")
        try:
            method = get_method(name)
            mp = dict(entry.get("model_parameters") or {})
            if mp.get("weight") == "auto":  # plan_merges turns it into 1/N
                mp["weight"] = 0.5
            resolve_params(method, [mp, mp], entry.get("parameters") or {})
        except CsExtError as e:
            raise CsExtError(f"{where}: methods.{name}: {e}") from None
        methods[name] = entry
    table4 = list(spec.get("table4") or [])
    missing = [m for m in table4 if m not in methods]
    if missing:
        raise CsExtError(f"{where}: table4 names {missing}, which are not under 'methods:'")
    return {"methods": methods, "table4": table4}


def merge_groups(langs: Sequence[str], methods: Mapping[str, Any]) -> List[Tuple[str, str, List[str]]]:
    """[(merge name, method, systems merged)] for Tables 1-4, in table order."""
    langs = check_langs(langs)
    asr = [asr_name(x) for x in langs]
    st = [st_name(x) for x in langs]
    all_methods = list(methods["methods"])
    out: List[Tuple[str, str, List[str]]] = []
    for m in all_methods:
        out.append((merge_name("lg1", m), m, asr))
    for m in all_methods:
        out.append((merge_name("lg2", m), m, st))
    for x in langs:
        for m in all_methods:
            out.append((merge_name("lg3", m, x), m, [asr_name(x), st_name(x)]))
    for m in methods["table4"]:
        out.append((merge_name("lg4merge", m), m, asr + st))
        out.append((merge_name("lg4mttrain", m), m, [f"mt_{x}" for x in langs]))
        out.append((merge_name("lg4mltrain", m), m, ["mlasr", "mlst"]))
    return out


def merge_list(langs: Sequence[str], methods: Mapping[str, Any],
               include: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The merge-list mapping for espnet_cs_ext.recipe.merges.plan_merges.

    `include`: another merge list (the recipe's main one) whose subsets/methods/extra
    are kept, so stage 6 plans both with one --config; a name clash is an error.
    """
    extra = []
    for name, method, members in merge_groups(langs, methods):
        spec = methods["methods"][method]
        entry: Dict[str, Any] = {"name": name, "method": method, "systems": list(members)}
        for key in SPEC_KEYS:
            if spec.get(key) is not None:
                entry[key] = copy.deepcopy(spec[key])
        extra.append(entry)
    plan: Dict[str, Any] = {}
    if include:
        plan = copy.deepcopy(dict(include))
        ours = {e["name"] for e in extra}
        clash = sorted(ours & {e.get("name") for e in plan.get("extra") or []})
        if clash:
            raise CsExtError(f"merge list: the included list already has merges named {clash}")
    plan["extra"] = list(plan.get("extra") or []) + extra
    return plan


def write_merge_list(langs: Sequence[str], methods_path: Optional[str | os.PathLike],
                     out: str | os.PathLike, include_path: Optional[str | os.PathLike] = None) -> int:
    """Write the merge list YAML atomically; return the number of grid merges in it."""
    methods = load_methods(methods_path)
    include = None
    if include_path:
        try:
            include = yaml.safe_load(Path(include_path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise CsExtError(f"{include_path}: not valid YAML ({e})") from None
        if not isinstance(include, dict):
            raise CsExtError(f"{include_path}: a merge list must be a mapping")
    plan = merge_list(langs, methods, include)
    header = (f"# LoRS-Merging grid (arXiv 2502.17380) for {' '.join(langs)}; written by "
              f"espnet_cs_ext.recipe.lors_grid from {methods_path or 'its defaults'}"
              + (f" + {include_path}" if include_path else "") + "\n")
    with atomic_open(out) as f:
        f.write(header + yaml.safe_dump(plan, sort_keys=False, allow_unicode=True))
    return len(merge_groups(langs, methods))


# ----------------------------------------------------------------------------- decoding

@dataclasses.dataclass(frozen=True)
class TestSet:
    name: str  # data dir name, e.g. test_mono_de
    metric: str  # "wer" (from the scorer's "mer") or "bleu"
    lang: str


def test_sets(langs: Sequence[str]) -> List[TestSet]:
    langs = check_langs(langs)
    return ([TestSet(mono_set(x, "test"), "wer", x) for x in langs]
            + [TestSet(st_set(x, "test"), "bleu", x) for x in langs])


def models(langs: Sequence[str], methods: Mapping[str, Any]) -> List[str]:
    """Every model the report reads: pretrained, the grid systems, the grid merges."""
    return (["pretrained"] + [s.name for s in systems(langs)]
            + [name for name, _, _ in merge_groups(langs, methods)])


def decode_plan(langs: Sequence[str], methods: Mapping[str, Any]) -> Dict[str, List[str]]:
    """{model: test sets}: every grid model on both kinds of set (the simplest plan
    that covers every cell; off-diagonal cells are free diagnostics)."""
    sets = [t.name for t in test_sets(langs)]
    return {m: list(sets) for m in models(langs, methods)}


# ----------------------------------------------------------------------------- report

class Scores:
    """Reads exp/decode/<model>/<set>/score/result.json on demand, once each."""

    def __init__(self, expdir: str | os.PathLike):
        self.expdir = Path(expdir)
        self._cache: Dict[Tuple[str, str], dict] = {}

    def path(self, model: str, test_set: str) -> Path:
        return self.expdir / "decode" / model / test_set / "score" / "result.json"

    def get(self, model: str, test: TestSet) -> float:
        """WER in % (the scorer's MER fraction x 100) or BLEU, as the paper reports them."""
        key = (model, test.name)
        path = self.path(*key)
        if key not in self._cache:
            if not path.is_file():
                raise CsExtError(f"lors report: no score {path} (decode and score {model} on {test.name}: "
                                 f"stages 7-8)")
            try:
                self._cache[key] = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise CsExtError(f"lors report: {path} is not valid JSON ({e})") from None
        field = "mer" if test.metric == "wer" else "bleu"
        value = self._cache[key].get(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CsExtError(f"lors report: {path} has no numeric '{field}' (got {value!r}); "
                             f"expected a {'MER' if field == 'mer' else 'BLEU'} result")
        return float(value) * 100.0 if field == "mer" else float(value)


def _cell(x: float) -> str:
    return f"{x:.1f}"


def _avg(xs: Sequence[float]) -> str:
    """Avg. as the paper: the unrounded per-language values averaged, 2 decimals."""
    return f"{sum(xs) / len(xs):.2f}"


def _table(header: List[str], rows: List[List[str]]) -> List[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def report_tables(expdir: str | os.PathLike, langs: Sequence[str],
                  methods: Optional[Mapping[str, Any]] = None) -> str:
    """The Markdown text of RESULTS_lors.md (raises CsExtError on any missing score)."""
    langs = check_langs(langs)
    methods = methods or load_methods(None)
    sc = Scores(expdir)
    wer = {x: TestSet(mono_set(x, "test"), "wer", x) for x in langs}
    bleu = {x: TestSet(st_set(x, "test"), "bleu", x) for x in langs}
    merge_methods = list(methods["methods"])

    def per_lang(model_for, sets):  # model_for(lang) -> model name
        return [sc.get(model_for(x), sets[x]) for x in langs]

    def row(label, model_for, sets):
        vals = per_lang(model_for, sets)
        return [label] + [_cell(v) for v in vals] + [_avg(vals)]

    def same(model):
        return lambda _x: model

    single = {"wer": asr_name, "bleu": st_name}
    ml = {"wer": "mlasr", "bleu": "mlst"}
    lines = [f"# LoRS-Merging grid: {' '.join(langs)}", "",
             "Layout of arXiv 2502.17380 Tables 1-4. WER is the scorer's MER x 100 (words for "
             "spaced scripts, characters for ja/ko); BLEU is sacreBLEU on X->en. Avg. is the mean of the "
             "unrounded per-language numbers. Finetuned is the topline: each language (and task) "
             "fine-tuned on its own. Every number comes from "
             f"`{Path(expdir) / 'decode' / '<model>' / '<test set>' / 'score' / 'result.json'}`.", ""]
    for number, metric, sets, title in ((1, "wer", wer, "Multi-lingual ASR model merging"),
                                        (2, "bleu", bleu, "Multi-lingual ST model merging")):
        head = ["System"] + langs + ["Avg."]
        rows = [row("Pretrained", same("pretrained"), sets),
                row("Finetuned", single[metric], sets),
                row("Multi-lingual training", same(ml[metric]), sets)]
        rows += [row(METHOD_ROWS.get(m, m), same(merge_name(f"lg{number}", m)), sets) for m in merge_methods]
        unit = "WER (%) ↓" if metric == "wer" else "BLEU ↑"
        lines += [f"## Table {number}: {title} ({unit})", ""] + _table(head, rows)

    # Table 3 (and its per-language detail, the paper's Table 11): per-language merges.
    t3: List[Tuple[str, Any]] = [("Pretrained", lambda x, k: "pretrained"),
                                 ("Finetuned", lambda x, k: single[k](x)),
                                 ("Multi-task training", lambda x, k: f"mt_{x}")]
    t3 += [(METHOD_ROWS.get(m, m), (lambda m: lambda x, k: merge_name("lg3", m, x))(m)) for m in merge_methods]
    rows3, rows11 = [], []
    for label, model_for in t3:
        w = per_lang(lambda x: model_for(x, "wer"), wer)
        b = per_lang(lambda x: model_for(x, "bleu"), bleu)
        rows3.append([label, _avg(w), _avg(b)])
        rows11.append([label] + [_cell(v) for v in w] + [_avg(w)] + [_cell(v) for v in b] + [_avg(b)])
    both_head = ["System"] + [f"WER {x}" for x in langs] + ["Avg. WER"] + [f"BLEU {x}" for x in langs] + ["Avg. BLEU"]
    lines += ["## Table 3: Multi-task model merging (ASR + ST of one language), averaged over languages", ""]
    lines += _table(["System", "Avg. WER (%) ↓", "Avg. BLEU ↑"], rows3)
    lines += ["### Table 3 per language (the paper's Table 11)", ""] + _table(both_head, rows11)

    # Table 4: multi-lingual multi-task.
    def both(label, model_for):  # model_for(lang, metric)
        w = per_lang(lambda x: model_for(x, "wer"), wer)
        b = per_lang(lambda x: model_for(x, "bleu"), bleu)
        return [label] + [_cell(v) for v in w] + [_avg(w)] + [_cell(v) for v in b] + [_avg(b)]

    t4 = methods["table4"]
    rows4 = [both("Pretrained", lambda x, k: "pretrained"),
             both("Finetuned", lambda x, k: single[k](x)),
             both("ML and MT training", lambda x, k: "mlmt")]
    rows4 += [both(f"ML and MT {METHOD_ROWS.get(m, m)}", lambda x, k, m=m: merge_name("lg4merge", m)) for m in t4]
    rows4.append(both("MT training", lambda x, k: f"mt_{x}"))
    rows4 += [both(f"↳ + ML {METHOD_ROWS.get(m, m)}", lambda x, k, m=m: merge_name("lg4mttrain", m)) for m in t4]
    rows4.append(both("ML training", lambda x, k: ml[k]))
    rows4 += [both(f"↳ + MT {METHOD_ROWS.get(m, m)}", lambda x, k, m=m: merge_name("lg4mltrain", m)) for m in t4]
    lines += ["## Table 4: Multi-lingual multi-task model merging", ""] + _table(both_head, rows4)
    legend = ", ".join(f"{METHOD_ROWS.get(m, m)} = `{m}`" for m in merge_methods)
    lines += [f"Merges: `lg1_<method>`, `lg2_<method>`, `lg3_<method>_<lang>`, `lg4merge_<method>` "
              f"(all asr_<l> and st_<l>-en), `lg4mttrain_<method>` (mt_<l>), `lg4mltrain_<method>` "
              f"(mlasr + mlst); {legend}.", ""]
    return "\n".join(lines)


def report(expdir: str | os.PathLike, langs: Sequence[str], out: str | os.PathLike,
           methods_path: Optional[str | os.PathLike] = None) -> Path:
    """Write RESULTS_lors.md atomically (nothing is written if a score is missing)."""
    text = report_tables(expdir, langs, load_methods(methods_path))
    with atomic_open(out) as f:
        f.write(text)
    return Path(out)
