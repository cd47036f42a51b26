"""Plugin discovery and the registry of methods, datasets and executors.

Each entry point of the group ``featbench`` is loaded on its own (pluggy's ``load_setuptools_entrypoints``
would stop at the first broken one). A plugin is all-or-nothing: if its import fails, it implements a hook
that does not exist, a hook raises, a registration is invalid, or it registers a name that an earlier plugin
already took, it is listed as ``broken: <reason>`` and none of its registrations are kept; the others are
unaffected. ``FEATBENCH_STRICT_PLUGINS=1`` raises :class:`~bench_core.errors.PluginError` instead.

Load order is deterministic: the core's own plugin, then the entry points of the host distribution
(``featbench``, the built-in baselines) so that no third party can shadow a baseline's name, then the other
distributions by name, then the modules named in ``FEATBENCH_PLUGIN_MODULES``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pluggy

from bench_core import hookspecs
from bench_core.data.cards import Card, CardError, parse_card
from bench_core.errors import DeclarationError, PluginError, UsageError
from bench_core.tracks import TRACKS
from bench_core.tracks.base import DATA_REQUIREMENTS, Method, Track

HOST_DISTRIBUTION = "featbench"
CORE_PLUGIN = "bench_core.execute.builtin"


def _env_list(name: str, env: Mapping[str, str]) -> list[str] | None:
    if name not in env:
        return None
    return [p.strip() for p in env[name].split(",") if p.strip()]


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """``; did you mean 'x'?`` when a close match exists, else ``""`` (callers put it before the valid list)."""
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown(kind: str, name: str, valid: Iterable[str]) -> UsageError:
    valid = sorted(valid)
    return UsageError(f"unknown {kind} {name!r}{did_you_mean(name, valid)} (valid: {', '.join(valid) or 'none'})")


# ------------------------------------------------------------------------------------------------ registers


class MethodRegister:
    """Handed to ``featbench_register_<kind>`` hooks; validates each class when it is added."""

    def __init__(self, track: Track) -> None:
        self.track = track
        self.added: dict[str, type[Method]] = {}

    def add(self, cls: type[Method]) -> None:
        base = self.track.method_base
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise DeclarationError(
                f"{getattr(cls, '__name__', cls)!r} registered as a {self.track.name} method must subclass "
                f"{base.__module__}.{base.__name__}"
            )
        cls.validate_declaration()
        cls.validate_contract()
        if cls.name in self.added:
            raise DeclarationError(f"{self.track.name} name {cls.name!r} registered twice by the same plugin")
        self.added[cls.name] = cls


_MODEL_NAME = __import__("re").compile(r"^[a-z][a-z0-9_.-]{0,63}$")


class DatasetRegister:
    """Handed to ``featbench_register_datasets``: cards, loaders, readers and models."""

    def __init__(self) -> None:
        self.cards: dict[str, Card] = {}
        self.card_errors: dict[str, str] = {}
        self.loaders: dict[str, Callable[..., Any]] = {}
        self.readers: dict[str, Callable[..., Any]] = {}
        self.models: dict[str, Callable[..., Any]] = {}

    def add_cards(self, directory: str | os.PathLike) -> None:
        """Add every ``*.toml`` card below ``directory`` (malformed ones are recorded with their reason)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise DeclarationError(f"card directory {directory} does not exist")
        for path in sorted(directory.rglob("*.toml")):
            self.add_card(path)

    def add_card(self, path: str | os.PathLike) -> None:
        try:
            card = parse_card(Path(path), DATA_REQUIREMENTS)
        except CardError as exc:
            self.card_errors[str(path)] = str(exc)
            return
        bad = [t for t in card.tracks if t not in TRACKS]
        if bad:
            self.card_errors[str(path)] = (f"dataset card {path}: unknown track {bad[0]!r}{did_you_mean(bad[0], TRACKS)} "
                                           f"(valid: {', '.join(sorted(TRACKS))})")
            return
        if card.name in self.cards:
            self.card_errors[str(path)] = (
                f"dataset card {path}: duplicate dataset name {card.name!r} (also in {self.cards[card.name].path})"
            )
            return
        self.cards[card.name] = card

    def add_loader(self, name: str, fn: Callable[..., Any]) -> None:
        """Add a Python source ``fn(**params) -> RawData`` under ``name``."""
        if not callable(fn):
            raise DeclarationError(f"loader {name!r} is not callable")
        if name in self.loaders:
            raise DeclarationError(f"loader {name!r} registered twice by the same plugin")
        self.loaders[name] = fn

    def add_reader(self, name: str, fn: Callable[..., Any]) -> None:
        """Add a file reader ``fn(path, **params) -> RawData`` under ``name``."""
        if not callable(fn):
            raise DeclarationError(f"reader {name!r} is not callable")
        if name in self.readers:
            raise DeclarationError(f"reader {name!r} registered twice by the same plugin")
        self.readers[name] = fn

    def add_model(self, name: str, factory: Callable[[], Any]) -> None:
        """Add a model a track's protocol may run on a dataset's data, as ``factory() -> runner`` under ``name``
        (e.g. ``"minilm"``: the transformer whose activations a dataset holds, for the SAE track's splice
        fidelity). The runner's interface is documented by the plugin that registers it."""
        if not isinstance(name, str) or not _MODEL_NAME.match(name):
            raise DeclarationError(f"model name {name!r} must match {_MODEL_NAME.pattern}")
        if not callable(factory):
            raise DeclarationError(f"model {name!r}: its factory is not callable")
        if name in self.models:
            raise DeclarationError(f"model {name!r} registered twice by the same plugin")
        self.models[name] = factory


