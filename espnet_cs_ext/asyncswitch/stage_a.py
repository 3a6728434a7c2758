"""AsyncSwitch stage A: adapt Whisper's decoder LM on code-switched text only.

The decoder cross-attends to an all-zero encoder output (paper: x = 0), so it acts as
a conditional language model; only the stage-A groups of `groups.py` train (self-
attention, FFN, tied output projection/token embedding, final ln). The loss covers the
text tokens and <|endoftext|>; the 4-token prefix is given, not predicted (predicting
the language with no audio would only teach a prior over languages).

Note on the zero memory: the key projection has no bias, so keys are all zero, the
attention is uniform and every cross-attention output is out(value.bias) whatever the
number of zero frames. `encoder_frames: null` uses the model's n_audio_ctx (the paper's
zeros of full size); a small number gives the same values (up to float rounding) faster.

Resumable: every `checkpoint_every` steps `checkpoint.pt` (trainable tensors, AdamW and
scheduler state, step, RNG states, a fingerprint of config + init model + text files)
is written atomically; a rerun continues from it and ends with the same weights as an
uninterrupted run (batches are a pure function of the step index). Outputs in OUT:

    model.pt            openai-whisper checkpoint (dims + state dict)
    espnet_init.pth     the same weights with ESPnet names, for `--init_param`
    trainable.txt       the parameter-group summary; text_report.json; train_a.log
    done.json           final step/loss and the fingerprint (a rerun with the same inputs skips)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from ..utils.atomic import atomic_open, atomic_path
from ..utils.errors import CsExtError
from ..utils.halt import halt_point
from .config import StageAConfig, lr_factor
from .groups import apply_stage, summary
from .textdata import PREFIX_LEN, TextEncoder, parse_source, read_corpus

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
IGNORE = -100
# options that do not change the result, so a resume may change them
_RESULT_NEUTRAL = ("checkpoint_every", "log_every", "device")


@dataclasses.dataclass
class StageAResult:
    out_dir: Path
    step: int
    finished: bool
    loss: Optional[float] = None

    @property
    def whisper_path(self) -> Path:
        return self.out_dir / "model.pt"

    @property
    def espnet_path(self) -> Path:
        return self.out_dir / "espnet_init.pth"


def fingerprint(cfg: StageAConfig, init: str, texts: Sequence[str]) -> str:
    """What the result depends on: config (less neutral keys), init model, text files."""
    from ..recipe.stamp import fingerprint as files_fp
    from ..whisper import resolve_checkpoint

    d = {k: v for k, v in cfg.to_dict().items() if k not in _RESULT_NEUTRAL}
    init_path = str(resolve_checkpoint(init))
    parts = [json.dumps(d, sort_keys=True), init_path, *[parse_source(t).path for t in texts]]
    langs = [str(parse_source(t).lang) for t in texts]
    return hashlib.sha256((files_fp(parts) + "|" + ",".join(langs)).encode()).hexdigest()[:16]


class _Batches:
    """Batch `step` = sentences step*B .. step*B+B-1 of an endless stream of seeded
    permutations (one per pass): a pure function of the step, so resuming needs no
    loader state."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.b, self.seed = n, batch_size, seed
        self._perm_epoch, self._perm = -1, None

    def _perm_of(self, epoch: int):
        import torch

        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(self.n, generator=g).tolist(), epoch
        return self._perm

    def indices(self, step: int) -> List[int]:
        out = []
        for k in range(step * self.b, (step + 1) * self.b):
            epoch, pos = divmod(k, self.n)
            out.append(self._perm_of(epoch)[pos])
        return out


def collate(seqs: List[List[int]], pad_id: int):
    """(inputs, targets): inputs drop the last token; targets drop the first and ignore
    the prefix (lang, task, notimestamps) and the padding."""
    import torch

    length = max(len(s) for s in seqs) - 1
    inp = torch.full((len(seqs), length), pad_id, dtype=torch.long)
    tgt = torch.full((len(seqs), length), IGNORE, dtype=torch.long)
    for i, s in enumerate(seqs):
        t = torch.tensor(s, dtype=torch.long)
        inp[i, :len(s) - 1] = t[:-1]
        tgt[i, :len(s) - 1] = t[1:]
        tgt[i, :PREFIX_LEN - 1] = IGNORE
    return inp, tgt


def decoder_loss(model, inp, tgt, frames: int, lsm: float):
    """Label-smoothed CE of the decoder over a zero encoder output of `frames` frames."""
    import torch
    import torch.nn.functional as F

    dims = model.dims
    xa = torch.zeros(inp.size(0), frames, dims.n_audio_state, device=inp.device)
    logits = model.decoder(inp, xa)
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt.reshape(-1),
                           ignore_index=IGNORE, label_smoothing=lsm)


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise CsExtError("stage A: device cuda requested but torch sees no GPU")
    return name


def write_outputs(model, out: Path) -> None:
    """model.pt (openai-whisper) and espnet_init.pth (ESPnet names) of the same weights."""
    from ..merge.formats import save_state_dict

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    dims = dataclasses.asdict(model.dims)
    save_state_dict(state, out / "model.pt", naming="whisper", dims=dims)
    save_state_dict(state, out / "espnet_init.pth", naming="espnet")


