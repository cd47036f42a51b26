"""What the committed standard leaderboard must show (issue: selectors track), read from its JSON.

These are checks on measured results, not on code: regenerating the leaderboard with a change that breaks a
control or the XOR story makes them fail.

"Ranks first" is judged with the same seed-spread-aware tolerance as ``featbench compare``: a method counts as
beating the oracle only if its mean is higher by more than max(0.01, 2 standard errors of the difference).

"Random ranks last" is asserted for the methods that see the label. An unsupervised method is not bound by
a negative control built on the label: Infinite FS rewards features that are *un*correlated with the
others, so on generators whose relevant features move together (make_classification, the correlated
Gaussians) it ranks them last, by design; the concrete autoencoder and QuickSelection reconstruct the
inputs, where the many noise columns weigh as much as the few relevant ones. That only these fall below
random is checked by ``test_unsupervised_methods_below_random_are_only_the_explained_ones``.
"""

from __future__ import annotations

import json
import math

import pytest

from conftest import REPO

BOARD = REPO / "leaderboards" / "standard" / "selectors.json"
UNIVARIATE = ("anova_f", "fisher_score", "mutual_info", "outrank", "distance_correlation", "chi2", "variance")
MULTIVARIATE = ("relieff", "extra_trees", "random_forest", "permutation_importance", "mrmr")
XOR_SETS = ("xor_small", "xor_highdim", "parity3")


@pytest.fixture(scope="module")
def board():
    assert BOARD.exists(), "the standard leaderboard is committed (featbench leaderboard --profile standard --out leaderboards/standard)"
    return json.loads(BOARD.read_text())


def _cells(board, ds):
    return {c["variant"]: c for c in board["datasets"][ds]["cells"]}


def _beats(a, b) -> bool:
    """a's mean is above b's by more than the compare tolerance."""
    se = math.sqrt((a["sd"] or 0) ** 2 / max(1, a["n_done"]) + (b["sd"] or 0) ** 2 / max(1, b["n_done"]))
    return a["mean"] - b["mean"] > max(0.01, 2 * se)


def _synthetic(registry, board):
    return sorted(d for d in board["datasets"] if "ground_truth" in registry.card(d).properties)


def _supervised(registry, variant: str) -> bool:
    return registry.method("selectors", variant).tags.supervised


def test_oracle_first_and_random_last_on_every_synthetic_dataset(board, registry):
    synthetic = _synthetic(registry, board)
    assert len(synthetic) >= 15
    problems = []
    for ds in synthetic:
        cells = _cells(board, ds)
        oracle, random = cells["oracle"], cells["random"]
        assert oracle["n_done"] >= 3 and random["n_done"] >= 3, ds
        done = [c for c in cells.values() if c["mean"] is not None and c["n_done"] >= 1]
        above_oracle = [c["variant"] for c in done if c["variant"] != "oracle" and _beats(c, oracle)]
        below_random = [c["variant"] for c in done if c["variant"] != "random" and _supervised(registry, c["variant"])
                        and _beats(random, c)]
        if above_oracle or below_random:
            problems.append((ds, above_oracle, below_random))
    assert not problems, problems


def test_unsupervised_methods_below_random_are_only_the_explained_ones(board, registry):
    below = {}
    for ds in _synthetic(registry, board):
        cells = _cells(board, ds)
        names = [c["variant"] for c in cells.values() if c["mean"] is not None and c["variant"] != "random"
                 and not _supervised(registry, c["variant"]) and _beats(cells["random"], c)]
        if names:
            below[ds] = sorted(names)
    # the known, explained cases (module docstring); a new one must be looked at, not absorbed
    explained = {"inf_fs", "concrete_autoencoder", "quickselection"}
    unexplained = {name for names in below.values() for name in names} - explained
    assert not unexplained, below


def test_xor_is_failed_by_univariate_filters_and_solved_by_a_multivariate_method(board):
    for ds in XOR_SETS:
        cells = _cells(board, ds)
        for name in UNIVARIATE:
            c = cells.get(name)
            if c is None or c["mean"] is None:
                continue
            assert (c["secondary"].get("f1_strict") or 0.0) <= 0.5, f"{name} found the {ds} features"
        solved = [name for name in MULTIVARIATE
                  if (cells.get(name) or {}).get("secondary", {}).get("f1_strict") == 1.0]
        if ds != "parity3":  # third-order parity: reported, not required
            assert solved, f"no multivariate method recovers {ds}"
