"""The shared training loop of gradient-trained SAEs, importable by third-party plugins.

A plugin subclasses :class:`TrainedSAE` and supplies its activation rule and sparsity loss by implementing
:meth:`TrainedSAE.forward_train` (and usually :meth:`TrainedSAE.encode_scaled`), using the helpers of this
module. The base class owns everything else, identically for every method:

* **Input scaling**: a fixed scalar ``s`` with ``E‖x/s‖² = 1`` over the training rows (dictionary_learning
  ``normalize_activations``; Gemma Scope). The model works on ``x/s``; :meth:`encode` and :meth:`decode`
  take and return activations in the original units, so codes are in the scaled units.
* **Parameters**: ``W_enc [m, d]``, ``b_enc [m]``, ``W_dec [m, d]`` (rows = atoms), ``b_dec [d]``;
  ``m = width × d``. Atoms are drawn from a Gaussian, normalised to unit norm, and the encoder is
  initialised to the decoder (``W_enc = W_dec``, Gao et al.), ``b_dec`` to the mean of (up to 4,096)
  training rows. Methods add parameters in :meth:`TrainedSAE.extra_parameters`.
* **Optimiser**: Adam (``lr`` from the method's params, β = (0.9, 0.999)), gradient-norm clipping at 1;
  a method may give a parameter its own learning rate, ``lr`` times a factor from
  :meth:`TrainedSAE.lr_scales` (JumpReLU's thresholds: Adam moves a parameter by about its learning rate per
  step, so a slow one cannot travel far within a short budget); with ``unit_norm_decoder`` (the default)
  the gradient component parallel to each atom is removed before the step and the atoms are renormalised
  after it (``ConstrainedAdam`` of dictionary_learning).
* **Budget**: ``tokens`` training rows in batches of ``batch_size``, both set by the protocol from the
  profile (``self.budget``); batches are drawn by a seeded permutation, epoch after epoch.
* **Device and determinism**: everything runs on ``ctx.device``; the initialisation and the batch order come
  from ``ctx.torch_generator``, so two fits with the same seed on the same device are identical.

Sparse steps: :func:`sparse_encode` and :func:`sparse_decode` compute a step in which only ``nnz`` (row,
latent) pairs are active: the pre-activations are computed once without autograd (one dense
``B × d × m`` matmul, needed to choose the active set), the active values are gathered with a custom
backward that costs ``O(nnz · d)`` (a sparse matmul for ``∂W_enc``, index-adds for ``∂b_enc`` and an
``embedding_bag`` for ``∂x``), and the decoder is an ``embedding_bag`` over the active atoms (forward and
backward ``O(nnz · d)``). A naive TopK step (dense code, dense decoder, autograd through both) costs about
six ``B × d × m`` matmuls; this one costs about one (see ``benchmarks/test_bench_sae_step.py``).
"""

from __future__ import annotations

import abc
import math
import time
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from bench_core.tracks.base import Context
from bench_core.tracks.saes import SAE

DEFAULT_BUDGET = {"tokens": 200_000, "batch_size": 1024}


# ------------------------------------------------------------------------------------------------ sparse ops


class _GatherPre(torch.autograd.Function):
    """``vals[e] = pre[rows[e], cols[e]]`` where ``pre = xc @ W_enc.T + b_enc``, with a sparse backward."""

    @staticmethod
    def forward(ctx, xc, W_enc, b_enc, pre, rows, cols, offsets):
        ctx.save_for_backward(xc, W_enc, rows, cols, offsets)
        return pre[rows, cols]

    @staticmethod
    def backward(ctx, g):
        xc, W_enc, rows, cols, offsets = ctx.saved_tensors
        m = W_enc.shape[0]
        g = g.contiguous()
        gx = gW = gb = None
        if ctx.needs_input_grad[1]:
            S = torch.sparse_coo_tensor(torch.stack([cols, rows]), g, (m, xc.shape[0]), check_invariants=False)
            gW = torch.sparse.mm(S, xc)
        if ctx.needs_input_grad[2]:
            gb = torch.zeros(m, dtype=g.dtype, device=g.device).index_add_(0, cols, g)
        if ctx.needs_input_grad[0]:
            gx = F.embedding_bag(cols, W_enc, offsets, mode="sum", per_sample_weights=g)
        return gx, gW, gb, None, None, None, None


