"""Real English text found on every machine: the docstrings of the Python standard library.

The corpus is read from the *source files* of the running interpreter's standard library
(``sysconfig.get_paths()["stdlib"]``) with :mod:`ast`, never by importing the modules (no side effects, no
GUI toolkits, no platform-dependent imports). A **document** is one docstring (of a module, a class, a
function or a method), cleaned with :func:`inspect.cleandoc`, labelled by the **top-level package** it
belongs to (``email.mime.text`` → ``email``).

Selection, fully deterministic for a given Python version:

1. every ``*.py`` file below each requested package, in sorted path order, skipping test code (any path
   component ``test``, ``tests``, ``idle_test`` or starting with ``test_``); inside a file, the docstrings in
   :func:`ast.walk` order;
2. docstrings shorter than ``min_chars`` (48) characters are dropped;
3. de-duplication: a docstring text that occurs more than once (in one package or across packages) is kept
   once, under the first package (in the given package order) where it occurs; so no text is on both sides
   of a document-level split and no text carries two labels;
4. balance: each package gets a quota of ``max_docs // len(packages)`` documents, picked as the first ones in
   the order of the SHA-256 of their text (a pseudo-random but library-free order, so a smaller corpus is a
   prefix of a larger one, package by package). A package with fewer documents than the quota contributes
   all it has (the counts are recorded in ``info``; the default packages all have ≥ 100 documents, so the
   quick and standard sizes are exactly balanced up to 100 per package);
5. the documents are then ordered package by package (in the given order), and within a package by the
   same hash order. The document id is the position in that list.

The text therefore depends on the Python version (recorded as ``python_version``); the loaders hash the text
itself into their ``checksum_inputs``, so another Python gives a clear checksum mismatch on the cards, never a
silent drift.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from bench_core.errors import UsageError

#: Top-level standard-library packages present in every CPython ≥ 3.11 build from python.org sources, with
#: ≥ 100 distinct docstrings of ≥ 48 characters each in 3.11 (counted without their test code).
DEFAULT_PACKAGES: tuple[str, ...] = (
    "asyncio", "email", "http", "importlib", "logging", "multiprocessing", "unittest", "xml",
)
MIN_CHARS = 48
_TEST_PARTS = {"test", "tests", "idle_test"}


@dataclass(frozen=True)
class Corpus:
    """Documents (``texts``), their package label (``labels``, an index into ``packages``) and provenance."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]
    packages: tuple[str, ...]
    sources: tuple[str, ...]  # "module:qualified.name" of each docstring
    python_version: str
    available: dict[str, int]

    def sha256(self) -> str:
        """A SHA-256 over the packages and every document's label and text (the text, not its origin)."""
        h = hashlib.sha256()
        h.update(repr(self.packages).encode())
        for label, text in zip(self.labels, self.texts):
            h.update(f"{label}\x00{len(text)}\x00".encode())
            h.update(text.encode("utf-8"))
        return h.hexdigest()


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _is_test(parts: tuple[str, ...]) -> bool:
    return any(p in _TEST_PARTS or p.startswith("test_") for p in parts)


def _docstrings(path: Path, module: str, min_chars: int) -> list[tuple[str, str]]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    out = []
    names: dict[int, str] = {id(tree): module}
    for node in ast.walk(tree):
        here = names.get(id(node), module)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                names[id(child)] = f"{here}.{child.name}"
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc and len(doc) >= min_chars:
                out.append((here, doc))
    return out


@functools.lru_cache(maxsize=64)
def package_docstrings(package: str, min_chars: int = MIN_CHARS) -> tuple[tuple[str, str], ...]:
    """``(source, text)`` of every docstring of ``package``'s non-test source files, in a deterministic order
    (parsed once per process)."""
    root = stdlib_root()
    pkg = root / package
    if (pkg / "__init__.py").is_file():
        files = sorted(pkg.rglob("*.py"))
    elif (root / f"{package}.py").is_file():
        files = [root / f"{package}.py"]
    else:
        raise UsageError(f"{package!r} is not a top-level package or module of this Python's standard library "
                         f"({root}); default packages: {', '.join(DEFAULT_PACKAGES)}")
    out = []
    for f in files:
        rel = f.relative_to(root).with_suffix("").parts
        if _is_test(rel):
            continue
        module = ".".join(rel[:-1] if rel[-1] == "__init__" else rel)
        out.extend(_docstrings(f, module, min_chars))
    return tuple(out)


def _order(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_corpus(packages: tuple[str, ...] | list[str] | None = None, max_docs: int = 400,
                min_chars: int = MIN_CHARS) -> Corpus:
    """The balanced, de-duplicated docstring corpus (see the module docstring for the exact rules)."""
    packages = tuple(packages) if packages else DEFAULT_PACKAGES
    if len(set(packages)) != len(packages) or len(packages) < 2:
        raise UsageError(f"packages must be ≥ 2 distinct standard-library packages, got {list(packages)}")
    if int(max_docs) < len(packages):
        raise UsageError(f"max_docs = {max_docs} is smaller than the number of packages ({len(packages)})")
    quota = int(max_docs) // len(packages)
    per_pkg = [package_docstrings(p, min_chars) for p in packages]
    texts, labels, sources = [], [], []
    available = {}
    kept: set[str] = set()
    for i, (p, docs) in enumerate(zip(packages, per_pkg)):
        unique = []
        for src, text in docs:
            if text in kept:  # already kept (earlier in this package, or by an earlier package)
                continue
            kept.add(text)
            unique.append((src, text))
        available[p] = len(unique)
        unique.sort(key=lambda st: _order(st[1]))
        for src, text in unique[:quota]:
            texts.append(text)
            labels.append(i)
            sources.append(src)
    return Corpus(tuple(texts), tuple(labels), packages, tuple(sources), platform.python_version(), available)
