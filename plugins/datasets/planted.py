"""Planted-dictionary activations: sparse non-negative codes over known unit directions, in superposition.

The loader ``planted.dictionary`` (registered by :mod:`plugins.datasets`) follows SynthSAEBench (Chanin &
Garriga-Alonso 2026, arXiv 2602.14687; SAELens ``sae_lens/synthetic``) and the Sharkey et al. 2022 toy, at
CPU scale. Given its parameters and three seeds it draws:

1. **Directions** ``G`` (``[n_features, d]``): i.i.d. Gaussian rows normalised to unit length (seed
   ``seed_dict``). With ``n_features > d`` they are in superposition.
2. **Firing probabilities** ``p_i``: ``"zipf"`` — ``p_i ∝ (i + 1)^(−zipf_exponent)`` rescaled linearly onto
   ``[p_min, p_max]`` (SynthSAEBench: exponent 0.5, ``p_max`` 0.4, ``p_min`` 5e-4); ``"decay"`` — ``p_i ∝
   decay^i`` scaled so that ``Σ p_i = avg_active`` (Sharkey et al.: 0.99 and 5 active of 512).
3. **Hierarchy** (``n_roots`` > 0): the first ``n_roots`` features are roots; each gets ``branching``
   children, each child ``branching`` grandchildren, to ``depth`` levels. A child can fire only when its
   parent fires, and at most one child of a parent fires (mutually exclusive): when a parent fires, one of
   its children is drawn uniformly with probability ``child_prob``, none otherwise. ``parent[i]`` is the
   parent of feature ``i`` (``-1`` for features outside the hierarchy and roots).
4. **Correlation** (``corr_rank`` > 0): the non-child features fire when a Gaussian ``u = L a + s e`` exceeds
   ``Φ⁻¹(1 − p_i)``, with ``L`` a random ``[n_features, corr_rank]`` loading of scale ``corr_scale``, ``a``
   and ``e`` standard normal and ``s`` set so that ``Var u_i = 1`` (a Gaussian copula: the marginal firing
   probabilities stay ``p_i``, the firings are correlated through a low-rank factor).
5. **Magnitudes**: ``max(0, μ_i + σ_i ε)`` with ``μ_i`` linear from ``mag_mean[0]`` to ``mag_mean[1]`` over
   the feature rank and ``σ_i = mag_std``; a child's magnitude is multiplied by its parent's divided by the
   parent's mean (children scale with their parent).
6. **Activations**: ``x = Σ_i c_i G_i + b`` with ``b`` a random vector of norm ``bias_norm`` (so a centred
   and an uncentred FVU differ), then Gaussian noise of standard deviation ``noise`` per coordinate.

Training rows use generator seed ``seed_train`` and evaluation rows ``seed_eval`` (separate streams, so no
evaluation row is a copy of a training row); the card's split is ``predefined``: rows
``[0, n_train)`` train, ``[n_train, n_train + n_eval)`` evaluate. ``RawData.arrays``: ``dictionary``
(``G``, float32), ``parent`` (int64), ``firing_prob`` (``p``), ``fired`` (bool ``[n_eval, n_features]``:
which directions fired on each evaluation row). ``y`` is zeros (the data are unlabelled).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from bench_core.data.dataset import RawData

CHUNK = 4096


def firing_probabilities(n: int, kind: str, zipf_exponent: float, p_min: float, p_max: float,
                         decay: float, avg_active: float) -> np.ndarray:
    """The per-feature firing probabilities of step 2 (descending)."""
    i = np.arange(n, dtype=np.float64)
    if kind == "zipf":
        raw = (i + 1) ** (-zipf_exponent)
        raw = (raw - raw.min()) / (raw.max() - raw.min()) if n > 1 else np.ones(1)
        return p_min + (p_max - p_min) * raw
    if kind == "decay":
        raw = decay ** i
        return np.clip(raw * avg_active / raw.sum(), 0.0, 1.0)
    raise ValueError(f"unknown firing kind {kind!r} (valid: zipf, decay)")


def hierarchy(n: int, n_roots: int, branching: int, depth: int) -> np.ndarray:
    """``parent`` of step 3: roots are features ``0..n_roots-1``, their descendants follow level by level."""
    parent = np.full(n, -1, dtype=np.int64)
    level, nxt = list(range(min(n_roots, n))), min(n_roots, n)
    for _ in range(depth - 1):
        new = []
        for p in level:
            for _ in range(branching):
                if nxt >= n:
                    return parent
                parent[nxt] = p
                new.append(nxt)
                nxt += 1
        level = new
    return parent


def _norm_ppf(q: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri

    return ndtri(q)


def _codes(rng: np.random.Generator, rows: int, p: np.ndarray, parent: np.ndarray, children: list[np.ndarray],
           order: list[int], L: np.ndarray | None, thresholds: np.ndarray, mu: np.ndarray, sigma: float,
           child_prob: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(p)
    if L is not None:
        a = rng.standard_normal((rows, L.shape[1]))
        s = np.sqrt(np.clip(1.0 - np.sum(L * L, axis=1), 1e-6, None))
        u = a @ L.T + rng.standard_normal((rows, n)) * s
        fired = u > thresholds
    else:
        fired = rng.random((rows, n)) < p
    is_child = parent >= 0
    fired[:, is_child] = False
    for node in order:  # parents before children: pick at most one child of each firing parent
        kids = children[node]
        if len(kids) == 0:
            continue
        go = fired[:, node] & (rng.random(rows) < child_prob)
        pick = rng.integers(0, len(kids), size=rows)
        for j, c in enumerate(kids):
            fired[:, c] = go & (pick == j)
    mags = np.maximum(0.0, mu + sigma * rng.standard_normal((rows, n)))
    for node in order:
        for c in children[node]:
            mags[:, c] *= mags[:, node] / mu[node]
    codes = np.where(fired, mags, 0.0)
    return codes, fired & (codes > 0)


def planted_dictionary(d: int = 32, n_features: int = 96, n_train: int = 16384, n_eval: int = 2048,
                       firing: str = "zipf", zipf_exponent: float = 0.5, p_min: float = 5e-4, p_max: float = 0.4,
                       decay: float = 0.99, avg_active: float = 5.0, n_roots: int = 0, branching: int = 3,
                       depth: int = 2, child_prob: float = 0.5, corr_rank: int = 0, corr_scale: float = 0.1,
                       mag_mean: Sequence[float] = (1.0, 1.0), mag_std: float = 0.1, bias_norm: float = 0.0,
                       noise: float = 0.0, seed_dict: int = 0, seed_train: int = 1, seed_eval: int = 2) -> RawData:
    """Generate a planted-dictionary activation set (see the module docstring)."""
    rd = np.random.default_rng(seed_dict)
    G = rd.standard_normal((n_features, d))
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    p = firing_probabilities(n_features, firing, zipf_exponent, p_min, p_max, decay, avg_active)
    parent = hierarchy(n_features, n_roots, branching, depth) if n_roots > 0 else np.full(n_features, -1, np.int64)
    children = [np.flatnonzero(parent == i) for i in range(n_features)]
    order = [i for i in range(n_features) if len(children[i])]  # creation order: parents precede children
    L = rd.standard_normal((n_features, corr_rank)) * corr_scale if corr_rank > 0 else None
    thresholds = _norm_ppf(1.0 - p)
    mu = np.linspace(float(mag_mean[0]), float(mag_mean[1]), n_features)
    b = rd.standard_normal(d)
    b = b / np.linalg.norm(b) * bias_norm

    def draw(seed: int, rows: int, keep_fired: bool):
        rng = np.random.default_rng(seed)
        X = np.empty((rows, d), dtype=np.float32)
        fired_all = np.empty((rows, n_features), dtype=bool) if keep_fired else None
        for s in range(0, rows, CHUNK):
            r = min(CHUNK, rows - s)
            codes, fired = _codes(rng, r, p, parent, children, order, L, thresholds, mu, mag_std, child_prob)
            x = codes @ G + b
            if noise > 0:
                x = x + noise * rng.standard_normal(x.shape)
            X[s:s + r] = x
            if keep_fired:
                fired_all[s:s + r] = fired
        return X, fired_all

    Xtr, _ = draw(seed_train, n_train, False)
    Xev, fired_ev = draw(seed_eval, n_eval, True)
    X = np.concatenate([Xtr, Xev])
    n = n_train + n_eval
    return RawData(
        X=X,
        y=np.zeros(n, dtype=np.int64),
        info={"true_l0_eval": float(fired_ev.sum(1).mean()), "expected_l0": float(p[parent < 0].sum()),
              "n_train": n_train, "n_eval": n_eval, "d": d, "n_features": n_features},
        arrays={"dictionary": G.astype(np.float32), "parent": parent, "firing_prob": p, "fired": fired_ev},
        splits=[(np.arange(n_train), np.arange(n_train, n))],
    )


GENERATORS = {"planted.dictionary": planted_dictionary}
