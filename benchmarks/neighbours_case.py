"""One measured case of ``test_bench_neighbours.py``, run in a fresh process so that its peak memory is its own.

``python benchmarks/neighbours_case.py CASE N D THREADS`` prints one JSON line: ``seconds`` (wall),
``cpu_s``, ``peak_mb`` (peak resident memory during the call above the process's resident memory just
before it, once the data exist and the libraries are imported and warmed up; the kernel's peak mark is reset
first) and ``values``. The data are generated, tie-free Gaussians:
``X [N, D]`` float64 (float32 for the ``*_f32`` cases) and ``E`` = ``X``'s first two coordinates plus noise.
``ours_tc_x32`` scans the float64 ``X`` in float32 (not the track's default: it moves T by ~1e-7).
"""

from __future__ import annotations

import json
import resource
import sys
import time


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux: ``echo 5 > clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(case: str, n: int, d: int, threads: int) -> None:
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)
    import numba

    numba.set_num_threads(threads)
    from bench_core.metrics import neighbours as nb

    rng = np.random.default_rng(0)
    dtype = np.float32 if case.endswith("_f32") else np.float64
    X = np.empty((n, d), dtype=dtype)
    for s in range(0, n, 4096):  # no n×d float64 temporary
        X[s : s + 4096] = rng.normal(size=(min(4096, n - s), d))
    E = (X[:, :2] + 0.5 * rng.normal(size=(n, 2))).astype(dtype)
    y = rng.integers(0, 10, size=n)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    small = slice(0, 300)
    if case == "sklearn_t":
        from sklearn.manifold import trustworthiness

        trustworthiness(X[small], E[small], n_neighbors=7)
        fn = lambda: {"trustworthiness@7": float(trustworthiness(X, E, n_neighbors=7))}  # noqa: E731
    elif case == "ours_tc":
        nb.neighbourhood_scores(X[small], E[small], ks=(7,), auc_k=7)
        fn = lambda: nb.neighbourhood_scores(X, E, ks=(7,), auc_k=7)  # noqa: E731
    elif case == "ours_tc_x32":  # X scanned in float32 (not the track's default; equal on well-separated data)
        nb.neighbourhood_scores(X[small], E[small], ks=(7,), auc_k=7, dtype=torch.float32)
        fn = lambda: nb.neighbourhood_scores(X, E, ks=(7,), auc_k=7, dtype=torch.float32)  # noqa: E731
    elif case == "zadu_tc":
        from zadu.measures import trustworthiness_continuity as tnc

        tnc.measure(X[small], E[small], k=7)
        fn = lambda: {k + "@7": float(v) for k, v in tnc.measure(X, E, k=7).items()}  # noqa: E731
    elif case.startswith("knn_pass"):
        nb.knn(X[small], 15, dtype=tdt)
        fn = lambda: {"checksum": float(nb.knn(X, 15, dtype=tdt)[1].sum())}  # noqa: E731
    elif case.startswith("ours_all"):
        nb.neighbourhood_scores(X[small], E[small], labels=y[small], auc_k=20, dtype=tdt)
        fn = lambda: nb.neighbourhood_scores(X, E, ks=(7, 15), labels=y, label_ks=(7, 15), auc_k=100,  # noqa: E731
                                             dtype=tdt)
    else:
        raise SystemExit(f"unknown case {case!r}")
    import gc

    gc.collect()
    base = _rss_mb()
    _reset_peak()
    t0, c0 = time.perf_counter(), time.process_time()
    values = fn()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"case": case, "n": n, "d": d, "threads": threads, "seconds": seconds, "cpu_s": cpu,
                      "peak_mb": max(0.0, _peak_mb() - base), "values": values}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
