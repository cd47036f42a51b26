"""Every selection score against a hand-computed case or an independent implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from bench_core.metrics.selection import (
    balanced_accuracy,
    kuncheva_index,
    mean_jaccard,
    nogueira_stability,
    normalized_auc_logk,
    order_from_scores,
    precision_recall_f1,
    selection_matrix,
    smallest_k_full_recall,
)

# Worked example: M = 3 sets of k = 2 features out of d = 4.
SETS = [[0, 1], [0, 2], [0, 1]]


def test_nogueira_worked_example_by_hand():
    """p = (1, 2/3, 1/3, 0), kbar = 2, denominator (1/2)(1/2) = 1/4; mean p(1-p) = 1/9;
    Phi = 1 - (3/2)(1/9)/(1/4) = 1/3. phi_i = (1, 2/3, 1) so Var = (4/9) * (1/81 + 4/81 + 1/81) = 8/243."""
    res = nogueira_stability(selection_matrix(SETS, 4))
    assert res["stability"] == pytest.approx(1 / 3, abs=1e-12)
    assert res["variance"] == pytest.approx(8 / 243, abs=1e-12)
    half = 1.959963984540054 * math.sqrt(8 / 243)
    assert res["lower"] == pytest.approx(1 / 3 - half, abs=1e-9)
    assert res["upper"] == pytest.approx(1 / 3 + half, abs=1e-9)


def _phi_reference(Z):
    """The published definition written out with loops (Nogueira et al. 2018, Def. 4 and Thm. 7)."""
    M, d = len(Z), len(Z[0])
    p = [sum(Z[i][f] for i in range(M)) / M for f in range(d)]
    kbar = sum(p)
    s2 = [M / (M - 1) * p[f] * (1 - p[f]) for f in range(d)]
    denom = kbar / d * (1 - kbar / d)
    phi = 1 - (sum(s2) / d) / denom
    k = [sum(row) for row in Z]
    phis = []
    for i in range(M):
        a = sum(Z[i][f] * p[f] for f in range(d)) / d
        phis.append((a - k[i] * kbar / d**2 + phi / 2 * (2 * k[i] * kbar / d**2 - k[i] / d - kbar / d + 1)) / denom)
    mean = sum(phis) / M
    return phi, 4 / M**2 * sum((x - mean) ** 2 for x in phis)


def test_nogueira_matches_reference_on_random_sets_of_varying_size():
    rng = np.random.default_rng(0)
    for _ in range(20):
        d = int(rng.integers(5, 30))
        sets = [rng.choice(d, size=int(rng.integers(1, d)), replace=False) for _ in range(int(rng.integers(2, 12)))]
        Z = selection_matrix(sets, d)
        phi, var = _phi_reference(Z.astype(int).tolist())
        res = nogueira_stability(Z)
        assert res["stability"] == pytest.approx(phi, abs=1e-12)
        assert res["variance"] == pytest.approx(var, abs=1e-12)


def test_nogueira_limits_and_calibration():
    assert nogueira_stability(selection_matrix([[1, 2, 3]] * 5, 10))["stability"] == pytest.approx(1.0)
    assert math.isnan(nogueira_stability(selection_matrix([[0, 1]] * 3, 2))["stability"]), "kbar = d is undefined"
    rng = np.random.default_rng(1)
    phis, covered = [], 0
    for _ in range(400):
        Z = selection_matrix([rng.choice(100, 10, replace=False) for _ in range(20)], 100)
        r = nogueira_stability(Z)
        phis.append(r["stability"])
        covered += r["lower"] <= 0.0 <= r["upper"]
    assert abs(np.mean(phis)) < 0.005, "random selection has expected stability 0"
    # The asymptotic variance of Theorem 7 is conservative here (empirical/estimated variance ~ 0.65), so the
    # 95 % interval covers the true value 0 at least 95 % of the time.
    assert covered / 400 >= 0.95
    with pytest.raises(ValueError):
        nogueira_stability(selection_matrix([[0]], 3))


def test_kuncheva_and_jaccard_by_hand():
    # pairs: (S1,S2) r=1 -> (1*4-4)/(2*2)=0; (S1,S3) r=2 -> 1; (S2,S3) -> 0
    assert kuncheva_index(SETS, 4) == pytest.approx(1 / 3)
    # Jaccard: 1/3, 1, 1/3
    assert mean_jaccard(SETS) == pytest.approx(5 / 9)
    with pytest.raises(ValueError):
        kuncheva_index([[0], [0, 1]], 4)
    assert math.isnan(kuncheva_index([[0, 1], [1, 0]], 2))


def test_normalized_auc_logk_by_hand():
    # ks 1, 2, 4: two trapezoids of width ln 2, heights 0.6 and 0.8, over a range of 2 ln 2
    assert normalized_auc_logk([1, 2, 4], [0.5, 0.7, 0.9]) == pytest.approx(0.7)
    assert normalized_auc_logk([3, 30], [0.8, 0.8]) == pytest.approx(0.8)
    assert normalized_auc_logk([7], [0.42]) == 0.42
    with pytest.raises(ValueError):
        normalized_auc_logk([2, 1], [0.1, 0.2])


def test_recovery_scores_by_hand():
    assert precision_recall_f1([1, 2, 3, 9], [1, 2, 5]) == pytest.approx((0.5, 2 / 3, 4 / 7))
    assert precision_recall_f1([7], [1]) == (0.0, 0.0, 0.0)
    assert smallest_k_full_recall([4, 0, 9, 1, 3], [0, 1]) == 4
    assert smallest_k_full_recall([4, 0, 9, 1, 3], [4]) == 1


def test_balanced_accuracy_equals_scikit_learn():
    rng = np.random.default_rng(2)
    for _ in range(10):
        y = rng.integers(0, 4, 60)
        p = np.where(rng.random(60) < 0.6, y, rng.integers(0, 4, 60))
        assert balanced_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, p))


def test_order_breaks_ties_at_random_not_by_column():
    scores = np.array([0.0, 1.0, 1.0, 1.0, 0.5])
    firsts = {int(order_from_scores(scores, np.random.default_rng(s))[0]) for s in range(30)}
    assert firsts == {1, 2, 3}
    order = order_from_scores(scores, np.random.default_rng(0))
    assert set(order[:3]) == {1, 2, 3} and list(order[3:]) == [4, 0]


# ------------------------------------------------------------------ golden values at the edges (issue 9)


def test_order_from_scores_converts_scores_to_float_and_returns_int64():
    rng = np.random.default_rng(0)
    order = order_from_scores(np.array([0, 5, 3], dtype=np.uint8), rng)  # unsigned: negating would wrap
    assert order.tolist() == [1, 2, 0] and order.dtype == np.int64
    assert order_from_scores(np.array([True, False, True]), np.random.default_rng(0))[-1] == 1


def test_auc_logk_rejects_bad_input_with_its_reason():
    with pytest.raises(ValueError, match=r"^ks and values must be non-empty and of equal length$"):
        normalized_auc_logk([1, 2], [0.5, 0.6, 0.7])
    with pytest.raises(ValueError, match=r"^ks and values must be non-empty and of equal length$"):
        normalized_auc_logk([], [])
    with pytest.raises(ValueError, match=r"^ks must be strictly increasing$"):
        normalized_auc_logk([1, 2, 2], [0.5, 0.6, 0.7])


def test_f1_when_precision_equals_recall():
    """k = |G|: precision = recall, so F1 equals both (a mutant testing p − r = 0 would give 0)."""
    assert precision_recall_f1([1, 2, 3], [1, 2, 4]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert precision_recall_f1([1, 2], [1, 2]) == (1.0, 1.0, 1.0)
    assert precision_recall_f1([5], [1]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"^selected and truth must be non-empty$"):
        precision_recall_f1([], [1])
    with pytest.raises(ValueError, match=r"^selected and truth must be non-empty$"):
        precision_recall_f1([1], [])


def test_smallest_k_full_recall_names_the_missing_features():
    assert smallest_k_full_recall([4, 0, 2, 1], [0, 1]) == 4
    with pytest.raises(ValueError, match=r"^order does not contain ground-truth features \[7\]$"):
        smallest_k_full_recall([0, 1, 2], [1, 7])
    with pytest.raises(ValueError, match=r"features \[10, 11, 12, 13, 14\]$"):  # the first five only
        smallest_k_full_recall([0], [10, 11, 12, 13, 14, 15])


def test_selection_matrix_with_an_empty_set():
    Z = selection_matrix([[], [1, 3]], 4)
    assert Z.tolist() == [[0, 0, 0, 0], [0, 1, 0, 1]] and Z.dtype == np.float64


def test_stability_is_undefined_without_warnings_when_every_set_is_empty_or_full():
    import warnings

    for Z in (np.zeros((3, 4)), np.ones((3, 4))):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            res = nogueira_stability(Z)
        assert sorted(res) == ["lower", "stability", "upper", "variance"]
        assert all(math.isnan(v) for v in res.values())
    with pytest.raises(ValueError, match=r"^stability needs at least two selected sets$"):
        nogueira_stability(np.ones((1, 4)))


def test_kuncheva_and_jaccard_at_two_subsamples_and_at_k_1():
    # two sets: one pair. KI = (r d − k²) / (k (d − k)) = (1·4 − 4) / (2·2) = 0; Jaccard 1/3
    assert kuncheva_index([[0, 1], [1, 2]], 4) == pytest.approx(0.0)
    assert mean_jaccard([[0, 1], [1, 2]]) == pytest.approx(1 / 3)
    # k = 1, d = 4: pairs ({0},{0}) → (4 − 1)/3 = 1, ({0},{1}) → −1/3 twice: mean 1/9
    assert kuncheva_index([[0], [0], [1]], 4) == pytest.approx(1 / 9)
    assert math.isnan(kuncheva_index([[], []], 4)) and math.isnan(kuncheva_index([[0, 1], [2, 3]], 2))
    assert math.isnan(kuncheva_index([[0]], 4)) and math.isnan(mean_jaccard([[0]]))
    assert mean_jaccard([[], []]) == 1.0, "two empty sets agree"
    with pytest.raises(ValueError, match=r"^Kuncheva's index needs sets of equal size$"):
        kuncheva_index([[0], [0, 1]], 4)
