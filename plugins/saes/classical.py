"""Classical decompositions with their own ``fit`` (not trained by the shared loop): FastICA, mini-batch
dictionary learning with OMP codes, NMF on shifted data (A24) and semi-NMF (A8). Each takes ``k`` (the target
L0) and produces k-sparse codes.
"""

from __future__ import annotations

import abc
import warnings

import numpy as np
import torch

from bench_core import hookimpl
from bench_core.tracks.base import Resources, Tags
from bench_core.tracks.saes import SAE
from .controls import _Linear, omp_codes


#: ``standard``'s budgets of the scikit-learn fits (see :class:`FastICA` and :class:`NMF`; measured in
#: bench_core/tracks/saes.py, "Standard budget")
STANDARD_FASTICA = {"max_iter": 100}
STANDARD_NMF = {"max_rows": 1024, "max_iter": 20, "solver": "mu"}


def _topk_abs(z: torch.Tensor, k: int) -> torch.Tensor:
    k = min(int(k), z.shape[1])
    idx = torch.topk(z.abs(), k, dim=1).indices
    return torch.zeros_like(z).scatter_(1, idx, z.gather(1, idx))


def _sparse(Z: torch.Tensor) -> torch.Tensor:
    """``Z`` as a sparse COO tensor (its nonzeros)."""
    return Z.to_sparse_coo().coalesce()


