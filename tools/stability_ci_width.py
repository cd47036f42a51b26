"""What halving the stability refits (M = 20 -> 10, or 10 -> 5) does to Nogueira's Φ̂ and its 95 % CI.

Usage (from the repository root; data sets by name, any selectors data set of the standard tier)::

    FEATBENCH_DATA_DIR=... python tools/stability_ci_width.py --methods anova_f,l1_logistic --datasets colon,wine \
        [--big 20 --small 10]

For each (method, data set) it runs the protocol's own stability refits (``SelectorsTrack._stability``, split 0,
seed 0) with ``M = --big`` (20) and keeps the selected sets. The protocol draws subsample ``m`` and its seed
from ``m`` alone (one generator advanced in order, ``seed = f(seed, m + 1)``), so the first ``--small`` (10) of
those sets are exactly the sets a run with that ``M`` selects: both estimates below come from one set of refits.
It prints, per pair, Φ̂ and the CI half-width for both ``M`` and their ratio, then the median ratio. Nogueira's
variance (Theorem 7) is ``(4/M²) Σ_i (φ_i − φ̄)²``, so the half-width is expected to grow by about √2 ≈ 1.41.
This is a measurement tool, not a test: its output is quoted in the track docstring and the README.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", required=True, help="comma-separated selector names")
    ap.add_argument("--datasets", required=True, help="comma-separated data set names")
    ap.add_argument("--big", type=int, default=20, help="the larger M (refits run)")
    ap.add_argument("--small", type=int, default=10, help="the smaller M (its first sets)")
    args = ap.parse_args(argv)
    big, small = args.big, args.small
    if not 2 <= small < big:
        ap.error(f"need 2 <= --small < --big, not {small} and {big}")

    import bench_core.tracks.selectors as sel
    from bench_core.data.dataset import cache_dir, data_dir, load_cache, prepare
    from bench_core.metrics.selection import nogueira_stability, selection_matrix
    from bench_core.profiles import get_profile, track_settings
    from bench_core.registry import load_registry
    from bench_core.tracks.base import Context

    reg = load_registry(strict=False)
    track = reg.track("selectors")
    settings = {**track_settings(track, get_profile("standard")), "stability_subsamples": big,
                "stability_budget_s": None}
    captured: list[list[np.ndarray]] = []

    def capture(chosen, d):  # the protocol's own sets, taken where it builds its selection matrix
        captured.append([np.asarray(c) for c in chosen])
        return selection_matrix(chosen, d)

    sel.selection_matrix = capture
    ratios: list[float] = []
    degenerate: list[tuple] = []
    print(f"| method | dataset | d | k | Φ̂ (M={big}) | ±95 % (M={big}) | Φ̂ (M={small}) | ±95 % (M={small}) "
          "| width ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ds_name in args.datasets.split(","):
        card = reg.card(ds_name)
        ds = load_cache(card, prepare(card, reg.loader_fns, reg.reader_fns, data_dir(None), cache_dir(None)))
        sp = ds.split(0)
        d = sp.X_train.shape[1]
        k = sel.stability_k(d, settings, ds.ground_truth)
        for m_name in args.methods.split(","):
            cls = reg.method("selectors", m_name)
            method = cls()
            ctx = Context(seed=0)
            if "ground_truth" in method.tags.requires:
                from dataclasses import replace

                ctx = replace(ctx, ground_truth=ds.ground_truth)
            captured.clear()
            track._stability(method, sp.X_train, sp.y_train, method.tags.supervised, settings, k, 0.0, ctx)
            sets = captured[-1]
            full = nogueira_stability(selection_matrix(sets, d))
            half = nogueira_stability(selection_matrix(sets[:small], d))
            w_big = (full["upper"] - full["lower"]) / 2
            w_small = (half["upper"] - half["lower"]) / 2
            # a zero width (every refit gave the same set, or the φ_i coincide) is a degenerate CI: not a ratio
            ratio = w_small / w_big if (w_big > 1e-12 and w_small > 1e-12) else float("nan")
            if np.isfinite(ratio):
                ratios.append(ratio)
            else:
                degenerate.append((m_name, ds_name, round(w_big, 4), round(w_small, 4)))
            print(f"| {m_name} | {ds_name} | {d} | {k} | {full['stability']:.3f} | {w_big:.3f} | "
                  f"{half['stability']:.3f} | {w_small:.3f} | {ratio:.2f} |", flush=True)
    if ratios:
        print(f"\nmedian width ratio (M={small} / M={big}) over {len(ratios)} pairs: {statistics.median(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
    if degenerate:
        print(f"zero-width CIs (method, dataset, half-width M={big}, M={small}), left out of the ratio: {degenerate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
