"""The device policy (bench_core.execute.devices), on the CPU with a faked CUDA availability.

No GPU exists here: the one probe of the policy (``devices.probe_cuda``) is replaced to report two fake GPUs,
and the expected device of every job is derived in the test from the rule (tags, dataset shape read with
NumPy, the track's declared kernel size), independently of the module's own size reading.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from bench_core.execute import devices
from bench_core.execute.devices import (GPU, CudaInfo, DevicePolicy, ProblemSize, cached_shape, choose_device,
                                        plan_workers)
from bench_core.tracks.base import Resources, Tags

TWO_GPUS = CudaInfo((GPU("0", "Fake H100", 79.6, "550.54"), GPU("1", "Fake H100", 79.6, "550.54")), "fake")
GPU_TAG, PLAIN = Tags(gpu_preferred=True), Tags()


# ------------------------------------------------------------------------------------------ the pure rule


def test_choose_device_modes_and_thresholds():
    small, big = ProblemSize(256, 30), ProblemSize(4096, 20_000)
    auto = DevicePolicy(mode="auto", cells_per_thread=250_000, threads=1)
    # explicit modes are obeyed whatever the job
    assert choose_device(GPU_TAG, Resources(), big, DevicePolicy(mode="cpu"), TWO_GPUS) == "cpu"
    assert choose_device(PLAIN, Resources(), small, DevicePolicy(mode="cuda"), TWO_GPUS) == "cuda"
    assert choose_device(PLAIN, Resources(), small, DevicePolicy(mode="cuda:1"), TWO_GPUS) == "cuda:1"
    # auto without a GPU: the CPU, even for a large gpu_preferred problem
    assert choose_device(GPU_TAG, None, big, auto, CudaInfo()) == "cpu"
    # auto with GPUs: a gpu_preferred method goes to CUDA only from 250,000 cells per thread
    assert choose_device(GPU_TAG, None, small, auto, TWO_GPUS) == "cpu"
    assert choose_device(GPU_TAG, None, big, auto, TWO_GPUS) == "cuda"
    assert choose_device(GPU_TAG, None, ProblemSize(500, 500), auto, TWO_GPUS) == "cuda"  # exactly 250,000
    assert choose_device(GPU_TAG, None, ProblemSize(499, 500), auto, TWO_GPUS) == "cpu"
    # ... and the threshold scales with the CPU threads a worker has (16 threads: 4,000,000 cells)
    sixteen = dataclasses.replace(auto, threads=16)
    assert choose_device(GPU_TAG, None, ProblemSize(1000, 3999), sixteen, TWO_GPUS) == "cpu"
    assert choose_device(GPU_TAG, None, ProblemSize(1000, 4000), sixteen, TWO_GPUS) == "cuda"
    # a method without the tag stays on the CPU however large, unless its track's kernel is above its size
    assert choose_device(PLAIN, None, big, auto, TWO_GPUS) == "cpu"
    assert choose_device(PLAIN, None, ProblemSize(70_000, 2, kernel=70_000, kernel_min=50_000), auto, TWO_GPUS) == "cuda"
    assert choose_device(PLAIN, None, ProblemSize(49_999, 2, kernel=49_999, kernel_min=50_000), auto, TWO_GPUS) == "cpu"
    assert choose_device(PLAIN, None, ProblemSize(70_000, 2, kernel=70_000, kernel_min=None), auto, TWO_GPUS) == "cpu"
    # an unknown size counts as small
    assert choose_device(GPU_TAG, None, ProblemSize(), auto, TWO_GPUS) == "cpu"


def test_the_quick_selector_problems_of_the_issue_stay_on_the_cpu():
    """The issue's measured regression: the quick profile's problems (hundreds of rows, tens of features) with
    the torch selectors went 2-7x slower on CUDA; with 16 workers of 1 thread each, auto keeps them on the CPU."""
    policy = DevicePolicy(mode="auto", cells_per_thread=devices.GPU_PREFERRED_CELLS_PER_THREAD, threads=1)
    for n, d in ((569, 30), (178, 13), (600, 50), (1024, 100)):
        assert choose_device(GPU_TAG, None, ProblemSize(n, d), policy, TWO_GPUS) == "cpu", (n, d)


def test_plan_workers_bounds_gpu_workers_and_gives_each_its_own_gpu():
    # no job given CUDA: CPU workers only, however many GPUs
    assert plan_workers(4, 0, 10, ["0", "1"]) == ["", "", "", ""]
    # default under auto: one GPU worker per GPU, within -j; the rest CPU workers
    assert plan_workers(4, 5, 10, ["0", "1"]) == ["0", "1", "", ""]
    # bounded by --gpu-workers, by the GPU jobs, and spread round-robin over the GPUs
    assert plan_workers(6, 5, 10, ["0", "1"], gpu_workers=3) == ["0", "1", "0", "", "", ""]
    assert plan_workers(4, 1, 10, ["0", "1"]) == ["0", "", "", ""]
    # explicit --device cuda: every worker is a GPU worker unless bounded
    assert plan_workers(3, 9, 0, ["0", "1"], explicit_cuda=True) == ["0", "1", "0"]
    # never more workers than jobs, never more CPU workers than CPU jobs, at least one worker
    assert plan_workers(8, 1, 2, ["0"]) == ["0", "", ""]
    assert plan_workers(8, 3, 0, ["7"], gpu_workers=1) == ["7"]
    assert plan_workers(2, 0, 0, ["0"]) == [""]
    # jobs given CUDA but no GPU to hand out: CPU workers (the jobs then fail plainly there)
    assert plan_workers(2, 3, 0, []) == ["", ""]


def test_probe_reads_cuda_visible_devices_without_torch(monkeypatch):
    monkeypatch.setattr(devices, "_smi_gpus", lambda: [
        {"index": "0", "uuid": "GPU-aaa", "name": "A", "memory_mib": "81559", "driver": "550.54"},
        {"index": "1", "uuid": "GPU-bbb", "name": "B", "memory_mib": "40960", "driver": "550.54"}])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    info = devices.probe_cuda()
    assert info.ids == ["0", "1"] and info.gpus[0].name == "A" and info.gpus[0].memory_gb == 79.6
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbb")
    info = devices.probe_cuda()
    assert info.ids == ["GPU-bbb"] and info.gpus[0].name == "B" and info.gpus[0].memory_gb == 40.0
    for hidden in ("", "-1", "-1,0"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert devices.probe_cuda().count == 0, hidden
    monkeypatch.setattr(devices, "_smi_gpus", lambda: None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert devices.probe_cuda().count == 0


# ---------------------------------------------------------------------- a small run across tracks, planned


@pytest.fixture(scope="module")
def planned(registry, tmp_path_factory):
    """A smoke run of every built-in method on one small dataset per track, planned and its data prepared."""
    from bench_core.execute.run import RunRequest, plan_run, prepare_datasets, results_store

    root = tmp_path_factory.mktemp("devices")
    req = RunRequest(datasets=["breast_cancer", "s_curve_small", "sim_transforms", "planted_quick"],
                     profile="smoke", seeds="1", results=str(root / "results"))
    plan = plan_run(registry, req, results_store(req))
    prepare_datasets(registry, plan, req)
    assert {s.track for s in plan.pending} == {"selectors", "reducers", "similarity", "saes"}
    return plan


def _place(registry, plan, monkeypatch, mode="auto", gpu_workers=None, jobs=4, torch_cuda="12.4"):
    import torch

    from bench_core.execute.local import LocalExecutor

    monkeypatch.setattr(devices, "probe_cuda", lambda: TWO_GPUS)
    monkeypatch.setattr(torch.version, "cuda", torch_cuda)  # the installed torch's build (CPU-only here)
    executor = LocalExecutor(workers=jobs, threads=1, device=mode)
    executor.gpu_workers = gpu_workers
    return devices.place(registry, plan.pending, mode, executor, threads=1), executor


def test_cached_shape_reads_the_header_of_the_cache(planned):
    for path in planned.datasets.values():
        with np.load(path) as z:
            assert cached_shape(path) == (z["X"].shape[0], int(np.prod(z["X"].shape[1:])))
    assert cached_shape(None) is None and cached_shape("/nonexistent.npz") is None


def test_auto_with_two_fake_gpus_keeps_every_small_job_on_the_cpu(registry, planned, monkeypatch):
    placed, executor = _place(registry, planned, monkeypatch)
    assert executor.gpu_ids == ["0", "1"]
    assert Counter(s.device for s in placed) == {"cpu": len(planned.pending)}
    assert executor.layout(placed) == ["", "", "", ""], "no job given CUDA: only CPU workers"
    assert [s.key for s in placed] == [s.key for s in planned.pending], "same jobs, same keys, same order"


def test_auto_with_two_fake_gpus_and_lowered_thresholds_gives_the_expected_per_job_devices(registry, planned,
                                                                                          monkeypatch):
    """Thresholds lowered so that every branch of the rule is taken on these small sets; the expectation is
    computed here from the tags, the params and the shapes NumPy reads."""
    monkeypatch.setenv("FEATBENCH_GPU_CELLS_PER_THREAD", "10000")  # breast_cancer: 569 x 30 = 17,070 cells
    kernel_min = {"reducers": 300, "similarity": 1000, "saes": 128}  # s_curve 400 rows; sim 300 rows; SAE m
    for t, v in kernel_min.items():
        monkeypatch.setattr(type(registry.track(t)), "cuda_kernel_min_size", v)
    placed, executor = _place(registry, planned, monkeypatch)

    shapes = {}
    for name, path in planned.datasets.items():
        with np.load(path) as z:
            shapes[name] = z["X"].shape
    got = Counter()
    for s in placed:
        cls = registry.method(s.track, s.method)
        n, d = shapes[s.dataset]
        if s.track == "selectors":  # no kernel threshold: only the tag and the size
            expected = "cuda" if cls.tags.gpu_preferred and n * d >= 10000 else "cpu"
        elif s.track == "saes":  # latent count m = width x d against 128 (d = 32: width 4 -> 128)
            expected = "cuda" if float(s.params.get("width") or 1) * d >= 128 else "cpu"
        elif s.track == "reducers":
            expected = "cuda" if n >= 300 else "cpu"
        else:
            expected = "cuda" if n >= 1000 else "cpu"
        assert s.device == expected, (s.track, s.method, s.dataset, s.device)
        got[(s.track, s.device)] += 1
    # every branch was exercised: each track has the device the rule gives, both devices occur
    assert got[("selectors", "cuda")] >= 3 and got[("selectors", "cpu")] >= 3, got
    assert got[("reducers", "cuda")] == sum(1 for s in placed if s.track == "reducers") and got[("reducers", "cpu")] == 0
    assert got[("similarity", "cpu")] == sum(1 for s in placed if s.track == "similarity")
    assert got[("saes", "cuda")] >= 1 and got[("saes", "cpu")] >= 1, got
    # the local executor's workers for these jobs: one per fake GPU, the rest CPU workers
    assert executor.layout(placed) == ["0", "1", "", ""]
    executor.gpu_workers = 1
    assert executor.layout(placed) == ["0", "", "", ""]


def test_gpus_are_ignored_when_torch_was_built_without_cuda(registry, planned, monkeypatch):
    monkeypatch.setenv("FEATBENCH_GPU_CELLS_PER_THREAD", "1")  # every gpu_preferred job would qualify
    placed, executor = _place(registry, planned, monkeypatch, torch_cuda=None)
    assert {s.device for s in placed} == {"cpu"} and executor.gpu_ids == []


def test_explicit_modes_and_a_pinned_gpu(registry, planned, monkeypatch):
    placed, executor = _place(registry, planned, monkeypatch, mode="cpu")
    assert {s.device for s in placed} == {"cpu"}
    placed, executor = _place(registry, planned, monkeypatch, mode="cuda:1")
    assert {s.device for s in placed} == {"cuda:1"} and executor.gpu_ids == ["1"]
    assert executor.layout(placed) == ["1", "1", "1", "1"], "explicit CUDA: every worker on the named GPU"
    placed, executor = _place(registry, planned, monkeypatch, mode="cuda", gpu_workers=1)
    assert executor.layout(placed) == ["0"], "bounded to one GPU worker, no CPU job left for others"


# --------------------------------------------------------------------------- the workers' environments


def test_local_executor_cpu_workers_see_no_gpu_and_gpu_workers_each_their_own(registry, planned, monkeypatch):
    """Three real workers for 2 jobs given CUDA and 2 CPU jobs, with 2 fake GPUs: the environment each worker
    process was started with (``/proc/<pid>/environ``, i.e. before it imported anything) names its GPU."""
    from bench_core.execute import local

    if not Path("/proc/self/environ").exists():
        pytest.skip("needs /proc")
    monkeypatch.setenv("FEATBENCH_METHOD_PROCESS", "0")  # no method processes: faster, same routing
    environ: dict[int, str | None] = {}
    original = local._Slot.__init__

    def spying_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        proc = Path(f"/proc/{self.process.pid}")
        deadline = time.monotonic() + 60
        while b"spawn_main" not in (proc / "cmdline").read_bytes():  # until the child has exec'd python
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.01)
        raw = (proc / "environ").read_bytes().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
        environ[self.process.pid] = env.get("CUDA_VISIBLE_DEVICES")

    monkeypatch.setattr(local._Slot, "__init__", spying_init)
    sel = [s for s in planned.pending if s.track == "selectors" and s.method in ("random", "anova_f")][:2]
    assert len(sel) == 2
    specs = [dataclasses.replace(sel[0], device="cuda"), dataclasses.replace(sel[1], device="cuda"),
             dataclasses.replace(sel[0], device="cpu", key="c" * 64), dataclasses.replace(sel[1], device="cpu", key="d" * 64)]
    executor = local.LocalExecutor(workers=3, threads=1, device="auto")
    executor.gpu_ids, executor.gpu_workers = ["0", "1"], 2
    ran: dict[str, tuple[int, str, str]] = {}
    executor.run(specs, lambda spec, out: ran.__setitem__(spec.key, (out.get("pid"), spec.device, out["status"])))
    assert sorted(environ.values()) == ["", "0", "1"], environ
    assert set(ran) == {s.key for s in specs}
    for key, (pid, device, status) in ran.items():
        assert pid in environ, (key, pid)
        if device == "cuda":
            assert environ[pid] in ("0", "1"), "a job given CUDA runs on a GPU worker"
            # there is no CUDA here: the GPU worker says so plainly
            assert status == "error"
        else:
            assert status == "done"
    cuda_pids = {ran[s.key][0] for s in specs if s.device == "cuda"}
    assert all(environ[p] for p in cuda_pids)


# ------------------------------------------------------------------------------------------ provenance


def test_a_cuda_result_records_its_gpu_and_validates(tmp_path, monkeypatch):
    import torch

    from bench_core.execute.jobs import JobSpec
    from bench_core.execute.run import Recorder
    from bench_core.store import Store, json_schema

    class Props:
        name, total_memory = "NVIDIA H100 80GB HBM3", 85_520_809_984

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: Props())
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(devices, "_smi_gpus", lambda: [
        {"index": "3", "uuid": "GPU-x", "name": "NVIDIA H100 80GB HBM3", "memory_mib": "81559", "driver": "550.54.15"}])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    gpu = devices.gpu_environment()
    assert gpu == {"name": "NVIDIA H100 80GB HBM3", "memory_gb": 79.6, "cuda": "12.4", "driver": "550.54.15",
                   "visible_id": "3", "count": 1}

    store = Store(tmp_path / "results")
    rec = Recorder(store, "local")
    spec = JobSpec(key="e" * 64, track="selectors", method="m", method_version="1", params={}, variant="m",
                   dataset="d", dataset_fingerprint="f" * 64, split=0, seed=0, profile="quick", protocol_version=1,
                   settings={}, device="cuda")
    cpu_spec = dataclasses.replace(spec, key="f" * 64, device="cpu")
    rec.on_result(spec, {"status": "done", "scores": {"x": 1.0}, "device": "cuda", "gpu": gpu, "environment": {}})
    rec.on_result(cpu_spec, {"status": "done", "scores": {"x": 1.0}, "device": "cpu", "environment": {}})
    files = {json.loads(p.read_text())["key"]: json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")}
    for r in files.values():
        jsonschema.validate(r, json_schema())
    assert files["e" * 64]["provenance"]["device"] == "cuda"
    assert files["e" * 64]["provenance"]["gpu"]["name"] == "NVIDIA H100 80GB HBM3"
    assert files["e" * 64]["provenance"]["gpu"]["driver"] == "550.54.15"
    assert files["f" * 64]["provenance"]["gpu"] is None


# ------------------------------------------------------------------------------------------ compare


def _records(device, values, method="alpha", dataset="d1"):
    from test_leaderboard_compare import record

    out = []
    for s, v in enumerate(values):
        r = record(dataset, method, s, primary=v)
        r["provenance"]["device"] = device
        out.append(r)
    return out


def test_compare_across_devices_says_so_and_never_regresses(tmp_path):
    from bench_core.compare import compare, load_baseline
    from bench_core.leaderboard import build, write

    cpu_base = _records("cpu", [0.85, 0.86, 0.84]) + _records("cpu", [0.7, 0.7, 0.7], method="beta")
    write(build(cpu_base, None, "quick"), tmp_path / "cpu" / "quick", ["json"])
    baseline = load_baseline(tmp_path / "cpu" / "quick")
    cell = next(c for c in baseline["selectors"]["datasets"]["d1"]["cells"] if c["variant"] == "alpha")
    assert cell["devices"] == {"cpu": 3} and baseline["selectors"]["provenance"]["devices"] == {"cpu": 6}

    # alpha on CUDA scores far lower (the issue's quickselection: 0.85 on the CPU, 0.56 on CUDA); beta on the CPU
    # regressed for real
    current = _records("cuda:0", [0.56, 0.57, 0.55]) + _records("cpu", [0.5, 0.5, 0.5], method="beta")
    report = compare(baseline, current, None)
    verdict = {r.variant: r for r in report.rows}
    assert verdict["alpha"].verdict == "other-device" and verdict["alpha"].delta is None
    assert "baseline on cpu, here on cuda" in verdict["alpha"].note
    assert verdict["beta"].verdict == "regressed", "like with like is still compared"
    text = report.markdown()
    assert "**The sides ran on different devices**: 1 cell(s) ran on cuda here and on cpu in the baseline" in text
    assert "1 regressed" in text and "1 other-device" in text

    report = compare(baseline, _records("cuda", [0.56, 0.57, 0.55]) + _records("cpu", [0.7, 0.7, 0.7], "beta"), None)
    assert not report.failed and report.counts["other-device"] == 1 and report.counts["unchanged"] == 1

    # a CUDA baseline against CUDA results: like with like, a real regression is reported
    write(build(_records("cuda", [0.56, 0.57, 0.55]), None, "quick"), tmp_path / "gpu" / "quick", ["json"])
    report = compare(load_baseline(tmp_path / "gpu" / "quick"), _records("cuda", [0.3, 0.3, 0.3]), None)
    assert [r.verdict for r in report.rows] == ["regressed"] and report.failed


def test_a_baseline_that_records_no_device_is_taken_as_cpu(tmp_path):
    from bench_core.compare import compare, load_baseline
    from bench_core.leaderboard import build, write

    write(build(_records("cpu", [0.85, 0.86, 0.84]), None, "quick"), tmp_path / "lb" / "quick", ["json"])
    path = tmp_path / "lb" / "quick" / "selectors.json"
    data = json.loads(path.read_text())
    del data["provenance"]["devices"]
    for block in data["datasets"].values():
        for c in block["cells"]:
            del c["devices"]
    path.write_text(json.dumps(data))
    baseline = load_baseline(tmp_path / "lb" / "quick")
    assert compare(baseline, _records("cpu", [0.85, 0.86, 0.84]), None).rows[0].verdict == "unchanged"
    assert compare(baseline, _records("cuda", [0.2, 0.2, 0.2]), None).rows[0].verdict == "other-device"


# ------------------------------------------------------------------------------------------ slurm


def test_slurm_asks_for_a_gpu_only_for_jobs_given_cuda(registry, planned, monkeypatch):
    from bench_core.execute.slurm import SlurmExecutor

    spec = planned.pending[0]
    ex = SlurmExecutor(device="auto")
    assert ex.cuda_info().count == 0, "auto without the gpus option: the driver sees no GPU, asks for none"
    assert ex._resources(dataclasses.replace(spec, device="cpu"))[0] == 0
    ex = SlurmExecutor(device="auto", options={"gpus": 1})
    assert ex.cuda_info().count == 1
    assert ex._resources(dataclasses.replace(spec, device="cuda"))[0] == 1
    assert ex._resources(dataclasses.replace(spec, device="cpu"))[0] == 0
    # with the option, auto picks per job exactly as locally (the quick sizes: all on the CPU)
    placed = devices.place(registry, planned.pending, "auto", ex, threads=1)
    assert {s.device for s in placed} == {"cpu"}
    monkeypatch.setenv("FEATBENCH_GPU_CELLS_PER_THREAD", "10000")
    placed = devices.place(registry, planned.pending, "auto", ex, threads=1)
    gpu_jobs = [s for s in placed if s.device == "cuda"]
    assert gpu_jobs and all(registry.method(s.track, s.method).tags.gpu_preferred for s in gpu_jobs
                            if s.track == "selectors")
    assert {ex._resources(s)[0] for s in gpu_jobs} == {1}


def test_gpu_workers_must_be_positive(registry, tmp_path):
    from bench_core.errors import UsageError
    from bench_core.execute.run import RunRequest, plan_run, results_store

    req = RunRequest(datasets=["breast_cancer"], methods=["random"], profile="smoke", gpu_workers=0,
                     results=str(tmp_path / "r"))
    with pytest.raises(UsageError, match=r"^--gpu-workers must be >= 1, not 0 \(use --device cpu for no GPU\)$"):
        plan_run(registry, req, results_store(req))
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.json"))


@pytest.mark.parametrize("bad", ["many", "0", "-5", "1e6"])
def test_a_malformed_threshold_is_refused_before_anything_runs(monkeypatch, bad):
    from bench_core.errors import UsageError
    from bench_core.execute.run import check_device

    monkeypatch.setenv("FEATBENCH_GPU_CELLS_PER_THREAD", bad)
    with pytest.raises(UsageError, match=r"^FEATBENCH_GPU_CELLS_PER_THREAD must be a positive integer, not "):
        check_device("auto")
    monkeypatch.setenv("FEATBENCH_GPU_CELLS_PER_THREAD", "1000")
    check_device("auto")
    assert devices.DevicePolicy().cells_per_thread == 1000
