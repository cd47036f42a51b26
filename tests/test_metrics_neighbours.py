"""Every score of ``bench_core.metrics.neighbours`` against scikit-learn or a brute-force float64
implementation written here (full n×n distance matrices, loops), and on hand-made embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import rankdata

from bench_core.metrics import neighbours as nb


# ------------------------------------------------------------------------------------- brute force (float64)


def _dist(A):
    D = cdist(np.asarray(A, np.float64), np.asarray(A, np.float64))
    np.fill_diagonal(D, np.inf)
    return D


def _min_rank(D):
    """r(i, j) = 1 + #{l != i : D[i, l] < D[i, j]} for every pair (diagonal inf)."""
    n = len(D)
    R = np.empty((n, n), dtype=np.int64)
    for i in range(n):
        R[i] = 1 + np.searchsorted(np.sort(D[i]), D[i], side="left")
    return R


def _nn(D, k):
    return np.argsort(D, axis=1, kind="stable")[:, :k]


def brute_tc(X, E, k):
    """(T, C) with the minimum-rank rule: penalties max(0, r - k) over the other side's k-NN."""
    Dx, De = _dist(X), _dist(E)
    Rx, Re = _min_rank(Dx), _min_rank(De)
    n = len(Dx)
    nx, ne = _nn(Dx, k), _nn(De, k)
    rows = np.arange(n)[:, None]
    c = 2.0 / (n * k * (2 * n - 3 * k - 1))
    T = 1 - c * np.maximum(Rx[rows, ne] - k, 0).sum()
    C = 1 - c * np.maximum(Re[rows, nx] - k, 0).sum()
    return T, C


def brute_qnx(X, E, K):
    nx, ne = _nn(_dist(X), K), _nn(_dist(E), K)
    return np.array([np.mean([len(set(nx[i, :k]) & set(ne[i, :k])) for i in range(len(nx))]) / k
                     for k in range(1, K + 1)])


def brute_labels(E, y, k):
    ne = _nn(_dist(E), k)
    nh = np.mean([(y[ne[i]] == y[i]).mean() for i in range(len(y))])
    acc = []
    for i in range(len(y)):
        counts = {}
        for j in ne[i]:
            counts[y[j]] = counts.get(y[j], 0) + 1
        best = max(counts.values())
        acc.append(min(c for c, v in counts.items() if v == best) == y[i])
    return nh, float(np.mean(acc))


def brute_triplets(X, E, i, j, l_):
    Dx, De = cdist(X, X), cdist(E, E)
    num = den = 0
    for a, b, c in zip(i, j, l_):
        if Dx[a, b] == Dx[a, c]:
            continue
        den += 1
        num += (Dx[a, b] < Dx[a, c]) == (De[a, b] < De[a, c]) and De[a, b] != De[a, c]
    return num / den


def _data(n=300, d=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    E = X[:, :2] + 0.5 * rng.normal(size=(n, 2))
    return X, E


# ------------------------------------------------------------------------------------------------ kernels


def test_knn_exact_and_block_independent():
    X, _ = _data(200, 6)
    idx, sq = nb.knn(X, 12)
    D = _dist(X)
    np.testing.assert_array_equal(idx, _nn(D, 12))
    np.testing.assert_allclose(np.sqrt(sq), np.sort(D, 1)[:, :12], rtol=1e-10)
    idx_small, _ = nb.knn(X, 12, block_bytes=200 * 8 * 7)  # 7 rows per block, last block partial
    np.testing.assert_array_equal(idx_small, idx)


def test_minimum_ranks_match_brute_force_with_ties():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 3, size=(150, 4)).astype(float)  # many exactly tied distances
    q = (np.arange(150)[:, None] + rng.integers(1, 150, size=(150, 9))) % 150
    R = _min_rank(_dist(X))
    for use_numba in (None, False, True):  # fused low-dimensional kernel, torch counting, compiled counting
        r = nb.scan(X, 3, q, use_numba=use_numba).ranks
        np.testing.assert_array_equal(r, R[np.arange(150)[:, None], q])


