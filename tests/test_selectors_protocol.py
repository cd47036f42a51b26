"""The selectors protocol's stability step: the refit count, the fixed k, and the profile's time budget."""

from __future__ import annotations

import time

import numpy as np

from bench_core.tracks.base import Context
from bench_core.tracks.selectors import Selector, SelectorsTrack, stability_k


class CountingVariance(Selector):
    """Variance ranking that counts its fits and can be made slow."""

    name, version = "counting-variance", "1"
    params = {"sleep": 0.0}
    fits = 0

    def rank(self, X, y, ctx):
        type(self).fits += 1
        time.sleep(self.params["sleep"])
        return X.var(axis=0) + 1e-9 * ctx.rng().random(X.shape[1])


def _data(n=60, d=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.linspace(1, 3, d), rng.integers(0, 2, n)


def _settings(**over):
    return {**SelectorsTrack().default_settings(), "stability_subsamples": 5, **over}


def test_stability_k_is_the_strict_support_size_on_synthetic_data_else_capped_k():
    s = _settings()
    assert stability_k(100, s, {"strict": [1, 2, 3], "lenient": [1, 2, 3, 4]}) == 3
    assert stability_k(100, s, None) == 10 and stability_k(8, s, None) == 7


def test_without_a_budget_all_refits_run_and_the_scores_are_consistent():
    X, y = _data()
    CountingVariance.fits = 0
    scores, skipped = SelectorsTrack()._stability(CountingVariance(), X, y, False, _settings(), 4, 0.0,
                                                  Context(seed=3))
    assert skipped is None and CountingVariance.fits == 5
    assert scores["stability_k"] == 4.0 and -1.0 <= scores["stability"] <= 1.0
    assert scores["stability_lower"] <= scores["stability"] <= scores["stability_upper"]


def test_a_projected_overrun_skips_the_refits_with_the_reason():
    X, y = _data()
    CountingVariance.fits = 0
    scores, skipped = SelectorsTrack()._stability(CountingVariance(), X, y, False,
                                                  _settings(stability_budget_s=1.0), 4, 0.3, Context())
    assert scores == {} and CountingVariance.fits == 0
    assert skipped == "not computed: 5 refits at 0.3 s each would exceed the profile's stability budget of 1 s"


def test_refits_that_overrun_the_budget_are_abandoned_never_scored_from_fewer():
    X, y = _data()
    CountingVariance.fits = 0
    # the first fit looked fast (0.01 s), the refits take 0.3 s each: the budget of 0.5 s stops them
    scores, skipped = SelectorsTrack()._stability(CountingVariance(sleep=0.3), X, y, False,
                                                  _settings(stability_budget_s=0.5), 4, 0.01, Context())
    assert scores == {} and 2 <= CountingVariance.fits < 5
    assert skipped.startswith(f"not computed: {CountingVariance.fits} of 5 refits took")
    took = float(skipped.split(" refits took ")[1].split(" s,")[0])
    assert 0 <= took < 30, "the time the refits took, not a clock reading"
    assert "over the profile's stability budget of 0.5 s" in skipped



def _refit_sets(monkeypatch, M, X, y, seed=5):
    """The sets the protocol's own refits select with ``M`` subsamples (taken where it builds its matrix)."""
    import bench_core.tracks.selectors as sel

    seen = []
    real = sel.selection_matrix

    def capture(chosen, d):
        seen.append([list(map(int, c)) for c in chosen])
        return real(chosen, d)

    monkeypatch.setattr(sel, "selection_matrix", capture)
    scores, skipped = SelectorsTrack()._stability(CountingVariance(), X, y, False,
                                                  _settings(stability_subsamples=M), 3, 0.0, Context(seed=seed))
    assert skipped is None and len(seen) == 1 and len(seen[0]) == M
    return seen[0], scores


def test_fewer_refits_are_exactly_the_first_refits_of_more(monkeypatch):
    # What makes M = 10 the same estimator as M = 20 over fewer sets (protocol step 5, the standard profile):
    # subsample m and its seed depend on m alone, so the 10 sets are the first 10 of the 20.
    from bench_core.metrics.selection import nogueira_stability, selection_matrix

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(80, 15)) * rng.uniform(0.9, 1.1, 15), rng.integers(0, 2, 80)
    sets20, _ = _refit_sets(monkeypatch, 20, X, y)
    sets10, scores10 = _refit_sets(monkeypatch, 10, X, y)
    assert sets10 == sets20[:10]
    assert len({tuple(sorted(s)) for s in sets20}) > 1  # the subsamples differ, so the prefix property is not vacuous
    ref = nogueira_stability(selection_matrix(sets20[:10], 15))
    assert scores10["stability"] == ref["stability"] and scores10["stability_lower"] == ref["lower"]


