"""Compiled (numba) kernels of :mod:`bench_core.metrics.neighbours` on the CPU: selection and rank counting.

Every kernel is serial, releases the GIL (``nogil``) and works on a range of rows ``[r0, r1)`` writing into
arrays the caller allocated; :func:`over_rows` runs it over all rows on ``torch.get_num_threads()`` Python
threads (the thread count the harness pins per worker). Serial kernels compile in a fraction of the time of
numba's ``parallel=True`` ones (about 1 s instead of 7 s for the set, paid once per worker process on a cold
cache), and they never start numba's own thread pool next to torch's.

Arithmetic contract (what makes the results bit-equal to the kernels before them, frozen in
``tests/neighbours_v1_reference.py``):

- :func:`finish_block_rows` turns a block ``D' = ‖a_j‖² − 2·A_b·Aᵀ`` (the output of ``torch.addmm``, which
  the caller computes with the block geometry of v1) into squared distances exactly as v1's torch ops did:
  ``v = D'[r, c] + ‖a_i‖²`` (one float64 addition), ``v < 0 → 0`` (``clamp_min(0)``; NaN stays NaN), the
  row's own column ``+∞``; it writes them back into ``D`` (a row that needs ``torch.topk``'s tie choice, and
  the query values, read them there).
- :func:`lowdim_row` computes ``Σ_c (a_ic − a_jc)²`` summed in column order starting from 0.0 (``diff *
  diff`` rounded, then added: numba never contracts it into an FMA without fastmath), the rounding of v1's
  per-pair loop.
- Selection keeps the ``k`` smallest ``(value, index)`` pairs by insertion (a value equal to the current
  ``k``-th is not inserted, and an inserted value goes after those equal to it): lower index first among
  equal values. Counting is ``#{c : row[c] < q}`` (strict), a vectorised branch-free pass.
"""

from __future__ import annotations

import numpy as np

try:
    import numba

    from bench_core.numba_cache import configure as _configure_numba_cache

    _configure_numba_cache()  # compiled kernels are cached under the featbench cache, never in the package
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


