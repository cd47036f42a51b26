"""Representation families of the similarity track (task ``representations``), generated offline.

A family is one :class:`~bench_core.data.RawData`: ``X`` is its base representation, ``y`` zeros, and the
members the track's tests compare live in ``arrays`` (float64, covered by the card's data checksum);
``info["family"]`` names the family, and the other ``info`` keys give its doses and grids. Every generator is
deterministic given its ``seed``. The track ignores the (predefined, half/half) split: a family is scored as a
whole, and the job's split index only seeds the test's own draws (see :mod:`bench_core.tracks.similarity`).

Loaders (registered as ``similarity.<name>``):

``transforms``
    base ``x`` [n, d]: Gaussian with a geometrically decaying spectrum (1 down to ``spectrum_min``) in a random
    basis, so principal components are well separated; ``y`` [n, d_y]: a related representation
    ``x W + noise``. For each invariance transform T of :data:`~bench_core.tracks.similarity.INVARIANCES`,
    ``x_<T>`` and ``y_<T>`` apply T to one side: orthogonal map, isotropic scaling by 3.7, translation by a
    random vector of norm 5 x the data scale, a feature permutation, and an invertible linear map with
    condition number ``condition`` (random singular vectors, log-spaced singular values). Doses of ``x``:
    ``noise_<i>`` additive Gaussian noise at signal-to-noise ratio ``snr[i]`` (total variances), ``pctop_<i>`` /
    ``pcbottom_<i>`` the top / bottom ``pc_k[i]`` principal components deleted, ``outlier_<i>`` row 0 scaled by
    ``outlier_scales[i]``, ``featsub_<i>`` a random ``featsub[i]`` share of the features kept.
``null``
    independent standard Gaussian pairs ``n<n>_d<d>_x`` / ``n<n>_d<d>_y`` for every (n, d) of the grid.
``estimation``
    a jointly Gaussian pair with shared latent structure (``x`` [n_pop, d_x], ``y`` [n_pop, d_y]; rank-``latent``
    signal plus isotropic noise): the track subsamples n rows and compares with the value on all ``n_pop`` rows
    (a large-sample proxy of the population value).
``runtime``
    only a grid of (n, d) sizes in ``info``; the track draws the inputs itself.
``network_groups`` (controlled training conditions; ReSi tests 3-5)
    digits networks of the shared loader :mod:`plugins.datasets.networks` trained under one ``factor`` of
    :data:`~plugins.datasets.networks.CONDITION_KEYS` at each of ``levels`` (group ``g`` = level ``g``), from
    ``n_seeds`` seeds per group. The seeds are distinct across groups (group ``g`` uses seeds
    ``g * n_seeds`` … ``g * n_seeds + n_seeds - 1``), so that a cross-group pair never shares its initial
    weights and batch order: an intra-group pair must look alike because of the condition, not the seed (with
    level 0 first, group 0 is the plain seeds 0 … n_seeds - 1, shared with ``digits.networks``' cache). ``X``
    the 539 held-out digits (plain: a shortcut is removed at evaluation); ``arrays`` ``g<g>_s<i>_l<layer>``
    (every hidden layer of the ``i``-th network of group ``g``) and ``g<g>_s<i>_logits``; ``info``: ``factor``,
    ``levels``, ``seeds`` (per group), ``widths``, ``accuracy`` (per group and network, held-out),
    ``layer`` (the hidden layer the track compares: the last one, as ReSi compares the last layer).
    ``eval_rows`` keeps that many held-out rows (``networks.eval_subset``).
``transformer_layers``
    the per-layer activations of the packaged sentence transformer (shared loader :mod:`plugins.datasets.minilm`,
    one cached model run per corpus): ``layer_0`` (embeddings output) … ``layer_6`` (block outputs), either the
    mean-pooled sentence embedding of each document (``rows = "sentences"``) or ``n_tokens`` token rows drawn
    without replacement from the documents' real tokens (``[CLS]``/``[SEP]`` excluded; ``rows = "tokens"``,
    numpy seed ``seed``), the same rows for every layer. ``X`` is ``layer_0``.
"""

from __future__ import annotations

import numpy as np

from bench_core.data import RawData


def _haar(rng: np.random.Generator, d: int) -> np.ndarray:
    Q, R = np.linalg.qr(rng.normal(size=(d, d)))
    return Q * np.sign(np.diag(R))


def _family(X: np.ndarray, arrays: dict[str, np.ndarray], info: dict) -> RawData:
    n = X.shape[0]
    half = n // 2
    return RawData(X=X, y=np.zeros(n, dtype=np.int64), arrays=arrays, info=info,
                   splits=[(np.arange(half), np.arange(half, n))])


def _transform(rng: np.random.Generator, Z: np.ndarray, kind: str, condition: float) -> np.ndarray:
    d = Z.shape[1]
    scale = float(np.sqrt((Z ** 2).sum() / Z.shape[0]))
    if kind == "orthogonal":
        return Z @ _haar(rng, d)
    if kind == "isotropic_scaling":
        return 3.7 * Z
    if kind == "translation":
        v = rng.normal(size=d)
        return Z + 5.0 * scale * v / np.linalg.norm(v)
    if kind == "permutation":
        return Z[:, rng.permutation(d)]
    if kind == "invertible_linear":
        s = np.geomspace(1.0, condition, d)
        return Z @ (_haar(rng, d) * s) @ _haar(rng, d)
    raise ValueError(kind)


