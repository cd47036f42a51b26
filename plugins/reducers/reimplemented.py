"""Reducers without a usable package, reimplemented from their papers: LargeVis, TLDR and a deep autoencoder.

None of the authors' code is used; each class docstring says how it follows its paper and where it departs
from it (mostly: smaller budgets, so that the quick profile fits 2 CPU cores). Shared conventions:

* All randomness comes from ``ctx`` (``ctx.rng`` for numpy and numba, a torch generator on ``ctx.device``
  for the networks); parameters are drawn from those generators, never from a global RNG, so two fits with
  the same seed give the same embedding on the same device.
* The k-NN graphs are exact (:func:`bench_core.metrics.neighbours.knn`, Euclidean), where the papers use
  approximate graphs (LargeVis: random-projection trees + neighbour exploring; TLDR: faiss): at the sizes
  the profiles run, exact is affordable and removes one source of variation.
* The two networks (TLDR, autoencoder) embed new points (``transform``): a fixed function of the input once
  trained, so ``transform`` of the training rows reproduces ``fit_transform`` (``transform_exact``).
  LargeVis optimises free coordinates and cannot embed new points.
"""

from __future__ import annotations

import math

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.base import Tags
from bench_core.tracks.reducers import Reducer

# ------------------------------------------------------------------------------------------- LargeVis


def perplexity_weights(sqdist: np.ndarray, perplexity: float, tol: float = 1e-5, max_iter: int = 200) -> np.ndarray:
    """Row-stochastic Gaussian weights ``p_{j|i} ∝ exp(−β_i·d²_ij)`` over each row's neighbours, with β_i
    found by bisection so that the entropy of row i is ``log(perplexity)`` (nats) to ``tol`` (t-SNE's
    calibration, which LargeVis uses for its edge weights). ``sqdist [n, k]``: squared distances to the
    k neighbours."""
    D = np.asarray(sqdist, dtype=np.float64)
    n = D.shape[0]
    target = math.log(perplexity)
    beta = np.ones(n)
    lo = np.full(n, -1.0)  # -1: no bound yet
    hi = np.full(n, -1.0)
    Dm = D - D.min(axis=1, keepdims=True)  # shift per row: same p, no underflow
    done = np.zeros(n, dtype=bool)
    for _ in range(max_iter):
        W = np.exp(-beta[:, None] * Dm)
        s = W.sum(1)
        H = np.log(s) + beta * (W * Dm).sum(1) / s
        done |= np.abs(H - target) < tol
        if done.all():
            break
        up = (H > target) & ~done  # entropy too high: sharpen (larger beta)
        down = (H <= target) & ~done
        lo[up] = beta[up]
        beta[up] = np.where(hi[up] < 0, beta[up] * 2.0, 0.5 * (beta[up] + hi[up]))
        hi[down] = beta[down]
        beta[down] = np.where(lo[down] < 0, beta[down] / 2.0, 0.5 * (beta[down] + lo[down]))
    W = np.exp(-beta[:, None] * Dm)
    return W / W.sum(1, keepdims=True)


