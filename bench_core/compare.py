"""``featbench compare``: fresh results against a committed leaderboard, as a pull-request comment.

Cells are matched on (track, dataset fingerprint, method variant), so a dataset whose data changed shows up
as ``missing`` (old) plus ``new`` (changed), never as a spurious regression. For each matched cell, with
per-seed primary scores of means ``b`` (baseline) and ``c`` (current), sample SDs ``s_b``, ``s_c`` and
seed counts ``n_b``, ``n_c``:

    Δ = c − b (negated when lower is better, so Δ > 0 always means better)
    tolerance = max(τ, z · sqrt(s_b²/n_b + s_c²/n_c))          τ = --tolerance (0.01), z = 2

Verdicts: ``improved`` (Δ > tolerance), ``regressed`` (Δ < −tolerance), ``unchanged``, ``new`` (no baseline
cell), ``missing`` (baseline cell not in the fresh results), ``failed`` (no finished job now, where the
baseline had one, or a new cell with no finished job); a cell that failed in both is ``unchanged``;
``other-device`` (both sides finished, on different devices). The exit status is 1 when any cell regressed or
failed. A new method is placed among the baselines: the rank it would have on each dataset, and its mean rank
over them; where the baseline comes with its per-job records (the packaged baselines,
:mod:`bench_core.baselines`), also its position in the overall table of the leaderboard it would join ("would
rank 6/24 on data with ground truth").

The report puts first what a reader came for: the verdict, the reason of a failure (each regressed or failed
cell on one line, with its scores or its error), the new methods' standing; then the changed cells; the
unchanged and missing cells last, folded (``<details>``, for a pull-request comment). ``--json`` gives the
same as one JSON object (:meth:`Report.as_json`).

Devices: the two sides are compared like with like. A cell's device is the set of device kinds (``cpu``,
``cuda``) of its finished results: for the fresh results, from each result's ``provenance.device``; for the
baseline, from the cell's ``devices`` (leaderboards written since devices were recorded), else the board's
``provenance.devices``, else ``cpu`` (the committed baselines were all computed on the CPU). A cell whose two
sides differ is ``other-device``: its numbers are shown, no verdict is drawn from them, it never fails the
comparison, and the report says plainly, above the table, that the sides ran on different devices (on CUDA
the stochastic torch methods give other, equally valid numbers).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from bench_core.errors import UsageError
from bench_core.leaderboard import build, track_json

Z = 2.0
VERDICT_ORDER = ("regressed", "failed", "improved", "new", "missing", "unchanged", "other-device")


def load_baseline(directory: Path, tracks: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """The committed ``<track>.json`` leaderboards of one profile."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"no baseline leaderboards in {directory}: pass --baseline DIR, a folder holding "
                         f"<profile>/<track>.json made from reference results (`featbench leaderboard --results "
                         f"REFERENCE_RESULTS --out DIR/<profile>`), never from the results being compared")
    out = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "track" not in data or "datasets" not in data:
            continue
        if tracks and data["track"] not in tracks:
            continue
        out[data["track"]] = data
    if not out:
        raise UsageError(f"no leaderboard JSON files in {directory}")
    return out


def boards_from_records(records: Sequence[Mapping[str, Any]], profile: str) -> dict[str, dict[str, Any]]:
    """Baseline boards (``{track: board JSON}``, as :func:`load_baseline` reads them) rebuilt from baseline
    records, without a registry: exactly what the records say, whatever is installed."""
    if not records:
        return {}
    board = build(records, None, profile)
    return {t: json.loads(json.dumps(track_json(board, tb))) for t, tb in board.tracks.items()}


@dataclass
class Row:
    track: str
    dataset: str
    variant: str
    verdict: str
    baseline: float | None = None
    current: float | None = None
    delta: float | None = None
    tolerance: float | None = None
    n_baseline: int = 0
    n_current: int = 0
    note: str = ""


