"""Split materialisation and the checksums of data and splits.

The split algorithms are written here with NumPy's ``Generator`` (PCG64) rather than taken from
scikit-learn, so that a library upgrade cannot silently move the split indices: the card pins their
SHA-256, and any change is caught at load time.

``stratified_shuffle``
    ``n_splits`` independent splits. For each class with ``n_c`` rows, ``round(test_fraction * n_c)`` rows
    (at least 1 when ``n_c >= 2``, and never all of them) go to the test part, chosen by a fresh permutation.
``stratified_group_shuffle``
    like ``stratified_shuffle``, but whole groups (e.g. all replicate measurements of one subject, given by
    the loader's ``groups``) go to one side: per class, ``round(test_fraction * n_groups_c)`` of its groups go
    to the test part. A group's class is its most frequent label.
``predefined``
    the loader's own ``splits`` (``RawData.splits``), for data whose partition is part of its definition: a
    planted-dictionary set whose training and evaluation rows come from separate generator seeds, say. A
    loader that gives one pair has it repeated for each of the card's ``n_splits`` (seeds then differ only in
    the method's own randomness); otherwise it must give exactly ``n_splits`` pairs.
``stratified_kfold``
    ``repeats`` × ``folds`` splits; split ``i`` is fold ``i % folds`` of repeat ``i // folds``. Within a
    repeat each class is permuted and dealt round-robin into the folds (after a random rotation so that small
    classes do not always land in the first folds).

Indices are sorted ``int64`` arrays.
"""

from __future__ import annotations

import hashlib

import numpy as np

from bench_core.data.cards import SplitSpec


def _n_test(n: int, fraction: float) -> int:
    if n < 2:
        return 0
    return min(max(int(round(fraction * n)), 1), n - 1)


def _predefined(n: int, spec: SplitSpec, given) -> list[tuple[np.ndarray, np.ndarray]]:
    if not given:
        raise ValueError("split method predefined needs `splits` from the dataset's loader")
    pairs = [(np.sort(np.asarray(tr, dtype=np.int64)), np.sort(np.asarray(te, dtype=np.int64))) for tr, te in given]
    if len(pairs) == 1:
        pairs = pairs * spec.n_splits
    if len(pairs) != spec.n_splits:
        raise ValueError(f"the loader gave {len(given)} predefined splits, the card declares n_splits = {spec.n_splits}")
    for tr, te in pairs:
        if len(tr) == 0 or len(te) == 0 or tr.min() < 0 or te.min() < 0 or max(tr.max(), te.max()) >= n:
            raise ValueError(f"a predefined split has an empty part or indices outside [0, {n})")
        if np.intersect1d(tr, te).size:
            raise ValueError("a predefined split has rows on both sides")
    return pairs


