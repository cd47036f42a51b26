"""Synthetic classification generators with known relevant features.

Every generator is deterministic given its ``seed``, returns class labels (never soft probabilities), and
records its ground truth in column indices of the returned ``X``:

- ``strict``: the truly informative features, ordered from most to least important where the generator
  defines an order (the oracle control uses that order);
- ``lenient``: every relevant feature (informative plus redundant or repeated copies).

Columns are permuted by a recorded permutation drawn from the seed, so relevant features never sit at a
fixed position (a method that prefers low column indices gains nothing); rows are shuffled too.

Generators (``GENERATORS``, registered as ``synthetic.<name>``): ``classification`` (make_classification /
Madelon-like), ``xor`` (noisy sign parity), the L2X sets ``orange_skin``, ``nonlinear_additive`` and
``switch``, STG's ``two_moons``, Nogueira et al.'s ``correlated_gaussian``, the high-dimension /
low-sample ``hdlss`` sparse logistic model and the ``linear_snr`` family. Each docstring gives its source and
any deviation from it.
"""

from __future__ import annotations

import numpy as np

from bench_core.data import RawData


def _permute(X: np.ndarray, groups: dict[str, list[int]], rng: np.random.Generator):
    """Shuffle columns with ``rng``; map the ground-truth column lists through the permutation."""
    perm = rng.permutation(X.shape[1])  # new column j holds old column perm[j]
    where = np.empty_like(perm)
    where[perm] = np.arange(len(perm))  # old column c is now at where[c]
    return X[:, perm], {k: [int(where[c]) for c in v] for k, v in groups.items()}, perm


def classification(
    n_samples: int = 1000, n_features: int = 50, n_informative: int = 5, n_redundant: int = 5,
    n_repeated: int = 0, n_classes: int = 2, n_clusters_per_class: int = 2, class_sep: float = 1.0,
    flip_y: float = 0.01, seed: int = 0,
) -> RawData:
    """scikit-learn's ``make_classification`` with ``shuffle=False`` (so the column roles are known:
    informative, redundant, repeated, noise), then our own recorded row and column permutations.

    Redundant features are random linear combinations of the informative ones and repeated ones are copies,
    so they are relevant (lenient ground truth) but not necessary (strict ground truth = informative only).
    """
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=n_informative, n_redundant=n_redundant,
        n_repeated=n_repeated, n_classes=n_classes, n_clusters_per_class=n_clusters_per_class,
        class_sep=class_sep, flip_y=flip_y, shuffle=False, random_state=seed,
    )
    rng = np.random.default_rng([seed, 1])
    rows = rng.permutation(n_samples)
    X, y = X[rows], y[rows]
    n_rel = n_informative + n_redundant + n_repeated
    X, gt, perm = _permute(X, {"strict": list(range(n_informative)), "lenient": list(range(n_rel))}, rng)
    return RawData(X=X, y=y, ground_truth=gt, info={"column_permutation": [int(p) for p in perm]})


# --------------------------------------------------------------------------------------------- helpers


def _rng(seed: int) -> np.random.Generator:
    """The data stream of a generator (the permutations use the separate stream ``[seed, 1]``)."""
    return np.random.default_rng([int(seed), 0])


