"""The vectorized k-NN mutual information equals scikit-learn's ``mutual_info_classif`` (to 1e-10)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification
from sklearn.feature_selection import mutual_info_classif

from bench_core.tracks.base import Context
from plugins.selectors._mutual_info import _kth_neighbour_distance, mutual_info_classif_fast
from plugins.selectors.filters import MutualInfo


def _cases():
    rng = np.random.default_rng(0)
    X, y = make_classification(300, 200, n_informative=5, n_classes=4, random_state=0)
    Xd = np.round(rng.normal(size=(200, 30)), 1)  # many ties and exact duplicates
    yd = rng.integers(0, 3, 200)
    Xs = rng.normal(size=(40, 20))  # a singleton class (left out) and a class of 2 (scikit-learn's brute path)
    ys = np.r_[np.zeros(30), np.ones(7), 2 * np.ones(2), [3]].astype(int)
    return {"breast_cancer": load_breast_cancer(return_X_y=True), "wine": load_wine(return_X_y=True),
            "digits": load_digits(return_X_y=True), "make_classification": (X, y), "ties": (Xd, yd),
            "small classes": (Xs, ys)}


@pytest.mark.parametrize("name", list(_cases()))
@pytest.mark.parametrize("k", [3, 5])
def test_equals_scikit_learn(name, k):
    X, y = _cases()[name]
    ref = mutual_info_classif(X, y, n_neighbors=k, random_state=11)
    got = mutual_info_classif_fast(X, y, n_neighbors=k, random_state=11)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)
    assert (got > 0).any()


def test_kth_neighbour_distance_by_brute_force():
    rng = np.random.default_rng(1)
    a = np.sort(np.round(rng.normal(size=(25, 4)), 1), axis=0)  # with ties
    for k in (1, 2, 3):
        got = _kth_neighbour_distance(a, k)
        for j in range(a.shape[1]):
            for i in range(a.shape[0]):
                others = np.abs(np.delete(a[:, j], i) - a[i, j])
                assert got[i, j] == np.sort(others)[k - 1]


def test_the_selector_scores_are_scikit_learns():
    X, y = load_wine(return_X_y=True)
    ctx = Context(seed=4)
    seed = int(ctx.rng(5).integers(2**31))
    np.testing.assert_allclose(MutualInfo().rank(X, y, ctx), mutual_info_classif(X, y, n_neighbors=3,
                                                                                random_state=seed), atol=1e-10)
