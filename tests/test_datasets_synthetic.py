"""Synthetic generators (determinism, ground truth, the properties each one is built to have) and the
selectors track's dataset cards (every card parses; every loader card reproduces its checksums)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from plugins.datasets import synthetic

REPO = Path(__file__).resolve().parent.parent
CARDS = sorted((REPO / "datasets" / "selectors").glob("*.toml"))

#: small parameters for every generator, so each call takes milliseconds
SMALL = {
    "synthetic.classification": dict(n_samples=300, n_features=30, n_informative=4, n_redundant=3, n_repeated=2),
    "synthetic.xor": dict(n_samples=300, n_features=20, order=2),
    "synthetic.orange_skin": dict(n_samples=300, n_features=20),
    "synthetic.nonlinear_additive": dict(n_samples=300, n_features=20),
    "synthetic.switch": dict(n_samples=300, n_features=20),
    "synthetic.two_moons": dict(n_samples=300, n_features=20),
    "synthetic.correlated_gaussian": dict(n_samples=300, n_features=30, n_relevant=5, rho=0.5),
    "synthetic.hdlss": dict(n_samples=60, n_features=300, n_informative=6),
    "synthetic.linear_snr": dict(n_samples=300, n_features=20, snr=1.0),
}


def _gen(name: str, seed: int, **overrides):
    return synthetic.GENERATORS[name](**{**SMALL[name], **overrides, "seed": seed})


def test_every_generator_has_small_parameters_here():
    assert set(SMALL) == set(synthetic.GENERATORS)


# ----------------------------------------------------------------------------------- generic properties


@pytest.mark.parametrize("name", sorted(SMALL))
def test_deterministic_given_seed(name):
    a, b, c = _gen(name, 5), _gen(name, 5), _gen(name, 6)
    assert a.X.tobytes() == b.X.tobytes() and a.y.tobytes() == b.y.tobytes()
    assert a.ground_truth == b.ground_truth and a.info == b.info
    assert a.X.shape == c.X.shape
    assert not np.array_equal(a.X, c.X)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_labels_and_ground_truth_are_well_formed(name):
    raw = _gen(name, 3)
    n, d = raw.X.shape
    assert raw.X.dtype == np.float64 and np.all(np.isfinite(raw.X))
    assert raw.y.dtype.kind == "i" and raw.y.shape == (n,)  # class labels, never probabilities
    assert set(np.unique(raw.y)) <= {0, 1} and len(np.unique(raw.y)) == 2
    gt = raw.ground_truth
    assert set(gt) == {"strict", "lenient"}  # the protocol takes |G| of every entry as a k
    for cols in gt.values():
        assert len(set(cols)) == len(cols) and all(isinstance(c, int) and 0 <= c < d for c in cols)
    assert set(gt["strict"]) <= set(gt["lenient"])
    perm = np.asarray(raw.info["column_permutation"])
    assert sorted(perm.tolist()) == list(range(d))


def test_column_permutation_is_drawn_from_the_seed():
    perms = {tuple(synthetic.xor(n_samples=50, n_features=40, seed=s).ground_truth["strict"]) for s in range(6)}
    assert len(perms) > 1  # relevant features do not sit at a fixed position


# ----------------------------------------------------------------------------------- classification


def _lstsq_residual(A: np.ndarray, b: np.ndarray) -> float:
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    return float(np.linalg.norm(A @ coef - b) / np.linalg.norm(b))


def test_classification_ground_truth_maps_through_the_permutation():
    raw = synthetic.classification(n_samples=400, n_features=40, n_informative=5, n_redundant=4, n_repeated=2,
                                   seed=11)
    strict, lenient = raw.ground_truth["strict"], raw.ground_truth["lenient"]
    assert len(strict) == 5 and len(lenient) == 11
    perm = raw.info["column_permutation"]
    assert [perm[c] for c in strict] == list(range(5))  # new column c holds old column perm[c]
    S = raw.X[:, strict]
    for c in sorted(set(lenient) - set(strict)):  # redundant and repeated: exact linear combinations
        assert _lstsq_residual(S, raw.X[:, c]) < 1e-8
    for c in sorted(set(range(40)) - set(lenient)):  # noise: not
        assert _lstsq_residual(S, raw.X[:, c]) > 0.5
    for i, c in enumerate(strict):  # informative columns are not combinations of the other informative ones
        assert _lstsq_residual(np.delete(S, i, axis=1), raw.X[:, c]) > 0.1


# ----------------------------------------------------------------------------------- XOR / parity


def test_xor_marginals_carry_no_signal_but_parity_does():
    from sklearn.feature_selection import f_classif

    flip = 0.05
    raw = synthetic.xor(n_samples=4000, n_features=10, order=2, flip=flip, seed=21)
    rel = raw.ground_truth["strict"]
    _, p = f_classif(raw.X, raw.y)
    assert np.all(p[rel] > 0.01), p[rel]  # univariate filters cannot see the relevant features
    parity = np.sum(raw.X[:, rel] > 0, axis=1) % 2
    mismatch = np.mean(parity != raw.y)
    assert abs(mismatch - flip) < 0.015
    # sanity: the interaction itself is strongly informative
    _, p_prod = f_classif((raw.X[:, rel[0]] * raw.X[:, rel[1]])[:, None], raw.y)
    assert p_prod[0] < 1e-50


def test_three_bit_parity_hides_every_pair():
    from sklearn.feature_selection import f_classif

    raw = synthetic.xor(n_samples=4000, n_features=8, order=3, flip=0.0, seed=22)
    rel = raw.ground_truth["strict"]
    assert np.array_equal(np.sum(raw.X[:, rel] > 0, axis=1) % 2, raw.y)
    _, p = f_classif(raw.X[:, rel], raw.y)
    assert np.all(p > 0.01)
    pairs = np.column_stack([raw.X[:, a] * raw.X[:, b] for i, a in enumerate(rel) for b in rel[i + 1:]])
    _, p_pairs = f_classif(pairs, raw.y)
    assert np.all(p_pairs > 0.01)
    _, p_triple = f_classif(np.prod(raw.X[:, rel], axis=1)[:, None], raw.y)
    assert p_triple[0] < 1e-50


# ----------------------------------------------------------------------------------- L2X sets


def test_l2x_labels_follow_their_scores():
    ora = synthetic.orange_skin(n_samples=3000, n_features=12, seed=31)
    f = np.sum(ora.X[:, ora.ground_truth["strict"]] ** 2, axis=1) - 4.0
    assert np.mean((f < 0) == (ora.y == 1)) > 0.75  # L2X: P(y = 1) = 1 / (1 + exp(f))
    add = synthetic.nonlinear_additive(n_samples=3000, n_features=12, seed=32)
    x0, x3, x2, x1 = (add.X[:, c] for c in add.ground_truth["strict"])  # strict order: x0, x3, x2, x1
    f = -100 * np.sin(0.2 * x0) + np.abs(x1) + x2 + np.exp(-x3) - 2.4
    assert np.mean((f < 0) == (add.y == 1)) > 0.95


def test_l2x_view_swap_idiom_copies_instead_of_swapping():
    """Why switch() does not port L2X's swap literally (numpy/numpy#14428)."""
    A = np.arange(16.0).reshape(2, 8)
    A[:, 4:8], A[:, :4] = A[:, :4], A[:, 4:8]
    assert np.array_equal(A[:, 4:8], A[:, :4])  # a copy, not a swap