def test_the_standard_profile_keeps_the_per_refit_cut_off_of_20_refits_in_45_s():
    from bench_core.profiles import get_profile, track_settings

    s = track_settings(SelectorsTrack(), get_profile("standard"))
    assert s["stability_subsamples"] == 5
    assert s["stability_budget_s"] / s["stability_subsamples"] == 45.0 / 20
# ------------------------------------------------------------------------------------------ golden values
# Each test below pins one step of the protocol (module docstring of bench_core.tracks.selectors) to values
# computed by hand or by an independent reference written here (scikit-learn for the evaluators).

import math  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402

from bench_core.errors import DeclarationError, InvalidOutput  # noqa: E402
from bench_core.metrics.selection import (  # noqa: E402
    kuncheva_index, mean_jaccard, nogueira_stability, order_from_scores, selection_matrix,
)
from bench_core.tracks import selectors as sel  # noqa: E402
from bench_core.tracks.base import Tags  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_eval_cache():
    sel._EVAL_CACHE.clear()
    yield
    sel._EVAL_CACHE.clear()


class FixedRank(Selector):
    """Scores 6, 5, 1, 4, 3, 2 whatever the data: the order is 0, 1, 3, 4, 5, 2."""

    name, version = "fixed-rank", "1"
    tags = Tags(supervised=False)
    seen: list = []

    def rank(self, X, y, ctx):
        type(self).seen.append((X.shape, y, ctx.ground_truth))
        X[:] = 0.0  # the protocol hands out copies: this must not reach the evaluators
        return np.array([6.0, 5.0, 1.0, 4.0, 3.0, 2.0])


class FixedSelect(Selector):
    """select() only: the first k of 0, 1, 3, 4, 5, 2 (as FixedRank), supervised, needs the ground truth."""

    name, version = "fixed-select", "1"
    tags = Tags(supervised=True, requires=("ground_truth",))
    seen: list = []

    def select(self, X, y, k, ctx):
        type(self).seen.append((k, None if y is None else len(y), ctx.ground_truth))
        return np.array([0, 1, 3, 4, 5, 2][:k])


def _split(seed=0, n_train=40, n_test=30, d=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_train + n_test, d))
    y = ((X[:, 0] + 0.5 * X[:, min(1, d - 1)] + 0.3 * rng.normal(size=n_train + n_test)) > 0).astype(np.int64)
    return SimpleNamespace(X_train=X[:n_train], y_train=y[:n_train], X_test=X[n_train:], y_test=y[n_train:])


def _fake_dataset(fp, gt=None, n_splits=2, d=6):
    splits = [_split(i, d=d) for i in range(n_splits)]
    return SimpleNamespace(split=lambda i: splits[i], ground_truth=gt, card=SimpleNamespace(fingerprint=fp))


def _reference_bacc(evaluator, seed, cols, sp):
    """scikit-learn's fit and balanced accuracy on the columns in ascending order (protocol step 3)."""
    from sklearn.metrics import balanced_accuracy_score

    cols = sorted(int(c) for c in cols)
    if evaluator == "logreg":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    else:
        model = _stand_in_forest(seed)
    model.fit(sp.X_train[:, cols], sp.y_train)
    return float(balanced_accuracy_score(sp.y_test, model.predict(sp.X_test[:, cols])))


def _stand_in_forest(seed):
    """In the run tests, a depth-2 scikit-learn tree stands in for the numba forest (which takes ~20 s to
    compile in a fresh test session): they check the protocol around the evaluators, whose definition
    test_make_evaluator_is_the_fixed_pair pins."""
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=2, random_state=seed)


@pytest.fixture
def stand_in_forest(monkeypatch):
    real = sel.make_evaluator
    monkeypatch.setattr(sel, "make_evaluator", lambda name, seed: _stand_in_forest(seed) if name == "extratrees"
                        else real(name, seed))


def _trapezoid_auc(ks, vals):
    x = [math.log(k) for k in ks]
    area = sum((x[i + 1] - x[i]) * (vals[i] + vals[i + 1]) / 2 for i in range(len(ks) - 1))
    return area / (x[-1] - x[0])


