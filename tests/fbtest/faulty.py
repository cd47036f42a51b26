"""Selectors that misbehave on purpose (fault injection), a spy, and a no-op.

Loaded with FEATBENCH_PLUGIN_MODULES=fbtest.faulty. The spy writes what it receives to the directory named
by FEATBENCH_SPY_DIR.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.base import Resources, Tags
from bench_core.tracks.selectors import Selector


class Raises(Selector):
    """Raises an exception."""

    name, version = "fault-raise", "1"

    def rank(self, X, y, ctx):
        raise RuntimeError("deliberate failure")


class ReturnsNaN(Selector):
    """Returns NaN scores."""

    name, version = "fault-nan", "1"

    def rank(self, X, y, ctx):
        s = np.ones(X.shape[1])
        s[0] = np.nan
        return s


class WrongShape(Selector):
    """Returns one score too few."""

    name, version = "fault-shape", "1"

    def rank(self, X, y, ctx):
        return np.ones(X.shape[1] - 1)


class OutOfRange(Selector):
    """select() returns an index past the last column."""

    name, version = "fault-range", "1"

    def select(self, X, y, k, ctx):
        return np.arange(X.shape[1] - k + 1, X.shape[1] + 1)


class Sleeper(Selector):
    """Sleeps past any reasonable timeout."""

    name, version = "fault-sleep", "1"
    params = {"seconds": 600.0}

    def rank(self, X, y, ctx):
        time.sleep(self.params["seconds"])
        return np.ones(X.shape[1])


class Aborts(Selector):
    """Kills its worker with os.abort()."""

    name, version = "fault-abort", "1"

    def rank(self, X, y, ctx):
        os.abort()


class MemoryHog(Selector):
    """Allocates (and touches) far more memory than its cap."""

    name, version = "fault-memory", "1"
    resources = Resources(memory_mb=200)

    def rank(self, X, y, ctx):
        blocks = []
        for _ in range(40):  # up to 4 GiB, 100 MiB at a time, each page written
            blocks.append(np.ones(100 * 2**20 // 8))
            time.sleep(0.01)
        return np.ones(X.shape[1])


class Spy(Selector):
    """Records the rows and labels it is given (one JSON file per call)."""

    name, version = "spy", "1"
    tags = Tags(supervised=True)

    def rank(self, X, y, ctx):
        out = Path(os.environ["FEATBENCH_SPY_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        rows = [hashlib.sha256(np.ascontiguousarray(r, dtype="<f8").tobytes()).hexdigest() for r in X]
        rec = {"seed": ctx.seed, "n": X.shape[0], "rows": rows, "y": [int(v) for v in y]}
        name = f"{ctx.seed}-{time.time_ns()}-{os.getpid()}.json"
        (out / name).write_text(json.dumps(rec))
        return X.var(axis=0)


class NoOp(Selector):
    """Returns constant scores instantly (for overhead measurements)."""

    name, version = "noop", "1"
    tags = Tags(supervised=False)

    def rank(self, X, y, ctx):
        return np.zeros(X.shape[1])


class SlowOk(Selector):
    """A well-behaved selector that takes a little time (for kill-and-resume tests)."""

    name, version = "slow-ok", "1"
    params = {"seconds": 0.4}

    def rank(self, X, y, ctx):
        print("slow-ok: fitting", flush=True)  # kept with the result although the worker is killed
        time.sleep(self.params["seconds"])
        return X.var(axis=0)


class SlowWarmUp(Selector):
    """A selector whose one-off warm-up (a JIT compile, say) and first fit each fit the step limit, together not."""

    name, version = "slow-warm-up", "1"
    params = {"seconds": 2.0}

    @classmethod
    def warm_up(cls) -> None:
        time.sleep(2.5)

    def rank(self, X, y, ctx):
        time.sleep(self.params["seconds"])
        return X.var(axis=0)


ALL = [Raises, ReturnsNaN, WrongShape, OutOfRange, Sleeper, Aborts, MemoryHog, Spy, NoOp, SlowOk, SlowWarmUp]


@hookimpl
def featbench_register_selectors(register):
    for cls in ALL:
        register.add(cls)
