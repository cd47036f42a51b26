"""A progress display for long runs: a bar with done/failed counts and an ETA, on stderr."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _fmt_eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Counts finished jobs; redraws one line on a terminal, prints a line every 10 % otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True, width: int = 28) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.done = 0
        self.failed = 0
        self.t0 = time.monotonic()
        self._last_decile = -1
        self._last_draw = 0.0

    def update(self, status: str, label: str = "") -> None:
        if status == "done":
            self.done += 1
        else:
            self.failed += 1
        if not self.enabled:
            return
        finished = self.done + self.failed
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw >= 0.1 or finished == self.total:
                self._last_draw = now
                self.stream.write("\r" + self.line() + "\x1b[K")
                if finished == self.total:
                    self.stream.write("\n")
                self.stream.flush()
        else:
            decile = int(10 * finished / self.total)
            if decile != self._last_decile or status != "done":
                self._last_decile = decile
                extra = f"  [{status}] {label}" if status != "done" else ""
                self.stream.write(self.line() + extra + "\n")
                self.stream.flush()

    def line(self) -> str:
        finished = self.done + self.failed
        frac = finished / self.total if self.total else 1.0
        filled = int(round(self.width * frac))
        elapsed = time.monotonic() - self.t0
        eta = elapsed / finished * (self.total - finished) if finished else float("inf")
        bar = "#" * filled + "." * (self.width - filled)
        return (f"[{bar}] {finished}/{self.total}  done {self.done}  failed {self.failed}  "
                f"elapsed {_fmt_eta(elapsed)}  ETA {_fmt_eta(eta)}")
