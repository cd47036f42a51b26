"""Group separation of pairwise similarities: average precision (AUPRC) and the violation rate (ReSi tests 3-5).

Members fall in groups (one training condition each); ``S[a, b]`` is the similarity of members ``a`` and ``b``
(higher = more alike). For a group ``g``, the *positives* are the intra-group pairs (every unordered pair of
members of ``g``) and the *negatives* the cross-group pairs (every member of ``g`` with every member outside
``g``), as in ReSi's ``get_in_group_cross_group_sims`` (``combinations`` within, ``product`` across).

:func:`average_precision` is the step-wise area under the precision-recall curve with thresholds at the distinct
scores, the definition of scikit-learn's ``average_precision_score``:
``AP = sum_t (R_t - R_{t-1}) P_t`` over the thresholds ``t`` in decreasing order, where ``P_t`` and ``R_t`` are
the precision and recall of "score >= t". Tied scores enter together (no arbitrary order inside a tie). Its
chance level is the share of positives, not 0.5: with ``G`` groups of ``s`` members it is
``C(s, 2) / (C(s, 2) + s * (G - 1) * s)``, 1/6 for 3 groups of 5 (ReSi's setting).

:func:`violation_rate` is ReSi's: the share of (intra, cross) pairs of scores with intra <= cross (ties count as
violations); 1 - it is the AUROC when there are no ties.

:func:`group_separation` returns, per group and averaged over groups, the AUPRC, its chance level and the
violation rate.
"""

from __future__ import annotations

from itertools import combinations
from typing import Sequence

import numpy as np


def average_precision(labels: Sequence[int], scores: Sequence[float]) -> float:
    """AUPRC of binary ``labels`` (1 = positive) ranked by ``scores`` (higher = more likely positive)."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError("labels and scores must be 1-D and of the same length")
    if not y.any():
        raise ValueError("average precision needs at least one positive")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    # the last index of every run of equal scores: thresholds at the distinct values
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tp = np.cumsum(y)[last]
    predicted = last + 1
    precision = tp / predicted
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def violation_rate(intra: Sequence[float], cross: Sequence[float]) -> float:
    """Share of (intra, cross) score pairs with ``intra <= cross`` (ReSi's violation rate)."""
    a = np.asarray(intra, dtype=float)
    b = np.sort(np.asarray(cross, dtype=float))
    if len(a) == 0 or len(b) == 0:
        raise ValueError("violation rate needs intra- and cross-group scores")
    # for each intra score, how many cross scores are >= it
    return float(np.sum(len(b) - np.searchsorted(b, a, side="left")) / (len(a) * len(b)))


def group_separation(S: np.ndarray, groups: Sequence[int]) -> dict:
    """AUPRC of intra- versus cross-group similarities of the members, per group and averaged.

    ``S`` the ``[m, m]`` similarity matrix (only ``S[a, b]`` with ``a < b`` is read; symmetrise an asymmetric
    measure before); ``groups`` the group of each member (each group needs at least 2 members, and there must
    be at least 2 groups). Returns ``{"auprc", "chance", "violation_rate", "per_group": {g: {...}}}``.
    """
    S = np.asarray(S, dtype=float)
    g = np.asarray(groups)
    labels = list(dict.fromkeys(g.tolist()))
    if len(labels) < 2 or any(np.sum(g == k) < 2 for k in labels):
        raise ValueError("group separation needs at least 2 groups of at least 2 members")

    def sim(a: int, b: int) -> float:
        return float(S[min(a, b), max(a, b)])

    per = {}
    for k in labels:
        inside = np.flatnonzero(g == k)
        outside = np.flatnonzero(g != k)
        intra = [sim(a, b) for a, b in combinations(inside, 2)]
        cross = [sim(a, b) for a in inside for b in outside]
        y = [1] * len(intra) + [0] * len(cross)
        per[k] = {"auprc": average_precision(y, intra + cross), "chance": len(intra) / len(y),
                  "violation_rate": violation_rate(intra, cross)}
    return {"auprc": float(np.mean([p["auprc"] for p in per.values()])),
            "chance": float(np.mean([p["chance"] for p in per.values()])),
            "violation_rate": float(np.mean([p["violation_rate"] for p in per.values()])),
            "per_group": per}
