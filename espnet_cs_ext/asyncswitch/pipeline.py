"""AsyncSwitch end to end: A (text) -> B (cross-attention) -> C (all) -> I (interpolation).

Layout of OUT (e.g. exp/asr_asyncswitch):

    stage_a/            model.pt, espnet_init.pth (stage A output), trainable.txt, train_a.log
    stats/              ESPnet collect_stats (shared by B and C)
    stage_b/, stage_c/  ESPnet output dirs (latest.pth, train.log, config.yaml, trainable.txt)
    interp_<r>/         model.pt (openai-whisper) + interpolate.yaml for every ratio r
    model.pt            the final model: interp at `final_ratio` (openai-whisper format)
    latest.pth          the same weights with ESPnet names (what the recipe decodes for a system)
    .done.<stage>       markers holding a fingerprint of the stage's inputs

A stage whose marker matches its inputs is skipped; one whose inputs changed starts
over (its directory is cleared); an interrupted one resumes (stage A from its
checkpoint, B and C through ESPnet's --resume).
"""
from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from ..recipe.stamp import fingerprint, is_done, mark_done
from ..utils.errors import CsExtError

ALL_STAGES = ("A", "B", "C", "I")


def parse_stages(text: str) -> List[str]:
    st = [s.strip().upper() for s in str(text).replace(",", " ").split() if s.strip()]
    bad = [s for s in st if s not in ALL_STAGES]
    if bad or not st:
        raise CsExtError(f"--stages: expected a list of {','.join(ALL_STAGES)}, got {text!r}")
    return [s for s in ALL_STAGES if s in st]


@dataclasses.dataclass
class Plan:
    out: Path
    conf_dir: Path
    whisper_model: str
    texts: List[str]
    espnet_args: List[str]
    shape_files: List[str]
    ratios: List[float]
    final_ratio: float = 0.4
    stop_after_a: Optional[int] = None
    progress: bool = True
    stats_dir: Optional[Path] = None  # an existing collect_stats output to reuse (the recipe shares one)

    def conf(self, stage: str) -> str:
        p = self.conf_dir / f"stage_{stage.lower()}.yaml"
        if not p.is_file():
            raise CsExtError(f"no config {p} for AsyncSwitch stage {stage}")
        return str(p)


def _fresh(dir_: Path, fp: str) -> None:
    """Clear `dir_` if it holds work for other inputs; record the inputs it now holds."""
    tag = dir_ / ".inputs"
    if dir_.exists() and (not tag.is_file() or tag.read_text().strip() != fp):
        shutil.rmtree(dir_)
    dir_.mkdir(parents=True, exist_ok=True)
    tag.write_text(fp + "\n")


def run(plan: Plan, stages: Sequence[str], echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> None:
    from .config import load_config
    from .espnet_stages import collect_stats, run_espnet_stage
    from .interpolate import interpolate, ratio_name
    from .stage_a import run_stage_a
    from ..whisper import resolve_checkpoint

    out = plan.out
    out.mkdir(parents=True, exist_ok=True)
    a_dir, b_dir, c_dir, stats = out / "stage_a", out / "stage_b", out / "stage_c", out / "stats"
    a_out, b_out, c_out = a_dir / "espnet_init.pth", b_dir / "latest.pth", c_dir / "latest.pth"
    whisper_file = str(resolve_checkpoint(plan.whisper_model))
    args_key = "\0".join(plan.espnet_args)

    def need(path: Path, stage: str):
        if not path.is_file():
            raise CsExtError(f"AsyncSwitch stage {stage} needs {path}; run the stage before it")

    if "A" in stages:
        inputs = [plan.conf("A"), plan.whisper_model, whisper_file, *plan.texts]
        if is_done(out / ".done.A", inputs) and a_out.is_file():
            echo(f"AsyncSwitch A: up to date ({a_dir})")
        else:
            echo(f"AsyncSwitch A: text-only decoder LM: {' '.join(plan.texts)} -> {a_dir}")
            res = run_stage_a(load_config(plan.conf("A")), plan.whisper_model, plan.texts, a_dir,
                              stop_after=plan.stop_after_a, progress=plan.progress, echo=echo)
            if not res.finished:
                return
            mark_done(out / ".done.A", inputs)

    for stage, init, d, nxt in (("B", a_out, b_dir, b_out), ("C", b_out, c_dir, c_out)):
        if stage not in stages:
            continue
        need(init, stage)
        inputs = [plan.conf(stage), str(init), args_key]
        if is_done(out / f".done.{stage}", inputs) and nxt.is_file():
            echo(f"AsyncSwitch {stage}: up to date ({d})")
            continue
        stats_inputs = [plan.conf("B"), args_key, *plan.shape_files]
        if plan.stats_dir is not None:
            stats = plan.stats_dir
            for part in ("train", "valid"):
                need(stats / part / "speech_shape", stage)
        elif not is_done(out / ".done.stats", stats_inputs):
            echo(f"AsyncSwitch {stage}: ESPnet collect_stats -> {stats}")
            if stats.exists():
                shutil.rmtree(stats)
            collect_stats(plan.conf("B"), plan.espnet_args, plan.shape_files, stats)
            mark_done(out / ".done.stats", stats_inputs)
        what = "cross-attention only" if stage == "B" else "all parameters"
        echo(f"AsyncSwitch {stage}: ESPnet fine-tuning, {what}: {init} -> {d}")
        _fresh(d, fingerprint(inputs))
        run_espnet_stage(stage, plan.conf(stage), init, d, plan.espnet_args, stats, echo)
        mark_done(out / f".done.{stage}", inputs)

    if "I" in stages:
        need(c_out, "I")
        from ..merge.formats import load_state_dict, save_state_dict
        from ..utils.atomic import atomic_path

        ratios = sorted(set(plan.ratios) | {plan.final_ratio})
        for r in ratios:
            d = out / f"interp_{ratio_name(r)}"
            inputs = [whisper_file, str(c_out), f"ratio={r}"]
            if is_done(d / ".done", inputs) and (d / "model.pt").is_file():
                echo(f"AsyncSwitch I: ratio {r:g} up to date ({d})")
                continue
            echo(f"AsyncSwitch I: {plan.whisper_model} + {r:g} * ({c_out} - {plan.whisper_model}) -> {d}/model.pt")
            interpolate(plan.whisper_model, c_out, r, d, progress=plan.progress)
            mark_done(d / ".done", inputs)
        final = out / f"interp_{ratio_name(plan.final_ratio)}" / "model.pt"
        # rewritten only when the chosen model changed: decoding stages key on their mtime
        final_inputs = [str(final)]
        if is_done(out / ".done.final", final_inputs) and (out / "latest.pth").is_file():
            echo(f"AsyncSwitch I: final model up to date ({out / 'latest.pth'})")
            return
        with atomic_path(out / "model.pt") as tmp:
            shutil.copyfile(final, tmp)
        save_state_dict(load_state_dict(final), out / "latest.pth", naming="espnet")
        if (c_dir / "config.yaml").is_file():
            shutil.copyfile(c_dir / "config.yaml", out / "config.yaml")
        mark_done(out / ".done.final", final_inputs)
        echo(f"AsyncSwitch I: final model (ratio {plan.final_ratio:g}) -> {out / 'model.pt'} "
             f"and {out / 'latest.pth'} (ESPnet names)")
