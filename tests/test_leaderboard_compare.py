"""Leaderboard and compare on fixture result files (hand-computed expectations)."""

from __future__ import annotations

import json
import random
import re

import pytest

from bench_core.compare import compare, load_baseline
from bench_core.leaderboard import build, mean_ci, to_markdown, track_csv, track_json, write
from bench_core.tracks import TRACKS
from bench_core.store import ErrorInfo, Memory, Provenance, ResultRecord, Store, Timing
from conftest import run_cli

T_2 = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom


def record(dataset, method, seed, status="done", primary=None, fp=None, **scores):
    sc = {} if status != "done" else {"auc_logk": primary, "auc_logk[logreg]": primary, **scores}
    return ResultRecord(
        schema_version=1, key=f"{dataset}-{method}-{seed}-{status}".replace("_", "-") + "0" * 8, status=status,
        track="selectors", method=method, method_version="1", variant=method, params={}, dataset=dataset,
        dataset_fingerprint=fp or f"fp-{dataset}" + "0" * 20, split=seed, seed=seed, profile="quick",
        protocol_version=TRACKS["selectors"].protocol_version, settings={}, scores=sc, timing=Timing(wall_s=1.0, job_s=0.9, fit_s=0.5 + seed),
        memory=Memory(peak_delta_mb=10.0 * (seed + 1)),
        provenance=Provenance(featbench="0.1.0", plugin={"name": "p"}, git_commit="abc123def4567890",
                              git_dirty=False, executor="local", device="cpu", hardware={}, environment={},
                              started_at="2026-11-23T10:00:00+00:00", finished_at="2026-11-23T10:00:01+00:00"),
        error=None if status == "done" else ErrorInfo(type=status, message=f"{status} happened"),
    ).to_json()


def fixture_records():
    recs = []
    for s, v in enumerate([0.8, 0.9, 1.0]):
        recs.append(record("d1", "alpha", s, primary=v, stability=0.5, stability_lower=0.4, stability_upper=0.6))
    for s in range(3):
        recs.append(record("d1", "beta", s, primary=0.7))
    recs.append(record("d1", "gamma", 0, primary=0.95))
    recs += [record("d1", "gamma", s, status="timeout") for s in (1, 2)]
    recs += [record("d1", "delta", s, status="error") for s in range(3)]
    for s in range(3):
        recs.append(record("d2", "alpha", s, primary=0.6))
        recs.append(record("d2", "beta", s, primary=0.65))
        recs.append(record("d2", "gamma", s, primary=0.5))
        recs.append(record("d2", "epsilon", s, primary=0.9))
    return recs


def test_mean_ci_by_hand():
    m, sd, half = mean_ci([0.8, 0.9, 1.0])
    assert (m, sd) == pytest.approx((0.9, 0.1))
    assert half == pytest.approx(T_2 * 0.1 / 3**0.5)
    assert mean_ci([0.5]) == (0.5, 0.0, None)


def test_ranking_ci_and_explicit_missing_cells():
    board = build(fixture_records(), None, "quick")
    tb = board.tracks["selectors"]
    d1 = {c.variant: c for c in tb.datasets["d1"]}
    # gamma finished 1 of its 3 seeds: shown (0.95, flagged) but never ranked, although its mean is the highest
    assert [c.variant for c in tb.datasets["d1"]] == ["alpha", "beta", "gamma", "delta", "epsilon"]
    assert (d1["alpha"].rank, d1["beta"].rank, d1["gamma"].rank) == (1.0, 2.0, None)
    assert d1["alpha"].mean == pytest.approx(0.9) and d1["alpha"].ci95 == pytest.approx(T_2 * 0.1 / 3**0.5)
    assert d1["gamma"].n_done == 1 and d1["gamma"].ci95 is None and d1["gamma"].status_text() == "timeout ×2"
    assert d1["gamma"].mean == pytest.approx(0.95) and not d1["gamma"].complete
    assert d1["delta"].rank is None and d1["delta"].mean is None and d1["delta"].status_text() == "error ×3"
    assert d1["epsilon"].note == "not run" and d1["epsilon"].n_total == 0
    assert d1["alpha"].intervals["stability"] == pytest.approx((0.4, 0.6))
    assert all(c.n_planned == 3 for c in tb.datasets["d1"])
    md = to_markdown(board)
    row = next(line for line in md.splitlines() if line.startswith("| —") and "delta" in line)
    assert "error ×3" in row and "0." not in row.split("|")[3], "a failed cell shows its status, never a number"
    assert "| 1      | alpha" in md and f"0.900 ± {T_2 * 0.1 / 3**0.5:.3f}" in md
    gamma_row = next(line for line in md.splitlines() if "| gamma" in line and "0.950" in line)
    assert "0.950 (1 seed) †" in gamma_row and "| 1/3 " in gamma_row and "short of seeds (1/3)" in gamma_row
    assert "not run" in md


