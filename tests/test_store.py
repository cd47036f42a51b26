"""The result store: atomic files, schema, stale temporaries, long-format frame."""

from __future__ import annotations

import io
import json
import re
import os
import subprocess
import sys

import jsonschema
import pytest

from bench_core.store import SCHEMA_PATH, STATUSES, Store, atomic_write_text, json_schema, records_frame
from test_leaderboard_compare import record


def test_committed_schema_is_generated_from_the_code():
    assert json.loads(SCHEMA_PATH.read_text()) == json_schema(), "run `featbench schema --write`"


def test_schema_accepts_records_and_rejects_bad_ones():
    schema = json_schema()
    good = record("d", "m", 0, primary=0.5)
    jsonschema.validate(good, schema)
    jsonschema.validate(record("d", "m", 1, status="timeout"), schema)
    for mutate in (lambda r: r.update(status="finished"), lambda r: r.pop("key"),
                   lambda r: r.update(scores={"a": "high"}), lambda r: r.update(extra=1)):
        bad = json.loads(json.dumps(good))
        mutate(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    assert set(schema["properties"]["status"]["enum"]) == set(STATUSES)


def test_nan_scores_are_stored_as_null(tmp_path):
    from bench_core.store import ErrorInfo, Memory, Provenance, ResultRecord, Timing

    r = record("d", "m", 0, primary=0.5)
    rec = ResultRecord(**{**{k: v for k, v in r.items() if k not in ("timing", "memory", "provenance", "error")},
                          "scores": {"a": float("nan"), "b": 1.0}, "timing": Timing(), "memory": Memory(),
                          "provenance": Provenance(**r["provenance"]), "error": None})
    path = Store(tmp_path).write(rec)
    assert json.loads(path.read_text())["scores"] == {"a": None, "b": 1.0}


def test_atomic_write_never_leaves_a_partial_file(tmp_path):
    """A writer killed at any point leaves either no file or the complete previous one."""
    target = tmp_path / "x.json"
    atomic_write_text(target, json.dumps({"v": 0}))
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from bench_core.store import atomic_write_text\n"
        "for i in range(10**6):\n"
        "    atomic_write_text(Path(sys.argv[1]), json.dumps({'v': i, 'pad': 'x' * 100000}))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)])
    import time

    for _ in range(50):
        time.sleep(0.02)
        json.loads(target.read_text())  # always complete
    proc.kill()
    proc.wait()
    assert json.loads(target.read_text())["v"] >= 0
    st = Store(tmp_path)
    leftovers = list(tmp_path.glob(".*.tmp"))
    assert st.clean_stale_temporaries() == len(leftovers)
    assert not list(tmp_path.glob(".*.tmp"))


def test_temporaries_of_live_writers_are_kept(tmp_path):
    live = tmp_path / f".a.json.{os.getpid()}.tmp"
    live.write_text("{")
    assert Store(tmp_path).clean_stale_temporaries() == 0 and live.exists()


def test_store_reads_back_and_frames(tmp_path):
    st = Store(tmp_path)
    recs = [record("d", "m", 0, primary=0.5), record("d", "m", 1, status="error")]
    for r in recs:
        p = st.path_for(r["track"], r["dataset"], r["method"], r["key"])
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(r))
    (tmp_path / "selectors" / "d" / "m" / "junk.json").write_text("{not json")
    got = list(st.iter_records())
    assert sorted(r["key"] for r in got) == sorted(r["key"] for r in recs)
    assert st.done("selectors", "d", "m", recs[0]["key"]) and not st.done("selectors", "d", "m", recs[1]["key"])
    df = records_frame(got)
    assert set(df["status"]) == {"done", "error"}
    assert df[df.status == "error"].shape[0] == 1, "a failed job keeps one row"
    assert df[(df.score == "auc_logk")]["value"].tolist() == [0.5]


# ------------------------------------------------------------------------------------------ golden cases


import errno  # noqa: E402
import math  # noqa: E402

