"""Readers of files in the data directory (``FEATBENCH_DATA_DIR``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench_core.data import RawData


def read_mat(path: Path, x_key: str = "X", y_key: str = "Y") -> RawData:
    """A MATLAB v5 file with a feature matrix and a label vector (the scikit-feature repository's format)."""
    from scipy.io import loadmat

    m = loadmat(path)
    X = m[x_key]
    if hasattr(X, "toarray"):
        X = X.toarray()
    return RawData(X=np.asarray(X, dtype=np.float64), y=np.asarray(m[y_key]).ravel())


def read_csv_table(path: Path, label: str, drop: list[str] | None = None, group: str | None = None,
                   group_regex: str | None = None) -> RawData:
    """A CSV table: the ``label`` column is the class, ``drop`` columns are ignored, the rest are features
    (non-numeric cells become NaN, for the card's train-fold imputation). ``group`` names a column whose
    value (or the first capture of ``group_regex`` in it) groups rows for grouped splits."""
    import pandas as pd

    df = pd.read_csv(path)
    y = df[label].astype(str).to_numpy()
    groups = None
    if group is not None:
        g = df[group].astype(str)
        groups = (g.str.extract(group_regex, expand=False) if group_regex else g).to_numpy()
    X = df.drop(columns=[label, *(drop or [])]).apply(pd.to_numeric, errors="coerce")
    return RawData(X=X.to_numpy(dtype=np.float64), y=y, feature_names=list(X.columns), groups=groups)


READERS = {
    "mat": read_mat,
    "csv": read_csv_table,
}
