"""``featbench_builtins``: the import name of the built-in plugins (the repository's ``plugins/`` folder).

The wheel installs ``plugins/`` under this name (hatch's ``sources`` remapping in ``pyproject.toml``), so that
featbench never installs a top-level package called ``plugins``, which would collide with any other
distribution that ships one. This file is *not* part of the wheel: it serves the editable install, whose
``.pth`` puts the checkout on ``sys.path`` (hatch refuses an editable install when ``sources`` renames a
prefix, see https://github.com/pfmoore/editables/issues/20), so the entry points
(``featbench_builtins.selectors.filters``, ...) resolve in both installs.

In the checkout ``featbench_builtins`` is an alias: importing ``featbench_builtins.X`` gives the very module
object ``plugins.X`` (one copy of each module and class, whichever name imported it first; the tests import
``plugins.X`` directly and compare classes with the registry's).
"""

import importlib
import importlib.abc
import importlib.util
import sys

import plugins as _plugins

_ALIAS, _TARGET = __name__, "plugins"


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``featbench_builtins.X`` to the module ``plugins.X`` (imported if needed)."""

    def find_spec(self, name, path=None, target=None):
        if not name.startswith(_ALIAS + "."):
            return None
        module = importlib.import_module(_TARGET + name[len(_ALIAS):])
        return importlib.util.spec_from_loader(name, self, is_package=hasattr(module, "__path__"))

    def create_module(self, spec):
        return sys.modules[_TARGET + spec.name[len(_ALIAS):]]

    def exec_module(self, module):  # already executed under its own name
        pass


if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())
sys.modules[_ALIAS] = _plugins
