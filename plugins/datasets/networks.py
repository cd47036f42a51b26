"""Small networks trained on scikit-learn's digits: hidden-layer representations from several seeds, under
controlled training conditions (the similarity track's families; the SAE track's small-network tier).

**Data.** ``sklearn.datasets.load_digits()`` (1,797 images, 8 × 8, 10 classes), inputs scaled to [0, 1]
(pixel / 16). A fixed held-out split, the same for every network: per class, a permutation from
``numpy.random.default_rng(0)`` puts ``round(0.3 · n_c)`` rows in the held-out part (540 rows) and the rest in
the training part (1,257 rows). :func:`digits_split` returns it. A second task, ``synthetic``
(:func:`synthetic`: 1,800 rows of ``make_classification``, 64 features, 10 classes), has the same shape and
none of the digits' spatial structure; its split is drawn the same way (540 held-out rows).

**Architectures** (layers chosen to differ, so that identifying a layer across seeds means something; a
plain MLP's last layers are nearly interchangeable):

``mlp``
    64 → 512 (ReLU) → 64 (ReLU) → 16 (tanh bottleneck) → 10; hidden layers ``l0``, ``l1``, ``l2`` are the
    outputs of the three activations (widths 512, 64, 16). Chosen for layer identification: over the 20
    ordered pairs of seeds 0-4, the layer of the other seed with the highest linear CKA is the same layer for
    59 of 60 layers (a ReLU-only 256-64-16 MLP: 30 of 60; 256-64-16 with the tanh bottleneck: 40 of 60; the
    CNN below: 54 of 60).
``mlp-small``
    64 → 128 (ReLU) → 32 (ReLU) → 16 (tanh bottleneck) → 10: the same shape of widths at a quarter of the
    cost to train and to compare (the similarity track's quick tier); 15 epochs.
``cnn``
    input 1 × 8 × 8; ``l0`` conv 3 × 3, 8 channels, ReLU (8 × 8 × 8 = 512); ``l1`` conv 3 × 3, 16
    channels, ReLU, 2 × 2 max-pool (16 × 4 × 4 = 256); ``l2`` dense 64, ReLU; then dense 10. Channels-first
    flattening (``C × H × W``).

**Training.** Adam (lr 3e-3), cross-entropy, mini-batches of 64 rows reshuffled each epoch; ``epochs``
defaults to 20 (mlp) and 15 (cnn). Everything random (initial weights, batch order, label noise, input
noise, shortcut draws) comes from the network's ``seed``; training runs on the CPU with one torch thread, so a
network is bit-for-bit reproducible on one machine (``checksum_inputs`` covers the last bits across CPUs).

**Conditions** (a table; absent keys are 0), applied to the *training* rows only:

``random_label_fraction`` (f ∈ [0, 1])
    a fraction f of the training rows (chosen by the seed) get a label drawn uniformly from the 10 classes
    (ReSi's random-label test: f = 1 leaves nothing to learn, held-out accuracy ≈ 10 %).
``shortcut`` (s ∈ [0, 1])
    a class-leaking shortcut: 10 nearly-always-blank border pixels (the left column and two pixels of the
    right column) are cleared and, for each training row, the pixel of the row's class is set to 1 with
    probability s (else the pixel of a uniformly drawn class). At evaluation the shortcut is removed: the
    held-out rows are the plain digits. A net trained with s = 1 leans on the shortcut, so its accuracy
    on plain held-out digits drops while its accuracy with the shortcut applied (``info``) is ≈ 100 %.
``augment_sigma`` (σ ≥ 0)
    Gaussian input noise of standard deviation σ (inputs in [0, 1]) added to the training inputs, drawn
    afresh each epoch (augmentation strength: suggested σ1 = 0.25, σ2 = 0.5).

**Cache.** A trained network's weights are cached under ``<cache_dir()>/networks/<sha>.npz`` (atomic write),
``<sha>`` = SHA-256 of (the digits data, :data:`CODE_VERSION`, arch, seed, condition, epochs); the
activations are recomputed from the weights at load (milliseconds). Each loader's ``checksum_inputs`` hashes
the same inputs and its own parameters.

Loaders: :func:`digits_networks` (``digits.networks``) and :func:`digits_activations`
(``digits.activations``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import numpy as np

from bench_core.data import RawData
from bench_core.errors import UsageError
from . import npcache

CODE_VERSION = "digits-networks-3"
ARCHS = ("mlp", "mlp-small", "cnn")
EPOCHS = {"mlp": 20, "mlp-small": 15, "cnn": 15}
EVAL_FRACTION = 0.3
LR = 3e-3
BATCH = 64
#: Shortcut pixels (row-major indices in the 8 × 8 image), one per class: the left column (rows 0–7) and
#: rows 3–4 of the right column, blank in almost every digit.
SHORTCUT_PIXELS = np.array([0, 8, 16, 24, 32, 40, 48, 56, 31, 39])
CONDITION_KEYS = ("random_label_fraction", "shortcut", "augment_sigma")

#: How many networks this process trained (the tests use it to check that the cache is reused).
RUNS = {"trained": 0}


# --------------------------------------------------------------------------------------------- data


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The inputs (float32, pixel / 16) and labels of scikit-learn's digits."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


def synthetic() -> tuple[np.ndarray, np.ndarray]:
    """The synthetic task: scikit-learn's ``make_classification`` (1,800 rows, 64 features of which 16
    informative and 16 redundant linear combinations of them, 10 classes of 2 Gaussian clusters each, class
    separation 1.5, 2 % of labels flipped, ``random_state=0``), each feature min-max scaled to [0, 1] like the
    digits' pixels. Same shape as the digits (64 inputs, 10 classes), none of their spatial structure."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=1800, n_features=64, n_informative=16, n_redundant=16, n_classes=10,
                               n_clusters_per_class=2, class_sep=1.5, flip_y=0.02, random_state=0)
    X = (X - X.min(0)) / (X.max(0) - X.min(0))
    return X.astype(np.float32), y.astype(np.int64)


