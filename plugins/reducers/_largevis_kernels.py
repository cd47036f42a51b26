"""Compiled loops of the LargeVis reimplementation (:mod:`plugins.reducers.reimplemented`): Walker's alias
table and the edge-sampling SGD. Imported only when LargeVis runs (numba compiles on first use; cached)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def alias_table(weights):  # pragma: no cover - compiled
    """Walker's alias table of a distribution ∝ ``weights``: draw ``k = ⌊u₁·m⌋``, keep ``k`` if
    ``u₂ < prob[k]`` else take ``alias[k]`` (O(1) per draw)."""
    m = weights.shape[0]
    p = weights * m / weights.sum()
    prob = np.ones(m)
    alias = np.arange(m)
    small = np.empty(m, dtype=np.int64)
    large = np.empty(m, dtype=np.int64)
    ns = 0
    nl = 0
    for i in range(m - 1, -1, -1):
        if p[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        nl -= 1
        g = large[nl]
        prob[s] = p[s]
        alias[s] = g
        p[g] = p[g] + p[s] - 1.0
        if p[g] < 1.0:
            small[ns] = g
            ns += 1
        else:
            large[nl] = g
            nl += 1
    return prob, alias


@njit(cache=True, nogil=True)
def _draw(prob, alias):  # pragma: no cover - compiled
    m = prob.shape[0]
    k = int(np.random.random() * m)
    if k >= m:
        k = m - 1
    return k if np.random.random() < prob[k] else alias[k]


@njit(cache=True, nogil=True)
def largevis_sgd(Y, src, dst, e_prob, e_alias, n_prob, n_alias, n_samples, n_neg, gamma, rho0, clip,
                 seed):  # pragma: no cover - compiled
    """``n_samples`` SGD steps in place on ``Y [n, m]`` (see :class:`LargeVis`); numba's generator of the
    calling thread is seeded with ``seed`` first, so the result is a function of the arguments."""
    np.random.seed(seed)
    m = Y.shape[1]
    cur = np.empty(m)
    err = np.empty(m)
    for t in range(n_samples):
        rho = rho0 * (1.0 - t / (n_samples + 1.0))
        if rho < rho0 * 1e-4:
            rho = rho0 * 1e-4
        e = _draw(e_prob, e_alias)
        x = src[e]
        pos = dst[e]
        for c in range(m):
            cur[c] = Y[x, c]
            err[c] = 0.0
        for s in range(n_neg + 1):
            if s == 0:
                y = pos
            else:
                y = _draw(n_prob, n_alias)
                if y == pos or y == x:
                    continue
            f = 0.0
            for c in range(m):
                diff = cur[c] - Y[y, c]
                f += diff * diff
            if s == 0:
                g = -2.0 / (1.0 + f)
            else:
                g = 2.0 * gamma / ((1.0 + f) * (0.1 + f))
            for c in range(m):
                gg = g * (cur[c] - Y[y, c])
                if gg > clip:
                    gg = clip
                elif gg < -clip:
                    gg = -clip
                err[c] += gg * rho
                Y[y, c] -= gg * rho
        for c in range(m):
            Y[x, c] += err[c]
    return Y
