"""``index.html``: the jinja2 context of a built board, rendered from ``templates/index.html.j2``.

The page is self-contained: its stylesheet and script are read from ``static/`` and inlined, its figures are
``data:`` URIs. Table texts are the Markdown emitter's own (:func:`bench_core.leaderboard.dataset_rows`,
:func:`bench_core.leaderboard.overall_rows`), so the HTML and the Markdown cannot disagree; this module adds
what only a browser uses: the exact value behind each number (``data-sort``, for sorting), row classes
(highlighted, control), anchors and the table of contents.

A combining accent in a header (``Φ̂``, the Nogueira stability estimate) is drawn as MathML (``<mover>``):
fonts place a combining circumflex after a capital Greek letter rather than over it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from markupsafe import Markup, escape

_ACCENTS = {"\u0302": "^", "\u0303": "~", "\u0304": "¯", "\u0307": "˙"}
_ACCENTED = re.compile("(.)([" + "".join(_ACCENTS) + "])")


def math_text(text: str) -> Markup:
    """HTML for ``text``: escaped, each letter with a combining accent drawn as a MathML ``<mover>``."""
    out, pos = [], 0
    for m in _ACCENTED.finditer(text):
        out.append(escape(text[pos:m.start()]))
        out.append(Markup('<math class="acc"><mover accent="true"><mi mathvariant="normal">{}</mi>'
                          '<mo stretchy="false">{}</mo></mover></math>').format(m.group(1), _ACCENTS[m.group(2)]))
        pos = m.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def inline_code(text: str) -> Markup:
    """HTML for one line of the Markdown provenance header: escaped, with `code` spans kept."""
    parts = text.split("`")
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else math_text(p)
                           for i, p in enumerate(parts))


def slug(*parts: str) -> str:
    """An HTML id from names: runs of characters other than letters, digits, ``_``, ``.`` and ``-`` become ``-``."""
    return "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", p).strip("-") for p in parts)


def _num(x: Any) -> str:
    """A ``data-sort`` value: the exact number, or ``""`` for a missing one (sorted last)."""
    if x is None:
        return ""
    x = float(x)
    return "" if x != x else repr(x)


def _table(headers: list[str], rows: list[list[str]], keys: list[list[Any]], numeric: list[bool],
           classes: list[str]) -> dict[str, Any]:
    return {
        "headers": [{"html": math_text(h), "numeric": n} for h, n in zip(headers, numeric)],
        "rows": [{"cls": cls, "cells": [{"text": t, "sort": _num(k) if n else None, "numeric": n}
                                        for t, k, n in zip(row, kk, numeric)]}
                 for row, kk, cls in zip(rows, keys, classes)],
    }


def _row_class(variant: str, control: str | None, highlight: Collection[str]) -> str:
    cls = []
    if variant in highlight:
        cls.append("hl")
    if control:
        cls.append("ctl")
    return " ".join(cls)


def dataset_table(tb, ds: str, highlight: Collection[str]) -> dict[str, Any]:
    from bench_core.leaderboard import dataset_rows

    headers, rows = dataset_rows(tb, ds)
    cells = tb.datasets[ds]
    keys = [[c.rank, None, c.mean, None if c.p_best is None else 1.0 - c.p_best,
             len(c.values) if c.n_total else 0, *(c.secondary.get(s) for s, _h in tb.columns), c.fit_s, c.peak_mb,
             None] for c in cells]
    numeric = [True, False, True, True, True, *(True for _ in tb.columns), True, True, False]
    return _table(headers, rows, keys, numeric, [_row_class(c.variant, c.control, highlight) for c in cells])


def overall_table(tb, block: Mapping[str, Any], highlight: Collection[str]) -> dict[str, Any]:
    from bench_core.leaderboard import overall_rows

    headers, rows = overall_rows(tb, block)
    cd = {True: 1.0, False: 0.0, None: None}
    keys = [[r["position"], None, r["mean_rank"], r["ranked"], r["failed"], r["wins"], r["mean_primary"],
             cd[r.get("within_cd")]] for r in block["rows"]]
    numeric = [True, False, True, True, True, True, True, True]
    return _table(headers, rows, keys, numeric,
                  [_row_class(r["variant"], r.get("control"), highlight) for r in block["rows"]])


def omitted_lines(cells) -> list[str]:
    """The scores a track left out on one dataset, one line per (score, reason) naming its methods."""
    groups: dict[tuple[str, str], list[str]] = {}
    for c in cells:
        for score, why in sorted(c.omitted.items()):
            groups.setdefault((score, why), []).append(c.variant)
    return [f"{score} of {', '.join(vs)}: {why}" for (score, why), vs in sorted(groups.items())]


def _img(plots: Mapping[str, bytes], name: str) -> str | None:
    data = plots.get(name)
    return None if data is None else "data:image/png;base64," + base64.b64encode(data).decode()


def context(board, plots: Mapping[str, bytes], highlight: Collection[str] = (),
            highlight_names: Collection[str] = ()) -> dict[str, Any]:
    """Everything the template draws, as plain data (tested without a browser)."""
    from bench_core.leaderboard import _friedman_text, _provenance_lines

    p = board.provenance
    tracks = []
    for tb in board.tracks.values():
        t = {"name": tb.track, "id": slug(tb.track),
             "provenance": [inline_code(line[2:]) for line in _provenance_lines(board, tb)],
             "overall": [], "figures": [], "datasets": []}
        for block in tb.overall:
            cd_name = f"{tb.track}-cd-{block['group']}.png"
            t["overall"].append({
                "id": slug(tb.track, "overall", block["group"]), "title": block["title"],
                "n_datasets": len(block["datasets"]), "table": overall_table(tb, block, highlight),
                "friedman": _friedman_text(block), "cd": _img(plots, cd_name), "cd_name": cd_name,
                "excluded": [f"{ds}: {why}" for ds, why in block["excluded"]],
            })
        heat = _img(plots, f"{tb.track}-heatmap.png")
        if heat:
            t["figures"].append({
                "id": slug(tb.track, "heatmap"), "title": "Heat map", "src": heat,
                "name": f"{tb.track}-heatmap.png",
                "caption": (f"Colour: the rank of each method's mean {tb.primary} within each dataset (column), "
                            "scaled per dataset from the best (yellow) to the worst (dark) of its complete cells, "
                            "so that a hard dataset does not hide the differences between methods. Number: the "
                            f"mean {tb.primary} itself. Grey with †: short of seeds, unranked. A status "
                            "(timeout, error): every job of the cell failed. n/a: the method does not apply to "
                            "the dataset. Blank: never run. Rows in overall order."),
            })
        curves = _img(plots, f"{tb.track}-curves.png")
        if curves:
            t["figures"].append({
                "id": slug(tb.track, "curves"), "title": "Curves", "src": curves,
                "name": f"{tb.track}-curves.png",
                "caption": (f"{tb.curve_label}, mean over seeds, log x axis. In colour: the best non-control "
                            "methods by overall rank; dashed: the positive (black) and negative (grey) controls; "
                            "thin grey: every other method" + ("; thick red: highlighted." if highlight else ".")),
            })
        for ds in tb.datasets:
            refs = tb.references.get(ds) or {}
            t["datasets"].append({
                "name": ds, "id": slug(tb.track, "ds", ds), "uninformative": tb.uninformative.get(ds),
                "references": ", ".join(f"{n} {m:.3f}" + (f" ± {ci:.3f}" if ci is not None else "")
                                        for n, (m, ci) in sorted(refs.items())),
                "table": dataset_table(tb, ds, highlight),
                "omitted": omitted_lines(tb.datasets[ds]),
            })
        tracks.append(t)
    return {
        "profile": board.profile, "tracks": tracks,
        "featbench": ", ".join(p.get("featbench") or []), "commits": [c[:12] for c in p.get("commits") or []],
        "results": p.get("results", 0), "highlight": sorted(highlight_names),
        "css": Markup(_static("report.css")), "js": Markup(_static("sortable.js")),
    }


@lru_cache(maxsize=None)
def _static(name: str) -> str:
    return resources.files("bench_core.report").joinpath("static", name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("bench_core.report", "templates"),
                              autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def to_html(board, plots: Mapping[str, bytes], highlight: Collection[str] = (),
            highlight_names: Collection[str] = ()) -> str:
    """The page: ``highlight`` are variants to mark, ``highlight_names`` the names the user gave."""
    return _environment().get_template("index.html.j2").render(
        context(board, plots, highlight, highlight_names or highlight))
