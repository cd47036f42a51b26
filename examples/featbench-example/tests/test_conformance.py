"""The plugin's own test suite: featbench's conformance kit, as scikit-learn's parametrize_with_checks."""

from bench_core.testing import parametrize_with_checks
from featbench_example.plugin import AbsCorrelation


@parametrize_with_checks([AbsCorrelation])
def test_featbench_conformance(method, check):
    check(method)
