"""What the SAE track must show on planted data (issue: SAE track), measured here at a reduced quick scale.

The claims are checked on the results of the default leaderboard's run (`featbench run --profile quick`, the
session's ``quick_run`` fixture, which the integration test checks too): every built-in SAE-track method with a
sparsity knob on ``planted_quick``, every seed, at the quick profile's L0 targets. The claims:

* the positive control (the planted dictionary itself) ranks first on MCC at every L0 target — by
  construction its MCC is 1; every other method must stay below it;
* the negative control (a random dictionary with k-sparse least-squares codes) ranks last on MCC at every
  L0 target, with a margin of 0.02 over it for every other method.

Exceptions would be declared in ``KNOWN_DEVIATIONS`` with what was measured (none at present). Methods with
no sparsity knob (identity, top-AFA) have no L0 target and are outside the claim; identity's MCC (about 0.47,
the standard basis against random planted directions) is at the random dictionary's level, as expected of
a control that learns nothing.

Also: the protocol's achieved L0 is matched (per-row ``k`` methods hit the target exactly, batch-level ones
within 10 % on average; calibrated ``penalty`` methods, with four bisection probes, within a factor 2 on the
evaluation rows — the resolution of four halvings of the penalty range; measured under load: gated 5.5 and
relu_l1_decnorm 6.7 at target 4. The protocol reports the achieved L0 next to every score).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from bench_core.profiles import get_profile, track_settings
from bench_core.tracks import TRACKS
from bench_core.tracks.base import Context

MARGIN = 0.02
#: {(method, target): reason} — where the claim is known not to hold (none measured).
KNOWN_DEVIATIONS: dict[tuple[str, int], str] = {}


@pytest.fixture(scope="module")
def results(quick_run, registry):
    """``(targets, {seed: {method: (class, record)}})`` from the quick run's planted_quick results."""
    _env, results_dir, _proc = quick_run
    targets = track_settings(TRACKS["saes"], get_profile("quick"))["l0_targets"]
    by_seed: dict[int, dict] = {}
    for path in results_dir.rglob("*.json"):
        rec = json.loads(path.read_text())
        if rec.get("track") != "saes" or rec.get("dataset") != "planted_quick":
            continue
        cls = registry.method("saes", rec["method"])
        if cls.sparsity_param is None:
            continue
        assert rec["status"] == "done", (rec["method"], rec["seed"], rec.get("error"))
        by_seed.setdefault(rec["seed"], {})[rec["method"]] = (cls, SimpleNamespace(scores=rec["scores"]))
    assert by_seed, "the quick run has no planted_quick results"
    return targets, by_seed


def test_every_method_with_a_knob_ran(results):
    targets, by_seed = results
    for out in by_seed.values():
        _every_method_ran(targets, out)


def _every_method_ran(targets, out):
    assert {"planted", "random_topk", "topk", "relu_l1", "jumprelu", "fastica"} <= set(out)
    for name, (_, job) in out.items():
        for t in targets:
            assert f"mcc@L0={t}" in job.scores, (name, t)


def test_positive_control_first_and_random_dictionary_last_on_mcc_at_every_target(results):
    targets, by_seed = results
    for out in by_seed.values():
        _controls_first_and_last(targets, out)


def _controls_first_and_last(targets, out):
    for t in targets:
        mcc = {name: job.scores[f"mcc@L0={t}"] for name, (_, job) in out.items()}
        assert mcc["planted"] == pytest.approx(1.0)
        for name, v in mcc.items():
            if name in ("planted", "random_topk") or (name, t) in KNOWN_DEVIATIONS:
                continue
            assert v < mcc["planted"], f"{name} ties or beats the planted dictionary at L0={t}: {v:.3f}"
            assert v > mcc["random_topk"] + MARGIN, (
                f"{name} is not above the random dictionary at L0={t}: {v:.3f} vs {mcc['random_topk']:.3f}")
    for (name, t), reason in KNOWN_DEVIATIONS.items():
        v = out[name][1].scores[f"mcc@L0={t}"]
        r = out["random_topk"][1].scores[f"mcc@L0={t}"]
        assert v <= r + MARGIN, f"declared deviation {name}@{t} ({reason}) no longer holds: {v:.3f} vs {r:.3f}"


def test_l0_is_matched(results):
    targets, by_seed = results
    for out in by_seed.values():
        _l0_matched(targets, out)


