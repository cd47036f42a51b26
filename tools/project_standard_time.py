"""Project the worker-minutes of the standard selectors profile, per part, without running it.

Usage (from the repository root)::

    # 1. time the fixed evaluators on every standard data set (CPU seconds, one thread; a few minutes)
    FEATBENCH_DATA_DIR=... python tools/project_standard_time.py measure-evaluators > evaluators.jsonl
    # 2. (optional) time the installed code's fits of the methods changed since the board was made, and of
    #    unchanged reference methods (the load factor below), on every standard data set (CPU s, one thread)
    FEATBENCH_DATA_DIR=... python tools/project_standard_time.py measure-fits \\
        --methods concrete_autoencoder,lassonet,mutual_info,stg,sequential_attention > fits.jsonl
    # 3. project from a standard board (its per-cell fit times and statuses) and those timings
    python tools/project_standard_time.py project --board leaderboards/standard/selectors.json \\
        --evaluators evaluators.jsonl --subsamples 10 --budget 22.5 \\
        [--fits fits.jsonl --replace concrete_autoencoder,lassonet,mutual_info --load-ref stg,sequential_attention]

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

Measured fits (``--fits``, ``--replace M1,M2``): for the replaced methods the board's fit times and statuses
are not used. Each (method, data set) cell gets the measured CPU seconds of its fit (``fit_cpu``; for the
stability, ``refit_cpu``: the fit at the stability k, the whole fit for a ``rank`` method) times a *load
factor*: the median, over the data sets, of the board's ``fit_s`` over the measured ``fit_cpu`` of the
``--load-ref`` methods (unchanged since the board was made, measured in the same run), which turns quiet
single-thread CPU seconds into the board run's seconds per worker. A cell whose scaled fit exceeds the step
limit is projected as a timeout. A measurement is split 0, seed 0 of each data set, for all 3 seeds.
``--load-factor X`` sets the factor instead (a sensitivity check: the factor differs between methods).

Per method (``--by-method``): each method's fits, stability refits and timeouts (the timeouts at the step
limit), and their sum per method class: the neural methods, the rest of the selectors, and the evaluators.

``--assume-fixed M1,M2`` removes the timeouts of methods made faster since the board was made (they are then
projected at zero, a lower bound for them). Wall time with ``-j 2`` is the total divided by 2 (the jobs are
many and small, so the two workers stay balanced, apart from the last job).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

_TOOLS = str(Path(__file__).resolve().parent)  # tools/_projection.py is beside this file
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)
import _projection as P  # noqa: E402


def measure_evaluators(names: list[str] | None) -> int:
    P.pin_one_thread()  # as in a worker; must precede numpy's import
    import warnings

    import numpy as np

    from bench_core.profiles import get_profile, track_settings
    from bench_core.registry import load_registry
    from bench_core.tracks import selectors as S

    warnings.simplefilter("ignore")
    reg = load_registry(strict=False)
    settings = track_settings(reg.track("selectors"), get_profile("standard"))
    cards = P.profile_cards(reg, "selectors", "standard")
    if names:
        cards = [c for c in cards if c.name in names]

    class _Tiny:  # a warm-up split: numba compilation and sklearn imports are not an evaluation's cost
        rng = np.random.default_rng(0)
        X_train, y_train = rng.random((30, 4)), np.arange(30) % 2
        X_test, y_test = rng.random((10, 4)), np.arange(10) % 2

    for ev in ("logreg", "extratrees"):
        S.evaluate_subset(("warm-up",), ev, 0, np.arange(3), _Tiny)
    for card in cards:
        ds = P.load_dataset(reg, card)
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


def measure_fits(methods: list[str], names: list[str] | None) -> int:
    """One JSON row per (data set, method): CPU seconds (one thread) of the protocol's fit (step 2) with the
    standard profile's parameters on split 0, seed 0, and of one fit at the stability k."""
    P.pin_one_thread()
    import warnings
    from dataclasses import replace

    import numpy as np

    from bench_core.profiles import get_profile, track_settings
    from bench_core.registry import load_registry
    from bench_core.tracks import selectors as S
    from bench_core.tracks.base import Context

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    warnings.simplefilter("ignore")
    reg = load_registry(strict=False)
    profile = get_profile("standard")
    settings = track_settings(reg.track("selectors"), profile)
    cards = P.profile_cards(reg, "selectors", "standard")
    if names:
        cards = [c for c in cards if c.name in names]
    classes = [reg.method("selectors", m) for m in methods]
    for cls in classes:
        cls.warm_up()
    for card in cards:
        ds = P.load_dataset(reg, card)
        sp = ds.split(0)
        n, d = sp.X_train.shape
        gt = ds.ground_truth
        ks = S.k_list(d, settings, gt)
        k_stab = S.stability_k(d, settings, gt)
        for cls in classes:
            params = {**cls.params, **cls.profile_params.get(profile.name, {})}
            method = cls(**params)
            ctx = Context(seed=0, device="cpu", profile=profile.name, threads=1)
            if "ground_truth" in cls.tags.requires:
                ctx = replace(ctx, ground_truth=gt)
            per_k: dict[int, float] = {}
            if not cls.implements_rank():
                inner = method.select

                def timed(X, y, k, c, _inner=inner):
                    t = time.process_time()
                    out = _inner(X, y, k, c)
                    per_k[int(k)] = time.process_time() - t
                    return out

                method.select = timed
            t = time.process_time()
            S.fit_sets(method, sp.X_train, sp.y_train if cls.tags.supervised else None, ks, ctx)
            fit = time.process_time() - t
            row = {"dataset": card.name, "method": cls.name, "version": cls.version, "n": n, "d": d,
                   "nk": len(ks), "fit_cpu": fit, "refit_cpu": per_k.get(k_stab, fit) if per_k else fit}
            print(json.dumps(row), flush=True)
    return 0


