"""The executor interface: how pending jobs get run.

An executor receives job specs and reports one outcome per job through ``on_result``; it decides the
statuses that only an outside observer can see (``timeout``, ``crashed``, and ``oom`` when it enforces the
memory cap by killing). The job itself is always :meth:`bench_core.execute.job.Worker.run`, whichever
executor runs it, and the result files are always written by the caller of ``on_result``.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, ClassVar, Mapping, Sequence

from bench_core.execute.jobs import JobSpec

OnResult = Callable[[JobSpec, dict[str, Any]], None]
OnStart = Callable[[JobSpec], None]
#: Asked just before a job is dispatched: ``None`` to run it, or the reason it is skipped instead.
ShouldRun = Callable[[JobSpec], "str | None"]


class Executor(abc.ABC):
    """Runs jobs. Subclasses register through ``featbench_register_executors``."""

    #: One line shown by ``featbench list``.
    description: ClassVar[str] = ""
    #: True for an executor whose jobs write their own result files (on a shared filesystem, e.g. Slurm
    #: array tasks). It then reports a stored job as ``on_result(spec, {"status": ..., "written": True})``
    #: and the harness only counts it; outcomes without ``written`` are written by the harness as usual.
    writes_results: ClassVar[bool] = False
    #: Executor-specific options (``--executor-opt KEY=VALUE``, ``--executor-config FILE``): name -> type.
    option_types: ClassVar[dict[str, type]] = {}
    option_help: ClassVar[dict[str, str]] = {}
    #: True for an executor that runs plugin code in a method process (:mod:`bench_core.execute.host`), the
    #: process that ``--sandbox`` restricts; it receives the sandbox as :attr:`sandbox`.
    method_process: ClassVar[bool] = False

    def __init__(self, workers: int = 1, threads: int = 1, memory_cap_mb: float | None = None,
                 device: str = "auto", options: Mapping[str, Any] | None = None) -> None:
        self.workers = max(1, int(workers))
        self.threads = max(1, int(threads))
        self.memory_cap_mb = memory_cap_mb
        self.device = device
        self.options = self.validate_options(options or {})
        #: The results directory, set by the harness before :meth:`run`.
        self.results_root = None
        #: The method process's sandbox (the JSON of :func:`bench_core.execute.sandbox.policy`), set by the
        #: harness before :meth:`run`; None for none.
        self.sandbox: str | None = None
        #: Set by the harness before :meth:`run` (:mod:`bench_core.execute.devices`): the GPUs the jobs given
        #: CUDA may use (``CUDA_VISIBLE_DEVICES`` ids; None: probe) and ``--gpu-workers`` (None: the default).
        self.gpu_ids: list[str] | None = None
        self.gpu_workers: int | None = None

    def cuda_info(self):
        """The GPUs the device policy may send jobs to: by default those this machine shows
        (:func:`bench_core.execute.devices.probe_cuda`), none if the installed torch was built without CUDA;
        an executor whose jobs run elsewhere says its own."""
        from bench_core.execute.devices import CudaInfo, probe_cuda

        info = probe_cuda()
        if info.count:
            import torch  # its build, not the driver: no CUDA call, no context

            if torch.version.cuda is None:
                return CudaInfo((), "torch built without CUDA")
        return info

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check executor options; raise :class:`~bench_core.errors.UsageError` naming the valid ones."""
        if options:
            from bench_core.errors import UsageError

            valid = ", ".join(sorted(cls.option_types)) or "none"
            raise UsageError(f"executor option(s) {', '.join(sorted(options))} not understood (valid: {valid})")
        return {}

    @abc.abstractmethod
    def run(self, specs: Sequence[JobSpec], on_result: OnResult, on_start: OnStart | None = None,
            should_run: ShouldRun | None = None) -> None:
        """Run every spec in order, calling ``on_result(spec, outcome)`` once per spec as soon as it ends; a
        spec for which ``should_run`` returns a reason is not run but reported ``skipped`` (abstract)."""