from bench_core.errors import ResultWriteError, UsageError  # noqa: E402
from bench_core.store import (  # noqa: E402
    ErrorInfo, Memory, Provenance, ResultRecord, SCHEMA_VERSION, Timing, _fsync_dir, usable_directory,
)


def _record(**over):
    r = record("d", "m", 0, primary=0.5)
    fields = {k: v for k, v in r.items() if k not in ("timing", "memory", "provenance", "error")}
    return ResultRecord(**{**fields, "timing": Timing(**r["timing"]), "memory": Memory(**r["memory"]),
                           "provenance": Provenance(**r["provenance"]), "error": None, **over})


def test_to_json_nulls_only_non_finite_floats():
    rec = _record(scores={"nan": float("nan"), "inf": float("inf"), "ninf": -math.inf, "none": None, "int": 3,
                          "zero": 0.0, "x": 0.25})
    assert rec.to_json()["scores"] == {"nan": None, "inf": None, "ninf": None, "none": None, "int": 3,
                                       "zero": 0.0, "x": 0.25}
    assert rec.scores["nan"] != rec.scores["nan"], "the record itself is left as it was"
    assert rec.to_json()["timing"] == {"wall_s": 1.0, "job_s": 0.9, "fit_s": 0.5, "cpu_s": None}


def test_write_puts_one_sorted_indented_file_per_key(tmp_path):
    st = Store(tmp_path / "deep" / "root")  # directories are made as needed
    rec = _record(scores={"b": 1.0, "a": float("nan")})
    path = st.write(rec)
    assert path == tmp_path / "deep" / "root" / "selectors" / "d" / "m" / f"{rec.key}.json"
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(rec.to_json(), indent=1, sort_keys=True) + "\n"
    assert text.startswith('{\n "dataset": "d",\n "dataset_fingerprint": ') and list(tmp_path.rglob(".*.tmp")) == []
    assert st.read(path) == json.loads(text) and st.read(path)["scores"] == {"a": None, "b": 1.0}


def test_a_write_that_fails_names_the_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    st = Store(tmp_path)
    rec = _record()

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(ResultWriteError, match=r"^cannot store a result \(.*\.json\): No space left on device$"):
        st.write(rec)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [], "the temporary is removed"
    with pytest.raises(OSError):
        atomic_write_text(tmp_path / "x.txt", "text")
    assert not (tmp_path / "x.txt").exists() and list(tmp_path.glob(".*")) == []


def test_atomic_write_replaces_and_fsyncs(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    target = tmp_path / "a" / "b.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two" and sorted(p.name for p in target.parent.iterdir()) == ["b.txt"]
    assert len(synced) == 4, "the file and its directory, each time"
    _fsync_dir(tmp_path / "missing")  # a directory that cannot be opened is skipped, not an error


def test_usable_directory_accepts_writable_and_names_what_is_wrong(tmp_path, monkeypatch):
    usable_directory(tmp_path, "results directory")
    usable_directory(tmp_path / "new" / "deeper", "results directory")
    assert not (tmp_path / "new").exists() and list(tmp_path.iterdir()) == [], "nothing is left behind"
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match=rf"^results directory {tmp_path}/file/sub is not usable: "
                                         rf"{tmp_path}/file is not a directory$"):
        usable_directory(tmp_path / "file" / "sub", "results directory")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(UsageError, match=rf"^out {tmp_path}/dangling/x: {tmp_path}/dangling is a dangling "
                                         r"symbolic link$"):
        usable_directory(tmp_path / "dangling" / "x", "out")
    real_open = os.open

    def denied(path, *a, **k):
        if ".featbench-probe." in str(path):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, *a, **k)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(UsageError, match=rf"^results directory {tmp_path} is not writable: Read-only file system$"):
        Store(tmp_path).check_writable()


def _put(st, name, content):
    p = st.root / "selectors" / "d" / "m" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


