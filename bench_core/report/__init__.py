"""The HTML leaderboard: one self-contained page (``index.html``) and its figures, from a built board.

``featbench leaderboard --out DIR`` writes, next to the Markdown, CSV and JSON of each track, the PNG
figures of each track and ``index.html``, which embeds them (``data:`` URIs) so that the page works
offline, opened from disk or attached to a CI run. Nothing is fetched: no CDN, no web font, no script
from elsewhere. The page is rendered with jinja2 from ``templates/index.html.j2``; its stylesheet and its
one script (``static/report.css``, ``static/sortable.js``) ship in the package and are inlined.

What the page shows, per track (every number comes from :mod:`bench_core.leaderboard`; this package only
draws and lays out):

- a **table of contents** with an anchor for every track, overall ranking, figure and dataset table
  (``#<track>``, ``#<track>-overall-<group>``, ``#<track>-heatmap``, ``#<track>-curves``,
  ``#<track>-ds-<dataset>``); every heading links to itself;
- the **overall ranking** of each dataset group, its Friedman test and, where the test was run, the
  critical-difference diagram (Demšar 2006, computed in :func:`bench_core.leaderboard._friedman`);
- a **heat map** of methods × datasets coloured by each method's **rank within the dataset** (the board's
  per-dataset rank of complete cells, scaled to [best, worst] per column), so that a hard dataset does not
  hide the differences between methods; each cell also prints the mean primary score;
- the track's **curves** (score against k, or against the target L0), readable with 30 methods: the best
  few non-control methods by overall rank in colour, the controls dashed, every other method thin grey,
  the x axis on a log scale labelled with plain numbers;
- one **table per dataset**, as in the Markdown, plus the scores a track left out and why.

Every table is **sortable**: clicking a header (or Enter/Space on it) sorts by that column, numerically
where the cells are numbers (a cell's ``data-sort`` attribute holds the exact value), again to reverse;
missing values ("—") stay last either way.

``--highlight METHOD`` (repeatable; a method name or one variant of it) marks that method everywhere: its
rows in every table, its row in the heat map, a thick red line in the curves and its label in the
critical-difference diagram. A name no result carries is refused (:func:`check_highlight`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench_core.errors import UsageError


def known_names(records: Iterable[Mapping[str, Any]]) -> set[str]:
    """The method and variant names the given result records carry."""
    names: set[str] = set()
    for r in records:
        for key in ("method", "variant"):
            if r.get(key):
                names.add(str(r[key]))
    return names


def check_highlight(names: Iterable[str], records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ``--highlight`` names, checked against the records' methods and variants.

    Raises :class:`UsageError` (one line, the valid names, a close match) for a name no record carries.
    """
    from bench_core.registry import unknown

    names = [n.strip() for n in names]
    known = known_names(records)
    for n in names:
        if not n:
            raise UsageError("empty --highlight name")
        if n not in known:
            raise unknown("--highlight method", n, known)
    return sorted(set(names))


def highlighted_variants(board, names: Iterable[str]) -> frozenset[str]:
    """The variants a highlight set marks: a variant named, or every variant of a method named."""
    names = set(names)
    out = set()
    for tb in board.tracks.values():
        for cells in tb.datasets.values():
            for c in cells:
                if c.variant in names or c.method in names:
                    out.add(c.variant)
    return frozenset(out)