def test_switch_has_a_real_swap_and_instance_wise_truth():
    raw = synthetic.switch(n_samples=4000, n_features=15, seed=41)
    inst = raw.info["instance_ground_truth"]
    branch = np.asarray(raw.info["instance_branch"])
    sw = raw.ground_truth["strict"][0]
    assert inst["orange_skin"][0] == sw and inst["nonlinear_additive"][0] == sw
    orange, additive = inst["orange_skin"][1:], inst["nonlinear_additive"][1:]
    assert set(raw.ground_truth["strict"]) == {sw, *orange, *additive} and len(raw.ground_truth["strict"]) == 9
    # features 4-7 are not copies of features 0-3 (the L2X bug): independent columns
    for a in additive:
        for o in orange:
            assert not np.allclose(raw.X[:, a], raw.X[:, o])
            assert abs(np.corrcoef(raw.X[:, a], raw.X[:, o])[0, 1]) < 0.1
    # the switch feature is the +3 / -3 mixture, and it picks the branch
    assert np.sum(branch == 0) == 2000
    assert np.mean((raw.X[:, sw] > 0) == (branch == 0)) > 0.99
    assert abs(raw.X[branch == 0, sw].mean() - 3) < 0.1 and abs(raw.X[branch == 1, sw].mean() + 3) < 0.1
    # each branch's labels follow its own features
    o = branch == 0
    f_or = np.sum(raw.X[o][:, orange] ** 2, axis=1) - 4.0
    assert np.mean((f_or < 0) == (raw.y[o] == 1)) > 0.75
    a = branch == 1
    z = raw.X[a][:, additive]
    f_add = -100 * np.sin(0.2 * z[:, 0]) + np.abs(z[:, 1]) + z[:, 2] + np.exp(-z[:, 3]) - 2.4
    assert np.mean((f_add < 0) == (raw.y[a] == 1)) > 0.95
    # and not the other branch's features
    f_wrong = -100 * np.sin(0.2 * raw.X[a][:, orange[0]])
    assert abs(np.mean((f_wrong < 0) == (raw.y[a] == 1)) - 0.5) < 0.05
    # the global strict order: switch, orange 0-3, then the additive features by importance
    assert raw.ground_truth["strict"][5] == additive[0]


