"""What the SAE track shows on planted data at the standard budget, read from the committed standard board
(``leaderboards/standard/saes.json``, one run of the committed code; ``FEATBENCH_SAES_BOARD`` points the test
at another board). The quick profile's claims are checked on the session's quick run in
``tests/test_saes_claims.py``; these are the same claims at the standard scale (3 seeds, widths 4 and 8 but
on planted_main, width 4 only there, L0 targets {8, 16, 32, 64} below d, 163,840 training tokens), on the
cell means over seeds:

* the positive control (the planted dictionary itself) ranks first on MCC at every L0 target of every planted
  dataset: its MCC is 1 by construction, and every other method with a sparsity knob stays below it;
* the negative control (a random dictionary with TopK codes) ranks last: every other method is above the
  random dictionary with the same number of atoms (the same width; a method without a width, against the
  default width-4 one) by more than ``MARGIN``. It holds for every SAE; the classical methods at their
  ``standard`` bounds (NMF, semi-NMF) do not clear it: the (dataset, width) groups where some method is not
  above the random dictionary by the margin are declared in ``KNOWN_DEVIATIONS`` with what was measured; a
  declared group that stops failing fails the test too, so the list stays true when the budget changes;
* the achieved L0 is matched (per-row ``k`` methods exactly but for rows with fewer than k positive
  pre-activations, within 0.1 %, batch-level rules within 10 % on average,
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
#: (dataset, width) -> why: groups where some method is not above the random dictionary of its width by MARGIN.
KNOWN_DEVIATIONS: dict[tuple[str, int], str] = {
    ("planted_main", 4): "the classical methods at their standard bounds: NMF (20 multiplicative updates on 1,024 "
                          "rows) 0.241 at every target against the random dictionary's 0.234 + 0.02, and semi-NMF "
                          "(10 iterations on 1,024 rows) below it, 0.18-0.21; every SAE is above it at every "
                          "target, by at least 0.034 (Matryoshka at L0 = 64)",
    ("planted_quick", 8): "NMF at width 8 (0.515 against the width-8 random dictionary's 0.504 + 0.02)",
}
#: (dataset, variant, target) -> why: the achieved L0 is outside the protocol's tolerance. None at 163,840
#: tokens (at 40,960 JumpReLU's L0 hardly moved with its penalty and Feature Choice at width 8 overshot by 10 %).
L0_DEVIATIONS: dict[tuple[str, str, int], str] = {}


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
        widths = {_width(v) for v in cells if v != "planted"}  # every compared width has its random dictionary
        assert widths <= set(randoms), (ds, sorted(randoms), sorted(widths))
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
    # planted_main runs at width 4 only in standard: its width-8 cells are shown n/a with the reason
    main = {c["variant"]: c for c in board["datasets"]["planted_main"]["cells"]}
    assert main["topk[width=8]"]["note"] == "n/a (width 4 only on planted_main in this profile, for its time budget)"
    assert main["topk"]["n_done"] == 3


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
                    # k per row, fewer only on a row with fewer than k positive pre-activations (ReLU then
                    # TopK): planted_main's TopK, seed 2, has 7.99976 for 8 (one row of 4,096 short by one)
                    ok = t * (1 - 1e-3) <= l0 <= t + 1e-9
                elif cls.sparsity_mode == "k":  # batch-level rules: matched on average, not per row
                    ok = abs(l0 / t - 1) < 0.1
                else:
                    ok = 1 / 2 < l0 / t < 2
                if not ok:
                    off[(ds, c["variant"], t)] = round(l0, 2)
    assert set(off) == set(L0_DEVIATIONS), off
