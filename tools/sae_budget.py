"""The SAE track's budget table: CPU seconds per (dataset, method variant) from results, and the projection of
a profile with more seeds.

Usage (from the repository root)::

    python tools/sae_budget.py RESULTS [RESULTS ...] [--profile standard] [--seeds 3] [--workers 2]
                               [--dataset planted_main,...] [--exclude 'fastica[*']

Each argument is a results directory of ``featbench run --profile standard --track saes --seeds 1`` (seed 0;
run with ``-j 1 --threads 1`` so that a job's CPU seconds are one core's). Where several directories hold a
result of the same (dataset, variant, seed), the one of the later directory counts (a re-measurement after a
change). A job's cost is its result's ``timing.cpu_s`` (the worker's CPU seconds for the whole job: data
load, fits, evaluations, the consistency refit); a job that ended without it (``timeout``, ``error``) shows its
status and counts its ``timing.job_s`` (wall seconds until it was stopped: a lower bound).

The projection of ``--seeds`` seeds is the seed-0 cost times the seeds (the seeds run the same jobs on
other splits of the same sizes), per dataset and in total; the wall time with ``--workers`` workers is the
total over the workers (the jobs are many and short, so the workers stay balanced apart from the last job);
worker-minutes are the total over 60. ``--exclude`` drops variants matching a glob (a "before" variant measured
next to the profile's own). CPU seconds measured on a loaded machine are on the high side (shared
caches, hyper-threads), never the wall time of a quiet run.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

_TOOLS = str(Path(__file__).resolve().parent)  # tools/_projection.py is beside this file
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)
import _projection as P  # noqa: E402


def load(dirs: list[Path], profile: str, datasets: set[str] | None,
         exclude: list[str] = ()) -> dict[tuple[str, str], dict]:
    """``{(dataset, variant): {"cpu": s, "status": ..., "counted": s}}`` of seed 0 (later directories win)."""
    out: dict[tuple[str, str], dict] = {}
    recs = P.results(dirs, "saes", profile=profile, seed=0, datasets=datasets, exclude=exclude)
    for key, rs in P.cells(recs).items():
        r = rs[-1]
        t = r.get("timing") or {}
        cpu = t.get("cpu_s")
        counted = cpu if cpu is not None else (t.get("job_s") or 0.0)
        out[key] = {"cpu": cpu, "status": r["status"], "counted": float(counted), "fit_s": t.get("fit_s")}
    return out


def table(rows: dict[tuple[str, str], dict], seeds: int, workers: int, job_limit: float | None) -> str:
    per_ds: dict[str, float] = defaultdict(float)
    body = []
    for (ds, variant), r in sorted(rows.items()):
        flag = ""
        if job_limit is not None and r["cpu"] is not None and r["cpu"] > job_limit:
            flag = f" (> {job_limit:g} s job limit)"
        cpu = f"{r['cpu']:.1f}" if r["cpu"] is not None else f"≥ {r['counted']:.1f}"
        body.append([ds, variant, f"{r['status']}{flag}", cpu, f"{r['counted'] * seeds:.0f}"])
        per_ds[ds] += r["counted"]
    lines = P.md_table(["dataset", "method", "status", "seed-0 CPU-s", "x seeds"], "lllrr", body)
    totals = [[ds, sum(1 for k in rows if k[0] == ds), f"{s:.0f}", f"{s * seeds:.0f}"]
              for ds, s in sorted(per_ds.items())]
    lines += ["", *P.md_table(["dataset", "jobs per seed", "seed-0 CPU-s", "x seeds CPU-s"], "lrrr", totals)]
    total = sum(per_ds.values()) * seeds
    lines += ["", f"total for {seeds} seed(s): {total:.0f} CPU-s = {P.minutes(total):.1f} worker-min = "
                  f"{P.minutes(total, workers):.1f} min with {workers} workers"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--profile", default="standard")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dataset", default="")
    ap.add_argument("--job-limit", type=float, default=150.0)
    ap.add_argument("--exclude", action="append", default=[], help="drop variants matching this glob")
    a = ap.parse_args(argv)
    if a.seeds < 1 or a.workers < 1:
        print("--seeds and --workers must be at least 1", file=sys.stderr)
        return 2
    missing = [str(p) for p in a.results if not p.is_dir()]
    if missing:
        print(f"not a results directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    datasets = {s for s in a.dataset.split(",") if s} or None
    rows = load(a.results, a.profile, datasets, a.exclude)
    print(table(rows, a.seeds, a.workers, a.job_limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