#: The tasks a network is trained on (``task`` of the loaders): inputs of 64 features, 10 classes.
TASKS = {"digits": digits, "synthetic": synthetic}


def task_data(task: str) -> tuple[np.ndarray, np.ndarray]:
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r} (valid: {', '.join(TASKS)})")
    return TASKS[task]()


def digits_split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fixed (train, held-out) row indices, sorted (see the module docstring)."""
    rng = np.random.default_rng(0)
    held = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        held.append(rng.permutation(rows)[:int(round(EVAL_FRACTION * len(rows)))])
    held_out = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(y)), held_out), held_out


def _data_sha(X: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()


def add_shortcut(X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``X`` with the shortcut pixels cleared and the pixel of ``classes[i]`` set to 1 in row ``i``."""
    X = X.copy()
    X[:, SHORTCUT_PIXELS] = 0.0
    X[np.arange(len(X)), SHORTCUT_PIXELS[classes]] = 1.0
    return X


# --------------------------------------------------------------------------------------------- params


def _arch(arch: Any) -> str:
    if arch not in ARCHS:
        raise UsageError(f"unknown arch {arch!r} (valid: {', '.join(ARCHS)})")
    return str(arch)


def _condition(condition: Mapping[str, Any] | None) -> dict[str, float]:
    condition = dict(condition or {})
    bad = sorted(set(condition) - set(CONDITION_KEYS))
    if bad:
        raise UsageError(f"unknown condition key {bad[0]!r} (valid: {', '.join(CONDITION_KEYS)})")
    out = {}
    for k in CONDITION_KEYS:
        v = condition.get(k, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise UsageError(f"condition {k} must be a number, got {v!r}")
        v = float(v)
        if k != "augment_sigma" and not 0.0 <= v <= 1.0:
            raise UsageError(f"condition {k} must be in [0, 1], got {v}")
        if k == "augment_sigma" and v < 0:
            raise UsageError(f"condition augment_sigma must be ≥ 0, got {v}")
        out[k] = v
    return out


def _epochs(arch: str, epochs: Any) -> int:
    if epochs is None:
        return EPOCHS[arch]
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise UsageError(f"epochs must be a positive integer, got {epochs!r}")
    return epochs


# --------------------------------------------------------------------------------------------- networks


def build(arch: str):
    """The untrained network (``torch.nn.Module`` with ``hidden(x) -> [l0, l1, …]`` and ``forward -> logits``)."""
    import torch
    from torch import nn

    class MLP(nn.Module):
        widths = (512, 64, 16)
        acts = (torch.relu, torch.relu, torch.tanh)

        def __init__(self) -> None:
            super().__init__()
            dims = (64, *self.widths)
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
            self.out = nn.Linear(dims[-1], 10)

        def hidden(self, x):
            hs = []
            for layer, act in zip(self.layers, self.acts):
                x = act(layer(x))
                hs.append(x)
            return hs

        def forward(self, x):
            return self.out(self.hidden(x)[-1])

    class MLPSmall(MLP):
        widths = (128, 32, 16)

    class CNN(nn.Module):
        widths = (8 * 8 * 8, 16 * 4 * 4, 64)

        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.dense = nn.Linear(16 * 4 * 4, 64)
            self.out = nn.Linear(64, 10)

        def hidden(self, x):
            x = x.reshape(-1, 1, 8, 8)
            h0 = torch.relu(self.conv1(x))
            h1 = torch.max_pool2d(torch.relu(self.conv2(h0)), 2)
            h2 = torch.relu(self.dense(h1.flatten(1)))
            return [h0.flatten(1), h1.flatten(1), h2]

        def forward(self, x):
            return self.out(self.hidden(x)[-1])

    return {"mlp": MLP, "mlp-small": MLPSmall, "cnn": CNN}[arch]()


class _one_thread:
    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)


