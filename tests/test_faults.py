"""The fault-injection suite (issue 6): hostile plugins, careless users, damaged files, full disks.

Every item of the hardening issue has a test here, next to the faults that already worked (so that they stay
working). A fault is *recorded as intended* when its job gets the status and message the README promises and
the run goes on; a *bad input* must give one line on stderr, exit status 2, no traceback and nothing
written. The counts quoted in the hardening note are the lengths of the tables below (``RUNTIME_FAULTS``,
``LOAD_FAULTS``, ``BAD_INPUTS`` and friends), each asserted case by case.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli

TINY = ["--dataset", "fbtest_tiny", "--profile", "smoke", "--no-progress"]


def _records(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(root).rglob("*.json"))]


def _no_traceback(proc) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr[-3000:]


def _one_line_exit_2(proc, *fragments) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("featbench: error: "), lines[0]
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.fixture
def env(cli_env, tmp_path):
    e = dict(cli_env)
    e["FEATBENCH_PLUGIN_MODULES"] = "fbtest.data,fbtest.faulty,fbtest.hostile"
    e["FEATBENCH_SPY_DIR"] = str(tmp_path / "spy")
    e["FEATBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    return e


# ============================================================================ 1-4: results are never lost


def test_results_path_that_is_a_file_is_refused_before_any_job(env, tmp_path):
    f = tmp_path / "f"
    f.write_text("")
    proc = run_cli(["run", "--method", "anova_f", *TINY, "--results", str(f)], env=env)
    _one_line_exit_2(proc, str(f), "not a directory")
    assert f.read_text() == ""
    assert not (tmp_path / "cache" / "datasets").exists(), "nothing is materialised for a refused run"


def _mount_tmpfs(where: Path, size: str, ro: bool = False) -> None:
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root on Linux to mount a small tmpfs")
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if ro else "")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mount is not permitted here: {r.stderr.strip()}")


@pytest.fixture
def small_fs(tmp_path):
    mounts: list[Path] = []

    def make(size: str, ro: bool = False) -> Path:
        where = tmp_path / f"mnt{len(mounts)}"
        _mount_tmpfs(where, size, ro)
        mounts.append(where)
        return where

    yield make
    for m in mounts:
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


def test_read_only_results_directory_is_refused_before_any_job(env, small_fs):
    ro = small_fs("1m", ro=True)
    proc = run_cli(["run", "--method", "anova_f", *TINY, "--results", str(ro / "results")], env=env)
    _one_line_exit_2(proc, "results directory", "not writable")


def test_disk_full_mid_run_stops_loudly_with_a_non_zero_exit(env, small_fs):
    fs = small_fs("64k")
    results = fs / "results"
    proc = run_cli(["run", "--method", "noop", *TINY, "--seeds", "20", "--results", str(results)], env=env,
                   timeout=300)
    assert proc.returncode not in (0, 2), (proc.returncode, proc.stderr[-2000:])
    _no_traceback(proc)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("featbench: error: cannot store a result") and "No space left on device" in last, last
    assert "the run stopped" in last
    stored = _records(results)
    assert 0 < len(stored) < 20, "the filesystem is full part way through the run"
    assert all(r["status"] == "done" for r in stored)
    assert not list(results.rglob("*.tmp")), "a failed write leaves no temporary file"


def test_inline_executor_survives_a_method_that_calls_sys_exit(env, tmp_path):
    results = tmp_path / "r"
    proc = run_cli(["run", "--method", "hostile-exit0,anova_f", *TINY, "--seeds", "2", "--executor", "inline",
                    "--results", str(results)], env=env)
    assert proc.returncode == 0, proc.stderr
    _no_traceback(proc)
    assert "results: 2 done, 2 error" in proc.stderr
    recs = _records(results)
    assert len(recs) == 4
    bad = [r for r in recs if r["method"] == "hostile-exit0"]
    assert [r["status"] for r in bad] == ["error", "error"]
    assert bad[0]["error"]["type"] == "SystemExit" and "exit(0)" in bad[0]["error"]["message"]


def test_damaged_result_files_are_named_then_re_run(env, tmp_path):
    results = tmp_path / "r"
    args = ["run", "--method", "anova_f", *TINY, "--seeds", "4", "--results", str(results)]
    assert run_cli(args, env=env).returncode == 0
    files = sorted(results.rglob("*.json"))
    assert len(files) == 4
    truncated, garbage, wrong_key = files[0], files[1], files[2]
    truncated.write_bytes(truncated.read_bytes()[:100])
    garbage.write_bytes(b"\x00\xffnot json at all")
    rec = json.loads(wrong_key.read_text())
    rec["key"] = "0" * 64
    wrong_key.write_text(json.dumps(rec))

    lb = run_cli(["leaderboard", "--results", str(results), "--profile", "smoke", "--out", str(tmp_path / "lb")],
                 env=env)
    assert lb.returncode == 0, lb.stderr
    for p in (truncated, garbage, wrong_key):
        assert str(p) in lb.stderr, f"the leaderboard does not name the damaged file {p}"
    assert "damaged result file" in lb.stderr

    proc = run_cli(args, env=env)
    assert proc.returncode == 0, proc.stderr
    for p in (truncated, garbage, wrong_key):
        assert str(p) in proc.stderr, f"the run does not name the damaged file {p}"
    assert "3 to run, 1 already done" in proc.stderr
    assert len(_records(results)) == 4 and {r["status"] for r in _records(results)} == {"done"}


# ============================================================= 5, 10: no plugin ends a run green or crashes it

LOAD_FAULTS = {
    "fbtest.import_exit0": "import failed: SystemExit: 0",
    "fbtest.import_exit4": "import failed: SystemExit: 4",
    "fbtest.import_kbint": "import failed: KeyboardInterrupt",
    "fbtest.hook_exit": "registration failed: SystemExit: 0",
}


def test_plugins_that_exit_or_interrupt_at_load_are_listed_as_broken(env, tmp_path):
    env = dict(env, FEATBENCH_PLUGIN_MODULES="fbtest.data," + ",".join(LOAD_FAULTS))
    proc = run_cli(["list", "--json"], env=env)
    assert proc.returncode == 0, proc.stderr
    _no_traceback(proc)
    plugins = {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}
    for module, reason in LOAD_FAULTS.items():
        assert plugins[module]["status"] == "broken" and reason in plugins[module]["reason"], plugins[module]
    results = tmp_path / "r"
    proc = run_cli(["run", "--method", "anova_f", *TINY, "--seeds", "1", "--results", str(results)], env=env)
    assert proc.returncode == 0, proc.stderr
    _no_traceback(proc)
    assert "results: 1 done" in proc.stderr
    assert [r["status"] for r in _records(results)] == ["done"]


RUNTIME_FAULTS = {  # method: (status, fragment of the message); run together under the local executor
    "fault-raise": ("error", "deliberate failure"),
    "fault-nan": ("invalid", "non-finite"),
    "fault-shape": ("invalid", "shape (7,), expected (8,)"),
    "fault-range": ("invalid", "outside [0, 8)"),
    "fault-abort": ("crashed", "SIGABRT"),
    "fault-memory": ("oom", "over the cap of 200 MiB"),
    "hostile-exit0": ("error", "exit(0)"),
    "hostile-exit4": ("error", "exit(4)"),
    "hostile-kbint": ("error", "KeyboardInterrupt"),
    "hostile-base": ("error", "a bare BaseException"),
    "hostile-badstr": ("error", "could not be rendered"),
}


def test_runtime_faults_are_recorded_as_intended(env, tmp_path):
    results = tmp_path / "r"
    methods = ",".join([*RUNTIME_FAULTS, "anova_f"])
    proc = run_cli(["run", "--method", methods, *TINY, "--seeds", "1", "-j", "2", "--results", str(results)],
                   env=env)
    assert proc.returncode == 0, proc.stderr
    _no_traceback(proc)
    recs = {r["method"]: r for r in _records(results)}
    assert set(recs) == set(RUNTIME_FAULTS) | {"anova_f"}
    for method, (status, fragment) in RUNTIME_FAULTS.items():
        assert recs[method]["status"] == status, (method, recs[method]["status"], recs[method]["error"])
        assert fragment in recs[method]["error"]["message"], (method, recs[method]["error"])
    assert recs["hostile-badstr"]["error"]["type"] == "_Unprintable"
    assert recs["anova_f"]["status"] == "done"


# ================================================================================== 6: limits hold


def test_a_method_cannot_reset_its_step_deadline(env, tmp_path):
    """hostile-step fits for 20 s while calling ctx.step from its fit and from a thread every 0.3 s."""
    import re

    results = tmp_path / "r"
    proc = run_cli(["run", "--method", "hostile-step", *TINY, "--seeds", "1", "--timeout", "3",
                    "--results", str(results)], env=env)
    assert proc.returncode == 0, proc.stderr
    (rec,) = _records(results)
    assert rec["status"] == "timeout", rec["error"]
    assert "a step ran over the 3 s limit in its first step" in rec["error"]["message"], rec["error"]
    killed_after = float(re.search(r"worker killed after (\d+) s", rec["error"]["message"]).group(1))
    assert killed_after < 10, "the 20 s fit must be killed near its 3 s limit"


@pytest.mark.parametrize("resources", [
    dict(timeout_s=float("nan")), dict(timeout_s=float("inf")), dict(timeout_s=True), dict(timeout_s=-1),
    dict(memory_mb=1e-9), dict(memory_mb=float("inf")), dict(memory_mb=float("nan")), dict(memory_mb=False),
])
def test_resource_declarations_that_switch_limits_off_are_refused(resources):
    from bench_core.errors import DeclarationError
    from bench_core.tracks.base import Resources

    with pytest.raises(DeclarationError, match="resources"):
        Resources(**resources).validate()


def test_profile_overrides_for_an_unknown_profile_are_refused():
    from bench_core.errors import DeclarationError
    from bench_core.tracks.selectors import Selector

    class Typo(Selector):
        """Overrides a profile that does not exist."""

        name, version = "typo", "1"
        params = {"epochs": 10}
        profile_params = {"quikc": {"epochs": 1}}

        def rank(self, X, y, ctx):
            return np.zeros(X.shape[1])

    with pytest.raises(DeclarationError, match="unknown profile 'quikc'"):
        Typo.validate_declaration()


# ===================================================================== 11-13: bad input, one line, exit 2


@pytest.fixture
def bad_cards(tmp_path):
    """A directory of cards for fbtest.baddata (each test writes the ones it needs)."""
    d = tmp_path / "cards"
    d.mkdir()
    return d


CARD = """name = "{name}"
title = "bad"
tracks = [{tracks}]
task = "{task}"
tier = "full"

