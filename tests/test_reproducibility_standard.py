"""Re-running committed standard cells reproduces their values exactly.

A sample of deterministic methods (``tags.stochastic`` false) on the small bundled data sets is run again,
seed 0, through the same planner and executor as ``featbench run --profile standard``, and each score is
compared with the committed ``leaderboards/standard/<track>.json`` at its stored precision (6 decimals), for
the selectors and the similarity tracks.
A committed board of an older protocol version cannot be reproduced by the installed code by design: then
the test is skipped with that reason (regenerate the board).
"""

from __future__ import annotations

import json

import pytest

from bench_core.tracks import TRACKS
from conftest import REPO

BOARD = REPO / "leaderboards" / "standard" / "selectors.json"
SAMPLE = [("anova_f", "wine"), ("fisher_score", "breast_cancer"), ("variance", "wine"), ("mrmr", "wine")]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def board():
    data = json.loads(BOARD.read_text())
    now = TRACKS["selectors"].protocol_version
    if data.get("protocol_version") != now:
        pytest.skip(f"the committed standard board has protocol version {data.get('protocol_version')}, the "
                    f"installed selectors protocol is {now}: regenerate leaderboards/standard")
    return data


@pytest.mark.parametrize("method, dataset", SAMPLE, ids=[f"{m}-{d}" for m, d in SAMPLE])
def test_committed_cells_reproduce_exactly(board, registry, tmp_path, method, dataset):
    from bench_core.execute.run import RunRequest, execute, plan_run, prepare_datasets
    from bench_core.store import Store

    assert not registry.method("selectors", method).tags.stochastic
    cell = next(c for c in board["datasets"][dataset]["cells"] if c["variant"] == method)
    committed = dict((s, v) for s, v in cell["values"])
    assert 0 in committed, f"seed 0 of {method} on {dataset} is not in the committed board"
    store = Store(tmp_path / "results")
    req = RunRequest(methods=[method], datasets=[dataset], profile="standard", seeds="1", executor="inline",
                     device="cpu",
                     results=store.root, cache_dir=tmp_path / "cache")
    plan = plan_run(registry, req, store)
    prepare_datasets(registry, plan, req)
    assert execute(registry, plan, req, store) == {"done": 1}
    (rec,) = list(store.iter_records())
    assert rec["dataset_fingerprint"] == board["datasets"][dataset]["fingerprint"]
    assert round(rec["scores"]["auc_logk"], 6) == committed[0]


SIM_SAMPLE = [("cka-linear-biased", "sim_transforms"), ("procrustes-angular", "sim_null"),
              ("cka-linear-debiased", "sim_estimation")]


@pytest.fixture(scope="module")
def similarity_board():
    data = json.loads((REPO / "leaderboards" / "standard" / "similarity.json").read_text())
    now = TRACKS["similarity"].protocol_version
    if data.get("protocol_version") != now:
        pytest.skip(f"the committed standard similarity board has protocol version {data.get('protocol_version')},"
                    f" the installed protocol is {now}: regenerate leaderboards/standard")
    return data


@pytest.mark.parametrize("method, dataset", SIM_SAMPLE, ids=[f"{m}-{d}" for m, d in SIM_SAMPLE])
def test_committed_similarity_cells_reproduce_exactly(similarity_board, registry, tmp_path, method, dataset):
    from bench_core.execute.run import RunRequest, execute, plan_run, prepare_datasets
    from bench_core.store import Store

    assert not registry.method("similarity", method).tags.stochastic
    cell = next(c for c in similarity_board["datasets"][dataset]["cells"] if c["variant"] == method)
    committed = dict((s, v) for s, v in cell["values"])
    store = Store(tmp_path / "results")
    req = RunRequest(methods=[method], datasets=[dataset], profile="standard", seeds="1", executor="inline",
                     device="cpu", results=store.root, cache_dir=tmp_path / "cache")
    plan = plan_run(registry, req, store)
    prepare_datasets(registry, plan, req)
    assert execute(registry, plan, req, store) == {"done": 1}
    (rec,) = list(store.iter_records())
    assert rec["dataset_fingerprint"] == similarity_board["datasets"][dataset]["fingerprint"]
    assert round(rec["scores"]["grounding"], 6) == committed[0]
