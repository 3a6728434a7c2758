"""Benchmark cs-merge against MergeKit's `mergekit-pytorch` on the same inputs, in one run.

    .venv/bin/python bench/bench_merge.py                 # Whisper-medium shape (4 x 3.06 GB inputs)
    .venv/bin/python bench/bench_merge.py --shape small   # quicker (Whisper-small shape)

Inputs: a random base and three "fine-tunes" (base + 1e-3 * N(0,1) on every float
tensor), fp32 safetensors with Hugging Face WhisperForConditionalGeneration names,
written once into bench/.bench-data/<shape>/ (git-ignored; reused when present).

For each method (task_arithmetic, ties, dare_ties; weight 1, density 0.2) both tools
run as child processes; wall time and peak RSS (ru_maxrss of the child from wait4)
are recorded. Each run starts with the inputs read once (warm page cache).
Agreement: task_arithmetic and ties outputs are compared tensor by tensor (fp32,
max |diff| <= 1e-6). For ties, entries where some model's |tau| equals that model's
top-k cutoff value exactly are excluded (MergeKit's argsort leaves their order
unspecified; ours keeps the lowest flat index) and counted. dare_ties draws
different random masks in the two tools, so only its time and memory are compared.
LoRS (ours only): full model with the randomized SVD, and exact vs randomized SVD on
block 0 of encoder and decoder (the exact SVD of every matrix takes too long here),
with the approximation error of the randomized SVD.

MergeKit runs from its own venv (bench/.mergekit-venv; it needs transformers>=5),
created on first use: python3 -m venv, local CPU torch wheel, mergekit==0.1.5.
Results: bench/merge_results.json and a Markdown table on stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from espnet_cs_ext.merge import formats  # noqa: E402
from espnet_cs_ext.merge.parts import _kth_largest, low_rank, retained_count  # noqa: E402

HERE = Path(__file__).resolve().parent
MK_VENV = HERE / ".mergekit-venv"
SHAPES = {
    "medium": dict(n_mels=80, n_audio_ctx=1500, n_audio_state=1024, n_audio_head=16, n_audio_layer=24,
                   n_vocab=51865, n_text_ctx=448, n_text_state=1024, n_text_head=16, n_text_layer=24),
    "small": dict(n_mels=80, n_audio_ctx=1500, n_audio_state=768, n_audio_head=12, n_audio_layer=12,
                  n_vocab=51865, n_text_ctx=448, n_text_state=768, n_text_head=12, n_text_layer=12),
    "tiny": dict(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
                 n_vocab=51865, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4),
}
DENSITY = 0.2


def canonical_shapes(dims):
    import whisper.model

    with torch.device("meta"):
        model = whisper.model.Whisper(whisper.model.ModelDimensions(**dims))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def make_inputs(data: Path, dims, n_models=3, seed=0):
    """base.safetensors + ft{i}.safetensors (HF names), written tensor by tensor."""
    stamp = data / "DONE"
    if stamp.exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    shapes = canonical_shapes(dims)
    entries = [(formats.from_canonical("hf", n), s, torch.float32) for n, s in shapes.items()]
    names = ["base"] + [f"ft{i}" for i in range(n_models)]
    writers = {n: formats.SafetensorsWriter(data / f"{n}.safetensors", entries, {"format": "pt"}) for n in names}
    g = torch.Generator().manual_seed(seed)
    for (key, shape, _), name in zip(entries, shapes):
        if name == "encoder.positional_embedding":
            import whisper.model
            base = whisper.model.sinusoids(*shape)
        else:
            base = 0.02 * torch.randn(shape, generator=g)
        writers["base"].write(key, base)
        for i in range(n_models):
            ft = base if name == "encoder.positional_embedding" else base + 1e-3 * torch.randn(shape, generator=g)
            writers[f"ft{i}"].write(key, ft)
    for w in writers.values():
        w.close()
    stamp.write_text("ok\n")


def ensure_mergekit():
    exe = MK_VENV / "bin" / "mergekit-pytorch"
    if exe.exists():
        return exe
    wheel = sorted(Path("/opt/wheels").glob("torch-2.13.0+cpu-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(MK_VENV)], check=True)
    pip = [str(MK_VENV / "bin" / "pip"), "install", "-q"]
    subprocess.run(pip + ([str(wheel[0])] if wheel else ["torch"]), check=True)
    subprocess.run(pip + ["mergekit==0.1.5"], check=True)
    return exe


def run_child(cmd, log: Path):
    """{wall_s, cpu_s, peak_rss_gib, load1} of a child process (rusage from wait4); raises on failure.

    cpu_s (user + system) is less sensitive than wall time to other work on the machine.
    """
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}); see {log}:\n{log.read_text()[-2000:]}")
    return {"wall_s": round(wall, 1), "cpu_s": round(ru.ru_utime + ru.ru_stime, 1),
            "peak_rss_gib": round(ru.ru_maxrss / 2**20, 2), "load1_before": round(load, 1)}


def warm(files):
    for f in files:
        with open(f, "rb", buffering=0) as fh:
            buf = bytearray(64 << 20)
            while fh.readinto(buf):
                pass


def yaml_cfg(method, data: Path, ours: bool, extra=None):
    params = {"weight": 1.0} if method == "task_arithmetic" else {"weight": 1.0, "density": DENSITY}
    d = {"merge_method": method, "base_model": str(data / "base.safetensors"),
         "models": [{"model": str(data / f"ft{i}.safetensors"), "parameters": params} for i in range(3)],
         "dtype": "float32"}
    if ours and method == "dare_ties":
        d["parameters"] = {"rescale": "l1"}  # MergeKit 0.1.5's `rescale: true` means L1 matching
    d.update(extra or {})
    return d


def write_yaml(path, d):
    import yaml

    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def open_output(path: Path):
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
    cks = [formats.Checkpoint(f) for f in files]
    where = {n: c for c in cks for n in c.infos}
    return where, cks


def compare(method, ours: Path, theirs: Path, data: Path):
    """max |ours - mergekit| over all tensors; for ties, excluding exact ties at the top-k cutoff."""
    o, ocks = open_output(ours)
    t, tcks = open_output(theirs)
    base = formats.Checkpoint(data / "base.safetensors")
    fts = [formats.Checkpoint(data / f"ft{i}.safetensors") for i in range(3)]
    worst, worst_name, excluded, n = 0.0, "", 0, 0
    try:
        assert set(o) == set(t), f"tensor sets differ: {sorted(set(o) ^ set(t))[:5]}"
        for name in o:
            a, b = o[name].read(name), t[name].read(name)
            diff = (a - b).abs()
            if method == "ties" and a.is_floating_point() and name != "encoder.positional_embedding":
                bt = base.read(name)
                tie = torch.zeros_like(a, dtype=torch.bool)
                for ft in fts:
                    tau = (ft.read(name) - bt).abs()
                    k = retained_count(tau.numel(), DENSITY)
                    cut = _kth_largest(tau.reshape(-1), k)  # exact; tested against topk
                    tie |= tau == cut
                excluded += int(tie.sum())
                diff[tie] = 0
            n += a.numel()
            m = float(diff.max()) if diff.numel() else 0.0
            if m > worst:
                worst, worst_name = m, name
    finally:
        for c in ocks + tcks + [base] + fts:
            c.close()
    return {"max_abs_diff": worst, "worst_tensor": worst_name, "excluded_ties": excluded, "elements": n}


def lors_svd_error(data: Path, names, ratio=0.05):
    """Randomized vs exact truncated SVD on real task vectors of the bench inputs."""
    base = formats.Checkpoint(data / "base.safetensors")
    ft = formats.Checkpoint(data / "ft0.safetensors")
    rows = []
    for name in names:
        tau = ft.read(name) - base.read(name)
        t0 = time.perf_counter()
        ex = low_rank(tau, ratio, "exact")
        t1 = time.perf_counter()
        rnd = low_rank(tau, ratio, "randomized")
        t2 = time.perf_counter()
        opt = float((tau - ex).norm())
        rows.append({"tensor": name, "shape": list(tau.shape), "rank": retained_count(min(tau.shape), ratio),
                     "exact_s": t1 - t0, "randomized_s": t2 - t1,
                     "resid_ratio": float((tau - rnd).norm()) / opt,
                     "rel_diff_to_exact": float((rnd - ex).norm() / ex.norm())})
    # a task vector with a decaying spectrum (planted rank-8 + 1% noise): the realistic case
    g = torch.Generator().manual_seed(0)
    m, n = rows[0]["shape"]
    planted = torch.randn(m, 8, generator=g) @ torch.randn(8, n, generator=g) + 0.01 * torch.randn(m, n, generator=g)
    ex, rnd = low_rank(planted, ratio, "exact"), low_rank(planted, ratio, "randomized")
    rows.append({"tensor": "planted rank-8 + 1% noise", "shape": [m, n], "rank": retained_count(min(m, n), ratio),
                 "resid_ratio": float((planted - rnd).norm() / (planted - ex).norm()),
                 "rel_diff_to_exact": float((rnd - ex).norm() / ex.norm())})
    base.close()
    ft.close()
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="medium")
    ap.add_argument("--methods", nargs="+", default=["task_arithmetic", "dare_ties", "ties"])
    ap.add_argument("--skip-mergekit", action="store_true")
    ap.add_argument("--skip-lors", action="store_true")
    ap.add_argument("--work", type=Path, default=HERE / ".bench-data")
    ap.add_argument("--results", type=Path, default=HERE / "merge_results.json")
    ap.add_argument("--update", action="store_true",
                    help="add to / overwrite entries of an existing results file instead of starting anew")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)  # the in-process SVD timings, like cs-merge's default (see its --threads)

    data = a.work / a.shape
    t0 = time.perf_counter()
    make_inputs(data, SHAPES[a.shape])
    gen_s = time.perf_counter() - t0
    inputs = [data / "base.safetensors"] + [data / f"ft{i}.safetensors" for i in range(3)]
    out_dir = a.work / f"out-{a.shape}"
    out_dir.mkdir(exist_ok=True)
    py = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
    ours_cmd = [py, "-m", "espnet_cs_ext.bin.cs_merge"]
    mk = None if a.skip_mergekit else ensure_mergekit()

    # cs-merge remembers input checksums (espnet_cs_ext.merge.engine.cached_sha256); hash the
    # inputs once here, timed, so every cs-merge run below sees the same (warm) cache
    os.environ["XDG_CACHE_HOME"] = str(a.work / "cache")
    from espnet_cs_ext.merge.engine import cached_sha256
    t0 = time.perf_counter()
    for f in inputs:
        cached_sha256(str(f))
    checksum_s = time.perf_counter() - t0

    res = {"shape": a.shape, "params": None, "checksum_first_run_s": round(checksum_s, 1),
           "input_gib_each": round(inputs[0].stat().st_size / 2**30, 3),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "cpu": platform.processor(),
                       "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                       "torch": torch.__version__},
           "generate_s": round(gen_s, 1), "runs": {}, "agreement": {}}
    with formats.Checkpoint(inputs[0]) as ck:
        res["params"] = sum(i.numel for i in ck.infos.values())
    if a.update and a.results.exists():
        old = json.loads(a.results.read_text())
        for key in ("runs", "agreement"):
            old.setdefault(key, {}).update(res[key])
        res = {**old, **{k: v for k, v in res.items() if k not in ("runs", "agreement")}, "runs": old["runs"],
               "agreement": old["agreement"]}

    def rm(p: Path):
        subprocess.run(["rm", "-rf", str(p)], check=True)

    for method in a.methods:
        ours_out = out_dir / f"ours-{method}.safetensors"
        mk_out = out_dir / f"mergekit-{method}"
        if mk is not None:
            rm(mk_out)
            cfg = write_yaml(out_dir / f"mergekit-{method}.yaml", yaml_cfg(method, data, ours=False))
            warm(inputs)
            r = run_child([str(mk), str(cfg), str(mk_out), "--no-cuda", "--random-seed", "0"],
                          out_dir / f"mergekit-{method}.log")
            res["runs"][f"mergekit/{method}"] = r
            print(f"mergekit {method}: {r}", flush=True)
        rm(ours_out)
        cfg = write_yaml(out_dir / f"ours-{method}.yaml", yaml_cfg(method, data, ours=True))
        warm(inputs)
        r = run_child(ours_cmd + [str(cfg), str(ours_out), "-q"], out_dir / f"ours-{method}.log")
        res["runs"][f"ours/{method}"] = r
        print(f"ours {method}: {r}", flush=True)
        if mk is not None and method in ("task_arithmetic", "ties"):
            res["agreement"][method] = compare(method, ours_out, mk_out, data)
            print(f"agreement {method}: {res['agreement'][method]}", flush=True)
        if mk is not None:
            rm(mk_out)
        rm(ours_out)
        a.results.write_text(json.dumps(res, indent=2))

    if not a.skip_lors:
        lors = {"svp_ratio": 0.05, "mp_ratio": 0.4}
        for label, extra in [("lors-randomized-full", {"parameters": {"svd": "randomized", "lambda": 0.15}}),
                             ("lors-randomized-block0", {"parameters": {"svd": "randomized", "lambda": 0.15},
                                                         "filters": {"layers": "0"}}),
                             ("lors-exact-block0", {"parameters": {"svd": "exact", "lambda": 0.15},
                                                    "filters": {"layers": "0"}})]:
            d = yaml_cfg("task_arithmetic", data, ours=True, extra=extra)
            d["merge_method"] = "lors"
            for m in d["models"]:
                m["parameters"] = {"weight": 1.0, **lors}
            out = out_dir / f"ours-{label}.safetensors"
            cfg = write_yaml(out_dir / f"ours-{label}.yaml", d)
            warm(inputs)
            r = run_child(ours_cmd + [str(cfg), str(out), "-q"], out_dir / f"ours-{label}.log")
            res["runs"][f"ours/{label}"] = r
            print(f"ours {label}: {r}", flush=True)
            if label != "lors-exact-block0":
                rm(out)
        rm(out_dir / "ours-lors-exact-block0.safetensors")
        res["svd_error"] = lors_svd_error(data, ["decoder.blocks.0.attn.query.weight",
                                                 "decoder.blocks.0.mlp.0.weight"])
        a.results.write_text(json.dumps(res, indent=2))

    print(markdown(res))
    return 0


def markdown(res):
    lines = [f"shape {res['shape']}: {res['params'] / 1e6:.1f}M parameters, {res['input_gib_each']} GiB per input, "
             f"{res['machine']['cpus']} CPUs, {res['machine']['mem_gib']} GiB RAM", "",
             "| method | MergeKit wall s (CPU s) | MergeKit peak RSS GiB | cs-merge wall s (CPU s) | "
             "cs-merge peak RSS GiB | speed-up wall (CPU) | memory ratio | load avg before (MK / ours) |",
             "|---|---|---|---|---|---|---|---|"]
    for key, r in res["runs"].items():
        tool, method = key.split("/")
        if tool != "ours":
            continue
        mk = res["runs"].get(f"mergekit/{method}")
        if mk:
            lines.append(f"| {method} | {mk['wall_s']} ({mk['cpu_s']}) | {mk['peak_rss_gib']} | {r['wall_s']} "
                         f"({r['cpu_s']}) | {r['peak_rss_gib']} | {mk['wall_s'] / r['wall_s']:.1f}x "
                         f"({mk['cpu_s'] / r['cpu_s']:.1f}x) | {r['peak_rss_gib'] / mk['peak_rss_gib']:.2f} | "
                         f"{mk['load1_before']} / {r['load1_before']} |")
        else:
            lines.append(f"| {method} | - | - | {r['wall_s']} ({r['cpu_s']}) | {r['peak_rss_gib']} | - | - | "
                         f"- / {r['load1_before']} |")
    for m, ag in res.get("agreement", {}).items():
        lines.append(f"\nagreement {m}: max |diff| {ag['max_abs_diff']:.3g} ({ag['worst_tensor']}), "
                     f"{ag['excluded_ties']} of {ag['elements']} elements excluded as exact ties at the cutoff")
    lines.append(f"\ncs-merge input checksums, first run only (then cached): {res.get('checksum_first_run_s')} s")
    for r in res.get("svd_error", []):
        lines.append(f"\nSVD {r['tensor']} {r['shape']} rank {r['rank']}: residual randomized / exact "
                     f"{r['resid_ratio']:.4f}, |L_rand - L_exact| / |L_exact| {r['rel_diff_to_exact']:.3g}"
                     + (f", exact {r['exact_s']:.2f} s vs randomized {r['randomized_s']:.2f} s" if "exact_s" in r else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
