"""tools/_projection.py, the part the three budget projection tools share: reading stored results, grouping them per
(dataset, variant), the data sets of a profile, and the Markdown tables (checked line by line)."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest
from conftest import REPO
from test_leaderboard_compare import record


def _module():
    spec = importlib.util.spec_from_file_location("_projection", REPO / "tools" / "_projection.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


P = _module()


def _put(root, track, dataset, variant, seed, cpu, *, profile="standard", status="done", name=""):
    """A valid stored result of ``track`` (the store's layout: track/dataset/method/key.json)."""
    method = variant.split("[")[0]
    r = record(dataset, method, seed, status=status, primary=0.5)
    r["key"] = f"{dataset}-{variant}-{seed}{name}".replace("[", "-").replace("]", "").replace("=", "") + "0" * 8
    timing = {"wall_s": 1.0, "job_s": 1.0}
    if cpu is not None:
        timing["cpu_s"] = cpu
    r.update(track=track, variant=variant, profile=profile, timing=timing)
    path = root / track / dataset / method / f"{r['key']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r))


def test_markdown_table_rows_alignment_and_empty_cells():
    lines = P.md_table(["part", "n", "note"], "lrl", [["fits", 3, "a"], ["**total**", 12, ""], ["x", "", ""]])
    assert lines == ["| part | n | note |", "|---|---:|---|", "| fits | 3 | a |", "| **total** | 12 | |",
                     "| x | | |"]
    assert P.md_row([]) == "|"
    with pytest.raises(ValueError, match="one of 'l', 'r' per column"):
        P.md_table(["a", "b"], "l", [])
    with pytest.raises(ValueError, match="one of 'l', 'r' per column"):
        P.md_table(["a"], "c", [])


def test_results_filter_and_cells_group_in_reading_order(tmp_path):
    """Two directories: ``a`` then ``b``. Seed-0 standard results only; a later directory's result of the same
    cell comes last in its group; a record without a variant is grouped under its method."""
    a, b = tmp_path / "a", tmp_path / "b"
    _put(a, "saes", "ds1", "topk", 0, 99.0)
    _put(a, "saes", "ds1", "topk", 1, 5.0)  # another seed
    _put(a, "saes", "ds1", "pca", 0, 4.0, profile="quick")  # another profile
    _put(a, "saes", "ds2", "nmf[width=8]", 0, None, status="timeout")
    _put(a, "saes", "ds1", "fastica[max_iter=200]", 0, 41.0)
    _put(a, "reducers", "ds1", "umap", 0, 7.0)  # another track
    _put(b, "saes", "ds1", "topk", 0, 10.0)
    _put(b, "saes", "ds1", "pca", 0, 20.0)
    novariant = json.loads(next((b / "saes" / "ds1" / "pca").glob("*.json")).read_text())
    novariant.update(variant=None, key="ds1-pca-0-nov" + "0" * 8)
    (b / "saes" / "ds1" / "pca" / f"{novariant['key']}.json").write_text(json.dumps(novariant))

    recs = list(P.results([a, b], "saes", profile="standard", seed=0, exclude=["fastica[*"]))
    groups = P.cells(recs)
    assert sorted(groups) == [("ds1", "pca"), ("ds1", "topk"), ("ds2", "nmf[width=8]")]
    assert [P.cpu_s(r) for r in groups[("ds1", "topk")]] == [99.0, 10.0]  # a's first, b's last
    assert [P.cpu_s(r) for r in groups[("ds1", "pca")]] == [20.0, 20.0]  # the record without a variant too
    assert [P.cpu_s(r) for r in groups[("ds2", "nmf[width=8]")]] == [None]
    done = P.cells(P.results([a, b], "saes", profile="standard", status="done", datasets={"ds1"}))
    assert sorted(done) == [("ds1", "fastica[max_iter=200]"), ("ds1", "pca"), ("ds1", "topk")]
    assert len(done[("ds1", "topk")]) == 3  # seeds 0 (twice) and 1
    assert list(P.results([tmp_path / "missing"], "saes")) == []

    # the projection the tools print: seed 0 (the later directory's) times 3 seeds, per cell and in total
    rows = []
    for (ds, v), rs in sorted(groups.items()):
        c = P.cpu_s(rs[-1])
        rows.append([ds, v, "-" if c is None else f"{c:.1f}", "-" if c is None else f"{3 * c:.0f}"])
    assert P.md_table(["dataset", "variant", "seed 0", "3 seeds"], "llrr", rows) == [
        "| dataset | variant | seed 0 | 3 seeds |",
        "|---|---|---:|---:|",
        "| ds1 | pca | 20.0 | 60 |",
        "| ds1 | topk | 10.0 | 30 |",
        "| ds2 | nmf[width=8] | - | - |",
    ]


def test_mean_minutes_and_cpu_seconds():
    assert P.mean([1.0, None, 2.0]) == 1.5
    assert math.isnan(P.mean([None])) and math.isnan(P.mean([]))
    assert P.minutes(180.0) == 3.0 and P.minutes(180.0, 2) == 1.5
    assert P.cpu_s({"timing": {"cpu_s": 3}}) == 3.0 and P.cpu_s({"timing": None}) is None


def test_profile_cards_are_the_cards_up_to_the_profile_tier(registry):
    """The SAE cards' tiers (datasets/saes/*.toml): planted_quick smoke; planted_main, digits_mlp_l1,
    minilm_l3_tokens standard; planted_toy full."""
    names = {t: {c.name for c in P.profile_cards(registry, "saes", t)} for t in ("smoke", "quick", "standard", "full")}
    assert names["smoke"] == names["quick"] == {"planted_quick"}
    assert names["standard"] == {"planted_quick", "planted_main", "digits_mlp_l1", "minilm_l3_tokens"}
    assert names["full"] == names["standard"] | {"planted_toy"}


def test_pin_one_thread_sets_the_worker_thread_variables(monkeypatch):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "4")
    P.pin_one_thread()
    import os

    assert [os.environ[v] for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")] == ["1"] * 3


def test_reducers_projection_lets_a_measured_data_set_stand_in_for_itself():
    """tools/project_reducers_standard.py: a measured data set is its own stand-in even when another measured
    one has the same shape (distance 0: ``min`` used to pick the first in order); an unmeasured one takes the
    nearest measured data set of its kind in |log n ratio| + 0.25 |log d ratio|."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "project_reducers_standard", Path(__file__).parents[1] / "tools" / "project_reducers_standard.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    info = {"a": ("a", 1000, 10, False), "b": ("b", 1000, 10, False), "m": ("m", 1000, 3, True),
            "c": ("c", 400, 10, False), "x": ("x", 900, 100, False)}
    measured = ["a", "b", "c", "m"]
    assert tool.stand_in("b", 1000, 10, False, measured, info) == "b"  # was "a": same shape, first in order
    assert tool.stand_in("a", 1000, 10, False, measured, info) == "a"
    # x (900 x 100), unmeasured: a/b at |log(0.9)| + 0.25 |log 10| = 0.681, c at |log 2.25| + 0.576 = 1.386
    assert tool.stand_in("x", 900, 100, False, measured, info) == "a"
    # a manifold takes a manifold even when a flat data set is nearer in shape
    assert tool.stand_in("y", 1000, 10, True, measured, info) == "m"
