"""Representational similarity kernels: exact, torch, device-aware.

Every function takes two representations of the same ``n`` inputs, ``X [n, d1]`` and ``Y [n, d2]`` (torch
tensors or arrays; rows are inputs, columns are features), and returns a Python float. Computation is in
float64 on the device of ``X`` (``torch.as_tensor`` of a NumPy array lands on the CPU); the SVD-based measures
need float64 to agree with their references to 1e-8. Nothing here builds an ``n x n`` matrix unless the
docstring says so (the Gram forms, RBF CKA and RSA); the k-NN measures work in row blocks with ``O(b*n + n*k)``
memory.

Conventions (see ``shared/tracks/similarity.md``): "centred" means column means removed; ``Q_X`` is an
orthonormal basis of the column space of centred ``X``, from an SVD with a relative rank tolerance (plain QR
would keep spurious directions of rank-deficient ReLU layers and inflate CCA). ``||.||_*`` is the nuclear norm.

Measures
========
``cka_linear``          ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), X, Y centred (Kornblith et al. 2019, eq. 4 with
                        the linear kernel). Feature form O(n (d1^2 + d2^2 + d1 d2)); the Gram form
                        <HKH, HLH> / (||HKH|| ||HLH||), K = XX^T, is chosen when max(d1, d2) > n.
``cka_linear_debiased`` HSIC_u(K, L) / sqrt(HSIC_u(K, K) HSIC_u(L, L)) with Song et al.'s (2012) unbiased HSIC.
                        Feature form (Kornblith's ``feature_space_linear_cka(debiased=True)``), X, Y centred,
                        s_x = row sums of squares, N_x = ||X||_F^2:
                        h(X, Y) = ||X^T Y||_F^2 - n/(n-2) s_x^T s_y + N_x N_y / ((n-1)(n-2)), which equals
                        n(n-3) HSIC_u(XX^T, YY^T); Gram form: U-centred Grams (Szekely & Rizzo 2014).
``cka_rbf``             tr(KHLH) / sqrt(tr(KHKH) tr(LHLH)), K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2)),
                        sigma = ``fraction`` x the median distance over the pairs i < j (Kornblith's code takes the
                        median of all n^2 squared distances, diagonal zeros included: a slightly smaller sigma at
                        small n). Dense n x n (float64).
``cka_angular``         arccos(linear CKA) (netrep ``LinearCKA``): a metric (the angle between centred Grams).
``cca``                 the canonical correlations rho_i = singular values of Q_X^T Q_Y; ``mean`` =
                        sum(rho) / p1, ``r2`` = sum(rho^2) / p1 (Yanai's R^2_CCA), p1 = min(rank X, rank Y).
``svcca``               PCA-truncate each centred side to the fewest components explaining >= ``variance`` of its
                        variance (or to a fixed ``dims``), then mean CCA rho (Raghu et al. 2017).
``pwcca``               sum_i a_i rho_i / sum_i a_i, a_i = sum_j |<h_i, x_j>| with h_i = Q_X u_i the i-th canonical
                        variable of X (unit norm) and x_j the centred columns of X (Morcos et al. 2018, eq. in
                        sec. 2.2). Asymmetric: the weights come from X. Google's ``pwcca.py`` adds the neuron means
                        back and orthogonalises the canonical variables by QR before weighting; here the published
                        formula is used as written.
``linreg_r2``           R^2 of the least-squares fit of centred Y from centred X: ||Q_X^T Y||_F^2 / ||Y||_F^2
                        (asymmetric; swap the arguments for the other direction).
``ridge_r2``            in-sample R^2 of ridge regression of centred Y on centred X with penalty
                        lambda = ``alpha`` x tr(X^T X) / d1 (relative, hence scale-free): 1 - ||Y - X B||^2/||Y||^2,
                        B = (X^T X + lambda I)^-1 X^T Y.
``procrustes``          ``size_shape``: sqrt(||X||^2 + ||Y||^2 - 2 ||X^T Y||_*), X, Y centred (Williams et al.
                        2021; ReSi ``ProcDist``); ``unit``: the same on centred X, Y scaled to unit Frobenius norm
                        (sqrt(2 - 2 ||X^T Y||_*); Ding et al. 2021 keep the square, which is not a metric);
                        ``angular``: arccos(||X^T Y||_* / (||X|| ||Y||)) (the angular shape metric).
``shape_metric``        generalized shape metric (Williams et al. 2021): each centred side scaled to unit Frobenius
                        norm, partially whitened, X Z_X with Z_X = V diag(alpha + (1 - alpha) lam^-1/2) V^T
                        (eigh of X^T X, lam clipped at 1e-12), rescaled to keep the total variance; then the
                        angular Procrustes distance. alpha = 1: the angular shape metric; alpha = 0: invariant to
                        invertible linear maps. Differs from netrep's ``LinearMetric`` only by the unit-norm
                        step, without which netrep's 0 < alpha < 1 is not scale invariant.
``permutation_angular`` arccos(max_P tr(X^T Y P) / (||X|| ||Y||)) over permutation matrices P (the narrower side
                        zero-padded), X, Y centred: the neuron-matching ("convergent learning") metric, solved by
                        ``scipy.optimize.linear_sum_assignment`` on X^T Y (on the CPU).
``rsa``                 Spearman correlation between the upper triangles of the two correlation-distance RDMs,
                        RDM_ij = 1 - pearson(x_i, x_j) across features (Kriegeskorte et al. 2008). Tie rule:
                        dissimilarities are rounded to 12 decimals, then tied values get their average rank
                        (so mathematically equal values that differ by round-off tie). Dense n x n.
``knn_jaccard``         mean_i |N_X(i) & N_Y(i)| / |N_X(i) | N_Y(i)|, N(i) the k nearest other rows (``euclidean``
                        or ``cosine``).
``mutual_knn``          mean_i |N_X(i) & N_Y(i)| / k, cosine neighbours (Huh et al. 2024, ``mutual_knn``).
``cknna``               CKA restricted to mutual neighbours (Huh et al. 2024): with K, L the cosine Grams (rows
                        L2-normalised), M_ij = 1[j in N_K(i) and j in N_L(i)],
                        HSIC_u(K o M, L o M) / sqrt(HSIC_u(K o M_K, K o M_K) HSIC_u(L o M_L, L o M_L)); computed from
                        the <= n k non-zeros of the masked Grams (platonic builds dense n x n masks and adds 1e-6
                        to the denominator; neither is done here).
``relative_cosine``     relative representations (Moschella et al. 2023): r(x_i) = [cos(x_i, x_a)]_{a in A} for
                        the anchor rows A (shared by X and Y); the mean over rows of cos(r_X(i), r_Y(i)).

k-NN tie rule: neighbours are the ``k`` smallest distances (cosine: largest similarities) among the other rows,
as ``torch.topk`` returns them; among exactly equal distances the choice is arbitrary (digits-like integer data
can have such ties; random continuous data has none).
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "as64", "centre", "cka_linear", "cka_linear_debiased", "cka_rbf", "cka_angular", "orthonormal_basis", "cca",
    "svcca", "pwcca", "linreg_r2", "ridge_r2", "procrustes", "shape_metric", "permutation_angular", "rsa",
    "knn_indices", "knn_jaccard", "mutual_knn", "cknna", "relative_cosine", "average_ranks",
]

RDM_DECIMALS = 12  # RSA: dissimilarities are rounded to 12 decimals, so values equal up to round-off tie
RANK_TOL = 1e-10  # singular values below RANK_TOL * the largest one are treated as zero


def as64(X, device=None) -> torch.Tensor:
    """``X`` as a float64 torch tensor (on ``device``, else where it is)."""
    t = torch.as_tensor(X)
    return t.to(device=device or t.device, dtype=torch.float64)


def centre(X: torch.Tensor) -> torch.Tensor:
    """Column means removed (a new tensor)."""
    return X - X.mean(dim=0, keepdim=True)


def _pair(X, Y) -> tuple[torch.Tensor, torch.Tensor]:
    X = as64(X)
    Y = as64(Y, X.device)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y must be [n, d] with the same n, got {tuple(X.shape)} and {tuple(Y.shape)}")
    return X, Y


def _clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return min(max(x, lo), hi)


def _nuclear(M: torch.Tensor) -> torch.Tensor:
    return torch.linalg.svdvals(M).sum()


# ------------------------------------------------------------------------------------------------------ CKA


def _cross_centred(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Xc^T Yc = X^T Y - n mx my^T without centred copies of X and Y (one product, no n x d temporaries)."""
    mx, my = X.mean(dim=0), Y.mean(dim=0)
    return X.T @ Y - X.shape[0] * torch.outer(mx, my)


