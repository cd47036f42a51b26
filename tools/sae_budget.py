"""The SAE track's budget table: CPU seconds per (dataset, method variant) from results, and the projection of
a profile with more seeds.

Usage (from the repository root)::

    python tools/sae_budget.py RESULTS [RESULTS ...] [--profile standard] [--seeds 3] [--workers 2]
                               [--dataset planted_main,...] [--exclude 'fastica[*']
                               [--tokens N] [--dataset-tokens DATASET=N ...]

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
next to the profile's own).

Another training budget (``--tokens N``, and ``--dataset-tokens DATASET=N`` for one data set): a job of a method
on the shared trainer (a :class:`bench_core.sae_training.TrainedSAE`) is projected as its CPU seconds plus
``(N / its budget − 1)`` times its training seconds, the rest (data, evaluations, probing, splice fidelity)
unchanged; other methods ignore the budget and keep their cost. The training seconds are estimated from the
result as (trainer fits × the job's budget in tokens) / ``train_tokens_per_s`` (the job's measured throughput
over all its fits): the fits are one per L0 target for a ``"k"`` method, the distinct calibration probes for a
``"penalty"`` method (``outputs.calibration``), one for a method without a knob, plus one per
``consistency@...`` score. An estimate: a fit's cost is taken as linear in its tokens (its fixed cost, the
initialisation, is small next to the steps), and a penalty method's probe count as the one measured (it may
change with the budget). CPU seconds measured on a loaded machine are on the high side (shared
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


def load(dirs: list[Path], profile: str, datasets: set[str] | None, exclude: list[str] = (),
         tokens: dict[str, int | None] | None = None, trainer: set[str] = frozenset()) -> dict[tuple[str, str], dict]:
    """``{(dataset, variant): {"cpu": s, "status": ..., "counted": s}}`` of seed 0 (later directories win).
    With ``tokens`` (``{dataset or "*": N}``), the jobs of the methods named in ``trainer`` are projected to
    that budget (:func:`rescale`; ``"cpu"`` stays the measured value)."""
    out: dict[tuple[str, str], dict] = {}
    recs = P.results(dirs, "saes", profile=profile, seed=0, datasets=datasets, exclude=exclude)
    for key, rs in P.cells(recs).items():
        r = rs[-1]
        t = r.get("timing") or {}
        cpu = t.get("cpu_s")
        counted = float(cpu if cpu is not None else (t.get("job_s") or 0.0))
        if tokens and r["method"] in trainer and cpu is not None:
            counted = rescale(r, counted, tokens.get(key[0], tokens.get("*")))
        out[key] = {"cpu": cpu, "status": r["status"], "counted": counted, "fit_s": t.get("fit_s")}
    return out


def trainer_fits(record: dict) -> int:
    """The fits a job ran on the shared trainer (see the module docstring)."""
    out, scores = record.get("outputs") or {}, record.get("scores") or {}
    calib = out.get("calibration")
    if calib:
        n = len({round(float(v), 12) for c in calib.values() for v, _ in c["trace"]})
    else:
        n = len(out.get("l0_targets") or [None])
    return n + sum(1 for k in scores if k.startswith("consistency@"))


def rescale(record: dict, counted: float, tokens: int | None) -> float:
    """A trainer job's cost at ``tokens`` training tokens (see the module docstring); ``counted`` if
    ``tokens`` is None or the job has no measured throughput."""
    tps = (record.get("scores") or {}).get("train_tokens_per_s")
    if tokens is None or not tps:
        return counted
    budget = float((record.get("outputs") or {}).get("train_tokens") or record["settings"]["tokens"])
    train_s = trainer_fits(record) * budget / float(tps)
    return counted + (tokens / budget - 1.0) * train_s


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
    ap.add_argument("--job-limit", type=float, default=None, help="flag jobs over this many CPU seconds "
                    "(default: the profile's job limit)")
    ap.add_argument("--exclude", action="append", default=[], help="drop variants matching this glob")
    ap.add_argument("--tokens", type=int, default=None, help="project the trainer's jobs to this budget")
    ap.add_argument("--dataset-tokens", action="append", default=[], metavar="DATASET=N",
                    help="project this data set's trainer jobs to N tokens (overrides --tokens there)")
    a = ap.parse_args(argv)
    if a.seeds < 1 or a.workers < 1 or (a.tokens is not None and a.tokens < 1):
        print("--seeds, --workers and --tokens must be at least 1", file=sys.stderr)
        return 2
    from bench_core.profiles import PROFILES

    if a.profile not in PROFILES:
        print(f"unknown profile {a.profile!r} (valid: {', '.join(PROFILES)})", file=sys.stderr)
        return 2
    job_limit = a.job_limit if a.job_limit is not None else PROFILES[a.profile].job_timeout_s
    missing = [str(p) for p in a.results if not p.is_dir()]
    if missing:
        print(f"not a results directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    datasets = {s for s in a.dataset.split(",") if s} or None
    tokens: dict[str, int | None] = {"*": a.tokens}
    for item in a.dataset_tokens:
        name, _, n = item.partition("=")
        if not name or not n.isdigit() or int(n) < 1:
            print(f"--dataset-tokens takes DATASET=N with N a positive integer, not {item!r}", file=sys.stderr)
            return 2
        tokens[name] = int(n)
    trainer = set()
    if a.tokens is not None or a.dataset_tokens:
        from bench_core.registry import load_registry
        from bench_core.sae_training import TrainedSAE

        reg = load_registry(strict=False)
        trainer = {name for name, e in reg.methods.get("saes", {}).items() if issubclass(e.obj, TrainedSAE)}
    rows = load(a.results, a.profile, datasets, a.exclude, tokens if trainer else None, trainer)
    print(table(rows, a.seeds, a.workers, job_limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
