"""Leaderboards you can trust (issue 9): one test per defect, each failing on the code before the fix.

1. scores independent of job order (a selection is evaluated as a set);
2. one method version per row (stale results reported, never pooled);
3. edited code is noticed (source hash recorded, warned on at run and leaderboard);
4. one common seed set per dataset table (done/planned; short cells unranked, never a win);
5. overall tables per data group, controls marked, failures tied last, paired test vs best, Friedman + CD;
6. uninformative datasets (positive control ≈ negative control) left out of the overall ranking;
7. an honest display for 2 seeds.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from bench_core.compare import compare
from bench_core.leaderboard import (
    build, critical_difference, mean_ci, paired_p, partition, prune_stale, to_markdown, track_csv, track_json,
    track_markdown,
)
from bench_core.store import Store
from bench_core.tracks import TRACKS
from bench_core.tracks.base import Context, Score, Tags, Track
from bench_core.tracks.selectors import Selector, SelectorsTrack, _EVAL_CACHE, evaluate_subset
from test_leaderboard_compare import record


# ------------------------------------------------------------------------------------------ fixtures


@dataclass
class FakeCard:
    name: str
    properties: tuple = ()
    task: str = "classification"
    split: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(count=10))

    @property
    def fingerprint(self) -> str:
        return f"fp-{self.name}" + "0" * 20  # what record() writes


def _method(name, version="1", control=None, requires=()):
    return type(name, (Selector,), {"name": name, "version": version, "params": {}, "profile_params": {},
                                    "grid": {}, "tags": Tags(supervised=False, control=control,
                                                             requires=tuple(requires)),
                                    "rank": lambda self, X, y, ctx: X.var(axis=0)})


class FakeRegistry:
    """What the leaderboard asks a registry: methods with their tags and version, and dataset cards."""

    def __init__(self, methods, cards):
        self.methods = {"selectors": {m.name: SimpleNamespace(obj=m) for m in methods}}
        self.cards = {c.name: c for c in cards}

    def method(self, track, name):
        return self.methods[track][name].obj

    def card(self, name):
        if name not in self.cards:
            raise KeyError(name)
        return self.cards[name]


def rec(dataset, method, seed, primary=None, status="done", version="1", **kw):
    r = record(dataset, method, seed, status=status, primary=primary)
    r["method_version"] = version
    r["key"] = f"{r['key']}-v{version}"
    r.update(kw)
    return r


# ------------------------------------------------------------------------------------------ defect 1


def _dataset(registry, name, tmp_path):
    from bench_core.data.dataset import load_cache, prepare

    card = registry.card(name)
    return load_cache(card, prepare(card, registry.loader_fns, registry.reader_fns, None, tmp_path))


def test_a_selection_scores_the_same_in_any_order_fresh_or_cached(registry, tmp_path):
    """breast_cancer split 0, the set {1, 3, 9, 17, 25}: one order, then the reverse (issue: 0.9392 cached
    against 0.9470 fresh)."""
    ds = _dataset(registry, "breast_cancer", tmp_path)
    sp = ds.split(0)
    prefix = (ds.card.fingerprint, 0)
    order = np.array([1, 3, 9, 17, 25])
    _EVAL_CACHE.clear()
    forward_fresh = evaluate_subset(prefix, "extratrees", 0, order, sp)
    reverse_cached = evaluate_subset(prefix, "extratrees", 0, order[::-1], sp)
    _EVAL_CACHE.clear()
    reverse_fresh = evaluate_subset(prefix, "extratrees", 0, order[::-1], sp)
    _EVAL_CACHE.clear()
    shuffled_fresh = evaluate_subset(prefix, "extratrees", 0, np.array([17, 1, 25, 9, 3]), sp)
    assert forward_fresh == reverse_cached == reverse_fresh == shuffled_fresh


class _OrderSelector(Selector):
    """Ranks features by a fixed permutation of the columns (``perm`` names the permutation)."""

    name, version = "order-selector", "1"
    params = {"perm": "identity"}
    tags = Tags(supervised=False)

    def rank(self, X, y, ctx):
        d = X.shape[1]
        order = np.random.default_rng(5).permutation(d)
        if self.params["perm"] == "pairs-swapped":  # the same top-k sets for even k, in another order
            order = order.reshape(-1, 2)[:, ::-1].ravel() if d % 2 == 0 else order
        scores = np.empty(d)
        scores[order] = np.arange(d, 0, -1, dtype=float)
        return scores


def test_a_job_scores_bit_identically_fresh_and_after_other_jobs_in_the_same_worker(registry, tmp_path):
    ds = _dataset(registry, "breast_cancer", tmp_path)
    track = SelectorsTrack()
    settings = {**track.default_settings(), "k_grid": [1, 2, 4, 10], "retention": [], "stability_subsamples": 0,
                "evaluators": ["extratrees", "logreg"]}
    job = _OrderSelector(perm="identity")
    _EVAL_CACHE.clear()
    fresh = track.run(job, ds, 0, settings, Context(seed=0)).scores
    _EVAL_CACHE.clear()
    track.run(_OrderSelector(perm="pairs-swapped"), ds, 0, settings, Context(seed=0))  # another job first
    after = track.run(job, ds, 0, settings, Context(seed=0)).scores
    assert json.dumps(fresh, sort_keys=True) == json.dumps(after, sort_keys=True)


def test_the_protocol_change_is_versioned_and_documented():
    import bench_core.tracks.selectors as sel

    assert SelectorsTrack.protocol_version == 2
    assert "Protocol (version 2)" in sel.__doc__ and "- 2: a selection is evaluated as a set" in sel.__doc__


# ------------------------------------------------------------------------------------------ defect 2


def test_method_versions_are_never_pooled_and_stale_results_are_reported(tmp_path):
    recs = [rec("d", "m", s, primary=0.5, version="1") for s in range(2)]  # old version
    recs += [rec("d", "m", s, primary=0.9, version="2") for s in range(2)]  # bumped
    recs += [rec("d", "r", s, primary=0.6) for s in range(2)]
    old_protocol = rec("d", "r", 0, primary=0.1, key="old-protocol" + "0" * 10)
    old_protocol["protocol_version"] = 1
    recs.append(old_protocol)
    reg = FakeRegistry([_method("m", version="2"), _method("r")], [FakeCard("d")])
    board = build(recs, reg, "quick")
    tb = board.tracks["selectors"]
    cells = {c.variant: c for c in tb.datasets["d"]}
    assert cells["m"].values == [(0, 0.9), (1, 0.9)] and cells["m"].method_version == "2"
    assert cells["r"].values == [(0, 0.6), (1, 0.6)]
    assert tb.stale == {"method version 1 (installed 2)": 2, "protocol version 1 (now 2)": 1}
    md = to_markdown(board)
    assert "3 stale result file(s) left out" in md and "--prune-stale" in md
    assert any("3 stale result file(s)" in w for w in board.warnings())
    # without a registry, the newest record's version stands in for the installed one
    for r in recs:
        r["provenance"] = {**r["provenance"], "finished_at": "2026-11-2%dT00:00:00" % (2 if r["method_version"] == "2" else 1)}
    cur, stale = partition(recs, None, "quick")
    assert {(r["method"], r["method_version"]) for r in cur} == {("m", "2"), ("r", "1")} and len(stale) == 3
    # --prune-stale deletes exactly those files
    st = Store(tmp_path)
    for r in recs:
        p = st.path_for(r["track"], r["dataset"], r["method"], r["key"])
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(r))
    assert prune_stale(st, list(st.iter_records()), reg, "quick") == 3
    assert sorted(r["key"] for r in st.iter_records()) == sorted(r["key"] for r in cur)


def test_parameters_the_profile_no_longer_gives_are_stale():
    m = _method("m")
    m.profile_params = {"quick": {"alpha": 2}}
    recs = [rec("d", "m", s, primary=0.5, params={"alpha": 1}) for s in range(2)]
    recs += [rec("d", "m", s, primary=0.7, params={"alpha": 2}, key=f"new{s}" + "0" * 10) for s in range(2)]
    cur, stale = partition(recs, FakeRegistry([m], [FakeCard("d")]), "quick")
    assert [r["params"] for r in cur] == [{"alpha": 2}] * 2
    assert [why for _r, why in stale] == ["parameters the profile no longer gives"] * 2


# ------------------------------------------------------------------------------------------ defect 3


def _write_module(tmp_path, name, body):
    (tmp_path / f"{name}.py").write_text(
        "from bench_core.tracks.base import Tags\nfrom bench_core.tracks.selectors import Selector\n\n"
        "def helper(X):\n    return X.var(axis=0)\n\n"
        "class Edited(Selector):\n    name, version = 'edited', '1'\n    tags = Tags(supervised=False)\n\n"
        f"    def rank(self, X, y, ctx):\n        return {body}\n")


def _import_fresh(tmp_path, name):
    sys.path.insert(0, str(tmp_path))
    try:
        sys.modules.pop(name, None)
        importlib.invalidate_caches()
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def test_the_source_hash_follows_edits_of_rank_and_of_the_helpers_it_names(tmp_path):
    from bench_core.execute.jobs import method_source_hash

    _write_module(tmp_path, "edited_a", "helper(X)")
    h1 = method_source_hash(_import_fresh(tmp_path, "edited_a").Edited)
    _write_module(tmp_path, "edited_a", "helper(X) + 1.0")
    h2 = method_source_hash(_import_fresh(tmp_path, "edited_a").Edited)
    text = (tmp_path / "edited_a.py").read_text().replace("return X.var(axis=0)", "return X.std(axis=0)")
    (tmp_path / "edited_a.py").write_text(text)
    h3 = method_source_hash(_import_fresh(tmp_path, "edited_a").Edited)
    assert len({h1, h2, h3}) == 3 and all(len(h) == 64 for h in (h1, h2, h3))
    _write_module(tmp_path, "edited_a", "helper(X)")
    assert method_source_hash(_import_fresh(tmp_path, "edited_a").Edited) == h1, "same source, same hash"


def test_planning_reads_each_methods_source_once_not_once_per_job(registry, tmp_path, monkeypatch):
    """Hashing the source per job cost 138 of the 141 s of planning the standard selectors profile."""
    from bench_core.execute import jobs
    from bench_core.execute.run import RunRequest, plan_run

    reads = []
    real = jobs._class_source
    monkeypatch.setattr(jobs, "_class_source", lambda cls: reads.append(cls) or real(cls))
    jobs.method_source_hash.cache_clear()
    req = RunRequest(methods=["variance", "anova_f"], datasets=["wine", "breast_cancer"], profile="smoke",
                     seeds="2", results=tmp_path / "results")
    plan = plan_run(registry, req, Store(tmp_path / "results"))
    assert len(plan.pending) == 8 and all(s.source_hash and len(s.source_hash) == 64 for s in plan.pending)
    assert reads and len(reads) == len(set(reads)), "a class's source was read more than once"
    assert {c.__name__ for c in reads} == {"Variance", "AnovaF"}
    hashes = {s.method: s.source_hash for s in plan.pending}
    assert hashes["variance"] != hashes["anova_f"]


def test_run_and_leaderboard_warn_when_the_installed_source_differs(registry, tmp_path):
    from bench_core.execute.run import RunRequest, plan_run

    store = Store(tmp_path / "results")
    req = RunRequest(methods=["variance"], datasets=["wine"], profile="smoke", results=store.root)
    plan = plan_run(registry, req, store)
    (spec,) = plan.pending
    assert spec.source_hash and len(spec.source_hash) == 64
    r = rec("wine", "variance", 0, primary=0.7, key=spec.key, method_version=spec.method_version,
            dataset_fingerprint=spec.dataset_fingerprint, params=dict(spec.params), profile="smoke",
            method_source="0" * 64)
    r["variant"] = spec.variant
    path = store.path_for("selectors", "wine", "variance", spec.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r))
    plan = plan_run(registry, req, store)
    assert plan.cached == 1 and not plan.pending
    (warning,) = plan.source_warnings()
    assert "variance" in warning and "--force --method variance" in warning and "bump its `version`" in warning
    board = build([r], registry, "smoke")
    assert board.tracks["selectors"].source_changed == {"variance": 1}
    assert any("--force --method variance" in w for w in board.warnings())
    r["method_source"] = spec.source_hash
    assert build([r], registry, "smoke").tracks["selectors"].source_changed == {}


# ------------------------------------------------------------------------------------------ defect 4


def test_a_dataset_table_ranks_on_one_common_seed_set():
    """madelon_like in the committed board: 15 cells with seeds {0,1,2}, 8 with {0,1}."""
    recs = []
    for m, vals in {"a": [0.70, 0.72, 0.71], "b": [0.60, 0.61, 0.62], "c": [0.65, 0.66, 0.64]}.items():
        recs += [rec("d", m, s, primary=v) for s, v in enumerate(vals)]
    recs += [rec("d", "short", s, primary=0.99) for s in range(2)]  # seed 2 never ran
    tb = build(recs, None, "standard").tracks["selectors"]
    cells = {c.variant: c for c in tb.datasets["d"]}
    assert {v: c.rank for v, c in cells.items()} == {"a": 1.0, "c": 2.0, "b": 3.0, "short": None}
    assert cells["short"].mean == pytest.approx(0.99) and not cells["short"].complete
    md = to_markdown(build(recs, None, "standard"))
    short_row = next(line for line in md.splitlines() if "| short" in line and "0.990" in line)
    assert "| 2/3 " in short_row and "†" in short_row and "short of seeds (2/3): unranked" in short_row
    rows = {r["variant"]: r for r in tb.overall_rows()}
    assert rows["short"]["wins"] == 0 and rows["a"]["wins"] == 1
    assert rows["short"]["ranked"] == 0, "a cell never run to the end is not counted in the overall ranking"


def test_seeds_read_done_over_planned_even_when_no_cell_has_the_last_seed():
    recs = [rec("d", m, s, primary=0.5 + 0.1 * i) for i, m in enumerate("ab") for s in range(2)]
    tb = build(recs, None, "standard").tracks["selectors"]  # the standard profile plans 3 seeds
    assert all(c.n_planned == 3 and c.rank is None for c in tb.datasets["d"])
    quick = build(recs, None, "quick").tracks["selectors"]  # 2 seeds planned: complete
    assert [c.rank for c in quick.datasets["d"]] == [1.0, 2.0]


# ------------------------------------------------------------------------------------------ defect 5


def _two_groups():
    cards = [FakeCard("s1", ("ground_truth",)), FakeCard("s2", ("ground_truth",)), FakeCard("r1"), FakeCard("r2")]
    methods = [_method("oracle", control="positive", requires=("ground_truth",)), _method("random", control="negative"),
               _method("good"), _method("ok"), _method("flaky")]
    vals = {  # dataset -> method -> per-seed primary (None: timeout)
        "s1": {"oracle": [0.95] * 3, "random": [0.5] * 3, "good": [0.9, 0.92, 0.91], "ok": [0.8, 0.82, 0.81],
               "flaky": [0.85, 0.86, 0.84]},
        "s2": {"oracle": [0.9] * 3, "random": [0.55] * 3, "good": [0.8, 0.81, 0.79], "ok": [0.85, 0.84, 0.86],
               "flaky": [None] * 3},
        "r1": {"random": [0.6] * 3, "good": [0.7, 0.72, 0.71], "ok": [0.65, 0.66, 0.64], "flaky": [0.9, 0.91, 0.92]},
        "r2": {"random": [0.5] * 3, "good": [0.8, 0.8, 0.8], "ok": [0.7, 0.7, 0.7], "flaky": [0.75, 0.76, 0.77]},
    }
    recs = []
    for ds, by_m in vals.items():
        for m, vs in by_m.items():
            for s, v in enumerate(vs):
                recs.append(rec(ds, m, s, primary=v) if v is not None else rec(ds, m, s, status="timeout"))
    return recs, FakeRegistry(methods, cards)


def test_overall_tables_per_data_group_with_controls_marked_and_failures_tied_last():
    recs, reg = _two_groups()
    board = build(recs, reg, "standard")
    tb = board.tracks["selectors"]
    assert [(b["group"], b["datasets"]) for b in tb.overall] == [("ground_truth", ["s1", "s2"]), ("real", ["r1", "r2"])]
    gt, real = ({r["variant"]: r for r in b["rows"]} for b in tb.overall)
    assert "oracle" not in real, "the oracle is ranked only where it applies"
    # s1: oracle 1, good 2, flaky 3, ok 4, random 5; s2: oracle 1, ok 2, good 3, random 4, flaky (timeout) 5
    assert gt["oracle"]["mean_rank"] == 1.0 and gt["good"]["mean_rank"] == 2.5 and gt["ok"]["mean_rank"] == 3.0
    assert gt["flaky"]["mean_rank"] == 4.0 and gt["flaky"]["failed"] == 1 and gt["flaky"]["ranked"] == 2
    assert gt["random"]["mean_rank"] == 4.5
    assert [r["variant"] for r in tb.overall[0]["rows"]] == ["oracle", "good", "ok", "flaky", "random"], \
        "a method with a timeout is sorted by its mean rank, not below the negative control"
    assert [r["position"] for r in tb.overall[0]["rows"]] == [1, 2, 3, 4, 5]
    assert gt["flaky"]["mean_primary"] == pytest.approx(0.85), "mean primary over finished cells only"
    assert gt["good"]["mean_primary"] == pytest.approx((0.91 + 0.8) / 2)
    # real: r1 flaky 1, good 2, ok 3, random 4; r2 good 1, flaky 2, ok 3, random 4
    assert (real["flaky"]["mean_rank"], real["good"]["mean_rank"], real["ok"]["mean_rank"]) == (1.5, 1.5, 3.0)
    assert real["flaky"]["wins"] == 1 and real["good"]["wins"] == 1 and real["ok"]["wins"] == 0
    md = to_markdown(board)
    assert "## Overall: data with ground truth" in md and "## Overall: data without ground truth (real data)" in md
    assert "| 1   | oracle (+ control)" in md and "random (− control)" in md


def test_friedman_and_critical_difference_golden_values():
    """k = 3 methods on N = 2 datasets, rank sums 3, 3, 6 (fixture of test_leaderboard_compare):
    χ² = 12 / (N k (k+1)) Σ R_j² − 3 N (k+1) = 0.5 · 54 − 24 = 3; p = exp(−3/2) (χ², 2 df);
    CD = q_0.05(3) · sqrt(k (k+1) / (6 N)) = 2.343 · 1 (Demšar 2006, Table 5)."""
    from test_leaderboard_compare import fixture_records

    f = build(fixture_records(), None, "quick").tracks["selectors"].overall[0]["friedman"]
    assert f["tested"] and (f["k"], f["n"]) == (3, 2)
    assert f["statistic"] == pytest.approx(3.0) and f["p"] == pytest.approx(math.exp(-1.5), rel=1e-3)
    assert f["cd"] == pytest.approx(2.343, abs=1e-3)
    assert f["mean_ranks"] == {"alpha": 1.5, "beta": 1.5, "gamma": 3.0}
    assert sorted(f["left_out"]) == ["delta", "epsilon"]
    assert critical_difference(10, 44) == pytest.approx(3.164 * math.sqrt(110 / 264), abs=1e-3)
    assert critical_difference(2, 1) == pytest.approx(1.960 * 1.0, abs=1e-3)


def test_methods_indistinguishable_from_the_best_are_marked_by_a_paired_t_test():
    from scipy.stats import t as student_t

    best, other, far = [0.90, 0.80, 0.85], [0.88, 0.79, 0.80], [0.60, 0.50, 0.55]
    d = np.subtract(best, other)
    tstat = d.mean() / (d.std(ddof=1) / math.sqrt(3))
    assert paired_p(best, other) == pytest.approx(2 * student_t.sf(abs(tstat), 2))
    assert paired_p([0.5, 0.6], [0.5, 0.6]) == 1.0 and paired_p([0.5, 0.6], [0.4, 0.5]) == 0.0
    assert paired_p([0.5], [0.4]) is None
    recs = [rec("d", m, s, primary=v) for m, vals in (("best", best), ("other", other), ("far", far))
            for s, v in enumerate(vals)]
    board = build(recs, None, "standard")
    cells = {c.variant: c for c in board.tracks["selectors"].datasets["d"]}
    assert cells["best"].near_best and cells["other"].near_best and not cells["far"].near_best
    assert cells["far"].p_best < 0.05
    md = to_markdown(board)
    assert f"≈ (p={paired_p(best, other):.2f})" in md and "two-sided paired t-test" in md


# ------------------------------------------------------------------------------------------ defect 6


def test_a_dataset_whose_positive_control_is_at_chance_is_left_out_with_its_reason():
    recs, reg = _two_groups()
    for r in recs:  # s2 becomes parity3: the oracle at 0.58 against random at 0.55 (margin 0.1)
        if r["dataset"] == "s2" and r["method"] == "oracle":
            r["scores"] = {k: 0.58 for k in r["scores"]}
    tb = build(recs, reg, "standard").tracks["selectors"]
    block = tb.overall[0]
    assert block["datasets"] == ["s1"]
    assert block["excluded"] == [["s2", "uninformative: the positive control oracle (0.580) beats the negative "
                                        "control random (0.550) by 0.030, under the margin 0.1"]]
    rows = {r["variant"]: r for r in block["rows"]}
    assert rows["flaky"]["failed"] == 0 and rows["ok"]["mean_rank"] == 4.0, "ranks from s1 alone"
    assert tb.datasets["s2"][0].rank == 1.0, "the dataset's own table is still shown and ranked"
    assert "Left out of the overall ranking: uninformative" in to_markdown(build(recs, reg, "standard"))
    assert SelectorsTrack.control_margin == 0.1


# ------------------------------------------------------------------------------------------ defect 7


def test_two_seeds_show_the_two_values_not_a_t_interval():
    recs = [rec("d", "m", 0, primary=0.70), rec("d", "m", 1, primary=0.774)]
    board = build(recs, None, "quick")
    md = to_markdown(board)
    assert "0.737 [0.700, 0.774]" in md and "±" not in md.split("## d")[1]
    c = board.tracks["selectors"].datasets["d"][0]
    assert c.ci95 is None and c.sd == pytest.approx(np.std([0.70, 0.774], ddof=1))


# ------------------------------------------------------------------------------------------ compare


class _LowerTrack(Track):
    name = "lowtrack"
    hook = "featbench_register_selectors"
    method_base = Selector
    primary = Score("loss", "a loss", higher_is_better=False)

    def run(self, *a, **k):  # pragma: no cover - never run
        raise NotImplementedError


def _low(dataset, method, seed, value):
    r = rec(dataset, method, seed, primary=value)
    r["track"] = "lowtrack"
    r["protocol_version"] = 1
    r["scores"] = {"loss": value}
    return r


def test_compare_negates_delta_and_places_new_methods_for_a_lower_is_better_score(monkeypatch):
    monkeypatch.setitem(TRACKS, "lowtrack", _LowerTrack())
    base = [_low("d", m, s, v) for m, v in (("a", 0.5), ("b", 0.3), ("c", 0.4)) for s in range(3)]
    board = build(base, None, "quick")
    baseline = {"lowtrack": json.loads(json.dumps(track_json(board, board.tracks["lowtrack"])))}
    assert baseline["lowtrack"]["primary"]["higher_is_better"] is False
    assert [c["variant"] for c in baseline["lowtrack"]["datasets"]["d"]["cells"]] == ["b", "c", "a"]
    cur = [_low("d", "a", s, 0.3) for s in range(3)] + [_low("d", "b", s, 0.5) for s in range(3)]
    cur += [_low("d", "c", s, 0.4) for s in range(3)] + [_low("d", "new", s, 0.35) for s in range(3)]
    report = compare(baseline, cur, None, tolerance=0.01)
    rows = {r.variant: r for r in report.rows}
    assert rows["a"].verdict == "improved" and rows["a"].delta == pytest.approx(0.2)
    assert rows["b"].verdict == "regressed" and rows["b"].delta == pytest.approx(-0.2)
    assert rows["c"].verdict == "unchanged" and rows["c"].delta == pytest.approx(0.0)
    assert report.placements == ["`new` (lowtrack) would rank d 2/4; mean rank 2.00 over 1 dataset(s)"]
    # a track the installed code does not know takes its direction from the baseline file
    from bench_core.compare import _higher_is_better

    monkeypatch.delitem(TRACKS, "lowtrack")
    assert _higher_is_better("lowtrack", baseline["lowtrack"]) is False
    assert _higher_is_better("selectors", {"primary": {"higher_is_better": False}}) is True


def test_csv_content_golden():
    recs = [rec("d", "a", s, primary=v) for s, v in enumerate([0.8, 0.9, 1.0])]
    recs += [rec("d", "b", s, primary=0.5) for s in range(3)]
    csv_text = track_csv(build(recs, None, "standard").tracks["selectors"])
    lines = csv_text.splitlines()
    assert lines[0].startswith("track,dataset,variant,method,method_version,control,rank,mean,sd,ci95,n_done,"
                               "n_total,n_planned,complete,p_best,near_best,statuses,")
    half = round(4.302652729911275 * 0.1 / math.sqrt(3), 6)
    assert lines[1].startswith(f"selectors,d,a,a,1,,1.0,0.9,0.1,{half},3,3,3,1,1.0,1,done=3,")
    # b vs a: differences 0.3, 0.4, 0.5: t = 0.4 / (0.1 / sqrt 3), two-sided p with 2 df = 0.020204
    assert lines[2].startswith("selectors,d,b,b,1,,2.0,0.5,0.0,0.0,3,3,3,1,0.020204,0,done=3,0.5,")
    assert lines[1].endswith(",1.5,30.0,") and len(lines) == 3  # mean fit_s (0.5+1.5+2.5)/3, max peak


def test_compare_markdown_golden():
    from bench_core.compare import Report, Row

    rep = Report("quick", rows=[
        Row("selectors", "d1", "a", "regressed", 0.9, 0.7, -0.2, 0.01, 3, 3),
        Row("selectors", "d2", "b", "unchanged", None, None, None, None, 2, 1, "still failing: timeout ×1"),
        Row("selectors", "d1", "c", "new", None, 0.5, None, None, 0, 2),
        Row("selectors", "d0", "e", "improved", 0.5, 0.55, 0.05, float("nan"), 2, 2),
    ], placements=["`c` (selectors) would rank d1 2/3; mean rank 2.00 over 1 dataset(s)"])
    assert rep.counts == {"regressed": 1, "unchanged": 1, "new": 1, "improved": 1} and rep.failed
    assert rep.markdown() == (
        "## featbench compare (quick): FAIL\n\n"
        "1 regressed, 0 failed, 1 improved, 1 new, 0 missing, 1 unchanged\n\n"
        "Why it fails:\n\n"
        "- regressed: selectors / d1 / a: 0.9000 -> 0.7000 (Δ -0.2000, beyond the tolerance 0.0100)\n\n"
        "### New methods among the baselines\n\n"
        "- `c` (selectors) would rank d1 2/3; mean rank 2.00 over 1 dataset(s)\n\n"
        "### Changed, new or failed cells (3)\n\n"
        "| track     | dataset   | method   | baseline     | current      | Δ       | tolerance   | verdict   |\n"
        "|-----------|-----------|----------|--------------|--------------|---------|-------------|-----------|\n"
        "| selectors | d1        | a        | 0.9000 (n=3) | 0.7000 (n=3) | -0.2000 | 0.0100      | regressed |\n"
        "| selectors | d0        | e        | 0.5000 (n=2) | 0.5500 (n=2) | +0.0500 | —           | improved  |\n"
        "| selectors | d1        | c        | —            | 0.5000 (n=2) | —       | —           | new       |\n\n"
        "<details><summary>1 unchanged and 0 missing cell(s) (missing: in the baseline, not in these results)"
        "</summary>\n\n"
        "| track     | dataset   | method   | baseline   | current   | Δ   | tolerance   | verdict                              |\n"
        "|-----------|-----------|----------|------------|-----------|-----|-------------|--------------------------------------|\n"
        "| selectors | d2        | b        | — (n=2)    | — (n=1)   | —   | —           | unchanged: still failing: timeout ×1 |\n\n"
        "</details>")
    ok = Report("smoke", rows=[Row("selectors", "d", "m", "unchanged", 0.5, 0.5, 0.0, 0.01, 1, 1),
                               Row("selectors", "e", "m", "missing", 0.25, None, 0.0, 0.02, 2, 0)])
    assert not ok.failed
    assert ok.markdown() == (
        "## featbench compare (smoke): OK\n\n"
        "0 regressed, 0 failed, 0 improved, 0 new, 1 missing, 1 unchanged\n\n"
        "<details><summary>1 unchanged and 1 missing cell(s) (missing: in the baseline, not in these results)"
        "</summary>\n\n"
        "| track     | dataset   | method   | baseline     | current      | Δ       | tolerance   | verdict   |\n"
        "|-----------|-----------|----------|--------------|--------------|---------|-------------|-----------|\n"
        "| selectors | e         | m        | 0.2500 (n=2) | —            | +0.0000 | 0.0200      | missing   |\n"
        "| selectors | d         | m        | 0.5000 (n=1) | 0.5000 (n=1) | +0.0000 | 0.0100      | unchanged |\n\n"
        "</details>")
    assert Report("q", rows=[Row("t", "d", "m", "failed")]).failed


def test_load_baseline_reads_only_leaderboards_of_the_requested_tracks(tmp_path):
    from bench_core.compare import load_baseline
    from bench_core.errors import UsageError

    # the hint names reference results, never the results being compared (that would compare them with
    # themselves)
    with pytest.raises(UsageError, match=r"^no baseline leaderboards in .*nowhere: pass --baseline DIR, .*"
                                         r"--results REFERENCE_RESULTS --out DIR/<profile>`\), never from the "
                                         r"results being compared$"):
        load_baseline(tmp_path / "nowhere")
    (tmp_path / "a.json").write_text(json.dumps({"track": "selectors"}))  # not a leaderboard: no datasets
    (tmp_path / "b.json").write_text(json.dumps([1, 2]))
    with pytest.raises(UsageError, match=r"^no leaderboard JSON files in "):
        load_baseline(tmp_path)
    (tmp_path / "c.json").write_text(json.dumps({"track": "saes", "datasets": {}}))
    (tmp_path / "d.json").write_text(json.dumps({"track": "selectors", "datasets": {"x": 1}}), encoding="utf-8")
    (tmp_path / "e.json").write_text(json.dumps({"datasets": {}}))
    assert sorted(load_baseline(tmp_path)) == ["saes", "selectors"]
    assert list(load_baseline(tmp_path, ["selectors"])) == ["selectors"]
    assert load_baseline(tmp_path, ["selectors"])["selectors"]["datasets"] == {"x": 1}
    with pytest.raises(UsageError):
        load_baseline(tmp_path, ["reducers"])


def test_compare_failed_and_still_failing_cells_and_placement_without_shared_data():
    base = [rec("d", "a", s, primary=0.5) for s in range(2)] + [rec("d", "b", s, status="timeout") for s in range(2)]
    board = build(base, None, "quick")
    baseline = {"selectors": json.loads(json.dumps(track_json(board, board.tracks["selectors"])))}
    cur = [rec("d", "a", s, status="error") for s in range(2)] + [rec("d", "b", s, status="timeout") for s in range(2)]
    cur += [rec("other", "n", s, primary=0.7) for s in range(2)] + [rec("d", "z", s, status="crashed") for s in range(2)]
    report = compare(baseline, cur, None)
    rows = {(r.dataset, r.variant): r for r in report.rows}
    assert rows[("d", "a")].verdict == "failed" and rows[("d", "a")].note == "error ×2"
    assert rows[("d", "b")].verdict == "unchanged" and rows[("d", "b")].note == "still failing: timeout ×2"
    assert rows[("d", "z")].verdict == "failed", "a new cell with no finished job fails"
    assert rows[("other", "n")].verdict == "new" and rows[("other", "n")].current == pytest.approx(0.7)
    assert (rows[("d", "a")].baseline, rows[("d", "a")].n_baseline, rows[("d", "a")].n_current) == (0.5, 2, 0)
    assert report.placements == ["`n` (selectors): no dataset shared with the baseline"], \
        "a new method with no finished job is not placed"
    assert compare(baseline, base, None).profile == "quick" and not compare(baseline, base, None).failed


def test_lower_is_better_ranks_controls_and_margin_in_the_leaderboard(monkeypatch):
    class LowMargin(_LowerTrack):
        control_margin = 0.1
        ground_truth_property = None

    monkeypatch.setitem(TRACKS, "lowtrack", LowMargin())
    vals = {"d1": {"pos": 0.2, "neg": 0.5, "a": 0.3, "b": 0.4, "c": None},
            "d2": {"pos": 0.45, "neg": 0.5, "a": 0.1, "b": 0.2, "c": 0.3}}
    recs = []
    for ds, by_m in vals.items():
        for m, v in by_m.items():
            for s in range(2):
                r = _low(ds, m, s, v) if v is not None else rec(ds, m, s, status="timeout")
                r["track"], r["protocol_version"] = "lowtrack", 1
                recs.append(r)
    reg = FakeRegistry([_method("pos", control="positive"), _method("neg", control="negative"), _method("a"),
                        _method("b"), _method("c")], [FakeCard("d1"), FakeCard("d2")])
    reg.methods["lowtrack"] = reg.methods.pop("selectors")
    tb = build(recs, reg, "quick").tracks["lowtrack"]
    assert [(c.variant, c.rank) for c in tb.datasets["d1"]] == [("pos", 1.0), ("a", 2.0), ("b", 3.0), ("neg", 4.0),
                                                               ("c", None)]
    (block,) = tb.overall
    assert block["group"] == "all" and block["datasets"] == ["d1"]
    assert block["excluded"] == [["d2", "uninformative: the positive control pos (0.450) beats the negative "
                                        "control neg (0.500) by 0.050, under the margin 0.1"]]
    rows = {r["variant"]: r for r in block["rows"]}
    assert {v: r["mean_rank"] for v, r in rows.items()} == {"pos": 1.0, "a": 2.0, "b": 3.0, "neg": 4.0, "c": 5.0}
    assert rows["pos"]["control"] == "positive" and rows["c"]["failed"] == 1
    assert block["friedman"]["tested"] is False and block["friedman"]["n"] == 1
    assert "No Friedman test: needs at least 3 methods on every dataset and 2 datasets (k = 5, N = 1)." in \
        to_markdown(build(recs, reg, "quick"))


def test_planned_seeds_never_exceed_the_splits_a_dataset_has():
    recs = [rec("d", "a", s, primary=0.5) for s in range(2)]
    reg = FakeRegistry([_method("a")], [FakeCard("d", split=SimpleNamespace(count=2))])
    tb = build(recs, reg, "standard").tracks["selectors"]  # 3 seeds planned, but d has 2 splits
    assert tb.planned == {"d": [0, 1]} and tb.datasets["d"][0].complete
    assert build([rec("d", "a", 4, primary=0.5)], None, "smoke").tracks["selectors"].planned == {"d": [0, 4]}


def _baseline(recs, profile="quick", registry=None):
    board = build(recs, registry, profile)
    return {t: json.loads(json.dumps(track_json(board, tb))) for t, tb in board.tracks.items()}


def test_compare_edges_golden():
    from bench_core.compare import _higher_is_better
    from test_leaderboard_compare import fixture_records

    baseline = _baseline(fixture_records())
    # d1: gamma .95 (1 seed), alpha .9, beta .7, delta failed; d2: epsilon .9, beta .65, alpha .6, gamma .5
    cur = [rec("d1", "zeta", s, primary=0.8) for s in range(3)] + [rec("d2", "zeta", s, primary=0.55) for s in range(3)]
    cur += [rec("a_other", "zeta", s, primary=0.1) for s in range(3)]  # no baseline data there
    cur += [rec("d1", "epsilon", s, primary=0.3) for s in range(3)]  # new on d1, known on d2: never placed
    report = compare(baseline, cur, None)
    rows = {(r.dataset, r.variant): r.verdict for r in report.rows}
    assert rows[("d1", "epsilon")] == "new" and ("d1", "epsilon") in rows
    assert sum(1 for k in rows if k[1] == "epsilon") == 2
    # zeta on d1: .8 is below gamma .95 and alpha .9 (delta has no mean): 3 of 4; on d2 .55 is below
    # epsilon, beta and alpha: 4 of 5; a_other has no baseline and is skipped, not the end of the list
    assert report.placements == ["`zeta` (selectors) would rank d1 3/4, d2 4/5; mean rank 3.50 over 2 dataset(s)"]
    # the default tolerance is 0.01; exactly at the tolerance is unchanged, either way
    base = _baseline([rec("d", "m", s, primary=0.5) for s in range(2)])
    up = compare(base, [rec("d", "m", s, primary=0.515) for s in range(2)], None).rows[0]
    assert up.verdict == "improved" and up.tolerance == 0.01
    at = compare(base, [rec("d", "m", s, primary=0.75) for s in range(2)], None, tolerance=0.25).rows[0]
    assert at.delta == 0.25 and at.verdict == "unchanged"
    at = compare(base, [rec("d", "m", s, primary=0.25) for s in range(2)], None, tolerance=0.25).rows[0]
    assert at.delta == -0.25 and at.verdict == "unchanged"
    # a baseline without results, a current track without a baseline
    assert compare({}, [rec("d", "m", 0, primary=0.5)], None).profile == ""
    assert [r.verdict for r in compare({}, [rec("d", "m", 0, primary=0.5)], None).rows] == ["new"]
    assert {r.verdict for r in compare(baseline, [], None).rows} == {"missing"}
    # the installed track's direction wins over a tampered baseline file
    tampered = json.loads(json.dumps(base))
    tampered["selectors"]["primary"]["higher_is_better"] = False
    assert compare(tampered, [rec("d", "m", s, primary=0.4) for s in range(2)], None).rows[0].verdict == "regressed"
    for b in ({}, None, {"primary": {}}):
        assert _higher_is_better("unknown-track", b) is True
    assert _higher_is_better("unknown-track", {"primary": {"higher_is_better": False}}) is False


def test_compare_leaves_out_stale_results_with_the_registry_and_profile():
    m = _method("m", version="2")
    m.profile_params = {"quick": {"alpha": 2}}
    reg = FakeRegistry([m], [FakeCard("d")])
    base = _baseline([rec("d", "m", s, primary=0.5, version="2", params={"alpha": 2}) for s in range(2)],
                     registry=reg)
    cur = [rec("d", "m", s, primary=0.9, version="1", params={"alpha": 2}) for s in range(2)]  # old version
    cur += [rec("d", "m", s, primary=0.9, version="2", params={"alpha": 1}, key=f"p{s}" + "0" * 9) for s in range(2)]
    assert [r.verdict for r in compare(base, cur, reg).rows] == ["missing"]
    assert [r.verdict for r in compare(base, cur, None).rows] != ["missing"], "without the registry: newest stands"


def test_the_best_positive_control_decides_and_the_margin_is_inclusive(monkeypatch):
    from bench_core.leaderboard import Cell, _uninformative

    def cell(v, control, mean):
        return Cell("d", v, v, control, complete=True, mean=mean)

    cells = [cell("p1", "positive", 0.6), cell("p2", "positive", 0.9), cell("n", "negative", 0.55)]
    assert _uninformative(cells, True, 0.1) is None, "the better positive control (0.9) counts"
    assert "p1" in _uninformative(cells, False, 0.1) and "by -0.050" in _uninformative(cells, False, 0.1)
    low = [cell("p1", "positive", 0.25), cell("p2", "positive", 0.5), cell("n", "negative", 0.5)]
    assert _uninformative(low, False, 0.25) is None, "lower is better: p1 beats n by exactly the margin"
    assert _uninformative([cell("p", "positive", 0.75), cell("n", "negative", 0.5)], True, 0.25) is None
    assert _uninformative([cell("p", "positive", 0.75)], True, 0.25) is None, "no negative control: enters"


def test_compare_ignores_cells_never_run_in_the_baseline_and_places_ties_level(monkeypatch):
    from test_leaderboard_compare import fixture_records

    baseline = _baseline(fixture_records())  # epsilon was never run on d1
    rows = {(r.dataset, r.variant) for r in compare(baseline, fixture_records(), None).rows}
    assert ("d1", "epsilon") not in rows and ("d2", "epsilon") in rows
    tie = [rec("d2", "new", s, primary=0.65) for s in range(3)]  # level with beta on d2
    assert compare(baseline, tie, None).placements == [
        "`new` (selectors) would rank d2 2/5; mean rank 2.00 over 1 dataset(s)"], "only strictly better count"
    monkeypatch.setitem(TRACKS, "lowtrack", _LowerTrack())
    base = _baseline([_low("d", m, s, v) for m, v in (("a", 0.5), ("b", 0.3)) for s in range(2)])
    report = compare(base, [_low("d", "new", s, 0.3) for s in range(2)], None)
    assert report.placements == ["`new` (lowtrack) would rank d 1/3; mean rank 1.00 over 1 dataset(s)"]


def test_overall_rows_ties_na_cells_rounding_and_unknown_tracks():
    vals = {"d1": {"a": 0.9, "b": 0.9, "c": 0.1}, "d2": {"a": 0.9, "b": 0.5, "c": 0.1}, "d3": {"a": 0.5, "b": 0.9}}
    recs = [rec(ds, m, s, primary=v) for ds, by_m in vals.items() for m, v in by_m.items() for s in range(2)]
    cards = [FakeCard("d1"), FakeCard("d2"), FakeCard("d3", properties=())]
    reg = FakeRegistry([_method("a"), _method("b"), _method("c", requires=("nonnegative",))], cards)
    cards[0] = FakeCard("d1", properties=("nonnegative",))
    reg.cards = {c.name: c for c in [cards[0], FakeCard("d2", properties=("nonnegative",)), cards[2]]}
    (block,) = build(recs, reg, "quick").tracks["selectors"].overall  # no card has ground truth: one group
    assert block["title"] == "data without ground truth (real data)"
    rows = {r["variant"]: r for r in block["rows"]}
    # d1: a, b tied at 1.5, c 3; d2: a 1, b 2, c 3; d3: b 1, a 2, c n/a (needs nonnegative)
    assert rows["a"]["mean_rank"] == round((1.5 + 1 + 2) / 3, 3) == 1.5
    assert rows["b"]["mean_rank"] == round((1.5 + 2 + 1) / 3, 3) == 1.5
    assert rows["c"]["mean_rank"] == 3.0 and (rows["c"]["ranked"], rows["c"]["applicable"]) == (2, 2)
    assert rows["a"]["method"] == "a" and rows["a"]["wins"] == 1 and rows["b"]["wins"] == 1
    thirds = [rec(ds, m, s, primary=v) for ds, by_m in {"d1": {"a": 0.9, "b": 0.1}, "d2": {"a": 0.9, "b": 0.1},
                                                         "d3": {"a": 0.1, "b": 0.9}}.items()
              for m, v in by_m.items() for s in range(2)]
    rows = {r["variant"]: r for r in build(thirds, None, "quick").tracks["selectors"].overall[0]["rows"]}
    assert rows["a"]["mean_rank"] == 1.333 and rows["b"]["mean_rank"] == 1.667
    assert build(thirds, None, "quick").tracks["selectors"].overall[0]["title"] == "all datasets"
    unknown = [dict(r, track="mystery") for r in thirds]
    assert build(unknown, reg, "quick").tracks["mystery"].overall[0]["group"] == "all"


# ------------------------------------------------------------------------------------------ mutation survivors
# Golden cases for the overall table that the tests above left open (found by `make mutation`).


def test_a_constant_paired_difference_gives_p_0_without_asking_scipy():
    """scipy's ttest_rel warns (precision loss) on a zero-variance difference: paired_p answers first."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert paired_p([0.5, 0.75], [0.25, 0.5]) == 0.0 and paired_p([1.0, 2.0, 3.0], [1.5, 2.5, 3.5]) == 0.0
        assert paired_p([0.5, 0.75, 0.25], [0.5, 0.75, 0.25]) == 1.0


