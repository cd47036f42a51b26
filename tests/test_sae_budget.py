"""The faster exact computations behind the standard profile's step budgets (bench_core/tracks/saes.py,
"Standard budget"): the Cholesky-update OMP and semi-NMF's sparse code products give the same numbers as the
plain computations they replace."""

from __future__ import annotations

import numpy as np
import torch

from featbench_builtins.saes import classical, controls


def test_omp_matches_scikit_learn_at_many_atoms_with_unnormalised_atoms():
    """k = 20 of 60 atoms of mixed norms (the Cholesky factor grows 20 times). omp_codes selects by
    ``|⟨r, atom⟩| / ‖atom‖`` (scikit-learn by the raw inner product), so the reference runs on the unit atoms
    and its coefficients are divided by the norms."""
    from sklearn.linear_model import orthogonal_mp_gram

    rng = np.random.default_rng(1)
    D = rng.normal(size=(60, 32)) * rng.uniform(0.5, 3.0, size=(60, 1))
    X = rng.normal(size=(40, 32))
    z = controls.omp_codes(torch.tensor(D), torch.tensor(X), 20, chunk=16).double().numpy()
    norms = np.linalg.norm(D, axis=1)
    U = D / norms[:, None]
    ref = orthogonal_mp_gram(U @ U.T, U @ X.T, n_nonzero_coefs=20).T / norms
    np.testing.assert_allclose(z, ref, atol=1e-6)


def test_omp_stops_adding_atoms_once_the_residual_is_zero():
    """A row that is exactly 2 atoms keeps exactly those 2 codes (their coefficients) at k = 6; a zero row gets
    no code."""
    rng = np.random.default_rng(2)
    D = rng.normal(size=(30, 16))
    x = 2.0 * D[3] - 0.5 * D[17]
    z = controls.omp_codes(torch.tensor(D), torch.tensor(np.stack([x, np.zeros(16)])), 6).double().numpy()
    assert set(np.flatnonzero(z[0])) == {3, 17}
    np.testing.assert_allclose(z[0, [3, 17]], [2.0, -0.5], atol=1e-6)
    assert not z[1].any()


def _dense_update(X, Z, D, k, n, eps=0.0):
    """Semi-NMF's multiplicative code update written densely (the version-1 computation)."""
    XD, DD = X @ D.T, D @ D.T
    XDp, XDm, DDp, DDm = XD.clamp(min=0), (-XD).clamp(min=0), DD.clamp(min=0), (-DD).clamp(min=0)
    for i in range(n):
        if i == 0 and eps:
            Z = Z + eps * (Z == 0)
        Z = Z * torch.sqrt((XDp + Z @ DDm) / (XDm + Z @ DDp).clamp_min(1e-12))
        Z = classical._topk_abs(Z, k)
    return Z


def test_semi_nmf_sparse_code_updates_equal_the_dense_ones():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 24, generator=g, dtype=torch.float64)
    D = torch.randn(96, 24, generator=g, dtype=torch.float64)
    D = D / D.norm(dim=1, keepdim=True)
    Z0 = classical._topk_abs((X @ D.T).clamp(min=0) + 1e-3, 5)
    for n, eps in ((1, 1e-9), (4, 0.0)):
        got = classical.SemiNMF._update_codes(X, Z0, D, 5, n, eps=eps)
        ref = _dense_update(X, Z0, D, 5, n, eps=eps)
        torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-12)
    dense_start = (X @ D.T).clamp(min=0) + 1e-3  # encode's start is dense: the dense product path
    torch.testing.assert_close(classical.SemiNMF._update_codes(X, dense_start, D, 5, 3),
                               _dense_update(X, dense_start, D, 5, 3), rtol=1e-9, atol=1e-12)


# --- the standard profile's scikit-learn budgets (NMF, FastICA; issue 10) -------------------------------------


def _nmf_data(n=240, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.normal(size=(n, d)).astype(np.float32))


