"""Filter selectors: a score per feature computed once on the training rows.

Univariate scores: ``anova_f``, ``mutual_info``, ``variance``, ``fisher_score``, ``chi2``, ``outrank``,
``distance_correlation``. Graph / neighbourhood scores: ``laplacian_score``, ``relieff``, ``inf_fs``. Greedy
with a redundancy term: ``mrmr``.

Conventions shared by every method here:

* Heavy libraries (scipy, scikit-learn, torch) are imported inside the methods: this module is imported at every
  ``featbench`` start-up.
* Torch code runs on ``ctx.device`` in float64, except the feature-by-feature Spearman Gram matrix of ``inf_fs``
  (float32, see there). Pairwise quantities are computed in row blocks; nothing of size ``n x n x d`` is built.
* A constant column (max == min) carries no information. Methods whose natural score could rank it above an
  informative or a noise column (``laplacian_score``, ``inf_fs``, ``outrank``, ``relieff``) give it the lowest
  score (the minimum over the other columns minus 1); the others give it 0, their minimum possible value.
  Exact duplicates get identical scores (``mrmr``, being greedy, ranks a duplicate of a chosen feature late).
* Deterministic given ``ctx.seed``: only ``outrank`` and ``mutual_info`` draw random numbers, from ``ctx.rng``.
"""

from __future__ import annotations

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.base import Tags
from bench_core.tracks.selectors import Selector

# Elements per temporary block (float64: 8 bytes each) for the blocked pairwise computations.
_BLOCK_ELEMS = 1 << 23


def _constant_columns(X: np.ndarray) -> np.ndarray:
    """Boolean mask of the columns whose values are all equal."""
    if X.shape[0] == 0:
        return np.ones(X.shape[1], dtype=bool)
    return X.max(axis=0) == X.min(axis=0)


