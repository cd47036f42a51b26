"""SAEs on the shared trainer (:mod:`bench_core.sae_training`): each supplies its activation rule and its
sparsity loss; scaling, initialisation, Adam, unit-norm atoms, budget and device come from the trainer.

Sparsity knobs (``sparsity_param``): ``k`` (TopK-like: set to the target L0 by the protocol) or a penalty
coefficient (``l1``, ``l0_coef``: calibrated by the protocol's bisection on a held-out slice of the training
rows). top-AFA has no knob (it chooses each row's L0 itself) and is evaluated at its own L0.
"""

from __future__ import annotations

import torch

from bench_core import hookimpl
from bench_core.sae_training import (
    DeadLatentTracker,
    TrainedSAE,
    mask_pairs,
    normalized_mse,
    sparse_decode,
    sparse_encode,
    topk_pairs,
)
from bench_core.tracks.base import Tags

GAO = "L. Gao et al., Scaling and evaluating sparse autoencoders (arXiv 2406.04093, 2024)"


class _AuxK:
    """AuxK (Gao et al.): the top-``k_aux`` dead latents (by pre-activation) reconstruct the detached
    residual; loss ‖e − ê‖² / ‖e − ē‖², weight ``aux_coef`` (1/32). Dead = no firing for ``tokens/5``
    training tokens; ``k_aux = d/2``."""

    def _init_tracker(self, m: int, device: str) -> None:
        self.tracker = DeadLatentTracker(m, max(1, int(self.budget["tokens"]) // 5), device)

    def _aux_loss(self, xs, xhat, xc, pre, d: int):
        if not hasattr(self, "tracker"):
            self._init_tracker(pre.shape[1], xs.device.type)
        dead = self.tracker.dead()
        n_dead = int(dead.sum())
        if n_dead == 0:
            return xs.new_zeros(())
        p = self.p
        k_aux = min(max(1, d // 2), n_dead)
        with torch.no_grad():
            rows, cols, offsets = topk_pairs(pre.masked_fill(~dead, float("-inf")), k_aux)
        vals = torch.relu(sparse_encode(xc, p["W_enc"], p["b_enc"], pre, rows, cols, offsets))
        e = (xs - xhat).detach()
        ehat = sparse_decode(cols, offsets, vals, p["W_dec"], 0.0)
        denom = (e - e.mean(0)).pow(2).sum(1).mean().clamp_min(1e-12)
        return (e - ehat).pow(2).sum(1).mean() / denom


class TopK(_AuxK, TrainedSAE):
    """TopK SAE with AuxK (Gao et al. 2024): f = TopK_k(ReLU(W_enc(x − b_dec) + b_enc)), sparse step."""

    name = "topk"
    version = "1"
    params = {"width": 4, "lr": 3e-3, "k": 8, "aux_coef": 1 / 32}
    sparsity_param = "k"
    tags = Tags(supervised=False, stochastic=True, reimplementation_of=GAO)

    def forward_train(self, xs):
        p = self.p
        xc = xs - p["b_dec"]
        with torch.no_grad():
            pre = xc @ p["W_enc"].T + p["b_enc"]
            rows, cols, offsets = self.select(pre, xs)
        vals = self.activate(sparse_encode(xc, p["W_enc"], p["b_enc"], pre, rows, cols, offsets))
        xhat = sparse_decode(cols, offsets, vals, p["W_dec"], p["b_dec"])
        loss = normalized_mse(xs, xhat) + self.extra_loss(xs, rows, vals)
        if not hasattr(self, "tracker"):
            self._init_tracker(pre.shape[1], xs.device.type)
        self.tracker.update(cols[vals.detach() != 0], xs.shape[0])
        if self.params.get("aux_coef", 0):
            loss = loss + float(self.params["aux_coef"]) * self._aux_loss(xs, xhat, xc, pre, xs.shape[1])
        return xhat, loss

    def select(self, pre, xs):
        """Row-sorted active pairs ``(rows, cols, offsets)`` of a batch (no autograd)."""
        return topk_pairs(pre, min(int(self.params["k"]), pre.shape[1]))

    def activate(self, vals):
        """The codes at the active pairs from their pre-activations."""
        return torch.relu(vals)

    def extra_loss(self, xs, rows, vals):
        """A method-specific loss term on the active codes (none for TopK)."""
        return xs.new_zeros(())

    def encode_scaled(self, xs):
        pre = torch.relu(self.pre_activations(xs))
        k = min(int(self.params["k"]), pre.shape[1])
        top = torch.topk(pre, k, dim=1)
        return torch.zeros_like(pre).scatter_(1, top.indices, top.values)


class AbsTopK(TopK):
    """AbsTopK SAE (Zhu, Khalili, Zhu 2025, A6): keep the k pre-activations of largest |value| with their
    sign (no ReLU), so one latent can encode both poles of a direction; AuxK as TopK."""

    name = "abstopk"
    version = "1"
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="X. Zhu, M. M. Khalili, Z. Zhu, AbsTopK: Rethinking Sparse Autoencoders for "
                                    "Bidirectional Features (arXiv 2510.00404, 2025)")

    def select(self, pre, xs):
        return topk_pairs(pre, min(int(self.params["k"]), pre.shape[1]), by_abs=True)

    def activate(self, vals):
        return vals

    def encode_scaled(self, xs):
        pre = self.pre_activations(xs)
        k = min(int(self.params["k"]), pre.shape[1])
        idx = torch.topk(pre.abs(), k, dim=1).indices
        return torch.zeros_like(pre).scatter_(1, idx, pre.gather(1, idx))


class BatchTopK(TopK):
    """BatchTopK SAE (Bussmann et al. 2024): the top k·B ReLU pre-activations of the whole batch; at
    inference a global threshold θ, set after training so that the mean L0 on the training rows is k, makes
    it a JumpReLU (the reference implementations track θ by an EMA during training; with the short budgets
    here the EMA still carries its early values, so it is set once at the end instead)."""

    name = "batch_topk"
    version = "1"
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="B. Bussmann, P. Leask, N. Nanda, BatchTopK Sparse Autoencoders (arXiv 2412.06410, 2024)")

    def select(self, pre, xs):
        """The exact top k·B of the batch, found among each row's top ``4k`` candidates (the global top k·B
        lies among them unless some row holds more than 4k of it; then the full batch is searched)."""
        B, m = pre.shape
        k = int(self.params["k"])
        kk = min(k * B, B * m)
        c = min(m, 4 * k)
        cand = torch.topk(torch.relu(pre), c, dim=1, sorted=False)
        pos = torch.topk(cand.values.reshape(-1), kk, sorted=False).indices
        rows = pos // c
        counts = torch.bincount(rows, minlength=B)
        if c < m and int(counts.max()) >= c:  # a row may hold more: search everything
            flat = torch.relu(pre).reshape(-1)
            idx = torch.topk(flat, kk, sorted=False).indices
            rows, cols = idx // m, idx % m
        else:
            cols = cand.indices.reshape(-1)[pos]
        order = torch.argsort(rows * m + cols)
        rows, cols = rows[order], cols[order]
        counts = torch.bincount(rows, minlength=B)
        return rows, cols, torch.cumsum(counts, 0) - counts

    def after_fit(self, x):
        """The inference threshold θ: the (k·n)-th largest ReLU pre-activation over (up to 8,192) training
        rows, so that the mean L0 on the training rows is k (a JumpReLU with one global threshold)."""
        act = torch.relu(self.pre_activations(x)).reshape(-1)
        kk = min(int(self.params["k"]) * x.shape[0], act.numel())
        self.theta = torch.topk(act, kk, sorted=False).values.min()

    def encode_scaled(self, xs):
        pre = torch.relu(self.pre_activations(xs))
        return pre * (pre >= self.theta) * (pre > 0)


class FeatureChoice(BatchTopK):
    """Feature Choice SAE (Ayonrinde 2024, A5): each latent takes its top c = ⌈k·B/m⌉ tokens of the batch
    (at most c tokens per feature, a total budget of k·B); at inference a per-latent threshold (each latent's
    c-th largest value over the training rows, set after training) makes it a JumpReLU. AuxK as TopK (the paper's aux_zipf_loss is
    not implemented)."""

    name = "feature_choice"
    version = "1"
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="K. Ayonrinde, Adaptive Sparse Allocation with Mutual Choice & Feature Choice "
                                    "Sparse Autoencoders (arXiv 2411.02124, 2024)")

    def select(self, pre, xs):
        B, m = pre.shape
        c = max(1, min(B, -(-int(self.params["k"]) * B // m)))
        act = torch.relu(pre)
        top = torch.topk(act, c, dim=0)
        mask = torch.zeros_like(act, dtype=torch.bool).scatter_(0, top.indices, True) & (act > 0)
        return mask_pairs(mask)

    def after_fit(self, x):
        """Per-latent inference thresholds: each latent's c-th largest ReLU pre-activation over (up to 8,192)
        training rows, c = ⌈k·n/m⌉ (the training rule applied to one large batch)."""
        act = torch.relu(self.pre_activations(x))
        n, m = act.shape
        c = max(1, min(n, -(-int(self.params["k"]) * n // m)))
        self.theta = torch.topk(act, c, dim=0).values[-1]


class TopAFA(TopK):
    """top-AFA SAE (Lee et al. 2025, A1): no k; each row keeps its largest decoder-norm-scaled ReLU
    activations, in decreasing order, up to the count whose cumulative L2 norm is closest to ‖x − b_dec‖
    (the "norm-matching" rule), plus the AFA loss afa_coef·(‖f‖ − ‖x‖)². AuxK as TopK."""

    name = "top_afa"
    version = "1"
    params = {"width": 4, "lr": 3e-3, "aux_coef": 1 / 32, "afa_coef": 1.0}
    sparsity_param = None
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="S. Lee et al., Evaluating and Designing Sparse Autoencoders by Approximating "
                                    "Quasi-Orthogonality (arXiv 2503.24277, 2025)")

    def _mask(self, xs, pre):
        act = torch.relu(pre)
        target = (xs - self.p["b_dec"]).norm(dim=1, keepdim=True)
        scaled = (act * self.p["W_dec"].norm(dim=1)).pow(2)
        srt, order = torch.sort(scaled, dim=1, descending=True)
        cum = torch.cumsum(srt, dim=1).sqrt()
        k = (cum - target).abs().argmin(dim=1, keepdim=True) + 1
        keep_sorted = torch.arange(pre.shape[1], device=pre.device)[None, :] < k
        return torch.zeros_like(keep_sorted).scatter_(1, order, keep_sorted) & (act > 0)

    def select(self, pre, xs):
        return mask_pairs(self._mask(xs, pre))

    def extra_loss(self, xs, rows, vals):
        f2 = torch.zeros(xs.shape[0], dtype=vals.dtype, device=vals.device).index_add(0, rows, vals * vals)
        return float(self.params["afa_coef"]) * (f2.clamp_min(1e-24).sqrt() - xs.norm(dim=1)).pow(2).mean()

    def encode_scaled(self, xs):
        pre = self.pre_activations(xs)
        return torch.relu(pre) * self._mask(xs, pre)


class ReluL1(TrainedSAE):
    """ReLU SAE with an L1 penalty (Bricken et al. 2023, "Towards Monosemanticity"): f = ReLU(W_enc(x − b_dec)
    + b_enc), loss ‖x − x̂‖² + l1·‖f‖₁ with unit-norm atoms; the penalty is calibrated to each target L0."""

    name = "relu_l1"
    version = "1"
    params = {"width": 4, "lr": 3e-3, "l1": 0.05}
    sparsity_param = "l1"
    sparsity_mode = "penalty"
    penalty_range = (1e-3, 3.0)
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="T. Bricken et al., Towards Monosemanticity (Anthropic, 2023)")

    def penalty(self, f):
        return f.sum(1).mean()

    def forward_train(self, xs):
        f = torch.relu(self.pre_activations(xs))
        xhat = f @ self.p["W_dec"] + self.p["b_dec"]
        return xhat, normalized_mse(xs, xhat) + float(self.params[self.sparsity_param]) * self.penalty(f)


class ReluL1DecoderNorm(ReluL1):
    """ReLU SAE with a decoder-norm-weighted L1 penalty and free atom norms (Anthropic "April update"
    2024): loss ‖x − x̂‖² + l1·Σ_j f_j ‖W_dec,j‖."""

    name = "relu_l1_decnorm"
    version = "1"
    unit_norm_decoder = False
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="Anthropic, Circuits Updates April 2024 (training SAEs: decoder-norm L1)")

    def penalty(self, f):
        return (f * self.p["W_dec"].norm(dim=1)).sum(1).mean()


class _JumpFn(torch.autograd.Function):
    """JumpReLU z·H(z − θ) with the straight-through threshold gradient of Rajamanoharan et al. (2024):
    ∂/∂θ = −(θ/ε)·K((z − θ)/ε), K the rectangle kernel of width 1."""

    @staticmethod
    def forward(ctx, z, theta, eps):
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return z * (z > theta)

    @staticmethod
    def backward(ctx, g):
        z, theta = ctx.saved_tensors
        eps = ctx.eps
        window = ((z - theta).abs() < eps / 2).to(g.dtype)
        return g * (z > theta), -(theta / eps) * window * g, None


class _StepFn(torch.autograd.Function):
    """H(z − θ) with ∂/∂θ = −(1/ε)·K((z − θ)/ε)."""

    @staticmethod
    def forward(ctx, z, theta, eps):
        ctx.save_for_backward(z, theta)
        ctx.eps = eps
        return (z > theta).to(z.dtype)

    @staticmethod
    def backward(ctx, g):
        z, theta = ctx.saved_tensors
        window = ((z - theta).abs() < ctx.eps / 2).to(g.dtype)
        return None, -(1.0 / ctx.eps) * window * g, None


class JumpReLU(TrainedSAE):
    """JumpReLU SAE (Rajamanoharan et al. 2024; the threshold SAE of A7): f = z·H(z − θ), z = W_enc(x −
    b_dec) + b_enc, per-latent θ > 0 (log-parametrised) learnt with the straight-through estimator
    (rectangle kernel), loss ‖x − x̂‖² + l0_coef·Σ_j H(z_j − θ_j). The activation rule, the estimator and the
    loss are the reference's; three settings are not, for these short budgets (320 steps at ``standard``
    against the reference's billions of tokens):

    * bandwidth ε = 0.05 (reference 0.001, which leaves θ almost still at these budgets);
    * θ starts from the data (``theta_init=None``): each latent's threshold is set so that it fires on
      1/``width`` of (up to 4,096) training rows at initialisation, so the initial L0 is about d (reference:
      a constant 0.001). A number sets a constant start instead. Version 1 started at 1/√d, which on
      digits_mlp_l1 (d = 64) was above most pre-activations: L0 about 4 whatever the penalty;
    * θ learns ``theta_lr_scale`` = 10 times faster than the other parameters. Adam moves log θ by about its
      learning rate per step, so at the common 3e-3 θ could change by at most a factor e ≈ 2.7 in 320 steps,
      and the penalty hardly moved L0 (version 1 on MiniLM: L0 23-39 for targets 8-64 over the whole penalty
      range). The reference shares one learning rate.

    Sparse step: only pairs with z > θ − ε/2 (the active ones and the kernel's window) enter the step."""

    name = "jumprelu"
    version = "2"
    params = {"width": 4, "lr": 3e-3, "l0_coef": 0.01, "bandwidth": 0.05, "theta_init": None,
              "theta_lr_scale": 10.0}
    sparsity_param = "l0_coef"
    sparsity_mode = "penalty"
    penalty_range = (1e-4, 1.0)
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="S. Rajamanoharan et al., Jumping Ahead: Improving Reconstruction Fidelity with "
                                    "JumpReLU Sparse Autoencoders (arXiv 2407.14435, 2024)")

    def extra_parameters(self, d, m, gen, device):
        init = self.params["theta_init"]
        init = 1.0 if init is None else float(init)  # None: set from the data in initialize()
        return {"log_theta": torch.full((m,), float(torch.log(torch.tensor(init))), device=device)}

    def initialize(self, xs, gen, device):
        super().initialize(xs, gen, device)
        if self.params["theta_init"] is None:
            with torch.no_grad():
                pre = self.pre_activations(xs[: min(xs.shape[0], 4096)])
                n0 = pre.shape[0]
                k = min(n0 - 1, max(1, int(round(n0 / float(self.params["width"])))))
                # the (k+1)-th largest value of each latent: k rows lie above it
                theta = torch.topk(pre, k + 1, dim=0).values[-1]
                self.p["log_theta"].copy_(theta.clamp_min(1e-3).log())

    def lr_scales(self):
        return {"log_theta": float(self.params["theta_lr_scale"])}

    def forward_train(self, xs):
        p = self.p
        eps = float(self.params["bandwidth"])
        xc = xs - p["b_dec"]
        theta = p["log_theta"].exp()
        with torch.no_grad():
            pre = xc @ p["W_enc"].T + p["b_enc"]
            rows, cols, offsets = mask_pairs(pre > theta - eps / 2)
        z = sparse_encode(xc, p["W_enc"], p["b_enc"], pre, rows, cols, offsets)
        th = theta[cols]
        f = _JumpFn.apply(z, th, eps)
        xhat = sparse_decode(cols, offsets, f, p["W_dec"], p["b_dec"])
        l0 = _StepFn.apply(z, th, eps).sum() / xs.shape[0]
        return xhat, normalized_mse(xs, xhat) + float(self.params["l0_coef"]) * l0

    def encode_scaled(self, xs):
        pre = self.pre_activations(xs)
        return pre * (pre > self.p["log_theta"].exp())


class Gated(TrainedSAE):
    """Gated SAE (Rajamanoharan et al. 2024): π_gate = W_gate(x − b_dec) + b_gate, W_mag = exp(r_mag) ⊙
    W_gate, f = 1[π_gate > 0]·ReLU(π_mag); loss ‖x − x̂‖² + l1·‖ReLU(π_gate)‖₁ + ‖x − x̂_frozen(ReLU(π_gate))‖²
    (the auxiliary reconstruction uses a detached decoder). ``W_enc``/``b_enc`` of the trainer are the gate."""

    name = "gated"
    version = "1"
    params = {"width": 4, "lr": 3e-3, "l1": 0.05}
    sparsity_param = "l1"
    sparsity_mode = "penalty"
    penalty_range = (1e-3, 3.0)
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="S. Rajamanoharan et al., Improving Dictionary Learning with Gated Sparse "
                                    "Autoencoders (arXiv 2404.16014, 2024)")

    def extra_parameters(self, d, m, gen, device):
        return {"r_mag": torch.zeros(m, device=device), "b_mag": torch.zeros(m, device=device)}

    def _parts(self, xs):
        p = self.p
        xc = xs - p["b_dec"]
        gate = xc @ p["W_enc"].T + p["b_enc"]
        mag = (xc @ p["W_enc"].T) * p["r_mag"].exp() + p["b_mag"]
        return gate, (gate > 0) * torch.relu(mag)

    def forward_train(self, xs):
        gate, f = self._parts(xs)
        p = self.p
        xhat = f @ p["W_dec"] + p["b_dec"]
        g = torch.relu(gate)
        aux = g @ p["W_dec"].detach() + p["b_dec"].detach()
        loss = normalized_mse(xs, xhat) + float(self.params["l1"]) * g.sum(1).mean() + normalized_mse(xs, aux)
        return xhat, loss

    def encode_scaled(self, xs):
        return self._parts(xs)[1]


class Matryoshka(BatchTopK):
    """Matryoshka BatchTopK SAE (Bussmann et al. 2025): BatchTopK codes; the loss averages the reconstruction
    error of the nested prefixes of the latents (fractions 1/8, 1/4, 1/2, 1 of the width, equal weights),
    plus AuxK. Dense step (every prefix is decoded)."""

    name = "matryoshka"
    version = "1"
    tags = Tags(supervised=False, stochastic=True,
                reimplementation_of="B. Bussmann et al., Learning Multi-Level Features with Matryoshka Sparse "
                                    "Autoencoders (arXiv 2503.17547, 2025)")

    def forward_train(self, xs):
        p = self.p
        xc = xs - p["b_dec"]
        with torch.no_grad():
            pre = xc @ p["W_enc"].T + p["b_enc"]
            rows, cols, offsets = self.select(pre, xs)
        vals = torch.relu(sparse_encode(xc, p["W_enc"], p["b_enc"], pre, rows, cols, offsets))
        m = pre.shape[1]
        loss = xs.new_zeros(())
        xhat = p["b_dec"].expand_as(xs)
        prev = 0
        bounds = sorted({max(1, m // 8), max(1, m // 4), max(1, m // 2), m})
        for b in bounds:
            sel = (cols >= prev) & (cols < b)
            part = torch.zeros_like(xs).index_add(0, rows[sel], vals[sel, None] * p["W_dec"][cols[sel]])
            xhat = xhat + part
            loss = loss + normalized_mse(xs, xhat)
            prev = b
        loss = loss / len(bounds)
        if not hasattr(self, "tracker"):
            self._init_tracker(m, xs.device.type)
        self.tracker.update(cols[vals.detach() > 0], xs.shape[0])
        loss = loss + float(self.params["aux_coef"]) * self._aux_loss(xs, xhat, xc, pre, xs.shape[1])
        return xhat, loss


TRAINED = [TopK, BatchTopK, FeatureChoice, AbsTopK, TopAFA, ReluL1, ReluL1DecoderNorm, JumpReLU, Gated, Matryoshka]


@hookimpl
def featbench_register_saes(register) -> None:
    for cls in TRAINED:
        register.add(cls)
