"""The conformance kit: checks that a method honours its track's contract.

Use it from the command line (``featbench check NAME``) or from your own test suite, as scikit-learn's
``parametrize_with_checks``::

    from bench_core.testing import parametrize_with_checks
    from my_package import MySelector

    @parametrize_with_checks([MySelector])
    def test_featbench_conformance(method, check):
        check(method)

Checks run at smoke scale (the method's ``profile_params["smoke"]``, one torch and BLAS thread) and are
generated from the method's kind and tags: every method gets the declaration checks; selectors
get output validity (``rank`` scores or ``select`` indices), multiclass labels, determinism under a fixed
seed, inputs left unmodified, constant and duplicate features, label-free operation for unsupervised
methods, and the smoke-data time budget (``resources.timeout_s``, else 60 s). Reducers get output shape and
finiteness (X left unmodified), determinism under a fixed seed, ``transform`` consistent with
``fit_transform`` where the reducer has one, and label-free operation (the protocol's embedding does not move
when only the labels change). The other kinds get their contract's shape and finiteness checks. A method declares checks it is known to fail in
methods, and the smoke-data time budget (``resources.timeout_s``, else 60 s). SAEs get the shapes of codes,
reconstructions and dictionary, a check that the declared sparsity parameter really moves L0, determinism
under a fixed seed, and label-free ``fit`` (on small planted-dictionary activations). The other kinds get
their contract's shape and finiteness checks. A method declares checks it is known to fail in
``expected_failed_checks = {"check_name": "reason"}``: they are reported (``xfail``), never hidden, and
passing one anyway is reported too (``xpass``).

This module is also a pytest plugin (entry point ``pytest11``) providing the ``featbench_registry`` fixture.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from bench_core.tracks.base import Context, Method
from bench_core.tracks.selectors import Selector

DEFAULT_BUDGET_S = 60.0


@dataclass
class CheckResult:
    check: str
    status: str  # passed | failed | xfail | xpass
    message: str = ""
    seconds: float = 0.0


class Check:
    """One named check; calling it on a method class raises ``AssertionError`` on failure."""

    def __init__(self, name: str, fn: Callable[[type[Method]], None], doc: str) -> None:
        self.name, self.fn, self.doc = name, fn, doc

    def __call__(self, cls: type[Method]) -> None:
        with _pinned_threads():
            cls.warm_up()
            self.fn(cls)

    def __repr__(self) -> str:
        return self.name


_CHECKS: dict[str, list[Check]] = {"common": [], "selectors": [], "saes": [], "similarity": [], "reducers": []}


def _check(kind: str):
    def deco(fn):
        _CHECKS[kind].append(Check(fn.__name__, fn, (fn.__doc__ or "").strip().splitlines()[0]))
        return fn

    return deco


# ------------------------------------------------------------------------------------------------ smoke data


def smoke_classification(n: int = 120, d: int = 16, n_classes: int = 2, seed: int = 0,
                         constant: int = 1, duplicate: int = 1) -> tuple[np.ndarray, np.ndarray, dict[str, list[int]]]:
    """Small labelled data: 3 informative Gaussian features (class-shifted), noise, ``constant`` constant
    columns and ``duplicate`` exact copies of an informative column."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    X = rng.normal(size=(n, d))
    informative = [0, 1, 2]
    for j, f in enumerate(informative):
        X[:, f] += 1.5 * np.cos(2 * np.pi * (y + j) / n_classes)
    for c in range(constant):
        X[:, d - 1 - c] = 3.0
    for c in range(duplicate):
        X[:, d - 1 - constant - c] = X[:, informative[c % len(informative)]]
    return X, y.astype(np.int64), {"strict": informative, "lenient": informative + [d - 1 - constant]}


