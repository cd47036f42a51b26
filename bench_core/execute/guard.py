"""Step boundaries stay in the protocol's hands: a method cannot reset its own time limit.

The local executor restarts a job's per-step deadline at each step boundary the protocol marks with
``ctx.step(...)``. The same ``ctx`` is handed to the method, so without a guard a method could call
``ctx.step`` itself (from its fit, or from a thread that pumps it every second) and never time out.

:class:`StepGuard` gives the protocol a ``step`` that is honoured only

- from the thread that runs the job (the protocol's thread), and
- while no call into the method object is in progress.

It knows the latter by wrapping every public method of the method *instance* (``rank``, ``select``,
``fit``, ... whatever the track's contract names) in a counter, as instance attributes: the object stays
an instance of its class, so ``Track.run`` is unchanged for track authors. A refused call is ignored (and
counted in :attr:`StepGuard.refused`), so a method that calls ``ctx.step`` by mistake is not broken by it.

What it does not stop: plugin code runs in the same process as the protocol, so a method written to attack
the harness can still find the unguarded callable (through ``gc`` or closures). See the README's isolation
section.
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Any, Callable


class StepGuard:
    def __init__(self, step: Callable[[str], None]) -> None:
        self._step = step
        self._owner = threading.get_ident()
        self._depth = 0
        self._lock = threading.Lock()
        self.refused = 0

    def step(self, message: str) -> None:
        """The ``ctx.step`` handed to the protocol (and, unavoidably, seen by the method)."""
        if threading.get_ident() != self._owner or self._depth > 0:
            self.refused += 1
            return
        self._step(message)

    def _enter(self) -> None:
        with self._lock:
            self._depth += 1

    def _leave(self) -> None:
        with self._lock:
            self._depth -= 1

    def wrap(self, method: Any) -> Any:
        """Wrap every public method of ``method`` (in place) so that calls into it are counted."""
        for name, fn in inspect.getmembers(type(method), inspect.isfunction):
            if name.startswith("_"):
                continue
            bound = getattr(method, name)
            method.__dict__[name] = self._counted(bound)
        return method

    def _counted(self, bound: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(bound)
        def call(*args: Any, **kwargs: Any) -> Any:
            self._enter()
            try:
                return bound(*args, **kwargs)
            finally:
                self._leave()

        return call
