"""SAE widths (protocol step 1, version 3): the ``standard`` profile runs every method that has a ``width``
parameter at 4 × d and 8 × d, each width its own jobs and leaderboard row; ``quick`` keeps the method's
own width; an explicit ``name[width=...]`` variant is run as given. Planned through the run planner itself
(nothing runs), and one width-8 job run through the protocol has 8 × d latents."""

from __future__ import annotations

from collections import Counter

import numpy as np

from bench_core.execute.run import RunRequest, plan_run
from bench_core.profiles import get_profile, track_settings
from bench_core.store import Store
from bench_core.tracks import TRACKS
from bench_core.tracks.base import Context


def _plan(registry, tmp_path, profile, methods=None, datasets=("planted_quick",)):
    req = RunRequest(tracks=["saes"], methods=methods, datasets=list(datasets), profile=profile,
                     results=tmp_path / "results", device="cpu")
    return plan_run(registry, req, Store(tmp_path / "results"))


def test_standard_plans_both_widths_for_every_method_with_a_width(registry, tmp_path):
    plan = _plan(registry, tmp_path, "standard")
    by_method: dict[str, set] = {}
    for s in plan.specs:
        by_method.setdefault(s.method, set()).add(s.params.get("width"))
    with_width = {m for m, e in registry.methods["saes"].items() if "width" in e.obj.params}
    assert with_width >= {"topk", "relu_l1", "jumprelu", "dict_learning", "random_topk"}
    for m in with_width:
        assert by_method[m] == {4, 8}, m
    for m in set(by_method) - with_width:
        assert by_method[m] == {None}, m  # no width parameter: one variant, as before
    # each width is its own row (variant label) with the profile's 3 seeds, and its own job keys
    counts = Counter(s.variant for s in plan.specs if s.method == "topk")
    assert counts == {"topk": 3, "topk[width=8]": 3}
    assert len({s.key for s in plan.specs}) == len(plan.specs)
    # the widths setting is part of every standard job key
    assert all(s.settings["widths"] == [4, 8] for s in plan.specs)


def test_full_plans_both_widths_on_every_dataset_at_16x_the_standard_tokens(registry, tmp_path):
    """What ``standard`` cuts for its hour (planted_main's and the transformer tier's width 8, the transformer
    tier's training tokens) ``full`` runs: both widths everywhere, 5 seeds, one token budget for every tier."""
    datasets = ("planted_main", "minilm_l3_tokens", "digits_mlp_l1")
    full = _plan(registry, tmp_path, "full", methods=["topk", "pca"], datasets=datasets)
    got = Counter((s.dataset, s.variant) for s in full.specs)
    assert got == {**{(d, v): 5 for d in datasets for v in ("topk", "topk[width=8]", "pca")}}
    assert all(s.settings["tokens"] == 2_621_440 and s.settings["batch_size"] == 512 for s in full.specs)
    assert not any(s.settings.get("dataset_widths") or s.settings.get("dataset_tokens") for s in full.specs)
    standard = _plan(registry, tmp_path, "standard", methods=["topk"], datasets=datasets)
    assert {(s.dataset, s.variant) for s in standard.specs} == {
        ("planted_main", "topk"), ("minilm_l3_tokens", "topk"), ("digits_mlp_l1", "topk"),
        ("digits_mlp_l1", "topk[width=8]")}


def test_quick_keeps_the_methods_own_width_and_an_explicit_variant_runs_as_given(registry, tmp_path):
    quick = _plan(registry, tmp_path, "quick")
    assert {s.params["width"] for s in quick.specs if s.method == "topk"} == {4}
    assert {s.params["width"] for s in quick.specs if s.method == "nmf"} == {1}  # nmf's own default
    explicit = _plan(registry, tmp_path, "standard", methods=["topk[width=16]"])
    assert {s.params["width"] for s in explicit.specs} == {16}
    assert {s.variant for s in explicit.specs} == {"topk[width=16]"}


def test_a_width_8_job_has_8_d_latents(registry):
    from bench_core.data.dataset import materialise

    ds, _ = materialise(registry.card("planted_quick"), registry.loader_fns, registry.reader_fns, None)
    d = ds.X.shape[1]
    track = TRACKS["saes"]
    settings = {**track_settings(track, get_profile("smoke")), "tokens": 2048}
    t = settings["l0_targets"][0]
    for name in ("topk", "random_topk"):
        cls = registry.method("saes", name)
        out = track.run(cls(**{**cls.params, "width": 8}), ds, 0, settings, Context(seed=0))
        assert out.scores[f"width@L0={t}"] == 8 * d, name
        assert np.isfinite(out.scores[f"fvu@L0={t}"])


