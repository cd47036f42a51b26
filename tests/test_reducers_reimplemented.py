"""The reimplemented reducers (LargeVis, TLDR, autoencoder): their building blocks against hand-computed or
independent references, and on small data a behaviour that fails if the method were wrong (a broken
gradient, pairs that are not neighbours, an encoder that learns nothing). The conformance kit (shape,
determinism, transform, label-freeness) runs on them in ``tests/test_reducers_track.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench_core.metrics.neighbours import knn, trustworthiness
from bench_core.tracks.base import Context


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread, as a benchmark worker with --threads 1 (on a loaded 2-core machine, two
    spinning threads per test cost minutes of wall time for a second of work)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _smoke(cls, **over):
    return cls(**{**cls.profile_params.get("smoke", {}), **over})


@pytest.fixture(scope="module")
def s_curve():
    from sklearn.datasets import make_s_curve

    X, t = make_s_curve(300, noise=0.02, random_state=0)
    return X


@pytest.fixture(scope="module")
def random_projection_t(s_curve):
    """Trustworthiness of the negative control (mean of 3 seeded Gaussian projections)."""
    rng = np.random.default_rng(0)
    return float(np.mean([trustworthiness(s_curve, s_curve @ rng.normal(size=(3, 2)), 7) for _ in range(3)]))


# -------------------------------------------------------------------------------------------- LargeVis


def test_perplexity_weights_hit_the_entropy():
    from plugins.reducers.reimplemented import perplexity_weights

    rng = np.random.default_rng(0)
    D = np.sort(rng.gamma(2.0, 3.0, size=(50, 30)), axis=1)
    P = perplexity_weights(D, 10.0)
    assert np.allclose(P.sum(1), 1.0)
    H = -(P * np.log(P)).sum(1)  # entropy in nats, computed here independently
    assert np.allclose(H, math.log(10.0), atol=1e-4)
    # Gaussian in the squared distance: log p is affine in d² within a row, decreasing
    slope = np.diff(np.log(P), axis=1) / np.diff(D, axis=1)
    assert np.allclose(slope, slope[:, :1], rtol=1e-6) and (slope < 0).all()


def test_alias_table_encodes_the_distribution_exactly():
    """P(k) = (prob[k] + Σ_{j: alias[j] = k} (1 − prob[j])) / m must equal w_k / Σw (no sampling needed)."""
    from plugins.reducers._largevis_kernels import alias_table

    w = np.random.default_rng(1).gamma(0.5, size=997)
    w[::50] = 0.0
    prob, alias = alias_table(w)
    m = len(w)
    P = prob.copy()
    np.add.at(P, alias, 1.0 - prob)
    assert np.allclose(P / m, w / w.sum(), atol=1e-12)


def test_largevis_keeps_neighbourhoods(s_curve, random_projection_t):
    from plugins.reducers.reimplemented import LargeVis

    Z = _smoke(LargeVis).fit_transform(s_curve.copy(), 2, Context(seed=0))
    t = trustworthiness(s_curve, Z, 7)
    assert t > 0.97 and t > random_projection_t + 0.05, (t, random_projection_t)


def test_largevis_needs_its_negative_samples(s_curve):
    """Without repulsion (γ = 0) the attractive updates alone pull the graph into a tiny blob: the layout
    spans under 5 % of the full method's, and the full layout is spread (its points far apart relative to
    their nearest-neighbour distances)."""
    from plugins.reducers.reimplemented import LargeVis

    full = _smoke(LargeVis).fit_transform(s_curve.copy(), 2, Context(seed=0))
    attract_only = _smoke(LargeVis, gamma=0.0).fit_transform(s_curve.copy(), 2, Context(seed=0))
    assert np.ptp(attract_only, axis=0).max() < 0.05 * np.ptp(full, axis=0).max()
    _, d2 = knn(full, 1)
    assert np.median(np.linalg.norm(full - full.mean(0), axis=1)) > 5 * np.median(np.sqrt(d2))


# ------------------------------------------------------------------------------------------------- TLDR


def test_barlow_twins_loss_matches_its_formula():
    import torch

    from plugins.reducers.reimplemented import barlow_twins_loss

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(40, 6)), rng.normal(size=(40, 6))
    c = a.T @ b / 40
    want = 0.5 * (np.sum((np.diag(c) - 1) ** 2) + 0.01 * (np.sum(c**2) - np.sum(np.diag(c) ** 2)))
    got = float(barlow_twins_loss(torch.tensor(a), torch.tensor(b), 0.01, 0.5))
    assert got == pytest.approx(want, rel=1e-12)
    z = rng.normal(size=(40, 3))
    z = (z - z.mean(0)) / z.std(0)
    w, _ = np.linalg.qr(z)  # orthonormal columns: z₁ᵀz₁/b with z₁ = √b·w is the identity
    w = torch.tensor(w * math.sqrt(40))
    assert float(barlow_twins_loss(w, w, 0.01, 1.0)) == pytest.approx(0.0, abs=1e-12)


def _slabs(n: int = 450, seed: int = 0):
    """Three thin slabs, stacked 2 apart along z (sd 0.1 within a slab), uniform on [−4, 4]² in x and y
    (sd 2.3, above the 1.6 of z): a point's nearest neighbours lie in its own slab, but PCA keeps x and y
    and mixes the slabs. Rotated at random so that no method sees the axes."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3)
    X = np.column_stack([rng.uniform(-4, 4, size=n), rng.uniform(-4, 4, size=n), 2.0 * y + 0.1 * rng.normal(size=n)])
    R, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return X @ R, y


