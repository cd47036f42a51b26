"""Every SAE metric on a hand-made case whose answer is known (bench_core/metrics/sae.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench_core.metrics.sae import (
    SAEEvaluator,
    evaluate_batches,
    mcc,
    mean_max_decoder_cosine,
    mmcs,
    normalized_area_log,
    uniqueness,
)


def _orthonormal(d, m, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q[:m]


def test_perfect_reconstruction():
    rng = np.random.default_rng(0)
    W = _orthonormal(8, 8)
    z = rng.normal(size=(50, 8)) * (rng.random((50, 8)) < 0.5)
    x = z @ W
    r = evaluate_batches([(x, z, x)], W)
    assert r["fvu"] == 0 and r["nmse"] == 0
    assert r["cosine"] == pytest.approx(1.0)
    assert r["shrinkage"] == pytest.approx(1.0) and r["l2_ratio"] == pytest.approx(1.0)
    assert r["afa_error"] == pytest.approx(0.0, abs=1e-12), "orthonormal atoms with exact codes: ‖f‖ = ‖x‖"
    assert r["l0"] == pytest.approx(np.mean((z != 0).sum(1)))


def test_all_zero_codes_give_fvu_of_the_mean_and_nmse_one():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 5)) + 3.0  # a large mean: FVU (centred) and NMSE differ
    z = np.zeros((40, 7))
    xh = np.zeros_like(x)
    r = evaluate_batches([(x, z, xh)], rng.normal(size=(7, 5)))
    centred = np.sum((x - x.mean(0)) ** 2)
    assert r["nmse"] == pytest.approx(1.0)
    assert r["fvu"] == pytest.approx(np.sum(x ** 2) / centred)
    assert r["fvu"] > 1.0
    assert r["cosine"] == 0.0 and r["l0"] == 0 and r["dead_fraction"] == 1.0 and r["dense_fraction"] == 0.0
    # predicting the mean: FVU 1 exactly, NMSE well below 1
    r2 = evaluate_batches([(x, z, np.broadcast_to(x.mean(0), x.shape))], np.ones((7, 5)))
    assert r2["fvu"] == pytest.approx(1.0)
    assert r2["nmse"] == pytest.approx(np.sum((x - x.mean(0)) ** 2) / np.sum(x ** 2))


def test_streaming_over_batches_equals_one_batch():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(12, 6))
    x = rng.normal(size=(90, 6)) + 1.0
    z = np.maximum(rng.normal(size=(90, 12)), 0)
    xh = z @ W * 0.1
    whole = evaluate_batches([(x, z, xh)], W)
    parts = evaluate_batches([(x[i:i + 7], z[i:i + 7], xh[i:i + 7]) for i in range(0, 90, 7)], W)
    for k in whole:
        assert parts[k] == pytest.approx(whole[k], rel=1e-12), k


def test_l0_counts_nonzero_not_positive():
    z = np.array([[-1.0, 0.0, 2.0], [0.0, -0.5, 0.0]])
    x = np.ones((2, 3))
    r = evaluate_batches([(x, z, x)], np.eye(3))
    assert r["l0"] == pytest.approx(1.5), "negative (AbsTopK) codes are active"
    assert r["l1"] == pytest.approx(1.75)


def test_dead_and_dense_on_the_evaluation_rows_with_their_count():
    n = 100
    z = np.zeros((n, 4))
    z[:11, 0] = 1.0  # 11 % of rows: dense
    z[:10, 1] = 1.0  # exactly 10 %: not dense (strictly more than 10 %)
    z[0, 2] = 1.0   # fires once: alive
    x = np.ones((n, 2))
    r = evaluate_batches([(x, z, x)], np.ones((4, 2)))
    assert r["dead_fraction"] == pytest.approx(0.25)
    assert r["dense_fraction"] == pytest.approx(0.25)
    assert r["eval_rows"] == n


def test_shrinkage_of_a_uniformly_shrunk_reconstruction():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 4))
    r = evaluate_batches([(x, np.zeros((30, 2)), 0.8 * x)], np.ones((2, 4)))
    assert r["shrinkage"] == pytest.approx(0.8)
    assert r["l2_ratio"] == pytest.approx(0.8)
    assert r["cosine"] == pytest.approx(1.0)
    assert r["fvu"] == pytest.approx(0.04 * np.sum(x ** 2) / np.sum((x - x.mean(0)) ** 2))


def test_afa_error_of_a_scaled_code():
    W = np.eye(3)
    x = np.array([[3.0, 4.0, 0.0]])  # ‖x‖ = 5
    z = 2 * x  # ‖f‖ = 10: (10 − 5)² / 25 = 1
    r = evaluate_batches([(x, z, x)], W)
    assert r["afa_error"] == pytest.approx(1.0)
    # the bias is subtracted from x: with b = x the centred norm is 0 and ‖f‖ = 0 is exact
    r = evaluate_batches([(x, np.zeros_like(z), x)], W, bias=x[0])
    assert np.isnan(r["afa_error"])


def test_mean_max_decoder_cosine():
    assert mean_max_decoder_cosine(np.eye(4)) == pytest.approx(0.0)
    W = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])  # two parallel atoms, one orthogonal
    assert mean_max_decoder_cosine(W) == pytest.approx((1 + 1 + 0) / 3)
    assert mean_max_decoder_cosine(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-1.0), "signed"


def test_mcc_of_a_permuted_rescaled_planted_dictionary_is_one():
    rng = np.random.default_rng(4)
    G = rng.normal(size=(20, 8))
    perm = rng.permutation(20)
    scale = rng.uniform(0.1, 5, size=(20, 1)) * rng.choice([-1, 1], size=(20, 1))
    W = G[perm] * scale
    assert mcc(W, G) == pytest.approx(1.0)
    assert mmcs(W, G) == pytest.approx(1.0)
    assert uniqueness(W, G) == pytest.approx(1.0)


def test_mcc_cannot_count_one_atom_twice_but_mmcs_can():
    G = np.eye(3)
    W = np.array([[1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0]])  # three copies of one planted direction
    assert mmcs(W, G) == pytest.approx(1 / 3)
    assert mcc(W, G) == pytest.approx(1 / 3)
    assert uniqueness(W, G) == pytest.approx(1 / 3)
    W2 = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]])
    assert mmcs(W2, G) == pytest.approx(2 / 3)
    assert mcc(W2, G) == pytest.approx(2 / 3)  # pairs (0,0), (2,1), (1,2 with cos 0)


def test_mcc_against_brute_force_on_a_small_case():
    import itertools

    rng = np.random.default_rng(5)
    W, G = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    Gn = G / np.linalg.norm(G, axis=1, keepdims=True)
    C = np.abs(Wn @ Gn.T)
    best = max(np.mean([C[i, p[i]] for i in range(4)]) for p in itertools.permutations(range(4)))
    assert mcc(W, G) == pytest.approx(best)


def test_per_latent_firing_precision_recall_f1():
    G = np.eye(3)
    W = np.eye(3)
    fired = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)
    z = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 1.0]])
    x = np.ones((4, 3))
    r = evaluate_batches([(x, z, x, fired)], W, G=G)
    # latent 0: fires on rows 0,1,3; g0 fires on rows 0,1 -> P 2/3, R 1, F1 0.8
    # latent 1: fires on row 2; g1 on rows 1,2 -> P 1, R 1/2, F1 2/3
    # latent 2: fires on row 3; g2 never -> P 0, R 0 (undefined), F1 0
    assert r["precision"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert r["recall"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert r["f1"] == pytest.approx((0.8 + 2 / 3 + 0) / 3)


def test_absorption_known_case():
    # planted: parent 0 with children 1 and 2 (mutually exclusive); direction 3 is a root with no children
    G = np.eye(4)
    parent = np.array([-1, 0, 0, -1])
    fired = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0], [1, 1, 0, 1]], dtype=bool)
    x = np.ones((4, 4))
    honest = fired.astype(float)  # the parent latent fires whenever the parent does
    r = evaluate_batches([(x, honest, x, fired)], np.eye(4), G=G, parent=parent)
    assert r["absorption"] == 0.0
    absorbed = honest.copy()
    absorbed[fired[:, 1] | fired[:, 2], 0] = 0.0  # the children absorb the parent: silent on rows 0, 1, 3
    r = evaluate_batches([(x, absorbed, x, fired)], np.eye(4), G=G, parent=parent)
    assert r["absorption"] == 1.0
    half = honest.copy()
    half[0, 0] = 0.0  # absorbed on 1 of the 3 rows where a child fires
    r = evaluate_batches([(x, half, x, fired)], np.eye(4), G=G, parent=parent)
    assert r["absorption"] == pytest.approx(1 / 3)


def test_normalized_area_log():
    assert normalized_area_log([8], [0.3]) == 0.3
    assert normalized_area_log([8, 16, 32], [0.4, 0.2, 0.2]) == pytest.approx((0.3 + 0.2) / 2)


def test_the_evaluator_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    x = torch.randn(10, 3)
    ev = SAEEvaluator(torch.eye(3))
    ev.update(x, x, x)
    assert ev.result()["fvu"] == 0.0


# --- edge cases: the conventions the docstrings state (mutation testing found them untested) -----------------


def test_undefined_ratios_are_nan_on_all_zero_rows():
    """All-zero activations: every ratio without a denominator is NaN (never a division error)."""
    x = np.zeros((3, 2))
    z = np.zeros((3, 4))
    r = evaluate_batches([(x, z, x)], np.eye(4, 2))
    for k in ("fvu", "nmse", "cosine", "l2_ratio", "shrinkage", "afa_error"):
        assert np.isnan(r[k]), k
    assert r["l0"] == 0.0 and r["eval_rows"] == 3.0


def test_ratios_are_defined_at_any_scale_and_for_one_row():
    """Tiny activations (every sum far below 1) and a single row: the scores are the scale-free ones."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6, 3)) * 1e-3
    xh = 0.5 * x
    r = evaluate_batches([(x, np.zeros((6, 2)), xh)], np.ones((2, 3)))
    assert r["nmse"] == pytest.approx(0.25)
    assert r["fvu"] == pytest.approx(0.25 * np.sum(x ** 2) / np.sum((x - x.mean(0)) ** 2))
    assert r["afa_error"] == pytest.approx(1.0), "zero codes: (0 - ‖x‖)² / ‖x‖²"
    one = evaluate_batches([(np.array([[1.0, 2.0]]), np.array([[3.0, 0.0, -1.0]]), np.array([[1.0, 2.0]]))],
                           np.eye(3, 2))
    assert one["l0"] == 2.0 and one["l1"] == 4.0 and one["eval_rows"] == 1.0
    assert np.isnan(one["fvu"]), "one row has no variance"


