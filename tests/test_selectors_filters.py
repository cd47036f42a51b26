"""The filter selectors of ``plugins/selectors/filters.py``: each against an independent reference (a library that
implements it, or a plain loop written from the paper's formula), plus the conformance kit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bench_core.testing import parametrize_with_checks, smoke_classification
from bench_core.tracks.base import Context
from bench_core.tracks.selectors import order_from_scores
from plugins.selectors.filters import (
    MRMR,
    AnovaF,
    Chi2,
    DistanceCorrelation,
    FisherScore,
    InfFS,
    LaplacianScore,
    MutualInfo,
    OutRank,
    ReliefF,
    Variance,
    _centered_ranks,
)

ALL = [AnovaF, MutualInfo, Variance, LaplacianScore, FisherScore, Chi2, OutRank, DistanceCorrelation, ReliefF,
       MRMR, InfFS]
CTX = Context(seed=0)


@parametrize_with_checks(ALL)
def test_featbench_conformance(method, check):
    check(method)


def test_all_registered(registry):
    for cls in ALL:
        assert registry.method("selectors", cls.name) is cls


def test_module_import_is_light():
    """The plugin is imported at every start-up: no torch, scikit-learn, scipy or dcor at import time."""
    code = (
        "import sys; import bench_core.tracks.selectors; before = set(sys.modules); "
        "import plugins.selectors.filters; new = set(sys.modules) - before; "
        "heavy = sorted(m for m in new if m.split('.')[0] in {'torch', 'sklearn', 'scipy', 'dcor', 'pandas'}); "
        "print(heavy); assert not heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _data(n=90, d=9, C=3, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    y[:C] = np.arange(C)
    X = rng.normal(size=(n, d))
    X[:, 0] += y
    X[:, 1] += (y == 1) * 1.5
    if ties:
        X[:, 2:5] = np.round(X[:, 2:5])
    return X, y


# ------------------------------------------------------------------------------------------------ variance, Fisher


def test_variance_against_loop():
    X, _ = _data(d=6)
    X[:, 5] = 2.5
    ref = [sum((v - sum(col) / len(col)) ** 2 for v in col) / len(col) for col in X.T]
    got = Variance().rank(X, None, CTX)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    assert got[5] == 0.0


def test_fisher_score_against_loop_and_anova():
    X, y = _data(n=120, d=7, C=4)
    X[:, 6] = -1.0
    got = FisherScore().rank(X, y, CTX)
    ref = []
    for col in X.T:
        mu = col.mean()
        num = sum((y == c).sum() * (col[y == c].mean() - mu) ** 2 for c in np.unique(y))
        den = sum((y == c).sum() * col[y == c].var() for c in np.unique(y))
        ref.append(num / den if den > 0 else 0.0)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-15)
    n, C = len(y), 4
    F = AnovaF().rank(X, y, CTX)
    np.testing.assert_allclose(F[:6], got[:6] * (n - C) / (C - 1), rtol=1e-9)
    assert got[6] == 0.0


def test_fisher_score_perfect_separator_is_finite_and_first():
    y = np.array([0, 0, 0, 1, 1, 1])
    X = np.column_stack([y * 2.0, [0.1, 0.5, 0.3, 0.9, 0.2, 0.7], np.ones(6)])
    s = FisherScore().rank(X, y, CTX)
    assert np.all(np.isfinite(s)) and s.argmax() == 0 and s[2] == 0.0


# ------------------------------------------------------------------------------------------------ chi2


def test_chi2_matches_scikit_learn_and_needs_nonnegative_data():
    from sklearn.feature_selection import chi2

    X, y = _data(d=6)
    X = np.abs(X)
    X[:, 5] = 0.0  # all-zero column: scikit-learn gives NaN, we give 0
    got = Chi2().rank(X, y, CTX)
    ref = chi2(X[:, :5], y)[0]
    np.testing.assert_allclose(got[:5], ref, rtol=1e-12)
    assert got[5] == 0.0
    assert Chi2.tags.requires == ("nonnegative",)
    with pytest.raises(ValueError, match="non-negative"):
        Chi2().rank(X - 1.0, y, CTX)


def test_chi2_kit_checks_on_nonnegative_data():
    """What the kit's data checks verify, on non-negative smoke data (the kit's own are Gaussian)."""
    for n_classes, constant, duplicate in ((2, 1, 1), (3, 1, 1), (2, 4, 4)):
        X, y, _ = smoke_classification(n_classes=n_classes, constant=constant, duplicate=duplicate)
        X = np.abs(X)
        X0, y0 = X.copy(), y.copy()
        a = Chi2().rank(X, y, Context(seed=7))
        b = Chi2().rank(X.copy(), y.copy(), Context(seed=7))
        assert a.shape == (X.shape[1],) and np.all(np.isfinite(a))
        np.testing.assert_array_equal(a, b)
        assert np.array_equal(X, X0) and np.array_equal(y, y0)


# ------------------------------------------------------------------------------------------------ Laplacian score


def _laplacian_ref(X, k=5, t=None):
    """He, Cai & Niyogi (2005) with explicit n x n matrices and loops."""
    n, d = X.shape
    D2 = np.array([[float(np.sum((X[i] - X[j]) ** 2)) for j in range(n)] for i in range(n)])
    W = np.zeros((n, n), dtype=bool)
    for i in range(n):
        near = sorted((D2[i, j], j) for j in range(n) if j != i)[:k]
        for _, j in near:
            W[i, j] = W[j, i] = True
    if t is None:
        t = D2[np.triu(W)].mean()
    S = np.where(W, np.exp(-D2 / t), 0.0)
    Dg = np.diag(S.sum(axis=1))
    L = Dg - S
    one = np.ones(n)
    out = []
    for f in X.T:
        ft = f - (f @ Dg @ one) / (one @ Dg @ one)
        out.append((ft @ L @ ft) / (ft @ Dg @ ft))
    return np.array(out)


@pytest.mark.parametrize("params", [{}, {"n_neighbors": 3, "t": 4.0}])
def test_laplacian_score_against_loop(params):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 7))
    X[:30, :2] += 3.0  # two features carry the cluster structure
    ref = _laplacian_ref(X, k=params.get("n_neighbors", 5), t=params.get("t"))
    got = LaplacianScore(**params).rank(X, None, CTX)
    np.testing.assert_allclose(got, -ref, rtol=1e-9)
    assert set(np.argsort(got)[-2:]) == {0, 1}


def test_laplacian_score_constant_and_duplicate():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 5))
    X[:, 3] = 7.0
    X[:, 4] = X[:, 0]
    s = LaplacianScore().rank(X, None, CTX)
    assert np.all(np.isfinite(s)) and s.argmin() == 3 and s[4] == pytest.approx(s[0], rel=1e-12)


# ------------------------------------------------------------------------------------------------ OutRank


def _binned(x, bins):
    q = np.sort(x)[(np.arange(1, bins) * len(x)) // bins]
    return np.searchsorted(q, x, side="right")  # #{e : x >= q_e}


def test_outrank_against_plugin_mutual_information():
    from sklearn.metrics import mutual_info_score

    X, y = _data(n=150, d=6, C=3, ties=True)
    X[:, 5] = np.repeat([0.0, 1.0, 2.0], 50)  # three distinct values: three codes whatever `bins`
    for bins in (4, 10):
        codes = [_binned(x, bins) for x in X.T]
        assert len(np.unique(codes[5])) == 3
        got = OutRank(bins=bins, permutations=0).rank(X, y, CTX)
        np.testing.assert_allclose(got, [mutual_info_score(c, y) for c in codes], rtol=1e-10, atol=1e-14)
        # the chance term: the mean MI over the label permutations drawn from ctx.rng(31)
        got = OutRank(bins=bins, permutations=3).rank(X, y, Context(seed=5))
        rng = Context(seed=5).rng(31)
        perms = [rng.permutation(y) for _ in range(3)]
        ref = [mutual_info_score(c, y) - np.mean([mutual_info_score(c, p) for p in perms]) for c in codes]
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-14)


def test_outrank_corrects_for_cardinality():
    """Plug-in MI of pure noise grows with the number of bins; the corrected score does not."""
    rng = np.random.default_rng(6)
    n = 300
    y = rng.integers(0, 2, n)
    X = np.column_stack([rng.integers(0, 2, (n, 40)).astype(float), rng.normal(size=(n, 40)), y + rng.normal(size=n)])
    raw = OutRank(bins=20, permutations=0).rank(X, y, CTX)
    adj = OutRank(bins=20, permutations=20).rank(X, y, CTX)
    assert raw[40:80].mean() > 5 * raw[:40].mean()  # 20-bin noise looks more informative than binary noise
    assert abs(adj[40:80].mean() - adj[:40].mean()) < 0.2 * (raw[40:80].mean() - raw[:40].mean())
    assert adj.argmax() == 80


def test_outrank_constant_lowest():
    X, y = _data(d=5)
    X[:, 2] = 1.0
    s = OutRank().rank(X, y, CTX)
    assert np.all(np.isfinite(s)) and s.argmin() == 2 and np.sum(s == s.min()) == 1


# ------------------------------------------------------------------------------------------------ distance correlation


@pytest.mark.parametrize("C, seed", [(2, 0), (3, 1), (5, 2)])
def test_distance_correlation_equals_dcor(C, seed):
    import dcor

    rng = np.random.default_rng(seed)
    n = 97
    y = rng.choice(C, size=n, p=np.arange(1, C + 1) / np.arange(1, C + 1).sum())
    y[:C] = np.arange(C)
    X = np.column_stack([
        rng.normal(size=n) + y,                      # informative, continuous
        np.round(rng.normal(size=n) + 0.5 * y),      # informative, many ties
        rng.integers(0, 3, n).astype(float),         # noise, three values
        1e6 + rng.normal(size=n),                    # large offset
        np.full(n, 4.0),                             # constant
        rng.exponential(size=n) * 1e-3,              # small scale
    ])
    onehot = np.eye(C)[y]
    ref = [dcor.distance_correlation(X[:, j], onehot) for j in range(X.shape[1])]
    got = DistanceCorrelation().rank(X, y, CTX)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-8)
    assert got[4] == 0.0


# ------------------------------------------------------------------------------------------------ ReliefF


def _relieff_ref(X, y, k=10, metric="euclidean", weighting="prior", self_as_hit=False):
    """ReliefF with loops over instances and classes (Robnik-Šikonja & Kononenko 2003, m = n).

    ``self_as_hit`` reproduces skrebate's neighbour search, which scans every row (the instance itself last, at
    distance ``sys.maxsize``) and so takes the instance as one of its own hits when its class has at most k
    members."""
    n, d = X.shape
    lo = X.min(axis=0)
    span = X.max(axis=0) - lo
    Z = (X - lo) / np.where(span > 0, span, 1.0)
    classes = list(np.unique(y))
    prior = {c: np.mean(y == c) for c in classes}
    W = np.zeros(d)
    for i in range(n):
        dist = ((Z - Z[i]) ** 2).sum(axis=1) if metric == "euclidean" else np.abs(Z - Z[i]).sum(axis=1)
        order = [j for j in np.argsort(dist, kind="stable") if j != i]
        near = {c: [j for j in order if y[j] == c][:k] for c in classes}
        if self_as_hit and len(near[y[i]]) < k:
            near[y[i]].append(i)
        if near[y[i]]:
            W -= np.mean([np.abs(Z[i] - Z[j]) for j in near[y[i]]], axis=0) / n
        total_misses = sum(len(near[c]) for c in classes if c != y[i])
        for c in classes:
            if c == y[i] or not near[c]:
                continue
            mean_diff = np.mean([np.abs(Z[i] - Z[j]) for j in near[c]], axis=0)
            if weighting == "prior":
                w = prior[c] / (1.0 - prior[y[i]])
            else:
                w = (len(classes) - 1) * len(near[c]) ** 2 / total_misses**2
            W += w * mean_diff / n
    return W


def _relief_data(C, seed, n=130, d=8, small_class=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    if small_class:
        y[:6] = C - 1
        y[6:] = rng.integers(0, C - 1, n - 6)  # one small class (6 members, fewer than k)
    X = rng.normal(size=(n, d))
    X[:, 0] += y
    X[:, 3] += 2.0 * (y == 1)
    return X, y


@pytest.mark.parametrize("C, seed", [(2, 0), (3, 1), (4, 2)])
def test_relieff_equals_skrebate(C, seed):
    """With skrebate's neighbour distance and multiclass weighting, the scores are skrebate's, to rounding
    (every class has more than k members; see the next test for smaller classes)."""
    from skrebate import ReliefF as SkReliefF

    X, y = _relief_data(C, seed)
    assert np.bincount(y).min() > 10
    ref = SkReliefF(n_neighbors=10, n_jobs=1).fit(X, y).feature_importances_
    got = ReliefF(metric="manhattan", class_weighting="uniform").rank(X, y, CTX)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("C", [2, 3])
def test_relieff_skrebate_small_class_difference(C):
    """A class with at most k members: skrebate counts the instance as its own (zero-diff) hit; we do not."""
    from skrebate import ReliefF as SkReliefF

    X, y = _relief_data(C, 3, small_class=True)
    ref = SkReliefF(n_neighbors=10, n_jobs=1).fit(X, y).feature_importances_
    skrebate_like = _relieff_ref(X, y, metric="manhattan", weighting="uniform", self_as_hit=True)
    np.testing.assert_allclose(skrebate_like, ref, rtol=1e-9, atol=1e-13)
    got = ReliefF(metric="manhattan", class_weighting="uniform").rank(X, y, CTX)
    ours = _relieff_ref(X, y, metric="manhattan", weighting="uniform")
    np.testing.assert_allclose(got, ours, rtol=1e-9, atol=1e-13)
    assert not np.allclose(got, ref, rtol=1e-6)


@pytest.mark.parametrize("params", [{}, {"metric": "manhattan"}, {"class_weighting": "uniform", "n_neighbors": 4}])
def test_relieff_against_loop(params):
    X, y = _relief_data(3, 7, small_class=True)
    ref = _relieff_ref(X, y, k=params.get("n_neighbors", 10), metric=params.get("metric", "euclidean"),
                       weighting=params.get("class_weighting", "prior"))
    got = ReliefF(**params).rank(X, y, CTX)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-13)


def test_relieff_weightings_agree_on_balanced_classes():
    rng = np.random.default_rng(8)
    y = np.repeat(np.arange(3), 30)
    X = rng.normal(size=(90, 6)) + y[:, None] * [1, 0, 0, 0, 0, 0]
    a = ReliefF().rank(X, y, CTX)
    b = ReliefF(class_weighting="uniform").rank(X, y, CTX)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_relieff_detects_xor_where_anova_does_not():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.0, 1.0, size=(400, 20))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(np.int64)
    top = order_from_scores(ReliefF().rank(X, y, CTX), CTX.rng(1))[:2]
    assert set(top) == {0, 1}
    top_f = order_from_scores(AnovaF().rank(X, y, CTX), CTX.rng(1))[:2]
    assert set(top_f) != {0, 1}


def test_relieff_constant_lowest_and_duplicates_equal():
    X, y = _relief_data(2, 9)
    X[:, 5] = 3.0
    X[:, 6] = X[:, 0]
    s = ReliefF().rank(X, y, CTX)
    assert s.argmin() == 5 and np.sum(s == s.min()) == 1 and s[6] == pytest.approx(s[0], rel=1e-12)


# ------------------------------------------------------------------------------------------------ mRMR


@pytest.mark.parametrize("seed, C, K", [(0, 2, 10), (1, 3, 12), (2, 4, 8)])
def test_mrmr_picks_equal_mrmr_selection(seed, C, K):
    import pandas as pd
    from mrmr import mrmr_classif

    rng = np.random.default_rng(seed)
    n, d = 110, 30
    y = rng.integers(0, C, n)
    X = rng.normal(size=(n, d))
    X[:, :6] += np.outer(y, rng.normal(size=6))
    X[:, 6] = X[:, 0] + 0.3 * rng.normal(size=n)  # redundant with feature 0
    X[:, 7] = X[:, 1] + 0.3 * rng.normal(size=n)
    ref = mrmr_classif(pd.DataFrame(X), pd.Series(y), K=K, show_progress=False, n_jobs=1)
    picks, _ = MRMR().order(X, y)
    assert [int(f) for f in ref] == picks[:K].tolist()
    order = order_from_scores(MRMR().rank(X, y, CTX), CTX.rng(0))
    assert order[:K].tolist() == picks[:K].tolist()


def test_mrmr_order_then_relevance():
    X, y = _data(n=100, d=12, C=3)
    X[:, 11] = 5.0
    picks, rel = MRMR(max_order=4).order(X, y)
    assert len(picks) == 4
    s = MRMR(max_order=4).rank(X, y, CTX)
    order = np.argsort(-s, kind="stable")
    assert order[:4].tolist() == picks.tolist()
    rest = order[4:]
    assert np.all(np.diff(rel[rest]) <= 0)  # the rest by decreasing relevance
    assert rest[-1] == 11  # the constant feature (relevance 0) last
    assert MRMR(max_order=500).order(X, y)[0].size == 11  # capped at the features with positive relevance


@pytest.mark.parametrize("seed", range(4))
def test_mrmr_duplicate_of_a_pick_is_not_next(seed):
    """An exact copy of the only pick has mean redundancy 1: score 0. (mrmr-selection compares the mean with
    1.0 exactly, so when pandas rounds the correlation to 0.9999999999999999 it takes the copy next; with
    seed 2 here it does.)"""
    X, y = _data(n=100, d=6, C=2, seed=seed)
    X[:, 0] += 3.0 * y
    X[:, 5] = X[:, 0]  # exact copy of the most relevant feature
    picks, _ = MRMR().order(X, y)
    assert picks[0] == 0 and picks[1] != 5


# ------------------------------------------------------------------------------------------------ Inf-FS


def _inf_fs_ref(X, alpha=0.5, factor=0.9):
    """Roffo et al. (2015) with scipy's Spearman correlation and an explicit inverse."""
    from scipy.stats import spearmanr

    d = X.shape[1]
    sigma = ((X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))).std(axis=0)
    rho = spearmanr(X)[0]  # d x d (d > 2)
    A = alpha * np.maximum.outer(sigma, sigma) + (1 - alpha) * (1 - np.abs(rho))
    r = factor / np.max(np.linalg.eigvalsh(A))
    S = np.linalg.inv(np.eye(d) - r * A) - np.eye(d)
    return S.sum(axis=1), A