def test_nmf_codes_are_the_top_k_of_scikit_learn_transform_and_each_batch_is_transformed_once_per_fit():
    """Models that share one fit (same parameters but k, seed and rows) transform each input batch once: a
    second target L0 reads the memo. The codes are the k largest of the fitted model's own ``transform``
    (recomputed here, outside the memo) for every k."""
    from bench_core.tracks.base import Context

    X = _nmf_data()
    params = {**classical.NMF.params, "width": 2, "max_iter": 30, "solver": "mu"}
    a = classical.NMF(**{**params, "k": 2})
    a.fit(X, Context(seed=0))
    calls = []
    real = a.nmf.transform
    a.nmf.transform = lambda V: calls.append(V.shape) or real(V)
    b = classical.NMF(**{**params, "k": 5})
    b.fit(X, Context(seed=0))  # the same fit: reused, sharing the memo
    assert b.nmf is a.nmf
    batch = X[:100]
    za, zb = a.encode(batch).numpy(), b.encode(batch).numpy()
    assert len(calls) == 1
    full = real(classical.NMF._split((batch - a.b).double().numpy()))
    for z, k in ((za, 2), (zb, 5)):
        assert ((z != 0).sum(1) <= k).all()
        ref = np.zeros_like(full)
        top = np.argsort(-np.abs(full), axis=1, kind="stable")[:, :k]
        np.put_along_axis(ref, top, np.take_along_axis(full, top, 1), 1)
        np.testing.assert_allclose(z, ref, rtol=1e-6, atol=1e-7)
    a.encode(X[100:])  # another batch: transformed
    assert len(calls) == 2
    c = classical.NMF(**{**params, "k": 2})
    c.fit(X, Context(seed=1))  # another seed: a new fit and a new memo
    assert c.nmf is not a.nmf and not c.transform_memo


def test_nmf_memo_drops_its_oldest_batch_past_its_bound(monkeypatch):
    from bench_core.tracks.base import Context

    X = _nmf_data()
    m = classical.NMF(**{**classical.NMF.params, "width": 2, "k": 3, "max_iter": 10, "solver": "mu"})
    m.fit(X, Context(seed=0))
    monkeypatch.setattr(classical.NMF, "MEMO_ELEMENTS", 2 * 60 * 12)  # two batches of 60 rows, 12 latents
    for s in (0, 60, 120):
        m.encode(X[s:s + 60])
    assert len(m.transform_memo) == 2
    assert sum(v.numel() for v in m.transform_memo.values()) <= classical.NMF.MEMO_ELEMENTS


def test_nmf_and_fastica_hand_their_solver_settings_to_scikit_learn(monkeypatch):
    """``solver``, ``max_iter``, ``tol`` (NMF) and ``max_iter``, ``tol`` (FastICA) reach the estimators; the
    NMF stops within ``max_iter`` iterations."""
    import sklearn.decomposition as skd

    from bench_core.tracks.base import Context

    X = _nmf_data()
    nmf = classical.NMF(**{**classical.NMF.params, "width": 2, "k": 3, "max_iter": 7, "solver": "mu", "tol": 0.0})
    nmf.fit(X, Context(seed=3))
    assert (nmf.nmf.solver, nmf.nmf.max_iter, nmf.nmf.tol) == ("mu", 7, 0.0)
    assert nmf.nmf.n_iter_ <= 7
    seen = {}

    class Spy(skd.FastICA):
        def __init__(self, **kw):
            seen.update(kw)
            super().__init__(**kw)

    monkeypatch.setattr(skd, "FastICA", Spy)
    ica = classical.FastICA(**{**classical.FastICA.params, "k": 2, "max_iter": 9, "tol": 1e-3})
    ica.fit(X, Context(seed=4))
    assert (seen["max_iter"], seen["tol"]) == (9, 1e-3)


