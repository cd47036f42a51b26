"""Baselines that travel with the package: the per-job results behind the committed leaderboards.

A contributor ranks a new method against the built-in baselines by running only that method: the
leaderboard merges their results with the *packaged baseline records*, and ``featbench compare`` compares
with them by default, inside or outside the repository.

Files
=====
``featbench leaderboard --out DIR`` writes, next to the board (when the ``json`` format is on), one file per
track: ``DIR/baseline/<track>.json``::

    {"schema": 1, "kind": "featbench-baseline", "track": "selectors", "profile": "quick",
     "protocol_version": 2, "records": [
    {"key": "<job key>", "dataset": ..., "dataset_fingerprint": ..., "settings": {...}, "seed": 0,
     "status": "done", "scores": {...}, ...},
    ...]}

one *slim record* per line: a stored result (:mod:`bench_core.store`) cut down to what the leaderboard and
``compare`` read: the job key and everything it hashes (track, protocol version, settings, method, method
version, parameters, dataset fingerprint, split, seed), the variant, status, scores, the one-line error,
fit time, peak memory, the scores a protocol left out (``outputs["<score>_skipped"]``) and the provenance
(commit, featbench version, start and finish times). The records are those of the board (the current ones,
see :func:`bench_core.leaderboard.partition`), so the committed board can be rebuilt from them.

The committed ``leaderboards/<profile>/baseline/`` folders ship inside the wheel as
``bench_core/_baselines/<profile>/`` (a Hatch build hook, ``hatch_build.py``, force-includes every one that
exists); :func:`packaged_dir` finds them at run time, in a wheel or in an editable install / checkout.
Regenerate one profile's files (and its board) with a single command::

    featbench leaderboard --profile quick --results RESULTS --out leaderboards/quick --no-baselines

Merging (``featbench leaderboard``; off with ``--no-baselines``)
================================================================
A baseline record is merged only where it means the same job as the installed code would run:

- its track is installed, with the same ``protocol_version``;
- its ``settings`` equal the track's settings under the profile (:func:`bench_core.profiles.track_settings`);
- its dataset card is installed with the same ``dataset_fingerprint``;
- where its method is installed: the same ``version``, and parameters the profile still gives it (a
  baseline of a method that is not installed, an optional dependency say, is merged as it is);
- its ``key`` is the job key of its own fields (:func:`bench_core.execute.jobs.job_key`): a hand-edited
  record is refused.

Everything else is refused, with one line per reason and the number of cells (track, dataset, variant) it
cost. A cell the user ran themselves (any record of the same track, dataset and variant) is taken from the
user's results only, never mixed with the baseline's seeds. Merged records carry ``"origin": "baseline"``,
which marks their rows on the board.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

BASELINE_SCHEMA = 1
KIND = "featbench-baseline"
SUBDIR = "baseline"
ORIGIN = "baseline"

#: Top-level fields of a result record that a slim record keeps as they are.
_KEPT = ("key", "track", "dataset", "dataset_fingerprint", "method", "method_version", "variant", "params",
         "profile", "protocol_version", "settings", "split", "seed", "status", "scores", "schema_version")


def slim_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a stored result that a baseline keeps (see the module docstring)."""
    out = {k: record[k] for k in _KEPT if k in record}
    err = record.get("error")
    if isinstance(err, Mapping):
        msg = str(err.get("message") or "").strip().splitlines()
        out["error"] = {"type": err.get("type"), "message": msg[0] if msg else ""}
    else:
        out["error"] = None
    skipped = {k: v for k, v in (record.get("outputs") or {}).items() if k.endswith("_skipped") and isinstance(v, str)}
    out["outputs"] = dict(sorted(skipped.items()))
    timing = record.get("timing") or {}
    out["timing"] = {k: timing[k] for k in ("fit_s", "wall_s") if timing.get(k) is not None}
    memory = record.get("memory") or {}
    out["memory"] = {"peak_delta_mb": memory.get("peak_delta_mb")}
    prov = record.get("provenance") or {}
    out["provenance"] = {k: prov.get(k) for k in ("git_commit", "featbench", "started_at", "finished_at")}
    return out


