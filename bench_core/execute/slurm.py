"""The ``slurm`` executor: a run's pending jobs as Slurm job arrays, submitted through submitit.

How it works
============
The driver (``featbench run --executor slurm``) groups the pending jobs by the Slurm resources they need,
cuts each group into batches of ``jobs_per_task`` jobs, and submits each group as one job array (one array
task per batch) with submitit. An array task runs its batch with the :class:`~bench_core.execute.local.LocalExecutor`
(one worker process: the same job function, the same per-step time limits and memory cap as a local run)
and writes each result file itself, atomically, into the results directory, which must be on a filesystem
that the driver and the compute nodes share. The driver only reads result files: it can stop waiting
(``--detach``, or Ctrl-C, or being killed) and the array keeps running; ``featbench status`` then shows the
pending, queued, running, done and failed counts per track, and re-running the same ``featbench run``
picks the finished results up from the store and submits only what is neither done nor still queued or
running in Slurm.

Every submission is recorded in ``<results>/.slurm/submissions/<slurm job id>.json`` (the job keys of each
array task). A later driver adopts the live tasks it finds there instead of submitting their jobs again, so a
driver killed mid-run and restarted never duplicates work.

Resources
=========
Options come from ``--executor-config FILE`` (a TOML file with a ``[slurm]`` table) and
``--executor-opt KEY=VALUE`` (which wins); see :attr:`SlurmExecutor.option_types`. Per method, the hints
map to Slurm parameters: ``resources.memory_mb`` → ``--mem`` (else ``mem_gb``), the job time limits →
``--time`` (the sum of the batch's job limits plus a start-up margin, at least ``time_min``), and
a job the device policy gave CUDA (:mod:`bench_core.execute.devices`) → ``--gpus-per-task`` (``gpus``,
default 1: ``--gpus 1`` for the one job a task runs at a time). The driver sees the cluster's GPUs only through
the ``gpus`` option: with ``--device auto`` and no ``gpus``, every job runs on the CPU and nothing is asked
for (sbatch refuses a GPU request on a cluster without GPUs); with it, ``auto`` picks the jobs as locally;
``--device cuda`` gives every job a GPU. The
concurrency cap ``max_running`` becomes the array's ``%`` limit (``slurm_array_parallelism``).

Statuses
========
A job's own outcome (``done``, ``error``, ``invalid``, ``timeout`` of a step, ``oom`` at the cap, ``crashed``
worker) is decided inside the task exactly as locally. When Slurm ends a task before all of its jobs have a
result, the driver records the job that was running as ``timeout`` (Slurm's time limit, or submitit's
timeout signal) or ``crashed`` (cancelled, preempted, node failure, out of memory), from the task's
accounting state; the jobs the task never started are recorded ``skipped`` with the reason. None of these is
``done``, so the next run submits them again.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from bench_core.errors import UsageError
from bench_core.execute.base import Executor, OnResult, OnStart, ShouldRun
from bench_core.execute.jobs import JobSpec

#: sacct states of a task that has ended (``COMPLETED`` included: its jobs without a result file never ran).
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
         "DEADLINE", "REVOKED", "SPECIAL_EXIT"}
#: The signal submitit asks Slurm to send before a task's time limit (``--signal=USR2@<delay>``).
SUBMITIT_WARNING_SIGNAL = 12  # SIGUSR2 on Linux
#: States of a task still to come or running.
LIVE = {"PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED", "CONFIGURING", "COMPLETING", "STAGE_OUT",
        "SUBMITTED", "READY"}


def sacct_state(task_id: str) -> tuple[str, int | None]:
    """How an array task ended, from Slurm's accounting: (state, signal). The state is the first word, upper
    case (``UNKNOWN`` if sacct has no row yet); the signal is the one that ended its steps, from
    ``DerivedExitCode`` (``None`` if none did). A one-task array is listed under the array's own id, so ``12_0``
    falls back to ``12``."""
    import subprocess

    for jid in dict.fromkeys([task_id, task_id.split("_")[0]]):
        try:
            out = subprocess.run(["sacct", "-n", "-X", "-P", "-j", jid, "-o", "JobID,State,DerivedExitCode"],
                                 capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return "UNKNOWN", None
        found = parse_sacct(out.stdout, task_id, single_fallback=jid != task_id)
        if found is not None:
            return found
    return "UNKNOWN", None


def parse_sacct(text: str, task_id: str, single_fallback: bool = False) -> tuple[str, int | None] | None:
    """(state, signal) of ``task_id`` in ``sacct -P -o JobID,State,DerivedExitCode`` output, or ``None``.
    ``single_fallback``: the output was asked for under the array's id and its only row is the task."""
    rows = [line.split("|") for line in text.splitlines() if "|" in line]
    for row in rows:
        if row[0] == task_id or (single_fallback and len(rows) == 1):
            state = row[1].split()[0].upper() if row[1].strip() else "UNKNOWN"
            sig = None
            if len(row) > 2 and ":" in row[2]:
                try:
                    sig = int(row[2].split(":", 1)[1]) or None
                except ValueError:
                    sig = None
            return state, sig
    return None


