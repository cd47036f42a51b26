"""The CLI's bad-input contract: one line on stderr naming the problem and the valid choices, exit status 2,
nothing written."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli


def _assert_usage_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("featbench: error: ")
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.mark.parametrize("args, fragments", [
    (["run", "--track", "selector"], ["unknown track 'selector'", "valid: reducers, saes, selectors, similarity",
                                      "did you mean 'selectors'"]),
    (["run", "--method", "anova"], ["unknown method 'anova'", "anova_f"]),
    (["run", "--dataset", "breast"], ["unknown dataset 'breast'", "breast_cancer"]),
    (["run", "--profile", "huge"], ["invalid choice: 'huge'", "smoke", "quick", "standard", "full"]),
    (["run", "--executor", "ray"], ["unknown executor 'ray'", "valid: inline, local"]),
    (["run", "--seeds", "two"], ["--seeds must be a count"]),
    (["run", "--dataset", "breast_cancer", "--seeds", "0,11"], ["has 10 splits", "seed 11 does not exist"]),
    (["run", "--jobs", "0"], ["--jobs must be >= 1"]),
    (["run", "--timeout", "-3"], ["expected a finite positive number"]),
    (["run", "--device", "tpu"], ["unknown device 'tpu'", "auto, cpu, cuda"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    (["check", "nonexistent"], ["unknown method 'nonexistent'"]),
    (["leaderboard", "--format", "pdf"], ["unknown format 'pdf'", "md, csv, json, html"]),
    (["datasets", "verify", "nope"], ["unknown dataset 'nope'"]),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(args, fragments, cli_env, tmp_path):
    env = dict(cli_env, FEATBENCH_CACHE_DIR=str(tmp_path / "cache"))
    results = tmp_path / "results"
    extra = ["--results", str(results)] if args[0] == "run" else []
    proc = run_cli([*args, *extra], env=env)
    _assert_usage_error(proc, *fragments)
    assert not results.exists() and not (tmp_path / "cache").exists()


def test_malformed_card_exits_2(cli_env, tmp_path):
    env = dict(cli_env, FEATBENCH_PLUGIN_MODULES="fbtest.data,fbtest.badcard", FEATBENCH_CACHE_DIR=str(tmp_path / "c"))
    proc = run_cli(["run", "--profile", "smoke", "--results", str(tmp_path / "r")], env=env)
    _assert_usage_error(proc, "broken.toml", "unknown key 'colour'", "fbtest.badcard")
    assert not (tmp_path / "r").exists()
    listing = run_cli(["list"], env=env)
    assert listing.returncode == 0 and "broken dataset card" in listing.stdout


def test_checksum_mismatch_exits_2_and_writes_no_result(cli_env, tmp_path):
    env = dict(cli_env, FEATBENCH_PLUGIN_MODULES="fbtest.data,fbtest.mismatch", FEATBENCH_CACHE_DIR=str(tmp_path / "c"))
    proc = run_cli(["run", "--dataset", "fbtest_mismatch", "--method", "random", "--results", str(tmp_path / "r")],
                   env=env)
    _assert_usage_error(proc, "fbtest_mismatch", "data checksum mismatch")
    assert not (tmp_path / "r").exists()
    proc = run_cli(["datasets", "verify", "fbtest_mismatch"], env=env)
    assert proc.returncode == 1 and "MISMATCH" in proc.stdout


def test_missing_external_data_is_skipped_not_fatal(cli_env, tmp_path):
    env = dict(cli_env, FEATBENCH_CACHE_DIR=str(tmp_path / "c"))
    env.pop("FEATBENCH_DATA_DIR", None)
    proc = run_cli(["run", "--dataset", "colon,breast_cancer", "--method", "random", "--profile", "smoke",
                    "--results", str(tmp_path / "r"), "--no-progress"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "skipped: dataset 'colon' needs the file scikit-feature/colon.mat" in proc.stderr
    recs = [json.loads(p.read_text()) for p in (tmp_path / "r").rglob("*.json")]
    status = {r["dataset"]: r["status"] for r in recs}
    assert status == {"colon": "skipped", "breast_cancer": "done"}
    skipped = next(r for r in recs if r["dataset"] == "colon")
    assert "FEATBENCH_DATA_DIR" in skipped["error"]["message"]


def test_list_and_check_succeed(cli_env):
    proc = run_cli(["list"], env=cli_env)
    assert proc.returncode == 0
    assert "anova_f" in proc.stdout and "Track saes" in proc.stdout and "topk" in proc.stdout
    proc = run_cli(["check", "anova_f"], env=cli_env)
    assert proc.returncode == 0 and "0 failed" in proc.stdout


def test_check_reports_a_failing_method(cli_env):
    env = dict(cli_env, FEATBENCH_PLUGIN_MODULES="fbtest.faulty")
    proc = run_cli(["check", "fault-nan"], env=env)
    assert proc.returncode == 1
    assert "check_output_valid" in proc.stdout and "non-finite" in proc.stdout