def _finish(
    X: np.ndarray, y: np.ndarray, groups: dict[str, list[int]], seed: int, info: dict | None = None,
    instance: dict[str, list[int]] | None = None, row_info: dict[str, np.ndarray] | None = None,
) -> RawData:
    """Shuffle rows, permute columns (both recorded, from the stream ``[seed, 1]``), map the ground truth.

    ``groups`` become ``RawData.ground_truth`` (``strict`` and ``lenient``); ``instance`` holds extra column
    lists (instance-wise truth) that are mapped through the same permutation but stored in ``info``; every
    array of ``row_info`` is reordered with the rows and stored in ``info`` as a list.
    """
    rng = np.random.default_rng([int(seed), 1])
    rows = rng.permutation(X.shape[0])
    X, y = X[rows], np.asarray(y)[rows]
    all_groups = {**groups, **{f"instance:{k}": v for k, v in (instance or {}).items()}}
    X, mapped, perm = _permute(X, all_groups, rng)
    gt = {k: mapped[k] for k in groups}
    out = {"column_permutation": [int(p) for p in perm], **(info or {})}
    if instance:
        out["instance_ground_truth"] = {k: mapped[f"instance:{k}"] for k in instance}
    for key, arr in (row_info or {}).items():
        out[key] = np.asarray(arr)[rows].tolist()
    return RawData(X=np.ascontiguousarray(X), y=y.astype(np.int64), ground_truth=gt, info=out)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def _bernoulli(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hard labels ``y ~ Bernoulli(p)`` (the soft-label sources are turned into class labels here)."""
    return (rng.random(p.shape[0]) < p).astype(np.int64)


def _orange_skin_score(Z: np.ndarray) -> np.ndarray:
    """L2X orange skin: ``f(z) = sum_{i<4} z_i^2 - 4`` on the 4 columns of ``Z``."""
    return np.sum(Z**2, axis=1) - 4.0


def _additive_score(Z: np.ndarray) -> np.ndarray:
    """L2X nonlinear additive: ``f(z) = -100 sin(0.2 z0) + |z1| + z2 + exp(-z3) - 2.4``."""
    return -100.0 * np.sin(0.2 * Z[:, 0]) + np.abs(Z[:, 1]) + Z[:, 2] + np.exp(-Z[:, 3]) - 2.4


#: Order of the four nonlinear-additive inputs by the variance of their term when z ~ N(0, 1):
#: -100 sin(0.2 z0) (about 384), exp(-z3) (e(e - 1) = 4.67), z2 (1), |z1| (1 - 2/pi = 0.36).
_ADDITIVE_ORDER = [0, 3, 2, 1]


# --------------------------------------------------------------------------------------------- generators


def xor(n_samples: int = 1000, n_features: int = 50, order: int = 2, flip: float = 0.05, seed: int = 0) -> RawData:
    """Noisy XOR / parity: ``y = parity of the signs of x_0..x_{order-1}``, each label flipped with
    probability ``flip``; all ``n_features`` columns are i.i.d. N(0, 1), the other ones pure noise.

    Every relevant feature alone is independent of ``y`` (given ``y`` its sign is still a fair coin and its
    magnitude is untouched), so univariate filters fail by construction; with ``order = 3`` every *pair* of
    features is independent of ``y`` too. This is the sign-parity version of the XOR problem of L2X (Chen et
    al., ICML 2018, ``synthetic/make_data.py``, which draws soft labels ``P(y=1) = 1/(1 + exp(x1 x2))``) and
    of the XOR/parity benchmarks of the STG paper (Yamada et al., ICML 2020), with hard labels.

    Ground truth: strict = lenient = the ``order`` parity columns (no importance order: they are symmetric).
    """
    _check(order >= 1 and n_features >= order, f"xor needs 1 <= order <= n_features, got order={order}")
    _check(0.0 <= flip < 0.5, f"xor needs 0 <= flip < 0.5, got {flip}")
    rng = _rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    parity = (np.sum(X[:, :order] > 0, axis=1) % 2).astype(np.int64)
    flipped = rng.random(n_samples) < flip
    y = parity ^ flipped.astype(np.int64)
    rel = list(range(order))
    return _finish(X, y, {"strict": rel, "lenient": rel}, seed, {"order": order, "flip": flip})


def orange_skin(n_samples: int = 1000, n_features: int = 50, seed: int = 0) -> RawData:
    """L2X "orange skin" (Chen et al., ICML 2018; Jianbo-Lab/L2X ``synthetic/make_data.py``).

    ``X ~ N(0, I_d)``; with ``f(x) = sum_{i<4} x_i^2 - 4``, ``P(y = 1 | x) = 1 / (1 + exp(f(x)))`` as in
    L2X (class 1 near the origin), and the label is drawn ``y ~ Bernoulli(P(y = 1 | x))`` (L2X trains on the
    probabilities themselves). L2X uses d = 10; here the other ``d - 4`` columns are N(0, 1) noise.

    Ground truth: strict = lenient = the 4 columns of ``f`` (symmetric, so no importance order).
    """
    _check(n_features >= 4, "orange_skin needs n_features >= 4")
    rng = _rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    from scipy.special import expit

    y = _bernoulli(expit(-_orange_skin_score(X[:, :4])), rng)
    return _finish(X, y, {"strict": [0, 1, 2, 3], "lenient": [0, 1, 2, 3]}, seed)


def nonlinear_additive(n_samples: int = 1000, n_features: int = 50, seed: int = 0) -> RawData:
    """L2X "nonlinear additive" (Chen et al., ICML 2018; Jianbo-Lab/L2X ``synthetic/make_data.py``).

    ``X ~ N(0, I_d)``; ``f(x) = -100 sin(0.2 x0) + |x1| + x2 + exp(-x3) - 2.4``,
    ``P(y = 1 | x) = 1 / (1 + exp(f(x)))`` as in L2X, and ``y ~ Bernoulli`` of it. L2X uses d = 10; here the
    other ``d - 4`` columns are N(0, 1) noise.

    Ground truth: strict = lenient = the 4 columns of ``f``, strict ordered by the variance of their additive
    term: x0 (the sine term, variance about 384), x3 (exp, 4.67), x2 (linear, 1), x1 (abs, 0.36).
    """
    _check(n_features >= 4, "nonlinear_additive needs n_features >= 4")
    rng = _rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    from scipy.special import expit

    y = _bernoulli(expit(-_additive_score(X[:, :4])), rng)
    return _finish(X, y, {"strict": list(_ADDITIVE_ORDER), "lenient": [0, 1, 2, 3]}, seed)


def switch(n_samples: int = 1000, n_features: int = 50, seed: int = 0) -> RawData:
    """L2X "switch" (Chen et al., ICML 2018; Jianbo-Lab/L2X ``synthetic/make_data.py``), with a real swap.

    ``X ~ N(0, I_d)``, except the *switch* feature (column 8 before the permutation), which is drawn from an
    equal mixture of N(+3, 1) and N(-3, 1) (exactly ``n // 2`` rows in the +3 component, as in L2X). Rows of
    the +3 component follow orange skin on features 0-3, rows of the -3 component follow nonlinear additive
    on features 4-7 (``P(y = 1 | x) = 1 / (1 + exp(f))`` as in L2X, ``y ~ Bernoulli``). Columns 9.. are noise.

    L2X meant to move the additive features to columns 4-7 with
    ``X2[:, 4:8], X2[:, :4] = X2[:, :4], X2[:, 4:8]``; because both right-hand sides are NumPy views this
    leaves columns 4-7 as *copies* of columns 0-3 (numpy/numpy#14428), so the published data have no swap.
    Here the additive score is simply computed on the independent columns 4-7, which is what the swap
    intends (every column is i.i.d. N(0, 1)).

    Ground truth is instance-wise: ``{switch, 0..3}`` for the +3 rows and ``{switch, 4..7}`` for the -3
    rows, stored (after the permutation) in ``info["instance_ground_truth"]`` with the per-row component in
    ``info["instance_branch"]`` (0 = orange skin, 1 = nonlinear additive). The global strict = lenient set
    is all 9 features, strict ordered as: switch, orange skin 0-3, then 4-7 in the additive importance order.
    """
    _check(n_features >= 9, "switch needs n_features >= 9")
    rng = _rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    branch = (rng.permutation(n_samples) >= n_samples // 2).astype(np.int64)  # 0: orange (+3), 1: additive (-3)
    X[:, 8] += np.where(branch == 0, 3.0, -3.0)
    from scipy.special import expit

    f = np.where(branch == 0, _orange_skin_score(X[:, 0:4]), _additive_score(X[:, 4:8]))
    y = _bernoulli(expit(-f), rng)
    strict = [8, 0, 1, 2, 3, *[4 + i for i in _ADDITIVE_ORDER]]
    return _finish(
        X, y, {"strict": strict, "lenient": list(range(9))}, seed,
        info={"instance_branch_names": ["orange_skin", "nonlinear_additive"]},
        instance={"orange_skin": [8, 0, 1, 2, 3], "nonlinear_additive": [8, 4, 5, 6, 7]},
        row_info={"instance_branch": branch},
    )


def two_moons(n_samples: int = 1000, n_features: int = 50, noise: float = 0.1, seed: int = 0) -> RawData:
    """STG's two moons (Yamada et al., ICML 2020; runopti/stg ``python/examples/dataset.py``):
    scikit-learn ``make_moons(noise=0.1)`` in 2 dimensions plus ``d - 2`` N(0, 1) noise columns.

    Ground truth: strict = lenient = the 2 moon columns (both needed; no importance order).
    """
    _check(n_features >= 2, "two_moons needs n_features >= 2")
    from sklearn.datasets import make_moons

    rng = _rng(seed)
    M, y = make_moons(n_samples=n_samples, shuffle=False, noise=noise, random_state=int(rng.integers(2**31 - 1)))
    X = np.hstack([M, rng.standard_normal((n_samples, n_features - 2))])
    return _finish(X, y, {"strict": [0, 1], "lenient": [0, 1]}, seed)


def correlated_gaussian(
    n_samples: int = 500, n_features: int = 100, n_relevant: int = 10, rho: float = 0.5, seed: int = 0,
) -> RawData:
    """Nogueira, Sechidis & Brown (JMLR 2018), ``Matlab/generateDataset.m`` (after Hamer et al., "Stable
    feature selection with SVMs", 2015): two balanced classes (``n // 2`` positives), class means +1 / -1 on
    the first ``n_relevant`` features, within-class covariance ``rho * 1 1^T + (1 - rho) I`` among them, and
    the remaining features independent N(0, 1) (mean 0 in both classes).

    ``rho`` sets the redundancy between the relevant features (a stability stress test). Labels +1 / -1 of
    the source are 1 / 0 here. Draws use a shared factor: ``x_rel = mu + sqrt(rho) c + sqrt(1 - rho) e``, so
    cards with the same ``seed`` and different ``rho`` differ only in the correlation.

    Ground truth: strict = lenient = the ``n_relevant`` features (all equally relevant, no order).
    """
    _check(0 < n_relevant < n_features, "correlated_gaussian needs 0 < n_relevant < n_features")
    _check(0.0 <= rho <= 1.0, f"correlated_gaussian needs 0 <= rho <= 1, got {rho}")
    rng = _rng(seed)
    n_pos = n_samples // 2
    y = np.r_[np.ones(n_pos, dtype=np.int64), np.zeros(n_samples - n_pos, dtype=np.int64)]
    sign = np.where(y == 1, 1.0, -1.0)[:, None]
    common = rng.standard_normal((n_samples, 1))
    own = rng.standard_normal((n_samples, n_relevant))
    rel = sign + np.sqrt(rho) * common + np.sqrt(1.0 - rho) * own
    X = np.hstack([rel, rng.standard_normal((n_samples, n_features - n_relevant))])
    r = list(range(n_relevant))
    return _finish(X, y, {"strict": r, "lenient": r}, seed, {"rho": rho})


def _linear_coefficients(n_informative: int, spread: float = 2.0) -> np.ndarray:
    """Distinct magnitudes from 1 down to 1/spread, alternating signs."""
    mags = np.linspace(1.0, 1.0 / spread, n_informative) if n_informative > 1 else np.ones(1)
    return mags * np.where(np.arange(n_informative) % 2 == 0, 1.0, -1.0)


def hdlss(
    n_samples: int = 100, n_features: int = 2000, n_informative: int = 10, signal: float = 5.0, seed: int = 0,
) -> RawData:
    """High-dimension / low-sample-size sparse logistic model (our design; the n << d regime of microarray
    benchmarks such as scikit-feature's colon or leukemia, with known truth).

    ``X ~ N(0, I_d)``; ``beta`` is zero except on ``n_informative`` features whose magnitudes decrease
    linearly from 1 to 1/2 with alternating signs, rescaled so that ``||beta|| = signal`` (the logit
    ``x . beta`` has standard deviation ``signal``; 5 gives a Bayes accuracy of about 0.89);
    ``y ~ Bernoulli(1 / (1 + exp(-x . beta)))``.

    Ground truth: strict = lenient = the informative features, strict ordered by ``|beta|`` (largest first).
    The coefficients (in strict order) are ``info["coefficients"]``.
    """
    _check(0 < n_informative <= n_features, "hdlss needs 0 < n_informative <= n_features")
    rng = _rng(seed)
    beta = _linear_coefficients(n_informative)
    beta *= signal / np.linalg.norm(beta)
    X = rng.standard_normal((n_samples, n_features))
    from scipy.special import expit

    y = _bernoulli(expit(X[:, :n_informative] @ beta), rng)
    r = list(range(n_informative))
    return _finish(X, y, {"strict": r, "lenient": r}, seed, {"coefficients": [float(b) for b in beta]})


def linear_snr(
    n_samples: int = 1000, n_features: int = 100, snr: float = 1.0,
    coefficients: tuple[float, ...] | list[float] = (1.5, -1.25, 1.0, -0.75, 0.5), seed: int = 0,
) -> RawData:
    """One linear task at a chosen signal-to-noise ratio (our design, a probit model):
    ``X ~ N(0, I_d)``, ``y = 1[x . beta + eps > 0]`` with ``eps ~ N(0, sigma^2)`` and
    ``sigma^2 = Var(x . beta) / snr = ||beta||^2 / snr`` (population variance), so ``snr`` is exactly the
    ratio of signal to noise variance of the latent score.

    The first ``len(coefficients)`` features carry ``coefficients`` (distinct magnitudes); the rest are noise.
    ``P(y = 1[x . beta > 0]) = 1 - arccos(sqrt(snr / (1 + snr))) / pi``: 0.85, 0.75, 0.65, 0.58 at snr 4, 1,
    0.25, 0.0625. With the same ``seed`` only ``sigma`` changes between SNR levels (same X, same noise draw
    up to scale), so results can be compared along SNR as a paired design.

    Ground truth: strict = lenient = the informative features, strict ordered by ``|beta|``. ``info`` holds
    ``snr``, ``noise_std`` and ``coefficients`` (in strict order).
    """
    beta = np.asarray(coefficients, dtype=np.float64)
    m = len(beta)
    _check(0 < m <= n_features and np.all(beta != 0), "linear_snr needs 1..n_features non-zero coefficients")
    _check(snr > 0, f"linear_snr needs snr > 0, got {snr}")
    rng = _rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    sigma = float(np.sqrt(np.sum(beta**2) / snr))
    eps = sigma * rng.standard_normal(n_samples)
    y = (X[:, :m] @ beta + eps > 0).astype(np.int64)
    order = [int(i) for i in np.argsort(-np.abs(beta), kind="stable")]
    return _finish(
        X, y, {"strict": order, "lenient": list(range(m))}, seed,
        {"snr": float(snr), "noise_std": sigma, "coefficients": [float(beta[i]) for i in order]},
    )


GENERATORS = {
    "synthetic.classification": classification,
    "synthetic.xor": xor,
    "synthetic.orange_skin": orange_skin,
    "synthetic.nonlinear_additive": nonlinear_additive,
    "synthetic.switch": switch,
    "synthetic.two_moons": two_moons,
    "synthetic.correlated_gaussian": correlated_gaussian,
    "synthetic.hdlss": hdlss,
    "synthetic.linear_snr": linear_snr,
}
