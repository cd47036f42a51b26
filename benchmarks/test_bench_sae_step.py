"""Time of one SAE training step (forward + backward) against the naive dense TopK reference of the SAE issue.

Shape: d = 384, width 3,072, batch 4,096, k = 32, fp32, two threads. Measured in the same run:

* ``reference_matmul``: one ``[4096, 384] @ [384, 3072]`` matmul (the encoder's FLOPs), for FLOP/s;
* ``dense_topk_reference``: dense encoder, scatter of the top k into a dense code, dense decoder, autograd
  through all of it (about six matmuls of that size);
* ``topk``, ``batch_topk``, ``jumprelu``: the shared trainer's steps (:mod:`bench_core.sae_training`): one
  dense encoder matmul without autograd to choose the active set, then O(nnz · d) gathers, a sparse
  ``∂W_enc`` and an ``embedding_bag`` decoder. JumpReLU is measured after its threshold has been set so that
  about k latents per row are active (the state a calibrated JumpReLU trains in).

* ``sparsify_topk``: the anchor, EleutherAI's ``sparsify`` (PyPI ``eai-sparsify``), its CPU path: the
  ``FusedEncoder`` autograd function of ``sparsify/fused_encoder.py`` (dense encoder, ``torch.topk``, a
  backward over the k selected pairs: ``embedding_bag`` for ``∂x``, ``index_add_`` of per-pair outer products
  for ``∂W_enc``) and its eager decoder (``sparsify.utils.eager_decode``: ``F.embedding_bag`` over the active
  atoms; the Triton decoder is GPU-only). It is timed only where ``eai-sparsify`` is installed. It is a
  benchmark-only extra and not a project dependency: its package ``__init__`` imports its trainer, which
  needs ``datasets`` (with ``pyarrow``, ``pandas``), ``accelerate``, ``einops``, ``natsort``,
  ``schedulefree`` and ``simple-parsing``; nothing is downloaded from a hub on install or import. So that
  those are not needed, install it with ``pip install --no-deps eai-sparsify``: the module
  ``fused_encoder.py`` (which imports only torch) is loaded from the installed files without running the
  package ``__init__``, and the eager decoder, one ``F.embedding_bag`` call that ``sparsify.utils`` defines
  (that module imports ``accelerate``), is called with the same arguments here.

Run: ``python -m pytest benchmarks/test_bench_sae_step.py --benchmark-enable -q``, or
``python benchmarks/test_bench_sae_step.py`` to print the ratios (target: TopK ≤ 0.5 × the reference). Nothing
is asserted about time; the tests check that each step's gradients are finite.
"""

from __future__ import annotations

import time

import pytest
import torch

D, WIDTH, BATCH, K, THREADS = 384, 3072, 4096, 32, 2


def _data(device="cpu"):
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(BATCH, D, generator=g, device=device) / D ** 0.5
    return x, g


def dense_reference_step(state):
    """The issue's naive TopK step: dense code and decoder, autograd."""
    x, W_enc, b_enc, W_dec, b_dec = state
    pre = torch.relu((x - b_dec) @ W_enc.T + b_enc)
    top = torch.topk(pre, K, dim=1)
    z = torch.zeros_like(pre).scatter(1, top.indices, top.values)
    xhat = z @ W_dec + b_dec
    loss = (x - xhat).pow(2).sum(1).mean()
    loss.backward()
    return loss


def make_reference(device="cpu"):
    x, g = _data(device)
    W = torch.randn(WIDTH, D, generator=g, device=device)
    W = W / W.norm(dim=1, keepdim=True)
    params = [W.clone().requires_grad_(True), torch.zeros(WIDTH, device=device, requires_grad=True),
              W.clone().requires_grad_(True), torch.zeros(D, device=device, requires_grad=True)]
    return (x, params[0], params[1], params[2], params[3])


def make_trained(name: str, device="cpu"):
    from plugins.saes import trained

    cls = {c.name: c for c in trained.TRAINED}[name]
    kw = {"width": WIDTH / D}
    if cls.sparsity_param == "k":
        kw["k"] = K
    sae = cls(**kw)
    sae.budget = {"tokens": 10**9, "batch_size": BATCH}
    x, g = _data(device)
    sae.initialize(x, g, device)
    if name == "jumprelu":  # thresholds that leave about K active per row
        with torch.no_grad():
            pre = sae.pre_activations(x)
            th = torch.quantile(pre[:512].reshape(-1), 1 - K / WIDTH)
            sae.p["log_theta"].fill_(float(th.log()))
    return sae, x


