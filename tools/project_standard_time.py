"""Project the worker-minutes of the standard selectors profile, per part, without running it.

Usage (from the repository root)::

    # 1. time the fixed evaluators on every standard data set (CPU seconds, one thread; a few minutes)
    FEATBENCH_DATA_DIR=... python tools/project_standard_time.py measure-evaluators > evaluators.jsonl
    # 2. project from a standard board (its per-cell fit times and statuses) and those timings
    python tools/project_standard_time.py project --board leaderboards/standard/selectors.json \\
        --evaluators evaluators.jsonl --subsamples 10 --budget 22.5

The projection, per part (worker-minutes, all seeds):

fits
    Σ over cells of the board's mean ``fit_s`` × the profile's seeds (a cell's fit time as measured by the run
    that made the board; a timed-out cell contributes to *timeouts* instead).
evaluators
    Σ over data sets of (one uncached logreg curve + one uncached ExtraTrees curve over the data set's k list,
    CPU seconds of a random column order) × cells × seeds, plus the all-features reference line once per
    (data set, seed, worker). An upper bound: the per-worker evaluation cache answers sets several methods
    share (the small k of good selectors), which this does not count.
stability
    Σ over cells whose projected refits fit the budget (``M`` × one refit ≤ budget) of ``M`` × 0.9 × one fit
    (a refit sees 90 % of the rows). One refit is the whole fit for a ``rank`` method, and the fit divided by
    the k-list length for a ``select``-only method (one ``select`` call per k). Cells over the budget are
    skipped by the protocol and cost nothing here.
timeouts
    the board's timed-out cells × [the step limit, the job limit] (a timeout ends the first seed's job; the
    other seeds are skipped): a range, since a result does not say how long its job ran before the limit.

``--assume-fixed M1,M2`` removes the timeouts of methods made faster since the board was made (they are then
projected at zero, a lower bound for them). Wall time with ``-j 2`` is the total divided by 2 (the jobs are
many and small, so the two workers stay balanced, apart from the last job).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def measure_evaluators(names: list[str] | None) -> int:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # as in a worker (pinned threads); must precede numpy's import
    import warnings

    import numpy as np

    from bench_core.data.dataset import cache_dir, data_dir, load_cache, prepare
    from bench_core.profiles import get_profile, track_settings
    from bench_core.registry import load_registry
    from bench_core.tracks import selectors as S

    warnings.simplefilter("ignore")
    reg = load_registry(strict=False)
    settings = track_settings(reg.track("selectors"), get_profile("standard"))
    tiers = {"smoke": 0, "quick": 1, "standard": 2, "full": 3}
    cards = [c for c in reg.cards_for("selectors") if tiers.get(c.tier, 9) <= tiers["standard"]]
    if names:
        cards = [c for c in cards if c.name in names]

    class _Tiny:  # a warm-up split: numba compilation and sklearn imports are not an evaluation's cost
        rng = np.random.default_rng(0)
        X_train, y_train = rng.random((30, 4)), np.arange(30) % 2
        X_test, y_test = rng.random((10, 4)), np.arange(10) % 2

    for ev in ("logreg", "extratrees"):
        S.evaluate_subset(("warm-up",), ev, 0, np.arange(3), _Tiny)
    for card in cards:
        ds = load_cache(card, prepare(card, reg.loader_fns, reg.reader_fns, data_dir(None), cache_dir(None)))
        sp = ds.split(0)
        n, d = sp.X_train.shape
        ks = S.k_list(d, settings, ds.ground_truth)
        order = np.random.default_rng(0).permutation(d)
        row = {"dataset": card.name, "n": n, "d": d, "nk": len(ks)}
        for ev in ("logreg", "extratrees"):
            S._EVAL_CACHE.clear()
            t = time.process_time()
            for k in ks:
                S.evaluate_subset(("measure",), ev, 0, order[:k], sp)
            row[f"{ev}_curve"] = time.process_time() - t
            t = time.process_time()
            S.evaluate_subset(("measure",), ev, 0, np.arange(d), sp)
            row[f"{ev}_all"] = time.process_time() - t
        print(json.dumps(row), flush=True)
    return 0


def project(board_path: str, evaluators_path: str, M: int, budget: float, seeds: int, workers: int,
            step_s: float, job_s: float, assume_fixed: set[str]) -> int:
    from bench_core.registry import load_registry

    reg = load_registry(strict=False)
    board = json.load(open(board_path))
    ev = {r["dataset"]: r for r in map(json.loads, open(evaluators_path))}
    fits = evals = stab = 0.0
    n_timeouts = n_skipped = 0
    per_method: dict[str, float] = {}
    for ds, table in board["datasets"].items():
        cells = table["cells"]
        e = ev.get(ds)
        if e is None:
            print(f"warning: no evaluator timing for {ds}", file=sys.stderr)
        else:
            evals += (e["logreg_curve"] + e["extratrees_curve"]) * len(cells) * seeds
            evals += (e["logreg_all"] + e["extratrees_all"]) * seeds * workers
        for c in cells:
            if c.get("statuses", {}).get("timeout") and c["method"] not in assume_fixed:
                n_timeouts += 1
            f = c.get("fit_s")
            if f is None:
                continue
            fits += f * seeds
            per_method[c["method"]] = per_method.get(c["method"], 0.0) + f * seeds
            try:
                rank = reg.method("selectors", c["method"]).implements_rank()
            except Exception:  # noqa: BLE001 - a method of the board no longer installed
                rank = True
            one = f if rank else f / max(1, (e or {}).get("nk", 1))
            if M * one <= budget:
                stab += M * 0.9 * one
            else:
                n_skipped += 1
    lo, hi = n_timeouts * step_s, n_timeouts * job_s
    rows = [("fits", fits / 60, fits / 60), ("evaluators (uncached upper bound)", evals / 60, evals / 60),
            (f"stability (M = {M}, budget {budget:g} s; {n_skipped} cells skipped)", stab / 60, stab / 60),
            (f"timeouts ({n_timeouts} cells × {step_s:g}–{job_s:g} s)", lo / 60, hi / 60)]
    tot_lo, tot_hi = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print("| part | worker-min |\n|---|---|")
    for name, a, b in rows:
        print(f"| {name} | {a:.1f} |" if abs(a - b) < 0.05 else f"| {name} | {a:.1f}–{b:.1f} |")
    print(f"| **total** | **{tot_lo:.0f}–{tot_hi:.0f}** |")
    print(f"\nwall with -j {workers}: {tot_lo / workers:.0f}–{tot_hi / workers:.0f} min")
    top = sorted(per_method.items(), key=lambda kv: -kv[1])[:6]
    print("largest fits (worker-min): " + ", ".join(f"{m} {v / 60:.1f}" for m, v in top))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure-evaluators")
    m.add_argument("datasets", nargs="*")
    p = sub.add_parser("project")
    p.add_argument("--board", required=True)
    p.add_argument("--evaluators", required=True)
    p.add_argument("--subsamples", type=int, default=10)
    p.add_argument("--budget", type=float, default=22.5)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--step-s", type=float, default=30.0)
    p.add_argument("--job-s", type=float, default=150.0)
    p.add_argument("--assume-fixed", default="", help="comma-separated methods whose timeouts are gone")
    a = ap.parse_args(argv)
    if a.cmd == "measure-evaluators":
        return measure_evaluators(a.datasets)
    return project(a.board, a.evaluators, a.subsamples, a.budget, a.seeds, a.workers, a.step_s, a.job_s,
                   {s for s in a.assume_fixed.split(",") if s})


if __name__ == "__main__":
    sys.exit(main())