# ----------------------------------------------------------------------------------- other generators


def test_two_moons_strict_columns_are_the_moons():
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    raw = synthetic.two_moons(n_samples=600, n_features=20, seed=51)
    rel = raw.ground_truth["strict"]
    knn = KNeighborsClassifier(5)
    assert cross_val_score(knn, raw.X[:, rel], raw.y, cv=3).mean() > 0.97
    noise = np.delete(raw.X, rel, axis=1)
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1) < 0.05
    assert cross_val_score(knn, noise[:, :2], raw.y, cv=3).mean() < 0.6


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_correlated_gaussian_within_class_correlation(rho):
    raw = synthetic.correlated_gaussian(n_samples=4000, n_features=20, n_relevant=6, rho=rho, seed=61)
    rel = raw.ground_truth["strict"]
    noise = sorted(set(range(20)) - set(rel))
    assert np.bincount(raw.y).tolist() == [2000, 2000]
    for cls, mean in ((1, 1.0), (0, -1.0)):
        Xc = raw.X[raw.y == cls]
        C = np.corrcoef(Xc[:, rel], rowvar=False)
        off = C[~np.eye(len(rel), dtype=bool)]
        assert abs(off.mean() - rho) < 0.04
        assert np.allclose(Xc[:, rel].mean(axis=0), mean, atol=0.1)
        assert np.allclose(Xc[:, rel].std(axis=0), 1.0, atol=0.06)
        assert np.allclose(Xc[:, noise].mean(axis=0), 0.0, atol=0.1)


def test_correlated_gaussian_cards_share_draws_across_rho():
    a = synthetic.correlated_gaussian(n_samples=200, n_features=20, n_relevant=5, rho=0.0, seed=7)
    b = synthetic.correlated_gaussian(n_samples=200, n_features=20, n_relevant=5, rho=0.9, seed=7)
    assert a.ground_truth == b.ground_truth and np.array_equal(a.y, b.y)
    noise = sorted(set(range(20)) - set(a.ground_truth["strict"]))
    assert np.array_equal(a.X[:, noise], b.X[:, noise])


@pytest.mark.parametrize("snr", [4.0, 1.0, 0.25, 0.0625])
def test_linear_snr_empirical_snr(snr):
    raw = synthetic.linear_snr(n_samples=20000, n_features=10, snr=snr, seed=71)
    strict, coef, sigma = raw.ground_truth["strict"], np.asarray(raw.info["coefficients"]), raw.info["noise_std"]
    assert raw.info["snr"] == snr
    assert np.all(np.diff(np.abs(coef)) < 0)  # strict is ordered by |beta|
    s = raw.X[:, strict] @ coef
    assert abs(s.var() / sigma**2 / snr - 1) < 0.05
    # what the labels reveal: P(y = 1[s > 0]) = 1 - arccos(corr(s, s + eps)) / pi
    agree = np.mean((s > 0) == (raw.y == 1))
    rho_hat = np.cos(np.pi * (1 - agree))
    snr_hat = rho_hat**2 / (1 - rho_hat**2)
    assert abs(agree - (1 - np.arccos(np.sqrt(snr / (1 + snr))) / np.pi)) < 0.012
    assert 0.75 < snr_hat / snr < 1.33


