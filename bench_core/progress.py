"""A progress display for long runs, on stderr: a bar, done/failed counts, the current job(s), an ETA.

Phases: until the first job ends (skipped jobs, recorded at once, do not count) the line says ``starting workers…`` (worker processes import torch, the
plugins, and compile numba kernels: tens of seconds on a cold start) and names the jobs already started.
Then it shows the running jobs (the first one, and how many others) and, once it means something, an ETA:
only after :data:`ETA_AFTER` jobs have ended *and* a tenth of the run has, because the first jobs' times
include the start-up and a rate from one or two jobs is noise (the old display's first ETA was 07:51 for a
3-minute run).

On a terminal the line is redrawn in place (at most every 0.1 s); on anything else a line is printed at the
start, at every 10 % and at every failed job (with its status and label).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Jobs that must have ended before an ETA is shown (and at least a tenth of the run).
ETA_AFTER = 3
#: Width of the label shown for the current job.
LABEL_CHARS = 48


def _fmt_eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Counts started and finished jobs; see the module docstring for what it shows."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True, width: int = 28) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.done = 0
        self.failed = 0
        self.skipped = 0  # recorded without running (data or a dependency missing): no part of any rate
        self.t0 = time.monotonic()
        self.running: dict[str, float] = {}  # label -> start time, in start order
        self._last_decile = -1
        self._last_draw = 0.0
        self._announced = False

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped

    @property
    def ran(self) -> int:
        """Jobs that ran and ended (done or failed); skipped ones are recorded instantly and say nothing
        about the time the others take."""
        return self.done + self.failed

    def begin(self) -> None:
        """Show the start-up phase at once (the first jobs can take tens of seconds to end)."""
        if self.enabled and not self._announced:
            self._announced = True
            self._draw(force=True)

    def start(self, label: str) -> None:
        """A job was handed to a worker."""
        self.running[label] = time.monotonic()
        if self.enabled and self.tty:
            self._draw()

    def update(self, status: str, label: str = "") -> None:
        self.running.pop(label, None)
        if status == "done":
            self.done += 1
        elif status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
        if not self.enabled:
            return
        if self.tty:
            self._draw(force=self.finished == self.total)
            if self.finished == self.total:
                self.stream.write("\n")
                self.stream.flush()
        else:
            decile = int(10 * self.finished / self.total)
            if decile != self._last_decile or status != "done":
                self._last_decile = decile
                extra = f"  [{status}] {label}" if status != "done" else ""
                self.stream.write(self.line() + extra + "\n")
                self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        if self.tty:
            self.stream.write("\r" + self.line() + "\x1b[K")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def eta(self) -> float | None:
        """Seconds left, or ``None`` while too few jobs have ended for a rate to mean anything."""
        ran, left = self.ran, self.total - self.finished
        runnable = self.total - self.skipped
        if left <= 0 or ran < min(ETA_AFTER, runnable) or ran * 10 < runnable:
            return None
        elapsed = time.monotonic() - self.t0
        return elapsed / ran * left

    def current(self) -> str:
        if not self.running:
            return ""
        first = next(iter(self.running))
        if len(first) > LABEL_CHARS:
            first = "…" + first[-(LABEL_CHARS - 1):]
        more = f" +{len(self.running) - 1}" if len(self.running) > 1 else ""
        return f"  now {first}{more}"

    def line(self) -> str:
        finished = self.finished
        frac = finished / self.total if self.total else 1.0
        filled = int(round(self.width * frac))
        elapsed = time.monotonic() - self.t0
        bar = "#" * filled + "." * (self.width - filled)
        skipped = f"  skipped {self.skipped}" if self.skipped else ""
        head = (f"[{bar}] {finished}/{self.total}  done {self.done}  failed {self.failed}{skipped}  "
                f"elapsed {_fmt_eta(elapsed)}")
        if self.ran == 0 and finished < self.total:
            return head + "  starting workers…" + self.current()
        eta = self.eta()
        tail = f"  ETA {_fmt_eta(eta)}" if eta is not None else ""
        return head + tail + (self.current() if finished < self.total else "")