def _floor(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``scores`` with the masked entries set below every other score (their minimum minus 1)."""
    scores = np.asarray(scores, dtype=np.float64).copy()
    if mask.any():
        rest = scores[~mask]
        scores[mask] = (float(rest.min()) if rest.size else 0.0) - 1.0
    return scores


def _labels(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(class_counts, codes)``: labels recoded to ``0..C-1`` over the classes present."""
    _, codes = np.unique(np.asarray(y), return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    return np.bincount(codes).astype(np.float64), codes


def _row_chunks(n: int, d: int):
    """Row ranges of about 1 M elements: temporaries of that size are recycled by the allocator, whereas
    every fresh array of ``n x d`` costs page faults."""
    step = max(1, (1 << 20) // max(1, d))
    return [(s, min(n, s + step)) for s in range(0, n, step)]


def _col_var(X: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """Population variance of each column (two-pass, in row chunks)."""
    mean = X.mean(axis=0) if mean is None else mean
    out = np.zeros(X.shape[1])
    for s, e in _row_chunks(*X.shape):
        tmp = X[s:e] - mean
        out += np.einsum("ij,ij->j", tmp, tmp)
    return out / max(1, X.shape[0])


def _transpose(X: np.ndarray) -> np.ndarray:
    """``X.T`` as a C-contiguous copy (torch's blocked transpose is several times faster than NumPy's)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64)).T.contiguous().numpy()


def _centered_ranks(XT: np.ndarray):
    """Average (tie-adjusted) ranks minus their mean ``(n + 1)/2``, of each row of ``XT`` [d, n] (torch)."""
    import torch

    d, n = XT.shape
    order = torch.from_numpy(np.argsort(XT, axis=1))
    S = torch.gather(torch.from_numpy(XT), 1, order)
    tied = torch.nonzero((S[:, 1:] == S[:, :-1]).any(dim=1)).flatten()
    src = torch.arange(n, dtype=torch.float64) - (n - 1) / 2.0
    ranks = torch.empty((d, n), dtype=torch.float64).scatter_(1, order, src.expand(d, n))
    if tied.numel():  # the rows with ties: every member of a tie group gets the group's mean position
        St = S[tied].numpy()
        pos = np.broadcast_to(np.arange(n), St.shape)
        new = np.ones(St.shape, dtype=bool)
        new[:, 1:] = St[:, 1:] != St[:, :-1]
        first = np.maximum.accumulate(np.where(new, pos, 0), axis=1)  # first position of each tie group
        last_flag = np.ones(St.shape, dtype=bool)
        last_flag[:, :-1] = new[:, 1:]
        last = np.minimum.accumulate(np.where(last_flag, pos, n - 1)[:, ::-1], axis=1)[:, ::-1]
        avg = torch.from_numpy((first + last) / 2.0 - (n - 1) / 2.0)
        ranks[tied] = torch.empty_like(avg).scatter_(1, order[tied], avg)
    return ranks


def _buffer_rows(per_row: int, device) -> int:
    """Rows per reusable buffer: about 32 MB on CPU, 512 MB on GPU."""
    budget = (1 << 26) if getattr(device, "type", str(device)) == "cuda" else (1 << 22)
    return max(1, budget // max(1, per_row))


# ---------------------------------------------------------------------------------------------- wrappers


class AnovaF(Selector):
    """ANOVA F statistic between each feature and the class (scikit-learn ``f_classif``); constant features
    score 0."""

    name = "anova_f"
    version = "1"
    tags = Tags(supervised=True, wraps="scikit-learn")

    def rank(self, X, y, ctx):
        import warnings

        from sklearn.feature_selection import f_classif

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant features: scikit-learn warns and returns NaN
            f, _ = f_classif(X, y)
        return np.nan_to_num(f, nan=0.0, posinf=np.finfo(np.float64).max)


class MutualInfo(Selector):
    """Mutual information between each feature and the class, k-NN estimator of Ross (2014) as implemented by
    scikit-learn's ``mutual_info_classif`` (``n_neighbors`` = 3)."""

    name = "mutual_info"
    version = "1"
    params = {"n_neighbors": 3}
    grid = {"n_neighbors": [3, 5, 10]}
    tags = Tags(supervised=True, stochastic=True, wraps="scikit-learn")

    def rank(self, X, y, ctx):
        # scikit-learn's estimator, all columns at once (equal to ``mutual_info_classif`` with the same
        # random_state to rounding; see plugins/selectors/_mutual_info.py)
        from ._mutual_info import mutual_info_classif_fast

        return mutual_info_classif_fast(X, y, n_neighbors=self.params["n_neighbors"],
                                        random_state=int(ctx.rng(5).integers(2**31)))


class Chi2(Selector):
    """χ² statistic between each (non-negative) feature and the class (scikit-learn ``chi2``).

    Each feature is read as a count: with ``O_fc = Σ_{i: y_i = c} x_if`` and ``E_fc = P(c) · Σ_i x_if``,
    ``χ²_f = Σ_c (O_fc − E_fc)² / E_fc``. All-zero columns (0/0 in scikit-learn) score 0. Negative values are an
    error, so the method declares ``requires = ("nonnegative",)``: the protocol runs it only on datasets whose
    card declares that property, and the conformance kit gives it non-negative smoke data.
    """

    name = "chi2"
    version = "1"
    tags = Tags(supervised=True, wraps="scikit-learn", requires=("nonnegative",))

    def rank(self, X, y, ctx):
        import warnings

        from sklearn.feature_selection import chi2

        if X.size and float(X.min()) < 0:
            raise ValueError("chi2 needs non-negative X (declared requires=('nonnegative',))")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # all-zero columns: 0/0
            stat, _ = chi2(X, y)
        return np.nan_to_num(stat, nan=0.0, posinf=np.finfo(np.float64).max)


# ---------------------------------------------------------------------------------------------- univariate


class Variance(Selector):
    """Variance of each feature, ``Var(f) = (1/n) Σ_i (x_if − x̄_f)²`` (unsupervised floor baseline).

    Not a paper method: the variance filter (scikit-learn's ``VarianceThreshold``) is the cheapest unsupervised
    baseline a supervised selector has to beat. Constant features score 0.
    """

    name = "variance"
    version = "1"
    tags = Tags(supervised=False)

    def rank(self, X, y, ctx):
        v = _col_var(X)
        v[_constant_columns(X)] = 0.0
        return v


class FisherScore(Selector):
    """Fisher score: between-class over within-class variance of each feature.

    ``F_f = Σ_c n_c (μ_fc − μ_f)² / Σ_c n_c σ²_fc`` with ``n_c`` the class sizes, ``μ_fc`` and ``σ²_fc`` the
    class mean and (population) variance of feature ``f``, ``μ_f`` its overall mean (Duda, Hart & Stork 2001;
    the form used by Gu, Li & Han, "Generalized Fisher Score for Feature Selection", UAI 2011, and by
    scikit-feature). It is a monotone transform of the ANOVA F statistic, ``F_anova = F_f (n − C)/(C − 1)``, so
    it ranks like ``anova_f``. Constant features score 0; a feature constant within every class but not across
    them (zero within-class variance) gets the largest finite float.
    """

    name = "fisher_score"
    version = "1"
    tags = Tags(supervised=True, reimplementation_of="Gu, Li & Han, Generalized Fisher Score for Feature "
                                                     "Selection, UAI 2011 (Fisher score of Duda, Hart & Stork)")

    def rank(self, X, y, ctx):
        counts, codes = _labels(y)
        n, d = X.shape
        onehot = np.zeros((n, counts.size))
        onehot[np.arange(n), codes] = 1.0
        means = (onehot.T @ X) / counts[:, None]  # [C, d] class means
        mu = X.mean(axis=0)
        between = (counts[:, None] * (means - mu) ** 2).sum(axis=0)
        within = np.zeros(d)
        for s, e in _row_chunks(n, d):
            tmp = X[s:e] - means[codes[s:e]]
            within += np.einsum("ij,ij->j", tmp, tmp)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(within > 0, between / np.where(within > 0, within, 1.0),
                             np.where(between > 0, np.finfo(np.float64).max, 0.0))
        score[_constant_columns(X)] = 0.0
        return score


class OutRank(Selector):
    """OutRank-style cardinality-adjusted mutual information with the class (Škrlj & Mramor, RecSys 2023).

    Each feature is discretized into at most ``bins`` quantile bins: with ``q_e`` the order statistic of rank
    ``⌊e·n/bins⌋`` (0-based), ``e = 1 … bins−1``, the code of ``x`` is ``#{e : x ≥ q_e}``. Equal values share a
    code and a feature with few distinct values keeps few codes, so features keep their own cardinality. The
    score is the plug-in mutual information (nats) minus its chance level for that cardinality,

        ``s_f = MI(b_f; y) − (1/P) Σ_p MI(b_f; π_p(y))``,  ``MI = Σ_{b,c} p_bc log(p_bc / (p_b p_c))``,

    with ``P = permutations`` random permutations ``π_p`` of the labels (permuting the labels gives the same
    joint distribution as permuting the feature; the ``P`` permutations are drawn from ``ctx.rng`` and shared
    by all features). Contingency tables for all features come from one ``bincount`` per permutation.

    Differences from the OutRank code (``ranking_mi_numba``): OutRank targets categorical features and
    estimates the chance term with a single cyclic shift of the labels (``np.roll``) while skipping values
    seen once; here numeric features are quantile-binned first and the chance term averages ``P`` true
    permutations over all values. Constant features get the lowest score.
    """

    name = "outrank"
    version = "1"
    params = {"bins": 10, "permutations": 5}
    grid = {"bins": [5, 10, 20]}
    tags = Tags(supervised=True, stochastic=True,
                reimplementation_of="Škrlj & Mramor, OutRank: Speeding up AutoML-based Model Search for Large "
                                    "Sparse Data sets with Cardinality-aware Feature Ranking, RecSys 2023")

    def rank(self, X, y, ctx):
        n, d = X.shape
        bins = int(self.params["bins"])
        perms = int(self.params["permutations"])
        if bins < 1 or perms < 0:
            raise ValueError("outrank: bins must be >= 1 and permutations >= 0")
        counts, codes_y = _labels(y)
        C = counts.size
        XT = _transpose(X)
        pos = (np.arange(1, bins) * n) // bins
        edges = np.sort(XT, axis=1)[:, pos]  # [d, bins - 1]
        # flat contingency index of (feature, bin); the class is added per permutation
        base = np.zeros((d, n), dtype=np.int64)
        for e in range(bins - 1):
            base += XT >= edges[:, e:e + 1]
        del XT
        base += np.arange(d, dtype=np.int64)[:, None] * bins
        base *= C
        flat = np.empty_like(base)

        def mi(labels: np.ndarray) -> np.ndarray:
            np.add(base, labels[None, :], out=flat)
            N = np.bincount(flat.ravel(), minlength=d * bins * C)
            N = N.reshape(d, bins, C).astype(np.float64)
            nb = N.sum(axis=2, keepdims=True)
            expected = nb * counts[None, None, :] / n
            with np.errstate(divide="ignore", invalid="ignore"):
                terms = np.where(N > 0, N * np.log(N / np.where(expected > 0, expected, 1.0)), 0.0)
            return terms.sum(axis=(1, 2)) / n

        score = mi(codes_y)
        if perms:
            rng = ctx.rng(31)
            chance = np.zeros(d)
            for _ in range(perms):
                chance += mi(rng.permutation(codes_y))
            score = score - chance / perms
        return _floor(score, _constant_columns(X))


class DistanceCorrelation(Selector):
    """Distance correlation between each feature and the class (Székely, Rizzo & Bakirov, Ann. Statist. 2007),
    as a ranking filter (the DisCo score of Das, Kasieczka & Shih, arXiv:2212.00046).

    V-statistic (the default of the ``dcor`` package): with ``a_ij = |x_i − x_j|`` and the label distance
    ``b_ij = ‖e_{y_i} − e_{y_j}‖ = √2·1[y_i ≠ y_j]`` (Euclidean distance of one-hot codes),
    ``dCov²(x, y) = (1/n²) Σ_ij A_ij B_ij`` with ``A``, ``B`` the double-centred distance matrices, and
    ``dCor = sqrt(dCov²(x, y) / sqrt(dVar²(x) dVar²(y)))``. dCor is invariant to scaling ``b``, so the one-hot
    encoding and the discrete metric ``1[y_i ≠ y_j]`` give the same score. Constant features score 0.

    Exact in O(n log n) per feature, vectorized over features. Expanding the double centring,
    ``n² dCov² = Σ_ij a_ij b_ij − (2/n) Σ_i a_i· b_i· + (1/n²) a·· b··`` (``·`` = sum over that index). From one
    sort per feature (values ``s_0 ≤ … ≤ s_{n−1}``, exclusive prefix sums ``P_k``) every row sum is
    ``a_i· = s_k (2k − n) + P_n − 2 P_k`` at the rank ``k`` of ``x_i`` (ties need no care: equal values
    contribute 0 on either side); the within-class totals are ``W_c = Σ_{i,j∈c} a_ij = 2 Σ_k s^c_k (2k − n_c + 1)``
    over the class's own sorted values ``s^c``. Then, with ``n_c`` the class sizes, ``R_c = Σ_{i∈c} a_i·`` and
    ``T = a··``:
    ``Σ_ij a_ij b_ij = √2 (T − Σ_c W_c)``, ``Σ_i a_i· b_i· = √2 Σ_c (n − n_c) R_c``, ``b·· = √2 (n² − Σ_c n_c²)``;
    ``n² dVar²(x) = Σ_ij a_ij² − (2/n) Σ_i a_i·² + T²/n²`` with ``Σ_ij a_ij² = 2n Σ_i (x_i − x̄)²``; and
    ``n² dVar²(y) = 2 (n² − Σ n_c²) − (4/n) Σ_c n_c (n − n_c)² + 2 (n² − Σ n_c²)²/n²``. Tested against
    ``dcor.distance_correlation(x, onehot(y))`` to 1e-8.
    """

    name = "distance_correlation"
    version = "1"
    tags = Tags(supervised=True,
                reimplementation_of="Székely, Rizzo & Bakirov, Measuring and testing dependence by correlation "
                                    "of distances, Ann. Statist. 2007 (DisCo filter: Das, Kasieczka & Shih, "
                                    "arXiv:2212.00046)")

    def rank(self, X, y, ctx):
        n, d = X.shape
        counts, codes_y = _labels(y)
        C = counts.size
        const = _constant_columns(X)
        if C < 2 or n < 2:
            return np.zeros(d)
        # dCor is invariant to shifting and scaling x: standardize, for the numerical range
        XT = _transpose(X)
        XT -= XT.mean(axis=1, keepdims=True)
        sd = np.sqrt(np.einsum("ij,ij->i", XT, XT) / n)
        XT /= np.where(const | (sd == 0), 1.0, sd)[:, None]
        XT[const] = 0.0
        within = np.zeros(d)  # Σ_c W_c, from the sorted values of each class
        for c in range(C):
            Sc = XT[:, codes_y == c]
            Sc.sort(axis=1)
            within += 2.0 * (Sc @ (2.0 * np.arange(Sc.shape[1]) - Sc.shape[1] + 1.0))
            del Sc
        import torch

        order = torch.from_numpy(np.argsort(XT, axis=1))
        S = torch.gather(torch.from_numpy(XT), 1, order).numpy()
        wlab = torch.from_numpy((n - counts)[codes_y])[order].numpy()  # n − n_y at each sorted position
        del order
        sum_sq_S = np.einsum("ij,ij->i", S, S)
        r = np.cumsum(S, axis=1, out=XT)  # reuses XT's memory
        total = r[:, -1].copy()
        sum_sq = 2.0 * n * sum_sq_S - 2.0 * total**2  # Σ_ij (x_i − x_j)²
        r *= -2.0
        r += total[:, None]
        S *= 2.0 * np.arange(n, dtype=np.float64) - n + 2.0
        r += S  # row sums a_i. in sorted order: s_k (2k − n) + P_n − 2 P_k (P exclusive prefix sums)
        del S
        T = r.sum(axis=1)
        sum_r2 = np.einsum("ij,ij->i", r, r)
        cross = np.einsum("ij,ij->i", r, wlab)  # Σ_c (n − n_c) R_c
        del r, wlab, XT
        s2 = np.sqrt(2.0)
        pairs = n * n - float((counts**2).sum())  # ordered pairs in different classes
        dcov2 = (s2 * (T - within) - (2.0 / n) * s2 * cross + T * s2 * pairs / n**2) / n**2
        dvar_x = (sum_sq - (2.0 / n) * sum_r2 + T**2 / n**2) / n**2
        dvar_y = (2.0 * pairs - (4.0 / n) * float((counts * (n - counts) ** 2).sum()) + 2.0 * pairs**2 / n**2) / n**2
        denom = np.sqrt(np.clip(dvar_x, 0.0, None) * max(dvar_y, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            dcor2 = np.where(denom > 0, dcov2 / np.where(denom > 0, denom, 1.0), 0.0)
        score = np.sqrt(np.clip(dcor2, 0.0, None))
        score[const] = 0.0
        return score


# ---------------------------------------------------------------------------------------------- graph / neighbourhood


def _row_blocks(n: int, per_row: int):
    step = max(1, _BLOCK_ELEMS // max(1, per_row))
    for start in range(0, n, step):
        yield start, min(n, start + step)


def _distance_blocks(Zt, metric: str = "sqeuclidean"):
    """Yield ``(start, stop, D)``: row blocks of the ``n x n`` distance matrix of the rows of ``Zt`` (torch),
    each row's distance to itself set to +inf.

    ``"sqeuclidean"``: ``‖a‖² + ‖b‖² − 2aᵀb`` by matrix products; when the whole matrix fits (``n² ≤ 2^25``,
    256 MB) it is built once from its upper block rows (the Gram matrix is symmetric: ~40 % fewer flops), else in
    row blocks. ``"cityblock"``: ``Σ_f |a_f − b_f|``, no matrix-product form (O(n² d) scalar work), by SciPy's
    ``cdist`` on CPU or ``torch.cdist`` on GPU, in row blocks.
    """
    import torch

    n = Zt.shape[0]
    inf = float("inf")
    if metric == "sqeuclidean":
        sq = (Zt * Zt).sum(dim=1)
        if n * n <= 4 * _BLOCK_ELEMS:
            G = torch.empty((n, n), dtype=Zt.dtype, device=Zt.device)
            step = min(n, 512)
            for s in range(0, n, step):
                e = min(n, s + step)
                block = Zt[s:e] @ Zt[s:].T
                G[s:e, s:] = block
                G[s:, s:e] = block.T
            G.mul_(-2.0).add_(sq[:, None]).add_(sq[None, :]).clamp_min_(0.0).fill_diagonal_(inf)
            yield 0, n, G
            return
    for s, e in _row_blocks(n, n):
        if metric == "sqeuclidean":
            D = (Zt[s:e] @ Zt.T).mul_(-2.0).add_(sq[s:e, None]).add_(sq[None, :]).clamp_min_(0.0)
        elif Zt.is_cuda:
            D = torch.cdist(Zt[s:e], Zt, p=1.0)
        else:
            from scipy.spatial.distance import cdist

            Z = Zt.numpy()
            D = torch.from_numpy(cdist(Z[s:e], Z, metric="cityblock"))
        rows = torch.arange(e - s, device=Zt.device)
        D[rows, rows + s] = inf
        yield s, e, D


class LaplacianScore(Selector):
    """Laplacian score (He, Cai & Niyogi, NIPS 2005), unsupervised; higher returned score = better.

    Graph: an edge ``i–j`` when ``x_j`` is among the ``n_neighbors`` (k = 5) nearest neighbours of ``x_i`` or
    vice versa (Euclidean, ties to the lower index), weight ``S_ij = exp(−‖x_i − x_j‖² / t)``. ``t`` is the
    parameter ``t``, or when ``None`` (the default; the paper leaves it free) the mean of ``‖x_i − x_j‖²`` over
    the graph's edges. With ``D = diag(S 1)`` and ``L = D − S``, each feature ``f`` gives
    ``f̃ = f − (fᵀD1 / 1ᵀD1) 1`` and ``L_r = f̃ᵀ L f̃ / f̃ᵀ D f̃`` (lower = better preserves the local
    structure); the method returns ``−L_r``. Vectorized over features: ``f̃ᵀ L f̃ = Σ_{edges i–j} S_ij
    (f_i − f_j)²`` (centring cancels), ``f̃ᵀ D f̃ = Σ_i D_ii f̃_i²``. Neighbours come from matrix products
    (``‖a‖² + ‖b‖² − 2aᵀb``, float64; the whole ``n x n`` matrix up to n ≈ 5,800, 256 MB, row blocks beyond); the
    edge distances are then recomputed exactly, and the ``≤ n·k`` edges are processed through a reused buffer.
    Constant features (``L_r`` = 0/0) get the lowest score.
    """

    name = "laplacian_score"
    version = "1"
    params = {"n_neighbors": 5, "t": None}
    grid = {"n_neighbors": [5, 10]}
    tags = Tags(supervised=False,
                reimplementation_of="He, Cai & Niyogi, Laplacian Score for Feature Selection, NIPS 2005")

    def rank(self, X, y, ctx):
        import torch

        n, d = X.shape
        const = _constant_columns(X)
        k = min(int(self.params["n_neighbors"]), n - 1)
        if k < 1 or const.all():
            return _floor(np.zeros(d), const)
        dev = torch.device(ctx.device)
        Xt = torch.as_tensor(X, dtype=torch.float64, device=dev)
        nbrs = []
        for _s, _e, D in _distance_blocks(Xt):
            nbrs.append(torch.sort(D, dim=1, stable=True).indices[:, :k])
            del D
        nbr = torch.cat(nbrs)
        src = torch.arange(n, device=dev).repeat_interleave(k)
        dst = nbr.reshape(-1)
        key = torch.unique(torch.minimum(src, dst) * n + torch.maximum(src, dst))  # undirected edges
        a, b = key // n, key % n
        E = key.numel()
        rows = min(E, _buffer_rows(d, dev))
        buf_a = torch.empty((rows, d), dtype=torch.float64, device=dev)
        buf_b = torch.empty((rows, d), dtype=torch.float64, device=dev)

        def edge_sq(s, e):  # (x_a − x_b)² for the edges s:e, in a reused buffer
            Ga, Gb = buf_a[:e - s], buf_b[:e - s]
            torch.index_select(Xt, 0, a[s:e], out=Ga)
            torch.index_select(Xt, 0, b[s:e], out=Gb)
            Ga.sub_(Gb)
            return Ga.mul_(Ga)

        chunks = [(s, min(E, s + rows)) for s in range(0, E, rows)]
        dist2 = torch.cat([edge_sq(s, e).sum(dim=1) for s, e in chunks])
        t = self.params["t"]
        t = float(dist2.mean()) if t is None else float(t)
        if not t > 0:
            t = 1.0
        w = torch.exp(-dist2 / t)
        num = torch.zeros(d, dtype=torch.float64, device=dev)
        for s, e in chunks:
            num.addmv_(edge_sq(s, e).t(), w[s:e])
        deg = torch.zeros(n, dtype=torch.float64, device=dev)
        deg.index_add_(0, a, w).index_add_(0, b, w)
        mu = (deg @ Xt) / deg.sum()
        den = torch.zeros(d, dtype=torch.float64, device=dev)
        rows = min(n, _buffer_rows(d, dev))
        buf = torch.empty((rows, d), dtype=torch.float64, device=dev)
        for s in range(0, n, rows):
            e = min(n, s + rows)
            G = torch.sub(Xt[s:e], mu, out=buf[:e - s])
            den.addmv_(G.mul_(G).t(), deg[s:e])
        num, den = num.cpu().numpy(), den.cpu().numpy()
        ok = ~const & (den > 0)
        lr = np.zeros(d)
        lr[ok] = num[ok] / den[ok]
        return _floor(-lr, ~ok)


class ReliefF(Selector):
    """ReliefF (Kononenko, ECML 1994; Robnik-Šikonja & Kononenko, Machine Learning 53, 2003).

    Features are scaled to ``[0, 1]`` by their range, ``diff(f, i, j) = |x_if − x_jf| / (max_f − min_f)``. For
    every training instance ``i`` (``m = n``, no sampling) take its ``k = n_neighbors`` nearest hits ``H_j``
    (same class) and, for every other class ``c``, its ``k`` nearest misses ``M_j(c)``; then

        ``W_f = (1/n) Σ_i [ −(1/h_i) Σ_j diff(f, i, H_j) + Σ_{c≠y_i} w_ic (1/m_ic) Σ_j diff(f, i, M_j(c)) ]``

    with ``h_i``, ``m_ic`` the numbers of hits and class-``c`` misses found (``k`` unless a class is smaller).
    ``class_weighting = "prior"`` (default) is Kononenko's ``w_ic = P(c) / (1 − P(y_i))``;
    ``"uniform"`` is what scikit-rebate (``skrebate.ReliefF``) computes: ``w_ic = (C−1) m_ic² / M_i²`` with
    ``M_i = Σ_c m_ic``, which is ``1/(C−1)`` per class when every class has ``k`` misses. The two coincide for two
    classes and for balanced classes.

    Neighbour distance (``metric``): ``"manhattan"`` is the paper's and skrebate's ``Σ_f diff(f, i, j)``;
    it has no matrix-product form, costs ``O(n² d)`` scalar work (about 40 s at n = 2,000, d = 10,000 on two
    cores) and is computed with ``scipy.spatial.distance.cdist`` (``torch.cdist`` on GPU) in row blocks.
    ``"euclidean"`` (default) is ``Σ_f diff(f, i, j)²`` on the same range-scaled features, from blocked matrix
    products (a few seconds). Only the choice of neighbours depends on it; the score update always uses
    ``diff``. With ``metric="manhattan", class_weighting="uniform"`` the scores equal
    ``skrebate.ReliefF(n_neighbors=k).feature_importances_`` (to 1e-9) when skrebate treats every feature as
    continuous (more than 10 distinct values; with discrete or constant columns it switches to a "mixed" mode
    with Hamming distances and a ramp ``diff``) and every class has more than ``k`` members: skrebate scans all
    rows, itself last, so an instance of a class with at most ``k`` members counts itself as one more
    (zero-diff) hit; we do not. Ties between neighbour distances go to the lower row index (skrebate: NumPy's
    unstable argsort). Constant features get the lowest score (skrebate: 0).
    """

    name = "relieff"
    version = "1"
    params = {"n_neighbors": 10, "metric": "euclidean", "class_weighting": "prior"}
    grid = {"n_neighbors": [5, 10, 20]}
    tags = Tags(supervised=True,
                reimplementation_of="Kononenko, Estimating attributes: analysis and extensions of RELIEF, ECML "
                                    "1994; Robnik-Šikonja & Kononenko, Theoretical and empirical analysis of "
                                    "ReliefF and RReliefF, Mach. Learn. 2003")

    def rank(self, X, y, ctx):
        import torch

        metric = self.params["metric"]
        weighting = self.params["class_weighting"]
        if metric not in ("euclidean", "manhattan"):
            raise ValueError(f"relieff: metric must be 'euclidean' or 'manhattan', not {metric!r}")
        if weighting not in ("prior", "uniform"):
            raise ValueError(f"relieff: class_weighting must be 'prior' or 'uniform', not {weighting!r}")
        n, d = X.shape
        k = int(self.params["n_neighbors"])
        counts, codes = _labels(y)
        C = counts.size
        const = _constant_columns(X)
        if C < 2 or k < 1:
            return _floor(np.zeros(d), const)
        lo = X.min(axis=0)
        span = X.max(axis=0) - lo
        Z = X - lo
        Z /= np.where(const, 1.0, span)
        dev = torch.device(ctx.device)
        Zt = torch.as_tensor(Z, dtype=torch.float64, device=dev)
        codes_t = torch.as_tensor(codes, device=dev)
        members = [torch.as_tensor(np.flatnonzero(codes == c), device=dev) for c in range(C)]
        prior = torch.as_tensor(counts / n, dtype=torch.float64, device=dev)
        scores = torch.zeros(d, dtype=torch.float64, device=dev)
        blocks = _distance_blocks(Zt, "sqeuclidean" if metric == "euclidean" else "cityblock")
        for s, e, D in blocks:  # D: distances of rows s:e to all rows, +inf to themselves
            b = e - s
            yb = codes_t[s:e]
            idx, cnt = [], []
            for c in range(C):
                kk = min(k, members[c].numel())
                vals, pos = torch.sort(D[:, members[c]], dim=1, stable=True)
                vals, pos = vals[:, :kk], pos[:, :kk]
                valid = torch.isfinite(vals)
                idx.append(members[c][pos])
                cnt.append((valid, valid.sum(dim=1).to(torch.float64)))
            n_miss = sum(torch.where(yb == c, 0.0, cnt[c][1]) for c in range(C))
            weights = []
            for c in range(C):
                valid, m = cnt[c]
                hit = yb == c
                m_safe = m.clamp_min(1.0)
                w_hit = -1.0 / m_safe
                if weighting == "prior":
                    w_miss = prior[c] / (1.0 - prior[yb]) / m_safe
                else:
                    w_miss = (C - 1) * m / n_miss.clamp_min(1.0) ** 2
                w = torch.where(hit, w_hit, w_miss) / n
                weights.append(torch.where(valid, w[:, None], 0.0))
            nb = torch.cat(idx, dim=1)
            wt = torch.cat(weights, dim=1)
            m = nb.shape[1]
            rows = min(b, _buffer_rows(m * d, dev))
            buf = torch.empty((rows * m, d), dtype=torch.float64, device=dev)
            for s2 in range(0, b, rows):  # Σ_i Σ_j w_ij |z_i − z_j|, through one reused buffer
                e2 = min(b, s2 + rows)
                G = buf[:(e2 - s2) * m]
                torch.index_select(Zt, 0, nb[s2:e2].reshape(-1), out=G)
                G.view(e2 - s2, m, d).sub_(Zt[s + s2:s + e2].unsqueeze(1)).abs_()
                scores.addmv_(G.t(), wt[s2:e2].reshape(-1))
        return _floor(scores.cpu().numpy(), const)


class _SymmetricBlocks:
    """A symmetric ``d x d`` matrix stored as its upper block rows ``A[s:s+step, s:]`` (half the memory)."""

    def __init__(self, d: int, step: int, blocks: list) -> None:
        self.d, self.step, self.blocks = d, step, blocks
        self.device = blocks[0].device if blocks else "cpu"

    def matvec(self, v):
        out = v.new_zeros(v.shape)
        for i, block in enumerate(self.blocks):
            s = i * self.step
            e = s + block.shape[0]
            out[s:e].addmv_(block, v[s:])
            if e < self.d:  # the lower part, by symmetry
                out[e:].addmv_(block[:, e - s:].t(), v[s:e])
        return out

    def dense(self):
        import torch

        A = torch.empty((self.d, self.d), dtype=torch.float64, device=self.device)
        for i, block in enumerate(self.blocks):
            s = i * self.step
            e = s + block.shape[0]
            A[s:e, s:] = block
            A[s:, s:e] = block.t()
        return A


class InfFS(Selector):
    """Infinite Feature Selection (Roffo, Melzi & Cristani, ICCV 2015), unsupervised.

    Graph on the features: ``A_ij = α·max(σ_i, σ_j) + (1 − α)(1 − |ρ_ij|)`` with ``σ_i`` the standard deviation
    (ddof 0) of feature ``i`` min-max scaled to ``[0, 1]`` and ``ρ_ij`` the Spearman correlation (average ranks
    for ties); ``α = alpha`` (0.5). With ``r = factor / ρ(A)`` (``factor`` = 0.9 < 1, so the series converges)
    the value of all paths of every length through feature ``i`` is the ``i``-th row sum of
    ``S = Σ_{l≥1} (rA)^l = (I − rA)⁻¹ − I``. No inverse is formed: since ``(I − rA)⁻¹ − I = (I − rA)⁻¹ rA``,
    the row sums ``s = S 1`` solve ``(I − rA) s = r A 1``. ``A`` is symmetric and non-negative, so its eigenvalues
    lie in ``[−ρ(A), ρ(A)]`` and ``I − rA`` is symmetric positive definite with condition number at most
    ``(1 + factor)/(1 − factor)`` = 19: the system is solved by conjugate gradients (relative residual 1e-12),
    ``ρ(A)`` (its Perron root) by power iteration. Cost: one ``d x d`` Gram matrix of the ranks plus a few
    ``d x d`` matrix-vector products; memory ``O(d²)``: the upper block rows of ``A`` only (0.4 GB at d = 10,000).

    Choices: the Spearman Gram matrix is computed in float32 (absolute error ~1e-6, far below a correlation's
    sampling error ~1/√n; everything else is float64); the authors' MATLAB code differs from the paper's
    formula (it min-max scales the matrix of ``max(std_i, std_j)`` of the raw features, uses ``factor`` 0.99
    and ranks by the row sums of ``(I − rA)⁻¹``, the same order); we follow the paper. Constant features are
    left out of the graph (their correlations are undefined) and get the lowest score.
    """

    name = "inf_fs"
    version = "1"
    params = {"alpha": 0.5, "factor": 0.9}
    grid = {"alpha": [0.2, 0.5, 0.8]}
    tags = Tags(supervised=False,
                reimplementation_of="Roffo, Melzi & Cristani, Infinite Feature Selection, ICCV 2015")

    @staticmethod
    def graph(X: np.ndarray, alpha: float, device: str = "cpu") -> "_SymmetricBlocks":
        """The graph ``A`` of the columns of ``X`` (all non-constant), as its upper block rows (float64)."""
        import torch

        n, d = X.shape
        dev = torch.device(device)
        sigma = np.sqrt(_col_var(X)) / (X.max(axis=0) - X.min(axis=0))  # std of the min-max scaled feature
        R = _centered_ranks(_transpose(X))  # [d, n]
        R /= torch.linalg.vector_norm(R, dim=1, keepdim=True)  # Spearman ρ_ij = <R_i, R_j>
        Rt = R.to(device=dev, dtype=torch.float32)
        del R
        sig = torch.as_tensor(sigma, dtype=torch.float64, device=dev)
        step = min(d, 1024)
        blocks = []
        for s in range(0, d, step):
            e = min(d, s + step)
            block = (Rt[s:e] @ Rt[s:].T).to(torch.float64)  # ρ for rows s:e, columns s:d
            block.abs_().clamp_max_(1.0).mul_(alpha - 1.0).add_(1.0 - alpha)  # (1 − α)(1 − |ρ|)
            block.add_(torch.maximum(sig[s:e, None], sig[None, s:]), alpha=alpha)
            blocks.append(block)
        return _SymmetricBlocks(d, step, blocks)

    @staticmethod
    def path_scores(A: "_SymmetricBlocks", factor: float):
        """Row sums of ``(I − rA)⁻¹ − I`` with ``r = factor / ρ(A)``, by power iteration and CG (torch)."""
        import torch

        d = A.d
        v = torch.full((d,), 1.0 / np.sqrt(d), dtype=torch.float64, device=A.device)
        lam = 0.0
        for _ in range(1000):  # A > 0 elementwise: the Rayleigh quotient rises to the Perron root
            w = A.matvec(v)
            new = float(v @ w)
            norm = float(torch.linalg.vector_norm(w))
            if norm == 0.0:
                return torch.zeros(d, dtype=torch.float64, device=A.device)
            v = w / norm
            done = abs(new - lam) <= 1e-13 * abs(new)
            lam = new
            if done:
                break
        r = factor / lam
        b = r * A.matvec(torch.ones(d, dtype=torch.float64, device=A.device))
        x = torch.zeros_like(b)
        res = b.clone()
        p = res.clone()
        rs = float(res @ res)
        stop = (1e-12 * float(torch.linalg.vector_norm(b))) ** 2
        for _ in range(10 * d + 100):  # conjugate gradients on the SPD matrix I − rA
            if rs <= stop:
                break
            Ap = p - r * A.matvec(p)
            step = rs / float(p @ Ap)
            x.add_(p, alpha=step)
            res.sub_(Ap, alpha=step)
            rs_new = float(res @ res)
            p = res + (rs_new / rs) * p
            rs = rs_new
        return x

    def rank(self, X, y, ctx):
        d = X.shape[1]
        const = _constant_columns(X)
        scores = np.zeros(d)
        keep = np.flatnonzero(~const)
        if keep.size:
            A = self.graph(X[:, keep], float(self.params["alpha"]), ctx.device)
            scores[keep] = self.path_scores(A, float(self.params["factor"])).cpu().numpy()
        return _floor(scores, const)


# ---------------------------------------------------------------------------------------------- greedy


class MRMR(Selector):
    """Minimum-redundancy maximum-relevance, greedy, FCQ variant, as ``mrmr_classif`` of ``mrmr-selection``.

    Relevance ``F_f`` = ANOVA F statistic (``f_classif``; NaN → 0); only features with ``F_f > 0`` enter the
    greedy search. Step 1 takes the largest ``F_f``; step ``i`` takes
    ``argmax_{f ∉ S} F_f / ((1/|S|) Σ_{s∈S} max(|ρ(f, s)|, 0.001))`` with ``ρ`` the Pearson correlation, a mean
    equal to 1 counting as an infinite denominator (score 0), ties to the lower column index — the FCQ
    quotient of Ding & Peng (2005) in the form of Zhao, Anand & Wang (DSAA 2019), exactly as ``mrmr_classif``
    computes it by default (``relevance='f', redundancy='c', denominator='mean'``). The first
    ``min(max_order, #{F_f > 0})`` features get that order; the rest follow by relevance. The scores only encode
    the order: ``d + 1 + (K − p)`` for the ``p``-th pick, ``1 … d`` by relevance (average ranks) for the rest.

    One deliberate difference: ``|ρ| ≥ 1 − 1e-12`` is rounded to 1, so an exact duplicate of every selected
    feature scores 0 whatever the rounding of its correlation (mrmr-selection compares the mean with 1.0
    exactly). Tested pick-for-pick against ``mrmr.mrmr_classif``.
    """

    name = "mrmr"
    version = "1"
    params = {"max_order": 200}
    tags = Tags(supervised=True,
                reimplementation_of="Ding & Peng, Minimum redundancy feature selection from microarray gene "
                                    "expression data, JBCB 2005 (FCQ); Zhao, Anand & Wang, DSAA 2019 "
                                    "(mrmr-selection's mrmr_classif)")

    FLOOR = 0.001

    def order(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(picks, relevance)``: the greedy order (column indices) and the F statistics."""
        import warnings

        from sklearn.feature_selection import f_classif

        n, d = X.shape
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rel, _ = f_classif(X, y)
        rel = np.nan_to_num(rel, nan=0.0, posinf=np.inf)
        cand = np.flatnonzero(rel > 0)
        K = min(int(self.params["max_order"]), cand.size)
        if K == 0:
            return np.zeros(0, dtype=np.int64), rel
        Zc = X[:, cand]
        Zc -= Zc.mean(axis=0)
        Zc /= np.sqrt(np.einsum("ij,ij->j", Zc, Zc))  # columns of unit norm: Zcᵀz = Pearson correlations
        relc = rel[cand]
        red_sum = np.zeros(cand.size)
        free = np.ones(cand.size, dtype=bool)
        picks = []
        score = relc.copy()
        for i in range(K):
            if i > 0:
                corr = np.abs(Zc.T @ Zc[:, picks[-1]])
                corr = np.where(corr >= 1.0 - 1e-12, 1.0, np.maximum(corr, self.FLOOR))
                red_sum += corr
                denom = red_sum / i
                with np.errstate(invalid="ignore"):
                    score = np.where(denom == 1.0, relc / np.inf, relc / denom)
            s = np.where(free & ~np.isnan(score), score, -np.inf)
            j = int(np.argmax(s))
            if s[j] == -np.inf:  # only inf/inf (NaN) scores are left: take the first free feature
                j = int(np.flatnonzero(free)[0])
            picks.append(j)
            free[j] = False
        return cand[np.asarray(picks, dtype=np.int64)], rel

    def rank(self, X, y, ctx):
        from scipy.stats import rankdata

        d = X.shape[1]
        picks, rel = self.order(X, y)
        K = picks.size
        scores = np.empty(d)
        rest = np.ones(d, dtype=bool)
        rest[picks] = False
        if rest.any():
            scores[rest] = rankdata(np.nan_to_num(rel[rest], posinf=np.finfo(np.float64).max))
        scores[picks] = d + 1.0 + (K - np.arange(K))
        return scores


@hookimpl
def featbench_register_selectors(register):
    for cls in (AnovaF, MutualInfo, Variance, LaplacianScore, FisherScore, Chi2, OutRank, DistanceCorrelation,
                ReliefF, MRMR, InfFS):
        register.add(cls)
