"""``featbench datasets download``: fetch external dataset files from their cards' URLs and verify them.

This is the only place featbench downloads anything, and only when the user asks for it; ``featbench run``
never does (a missing file makes its jobs ``skipped`` with a how-to-obtain reason).

For each selected card with an external file (``[source] file``), in the data directory (``--data-dir`` or
``FEATBENCH_DATA_DIR``):

- a file that is present and matches the card's ``sha256`` is kept (``present``), not downloaded again;
- otherwise ``[source] url`` is fetched (``urllib``, streamed) into ``<file>.part`` next to the target, its
  SHA-256 computed while writing, then renamed over the target only if it matches the card. On a mismatch,
  or any download error, the partial file is deleted and :class:`~bench_core.errors.UsageError` names the
  dataset, the URL and what went wrong (exit status 2); files fetched before it are kept.

A present file with another checksum is re-downloaded (its replacement is verified the same way). A card
without ``url`` or without ``sha256`` is refused for download with the reason (nothing to fetch, or nothing
to verify against).
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from bench_core.errors import UsageError

CHUNK = 1 << 20
#: Seconds without data before a download is abandoned.
TIMEOUT_S = 60.0


@dataclass
class Outcome:
    name: str
    path: Path
    action: str  # "present" (kept) or "downloaded"
    bytes: int


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download_cards(cards: Sequence, root: Path | None, *, log: Callable[[str], None] = lambda s: None,
                   timeout_s: float = TIMEOUT_S) -> list[Outcome]:
    """Fetch and verify every external file of ``cards`` into ``root`` (see the module docstring)."""
    external = [c for c in cards if c.source.is_file]
    if root is None:
        raise UsageError("no data directory: set FEATBENCH_DATA_DIR or pass --data-dir (the folder to download into)")
    for card in external:
        if not card.source.url:
            raise UsageError(f"dataset {card.name!r} has no [source] url in its card ({card.path}); nothing to fetch")
        if not card.source.sha256:
            raise UsageError(f"dataset {card.name!r} has no [source] sha256 in its card ({card.path}); "
                             f"a download could not be verified")
    out: list[Outcome] = []
    for card in external:
        target = Path(root) / card.source.file
        if target.is_file() and sha256_of(target) == card.source.sha256:
            out.append(Outcome(card.name, target, "present", target.stat().st_size))
            log(f"{card.name}: {target} present and verified")
            continue
        out.append(_fetch(card, target, timeout_s))
        log(f"{card.name}: downloaded {out[-1].bytes} bytes to {target}, SHA-256 verified")
    return out


def _fetch(card, target: Path, timeout_s: float) -> Outcome:
    url = card.source.url
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {target.parent}: {exc.strerror or exc}") from None
    part = target.with_name(target.name + ".part")
    h = hashlib.sha256()
    size = 0
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "featbench-datasets-download"})
        with urllib.request.urlopen(req, timeout=timeout_s) as resp, open(part, "wb") as fh:
            for block in iter(lambda: resp.read(CHUNK), b""):
                fh.write(block)
                h.update(block)
                size += len(block)
            fh.flush()
            os.fsync(fh.fileno())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise UsageError(f"dataset {card.name!r}: downloading {url} failed: {why}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    got = h.hexdigest()
    if got != card.source.sha256:
        part.unlink(missing_ok=True)
        raise UsageError(f"dataset {card.name!r}: the file from {url} has SHA-256 {got}, not the card's "
                         f"{card.source.sha256}; the partial file was deleted")
    os.replace(part, target)
    return Outcome(card.name, target, "downloaded", size)
