"""The conformance kit catches what it claims to catch, and every built-in method passes it."""

from __future__ import annotations

import numpy as np
import pytest

from bench_core.testing import checks_for, parametrize_with_checks, run_checks
from bench_core.tracks.base import Tags
from bench_core.tracks.selectors import Selector


class Good(Selector):
    """Variance."""

    name, version = "good", "1"
    tags = Tags(supervised=False)

    def rank(self, X, y, ctx):
        return X.var(axis=0)


class NonDeterministic(Selector):
    """Ignores the seed."""

    name, version = "nondeterministic", "1"

    def rank(self, X, y, ctx):
        return np.random.default_rng().random(X.shape[1])


class Mutates(Selector):
    """Centres X in place."""

    name, version = "mutates", "1"

    def rank(self, X, y, ctx):
        X -= X.mean(axis=0)
        return X.var(axis=0)


class DividesByStd(Selector):
    """NaN on constant columns."""

    name, version = "divides", "1"

    def rank(self, X, y, ctx):
        with np.errstate(all="ignore"):
            return np.abs(X.mean(axis=0) / X.std(axis=0))


class NeedsLabels(Selector):
    """Declares itself unsupervised but uses y."""

    name, version = "needs-labels", "1"
    tags = Tags(supervised=False)

    def rank(self, X, y, ctx):
        return np.abs(X.T @ (y - y.mean()))


class DuplicateSelect(Selector):
    """select() repeats an index."""

    name, version = "dup-select", "1"

    def select(self, X, y, k, ctx):
        return np.zeros(k, dtype=int)


class KnownToMutate(Mutates):
    """Mutates, and says so."""

    name = "known-mutates"
    expected_failed_checks = {"check_inputs_not_mutated": "centres in place to save memory"}


def _status(cls):
    return {r.check: r.status for r in run_checks(cls)}


def test_a_good_method_passes_everything():
    assert set(_status(Good).values()) == {"passed"}


@pytest.mark.parametrize("cls, check", [
    (NonDeterministic, "check_deterministic"),
    (Mutates, "check_inputs_not_mutated"),
    (DividesByStd, "check_constant_and_duplicate_features"),
    (NeedsLabels, "check_unsupervised_without_labels"),
    (DuplicateSelect, "check_output_valid"),
])
def test_each_check_catches_its_defect(cls, check):
    st = _status(cls)
    assert st[check] == "failed", st


def test_expected_failures_are_reported_not_hidden():
    st = {r.check: r for r in run_checks(KnownToMutate)}
    assert st["check_inputs_not_mutated"].status == "xfail"
    assert "centres in place" in st["check_inputs_not_mutated"].message
    st = {r.check: r for r in run_checks(Good, expected_failed={"check_deterministic": "thought so"})}
    assert st["check_deterministic"].status == "xpass"


def test_checks_are_generated_from_the_kind():
    names = [c.name for c in checks_for(Good)]
    assert "check_output_valid" in names and "check_sae_shapes" not in names


@parametrize_with_checks([Good, KnownToMutate])
def test_parametrize_with_checks(method, check):
    check(method)


def test_every_builtin_method_passes_the_kit(registry):
    failures = {}
    for track, entries in registry.methods.items():
        for name, entry in entries.items():
            bad = [f"{r.check}: {r.message}" for r in run_checks(entry.obj) if r.status in ("failed", "xpass")]
            if bad:
                failures[f"{track}/{name}"] = bad
    assert not failures, failures
