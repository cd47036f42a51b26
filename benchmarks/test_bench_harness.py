"""Harness performance: per-job overhead with warm workers, and a fully cached re-run of the quick profile.

Run with ``make benchmark`` (or ``pytest benchmarks --benchmark-enable``). Targets (issue: harness core):
overhead per job with a no-op method and warm workers <= 20 ms; re-running a fully cached quick profile
<= 3 s wall, interpreter start included. Each figure is printed next to a reference measured in the same run
(these machines are shared and noisy); nothing here is asserted in the test suite.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def _env(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), str(REPO)])
    env["FEATBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    env["FEATBENCH_PLUGIN_MODULES"] = "fbtest.data,fbtest.faulty"
    return env


def _echo(conn) -> None:
    while (msg := conn.recv()) is not None:
        conn.send(msg)


def floor_ms(tmp_path: Path, n: int = 100) -> float:
    """The same-run reference: the least any isolated, durable harness does per job, in ms: one round trip
    of a small message to a spawned process, and one result-sized file written the way results are (a
    temporary file, fsync, rename, fsync of the directory)."""
    import multiprocessing as mp

    from bench_core.store import atomic_write_text

    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_echo, args=(theirs,), daemon=True)
    proc.start()
    ours.send({"warm": True})
    ours.recv()
    text = "x" * 3000
    t0 = time.perf_counter()
    for i in range(n):
        ours.send({"job": i, "payload": "y" * 500})
        ours.recv()
        atomic_write_text(tmp_path / "floor" / f"{i % 10}.json", text)
    per = (time.perf_counter() - t0) / n
    ours.send(None)
    proc.join(10)
    return per * 1e3


def test_overhead_per_job_warm_workers(benchmark, tmp_path, monkeypatch):
    """Dispatch + IPC + result file (fsync'ed) per job, net of the job's own time in the worker; reported in
    ms and as a ratio to :func:`floor_ms` measured in the same run (before and after), with the load."""
    for k, v in _env(tmp_path).items():
        monkeypatch.setenv(k, v)
    from bench_core.execute.local import LocalExecutor
    from bench_core.execute.run import Recorder, RunRequest, plan_run, prepare_datasets
    from bench_core.registry import load_registry
    from bench_core.store import Store

    reg = load_registry()
    n = 200
    req = RunRequest(methods=["noop"], datasets=["fbtest_tiny"], profile="smoke", seeds=",".join(map(str, range(1, 20))))
    specs = plan_run(reg, req, Store(tmp_path / "plan")).pending
    prepare_datasets(reg, plan_run(reg, req, Store(tmp_path / "plan")), req)
    jobs = [specs[i % len(specs)] for i in range(n)]

    try:  # claims (one lock file per job, issue 6) are part of the per-job path of `featbench run`
        from bench_core.execute.claims import Claims
    except ImportError:  # the same benchmark on a tree without them (a same-run baseline)
        Claims = None

    def batch():
        store = Store(tmp_path / f"r{time.monotonic_ns()}")
        rec = Recorder(store, "local")
        claims = Claims(store) if Claims else None
        stamps, job_s = [], []

        def should_run(spec):  # as execute() does with --force (the jobs repeat 19 keys)
            if claims is not None and not claims.claim(spec):
                raise AssertionError("claim refused")
            return None

        def on_result(spec, outcome):
            rec.on_result(spec, outcome)
            if claims is not None:
                claims.release(spec)
            stamps.append(time.perf_counter())
            job_s.append(outcome["job_s"])

        LocalExecutor(workers=1, threads=1).run(jobs, on_result, rec.on_start, should_run)
        warm = slice(20, None)  # after the worker has started and loaded the dataset
        intervals = [b - a for a, b in zip(stamps[warm], stamps[warm][1:])]
        return statistics.mean(intervals), statistics.mean(job_s[warm][1:])

    floor_before = floor_ms(tmp_path)
    per_job, inside = benchmark.pedantic(batch, rounds=3, iterations=1)
    floor = (floor_before + floor_ms(tmp_path)) / 2
    overhead = per_job - inside
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    benchmark.extra_info.update(per_job_ms=per_job * 1e3, job_ms=inside * 1e3, overhead_ms=overhead * 1e3,
                                floor_ms=floor, overhead_over_floor=overhead * 1e3 / floor, load_1min=load,
                                cpus=os.cpu_count())
    print(f"\nper job {per_job * 1e3:.1f} ms = job inside the worker {inside * 1e3:.1f} ms + harness overhead "
          f"{overhead * 1e3:.1f} ms (target <= 20 ms); same-run floor (echo round trip + fsync'ed result-sized "
          f"write) {floor:.1f} ms: overhead = {overhead * 1e3 / floor:.2f} x floor; load {load:.1f} on "
          f"{os.cpu_count()} CPUs")


def test_cached_quick_rerun(benchmark, tmp_path):
    """`featbench run --profile quick` when every job already has a done result, interpreter start included."""
    env = _env(tmp_path)
    env.pop("FEATBENCH_PLUGIN_MODULES")
    results = tmp_path / "results"
    # Fill the store with a done result per planned quick job (what a finished run leaves behind).
    code = (
        "from bench_core.registry import load_registry\n"
        "from bench_core.execute.run import RunRequest, plan_run, Recorder\n"
        "from bench_core.store import Store\n"
        f"st = Store({str(results)!r}); reg = load_registry()\n"
        "plan = plan_run(reg, RunRequest(profile='quick'), st)\n"
        "rec = Recorder(st, 'local')\n"
        "for s in plan.pending:\n"
        "    rec.on_result(s, {'status': 'done', 'scores': {'auc_logk': 0.5}, 'job_s': 0.1})\n"
        "print(len(plan.pending))\n"
    )
    n = int(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
    cmd = [sys.executable, "-m", "bench_core", "run", "--profile", "quick", "--results", str(results), "--no-progress"]

    def rerun():
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert f"0 to run, {n} already done" in proc.stderr, proc.stderr

    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    torch_import = time.perf_counter() - t0
    benchmark.pedantic(rerun, rounds=5, iterations=1)
    wall = benchmark.stats.stats.mean
    benchmark.extra_info.update(jobs=n, wall_s=wall, python_start_s=bare, torch_import_s=torch_import)
    print(f"\ncached quick re-run of {n} jobs: {wall:.2f} s (target <= 3 s); references in the same run: "
          f"bare interpreter {bare:.2f} s, `import torch` {torch_import:.2f} s")