def test_damaged_files_are_named_with_their_reason_and_never_read(tmp_path):
    st = Store(tmp_path)
    good = record("d", "m", 0, primary=0.5)
    cases = {
        "trunc.json": ('{"key": "tr', r"not valid JSON \(truncated or garbage\): "),
        "latin.json": (b"\xff\xfe{}", "not UTF-8 text"),
        "list.json": ("[1, 2]", r"not a result record \(a JSON list\)"),
        "old.json": (json.dumps({**good, "key": "old", "schema_version": 0}), "schema version 0, expected 1"),
        "none.json": (json.dumps({"key": "none"}), "schema version None, expected 1"),
        "other.json": (json.dumps({**good, "key": "0123456789abcdefXYZ"}),
                       r"its key 0123456789abcdef\.\.\. does not match its file name"),
        "odd.json": (json.dumps({**good, "key": "odd", "status": "finished"}), "unknown status 'finished'"),
    }
    for name, (content, _why) in cases.items():
        _put(st, name, content)
    _put(st, f"{good['key']}.json", json.dumps(good))
    _put(st, ".hidden.json", json.dumps(good))
    assert SCHEMA_VERSION == 1
    assert [r["key"] for r in st.iter_records()] == [good["key"]]
    assert sorted(p.name for p in st.damaged) == sorted(cases)
    for name, (_content, why) in cases.items():
        assert re.fullmatch(why + (".*" if name == "trunc.json" else ""), st.damaged[st.root / "selectors" / "d" / "m"
                                                                                    / name]), name
    assert st.read(st.root / "selectors" / "d" / "m" / "list.json") is None
    fresh = Store(tmp_path)
    assert not fresh.done("selectors", "d", "m", "odd") and list(fresh.damaged) == [fresh.root / "selectors/d/m/odd.json"]
    assert not fresh.done("selectors", "d", "m", "absent") and len(fresh.damaged) == 1
    assert fresh.done("selectors", "d", "m", good["key"])
    err = fresh._load(tmp_path / "no-such.json")
    assert err[0] is None and err[1] == "unreadable: No such file or directory"
    buf = io.StringIO()
    Store(tmp_path).warn_damaged("left out", buf)
    assert buf.getvalue() == "", "nothing noted yet: no warning"
    fresh.warn_damaged("re-run", buf)
    assert buf.getvalue() == (f"warning: 1 damaged result file(s) re-run:\n"
                              f"  {fresh.root}/selectors/d/m/odd.json: unknown status 'finished'\n")


def test_iter_records_by_track_and_of_a_missing_root(tmp_path):
    st = Store(tmp_path)
    a = record("d", "m", 0, primary=0.5)
    b = dict(record("d", "m", 1, primary=0.7), track="saes")
    for r in (a, b):
        p = st.path_for(r["track"], r["dataset"], r["method"], r["key"])
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(r))
    assert [r["key"] for r in st.iter_records("saes")] == [b["key"]]
    assert [r["track"] for r in st.iter_records()] == ["saes", "selectors"], "sorted by path"
    assert list(st.iter_records("reducers")) == [] and list(Store(tmp_path / "none").iter_records()) == []
    assert st.dataframe("saes")["key"].tolist() == [b["key"]] * 2


def test_stale_temporaries_of_dead_or_unnamed_writers_are_removed(tmp_path):
    st = Store(tmp_path)
    assert Store(tmp_path / "none").clean_stale_temporaries() == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    d = tmp_path / "selectors" / "d"
    d.mkdir(parents=True)
    (d / f".x.json.{int(dead.stdout)}.tmp").write_text("{")
    (d / ".y.json.notapid.tmp").write_text("{")
    (d / f".z.json.{os.getpid()}.tmp").write_text("{")
    (d / "w.json.1.tmp").write_text("{")  # not a temporary of ours: no leading dot
    assert st.clean_stale_temporaries() == 2
    assert sorted(p.name for p in d.iterdir()) == [f".z.json.{os.getpid()}.tmp", "w.json.1.tmp"]