def task_error(result_pickle: str | os.PathLike | None) -> str | None:
    """The error a task's function raised, read from submitit's result pickle (``None`` if it has none: the
    task succeeded, or Slurm killed it before it could write one). Never waits."""
    import pickle

    if not result_pickle:
        return None
    try:
        with open(result_pickle, "rb") as fh:
            outcome, value = pickle.load(fh)
    except Exception:  # noqa: BLE001 - absent, partial or foreign: no error to report
        return None
    return str(value) if outcome == "error" else None


class Task:
    """One array task as the driver tracks it: its Slurm id and where submitit writes its result pickle."""

    def __init__(self, job_id: str, result_pickle: str | None) -> None:
        self.job_id, self.result_pickle = job_id, result_pickle


def squeue_states() -> dict[str, str]:
    """``{task id: state}`` of every job and array task that Slurm still lists (pending, running, ...).

    squeue, not sacct: it knows a pending array task (``12_3``) the moment it is submitted, where sacct may
    still say nothing about it."""
    import subprocess

    try:
        # %i: the id submitit knows a task by (``12_3`` for an array task with -r, ``12`` for a one-task job)
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"cannot query Slurm's queue (squeue): {exc}") from None
    if out.returncode != 0:
        raise UsageError(f"cannot query Slurm's queue (squeue): {out.stderr.strip()[:300]}")
    states = {}
    for line in out.stdout.splitlines():
        if "|" in line:
            task, state = line.strip().split("|", 1)
            states[task] = state.split()[0].upper()
    return states


def outcome_for_state(state: str, exception: str | None = None, signal: int | None = None) -> tuple[str, str]:
    """(status, message) of the job that was running when Slurm ended its task in ``state``; ``signal`` is
    the signal that ended the task's steps, where one did (sacct's ``DerivedExitCode``)."""
    if state == "TIMEOUT" or (exception and "timed-out" in exception):
        return "timeout", "the Slurm task ran over its time limit (--time); the job was killed with it"
    if signal == SUBMITIT_WARNING_SIGNAL and not exception:
        # submitit asks Slurm for SIGUSR2 shortly before --time; Slurm may send it up to a minute early. A task
        # that it reaches before submitit has installed its handler dies of it (sacct: FAILED, signal 12).
        return "timeout", ("the Slurm task was killed by SIGUSR2, Slurm's warning that its time limit (--time) "
                           "was near; the job was killed with it")
    if state == "OUT_OF_MEMORY":
        return "oom", "the Slurm task ran out of its memory allocation (--mem)"
    if state == "CANCELLED":
        return "crashed", "the Slurm task was cancelled (scancel) while the job ran"
    if state in ("PREEMPTED", "REQUEUED"):
        return "crashed", "the Slurm task was preempted while the job ran"
    if state in ("NODE_FAIL", "BOOT_FAIL"):
        return "crashed", f"the Slurm node failed ({state}) while the job ran"
    return "crashed", f"the Slurm task ended ({state}) without a result for this job" + (
        f": {exception.strip().splitlines()[-1][:300]}" if exception else "")


