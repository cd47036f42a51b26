"""Classical reducers from scikit-learn (Isomap, metric MDS, LLE, Laplacian eigenmaps, kernel PCA) and
diffusion maps (no maintained package: a short sparse implementation of Coifman & Lafon 2006)."""

from __future__ import annotations

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.base import Resources, Tags
from bench_core.tracks.reducers import Reducer


class Isomap(Reducer):
    """Isomap (Tenenbaum et al. 2000; scikit-learn): geodesic distances on the k-NN graph, then classical
    MDS. Dense n×n geodesic matrix: O(n²) memory."""

    name = "isomap"
    version = "1"
    params = {"n_neighbors": 10}
    tags = Tags(supervised=False, wraps="scikit-learn")

    def fit_transform(self, X, n_components, ctx):
        from sklearn.manifold import Isomap as _Isomap

        self._model = _Isomap(n_neighbors=self.params["n_neighbors"], n_components=n_components, n_jobs=1)
        return self._model.fit_transform(X)

    def transform(self, X):
        return self._model.transform(X)


class MetricMDS(Reducer):
    """Metric MDS by SMACOF (scikit-learn), initialised by classical MDS: O(n²) memory and time per
    iteration."""

    name = "mds"
    version = "1"
    params = {"max_iter": 300, "n_init": 1}
    profile_params = {"smoke": {"max_iter": 50}, "quick": {"max_iter": 100}, "standard": {"max_iter": 100}}
    tags = Tags(supervised=False, stochastic=True, wraps="scikit-learn")

    def fit_transform(self, X, n_components, ctx):
        from sklearn.manifold import MDS

        kw = dict(n_components=n_components, max_iter=self.params["max_iter"], n_init=self.params["n_init"],
                  random_state=int(ctx.rng(5).integers(0, 2**31)), n_jobs=1)
        try:
            model = MDS(metric_mds=True, init="classical_mds", **kw)
        except TypeError:  # scikit-learn < 1.8: no metric_mds / init arguments
            model = MDS(metric=True, normalized_stress="auto", **kw)
        return model.fit_transform(X)


class LLE(Reducer):
    """Locally linear embedding (Roweis & Saul 2000; scikit-learn, standard method, dense eigensolver)."""

    name = "lle"
    version = "1"
    params = {"n_neighbors": 12, "reg": 1e-3}
    tags = Tags(supervised=False, wraps="scikit-learn")

    def fit_transform(self, X, n_components, ctx):
        from sklearn.manifold import LocallyLinearEmbedding

        self._model = LocallyLinearEmbedding(n_neighbors=self.params["n_neighbors"], n_components=n_components,
                                             reg=self.params["reg"], eigen_solver="dense", n_jobs=1)
        return self._model.fit_transform(X)

    def transform(self, X):
        return self._model.transform(X)


class LaplacianEigenmaps(Reducer):
    """Laplacian eigenmaps (Belkin & Niyogi 2003; scikit-learn's SpectralEmbedding on the k-NN graph)."""

    name = "laplacian_eigenmaps"
    version = "1"
    params = {"n_neighbors": 10}
    tags = Tags(supervised=False, stochastic=True, wraps="scikit-learn")

    def fit_transform(self, X, n_components, ctx):
        from sklearn.manifold import SpectralEmbedding

        model = SpectralEmbedding(n_components=n_components, affinity="nearest_neighbors",
                                  n_neighbors=self.params["n_neighbors"],
                                  random_state=int(ctx.rng(7).integers(0, 2**31)), n_jobs=1)
        return model.fit_transform(X)


class KernelPCA(Reducer):
    """Kernel PCA with an RBF kernel (scikit-learn); ``gamma = 1 / (d · var(X))`` as scikit-learn's SVC
    "scale" rule. Dense n×n kernel: O(n²) memory."""

    name = "kernel_pca"
    version = "1"
    params = {"kernel": "rbf"}
    tags = Tags(supervised=False, stochastic=True, wraps="scikit-learn")
    transform_exact = True

    def fit_transform(self, X, n_components, ctx):
        from sklearn.decomposition import KernelPCA as _KPCA

        var = float(np.var(X))
        gamma = 1.0 / (X.shape[1] * var) if var > 0 else 1.0
        self._model = _KPCA(n_components, kernel=self.params["kernel"], gamma=gamma, eigen_solver="randomized",
                            random_state=int(ctx.rng(9).integers(0, 2**31)))
        return self._model.fit_transform(X)

    def transform(self, X):
        return self._model.transform(X)


class DiffusionMaps(Reducer):
    """Diffusion maps (Coifman & Lafon 2006), sparse: Gaussian kernel on the symmetrised k-NN graph with
    the self-tuning bandwidth σ_i = distance to the k-th neighbour (Zelnik-Manor & Perona 2004),
    ``K_ij = exp(−d_ij² / (σ_i σ_j))``; α-normalisation ``K / (q_i q_j)^α`` with ``q`` the degrees
    (α = 1 removes the sampling density); the top non-trivial eigenvectors ψ_1, ψ_2 of the Markov matrix,
    computed from its symmetric conjugate, scaled by λ^t (diffusion time t)."""

    name = "diffusion_maps"
    version = "1"
    params = {"n_neighbors": 15, "alpha": 1.0, "t": 1}
    tags = Tags(supervised=False, reimplementation_of="Coifman & Lafon, Diffusion maps, ACHA 21(1), 2006")

    def fit_transform(self, X, n_components, ctx):
        import scipy.sparse as sp
        from scipy.sparse.linalg import eigsh
        from sklearn.neighbors import NearestNeighbors

        n = X.shape[0]
        k = min(self.params["n_neighbors"], n - 1)
        dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
        sigma = np.maximum(dist[:, -1], 1e-12)
        rows = np.repeat(np.arange(n), k + 1)
        w = np.exp(-(dist**2) / (sigma[:, None] * sigma[idx])).ravel()
        K = sp.csr_matrix((w, (rows, idx.ravel())), shape=(n, n))
        K = K.maximum(K.T)
        q = np.asarray(K.sum(1)).ravel()
        a = self.params["alpha"]
        K = sp.diags(q**-a) @ K @ sp.diags(q**-a)
        dd = np.asarray(K.sum(1)).ravel()
        S = sp.diags(dd**-0.5) @ K @ sp.diags(dd**-0.5)
        v0 = ctx.rng(11).normal(size=n)
        vals, vecs = eigsh(S, k=n_components + 1, which="LA", v0=v0)
        order = np.argsort(-vals)
        vals, vecs = vals[order], vecs[:, order]
        psi = vecs / np.sqrt(dd)[:, None]  # right eigenvectors of the Markov matrix D^-1 K
        psi = psi / np.linalg.norm(psi, axis=0)
        Z = psi[:, 1 : n_components + 1] * (vals[1 : n_components + 1] ** self.params["t"])
        # eigenvector signs are arbitrary: fix them (largest-magnitude entry positive) for determinism
        flip = np.sign(Z[np.abs(Z).argmax(0), np.arange(n_components)])
        return Z * np.where(flip == 0, 1, flip)


@hookimpl
def featbench_register_reducers(register) -> None:
    for cls in (Isomap, MetricMDS, LLE, LaplacianEigenmaps, KernelPCA, DiffusionMaps):
        register.add(cls)