def test_overall_rows_baseline_marks_na_first_and_rounding():
    """d1 lacks `nonnegative`, d2 has it. a: packaged baseline everywhere; b: baseline on d1 only; c: own
    results; d: baseline on d2, never run on d1; e: needs `nonnegative`, so n/a on d1 (the first dataset); f: one
    seed of two on d1 only."""
    import warnings

    vals = {"d1": {"a": 0.9, "b": 0.8, "c": 0.123456, "e": None, "d": None},
            "d2": {"a": 0.9, "b": 0.8, "c": 0.123456, "d": 0.3, "e": 0.2}}
    origin = {("d1", "a"), ("d2", "a"), ("d1", "b"), ("d2", "d")}
    recs = [rec(ds, m, s, primary=v, origin="baseline" if (ds, m) in origin else None)
            for ds, by_m in vals.items() for m, v in by_m.items() if v is not None for s in range(2)]
    recs.append(rec("d1", "f", 0, primary=0.99))  # f: short of seeds on d1, never run on d2: never ranked
    reg = FakeRegistry([_method(m) for m in "abcdf"] + [_method("e", requires=("nonnegative",))],
                       [FakeCard("d1"), FakeCard("d2", properties=("nonnegative",))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no mean of an empty list along the way
        (block,) = build(recs, reg, "quick").tracks["selectors"].overall
    rows = {r["variant"]: r for r in block["rows"]}
    assert {v: r["baseline"] for v, r in rows.items()} == {"a": True, "b": False, "c": False, "d": True, "e": False,
                                                             "f": False}
    assert (rows["e"]["applicable"], rows["e"]["ranked"], rows["e"]["mean_rank"]) == (1, 1, 4.0), \
        "n/a on d1 is skipped, d2 still counts"
    assert (rows["d"]["applicable"], rows["d"]["ranked"], rows["d"]["mean_rank"]) == (2, 1, 3.0)
    assert rows["c"]["mean_primary"] == 0.1235 and rows["c"]["mean_rank"] == 4.0  # d1: 3rd of 3; d2: 5th of 5
    assert (rows["f"]["mean_rank"], rows["f"]["mean_primary"], rows["f"]["ranked"]) == (None, None, 0)
    assert [r["variant"] for r in block["rows"]] == ["a", "b", "d", "c", "e", "f"]
    # a variant that applies nowhere in a group is left out of that group's table, and the next one stays
    recs2, reg2 = _two_groups()
    real = {r["variant"]: r for r in build(recs2, reg2, "standard").tracks["selectors"].overall[1]["rows"]}
    assert sorted(real) == ["flaky", "good", "ok", "random"] and real["random"]["mean_rank"] == 4.0


def _six_datasets():
    """A first everywhere; B second on d1-d4, third on d5-d6; C the reverse; D runs on d1 only (best there)."""
    recs = []
    for i in range(1, 7):
        vals = {"A": 0.9, "B": 0.8 if i <= 4 else 0.6, "C": 0.7 if i <= 4 else 0.75}
        if i == 1:
            vals["D"] = 0.95
        recs += [rec(f"d{i}", m, s, primary=v) for m, v in vals.items() for s in range(2)]
    return recs


def test_friedman_golden_on_six_datasets_with_a_method_left_out():
    """k = 3 (D is left out: ranked on 1 of 6), N = 6; ranks re-taken among A, B, C: rank sums 6, 14, 16.
    χ² = 12 / (N k (k+1)) Σ R² − 3 N (k+1) = 12 / 72 · 488 − 72 = 9.3333; p = exp(−χ²/2) (2 df);
    CD = 2.3437 · sqrt(12 / 36) = 1.3531 (q from Demšar 2006, Table 5: 2.343); B is 1.3333 behind A (within), C 1.6667 (not)."""
    block = build(_six_datasets(), None, "quick").tracks["selectors"].overall[0]
    f = block["friedman"]
    assert f["tested"] and (f["k"], f["n"], f["left_out"]) == (3, 6, ["D"])
    assert f["statistic"] == 9.3333 and f["p"] == float(f"{math.exp(-28 / 6):.4g}")
    assert f["cd"] == round(critical_difference(3, 6), 4) == 1.3531
    assert f["mean_ranks"] == {"A": 1.0, "B": 2.3333, "C": 2.6667}
    assert {r["variant"]: r["within_cd"] for r in block["rows"]} == {"A": True, "B": True, "C": False, "D": None}


def test_within_cd_is_inclusive(monkeypatch):
    import bench_core.leaderboard as lb

    gap = float(np.mean([2.0, 2.0, 2.0, 2.0, 3.0, 3.0])) - 1.0  # B's mean rank minus A's, as computed
    monkeypatch.setattr(lb, "critical_difference", lambda k, n, alpha=lb.ALPHA: gap)
    rows = build(_six_datasets(), None, "quick").tracks["selectors"].overall[0]["rows"]
    assert {r["variant"]: r["within_cd"] for r in rows} == {"A": True, "B": True, "C": False, "D": None}


def test_an_untested_group_still_lists_who_is_left_out_and_marks_nobody():
    recs = [r for r in _six_datasets() if r["dataset"] in ("d1", "d2")]
    recs = [r for r in recs if r["method"] != "C"]  # k = 2 (A, B) on N = 2; D on d1 only
    block = build(recs, None, "quick").tracks["selectors"].overall[0]
    assert block["friedman"] == {"k": 2, "n": 2, "tested": False, "left_out": ["D"],
                                 "reason": "needs at least 3 methods on every dataset and 2 datasets"}
    assert [("within_cd" in r, r["within_cd"]) for r in block["rows"]] == [(True, None)] * 3


def test_mean_ci_leaves_out_missing_and_non_finite_values():
    m, sd, half = mean_ci([0.5, None, float("nan"), 0.7, float("inf")])
    assert (m, sd, half) == pytest.approx((0.6, math.sqrt(0.02), 12.706204736174707 * math.sqrt(0.02) / math.sqrt(2)))
    nan_m, nan_sd, none = mean_ci([None, float("nan")])
    assert math.isnan(nan_m) and math.isnan(nan_sd) and none is None


def test_csv_golden_with_controls_failed_short_and_missing_cells():
    """Every cell kind of the fixture of test_leaderboard_compare, with alpha and beta as controls. By hand:
    d1 alpha 0.8/0.9/1.0: sd 0.1, ci95 4.3027 · 0.1 / √3 = 0.248414; beta 0.7 vs alpha: differences 0.1, 0.2,
    0.3, t = 0.2 / (0.1 / √3) = 3.464, p (2 df) = 0.07418 ≥ 0.05: near the best; gamma 1 of 3 seeds: unranked,
    no interval, its seed-0 fit (0.5 s) and peak (10 MiB); delta failed: no numbers; epsilon not run on d1."""
    from test_leaderboard_compare import fixture_records

    reg = FakeRegistry([_method(m, control={"alpha": "positive", "beta": "negative"}.get(m))
                        for m in ("alpha", "beta", "gamma", "delta", "epsilon")], [FakeCard("d1"), FakeCard("d2")])
    text = track_csv(build(fixture_records(), reg, "quick").tracks["selectors"])
    assert text == (
        "track,dataset,variant,method,method_version,control,rank,mean,sd,ci95,n_done,n_total,n_planned,complete,"
        "p_best,near_best,statuses,auc_logk[logreg],auc_logk[extratrees],stability,f1_strict,f1_lenient,"
        "k_full_recall,fit_s,peak_mb,note\n"
        "selectors,d1,alpha,alpha,1,positive,1.0,0.9,0.1,0.248414,3,3,3,1,1.0,1,done=3,0.9,,0.5,,,,1.5,30.0,\n"
        "selectors,d1,beta,beta,1,negative,2.0,0.7,0.0,0.0,3,3,3,1,0.07418,1,done=3,0.7,,,,,,1.5,30.0,\n"
        "selectors,d1,gamma,gamma,1,,,0.95,0.0,,1,3,3,0,,0,done=1;timeout=2,0.95,,,,,,0.5,10.0,\n"
        "selectors,d1,delta,delta,1,,,,,,0,3,3,0,,0,error=3,,,,,,,,,\n"
        "selectors,d1,epsilon,epsilon,,,,,,,0,0,3,0,,0,,,,,,,,,,not run\n"
        "selectors,d2,epsilon,epsilon,1,,1.0,0.9,0.0,0.0,3,3,3,1,1.0,1,done=3,0.9,,,,,,1.5,30.0,\n"
        "selectors,d2,beta,beta,1,negative,2.0,0.65,0.0,0.0,3,3,3,1,0.0,0,done=3,0.65,,,,,,1.5,30.0,\n"
        "selectors,d2,alpha,alpha,1,positive,3.0,0.6,0.0,0.0,3,3,3,1,0.0,0,done=3,0.6,,,,,,1.5,30.0,\n"
        "selectors,d2,gamma,gamma,1,,4.0,0.5,0.0,0.0,3,3,3,1,0.0,0,done=3,0.5,,,,,,1.5,30.0,\n"
        "selectors,d2,delta,delta,,,,,,,0,0,3,0,,0,,,,,,,,,,not run\n")


def test_json_golden_cells_references_overall_and_provenance():
    """By hand: a's stability 0.5/0.6/0.7 (mean 0.6), its interval the means of the bounds (0.4, 0.7), f1 1/3
    rounded to 6 places, the skipped stability named (other outputs ignored), one of three results on CUDA; b has
    2 of 3 seeds (mean (0.123456789 + 0.2) / 2 = 0.161728, sd 0.076543 / √2 = 0.054124, no p, tied last overall
    as failed); references: bacc_all[logreg] 0.70/0.71/0.72: 0.71 ± 4.3027 · 0.01 / √3 = 0.024841; the timeout is
    a packaged baseline result (not in the worker hours: 5 × 1 s = 0.001 h)."""
    recs = []
    for s, v in enumerate([0.8, 0.9, 1.0]):
        r = rec("d", "a", s, primary=v)
        r["scores"].update({"stability": 0.5 + 0.1 * s, "stability_lower": 0.4, "stability_upper": 0.6 + 0.1 * s,
                            "bacc_all[logreg]": 0.7 + 0.01 * s, "bacc_all[extratrees]": 0.75, "f1_strict": 1 / 3})
        recs.append(r)
    recs[0]["outputs"] = {"stability_skipped": "too slow", "other": "x"}
    recs[2]["provenance"]["device"] = "cuda:0"
    recs += [rec("d", "b", 0, primary=0.123456789), rec("d", "b", 1, primary=0.2), rec("d", "b", 2, status="timeout")]
    recs[-1]["origin"] = "baseline"
    board = build(recs, None, "standard")
    got = json.loads(json.dumps(track_json(board, board.tracks["selectors"]), sort_keys=True))
    assert got == json.loads(
        '{"datasets":{"d":{"cells":[{"baseline":false,"ci95":0.248414,"complete":true,"control":null,"dataset":"d",'
        '"devices":{"cpu":2,"cuda":1},"fit_s":1.5,"intervals":{"stability":[0.4,0.7]},"mean":0.9,"method":"a","meth'
        'od_version":"1","n_done":3,"n_planned":3,"n_total":3,"near_best":true,"note":"","omitted":{"stability":"to'
        'o slow"},"p_best":1.0,"peak_mb":30.0,"rank":1.0,"sd":0.1,"secondary":{"auc_logk[extratrees]":null,"auc_log'
        'k[logreg]":0.9,"f1_lenient":null,"f1_strict":0.333333,"k_full_recall":null,"stability":0.6},"statuses":{"d'
        'one":3},"values":[[0,0.8],[1,0.9],[2,1.0]],"variant":"a"},{"baseline":false,"ci95":null,"complete":false,"'
        'control":null,"dataset":"d","devices":{"cpu":2},"fit_s":1.0,"intervals":{},"mean":0.161728,"method":"b","m'
        'ethod_version":"1","n_done":2,"n_planned":3,"n_total":3,"near_best":false,"note":"","omitted":{},"p_best":'
        'null,"peak_mb":20.0,"rank":null,"sd":0.054124,"secondary":{"auc_logk[extratrees]":null,"auc_logk[logreg]":'
        '0.161728,"f1_lenient":null,"f1_strict":null,"k_full_recall":null,"stability":null},"statuses":{"done":2,"t'
        'imeout":1},"values":[[0,0.123457],[1,0.2]],"variant":"b"}],"fingerprint":"fp-d00000000000000000000","refer'
        'ences":{"bacc_all[extratrees]":{"ci95":0.0,"mean":0.75},"bacc_all[logreg]":{"ci95":0.024841,"mean":0.71}}}'
        '},"overall":[{"datasets":["d"],"excluded":[],"friedman":{"k":2,"left_out":[],"n":1,"reason":"needs at leas'
        't 3 methods on every dataset and 2 datasets","tested":false},"group":"all","rows":[{"applicable":1,"baseli'
        'ne":false,"control":null,"failed":0,"mean_primary":0.9,"mean_rank":1.0,"method":"a","position":1,"ranked":'
        '1,"variant":"a","wins":1,"within_cd":null},{"applicable":1,"baseline":false,"control":null,"failed":1,"mea'
        'n_primary":null,"mean_rank":2.0,"method":"b","position":2,"ranked":1,"variant":"b","wins":0,"within_cd":nu'
        'll}],"title":"all datasets"}],"planned_seeds":{"d":[0,1,2]},"primary":{"description":"normalized area unde'
        'r balanced accuracy vs log k, mean over the fixed evaluators","higher_is_better":true,"name":"auc_logk"},"'
        'profile":"standard","protocol_version":2,"provenance":{"baseline_results":1,"commits":["abc123def4567890"]'
        ',"devices":{"cpu":4,"cuda":1},"featbench":["0.1.0"],"profile":"standard","results":6,"span":{"wall_h":0.0,'
        '"worker_h":0.001},"stale":0},"schema":2,"source_changed":{},"stale":{},"track":"selectors","uninformative"'
        ':{}}')


def test_provenance_names_unknown_commits_and_versions_and_the_default_profile():
    a, b = rec("d", "a", 0, primary=0.5), rec("d", "a", 1, primary=0.6)
    a["provenance"] = dict(a["provenance"], git_commit=None, featbench="0.2.0")
    b["provenance"] = None
    board = build([a, b])
    assert board.profile == "" and board.provenance["profile"] == ""
    assert board.provenance["commits"] == ["unknown"] and board.provenance["featbench"] == ["0.2.0", "unknown"]


def test_a_row_never_run_in_a_group_is_not_a_baseline_row_even_beside_baseline_cells():
    recs, reg = _two_groups()
    for r in recs:
        if r["method"] == "good" and r["dataset"] in ("r1", "r2"):
            r["origin"] = "baseline"
    recs += [rec("s1", "newm", s, primary=0.6) for s in range(3)]
    reg.methods["selectors"]["newm"] = SimpleNamespace(obj=_method("newm"))
    real = {r["variant"]: r for r in build(recs, reg, "standard").tracks["selectors"].overall[1]["rows"]}
    assert real["good"]["baseline"] is True
    assert (real["newm"]["baseline"], real["newm"]["ranked"], real["newm"]["applicable"]) == (False, 0, 2)


def test_curves_are_the_mean_per_k_and_an_unknown_track_ranks_higher_first():
    recs = [rec("d", "a", s, primary=0.5) for s in range(2)]
    for r, lo in zip(recs, (0.6, 0.8)):
        r["scores"].update({"bacc@k=1[logreg]": lo, "bacc@k=5[logreg]": 0.7, "bacc@k=5[extratrees]": None})
    recs += [rec("d", "b", s, primary=0.4) for s in range(2)]
    tb = build(recs, None, "quick").tracks["selectors"]
    assert tb.curves == {"d": {"a": [(1.0, 0.7), (5.0, 0.7)]}}, "b has no curve points: no curve"
    unknown = build([dict(r, track="mystery", scores={"primary": r["scores"]["auc_logk"]}) for r in recs], None,
                    "quick").tracks["mystery"]
    assert (unknown.primary, unknown.higher_is_better, unknown.columns, unknown.references) == ("primary", True, [],
                                                                                                {"d": {}})
    assert unknown.curves == {"d": {}} and [c.variant for c in unknown.datasets["d"]] == ["a", "b"]
    assert [(c.variant, c.rank) for c in unknown.datasets["d"]] == [("a", 1.0), ("b", 2.0)], "0.5 beats 0.4"


# ------------------------------------------------------------------------------------------ provenance per track


def test_each_track_reports_its_own_commits_and_run_span():
    """Boards rendered from one results directory holding two runs (one per track) must not mix their provenance."""
    sel = [record("d1", m, s, primary=0.5 + 0.1 * s) for m in ("alpha", "beta") for s in range(2)]
    red = []
    for s in range(2):
        r = record("m1", "pca", s, primary=None)
        r.update(track="reducers", scores={TRACKS["reducers"].primary: 0.3 + 0.1 * s},
                 protocol_version=TRACKS["reducers"].protocol_version, key=f"red-{s}")
        r["provenance"] = dict(r["provenance"], git_commit="fedcba9876543210", started_at="2026-11-25T10:00:00+00:00",
                               finished_at=f"2026-11-25T11:0{s}:00+00:00")
        r["timing"] = dict(r["timing"], wall_s=1800.0)
        red.append(r)
    board = build(sel + red)
    ps, pr = board.tracks["selectors"].provenance, board.tracks["reducers"].provenance
    assert ps["commits"] == ["abc123def4567890"] and pr["commits"] == ["fedcba9876543210"]
    assert ps["results"] == 4 and pr["results"] == 2
    assert ps["span"] == {"wall_h": round(1 / 3600, 3), "worker_h": round(4 / 3600, 3)}
    assert pr["span"] == {"wall_h": round(3660 / 3600, 3), "worker_h": 1.0}
    assert board.provenance["commits"] == ["abc123def4567890", "fedcba9876543210"]  # the whole board's
    md_sel, md_red = track_markdown(board, board.tracks["selectors"]), track_markdown(board, board.tracks["reducers"])
    assert "`abc123def456`" in md_sel and "fedcba" not in md_sel and "run span: 0.00 h" in md_sel
    assert "`fedcba987654`" in md_red and "abc123" not in md_red and "run span: 1.02 h wall" in md_red
    assert track_json(board, board.tracks["reducers"])["provenance"]["commits"] == ["fedcba9876543210"]


def test_run_span_skips_records_without_times_and_sums_job_wall_times():
    from bench_core.leaderboard import _span

    def r(start, end, timing):
        return {"provenance": {"started_at": start, "finished_at": end} if start else {}, "timing": timing}

    recs = [r(None, None, {"wall_s": 5.0}),  # no times: left out of both sums
            r("2026-11-25T10:00:00+00:00", "2026-11-25T11:00:00+00:00", {"wall_s": 36000.0}),
            r("2026-11-25T10:30:00+00:00", "2026-11-25T12:00:00+00:00", {}),  # no wall time: counts 0
            r("2026-11-25T09:00:00+00:00", "2026-11-25T09:30:00+00:00", None)]
    assert _span(recs) == {"wall_h": 3.0, "worker_h": 10.0}
    assert _span([r(None, None, {"wall_s": 1.0})]) is None
