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


def read_projection_survey(path: Path) -> RawData:
    """One of Espadoto et al.'s projection-survey sets: ``X.npy`` (or ``X.csv.gz``, comma-separated, no header)
    named by the card, and the labels ``y.npy`` next to it (covered by the card's data checksum)."""
    if path.name.endswith(".csv.gz"):
        X = np.loadtxt(path, delimiter=",", dtype=np.float32)
    else:
        X = np.load(path, allow_pickle=False)
    y = np.load(path.parent / "y.npy", allow_pickle=False)
    return RawData(X=np.asarray(X, dtype=np.float32), y=np.asarray(y).ravel())


def read_mammoth(path: Path, n_labels: int = 10) -> RawData:
    """PaCMAP's mammoth point cloud: a JSON list of ``[x, y, z]``. It has no labels; ``y`` = KMeans
    (``n_labels`` clusters, ``random_state=0``) on the coordinates, used only to score (neighbourhood hit,
    centroid triplets) and to stratify the split."""
    import json

    from sklearn.cluster import KMeans

    X = np.asarray(json.loads(path.read_text()), dtype=np.float64)
    y = KMeans(n_labels, n_init=3, random_state=0).fit_predict(X)
    return RawData(X=X, y=y.astype(np.int64))


READERS = {
    "mat": read_mat,
    "csv": read_csv_table,
    "projection_survey": read_projection_survey,
    "mammoth": read_mammoth,
}
