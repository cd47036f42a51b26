"""Control reducers: where a reducer must land above (true coordinates) or below (random projection), and
the linear baseline (PCA)."""

from __future__ import annotations

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.base import Tags
from bench_core.tracks.reducers import Reducer


class PCAReducer(Reducer):
    """Principal component analysis (scikit-learn, full SVD): the linear baseline."""

    name = "pca"
    version = "1"
    tags = Tags(supervised=False, wraps="scikit-learn")
    transform_exact = True

    def fit_transform(self, X, n_components, ctx):
        from sklearn.decomposition import PCA

        self._model = PCA(n_components, svd_solver="full")
        return self._model.fit_transform(X)

    def transform(self, X):
        return self._model.transform(X)


class RandomProjection(Reducer):
    """Negative control: a Gaussian random projection (scikit-learn), entries N(0, 1/n_components), seeded."""

    name = "random_projection"
    version = "1"
    tags = Tags(supervised=False, stochastic=True, control="negative", wraps="scikit-learn")
    transform_exact = True

    def fit_transform(self, X, n_components, ctx):
        from sklearn.random_projection import GaussianRandomProjection

        self._model = GaussianRandomProjection(n_components, random_state=int(ctx.rng(3).integers(0, 2**31)))
        return self._model.fit_transform(X)

    def transform(self, X):
        return self._model.transform(X)


class TrueCoordinates(Reducer):
    """Positive control (data with known intrinsic coordinates only): returns the rows' latent coordinates
    (``ctx.latent``), so it preserves the intrinsic geometry exactly. It cannot embed new points."""

    name = "true_coordinates"
    version = "1"
    tags = Tags(supervised=False, control="positive", requires=("latent_coordinates",))

    def fit_transform(self, X, n_components, ctx):
        L = np.asarray(ctx.latent, dtype=np.float64)
        if L.shape[0] != X.shape[0] or L.shape[1] < n_components:
            raise ValueError(f"latent coordinates {L.shape} do not fit X {X.shape} with {n_components} components")
        return L[:, :n_components].copy()


@hookimpl
def featbench_register_reducers(register) -> None:
    for cls in (PCAReducer, RandomProjection, TrueCoordinates):
        register.add(cls)