def network_key(arch: str, seed: int, condition: dict[str, float], epochs: int, data_sha: str) -> str:
    # the task is identified by its data's digest (data_sha), so the digits networks keep their keys
    spec = {"code": CODE_VERSION, "data": data_sha, "arch": arch, "seed": int(seed), "condition": condition,
            "epochs": epochs, "lr": LR, "batch": BATCH}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _train(arch: str, seed: int, condition: dict[str, float], epochs: int, X: np.ndarray, y: np.ndarray,
           train: np.ndarray):
    """Train one network on the rows ``train`` (one torch thread: bit-for-bit reproducible here)."""
    with _one_thread():
        return _train_1(arch, seed, condition, epochs, X, y, train)


def _train_1(arch, seed, condition, epochs, X, y, train):
    import torch

    RUNS["trained"] += 1
    rng = np.random.default_rng([seed, 1])
    Xtr, ytr = X[train].copy(), y[train].copy()
    n = len(train)
    if condition["random_label_fraction"] > 0:
        flip = rng.permutation(n)[:int(round(condition["random_label_fraction"] * n))]
        ytr[flip] = rng.integers(0, 10, len(flip))
    if condition["shortcut"] > 0:
        honest = rng.random(n) < condition["shortcut"]
        Xtr = add_shortcut(Xtr, np.where(honest, ytr, rng.integers(0, 10, n)))
    torch.manual_seed(seed)
    net = build(arch)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    xt, yt = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    gen = torch.Generator().manual_seed(seed)
    sigma = condition["augment_sigma"]
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            xb = xt[idx]
            if sigma > 0:
                xb = xb + sigma * torch.randn(xb.shape, generator=gen)
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xb), yt[idx])
            loss.backward()
            opt.step()
    return net


