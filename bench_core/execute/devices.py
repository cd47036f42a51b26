"""The device policy: which jobs run on CUDA, and which workers may touch a GPU.

Why a policy at all
===================
On a machine with one H100 and 16 cores, the selectors ``quick`` profile took 99.8 s with everything sent to
CUDA and 36.1 s on the CPU (``-j 16``): its problems are small and launch-bound (an Adam step of a 64-unit MLP
has a floor of about 0.75 ms on CUDA whatever its size up to n = 1024, d = 5000, while the same step takes
0.2 ms on one CPU thread at n = 256, d = 30), and each of the 16 workers paid for a CUDA context. The GPU does
win, by 13-60x, on the track kernels that are big: an exact k-NN pass at n = 70,000, linear CKA at
n = 50,000, a 3,072-wide TopK SAE step. So ``--device auto`` sends a job to CUDA only where the measured
figures say it is faster, and keeps everything else, and every worker that runs it, away from CUDA.

The rule (:func:`choose_device`, the spec)
==========================================
``--device cpu``
    every job on the CPU; no worker sees a GPU (``CUDA_VISIBLE_DEVICES=""``).
``--device cuda`` / ``cuda:N``
    every job on CUDA (GPU ``N`` of those this process sees, for ``cuda:N``): what the user asked for, even
    where it is slower. Refused before anything runs when the machine has no such GPU.
``--device auto`` (the default)
    CPU for every job when no GPU is visible (or the installed torch was built without CUDA). Otherwise a job goes to CUDA when either

    1. its method declares ``tags.gpu_preferred`` (it trains a torch model on ``ctx.device``) **and** the
       problem has at least :data:`GPU_PREFERRED_CELLS_PER_THREAD` × ``threads`` cells (rows × features of
       the dataset), ``threads`` being the CPU threads each worker gets. From the figures above, one CPU
       thread needs 4.5 ns (the large, 16-core point: 23 ms for 4096 × 20,000 cells) to 26 ns (the small
       point, overheads included) per cell and step; at 250,000 cells per thread the CPU step takes
       1.1-6.5 ms against the 0.75 ms CUDA floor, a margin of at least 1.5x that pays for the worker's CUDA
       context. Every problem of the ``quick`` profile is below it (the largest, classification_small, has
       1,000 × 50 cells); the larger ``standard`` sets (basehock's 1,993 × 4,862, arcene's 200 × 10,000) are
       above it at one thread per worker, where the figures put the GPU well ahead.
    2. or its track's own kernels (the evaluation the protocol runs on ``ctx.device``) are above the size the
       track declares, :attr:`bench_core.tracks.base.Track.cuda_kernel_min_size`, compared with
       ``Track.kernel_size(n_samples, n_features, params)``. The built-in tracks set it at the sizes where the
       GPU was measured to win by 13x or more: 50,000 rows for the reducers' k-NN pass and the similarity
       measures, a 3,072-latent dictionary for an SAE. A track that declares nothing never asks for CUDA.

    Anything else (no tag and a small kernel, or an unknown size) runs on the CPU: ``auto`` errs towards the
    CPU, so that by the measured figures no job is slower than under ``--device cpu`` on the same machine.

The size of a job's problem is read from the header of its dataset's verified cache file (rows and features
of the materialised ``X``), after the data are prepared and before any job runs (:func:`problem_size`).

Workers (the local executor)
============================
Each worker is either a **CPU worker**, started with ``CUDA_VISIBLE_DEVICES=""`` so that neither it nor its
method process can create a CUDA context (whatever a method or a library calls), or a **GPU worker** that sees
exactly one GPU (``CUDA_VISIBLE_DEVICES=<id>``, set in the environment the worker is spawned with, before it
imports torch). :func:`plan_workers` lays them out: GPU workers exist only when some pending job was given
CUDA; there are ``--gpu-workers`` of them (default: one per visible GPU under ``auto``, every worker under an
explicit ``cuda``), spread round-robin over the GPUs and counted within ``-j``; the other workers are CPU
workers. A GPU job runs only on a GPU worker; a GPU worker with no GPU job left takes CPU jobs.

The choice is per job and deterministic: a job's device never depends on which worker was free (so the
numbers of a stochastic method do not either). It makes each CUDA job faster, not necessarily the whole run:
when many large ``gpu_preferred`` jobs queue for one GPU worker while CPU workers idle, ``--gpu-workers``
(several workers sharing a GPU) or ``--device cpu`` is the user's call.

Slurm
=====
The Slurm driver usually runs where no GPU is (a login node): under ``auto`` it sees the cluster's GPUs only
through the ``gpus`` executor option (``--executor-opt gpus=1``), and a task that runs a job given CUDA asks
for that many GPUs (``--gpus-per-task``, i.e. ``--gpus 1`` for the default of one job at a time). Without the
option, ``auto`` runs everything on the CPU and asks for no GPU.

Overriding
==========
``--device cpu|cuda|cuda:N|auto`` picks the mode, ``--gpu-workers N`` bounds the GPU workers, and
:class:`DevicePolicy` carries the thresholds (``FEATBENCH_GPU_CELLS_PER_THREAD`` overrides the tag
threshold; a track's kernel threshold is its class attribute).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from bench_core.execute.jobs import JobSpec
    from bench_core.registry import Registry
    from bench_core.tracks.base import Resources, Tags

#: ``gpu_preferred`` methods go to CUDA from this many cells (rows × features) per CPU thread of a worker.
GPU_PREFERRED_CELLS_PER_THREAD = 250_000



@dataclass(frozen=True)
class GPU:
    """One GPU this process may hand out: ``id`` as ``CUDA_VISIBLE_DEVICES`` names it (an index or a UUID)."""

    id: str
    name: str | None = None
    memory_gb: float | None = None
    driver: str | None = None


@dataclass(frozen=True)
class CudaInfo:
    """The GPUs visible to the driver process (``source``: how they were found)."""

    gpus: tuple[GPU, ...] = ()
    source: str = "none"

    @property
    def count(self) -> int:
        return len(self.gpus)

    @property
    def ids(self) -> list[str]:
        return [g.id for g in self.gpus]


@dataclass(frozen=True)
class ProblemSize:
    """What the policy knows of a job's problem: the dataset's rows and features, and the track's kernel.

    ``kernel`` is ``Track.kernel_size(...)`` and ``kernel_min`` the track's ``cuda_kernel_min_size`` (None: the
    track's kernels never ask for CUDA). A size that could not be read is ``None`` and counts as small."""

    n_samples: int | None = None
    n_features: int | None = None
    kernel: int | None = None
    kernel_min: int | None = None

    @property
    def cells(self) -> int | None:
        if self.n_samples is None or self.n_features is None:
            return None
        return int(self.n_samples) * int(self.n_features)


