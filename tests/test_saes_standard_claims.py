"""What the SAE track must show on planted data, read from the committed standard board
(``leaderboards/standard/saes.json``, one run of the committed code; ``FEATBENCH_SAES_BOARD`` points the test
at another board). The quick profile's claims are checked on the session's quick run in
``tests/test_saes_claims.py``; these are the same claims at the standard scale (3 seeds, widths 4 and 8,
L0 targets {8, 16, 32, 64} below d), on the cell means over seeds:

* the positive control (the planted dictionary itself) ranks first on MCC at every L0 target of every planted
  dataset: its MCC is 1 by construction, and every other method with a sparsity knob stays below it;
* the negative control (a random dictionary with TopK codes, at each width) ranks last: every other method is
  above the better of the two random dictionaries by more than ``MARGIN``.

Exceptions are declared in ``KNOWN_DEVIATIONS`` with what was measured and why; a declared exception that
stops happening fails the test too (so the list stays true). Also: the achieved L0 is matched (per-row ``k``
methods exactly; batch-level rules within 10 % on average; calibrated penalties within a factor 2), and
every planned cell has its 3 seeds or a recorded reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import REPO

BOARD = Path(os.environ.get("FEATBENCH_SAES_BOARD") or REPO / "leaderboards" / "standard" / "saes.json")
MARGIN = 0.02
#: (dataset, claim, variant, target) -> why. Claims: "random_last_mcc" (the variant is not above the random
#: dictionaries by MARGIN there).
KNOWN_DEVIATIONS: dict[tuple[str, str, str, int], str] = {}


@pytest.fixture(scope="module")
def board():
    if not BOARD.exists():
        pytest.skip(f"{BOARD} is not there yet: it is committed from one run of the committed code "
                    f"(featbench run --track saes --profile standard; featbench leaderboard --profile standard)")
    return json.loads(BOARD.read_text())


def _planted(registry, board):
    return sorted(d for d in board["datasets"] if "planted_dictionary" in registry.card(d).properties)


def _targets(cell):
    return sorted(int(k.split("=")[1]) for k, v in cell["secondary"].items() if k.startswith("mcc@L0=")
                  and v is not None)


def _deviations(registry, board):
    found = {}
    for ds in _planted(registry, board):
        cells = {c["variant"]: c for c in board["datasets"][ds]["cells"] if c["n_done"]}
        planted = cells["planted"]
        randoms = [c for c in cells.values() if c["method"] == "random_topk"]
        assert len(randoms) == 2, ds  # widths 4 and 8
        for t in _targets(planted):
            key = f"mcc@L0={t}"
            assert planted["secondary"][key] == pytest.approx(1.0)
            floor = max(c["secondary"][key] for c in randoms)
            for name, c in cells.items():
                v = c["secondary"].get(key)
                if name == "planted" or c["method"] == "random_topk" or v is None:
                    continue
                assert v < 1.0, f"{name} ties the planted dictionary on {ds} at L0={t}"
                if v <= floor + MARGIN:
                    found[(ds, "random_last_mcc", name, t)] = round(v, 3)
    return found


def test_the_board_is_the_standard_profile_with_every_planted_dataset(registry, board):
    assert board["profile"] == "standard" and board["track"] == "saes"
    assert {"planted_main", "planted_quick"} <= set(_planted(registry, board))
    assert "minilm_l3_tokens" in board["datasets"] and "digits_mlp_l1" in board["datasets"]


def test_controls_rank_first_and_last_on_mcc_at_every_target(registry, board):
    found = _deviations(registry, board)
    undeclared = {k: v for k, v in found.items() if k not in KNOWN_DEVIATIONS}
    assert not undeclared, f"methods at or below the random dictionary on MCC: {undeclared}"
    stale = sorted(set(KNOWN_DEVIATIONS) - set(found))
    assert not stale, f"declared deviations that no longer happen: {stale}"


def test_every_planned_cell_has_its_seeds_or_a_reason(board):
    for ds, table in board["datasets"].items():
        for c in table["cells"]:
            if c["note"].startswith("n/a"):
                assert c["n_total"] == 0, (ds, c["variant"])
                continue
            assert c["n_total"] == c["n_planned"] == 3, (ds, c["variant"], c["n_total"], c["note"])


def test_l0_is_matched(registry, board):
    for ds in _planted(registry, board):
        for c in board["datasets"][ds]["cells"]:
            if not c["n_done"] or c["variant"] == "planted":
                continue
            cls = registry.method("saes", c["method"])
            for t in _targets(c):
                l0 = c["secondary"][f"l0@L0={t}"]
                if cls.sparsity_mode == "k" and c["method"] not in ("batch_topk", "feature_choice", "matryoshka"):
                    assert l0 == pytest.approx(t), (ds, c["variant"], t, l0)
                elif cls.sparsity_mode == "k":  # batch-level rules: matched on average, not per row
                    assert abs(l0 / t - 1) < 0.1, (ds, c["variant"], t, l0)
                else:
                    assert 1 / 2 < l0 / t < 2, (ds, c["variant"], t, l0)
