"""Embedded and wrapper selectors: importances read off a fitted model.

Six selectors, all ``rank`` methods (the top k for every k comes from one fit):

``l1_logistic``             entry order along an L1-regularised logistic regression path (scikit-learn, liblinear)
``random_forest``           impurity (MDI) importance of a random forest (scikit-learn)
``extra_trees``             impurity (MDI) importance of extremely randomised trees (scikit-learn)
``permutation_importance``  permutation importance of a random forest on held-out training rows (scikit-learn)
``rfe_svm``                 SVM-RFE, recursive feature elimination with a linear SVM (scikit-learn ``RFE``)
``lassonet``                LassoNet's lambda path (the ``lassonet`` package, torch)

Conventions shared by all of them:

* Linear and neural models see standardised columns (training-row mean and standard deviation; a constant
  column becomes all zeros, so it can never enter a model and ranks at the bottom). Trees see raw values.
* A method that needs validation rows holds out 1/8 of the training rows, stratified by class
  (:func:`_stratified_holdout`); every class keeps at least one row in the fitting part.
* Seeds come only from ``ctx.rng(salt)`` (one salt per use), so a job is reproducible under its seed.
* Scores are *ranks*: :func:`_lex_scores` turns a lexicographic key (primary criterion, then tie-breakers)
  into 0, 1, 2, ... (higher = more important). Features whose whole key is equal get the same score, so
  the protocol's seeded random tie-break decides between them instead of the column order.

Heavy imports (scikit-learn, torch, lassonet) happen inside the methods: this module is imported at every
``featbench`` start-up.
"""

from __future__ import annotations

import warnings

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.base import Tags
from bench_core.tracks.selectors import Selector

# ------------------------------------------------------------------------------------------------ helpers