@dataclass
class Report:
    profile: str
    rows: list[Row] = field(default_factory=list)
    placements: list[str] = field(default_factory=list)
    #: the new methods' positions in the overall tables of the merged leaderboard (needs baseline records)
    standing: list[dict[str, Any]] = field(default_factory=list)
    #: (track, dataset, variant) -> first line of the error of a job that did not finish
    errors: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: notes on the baseline (refused cells, a baseline made from the compared results)
    notes: list[str] = field(default_factory=list)

    def reasons(self) -> list[str]:
        """One line per regressed or failed cell: why the comparison fails."""
        out = []
        for r in sorted(self.rows, key=lambda r: (r.track, r.dataset, r.variant)):
            if r.verdict == "regressed":
                out.append(f"regressed: {r.track} / {r.dataset} / {r.variant}: {r.baseline:.4f} -> {r.current:.4f} "
                           f"(Δ {r.delta:+.4f}, beyond the tolerance {r.tolerance:.4f})")
            elif r.verdict == "failed":
                err = self.errors.get((r.track, r.dataset, r.variant))
                out.append(f"failed: {r.track} / {r.dataset} / {r.variant}: {r.note}" + (f": {err}" if err else ""))
        return out

    def standing_lines(self) -> list[str]:
        out = []
        for s in self.standing:
            parts = [f"{p['position']}/{p['of']} on {p['title']} (mean rank {p['mean_rank']:.2f} over "
                     f"{p['ranked']} dataset(s))" if p["mean_rank"] is not None else
                     f"unranked on {p['title']}" for p in s["groups"]]
            out.append(f"`{s['variant']}` ({s['track']}) would rank " + "; ".join(parts))
        return out

    def as_json(self) -> dict[str, Any]:
        import dataclasses

        def finite(row: dict[str, Any]) -> dict[str, Any]:  # strict JSON: no NaN or infinity
            return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}

        return {"profile": self.profile, "ok": not self.failed, "counts": {v: self.counts[v] for v in VERDICT_ORDER},
                "reasons": self.reasons(), "standing": self.standing, "placements": self.placements,
                "notes": self.notes,
                "device_mismatch": [{"baseline": b, "current": c, "cells": n}
                                    for (b, c), n in sorted(self.device_mismatch.items())],
                "rows": [finite(dataclasses.asdict(r)) for r in self.rows]}
    #: (baseline devices, current devices) -> cells, for the cells whose sides ran on different devices
    device_mismatch: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def counts(self) -> Counter[str]:
        return Counter(r.verdict for r in self.rows)

    @property
    def failed(self) -> bool:
        return self.counts["regressed"] > 0 or self.counts["failed"] > 0

    def markdown(self) -> str:
        from tabulate import tabulate

        c = self.counts
        head = ", ".join(f"{c[v]} {v}" for v in VERDICT_ORDER if v != "other-device" or c[v])
        lines = [f"## featbench compare ({self.profile}): {'FAIL' if self.failed else 'OK'}", "", head, ""]
        if self.failed:
            lines += ["Why it fails:", ""] + [f"- {x}" for x in self.reasons()] + [""]
        new_methods = self.standing_lines() + self.placements
        if new_methods:
            lines += ["### New methods among the baselines", ""] + [f"- {p}" for p in new_methods] + [""]
        if self.notes:
            lines += ["Notes on the baseline:", ""] + [f"- {n}" for n in self.notes] + [""]
        for (b, c), n in sorted(self.device_mismatch.items()):
            lines += [f"**The sides ran on different devices**: {n} cell(s) ran on {c} here and on {b} in the "
                      f"baseline. Their numbers are shown but not compared (a device difference is not a "
                      f"regression); compare like with like with `featbench run --device {b}`.", ""]
        rows = sorted(self.rows, key=lambda r: (VERDICT_ORDER.index(r.verdict), r.track, r.dataset, r.variant))

        def f(x: float | None, signed: bool = False) -> str:
            if x is None or not math.isfinite(x):
                return "—"
            return f"{x:+.4f}" if signed else f"{x:.4f}"

        def table(rs: Sequence[Row]) -> str:
            body = [[r.track, r.dataset, r.variant, f"{f(r.baseline)} (n={r.n_baseline})" if r.n_baseline else "—",
                     f"{f(r.current)} (n={r.n_current})" if r.n_current else "—", f(r.delta, True), f(r.tolerance),
                     r.verdict + (f": {r.note}" if r.note else "")] for r in rs]
            return tabulate(body, headers=["track", "dataset", "method", "baseline", "current", "Δ", "tolerance",
                                           "verdict"], tablefmt="github", disable_numparse=True)

        quiet = ("missing", "unchanged")
        changed = [r for r in rows if r.verdict not in quiet]
        rest = [r for r in rows if r.verdict in quiet]
        if changed:
            lines += [f"### Changed, new or failed cells ({len(changed)})", "", table(changed), ""]
        if rest:
            lines += [f"<details><summary>{c['unchanged']} unchanged and {c['missing']} missing cell(s) (missing: "
                      "in the baseline, not in these results)</summary>", "", table(rest), "", "</details>"]
        return "\n".join(lines).rstrip()


