"""Neighbourhood and distance scores of an embedding, exact, in O(b·n + n·k) memory (never an n×n matrix).

Every score compares an input ``X [n, d]`` (the ambient data, or a manifold's known intrinsic coordinates)
with an embedding ``E [n, m]`` of the same rows. Distances are Euclidean. The module is the specification of
the reducers track's scores; ``tests/test_metrics_neighbours.py`` checks each against scikit-learn or a
brute-force float64 implementation written in the test.

Blockwise scan (the one kernel)
===============================
:func:`scan` walks the rows of ``A`` in blocks of ``b`` rows. For a block it forms the squared distances to
every row, ``D = ‖a_i‖² − 2·A_b·Aᵀ + ‖a_j‖²`` (clamped at 0, the diagonal set to +∞ so a point is never its
own neighbour), keeps the ``k`` smallest per row (``torch.topk``) and, when asked, the *minimum rank* of given
query points (below). Memory: ``b·n`` for the block plus ``n·k`` for the result; ``b`` is chosen so that a
block holds ``block_bytes`` (64 MiB by default), and one block buffer serves every block (a fresh ``[b, n]``
allocation per block was page-faulted in anew each time: as costly as the product at n = 10,000). The
product is ``torch.addmm`` with these blocks; the rows per call decide its last bits (MKL rounds the rows of a
partial register tile differently), so the block geometry is part of the values and is kept. On the CPU
with numba, everything after the product is one compiled pass per row (:mod:`._neighbour_kernels`: the
addition of ``‖a_i‖²`` and the clamp with torch's rounding, the diagonal, the selection of the ``k + 1``
smallest by insertion, the rank counts; a row with ties among its ``k + 1`` nearest takes ``torch.topk``'s
list), run over row ranges on ``torch.get_num_threads()`` threads. On the CPU, an input of at most
``LOWDIM_MAX`` columns (an embedding) is scanned instead by one compiled pass with no block: per row, the
squared distances ``Σ_c (a_ic − a_jc)²`` (summed in column order) go into one buffer of ``n`` (a vectorised
loop), the queries' ranks are counted over it and the neighbours kept by insertion (ties: lower index first);
``use_numba=False`` forces the blockwise path, which the tests compare with it. It runs on ``device`` (``"cpu"``,
``"cuda"``, ``"cuda:N"``) with ``dtype`` (float64 by default: the exact comparisons below then match
scikit-learn to 1e-8; float32 halves the time of the matrix product for large inputs and may reorder
distances equal to float32 precision).

Ranks and the tie rule
======================
``r(i, j) = 1 + #{l ≠ i : d(i, l) < d(i, j)}`` (the *minimum* rank: points at exactly the same distance
share the smallest rank). It is computed by counting, in the same block pass that finds the neighbours:
the query distances ``d(i, j)`` are read from the block's own distance row, so they are compared with
numbers computed the same way. On the CPU the counting is one compiled pass over the row (numba); on a GPU
it is ``(D < q).sum(1)`` per query column. A query whose distance is at most the row's ``K``-th neighbour
distance is counted among the ``K`` neighbours alone (every point strictly closer than the ``K``-th
neighbour is one of them), which skips the row: in the block scan of X for the embedding's neighbours, and
in the embedding's rank pass (:func:`query_ranks`, given the first scan of E) for X's neighbours, where a
row whose queries all lie within its known list is not scanned at all. The values are those of a full
count (``tests/test_neighbours_equal_v1.py`` checks bit equality with the kernels before these shortcuts,
kept frozen in ``tests/neighbours_v1_reference.py``, on data with and without ties). The neighbour sets ``N_k(i)`` (input) and ``N̂_k(i)``
(embedding) are the ``k`` smallest distances; when several points sit exactly at the k-th distance, which of
them enter the set is ``torch.topk``'s choice (tie-free data is unaffected).

Scores
======
Trustworthiness (Venna & Kaski 2001), ``k < n/2``::

    T(k) = 1 − 2 / (n·k·(2n − 3k − 1)) · Σ_i Σ_{j ∈ N̂_k(i)} max(0, r(i, j) − k)

With the minimum rank, ``r(i, j) > k`` exactly when at least ``k`` points are strictly closer to ``i`` than
``j`` in the input, i.e. ``j`` is an intruder; a point tied with the k-th input neighbour is not one. On
tie-free data this is Venna & Kaski's sum over ``N̂_k(i) \\ N_k(i)`` of ``r(i, j) − k`` and equals
``sklearn.manifold.trustworthiness``. Only the embedding neighbours' input ranks are needed, so T costs one
scan of X. Continuity ``C(k)`` is the same with the roles of X and E swapped (input neighbours, embedding
ranks).

Q_NX and R_NX (Lee & Verleysen 2009)::

    Q_NX(k) = 1/(n·k) · Σ_i |N_k(i) ∩ N̂_k(i)|,   R_NX(k) = ((n − 1)·Q_NX(k) − k) / (n − 1 − k)

computed for every ``k = 1..K`` from the two ``K``-neighbour lists (a common point at positions ``p`` and
``p̂`` is in both k-sets for every ``k ≥ max(p, p̂)``). ``rnx_auc`` is the area under R_NX over log k,
``Σ_{k=1..K} R_NX(k)/k / Σ_{k=1..K} 1/k``, truncated at ``K = min(auc_k, n − 2)`` (Lee & Verleysen sum to
``n − 2``, which needs the n×n co-ranking matrix; the truncation is documented with the score).

Labels (used only here, never by a reducer): neighbourhood hit ``NH(k) = 1/n Σ_i |{j ∈ N̂_k(i): y_j =
y_i}| / k`` (Espadoto et al. 2019) and leave-one-out k-NN accuracy: the majority label of ``N̂_k(i)``
(ties between labels: the smallest label, as scikit-learn's ``KNeighborsClassifier``) compared with
``y_i`` (PaCMAP's evaluation).

Sampled global scores
=====================
On ``m`` pairs ``(i, j)``, ``i ≠ j``, drawn with a fixed seed (``i`` uniform, ``j`` uniform among the
others; see :func:`sample_pairs`): ``shepard`` = Spearman ρ between input and embedding distances
(Espadoto's Shepard goodness) and ``stress`` = scale-normalised stress (Smelser, Miller & Kobourov 2024)
``√(Σ (D_h − α·D_l)² / Σ D_h²)`` with ``α = Σ D_h·D_l / Σ D_l²``, the scale that minimises it (raw stress
depends on the arbitrary scale of an embedding). Random-triplet accuracy (PaCMAP): for every point ``i``,
``t`` triplets ``(i, j, l)`` with ``j, l`` uniform, distinct and different from ``i``; a triplet agrees when
``d_X(i, j) < d_X(i, l)`` and ``d_E(i, j) < d_E(i, l)`` or both ``>``; triplets tied in the input are left
out of the denominator, a tie in the embedding only counts as a disagreement. Centroid-triplet accuracy: the
same over every triplet ``(a; b, c)``, ``b < c``, of distinct class centroids (class means in X and in E).

Spearman's ρ is ``scipy.stats.spearmanr``'s statistic bit for bit (:func:`_spearman`: exact average ranks
from an unstable sort, then scipy's own ``np.corrcoef`` call on the same layout), about twice as fast.
Each sampled score comes with its sampling standard error by batch means: the sample is cut into ``G = 20``
equal groups (pairs in drawing order; triplets by anchor point ``i mod G``), the score is computed on each,
and ``se = sd(group scores) / √G``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from bench_core.metrics import _neighbour_kernels as _K

_HAVE_NUMBA = _K.HAVE_NUMBA  # compiled selection and counting on the CPU; torch is the fallback and the GPU path

DEFAULT_BLOCK_BYTES = 64 * 2**20
N_GROUPS = 20


# ----------------------------------------------------------------------------------------------- counting

#: Inputs with at most this many columns (embeddings) are scanned by the fused compiled kernel on the CPU.
LOWDIM_MAX = 8


def count_below(D, Q, *, use_numba: bool | None = None):
    """``#{c : D[r, c] < Q[r, t]}`` for a block ``D [b, n]`` and queries ``Q [b, q]`` (torch tensors).

    The compiled kernel runs for CPU tensors when numba is installed (``use_numba=None``); otherwise one
    vectorised comparison per query column (the GPU path).
    """
    import torch

    if use_numba is None:
        use_numba = _HAVE_NUMBA and D.device.type == "cpu"
    if use_numba:
        Dn, Qn = np.ascontiguousarray(D.numpy()), np.ascontiguousarray(Q.numpy())
        out = np.empty(Qn.shape, dtype=np.int64)
        _K.over_rows(_K.count_below_rows, Dn.shape[0], Dn, Qn, out)
        return torch.from_numpy(out)
    out = torch.empty(Q.shape, dtype=torch.int64, device=D.device)
    for t in range(Q.shape[1]):
        out[:, t] = (D < Q[:, t : t + 1]).sum(1)
    return out


# ---------------------------------------------------------------------------------------------------- scan


@dataclass
class ScanResult:
    """Neighbours (``idx``, ``sqdist``: ``[n, k]``, nearest first) and, if queried, minimum ranks ``[n, q]``."""

    idx: np.ndarray
    sqdist: np.ndarray
    ranks: np.ndarray | None = None
    #: rows whose neighbour list was taken from ``torch.topk`` because of tied distances (block scan, CPU)
    topk_rows: int = 0


def _as_tensor(A, device, dtype):
    import torch

    return torch.as_tensor(np.ascontiguousarray(A), device=device).to(dtype)


def block_rows(n: int, itemsize: int, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Rows per block so that one ``[b, n]`` distance block takes about ``block_bytes``."""
    return int(max(1, min(n, block_bytes // max(1, n * itemsize))))


def scan(A, k: int, queries: np.ndarray | None = None, *, device: str = "cpu", dtype=None,
         block_bytes: int = DEFAULT_BLOCK_BYTES, use_numba: bool | None = None) -> ScanResult:
    """Exact ``k`` nearest neighbours of every row of ``A`` (self excluded) by blocks of rows and, if
    ``queries [n, q]`` (row indices, never the row itself) is given, the minimum rank ``r(i, j)`` of each
    query ``j`` among ``i``'s neighbours (see the module docstring)."""
    import torch

    dtype = torch.float64 if dtype is None else dtype
    n = A.shape[0]
    if not 1 <= k <= n - 1:
        raise ValueError(f"k = {k} must be in [1, n - 1 = {n - 1}]")
    if _lowdim_path(A, device, dtype, use_numba):
        A64 = np.ascontiguousarray(A, dtype=np.float64)
        q = np.zeros((n, 0), dtype=np.int64) if queries is None else np.ascontiguousarray(queries, dtype=np.int64)
        i_, d_ = np.empty((n, k), dtype=np.int64), np.empty((n, k))
        r_ = np.empty(q.shape, dtype=np.int64)
        _K.over_rows(_K.lowdim_knn_rows, n, A64, np.ascontiguousarray(A64.T), int(k), q, i_, d_, r_)
        return ScanResult(i_, d_, None if queries is None else r_)
    T = _as_tensor(A, device, dtype)
    sq = (T * T).sum(1)
    b = block_rows(n, T.element_size(), block_bytes)
    idx = torch.empty((n, k), dtype=torch.int64)
    dist = torch.empty((n, k), dtype=torch.float64)
    ranks = None
    topk_rows = 0
    if queries is not None:
        queries = np.asarray(queries, dtype=np.int64)
        ranks = torch.empty(queries.shape, dtype=torch.int64)
        qt = torch.as_tensor(queries, device=device)
    # one block buffer for every block: a fresh [b, n] allocation each time is page-faulted in anew (it is
    # larger than the allocator keeps), which cost about as much as the product itself at n = 10,000
    out = torch.empty((b, n), dtype=T.dtype, device=T.device)
    fused = use_numba is not False and _HAVE_NUMBA and T.device.type == "cpu"
    if fused:
        sq_np = sq.numpy()
        q_np = np.ascontiguousarray(queries) if queries is not None else np.zeros((n, 0), dtype=np.int64)
    with torch.no_grad():
        for s in range(0, n, b):
            e = min(n, s + b)
            # the product with v1's block geometry: MKL rounds the rows of a partial register tile
            # differently, so the rows per call decide the last bits (tests/test_neighbours_equal_v1.py)
            D = torch.addmm(sq[None, :], T[s:e], T.T, beta=1.0, alpha=-2.0, out=out[: e - s])
            if fused:
                # + ‖a_i‖², clamp, +∞ on the diagonal, selection and counting: one compiled pass per row;
                # rows with ties among their k + 1 nearest take torch.topk's choice
                Dn = D.numpy()
                i_, v_ = np.empty((e - s, k), dtype=np.int64), np.empty((e - s, k))
                tied = np.empty(e - s, dtype=np.bool_)
                below = np.empty((e - s, q_np.shape[1]), dtype=np.int64)
                _K.over_rows(_K.finish_block_rows, e - s, Dn, sq_np, s, int(k), q_np[s:e], i_, v_, tied, below)
                t_rows = np.flatnonzero(tied)
                if len(t_rows):
                    tv, tn = torch.topk(D[torch.from_numpy(t_rows)], k, dim=1, largest=False, sorted=True)
                    i_[t_rows], v_[t_rows] = tn.numpy(), tv.to(torch.float64).numpy()
                    topk_rows += len(t_rows)
                idx[s:e], dist[s:e] = torch.from_numpy(i_), torch.from_numpy(v_)
                if ranks is not None:
                    ranks[s:e] = 1 + torch.from_numpy(below)
            else:
                D.add_(sq[s:e, None]).clamp_min_(0.0)
                rows = torch.arange(e - s, device=D.device)
                D[rows, rows + s] = float("inf")
                vals, nn = torch.topk(D, k, dim=1, largest=False, sorted=True)
                idx[s:e] = nn.cpu()
                dist[s:e] = vals.cpu().to(torch.float64)
                if ranks is not None:
                    ranks[s:e] = 1 + count_below(D, D.gather(1, qt[s:e]), use_numba=use_numba).cpu()
            del D
    del out
    return ScanResult(idx.numpy(), dist.numpy(), None if ranks is None else ranks.numpy(), topk_rows)


def _lowdim_path(A, device, dtype, use_numba) -> bool:
    """Whether :func:`scan` takes the compiled low-dimensional kernel (CPU, float64, ≤ ``LOWDIM_MAX``
    columns, numba not declined)."""
    import torch

    return bool(use_numba is None and _HAVE_NUMBA and str(device) == "cpu" and A.shape[1] <= LOWDIM_MAX
                and (dtype is None or dtype == torch.float64))


_NO_KNOWN = np.zeros((0, 0), dtype=np.float64)


def query_ranks(A, queries: np.ndarray, known: ScanResult | None = None, **kw: Any) -> np.ndarray:
    """Minimum ranks ``r(i, j)`` of the queries ``[n, q]`` among ``i``'s neighbours in ``A`` (as
    ``scan(A, 1, queries).ranks``). ``known``: an earlier :func:`scan` of the same ``A`` with the same
    arguments; on the low-dimensional path, a row whose queries all lie within its last known neighbour
    takes its ranks from the known list and is not scanned (equal ranks: every point closer than the
    ``K``-th neighbour is in the list, and the distances are computed with the same rounding)."""
    dev, dt, un = kw.get("device", "cpu"), kw.get("dtype"), kw.get("use_numba")
    n = A.shape[0]
    if _lowdim_path(A, dev, dt, un):
        kd = _NO_KNOWN if known is None else np.ascontiguousarray(known.sqdist, dtype=np.float64)
        if kd.shape[0] != n:
            kd = np.zeros((n, 0), dtype=np.float64)
        q = np.ascontiguousarray(queries, dtype=np.int64)
        A64 = np.ascontiguousarray(A, dtype=np.float64)
        r_ = np.empty(q.shape, dtype=np.int64)
        _K.over_rows(_K.lowdim_ranks_rows, n, A64, np.ascontiguousarray(A64.T), q, kd, r_)
        return r_
    return scan(A, 1, queries, **kw).ranks


def knn(A, k: int, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, squared distances)`` of the exact ``k`` nearest neighbours (one :func:`scan`)."""
    r = scan(A, k, **kw)
    return r.idx, r.sqdist


# ------------------------------------------------------------------------------------ scores from lists


def _tc_from_ranks(ranks: np.ndarray, k: int) -> float:
    """``1 − 2/(n k (2n − 3k − 1)) Σ max(0, r − k)`` over the first ``k`` rank columns."""
    n = ranks.shape[0]
    if not k < n / 2:
        raise ValueError(f"trustworthiness needs k < n/2 (k = {k}, n = {n})")
    pen = np.maximum(ranks[:, :k] - k, 0).sum(dtype=np.float64)
    return float(1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * pen)


def qnx_curve(nn_x: np.ndarray, nn_e: np.ndarray, block: int = 4096) -> np.ndarray:
    """``Q_NX(k)`` for ``k = 1..K`` from the ``K``-neighbour lists of X and E (nearest first)."""
    n, K = nn_x.shape
    if _HAVE_NUMBA:  # one position table: O(n·K)
        hist = _K.qnx_hist(np.ascontiguousarray(nn_x, dtype=np.int64), np.ascontiguousarray(nn_e, dtype=np.int64))
        return np.cumsum(hist)[1:] / (n * np.arange(1, K + 1))
    hist = np.zeros(K + 1, dtype=np.int64)
    for s in range(0, n, block):
        a, b = nn_x[s : s + block], nn_e[s : s + block]
        eq = a[:, :, None] == b[:, None, :]  # [rows, K, K]
        r, p, q = np.nonzero(eq)
        hist += np.bincount(np.maximum(p, q) + 1, minlength=K + 1)
    ks = np.arange(1, K + 1)
    return np.cumsum(hist)[1:] / (n * ks)


def rnx_from_qnx(qnx: np.ndarray, n: int) -> np.ndarray:
    ks = np.arange(1, len(qnx) + 1)
    return ((n - 1) * qnx - ks) / (n - 1 - ks)


def rnx_auc(rnx: np.ndarray) -> float:
    """Area under R_NX over log k: ``Σ R_NX(k)/k / Σ 1/k`` for ``k = 1..len(rnx)``."""
    w = 1.0 / np.arange(1, len(rnx) + 1)
    return float((rnx * w).sum() / w.sum())


def neighbourhood_hit(nn_e: np.ndarray, y: np.ndarray, k: int) -> float:
    y = np.asarray(y)
    return float((y[nn_e[:, :k]] == y[:, None]).mean())


def knn_accuracy(nn_e: np.ndarray, y: np.ndarray, k: int) -> float:
    """Leave-one-out majority vote of the ``k`` embedding neighbours; label ties go to the smallest label."""
    y = np.asarray(y)
    classes, yi = np.unique(y, return_inverse=True)
    votes = np.zeros((len(y), len(classes)), dtype=np.int64)
    nb = yi[nn_e[:, :k]]
    for c in range(k):
        np.add.at(votes, (np.arange(len(y)), nb[:, c]), 1)
    return float((votes.argmax(1) == yi).mean())


# ---------------------------------------------------------------------------------------- neighbourhood


def neighbourhood_scores(X, E, *, ks: Sequence[int] = (7, 15), labels: np.ndarray | None = None,
                         label_ks: Sequence[int] = (7, 15), auc_k: int = 100, device: str = "cpu",
                         dtype=None, block_bytes: int = DEFAULT_BLOCK_BYTES,
                         use_numba: bool | None = None) -> dict[str, float]:
    """All neighbourhood scores of ``E`` against ``X`` from three scans: E's ``K`` neighbours, X's ``K``
    neighbours with the ranks of E's, the ranks of X's neighbours in E (:func:`query_ranks`; rows whose
    X-neighbours all lie within E's ``K`` neighbours are not rescanned). ``dtype`` applies to the scan of
    X; the embedding is always scanned in float64.

    Returns ``trustworthiness@k``, ``continuity@k`` (``k`` in ``ks``, each ``< n/2``), ``qnx@k``,
    ``rnx_auc`` (with ``rnx_auc_k`` the truncation ``K``), and with ``labels`` ``nh@k`` and
    ``knn_acc@k`` for ``k`` in ``label_ks``.
    """
    n = X.shape[0]
    if E.shape[0] != n:
        raise ValueError(f"X has {n} rows, E has {E.shape[0]}")
    ks = sorted({int(k) for k in ks if k < n / 2})
    kt = max(ks) if ks else 0
    K = int(max(1, min(n - 2, max([auc_k, kt, *([max(label_ks)] if labels is not None else [])]))))
    kw = dict(device=device, block_bytes=block_bytes, use_numba=use_numba)
    e1 = scan(E, K, **kw)  # the embedding is always scanned in float64 (it is small)
    x1 = scan(X, K, e1.idx[:, :kt] if kt else None, dtype=dtype, **kw)
    out: dict[str, float] = {}
    if kt:
        e2 = query_ranks(E, x1.idx[:, :kt], e1, **kw)
        for k in ks:
            out[f"trustworthiness@{k}"] = _tc_from_ranks(x1.ranks, k)
            out[f"continuity@{k}"] = _tc_from_ranks(e2, k)
    q = qnx_curve(x1.idx, e1.idx)
    for k in ks:
        out[f"qnx@{k}"] = float(q[k - 1])
    out["rnx_auc"] = rnx_auc(rnx_from_qnx(q, n))
    out["rnx_auc_k"] = float(K)
    if labels is not None:
        for k in label_ks:
            if k <= K:
                out[f"nh@{k}"] = neighbourhood_hit(e1.idx, labels, k)
                out[f"knn_acc@{k}"] = knn_accuracy(e1.idx, labels, k)
    return out


def trustworthiness(X, E, k: int, **kw: Any) -> float:
    """``T(k)`` alone (one scan of E, one of X)."""
    e = scan(E, k, **kw)
    return _tc_from_ranks(scan(X, 1, e.idx, **kw).ranks, k)


def continuity(X, E, k: int, **kw: Any) -> float:
    """``C(k)`` = ``trustworthiness(E, X, k)``."""
    return trustworthiness(E, X, k, **kw)


# ---------------------------------------------------------------------------------------- sampled scores


def sample_pairs(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``m`` pairs ``(i, j)``, ``i ≠ j``: ``i`` uniform, ``j = (i + u) mod n`` with ``u`` uniform in 1..n−1."""
    rng = np.random.default_rng([seed, 5147])
    i = rng.integers(0, n, size=m)
    j = (i + rng.integers(1, n, size=m)) % n
    return i, j


def pair_distances(A, i: np.ndarray, j: np.ndarray, chunk: int | None = None) -> np.ndarray:
    """Euclidean distances ``‖A[i] − A[j]‖`` in float64, by chunks of pairs. Each distance is
    ``√einsum(diff, diff)`` of its own row, so the chunk size does not change its bits; the default keeps
    each temporary at about 1 MiB (``chunk·d`` values), which stays in cache and is reused by the
    allocator (larger temporaries were page-faulted in anew on every chunk: several times slower)."""
    A = np.asarray(A)
    if chunk is None:
        chunk = max(64, 2**17 // max(1, A.shape[1] if A.ndim == 2 else 1))
    out = np.empty(len(i), dtype=np.float64)
    for s in range(0, len(i), chunk):
        diff = A[i[s : s + chunk]].astype(np.float64, copy=False) - A[j[s : s + chunk]]
        out[s : s + chunk] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..m of ``x``, tied values sharing the mean of their positions (scipy's ``rankdata(x,
    'average')``). Every rank is an integer or a half-integer, computed exactly, so the result is the same
    float64 array whatever sort is used: an unstable one (the order within a tie does not change the mean)."""
    x = np.asarray(x)
    m = len(x)
    order = np.argsort(x)
    xs = x[order]
    first = np.empty(m, dtype=bool)
    first[:1] = True
    np.not_equal(xs[1:], xs[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, m))
    out = np.empty(m, dtype=np.float64)
    out[order] = np.repeat((starts + 1) + (counts - 1) / 2, counts)
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ as ``scipy.stats.spearmanr(a, b).statistic``, bit for bit: the same average ranks
    (:func:`average_ranks`), laid out as scipy lays them out (``apply_along_axis`` over the stacked
    columns), and the same ``np.corrcoef``; without the p-value and with a faster sort."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    ranked = np.apply_along_axis(average_ranks, 0, np.column_stack((a, b)))
    return float(np.corrcoef(ranked, rowvar=False)[1, 0])


def scale_normalized_stress(dh: np.ndarray, dl: np.ndarray) -> float:
    """``√(Σ (dh − α dl)² / Σ dh²)``, ``α = Σ dh·dl / Σ dl²`` (1 if the embedding distances are all 0)."""
    sl = float(np.dot(dl, dl))
    if sl == 0.0:
        return 1.0
    alpha = float(np.dot(dh, dl)) / sl
    return float(math.sqrt(float(np.sum((dh - alpha * dl) ** 2)) / float(np.dot(dh, dh))))


def _batch_se(values: Sequence[float]) -> float:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if len(v) < 2:
        return float("nan")
    return float(v.std(ddof=1) / math.sqrt(len(v)))


def pair_scores(X, E, *, m: int = 200_000, seed: int = 0) -> dict[str, float]:
    """``shepard`` (Spearman ρ of distances) and ``stress`` (scale-normalised) on ``m`` sampled pairs, with
    their batch-means standard errors ``*_se``."""
    n = X.shape[0]
    i, j = sample_pairs(n, m, seed)
    dh, dl = pair_distances(X, i, j), pair_distances(E, i, j)
    groups = np.array_split(np.arange(m), N_GROUPS)
    return {
        "shepard": _spearman(dh, dl),
        "shepard_se": _batch_se([_spearman(dh[g], dl[g]) for g in groups]),
        "stress": scale_normalized_stress(dh, dl),
        "stress_se": _batch_se([scale_normalized_stress(dh[g], dl[g]) for g in groups]),
    }


def sample_triplets(n: int, t: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``t`` triplets per anchor ``i``: ``j, l`` uniform, distinct and different from ``i`` (needs n ≥ 3)."""
    rng = np.random.default_rng([seed, 7211])
    i = np.repeat(np.arange(n), t)
    j = (i + rng.integers(1, n, size=len(i))) % n
    # l uniform over the n − 2 points other than i and j: draw among n − 2 slots and skip i and j
    u = rng.integers(0, n - 2, size=len(i))
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    l_ = u + (u >= lo)
    l_ = l_ + (l_ >= hi)
    return i, j, l_


def _triplet_agreement(dx_ij, dx_il, de_ij, de_il) -> tuple[np.ndarray, np.ndarray]:
    """(counted, agrees) masks: counted leaves out input ties; an embedding tie never agrees."""
    sx = np.sign(dx_ij - dx_il)
    se = np.sign(de_ij - de_il)
    counted = sx != 0
    return counted, counted & (sx == se)


def random_triplet_accuracy(X, E, *, t: int = 5, seed: int = 0) -> dict[str, float]:
    """PaCMAP's random-triplet accuracy (``rta``) with its batch-means standard error ``rta_se``."""
    n = X.shape[0]
    i, j, l_ = sample_triplets(n, t, seed)
    counted, agree = _triplet_agreement(pair_distances(X, i, j), pair_distances(X, i, l_),
                                        pair_distances(E, i, j), pair_distances(E, i, l_))
    g = i % N_GROUPS
    per = [agree[g == a].sum() / max(1, counted[g == a].sum()) for a in range(N_GROUPS)]
    return {"rta": float(agree.sum() / max(1, counted.sum())), "rta_se": _batch_se(per)}


def centroid_triplet_accuracy(X, E, y: np.ndarray) -> float:
    """Share of centroid triplets ``(a; b, c)`` ordered alike in X and E (NaN with fewer than 3 classes)."""
    y = np.asarray(y)
    classes = np.unique(y)
    if len(classes) < 3:
        return float("nan")
    cx = np.stack([np.asarray(X, dtype=np.float64)[y == c].mean(0) for c in classes])
    ce = np.stack([np.asarray(E, dtype=np.float64)[y == c].mean(0) for c in classes])
    from scipy.spatial.distance import cdist

    Dx, De = cdist(cx, cx), cdist(ce, ce)
    c = len(classes)
    a, b, cc = [], [], []
    for p in range(c):
        for q in range(c):
            for r in range(q + 1, c):
                if p != q and p != r:
                    a.append(p), b.append(q), cc.append(r)
    a, b, cc = map(np.asarray, (a, b, cc))
    counted, agree = _triplet_agreement(Dx[a, b], Dx[a, cc], De[a, b], De[a, cc])
    return float(agree.sum() / max(1, counted.sum()))


def global_scores(X, E, *, labels: np.ndarray | None = None, pairs: int = 200_000, triplets: int = 5,
                  seed: int = 0) -> dict[str, float]:
    """The sampled global panel: :func:`pair_scores`, :func:`random_triplet_accuracy` and, with labels,
    ``cta`` (:func:`centroid_triplet_accuracy`)."""
    out = pair_scores(X, E, m=pairs, seed=seed)
    out.update(random_triplet_accuracy(X, E, t=triplets, seed=seed))
    if labels is not None:
        cta = centroid_triplet_accuracy(X, E, labels)
        if np.isfinite(cta):
            out["cta"] = cta
    return out


def all_scores(X, E, *, labels=None, settings: Mapping[str, Any] | None = None, device: str = "cpu",
               seed: int = 0) -> dict[str, float]:
    """Neighbourhood and global scores of ``E`` against ``X`` with the track's settings."""
    s = dict(settings or {})
    out = neighbourhood_scores(X, E, ks=s.get("ks", (7, 15)), labels=labels, label_ks=s.get("label_ks", (7, 15)),
                               auc_k=s.get("auc_k", 100), device=device)
    out.update(global_scores(X, E, labels=labels, pairs=s.get("pairs", 200_000), triplets=s.get("triplets", 5),
                             seed=seed))
    return out