def test_nmf_fits_overcomplete_widths():
    """The standard profile's widths 4 and 8 make NMF overcomplete (m > 2d on the split data), where
    scikit-learn's NNDSVD init is undefined: every NMF cell of a first standard run failed with its error."""
    import torch

    from featbench_builtins.saes.classical import NMF

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    for width in (1, 4):
        m = NMF(**{**NMF.params, "width": width, "k": 3, "max_iter": 50})
        m.fit(torch.as_tensor(X), Context(seed=0))
        z = m.encode(torch.as_tensor(X))
        assert z.shape == (300, 6 * width) and (z >= 0).all() and ((z > 0).sum(1) <= 3).all()
        assert m.nmf.init == ("nndsvda" if width == 1 else "random")


def test_standard_runs_the_transformer_tier_at_width_4_only_and_says_why_the_rest_is_na(registry, tmp_path):
    """``dataset_widths`` (standard: ``minilm_l3_tokens`` at width 4): the other widths are never planned on
    that dataset, and each is listed as not applicable with the reason; other datasets keep both widths."""
    from bench_core.leaderboard import _absent_note

    assert get_profile("standard").track_settings["saes"]["dataset_widths"] == {"minilm_l3_tokens": [4],
                                                                               "planted_main": [4]}
    plan = _plan(registry, tmp_path, "standard", datasets=("minilm_l3_tokens", "planted_quick", "planted_main"))
    widths: dict[tuple[str, str], set] = {}
    for s in plan.specs:
        widths.setdefault((s.dataset, s.method), set()).add(s.params.get("width"))
    assert widths[("minilm_l3_tokens", "topk")] == {4}
    assert widths[("planted_quick", "topk")] == {4, 8}
    assert widths[("planted_main", "topk")] == {4}
    assert widths[("minilm_l3_tokens", "pca")] == {None}  # no width parameter: unaffected
    reason = "width 4 only on minilm_l3_tokens in this profile, for its time budget"
    na = {(m, d): why for _, m, d, why in plan.not_applicable}
    assert na[("topk[width=8]", "minilm_l3_tokens")] == reason
    assert not any(d == "planted_quick" and "width" in why for (_, d), why in na.items())
    # an explicit variant is checked too; the method's own width runs
    explicit = _plan(registry, tmp_path, "standard", methods=["topk[width=8]"], datasets=("minilm_l3_tokens",))
    assert explicit.specs == [] and [x[1:] for x in explicit.not_applicable] == [
        ("topk[width=8]", "minilm_l3_tokens", reason)]
    # the leaderboard's note for such a cell, from the settings its records carry
    track, settings = TRACKS["saes"], track_settings(TRACKS["saes"], get_profile("standard"))
    params8 = {**registry.method("saes", "topk").params, "width": 8}
    assert _absent_note(registry, track, "topk", "minilm_l3_tokens", params8, settings) == f"n/a ({reason})"
    assert _absent_note(registry, track, "topk", "minilm_l3_tokens", {**params8, "width": 4}, settings) == "not run"
    assert _absent_note(registry, track, "topk", "planted_quick", params8, settings) == "not run"
    assert _absent_note(registry, track, "topk", "minilm_l3_tokens", params8,
                        track_settings(track, get_profile("quick"))) == "not run"


def test_dataset_tokens_sets_the_training_budget_of_the_datasets_it_names(registry, monkeypatch):
    """``dataset_tokens`` (standard: ``minilm_l3_tokens`` at 40,960 tokens, the others at ``tokens``): a job on
    a named dataset trains on that budget (the trainer's steps × batch), the others on ``tokens``; the budget
    is recorded in ``outputs["train_tokens"]``."""
    import bench_core.tracks.saes as S
    from bench_core.data.dataset import materialise

    std = track_settings(TRACKS["saes"], get_profile("standard"))
    assert S.training_tokens(std, "minilm_l3_tokens") == 40_960
    assert S.training_tokens(std, "planted_main") == std["tokens"] == 163_840
    ds, _ = materialise(registry.card("planted_quick"), registry.loader_fns, registry.reader_fns, None)
    track = TRACKS["saes"]
    base = {**track_settings(track, get_profile("smoke")), "tokens": 2048, "batch_size": 256, "consistency_l0": []}
    seen: list[int] = []
    real_fit_one = S.fit_one

    def spy(method, X, budget, ctx, **override):
        sae, t = real_fit_one(method, X, budget, ctx, **override)
        seen.append(sae.tokens_seen)  # the trainer's steps x batch size
        return sae, t

    monkeypatch.setattr(S, "fit_one", spy)
    cls = registry.method("saes", "topk")
    recorded = {}
    for named in ({}, {"planted_quick": 1024}, {"other": 1024}):
        seen.clear()
        out = track.run(cls(**cls.params), ds, 0, {**base, "dataset_tokens": named}, Context(seed=0))
        recorded[str(named)] = (out.outputs["train_tokens"], set(seen))
    assert recorded["{}"] == (2048, {2048}) and recorded["{'other': 1024}"] == (2048, {2048})
    assert recorded["{'planted_quick': 1024}"] == (1024, {1024})