def test_the_default_select_takes_the_top_k_of_rank_with_the_seeded_tie_break():
    class Flat(Selector):
        name, version = "flat", "1"
        seen = []

        def rank(self, X, y, ctx):
            self.seen.append((y, ctx))
            return np.zeros(X.shape[1])  # all tied: the order is the tie-break permutation alone

    ctx, labels = Context(seed=5), np.arange(3)
    got = Flat().select(np.zeros((3, 30)), labels, 4, ctx)
    assert Flat.seen == [(labels, ctx)], "rank sees the labels and the context select was given"
    want = np.lexsort((np.random.default_rng([5, 104729]).permutation(30), np.zeros(30)))[:4]
    assert got.tolist() == want.tolist() and len(got) == 4
    with pytest.raises(TypeError, match=r"^fixed-select implements select\(\), not rank\(\)$"):
        FixedSelect().rank(np.zeros((2, 2)), None, Context())
    assert FixedRank.implements_rank() and not FixedSelect.implements_rank()
    FixedRank.validate_contract()
    FixedSelect.validate_contract()

    class Neither(Selector):
        name = "neither"

    with pytest.raises(DeclarationError, match=r"^selector 'neither' must implement rank\(\) or select\(\)$"):
        Neither.validate_contract()


def test_validate_scores_accepts_numbers_and_names_each_violation():
    for arr in ([1, 2, 3], np.array([1, 2, 3], dtype=np.uint8), [True, False, True], [0.5, 0.25, 1.0]):
        out = sel.validate_scores(arr, 3)
        assert out.dtype == np.float64 and out.tolist() == [float(x) for x in np.asarray(arr)]
    with pytest.raises(InvalidOutput, match=r"^rank\(\) returned dtype <U1, expected a float array$"):
        sel.validate_scores(["a", "b", "c"], 3)
    with pytest.raises(InvalidOutput, match=r"^rank\(\) returned shape \(2,\), expected \(3,\)$"):
        sel.validate_scores([1.0, 2.0], 3)
    with pytest.raises(InvalidOutput, match=r"^rank\(\) returned shape \(1, 3\), expected \(3,\)$"):
        sel.validate_scores([[1.0, 2.0, 3.0]], 3)
    with pytest.raises(InvalidOutput, match=r"^rank\(\) returned 2 non-finite score\(s\)$"):
        sel.validate_scores([np.nan, 1.0, -np.inf], 3)


def test_validate_indices_accepts_whole_floats_and_names_each_violation():
    out = sel.validate_indices(np.array([2.0, 0.0]), 2, 3)
    assert out.dtype == np.int64 and out.tolist() == [2, 0]
    assert sel.validate_indices(np.array([4, 0], dtype=np.uint16), 2, 5).tolist() == [4, 0]
    assert sel.validate_indices(np.array([0], dtype=np.int32), 1, 1).dtype == np.int64
    for bad in (np.array([0.5, 1.0]), np.array([np.nan, 1.0]), np.array([], dtype=np.float64), ["0", "1"]):
        with pytest.raises(InvalidOutput, match=r"^select\(\) returned dtype \S+, expected integer indices$"):
            sel.validate_indices(bad, len(bad), 3)
    with pytest.raises(InvalidOutput, match=r"^select\(k=3\) returned shape \(2,\), expected \(3,\)$"):
        sel.validate_indices([0, 1], 3, 5)
    for bad in ([0, 5], [-1, 2]):
        with pytest.raises(InvalidOutput, match=r"^select\(k=2\) returned indices outside \[0, 5\)$"):
            sel.validate_indices(bad, 2, 5)
    assert sel.validate_indices([0, 4], 2, 5).tolist() == [0, 4], "0 and d - 1 are in range"
    with pytest.raises(InvalidOutput, match=r"^select\(k=3\) returned duplicate indices$"):
        sel.validate_indices([1, 1, 2], 3, 5)


def test_k_list_golden():
    s = _settings()  # grid 1 2 5 10 20 50 100 200; retention 20/40/60 %
    assert sel.k_list(100, s, None) == [1, 2, 5, 10, 20, 40, 50, 60]
    assert sel.k_list(100, s, {"strict": [7, 8, 9], "lenient": [1, 2, 3, 4, 30, 31]}) == \
        [1, 2, 3, 5, 6, 10, 20, 40, 50, 60]
    assert sel.k_list(13, s, None) == [1, 2, 3, 5, 8, 10], "retention rounded: 2.6 -> 3, 5.2 -> 5, 7.8 -> 8"
    assert sel.k_list(2, s, None) == [1] and sel.k_list(1, s, None) == []
    assert sel.k_list(200, s, None) == [1, 2, 5, 10, 20, 40, 50, 80, 100, 120], "k = d is no selection"
    assert sel.k_list(10, {**s, "k_grid": [0, 3, 9, 10], "retention": [0.01]}, {"strict": [1] * 10}) == [1, 3, 9]


