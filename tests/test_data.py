"""Dataset cards, splits, checksums, caching and train-only preprocessing."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bench_core.data.cards import CardError, SplitSpec, card_from_dict, parse_card, write_checksums
from bench_core.data.dataset import (
    Dataset,
    RawData,
    cache_path,
    load_cache,
    materialise,
    missing_reason,
    prepare,
    save_cache,
)
from bench_core.data.splits import data_checksum, duplicate_rows_across, make_splits, splits_checksum
from bench_core.errors import ChecksumMismatch, DataMissing

BASE = {
    "name": "demo", "title": "Demo", "tracks": ["selectors"], "task": "classification", "tier": "quick",
    "source": {"loader": "demo.loader"}, "split": {"method": "stratified_shuffle", "seed": 1},
}


def _card(**overrides):
    raw = {**BASE, **overrides}
    return card_from_dict(raw, "demo.toml")


@pytest.mark.parametrize("change, message", [
    ({"colour": "blue"}, "unknown key 'colour' (valid: checksums, citation"),
    ({"tier": "huge"}, "tier is 'huge' (valid: smoke, quick, standard, full)"),
    ({"task": "regression"}, "task is 'regression' (valid: classification"),
    ({"name": "Bad Name"}, "must match"),
    ({"source": {"loader": "x", "file": "a.mat"}}, "exactly one of 'loader' or 'file'"),
    ({"source": {"file": "a.mat", "reader": "mat"}}, "a file source needs 'sha256'"),
    ({"source": {"file": "/abs/a.mat", "reader": "mat", "sha256": "0" * 64}}, "relative to the data directory"),
    ({"split": {"method": "bootstrap"}}, "method is 'bootstrap' (valid: stratified_shuffle, stratified_group_shuffle, stratified_kfold, predefined)"),
    ({"split": {"test_fraction": 1.5}}, "test_fraction must be in (0, 1)"),
    ({"checksums": {"data": "abc"}}, "64 lowercase hex"),
    ({"properties": ["sparse"]}, "unknown property 'sparse' (valid: ground_truth, nonnegative"),
])
def test_malformed_cards_name_the_problem_and_the_valid_choices(change, message):
    from bench_core.tracks.base import DATA_REQUIREMENTS

    with pytest.raises(CardError) as err:
        card_from_dict({**BASE, **change}, "demo.toml", DATA_REQUIREMENTS)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_key_and_toml_syntax(tmp_path):
    raw = dict(BASE)
    del raw["split"]
    with pytest.raises(CardError, match="missing required key 'split'"):
        card_from_dict(raw, "x.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x\n")
    with pytest.raises(CardError, match="malformed dataset card .*bad.toml"):
        parse_card(bad)


def test_fingerprint_ignores_prose_but_not_data_choices():
    a = _card()
    assert a.fingerprint == _card(title="Other", description="words").fingerprint
    assert a.fingerprint != _card(split={"method": "stratified_shuffle", "seed": 2}).fingerprint
    assert a.fingerprint != _card(source={"loader": "demo.loader", "params": {"n": 3}}).fingerprint


def test_write_checksums_replaces_only_that_table(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(textwrap.dedent("""\
        name = "demo"  # keep me
        title = "Demo"
        tracks = ["selectors"]
        task = "classification"
        tier = "quick"

        [source]
        loader = "demo.loader"

        [split]
        seed = 1
        """))
    write_checksums(p, "a" * 64, "b" * 64)
    write_checksums(p, "c" * 64, "d" * 64)
    text = p.read_text()
    assert "# keep me" in text and text.count("[checksums]") == 1
    assert parse_card(p).checksums == {"data": "c" * 64, "splits": "d" * 64}


# --- splits ----------------------------------------------------------------------------------------------


def test_stratified_shuffle_keeps_class_proportions_and_is_deterministic():
    y = np.array([0] * 70 + [1] * 20 + [2] * 10)
    spec = SplitSpec(method="stratified_shuffle", test_fraction=0.3, n_splits=5, seed=3)
    splits = make_splits(y, spec)
    assert len(splits) == 5
    for train, test in splits:
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 100
        assert list(np.bincount(y[test])) == [21, 6, 3]
    assert splits_checksum(splits) == splits_checksum(make_splits(y, spec))
    other = SplitSpec(method="stratified_shuffle", test_fraction=0.3, n_splits=5, seed=4)
    assert splits_checksum(splits) != splits_checksum(make_splits(y, other))
    assert not np.array_equal(splits[0][1], splits[1][1]), "repeats differ"


def test_stratified_kfold_partitions_each_repeat():
    y = np.array([0] * 13 + [1] * 7)
    spec = SplitSpec(method="stratified_kfold", folds=5, repeats=2, seed=0)
    splits = make_splits(y, spec)
    assert len(splits) == 10 and spec.count == 10
    for r in range(2):
        tests = np.concatenate([splits[r * 5 + f][1] for f in range(5)])
        assert sorted(tests) == list(range(20)), "each row is in exactly one test fold per repeat"
        for f in range(5):
            assert abs(np.sum(y[splits[r * 5 + f][1]] == 1) - 7 / 5) < 1
    assert not all(np.array_equal(splits[f][1], splits[5 + f][1]) for f in range(5))


def test_grouped_split_keeps_groups_on_one_side():
    groups = np.repeat(np.arange(12), 5)
    y = (np.arange(12) % 2).repeat(5)
    spec = SplitSpec(method="stratified_group_shuffle", test_fraction=0.34, n_splits=4, seed=0)
    for train, test in make_splits(y, spec, groups):
        assert not set(groups[train]) & set(groups[test])
        assert np.bincount(y[test]).tolist() == [10, 10]
    with pytest.raises(ValueError, match="needs groups"):
        make_splits(y, spec, None)


def test_data_checksum_is_stable_to_last_bit_noise_but_not_to_real_changes():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 4)), np.arange(50) % 2
    base = data_checksum(X, y)
    assert data_checksum(np.nextafter(X, np.inf), y) == base, "one-ulp float64 noise must not change it"
    X2 = X.copy()
    X2[3, 2] += 1e-4
    assert data_checksum(X2, y) != base
    y2 = y.copy()
    y2[0] = 1 - y2[0]
    assert data_checksum(X, y2) != base
    Xn = X.copy()
    Xn[0, 0] = np.nan
    Xm = X.copy()
    Xm[0, 0] = -np.nan
    assert data_checksum(Xn, y) == data_checksum(Xm, y), "NaN payloads hash alike"
    # independent reference for the definition
    ref = hashlib.sha256(b"X(50, 4)" + X.astype("<f4").tobytes() + b"y(50,)" + y.astype("<i8").tobytes()).hexdigest()
    assert base == ref


def test_leakage_check_counts_test_rows_duplicated_in_train():
    X = np.array([[0, 1], [1, 1], [0, 1], [2, 2], [1, 1], [3, 3]], dtype=float)
    assert duplicate_rows_across(X, np.array([0, 1, 3]), np.array([2, 4, 5])) == 2


# --- materialise, verify, cache, preprocessing -------------------------------------------------------------


def _loader(n=40, d=5, seed=0, missing=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if missing:
        X[::7, 1] = np.nan
    return RawData(X=X, y=np.arange(n) % 2)


LOADERS = {"demo.loader": _loader}


def _verified_card(**over):
    card = _card(**over)
    _ds, derived = materialise(card, LOADERS, {}, None, verify=False)
    return card_from_dict({**BASE, **over, "checksums": {"data": derived.data, "splits": derived.splits}}, "demo.toml")


def test_checksum_mismatch_is_refused():
    card = _verified_card()
    materialise(card, LOADERS, {}, None)
    wrong = card_from_dict({**BASE, "checksums": {"data": "0" * 64, "splits": card.checksums["splits"]}}, "demo.toml")
    with pytest.raises(ChecksumMismatch, match="data checksum mismatch"):
        materialise(wrong, LOADERS, {}, None)
    unpinned = _card()
    with pytest.raises(ChecksumMismatch, match="has no \\[checksums\\]"):
        materialise(unpinned, LOADERS, {}, None)


def test_file_source_missing_or_tampered(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    f = data / "sub" / "x.npy"
    np.save(f, np.zeros(3))
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    card = card_from_dict({**BASE, "source": {"file": "sub/x.npy", "sha256": sha, "reader": "npy",
                                              "url": "https://example.org/x.npy"}}, "f.toml")
    msg = missing_reason(card, None)
    assert "FEATBENCH_DATA_DIR" in msg and "https://example.org/x.npy" in msg
    msg = missing_reason(card, tmp_path / "elsewhere")
    assert "sub/x.npy is missing" in msg and "https://example.org/x.npy" in msg
    assert missing_reason(card, data) is None
    f.write_bytes(f.read_bytes() + b"tamper")
    with pytest.raises(ChecksumMismatch, match="the card pins"):
        materialise(card, {}, {"npy": lambda p: None}, data)
    with pytest.raises(DataMissing):
        materialise(card, {}, {}, tmp_path / "elsewhere")


def test_cache_is_reverified_and_rebuilt_when_corrupt(tmp_path):
    card = _verified_card()
    path = prepare(card, LOADERS, {}, None, tmp_path)
    assert path == cache_path(card, tmp_path) and path.exists()
    ds = load_cache(card, path)
    assert ds.n_samples == 40 and len(ds.splits) == 10
    # tamper with the cached data: the checksum catches it and prepare() rebuilds the file
    bad = Dataset(card, ds.X + 1.0, ds.y, ds.classes, ds.splits, None)
    save_cache(bad, path)
    with pytest.raises(ChecksumMismatch):
        load_cache(card, path)
    prepare(card, LOADERS, {}, None, tmp_path)
    np.testing.assert_array_equal(load_cache(card, path).X, ds.X)
    path.write_bytes(b"garbage")
    prepare(card, LOADERS, {}, None, tmp_path)
    np.testing.assert_array_equal(load_cache(card, path).X, ds.X)


def test_preprocessing_uses_training_rows_only():
    card = _verified_card(source={"loader": "demo.loader", "params": {"missing": True}},
                          preprocess={"impute": "mean", "scale": "standard"})
    ds, _ = materialise(card, LOADERS, {}, None)
    sp = ds.split(0)
    train, test = ds.splits[0]
    raw_train = ds.X[train]
    col_mean = np.nanmean(raw_train[:, 1])
    imputed = np.where(np.isnan(raw_train[:, 1]), col_mean, raw_train[:, 1])
    mu, sd = imputed.mean(), imputed.std()
    np.testing.assert_allclose(sp.X_train[:, 1], (imputed - mu) / sd, atol=1e-12)
    raw_test = ds.X[test][:, 1]
    expected_test = (np.where(np.isnan(raw_test), col_mean, raw_test) - mu) / sd
    np.testing.assert_allclose(sp.X_test[:, 1], expected_test, atol=1e-12)
    assert not np.isnan(sp.X_train).any() and not np.isnan(sp.X_test).any()
    np.testing.assert_allclose(sp.X_train.mean(axis=0), 0, atol=1e-12)
    assert abs(sp.X_test.mean()) > 1e-6, "test rows are not standardized with their own statistics"


def test_every_shipped_card_parses_and_names_a_registered_source(registry):
    from bench_core.data.dataset import missing_reason

    for name, entry in registry.cards.items():
        card = entry.obj
        assert not Path(card.source.file or "rel").is_absolute()
        if card.source.is_file:
            assert card.source.reader in registry.readers and card.source.url
            assert "FEATBENCH_DATA_DIR" in missing_reason(card, None)
        else:
            assert card.source.loader in registry.loaders, name
        assert card.checksums.keys() == {"data", "splits"}, name
    assert not registry.card_errors
