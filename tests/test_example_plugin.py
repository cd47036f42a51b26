"""The example third-party plugin in examples/ is installed by pip, discovered, checked, run and ranked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, run_cli

EXAMPLE = REPO / "examples" / "featbench-example"


@pytest.fixture(scope="module")
def example_env(tmp_path_factory):
    site = tmp_path_factory.mktemp("example-site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(site), str(EXAMPLE)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert list(site.glob("featbench_example-0.2.0.dist-info/entry_points.txt"))
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO / "tests"), str(REPO)])
    return env


def test_discovered_from_its_entry_point(example_env):
    data = json.loads(run_cli(["list", "--json"], env=example_env).stdout)
    plugin = next(p for p in data["plugins"] if p["name"] == "example-selectors")
    assert (plugin["dist"], plugin["version"], plugin["status"]) == ("featbench-example", "0.2.0", "ok")
    assert data["methods"]["selectors"]["abs_correlation"]["plugin"] == "example-selectors"


def test_passes_featbench_check(example_env):
    proc = run_cli(["check", "abs_correlation"], env=example_env)
    assert proc.returncode == 0, proc.stdout
    assert "0 failed" in proc.stdout


def test_runs_and_appears_on_the_leaderboard(example_env, tmp_path):
    results, out = tmp_path / "results", tmp_path / "lb"
    proc = run_cli(["run", "--method", "abs_correlation,anova_f,random", "--dataset", "breast_cancer,classification_small",
                    "--profile", "smoke", "--device", "cpu", "--results", str(results), "--no-progress"],
                   env=example_env)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    mine = [r for r in recs if r["method"] == "abs_correlation"]
    assert len(mine) == 2 and all(r["status"] == "done" for r in mine)
    assert mine[0]["provenance"]["plugin"] == {"name": "example-selectors", "dist": "featbench-example", "version": "0.2.0"}
    proc = run_cli(["leaderboard", "--profile", "smoke", "--results", str(results), "--out", str(out), "--print"],
                   env=example_env)
    assert proc.returncode == 0, proc.stderr
    assert "abs_correlation" in proc.stdout
    board = json.loads((out / "selectors.json").read_text())
    ranks = [c["rank"] for c in board["datasets"]["breast_cancer"]["cells"] if c["variant"] == "abs_correlation"]
    assert ranks and ranks[0] is not None


def test_its_own_test_suite_uses_the_kit_through_pytest(example_env):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                          env=example_env, capture_output=True, text=True, timeout=300, cwd=EXAMPLE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "9 passed" in proc.stdout
