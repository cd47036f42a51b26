"""Splice fidelity on a fixed subset of whole evaluation documents (SAE track protocol version 4).

No transformer here: a stand-in runner (a fixed non-linear map of each token, mean-pooled per document, the
shape of ``MiniLMRunner.sentence_embeddings_from_layer``) and a hand-made token dataset. The scores are checked
against the definitions written out in the tests (perfect reconstruction 1, mean ablation 0, a half-way
reconstruction against the formula computed here), and :func:`splice_docs` against its spec.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bench_core.profiles import get_profile, track_settings
from bench_core.tracks import TRACKS
from bench_core.tracks.saes import SAE, evaluate, splice_docs, splice_runner

D = 6


class FakeRunner:
    """Embeddings = per-document mean of tanh(h @ W) (one row per distinct doc, increasing doc order);
    records the documents and row counts of each call."""

    def __init__(self) -> None:
        self.W = np.random.default_rng(3).standard_normal((D, 5))
        self.calls: list[tuple[np.ndarray, int]] = []

    def sentence_embeddings_from_layer(self, layer, hidden, doc, position):
        hidden, doc = np.asarray(hidden, dtype=np.float64), np.asarray(doc)
        docs = np.unique(doc)
        self.calls.append((docs, len(doc)))
        T = np.tanh(hidden @ self.W)
        return np.stack([T[doc == d].mean(0) for d in docs])


def token_dataset(name="toy_tokens", n_docs=30, seed=0):
    """Documents of 2-9 tokens; every third document is evaluation data."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 10, size=n_docs)
    doc = np.repeat(np.arange(n_docs), lengths)
    position = np.concatenate([np.arange(n) for n in lengths])
    X = rng.standard_normal((len(doc), D)).astype(np.float32)
    test = np.flatnonzero(doc % 3 == 0)
    train = np.flatnonzero(doc % 3 != 0)
    ds = SimpleNamespace(name=name, X=X, arrays={"doc": doc, "position": position}, info={"layer": 3},
                         splits=[(train, test)])
    return ds, train, test


class Linear(SAE):
    """decode(encode(x)) = a·x + (1 − a)·mean: a = 1 a perfect reconstruction, a = 0 the mean ablation."""

    name = "linear_test"
    params = {}

    def __init__(self, a: float, mean: np.ndarray) -> None:
        super().__init__()
        self.a, self.mean = a, torch.as_tensor(mean, dtype=torch.float32)

    @property
    def dictionary(self):
        return torch.eye(D)

    def encode(self, x):
        return self.a * x

    def decode(self, z):
        return z + (1 - self.a) * self.mean


def _job(ds, train, test, settings, a):
    X = torch.as_tensor(ds.X[train])
    splice = splice_runner(ds, settings, X, test)
    runner = FakeRunner()
    splice = (runner, *splice[1:])
    mean = splice[2]
    out = evaluate(Linear(a, mean), torch.as_tensor(ds.X[test]), ds, test, 16, "cpu", splice)
    return out, runner, splice


def _settings(n_tokens):
    return {"splice_model": "minilm", "splice_tokens": n_tokens}


@pytest.mark.parametrize("n_tokens", [0, 1, 12, 40, 10_000])
def test_perfect_reconstruction_recovers_one_and_mean_ablation_zero_on_any_subset(n_tokens):
    ds, train, test = token_dataset()
    perfect, _, _ = _job(ds, train, test, _settings(n_tokens), 1.0)
    assert perfect["splice_recovered"] == pytest.approx(1.0, abs=1e-12)
    assert perfect["splice_cosine"] == pytest.approx(1.0, abs=1e-12)
    ablated, _, _ = _job(ds, train, test, _settings(n_tokens), 0.0)
    assert ablated["splice_recovered"] == pytest.approx(0.0, abs=1e-12)


