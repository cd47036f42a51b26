"""Golden cases for the functions behind the published tables (``tools/mutation.py --tables``): which records
count (:func:`partition`: the newest record stands in for the installed code, the dataset card decides the
fingerprint, parameter sets compare as sets), the order of a dataset table's cells, the inclusive ``≈`` mark,
the bounds of a secondary score's interval, reference lines, the provenance and the board of a track the
installed code does not know. Each case was left open by the tests before it (a surviving mutant of
``make mutation``); every expected value is written out by hand.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from types import SimpleNamespace

from bench_core.leaderboard import build, partition, track_json
from bench_core.tracks.selectors import SelectorsTrack
from test_leaderboard_trust import FakeCard, FakeRegistry, _method, rec


def _at(r, finished_at, key):
    """``r`` finished at ``finished_at`` (None: no provenance at all), under the result key ``key``."""
    r["provenance"] = None if finished_at is None else dict(r["provenance"], finished_at=finished_at)
    r["key"] = key
    return r


def _mystery(r, primary=None):
    """``r`` as a result of a track the installed code does not know (its primary score is ``primary``)."""
    r["track"] = "mystery"
    if r["status"] == "done":
        r["scores"] = {"primary": primary}
    return r


# ------------------------------------------------------------------------------------------ partition


def test_without_a_registry_the_newest_record_by_finish_time_stands_in_for_the_installed_code():
    """m: version 1 finished on the 20th (largest key), version 0 with no provenance (no finish time: the
    oldest), version 2 on the 21st (smallest key): version 2 is the installed one, whatever the list or key
    order. On e the newest record's fingerprint is the card's: the older fingerprint is stale."""
    a = _at(rec("d", "m", 0, primary=0.5, version="1"), "2026-11-20T00:00:00+00:00", "k3")
    b = _at(rec("d", "m", 1, primary=0.5, version="0"), None, "k2")
    c = _at(rec("d", "m", 0, primary=0.7, version="2"), "2026-11-21T00:00:00+00:00", "k1")
    e_old = _at(rec("e", "n", 0, primary=0.5, dataset_fingerprint="fp-old"), "2026-11-20T00:00:00+00:00", "k5")
    e_new = _at(rec("e", "n", 1, primary=0.5, dataset_fingerprint="fp-new"), "2026-11-21T00:00:00+00:00", "k4")
    current, stale = partition([a, b, c, e_old, e_new])
    assert [r["key"] for r in current] == ["k1", "k4"]
    assert [(r["key"], why) for r, why in stale] == [("k3", "method version 1 (installed 2)"),
                                                     ("k2", "method version 0 (installed 2)"),
                                                     ("k5", "dataset card changed since")]


def test_parameter_sets_compare_as_sets_and_only_the_newest_set_of_a_variant_counts():
    """Without a registry, one variant name with two parameter sets on one dataset: the newest set counts (in
    any key order), the older one is stale."""
    p1 = _at(rec("d", "v", 0, primary=0.5, params={"alpha": 1, "beta": 2}), "2026-11-20T00:00:00+00:00", "k1")
    p2 = _at(rec("d", "v", 1, primary=0.5, params={"beta": 2, "alpha": 1}), "2026-11-21T00:00:00+00:00", "k2")
    p3 = _at(rec("d", "v", 0, primary=0.9, params={"alpha": 0, "beta": 2}), "2026-11-19T00:00:00+00:00", "k3")
    current, stale = partition([p1, p2, p3])
    assert [r["key"] for r in current] == ["k1", "k2"]
    assert [(r["key"], why) for r, why in stale] == [("k3", "older parameters")]


def test_with_a_registry_the_card_decides_the_fingerprint_and_an_unknown_profile_checks_no_parameters():
    """The newest record carries another fingerprint than the card: it is the stale one. Under a profile the
    harness does not know, the parameters are not checked (under ``quick`` the same record is stale)."""
    ok = _at(rec("d", "m", 0, primary=0.5, params={"alpha": 1}), "2026-11-20T00:00:00+00:00", "k1")
    edited = _at(rec("d", "m", 1, primary=0.5, params={"alpha": 1}, dataset_fingerprint="fp-edited"),
                 "2026-11-21T00:00:00+00:00", "k2")
    reg = FakeRegistry([_method("m")], [FakeCard("d")])
    current, stale = partition([ok, edited], reg, "")
    assert [r["key"] for r in current] == ["k1"] and [(r["key"], why) for r, why in stale] == [
        ("k2", "dataset card changed since")]
    current, stale = partition([ok, edited], reg, "quick")  # the method's quick parameters are {}
    assert current == [] and [why for _r, why in stale] == ["parameters the profile no longer gives",
                                                            "dataset card changed since"]


def test_a_parameter_value_json_cannot_write_compares_by_its_text():
    """A method of a kind no installed track runs, with a date parameter: the record stores its text."""
    cls = _method("m")
    cls.kind, cls.params = "mystery", {"when": dt.date(2026, 11, 27)}
    reg = FakeRegistry([], [FakeCard("d")])
    reg.methods["mystery"] = {"m": SimpleNamespace(obj=cls)}
    r = _mystery(rec("d", "m", 0, primary=0.5, params={"when": "2026-11-27"}), 0.5)
    assert partition([r], reg, "quick") == ([r], [])
    r2 = _mystery(rec("d", "m", 0, primary=0.5, params={"when": "2026-11-28"}), 0.5)
    assert partition([r2], reg, "quick") == ([], [(r2, "parameters the profile no longer gives")])


def test_a_protocol_no_record_has_yet_and_an_unknown_tracks_newest_protocol():
    """Every selectors result is of protocol 1 while the code runs 2: all stale, the board still states 2. A
    track the code does not know takes the newest protocol among its records (4), and with every record stale
    it states none."""
    old = [rec("d", "a", s, primary=0.5) for s in range(2)]
    for r in old:
        r["protocol_version"] = 1
    board = build(old, None, "quick")
    tb = board.tracks["selectors"]
    assert (tb.stale, tb.datasets, tb.protocol_version) == ({"protocol version 1 (now 2)": 2}, {}, 2)
    assert track_json(board, tb)["protocol_version"] == SelectorsTrack.protocol_version == 2
    mixed = [_mystery(rec("d", "a", s, primary=0.5), 0.5) for s in range(3)]
    mixed[0]["protocol_version"], mixed[1]["protocol_version"], mixed[2]["protocol_version"] = 3, 4, 4
    current, stale = partition(mixed)
    assert current == mixed[1:] and stale == [(mixed[0], "protocol version 3 (now 4)")]
    assert build(mixed, None, "quick").tracks["mystery"].protocol_version == 4
    reg = FakeRegistry([], [FakeCard("d")])
    reg.methods["mystery"] = {"a": SimpleNamespace(obj=_method("a", version="2"))}
    gone = build(mixed, reg, "").tracks["mystery"]
    assert (gone.protocol_version, gone.datasets, gone.stale) == (
        None, {}, {"method version 1 (installed 2)": 2, "protocol version 3 (now 4)": 1})


# ------------------------------------------------------------------------------------------ dataset tables


def test_cells_sort_ranked_then_short_then_failed_then_never_run_whatever_their_names():
    """d: mid ranked; yak 1 of 2 seeds (mean, unranked); zeta timed out (no mean, no note); alpha never run on d
    (note ``not run``), though first by name."""
    recs = [rec("d", "mid", s, primary=0.5) for s in range(2)]
    recs += [rec("d", "yak", 0, primary=0.9), rec("d", "yak", 1, status="timeout")]
    recs += [rec("d", "zeta", s, status="timeout") for s in range(2)]
    recs += [rec("e", "alpha", s, primary=0.5) for s in range(2)]
    cells = build(recs, None, "quick").tracks["selectors"].datasets["d"]
    assert [(c.variant, c.rank, c.mean, c.note) for c in cells] == [
        ("mid", 1.0, 0.5, ""), ("yak", None, 0.9, ""), ("zeta", None, None, ""), ("alpha", None, None, "not run")]


def test_a_cell_at_exactly_alpha_is_near_the_best_and_is_tested_on_its_values_in_seed_order(monkeypatch):
    import bench_core.leaderboard as lb

    calls = []
    monkeypatch.setattr(lb, "paired_p", lambda a, b: calls.append((a, b)) or lb.ALPHA)
    recs = [rec("d", m, s, primary=v) for m, vals in (("a", (0.9, 0.8)), ("b", (0.4, 0.5))) for s, v in
            enumerate(vals)]
    cells = {c.variant: c for c in build(recs[::-1], None, "quick").tracks["selectors"].datasets["d"]}
    assert calls == [([0.9, 0.8], [0.4, 0.5])]
    assert (cells["a"].p_best, cells["a"].near_best, cells["b"].p_best, cells["b"].near_best) == (1.0, True,
                                                                                                  0.05, True)
    monkeypatch.setattr(lb, "paired_p", lambda a, b: math.nextafter(lb.ALPHA, 0.0))
    cells = {c.variant: c for c in build(recs, None, "quick").tracks["selectors"].datasets["d"]}
    assert (cells["b"].p_best < 0.05, cells["b"].near_best) == (True, False)


def test_a_secondary_interval_needs_both_bounds_each_the_mean_of_those_reported():
    """stability: lower bounds only (no interval); f1_strict: a lower bound on seed 0, an upper one on seed 1."""
    r0, r1 = rec("d", "a", 0, primary=0.5), rec("d", "a", 1, primary=0.5)
    r0["scores"].update({"stability": 0.6, "stability_lower": 0.4, "f1_strict_lower": 0.2})
    r1["scores"].update({"stability": 0.8, "stability_lower": 0.5, "f1_strict_upper": 0.9})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no mean of an empty list
        (cell,) = build([r0, r1], None, "quick").tracks["selectors"].datasets["d"]
    assert cell.intervals == {"f1_strict": (0.2, 0.9)}
    assert cell.secondary["stability"] == 0.7 and cell.secondary["f1_strict"] is None


def test_a_dataset_where_every_job_failed_has_no_reference_line():
    recs = [rec("d", "a", s, status="timeout") for s in range(2)] + [rec("e", "a", s, primary=0.5) for s in range(2)]
    recs[-1]["scores"]["bacc_all[logreg]"] = 0.75
    tb = build(recs, None, "quick").tracks["selectors"]
    assert tb.references == {"d": {}, "e": {"bacc_all[logreg]": (0.75, None)}}


# ------------------------------------------------------------------------------------------ board, provenance


def test_provenance_without_packaged_baselines_golden():
    """Two finished jobs and a timeout, none from the packaged baselines: no ``baseline_results`` entry; the span
    from the jobs' own times (each 10:00:00 to 10:00:01, 1 s wall: 3 s = 0.001 worker-hours)."""
    recs = [rec("d", "a", s, primary=0.5) for s in range(2)] + [rec("d", "b", 0, status="timeout")]
    board = build(recs, None, "quick")
    assert board.provenance == {"profile": "quick", "featbench": ["0.1.0"], "commits": ["abc123def4567890"],
                                "results": 3, "stale": 0, "devices": {"cpu": 2},
                                "span": {"wall_h": 0.0, "worker_h": 0.001}}


