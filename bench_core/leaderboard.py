"""Leaderboards: a pure function from result records to tables, and emitters (Markdown, CSV, JSON, HTML).

For each track and dataset, every method variant is a row: its primary score as mean ± 95 % CI over seeds
(Student t, n − 1 degrees of freedom; no CI from a single seed), how many seeds finished, the track's
secondary scores, fit time and peak memory. A row whose jobs did not all finish says which statuses they
ended with; a cell with no finished job shows that status, never an imputed number. Rows are ranked by the
primary score (average ranks for ties); methods that cannot run on a dataset by declaration are shown as
``n/a``.

The overall table of a track ranks variants by their mean rank over the datasets where they were ranked,
and states their coverage (datasets ranked / datasets where they apply): incomplete coverage sorts below
complete coverage, since a mean over fewer datasets is not comparable.

Output is deterministic: stable order, fixed rounding, no timestamps in Markdown, CSV or JSON, and a
provenance header (featbench version, code commits, profile, dataset fingerprints, number of results).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

FORMATS = ("md", "csv", "json", "html")
LEADERBOARD_SCHEMA = 1


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float | None]:
    """(mean, sample sd, half-width of the Student-t CI); sd = 0 and CI = None for a single value."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan, None
    if v.size == 1:
        return float(v[0]), 0.0, None
    from scipy.stats import t

    sd = float(v.std(ddof=1))
    half = float(t.ppf(0.5 + level / 2, v.size - 1) * sd / math.sqrt(v.size))
    return float(v.mean()), sd, half


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


@dataclass
class Cell:
    dataset: str
    variant: str
    method: str
    control: str | None
    n_done: int = 0
    n_total: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    values: list[tuple[int, float]] = field(default_factory=list)  # (seed, primary)
    mean: float | None = None
    sd: float | None = None
    ci95: float | None = None
    secondary: dict[str, float | None] = field(default_factory=dict)
    intervals: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    fit_s: float | None = None
    peak_mb: float | None = None
    rank: float | None = None
    note: str = ""  # "n/a (...)" or "not run"
    #: scores a track left out of finished jobs, with its reason (``outputs["<score>_skipped"]``)
    omitted: dict[str, str] = field(default_factory=dict)

    def status_text(self) -> str:
        bad = {s: n for s, n in sorted(self.statuses.items()) if s != "done"}
        return ", ".join(f"{s} ×{n}" for s, n in bad.items())

    def as_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "variant": self.variant, "method": self.method, "control": self.control,
            "rank": self.rank, "mean": _r(self.mean), "sd": _r(self.sd), "ci95": _r(self.ci95),
            "n_done": self.n_done, "n_total": self.n_total, "statuses": dict(sorted(self.statuses.items())),
            "values": [[s, _r(v)] for s, v in sorted(self.values)],
            "secondary": {k: _r(v) for k, v in sorted(self.secondary.items())},
            "intervals": {k: [_r(a), _r(b)] for k, (a, b) in sorted(self.intervals.items())},
            "fit_s": _r(self.fit_s, 4), "peak_mb": _r(self.peak_mb, 1), "note": self.note,
            "omitted": dict(sorted(self.omitted.items())),
        }


@dataclass
class TrackBoard:
    track: str
    primary: str
    primary_description: str
    higher_is_better: bool
    columns: list[tuple[str, str]]
    datasets: dict[str, list[Cell]]
    fingerprints: dict[str, str]
    references: dict[str, dict[str, tuple[float, float | None]]]
    overall: list[dict[str, Any]]
    curves: dict[str, dict[str, list[tuple[float, float]]]]  # dataset -> variant -> [(x, y)]
    curve_label: str = ""


@dataclass
class Board:
    profile: str
    tracks: dict[str, TrackBoard]
    provenance: dict[str, Any]

    def markdown(self) -> str:
        return to_markdown(self)


def _method_control(registry, track: str, method: str) -> str | None:
    entry = registry.methods.get(track, {}).get(method) if registry is not None else None
    return entry.obj.tags.control if entry is not None else None