@dataclass(frozen=True)
class DevicePolicy:
    """The run's device settings: the ``--device`` mode, ``--gpu-workers`` and the tag threshold."""

    mode: str = "auto"
    gpu_workers: int | None = None
    cells_per_thread: int = field(default_factory=lambda: cells_per_thread())
    threads: int = 1


def cells_per_thread() -> int:
    """The ``gpu_preferred`` threshold: ``FEATBENCH_GPU_CELLS_PER_THREAD`` if set (a positive integer; anything
    else is refused with a one-line :class:`~bench_core.errors.UsageError`), else the measured default."""
    text = os.environ.get("FEATBENCH_GPU_CELLS_PER_THREAD")
    if text is None:
        return GPU_PREFERRED_CELLS_PER_THREAD
    try:
        value = int(text)
        if value < 1:
            raise ValueError
    except ValueError:
        from bench_core.errors import UsageError

        raise UsageError(f"FEATBENCH_GPU_CELLS_PER_THREAD must be a positive integer, not {text!r} "
                         f"(default {GPU_PREFERRED_CELLS_PER_THREAD})") from None
    return value


# ------------------------------------------------------------------------------------------------ probe


def _smi_gpus() -> list[dict[str, str]] | None:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=index,uuid,name,memory.total,driver_version",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    rows = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 5:
            rows.append(dict(zip(("index", "uuid", "name", "memory_mib", "driver"), parts)))
    return rows


