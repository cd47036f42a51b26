"""Every similarity kernel and measure against an independent float64 reference of its published formula.

The references below are written here from the papers' formulas (NumPy/SciPy, dense matrices, explicit
centring matrices), not imported from the project. ``repsim`` (PyPI, NumPy only) is a second, dev-only
reference where it implements the same definition (see ``test_agrees_with_repsim``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import scipy.stats
import torch

from bench_core.metrics import similarity as S

TOL = 1e-8


def _data(n=60, d1=7, d2=5, seed=0, related=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d1)) + rng.normal(size=d1)
    Y = rng.normal(size=(n, d2)) + rng.normal(size=d2)
    if related:
        Y[:, : min(d1, d2)] += 0.8 * X[:, : min(d1, d2)] @ rng.normal(size=(min(d1, d2), min(d1, d2)))
    return X, Y


# ------------------------------------------------------------------------------------------ references


def H(n):
    return np.eye(n) - np.ones((n, n)) / n


def ref_hsic_biased(K, L):
    n = K.shape[0]
    return np.trace(K @ H(n) @ L @ H(n)) / (n - 1) ** 2


def ref_cka(K, L):
    return ref_hsic_biased(K, L) / math.sqrt(ref_hsic_biased(K, K) * ref_hsic_biased(L, L))


def ref_hsic_unbiased(K, L):
    """Song et al. 2012, eq. 5."""
    n = K.shape[0]
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ Kt @ Lt @ one) / (n * (n - 3))


def ref_dcka(K, L):
    return ref_hsic_unbiased(K, L) / math.sqrt(ref_hsic_unbiased(K, K) * ref_hsic_unbiased(L, L))


def ref_rbf_gram(X, frac):
    D = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(X))
    sigma = frac * np.median(scipy.spatial.distance.pdist(X))
    return np.exp(-D ** 2 / (2 * sigma ** 2))


def ref_canon(X, Y):
    """Canonical correlations from the covariance definition: eigenvalues of Sxx^-1 Sxy Syy^-1 Syx."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Sxx, Syy, Sxy = Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc
    Wx = scipy.linalg.inv(scipy.linalg.sqrtm(Sxx)).real
    Wy = scipy.linalg.inv(scipy.linalg.sqrtm(Syy)).real
    return np.linalg.svd(Wx @ Sxy @ Wy, compute_uv=False)[: min(X.shape[1], Y.shape[1])], Wx, Wy


def ref_lstsq_r2(X, Y):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    B, *_ = np.linalg.lstsq(Xc, Yc, rcond=None)
    return 1 - np.sum((Yc - Xc @ B) ** 2) / np.sum(Yc ** 2)


def ref_nuclear(M):
    return np.linalg.svd(M, compute_uv=False).sum()


def ref_knn(X, k, metric):
    D = scipy.spatial.distance.cdist(X, X, metric="sqeuclidean" if metric == "euclidean" else "cosine")
    np.fill_diagonal(D, np.inf)
    return [set(np.argsort(D[i], kind="stable")[:k]) for i in range(len(X))]


# --------------------------------------------------------------------------------------------------- CKA


@pytest.mark.parametrize("n,d1,d2", [(60, 7, 5), (20, 40, 30)])
def test_cka_linear_both_forms_match_reference(n, d1, d2):
    X, Y = _data(n, d1, d2)
    ref = ref_cka(X @ X.T, Y @ Y.T)
    for form in ("feature", "gram", "auto"):
        assert abs(S.cka_linear(X, Y, form) - ref) < TOL


@pytest.mark.parametrize("n,d1,d2", [(60, 7, 5), (20, 40, 30)])
def test_cka_debiased_feature_gram_identity_and_reference(n, d1, d2):
    X, Y = _data(n, d1, d2, seed=1)
    ref = ref_dcka(X @ X.T, Y @ Y.T)  # uncentred Grams: HSIC_u is translation invariant
    assert abs(S.cka_linear_debiased(X, Y, "feature") - ref) < TOL
    assert abs(S.cka_linear_debiased(X, Y, "gram") - ref) < TOL
    # the feature-form helper is n(n-3) HSIC_u of the centred Grams
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    h = S._h_feature(torch.tensor(Xc), torch.tensor(Yc), torch.tensor(np.sum((Xc.T @ Yc) ** 2)))
    assert abs(float(h) / (n * (n - 3)) - ref_hsic_unbiased(Xc @ Xc.T, Yc @ Yc.T)) < 1e-8 * abs(float(h))