def test_overall_mean_rank_and_coverage():
    tb = build(fixture_records(), None, "quick").tracks["selectors"]
    assert [b["group"] for b in tb.overall] == ["all"], "without a registry: one group"
    rows = {r["variant"]: r for r in tb.overall_rows()}
    # overall ranks: d1 alpha 1, beta 2, gamma and delta failed: tied last (3.5); epsilon not run (not counted)
    #                d2 epsilon 1, beta 2, alpha 3, gamma 4; delta not run
    assert rows["alpha"]["mean_rank"] == pytest.approx(2.0) and rows["alpha"]["ranked"] == 2
    assert rows["beta"]["mean_rank"] == pytest.approx(2.0)
    assert rows["gamma"]["mean_rank"] == pytest.approx(3.75) and rows["gamma"]["failed"] == 1
    assert rows["delta"]["mean_rank"] == pytest.approx(3.5) and rows["delta"]["ranked"] == 1
    assert rows["delta"]["applicable"] == 2
    assert rows["epsilon"]["mean_rank"] == pytest.approx(1.0)
    assert (rows["epsilon"]["ranked"], rows["epsilon"]["applicable"]) == (1, 2)
    assert [r["variant"] for r in tb.overall_rows()] == ["epsilon", "alpha", "beta", "delta", "gamma"], \
        "sorted by mean rank alone (ties by name)"
    assert [r["position"] for r in tb.overall_rows()] == [1, 2, 3, 4, 5]
    # wins only from ranked (complete) cells: alpha on d1, epsilon on d2; gamma's 0.95 on 1/3 seeds is no win
    assert {v: r["wins"] for v, r in rows.items()} == {"alpha": 1, "beta": 0, "gamma": 0, "delta": 0, "epsilon": 1}
    # mean primary over complete cells only
    assert rows["alpha"]["mean_primary"] == pytest.approx((0.9 + 0.6) / 2)
    assert rows["gamma"]["mean_primary"] == pytest.approx(0.5)
    assert rows["delta"]["mean_primary"] is None


def test_output_is_deterministic_and_has_no_timestamps(tmp_path):
    recs = fixture_records()
    a = build(recs, None, "quick")
    shuffled = recs[:]
    random.Random(3).shuffle(shuffled)
    b = build(shuffled, None, "quick")
    tb_a, tb_b = a.tracks["selectors"], b.tracks["selectors"]
    assert to_markdown(a) == to_markdown(b)
    assert track_csv(tb_a) == track_csv(tb_b)
    assert json.dumps(track_json(a, tb_a), sort_keys=True) == json.dumps(track_json(b, tb_b), sort_keys=True)
    assert not re.search(r"\d{4}-\d{2}-\d{2}T|\d{2}:\d{2}:\d{2}", to_markdown(a))
    assert "abc123def456" in to_markdown(a), "provenance header names the code commit"
    files = write(a, tmp_path / "lb")
    names = sorted(p.name for p in files)
    assert names == ["index.html", "selectors-cd-all.png", "selectors-heatmap.png", "selectors.csv",
                     "selectors.json", "selectors.md"], "no curve points in the fixtures: no curves plot"
    html = (tmp_path / "lb" / "index.html").read_text()
    assert "<table class=\"sortable\"" in html and "data:image/png;base64," in html and "timeout ×2" in html
    first = {p.name: p.read_bytes() for p in files}
    write(b, tmp_path / "lb")
    assert {p.name: p.read_bytes() for p in files} == first, "rewriting gives byte-identical files"


