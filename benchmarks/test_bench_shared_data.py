"""Cost of the shared model-computed data: MiniLM activations (tokens/s) and digits-network training.

Run: ``python -m pytest benchmarks/test_bench_shared_data.py --benchmark-enable -q -s``. Two threads for the
transformer (``FEATBENCH_MODEL_THREADS=2``), one for the networks (their training always uses one). Targets
(2 idle cores): ≈ 3,000 tokens/s for the activation run, seconds per network. Nothing is asserted about time;
quote the figures as ratios to ``test_bench_reference_matmul`` of the same run (a 4096² fp32 matmul on the
same two threads), since the machines are shared.
"""

from __future__ import annotations

import os
import time

import pytest

THREADS = 2


@pytest.fixture(scope="module", autouse=True)
def _setup(tmp_path_factory):
    import torch

    old = {k: os.environ.get(k) for k in ("FEATBENCH_CACHE_DIR", "FEATBENCH_MODEL_THREADS")}
    os.environ["FEATBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("bench-cache"))
    os.environ["FEATBENCH_MODEL_THREADS"] = str(THREADS)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(old_threads)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_bench_minilm_activations(benchmark):
    """One activation run of 240 documents (≤ 128 tokens each, ≈ 12k tokens): all 7 layers, cached."""
    from plugins.datasets import minilm

    minilm.load_model()  # loading (≈ 2-5 s) is outside the timing
    minilm.model_sha()
    sizes = iter(range(240, 10**6, 8))  # a fresh corpus per round, so every round runs the model

    def run():
        t0 = time.process_time()
        path, meta = minilm.activations(max_docs=next(sizes), max_tokens_per_doc=128)
        benchmark.extra_info["cpu_s"] = round(time.process_time() - t0, 3)
        return path, meta

    path, meta = benchmark.pedantic(run, rounds=1, iterations=1)
    tps = meta["n_tokens"] / benchmark.stats.stats.min
    benchmark.extra_info.update(tokens=meta["n_tokens"], tokens_per_s=round(tps), threads=THREADS,
                                cache_mb=round(path.stat().st_size / 2**20, 1))
    print(f"\nminilm activations: {meta['n_tokens']:,} tokens, {tps:,.0f} tokens/s on {THREADS} threads, "
          f"cache {path.stat().st_size / 2**20:.1f} MiB")


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_bench_digits_network(benchmark, arch):
    """Training one digits network (default epochs) on one thread."""
    from plugins.datasets import networks

    X, y = networks.digits()
    train, _ = networks.digits_split(y)
    cond = networks._condition({})
    seeds = iter(range(100))

    def fit():
        return networks._train(arch, next(seeds), cond, networks.EPOCHS[arch], X, y, train)

    benchmark.pedantic(fit, rounds=2, iterations=1)
    benchmark.extra_info.update(epochs=networks.EPOCHS[arch], rows=len(train))


def test_bench_reference_matmul(benchmark):
    """The same-run reference: a 4096² float32 matrix product on the same two threads."""
    import torch

    a = torch.randn(4096, 4096, generator=torch.Generator().manual_seed(0))
    b = torch.randn(4096, 4096, generator=torch.Generator().manual_seed(1))
    a @ b  # warm-up
    benchmark.pedantic(lambda: a @ b, rounds=5, iterations=1)
    gflops = 2 * 4096**3 / benchmark.stats.stats.min / 1e9
    benchmark.extra_info.update(gflops=round(gflops, 1), threads=THREADS)
    print(f"\n4096² fp32 matmul on {THREADS} threads: {gflops:.0f} GFLOP/s ({benchmark.stats.stats.min:.3f} s)")