def test_make_evaluator_is_the_fixed_pair():
    lr = sel.make_evaluator("logreg", 3)
    assert [type(step).__name__ for _n, step in lr.steps] == ["StandardScaler", "LogisticRegression"]
    assert lr.steps[1][1].C == 1.0 and lr.steps[1][1].max_iter == 1000
    et = sel.make_evaluator("extratrees", 7)
    assert type(et).__name__ == "ExtraTrees" and et.n_estimators == 50 and et.random_state == 7
    with pytest.raises(ValueError, match=r"^unknown evaluator 'svm' \(valid: logreg, extratrees\)$"):
        sel.make_evaluator("svm", 0)
    assert sel.EVALUATORS == ("logreg", "extratrees")


def test_evaluate_subset_scores_the_set_against_scikit_learn_and_caches_it(monkeypatch):
    sp = _split(1)
    want = _reference_bacc("logreg", 0, [3, 0], sp)
    assert sel.evaluate_subset(("fp", 0), "logreg", 0, np.array([3, 0]), sp) == pytest.approx(want, abs=1e-12)
    assert sel._EVAL_CACHE == {("fp", 0, "logreg", 0, (0, 3)): want}
    sel._EVAL_CACHE[("fp", 0, "logreg", 0, (0, 3))] = 0.125  # a hit is returned as stored, in any order
    assert sel.evaluate_subset(("fp", 0), "logreg", 0, [0, 3], sp) == 0.125
    sel._EVAL_CACHE[("fp", 0, "logreg", 0, (1,))] = 0.0  # a cached 0.0 is a hit too
    assert sel.evaluate_subset(("fp", 0), "logreg", 0, [1], sp) == 0.0
    with pytest.raises(ValueError, match=r"^evaluate_subset: duplicate columns$"):
        sel.evaluate_subset(("fp", 0), "logreg", 0, [1, 1], sp)
    monkeypatch.setattr(sel, "_EVAL_CACHE_MAX", 3)  # full at 3 entries: the next miss starts afresh
    sel.evaluate_subset(("fp", 0), "logreg", 0, [2], sp)
    assert len(sel._EVAL_CACHE) == 3
    sel.evaluate_subset(("fp", 0), "logreg", 0, [4], sp)
    assert list(sel._EVAL_CACHE) == [("fp", 0, "logreg", 0, (4,))]


def test_stratified_subsample_takes_the_fraction_of_each_class():
    y = np.array([0] * 10 + [1] * 5 + [2] * 1)
    idx = sel._stratified_subsample(y, 0.5, np.random.default_rng(4))
    assert np.all(np.diff(idx) > 0), "sorted, no repeats"
    # round(5.0) = 5 of class 0, round(2.5) = 2 (to even) of class 1, at least 1 of class 2
    assert [int(np.sum(y[idx] == c)) for c in (0, 1, 2)] == [5, 2, 1]
    ref = np.random.default_rng(4)
    want = np.sort(np.concatenate([ref.choice(np.arange(10), 5, replace=False),
                                   ref.choice(np.arange(10, 15), 2, replace=False), [15]]))
    assert idx.tolist() == want.tolist()
    assert sel._stratified_subsample(y, 0.7, np.random.default_rng(0)).size == 7 + 4 + 1  # 7.0, 3.5 -> 4, 0.7 -> 1


