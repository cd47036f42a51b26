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
    #: CPU seconds (user + system) the job used in the worker and its method process, children they reaped
    #: included (Linux ``/proc``; ``None`` elsewhere). Unlike the wall times it hardly moves with the load of
    #: a shared machine, so budget projections are made from it.
    cpu_s: float | None = None


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
class Log:
    """The job's captured stdout and stderr (local executor): their total size and the last few KiB."""

    bytes: int
    tail: str


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
    #: The GPU a job ran on (model, memory in GiB, CUDA and driver versions, its ``CUDA_VISIBLE_DEVICES`` id),
    #: for a job whose ``device`` is CUDA; None otherwise (and absent from results written before it existed).
    gpu: dict[str, Any] | None = None


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
    #: What the method (and its children) wrote to stdout and stderr, bounded; ``null`` where not captured
    #: (the ``inline`` executor, a job whose worker was killed).
    log: Log | None = None
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
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def usable_directory(path: Path, what: str) -> None:
    """Raise :class:`~bench_core.errors.UsageError` unless ``path`` is, or can become, a writable directory.

    An existing directory is probed by creating and removing an empty file in it (so a read-only
    filesystem is caught even for root); a missing one needs its nearest existing ancestor to be a writable
    directory. Nothing is left behind.
    """
    from bench_core.errors import UsageError

    path = Path(path)
    probe_dir = path
    while not probe_dir.exists():
        if probe_dir.is_symlink():
            raise UsageError(f"{what} {path}: {probe_dir} is a dangling symbolic link")
        if probe_dir.parent == probe_dir:
            break
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise UsageError(f"{what} {path} is not usable: {probe_dir} is not a directory")
    probe = probe_dir / f".featbench-probe.{os.getpid()}.tmp"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{what} {path} is not writable: {exc.strerror or exc}") from None


class Store:
    """A directory of result files."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        #: Result files found damaged by :meth:`done` or :meth:`iter_records` (path -> reason), for the
        #: caller to name in a warning: a damaged file is never skipped or re-run in silence.
        self.damaged: dict[Path, str] = {}

    def path_for(self, track: str, dataset: str, method: str, key: str) -> Path:
        return self.root / track / dataset / method / f"{key}.json"

    def write(self, record: ResultRecord) -> Path:
        """Write one result atomically; raise :class:`~bench_core.errors.ResultWriteError` if it cannot be
        stored (the caller stops the run: a result is never dropped in silence)."""
        from bench_core.errors import ResultWriteError

        path = self.path_for(record.track, record.dataset, record.method, record.key)
        text = json.dumps(record.to_json(), indent=1, sort_keys=True, allow_nan=False)
        try:
            atomic_write_text(path, text + "\n")
        except OSError as exc:
            raise ResultWriteError(f"cannot store a result ({path}): {exc.strerror or exc}") from exc
        return path

    def check_writable(self) -> None:
        """Raise :class:`~bench_core.errors.UsageError` unless results can be written under the root."""
        usable_directory(self.root, "results directory")

    def read(self, path: Path) -> dict[str, Any] | None:
        rec, _reason = self._load(path)
        return rec

    @staticmethod
    def _load(path: Path) -> tuple[dict[str, Any] | None, str | None]:
        """``(record, None)`` for a sound result file, else ``(None, why it is damaged)``."""
        try:
            with open(path, encoding="utf-8") as fh:
                rec = json.load(fh)
        except OSError as exc:
            return None, f"unreadable: {exc.strerror or exc}"
        except UnicodeDecodeError:
            return None, "not UTF-8 text"
        except ValueError as exc:
            return None, f"not valid JSON (truncated or garbage): {str(exc).splitlines()[0][:80]}"
        if not isinstance(rec, dict):
            return None, f"not a result record (a JSON {type(rec).__name__})"
        if rec.get("schema_version") != SCHEMA_VERSION:
            return None, f"schema version {rec.get('schema_version')!r}, expected {SCHEMA_VERSION}"
        if rec.get("key") != path.stem:
            return None, f"its key {str(rec.get('key'))[:16]}... does not match its file name"
        if rec.get("status") not in STATUSES:
            return None, f"unknown status {rec.get('status')!r}"
        return rec, None

    def done(self, track: str, dataset: str, method: str, key: str) -> bool:
        """Whether a job with this key has a sound result with status ``done`` (a damaged file is noted in
        :attr:`damaged` and counts as not done, so the job is re-run)."""
        path = self.path_for(track, dataset, method, key)
        if not path.exists():
            return False
        rec, reason = self._load(path)
        if reason:
            self.damaged[path] = reason
            return False
        return rec.get("status") == "done"

    def iter_records(self, track: str | None = None) -> Iterator[dict[str, Any]]:
        """Every sound result file; damaged ones are noted in :attr:`damaged` and left out."""
        base = self.root / track if track else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*.json")):
            if path.name.startswith("."):
                continue
            rec, reason = self._load(path)
            if reason:
                self.damaged[path] = reason
                continue
            yield rec

    def warn_damaged(self, action: str, stream=None) -> None:
        """Print one warning line per damaged file noted so far (``action``: what is done about them)."""
        import sys

        stream = stream or sys.stderr
        if self.damaged:
            print(f"warning: {len(self.damaged)} damaged result file(s) {action}:", file=stream)
            for path, reason in sorted(self.damaged.items()):
                print(f"  {path}: {reason}", file=stream)

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
