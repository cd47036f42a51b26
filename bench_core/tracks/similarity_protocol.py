"""The tests of the similarity track, one function per family (the spec is :mod:`bench_core.tracks.similarity`).

Each ``run_<family>(method, dataset, settings, ctx)`` returns ``(scores, outputs)``. The measure only ever sees
float64 torch tensors on ``ctx.device``; everything else (which members are compared, the doses, the
reference values) stays here.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np

from bench_core.tracks.similarity import INVARIANCES


def _scorer(method, ctx):
    import torch

    def s(A, B) -> float:
        tA = torch.as_tensor(A).to(dtype=torch.float64, device=ctx.device)
        tB = torch.as_tensor(B).to(dtype=torch.float64, device=ctx.device)
        return float(method.score(tA, tB, ctx))

    return s


def _dissim(method, value: float) -> float:
    return -value if type(method).orientation == "similarity" else value


def tie_groups(values, tol: float) -> np.ndarray:
    """The values as tie-group numbers (0, 1, ... in increasing order): sorted, a value starts a new group when
    it exceeds the previous one by more than ``tol * max(1, |previous|)``, else it ties with it. Measured
    values that differ only by rounding (1 - 2e-16 against 1) are thus equal, so a rank statistic or an arg-min
    over them does not depend on the CPU's floating-point kernels."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    out = np.empty(len(v), dtype=float)
    group = 0
    for pos, i in enumerate(order):
        if pos and v[i] - v[order[pos - 1]] > tol * max(1.0, abs(v[order[pos - 1]])):
            group += 1
        out[i] = group
    return out


def _spearman(dose, resp, tol: float) -> float:
    """Spearman between a dose and a measured response, the response's values within ``tol`` tied
    (:func:`tie_groups`); 0 when either side does not vary."""
    from scipy.stats import spearmanr

    resp, dose = tie_groups(resp, tol), np.asarray(dose, dtype=float)
    if np.ptp(resp) == 0 or np.ptp(dose) == 0:  # no variation on one side: no evidence either way
        return 0.0
    return float(spearmanr(dose, resp).statistic)


def _argmin(values, tol: float) -> int:
    """The first index whose value ties with the smallest (within ``tol``, :func:`tie_groups`)."""
    return int(np.argmin(tie_groups(values, tol)))


def invariance_table(method, arrays: Mapping[str, np.ndarray], tolerance: float, ctx) -> dict[str, dict[str, Any]]:
    """Per transform: ``{"claimed", "actual", "deviation"}`` (deviation relative to max(1, |s(x, y)|))."""
    s = _scorer(method, ctx)
    x, y = arrays["x"], arrays["y"]
    base = s(x, y)
    scale = max(1.0, abs(base))
    table = {}
    for t in INVARIANCES:
        dev = max(abs(s(arrays[f"x_{t}"], y) - base), abs(s(x, arrays[f"y_{t}"]) - base)) / scale
        table[t] = {"claimed": t in type(method).invariances, "actual": bool(dev <= tolerance), "deviation": dev}
    return table


def metric_axioms(method, members: list, tolerance: float, ctx) -> tuple[int, int, list[str]]:
    """(violations, checks, first few violations) of identity, symmetry and the triangle inequality."""
    s = _scorer(method, ctx)
    m = len(members)
    D = np.array([[s(members[i], members[j]) for j in range(m)] for i in range(m)])
    scale = max(1.0, float(np.abs(D).max()))
    bad, checks = [], 0
    for i in range(m):
        checks += 1
        if abs(D[i, i]) > tolerance * scale:
            bad.append(f"d({i},{i})={D[i, i]:.3g}")
        for j in range(i + 1, m):
            checks += 1
            if abs(D[i, j] - D[j, i]) > tolerance * scale:
                bad.append(f"d({i},{j})!=d({j},{i})")
    for i in range(m):
        for j in range(m):
            for k in range(m):
                if len({i, j, k}) == 3:
                    checks += 1
                    if D[i, k] > D[i, j] + D[j, k] + tolerance * scale:
                        bad.append(f"d({i},{k})>d({i},{j})+d({j},{k})")
    return len(bad), checks, bad[:5]


