"""Exact neighbourhood scores against the references, as ratios measured in the same run.

Run: ``python -m pytest benchmarks/test_bench_neighbours.py --benchmark-enable -q -s`` (the cases are
skipped by default through ``--benchmark-disable``, since they take minutes). Every case runs in a fresh
process (``benchmarks/neighbours_case.py``) so that its peak memory above its own baseline is measured
alone; the 10,000 case at one and at two threads against scikit-learn, two threads elsewhere. Wall time on a shared machine measures the contention as much as the code,
so the CPU time is reported next to it and the ratios are given for both.

Targets (issue 12):

- n = 10,000 (d = 64, tie-free Gaussians, E = two noisy coordinates): trustworthiness + continuity (k = 7;
  one call also yields Q_NX) ≥ 10× faster than scikit-learn's ``trustworthiness`` alone, with equal values
  (to 1e-8), and ≤ 1/10 of its peak memory above the baseline;
- the same measures faster than zadu's ``trustworthiness_continuity`` (the ratio is reported);
- n = 70,000, d = 784, float32: all neighbourhood scores (T, C at k = 7, 15; Q_NX; R_NX AUC over k ≤ 100;
  NH and k-NN accuracy) ≤ 2× one exact 15-NN pass of X, under 2 GiB peak. This case takes several minutes
  of two cores (``FEATBENCH_BENCH_70K=1`` to run it).

Measured on the shared 2-core development machine, 2026-11-27 20:10-20:20 UTC, under a load average of 7-8
from other jobs (wall times are mostly contention; CPU seconds are the figures), kernels of this commit
(bit-equal to v1, ``tests/test_neighbours_equal_v1.py``; the values below are equal to scikit-learn's and
zadu's to 1e-16):

- n = 10,000, one thread, four same-run pairs: ours T+C (+Q_NX) 0.641, 0.668, 0.650, 0.666 s CPU, 67 MB
  peak; scikit-learn T alone 9.49, 9.28, 9.89, 10.02 s CPU, 2.29 GB: 14.8×, 13.9×, 15.2×, 15.0× CPU
  (12.3×, 10.9×, 15.4×, 14.5× wall). Target 10×: met. Peak memory 2.9 % of scikit-learn's (≤ 10 %: met).
  Where ours goes (one thread): the float64 product of X (``addmm``, 64 MiB blocks) 0.37 s, the compiled
  pass over its blocks 0.13 s, the embedding's scans 0.14 s. At c8b38ee: 1.18 s CPU (8.96×); the gain
  is the reused block buffer (the product took 0.67 s with a fresh, page-faulted block each time) and the
  fused pass (no separate add/clamp/gather passes over the block).
- n = 10,000, two threads: ours 0.867 s CPU, 2.13 s wall; scikit-learn 10.00 s CPU, 22.0 s wall: 11.5× CPU,
  10.4× wall.
- zadu ``trustworthiness_continuity`` (two threads): 35.9 s CPU, 4.58 GB: 41.4× ours' CPU, 38.7× wall;
  values equal (1e-16).
- n = 70,000, d = 784, float32, two threads (measured 18:00 UTC with the kernels of c8b38ee, not rerun):
  all neighbourhood scores 190.2 s CPU, 317 MB peak, against one exact 15-NN pass 145.2 s CPU, 209 MB: 1.31×
  CPU (target ≤ 2×: met; peak < 2 GiB: met). The case takes about 340 CPU seconds (3 minutes of two idle
  cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
THREADS = 2


def _case(case: str, n: int, d: int, threads: int = THREADS) -> dict:
    proc = subprocess.run([sys.executable, str(HERE / "neighbours_case.py"), case, str(n), str(d), str(threads)],
                          capture_output=True, text=True, timeout=3600, cwd=HERE.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _skip_unless_enabled(benchmark):
    if benchmark.disabled:
        pytest.skip("benchmarks are disabled (run with --benchmark-enable)")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)  # the timings are the cases' own (subprocesses)


def test_bench_tc_10k_vs_sklearn_and_zadu(benchmark):
    _skip_unless_enabled(benchmark)
    report: dict = {"cases": []}
    for threads in (1, 2):
        ours = _case("ours_tc", 10_000, 64, threads)
        sk = _case("sklearn_t", 10_000, 64, threads)
        assert abs(ours["values"]["trustworthiness@7"] - sk["values"]["trustworthiness@7"]) < 1e-8
        report[f"sklearn_T / ours_T+C (cpu, {threads} thread(s))"] = sk["cpu_s"] / ours["cpu_s"]
        report[f"sklearn_T / ours_T+C (wall, {threads} thread(s))"] = sk["seconds"] / ours["seconds"]
        report[f"ours peak MB / sklearn peak MB ({threads} thread(s))"] = ours["peak_mb"] / max(1e-9, sk["peak_mb"])
        report["cases"] += [ours, sk]
    zd = _case("zadu_tc", 10_000, 64)
    assert abs(ours["values"]["trustworthiness@7"] - zd["values"]["trustworthiness@7"]) < 1e-8
    assert abs(ours["values"]["continuity@7"] - zd["values"]["continuity@7"]) < 1e-8
    report["zadu_T+C / ours_T+C (cpu, 2 threads)"] = zd["cpu_s"] / ours["cpu_s"]
    report["zadu_T+C / ours_T+C (wall, 2 threads)"] = zd["seconds"] / ours["seconds"]
    report["cases"].append(zd)
    print("\n" + json.dumps(report, indent=1))


def test_bench_all_scores_70k_vs_one_knn_pass(benchmark):
    _skip_unless_enabled(benchmark)
    if os.environ.get("FEATBENCH_BENCH_70K") != "1":
        pytest.skip("set FEATBENCH_BENCH_70K=1: several minutes of two cores")
    knn = _case("knn_pass_f32", 70_000, 784)
    ours = _case("ours_all_f32", 70_000, 784)
    report = {
        "all scores / one k-NN pass (wall)": ours["seconds"] / knn["seconds"],
        "all scores / one k-NN pass (cpu)": ours["cpu_s"] / knn["cpu_s"],
        "peak MB (all scores)": ours["peak_mb"],
        "cases": [knn, ours],
    }
    print("\n" + json.dumps(report, indent=1))
