"""Scores of sparse autoencoders and dictionaries, each defined once (formula and source in its docstring).

Notation: ``x_n ∈ R^d`` an activation (row ``n`` of ``N`` evaluation rows), ``f_n = encode(x_n) ∈ R^m`` its
code, ``x̂_n = decode(f_n)`` its reconstruction, ``x̄ = (1/N) Σ_n x_n``, ``W ∈ R^{m×d}`` the decoder atoms
(rows), ``b = decode(0)`` the decoder bias, ``G ∈ R^{N_gt×d}`` planted (ground-truth) directions.

The anchors disagree on several of these (see ``../shared/tracks/saes.md`` A1); the choices pinned here:

* **FVU is centred**: ``Σ_n ‖x_n − x̂_n‖² / Σ_n ‖x_n − x̄‖²`` (explained variance = 1 − FVU; newer SAELens
  ``ExplainedVarianceCalculator``), accumulated in float64 over all batches. **NMSE is uncentred**:
  ``Σ_n ‖x_n − x̂_n‖² / Σ_n ‖x_n‖²`` (what older SAELens/SAEBench call "explained variance" in practice).
* **L0 counts** ``f_nj != 0`` (signed codes such as AbsTopK count; newer SAELens, dictionary_learning).
* **Dead / dense** are measured **on the evaluation rows**: a latent is dead if it never fires on them, dense
  if it fires on more than 10 % of them (SAEBench ``freq_over_10_percent``). The number of evaluation rows
  (``eval_rows``) is reported next to them, since "dead" depends on the window.
* **Shrinkage** is the relative reconstruction bias ``Σ‖x̂‖² / Σ⟨x, x̂⟩`` (Gated SAE paper, eq. 10: 1 =
  unbiased, < 1 = shrinkage); ``l2_ratio`` = mean ``‖x̂_n‖/‖x_n‖`` over rows with ``‖x_n‖ > 1e-6``.

Evaluation is streaming: :class:`SAEEvaluator` takes one batch at a time and keeps only running sums (and
per-latent counts), so it never holds more than one batch of reconstructions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Rows whose norm is below this are skipped by the ratio metrics (cosine, l2 ratio, AFA).
NORM_EPS = 1e-6
#: A latent firing on more than this fraction of the evaluation rows is dense.
DENSE_FRACTION = 0.1


def _np(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def unit_rows(W: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (all-zero rows stay zero)."""
    W = _np(W)
    n = np.linalg.norm(W, axis=1, keepdims=True)
    return np.divide(W, n, out=np.zeros_like(W), where=n > 0)


# ------------------------------------------------------------------------------------------- dictionary only


def mean_max_decoder_cosine(W) -> float:
    """Mean over atoms j of ``max_{i≠j} cos(W_j, W_i)`` (signed cosine), SAEBench
    ``average_max_decoder_cosine_sim``: 1 when every atom has a duplicate, near 0 for orthogonal atoms. A
    dictionary of one atom has no pair: NaN."""
    U = unit_rows(W)
    if U.shape[0] < 2:
        return float("nan")
    C = U @ U.T
    np.fill_diagonal(C, -np.inf)
    return float(np.mean(C.max(axis=1)))


def abs_cosines(W, G) -> np.ndarray:
    """``|cos(W_j, G_g)|`` as an ``[m, N_gt]`` array."""
    return np.abs(unit_rows(W) @ unit_rows(G).T)


def mcc(W, G) -> float:
    """Mean correlation coefficient with one-to-one matching (O'Neill et al., arXiv 2505.20254; SAELens
    ``synthetic/evals.py``): the Hungarian assignment (``scipy.optimize.linear_sum_assignment``) maximising
    the summed ``|cos|`` between learned atoms and planted directions; the score is the mean matched ``|cos|``
    over the ``min(m, N_gt)`` matched pairs. Unlike MMCS an atom cannot be counted twice. Invariant to
    permuting and rescaling (also by negative factors) the atoms; 1 for a permuted, rescaled copy of ``G``."""
    from scipy.optimize import linear_sum_assignment

    C = abs_cosines(W, G)
    r, c = linear_sum_assignment(C, maximize=True)
    return float(C[r, c].mean())


def mmcs(W, G) -> float:
    """Mean max cosine similarity (Sharkey et al. 2022): ``(1/N_gt) Σ_g max_j |cos(W_j, G_g)|``."""
    return float(abs_cosines(W, G).max(axis=0).mean())


def uniqueness(W, G) -> float:
    """``#unique(argmax_g |cos(W_j, G_g)|) / m`` (SAELens ``synthetic/evals.py``): 1 when every atom's
    nearest planted direction is different, ``1/m`` when all atoms point at the same one."""
    C = abs_cosines(W, G)
    return float(len(np.unique(C.argmax(axis=1))) / C.shape[0])


