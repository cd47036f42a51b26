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