def test_debiased_cka_is_near_zero_on_independent_data_where_biased_is_not():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(50, 1000)), rng.normal(size=(50, 1000))
    assert S.cka_linear(X, Y) > 0.9  # Murphy et al.'s pitfall, reproduced
    assert abs(S.cka_linear_debiased(X, Y)) < 0.1


@pytest.mark.parametrize("frac", [0.2, 0.4, 0.8])
def test_cka_rbf(frac):
    X, Y = _data(40, 6, 4, seed=2)
    assert abs(S.cka_rbf(X, Y, frac) - ref_cka(ref_rbf_gram(X, frac), ref_rbf_gram(Y, frac))) < TOL


def test_cka_angular():
    X, Y = _data(seed=4)
    assert abs(S.cka_angular(X, Y) - math.acos(ref_cka(X @ X.T, Y @ Y.T))) < TOL


# --------------------------------------------------------------------------------------------------- CCA


def test_cca_mean_and_r2():
    X, Y = _data(80, 6, 4, seed=5)
    rho, _, _ = ref_canon(X, Y)
    assert abs(S.cca(X, Y, "mean") - rho.mean()) < TOL
    assert abs(S.cca(X, Y, "r2") - (rho ** 2).mean()) < TOL
    # Kornblith eq. 11: R^2_CCA = CKA(Q_X Q_X^T, Q_Y Q_Y^T) sqrt(p2 / p1) (full-rank: p = d)
    Qx, Qy = np.linalg.qr(X - X.mean(0))[0], np.linalg.qr(Y - Y.mean(0))[0]
    assert abs(S.cca(X, Y, "r2") - ref_cka(Qx @ Qx.T, Qy @ Qy.T) * math.sqrt(6 / 4)) < TOL


def test_cca_rank_deficient_counts_the_rank():
    X, Y = _data(50, 6, 6, seed=6)
    X[:, 5] = X[:, 0] + X[:, 1]  # rank 5
    rho, _, _ = ref_canon(X[:, :5], Y)
    assert abs(S.cca(X, Y, "mean") - rho[:5].mean()) < TOL


def _ref_pca(X, var=None, dims=None):
    Xc = X - X.mean(0)
    evals, evecs = np.linalg.eigh(np.cov(Xc.T))
    evals, evecs = evals[::-1], evecs[:, ::-1]
    if dims is None:
        dims = int(np.argmax(np.cumsum(evals) / evals.sum() >= var)) + 1
    return Xc @ evecs[:, :dims]


@pytest.mark.parametrize("var,dims", [(0.99, None), (0.9, None), (None, 3)])
def test_svcca(var, dims):
    X, Y = _data(80, 8, 6, seed=7)
    X = X * np.linspace(0.05, 3, 8)  # a spread spectrum, so 0.99 keeps fewer than all components
    rho, _, _ = ref_canon(_ref_pca(X, var, dims), _ref_pca(Y, var, dims))
    assert abs(S.svcca(X, Y, variance=var, dims=dims) - rho.mean()) < TOL


def test_pwcca():
    X, Y = _data(80, 6, 4, seed=8)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    rho, Wx, Wy = ref_canon(X, Y)
    U, s, Vt = np.linalg.svd(Wx @ (Xc.T @ Yc) @ Wy)
    hx = Xc @ Wx @ U[:, :4]  # canonical variables of X (unit norm: Wx whitens)
    hx /= np.linalg.norm(hx, axis=0)
    alpha = np.abs(hx.T @ Xc).sum(axis=1)
    assert abs(S.pwcca(X, Y) - np.sum(alpha * s[:4]) / alpha.sum()) < TOL


# -------------------------------------------------------------------------------------------- regression