def _centred_row_sq(X: torch.Tensor) -> torch.Tensor:
    """||x_i - m||^2 per row, without a centred copy."""
    m = X.mean(dim=0)
    return torch.linalg.vector_norm(X, dim=1) ** 2 - 2.0 * (X @ m) + m @ m


def _use_gram(form: str, n: int, d1: int, d2: int) -> bool:
    if form not in ("auto", "feature", "gram"):
        raise ValueError(f"form must be 'auto', 'feature' or 'gram', not {form!r}")
    return form == "gram" or (form == "auto" and max(d1, d2) > n)


def cka_linear(X, Y, form: str = "auto") -> float:
    """Linear CKA (biased HSIC); ``form`` ``"feature"``, ``"gram"`` or ``"auto"`` (Gram when max(d) > n)."""
    X, Y = _pair(X, Y)
    n = X.shape[0]
    if _use_gram(form, n, X.shape[1], Y.shape[1]):
        X, Y = centre(X), centre(Y)
        K, L = X @ X.T, Y @ Y.T  # centred features give centred Grams: HKH = K
        num, den = (K * L).sum(), torch.linalg.norm(K) * torch.linalg.norm(L)
    else:
        num = torch.linalg.norm(_cross_centred(X, Y)) ** 2
        den = torch.linalg.norm(_cross_centred(X, X)) * torch.linalg.norm(_cross_centred(Y, Y))
    return float(num / den) if den > 0 else 0.0


