"""The whole plugin surface of featbench, in one file.

A plugin is a module (or any object) named by an entry point in the group ``featbench``::

    # pyproject.toml of your package
    [project.entry-points.featbench]
    my-selectors = "my_package.featbench_plugin"

whose functions, decorated with :data:`hookimpl`, implement some of the hooks below::

    from bench_core import hookimpl
    from bench_core.tracks.selectors import Selector

    class MySelector(Selector):
        name = "my_selector"
        version = "1"
        def rank(self, X, y, ctx):
            ...

    @hookimpl
    def featbench_register_selectors(register):
        register.add(MySelector)

Every hook receives a *register* object and adds things to it (tox 4 style), so the host validates each
addition when it is made: a class that breaks its track's contract, a malformed dataset card or a name that
another plugin already took marks the plugin ``broken: <reason>`` in ``featbench list``; the other plugins
keep working. ``FEATBENCH_STRICT_PLUGINS=1`` raises instead (for plugin authors).

Discovery is controlled by environment variables (read by :mod:`bench_core.registry`):

``FEATBENCH_LOAD_PLUGINS``
    comma-separated allow-list of entry-point or distribution names; an empty value loads none.
``FEATBENCH_DISABLE_PLUGINS``
    comma-separated block-list of entry-point or distribution names.
``FEATBENCH_PLUGIN_MODULES``
    comma-separated importable modules loaded as plugins in addition to the entry points (like
    ``PYTEST_PLUGINS``; handy while developing a plugin and in tests).
``FEATBENCH_STRICT_PLUGINS``
    ``1`` turns any broken plugin into an exception.

The method contracts themselves (what a selector, SAE, similarity measure or reducer must implement) are the
base classes in :mod:`bench_core.tracks`, each with a long docstring; the shared declaration (``name``,
``version``, ``params``, ``grid``, ``tags``, ``resources``) is :class:`bench_core.tracks.base.Method`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    from bench_core.registry import DatasetRegister, ExecutorRegister, MethodRegister

PROJECT = "featbench"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def featbench_register_selectors(register: MethodRegister) -> None:
    """Add feature-selector classes with ``register.add(cls)``.

    Each class subclasses :class:`bench_core.tracks.selectors.Selector` and implements ``rank(X, y, ctx)``
    (a score per feature, higher is more important) and/or ``select(X, y, k, ctx)`` (exactly ``k`` distinct
    column indices). The selectors protocol (k grid, fixed evaluators, stability, ground-truth recovery) is
    documented in :mod:`bench_core.tracks.selectors`.
    """


@hookspec
def featbench_register_saes(register: MethodRegister) -> None:
    """Add sparse-autoencoder / dictionary-learning classes with ``register.add(cls)``.

    Each class subclasses :class:`bench_core.tracks.saes.SAE`: ``fit(acts, ctx)``, ``encode(x)``,
    ``decode(z)`` and the ``dictionary`` property (decoder atoms, ``[m, d]``).
    """


@hookspec
def featbench_register_similarity_measures(register: MethodRegister) -> None:
    """Add representational similarity measures with ``register.add(cls)``.

    Each class subclasses :class:`bench_core.tracks.similarity.SimilarityMeasure`: ``score(X, Y, ctx)`` on
    torch tensors ``[n, d1]`` and ``[n, d2]``, declaring ``orientation`` (similarity or distance) and the
    ``invariances`` it claims.
    """


@hookspec
def featbench_register_reducers(register: MethodRegister) -> None:
    """Add dimensionality reducers with ``register.add(cls)``.

    Each class subclasses :class:`bench_core.tracks.reducers.Reducer`: ``fit_transform(X, n_components, ctx)``
    returning ``[n, n_components]``, and optionally ``transform(X)`` for out-of-sample points.
    """


@hookspec
def featbench_register_datasets(register: DatasetRegister) -> None:
    """Provide datasets: card files, and the loaders and readers those cards name.

    - ``register.add_cards(directory)`` adds every ``*.toml`` dataset card below ``directory`` (the format is
      documented in :mod:`bench_core.data.cards`); a malformed card is reported with its path and reason.
    - ``register.add_loader(name, fn)`` adds a Python source: ``fn(**params) -> RawData`` (a scikit-learn
      bundled set, a synthetic generator, data shipped inside a package).
    - ``register.add_reader(name, fn)`` adds a file reader: ``fn(path, **params) -> RawData`` for files that
      live in the data directory (``FEATBENCH_DATA_DIR``).
    - ``register.add_model(name, factory)`` adds a model that a track's protocol may run on a dataset's data:
      ``factory()`` returns a runner (loaded lazily, once per process by the caller) whose interface the
      registering plugin documents; e.g. ``"minilm"``, whose runner re-runs the transformer's later blocks
      on (reconstructed) activations for the SAE track's splice fidelity. A protocol gets the factory with
      ``bench_core.registry.model(name)``. Names: lowercase letters, digits, ``_ . -``; a name another
      plugin took is a conflict, like a duplicate loader.
    """


@hookspec
def featbench_register_executors(register: ExecutorRegister) -> None:
    """Add job executors with ``register.add(name, cls)``.

    An executor subclasses :class:`bench_core.execute.base.Executor`: it receives the pending job specs and
    calls back with one result per job; the job function itself (:func:`bench_core.execute.job.run_job`) is
    shared by every executor. The core registers ``local`` (persistent spawned worker processes with hard
    timeouts and memory caps) and ``inline`` (in-process, for debugging) through this same hook.
    """
