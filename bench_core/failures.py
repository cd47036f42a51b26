"""Failed jobs, shown: the end-of-run summary, ``featbench errors`` and ``featbench show KEY``.

A job *failed* when its result file has one of :data:`FAILED` (``error``, ``invalid``, ``timeout``, ``oom``,
``crashed``). ``skipped`` (data or an optional dependency missing) and ``done`` are not failures.

- After ``featbench run``, :func:`summary_lines` lists each failed (method variant, dataset) of the run once,
  with its status and the first line of its error, at most :data:`SHOWN` of them, then "and N more".
- ``featbench errors`` (:func:`failed_records`, :func:`error_rows`) lists the failed jobs of a results
  directory, one row each, with the key to pass to ``show``.
- ``featbench show KEY`` (:func:`find_record`, :func:`render_record`) prints one stored result: what ran,
  its scores, the error with its full traceback and the captured log tail. A unique key prefix is enough.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from bench_core.errors import UsageError

#: Statuses that count as a failed job (for the summary, ``errors`` and ``run --strict``).
FAILED = ("error", "invalid", "timeout", "oom", "crashed")
#: How many failed (method, dataset) cells the end-of-run summary names before "and N more".
SHOWN = 10
#: Characters of a key that ``errors`` prints (``show`` accepts any unique prefix).
KEY_CHARS = 12


def reason(record: Mapping[str, Any]) -> str:
    """``status: first line of the error`` (``type: message`` when the message does not name the type)."""
    err = record.get("error") or {}
    message = str(err.get("message") or "").strip()
    first = message.splitlines()[0] if message else ""
    etype = err.get("type") or ""
    if etype and first and not first.startswith(etype):
        first = f"{etype}: {first}"
    first = first or etype or "no error message recorded"
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{record.get('status')}: {first}"


def summary_lines(records: Iterable[Mapping[str, Any]], shown: int = SHOWN) -> list[str]:
    """One line per failed (track, variant, dataset) cell, worst-first by count, then "and N more"."""
    cells: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for r in records:
        if r.get("status") in FAILED:
            cells.setdefault((r.get("track", ""), r.get("variant") or r.get("method", ""), r.get("dataset", "")),
                             []).append(r)
    if not cells:
        return []
    order = sorted(cells, key=lambda c: (-len(cells[c]), c))
    n_jobs = sum(len(v) for v in cells.values())
    lines = [f"failed: {n_jobs} job(s) in {len(cells)} (method, dataset) pair(s); "
             f"`featbench errors` lists them, `featbench show KEY` prints a traceback"]
    for cell in order[:shown]:
        recs = sorted(cells[cell], key=lambda r: r.get("seed", 0))
        track, variant, dataset = cell
        seeds = f"{len(recs)} seed(s)" if len(recs) > 1 else f"seed {recs[0].get('seed')}"
        lines.append(f"  {variant} on {dataset} ({track}, {seeds}, key {str(recs[0].get('key'))[:KEY_CHARS]}): "
                     f"{reason(recs[0])}")
    if len(order) > shown:
        lines.append(f"  and {len(order) - shown} more")
    return lines


def _match(value: str, wanted: Sequence[str] | None) -> bool:
    return not wanted or any(fnmatch.fnmatchcase(value, w) for w in wanted)


def failed_records(records: Iterable[Mapping[str, Any]], *, tracks: Sequence[str] | None = None,
                   methods: Sequence[str] | None = None, datasets: Sequence[str] | None = None,
                   profile: str | None = None) -> list[Mapping[str, Any]]:
    """The failed records matching the filters (names or glob patterns; a method filter matches the method
    name or its variant label), sorted by track, method, dataset, seed."""
    out = [r for r in records if r.get("status") in FAILED
           and _match(r.get("track", ""), tracks) and _match(r.get("dataset", ""), datasets)
           and (_match(r.get("method", ""), methods) or _match(r.get("variant", ""), methods))
           and (profile is None or r.get("profile") == profile)]
    return sorted(out, key=lambda r: (r.get("track", ""), r.get("variant", ""), r.get("dataset", ""),
                                      r.get("seed", 0)))


def error_rows(records: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    return [[str(r.get("key"))[:KEY_CHARS], r.get("track"), r.get("variant") or r.get("method"), r.get("dataset"),
             r.get("seed"), r.get("profile"), reason(r)] for r in records]


ERROR_HEADERS = ["key", "track", "method", "dataset", "seed", "profile", "reason"]


def find_record(root: Path, prefix: str) -> tuple[Path, dict[str, Any]]:
    """The result file whose key starts with ``prefix`` (unique), read; :class:`UsageError` otherwise."""
    prefix = prefix.strip().lower()
    if not prefix or any(c not in "0123456789abcdef" for c in prefix):
        raise UsageError(f"{prefix!r} is not a job key (a hexadecimal SHA-256 or a prefix of one, "
                         f"as `featbench errors` prints)")
    hits = sorted(Path(root).glob(f"*/*/*/{prefix}*.json")) if Path(root).is_dir() else []
    if not hits:
        raise UsageError(f"no result with key {prefix!r} under {root} (`featbench errors` lists failed jobs' keys)")
    if len(hits) > 1:
        keys = ", ".join(h.stem[:KEY_CHARS + 4] for h in hits[:5])
        raise UsageError(f"key prefix {prefix!r} matches {len(hits)} results ({keys}{', ...' if len(hits) > 5 else ''}); "
                         f"give more characters")
    try:
        return hits[0], json.loads(hits[0].read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"result file {hits[0]} cannot be read: {exc}") from None


def render_record(path: Path, rec: Mapping[str, Any]) -> str:
    """A stored result as text: identity, scores, timing, the error with its full traceback, the log tail."""
    lines = [f"key        {rec.get('key')}",
             f"file       {path}",
             f"status     {rec.get('status')}",
             f"job        {rec.get('track')} / {rec.get('variant') or rec.get('method')} (version "
             f"{rec.get('method_version')}) on {rec.get('dataset')}, split {rec.get('split')}, seed {rec.get('seed')}, "
             f"profile {rec.get('profile')}",
             f"params     {json.dumps(rec.get('params') or {}, sort_keys=True)}"]
    prov = rec.get("provenance") or {}
    timing = rec.get("timing") or {}
    if prov:
        lines.append(f"ran        {prov.get('started_at')} .. {prov.get('finished_at')} on {prov.get('device')} "
                     f"({prov.get('executor')} executor), wall {_num(timing.get('wall_s'))} s")
    scores = rec.get("scores") or {}
    if scores:
        lines.append("scores     " + ", ".join(f"{k}={_num(v)}" for k, v in sorted(scores.items())))
    err = rec.get("error")
    if err:
        lines += ["", f"error      {err.get('type')}: {err.get('message')}"]
        if err.get("traceback"):
            lines += ["", "traceback:", str(err["traceback"]).rstrip()]
    log = rec.get("log")
    if log:
        lines += ["", f"captured output ({log.get('bytes')} bytes in all; the tail):", str(log.get("tail") or "").rstrip()]
    elif err:
        lines += ["", "captured output: none recorded (the inline executor, or a killed worker, captures none)"]
    return "\n".join(lines)


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "n/a" if v is None else str(v)
