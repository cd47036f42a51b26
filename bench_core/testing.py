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


@_check("reducers")
def check_reducer_shape(cls) -> None:
    """``fit_transform`` returns a finite [n, 2] embedding."""
    X, _y, _gt = smoke_classification(n=100, d=10, constant=0, duplicate=0)
    Z = np.asarray(cls().fit_transform(X, 2, _ctx()))
    assert Z.shape == (100, 2), f"fit_transform returned shape {Z.shape}"
    assert np.all(np.isfinite(Z)), "non-finite embedding"


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
    xfail = {**dict(cls.expected_failed_checks), **dict(expected_failed or {})}
    cls.warm_up()
    results = []
    for check in checks_for(cls):
        t0 = time.perf_counter()
        try:
            check(cls)
        except Exception as exc:  # noqa: BLE001
            msg = f"{type(exc).__name__}: {exc}".strip()
            status = "xfail" if check.name in xfail else "failed"
            if status == "xfail":
                msg = f"expected: {xfail[check.name]} ({msg})"
        else:
            status, msg = ("xpass", f"expected to fail ({xfail[check.name]}) but passed") if check.name in xfail else ("passed", "")
        results.append(CheckResult(check.name, status, msg.splitlines()[0][:300] if msg else "", time.perf_counter() - t0))
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
