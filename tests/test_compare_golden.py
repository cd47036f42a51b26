"""Golden values for ``featbench compare`` (bench_core/compare.py), by hand: which baseline cells and records
are read from each ``--baseline`` source, the device each side ran on, the verdicts, the errors named, the new
methods' standing, and the report as JSON and Markdown.

Fast (no CLI subprocess, no evaluator fit): boards are built in memory from hand-made result records, so each
number below follows from the records' values (chosen exactly representable: 0.25, 0.5, 0.75, ...).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bench_core import baselines
from bench_core.compare import (Report, Row, boards_from_records, compare, load_baselines,
                                self_comparison_note)
from bench_core.errors import UsageError
from bench_core.leaderboard import build, track_json
from test_leaderboard_compare import record

HEADER = ("| track     | dataset   | method   | baseline     | current      | Δ   | tolerance   | verdict"
          "                                                   |\n"
          "|-----------|-----------|----------|--------------|--------------|-----|-------------|------------"
          "-----------------------------------------------|\n")


def _recs(dataset, method, values, status="done", **over):
    out = []
    for s, v in enumerate(values):
        r = record(dataset, method, s, status=status, primary=v)
        r.update(over)
        out.append(r)
    return out


def _mystery(dataset, method, values):
    """Records of a track the installed code does not know (its primary score is then named ``primary``)."""
    out = _recs(dataset, method, values, track="mystery", protocol_version=1)
    for r, v in zip(out, values):
        r["scores"] = {"primary": v}
    return out


def _boards(recs, profile="quick"):
    board = build(recs, None, profile)
    return {t: json.loads(json.dumps(track_json(board, tb))) for t, tb in board.tracks.items()}


def _write_boards(folder, recs):
    folder.mkdir(parents=True, exist_ok=True)
    for t, b in _boards(recs).items():
        (folder / f"{t}.json").write_text(json.dumps(b), encoding="utf-8")


def _cells(board, ds):
    return {c["variant"]: c for c in board["datasets"][ds]["cells"]}


# ------------------------------------------------------------------------------------------ the report


def test_report_as_json_golden():
    rep = Report("quick", rows=[
        Row("selectors", "d", "a", "regressed", 0.75, 0.5, -0.25, 0.01, 2, 2),
        Row("selectors", "d", "b", "other-device", 0.5, 0.25, None, None, 2, 2, "baseline on cuda, here on cpu: "
            "not compared"),
        Row("selectors", "e", "c", "improved", 0.25, 0.5, 0.25, float("inf"), 3, 2),
    ], placements=["`z` (selectors) would rank d 1/3; mean rank 1.00 over 1 dataset(s)"],
        standing=[{"track": "selectors", "variant": "z", "groups": []}], notes=["a note"],
        device_mismatch=Counter({("cuda", "cpu"): 1}))
    assert rep.as_json() == {
        "profile": "quick", "ok": False,
        "counts": {"regressed": 1, "failed": 0, "improved": 1, "new": 0, "missing": 0, "unchanged": 0,
                   "other-device": 1},
        "reasons": ["regressed: selectors / d / a: 0.7500 -> 0.5000 (Δ -0.2500, beyond the tolerance 0.0100)"],
        "standing": [{"track": "selectors", "variant": "z", "groups": []}],
        "placements": ["`z` (selectors) would rank d 1/3; mean rank 1.00 over 1 dataset(s)"],
        "notes": ["a note"],
        "device_mismatch": [{"baseline": "cuda", "current": "cpu", "cells": 1}],
        "rows": [
            {"track": "selectors", "dataset": "d", "variant": "a", "verdict": "regressed", "baseline": 0.75,
             "current": 0.5, "delta": -0.25, "tolerance": 0.01, "n_baseline": 2, "n_current": 2, "note": ""},
            {"track": "selectors", "dataset": "d", "variant": "b", "verdict": "other-device", "baseline": 0.5,
             "current": 0.25, "delta": None, "tolerance": None, "n_baseline": 2, "n_current": 2,
             "note": "baseline on cuda, here on cpu: not compared"},
            {"track": "selectors", "dataset": "e", "variant": "c", "verdict": "improved", "baseline": 0.25,
             "current": 0.5, "delta": 0.25, "tolerance": None, "n_baseline": 3, "n_current": 2, "note": ""},
        ]}


def test_report_markdown_with_notes_and_other_devices_golden():
    note = "baseline on cuda, here on cpu: not compared"
    rep = Report("quick", rows=[Row("selectors", "d", "b2", "other-device", 0.5, 0.5, None, None, 2, 2, note),
                                Row("selectors", "d", "b", "other-device", 0.5, 0.25, None, None, 3, 2, note)],
                 notes=["first note", "second note"], device_mismatch=Counter({("cuda", "cpu"): 2}))
    assert rep.markdown() == (
        "## featbench compare (quick): OK\n\n"
        "0 regressed, 0 failed, 0 improved, 0 new, 0 missing, 0 unchanged, 2 other-device\n\n"
        "Notes on the baseline:\n\n"
        "- first note\n"
        "- second note\n\n"
        "**The sides ran on different devices**: 2 cell(s) ran on cpu here and on cuda in the baseline. Their "
        "numbers are shown but not compared (a device difference is not a regression); compare like with like "
        "with `featbench run --device cuda`.\n\n"
        "### Changed, new or failed cells (2)\n\n"
        + HEADER +
        "| selectors | d         | b        | 0.5000 (n=3) | 0.2500 (n=2) | —   | —           | other-device: "
        "baseline on cuda, here on cpu: not compared |\n"
        "| selectors | d         | b2       | 0.5000 (n=2) | 0.5000 (n=2) | —   | —           | other-device: "
        "baseline on cuda, here on cpu: not compared |")


def test_reasons_and_standing_lines_golden():
    rep = Report("quick", rows=[Row("selectors", "e", "g", "failed", None, None, None, None, 0, 2, "timeout ×2"),
                                Row("selectors", "d", "f", "failed", 0.5, None, None, None, 2, 0, "error ×2")],
                 errors={("selectors", "d", "f"): "ValueError: boom"})
    assert rep.reasons() == ["failed: selectors / d / f: error ×2: ValueError: boom",
                             "failed: selectors / e / g: timeout ×2"], "no error recorded: no suffix"
    rep.standing = [{"track": "selectors", "variant": "z", "groups": [
        {"group": "ground_truth", "title": "data with ground truth", "position": 2, "of": 5, "mean_rank": 1.5,
         "ranked": 2},
        {"group": "real", "title": "data without ground truth (real data)", "position": 4, "of": 4,
         "mean_rank": None, "ranked": 0}]}]
    assert rep.standing_lines() == ["`z` (selectors) would rank 2/5 on data with ground truth (mean rank 1.50 over "
                                    "2 dataset(s)); unranked on data without ground truth (real data)"]


# ------------------------------------------------------------------------------------------ compare


def test_compare_names_the_first_error_line_of_unfinished_jobs_only():
    cur = _recs("d", "m", [None, None], status="error")
    cur[0]["error"] = {"type": None, "message": "  disk full\nTraceback (most recent call last): ..."}
    cur[1]["error"] = {"type": "OSError", "message": "second"}  # the first error of a cell is the one named
    ok = _recs("d", "ok", [0.5, 0.5])
    for r in ok:  # a finished job that carries an error mapping (a retried job, say) names no error
        r["error"] = {"type": "Warning", "message": "recovered after a retry"}
    report = compare({}, cur + ok, None)
    assert report.errors == {("selectors", "d", "m"): "error: disk full"}
    assert [(r.variant, r.verdict, r.note) for r in report.rows] == [("m", "failed", "error ×2"), ("ok", "new", "")]
    assert report.reasons() == ["failed: selectors / d / m: error ×2: error: disk full"]


def test_compare_takes_the_direction_of_an_unknown_track_from_the_baseline():
    base = _boards(_mystery("d", "a", [0.5, 0.5]))
    assert base["mystery"]["primary"] == {"name": "primary", "higher_is_better": True, "description": ""}
    base["mystery"]["primary"]["higher_is_better"] = False  # the baseline says: lower is better
    report = compare(base, _mystery("d", "a", [0.25, 0.25]) + _mystery("d", "n", [0.75, 0.75]), None)
    rows = {r.variant: r for r in report.rows}
    assert (rows["a"].verdict, rows["a"].delta) == ("improved", 0.25), "0.50 -> 0.25, lower is better"
    assert report.placements == ["`n` (mystery) would rank d 2/2; mean rank 2.00 over 1 dataset(s)"]


def test_compare_tolerance_reads_the_baseline_seed_count():
    """tolerance = max(τ, z · sqrt(s_b²/n_b + s_c²/n_c)): a (hand-written) baseline cell of one seed with an SD of
    0.1 against two equal current seeds gives 2 · sqrt(0.01 / 1 + 0) = 0.2."""
    base = _boards(_recs("d", "m", [0.5, 0.5]))
    cell = base["selectors"]["datasets"]["d"]["cells"][0]
    cell.update(n_done=1, n_total=1, sd=0.1)
    row = compare(base, _recs("d", "m", [0.5, 0.5]), None).rows[0]
    assert (row.verdict, row.delta, row.n_baseline) == ("unchanged", 0.0, 1)
    assert row.tolerance == pytest.approx(0.2, abs=1e-12)


def test_compare_devices_of_each_side_golden():
    """A baseline cell's device is its ``devices`` (kinds with a non-zero count, joined by '+'), else the board's
    ``provenance.devices``, else cpu; the fresh side's is that of its finished results of the profile."""
    recs = _recs("d", "a", [0.5, 0.5]) + _recs("d", "b", [0.5, 0.5]) + _recs("d", "c", [0.5, 0.5])
    recs += _recs("d", "e", [0.5, 0.5])
    base = _boards(recs)
    assert base["selectors"]["provenance"]["devices"] == {"cpu": 8}
    cells = _cells(base["selectors"], "d")
    cells["a"]["devices"] = {"cuda": 2}
    cells["b"]["devices"] = {"cpu": 1, "cuda": 1}
    cells["c"]["devices"] = {"cuda": 0}  # no device with a result: taken as cpu
    cells["e"]["devices"] = {"cuda": 2}
    cur = [dict(r) for r in recs]
    failed = record("d", "c", 2, status="error")  # an unfinished job on cuda says nothing of c's device
    failed["provenance"]["device"] = "cuda"
    report = compare(base, cur + [failed], None)
    rows = {r.variant: (r.verdict, r.delta, r.note) for r in report.rows}
    assert rows == {"a": ("other-device", None, "baseline on cuda, here on cpu: not compared"),
                    "b": ("other-device", None, "baseline on cpu+cuda, here on cpu: not compared"),
                    "c": ("unchanged", 0.0, ""),
                    "e": ("other-device", None, "baseline on cuda, here on cpu: not compared")}
    assert report.device_mismatch == Counter({("cuda", "cpu"): 2, ("cpu+cuda", "cpu"): 1})
    assert not report.failed

    # no device on the cells: the board's provenance decides
    base = _boards(_recs("d", "a", [0.5, 0.5]))
    del _cells(base["selectors"], "d")["a"]["devices"]
    base["selectors"]["provenance"]["devices"] = {"cpu": 0, "cuda": 2}
    row = compare(base, _recs("d", "a", [0.25, 0.25]), None).rows[0]
    assert (row.verdict, row.note) == ("other-device", "baseline on cuda, here on cpu: not compared")

    # fresh results of another profile than the baseline's: their device is not known here, taken as cpu
    base = _boards(_recs("d", "p", [0.5, 0.5]) + _recs("d", "q", [0.5, 0.5]))
    _cells(base["selectors"], "d")["q"]["devices"] = {"cuda": 2}
    cur = _recs("d", "p", [0.25, 0.25], profile="smoke") + _recs("d", "q", [0.25, 0.25], profile="smoke")
    report = compare(base, cur, None)
    rows = {r.variant: (r.verdict, r.delta, r.note) for r in report.rows}
    assert rows == {"p": ("regressed", -0.25, ""), "q": ("other-device", None, "baseline on cuda, here on cpu: "
                                                                              "not compared")}
    assert report.profile == "quick"