def build(records: Iterable[Mapping[str, Any]], registry=None, profile: str = "") -> Board:
    """Aggregate result records (dicts as stored) into a :class:`Board`."""
    records = sorted(records, key=lambda r: (r["track"], r["dataset"], r["variant"], r["seed"], r["key"]))
    by_track: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        by_track[r["track"]].append(r)
    commits = sorted({(r.get("provenance") or {}).get("git_commit") or "unknown" for r in records})
    versions = sorted({(r.get("provenance") or {}).get("featbench") or "unknown" for r in records})
    tracks = {t: _build_track(t, recs, registry) for t, recs in sorted(by_track.items())}
    provenance = {"profile": profile, "featbench": versions, "commits": commits, "results": len(records)}
    return Board(profile=profile, tracks=tracks, provenance=provenance)


def _build_track(track_name: str, recs: list[Mapping[str, Any]], registry) -> TrackBoard:
    from scipy.stats import rankdata

    from bench_core.tracks import TRACKS

    track = TRACKS.get(track_name)
    primary = track.primary.name if track else "primary"
    higher = track.primary.higher_is_better if track else True
    columns = track.leaderboard_columns() if track else []
    reference_names = track.reference_scores() if track else []
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    fingerprints: dict[str, str] = {}
    method_of: dict[str, str] = {}
    for r in recs:
        groups[(r["dataset"], r["variant"])].append(r)
        fingerprints[r["dataset"]] = r["dataset_fingerprint"]
        method_of[r["variant"]] = r["method"]

    datasets: dict[str, list[Cell]] = {}
    references: dict[str, dict[str, tuple[float, float | None]]] = {}
    curves: dict[str, dict[str, list[tuple[float, float]]]] = {}
    variants = sorted(method_of)
    for ds in sorted(fingerprints):
        cells = []
        ref_values: dict[str, list[float]] = defaultdict(list)
        curves[ds] = {}
        for v in variants:
            group = groups.get((ds, v), [])
            cell = Cell(dataset=ds, variant=v, method=method_of[v], control=_method_control(registry, track_name, method_of[v]))
            if not group:
                cell.note = _absent_note(registry, track, method_of[v], ds)
                cells.append(cell)
                continue
            cell.n_total = len(group)
            cell.statuses = dict(Counter(r["status"] for r in group))
            done = [r for r in group if r["status"] == "done"]
            cell.n_done = len(done)
            if done:
                cell.values = [(r["seed"], r["scores"].get(primary)) for r in done if r["scores"].get(primary) is not None]
                m, sd, ci = mean_ci([x for _s, x in cell.values])
                cell.mean, cell.sd, cell.ci95 = (None if math.isnan(m) else m), sd, ci
                for score, _header in columns:
                    vals = [r["scores"].get(score) for r in done if r["scores"].get(score) is not None]
                    cell.secondary[score] = float(np.mean(vals)) if vals else None
                    lo = [r["scores"].get(f"{score}_lower") for r in done if r["scores"].get(f"{score}_lower") is not None]
                    hi = [r["scores"].get(f"{score}_upper") for r in done if r["scores"].get(f"{score}_upper") is not None]
                    if lo and hi:
                        cell.intervals[score] = (float(np.mean(lo)), float(np.mean(hi)))
                for r in done:
                    for key, why in sorted((r.get("outputs") or {}).items()):
                        if key.endswith("_skipped") and isinstance(why, str):
                            cell.omitted.setdefault(key[: -len("_skipped")], why)
                fits = [r["timing"].get("fit_s") for r in done if r["timing"].get("fit_s") is not None]
                cell.fit_s = float(np.mean(fits)) if fits else None
                peaks = [r["memory"].get("peak_delta_mb") for r in done if r["memory"].get("peak_delta_mb") is not None]
                cell.peak_mb = float(max(peaks)) if peaks else None
                for name in reference_names:
                    ref_values[name].extend(r["scores"][name] for r in done if r["scores"].get(name) is not None)
                if track is not None:
                    pts = defaultdict(list)
                    for r in done:
                        for score, value in r["scores"].items():
                            x = track.curve_point(score)
                            if x is not None and value is not None:
                                pts[x].append(value)
                    if pts:
                        curves[ds][v] = sorted((x, float(np.mean(vs))) for x, vs in pts.items())
            cells.append(cell)
        ranked = [c for c in cells if c.mean is not None]
        if ranked:
            keys = [(-c.mean if higher else c.mean) for c in ranked]
            for c, rk in zip(ranked, rankdata(keys, method="average")):
                c.rank = float(rk)
        cells.sort(key=lambda c: (c.rank is None, c.rank if c.rank is not None else 0.0, c.note != "", c.variant))
        datasets[ds] = cells
        references[ds] = {}
        for name in reference_names:
            m, _sd, ci = mean_ci(ref_values.get(name, []))
            if not math.isnan(m):
                references[ds][name] = (m, ci)

    overall = _overall(datasets, variants, method_of)
    return TrackBoard(track_name, primary, track.primary.description if track else "", higher, columns,
                      datasets, fingerprints, references, overall, curves,
                      track.curve_label if track else "")


