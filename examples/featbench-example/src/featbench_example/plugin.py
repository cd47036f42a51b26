"""The plugin module named by the entry point: hook implementations and the method they register."""

from __future__ import annotations

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.base import Tags
from bench_core.tracks.selectors import Selector


class AbsCorrelation(Selector):
    """Absolute Pearson correlation between each feature and the (one-vs-rest) class indicators, maximised
    over classes; constant features score 0."""

    name = "abs_correlation"
    version = "1"
    tags = Tags(supervised=True)

    def rank(self, X, y, ctx):
        Xc = X - X.mean(axis=0)
        sx = np.sqrt((Xc**2).sum(axis=0))
        best = np.zeros(X.shape[1])
        for c in np.unique(y):
            t = (y == c).astype(float)
            t -= t.mean()
            st = np.sqrt((t**2).sum())
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.abs(Xc.T @ t) / (sx * st)
            best = np.maximum(best, np.nan_to_num(r, nan=0.0))
        return best


@hookimpl
def featbench_register_selectors(register):
    register.add(AbsCorrelation)
