"""A third-party reducer plugin (loaded with FEATBENCH_PLUGIN_MODULES): the first two coordinates of a
seeded random rotation after centring."""

from __future__ import annotations

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.base import Tags
from bench_core.tracks.reducers import Reducer


class RotatedCoordinates(Reducer):
    """Two coordinates of a seeded random rotation of the centred data."""

    name = "rotated_coordinates"
    version = "1"
    tags = Tags(supervised=False, stochastic=True)
    transform_exact = True

    def fit_transform(self, X, n_components, ctx):
        self._mu = X.mean(0)
        Q, _ = np.linalg.qr(ctx.rng(1).normal(size=(X.shape[1], X.shape[1])))
        self._W = Q[:, :n_components]
        return (X - self._mu) @ self._W

    def transform(self, X):
        return (X - self._mu) @ self._W


@hookimpl
def featbench_register_reducers(register):
    register.add(RotatedCoordinates)