def test_fastica_takes_as_many_components_as_the_rank_of_the_rows():
    """Rows of rank 5 in 8 dimensions (3 units never fire, as on digits_mlp_l1): 5 atoms, and 5-sparse codes
    reconstruct the rows (version 2 whitened 8 components into a degenerate mixing matrix: FVU 1)."""
    from bench_core.tracks.base import Context

    g = np.random.default_rng(0)
    S = g.laplace(size=(3000, 5))
    X = np.zeros((3000, 8), dtype=np.float32)
    X[:, [0, 2, 3, 5, 7]] = S @ g.normal(size=(5, 5)) + 1.0
    full = classical.FastICA(**{**classical.FastICA.params, "k": 5})
    full.fit(X, Context(seed=0))
    assert tuple(full.dictionary.shape) == (5, 8)
    Xt = torch.as_tensor(X)
    xh = full.decode(full.encode(Xt))
    fvu = float(((Xt - xh) ** 2).sum() / ((Xt - Xt.mean(0)) ** 2).sum())
    assert fvu < 1e-8
    assert torch.all(xh[:, [1, 4, 6]].abs() < 1e-4)


def test_standard_profile_bounds_nmf_and_fastica_and_quick_keeps_its_settings(registry, tmp_path):
    """``standard`` plans NMF with multiplicative updates and FastICA with half of scikit-learn's iterations
    (the budgets of the "Standard budget" section); ``quick`` plans the version-1 settings (scikit-learn's
    default solver and tolerance), so its scores are version 1's."""
    from bench_core.execute.run import RunRequest, plan_run
    from bench_core.store import Store

    def plan(profile):
        req = RunRequest(tracks=["saes"], methods=["nmf", "fastica"], datasets=["planted_quick"], profile=profile,
                         results=tmp_path / profile, device="cpu")
        specs = plan_run(registry, req, Store(tmp_path / profile)).specs
        return {(s.method, s.params.get("width")): s.params for s in specs}

    std, quick = plan("standard"), plan("quick")
    for w in (4, 8):
        assert {k: std[("nmf", w)][k] for k in classical.STANDARD_NMF} == classical.STANDARD_NMF
    assert std[("nmf", 4)]["solver"] == "mu"
    assert {k: std[("fastica", None)][k] for k in classical.STANDARD_FASTICA} == classical.STANDARD_FASTICA
    assert (quick[("nmf", 1)]["solver"], quick[("nmf", 1)]["tol"], quick[("nmf", 1)]["max_iter"]) == ("cd", 1e-4, 100)
    assert (quick[("fastica", None)]["max_iter"], quick[("fastica", None)]["tol"]) == (200, 1e-4)
    assert std[("fastica", None)]["max_iter"] < classical.FastICA.params["max_iter"]
    assert std[("nmf", 4)]["max_iter"] < classical.NMF.params["max_iter"]