def _data(cls, **kwargs) -> tuple[np.ndarray, np.ndarray, dict[str, list[int]]]:
    """Smoke data adapted to what the method declares it requires (e.g. shifted to be non-negative)."""
    X, y, gt = smoke_classification(**kwargs)
    if "nonnegative" in cls.tags.requires:
        X = X - X.min()
    return X, y, gt


def _ctx(seed: int = 0, gt: Mapping[str, Sequence[int]] | None = None, budget: float | None = None) -> Context:
    return Context(seed=seed, device="cpu", time_budget_s=budget, profile="smoke", ground_truth=gt)


# ------------------------------------------------------------------------------------------------ common


@_check("common")
def check_declaration(cls: type[Method]) -> None:
    """The class declares name, version, params, grid, tags and resources correctly."""
    cls.validate_declaration()
    cls.validate_contract()


@_check("common")
def check_params_roundtrip(cls: type[Method]) -> None:
    """The defaults and every grid value are accepted by the constructor and end up in ``self.params``."""
    m = cls()
    assert m.params == dict(cls.params), "self.params must equal the declared defaults"
    for key, values in cls.grid.items():
        for v in values:
            assert cls(**{key: v}).params[key] == v, f"grid value {key}={v!r} not taken"
    for profile, overrides in cls.profile_params.items():
        cls(**overrides)


# ------------------------------------------------------------------------------------------------ selectors


def _smoke(cls) -> Method:
    """An instance with the method's smoke-profile parameters (the checks run at smoke scale)."""
    return cls(**dict(cls.profile_params.get("smoke", {})))


def _selector_output(cls, X, y, k: int | None, seed: int = 0, gt=None):
    from bench_core.tracks.selectors import validate_indices, validate_scores

    method = _smoke(cls)
    ctx = _ctx(seed, gt)
    y_in = y if cls.tags.supervised else None
    if cls.implements_rank() and k is None:
        return validate_scores(method.rank(X, y_in, ctx), X.shape[1])
    kk = k if k is not None else 3
    return validate_indices(method.select(X, y_in, kk, ctx), kk, X.shape[1])


def _gt(cls, gt):
    return gt if "ground_truth" in cls.tags.requires else None


@_check("selectors")
def check_output_valid(cls) -> None:
    """``rank`` returns d finite scores; ``select`` returns k distinct in-range indices (k = 1, 3, d − 1)."""
    X, y, gt = _data(cls)
    if cls.implements_rank() and cls.select is Selector.select:
        _selector_output(cls, X, y, None, gt=_gt(cls, gt))  # select() is the top k of this ranking
        return
    for k in (1, 3, X.shape[1] - 1):
        _selector_output(cls, X, y, k, gt=_gt(cls, gt))


@_check("selectors")
def check_multiclass(cls) -> None:
    """Works with 3-class labels."""
    X, y, gt = _data(cls, n_classes=3, seed=1)
    _selector_output(cls, X, y, None if cls.implements_rank() else 3, gt=_gt(cls, gt))


@_check("selectors")
def check_deterministic(cls) -> None:
    """Two runs with the same seed give the same output."""
    X, y, gt = _data(cls, seed=2)
    k = None if cls.implements_rank() else 3
    a = _selector_output(cls, X.copy(), y.copy(), k, seed=7, gt=_gt(cls, gt))
    b = _selector_output(cls, X.copy(), y.copy(), k, seed=7, gt=_gt(cls, gt))
    if k is None:
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg="rank() differs between two runs with seed 7")
    else:
        assert np.array_equal(np.sort(a), np.sort(b)), "select() differs between two runs with seed 7"


@_check("selectors")
def check_inputs_not_mutated(cls) -> None:
    """``X`` and ``y`` are left exactly as they were passed."""
    X, y, gt = _data(cls, seed=3)
    X0, y0 = X.copy(), y.copy()
    method, ctx = _smoke(cls), _ctx(0, _gt(cls, gt))
    y_in = y if cls.tags.supervised else None
    if cls.implements_rank():
        method.rank(X, y_in, ctx)
    else:
        method.select(X, y_in, 3, ctx)
    assert np.array_equal(X, X0), "the method modified X in place"
    assert np.array_equal(y, y0), "the method modified y in place"


