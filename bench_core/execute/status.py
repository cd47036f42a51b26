"""``featbench status``: where the jobs of a run stand, per track, read from the results directory alone.

A job is ``done`` (a ``done`` result file), ``failed`` (a result file with another status: ``error``,
``invalid``, ``timeout``, ``oom``, ``crashed``), ``skipped`` (its data is missing, or a result file says
``skipped``), ``running`` or ``queued`` (held by a Slurm array task that ``sacct`` lists as running or
pending; see :mod:`bench_core.execute.slurm`), else ``pending``. Nothing is written.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from bench_core.execute.run import RunRequest, plan_run
from bench_core.registry import Registry
from bench_core.store import Store


def run_status(registry: Registry, req: RunRequest, store: Store) -> dict[str, dict[str, int]]:
    """``{track: {state: count}}`` for the jobs that ``featbench run`` with the same request would plan."""
    plan = plan_run(registry, req, store)
    live: dict = {}
    subs = Path(store.root) / ".slurm" / "submissions"
    if subs.is_dir():
        from bench_core.execute.slurm import live_submissions

        live = live_submissions(subs)
    skipped = {s.key for s, _r in plan.skipped}
    out: dict[str, Counter] = defaultdict(Counter)
    for spec in plan.specs:
        rec = store.read(store.path_for(spec.track, spec.dataset, spec.method, spec.key))
        status = rec.get("status") if rec else None
        if status == "done":
            state = "done"
        elif spec.key in live:
            state = "running" if any(st == "RUNNING" for _j, _k, st in live[spec.key]) else "queued"
        elif spec.key in skipped or status == "skipped":
            state = "skipped"
        elif status is not None:
            state = "failed"
        else:
            state = "pending"
        out[spec.track][state] += 1
    return {t: dict(c) for t, c in out.items()}
