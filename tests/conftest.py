"""Shared fixtures. Every test runs with its own cache directory; nothing is written outside tmp paths."""

from __future__ import annotations

import json
import os
import time
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def committed_board(path: Path, track: str, profile: str) -> dict:
    """A committed leaderboard's JSON (``leaderboards/<profile>/<track>.json``, or a board a test was pointed
    at). A missing board fails the test rather than skipping it: the claims tests read boards that are
    committed, so a skip would hide a deleted or misnamed one."""
    if not path.exists():
        pytest.fail(f"{path} is missing: it is committed from one run of the committed code (featbench run "
                    f"--track {track} --profile {profile}; featbench leaderboard --profile {profile})")
    return json.loads(path.read_text())


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """A session-wide cache dir, so materialised datasets are shared between tests but never touch ~/.cache."""
    cache = tmp_path_factory.mktemp("featbench-cache")
    old = os.environ.get("FEATBENCH_CACHE_DIR")
    os.environ["FEATBENCH_CACHE_DIR"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("FEATBENCH_CACHE_DIR", None)
    else:
        os.environ["FEATBENCH_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def registry():
    from bench_core.registry import load_registry

    return load_registry()


@pytest.fixture
def cli_env(tmp_path):
    """Environment for running the CLI in a subprocess: the tests' plugin modules importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("FEATBENCH_PLUGIN_MODULES", None)
    env.pop("FEATBENCH_STRICT_PLUGINS", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(args, env=None, timeout=600, cwd=None):
    """Run ``python -m bench_core ARGS`` and return the CompletedProcess (text)."""
    import subprocess

    return subprocess.run([sys.executable, "-m", "bench_core", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """The default leaderboard's run (`featbench run --profile quick -j 2 --device cpu`), once per test run: the
    integration test checks it, the SAE claims and the Slurm comparison read it.

    Under pytest-xdist each worker has its own session, so the run is shared between workers through a
    directory beside the workers' base temporaries: the first worker to need it runs it under a lock, and
    the others wait for it and read its outcome."""
    import fcntl
    import json
    import subprocess

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        root = tmp_path_factory.getbasetemp().parent / "quick-shared"
        root.mkdir(exist_ok=True)
    else:
        root = tmp_path_factory.mktemp("quick")
    env = dict(os.environ, FEATBENCH_CACHE_DIR=str(root / "cache"), PYTHONPATH=str(REPO))
    for var in ("FEATBENCH_PLUGIN_MODULES", "FEATBENCH_LOAD_PLUGINS", "FEATBENCH_DISABLE_PLUGINS"):
        env.pop(var, None)
    results = root / "results"
    outcome = root / "outcome.json"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not outcome.exists():
            t0 = time.monotonic()
            # --device cpu: the committed baselines come from the CPU, and on CUDA the stochastic torch methods
            # give other (valid) numbers; pinned so that the suite passes on a GPU machine too
            proc = run_cli(["run", "--profile", "quick", "-j", "2", "--device", "cpu", "--results", str(results),
                            "--no-progress"], env=env, timeout=900)
            print(f"\nquick profile: {time.monotonic() - t0:.0f} s wall on this machine")
            outcome.write_text(json.dumps({"args": proc.args, "returncode": proc.returncode, "stdout": proc.stdout,
                                           "stderr": proc.stderr}))
    o = json.loads(outcome.read_text())
    proc = subprocess.CompletedProcess(o["args"], o["returncode"], o["stdout"], o["stderr"])
    assert proc.returncode == 0, proc.stderr
    return env, results, proc


# With pytest-xdist (`make test`: `-n 2 --dist loadfile --no-loadscope-reorder`), each worker has its own
# session and receives whole modules, so no module-scoped fixture (a trained network, an installed example
# plugin, the local Slurm cluster, which binds fixed ports) is built twice. The quick-profile run is shared
# across workers (`quick_run` above). Modules are handed out in the order below (`--no-loadscope-reorder`
# keeps it; xdist would otherwise start with the modules that have the most tests):
# the first module that needs the quick run comes first (it is the run's critical path), then the Slurm
# module (its tests mostly wait on Slurm; its comparison with the quick run is its last test), then everything
# else, and the other modules that read the quick run last, by when it has finished.


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    def module(item):
        return item.nodeid.split("::")[0]

    def uses(item, name):
        return name in getattr(item, "fixturenames", ())

    quick_mods = list(dict.fromkeys(module(i) for i in items if uses(i, "quick_run")))
    slurm_mods = list(dict.fromkeys(module(i) for i in items if uses(i, "slurm")))
    first = quick_mods[:1]
    last = [m for m in quick_mods[1:] if m not in slurm_mods]

    def rank(item):
        m = module(item)
        if m in first:
            return (0, 0)
        if m in slurm_mods:
            return (1, 1 if uses(item, "quick_run") else 0)
        if m in last:
            return (3, 0)
        return (2, 0)

    items[:] = sorted(items, key=rank)  # stable: the order within each rank is kept
