"""Stage 8 report: RESULTS.md in the layout of Table 1 of arXiv 2606.05846, and a plot.

Rows are systems (pretrained, fine-tuned, merged, ...); columns are the seen pairs,
the unseen pairs, and the seen and unseen averages (unweighted means over pairs, as
in the paper). MER is a fraction. Every number is read from the scorer's
`exp/decode/<system>/test_<pair>/score/result.json` (cells and their `ci95`) and
`per_utt.tsv` (the averages' intervals and the comparisons, on the same bootstrap
resamples: `stats`); a missing file is an error naming it, so no cell is ever typed
or silently left empty. Seen/unseen averages carry significance marks against
Pretrained and ERM, and a generated Findings section checks the paper's claims
(`findings`).
"""
from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..utils.atomic import atomic_open, atomic_path
from ..utils.errors import CsExtError

# system names are parsed in one place: the system table
from .systems import METHOD_NAMES, display_name, family


def _mean(xs: List[Optional[float]]) -> Optional[float]:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def _fmt(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def fmt_ci(x: Optional[float], ci: Optional[Sequence[float]]) -> str:
    """`0.331 [0.27, 0.40]`: the MER and its 95 % interval (2 decimals: the interval is coarse)."""
    return _fmt(x) if x is None or not ci else f"{x:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


BASELINES = (("pretrained", "P"), ("ft_all", "E"))  # significance marks on the averages


def marks(stats, system: str, sets: Sequence[str], systems: Sequence[str]) -> str:
    """` ↓E↑P`: MER significantly lower (down) or higher (up) than ERM / Pretrained at 95 %."""
    from ..scoring.bootstrap import significance

    out = ""
    for base, letter in BASELINES:
        if base in systems and base != system:
            sig = significance(stats.compare_average(system, base, sets))
            out += {-1: f"↓{letter}", 1: f"↑{letter}"}.get(sig, "")
    return f" {out}" if out else ""


def _report_date() -> str:
    """Now, or SOURCE_DATE_EPOCH (reproducible-builds.org) in UTC: a rerun can then give the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return datetime.datetime.now().strftime("%Y-%m-%d %H:%M")


def _versions() -> List[str]:
    """Installed versions, read from package metadata (nothing heavy is imported)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    lines = [f"- python version: `{platform.python_version()}`"]
    for label, dist in (("pytorch", "torch"), ("espnet", "espnet"), ("whisper", "openai-whisper"),
                        ("ctranslate2", "ctranslate2")):
        try:
            lines.append(f"- {label} version: `{dist} {version(dist)}`")
        except PackageNotFoundError:
            lines.append(f"- {label} version: `not installed`")
    return lines


def collect(expdir: str | os.PathLike, systems: Sequence[str], test_pairs: Sequence[str]) -> Dict[str, Dict[str, dict]]:
    """{system: {set suffix: result.json}} for test_<suffix> (a pair, st_<pair> or mono_<lang>)."""
    results: Dict[str, Dict[str, dict]] = {}
    for system in systems:
        for pair in test_pairs:
            path = Path(expdir) / "decode" / system / f"test_{pair}" / "score" / "result.json"
            if not path.is_file():
                raise CsExtError(f"report: no score file {path} (run stages 7-8 for '{system}')")
            try:
                results.setdefault(system, {})[pair] = json.loads(path.read_text())
            except json.JSONDecodeError as e:
                raise CsExtError(f"report: {path} is not valid JSON ({e})")
    return results


def _metric(results, system: str, key: str, metric: str) -> Optional[float]:
    value = results[system][key].get(metric)
    if value is None:
        raise CsExtError(f"report: {system}/test_{key}/score/result.json has no '{metric}' "
                         f"(scored with the wrong metric? ST sets need cs-score --metric bleu)")
    return value


def _git_hash() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _count(path: Path) -> int:
    return sum(1 for _ in open(path, encoding="utf-8")) if path.is_file() else 0


def _train_steps(expdir: Path, system: str) -> str:
    import yaml

    cfg = expdir / f"asr_{system}" / "config.yaml"
    if not cfg.is_file():
        return "?"
    c = yaml.safe_load(cfg.read_text())
    steps = (c.get("num_iters_per_epoch") or 0) * (c.get("max_epoch") or 0)
    return f"{steps} steps x batch {c.get('batch_size')}, lr {c.get('optim_conf', {}).get('lr')}"


def short_label(system: str) -> str:
    """A few characters naming a point inside its family (the legend names the family)."""
    name = display_name(system)
    fam = family(system)
    if fam in METHOD_NAMES.values():
        name = name[len(fam):].strip()
    for pair in ("ko-en", "ja-en", "de-en", "ko-ja", "ko-de"):
        name = name.replace(pair, pair.replace("-en", "").replace("-", ""))
    return name.replace(" + ", "+").replace("FT ", "")


_MARKERS = "osD^vP*Xph<>"


def plot(results, systems, seen, unseen, out: Path, stats=None) -> None:
    """Seen vs unseen average per system; with `stats`, 95 % bootstrap error bars on both axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [_mean([results[s][p]["mer"] for p in seen]) for s in systems]
    ys = [_mean([results[s][p]["mer"] for p in unseen]) for s in systems]

    def err(point, ci):
        return (0.0, 0.0) if point is None or not ci else (max(0.0, point - ci[0]), max(0.0, ci[1] - point))

    xerr = {s: err(x, stats and seen and stats.interval(s, seen)) for s, x in zip(systems, xs)}
    yerr = {s: err(y, stats and unseen and stats.interval(s, unseen)) for s, y in zip(systems, ys)}
    families = list(dict.fromkeys(family(s) for s in systems))
    style = {f: (_MARKERS[i % len(_MARKERS)], f"C{i % 10}") for i, f in enumerate(families)}
    fig, ax = plt.subplots(figsize=(8, 6))
    for fam in families:
        pts = [(s, x, y) for s, x, y in zip(systems, xs, ys) if family(s) == fam and x is not None and y is not None]
        if not pts:
            continue
        marker, color = style[fam]
        if stats is not None:
            ax.errorbar([p[1] for p in pts], [p[2] for p in pts], fmt="none", ecolor=color, elinewidth=0.6,
                        alpha=0.5, capsize=1.5, xerr=np.array([xerr[p[0]] for p in pts]).T,
                        yerr=np.array([yerr[p[0]] for p in pts]).T)
        ax.scatter([p[1] for p in pts], [p[2] for p in pts], s=36, marker=marker, color=color, label=fam,
                   alpha=0.85, edgecolors="black", linewidths=0.4)
        for s, x, y in pts:
            label = short_label(s)
            if label and fam not in ("Pretrained", "FT all seen pairs (ERM)"):
                ax.annotate(label, (x, y), fontsize=6, xytext=(4, 2), textcoords="offset points", color=color)
    vals = [v for v in xs + ys if v is not None]
    lo = min(vals + [0.1]) * 0.8
    hi = max(vals + [0.1]) * 1.05
    if stats is not None:  # room for the bars
        bars = [v + e[1] for v, e in zip(xs, xerr.values()) if v is not None]
        bars += [v + e[1] for v, e in zip(ys, yerr.values()) if v is not None]
        hi = max([hi] + [b * 1.02 for b in bars])
    ax.plot([lo, hi], [lo, hi], ls=":", c="grey", lw=0.8, label="seen = unseen")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"seen-pair MER, mean of {', '.join(seen)}")
    ax.set_ylabel(f"unseen-pair MER, mean of {', '.join(unseen) or '-'}")
    ax.set_title("Seen vs unseen code-switching MER per system (lower is better)"
                 + ("\nbars: 95 % bootstrap intervals" if stats is not None else ""))
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, format="png", bbox_inches="tight")
    plt.close(fig)


def data_revisions(datadir: Path, names: Sequence[str]) -> str:
    """`test_ko-en: thetaone-ai/HiKE@<commit>, ...` from each set's info.json (written by the hub
    loaders; a pair-sets alias points at its source dir through `alias_of`)."""
    out = []
    for name in names:
        d = datadir / name
        for _ in range(2):  # the dir itself, then the dir it is an alias of
            try:
                info = json.loads((d / "info.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                break
            if "alias_of" in info:
                d = d.parent / info["alias_of"]
                continue
            if info.get("repo") or info.get("commit"):
                where = info.get("repo") or info.get("source", "")
                out.append(f"{name}: {where}@{info.get('commit') or info.get('revision')}")
            break
    return ", ".join(out)


def write_report(expdir: str | os.PathLike, datadir: str | os.PathLike, systems: Sequence[str],
                 train_pairs: Sequence[str], test_pairs: Sequence[str], out: str | os.PathLike,
                 whisper_model: str = "", st_pairs: Sequence[str] = (), mono_langs: Sequence[str] = (),
                 extra_sections: Sequence[str] = ()) -> Path:
    """Write RESULTS.md; `extra_sections` are markdown blocks appended as they are (e.g. stage 9's MAV summary)."""
    expdir, datadir, out = Path(expdir), Path(datadir), Path(out)
    mono = [f"mono_{lang}" for lang in mono_langs]
    st = [f"st_{pair}" for pair in st_pairs]
    results = collect(expdir, systems, list(test_pairs) + mono + st)
    from .pairs import pair_groups

    seen, unseen, newlang = pair_groups(test_pairs, train_pairs)
    from .findings import all_findings
    from .stats import ReportStats

    for s in systems:
        for x in list(test_pairs) + mono:
            if "ci95" not in results[s][x]:
                raise CsExtError(f"report: {expdir}/decode/{s}/test_{x}/score/result.json has no 'ci95' "
                                 "(scored before intervals existed: rerun stage 8)")
    stats = ReportStats.from_exp(expdir, systems, list(test_pairs) + mono, results)
    lines = ["# RESULTS: code-switching ASR on seen and unseen language pairs", "",
             "Generated by stage 8 of egs2/cs_unseen/asr1 from "
             f"`{expdir}/decode/*/test_*/score/result.json` and `per_utt.tsv`; do not edit by hand.", "",
             "## Environments", "",
             f"- date: `{_report_date()}`",
             *_versions(),
             f"- Git hash: `{_git_hash()}`",
             f"- Whisper: {whisper_model or 'see exp/*/config.yaml'}",
             f"- seen (training) pairs: {', '.join(train_pairs)}; unseen: {', '.join(unseen) or 'none'}"
             + (f"; with a language no training pair has: {', '.join(newlang)}" if newlang else "")]
    for s in systems:
        if s.startswith(("ft_", "dg_")):
            lines.append(f"- {display_name(s)}: {_train_steps(expdir, s)}")
    used = [f"{kind}_{p}" for p in train_pairs for kind in ("train", "dev")] + ["train_all"]
    used += [f"test_{p}" for p in test_pairs] + [f"{k}_{x}" for x in st for k in ("train", "test")]
    used += [f"test_{x}" for x in mono]
    sizes = ", ".join(f"{name} {_count(datadir / name / 'text')}" for name in used
                      if (datadir / name / "text").is_file())
    revisions = data_revisions(datadir, used)
    if revisions:
        lines.append(f"- hub data revisions: {revisions}")
    legend = [f"`{letter}`: {display_name(b)}" for b, letter in BASELINES if b in systems]
    lines += [f"- utterances: {sizes}", "",
              "## Mixed Error Rate (Table 1 layout)", "",
              "MER as a fraction, lower is better; averages are unweighted means over pairs."
              + (" The mono columns are monolingual test sets (one language, no switching): a system "
                 "that wins on code-switching but forgets plain speech shows it there." if mono else ""),
              "",
              f"Brackets: 95 % interval, utterance-level bootstrap ({stats.replications} resamples, seed "
              f"{stats.seed}; an average resamples each set's utterances, then averages): with few test "
              "utterances per set, differences inside the intervals are noise."
              + (f" Marks on the averages: `↓X` MER lower (better) than system X, `↑X` higher (worse), "
                 f"both at 95 % (paired bootstrap on the same resamples: the interval of the difference "
                 f"excludes 0); no mark: cannot tell. {', '.join(legend)}." if legend else "")
              + (" Unseen avg: pairs of languages that training had (the paper's unseen pairs); "
                 "Unseen-language avg: pairs with a language no training pair had." if newlang else ""), ""]
    averages = [("Seen avg", seen), ("Unseen avg", unseen)] + ([("Unseen-language avg", newlang)] if newlang else [])
    head = ["System"] + seen + unseen + newlang + [name for name, _ in averages]
    head += [f"mono {x[5:]}" for x in mono] + (["Mono avg"] if mono else [])
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    def avg_cell(s: str, sets: Sequence[str], with_marks: bool = False) -> str:
        point, _ = stats.average(s, sets)
        return fmt_ci(point, stats.interval(s, sets)) + (marks(stats, s, sets, systems) if with_marks else "")

    for s in systems:
        cells = [fmt_ci(_metric(results, s, p, "mer"), results[s][p]["ci95"]) for p in seen + unseen + newlang]
        cells += [avg_cell(s, sets, True) for _, sets in averages]
        if mono:
            cells += [fmt_ci(_metric(results, s, x, "mer"), results[s][x]["ci95"]) for x in mono]
            cells.append(avg_cell(s, mono))
        lines.append(f"| {display_name(s)} | " + " | ".join(cells) + " |")
    lines += ["", "![seen vs unseen MER](RESULTS_seen_unseen.png)", "",
              "## Findings", "",
              "Each claim of arXiv 2606.05846 checked against this run's numbers at 95 % (generated; "
              "`supported` / `contradicted` need the 95 % interval of the difference to exclude 0).", "",
              "| Claim | Verdict | Evidence |", "|---|---|---|"]
    mav_tsv = expdir / "mav" / "mav.tsv"
    for f in all_findings(stats, systems, seen, unseen, mav_tsv if mav_tsv.is_file() else None):
        lines.append(f"| {f.claim} | **{f.verdict}** | {f.evidence} |")
    sweep = sorted((float(x[len("asyncswitch_r"):]), x) for x in systems if x.startswith("asyncswitch_r"))
    if sweep and "asyncswitch" in systems:
        sweep = sorted(sweep + [(0.4, "asyncswitch")])
        lines += ["", "## AsyncSwitch interpolation ratio sweep", "",
                  "theta = Whisper + r * (AsyncSwitch stage C - Whisper); r = 0 is the original model.", "",
                  "| r | Seen avg | Unseen avg" + (" | Mono avg" if mono else "") + " |",
                  "|---:|---:|---:|" + ("---:|" if mono else "")]
        for r, x in sweep:
            row = [f"{r:g}", avg_cell(x, seen), avg_cell(x, unseen)]
            if mono:
                row.append(avg_cell(x, mono))
            lines.append("| " + " | ".join(row) + " |")
    if st:
        lines += ["", "## Speech translation (X -> en)", "",
                  "Corpus BLEU and chrF (sacreBLEU, higher is better) on the ST test sets; every system "
                  "decodes them with Whisper's <|translate|> task token. Signature: "
                  f"`{results[systems[0]][st[0]].get('signature', {}).get('bleu', '?')}`.", ""]
        lines.append("| System | " + " | ".join(f"BLEU {x[3:]} | chrF {x[3:]}" for x in st) + " |")
        lines.append("|---|" + "---:|" * (2 * len(st)))
        for s in systems:
            cells = [f"{_metric(results, s, x, 'bleu'):.1f} | {_metric(results, s, x, 'chrf'):.1f}" for x in st]
            lines.append(f"| {display_name(s)} | " + " | ".join(cells) + " |")
    lines += ["", "## Per-script breakdown", "",
              "Error rate on reference tokens of each script (S+D on the reference token's script, "
              "insertions on the hypothesis token's script), per test pair.", ""]
    for pair in seen + unseen + newlang + mono:
        scripts = sorted({sc for s in systems for sc in results[s][pair].get("per_script", {})})
        lines.append(f"### test_{pair}")
        lines.append("")
        lines.append("| System | " + " | ".join(scripts) + " | S | D | I | #Wrd |")
        lines.append("|---|" + "---:|" * (len(scripts) + 4))
        for s in systems:
            r = results[s][pair]
            cells = [_fmt(r.get("per_script", {}).get(sc, {}).get("mer")) for sc in scripts]
            lines.append(f"| {display_name(s)} | " + " | ".join(cells) +
                         f" | {r['sub']} | {r['del']} | {r['ins']} | {r['num_ref_tokens']} |")
        lines.append("")
    for block in extra_sections:
        lines += [block.rstrip(), ""]
    with atomic_open(out) as f:
        f.write("\n".join(lines) + "\n")
    plot(results, systems, seen, unseen, out.parent / "RESULTS_seen_unseen.png", stats)
    return out
