"""The method process: plugin code runs where only the training rows it was handed exist.

With the ``local`` executor every worker (the process that loads the dataset, runs the track's protocol and
scores) starts one *method process* of its own (``python -m bench_core.execute.host``, connected by a socket
pair). The protocol receives, as ``method``, a transparent proxy: an instance of the method's class (made without
running its ``__init__`` here) whose public methods (``rank``, ``select``, ``fit``, ... whatever the track's
contract names) are shadowed by instance attributes that forward each call to the real instance in the
method process. State the method keeps between calls lives over there: a protocol talks to a method only
through its contract's methods (reading an attribute a fit set, such as ``coef_``, finds nothing here). ``Track.run(method, dataset, split, settings, ctx)`` is
unchanged for track authors: ``type(method).name``, ``method.tags``, ``method.params`` and ``isinstance``
work as before.

What crosses to the method process is exactly the arguments of each call (fresh copies of the training rows
and labels the protocol hands over) and a copy of the :class:`~bench_core.tracks.base.Context` without its
callbacks: ``progress`` reports are relayed back, ``step`` does nothing there (step boundaries stay in the
protocol's hands). The method process never loads a dataset, never sees test rows, test labels, the
evaluation cache or another job's data, and has no connection to the driver: it cannot forge a result
message. A new method instance is made for each job; the process itself is kept between jobs (torch and the
plugins imported once) and is replaced when it dies.

Failures: an exception in plugin code (``SystemExit`` and ``KeyboardInterrupt`` included) is re-raised in the
worker as :class:`MethodFailed` carrying the original type name, message and traceback (a ``MemoryError``
as ``MemoryError``); the method process dying (segfault, abort) raises :class:`MethodCrashed`, recorded as
``crashed`` with its signal. Its memory counts against the job's cap (it is a child of the worker) and it is
killed with the worker's tree on a timeout.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

from bench_core.tracks.base import Context


class MethodFailed(Exception):
    """Plugin code raised in the method process (``type_name``: the original exception's type)."""

    def __init__(self, type_name: str, message: str, traceback: str) -> None:
        super().__init__(message)
        self.type_name, self.message, self.traceback_text = type_name, message, traceback


class MethodCrashed(Exception):
    """The method process died during a call."""


_CTX_FIELDS = ("seed", "device", "time_budget_s", "profile", "threads", "ground_truth", "started")


def _ctx_state(ctx: Context) -> dict[str, Any]:
    return {f: getattr(ctx, f) for f in _CTX_FIELDS}


class _CtxStub:
    """A :class:`Context` as it travels to the method process (its callbacks left behind)."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state


class MethodHost:
    """The worker's handle on its method process (started on first use, replaced when it died)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen([sys.executable, "-B", "-m", "bench_core.execute.host", str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn = Connection(ours.detach())
        try:
            ready = self.conn.recv()  # after torch, the registry and the plugins are imported
        except (EOFError, OSError):
            raise self._died() from None
        assert ready == ("ready",), ready

    def ensure(self) -> None:
        """Start the method process if it is not running (outside any job's time and memory)."""
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self._start()

    def _died(self) -> MethodCrashed:
        code = self.proc.wait(timeout=5) if self.proc is not None else None
        self.close()
        if code is not None and code < 0:
            try:
                how = signal.Signals(-code).name
            except ValueError:
                how = f"signal {-code}"
        else:
            how = f"exit status {code}"
        return MethodCrashed(f"the method process died with {how}")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc, self.conn = None, None

    def request(self, msg: tuple, ctx: Context | None = None) -> Any:
        self.ensure()
        assert self.conn is not None
        try:
            self.conn.send(msg)
            while True:
                reply = self.conn.recv()
                if reply[0] == "progress":
                    if ctx is not None:
                        ctx.progress(reply[1], reply[2])
                    continue
                break
        except (EOFError, OSError, BrokenPipeError):
            raise self._died() from None
        if reply[0] == "ok":
            return reply[1]
        _, type_name, message, tb = reply
        if type_name == "MemoryError":
            raise MemoryError(message)
        if type_name == "InvalidOutput":
            from bench_core.errors import InvalidOutput

            raise InvalidOutput(message)
        raise MethodFailed(type_name, message, tb)

    def proxy(self, track: str, cls: type, params: dict[str, Any]) -> Any:
        """A new method instance in the method process, and its proxy here."""
        self.request(("new", track, cls.name, dict(params)))
        # an instance of the method's own class, made without running its __init__ here: its public methods
        # are shadowed by instance attributes that forward the call, so class-level introspection (say,
        # ``cls.rank is Selector.rank``) still sees the plugin's class as written
        obj = object.__new__(cls)
        obj.params = {**cls.params, **params}
        for name, _fn in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_"):
                obj.__dict__[name] = _forwarder(self, name)
        return obj


def _forwarder(host: "MethodHost", attr: str):
    def call(*args: Any, **kwargs: Any) -> Any:
        ctx = next((a for a in (*args, *kwargs.values()) if isinstance(a, Context)), None)
        args = tuple(_CtxStub(_ctx_state(a)) if isinstance(a, Context) else a for a in args)
        kwargs = {k: _CtxStub(_ctx_state(v)) if isinstance(v, Context) else v for k, v in kwargs.items()}
        return host.request(("call", attr, args, kwargs), ctx)

    call.__name__ = attr
    return call


# --------------------------------------------------------------------------------------- the method process


def _reap_children() -> None:
    """Reap children of the method process that have exited (the worker kills the rest after the job)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _host_main(fd: int) -> None:
    from bench_core.execute.job import _type_name, safe_message
    from bench_core.registry import format_exception, load_registry

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    import torch

    from bench_core.execute.job import _preimport

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1") or 1)))
    _preimport()
    registry = load_registry(strict=False)
    conn.send(("ready",))
    warm: set[type] = set()
    instance = None

    def progress(fraction: float, message: str = "") -> None:
        conn.send(("progress", float(fraction), str(message)[:200]))

    def real_ctx(a: Any) -> Any:
        if isinstance(a, _CtxStub):
            return Context(**a.state, progress=progress, step=lambda m: None)
        return a

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if msg[0] == "new":
                _, track, name, params = msg
                cls = registry.method(track, name)
                if cls not in warm:
                    cls.warm_up()
                    warm.add(cls)
                instance = None
                instance = cls(**params)
                result = None
            elif msg[0] == "call":
                _, attr, args, kwargs = msg
                args = tuple(real_ctx(a) for a in args)
                kwargs = {k: real_ctx(v) for k, v in kwargs.items()}
                result = getattr(instance, attr)(*args, **kwargs)
            else:
                continue
            reply: tuple = ("ok", result)
        except BaseException as exc:  # noqa: BLE001 - every failure of plugin code goes back as an outcome
            reply = ("err", _type_name(exc), safe_message(exc), format_exception(exc))
        _reap_children()
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result
            conn.send(("err", "InvalidOutput", f"the method returned something that cannot be sent back: "
                       f"{safe_message(exc)}", ""))


if __name__ == "__main__":
    # run the module's own copy, not __main__'s: the classes that travel by pickle (_CtxStub) must be the same
    from bench_core.execute.host import _host_main as main

    main(int(sys.argv[1]))