def test_compare_standing_without_a_registry_golden():
    """Baseline d1: alpha 0.75, beta 0.25 (2 seeds each, the quick profile's count). New: zeta 0.5 (2 seeds),
    eta 0.875 (seed 0 only: short of seeds, so never ranked). Each new method is placed among the baseline
    records alone, not among the other new ones."""
    base = _recs("d1", "alpha", [0.75, 0.75]) + _recs("d1", "beta", [0.25, 0.25])
    cur = _recs("d1", "zeta", [0.5, 0.5]) + _recs("d1", "eta", [0.875])
    report = compare(_boards(base), cur, None, baseline_records=base)
    assert [(r.variant, r.verdict) for r in report.rows] == [("alpha", "missing"), ("beta", "missing"),
                                                              ("eta", "new"), ("zeta", "new")]
    assert report.placements == ["`eta` (selectors) would rank d1 1/3; mean rank 1.00 over 1 dataset(s)",
                                 "`zeta` (selectors) would rank d1 2/3; mean rank 2.00 over 1 dataset(s)"]
    assert report.standing == [
        {"track": "selectors", "variant": "eta", "groups": [
            {"group": "all", "title": "all datasets", "position": 3, "of": 3, "mean_rank": None, "ranked": 0}]},
        {"track": "selectors", "variant": "zeta", "groups": [
            {"group": "all", "title": "all datasets", "position": 2, "of": 3, "mean_rank": 2.0, "ranked": 1}]}]
    assert report.standing_lines() == [
        "`eta` (selectors) would rank unranked on all datasets",
        "`zeta` (selectors) would rank 2/3 on all datasets (mean rank 2.00 over 1 dataset(s))"]

    # a dataset where every cell finished without a primary score enters no overall table: no standing
    base = _recs("u", "alpha", [None, None])
    report = compare(_boards(base), _recs("u", "omega", [None, None]), None, baseline_records=base)
    assert [(r.variant, r.verdict) for r in report.rows] == [("alpha", "missing"), ("omega", "new")]
    assert report.standing == []
    assert report.placements == ["`omega` (selectors): no dataset shared with the baseline"]


