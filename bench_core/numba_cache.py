"""Where numba writes its on-disk cache of compiled kernels: under the featbench cache directory.

numba's default (``cache=True``) writes ``*.nbi``/``*.nbc`` files into ``__pycache__`` next to the source,
i.e. into the installed package: that fails on a read-only install and dirties a checkout.
:func:`configure` points numba at ``<featbench cache>/numba`` (``FEATBENCH_CACHE_DIR``, else
``~/.cache/featbench``), unless the user set ``NUMBA_CACHE_DIR`` themselves. It must run before a
``cache=True`` function is decorated (numba picks the cache locator at decoration time), so the modules that
define cached kernels call it right after importing numba. It also exports ``NUMBA_CACHE_DIR`` so worker
processes (which may import numba before featbench) use the same directory.
"""

from __future__ import annotations

import os


def cache_root() -> str:
    from bench_core.data.dataset import cache_dir

    return str(cache_dir() / "numba")


def configure() -> str:
    """Point numba's cache at the featbench cache (or keep the user's ``NUMBA_CACHE_DIR``); return it."""
    user = os.environ.get("NUMBA_CACHE_DIR")
    root = user or cache_root()
    os.environ["NUMBA_CACHE_DIR"] = root
    try:
        from numba.core import config
    except ImportError:  # pragma: no cover - numba is a dependency
        return root
    config.CACHE_DIR = root
    return root