class ExecutorRegister:
    """Handed to ``featbench_register_executors``."""

    def __init__(self) -> None:
        self.added: dict[str, type] = {}

    def add(self, name: str, cls: type) -> None:
        from bench_core.execute.base import Executor

        if not (isinstance(cls, type) and issubclass(cls, Executor)):
            raise DeclarationError(f"executor {name!r} must subclass bench_core.execute.base.Executor")
        if name in self.added:
            raise DeclarationError(f"executor {name!r} registered twice by the same plugin")
        self.added[name] = cls


# ------------------------------------------------------------------------------------------------ registry


@dataclass
class PluginInfo:
    name: str
    module: str
    dist: str | None = None
    version: str | None = None
    status: str = "ok"  # ok | broken | disabled
    reason: str = ""
    hooks: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)


@dataclass
class Entry:
    """A registered thing and the plugin it came from."""

    obj: Any
    plugin: PluginInfo


class Registry:
    """Everything the plugins registered, with lookups that fail with a helpful one-line error."""

    def __init__(self) -> None:
        self.tracks: dict[str, Track] = dict(TRACKS)
        self.methods: dict[str, dict[str, Entry]] = {t: {} for t in self.tracks}
        self.cards: dict[str, Entry] = {}
        self.card_errors: dict[str, tuple[str, PluginInfo]] = {}
        self.loaders: dict[str, Entry] = {}
        self.readers: dict[str, Entry] = {}
        self.models: dict[str, Entry] = {}
        self.executors: dict[str, Entry] = {}
        self.plugins: list[PluginInfo] = []

    # lookups -------------------------------------------------------------------------------------------
    def track(self, name: str) -> Track:
        if name not in self.tracks:
            raise unknown("track", name, self.tracks)
        return self.tracks[name]

    def method(self, track: str, name: str) -> type[Method]:
        entries = self.methods[self.track(track).name]
        if name not in entries:
            raise unknown(f"{track} method", name, entries)
        return entries[name].obj

    def method_plugin(self, track: str, name: str) -> PluginInfo:
        return self.methods[track][name].plugin

    def card(self, name: str) -> Card:
        if name not in self.cards:
            raise unknown("dataset", name, self.cards)
        return self.cards[name].obj

    def cards_for(self, track: str) -> list[Card]:
        return sorted((e.obj for e in self.cards.values() if track in e.obj.tracks), key=lambda c: c.name)

    def model(self, name: str) -> Callable[[], Any]:
        """The factory registered with ``register.add_model(name, factory)``."""
        if name not in self.models:
            raise unknown("model", name, self.models)
        return self.models[name].obj

    def executor(self, name: str) -> type:
        if name not in self.executors:
            raise unknown("executor", name, self.executors)
        return self.executors[name].obj

    @property
    def loader_fns(self) -> dict[str, Callable[..., Any]]:
        return {k: e.obj for k, e in self.loaders.items()}

    @property
    def reader_fns(self) -> dict[str, Callable[..., Any]]:
        return {k: e.obj for k, e in self.readers.items()}

    @property
    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.status == "broken"]


def _hook_names() -> set[str]:
    return {n for n in dir(hookspecs) if n.startswith("featbench_")}