class LargeVis(Reducer):
    """LargeVis (Tang, Liu, Zhang & Mei, WWW 2016), reimplemented from the paper.

    1. **Graph**: the input is centred and divided by its largest absolute value; the exact ``K``-NN graph
       (``K = 3·perplexity``, as the authors recommend, at most ``n − 1``) gets Gaussian weights calibrated
       to ``perplexity`` per point (:func:`perplexity_weights`), symmetrised ``w_ij = (p_{j|i} + p_{i|j})/2``
       on the union of the directed edges (both directions of an edge carry the same weight).
    2. **Model**: the probability of an edge between embedded points is ``f(d) = 1/(1 + d²)``; the
       objective is ``Σ_(i,j)∈E w_ij [log f(‖y_i − y_j‖) + Σ_{k=1..M} γ·log(1 − f(‖y_i − y_{j_k}‖))]`` with
       ``M`` negative vertices drawn from ``P_n(j) ∝ deg(j)^0.75`` (deg = weighted degree) and ``γ = 7``.
    3. **Optimisation**: asynchronous SGD with *edge sampling*: an edge is drawn with probability ∝ its
       weight (Walker alias table) and treated as a binary edge, so gradients do not scale with the
       weights; for it, one attractive update and ``M`` repulsive ones (the gradient of ``γ·log(1 − f)`` is
       ``2γ / ((1 + d²)(ε + d²))·(y_i − y_k)`` with ε = 0.1 against the pole at 0). Every gradient component
       is clipped to ±5; the learning rate decays linearly from ``rho`` to ``rho·1e-4``; the embedding starts
       uniform in ±0.5e-4 / n_components (the authors' code: tiny, so the first phase forms the layout).

    Departures: an exact k-NN graph instead of random-projection trees plus neighbour exploring; one thread
    (deterministic: a negative or positive vertex is updated before the next draw, in order); the number of
    SGD samples is ``samples_per_point · n``, where the authors' default is 10⁹ samples for any n < 10⁴
    (about 10⁶ per point at n = 1,000): far beyond the benchmark's budget, and the layout of small data
    stops changing long before (see ``profile_params``). A negative draw equal to the source point is also
    skipped (the authors skip only the positive target). It cannot embed new points.
    """

    name = "largevis"
    version = "1"
    params = {"perplexity": 50.0, "n_neighbors": None, "n_negatives": 5, "gamma": 7.0, "rho": 1.0,
              "samples_per_point": 10_000}
    profile_params = {"smoke": {"samples_per_point": 2_000}, "quick": {"samples_per_point": 2_000}}
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="Tang, Liu, Zhang & Mei, Visualizing Large-scale and High-dimensional Data, "
                                    "WWW 2016 (arXiv 1602.00370)")

    @classmethod
    def warm_up(cls) -> None:
        from bench_core.tracks.base import Context

        cls(samples_per_point=10).fit_transform(np.random.default_rng(0).normal(size=(60, 3)), 2, Context(seed=0))

    def fit_transform(self, X, n_components, ctx):
        import scipy.sparse as sp

        from bench_core.metrics.neighbours import knn
        from ._largevis_kernels import alias_table, largevis_sgd

        p = self.params
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        Xc = X - X.mean(0)
        scale = float(np.abs(Xc).max())
        Xc = Xc / (scale if scale > 0 else 1.0)
        perplexity = float(min(p["perplexity"], (n - 1) / 3))
        K = int(min(p["n_neighbors"] or round(3 * perplexity), n - 1))
        idx, d2 = knn(Xc, K, device="cpu")
        P = perplexity_weights(d2, perplexity)
        # symmetrise on the union of directed edges: w_ij = (p_j|i + p_i|j) / 2, both directions kept
        A = sp.csr_matrix((P.ravel(), (np.repeat(np.arange(n), K), idx.ravel())), shape=(n, n))
        W = ((A + A.T) * 0.5).tocoo()
        src, dst, w = W.row.astype(np.int64), W.col.astype(np.int64), W.data.astype(np.float64)
        e_prob, e_alias = alias_table(w)
        deg = np.bincount(src, weights=w, minlength=n)
        n_prob, n_alias = alias_table(np.maximum(deg, 1e-300) ** 0.75)
        rng = ctx.rng(31)
        Y = (rng.random((n, n_components)) - 0.5) / n_components * 1e-4
        n_samples = int(p["samples_per_point"]) * n
        seed = int(rng.integers(0, 2**31 - 1))
        Y = largevis_sgd(Y, src, dst, e_prob, e_alias, n_prob, n_alias, n_samples, int(p["n_negatives"]),
                         float(p["gamma"]), float(p["rho"]), 5.0, seed)
        return np.asarray(Y, dtype=np.float64)


# ------------------------------------------------------------------------------------- torch helpers