def _absent_note(registry, track, method: str, dataset: str) -> str:
    if registry is None or track is None:
        return "not run"
    try:
        cls = registry.method(track.name, method)
        card = registry.card(dataset)
    except Exception:  # noqa: BLE001 - the plugin or card is gone: say so
        return "not run"
    reason = track.applicable(cls, card)
    return f"n/a ({reason})" if reason else "not run"


def _overall(datasets: Mapping[str, list[Cell]], variants: list[str], method_of: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = []
    for v in variants:
        ranks, applicable, wins, means = [], 0, 0, []
        for cells in datasets.values():
            cell = next(c for c in cells if c.variant == v)
            if cell.note.startswith("n/a"):
                continue
            applicable += 1
            if cell.rank is not None:
                ranks.append(cell.rank)
                means.append(cell.mean)
                wins += cell.rank == 1.0
        rows.append({
            "variant": v, "method": method_of[v],
            "mean_rank": _r(float(np.mean(ranks)), 3) if ranks else None,
            "ranked": len(ranks), "applicable": applicable, "wins": int(wins),
            "mean_primary": _r(float(np.mean(means)), 4) if means else None,
        })
    rows.sort(key=lambda r: (r["ranked"] < r["applicable"] or r["ranked"] == 0,
                             r["mean_rank"] if r["mean_rank"] is not None else math.inf, r["variant"]))
    for i, r in enumerate(rows, 1):
        r["position"] = i
    return rows


# ------------------------------------------------------------------------------------------------ emitters


def _fmt(x: float | None, nd: int = 3) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{nd}f}"


def _label(cell: Cell) -> str:
    mark = {"positive": " (+ control)", "negative": " (− control)"}.get(cell.control or "", "")
    return f"{cell.variant}{mark}"


def _primary_text(cell: Cell) -> str:
    if cell.mean is None:
        return cell.note or cell.status_text() or "—"
    return f"{cell.mean:.3f} ± {cell.ci95:.3f}" if cell.ci95 is not None else f"{cell.mean:.3f}"


def dataset_rows(tb: TrackBoard, ds: str) -> tuple[list[str], list[list[str]]]:
    headers = ["rank", "method", f"{tb.primary} (mean ± 95% CI)", "seeds"]
    headers += [h for _s, h in tb.columns] + ["fit s", "peak MiB", "status"]
    rows = []
    for c in tb.datasets[ds]:
        sec = []
        for score, _h in tb.columns:
            val = c.secondary.get(score)
            text = _fmt(val)
            if score in c.intervals and val is not None:
                lo, hi = c.intervals[score]
                text += f" [{_fmt(lo, 2)}, {_fmt(hi, 2)}]"
            sec.append(text)
        rows.append([
            "—" if c.rank is None else (f"{c.rank:g}"), _label(c), _primary_text(c),
            f"{c.n_done}/{c.n_total}" if c.n_total else "0", *sec,
            _fmt(c.fit_s, 3), _fmt(c.peak_mb, 0), c.status_text() or ("ok" if c.n_total else c.note),
        ])
    return headers, rows


def overall_rows(tb: TrackBoard) -> tuple[list[str], list[list[str]]]:
    headers = ["#", "method", "mean rank", "datasets ranked", "wins", f"mean {tb.primary}"]
    rows = [[str(r["position"]), r["variant"], _fmt(r["mean_rank"], 2), f"{r['ranked']}/{r['applicable']}",
             str(r["wins"]), _fmt(r["mean_primary"])] for r in tb.overall]
    return headers, rows


