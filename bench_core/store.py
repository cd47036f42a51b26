"""The results store: one JSON file per job, written atomically, read back as a long DataFrame.

Layout: ``<root>/<track>/<dataset>/<method>/<key>.json``. The file name is the job key, so a job can never
have two result files, and re-running a job replaces its file. Each write goes to a temporary file in the
same directory, is flushed and fsync'ed, then renamed over the target (atomic on POSIX), and the directory
is fsync'ed: after a crash or SIGKILL a result file is either complete or absent.

Statuses form a closed vocabulary (:data:`STATUSES`). A run skips jobs whose file exists with status
``done`` and a matching key; every other status is re-attempted on the next run.

The schema of a result file is :class:`ResultRecord`; ``bench_core/schema/result.schema.json`` is generated
from it (:func:`json_schema`) and a test keeps the committed file in sync.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

SCHEMA_VERSION = 1

#: The closed vocabulary of job statuses.
STATUSES: dict[str, str] = {
    "done": "finished; its scores are valid",
    "error": "the method raised an exception",
    "invalid": "the method's output failed validation (NaN, wrong shape or dtype, bad indices)",
    "timeout": "no result within the job's time limit; the worker was killed",
    "oom": "over the memory cap (worker killed) or MemoryError / CUDA out of memory",
    "crashed": "the worker process died (segfault, abort, killed from outside)",
    "skipped": "not run: its data is not available here (the reason says how to obtain it)",
}


@dataclass
class ErrorInfo:
    type: str
    message: str
    traceback: str | None = None


@dataclass
class Timing:
    #: Wall time seen by the parent, from dispatch to result (includes harness overhead).
    wall_s: float | None = None
    #: Time inside the worker for the whole job (method + scoring).
    job_s: float | None = None
    #: Time of the method's main fit (rank/select on the training rows), as the track defines it.
    fit_s: float | None = None


@dataclass
class Memory:
    #: Peak resident set size of the worker during the job (MiB), from the kernel's VmHWM.
    peak_rss_mb: float | None = None
    #: Peak RSS minus RSS at job start: the job's own footprint (MiB).
    peak_delta_mb: float | None = None
    rss_start_mb: float | None = None
    #: Peak CUDA memory allocated by torch (MiB), on GPU jobs.
    cuda_peak_mb: float | None = None
    #: Highest RSS the parent's poller saw (MiB).
    worker_peak_seen_mb: float | None = None


@dataclass
class Provenance:
    featbench: str
    plugin: dict[str, str | None]
    git_commit: str | None
    git_dirty: bool | None
    executor: str
    device: str
    hardware: dict[str, Any]
    environment: dict[str, Any]
    started_at: str
    finished_at: str


@dataclass
class ResultRecord:
    schema_version: int
    key: str
    status: str
    track: str
    method: str
    method_version: str
    variant: str
    params: dict[str, Any]
    dataset: str
    dataset_fingerprint: str
    split: int
    seed: int
    profile: str
    protocol_version: int
    settings: dict[str, Any]
    #: Named scores; ``null`` where a score is undefined (NaN).
    scores: dict[str, float | None]
    timing: Timing
    memory: Memory
    provenance: Provenance
    error: ErrorInfo | None = None
    #: Per-job artefacts the track keeps (e.g. the selectors' feature order), to recompute scores later.
    outputs: dict[str, Any] = field(default_factory=dict)
    #: SHA-256 of the method's source when it ran (``bench_core.execute.jobs.method_source_hash``); not part
    #: of the key: a run and the leaderboard warn when the installed source differs.
    method_source: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["scores"] = {k: (None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v)
                       for k, v in self.scores.items()}
        return d


# --------------------------------------------------------------------------------------------- schema


def _schema_of(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema_of(a) for a in args]}
    if tp is type(None):
        return {"type": "null"}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is Any:
        return {}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(args[1]) if args else {}}
    if origin is list:
        return {"type": "array", "items": _schema_of(args[0]) if args else {}}
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        props, required = {}, []
        for f in dataclasses.fields(tp):
            props[f.name] = _schema_of(hints[f.name])
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(f.name)
        return {"type": "object", "properties": props, "required": required, "additionalProperties": False}
    raise TypeError(f"no JSON Schema for {tp!r}")  # pragma: no cover


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a result file, generated from :class:`ResultRecord`."""
    schema = _schema_of(ResultRecord)
    schema["properties"]["status"] = {"enum": list(STATUSES)}
    schema["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "featbench result file",
        "description": "One job's result, written by bench_core.store (generated; do not edit).",
        **schema,
    }