class _Loader:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.hook_names = _hook_names()

    #: Set by the SIGINT handler that :func:`load_registry` installs: a real Ctrl-C, which must stop the
    #: command, as opposed to a ``KeyboardInterrupt`` raised by plugin code, which breaks only that plugin.
    user_interrupted = False

    def reraise_if_user_interrupt(self, exc: BaseException) -> None:
        if isinstance(exc, KeyboardInterrupt) and self.user_interrupted:
            raise exc

    def fail(self, info: PluginInfo, reason: str, obj: Any = None) -> None:
        info.status, info.reason = "broken", reason
        if obj is not None and self.pm.is_registered(obj):
            self.pm.unregister(obj)
        self.registry.plugins.append(info)
        if self.strict:
            raise PluginError(f"plugin {info.name!r} is broken: {reason}")

    def load(self, info: PluginInfo, loader: Callable[[], Any]) -> None:
        try:
            obj = loader()
        except BaseException as exc:  # noqa: BLE001 - any import error breaks only this plugin, even
            # sys.exit() or KeyboardInterrupt at import: neither may end the command (let alone with status 0)
            self.reraise_if_user_interrupt(exc)
            return self.fail(info, f"import failed: {_describe(exc)}")
        impls = [n for n in dir(obj) if self.pm.parse_hookimpl_opts(obj, n) is not None]
        bad = [n for n in impls if n not in self.hook_names]
        if bad:
            return self.fail(info, f"unknown hook {bad[0]!r} (valid: {', '.join(sorted(self.hook_names))})")
        if not impls:
            return self.fail(info, "implements no featbench hook")
        try:
            self.pm.register(obj, name=info.name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            return self.fail(info, f"invalid hook implementation: {exc}")
        info.hooks = sorted(impls)
        try:
            staged = self.call_hooks(info)
        except BaseException as exc:  # noqa: BLE001 - a hook that raises SystemExit breaks only its plugin
            self.reraise_if_user_interrupt(exc)
            detail = _safe_str(exc) if isinstance(exc, DeclarationError) else _describe(exc)
            return self.fail(info, f"registration failed: {detail}", obj)
        conflict = self.conflict(staged)
        if conflict:
            return self.fail(info, conflict, obj)
        self.commit(info, staged)
        self.registry.plugins.append(info)

    def call_hooks(self, info: PluginInfo) -> dict[str, Any]:
        staged: dict[str, Any] = {"methods": {}, "datasets": DatasetRegister(), "executors": ExecutorRegister()}
        for hook_name in info.hooks:
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                if impl.plugin_name != info.name:
                    continue
                if hook_name == "featbench_register_datasets":
                    register: Any = staged["datasets"]
                elif hook_name == "featbench_register_executors":
                    register = staged["executors"]
                else:
                    track = next(t for t in self.registry.tracks.values() if t.hook == hook_name)
                    register = staged["methods"].setdefault(track.name, MethodRegister(track))
                impl.function(*[{"register": register}[a] for a in impl.argnames])
        return staged

    def conflict(self, staged: dict[str, Any]) -> str | None:
        reg = self.registry
        for track, mr in staged["methods"].items():
            for name in mr.added:
                if name in reg.methods[track]:
                    return f"duplicate {track} name {name!r} (already registered by plugin {reg.methods[track][name].plugin.name!r})"
        ds: DatasetRegister = staged["datasets"]
        for table, kind in ((ds.cards, "dataset"), (ds.loaders, "loader"), (ds.readers, "reader"),
                            (ds.models, "model")):
            existing = {"dataset": reg.cards, "loader": reg.loaders, "reader": reg.readers, "model": reg.models}[kind]
            for name in table:
                if name in existing:
                    return f"duplicate {kind} name {name!r} (already registered by plugin {existing[name].plugin.name!r})"
        for name in staged["executors"].added:
            if name in reg.executors:
                return f"duplicate executor name {name!r} (already registered by plugin {reg.executors[name].plugin.name!r})"
        return None

    def commit(self, info: PluginInfo, staged: dict[str, Any]) -> None:
        reg = self.registry
        for track, mr in staged["methods"].items():
            for name, cls in mr.added.items():
                reg.methods[track][name] = Entry(cls, info)
                info.provides.append(f"{track}:{name}")
        ds: DatasetRegister = staged["datasets"]
        for name, card in ds.cards.items():
            reg.cards[name] = Entry(card, info)
            info.provides.append(f"dataset:{name}")
        for path, reason in ds.card_errors.items():
            reg.card_errors[path] = (reason, info)
        for name, fn in ds.loaders.items():
            reg.loaders[name] = Entry(fn, info)
        for name, fn in ds.readers.items():
            reg.readers[name] = Entry(fn, info)
        for name, factory in ds.models.items():
            reg.models[name] = Entry(factory, info)
            info.provides.append(f"model:{name}")
        for name, cls in staged["executors"].added.items():
            reg.executors[name] = Entry(cls, info)
            info.provides.append(f"executor:{name}")


def _sorted_entry_points() -> list[md.EntryPoint]:
    eps = list(md.entry_points(group=hookspecs.PROJECT))
    seen: set[tuple[str, str]] = set()
    unique = []
    for ep in eps:  # the same distribution can be visible twice on sys.path
        key = (ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            unique.append(ep)

    def key(ep: md.EntryPoint) -> tuple[int, str, str]:
        dist = ep.dist.name if ep.dist is not None else ""
        return (0 if dist == HOST_DISTRIBUTION else 1, dist, ep.name)

    return sorted(unique, key=key)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return "<its message could not be rendered>"


def _describe(exc: BaseException) -> str:
    """``Type: message`` of an exception raised by plugin code (``SystemExit: 0`` for ``sys.exit(0)``)."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: {exc.code!r}" if exc.code is not None else "SystemExit"
    text = _safe_str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_registry(strict: bool | None = None, env: Mapping[str, str] | None = None) -> Registry:
    """Discover and load every plugin; return the registry (broken plugins are listed in ``.plugins``).

    A plugin whose import or hook raises anything, ``SystemExit`` and ``KeyboardInterrupt`` included, is
    listed as broken with the reason. A real Ctrl-C during loading still stops the command: a SIGINT
    handler installed for the duration of loading (main thread only) tells it apart.
    """
    import signal

    loader_box: list[_Loader] = []

    def on_sigint(signum, frame):
        if loader_box:
            loader_box[0].user_interrupted = True
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        previous = None
    try:
        return _load_registry(strict, env, loader_box)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _load_registry(strict: bool | None, env: Mapping[str, str] | None, loader_box: list) -> Registry:
    env = os.environ if env is None else env
    if strict is None:
        strict = env.get("FEATBENCH_STRICT_PLUGINS", "") not in ("", "0", "false", "no")
    allow = _env_list("FEATBENCH_LOAD_PLUGINS", env)
    block = set(_env_list("FEATBENCH_DISABLE_PLUGINS", env) or [])
    loader = _Loader(strict)
    loader_box.append(loader)

    loader.load(PluginInfo(name="featbench-core", module=CORE_PLUGIN, dist=HOST_DISTRIBUTION,
                           version=_version()), lambda: importlib.import_module(CORE_PLUGIN))

    for ep in _sorted_entry_points():
        dist = ep.dist.name if ep.dist is not None else None
        info = PluginInfo(name=ep.name, module=ep.value, dist=dist, version=ep.dist.version if ep.dist else None)
        names = {ep.name, dist}
        if (allow is not None and not names & set(allow)) or names & block:
            info.status, info.reason = "disabled", "disabled by FEATBENCH_LOAD_PLUGINS / FEATBENCH_DISABLE_PLUGINS"
            loader.registry.plugins.append(info)
            continue
        loader.load(info, ep.load)

    for module in _env_list("FEATBENCH_PLUGIN_MODULES", env) or []:
        info = PluginInfo(name=module, module=module, dist=None, version=None)
        loader.load(info, lambda m=module: importlib.import_module(m))

    if strict and loader.registry.card_errors:
        path, (reason, _info) = next(iter(loader.registry.card_errors.items()))
        raise PluginError(reason)
    return loader.registry


_DEFAULT: Registry | None = None


def model(name: str) -> Callable[[], Any]:
    """The model factory ``name`` from the registry of this process (loaded once, non-strict): how a track's
    protocol, which receives no registry, reaches ``register.add_model`` registrations."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_registry(strict=False)
    return _DEFAULT.model(name)


def method_class(track: str, name: str) -> type[Method]:
    """The method class ``name`` of ``track`` from the registry of this process (as :func:`model`): how one
    track's protocol reuses another track's methods (the SAE track's sparse probing runs a selector)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_registry(strict=False)
    return _DEFAULT.method(track, name)


def _version() -> str:
    from bench_core import __version__

    return __version__


def format_exception(exc: BaseException, limit: int = 4000) -> str:
    """A traceback string, truncated from the top to ``limit`` characters (never raises, even for an
    exception whose ``__str__`` raises)."""
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:  # noqa: BLE001 - a hostile __str__ or __repr__
        try:
            text = "".join(traceback.format_tb(exc.__traceback__)) + f"{type(exc).__name__}: <unprintable>"
        except BaseException:  # noqa: BLE001
            text = "<traceback unavailable>"
    return text[-limit:]
