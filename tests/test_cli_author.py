"""The plugin author's loop on the command line (issue 7, part A): failures shown after a run, ``errors``,
``show KEY``, ``run --strict``/``--dry-run``, method variants ``name[p=v]`` and glob filters, "did you mean"
first, the progress phases, ``datasets list --json`` and ``datasets download``, shell completion; and the
packaging: no top-level ``plugins`` in the wheel, the numba cache outside the package, ``lassonet`` an extra.

Most tests call :func:`bench_core.cli.main` in this process (with the inline executor and the smoke profile:
a run is a second or two); the log-capture test uses the local executor once (a worker process).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from io import StringIO
from pathlib import Path

import pytest

from bench_core.cli import main
from bench_core.execute.jobs import canonical_json, job_key

REPO = Path(__file__).resolve().parent.parent


def _cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_usage_error(rc, err, *fragments):
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("featbench: error: ")
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture
def plugins(monkeypatch):
    monkeypatch.setenv("FEATBENCH_PLUGIN_MODULES", "fbtest.faulty,fbtest.author")
    monkeypatch.delenv("FEATBENCH_STRICT_PLUGINS", raising=False)


# ----------------------------------------------------------------------------------------- failures shown


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    """One local-executor run: a method that prints and raises, one that raises, one that works."""
    results = tmp_path_factory.mktemp("author") / "results"
    mp = pytest.MonkeyPatch()
    mp.setenv("FEATBENCH_PLUGIN_MODULES", "fbtest.faulty,fbtest.author")
    mp.setenv("PYTHONPATH", os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    err = StringIO()
    mp.setattr(sys, "stderr", err)
    try:
        rc = main(["run", "--profile", "smoke", "--method", "author-loud-failure,fault-raise,noop", "--dataset",
                   "breast_cancer", "--seeds", "2", "--results", str(results), "--no-progress", "--strict"])
    finally:
        mp.undo()
    return rc, err.getvalue(), results


def test_run_names_each_failed_pair_with_its_reason_and_strict_exits_1(failed_run):
    rc, err, results = failed_run
    assert rc == 1, err
    assert "results: 2 done, 4 error" in err
    lines = err.splitlines()
    head = next(i for i, s in enumerate(lines) if s.startswith("failed: 4 job(s) in 2 (method, dataset) pair(s)"))
    cells = lines[head + 1:head + 3]
    assert any(s.startswith("  author-loud-failure on breast_cancer (selectors, 2 seed(s), key ") and
               s.endswith("error: ValueError: threshold 0.5 is not supported") for s in cells), cells
    assert any(s.startswith("  fault-raise on breast_cancer") and s.endswith("error: RuntimeError: deliberate failure")
               for s in cells), cells
    assert "second line of the message" not in err  # one line per pair: the first line of the error


def test_run_without_strict_exits_0_and_still_lists_failures(plugins, tmp_path, capsys):
    rc, _out, err = _cli(capsys, "run", "--profile", "smoke", "--executor", "inline", "--method", "fault-raise",
                         "--dataset", "breast_cancer", "--seeds", "1", "--results", tmp_path / "r", "--no-progress")
    assert rc == 0
    assert "fault-raise on breast_cancer (selectors, seed 0" in err
    # --strict passes when nothing failed
    rc, _out, err = _cli(capsys, "run", "--profile", "smoke", "--executor", "inline", "--method", "noop",
                         "--dataset", "breast_cancer", "--seeds", "1", "--results", tmp_path / "r", "--no-progress",
                         "--strict")
    assert rc == 0 and "failed:" not in err


def test_summary_caps_the_list_with_and_n_more():
    from bench_core.failures import summary_lines

    recs = [{"status": "timeout", "track": "t", "variant": f"m{i:02d}", "dataset": "d", "seed": 0, "key": f"{i:064x}",
             "error": {"type": "Timeout", "message": "over 5 s"}} for i in range(13)]
    recs.append({"status": "done", "track": "t", "variant": "ok", "dataset": "d", "seed": 0, "key": "f" * 64})
    lines = summary_lines(recs, shown=10)
    assert lines[0].startswith("failed: 13 job(s) in 13 (method, dataset) pair(s)")
    assert len(lines) == 12 and lines[-1] == "  and 3 more"
    assert lines[1] == f"  m00 on d (t, seed 0, key {0:012x}): timeout: Timeout: over 5 s"
    assert summary_lines(recs[-1:]) == []


def test_errors_lists_failed_jobs_with_keys_and_filters(failed_run, plugins, capsys):
    _rc, _err, results = failed_run
    rc, out, err = _cli(capsys, "errors", "--results", results)
    assert rc == 0, err
    rows = [s for s in out.splitlines() if "breast_cancer" in s]
    assert len(rows) == 4
    stored = {p.stem: json.loads(p.read_text()) for p in results.rglob("*.json")}
    failed = {k for k, r in stored.items() if r["status"] == "error"}
    assert {r.split()[0] for r in rows} == {k[:12] for k in failed}
    assert sum("RuntimeError: deliberate failure" in r for r in rows) == 2
    rc, out, _err = _cli(capsys, "errors", "--results", results, "--method", "fault-*")
    assert rc == 0 and sum("breast_cancer" in s for s in out.splitlines()) == 2 and "author-loud" not in out
    rc, out, err = _cli(capsys, "errors", "--results", results, "--method", "noop")
    assert rc == 0 and out == "" and "no failed jobs" in err
    rc, out, _err = _cli(capsys, "errors", "--results", results, "--profile", "quick")
    assert rc == 0 and out == ""
    rc, out, _err = _cli(capsys, "errors", "--results", results, "--dataset", "breast*", "--json")
    data = json.loads(out)
    assert {d["key"] for d in data} == failed and all(d["error"]["traceback"] for d in data)


def test_show_prints_the_traceback_and_the_captured_log(failed_run, plugins, capsys):
    _rc, _err, results = failed_run
    rec = next(json.loads(p.read_text()) for p in results.rglob("*.json")
               if json.loads(p.read_text())["method"] == "author-loud-failure")
    rc, out, err = _cli(capsys, "show", rec["key"][:10], "--results", results)
    assert rc == 0, err
    assert f"key        {rec['key']}" in out
    assert "Traceback (most recent call last)" in out and "raise ValueError" in out
    assert "second line of the message" in out  # the full message
    assert "author-loud-failure: fitting on" in out and "author-loud-failure: about to fail" in out  # log tail
    rc, out, _err = _cli(capsys, "show", rec["key"], "--results", results, "--json")
    assert rc == 0 and json.loads(out) == rec


def test_show_unknown_or_ambiguous_key_is_one_line_exit_2(failed_run, plugins, capsys, tmp_path):
    _rc, _err, results = failed_run
    rc, _out, err = _cli(capsys, "show", "0123456789abcdef0123", "--results", results)
    _one_line_usage_error(rc, err, "no result with key '0123456789abcdef0123'")
    rc, _out, err = _cli(capsys, "show", "not-a-key", "--results", results)
    _one_line_usage_error(rc, err, "is not a job key")
    d = tmp_path / "r" / "t" / "d" / "m"
    d.mkdir(parents=True)
    for k in ("abc1" + "0" * 60, "abc2" + "0" * 60):
        (d / f"{k}.json").write_text(json.dumps({"key": k, "status": "done"}))
    rc, _out, err = _cli(capsys, "show", "abc", "--results", tmp_path / "r")
    _one_line_usage_error(rc, err, "key prefix 'abc' matches 2 results", "give more characters")
    rc, out, _err = _cli(capsys, "show", "abc2", "--results", tmp_path / "r")
    assert rc == 0 and "abc2" in out


# ------------------------------------------------------------------------------------ variants and globs


def test_method_variant_is_keyed_like_a_grid_variant(plugins, tmp_path, capsys, registry):
    results = tmp_path / "r"
    rc, _out, err = _cli(capsys, "run", "--profile", "smoke", "--executor", "inline", "--method",
                         "slow-ok[seconds=0],slow-ok", "--dataset", "breast_cancer", "--seeds", "1",
                         "--results", results, "--no-progress")
    assert rc == 0, err
    recs = {r["variant"]: r for r in (json.loads(p.read_text()) for p in results.rglob("*.json"))}
    assert set(recs) == {"slow-ok", "slow-ok[seconds=0.0]"}  # "0" parsed as the declared float
    v = recs["slow-ok[seconds=0.0]"]
    assert v["params"] == {"seconds": 0.0} and v["status"] == "done"
    card = registry.card("breast_cancer")
    expected = job_key("selectors", v["protocol_version"], v["settings"], "slow-ok", "1", {"seconds": 0.0},
                       card.fingerprint, 0, 0)
    assert v["key"] == expected != recs["slow-ok"]["key"]
    # the key material is the parameters as JSON: the float 0.0, not the int 0
    assert canonical_json({"seconds": 0.0}) == '{"seconds":0.0}'


def test_method_variant_errors_name_the_valid_params(plugins, tmp_path, capsys):
    r = tmp_path / "r"
    rc, _o, err = _cli(capsys, "run", "--method", "slow-ok[secs=1]", "--results", r)
    _one_line_usage_error(rc, err, "method 'slow-ok' has no parameter 'secs'", "did you mean 'seconds'?",
                          "valid parameters: seconds")
    rc, _o, err = _cli(capsys, "run", "--method", "slow-ok[seconds=fast]", "--results", r)
    _one_line_usage_error(rc, err, "parameter seconds='fast' is not a valid float")
    rc, _o, err = _cli(capsys, "run", "--method", "author-loud-failure[shuffle=maybe]", "--results", r)
    _one_line_usage_error(rc, err, "is not a valid bool")
    assert not r.exists()


def test_parameter_values_parse_as_the_declared_types():
    from bench_core.execute.selection import parse_overrides
    from fbtest.author import LoudFailure

    got = parse_overrides(LoudFailure, "threshold=2, rounds=4,label=a b,shuffle=yes")
    assert got == {"threshold": 2.0, "rounds": 4, "label": "a b", "shuffle": True}
    assert type(got["threshold"]) is float and type(got["rounds"]) is int


def test_dry_run_prints_the_plan_and_writes_nothing(plugins, tmp_path, capsys):
    results = tmp_path / "r"
    rc, out, err = _cli(capsys, "run", "--profile", "smoke", "--dry-run", "--method", "fault-r*,slow-ok[seconds=1]",
                        "--dataset", "breast_cancer,classification_small", "--seeds", "2", "--results", results)
    assert rc == 0, err
    assert out.startswith("dry run (profile smoke): 12 job(s): 12 would run, 0 already done")
    assert "per method: selectors/fault-raise 4, selectors/fault-range 4, selectors/slow-ok[seconds=1.0] 4" in out
    assert "per dataset: selectors/breast_cancer 6, selectors/classification_small 6" in out
    assert out.count("/seed0") == 6 and out.count("/seed1") == 6
    assert not results.exists()


def test_glob_without_match_and_unknown_names_put_did_you_mean_first(plugins, tmp_path, capsys):
    r = tmp_path / "r"
    rc, _o, err = _cli(capsys, "run", "--method", "fault-rase*", "--results", r)
    line = _one_line_usage_error(rc, err, "no method matches 'fault-rase*'", "did you mean 'fault-raise'?")
    assert line.index("did you mean") < line.index("(valid:")
    rc, _o, err = _cli(capsys, "run", "--dataset", "breast_cancr", "--results", r)
    line = _one_line_usage_error(rc, err, "unknown dataset 'breast_cancr'", "did you mean 'breast_cancer'?")
    assert line.index("did you mean") < line.index("(valid:")
    rc, _o, err = _cli(capsys, "lst")
    line = _one_line_usage_error(rc, err, "invalid choice: 'lst'", "did you mean 'list'?")
    assert line.index("did you mean") < line.index("choose from")
    rc, _o, err = _cli(capsys, "run", "--profile", "quik")
    _one_line_usage_error(rc, err, "did you mean 'quick'?")
    assert not r.exists()


# --------------------------------------------------------------------------------------------- progress


def test_progress_shows_start_up_then_current_jobs_and_a_late_eta():
    from bench_core.progress import Progress

    class Tty(StringIO):
        def isatty(self):
            return True

    s = Tty()
    p = Progress(42, stream=s)
    p.begin()
    for i in range(2):  # recorded at once (data missing): neither the end of start-up nor part of a rate
        p.update("skipped", f"s{i}")
    assert "starting workers…" in p.line() and "skipped 2" in p.line() and "ETA" not in p.line()
    assert "starting workers…" in s.getvalue() and "ETA" not in s.getvalue()
    p.start("selectors/breast_cancer/mrmr/seed0")
    p.start("selectors/breast_cancer/relieff/seed0")
    assert p.line().endswith("starting workers…  now selectors/breast_cancer/mrmr/seed0 +1")
    p.update("done", "selectors/breast_cancer/mrmr/seed0")
    assert "starting" not in p.line() and "ETA" not in p.line()
    assert p.line().endswith("now selectors/breast_cancer/relieff/seed0")
    for i in range(2):
        p.update("error", f"x{i}")
    assert "ETA" not in p.line()  # 3 of 40 ended: under a tenth
    for i in range(1, 4):
        p.update("done", f"y{i}")
    assert "ETA" in p.line() and "failed 2" in p.line() and "6/42" not in p.line() and "8/42" in p.line()
    assert abs(p.eta() - (time.monotonic() - p.t0) / 6 * 34) < 1.0  # the rate of the 6 that ran


# -------------------------------------------------------------------------------------------- datasets


def test_datasets_list_json(capsys, monkeypatch):
    monkeypatch.delenv("FEATBENCH_DATA_DIR", raising=False)
    monkeypatch.delenv("FEATBENCH_PLUGIN_MODULES", raising=False)
    rc, out, err = _cli(capsys, "datasets", "list", "--track", "selectors", "--json")
    assert rc == 0, err
    data = {d["name"]: d for d in json.loads(out)}
    assert data["breast_cancer"]["available"] is True and data["breast_cancer"]["source"]["loader"]
    colon = data["colon"]
    assert colon["available"] is False and "FEATBENCH_DATA_DIR" in colon["missing_reason"]
    assert colon["source"]["url"].endswith("colon.mat") and len(colon["source"]["sha256"]) == 64
    assert all(d["tracks"] == ["selectors"] for d in data.values())


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture
def http_dir(tmp_path):
    """A local HTTP server on 127.0.0.1 serving a temporary directory (never a remote address)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = lambda *a, **k: _Quiet(*a, directory=str(served), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _card(cards: Path, name: str, url: str, sha: str) -> None:
    cards.mkdir(exist_ok=True)
    (cards / f"{name}.toml").write_text(f'''name = "{name}"
title = "download test"
description = "a CSV served from a local HTTP server"
tracks = ["selectors"]
task = "classification"
tier = "standard"
properties = []

[source]
file = "fbtest/{name}.csv"
sha256 = "{sha}"
reader = "csv"
url = "{url}"

[split]
method = "stratified_shuffle"
''')


def test_datasets_download_fetches_verifies_and_skips_present_files(http_dir, tmp_path, capsys, monkeypatch):
    served, base = http_dir
    payload = b"a,b,label\n" + b"".join(f"{i},{i * 2},{i % 2}\n".encode() for i in range(50))
    (served / "good.csv").write_bytes(payload)
    (served / "tampered.csv").write_bytes(payload.replace(b"7", b"8"))
    sha = hashlib.sha256(payload).hexdigest()
    cards = tmp_path / "cards"
    _card(cards, "fbtest_dl_good", f"{base}/good.csv", sha)
    _card(cards, "fbtest_dl_bad", f"{base}/tampered.csv", sha)
    _card(cards, "fbtest_dl_gone", f"{base}/missing.csv", sha)
    monkeypatch.setenv("FEATBENCH_PLUGIN_MODULES", "fbtest.baddata")
    monkeypatch.setenv("FEATBENCH_BADDATA_CARDS", str(cards))
    data = tmp_path / "data"

    rc, _o, err = _cli(capsys, "datasets", "download", "fbtest_dl_good", "--data-dir", data)
    assert rc == 0, err
    target = data / "fbtest" / "fbtest_dl_good.csv"
    assert target.read_bytes() == payload and "downloaded" in err
    mtime = target.stat().st_mtime_ns
    rc, _o, err = _cli(capsys, "datasets", "download", "fbtest_dl_good", "--data-dir", data)
    assert rc == 0 and "present and verified" in err and target.stat().st_mtime_ns == mtime

    rc, _o, err = _cli(capsys, "datasets", "download", "fbtest_dl_bad", "--data-dir", data)
    _one_line_usage_error(rc, err, "dataset 'fbtest_dl_bad'", f"not the card's {sha}", "partial file was deleted")
    assert not list((data / "fbtest").glob("fbtest_dl_bad*"))
    rc, _o, err = _cli(capsys, "datasets", "download", "fbtest_dl_gone", "--data-dir", data)
    _one_line_usage_error(rc, err, "dataset 'fbtest_dl_gone'", "failed")
    assert not list((data / "fbtest").glob("fbtest_dl_gone*"))

    # a present file with another checksum is replaced by a verified download
    target.write_bytes(b"stale")
    rc, _o, err = _cli(capsys, "datasets", "download", "fbtest_dl_good", "--data-dir", data)
    assert rc == 0 and target.read_bytes() == payload
    rc, _o, err = _cli(capsys, "datasets", "download", "breast_cancer", "--data-dir", data)
    _one_line_usage_error(rc, err, "has no external file")


# ------------------------------------------------------------------------------------------- completion


def test_completion_prints_activation_code_and_completes(capsys, tmp_path):
    rc, out, _err = _cli(capsys, "completion", "bash")
    assert rc == 0 and "featbench" in out and "complete " in out
    result = tmp_path / "completions"
    env = dict(os.environ, _ARGCOMPLETE="1", _ARGCOMPLETE_SHELL="bash", COMP_LINE="featbench er", COMP_POINT="12",
               _ARGCOMPLETE_STDOUT_FILENAME=str(result), _ARGCOMPLETE_IFS="\n")
    proc = subprocess.run([sys.executable, "-m", "bench_core"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert result.read_text().split() == ["errors"]


# -------------------------------------------------------------------------------------------- packaging


def test_unavailable_method_is_listed_with_reason_and_its_jobs_skipped(plugins, tmp_path, capsys):
    rc, out, err = _cli(capsys, "list", "--track", "selectors", "--json")
    assert rc == 0, err
    info = json.loads(out)
    assert "featbench_test_no_such_package" in info["methods"]["selectors"]["author-needs-extra"]["unavailable"]
    assert info["methods"]["selectors"]["noop"]["unavailable"] is None
    assert all(p["status"] == "ok" for p in info["plugins"])  # unavailable, not broken
    rc, out, _err = _cli(capsys, "list", "--track", "selectors")
    assert "author-needs-extra (unavailable)" in out
    assert "author-needs-extra: unavailable: author-needs-extra needs the optional package" in out
    rc, _o, err = _cli(capsys, "check", "author-needs-extra")
    _one_line_usage_error(rc, err, "cannot check author-needs-extra", "featbench_test_no_such_package")
    results = tmp_path / "r"
    rc, _o, err = _cli(capsys, "run", "--profile", "smoke", "--executor", "inline", "--method", "author-needs-extra",
                       "--dataset", "breast_cancer", "--seeds", "1", "--results", results, "--no-progress", "--strict")
    assert rc == 0, err
    (rec,) = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    assert rec["status"] == "skipped" and "pip install featbench-test-no-such-package" in rec["error"]["message"]


def test_lassonet_is_an_extra_and_unavailable_without_it(registry, monkeypatch, tmp_path):
    import importlib.util

    from bench_core.execute.run import RunRequest, plan_run
    from bench_core.store import Store

    meta = (REPO / "pyproject.toml").read_text()
    import tomllib

    project = tomllib.loads(meta)["project"]
    assert not any(d.startswith("lassonet") for d in project["dependencies"])
    assert any(d.startswith("lassonet") for d in project["optional-dependencies"]["lassonet"])
    cls = registry.method("selectors", "lassonet")
    assert cls.unavailable() is None  # installed here (the dev extra)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "lassonet" else real(name, *a))
    reason = cls.unavailable()
    assert reason and "featbench[lassonet]" in reason
    req = RunRequest(methods=["lassonet"], datasets=["breast_cancer"], profile="smoke", seeds="1",
                     results=tmp_path / "r")
    plan = plan_run(registry, req, Store(tmp_path / "r"))
    assert not plan.pending and [r for _s, r in plan.skipped] == [reason]


def test_wheel_has_no_top_level_plugins_and_its_entry_points_and_cards_resolve(tmp_path):
    pytest.importorskip("hatchling")
    out = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-c", f"from hatchling.build import build_wheel; print(build_wheel({str(out)!r}))"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    wheel = out / proc.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        eps = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
        zf.extractall(tmp_path / "site")
    tops = {n.split("/")[0] for n in names}
    assert "plugins" not in tops and "featbench_builtins" in tops and "bench_core" in tops
    assert not any("__pycache__" in n or n.endswith((".nbi", ".nbc")) for n in names)
    assert "featbench_builtins/_cards/selectors/breast_cancer.toml" in names
    assert "featbench_builtins/selectors/filters.py" in names and "featbench_builtins/__init__.py" in names
    modules = [line.split("=", 1)[1].strip() for line in eps.split("[featbench]")[1].split("[")[0].splitlines()
               if "=" in line]
    assert modules and all(m.startswith("featbench_builtins.") for m in modules)
    assert all(f"{m.replace('.', '/')}{'/__init__.py' if m.endswith('datasets') else '.py'}" in names
               for m in modules)
    # the unpacked wheel first on the path: the entry points import from it, and the cards are its _cards
    site = tmp_path / "site"
    code = ("import json, featbench_builtins.datasets as d; from bench_core.registry import load_registry; "
            "r = load_registry(); print(json.dumps({'cards_dir': str(d.cards_dir()), "
            "'broken': [p.name for p in r.plugins if p.status == 'broken'], "
            "'card': r.card('breast_cancer').path, 'mod': r.method('selectors', 'mrmr').__module__, "
            "'file': __import__('sys').modules[r.method('selectors', 'mrmr').__module__].__file__}))")
    env = dict(os.environ, PYTHONPATH=str(site))
    env.pop("FEATBENCH_PLUGIN_MODULES", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["broken"] == []
    assert got["cards_dir"] == str(site / "featbench_builtins" / "_cards")
    assert got["card"].startswith(str(site / "featbench_builtins" / "_cards"))
    assert got["mod"] == "featbench_builtins.selectors.filters" and got["file"].startswith(str(site))


def test_installed_entry_points_import():
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="featbench") if ep.dist and ep.dist.name == "featbench"]
    assert len(eps) >= 10
    for ep in eps:
        assert ep.value.startswith(("featbench_builtins.", "bench_core.")), ep
        assert ep.load() is not None


def test_numba_cache_goes_under_the_featbench_cache_not_the_package(tmp_path):
    import bench_core

    package = Path(bench_core.__file__).resolve().parent
    t0 = time.time() - 1
    env = dict(os.environ, FEATBENCH_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("NUMBA_CACHE_DIR", None)
    code = ("import torch; from bench_core.metrics import neighbours as N; "
            "D = torch.rand(5, 6, dtype=torch.float64); print(N.count_below(D, D).sum().item())")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    cached = list((tmp_path / "cache" / "numba").rglob("*.nbi"))
    assert cached, "numba wrote no cache index under <cache>/numba"
    fresh = [p for p in package.rglob("*") if p.suffix in (".nbi", ".nbc") and p.stat().st_mtime >= t0]
    assert fresh == []
