"""The SAE section of the conformance kit catches what it claims to catch, and every built-in SAE passes it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench_core.testing import run_checks
from bench_core.tracks.base import Tags
from bench_core.tracks.saes import SAE
from plugins.saes import classical, controls, trained

BUILTINS = [*controls.CONTROLS, *trained.TRAINED, *classical.CLASSICAL]


class _Base(SAE):
    version = "1"
    tags = Tags(supervised=False)

    def fit(self, acts, ctx):
        self.D = torch.eye(acts.shape[1])

    def encode(self, x):
        return torch.as_tensor(x).float().clone()

    def decode(self, z):
        return torch.as_tensor(z).float()

    @property
    def dictionary(self):
        return self.D


class WrongDictionary(_Base):
    name = "wrong_dictionary"

    @property
    def dictionary(self):
        return self.D[:, :3]


class IgnoresK(_Base):
    """Declares k but keeps every code."""

    name = "ignores_k"
    params = {"k": 4}
    sparsity_param = "k"


class Unseeded(_Base):
    name = "unseeded"

    def fit(self, acts, ctx):
        self.D = torch.randn(acts.shape[1], acts.shape[1])


class Mutates(_Base):
    name = "mutates"

    def fit(self, acts, ctx):
        acts -= acts.mean(0)
        self.D = torch.eye(acts.shape[1])


class WantsLabels(_Base):
    name = "wants_labels"

    def fit(self, acts, ctx, y=None):
        self.D = torch.eye(acts.shape[1])


@pytest.mark.parametrize("cls, check", [
    (WrongDictionary, "check_sae_shapes"),
    (IgnoresK, "check_sae_sparsity_param_moves_l0"),
    (Unseeded, "check_sae_deterministic"),
    (Mutates, "check_sae_no_labels"),
    (WantsLabels, "check_sae_no_labels"),
])
def test_the_kit_catches_a_broken_sae(cls, check):
    results = {r.check: r for r in run_checks(cls)}
    assert results[check].status == "failed", results[check]
    assert results["check_declaration"].status == "passed"


def test_a_correct_sae_passes():
    results = run_checks(_Good)
    assert [r.status for r in results] == ["passed"] * len(results), results


class _Good(_Base):
    name = "good_identity"


def test_every_builtin_sae_is_registered_and_covered_by_the_kit(registry):
    """Each built-in is registered, so ``tests/test_conformance_kit.py::test_every_builtin_method_passes_the_kit``
    runs the SAE checks on it (not repeated here, to keep the suite's time)."""
    from bench_core.testing import checks_for

    assert {c.name for c in BUILTINS} <= set(registry.methods["saes"])
    names = [c.name for c in checks_for(BUILTINS[0])]
    assert {"check_sae_shapes", "check_sae_sparsity_param_moves_l0", "check_sae_deterministic",
            "check_sae_no_labels"} <= set(names)


def test_the_planted_control_refuses_to_run_without_ground_truth():
    from bench_core.tracks.base import Context

    x = torch.randn(32, 4)
    with pytest.raises(ValueError, match="planted_dictionary"):
        controls.Planted().fit(x, Context(seed=0))


def test_omp_codes_match_scikit_learn():
    from sklearn.linear_model import orthogonal_mp_gram

    rng = np.random.default_rng(0)
    D = rng.normal(size=(40, 12))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.normal(size=(50, 12))
    z = controls.omp_codes(torch.tensor(D), torch.tensor(X), 4).double().numpy()
    ref = orthogonal_mp_gram(D @ D.T, D @ X.T, n_nonzero_coefs=4).T
    np.testing.assert_allclose(z, ref, atol=1e-5)
    assert np.all((z != 0).sum(1) <= 4)


@pytest.mark.parametrize("cls", [classical.FastICA, classical.DictLearningOMP, classical.NMF])
def test_a_reused_k_free_fit_equals_a_fresh_fit(cls):
    """FastICA, dictionary learning and NMF read k only in ``encode``, so the protocol's fit at the next
    target reuses the last fit (``classical._FitIgnoresK``): the reused dictionary equals a fresh fit's
    (fresh: the memo cleared, so the kit's determinism check, which would hit the memo, is covered here),
    the codes follow the new k, and another seed or other rows fit again."""
    from bench_core.tracks.base import Context

    x = torch.randn(512, 8, generator=torch.Generator().manual_seed(0))
    params = dict(cls.profile_params["smoke"])
    classical._FitIgnoresK._last_fit.clear()
    a = cls(k=2, **params)
    a.fit(x, Context(seed=3))
    assert a.tokens_seen is None  # a fresh fit: one pass over its rows
    reused = cls(k=4, **params)
    reused.fit(x, Context(seed=3))
    assert reused.tokens_seen == 0.0  # nothing trained
    classical._FitIgnoresK._last_fit.clear()
    fresh = cls(k=4, **params)
    fresh.fit(x, Context(seed=3))
    assert fresh.tokens_seen is None
    torch.testing.assert_close(reused.dictionary, fresh.dictionary, rtol=0, atol=0)
    torch.testing.assert_close(a.dictionary, fresh.dictionary, rtol=0, atol=0)
    za, z4 = a.encode(x), reused.encode(x)
    assert int((za != 0).sum(1).max()) <= 2 and int((z4 != 0).sum(1).max()) <= 4
    assert float((z4 != 0).sum(1).float().mean()) > float((za != 0).sum(1).float().mean())
    torch.testing.assert_close(z4, fresh.encode(x), rtol=0, atol=0)
    other_seed = cls(k=4, **params)
    other_seed.fit(x, Context(seed=4))
    assert other_seed.tokens_seen is None
    other_rows = cls(k=4, **params)
    other_rows.fit(x[:256], Context(seed=4))
    assert other_rows.tokens_seen is None
