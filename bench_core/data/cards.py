"""Dataset cards: TOML files that pin a dataset's source, preprocessing, splits and checksums.

A card (``datasets/<track>/<name>.toml``)::

    name = "breast_cancer"                  # unique; lowercase letters, digits, '_' and '-'
    title = "Breast cancer Wisconsin (diagnostic)"
    description = "569 tumours, 30 real-valued features, 2 classes."
    tracks = ["selectors"]                  # tracks that use it
    task = "classification"                 # what the track consumes
    tier = "quick"                          # smallest profile that includes it: smoke < quick < standard < full
    properties = ["nonnegative"]            # data properties methods may require (see DATA_REQUIREMENTS)
    citation = "Street, Wolberg & Mangasarian (1993)"
    license = "CC BY 4.0"

    [source]                                # exactly one of `loader` or `file`
    loader = "sklearn.breast_cancer"        # a loader registered by a plugin: fn(**params) -> RawData
    params = {}
    # file = "scikit-feature/colon.mat"     # a file in the data directory (FEATBENCH_DATA_DIR) ...
    # sha256 = "..."                        # ... pinned by its SHA-256,
    # reader = "mat"                        # ... read by a registered reader: fn(path, **reader_params)
    # reader_params = {}
    # url = "https://..."                   # ... and where a user can obtain it

    [preprocess]                            # fitted on the training rows of each split only
    impute = "none"                         # "none" | "mean"
    scale = "none"                          # "none" | "standard" | "minmax"

    [split]
    method = "stratified_shuffle"           # "stratified_group_shuffle" (whole groups of the loader's
                                            # `groups` on one side), "stratified_kfold" (folds, repeats), or
                                            # "predefined" (the loader's own `splits`, e.g. a training set
                                            # and an evaluation set drawn with separate generator seeds;
                                            # one pair is repeated for every seed)
    test_fraction = 0.3
    n_splits = 10
    seed = 0

    [checksums]                             # written by `featbench datasets verify --write`
    data = "<sha256 of the materialised X and y>"
    splits = "<sha256 of the materialised split indices>"

Loading verifies the source file and both checksums; ``featbench datasets verify`` re-derives them.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bench_core.errors import UsageError

TIERS = ("smoke", "quick", "standard", "full")
TASKS = ("classification", "activations", "representations", "embedding")
SPLIT_METHODS = ("stratified_shuffle", "stratified_group_shuffle", "stratified_kfold", "predefined")
IMPUTE = ("none", "mean")
SCALE = ("none", "standard", "minmax")

_NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")

_TOP_KEYS = {
    "name", "title", "description", "tracks", "task", "tier", "properties", "citation", "license", "url",
    "source", "preprocess", "split", "checksums",
}
_SOURCE_KEYS = {"loader", "params", "file", "sha256", "reader", "reader_params", "url"}
_PREPROCESS_KEYS = {"impute", "scale"}
_SPLIT_KEYS = {"method", "test_fraction", "n_splits", "folds", "repeats", "seed"}
_CHECKSUM_KEYS = {"data", "splits"}


class CardError(UsageError):
    """A malformed dataset card (names the file and the problem)."""


@dataclass(frozen=True)
class Source:
    loader: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    file: str | None = None
    sha256: str | None = None
    reader: str | None = None
    reader_params: Mapping[str, Any] = field(default_factory=dict)
    url: str | None = None

    @property
    def is_file(self) -> bool:
        return self.file is not None


@dataclass(frozen=True)
class Preprocess:
    impute: str = "none"
    scale: str = "none"


@dataclass(frozen=True)
class SplitSpec:
    method: str = "stratified_shuffle"
    test_fraction: float = 0.3
    n_splits: int = 10
    folds: int = 10
    repeats: int = 1
    seed: int = 0

    @property
    def count(self) -> int:
        """Number of (train, test) splits this spec materialises."""
        return self.folds * self.repeats if self.method == "stratified_kfold" else self.n_splits

    def as_dict(self) -> dict[str, Any]:
        if self.method == "predefined":
            return {"method": self.method, "n_splits": self.n_splits}
        if self.method != "stratified_kfold":
            keys = ("method", "test_fraction", "n_splits", "seed")
        else:
            keys = ("method", "folds", "repeats", "seed")
        return {k: getattr(self, k) for k in keys}


@dataclass(frozen=True)
class Card:
    name: str
    title: str
    description: str
    tracks: tuple[str, ...]
    task: str
    tier: str
    properties: tuple[str, ...]
    source: Source
    preprocess: Preprocess
    split: SplitSpec
    checksums: Mapping[str, str]
    citation: str = ""
    license: str = ""
    url: str = ""
    path: str = ""

    def identity(self) -> dict[str, Any]:
        """Everything that determines the materialised data (descriptive text excluded)."""
        src = self.source
        return {
            "name": self.name,
            "task": self.task,
            "source": {
                "loader": src.loader, "params": dict(src.params), "file": src.file, "sha256": src.sha256,
                "reader": src.reader, "reader_params": dict(src.reader_params),
            },
            "preprocess": {"impute": self.preprocess.impute, "scale": self.preprocess.scale},
            "split": self.split.as_dict(),
            "checksums": dict(self.checksums),
        }

    @property
    def fingerprint(self) -> str:
        """SHA-256 of :meth:`identity`; part of every job key and of the cache file name."""
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def in_profile(self, profile_tier: str) -> bool:
        return TIERS.index(self.tier) <= TIERS.index(profile_tier)


def _check_keys(where: str, table: Mapping[str, Any], valid: set[str]) -> None:
    unknown = sorted(set(table) - valid)
    if unknown:
        raise CardError(f"{where}: unknown key {unknown[0]!r} (valid: {', '.join(sorted(valid))})")


def _choice(where: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise CardError(f"{where} is {value!r} (valid: {', '.join(choices)})")
    return value


def _typed(where: str, value: Any, typ: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, typ) or isinstance(value, bool) and typ in (int, float, (int, float)):
        raise CardError(f"{where} must be {what}, not {value!r}")
    return value


def parse_card(path: Path, known_properties: Mapping[str, str] | None = None) -> Card:
    """Parse and validate one card; raise :class:`CardError` with a one-line reason."""
    path = Path(path)
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CardError(f"malformed dataset card {where}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise CardError(f"malformed dataset card {where}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CardError(f"cannot read dataset card {where}: {exc.strerror}") from None
    return card_from_dict(raw, where, known_properties)


def card_from_dict(raw: Mapping[str, Any], where: str, known_properties: Mapping[str, str] | None = None) -> Card:
    pre = f"dataset card {where}"
    _check_keys(pre, raw, _TOP_KEYS)
    for required in ("name", "title", "tracks", "task", "tier", "source", "split"):
        if required not in raw:
            raise CardError(f"{pre}: missing required key {required!r}")
    name = _typed(f"{pre}: name", raw["name"], str, "a string")
    if not _NAME_RE.match(name):
        raise CardError(f"{pre}: name {name!r} must match {_NAME_RE.pattern}")
    tracks = raw["tracks"]
    if not isinstance(tracks, list) or not tracks or not all(isinstance(t, str) for t in tracks):
        raise CardError(f"{pre}: tracks must be a non-empty list of track names")
    task = _choice(f"{pre}: task", raw["task"], TASKS)
    tier = _choice(f"{pre}: tier", raw["tier"], TIERS)
    props = raw.get("properties", [])
    if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
        raise CardError(f"{pre}: properties must be a list of strings")
    if known_properties is not None:
        for p in props:
            if p not in known_properties:
                raise CardError(f"{pre}: unknown property {p!r} (valid: {', '.join(known_properties)})")

    src_raw = raw["source"]
    if not isinstance(src_raw, dict):
        raise CardError(f"{pre}: [source] must be a table")
    _check_keys(f"{pre} [source]", src_raw, _SOURCE_KEYS)
    if ("loader" in src_raw) == ("file" in src_raw):
        raise CardError(f"{pre} [source]: give exactly one of 'loader' or 'file'")
    if "file" in src_raw:
        for required in ("sha256", "reader"):
            if required not in src_raw:
                raise CardError(f"{pre} [source]: a file source needs {required!r}")
        if not _HEX_RE.match(str(src_raw["sha256"])):
            raise CardError(f"{pre} [source]: sha256 must be 64 lowercase hex digits")
        file = _typed(f"{pre} [source] file", src_raw["file"], str, "a relative path")
        if file.startswith("/") or ".." in Path(file).parts:
            raise CardError(f"{pre} [source]: file must be a path relative to the data directory, not {file!r}")
    for table_key in ("params", "reader_params"):
        if not isinstance(src_raw.get(table_key, {}), dict):
            raise CardError(f"{pre} [source]: {table_key} must be a table")
    source = Source(
        loader=src_raw.get("loader"),
        params=dict(src_raw.get("params", {})),
        file=src_raw.get("file"),
        sha256=src_raw.get("sha256"),
        reader=src_raw.get("reader"),
        reader_params=dict(src_raw.get("reader_params", {})),
        url=src_raw.get("url"),
    )

    pp_raw = raw.get("preprocess", {})
    _check_keys(f"{pre} [preprocess]", pp_raw, _PREPROCESS_KEYS)
    preprocess = Preprocess(
        impute=_choice(f"{pre} [preprocess] impute", pp_raw.get("impute", "none"), IMPUTE),
        scale=_choice(f"{pre} [preprocess] scale", pp_raw.get("scale", "none"), SCALE),
    )

    sp = raw["split"]
    if not isinstance(sp, dict):
        raise CardError(f"{pre}: [split] must be a table")
    _check_keys(f"{pre} [split]", sp, _SPLIT_KEYS)
    method = _choice(f"{pre} [split] method", sp.get("method", "stratified_shuffle"), SPLIT_METHODS)
    seed = _typed(f"{pre} [split] seed", sp.get("seed", 0), int, "an integer")
    if not 0 <= seed < 2**32:
        raise CardError(f"{pre} [split] seed must be an integer in [0, 2**32), not {seed}")
    if method == "predefined":
        n_splits = _typed(f"{pre} [split] n_splits", sp.get("n_splits", 1), int, "an integer")
        if n_splits < 1:
            raise CardError(f"{pre} [split] n_splits must be >= 1")
        extra = sorted(set(sp) - {"method", "n_splits"})
        if extra:
            raise CardError(f"{pre} [split]: a predefined split takes only n_splits, not {extra[0]!r}")
        split = SplitSpec(method=method, n_splits=n_splits, seed=seed)
    elif method != "stratified_kfold":
        tf = _typed(f"{pre} [split] test_fraction", sp.get("test_fraction", 0.3), (int, float), "a number")
        if not 0 < tf < 1:
            raise CardError(f"{pre} [split] test_fraction must be in (0, 1), not {tf}")
        n_splits = _typed(f"{pre} [split] n_splits", sp.get("n_splits", 10), int, "an integer")
        if n_splits < 1:
            raise CardError(f"{pre} [split] n_splits must be >= 1")
        split = SplitSpec(method=method, test_fraction=float(tf), n_splits=n_splits, seed=seed)
    else:
        folds = _typed(f"{pre} [split] folds", sp.get("folds", 10), int, "an integer")
        repeats = _typed(f"{pre} [split] repeats", sp.get("repeats", 1), int, "an integer")
        if folds < 2 or repeats < 1:
            raise CardError(f"{pre} [split] needs folds >= 2 and repeats >= 1")
        split = SplitSpec(method=method, folds=folds, repeats=repeats, seed=seed)

    ck = raw.get("checksums", {})
    _check_keys(f"{pre} [checksums]", ck, _CHECKSUM_KEYS)
    for key, value in ck.items():
        if not _HEX_RE.match(str(value)):
            raise CardError(f"{pre} [checksums] {key} must be 64 lowercase hex digits")

    return Card(
        name=name,
        title=str(raw["title"]),
        description=str(raw.get("description", "")),
        tracks=tuple(tracks),
        task=task,
        tier=tier,
        properties=tuple(props),
        source=source,
        preprocess=preprocess,
        split=split,
        checksums=dict(ck),
        citation=str(raw.get("citation", "")),
        license=str(raw.get("license", "")),
        url=str(raw.get("url", "")),
        path=where,
    )


_CHECKSUM_BLOCK = re.compile(r"^\[checksums\][^\[]*", re.MULTILINE)


def write_checksums(path: Path, data: str, splits: str) -> None:
    """Rewrite (or append) the ``[checksums]`` table of a card, leaving the rest of the file untouched."""
    text = Path(path).read_text(encoding="utf-8")
    block = f'[checksums]\ndata = "{data}"\nsplits = "{splits}"\n'
    if _CHECKSUM_BLOCK.search(text):
        text = _CHECKSUM_BLOCK.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    Path(path).write_text(text, encoding="utf-8")
