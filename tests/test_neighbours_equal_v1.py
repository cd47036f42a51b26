"""The faster kernels return exactly the values of the code the reducers boards were computed with.

``neighbours_v1_reference`` is ``bench_core/metrics/neighbours.py`` as of commit 31c5466, frozen. Every
neighbourhood score is a function of integer ranks and neighbour lists, so the comparison is ``==`` (bit
equality), on tie-free data and on data with many exact ties (small integers: exactly tied distances, tied
k-th neighbours, duplicate points), for inputs scanned blockwise (d > 8) and by the low-dimensional kernel
(d ≤ 8), with and without labels, and for embeddings good enough that the rank shortcuts (ranks read from
the known neighbour lists) carry most rows as well as for unrelated ones where they carry none.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import neighbours_v1_reference as v1
from bench_core.metrics import neighbours as nb


def _case(kind: str, n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    if kind == "gauss":  # tie-free
        X = rng.normal(size=(n, d))
        E = X[:, :2] + 0.5 * rng.normal(size=(n, 2))
    elif kind == "good":  # an embedding close to X's own leading coordinates: the shortcuts carry most rows
        X = rng.normal(size=(n, d))
        X[:, 2:] *= 0.05
        E = X[:, :2] + 0.01 * rng.normal(size=(n, 2))
    elif kind == "ties":  # small integers: exactly tied distances in X and in E, duplicate points
        X = rng.integers(0, 3, size=(n, d)).astype(float)
        E = rng.integers(0, 4, size=(n, 2)).astype(float)
    elif kind == "dups":  # duplicated rows in both spaces and a tie-free remainder
        X = rng.normal(size=(n, d))
        X[n // 2 :] = X[: n - n // 2]
        E = X[:, :2] + 0.3 * rng.normal(size=(n, 2))
        E[n // 2 :] = E[: n - n // 2]
    else:  # pragma: no cover
        raise ValueError(kind)
    y = rng.integers(0, 4, size=n)
    return X, E, y


CASES = [("gauss", 400, 12, 0), ("gauss", 300, 5, 1), ("good", 400, 16, 2), ("good", 350, 3, 3),
         ("ties", 300, 6, 4), ("ties", 260, 20, 5), ("dups", 300, 10, 6), ("dups", 240, 4, 7)]


@pytest.mark.parametrize("kind,n,d,seed", CASES)
def test_neighbourhood_scores_bit_equal_to_v1(kind, n, d, seed):
    X, E, y = _case(kind, n, d, seed)
    for kw in (dict(ks=(7, 15), auc_k=30, labels=y), dict(ks=(7,), auc_k=7),
               dict(ks=(5, 15), auc_k=100, labels=y, label_ks=(5,), block_bytes=n * 8 * 37)):
        new = nb.neighbourhood_scores(X, E, **kw)
        old = v1.neighbourhood_scores(X, E, **kw)
        assert new == old, (kind, kw)


@pytest.mark.parametrize("kind,n,d,seed", CASES[::2])
def test_scan_and_ranks_bit_equal_to_v1(kind, n, d, seed):
    X, E, _ = _case(kind, n, d, seed)
    rng = np.random.default_rng(seed)
    q = (np.arange(n)[:, None] + rng.integers(1, n, size=(n, 9))) % n
    for A in (X, E):
        for k in (1, 9, 40):
            a, b = nb.scan(A, k, q), v1.scan(A, k, q)
            np.testing.assert_array_equal(a.idx, b.idx)
            np.testing.assert_array_equal(a.sqdist, b.sqdist)
            np.testing.assert_array_equal(a.ranks, b.ranks)
        known = nb.scan(A, 40)
        np.testing.assert_array_equal(nb.query_ranks(A, q, known), v1.scan(A, 1, q).ranks)


def test_rank_shortcuts_are_taken_and_exact():
    """On a good embedding most rows take their ranks from the known lists; the result is still the full
    count (checked against brute force), so the shortcut cannot hide behind equal-but-unused code."""
    from scipy.spatial.distance import cdist

    X, E, _ = _case("good", 300, 8, 9)
    known = nb.scan(E, 50)
    q = nb.scan(X, 15).idx
    De = cdist(E, E) ** 2
    np.fill_diagonal(De, np.inf)
    inside = (De[np.arange(300)[:, None], q] <= known.sqdist[:, -1:]).all(1)
    assert inside.mean() > 0.5  # the shortcut applies to most rows here
    expect = 1 + (De[:, :, None] < De[np.arange(300)[:, None], q][:, None, :]).sum(1)
    np.testing.assert_array_equal(nb.query_ranks(E, q, known), expect)


def test_tied_rows_take_torch_topk_and_tie_free_rows_do_not():
    """The compiled selection hands a row to ``torch.topk`` exactly when two of its ``k + 1`` smallest
    distances are equal (then the neighbour list is that algorithm's choice, as before)."""
    Xg, _, _ = _case("gauss", 300, 12, 0)
    Xt, _, _ = _case("ties", 300, 12, 4)
    assert nb.scan(Xg, 15).topk_rows == 0
    r = nb.scan(Xt, 15)
    assert 0 < r.topk_rows <= 300
    np.testing.assert_array_equal(r.idx, v1.scan(Xt, 15).idx)


@pytest.mark.parametrize("seed", [0, 1])
def test_qnx_curve_equal_to_v1(seed):
    rng = np.random.default_rng(seed)
    n, K = 500, 40
    a = np.stack([rng.permutation(n)[:K] for _ in range(n)])
    b = np.where(rng.random((n, K)) < 0.5, a[:, rng.permutation(K)], np.stack([rng.permutation(n)[:K] for _ in range(n)]))
    b = np.stack([row if len(set(row)) == K else rng.permutation(n)[:K] for row in b])
    np.testing.assert_array_equal(nb.qnx_curve(a, b), v1.qnx_curve(a, b))


@pytest.mark.parametrize("kind,n,d,seed", [("gauss", 300, 12, 0), ("ties", 260, 20, 5), ("dups", 300, 10, 6)])
def test_multi_block_scan_bit_equal_to_v1(kind, n, d, seed):
    """Blocks of 37 and 64 rows (partial register tiles of the product at every block's end, and a short
    last block), in float64 and float32: the reused block buffer and the fused compiled pass give v1's
    distances bit for bit."""
    X, _, _ = _case(kind, n, d, seed)
    rng = np.random.default_rng(seed)
    q = (np.arange(n)[:, None] + rng.integers(1, n, size=(n, 5))) % n
    for rows, dtype in ((37, torch.float64), (64, torch.float64), (37, torch.float32)):
        kw = dict(block_bytes=n * 8 * rows, dtype=dtype)
        for use_numba in (None, False):
            a, b = nb.scan(X, 12, q, use_numba=use_numba, **kw), v1.scan(X, 12, q, **kw)
            np.testing.assert_array_equal(a.idx, b.idx)
            np.testing.assert_array_equal(a.sqdist, b.sqdist)
            np.testing.assert_array_equal(a.ranks, b.ranks)


def _pairs_case(kind: str, m: int, rng):
    if kind == "gauss":
        return rng.normal(size=m), rng.normal(size=m)
    if kind == "ties":  # many exact ties in both
        return rng.integers(0, 5, m).astype(float), rng.integers(0, 40, m).astype(float)
    a = rng.normal(size=m)  # one large tie in b, the rest close to a
    b = a + 0.1 * rng.normal(size=m)
    b[::3] = b[0]
    return a, b


@pytest.mark.parametrize("kind", ["gauss", "ties", "mixed"])
@pytest.mark.parametrize("m", [2, 3, 17, 2500, 50_000])
def test_spearman_and_ranks_bit_equal_to_scipy(kind, m):
    """The faster Spearman ρ of the Shepard score is ``scipy.stats.spearmanr`` bit for bit (the ranks are
    exact half-integers and the correlation is the same ``np.corrcoef`` call on the same layout)."""
    from scipy.stats import rankdata, spearmanr

    a, b = _pairs_case(kind, m, np.random.default_rng(m))
    np.testing.assert_array_equal(nb.average_ranks(a), rankdata(a))
    np.testing.assert_array_equal(nb.average_ranks(b), rankdata(b))
    if np.ptp(a) > 0 and np.ptp(b) > 0:
        assert nb._spearman(a, b) == float(spearmanr(a, b).statistic)


@pytest.mark.parametrize("d", [2, 50, 784])
def test_pair_distances_do_not_depend_on_the_chunk(d):
    rng = np.random.default_rng(d)
    A = rng.normal(size=(300, d))
    i, j = nb.sample_pairs(300, 20_000, d)
    ref = np.sqrt(((A[i] - A[j]) ** 2).sum(1))
    out = nb.pair_distances(A, i, j)
    np.testing.assert_allclose(out, ref, rtol=1e-14)
    for chunk in (1, 7, 4096, 65536):
        np.testing.assert_array_equal(nb.pair_distances(A, i, j, chunk=chunk), out)


def test_results_do_not_depend_on_the_thread_count():
    """The compiled kernels run over row ranges on torch's thread count; one and three threads (uneven
    ranges) give the same arrays as v1."""
    X, E, _ = _case("dups", 300, 10, 6)
    rng = np.random.default_rng(3)
    q = (np.arange(300)[:, None] + rng.integers(1, 300, size=(300, 4))) % 300
    before = torch.get_num_threads()
    try:
        for threads in (1, 3):
            torch.set_num_threads(threads)
            for A in (X, E):
                a, b = nb.scan(A, 9, q, block_bytes=300 * 8 * 50), v1.scan(A, 9, q, block_bytes=300 * 8 * 50)
                np.testing.assert_array_equal(a.idx, b.idx)
                np.testing.assert_array_equal(a.ranks, b.ranks)
                np.testing.assert_array_equal(nb.query_ranks(A, q, nb.scan(A, 30)), b.ranks)
    finally:
        torch.set_num_threads(before)
