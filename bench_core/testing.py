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
methods, and the smoke-data time budget (``resources.timeout_s``, else 60 s). The other kinds get their
contract's shape and finiteness checks. A method declares checks it is known to fail in
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


@_check("saes")
def check_sae_shapes(cls) -> None:
    """``fit`` then ``encode`` [n, m], ``decode`` [n, d] and ``dictionary`` [m, d], all finite."""
    import torch

    x = torch.randn(256, 16, generator=torch.Generator().manual_seed(0))
    sae = cls()
    sae.fit(x, _ctx())
    z = sae.encode(x)
    xh = sae.decode(z)
    D = sae.dictionary
    assert z.ndim == 2 and z.shape[0] == 256, f"encode returned shape {tuple(z.shape)}"
    assert tuple(xh.shape) == (256, 16), f"decode returned shape {tuple(xh.shape)}"
    assert tuple(D.shape) == (z.shape[1], 16), f"dictionary has shape {tuple(D.shape)}, expected ({z.shape[1]}, 16)"
    assert torch.isfinite(xh).all() and torch.isfinite(z).all(), "non-finite codes or reconstructions"


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
