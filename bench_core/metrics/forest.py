"""Extremely randomized trees (Geurts, Ernst & Wehenkel, Machine Learning 2006), compiled with numba.

The selectors protocol fits ExtraTrees(50) for every k of every job (tens of thousands of forests in the
standard profile). scikit-learn's ``ExtraTreesClassifier`` spends about 5 ms of Python per tree, so a forest
costs at least ~0.25 s even on 50 rows; this implementation builds the same model without that overhead.

It follows scikit-learn's ``ExtraTreesClassifier`` defaults exactly in *algorithm* (the random numbers, and so
individual trees, differ): no bootstrap; at each node, ``max_features = max(1, floor(sqrt(d)))`` features are
drawn without replacement (features found constant, max − min <= 1e-7 on the node's samples, count as drawn,
are remembered for the node's subtree, and drawing goes on while every drawn feature was constant); each
non-constant one gets one threshold drawn uniformly in [min, max) (samples with x <= threshold go left); the
candidate with the largest Gini impurity decrease wins; a node becomes a leaf when it is pure, has fewer than
2 samples, or has no non-constant feature left. Trees are grown to purity. The forest predicts the class
with the highest mean leaf class probability (ties: the lowest class index).
``tests/test_fast_evaluators.py`` checks that its accuracy matches scikit-learn's in distribution.
"""

from __future__ import annotations

import math

import numpy as np



class ExtraTrees:
    """``ExtraTrees(n_estimators, random_state).fit(X, y).predict(X)`` for integer class labels."""

    def __init__(self, n_estimators: int = 50, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> "ExtraTrees":
        from bench_core.metrics._forest_kernels import build_tree

        X = np.asfortranarray(X, dtype=np.float64)  # a node scans one column at a time
        self.classes_, yi = np.unique(y, return_inverse=True)
        n, d = X.shape
        k = len(self.classes_)
        max_features = max(1, int(math.sqrt(d)))
        seeds = np.random.default_rng(self.random_state).integers(0, 2**31 - 1, self.n_estimators)
        self.trees_ = []
        cap = 2 * n + 1
        for s in seeds:
            feature = np.empty(cap, np.int64)
            threshold = np.empty(cap, np.float64)
            left = np.empty(cap, np.int64)
            right = np.empty(cap, np.int64)
            value = np.empty((cap, k), np.float64)
            used = build_tree(X, yi.astype(np.int64), k, max_features, int(s), feature, threshold, left, right, value)
            self.trees_.append((feature[:used].copy(), threshold[:used].copy(), left[:used].copy(),
                                right[:used].copy(), value[:used].copy()))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        from bench_core.metrics._forest_kernels import add_proba

        X = np.ascontiguousarray(X, dtype=np.float64)
        out = np.zeros((X.shape[0], len(self.classes_)))
        for tree in self.trees_:
            add_proba(X, *tree, out)
        return out / len(self.trees_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
