"""Frozen equality reference: the neighbourhood kernels of ``bench_core/metrics/neighbours.py`` as of commit
31c5466 (the code the reducers boards were computed with), verbatim up to the sampled scores (cut here; its
original module docstring is in git). ``tests/test_neighbours_equal_v1.py`` checks that the current kernels
return exactly these values."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

try:  # compiled counting on the CPU; the torch path below is the fallback and the GPU path
    import numba

    from bench_core.numba_cache import configure as _configure_numba_cache

    _configure_numba_cache()  # compiled kernels are cached under the featbench cache, never in the package
    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    _HAVE_NUMBA = False

DEFAULT_BLOCK_BYTES = 64 * 2**20
N_GROUPS = 20


# ----------------------------------------------------------------------------------------------- counting

if _HAVE_NUMBA:

    @numba.njit(parallel=True, cache=True)
    def _count_below_numba(D, Q):  # pragma: no cover - compiled
        """``out[r, t] = #{c : D[r, c] < Q[r, t]}``: one branch-free (vectorised) pass of the row per query;
        the row stays in cache between queries."""
        b, n = D.shape
        nq = Q.shape[1]
        out = np.zeros((b, nq), dtype=np.int64)
        for r in numba.prange(b):
            for t in range(nq):
                q = Q[r, t]
                cnt = 0
                for c in range(n):
                    cnt += D[r, c] < q
                out[r, t] = cnt
        return out

    @numba.njit(parallel=True, cache=True)
    def _scan_lowdim_numba(A, k, Qidx):  # pragma: no cover - compiled
        """The whole scan for a low-dimensional ``A`` (an embedding) on the CPU, fused: squared distances
        computed directly (no ``[b, n]`` block), the ``k`` nearest kept by insertion (ties: lower index
        first) and the queries' minimum ranks counted in the same pass."""
        n, d = A.shape
        nq = Qidx.shape[1]
        idx = np.empty((n, k), dtype=np.int64)
        dist = np.empty((n, k), dtype=np.float64)
        ranks = np.empty((n, nq), dtype=np.int64)
        for i in numba.prange(n):
            bd = np.full(k, np.inf)
            bi = np.full(k, -1, dtype=np.int64)
            qd = np.empty(nq)
            qmax = -np.inf
            for t in range(nq):
                j = Qidx[i, t]
                s = 0.0
                for c in range(d):
                    diff = A[i, c] - A[j, c]
                    s += diff * diff
                qd[t] = s
                if s > qmax:
                    qmax = s
            cnt = np.zeros(nq, dtype=np.int64)
            for j in range(n):
                if j == i:
                    continue
                s = 0.0
                for c in range(d):
                    diff = A[i, c] - A[j, c]
                    s += diff * diff
                if s < qmax:
                    for t in range(nq):
                        cnt[t] += s < qd[t]
                if s < bd[k - 1]:
                    p = k - 1
                    while p > 0 and bd[p - 1] > s:
                        bd[p] = bd[p - 1]
                        bi[p] = bi[p - 1]
                        p -= 1
                    bd[p] = s
                    bi[p] = j
            for p in range(k):
                idx[i, p] = bi[p]
                dist[i, p] = bd[p]
            for t in range(nq):
                ranks[i, t] = 1 + cnt[t]
        return idx, dist, ranks


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
        return torch.from_numpy(_count_below_numba(D.numpy(), Q.numpy()))
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
    if (use_numba is None and _HAVE_NUMBA and str(device) == "cpu" and A.shape[1] <= LOWDIM_MAX
            and dtype == torch.float64):
        q = np.zeros((n, 0), dtype=np.int64) if queries is None else np.ascontiguousarray(queries, dtype=np.int64)
        i_, d_, r_ = _scan_lowdim_numba(np.ascontiguousarray(A, dtype=np.float64), int(k), q)
        return ScanResult(i_, d_, None if queries is None else r_)
    T = _as_tensor(A, device, dtype)
    sq = (T * T).sum(1)
    b = block_rows(n, T.element_size(), block_bytes)
    idx = torch.empty((n, k), dtype=torch.int64)
    dist = torch.empty((n, k), dtype=torch.float64)
    ranks = None
    if queries is not None:
        queries = np.asarray(queries, dtype=np.int64)
        ranks = torch.empty(queries.shape, dtype=torch.int64)
        qt = torch.as_tensor(queries, device=device)
    with torch.no_grad():
        for s in range(0, n, b):
            e = min(n, s + b)
            D = torch.addmm(sq[None, :], T[s:e], T.T, beta=1.0, alpha=-2.0)
            D.add_(sq[s:e, None]).clamp_min_(0.0)
            rows = torch.arange(e - s, device=D.device)
            D[rows, rows + s] = float("inf")
            vals, nn = torch.topk(D, k, dim=1, largest=False, sorted=True)
            idx[s:e] = nn.cpu()
            dist[s:e] = vals.cpu().to(torch.float64)
            if ranks is not None:
                Q = D.gather(1, qt[s:e])
                ranks[s:e] = 1 + count_below(D, Q, use_numba=use_numba).cpu()
            del D
    return ScanResult(idx.numpy(), dist.numpy(), None if ranks is None else ranks.numpy())


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
    """All neighbourhood scores of ``E`` against ``X`` from three block scans (E, X, E again). ``dtype``
    applies to the scan of X; the embedding is always scanned in float64.

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
        e2 = scan(E, 1, x1.idx[:, :kt], **kw)
        for k in ks:
            out[f"trustworthiness@{k}"] = _tc_from_ranks(x1.ranks, k)
            out[f"continuity@{k}"] = _tc_from_ranks(e2.ranks, k)
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