def test_linreg_r2_both_directions():
    X, Y = _data(70, 6, 4, seed=9)
    assert abs(S.linreg_r2(X, Y) - ref_lstsq_r2(X, Y)) < TOL
    assert abs(S.linreg_r2(Y, X) - ref_lstsq_r2(Y, X)) < TOL


def test_ridge_r2():
    X, Y = _data(70, 6, 4, seed=10)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    lam = 0.7 * np.trace(Xc.T @ Xc) / 6
    B = np.linalg.solve(Xc.T @ Xc + lam * np.eye(6), Xc.T @ Yc)
    assert abs(S.ridge_r2(X, Y, 0.7) - (1 - np.sum((Yc - Xc @ B) ** 2) / np.sum(Yc ** 2))) < TOL


# ------------------------------------------------------------------------------------------------ shapes


def _ref_procrustes_min(Xc, Yc):
    """min over orthogonal Q of ||Xc - Yc Q||_F, zero-padding the narrower side (scipy's solver)."""
    d = max(Xc.shape[1], Yc.shape[1])
    Xp = np.pad(Xc, ((0, 0), (0, d - Xc.shape[1])))
    Yp = np.pad(Yc, ((0, 0), (0, d - Yc.shape[1])))
    Q, _ = scipy.linalg.orthogonal_procrustes(Yp, Xp)
    return np.linalg.norm(Xp - Yp @ Q), Xp, Yp @ Q


@pytest.mark.parametrize("n,d1,d2", [(50, 6, 4), (20, 40, 30)])  # the second: d > n (row-space reduction)
def test_procrustes_forms(n, d1, d2):
    X, Y = _data(n, d1, d2, seed=11)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    dist, _, _ = _ref_procrustes_min(Xc, Yc)
    assert abs(S.procrustes(X, Y, "size_shape") - dist) < TOL
    Xu, Yu = Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc)
    dist_u, A, B = _ref_procrustes_min(Xu, Yu)
    assert abs(S.procrustes(X, Y, "unit") - dist_u) < TOL
    assert abs(S.procrustes(X, Y, "angular") - math.acos(np.sum(A * B))) < TOL


def _ref_whiten(Xc, alpha):
    """Williams et al. 2021 partial whitening with netrep's variance-preserving rescale (unit-norm input)."""
    Xc = Xc / np.linalg.norm(Xc)
    if alpha == 1:
        return Xc
    C = Xc.T @ Xc
    Cinvhalf = scipy.linalg.inv(scipy.linalg.sqrtm(C)).real
    Z = alpha * np.eye(C.shape[0]) + (1 - alpha) * Cinvhalf
    W = Xc @ Z
    return W * np.linalg.norm(Xc) / np.linalg.norm(W)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_shape_metric(alpha):
    X, Y = _data(60, 5, 5, seed=12)
    A = _ref_whiten(X - X.mean(0), alpha)
    B = _ref_whiten(Y - Y.mean(0), alpha)
    ref = math.acos(ref_nuclear(A.T @ B) / (np.linalg.norm(A) * np.linalg.norm(B)))
    assert abs(S.shape_metric(X, Y, alpha) - ref) < TOL
    if alpha == 0:  # alpha = 0 is CCA-like: the angle of the mean canonical correlation
        rho, _, _ = ref_canon(X, Y)
        assert abs(S.shape_metric(X, Y, 0.0) - math.acos(rho.mean())) < TOL


def test_permutation_angular_brute_force():
    import itertools

    X, Y = _data(30, 5, 4, seed=13)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Yp = np.pad(Yc, ((0, 0), (0, 1)))
    best = max(np.sum(Xc * Yp[:, list(p)]) for p in itertools.permutations(range(5)))
    ref = math.acos(best / (np.linalg.norm(Xc) * np.linalg.norm(Yc)))
    assert abs(S.permutation_angular(X, Y) - ref) < TOL


# --------------------------------------------------------------------------------------------------- RSA


def test_rsa_with_ties():
    X, Y = _data(40, 6, 4, seed=14)
    X = np.round(X)  # integer data: tied correlation distances
    X[3] = X[2]
    rdm_x = np.round(scipy.spatial.distance.pdist(X, metric="correlation"), 12)  # the documented tie rule
    rdm_y = np.round(scipy.spatial.distance.pdist(Y, metric="correlation"), 12)
    assert abs(S.rsa(X, Y) - scipy.stats.spearmanr(rdm_x, rdm_y).statistic) < TOL
    v = torch.tensor([3.0, 1.0, 3.0, 2.0, 1.0])
    assert np.allclose(S.average_ranks(v).numpy(), scipy.stats.rankdata(v.numpy()))


