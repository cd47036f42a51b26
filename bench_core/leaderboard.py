"""Leaderboards: a pure function from result records to tables, and emitters (Markdown, CSV, JSON, HTML).

Everything below is driven by the :class:`~bench_core.tracks.base.Track` object (its primary score and
direction, ``leaderboard_columns``, ``reference_scores``, ``control_margin``, ``ground_truth_property``)
and by the methods' tags (controls); no track is special-cased.

Which results make a row
========================
A row is one method *variant* — one (method, version, parameters) — under one protocol version, on one
dataset fingerprint. By default the board shows what the installed code would run now: the track's
``protocol_version``, each method's installed ``version``, the parameters its profile would give it, and
each dataset card's current fingerprint (without a registry, the newest record's values stand in for the
installed ones). Every other record is **stale**: it is never averaged in; the board states how many there
are and why, and ``featbench leaderboard --prune-stale`` deletes them. Each result records a hash of its
method's source (:func:`bench_core.execute.jobs.method_source_hash`); where the installed source differs
from the recorded one the board warns (results of edited code whose ``version`` was not bumped).

Seeds
=====
Each dataset table ranks on one common seed set: the seeds planned for it (the profile's seed count, plus
any other seed that has a result there). The ``seeds`` column reads *done/planned*. A cell with a finished
result for every planned seed is *complete* and ranked by its mean over them; a cell short of seeds (a seed
failed, timed out or was never run) shows its mean over what finished, flagged, and is neither ranked nor
counted as a win.

Intervals
=========
For n ≥ 3 seeds the primary score reads ``mean ± h`` with ``h`` the half-width of the 95 % Student-t
interval (n − 1 degrees of freedom). For n = 2 a t-interval is correct but useless (t = 12.7), so the board
shows the mean and the two values, ``mean [min, max]``; for n = 1 the value and ``(1 seed)``.

Statistics (scipy, nothing hand-rolled beyond the textbook formulas)
===================================================================
- **Per dataset**, the complete cells statistically indistinguishable from the best are marked ``≈``: a
  two-sided paired t-test over the common seeds (``scipy.stats.ttest_rel``; the evaluator noise is shared
  by the seed's split, so seeds pair), at α = 0.05, p ≥ α meaning indistinguishable. With 2–3 seeds the
  test has little power: ``≈`` means "not shown to differ", not "equal". Identical paired values give
  p = 1; a constant non-zero difference p = 0. No test with fewer than 2 seeds.
- **Informative datasets**: a dataset enters the overall ranking only where its positive control beats its
  negative control by the track's ``control_margin`` (primary-score units); otherwise it is listed with
  that reason (even the truth scores like chance there, so its ranks are noise). Datasets without both
  controls enter. A dataset where every cell finished without a primary score (the similarity track's
  runtime family) ranks nobody and is listed with that reason too.
- **Overall**, separately for data with ground truth and for the other (real) data: each variant's mean
  rank over the informative datasets where it applies. On each dataset the complete cells are ranked by
  their mean; an applicable cell whose jobs *failed* (timeout, error, a failed seed: a result at the
  profile's budget) is tied for last, so a timeout costs rank instead of vanishing; a cell never run counts
  as not covered. Coverage (datasets counted / applicable) is stated and the table is sorted by mean rank
  alone. Controls are marked.
- **Friedman test and critical difference** (Demšar 2006) over the variants counted on every informative
  dataset of the group (others are listed): ``scipy.stats.friedmanchisquare`` on the rank matrix, and the
  Nemenyi critical difference CD = q_α · sqrt(k (k + 1) / (6 N)) with q_α =
  ``scipy.stats.studentized_range.ppf(1 − α, k, ∞) / √2``; methods whose mean rank is within CD of the
  best are marked. The HTML draws the critical-difference diagram.

Output is deterministic: stable order, fixed rounding, no timestamps in Markdown, CSV or JSON, and a
provenance header (featbench version, code commits, profile, dataset fingerprints, number of results).
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from bench_core.execute.devices import result_device

FORMATS = ("md", "csv", "json", "html")
LEADERBOARD_SCHEMA = 2
ALPHA = 0.05


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


def paired_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided paired t-test p-value of ``a`` vs ``b`` (same seeds, same order); None below 2 pairs.

    Identical pairs give 1.0 and a constant non-zero difference 0.0 (where the t statistic is undefined).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size < 2:
        return None
    diff = a - b
    if np.all(diff == 0):
        return 1.0
    if np.all(diff == diff[0]):
        return 0.0
    from scipy.stats import ttest_rel

    return float(ttest_rel(a, b).pvalue)


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi critical difference of mean ranks for ``k`` methods on ``n`` datasets (Demšar 2006)."""
    from scipy.stats import studentized_range

    q = float(studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q * math.sqrt(k * (k + 1) / (6.0 * n))


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
    #: seeds planned for the dataset's table (the common seed set)
    n_planned: int = 0
    #: a finished result for every planned seed: ranked; otherwise shown, flagged, unranked
    complete: bool = False
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
    #: paired t-test p-value against the best cell (1.0 for the best itself); None when untested
    p_best: float | None = None
    near_best: bool = False
    note: str = ""  # "n/a (...)" or "not run"
    #: scores a track left out of finished jobs, with its reason (``outputs["<score>_skipped"]``)
    omitted: dict[str, str] = field(default_factory=dict)
    method_version: str = ""
    #: every result of the cell came from the packaged baselines (:mod:`bench_core.baselines`)
    baseline: bool = False
    #: finished results per device kind ("cpu", "cuda"), which ``compare`` matches like with like
    devices: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Applicable, attempted, and some job did not finish: a result at the profile's budget."""
        return not self.complete and any(s != "done" for s in self.statuses)

    @property
    def spread(self) -> tuple[float, float] | None:
        vals = [v for _s, v in self.values]
        return (min(vals), max(vals)) if vals else None

    def status_text(self) -> str:
        bad = {s: n for s, n in sorted(self.statuses.items()) if s != "done"}
        return ", ".join(f"{s} ×{n}" for s, n in bad.items())

    def as_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "variant": self.variant, "method": self.method, "control": self.control,
            "method_version": self.method_version,
            "rank": self.rank, "mean": _r(self.mean), "sd": _r(self.sd), "ci95": _r(self.ci95),
            "n_done": self.n_done, "n_total": self.n_total, "n_planned": self.n_planned,
            "complete": self.complete, "p_best": _r(self.p_best), "near_best": self.near_best,
            "statuses": dict(sorted(self.statuses.items())),
            "values": [[s, _r(v)] for s, v in sorted(self.values)],
            "secondary": {k: _r(v) for k, v in sorted(self.secondary.items())},
            "intervals": {k: [_r(a), _r(b)] for k, (a, b) in sorted(self.intervals.items())},
            "fit_s": _r(self.fit_s, 4), "peak_mb": _r(self.peak_mb, 1), "note": self.note,
            "omitted": dict(sorted(self.omitted.items())), "baseline": self.baseline,
            "devices": dict(sorted(self.devices.items())),
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
    #: one block per dataset group: {"group", "title", "datasets", "excluded", "rows", "friedman"}
    overall: list[dict[str, Any]]
    curves: dict[str, dict[str, list[tuple[float, float]]]]  # dataset -> variant -> [(x, y)]
    curve_label: str = ""
    #: dataset -> None (enters the overall ranking) or the reason it does not
    uninformative: dict[str, str | None] = field(default_factory=dict)
    stale: dict[str, int] = field(default_factory=dict)  # reason -> count
    source_changed: dict[str, int] = field(default_factory=dict)  # method -> results of other source
    planned: dict[str, list[int]] = field(default_factory=dict)  # dataset -> planned seeds
    protocol_version: int | None = None
    #: this track's own provenance (commits, versions, run span of its results only), as :attr:`Board.provenance`
    provenance: dict[str, Any] = field(default_factory=dict)

    def overall_rows(self) -> list[dict[str, Any]]:
        return [r for block in self.overall for r in block["rows"]]


@dataclass
class Board:
    profile: str
    tracks: dict[str, TrackBoard]
    provenance: dict[str, Any]

    def markdown(self) -> str:
        return to_markdown(self)

    def warnings(self) -> list[str]:
        """Stale results left out and results of edited code, one line each (for stderr)."""
        out = []
        for tb in self.tracks.values():
            if tb.stale:
                out.append(f"note: {tb.track}: {sum(tb.stale.values())} stale result file(s) left out ("
                           + "; ".join(f"{n} × {why}" for why, n in tb.stale.items())
                           + f"); delete them with `featbench leaderboard --profile {self.profile} --prune-stale`")
            for m, n in tb.source_changed.items():
                out.append(f"warning: {m} ({tb.track}): the installed source differs from the one recorded with "
                           f"{n} result(s); re-run with `featbench run --force --method {m}`, or bump its `version`")
        return out


def _method_entry(registry, track: str, method: str):
    if registry is None:
        return None
    return registry.methods.get(track, {}).get(method)


def _method_control(registry, track: str, method: str) -> str | None:
    entry = _method_entry(registry, track, method)
    return entry.obj.tags.control if entry is not None else None


def _card(registry, name: str):
    if registry is None:
        return None
    try:
        return registry.card(name)
    except Exception:  # noqa: BLE001 - the card is gone
        return None


def _newest(recs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    return max(recs, key=lambda r: ((r.get("provenance") or {}).get("finished_at") or "", r["key"]))


def _params_json(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def partition(records: Iterable[Mapping[str, Any]], registry=None, profile: str = ""
              ) -> tuple[list[Mapping[str, Any]], list[tuple[Mapping[str, Any], str]]]:
    """Split records into those of what the installed code would run now, and stale ones with the reason.

    Current means: the track's protocol version (from the code), the method's installed version and the
    parameters its profile would give it (from the registry), the dataset card's current fingerprint. Where
    the registry does not know a method or card, the newest record of it (by finish time) stands in.
    """
    from bench_core.execute.jobs import method_variants
    from bench_core.profiles import PROFILES
    from bench_core.tracks import TRACKS

    records = list(records)
    prof = PROFILES.get(profile)
    by_method: dict[tuple[str, str], list] = defaultdict(list)
    by_dataset: dict[tuple[str, str], list] = defaultdict(list)
    by_track: dict[str, list] = defaultdict(list)
    for r in records:
        by_method[(r["track"], r["method"])].append(r)
        by_dataset[(r["track"], r["dataset"])].append(r)
        by_track[r["track"]].append(r)
    proto_now = {t: (TRACKS[t].protocol_version if t in TRACKS else max(r["protocol_version"] for r in recs))
                 for t, recs in by_track.items()}
    version_now: dict[tuple[str, str], str] = {}
    params_now: dict[tuple[str, str], set[str] | None] = {}
    for (t, m), recs in by_method.items():
        entry = _method_entry(registry, t, m)
        if entry is not None:
            cls = entry.obj
            version_now[(t, m)] = str(cls.version)
            params_now[(t, m)] = ({_params_json(p) for p in method_variants(cls, prof)} if prof is not None
                                  else None)
        else:
            newest = _newest(recs)
            version_now[(t, m)] = str(newest["method_version"])
            params_now[(t, m)] = None
    fp_now = {}
    for (t, ds), recs in by_dataset.items():
        card = _card(registry, ds)
        fp_now[(t, ds)] = card.fingerprint if card is not None else _newest(recs)["dataset_fingerprint"]
    current, stale = [], []
    for r in records:
        t, m = r["track"], r["method"]
        if r["protocol_version"] != proto_now[t]:
            stale.append((r, f"protocol version {r['protocol_version']} (now {proto_now[t]})"))
        elif str(r["method_version"]) != version_now[(t, m)]:
            stale.append((r, f"method version {r['method_version']} (installed {version_now[(t, m)]})"))
        elif r["dataset_fingerprint"] != fp_now[(t, r["dataset"])]:
            stale.append((r, "dataset card changed since"))
        elif params_now[(t, m)] is not None and _params_json(r["params"]) not in params_now[(t, m)]:
            stale.append((r, "parameters the profile no longer gives"))
        else:
            current.append(r)
    # without a registry, two parameter sets of one variant name on one dataset: keep the newest
    groups: dict[tuple, list] = defaultdict(list)
    for r in current:
        groups[(r["track"], r["dataset"], r["variant"])].append(r)
    keep = []
    for recs in groups.values():
        newest = _params_json(_newest(recs)["params"])
        for r in recs:
            (keep.append(r) if _params_json(r["params"]) == newest else stale.append((r, "older parameters")))
    return keep, stale


def prune_stale(store, records: Iterable[Mapping[str, Any]], registry=None, profile: str = "") -> int:
    """Delete the stale result files among ``records`` (see :func:`partition`); return how many."""
    _current, stale = partition(records, registry, profile)
    n = 0
    for r, _why in stale:
        path = store.path_for(r["track"], r["dataset"], r["method"], r["key"])
        if path.exists():
            path.unlink()
            n += 1
    return n


def _source_changed(registry, track: str, recs: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Methods whose installed source hash differs from the one recorded in their current results."""
    from bench_core.execute.jobs import method_source_hash

    out: dict[str, int] = {}
    installed: dict[str, str | None] = {}
    for r in recs:
        recorded = r.get("method_source")
        if not recorded:
            continue
        m = r["method"]
        if m not in installed:
            entry = _method_entry(registry, track, m)
            installed[m] = method_source_hash(entry.obj) if entry is not None else None
        if installed[m] is not None and installed[m] != recorded:
            out[m] = out.get(m, 0) + 1
    return dict(sorted(out.items()))


def build(records: Iterable[Mapping[str, Any]], registry=None, profile: str = "") -> Board:
    """Aggregate result records (dicts as stored) into a :class:`Board` (stale records left out)."""
    records = list(records)
    current, stale = partition(records, registry, profile)
    current = sorted(current, key=lambda r: (r["track"], r["dataset"], r["variant"], r["seed"], r["key"]))
    by_track: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in current:
        by_track[r["track"]].append(r)
    stale_by_track: dict[str, Counter] = defaultdict(Counter)
    for r, why in stale:
        stale_by_track[r["track"]][why] += 1
        by_track.setdefault(r["track"], [])
    tracks = {}
    for t, recs in sorted(by_track.items()):
        tb = _build_track(t, recs, registry, profile)
        tb.stale = dict(sorted(stale_by_track[t].items()))
        tb.source_changed = _source_changed(registry, t, recs)
        tb.provenance = _provenance(profile, recs, sum(tb.stale.values()))
        tracks[t] = tb
    return Board(profile=profile, tracks=tracks, provenance=_provenance(profile, current, len(stale)))


def _provenance(profile: str, current: Sequence[Mapping[str, Any]], n_stale: int) -> dict[str, Any]:
    """Versions, commits, devices and run span of a set of current records (one track's, or the board's)."""
    commits = sorted({(r.get("provenance") or {}).get("git_commit") or "unknown" for r in current})
    versions = sorted({(r.get("provenance") or {}).get("featbench") or "unknown" for r in current})
    provenance = {"profile": profile, "featbench": versions, "commits": commits, "results": len(current),
                  "stale": n_stale,
                  "devices": dict(sorted(Counter(result_device(r) for r in current if r["status"] == "done").items()))}
    own = [r for r in current if r.get("origin") != "baseline"]  # merged packaged baselines: bench_core.baselines
    if len(own) < len(current):
        provenance["baseline_results"] = len(current) - len(own)
    span = _span(own)
    if span:
        provenance["span"] = span
    return provenance


def _span(recs: Sequence[Mapping[str, Any]]) -> dict[str, float] | None:
    """Wall time from the first job's start to the last job's finish, and the summed job wall times."""
    import datetime as dt

    starts, ends, worker = [], [], 0.0
    for r in recs:
        p = r.get("provenance") or {}
        try:
            starts.append(dt.datetime.fromisoformat(p["started_at"]))
            ends.append(dt.datetime.fromisoformat(p["finished_at"]))
        except (KeyError, TypeError, ValueError):
            continue
        worker += float((r.get("timing") or {}).get("wall_s") or 0.0)
    if not starts:
        return None
    wall = (max(ends) - min(starts)).total_seconds()
    return {"wall_h": round(wall / 3600, 3), "worker_h": round(worker / 3600, 3)}


def _planned_seeds(recs: Sequence[Mapping[str, Any]], profile: str, card) -> list[int]:
    from bench_core.profiles import PROFILES

    seeds = {int(r["seed"]) for r in recs}
    if profile in PROFILES:
        n = PROFILES[profile].seeds
        if card is not None:
            n = min(n, card.split.count)
        seeds |= set(range(n))
    return sorted(seeds)


def _build_track(track_name: str, recs: list[Mapping[str, Any]], registry, profile: str = "") -> TrackBoard:
    from scipy.stats import rankdata

    from bench_core.tracks import TRACKS

    track = TRACKS.get(track_name)
    primary = track.primary.name if track else "primary"
    higher = track.primary.higher_is_better if track else True
    columns = track.leaderboard_columns() if track else []
    reference_names = track.reference_scores() if track else []
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    by_ds: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    fingerprints: dict[str, str] = {}
    method_of: dict[str, str] = {}
    params_of: dict[str, Mapping[str, Any]] = {}
    for r in recs:
        groups[(r["dataset"], r["variant"])].append(r)
        by_ds[r["dataset"]].append(r)
        fingerprints[r["dataset"]] = r["dataset_fingerprint"]
        method_of[r["variant"]] = r["method"]
        params_of[r["variant"]] = r.get("params") or {}

    datasets: dict[str, list[Cell]] = {}
    references: dict[str, dict[str, tuple[float, float | None]]] = {}
    curves: dict[str, dict[str, list[tuple[float, float]]]] = {}
    planned_of: dict[str, list[int]] = {}
    variants = sorted(method_of)
    for ds in sorted(fingerprints):
        planned = _planned_seeds(by_ds[ds], profile, _card(registry, ds))
        planned_of[ds] = planned
        cells = []
        ref_values: dict[str, list[float]] = defaultdict(list)
        curves[ds] = {}
        for v in variants:
            group = groups.get((ds, v), [])
            cell = Cell(dataset=ds, variant=v, method=method_of[v], control=_method_control(registry, track_name, method_of[v]),
                        n_planned=len(planned))
            if not group:
                cell.note = _absent_note(registry, track, method_of[v], ds, params_of[v], by_ds[ds][0].get("settings"))
                cells.append(cell)
                continue
            cell.method_version = str(group[0]["method_version"])
            cell.baseline = all(r.get("origin") == "baseline" for r in group)
            cell.n_total = len(group)
            cell.statuses = dict(Counter(r["status"] for r in group))
            done = [r for r in group if r["status"] == "done"]
            cell.n_done = len(done)
            cell.devices = dict(Counter(result_device(r) for r in done))
            if done:
                cell.values = [(r["seed"], r["scores"].get(primary)) for r in done if r["scores"].get(primary) is not None]
                cell.complete = sorted(s for s, _x in cell.values) == planned
                m, sd, ci = mean_ci([x for _s, x in cell.values])
                cell.mean, cell.sd = (None if math.isnan(m) else m), sd
                cell.ci95 = ci if len(cell.values) >= 3 else None
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
        ranked = [c for c in cells if c.complete and c.mean is not None]
        if ranked:
            keys = [(-c.mean if higher else c.mean) for c in ranked]
            for c, rk in zip(ranked, rankdata(keys, method="average")):
                c.rank = float(rk)
            best = min(ranked, key=lambda c: (c.rank, c.variant))
            best_vals = [x for _s, x in sorted(best.values)]
            for c in ranked:
                c.p_best = 1.0 if c is best else paired_p(best_vals, [x for _s, x in sorted(c.values)])
                c.near_best = c.p_best is not None and c.p_best >= ALPHA
        cells.sort(key=lambda c: (c.rank is None, c.rank if c.rank is not None else 0.0,
                                  c.mean is None, c.note != "", c.variant))
        datasets[ds] = cells
        references[ds] = {}
        for name in reference_names:
            m, _sd, ci = mean_ci(ref_values.get(name, []))
            if not math.isnan(m):
                references[ds][name] = (m, ci)

    uninformative = {ds: _uninformative(cells, higher, track.control_margin if track else 0.0)
                     for ds, cells in datasets.items()}
    overall = _overall(track, datasets, variants, method_of, uninformative, registry, higher)
    return TrackBoard(track_name, primary, track.primary.description if track else "", higher, columns,
                      datasets, fingerprints, references, overall, curves,
                      track.curve_label if track else "", uninformative=uninformative, planned=planned_of,
                      protocol_version=(track.protocol_version if track else
                                        max((r["protocol_version"] for r in recs), default=None)))


def _absent_note(registry, track, method: str, dataset: str, params: Mapping[str, Any] | None = None,
                 settings: Mapping[str, Any] | None = None) -> str:
    """Why a (variant, dataset) cell has no record: n/a with the track's reason (the method, or this variant
    of it under the dataset's recorded ``settings``, is not run there), else "not run"."""
    if registry is None or track is None:
        return "not run"
    try:
        cls = registry.method(track.name, method)
        card = registry.card(dataset)
    except Exception:  # noqa: BLE001 - the plugin or card is gone: say so
        return "not run"
    reason = track.applicable(cls, card)
    if not reason and params is not None and settings is not None:
        reason = track.variant_applicable(cls, params, card, settings)
    return f"n/a ({reason})" if reason else "not run"


def _uninformative(cells: Sequence[Cell], higher: bool, margin: float) -> str | None:
    """None if the dataset enters the overall ranking, else why not (see the module docstring)."""
    ran = [c for c in cells if c.n_total]
    if ran and all(c.n_done == c.n_total and not c.values for c in ran):
        # every cell finished and none has a primary score (the track leaves it out here, e.g. a runtime family):
        # the dataset ranks nobody, and counting it would leave every method short of full coverage
        return "no primary score: every cell finished without one here (see its `<score>_skipped` output)"
    pos = [c for c in cells if c.control == "positive" and c.complete]
    neg = [c for c in cells if c.control == "negative" and c.complete]
    if not pos or not neg:
        return None
    p, n = max(pos, key=lambda c: c.mean if higher else -c.mean), neg[0]
    gain = (p.mean - n.mean) if higher else (n.mean - p.mean)
    if gain >= margin:
        return None
    return (f"uninformative: the positive control {p.variant} ({p.mean:.3f}) beats the negative control "
            f"{n.variant} ({n.mean:.3f}) by {gain:.3f}, under the margin {margin:g}")


def _groups(track, datasets: Mapping[str, list[Cell]], registry) -> list[tuple[str, str, list[str]]]:
    prop = track.ground_truth_property if track is not None else None
    if prop is None or registry is None:
        return [("all", "all datasets", list(datasets))]
    with_gt, without = [], []
    for ds in datasets:
        card = _card(registry, ds)
        (with_gt if card is not None and prop in card.properties else without).append(ds)
    out = []
    if with_gt:
        out.append(("ground_truth", "data with ground truth", with_gt))
    if without:
        out.append(("real", "data without ground truth (real data)", without))
    return out


def _overall_ranks(cells: Sequence[Cell], higher: bool) -> dict[str, float]:
    """Ranks for the overall table: complete cells by mean; failed applicable cells tied for last."""
    from scipy.stats import rankdata

    done = [c for c in cells if c.complete and c.mean is not None]
    failed = [c for c in cells if c.n_total and c.failed]
    out: dict[str, float] = {}
    if done:
        for c, rk in zip(done, rankdata([(-c.mean if higher else c.mean) for c in done], method="average")):
            out[c.variant] = float(rk)
    if failed:
        last = len(done) + (len(failed) + 1) / 2.0
        for c in failed:
            out[c.variant] = last
    return out


def _overall(track, datasets: Mapping[str, list[Cell]], variants: list[str], method_of: Mapping[str, str],
             uninformative: Mapping[str, str | None], registry, higher: bool) -> list[dict[str, Any]]:
    blocks = []
    for group, title, dsets in _groups(track, datasets, registry):
        included = [ds for ds in dsets if uninformative.get(ds) is None]
        excluded = [[ds, uninformative[ds]] for ds in dsets if uninformative.get(ds) is not None]
        ranks = {ds: _overall_ranks(datasets[ds], higher) for ds in included}
        rows = []
        for v in variants:
            rk, applicable, wins, means, failed, control, baseline = [], 0, 0, [], 0, None, True
            for ds in included:
                cell = next(c for c in datasets[ds] if c.variant == v)
                control = cell.control
                baseline = baseline and (cell.baseline or not cell.n_total)
                if cell.note.startswith("n/a"):
                    continue
                applicable += 1
                if v in ranks[ds]:
                    rk.append(ranks[ds][v])
                    failed += not cell.complete
                if cell.complete and cell.mean is not None:
                    means.append(cell.mean)
                    wins += cell.rank == 1.0
            if not applicable:
                continue
            rows.append({
                "variant": v, "method": method_of[v], "control": control,
                "mean_rank": _r(float(np.mean(rk)), 3) if rk else None,
                "ranked": len(rk), "applicable": applicable, "failed": failed, "wins": int(wins),
                "mean_primary": _r(float(np.mean(means)), 4) if means else None,
                "baseline": baseline and any(c.baseline for ds in included for c in datasets[ds] if c.variant == v),
            })
        rows.sort(key=lambda r: (r["mean_rank"] is None, r["mean_rank"] if r["mean_rank"] is not None else 0.0,
                                 r["variant"]))
        for i, r in enumerate(rows, 1):
            r["position"] = i
        blocks.append({"group": group, "title": title, "datasets": included, "excluded": excluded,
                       "rows": rows, "friedman": _friedman(rows, ranks, included)})
    return blocks


def _friedman(rows: list[dict[str, Any]], ranks: Mapping[str, Mapping[str, float]], included: list[str]
              ) -> dict[str, Any] | None:
    """Friedman test and Nemenyi CD over the variants counted on every included dataset."""
    full = [r["variant"] for r in rows if r["ranked"] == len(included) and r["ranked"] > 0]
    left_out = [r["variant"] for r in rows if r["variant"] not in full]
    k, n = len(full), len(included)
    if k < 3 or n < 2:
        for r in rows:
            r["within_cd"] = None
        return {"k": k, "n": n, "tested": False, "left_out": left_out,
                "reason": "needs at least 3 methods on every dataset and 2 datasets"}
    from scipy.stats import friedmanchisquare, rankdata

    M = np.array([[ranks[ds][v] for v in full] for ds in included])  # datasets × methods, rank 1 = best
    M = np.vstack([rankdata(row, method="average") for row in M])  # re-rank among the k tested methods
    stat, p = friedmanchisquare(*M.T)
    mean_ranks = M.mean(axis=0)
    cd = critical_difference(k, n)
    best = float(mean_ranks.min())
    mr = dict(zip(full, mean_ranks))
    for r in rows:
        r["within_cd"] = bool(mr[r["variant"]] - best <= cd) if r["variant"] in mr else None
    return {"k": k, "n": n, "tested": True, "statistic": _r(float(stat), 4), "p": float(f"{p:.4g}"),
            "cd": _r(cd, 4), "alpha": ALPHA, "left_out": left_out,
            "mean_ranks": {v: _r(float(x), 4) for v, x in sorted(mr.items())}}


# ------------------------------------------------------------------------------------------------ emitters


def _fmt(x: float | None, nd: int = 3) -> str:
    """``x`` to ``nd`` decimals; ``—`` when missing; never ``-0`` (a value that rounds to zero prints unsigned)."""
    if x is None or not math.isfinite(x):
        return "—"
    text = f"{x:.{nd}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _fmt_count(x: float | None) -> str:
    """A mean of counts: ``10`` when whole, else one decimal (``13.5``)."""
    if x is None or not math.isfinite(x):
        return "—"
    return _fmt(x, 0) if abs(x - round(x)) < 1e-9 else _fmt(x, 1)


def _is_count(tb: "TrackBoard", score: str) -> bool:
    from bench_core.tracks import TRACKS

    track = TRACKS.get(tb.track)
    declared = track.score(score) if track is not None else None
    return bool(declared is not None and declared.integer)


def _label(cell: Cell) -> str:
    mark = {"positive": " (+ control)", "negative": " (− control)"}.get(cell.control or "", "")
    return f"{cell.variant}{mark}{' (baseline)' if cell.baseline else ''}"


def _primary_text(cell: Cell) -> str:
    """``mean ± t-CI`` for n ≥ 3; ``mean [min, max]`` for n = 2; ``value (1 seed)`` for n = 1."""
    if cell.mean is None:
        return cell.note or cell.status_text() or "—"
    n = len(cell.values)
    if cell.ci95 is not None and n >= 3:
        text = f"{cell.mean:.3f} ± {cell.ci95:.3f}"
    elif n == 2:
        lo, hi = cell.spread
        text = f"{cell.mean:.3f} [{lo:.3f}, {hi:.3f}]"
    else:
        text = f"{cell.mean:.3f} (1 seed)"
    return text if cell.complete else text + " †"


def _best_text(c: Cell) -> str:
    if c.p_best is None:
        return ""
    if c.p_best == 1.0:  # the best cell, or one with exactly its values
        return "best"
    return f"≈ (p={c.p_best:.2f})" if c.near_best else f"p={c.p_best:.3f}"


def dataset_rows(tb: TrackBoard, ds: str) -> tuple[list[str], list[list[str]]]:
    headers = ["rank", "method", f"{tb.primary} (see intervals)", "vs best", "seeds"]
    headers += [h for _s, h in tb.columns] + ["fit s", "peak MiB", "status"]
    rows = []
    for c in tb.datasets[ds]:
        sec = []
        for score, _h in tb.columns:
            val = c.secondary.get(score)
            text = _fmt_count(val) if _is_count(tb, score) else _fmt(val)
            if score in c.intervals and val is not None:
                lo, hi = c.intervals[score]
                text += f" [{_fmt(lo, 2)}, {_fmt(hi, 2)}]"
            sec.append(text)
        status = c.status_text() or ("ok" if c.n_total else c.note)
        if c.n_total and not c.complete and c.mean is not None:
            status += f"; short of seeds ({len(c.values)}/{c.n_planned}): unranked"
        rows.append([
            "—" if c.rank is None else (f"{c.rank:g}"), _label(c), _primary_text(c), _best_text(c),
            f"{len(c.values)}/{c.n_planned}" if c.n_total else f"0/{c.n_planned}", *sec,
            _fmt(c.fit_s, 3), _fmt(c.peak_mb, 0), status,
        ])
    return headers, rows


def _row_label(r: Mapping[str, Any]) -> str:
    mark = {"positive": " (+ control)", "negative": " (− control)"}.get(r.get("control") or "", "")
    return f"{r['variant']}{mark}{' (baseline)' if r.get('baseline') else ''}"


def overall_rows(tb: TrackBoard, block: Mapping[str, Any] | None = None) -> tuple[list[str], list[list[str]]]:
    """One overall block's table (the first block when none is given)."""
    block = block if block is not None else (tb.overall[0] if tb.overall else {"rows": []})
    headers = ["#", "method", "mean rank", "datasets ranked", "of which failed", "wins", f"mean {tb.primary}",
               "within CD of best"]
    rows = [[str(r["position"]), _row_label(r), _fmt(r["mean_rank"], 2), f"{r['ranked']}/{r['applicable']}",
             str(r["failed"]), str(r["wins"]), _fmt(r["mean_primary"]),
             {True: "yes", False: "no", None: "—"}[r.get("within_cd")]] for r in block["rows"]]
    return headers, rows


def _friedman_text(block: Mapping[str, Any]) -> str:
    f = block.get("friedman") or {}
    if not f.get("tested"):
        return f"No Friedman test: {f.get('reason', 'no data')} (k = {f.get('k', 0)}, N = {f.get('n', 0)})."
    text = (f"Friedman test over k = {f['k']} methods on N = {f['n']} datasets: χ² = {f['statistic']:.2f}, "
            f"p = {f['p']:.3g}. Nemenyi critical difference at α = {f['alpha']:g}: CD = {f['cd']:.2f} mean ranks "
            "(methods within CD of the best are not shown to differ from it).")
    if f.get("left_out"):
        text += " Not in the test (not counted on every dataset): " + ", ".join(f["left_out"]) + "."
    return text


def _provenance_lines(board: Board, tb: TrackBoard) -> list[str]:
    p = tb.provenance or board.provenance
    lines = [
        f"- profile: `{board.profile}`; featbench {', '.join(p['featbench'])}; code commit(s): "
        + ", ".join(f"`{c[:12]}`" for c in p["commits"]),
        f"- primary score `{tb.primary}` ({'higher' if tb.higher_is_better else 'lower'} is better): "
        f"{tb.primary_description}",
        f"- {sum(c.n_total for cells in tb.datasets.values() for c in cells)} result files"
        + (f" ({sum(c.n_total for cells in tb.datasets.values() for c in cells if c.baseline)} from the packaged "
           "baselines, marked `(baseline)`)" if any(c.baseline for cells in tb.datasets.values() for c in cells)
           else "") + "; datasets pinned by "
        "fingerprint: " + ", ".join(f"{d} `{f[:12]}`" for d, f in sorted(tb.fingerprints.items())),
    ]
    if p.get("span"):
        s = p["span"]
        lines.append(f"- run span: {s['wall_h']:.2f} h wall from the first job's start to the last job's finish; "
                     f"{s['worker_h']:.2f} worker-hours in jobs")
    if tb.stale:
        lines.append(f"- {sum(tb.stale.values())} stale result file(s) left out (" + "; ".join(
            f"{n} × {why}" for why, n in tb.stale.items()) + "): remove them with `featbench leaderboard "
            f"--profile {board.profile} --prune-stale`")
    if tb.source_changed:
        lines.append("- WARNING: results of edited code: the installed source of " + ", ".join(
            f"{m} ({n} result(s))" for m, n in tb.source_changed.items()) + " differs from the source recorded "
            "with its results; re-run with `featbench run --force --method NAME`, or bump the method's `version`")
    return lines


def track_markdown(board: Board, tb: TrackBoard) -> str:
    from tabulate import tabulate

    out = [f"# featbench leaderboard: {tb.track} ({board.profile})", "", *_provenance_lines(board, tb), ""]
    for block in tb.overall:
        out += [f"## Overall: {block['title']}", "",
                f"Mean rank over the informative datasets of this group ({len(block['datasets'])}) where a method "
                "applies; on each, complete cells are ranked by their mean over the common seeds and a failed "
                "cell (timeout, error) is tied for last. Sorted by mean rank; coverage in `datasets ranked`.", ""]
        h, rows = overall_rows(tb, block)
        out += [tabulate(rows, headers=h, tablefmt="github", disable_numparse=True), "", _friedman_text(block), ""]
        if block["excluded"]:
            out += ["Not in this ranking: " + "; ".join(f"{ds}: {why}" for ds, why in block["excluded"]), ""]
    out += ["In the dataset tables: `†` a cell short of its planned seeds (shown, unranked, never a win); "
            "`vs best`: two-sided paired t-test over seeds against the best cell, `≈` where p ≥ 0.05; "
            "intervals: 95 % Student-t for 3 or more seeds, `[min, max]` of the two values for 2 seeds.", ""]
    for ds in tb.datasets:
        out += [f"## {ds}", ""]
        if tb.uninformative.get(ds):
            out += [f"Left out of the overall ranking: {tb.uninformative[ds]}.", ""]
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
    w.writerow(["track", "dataset", "variant", "method", "method_version", "control", "rank", "mean", "sd", "ci95",
                "n_done", "n_total", "n_planned", "complete", "p_best", "near_best", "statuses", *sec, "fit_s",
                "peak_mb", "note"])
    for ds, cells in tb.datasets.items():
        for c in cells:
            w.writerow([tb.track, ds, c.variant, c.method, c.method_version, c.control or "",
                        "" if c.rank is None else c.rank,
                        *("" if x is None else _r(x) for x in (c.mean, c.sd, c.ci95)), c.n_done, c.n_total,
                        c.n_planned, int(c.complete), "" if c.p_best is None else _r(c.p_best), int(c.near_best),
                        ";".join(f"{s}={n}" for s, n in sorted(c.statuses.items())),
                        *("" if c.secondary.get(s) is None else _r(c.secondary[s]) for s in sec),
                        "" if c.fit_s is None else _r(c.fit_s, 4), "" if c.peak_mb is None else _r(c.peak_mb, 1),
                        c.note])
    return buf.getvalue()


def track_json(board: Board, tb: TrackBoard) -> dict[str, Any]:
    return {
        "schema": LEADERBOARD_SCHEMA, "track": tb.track, "profile": board.profile,
        "protocol_version": tb.protocol_version,
        "primary": {"name": tb.primary, "higher_is_better": tb.higher_is_better, "description": tb.primary_description},
        "provenance": tb.provenance or board.provenance,
        "datasets": {ds: {"fingerprint": tb.fingerprints[ds],
                          "references": {n: {"mean": _r(m), "ci95": _r(ci)} for n, (m, ci) in sorted(tb.references.get(ds, {}).items())},
                          "cells": [c.as_json() for c in cells]}
                     for ds, cells in tb.datasets.items()},
        "overall": tb.overall,
        "uninformative": {ds: why for ds, why in sorted(tb.uninformative.items()) if why},
        "stale": tb.stale, "source_changed": tb.source_changed,
        "planned_seeds": {ds: seeds for ds, seeds in sorted(tb.planned.items())},
    }


# ------------------------------------------------------------------------------------------------ HTML
# The HTML page and its figures live in bench_core/report (jinja2 template, matplotlib figures).


def track_plots(tb: TrackBoard, highlight: Sequence[str] = ()) -> dict[str, bytes]:
    """PNG figures of one track by file name (see :mod:`bench_core.report.plots`)."""
    from bench_core.report.plots import track_plots as plots

    return plots(tb, highlight)


def to_html(board: Board, plots: Mapping[str, bytes], highlight: Sequence[str] = ()) -> str:
    """The self-contained ``index.html`` (see :mod:`bench_core.report`)."""
    from bench_core.report import highlighted_variants
    from bench_core.report.page import to_html as page

    return page(board, plots, highlighted_variants(board, highlight), highlight)


def write(board: Board, out: Path, formats: Sequence[str] = FORMATS, highlight: Sequence[str] = ()) -> list[Path]:
    """Write the chosen formats under ``out`` (one file per track, plus ``index.html``); return the paths.

    ``highlight``: method or variant names marked in the HTML and its figures (checked by the caller, see
    :func:`bench_core.report.check_highlight`)."""
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
            from bench_core.report import highlighted_variants

            for name, data in track_plots(tb, highlighted_variants(board, highlight)).items():
                (out / name).write_bytes(data)
                written.append(out / name)
                plots[name] = data
    if "html" in formats:
        p = out / "index.html"
        atomic_write_text(p, to_html(board, plots, highlight))
        written.append(p)
    return written