def transforms(n: int = 300, d: int = 24, d_y: int = 16, spectrum_min: float = 0.05, condition: float = 10.0,
               snr: tuple = (100.0, 10.0, 3.0, 1.0, 0.3, 0.1), pc_k: tuple = (1, 2, 4, 8, 16),
               outlier_scales: tuple = (1.0, 3.0, 10.0, 30.0, 100.0), featsub: tuple = (0.75, 0.5, 0.25),
               seed: int = 0) -> RawData:
    """Synthetic transforms of a base representation (see the module docstring)."""
    from bench_core.tracks.similarity import INVARIANCES

    rng = np.random.default_rng([seed, 11])
    spectrum = np.geomspace(1.0, spectrum_min, d)
    X = (rng.normal(size=(n, d)) * spectrum) @ _haar(rng, d)
    Y = X @ rng.normal(size=(d, d_y)) / np.sqrt(d) + 0.3 * rng.normal(size=(n, d_y)) * spectrum.mean()
    arrays: dict[str, np.ndarray] = {"x": X, "y": Y}
    for kind in INVARIANCES:
        arrays[f"x_{kind}"] = _transform(rng, X, kind, condition)
        arrays[f"y_{kind}"] = _transform(rng, Y, kind, condition)
    var = (X - X.mean(0)).var(axis=0).sum()
    for i, r in enumerate(snr):
        arrays[f"noise_{i}"] = X + rng.normal(size=X.shape) * np.sqrt(var / r / d)
    Xc = X - X.mean(0)
    U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    for i, k in enumerate(pc_k):
        keep_top = np.ones(len(s), bool)
        keep_top[:k] = False
        keep_bottom = np.ones(len(s), bool)
        keep_bottom[len(s) - k:] = False
        arrays[f"pctop_{i}"] = (U[:, keep_top] * s[keep_top]) @ Vt[keep_top] + X.mean(0)
        arrays[f"pcbottom_{i}"] = (U[:, keep_bottom] * s[keep_bottom]) @ Vt[keep_bottom] + X.mean(0)
    for i, c in enumerate(outlier_scales):
        Z = X.copy()
        Z[0] *= c
        arrays[f"outlier_{i}"] = Z
    for i, f in enumerate(featsub):
        cols = np.sort(rng.choice(d, size=max(1, int(round(f * d))), replace=False))
        arrays[f"featsub_{i}"] = X[:, cols]
    info = {"family": "transforms", "n": n, "d": d, "d_y": d_y, "condition": condition, "snr": list(snr),
            "pc_k": list(pc_k), "outlier_scales": list(outlier_scales), "featsub": list(featsub)}
    return _family(X, arrays, info)


def null(grid: tuple = ((50, 10), (50, 1000), (200, 10), (200, 1000), (800, 10), (800, 200)),
         seed: int = 0) -> RawData:
    """Independent standard Gaussian pairs on an (n, d) grid (the first row of the grid's largest n with the
    smallest d is the benign reference cell)."""
    rng = np.random.default_rng([seed, 12])
    arrays = {}
    for n, d in grid:
        arrays[f"n{n}_d{d}_x"] = rng.normal(size=(n, d))
        arrays[f"n{n}_d{d}_y"] = rng.normal(size=(n, d))
    X = arrays[f"n{grid[0][0]}_d{grid[0][1]}_x"]
    return _family(X, arrays, {"family": "null", "grid": [list(g) for g in grid]})


def estimation(n_pop: int = 1200, d_x: int = 32, d_y: int = 24, latent: int = 6, noise: float = 1.0,
               n_grid: tuple = (50, 100, 200, 400), reps: int = 4, seed: int = 0) -> RawData:
    """A jointly Gaussian pair with a shared rank-``latent`` signal: x = z A + e, y = z B + e'."""
    rng = np.random.default_rng([seed, 13])
    Zl = rng.normal(size=(n_pop, latent))
    A = rng.normal(size=(latent, d_x)) * np.geomspace(2.0, 0.5, latent)[:, None]
    B = rng.normal(size=(latent, d_y)) * np.geomspace(2.0, 0.5, latent)[:, None]
    X = Zl @ A + noise * rng.normal(size=(n_pop, d_x))
    Y = Zl @ B + noise * rng.normal(size=(n_pop, d_y))
    info = {"family": "estimation", "n_pop": n_pop, "n_grid": list(n_grid), "reps": reps}
    return _family(X, {"x": X, "y": Y}, info)


def runtime(grid: tuple = ((500, 32), (2000, 32), (2000, 256)), seed: int = 0) -> RawData:
    """Sizes for the runtime test; the inputs are drawn by the track."""
    X = np.random.default_rng([seed, 14]).normal(size=(8, 2))
    return _family(X, {}, {"family": "runtime", "grid": [list(g) for g in grid]})


