"""The shared base of every method kind, and of every track.

A *method* is a class a plugin registers (a selector, an SAE, a similarity measure, a reducer). It subclasses
its track's contract class (:class:`~bench_core.tracks.selectors.Selector`, ...), which subclasses
:class:`Method`, and declares as class attributes:

``name``
    unique within its track; lowercase letters, digits, ``_`` and ``-``. It names the leaderboard row.
``version``
    a string that is part of every job's cache key: bump it whenever a change can move a result.
``params``
    the default hyper-parameters (a mapping of JSON values). The instance gets them, overridden by the run's
    parameters, as ``self.params``.
``grid``
    an optional sweep grid ``{param: [values]}`` expanded by profiles that sweep (``full``); every other
    profile runs the defaults.
``profile_params``
    optional per-profile overrides of the defaults, e.g. ``{"quick": {"epochs": 20}}`` for a neural method
    that must fit the quick profile's budget. They are recorded in the result like any parameter.
``tags``
    a :class:`Tags`: ``supervised``, ``stochastic``, ``gpu_preferred``, ``control`` (``"positive"`` or
    ``"negative"``), ``reimplementation_of`` (the paper a reimplementation follows), ``wraps`` (the library a
    wrapper calls) and ``requires`` (data properties the method needs, see :data:`DATA_REQUIREMENTS`).
``resources``
    a :class:`Resources`: ``timeout_s``, the time one step of the protocol (one fit, one refit) may take,
    and ``memory_mb``, the memory one job may add. The executor enforces them by killing the worker; a run's
    ``--timeout`` overrides the hint, and a method without a hint gets the profile's limit.
``expected_failed_checks``
    ``{check_name: reason}`` for conformance checks the method is known to fail (they are reported as
    expected failures, never hidden).
``optional_dependencies``
    ``{import name: how to install it}`` for packages the method needs that are not installed with featbench
    (an extra, e.g. ``{"lassonet": "pip install 'featbench[lassonet]'"}``). Where one cannot be found the
    method is *unavailable* (:meth:`Method.unavailable`): ``featbench list`` shows it so, with the reason,
    and its jobs are recorded ``skipped`` with that reason; it is never loaded or run, so never ``broken``.

A method receives a :class:`Context` (seed, device, time budget, progress callback) with every call. It never
receives test rows, test labels or a handle on the results store.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Sequence

from bench_core.errors import DeclarationError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from bench_core.data.dataset import Dataset
    from bench_core.data.cards import Card

NAME_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")

#: Data properties a method may require through ``Tags.requires``; a dataset card declares which it has.
DATA_REQUIREMENTS: Mapping[str, str] = {
    "ground_truth": "the dataset records its truly relevant features (synthetic data)",
    "nonnegative": "every feature value is >= 0 (e.g. counts, pixel intensities)",
    "latent_coordinates": "the dataset records the intrinsic coordinates of its rows (synthetic manifolds)",
    "planted_dictionary": "activations generated from recorded planted directions (the SAE track's ground truth)",
}

CONTROL_KINDS = ("positive", "negative")


@dataclass(frozen=True)
class Tags:
    """What a method is, for the protocol, the conformance kit and the leaderboard."""

    supervised: bool = True
    stochastic: bool = False
    gpu_preferred: bool = False
    control: str | None = None
    reimplementation_of: str | None = None
    wraps: str | None = None
    requires: tuple[str, ...] = ()

    def validate(self) -> None:
        for flag in ("supervised", "stochastic", "gpu_preferred"):
            if not isinstance(getattr(self, flag), bool):
                raise DeclarationError(f"tags.{flag} must be a bool")
        if self.control is not None and self.control not in CONTROL_KINDS:
            raise DeclarationError(f"tags.control must be one of {CONTROL_KINDS} or None, not {self.control!r}")
        for req in self.requires:
            if req not in DATA_REQUIREMENTS:
                raise DeclarationError(
                    f"tags.requires names unknown data property {req!r} (valid: {', '.join(DATA_REQUIREMENTS)})"
                )

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["requires"] = list(self.requires)
        return d


@dataclass(frozen=True)
class Resources:
    """Per-job resource hints; the harness enforces them (never more than the run's own caps)."""

    timeout_s: float | None = None
    memory_mb: int | None = None

    #: The smallest declarations that mean a limit (below them a limit would be a typo, not a hint).
    MIN_TIMEOUT_S: ClassVar[float] = 0.01
    MIN_MEMORY_MB: ClassVar[float] = 1.0

    def validate(self) -> None:
        """Refuse anything that is not a finite number at least the minimum: NaN compares false with every
        deadline and would switch the limit off, ``inf`` is no limit, ``True`` is not a number."""
        for attr, low in (("timeout_s", self.MIN_TIMEOUT_S), ("memory_mb", self.MIN_MEMORY_MB)):
            v = getattr(self, attr)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < low:
                raise DeclarationError(f"resources.{attr} must be a finite number >= {low:g} or None, not {v!r}")


def _noop_progress(fraction: float, message: str = "") -> None:
    return None


@dataclass
class Context:
    """What a method gets besides its data: seed, device, time budget and a progress callback."""

    seed: int = 0
    device: str = "cpu"
    time_budget_s: float | None = None
    profile: str = "smoke"
    threads: int = 1
    progress: Callable[[float, str], None] = _noop_progress
    #: Only for methods whose tags require ``ground_truth`` (the oracle control): the dataset's recorded
    #: relevant features, ``{"strict": [...], "lenient": [...]}``. ``None`` for everybody else.
    ground_truth: Mapping[str, Sequence[int]] | None = None
    #: Only for methods whose tags require ``latent_coordinates`` (the reducers' positive control): the
    #: known intrinsic coordinates ``[n, m]`` of the rows the method is given. ``None`` for everybody else.
    latent: Any = None
    #: Only for methods whose tags require ``planted_dictionary`` (the SAE track's positive control): the
    #: planted directions ``[n_features, d]`` (float32 numpy), scaled like the activations ``fit`` receives.
    #: ``None`` for everybody else.
    planted_dictionary: Any = None
    #: Called by the track's protocol (not by methods) at each step boundary (a fit, an evaluation, a
    #: refit): the executor's time limit applies to each step, so a job that fits M times gets M limits.
    step: Callable[[str], None] = lambda message: None
    started: float = field(default_factory=time.perf_counter)

    def rng(self, *salt: int) -> "np.random.Generator":
        """A NumPy generator seeded by the job seed (and optional salt integers)."""
        import numpy as np

        return np.random.default_rng([self.seed, *salt])

    def torch_generator(self, *salt: int):
        """A torch generator on ``self.device`` seeded by the job seed (and optional salt integers)."""
        import torch

        g = torch.Generator(device=self.device)
        g.manual_seed(int(self.rng(*salt).integers(0, 2**62)))
        return g

    def remaining_s(self) -> float:
        """Seconds left of the time budget (``inf`` without one)."""
        if self.time_budget_s is None:
            return math.inf
        return self.time_budget_s - (time.perf_counter() - self.started)


def _json_value(value: Any, where: str) -> None:
    try:
        json.dumps(value, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise DeclarationError(f"{where} must be JSON-serialisable ({exc})") from None


class Method:
    """Base class of every method; see the module docstring for the declaration."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    version: ClassVar[str] = ""
    params: ClassVar[Mapping[str, Any]] = {}
    grid: ClassVar[Mapping[str, Sequence[Any]]] = {}
    profile_params: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    tags: ClassVar[Tags] = Tags()
    resources: ClassVar[Resources] = Resources()
    expected_failed_checks: ClassVar[Mapping[str, str]] = {}
    optional_dependencies: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def unavailable(cls) -> str | None:
        """``None``, or why the method cannot run here: the first of its ``optional_dependencies`` that is not
        importable (looked up with :func:`importlib.util.find_spec`, which imports nothing heavy)."""
        import importlib.util

        for module, how in cls.optional_dependencies.items():
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                return f"{cls.name} needs the optional package {module!r}, which is not installed ({how})"
        return None

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(type(self).params))
        if unknown:
            valid = ", ".join(sorted(type(self).params)) or "none"
            raise ValueError(f"{type(self).name}: unknown parameter(s) {', '.join(unknown)} (valid: {valid})")
        self.params: dict[str, Any] = {**type(self).params, **params}

    @classmethod
    def warm_up(cls) -> None:
        """Called once per worker process before the method's first job, outside any timing: import heavy
        libraries or trigger one-off initialisation (e.g. torch's first optimizer step) here, so that they are
        not charged to the first fit."""

    @classmethod
    def describe(cls) -> str:
        """First line of the class docstring."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @classmethod
    def validate_declaration(cls) -> None:
        """Raise :class:`DeclarationError` naming the first thing wrong with the class declaration."""
        where = f"{cls.__module__}.{cls.__qualname__}"
        if not isinstance(cls.name, str) or not NAME_RE.match(cls.name):
            raise DeclarationError(
                f"{where}: name {cls.name!r} must match {NAME_RE.pattern} (lowercase, digits, '_' and '-')"
            )
        if not isinstance(cls.version, str) or not cls.version:
            raise DeclarationError(f"{where}: version must be a non-empty string")
        if not isinstance(cls.params, Mapping):
            raise DeclarationError(f"{where}: params must be a mapping of defaults")
        _json_value(dict(cls.params), f"{where}: params")
        if not isinstance(cls.grid, Mapping):
            raise DeclarationError(f"{where}: grid must be a mapping {{param: [values]}}")
        for key, values in cls.grid.items():
            if key not in cls.params:
                raise DeclarationError(f"{where}: grid names {key!r}, which is not in params")
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
                raise DeclarationError(f"{where}: grid[{key!r}] must be a non-empty list")
            _json_value(list(values), f"{where}: grid[{key!r}]")
        from bench_core.profiles import PROFILES

        if not isinstance(cls.profile_params, Mapping):
            raise DeclarationError(f"{where}: profile_params must be a mapping {{profile: {{param: value}}}}")
        for profile, overrides in cls.profile_params.items():
            if profile not in PROFILES:
                raise DeclarationError(f"{where}: profile_params names unknown profile {profile!r} "
                                       f"(valid: {', '.join(PROFILES)})")
            if not isinstance(overrides, Mapping):
                raise DeclarationError(f"{where}: profile_params[{profile!r}] must be a mapping")
            bad = sorted(set(overrides) - set(cls.params))
            if bad:
                raise DeclarationError(f"{where}: profile_params[{profile!r}] names unknown params {bad}")
            _json_value(dict(overrides), f"{where}: profile_params[{profile!r}]")
        if not isinstance(cls.tags, Tags):
            raise DeclarationError(f"{where}: tags must be a bench_core.tracks.base.Tags")
        try:
            cls.tags.validate()
        except DeclarationError as exc:
            raise DeclarationError(f"{where}: {exc}") from None
        if not isinstance(cls.resources, Resources):
            raise DeclarationError(f"{where}: resources must be a bench_core.tracks.base.Resources")
        try:
            cls.resources.validate()
        except DeclarationError as exc:
            raise DeclarationError(f"{where}: {exc}") from None
        if not isinstance(cls.expected_failed_checks, Mapping):
            raise DeclarationError(f"{where}: expected_failed_checks must be a mapping {{check: reason}}")
        if not isinstance(cls.optional_dependencies, Mapping) or not all(
                isinstance(k, str) and k and isinstance(v, str) for k, v in cls.optional_dependencies.items()):
            raise DeclarationError(f"{where}: optional_dependencies must be a mapping {{import name: how to install}}")


    @classmethod
    def validate_contract(cls) -> None:
        """Raise :class:`DeclarationError` if the class misses its track's contract (each track defines it)."""


def variant_id(name: str, params: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """The leaderboard label of a method run with ``params``: ``name`` or ``name[p=v,...]``.

    Only parameters that differ from ``defaults`` appear, sorted by name.
    """
    diff = {k: v for k, v in sorted(params.items()) if defaults.get(k, object()) != v}
    if not diff:
        return name
    inner = ",".join(f"{k}={json.dumps(v, sort_keys=True, separators=(',', ':'))}" for k, v in diff.items())
    return f"{name}[{inner}]"


@dataclass(frozen=True)
class Score:
    """One named score of a track, defined once (formula and reference in ``description``)."""

    name: str
    description: str
    higher_is_better: bool = True
    #: a count (a k, a number of features): tables print its mean without decimals where it is whole
    integer: bool = False


@dataclass
class JobOutput:
    """What a track's protocol returns for one job.

    ``outputs`` holds what the leaderboard does not rank (selected indices, say). A score the protocol left
    out on purpose (over a budget, say) is absent from ``scores`` and explained by a string in
    ``outputs["<score>_skipped"]``; the leaderboard lists it under the dataset's table, never imputes it.
    """

    scores: dict[str, float]
    fit_time_s: float
    outputs: dict[str, Any] = field(default_factory=dict)


class Track(abc.ABC):
    """A track: one method kind, its contract class, its protocol and its scores.

    Subclasses set the class attributes below and implement :meth:`run`. The track owns everything that
    turns (method, dataset split, seed) into named scores; the harness owns everything else.
    """

    name: ClassVar[str]
    #: The hookspec through which plugins register methods of this kind.
    hook: ClassVar[str]
    method_base: ClassVar[type[Method]]
    #: Bump whenever the protocol changes in a way that can move a score (it is part of every job key).
    protocol_version: ClassVar[int] = 1
    #: The card ``task`` this track consumes (e.g. ``"classification"``).
    task: ClassVar[str] = ""
    primary: ClassVar[Score]
    #: Every score the protocol can emit, by name (per-k families are documented by their prefix).
    scores: ClassVar[Sequence[Score]] = ()
    #: Whether the protocol is implemented. A track that is not ready is listed, accepts registrations and
    #: has no datasets yet; running it reports that plainly.
    ready: ClassVar[bool] = True
    #: How far (in units of the primary score, in its better direction) a dataset's positive control must
    #: beat its negative control for the dataset to enter the overall ranking of the leaderboard; a dataset
    #: where it does not is uninformative (even the truth scores like chance) and is shown with that reason.
    #: Datasets without both controls enter (nothing to test them against).
    control_margin: ClassVar[float] = 0.0
    #: The card property that marks data with ground truth: the leaderboard's overall ranking is given
    #: separately for datasets with it and for the others (``None``: one overall table).
    ground_truth_property: ClassVar[str | None] = "ground_truth"
    #: From this size of its own kernels (:meth:`kernel_size`), the protocol's evaluation is faster on CUDA,
    #: as measured: ``--device auto`` then runs the job there (:mod:`bench_core.execute.devices`). ``None``:
    #: never worth it, only a ``gpu_preferred`` method on a large problem goes to CUDA.
    cuda_kernel_min_size: ClassVar[int | None] = None

    def kernel_size(self, n_samples: int, n_features: int, params: Mapping[str, Any]) -> int:
        """The size compared with :attr:`cuda_kernel_min_size` for a job on a dataset of ``n_samples`` rows and
        ``n_features`` features run with the method's ``params``; by default the number of rows."""
        return int(n_samples)

    def default_settings(self) -> dict[str, Any]:
        """Protocol settings before the profile's overrides (see :mod:`bench_core.profiles`)."""
        return {}

    def expand_params(self, method_cls: type[Method], params: Mapping[str, Any],
                      settings: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The parameter variants the protocol runs for one parameter dict of a plain method name, under the
        profile's ``settings``: by default ``[params]``. A track whose protocol sweeps a method parameter as
        separate leaderboard rows (the SAE track's ``widths``) returns one dict per value; each becomes its
        own jobs and row, labelled by :func:`variant_id` like any variant. An explicit variant
        (``--method name[p=v]``) is run as given, never expanded."""
        return [dict(params)]

    def variant_applicable(self, method_cls: type[Method], params: Mapping[str, Any], card: "Card",
                           settings: Mapping[str, Any]) -> str | None:
        """``None`` if the protocol runs this parameter variant (``params``, as expanded by
        :meth:`expand_params`) on the dataset under the profile's ``settings``, else why not: such a cell is
        never run and shows n/a with the reason. Called only where :meth:`applicable` allows the method. By
        default every variant runs; a track whose profile sizes its budget per dataset (the SAE track's
        ``dataset_widths``) narrows it here. Explicit variants (``--method name[p=v]``) are checked too."""
        return None

    def applicable(self, method_cls: type[Method], card: "Card") -> str | None:
        """``None`` if the method can run on the dataset, else the reason it cannot (never run, shown n/a)."""
        if card.task != self.task:
            return f"dataset task {card.task!r} is not {self.task!r}"
        for req in method_cls.tags.requires:
            if req not in card.properties:
                return f"needs {req}"
        return None

    @abc.abstractmethod
    def run(
        self, method: Method, dataset: "Dataset", split: int, settings: Mapping[str, Any], ctx: Context
    ) -> JobOutput:
        """Run one job: fit the method on the training part of ``split`` and score it (abstract)."""

    def leaderboard_columns(self) -> list[tuple[str, str]]:
        """Secondary ``(score name, column header)`` pairs shown next to the primary score."""
        return []

    def reference_scores(self) -> list[str]:
        """Scores that describe the dataset rather than the method (e.g. an all-features accuracy), shown once
        per dataset as a reference line."""
        return []

    #: What the per-dataset curves of the leaderboard plot (see :meth:`curve_point`).
    curve_label: ClassVar[str] = ""

    def curve_point(self, score: str) -> float | None:
        """If ``score`` is a point of the track's score-vs-x curve (plotted per dataset; scores sharing an x
        are averaged), its x; else None."""
        return None

    def score(self, name: str) -> Score | None:
        for s in (self.primary, *self.scores):
            if s.name == name:
                return s
        return None


class ContractOnlyTrack(Track):
    """A track whose method contract is fixed but whose protocol is not written yet.

    It is listed, accepts registrations (so plugins can be written and checked against the contract) and has
    no datasets; running it says so plainly instead of producing numbers.
    """

    ready = False

    def run(self, method: Method, dataset: "Dataset", split: int, settings: Mapping[str, Any], ctx: Context) -> JobOutput:
        from bench_core.errors import UsageError

        raise UsageError(f"the {self.name} track has its method contract but no evaluation protocol yet")
