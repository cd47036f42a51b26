"""The protocol's ExtraTrees evaluator (numba) is the same algorithm as scikit-learn's ExtraTreesClassifier."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification
from sklearn.ensemble import ExtraTreesClassifier

from bench_core.metrics.forest import ExtraTrees


def _accuracies(model_factory, X, y, seeds):
    out = []
    for s in seeds:
        p = np.random.default_rng(s).permutation(len(y))
        tr, te = p[: int(0.7 * len(y))], p[int(0.7 * len(y)):]
        out.append(np.mean(model_factory(s).fit(X[tr], y[tr]).predict(X[te]) == y[te]))
    return np.array(out)


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "digits", "xor", "sparse_counts"])
def test_accuracy_matches_scikit_learn_in_distribution(name):
    rng = np.random.default_rng(0)
    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    elif name == "wine":
        X, y = load_wine(return_X_y=True)
    elif name == "digits":
        X, y = load_digits(return_X_y=True)
    elif name == "xor":
        X = rng.normal(size=(600, 10))
        y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)
    else:  # many constant-at-node features, as in the text datasets
        X = rng.poisson(0.05, size=(500, 300)).astype(float)
        y = (X[:, :5].sum(axis=1) > 0).astype(int)
    seeds = range(12)
    ours = _accuracies(lambda s: ExtraTrees(50, random_state=s), X, y, seeds)
    ref = _accuracies(lambda s: ExtraTreesClassifier(50, random_state=s, n_jobs=1), X, y, seeds)
    # paired over the same splits: the mean difference is within noise (3 standard errors, floor 0.005)
    diff = ours - ref
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    assert abs(diff.mean()) <= max(3 * se, 0.005), (ours.mean(), ref.mean(), se)


def test_deterministic_and_seed_dependent():
    X, y = make_classification(300, 20, random_state=0)
    new = np.random.default_rng(5).normal(size=(50, 20))  # training rows are fitted exactly by any seed
    a = ExtraTrees(10, random_state=1).fit(X, y).predict_proba(new)
    b = ExtraTrees(10, random_state=1).fit(X, y).predict_proba(new)
    c = ExtraTrees(10, random_state=2).fit(X, y).predict_proba(new)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_grown_to_purity_and_handles_constant_features():
    X, y = make_classification(200, 8, random_state=3)
    X[:, 3] = 1.0
    model = ExtraTrees(5, random_state=0).fit(X, y)
    assert np.mean(model.predict(X) == y) == 1.0, "fully grown trees fit distinct training rows exactly"
    for feature, *_rest in model.trees_:
        assert 3 not in set(feature.tolist()), "a constant feature is never split on"
    const = np.ones((20, 3))
    ylab = np.arange(20) % 2
    assert set(ExtraTrees(3).fit(const, ylab).predict(const).tolist()) <= {0, 1}
