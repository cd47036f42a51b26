"""The opt-in Landlock sandbox of the method process (``featbench run --sandbox landlock``, issue 6 item 8).

With the mode on, a hostile method that reads a file in the data directory, reads a file in the cache
directory or lists the results directory gets ``PermissionError`` (recorded as its own ``error``, the run
goes on and a well-behaved method beside it is ``done``); with the mode off, the same methods succeed. The
mode is refused in one line with exit 2 where it cannot hold: no method process (inline executor,
``FEATBENCH_METHOD_PROCESS=0``), no Landlock in the kernel, a protected directory that a granted path lies in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench_core.execute import sandbox
from conftest import run_cli

HAS_LANDLOCK = sandbox.abi_version() > 0
needs_landlock = pytest.mark.skipif(not HAS_LANDLOCK, reason="this kernel has no Landlock (Linux >= 5.13 with "
                                                              "landlock in its LSM list)")
TINY = ["--dataset", "fbtest_tiny", "--profile", "smoke", "--no-progress", "--seeds", "1"]
SNOOPS = {"hostile-read-data": "data", "hostile-read-cache": "cache", "hostile-list-results": "results"}


@pytest.fixture
def env(cli_env, tmp_path):
    """Cache, data and results directories each holding something to snoop on."""
    e = dict(cli_env)
    e["FEATBENCH_PLUGIN_MODULES"] = "fbtest.data,fbtest.faulty,fbtest.hostile"
    e["FEATBENCH_SPY_DIR"] = str(tmp_path / "spy")
    for d in ("cache", "data"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "secret.txt").write_text(f"a secret in the {d} directory")
    e["FEATBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    e["FEATBENCH_SNOOP_DATA"] = str(tmp_path / "data" / "secret.txt")
    e["FEATBENCH_SNOOP_CACHE"] = str(tmp_path / "cache" / "secret.txt")
    e["FEATBENCH_SNOOP_RESULTS"] = str(tmp_path / "r")
    return e


def _records(root: Path) -> dict[str, dict]:
    return {r["method"]: r for r in (json.loads(p.read_text()) for p in Path(root).rglob("*.json"))}


def _one_line_exit_2(proc, *fragments) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("featbench: error: "), proc.stderr[-2000:]
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@needs_landlock
@pytest.mark.parametrize("mode", ["landlock", "none"])
def test_the_method_process_is_denied_cache_data_and_results_only_in_the_mode(mode, env, tmp_path):
    results = tmp_path / "r"
    proc = run_cli(["run", "--method", ",".join([*SNOOPS, "variance"]), *TINY, "--results", str(results),
                    "--data-dir", str(tmp_path / "data"), "--sandbox", mode], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    recs = _records(results)
    assert set(recs) == {*SNOOPS, "variance"}
    assert recs["variance"]["status"] == "done" and recs["variance"]["scores"]
    for name, what in SNOOPS.items():
        rec = recs[name]
        if mode == "landlock":
            assert rec["status"] == "error", (name, rec["status"], rec["error"])
            assert rec["error"]["type"] == "PermissionError", rec["error"]
            assert str(tmp_path / ("r" if what == "results" else what)) in rec["error"]["message"]
        else:
            assert rec["status"] == "done", (name, rec["error"])


def test_the_mode_is_refused_where_there_is_no_method_process(env, tmp_path):
    base = ["run", "--method", "variance", *TINY, "--results", str(tmp_path / "r"), "--sandbox", "landlock"]
    _one_line_exit_2(run_cli([*base, "--executor", "inline"], env=env), "--sandbox landlock", "method process")
    _one_line_exit_2(run_cli(base, env=dict(env, FEATBENCH_METHOD_PROCESS="0")), "FEATBENCH_METHOD_PROCESS=0")
    assert not (tmp_path / "r").exists()


@needs_landlock
def test_a_protected_directory_holding_a_granted_path_is_refused(env, tmp_path):
    # the data directory /usr holds the system libraries the method process must read
    proc = run_cli(["run", "--method", "variance", *TINY, "--results", str(tmp_path / "r"), "--data-dir", "/usr",
                    "--sandbox", "landlock"], env=env)
    _one_line_exit_2(proc, "--sandbox landlock", "/usr", "protected directory")
    assert not (tmp_path / "r").exists()


def test_the_mode_is_refused_without_landlock(monkeypatch, tmp_path):
    from bench_core.errors import UsageError

    monkeypatch.setattr(sandbox, "abi_version", lambda: 0)
    with pytest.raises(UsageError, match="needs a Linux kernel with Landlock"):
        sandbox.check("landlock", [tmp_path], method_process=True)
    sandbox.check("none", [tmp_path], method_process=False)  # the default needs nothing


def test_grants_narrow_around_protected_directories_and_refuse_what_they_cannot(tmp_path):
    root = tmp_path / "root"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("")
    (root / "top.txt").write_text("")
    (root / "deep" / "cache").mkdir(parents=True)
    (root / "deep" / "sibling").mkdir()
    (root / "link").symlink_to(root / "deep")  # a link to the protected directory's parent: narrowed too
    protected = root / "deep" / "cache"
    rules = {g.path: g.access for g in sandbox.grants([protected], tmp=None, roots=[str(root)])}
    real = {Path(p) for p in rules}
    assert real >= {root.resolve() / "pkg", root.resolve() / "top.txt", root.resolve() / "deep" / "sibling"}
    assert all(not (protected.resolve() == p or protected.resolve().is_relative_to(p)
                    or p.is_relative_to(protected.resolve())) for p in real), real
    assert rules[str(root.resolve() / "pkg")] == sandbox.READ
    with pytest.raises(sandbox.SandboxConflict, match="lies in the protected directory"):
        sandbox.grants([root / "deep"], tmp=None, roots=[str(root / "deep" / "sibling")])


@needs_landlock
def test_restrict_denies_what_is_not_granted_in_a_fresh_process(tmp_path):
    """The restriction itself, in a process of its own: granted reads and the private directory work, the
    protected file, writes elsewhere and signals to the parent are denied."""
    (tmp_path / "protected").mkdir()
    (tmp_path / "protected" / "secret").write_text("s")
    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "ok").write_text("o")
    private = tmp_path / "private"
    private.mkdir()
    code = f"""
import os, sys
from bench_core.execute import sandbox
rules = sandbox.grants([{str(tmp_path / 'protected')!r}], tmp={str(private)!r}, roots=[*sandbox.read_roots(), {str(tmp_path / 'open')!r}])
abi = sandbox.restrict(rules)
out = {{}}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except PermissionError:
        out[name] = "denied"
attempt("read-open", lambda: open({str(tmp_path / 'open' / 'ok')!r}).read())
attempt("read-protected", lambda: open({str(tmp_path / 'protected' / 'secret')!r}).read())
attempt("list-parent", lambda: os.listdir({str(tmp_path)!r}))
attempt("write-private", lambda: open({str(private / 'w')!r}, "w").write("x"))
attempt("write-open", lambda: open({str(tmp_path / 'open' / 'w')!r}, "w").write("x"))
attempt("signal-parent", lambda: os.kill(os.getppid(), 0))
print(abi, out)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    abi, _, rest = proc.stdout.strip().partition(" ")
    got = eval(rest)  # noqa: S307 - our own dict literal
    assert got["read-open"] == "ok" and got["write-private"] == "ok"
    assert got["read-protected"] == got["list-parent"] == got["write-open"] == "denied"
    if int(abi) >= 6:
        assert got["signal-parent"] == "denied"
    assert not (tmp_path / "open" / "w").exists()