def _standardize(X: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit variance (a new array); constant columns become exactly 0."""
    mu = X.mean(axis=0)
    sd = X.std(axis=0)
    # a column whose spread is at rounding level is constant for every purpose here
    const = sd <= 1e-12 * np.maximum(1.0, np.abs(mu))
    Z = (X - mu) / np.where(const, 1.0, sd)
    Z[:, const] = 0.0
    return Z


def _stratified_holdout(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(fit, held_out)``: ``round(fraction * n_c)`` rows of each class held out, but never a
    class's last row (so every class stays in the fitting part). ``held_out`` may be empty on tiny data."""
    fit, held = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        m = min(int(round(fraction * len(idx))), len(idx) - 1)
        held.append(idx[:m])
        fit.append(idx[m:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(held))


def _lex_scores(*keys) -> np.ndarray:
    """Scores from a lexicographic key, most significant first, higher = better for every key.

    Returns 0, 1, ..., (number of distinct keys - 1) as float64; equal keys get equal scores.
    """
    cols = [np.asarray(k, dtype=np.float64) for k in keys]
    d = len(cols[0])
    if d == 0:
        return np.zeros(0)
    order = np.lexsort(cols[::-1])  # np.lexsort sorts by its last key first
    stacked = np.stack([c[order] for c in cols], axis=1)
    new = np.concatenate([[True], np.any(stacked[1:] != stacked[:-1], axis=1)])
    scores = np.empty(d)
    scores[order] = np.cumsum(new) - 1
    return scores


def _seed(ctx, salt: int) -> int:
    return int(ctx.rng(salt).integers(2**31 - 1))


# ------------------------------------------------------------------------------------------------ L1 path


class L1Logistic(Selector):
    """Entry order along an L1-regularised logistic regression path (the "exactly k features" lasso).

    What it does, precisely:

    1. Standardise the columns. Targets: one binary problem ``y == 1`` for two classes; one-vs-rest
       problems ``y == c`` for every class otherwise (liblinear has no multinomial L1 solver).
    2. ``C_min = 1 / max_{j,c} |x_j^T (t_c - mean(t_c))|``: the smallest C at which any coefficient is
       non-zero (exact for centred columns, whatever the intercept). It equals scikit-learn's
       ``l1_min_c(Xs, y, loss="log", fit_intercept=False)``; with ``fit_intercept=True`` that function
       would return the smaller C at which liblinear's penalised intercept enters.
    3. Fit ``LogisticRegression(l1_ratio=1, solver="liblinear", intercept_scaling=10)`` (the L1 penalty;
       a large ``intercept_scaling`` keeps liblinear's penalty on the intercept small) at
       ``C_min * logspace(0, decades, n_Cs)``, from the sparsest model up. A feature *enters* at the first
       path position where its coefficient is non-zero (in any class's model). The path stops early once
       ``max_active`` features are active at the same time (the dense end of the path is the slow part and
       only orders features far beyond the protocol's largest k = 200).
    4. Rank: by entry position (earlier = more important); features entering at the same position by their
       largest |coefficient| at that position (the larger one entered earlier between the two grid points,
       to first order); features that never entered after all of them, by the largest |gradient|
       ``|x_j^T (t_c - p_c)|`` of the last fitted model: by the KKT conditions the feature with the largest
       gradient is the next to enter. Constant columns have gradient 0 and come last (tied).

    So the top k is the active set at the first path position where k features are active, up to grid
    resolution, *if no feature has left the model before that point*. A feature that enters and later
    leaves (which happens with correlated features) keeps its early entry rank, so then the top k can
    differ from any single active set on the path.

    Reference: the L1 regularisation path of logistic regression (Koh, Kim & Boyd, JMLR 2007; Friedman,
    Hastie & Tibshirani, J. Stat. Softw. 2010), here solved point by point with liblinear (Fan et al.,
    JMLR 2008) through scikit-learn.
    """

    name = "l1_logistic"
    version = "1"
    params = {"n_Cs": 40, "decades": 4.0, "max_active": 200, "tol": 1e-4}
    grid = {"n_Cs": [20, 40, 80]}
    profile_params = {"quick": {"n_Cs": 30}, "standard": {"n_Cs": 30}}
    tags = Tags(supervised=True, stochastic=True, wraps="scikit-learn")

    def rank(self, X, y, ctx):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        Xs = _standardize(X)
        n, d = Xs.shape
        classes = np.unique(y)
        if len(classes) < 2:
            return np.zeros(d)
        labels = classes[-1:] if len(classes) == 2 else classes
        T = (y[:, None] == labels[None, :]).astype(np.float64)  # n x m binary targets
        g0 = np.abs(Xs.T @ (T - T.mean(axis=0)))  # d x m
        gmax = float(g0.max())
        if not gmax > 0:
            return np.zeros(d)
        Cs = np.logspace(0.0, float(self.params["decades"]), int(self.params["n_Cs"])) / gmax
        max_active = min(int(self.params["max_active"]), d)
        seed = _seed(ctx, 11)

        entry = np.full(d, np.inf)
        coef_at_entry = np.zeros(d)
        W = np.zeros((len(labels), d))
        b = np.zeros(len(labels))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for step, C in enumerate(Cs):
                for c in range(len(labels)):
                    model = LogisticRegression(C=float(C), l1_ratio=1.0, solver="liblinear",
                                               intercept_scaling=10.0, tol=float(self.params["tol"]),
                                               max_iter=1000, random_state=seed)
                    model.fit(Xs, T[:, c])
                    W[c], b[c] = model.coef_[0], model.intercept_[0]
                A = np.abs(W).max(axis=0)
                new = (A > 0) & np.isinf(entry)
                entry[new] = step
                coef_at_entry[new] = A[new]
                if int(np.sum(A > 0)) >= max_active:
                    break
        P = 1.0 / (1.0 + np.exp(-np.clip(Xs @ W.T + b, -500, 500)))
        grad = np.abs(Xs.T @ (T - P)).max(axis=1)
        entered = np.isfinite(entry)
        key1 = np.where(entered, -np.where(entered, entry, 0), -(len(Cs) + 1.0))
        key2 = np.where(entered, coef_at_entry, grad)
        return _lex_scores(key1, key2)


# ------------------------------------------------------------------------------------------------ trees


class RandomForestImportance(Selector):
    """Impurity (mean decrease in Gini impurity, MDI) importance of a random forest.

    ``RandomForestClassifier(n_estimators=100, max_features="sqrt", n_jobs=1)`` fit on the raw training rows;
    the score is ``feature_importances_`` (Breiman, Machine Learning 2001). Constant columns are never split
    on and score 0. MDI is known to favour high-cardinality continuous features (Strobl et al. 2007).
    """

    name = "random_forest"
    version = "1"
    params = {"n_estimators": 100, "max_features": "sqrt"}
    grid = {"n_estimators": [100, 300], "max_features": ["sqrt", "log2"]}
    tags = Tags(supervised=True, stochastic=True, wraps="scikit-learn")

    def rank(self, X, y, ctx):
        from sklearn.ensemble import RandomForestClassifier

        return _impurity_importance(RandomForestClassifier, self.params, X, y, _seed(ctx, 12))


class ExtraTreesImportance(Selector):
    """Impurity (MDI) importance of extremely randomised trees.

    ``ExtraTreesClassifier(n_estimators=100, max_features="sqrt", n_jobs=1)`` fit on the raw training rows;
    the score is ``feature_importances_`` (Geurts, Ernst & Wehenkel, Machine Learning 2006). This is a
    selector with its own forest: the protocol's fixed ``extratrees`` evaluator (50 trees) is separate.
    """

    name = "extra_trees"
    version = "1"
    params = {"n_estimators": 100, "max_features": "sqrt"}
    grid = {"n_estimators": [100, 300], "max_features": ["sqrt", "log2"]}
    tags = Tags(supervised=True, stochastic=True, wraps="scikit-learn")

    def rank(self, X, y, ctx):
        from sklearn.ensemble import ExtraTreesClassifier

        return _impurity_importance(ExtraTreesClassifier, self.params, X, y, _seed(ctx, 13))


def _impurity_importance(forest_cls, params, X, y, seed: int) -> np.ndarray:
    """MDI importance (``feature_importances_``) of a scikit-learn forest fit on one core."""
    model = forest_cls(n_estimators=int(params["n_estimators"]), max_features=params["max_features"], n_jobs=1,
                       random_state=seed)
    return np.asarray(model.fit(X, y).feature_importances_, dtype=np.float64)


def _balanced_accuracy(pred: np.ndarray, y: np.ndarray, masks: list[np.ndarray]) -> float:
    """scikit-learn's ``balanced_accuracy_score`` (mean recall over the classes present in ``y``), bit for bit."""
    correct = pred == y
    return float(np.mean([np.sum(correct[m]) / np.sum(m) for m in masks]))


def _permutation_importance(model, X: np.ndarray, y: np.ndarray, cols: np.ndarray, n_repeats: int, seed: int,
                            max_bytes: int = 64 * 2**20) -> np.ndarray:
    """``permutation_importance(model, X, y, scoring="balanced_accuracy", n_repeats=n_repeats,
    random_state=seed).importances_mean[cols]`` of scikit-learn, computed in batches.

    Same permutations (scikit-learn draws one seed from ``random_state`` and replays the same shuffle sequence
    for every column, each shuffle applied to the previous one), same predictions, same score, so the same
    numbers (the test suite checks equality); but one ``predict`` call per chunk of columns instead of one
    per (column, repeat), which is what makes a forest's permutation importance affordable (a forest's
    ``predict`` has a fixed cost of ~0.2 ms per tree per call). Chunks hold at most ``max_bytes``.
    """
    n, d = X.shape
    rs = np.random.RandomState(seed)
    shuffle_rs = np.random.RandomState(rs.randint(np.iinfo(np.int32).max + 1))
    shuffling, composite, rows = np.arange(n), np.arange(n), []
    for _ in range(n_repeats):
        shuffle_rs.shuffle(shuffling)
        composite = composite[shuffling]
        rows.append(composite.copy())
    rows_all = np.concatenate(rows)
    masks = [y == c for c in np.unique(y)]
    Xf = np.asarray(X, dtype=np.float32)  # what the trees use anyway (sklearn converts to float32)
    baseline = _balanced_accuracy(model.predict(Xf), y, masks)
    block = n_repeats * n
    per_col = max(1, block * d * 4)
    chunk = max(1, int(max_bytes // per_col))
    out = np.zeros(len(cols))
    tiled = np.tile(Xf, (n_repeats, 1))
    for start in range(0, len(cols), chunk):
        J = cols[start:start + chunk]
        B = np.tile(tiled, (len(J), 1))
        for a, j in enumerate(J):
            B[a * block:(a + 1) * block, j] = Xf[rows_all, j]
        pred = model.predict(B)
        for a in range(len(J)):
            scores = np.array([_balanced_accuracy(pred[a * block + r * n: a * block + (r + 1) * n], y, masks)
                               for r in range(n_repeats)])
            out[start + a] = np.mean(baseline - scores)
    return out


class PermutationImportance(Selector):
    """Permutation importance of a random forest, measured on held-out training rows.

    1. Hold out 1/8 of the training rows (stratified); fit ``RandomForestClassifier(n_estimators=100)`` on
       the other 7/8.
    2. On the held-out rows, the permutation importance of scikit-learn's ``permutation_importance``
       (``n_repeats=5``, ``scoring="balanced_accuracy"``): the mean drop in balanced accuracy when one column
       is shuffled (Breiman 2001; Fisher, Rudin & Dominici, JMLR 2019). It is computed by
       :func:`_permutation_importance`, which gives scikit-learn's numbers in batched ``predict`` calls.
    3. Rank by that drop; ties (frequent: the held-out set is small, so accuracies move in coarse steps) by
       the forest's impurity importance.

    Cost: every permuted column costs ``n_repeats`` predictions of the held-out rows, and building each
    batch copies the held-out rows, so it grows like d^2 and does not scale to very large d. Two things
    keep it bounded: a column the forest never splits on has permutation importance exactly 0 and is not
    permuted; and at most ``max_permuted`` columns (those with the highest impurity importance) are
    permuted, the others are *assumed* to have importance 0 (they are ordered by impurity importance among
    the zero-importance columns). With fewer used columns than ``max_permuted`` (300; 100 in the quick
    profile) it is the plain permutation importance. One fit took 0.5 s on breast cancer (398 x 30), ~12 s
    on 2,000 x 500 and ~14 s on 1,400 x 4,800 (one CPU thread); the forest's ``predict`` on
    ``n_repeats * max_permuted`` copies of the held-out rows is the bulk of it.
    """

    name = "permutation_importance"
    version = "1"
    params = {"n_estimators": 100, "n_repeats": 5, "max_permuted": 300}
    grid = {"n_repeats": [5, 10], "max_permuted": [300, 3000]}
    profile_params = {"quick": {"n_repeats": 3, "max_permuted": 100},
                      "standard": {"n_repeats": 3, "max_permuted": 100}}
    tags = Tags(supervised=True, stochastic=True, wraps="scikit-learn")

    def rank(self, X, y, ctx):
        from sklearn.ensemble import RandomForestClassifier

        d = X.shape[1]
        fit, held = _stratified_holdout(y, 1 / 8, ctx.rng(21))
        if len(held) == 0:  # tiny data: measure on the fitting rows rather than not at all
            held = fit
        forest = RandomForestClassifier(n_estimators=int(self.params["n_estimators"]), n_jobs=1,
                                        random_state=_seed(ctx, 22))
        forest.fit(X[fit], y[fit])
        mdi = np.asarray(forest.feature_importances_, dtype=np.float64)
        used = np.flatnonzero(mdi > 0)
        cols = used[np.argsort(-mdi[used], kind="stable")[: int(self.params["max_permuted"])]]
        imp = np.zeros(d)
        if len(cols):
            imp[cols] = _permutation_importance(forest, X[held], y[held], cols, int(self.params["n_repeats"]),
                                                _seed(ctx, 23))
        imp = np.round(imp, 12)  # exact ties stay ties whatever the summation order
        return _lex_scores(imp, mdi)


# ------------------------------------------------------------------------------------------------ SVM-RFE


class SVMRFE(Selector):
    """SVM-RFE (Guyon, Weston, Barnhill & Vapnik, Machine Learning 2002) with scikit-learn's ``RFE``.

    On standardised columns, ``RFE(LinearSVC(C=1), n_features_to_select=1)`` repeatedly fits a linear SVM
    and removes the features with the smallest squared weight (summed over the one-vs-rest models for more
    than two classes). The elimination runs in two stages: while more than ``fine_below`` (100) features
    remain, ``step`` = 0.05 (scikit-learn's meaning: that fraction of the *original* d removed per fit, so
    about 20 fits); from ``fine_below`` features down, one feature per fit, as in the paper (two ``RFE``
    runs, the second on the survivors of the first). With d <= 100 it is a single ``RFE(step=1)``. ``ranking_`` (1 = the last
    survivor) is the primary key; features removed in the same fit (a chunk of the first stage) are ordered
    by their squared weight in that fit, i.e. in the last model that contained them. The weights are
    captured through ``RFE``'s public ``importance_getter`` hook.

    Deviation from the paper: Guyon et al. eliminate one gene at a time or halve the remaining set for large
    gene sets; the chunked first stage removes a constant number per fit instead (scikit-learn's ``step``).
    The SVM is ``LinearSVC`` (squared hinge loss, C = 1 on standardised data) rather than the paper's
    hinge-loss SVM; multiclass uses one-vs-rest weights, which the paper (two classes) does not cover.
    """

    name = "rfe_svm"
    version = "1"
    params = {"C": 1.0, "step": 0.05, "fine_below": 100}
    grid = {"C": [0.01, 0.1, 1.0], "step": [0.02, 0.05, 0.1]}
    profile_params = {"quick": {"step": 0.1, "fine_below": 50}, "standard": {"step": 0.1, "fine_below": 50}}
    tags = Tags(supervised=True, stochastic=True, wraps="scikit-learn")

    def _rfe(self, Xs, y, n_select, step, seed):
        """One ``RFE`` run; returns (ranking_, per-feature squared weight in the last model containing it)."""
        from sklearn.feature_selection import RFE
        from sklearn.svm import LinearSVC

        d = Xs.shape[1]
        fitted: list[np.ndarray] = []

        def getter(est):
            coef = np.asarray(est.coef_, dtype=np.float64)
            fitted.append((coef**2).sum(axis=0))  # RFE's own "square" transform, recorded per fit
            return coef

        class _LinearSVC(LinearSVC):
            """``LinearSVC`` choosing its solver per fit: the dual when d > n / 3, else the primal. Both solve
            the same problem; liblinear's primal is very slow when d approaches n (12 s against 1 s at
            n = 280, d = 270, 40 classes) and its dual when n >> d, and RFE visits every d."""

            def fit(self, X, y, sample_weight=None):
                self.dual = bool(X.shape[1] > X.shape[0] / 3)
                return super().fit(X, y, sample_weight)

        svm = _LinearSVC(C=float(self.params["C"]), max_iter=2000, random_state=seed)
        rfe = RFE(svm, n_features_to_select=n_select, step=step, importance_getter=getter).fit(Xs, y)
        ranking = np.asarray(rfe.ranking_)
        n_fits = int(ranking.max()) - 1
        weight = np.zeros(d)
        if len(fitted) == n_fits:
            for t, w in enumerate(fitted):  # fit t saw the features with ranking <= 1 + n_fits - t, in order
                present = np.flatnonzero(ranking <= 1 + n_fits - t)
                gone = ranking[present] == 1 + n_fits - t
                weight[present[gone]] = w[gone]
        else:  # pragma: no cover - RFE called the getter an unexpected number of times: no tie-break
            warnings.warn("rfe_svm: could not match RFE's fits to its ranking; ties left to the protocol")
        return ranking, weight

    def rank(self, X, y, ctx):
        from sklearn.exceptions import ConvergenceWarning

        Xs = _standardize(X)
        d = Xs.shape[1]
        if d < 2 or len(np.unique(y)) < 2:
            return np.zeros(d)
        seed = _seed(ctx, 14)
        fine = max(1, min(int(self.params["fine_below"]), d))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if d > fine:
                step = float(self.params["step"])
                rank1, w1 = self._rfe(Xs, y, fine, step if 0 < step < 1 else int(step), seed)
            else:
                rank1, w1 = np.ones(d, dtype=int), np.zeros(d)
            keep = np.flatnonzero(rank1 == 1)
            rank2, w2 = (self._rfe(Xs[:, keep], y, 1, 1, seed) if len(keep) > 1
                         else (np.ones(len(keep), dtype=int), np.zeros(len(keep))))
        # one global elimination order: stage-1 casualties below every survivor of stage 1
        ranking = (rank1 - 1 + len(keep)).astype(np.float64)
        ranking[keep] = rank2
        weight = w1.copy()
        weight[keep] = w2
        return _lex_scores(-ranking, weight)


# ------------------------------------------------------------------------------------------------ LassoNet


class LassoNetSelector(Selector):
    """LassoNet (Lemhadri, Ruan, Abraham & Tibshirani, JMLR 2021) through the ``lassonet`` package.

    A one-hidden-layer network with a linear skip connection, trained along an increasing lambda path under
    the hierarchical penalty lambda * ||theta_j||_2 with ||W_j||_inf <= M * ||theta_j||_2 (package
    ``LassoNetClassifier.path``). A feature's importance is the package's ``feature_importances_``: the lambda
    at which it leaves the model (its skip weights and first-layer weights reach 0); later = more important.
    Features that leave at the same path step are ordered by the norm of their skip weights at the last step
    they were in the model (recorded through ``path``'s callback).

    Settings (the paper's experiments: hidden width d/3, M = 10, batch 256, 1/8 of the training rows held out
    for validation, 1000 epochs; the package's defaults: n_iters (1000, 100), patience (100, 10),
    path_multiplier 1.02):

    * standardised columns; a stratified 1/8 of the training rows is the validation set (early stopping);
    * one hidden layer of width d/3 clipped to [8, ``hidden_max`` = 32]; M = 10; batch 256 (the whole
      training part when it is smaller); the package's optimisers (Adam 1e-3 for the dense model, SGD 1e-3
      with momentum 0.9 on the path);
    * ``n_iters`` = (100, 20) epochs (dense model, each lambda) with ``patience`` = (10, 5) on the validation
      objective; ``path_multiplier`` = 1.05 (1.1 in the quick and smoke profiles; cheaper settings, e.g.
      (50, 10) epochs, miss informative features of easy problems);
    * the path start is computed, not estimated by the package (see below), and the path stops when no
      feature is left (or after ``max_steps`` = 1000 steps; survivors then rank first, by skip-weight norm).

    Why these: the path is far from converged at each lambda unless it gets enough optimiser steps per lambda,
    and the ranking then mostly reflects the random start. On breast cancer (398 rows), Nogueira stability of
    the top 10 over five 90 % subsamples was 0.63 with the package's settings (21 s a fit), 0.58 with these
    (4 s), 0.46 with the quick profile's (2.6 s) and 0.13-0.27 with 5-10 epochs per lambda. One fit takes
    ~5.5 s (quick: 3 s) on breast cancer, ~42 s (quick: 24 s) on n = 2,000, d = 500 and ~150 s (quick: 90 s)
    on n = 1,400, d = 4,800, on one CPU thread (the package's prox sorts the first-layer weights at every
    step, which is why the hidden width is capped): at d in the thousands use a GPU or leave it out.

    Standard profile: ``hidden_max`` = 16 (32 otherwise), for 33-37 % less CPU on wide data (13.3 -> 8.4 s at
    n = 65, d = 7,000; 4.7 -> 3.1 s at n = 150, d = 2,000). On the benchmark's synthetic sets (linear_snr
    0.25/1/4, two_moons, xor_small, madelon_like, correlated_gaussian ρ = 0.5, classification_small, hdlss,
    nonlinear_additive; splits 0-2: 30 fits) the top ``|G|`` held 97 planted features against 96 with 32, and
    ``k_full_recall`` was lower in 10 fits, higher in 4 (2 of them on hdlss, d = 2,000). A coarser path was
    rejected: 1.2 from half the estimated start (2.6x less CPU) put fewer planted features first (see the
    selectors track's docstring, "Standard profile budget").

    Workaround: the package's automatic ``lambda_start`` iterates its proximal operator up to 10^4 times for
    each of ~13 doubling candidates; that took ~30 s of a 40 s fit on breast cancer (d = 30) on CPU. Instead,
    after the dense model is trained, the start is set from the same dense model in closed form: feature j
    is removed by one proximal step of size lambda * lr once lambda * lr >= ||theta_j||_2 + M ||W_j||_1
    (the hierarchical prox of the package); with ``S`` optimiser steps per lambda and the geometric path, the
    first feature is expected to go at about lambda* = min_j (||theta_j|| + M ||W_j||_1) (r - 1) / (r lr S),
    and the path starts at lambda* / ``start_factor``. Another quirk: ``feature_importances_`` is ``inf`` for
    a feature that is already out of the dense model (it is meant for "never left"); such features get 0.

    Deterministic under the job seed (``torch_seed`` from ``ctx``; the global torch RNG state is restored
    afterwards). Runs on ``ctx.device``.
    """

    name = "lassonet"
    version = "1"
    params = {"hidden_max": 32, "M": 10.0, "batch_size": 256, "n_iters": [100, 20], "patience": [10, 5],
              "path_multiplier": 1.05, "start_factor": 4.0, "max_steps": 1000}
    grid = {"M": [3.0, 10.0, 30.0], "path_multiplier": [1.02, 1.05], "hidden_max": [32, 128]}
    profile_params = {"quick": {"path_multiplier": 1.1}, "standard": {"path_multiplier": 1.1, "hidden_max": 16},
                      "smoke": {"path_multiplier": 1.1}}
    tags = Tags(supervised=True, stochastic=True, wraps="lassonet")
    optional_dependencies = {"lassonet": "pip install 'featbench[lassonet]'"}

    @classmethod
    def warm_up(cls) -> None:
        """Import lassonet and run one optimizer step, so torch's one-off initialisation (about 2.7 s: the
        first optimizer imports torch._dynamo) is not charged to the first fit."""
        import lassonet  # noqa: F401
        import torch

        p = torch.nn.Parameter(torch.zeros(2))
        for opt in (torch.optim.SGD([p], lr=0.1, momentum=0.9), torch.optim.Adam([p])):
            opt.zero_grad()
            (p**2).sum().backward()
            opt.step()

    def rank(self, X, y, ctx):
        import torch
        from lassonet import LassoNetClassifier

        Xs = _standardize(X).astype(np.float32)
        n, d = Xs.shape
        if len(np.unique(y)) < 2:
            return np.zeros(d)
        fit, held = _stratified_holdout(y, 1 / 8, ctx.rng(31))
        if len(held) == 0:
            held = fit
        hidden = int(np.clip(d // 3, 8, max(8, int(self.params["hidden_max"]))))
        M = float(self.params["M"])
        r = float(self.params["path_multiplier"])
        n_iters = tuple(int(v) for v in self.params["n_iters"])
        patience = tuple(int(v) for v in self.params["patience"])
        batch = min(int(self.params["batch_size"]), len(fit))
        lr = 1e-3  # the package's path optimiser: SGD(lr=1e-3, momentum=0.9)
        steps_per_lambda = n_iters[1] * max(1, len(fit) // batch)
        device = torch.device(ctx.device)

        est = LassoNetClassifier(hidden_dims=(hidden,), M=M, batch_size=batch, n_iters=n_iters,
                                 patience=patience, path_multiplier=r, verbose=0, device=device,
                                 torch_seed=_seed(ctx, 32))
        state: dict[str, np.ndarray] = {}

        def skip_norms(model) -> np.ndarray:
            with torch.no_grad():
                return torch.linalg.vector_norm(model.skip.weight, dim=0).cpu().numpy().astype(np.float64)

        def callback(estimator, hist):  # after the dense model, then after every path step
            norms = skip_norms(estimator.model)
            last = state.get("last")
            state["last"] = norms if last is None else np.where(norms > 0, norms, last)

        def lambdas():  # first consumed after the dense model is trained
            with torch.no_grad():
                theta = torch.linalg.vector_norm(est.model.skip.weight, dim=0)
                w1 = est.model.layers[0].weight.abs().sum(dim=0)
                kill = (theta + M * w1).cpu().numpy()
            kill = kill[kill > 0]
            lam_first = float(kill.min()) * (r - 1) / (r * lr * steps_per_lambda) if len(kill) else 1.0
            lam = max(lam_first / float(self.params["start_factor"]), 1e-12)
            for _ in range(int(self.params["max_steps"])):
                yield lam
                lam *= r

        devices = ([device.index if device.index is not None else torch.cuda.current_device()]
                   if device.type == "cuda" else [])
        threads = torch.get_num_threads()
        # the job's thread budget: intra-op threads only slow these small layers down, badly so when cores
        # are shared (30x on the smoke data with 2 threads on 2 busy cores)
        torch.set_num_threads(max(1, int(ctx.threads)))
        try:
            with torch.random.fork_rng(devices=devices), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the package's "lambda_start might be too large" warning
                path = est.path(Xs[fit], y[fit], X_val=Xs[held], y_val=y[held], lambda_seq=lambdas(),
                                callback=callback, return_state_dicts=False)
        finally:
            torch.set_num_threads(threads)
        importance = est.feature_importances_.cpu().numpy().astype(np.float64)
        importance[~path[0].selected.cpu().numpy().astype(bool)] = 0.0
        importance = np.where(np.isinf(importance), np.finfo(np.float64).max, importance)
        return _lex_scores(importance, state["last"])


@hookimpl
def featbench_register_selectors(register):
    register.add(L1Logistic)
    register.add(RandomForestImportance)
    register.add(ExtraTreesImportance)
    register.add(PermutationImportance)
    register.add(SVMRFE)
    register.add(LassoNetSelector)