def run_stage_a(cfg: StageAConfig, init: str, texts: Sequence[str], out_dir: str | Path, *,
                stop_after: Optional[int] = None, progress: bool = True,
                echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> StageAResult:
    """Train stage A (or continue it from OUT/checkpoint.pt); see the module docstring.

    `stop_after`: end this run after that global step (a checkpoint is written), as a
    kill would; the next call resumes.
    """
    import torch
    from tqdm import tqdm

    from ..whisper import load_whisper

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fp = fingerprint(cfg, init, texts)
    done = out / "done.json"
    if done.is_file() and (out / "espnet_init.pth").is_file() and (out / "model.pt").is_file():
        d = json.loads(done.read_text())
        if d.get("fingerprint") == fp:
            echo(f"stage A: {out} is complete for these inputs (step {d['step']}), skipped")
            return StageAResult(out, d["step"], True, d.get("loss"))
    device = _device(cfg.device)
    model = load_whisper(init, device="cpu").float()
    dims = model.dims
    if dims.n_vocab < 51865:
        raise CsExtError(f"{init}: English-only Whisper (n_vocab {dims.n_vocab}) has no language "
                         f"tokens; AsyncSwitch stage A needs a multilingual model")
    apply_stage(model, "A")
    table = summary(model, "A")
    echo(table)
    with atomic_open(out / "trainable.txt") as f:
        f.write(table + "\n")

    encoder = TextEncoder(cfg.cleaner, cfg.task)
    seqs, report = read_corpus(texts, encoder, max_len=dims.n_text_ctx)
    echo(report.format())
    with atomic_open(out / "text_report.json") as f:
        json.dump(report.to_dict(), f, indent=1, ensure_ascii=False)
        f.write("\n")

    model.to(device).train()
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, cfg.steps, cfg.warmup_steps, cfg.lr, cfg.min_lr))
    step = 0
    ck_path = out / CHECKPOINT
    if ck_path.is_file():
        ck = torch.load(ck_path, map_location="cpu", weights_only=True)
        if ck.get("fingerprint") != fp:
            raise CsExtError(f"{ck_path} was written for other inputs (config, init model or text "
                             f"files changed); delete it or use another output dir")
        with torch.no_grad():
            for n, p in named:
                p.copy_(ck["params"][n])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["rng_torch"])
        random.setstate(ck["rng_python"])
        step = int(ck["step"])
        echo(f"stage A: resumed from {ck_path} at step {step}/{cfg.steps}")

    def save_checkpoint():
        state = {"step": step, "fingerprint": fp,
                 "params": {n: p.detach().cpu().clone() for n, p in named},
                 "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "rng_torch": torch.get_rng_state(), "rng_python": random.getstate()}
        with atomic_path(ck_path) as tmp, open(tmp, "wb") as fobj:  # archive not named after the temp
            torch.save(state, fobj)
        halt_point(f"stage-a-checkpoint {ck_path}")

    frames = cfg.encoder_frames or dims.n_audio_ctx
    batches = _Batches(len(seqs), cfg.batch_size, cfg.seed)
    last = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    bar = tqdm(total=cfg.steps, initial=step, desc="stage A", unit="step", disable=not progress,
               file=sys.stderr)
    run_loss, run_n, t0, loss_val = 0.0, 0, time.time(), None
    with open(out / "train_a.log", "a", encoding="utf-8") as logf:
        while step < last:
            inp, tgt = collate([seqs[i] for i in batches.indices(step)], encoder.eot)
            loss = decoder_loss(model, inp.to(device), tgt.to(device), frames, cfg.lsm_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            lr = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
            step += 1
            loss_val = float(loss.detach())
            if not torch.isfinite(loss.detach()):
                raise CsExtError(f"stage A: loss is {loss_val} at step {step}; lower lr ({cfg.lr})")
            run_loss, run_n = run_loss + loss_val, run_n + 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == last:
                dt = (time.time() - t0) / run_n
                logf.write(f"step {step}/{cfg.steps} loss {run_loss / run_n:.4f} lr {lr:.3e} "
                           f"{dt:.2f} s/step\n")
                logf.flush()
                bar.set_postfix(loss=f"{run_loss / run_n:.3f}")
                run_loss, run_n, t0 = 0.0, 0, time.time()
            if step % cfg.checkpoint_every == 0 or step == last:
                save_checkpoint()
    bar.close()
    if step < cfg.steps:
        echo(f"stage A: stopped after step {step}/{cfg.steps}; rerun to resume from {ck_path}")
        return StageAResult(out, step, False, loss_val)
    model.cpu()
    write_outputs(model, out)
    with atomic_open(done) as f:
        json.dump({"step": step, "loss": loss_val, "fingerprint": fp, "init": init,
                   "texts": list(texts), "config": cfg.to_dict()}, f, indent=1)
        f.write("\n")
    ck_path.unlink(missing_ok=True)  # optimizer state is large; the outputs replace it
    echo(f"stage A: done, {step} steps -> {out / 'model.pt'}, {out / 'espnet_init.pth'}")
    return StageAResult(out, step, True, loss_val)