def sparsify_fused_encoder():
    """``sparsify.fused_encoder.fused_encoder`` loaded from the installed ``eai-sparsify`` files without its
    package ``__init__`` (see the module docstring); ``None`` when it is not installed."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sparsify")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "fused_encoder.py"
    if not path.is_file():
        return None
    mod_spec = importlib.util.spec_from_file_location("_featbench_sparsify_fused_encoder", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.fused_encoder


def sparsify_step(fused_encoder, state):
    """One TopK step the way ``sparsify.SparseCoder`` computes it on the CPU: ``fused_encoder`` on the centred
    input, then the eager decoder ``embedding_bag(top_indices, W_dec, per_sample_weights=top_acts)``."""
    x, W_enc, b_enc, W_dec, b_dec = state
    for t in (W_enc, b_enc, W_dec, b_dec):
        t.grad = None
    top_acts, top_indices, _pre = fused_encoder(x - b_dec, W_enc, b_enc, K, "topk")
    xhat = torch.nn.functional.embedding_bag(top_indices, W_dec, per_sample_weights=top_acts, mode="sum") + b_dec
    loss = (x - xhat).pow(2).sum(1).mean()
    loss.backward()
    return loss


def trained_step(sae, x):
    for t in sae.p.values():
        t.grad = None
    _, loss = sae.forward_train(x)
    loss.backward()
    return loss


@pytest.fixture(scope="module", autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(old)


def test_bench_reference_matmul(benchmark):
    x, g = _data()
    W = torch.randn(WIDTH, D, generator=g)
    benchmark.pedantic(lambda: x @ W.T, rounds=5, warmup_rounds=1)


def test_bench_dense_topk_reference(benchmark):
    state = make_reference()
    loss = benchmark.pedantic(lambda: dense_reference_step(state), rounds=3, warmup_rounds=1)
    assert torch.isfinite(loss)


@pytest.mark.parametrize("name", ["topk", "batch_topk", "jumprelu"])
def test_bench_trained_step(benchmark, name):
    sae, x = make_trained(name)
    loss = benchmark.pedantic(lambda: trained_step(sae, x), rounds=3, warmup_rounds=1)
    assert torch.isfinite(loss)
    for key in ("W_enc", "W_dec", "b_enc", "b_dec"):
        assert sae.p[key].grad is not None and torch.isfinite(sae.p[key].grad).all(), key


def test_bench_sparsify_topk(benchmark):
    fused_encoder = sparsify_fused_encoder()
    if fused_encoder is None:
        pytest.skip("eai-sparsify is not installed (pip install --no-deps eai-sparsify)")
    state = make_reference()
    loss = benchmark.pedantic(lambda: sparsify_step(fused_encoder, state), rounds=3, warmup_rounds=1)
    assert torch.isfinite(loss)
    # the same loss as the dense reference step on the same parameters (both are TopK with a ReLU)
    ref = dense_reference_step(make_reference())
    assert float(loss) == pytest.approx(float(ref), rel=1e-4)
    for t in state[1:]:
        assert t.grad is not None and torch.isfinite(t.grad).all()


def _time(fn, rounds=5):
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(device="cpu", rounds=5):  # pragma: no cover - a measurement script
    torch.set_num_threads(THREADS)
    x, g = _data(device)
    W = torch.randn(WIDTH, D, generator=g, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def timed(f):
        def run():
            f()
            sync()
        return _time(run, rounds)

    mm = timed(lambda: x @ W.T)
    state = make_reference(device)
    ref = timed(lambda: dense_reference_step(state))
    flops = 6 * 2 * BATCH * D * WIDTH
    print(f"device {device}, {torch.get_num_threads()} threads; best of {rounds}")
    print(f"matmul [{BATCH},{D}]x[{D},{WIDTH}]: {mm * 1e3:.2f} ms ({2 * BATCH * D * WIDTH / mm / 1e9:.1f} GFLOP/s)")
    print(f"dense TopK reference step: {ref * 1e3:.2f} ms (~6 matmuls: {flops / ref / 1e9:.1f} GFLOP/s, "
          f"{(flops / ref) / (2 * BATCH * D * WIDTH / mm):.0%} of the matmul rate)")
    for name in ("topk", "batch_topk", "jumprelu"):
        sae, xx = make_trained(name, device)
        t = timed(lambda: trained_step(sae, xx))
        print(f"{name:10s} step: {t * 1e3:.2f} ms = {t / ref:.2f} x the reference")
    fused_encoder = sparsify_fused_encoder()
    if fused_encoder is None:
        print("sparsify: not installed (pip install --no-deps eai-sparsify)")
    else:
        sp_state = make_reference(device)
        t = timed(lambda: sparsify_step(fused_encoder, sp_state))
        print(f"sparsify TopK step (fused encoder, eager decoder): {t * 1e3:.2f} ms = {t / ref:.2f} x the reference")


if __name__ == "__main__":  # pragma: no cover
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else "cpu")
