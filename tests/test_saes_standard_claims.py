"""What the SAE track shows on planted data at the standard budget, read from the committed standard board
(``leaderboards/standard/saes.json``, one run of the committed code; ``FEATBENCH_SAES_BOARD`` points the test
at another board). The quick profile's claims are checked on the session's quick run in
``tests/test_saes_claims.py``; these are the same claims at the standard scale (3 seeds, widths 4 and 8,
L0 targets {8, 16, 32, 64} below d, 40,960 training tokens), on the cell means over seeds:

* the positive control (the planted dictionary itself) ranks first on MCC at every L0 target of every planted
  dataset: its MCC is 1 by construction, and every other method with a sparsity knob stays below it;
* the negative control (a random dictionary with TopK codes) ranks last: every other method is above the
  random dictionary with the same number of atoms (the same width; a method without a width, against the
  default width-4 one) by more than ``MARGIN``. **At the standard budget this does not hold**: the
  (dataset, width) groups where some method is not above the random dictionary by the margin are declared in
  ``KNOWN_DEVIATIONS`` with what was measured (see there); a declared group that stops failing fails the test
  too, so the list stays true when the budget changes;
* the achieved L0 is matched (per-row ``k`` methods exactly, batch-level rules within 10 % on average,
  calibrated penalties within a factor 2), except where declared in ``L0_DEVIATIONS``;
* every planned cell has its 3 seeds, or a recorded reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from conftest import REPO, committed_board

BOARD = Path(os.environ.get("FEATBENCH_SAES_BOARD") or REPO / "leaderboards" / "standard" / "saes.json")
MARGIN = 0.02
_BUDGET = ("40,960 training tokens (80 Adam steps of 512) leave the SAEs far from trained: on planted_main (4,096 "
           "directions in d = 256) every trained SAE's MCC is 0.23-0.28 against the random dictionary's 0.233 "
           "(width 8) and 0.234 (width 4), and the quick profile, with 100,000 tokens on planted_quick, clears the "
           "margin at width 4")
#: (dataset, width) -> why: groups where some method is not above the random dictionary of its width by MARGIN.
KNOWN_DEVIATIONS: dict[tuple[str, int], str] = {
    ("planted_main", 4): _BUDGET + "; 11 of the 14 width-4 methods; semi-NMF (10 iterations on 1,024 rows) is "
                          "below it, 0.18-0.21",
    ("planted_main", 8): "11 of the 12 width-8 methods: " + _BUDGET,
    ("planted_quick", 4): "AbsTopK at L0 = 16 (0.484 against 0.466 + 0.02): " + _BUDGET,
    ("planted_quick", 8): "the random dictionary with 8 x 32 atoms already reaches 0.504, and 9 of the 12 "
                          "width-8 methods stay within 0.02 of it at some target: " + _BUDGET,
}
#: (dataset, variant, target) -> why: the achieved L0 is outside the protocol's tolerance.
_JUMP = ("JumpReLU's calibration cannot reach the target: at 80 Adam steps the L0 hardly moves with the penalty "
         "(planted_main, seed 0: held-out L0 23.0 at 0.032 and 21.1-21.4 from 0.18 to 0.90), so the closest probe "
         "serves")
_FC = "Feature Choice at width 8 allocates 10-11 % more than the target on average (about 1.10-1.11 x)"
L0_DEVIATIONS: dict[tuple[str, str, int], str] = {
    ("planted_main", "jumprelu", 8): _JUMP + " (20.9 for 8)",
    ("planted_main", "jumprelu[width=8]", 8): _JUMP + " (19.3 for 8)",
    ("planted_quick", "jumprelu", 16): _JUMP + " (5.9 for 16)",
    ("planted_quick", "jumprelu[width=8]", 16): _JUMP + " (4.3 for 16)",
    ("planted_main", "feature_choice[width=8]", 8): _FC + " (8.84 for 8)",
    ("planted_main", "feature_choice[width=8]", 16): _FC + " (17.6 for 16)",
}


@pytest.fixture(scope="module")
def board():
    return committed_board(BOARD, "saes", "standard")


def _planted(registry, board):
    return sorted(d for d in board["datasets"] if "planted_dictionary" in registry.card(d).properties)


def _targets(cell):
    return sorted(int(k.split("=")[1]) for k, v in cell["secondary"].items() if k.startswith("mcc@L0=")
                  and v is not None)


def _width(variant: str) -> int:
    m = re.search(r"width=(\d+)", variant)
    return int(m.group(1)) if m else 4


def _deviations(registry, board):
    """{(dataset, width): [(variant, target, mcc, random's mcc)]} where the negative-control claim fails."""
    found: dict[tuple[str, int], list] = {}
    for ds in _planted(registry, board):
        cells = {c["variant"]: c for c in board["datasets"][ds]["cells"] if c["n_done"]}
        planted = cells["planted"]
        randoms = {_width(v): c for v, c in cells.items() if c["method"] == "random_topk"}
        assert sorted(randoms) == [4, 8], ds
        for t in _targets(planted):
            key = f"mcc@L0={t}"
            assert planted["secondary"][key] == pytest.approx(1.0)
            for name, c in cells.items():
                v = c["secondary"].get(key)
                if name == "planted" or c["method"] == "random_topk" or v is None:
                    continue
                assert v < 1.0, f"{name} ties the planted dictionary on {ds} at L0={t}"
                r = randoms[_width(name)]["secondary"][key]
                if v <= r + MARGIN:
                    found.setdefault((ds, _width(name)), []).append((name, t, round(v, 3), round(r, 3)))
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
    off = {}
    for ds in _planted(registry, board):
        for c in board["datasets"][ds]["cells"]:
            if not c["n_done"] or c["variant"] == "planted":
                continue
            cls = registry.method("saes", c["method"])
            for t in _targets(c):
                l0 = c["secondary"][f"l0@L0={t}"]
                if cls.sparsity_mode == "k" and c["method"] not in ("batch_topk", "feature_choice", "matryoshka"):
                    ok = l0 == pytest.approx(t)
                elif cls.sparsity_mode == "k":  # batch-level rules: matched on average, not per row
                    ok = abs(l0 / t - 1) < 0.1
                else:
                    ok = 1 / 2 < l0 / t < 2
                if not ok:
                    off[(ds, c["variant"], t)] = round(l0, 2)
    assert set(off) == set(L0_DEVIATIONS), off
