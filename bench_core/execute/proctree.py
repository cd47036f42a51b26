"""The process tree of a worker: find every descendant, count their memory, kill them all (Linux ``/proc``).

A method may start processes (a ``subprocess``, a ``multiprocessing`` pool, a double fork that re-parents a
grandchild away from it). The harness's limits apply to the whole tree:

- each worker starts its own session and process group (``os.setsid``) and becomes a *child subreaper*
  (``prctl(PR_SET_CHILD_SUBREAPER)``), so that orphaned descendants are re-parented to the worker instead of
  to init: :func:`descendants` (a walk of ``/proc/<pid>/task/*/children``) finds them all, double forks
  included;
- the memory cap is checked against the resident set size of the worker plus every descendant;
- on a timeout, an oom kill or a crash, the parent kills the worker, every descendant it can see and the
  worker's process group (:func:`kill_tree`); at the end of each job, the worker kills its own descendants
  (:func:`kill_descendants`), so no child outlives its job.

What escapes: a descendant that both starts a new session and is re-parented to init after its worker died
on its own (a crash) before the parent could walk the tree. Elsewhere than Linux none of this is available
and only the worker itself is limited and killed. Cgroups would close that gap; they need privileges the
harness does not assume.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time

_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 4096 / 2**20
PR_SET_CHILD_SUBREAPER = 36


def become_tree_root() -> None:
    """In a worker: own session and process group, and child subreaper (best effort, Linux)."""
    try:
        os.setsid()
    except OSError:
        pass
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return out


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True  # gone


def descendants(pid: int, keep: frozenset[int] = frozenset()) -> list[int]:
    """Every live descendant of ``pid`` (breadth first; zombies left out); pids in ``keep`` are walked
    through but left out."""
    seen: list[int] = []
    walked: set[int] = set()
    frontier = children(pid)
    while frontier:
        nxt: list[int] = []
        for c in frontier:
            if c not in walked:
                walked.add(c)
                if c not in keep and not _zombie(c):
                    seen.append(c)
                nxt.extend(children(c))
        frontier = nxt
    return seen


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MiB, ``None`` where unavailable."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE_MB
    except (OSError, ValueError, IndexError):
        return None


def tree_rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` plus all its descendants, in MiB."""
    own = rss_mb(pid)
    if own is None:
        return None
    return own + sum(r for r in (rss_mb(c) for c in descendants(pid)) if r is not None)


def _kill(pids: list[int]) -> None:
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``, every descendant and its process group (from the parent of ``pid``)."""
    for _ in range(3):  # a descendant may fork while we kill; walk again
        found = descendants(pid)
        _kill(found)
        if not found:
            break
    _kill([pid])
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def kill_descendants(keep: frozenset[int] = frozenset()) -> int:
    """In a worker, after a job: SIGKILL every descendant of this process (but ``keep``: its method process)
    and reap them; return how many."""
    me = os.getpid()
    total = 0
    for _ in range(5):
        found = descendants(me, keep)
        if not found:
            break
        _kill(found)
        total += len(found)
    for _ in range(1000):  # reap what was re-parented to us (we are a subreaper) or is our own child; a
        # zombie child of the method process is its to reap, so the wait is bounded (about 1 s at most)
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            if not descendants(me, keep):
                break
            time.sleep(0.001)
    return total