def make_splits(y: np.ndarray, spec: SplitSpec, groups: np.ndarray | None = None,
                predefined=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Materialise the (train, test) index pairs of ``spec`` for labels ``y`` (and ``groups`` if grouped,
    ``predefined`` pairs for the ``predefined`` method)."""
    y = np.asarray(y)
    if spec.method == "predefined":
        return _predefined(len(y), spec, predefined)
    classes = np.unique(y)
    by_class = [np.flatnonzero(y == c) for c in classes]
    out: list[tuple[np.ndarray, np.ndarray]] = []
    if spec.method == "stratified_group_shuffle":
        if groups is None:
            raise ValueError("split method stratified_group_shuffle needs groups from the dataset's loader")
        group_ids, inverse = np.unique(np.asarray(groups), return_inverse=True)
        group_class = np.array([np.bincount(y[inverse == g]).argmax() for g in range(len(group_ids))])
        for i in range(spec.n_splits):
            rng = np.random.default_rng([spec.seed, i])
            test_groups = []
            for c in classes:
                gs = np.flatnonzero(group_class == c)
                test_groups.append(rng.permutation(gs)[:_n_test(len(gs), spec.test_fraction)])
            in_test = np.isin(inverse, np.concatenate(test_groups))
            out.append((np.flatnonzero(~in_test).astype(np.int64), np.flatnonzero(in_test).astype(np.int64)))
    elif spec.method == "stratified_shuffle":
        for i in range(spec.n_splits):
            rng = np.random.default_rng([spec.seed, i])
            test_parts = []
            for idx in by_class:
                test_parts.append(rng.permutation(idx)[:_n_test(len(idx), spec.test_fraction)])
            test = np.sort(np.concatenate(test_parts)).astype(np.int64)
            train = np.setdiff1d(np.arange(len(y), dtype=np.int64), test, assume_unique=True)
            out.append((train, test))
    elif spec.method == "stratified_kfold":
        for r in range(spec.repeats):
            rng = np.random.default_rng([spec.seed, r])
            fold_of = np.empty(len(y), dtype=np.int64)
            for idx in by_class:
                perm = rng.permutation(idx)
                offset = int(rng.integers(spec.folds))
                fold_of[perm] = (np.arange(len(perm)) + offset) % spec.folds
            for f in range(spec.folds):
                test = np.flatnonzero(fold_of == f).astype(np.int64)
                train = np.flatnonzero(fold_of != f).astype(np.int64)
                out.append((train, test))
    else:  # pragma: no cover - cards are validated
        raise ValueError(f"unknown split method {spec.method!r}")
    return out


def splits_checksum(splits: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """SHA-256 over every split's train and test indices (little-endian int64), in order."""
    h = hashlib.sha256()
    for i, (train, test) in enumerate(splits):
        h.update(f"split{i}:train:".encode())
        h.update(np.ascontiguousarray(train, dtype="<i8").tobytes())
        h.update(b":test:")
        h.update(np.ascontiguousarray(test, dtype="<i8").tobytes())
    return h.hexdigest()


def data_checksum(X: np.ndarray, y: np.ndarray, arrays=None, inputs: str | None = None) -> str:
    """SHA-256 of the materialised data: shapes, then X rounded to little-endian float32, then y as int64,
    then each extra named array (``arrays``, in name order) rounded the same way.

    Data computed by a model (a transformer's activations, a trained network's hidden layers) can differ in
    the last bits between CPUs or thread counts, so its loader pins ``inputs`` instead: a SHA-256 of
    everything that determines the data (model weights, input text, code version, settings). The checksum is
    then taken over ``inputs`` and the shapes only.

    Rounding to float32 makes the checksum robust to last-bit differences between BLAS kernels or math
    libraries of different CPUs (a generator that multiplies matrices may differ in the 16th digit); a value
    changes its float32 rounding only when it lies within ~1e-16 relative of a float32 boundary, about 2e-9
    per value. NaN (missing values) hash as one canonical bit pattern.
    """
    h = hashlib.sha256()
    if inputs is not None:
        h.update(f"inputs:{inputs}:X{np.shape(X)}:y{np.shape(y)}".encode())
        for name in sorted(arrays or {}):
            h.update(f":{name}{np.shape(arrays[name])}".encode())
        return h.hexdigest()

    def f4(a):
        a = np.ascontiguousarray(a, dtype="<f4").copy()
        a[np.isnan(a)] = np.nan  # canonical NaN payload
        return a

    X = f4(X)
    h.update(f"X{X.shape}".encode())
    h.update(X.tobytes())
    h.update(f"y{np.shape(y)}".encode())
    h.update(np.ascontiguousarray(y, dtype="<i8").tobytes())
    for name in sorted(arrays or {}):
        a = np.asarray(arrays[name])
        a = f4(a) if a.dtype.kind == "f" else np.ascontiguousarray(a, dtype="<i8")
        h.update(f":{name}{a.shape}{a.dtype.str}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def file_checksum(path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def duplicate_rows_across(X: np.ndarray, train: np.ndarray, test: np.ndarray) -> int:
    """Leakage check: how many test rows have an exact duplicate (same feature vector) among train rows."""
    Xc = np.ascontiguousarray(X)
    row_bytes = Xc.shape[1] * Xc.dtype.itemsize
    view = Xc.view(np.dtype((np.void, row_bytes))).ravel()
    train_rows = set(view[train].tolist())
    return int(sum(1 for r in view[test].tolist() if r in train_rows))