def _sparse_mm(Z: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """``Z @ M`` for a mostly-zero ``Z`` (k-sparse codes): a sparse product when under a tenth of ``Z`` is
    nonzero, else the dense one (the same sums, up to the order of the additions)."""
    if int(torch.count_nonzero(Z)) * 10 < Z.numel():
        return torch.sparse.mm(_sparse(Z), M)
    return Z @ M


class _FitIgnoresK(abc.ABC):
    """For methods whose ``fit`` does not read ``k`` (``k`` only picks the codes in ``encode``): the protocol
    fits once per target L0, so the state of the last fit (one per class, in this process) is reused when the
    parameters other than ``k``, the seed, the device and the training rows (a SHA-256 of their bytes) are
    the same. The reused state is what a refit would compute (the fits are deterministic given the seed), so
    scores are unchanged; only the repeated work goes. A reuse counts no training tokens (``tokens_seen`` 0)."""

    _last_fit: dict[str, tuple] = {}

    def fit(self, acts, ctx):
        import hashlib

        t = torch.as_tensor(acts).detach()
        digest = hashlib.sha256(t.cpu().contiguous().numpy().tobytes()).hexdigest()
        key = (tuple(sorted((n, repr(v)) for n, v in self.params.items() if n != "k")), int(ctx.seed),
               str(ctx.device), tuple(t.shape), digest)
        hit = _FitIgnoresK._last_fit.get(type(self).name)
        if hit is not None and hit[0] == key:
            self.__dict__.update(hit[1])
            self.tokens_seen = 0.0
            return
        self.fit_state(acts, ctx)
        state = {n: v for n, v in self.__dict__.items() if n not in ("params", "budget", "tokens_seen")}
        _FitIgnoresK._last_fit[type(self).name] = (key, state)

    @abc.abstractmethod
    def fit_state(self, acts, ctx):
        """Fit from scratch and set the instance state that ``encode``/``decode`` use (each method defines it)."""


def _rows(acts, limit: int, ctx) -> np.ndarray:
    X = torch.as_tensor(acts).detach().cpu().double().numpy()
    if X.shape[0] > limit:
        X = X[np.sort(ctx.rng(5).choice(X.shape[0], limit, replace=False))]
    return X


class FastICA(_FitIgnoresK, _Linear):
    """FastICA (scikit-learn, unit-variance whitening; A26): as many components as the rank of the centred
    training rows (``d`` when they have full rank), atoms the columns of the mixing matrix, codes the k
    sources of largest |value| of each row (least-squares sources, then top-k); fitted (whitening included)
    on up to ``max_rows`` training rows, with scikit-learn's ``max_iter`` and ``tol`` (its defaults 200 and
    1e-4). Version 2: the ``tol`` parameter, and ``standard``'s budget :data:`STANDARD_FASTICA` (measured in
    bench_core/tracks/saes.py, "Standard budget"). Version 3: components = rank; version 2 whitened ``d``
    components of rank-deficient rows (digits_mlp_l1: 22 of 64 units never fire) into a degenerate mixing
    matrix, FVU 1.0."""

    name = "fastica"
    version = "3"
    params = {"k": 8, "max_rows": 8192, "max_iter": 200, "tol": 1e-4}
    profile_params = {"smoke": {"max_rows": 4096}, "quick": {"max_rows": 4096},
                      "standard": STANDARD_FASTICA}
    sparsity_param = "k"
    tags = Tags(supervised=False, stochastic=True, wraps="scikit-learn FastICA",
                reimplementation_of="A. Hyvärinen, E. Oja, Independent component analysis: algorithms and "
                                    "applications (Neural Networks 13, 2000)")

    def fit_state(self, acts, ctx):
        from sklearn.decomposition import FastICA as SkICA

        X = _rows(acts, int(self.params["max_rows"]), ctx)
        rank = int(np.linalg.matrix_rank(X - X.mean(0)))
        ica = SkICA(n_components=max(1, rank), whiten="unit-variance", max_iter=int(self.params["max_iter"]),
                    tol=float(self.params["tol"]),
                    random_state=int(ctx.rng(6).integers(0, 2**31 - 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings at the quick budget
            ica.fit(X)
        self.D = torch.as_tensor(ica.mixing_.T, dtype=torch.float32, device=ctx.device)
        self.b = torch.as_tensor(ica.mean_, dtype=torch.float32, device=ctx.device)
        self.pinv = torch.linalg.pinv(self.D.double()).float()

    def encode(self, x):
        x = torch.as_tensor(x).float()
        s = (x - self.b.to(x.device)) @ self.pinv.to(x.device)
        return _topk_abs(s, int(self.params["k"]))


class DictLearningOMP(_FitIgnoresK, _Linear):
    """Mini-batch dictionary learning (scikit-learn ``MiniBatchDictionaryLearning``, Mairal et al. 2009) on the
    centred, scaled training rows, ``width × d`` atoms, lasso codes (coordinate descent, at most ``code_iter``
    sweeps per mini-batch: scikit-learn's ``transform_max_iter``, which its fit also uses) during learning
    (``alpha``), and k-sparse OMP codes for evaluation (A25's classical sparse coding). Version 2: the
    ``code_iter`` parameter (1,000, scikit-learn's default, except in ``standard``: 20 sweeps over 4,096 rows,
    one epoch; at 8,192 rows, 3 epochs and 1,000 sweeps a width-8 fit took about 500 CPU-s on d = 256)."""

    name = "dict_learning"
    version = "2"
    params = {"k": 8, "width": 4, "alpha": 0.1, "max_rows": 8192, "max_iter": 3, "batch_size": 1024,
              "code_iter": 1000}
    profile_params = {"smoke": {"max_rows": 2048, "max_iter": 1}, "quick": {"max_rows": 4096, "max_iter": 1},
                      "standard": {"max_rows": 4096, "max_iter": 1, "code_iter": 20}}
    # OMP codes at k = 64 over 2,048 atoms (width 8, d = 256) take 13-22 CPU-s for 4,096 evaluation rows: a
    # 60 s step limit (the job limit stays the profile's)
    resources = Resources(timeout_s=60)
    sparsity_param = "k"
    tags = Tags(supervised=False, stochastic=True, wraps="scikit-learn MiniBatchDictionaryLearning",
                reimplementation_of="J. Mairal, F. Bach, J. Ponce, G. Sapiro, Online dictionary learning for sparse "
                                    "coding (ICML 2009)")

    def fit_state(self, acts, ctx):
        from sklearn.decomposition import MiniBatchDictionaryLearning

        X = _rows(acts, int(self.params["max_rows"]), ctx)
        mu = X.mean(0)
        m = int(round(float(self.params["width"]) * X.shape[1]))
        scale = np.sqrt(np.mean(np.sum((X - mu) ** 2, 1)))
        dl = MiniBatchDictionaryLearning(n_components=m, alpha=float(self.params["alpha"]),
                                         batch_size=int(self.params["batch_size"]),
                                         max_iter=int(self.params["max_iter"]), fit_algorithm="cd",
                                         transform_max_iter=int(self.params["code_iter"]),
                                         random_state=int(ctx.rng(7).integers(0, 2**31 - 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dl.fit((X - mu) / scale)
        D = torch.as_tensor(dl.components_, dtype=torch.float32, device=ctx.device)
        self.D = D / D.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.b = torch.as_tensor(mu, dtype=torch.float32, device=ctx.device)

    def encode(self, x):
        x = torch.as_tensor(x).float()
        return omp_codes(self.D, x - self.b.to(x.device), int(self.params["k"]))


class NMF(_FitIgnoresK, _Linear):
    """NMF (scikit-learn, A24's DFF factorisation) on shifted data. Signed activations are made non-negative
    by splitting the centred input into its positive and negative parts, x' = [ReLU(x − μ), ReLU(μ − x)] ∈
    R^{2d}_{≥0} (μ the training mean), which NMF factorises with ``width × d`` non-negative atoms A ∈
    R^{m×2d}; an atom maps back to activation space as A[:, :d] − A[:, d:] (so ``decode(z) = z D + μ`` with
    that D). Codes are the non-negative ``transform`` codes, keeping each row's k largest. Initialised by NNDSVDa
    where m ≤ 2d, else (overcomplete: widths above 2) by scikit-learn's scaled random init. ``solver``,
    ``max_iter`` and ``tol`` are scikit-learn's (defaults ``"cd"``, 200, 1e-4); its ``transform`` uses the same
    ones. Version 2: the ``solver`` and ``tol`` parameters, ``standard``'s budget :data:`STANDARD_NMF`
    (multiplicative updates: a BLAS product per update, where coordinate descent loops over the m² atom
    pairs per row, which at 4-8 × d atoms was minutes per fit; measured in bench_core/tracks/saes.py,
    "Standard budget") and the transform memo of :meth:`encode`; other profiles' codes are version 1's."""

    name = "nmf"
    version = "2"
    params = {"k": 8, "width": 1, "max_rows": 8192, "max_iter": 200, "solver": "cd", "tol": 1e-4}
    profile_params = {"smoke": {"max_rows": 2048, "max_iter": 50}, "quick": {"max_rows": 4096, "max_iter": 100},
                      "standard": STANDARD_NMF}
    # on minilm_l3_tokens (d = 384, 1,536 atoms) the evaluation after the fit went over the 30 s step limit in
    # the first standard run (5ede749): a 60 s step limit, like dict_learning's (the job limit stays the profile's)
    resources = Resources(timeout_s=60)
    sparsity_param = "k"
    tags = Tags(supervised=False, stochastic=True, wraps="scikit-learn NMF",
                reimplementation_of="E. Collins, R. Achanta, S. Süsstrunk, Deep Feature Factorization for Concept "
                                    "Discovery (ECCV 2018)")

    @staticmethod
    def _split(xc: np.ndarray) -> np.ndarray:
        return np.concatenate([np.maximum(xc, 0), np.maximum(-xc, 0)], axis=1)

    def fit_state(self, acts, ctx):
        from sklearn.decomposition import NMF as SkNMF

        X = _rows(acts, int(self.params["max_rows"]), ctx)
        mu = X.mean(0)
        d = X.shape[1]
        m = int(round(float(self.params["width"]) * d))
        # NNDSVD needs m <= min(rows, 2d): an overcomplete factorisation (the standard profile's widths 4 and 8)
        # starts from scikit-learn's scaled random init instead
        init = "nndsvda" if m <= min(X.shape[0], 2 * d) else "random"
        self.nmf = SkNMF(n_components=m, init=init, max_iter=int(self.params["max_iter"]),
                         solver=str(self.params["solver"]), tol=float(self.params["tol"]),
                         random_state=int(ctx.rng(8).integers(0, 2**31 - 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.nmf.fit(self._split(X - mu))
        A = self.nmf.components_
        self.transform_memo = {}  # shared by the models that reuse this fit (see encode)
        self.D = torch.as_tensor(A[:, :d] - A[:, d:], dtype=torch.float32, device=ctx.device)
        self.b = torch.as_tensor(mu, dtype=torch.float32, device=ctx.device)

    #: The transform memo holds at most this many code entries (float32; 2**24 = 64 MiB).
    MEMO_ELEMENTS = 2**24

    def encode(self, x):
        """The k largest of the ``transform`` codes of each row. ``transform`` (the same solver and
        ``max_iter`` as the fit, from the fitted atoms) does not depend on ``k``, and the protocol encodes
        the same evaluation batches once per target L0 with models that share one fit (:class:`_FitIgnoresK`):
        the full codes of each input batch are memoised with the fit (keyed by a SHA-256 of the input's
        bytes, at most :attr:`MEMO_ELEMENTS` entries, oldest dropped first), so each batch is transformed
        once per fit instead of once per target. The same numbers as transforming again."""
        import hashlib

        x = torch.as_tensor(x).float()
        xc = (x - self.b.to(x.device)).double().cpu().numpy()
        memo = self.__dict__.setdefault("transform_memo", {})
        key = hashlib.sha256(np.ascontiguousarray(xc).tobytes()).hexdigest() + str(xc.shape)
        z = memo.get(key)
        if z is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                z = torch.as_tensor(self.nmf.transform(self._split(xc)), dtype=torch.float32)
            if z.numel() <= self.MEMO_ELEMENTS:
                while memo and sum(v.numel() for v in memo.values()) + z.numel() > self.MEMO_ELEMENTS:
                    memo.pop(next(iter(memo)))
                memo[key] = z
        return _topk_abs(z.to(x.device), int(self.params["k"]))


class SemiNMF(_Linear):
    """Semi-NMF (Ding, Li, Jordan 2010; used on MLP activations by A8): centred X ≈ Z D with non-negative
    codes Z and a signed dictionary D (``width × d`` atoms). Alternating updates: D by least squares, Z by the
    multiplicative rule Z ← Z ⊙ sqrt(((X Dᵀ)⁺ + Z (D Dᵀ)⁻) / ((X Dᵀ)⁻ + Z (D Dᵀ)⁺)), with each row's k
    largest codes kept after every update (the sparse variant of A8). Evaluation codes: ``n_encode``
    multiplicative updates with D fixed, from a non-negative least-squares-like start, then top-k."""

    name = "semi_nmf"
    version = "2"
    params = {"k": 8, "width": 4, "n_iter": 30, "n_encode": 30, "max_rows": 8192}
    # standard: the step limit (30 s) at width 8 and k = 64 on d = 256 (measured: 2,048 rows and 10 + 10
    # iterations took 23 CPU-s to fit and 19 to encode 4,096 rows)
    profile_params = {"smoke": {"max_rows": 2048, "n_iter": 10}, "quick": {"max_rows": 4096, "n_iter": 20},
                      "standard": {"max_rows": 1024, "n_iter": 10, "n_encode": 5}}
    # on minilm_l3_tokens (d = 384) the evaluation at L0 = 64 took just under 30 s in one run and over it in
    # the next (5ede749's standard run): a 60 s step limit, like dict_learning's (the job limit stays the profile's)
    resources = Resources(timeout_s=60)
    sparsity_param = "k"
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="C. Ding, T. Li, M. I. Jordan, Convex and semi-nonnegative matrix "
                                    "factorizations (TPAMI 2010); A8 (semi-NMF of MLP activations)")

    @staticmethod
    def _update_codes(X, Z, D, k, n, eps=0.0):
        """``n`` multiplicative updates of the codes ``Z`` (each followed by the top-k), with ``D`` fixed. With
        ``eps`` the first update starts from ``Z + eps·[Z == 0]`` (so that zero codes can grow back). The
        products with the k-sparse codes are sparse products (:func:`_sparse_mm`): the same sums as the dense
        ones, up to the order of the additions."""
        XD = X @ D.T
        DD = D @ D.T
        XDp, XDm = XD.clamp(min=0), (-XD).clamp(min=0)
        DDp, DDm = DD.clamp(min=0), (-DD).clamp(min=0)
        for i in range(n):
            if i == 0 and eps:
                off = (Z == 0).to(Z.dtype)  # Z + eps·off; off @ M = colsum(M) − [Z != 0] @ M
                on = 1.0 - off
                num = XDp + _sparse_mm(Z, DDm) + eps * (DDm.sum(0) - _sparse_mm(on, DDm))
                den = XDm + _sparse_mm(Z, DDp) + eps * (DDp.sum(0) - _sparse_mm(on, DDp))
                Z = Z + eps * off
            else:
                num, den = XDp + _sparse_mm(Z, DDm), XDm + _sparse_mm(Z, DDp)
            Z = Z * torch.sqrt(num / den.clamp_min(1e-12))
            Z = _topk_abs(Z, k)
        return Z

    def fit(self, acts, ctx):
        X = torch.as_tensor(_rows(acts, int(self.params["max_rows"]), ctx))
        mu = X.mean(0)
        Xc = X - mu
        m = int(round(float(self.params["width"]) * X.shape[1]))
        g = torch.Generator().manual_seed(int(ctx.rng(9).integers(0, 2**62)))
        D = torch.randn(m, X.shape[1], generator=g, dtype=torch.float64)
        D = D / D.norm(dim=1, keepdim=True)
        Z = _topk_abs((Xc @ D.T).clamp(min=0) + 1e-3, int(self.params["k"]))
        for _ in range(int(self.params["n_iter"])):
            Z = self._update_codes(Xc, Z, D, int(self.params["k"]), 1, eps=1e-9)
            Zs = _sparse(Z)
            ZtZ = torch.sparse.mm(Zs.t(), Z)
            D = torch.linalg.solve(ZtZ + 1e-6 * torch.eye(m, dtype=Z.dtype), torch.sparse.mm(Zs.t(), Xc))
        norms = D.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.D = (D / norms).float().to(ctx.device)
        self.b = mu.float().to(ctx.device)

    def encode(self, x):
        x = torch.as_tensor(x).float()
        xc = (x - self.b.to(x.device)).double()
        D = self.D.to(x.device).double()
        Z0 = (xc @ D.T).clamp(min=0) + 1e-3
        return self._update_codes(xc, Z0, D, int(self.params["k"]), int(self.params["n_encode"])).float()


CLASSICAL = [FastICA, DictLearningOMP, NMF, SemiNMF]


@hookimpl
def featbench_register_saes(register) -> None:
    for cls in CLASSICAL:
        register.add(cls)