def _h_feature(X: torch.Tensor, Y: torch.Tensor, xty_sq: torch.Tensor) -> torch.Tensor:
    """n(n-3) HSIC_u(XX^T, YY^T) from the features, centred implicitly (Kornblith's debiased helper);
    ``xty_sq`` = ||Xc^T Yc||_F^2."""
    n = X.shape[0]
    sx, sy = _centred_row_sq(X), _centred_row_sq(Y)
    Nx, Ny = sx.sum(), sy.sum()
    return xty_sq - n / (n - 2) * (sx @ sy) + Nx * Ny / ((n - 1) * (n - 2))


def _u_centre(K: torch.Tensor) -> torch.Tensor:
    """Szekely & Rizzo's U-centring of a Gram matrix (diagonal zeroed)."""
    n = K.shape[0]
    K = K.clone()
    K.fill_diagonal_(0)
    means = K.sum(dim=0) / (n - 2) - K.sum() / (2 * (n - 1) * (n - 2))
    K = K - means[None, :] - means[:, None]
    K.fill_diagonal_(0)
    return K


def cka_linear_debiased(X, Y, form: str = "auto") -> float:
    """Debiased linear CKA (unbiased HSIC of Song et al. 2012); needs n >= 4. See the module docstring."""
    X, Y = _pair(X, Y)
    n = X.shape[0]
    if n < 4:
        raise ValueError(f"debiased CKA needs n >= 4 rows, got {n}")
    if _use_gram(form, n, X.shape[1], Y.shape[1]):
        X, Y = centre(X), centre(Y)
        K, L = _u_centre(X @ X.T), _u_centre(Y @ Y.T)
        num, den2 = (K * L).sum(), (K * K).sum() * (L * L).sum()
    else:
        sq = lambda A, B: torch.linalg.norm(_cross_centred(A, B)) ** 2  # noqa: E731
        num = _h_feature(X, Y, sq(X, Y))
        den2 = _h_feature(X, X, sq(X, X)) * _h_feature(Y, Y, sq(Y, Y))
    if den2 <= 0:
        return 0.0
    return float(num / torch.sqrt(den2))


def _sq_dists(X: torch.Tensor) -> torch.Tensor:
    s = (X * X).sum(dim=1)
    D = s[:, None] + s[None, :] - 2.0 * (X @ X.T)
    D.clamp_(min=0)
    D.fill_diagonal_(0)
    return D