def test_budget_table_projects_seed_0_cpu_seconds_to_the_profiles_seeds(tmp_path, capsys):
    """tools/sae_budget.py on a hand-made results directory: 10 + 20 CPU-s (and a timeout counted at its
    wall seconds, 30) at seed 0 give 60 per seed, 180 for 3 seeds, 1.5 min on 2 workers; a later directory's
    result replaces an earlier one; other seeds, other profiles and excluded variants are not counted."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("sae_budget", Path(__file__).parents[1] / "tools" / "sae_budget.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    from test_leaderboard_compare import record

    def put(root, name, variant, cpu, seed=0, profile="standard", status="done", job_s=None):
        r = record("ds", variant.split("[")[0], seed, status=status, primary=0.5)  # a valid stored result
        r["key"] = f"{root}-{name}-00000000"
        p = tmp_path / root / "saes" / "ds" / variant.split("[")[0] / f"{r['key']}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        timing = {"wall_s": job_s or 1.0, "job_s": job_s or 1.0}
        if cpu is not None:
            timing["cpu_s"] = cpu
        r.update(track="saes", variant=variant, profile=profile, timing=timing)
        p.write_text(json.dumps(r))

    put("a", "1", "topk", 99.0)  # replaced by b's
    put("a", "2", "nmf[width=8]", None, status="timeout", job_s=30.0)
    put("a", "3", "topk", 5.0, seed=1)
    put("a", "4", "topk", 5.0, profile="quick")
    put("a", "5", "fastica[max_iter=200]", 41.0)
    put("b", "1", "topk", 10.0)
    put("b", "6", "pca", 20.0)
    rows = tool.load([tmp_path / "a", tmp_path / "b"], "standard", None, ["fastica[*"])
    assert {k[1]: r["counted"] for k, r in rows.items()} == {"topk": 10.0, "nmf[width=8]": 30.0, "pca": 20.0}
    text = tool.table(rows, seeds=3, workers=2, job_limit=150.0)
    assert "total for 3 seed(s): 180 CPU-s = 3.0 worker-min = 1.5 min with 2 workers" in text
    assert "| ds | nmf[width=8] | timeout | ≥ 30.0 | 90 |" in text
    # the command line flags jobs over the profile's job limit (standard: 300 s) unless told another
    put("c", "7", "gated", 301.0)
    assert tool.main([str(tmp_path / "c")]) == 0
    assert "(> 300 s job limit)" in capsys.readouterr().out
    assert tool.main([str(tmp_path / "c"), "--job-limit", "400"]) == 0
    assert "job limit" not in capsys.readouterr().out
    assert tool.main([str(tmp_path / "c"), "--profile", "huge"]) == 2
    assert "unknown profile 'huge' (valid: smoke, quick, standard, full)" in capsys.readouterr().err


def test_budget_tool_projects_another_training_budget_from_a_jobs_fits_and_throughput():
    """``--tokens``: a trainer job costs its CPU seconds plus (N / budget - 1) x its training seconds, those
    estimated as fits x budget / throughput; fits = one per L0 target ("k"), the distinct calibration probes
    ("penalty"), plus one per consistency score. Hand-computed: 3 fits x 1,000 tokens at 100 tokens/s = 30 s,
    so 50 CPU-s at 4,000 tokens is 50 + 3 x 30 = 140; 4 fits of 2,000 tokens at 400/s = 20 s, so 80 CPU-s at
    1,000 tokens is 80 - 0.5 x 20 = 70; without a throughput (a method off the trainer) the cost is kept."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("sae_budget", Path(__file__).parents[1] / "tools" / "sae_budget.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    k_job = {"outputs": {"l0_targets": [8, 16], "train_tokens": 1000},
             "scores": {"train_tokens_per_s": 100.0, "consistency@L0=16": 0.5, "fvu@L0=8": 0.1},
             "settings": {"tokens": 999_999}}
    assert tool.trainer_fits(k_job) == 3
    assert tool.rescale(k_job, 50.0, 4000) == 140.0
    assert tool.rescale(k_job, 50.0, None) == 50.0
    pen_job = {"outputs": {"l0_targets": [8, 16], "calibration": {
        "8": {"trace": [[0.1, 12.0], [0.2, 9.0]]}, "16": {"trace": [[0.1, 12.0], [0.05, 17.0]]}}},
        "scores": {"train_tokens_per_s": 400.0, "consistency@L0=8": 0.3}, "settings": {"tokens": 2000}}
    assert tool.trainer_fits(pen_job) == 4  # probes 0.1, 0.2, 0.05 and the consistency refit
    assert tool.rescale(pen_job, 80.0, 1000) == 70.0  # the budget from settings when train_tokens is absent
    native = {"outputs": {}, "scores": {"train_tokens_per_s": 50.0}, "settings": {"tokens": 100}}
    assert tool.trainer_fits(native) == 1
    assert tool.rescale({"outputs": {}, "scores": {}, "settings": {"tokens": 100}}, 7.0, 400) == 7.0
