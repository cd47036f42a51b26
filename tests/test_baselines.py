"""Packaged baselines: slim records beside the board, merging into a user's leaderboard, compare's defaults.

Records here are built by hand with real job keys (bench_core.execute.jobs.job_key over the installed
track settings and dataset fingerprints), so the merge rules are exercised against the installed code.
"""

from __future__ import annotations

import json

import pytest

from bench_core import baselines
from bench_core.compare import boards_from_records, compare, load_baselines, self_comparison_note
from bench_core.execute.jobs import job_key
from bench_core.leaderboard import build, partition, to_markdown, track_json
from bench_core.profiles import PROFILES, track_settings
from bench_core.tracks import TRACKS

TRACK = TRACKS["selectors"]
DATASETS = ("breast_cancer", "wine")


def rec(registry, dataset, method, seed, primary, status="done", **over):
    """A stored-result dict of a built-in method on a real card, its key the job key of its fields."""
    card = registry.card(dataset)
    settings = track_settings(TRACK, PROFILES["quick"])
    from bench_core.execute.jobs import method_variants

    installed = registry.methods["selectors"].get(method)
    version = installed.obj.version if installed else "1"
    params = method_variants(installed.obj, PROFILES["quick"])[0] if installed else {}
    r = {"schema_version": 1, "track": "selectors", "method": method, "method_version": version, "variant": method,
         "params": params, "dataset": dataset, "dataset_fingerprint": card.fingerprint, "split": seed, "seed": seed,
         "profile": "quick", "protocol_version": TRACK.protocol_version, "settings": settings, "status": status,
         "scores": {"auc_logk": primary, "auc_logk[logreg]": primary} if status == "done" else {},
         "outputs": {"order": [1, 2, 3], "stability_skipped": "over budget"} if status == "done" else {},
         "timing": {"fit_s": 0.5, "wall_s": 1.0, "job_s": 0.9}, "memory": {"peak_delta_mb": 3.0, "peak_rss_mb": 300.0},
         "provenance": {"git_commit": "abc123def4567890", "featbench": "0.1.0", "started_at": "2026-11-23T10:00:00+00:00",
                        "finished_at": f"2026-11-23T10:00:0{seed}+00:00", "environment": {"numpy": "2"}},
         "error": None if status == "done" else {"type": "ValueError", "message": "boom: bad input\nTraceback ..."},
         "log": "lots of text"}
    r.update(over)
    r["key"] = job_key("selectors", r["protocol_version"], r["settings"], method, str(r["method_version"]),
                       r["params"], r["dataset_fingerprint"], seed, seed)
    return r


#: baseline values: 3 methods on 2 datasets, 2 seeds (the quick profile's count)
VALUES = {"anova_f": (0.80, 0.70), "chi2": (0.60, 0.65), "random": (0.50, 0.40)}


def baseline_records(registry):
    return [rec(registry, ds, m, s, v[i] + 0.01 * s) for m, v in VALUES.items() for i, ds in enumerate(DATASETS)
            for s in range(2)]


def test_slim_records_rebuild_the_same_board(registry, tmp_path):
    full = baseline_records(registry) + [rec(registry, "wine", "mrmr", s, None, status="error") for s in range(2)]
    written = baselines.write_baseline(full, tmp_path, "quick")
    assert [p.relative_to(tmp_path).as_posix() for p in written] == ["baseline/selectors.json"]
    text = written[0].read_text()
    assert len(text.splitlines()) == len(full) + 2, "one record per line between the header and the end"
    slim = baselines.load_records(tmp_path / "baseline")
    assert {r["key"] for r in slim} == {r["key"] for r in full}
    one = next(r for r in slim if r["status"] == "error")
    assert one["error"] == {"type": "ValueError", "message": "boom: bad input"}
    assert "log" not in one and "environment" not in json.dumps(one)
    done = next(r for r in slim if r["status"] == "done")
    assert done["outputs"] == {"stability_skipped": "over budget"}, "only the scores a protocol left out"
    a, b = build(full, registry, "quick"), build(slim, registry, "quick")
    assert track_json(a, a.tracks["selectors"]) == track_json(b, b.tracks["selectors"])


def test_load_records_refuses_a_file_that_is_no_baseline(tmp_path):
    from bench_core.errors import UsageError

    (tmp_path / "selectors.json").write_text(json.dumps({"track": "selectors", "datasets": {}}))
    with pytest.raises(UsageError, match="not a featbench baseline file"):
        baselines.load_records(tmp_path)


