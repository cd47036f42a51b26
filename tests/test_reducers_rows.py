"""The reducers track's row cap (protocol 2, step 0): a seeded stratified subsample of a split's training
rows (and test rows), the same for every method of the split, never more than the cap
(``bench_core/data/subsample.py``), and the settings that set it."""

from __future__ import annotations

import numpy as np
import pytest

from bench_core.data.subsample import cap_split, split_rng, stratified_subsample
from bench_core.errors import UsageError
from bench_core.profiles import PROFILES, track_settings
from bench_core.tracks.base import Context, Tags
from bench_core.tracks.reducers import MIN_CAP_ROWS, Reducer, ReducersTrack

# ------------------------------------------------------------------------------------------ the allocation


@pytest.mark.parametrize("m", [1, 7, 50, 99, 100, 149])
def test_subsample_is_exactly_m_sorted_distinct_rows_stratified(m):
    y = np.repeat([0, 1, 2, 3], [70, 20, 9, 1])  # 100 rows ... and a class of one
    y = np.random.default_rng(5).permutation(y)
    idx = stratified_subsample(y, m, np.random.default_rng(0))
    n = len(y)
    assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0) and idx.min() >= 0 and idx.max() < n
    assert len(idx) == min(m, n)
    for c in np.unique(y):
        share = m * np.sum(y == c) / n
        got = int(np.sum(y[idx] == c))
        if m >= n:
            assert got == np.sum(y == c)
        else:  # its proportional share, rounded down or up
            assert np.floor(share) <= got <= np.ceil(share), (c, got, share)


def test_subsample_of_fewer_rows_than_the_cap_is_every_row_in_order():
    y = np.array([3, 1, 1, 2, 3])
    assert stratified_subsample(y, 5, np.random.default_rng(0)).tolist() == [0, 1, 2, 3, 4]
    assert stratified_subsample(y, 500, np.random.default_rng(0)).tolist() == [0, 1, 2, 3, 4]


def test_subsample_hand_computed_allocation():
    # 10 rows: class 0 has 6, class 1 has 3, class 2 has 1; m = 5 -> quotas 3, 1.5, 0.5: floors 3, 1, 0 and
    # the one row left goes to class 1 or 2 (equal fractional parts 0.5: a seeded random tie-break)
    y = np.array([0] * 6 + [1] * 3 + [2])
    seen = set()
    for seed in range(40):
        idx = stratified_subsample(y, 5, np.random.default_rng(seed))
        counts = tuple(int(np.sum(y[idx] == c)) for c in (0, 1, 2))
        assert counts in {(3, 2, 0), (3, 1, 1)}, counts
        seen.add(counts)
    assert seen == {(3, 2, 0), (3, 1, 1)}, "ties must not always favour the same class"


def test_subsample_is_deterministic_given_the_generator_and_varies_with_it():
    y = np.random.default_rng(1).integers(0, 4, size=300)
    a = stratified_subsample(y, 60, split_rng(7, 2, 1))
    b = stratified_subsample(y, 60, split_rng(7, 2, 1))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, stratified_subsample(y, 60, split_rng(7, 3, 1)))  # another split
    assert not np.array_equal(a, stratified_subsample(y, 60, split_rng(7, 2, 2)))  # the other part


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "100", None])
def test_subsample_refuses_a_cap_that_is_not_a_positive_integer(bad):
    with pytest.raises(ValueError, match="positive integer"):
        stratified_subsample(np.zeros(10), bad, np.random.default_rng(0))


# ----------------------------------------------------------------------------------------- on a split


@pytest.fixture(scope="module")
def s_curve(registry):
    from bench_core.data.dataset import materialise

    ds, _ = materialise(registry.card("s_curve_small"), registry.loader_fns, registry.reader_fns, None)
    return ds


def test_cap_split_takes_a_stratified_subset_of_the_split_rows(s_curve):
    seed = s_curve.card.split.seed
    full = s_curve.split(1)
    sp = cap_split(full, 100, 30, seed, 1)
    assert (len(sp.X_train), len(sp.y_train), len(sp.train_idx)) == (100, 100, 100)
    assert (len(sp.X_test), len(sp.y_test), len(sp.test_idx)) == (30, 30, 30)
    # rows of the split, with their preprocessed values and labels, and their dataset indices
    pos = np.searchsorted(full.train_idx, sp.train_idx)
    assert np.array_equal(full.train_idx[pos], sp.train_idx)
    assert np.array_equal(full.X_train[pos], sp.X_train) and np.array_equal(full.y_train[pos], sp.y_train)
    pos_t = np.searchsorted(full.test_idx, sp.test_idx)
    assert np.array_equal(full.test_idx[pos_t], sp.test_idx) and np.array_equal(full.X_test[pos_t], sp.X_test)
    for part, sub, m in ((full.y_train, sp.y_train, 100), (full.y_test, sp.y_test, 30)):
        for c in np.unique(part):
            share = m * np.mean(part == c)
            assert np.floor(share) <= np.sum(sub == c) <= np.ceil(share)
    # deterministic given the split; another split draws other rows
    again = cap_split(s_curve.split(1), 100, 30, seed, 1)
    assert np.array_equal(again.train_idx, sp.train_idx) and np.array_equal(again.test_idx, sp.test_idx)
    other = cap_split(s_curve.split(2), 100, 30, seed, 2)
    assert not np.array_equal(other.train_idx, sp.train_idx)


