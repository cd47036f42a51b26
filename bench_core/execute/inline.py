"""The ``inline`` executor: jobs run one after another in this process.

For debugging a plugin (a breakpoint in your method works) and for tiny runs. It enforces no timeout and no
memory cap, does not capture the method's output, and a crash of plugin code (a segfault, ``os._exit``)
takes the run down with it: use ``local`` for real runs.

A method that raises ``SystemExit`` (``sys.exit``), ``KeyboardInterrupt`` or a bare ``BaseException`` gets
status ``error`` like any other exception, and the run goes on. A real Ctrl-C is told apart from a
``KeyboardInterrupt`` raised by plugin code by a SIGINT handler installed for the run: only the former
stops the run.
"""

from __future__ import annotations

import signal
from typing import Sequence

from bench_core.execute.base import Executor, OnResult, OnStart, ShouldRun
from bench_core.execute.jobs import JobSpec


class InlineExecutor(Executor):
    description = "in-process, sequential, no isolation (debugging)"

    def run(self, specs: Sequence[JobSpec], on_result: OnResult, on_start: OnStart | None = None,
            should_run: ShouldRun | None = None) -> None:
        from bench_core.execute.job import Worker, failure

        worker = Worker(threads=self.threads)
        interrupted = []

        def on_sigint(signum, frame):  # a real Ctrl-C: remembered, then raised as usual
            interrupted.append(signum)
            raise KeyboardInterrupt

        try:
            previous = signal.signal(signal.SIGINT, on_sigint)
        except ValueError:  # not the main thread: no handler, plugin KeyboardInterrupts stay job errors
            previous = None
        try:
            for spec in specs:
                reason = should_run(spec) if should_run else None
                if reason:
                    on_result(spec, failure("skipped", reason))
                    continue
                if on_start:
                    on_start(spec)
                outcome = worker.run(spec)
                if interrupted:
                    raise KeyboardInterrupt
                on_result(spec, outcome)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
