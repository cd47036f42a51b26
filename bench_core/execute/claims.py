"""Claims: one lock file per job key, so that concurrent drivers (or Slurm array tasks) share the work.

Before a job is dispatched, its driver *claims* it by creating ``.<key>.lock`` next to where its result will
be written, with ``O_CREAT | O_EXCL`` (atomic on POSIX filesystems, NFS v3+ included). The file holds the
claimant's pid, host name and start time as JSON. The job then runs only if no ``done`` result appeared in
the meantime (another driver may have finished it since this one planned). The claim is released (the file
removed) once the job's result is written, whatever its status.

A driver that finds a job claimed leaves it to the claimant: the job is neither run nor recorded by it.

Stale claims: a claim whose host is this host and whose pid is no longer alive (a driver that was SIGKILLed)
is taken over. A claim from another host cannot be checked that way; it is taken over only when it is older
than ``FEATBENCH_CLAIM_STALE_S`` seconds (default 24 h), so a Slurm task that died on another node delays
its jobs by at most that much (or remove its ``.lock`` files by hand).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path


class ClaimedElsewhere(str):
    """A ``should_run`` reason meaning: another driver has (or finished) this job; record nothing."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Claims:
    def __init__(self, store) -> None:
        self.store = store
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.held: dict[str, Path] = {}
        self.stale_s = float(os.environ.get("FEATBENCH_CLAIM_STALE_S", 24 * 3600))
        self.taken_over = 0

    def path(self, spec) -> Path:
        result = self.store.path_for(spec.track, spec.dataset, spec.method, spec.key)
        return result.with_name(f".{spec.key}.lock")

    def _stale(self, path: Path) -> bool:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            pid, host, since = int(info["pid"]), str(info["host"]), float(info["time"])
        except (OSError, ValueError, KeyError, TypeError):
            # unreadable: a claimant killed between create and write; stale once it is a few seconds old
            try:
                return time.time() - path.stat().st_mtime > 10
            except OSError:
                return True
        if host == self.host:
            return not _alive(pid)
        return time.time() - since > self.stale_s

    def claim(self, spec) -> bool:
        """Try to claim ``spec``'s job; ``True`` if this driver now holds it."""
        path = self.path(spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"pid": self.pid, "host": self.host, "time": time.time(), "key": spec.key}).encode()
        for _attempt in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._stale(path):
                    return False
                try:  # take over a dead claimant's lock (only one of several drivers wins the O_EXCL after)
                    path.unlink()
                    self.taken_over += 1
                except FileNotFoundError:
                    pass
                continue
            try:
                os.write(fd, body)
            finally:
                os.close(fd)
            self.held[spec.key] = path
            return True
        return False

    def release(self, spec) -> None:
        path = self.held.pop(spec.key, None)
        if path is not None:
            try:
                path.unlink()
            except OSError:
                pass

    def release_all(self) -> None:
        for key, path in list(self.held.items()):
            try:
                path.unlink()
            except OSError:
                pass
        self.held.clear()