def _provenance_lines(board: Board, tb: TrackBoard) -> list[str]:
    p = board.provenance
    return [
        f"- profile: `{board.profile}`; featbench {', '.join(p['featbench'])}; code commit(s): "
        + ", ".join(f"`{c[:12]}`" for c in p["commits"]),
        f"- primary score `{tb.primary}` ({'higher' if tb.higher_is_better else 'lower'} is better): "
        f"{tb.primary_description}",
        f"- {sum(c.n_total for cells in tb.datasets.values() for c in cells)} result files; datasets pinned by "
        "fingerprint: " + ", ".join(f"{d} `{f[:12]}`" for d, f in sorted(tb.fingerprints.items())),
    ]


def track_markdown(board: Board, tb: TrackBoard) -> str:
    from tabulate import tabulate

    out = [f"# featbench leaderboard: {tb.track} ({board.profile})", "", *_provenance_lines(board, tb), "",
           "## Overall", "", "Mean rank over the datasets where a method applies and finished; coverage below "
           "100 % sorts last.", ""]
    h, rows = overall_rows(tb)
    out += [tabulate(rows, headers=h, tablefmt="github", disable_numparse=True), ""]
    for ds in tb.datasets:
        out += [f"## {ds}", ""]
        refs = tb.references.get(ds) or {}
        if refs:
            out += ["All features (reference line): " + ", ".join(
                f"`{n}` {m:.3f}" + (f" ± {ci:.3f}" if ci is not None else "") for n, (m, ci) in sorted(refs.items())), ""]
        h, rows = dataset_rows(tb, ds)
        out += [tabulate(rows, headers=h, tablefmt="github", disable_numparse=True), ""]
        omitted = [(c.variant, score, why) for c in tb.datasets[ds] for score, why in sorted(c.omitted.items())]
        if omitted:
            out += ["Scores left out: " + "; ".join(f"`{score}` of {v}: {why}" for v, score, why in omitted), ""]
    return "\n".join(out).rstrip() + "\n"


def to_markdown(board: Board) -> str:
    return "\n".join(track_markdown(board, tb) for tb in board.tracks.values())


def track_csv(tb: TrackBoard) -> str:
    import csv

    buf = io.StringIO()
    sec = [s for s, _h in tb.columns]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["track", "dataset", "variant", "method", "control", "rank", "mean", "sd", "ci95", "n_done",
                "n_total", "statuses", *sec, "fit_s", "peak_mb", "note"])
    for ds, cells in tb.datasets.items():
        for c in cells:
            w.writerow([tb.track, ds, c.variant, c.method, c.control or "", "" if c.rank is None else c.rank,
                        *("" if x is None else _r(x) for x in (c.mean, c.sd, c.ci95)), c.n_done, c.n_total,
                        ";".join(f"{s}={n}" for s, n in sorted(c.statuses.items())),
                        *("" if c.secondary.get(s) is None else _r(c.secondary[s]) for s in sec),
                        "" if c.fit_s is None else _r(c.fit_s, 4), "" if c.peak_mb is None else _r(c.peak_mb, 1),
                        c.note])
    return buf.getvalue()


def track_json(board: Board, tb: TrackBoard) -> dict[str, Any]:
    return {
        "schema": LEADERBOARD_SCHEMA, "track": tb.track, "profile": board.profile,
        "primary": {"name": tb.primary, "higher_is_better": tb.higher_is_better, "description": tb.primary_description},
        "provenance": board.provenance,
        "datasets": {ds: {"fingerprint": tb.fingerprints[ds],
                          "references": {n: {"mean": _r(m), "ci95": _r(ci)} for n, (m, ci) in sorted(tb.references.get(ds, {}).items())},
                          "cells": [c.as_json() for c in cells]}
                     for ds, cells in tb.datasets.items()},
        "overall": tb.overall,
    }


# ------------------------------------------------------------------------------------------------ HTML


