"""The neural / greedy selectors of ``plugins.selectors.neural``: conformance, OMP against scikit-learn, and
"does better than chance" checks on small synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from bench_core.testing import parametrize_with_checks
from bench_core.tracks.base import Context
from plugins.selectors.neural import (
    ConcreteAutoencoder,
    OrthogonalMatchingPursuit,
    QuickSelection,
    SequentialAttention,
    StochasticGates,
    omp_order,
    standardize,
)

ALL = [StochasticGates, ConcreteAutoencoder, SequentialAttention, OrthogonalMatchingPursuit, QuickSelection]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny problems: one torch / BLAS thread is as fast, and immune to oversubscription on a shared machine
    (where spinning OpenBLAS or OpenMP threads can make small solves many times slower)."""
    import torch
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(old)


@parametrize_with_checks(ALL)
def test_featbench_conformance(method, check):
    check(method)


# ------------------------------------------------------------------------------------------------ OMP


def _sklearn_omp_order(Z, y, k):
    """The order in which scikit-learn's OMP adds features: its supports for 1..k non-zeros are nested."""
    from sklearn.linear_model import OrthogonalMatchingPursuit as SkOMP

    order = []
    for t in range(1, k + 1):
        support = np.flatnonzero(SkOMP(n_nonzero_coefs=t).fit(Z, y).coef_)
        new = sorted(set(support) - set(order))
        assert len(new) == 1, "scikit-learn's supports are not nested"
        order.append(int(new[0]))
    return order


def test_omp_order_matches_sklearn_regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 25)) * rng.uniform(0.5, 3.0, size=25)
    X[:, 7] = X[:, 3] + 0.3 * rng.normal(size=80)  # correlated columns make the orthogonalisation matter
    y = X[:, [3, 7, 11, 19]] @ np.array([1.5, -2.0, 1.0, 0.7]) + 0.5 * rng.normal(size=80)
    Z = standardize(X)  # unit-norm-equivalent columns: OMP on normalized columns
    k = 10
    ours, _, _ = omp_order(Z, (y - y.mean())[:, None], k)
    assert ours == _sklearn_omp_order(Z, y, k)


def test_omp_selector_matches_sklearn_on_binary_labels():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=150, n_features=20, n_informative=5, n_redundant=3, random_state=3)
    k = 8
    scores = OrthogonalMatchingPursuit(max_order=k).rank(X, y, Context(seed=0))
    ours = list(np.argsort(-scores, kind="stable")[:k])
    # two centred one-hot columns are ± the same vector: simultaneous OMP = single-target OMP on the labels
    assert ours == _sklearn_omp_order(standardize(X), y.astype(float), k)


def test_omp_exhausted_residual_and_scores_encode_order():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(12, 40))  # n < max_order: the residual is exhausted after about n picks
    y = np.arange(12) % 3
    scores = OrthogonalMatchingPursuit().rank(X, y, Context(seed=0))
    assert scores.shape == (40,) and np.all(np.isfinite(scores))
    order, _, _ = omp_order(standardize(X), np.eye(3)[y] - np.eye(3)[y].mean(0), 39)
    assert len(order) <= 12
    assert list(np.argsort(-scores, kind="stable")[: len(order)]) == order


# ------------------------------------------------------------------------------------------------ supervised


@pytest.mark.parametrize("cls, n_classes, clusters", [
    (StochasticGates, 2, 2),
    (SequentialAttention, 2, 2),
    # OMP is linear: with 2 classes of 2 clusters each, an informative feature may separate clusters but not
    # the class means, which no linear criterion sees; 4 classes of one cluster each shift every mean
    (OrthogonalMatchingPursuit, 4, 1),
], ids=lambda v: v.name if isinstance(v, type) else str(v))
@pytest.mark.parametrize("seed", [0, 1])
def test_informative_features_ranked_high(cls, n_classes, clusters, seed):
    from sklearn.datasets import make_classification

    # shuffle=False: the 4 informative features are columns 0..3, the other 26 are noise
    X, y = make_classification(n_samples=400, n_features=30, n_informative=4, n_redundant=0, n_repeated=0,
                               n_classes=n_classes, n_clusters_per_class=clusters, shuffle=False,
                               random_state=seed)
    scores = cls().rank(X, y, Context(seed=seed))
    top8 = set(np.argsort(-scores)[:8].tolist())
    assert {0, 1, 2, 3} <= top8, f"{cls.name}: top 8 = {sorted(top8)}"


# ------------------------------------------------------------------------------------------------ unsupervised


def _latent_mixtures(seed, n=400):
    """5 latent factors (columns 0..4) and 25 noisy linear mixtures of all of them (SNR 1)."""
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(n, 5))
    M = F @ rng.normal(size=(5, 25)) + np.sqrt(5.0) * rng.normal(size=(n, 25))
    return np.hstack([F, M])


def _recon_error(X, S):
    """Mean squared error of the least-squares reconstruction of every standardized feature from the set S."""
    Z = standardize(X)
    B = Z[:, list(S)]
    coef, *_ = np.linalg.lstsq(B, Z, rcond=None)
    return float(np.mean((Z - B @ coef) ** 2))


def test_concrete_autoencoder_reconstructs_better_than_random():
    """CAE minimises reconstruction error: its 5 features must reconstruct the data better than random 5-sets
    (the 5 latent factors are the best 5)."""
    gains, latent = [], []
    for seed in range(3):
        X = _latent_mixtures(seed)
        S = ConcreteAutoencoder().select(X, None, 5, Context(seed=seed))
        assert len(set(S.tolist())) == 5
        rng = np.random.default_rng(100 + seed)
        random_err = np.mean([_recon_error(X, rng.choice(30, 5, replace=False)) for _ in range(200)])
        gains.append(random_err - _recon_error(X, S))
        latent.append(int(np.sum(S < 5)))
    assert min(gains) > 0.03 and np.mean(gains) > 0.08, f"gains over random {gains}"
    assert np.mean(latent) >= 2.5, f"latent factors picked {latent} (random: 0.83)"


