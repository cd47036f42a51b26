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
over them.

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
from bench_core.leaderboard import build

Z = 2.0
VERDICT_ORDER = ("regressed", "failed", "improved", "new", "missing", "unchanged", "other-device")


def load_baseline(directory: Path, tracks: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """The committed ``<track>.json`` leaderboards of one profile."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"no baseline leaderboards in {directory} (generate them with `featbench leaderboard --out {directory}`)")
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
        for (b, c), n in sorted(self.device_mismatch.items()):
            lines += [f"**The sides ran on different devices**: {n} cell(s) ran on {c} here and on {b} in the "
                      f"baseline. Their numbers are shown but not compared (a device difference is not a "
                      f"regression); compare like with like with `featbench run --device {b}`.", ""]
        rows = sorted(self.rows, key=lambda r: (VERDICT_ORDER.index(r.verdict), r.track, r.dataset, r.variant))

        def f(x: float | None, signed: bool = False) -> str:
            if x is None or not math.isfinite(x):
                return "—"
            return f"{x:+.4f}" if signed else f"{x:.4f}"

        table = [[r.track, r.dataset, r.variant, f"{f(r.baseline)} (n={r.n_baseline})" if r.n_baseline else "—",
                  f"{f(r.current)} (n={r.n_current})" if r.n_current else "—", f(r.delta, True), f(r.tolerance),
                  r.verdict + (f": {r.note}" if r.note else "")] for r in rows]
        lines.append(tabulate(table, headers=["track", "dataset", "method", "baseline", "current", "Δ", "tolerance",
                                              "verdict"], tablefmt="github", disable_numparse=True))
        if self.placements:
            lines += ["", "### New methods among the baselines", ""] + [f"- {p}" for p in self.placements]
        return "\n".join(lines)


def compare(baseline: Mapping[str, Mapping[str, Any]], records: Sequence[Mapping[str, Any]], registry=None,
            tolerance: float = 0.01, profile: str | None = None) -> Report:
    profile = profile or (next(iter(baseline.values()))["profile"] if baseline else "")
    board = build(records, registry, profile)
    report = Report(profile=profile)
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
    return report


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