def test_rows_at_the_norm_floor_are_left_out_of_the_ratio_scores():
    """A row whose norm is exactly NORM_EPS (or whose reconstruction's is) is treated as zero."""
    from bench_core.metrics.sae import NORM_EPS

    x = np.array([[NORM_EPS, 0.0], [3.0, 4.0]])
    xh = np.array([[NORM_EPS, 0.0], [6.0, 8.0]])
    r = evaluate_batches([(x, np.zeros((2, 1)), xh)], np.ones((1, 2)))
    assert r["l2_ratio"] == pytest.approx(2.0), "only the second row counts"
    assert r["cosine"] == pytest.approx(1.0)
    xh2 = np.array([[0.0, 0.0], [0.0, NORM_EPS]])  # row 2's reconstruction at the floor: cosine 0
    r2 = evaluate_batches([(x, np.zeros((2, 1)), xh2)], np.ones((1, 2)))
    assert r2["cosine"] == 0.0


def test_afa_error_weighs_codes_by_the_atom_norms():
    """Atoms of norm 2 and codes of half the input: ‖f ⊙ ‖W‖‖ = ‖x‖, an AFA error of 0."""
    x = np.array([[3.0, 4.0, 0.0], [0.0, 1.0, 1.0]])
    r = evaluate_batches([(x, x / 2, x)], 2 * np.eye(3))
    assert r["afa_error"] == pytest.approx(0.0, abs=1e-12)