def _knn_label_accuracy(Z, y, k: int = 10) -> float:
    nn, _ = knn(Z, k)
    return float(np.mean(y[nn] == y[:, None]))


def test_tldr_keeps_the_neighbour_direction_pca_drops():
    from plugins.reducers.controls import PCAReducer
    from plugins.reducers.reimplemented import TLDR

    X, y = _slabs()
    assert _knn_label_accuracy(X, y) > 0.99  # the premise: neighbours share their slab
    pca = _knn_label_accuracy(PCAReducer().fit_transform(X.copy(), 2, Context()), y)
    m = _smoke(TLDR)
    Z = m.fit_transform(X.copy(), 2, Context(seed=0))
    tldr = _knn_label_accuracy(Z, y)
    assert pca < 0.4 and tldr > 0.75, (pca, tldr)
    assert np.allclose(m.transform(X[:50].copy()), Z[:50], atol=1e-5)


def test_tldr_needs_neighbour_pairs(monkeypatch):
    """The same training with each row paired with itself (k-NN replaced by identity: nothing to be
    invariant to) does not find the slabs' direction: the pairs, not the architecture, do the work."""
    import bench_core.metrics.neighbours as nb
    from plugins.reducers.reimplemented import TLDR

    X, y = _slabs()

    def self_pairs(A, k, **kw):
        n = A.shape[0]
        return np.repeat(np.arange(n)[:, None], k, 1), np.zeros((n, k))

    real = _knn_label_accuracy(_smoke(TLDR).fit_transform(X.copy(), 2, Context(seed=0)), y)
    monkeypatch.setattr(nb, "knn", self_pairs)
    alone = _knn_label_accuracy(_smoke(TLDR).fit_transform(X.copy(), 2, Context(seed=0)), y)
    assert alone < real - 0.15, (alone, real)


# ------------------------------------------------------------------------------------------ autoencoder


def test_autoencoder_learns_a_plane_and_keeps_neighbourhoods(s_curve, random_projection_t):
    from plugins.reducers.reimplemented import Autoencoder

    rng = np.random.default_rng(3)
    L = rng.normal(size=(300, 2))
    A = rng.normal(size=(2, 10))
    plane = L @ A  # a 2-D linear subspace of R^10: a 2-unit code can reconstruct it
    m = _smoke(Autoencoder)
    Z = m.fit_transform(plane.copy(), 2, Context(seed=0))
    assert m.final_loss_ < 0.1  # standardised MSE: 1.0 for predicting the mean
    assert trustworthiness(plane, Z, 7) > 0.95
    Zs = _smoke(Autoencoder).fit_transform(s_curve.copy(), 2, Context(seed=0))
    assert trustworthiness(s_curve, Zs, 7) > random_projection_t + 0.03