def test_fit_sets_one_rank_call_or_one_select_call_per_k():
    steps = []
    ctx = Context(seed=2, step=steps.append)
    X, y = _data(n=20, d=6)
    FixedRank.seen = []
    order, sets, times = sel.fit_sets(FixedRank(), X, y, [1, 2, 5], ctx)
    assert order.tolist() == [0, 1, 3, 4, 5, 2] and {k: v.tolist() for k, v in sets.items()} == \
        {1: [0], 2: [0, 1], 5: [0, 1, 3, 4, 5]}
    assert times == {} and steps == ["fit"] and X.any(), "rank gets a copy of X"
    assert FixedRank.seen[0][1] is not None and np.array_equal(FixedRank.seen[0][1], y)
    FixedRank.seen = []
    sel.fit_sets(FixedRank(), X, None, [1], ctx)
    assert FixedRank.seen[0][1] is None
    steps.clear()
    FixedSelect.seen = []
    order, sets, times = sel.fit_sets(FixedSelect(), X, y, [1, 3], ctx)
    assert order is None and {k: v.tolist() for k, v in sets.items()} == {1: [0], 3: [0, 1, 3]}
    assert sorted(times) == [1, 3] and all(0 <= t < 5 for t in times.values())
    assert steps == ["fit k=1", "fit k=3"] and [s[:2] for s in FixedSelect.seen] == [(1, 20), (3, 20)]
    FixedSelect.seen = []
    sel.fit_sets(FixedSelect(), X, None, [2], ctx)
    assert FixedSelect.seen == [(2, None, None)]

    class Bad(Selector):
        name = "bad"

        def select(self, X, y, k, ctx):
            return np.array([0] * k)

    with pytest.raises(InvalidOutput, match="duplicate"):
        sel.fit_sets(Bad(), X, y, [2], ctx)


def test_track_declaration_golden():
    t = SelectorsTrack()
    assert (t.name, t.protocol_version, t.control_margin, t.task) == ("selectors", 2, 0.1, "classification")
    assert t.primary.name == "auc_logk" and t.primary.higher_is_better
    assert t.default_settings() == {
        "k_grid": [1, 2, 5, 10, 20, 50, 100, 200], "retention": [0.2, 0.4, 0.6],
        "evaluators": ["logreg", "extratrees"], "stability_subsamples": 20, "stability_fraction": 0.9,
        "stability_k": 10, "stability_split": 0, "stability_budget_s": None}
    assert t.leaderboard_columns() == [
        ("auc_logk[logreg]", "AUC logreg"), ("auc_logk[extratrees]", "AUC ET"), ("stability", "stability Φ̂"),
        ("f1_strict", "F1 strict"), ("f1_lenient", "F1 lenient"), ("k_full_recall", "k full recall")]
    assert t.reference_scores() == ["bacc_all[logreg]", "bacc_all[extratrees]"]
    assert t.curve_label == "balanced accuracy vs k, mean over the evaluators"
    assert t.curve_point("bacc@k=20[logreg]") == 20.0 and t.curve_point("bacc@k=5[extratrees]") == 5.0
    for score in ("bacc_all[logreg]", "auc_logk[logreg]", "xbacc@k=2[logreg]", "bacc@k=2[logreg]x", "bacc@k=[a]"):
        assert t.curve_point(score) is None
    declared = {s.name: s for s in t.scores}
    assert not declared["k_full_recall"].higher_is_better and declared["k_full_recall"].integer
    assert all(s.higher_is_better and not s.integer for n, s in declared.items() if n != "k_full_recall")


_RUN_SETTINGS = {"k_grid": [1, 2, 5, 10], "retention": [0.5], "evaluators": ["logreg", "extratrees"],
                 "stability_subsamples": 3, "stability_fraction": 0.9, "stability_k": 10, "stability_split": 0,
                 "stability_budget_s": None}