def test_compare_standing_skips_an_overall_table_the_method_is_not_in(registry):
    """With the registry: two overall tables, data with ground truth (linear_snr_1) first. There, every cell
    finished without a primary score, so that table ranks nobody; the new method joins the real-data table."""
    from test_baselines import rec

    base = [rec(registry, "linear_snr_1", "anova_f", s, None) for s in range(2)]
    base += [rec(registry, "wine", m, s, v) for m, v in (("anova_f", 0.75), ("chi2", 0.25)) for s in range(2)]
    mine = [rec(registry, "wine", "my_new", s, 0.5) for s in range(2)]
    report = compare(boards_from_records(base, "quick"), mine, registry, profile="quick", baseline_records=base)
    assert report.standing == [{"track": "selectors", "variant": "my_new", "groups": [
        {"group": "real", "title": "data without ground truth (real data)", "position": 2, "of": 3,
         "mean_rank": 2.0, "ranked": 1}]}]


# ------------------------------------------------------------------------------------------ baseline sources


def test_boards_from_records_plan_the_profile_seeds():
    boards = boards_from_records(_recs("d", "m", [0.5, 0.5]), "standard")
    cell = _cells(boards["selectors"], "d")["m"]
    assert boards["selectors"]["profile"] == "standard"
    assert (cell["n_done"], cell["n_planned"], cell["complete"]) == (2, 3, False), "standard plans 3 seeds"
    assert boards_from_records([], "quick") == {}


