"""The shared SAE trainer: the sparse steps equal their dense autograd definitions, BatchTopK's candidate search
is exact, fits are deterministic given the seed, inputs are scaled to E‖x‖² = 1, and a third-party SAE written
against the contract runs on the trainer through the protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench_core.sae_training import TrainedSAE, normalized_mse
from bench_core.tracks.base import Context, Tags
from plugins.saes import trained


def _sae(cls, d=16, width=4, B=32, seed=0, **params):
    sae = cls(width=width, **params)
    sae.budget = {"tokens": 10_000, "batch_size": B}
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, d, generator=g) / d ** 0.5 + 0.1
    sae.initialize(x, g, "cpu")
    with torch.no_grad():  # break the tied initialisation so that encoder and decoder gradients differ
        sae.p["W_enc"].add_(0.1 * torch.randn(sae.p["W_enc"].shape, generator=g))
        sae.p["b_enc"].add_(0.01 * torch.randn(sae.p["b_enc"].shape, generator=g))
    return sae, x


def _grads(sae):
    return {k: v.grad.clone() for k, v in sae.p.items() if v.grad is not None}


def _dense_topk_loss(p, x, k, by_abs=False):
    pre = (x - p["b_dec"]) @ p["W_enc"].T + p["b_enc"]
    if by_abs:
        idx = torch.topk(pre.abs(), k, dim=1).indices
        z = torch.zeros_like(pre).scatter(1, idx, pre.gather(1, idx))
    else:
        top = torch.topk(torch.relu(pre), k, dim=1)
        z = torch.zeros_like(pre).scatter(1, top.indices, top.values)
    xhat = z @ p["W_dec"] + p["b_dec"]
    return normalized_mse(x, xhat)


@pytest.mark.parametrize("cls, by_abs", [(trained.TopK, False), (trained.AbsTopK, True)])
def test_sparse_topk_step_equals_the_dense_autograd_step(cls, by_abs):
    sae, x = _sae(cls, k=4, aux_coef=0.0)
    _, loss = sae.forward_train(x)
    loss.backward()
    sparse = _grads(sae)
    for v in sae.p.values():
        v.grad = None
    ref = _dense_topk_loss(sae.p, x, 4, by_abs)
    ref.backward()
    dense = _grads(sae)
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    for key in ("W_enc", "b_enc", "W_dec", "b_dec"):
        torch.testing.assert_close(sparse[key], dense[key], rtol=1e-4, atol=1e-6, msg=key)


def test_batch_topk_candidates_give_the_exact_batch_top_k():
    sae, x = _sae(trained.BatchTopK, k=3)
    with torch.no_grad():
        pre = sae.pre_activations(x)
        pre[0] += 10.0  # row 0 holds far more than 4k of the batch's top k·B: the fallback path
        for pre_ in (sae.pre_activations(x), pre):
            rows, cols, offsets = sae.select(pre_, x)
            flat = torch.relu(pre_).reshape(-1)
            want = set(torch.topk(flat, 3 * x.shape[0]).indices.tolist())
            got = set((rows * pre_.shape[1] + cols).tolist())
            assert got == want
            assert torch.all(rows[1:] >= rows[:-1]), "pairs must be row-sorted for embedding_bag"
            assert offsets.tolist() == (torch.cumsum(torch.bincount(rows, minlength=x.shape[0]), 0)
                                        - torch.bincount(rows, minlength=x.shape[0])).tolist()


def test_sparse_jumprelu_step_equals_the_dense_step():
    sae, x = _sae(trained.JumpReLU, l0_coef=0.05, bandwidth=0.05)
    with torch.no_grad():
        sae.p["log_theta"].copy_(torch.log(torch.rand(sae.p["log_theta"].shape, generator=torch.Generator().manual_seed(3)) * 0.3 + 0.05))
    _, loss = sae.forward_train(x)
    loss.backward()
    sparse = _grads(sae)
    for v in sae.p.values():
        v.grad = None
    p = sae.p
    z = (x - p["b_dec"]) @ p["W_enc"].T + p["b_enc"]
    theta = p["log_theta"].exp().expand_as(z)
    f = trained._JumpFn.apply(z, theta, 0.05)
    xhat = f @ p["W_dec"] + p["b_dec"]
    ref = normalized_mse(x, xhat) + 0.05 * trained._StepFn.apply(z, theta, 0.05).sum() / x.shape[0]
    ref.backward()
    dense = _grads(sae)
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    assert dense["log_theta"].abs().sum() > 0, "the case must exercise the threshold gradient"
    for key in ("W_enc", "b_enc", "W_dec", "b_dec", "log_theta"):
        torch.testing.assert_close(sparse[key], dense[key], rtol=1e-4, atol=1e-6, msg=key)


def test_jumprelu_thresholds_start_from_the_data():
    """Each latent's threshold starts where it fires on 1/width of the initialisation rows (k of them)."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(400, 16, generator=g) * torch.linspace(0.2, 2.0, 16) + 0.3
    for width, k in ((4, 100), (8, 50)):
        sae = trained.JumpReLU(width=width)
        sae.initialize(x, torch.Generator().manual_seed(1), "cpu")
        with torch.no_grad():
            fired = (sae.pre_activations(x) > sae.p["log_theta"].exp()).sum(0)
        assert sae.p["log_theta"].shape == (16 * width,)
        assert fired.tolist() == [k] * (16 * width)
    fixed = trained.JumpReLU(theta_init=0.2)
    fixed.initialize(x, torch.Generator().manual_seed(1), "cpu")
    torch.testing.assert_close(fixed.p["log_theta"].exp(), torch.full((64,), 0.2))