def network_groups(arch: str = "mlp", factor: str = "random_label_fraction", levels: tuple = (0.0, 0.5, 1.0),
                   n_seeds: int = 4, epochs: int | None = None, eval_rows: int | None = None) -> RawData:
    """Digits networks trained under the levels of one condition (see the module docstring)."""
    import hashlib
    import json

    from bench_core.errors import UsageError
    from . import networks as N

    if factor not in N.CONDITION_KEYS:
        raise UsageError(f"unknown factor {factor!r} (valid: {', '.join(N.CONDITION_KEYS)})")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 2:
        raise UsageError(f"n_seeds must be an integer >= 2, got {n_seeds!r}")
    levels = [float(v) for v in levels]
    if len(levels) < 2 or len(set(levels)) != len(levels):
        raise UsageError(f"levels must hold at least 2 distinct values, got {levels!r}")
    X, y = N.digits()
    _, held = N.digits_split(y)
    held = N.eval_subset(held, eval_rows)
    arrays: dict[str, np.ndarray] = {}
    accuracy, seeds, keys = [], [], []
    for g, level in enumerate(levels):
        acc, sd = [], []
        for i in range(n_seeds):
            seed = g * n_seeds + i
            net, key = N.network(arch, seed, {factor: level}, epochs)
            keys.append(key)
            hs, logits = N.representations(net, X[held])
            for j, h in enumerate(hs):
                arrays[f"g{g}_s{i}_l{j}"] = h
            arrays[f"g{g}_s{i}_logits"] = logits
            acc.append(round(float((logits.argmax(1) == y[held]).mean()), 4))
            sd.append(seed)
        accuracy.append(acc)
        seeds.append(sd)
    widths = [int(arrays[f"g0_s0_l{j}"].shape[1]) for j in range(len(N.build(arch).widths))]
    info = {"family": "groups", "arch": arch, "factor": factor, "levels": levels, "n_seeds": n_seeds,
            "seeds": seeds, "epochs": N._epochs(arch, epochs), "widths": widths, "accuracy": accuracy,
            "layer": len(widths) - 1}
    spec = {"loader": "similarity.network_groups", "code": N.CODE_VERSION, "networks": keys,
            **({} if eval_rows is None else {"eval_rows": eval_rows})}
    n = len(held)
    return RawData(X=X[held], y=y[held], arrays=arrays, info=info,
                   splits=[(np.arange(n // 2), np.arange(n // 2, n))],
                   checksum_inputs=hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest())


def transformer_layers(rows: str = "sentences", n_tokens: int = 2000, max_docs: int = 480,
                       max_tokens_per_doc: int = 128, seed: int = 0) -> RawData:
    """Every layer of the packaged MiniLM on the same rows (see the module docstring)."""
    from bench_core.errors import UsageError
    from . import minilm, npcache

    if rows not in ("sentences", "tokens"):
        raise UsageError(f"unknown rows {rows!r} (valid: sentences, tokens)")
    L = minilm.N_LAYERS + 1
    if rows == "sentences":
        raw = minilm.minilm_layers(max_docs=max_docs, max_tokens_per_doc=max_tokens_per_doc)
        arrays = {f"layer_{i}": raw.arrays[f"layer_{i}"] for i in range(L)}
        info, checksum = dict(raw.info), raw.checksum_inputs
    else:
        if isinstance(n_tokens, bool) or not isinstance(n_tokens, int) or n_tokens < 10:
            raise UsageError(f"n_tokens must be an integer >= 10, got {n_tokens!r}")
        path, meta = minilm.activations(max_docs, max_tokens_per_doc)
        ids = npcache.read(path, ["token_id"])["token_id"]
        real = np.flatnonzero((ids != 101) & (ids != 102))
        if n_tokens > len(real):
            raise UsageError(f"n_tokens {n_tokens} exceeds the corpus' {len(real)} real tokens")
        pick = np.sort(np.random.default_rng([seed, 15]).choice(real, size=n_tokens, replace=False))
        arrays = {}
        for i in range(L):
            arrays[f"layer_{i}"] = np.ascontiguousarray(npcache.read(path, [f"layer_{i}"])[f"layer_{i}"][pick])
        info = minilm._info(meta, rows=f"{n_tokens} tokens drawn from the real tokens (numpy seed {seed})")
        import hashlib

        checksum = hashlib.sha256(f"{meta['key']}|".encode() + pick.astype("<i8").tobytes()).hexdigest()
    info.update(family="layers", n_layers=L, layer_rows=rows)
    Xb = arrays["layer_0"]
    n = Xb.shape[0]
    return RawData(X=Xb, y=np.zeros(n, dtype=np.int64), arrays=arrays, info=info,
                   splits=[(np.arange(n // 2), np.arange(n // 2, n))], checksum_inputs=checksum)


LOADERS = {
    "similarity.network_groups": network_groups,
    "similarity.transformer_layers": transformer_layers,
    "similarity.transforms": transforms,
    "similarity.null": null,
    "similarity.estimation": estimation,
    "similarity.runtime": runtime,
}