def test_load_baselines_folders_overlay_cells_golden(tmp_path):
    """Source a: selectors boards of d1 (alpha .75, beta .5, gamma .25) and d2, their baseline records, and a
    board of another track. Source b, later: beta failed on d1, d2 with changed data, a new d3."""
    a = (_recs("d1", "alpha", [0.75, 0.75]) + _recs("d1", "beta", [0.5, 0.5]) + _recs("d1", "gamma", [0.25, 0.25])
         + _recs("d2", "alpha", [0.5, 0.5]) + _recs("d2", "beta", [0.75, 0.75]))
    other = _mystery("d1", "alpha", [0.25, 0.25])
    _write_boards(tmp_path / "a" / "quick", a + other)
    baselines.write_baseline(a + other, tmp_path / "a" / "quick", "quick")
    b = _recs("d1", "beta", [None, None], status="error") + _recs("d3", "alpha", [0.875, 0.875])
    b += _recs("d2", "gamma", [0.125, 0.125], dataset_fingerprint="fp-d2-changed" + "0" * 20)
    _write_boards(tmp_path / "b" / "quick", b)  # no baseline records in b
    b_board = _boards(b)["selectors"]

    boards, recs, notes = load_baselines([str(tmp_path / "a"), str(tmp_path / "b")], "quick", None)
    assert sorted(boards) == ["mystery", "selectors"] and notes == []
    sel = boards["selectors"]["datasets"]
    # d1, same data: b's beta (failed) replaces a's; b's cells never run there (alpha, gamma) replace nothing
    assert [(c["variant"], c["mean"], c["n_done"], c["n_total"]) for c in sel["d1"]["cells"]] == [
        ("alpha", 0.75, 2, 2), ("beta", None, 0, 2), ("gamma", 0.25, 2, 2)]
    assert sel["d2"] == b_board["datasets"]["d2"], "d2 changed: b's block replaces a's whole"
    assert [(c["variant"], c["mean"]) for c in sel["d2"]["cells"]] == [("gamma", 0.125), ("alpha", None),
                                                                       ("beta", None)]
    assert sel["d3"] == b_board["datasets"]["d3"] and _cells(boards["selectors"], "d3")["alpha"]["mean"] == 0.875
    assert sorted((r["track"], r["dataset"], r["variant"], r["seed"]) for r in recs) == sorted(
        (r["track"], r["dataset"], r["variant"], r["seed"]) for r in a + other)

    boards, recs, _notes = load_baselines([str(tmp_path / "a"), str(tmp_path / "b")], "quick", ["selectors"])
    assert list(boards) == ["selectors"]
    assert len(recs) == len(a) and {r["track"] for r in recs} == {"selectors"}


