"""scikit-learn's k-NN mutual information estimator (``mutual_info_classif``, continuous features), vectorized.

scikit-learn estimates, for each feature ``c`` and the class ``y`` (Ross 2014),

    MI = ψ(N) + ⟨ψ(k_i)⟩ − ⟨ψ(N_{y_i})⟩ − ⟨ψ(m_i)⟩

where, for each sample i of a class with more than one sample, ``k_i = min(k, N_{y_i} − 1)``, ``r_i`` is the
distance from ``c_i`` to its ``k_i``-th nearest neighbour within its class (self excluded), and ``m_i`` the
number of samples (self included) within distance ``nextafter(r_i, 0)`` in the whole column; samples of
singleton classes are left out, and the estimate is clipped at 0. It does so one feature at a time with a
KD-tree per class and a KD-tree per column (46.5 s at n = 2000, d = 10,000).

In one dimension both searches are order statistics of sorted columns, done here for all features at once:

- the ``k``-th neighbour distance of a point is the smallest, over the windows of ``k + 1`` consecutive sorted
  class values that contain it, of its distance to the farther end of the window;
- ``m_i`` is a difference of two ``searchsorted`` positions, corrected so that the predicate is exactly
  the one of scikit-learn's KD-tree leaves, ``fl((c_j − c_i)²) ≤ fl(r_i²)`` (the predicate is monotone in
  ``c_j`` on each side of ``c_i``, so a few vectorized steps from the ``searchsorted`` guess reach it).

Where scikit-learn's ``NearestNeighbors`` would not use a KD-tree for some class (``k_i ≥ N_y // 2``, a class
of at most ``2k + 1`` samples), it computes distances by the Gram-matrix identity, whose rounding puts the
radius within an ulp of a neighbour's distance, and the KD-tree's count then depends on its node layout:
there :func:`mutual_info_classif_fast` calls scikit-learn itself (same result, no speed-up).

The preprocessing is scikit-learn's, call for call (scaling to unit standard deviation without centring,
then ``1e-10 · max(1, mean |x|)`` Gaussian noise from ``RandomState(random_state)``), so the result equals
``mutual_info_classif(X, y, n_neighbors=k, random_state=seed)`` to rounding (tested to 1e-10).
"""

from __future__ import annotations

import numpy as np


def _kth_neighbour_distance(a: np.ndarray, k: int) -> np.ndarray:
    """For sorted columns ``a`` (m × d), the distance of each entry to its k-th nearest other entry."""
    m = a.shape[0]
    best = np.full(a.shape, np.inf)
    idx = np.arange(m)
    for t in range(k + 1):  # window [i - t, i - t + k]
        lo = idx - t
        hi = lo + k
        ok = (lo >= 0) & (hi < m)
        if not ok.any():
            continue
        rows = idx[ok]
        left = np.abs(a[rows] - a[lo[ok]])
        right = np.abs(a[hi[ok]] - a[rows])
        best[rows] = np.minimum(best[rows], np.maximum(left, right))
    return best


def _radius_counts(s: np.ndarray, x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """For each column j: how many of the sorted ``s[:, j]`` satisfy fl((s − x)²) ≤ fl(r²), for each x."""
    n, d = s.shape
    r2 = r * r
    cols = np.broadcast_to(np.arange(d), x.shape)

    def inside(pos):
        p = np.clip(pos, 0, n - 1)
        diff = s[p, cols] - x
        return (diff * diff <= r2) & (pos >= 0) & (pos < n)

    lo = np.empty(x.shape, dtype=np.int64)
    hi = np.empty(x.shape, dtype=np.int64)
    for j in range(d):
        lo[:, j] = np.searchsorted(s[:, j], x[:, j] - r[:, j], side="left")
        hi[:, j] = np.searchsorted(s[:, j], x[:, j] + r[:, j], side="right")  # one past the last inside
    # move the bounds until they match the exact predicate (monotone on each side of x)
    while True:
        grow = inside(lo - 1)
        if not grow.any():
            break
        lo -= grow
    while True:
        shrink = ~inside(lo) & (lo < hi)
        if not shrink.any():
            break
        lo += shrink
    while True:
        grow = inside(hi)
        if not grow.any():
            break
        hi += grow
    while True:
        shrink = ~inside(hi - 1) & (hi > lo)
        if not shrink.any():
            break
        hi -= shrink
    return hi - lo


def mutual_info_classif_fast(X: np.ndarray, y: np.ndarray, n_neighbors: int = 3, random_state: int = 0
                             ) -> np.ndarray:
    """``sklearn.feature_selection.mutual_info_classif(X, y, n_neighbors, random_state=random_state)`` for
    continuous (dense) features, all columns at once."""
    from scipy.special import digamma
    from sklearn.preprocessing import scale

    X0 = X
    X = np.array(X, dtype=np.float64, copy=True)
    y = np.asarray(y)
    n, d = X.shape
    rng = np.random.RandomState(random_state)
    X = scale(X, with_mean=False, copy=False)
    means = np.maximum(1, np.mean(np.abs(X), axis=0))
    X += 1e-10 * means * rng.standard_normal(size=(n, d))

    labels, counts = np.unique(y, return_counts=True)
    if any(1 < c and min(n_neighbors, c - 1) >= c // 2 for c in counts):
        from sklearn.feature_selection import mutual_info_classif

        return mutual_info_classif(X0, y, n_neighbors=n_neighbors, random_state=random_state)
    radius = np.empty((n, d))
    label_counts = np.empty(n)
    k_all = np.empty(n)
    for label, count in zip(labels, counts):
        mask = y == label
        label_counts[mask] = count
        if count <= 1:
            continue
        k = min(n_neighbors, count - 1)
        k_all[mask] = k
        Xc = X[mask]
        order = np.argsort(Xc, axis=0, kind="stable")
        r_sorted = _kth_neighbour_distance(np.take_along_axis(Xc, order, axis=0), k)
        r = np.empty_like(r_sorted)
        np.put_along_axis(r, order, r_sorted, axis=0)
        radius[mask] = np.nextafter(r, 0)

    keep = label_counts > 1
    Xk, rk = X[keep], radius[keep]
    m = _radius_counts(np.sort(Xk, axis=0), Xk, rk)
    n_kept = int(keep.sum())
    mi = (digamma(n_kept) + np.mean(digamma(k_all[keep])) - np.mean(digamma(label_counts[keep]))
          - np.mean(digamma(m), axis=0))
    return np.maximum(0.0, mi)
