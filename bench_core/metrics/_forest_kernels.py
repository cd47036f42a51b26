"""numba kernels of :mod:`bench_core.metrics.forest` (imported lazily: numba is heavy to import)."""

import numpy as np
from numba import njit

from bench_core.numba_cache import configure as _configure_numba_cache

_configure_numba_cache()  # compiled kernels are cached under the featbench cache, never in the package

FEATURE_THRESHOLD = 1e-7


@njit(cache=True, nogil=True)
def build_tree(X, y, n_classes, max_features, seed, feature, threshold, left, right, value):  # pragma: no cover
    """Grow one extremely randomized tree on Fortran-ordered X; return the number of nodes.

    Feature sampling follows scikit-learn's RandomSplitter: features are drawn without replacement; features
    found constant at a node are moved to a prefix inherited by its children (never drawn again below it);
    drawing stops after ``max_features`` visits (constant ones included) unless every visited feature so far
    was constant.

    A candidate feature's values at the node are gathered once into a contiguous buffer (with the labels of
    the node's rows, gathered once per node), and the split count reads that buffer, not ``X`` again through
    the row index: the same arithmetic in the same order, so the same trees, with half the scattered reads.
    """
    np.random.seed(seed)
    n, d = X.shape
    idx = np.arange(n)
    feats = np.arange(d)
    cap = 2 * n + 2
    st_start = np.empty(cap, np.int64)
    st_end = np.empty(cap, np.int64)
    st_node = np.empty(cap, np.int64)
    st_const = np.empty(cap, np.int64)
    counts = np.zeros(n_classes, np.float64)
    cl = np.zeros(n_classes, np.float64)
    xf = np.empty(n, np.float64)  # the current candidate's values at the node, in the node's row order
    yf = np.empty(n, np.int64)  # the labels of the node's rows, in the same order
    st_start[0], st_end[0], st_node[0], st_const[0] = 0, n, 0, 0
    top = 1
    n_nodes = 1
    while top > 0:
        top -= 1
        start, end, node, n_known = st_start[top], st_end[top], st_node[top], st_const[top]
        m = end - start
        counts[:] = 0.0
        for i in range(start, end):
            c = y[idx[i]]
            yf[i - start] = c
            counts[c] += 1.0
        gini_parent = 1.0
        for c in range(n_classes):
            value[node, c] = counts[c] / m
            gini_parent -= (counts[c] / m) ** 2
        feature[node] = -1
        if m < 2 or gini_parent <= 1e-12:
            continue
        best_gain, best_f, best_t = -1.0, -1, 0.0
        f_i = d
        visited = 0
        found_const = 0
        drawn_const = 0
        total_const = n_known
        while f_i > total_const and (visited < max_features or visited <= found_const + drawn_const):
            visited += 1
            f_j = drawn_const + np.random.randint(0, f_i - found_const - drawn_const)
            if f_j < n_known:
                tmp = feats[drawn_const]
                feats[drawn_const] = feats[f_j]
                feats[f_j] = tmp
                drawn_const += 1
                continue
            f_j += found_const
            f = feats[f_j]
            lo = X[idx[start], f]
            hi = lo
            xf[0] = lo
            for i in range(start + 1, end):
                v = X[idx[i], f]
                xf[i - start] = v
                if v < lo:
                    lo = v
                elif v > hi:
                    hi = v
            if hi <= lo + FEATURE_THRESHOLD:
                feats[f_j] = feats[total_const]
                feats[total_const] = f
                found_const += 1
                total_const += 1
                continue
            f_i -= 1
            feats[f_j] = feats[f_i]
            feats[f_i] = f
            t = lo + np.random.random() * (hi - lo)
            if t >= hi:
                t = lo
            cl[:] = 0.0
            nl = 0.0
            for i in range(m):
                if xf[i] <= t:
                    cl[yf[i]] += 1.0
                    nl += 1.0
            nr = m - nl
            gl = 1.0
            gr = 1.0
            for c in range(n_classes):
                gl -= (cl[c] / nl) ** 2
                gr -= ((counts[c] - cl[c]) / nr) ** 2
            gain = gini_parent - (nl / m) * gl - (nr / m) * gr
            if gain > best_gain:
                best_gain, best_f, best_t = gain, f, t
        if best_f < 0:
            continue
        i, j = start, end - 1
        while i <= j:
            if X[idx[i], best_f] <= best_t:
                i += 1
            else:
                tmp = idx[i]
                idx[i] = idx[j]
                idx[j] = tmp
                j -= 1
        feature[node] = best_f
        threshold[node] = best_t
        left[node] = n_nodes
        right[node] = n_nodes + 1
        st_start[top], st_end[top], st_node[top], st_const[top] = start, i, n_nodes, total_const
        top += 1
        st_start[top], st_end[top], st_node[top], st_const[top] = i, end, n_nodes + 1, total_const
        top += 1
        n_nodes += 2
    return n_nodes


@njit(cache=True, nogil=True)
def add_proba(X, feature, threshold, left, right, value, out):  # pragma: no cover
    """Add one tree's leaf class probabilities for the rows of C-ordered X to ``out``."""
    for i in range(X.shape[0]):
        node = 0
        while feature[node] >= 0:
            if X[i, feature[node]] <= threshold[node]:
                node = left[node]
            else:
                node = right[node]
        out[i, :] += value[node, :]
