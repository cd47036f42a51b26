"""The job function shared by every executor: run one :class:`JobSpec` and return its outcome.

It runs inside a worker (or in-process for the ``inline`` executor). It loads the method through the
registry and the materialised dataset from its verified cache file, hands the track's protocol the method,
and classifies whatever happens into the closed status vocabulary of :mod:`bench_core.store`:
``done``, ``error`` (the method raised), ``invalid`` (its output broke the contract), ``oom`` (a
``MemoryError`` or CUDA out-of-memory). ``timeout``, ``crashed`` and ``skipped`` are decided by the executor
and the planner, which see the job from outside.
"""

from __future__ import annotations

import os
import platform
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from bench_core.errors import InvalidOutput
from bench_core.execute.guard import StepGuard
from bench_core.execute.host import MethodCrashed, MethodFailed
from bench_core.execute.jobs import JobSpec


#: The thread-pool sizes a worker pins to its thread count. numba's is among them: its parallel kernels (PaCMAP's,
#: UMAP's) otherwise start one thread per core in every worker, and with ``-j 2`` on 2 cores those threads
#: oversubscribe the machine and spin (fits measured 10-60x slower than alone).
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS")


def configure_threads(threads: int) -> None:
    """Pin BLAS/OpenMP, numba and torch to ``threads`` (call before the first numpy/numba/torch import when
    possible)."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)


def resolve_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available")
    return requested


def _proc_status(field: str, pid: int | str | None = "self") -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # kB -> MiB
    except OSError:
        return None
    return None


def cpu_seconds(pid: int | str | None = "self") -> float | None:
    """User + system CPU seconds of a process and of the children it has reaped (``/proc/<pid>/stat``,
    utime, stime, cutime, cstime); ``None`` where ``/proc`` is not readable."""
    if pid is None:
        return None
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the command name may hold spaces: skip past its ")"
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def reset_peak_rss(pid: int | str = "self") -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of a process (this one by default); False where
    unsupported."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def environment() -> dict[str, Any]:
    """Versions and hardware of this process (recorded in every result)."""
    import numpy
    import sklearn
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "numpy": numpy.__version__,
        "scikit_learn": sklearn.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda_available": bool(torch.cuda.is_available()),
    }
    if info["cuda_available"]:  # only in a process that sees a GPU (never in a CPU worker of the local executor)
        from bench_core.execute.devices import gpu_environment

        info["gpu"] = gpu_environment()
        info["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    return info


#: Imported once when a worker starts, so that a method's first fit is not charged with the import of the
#: libraries every protocol and most methods use.
PREIMPORT = ("scipy.stats", "sklearn.linear_model", "sklearn.ensemble", "sklearn.feature_selection",
             "sklearn.preprocessing", "sklearn.pipeline", "sklearn.neighbors", "sklearn.svm")


def _preimport() -> None:
    import importlib

    for name in PREIMPORT:
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - optional speed-up only
            pass


class Worker:
    """Holds what a worker process keeps warm between jobs: torch, the registry, recent datasets."""

    def __init__(self, threads: int = 1, registry=None, max_datasets: int = 3, isolate: bool = False) -> None:
        configure_threads(threads)
        import torch

        torch.set_num_threads(threads)
        _preimport()
        if registry is None:
            from bench_core.registry import load_registry

            registry = load_registry(strict=False)
        self.registry = registry
        self.threads = threads
        self.env = environment()
        self._datasets: OrderedDict[str, Any] = OrderedDict()
        self._warm: set[type] = set()
        self._max_datasets = max_datasets
        #: With ``isolate``, plugin methods run in a separate method process that holds only what each call
        #: hands it (:mod:`bench_core.execute.host`); the protocol and the scoring stay here.
        self.host = None
        if isolate:
            from bench_core.execute.host import MethodHost

            self.host = MethodHost()
            self.host.ensure()

    def dataset(self, spec: JobSpec):
        from bench_core.data.dataset import load_cache

        path = spec.dataset_cache
        if path in self._datasets:
            self._datasets.move_to_end(path)
            return self._datasets[path]
        card = self.registry.card(spec.dataset)
        ds = load_cache(card, Path(path))
        self._datasets[path] = ds
        if len(self._datasets) > self._max_datasets:
            self._datasets.popitem(last=False)
        return ds

    def run(self, spec: JobSpec, progress: Callable[[float, str], None] | None = None,
            step: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Run one job; never raises (every failure becomes an outcome with a status).

        ``progress`` receives the method's own progress reports; ``step`` the protocol's step boundaries
        (the local executor restarts the job's time limit at each one)."""
        from bench_core.registry import format_exception
        from bench_core.tracks.base import Context

        t0 = time.perf_counter()
        reset_ok = reset_peak_rss()
        rss0 = _proc_status("VmRSS")
        outcome: dict[str, Any] = {"status": "error", "scores": {}, "outputs": {}, "error": None}
        device = "cpu"
        # (a method whose creation fails never gets these)
        host_pid, host_reset, host_rss0, cpu0 = None, False, None, None
        try:
            device = resolve_device(spec.device)
            cls = self.registry.method(spec.track, spec.method)
            if cls.version != spec.method_version:
                raise RuntimeError(
                    f"method {spec.method!r} is version {cls.version} in this worker, the job expects {spec.method_version}"
                )
            track = self.registry.track(spec.track)
            dataset = self.dataset(spec)
            if self.host is not None:
                method = self.host.proxy(spec.track, cls, spec.params)  # warm-up happens over there
            else:
                if cls not in self._warm:
                    cls.warm_up()
                    self._warm.add(cls)
                method = cls(**spec.params)
            if step is not None:
                # dataset loading and the method's warm-up (a one-off JIT compile, say) are a step of their
                # own: the job's first step, a fit, gets the whole limit; an unnamed step keeps timeout
                # messages reading "in its first step"
                step("")
            t0 = time.perf_counter()  # dataset loading and warm-up are not the job's time
            reset_ok = reset_peak_rss()
            host_pid = self.host.pid if self.host is not None else None
            host_reset = host_pid is not None and reset_peak_rss(host_pid)
            rss0 = _proc_status("VmRSS")
            host_rss0 = _proc_status("VmRSS", host_pid) if host_reset else None
            cpu0 = _cpu_total(host_pid)
            guard = StepGuard(step or (lambda m: None))  # step boundaries stay in the protocol's hands
            guard.wrap(method)
            ctx = Context(seed=spec.seed, device=device, time_budget_s=spec.timeout_s, profile=spec.profile,
                          threads=self.threads, progress=progress or (lambda f, m="": None),
                          step=guard.step)
            if device.startswith("cuda"):
                import torch

                torch.cuda.reset_peak_memory_stats()
            out = track.run(method, dataset, spec.split, spec.settings, ctx)
            bad = [k for k, v in out.scores.items() if not isinstance(v, (int, float))]
            if bad:
                raise InvalidOutput(f"protocol produced non-numeric scores {bad[:3]}")
            outcome.update(status="done", scores={k: float(v) for k, v in out.scores.items()},
                           outputs=out.outputs, fit_s=out.fit_time_s)
        except MethodFailed as exc:  # plugin code raised in the method process
            status = "oom" if exc.type_name == "OutOfMemoryError" else "error"
            outcome.update(status=status, error={"type": exc.type_name, "message": exc.message,
                                                 "traceback": exc.traceback_text})
        except MethodCrashed as exc:
            outcome.update(status="crashed", error={"type": "crashed", "message": safe_message(exc)})
        except InvalidOutput as exc:
            outcome.update(status="invalid", error={"type": "InvalidOutput", "message": safe_message(exc)})
        except MemoryError as exc:
            outcome.update(status="oom", error={"type": "MemoryError", "message": safe_message(exc),
                                                "traceback": format_exception(exc)})
        except BaseException as exc:  # noqa: BLE001 - every failure of plugin code is an outcome, even
            # SystemExit (a method calling sys.exit), KeyboardInterrupt and bare BaseException: none of them
            # may end the run, let alone with status 0
            status = "oom" if type(exc).__name__ == "OutOfMemoryError" else "error"
            outcome.update(status=status, error={"type": _type_name(exc), "message": safe_message(exc),
                                                 "traceback": format_exception(exc)})
        hwm = _proc_status("VmHWM") if reset_ok else None
        memory: dict[str, Any] = {"rss_start_mb": rss0, "peak_rss_mb": hwm,
                                  "peak_delta_mb": (hwm - rss0) if (hwm is not None and rss0 is not None) else None}
        if self.host is not None and host_reset and host_rss0 is not None:
            # the method's own footprint is in its process: add its peak growth during the job
            host_hwm = _proc_status("VmHWM", host_pid)
            if host_hwm is not None and memory["peak_delta_mb"] is not None:
                memory["peak_delta_mb"] += max(0.0, host_hwm - host_rss0)
                memory["peak_rss_mb"] = (hwm or 0.0) + host_hwm
        if device.startswith("cuda"):
            import torch

            memory["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        outcome["memory"] = memory
        outcome["job_s"] = time.perf_counter() - t0
        cpu1 = _cpu_total(host_pid)
        outcome["cpu_s"] = (cpu1 - cpu0) if (cpu0 is not None and cpu1 is not None) else None
        outcome["device"] = device
        if device.startswith("cuda"):  # the GPU that ran it, for the result's provenance
            outcome["environment"] = self.env
            outcome["gpu"] = self.env.get("gpu")
        else:  # a CPU job on a worker that sees a GPU: the GPU is not this job's
            outcome["environment"] = {k: v for k, v in self.env.items() if k != "gpu"}
        outcome["pid"] = os.getpid()
        return outcome


def _cpu_total(host_pid: int | None) -> float | None:
    """CPU seconds of this worker plus its method process (when there is one)."""
    own = cpu_seconds()
    if own is None or host_pid is None:
        return own
    host = cpu_seconds(host_pid)
    return None if host is None else own + host


def _type_name(exc: BaseException) -> str:
    try:
        return str(type(exc).__name__)
    except BaseException:  # noqa: BLE001 - a hostile metaclass
        return "BaseException"


def safe_message(exc: BaseException) -> str:
    """``str(exc)``, or a description when it is empty or its ``__str__`` itself raises.

    ``SystemExit`` reads ``sys.exit(<code>)``, so that a method that tried to end the run is named as such.
    """
    name = _type_name(exc)
    if isinstance(exc, SystemExit):
        return f"the method called sys.exit({exc.code!r})" if _safe(lambda: repr(exc.code)) else \
            "the method called sys.exit()"
    text = _safe(lambda: str(exc))
    if text is None:
        return f"{name} (its message could not be rendered: its __str__ raised)"
    return text or name


def _safe(fn: Callable[[], str]) -> str | None:
    try:
        out = fn()
        return out if isinstance(out, str) else None
    except BaseException:  # noqa: BLE001
        return None


def failure(status: str, message: str, **extra: Any) -> dict[str, Any]:
    """An outcome for a job that the executor (not the job) ended: timeout, crashed, oom, skipped."""
    out: dict[str, Any] = {"status": status, "scores": {}, "outputs": {},
                           "error": {"type": status, "message": message}, "memory": {}, "environment": {}}
    out.update(extra)
    return out
