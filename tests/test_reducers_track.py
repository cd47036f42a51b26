"""The reducers track: its protocol, the conformance kit's reducer checks (they pass on every built-in and
catch what they claim to catch), and a third-party reducer plugin end to end."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from bench_core.errors import InvalidOutput
from bench_core.testing import parametrize_with_checks, run_checks
from bench_core.tracks.base import Context, Tags
from bench_core.tracks.reducers import Reducer, ReducersTrack, local_global
from conftest import run_cli


def _builtin_reducers():
    from bench_core.registry import load_registry

    reg = load_registry()
    return [reg.method("reducers", n) for n in sorted(reg.methods["reducers"])
            if reg.method_plugin("reducers", n).dist == "featbench"]


BUILTINS = _builtin_reducers()


def test_at_least_the_issue_methods_are_built_in():
    names = {c.name for c in BUILTINS}
    assert {"pca", "random_projection", "true_coordinates", "opentsne", "tsne_sklearn", "umap", "pacmap", "trimap",
            "isomap", "mds", "lle", "laplacian_eigenmaps", "kernel_pca", "diffusion_maps", "largevis", "tldr",
            "autoencoder"} <= names


@parametrize_with_checks(BUILTINS)
def test_builtin_reducers_pass_the_kit(method, check):
    check(method)


# ------------------------------------------------------------------------------------ the kit can fail


class _Base(Reducer):
    version = "1"
    tags = Tags(supervised=False, stochastic=True)


class NonDeterministic(_Base):
    """Ignores the seed."""

    name = "nondet"

    def fit_transform(self, X, n_components, ctx):
        return np.random.default_rng().normal(size=(X.shape[0], n_components))


class WrongShape(_Base):
    """Returns three columns."""

    name = "wrongshape"

    def fit_transform(self, X, n_components, ctx):
        return X[:, :3]


class NaNs(_Base):
    """Returns a NaN."""

    name = "nans"

    def fit_transform(self, X, n_components, ctx):
        Z = X[:, :n_components].copy()
        Z[0, 0] = np.nan
        return Z


class FalseExactTransform(_Base):
    """Claims an exact transform, but its transform is a different projection."""

    name = "falseexact"
    transform_exact = True

    def fit_transform(self, X, n_components, ctx):
        return X[:, :n_components].copy()

    def transform(self, X):
        return X[:, 1 : 1 + 2] * 1.5


class PeeksAtLabels(_Base):
    """Reads the training labels from its caller's frame (a leak the protocol must make pointless)."""

    name = "peeks"

    def fit_transform(self, X, n_components, ctx):
        frame = inspect.currentframe().f_back
        while frame is not None and "sp" not in frame.f_locals:
            frame = frame.f_back
        Z = X[:, :n_components].copy()
        if frame is not None:
            Z[:, 0] += frame.f_locals["sp"].y_train
        return Z


@pytest.mark.parametrize("cls, check", [
    (NonDeterministic, "check_reducer_deterministic"),
    (WrongShape, "check_reducer_shape"),
    (NaNs, "check_reducer_shape"),
    (FalseExactTransform, "check_reducer_transform"),
    (PeeksAtLabels, "check_reducer_label_free"),
])
def test_kit_catches(cls, check):
    results = {r.check: r for r in run_checks(cls)}
    assert results[check].status == "failed", results[check]


# ------------------------------------------------------------------------------------------- protocol


@pytest.fixture(scope="module")
def s_curve(registry):
    from bench_core.data.dataset import materialise

    ds, _ = materialise(registry.card("s_curve_small"), registry.loader_fns, registry.reader_fns, None)
    return ds


def _run(cls, ds, **settings):
    track = ReducersTrack()
    s = {**track.default_settings(), "pairs": 5000, "auc_k": 20, **settings}
    return track.run(cls(), ds, 0, s, Context(seed=0))


def test_positive_control_is_perfect_on_intrinsic_scores(registry, s_curve):
    out = _run(registry.method("reducers", "true_coordinates"), s_curve)
    for key in ("intrinsic_trustworthiness@7", "intrinsic_continuity@15", "intrinsic_rnx_auc", "intrinsic_rta",
                "intrinsic_shepard", "intrinsic_structure"):
        assert out.scores[key] == pytest.approx(1.0, abs=1e-12), key
    assert "oos_structure" not in out.scores and "oos_structure_skipped" in out.outputs


def test_protocol_scores_pca_in_and_out_of_sample(registry, s_curve):
    out = _run(registry.method("reducers", "pca"), s_curve)
    s = out.scores
    for key in ("structure", "local", "global", "trustworthiness@7", "continuity@15", "qnx@7", "rnx_auc",
                "nh@7", "knn_acc@15", "shepard", "shepard_se", "stress", "rta", "rta_se", "cta",
                "intrinsic_structure", "oos_structure", "oos_trustworthiness@7"):
        assert key in s and np.isfinite(s[key]), key
    assert s["structure"] == pytest.approx(0.5 * (s["local"] + s["global"]))
    assert local_global(s, [7, 15])["structure"] == pytest.approx(s["structure"])
    # PCA of a 3-D S-curve keeps most of its structure, far above chance
    assert s["trustworthiness@7"] > 0.85 and s["rta"] > 0.8


def test_invalid_embeddings_are_rejected(s_curve):
    with pytest.raises(InvalidOutput, match="shape"):
        _run(WrongShape, s_curve)
    with pytest.raises(InvalidOutput, match="non-finite"):
        _run(NaNs, s_curve)


def test_only_the_positive_control_gets_the_latent_coordinates(s_curve):
    got = {}

    class Probe(_Base):
        name = "probe"

        def fit_transform(self, X, n_components, ctx):
            got["latent"] = ctx.latent
            return X[:, :n_components].copy()

    _run(Probe, s_curve)
    assert got["latent"] is None


# ------------------------------------------------------------------------------------ a third-party plugin


def test_third_party_reducer_is_checked_run_and_ranked(cli_env, tmp_path):
    env = {**cli_env, "FEATBENCH_PLUGIN_MODULES": "fbtest.thirdparty_reducer"}
    proc = run_cli(["check", "rotated_coordinates"], env=env)
    assert proc.returncode == 0 and "0 failed" in proc.stdout, proc.stdout + proc.stderr
    results, out = tmp_path / "results", tmp_path / "lb"
    proc = run_cli(["run", "--track", "reducers", "--method", "rotated_coordinates,pca,random_projection",
                    "--dataset", "s_curve_small", "--profile", "smoke", "--results", str(results), "--no-progress"],
                   env=env)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    assert sorted(r["method"] for r in recs) == ["pca", "random_projection", "rotated_coordinates"]
    assert all(r["status"] == "done" for r in recs), [(r["method"], r["error"]) for r in recs]
    proc = run_cli(["leaderboard", "--profile", "smoke", "--results", str(results), "--out", str(out)], env=env)
    assert proc.returncode == 0, proc.stderr
    board = json.loads((out / "reducers.json").read_text())
    cells = {c["variant"]: c for c in board["datasets"]["s_curve_small"]["cells"]}
    assert cells["rotated_coordinates"]["rank"] is not None