def run_transforms(method, dataset, settings, ctx) -> tuple[dict[str, float], dict[str, Any]]:
    A, info, tol = dataset.arrays, dataset.info, float(settings["tolerance"])
    s = _scorer(method, ctx)
    scores: dict[str, float] = {}
    outputs: dict[str, Any] = {}
    table = invariance_table(method, A, tol, ctx)
    for t, row in table.items():
        scores[f"t3_{t}"] = float(row["claimed"] == row["actual"])
    scores["t3_invariance"] = float(np.mean([scores[f"t3_{t}"] for t in INVARIANCES]))
    outputs["invariance_table"] = {t: {**r, "deviation": float(r["deviation"])} for t, r in table.items()}
    outputs["broken_claims"] = [t for t, r in table.items() if r["claimed"] and not r["actual"]]
    outputs["unclaimed_invariances"] = [t for t, r in table.items() if r["actual"] and not r["claimed"]]
    ctx.step("T3 invariances")

    if type(method).is_metric:
        members = [A["x"], A["y"], A["noise_2"], A["pctop_1"], A["outlier_2"], A["featsub_1"]]
        v, n, examples = metric_axioms(method, members, tol, ctx)
        scores["t4_metric_axioms"] = 1.0 - v / n
        outputs["t4_violations"] = examples
        ctx.step("T4 metric axioms")
    else:
        outputs["t4_metric_axioms_skipped"] = "the measure does not claim to be a metric"

    x = A["x"]
    d_noise = [_dissim(method, s(x, A[f"noise_{i}"])) for i in range(len(info["snr"]))]
    d_top = [_dissim(method, s(x, A[f"pctop_{i}"])) for i in range(len(info["pc_k"]))]
    d_bot = [_dissim(method, s(x, A[f"pcbottom_{i}"])) for i in range(len(info["pc_k"]))]
    d_out = [_dissim(method, s(x, A[f"outlier_{i}"])) for i in range(len(info["outlier_scales"]))]
    d_sub = [_dissim(method, s(x, A[f"featsub_{i}"])) for i in range(len(info["featsub"]))]
    scores["t7_noise"] = _spearman(np.arange(len(d_noise)), d_noise, tol)
    scores["t7_pc_top"] = _spearman(info["pc_k"], d_top, tol)
    scores["t7_top_over_bottom"] = float(np.mean([a > b + tol * max(1.0, abs(b)) for a, b in zip(d_top, d_bot)]))
    scores["t7_pc_bottom"] = _spearman(info["pc_k"], d_bot, tol)
    scores["t7_outlier"] = _spearman(info["outlier_scales"], d_out, tol)
    scores["t7_featsub"] = _spearman(-np.asarray(info["featsub"]), d_sub, tol)
    scores["t7_dose_response"] = float(np.mean([(1 + scores["t7_noise"]) / 2, (1 + scores["t7_pc_top"]) / 2,
                                                scores["t7_top_over_bottom"]]))
    outputs["t7_curves"] = {"noise": d_noise, "pc_top": d_top, "pc_bottom": d_bot, "outlier": d_out,
                            "featsub": d_sub}
    ctx.step("T7 dose-response")
    return scores, outputs


