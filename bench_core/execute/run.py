"""Orchestration of a run: validate the request, plan the jobs, prepare data, execute, store.

Everything that can be wrong with the request (an unknown name, a malformed card, a checksum mismatch, a
seed beyond a dataset's splits) is found by :func:`plan_run` before any job runs or any file is written.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from bench_core.data.dataset import cache_dir, cache_path, data_dir, missing_reason, prepare
from bench_core.errors import DataMissing, ResultWriteError, UsageError
from bench_core.execute.claims import ClaimedElsewhere, Claims
from bench_core.execute.job import failure
from bench_core.execute.jobs import JobSpec, make_spec, parse_seeds, select_names
from bench_core.execute.selection import expand_names, select_methods, variants_for
from bench_core.profiles import get_profile, track_settings
from bench_core.provenance import git_state, hardware
from bench_core.registry import Registry, unknown
from bench_core.store import ErrorInfo, Log, Memory, Provenance, ResultRecord, SCHEMA_VERSION, Store, Timing
from bench_core.tracks.base import variant_id


def default_results_dir() -> Path:
    return cache_dir() / "results"


@dataclass
class RunRequest:
    tracks: Sequence[str] | None = None
    methods: Sequence[str] | None = None
    datasets: Sequence[str] | None = None
    profile: str = "quick"
    seeds: str | None = None
    jobs: int = 1
    executor: str = "local"
    device: str = "auto"
    threads: int | None = None
    timeout_s: float | None = None
    job_timeout_s: float | None = None
    memory_cap_mb: float | None = None
    #: GPU workers of the local executor (None: one per GPU under ``auto``; see bench_core.execute.devices)
    gpu_workers: int | None = None
    results: str | os.PathLike | None = None
    data_dir: str | os.PathLike | None = None
    cache_dir: str | os.PathLike | None = None
    force: bool = False
    #: Executor-specific options (validated by the executor class before anything runs).
    executor_options: dict[str, Any] = field(default_factory=dict)
    #: The method process's sandbox: ``none`` or ``landlock`` (:mod:`bench_core.execute.sandbox`).
    sandbox: str = "none"


@dataclass
class Plan:
    profile: str
    specs: list[JobSpec] = field(default_factory=list)
    pending: list[JobSpec] = field(default_factory=list)
    cached: int = 0
    skipped: list[tuple[JobSpec, str]] = field(default_factory=list)
    not_applicable: list[tuple[str, str, str, str]] = field(default_factory=list)
    datasets: dict[str, str] = field(default_factory=dict)  # name -> cache path (to prepare)
    #: Pending jobs this driver left to another one that had claimed or finished them (set by execute).
    elsewhere: int = 0
    #: (track, method) -> number of finished results whose recorded source differs from the installed one
    source_changed: dict[tuple[str, str], int] = field(default_factory=dict)

    def source_warnings(self) -> list[str]:
        """One line per method whose finished results were computed from other source than installed."""
        return [f"warning: {m} ({t}): the installed source differs from the one recorded with {n} finished "
                f"result(s), which are kept; re-run them with `--force --method {m}`, or bump its `version`"
                for (t, m), n in sorted(self.source_changed.items())]


def _check_cards(registry: Registry) -> None:
    if registry.card_errors:
        path, (reason, plugin) = sorted(registry.card_errors.items())[0]
        raise UsageError(f"{reason} (provided by plugin {plugin.name!r}; disable it with FEATBENCH_DISABLE_PLUGINS)")


def _threads(req: RunRequest) -> int:
    if req.threads is not None:
        return int(req.threads)
    return max(1, (os.cpu_count() or 1) // max(1, req.jobs))


_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(device: str) -> None:
    """Refuse a device this machine does not have (``cuda`` without CUDA, ``cuda:N`` beyond its GPUs).

    torch is imported only when CUDA is asked for by name."""
    if not _DEVICE_RE.match(device):
        raise UsageError(f"unknown device {device!r} (valid: auto, cpu, cuda, cuda:N)")
    from bench_core.execute.devices import cells_per_thread

    cells_per_thread()  # a malformed FEATBENCH_GPU_CELLS_PER_THREAD is refused before anything runs
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise UsageError(f"device {device!r} requested but CUDA is not available here (valid here: auto, cpu)")
    n = torch.cuda.device_count()
    if ":" in device and int(device.split(":")[1]) >= n:
        raise UsageError(f"device {device!r} does not exist: this machine has {n} GPU(s) (cuda:0..cuda:{n - 1})")


def _protected(req: RunRequest, store: Store) -> list[Path]:
    """The directories a sandboxed method process must not reach: cache, data, results."""
    root = data_dir(req.data_dir)
    return [cache_dir(req.cache_dir), store.root] + ([root] if root is not None else [])


def check_sandbox(registry: Registry, req: RunRequest, store: Store) -> None:
    """Refuse a ``--sandbox`` this run cannot have (see :func:`bench_core.execute.sandbox.check`)."""
    from bench_core.execute import sandbox

    has_host = registry.executor(req.executor).method_process and os.environ.get("FEATBENCH_METHOD_PROCESS",
                                                                                  "1") != "0"
    sandbox.check(req.sandbox, _protected(req, store), has_host)


def plan_run(registry: Registry, req: RunRequest, store: Store) -> Plan:
    """Expand the request into jobs and decide which are pending, cached or skipped (writes nothing)."""
    profile = get_profile(req.profile)
    if req.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, not {req.jobs}")
    if req.threads is not None and req.threads < 1:
        raise UsageError(f"--threads must be >= 1, not {req.threads}")
    for opt, v in (("--timeout", req.timeout_s), ("--job-timeout", req.job_timeout_s),
                   ("--memory-cap", req.memory_cap_mb)):
        if v is not None and (isinstance(v, bool) or not math.isfinite(v) or v <= 0):
            raise UsageError(f"{opt} must be a finite positive number, not {v!r}")
    check_device(req.device)
    if req.gpu_workers is not None and (isinstance(req.gpu_workers, bool) or req.gpu_workers < 1):
        raise UsageError(f"--gpu-workers must be >= 1, not {req.gpu_workers} (use --device cpu for no GPU)")
    for opt, names in (("--track", req.tracks), ("--method", req.methods), ("--dataset", req.datasets)):
        if names is not None and (isinstance(names, str) or not names or not all(names)):
            raise UsageError(f"{opt} got an empty name; give one or more names (omit it to select every one)")
    registry.executor(req.executor).validate_options(req.executor_options)
    _check_cards(registry)
    ready = [t for t, tr in registry.tracks.items() if tr.ready]
    tracks = select_names("track", req.tracks, list(registry.tracks)) if req.tracks else ready
    for t in tracks:
        if not registry.tracks[t].ready:
            raise UsageError(f"the {t} track has its method contract but no evaluation protocol yet "
                             f"(tracks with a protocol: {', '.join(ready)})")
    selected = select_methods(registry, tracks, req.methods)  # names, globs, name[param=value] variants
    datasets = expand_names("dataset", req.datasets, registry.cards) if req.datasets else None
    seeds = parse_seeds(req.seeds, profile.seeds)
    threads = _threads(req)
    root = data_dir(req.data_dir)
    croot = cache_dir(req.cache_dir)
    if croot.exists() and not croot.is_dir() or any(p.exists() and not p.is_dir() for p in croot.parents):
        raise UsageError(f"cache directory {croot} is not a directory (set --cache-dir or FEATBENCH_CACHE_DIR)")
    if root is not None and not root.is_dir():
        origin = "--data-dir" if req.data_dir else "FEATBENCH_DATA_DIR"
        raise UsageError(f"data directory {root} ({origin}) does not exist or is not a directory")
    store.check_writable()
    check_sandbox(registry, req, store)
    plan = Plan(profile=profile.name)

    for tname in tracks:
        track = registry.tracks[tname]
        settings = track_settings(track, profile)
        methods = [m for m in (selected or sorted(registry.methods[tname])) if m in registry.methods[tname]]
        if datasets:
            cards = [registry.card(d) for d in datasets if tname in registry.card(d).tracks]
        else:
            cards = [c for c in registry.cards_for(tname) if c.in_profile(profile.tier)]
        for card in cards:
            beyond = [s for s in seeds if s >= card.split.count]
            if beyond:
                raise UsageError(f"dataset {card.name!r} has {card.split.count} splits (seeds 0..{card.split.count - 1}); "
                                 f"seed {beyond[0]} does not exist")
            missing = missing_reason(card, root)
            cpath = str(cache_path(card, croot))
            for mname in methods:
                cls = registry.method(tname, mname)
                reason = track.applicable(cls, card)
                if reason:
                    plan.not_applicable.append((tname, mname, card.name, reason))
                    continue
                info = registry.method_plugin(tname, mname)
                plugin = {"name": info.name, "dist": info.dist, "version": info.version}
                timeout = req.timeout_s or cls.resources.timeout_s or profile.timeout_s
                # the profile's total limit never undercuts a step limit that a method's hint or --timeout
                # raised; --job-timeout is taken as given
                job_timeout = req.job_timeout_s or (max(profile.job_timeout_s, timeout) if profile.job_timeout_s
                                                    else None)
                for params in variants_for(cls, profile, (selected or {}).get(mname)):
                    why = track.variant_applicable(cls, params, card, settings)
                    if why:
                        defaults = {**cls.params, **cls.profile_params.get(profile.name, {})}
                        plan.not_applicable.append((tname, variant_id(mname, params, defaults), card.name, why))
                        continue
                    for seed in seeds:
                        spec = make_spec(track, cls, params, card, seed, profile, plugin, dataset_cache=cpath,
                                         timeout_s=timeout, job_timeout_s=job_timeout,
                                         memory_mb=cls.resources.memory_mb,
                                         device=req.device, threads=threads)
                        plan.specs.append(spec)
                        skip = missing or cls.unavailable()  # data, or an optional dependency, missing
                        if skip:
                            plan.skipped.append((spec, skip))
                        elif not req.force and store.done(spec.track, spec.dataset, spec.method, spec.key):
                            plan.cached += 1
                            _note_source(plan, store, spec)
                        else:
                            plan.pending.append(spec)
                            plan.datasets[card.name] = cpath
    return plan


def _note_source(plan: Plan, store: Store, spec: JobSpec) -> None:
    rec = store.read(store.path_for(spec.track, spec.dataset, spec.method, spec.key)) or {}
    recorded = rec.get("method_source")
    if recorded and spec.source_hash and recorded != spec.source_hash:
        k = (spec.track, spec.method)
        plan.source_changed[k] = plan.source_changed.get(k, 0) + 1


def prepare_datasets(registry: Registry, plan: Plan, req: RunRequest) -> None:
    """Materialise and verify the data of pending jobs (raises :class:`UsageError` on a checksum mismatch)."""
    root, croot = data_dir(req.data_dir), cache_dir(req.cache_dir)
    for name in sorted(plan.datasets):
        try:
            prepare(registry.card(name), registry.loader_fns, registry.reader_fns, root, croot)
        except DataMissing as exc:  # appeared between planning and now
            raise UsageError(str(exc)) from None
        except OSError as exc:  # the cache cannot be written (read-only, full, a file in the way)
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            raise UsageError(f"cannot write the dataset cache under {croot}{where}: {exc.strerror or exc} "
                             f"(set --cache-dir or FEATBENCH_CACHE_DIR)") from None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Recorder:
    """Turns executor outcomes into result files (the parent is the only writer)."""

    def __init__(self, store: Store, executor: str, progress=None) -> None:
        self.store = store
        self.executor = executor
        self.progress = progress
        self.counts: Counter[str] = Counter()
        #: Jobs left to another driver that had claimed (or finished) them: not run, not recorded here.
        self.elsewhere = 0
        self.started: dict[str, tuple[float, str]] = {}
        self.commit, self.dirty = git_state()
        self.hardware = hardware()
        from bench_core import __version__

        self.version = __version__

    def on_start(self, spec: JobSpec) -> None:
        self.started[spec.key] = (time.monotonic(), _now())
        if self.progress is not None and hasattr(self.progress, "start"):
            self.progress.start(spec.label)

    def on_result(self, spec: JobSpec, outcome: dict[str, Any]) -> None:
        if outcome.get("written"):  # stored by the job itself (an executor with writes_results)
            self.started.pop(spec.key, None)
            self.counts[outcome["status"]] += 1
            if self.progress is not None:
                self.progress.update(outcome["status"], spec.label)
            return
        t0, started_at = self.started.pop(spec.key, (time.monotonic(), _now()))
        err = outcome.get("error")
        mem = {k: v for k, v in (outcome.get("memory") or {}).items() if k in Memory.__dataclass_fields__}
        record = ResultRecord(
            schema_version=SCHEMA_VERSION, key=spec.key, status=outcome["status"], track=spec.track,
            method=spec.method, method_version=spec.method_version, variant=spec.variant, params=dict(spec.params),
            dataset=spec.dataset, dataset_fingerprint=spec.dataset_fingerprint, split=spec.split, seed=spec.seed,
            profile=spec.profile, protocol_version=spec.protocol_version, settings=dict(spec.settings),
            scores=dict(outcome.get("scores") or {}),
            timing=Timing(wall_s=time.monotonic() - t0, job_s=outcome.get("job_s"), fit_s=outcome.get("fit_s"),
                          cpu_s=outcome.get("cpu_s")),
            memory=Memory(**mem),
            provenance=Provenance(
                featbench=self.version, plugin=dict(spec.plugin), git_commit=self.commit, git_dirty=self.dirty,
                executor=self.executor, device=outcome.get("device") or spec.device, hardware=self.hardware,
                environment=dict(outcome.get("environment") or {}), started_at=started_at, finished_at=_now(),
                gpu=dict(outcome["gpu"]) if outcome.get("gpu") else None,
            ),
            error=ErrorInfo(**err) if err else None,
            outputs=dict(outcome.get("outputs") or {}), method_source=spec.source_hash,
            log=Log(**outcome["log"]) if outcome.get("log") else None,
        )
        self.store.write(record)
        self.counts[record.status] += 1
        if self.progress is not None:
            self.progress.update(record.status, spec.label)


class FailFast:
    """Skips the remaining seeds of a (method, parameters, dataset) cell once one of its jobs timed out.

    The time limit applies to each step (one fit), so a timeout means one fit of the method on that data is
    too slow: its other seeds would time out too, each costing a full limit. They are recorded ``skipped``
    with the reason, and re-attempted by the next run like any job without a ``done`` result.
    """

    def __init__(self) -> None:
        self.timed_out: dict[tuple, str] = {}

    @staticmethod
    def cell(spec: JobSpec) -> tuple:
        return (spec.track, spec.method, spec.variant, spec.dataset)

    def observe(self, spec: JobSpec, outcome: dict[str, Any]) -> None:
        if outcome.get("status") == "timeout":
            self.timed_out.setdefault(self.cell(spec), f"not attempted: seed {spec.seed} of this method and "
                                      f"dataset timed out ({(outcome.get('error') or {}).get('message', '')})")

    def __call__(self, spec: JobSpec) -> str | None:
        return self.timed_out.get(self.cell(spec))


def execute(registry: Registry, plan: Plan, req: RunRequest, store: Store, progress=None) -> Counter[str]:
    """Run the plan's pending jobs and record skipped ones; return the count of each status written.

    Jobs run seed by seed (every seed-0 job first), so that :class:`FailFast` can spare the other seeds of a
    cell whose first seed timed out.
    """
    store.clean_stale_temporaries()
    recorder = Recorder(store, req.executor, progress)
    for spec, reason in plan.skipped:
        recorder.on_result(spec, failure("skipped", reason))
    if plan.pending:
        cls = registry.executor(req.executor)
        executor = cls(workers=req.jobs, threads=_threads(req), memory_cap_mb=req.memory_cap_mb, device=req.device,
                       options=req.executor_options)
        executor.results_root = store.root
        from bench_core.execute.sandbox import policy

        executor.sandbox = policy(req.sandbox, _protected(req, store))
        executor.gpu_workers = req.gpu_workers
        from bench_core.execute.devices import place

        pending = place(registry, plan.pending, req.device, executor, _threads(req))
        fail_fast = FailFast()
        claims = Claims(store)

        def should_run(spec: JobSpec) -> str | None:
            # claim first, so that nothing (not even a fail-fast 'skipped') overwrites another driver's result
            if not claims.claim(spec):
                return ClaimedElsewhere("claimed by another driver")
            if not req.force and store.done(spec.track, spec.dataset, spec.method, spec.key):
                claims.release(spec)
                return ClaimedElsewhere("done by another driver since this run was planned")
            return fail_fast(spec)

        def on_result(spec: JobSpec, outcome: dict[str, Any]) -> None:
            message = (outcome.get("error") or {}).get("message")
            if isinstance(message, ClaimedElsewhere):
                recorder.elsewhere += 1
                plan.elsewhere += 1
                return
            fail_fast.observe(spec, outcome)
            try:
                recorder.on_result(spec, outcome)
            finally:
                claims.release(spec)

        order = sorted(pending, key=lambda s: (s.seed, s.track, s.dataset, s.method, s.variant))
        try:
            executor.run(order, on_result, recorder.on_start, should_run)
        except ResultWriteError as exc:
            exc.stored = sum(recorder.counts.values())  # type: ignore[attr-defined]
            raise
        finally:
            claims.release_all()
    return recorder.counts


def results_store(req: RunRequest) -> Store:
    return Store(Path(req.results).expanduser() if req.results else default_results_dir())