def baseline_documents(records: Iterable[Mapping[str, Any]], profile: str) -> dict[str, str]:
    """``{track: file text}``: the baseline files of ``records`` (already the board's current records)."""
    by_track: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_track[r["track"]].append(slim_record(r))
    out = {}
    for track, recs in sorted(by_track.items()):
        recs.sort(key=lambda r: (r["dataset"], r["variant"], r["seed"], r["key"]))
        head = {"schema": BASELINE_SCHEMA, "kind": KIND, "track": track, "profile": profile,
                "protocol_version": max(r["protocol_version"] for r in recs)}
        lines = [json.dumps(r, sort_keys=True, separators=(",", ":"), allow_nan=False) for r in recs]
        text = json.dumps(head, sort_keys=True)[:-1] + ', "records": [\n' + ",\n".join(lines) + "\n]}\n"
        out[track] = text
    return out


def write_baseline(records: Iterable[Mapping[str, Any]], out: Path, profile: str) -> list[Path]:
    """Write ``out/baseline/<track>.json`` for the board's current records; return the paths."""
    from bench_core.store import atomic_write_text

    folder = Path(out) / SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for track, text in baseline_documents(records, profile).items():
        path = folder / f"{track}.json"
        atomic_write_text(path, text)
        written.append(path)
    return written


# ------------------------------------------------------------------------------------------------ finding


def packaged_dir(profile: str) -> Path | None:
    """The packaged baseline folder of ``profile``, or None when this installation has none.

    In a wheel: ``bench_core/_baselines/<profile>`` (found with :mod:`importlib.resources`). In an editable
    install or a checkout: the repository's ``leaderboards/<profile>/baseline``.
    """
    from importlib.resources import files

    try:
        packaged = files("bench_core").joinpath("_baselines").joinpath(profile)
        if packaged.is_dir():
            return Path(str(packaged))
    except (FileNotFoundError, NotADirectoryError):  # pragma: no cover - an odd resource reader
        pass
    checkout = Path(__file__).resolve().parent.parent / "leaderboards" / profile / SUBDIR
    return checkout if checkout.is_dir() else None


