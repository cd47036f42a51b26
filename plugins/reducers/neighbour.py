"""Neighbour-embedding reducers, wrapping the maintained libraries: t-SNE (openTSNE's FIt-SNE and
scikit-learn's Barnes–Hut), UMAP (umap-learn), PaCMAP (pacmap) and TriMap (trimap). Each runs on one
thread (the harness pins the threads) with the job's seed. The numba libraries compile on first use:
``warm_up`` runs them once on data of the size class the jobs use, so the compile time is not charged to
the first fit."""

from __future__ import annotations

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.base import Tags
from bench_core.tracks.reducers import Reducer


def _seed(ctx, salt: int) -> int:
    return int(ctx.rng(salt).integers(0, 2**31 - 1))


def _warm_data(n: int = 300, d: int = 5) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, d))


class OpenTSNE(Reducer):
    """t-SNE by FIt-SNE interpolation (openTSNE; Poličar et al. 2024, Linderman et al. 2019): perplexity 30,
    PCA initialisation, learning rate n/12, 250 early-exaggeration iterations then ``n_iter``. Embeds new
    points (``transform``: openTSNE's optimisation of the new points against the fixed embedding)."""

    name = "opentsne"
    version = "1"
    params = {"perplexity": 30.0, "early_exaggeration_iter": 250, "n_iter": 500}
    profile_params = {"smoke": {"early_exaggeration_iter": 50, "n_iter": 100},
                      "quick": {"early_exaggeration_iter": 100, "n_iter": 200}}
    tags = Tags(supervised=False, stochastic=True, wraps="openTSNE")

    @classmethod
    def warm_up(cls) -> None:
        import openTSNE

        openTSNE.TSNE(n_iter=10, early_exaggeration_iter=10, random_state=0).fit(_warm_data())

    def fit_transform(self, X, n_components, ctx):
        import openTSNE

        p = self.params
        perplexity = min(p["perplexity"], (X.shape[0] - 1) / 3)
        self._emb = openTSNE.TSNE(n_components=n_components, perplexity=perplexity, n_iter=p["n_iter"],
                                  early_exaggeration_iter=p["early_exaggeration_iter"], n_jobs=1,
                                  random_state=_seed(ctx, 21)).fit(np.ascontiguousarray(X, dtype=np.float64))
        return np.asarray(self._emb)

    def transform(self, X):
        return np.asarray(self._emb.transform(np.ascontiguousarray(X, dtype=np.float64)))


class SklearnTSNE(Reducer):
    """t-SNE by Barnes–Hut (scikit-learn): perplexity 30, PCA initialisation, learning rate "auto"."""

    name = "tsne_sklearn"
    version = "1"
    params = {"perplexity": 30.0, "max_iter": 1000}
    profile_params = {"smoke": {"max_iter": 250}, "quick": {"max_iter": 300}}
    tags = Tags(supervised=False, stochastic=True, wraps="scikit-learn")

    def fit_transform(self, X, n_components, ctx):
        from sklearn.manifold import TSNE

        perplexity = min(self.params["perplexity"], (X.shape[0] - 1) / 3)
        return TSNE(n_components, perplexity=perplexity, init="pca", learning_rate="auto",
                    max_iter=self.params["max_iter"], random_state=_seed(ctx, 23), n_jobs=1).fit_transform(X)


class UMAP(Reducer):
    """UMAP (McInnes, Healy & Melville 2018; umap-learn): 15 neighbours, min_dist 0.1, spectral
    initialisation; a fixed ``random_state`` makes its optimisation single-threaded and reproducible.
    Embeds new points (``transform``)."""

    name = "umap"
    version = "1"
    params = {"n_neighbors": 15, "min_dist": 0.1, "n_epochs": None}
    profile_params = {"smoke": {"n_epochs": 50}, "quick": {"n_epochs": 100}}
    tags = Tags(supervised=False, stochastic=True, wraps="umap-learn")

    @classmethod
    def warm_up(cls) -> None:
        import warnings

        import umap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = umap.UMAP(n_epochs=10, random_state=0).fit(_warm_data())
            m.transform(_warm_data(50))

    def fit_transform(self, X, n_components, ctx):
        import warnings

        import umap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", spectral-init notes
            self._model = umap.UMAP(n_components=n_components, n_neighbors=min(self.params["n_neighbors"], X.shape[0] - 1),
                                    min_dist=self.params["min_dist"], n_epochs=self.params["n_epochs"],
                                    random_state=_seed(ctx, 25))
            return self._model.fit_transform(X)

    def transform(self, X):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._model.transform(X)


