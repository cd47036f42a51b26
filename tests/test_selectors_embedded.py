"""Embedded and wrapper selectors (plugins/selectors/embedded.py): conformance, and agreement with the
libraries they wrap."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bench_core.testing import parametrize_with_checks
from bench_core.tracks.base import Context
from plugins.selectors.embedded import (
    ExtraTreesImportance,
    L1Logistic,
    LassoNetSelector,
    PermutationImportance,
    RandomForestImportance,
    SVMRFE,
    _lex_scores,
    _permutation_importance,
    _standardize,
    _stratified_holdout,
)



class _LassoNetQuick(LassoNetSelector):
    """LassoNet with its quick-profile parameters as defaults: the same code in half the time, so that the
    default suite stays fast. The real defaults are checked by the ``slow`` test below and by
    ``featbench check lassonet``."""

    params = {**LassoNetSelector.params, **LassoNetSelector.profile_params["quick"]}


FAST = [L1Logistic, RandomForestImportance, ExtraTreesImportance, PermutationImportance, SVMRFE, _LassoNetQuick]


@parametrize_with_checks(FAST)
def test_featbench_conformance(method, check):
    check(method)


@pytest.mark.slow
@parametrize_with_checks([LassoNetSelector])
def test_featbench_conformance_lassonet_defaults(method, check):
    check(method)


def _order(scores):
    return list(np.argsort(-np.asarray(scores), kind="stable"))


# ------------------------------------------------------------------------------------------------ helpers


def test_lex_scores_ties_and_order():
    s = _lex_scores([1, 2, 2, 0, 2], [5, 1, 3, 9, 3])
    assert s.tolist() == [1.0, 2.0, 3.0, 0.0, 3.0]  # (2, 3) twice: a tie left to the protocol


def test_stratified_holdout_keeps_every_class():
    y = np.array([0] * 40 + [1] * 8 + [2])
    fit, held = _stratified_holdout(y, 1 / 8, np.random.default_rng(0))
    assert sorted(np.concatenate([fit, held]).tolist()) == list(range(len(y)))
    assert set(y[fit]) == {0, 1, 2}
    assert np.sum(y[held] == 0) == 5 and np.sum(y[held] == 1) == 1 and np.sum(y[held] == 2) == 0


def test_standardize_constant_columns_are_zero():
    X = np.column_stack([np.arange(10.0), np.full(10, 0.1), np.full(10, 3.0)])
    Z = _standardize(X)
    assert np.all(Z[:, 1:] == 0) and abs(Z[:, 0].std() - 1) < 1e-12


# ------------------------------------------------------------------------------------------------ l1_logistic


def _graded_signal(n=600, seed=0):
    """Independent features whose class signal falls off: 0 strongest, then 1, 2, 3; 4..9 noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 10))
    for j, shift in enumerate([2.0, 1.2, 0.7, 0.35]):
        X[:, j] += shift * (2 * y - 1)
    return X, y


def test_l1_logistic_entry_order_follows_signal_strength():
    X, y = _graded_signal()
    scores = L1Logistic().rank(X, y, Context(seed=0))
    assert _order(scores)[:4] == [0, 1, 2, 3]


def test_l1_logistic_path_starts_empty_at_c_min():
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import l1_min_c

    X, y = _graded_signal(seed=1)
    Xs = _standardize(X)
    c_min = 1 / np.abs(Xs.T @ (y - y.mean())).max()
    assert np.isclose(c_min, l1_min_c(Xs, y, loss="log", fit_intercept=False), rtol=1e-12)
    below = LogisticRegression(C=0.98 * c_min, l1_ratio=1.0, solver="liblinear", intercept_scaling=10.0).fit(Xs, y)
    above = LogisticRegression(C=1.1 * c_min, l1_ratio=1.0, solver="liblinear", intercept_scaling=10.0).fit(Xs, y)
    assert np.count_nonzero(below.coef_) == 0
    assert np.flatnonzero(above.coef_[0]).tolist() == [0]


