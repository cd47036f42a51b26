"""Project the CPU seconds of the reducers ``standard`` profile from a seed-0 run of a subset of its data sets.

Usage (from the repository root)::

    # 1. a seed-0 run of a representative subset, one worker on one thread (read timing.cpu_s afterwards)
    featbench run --track reducers --profile standard --seeds 1 -j 1 --threads 1 \\
        --dataset survey_epileptic,mammoth,mnist_embed,... --results RESULTS
    # 2. the projection of the whole profile (every standard data set, the profile's seeds), per method
    python tools/project_reducers_standard.py project --results RESULTS [--seeds 3] [--overhead-s 0.5]
    # 3. scores and CPU seconds of two variants of a method side by side (a standard budget checked on its
    #    scores before and after), per data set
    python tools/project_reducers_standard.py compare --results RESULTS

The projection: every standard reducers data set ``D`` (the cards of tier smoke, quick or standard) is
costed by itself when it was measured, else by the measured data set ``M`` nearest to it in (rows of one
fit after the profile's cap, input dimension, whether it has latent coordinates): distance ``|log n_D − log n_M| + ¼·|log d_D − log d_M|``,
and only manifolds stand in for manifolds (they add the intrinsic panel and the positive control). A job of
method ``m`` on ``D`` costs the measured ``timing.cpu_s`` of ``m`` on ``M`` (mean over its records) times
``n_D / n_M`` (linear in the rows: an overestimate for the fixed-cost parts, an underestimate for the
O(n²) ones, which the cap keeps small), plus ``--overhead-s`` per job (the worker's time outside the job's
own CPU count: result writing, dispatch), times the seeds. Only the profile's own parameters are projected:
explicit variants (``name[p=v]``) in the results are left out. Wall minutes with ``-j 2``: the total / 2 / 60
(many short jobs keep two workers balanced).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

_TOOLS = str(Path(__file__).resolve().parent)  # tools/_projection.py is beside this file
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)
import _projection as P  # noqa: E402


def _records(results: str) -> list[dict]:
    return list(P.results([results], "reducers", status="done"))


def _cards(profile_name: str):
    """(name, rows of one fit after the cap, input dimension, manifold?) of every data set of the profile."""
    from bench_core.profiles import get_profile, track_settings
    from bench_core.registry import load_registry

    reg = load_registry(strict=False)
    profile = get_profile(profile_name)
    settings = track_settings(reg.track("reducers"), profile)
    cap = settings["max_train_rows"]
    rows = []
    for card in P.profile_cards(reg, "reducers", profile.tier):
        ds = P.load_dataset(reg, card)
        n_train = len(ds.splits[0][0])
        n = n_train if cap is None else min(cap, n_train)
        rows.append((card.name, n, ds.n_features, "latent_coordinates" in card.properties))
    return rows, profile.seeds


def stand_in(name: str, n: int, d: int, manifold, measured: list[str], info: dict) -> str:
    """The measured data set whose cost stands in for data set ``name`` (``n`` rows, ``d`` columns): itself
    when it was measured, else the measured one of the same kind (manifold or not) nearest in
    ``|log(n / n')| + 0.25 |log(d / d')|`` (a tie goes to the first in ``measured``' order)."""
    if name in measured:
        return name
    cands = [m for m in measured if info[m][3] == manifold] or measured
    return min(cands, key=lambda m: abs(math.log(n / info[m][1])) + 0.25 * abs(math.log(d / info[m][2])))


def project(results: str, seeds: int | None, overhead: float, profile: str) -> int:
    recs = _records(results)
    if not recs:
        print(f"no done reducers results under {results}", file=sys.stderr)
        return 2
    cards, profile_seeds = _cards(profile)
    seeds = seeds or profile_seeds
    info = {c[0]: c for c in cards}
    cpu: dict[tuple[str, str], list[float]] = {}
    for (ds, variant), rs in P.cells(recs).items():
        vals = [c for c in map(P.cpu_s, rs) if c is not None]
        if vals and ds in info:
            cpu[(ds, variant)] = vals
    measured = sorted({d for d, _ in cpu})
    # the profile's own parameters only: explicit variants (``name[p=v]``) are for ``compare``
    variants = sorted({v for _, v in cpu if "[" not in v})
    per_method: dict[str, float] = defaultdict(float)
    jobs: dict[str, int] = defaultdict(int)
    table = []
    for name, n, d, manifold in cards:
        proxy = stand_in(name, n, d, manifold, measured, info)
        total, count = 0.0, 0
        for v in variants:
            vals = cpu.get((proxy, v))
            if not vals:
                continue
            c = sum(vals) / len(vals) * n / info[proxy][1] + overhead
            per_method[v] += c * seeds
            jobs[v] += seeds
            total += c
            count += 1
        table.append([name, n, d, proxy, count, f"{total:.1f}"])
    print("\n".join(P.md_table(["data set", "rows", "d", "stands in", "jobs", "CPU-s per seed"], "lrrlrr", table)))
    grand = sum(per_method.values())
    print(f"\n{seeds} seeds, {len(cards)} data sets, {sum(jobs.values())} jobs, from {len(measured)} measured data sets "
          f"({', '.join(measured)})\n")
    shares = [[v, jobs[v], f"{per_method[v]:.0f}", f"{100 * per_method[v] / grand:.1f} %"]
              for v in sorted(per_method, key=lambda k: -per_method[k])]
    shares.append(["**total**", sum(jobs.values()), f"{grand:.0f}", ""])
    print("\n".join(P.md_table(["method", "jobs", "CPU-s", "share"], "lrrr", shares)))
    print(f"\nworker-minutes {P.minutes(grand):.1f}; wall with -j 2: {P.minutes(grand, 2):.1f} min")
    return 0


def compare(results: str) -> int:
    groups = P.cells(_records(results))
    rows = []
    for (ds, v), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[1][0]["method"], kv[0][1])):
        def mean(f):
            return P.mean(f(r) for r in rs)

        rows.append([ds, v, f"{mean(lambda r: r['timing'].get('cpu_s')):.2f}",
                     f"{mean(lambda r: r['timing'].get('fit_s')):.2f}",
                     f"{mean(lambda r: r['outputs'].get('score_time_s')):.2f}",
                     *(f"{mean(lambda r, s=s: r['scores'].get(s)):.4f}"
                       for s in ("structure", "local", "global", "oos_structure"))])
    print("\n".join(P.md_table(["data set", "variant", "CPU-s", "fit s", "score s", "structure", "local", "global",
                                "oos"], "llrrrrrrr", rows)))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("project")
    p.add_argument("--results", required=True)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--overhead-s", type=float, default=0.0)
    p.add_argument("--profile", default="standard")
    c = sub.add_parser("compare")
    c.add_argument("--results", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "project":
        return project(a.results, a.seeds, a.overhead_s, a.profile)
    return compare(a.results)


if __name__ == "__main__":
    raise SystemExit(main())