@_check("selectors")
def check_constant_and_duplicate_features(cls) -> None:
    """Valid output when a quarter of the columns are constant and a quarter duplicate others."""
    X, y, gt = _data(cls, d=16, constant=4, duplicate=4, seed=4)
    k = None if cls.implements_rank() else 5
    _selector_output(cls, X, y, k, gt=_gt(cls, gt))


@_check("selectors")
def check_unsupervised_without_labels(cls) -> None:
    """An unsupervised selector (``supervised=False``) runs with ``y=None``; a supervised one is given y."""
    if cls.tags.supervised:
        return
    X, _y, gt = _data(cls, seed=5)
    method, ctx = _smoke(cls), _ctx(0, _gt(cls, gt))
    if cls.implements_rank():
        method.rank(X, None, ctx)
    else:
        method.select(X, None, 3, ctx)


@_check("selectors")
def check_smoke_budget(cls) -> None:
    """Finishes the smoke data (n = 120, d = 16) within its declared timeout (60 s without one)."""
    budget = cls.resources.timeout_s or DEFAULT_BUDGET_S
    X, y, gt = _data(cls, seed=6)
    t0 = time.perf_counter()
    _selector_output(cls, X, y, None if cls.implements_rank() else 3, gt=_gt(cls, gt))
    took = time.perf_counter() - t0
    assert took <= budget, f"took {took:.1f} s, over the budget of {budget:g} s"


# ------------------------------------------------------------------------------------------------ other kinds


def smoke_activations(n: int = 512, d: int = 16, n_features: int = 32, seed: int = 0):
    """Small planted-dictionary activations ``(x [n, d] float32 tensor, directions [n_features, d])``:
    non-negative codes over random unit directions, about 3 active per row."""
    import torch

    rng = np.random.default_rng(seed)
    G = rng.normal(size=(n_features, d))
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    codes = (rng.random((n, n_features)) < 3 / n_features) * rng.uniform(0.5, 1.5, (n, n_features))
    return torch.as_tensor(codes @ G, dtype=torch.float32), G.astype(np.float32)


def _sae_fit(cls, seed: int = 0, **override):
    """A smoke-scale fit of an SAE on :func:`smoke_activations` (planted directions in ``ctx`` only for
    methods that require them)."""
    x, G = smoke_activations()
    params = {**dict(cls.profile_params.get("smoke", {})), **override}
    sae = cls(**params)
    sae.budget = {"tokens": 4096, "batch_size": 256}
    ctx = _ctx(seed)
    if "planted_dictionary" in cls.tags.requires:
        ctx.planted_dictionary = G
    sae.fit(x.clone(), ctx)
    return sae, x


@_check("saes")
def check_sae_shapes(cls) -> None:
    """``fit`` then ``encode`` [n, m], ``decode`` [n, d] and ``dictionary`` [m, d], all finite tensors."""
    import torch

    sae, x = _sae_fit(cls)
    n, d = x.shape
    z = sae.encode(x)
    xh = sae.decode(z)
    D = sae.dictionary
    for what, t in (("encode", z), ("decode", xh), ("dictionary", D)):
        assert isinstance(t, torch.Tensor), f"{what} returned {type(t).__name__}, not a torch tensor"
    assert z.ndim == 2 and z.shape[0] == n, f"encode returned shape {tuple(z.shape)}"
    assert tuple(xh.shape) == (n, d), f"decode returned shape {tuple(xh.shape)}"
    assert tuple(D.shape) == (z.shape[1], d), f"dictionary has shape {tuple(D.shape)}, expected ({z.shape[1]}, {d})"
    assert torch.isfinite(xh).all() and torch.isfinite(z).all(), "non-finite codes or reconstructions"
    b = sae.decode(torch.zeros(1, z.shape[1]))
    assert tuple(b.shape) == (1, d), f"decode(0) has shape {tuple(b.shape)}, expected (1, {d})"


