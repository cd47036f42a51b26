"""The dataset layer's extensions for tracks whose data is not one (X, y) table: extra named arrays, a
predefined (loader-given) split, float32 data kept as float32, and a checksum over a model's inputs."""

from __future__ import annotations

import numpy as np
import pytest

from bench_core.data.cards import CardError, card_from_dict
from bench_core.data.dataset import RawData, load_cache, materialise, save_cache
from bench_core.data.splits import data_checksum
from bench_core.errors import ChecksumMismatch, UsageError

BASE = {
    "name": "acts", "title": "Activations", "tracks": ["saes"], "task": "activations", "tier": "quick",
    "source": {"loader": "demo.acts"}, "split": {"method": "predefined", "n_splits": 3},
}


def _raw(n_train=30, n_eval=10, d=4, dtype=np.float32, inputs=None, atoms_scale=1.0):
    rng = np.random.default_rng(0)
    n = n_train + n_eval
    X = rng.normal(size=(n, d)).astype(dtype)
    atoms = atoms_scale * rng.normal(size=(6, d))
    fired = rng.random((n_eval, 6)) < 0.3
    return RawData(X=X, y=np.zeros(n, dtype=int), arrays={"atoms": atoms, "fired": fired},
                   splits=[(np.arange(n_train), np.arange(n_train, n))], checksum_inputs=inputs)


def _materialise(raw, card):
    ds, derived = materialise(card, {"demo.acts": lambda: raw}, {}, None, verify=False)
    return ds, derived


def test_predefined_split_is_repeated_per_seed_and_arrays_round_trip_the_cache(tmp_path):
    card = card_from_dict(BASE, "acts.toml")
    raw = _raw()
    ds, derived = _materialise(raw, card)
    assert len(ds.splits) == 3
    for tr, te in ds.splits:
        np.testing.assert_array_equal(tr, np.arange(30))
        np.testing.assert_array_equal(te, np.arange(30, 40))
    assert ds.X.dtype == np.float32, "float32 activations must not be doubled in memory"
    assert ds.split(1).X_train.dtype == np.float32
    np.testing.assert_array_equal(ds.arrays["fired"], raw.arrays["fired"])
    card = card_from_dict({**BASE, "checksums": {"data": derived.data, "splits": derived.splits}}, "acts.toml")
    path = tmp_path / "acts.npz"
    ds.card = card
    save_cache(ds, path)
    back = load_cache(card, path)
    np.testing.assert_array_equal(back.arrays["atoms"], raw.arrays["atoms"])
    assert back.arrays["fired"].dtype == bool
    assert set(back.arrays) == {"atoms", "fired"}


def test_the_data_checksum_covers_extra_arrays():
    card = card_from_dict(BASE, "acts.toml")
    a = _materialise(_raw(), card)[1].data
    b = _materialise(_raw(atoms_scale=2.0), card)[1].data
    assert a != b, "changing the planted dictionary must change the data checksum"
    X = np.ones((3, 2))
    y = np.zeros(3)
    assert data_checksum(X, y) == data_checksum(X, y, {}), "no extra arrays: the selectors checksums are unchanged"
    assert data_checksum(X, y, {"a": np.ones(2)}) != data_checksum(X, y, {"b": np.ones(2)}), "names count"


def test_a_checksum_over_inputs_ignores_last_bit_noise_but_not_inputs_or_shapes():
    X = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    y = np.zeros(5)
    base = data_checksum(X, y, None, "sha-of-weights-and-text")
    assert data_checksum(np.nextafter(X, np.float32(np.inf)), y, None, "sha-of-weights-and-text") == base
    assert data_checksum(X, y, None, "other-inputs") != base
    assert data_checksum(X[:4], y[:4], None, "sha-of-weights-and-text") != base


def test_a_cached_set_pinned_by_inputs_is_verified_against_them(tmp_path):
    card = card_from_dict(BASE, "acts.toml")
    ds, derived = _materialise(_raw(inputs="abc"), card)
    card = card_from_dict({**BASE, "checksums": {"data": derived.data, "splits": derived.splits}}, "acts.toml")
    ds.card = card
    save_cache(ds, tmp_path / "a.npz")
    load_cache(card, tmp_path / "a.npz")  # verifies
    wrong = card_from_dict({**BASE, "checksums": {"data": "0" * 64, "splits": derived.splits}}, "acts.toml")
    with pytest.raises(ChecksumMismatch):
        load_cache(wrong, tmp_path / "a.npz")


@pytest.mark.parametrize("splits, message", [
    (None, "needs `splits` from the dataset's loader"),
    ([(np.arange(5), np.arange(5, 10))] * 2, "gave 2 predefined splits, the card declares n_splits = 3"),
    ([(np.arange(6), np.arange(5, 10))], "rows on both sides"),
    ([(np.arange(5), np.arange(5, 50))], "outside [0, 40)"),
])
def test_bad_predefined_splits_are_refused_with_the_dataset_name(splits, message):
    card = card_from_dict(BASE, "acts.toml")
    raw = _raw()
    raw.splits = splits
    with pytest.raises(UsageError) as err:
        _materialise(raw, card)
    assert message in str(err.value) and "'acts'" in str(err.value)


def test_a_bad_extra_array_and_a_bad_predefined_card_are_refused():
    card = card_from_dict(BASE, "acts.toml")
    raw = _raw()
    raw.arrays = {"Bad Name": np.ones(3)}
    with pytest.raises(UsageError, match="extra array name 'Bad Name'"):
        _materialise(raw, card)
    raw.arrays = {"labels": np.array(["a", "b"])}
    with pytest.raises(UsageError, match="must be a numeric numpy array"):
        _materialise(raw, card)
    with pytest.raises(CardError, match="a predefined split takes only n_splits, not 'test_fraction'"):
        card_from_dict({**BASE, "split": {"method": "predefined", "test_fraction": 0.3}}, "acts.toml")
    assert card_from_dict({**BASE, "split": {"method": "predefined"}}, "x.toml").split.count == 1