def test_lr_scales_give_a_parameter_its_own_learning_rate():
    """Adam's first step moves every element with a gradient by its group's learning rate (|m/√v| = 1)."""

    class Spy(trained.JumpReLU):
        def initialize(self, xs, gen, device):
            super().initialize(xs, gen, device)
            self.start = {k: v.detach().clone() for k, v in self.p.items()}

    x = _acts()
    sae = Spy(lr=1e-3, theta_lr_scale=7.0, l0_coef=0.1)
    sae.budget = {"tokens": 256, "batch_size": 256}  # one step
    sae.fit(x, Context(seed=0))
    moved = {k: (sae.p[k] - sae.start[k]).abs().max().item() for k in ("W_enc", "b_enc", "log_theta")}
    assert moved["W_enc"] == pytest.approx(1e-3, rel=1e-3)
    assert moved["b_enc"] == pytest.approx(1e-3, rel=1e-3)
    assert moved["log_theta"] == pytest.approx(7e-3, rel=1e-3)
    assert trained.JumpReLU().lr_scales() == {"log_theta": 10.0}

    class Wrong(trained.ReluL1):
        def lr_scales(self):
            return {"theta": 2.0}

    bad = Wrong()
    bad.budget = {"tokens": 256, "batch_size": 256}
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['theta'\]"):
        bad.fit(x, Context(seed=0))


def _acts(n=2048, d=16, seed=0):
    g = np.random.default_rng(seed)
    G = g.normal(size=(48, d))
    codes = (g.random((n, 48)) < 0.08) * g.uniform(0.5, 1.5, (n, 48))
    return torch.as_tensor(3.0 * (codes @ G), dtype=torch.float32)


@pytest.mark.parametrize("cls", trained.TRAINED)
def test_fit_is_deterministic_given_the_seed_and_scales_inputs(cls):
    x = _acts()
    kw = {"k": 4} if cls.sparsity_param == "k" else {}
    fits = []
    for _ in range(2):
        sae = cls(**kw)
        sae.budget = {"tokens": 2048, "batch_size": 256}
        sae.fit(x, Context(seed=5))
        fits.append(sae)
    for key in fits[0].p:
        torch.testing.assert_close(fits[0].p[key], fits[1].p[key], rtol=0, atol=0, msg=key)
    assert float((x / fits[0].scale).pow(2).sum(1).mean()) == pytest.approx(1.0, rel=1e-4)
    z = fits[0].encode(x[:64])
    xh = fits[0].decode(z)
    assert xh.shape == (64, 16) and torch.isfinite(xh).all()
    b = fits[0].decode(torch.zeros(1, z.shape[1]))
    torch.testing.assert_close(xh, z @ fits[0].dictionary + b, rtol=1e-4, atol=1e-5,
                               msg="the dictionary is in activation units: decode(z) = z D + decode(0)")
    other = cls(**kw)
    other.budget = {"tokens": 2048, "batch_size": 256}
    other.fit(x, Context(seed=6))
    assert not torch.equal(other.p["W_dec"], fits[0].p["W_dec"]), "another seed must give another fit"


class SoftplusSAE(TrainedSAE):
    """A third-party SAE on the shared trainer: ReLU codes with a log(1 + f) sparsity penalty."""

    name = "third_party_logpenalty"
    version = "1"
    params = {"width": 2, "lr": 3e-3, "coef": 0.05}
    sparsity_param = "coef"
    sparsity_mode = "penalty"
    penalty_range = (1e-3, 3.0)
    tags = Tags(supervised=False, stochastic=True)

    def forward_train(self, xs):
        f = torch.relu(self.pre_activations(xs))
        xhat = f @ self.p["W_dec"] + self.p["b_dec"]
        return xhat, normalized_mse(xs, xhat) + float(self.params["coef"]) * torch.log1p(f).sum(1).mean()


def test_a_third_party_sae_runs_on_the_shared_trainer_through_the_protocol(registry):
    from bench_core.data.dataset import materialise
    from bench_core.profiles import get_profile, track_settings
    from bench_core.tracks import TRACKS

    SoftplusSAE.validate_declaration()
    SoftplusSAE.validate_contract()
    card = registry.card("planted_quick")
    ds, _ = materialise(card, registry.loader_fns, registry.reader_fns, None)
    track = TRACKS["saes"]
    settings = {**track_settings(track, get_profile("smoke")), "tokens": 4096}
    steps = []
    out = track.run(SoftplusSAE(), ds, 0, settings, Context(seed=0, step=steps.append))
    t = settings["l0_targets"][0]
    assert out.scores["eval_rows@L0=%d" % t] == 2048
    assert 0 < out.scores[f"l0@L0={t}"] <= 64
    assert np.isfinite(out.scores["fvu_auc"]) and 0 <= out.scores[f"mcc@L0={t}"] <= 1
    assert any(s.startswith("calibration fit") for s in steps) and any(s.startswith("evaluation") for s in steps)
    assert out.outputs["calibration"][str(t)]["trace"], "the bisection trace is recorded"