def test_hdlss_model():
    raw = synthetic.hdlss(n_samples=100, n_features=2000, n_informative=10, signal=5.0, seed=81)
    coef = np.asarray(raw.info["coefficients"])
    assert raw.X.shape == (100, 2000) and len(raw.ground_truth["strict"]) == 10
    assert abs(np.linalg.norm(coef) - 5.0) < 1e-12 and np.all(np.diff(np.abs(coef)) < 0)
    s = raw.X[:, raw.ground_truth["strict"]] @ coef
    assert np.mean((s > 0) == (raw.y == 1)) > 0.75


@pytest.mark.parametrize("bad", [
    ("synthetic.xor", dict(order=30)),
    ("synthetic.xor", dict(flip=0.6)),
    ("synthetic.switch", dict(n_features=8)),
    ("synthetic.correlated_gaussian", dict(rho=1.5)),
    ("synthetic.linear_snr", dict(snr=0.0)),
])
def test_bad_parameters_raise(bad):
    name, params = bad
    with pytest.raises(ValueError):
        _gen(name, 0, **params)


# ----------------------------------------------------------------------------------- cards

SLOW_CARDS = {"mnist", "madelon_like"}
QUICK_ALLOWED = {"breast_cancer", "classification_small", "wine", "xor_small"}


def _parse(path):
    from bench_core.data.cards import parse_card
    from bench_core.tracks.base import DATA_REQUIREMENTS

    return parse_card(path, DATA_REQUIREMENTS)


@pytest.mark.parametrize("path", CARDS, ids=[p.stem for p in CARDS])
def test_card_parses(path):
    card = _parse(path)
    assert card.name == path.stem
    assert card.title and card.description and card.citation and card.license
    assert card.checksums.keys() == {"data", "splits"}
    if card.source.is_file:
        assert not Path(card.source.file).is_absolute() and card.source.url.startswith("https://")
        assert card.url
    if card.split.method == "stratified_kfold":
        assert (card.split.folds, card.split.repeats) == (10, 1)
    else:
        assert (card.split.test_fraction, card.split.n_splits) == (0.3, 10)


def test_cards_have_distinct_split_seeds_and_a_small_quick_tier():
    cards = [_parse(p) for p in CARDS]
    seeds = [c.split.seed for c in cards]
    assert len(seeds) == len(set(seeds))
    cheap = {c.name for c in cards if c.tier in ("smoke", "quick")}
    assert cheap <= QUICK_ALLOWED


def _loader_cards():
    out = []
    for p in CARDS:
        text = p.read_text(encoding="utf-8")
        if "\nloader = " in text:
            marks = [pytest.mark.slow] if p.stem in SLOW_CARDS else []
            out.append(pytest.param(p, id=p.stem, marks=marks))
    return out


@pytest.mark.parametrize("path", _loader_cards())
def test_loader_card_reproduces_its_checksums(path, registry):
    from bench_core.data.dataset import materialise

    card = _parse(path)
    ds, derived = materialise(card, registry.loader_fns, registry.reader_fns, None)  # raises on any mismatch
    assert derived.n_samples >= 2 and ds.n_classes >= 2
    assert (ds.n_samples < 200) == (card.split.method == "stratified_kfold")
    if "ground_truth" in card.properties:
        assert ds.ground_truth and len(ds.ground_truth["strict"]) >= 1


def _file_cards():
    return [pytest.param(p, id=p.stem) for p in CARDS if "\nfile = " in p.read_text(encoding="utf-8")]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("FEATBENCH_DATA_DIR"), reason="FEATBENCH_DATA_DIR is not set")
@pytest.mark.parametrize("path", _file_cards())
def test_file_card_reproduces_its_checksums(path, registry):
    from bench_core.data.dataset import data_dir, materialise

    card = _parse(path)
    ds, derived = materialise(card, registry.loader_fns, registry.reader_fns, data_dir())
    assert derived.source_file == card.source.sha256
    assert (ds.n_samples < 200) == (card.split.method == "stratified_kfold")
