"""Profiles size the work; this module is the one place that defines them.

=========  ==================================================================================  ======
profile    what it is for                                                                      seeds
=========  ==================================================================================  ======
smoke      seconds: the test suite and the conformance kit                                     1
quick      every built-in in a few minutes on 2 CPU cores: CI and the default leaderboard      2
standard   the committed leaderboards: every dataset available, budgeted for 2 CPU cores       3
full       GPU scale: more seeds, and methods' sweep grids                                      5
=========  ==================================================================================  ======

A dataset card's ``tier`` is the smallest profile that includes it. ``timeout_s`` is the time limit of one
step of a job (one fit, one evaluation, one stability refit; see :mod:`bench_core.execute.local`) for
methods that declare none, and ``job_timeout_s`` (if set) the limit of the whole job: a method too slow for
a dataset at that scale is recorded as ``timeout`` there, which is a result (it does not fit the profile's
budget on this hardware), never imputed. A profile may override a track's
protocol settings (``track_settings``); the merged settings are part of every job key, so results of two
profiles are never mixed up. A method may adapt its own defaults to a profile through its
``profile_params`` (recorded as parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bench_core.errors import UsageError


@dataclass(frozen=True)
class Profile:
    name: str
    tier: str
    seeds: int
    sweep: bool
    timeout_s: float
    description: str
    #: Total time one job may take, all steps together (``None``: no total limit, only the per-step one).
    job_timeout_s: float | None = None
    track_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="smoke", tier="smoke", seeds=1, sweep=False, timeout_s=120,
            description="seconds: tests and conformance checks",
            track_settings={"selectors": {"k_grid": [1, 2, 5, 10], "retention": [], "evaluators": ["logreg"],
                                          "stability_subsamples": 3},
                            "reducers": {"auc_k": 30, "pairs": 20_000},
                            "similarity": {"estimation_reps": 2, "runtime_repeats": 1,
                                           "runtime_grid": [[200, 16], [500, 32]]},
                            "saes": {"l0_targets": [4], "tokens": 30_000, "batch_size": 512, "calib_steps": 3,
                                     "consistency_l0": []}},
        ),
        Profile(
            name="quick", tier="quick", seeds=2, sweep=False, timeout_s=120,
            description="every built-in in a few minutes on 2 CPU cores (CI, default leaderboard)",
            track_settings={"selectors": {"stability_subsamples": 5}, "reducers": {"auc_k": 50, "pairs": 50_000},
                            "similarity": {"estimation_reps": 3, "runtime_repeats": 1,
                                           "runtime_grid": [[500, 32], [1000, 128]]},
                            "saes": {"l0_targets": [4, 8], "tokens": 100_000, "batch_size": 512, "calib_steps": 5,
                                     "consistency_l0": [8]}},
        ),
        Profile(
            name="standard", tier="standard", seeds=3, sweep=False, timeout_s=30, job_timeout_s=300,
            description="the committed leaderboards: every dataset available, 3 seeds, budgeted for 2 cores",
            # 5 stability refits with 11.25 s for all of them: the same cut-off per refit (2.25 s) as the former
            # 20 refits in 45 s, so the same cells get a stability score, for a quarter of the refits' cost, to
            # fit the 60-minute budget; the CI of the stability is about 2x wider than with 20 (see the
            # selectors track's docstring, protocol step 5)
            track_settings={"selectors": {"stability_subsamples": 5, "stability_budget_s": 11.25},
                            # SAEs (bench_core/tracks/saes.py, "Standard budget"): L0 {8, 16, 32, 64}, 3 seeds;
                            # 163,840 training tokens (320 Adam steps of 512) on the planted and digits tiers,
                            # both widths but on planted_main (width 4 only, for the time budget); the
                            # transformer tier at width 4 and 40,960 tokens (its evaluation dominates its jobs);
                            # splice fidelity on a fixed ~2,000-token subset of the evaluation documents
                            "saes": {"widths": [4, 8], "tokens": 163_840, "batch_size": 512, "splice_tokens": 2000,
                                     "dataset_widths": {"minilm_l3_tokens": [4], "planted_main": [4]},
                                     "dataset_tokens": {"minilm_l3_tokens": 40_960}},
                            # reducers: every data set, one fit on at most 1,000 training rows (a seeded stratified
                            # subsample of the split's, the same for every method) and 250 test rows; sized by
                            # measured CPU seconds (bench_core/tracks/reducers.py, "Standard budget")
                            "reducers": {"max_train_rows": 1000, "max_test_rows": 250}},
        ),
        Profile(
            name="full", tier="full", seeds=5, sweep=True, timeout_s=3600,
            description="GPU scale: more seeds and the methods' sweep grids",
            # SAEs: what ``standard`` leaves out for its hour on 2 cores: both widths on every dataset (planted_main
            # and the transformer tier included) and 16x standard's training tokens on every tier (2,621,440:
            # TopK's MCC on planted_main is 0.94 there against 0.43 at 163,840; bench_core/tracks/saes.py)
            track_settings={"saes": {"widths": [4, 8], "tokens": 2_621_440, "batch_size": 512}},
        ),
    )
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise UsageError(f"unknown profile {name!r} (valid: {', '.join(PROFILES)})")
    return PROFILES[name]


def track_settings(track, profile: Profile) -> dict[str, Any]:
    """The track's default protocol settings overridden by the profile's."""
    settings = dict(track.default_settings())
    overrides = profile.track_settings.get(track.name, {})
    unknown = sorted(set(overrides) - set(settings))
    if unknown:  # pragma: no cover - a programming error in this file
        raise ValueError(f"profile {profile.name!r} overrides unknown {track.name} settings {unknown}")
    settings.update(overrides)
    return settings
