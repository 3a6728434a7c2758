"""Peak memory of cs-merge runs: RSS and anonymous memory, sampled from /proc/<pid>/smaps_rollup.

    .venv/bin/python bench/merge_memory.py [--shape medium] [--methods ties ...] [--suffixes .safetensors .pt]

Uses bench_merge.py's inputs (bench/.bench-data/<shape>/, made there on first use) and runs
`cs-merge` once per (method, output suffix) as a child process. ru_maxrss (from wait4) is the
kernel's exact peak RSS; the sampler (every 20 ms) adds the split that ru_maxrss cannot give:
Anonymous (heap/buffers: what the merge allocates) vs file-backed pages (shared libraries,
memory-mapped inputs). RSS does not depend much on other load on the machine, wall time does.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_merge as bm  # noqa: E402

FIELDS = ("Rss", "Anonymous", "Private_Dirty")


def _rollup(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in FIELDS:
                    out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


def run_sampled(cmd, log: Path) -> dict:
    """{wall_s, peak_rss_gib (ru_maxrss), sampled peak Rss/Anonymous/Private_Dirty GiB}."""
    peaks = {k: 0 for k in FIELDS}
    t0 = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample():
            while not done.is_set():
                for k, v in _rollup(p.pid).items():
                    peaks[k] = max(peaks[k], v)
                done.wait(0.02)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, status, ru = os.wait4(p.pid, 0)
        done.set()
        th.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd} failed; see {log}:\n{log.read_text()[-2000:]}")
    r = {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(ru.ru_utime + ru.ru_stime, 1),
         "peak_rss_gib": round(ru.ru_maxrss / 2**20, 3), "load1_before": None}
    r.update({f"sampled_{k}_gib": round(v / 2**30, 3) for k, v in peaks.items()})
    return r


def lors_cfg(data: Path):
    d = bm.yaml_cfg("task_arithmetic", data, ours=True, extra={"parameters": {"svd": "randomized", "lambda": 0.15}})
    d["merge_method"] = "lors"
    for m in d["models"]:
        m["parameters"] = {"weight": 1.0, "svp_ratio": 0.05, "mp_ratio": 0.4}
    return d


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(bm.SHAPES), default="medium")
    ap.add_argument("--methods", nargs="+", default=["task_arithmetic", "ties", "dare_ties", "lors"])
    ap.add_argument("--suffixes", nargs="+", default=[".safetensors", ".pt"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--work", type=Path, default=HERE / ".bench-data")
    ap.add_argument("--results", type=Path, default=HERE / "merge_memory.json")
    a = ap.parse_args(argv)
    data = a.work / a.shape
    bm.make_inputs(data, bm.SHAPES[a.shape])
    out_dir = a.work / f"out-{a.shape}"
    out_dir.mkdir(exist_ok=True)
    os.environ["XDG_CACHE_HOME"] = str(a.work / "cache")  # inputs hashed once, as in bench_merge.py
    py = str(bm.ROOT / ".venv" / "bin" / "python")
    base_cmd = [py if os.path.exists(py) else sys.executable, "-m", "espnet_cs_ext.bin.cs_merge"]
    if a.threads:
        base_cmd += ["--threads", str(a.threads)]
    rows = {}
    for method in a.methods:
        d = lors_cfg(data) if method == "lors" else bm.yaml_cfg(method, data, ours=True)
        cfg = bm.write_yaml(out_dir / f"mem-{method}.yaml", d)
        for suffix in a.suffixes:
            out = out_dir / f"mem-{method}{suffix}"
            load = os.getloadavg()[0]
            r = run_sampled(base_cmd + [str(cfg), str(out), "-q"], out_dir / f"mem-{method}{suffix}.log")
            r["load1_before"] = round(load, 1)
            rows[f"{method}{suffix}"] = r
            print(f"{method} {suffix}: {r}", flush=True)
            out.unlink()
            Path(str(out) + ".merge.yaml").unlink()
    a.results.write_text(json.dumps({"shape": a.shape, "threads": a.threads, "runs": rows}, indent=2))
    print("| run | peak RSS GiB (ru_maxrss) | sampled peak anonymous GiB | wall s | load before |")
    print("|---|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['peak_rss_gib']} | {r['sampled_Anonymous_gib']} | {r['wall_s']} | {r['load1_before']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