# -------------------------------------------------------------------------------------------------- k-NN


@pytest.mark.parametrize("block", [None, 7])
def test_knn_measures(block):
    X, Y = _data(90, 6, 4, seed=15)
    for metric in ("euclidean", "cosine"):
        nx, ny = ref_knn(X, 10, metric), ref_knn(Y, 10, metric)
        jac = np.mean([len(a & b) / len(a | b) for a, b in zip(nx, ny)])
        assert abs(S.knn_jaccard(X, Y, 10, metric, block) - jac) < TOL
    nx, ny = ref_knn(X, 10, "cosine"), ref_knn(Y, 10, "cosine")
    assert abs(S.mutual_knn(X, Y, 10, block) - np.mean([len(a & b) / 10 for a, b in zip(nx, ny)])) < TOL


@pytest.mark.parametrize("block", [None, 11])
def test_cknna_dense_reference(block):
    """platonic's cknna, written out with dense n x n masks (without its +1e-6 in the denominator)."""
    X, Y = _data(70, 6, 5, seed=16)
    n, k = 70, 6
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Yn = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    Kx, Ly = Xn @ Xn.T, Yn @ Yn.T

    def mask(G):
        Gh = G.copy()
        np.fill_diagonal(Gh, -np.inf)
        M = np.zeros((n, n))
        for i in range(n):
            M[i, np.argsort(-Gh[i], kind="stable")[:k]] = 1
        return M

    MK, ML = mask(Kx), mask(Ly)
    M = MK * ML
    ref = ref_hsic_unbiased(M * Kx, M * Ly) / math.sqrt(ref_hsic_unbiased(MK * Kx, MK * Kx) * ref_hsic_unbiased(ML * Ly, ML * Ly))
    assert abs(S.cknna(X, Y, k, block) - ref) < TOL


def test_knn_indices_never_include_self_and_blocks_agree():
    X, _ = _data(50, 3, 3, seed=17)
    a = S.knn_indices(X, 5, block=3)
    b = S.knn_indices(X, 5)
    assert not (a == torch.arange(50)[:, None]).any()
    assert torch.equal(torch.sort(a, 1).values, torch.sort(b, 1).values)


def test_relative_cosine():
    X, Y = _data(40, 6, 4, seed=18)
    anchors = [0, 5, 9, 17, 33]

    def rel(Z):
        Zn = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        return Zn @ Zn[anchors].T

    RX, RY = rel(X), rel(Y)
    ref = np.mean(np.sum(RX * RY, 1) / (np.linalg.norm(RX, axis=1) * np.linalg.norm(RY, axis=1)))
    assert abs(S.relative_cosine(X, Y, anchors) - ref) < TOL


# ------------------------------------------------------------------------------------- invariance spot checks


def test_invariance_theory_spot_checks():
    """The headline facts of the invariance table on one random pair (the track's T3 pins the full table)."""
    X, Y = _data(60, 6, 5, seed=19)
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    A = rng.normal(size=(6, 6)) + 3 * np.eye(6)
    for fn in (S.cka_linear, S.cka_linear_debiased):
        assert abs(fn(X @ Q * 3 + 5, Y) - fn(X, Y)) < 1e-10
        assert abs(fn(X @ A, Y) - fn(X, Y)) > 1e-4
    for stat in ("mean", "r2"):
        assert abs(S.cca(X @ A + 1, Y, stat) - S.cca(X, Y, stat)) < 1e-10
    assert abs(S.shape_metric(X @ A, Y, 0.0) - S.shape_metric(X, Y, 0.0)) < 1e-8
    assert abs(S.shape_metric(X @ A, Y, 1.0) - S.shape_metric(X, Y, 1.0)) > 1e-4
    assert abs(S.shape_metric(2.5 * X, Y, 0.5) - S.shape_metric(X, Y, 0.5)) < 1e-10


