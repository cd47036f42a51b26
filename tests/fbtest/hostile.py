"""Selectors written by a hostile or careless plugin author (fault injection for ``tests/test_faults.py``).

Loaded with FEATBENCH_PLUGIN_MODULES=fbtest.hostile. Methods that leave traces write them to the directory
named by FEATBENCH_SPY_DIR.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench_core import hookimpl
from bench_core.tracks.selectors import Selector


def _spy_dir() -> Path:
    out = Path(os.environ["FEATBENCH_SPY_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    return out


class ExitsZero(Selector):
    """Calls sys.exit(0) in its fit."""

    name, version = "hostile-exit0", "1"

    def rank(self, X, y, ctx):
        sys.exit(0)


class ExitsFour(Selector):
    """Raises SystemExit(4) in its fit."""

    name, version = "hostile-exit4", "1"

    def rank(self, X, y, ctx):
        raise SystemExit(4)


class KeyboardInterrupts(Selector):
    """Raises KeyboardInterrupt in its fit."""

    name, version = "hostile-kbint", "1"

    def rank(self, X, y, ctx):
        raise KeyboardInterrupt


class BaseExceptionRaiser(Selector):
    """Raises a bare BaseException in its fit."""

    name, version = "hostile-base", "1"

    def rank(self, X, y, ctx):
        raise BaseException("a bare BaseException")


class _Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("my __str__ raises too")

    def __repr__(self):
        raise RuntimeError("my __repr__ raises too")


class BadStr(Selector):
    """Raises an exception whose __str__ and __repr__ raise."""

    name, version = "hostile-badstr", "1"

    def rank(self, X, y, ctx):
        raise _Unprintable()


class StepResetter(Selector):
    """Resets the per-step deadline from a thread (ctx.step every 0.3 s) while it fits for a long time."""

    name, version = "hostile-step", "1"
    params = {"seconds": 20.0}

    def rank(self, X, y, ctx):
        stop = threading.Event()

        def pump():
            while not stop.is_set():
                try:
                    ctx.step("fit (forged by the method)")
                except Exception:  # noqa: BLE001 - a refused step must not stop the pump
                    pass
                time.sleep(0.3)

        threading.Thread(target=pump, daemon=True).start()
        try:
            ctx.step("forged from the main thread")
        except Exception:  # noqa: BLE001
            pass
        time.sleep(self.params["seconds"])
        stop.set()
        return X.var(axis=0)


class Chatty(Selector):
    """Prints ``mb`` MiB to stdout and to stderr on each fit, then answers correctly."""

    name, version = "hostile-print", "1"
    params = {"mb": 20}

    def rank(self, X, y, ctx):
        line = "x" * 1023 + "\n"
        for _ in range(int(self.params["mb"]) * 1024):
            sys.stdout.write(line)
        sys.stdout.flush()
        os.write(2, (b"E" * 1023 + b"\n") * (int(self.params["mb"]) * 1024))
        print("LAST-LINE-OF-CHATTY", flush=True)
        return X.var(axis=0)


_HOG = "import time; b = bytearray({n}); [b.__setitem__(slice(i, i + 1), b'x') for i in range(0, {n}, 4096)]; time.sleep(60)"


class ChildMemoryHog(Selector):
    """Starts a child process that allocates (and touches) ``mb`` MiB, and waits for it."""

    name, version = "hostile-child-memory", "1"
    params = {"mb": 700}

    def rank(self, X, y, ctx):
        n = int(self.params["mb"]) * 2**20
        child = subprocess.Popen([sys.executable, "-c", _HOG.format(n=n)])
        (_spy_dir() / f"child-memory-{child.pid}").write_text(str(child.pid))
        print("child-memory: child started", flush=True)  # kept with the result although the worker is killed
        child.wait()
        return X.var(axis=0)


class MutesWorker(Selector):
    """Stops (SIGSTOP) the worker that reads its output, then prints and sleeps: the line can only be read
    from the pipe by the parent after the worker is killed for the time limit."""

    name, version = "hostile-mute-worker", "1"

    def rank(self, X, y, ctx):
        worker = os.getpgrp()  # the worker leads the process group of its method process
        if worker == os.getpid():
            raise RuntimeError("needs a method process (FEATBENCH_METHOD_PROCESS=1)")
        os.kill(worker, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(  # every thread stopped: none can be mid-read
                t.read_text().rsplit(")", 1)[1].split()[0] in "tT" for t in Path(f"/proc/{worker}/task").glob("*/stat")):
            time.sleep(0.01)
        print("mute: written while the worker was stopped", flush=True)
        time.sleep(60)
        return X.var(axis=0)


class Orphaner(Selector):
    """Starts a long-lived child (and a double-forked grandchild), records their pids, then either returns
    at once or sleeps past its time limit (``sleep``)."""

    name, version = "hostile-orphan", "1"

    def rank(self, X, y, ctx):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        # a double fork: the grandchild is re-parented away from the worker
        code = ("import os, subprocess, sys, time\n"
                "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],\n"
                "                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,\n"
                "                     start_new_session=True)\n"
                "print(p.pid, flush=True)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
        for pid in (child.pid, int(out.split()[0])):
            (_spy_dir() / f"orphan-{pid}").write_text(str(pid))
        print("orphan: children started", flush=True)  # kept with the result although the worker is killed
        time.sleep(float(os.environ.get("FEATBENCH_ORPHAN_SLEEP", "0")))
        return X.var(axis=0)


class Snoop(Selector):
    """Looks for the dataset, its splits and the test rows (gc, caller frames), records what it found, then
    zeroes the labels and rows of every dataset it can reach."""

    name, version = "hostile-snoop", "1"

    def rank(self, X, y, ctx):
        import gc
        import json

        from bench_core.data.dataset import Dataset, Split

        found = {"datasets": 0, "splits": 0, "frames": 0, "workers": 0}
        for o in gc.get_objects():
            if isinstance(o, Dataset):
                found["datasets"] += 1
                o.y[:] = 0
                o.X[:] = 0.0
            elif isinstance(o, Split):
                found["splits"] += 1
            elif type(o).__name__ == "Worker":
                found["workers"] += 1
        f = sys._getframe(1)
        while f is not None:
            if any(isinstance(v, (Dataset, Split)) for v in list(f.f_locals.values())):
                found["frames"] += 1
            f = f.f_back
        (_spy_dir() / f"snoop-{time.time_ns()}.json").write_text(json.dumps(found))
        return X.var(axis=0)


class _FileSnoop(Selector):
    """Opens the path named by the environment variable ``target`` (reads a file, or lists a directory), then
    answers correctly: under ``--sandbox landlock`` the open raises PermissionError."""

    target = ""

    def rank(self, X, y, ctx):
        path = Path(os.environ[self.target])
        if path.is_dir():  # stat is not restricted by Landlock; listing is
            os.listdir(path)
        else:
            assert path.read_bytes(), f"{path} was reached but is empty"
        return X.var(axis=0)


class ReadsData(_FileSnoop):
    name, version, target = "hostile-read-data", "1", "FEATBENCH_SNOOP_DATA"


class ReadsCache(_FileSnoop):
    name, version, target = "hostile-read-cache", "1", "FEATBENCH_SNOOP_CACHE"


class ListsResults(_FileSnoop):
    name, version, target = "hostile-list-results", "1", "FEATBENCH_SNOOP_RESULTS"


ALL = [ReadsData, ReadsCache, ListsResults, Snoop, ExitsZero, ExitsFour, KeyboardInterrupts, BaseExceptionRaiser, BadStr, StepResetter, Chatty,
       ChildMemoryHog, MutesWorker, Orphaner]


@hookimpl
def featbench_register_selectors(register):
    for cls in ALL:
        register.add(cls)