def over_rows(fn, n: int, *args, threads: int | None = None) -> None:
    """``fn(*args, r0, r1)`` over ``[0, n)`` in row chunks, on ``threads`` threads (default
    ``torch.get_num_threads()``); one call when there is one thread. The kernels release the GIL."""
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    threads = max(1, int(threads))
    if threads == 1 or n < 64:
        fn(*args, 0, n)
        return
    chunk = max(16, -(-n // (4 * threads)))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as ex:
        for f in [ex.submit(fn, *args, r0, min(n, r0 + chunk)) for r0 in range(0, n, chunk)]:
            f.result()


if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def count_row(row, q):  # pragma: no cover - compiled
        """``#{c : row[c] < q}``: one branch-free (vectorised) pass."""
        cnt = 0
        for c in range(row.shape[0]):
            cnt += row[c] < q
        return cnt

    @numba.njit(cache=True, nogil=True)
    def insert_k(row, k, bd, bi):  # pragma: no cover - compiled
        """The ``len(bd)`` smallest ``(row[c], c)`` into ``bd``/``bi`` (sorted; ``k`` = ``len(bd)``)."""
        for p in range(k):
            bd[p] = np.inf
            bi[p] = -1
        worst = np.inf
        for c in range(row.shape[0]):
            s = row[c]
            if s < worst:
                p = k - 1
                while p > 0 and bd[p - 1] > s:
                    bd[p] = bd[p - 1]
                    bi[p] = bi[p - 1]
                    p -= 1
                bd[p] = s
                bi[p] = c
                worst = bd[k - 1]

    @numba.njit(cache=True, nogil=True)
    def count_below_rows(D, Q, out, r0, r1):  # pragma: no cover - compiled
        """``out[r, t] = #{c : D[r, c] < Q[r, t]}`` for rows ``r0..r1``."""
        for r in range(r0, r1):
            for t in range(Q.shape[1]):
                out[r, t] = count_row(D[r], Q[r, t])

    @numba.njit(cache=True, nogil=True)
    def finish_block_rows(D, sq, s, k, Qidx, idx, vals, tied, below, r0, r1):  # pragma: no cover - compiled
        """Rows ``r0..r1`` of a distance block whose first row is row ``s`` of ``A``: squared distances in
        place (module docstring), the ``k + 1`` smallest by insertion (``idx``/``vals``: the first ``k``),
        ``tied[r]`` when two of those ``k + 1`` are equal (then which tied points enter the ``k``-list is a
        selection algorithm's choice, and the caller takes ``torch.topk``'s for that row), and
        ``below[r, t] = #{c : D[r, c] < D[r, Qidx[r, t]]}``: counted among the ``k`` smallest alone when the
        query is within the ``k``-th (every smaller value is one of them), over the whole row otherwise."""
        n = D.shape[1]
        nq = Qidx.shape[1]
        bd = np.empty(k + 1)
        bi = np.empty(k + 1, dtype=np.int64)
        for r in range(r0, r1):
            row = D[r]
            sqi = sq[s + r]
            for c in range(n):
                v = row[c] + sqi
                if v < 0.0:
                    v = 0.0
                row[c] = v
            row[s + r] = np.inf
            insert_k(row, k + 1, bd, bi)
            tied[r] = False
            for p in range(k):
                idx[r, p] = bi[p]
                vals[r, p] = bd[p]
                if bd[p] == bd[p + 1]:
                    tied[r] = True
            for t in range(nq):
                q = row[Qidx[r, t]]
                if q <= bd[k - 1]:
                    cnt = 0
                    for p in range(k):
                        cnt += bd[p] < q
                    below[r, t] = cnt
                else:
                    below[r, t] = count_row(row, q)

    @numba.njit(cache=True, nogil=True)
    def lowdim_row(A, AT, i, buf):  # pragma: no cover - compiled
        """``buf[j] = Σ_c (A[i, c] − A[j, c])²`` (column order, from 0.0), ``buf[i] = +∞``; the loop over
        ``j`` is vectorised (one fused pass for two columns, one pass per column otherwise)."""
        n, d = A.shape
        if d == 2:
            a0 = A[i, 0]
            a1 = A[i, 1]
            x0 = AT[0]
            x1 = AT[1]
            for j in range(n):
                d0 = a0 - x0[j]
                d1 = a1 - x1[j]
                buf[j] = d0 * d0 + d1 * d1  # = (0.0 + d0²) + d1²: 0.0 + x = x exactly for x ≥ 0
        else:
            for j in range(n):
                buf[j] = 0.0
            for c in range(d):
                a = A[i, c]
                col = AT[c]
                for j in range(n):
                    diff = a - col[j]
                    buf[j] += diff * diff
        buf[i] = np.inf

    @numba.njit(cache=True, nogil=True)
    def pair_sq(A, i, j):  # pragma: no cover - compiled
        """One squared distance with the rounding of :func:`lowdim_row`."""
        s = 0.0
        for c in range(A.shape[1]):
            diff = A[i, c] - A[j, c]
            s += diff * diff
        return s

    @numba.njit(cache=True, nogil=True)
    def lowdim_knn_rows(A, AT, k, Qidx, idx, dist, ranks, r0, r1):  # pragma: no cover - compiled
        """Rows ``r0..r1`` of a low-dimensional ``A``: the ``k`` nearest (by insertion, ties: lower index
        first) and the minimum ranks ``1 + #{j : d(i, j) < d(i, q)}`` of the queries ``Qidx[i]``."""
        n = A.shape[0]
        buf = np.empty(n)
        bd = np.empty(k)
        bi = np.empty(k, dtype=np.int64)
        for i in range(r0, r1):
            lowdim_row(A, AT, i, buf)
            for t in range(Qidx.shape[1]):
                ranks[i, t] = 1 + count_row(buf, buf[Qidx[i, t]])
            insert_k(buf, k, bd, bi)
            for p in range(k):
                idx[i, p] = bi[p]
                dist[i, p] = bd[p]

    @numba.njit(cache=True, nogil=True)
    def lowdim_ranks_rows(A, AT, Qidx, known, ranks, r0, r1):  # pragma: no cover - compiled
        """Minimum ranks of the queries ``Qidx[i]`` in a low-dimensional ``A``, rows ``r0..r1``.

        ``known [n, K']``, when it has columns, holds each row's ``K'`` smallest squared distances (sorted,
        from an earlier scan of the same ``A``): a row whose queries all lie within ``known[i, K' − 1]``
        takes its ranks from that list and is not scanned (every point closer than the ``K'``-th neighbour
        is in the list)."""
        n = A.shape[0]
        nq = Qidx.shape[1]
        kk = known.shape[1]
        buf = np.empty(n)
        qd = np.empty(nq)
        for i in range(r0, r1):
            if kk > 0 and nq > 0:
                inside = True
                for t in range(nq):
                    qd[t] = pair_sq(A, i, Qidx[i, t])
                    if not qd[t] <= known[i, kk - 1]:
                        inside = False
                if inside:
                    for t in range(nq):
                        cnt = 0
                        for p in range(kk):
                            cnt += known[i, p] < qd[t]
                        ranks[i, t] = 1 + cnt
                    continue
            lowdim_row(A, AT, i, buf)
            for t in range(nq):
                ranks[i, t] = 1 + count_row(buf, buf[Qidx[i, t]])

    @numba.njit(cache=True, nogil=True)
    def qnx_hist(nn_x, nn_e):  # pragma: no cover - compiled
        """``hist[m]`` = number of (row, common point) pairs whose larger list position (1-based) is ``m``."""
        n, K = nn_x.shape
        hist = np.zeros(K + 1, dtype=np.int64)
        pos = np.full(n, -1, dtype=np.int64)
        for i in range(n):
            for p in range(K):
                if nn_x[i, p] >= 0:
                    pos[nn_x[i, p]] = p
            for q in range(K):
                j = nn_e[i, q]
                if j >= 0 and pos[j] >= 0:
                    hist[max(pos[j], q) + 1] += 1
            for p in range(K):
                if nn_x[i, p] >= 0:
                    pos[nn_x[i, p]] = -1
        return hist