def _median(v: torch.Tensor) -> torch.Tensor:
    """The median with NumPy's convention (mean of the two middle values for an even count)."""
    s, _ = torch.sort(v)
    m = s.numel()
    return s[m // 2] if m % 2 else 0.5 * (s[m // 2 - 1] + s[m // 2])


def _rbf_gram(X: torch.Tensor, fraction: float) -> torch.Tensor:
    D2 = _sq_dists(X)
    iu = torch.triu_indices(D2.shape[0], D2.shape[0], offset=1, device=D2.device)
    med = _median(torch.sqrt(D2[iu[0], iu[1]]))
    sigma = fraction * med
    if sigma <= 0:
        return torch.ones_like(D2)
    return torch.exp(-D2 / (2.0 * sigma * sigma))


def cka_rbf(X, Y, fraction: float = 0.8) -> float:
    """RBF-kernel CKA, sigma = ``fraction`` x the median pairwise distance (dense n x n, float64)."""
    X, Y = _pair(X, Y)
    K, L = _rbf_gram(X, fraction), _rbf_gram(Y, fraction)
    K, L = centre(centre(K).T), centre(centre(L).T)  # HKH
    den = torch.linalg.norm(K) * torch.linalg.norm(L)
    return float((K * L).sum() / den) if den > 0 else 0.0


def cka_angular(X, Y) -> float:
    """arccos(linear CKA): the angle between the centred linear Grams (a metric)."""
    return math.acos(_clip(cka_linear(X, Y)))


# ------------------------------------------------------------------------------------------------------ CCA


def orthonormal_basis(X: torch.Tensor, tol: float = RANK_TOL) -> torch.Tensor:
    """Orthonormal basis [n, r] of the column space of centred ``X`` (SVD, rank tolerance ``tol``)."""
    U, s, _ = torch.linalg.svd(centre(X), full_matrices=False)
    if s.numel() == 0 or s[0] <= 0:
        return U[:, :0]
    return U[:, s > tol * s[0]]


def canonical_correlations(X, Y) -> torch.Tensor:
    """The canonical correlations of X and Y (descending), min(rank X, rank Y) of them."""
    X, Y = _pair(X, Y)
    return torch.linalg.svdvals(orthonormal_basis(X).T @ orthonormal_basis(Y)).clamp(max=1.0)


def cca(X, Y, statistic: str = "mean") -> float:
    """Mean canonical correlation (``"mean"``) or R^2_CCA (``"r2"``)."""
    rho = canonical_correlations(X, Y)
    if rho.numel() == 0:
        return 0.0
    if statistic == "mean":
        return float(rho.mean())
    if statistic == "r2":
        return float((rho ** 2).mean())
    raise ValueError(f"statistic must be 'mean' or 'r2', not {statistic!r}")


def _pca_truncate(X: torch.Tensor, variance: float | None, dims: int | None) -> torch.Tensor:
    U, s, _ = torch.linalg.svd(centre(X), full_matrices=False)
    if dims is not None:
        k = min(int(dims), int((s > RANK_TOL * s[0]).sum()))
    else:
        ev = s ** 2
        frac = torch.cumsum(ev, 0) / ev.sum()
        k = int(torch.searchsorted(frac, torch.tensor(variance, dtype=frac.dtype, device=frac.device) - 1e-12)) + 1
        k = min(k, s.numel())
    return U[:, :k] * s[:k]


def svcca(X, Y, variance: float | None = 0.99, dims: int | None = None) -> float:
    """SVCCA: PCA-truncate each side (to ``variance`` explained, or to ``dims`` components), then mean CCA."""
    X, Y = _pair(X, Y)
    return cca(_pca_truncate(X, variance, dims), _pca_truncate(Y, variance, dims), "mean")


def pwcca(X, Y) -> float:
    """Projection-weighted CCA with weights from X (asymmetric); see the module docstring."""
    X, Y = _pair(X, Y)
    Xc = centre(X)
    Qx, Qy = orthonormal_basis(X), orthonormal_basis(Y)
    U, rho, _ = torch.linalg.svd(Qx.T @ Qy, full_matrices=False)
    p = rho.numel()
    if p == 0:
        return 0.0
    H = Qx @ U[:, :p]  # canonical variables of X, unit norm
    alpha = (H.T @ Xc).abs().sum(dim=1)
    return float((alpha * rho.clamp(max=1.0)).sum() / alpha.sum())


# ----------------------------------------------------------------------------------------------- regression


def linreg_r2(X, Y) -> float:
    """R^2 of the least-squares prediction of centred Y from centred X (asymmetric)."""
    X, Y = _pair(X, Y)
    Yc = centre(Y)
    tot = (Yc * Yc).sum()
    if tot <= 0:
        return 0.0
    Q = orthonormal_basis(X)
    return float(torch.linalg.norm(Q.T @ Yc) ** 2 / tot)


def ridge_r2(X, Y, alpha: float = 1.0) -> float:
    """In-sample R^2 of ridge regression of centred Y on centred X, lambda = alpha * tr(X^T X) / d1."""
    X, Y = _pair(X, Y)
    Xc, Yc = centre(X), centre(Y)
    tot = (Yc * Yc).sum()
    if tot <= 0:
        return 0.0
    U, s, _ = torch.linalg.svd(Xc, full_matrices=False)
    lam = alpha * (s ** 2).sum() / Xc.shape[1]
    shrink = s ** 2 / (s ** 2 + lam) if lam > 0 else (s > RANK_TOL * s[0]).to(s.dtype)
    fitted = U @ (shrink[:, None] * (U.T @ Yc))
    resid = Yc - fitted
    return float(1.0 - (resid * resid).sum() / tot)


# --------------------------------------------------------------------------------------------------- shapes


def _row_space(X: torch.Tensor) -> torch.Tensor:
    """For d > n: U S [n, n] from the thin SVD X = U S V^T, which has the same Gram X X^T; every orthogonally
    invariant (or equivariant) quantity below is unchanged and the d x d work becomes n x n."""
    if X.shape[1] <= X.shape[0]:
        return X
    U, s, _ = torch.linalg.svd(X, full_matrices=False)
    return U * s


def procrustes(X, Y, form: str = "angular") -> float:
    """Procrustes distance of centred X, Y: ``size_shape``, ``unit`` (unit Frobenius norms) or ``angular``."""
    X, Y = _pair(X, Y)
    X, Y = _row_space(centre(X)), _row_space(centre(Y))
    nx, ny = torch.linalg.norm(X), torch.linalg.norm(Y)
    if form == "size_shape":
        return math.sqrt(max(float(nx ** 2 + ny ** 2 - 2 * _nuclear(X.T @ Y)), 0.0))
    if nx <= 0 or ny <= 0:
        return 0.0 if nx == ny else (math.sqrt(2.0) if form == "unit" else math.pi / 2)
    c = float(_nuclear(X.T @ Y) / (nx * ny))
    if form == "unit":
        return math.sqrt(max(2.0 - 2.0 * c, 0.0))
    if form == "angular":
        return math.acos(_clip(c))
    raise ValueError(f"form must be 'size_shape', 'unit' or 'angular', not {form!r}")


def _partial_whiten(X: torch.Tensor, alpha: float, eig_tol: float = 1e-12) -> torch.Tensor:
    X = _row_space(centre(X))  # whitening is orthogonally equivariant: exact, and n x n work when d > n
    nrm = torch.linalg.norm(X)
    if nrm <= 0:
        return X
    X = X / nrm
    if alpha >= 1.0:
        return X
    lam, V = torch.linalg.eigh(X.T @ X)
    lam = lam.clamp(min=eig_tol)
    d = alpha + (1.0 - alpha) * lam ** -0.5
    new_var = (alpha ** 2 * lam + 2 * alpha * (1 - alpha) * lam ** 0.5 + (1 - alpha) ** 2).sum()
    d = d * torch.sqrt(lam.sum() / new_var)
    return X @ ((V * d[None, :]) @ V.T)


def shape_metric(X, Y, alpha: float = 1.0) -> float:
    """Generalized shape metric (angular), partial whitening ``alpha`` in [0, 1]."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    X, Y = _pair(X, Y)
    return procrustes(_partial_whiten(X, alpha), _partial_whiten(Y, alpha), "angular")


def permutation_angular(X, Y) -> float:
    """Angular distance after the best matching of features (neurons); narrower side zero-padded."""
    from scipy.optimize import linear_sum_assignment

    X, Y = _pair(X, Y)
    X, Y = centre(X), centre(Y)
    nx, ny = torch.linalg.norm(X), torch.linalg.norm(Y)
    if nx <= 0 or ny <= 0:
        return 0.0 if nx == ny else math.pi / 2
    C = (X.T @ Y).cpu().numpy()  # zero padding adds zero rows/columns: rectangular assignment is the same
    r, c = linear_sum_assignment(C, maximize=True)
    return math.acos(_clip(float(C[r, c].sum()) / float(nx * ny)))


# ------------------------------------------------------------------------------------------------------ RSA


def average_ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 1..m of a 1-D tensor, ties given their average rank (``scipy.stats.rankdata``'s default)."""
    s, order = torch.sort(v)
    _, inverse, counts = torch.unique_consecutive(s, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    avg = ends - (counts.to(torch.float64) - 1) / 2
    ranks = torch.empty_like(v, dtype=torch.float64)
    ranks[order] = avg[inverse]
    return ranks


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = torch.linalg.norm(a) * torch.linalg.norm(b)
    return float((a @ b) / den) if den > 0 else 0.0


def _corr_rdm_upper(X: torch.Tensor) -> torch.Tensor:
    Z = X - X.mean(dim=1, keepdim=True)
    nrm = torch.linalg.norm(Z, dim=1, keepdim=True)
    Z = Z / torch.where(nrm > 0, nrm, torch.ones_like(nrm))
    R = 1.0 - Z @ Z.T
    iu = torch.triu_indices(R.shape[0], R.shape[0], offset=1, device=R.device)
    return torch.round(R[iu[0], iu[1]], decimals=RDM_DECIMALS)  # tie rule: equal to 1e-12 is a tie


def rsa(X, Y) -> float:
    """Spearman correlation of the correlation-distance RDMs' upper triangles (dense n x n)."""
    X, Y = _pair(X, Y)
    return _pearson(average_ranks(_corr_rdm_upper(X)), average_ranks(_corr_rdm_upper(Y)))


# ---------------------------------------------------------------------------------------------------- k-NN


def _block_rows(n: int, k: int, block: int | None) -> int:
    if block is not None:
        return max(1, int(block))
    return max(1, min(n, (1 << 22) // max(n, 1)))  # ~4M distances (32 MB in float64) per block


def knn_indices(X, k: int, metric: str = "euclidean", block: int | None = None) -> torch.Tensor:
    """Indices [n, k] of each row's ``k`` nearest *other* rows, computed in row blocks (O(b n + n k) memory).

    ``metric``: ``euclidean``, or ``cosine`` (rows L2-normalised, largest inner products).
    """
    X = as64(X)
    n = X.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, n-1] = [1, {n - 1}], got {k}")
    if metric == "cosine":
        nrm = torch.linalg.norm(X, dim=1, keepdim=True)
        X = X / torch.where(nrm > 0, nrm, torch.ones_like(nrm))
    elif metric != "euclidean":
        raise ValueError(f"metric must be 'euclidean' or 'cosine', not {metric!r}")
    sq = (X * X).sum(dim=1)
    out = torch.empty(n, k, dtype=torch.int64, device=X.device)
    b = _block_rows(n, k, block)
    for start in range(0, n, b):
        stop = min(n, start + b)
        G = X[start:stop] @ X.T
        if metric == "euclidean":  # smallest ||x_i||^2 - 2 x_i.x_j + ||x_j||^2 = largest 2 x_i.x_j - ||x_j||^2
            G.mul_(2.0).sub_(sq[None, :])
        rows = torch.arange(stop - start, device=X.device)
        G[rows, rows + start] = -math.inf
        out[start:stop] = torch.topk(G, k, dim=1).indices
        del G
    return out


def _overlap(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """|A_i & B_i| per row for two [n, k] index tables of distinct entries."""
    s, _ = torch.sort(torch.cat([A, B], dim=1), dim=1)
    return (s[:, 1:] == s[:, :-1]).sum(dim=1)


def knn_jaccard(X, Y, k: int = 10, metric: str = "euclidean", block: int | None = None) -> float:
    """Mean Jaccard index of the k-NN sets."""
    X, Y = _pair(X, Y)
    inter = _overlap(knn_indices(X, k, metric, block), knn_indices(Y, k, metric, block)).to(torch.float64)
    return float((inter / (2 * k - inter)).mean())


def mutual_knn(X, Y, k: int = 10, block: int | None = None) -> float:
    """Mean share of common cosine k-NN (platonic ``mutual_knn``)."""
    X, Y = _pair(X, Y)
    inter = _overlap(knn_indices(X, k, "cosine", block), knn_indices(Y, k, "cosine", block)).to(torch.float64)
    return float((inter / k).mean())


def _rownorm(X: torch.Tensor) -> torch.Tensor:
    nrm = torch.linalg.norm(X, dim=1, keepdim=True)
    return X / torch.where(nrm > 0, nrm, torch.ones_like(nrm))


def _hsic_u_sparse(rows: torch.Tensor, cols: torch.Tensor, a: torch.Tensor, b: torch.Tensor, n: int) -> torch.Tensor:
    """Song's unbiased HSIC of two n x n matrices A, B with zero diagonals, both non-zero only at the given
    (row, col) positions (values a, b), without forming them:
    [tr(AB) + 1'A1 1'B1/((n-1)(n-2)) - 2 1'AB1/(n-2)] / (n(n-3))."""
    key = rows * n + cols
    order = torch.argsort(key)
    key_s, b_s = key[order], b[order]
    tkey = cols * n + rows  # tr(AB) = sum_ij A_ij B_ji
    pos = torch.searchsorted(key_s, tkey).clamp(max=key_s.numel() - 1)
    hit = key_s[pos] == tkey
    tr = (a * torch.where(hit, b_s[pos], torch.zeros_like(a))).sum()
    colsum_a = torch.zeros(n, dtype=a.dtype, device=a.device).index_add_(0, cols, a)
    rowsum_b = torch.zeros(n, dtype=b.dtype, device=b.device).index_add_(0, rows, b)
    val = tr + a.sum() * b.sum() / ((n - 1) * (n - 2)) - 2.0 * (colsum_a @ rowsum_b) / (n - 2)
    return val / (n * (n - 3))


def cknna(X, Y, k: int = 10, block: int | None = None) -> float:
    """CKNNA with cosine Grams, from the <= n k mutual-neighbour entries (O(n k) memory beyond a row block)."""
    X, Y = _pair(X, Y)
    n = X.shape[0]
    if n < 4:
        raise ValueError(f"CKNNA needs n >= 4 rows, got {n}")
    Xn, Yn = _rownorm(X), _rownorm(Y)
    NX, NY = knn_indices(Xn, k, "cosine", block), knn_indices(Yn, k, "cosine", block)
    rows = torch.arange(n, device=X.device).repeat_interleave(k)

    def vals(Z, r, c):
        return (Z[r] * Z[c]).sum(dim=1)

    # mutual entries: j in NX(i) and j in NY(i)
    cx = NX.reshape(-1)
    s, _ = torch.sort(NY, dim=1)
    pos = torch.searchsorted(s, NX).clamp(max=k - 1)
    mutual = (torch.gather(s, 1, pos) == NX).reshape(-1)
    r_m, c_m = rows[mutual], cx[mutual]
    kl = _hsic_u_sparse(r_m, c_m, vals(Xn, r_m, c_m), vals(Yn, r_m, c_m), n)
    cy = NY.reshape(-1)
    kx, ky = vals(Xn, rows, cx), vals(Yn, rows, cy)
    kk = _hsic_u_sparse(rows, cx, kx, kx, n)
    ll = _hsic_u_sparse(rows, cy, ky, ky, n)
    den = kk * ll
    return float(kl / torch.sqrt(den)) if den > 0 else 0.0


# ------------------------------------------------------------------------------------ relative representations


def relative_cosine(X, Y, anchors) -> float:
    """Mean row-wise cosine between the relative representations of X and Y w.r.t. the anchor row indices."""
    X, Y = _pair(X, Y)
    idx = torch.as_tensor(anchors, dtype=torch.int64, device=X.device)
    Xn, Yn = _rownorm(X), _rownorm(Y)
    RX, RY = _rownorm(Xn @ Xn[idx].T), _rownorm(Yn @ Yn[idx].T)
    return float((RX * RY).sum(dim=1).mean())