class PaCMAP(Reducer):
    """PaCMAP (Wang, Huang, Rudin & Shaposhnik, JMLR 2021; pacmap): 10 neighbours, MN ratio 0.5, FP ratio
    2.0, PCA initialisation, (100, 100, 250) iterations, inputs above 100 dimensions reduced to 100 PCs."""

    name = "pacmap"
    version = "1"
    params = {"n_neighbors": 10, "MN_ratio": 0.5, "FP_ratio": 2.0, "num_iters": [100, 100, 250]}
    profile_params = {"smoke": {"num_iters": [50, 50, 100]}}
    tags = Tags(supervised=False, stochastic=True, wraps="pacmap")

    @classmethod
    def warm_up(cls) -> None:
        import pacmap

        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            pacmap.PaCMAP(num_iters=(5, 5, 5), random_state=0).fit_transform(_warm_data(), init="pca")

    def fit_transform(self, X, n_components, ctx):
        import pacmap

        p = self.params
        model = pacmap.PaCMAP(n_components=n_components, n_neighbors=min(p["n_neighbors"], X.shape[0] - 2),
                              MN_ratio=p["MN_ratio"], FP_ratio=p["FP_ratio"], num_iters=tuple(p["num_iters"]),
                              random_state=_seed(ctx, 27))
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):  # pacmap prints "Warning: random state is set to ..."
            return model.fit_transform(np.ascontiguousarray(X, dtype=np.float32), init="pca")


class TriMap(Reducer):
    """TriMap (Amid & Warmuth 2019; trimap): 12 inliers, 4 outliers, 3 random triplets per point, 400
    iterations. trimap draws from numba's generator inside parallel loops, where every thread has its own
    unseeded stream: the fit runs its numba loops on one thread (restored afterwards) with that generator
    seeded from the job seed, which makes it reproducible (Annoy's k-NN index uses its fixed default seed)."""

    name = "trimap"
    version = "1"
    params = {"n_inliers": 12, "n_outliers": 4, "n_random": 3, "n_iters": 400}
    profile_params = {"smoke": {"n_iters": 100}}
    tags = Tags(supervised=False, stochastic=True, wraps="trimap")

    @classmethod
    def warm_up(cls) -> None:
        import trimap

        trimap.TRIMAP(n_iters=5, verbose=False).fit_transform(_warm_data())

    def fit_transform(self, X, n_components, ctx):
        import trimap

        import numba

        seed = _seed(ctx, 29)
        before = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            np.random.seed(seed)
            _seed_numba(seed)
            p = self.params
            model = trimap.TRIMAP(n_dims=n_components, n_inliers=min(p["n_inliers"], X.shape[0] - 2),
                                  n_outliers=p["n_outliers"], n_random=p["n_random"], n_iters=p["n_iters"],
                                  verbose=False)
            Z = model.fit_transform(np.ascontiguousarray(X, dtype=np.float32))
        finally:
            numba.set_num_threads(before)
        return np.asarray(Z, dtype=np.float64)


_NUMBA_SEEDER = []


def _seed_numba(seed: int) -> None:
    """Seed numba's own generator of the calling thread (used by np.random inside jitted code), which
    ``np.random.seed`` does not touch."""
    if not _NUMBA_SEEDER:
        import numba

        @numba.njit
        def _s(v):  # pragma: no cover - compiled
            np.random.seed(v)

        _NUMBA_SEEDER.append(_s)
    _NUMBA_SEEDER[0](seed)


@hookimpl
def featbench_register_reducers(register) -> None:
    for cls in (OpenTSNE, SklearnTSNE, UMAP, PaCMAP, TriMap):
        register.add(cls)