def run_task(spec_dicts: Sequence[Mapping[str, Any]], results_root: str, threads: int,
             memory_cap_mb: float | None, device: str) -> dict[str, int]:
    """The body of one array task: run a batch of jobs with a one-worker local executor and store each result.

    Runs on the compute node; writes the result files itself (atomically), so that the driver needs only
    the shared filesystem. Returns the count of each status written.
    """
    from bench_core.execute.claims import ClaimedElsewhere, Claims
    from bench_core.execute.local import LocalExecutor
    from bench_core.execute.run import FailFast, Recorder
    from bench_core.store import Store

    specs = [JobSpec.from_dict(dict(d)) for d in spec_dicts]
    store = Store(results_root)
    recorder = Recorder(store, "slurm")
    fail_fast = FailFast()
    claims = Claims(store)  # the same per-job lock files as local drivers: tasks and drivers share the work
    slurm_ids = {k: os.environ[v] for k, v in (("slurm_job_id", "SLURM_JOB_ID"),
                                               ("slurm_array_job_id", "SLURM_ARRAY_JOB_ID"),
                                               ("slurm_array_task_id", "SLURM_ARRAY_TASK_ID"),
                                               ("slurm_node", "SLURMD_NODENAME")) if v in os.environ}

    def should_run(spec: JobSpec) -> str | None:
        if not claims.claim(spec):
            return ClaimedElsewhere("claimed by another driver or task")
        if store.done(spec.track, spec.dataset, spec.method, spec.key):  # finished since it was submitted
            claims.release(spec)
            return ClaimedElsewhere("done since it was submitted")
        return fail_fast(spec)

    def on_result(spec: JobSpec, outcome: dict[str, Any]) -> None:
        if isinstance((outcome.get("error") or {}).get("message"), ClaimedElsewhere):
            return
        fail_fast.observe(spec, outcome)
        outcome["environment"] = {**(outcome.get("environment") or {}), **slurm_ids}
        err = outcome.get("error") or {}
        if outcome.get("status") == "crashed" and "SIGTERM" in str(err.get("message", "")):
            err["message"] += " (Slurm sends SIGTERM when a task is cancelled, preempted or over its time limit)"
        try:
            recorder.on_result(spec, outcome)
        finally:
            claims.release(spec)

    executor = LocalExecutor(workers=1, threads=threads, memory_cap_mb=memory_cap_mb, device=device)
    try:
        executor.run(specs, on_result, recorder.on_start, should_run)
    finally:
        claims.release_all()
    return dict(recorder.counts)


