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