def load_records(directory: Path, tracks: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every slim record of the baseline files in ``directory`` (``<track>.json``), for ``tracks`` if given.

    A file that is not a baseline file is refused: a baseline is read whole or not at all."""
    from bench_core.errors import UsageError

    out: list[dict[str, Any]] = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"baseline file {path} is unreadable ({exc})") from None
        if not isinstance(doc, dict) or doc.get("kind") != KIND or not isinstance(doc.get("records"), list):
            raise UsageError(f"{path} is not a featbench baseline file (no \"kind\": \"{KIND}\")")
        if doc.get("schema") != BASELINE_SCHEMA:
            raise UsageError(f"baseline file {path} has schema {doc.get('schema')!r}; this featbench reads "
                             f"{BASELINE_SCHEMA}")
        if tracks and doc.get("track") not in tracks:
            continue
        out.extend(doc["records"])
    return out


def packaged_records(profile: str, tracks: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The packaged baseline records of ``profile`` (empty when none ship with this installation)."""
    folder = packaged_dir(profile)
    return load_records(folder, tracks) if folder is not None else []


# ------------------------------------------------------------------------------------------------ merging


@dataclass
class Merge:
    """The outcome of :func:`merge`: the records to build the board from, and what was left out and why."""

    records: list[dict[str, Any]]
    #: baseline records merged
    merged: int = 0
    #: cells (track, dataset, variant) merged
    merged_cells: int = 0
    #: (track, reason) -> cells refused
    refused: dict[tuple[str, str], int] = field(default_factory=dict)
    #: cells the user ran themselves (their results are used, the baseline's are not)
    replaced_cells: int = 0

    def lines(self) -> list[str]:
        """One line per refusal reason, counted; then a summary line (for stderr)."""
        out = [f"baselines: {n} cell(s) of {track} not merged: {why}"
               for (track, why), n in sorted(self.refused.items())]
        out.append(f"baselines: {self.merged_cells} cell(s) ({self.merged} result(s)) merged from the packaged "
                   f"baselines" + (f"; {self.replaced_cells} cell(s) taken from your own results instead"
                                   if self.replaced_cells else ""))
        return out


def refusal(record: Mapping[str, Any], registry, profile) -> str | None:
    """Why ``record`` cannot be merged into a board of the installed code, or None (see the module docstring)."""
    from bench_core.execute.jobs import job_key, method_variants
    from bench_core.leaderboard import _params_json
    from bench_core.profiles import track_settings
    from bench_core.tracks import TRACKS

    t = record.get("track")
    if record.get("profile") != profile.name:
        return f"results of profile {record.get('profile')!r}, not {profile.name!r}"
    track = TRACKS.get(t)
    if track is None:
        return f"track {t!r} is not installed"
    if record.get("protocol_version") != track.protocol_version:
        return f"protocol version {record.get('protocol_version')} in the baseline, {track.protocol_version} installed"
    settings = track_settings(track, profile)
    theirs = record.get("settings") or {}
    if theirs != settings:
        keys = sorted(k for k in set(settings) | set(theirs) if settings.get(k, ...) != theirs.get(k, ...))
        return f"protocol settings differ from the installed ones ({', '.join(keys)})"
    try:
        card = registry.card(record["dataset"])
    except Exception:  # noqa: BLE001 - unknown card: UsageError from the registry
        card = None
    if card is None:
        return f"dataset {record['dataset']!r} is not installed"
    if card.fingerprint != record.get("dataset_fingerprint"):
        return f"dataset {record['dataset']!r} changed since (its fingerprint differs)"
    entry = registry.methods.get(t, {}).get(record["method"])
    if entry is not None:
        cls = entry.obj
        if str(cls.version) != str(record["method_version"]):
            return f"method {record['method']!r} is version {cls.version} here, {record['method_version']} in the baseline"
        if _params_json(record["params"]) not in {_params_json(p) for p in method_variants(cls, profile)}:
            return f"method {record['method']!r}: the profile gives other parameters than the baseline's"
    expected = job_key(t, record["protocol_version"], record["settings"], record["method"],
                       str(record["method_version"]), record["params"], record["dataset_fingerprint"],
                       record["split"], record["seed"])
    if expected != record.get("key"):
        return "the job key does not match the record's own fields (edited by hand?)"
    return None


def merge(records: Sequence[Mapping[str, Any]], baseline: Sequence[Mapping[str, Any]], registry,
          profile_name: str) -> Merge:
    """The user's ``records`` plus the baseline records that may join them (see the module docstring)."""
    from bench_core.profiles import get_profile

    profile = get_profile(profile_name)
    own = {(r["track"], r["dataset"], r["variant"]) for r in records}
    out = Merge(records=[dict(r) for r in records])
    refused: dict[tuple[str, str], set] = defaultdict(set)
    merged_cells: set = set()
    replaced: set = set()
    for r in baseline:
        cell = (r.get("track"), r.get("dataset"), r.get("variant"))
        if cell in own:
            replaced.add(cell)
            continue
        why = refusal(r, registry, profile)
        if why is not None:
            refused[(str(cell[0]), why)].add(cell)
            continue
        out.records.append({**r, "origin": ORIGIN})
        out.merged += 1
        merged_cells.add(cell)
    out.refused = {k: len(v) for k, v in refused.items()}
    out.merged_cells = len(merged_cells)
    out.replaced_cells = len(replaced)
    return out


def leaderboard_records(records: Sequence[Mapping[str, Any]], baseline: Sequence[Mapping[str, Any]], registry,
                        profile: str, disabled: bool = False) -> list[dict[str, Any]]:
    """``featbench leaderboard``'s records: the user's, merged with ``baseline`` unless ``disabled``; the
    merge's refusals and summary go to stderr."""
    import sys

    if disabled or not baseline:
        return [dict(r) for r in records]
    m = merge(records, baseline, registry, profile)
    for line in m.lines():
        print(line, file=sys.stderr)
    return m.records