def _store(tmp_path, recs, name):
    st = Store(tmp_path / name)
    for r in recs:
        path = st.path_for(r["track"], r["dataset"], r["method"], r["key"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
    return st


def test_compare_verdicts_and_new_method_placement(tmp_path):
    base_recs = fixture_records()
    write(build(base_recs, None, "quick"), tmp_path / "leaderboards" / "quick", ["json"])
    baseline = load_baseline(tmp_path / "leaderboards" / "quick")
    cur = []
    for s, v in enumerate([0.8, 0.9, 1.0]):
        cur.append(record("d1", "alpha", s, primary=v - 0.3))  # regressed far beyond the spread
    for s, v in enumerate([0.9, 0.9, 0.9]):
        cur.append(record("d1", "beta", s, primary=v))  # improved: 0.7 -> 0.9, spread 0
    cur.append(record("d1", "gamma", 0, primary=0.955))  # +0.005 < tolerance: unchanged
    for s in range(3):
        cur.append(record("d2", "alpha", s, primary=0.6 + (0.05 if s == 0 else -0.025)))  # same mean
        cur.append(record("d2", "gamma", s, status="crashed"))  # failed
        cur.append(record("d2", "zeta", s, primary=0.62))  # new: between beta .65 and alpha .6
    report = compare(baseline, cur, None, tolerance=0.01)
    verdict = {(r.dataset, r.variant): r.verdict for r in report.rows}
    assert verdict[("d1", "alpha")] == "regressed"
    assert verdict[("d1", "beta")] == "improved"
    assert verdict[("d1", "gamma")] == "unchanged"
    assert verdict[("d2", "alpha")] == "unchanged"
    assert verdict[("d2", "gamma")] == "failed"
    assert verdict[("d2", "zeta")] == "new"
    assert verdict[("d2", "epsilon")] == "missing" and verdict[("d1", "delta")] == "missing"
    assert report.failed
    assert any("`zeta` (selectors) would rank d2 3/5" in p for p in report.placements)
    md = report.markdown()
    assert md.startswith("## featbench compare (quick): FAIL")
    verdicts = [line.rsplit("|", 2)[1].strip() for line in md.splitlines() if line.startswith("| selectors")]
    assert verdicts[0] == "regressed" and verdicts[-1].startswith("unchanged")


def test_a_cell_with_no_primary_score_on_either_side_is_unchanged_not_new():
    """Some cells finish without a primary score (a runtime family, a method with no L0 target): with the same
    cell in the baseline, that is no news."""
    base = [record("d", "m", s, primary=None) for s in range(2)]
    baseline = {"selectors": json.loads(json.dumps(track_json(build(base, None, "quick"),
                                                               build(base, None, "quick").tracks["selectors"])))}
    row = compare(baseline, [record("d", "m", s, primary=None) for s in range(2)], None).rows[0]
    assert (row.verdict, row.note) == ("unchanged", "no primary score on either side")
    row = compare(baseline, [record("d", "m", s, primary=0.5) for s in range(2)], None).rows[0]
    assert row.verdict == "new", "a primary score where the baseline had none is new"


def test_compare_tolerance_accounts_for_seed_spread():
    base = [record("d", "m", s, primary=v) for s, v in enumerate([0.5, 0.7, 0.9])]
    baseline = {"selectors": json.loads(json.dumps(track_json(build(base, None, "quick"),
                                                               build(base, None, "quick").tracks["selectors"])))}
    cur = [record("d", "m", s, primary=v - 0.1) for s, v in enumerate([0.5, 0.7, 0.9])]
    row = compare(baseline, cur, None, tolerance=0.01).rows[0]
    assert row.verdict == "unchanged", "a drop of 0.1 is inside 2 standard errors of seeds this spread"
    assert row.tolerance == pytest.approx(2 * (0.2**2 / 3 + 0.2**2 / 3) ** 0.5)


def test_cli_compare_exits_nonzero_on_regression(tmp_path, cli_env):
    write(build(fixture_records(), None, "quick"), tmp_path / "lb" / "quick", ["json"])
    same = _store(tmp_path, fixture_records(), "same")
    proc = run_cli(["compare", "--baseline", str(tmp_path / "lb"), "--results", str(same.root)], env=cli_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 regressed" in proc.stdout
    worse = [dict(r) for r in fixture_records()]
    for r in worse:
        if r["method"] == "beta" and r["dataset"] == "d2":
            r["scores"] = {k: v - 0.2 for k, v in r["scores"].items()}
    bad = _store(tmp_path, worse, "worse")
    out = tmp_path / "comment.md"
    proc = run_cli(["compare", "--baseline", str(tmp_path / "lb"), "--results", str(bad.root), "--output", str(out)],
                   env=cli_env)
    assert proc.returncode == 1
    assert "| selectors | d2        | beta" in proc.stdout and "regressed" in proc.stdout
    assert out.read_text().startswith("## featbench compare (quick): FAIL")


def test_a_score_left_out_by_the_protocol_is_listed_with_its_reason_never_imputed():
    why = "not computed: 20 refits at 8.1 s each would exceed the profile's stability budget of 45 s"
    recs = [record("d1", "alpha", s, primary=0.8 + 0.01 * s) for s in range(2)]
    recs[0]["outputs"] = {"stability_skipped": why}  # stability is measured on split 0 only
    recs.append(record("d1", "beta", 0, primary=0.7, stability=0.6))
    board = build(recs, None, "standard")
    cells = {c.variant: c for c in board.tracks["selectors"].datasets["d1"]}
    assert cells["alpha"].secondary.get("stability") is None and cells["alpha"].omitted == {"stability": why}
    assert cells["beta"].secondary["stability"] == pytest.approx(0.6) and cells["beta"].omitted == {}
    md = to_markdown(board)
    assert f"Scores left out: `stability` of alpha: {why}\n" in md
    assert "of beta" not in md