[source]
loader = "fbtest.bad"
params = {{ kind = "{kind}" }}

[preprocess]
impute = "{impute}"

[split]
method = "stratified_shuffle"
n_splits = 3
seed = {seed}
"""


def _card(d: Path, name: str, kind: str = "nan", tracks: str = '"selectors"', task: str = "classification",
          impute: str = "none", seed: int = 0) -> Path:
    p = d / f"{name}.toml"
    p.write_text(CARD.format(name=name, kind=kind, tracks=tracks, task=task, impute=impute, seed=seed))
    return p


BAD_INPUTS = [  # (extra run arguments, fragments of the one line)
    (["--method", ""], ["--method", "empty"]),
    (["--dataset", ""], ["--dataset", "empty"]),
    (["--track", ""], ["--track", "empty"]),
    (["--method", ","], ["--method", "empty"]),
    (["--seeds", ","], ["--seeds"]),
    (["--seeds", "30000000"], ["--seeds", "at most"]),
    (["--seeds", "0,30000000"], ["--seeds", "at most"]),
    (["--threads", "-4"], ["--threads", ">= 1"]),
    (["--threads", "0"], ["--threads", ">= 1"]),
    (["--timeout", "nan"], ["--timeout", "finite positive number"]),
    (["--timeout", "inf"], ["--timeout", "finite positive number"]),
    (["--job-timeout", "nan"], ["--job-timeout", "finite positive number"]),
    (["--memory-cap", "nan"], ["--memory-cap", "finite positive number"]),
    (["--memory-cap=-inf"], ["--memory-cap", "finite positive number"]),
    (["--jobs", "-1"], ["--jobs must be >= 1"]),
    (["--device", "cuda:x"], ["unknown device"]),
    (["--gpu-workers", "0"], ["--gpu-workers must be >= 1", "--device cpu"]),
]


@pytest.mark.parametrize("extra, fragments", BAD_INPUTS, ids=[" ".join(a) for a, _f in BAD_INPUTS])
def test_bad_run_options_get_one_line_and_exit_2(extra, fragments, env, tmp_path):
    results = tmp_path / "r"
    args = ["run", "--method", "anova_f", "--dataset", "fbtest_tiny", "--profile", "smoke", "--no-progress",
            "--results", str(results), *extra]
    t0 = time.monotonic()
    proc = run_cli(args, env=env)
    _one_line_exit_2(proc, *fragments)
    assert not results.exists() and not (tmp_path / "cache").exists(), "nothing is written on bad input"
    assert time.monotonic() - t0 < 60


def test_cuda_requested_without_cuda_is_refused(env, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    results = tmp_path / "r"
    for device in ("cuda", "cuda:0"):
        proc = run_cli(["run", "--method", "anova_f", *TINY, "--device", device, "--results", str(results)], env=env)
        _one_line_exit_2(proc, f"device {device!r}", "CUDA is not available")
    assert not results.exists()


def test_unusable_paths_get_one_line_and_exit_2(env, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    results = tmp_path / "r"
    base = ["run", "--method", "anova_f", *TINY, "--results", str(results)]
    _one_line_exit_2(run_cli([*base, "--cache-dir", str(a_file)], env=env), "cache directory", str(a_file))
    _one_line_exit_2(run_cli([*base, "--data-dir", str(tmp_path / "nowhere")], env=env),
                     "data directory", "does not exist")
    assert not results.exists()
    # leaderboard --out naming a file (with results to build from)
    assert run_cli([*base, "--seeds", "1"], env=env).returncode == 0
    proc = run_cli(["leaderboard", "--results", str(results), "--profile", "smoke", "--out", str(a_file)], env=env)
    _one_line_exit_2(proc, "--out", str(a_file))
    assert a_file.read_text() == "x"


def _bad_env(env, cards: Path) -> dict:
    return dict(env, FEATBENCH_PLUGIN_MODULES="fbtest.data,fbtest.baddata", FEATBENCH_BADDATA_CARDS=str(cards))


@pytest.mark.parametrize("kind, fragment", [("nan", "NaN"), ("inf", "infinite"), ("oneclass", "one class"),
                                            ("nan_label", "label")])
def test_bad_data_is_refused_with_the_cards_name(kind, fragment, env, bad_cards, tmp_path):
    card = _card(bad_cards, f"bad_{kind}", kind=kind)
    before = card.read_text()
    e = _bad_env(env, bad_cards)
    proc = run_cli(["datasets", "verify", f"bad_{kind}", "--write"], env=e)
    _one_line_exit_2(proc, f"bad_{kind}", fragment)
    assert card.read_text() == before, "a refused card is not written"
    proc = run_cli(["run", "--method", "anova_f", "--dataset", f"bad_{kind}", "--profile", "smoke",
                    "--no-progress", "--results", str(tmp_path / "r")], env=e)
    _one_line_exit_2(proc, f"bad_{kind}", fragment)
    assert not (tmp_path / "r").exists()


def test_declared_missing_values_and_unlabelled_non_classification_data_are_accepted(bad_cards, monkeypatch):
    from bench_core.data.dataset import materialise
    from bench_core.registry import load_registry

    _card(bad_cards, "nan_imputed", kind="nan", impute="mean")
    _card(bad_cards, "one_class_activations", kind="oneclass", tracks='"saes"', task="activations")
    monkeypatch.setenv("FEATBENCH_BADDATA_CARDS", str(bad_cards))
    reg = load_registry(env={"FEATBENCH_PLUGIN_MODULES": "fbtest.baddata"})
    assert not reg.card_errors, reg.card_errors
    ds, _ = materialise(reg.card("nan_imputed"), reg.loader_fns, reg.reader_fns, None, verify=False)
    assert np.isnan(ds.X).sum() == 1 and np.isfinite(ds.split(0).X_train).all()
    ds, _ = materialise(reg.card("one_class_activations"), reg.loader_fns, reg.reader_fns, None, verify=False)
    assert ds.n_classes == 1


@pytest.mark.parametrize("case, fragment", [
    ("unknown_track", "unknown track 'selectorz'"),
    ("negative_seed", "seed must be"),
    ("undecodable", "not UTF-8"),
])
def test_bad_cards_are_named_in_one_line(case, fragment, env, bad_cards, tmp_path):
    if case == "unknown_track":
        _card(bad_cards, "c", kind="nan", tracks='"selectorz"')
    elif case == "negative_seed":
        _card(bad_cards, "c", kind="nan", seed=-1)
    else:
        p = _card(bad_cards, "c", kind="nan")
        p.write_bytes(p.read_bytes().replace(b'title = "bad"', b'title = "\xff\xfe"'))
    e = _bad_env(env, bad_cards)
    proc = run_cli(["run", "--method", "anova_f", "--dataset", "c", "--profile", "smoke", "--no-progress",
                    "--results", str(tmp_path / "r")], env=e)
    _one_line_exit_2(proc, "c.toml", fragment)
    listing = run_cli(["list"], env=e)
    assert listing.returncode == 0
    assert "fbtest.baddata" in listing.stdout and "broken: " not in listing.stdout.split("fbtest.baddata")[1].splitlines()[0], \
        "a bad card must not break the plugin that provides it"


# ============================================================================ 9: plugin output is captured


def test_plugin_output_is_captured_bounded_and_kept_off_the_terminal(env, tmp_path):
    results = tmp_path / "r"
    proc = run_cli(["run", "--method", "hostile-print", *TINY, "--seeds", "1", "--results", str(results)], env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(proc.stdout) + len(proc.stderr) < 20_000, "the method's 40 MiB reached the terminal"
    (rec,) = _records(results)
    assert rec["status"] == "done"
    log = rec["log"]
    assert log["bytes"] >= 2 * 20 * 2**20, "every byte the method wrote is counted"
    assert len(log["tail"]) <= 8192 and log["tail"].rstrip().endswith("LAST-LINE-OF-CHATTY")


def test_output_of_a_failing_method_is_kept_with_its_error(env, tmp_path):
    results = tmp_path / "r"
    proc = run_cli(["run", "--method", "fault-raise", *TINY, "--seeds", "1", "--results", str(results)], env=env)
    assert proc.returncode == 0
    (rec,) = _records(results)
    assert rec["status"] == "error" and rec["log"]["bytes"] == len(rec["log"]["tail"].encode())


# ===================================================================== 7: child processes cannot escape


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _spied_pids(spy: Path, prefix: str) -> list[int]:
    return [int(p.read_text()) for p in spy.glob(f"{prefix}-*")]


@pytest.mark.skipif(sys.platform != "linux", reason="process trees are read from /proc")
def test_memory_of_a_methods_children_counts_against_the_cap(env, tmp_path):
    results = tmp_path / "r"
    proc = run_cli(["run", "--method", "hostile-child-memory", *TINY, "--seeds", "1", "--memory-cap", "200",
                    "--results", str(results)], env=env)
    assert proc.returncode == 0, proc.stderr
    (rec,) = _records(results)
    assert rec["status"] == "oom", rec["error"]
    assert "over the cap of 200 MiB" in rec["error"]["message"]
    assert "child-memory: child started" in rec["log"]["tail"], "the killed job's output is kept"
    pids = _spied_pids(Path(env["FEATBENCH_SPY_DIR"]), "child-memory")
    assert pids and not any(_alive(p) for p in pids), "the child is killed with its worker"


def test_drain_pipe_takes_what_is_left_and_never_blocks():
    from bench_core.execute.capture import drain_pipe

    r, w = os.pipe()
    try:
        assert drain_pipe(r) == (0, b""), "an empty pipe with a live writer: nothing, at once"
        os.write(w, b"a" * 5000 + b"b" * 5000)
        assert drain_pipe(r, keep=6) == (10000, b"bbbbbb")
        os.write(w, b"xyz")
        os.close(w)
        w = None
        assert drain_pipe(r) == (3, b"xyz")
        assert drain_pipe(r) == (0, b""), "end of file"
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def test_read_mirror_appends_the_drained_bytes_up_to_a_marker(tmp_path):
    from bench_core.execute.capture import read_mirror

    mirror = tmp_path / "m"
    mirror.write_bytes(b"%19d\n" % 4 + b"abc\n")
    assert read_mirror(mirror) == {"bytes": 4, "tail": "abc\n"}
    assert read_mirror(mirror, extra=(7, b"def\nghi")) == {"bytes": 11, "tail": "abc\ndef\nghi"}
    assert read_mirror(mirror, limit=5, extra=(7, b"def\nghi")) == {"bytes": 11, "tail": "f\nghi"}
    # 1000 bytes drained, the last 25 kept: "zz", an end-of-job marker and a byte of the next job's output
    kept = b"zz" + b"\0featbench-capture-ab\0" + b"n"
    assert read_mirror(mirror, extra=(1000, kept)) == {"bytes": 4 + 1000 - (len(kept) - 2), "tail": "abc\nzz"}
    assert read_mirror(tmp_path / "missing") is None


@pytest.mark.skipif(sys.platform != "linux", reason="the method reads its worker's state from /proc")
def test_output_still_in_the_pipe_when_the_worker_is_killed_is_kept(env, tmp_path):
    """The method stops the worker (so its reader thread cannot take the line), prints, and sleeps past the
    limit: the line is read from the pipe by the parent. (CI once lost the line of hostile-child-memory when the
    tree was killed for memory a few milliseconds after the print, before the worker's reader thread ran.)"""
    results = tmp_path / "r"
    proc = run_cli(["run", "--method", "hostile-mute-worker", *TINY, "--seeds", "1", "--timeout", "3",
                    "--results", str(results)], env=env)
    assert proc.returncode == 0, proc.stderr
    (rec,) = _records(results)
    assert rec["status"] == "timeout", rec["error"]
    assert rec["log"]["tail"].endswith("mute: written while the worker was stopped\n"), rec["log"]
    assert rec["log"]["bytes"] == len(rec["log"]["tail"].encode())


@pytest.mark.skipif(sys.platform != "linux", reason="process trees are read from /proc")
@pytest.mark.parametrize("sleep, status", [(0.0, "done"), (30.0, "timeout")])
def test_children_never_outlive_their_job(sleep, status, env, tmp_path):
    results = tmp_path / "r"
    proc = run_cli(["run", "--method", f"hostile-orphan", *TINY, "--seeds", "1", "--timeout", "4",
                    "--results", str(results)], env=dict(env, FEATBENCH_ORPHAN_SLEEP=str(sleep)))
    assert proc.returncode == 0, proc.stderr
    (rec,) = _records(results)
    assert rec["status"] == status, rec["error"]
    assert "orphan: children started" in rec["log"]["tail"], "the output is kept, even of a killed job"
    pids = _spied_pids(Path(env["FEATBENCH_SPY_DIR"]), "orphan")
    assert len(pids) >= 2
    deadline = time.time() + 5
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    alive = [p for p in pids if _alive(p)]
    for p in alive:  # leave nothing behind even when the test fails
        os.kill(p, signal.SIGKILL)
    assert not alive, "a child (or a double-forked grandchild) outlived its job"


# ============================================================ kill test: workers SIGKILLed mid-job


def _workers_of(pid: int) -> list[int]:
    out = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for c in children.read_text().split():
            try:
                cmd = Path(f"/proc/{c}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmd:
                out.append(int(c))
    return out


@pytest.mark.skipif(sys.platform != "linux", reason="process trees are read from /proc")
def test_workers_sigkilled_mid_job_are_recorded_and_replaced(env, tmp_path):
    results = tmp_path / "r"
    args = ["run", "--method", "slow-ok", *TINY, "--seeds", "8", "-j", "1", "--results", str(results)]
    driver = subprocess.Popen([sys.executable, "-m", "bench_core", *args], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    killed = 0
    deadline = time.time() + 240
    while killed < 3 and time.time() < deadline and driver.poll() is None:
        n_before = len(list(results.rglob("*.json")))
        workers = _workers_of(driver.pid)
        if workers and n_before >= 1 + 2 * killed:  # the worker is warm and inside a job
            time.sleep(0.2)
            os.kill(workers[0], signal.SIGKILL)
            killed += 1
            while time.time() < deadline and _workers_of(driver.pid) == workers:
                time.sleep(0.05)
        time.sleep(0.05)
    out, err = driver.communicate(timeout=300)
    assert killed == 3, "the three kills must land while the run is going"
    assert driver.returncode == 0, err
    assert "Traceback" not in err + out, err[-3000:]
    recs = _records(results)
    assert len(recs) == 8 and len({r["key"] for r in recs}) == 8
    crashed = [r for r in recs if r["status"] == "crashed"]
    assert len(crashed) == 3 and all("SIGKILL" in r["error"]["message"] for r in crashed)
    # the killed jobs' output is kept (what they printed before the kill landed: the fit's first line, or
    # nothing if the kill came first)
    assert all(r["log"] is not None and (not r["log"]["tail"] or "slow-ok: fitting" in r["log"]["tail"])
               for r in crashed)
    assert {r["status"] for r in recs} == {"done", "crashed"}
    again = run_cli(args, env=env)
    assert again.returncode == 0 and "3 to run, 5 already done" in again.stderr, again.stderr
    assert {r["status"] for r in _records(results)} == {"done"}


# ======================================================== 4: concurrent drivers share the work


def test_two_concurrent_drivers_share_the_jobs(env, tmp_path):
    results = tmp_path / "r"
    args = [sys.executable, "-m", "bench_core", "run", "--method", "slow-ok", *TINY, "--seeds", "12", "-j", "1",
            "--results", str(results)]
    drivers = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outs = [d.communicate(timeout=400) for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], [o[1][-2000:] for o in outs]
    import re

    ran = [int(re.search(r"results: (\d+) done", err).group(1)) for _out, err in outs]
    assert sum(ran) == 12, ("each job runs once across both drivers", ran, [o[1] for o in outs])
    assert all(n > 0 for n in ran), ("both drivers did some of the work", ran)
    recs = _records(results)
    assert len(recs) == 12 and len({r["key"] for r in recs}) == 12 and {r["status"] for r in recs} == {"done"}
    assert not list(results.rglob("*.lock")), "every claim is released"


def test_stale_claims_of_dead_drivers_are_taken_over_and_live_ones_respected(env, tmp_path):
    import socket

    results = tmp_path / "r"
    args = ["run", "--method", "anova_f", *TINY, "--seeds", "2", "--results", str(results)]
    plan = run_cli(  # a first run in another directory gives the jobs' keys and result paths
        ["run", "--method", "anova_f", *TINY, "--seeds", "2", "--results", str(tmp_path / "probe")],
                   env=env)
    keys = sorted(p.stem for p in (tmp_path / "probe").rglob("*.json"))
    recs = {json.loads(p.read_text())["seed"]: p for p in (tmp_path / "probe").rglob("*.json")}
    assert plan.returncode == 0 and len(keys) == 2
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    for seed, pid in ((0, dead.pid), (1, os.getpid())):  # seed 0: a dead claimant; seed 1: a live one
        rel = recs[seed].relative_to(tmp_path / "probe")
        lock = (results / rel).with_name(f".{recs[seed].stem}.lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        lock.write_text(json.dumps({"pid": pid, "host": host, "time": time.time()}))
    proc = run_cli(args, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "results: 1 done; 1 left to another driver that had claimed them" in proc.stderr, proc.stderr
    assert [r["seed"] for r in _records(results)] == [0]
    locks = list(results.rglob("*.lock"))
    assert len(locks) == 1 and str(os.getpid()) in locks[0].read_text(), "the live claim is left alone"


# ============================================== 8: plugin code cannot reach test data or other jobs' state


def _snoop_run(env, results: Path, methods: str):
    return run_cli(["run", "--method", methods, *TINY, "--seeds", "2", "-j", "1", "--results", str(results)],
                   env=env)


def test_a_method_cannot_reach_the_dataset_or_tamper_with_later_jobs(env, tmp_path):
    """hostile-snoop walks gc and its caller frames for the Dataset, its splits and the Worker, and zeroes
    every dataset it finds. It runs between anova_f's seed-0 and seed-1 jobs in the same worker (-j 1)."""
    clean = tmp_path / "clean"
    assert _snoop_run(env, clean, "anova_f").returncode == 0
    attacked = tmp_path / "attacked"
    proc = _snoop_run(env, attacked, "anova_f,hostile-snoop")
    assert proc.returncode == 0, proc.stderr
    spy = [json.loads(p.read_text()) for p in Path(env["FEATBENCH_SPY_DIR"]).glob("snoop-*.json")]
    assert len(spy) == 2 + 3  # seed 0: main fit + 3 stability refits (smoke); seed 1: one fit
    for found in spy:
        assert found == {"datasets": 0, "splits": 0, "frames": 0, "workers": 0}, found
    scores = {(r["method"], r["seed"]): r["scores"] for r in _records(attacked)}
    for r in _records(clean):
        assert scores[("anova_f", r["seed"])] == r["scores"], "a later job's scores changed"


@pytest.mark.parametrize("method", ["hostile-exit0", "hostile-kbint"])
def test_the_conformance_kit_fails_a_method_that_exits_or_interrupts(method, env):
    proc = run_cli(["check", method], env=env)
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    _no_traceback(proc)
    assert "failed" in proc.stdout and ("SystemExit" in proc.stdout or "KeyboardInterrupt" in proc.stdout)


def _processes_with(marker: str) -> list[int]:
    """PIDs of live processes whose environment holds ``marker`` (the driver's children inherit it)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if marker.encode() in (d / "environ").read_bytes():
                    status = (d / "status").read_text()
                    if "\nState:\tZ" not in status:  # a zombie is gone already
                        pids.append(int(d.name))
            except OSError:
                continue
    return pids


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_sigterm_stops_the_workers_keeps_the_results_and_exits_143(env, tmp_path):
    """`kill <driver>` (SIGTERM) used to end the driver alone: its workers and method processes, each in its
    own process group, ran on. Now it takes the Ctrl-C path: workers stopped, finished results kept."""
    import signal
    import subprocess
    import uuid

    marker = f"FEATBENCH_TEST_MARK={uuid.uuid4().hex}"
    e = {**env, "FEATBENCH_TEST_MARK": marker.split("=", 1)[1]}
    res = tmp_path / "res"
    args = [sys.executable, "-m", "bench_core", "run", "--profile", "smoke", "--dataset", "breast_cancer",
            "--method", "variance,fault-sleep", "-j", "2", "--results", str(res), "--no-progress"]
    driver = subprocess.Popen(args, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not [p for p in res.rglob("*.json") if "variance" in p.parts]:
            time.sleep(0.2)  # variance has finished: fault-sleep is sleeping in its worker
        assert list(res.rglob("*.json")), "variance never finished"
        assert len(_processes_with(marker)) >= 3  # the driver, its workers, the method process
        driver.send_signal(signal.SIGTERM)
        _out, err = driver.communicate(timeout=60)
    finally:
        driver.kill()
    assert driver.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "finished results are stored" in err
    deadline = time.monotonic() + 15
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(marker) == [], "a worker or method process outlived its driver"
    records = [json.loads(p.read_text()) for p in res.rglob("*.json") if "variance" in p.parts]
    assert [r["status"] for r in records] == ["done"]
