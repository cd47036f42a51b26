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
    assert s["stability_subsamples"] == 10
    assert s["stability_budget_s"] / s["stability_subsamples"] == 45.0 / 20
