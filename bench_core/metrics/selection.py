"""Scores of feature selection, each defined once (formula and reference in its docstring).

Notation: ``d`` features, a selected set ``S`` with ``|S| = k``, a ground-truth set ``G``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def order_from_scores(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Feature indices from most to least important; ties are broken by a seeded random permutation.

    Breaking ties by column index would favour whichever features happen to come first, so a method that
    returns many equal scores (a constant filter on standardized data, say) would look better or worse
    depending on column order; a random tie-break makes it as good as chance, as it should be.
    """
    scores = np.asarray(scores, dtype=np.float64)
    tiebreak = rng.permutation(scores.shape[0])
    return np.lexsort((tiebreak, -scores)).astype(np.int64)


def normalized_auc_logk(ks: Sequence[int], values: Sequence[float]) -> float:
    """Area under ``values`` against ``log k``, divided by the width of the ``log k`` range.

    AUC = (1 / (log k_max − log k_min)) · Σ_i (log k_{i+1} − log k_i) · (v_i + v_{i+1}) / 2   (trapezoids),
    i.e. the mean of the curve over log k, in the units of ``values`` (for balanced accuracy: in [0, 1]).
    With a single k it is that k's value. ``ks`` must be strictly increasing.
    """
    ks = np.asarray(ks, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if len(ks) != len(v) or len(ks) == 0:
        raise ValueError("ks and values must be non-empty and of equal length")
    if np.any(np.diff(ks) <= 0):
        raise ValueError("ks must be strictly increasing")
    if len(ks) == 1:
        return float(v[0])
    x = np.log(ks)
    area = float(np.sum(np.diff(x) * (v[1:] + v[:-1]) / 2.0))
    return area / float(x[-1] - x[0])


def precision_recall_f1(selected: Sequence[int], truth: Sequence[int]) -> tuple[float, float, float]:
    """precision = |S∩G|/|S|, recall = |S∩G|/|G|, F1 = 2PR/(P+R) (0 when P+R = 0)."""
    S, G = set(int(i) for i in selected), set(int(i) for i in truth)
    if not S or not G:
        raise ValueError("selected and truth must be non-empty")
    hit = len(S & G)
    p, r = hit / len(S), hit / len(G)
    f1 = 0.0 if p + r == 0 else 2 * p * r / (p + r)
    return p, r, f1


def smallest_k_full_recall(order: Sequence[int], truth: Sequence[int]) -> int:
    """The smallest k whose top-k of ``order`` contains every feature of ``truth`` (1 + worst rank of G)."""
    pos = {int(f): i for i, f in enumerate(order)}
    missing = [g for g in truth if int(g) not in pos]
    if missing:
        raise ValueError(f"order does not contain ground-truth features {missing[:5]}")
    return 1 + max(pos[int(g)] for g in truth)


def selection_matrix(sets: Sequence[Sequence[int]], d: int) -> np.ndarray:
    """Binary ``Z`` (M × d): ``Z[i, f] = 1`` iff feature f is in set i."""
    Z = np.zeros((len(sets), d), dtype=np.float64)
    for i, s in enumerate(sets):
        Z[i, np.asarray(list(s), dtype=np.int64)] = 1.0
    return Z


def nogueira_stability(Z: np.ndarray, alpha: float = 0.05) -> dict[str, float]:
    """Stability Φ̂ of Nogueira, Sechidis & Brown (JMLR 2018), its variance and a (1−α) confidence interval.

    With ``M`` selected sets as rows of the binary ``Z`` (M × d), ``p̂_f`` the selection frequency of feature
    f, ``k_i`` the size of set i and ``k̄ = Σ_f p̂_f``:

        Φ̂ = 1 − [ (1/d) Σ_f (M/(M−1)) p̂_f (1 − p̂_f) ] / [ (k̄/d)(1 − k̄/d) ]            (Definition 4)

        φ_i = [ (1/d) Σ_f Z_if p̂_f − k_i k̄/d² + (Φ̂/2)(2 k_i k̄/d² − k_i/d − k̄/d + 1) ] / [ (k̄/d)(1 − k̄/d) ]
        Var(Φ̂) = (4/M²) Σ_i (φ_i − φ̄)²                                                 (Theorem 7)
        CI = Φ̂ ± z_{1−α/2} √Var(Φ̂)                                                     (Corollary 9)

    Φ̂ is 1 for identical sets, has expectation 0 for sets drawn at random with the same sizes, and is defined
    for sets of varying size. Undefined (NaN) when k̄ ∈ {0, d}.
    """
    from scipy.stats import norm

    Z = np.asarray(Z, dtype=np.float64)
    M, d = Z.shape
    if M < 2:
        raise ValueError("stability needs at least two selected sets")
    p = Z.mean(axis=0)
    kbar = p.sum()
    denom = (kbar / d) * (1 - kbar / d)
    if denom <= 0:
        nan = float("nan")
        return {"stability": nan, "variance": nan, "lower": nan, "upper": nan}
    stab = 1 - (M / (M - 1)) * np.mean(p * (1 - p)) / denom
    k = Z.sum(axis=1)
    phi = ((Z @ p) / d - k * kbar / d**2 + (stab / 2) * (2 * k * kbar / d**2 - k / d - kbar / d + 1)) / denom
    var = 4 / M**2 * float(np.sum((phi - phi.mean()) ** 2))
    z = float(norm.ppf(1 - alpha / 2))
    half = z * math.sqrt(var)
    return {"stability": float(stab), "variance": var, "lower": float(stab - half), "upper": float(stab + half)}


def kuncheva_index(sets: Sequence[Sequence[int]], d: int) -> float:
    """Kuncheva's consistency index (2007), averaged over all M(M−1)/2 pairs of equal-size sets.

    KI(A, B) = (r·d − k²) / (k·(d − k)) with r = |A ∩ B| and k = |A| = |B|; undefined for k ∈ {0, d}.
    """
    sets = [set(int(i) for i in s) for s in sets]
    ks = {len(s) for s in sets}
    if len(ks) != 1:
        raise ValueError("Kuncheva's index needs sets of equal size")
    k = ks.pop()
    if k in (0, d) or len(sets) < 2:
        return float("nan")
    vals = []
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            r = len(sets[i] & sets[j])
            vals.append((r * d - k * k) / (k * (d - k)))
    return float(np.mean(vals))


def mean_jaccard(sets: Sequence[Sequence[int]]) -> float:
    """Mean pairwise Jaccard index |A∩B| / |A∪B| over all M(M−1)/2 pairs."""
    sets = [set(int(i) for i in s) for s in sets]
    if len(sets) < 2:
        return float("nan")
    vals = []
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            union = sets[i] | sets[j]
            vals.append(len(sets[i] & sets[j]) / len(union) if union else 1.0)
    return float(np.mean(vals))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean over the classes present in ``y_true`` of the per-class recall (= scikit-learn's
    ``balanced_accuracy_score`` with ``adjusted=False``)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(recalls))
