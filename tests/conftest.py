"""Shared fixtures. Every test runs with its own cache directory; nothing is written outside tmp paths."""

from __future__ import annotations

import os
import time
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


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
    """The default leaderboard's run (`featbench run --profile quick -j 2 --device cpu`), once per session: the integration
    test checks it, the Slurm test compares its own run of the selectors with it."""
    root = tmp_path_factory.mktemp("quick")
    env = dict(os.environ, FEATBENCH_CACHE_DIR=str(root / "cache"), PYTHONPATH=str(REPO))
    for var in ("FEATBENCH_PLUGIN_MODULES", "FEATBENCH_LOAD_PLUGINS", "FEATBENCH_DISABLE_PLUGINS"):
        env.pop(var, None)
    results = root / "results"
    t0 = time.monotonic()
    # --device cpu: the committed baselines come from the CPU, and on CUDA the stochastic torch methods give
    # other (valid) numbers; pinned so that the suite passes on a GPU machine too
    proc = run_cli(["run", "--profile", "quick", "-j", "2", "--device", "cpu", "--results", str(results),
                    "--no-progress"], env=env,
                   timeout=900)
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    print(f"\nquick profile: {wall:.0f} s wall on this machine")
    return env, results, proc


# With pytest-xdist (`make test` runs `-n 2 --dist loadgroup`), each worker has its own session. Tests are
# therefore sent to workers a whole module at a time, so that no module-scoped fixture (a trained network, an
# installed example plugin) is built twice; and the tests that share the one quick-profile run (the session
# fixture `quick_run`) or the one local Slurm cluster (a fixture that binds fixed ports) form one group, so that
# the quick profile runs once and only one cluster is started.
HEAVY_GROUP = "quick-run-and-slurm"


def pytest_collection_modifyitems(config, items):
    heavy = []
    for item in items:
        names = getattr(item, "fixturenames", ())
        group = HEAVY_GROUP if ("quick_run" in names or "slurm" in names) else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
        if group == HEAVY_GROUP:
            heavy.append(item)
    # the longest group first (it is the run's critical path); the relative order of every test is kept
    ids = {id(i) for i in heavy}
    items[:] = heavy + [i for i in items if id(i) not in ids]
