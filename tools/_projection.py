"""What the budget projection tools share: reading results, grouping them per cell, the data sets of a profile,
and the Markdown tables they print.

Used by ``tools/sae_budget.py``, ``tools/project_reducers_standard.py`` and ``tools/project_standard_time.py``
(each puts its own directory on ``sys.path`` before ``import _projection``, so that it is found both when the
tool is run as ``python tools/NAME.py`` and when a test loads the tool by path).

Reading
    :func:`results` yields the sound stored results of one track from one or more results directories
    (through :meth:`bench_core.store.Store.iter_records`: damaged files are left out), each with ``variant``
    set (the record's, else its method name), filtered by profile, seed, status, data set and excluded variant
    globs. :func:`cells` groups them per ``(dataset, variant)``, in reading order, so that "the later directory
    wins" is ``cells(...)[key][-1]`` and "the mean over seeds" :func:`mean` of the group's CPU seconds.
    :func:`cpu_s` is a result's ``timing.cpu_s`` (the worker's CPU seconds for the whole job) or ``None``.
Projecting
    A cell measured at seed 0 costs its CPU seconds times the seeds (the seeds run the same jobs on other
    splits of the same sizes); the total over ``w`` workers is a wall time of ``total / w`` (many short jobs
    keep the workers balanced, apart from the last job): :func:`minutes` (``seconds / 60 / workers``).
Data sets of a profile
    :func:`profile_cards` are a track's cards whose tier is at most the profile's (``smoke < quick <
    standard < full``); :func:`load_dataset` materialises one from the cache (``FEATBENCH_DATA_DIR``,
    ``FEATBENCH_CACHE_DIR``); :func:`pin_one_thread` sets the BLAS/OpenMP thread counts to 1 as in a worker
    (call it before numpy is imported for it to take effect).
Tables
    :func:`md_table` renders GitHub Markdown: a header row, an alignment row (``l`` ``---``, ``r`` ``---:``)
    and the rows, each cell padded by one space (an empty cell is ``| |``).
"""

from __future__ import annotations

import fnmatch
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence


def results(dirs: Iterable[str | Path], track: str, *, profile: str | None = None, seed: int | None = None,
            status: str | None = None, datasets: set[str] | None = None,
            exclude: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """The sound results of ``track`` under each of ``dirs`` in turn (sorted paths within a directory), with
    ``variant`` filled in; ``None`` (or an empty ``datasets``) filters nothing."""
    from bench_core.store import Store

    for root in dirs:
        for r in Store(root).iter_records(track):
            if profile is not None and r.get("profile") != profile:
                continue
            if seed is not None and r.get("seed") != seed:
                continue
            if status is not None and r.get("status") != status:
                continue
            if datasets and r["dataset"] not in datasets:
                continue
            variant = r.get("variant") or r["method"]
            if any(fnmatch.fnmatchcase(variant, pat) for pat in exclude):
                continue
            r["variant"] = variant
            yield r


def cells(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """``{(dataset, variant): [records in reading order]}``."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        out[(r["dataset"], r["variant"])].append(r)
    return dict(out)


def cpu_s(record: dict[str, Any]) -> float | None:
    """The result's ``timing.cpu_s`` as a float, or ``None`` where the job ended without it."""
    c = (record.get("timing") or {}).get("cpu_s")
    return None if c is None else float(c)


def mean(values: Iterable[float | None]) -> float:
    """The mean of the values that are not ``None``; NaN if there are none."""
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else float("nan")


def minutes(seconds: float, workers: int = 1) -> float:
    """``seconds`` of CPU shared by ``workers`` workers, in minutes of wall time."""
    return seconds / workers / 60


def profile_cards(reg, track: str, profile_tier: str) -> list:
    """The track's dataset cards included in a profile of tier ``profile_tier``, in the registry's order."""
    return [c for c in reg.cards_for(track) if c.in_profile(profile_tier)]


def load_dataset(reg, card):
    """The card's dataset, materialised once under the cache directory."""
    from bench_core.data.dataset import cache_dir, data_dir, load_cache, prepare

    return load_cache(card, prepare(card, reg.loader_fns, reg.reader_fns, data_dir(None), cache_dir(None)))


def pin_one_thread() -> None:
    """One BLAS/OpenMP thread, as in a harness worker (effective only before numpy's import)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def md_row(cells_: Sequence[Any]) -> str:
    """One Markdown table row: ``| a | b |``; an empty cell is ``| |``."""
    return "|" + "".join(f" {c} |" if str(c) else " |" for c in cells_)


def md_table(header: Sequence[str], align: str, rows: Iterable[Sequence[Any]]) -> list[str]:
    """The lines of a Markdown table; ``align`` has one letter per column, ``l`` (``---``) or ``r`` (``---:``)."""
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(f"align {align!r}: one of 'l', 'r' per column of {list(header)}")
    return [md_row(header), "|" + "".join("---:|" if a == "r" else "---|" for a in align),
            *(md_row(r) for r in rows)]
