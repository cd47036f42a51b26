"""Test methods for the Slurm executor's tests (loaded through FEATBENCH_PLUGIN_MODULES)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.selectors import Selector


class SleepOnce(Selector):
    """Sleeps ``FEATBENCH_TEST_SLEEP_S`` seconds the first time it runs for a seed (a marker file under
    ``FEATBENCH_TEST_MARKERS`` remembers it), then returns at once: a job worth cancelling, that succeeds when
    it is run again."""

    name, version = "slurm-sleep-once", "1"

    def rank(self, X, y, ctx):
        marker = Path(os.environ["FEATBENCH_TEST_MARKERS"]) / f"seed{ctx.seed}"
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(float(os.environ.get("FEATBENCH_TEST_SLEEP_S", "30")))
        return X.var(axis=0)


class Steady(Selector):
    """Takes ``FEATBENCH_TEST_SLEEP_S`` seconds every time, then returns the variances."""

    name, version = "slurm-steady", "1"

    def rank(self, X, y, ctx):
        time.sleep(float(os.environ.get("FEATBENCH_TEST_SLEEP_S", "3")))
        return X.var(axis=0)


@hookimpl
def featbench_register_selectors(register):
    register.add(SleepOnce)
    register.add(Steady)