def _load_factor(board, fits, refs: set[str]) -> float:
    ratios = []
    for ds, table in board["datasets"].items():
        for c in table["cells"]:
            f = fits.get((ds, c["method"]))
            if c["method"] in refs and f is not None and c.get("fit_s") and f["fit_cpu"] > 0:
                ratios.append(c["fit_s"] / f["fit_cpu"])
    if not ratios:
        raise SystemExit("no cell of a --load-ref method has both a board fit time and a measurement")
    ratios.sort()
    mid = len(ratios) // 2
    return ratios[mid] if len(ratios) % 2 else 0.5 * (ratios[mid - 1] + ratios[mid])


NEURAL = {"concrete_autoencoder", "lassonet", "quickselection", "stg", "sequential_attention"}


def project(board_path: str, evaluators_path: str, M: int, budget: float, seeds: int, workers: int,
            step_s: float, job_s: float, assume_fixed: set[str], fits_path: str | None = None,
            replaced: set[str] = frozenset(), load_ref: set[str] = frozenset(), by_method: bool = False,
            load_factor: float | None = None) -> int:
    from bench_core.registry import load_registry

    reg = load_registry(strict=False)
    board = json.load(open(board_path))
    ev = {r["dataset"]: r for r in map(json.loads, open(evaluators_path))}
    fits_rows = {}
    if fits_path:
        fits_rows = {(r["dataset"], r["method"]): r for r in map(json.loads, open(fits_path))}
    if load_factor is not None:
        load = load_factor
    else:
        load = _load_factor(board, fits_rows, set(load_ref)) if replaced else 1.0
    fits = evals = stab = 0.0
    n_timeouts = n_skipped = 0
    per_method: dict[str, float] = {}
    parts: dict[str, list[float]] = {}  # method -> [fits, stability, timeouts (at the step limit)] in seconds
    missing = []
    for ds, table in board["datasets"].items():
        cells = table["cells"]
        e = ev.get(ds)
        if e is None:
            print(f"warning: no evaluator timing for {ds}", file=sys.stderr)
        else:
            evals += (e["logreg_curve"] + e["extratrees_curve"]) * len(cells) * seeds
            evals += (e["logreg_all"] + e["extratrees_all"]) * seeds * workers
        for c in cells:
            m = c["method"]
            part = parts.setdefault(m, [0.0, 0.0, 0.0])
            try:
                rank = reg.method("selectors", m).implements_rank()
            except Exception:  # noqa: BLE001 - a method of the board no longer installed
                rank = True
            if m in replaced:
                r = fits_rows.get((ds, m))
                if r is None:
                    missing.append(f"{m} on {ds}")
                    continue
                f, one = r["fit_cpu"] * load, r["refit_cpu"] * load
                if f > step_s:  # the first seed's fit times out; the other seeds are skipped
                    n_timeouts += 1
                    part[2] += step_s
                    continue
            else:  # the board's cell: a timeout, and the fit time of its seeds that were done (if any)
                if c.get("statuses", {}).get("timeout") and m not in assume_fixed:
                    n_timeouts += 1
                    part[2] += step_s
                f = c.get("fit_s")
                one = None if f is None else (f if rank else f / max(1, (e or {}).get("nk", 1)))
            if f is None:
                continue
            fits += f * seeds
            part[0] += f * seeds
            per_method[m] = per_method.get(m, 0.0) + f * seeds
            if M * one <= budget:
                stab += M * 0.9 * one
                part[1] += M * 0.9 * one
            else:
                n_skipped += 1
    if missing:
        print(f"warning: no measured fit for {len(missing)} replaced cells (left out): {', '.join(missing[:5])}",
              file=sys.stderr)
    lo, hi = n_timeouts * step_s, n_timeouts * job_s
    rows = [("fits", fits / 60, fits / 60), ("evaluators (uncached upper bound)", evals / 60, evals / 60),
            (f"stability (M = {M}, budget {budget:g} s; {n_skipped} cells skipped)", stab / 60, stab / 60),
            (f"timeouts ({n_timeouts} cells × {step_s:g}–{job_s:g} s)", lo / 60, hi / 60)]
    tot_lo, tot_hi = sum(r[1] for r in rows), sum(r[2] for r in rows)
    if replaced:
        how = ("given" if load_factor is not None else
               f"the median board fit_s / measured CPU s of {', '.join(sorted(load_ref))}")
        print(f"measured fits of {', '.join(sorted(replaced))} (CPU s × load factor {load:.2f}, {how})\n")
    parts_table = [[name, f"{a:.1f}" if abs(a - b) < 0.05 else f"{a:.1f}–{b:.1f}"] for name, a, b in rows]
    parts_table.append(["**total**", f"**{tot_lo:.0f}–{tot_hi:.0f}**"])
    print("\n".join(P.md_table(["part", "worker-min"], "ll", parts_table)))
    print(f"\nwall with -j {workers}: {tot_lo / workers:.0f}–{tot_hi / workers:.0f} min")
    top = sorted(per_method.items(), key=lambda kv: -kv[1])[:6]
    print("largest fits (worker-min): " + ", ".join(f"{m} {v / 60:.1f}" for m, v in top))
    if by_method:
        def minutes(name, f, st, to):
            return [name, *(f"{x / 60:.1f}" for x in (f, st, to, f + st + to))]

        by = [minutes(m, *v) for m, v in sorted(parts.items(), key=lambda kv: -sum(kv[1]))]
        print("\n" + "\n".join(P.md_table(["method", "fits", "stability", "timeouts (at the step limit)", "total"],
                                          "lllll", by)))
        classes = {"neural": [0.0] * 3, "other selectors": [0.0] * 3}
        for m, v in parts.items():
            acc = classes["neural" if m in NEURAL else "other selectors"]
            for i in range(3):
                acc[i] += v[i]
        by = [minutes(name, *v) for name, v in classes.items()]
        by.append(["evaluators (uncached upper bound)", "", "", "", f"{evals / 60:.1f}"])
        print("\n" + "\n".join(P.md_table(["class", "fits", "stability", "timeouts", "total"], "lllll", by)))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure-evaluators")
    m.add_argument("datasets", nargs="*")
    f = sub.add_parser("measure-fits")
    f.add_argument("--methods", required=True, help="comma-separated selector names")
    f.add_argument("datasets", nargs="*")
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
    p.add_argument("--fits", help="measure-fits output")
    p.add_argument("--replace", default="", help="comma-separated methods projected from --fits")
    p.add_argument("--load-ref", default="", help="comma-separated unchanged methods measured in --fits")
    p.add_argument("--by-method", action="store_true", help="also per method and per method class")
    p.add_argument("--load-factor", type=float, help="use this load factor instead of the --load-ref median")
    a = ap.parse_args(argv)
    if a.cmd == "measure-evaluators":
        return measure_evaluators(a.datasets)
    if a.cmd == "measure-fits":
        return measure_fits([m for m in a.methods.split(",") if m], a.datasets)

    def names(text):
        return {s for s in text.split(",") if s}

    if names(a.replace) and not (a.fits and (names(a.load_ref) or a.load_factor)):
        ap.error("--replace needs --fits and --load-ref (or --load-factor)")
    return project(a.board, a.evaluators, a.subsamples, a.budget, a.seeds, a.workers, a.step_s, a.job_s,
                   names(a.assume_fixed), a.fits, names(a.replace), names(a.load_ref), a.by_method, a.load_factor)


if __name__ == "__main__":
    sys.exit(main())
