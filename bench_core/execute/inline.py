"""The ``inline`` executor: jobs run one after another in this process.

For debugging a plugin (a breakpoint in your method works) and for tiny runs. It enforces no timeout and no
memory cap, and a crash of plugin code takes the run down with it: use ``local`` for real runs.
"""

from __future__ import annotations

from typing import Sequence

from bench_core.execute.base import Executor, OnResult, OnStart, ShouldRun
from bench_core.execute.jobs import JobSpec


class InlineExecutor(Executor):
    description = "in-process, sequential, no isolation (debugging)"

    def run(self, specs: Sequence[JobSpec], on_result: OnResult, on_start: OnStart | None = None,
            should_run: ShouldRun | None = None) -> None:
        from bench_core.execute.job import Worker, failure

        worker = Worker(threads=self.threads)
        for spec in specs:
            reason = should_run(spec) if should_run else None
            if reason:
                on_result(spec, failure("skipped", reason))
                continue
            if on_start:
                on_start(spec)
            on_result(spec, worker.run(spec))
