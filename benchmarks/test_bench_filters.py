"""Fit time of the filter selectors at n = 2,000 rows, d = 10,000 features, 5 classes (random data).

Run: ``python -m pytest benchmarks/test_bench_filters.py --benchmark-enable -q`` (disabled by default through
``--benchmark-disable`` in ``pyproject.toml``). Two threads (torch and the BLAS/OpenMP pools), one round each.
Target: at most 10 s per method on a 2-core machine; nothing is asserted about time, only that the output is
valid. ``test_bench_reference_matmul`` is the reference measured in the same run. The CPU time of the call
is recorded in ``extra_info["cpu_s"]`` next to the wall time: on a machine shared with other jobs the wall
time measures the contention as much as the method.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench_core.tracks.base import Context
from bench_core.tracks.selectors import validate_scores
from plugins.selectors import filters

N, D, C, THREADS = 2_000, 10_000, 5, 2

METHODS = [
    ("anova_f", filters.AnovaF, {}),
    ("mutual_info", filters.MutualInfo, {}),
    ("variance", filters.Variance, {}),
    ("fisher_score", filters.FisherScore, {}),
    ("chi2", filters.Chi2, {}),
    ("outrank", filters.OutRank, {}),
    ("distance_correlation", filters.DistanceCorrelation, {}),
    ("laplacian_score", filters.LaplacianScore, {}),
    ("relieff", filters.ReliefF, {}),
    ("relieff[metric=manhattan]", filters.ReliefF, {"metric": "manhattan"}),
    ("mrmr", filters.MRMR, {}),
    ("inf_fs", filters.InfFS, {}),
]


@pytest.fixture(scope="module", autouse=True)
def _two_threads():
    import torch
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    with threadpool_limits(limits=THREADS):
        yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, C, N)
    X = rng.normal(size=(N, D))
    X[:, :20] += 0.5 * y[:, None]  # a few informative columns, so the scores are not all noise
    return X, y


@pytest.mark.parametrize("label, cls, params", METHODS, ids=[m[0] for m in METHODS])
def test_bench_filter(benchmark, data, label, cls, params):
    X, y = data
    if "nonnegative" in cls.tags.requires:
        X = np.abs(X)
    method = cls(**params)
    ctx = Context(seed=0, threads=THREADS)
    y_in = y if cls.tags.supervised else None
    method.rank(X[:50, :50], y_in[:50] if y_in is not None else None, ctx)  # imports and JIT outside the timing

    def fit():
        t0 = time.process_time()
        out = method.rank(X, y_in, ctx)
        benchmark.extra_info["cpu_s"] = round(time.process_time() - t0, 3)
        return out

    scores = benchmark.pedantic(fit, rounds=1, iterations=1)
    validate_scores(scores, D)
    benchmark.extra_info.update({"n": N, "d": D, "classes": C, "threads": THREADS})


def test_bench_mutual_info_scikit_learn(benchmark, data):
    """scikit-learn's ``mutual_info_classif`` itself, the estimator ``mutual_info`` reproduces vectorized."""
    from sklearn.feature_selection import mutual_info_classif

    X, y = data
    scores = benchmark.pedantic(lambda: mutual_info_classif(X, y, n_neighbors=3, random_state=0), rounds=1,
                                iterations=1)
    validate_scores(scores, D)


def test_bench_reference_matmul(benchmark):
    """The same-run reference: a 4096² float32 matrix product on the same two threads (≈ 170 GFLOP/s here
    when the machine is quiet). Quote the filters' times as ratios to this one (the machines are shared)."""
    import torch

    a = torch.randn(4096, 4096, generator=torch.Generator().manual_seed(0))
    b = torch.randn(4096, 4096, generator=torch.Generator().manual_seed(1))
    a @ b  # warm-up

    def matmul():
        return a @ b

    benchmark.pedantic(matmul, rounds=5, iterations=1)
    gflops = 2 * 4096**3 / benchmark.stats.stats.min / 1e9
    benchmark.extra_info.update(gflops=round(gflops, 1), threads=THREADS)
    print(f"\n4096² fp32 matmul on {THREADS} threads: {gflops:.0f} GFLOP/s")