def _l0_matched(targets, out):
    for name, (cls, job) in out.items():
        for t in targets:
            l0 = job.scores[f"l0@L0={t}"]
            if cls.sparsity_mode == "k" and name not in ("batch_topk", "feature_choice", "matryoshka"):
                assert l0 == pytest.approx(t), (name, t, l0)
            elif cls.sparsity_mode == "k":  # batch-level rules: matched on average, not per row
                assert abs(l0 / t - 1) < 0.1, (name, t, l0)
            else:  # four bisection probes over a wide range: within a factor 2 of the target
                assert 1 / 2 < l0 / t < 2, (name, t, l0)


def test_seed_consistency_is_one_exactly_for_deterministic_methods(quick_run, registry):
    """Protocol step 5 on the quick run: the refit with seed + 1000 reproduces the dictionary of a method
    whose fit uses no randomness (planted, pca, identity: MCC 1), and moves every method tagged stochastic
    (MCC below 1: the seed reached the fit). Measured under load in this run: the SAEs 0.46-0.60, FastICA
    0.86-0.89, NMF 0.76-0.83, the random dictionary 0.45-0.46."""
    _env, results_dir, _proc = quick_run
    seen = 0
    for path in results_dir.rglob("*.json"):
        rec = json.loads(path.read_text())
        if rec.get("track") != "saes" or rec.get("dataset") != "planted_quick":
            continue
        cls = registry.method("saes", rec["method"])
        c = rec["scores"]["consistency"]
        if cls.tags.stochastic:
            assert 0.0 < c < 1.0 - 1e-6, (rec["method"], rec["seed"], c)
        elif rec["method"] in ("planted", "pca", "identity"):
            assert c == pytest.approx(1.0, abs=1e-9), (rec["method"], rec["seed"], c)
        seen += 1
    assert seen >= 30


# ------------------------------------------------------------------------------------------ transformer tier


@pytest.mark.transformer
def test_splice_fidelity_on_minilm_tokens(registry):
    """On a small MiniLM corpus (48 documents × ≤ 32 tokens, layer 3): the identity splice recovers
    everything (splice_recovered = 1, cosine 1); a TopK SAE at L0 = 16 recovers part of it (between mean
    ablation, 0, and 1) with a reconstruction FVU below 1; batches are whole documents; the probes run."""
    import numpy as np

    from bench_core.data.cards import card_from_dict
    from bench_core.data.dataset import materialise
    from bench_core.tracks.saes import eval_batches

    card = card_from_dict({
        "name": "minilm_small", "title": "t", "tracks": ["saes"], "task": "activations", "tier": "smoke",
        "source": {"loader": "minilm.tokens", "params": {"layer": 3, "max_docs": 48, "max_tokens_per_doc": 32}},
        "split": {"method": "stratified_group_shuffle", "test_fraction": 0.3, "n_splits": 1, "seed": 1}},
        "minilm_small.toml")
    ds, _ = materialise(card, registry.loader_fns, registry.reader_fns, None, verify=False)
    tr, te = ds.splits[0]
    assert not set(ds.arrays["doc"][tr]) & set(ds.arrays["doc"][te]), "split by document"
    for rows in eval_batches(ds, te, 100):
        docs = set(ds.arrays["doc"][te[rows]])
        assert sum(int((ds.arrays["doc"] == d).sum()) for d in docs) == len(rows), "a batch holds whole documents"
    track = TRACKS["saes"]
    settings = {**track_settings(track, get_profile("smoke")), "l0_targets": [16], "tokens": 8192,
                "eval_batch": 200}
    ident = track.run(registry.method("saes", "identity")(), ds, 0, settings, Context(seed=0))
    assert ident.scores["splice_recovered@native"] == pytest.approx(1.0, abs=1e-5)
    assert ident.scores["splice_cosine@native"] == pytest.approx(1.0, abs=1e-5)
    topk = track.run(registry.method("saes", "topk")(), ds, 0, settings, Context(seed=0))
    r = topk.scores["splice_recovered@L0=16"]
    assert 0.0 < r < 1.0 and np.isfinite(r)
    assert topk.scores["fvu@L0=16"] < 1.0
    # k-sparse probing of the package label runs on the document-pooled codes (labelled token data): the
    # identity's codes are the raw neurons, so its probe equals the raw-neuron probe
    for k in (1, 2, 5):
        assert ident.scores[f"probe_k{k}@native"] == pytest.approx(ident.scores[f"probe_k{k}_raw"])
        assert 0.0 <= topk.scores[f"probe_k{k}@L0=16"] <= 1.0
