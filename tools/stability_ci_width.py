"""What halving the stability refits (M = 20 -> 10) does to Nogueira's Φ̂ and its 95 % CI.

Usage (from the repository root; data sets by name, any selectors data set of the standard tier)::

    FEATBENCH_DATA_DIR=... python tools/stability_ci_width.py --methods anova_f,l1_logistic --datasets colon,wine

For each (method, data set) it runs the protocol's own stability refits (``SelectorsTrack._stability``, split 0,
seed 0) with ``M = 20`` and keeps the 20 selected sets. The protocol draws subsample ``m`` and its seed from
``m`` alone (one generator advanced in order, ``seed = f(seed, m + 1)``), so the first 10 of those 20 sets are
exactly the sets a run with ``M = 10`` selects: both estimates below come from one set of refits. It prints,
per pair, Φ̂ and the CI half-width for M = 20 and M = 10 and their ratio, then the median ratio. Nogueira's
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
    args = ap.parse_args(argv)

    import bench_core.tracks.selectors as sel
    from bench_core.data.dataset import cache_dir, data_dir, load_cache, prepare
    from bench_core.metrics.selection import nogueira_stability, selection_matrix
    from bench_core.profiles import get_profile, track_settings
    from bench_core.registry import load_registry
    from bench_core.tracks.base import Context

    reg = load_registry(strict=False)
    track = reg.track("selectors")
    settings = {**track_settings(track, get_profile("standard")), "stability_subsamples": 20,
                "stability_budget_s": None}
    captured: list[list[np.ndarray]] = []

    def capture(chosen, d):  # the protocol's own sets, taken where it builds its selection matrix
        captured.append([np.asarray(c) for c in chosen])
        return selection_matrix(chosen, d)

    sel.selection_matrix = capture
    ratios: list[float] = []
    degenerate: list[tuple] = []
    print("| method | dataset | d | k | Φ̂ (M=20) | ±95 % (M=20) | Φ̂ (M=10) | ±95 % (M=10) | width ratio |")
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
            half = nogueira_stability(selection_matrix(sets[:10], d))
            w20 = (full["upper"] - full["lower"]) / 2
            w10 = (half["upper"] - half["lower"]) / 2
            # a zero width (every refit gave the same set, or the φ_i coincide) is a degenerate CI: not a ratio
            ratio = w10 / w20 if (w20 > 1e-12 and w10 > 1e-12) else float("nan")
            if np.isfinite(ratio):
                ratios.append(ratio)
            else:
                degenerate.append((m_name, ds_name, round(w20, 4), round(w10, 4)))
            print(f"| {m_name} | {ds_name} | {d} | {k} | {full['stability']:.3f} | {w20:.3f} | "
                  f"{half['stability']:.3f} | {w10:.3f} | {ratio:.2f} |", flush=True)
    if ratios:
        print(f"\nmedian width ratio (M=10 / M=20) over {len(ratios)} pairs: {statistics.median(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
    if degenerate:
        print(f"zero-width CIs (method, dataset, half-width M=20, M=10), left out of the ratio: {degenerate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
