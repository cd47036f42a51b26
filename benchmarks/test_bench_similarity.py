"""Similarity kernels: CKA against its own matrix products and against the Gram form; k-NN measures' memory.

Run: ``python -m pytest benchmarks/test_bench_similarity.py --benchmark-enable -q -s`` (disabled by default
through ``--benchmark-disable``: then each test still runs once and asserts its ratio). Two threads, float64
(the kernels' precision). Every target is a ratio measured in the same test, so machine load shifts both
sides; wall and CPU times are printed and stored in ``extra_info``.

Targets (issue 11):

- linear CKA and debiased CKA, feature form, at n = 50,000, d = 768: at most 2x the time of the two
  underlying matrix products (reference: X^T Y plus X^T X on the same inputs; the estimators compute X^T Y,
  X^T X and Y^T Y after centring, so ~1.5x is the floor);
- the feature form at least 50x faster than the Gram form at n = 10,000 with d = 64 (the Gram form costs
  O(n^2 d), the feature form O(n d^2): the ratio is ~n/d, so at d = 768 it is only ~10x; that ratio is
  printed, not asserted); on one thread, asserted on CPU time, wall time printed (see the test);
- the k-NN measures (Jaccard, CKNNA) at n = 50,000 never allocate an n x n matrix: run in a fresh process,
  whose peak resident memory must stay under 2 GiB (one n x n float32 matrix is 9.3 GiB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from bench_core.metrics import similarity as S

THREADS = 2


@pytest.fixture(scope="module", autouse=True)
def _two_threads():
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    with threadpool_limits(limits=THREADS):
        yield
    torch.set_num_threads(old)


def _best(fn, repeats=2):
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        best_wall, best_cpu = min(best_wall, time.perf_counter() - w), min(best_cpu, time.process_time() - c)
    return best_wall, best_cpu


@pytest.mark.parametrize("kernel", ["cka_linear", "cka_linear_debiased"])
def test_bench_cka_feature_form_vs_its_matrix_products(benchmark, kernel):
    g = torch.Generator().manual_seed(0)
    n, d = 50_000, 768
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    Y = torch.randn(n, d, generator=g, dtype=torch.float64) + 0.5 * X
    fn = getattr(S, kernel)
    ref_wall = ref_cpu = wall = cpu = float("inf")
    for _ in range(3):  # interleaved, so that a change of machine load hits both sides alike
        rw, rc = _best(lambda: ((X.T @ Y).sum().item(), (X.T @ X).sum().item()), repeats=1)
        w, c = _best(lambda: fn(X, Y, "feature"), repeats=1)
        ref_wall, ref_cpu, wall, cpu = min(ref_wall, rw), min(ref_cpu, rc), min(wall, w), min(cpu, c)
    benchmark.pedantic(fn, args=(X, Y, "feature"), rounds=1, iterations=1)
    ratio = wall / ref_wall
    benchmark.extra_info.update(ref_wall_s=ref_wall, ref_cpu_s=ref_cpu, wall_s=wall, cpu_s=cpu, ratio=ratio)
    print(f"\n{kernel} n={n} d={d}: {wall:.2f} s (cpu {cpu:.2f}) vs 2 products {ref_wall:.2f} s "
          f"(cpu {ref_cpu:.2f}): ratio {ratio:.2f} (cpu ratio {cpu / ref_cpu:.2f})")
    assert ratio <= 2.0


@pytest.mark.parametrize("kernel", ["cka_linear", "cka_linear_debiased"])
def test_bench_cka_feature_vs_gram_form(benchmark, kernel):
    g = torch.Generator().manual_seed(1)
    fn = getattr(S, kernel)
    ratios, cpu_ratios = {}, {}
    from threadpoolctl import threadpool_limits

    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread on both sides: CPU time then has no spin-waiting of idle workers
    try:
        with threadpool_limits(limits=1):
            X, Y = _feature_vs_gram(fn, g, ratios, cpu_ratios, kernel)
    finally:
        torch.set_num_threads(old_threads)
    benchmark.pedantic(fn, args=(X, Y, "feature"), rounds=1, iterations=1)
    benchmark.extra_info.update(gram_over_feature=ratios, gram_over_feature_cpu=cpu_ratios)
    # The target is asserted on CPU time, one thread: the feature form takes milliseconds, so on a shared
    # machine its wall time is dominated by waiting for a core (measured under a load average of ~20 on 2
    # cores: 54 ms wall for 11 ms of CPU), which understates the ratio, and with 2 threads a descheduled
    # worker makes the other spin (CPU time inflated too). On an idle machine wall and CPU ratios agree.
    assert cpu_ratios[64] >= 50


def _feature_vs_gram(fn, g, ratios, cpu_ratios, kernel):
    for d in (64, 768):
        n = 10_000
        X = torch.randn(n, d, generator=g, dtype=torch.float64)
        Y = torch.randn(n, d, generator=g, dtype=torch.float64) + 0.5 * X
        feat, feat_cpu = _best(lambda: fn(X, Y, "feature"), repeats=7)
        gram, gram_cpu = _best(lambda: fn(X, Y, "gram"), repeats=1)
        assert abs(fn(X, Y, "feature") - fn(X, Y, "gram")) < 1e-9
        ratios[d], cpu_ratios[d] = gram / feat, gram_cpu / feat_cpu
        print(f"\n{kernel} n={n} d={d}: feature {feat * 1e3:.1f} ms (cpu {feat_cpu * 1e3:.1f}), Gram {gram:.2f} s "
              f"(cpu {gram_cpu:.2f}): {ratios[d]:.0f}x wall, {cpu_ratios[d]:.0f}x cpu (1 thread)")
    return X, Y


KNN_SCRIPT = textwrap.dedent("""
    import json, resource, sys, time, torch
    from bench_core.metrics import similarity as S
    torch.set_num_threads(2)
    n, d = 50_000, 16
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    Y = X + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64)
    t = time.perf_counter(); (X[:200] @ X.T).topk(10, dim=1); ref = time.perf_counter() - t
    out = {"ref_block_s": ref}
    for name, fn in (("knn_jaccard", lambda: S.knn_jaccard(X, Y, 10)), ("cknna", lambda: S.cknna(X, Y, 10))):
        t = time.perf_counter(); v = fn(); out[name] = {"value": v, "wall_s": time.perf_counter() - t}
    # VmHWM: this process image's peak RSS (ru_maxrss would carry over the parent's peak across fork+exec)
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
    out["peak_rss_mb"] = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
""")


def test_bench_knn_measures_stay_in_row_blocks(benchmark):
    def run():
        p = subprocess.run([sys.executable, "-c", KNN_SCRIPT], capture_output=True, text=True, timeout=1800,
                           env={**os.environ, "OMP_NUM_THREADS": str(THREADS)})
        assert p.returncode == 0, p.stderr[-2000:]
        return json.loads(p.stdout.strip().splitlines()[-1])

    out = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(out)
    per_pass = out["ref_block_s"] * 250  # one brute-force pass = 250 blocks of 200 rows
    print(f"\nk-NN n=50,000 d=16: peak RSS {out['peak_rss_mb']:.0f} MB; Jaccard {out['knn_jaccard']['wall_s']:.1f} s, "
          f"CKNNA {out['cknna']['wall_s']:.1f} s; one dense pass (reference) ~{per_pass:.1f} s")
    assert out["peak_rss_mb"] < 2048  # an n x n float32 matrix alone would be 9,537 MB
    assert 0 < out["knn_jaccard"]["value"] <= 1