def test_partial_reconstruction_matches_the_formula_on_the_subset_only():
    ds, train, test = token_dataset()
    out, runner, splice = _job(ds, train, test, _settings(25), 0.5)
    keep = splice[4]
    assert keep is not None and 0 < len(keep) < len(np.unique(ds.arrays["doc"][test]))
    # the runner only ever saw whole documents of the subset
    for docs, n_rows in runner.calls:
        assert set(docs.tolist()) <= set(keep.tolist())
        assert n_rows == int(np.isin(ds.arrays["doc"], docs).sum())
    assert set(np.concatenate([c[0] for c in runner.calls]).tolist()) == set(keep.tolist())
    # the definition, computed here on the subset's rows in one go
    rows = test[np.isin(ds.arrays["doc"][test], keep)]
    x, doc = ds.X[rows].astype(np.float64), ds.arrays["doc"][rows]
    mean = np.asarray(splice[2], dtype=np.float64)
    ref = FakeRunner()
    E = ref.sentence_embeddings_from_layer(3, x, doc, None)
    Es = ref.sentence_embeddings_from_layer(3, 0.5 * x + 0.5 * mean, doc, None)
    Ea = ref.sentence_embeddings_from_layer(3, np.broadcast_to(mean, x.shape), doc, None)

    def cos(A, B):
        return (A * B).sum(1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)

    expected = 1 - (1 - cos(E, Es)).sum() / (1 - cos(E, Ea)).sum()
    assert 0.0 < expected < 1.0
    assert out["splice_recovered"] == pytest.approx(expected, rel=1e-5)
    assert out["splice_cosine"] == pytest.approx(cos(E, Es).mean(), rel=1e-6)


def test_the_subset_is_the_full_set_by_default():
    ds, train, test = token_dataset()
    track = TRACKS["saes"]
    for profile in ("smoke", "quick", "full"):
        assert not track_settings(track, get_profile(profile))["splice_tokens"]
    assert splice_docs(ds, test, 0) is None and splice_docs(ds, test, None) is None
    n_test = len(test)
    assert splice_docs(ds, test, n_test) is None, "a budget of every evaluation token: all of them"
    full, runner, splice = _job(ds, train, test, _settings(0), 0.5)
    assert splice[4] is None
    seen = np.concatenate([c[0] for c in runner.calls])
    assert set(seen.tolist()) == set(np.unique(ds.arrays["doc"][test]).tolist())
    # the standard profile sets a subset
    assert track_settings(track, get_profile("standard"))["splice_tokens"] > 0


def test_the_subset_is_whole_documents_within_the_budget_and_deterministic():
    ds, train, test = token_dataset()
    doc = ds.arrays["doc"]
    eval_docs = set(np.unique(doc[test]).tolist())
    counts = {d: int((doc == d).sum()) for d in eval_docs}
    prev: set = set()
    for n_tokens in (1, 5, 12, 25, 40, len(test) - 1):
        keep = splice_docs(ds, test, n_tokens)
        assert keep is not None and np.all(np.diff(keep) > 0)
        chosen = set(keep.tolist())
        assert chosen <= eval_docs
        total = sum(counts[d] for d in chosen)
        assert total <= n_tokens or len(chosen) == 1, "within the budget (at least one document)"
        # the longest prefix of one fixed ranking: nested in the budget, and the next-ranked doc would overflow
        assert prev <= chosen
        prev = chosen
        # a function of the dataset only: the same for another call, a shuffled test index, a fresh copy
        rng = np.random.default_rng(n_tokens)
        assert np.array_equal(keep, splice_docs(ds, rng.permutation(test), n_tokens))
        ds2, _, test2 = token_dataset()
        assert np.array_equal(keep, splice_docs(ds2, test2, n_tokens))
    # the ranking is seeded by the dataset (its name), not by position: another name, another subset
    other = token_dataset(name="other_tokens")[0]
    assert any(not np.array_equal(splice_docs(ds, test, n), splice_docs(other, test, n)) for n in (12, 25, 40))


def test_the_subset_is_a_prefix_of_the_evaluation_documents_in_one_ranking():
    """Two splits rank their evaluation documents the same way: a document both evaluate on is in the
    subset of the split whose higher-ranked documents fit the budget."""
    ds, _, test = token_dataset(n_docs=60)
    doc = ds.arrays["doc"]
    all_docs = np.unique(doc)
    keep_all = splice_docs(ds, np.arange(len(doc)), 60)
    # a split whose evaluation documents are exactly the chosen ones keeps all of them
    rows = np.flatnonzero(np.isin(doc, keep_all))
    assert splice_docs(ds, rows, 60) is None
    # dropping an unchosen document from the evaluation rows does not change the subset
    dropped = np.setdiff1d(all_docs, keep_all)[0]
    assert np.array_equal(keep_all, splice_docs(ds, np.flatnonzero(doc != dropped), 60))


def test_model_threads_follow_the_workers_thread_count(monkeypatch):
    from plugins.datasets import minilm

    monkeypatch.delenv("FEATBENCH_MODEL_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert minilm.model_threads() == 1
    monkeypatch.setenv("FEATBENCH_MODEL_THREADS", "3")
    assert minilm.model_threads() == 3
    monkeypatch.delenv("FEATBENCH_MODEL_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert 1 <= minilm.model_threads() <= 8
