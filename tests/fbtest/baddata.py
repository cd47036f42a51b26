"""Datasets with bad values (NaN, inf, one class) and the cards of FEATBENCH_BADDATA_CARDS (a directory).

Loaded with FEATBENCH_PLUGIN_MODULES=fbtest.baddata.
"""

from __future__ import annotations

import os

import numpy as np

from bench_core import hookimpl
from bench_core.data import RawData


def bad(kind: str = "nan", n: int = 60, d: int = 5) -> RawData:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    y = np.arange(n) % 2
    if kind == "nan":
        X[3, 2] = np.nan
    elif kind == "inf":
        X[4, 1] = np.inf
    elif kind == "oneclass":
        y = np.zeros(n, dtype=int)
    elif kind == "nan_label":
        y = y.astype(float)
        y[5] = np.nan
    return RawData(X=X, y=y)


@hookimpl
def featbench_register_datasets(register):
    register.add_loader("fbtest.bad", bad)
    register.add_cards(os.environ["FEATBENCH_BADDATA_CARDS"])
