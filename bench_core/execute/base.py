"""The executor interface: how pending jobs get run.

An executor receives job specs and reports one outcome per job through ``on_result``; it decides the
statuses that only an outside observer can see (``timeout``, ``crashed``, and ``oom`` when it enforces the
memory cap by killing). The job itself is always :meth:`bench_core.execute.job.Worker.run`, whichever
executor runs it, and the result files are always written by the caller of ``on_result``.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, ClassVar, Sequence

from bench_core.execute.jobs import JobSpec

OnResult = Callable[[JobSpec, dict[str, Any]], None]
OnStart = Callable[[JobSpec], None]
#: Asked just before a job is dispatched: ``None`` to run it, or the reason it is skipped instead.
ShouldRun = Callable[[JobSpec], "str | None"]


class Executor(abc.ABC):
    """Runs jobs. Subclasses register through ``featbench_register_executors``."""

    #: One line shown by ``featbench list``.
    description: ClassVar[str] = ""

    def __init__(self, workers: int = 1, threads: int = 1, memory_cap_mb: float | None = None,
                 device: str = "auto") -> None:
        self.workers = max(1, int(workers))
        self.threads = max(1, int(threads))
        self.memory_cap_mb = memory_cap_mb
        self.device = device

    @abc.abstractmethod
    def run(self, specs: Sequence[JobSpec], on_result: OnResult, on_start: OnStart | None = None,
            should_run: ShouldRun | None = None) -> None:
        """Run every spec in order, calling ``on_result(spec, outcome)`` once per spec as soon as it ends; a
        spec for which ``should_run`` returns a reason is not run but reported ``skipped`` (abstract)."""