def compare(baseline: Mapping[str, Mapping[str, Any]], records: Sequence[Mapping[str, Any]], registry=None,
            tolerance: float = 0.01, profile: str | None = None,
            baseline_records: Sequence[Mapping[str, Any]] | None = None) -> Report:
    """Compare ``records`` (fresh results) with the ``baseline`` boards; with ``baseline_records`` (the
    records behind them) also place each new method in the overall tables of the merged leaderboard."""
    profile = profile or (next(iter(baseline.values()))["profile"] if baseline else "")
    board = build(records, registry, profile)
    report = Report(profile=profile)
    for r in records:
        err = r.get("error")
        if r.get("status") != "done" and isinstance(err, Mapping) and err.get("message"):
            cell = (r["track"], r["dataset"], r["variant"])
            report.errors.setdefault(cell, f"{err.get('type') or 'error'}: {str(err['message']).strip().splitlines()[0]}")
    current_devices = _current_devices(records, profile)
    for track in sorted(set(baseline) | set(board.tracks)):
        base = baseline.get(track)
        higher = _higher_is_better(track, base)
        sign = 1.0 if higher else -1.0
        base_cells: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        for ds, block in (base or {}).get("datasets", {}).items():
            for cell in block["cells"]:
                if cell["n_total"] or cell["mean"] is not None:
                    base_cells[(ds, block["fingerprint"], cell["variant"])] = cell
        cur_cells = {}
        tb = board.tracks.get(track)
        if tb is not None:
            for ds, cells in tb.datasets.items():
                for cell in cells:
                    if cell.n_total:
                        cur_cells[(ds, tb.fingerprints[ds], cell.variant)] = cell
        new_variants: set[str] = set()
        for key in sorted(set(base_cells) | set(cur_cells)):
            ds, _fp, variant = key
            b, c = base_cells.get(key), cur_cells.get(key)
            row = Row(track, ds, variant, "unchanged")
            if b is not None:
                row.baseline, row.n_baseline = b["mean"], b["n_done"]
            if c is not None:
                row.current, row.n_current = c.mean, c.n_done
            if c is None:
                row.verdict = "missing"
            elif c.n_done == 0:
                still = b is not None and b["n_done"] == 0
                row.verdict = "unchanged" if still else "failed"
                row.note = ("still failing: " if still else "") + c.status_text()
            elif b is not None and b["mean"] is None and c.mean is None:
                row.verdict = "unchanged"  # finished on both sides, with no primary score on either
                row.note = "no primary score on either side"
            elif b is None or b["mean"] is None:
                row.verdict = "new"
                if b is None and not any(k[2] == variant for k in base_cells):
                    new_variants.add(variant)
            elif _baseline_devices(b, base) != current_devices.get((track, ds, variant), "cpu"):
                bdev, cdev = _baseline_devices(b, base), current_devices.get((track, ds, variant), "cpu")
                row.verdict = "other-device"
                row.note = f"baseline on {bdev}, here on {cdev}: not compared"
                report.device_mismatch[(bdev, cdev)] += 1
            else:
                delta = sign * (c.mean - b["mean"])
                se = math.sqrt(((b["sd"] or 0.0) ** 2) / max(1, b["n_done"]) + ((c.sd or 0.0) ** 2) / max(1, c.n_done))
                tol = max(tolerance, Z * se)
                row.delta, row.tolerance = delta, tol
                row.verdict = "improved" if delta > tol else "regressed" if delta < -tol else "unchanged"
            report.rows.append(row)
        for variant in sorted(new_variants):
            report.placements.append(_placement(track, variant, base_cells, cur_cells, higher))
            if baseline_records:
                report.standing.extend(_standing(track, variant, records, baseline_records, registry, profile))
    return report


def _standing(track: str, variant: str, records, baseline_records, registry, profile: str) -> list[dict[str, Any]]:
    """The variant's position in each overall table of the leaderboard it would join: its results merged
    with the baseline records, built as ``featbench leaderboard`` would."""
    from bench_core.baselines import merge

    own = [r for r in records if r["track"] == track and r["variant"] == variant]
    base = [r for r in baseline_records if r.get("track") == track]
    if registry is not None:
        merged = merge(own, base, registry, profile).records
    else:
        merged = [dict(r) for r in own] + [{**r, "origin": "baseline"} for r in base]
    tb = build(merged, registry, profile).tracks.get(track)
    if tb is None:
        return []
    groups = []
    for block in tb.overall:
        row = next((r for r in block["rows"] if r["variant"] == variant), None)
        if row is None:
            continue
        groups.append({"group": block["group"], "title": block["title"], "position": row["position"],
                       "of": len(block["rows"]), "mean_rank": row["mean_rank"], "ranked": row["ranked"]})
    return [{"track": track, "variant": variant, "groups": groups}] if groups else []
def _devices_text(kinds) -> str:
    return "+".join(sorted(set(kinds))) or "cpu"


def _current_devices(records: Sequence[Mapping[str, Any]], profile: str) -> dict[tuple[str, str, str], str]:
    """(track, dataset, variant) -> the device kinds of its finished results of ``profile``, e.g. ``"cpu"`` or
    ``"cpu+cuda"``."""
    from bench_core.execute.devices import result_device

    kinds: dict[tuple[str, str, str], set[str]] = {}
    for r in records:
        if r.get("status") == "done" and r.get("profile") == profile:
            kinds.setdefault((r["track"], r["dataset"], r["variant"]), set()).add(result_device(r))
    return {k: _devices_text(v) for k, v in kinds.items()}