def test_a_bias_of_any_shape_with_d_elements():
    """The AFA error measures the codes against x − b: exact codes of x − b give 0, whatever b's shape."""
    x = np.array([[3.0, 4.0], [1.0, 1.0]])
    z = x - np.array([3.0, 4.0])  # orthonormal atoms: ‖f‖ = ‖x − b‖ row by row
    flat = evaluate_batches([(x, z, x)], np.eye(2), bias=np.array([3.0, 4.0]))
    column = evaluate_batches([(x, z, x)], np.eye(2), bias=np.array([[3.0], [4.0]]))
    assert flat["afa_error"] == pytest.approx(0.0, abs=1e-12)
    assert column["afa_error"] == pytest.approx(0.0, abs=1e-12)
    assert evaluate_batches([(x, z, x)], np.eye(2))["afa_error"] > 0.1, "without the bias the codes are off"


def test_inputs_become_float64_arrays_from_numpy_and_from_torch_with_grad():
    from bench_core.metrics.sae import _np

    assert _np(np.ones(3, dtype=np.float32)).dtype == np.float64
    torch = pytest.importorskip("torch")
    t = torch.ones(2, 3, requires_grad=True)
    assert _np(t).dtype == np.float64 and _np(t).shape == (2, 3)
    ev = SAEEvaluator(torch.eye(3, requires_grad=True))
    ev.update(t, t, t)
    assert ev.result()["l0"] == 3.0