def best_match(W, G) -> np.ndarray:
    """For each atom j, the planted direction with the largest ``|cos|`` (``[m]`` ints)."""
    return abs_cosines(W, G).argmax(axis=1)


def parent_latents(W, G, parent: np.ndarray) -> dict[int, int]:
    """For each planted direction that is a parent (appears in ``parent``), the atom with the largest
    ``|cos|`` to it."""
    parents = np.unique(parent[parent >= 0])
    C = abs_cosines(W, G)
    return {int(p): int(C[:, p].argmax()) for p in parents}


# ------------------------------------------------------------------------------------------- streaming


class SAEEvaluator:
    """Streaming evaluation of one SAE on the evaluation rows; call :meth:`update` per batch, then
    :meth:`result`.

    ``W`` the decoder atoms ``[m, d]``; ``bias`` = ``decode(0)`` (``[d]``). With ground truth: ``G`` the
    planted directions, ``parent`` (``[N_gt]``, the parent index of each planted direction, ``-1`` for
    roots) and per-batch ``fired`` (``[B, N_gt]`` bools: which planted directions fired on each row).

    Scores (all in float64):

    ``fvu``            Σ‖x − x̂‖² / Σ‖x − x̄‖²  (centred; x̄ is the mean of all evaluation rows)
    ``nmse``           Σ‖x − x̂‖² / Σ‖x‖²
    ``cosine``         mean_n ⟨x_n, x̂_n⟩ / (‖x_n‖‖x̂_n‖) over rows with both norms > 1e-6; a row whose
                       reconstruction is zero counts as 0
    ``l0``             mean_n #{j : f_nj != 0}
    ``l1``             mean_n Σ_j |f_nj|
    ``dead_fraction``  fraction of latents with no nonzero code on the evaluation rows
    ``dense_fraction`` fraction of latents nonzero on more than 10 % of the evaluation rows
    ``shrinkage``      Σ‖x̂‖² / Σ⟨x, x̂⟩ (relative reconstruction bias; 1 = unbiased)
    ``l2_ratio``       mean_n ‖x̂_n‖ / ‖x_n‖
    ``afa_error``      the approximate-feature-activation error of A1 (Lee et al., "Evaluating and Designing
                       Sparse Autoencoders by Approximating Quasi-Orthogonality"): for quasi-orthogonal
                       atoms ‖f_n ⊙ ‖W‖‖ ≈ ‖x_n − b‖, so E_n (‖f_n ⊙ ‖W_j‖‖ − ‖x_n − b‖)² / E_n ‖x_n − b‖²
                       (0 for an orthonormal dictionary with exact codes; normalised by the mean squared
                       centred input norm so that it is unit-free)
    ``eval_rows``      N, the number of evaluation rows (the window of ``dead_fraction``)

    With ground truth, additionally: ``f1``, ``precision``, ``recall`` — per latent, paired with its
    best-``|cos|`` planted direction g(j): precision = P(g fires | j fires), recall = P(j fires | g fires),
    F1 their harmonic mean, each undefined value counted as 0, averaged over latents (SAELens
    ``synthetic/evals.py``); and ``absorption`` — over every row where a parent direction p fires together
    with one of its children, the fraction where the parent's latent (the atom with the largest ``|cos|`` to
    p) is zero, pooled over parents (a parent's latent that stays silent whenever a child fires has been
    absorbed by it; NaN if no parent fires with a child on the evaluation rows).
    """

    def __init__(self, W, bias=None, G=None, parent=None) -> None:
        self.W = _np(W)
        m, d = self.W.shape
        self.m, self.d = m, d
        self.bias = np.zeros(d) if bias is None else _np(bias).reshape(d)
        self.atom_norm = np.linalg.norm(self.W, axis=1)
        self.n = 0
        self.sum_x = np.zeros(d)
        self.sum_x2 = 0.0
        self.sse = 0.0
        self.cos_sum = 0.0
        self.cos_n = 0
        self.l0 = 0.0
        self.l1 = 0.0
        self.fires = np.zeros(m)
        self.xh2 = 0.0
        self.dot = 0.0
        self.ratio_sum = 0.0
        self.ratio_n = 0
        self.afa_num = 0.0
        self.afa_den = 0.0
        self.G = None if G is None else _np(G)
        if self.G is not None:
            self.pair = best_match(self.W, self.G)
            self.gt_fires = np.zeros(m)  # per latent: rows where its paired direction fires
            self.both = np.zeros(m)
            self.parent = None if parent is None else np.asarray(parent, dtype=np.int64)
            self.parent_latent = parent_latents(self.W, self.G, self.parent) if self.parent is not None else {}
            self.children = {p: np.flatnonzero(self.parent == p) for p in self.parent_latent}
            self.abs_rows = 0.0
            self.abs_silent = 0.0

    def update(self, x, z, x_hat, fired=None) -> None:
        """Add one batch: activations ``x [B, d]``, codes ``z [B, m]``, reconstructions ``x_hat [B, d]``."""
        x, z, xh = _np(x), _np(z), _np(x_hat)
        self.n += x.shape[0]
        self.sum_x += x.sum(axis=0)
        self.sum_x2 += float(np.sum(x * x))
        err = x - xh
        self.sse += float(np.sum(err * err))
        nx, nxh = np.linalg.norm(x, axis=1), np.linalg.norm(xh, axis=1)
        dots = np.sum(x * xh, axis=1)
        ok = nx > NORM_EPS
        good = ok & (nxh > NORM_EPS)
        cos = np.zeros(x.shape[0])
        cos[good] = dots[good] / (nx[good] * nxh[good])
        self.cos_sum += float(cos[ok].sum())
        self.cos_n += int(ok.sum())
        self.ratio_sum += float(np.sum(nxh[ok] / nx[ok]))
        self.ratio_n += int(ok.sum())
        active = z != 0
        self.l0 += float(active.sum())
        self.l1 += float(np.abs(z).sum())
        self.fires += active.sum(axis=0)
        self.xh2 += float(np.sum(xh * xh))
        self.dot += float(dots.sum())
        xc_norm = np.linalg.norm(x - self.bias, axis=1)
        f_norm = np.linalg.norm(z * self.atom_norm, axis=1)
        self.afa_num += float(np.sum((f_norm - xc_norm) ** 2))
        self.afa_den += float(np.sum(xc_norm ** 2))
        if self.G is not None and fired is not None:
            fired = np.asarray(fired, dtype=bool)
            gt = fired[:, self.pair]
            self.gt_fires += gt.sum(axis=0)
            self.both += (gt & active).sum(axis=0)
            if self.parent is not None and self.parent_latent:
                for p, j in self.parent_latent.items():
                    rows = fired[:, p] & fired[:, self.children[p]].any(axis=1)
                    self.abs_rows += float(rows.sum())
                    self.abs_silent += float((rows & ~active[:, j]).sum())

    def result(self) -> dict[str, float]:
        n = max(self.n, 1)
        mean = self.sum_x / n
        centred = self.sum_x2 - n * float(mean @ mean)
        out: dict[str, Any] = {
            "fvu": self.sse / centred if centred > 0 else float("nan"),
            "nmse": self.sse / self.sum_x2 if self.sum_x2 > 0 else float("nan"),
            "cosine": self.cos_sum / self.cos_n if self.cos_n else float("nan"),
            "l0": self.l0 / n,
            "l1": self.l1 / n,
            "dead_fraction": float(np.mean(self.fires == 0)),
            "dense_fraction": float(np.mean(self.fires / n > DENSE_FRACTION)),
            "shrinkage": self.xh2 / self.dot if self.dot != 0 else float("nan"),
            "l2_ratio": self.ratio_sum / self.ratio_n if self.ratio_n else float("nan"),
            "afa_error": self.afa_num / self.afa_den if self.afa_den > 0 else float("nan"),
            "eval_rows": float(self.n),
        }
        if self.G is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                p = np.where(self.fires > 0, self.both / np.maximum(self.fires, 1), 0.0)
                r = np.where(self.gt_fires > 0, self.both / np.maximum(self.gt_fires, 1), 0.0)
                f1 = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
            out.update(precision=float(p.mean()), recall=float(r.mean()), f1=float(f1.mean()))
            if self.parent is not None:
                out["absorption"] = self.abs_silent / self.abs_rows if self.abs_rows else float("nan")
        return out


def evaluate_batches(batches, W, bias=None, G=None, parent=None) -> dict[str, float]:
    """Run :class:`SAEEvaluator` over an iterable of ``(x, z, x_hat)`` or ``(x, z, x_hat, fired)`` batches."""
    ev = SAEEvaluator(W, bias, G, parent)
    for b in batches:
        ev.update(*b)
    return ev.result()


def normalized_area_log(xs, values) -> float:
    """Area under ``values`` against ``log x`` divided by the width of the ``log x`` range (trapezoids): the
    mean of the curve over log x, in the units of ``values``; with one point, that point's value. Used for
    the primary score (FVU against log L0 target)."""
    from bench_core.metrics.selection import normalized_auc_logk

    return normalized_auc_logk(xs, values)