class SlurmExecutor(Executor):
    description = "Slurm job arrays through submitit; tasks write results to a shared results directory"
    writes_results = True
    option_types: ClassVar[dict[str, type]] = {
        "partition": str, "account": str, "qos": str, "time_min": int, "mem_gb": float, "cpus_per_task": int,
        "gpus": int, "max_running": int, "jobs_per_task": int, "folder": str, "poll_s": float, "detach": bool,
        "startup_margin_min": int, "time_limit_min": int,
    }
    option_help: ClassVar[dict[str, str]] = {
        "partition": "Slurm partition (default: the cluster's default)",
        "account": "Slurm account", "qos": "Slurm QOS",
        "time_min": "the smallest --time of a task, in minutes (default 5)",
        "mem_gb": "--mem of a task whose methods give no memory hint, in GB (default 4)",
        "cpus_per_task": "--cpus-per-task (default: --threads, else 1)",
        "gpus": "the cluster has GPUs: --gpus-per-task of a task running jobs that the device policy gave CUDA "
                "(default 1 with --device cuda; with --device auto no GPU is used unless this is set)",
        "max_running": "concurrency cap: array tasks running at once (default: unlimited)",
        "jobs_per_task": "jobs per array task (default 8)",
        "folder": "submitit's log folder (default: <results>/.slurm/logs)",
        "poll_s": "seconds between the driver's polls (default 2)",
        "detach": "submit and return at once (default false); `featbench status` shows progress",
        "startup_margin_min": "minutes added to each task's --time for worker start-up (default 2)",
        "time_limit_min": "--time of every task, in minutes, instead of the one computed from the job limits",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.submitted: list[str] = []

    # ---------------------------------------------------------------------------------------- options
    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in options.items():
            typ = cls.option_types.get(key)
            if typ is None:
                raise UsageError(f"unknown slurm executor option {key!r} (valid: {', '.join(sorted(cls.option_types))})")
            if isinstance(value, str) and typ is not str:
                text = value.strip()
                try:
                    if typ is bool:
                        if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                            raise ValueError
                        value = text.lower() in ("1", "true", "yes")
                    else:
                        value = typ(text)
                except ValueError:
                    raise UsageError(f"slurm executor option {key}={value!r} must be {typ.__name__}") from None
            if typ in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))
                                        or not math.isfinite(value) or value <= 0):
                raise UsageError(f"slurm executor option {key} must be a positive {typ.__name__}, not {value!r}")
            if typ is bool and not isinstance(value, bool):
                raise UsageError(f"slurm executor option {key} must be true or false, not {value!r}")
            if typ is str and not isinstance(value, str):
                raise UsageError(f"slurm executor option {key} must be a string, not {value!r}")
            out[key] = typ(value)
        return out

    # ---------------------------------------------------------------------------------------- paths
    def _slurm_dir(self) -> Path:
        if self.results_root is None:  # pragma: no cover - the harness sets it
            raise RuntimeError("SlurmExecutor.results_root is not set")
        return Path(self.results_root) / ".slurm"

    def _submissions(self) -> Path:
        return self._slurm_dir() / "submissions"

    # ---------------------------------------------------------------------------------------- grouping
    def cuda_info(self):
        """The cluster's GPUs as the device policy sees them: ``gpus`` of them when that option is set, else
        none (the driver, often on a login node, cannot see the compute nodes' GPUs)."""
        from bench_core.execute.devices import GPU, CudaInfo

        n = int(self.options.get("gpus", 0))
        if n == 0 and self.device.startswith("cuda"):
            n = 1
        return CudaInfo(tuple(GPU(str(i)) for i in range(n)), "slurm option gpus" if n else "none")

    def _resources(self, spec: JobSpec) -> tuple[int, float]:
        """(GPUs per task, memory in GB) of the task that runs ``spec``."""
        # a GPU is asked for only for a job the device policy gave CUDA: with --device auto that happens only
        # when the gpus option says the cluster has GPUs (on a cluster without, sbatch refuses a gres request)
        gpus = int(self.options.get("gpus", 1)) if spec.device.startswith("cuda") else 0
        # a memory hint is what the job may add; the worker itself needs about 1 GB besides
        mem_gb = float(math.ceil(spec.memory_mb / 1024 + 1)) if spec.memory_mb else float(self.options.get("mem_gb", 4.0))
        return gpus, mem_gb

    @staticmethod
    def _job_limit_s(spec: JobSpec) -> float:
        return float(spec.job_timeout_s or (spec.timeout_s or 600) * 4)

    def _time_min(self, batch: Sequence[JobSpec]) -> int:
        if "time_limit_min" in self.options:
            return int(self.options["time_limit_min"])
        total = sum(self._job_limit_s(s) for s in batch) / 60.0
        return max(int(self.options.get("time_min", 5)),
                   int(math.ceil(total)) + int(self.options.get("startup_margin_min", 2)))

    # ---------------------------------------------------------------------------------------- adoption
    def live_submissions(self) -> dict[str, list[tuple[Any, list[str], str]]]:
        """Tasks recorded under ``.slurm/submissions`` that Slurm still lists as pending or running."""
        return live_submissions(self._submissions())

    # ---------------------------------------------------------------------------------------- run
    def run(self, specs: Sequence[JobSpec], on_result: OnResult, on_start: OnStart | None = None,
            should_run: ShouldRun | None = None) -> None:
        """Submit (or adopt) the jobs, then, unless detached, wait for their result files.

        ``on_result(spec, outcome)`` is called once per job when its result file appears (the outcome is then
        ``{"status": ..., "written": True}``: the harness must not write it again) or with a failure outcome
        for a job whose task Slurm ended without one (the harness writes those).
        """
        import submitit

        from bench_core.store import Store

        if not specs:
            return
        store = Store(self._slurm_dir().parent)
        live = self.live_submissions()
        adopted = {s.key for s in specs if s.key in live}
        fresh = [s for s in specs if s.key not in adopted]
        folder = Path(self.options.get("folder") or self._slurm_dir() / "logs")
        tasks: list[tuple[Any, list[JobSpec]]] = []
        by_key = {s.key: s for s in specs}
        seen_jobs: set[str] = set()
        for k in sorted(adopted):
            for job, keys, _state_now in live[k]:
                if job.job_id not in seen_jobs:
                    seen_jobs.add(job.job_id)
                    tasks.append((job, [by_key[x] for x in keys if x in by_key]))
        if adopted:
            print(f"slurm: {len(adopted)} job(s) already queued or running in Slurm; waiting for them, not "
                  f"submitting them again", file=sys.stderr)

        groups: dict[tuple, list[JobSpec]] = {}
        for s in fresh:
            groups.setdefault(self._resources(s), []).append(s)
        per_task = int(self.options.get("jobs_per_task", 8))
        self._submissions().mkdir(parents=True, exist_ok=True)
        for (gpus, mem_gb), group in sorted(groups.items()):
            batches = [group[i:i + per_task] for i in range(0, len(group), per_task)]
            ex = submitit.AutoExecutor(folder=str(folder / "%j"), cluster="slurm")
            params: dict[str, Any] = {
                "timeout_min": max(self._time_min(b) for b in batches),
                "mem_gb": mem_gb,
                "cpus_per_task": int(self.options.get("cpus_per_task", self.threads)),
                "name": "featbench",
            }
            slurm: dict[str, Any] = {}
            for opt, key in (("partition", "slurm_partition"), ("account", "slurm_account"), ("qos", "slurm_qos")):
                if opt in self.options:
                    slurm[key] = self.options[opt]
            if "max_running" in self.options:
                slurm["slurm_array_parallelism"] = int(self.options["max_running"])
            if gpus:
                slurm["slurm_gpus_per_task"] = gpus
            ex.update_parameters(**params, **slurm)
            n = len(batches)
            jobs = ex.map_array(run_task, [[s.to_dict() for s in b] for b in batches],
                                [str(self._slurm_dir().parent)] * n, [self.threads] * n,
                                [self.memory_cap_mb] * n, [self.device] * n)
            record = {"folder": str(folder / "%j"), "submitted_at": time.time(),
                      "tasks": {j.job_id: [s.key for s in b] for j, b in zip(jobs, batches)},
                      "result_pickles": {j.job_id: str(j.paths.result_pickle) for j in jobs}}
            array_id = jobs[0].job_id.split("_")[0]
            tmp = self._submissions() / f".{array_id}.json.tmp"
            tmp.write_text(json.dumps(record, indent=1))
            os.replace(tmp, self._submissions() / f"{array_id}.json")
            self.submitted.append(array_id)
            print(f"slurm: submitted job array {array_id}: {len(group)} job(s) in {n} task(s) "
                  f"(--time {params['timeout_min']} min, --mem {mem_gb:g} GB"
                  f"{', %' + str(slurm['slurm_array_parallelism']) if 'slurm_array_parallelism' in slurm else ''}"
                  f"{', ' + str(gpus) + ' GPU' if gpus else ''})", file=sys.stderr)
            tasks.extend((Task(j.job_id, str(j.paths.result_pickle)), b) for j, b in zip(jobs, batches))

        if self.options.get("detach"):
            print("slurm: detached; the tasks write their results as they finish. `featbench status` shows "
                  "progress; re-running the same command collects them and submits only what is missing",
                  file=sys.stderr)
            return
        self._wait(tasks, store, on_result, on_start)

    def _wait(self, tasks, store, on_result: OnResult, on_start: OnStart | None) -> None:
        remaining = {s.key: s for _j, batch in tasks for s in batch}
        poll = float(self.options.get("poll_s", 2.0))
        open_tasks = list(tasks)

        def stamp(spec):  # a failed job's old result file stays until the task replaces it
            try:
                return os.stat(store.path_for(spec.track, spec.dataset, spec.method, spec.key)).st_mtime_ns
            except OSError:
                return None

        old = {k: stamp(s) for k, s in remaining.items()}
        gone_since: dict[str, float] = {}

        def new_record(spec):
            st = stamp(spec)
            if st is None or st == old[spec.key]:
                return None
            return store.read(store.path_for(spec.track, spec.dataset, spec.method, spec.key))

        while remaining:
            for key in list(remaining):
                spec = remaining[key]
                rec = new_record(spec)
                if rec is not None:
                    del remaining[key]
                    if on_start:
                        on_start(spec)
                    on_result(spec, {"status": rec.get("status", "error"), "written": True})
            still = []
            queue = squeue_states() if open_tasks else {}
            for job, batch in open_tasks:
                if not any(s.key in remaining for s in batch):
                    continue
                if job.job_id in queue and queue[job.job_id] not in ENDED:  # still pending or running
                    still.append((job, batch))
                    continue
                state, signal_ = sacct_state(job.job_id)  # gone from the queue: how it ended, from accounting
                if state not in ENDED:
                    gone = gone_since.setdefault(job.job_id, time.monotonic())
                    if time.monotonic() - gone < 60:  # sacct may trail squeue by a moment
                        still.append((job, batch))
                        continue
                # the task ended: give its result files a moment to appear on a shared filesystem
                time.sleep(min(poll, 1.0))
                missing = [s for s in batch if s.key in remaining and new_record(s) is None]
                if not missing:
                    still.append((job, batch))
                    continue
                exc = task_error(job.result_pickle)
                status, message = outcome_for_state(state, exc, signal_)
                from bench_core.execute.job import failure

                first = True
                for s in missing:
                    del remaining[s.key]
                    if on_start:
                        on_start(s)
                    if first:
                        on_result(s, failure(status, f"{message} (Slurm job {job.job_id})"))
                        first = False
                    else:
                        on_result(s, failure("skipped", f"not run: its Slurm task {job.job_id} ended ({state}) "
                                                        f"before it started"))
            open_tasks = still
            if remaining:
                time.sleep(poll)