def probe_cuda() -> CudaInfo:
    """The GPUs this process may hand out, found without importing torch (so without any CUDA context).

    ``CUDA_VISIBLE_DEVICES``, when set, names them (empty or ``-1``: none); ``nvidia-smi`` gives their model,
    memory and driver, and lists them when the variable is unset. This is the one probe of the policy: the
    tests replace it to fake GPUs."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    smi = _smi_gpus()
    by_id = {}
    for row in smi or []:
        try:
            mem = round(float(row["memory_mib"]) / 1024, 1)
        except ValueError:
            mem = None
        gpu = GPU(id=row["index"], name=row["name"], memory_gb=mem, driver=row["driver"])
        by_id[row["index"]] = gpu
        by_id[row["uuid"]] = gpu
    if env is not None:
        ids = [g.strip() for g in env.split(",") if g.strip()]
        if "-1" in ids:  # CUDA stops at the first invalid id
            ids = ids[:ids.index("-1")]
        return CudaInfo(tuple(dataclasses.replace(by_id[i], id=i) if i in by_id else GPU(i) for i in ids),
                        "CUDA_VISIBLE_DEVICES")
    if not smi:
        return CudaInfo()
    return CudaInfo(tuple(by_id[r["index"]] for r in smi), "nvidia-smi")


# ------------------------------------------------------------------------------------------------ choice


def choose_device(method_tags: "Tags", resources: "Resources | None", problem_size: ProblemSize,
                  policy: DevicePolicy, cuda_info: CudaInfo) -> str:
    """The device of one job: ``"cpu"``, ``"cuda"`` (any GPU; the executor picks which) or ``"cuda:N"``.

    Pure: it reads only its arguments (the module docstring is the full rule).

    - ``policy.mode == "cpu"`` → ``"cpu"``; ``"cuda"`` / ``"cuda:N"`` → that, unchanged (checked earlier).
    - ``"auto"`` without a visible GPU → ``"cpu"``.
    - ``"auto"``: ``"cuda"`` when the method is ``gpu_preferred`` and the problem has at least
      ``policy.cells_per_thread × policy.threads`` cells, or when the track's kernel size reaches its declared
      ``kernel_min``; ``"cpu"`` otherwise (an unknown size counts as small).

    ``resources`` (the method's time and memory hints) do not move the choice today; they are part of the
    signature so that a hint such as a GPU memory need can, without changing callers.
    """
    del resources
    if policy.mode == "cpu":
        return "cpu"
    if policy.mode.startswith("cuda"):
        return policy.mode
    if cuda_info.count == 0:
        return "cpu"
    cells = problem_size.cells
    if method_tags.gpu_preferred and cells is not None and cells >= policy.cells_per_thread * max(1, policy.threads):
        return "cuda"
    if (problem_size.kernel_min is not None and problem_size.kernel is not None
            and problem_size.kernel >= problem_size.kernel_min):
        return "cuda"
    return "cpu"


def cached_shape(path: str | os.PathLike | None) -> tuple[int, int] | None:
    """(rows, features) of ``X`` in a dataset cache file (an ``.npz``), from its header only; None if unread."""
    import numpy as np

    if not path:
        return None
    try:
        with zipfile.ZipFile(path) as z, z.open("X.npy") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _fortran, _dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _fortran, _dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                return None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    if len(shape) == 1:
        return int(shape[0]), 1
    if len(shape) < 1:
        return None
    n_features = 1
    for s in shape[1:]:
        n_features *= int(s)
    return int(shape[0]), n_features


def problem_size(track: Any, spec: "JobSpec", shape: tuple[int, int] | None) -> ProblemSize:
    """The :class:`ProblemSize` of ``spec`` from its dataset's shape and its track's kernel declaration."""
    if shape is None:
        return ProblemSize()
    n, d = shape
    kmin = getattr(track, "cuda_kernel_min_size", None)
    kernel = None
    if kmin is not None:
        try:
            kernel = int(track.kernel_size(n, d, dict(spec.params)))
        except Exception:  # noqa: BLE001 - a track that cannot size a job leaves it on the CPU
            kernel = None
    return ProblemSize(n, d, kernel, kmin)


def assign_devices(registry: "Registry", specs: Sequence["JobSpec"], policy: DevicePolicy,
                   cuda_info: CudaInfo) -> list["JobSpec"]:
    """``specs`` with each ``device`` set by :func:`choose_device` (reads only cache file headers)."""
    if policy.mode != "auto":
        return [dataclasses.replace(s, device=policy.mode) for s in specs]
    if cuda_info.count == 0:
        return [dataclasses.replace(s, device="cpu") for s in specs]
    shapes: dict[str | None, tuple[int, int] | None] = {}
    out = []
    for s in specs:
        if s.dataset_cache not in shapes:
            shapes[s.dataset_cache] = cached_shape(s.dataset_cache)
        cls = registry.method(s.track, s.method)
        size = problem_size(registry.track(s.track), s, shapes[s.dataset_cache])
        out.append(dataclasses.replace(s, device=choose_device(cls.tags, cls.resources, size, policy, cuda_info)))
    return out


# ------------------------------------------------------------------------------------------------ workers


def plan_workers(workers: int, n_gpu_jobs: int, n_cpu_jobs: int, gpu_ids: Sequence[str],
                 gpu_workers: int | None = None, explicit_cuda: bool = False) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` of each worker to start: a GPU id for a GPU worker, ``""`` for a CPU worker.

    At most ``workers`` in all and no more than there are jobs. GPU workers only when some job was given CUDA
    and a GPU is visible: ``gpu_workers`` of them (default: one per GPU, or every worker under an explicit
    ``--device cuda``), never more than the GPU jobs, spread round-robin over ``gpu_ids``; the rest are CPU
    workers, no more than the CPU jobs, except that there is always at least one worker."""
    total = max(1, min(int(workers), n_gpu_jobs + n_cpu_jobs))
    if n_gpu_jobs == 0 or not gpu_ids:
        return [""] * total
    want = gpu_workers if gpu_workers is not None else (total if explicit_cuda else len(gpu_ids))
    g = max(1, min(int(want), n_gpu_jobs, total))
    gpu = [str(gpu_ids[i % len(gpu_ids)]) for i in range(g)]
    return gpu + [""] * min(total - g, n_cpu_jobs)


def gpu_environment() -> dict[str, Any] | None:
    """The GPU this process sees first, for a result's provenance: model, memory (GiB), CUDA (torch's build)
    and driver versions, and the ``CUDA_VISIBLE_DEVICES`` id. None without CUDA. Call it only in a process
    that may hold a CUDA context (a GPU worker): it initialises CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    driver = None
    smi = _smi_gpus() or []
    first = (visible or "0").split(",")[0].strip()
    for row in smi:
        if first in (row["index"], row["uuid"]):
            driver = row["driver"]
    if driver is None and smi:
        driver = smi[0]["driver"]
    return {"name": props.name, "memory_gb": round(props.total_memory / 2**30, 1), "cuda": torch.version.cuda,
            "driver": driver, "visible_id": visible, "count": torch.cuda.device_count()}


def device_kind(device: str | None) -> str:
    """``"cpu"`` or ``"cuda"`` (any ``cuda:N``): what ``compare`` matches results on."""
    return "cuda" if (device or "cpu").startswith("cuda") else "cpu"


def result_device(record: Mapping[str, Any]) -> str:
    """The device kind of a stored result (records before the policy existed have ``device`` too)."""
    return device_kind(((record.get("provenance") or {}).get("device")) or "cpu")


def place(registry: "Registry", specs: Sequence["JobSpec"], mode: str, executor: Any,
          threads: int) -> list["JobSpec"]:
    """Give each pending job its device and tell ``executor`` which GPUs it may use (``executor.gpu_ids``).

    The GPUs are the executor's (:meth:`~bench_core.execute.base.Executor.cuda_info`), narrowed to GPU ``N``
    under ``cuda:N``. Under an explicit ``cuda`` that ``nvidia-smi`` could not list, torch (already imported
    by the check of ``--device``) counts them."""
    info = executor.cuda_info()
    if mode.startswith("cuda") and info.count == 0:
        import torch

        info = CudaInfo(tuple(GPU(str(i)) for i in range(torch.cuda.device_count())), "torch")
    if mode.startswith("cuda:"):
        n = int(mode.split(":", 1)[1])
        info = CudaInfo(info.gpus[n:n + 1], info.source)
    policy = DevicePolicy(mode=mode, gpu_workers=executor.gpu_workers, threads=threads)
    out = assign_devices(registry, specs, policy, info)
    executor.gpu_ids = info.ids
    return out