def test_centered_ranks_match_scipy_with_ties():
    from scipy.stats import rankdata

    rng = np.random.default_rng(10)
    XT = np.round(rng.normal(size=(7, 50)), 1)
    XT[2] = rng.normal(size=50)  # no ties in this row
    XT[3] = 1.0
    got = _centered_ranks(XT).numpy()
    np.testing.assert_allclose(got, rankdata(XT, axis=1) - 25.5, rtol=0, atol=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_inf_fs_against_explicit_inverse(ties):
    X, _ = _data(n=80, d=12, ties=ties)
    X[:, 8] = X[:, 9] * 3.0 + 1.0  # perfectly rank-correlated pair
    ref, A_ref = _inf_fs_ref(X)
    A = InfFS.graph(X, 0.5)
    np.testing.assert_allclose(A.dense().numpy(), A_ref, rtol=0, atol=2e-6)  # float32 Spearman Gram matrix
    # the solver alone: same A, explicit inverse
    Ad = A.dense().numpy()
    r = 0.9 / np.max(np.linalg.eigvalsh(Ad))
    exact = (np.linalg.inv(np.eye(12) - r * Ad) - np.eye(12)).sum(axis=1)
    np.testing.assert_allclose(InfFS.path_scores(A, 0.9).numpy(), exact, rtol=1e-10)
    np.testing.assert_allclose(InfFS().rank(X, None, CTX), ref, rtol=1e-5)


def test_inf_fs_blocks_beyond_one_block():
    """d above the block size: the stored upper block rows, the symmetric product and the solve."""
    import torch

    rng = np.random.default_rng(11)
    X = rng.normal(size=(30, 1100))
    X[:, 1050:] *= 3.0
    A = InfFS.graph(X, 0.3)
    assert len(A.blocks) == 2
    Ad = A.dense()
    assert torch.equal(Ad, Ad.T)
    v = torch.from_numpy(rng.normal(size=1100))
    np.testing.assert_allclose(A.matvec(v).numpy(), (Ad @ v).numpy(), rtol=1e-11, atol=1e-9)
    Ad = Ad.numpy()
    r = 0.9 / np.max(np.linalg.eigvalsh(Ad))
    exact = (np.linalg.inv(np.eye(1100) - r * Ad) - np.eye(1100)).sum(axis=1)
    np.testing.assert_allclose(InfFS.path_scores(A, 0.9).numpy(), exact, rtol=1e-9)


def test_inf_fs_constant_lowest_duplicates_equal():
    X, _ = _data(n=60, d=6)
    X[:, 4] = 2.0
    X[:, 5] = X[:, 1]
    s = InfFS().rank(X, None, CTX)
    assert s.argmin() == 4 and np.sum(s == s.min()) == 1 and s[5] == pytest.approx(s[1], rel=1e-9)