def test_zero_atoms_and_one_atom_dictionaries():
    from bench_core.metrics.sae import unit_rows

    W = np.array([[0.0, 0.0], [3.0, 4.0]])
    np.testing.assert_array_equal(unit_rows(W), [[0.0, 0.0], [0.6, 0.8]])
    assert np.isnan(mean_max_decoder_cosine(np.ones((1, 3)))), "one atom has no pair"
    # three atoms in 1-d: 1 and 2 are each other's duplicate (cos 1), -1's best partner has cos -1
    assert mean_max_decoder_cosine(np.array([[1.0], [2.0], [-1.0]])) == pytest.approx(1 / 3)


def test_uniqueness_is_over_the_atoms_not_the_planted_directions():
    G = np.eye(4)
    W = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])  # 2 atoms, 2 different directions
    assert uniqueness(W, G) == 1.0
    assert uniqueness(np.array([[1.0, 0, 0, 0], [1.0, 0.1, 0, 0]]), G) == 0.5


def test_ground_truth_scores_stream_over_batches_and_handle_silent_latents():
    """Precision, recall, F1 and absorption summed over batches equal one batch; a latent that never fires
    has precision 0, one whose direction fires once has its recall from that one row."""
    G = np.eye(4)
    parent = np.array([-1, 0, 0, -1])
    fired = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0], [1, 1, 0, 1], [0, 0, 0, 1],
                      [1, 0, 1, 0]], dtype=float)  # floats: the evaluator reads them as booleans
    z = np.zeros((6, 4))
    z[[0, 2, 5], 0] = 1.0  # the parent's latent: silent on rows 1 and 3 where a child fires
    z[[0, 1], 1] = 1.0     # latent 1: fires on rows 0, 1; g1 on rows 0, 3 -> P 1/2, R 1/2
    z[[3, 4], 3] = 1.0     # latent 3: fires on rows 3, 4; g3 on rows 3, 4 -> P 1, R 1
    x = np.ones((6, 4))    # latent 2 never fires: P 0, R 0
    whole = evaluate_batches([(x, z, x, fired)], np.eye(4), G=G, parent=parent.astype(float))  # any number type
    parts = evaluate_batches([(x[i:i + 2], z[i:i + 2], x[i:i + 2], fired[i:i + 2]) for i in (0, 2, 4)],
                             np.eye(4), G=G, parent=parent)
    # latent 0: fires on rows 0, 2, 5; g0 on rows 0, 1, 2, 3, 5 -> P 1, R 3/5, F1 3/4
    p = [1.0, 0.5, 0.0, 1.0]
    r = [3 / 5, 0.5, 0.0, 1.0]
    f1 = [0.75, 0.5, 0.0, 1.0]
    for res in (whole, parts):
        assert res["precision"] == pytest.approx(np.mean(p))
        assert res["recall"] == pytest.approx(np.mean(r))
        assert res["f1"] == pytest.approx(np.mean(f1))
        assert res["absorption"] == pytest.approx(2 / 4), "rows 0, 1, 3, 5 have a child; silent on 1 and 3"
    once = np.zeros((3, 2), dtype=bool)
    once[0, 0] = True  # g0 fires once, with its latent: recall 1
    zz = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])  # latent 0 fires twice: precision 1/2, F1 2/3
    r1 = evaluate_batches([(np.ones((3, 2)), zz, np.ones((3, 2)), once)], np.eye(2), G=np.eye(2))
    assert r1["recall"] == pytest.approx((1.0 + 0.0) / 2)
    assert r1["f1"] == pytest.approx((2 / 3 + 0.0) / 2)
    low = np.zeros((4, 1), dtype=bool)
    low[:2, 0] = True  # g0 fires on rows 0, 1; latent 0 on rows 1, 2, 3: P 1/3, R 1/2, F1 0.4 (P + R < 1)
    r2 = evaluate_batches([(np.ones((4, 1)), np.array([[0.0], [1.0], [1.0], [1.0]]), np.ones((4, 1)), low)],
                          np.eye(1), G=np.eye(1))
    assert r2["f1"] == pytest.approx(0.4)


def test_absorption_is_nan_without_a_parent_firing_with_a_child_and_fired_is_ignored_without_ground_truth():
    G = np.eye(3)
    parent = np.array([-1, 0, 0])
    fired = np.array([[1, 0, 0], [0, 0, 0]], dtype=bool)  # the parent fires alone
    x = np.ones((2, 3))
    r = evaluate_batches([(x, fired.astype(float), x, fired)], np.eye(3), G=G, parent=parent)
    assert np.isnan(r["absorption"])
    plain = evaluate_batches([(x, fired.astype(float), x, fired)], np.eye(3))
    assert "f1" not in plain and "absorption" not in plain and plain["l0"] == 0.5
