"""What the reducers leaderboard must show on the synthetic manifolds (issue: reducers track), read from the
quick and standard boards' JSON (``leaderboards/{quick,standard}/reducers.json``, each from one run of the
committed code; ``FEATBENCH_REDUCERS_BOARD`` points the test at another board).

- The true latent coordinates (positive control) rank first on the intrinsic scores (``intrinsic_structure``:
  the panel scored against the known coordinates instead of the ambient space) on every synthetic manifold.
- The Gaussian random projection (negative control) ranks last on local structure (``local``: T, C and the
  R_NX AUC, chance-corrected) on every synthetic manifold.

"Last"/"first" are judged with the tolerance of ``featbench compare``: a method breaks the claim only if it
is beyond the control by more than max(0.01, 2 standard errors of the difference over seeds). Exceptions
are declared in ``KNOWN_DEVIATIONS`` with what was measured and why; a declared exception that stops
happening fails the test too (so the list stays true).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from conftest import REPO, committed_board

BOARDS = {profile: REPO / "leaderboards" / profile / "reducers.json" for profile in ("quick", "standard")}
if os.environ.get("FEATBENCH_REDUCERS_BOARD"):
    BOARDS = {"quick": Path(os.environ["FEATBENCH_REDUCERS_BOARD"])}

#: profile -> (dataset, claim, method) -> why. Claim "random_last_local": the method's local structure is
#: significantly below random projection's there.
KNOWN_DEVIATIONS: dict[str, dict[tuple[str, str, str], str]] = {
    "quick": {},
    "standard": {
        ("swiss_roll", "random_last_local", "diffusion_maps"):
            "local 0.681 against random projection's 0.741 (1,000 rows, 3 seeds): on a long strip the leading "
            "diffusion coordinates are harmonics along its length (repeated eigendirections), so the 2-D map "
            "folds the roll's width away; the likely cause, not checked on the embedding itself",
    },
}


@pytest.fixture(scope="module", params=sorted(BOARDS))
def profile(request):
    return request.param


@pytest.fixture(scope="module")
def board(profile):
    return committed_board(BOARDS[profile], "reducers", profile)


def _manifolds(registry, board):
    return sorted(d for d in board["datasets"] if "latent_coordinates" in registry.card(d).properties)


def _stat(cell, key):
    """(mean, standard error) of a secondary score over the cell's seeds."""
    vals = [v for v in cell.get("secondary_values", {}).get(key, [])] if "secondary_values" in cell else []
    mean = cell["secondary"].get(key)
    if len(vals) >= 2:
        m = sum(vals) / len(vals)
        sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))
        return mean, sd / math.sqrt(len(vals))
    # the board keeps only the mean of secondary scores: use the primary score's seed spread as the scale
    sd = cell.get("sd") or 0.0
    return mean, sd / math.sqrt(max(1, cell.get("n_done", 1)))


def _beyond(a, b) -> bool:
    """a is above b by more than max(0.01, 2 SE of the difference)."""
    return a[0] - b[0] > max(0.01, 2 * math.sqrt(a[1] ** 2 + b[1] ** 2))


def _claims(registry, board):
    found = {}
    for ds in _manifolds(registry, board):
        cells = {c["variant"]: c for c in board["datasets"][ds]["cells"] if c["n_done"]}
        true, rnd = cells["true_coordinates"], cells["random_projection"]
        t = _stat(true, "intrinsic_structure")
        for name, c in cells.items():
            if name != "true_coordinates" and _beyond(_stat(c, "intrinsic_structure"), t):
                found[(ds, "true_first_intrinsic", name)] = _stat(c, "intrinsic_structure")[0]
        r = _stat(rnd, "local")
        for name, c in cells.items():
            if name != "random_projection" and _beyond(r, _stat(c, "local")):
                found[(ds, "random_last_local", name)] = _stat(c, "local")[0]
    return found


def test_board_covers_every_quick_manifold(registry, board):
    quick = {c.name for c in registry.cards_for("reducers") if c.in_profile("quick")
             and "latent_coordinates" in c.properties}
    assert quick <= set(_manifolds(registry, board)), "the board lacks a quick-tier manifold"
    assert len(quick) >= 3


def test_controls_land_where_they_must(registry, board, profile):
    found = _claims(registry, board)
    known = KNOWN_DEVIATIONS[profile]
    new = {k: v for k, v in found.items() if k not in known}
    assert not new, f"claims broken (dataset, claim, method) -> value: {new}"
    gone = sorted(set(known) - set(found))
    assert not gone, f"declared deviations no longer happen, remove them: {gone}"


def test_true_coordinates_are_perfect_on_the_intrinsic_panel(registry, board):
    for ds in _manifolds(registry, board):
        cell = next(c for c in board["datasets"][ds]["cells"] if c["variant"] == "true_coordinates")
        assert cell["secondary"]["intrinsic_structure"] == pytest.approx(1.0, abs=1e-6), ds