def test_records_frame_golden():
    import pandas as pd

    ok = record("d", "m", 0, primary=0.5)
    ok["scores"]["none"] = None
    ok["params"] = {"b": 2, "a": 1}
    failed = record("d", "m", 1, status="timeout")
    df = records_frame([ok, failed])
    assert list(df.columns) == ["key", "track", "dataset", "method", "variant", "method_version", "split", "seed",
                                "profile", "protocol_version", "status", "params", "fit_s", "wall_s",
                                "peak_delta_mb", "error", "score", "value"]
    rows = df.to_dict("records")
    assert [(r["score"], r["status"]) for r in rows[:3]] == [("auc_logk", "done"), ("auc_logk[logreg]", "done"),
                                                              ("none", "done")]
    assert rows[3]["status"] == "timeout" and pd.isna(rows[3]["score"]), "a failed job keeps one row, no score"
    assert rows[0]["value"] == 0.5 and math.isnan(rows[2]["value"]) and math.isnan(rows[3]["value"])
    assert rows[0]["params"] == '{"a": 1, "b": 2}' and rows[3]["params"] == "{}"
    assert (rows[0]["fit_s"], rows[0]["wall_s"], rows[0]["peak_delta_mb"]) == (0.5, 1.0, 10.0)
    assert pd.isna(rows[0]["error"])
    assert (rows[3]["fit_s"], rows[3]["error"], rows[3]["seed"], rows[3]["key"]) == (1.5, "timeout happened", 1,
                                                                                     failed["key"])
    bare = {"key": "k", "scores": {"s": 1}}
    (row,) = records_frame([bare]).to_dict("records")
    assert row["params"] == "{}" and row["value"] == 1.0 and row["score"] == "s" and all(pd.isna(row[c]) for c in ("fit_s", "error", "track"))
    assert records_frame([]).shape == (0, 18)


def test_schema_of_containers_without_parameters_and_unknown_types():
    import typing

    from bench_core.store import _schema_of

    assert _schema_of(list[int]) == {"type": "array", "items": {"type": "integer"}}
    assert _schema_of(typing.List) == {"type": "array", "items": {}}
    assert _schema_of(typing.Dict) == {"type": "object", "additionalProperties": {}}
    assert _schema_of(dict[str, list[float | None]]) == {"type": "object", "additionalProperties": {
        "type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "null"}]}}}
    with pytest.raises(TypeError, match=r"^no JSON Schema for <class 'complex'>$"):
        _schema_of(complex)


def test_a_record_with_a_non_finite_timing_is_refused_never_written_as_nan(tmp_path):
    rec = _record(timing=Timing(wall_s=float("nan")))
    with pytest.raises(ValueError, match="not JSON compliant"):
        Store(tmp_path).write(rec)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_the_writability_probe_never_opens_an_existing_file(tmp_path):
    probe = tmp_path / f".featbench-probe.{os.getpid()}.tmp"
    probe.write_text("someone else's")
    with pytest.raises(UsageError, match=r"is not writable: File exists$"):
        usable_directory(tmp_path, "out")
    assert probe.read_text() == "someone else's"


def test_a_temporary_whose_writer_cannot_be_signalled_is_kept_and_the_others_still_go(tmp_path, monkeypatch):
    d = tmp_path / "t"
    d.mkdir()
    for pid in (11, 12, 13):
        (d / f".r.json.{pid}.tmp").write_text("{")
    calls = []

    def kill(pid, sig):
        calls.append(pid)
        raise PermissionError if len(calls) == 1 else ProcessLookupError

    monkeypatch.setattr(os, "kill", kill)
    assert Store(tmp_path).clean_stale_temporaries() == 2
    assert [p.name for p in d.iterdir()] == [f".r.json.{calls[0]}.tmp"], "another user's live writer: kept"


def test_the_reason_for_bad_json_quotes_the_parser_up_to_80_characters(tmp_path):
    st = Store(tmp_path)
    p = _put(st, "far.json", "\n" * 100000 + "{x")
    msg = "Expecting property name enclosed in double quotes: line 100001 column 2 (char 100001)"
    assert len(msg) > 80
    assert st._load(p) == (None, "not valid JSON (truncated or garbage): " + msg[:80])
    p = _put(st, "short.json", '{"key": "tr')
    assert st._load(p)[1] == "not valid JSON (truncated or garbage): Unterminated string starting at: line 1 column 9 (char 8)"