def test_l1_logistic_top_k_is_the_active_set_of_scikit_learn():
    """At every path C where scikit-learn's fit (same solver and settings, fitted afresh) has exactly k
    active features, those are the top k of the ranking, up to the first C where a feature leaves the
    model (from there on the ranking keeps entry order and no longer matches every active set)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    n, d = 500, 12
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d))
    X[:, :6] += np.linspace(1.5, 0.2, 6) * (2 * y - 1)[:, None]
    method = L1Logistic()
    ctx = Context(seed=4)
    order = _order(method.rank(X, y, ctx))
    Xs = _standardize(X)
    c_min = 1 / np.abs(Xs.T @ (y - y.mean())).max()
    Cs = c_min * np.logspace(0, method.params["decades"], method.params["n_Cs"])
    seed = int(ctx.rng(11).integers(2**31 - 1))
    seen, previous = set(), set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for C in Cs:
            coef = LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear", intercept_scaling=10.0,
                                      random_state=seed).fit(Xs, y).coef_[0]
            active = set(np.flatnonzero(coef).tolist())
            if not previous <= active:
                break
            previous = active
            k = len(active)
            if 0 < k < d:
                assert active == set(order[:k]), f"C={C:.4g}: active {sorted(active)} != top {k} {order[:k]}"
                seen.add(k)
    assert len(seen) >= 5


def test_l1_logistic_multiclass_and_never_entering_features():
    rng = np.random.default_rng(5)
    n = 300
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 8))
    X[:, 0] += 2.0 * (y == 0)
    X[:, 1] += 2.0 * (y == 2)
    X[:, 7] = 1.0  # constant: never enters, gradient 0, last
    scores = L1Logistic(max_active=3).rank(X, y, Context(seed=0))
    order = _order(scores)
    assert set(order[:2]) == {0, 1}
    assert scores[7] == scores.min() and np.sum(scores == scores[7]) == 1


# ------------------------------------------------------------------------------------------------ trees


@pytest.mark.parametrize("cls", [RandomForestImportance, ExtraTreesImportance, PermutationImportance])
def test_tree_importances_put_informative_features_on_top(cls):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=400, n_features=20, n_informative=4, n_redundant=0, n_repeated=0,
                               n_classes=3, n_clusters_per_class=1, class_sep=2.0, shuffle=False,
                               random_state=0)
    order = _order(cls().rank(X, y, Context(seed=1)))
    assert set(order[:4]) == {0, 1, 2, 3}


def test_permutation_importance_equals_scikit_learn():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.inspection import permutation_importance

    X, y = make_classification(n_samples=260, n_features=12, n_informative=4, n_classes=3, random_state=2)
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(X[:200], y[:200])
    ref = permutation_importance(forest, X[200:], y[200:], scoring="balanced_accuracy", n_repeats=4,
                                 random_state=7, n_jobs=1).importances_mean
    cols = np.array([5, 0, 11, 3])
    mine = _permutation_importance(forest, X[200:], y[200:], cols, 4, 7, max_bytes=3000)  # several chunks
    assert np.array_equal(mine, ref[cols])
    assert np.array_equal(_permutation_importance(forest, X[200:], y[200:], np.arange(12), 4, 7), ref)


# ------------------------------------------------------------------------------------------------ rfe_svm


@pytest.mark.parametrize("n_classes", [2, 3])
def test_rfe_svm_matches_scikit_learn_ranking(n_classes):
    """Below ``fine_below`` features it is one ``RFE(step=1)``: same order as scikit-learn's ranking_."""
    from sklearn.datasets import make_classification
    from sklearn.feature_selection import RFE
    from sklearn.svm import LinearSVC

    X, y = make_classification(n_samples=200, n_features=15, n_informative=5, n_classes=n_classes,
                               random_state=n_classes)
    ctx = Context(seed=3)
    scores = SVMRFE().rank(X, y, ctx)
    seed = int(ctx.rng(14).integers(2**31 - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # d = 15 <= n / 3 throughout: the primal solver at every fit
        ref = RFE(LinearSVC(C=1.0, dual=False, max_iter=2000, random_state=seed), n_features_to_select=1,
                  step=1).fit(_standardize(X), y).ranking_
    assert _order(scores) == list(np.argsort(ref, kind="stable"))


def test_rfe_svm_chunked_stage_ties_broken_by_last_weights():
    """With a chunked first stage, the result refines scikit-learn's ranking_ (never contradicts it) and
    orders each chunk by the squared weights of the fit that removed it."""
    from sklearn.datasets import make_classification
    from sklearn.feature_selection import RFE
    from sklearn.svm import LinearSVC

    X, y = make_classification(n_samples=200, n_features=40, n_informative=5, random_state=0)
    ctx = Context(seed=0)
    method = SVMRFE(step=0.25, fine_below=10)  # stage 1 removes 10 per fit: 40 -> 30 -> 20 -> 10
    scores = method.rank(X, y, ctx)
    seed = int(ctx.rng(14).integers(2**31 - 1))
    Xs = _standardize(X)
    svm = LinearSVC(C=1.0, dual=False, max_iter=2000, random_state=seed)  # d = 40 <= n / 3 = 66
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stage1 = RFE(svm, n_features_to_select=10, step=0.25).fit(Xs, y).ranking_
        first_fit = svm.fit(Xs, y).coef_[0] ** 2
    for a in range(40):
        for b in range(40):
            if stage1[a] < stage1[b]:
                assert scores[a] > scores[b]
    chunk = np.flatnonzero(stage1 == stage1.max())  # removed by the first fit, on all 40 features
    assert len(chunk) == 10
    assert _order(scores[chunk]) == list(np.argsort(-first_fit[chunk], kind="stable"))


# ------------------------------------------------------------------------------------------------ lassonet


def test_lassonet_finds_the_informative_features():
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 10))
    X[:, :3] += 1.5 * (2 * y - 1)[:, None]
    params = dict(LassoNetSelector.profile_params["quick"])
    scores = LassoNetSelector(**params).rank(X, y, Context(seed=0))
    assert set(_order(scores)[:3]) == {0, 1, 2}


def test_lassonet_standard_settings_find_the_informative_features():
    """The standard profile's narrower hidden layer (16) still ranks the three shifted features first."""
    rng = np.random.default_rng(1)
    n = 300
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 60))  # d // 3 = 20: the hidden width is the standard cap, 16
    X[:, :3] += 1.5 * (2 * y - 1)[:, None]
    params = {**LassoNetSelector.params, **LassoNetSelector.profile_params["standard"]}
    assert params["hidden_max"] == 16
    scores = LassoNetSelector(**params).rank(X, y, Context(seed=0))
    assert set(_order(scores)[:3]) == {0, 1, 2}