def test_counting_paths_agree():
    import torch

    rng = np.random.default_rng(2)
    D = torch.as_tensor(rng.integers(0, 20, size=(17, 300)).astype(np.float64))
    Q = torch.as_tensor(rng.integers(0, 22, size=(17, 9)).astype(np.float64))
    expect = (D.numpy()[:, :, None] < Q.numpy()[:, None, :]).sum(1)
    np.testing.assert_array_equal(nb.count_below(D, Q, use_numba=False).numpy(), expect)
    np.testing.assert_array_equal(nb.count_below(D, Q, use_numba=True).numpy(), expect)


# ------------------------------------------------------------------------------------------ local scores


@pytest.mark.parametrize("k", [7, 15])
def test_trustworthiness_and_continuity_equal_sklearn_on_tie_free_data(k):
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness

    X = load_digits().data[:600]
    X = X + 1e-6 * np.random.default_rng(0).normal(size=X.shape)  # tie-free
    E = PCA(2, random_state=0).fit_transform(X)
    s = nb.neighbourhood_scores(X, E, ks=(k,), auc_k=20)
    assert abs(s[f"trustworthiness@{k}"] - trustworthiness(X, E, n_neighbors=k)) < 1e-8
    assert abs(s[f"continuity@{k}"] - trustworthiness(E, X, n_neighbors=k)) < 1e-8
    assert abs(nb.trustworthiness(X, E, k) - trustworthiness(X, E, n_neighbors=k)) < 1e-8
    assert abs(nb.continuity(X, E, k) - trustworthiness(E, X, n_neighbors=k)) < 1e-8


def test_tie_rule_on_data_with_ties_matches_brute_force():
    rng = np.random.default_rng(3)
    X = rng.integers(0, 4, size=(160, 5)).astype(float)
    E = rng.normal(size=(160, 2))  # tie-free embedding, so both neighbour sets are well defined
    s = nb.neighbourhood_scores(X, E, ks=(7,), auc_k=7)
    T, _ = brute_tc(X, E, 7)
    assert abs(s["trustworthiness@7"] - T) < 1e-12


def test_all_neighbourhood_scores_match_brute_force():
    X, E = _data(240, 8, seed=4)
    y = np.random.default_rng(4).integers(0, 4, size=240)
    s = nb.neighbourhood_scores(X, E, ks=(7, 15), labels=y, label_ks=(5, 10), auc_k=30)
    for k in (7, 15):
        T, C = brute_tc(X, E, k)
        assert abs(s[f"trustworthiness@{k}"] - T) < 1e-12
        assert abs(s[f"continuity@{k}"] - C) < 1e-12
    q = brute_qnx(X, E, 30)
    for k in (7, 15):
        assert abs(s[f"qnx@{k}"] - q[k - 1]) < 1e-12
    n, ks = 240, np.arange(1, 31)
    rnx = ((n - 1) * q - ks) / (n - 1 - ks)
    assert abs(s["rnx_auc"] - np.sum(rnx / ks) / np.sum(1 / ks)) < 1e-12
    for k in (5, 10):
        nh, acc = brute_labels(E, y, k)
        assert abs(s[f"nh@{k}"] - nh) < 1e-12
        assert abs(s[f"knn_acc@{k}"] - acc) < 1e-12


def test_knn_accuracy_vote_ties_go_to_the_smallest_label():
    # points 0 and 2 each have one neighbour labelled 1 and one labelled 2: a tie, resolved to label 1 (right
    # for both); point 1 (label 2) sees two neighbours labelled 1 (wrong); the far cluster is right
    E = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.1], [9.0, 9.0], [9.5, 9.0], [9.0, 9.6]])
    y = np.array([1, 2, 1, 0, 0, 0])
    idx, _ = nb.knn(E, 2)
    assert nb.knn_accuracy(idx, y, 2) == pytest.approx(np.mean([1, 0, 1, 1, 1, 1]))


# --------------------------------------------------------------------------------------- global scores


def test_pair_scores_match_brute_force_and_full_population():
    X, E = _data(300, 6, seed=5)
    m = 20_000
    s = nb.pair_scores(X, E, m=m, seed=3)
    i, j = nb.sample_pairs(300, m, 3)
    assert np.all(i != j)
    Dx, De = cdist(X, X), cdist(E, E)
    dh, dl = Dx[i, j], De[i, j]
    rho = np.corrcoef(rankdata(dh), rankdata(dl))[0, 1]
    assert abs(s["shepard"] - rho) < 1e-10
    from scipy.optimize import minimize_scalar

    f = lambda a: np.sqrt(np.sum((dh - a * dl) ** 2) / np.sum(dh**2))  # noqa: E731
    best = minimize_scalar(f, bounds=(0, 100), method="bounded", options={"xatol": 1e-12})
    assert abs(s["stress"] - best.fun) < 1e-8
    # the sample estimates the all-pairs value within a few standard errors
    iu = np.triu_indices(300, 1)
    rho_all = np.corrcoef(rankdata(Dx[iu]), rankdata(De[iu]))[0, 1]
    assert 0 < s["shepard_se"] < 0.05
    assert abs(s["shepard"] - rho_all) < 5 * s["shepard_se"]