def load_options(config: str | os.PathLike | None, pairs: Sequence[str] | None) -> dict[str, Any]:
    """Executor options from a TOML file (its ``[slurm]`` table, or its top level) and ``KEY=VALUE`` pairs."""
    options: dict[str, Any] = {}
    if config:
        path = Path(config).expanduser()
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read executor config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"malformed executor config {path}: {exc}") from None
        table = raw.get("slurm", raw)
        if not isinstance(table, dict):
            raise UsageError(f"executor config {path}: [slurm] must be a table")
        options.update(table)
    for pair in pairs or []:
        if "=" not in pair:
            raise UsageError(f"--executor-opt takes KEY=VALUE, not {pair!r}")
        k, v = pair.split("=", 1)
        options[k.strip()] = v.strip()
    return options


def live_submissions(folder: Path) -> dict[str, list[tuple[Any, list[str], str]]]:
    """``{job key: [(submitit job, keys of its task, Slurm state)]}`` for every task recorded in ``folder``
    (``<results>/.slurm/submissions``) that Slurm still lists as pending or running."""
    out: dict[str, list[tuple[Any, list[str], str]]] = {}
    if not folder.is_dir():
        return out

    queue = None
    for path in sorted(folder.glob("*.json")):
        try:
            sub = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if queue is None:
            queue = squeue_states()
        for task_id, keys in sub.get("tasks", {}).items():
            state = queue.get(task_id)
            # a task that is completing (cancelled, or done) runs no more jobs: it is not adopted
            if state is not None and state not in ENDED and state not in ("COMPLETING", "STAGE_OUT"):
                job = Task(task_id, sub.get("result_pickles", {}).get(task_id))
                for k in keys:
                    out.setdefault(k, []).append((job, keys, state))
    return out