def test_float32_and_device_inputs_are_promoted():
    X, Y = _data(40, 5, 4, seed=20)
    a = S.cka_linear(torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32))
    assert abs(a - S.cka_linear(X.astype(np.float32).astype(np.float64), Y.astype(np.float32).astype(np.float64))) < 1e-12


# ------------------------------------------------------------------------------------------------ repsim



# --------------------------------------------------------------------------- every registered built-in measure


def _ref_measure(name: str, X, Y):
    """The float64 reference of each built-in measure, by its name (the helpers above)."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    rho = ref_canon(X, Y)[0]
    nx = lambda Z: Z / np.linalg.norm(Z, axis=1, keepdims=True)  # noqa: E731

    def proc(A, B):
        return ref_nuclear(A.T @ B) / (np.linalg.norm(A) * np.linalg.norm(B))

    refs = {
        "cka-linear-biased": lambda: ref_cka(X @ X.T, Y @ Y.T),
        "cka-linear-debiased": lambda: ref_dcka(X @ X.T, Y @ Y.T),
        "cka-rbf-sigma0_2median-biased": lambda: ref_cka(ref_rbf_gram(X, 0.2), ref_rbf_gram(Y, 0.2)),
        "cka-rbf-sigma0_4median-biased": lambda: ref_cka(ref_rbf_gram(X, 0.4), ref_rbf_gram(Y, 0.4)),
        "cka-rbf-sigma0_8median-biased": lambda: ref_cka(ref_rbf_gram(X, 0.8), ref_rbf_gram(Y, 0.8)),
        "cka-linear-angular-distance": lambda: math.acos(ref_cka(X @ X.T, Y @ Y.T)),
        "cca-mean-rho": lambda: rho.mean(),
        "cca-r2-yanai": lambda: (rho ** 2).mean(),
        "svcca-var0_99-mean-rho": lambda: ref_canon(_ref_pca(X, 0.99), _ref_pca(Y, 0.99))[0].mean(),
        "svcca-dims10-mean-rho": lambda: ref_canon(_ref_pca(X, dims=min(10, X.shape[1])),
                                                   _ref_pca(Y, dims=min(10, Y.shape[1])))[0].mean(),
        "linreg-r2-y-from-x": lambda: ref_lstsq_r2(X, Y),
        "linreg-r2-x-from-y": lambda: ref_lstsq_r2(Y, X),
        "procrustes-size-shape-euclidean": lambda: _ref_procrustes_min(Xc, Yc)[0],
        "procrustes-centred-unitnorm-euclidean": lambda: math.sqrt(2 - 2 * proc(Xc, Yc)),
        "procrustes-angular": lambda: math.acos(proc(Xc, Yc)),
        "shape-metric-alpha0-angular": lambda: math.acos(proc(_ref_whiten(Xc, 0.0), _ref_whiten(Yc, 0.0))),
        "shape-metric-alpha0_5-angular": lambda: math.acos(proc(_ref_whiten(Xc, 0.5), _ref_whiten(Yc, 0.5))),
        "shape-metric-alpha1-angular": lambda: math.acos(proc(Xc, Yc)),
        "rsa-corr-rdm-spearman": lambda: scipy.stats.spearmanr(scipy.spatial.distance.pdist(X, "correlation"),
                                                               scipy.spatial.distance.pdist(Y, "correlation")).statistic,
        "knn-jaccard-euclidean-k10": lambda: np.mean([len(a & b) / len(a | b) for a, b in
                                                      zip(ref_knn(X, 10, "euclidean"), ref_knn(Y, 10, "euclidean"))]),
        "mutual-knn-cosine-k10": lambda: np.mean([len(a & b) / 10 for a, b in
                                                  zip(ref_knn(X, 10, "cosine"), ref_knn(Y, 10, "cosine"))]),
    }
    return refs.get(name, lambda: None)()


def test_every_builtin_measure_matches_its_reference():
    """Registered built-ins, looked up by name, against the references; the few whose reference is a separate
    test above (PWCCA, ridge, permutation, CKNNA, relative representations) are checked against their kernel
    there and here only for wiring, the random control only for range."""
    from bench_core.registry import load_registry
    from bench_core.tracks.base import Context

    measures = {n: e.obj for n, e in load_registry().methods["similarity"].items()}
    assert len(measures) >= 27
    X, Y = _data(50, 6, 4, seed=21)
    ctx = Context(seed=0)
    wiring = {
        "pwcca-weights-x": lambda: S.pwcca(X, Y), "ridge-r2-y-from-x-rel1": lambda: S.ridge_r2(X, Y, 1.0),
        "permutation-angular": lambda: S.permutation_angular(X, Y),
        "cknna-cosine-k10-unbiased": lambda: S.cknna(X, Y, 10),
        "relrep-cosine-anchors64": lambda: S.relative_cosine(X, Y, ctx.rng(7).choice(50, 50, replace=False)),
    }
    checked = 0
    for name, cls in measures.items():
        if not cls.__module__.startswith(("plugins.similarity", "featbench_builtins.similarity")):
            continue
        got = float(cls().score(torch.tensor(X), torch.tensor(Y), ctx))
        ref = _ref_measure(name, X, Y)
        if ref is None and name in wiring:
            ref = wiring[name]()
        if name == "random-score-control":
            assert 0 <= got < 1
            continue
        assert ref is not None, f"no reference for built-in {name}"
        assert abs(got - ref) < TOL, (name, got, ref)
        checked += 1
    assert checked >= 26


# ------------------------------------------------------------------------------------------------ repsim


def test_agrees_with_repsim():
    """repsim 0.1.5 (dev extra) as a second reference where its definition is the same.

    Same definition, checked here: linear CKA with Gretton's HSIC; Song's unbiased HSIC itself; RBF CKA with
    sigma = 1 x the median distance (repsim's ``rbf``); CCA (repsim's ``yanai`` is our R^2_CCA, its ``pillai`` is
    the mean canonical correlation rho-bar).
    Different definitions, not compared: repsim's ``cka(..., estimator="song")`` normalises the unbiased
    cross-HSIC by the *biased* self-HSICs (HSIC_u(K,L) / sqrt(HSIC_b(K,K) HSIC_b(L,L)), checked below), whereas
    debiased CKA (Kornblith; Song) uses HSIC_u throughout; repsim's ``pwcca`` is symmetric (it returns one
    value for both orders), whereas Morcos's published PWCCA weights by the first argument's neurons;
    repsim's ``svcca`` kept every component where the 0.99-of-variance rule keeps fewer (pinned below).
    """
    repsim = pytest.importorskip("repsim")
    X, Y = _data(60, 7, 5, seed=22)
    X = X * np.linspace(0.02, 3, 7)
    pair = [X, Y]
    assert abs(repsim.cka(pair, "linear", "gretton")[0, 1] - S.cka_linear(X, Y)) < TOL
    assert abs(repsim.hsic(pair, "linear", "song")[0, 1] - ref_hsic_unbiased(X @ X.T, Y @ Y.T)) < 1e-8 * 10
    hs = lambda a, b, e: repsim.hsic([a, b], "linear", e)[0, 1]  # noqa: E731
    assert abs(repsim.cka(pair, "linear", "song")[0, 1]
               - hs(X, Y, "song") / math.sqrt(hs(X, X, "gretton") * hs(Y, Y, "gretton"))) < TOL
    assert abs(repsim.cka(pair, "rbf", "gretton")[0, 1] - S.cka_rbf(X, Y, 1.0)) < TOL
    assert abs(repsim.cca(pair, "yanai")[0, 1] - S.cca(X, Y, "r2")) < TOL
    assert abs(repsim.cca(pair, "pillai")[0, 1] - S.cca(X, Y, "mean")) < TOL
    # SVCCA differs: on this spread spectrum the 0.99-of-variance rule (squared singular values) keeps 5 of
    # X's 7 components; repsim keeps all 7 (its value is the untruncated mean CCA). Pinned, not hidden:
    assert abs(repsim.svcca(pair, "pillai")[0, 1] - S.cca(X, Y, "mean")) < TOL
    assert abs(S.svcca(X, Y, 0.99) - S.svcca(X, Y, None, dims=5)) < TOL
