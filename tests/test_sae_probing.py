"""k-sparse probing over latents (bench_core.tracks.sae_probing), seed-to-seed consistency and training
throughput of the SAE protocol: pooling by document by hand, the probe against an independent scikit-learn
reference, and the protocol's new scores on a small labelled token set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench_core.data.dataset import Dataset
from bench_core.profiles import get_profile, track_settings
from bench_core.tracks import TRACKS
from bench_core.tracks import sae_probing as P
from bench_core.tracks.base import Context


def _dataset(X, y, doc, splits):
    return Dataset(None, X, y, np.unique(y), splits, None, {}, {"doc": doc})


def test_units_and_pooling_by_document_by_hand():
    # rows 0..5 of documents 7, 7, 3, 9, 9, 9 (labels per document: 7 -> 1, 3 -> 0, 9 -> 1)
    doc = np.array([7, 7, 3, 9, 9, 9])
    y = np.array([1, 1, 0, 1, 1, 1])
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    ds = _dataset(X, y, doc, [(np.arange(6), np.arange(6))])
    unit, labels = P.units(ds, np.arange(6))
    assert unit.tolist() == [1, 1, 0, 2, 2, 2]  # documents numbered in order of id: 3, 7, 9
    assert labels.tolist() == [0, 1, 1]
    F = P.pooled(lambda x: 2 * x, torch.as_tensor(X), unit, 3, batch=4)  # batches cut document 9
    expect = 2 * np.array([X[2], X[:2].mean(0), X[3:].mean(0)])
    np.testing.assert_allclose(F, expect, rtol=1e-12)
    # without documents, the rows are the units
    plain = Dataset(None, X, y, np.unique(y), [], None, {}, {})
    assert P.units(plain, np.array([4, 0]))[0].tolist() == [0, 1]
    # a document with two labels is refused
    with pytest.raises(ValueError, match="different labels"):
        P.units(_dataset(X, np.array([1, 0, 0, 1, 1, 1]), doc, []), np.arange(6))


def test_probe_matches_a_scikit_learn_reference(registry):
    from sklearn.feature_selection import f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    n, m = 300, 12
    y = rng.integers(0, 3, n)
    F = rng.normal(size=(n, m))
    F[:, 4] += 1.5 * y  # strongly informative
    F[:, 9] += 0.6 * (y == 2)  # weakly informative
    F_tr, F_te, y_tr, y_te = F[:200], F[200:], y[:200], y[200:]
    selector = registry.method("selectors", "anova_f")()
    got = P.probe_scores(F_tr, y_tr, F_te, y_te, [1, 2, 5, 40], selector, Context(seed=0))
    assert set(got) == {1, 2, 5}  # k kept below the number of features
    order = np.argsort(-f_classif(F_tr, y_tr)[0], kind="stable")
    assert order[0] == 4 and order[1] == 9
    for k, v in got.items():
        cols = np.sort(order[:k])
        ref = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(F_tr[:, cols], y_tr)
        assert v == pytest.approx(balanced_accuracy_score(y_te, ref.predict(F_te[:, cols])), abs=1e-12)
    assert got[1] > 0.6  # one informative latent reads the label well above chance (1/3)


def test_probe_hand_computed_case(registry):
    """Feature 1 equals the label, feature 0 is constant: the 1-sparse probe picks feature 1 and is perfect;
    with the features swapped the choice follows."""
    y = np.array([0, 1] * 20)
    F = np.stack([np.ones(40), y.astype(float), np.zeros(40)], 1)
    selector = registry.method("selectors", "anova_f")()
    assert P.probe_scores(F[:30], y[:30], F[30:], y[30:], [1], selector, Context(seed=0)) == {1: 1.0}
    G = F[:, [1, 0, 2]]
    assert P.probe_scores(G[:30], y[:30], G[30:], y[30:], [1], selector, Context(seed=0)) == {1: 1.0}
    # a constant feature alone is at chance (balanced accuracy 0.5)
    H = F[:, [0, 2]]
    assert P.probe_scores(H[:30], y[:30], H[30:], y[30:], [1], selector, Context(seed=0)) == {1: 0.5}


@pytest.fixture(scope="module")
def token_set():
    """40 documents of 6 tokens in d = 8, labels = 4 classes, each class shifting its own direction."""
    rng = np.random.default_rng(0)
    n_docs, per, d = 40, 6, 8
    doc = np.repeat(np.arange(n_docs), per)
    label_doc = np.arange(n_docs) % 4
    y = label_doc[doc]
    X = rng.normal(size=(n_docs * per, d)).astype(np.float32)
    X[np.arange(len(y)), y] += 2.0
    test_docs = np.arange(n_docs) >= 28
    test = np.flatnonzero(test_docs[doc])
    train = np.flatnonzero(~test_docs[doc])
    return _dataset(X, y, doc, [(train, test)])


def _settings(**over):
    s = {**track_settings(TRACKS["saes"], get_profile("smoke")), "l0_targets": [2, 4], "tokens": 2048,
         "batch_size": 64, "eval_batch": 50, "consistency_l0": [2]}
    return {**s, **over}


def test_protocol_reports_probing_consistency_and_throughput(registry, token_set):
    track = TRACKS["saes"]
    ident = track.run(registry.method("saes", "identity")(), token_set, 0, _settings(), Context(seed=0))
    for k in (1, 2, 5):
        raw = ident.scores[f"probe_k{k}_raw"]
        assert 0.0 <= raw <= 1.0
        # the identity's codes are the raw neurons: the same probe, the same score
        assert ident.scores[f"probe_k{k}@native"] == pytest.approx(raw)
    # one class direction separates one class of 4 (balanced accuracy at most (1 + 3/3)/4 = 0.5; chance
    # 0.25); five neurons hold all four directions
    assert 0.3 < ident.scores["probe_k1_raw"] <= 0.5 + 1e-12
    assert ident.scores["probe_k5_raw"] > 0.9
    assert ident.scores["consistency@native"] == pytest.approx(1.0)  # deterministic

    topk = track.run(registry.method("saes", "topk")(), token_set, 0, _settings(), Context(seed=0))
    s = topk.scores
    for k in (1, 2, 5):
        assert 0.0 <= s[f"probe_k{k}@L0=2"] <= 1.0 and 0.0 <= s[f"probe_k{k}@L0=4"] <= 1.0
        assert s[f"probe_k{k}_auc"] == pytest.approx((s[f"probe_k{k}@L0=2"] + s[f"probe_k{k}@L0=4"]) / 2)
    # a second seed of a gradient-trained SAE differs from the first, but not at random
    assert 0.0 < s["consistency@L0=2"] < 1.0 and "consistency@L0=4" not in s
    assert s["train_tokens_per_s"] > 0 and topk.outputs["consistency_fit_s"] > 0
    # probing is off on data without labels, and when the profile sets no k
    off = track.run(registry.method("saes", "identity")(), token_set, 0, _settings(probe_ks=[]), Context(seed=0))
    assert not any(k.startswith("probe") for k in off.scores)


def test_consistency_is_the_mcc_of_a_refit_with_the_offset_seed(registry, token_set):
    """The consistency score equals the MCC between the job's dictionary and the dictionary of a fit with
    seed + CONSISTENCY_SEED_OFFSET, recomputed here from two independent fits."""
    from bench_core.metrics.sae import mcc
    from bench_core.tracks.saes import CONSISTENCY_SEED_OFFSET, fit_one

    track = TRACKS["saes"]
    cls = registry.method("saes", "topk")
    settings = _settings(l0_targets=[2], probe_ks=[])
    out = track.run(cls(), token_set, 0, settings, Context(seed=5))
    X = torch.as_tensor(token_set.X[token_set.splits[0][0]])
    budget = {"tokens": settings["tokens"], "batch_size": settings["batch_size"]}
    a, _ = fit_one(cls(), X, budget, Context(seed=5), k=2)
    b, _ = fit_one(cls(), X, budget, Context(seed=5 + CONSISTENCY_SEED_OFFSET), k=2)
    assert out.scores["consistency@L0=2"] == pytest.approx(mcc(a.dictionary, b.dictionary), abs=1e-9)