def _standardizer(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training mean and scale (1 where a column is constant)."""
    mean = X.mean(0)
    sd = X.std(0)
    return mean, np.where(sd > 1e-10 * (1.0 + np.abs(mean)), sd, 1.0)


def _linear(d_in: int, d_out: int, g, device, bias: bool = True):
    """An ``nn.Linear`` whose parameters are drawn U(±1/√d_in) from ``g`` (PyTorch's default scale)."""
    import torch

    lin = torch.nn.Linear(d_in, d_out, bias=bias, device=device)
    bound = 1.0 / math.sqrt(d_in)
    with torch.no_grad():
        lin.weight.uniform_(-bound, bound, generator=g)
        if bias:
            lin.bias.uniform_(-bound, bound, generator=g)
    return lin


def _mlp(sizes, g, device, *, norm: bool, bias: bool = True, last_bias: bool = True):
    """``sizes[0] → … → sizes[-1]``: Linear (+ BatchNorm) + ReLU between layers, a plain Linear last."""
    import torch

    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(_linear(a, b, g, device, bias=last_bias if last else bias))
        if not last:
            if norm:
                layers.append(torch.nn.BatchNorm1d(b, device=device))
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _to_numpy(t) -> np.ndarray:
    return t.detach().to("cpu").double().numpy()


class _TorchReducer(Reducer):
    """A reducer whose embedding is a trained network ``encoder(standardise(X))``; ``transform`` applies the
    same function to new rows."""

    transform_exact = True

    @classmethod
    def warm_up(cls) -> None:
        from bench_core.tracks.base import Context

        small = {k: v for k, v in cls.profile_params.get("smoke", {}).items()}
        cls(**small).fit_transform(np.random.default_rng(0).normal(size=(64, 5)), 2, Context(seed=0))

    def _encode(self, X):
        import torch

        Xs = (np.asarray(X, dtype=np.float64) - self._mean) / self._scale
        self._encoder.eval()
        with torch.no_grad():
            T = torch.as_tensor(np.ascontiguousarray(Xs), dtype=torch.float32, device=self._device)
            return _to_numpy(self._encoder(T))

    def transform(self, X):
        return self._encode(X)


# ------------------------------------------------------------------------------------------------ TLDR


def barlow_twins_loss(z1, z2, lambd: float, scale: float):
    """Barlow Twins (Zbontar et al., ICML 2021): with ``c`` the cross-correlation of the batch-standardised
    ``z1``, ``z2`` (``[b, D]``; ``c = z1ᵀz2 / b``), ``scale · (Σ_i (1 − c_ii)² + λ Σ_{i≠j} c_ij²)``."""
    import torch

    b = z1.shape[0]
    c = z1.T @ z2 / b
    on = (torch.diagonal(c) - 1.0).pow(2).sum()
    off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return scale * (on + lambd * off)


def _lars_step(params, lr: float, state: dict, weight_decay: float = 1e-6, momentum: float = 0.9, eta: float = 1e-3):
    """One LARS step (You et al. 2017, as used by Barlow Twins and TLDR): for weight matrices, weight decay
    and the layer-wise trust ratio ``η·‖w‖/‖g‖``; biases and normalisation parameters (1-D) get neither;
    then heavy-ball momentum."""
    import torch

    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            dp = p.grad
            if p.ndim > 1:
                dp = dp.add(p, alpha=weight_decay)
                pn, un = torch.norm(p), torch.norm(dp)
                q = torch.where((pn > 0) & (un > 0), eta * pn / un, torch.ones_like(pn))
                dp = dp.mul(q)
            mu = state.get(id(p))
            if mu is None:
                mu = state[id(p)] = torch.zeros_like(p)
            mu.mul_(momentum).add_(dp)
            p.add_(mu, alpha=-lr)


class TLDR(_TorchReducer):
    """TLDR (Kalantidis, Lassance, Almazán & Larlus, "TLDR: Twin Learning for Dimensionality Reduction",
    TMLR 2022), reimplemented from the paper.

    Each training row ``x`` is paired with one of its ``n_neighbors`` nearest neighbours ``x'`` (exact
    Euclidean k-NN of the input), drawn afresh for every batch. A *linear* encoder ``z = W·x + b`` (the
    embedding, ``n_components`` wide) feeds a projector MLP (``projector`` hidden/output widths, BatchNorm +
    ReLU between layers, no biases); the projector outputs of the two sides, each standardised over the
    batch (BatchNorm without affine), are trained with the Barlow Twins loss (:func:`barlow_twins_loss`,
    λ = 3.9e-3, scale 1/32): the cross-correlation of neighbour pairs pushed to the identity. Optimiser:
    LARS (momentum 0.9, weight decay 1e-6, trust coefficient 1e-3), learning rate ``lr · batch/256`` with a
    linear warm-up over the first 10 % of the steps and a cosine decay to 1/1000 of it; batches without
    replacement, the last incomplete one dropped (as the authors' code). Training runs ``epochs`` epochs but
    at least ``min_steps`` optimiser steps. The projector is discarded after training;
    ``transform`` applies the encoder (no ℓ2 normalisation: the paper normalises for retrieval, not for a
    2-D map).

    Departures, all for the benchmark's sizes and CPU budget: the projector is narrower than the paper's
    default (three layers of 2,048; here 128), batches of 128 instead of 1,024, and a learning rate of 2.0
    instead of 0.2. The paper trains ~10⁵ steps (100 epochs of millions of rows); a few thousand rows give
    a few hundred, and with LARS's small trust ratio the encoder then barely leaves its initialisation
    (measured on an 800-point Swiss roll: T(7) stays at the random-projection level after 60 full-batch
    steps, and reached 0.938, the value of a locality-preserving projection, only after 5,000 Adam steps). Hence the step floor and the larger rate. The encoder is fitted on
    columns standardised with the training statistics (an invertible affine change of input: the family of
    maps is the same); exact instead of faiss k-NN. TLDR targets tens of output dimensions; at 2 it is a
    learnt linear projection that favours neighbour pairs, a contrast with PCA's variance criterion.
    """

    name = "tldr"
    version = "1"
    params = {"n_neighbors": 5, "projector": [128, 128, 128], "lambd": 3.9e-3, "scale_loss": 1.0 / 32,
              "batch_size": 128, "epochs": 100, "min_steps": 1500, "lr": 2.0}
    profile_params = {"smoke": {"min_steps": 200, "projector": [64, 64]}, "quick": {"epochs": 40, "min_steps": 300}}
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="Kalantidis, Lassance, Almazán & Larlus, TLDR: Twin Learning for Dimensionality "
                                    "Reduction, TMLR 2022 (arXiv 2110.09455)")

    def fit_transform(self, X, n_components, ctx):
        import torch

        from bench_core.metrics.neighbours import knn

        p = self.params
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        k = int(min(p["n_neighbors"], n - 1))
        nn, _ = knn(X, k, device="cpu")
        self._mean, self._scale = _standardizer(X)
        self._device = dev = torch.device(ctx.device)
        g = ctx.torch_generator(41)
        Xt = torch.as_tensor((X - self._mean) / self._scale, dtype=torch.float32, device=dev)
        NN = torch.as_tensor(nn, dtype=torch.int64, device=dev)

        self._encoder = _linear(X.shape[1], n_components, g, dev)
        projector = _mlp([n_components, *p["projector"]], g, dev, norm=True, bias=False, last_bias=False)
        bn = torch.nn.BatchNorm1d(p["projector"][-1], affine=False, device=dev)
        params = [*self._encoder.parameters(), *projector.parameters()]
        self._encoder.train()
        projector.train()
        bs = int(min(p["batch_size"], n))
        per_epoch = n // bs
        total = max(int(p["epochs"]) * per_epoch, int(p["min_steps"]))
        warm = total // 10
        base = float(p["lr"]) * bs / 256
        state: dict = {}
        step = 0
        while step < total:
            perm = torch.randperm(n, generator=g, device=dev)
            for b in range(per_epoch):
                if step >= total:
                    break
                idx = perm[b * bs:(b + 1) * bs]
                pick = torch.randint(0, k, (len(idx),), generator=g, device=dev)
                y1, y2 = Xt[idx], Xt[NN[idx, pick]]
                if step < warm:
                    lr = base * step / warm
                else:
                    q = 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
                    lr = base * q + base * 1e-3 * (1 - q)
                for t in params:
                    t.grad = None
                z1 = bn(projector(self._encoder(y1)))
                z2 = bn(projector(self._encoder(y2)))
                loss = barlow_twins_loss(z1, z2, float(p["lambd"]), float(p["scale_loss"]))
                loss.backward()
                _lars_step(params, lr, state)
                step += 1
        self.final_loss_ = float(loss.detach())
        return self._encode(X)


# ----------------------------------------------------------------------------------------- autoencoder


class Autoencoder(_TorchReducer):
    """A deep autoencoder (Hinton & Salakhutdinov, "Reducing the dimensionality of data with neural
    networks", Science 313, 2006): an MLP encoder ``d → hidden… → n_components`` (ReLU between layers,
    linear code layer) and the mirrored decoder, trained to reconstruct the standardised input (mean squared
    error) with Adam in mini-batches (each epoch a fresh permutation; the last incomplete batch is used),
    for ``epochs`` epochs but at least ``min_steps`` steps (small data would otherwise get too few).
    The code layer is the embedding; ``transform`` encodes new rows.

    Departures: trained end to end from a random initialisation with Adam, not with the paper's layer-wise
    RBM pre-training; the layer widths (128, 32) of the projection survey's largest autoencoder (Espadoto
    et al. 2019, Keras: sigmoid hidden units, sigmoid output and binary cross-entropy on min–max scaled
    data, early stopping), but ReLU units and squared error on standardised columns here (inputs need not
    lie in [0, 1]), and a fixed step budget instead of early stopping.
    """

    name = "autoencoder"
    version = "1"
    params = {"hidden": [128, 32], "epochs": 200, "min_steps": 2000, "batch_size": 128, "lr": 1e-3}
    profile_params = {"smoke": {"epochs": 30, "min_steps": 300}, "quick": {"epochs": 60, "min_steps": 300}}
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="Hinton & Salakhutdinov, Reducing the dimensionality of data with neural "
                                    "networks, Science 313(5786), 2006")

    def fit_transform(self, X, n_components, ctx):
        import torch

        p = self.params
        X = np.asarray(X, dtype=np.float64)
        n, d = X.shape
        self._mean, self._scale = _standardizer(X)
        self._device = dev = torch.device(ctx.device)
        g = ctx.torch_generator(43)
        Xt = torch.as_tensor((X - self._mean) / self._scale, dtype=torch.float32, device=dev)
        sizes = [d, *p["hidden"], n_components]
        self._encoder = _mlp(sizes, g, dev, norm=False)
        decoder = _mlp(sizes[::-1], g, dev, norm=False)
        params = [*self._encoder.parameters(), *decoder.parameters()]
        opt = torch.optim.Adam(params, lr=float(p["lr"]))
        bs = int(min(p["batch_size"], n))
        self._encoder.train()
        total = max(int(p["epochs"]) * math.ceil(n / bs), int(p["min_steps"]))
        step = 0
        while step < total:
            perm = torch.randperm(n, generator=g, device=dev)
            for s in range(0, n, bs):
                if step >= total:
                    break
                xb = Xt[perm[s:s + bs]]
                opt.zero_grad(set_to_none=True)
                loss = torch.mean((decoder(self._encoder(xb)) - xb) ** 2)
                loss.backward()
                opt.step()
                step += 1
        self.final_loss_ = float(loss.detach())
        return self._encode(X)


@hookimpl
def featbench_register_reducers(register) -> None:
    for cls in (LargeVis, TLDR, Autoencoder):
        register.add(cls)