def test_run_golden_on_data_with_ground_truth(stand_in_forest):
    """d = 6; ks = grid {1, 2, 5} + 50 % of 6 = 3 + |G| = 2, 3: [1, 2, 3, 5]. FixedRank's order 0 1 3 4 5 2."""
    gt = {"strict": [0, 1], "lenient": [0, 1, 2]}
    ds = _fake_dataset("fp-run-gt", gt)
    steps = []
    FixedRank.seen = []
    out = SelectorsTrack().run(FixedRank(), ds, 0, _RUN_SETTINGS, Context(seed=0, step=steps.append))
    sp = ds.split(0)
    ks, sets = [1, 2, 3, 5], {1: [0], 2: [0, 1], 3: [0, 1, 3], 5: [0, 1, 3, 4, 5]}
    want = {}
    for ev in ("logreg", "extratrees"):
        curve = [_reference_bacc(ev, 0, sets[k], sp) for k in ks]
        want.update({f"bacc@k={k}[{ev}]": v for k, v in zip(ks, curve)})
        want[f"bacc_all[{ev}]"] = _reference_bacc(ev, 0, range(6), sp)
        want[f"auc_logk[{ev}]"] = _trapezoid_auc(ks, curve)
    want["auc_logk"] = (want["auc_logk[logreg]"] + want["auc_logk[extratrees]"]) / 2
    # recovery: top 2 = G_strict exactly; top 3 = {0, 1, 3} against {0, 1, 2}: 2/3 each; all of G by k = 2
    want.update({"precision_strict": 1.0, "recall_strict": 1.0, "f1_strict": 1.0, "precision_lenient": 2 / 3,
                 "recall_lenient": 2 / 3, "f1_lenient": 2 / 3, "exact_recovery": 1.0, "k_full_recall": 2.0})
    # stability: the same top 2 on every subsample (fixed scores)
    want.update({"stability": 1.0, "stability_lower": 1.0, "stability_upper": 1.0, "kuncheva": 1.0,
                 "jaccard": 1.0, "stability_k": 2.0})
    assert set(out.scores) == set(want)
    for k, v in want.items():
        assert out.scores[k] == pytest.approx(v, abs=1e-12), k
    assert out.outputs == {"ks": [1, 2, 3, 5], "order": [0, 1, 3, 4, 5]}
    assert 0 <= out.fit_time_s < 5
    assert steps == ["fit", *(f"evaluation logreg k={k}" for k in ks), "evaluation logreg all features",
                     *(f"evaluation extratrees k={k}" for k in ks), "evaluation extratrees all features",
                     "stability refit 1/3", "stability refit 2/3", "stability refit 3/3"]
    # unsupervised and not asking for the ground truth: no labels, no truth; the stability refits see 90 %
    assert FixedRank.seen[0] == ((40, 6), None, None) and [s[0] for s in FixedRank.seen[1:]] == [(36, 6)] * 3
    assert all(s[1] is None for s in FixedRank.seen), "nor do its stability refits"


def test_run_of_a_select_method_without_stability_on_other_splits():
    gt = {"strict": [0, 2], "lenient": [0, 1, 2, 3]}
    ds = _fake_dataset("fp-run-select", gt)
    FixedSelect.seen = []
    settings = {**_RUN_SETTINGS, "evaluators": ["logreg"]}
    out = SelectorsTrack().run(FixedSelect(), ds, 1, settings, Context(seed=1))
    # ks = [1, 2, 3, 4, 5]: sets 0 | 0 1 | 0 1 3 | 0 1 3 4 | 0 1 3 4 5
    assert out.outputs == {"ks": [1, 2, 3, 4, 5], "sets": {"1": [0], "2": [0, 1], "3": [0, 1, 3], "4": [0, 1, 3, 4],
                                                           "5": [0, 1, 3, 4, 5]}}
    assert [s[0] for s in FixedSelect.seen] == [1, 2, 3, 4, 5]
    assert all(s[1:] == (40, gt) for s in FixedSelect.seen), "supervised: labels; requires it: the truth"
    assert not any(k.startswith(("stability", "kuncheva", "jaccard")) for k in out.scores), "split 1: none"
    assert (out.scores["precision_strict"], out.scores["recall_strict"], out.scores["f1_strict"]) == (0.5, 0.5, 0.5)
    assert out.scores["precision_lenient"] == 0.75 and out.scores["exact_recovery"] == 0.0
    assert math.isnan(out.scores["k_full_recall"]), "no set of the k list holds 0 and 2"
    every = {"strict": [0, 1], "lenient": [0, 1, 2, 3, 4, 5]}  # |G_lenient| = d: no such k, no lenient scores
    out = SelectorsTrack().run(FixedSelect(), _fake_dataset("fp-run-all", every), 1, settings, Context(seed=1))
    assert "f1_lenient" not in out.scores and out.scores["f1_strict"] == 1.0
    assert out.scores["k_full_recall"] == 2.0, "the set at k = 2 is G_strict itself"
    gt3 = {"strict": [0, 3], "lenient": [0, 3, 4]}
    out = SelectorsTrack().run(FixedSelect(), _fake_dataset("fp-run-select3", gt3), 1, settings, Context(seed=1))
    assert out.scores["k_full_recall"] == 3.0 and out.scores["f1_lenient"] == pytest.approx(2 / 3)
    assert out.scores["exact_recovery"] == 0.0 and out.scores["recall_strict"] == 0.5


