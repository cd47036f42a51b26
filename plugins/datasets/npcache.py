"""Atomic ``.npz`` files for the model-computed caches (activations, trained networks).

A writer saves to a temporary file in the target directory, flushes and fsyncs it, then renames it over the
target (``os.replace``), so a reader never sees a half-written file, and two processes that compute the same
entry at once both leave a complete one. A file that cannot be read back is treated as absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from bench_core.data.dataset import cache_dir


def entry(kind: str, sha: str) -> Path:
    """``<cache_dir()>/<kind>/<sha>.npz``."""
    return cache_dir() / kind / f"{sha}.npz"


def save(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def meta(path: Path) -> dict[str, Any] | None:
    """The entry's metadata, or ``None`` when it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError, EOFError):
        return None


def read(path: Path, keys: list[str]) -> dict[str, np.ndarray]:
    """Only the named arrays (an ``.npz`` is read member by member)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in keys}
