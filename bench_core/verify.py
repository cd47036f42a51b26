"""``featbench datasets verify``: re-derive every checksum from the source and check splits for leakage."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from bench_core.data.cards import Card, write_checksums
from bench_core.data.dataset import materialise
from bench_core.data.splits import duplicate_rows_across
from bench_core.errors import DataMissing


def verify_cards(cards: Sequence[Card], registry, data_root: Path | None, write: bool = False) -> int:
    """Print one row per card; return 1 if any checksum differs (0 otherwise; missing data is reported).

    Data a card may not hold (NaN without declared handling, infinite values, one class for classification)
    raises :class:`~bench_core.errors.UsageError` naming the card, before any checksum is written."""
    from tabulate import tabulate

    rows, bad = [], 0
    to_write: list[tuple[Card, str, str]] = []  # written only once every card was derived without refusal
    for card in cards:
        try:
            ds, derived = materialise(card, registry.loader_fns, registry.reader_fns, data_root, verify=False)
        except DataMissing as exc:
            rows.append([card.name, "missing", "-", "-", "-", str(exc)])
            continue
        leaks = [duplicate_rows_across(ds.X, tr, te) for tr, te in ds.splits]
        src_ok = "-" if derived.source_file is None else ("ok" if derived.source_file == card.source.sha256 else "MISMATCH")
        data_ok = "ok" if card.checksums.get("data") == derived.data else "MISMATCH"
        split_ok = "ok" if card.checksums.get("splits") == derived.splits else "MISMATCH"
        note = f"{ds.n_samples}x{ds.n_features}, {ds.n_classes} classes"
        if max(leaks) > 0:
            note += f"; leakage: up to {max(leaks)} test row(s) duplicated in train"
        if write and src_ok != "MISMATCH" and (data_ok != "ok" or split_ok != "ok"):
            to_write.append((card, derived.data, derived.splits))
            data_ok = data_ok if data_ok == "ok" else "written"
            split_ok = split_ok if split_ok == "ok" else "written"
        if "MISMATCH" in (src_ok, data_ok, split_ok):
            bad += 1
        rows.append([card.name, src_ok, data_ok, split_ok, f"{ds.X.nbytes / 2**20:.1f} MiB", note])
    for card, data, splits in to_write:
        write_checksums(Path(card.path), data, splits)
    print(tabulate(rows, headers=["dataset", "source file", "data", "splits", "size", "notes"]))
    if bad:
        print(f"{bad} dataset(s) differ from their cards", file=sys.stderr)
    return 1 if bad else 0
