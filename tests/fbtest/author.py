"""Selectors for the author-loop CLI tests (tests/test_cli_author.py): one that prints and then raises (its
output is captured in the result's log tail), and one whose optional dependency is not installed.

Loaded with FEATBENCH_PLUGIN_MODULES=fbtest.author.
"""

from __future__ import annotations

import sys

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.selectors import Selector


class LoudFailure(Selector):
    """Writes a line to stdout and one to stderr, then raises."""

    name, version = "author-loud-failure", "1"
    params = {"threshold": 0.5, "rounds": 3, "label": "x", "shuffle": False}

    def rank(self, X, y, ctx):
        print("author-loud-failure: fitting on", X.shape)
        print("author-loud-failure: about to fail", file=sys.stderr)
        raise ValueError(f"threshold {self.params['threshold']} is not supported\nsecond line of the message")


class NeedsMissingPackage(Selector):
    """Needs an optional package that is not installed anywhere."""

    name, version = "author-needs-extra", "1"
    optional_dependencies = {"featbench_test_no_such_package": "pip install featbench-test-no-such-package"}

    def rank(self, X, y, ctx):  # pragma: no cover - never runs: the method is unavailable
        import featbench_test_no_such_package  # noqa: F401

        return np.zeros(X.shape[1])


@hookimpl
def featbench_register_selectors(register):
    register.add(LoudFailure)
    register.add(NeedsMissingPackage)