SCHEMA_PATH = Path(__file__).parent / "schema" / "result.schema.json"


# --------------------------------------------------------------------------------------------- store


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Store:
    """A directory of result files."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path_for(self, track: str, dataset: str, method: str, key: str) -> Path:
        return self.root / track / dataset / method / f"{key}.json"

    def write(self, record: ResultRecord) -> Path:
        path = self.path_for(record.track, record.dataset, record.method, record.key)
        text = json.dumps(record.to_json(), indent=1, sort_keys=True, allow_nan=False)
        atomic_write_text(path, text + "\n")
        return path

    def read(self, path: Path) -> dict[str, Any] | None:
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return None

    def done(self, track: str, dataset: str, method: str, key: str) -> bool:
        """Whether a job with this key has a readable result with status ``done``."""
        path = self.path_for(track, dataset, method, key)
        if not path.exists():
            return False
        rec = self.read(path)
        return bool(rec) and rec.get("key") == key and rec.get("status") == "done"

    def iter_records(self, track: str | None = None) -> Iterator[dict[str, Any]]:
        base = self.root / track if track else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*.json")):
            if path.name.startswith("."):
                continue
            rec = self.read(path)
            if rec and rec.get("schema_version") == SCHEMA_VERSION and path.stem == rec.get("key"):
                yield rec

    def clean_stale_temporaries(self) -> int:
        """Remove temporary files left by writers that are no longer running; return how many."""
        n = 0
        if not self.root.is_dir():
            return 0
        for tmp in self.root.rglob(".*.tmp"):
            try:
                pid = int(tmp.name.rsplit(".", 2)[-2])
                os.kill(pid, 0)
                continue  # its writer is alive
            except (ValueError, IndexError):
                pass
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            try:
                tmp.unlink()
                n += 1
            except OSError:
                pass
        return n

    def dataframe(self, track: str | None = None):
        """All results as a long-format DataFrame: one row per (job, score); failed jobs get one row with
        ``score`` = NaN so that their status is never lost."""
        return records_frame(list(self.iter_records(track)))


ID_COLUMNS = ["key", "track", "dataset", "method", "variant", "method_version", "split", "seed", "profile",
              "protocol_version", "status"]


def records_frame(records: list[Mapping[str, Any]]):
    """Long-format DataFrame of result records (see :meth:`Store.dataframe`)."""
    import pandas as pd

    rows = []
    for r in records:
        base = {c: r.get(c) for c in ID_COLUMNS}
        base["params"] = json.dumps(r.get("params", {}), sort_keys=True)
        base["fit_s"] = (r.get("timing") or {}).get("fit_s")
        base["wall_s"] = (r.get("timing") or {}).get("wall_s")
        base["peak_delta_mb"] = (r.get("memory") or {}).get("peak_delta_mb")
        base["error"] = (r.get("error") or {}).get("message") if r.get("error") else None
        scores = r.get("scores") or {}
        if not scores:
            rows.append({**base, "score": None, "value": float("nan")})
        for name, value in scores.items():
            rows.append({**base, "score": name, "value": float("nan") if value is None else float(value)})
    columns = ID_COLUMNS + ["params", "fit_s", "wall_s", "peak_delta_mb", "error", "score", "value"]
    return pd.DataFrame(rows, columns=columns)
