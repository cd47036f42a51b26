"""A dataset on which every cell finished without a primary score (the similarity track's runtime family
measures cost, not quality) ranks nobody: it is left out of the overall ranking with its reason, so that the
methods keep full coverage and the Friedman test runs (before, it counted as informative, every method was
ranked on 13 of 14 datasets, and the test reported k = 0)."""

from __future__ import annotations

from bench_core.leaderboard import build, to_markdown
from test_leaderboard_trust import FakeCard, FakeRegistry, _method, rec


def _records():
    vals = {"d1": {"a": 0.9, "b": 0.8, "c": 0.7}, "d2": {"a": 0.6, "b": 0.9, "c": 0.5},
            "d3": {"a": 0.8, "b": 0.7, "c": 0.6}}
    recs = [rec(ds, m, s, primary=v + 0.01 * s) for ds, by in vals.items() for m, v in by.items() for s in range(3)]
    for m in "abc":  # the cost-only dataset: done, no scores at all
        for s in range(3):
            r = rec("cost", m, s, primary=0.5)
            r["scores"] = {}
            recs.append(r)
    reg = FakeRegistry([_method(m) for m in "abc"], [FakeCard(d) for d in ("d1", "d2", "d3", "cost")])
    return recs, reg


def test_a_dataset_without_any_primary_score_is_left_out_and_the_friedman_test_runs():
    recs, reg = _records()
    board = build(recs, reg, "standard")
    block = board.tracks["selectors"].overall[0]
    assert block["datasets"] == ["d1", "d2", "d3"]
    assert [ds for ds, _why in block["excluded"]] == ["cost"]
    assert "no primary score" in block["excluded"][0][1]
    rows = {r["variant"]: r for r in block["rows"]}
    assert all(r["ranked"] == r["applicable"] == 3 for r in rows.values())
    assert rows["a"]["mean_rank"] == round(4 / 3, 3) and rows["b"]["mean_rank"] == round(5 / 3, 3)
    assert block["friedman"]["tested"] and block["friedman"]["k"] == 3 and block["friedman"]["n"] == 3
    assert "Left out of the overall ranking: no primary score" in to_markdown(board)


def test_a_dataset_where_only_some_cells_lack_a_score_still_counts():
    recs, reg = _records()
    for r in recs:  # one method has a score on the cost dataset: it is a ranking dataset again
        if r["dataset"] == "cost" and r["method"] == "a":
            r["scores"] = {"auc_logk": 0.5, "auc_logk[logreg]": 0.5}
    block = build(recs, reg, "standard").tracks["selectors"].overall[0]
    assert "cost" in block["datasets"]