@_check("saes")
def check_sae_sparsity_param_moves_l0(cls) -> None:
    """The declared sparsity parameter really moves L0: ``k`` methods reach L0 ≤ k and more k gives more
    L0; ``penalty`` methods give a smaller L0 at the top of ``penalty_range`` than at its bottom."""
    if cls.sparsity_param is None:
        return
    sp = cls.sparsity_param

    def l0(value):
        sae, x = _sae_fit(cls, **{sp: value})
        return float((sae.encode(x) != 0).float().sum(1).mean())

    if cls.sparsity_mode == "k":
        lo, hi = l0(2), l0(6)
        assert lo <= 2 + 1e-6, f"{sp}=2 gave L0 {lo:.2f} > 2"
        assert hi > lo, f"{sp}=6 gave L0 {hi:.2f}, not more than {sp}=2 ({lo:.2f})"
    else:
        a, b = cls.penalty_range
        dense, sparse = l0(a), l0(b)
        assert sparse < dense, f"{sp}={b:g} gave L0 {sparse:.2f}, not below {sp}={a:g} ({dense:.2f})"


@_check("saes")
def check_sae_deterministic(cls) -> None:
    """Two fits with the same seed give the same dictionary and codes."""
    import torch

    a, x = _sae_fit(cls, seed=3)
    b, _ = _sae_fit(cls, seed=3)
    assert torch.equal(a.dictionary, b.dictionary), "the dictionary differs between two fits with one seed"
    assert torch.equal(a.encode(x[:64]), b.encode(x[:64])), "the codes differ between two fits with one seed"


@_check("saes")
def check_sae_no_labels(cls) -> None:
    """``fit`` takes only activations and a context: no labels exist to reach it, and it leaves its input
    unmodified."""
    import inspect

    import torch

    params = list(inspect.signature(cls.fit).parameters)
    assert params[:3] == ["self", "acts", "ctx"] and len(params) == 3, f"fit signature is {params}"
    x, G = smoke_activations()
    before = x.clone()
    sae = cls(**dict(cls.profile_params.get("smoke", {})))
    sae.budget = {"tokens": 1024, "batch_size": 256}
    ctx = _ctx(0)
    assert ctx.ground_truth is None
    if "planted_dictionary" in cls.tags.requires:
        ctx.planted_dictionary = G
    sae.fit(x, ctx)
    assert torch.equal(x, before), "fit modified its input"


@_check("similarity")
def check_similarity_finite(cls) -> None:
    """``score`` returns a finite float, symmetric when the measure declares ``symmetric``."""
    import torch

    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(64, 8, generator=g), torch.randn(64, 5, generator=g)
    m = cls()
    s = float(m.score(X, Y, _ctx()))
    assert np.isfinite(s), f"score is {s}"
    if cls.symmetric:
        t = float(m.score(Y, X, _ctx()))
        assert abs(s - t) <= 1e-6 * max(1.0, abs(s)), f"declared symmetric but score(X,Y)={s} != score(Y,X)={t}"


