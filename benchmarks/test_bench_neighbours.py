"""Exact neighbourhood scores against the references, as ratios measured in the same run.

Run: ``python -m pytest benchmarks/test_bench_neighbours.py --benchmark-enable -q -s`` (the cases are
skipped by default through ``--benchmark-disable``, since they take minutes). Every case runs in a fresh
process (``benchmarks/neighbours_case.py``) so that its peak memory above its own baseline is measured
alone; two threads everywhere. Wall time on a shared machine measures the contention as much as the code,
so the CPU time is reported next to it and the ratios are given for both.

Targets (issue 12):

- n = 10,000 (d = 64, tie-free Gaussians, E = two noisy coordinates): trustworthiness + continuity (k = 7;
  one call also yields Q_NX) ≥ 10× faster than scikit-learn's ``trustworthiness`` alone, with equal values
  (to 1e-8), and ≤ 1/10 of its peak memory above the baseline;
- the same measures faster than zadu's ``trustworthiness_continuity`` (the ratio is reported);
- n = 70,000, d = 784, float32: all neighbourhood scores (T, C at k = 7, 15; Q_NX; R_NX AUC over k ≤ 100;
  NH and k-NN accuracy) ≤ 2× one exact 15-NN pass of X, under 2 GiB peak. This case takes several minutes
  of two cores (``FEATBENCH_BENCH_70K=1`` to run it).

Measured on the shared 2-core development machine (load average 11–14 from other jobs, so wall ≈ 3× CPU),
2026-11-27, same run:

- n = 10,000: ours T+C (+Q_NX) 10.3 s wall / 2.8 s CPU, 67 MB peak; scikit-learn T alone 43.8 s / 13.0 s,
  2.29 GB; zadu T+C ~130 s / 41 s, 4.6 GB. Ratios: scikit-learn/ours 4.3× wall, 4.6× CPU (target 10×: NOT
  met); zadu/ours 12.6× wall, 14.6× CPU; peak memory 2.9 % of scikit-learn's (target ≤ 10 %: met). Values
  equal to 1e-8 (identical to the printed digits).
- n = 20,000, d = 784, float32 (run by hand with ``neighbours_case.py``; the 70,000 case was not run for lack
  of machine time): all neighbourhood scores 59.6 s wall / 17.0 s CPU, 146 MB peak, against one exact 15-NN
  pass 33.4 s / 10.8 s: 1.78× wall, 1.57× CPU (target ≤ 2×).
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


def _case(case: str, n: int, d: int) -> dict:
    proc = subprocess.run([sys.executable, str(HERE / "neighbours_case.py"), case, str(n), str(d), str(THREADS)],
                          capture_output=True, text=True, timeout=3600, cwd=HERE.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _skip_unless_enabled(benchmark):
    if benchmark.disabled:
        pytest.skip("benchmarks are disabled (run with --benchmark-enable)")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)  # the timings are the cases' own (subprocesses)


def test_bench_tc_10k_vs_sklearn_and_zadu(benchmark):
    _skip_unless_enabled(benchmark)
    ours = _case("ours_tc", 10_000, 64)
    sk = _case("sklearn_t", 10_000, 64)
    zd = _case("zadu_tc", 10_000, 64)
    assert abs(ours["values"]["trustworthiness@7"] - sk["values"]["trustworthiness@7"]) < 1e-8
    assert abs(ours["values"]["trustworthiness@7"] - zd["values"]["trustworthiness@7"]) < 1e-8
    assert abs(ours["values"]["continuity@7"] - zd["values"]["continuity@7"]) < 1e-8
    report = {
        "sklearn_T / ours_T+C (wall)": sk["seconds"] / ours["seconds"],
        "sklearn_T / ours_T+C (cpu)": sk["cpu_s"] / ours["cpu_s"],
        "zadu_T+C / ours_T+C (wall)": zd["seconds"] / ours["seconds"],
        "zadu_T+C / ours_T+C (cpu)": zd["cpu_s"] / ours["cpu_s"],
        "ours peak MB / sklearn peak MB": ours["peak_mb"] / max(1e-9, sk["peak_mb"]),
        "cases": [ours, sk, zd],
    }
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
