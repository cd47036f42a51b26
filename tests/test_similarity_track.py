"""The similarity track: the invariance table it produces, its null-calibration and estimation tests, the
conformance kit's similarity checks, and a third-party measure plugin run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench_core.registry import load_registry
from bench_core.testing import run_checks
from bench_core.tracks.base import Context
from bench_core.tracks.similarity import INVARIANCES, SimilarityTrack
from bench_core.tracks.similarity_protocol import invariance_table

from conftest import run_cli

ALL = set(INVARIANCES)
CKA = ALL - {"invertible_linear"}

# The invariance table of the theory (shared/tracks/similarity.md, A2), for transforms of either argument.
THEORY = {
    "cka-linear-biased": CKA, "cka-linear-debiased": CKA, "cka-rbf-sigma0_2median-biased": CKA,
    "cka-rbf-sigma0_4median-biased": CKA, "cka-rbf-sigma0_8median-biased": CKA,
    "cka-linear-angular-distance": CKA,
    "cca-mean-rho": ALL, "cca-r2-yanai": ALL, "shape-metric-alpha0-angular": ALL,
    "svcca-var0_99-mean-rho": CKA, "svcca-dims10-mean-rho": CKA,
    "pwcca-weights-x": {"isotropic_scaling", "translation", "permutation"},
    "linreg-r2-y-from-x": CKA, "linreg-r2-x-from-y": CKA, "ridge-r2-y-from-x-rel1": CKA,
    "procrustes-size-shape-euclidean": {"orthogonal", "translation", "permutation"},
    "procrustes-centred-unitnorm-euclidean": CKA, "procrustes-angular": CKA,
    "shape-metric-alpha0_5-angular": CKA, "shape-metric-alpha1-angular": CKA,
    "permutation-angular": {"isotropic_scaling", "translation", "permutation"},
    "rsa-corr-rdm-spearman": {"isotropic_scaling", "permutation"},
    "knn-jaccard-euclidean-k10": CKA, "mutual-knn-cosine-k10": {"orthogonal", "isotropic_scaling", "permutation"},
    "cknna-cosine-k10-unbiased": {"orthogonal", "isotropic_scaling", "permutation"},
    "relrep-cosine-anchors64": {"orthogonal", "isotropic_scaling", "permutation"},
    "random-score-control": set(),
}


@pytest.fixture(scope="module")
def reg():
    return load_registry()


@pytest.fixture(scope="module")
def family(reg):
    from bench_core.data.dataset import materialise

    loaders = {n: e.obj for n, e in reg.loaders.items()}
    return {name: materialise(reg.cards[name].obj, loaders, {}, None)[0]
            for name in ("sim_transforms", "sim_null", "sim_estimation")}


def test_invariance_table_matches_theory_and_the_claims(reg, family):
    measures = {n: e.obj for n, e in reg.methods["similarity"].items() if e.obj.__module__.startswith(("plugins.", "featbench_builtins."))}
    assert set(measures) == set(THEORY)
    for name, cls in measures.items():
        table = invariance_table(cls(), family["sim_transforms"].arrays, 1e-6, Context())
        actual = {t for t, r in table.items() if r["actual"]}
        assert actual == THEORY[name], (name, actual)
        assert set(cls.invariances) == THEORY[name], (name, cls.invariances)


def _run(reg, name, ds, profile="smoke", seed=0):
    from bench_core.profiles import get_profile, track_settings

    track = SimilarityTrack()
    settings = track_settings(track, get_profile(profile))
    cls = reg.methods["similarity"][name].obj
    return track.run(cls(), ds, seed, settings, Context(seed=seed))


def test_t3_flags_a_broken_claim_and_t8_exposes_biased_cka(reg, family):
    from fbtest.similarity_plugin import ClaimsLinearInvariance

    track = SimilarityTrack()
    out = track.run(ClaimsLinearInvariance(), family["sim_transforms"], 0, track.default_settings(), Context())
    assert out.outputs["broken_claims"] == ["invertible_linear"]
    assert out.scores["t3_invertible_linear"] == 0.0 and out.scores["t3_invariance"] == pytest.approx(0.8)

    biased = _run(reg, "cka-linear-biased", family["sim_null"])
    debiased = _run(reg, "cka-linear-debiased", family["sim_null"])
    # Murphy et al. 2024: biased CKA of independent n=50, d=1000 Gaussians is ~0.95 (pilot: 0.954)
    assert biased.outputs["t8_nulls"]["n50_d1000"] > 0.85
    assert abs(debiased.outputs["t8_nulls"]["n50_d1000"]) < 0.15
    assert debiased.scores["t8_null_calibration"] > 0.8 > 0.2 > biased.scores["t8_null_calibration"]


def test_t9_estimation_and_t10_runtime(reg, family):
    out = _run(reg, "cka-linear-debiased", family["sim_estimation"])
    per_n = out.outputs["t9_per_n"]
    assert set(per_n) == {"50", "100", "200", "400"}
    assert 0 < out.scores["t9_estimation"] <= 1
    assert out.scores["grounding"] == out.scores["t9_estimation"]
    # known finite-sample biases: mean CCA is inflated when n is small against d (Kornblith 2019, sec. 2.1),
    # and shrinks towards the large-sample value as n grows; the plug-in Procrustes angle is biased low
    # (the nuclear norm of the sample cross-covariance is biased up; Pospisil et al. 2024)
    cca = _run(reg, "cca-mean-rho", family["sim_estimation"]).outputs["t9_per_n"]
    assert cca["50"]["bias"] > cca["400"]["bias"] > 0.02
    assert _run(reg, "procrustes-angular", family["sim_estimation"]).outputs["t9_per_n"]["50"]["bias"] < -0.02
    ctrl = _run(reg, "random-score-control", family["sim_estimation"])
    assert ctrl.scores["t9_estimation"] < out.scores["t9_estimation"]


def test_kit_fails_wrong_claims_and_passes_an_honest_third_party_measure():
    from fbtest.similarity_plugin import ClaimsLinearInvariance, SquaredDistanceClaimsMetric, ThirdPartyGramCosine

    st = {r.check: r for r in run_checks(ClaimsLinearInvariance)}
    assert st["check_similarity_invariances"].status == "failed"
    assert "invertible_linear" in st["check_similarity_invariances"].message
    st = {r.check: r for r in run_checks(SquaredDistanceClaimsMetric)}
    assert st["check_similarity_metric_axioms"].status == "failed", st["check_similarity_metric_axioms"]
    assert {r.status for r in run_checks(ThirdPartyGramCosine)} == {"passed"}


@pytest.mark.slow
def test_third_party_measure_runs_through_the_cli(cli_env, tmp_path):
    env = {**cli_env, "FEATBENCH_PLUGIN_MODULES": "fbtest.similarity_plugin", "FEATBENCH_CACHE_DIR": str(tmp_path / "c")}
    p = run_cli(["check", "thirdparty-gram-cosine"], env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    p = run_cli(["check", "wrong-claims-linear-invariance"], env=env)
    assert p.returncode == 1 and "invertible_linear" in p.stdout
    res = tmp_path / "res"
    p = run_cli(["run", "--track", "similarity", "--method", "thirdparty-gram-cosine,cka-linear-biased",
                 "--dataset", "sim_transforms", "--profile", "smoke", "--executor", "inline", "--results", str(res)],
                env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = [json.loads(f.read_text()) for f in Path(res).rglob("*.json")]
    by = {r["method"]: r for r in rows if r.get("method")}
    assert by["thirdparty-gram-cosine"]["status"] == "done"
    # the third party's CKA and the built-in agree on every test score
    a, b = by["thirdparty-gram-cosine"]["scores"], by["cka-linear-biased"]["scores"]
    assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-9 for k in a)


def test_t1_t2_t5_on_planted_networks(reg):
    """Networks with a known answer: every seed's layer i is the same base representation in its own random
    orthonormal basis (plus a little noise), each layer a further nonlinear map of the previous one. A
    rotation-invariant measure must identify every layer (T1 = 1) and see dissimilarity grow with layer
    distance; the random control must not."""
    from types import SimpleNamespace

    import numpy as np

    rng = np.random.default_rng(0)
    n, widths = 200, [24, 16, 12]
    X = rng.normal(size=(n, 10))
    base, h = [], X
    for w in widths:
        h = np.tanh(h @ rng.normal(size=(h.shape[1], w)) / np.sqrt(h.shape[1]) * 2.0)
        base.append(h)
    logits = base[-1] @ rng.normal(size=(widths[-1], 10))
    arrays = {}
    for a in range(3):
        for i, B in enumerate(base):
            Q = np.linalg.qr(rng.normal(size=(B.shape[1], B.shape[1])))[0]
            arrays[f"s{a}_l{i}"] = B @ Q + 0.01 * rng.normal(size=B.shape)
        arrays[f"s{a}_logits"] = logits + 0.01 * rng.normal(size=logits.shape)
    ds = SimpleNamespace(X=X, arrays=arrays, name="planted", y=logits.argmax(1),
                         info={"family": "networks", "seeds": [0, 1, 2], "widths": widths,
                               "accuracy": [0.9, 0.8, 0.7]})
    from bench_core.tracks import similarity_protocol as P

    track = SimilarityTrack()
    cka = P.run_networks(reg.methods["similarity"]["cka-linear-biased"].obj(), ds, track.default_settings(), Context())[0]
    assert cka["t1_layer_id"] == 1.0 and cka["t1_adjacent_confusion"] == 0.0
    assert cka["t2_monotonicity"] > 0.5
    assert -1 <= cka["t5_functional"] <= 1
    assert cka["t5_functional"] == pytest.approx((cka["t5_accuracy_gap"] + cka["t5_disagreement"]
                                                  + cka["t5_pc_deletion"]) / 3)
    # deleting more top PCs moves CKA further and costs the probe more accuracy: a strong positive rank relation
    assert cka["t5_pc_deletion"] > 0.8
    rnd = P.run_networks(reg.methods["similarity"]["random-score-control"].obj(), ds, track.default_settings(), Context())[0]
    assert rnd["t1_layer_id"] < 0.7
    assert rnd["t5_pc_deletion"] < 0.5, rnd


def test_top_principal_components_are_deleted_as_scikit_learn_pca_reconstructs_them():
    import numpy as np
    from sklearn.decomposition import PCA

    from bench_core.tracks.similarity_protocol import delete_top_pcs, pc_deletion_ks

    rng = np.random.default_rng(3)
    H = rng.normal(size=(150, 9)) @ rng.normal(size=(9, 9)) + 5.0
    for k in (1, 3, 8):
        pca = PCA(k, svd_solver="full").fit(H)
        expected = H - (pca.inverse_transform(pca.transform(H)) - pca.mean_)
        np.testing.assert_allclose(delete_top_pcs(H, k), expected, atol=1e-10)
        # what is left has no variance along the deleted directions, and the column means are kept
        np.testing.assert_allclose((delete_top_pcs(H, k) - H.mean(0)) @ pca.components_.T, 0, atol=1e-9)
        np.testing.assert_allclose(delete_top_pcs(H, k).mean(0), H.mean(0), atol=1e-10)
    assert delete_top_pcs(H.astype(np.float32), 2).dtype == np.float32
    assert pc_deletion_ks(16) == [1, 2, 4, 8] and pc_deletion_ks(64) == [1, 2, 4, 8, 16, 32]
    assert pc_deletion_ks(512) == [1, 2, 4, 8, 16, 32] and pc_deletion_ks(2) == [1]


def test_the_probe_loses_the_classes_when_the_principal_component_that_carries_them_is_deleted():
    """Hand-made: the class is column 0 (variance 25, the top PC); three noise columns of variance 1. The
    probe is perfect before, at chance (2 classes) once the top PC is gone; deleting more changes nothing."""
    import numpy as np

    from bench_core.tracks.similarity_protocol import pc_deletion_probe, probe_accuracy

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    H = np.column_stack([np.where(y == 1, 5.0, -5.0), rng.normal(size=(200, 3))])
    assert probe_accuracy(H, y) == 1.0
    drops = pc_deletion_probe(H, y)
    assert list(drops) == [1, 2]
    assert -0.65 < drops[1] < -0.35 and -0.65 < drops[2] < -0.35  # from 1.0 to about 0.5



def test_the_pc_deletion_probe_is_memoised_by_content_and_drops_its_least_recently_used_entry(monkeypatch):
    """A second call on equal copies of the arrays reads the memo (no probe is fitted; the same drops); other
    labels are another entry; past PROBE_MEMO_SIZE entries the least recently used one is computed again."""
    from collections import OrderedDict

    import numpy as np

    from bench_core.tracks import similarity_protocol as P

    calls = []

    def fake_probe(H, y):  # counts the probes; a value that depends on the data, so drops differ per input
        calls.append(H.shape)
        return float(np.abs(H).sum() % 1.0) + float(y.sum())

    monkeypatch.setattr(P, "probe_accuracy", fake_probe)
    monkeypatch.setattr(P, "_PROBE_MEMO", OrderedDict())
    monkeypatch.setattr(P, "PROBE_MEMO_SIZE", 2)
    rng = np.random.default_rng(0)
    H, y = rng.normal(size=(20, 4)), np.repeat([0, 1], 10)
    first = P.pc_deletion_probe(H, y)
    assert len(calls) == 1 + len(P.pc_deletion_ks(4))  # the base probe and one per deletion (k = 1, 2)
    again = P.pc_deletion_probe(H.copy(), y.copy())
    assert again == first and len(calls) == 3  # the memo is hit: no probe fitted
    again[1] = 99.0  # the caller gets a copy: the memo is unchanged
    assert P.pc_deletion_probe(H, y) == first and len(calls) == 3
    P.pc_deletion_probe(H, y[::-1].copy())  # other labels: a new entry
    assert len(calls) == 6 and len(P._PROBE_MEMO) == 2
    P.pc_deletion_probe(H, y)  # a hit makes (H, y) the most recently used
    P.pc_deletion_probe(H + 1.0, y)  # a third entry: evicts (H, reversed y), the least recently used
    assert len(calls) == 9 and len(P._PROBE_MEMO) == 2
    P.pc_deletion_probe(H, y)
    assert len(calls) == 9
    P.pc_deletion_probe(H, y[::-1].copy())
    assert len(calls) == 12

def test_the_layer_family_scores_every_pair_once_with_one_step_per_source_layer(reg):
    """The executor's time limit applies per step: the transformer-layer family ends one step per source
    layer (as the networks family ends one per seed), and scores each unordered pair exactly once."""
    from types import SimpleNamespace

    import numpy as np

    from bench_core.tracks import similarity_protocol as P

    rng = np.random.default_rng(1)
    h, arrays = rng.normal(size=(60, 8)), {}
    for i in range(4):
        arrays[f"layer_{i}"] = h
        h = np.tanh(h @ rng.normal(size=(8, 8)) / 2) + 0.05 * rng.normal(size=h.shape)
    measure = reg.methods["similarity"]["cka-linear-biased"].obj()
    calls = []
    original = type(measure).score
    measure.score = lambda X, Y, ctx: calls.append(1) or original(measure, X, Y, ctx)
    steps: list[str] = []
    ds = SimpleNamespace(arrays=arrays, info={"family": "layers", "n_layers": 4})
    scores, outputs = P.run_layers(measure, ds, {"tolerance": 1e-6}, Context(step=steps.append))
    assert steps == [f"T2 layer {i}" for i in range(4)]
    assert len(calls) == 6  # 4 choose 2
    assert scores["t2_monotonicity"] > 0 and 0 <= scores["t2_adjacent_nearest"] <= 1


def test_tie_groups_tie_values_within_the_tolerance_relative_to_max_1_and_the_value():
    from bench_core.tracks.similarity_protocol import tie_groups

    v = [1.0, 0.5, 0.7, 1.0 - 2e-16, 0.5 + 1e-7]
    assert tie_groups(v, 1e-6).tolist() == [2, 0, 1, 2, 0]
    assert tie_groups(v, 0.0).tolist() == [4, 0, 2, 3, 1], "no tolerance: only exact ties"
    assert tie_groups([100.0, 100.0 + 9e-5, 100.0 + 2.1e-4], 1e-6).tolist() == [0, 0, 1], "relative above 1"
    assert tie_groups([0.0, 0.9e-6, 1.8e-6, 5e-6], 1e-6).tolist() == [0, 0, 0, 1], "a chain of ties is one group"
    assert tie_groups([-3.0, -3.0 + 2.5e-6, -3.0 + 6e-6], 1e-6).tolist() == [0, 0, 1], "|value| scales it"


def test_spearman_and_argmin_see_rounding_differences_as_ties():
    from bench_core.tracks.similarity_protocol import _argmin, _spearman

    flat = [-1.0, -1.0, -1.0, -0.99999999999999978, -0.99999999999999978]  # CCA under PC deletion, as measured
    assert _spearman([1, 2, 4, 8, 16], flat, 1e-6) == 0.0
    assert _spearman([1, 2, 4, 8, 16], flat, 0.0) == pytest.approx(0.866, abs=1e-3), "the old answer: noise"
    assert _spearman([1, 2, 3], [0.1, 0.2, 0.3], 1e-6) == pytest.approx(1.0)
    assert _spearman([1, 2, 3, 4], [0.1, 0.1 + 1e-9, 0.3, 0.2], 1e-6) == pytest.approx(3.5 / (5 ** 0.5 * 4.5 ** 0.5))
    assert _spearman([1, 1, 1], [0.1, 0.2, 0.3], 1e-6) == 0.0
    assert _argmin([0.3, 0.1 + 1e-9, 0.1, 0.2], 1e-6) == 1, "the first of the values tied with the smallest"
    assert _argmin([0.3, 0.1 + 1e-9, 0.1, 0.2], 0.0) == 2


class _Rounding:
    """A measure's scores with relative errors of a few ulps, different at every call (as another CPU's kernels
    would give)."""

    def __init__(self, inner, seed):
        import numpy as np

        self.inner, self.rng = inner, np.random.default_rng(seed)

    def __call__(self, X, Y, ctx):
        return self.inner.score(X, Y, ctx) * (1 + 4e-16 * self.rng.integers(-2, 3))


@pytest.mark.parametrize("name", ["cca-mean-rho", "linreg-r2-y-from-x", "cka-linear-biased"])
def test_transform_scores_do_not_depend_on_rounding(reg, family, name):
    """Protocol version 2 gave CCA's t7 dose-response 0.64 on one CPU and 0.62 on another (Spearman over values
    equal up to rounding); the scores must be the same when only the last bits of the values change."""
    cls = reg.methods["similarity"][name].obj
    track = SimilarityTrack()
    base = track.run(cls(), family["sim_transforms"], 0, track.default_settings(), Context()).scores
    for seed in range(3):
        m = cls()
        m.score = _Rounding(cls(), seed)
        assert track.run(m, family["sim_transforms"], 0, track.default_settings(), Context()).scores == base
    if name == "cca-mean-rho":  # invariant to the deletions: no evidence either way
        assert base["t7_pc_top"] == base["t7_pc_bottom"] == base["t7_featsub"] == 0.0


def test_the_random_control_depends_on_the_call_order_and_seed_not_on_the_data_bits():
    import torch

    from bench_core.tracks.base import Context as C

    cls = load_registry().methods["similarity"]["random-score-control"].obj
    X, Y = torch.randn(30, 4, dtype=torch.float64), torch.randn(30, 3, dtype=torch.float64)
    a, b = cls(), cls()
    first = [a.score(X, Y, C(seed=3)) for _ in range(4)]
    assert len(set(first)) == 4 and all(0 <= v < 1 for v in first), "a new number per call"
    assert [b.score(X * (1 + 1e-15), Y + 1e-13, C(seed=3)) for _ in range(4)] == first, "the data's bits do not matter"
    assert cls().score(X, Y, C(seed=4)) != first[0], "the job seed does"