def test_run_without_ground_truth_and_with_two_subsamples():
    ds = _fake_dataset("fp-run-real", None)
    settings = {**_RUN_SETTINGS, "evaluators": ["logreg"], "stability_subsamples": 2, "stability_k": 3}
    out = SelectorsTrack().run(FixedRank(), ds, 0, settings, Context(seed=0))
    assert out.outputs["ks"] == [1, 2, 3, 5] and out.outputs["order"] == [0, 1, 3, 4, 5]
    assert not any(k.startswith(("precision", "recall", "f1", "exact", "k_full")) for k in out.scores)
    assert out.scores["stability_k"] == 3.0 and out.scores["kuncheva"] == 1.0, "M = 2 is enough"
    assert "stability" not in SelectorsTrack().run(FixedRank(), ds, 0, {**settings, "stability_subsamples": 1},
                                                   Context()).scores
    with pytest.raises(InvalidOutput, match=r"^dataset has d=1 features: no k below d to evaluate$"):
        SelectorsTrack().run(FixedRank(), _fake_dataset("fp-d1", None, d=1), 0, settings, Context())


def test_the_budget_projection_of_a_select_method_uses_its_fit_at_the_stability_k():
    class SlowElsewhere(FixedSelect):
        """0.6 s for every k but the stability k (2): the projection must use the fast one."""

        def select(self, X, y, k, ctx):
            if k != 2:
                time.sleep(0.6)
            return super().select(X, y, k, ctx)

    settings = {**_RUN_SETTINGS, "evaluators": ["logreg"], "stability_subsamples": 2, "stability_budget_s": 1.0}
    out = SelectorsTrack().run(SlowElsewhere(), _fake_dataset("fp-budget", {"strict": [0, 1], "lenient": [0, 1]}),
                               0, settings, Context())
    assert "stability_skipped" not in out.outputs and out.scores["stability"] == 1.0
    assert out.fit_time_s >= 1.8, "three slow ks: 2 × 1.8 s would exceed the budget"


def test_the_projected_budget_is_inclusive():
    X, y = _data()
    scores, skipped = SelectorsTrack()._stability(CountingVariance(), X, y, False,
                                                  _settings(stability_budget_s=1.0), 4, 0.2, Context())
    assert skipped is None and scores["stability_k"] == 4.0, "5 × 0.2 s = the budget: computed"


class NoisyTies(Selector):
    """Coarse variance scores (many ties) plus seeded noise: depends on the rows, the seed and the tie-break."""

    name, version = "noisy-ties", "1"
    seen: list = []

    def rank(self, X, y, ctx):
        type(self).seen.append(None if y is None else y.copy())
        return np.round(0.2 * X.var(axis=0)) + ctx.rng().integers(0, 3, X.shape[1])


def _reference_stability(method, X, y, supervised, M, fraction, k, seed):
    """The refits of protocol step 5, spelled out: subsamples from rng(seed, 7919), refit m seeded from
    rng(seed, m + 1), each refit's ties broken by rng(its seed, 104729)."""
    rng = np.random.default_rng([seed, 7919])
    chosen, labels = [], []
    for m in range(M):
        parts = []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            parts.append(rng.choice(idx, size=max(1, int(round(fraction * len(idx)))), replace=False))
        rows = np.sort(np.concatenate(parts))
        sub_seed = int(np.random.default_rng([seed, m + 1]).integers(0, 2**31))
        ys = y[rows] if supervised else None
        labels.append(ys)
        s = type(method).rank(method, X[rows], ys, Context(seed=sub_seed))
        chosen.append(order_from_scores(s, np.random.default_rng([sub_seed, 104729]))[:k])
    return chosen, labels


def test_stability_golden_against_the_refits_spelled_out():
    X, y = _data(n=50, d=10, seed=3)
    X = X * np.linspace(1, 2.5, 10)
    for supervised in (False, True):
        chosen, labels = _reference_stability(NoisyTies(), X, y, supervised, 6, 0.8, 3, seed=11)
        NoisyTies.seen = []
        steps = []
        scores, skipped = SelectorsTrack()._stability(
            NoisyTies(), X, y, supervised, _settings(stability_subsamples=6, stability_fraction=0.8), 3, 0.0,
            Context(seed=11, step=steps.append))
        NoisyTies.seen = [s for s in NoisyTies.seen]
        assert skipped is None and steps == [f"stability refit {m}/6" for m in range(1, 7)]
        assert len(NoisyTies.seen) == 6
        for got, want in zip(NoisyTies.seen, labels):
            assert (got is None) == (want is None) and (got is None or got.tolist() == want.tolist())
        nog = nogueira_stability(selection_matrix(chosen, 10))
        assert 0.0 < nog["stability"] < 1.0, "a fixture where the subsamples disagree"
        assert scores == pytest.approx({
            "stability": nog["stability"], "stability_lower": nog["lower"], "stability_upper": nog["upper"],
            "kuncheva": kuncheva_index(chosen, 10), "jaccard": mean_jaccard(chosen), "stability_k": 3.0}, abs=1e-12)