def test_cap_split_without_caps_or_above_the_size_is_the_split_itself(s_curve):
    sp = s_curve.split(0)
    assert cap_split(sp, None, None, 0, 0) is sp
    assert cap_split(sp, 10_000, 10_000, 0, 0) is sp
    only_test = cap_split(sp, None, 20, 0, 0)
    assert np.array_equal(only_test.train_idx, sp.train_idx) and len(only_test.test_idx) == 20


# ------------------------------------------------------------------------------------ through the track


class _Probe(Reducer):
    """Records what it is given; embeds by the first two columns (and so can embed new points)."""

    name = "probe_rows"
    version = "1"
    tags = Tags(supervised=False, stochastic=True)
    seen: list = []

    def fit_transform(self, X, n_components, ctx):
        type(self).seen.append(("fit", ctx.seed, X.copy()))
        return X[:, :n_components].copy()

    def transform(self, X):
        type(self).seen.append(("transform", None, X.copy()))
        return X[:, :2].copy()


class _OtherProbe(_Probe):
    name = "probe_rows_other"
    seen: list = []

    def fit_transform(self, X, n_components, ctx):
        ctx.rng(99).normal(size=10)  # another method, other randomness: the rows must not depend on it
        return super().fit_transform(X, n_components, ctx)


def _settings(**kw):
    track = ReducersTrack()
    return track, {**track.default_settings(), "pairs": 5000, "auc_k": 20, **kw}


def test_every_method_of_a_split_gets_the_same_capped_rows_train_and_test(s_curve):
    track, s = _settings(max_train_rows=120, max_test_rows=60)
    _Probe.seen, _OtherProbe.seen = [], []
    out = track.run(_Probe(), s_curve, 3, s, Context(seed=3))
    track.run(_OtherProbe(), s_curve, 3, s, Context(seed=3))
    (f1, s1, X1), (t1, _, T1) = _Probe.seen
    (f2, _, X2), (t2, _, T2) = _OtherProbe.seen
    assert (f1, t1, f2, t2) == ("fit", "transform", "fit", "transform")
    assert X1.shape == (120, 3) and np.array_equal(X1, X2)
    assert T1.shape == (60, 3) and np.array_equal(T1, T2)
    expect = cap_split(s_curve.split(3), 120, 60, s_curve.card.split.seed, 3)
    assert np.array_equal(X1, expect.X_train) and np.array_equal(T1, expect.X_test)
    assert "oos_structure" in out.scores  # scored on the capped test rows


def test_the_latent_coordinates_follow_the_capped_rows(registry, s_curve):
    # the positive control gets the latent coordinates of exactly the rows it embeds: perfect intrinsic scores
    track, s = _settings(max_train_rows=150, max_test_rows=None)
    out = track.run(registry.method("reducers", "true_coordinates")(), s_curve, 0, s, Context(seed=0))
    assert out.scores["intrinsic_trustworthiness@7"] == pytest.approx(1.0, abs=1e-12)
    assert out.scores["intrinsic_structure"] == pytest.approx(1.0, abs=1e-12)


def test_a_cap_at_or_above_the_data_size_leaves_every_score_unchanged(registry, s_curve):
    pca = registry.method("reducers", "pca")
    track, s = _settings()
    plain = track.run(pca(), s_curve, 0, s, Context(seed=0)).scores
    _, s_big = _settings(max_train_rows=len(s_curve.split(0).y_train), max_test_rows=100_000)
    assert track.run(pca(), s_curve, 0, s_big, Context(seed=0)).scores == plain


# ------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize("key", ["max_train_rows", "max_test_rows"])
@pytest.mark.parametrize("bad", [0, MIN_CAP_ROWS - 1, 100.0, True, "500", [100]])
def test_a_bad_row_cap_is_refused_in_one_line_naming_it(key, bad, s_curve):
    track, s = _settings(**{key: bad})
    with pytest.raises(UsageError) as err:
        track.validate_settings(s)
    msg = str(err.value)
    assert key in msg and "None" in msg and str(MIN_CAP_ROWS) in msg and "\n" not in msg
    with pytest.raises(UsageError):
        track.run(_Probe(), s_curve, 0, s, Context(seed=0))


def test_every_profile_gives_valid_reducer_settings_and_only_standard_caps_rows():
    track = ReducersTrack()
    caps = {}
    for name, profile in PROFILES.items():
        s = track_settings(track, profile)
        track.validate_settings(s)
        caps[name] = (s["max_train_rows"], s["max_test_rows"])
    # quick (CI, the default board) and smoke run every row of their small cards; full is the cards' own size
    assert caps["smoke"] == caps["quick"] == caps["full"] == (None, None)
    train, test = caps["standard"]
    assert isinstance(train, int) and isinstance(test, int) and MIN_CAP_ROWS <= test <= train
