"""k-sparse probing of the SAE track: feature selection over latents, with the selectors track's own code.

What it measures (SAEBench ``sparse_probing``, Karvonen et al. 2025; Gurnee et al. 2023): whether a dataset's
label (on the transformer tier, the standard-library package a docstring comes from) is readable from ``k``
latents of a dictionary, ``k`` ∈ ``probe_ks`` (default {1, 2, 5}), against the same probe on ``k`` raw
neurons. In featbench this *is* feature selection over latents, computed by the selectors track's functions,
never a copy of them:

1. **Units**: on token data with a ``doc`` array, one unit per document, whose features are the mean of its
   tokens' codes (every token row of the document; SAEBench mean-pools over the non-pad tokens) and whose label
   is its tokens' label; on other data, one unit per row. Training units come from the job's training rows,
   test units from its evaluation rows (the tracks split by document, so no document is on both sides). The
   codes are computed streaming, ``batch`` rows at a time; only the pooled ``[units, m]`` matrix is kept.
2. **Selection**: the selectors-track method named by the profile's ``probe_selector`` (default ``anova_f``,
   the ANOVA F statistic of each latent against the label over the training units; multi-class, so it
   generalises SAEBench's one-vs-rest ranking by ``|μ_pos − μ_neg|``) chooses the ``k`` latents through
   :func:`bench_core.tracks.selectors.fit_sets` (one ``rank`` call, seeded tie-break: the dead latents of a
   dictionary all score 0 and are drawn at random, as they should be).
3. **Probe**: :func:`bench_core.tracks.selectors.evaluate_subset` with the selectors track's fixed ``logreg``
   evaluator (standardisation, then L2 logistic regression with C = 1, lbfgs; SAEBench uses the same C = 1
   L2 probe), fitted on the training units restricted to the ``k`` latents and scored by **balanced accuracy**
   on the test units (SAEBench reports accuracy on balanced binary tasks; here the task is multi-class with
   unequal class sizes, so chance is ``1/C`` either way).

Scores (see :meth:`bench_core.tracks.saes.SAEsTrack.run`): ``probe_k<k>@L0=<t>`` for a dictionary at target
``t``, ``probe_k<k>_raw`` for the raw neurons (the same for every method of a dataset and split; reported in
each job so that a table row can show it), and ``probe_k<k>_auc``, the normalized area over log target L0
(as ``fvu_auc``). Probing runs only on data with at least two classes in both the training and the test
units (the planted tier has none: its rows carry no label).
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Mapping

import numpy as np

from bench_core.tracks.base import Context


def applies(dataset, train_idx: np.ndarray, test_idx: np.ndarray) -> bool:
    """Probing needs a label with at least two classes on each side of the split."""
    y = np.asarray(dataset.y)
    return len(np.unique(y[train_idx])) >= 2 and len(np.unique(y[test_idx])) >= 2


def units(dataset, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(unit of each row, label of each unit)`` for the rows ``idx``: documents (numbered 0.. in order of
    their id) when the dataset has a ``doc`` array, else the rows themselves."""
    y = np.asarray(dataset.y)[idx]
    doc = dataset.arrays.get("doc")
    if doc is None:
        return np.arange(len(idx)), y
    _ids, first, inv = np.unique(np.asarray(doc)[idx], return_index=True, return_inverse=True)
    if np.any(y != y[first][inv]):
        raise ValueError("probing: the rows of a document carry different labels")
    return inv.astype(np.int64), y[first]


def pooled(encode: Callable[[Any], Any], X, unit: np.ndarray, n_units: int, batch: int) -> np.ndarray:
    """Mean of ``encode(rows)`` per unit (float64 ``[n_units, m]``), streaming over ``batch`` rows of the torch
    tensor ``X``."""
    import torch

    sums, counts = None, np.bincount(unit, minlength=n_units).astype(np.float64)
    u = torch.as_tensor(unit, device=X.device)
    for s in range(0, X.shape[0], batch):
        z = encode(X[s:s + batch]).double()
        if sums is None:
            sums = torch.zeros(n_units, z.shape[1], dtype=torch.float64, device=z.device)
        sums.index_add_(0, u[s:s + batch].to(z.device), z)
    return sums.cpu().numpy() / np.maximum(counts, 1)[:, None]


def _fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def probe_scores(F_train: np.ndarray, y_train: np.ndarray, F_test: np.ndarray, y_test: np.ndarray,
                 ks, selector, ctx: Context) -> dict[int, float]:
    """``{k: balanced accuracy}`` of the ``logreg`` probe on the ``k`` features the selector chooses (steps 2
    and 3 of the module docstring), for every ``k`` of ``ks`` below the number of features. The evaluation
    cache of the selectors track is keyed by a checksum of the feature matrices, so equal inputs (the raw
    neurons in every job of a worker) are probed once."""
    from bench_core.data.dataset import Split
    from bench_core.tracks.selectors import evaluate_subset, fit_sets

    m = F_train.shape[1]
    ks = sorted({int(k) for k in ks if 1 <= int(k) < m})
    if not ks:
        return {}
    y_fit = y_train if selector.tags.supervised else None
    _order, sets, _t = fit_sets(selector, F_train, y_fit, ks, ctx)
    split = Split(F_train, y_train, F_test, y_test, np.arange(len(y_train)), np.arange(len(y_test)))
    prefix = ("sae_probe", _fingerprint(F_train, y_train, F_test, y_test))
    return {k: evaluate_subset(prefix, "logreg", ctx.seed, sets[k], split) for k in ks}


class Prober:
    """Sparse probing of one job: the units and labels of both sides, the selector, the raw-neuron scores."""

    def __init__(self, dataset, train_idx: np.ndarray, test_idx: np.ndarray, X_train, X_eval,
                 settings: Mapping[str, Any], ctx: Context) -> None:
        from bench_core.registry import method_class

        self.u_train, self.y_train = units(dataset, train_idx)
        self.u_test, self.y_test = units(dataset, test_idx)
        self.X_train, self.X_eval, self.ctx = X_train, X_eval, ctx
        self.ks = [int(k) for k in settings["probe_ks"]]
        self.batch = int(settings["eval_batch"])
        self.selector = method_class("selectors", str(settings["probe_selector"]))()

    def scores(self, encode: Callable[[Any], Any]) -> dict[int, float]:
        """``{k: balanced accuracy}`` of the probe on the pooled codes of ``encode``."""
        F_tr = pooled(encode, self.X_train, self.u_train, len(self.y_train), self.batch)
        F_te = pooled(encode, self.X_eval, self.u_test, len(self.y_test), self.batch)
        return probe_scores(F_tr, self.y_train, F_te, self.y_test, self.ks, self.selector, self.ctx)

    def raw(self) -> dict[int, float]:
        """The same probe on the raw neurons."""
        return self.scores(lambda x: x)
