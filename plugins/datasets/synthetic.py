"""Synthetic classification generators with known relevant features.

Every generator is deterministic given its ``seed``, returns class labels (never soft probabilities), and
records its ground truth in column indices of the returned ``X``:

- ``strict``: the truly informative features, ordered from most to least important where the generator
  defines an order (the oracle control uses that order);
- ``lenient``: every relevant feature (informative plus redundant or repeated copies).

Columns are permuted by a recorded permutation drawn from the seed, so relevant features never sit at a
fixed position (a method that prefers low column indices gains nothing).
"""

from __future__ import annotations

import numpy as np

from bench_core.data import RawData


def _permute(X: np.ndarray, groups: dict[str, list[int]], rng: np.random.Generator):
    """Shuffle columns with ``rng``; map the ground-truth column lists through the permutation."""
    perm = rng.permutation(X.shape[1])  # new column j holds old column perm[j]
    where = np.empty_like(perm)
    where[perm] = np.arange(len(perm))  # old column c is now at where[c]
    return X[:, perm], {k: [int(where[c]) for c in v] for k, v in groups.items()}, perm


def classification(
    n_samples: int = 1000, n_features: int = 50, n_informative: int = 5, n_redundant: int = 5,
    n_repeated: int = 0, n_classes: int = 2, n_clusters_per_class: int = 2, class_sep: float = 1.0,
    flip_y: float = 0.01, seed: int = 0,
) -> RawData:
    """scikit-learn's ``make_classification`` with ``shuffle=False`` (so the column roles are known:
    informative, redundant, repeated, noise), then our own recorded row and column permutations.

    Redundant features are random linear combinations of the informative ones and repeated ones are copies,
    so they are relevant (lenient ground truth) but not necessary (strict ground truth = informative only).
    """
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=n_informative, n_redundant=n_redundant,
        n_repeated=n_repeated, n_classes=n_classes, n_clusters_per_class=n_clusters_per_class,
        class_sep=class_sep, flip_y=flip_y, shuffle=False, random_state=seed,
    )
    rng = np.random.default_rng([seed, 1])
    rows = rng.permutation(n_samples)
    X, y = X[rows], y[rows]
    n_rel = n_informative + n_redundant + n_repeated
    X, gt, perm = _permute(X, {"strict": list(range(n_informative)), "lenient": list(range(n_rel))}, rng)
    return RawData(X=X, y=y, ground_truth=gt, info={"column_permutation": [int(p) for p in perm]})


GENERATORS = {
    "synthetic.classification": classification,
}
