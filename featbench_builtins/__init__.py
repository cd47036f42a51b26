"""``featbench_builtins``: the import name of the built-in plugins (the repository's ``plugins/`` folder).

The wheel installs ``plugins/`` under this name (hatch's ``sources`` remapping in ``pyproject.toml``), so that
featbench never installs a top-level package called ``plugins``, which would collide with any other
distribution that ships one. This file is *not* part of the wheel: it serves the editable install, whose
``.pth`` puts the checkout on ``sys.path`` (hatch refuses an editable install when ``sources`` renames a
prefix, see https://github.com/pfmoore/editables/issues/20). It makes ``featbench_builtins`` an alias package
whose submodules are read from ``plugins/``, so the entry points (``featbench_builtins.selectors.filters``,
...) resolve to the same files in both installs.

The built-in modules import one another relatively (``from .npcache import ...``), so the registry loads one
copy of each, under this name. Code in the checkout may still ``import plugins.x`` directly (the tests do);
that gives a second module object with the same source.
"""

from pathlib import Path as _Path

_FOLDER = _Path(__file__).resolve().parent.parent / "plugins"
__path__ = [str(_FOLDER)]
