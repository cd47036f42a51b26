"""The plugin author's loop, end to end, in a folder outside the repository (issue 7, "What must be shown").

`featbench new-plugin` writes a selectors package; it is installed into a temporary target folder (never
into the test environment: ``pip install --no-deps --no-build-isolation --target``, its code then taken from
the source folder, as an editable install would); its own tests and ``featbench check`` pass; it runs
alone on the quick profile; the leaderboard ranks it among the packaged baselines (which it never re-runs);
``featbench compare`` exits 0 and states its standing first. Then the method is broken (its ranking
inverted), run again on one dataset, and ``compare`` against the packaged baselines plus the author's own
committed board exits 1 naming the regression.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

NAME = "author_sel"


def _cli(args, env, cwd, timeout=600):
    return subprocess.run([sys.executable, "-m", "bench_core", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_author_loop_new_plugin_check_run_alone_rank_and_compare(tmp_path, _session_cache):
    from bench_core.baselines import packaged_dir

    assert packaged_dir("quick") is not None, "the quick baselines must ship (leaderboards/quick/baseline)"
    work = tmp_path / "work"
    work.mkdir()
    assert REPO not in work.parents
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATBENCH_")}
    env.update(FEATBENCH_CACHE_DIR=str(_session_cache), PYTHONUNBUFFERED="1")

    # 1. the package
    proc = _cli(["new-plugin", NAME, "--track", "selectors"], env, work)
    assert proc.returncode == 0, proc.stderr
    pkg = work / NAME
    assert (pkg / ".github" / "workflows" / "featbench.yml").is_file()

    # 2. installed into a target folder: its metadata (the entry point) there, its code from the source
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(site), str(pkg)], capture_output=True, text=True,
                         timeout=300, cwd=work)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    shutil.rmtree(site / NAME)
    assert list(site.glob(f"{NAME}-*.dist-info/entry_points.txt"))
    env["PYTHONPATH"] = os.pathsep.join([str(pkg / "src"), str(site)])

    # 3. its own tests (the conformance kit through parametrize_with_checks) and featbench check
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env=env, cwd=pkg,
                           capture_output=True, text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    proc = _cli(["check", NAME], env, work)
    assert proc.returncode == 0 and "0 failed" in proc.stdout, proc.stdout + proc.stderr

    # 4. run alone on the quick profile: only its own jobs
    results = work / "results"
    proc = _cli(["run", "--profile", "quick", "--track", "selectors", "--method", NAME, "-j", "2",
                 "--results", str(results), "--no-progress"], env, work)
    assert proc.returncode == 0, proc.stderr
    files = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    assert files and {r["method"] for r in files} == {NAME}
    assert all(r["status"] == "done" for r in files), [r.get("error") for r in files]
    datasets = {r["dataset"] for r in files}

    # 5. ranked among the packaged baselines, which were not re-run
    proc = _cli(["leaderboard", "--profile", "quick", "--track", "selectors", "--results", str(results),
                 "--out", str(work / "lb"), "--format", "md,json", "--print"], env, work)
    assert proc.returncode == 0, proc.stderr
    assert "merged from the packaged baselines" in proc.stderr
    board = json.loads((work / "lb" / "selectors.json").read_text())
    for block in board["overall"]:
        variants = {r["variant"]: r for r in block["rows"]}
        if set(block["datasets"]) & datasets:
            assert NAME in variants and not variants[NAME]["baseline"]
            assert len(variants) > 10 and sum(r["baseline"] for r in variants.values()) == len(variants) - 1
    assert "anova_f (baseline)" in proc.stdout and f"| {NAME} " in proc.stdout

    # 6. compare with the packaged baselines: exit 0, the standing first
    proc = _cli(["compare", "--profile", "quick", "--track", "selectors", "--results", str(results), "--json",
                 "--output", str(work / "compare.md")], env, work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] and report["standing"][0]["variant"] == NAME and report["counts"]["new"] == len(datasets)
    out = (work / "compare.md").read_text()
    assert "compare (quick): OK" in out and f"`{NAME}` (selectors) would rank " in out
    assert out.index("would rank") < out.index("### Changed")

    # 7. the author commits their own board, then breaks the method (its ranking inverted)
    proc = _cli(["leaderboard", "--profile", "quick", "--track", "selectors", "--results", str(results),
                 "--out", str(work / "own" / "quick"), "--format", "json", "--no-baselines"], env, work)
    assert proc.returncode == 0, proc.stderr
    assert "merged from the packaged baselines" not in proc.stderr
    own = json.loads((work / "own" / "quick" / "selectors.json").read_text())
    assert {c["variant"] for b in own["datasets"].values() for c in b["cells"]} == {NAME}, "--no-baselines: yours only"
    src = pkg / "src" / NAME / "plugin.py"
    text = src.read_text()
    assert text.count("        return best\n") == 1
    src.write_text(text.replace("        return best\n", "        return -best\n"))
    broken = work / "results-broken"
    one = sorted(datasets)[0]
    proc = _cli(["run", "--profile", "quick", "--track", "selectors", "--method", NAME, "--dataset", one,
                 "--executor", "inline", "--results", str(broken), "--no-progress"], env, work)
    assert proc.returncode == 0, proc.stderr
    proc = _cli(["compare", "--profile", "quick", "--track", "selectors", "--results", str(broken),
                 "--baseline", "packaged", "--baseline", str(work / "own")], env, work)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "compare (quick): FAIL" in proc.stdout and "Why it fails:" in proc.stdout
    assert f"- regressed: selectors / {one} / {NAME}: " in proc.stdout