def _baseline_devices(cell: Mapping[str, Any], board: Mapping[str, Any] | None) -> str:
    """The device kinds of a baseline cell (its ``devices``, else the board's, else ``cpu``)."""
    devices = cell.get("devices") or ((board or {}).get("provenance") or {}).get("devices") or {"cpu": 1}
    return _devices_text([k for k, n in devices.items() if n])


def _higher_is_better(track: str, base: Mapping[str, Any] | None) -> bool:
    """The primary score's direction: the installed track's, else the one the baseline recorded."""
    from bench_core.tracks import TRACKS

    if track in TRACKS:
        return TRACKS[track].primary.higher_is_better
    return bool((base or {}).get("primary", {}).get("higher_is_better", True))


def _placement(track: str, variant: str, base_cells, cur_cells, higher: bool) -> str:
    ranks = []
    parts = []
    for (ds, fp, v), cell in sorted(cur_cells.items()):
        if v != variant or cell.mean is None:
            continue
        others = [b["mean"] for (bds, bfp, _bv), b in base_cells.items() if bds == ds and bfp == fp and b["mean"] is not None]
        if not others:
            continue
        better = sum(1 for m in others if (m > cell.mean if higher else m < cell.mean))
        rank = better + 1
        ranks.append(rank)
        parts.append(f"{ds} {rank}/{len(others) + 1}")
    if not ranks:
        return f"`{variant}` ({track}): no dataset shared with the baseline"
    return (f"`{variant}` ({track}) would rank " + ", ".join(parts)
            + f"; mean rank {sum(ranks) / len(ranks):.2f} over {len(ranks)} dataset(s)")


PACKAGED = "packaged"


def load_baselines(sources: Sequence[str], profile: str, tracks: Sequence[str] | None, registry=None
                   ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], list[str]]:
    """``(boards, records, notes)`` of the ``--baseline`` sources, later ones overriding earlier cells.

    A source is ``packaged`` (the baselines shipped with featbench, :func:`bench_core.baselines.packaged_dir`:
    their records, less those the installed code would not merge, each reason counted in ``notes``) or a
    folder holding ``<profile>/<track>.json`` boards (and, if present, their ``<profile>/baseline/`` records).
    """
    from bench_core.baselines import load_records, merge, packaged_records

    boards: dict[str, dict[str, Any]] = {}
    records: dict[tuple, dict[str, Any]] = {}
    notes: list[str] = []
    for source in sources:
        if source == PACKAGED:
            recs = packaged_records(profile, tracks)
            if not recs:
                which = f" of {', '.join(tracks)}" if tracks else ""
                raise UsageError(f"this featbench installation ships no {profile} baselines{which}; pass --baseline DIR, "
                                 f"a folder of leaderboards made from reference results (`featbench leaderboard "
                                 f"--results REFERENCE_RESULTS --out DIR/{profile}`)")
            if registry is not None:
                m = merge([], recs, registry, profile)
                notes += [line.replace("not merged", "not compared") for line in m.lines()[:-1]]
                recs = [{k: v for k, v in r.items() if k != "origin"} for r in m.records]
            src_boards = boards_from_records(recs, profile)
        else:
            folder = Path(source).expanduser() / profile
            src_boards = load_baseline(folder, tracks)
            recs = load_records(folder / "baseline", tracks) if (folder / "baseline").is_dir() else []
        for r in recs:
            records[(r["track"], r["dataset"], r["variant"], r["seed"])] = r
        for t, b in src_boards.items():
            if t not in boards:
                boards[t] = b
                continue
            mine = boards[t]["datasets"]
            for ds, block in b["datasets"].items():
                if ds in mine and mine[ds]["fingerprint"] == block["fingerprint"]:
                    cells = {c["variant"]: c for c in mine[ds]["cells"]}
                    cells.update({c["variant"]: c for c in block["cells"] if c["n_total"] or c["mean"] is not None})
                    mine[ds] = {**block, "cells": list(cells.values())}
                else:
                    mine[ds] = block
    return boards, list(records.values()), notes


def self_comparison_note(records: Sequence[Mapping[str, Any]], baseline_records: Sequence[Mapping[str, Any]]) -> str | None:
    """A note when baseline results are the very result files being compared (same job key, same finish time):
    such a comparison cannot show a change."""
    def stamp(r):
        return (r.get("key"), (r.get("provenance") or {}).get("finished_at"))

    mine = {stamp(r) for r in records}
    same = sum(1 for r in baseline_records if stamp(r) in mine)
    if not same:
        return None
    return (f"{same} baseline result(s) are the very result files being compared (same job key and finish "
            "time): a comparison with oneself cannot show a change; compare with a baseline made from other results")
