"""Materialised datasets: load a card's source, verify every checksum, cache, and hand out splits.

The materialised data and split indices are cached under ``<cache>/datasets/<name>-<fingerprint>.npz`` (the
cache directory is ``FEATBENCH_CACHE_DIR`` or the user cache directory, never the repository). Loading from
the cache re-verifies both checksums, so a corrupt or stale cache file is rebuilt, never trusted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from bench_core.data.cards import Card
from bench_core.data.splits import data_checksum, file_checksum, make_splits, splits_checksum
from bench_core.errors import ChecksumMismatch, DataMissing, UsageError

if TYPE_CHECKING:  # pragma: no cover
    pass

Loader = Callable[..., "RawData"]


@dataclass
class RawData:
    """What a loader or reader returns.

    ``ground_truth`` is for synthetic data: ``{"strict": [...], "lenient": [...]}`` (exactly these two keys),
    column indices of the truly informative features (strict, ordered from most to least important when the
    generator knows an order) and of every relevant feature (lenient: informative plus redundant or repeated
    copies). Anything else a generator knows (instance-wise truth, SNR) goes into ``info``.
    """

    X: np.ndarray
    y: np.ndarray
    ground_truth: dict[str, list[int]] | None = None
    feature_names: list[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: Group label per row (e.g. the subject of replicate measurements), for grouped splits.
    groups: np.ndarray | None = None
    #: Extra named arrays a track needs besides X and y (names: lowercase letters, digits and ``_``): the
    #: planted dictionary of an activation set, the latent coordinates of a manifold, the members of a family
    #: of representations. They are saved with the data, covered by its checksum and handed to the track's
    #: protocol as ``Dataset.arrays`` (never to a method, unless the protocol passes them on).
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    #: For cards whose ``[split] method = "predefined"``: the ``(train, test)`` row-index pairs.
    splits: list[tuple[np.ndarray, np.ndarray]] | None = None
    #: For data computed by a model, whose last bits may differ between CPUs: a SHA-256 of everything that
    #: determines it (weights, input text, code version, settings). The card's data checksum is then taken
    #: over this and the shapes (see :func:`~bench_core.data.splits.data_checksum`).
    checksum_inputs: str | None = None


@dataclass
class Split:
    """One split, preprocessed with statistics of its training rows only."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    train_idx: np.ndarray
    test_idx: np.ndarray


class Dataset:
    """A materialised, verified dataset."""

    def __init__(
        self,
        card: Card,
        X: np.ndarray,
        y: np.ndarray,
        classes: np.ndarray,
        splits: list[tuple[np.ndarray, np.ndarray]],
        ground_truth: dict[str, list[int]] | None,
        info: Mapping[str, Any] | None = None,
        arrays: Mapping[str, np.ndarray] | None = None,
        checksum_inputs: str | None = None,
    ) -> None:
        self.card = card
        #: Extra named arrays (see :attr:`RawData.arrays`).
        self.arrays: dict[str, np.ndarray] = dict(arrays or {})
        self.checksum_inputs = checksum_inputs
        self.X = X
        self.y = y
        self.classes = classes
        self.splits = splits
        self.ground_truth = ground_truth
        self.info = dict(info or {})

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        return int(len(self.classes))

    def split(self, i: int) -> Split:
        """Split ``i``, with the card's preprocessing fitted on its training rows."""
        if not 0 <= i < len(self.splits):
            raise UsageError(f"dataset {self.name!r} has splits 0..{len(self.splits) - 1}, not {i}")
        train, test = self.splits[i]
        Xtr, Xte = self.X[train].copy(), self.X[test].copy()
        pp = self.card.preprocess
        if pp.impute == "mean":
            with np.errstate(invalid="ignore"):
                means = np.nanmean(np.where(np.isnan(Xtr).all(axis=0), 0.0, Xtr), axis=0)
            for M in (Xtr, Xte):
                r, c = np.nonzero(np.isnan(M))
                M[r, c] = means[c]
        if pp.scale == "standard":
            mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
            sd[sd == 0] = 1.0
            Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
        elif pp.scale == "minmax":
            lo, span = Xtr.min(axis=0), np.ptp(Xtr, axis=0)
            span[span == 0] = 1.0
            Xtr, Xte = (Xtr - lo) / span, (Xte - lo) / span
        return Split(Xtr, self.y[train].copy(), Xte, self.y[test].copy(), train, test)