def test_an_unknown_track_with_controls_enters_at_any_positive_gain_and_describes_nothing():
    """A track the code does not know has control margin 0: a positive control 0.1 above the negative one
    makes the dataset informative. It has no description and no curve label; the selectors track has both."""
    recs = [_mystery(rec("d", m, s, primary=v), v) for m, v in (("pos", 0.6), ("neg", 0.5)) for s in range(2)]
    reg = FakeRegistry([_method("pos", control="positive"), _method("neg", control="negative")], [FakeCard("d")])
    reg.methods["mystery"] = reg.methods.pop("selectors")
    tb = build(recs, reg, "").tracks["mystery"]
    assert tb.uninformative == {"d": None} and tb.overall[0]["datasets"] == ["d"]
    assert [(c.variant, c.control, c.rank) for c in tb.datasets["d"]] == [("pos", "positive", 1.0),
                                                                         ("neg", "negative", 2.0)]
    assert (tb.primary_description, tb.curve_label, tb.protocol_version) == ("", "", 2)
    known = build([rec("d", "a", s, primary=0.5) for s in range(2)], None, "quick").tracks["selectors"]
    assert known.curve_label == SelectorsTrack.curve_label == "balanced accuracy vs k, mean over the evaluators"


def test_fit_time_and_peak_memory_are_rounded_to_4_and_1_places_in_csv_and_json():
    """fit_s 0.1 and 0.146912 s: mean 0.123456, written 0.1235; peaks 3.0 and 12.3456 MiB: max written 12.3. The
    control and the version are written too, and a board whose references lack a dataset writes none for it."""
    from bench_core.leaderboard import track_csv

    recs = [rec("d", "a", s, primary=0.5, version="7") for s in range(2)]
    for r, fit, peak in zip(recs, (0.1, 0.146912), (3.0, 12.3456)):
        r["timing"]["fit_s"], r["memory"]["peak_delta_mb"] = fit, peak
    reg = FakeRegistry([_method("a", version="7", control="positive")], [FakeCard("d")])
    board = build(recs, reg, "quick")
    tb = board.tracks["selectors"]
    assert track_csv(tb).splitlines()[1] == ("selectors,d,a,a,7,positive,1.0,0.5,0.0,,2,2,2,1,1.0,1,done=2,0.5,,,,,,"
                                             "0.1235,12.3,")
    cell = track_json(board, tb)["datasets"]["d"]["cells"][0]
    assert (cell["fit_s"], cell["peak_mb"], cell["control"], cell["method_version"]) == (0.1235, 12.3, "positive",
                                                                                         "7")
    tb.references = {}
    assert track_json(board, tb)["datasets"]["d"]["references"] == {}


def test_a_cell_whose_jobs_report_no_fit_time_and_no_peak_has_neither():
    recs = [rec("d", "a", s, primary=0.5) for s in range(2)]
    for r in recs:
        r["timing"], r["memory"] = {"wall_s": 1.0}, {"peak_delta_mb": None}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no mean of an empty list
        (cell,) = build(recs, None, "quick").tracks["selectors"].datasets["d"]
    assert (cell.fit_s, cell.peak_mb, cell.mean) == (None, None, 0.5)
