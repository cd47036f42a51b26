"""What the committed standard leaderboard must show (issue: selectors track), read from its JSON.

These are checks on measured results, not on code: regenerating the leaderboard with a change that breaks a
control or the XOR story makes them fail.

"Ranks first" is judged with the same seed-spread-aware tolerance as ``featbench compare``: a method counts as
beating the oracle only if its mean is higher by more than max(0.01, 2 standard errors of the difference).

"Random ranks last" is asserted for the methods that see the label (tag ``supervised``). An unsupervised
method is not bound by a negative control built on the label: on generators whose features share one
distribution (L2X sets, SNR family) variance and Laplacian score order the columns by sampling noise, a
random order with extra steps; Infinite FS rewards features *un*correlated with the others, so where the
relevant features move together (make_classification, the correlated Gaussians) it ranks them last by
design; the concrete autoencoder and QuickSelection reconstruct the inputs, where the many noise columns
weigh as much as the few relevant ones. Where they fall below random is listed in the issue's closing note.
"""

from __future__ import annotations

import json
import math

import pytest

from conftest import REPO

BOARD = REPO / "leaderboards" / "standard" / "selectors.json"
UNIVARIATE = ("anova_f", "fisher_score", "mutual_info", "outrank", "distance_correlation", "chi2", "variance")
MULTIVARIATE = ("relieff", "extra_trees", "random_forest", "permutation_importance", "mrmr", "stg",
                "sequential_attention", "lassonet")
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


#: Where the committed board contradicts the claim, declared with what was measured (never silenced: a
#: dataset that newly breaks the claim fails the test, and so does one of these that stops breaking it).
KNOWN_DEVIATIONS = {
    "orange_skin": "lassonet falls below random (auc_logk 0.506 ± sd 0.016 against 0.530, F1 strict 0 in all "
                   "3 seeds): the label depends on the sum of squares of 4 features, with no linear part, and "
                   "LassoNet's hierarchy bounds each feature's hidden weights by its linear skip weight, so the "
                   "relevant features leave the path first; the oracle beats random here by only 0.097, so the "
                   "dataset is left out of the overall ranking",
    "parity3": "third-order parity: every method is at chance (AUC 0.45-0.55), so the order below the oracle, "
               "random included, is seed noise that three seeds cannot resolve",
    "xor_small": "distance_correlation falls below random: a univariate filter ranks the two XOR features "
                 "among the last, worse than a random draw",
}


def test_oracle_first_and_random_last_on_every_synthetic_dataset(board, registry):
    synthetic = _synthetic(registry, board)
    assert len(synthetic) >= 15
    problems = []
    for ds in synthetic:
        cells = _cells(board, ds)
        oracle, random = cells["oracle"], cells["random"]
        assert oracle["n_done"] == 3 and random["n_done"] == 3, ds  # the committed run has every seed
        done = [c for c in cells.values() if c["mean"] is not None and c["n_done"] >= 1]
        above_oracle = [c["variant"] for c in done if c["variant"] != "oracle" and _beats(c, oracle)]
        below_random = [c["variant"] for c in done if c["variant"] != "random" and _supervised(registry, c["variant"])
                        and _beats(random, c)]
        if above_oracle or below_random:
            problems.append((ds, above_oracle, below_random))
    assert {ds for ds, *_ in problems} == set(KNOWN_DEVIATIONS), problems


def test_xor_is_failed_by_univariate_filters_and_solved_by_a_multivariate_method(board):
    """Univariate filters cannot see a pure interaction: none recovers the XOR/parity features (F1 ≤ 0.5, a
    chance hit on one of two). On ``xor_small`` (2 of 50 features) at least one multivariate method recovers
    both in every seed; ``xor_highdim`` (2 of 500) and third-order ``parity3`` are reported, not required."""
    for ds in XOR_SETS:
        cells = _cells(board, ds)
        for name in UNIVARIATE:
            c = cells.get(name)
            if c is None or c["mean"] is None:
                continue
            assert (c["secondary"].get("f1_strict") or 0.0) <= 0.5, f"{name} found the {ds} features"
    cells = _cells(board, "xor_small")
    solved = [name for name in MULTIVARIATE
              if cells[name]["n_done"] >= 2 and cells[name]["secondary"].get("f1_strict") == 1.0]
    assert solved, "no multivariate method recovers the xor_small features in every seed"