def test_merge_adds_matching_cells_and_refuses_the_others_with_counted_reasons(registry):
    base = baseline_records(registry)
    bad = [
        rec(registry, "breast_cancer", "fisher_score", 0, 0.7, protocol_version=TRACK.protocol_version - 1),
        rec(registry, "breast_cancer", "fisher_score", 1, 0.7, protocol_version=TRACK.protocol_version - 1),
        rec(registry, "wine", "fisher_score", 0, 0.7, protocol_version=TRACK.protocol_version - 1),
        rec(registry, "breast_cancer", "variance", 0, 0.7,
            settings={**track_settings(TRACK, PROFILES["quick"]), "stability_subsamples": 99}),
        rec(registry, "breast_cancer", "mutual_info", 0, 0.7, dataset_fingerprint="0" * 64),
        rec(registry, "breast_cancer", "relieff", 0, 0.7, method_version="0-old"),
        {**rec(registry, "wine", "extra_trees", 0, 0.7), "key": "f" * 64},
        rec(registry, "wine", "l1_logistic", 0, 0.7, profile="standard"),
    ]
    mine = [rec(registry, ds, "chi2", s, 0.9) for ds in DATASETS for s in range(2)]
    mine += [rec(registry, ds, "my_new", s, 0.75, method_version="1") for ds in DATASETS for s in range(2)]
    m = baselines.merge(mine, base + bad, registry, "quick")
    pv = TRACK.protocol_version
    assert m.refused == {
        ("selectors", f"protocol version {pv - 1} in the baseline, {pv} installed"): 2,
        ("selectors", "protocol settings differ from the installed ones (stability_subsamples)"): 1,
        ("selectors", "dataset 'breast_cancer' changed since (its fingerprint differs)"): 1,
        ("selectors", f"method 'relieff' is version {registry.method('selectors', 'relieff').version} here, "
                      "0-old in the baseline"): 1,
        ("selectors", "the job key does not match the record's own fields (edited by hand?)"): 1,
        ("selectors", "results of profile 'standard', not 'quick'"): 1,
    }
    # chi2 on both datasets is the user's: 4 baseline records replaced by their own, never mixed
    assert m.replaced_cells == 2 and m.merged == 8 and m.merged_cells == 4
    lines = m.lines()
    assert len(lines) == 7 and lines[-1].startswith("baselines: 4 cell(s) (8 result(s)) merged")
    assert "2 cell(s) taken from your own results" in lines[-1]
    board = build(m.records, registry, "quick")
    tb = board.tracks["selectors"]
    cells = {(c.dataset, c.variant): c for cells in tb.datasets.values() for c in cells}
    assert cells[("breast_cancer", "anova_f")].baseline and not cells[("breast_cancer", "chi2")].baseline
    assert not cells[("wine", "my_new")].baseline
    assert [x for _s, x in cells[("breast_cancer", "chi2")].values] == [0.9, 0.9], "the user's seeds only"
    rows = {r["variant"]: r for r in tb.overall_rows()}
    assert rows["anova_f"]["baseline"] and not rows["my_new"]["baseline"] and not rows["chi2"]["baseline"]
    md = to_markdown(board)
    assert "anova_f (baseline)" in md and "random (− control) (baseline)" in md
    assert "my_new (baseline)" not in md and "| my_new" in md
    # nothing refused reaches the board, and no merged record is stale
    assert {c.variant for c in cells.values() if c.n_total} == {"anova_f", "chi2", "random", "my_new"}
    assert not partition(m.records, registry, "quick")[1]


def test_a_method_not_installed_is_merged_as_the_baseline_has_it(registry):
    m = baselines.merge([], [rec(registry, "wine", "gone_method", 0, 0.5, method_version="7")], registry, "quick")
    assert m.merged == 1 and not m.refused


def test_packaged_dir_finds_the_checkout_folder_and_nothing_for_a_profile_without_one():
    from pathlib import Path

    import bench_core

    folder = baselines.packaged_dir("quick")
    checkout = Path(bench_core.__file__).resolve().parent.parent / "leaderboards" / "quick" / "baseline"
    assert folder == (checkout if checkout.is_dir() else None)
    assert baselines.packaged_dir("no-such-profile") is None