def offsets_from_rows(rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    """``embedding_bag`` offsets of a row-sorted list of active pairs."""
    counts = torch.bincount(rows, minlength=n_rows)
    return torch.cumsum(counts, 0) - counts


def sparse_encode(xc, W_enc, b_enc, pre, rows, cols, offsets):
    """The pre-activations at the active pairs ``(rows, cols)`` (row-sorted), differentiable with an
    ``O(nnz · d)`` backward. ``pre`` is ``xc @ W_enc.T + b_enc`` computed without autograd."""
    return _GatherPre.apply(xc, W_enc, b_enc, pre, rows, cols, offsets)


def sparse_decode(cols, offsets, vals, W_dec, b_dec):
    """``x̂_n = b_dec + Σ_{e in row n} vals[e] W_dec[cols[e]]`` (an ``embedding_bag``; O(nnz · d))."""
    return F.embedding_bag(cols, W_dec, offsets, mode="sum", per_sample_weights=vals) + b_dec


def topk_pairs(pre: torch.Tensor, k: int, by_abs: bool = False):
    """Row-sorted active pairs of a per-row top-k (by value, or by ``|value|``)."""
    B = pre.shape[0]
    idx = torch.topk(pre.abs() if by_abs else pre, k, dim=1, sorted=False).indices
    rows = torch.arange(B, device=pre.device).repeat_interleave(k)
    offsets = torch.arange(B, device=pre.device) * k
    return rows, idx.reshape(-1), offsets


def mask_pairs(mask: torch.Tensor):
    """Row-sorted active pairs of a boolean mask ``[B, m]``."""
    rows, cols = mask.nonzero(as_tuple=True)
    return rows, cols, offsets_from_rows(rows, mask.shape[0])


def dense_codes(rows, cols, vals, shape) -> torch.Tensor:
    z = torch.zeros(shape, dtype=vals.dtype, device=vals.device)
    z[rows, cols] = vals
    return z


def normalized_mse(x: torch.Tensor, xhat: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ‖x − x̂‖² (inputs are scaled so that E‖x‖² = 1, so this is an NMSE)."""
    return (x - xhat).pow(2).sum(1).mean()


# ------------------------------------------------------------------------------------------------ base class


class TrainedSAE(SAE, metaclass=abc.ABCMeta):
    """Base of the SAEs trained by the shared loop (see the module docstring).

    Subclasses must implement :meth:`forward_train` ``(xs) -> (x̂, loss)`` on a scaled batch (an abstract
    method: a subclass without it cannot be instantiated) and
    :meth:`encode_scaled` ``(xs) -> z`` (codes for evaluation; defaults to a ReLU encoder), and may override
    :meth:`extra_parameters`, :meth:`after_step` and :meth:`decode_scaled`. Their params should include
    ``width`` (a multiple of ``d``) and ``lr``.
    """

    unit_norm_decoder: ClassVar[bool] = True
    params = {"width": 4, "lr": 3e-3}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.budget: dict[str, Any] = dict(DEFAULT_BUDGET)
        self.p: dict[str, torch.Tensor] = {}
        self.scale = 1.0
        self.step_count = 0
        self.total_steps = 1

    @classmethod
    def warm_up(cls) -> None:
        """A tiny fit, so that torch's one-off initialisation (autograd, Adam) is not charged to a job."""
        x = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
        sae = cls()
        sae.budget = {"tokens": 256, "batch_size": 64}
        sae.fit(x, Context(seed=0))

    # ---------------------------------------------------------------- to override
    def extra_parameters(self, d: int, m: int, gen: torch.Generator, device: str) -> dict[str, torch.Tensor]:
        """Additional trainable tensors (e.g. thresholds, a gate), keyed by name."""
        return {}

    @abc.abstractmethod
    def forward_train(self, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x̂, loss)`` of one scaled training batch ``xs`` (autograd on ``self.p``)."""

    def lr_scales(self) -> dict[str, float]:
        """Learning-rate factors by parameter name (``lr`` × factor); parameters not named train at ``lr``."""
        return {}

    def after_step(self, xs: torch.Tensor) -> None:
        """Called after each optimiser step (bookkeeping such as dead-latent counters)."""

    def after_fit(self, x: torch.Tensor) -> None:
        """Called once after training with (up to 8,192 of) the scaled training rows, without autograd: set
        inference-time state such as the global threshold of BatchTopK."""

    def pre_activations(self, xs: torch.Tensor) -> torch.Tensor:
        p = self.p
        return (xs - p["b_dec"]) @ p["W_enc"].T + p["b_enc"]

    def encode_scaled(self, xs: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pre_activations(xs))

    def decode_scaled(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.p["W_dec"] + self.p["b_dec"]

    def initialize(self, xs: torch.Tensor, gen: torch.Generator, device: str) -> None:
        """The initial parameters (see the module docstring) for scaled training rows ``xs``."""
        n, d = xs.shape
        m = int(round(float(self.params["width"]) * d))
        W = torch.randn(m, d, generator=gen, device=device)
        W = W / W.norm(dim=1, keepdim=True)
        self.p = {"W_dec": W.clone(), "W_enc": W.clone(), "b_enc": torch.zeros(m, device=device),
                  "b_dec": xs[: min(n, 4096)].mean(0).clone()}
        self.p.update(self.extra_parameters(d, m, gen, device))
        for t in self.p.values():
            t.requires_grad_(True)
        self.device = device

    # ---------------------------------------------------------------- the contract
    def encode(self, x):
        with torch.no_grad():
            return self.encode_scaled(torch.as_tensor(x, device=self.device).float() / self.scale)

    def decode(self, z):
        with torch.no_grad():
            return self.decode_scaled(torch.as_tensor(z, device=self.device).float()) * self.scale

    @property
    def dictionary(self):
        """The atoms in the units of the activations: ``decode(z) = z @ dictionary + decode(0)`` (the unit-norm
        model atoms times the input scale, since the codes are in scaled units)."""
        return self.p["W_dec"].detach() * self.scale

    def _param_groups(self) -> list[dict[str, Any]]:
        lr = float(self.params["lr"])
        scales = self.lr_scales()
        unknown = sorted(set(scales) - set(self.p))
        if unknown:
            raise ValueError(f"lr_scales names unknown parameter(s) {unknown}; parameters: {sorted(self.p)}")
        plain = [t for k, t in self.p.items() if k not in scales]
        return ([{"params": plain, "lr": lr}] if plain else []) + [
            {"params": [self.p[k]], "lr": lr * float(f)} for k, f in scales.items()]

    def fit(self, acts, ctx: Context) -> None:
        x = torch.as_tensor(acts).float().to(ctx.device)
        self.device = ctx.device
        n, d = x.shape
        with torch.no_grad():
            self.scale = float(x.pow(2).sum(1).mean().sqrt().clamp_min(1e-12))
        x = x / self.scale
        gen = ctx.torch_generator(1)
        self.initialize(x, gen, ctx.device)
        opt = torch.optim.Adam(self._param_groups(), lr=float(self.params["lr"]))
        bs = int(min(self.budget["batch_size"], n))
        self.total_steps = max(1, int(math.ceil(float(self.budget["tokens"]) / bs)))
        self.tokens_seen = self.total_steps * bs  # the training throughput counts these (see tracks.saes)
        perm = torch.randperm(n, generator=gen, device=ctx.device)
        pos = 0
        t0 = time.perf_counter()
        for step in range(self.total_steps):
            self.step_count = step
            if pos + bs > n:
                perm = torch.randperm(n, generator=gen, device=ctx.device)
                pos = 0
            xs = x[perm[pos:pos + bs]]
            pos += bs
            opt.zero_grad(set_to_none=True)
            _, loss = self.forward_train(xs)
            loss.backward()
            W_dec = self.p["W_dec"]
            if self.unit_norm_decoder and W_dec.grad is not None:
                with torch.no_grad():
                    Wn = W_dec / W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
                    W_dec.grad -= (W_dec.grad * Wn).sum(1, keepdim=True) * Wn
            torch.nn.utils.clip_grad_norm_(list(self.p.values()), 1.0)
            opt.step()
            if self.unit_norm_decoder:
                with torch.no_grad():
                    W_dec.div_(W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12))
            self.after_step(xs)
            if step % 50 == 0:
                ctx.progress(step / self.total_steps, f"step {step}/{self.total_steps} ({time.perf_counter() - t0:.1f} s)")
        for t in self.p.values():
            t.requires_grad_(False)
        with torch.no_grad():
            self.after_fit(x[perm[: min(n, 8192)]])


class DeadLatentTracker:
    """Tokens since each latent last fired during training; a latent is dead once that count exceeds
    ``window`` tokens (the window is stated in tokens, as the anchors should)."""

    def __init__(self, m: int, window: int, device: str) -> None:
        self.since = torch.zeros(m, dtype=torch.long, device=device)
        self.window = int(window)

    def update(self, fired_cols: torch.Tensor, batch: int) -> None:
        self.since += batch
        self.since[fired_cols] = 0

    def dead(self) -> torch.Tensor:
        return self.since > self.window