def test_stability_of_a_select_method_uses_its_select_calls():
    class SeededSelect(Selector):
        name = "seeded-select"

        def select(self, X, y, k, ctx):
            return ctx.rng().permutation(X.shape[1])[:k]

    X, y = _data(n=30, d=8)
    scores, _ = SelectorsTrack()._stability(SeededSelect(), X, y, False, _settings(stability_subsamples=4), 2, 0.0,
                                            Context(seed=5))
    sets = [np.random.default_rng([int(np.random.default_rng([5, m + 1]).integers(0, 2**31))]).permutation(8)[:2]
            for m in range(4)]
    assert scores["jaccard"] == pytest.approx(mean_jaccard(sets), abs=1e-12)
    assert scores["kuncheva"] == pytest.approx(kuncheva_index(sets, 8), abs=1e-12)


def test_run_details_seed_full_recall_from_the_order_refit_labels_and_skipped_stability():
    settings = {**_RUN_SETTINGS, "evaluators": ["logreg"]}
    gt = {"strict": [0, 4], "lenient": [0, 4]}  # ks [1, 2, 3, 5]; FixedRank's order 0 1 3 4 5 2 holds 0 and 4 at k = 4
    out = SelectorsTrack().run(FixedRank(), _fake_dataset("fp-order", gt), 1, settings, Context(seed=3))
    assert out.outputs["ks"] == [1, 2, 3, 5] and out.scores["k_full_recall"] == 4.0, "from the order, not the k list"
    assert {key[3] for key in sel._EVAL_CACHE} == {3} and len(sel._EVAL_CACHE) == 5, "evaluated with the job's seed"
    # a supervised select() method: its stability refits get the labels of their rows
    FixedSelect.seen = []
    out = SelectorsTrack().run(FixedSelect(), _fake_dataset("fp-sup", gt), 0, settings, Context())
    refits = FixedSelect.seen[4:]
    assert [r[:2] for r in refits] == [(2, 36)] * 3 and out.scores["stability"] == 1.0
    # no ground truth and a stability k outside the k list: the projection falls back on the whole fit time
    no_gt = {**settings, "stability_k": 4, "stability_budget_s": 100.0}
    out = SelectorsTrack().run(FixedSelect(), _fake_dataset("fp-k4", None), 0, no_gt, Context())
    assert out.scores["stability_k"] == 4.0 and "stability_skipped" not in out.outputs
    out = SelectorsTrack().run(FixedRank(), _fake_dataset("fp-skip", None), 0, {**no_gt, "stability_budget_s": 1e-12},
                               Context())
    assert out.outputs["stability_skipped"].startswith("not computed: 3 refits at ")
    assert not any(k.startswith(("stability", "kuncheva", "jaccard")) for k in out.scores)


def test_the_evaluator_gets_the_job_seed_and_fit_sets_breaks_ties_with_its_salt(monkeypatch):
    made = []

    class Majority:
        def fit(self, X, y):
            self.c = int(np.bincount(y).argmax())
            return self

        def predict(self, X):
            return np.full(len(X), self.c)

    monkeypatch.setattr(sel, "make_evaluator", lambda name, seed: made.append((name, seed)) or Majority())
    sel.evaluate_subset(("fp-seed", 0), "extratrees", 17, [1, 2], _split(2))
    assert made == [("extratrees", 17)]

    class Flat(Selector):
        name = "flat-rank"

        def rank(self, X, y, ctx):
            return np.zeros(X.shape[1])

    order, _sets, _t = sel.fit_sets(Flat(), np.zeros((4, 25)), None, [3], Context(seed=9))
    assert order.tolist() == np.lexsort((np.random.default_rng([9, 104729]).permutation(25), np.zeros(25))).tolist()

    class XSelect(Selector):
        name = "x-select"

        def select(self, X, y, k, ctx):
            return np.argsort(-X.var(axis=0))[:k]

    X = np.random.default_rng(0).normal(size=(30, 5)) * np.array([1.0, 5.0, 2.0, 4.0, 3.0])
    _o, sets, _t = sel.fit_sets(XSelect(), X, None, [2], Context())
    assert sets[2].tolist() == [1, 3], "select() sees the training rows"
