"""The result store: atomic files, schema, stale temporaries, long-format frame."""

from __future__ import annotations

import json
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