def _redundant_copies(seed, n=400, sizes=(1, 1, 1, 2, 25), noise=0.1):
    """5 latent factors, each with ``size − 1`` near-copies (a noisy scaled copy is a noisy linear mixture with
    one non-zero coefficient): 30 features, columns permuted; returns X and each column's factor."""
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(n, 5))
    group = np.concatenate([np.full(s - 1, j) for j, s in enumerate(sizes)]).astype(int)
    scale = rng.uniform(0.5, 2.0, size=len(group)) * rng.choice([-1.0, 1.0], size=len(group))
    X = np.hstack([F, F[:, group] * scale + noise * rng.normal(size=(n, len(group)))])
    factor = np.concatenate([np.arange(5), group])
    perm = rng.permutation(X.shape[1])
    return X[:, perm], factor[perm]


def test_quickselection_avoids_redundant_features():
    """A denoising autoencoder shrinks directions whose variance is below its corruption level, so the input
    strength of near-duplicate features is low and that of features carrying unique information high:
    QuickSelection's top 5 must cover more distinct factors than a random 5-set (about 1.8 here)."""
    covered, random_cov = [], []
    for seed in range(3):
        X, factor = _redundant_copies(seed)
        scores = QuickSelection().rank(X, None, Context(seed=seed))
        covered.append(len(set(factor[np.argsort(-scores)[:5]].tolist())))
        rng = np.random.default_rng(100 + seed)
        random_cov.append(np.mean([len(set(factor[rng.choice(30, 5, replace=False)].tolist())) for _ in range(500)]))
    assert np.mean(covered) >= np.mean(random_cov) + 1.5, f"factors covered {covered}, random {random_cov}"


def test_concrete_autoencoder_one_model_per_node_count():
    """Version 2: the k at or above ``max_nodes`` share one trained model (nested sets, one training), and the
    memo never changes a result: every k gives the same set from a fresh instance as after other k."""
    X = _latent_mixtures(0, n=200)
    params = {**ConcreteAutoencoder.params, "steps": 60, "max_nodes": 5}
    ks = [2, 5, 8, 12]
    trained = []

    class Counting(ConcreteAutoencoder):
        def _train_nodes(self, X, nodes, ctx):
            trained.append(nodes)
            return super()._train_nodes(X, nodes, ctx)

    shared = Counting(**params)
    sets = {k: shared.select(X.copy(), None, k, Context(seed=3)) for k in ks}
    assert trained == [2, 5], trained  # k = 8 and 12 reuse the 5-node model of k = 5
    assert list(sets[8][:5]) == list(sets[5]) and list(sets[12][:8]) == list(sets[8])
    for k in ks:
        assert len(set(sets[k].tolist())) == k
        assert np.array_equal(sets[k], ConcreteAutoencoder(**params).select(X.copy(), None, k, Context(seed=3)))
    shared.select(X[::-1].copy(), None, 8, Context(seed=3))  # other rows, another seed: each trains anew
    shared.select(X.copy(), None, 8, Context(seed=4))
    assert trained == [2, 5, 5, 5], trained


def test_concrete_autoencoder_large_k_from_shared_model_beats_random():
    """k above ``max_nodes`` (completion of a 5-node model by total probability) still reconstructs the data
    better than random sets of the same size on the planted-factor case."""
    gains = []
    for seed in range(2):
        X = _latent_mixtures(seed)
        S = ConcreteAutoencoder(max_nodes=5).select(X, None, 8, Context(seed=seed))
        rng = np.random.default_rng(100 + seed)
        random_err = np.mean([_recon_error(X, rng.choice(30, 8, replace=False)) for _ in range(200)])
        gains.append(random_err - _recon_error(X, S))
    assert min(gains) > 0.02, f"gains over random {gains}"


@pytest.mark.parametrize("seed", [0, 1])
def test_stg_standard_steps_rank_informative_features_high(seed):
    """The standard profile's 200 steps still put the 4 informative features of the planted case in the top 8."""
    from sklearn.datasets import make_classification

    params = {**StochasticGates.params, **StochasticGates.profile_params["standard"]}
    assert params["steps"] == 200
    X, y = make_classification(n_samples=400, n_features=30, n_informative=4, n_redundant=0, n_repeated=0,
                               n_classes=2, n_clusters_per_class=2, shuffle=False, random_state=seed)
    scores = StochasticGates(**params).rank(X, y, Context(seed=seed))
    assert {0, 1, 2, 3} <= set(np.argsort(-scores)[:8].tolist())


def test_quickselection_standard_settings_avoid_redundant_features():
    """The standard profile's narrower hidden layer (128) and halved flop budget keep QuickSelection's claim:
    its top 5 covers clearly more distinct factors than a random 5-set (about 1.8)."""
    params = {**QuickSelection.params, **QuickSelection.profile_params["standard"]}
    assert params["hidden"] == 128 and params["flop_budget"] == 1e11
    covered = []
    for seed in range(2):
        X, factor = _redundant_copies(seed)
        scores = QuickSelection(**params).rank(X, None, Context(seed=seed))
        covered.append(len(set(factor[np.argsort(-scores)[:5]].tolist())))
    assert np.mean(covered) >= 3.5, f"factors covered {covered}"