# --------------------------------------------------------------------------------------------- locations


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The user cache directory: ``explicit``, else ``FEATBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/featbench``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("FEATBENCH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "featbench"


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The external data directory: ``explicit``, else ``FEATBENCH_DATA_DIR``, else ``None``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("FEATBENCH_DATA_DIR")
    return Path(env).expanduser() if env else None


def missing_reason(card: Card, data_root: Path | None) -> str | None:
    """``None`` if the card's source can be read here, else a one-line how-to-obtain message."""
    if not card.source.is_file:
        return None
    where = card.source.url or "the dataset's original publisher"
    if data_root is None:
        return (
            f"dataset {card.name!r} needs the file {card.source.file} from a data directory: set "
            f"FEATBENCH_DATA_DIR (or --data-dir) to a folder holding it (obtain it from {where})"
        )
    path = data_root / card.source.file
    if not path.is_file():
        return f"dataset {card.name!r}: {path} is missing; download it from {where} and place it there"
    return None


def cache_path(card: Card, root: Path) -> Path:
    return root / "datasets" / f"{card.name}-{card.fingerprint[:16]}.npz"


# --------------------------------------------------------------------------------------------- materialise


@dataclass
class Derived:
    """Checksums derived from the data, to compare with (or write into) the card."""

    data: str
    splits: str
    source_file: str | None
    leakage: list[int]
    n_samples: int
    n_features: int
    n_classes: int


def source_file_checksum(card: Card, data_root: Path | None, verify: bool = True) -> str | None:
    """SHA-256 of a file source (``None`` for a loader); raise if it is missing or, with ``verify``, differs."""
    if not card.source.is_file:
        return None
    reason = missing_reason(card, data_root)
    if reason:
        raise DataMissing(reason)
    assert data_root is not None
    sha = file_checksum(data_root / card.source.file)
    if verify and sha != card.source.sha256:
        raise ChecksumMismatch(
            f"dataset {card.name!r}: {data_root / card.source.file} has SHA-256 {sha[:12]}…, "
            f"the card pins {card.source.sha256[:12]}…; replace the file with the published one"
        )
    return sha


def load_raw(card: Card, loaders: Mapping[str, Loader], readers: Mapping[str, Loader], data_root: Path | None) -> RawData:
    """Call the card's loader or reader (no verification)."""
    src = card.source
    if src.is_file:
        reason = missing_reason(card, data_root)
        if reason:
            raise DataMissing(reason)
        assert data_root is not None
        if src.reader not in readers:
            raise UsageError(
                f"dataset card {card.path}: unknown reader {src.reader!r} (valid: {', '.join(sorted(readers)) or 'none'})"
            )
        raw = readers[src.reader](data_root / src.file, **dict(src.reader_params))
    else:
        if src.loader not in loaders:
            raise UsageError(
                f"dataset card {card.path}: unknown loader {src.loader!r} (valid: {', '.join(sorted(loaders)) or 'none'})"
            )
        raw = loaders[src.loader](**dict(src.params))
    if not isinstance(raw, RawData):
        raise UsageError(f"dataset {card.name!r}: its loader returned {type(raw).__name__}, not RawData")
    return raw


_ARRAY_NAME = __import__("re").compile(r"^[a-z][a-z0-9_]{0,63}$")


def check_values(card: Card, X: np.ndarray, y: np.ndarray) -> None:
    """Refuse data a method would be blamed for: bad data is the card's problem, named with the card.

    - infinite values in X: always refused;
    - NaN in X: refused unless the card declares how missing values are handled (``[preprocess] impute``);
    - NaN labels: always refused;
    - one class only: refused for ``task = "classification"`` cards (unlabelled data of the other tasks may
      legitimately have ``y = 0`` everywhere).
    """
    name = f"dataset {card.name!r} ({card.path or 'no card file'})"
    if X.dtype.kind == "f":
        n_inf = int(np.isinf(X).sum())
        if n_inf:
            raise UsageError(f"{name}: X has {n_inf} infinite value(s); fix its loader (infinite values have no "
                             f"declared handling)")
        n_nan = int(np.isnan(X).sum())
        if n_nan and card.preprocess.impute == "none":
            raise UsageError(f"{name}: X has {n_nan} NaN value(s) (missing values) and the card declares no "
                             f"handling; set [preprocess] impute = \"mean\" or fix its loader")
    if y.dtype.kind in "fc" and np.isnan(y).any():
        raise UsageError(f"{name}: y has {int(np.isnan(y).sum())} NaN label(s); every row needs a label")
    if card.task == "classification" and len(np.unique(y)) < 2:
        raise UsageError(f"{name}: y has one class only; a classification dataset needs at least two")


def _encode(card: Card, raw: RawData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = np.asarray(raw.X)
    # float32 stays float32 (activation sets are large); everything else becomes float64
    X = X if X.dtype == np.float32 else X.astype(np.float64)
    if X.ndim != 2:
        raise UsageError(f"dataset {card.name!r}: X must be 2-D, got shape {X.shape}")
    y_raw = np.asarray(raw.y).ravel()
    if len(y_raw) != X.shape[0]:
        raise UsageError(f"dataset {card.name!r}: X has {X.shape[0]} rows but y has {len(y_raw)}")
    check_values(card, X, y_raw)
    classes, y = np.unique(y_raw, return_inverse=True)
    for name, arr in raw.arrays.items():
        if not isinstance(name, str) or not _ARRAY_NAME.match(name):
            raise UsageError(f"dataset {card.name!r}: extra array name {name!r} must match {_ARRAY_NAME.pattern}")
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
            raise UsageError(f"dataset {card.name!r}: extra array {name!r} must be a numeric numpy array")
    return np.ascontiguousarray(X), y.astype(np.int64), classes


def _check_properties(card: Card, X: np.ndarray, raw_gt: Any, arrays: Mapping[str, Any] | None = None) -> None:
    if "nonnegative" in card.properties and np.nanmin(X) < 0:
        raise UsageError(f"dataset card {card.path}: declares 'nonnegative' but X has negative values")
    if ("ground_truth" in card.properties) != (raw_gt is not None):
        raise UsageError(
            f"dataset card {card.path}: 'ground_truth' in properties must match whether its loader records it"
        )
    if ("latent_coordinates" in card.properties) != ("latent" in (arrays or {})):
        raise UsageError(
            f"dataset card {card.path}: 'latent_coordinates' in properties must match whether its loader records "
            "arrays['latent']"
        )


def materialise(
    card: Card,
    loaders: Mapping[str, Loader],
    readers: Mapping[str, Loader],
    data_root: Path | None,
    verify: bool = True,
) -> tuple[Dataset, Derived]:
    """Build the dataset from its source; with ``verify``, raise on any checksum that differs from the card."""
    src_sha = source_file_checksum(card, data_root, verify=verify)
    raw = load_raw(card, loaders, readers, data_root)
    X, y, classes = _encode(card, raw)
    _check_properties(card, X, raw.ground_truth, raw.arrays)
    if raw.ground_truth is not None and set(raw.ground_truth) != {"strict", "lenient"}:
        raise UsageError(f"dataset {card.name!r}: ground_truth must have exactly the keys 'strict' and 'lenient'")
    try:
        splits = make_splits(y, card.split, raw.groups, raw.splits)
    except ValueError as exc:
        raise UsageError(f"dataset {card.name!r}: {exc}") from None
    arrays = {k: np.ascontiguousarray(v) for k, v in raw.arrays.items()}
    derived = Derived(
        data=data_checksum(X, y, arrays, raw.checksum_inputs),
        splits=splits_checksum(splits),
        source_file=src_sha,
        leakage=[],
        n_samples=X.shape[0],
        n_features=X.shape[1],
        n_classes=len(classes),
    )
    if verify:
        verify_checksums(card, derived.data, derived.splits)
    gt = None
    if raw.ground_truth is not None:
        gt = {k: [int(i) for i in v] for k, v in raw.ground_truth.items()}
    return Dataset(card, X, y, classes, splits, gt, raw.info, arrays, raw.checksum_inputs), derived


def verify_checksums(card: Card, data: str, splits: str) -> None:
    if not card.checksums:
        raise ChecksumMismatch(
            f"dataset card {card.path} has no [checksums]; derive them with `featbench datasets verify {card.name} --write`"
        )
    if card.checksums.get("data") != data:
        raise ChecksumMismatch(
            f"dataset {card.name!r}: data checksum mismatch (card {str(card.checksums.get('data'))[:12]}…, "
            f"derived {data[:12]}…): its source or generator changed; see `featbench datasets verify`"
        )
    if card.checksums.get("splits") != splits:
        raise ChecksumMismatch(
            f"dataset {card.name!r}: split checksum mismatch (card {str(card.checksums.get('splits'))[:12]}…, "
            f"derived {splits[:12]}…); see `featbench datasets verify`"
        )


def save_cache(ds: Dataset, path: Path) -> None:
    """Write the materialised dataset atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"ground_truth": ds.ground_truth, "info": ds.info, "classes": [str(c) for c in ds.classes],
            "checksum_inputs": ds.checksum_inputs}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(
            fh,
            X=ds.X,
            y=ds.y,
            train=np.concatenate([s[0] for s in ds.splits]),
            train_len=np.array([len(s[0]) for s in ds.splits], dtype=np.int64),
            test=np.concatenate([s[1] for s in ds.splits]),
            test_len=np.array([len(s[1]) for s in ds.splits], dtype=np.int64),
            meta=np.array(json.dumps(meta)),
            **{f"arr__{k}": v for k, v in ds.arrays.items()},
        )
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _unpack(flat: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    return np.split(flat, np.cumsum(lengths)[:-1])


def load_cache(card: Card, path: Path, verify: bool = True) -> Dataset:
    """Read a cached dataset, re-verifying its checksums against the card."""
    with np.load(path, allow_pickle=False) as z:
        X, y = z["X"], z["y"]
        trains = _unpack(z["train"], z["train_len"])
        tests = _unpack(z["test"], z["test_len"])
        meta = json.loads(str(z["meta"]))
        arrays = {k[len("arr__"):]: z[k] for k in z.files if k.startswith("arr__")}
    splits = list(zip(trains, tests))
    inputs = meta.get("checksum_inputs")
    if verify:
        verify_checksums(card, data_checksum(X, y, arrays, inputs), splits_checksum(splits))
    return Dataset(card, X, y, np.array(meta["classes"]), splits, meta["ground_truth"], meta.get("info"),
                   arrays, inputs)


def prepare(
    card: Card,
    loaders: Mapping[str, Loader],
    readers: Mapping[str, Loader],
    data_root: Path | None,
    cache_root: Path,
) -> Path:
    """Make sure a verified cache file exists for ``card`` and return its path.

    Raises :class:`DataMissing` when an external file is absent and :class:`ChecksumMismatch` (a
    :class:`UsageError`) when anything differs from the card. A file source is re-hashed on every call.
    """
    path = cache_path(card, cache_root)
    source_file_checksum(card, data_root)
    if path.exists():
        try:
            ds = load_cache(card, path)
        except (ChecksumMismatch, OSError, ValueError, KeyError):
            pass  # corrupt or stale cache: rebuild it (materialise raises if the card itself is wrong)
        else:
            check_values(card, ds.X, ds.y)
            return path
    ds, _ = materialise(card, loaders, readers, data_root)
    save_cache(ds, path)
    return path