def network(arch: str, seed: int, condition: Mapping[str, Any] | None = None, epochs: int | None = None,
            task: str = "digits"):
    """The trained network (from the cache, else trained and cached) in eval mode."""
    import torch

    arch, condition = _arch(arch), _condition(condition)
    epochs = _epochs(arch, epochs)
    if task != "digits" and condition["shortcut"] > 0:
        raise UsageError("the shortcut condition is defined on the digits' border pixels only (task 'digits')")
    X, y = task_data(task)
    train, _ = digits_split(y)
    key = network_key(arch, seed, condition, epochs, _data_sha(X, y))
    path = npcache.entry("networks", key)
    with _one_thread():
        meta = npcache.meta(path)
        if meta is not None and meta.get("key") == key:
            net = build(arch)
            names = list(net.state_dict())
            weights = npcache.read(path, [f"w{i}" for i in range(len(names))])
            net.load_state_dict({k: torch.from_numpy(weights[f"w{i}"]) for i, k in enumerate(names)})
        else:
            net = _train(arch, seed, condition, epochs, X, y, train)
            state = net.state_dict()
            npcache.save(path, {f"w{i}": v.detach().numpy() for i, v in enumerate(state.values())},
                         {"key": key, "names": list(state)})
    return net.eval(), key


def representations(net, X: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Every hidden layer (float32 ``[n, width]``) and the logits of ``net`` on ``X``."""
    import torch

    with _one_thread(), torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        hs = net.hidden(x)
        logits = net.out(hs[-1])
    return [h.numpy().copy() for h in hs], logits.numpy().copy()


def linear_cka(A: np.ndarray, B: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019): ``‖Bᵀ A‖²_F / (‖Aᵀ A‖_F ‖Bᵀ B‖_F)`` on column-centred rows."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    A = A - A.mean(0)
    B = B - B.mean(0)
    num = np.linalg.norm(B.T @ A) ** 2
    den = np.linalg.norm(A.T @ A) * np.linalg.norm(B.T @ B)
    return float(num / den) if den > 0 else 0.0


# --------------------------------------------------------------------------------------------- loaders


def eval_subset(held: np.ndarray, eval_rows: Any) -> np.ndarray:
    """The held-out rows a loader evaluates on: all of them (``eval_rows`` None), else ``eval_rows`` of them
    drawn by ``numpy.random.default_rng(1)`` without replacement, in their original order."""
    if eval_rows is None:
        return held
    if isinstance(eval_rows, bool) or not isinstance(eval_rows, int) or not 10 <= eval_rows <= len(held):
        raise UsageError(f"eval_rows must be an integer in 10..{len(held)}, got {eval_rows!r}")
    return held[np.sort(np.random.default_rng(1).permutation(len(held))[:eval_rows])]


def _inputs(loader: str, data_sha: str, **params: Any) -> str:
    spec = {"loader": loader, "code": CODE_VERSION, "data": data_sha, **params}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def digits_networks(arch: str = "mlp", n_seeds: int = 5, condition: Mapping[str, Any] | None = None,
                    epochs: int | None = None, eval_rows: int | None = None, task: str = "digits") -> RawData:
    """Hidden layers of ``n_seeds`` networks (seeds 0 … n_seeds-1) on the held-out digits (``digits.networks``).

    ``X`` the held-out inputs float32 ``[540, 64]`` (pixel / 16); ``y`` their digit labels; ``arrays``
    ``s<seed>_l<layer>`` (float32 ``[540, width]``, every hidden layer) and ``s<seed>_logits`` (``[540, 10]``);
    ``info``: ``arch``, ``condition``, ``epochs``, ``widths``, ``accuracy`` (per seed, held-out),
    ``shortcut_accuracy`` (per seed, held-out rows with the shortcut applied; for a shortcut condition),
    ``adjacent_cka`` (per seed, linear CKA of layer i with layer i+1 on the held-out rows) and
    ``cross_seed_layer_id`` (for ≥ 2 seeds: per layer of seed 0, the layer of seed 1 with the highest linear
    CKA; the identity means layers are identifiable across seeds), ``cross_seed_cka`` (that CKA matrix).
    ``eval_rows`` (optional) keeps that many of the held-out rows (:func:`eval_subset`) for every array.
    ``task`` (default ``digits``; or ``synthetic``, :func:`synthetic`) is what the networks are trained on;
    the held-out split is drawn the same way on its labels.
    """
    arch, cond = _arch(arch), _condition(condition)
    epochs = _epochs(arch, epochs)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise UsageError(f"n_seeds must be a positive integer, got {n_seeds!r}")
    X, y = task_data(task)
    _, held = digits_split(y)
    held = eval_subset(held, eval_rows)
    arrays: dict[str, np.ndarray] = {}
    accuracy, shortcut_acc, adjacent, keys = [], [], [], []
    for seed in range(n_seeds):
        net, key = network(arch, seed, cond, epochs, task)
        keys.append(key)
        hs, logits = representations(net, X[held])
        for i, h in enumerate(hs):
            arrays[f"s{seed}_l{i}"] = h
        arrays[f"s{seed}_logits"] = logits
        accuracy.append(round(float((logits.argmax(1) == y[held]).mean()), 4))
        if cond["shortcut"] > 0:
            _, lg = representations(net, add_shortcut(X[held], y[held]))
            shortcut_acc.append(round(float((lg.argmax(1) == y[held]).mean()), 4))
        adjacent.append([round(linear_cka(a, b), 4) for a, b in zip(hs[:-1], hs[1:])])
    info: dict[str, Any] = {
        "arch": arch, "task": task, "condition": cond, "epochs": epochs, "seeds": list(range(n_seeds)),
        "widths": [int(arrays[f"s0_l{i}"].shape[1]) for i in range(len(build(arch).widths))],
        "accuracy": accuracy, "adjacent_cka": adjacent,
        "split": f"fixed held-out split: {len(held)} of {len(y)} rows (30 % per class, numpy seed 0)"
                 + ("" if eval_rows is None else f"; {eval_rows} of them kept (numpy seed 1)"),
    }
    if shortcut_acc:
        info["shortcut_accuracy"] = shortcut_acc
    if n_seeds >= 2:
        n_layers = len(info["widths"])
        M = np.array([[linear_cka(arrays[f"s0_l{i}"], arrays[f"s1_l{j}"]) for j in range(n_layers)]
                      for i in range(n_layers)])
        info["cross_seed_cka"] = np.round(M, 4).tolist()
        info["cross_seed_layer_id"] = [int(j) for j in M.argmax(1)]
    return RawData(X=X[held], y=y[held], arrays=arrays, info=info,
                   checksum_inputs=_inputs("digits.networks", _data_sha(X, y), networks=keys,
                                           **({} if eval_rows is None else {"eval_rows": eval_rows}),
                                           **({} if task == "digits" else {"task": task})))


def digits_activations(arch: str = "mlp", seed: int = 0, layer: int = 1, condition: Mapping[str, Any] | None = None,
                       epochs: int | None = None) -> RawData:
    """One trained network's hidden layer on every digits row (``digits.activations``), for the SAE track.

    ``X`` float32 ``[1797, width]`` (hidden layer ``layer``'s activation outputs: ReLU, nonnegative, except the
    mlp's tanh bottleneck ``l2``), ``y`` the digit
    labels, ``splits`` the network's own (train, held-out) split (used by a card whose ``[split] method =
    "predefined"``), ``arrays`` ``held_out`` (1 on the network's held-out rows), ``info`` the held-out accuracy
    and the layer widths.
    """
    arch = _arch(arch)
    n_layers = len(build(arch).widths)
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n_layers:
        raise UsageError(f"layer must be an integer in 0..{n_layers - 1} for arch {arch!r}, got {layer!r}")
    net, key = network(arch, seed, condition, epochs)
    X, y = digits()
    train, held = digits_split(y)
    hs, logits = representations(net, X)
    held_mask = np.zeros(len(y), dtype=np.int8)
    held_mask[held] = 1
    info = {"arch": arch, "seed": seed, "layer": layer, "widths": [int(h.shape[1]) for h in hs],
            "condition": _condition(condition), "epochs": _epochs(arch, epochs),
            "accuracy": round(float((logits[held].argmax(1) == y[held]).mean()), 4)}
    return RawData(X=hs[layer], y=y, arrays={"held_out": held_mask}, splits=[(train, held)], info=info,
                   checksum_inputs=_inputs("digits.activations", _data_sha(X, y), network=key, layer=layer))


LOADERS = {
    "digits.networks": digits_networks,
    "digits.activations": digits_activations,
}
