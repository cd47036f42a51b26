"""Execution through the real CLI and the local executor: fault injection, test-split isolation, kill and resume."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli

FAULTS = {
    "fault-raise": ("error", "deliberate failure"),
    "fault-nan": ("invalid", "non-finite"),
    "fault-shape": ("invalid", "shape (7,), expected (8,)"),
    "fault-range": ("invalid", "outside [0, 8)"),
    "fault-sleep": ("timeout", "a step ran over the 4 s limit in its first step"),
    "fault-abort": ("crashed", "SIGABRT"),
    "fault-memory": ("oom", "over the cap of 200 MiB"),
}


def _records(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("*.json"))]


@pytest.fixture
def plugin_env(cli_env, tmp_path):
    env = dict(cli_env)
    env["FEATBENCH_PLUGIN_MODULES"] = "fbtest.data,fbtest.faulty"
    env["FEATBENCH_SPY_DIR"] = str(tmp_path / "spy")
    return env


def test_fault_injection_each_status_recorded_and_run_completes(plugin_env, tmp_path):
    results = tmp_path / "results"
    methods = ",".join([*FAULTS, "anova_f", "noop"])
    proc = run_cli(["run", "--dataset", "fbtest_tiny", "--method", methods, "--profile", "smoke", "--seeds", "1",
                    "-j", "2", "--timeout", "4", "--results", str(results), "--no-progress"], env=plugin_env)
    assert proc.returncode == 0, proc.stderr
    recs = {r["method"]: r for r in _records(results)}
    assert set(recs) == set(FAULTS) | {"anova_f", "noop"}, "every job has exactly one result file"
    for method, (status, fragment) in FAULTS.items():
        rec = recs[method]
        assert rec["status"] == status, (method, rec["status"], rec["error"])
        assert fragment in rec["error"]["message"], (method, rec["error"]["message"])
        assert rec["scores"] == {}
    for ok in ("anova_f", "noop"):
        assert recs[ok]["status"] == "done"
        assert 0.0 <= recs[ok]["scores"]["auc_logk"] <= 1.0
    assert "error" in recs["fault-raise"]["error"]["traceback"] or "RuntimeError" in recs["fault-raise"]["error"]["traceback"]
    # failures are re-attempted on the next run; done jobs are not
    proc = run_cli(["run", "--dataset", "fbtest_tiny", "--method", "fault-raise,anova_f", "--profile", "smoke",
                    "--seeds", "1", "--results", str(results), "--no-progress"], env=plugin_env)
    assert proc.returncode == 0, proc.stderr
    assert "1 to run, 1 already done" in proc.stderr


def test_plugins_never_see_test_rows_or_labels(plugin_env, tmp_path, registry):
    """The spy records every row and label handed to it (main fit and stability refits)."""
    results = tmp_path / "results"
    proc = run_cli(["run", "--dataset", "fbtest_tiny", "--method", "spy", "--profile", "smoke", "--seeds", "3",
                    "--results", str(results), "--no-progress"], env=plugin_env)
    assert proc.returncode == 0, proc.stderr
    assert {r["status"] for r in _records(results)} == {"done"}

    from bench_core.data.dataset import materialise
    from bench_core.registry import load_registry

    reg = load_registry(env={"FEATBENCH_PLUGIN_MODULES": "fbtest.data"})
    ds, _ = materialise(reg.card("fbtest_tiny"), reg.loader_fns, reg.reader_fns, None)
    calls = [json.loads(p.read_text()) for p in sorted(Path(plugin_env["FEATBENCH_SPY_DIR"]).glob("*.json"))]
    # seed 0 runs the main fit plus 3 stability refits (smoke profile); seeds 1, 2 one fit each
    assert len(calls) == 1 + 3 + 1 + 1

    def h(row):
        return hashlib.sha256(np.ascontiguousarray(row, dtype="<f8").tobytes()).hexdigest()

    seen_seeds = set()
    for call in calls:
        # stability refits run with derived seeds; map each call to its split through the main-fit seeds
        split = call["seed"] if call["seed"] < 3 else 0
        seen_seeds.add(call["seed"])
        train, test = ds.splits[split]
        train_rows = {h(r): int(ds.y[i]) for i, r in zip(train, ds.X[train])}
        test_rows = {h(r) for r in ds.X[test]}
        assert not test_rows & set(call["rows"]), "a test row reached the plugin"
        assert set(call["rows"]) <= set(train_rows), "the plugin received rows that are not training rows"
        assert call["y"] == [train_rows[r] for r in call["rows"]], "labels do not match the training rows"
        if call["seed"] < 3:
            assert call["n"] == len(train), "the main fit receives the whole training split"
    assert {0, 1, 2} <= seen_seeds


def _python_procs_with(marker: str) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines()[1:] if marker in line]


def test_sigkill_mid_run_then_resume_runs_only_missing_jobs(plugin_env, tmp_path):
    results = tmp_path / "results"
    args = [sys.executable, "-m", "bench_core", "run", "--dataset", "fbtest_tiny", "--method", "slow-ok",
            "--profile", "smoke", "--seeds", "12", "-j", "2", "--results", str(results), "--no-progress"]
    proc = subprocess.Popen(args, env=plugin_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(results.rglob("*.json"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    first = {p: p.read_bytes() for p in results.rglob("*.json")}
    assert 3 <= len(first) < 12, "the kill must land mid-run"
    for path, data in first.items():  # complete JSON, a single file per key, named by its key
        rec = json.loads(data)
        assert rec["status"] == "done" and path.stem == rec["key"]
    # orphaned workers notice the closed pipe and exit
    t0 = time.time()
    while time.time() - t0 < 30 and _python_procs_with(str(results)):
        time.sleep(0.2)

    proc2 = run_cli(args[3:], env=plugin_env)
    assert proc2.returncode == 0, proc2.stderr
    assert f"{12 - len(first)} to run, {len(first)} already done" in proc2.stderr
    final = list(results.rglob("*.json"))
    keys = [json.loads(p.read_text())["key"] for p in final]
    assert len(final) == 12 and len(set(keys)) == 12
    for path, data in first.items():
        assert path.read_bytes() == data, "a finished result was rewritten on resume"
    assert not [p for p in results.rglob("*.tmp")], "temporary files left behind"


def test_inline_executor_gives_the_same_scores_as_local(plugin_env, tmp_path):
    outs = {}
    for executor in ("inline", "local"):
        results = tmp_path / executor
        proc = run_cli(["run", "--dataset", "fbtest_tiny", "--method", "anova_f,random", "--profile", "smoke",
                        "--seeds", "2", "--executor", executor, "--results", str(results), "--no-progress"],
                       env=plugin_env)
        assert proc.returncode == 0, proc.stderr
        outs[executor] = {(r["method"], r["seed"]): (r["key"], r["scores"]) for r in _records(results)}
    assert outs["inline"] == outs["local"]


def test_a_timeout_spares_the_other_seeds_of_its_cell(plugin_env, tmp_path):
    results = tmp_path / "results"
    proc = run_cli(["run", "--dataset", "fbtest_tiny", "--method", "fault-sleep,anova_f", "--profile", "smoke",
                    "--seeds", "3", "-j", "1", "--timeout", "3", "--results", str(results), "--no-progress"],
                   env=plugin_env)
    assert proc.returncode == 0, proc.stderr
    recs = sorted((r["method"], r["seed"], r["status"], (r["error"] or {}).get("message", "")) for r in _records(results))
    sleep = [r for r in recs if r[0] == "fault-sleep"]
    assert [r[2] for r in sleep] == ["timeout", "skipped", "skipped"]
    assert all("seed 0 of this method and dataset timed out" in r[3] for r in sleep[1:])
    assert [r[2] for r in recs if r[0] == "anova_f"] == ["done"] * 3


def test_a_job_over_its_total_limit_is_a_timeout_even_when_every_step_is_in_time(plugin_env, tmp_path):
    # slow-ok sleeps 0.4 s per fit; the smoke protocol fits it once and refits it 3 times (stability) on
    # split 0, so every step ends within the 10 s step limit while the job as a whole overruns 1.2 s.
    results = tmp_path / "results"
    proc = run_cli(["run", "--dataset", "fbtest_tiny", "--method", "slow-ok,anova_f", "--profile", "smoke",
                    "--seeds", "1", "-j", "1", "--timeout", "10", "--job-timeout", "1.2",
                    "--results", str(results), "--no-progress"], env=plugin_env)
    assert proc.returncode == 0, proc.stderr
    recs = {r["method"]: r for r in _records(results)}
    assert recs["slow-ok"]["status"] == "timeout"
    assert "the job ran over its total limit of 1.2 s after step" in recs["slow-ok"]["error"]["message"]
    assert recs["anova_f"]["status"] == "done"


def test_the_warm_up_is_not_charged_to_the_first_steps_limit(plugin_env, tmp_path):
    # slow-warm-up's warm_up sleeps 2.5 s and each fit 2 s; with a 4 s step limit the first fit overran when
    # the warm-up counted as part of the job's first step
    results = tmp_path / "results"
    proc = run_cli(["run", "--dataset", "fbtest_tiny", "--method", "slow-warm-up", "--profile", "smoke",
                    "--seeds", "1", "-j", "1", "--timeout", "4", "--results", str(results), "--no-progress"],
                   env=plugin_env)
    assert proc.returncode == 0, proc.stderr
    (rec,) = _records(results)
    assert rec["status"] == "done", rec["error"]
    assert rec["timing"]["fit_s"] < 2.4, "the warm-up is not the fit's time"
    # its fits sleep: seconds of wall time, little CPU (the warm-up is outside the job)
    assert 0.0 < rec["timing"]["cpu_s"] < 1.5 < rec["timing"]["job_s"], rec["timing"]
