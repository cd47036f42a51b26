"""Generators for the reducers track (task ``embedding``): manifolds with known latent coordinates and
Gaussian mixtures with known cluster structure.

Every generator is deterministic given its ``seed`` and returns ``RawData`` whose ``y`` is a label used only
to score (neighbourhood hit, k-NN accuracy, centroid triplets) and to stratify splits; reducers never see
it. Manifolds record their intrinsic coordinates as ``arrays["latent"]`` ``[n, 2]``: the protocol scores
every embedding against them as well as against the ambient data, and the positive control embeds with them.
Rows are shuffled by the seed.
"""

from __future__ import annotations

import numpy as np

from bench_core.data import RawData


def _deciles(t: np.ndarray, bins: int = 10) -> np.ndarray:
    """Labels = the ``bins`` quantile bins of ``t`` (0..bins−1)."""
    edges = np.quantile(t, np.linspace(0, 1, bins + 1)[1:-1])
    return np.searchsorted(edges, t, side="right").astype(np.int64)


def swiss_roll(n_samples: int = 2000, noise: float = 0.05, hole: bool = False, seed: int = 0) -> RawData:
    """scikit-learn's ``make_swiss_roll`` (3-D: ``(t cos t, h, t sin t)``); latent = the isometric unrolling
    ``(s(t), h)`` with ``s(t) = ½(t√(1 + t²) + asinh t)`` the arc length of the spiral (``t`` itself is not
    isometric: the outer turns are longer). scikit-learn adds the noise to X after drawing t and the
    height, so the noise-free height is read from a second draw with ``noise=0`` and the same random state.
    Labels: deciles of ``t``."""
    from sklearn.datasets import make_swiss_roll

    X, t = make_swiss_roll(n_samples, noise=noise, hole=hole, random_state=seed)
    X0, _ = make_swiss_roll(n_samples, noise=0.0, hole=hole, random_state=seed)
    arc = 0.5 * (t * np.sqrt(1 + t**2) + np.arcsinh(t))
    latent = np.column_stack([arc, X0[:, 1]])
    return RawData(X=X, y=_deciles(t), arrays={"latent": latent}, info={"manifold": "swiss_roll"})


def s_curve(n_samples: int = 2000, noise: float = 0.05, seed: int = 0) -> RawData:
    """scikit-learn's ``make_s_curve`` (3-D: ``(sin t, h, sign(t)(cos t − 1))``, a unit-speed curve, so
    latent = ``(t, h)`` is already isometric). Labels: deciles of ``t``."""
    from sklearn.datasets import make_s_curve

    X, t = make_s_curve(n_samples, noise=noise, random_state=seed)
    X0, _ = make_s_curve(n_samples, noise=0.0, random_state=seed)
    latent = np.column_stack([t, X0[:, 1]])
    return RawData(X=X, y=_deciles(t), arrays={"latent": latent}, info={"manifold": "s_curve"})


def sphere(n_samples: int = 2000, cap_deg: float = 30.0, noise: float = 0.0, seed: int = 0) -> RawData:
    """Uniform points on the unit sphere minus a polar cap of ``cap_deg`` degrees around the north pole (a
    full sphere has no 2-D chart without a cut). Latent = the azimuthal equal-area chart centred on the south
    pole, ``ρ·(cos φ, sin φ)`` with ``ρ = 2 sin(θ/2)`` (θ the angle from the south pole): it keeps areas and
    the neighbourhoods of the surface (distances only up to the chart's unavoidable distortion). Labels:
    deciles of θ."""
    rng = np.random.default_rng([seed, 11])
    cos_max = np.cos(np.pi - np.deg2rad(cap_deg))  # θ from the south pole ranges over [0, π − cap]
    c = rng.uniform(cos_max, 1.0, size=n_samples)  # cos θ uniform -> uniform on the sphere
    theta = np.arccos(c)
    phi = rng.uniform(0, 2 * np.pi, size=n_samples)
    X = np.column_stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), -np.cos(theta)])
    if noise:
        X = X + noise * rng.normal(size=X.shape)
    rho = 2 * np.sin(theta / 2)
    latent = np.column_stack([rho * np.cos(phi), rho * np.sin(phi)])
    return RawData(X=X, y=_deciles(theta), arrays={"latent": latent}, info={"manifold": "sphere"})


def hierarchical_gaussians(n_samples: int = 2000, n_super: int = 5, n_sub: int = 4, d: int = 50,
                           super_scale: float = 10.0, sub_scale: float = 3.0, seed: int = 0) -> RawData:
    """Clusters of sub-clusters: ``n_super`` centres ``N(0, super_scale²)`` in ``d`` dimensions, each with
    ``n_sub`` sub-centres ``+ N(0, sub_scale²)``, points ``+ N(0, 1)`` spread evenly over the sub-clusters.
    ``y`` = sub-cluster (``n_super·n_sub`` classes); ``arrays["labels_coarse"]`` = super-cluster, for the
    two-level centroid-triplet score."""
    rng = np.random.default_rng([seed, 13])
    sup = rng.normal(0, super_scale, size=(n_super, d))
    sub = sup[:, None, :] + rng.normal(0, sub_scale, size=(n_super, n_sub, d))
    y = np.arange(n_samples) % (n_super * n_sub)
    rng.shuffle(y)
    X = sub.reshape(-1, d)[y] + rng.normal(size=(n_samples, d))
    return RawData(X=X, y=y.astype(np.int64), arrays={"labels_coarse": (y // n_sub).astype(np.int64)})


def gaussian_mixture_dims(n_samples: int = 2000, d: int = 8, n_clusters: int = 10, spread: float = 10.0,
                          seed: int = 0) -> RawData:
    """The dimension family (after MNIST-Nd): the same mixture at every ``d``. Cluster centres are
    ``spread·z/√d`` with ``z ~ N(0, I_d)`` (expected distance between centres ``spread·√2`` whatever ``d``),
    points ``+ N(0, I_d)`` (within-cluster distances grow as ``√(2d)``), so only the dimension changes the
    difficulty. The seed fixes the centres' random stream independently of ``d``."""
    rng = np.random.default_rng([seed, 17, d])
    centres = spread * rng.normal(size=(n_clusters, d)) / np.sqrt(d)
    y = np.arange(n_samples) % n_clusters
    rng.shuffle(y)
    X = centres[y] + rng.normal(size=(n_samples, d))
    return RawData(X=X, y=y.astype(np.int64))


MANIFOLD_GENERATORS = {
    "manifold.swiss_roll": swiss_roll,
    "manifold.s_curve": s_curve,
    "manifold.sphere": sphere,
    "mixture.hierarchical_gaussians": hierarchical_gaussians,
    "mixture.dims": gaussian_mixture_dims,
}
