"""The ``local`` executor: persistent spawned worker processes with hard limits.

- ``workers`` processes are started with the ``spawn`` method (safe with CUDA and threads); each imports
  torch, the registry and the plugins once, then runs jobs one at a time, keeping recent datasets in memory.
- Each worker's BLAS/OpenMP/torch threads are pinned (``threads``) before torch is imported.
- **Devices** (:mod:`bench_core.execute.devices`): a worker is a CPU worker, spawned with
  ``CUDA_VISIBLE_DEVICES=""`` (it and its method process cannot create a CUDA context), or, only when some job
  was given CUDA, one of a bounded number of GPU workers, each spawned seeing exactly one GPU. A job given
  CUDA runs on a GPU worker; a GPU worker with no such job left takes CPU jobs.
- **Timeout**: the limit applies to each step of a job (the protocol marks steps: a fit, an evaluation, a
  stability refit), so a job that fits 21 times gets 21 limits but no single fit may overrun; loading the
  dataset and the method's ``warm_up`` (once per worker) come before the first step, under a limit of their
  own, so a one-off JIT compile is not charged to the first fit's limit; a step that
  does not end in time gets its worker killed (SIGKILL) and replaced: status ``timeout``. A job with a
  total limit (``job_timeout_s``, from the profile) is killed the same way when all its steps together
  overrun it.
- **Memory cap**: the parent polls the resident set size of the worker and of every process it started
  (:mod:`bench_core.execute.proctree`) every ``poll_s`` seconds; a job whose tree grows more than its cap
  above the size the worker had when the job started gets the whole tree killed and the worker replaced:
  status ``oom`` (Linux, through ``/proc``; elsewhere the cap is not enforced). A ``MemoryError`` inside
  the job is also ``oom``.
- **Process tree**: each worker is its own process group and a child subreaper; every kill (timeout, oom,
  shutdown) takes its descendants and process group with it, and after each job the worker kills the
  children its method left behind.
- **Output**: the worker's stdout and stderr (and its children's) are captured per job; the result keeps
  the byte count and the last 8 KiB (:mod:`bench_core.execute.capture`); nothing reaches the terminal. The
  tail is mirrored in a file per worker, and the parent keeps a read end of the worker's output pipe, so a
  job whose worker is killed (timeout, oom, crash) keeps its output too, what was still in the pipe included.
- **Crash**: a worker that dies (segfault, ``os.abort()``, killed from outside) yields ``crashed`` with the
  signal, and is replaced.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import tempfile
import time
from multiprocessing.connection import Connection, wait
from collections import deque
from typing import Any, Iterator, Sequence

from bench_core.execute.base import Executor, OnResult, OnStart, ShouldRun
from bench_core.execute.capture import drain_pipe, read_mirror
from bench_core.execute.job import failure
from bench_core.execute.jobs import JobSpec


from bench_core.execute.proctree import become_tree_root, kill_descendants, kill_tree, rss_mb, tree_rss_mb


def visible_gpus() -> list[str]:
    """GPU ids this process may hand out, without importing torch."""
    from bench_core.execute.devices import probe_cuda

    return probe_cuda().ids


@contextlib.contextmanager
def _spawn_environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` in this process's environment while a worker is spawned, so that the worker has it from its first
    instruction (before anything it unpickles imports torch); restored afterwards."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _worker_main(conn: Connection, threads: int, env: dict[str, str], log_path: str,
                 out: tuple[Connection, Connection]) -> None:
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    become_tree_root()  # own process group, subreaper: the method's children are found and killed
    from bench_core.execute.job import Worker
    from bench_core.execute.jobs import JobSpec

    from bench_core.execute.capture import Capture

    # the output pipe the parent made (it keeps a read end of its own), as plain descriptors
    fds = (os.dup(out[0].fileno()), os.dup(out[1].fileno()))
    for end in out:
        end.close()
    capture = Capture(mirror=log_path)  # fds 1 and 2 of this worker (and its children) go to a bounded per-job
    # tail, mirrored in a file the parent reads if this worker is killed
    capture.start(fds)
    worker = Worker(threads=threads, isolate=os.environ.get("FEATBENCH_METHOD_PROCESS", "1") != "0")
    conn.send(("ready", worker.env))
    last = [0.0]

    def progress(fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5 or fraction >= 1.0:
            last[0] = now
            conn.send(("progress", float(fraction), str(message)[:200]))

    def step(message: str) -> None:
        conn.send(("step", str(message)[:200]))

    while True:
        msg = conn.recv()
        if msg is None:
            return
        spec = JobSpec.from_dict(msg)
        capture.reset()
        outcome = worker.run(spec, progress, step)
        host = worker.host
        kill_descendants(frozenset([host.pid]) if host is not None and host.pid else frozenset())  # no child
        # outlives its job (the method process stays)
        outcome["log"] = capture.collect()
        ready = host is None or host.pid is not None  # (what is written until the next job is dropped by its reset)
        conn.send(("result", outcome, ready))  # ready: the parent may send the next job before storing this one
        if not ready:  # its method process is restarted before this worker says it is ready again, so that its
            try:  # start-up is charged to no job's time or memory
                host.ensure()
            except Exception:  # noqa: BLE001 - the next job's request retries and records the failure
                pass
            conn.send(("ready", worker.env))


def _signal_name(exitcode: int | None) -> str:
    if exitcode is None:
        return "unknown exit"
    if exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit status {exitcode}"


class _Slot:
    """One worker process and the job it is running."""

    def __init__(self, ctx, threads: int, env: dict[str, str]) -> None:
        self.threads, self.env = threads, env
        parent, child = ctx.Pipe(duplex=True)
        self.conn: Connection = parent
        fd, self.log_path = tempfile.mkstemp(prefix="featbench-log-")  # the running job's output tail
        os.close(fd)
        # a sandboxed method process's private directory lives in here, removed with the worker even when the
        # worker is killed before it could remove it
        self.scratch = tempfile.mkdtemp(prefix="featbench-worker-") if env.get("FEATBENCH_SANDBOX") else None
        if self.scratch:
            env = dict(env, FEATBENCH_SANDBOX_SCRATCH=self.scratch)
        # the worker's output pipe: the worker reads it; the parent keeps a read end (out_r) to take what is
        # still in it when the worker is killed (Connection objects carry the descriptors across spawn)
        self.out_r, w = os.pipe()
        ends = (Connection(os.dup(self.out_r)), Connection(w))
        self.process = ctx.Process(target=_worker_main, args=(child, threads, env, self.log_path, ends), daemon=True)
        with _spawn_environment(env):
            self.process.start()
        for end in ends:
            end.close()
        #: the GPU this worker sees (a ``CUDA_VISIBLE_DEVICES`` id), or "" for a CPU worker
        self.gpu = env.get("CUDA_VISIBLE_DEVICES", "")
        child.close()
        self.ready = False
        self.ever_ready = False  # a worker that dies before its first "ready" failed to start
        self.spec: JobSpec | None = None
        self.deadline = float("inf")
        self.job_deadline = float("inf")
        self.started = 0.0
        self.rss0: float | None = None
        self.cap_mb: float | None = None
        self.progress: tuple[float, str] | None = None
        self.last_step: str | None = None
        self.peak_seen: float | None = None

    def start(self, spec: JobSpec, cap_mb: float | None) -> None:
        self.spec = spec
        self.started = time.monotonic()
        self.deadline = self.started + spec.timeout_s if spec.timeout_s else float("inf")
        self.job_deadline = self.started + spec.job_timeout_s if spec.job_timeout_s else float("inf")
        self.rss0 = tree_rss_mb(self.process.pid)  # the worker with its method process
        self.cap_mb = cap_mb
        self.progress = None
        self.last_step = None
        self.peak_seen = self.rss0
        d = spec.to_dict()
        if self.gpu and spec.device.startswith("cuda"):
            d["device"] = "cuda"  # this worker sees exactly one GPU, whichever cuda:N the job names
        self.conn.send(d)

    def finish(self) -> JobSpec:
        spec, self.spec = self.spec, None
        assert spec is not None
        return spec

    def kill(self) -> None:
        """Kill the worker with its whole process tree (children, grandchildren, its process group)."""
        if self.process.pid is not None:
            kill_tree(self.process.pid)
        self.process.join(timeout=10)
        self.conn.close()
        if self.out_r is not None:
            os.close(self.out_r)
            self.out_r = None
        try:
            os.unlink(self.log_path)
        except OSError:
            pass
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def kill_with_log(self) -> dict[str, Any]:
        """Kill the worker (as :meth:`kill`) and return what the running job had written (``log``)."""
        if self.process.pid is not None:
            kill_tree(self.process.pid)
        self.process.join(timeout=10)  # its reader thread is gone: what is left in the pipe is ours to read
        extra = drain_pipe(self.out_r) if self.out_r is not None and not self.process.is_alive() else (0, b"")
        log = read_mirror(self.log_path, extra=extra)
        self.kill()
        return {"log": log} if log is not None else {}


class LocalExecutor(Executor):
    description = "persistent spawned worker processes; hard timeout and memory cap by killing the worker"
    method_process = True  # unless FEATBENCH_METHOD_PROCESS=0 (read by each worker)
    poll_s = 0.02

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ctx = mp.get_context("spawn")
        self.startup_failures = 0

    def _env_for(self, visible: str) -> dict[str, str]:
        from bench_core.execute.job import THREAD_VARS

        env = {v: str(self.threads) for v in THREAD_VARS}
        env["CUDA_VISIBLE_DEVICES"] = visible  # "" for a CPU worker: no CUDA context can be created there
        if self.sandbox:
            env["FEATBENCH_SANDBOX"] = self.sandbox  # applied by each worker's method process
        return env

    def layout(self, specs: Sequence[JobSpec]) -> list[str]:
        """``CUDA_VISIBLE_DEVICES`` of each worker to start for ``specs`` (:func:`~bench_core.execute.devices.plan_workers`)."""
        from bench_core.execute.devices import plan_workers

        n_gpu = sum(1 for s in specs if s.device.startswith("cuda"))
        gpus = self.gpu_ids if self.gpu_ids is not None else (visible_gpus() if n_gpu else [])
        return plan_workers(self.workers, n_gpu, len(specs) - n_gpu, gpus, self.gpu_workers,
                            explicit_cuda=self.device.startswith("cuda"))

    def _cap(self, spec: JobSpec) -> float | None:
        caps = [c for c in (spec.memory_mb, self.memory_cap_mb) if c]
        return min(caps) if caps else None

    def run(self, specs: Sequence[JobSpec], on_result: OnResult, on_start: OnStart | None = None,
            should_run: ShouldRun | None = None) -> None:
        if not specs:
            return
        envs = [self._env_for(visible) for visible in self.layout(specs)]
        # jobs given CUDA wait for a GPU worker (if there is none, the job fails plainly in a CPU worker)
        has_gpu = any(e["CUDA_VISIBLE_DEVICES"] for e in envs)
        gpu_pending = deque(s for s in specs if has_gpu and s.device.startswith("cuda"))
        cpu_pending = deque(s for s in specs if not (has_gpu and s.device.startswith("cuda")))

        def pending() -> bool:
            return bool(gpu_pending or cpu_pending)

        def next_for(slot: _Slot) -> JobSpec | None:
            if slot.gpu and gpu_pending:
                return gpu_pending.popleft()
            return cpu_pending.popleft() if cpu_pending else None

        #: a slot whose worker was killed or died is replaced only while jobs are pending (None after that:
        #: a replacement started at the end of a run would only be stopped again)
        slots: list[_Slot | None] = [_Slot(self._ctx, self.threads, env) for env in envs]

        def live() -> list[_Slot]:
            return [s for s in slots if s is not None]

        def dispatch() -> None:
            for s in live():
                while s.ready and s.spec is None:
                    spec = next_for(s)
                    if spec is None:
                        break
                    reason = should_run(spec) if should_run else None
                    if reason:
                        on_result(spec, failure("skipped", reason))
                        continue
                    if on_start:
                        on_start(spec)
                    s.start(spec, self._cap(spec))

        try:
            while pending() or any(s.spec is not None for s in live()):
                dispatch()
                waitables: list[Any] = [s.conn for s in live()] + [s.process.sentinel for s in live()]
                wait(waitables, timeout=self.poll_s)
                finished: list[tuple[JobSpec, dict[str, Any]]] = []
                for i, s in enumerate(slots):
                    if s is not None and self._service(s, on_result, finished):  # its worker is gone
                        slots[i] = _Slot(self._ctx, self.threads, envs[i]) if pending() else None
                # the next jobs start before the finished ones are stored: a result file's write (fsync'ed)
                # then overlaps the next job instead of adding to it
                dispatch()
                for spec, outcome in finished:
                    on_result(spec, outcome)
        finally:
            for s in live():
                try:
                    if s.process.is_alive():
                        s.conn.send(None)
                except (OSError, BrokenPipeError):
                    pass
            deadline = time.monotonic() + 5
            for s in live():
                s.process.join(timeout=max(0.0, deadline - time.monotonic()))
                s.kill()

    def _service(self, s: _Slot, on_result: OnResult, finished: list) -> bool:
        """Handle a slot's messages and limits; return True if its worker must be replaced. The outcomes its
        worker sent are appended to ``finished`` (stored by the caller); those decided here (timeout, oom,
        crashed) go to ``on_result`` at once."""
        while True:
            # only reading the pipe may fail because the worker died; what on_result raises (a result that
            # cannot be stored) propagates and stops the run
            try:
                if not s.conn.poll():
                    break
                msg = s.conn.recv()
            except (EOFError, OSError):
                break  # the worker died; handled below
            if msg[0] == "ready":
                s.ready = s.ever_ready = True
            elif msg[0] == "progress":
                s.progress = (msg[1], msg[2])
            elif msg[0] == "step" and s.spec is not None:
                s.last_step = msg[1] or None  # "": the job's preparation ended (dataset, warm-up)
                if s.spec.timeout_s:
                    s.deadline = time.monotonic() + s.spec.timeout_s
            elif msg[0] == "result":
                s.ready = len(msg) > 2 and bool(msg[2])  # else once it says "ready" (after restarting its
                # method process)
                spec = s.finish()
                outcome = msg[1]
                outcome.setdefault("memory", {})["worker_peak_seen_mb"] = s.peak_seen
                finished.append((spec, outcome))
        if not s.process.is_alive():
            return self._died(s, on_result)
        if s.spec is None:
            return False
        now = time.monotonic()
        if now > min(s.deadline, s.job_deadline):
            spec = s.finish()
            log = s.kill_with_log()
            where = f" after step '{s.last_step}'" if s.last_step else " in its first step"
            hint = f" (method's last progress report: {s.progress[0]:.0%} {s.progress[1]})" if s.progress else ""
            what = (f"a step ran over the {spec.timeout_s:g} s limit" if now > s.deadline
                    else f"the job ran over its total limit of {spec.job_timeout_s:g} s")
            on_result(spec, failure("timeout", f"{what}{where}; worker killed after {now - s.started:.0f} s{hint}",
                                    job_s=now - s.started, **log))
            return True
        rss = tree_rss_mb(s.process.pid)  # the worker and every process its method started
        if rss is not None:
            s.peak_seen = max(s.peak_seen or 0.0, rss)
            if s.cap_mb is not None and s.rss0 is not None and rss - s.rss0 > s.cap_mb:
                spec = s.finish()
                log = s.kill_with_log()
                on_result(spec, failure("oom", f"used {rss - s.rss0:.0f} MiB above its start, over the cap of "
                                        f"{s.cap_mb:.0f} MiB; worker killed", job_s=now - s.started,
                                        memory={"peak_delta_mb": rss - s.rss0}, **log))
                return True
        return False

    def _died(self, s: _Slot, on_result: OnResult) -> bool:
        s.process.join(timeout=1)
        how = _signal_name(s.process.exitcode)
        if s.spec is not None:
            spec = s.finish()
            hint = " (possibly the system's OOM killer)" if how == "SIGKILL" else ""
            on_result(spec, failure("crashed", f"worker died with {how}{hint}",
                                    job_s=time.monotonic() - s.started, **s.kill_with_log()))
        elif not s.ever_ready:
            self.startup_failures += 1
            if self.startup_failures > 3:
                raise RuntimeError(f"featbench workers keep dying at start-up ({how}); see the messages above")
        s.kill()
        return True