def test_load_baselines_packaged_golden(registry, tmp_path, monkeypatch):
    """The packaged records, less those the installed code would not merge (one line per reason in the notes),
    rebuilt into boards; the records come back without the merge's ``origin`` mark."""
    from test_baselines import baseline_records, rec

    ok = baseline_records(registry)  # anova_f, chi2, random on breast_cancer and wine, 2 seeds
    refused = [rec(registry, "wine", "mrmr", s, 0.875, method_version="0") for s in range(2)]
    refused += [rec(registry, "breast_cancer", "mrmr", s, 0.875, dataset_fingerprint="f" * 64) for s in range(2)]
    baselines.write_baseline(ok + refused, tmp_path / "quick", "quick")
    doc = {"schema": baselines.BASELINE_SCHEMA, "kind": baselines.KIND, "track": "mystery", "profile": "quick",
           "protocol_version": 1, "records": _mystery("d1", "alpha", [0.25])}
    (tmp_path / "quick" / "baseline" / "mystery.json").write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setattr(baselines, "packaged_dir",
                        lambda profile: (tmp_path / str(profile) / "baseline")
                        if (tmp_path / str(profile) / "baseline").is_dir() else None)
    version = registry.methods["selectors"]["mrmr"].obj.version
    expected_notes = [
        "baselines: 1 cell(s) of selectors not compared: dataset 'breast_cancer' changed since (its fingerprint "
        "differs)",
        f"baselines: 1 cell(s) of selectors not compared: method 'mrmr' is version {version} here, 0 in the baseline"]

    boards, recs, notes = load_baselines(["packaged"], "quick", ["selectors"], registry)
    assert notes == expected_notes
    assert list(boards) == ["selectors"] and boards["selectors"]["profile"] == "quick"
    wine = _cells(boards["selectors"], "wine")
    assert {v: (c["mean"], c["n_done"]) for v, c in wine.items()} == {
        "anova_f": (pytest.approx(0.705), 2), "chi2": (pytest.approx(0.655), 2), "random": (pytest.approx(0.405), 2)}
    assert sorted((r["dataset"], r["variant"], r["seed"]) for r in recs) == sorted(
        (r["dataset"], r["variant"], r["seed"]) for r in ok)
    assert all("origin" not in r for r in recs)

    # the notes of each source are kept (here the same source twice)
    assert load_baselines(["packaged", "packaged"], "quick", ["selectors"], registry)[2] == expected_notes * 2
    # without the registry nothing is refused: every packaged record of the track is read
    boards, recs, notes = load_baselines(["packaged"], "quick", ["selectors"])
    assert notes == [] and len(recs) == len(ok) + len(refused) and "mrmr" in _cells(boards["selectors"], "wine")

    with pytest.raises(UsageError) as err:
        load_baselines(["packaged"], "standard", None, registry)
    assert str(err.value) == (
        "this featbench installation ships no standard baselines; pass --baseline DIR, a folder of leaderboards "
        "made from reference results (`featbench leaderboard --results REFERENCE_RESULTS --out DIR/standard`)")
    with pytest.raises(UsageError) as err:
        load_baselines(["packaged"], "quick", ["saes", "reducers"], registry)
    assert str(err.value).startswith("this featbench installation ships no quick baselines of saes, reducers; "
                                     "pass --baseline DIR")


def test_self_comparison_note_matches_key_and_finish_time():
    mine = _recs("d", "m", [0.5, 0.5])
    same = dict(mine[0])
    other_key = {**mine[1], "key": "another-key"}  # same finish time, another job
    assert self_comparison_note(mine, [same, other_key]) == (
        "1 baseline result(s) are the very result files being compared (same job key and finish time): a "
        "comparison with oneself cannot show a change; compare with a baseline made from other results")
    assert self_comparison_note(mine, [other_key]) is None
