"""The method process: plugin code runs where only the training rows it was handed exist.

With the ``local`` executor every worker (the process that loads the dataset, runs the track's protocol and
scores) starts one *method process* of its own (``python -m bench_core.execute.host``, connected by a socket
pair). The protocol receives, as ``method``, a transparent proxy: an instance of a subclass of the method's
class, made by the method process, whose public methods and properties that the class defines differently
from its track's contract base (``rank``, ``select``, ``fit``, ``encode``, ``dictionary``, ...) are forwarded to
the real instance over there, and whose instance attributes are read from and written to it (class attributes
are read here). State the method keeps between calls lives in the method process. A protocol that makes a
variant with ``type(method)(**params)`` gets another remote instance. ``Track.run(method, dataset, split,
settings, ctx)`` is unchanged for track authors: ``type(method).name``, ``method.tags``, ``method.params``,
``isinstance`` and the contract's introspection (``implements_rank``) work as before.

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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from multiprocessing.connection import Connection
from typing import Any

from bench_core.execute import sandbox
from bench_core.tracks.base import Context


def _send(conn: Connection, obj: Any) -> None:
    """Send with the standard pickle: torch's multiprocessing reductions (which ``Connection.send`` would use)
    pass tensor storages as file descriptors through a resource sharer that needs a shared authkey; plain
    pickling copies the bytes, which is what crossing into the method process means anyway."""
    import pickle

    conn.send_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _recv(conn: Connection) -> Any:
    import pickle

    return pickle.loads(conn.recv_bytes())


class MethodFailed(Exception):
    """Plugin code raised in the method process (``type_name``: the original exception's type)."""

    def __init__(self, type_name: str, message: str, traceback: str) -> None:
        super().__init__(message)
        self.type_name, self.message, self.traceback_text = type_name, message, traceback


class MethodCrashed(Exception):
    """The method process died during a call."""


#: Every field of the Context except its callbacks (which stay with the protocol): the seed, device and budget,
#: and what a track hands a control (``ground_truth``, ``latent``, ``planted_dictionary``, ...).
_CTX_FIELDS = tuple(f.name for f in dataclasses.fields(Context) if f.name not in ("progress", "step"))


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
        self._proxies: dict[type, type] = {}
        #: ids of remote instances whose proxies were garbage-collected (freed with the next "new")
        self.dropped: list[int] = []
        #: the private directory of a sandboxed method process (:mod:`bench_core.execute.sandbox`)
        self.tmp: str | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        cwd = None
        if env.get(sandbox.ENV):  # --sandbox: a private directory for its temporary files, caches and cwd
            self.tmp = tempfile.mkdtemp(prefix="featbench-method-", dir=env.get("FEATBENCH_SANDBOX_SCRATCH"))
            cwd = sandbox.child_env(env, self.tmp)
        self.proc = subprocess.Popen([sys.executable, "-B", "-m", "bench_core.execute.host", str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL, cwd=cwd)
        theirs.close()
        self.conn = Connection(ours.detach())
        try:
            ready = _recv(self.conn)  # after torch, the registry and the plugins are imported
        except (EOFError, OSError):
            raise self._died() from None
        assert ready == ("ready",), ready

    def ensure(self) -> None:
        """Start the method process if it is not running (outside any job's time and memory)."""
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self._start()

    def _died(self) -> MethodCrashed:
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # its end of the socket closed but it lingers: end it
                self.proc.kill()
                code = self.proc.wait(timeout=5)
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
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        self.dropped = []  # a new method process starts with no instances

    def request(self, msg: tuple, ctx: Context | None = None) -> Any:
        self.ensure()
        assert self.conn is not None
        try:
            _send(self.conn, msg)
            while True:
                reply = _recv(self.conn)
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
        """A new method instance in the method process, and its proxy here.

        The proxy's type subclasses the method's class. Every public method and property that the class
        defines differently from its track's contract base (``Selector``, ``SAE``, ...) is forwarded, so the
        contract's own defaults (``Selector.select`` calling ``rank``, ``implements_rank``) behave as for the
        class itself; instance attributes are read from and written to the remote instance; class attributes
        (``name``, ``tags``, ``params`` defaults) are read here. Calling the proxy's type (as a protocol does
        to make a variant, ``type(method)(**params)``) makes another remote instance."""
        ptype = self._proxies.get(cls)
        if ptype is None:
            ptype = _proxy_type(cls, track, self)
            self._proxies[cls] = ptype
        return ptype(**params)


_OWN = ("params", "_featbench_id")


def _contract_base(cls: type) -> type:
    from bench_core.tracks.base import Method

    for base in cls.__mro__[1:]:
        if base.__module__.startswith("bench_core.tracks.") and issubclass(base, Method) and base is not Method:
            return base
    return Method


def _proxy_type(cls: type, track: str, host: "MethodHost") -> type:
    base = _contract_base(cls)
    ns: dict[str, Any] = {"__doc__": cls.__doc__, "__module__": cls.__module__, "_featbench_host": host,
                          "_featbench_track": track}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name)
        if attr is inspect.getattr_static(base, name, None):
            continue  # the contract's own default: it runs here and calls the forwarded methods
        if isinstance(attr, property):
            ns[name] = property(_remote_getter(name))
        elif inspect.isfunction(attr):
            ns[name] = _forwarder(name)

    def __init__(self, **params: Any) -> None:
        object.__setattr__(self, "params", {**cls.params, **params})
        dropped, host.dropped = host.dropped, []
        object.__setattr__(self, "_featbench_id", host.request(("new", track, cls.name, dict(params), dropped)))

    def __getattr__(self, name: str) -> Any:  # only reached when the proxy itself has no such attribute
        if name.startswith("__") or name in _OWN:
            raise AttributeError(name)
        return host.request(("getattr", self._featbench_id, name))

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            host.request(("setattr", self._featbench_id, name, value))

    def __del__(self) -> None:  # never a request from here (it may run inside another one): the next "new" frees it
        ident = self.__dict__.get("_featbench_id")
        if ident is not None:
            host.dropped.append(ident)

    ns.update(__init__=__init__, __getattr__=__getattr__, __setattr__=__setattr__, __del__=__del__)
    return type(cls.__name__, (cls,), ns)


def _remote_getter(attr: str):
    def get(self) -> Any:
        return self._featbench_host.request(("getattr", self._featbench_id, attr))

    get.__name__ = attr
    return get


def _forwarder(attr: str):
    def call(self, *args: Any, **kwargs: Any) -> Any:
        ctx = next((a for a in (*args, *kwargs.values()) if isinstance(a, Context)), None)
        args = tuple(_CtxStub(_ctx_state(a)) if isinstance(a, Context) else a for a in args)
        kwargs = {k: _CtxStub(_ctx_state(v)) if isinstance(v, Context) else v for k, v in kwargs.items()}
        return self._featbench_host.request(("call", self._featbench_id, attr, args, kwargs), ctx)

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
    sandbox.enter_from_env()  # before any plugin code (imports included) runs here
    from bench_core.execute.job import _type_name, safe_message
    from bench_core.registry import format_exception, load_registry

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    import torch

    from bench_core.execute.job import _preimport

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1") or 1)))
    _preimport()
    registry = load_registry(strict=False)
    _send(conn, ("ready",))
    warm: set[type] = set()
    instances: dict[int, Any] = {}
    next_id = 0

    def progress(fraction: float, message: str = "") -> None:
        _send(conn, ("progress", float(fraction), str(message)[:200]))

    def real_ctx(a: Any) -> Any:
        if isinstance(a, _CtxStub):
            return Context(**a.state, progress=progress, step=lambda m: None)
        return a

    while True:
        try:
            msg = _recv(conn)
        except (EOFError, OSError):
            return
        try:
            if msg[0] == "new":
                _, track, name, params, dropped = msg
                for ident in dropped:  # instances whose proxies are gone
                    instances.pop(ident, None)
                cls = registry.method(track, name)
                if cls not in warm:
                    cls.warm_up()
                    warm.add(cls)
                next_id += 1
                instances[next_id] = cls(**params)
                result = next_id
            elif msg[0] == "call":
                _, ident, attr, args, kwargs = msg
                args = tuple(real_ctx(a) for a in args)
                kwargs = {k: real_ctx(v) for k, v in kwargs.items()}
                result = getattr(instances[ident], attr)(*args, **kwargs)
            elif msg[0] == "getattr":
                result = getattr(instances[msg[1]], msg[2])
            elif msg[0] == "setattr":
                setattr(instances[msg[1]], msg[2], msg[3])
                result = None
            else:
                continue
            reply: tuple = ("ok", result)
        except BaseException as exc:  # noqa: BLE001 - every failure of plugin code goes back as an outcome
            reply = ("err", _type_name(exc), safe_message(exc), format_exception(exc))
        _reap_children()
        try:
            _send(conn, reply)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result
            _send(conn, ("err", "InvalidOutput", f"the method returned something that cannot be sent back: "
                         f"{safe_message(exc)}", ""))


if __name__ == "__main__":
    # run the module's own copy, not __main__'s: the classes that travel by pickle (_CtxStub) must be the same
    from bench_core.execute.host import _host_main as main

    main(int(sys.argv[1]))