def test_random_triplets_match_brute_force():
    X, E = _data(200, 5, seed=6)
    i, j, l_ = nb.sample_triplets(200, 5, 9)
    assert np.all((i != j) & (i != l_) & (j != l_))
    s = nb.random_triplet_accuracy(X, E, t=5, seed=9)
    assert abs(s["rta"] - brute_triplets(X, E, i, j, l_)) < 1e-12
    assert 0 < s["rta_se"] < 0.05


def test_triplet_third_point_is_uniform():
    i, j, l_ = nb.sample_triplets(5, 20_000, 1)
    sel = (i == 0) & (j == 1)
    counts = np.bincount(l_[sel], minlength=5)
    assert counts[0] == counts[1] == 0
    assert counts[2:].min() > 0.85 * counts[2:].mean()


def test_centroid_triplets_match_brute_force():
    rng = np.random.default_rng(7)
    y = np.repeat(np.arange(6), 20)
    X = rng.normal(size=(6, 4))[y] * 5 + rng.normal(size=(120, 4))
    E = rng.normal(size=(120, 2))
    cx = np.stack([X[y == c].mean(0) for c in range(6)])
    ce = np.stack([E[y == c].mean(0) for c in range(6)])
    Dx, De = cdist(cx, cx), cdist(ce, ce)
    num = den = 0
    for a in range(6):
        for b in range(6):
            for c in range(b + 1, 6):
                if a in (b, c):
                    continue
                den += 1
                num += (Dx[a, b] < Dx[a, c]) == (De[a, b] < De[a, c])
    assert nb.centroid_triplet_accuracy(X, E, y) == pytest.approx(num / den, abs=1e-12)
    assert nb.centroid_triplet_accuracy(X, X[:, :2] * 0 + cx[y][:, :2], y) <= 1.0
    assert np.isnan(nb.centroid_triplet_accuracy(X, E, y % 2))


# ------------------------------------------------------------------------------------------ hand-made


def test_identity_embedding_is_perfect():
    X, _ = _data(200, 3, seed=8)
    y = np.arange(200) % 5
    s = nb.all_scores(X, X.copy(), labels=y, settings={"pairs": 5000, "auc_k": 30})
    for key in ("trustworthiness@7", "trustworthiness@15", "continuity@7", "continuity@15", "qnx@7", "qnx@15",
                "rnx_auc", "shepard", "rta", "cta"):
        assert s[key] == pytest.approx(1.0, abs=1e-12), key
    assert s["stress"] == pytest.approx(0.0, abs=1e-7)
    # a similarity transform (rotation + scale) changes no score either
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    s2 = nb.all_scores(X, 3.7 * X @ Q, labels=y, settings={"pairs": 5000, "auc_k": 30})
    assert s2["trustworthiness@7"] == pytest.approx(1.0) and s2["stress"] == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("kind", ["random", "permutation"])
def test_unrelated_embedding_scores_at_chance(kind):
    rng = np.random.default_rng(9)
    n = 600
    X = rng.normal(size=(n, 5))
    E = rng.normal(size=(n, 2)) if kind == "random" else X[rng.permutation(n), :2]
    s = nb.all_scores(X, E, settings={"pairs": 20000, "auc_k": 50})
    assert abs(s["trustworthiness@7"] - 0.5) < 0.03
    assert abs(s["continuity@7"] - 0.5) < 0.03
    assert abs(s["rnx_auc"]) < 0.02  # R_NX is 0 in expectation for a random embedding
    assert abs(s["qnx@15"] - 15 / (n - 1)) < 0.01
    assert abs(s["shepard"]) < 0.05
    assert abs(s["rta"] - 0.5) < 0.03


