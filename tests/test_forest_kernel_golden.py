"""The numba ExtraTrees kernel grows exactly the trees it grew before its speed-ups.

The golden digest below was computed with the kernel as of commit 31c5466 (before the node's column was
gathered into a buffer): the trees' split features, the thresholds, children and class values of their inner
nodes and leaves, and the forest's probabilities on shifted rows, on three data sets that exercise dense,
sparse (mostly-zero columns, so many constant features at a node) and tied/constant columns with 2–4 classes.
A change of the kernel that changes any tree changes the protocol's ExtraTrees scores, and so needs a
protocol version bump, not a new digest.
"""

from __future__ import annotations

import hashlib

import numpy as np

from bench_core.metrics.forest import ExtraTrees

GOLDEN = "55991acbe02cffde1cb386cf7cee816a7ba6a8b3b1ac0c1333e5037a3136e134"


def _cases():
    r = np.random.default_rng(0)
    X = r.normal(size=(300, 40))
    yield X, (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    Xs = r.normal(size=(400, 300)) * (r.random((400, 300)) < 0.03)
    yield Xs, r.integers(0, 4, 400)
    X3 = np.round(r.normal(size=(250, 20)), 1)
    X3[:, 5] = 1.0
    yield X3, r.integers(0, 3, 250)


def _digest() -> str:
    h = hashlib.sha256()
    for X, y in _cases():
        model = ExtraTrees(7, random_state=3).fit(X, y)
        for feature, threshold, left, right, value in model.trees_:
            inner = feature >= 0  # a leaf's threshold and children are never written (nor read)
            for a in (feature, threshold[inner], left[inner], right[inner], value):
                h.update(np.ascontiguousarray(a).tobytes())
        h.update(model.predict_proba(X[:50] + 0.05).tobytes())
    return h.hexdigest()


def test_the_kernel_grows_the_same_trees_as_before():
    assert _digest() == GOLDEN