def run_null(method, dataset, settings, ctx):
    A, grid = dataset.arrays, [tuple(g) for g in dataset.info["grid"]]
    s = _scorer(method, ctx)
    rng = ctx.rng(81)
    nulls = {}
    for n, d in grid:
        x, y = A[f"n{n}_d{d}_x"], A[f"n{n}_d{d}_y"]
        noisy = x + 0.5 * rng.normal(size=x.shape)
        shuffled = noisy[rng.permutation(n)]
        nulls[f"n{n}_d{d}"] = (s(x, y) + s(x, shuffled)) / 2
        ctx.step(f"T8 null n={n} d={d}")
    nb, db = max(grid, key=lambda g: (g[0], -g[1]))
    xb = A[f"n{nb}_d{db}_x"]
    self_value = s(xb, xb)
    ref = nulls[f"n{nb}_d{db}"]
    span = abs(self_value - ref)
    excess = {k: (abs(v - ref) / span if span > 0 else math.inf) for k, v in nulls.items()}
    worst = max(excess.values())
    score = 0.0 if not math.isfinite(worst) else float(min(1.0, max(0.0, 1.0 - worst)))
    return {"t8_null_calibration": score}, {"t8_nulls": nulls, "t8_self": self_value, "t8_excess": excess}


def run_estimation(method, dataset, settings, ctx):
    A, info = dataset.arrays, dataset.info
    s = _scorer(method, ctx)
    x, y = A["x"], A["y"]
    n_pop = x.shape[0]
    rng = ctx.rng(91)
    v = s(x, y)
    null = s(x, y[rng.permutation(n_pop)])
    R = abs(v - null)
    ctx.step("T9 population value")
    reps = int(settings.get("estimation_reps") or info["reps"])
    per_n = {}
    for n in info["n_grid"]:
        vals = []
        for _ in range(reps):
            idx = rng.choice(n_pop, size=int(n), replace=False)
            vals.append(s(x[idx], y[idx]))
        vals = np.asarray(vals)
        per_n[str(n)] = {"bias": float(vals.mean() - v), "sd": float(vals.std()),
                         "rmse": float(np.sqrt(np.mean((vals - v) ** 2)))}
        ctx.step(f"T9 n={n}")
    rel = np.mean([r["rmse"] for r in per_n.values()]) / R if R > 0 else math.inf
    score = float(1.0 / (1.0 + rel)) if math.isfinite(rel) else 0.0
    return {"t9_estimation": score}, {"t9_value": v, "t9_null": null, "t9_per_n": per_n}


def run_runtime(method, dataset, settings, ctx):
    import torch

    grid = [tuple(g) for g in (settings.get("runtime_grid") or dataset.info["grid"])]
    repeats = int(settings["runtime_repeats"])
    s = _scorer(method, ctx)
    g = torch.Generator().manual_seed(ctx.seed)
    seconds, refs = {}, {}
    for n, d in grid:
        X = torch.randn(n, d, generator=g, dtype=torch.float64).to(ctx.device)
        Y = torch.randn(n, d, generator=g, dtype=torch.float64).to(ctx.device)
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            s(X, Y)
            best = min(best, time.perf_counter() - t0)
        ref = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            (X.T @ Y).sum().item()
            ref = min(ref, time.perf_counter() - t0)
        seconds[f"n{n}_d{d}"], refs[f"n{n}_d{d}"] = best, ref
        ctx.step(f"T10 n={n} d={d}")
    last = f"n{grid[-1][0]}_d{grid[-1][1]}"
    score = float(min(1.0, refs[last] / seconds[last])) if seconds[last] > 0 else 1.0
    return {"t10_speed": score}, {"t10_seconds": seconds, "t10_reference_matmul_seconds": refs}


