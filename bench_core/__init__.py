"""featbench's core harness: plugin discovery, datasets, job execution, result store, leaderboards.

The extension surface is :mod:`bench_core.hookspecs`; the method contracts are in :mod:`bench_core.tracks`.
``bench_core`` never imports the built-in ``plugins`` package: they are found through entry points like any
third-party plugin.
"""

from bench_core.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