def _figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None}, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def track_plots(tb: TrackBoard) -> dict[str, bytes]:
    """PNG figures: a heat map of the primary score (methods × datasets) and score-vs-k curves per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, bytes] = {}
    dsets = list(tb.datasets)
    variants = [r["variant"] for r in tb.overall]
    if dsets and variants:
        M = np.full((len(variants), len(dsets)), np.nan)
        for j, ds in enumerate(dsets):
            for c in tb.datasets[ds]:
                if c.mean is not None:
                    M[variants.index(c.variant), j] = c.mean
        fig, ax = plt.subplots(figsize=(1.0 + 0.45 * len(dsets), 1.0 + 0.3 * len(variants)))
        im = ax.imshow(M, aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(dsets)), dsets, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(variants)), variants, fontsize=7)
        fig.colorbar(im, ax=ax, label=tb.primary)
        ax.set_title(f"{tb.track}: {tb.primary} (blank = no finished job)", fontsize=9)
        figs[f"{tb.track}-heatmap.png"] = _figure_png(fig)
    with_curves = [ds for ds in dsets if tb.curves.get(ds)]
    if with_curves:
        ncol = min(4, len(with_curves))
        nrow = math.ceil(len(with_curves) / ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.4 * nrow), squeeze=False)
        colors = plt.get_cmap("tab20").colors
        styles = ("-", "--", ":")
        all_variants = sorted({v for ds in with_curves for v in tb.curves[ds]})
        look = {v: (colors[i % len(colors)], styles[(i // len(colors)) % len(styles)])
                for i, v in enumerate(all_variants)}
        for ax, ds in zip(axes.flat, with_curves):
            for v, pts in sorted(tb.curves[ds].items()):
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker=".", ms=3, lw=1, color=look[v][0], ls=look[v][1], label=v)
            ax.set_xscale("log")
            ax.set_title(ds, fontsize=8)
            ax.tick_params(labelsize=6)
        for ax in list(axes.flat)[len(with_curves):]:
            ax.axis("off")
        handles = [plt.Line2D([], [], color=look[v][0], ls=look[v][1], lw=1.5) for v in all_variants]
        fig.suptitle(f"{tb.track}: {tb.curve_label} (mean over seeds)", fontsize=9)
        fig.tight_layout()
        fig.legend(handles, all_variants, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
        figs[f"{tb.track}-curves.png"] = _figure_png(fig)
    return figs


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(board: Board, plots: Mapping[str, bytes]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>featbench leaderboard</title><style>"
             "body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}"
             "table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}"
             "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}th{background:#f3f3f3}"
             "img{max-width:100%}</style></head><body>",
             f"<h1>featbench leaderboard ({html.escape(board.profile)})</h1>"]
    for tb in board.tracks.values():
        parts.append(f"<h2>{html.escape(tb.track)}</h2><ul>")
        for line in _provenance_lines(board, tb):
            parts.append(f"<li>{html.escape(line[2:]).replace('`', '')}</li>")
        parts.append("</ul><h3>Overall</h3>")
        parts.append(_html_table(*overall_rows(tb)))
        for name in (f"{tb.track}-heatmap.png", f"{tb.track}-curves.png"):
            if name in plots:
                data = base64.b64encode(plots[name]).decode()
                parts.append(f"<p><img alt='{name}' src='data:image/png;base64,{data}'></p>")
        for ds in tb.datasets:
            parts.append(f"<h3>{html.escape(ds)}</h3>")
            refs = tb.references.get(ds) or {}
            if refs:
                parts.append("<p>All features (reference): " + html.escape(", ".join(
                    f"{n} {m:.3f}" for n, (m, _ci) in sorted(refs.items()))) + "</p>")
            parts.append(_html_table(*dataset_rows(tb, ds)))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write(board: Board, out: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write the chosen formats under ``out`` (one file per track, plus ``index.html``); return the paths."""
    from bench_core.store import atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    plots: dict[str, bytes] = {}
    for tb in board.tracks.values():
        if "md" in formats:
            p = out / f"{tb.track}.md"
            atomic_write_text(p, track_markdown(board, tb))
            written.append(p)
        if "csv" in formats:
            p = out / f"{tb.track}.csv"
            atomic_write_text(p, track_csv(tb))
            written.append(p)
        if "json" in formats:
            p = out / f"{tb.track}.json"
            atomic_write_text(p, json.dumps(track_json(board, tb), indent=1, sort_keys=True) + "\n")
            written.append(p)
        if "html" in formats:
            for name, data in track_plots(tb).items():
                (out / name).write_bytes(data)
                written.append(out / name)
                plots[name] = data
    if "html" in formats:
        p = out / "index.html"
        atomic_write_text(p, to_html(board, plots))
        written.append(p)
    return written
