"""``featbench new-plugin NAME --track T``: a ready, installable plugin package for one method.

Written into ``--dir`` (default ``./NAME``), which must not exist or be empty::

    pyproject.toml                     distribution NAME (``_`` as ``-``), entry point ``NAME`` in the group
                                       ``featbench`` -> ``<package>.plugin``; setuptools backend; a ``test`` extra
    README.md                          the authoring loop, command by command
    src/<package>/__init__.py          ``<package>`` is NAME with ``-`` as ``_``
    src/<package>/plugin.py            a working method of track T (class ``CamelCase(NAME)``) and its hook
    tests/test_conformance.py          the conformance kit through ``parametrize_with_checks``, plus a test
                                       that the installed entry point registers the method
    .github/workflows/featbench.yml    CI: tests, ``featbench check``, a quick run of this method alone,
                                       the leaderboard with the packaged baselines, ``featbench compare``

The method skeletons (``bench_core/templates/methods/<track>.py.tmpl``) are simple, real methods (absolute
correlation, sampled-row top-k dictionary, linear CKA, PCA) that pass the conformance kit, so the package
works before the author changes anything. ``NAME`` must be a valid method name (lowercase letter first;
lowercase letters, digits, ``_``; at most 64 characters) and T a track with a protocol; anything else, or a
non-empty target, is refused before anything is written.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from bench_core.errors import UsageError

#: Like a method name (bench_core.tracks.base.NAME_RE) without ``-``, so that it is also a Python identifier.
PLUGIN_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _template(*parts: str) -> str:
    node = files("bench_core").joinpath("templates")
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


def _class_name(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_") if p) or "Method"


def plan(name: str, track: str) -> dict[str, str]:
    """``{relative path: text}`` of the package for method ``name`` of ``track`` (validated)."""
    from bench_core.tracks import TRACKS

    if not PLUGIN_NAME_RE.match(name or ""):
        raise UsageError(f"bad plugin name {name!r}: use a lowercase letter, then lowercase letters, digits or "
                         f"'_' (at most 64 characters), e.g. my_selector")
    ready = sorted(t for t, tr in TRACKS.items() if tr.ready)
    if track not in ready:
        raise UsageError(f"unknown track {track!r} (valid: {', '.join(ready)})")
    subs = {"@@NAME@@": name, "@@METHOD@@": name, "@@PACKAGE@@": name, "@@DIST@@": name.replace("_", "-"),
            "@@CLASS@@": _class_name(name), "@@TRACK@@": track}

    def fill(text: str) -> str:
        for k, v in subs.items():
            text = text.replace(k, v)
        return text

    return {
        "pyproject.toml": fill(_template("pyproject.toml.tmpl")),
        "README.md": fill(_template("README.md.tmpl")),
        f"src/{name}/__init__.py": f'"""{_class_name(name)}: a featbench {track} plugin."""\n',
        f"src/{name}/plugin.py": fill(_template("methods", f"{track}.py.tmpl")),
        "tests/test_conformance.py": fill(_template("test_conformance.py.tmpl")),
        ".github/workflows/featbench.yml": fill(_template("workflow.yml.tmpl")),
    }


def new_plugin(name: str, track: str, directory: str | Path | None = None) -> tuple[Path, list[Path]]:
    """Write the package; return (its folder, the files written). Refuses a non-empty folder or a file."""
    files_ = plan(name, track)
    root = Path(directory if directory is not None else name).expanduser()
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a directory; choose another --dir")
    if root.is_dir() and any(root.iterdir()):
        raise UsageError(f"{root} exists and is not empty; choose another --dir (nothing was written)")
    written = []
    try:
        for rel, text in files_.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise UsageError(f"cannot write the plugin into {root}: {exc.strerror or exc}") from None
    return root, written
