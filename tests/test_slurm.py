"""The ``slurm`` executor against a real single-node Slurm (slurmctld, slurmd, slurmdbd on a private MariaDB),
started on localhost by a fixture and stopped by PID afterwards.

Where the machine cannot run Slurm (not root, no apt, the daemons do not come up) these tests skip with the
reason; `.ci/run` installs Debian's packages first, so on CI they run. The whole module costs about 4 minutes
on 2 cores, most of it the quick profile run through Slurm.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, TESTS, run_cli

SCRIPTS = TESTS / "slurm"


def _skip_reason() -> str | None:
    if os.name != "posix" or os.geteuid() != 0:
        return "the Slurm tests need root (they start slurmctld, slurmd and slurmdbd as root)"
    if not shutil.which("slurmctld"):
        subprocess.run(["bash", str(SCRIPTS / "install-slurm.sh")], capture_output=True, timeout=600)
    for tool in ("slurmctld", "slurmd", "slurmdbd", "mariadbd", "sbatch", "sacct"):
        if not shutil.which(tool):
            return f"Slurm is not installed and could not be installed here ({tool} missing; needs apt-get)"
    try:
        import submitit  # noqa: F401
    except ImportError:
        return "submitit is not installed"
    return None


def _skip_or_fail(reason: str) -> None:
    """Skip where Slurm cannot run; on CI (CI=true, where .ci/run installed it) that is a failure."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"Slurm tests must run on CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running single-node cluster; yields the environment that its clients need (SLURM_CONF)."""
    reason = _skip_reason()
    if reason:
        _skip_or_fail(reason)
    root = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "SLURM_ROOT": str(root)}
    t0 = time.monotonic()
    proc = None
    try:
        proc = subprocess.run(["bash", str(SCRIPTS / "start-slurm.sh")], env=env, capture_output=True, text=True,
                              timeout=180)
        if proc.returncode != 0:
            _skip_or_fail(f"the local Slurm did not start: {proc.stderr.strip()[-300:]}")
        print(f"\nlocal Slurm up in {time.monotonic() - t0:.1f} s")
        yield {"SLURM_CONF": str(root / "etc" / "slurm.conf"), "root": root}
    finally:
        conf = {**env, "SLURM_CONF": str(root / "etc" / "slurm.conf")}
        if proc is not None and proc.returncode == 0:  # no job step may outlive the cluster: cancel everything, wait for an empty queue
            subprocess.run(["scancel", "--user", "root"], env=conf, capture_output=True, timeout=30)
            deadline = time.monotonic() + 30
            while _squeue(conf) and time.monotonic() < deadline:
                time.sleep(0.5)
        subprocess.run(["bash", str(SCRIPTS / "stop-slurm.sh")], env=env, capture_output=True, timeout=60)
        for pidfile in (root / "run").glob("*.pid"):  # the stop script removes them; none may be left
            pytest.fail(f"a Slurm daemon was not stopped: {pidfile}")


@pytest.fixture
def env(slurm, cli_env, tmp_path):
    e = dict(cli_env)
    e["SLURM_CONF"] = slurm["SLURM_CONF"]
    e["FEATBENCH_PLUGIN_MODULES"] = "fbtest.faulty,fbtest.slurmfaults"
    e["FEATBENCH_TEST_MARKERS"] = str(tmp_path / "markers")
    (tmp_path / "markers").mkdir()
    return e


def _records(results: Path) -> dict[str, dict]:
    out = {}
    for p in results.rglob("*.json"):
        if ".slurm" in p.parts:
            continue
        rec = json.loads(p.read_text())
        out[rec["key"]] = rec
    return out


def _squeue(env) -> list[tuple[str, str, str]]:
    """(job id, state, reason) of every array task and array record squeue lists."""
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T|%r"], env=env, capture_output=True, text=True).stdout
    return [tuple(line.split("|")) for line in out.splitlines() if line.strip()]


def _slurm_run(env, results, *extra, timeout=900):
    return run_cli(["run", "--executor", "slurm", "--results", str(results), "--no-progress",
                    "--executor-opt", "poll_s=0.5", *extra], env=env, timeout=timeout)


def test_quick_selectors_on_slurm_equal_the_local_executor(env, quick_run, tmp_path):
    """Same job keys, same scores: the array tasks run the same job function as the local executor (whose
    run is the integration test's `featbench run --profile quick -j 2`). Seed 0 only: every selector on every
    quick dataset, 92 jobs in 4 array tasks (both seeds took about 210 s of the CI's 18 minutes)."""
    _qenv, local, _proc = quick_run
    slurm_res = tmp_path / "slurm"
    # The same plugins as the local run: the fault fixtures this module's other tests load are left out (with
    # them, their methods joined the quick selectors run: 280 result files against 184).
    env = {k: v for k, v in env.items() if k not in ("FEATBENCH_PLUGIN_MODULES", "FEATBENCH_TEST_MARKERS")}
    t0 = time.monotonic()
    proc = _slurm_run(env, slurm_res, "--profile", "quick", "--track", "selectors", "--seeds", "1",
                      "--executor-opt", "jobs_per_task=24", "--executor-opt", "max_running=2", "--threads", "1")
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    print(f"\nquick selectors through Slurm: {wall:.0f} s")
    a = {k: r for k, r in _records(local).items() if r["track"] == "selectors" and r["seed"] == 0}
    b = _records(slurm_res)
    assert a.keys() == b.keys() and len(a) > 90
    for key, ra in a.items():
        rb = b[key]
        assert rb["provenance"]["executor"] == "slurm" and "slurm_job_id" in rb["provenance"]["environment"]
        assert ra["status"] == rb["status"], (ra["method"], ra["dataset"])
        assert ra["scores"].keys() == rb["scores"].keys()
        for name, va in ra["scores"].items():
            vb, where = rb["scores"][name], (ra["method"], ra["dataset"], name)
            if va is None or vb is None:  # a NaN score is stored as null: equal only if null on both sides
                assert va is None and vb is None, where
            else:
                assert vb == pytest.approx(va, rel=1e-9, abs=1e-12), where


def test_the_concurrency_cap_is_honoured_as_squeue_shows(env, tmp_path):
    env = {**env, "FEATBENCH_TEST_SLEEP_S": "4"}
    seen: list[list[tuple[str, str, str]]] = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(_squeue(env))
            time.sleep(0.3)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    try:
        proc = _slurm_run(env, tmp_path / "res", "--profile", "smoke", "--method", "slurm-steady",
                          "--dataset", "breast_cancer,wine,digits", "--executor-opt", "jobs_per_task=1",
                          "--executor-opt", "max_running=1", "--threads", "1")
    finally:
        stop.set()
        w.join()
    assert proc.returncode == 0, proc.stderr
    assert "3 done" in proc.stderr
    running = [sum(1 for _i, st, _r in snap if st == "RUNNING") for snap in seen]
    assert max(running) == 1, "with max_running=1 exactly one task runs at a time (2 CPUs were free)"
    assert any(r == "JobArrayTaskLimit" for snap in seen for _i, _st, r in snap), \
        "squeue shows the other tasks held back by the array limit"


def test_a_task_past_its_slurm_time_limit_is_recorded_as_timeout(env, tmp_path):
    res = tmp_path / "res"
    proc = _slurm_run(env, res, "--profile", "smoke", "--method", "fault-sleep", "--dataset", "breast_cancer",
                      "--timeout", "900", "--executor-opt", "time_limit_min=1")
    assert proc.returncode == 0, proc.stderr
    (rec,) = _records(res).values()
    assert rec["status"] == "timeout" and "time limit" in rec["error"]["message"], rec["error"]


def test_scancel_is_recorded_and_the_job_is_run_again_next_time(env, tmp_path):
    env = {**env, "FEATBENCH_TEST_SLEEP_S": "60"}
    res = tmp_path / "res"
    args = [*_slurm_args(res), "--profile", "smoke", "--method", "slurm-sleep-once", "--dataset", "breast_cancer"]
    driver = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        job = _wait_running(env, Path(env["FEATBENCH_TEST_MARKERS"]) / "seed0")
        subprocess.run(["scancel", job], env=env, check=True)
        _out, err = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 0, err
    (rec,) = _records(res).values()
    # Slurm's SIGTERM reaches the worker (recorded by the task itself) or the whole task (recorded by the driver)
    assert rec["status"] == "crashed" and ("cancelled" in rec["error"]["message"]
                                           or "Slurm sends SIGTERM" in rec["error"]["message"]), rec["error"]
    proc = _slurm_run(env, res, "--profile", "smoke", "--method", "slurm-sleep-once", "--dataset", "breast_cancer")
    assert proc.returncode == 0 and "1 to run" in proc.stderr and "1 done" in proc.stderr, proc.stderr
    (rec,) = _records(res).values()
    assert rec["status"] == "done"


def test_a_killed_driver_restarts_without_submitting_twice(env, tmp_path):
    env = {**env, "FEATBENCH_TEST_SLEEP_S": "3"}
    res = tmp_path / "res"
    args = [*_slurm_args(res), "--profile", "smoke", "--method", "slurm-steady", "--dataset",
            "breast_cancer,wine,digits", "--executor-opt", "jobs_per_task=1", "--executor-opt", "max_running=1",
            "--threads", "1"]
    driver = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    subs = res / ".slurm" / "submissions"
    deadline = time.monotonic() + 60
    while not any(subs.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    proc = run_cli(args[3:], env=env, timeout=300)  # the same command again
    assert proc.returncode == 0, proc.stderr
    assert "already queued or running in Slurm" in proc.stderr or "0 to run" in proc.stderr, proc.stderr
    assert len(list(subs.glob("*.json"))) == 1, "the restarted driver must adopt the live tasks, not resubmit"
    recs = _records(res)
    assert len(recs) == 3 and {r["status"] for r in recs.values()} == {"done"}
    arrays = {r["provenance"]["environment"]["slurm_array_job_id"] for r in recs.values()}
    assert len(arrays) == 1, "every result comes from the one array submitted"
    status = run_cli(["status", "--profile", "smoke", "--method", "slurm-steady", "--dataset",
                      "breast_cancer,wine,digits", "--results", str(res), "--json"], env=env)
    assert json.loads(status.stdout) == {"selectors": {"done": 3}}


def test_detach_returns_at_once_and_status_shows_the_queue(env, tmp_path):
    env = {**env, "FEATBENCH_TEST_SLEEP_S": "5"}
    res = tmp_path / "res"
    sel = ["--profile", "smoke", "--method", "slurm-steady", "--dataset", "breast_cancer,wine"]
    proc = _slurm_run(env, res, *sel, "--detach", "--executor-opt", "jobs_per_task=1",
                      "--executor-opt", "max_running=1")
    assert proc.returncode == 0 and "detached" in proc.stderr, proc.stderr
    status = run_cli(["status", *sel, "--results", str(res), "--json"], env=env)
    counts = json.loads(status.stdout)["selectors"]
    assert counts.get("queued", 0) + counts.get("running", 0) + counts.get("done", 0) == 2, counts
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        counts = json.loads(run_cli(["status", *sel, "--results", str(res), "--json"], env=env).stdout)["selectors"]
        if counts.get("done") == 2:
            break
        time.sleep(1)
    assert counts == {"done": 2}


def test_bad_executor_options_are_refused_in_one_line(cli_env, tmp_path):
    for opt, msg in (("bogus=1", "unknown slurm executor option 'bogus'"),
                     ("max_running=0", "must be a positive int"),
                     ("max_running=x", "max_running='x' must be int"),
                     ("detach=maybe", "detach='maybe' must be bool")):
        proc = run_cli(["run", "--executor", "slurm", "--executor-opt", opt, "--profile", "smoke", "--method",
                        "variance", "--dataset", "breast_cancer", "--results", str(tmp_path / "r")], env=cli_env)
        assert proc.returncode == 2 and msg in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    proc = run_cli(["run", "--detach", "--profile", "smoke", "--method", "variance", "--dataset", "breast_cancer",
                    "--results", str(tmp_path / "r")], env=cli_env)
    assert proc.returncode == 2 and "--detach needs" in proc.stderr
    assert not (tmp_path / "r").exists()


def _slurm_args(results):
    import sys

    return [sys.executable, "-m", "bench_core", "run", "--executor", "slurm", "--results", str(results),
            "--no-progress", "--executor-opt", "poll_s=0.5"]


def _wait_running(env, marker: Path, timeout: float = 90) -> str:
    """The id of the running array task, once the method has started (its marker file exists)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [i for i, st, _r in _squeue(env) if st == "RUNNING"]
        if running and marker.exists():
            return running[0]
        time.sleep(0.3)
    raise AssertionError("the task never started")
