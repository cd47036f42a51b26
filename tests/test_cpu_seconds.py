"""The CPU seconds a job records (``timing.cpu_s``): counted from /proc, busy time in, sleep out."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bench_core.execute.job import cpu_seconds

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="read from /proc")


def _busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_busy_time_counts_and_sleep_does_not():
    c0 = cpu_seconds()
    _busy(0.3)
    c1 = cpu_seconds()
    time.sleep(0.3)
    c2 = cpu_seconds()
    assert 0.25 <= c1 - c0 <= 0.6
    assert c2 - c1 <= 0.05


def test_a_reaped_childs_cpu_counts():
    c0 = cpu_seconds()
    subprocess.run([sys.executable, "-c", "import time\nt = time.process_time() + 0.4\nwhile time.process_time() < t: pass"],
                   check=True)
    assert cpu_seconds() - c0 >= 0.35


def test_another_process_and_a_missing_one():
    proc = subprocess.Popen([sys.executable, "-c", "import time\nt = time.process_time() + 0.3\n"
                             "while time.process_time() < t: pass\ntime.sleep(5)"])
    try:
        deadline = time.time() + 10
        while time.time() < deadline and (cpu_seconds(proc.pid) or 0.0) < 0.3:
            time.sleep(0.05)
        assert 0.3 <= cpu_seconds(proc.pid) < 1.5
    finally:
        proc.kill()
        proc.wait()
    assert cpu_seconds(proc.pid) is None
    assert cpu_seconds(None) is None


def test_workers_pin_every_thread_pool_numba_included(monkeypatch):
    from bench_core.execute.job import THREAD_VARS, configure_threads
    from bench_core.execute.local import LocalExecutor

    assert "NUMBA_NUM_THREADS" in THREAD_VARS and "OMP_NUM_THREADS" in THREAD_VARS
    env = LocalExecutor(workers=2, threads=1)._env_for("")
    assert {v: env[v] for v in THREAD_VARS} == dict.fromkeys(THREAD_VARS, "1")
    for var in THREAD_VARS:
        monkeypatch.setenv(var, "7")
    configure_threads(3)
    import os

    assert {v: os.environ[v] for v in THREAD_VARS} == dict.fromkeys(THREAD_VARS, "3")
