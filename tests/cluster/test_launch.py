"""`espnet_cs_ext.bin.launch`: local and slurm backends, the log layout, failures, --skip-done.

The slurm tests submit to a real private Slurm (conftest.slurm_cluster): real job ids,
array throttling, scancel. A task's behaviour is driven by marker files so a rerun can
succeed where the first run failed, and `ran.txt` records which tasks actually ran.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from espnet_cs_ext.launch.slurm import SlurmOptions, array_ranges, sbatch_args
from espnet_cs_ext.launch.spec import JobSpec, failure_message, last_output_line, read_exit
from espnet_cs_ext.utils.errors import CsExtError

# Task J appends "J" to ran.txt, prints a line, and exits 3 unless ok.J exists.
TASK = ["bash", "-c", "echo JOB >> ran.txt; echo output of task JOB; test -e ok.JOB || exit 3"]


def lines(path: Path) -> list:
    return path.read_text().splitlines()


# ---------------------------------------------------------------- pure parts

@pytest.mark.parametrize("indices, expected", [
    ([1], "1"),
    ([1, 2, 3, 4], "1-4"),
    ([2], "2"),
    ([1, 2, 3, 5, 7, 8], "1-3,5,7-8"),
    ([8, 7, 1, 1], "1,7-8"),
])
def test_array_ranges(indices, expected):
    assert array_ranges(indices) == expected


@pytest.mark.parametrize("opts, expected", [
    (SlurmOptions(), []),
    (SlurmOptions(max_parallel=2), []),  # only changes --array
    (SlurmOptions(gpus=1, mem="16G", time="4:00:00"), ["--gres=gpu:1", "--mem=16G", "--time=4:00:00"]),
    (SlurmOptions(cpus=4, partition="gpu"), ["--cpus-per-task=4", "--partition=gpu"]),
    (SlurmOptions(mem="4G", extra=["--account=cs", "--mem=8G"]), ["--mem=4G", "--account=cs", "--mem=8G"]),
])
def test_sbatch_args(opts, expected, tmp_path):
    args = sbatch_args("decode", [1, 2, 3], tmp_path, opts, tmp_path / "decode.sh")
    fixed = ["sbatch", "--parsable", "--job-name=cs-decode",
             "--array=1-3" + (f"%{opts.max_parallel}" if opts.max_parallel else ""),
             f"--output={tmp_path}/decode.%A_%a.out", f"--chdir={os.getcwd()}", "--export=ALL"]
    assert args == fixed + expected + [str(tmp_path / "decode.sh")]


def test_slurm_options_from_env(monkeypatch):
    monkeypatch.setenv("CS_SLURM_OPTS", "--account=cs '--comment=two words'")
    monkeypatch.setenv("CS_SLURM_GPU_OPTS", "--partition=gpu")
    monkeypatch.setenv("CS_SLURM_POLL", "0.5")
    opts = SlurmOptions.from_env(gpus=2)
    assert (opts.extra, opts.poll_s, opts.gpus) == (["--account=cs", "--comment=two words", "--partition=gpu"], 0.5, 2)
    assert SlurmOptions.from_env().extra == ["--account=cs", "--comment=two words"]  # no GPU: no GPU options
    monkeypatch.setenv("CS_SLURM_POLL", "soon")
    with pytest.raises(CsExtError, match="CS_SLURM_POLL='soon'"):
        SlurmOptions.from_env()


@pytest.mark.parametrize("words, message", [
    (["JOB=3:1", "x.log", "true"], "empty array 'JOB=3:1'"),
    (["JOB=a:b", "x.log", "true"], "bad array spec 'JOB=a:b'"),
    (["x.log"], "no command after the log file x.log"),
    (["JOB=1:2"], "got no log file"),
    (["x.log", "--", "true"], "'--' after x.log: the command follows the log file directly"),
])
def test_bad_specs(words, message):
    with pytest.raises(CsExtError, match=re.escape(message)):
        JobSpec.parse(words)


def test_spec_names_and_substitution():
    spec = JobSpec.parse(["JOB=1:3", "exp/decode/m/log/decode.JOB.log", "decode", "--job", "JOB", "JOBS", "x.JOB"])
    assert spec.command(2) == ["decode", "--job", "2", "JOBS", "x.2"]  # whole words only
    assert (str(spec.log(3)), spec.name(), str(spec.log_dir())) == (
        "exp/decode/m/log/decode.3.log", "decode", "exp/decode/m/log")
    assert JobSpec.parse(["exp/train.log", "t"]).name() == "train"
    assert JobSpec.parse(["JOB=3", "l.JOB.log", "t"]).indices == [3]  # run.pl's single index


@pytest.mark.parametrize("argv, options, rest", [
    # run.pl / slurm.pl words: options, then [JOB=a:b] LOG, then the command with its own options
    (["--max-jobs-run", "2", "JOB=1:2", "l.JOB.log", "cmd", "--x", "1"], ["--max-jobs-run", "2"],
     ["JOB=1:2", "l.JOB.log", "cmd", "--x", "1"]),
    (["--gpu=1", "--skip-done", "--mem", "4G", "l.log", "a", "--", "b"], ["--gpu=1", "--skip-done", "--mem", "4G"],
     ["l.log", "a", "--", "b"]),
    (["l.log", "--help"], [], ["l.log", "--help"]),
])
def test_options_end_at_the_first_other_word(argv, options, rest):
    from espnet_cs_ext.bin.launch import get_parser, split_options

    assert split_options(argv) == (options, rest)
    get_parser().parse_args(options)  # every run.pl name above is one of ours


@pytest.mark.parametrize("log_text, expected", [
    ("# cs-merge a.yaml out.pt\ncs-merge: error: exp/m.pth: truncated\n# exit 2\n", "cs-merge: error: exp/m.pth: truncated"),
    ("# cmd\nTraceback (most recent call last):\n  File \"x.py\"\nValueError: bad shape\n\n# exit 1\n",
     "ValueError: bad shape"),
    ("# cmd\n# slurm job 7_1 on node\n# exit -15\n", None),   # killed before any output
    ("", None),
])
def test_last_output_line_is_the_reason(tmp_path, log_text, expected):
    log = tmp_path / "t.log"
    log.write_text(log_text)
    assert last_output_line(log) == expected
    assert last_output_line(tmp_path / "absent.log") is None


def test_failure_message_shows_the_first_failures_reasons(tmp_path):
    logs = []
    for j in range(1, 6):
        logs.append(tmp_path / f"t.{j}.log")
        logs[-1].write_text(f"# cmd {j}\nerror in task {j}\n# exit 1\n")
    lines_ = failure_message([(log, "exit 1") for log in logs]).splitlines()
    assert lines_[0].startswith("5 job(s) failed; see ")
    assert lines_[1:] == [f"  {logs[j]}: error in task {j + 1}" for j in range(3)]


# ---------------------------------------------------------------- local backend

def test_local_layout_failure_and_skip_done(tmp_path, launch):
    (tmp_path / "ok.1").touch()
    (tmp_path / "ok.3").touch()
    proc = launch("--max-parallel", 2, "JOB=1:3", "log/t.JOB.log", *TASK, cwd=tmp_path, check=2)
    err = proc.stderr.strip().splitlines()[-2:]
    assert err[0].startswith("launch: error: 1 job(s) failed; see log/t.2.log (exit 3)"), err
    assert err[1] == "  log/t.2.log: output of task 2"  # why it failed, on the console
    for j, rc in ((1, 0), (2, 3), (3, 0)):
        log = lines(tmp_path / f"log/t.{j}.log")
        assert log[0] == "# " + shlex.join([t.replace("JOB", str(j)) for t in TASK])
        assert log[1:] == [f"output of task {j}", f"# exit {rc}"]
    assert sorted(lines(tmp_path / "ran.txt")) == ["1", "2", "3"]
    (tmp_path / "ok.2").touch()
    proc = launch("--skip-done", "JOB=1:3", "log/t.JOB.log", *TASK, cwd=tmp_path, check=0)
    assert "2 of 3 task(s) already finished" in proc.stderr
    assert lines(tmp_path / "ran.txt")[3:] == ["2"]
    assert read_exit(tmp_path / "log/t.2.log")[1] == 0
    # a changed command is not "done": everything runs again
    launch("--skip-done", "JOB=1:3", "log/t.JOB.log", *TASK, "extra", cwd=tmp_path, check=0)
    assert sorted(lines(tmp_path / "ran.txt")[4:]) == ["1", "2", "3"]


@pytest.mark.parametrize("cores, max_parallel, tasks, expected", [
    (2, 2, 26, 1),   # the demo's stage 7: two jobs at once on 2 cores -> one thread each
    (2, 1, 5, 2),    # training: one at a time gets every core
    (16, 4, 2, 8),   # fewer tasks than slots: the tasks that run share all cores
    (2, 4, 9, 1),    # never below one
])
def test_local_job_cpus_share(monkeypatch, cores, max_parallel, tasks, expected):
    from espnet_cs_ext.launch import local

    monkeypatch.setattr(local.os, "cpu_count", lambda: cores)
    assert local.job_cpus(max_parallel, tasks) == expected


def test_local_tasks_see_their_core_share(tmp_path, launch):
    task = ["bash", "-c", "echo $CS_JOB_CPUS > cpus.JOB"]
    launch("--max-parallel", 2, "JOB=1:3", "log/c.JOB.log", *task, cwd=tmp_path, check=0)
    expected = str(max(1, (os.cpu_count() or 1) // 2))
    assert [(tmp_path / f"cpus.{j}").read_text().strip() for j in (1, 2, 3)] == [expected] * 3


@pytest.mark.parametrize("env, nj, expected", [
    ({"CS_JOB_CPUS": "3"}, 1, 3),
    ({"SLURM_CPUS_PER_TASK": "4"}, 2, 4),
    ({"CS_JOB_CPUS": "0"}, 1, None),       # ignored: cores // nj
    ({"CS_JOB_CPUS": "x"}, 2, None),
    ({}, 1, None),
])
def test_decode_threads_follow_the_launcher(monkeypatch, env, nj, expected):
    from espnet_cs_ext.bin.decode import job_threads

    for var in ("CS_JOB_CPUS", "SLURM_CPUS_PER_TASK"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert job_threads(nj) == (expected or max(1, (os.cpu_count() or 1) // nj))


def test_slurm_backend_without_sbatch_names_the_package(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no sbatch on PATH
    proc = subprocess.run([sys.executable, "-m", "espnet_cs_ext.bin.launch", "--backend", "slurm",
                           "log/x.log", "true"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "'sbatch' not found" in proc.stderr and "apt-get install slurm-client" in proc.stderr


# ---------------------------------------------------------------- slurm backend

def _job_id(stderr: str) -> int:
    m = re.search(r"Slurm job (\d+), array (\S+)", stderr)
    assert m, stderr
    return int(m.group(1))


def test_slurm_array_failure_and_resubmit_only_failed(slurm_cluster, tmp_path, launch):
    (tmp_path / "ok.1").touch()
    (tmp_path / "ok.3").touch()
    proc = launch("--backend", "slurm", "--max-parallel", 2, "JOB=1:3", "log/t.JOB.log", *TASK,
                  cwd=tmp_path, check=2)
    job = _job_id(proc.stderr)
    assert "array 1-3 ->" in proc.stderr
    err = proc.stderr.strip().splitlines()[-2:]
    assert re.fullmatch(rf"launch: error: 1 job\(s\) failed; see log/t\.2\.log \(exit 3, Slurm {job}_2 FAILED\); "
                        r"rerun with --skip-done to run only the failed ones", err[0]), err
    assert err[1] == "  log/t.2.log: output of task 2"  # the "# slurm job" line is not output
    for j, rc in ((1, 0), (2, 3), (3, 0)):
        log = lines(tmp_path / f"log/t.{j}.log")
        assert log[0].startswith("# bash -c ") and f"echo {j} >> ran.txt" in log[0]
        assert log[1] == f"# slurm job {job}_{j} on {os.uname().nodename.split('.')[0]}"
        assert log[2:] == [f"output of task {j}", f"# exit {rc}"]
    # Slurm itself saw the same outcome
    show = subprocess.run(["scontrol", "-o", "show", "job", str(job)], capture_output=True, text=True).stdout
    states = dict(re.findall(r"ArrayTaskId=(\d+) .*?JobState=(\S+)", show))
    assert states == {"1": "COMPLETED", "2": "FAILED", "3": "COMPLETED"}, show
    assert (tmp_path / "log/q/t.jobid").read_text().strip() == str(job)
    assert sorted(lines(tmp_path / "ran.txt")) == ["1", "2", "3"]

    (tmp_path / "ok.2").touch()
    proc = launch("--backend", "slurm", "--skip-done", "JOB=1:3", "log/t.JOB.log", *TASK,
                  cwd=tmp_path, check=0)
    again = _job_id(proc.stderr)
    assert again > job and f"Slurm job {again}, array 2 ->" in proc.stderr
    assert lines(tmp_path / "ran.txt")[3:] == ["2"]  # only the failed task ran
    assert lines(tmp_path / "log/t.2.log")[1].startswith(f"# slurm job {again}_2 ")
    assert lines(tmp_path / "log/t.1.log")[1].startswith(f"# slurm job {job}_1 ")  # untouched
    # all done: nothing is submitted
    proc = launch("--backend", "slurm", "--skip-done", "JOB=1:3", "log/t.JOB.log", *TASK,
                  cwd=tmp_path, check=0)
    assert "3 of 3 task(s) already finished" in proc.stderr and "Slurm job" not in proc.stderr


def test_slurm_single_job_and_resources(slurm_cluster, tmp_path, launch):
    proc = launch("--backend", "slurm", "--mem", "100M", "--time", "5", "--num-threads", "1",
                  "exp/one.log", "bash", "-c", "echo cpus=$SLURM_CPUS_PER_TASK mem=$SLURM_MEM_PER_NODE",
                  cwd=tmp_path, check=0)
    job = _job_id(proc.stderr)
    assert lines(tmp_path / "exp/one.log")[1:] == [f"# slurm job {job}_1 on {os.uname().nodename.split('.')[0]}",
                                                   "cpus=1 mem=100", "# exit 0"]
    show = subprocess.run(["scontrol", "-o", "show", "job", str(job)], capture_output=True, text=True).stdout
    assert "TimeLimit=00:05:00" in show and "JobName=cs-one" in show, show


def test_slurm_scancel_is_reported_and_a_second_copy_refused(slurm_cluster, tmp_path, launch, wait_until):
    cmd = ["bash", "-c", "echo started JOB; sleep 60"]
    first = subprocess.Popen([sys.executable, "-m", "espnet_cs_ext.bin.launch", "--backend", "slurm",
                              "JOB=1:2", "log/s.JOB.log", *cmd],
                             cwd=tmp_path, env=dict(os.environ), stderr=subprocess.PIPE, text=True)
    try:
        logs = [tmp_path / f"log/s.{j}.log" for j in (1, 2)]
        wait_until(lambda: all(p.exists() and len(lines(p)) >= 3 for p in logs), "both tasks' start", first)
        job = (tmp_path / "log/q/s.jobid").read_text().strip()
        proc = launch("--backend", "slurm", "JOB=1:2", "log/s.JOB.log", *cmd, cwd=tmp_path, check=2)
        assert f"Slurm job {job} over log/s.JOB.log is still queued or running" in proc.stderr
        subprocess.run(["scancel", f"{job}_2"], check=True)
        wait_until(lambda: lines(logs[1])[-1] == "# exit -15", "task 2's end after scancel", first)
        subprocess.run(["scancel", f"{job}_1"], check=True)
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 2, err
    for j in (1, 2):
        assert lines(tmp_path / f"log/s.{j}.log")[-1] == "# exit -15"
        assert f"log/s.{j}.log (killed by signal 15, Slurm {job}_{j} CANCELLED)" in err, err


def test_recipe_cmd_sh_runs_espnet_style_lines_locally(tmp_path):
    """The issue's check: `. ./cmd.sh; ${decode_cmd} JOB=1:3 exp/log/t.JOB.log echo JOB`."""
    recipe = Path(__file__).resolve().parents[2] / "egs2" / "cs_unseen" / "asr1"
    env = dict(os.environ, CS_BACKEND="local", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.run(["bash", "-c", f". {recipe}/cmd.sh; ${{decode_cmd}} JOB=1:3 exp/log/t.JOB.log echo JOB"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert [lines(tmp_path / f"exp/log/t.{j}.log") for j in (1, 2, 3)] == [
        [f"# echo {j}", f"{j}", "# exit 0"] for j in (1, 2, 3)]


def test_recipe_cmd_sh_selects_slurm(slurm_cluster, tmp_path):
    """egs2/cs_unseen/asr1/cmd.sh with CS_BACKEND=slurm: decode_cmd runs an array on the cluster."""
    recipe = Path(__file__).resolve().parents[2] / "egs2" / "cs_unseen" / "asr1"
    env = dict(os.environ, CS_BACKEND="slurm", CS_SLURM_MEM="100M", CS_MAX_PARALLEL="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    script = (f". {recipe}/cmd.sh && ${{decode_cmd}} JOB=1:2 log/x.JOB.log bash -c 'echo task JOB' "
              "&& ${train_cmd} log/t.log echo trained && ${decode_cmd} JOB=1:3 exp/log/t.JOB.log echo JOB")
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"Slurm job \d+, array 1-2 -> log/x.JOB.log", proc.stderr), proc.stderr
    assert [lines(tmp_path / f"log/x.{j}.log")[2:] for j in (1, 2)] == [["task 1", "# exit 0"], ["task 2", "# exit 0"]]
    assert lines(tmp_path / "log/t.log")[2:] == ["trained", "# exit 0"]
    assert [lines(tmp_path / f"exp/log/t.{j}.log")[2:] for j in (1, 2, 3)] == [[f"{j}", "# exit 0"] for j in (1, 2, 3)]
    job = _job_id(proc.stderr)
    show = subprocess.run(["scontrol", "-o", "show", "job", str(job)], capture_output=True, text=True).stdout
    assert "ArrayTaskThrottle=1" in show, show
    assert "MinMemoryNode=100M" in show, show
