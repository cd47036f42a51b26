"""Seeded stratified subsamples of a split's rows: how a profile caps the size of one job's data.

A protocol that must fit a time budget can cap the rows it hands to a method (the reducers track's
``max_train_rows`` and ``max_test_rows``). The cap keeps the split's meaning: the subsample is drawn from
the split's own training (or test) rows, after the split's preprocessing, stratified by label so that
every class keeps its share, and it depends only on the card's split seed, the split index and which part
it is, never on the method or the job's order. Every method of a split therefore sees the same rows.

Allocation (:func:`stratified_subsample`) of ``m`` of ``n`` rows over classes with ``n_c`` rows each: class
``c`` gets ``⌊m·n_c/n⌋`` rows, and the ``m − Σ⌊·⌋`` rows left over go one each to the classes with the
largest fractional parts ``m·n_c/n − ⌊m·n_c/n⌋`` (ties broken in a seeded random order, so no class is
favoured by its position). So exactly ``m`` rows are drawn and each class gets its proportional share
rounded down or up. Within a class the rows are the first of a seeded permutation. With ``n ≤ m`` nothing is
drawn: all rows, in their order (a cap above the data's size changes nothing).
"""

from __future__ import annotations

import numpy as np

from bench_core.data.dataset import Split

#: Salts of the two streams (training and test rows), so the two draws are independent.
TRAIN_STREAM, TEST_STREAM = 1, 2


def stratified_subsample(y: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of a stratified subsample of ``m`` of the ``len(y)`` rows (all of them if
    ``len(y) <= m``); see the module docstring for the allocation."""
    y = np.asarray(y)
    n = len(y)
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"a row cap must be a positive integer, not {m!r}")
    if n <= m:
        return np.arange(n, dtype=np.int64)
    classes, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    quota = m * counts / n
    alloc = np.floor(quota).astype(np.int64)
    left = int(m - alloc.sum())
    if left:
        order = rng.permutation(len(classes))  # random tie-break, then a stable sort by fractional part
        frac = (quota - alloc)[order]
        alloc[order[np.argsort(-frac, kind="stable")[:left]]] += 1
    picked = [rng.permutation(np.flatnonzero(inverse == c))[:a] for c, a in enumerate(alloc) if a]
    return np.sort(np.concatenate(picked)).astype(np.int64)


def split_rng(split_seed: int, split: int, stream: int) -> np.random.Generator:
    """The generator of one part (``stream``) of split ``split`` of a card whose split seed is
    ``split_seed``: a function of these three numbers only."""
    return np.random.default_rng([int(split_seed), int(split), 0x5CA1E, int(stream)])


def cap_split(sp: Split, max_train: int | None, max_test: int | None, split_seed: int, split: int) -> Split:
    """``sp`` with its training rows capped at ``max_train`` and its test rows at ``max_test`` (``None``: no
    cap), each a stratified subsample (:func:`stratified_subsample`) from its own stream of
    :func:`split_rng`. ``train_idx``/``test_idx`` stay the rows' indices in the full dataset."""
    tr = np.arange(len(sp.y_train)) if max_train is None else stratified_subsample(
        sp.y_train, max_train, split_rng(split_seed, split, TRAIN_STREAM))
    te = np.arange(len(sp.y_test)) if max_test is None else stratified_subsample(
        sp.y_test, max_test, split_rng(split_seed, split, TEST_STREAM))
    if len(tr) == len(sp.y_train) and len(te) == len(sp.y_test):
        return sp
    return Split(sp.X_train[tr], sp.y_train[tr], sp.X_test[te], sp.y_test[te], sp.train_idx[tr], sp.test_idx[te])