def smoke_manifold(n: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Small embedding data: an S-curve in 3-D plus 7 noise columns ``[n, 10]``, its latent (t, height)
    ``[n, 2]`` and labels (quintiles of t, used only by the label check)."""
    from sklearn.datasets import make_s_curve

    X3, t = make_s_curve(n, noise=0.05, random_state=seed)
    rng = np.random.default_rng(seed)
    X = np.column_stack([X3, 0.1 * rng.normal(size=(n, 7))])
    X0, _ = make_s_curve(n, noise=0.0, random_state=seed)
    latent = np.column_stack([t, X0[:, 1]])
    y = np.searchsorted(np.quantile(t, [0.2, 0.4, 0.6, 0.8]), t).astype(np.int64)
    return X, latent, y


def _reducer_ctx(cls, latent, seed: int = 0) -> Context:
    ctx = _ctx(seed)
    if "latent_coordinates" in cls.tags.requires:
        ctx.latent = np.asarray(latent).copy()
    return ctx


def _embed(cls, X, latent, seed: int = 0, method=None):
    from bench_core.tracks.reducers import validate_embedding

    method = method or _smoke(cls)
    Z = method.fit_transform(X.copy(), 2, _reducer_ctx(cls, latent, seed))
    return method, validate_embedding(Z, X.shape[0], 2)
def _similarity_family():
    """A small transforms family (the track's own generator is a plugin; the kit draws its own, in-line)."""
    from bench_core.tracks.similarity import INVARIANCES

    rng = np.random.default_rng(0)

    def haar(d):
        Q, R = np.linalg.qr(rng.normal(size=(d, d)))
        return Q * np.sign(np.diag(R))

    n, d, dy = 80, 8, 6
    X = (rng.normal(size=(n, d)) * np.geomspace(1.0, 0.1, d)) @ haar(d)
    Y = X @ rng.normal(size=(d, dy)) / np.sqrt(d) + 0.2 * rng.normal(size=(n, dy))
    arrays = {"x": X, "y": Y}
    for side, Z in (("x", X), ("y", Y)):
        k = Z.shape[1]
        moves = {
            "orthogonal": Z @ haar(k),
            "isotropic_scaling": 3.7 * Z,
            "translation": Z + 5.0 * rng.normal(size=k),
            "permutation": Z[:, rng.permutation(k)],
            "invertible_linear": Z @ (haar(k) * np.geomspace(1.0, 10.0, k)) @ haar(k),
        }
        for t in INVARIANCES:
            arrays[f"{side}_{t}"] = moves[t]
    return arrays


@_check("similarity")
def check_similarity_invariances(cls) -> None:
    """Every declared invariance holds on small data (relative tolerance 1e-6, float64), for either argument."""
    from bench_core.tracks.similarity_protocol import invariance_table

    table = invariance_table(cls(), _similarity_family(), 1e-6, _ctx())
    broken = [f"{t} (score moved by {r['deviation']:.2g})" for t, r in table.items() if r["claimed"] and not r["actual"]]
    assert not broken, f"declares invariance it does not have: {', '.join(broken)}"


@_check("similarity")
def check_similarity_metric_axioms(cls) -> None:
    """A measure claiming ``is_metric``: identity, symmetry and the triangle inequality on random triples."""
    from bench_core.tracks.similarity_protocol import metric_axioms

    if not cls.is_metric:
        return
    rng = np.random.default_rng(1)
    base = rng.normal(size=(60, 6))
    noise = rng.normal(size=(60, 6))
    # points along one noise direction (a squared distance breaks the triangle there) and an unrelated one
    members = [base + t * noise for t in (0.0, 0.25, 0.5, 1.0, 2.0)] + [rng.normal(size=(60, 4))]
    v, n, examples = metric_axioms(cls(), members, 1e-6, _ctx())
    assert v == 0, f"claims to be a metric but violates {v} of {n} axiom checks, e.g. {'; '.join(examples)}"


@_check("reducers")
def check_reducer_shape(cls) -> None:
    """``fit_transform`` returns a finite float [n, 2] embedding and leaves X unmodified."""
    X, latent, _y = smoke_manifold()
    X0 = X.copy()
    method = _smoke(cls)
    Z = method.fit_transform(X, 2, _reducer_ctx(cls, latent))
    from bench_core.tracks.reducers import validate_embedding

    validate_embedding(Z, X.shape[0], 2)
    assert np.array_equal(X, X0), "the reducer modified X in place"


@_check("reducers")
def check_reducer_deterministic(cls) -> None:
    """Two fits with the same seed give the same embedding (to 1e-6 of its scale)."""
    X, latent, _y = smoke_manifold(seed=1)
    _m, a = _embed(cls, X, latent, seed=7)
    _m, b = _embed(cls, X, latent, seed=7)
    scale = max(1e-12, float(np.abs(a).max()))
    assert np.allclose(a, b, rtol=0, atol=1e-6 * scale), (
        f"embeddings differ between two fits with seed 7 (max difference {np.abs(a - b).max():.3g}, scale {scale:.3g})")


@_check("reducers")
def check_reducer_transform(cls) -> None:
    """A reducer with ``transform`` embeds new points (finite [m, 2], deterministic) and embeds its own
    training rows consistently with ``fit_transform``: exactly (to 1e-6 of the scale) when it declares
    ``transform_exact``, else with a 10-nearest-neighbour overlap of at least 0.5 (chance: 10/(n − 1))."""
    if not cls.supports_transform():
        return
    X, latent, _y = smoke_manifold(n=180, seed=2)
    Xtr, Xnew = X[:150], X[150:]
    method, Z = _embed(cls, Xtr, latent[:150], seed=3)
    from bench_core.metrics.neighbours import knn
    from bench_core.tracks.reducers import validate_embedding

    new1 = validate_embedding(method.transform(Xnew.copy()), len(Xnew), 2, "transform()")
    new2 = validate_embedding(method.transform(Xnew.copy()), len(Xnew), 2, "transform()")
    assert np.allclose(new1, new2, atol=1e-6 * max(1e-12, float(np.abs(new1).max()))), "transform() is not deterministic"
    again = validate_embedding(method.transform(Xtr.copy()), len(Xtr), 2, "transform()")
    if getattr(cls, "transform_exact", False):
        scale = max(1e-12, float(np.abs(Z).max()))
        assert np.allclose(again, Z, rtol=0, atol=1e-6 * scale), (
            f"transform(X_train) differs from fit_transform(X_train) by {np.abs(again - Z).max():.3g}")
    else:
        a, _ = knn(Z, 10)
        b, _ = knn(again, 10)
        overlap = float(np.mean([len(set(a[i]) & set(b[i])) / 10 for i in range(len(a))]))
        assert overlap >= 0.5, f"transform(X_train) keeps only {overlap:.2f} of fit_transform's 10-NN (need 0.5)"


@_check("reducers")
def check_reducer_label_free(cls) -> None:
    """No labels reach the reducer: the protocol's embedding is the same for the true and shuffled labels."""
    from bench_core.data.cards import card_from_dict
    from bench_core.data.dataset import Dataset
    from bench_core.tracks.reducers import ReducersTrack

    X, latent, y = smoke_manifold(n=150, seed=4)
    card = card_from_dict({"name": "kit_manifold", "title": "kit", "description": "kit", "tracks": ["reducers"],
                           "task": "embedding", "tier": "smoke", "properties": ["latent_coordinates"],
                           "source": {"loader": "kit"}, "split": {"method": "stratified_shuffle", "n_splits": 1}},
                          "<kit>")
    train, test = np.arange(120), np.arange(120, 150)
    seen = []

    class Spy(cls):  # records what the protocol hands the reducer
        def fit_transform(self, X, n_components, ctx):
            Z = super().fit_transform(X, n_components, ctx)
            seen.append(np.asarray(Z, dtype=np.float64).copy())
            return Z

    track = ReducersTrack()
    settings = {**track.default_settings(), "pairs": 2000, "auc_k": 10, "out_of_sample": False}
    for labels in (y, np.random.default_rng(0).permutation(y)):
        ds = Dataset(card, X, labels, np.unique(labels), [(train, test)], None, arrays={"latent": latent})
        track.run(Spy(**dict(cls.profile_params.get("smoke", {}))), ds, 0, settings, _ctx(5))
    assert np.allclose(seen[0], seen[1], rtol=0, atol=1e-6 * max(1e-12, float(np.abs(seen[0]).max()))), (
        "the embedding changed when only the labels changed")


# ------------------------------------------------------------------------------------------------ runners


def checks_for(cls: type[Method]) -> list[Check]:
    """The checks that apply to ``cls``, generated from its kind."""
    return list(_CHECKS["common"]) + list(_CHECKS.get(cls.kind, []))


class _pinned_threads:
    """Run checks with one torch and one BLAS thread, as a worker with ``--threads 1`` would (restored)."""

    def __enter__(self):
        import torch
        from threadpoolctl import threadpool_limits

        self.before = torch.get_num_threads()
        torch.set_num_threads(1)
        self.blas = threadpool_limits(limits=1)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.before)
        self.blas.unregister()


def run_checks(cls: type[Method], expected_failed: Mapping[str, str] | None = None) -> list[CheckResult]:
    """Run every applicable check (with one torch thread); never raises."""
    with _pinned_threads():
        return _run_checks(cls, expected_failed)


def _run_checks(cls: type[Method], expected_failed: Mapping[str, str] | None) -> list[CheckResult]:
    from bench_core.execute.job import _type_name, safe_message

    xfail = {**dict(cls.expected_failed_checks), **dict(expected_failed or {})}
    results = []
    try:
        cls.warm_up()
    except BaseException as exc:  # noqa: BLE001 - sys.exit() in plugin code must not pass the kit
        return [CheckResult("warm_up", "failed", f"{_type_name(exc)}: {safe_message(exc)}"[:300], 0.0)]
    for check in checks_for(cls):
        t0 = time.perf_counter()
        stop = False
        try:
            check(cls)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt fail the check too
            stop = isinstance(exc, KeyboardInterrupt)  # (a real Ctrl-C also lands here: stop after it)
            msg = f"{_type_name(exc)}: {safe_message(exc)}".strip()
            status = "xfail" if check.name in xfail and not stop else "failed"
            if status == "xfail":
                msg = f"expected: {xfail[check.name]} ({msg})"
        else:
            status, msg = ("xpass", f"expected to fail ({xfail[check.name]}) but passed") if check.name in xfail else ("passed", "")
        results.append(CheckResult(check.name, status, msg.splitlines()[0][:300] if msg else "", time.perf_counter() - t0))
        if stop:
            break
    return results


def format_report(cls: type[Method], results: Sequence[CheckResult]) -> str:
    from tabulate import tabulate

    rows = [[r.check, r.status, f"{r.seconds:.2f}", r.message] for r in results]
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "xfail", "xpass")}
    head = f"{cls.kind} method {cls.name!r} (version {cls.version}): " + ", ".join(f"{n} {s}" for s, n in counts.items())
    return head + "\n" + tabulate(rows, headers=["check", "status", "s", "message"])


def parametrize_with_checks(classes: Sequence[type[Method]], expected_failed: Mapping[str, Mapping[str, str]] | None = None):
    """A ``pytest.mark.parametrize`` over (method class, check) pairs; declared expected failures become
    strict ``xfail`` marks (so a check that starts passing is noticed)."""
    import pytest

    params = []
    for cls in classes:
        xfail = {**dict(cls.expected_failed_checks), **dict((expected_failed or {}).get(cls.name, {}))}
        for check in checks_for(cls):
            marks = [pytest.mark.xfail(reason=xfail[check.name], strict=True)] if check.name in xfail else []
            params.append(pytest.param(cls, check, id=f"{cls.name}-{check.name}", marks=marks))
    return pytest.mark.parametrize("method, check", params)


# ------------------------------------------------------------------------------------------------ pytest plugin

try:  # the pytest plugin part: only when pytest is importable
    import pytest as _pytest

    @_pytest.fixture(scope="session")
    def featbench_registry():
        """The plugin registry, loaded once per test session."""
        from bench_core.registry import load_registry

        return load_registry()

except ImportError:  # pragma: no cover
    pass