def _perm_pvalue(a, b, rho: float, rng, n_perm: int = 999) -> float:
    """One-sided permutation p-value of Spearman rho >= observed (pairings permuted)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.linalg.norm(ra) * np.linalg.norm(rb)
    if den == 0:
        return 1.0
    perms = np.argsort(rng.random((n_perm, len(rb))), axis=1)  # n_perm random permutations at once
    null = (rb[perms] @ ra) / den  # Spearman = Pearson of the ranks; ranks are permuted with the pairing
    return float((np.sum(null >= rho - 1e-12) + 1) / (n_perm + 1))


def _memo_scorer(method, ctx, arrays):
    """``s(ka, kb)``: the score of two named arrays, computed once (once per unordered pair if symmetric)."""
    score = _scorer(method, ctx)
    memo: dict[tuple[str, str], float] = {}
    symmetric = type(method).symmetric

    def s(ka: str, kb: str) -> float:
        key = (min(ka, kb), max(ka, kb)) if symmetric else (ka, kb)
        if key not in memo:
            memo[key] = score(arrays[ka], arrays[kb])
        return memo[key]
    return s


#: Probe accuracy drops after PC deletion (:func:`pc_deletion_probe`), per SHA-256 digest of (array, shape, dtype,
#: labels): they do not depend on the measure, so a worker computes them once per network and reuses them for
#: every measure's job. A least-recently-used memo of at most :data:`PROBE_MEMO_SIZE` entries (a few floats
#: each). Not ``functools.lru_cache``: it keys on the arguments, so it would keep every array it has seen alive;
#: this memo holds only the digests.
PROBE_MEMO_SIZE = 64
_PROBE_MEMO: OrderedDict[str, dict[int, float]] = OrderedDict()


def delete_top_pcs(H: np.ndarray, k: int) -> np.ndarray:
    """``H`` (rows are samples) with its top ``k`` principal components projected out: ``H - (H_c V_k) V_kᵀ``
    where ``H_c`` is ``H`` column-centred and ``V_k`` its first ``k`` right singular vectors (float64). The
    column means are kept, so only the ``k`` directions of largest variance are removed. Computed in float64,
    returned in ``H``'s floating dtype (the array a measure is then given)."""
    H = np.asarray(H)
    H64 = H.astype(np.float64)
    Hc = H64 - H64.mean(0)
    _, _, Vt = np.linalg.svd(Hc, full_matrices=False)
    V = Vt[:k].T
    return (H64 - (Hc @ V) @ V.T).astype(H.dtype if H.dtype.kind == "f" else np.float64)


def pc_deletion_ks(width: int) -> list[int]:
    """The numbers of top principal components deleted: the powers of two below ``width`` (at most 6)."""
    return [2 ** i for i in range(6) if 2 ** i < width]


def probe_accuracy(H: np.ndarray, y: np.ndarray) -> float:
    """Held-out accuracy of a linear probe (scikit-learn's multinomial logistic regression, C = 1, on
    standardised columns) under a fixed 2-fold stratified split (seed 0), the mean over both folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    accs = []
    for tr, te in StratifiedKFold(2, shuffle=True, random_state=0).split(H, y):
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        probe.fit(H[tr], y[tr])
        accs.append(float((probe.predict(H[te]) == y[te]).mean()))
    return float(np.mean(accs))


def pc_deletion_probe(H: np.ndarray, y: np.ndarray) -> dict[int, float]:
    """``{k: probe accuracy of H with its top k PCs deleted - probe accuracy of H}`` for k in
    :func:`pc_deletion_ks` (memoised per process by the content of ``H`` and ``y``: the probe does not depend
    on the measure; see :data:`_PROBE_MEMO`)."""
    import hashlib

    H = np.asarray(H)
    y = np.asarray(y)
    key = hashlib.sha256(H.tobytes() + str((H.shape, H.dtype.str)).encode() + y.tobytes()).hexdigest()
    drops = _PROBE_MEMO.get(key)
    if drops is None:
        base = probe_accuracy(H, y)
        drops = {k: probe_accuracy(delete_top_pcs(H, k), y) - base for k in pc_deletion_ks(H.shape[1])}
        _PROBE_MEMO[key] = drops
        while len(_PROBE_MEMO) > PROBE_MEMO_SIZE:
            _PROBE_MEMO.popitem(last=False)  # the least recently used
    else:
        _PROBE_MEMO.move_to_end(key)
    return dict(drops)


def _monotonicity(method, s, layers: list[str], tol: float) -> tuple[list[float], list[int]]:
    """Per source layer: Spearman(|i - j|, dissim(layer i, layer j)) over the other layers; and the index of
    each layer's nearest other layer (smallest dissimilarity; the first one on a tie). Ties: within ``tol``."""
    rhos, nearest = [], []
    for i in range(len(layers)):
        others = [j for j in range(len(layers)) if j != i]
        d = [_dissim(method, s(layers[i], layers[j])) for j in others]
        rhos.append(_spearman([abs(i - j) for j in others], d, tol))
        nearest.append(others[_argmin(d, tol)])
    return rhos, nearest


