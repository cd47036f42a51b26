"""Jobs: the unit of work, its content-hash key, and the expansion of a run into jobs.

A run expands methods × parameter variants × datasets × seeds into :class:`JobSpec` objects. A job's
``key`` is the SHA-256 of everything that determines its result:

- the track's name and protocol version, and the protocol settings of the profile;
- the method's name, version and parameters;
- the dataset's fingerprint (its source, preprocessing, split spec and pinned checksums);
- the split index and the seed.

Execution details (device, timeout, memory cap, threads, plugin distribution version) are recorded with the
result but are not part of the key: changing them does not re-run finished jobs.

The hash of the method's source (:func:`method_source_hash`) is recorded too, and deliberately *not* part
of the key: editing a method without bumping its ``version`` does not silently re-run (or silently keep)
anything; ``featbench run`` and ``featbench leaderboard`` warn that the installed source differs from the
one recorded, and say how to fix it (``--force --method NAME``, or bump ``version``).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import itertools
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from bench_core.profiles import Profile, track_settings
from bench_core.tracks.base import Method, variant_id


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class JobSpec:
    key: str
    track: str
    method: str
    method_version: str
    params: Mapping[str, Any]
    variant: str
    dataset: str
    dataset_fingerprint: str
    split: int
    seed: int
    profile: str
    protocol_version: int
    settings: Mapping[str, Any]
    # --- execution details, recorded but not part of the key
    plugin: Mapping[str, Any] = field(default_factory=dict)
    dataset_cache: str | None = None
    timeout_s: float | None = None
    job_timeout_s: float | None = None
    memory_mb: float | None = None
    device: str = "auto"
    threads: int = 1
    #: :func:`method_source_hash` of the installed method (recorded, not part of the key)
    source_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["params"], d["settings"], d["plugin"] = dict(self.params), dict(self.settings), dict(self.plugin)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "JobSpec":
        return cls(**d)

    @property
    def label(self) -> str:
        return f"{self.track}/{self.dataset}/{self.variant}/seed{self.seed}"


def job_key(
    track: str, protocol_version: int, settings: Mapping[str, Any], method: str, method_version: str,
    params: Mapping[str, Any], dataset_fingerprint: str, split: int, seed: int,
) -> str:
    material = {
        "track": track, "protocol_version": protocol_version, "settings": dict(settings),
        "method": method, "method_version": method_version, "params": dict(params),
        "dataset": dataset_fingerprint, "split": split, "seed": seed,
    }
    return hashlib.sha256(canonical_json(material).encode()).hexdigest()


def _class_source(cls: type) -> str | None:
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return None


@functools.lru_cache(maxsize=None)
def method_source_hash(cls: type[Method]) -> str | None:
    """SHA-256 of the source a method's results depend on, as far as it can be read; None if it cannot.

    Hashed: the source of the class and of each base class up to (not including) the harness's own classes
    (``bench_core``), plus the source of every top-level function or class of their modules whose name the
    class source mentions (one level: helpers of helpers are not followed). Edits to anything else (another
    module, a library) are not seen: bump ``version`` for those.

    Computed once per class object in a process (cached): planning asks for it once per job, and reading and
    parsing the modules each time took 138 of the 141 s of planning the 3,012 jobs of the standard selectors
    profile. A re-imported module gives new class objects, so an edited module is hashed afresh.
    """
    parts = []
    for klass in cls.__mro__:
        if klass is object or klass.__module__.split(".")[0] == "bench_core":
            continue
        src = _class_source(klass)
        if src is None:
            return None
        parts.append(src)
        module = sys.modules.get(klass.__module__)
        try:
            module_src = inspect.getsource(module) if module is not None else None
            tree = ast.parse(module_src) if module_src is not None else None
        except (OSError, TypeError, SyntaxError):
            tree = None
        if tree is None:
            continue
        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", src))
        lines = module_src.splitlines()
        for node in tree.body:
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in names
                    and node.name != klass.__name__):
                parts.append("\n".join(lines[node.lineno - 1:node.end_lineno]))
    if not parts:
        return None
    return hashlib.sha256("\n\0".join(parts).encode()).hexdigest()


def method_variants(cls: type[Method], profile: Profile) -> list[dict[str, Any]]:
    """Parameter dicts to run for ``cls`` under ``profile``: the defaults, or the sweep grid if it sweeps,
    each expanded by the method's track under the profile's settings (:meth:`Track.expand_params`)."""
    from bench_core.tracks import TRACKS

    base = {**cls.params, **cls.profile_params.get(profile.name, {})}
    if not (profile.sweep and cls.grid):
        grid = [base]
    else:
        names = sorted(cls.grid)
        grid = [{**base, **dict(zip(names, values))} for values in itertools.product(*(cls.grid[n] for n in names))]
    track = TRACKS.get(cls.kind)
    if track is None:
        return grid
    settings = track_settings(track, profile)
    out: dict[str, dict[str, Any]] = {}
    for params in grid:
        for p in track.expand_params(cls, params, settings):
            out.setdefault(canonical_json(p), p)
    return list(out.values())


def make_spec(
    track, cls: type[Method], params: Mapping[str, Any], card, split: int, profile: Profile,
    plugin: Mapping[str, Any], **execution: Any,
) -> JobSpec:
    settings = track_settings(track, profile)
    defaults = {**cls.params, **cls.profile_params.get(profile.name, {})}
    key = job_key(track.name, track.protocol_version, settings, cls.name, cls.version, params,
                  card.fingerprint, split, split)
    return JobSpec(
        key=key, track=track.name, method=cls.name, method_version=cls.version, params=dict(params),
        variant=variant_id(cls.name, params, defaults), dataset=card.name, dataset_fingerprint=card.fingerprint,
        split=split, seed=split, profile=profile.name, protocol_version=track.protocol_version,
        settings=settings, plugin=dict(plugin), source_hash=method_source_hash(cls), **execution,
    )


#: No dataset has more splits than this; a larger count or seed is refused before any list is built.
MAX_SEEDS = 10_000


def parse_seeds(text: str | None, default: int) -> list[int]:
    """``"3"`` means seeds 0, 1, 2; ``"0,4,7"`` names them; ``None`` gives the profile's count.

    An empty list (``","``), a negative seed, a count or a seed of :data:`MAX_SEEDS` or more are refused
    (checked on the numbers, before any list is built)."""
    from bench_core.errors import UsageError

    if text is None:
        return list(range(default))
    text = text.strip()
    usage = f"--seeds must be a count (e.g. 3) or a comma-separated list of seeds (e.g. 0,2), not {text!r}"
    try:
        if "," in text:
            parts = [s.strip() for s in text.split(",")]
            if any(not p for p in parts):
                raise ValueError
            values = [int(p) for p in parts]
        else:
            n = int(text)
            if n < 1:
                raise ValueError
            values = [n - 1]
    except ValueError:
        raise UsageError(usage) from None
    if any(s < 0 for s in values):
        raise UsageError("--seeds must be non-negative")
    if max(values) >= MAX_SEEDS:
        raise UsageError(f"--seeds: seeds must be at most {MAX_SEEDS - 1} (a dataset has at most that many splits)")
    return sorted(set(values)) if "," in text else list(range(values[0] + 1))


def select_names(kind: str, requested: Sequence[str] | None, valid: Sequence[str]) -> list[str]:
    """``requested`` validated against ``valid`` (all of ``valid`` when nothing is requested)."""
    from bench_core.registry import unknown

    if not requested:
        return list(valid)
    for name in requested:
        if name not in valid:
            raise unknown(kind, name, valid)
    return list(dict.fromkeys(requested))
