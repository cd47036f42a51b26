"""The HTML leaderboard (bench_core/report): page structure, rank-based heat map, curve styles, highlight,
formatting, and a real headless Chromium that loads the page and sorts a table by clicking its header."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from bench_core.errors import UsageError
from bench_core.leaderboard import _fmt, _fmt_count, build, dataset_rows, write
from bench_core.report import check_highlight, highlighted_variants
from bench_core.report.page import math_text, slug
from bench_core.report.plots import (
    HIGHLIGHT, N_TOP, curve_style, log_ticks, rank_matrix, top_variants, variant_order,
)
from cdp_pipe import Browser, find_chromium
from report_fixture import synthetic
from test_leaderboard_compare import fixture_records


class _Page(HTMLParser):
    """Ids, links, sources, and per table its header texts and rows (cell texts, data-sort, row class)."""

    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.srcs, self.tables = [], [], [], []
        self._cell = None
        self._in_th = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag in ("img", "script", "link") and ("src" in a or "href" in a):
            self.srcs.append(a.get("src") or a.get("href"))
        if tag == "table":
            self.tables.append({"cls": a.get("class"), "headers": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append({"cls": a.get("class") or "", "cells": []})
        elif tag == "th":
            self._in_th = True
            self.tables[-1]["headers"].append("")
        elif tag == "td":
            self._cell = {"text": "", "sort": a.get("data-sort")}

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_th = False
        elif tag == "td":
            self.tables[-1]["rows"][-1]["cells"].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._in_th:
            self.tables[-1]["headers"][-1] += data
        elif self._cell is not None:
            self._cell["text"] += data


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    """Every track, 12 methods, 3 datasets, method_07 highlighted: (board, out dir, parsed page)."""
    recs, reg = synthetic(n_methods=12, n_datasets=3)
    board = build(recs, reg, "quick")
    out = tmp_path_factory.mktemp("report")
    write(board, out, ["html"], highlight=["method_07"])
    page = _Page()
    page.feed((out / "index.html").read_text())
    for t in page.tables:  # header rows are not body rows
        t["rows"] = [r for r in t["rows"] if r["cells"]]
    return board, out, page


# ------------------------------------------------------------------------------------------ page structure


def test_every_track_has_its_sections_and_the_contents_link_to_existing_anchors(small_report):
    board, out, page = small_report
    assert len(page.ids) == len(set(page.ids)), "ids are unique"
    internal = [h[1:] for h in page.hrefs if h.startswith("#")]
    assert internal and set(internal) <= set(page.ids), set(internal) - set(page.ids)
    for t, tb in board.tracks.items():
        assert t in page.ids and f"{t}-heatmap" in page.ids
        for ds in tb.datasets:
            assert f"{t}-ds-{ds}" in page.ids
        for block in tb.overall:
            assert f"{t}-overall-{block['group']}" in page.ids
    assert set(board.tracks) == {"reducers", "saes", "selectors", "similarity"}
    assert "selectors-curves" in page.ids and "saes-curves" in page.ids
    n_tables = sum(len(tb.overall) + len(tb.datasets) for tb in board.tracks.values())
    assert len(page.tables) == n_tables and all(t["cls"] == "sortable" for t in page.tables)


def test_the_page_loads_nothing_from_elsewhere(small_report):
    _board, out, page = small_report
    assert page.srcs and all(s.startswith("data:image/png;base64,") for s in page.srcs)
    text = (out / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script>" in text and "table.sortable" in text, "the sorting script is inlined"
    cds = [f"{t}-cd-{b['group']}.png" for t, tb in _board.tracks.items() for b in tb.overall
           if b["friedman"]["tested"]]
    assert "selectors-cd-ground_truth.png" in cds and "similarity-cd-all.png" in cds
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".png") == sorted(
        [f"{t}-heatmap.png" for t in ("reducers", "saes", "selectors", "similarity")]
        + ["selectors-curves.png", "saes-curves.png"] + cds)
    assert text.count("<figure><img") == len(cds) + 6, "every figure is embedded in the page"


def test_numeric_cells_carry_their_exact_value_for_sorting(small_report):
    board, _out, page = small_report
    tb = board.tracks["selectors"]
    ds = "selectors_data_2"
    table = next(t for t in page.tables if t["rows"] and len(t["rows"]) == len(tb.datasets[ds])
                 and t["headers"][0].startswith("rank") and _same_rows(t, dataset_rows(tb, ds)[1]))
    col = {h.replace("↕", "").strip(): i for i, h in enumerate(table["headers"])}
    for cell, row in zip(tb.datasets[ds], table["rows"]):
        mean = row["cells"][col["auc_logk (see intervals)"]]["sort"]
        assert (mean == "") == (cell.mean is None)
        if cell.mean is not None:
            assert float(mean) == cell.mean
        fit = row["cells"][col["fit s"]]["sort"]
        assert fit == "" if cell.fit_s is None else float(fit) == cell.fit_s
        assert row["cells"][col["method"]]["sort"] is None, "text columns sort by their text"


def _same_rows(table, rows):
    return [[c["text"] for c in r["cells"]] for r in table["rows"]] == rows


def test_highlighted_method_rows_and_only_they_are_marked(small_report):
    board, _out, page = small_report
    marked = unmarked = 0
    for t in page.tables:
        for r in t["rows"]:
            method = r["cells"][1]["text"]
            is_hl = "hl" in r["cls"].split()
            assert is_hl == (method == "method_07"), (method, r["cls"])
            marked += is_hl
            unmarked += not is_hl
            assert ("ctl" in r["cls"].split()) == ("control" in method)
    assert marked == sum(len(tb.overall) + len(tb.datasets) for tb in board.tracks.values()) and unmarked


def test_scores_left_out_are_grouped_by_score_and_reason():
    from bench_core.leaderboard import Cell
    from bench_core.report.page import omitted_lines

    cells = [Cell("d", v, v, None, omitted=om) for v, om in [
        ("a", {"oos": "no transform()"}), ("b", {}), ("c", {"oos": "no transform()", "auc": "one point"})]]
    assert omitted_lines(cells) == ["auc of c: one point", "oos of a, c: no transform()"]


def test_combining_accents_become_mathml_and_text_is_escaped():
    assert str(math_text("stability Φ̂")) == ('stability <math class="acc"><mover accent="true"><mi '
                                              'mathvariant="normal">Φ</mi><mo stretchy="false">^</mo></mover></math>')
    assert str(math_text("a<b & Φ")) == "a&lt;b &amp; Φ"
    assert "\u0302" not in str(math_text("x̂ and Φ̂"))
    assert slug("selectors", "ds", "my data/set") == "selectors-ds-my-data-set"


# ------------------------------------------------------------------------------------------ figures


@pytest.mark.parametrize("track", ["selectors", "saes"])  # higher is better; lower is better
def test_heatmap_colour_is_the_rank_within_each_dataset_not_the_raw_score(track):
    """Two datasets with the same order of methods but very different score levels get identical colours;
    the failed cell shows its status, the cell short of a seed is marked and uncoloured."""
    recs, reg = synthetic(n_methods=8, n_datasets=4)
    tb = build([r for r in recs if r["track"] == track], reg, "quick").tracks[track]
    m = rank_matrix(tb)
    good, value = m["good"], m["value"]
    assert m["variants"] == variant_order(tb)
    for j, ds in enumerate(m["datasets"]):
        ranked = [c for c in tb.datasets[ds] if c.rank is not None]
        n = len(ranked)
        for c in ranked:  # hand formula: 1 - (rank - 1) / (n - 1); no ties here, so the board's rank
            assert good[m["variants"].index(c.variant), j] == pytest.approx(1 - (c.rank - 1) / (n - 1))
        col = good[:, j][~np.isnan(good[:, j])]
        assert col.max() == 1.0 and col.min() == 0.0
        best = min(ranked, key=lambda c: c.rank)
        assert good[m["variants"].index(best.variant), j] == 1.0
    # dataset 0 is easy, dataset 3 hard (every score squeezed): raw means differ a lot, the colours do not
    assert abs(np.mean(value[:, 0]) - np.mean(value[:, 3])) > 0.1
    assert np.ptp(value[:, 0]) > 1.5 * np.ptp(value[:, 3])
    np.testing.assert_allclose(np.sort(good[:, 0]), np.linspace(0, 1, 8))
    np.testing.assert_allclose(np.sort(good[:, 3]), np.linspace(0, 1, 8))
    v = m["variants"]
    assert m["failed"] == {(v.index("method_03"), 1): "timeout"}
    assert m["short"][v.index("method_04"), 2] and math.isnan(good[v.index("method_04"), 2])
    assert math.isfinite(value[v.index("method_04"), 2])


def test_heatmap_methods_tied_for_the_best_all_get_the_best_colour():
    """Ranks 1.5, 1.5, 3, 4 on the board (average ties); colours from competition ranks 1, 1, 3, 4."""
    from test_leaderboard_compare import record

    recs = [record("d", m, s, primary=v) for m, v in [("a", 1.0), ("b", 1.0), ("c", 0.7), ("d", 0.5)]
            for s in range(2)]
    tb = build(recs, None, "quick").tracks["selectors"]
    assert sorted(c.rank for c in tb.datasets["d"]) == [1.5, 1.5, 3.0, 4.0]
    m = rank_matrix(tb)
    good = dict(zip(m["variants"], m["good"][:, 0]))
    assert good == pytest.approx({"a": 1.0, "b": 1.0, "c": 1 - 2 / 3, "d": 0.0})


def test_curves_colour_the_best_few_grey_the_rest_dash_the_controls_and_mark_the_highlight():
    recs, reg = synthetic(n_methods=30, n_datasets=2)
    tb = build(recs, reg, "quick").tracks["selectors"]
    order = variant_order(tb)
    top = top_variants(tb)
    assert top == [x for x in order if x not in ("truth", "random")][:N_TOP]
    styles = {x: curve_style(tb, x) for x in order}
    assert styles["truth"]["ls"] != "-" and styles["random"]["ls"] != "-", "controls dashed"
    assert styles["truth"]["color"] != styles["random"]["color"]
    coloured = {x for x, s in styles.items() if s["color"] not in ("0.78",) and x not in ("truth", "random")}
    assert coloured == set(top) and len({styles[x]["color"] for x in top}) == N_TOP
    rest = [x for x in order if x not in top and x not in ("truth", "random")]
    assert len(rest) == 30 - 2 - N_TOP and all(styles[x]["color"] == "0.78" and styles[x]["lw"] < 1 for x in rest)
    low = rest[-1]
    hl = curve_style(tb, low, highlight={low})
    assert hl["color"] == HIGHLIGHT and hl["lw"] > max(s["lw"] for s in styles.values())
    assert low not in top_variants(tb, {low}) and len(top_variants(tb, {low})) == N_TOP


def test_log_axis_ticks_are_the_curve_points_thinned_to_stay_apart():
    assert log_ticks([1, 2, 5, 10, 20, 50, 100, 200]) == [1, 2, 5, 10, 20, 50, 100, 200]
    assert log_ticks([1, 2, 5, 6, 10, 12, 18, 20]) == [1, 2, 5, 10, 20], "18 and 20 would overlap"
    assert log_ticks([4]) == [4] and log_ticks([4, 64]) == [4, 64]


# ------------------------------------------------------------------------------------------ formatting


def test_no_negative_zero_and_whole_counts_without_decimals():
    assert _fmt(-0.3, 0) == "0" and _fmt(-0.0004) == "0.000" and _fmt(-0.6, 0) == "-1" and _fmt(-0.005) == "-0.005"
    assert _fmt(None) == "—" and _fmt(float("nan")) == "—"
    assert _fmt_count(10.0) == "10" and _fmt_count(13.5) == "13.5" and _fmt_count(None) == "—"
    recs, reg = synthetic(n_methods=8, n_datasets=1)
    tb = build(recs, reg, "quick").tracks["selectors"]
    headers, rows = dataset_rows(tb, "selectors_data_0")
    k = headers.index("k full recall")
    peak = headers.index("peak MiB")
    ks = [r[k] for r in rows]
    assert all(re.fullmatch(r"\d+(\.\d)?", x) for x in ks), ks
    method_05 = next(r for r in rows if r[1] == "method_05")
    assert method_05[peak] == "0", "a peak of -0.3 MiB prints as 0, never -0"
    assert not any(x == "-0" or x.startswith("-0.000") for r in rows for x in r)


# ------------------------------------------------------------------------------------------ --highlight


def test_check_highlight_accepts_methods_and_variants_and_refuses_unknown_names():
    recs = fixture_records()
    assert check_highlight(["beta", "alpha", "beta"], recs) == ["alpha", "beta"]
    with pytest.raises(UsageError, match=r"unknown --highlight method 'alphaa'; did you mean 'alpha'\? \(valid: alpha, beta, "):
        check_highlight(["alphaa"], recs)
    with pytest.raises(UsageError, match="empty"):
        check_highlight([" "], recs)
    board = build(recs, None, "quick")
    assert highlighted_variants(board, ["beta"]) == {"beta"}


def test_cli_highlight_unknown_is_one_line_exit_2_nothing_written_and_known_marks_the_page(tmp_path, capsys):
    from bench_core.cli import main

    results = tmp_path / "results"
    for r in fixture_records():
        path = results / r["track"] / r["dataset"] / r["method"] / f"{r['key']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
    out = tmp_path / "lb"
    assert main(["leaderboard", "--results", str(results), "--out", str(out), "--highlight", "betta"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0, err
    assert "unknown --highlight method 'betta'" in err and "did you mean 'beta'" in err
    assert not out.exists() or not any(out.iterdir())
    assert main(["leaderboard", "--results", str(results), "--out", str(out), "--highlight", "beta",
                 "--format", "html"]) == 0
    text = (out / "index.html").read_text()
    assert '<tr class="hl"><td class="num" data-sort="2.0">2</td><td>beta</td>' in text
    assert "highlighted: <mark>beta</mark>" in text


# ------------------------------------------------------------------------------------------ in a browser

CHROMIUM = find_chromium()
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH (.ci/run installs Debian's "
                                   "chromium; or set FEATBENCH_CHROMIUM)")


def _column(page, table_id: str, col: int, attr: str | None = None) -> list[str]:
    get = f"getAttribute('{attr}')" if attr else "textContent"
    return page.evaluate(f"Array.from(document.getElementById('{table_id}').tBodies[0].rows)"
                         f".map(r => r.cells[{col}].{get})")


@needs_browser
def test_chromium_loads_the_page_without_errors_and_sorts_tables_by_clicking_headers(small_report):
    board, out, _page = small_report
    with Browser(CHROMIUM) as browser:
        page = browser.open((out / "index.html").as_uri())
        assert page.errors() == []
        assert page.evaluate("document.title") == "featbench leaderboard (quick)"
        missing = page.evaluate("Array.from(document.querySelectorAll('a[href^=\"#\"]'))"
                                ".map(a => a.getAttribute('href').slice(1)).filter(id => !document.getElementById(id))")
        assert missing == []
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 100)")
        # a dataset table of the selectors, and its columns
        tid = "selectors-ds-selectors_data_1-table"
        headers = page.evaluate(f"Array.from(document.getElementById('{tid}').tHead.rows[0].cells)"
                                ".map(h => h.textContent)")
        score, method = headers.index("auc_logk (see intervals)"), headers.index("method")
        before = sorted(_column(page, tid, method))
        sel = f"#{tid} th:nth-child({score + 1})"
        page.click(sel)
        up = _column(page, tid, score, "data-sort")
        values = [float(x) for x in up if x != ""]
        assert values == sorted(values) and len(set(values)) > 5
        assert up[len(values):] == [""], "the timed-out cell (no score) last"
        assert _column(page, tid, score)[-1] == "timeout ×2"
        assert page.evaluate(f"document.querySelector('{sel}').getAttribute('aria-sort')") == "ascending"
        page.click(sel)
        down = _column(page, tid, score, "data-sort")
        assert [float(x) for x in down if x != ""] == sorted(values, reverse=True)
        assert down[-1] == "", "missing values still last"
        assert page.evaluate(f"document.querySelector('{sel}').getAttribute('aria-sort')") == "descending"
        page.click(f"#{tid} th:nth-child({method + 1})")
        names = _column(page, tid, method)
        assert names == sorted(names, key=str.lower) and sorted(names) == before, "rows kept, sorted by name"
        # the highlighted row keeps its mark wherever it moves
        assert page.evaluate(f"Array.from(document.getElementById('{tid}').tBodies[0].rows)"
                             ".filter(r => r.classList.contains('hl')).map(r => r.cells[1].textContent)") == ["method_07"]
        assert page.errors() == []


@needs_browser
def test_the_browser_check_sees_errors_when_there_are_some(tmp_path):
    """The check above can fail: a page that throws and logs an error is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!doctype html><title>x</title><script>console.error('boom'); undefinedFunction();</script>")
    with Browser(CHROMIUM) as browser:
        errors = browser.open(bad.as_uri()).errors()
    assert any("boom" in e for e in errors) and any("undefinedFunction" in e for e in errors), errors