def run_groups(method, dataset, settings, ctx):
    """T6 group separation (ReSi tests 3-5) on networks trained under the levels of one condition
    (``similarity.network_groups``: arrays ``g<group>_s<i>_l<layer>``; ``info["layer"]`` the compared layer)."""
    from bench_core.metrics.group_separation import group_separation

    A, info = dataset.arrays, dataset.info
    s = _memo_scorer(method, ctx, A)
    layer = int(info["layer"])
    members = [(g, f"g{g}_s{i}_l{layer}") for g in range(len(info["levels"])) for i in range(int(info["n_seeds"]))]
    m = len(members)
    S = np.zeros((m, m))
    for a in range(m):
        for b in range(a + 1, m):
            ka, kb = members[a][1], members[b][1]
            # similarity = -dissimilarity; an asymmetric measure is symmetrised (the mean of both orders)
            S[a, b] = -(_dissim(method, s(ka, kb)) + _dissim(method, s(kb, ka))) / 2
        ctx.step(f"T6 member {a}")
    sep = group_separation(S, [g for g, _ in members])
    levels = info["levels"]
    outputs = {"t6_chance": sep["chance"], "t6_violation_rate": sep["violation_rate"],
               "t6_factor": info["factor"], "t6_layer": layer,
               "t6_per_group": {str(levels[g]): v for g, v in sep["per_group"].items()},
               "t6_similarity": np.round(S + S.T, 6).tolist()}
    return {"t6_group_separation": sep["auprc"]}, outputs


def run_layers(method, dataset, settings, ctx):
    """T2 layer monotonicity and adjacent-layer structure on the layers of one network
    (``similarity.transformer_layers``: arrays ``layer_0`` … ``layer_<L-1>`` on the same rows)."""
    A, info = dataset.arrays, dataset.info
    s = _memo_scorer(method, ctx, A)
    layers = [f"layer_{i}" for i in range(int(info["n_layers"]))]
    for i, a in enumerate(layers):  # every pair once, one step per source layer (as run_networks: per seed)
        for b in layers[i + 1:]:
            s(a, b)
            if not type(method).symmetric:
                s(b, a)
        ctx.step(f"T2 layer {i}")
    rhos, nearest = _monotonicity(method, s, layers, float(settings["tolerance"]))
    scores = {"t2_monotonicity": float(np.mean(rhos)),
              "t2_adjacent_nearest": float(np.mean([abs(i - j) == 1 for i, j in enumerate(nearest)]))}
    scores["t2_monotonicity_01"] = (1 + scores["t2_monotonicity"]) / 2
    D = [[0.0 if a == b else _dissim(method, s(a, b)) for b in layers] for a in layers]
    return scores, {"t2_per_layer": rhos, "t2_nearest_layer": nearest, "t2_dissimilarity": D}


