"""Capture of plugin output in a worker: every job's stdout and stderr, a bounded tail kept with its result.

A method that prints 100 MB per call must not flood the terminal, fill a disk or slow the run down. At start
the worker points its file descriptors 1 and 2 at one pipe (so whatever the method, a C library or a child
process writes is caught, interleaved as a terminal would show it); a reader thread drains the pipe, counts
the bytes and keeps only the last ``limit`` of them in memory. At the end of a job :meth:`Capture.collect`
returns ``{"bytes": total, "tail": last bytes as text}`` and starts the next job afresh.

``collect`` knows it has everything written before it was called by writing a unique marker to the pipe and
waiting for the reader to see it (bounded wait: a child that keeps the pipe busy cannot stall the worker).
Output written after a job (say, by a lingering thread) is counted with the next job.

With ``mirror`` (a file path chosen by the parent), the current job's count and tail are also kept in that
file as they grow, so that the output of a job whose worker is killed (timeout, memory cap, a crash, an
outside SIGKILL) is not lost: the parent reads it with :func:`read_mirror`. The file holds a fixed-width
header (the job's byte count) and then at most ``4 * limit`` bytes (the tail is rewritten at the start when
it would grow past that), so a method printing 100 MB writes no more than a few KiB to disk.

The parent may make the pipe itself (``Capture.start(fds=(r, w))``) and keep a read end of its own. Bytes still
in the pipe when the worker is killed (written by the method, not yet taken by the worker's reader thread, as
when the whole tree is killed for memory a few milliseconds after a print) are then read by the parent with
:func:`drain_pipe` and appended to the mirror's tail by :func:`read_mirror`. Only a chunk the reader thread had
taken but not yet mirrored at the instant of the kill can be lost.
"""

from __future__ import annotations

import os
import select
import sys
import threading
import uuid


_HEADER = 20  # the job's byte count, right-aligned decimal and a newline
_MARKER = b"\0featbench-capture-"  # how collect's end-of-job markers start


def drain_pipe(fd: int, keep: int = 8192, max_reads: int = 64) -> tuple[int, bytes]:
    """``(bytes read, the last keep of them)`` from the read end ``fd`` of a pipe whose writers are gone.

    Never blocks: it reads only while ``select`` says the pipe is readable (data, or end of file), so a writer
    that escaped the kill cannot hang the caller, and at most ``max_reads`` chunks of 64 KiB are taken."""
    total, tail = 0, bytearray()
    for _ in range(max_reads):
        try:
            if not select.select([fd], [], [], 0)[0]:
                break
            chunk = os.read(fd, 1 << 16)
        except (OSError, ValueError):
            break
        if not chunk:
            break
        total += len(chunk)
        tail += chunk
        del tail[: max(0, len(tail) - keep)]
    return total, bytes(tail)


def read_mirror(path: str | os.PathLike, limit: int = 8192, extra: tuple[int, bytes] = (0, b"")
                ) -> dict[str, object] | None:
    """``{"bytes": n, "tail": text}`` from a capture's mirror file (None if it cannot be read), followed by
    ``extra`` (:func:`drain_pipe`'s answer: what was still in the pipe), up to an end-of-job marker in it."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    try:
        count = int(raw[:_HEADER])
    except ValueError:
        return None
    n_extra, more = extra
    at = more.find(_MARKER)
    if at >= 0:  # the job had ended; what follows the marker is not its output
        n_extra, more = max(0, n_extra - (len(more) - at)), more[:at]
    tail = (raw[_HEADER:] + more)[-limit:]
    return {"bytes": max(count + n_extra, len(tail)), "tail": tail.decode("utf-8", errors="replace")}


class Capture:
    def __init__(self, limit: int = 8192, wait_s: float = 2.0, mirror: str | os.PathLike | None = None) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self._mfd = os.open(mirror, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600) if mirror else None
        self._moff = 0
        self._mirror_clear()
        self._lock = threading.Lock()
        self._tail = bytearray()
        self._bytes = 0
        self._marker = b""
        self._carry = b""
        self._leftover = b""
        self._seen = threading.Event()

    def start(self, fds: tuple[int, int] | None = None) -> None:
        """Redirect fds 1 and 2 of this process into the capture pipe (for the life of the process): a new
        pipe, or ``fds`` (its read and write ends, made by the parent, which keeps a read end of its own)."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        r, w = fds if fds is not None else os.pipe()
        os.dup2(w, 1)
        os.dup2(w, 2)
        os.close(w)
        self._r = r
        threading.Thread(target=self._drain, name="featbench-capture", daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._r, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                if not self._marker:
                    self._add(chunk)
                    continue
                data = self._carry + chunk
                at = data.find(self._marker)
                if at >= 0:  # everything before the marker is the job's; after it, the next job's
                    self._add(data[:at])
                    self._leftover = data[at + len(self._marker):]
                    self._marker, self._carry = b"", b""
                    self._seen.set()
                else:  # keep the last bytes: the marker may straddle two reads
                    keep = len(self._marker) - 1
                    self._add(data[:-keep] if len(data) > keep else b"")
                    self._carry = data[-keep:] if len(data) > keep else data

    def _add(self, data: bytes) -> None:
        if not data:
            return
        self._bytes += len(data)
        self._tail += data
        if len(self._tail) > self.limit:
            del self._tail[: len(self._tail) - self.limit]
        self._mirror(data)

    def _mirror(self, data: bytes) -> None:
        if self._mfd is None:
            return
        try:
            if self._moff + len(data) > 4 * self.limit:  # start again from the tail
                os.pwrite(self._mfd, bytes(self._tail), _HEADER)
                self._moff = len(self._tail)
                os.ftruncate(self._mfd, _HEADER + self._moff)
            else:
                os.pwrite(self._mfd, data, _HEADER + self._moff)
                self._moff += len(data)
            os.pwrite(self._mfd, b"%19d\n" % self._bytes, 0)
        except OSError:  # a full disk: the tail in memory still goes with a finished job's result
            pass

    def _mirror_clear(self) -> None:
        if self._mfd is None:
            return
        self._moff = 0
        try:
            os.ftruncate(self._mfd, _HEADER)
            os.pwrite(self._mfd, b"%19d\n" % 0, 0)
        except OSError:
            pass

    def collect(self) -> dict[str, object]:
        """``{"bytes": n, "tail": text}`` for everything written since the last call; then start afresh."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        marker = _MARKER + uuid.uuid4().hex.encode() + b"\0"
        with self._lock:
            self._marker, self._carry, self._leftover = marker, b"", b""
            self._seen.clear()
        try:
            os.write(1, marker)  # one write below PIPE_BUF: never interleaved with other writers
            seen = self._seen.wait(self.wait_s)
        except OSError:
            seen = False
        with self._lock:
            if not seen:
                self._add(self._carry)
                self._marker, self._carry = b"", b""
            out = {"bytes": self._bytes, "tail": bytes(self._tail).decode("utf-8", errors="replace")}
            self._tail, self._bytes = bytearray(), 0
            self._mirror_clear()
            self._add(self._leftover)
            self._leftover = b""
        return out

    def reset(self) -> None:
        """Forget what was written between jobs (by the harness or a lingering thread)."""
        self.collect()