def test_hatch_hook_ships_every_baseline_folder(tmp_path, monkeypatch):
    """The build hook (hatch_build.py) force-includes each leaderboards/<profile>/baseline folder, and only
    for the wheel. hatchling is not installed in the test environment: a stand-in base class is."""
    import importlib.util
    import sys
    import types
    from pathlib import Path

    import bench_core

    class Base:
        def __init__(self, root, target_name):
            self.root, self.target_name = root, target_name

    fake = types.ModuleType("hatchling.builders.hooks.plugin.interface")
    fake.BuildHookInterface = Base
    for name in ("hatchling", "hatchling.builders", "hatchling.builders.hooks", "hatchling.builders.hooks.plugin"):
        monkeypatch.setitem(sys.modules, name, sys.modules.get(name) or types.ModuleType(name))
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    spec = importlib.util.spec_from_file_location("hatch_build", Path(bench_core.__file__).parent.parent / "hatch_build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for p in ("quick/baseline", "standard/baseline", "smoke"):
        (tmp_path / "leaderboards" / p).mkdir(parents=True)
    expected = {str(tmp_path / "leaderboards" / "quick" / "baseline"): "bench_core/_baselines/quick",
                str(tmp_path / "leaderboards" / "standard" / "baseline"): "bench_core/_baselines/standard"}
    assert mod.baseline_folders(tmp_path) == expected
    data = {"force_include": {"x": "y"}}
    mod.BaselinesHook(str(tmp_path), "wheel").initialize("standard", data)
    assert data["force_include"] == {"x": "y", **expected}
    data = {}
    mod.BaselinesHook(str(tmp_path), "sdist").initialize("standard", data)
    assert data == {}, "the sdist carries leaderboards/ as it is"


def test_compare_with_baseline_records_places_a_new_method_in_the_overall_table(registry):
    base = baseline_records(registry)
    boards = boards_from_records(base, "quick")
    # my_new: 0.75 on breast_cancer (2nd of 4: anova .80/.81 above), 0.75 on wine (1st: anova .70/.71)
    mine = [rec(registry, ds, "my_new", s, 0.75) for ds in DATASETS for s in range(2)]
    report = compare(boards, mine, registry, profile="quick", baseline_records=base)
    assert not report.failed and report.counts["new"] == 2 and report.counts["missing"] == 6
    assert report.placements == ["`my_new` (selectors) would rank breast_cancer 2/4, wine 1/4; mean rank 1.50 "
                                 "over 2 dataset(s)"]
    # overall: my_new ranks (2, 1) -> 1.5; anova_f (1, 2) -> 1.5; ties broken by name: anova_f first
    assert report.standing == [{"track": "selectors", "variant": "my_new", "groups": [
        {"group": "real", "title": "data without ground truth (real data)", "position": 2, "of": 4,
         "mean_rank": 1.5, "ranked": 2}]}]
    md = report.markdown()
    assert md.index("would rank 2/4 on data without ground truth") < md.index("### Changed")
    assert md.index("### Changed") < md.index("<details>") and "0 unchanged and 6 missing" in md
    assert report.as_json()["ok"] is True


def test_compare_reasons_name_the_regression_and_the_error(registry):
    base = baseline_records(registry)
    boards = boards_from_records(base, "quick")
    cur = [rec(registry, "breast_cancer", "anova_f", s, 0.5) for s in range(2)]
    cur += [rec(registry, "wine", "anova_f", s, None, status="error") for s in range(2)]
    report = compare(boards, cur, registry, profile="quick", baseline_records=base)
    assert report.failed
    assert report.reasons() == [
        "regressed: selectors / breast_cancer / anova_f: 0.8050 -> 0.5000 (Δ -0.3050, beyond the tolerance 0.0100)",
        "failed: selectors / wine / anova_f: error ×2: ValueError: boom: bad input"]
    md = report.markdown()
    assert md.startswith("## featbench compare (quick): FAIL") and "Why it fails:" in md
    assert report.as_json()["reasons"] == report.reasons()
    report.rows[0].tolerance = float("nan")  # e.g. an improvement over a baseline without spread
    doc = json.loads(json.dumps(report.as_json(), allow_nan=False))
    assert doc["rows"][0]["tolerance"] is None and doc["ok"] is False


def test_load_baselines_overlays_sources_and_notes_a_self_comparison(registry, tmp_path):
    from bench_core.leaderboard import write

    base = baseline_records(registry)
    write(build(base, None, "quick"), tmp_path / "a" / "quick", ["json"])
    baselines.write_baseline(base, tmp_path / "a" / "quick", "quick")
    later = {"git_commit": "abc123def4567890", "featbench": "0.1.0", "started_at": "2026-11-24T10:00:00+00:00",
             "finished_at": "2026-11-24T10:00:09+00:00"}
    better = [rec(registry, "wine", "chi2", s, 0.95, provenance=later) for s in range(2)]
    write(build(better, None, "quick"), tmp_path / "b" / "quick", ["json"])
    boards, recs, notes = load_baselines([str(tmp_path / "a"), str(tmp_path / "b")], "quick", None, registry)
    wine = {c["variant"]: c for c in boards["selectors"]["datasets"]["wine"]["cells"]}
    assert wine["chi2"]["mean"] == pytest.approx(0.95) and wine["anova_f"]["mean"] == pytest.approx(0.705)
    assert len(recs) == len(base) and notes == []
    assert "2 baseline result(s) are the very result files" in self_comparison_note(base[:2], recs)
    assert self_comparison_note(better, recs) is None


def test_packaged_dir_reads_the_wheel_layout(tmp_path):
    """In a wheel the baselines live in bench_core/_baselines/<profile>/ (hatch_build.py): found through
    importlib.resources, ahead of any checkout. Simulated by a copy of bench_core with that folder."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import bench_core

    site = tmp_path / "site"
    shutil.copytree(Path(bench_core.__file__).parent, site / "bench_core",
                    ignore=shutil.ignore_patterns("__pycache__", "_baselines"))
    (site / "bench_core" / "_baselines" / "quick").mkdir(parents=True)
    baselines.write_baseline([], site / "x", "quick")  # nothing to write: no file, no error
    code = ("import bench_core.baselines as b, json; "
            "print(json.dumps([str(b.packaged_dir('quick')), str(b.packaged_dir('standard')), b.__file__]))")
    proc = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    quick, standard, where = json.loads(proc.stdout)
    assert where.startswith(str(site))
    assert quick == str(site / "bench_core" / "_baselines" / "quick")
    assert standard == "None", "no checkout next to the copied package, no standard folder in it"
