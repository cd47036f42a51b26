"""The quick profile end to end through the CLI, as CI and `make leaderboard` run it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest

from bench_core.store import json_schema
from conftest import REPO, run_cli

pytestmark = pytest.mark.slow


def test_every_job_finished_with_a_valid_result_file(quick_run, registry):
    _env, results, proc = quick_run
    schema = json_schema()
    recs = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    for r in recs:
        jsonschema.validate(r, schema)
    not_done = [(r["dataset"], r["method"], r["seed"], r["status"], (r["error"] or {}).get("message"))
                for r in recs if r["status"] != "done"]
    assert not not_done, not_done
    for track in [t for t, tr in registry.tracks.items() if tr.ready]:
        methods = {r["method"] for r in recs if r["track"] == track}
        assert methods == set(registry.methods[track]), f"every built-in of the {track} track ran"
    datasets = {r["dataset"] for r in recs}
    assert {"breast_cancer", "classification_small", "wine", "xor_small"} <= datasets


def test_rerun_is_fully_cached(quick_run):
    env, results, _ = quick_run
    proc = run_cli(["run", "--profile", "quick", "--device", "cpu", "--results", str(results), "--no-progress"],
                   env=env)
    assert proc.returncode == 0 and " 0 to run," in proc.stderr, proc.stderr


def test_leaderboard_and_compare_with_the_committed_baseline(quick_run, tmp_path):
    env, results, _ = quick_run
    out = tmp_path / "lb"
    proc = run_cli(["leaderboard", "--profile", "quick", "--results", str(results), "--out", str(out), "--print"],
                   env=env)
    assert proc.returncode == 0, proc.stderr
    assert "## breast_cancer" in proc.stdout and "random (− control)" in proc.stdout
    assert (out / "index.html").exists() and (out / "selectors-curves.png").exists()
    proc = run_cli(["compare", "--profile", "quick", "--results", str(results),
                    "--baseline", str(REPO / "leaderboards")], env=env)
    assert proc.returncode == 0, proc.stdout
    assert "\n0 regressed, 0 failed" in proc.stdout