def run_networks(method, dataset, settings, ctx):
    """T1 layer identification, T2 layer monotonicity and T5 functional grounding on networks trained from
    several seeds (``digits.networks``: arrays ``s<seed>_l<layer>``, ``s<seed>_logits``; held-out rows)."""
    A, info, tol = dataset.arrays, dataset.info, float(settings["tolerance"])
    named = {"input": dataset.X, **A}  # the protocol adds its PC-deleted layers here (T5)
    s = _memo_scorer(method, ctx, named)
    seeds = list(info["seeds"])[: int(settings.get("network_seeds") or len(info["seeds"]))]
    L = len(info["widths"])
    rng = ctx.rng(101)
    scores: dict[str, float] = {}
    outputs: dict[str, Any] = {}

    # T1: for each ordered seed pair (a, b) and each hidden layer i of a, is argmin_j dissim(a_i, b_j) == i?
    hits, adjacent, total = 0, 0, 0
    for a in seeds:
        for b in seeds:
            if a == b:
                continue
            for i in range(L):
                d = [_dissim(method, s(f"s{a}_l{i}", f"s{b}_l{j}")) for j in range(L)]
                j = _argmin(d, tol)
                hits += j == i
                adjacent += abs(j - i) == 1
                total += 1
        ctx.step(f"T1 seed {a}")
    scores["t1_layer_id"] = hits / total
    scores["t1_adjacent_confusion"] = adjacent / max(1, total - hits)
    outputs["t1_chance"] = 1.0 / L

    # T2: within each network, dissimilarity grows with layer distance (input, hidden layers, logits)
    rhos = []
    for a in seeds:
        rhos += _monotonicity(method, s, ["input"] + [f"s{a}_l{i}" for i in range(L)] + [f"s{a}_logits"], tol)[0]
        ctx.step(f"T2 seed {a}")
    scores["t2_monotonicity"] = float(np.mean(rhos))

    # T5: across seed pairs, last hidden layer: distance vs |accuracy gap| and output disagreement
    acc = {sd: float(a) for sd, a in zip(info["seeds"], info["accuracy"])}
    dist, dacc, disagree = [], [], []
    for ia, a in enumerate(seeds):
        for b in seeds[ia + 1:]:
            dist.append(_dissim(method, s(f"s{a}_l{L - 1}", f"s{b}_l{L - 1}")))
            dacc.append(abs(acc[a] - acc[b]))
            disagree.append(float((A[f"s{a}_logits"].argmax(1) != A[f"s{b}_logits"].argmax(1)).mean()))
    r_acc, r_out = _spearman(dacc, dist, tol), _spearman(disagree, dist, tol)

    # T5 after principal-component deletion (Ding et al. 2021): per seed, the last hidden layer against itself
    # with its top k principal components removed; distance vs the drop of a linear probe's accuracy
    ddist, ddrop, dpoints = [], [], []
    for a in seeds:
        H = A[f"s{a}_l{L - 1}"]
        for k, drop in pc_deletion_probe(H, dataset.y).items():
            name = f"s{a}_l{L - 1}_minus_top{k}"
            named[name] = delete_top_pcs(H, k)
            ddist.append(_dissim(method, s(f"s{a}_l{L - 1}", name)))
            ddrop.append(abs(drop))
            dpoints.append([a, k, round(float(drop), 6)])
    r_pc = _spearman(ddrop, ddist, tol)
    scores["t5_accuracy_gap"], scores["t5_disagreement"], scores["t5_pc_deletion"] = r_acc, r_out, r_pc
    scores["t5_functional"] = (r_acc + r_out + r_pc) / 3
    outputs["t5_pvalues"] = {"accuracy_gap": _perm_pvalue(dacc, tie_groups(dist, tol), r_acc, rng),
                             "disagreement": _perm_pvalue(disagree, tie_groups(dist, tol), r_out, rng),
                             "pc_deletion": _perm_pvalue(ddrop, tie_groups(ddist, tol), r_pc, rng)}
    outputs["t5_pairs"] = len(dist)
    outputs["t5_pc_deletion_points"] = dpoints  # [seed, k, probe accuracy after deletion - before]
    ctx.step("T5 functional grounding")
    scores["t2_monotonicity_01"] = (1 + scores["t2_monotonicity"]) / 2
    scores["t5_functional_01"] = (1 + scores["t5_functional"]) / 2
    return scores, outputs