def test_float32_and_small_blocks_agree_on_tie_free_data():
    X, E = _data(250, 20, seed=10)
    a = nb.neighbourhood_scores(X, E, auc_k=20)
    b = nb.neighbourhood_scores(X, E, auc_k=20, block_bytes=250 * 8 * 3, use_numba=False)
    assert a == b
    import torch

    c = nb.neighbourhood_scores(X.astype(np.float32), E.astype(np.float32), auc_k=20, dtype=torch.float32)
    for key in a:
        assert c[key] == pytest.approx(a[key], abs=1e-4)


# ------------------------------------------------------------------------- zadu (dev-only reference library)


def test_equal_to_zadu_on_the_measures_we_share():
    """zadu (Jeon et al., IEEE VIS 2023) computes T&C, LCMC and NH from full n×n rank matrices. Definitional
    differences: zadu's LCMC is ``Q_NX(k) − k/(n − 1)``; its Spearman ρ and scale-normalised stress use all
    pairs where ours use a seeded sample (so they agree within the reported sampling error, not exactly).
    pyDRMetrics is compared in the next test, through its documented normalisations."""
    zadu = pytest.importorskip("zadu")
    from zadu.measures import local_continuity_meta_criteria as lcmc
    from zadu.measures import neighborhood_hit, scale_normalized_stress, spearman_rho
    from zadu.measures import trustworthiness_continuity as tnc

    assert zadu
    X, E = _data(400, 8, seed=11)
    y = np.random.default_rng(11).integers(0, 3, size=400)
    s = nb.neighbourhood_scores(X, E, ks=(7, 15), labels=y, label_ks=(7, 15), auc_k=15)
    for k in (7, 15):
        z = tnc.measure(X, E, k=k)
        assert abs(s[f"trustworthiness@{k}"] - z["trustworthiness"]) < 1e-10
        assert abs(s[f"continuity@{k}"] - z["continuity"]) < 1e-10
        assert abs(s[f"qnx@{k}"] - k / 399 - lcmc.measure(X, E, k=k)["lcmc"]) < 1e-10
        assert abs(s[f"nh@{k}"] - neighborhood_hit.measure(E, y, k=k)["neighborhood_hit"]) < 1e-10
    g = nb.pair_scores(X, E, m=100_000, seed=0)
    assert abs(g["shepard"] - spearman_rho.measure(X, E)["spearman_rho"]) < 5 * g["shepard_se"]
    assert abs(g["stress"] - scale_normalized_stress.measure(X, E)["scale_normalized_stress"]) < 5 * g["stress_se"]


def test_equal_to_pydrmetrics_after_its_documented_normalisations():
    """pyDRMetrics (Zhang et al. 2021) builds the full co-ranking matrix (ranks by a double argsort: ties
    broken by position, so tie-free data only). Definitional differences, exact on tie-free data:
    its ``T[k]`` (array index ``k``) counts the intrusions into the ``k``-neighbourhood with weight
    ``r − k − 1`` (ours: ``r − k``) and normalises by ``(k + 1)(n − 1)(n − 2 − k)``, so
    ``T_pydr[k] = 1 − (P − I) / ((k + 1)(n − 1)(n − 2 − k))`` with ``P = (1 − T(k))·n k (2n − 3k − 1)/2``
    our penalty sum and ``I = n k (1 − Q_NX(k))`` the number of intrusions (``C`` alike); its
    ``QNN[k − 1]`` divides by ``k (n − 1)`` where ``Q_NX(k)`` divides by ``k n``."""
    pytest.importorskip("pyDRMetrics")
    from pyDRMetrics.pyDRMetrics import DRMetrics

    X, E = _data(220, 7, seed=12)
    n = 220
    m = DRMetrics(X, E)
    for k in (5, 7, 15):
        s = nb.neighbourhood_scores(X, E, ks=(k,), auc_k=k)
        intr = n * k * (1 - s[f"qnx@{k}"])
        norm = (k + 1) * (n - 1) * (n - 2 - k)
        for ours, theirs in ((s[f"trustworthiness@{k}"], m.T[k]), (s[f"continuity@{k}"], m.C[k])):
            P = (1 - ours) * n * k * (2 * n - 3 * k - 1) / 2
            assert abs(1 - (P - intr) / norm - theirs) < 1e-12
        assert abs(m.QNN[k - 1] * (n - 1) / n - s[f"qnx@{k}"]) < 1e-12
