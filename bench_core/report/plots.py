"""The figures of the HTML leaderboard (PNG bytes, drawn with matplotlib's Agg backend).

Pictures of numbers computed and tested in :mod:`bench_core.leaderboard`; nothing here changes a number.

- :func:`heatmap` — methods × datasets, coloured by the method's rank within each dataset (the competition
  rank of the complete cells, scaled per column from best to worst: see :func:`rank_matrix`), so that the
  difficulty of a dataset does not hide the differences between methods. Each cell prints the mean primary
  score; a cell short of seeds (unranked) is grey with ``†``; a cell whose jobs all failed names the
  status (``timeout``); a method not applicable to the dataset reads ``n/a``; a cell never run is blank.
- :func:`curves` — one panel per dataset of the track's curve (score against k, or against the target L0),
  log x axis with plain-number ticks. Readable with 30 methods: the best :data:`N_TOP` non-control methods by
  overall standing in colour, the positive control black dashed, the negative control grey dashed, every
  other method a thin light-grey line; highlighted methods thick red, drawn last.
- :func:`cd_diagram` — the critical-difference diagram (Demšar 2006) of a Friedman/Nemenyi block.

Highlighted variants (``--highlight``) stand out in each: a red frame and label in the heat map, a thick red
line in the curves, a red bold label in the critical-difference diagram. Output is deterministic (no
timestamps in the PNG metadata).
"""

from __future__ import annotations

import io
import math
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

# pragma: no mutate start  (plots: pictures of numbers computed and tested in bench_core.leaderboard)

#: how many non-control methods the curves draw in colour (the rest grey)
N_TOP = 6
HIGHLIGHT = "#d62728"
#: tab10 without its red (kept for highlights) and its grey (kept for the rest)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
DPI = 100


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def variant_order(tb) -> list[str]:
    """Every variant of the track, best overall standing first.

    The standing is the mean, over the overall blocks (dataset groups) a variant appears in, of its position
    divided by the block's size; variants in no block follow, by name.
    """
    pos: dict[str, list[float]] = {}
    for block in tb.overall:
        n = max(1, len(block["rows"]))
        for r in block["rows"]:
            pos.setdefault(r["variant"], []).append(r["position"] / n)
    every = sorted({c.variant for cells in tb.datasets.values() for c in cells} | set(pos))
    return sorted(every, key=lambda v: (v not in pos, float(np.mean(pos[v])) if v in pos else 0.0, v))


def controls_of(tb) -> dict[str, str | None]:
    return {c.variant: c.control for cells in tb.datasets.values() for c in cells}


def _label(v: str, control: str | None) -> str:
    return v + {"positive": " (+ control)", "negative": " (− control)"}.get(control or "", "")


def rank_matrix(tb) -> dict[str, Any]:
    """What the heat map draws, as arrays (rows: :func:`variant_order`; columns: the datasets).

    ``good[i, j]`` is 1 for the best complete cell of dataset j and 0 for its worst:
    ``1 − (r − 1) / (n_ranked − 1)`` (1 when one cell is ranked), NaN for an unranked cell, where ``r`` is the
    cell's competition rank among the cells the board ranked there, 1 + the number of them with a strictly
    better mean: cells tied for the best all get the best colour (with the board's average rank, 21 methods
    tied at the top would be coloured as middling). ``value`` is the mean primary score, ``short`` marks cells with a mean but short of
    seeds, ``failed`` maps a cell attempted without any score to its first non-done status, and a cell not
    applicable to the dataset (the oracle on real data, say) to ``n/a``.
    """
    dsets = list(tb.datasets)
    variants = variant_order(tb)
    row = {v: i for i, v in enumerate(variants)}
    good = np.full((len(variants), len(dsets)), np.nan)
    value = np.full((len(variants), len(dsets)), np.nan)
    short = np.zeros((len(variants), len(dsets)), dtype=bool)
    failed: dict[tuple[int, int], str] = {}
    sign = 1.0 if tb.higher_is_better else -1.0
    for j, ds in enumerate(dsets):
        ranked = [sign * c.mean for c in tb.datasets[ds] if c.rank is not None]
        n_ranked = len(ranked)
        for c in tb.datasets[ds]:
            i = row[c.variant]
            if c.mean is not None:
                value[i, j] = c.mean
            if c.rank is not None:
                r = 1 + sum(x > sign * c.mean for x in ranked)
                good[i, j] = 1.0 if n_ranked == 1 else 1.0 - (r - 1.0) / (n_ranked - 1.0)
            elif c.mean is not None:
                short[i, j] = True
            if c.mean is None and c.n_total:
                failed[(i, j)] = sorted(s for s in c.statuses if s != "done")[0] if c.failed else "no score"
            elif c.mean is None and c.note.startswith("n/a"):
                failed[(i, j)] = "n/a"
    return {"variants": variants, "datasets": dsets, "good": good, "value": value, "short": short,
            "failed": failed}


def heatmap(tb, highlight: Collection[str] = ()) -> bytes | None:
    """Methods × datasets, coloured by per-dataset rank (:func:`rank_matrix`); None without data."""
    m = rank_matrix(tb)
    dsets, variants = m["datasets"], m["variants"]
    if not dsets or not variants:
        return None
    good, value, short, failed = m["good"], m["value"], m["short"], m["failed"]
    row = {v: i for i, v in enumerate(variants)}
    plt = _plt()
    from matplotlib.patches import Rectangle

    controls = controls_of(tb)
    width = min(30.0, 3.2 + 0.62 * len(dsets))
    height = 1.9 + 0.25 * len(variants)
    fig, ax = plt.subplots(figsize=(width, height))
    cmap = plt.get_cmap("viridis").with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(good), aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0,
                   interpolation="nearest")
    font = 7 if len(dsets) <= 16 else 6
    for i in range(len(variants)):
        for j in range(len(dsets)):
            if short[i, j]:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, color="0.85", zorder=1))
            if math.isfinite(value[i, j]):
                dark = math.isfinite(good[i, j]) and good[i, j] < 0.55
                ax.text(j, i, f"{value[i, j]:.2f}" + ("†" if short[i, j] else ""), ha="center", va="center",
                        fontsize=font, color="white" if dark else "black", zorder=2)
            elif (i, j) in failed:
                ax.text(j, i, failed[(i, j)], ha="center", va="center", fontsize=font, color="0.35",
                        style="italic", zorder=2)
    ax.set_xticks(range(len(dsets)), dsets, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(variants)), [_label(v, controls.get(v)) for v in variants], fontsize=8)
    ax.set_xticks(np.arange(-0.5, len(dsets)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(variants)), minor=True)
    ax.grid(which="minor", color="white", lw=0.8)
    ax.tick_params(which="minor", length=0)
    for lab, v in zip(ax.get_yticklabels(), variants):
        if v in highlight:
            lab.set_color(HIGHLIGHT)
            lab.set_fontweight("bold")
            ax.add_patch(Rectangle((-0.5, row[v] - 0.5), len(dsets), 1, fill=False, edgecolor=HIGHLIGHT, lw=2.2,
                                   zorder=3))
    cbar = fig.colorbar(im, ax=ax, ticks=[0.0, 1.0], fraction=0.04, pad=0.02)
    cbar.ax.set_yticklabels(["worst", "best"], fontsize=8)
    cbar.set_label("rank within the dataset", fontsize=8)
    ax.set_title(f"{tb.track}: colour = rank of {tb.primary} within each dataset\nnumber = mean {tb.primary}",
                 fontsize=9)
    return _png(fig)


def _line_style(v: str, control: str | None, top: list[str], highlight: Collection[str]) -> dict[str, Any]:
    if v in highlight:
        return {"color": HIGHLIGHT, "lw": 2.6, "ls": "-", "zorder": 6}
    if control == "positive":
        return {"color": "black", "lw": 1.5, "ls": (0, (5, 2)), "zorder": 5}
    if control == "negative":
        return {"color": "0.45", "lw": 1.5, "ls": (0, (5, 2)), "zorder": 5}
    if v in top:
        return {"color": PALETTE[top.index(v) % len(PALETTE)], "lw": 1.7, "ls": "-", "zorder": 4}
    return {"color": "0.78", "lw": 0.8, "ls": "-", "zorder": 2}


def log_ticks(xs: list[float], n: int = 9) -> list[float]:
    """The curve's own x values as tick positions on a log axis, thinned so that neighbours are at least
    1/``n`` of the axis span apart (in log10): both ends kept, then the others from the left."""
    if len(xs) <= 2:
        return list(xs)
    lo, hi = math.log10(xs[0]), math.log10(xs[-1])
    gap = (hi - lo) / n
    kept = [xs[0]]
    for x in xs[1:-1]:
        if math.log10(x) - math.log10(kept[-1]) >= gap and hi - math.log10(x) >= gap:
            kept.append(x)
    return kept + [xs[-1]]


def top_variants(tb, highlight: Collection[str] = (), n_top: int = N_TOP) -> list[str]:
    """The variants the curves draw in colour: the best ``n_top`` by :func:`variant_order` among those with
    curve points, controls and highlighted ones excepted (they have styles of their own)."""
    controls = controls_of(tb)
    drawn = {v for pts in tb.curves.values() for v in pts}
    return [v for v in variant_order(tb) if v in drawn and not controls.get(v) and v not in highlight][:n_top]


def curve_style(tb, v: str, highlight: Collection[str] = (), n_top: int = N_TOP) -> dict[str, Any]:
    """The matplotlib line style of variant ``v`` in the curves (see the module docstring)."""
    return _line_style(v, controls_of(tb).get(v), top_variants(tb, highlight, n_top), highlight)


def curves(tb, highlight: Collection[str] = (), n_top: int = N_TOP) -> bytes | None:
    """One panel per dataset with curve points (see the module docstring); None when the track has none."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    with_curves = [ds for ds in tb.datasets if tb.curves.get(ds)]
    if not with_curves:
        return None
    plt = _plt()
    controls = controls_of(tb)
    order = variant_order(tb)
    drawn = {v for ds in with_curves for v in tb.curves[ds]}
    top = top_variants(tb, highlight, n_top)
    ncol = 2 if len(with_curves) in (2, 4) else min(3, len(with_curves))
    nrow = math.ceil(len(with_curves) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 3.2 * nrow), squeeze=False)
    plain = FuncFormatter(lambda x, _pos: f"{x:g}")
    for ax, ds in zip(axes.flat, with_curves):
        xs_all: set[float] = set()
        for v in sorted(tb.curves[ds], key=lambda v: _line_style(v, controls.get(v), top, highlight)["zorder"]):
            xs, ys = zip(*tb.curves[ds][v])
            xs_all.update(xs)
            style = _line_style(v, controls.get(v), top, highlight)
            ax.plot(xs, ys, marker="." if style["zorder"] > 2 else None, ms=4, **style)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(log_ticks(sorted(x for x in xs_all if x > 0))))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.grid(True, which="major", color="0.92", lw=0.6)
        ax.set_title(ds, fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(with_curves):]:
        ax.axis("off")
    legend = [v for v in order if v in highlight and v in drawn] + top
    legend += [v for v in order if v in drawn and controls.get(v) and v not in highlight]
    handles = [Line2D([], [], **{k: s for k, s in _line_style(v, controls.get(v), top, highlight).items()
                                 if k != "zorder"}) for v in legend]
    labels = [_label(v, controls.get(v)) + ("  ◀ highlighted" if v in highlight else "") for v in legend]
    rest = len(drawn) - len(legend)
    if rest > 0:
        handles.append(Line2D([], [], color="0.78", lw=0.8))
        labels.append(f"{rest} other method(s)")
    fig.suptitle(f"{tb.track}: {tb.curve_label}", fontsize=10)
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=8, frameon=False,
               ncol=min(4, len(labels)))  # below the panels: the figure keeps the page's width
    return _png(fig)


def cd_groups(mean_ranks: Mapping[str, float], cd: float) -> list[list[str]]:
    """Maximal runs of methods (sorted by mean rank) whose mean ranks all lie within ``cd`` of each other:
    the bars of a critical-difference diagram."""
    items = sorted(mean_ranks.items(), key=lambda kv: (kv[1], kv[0]))
    groups: list[list[str]] = []
    for i in range(len(items)):
        j = i
        while j + 1 < len(items) and items[j + 1][1] - items[i][1] <= cd:
            j += 1
        if j > i:
            run = [name for name, _r in items[i:j + 1]]
            if not groups or not set(run) <= set(groups[-1]):
                groups.append(run)
    return groups


def cd_diagram(friedman: Mapping[str, Any], title: str, highlight: Collection[str] = (),
               controls: Mapping[str, str | None] | None = None) -> bytes:
    """A critical-difference diagram (Demšar 2006): mean ranks on an axis, the CD as a scale bar, and a
    bar joining each group of methods not shown to differ."""
    plt = _plt()
    mr = friedman["mean_ranks"]
    k, cd = friedman["k"], friedman["cd"]
    items = sorted(mr.items(), key=lambda kv: (kv[1], kv[0]))
    half = math.ceil(len(items) / 2)
    height = 1.25 + 0.2 * half
    fig, ax = plt.subplots(figsize=(9, height))
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(0, height)
    ax.axis("off")
    top = height - 0.75
    ax.plot([1, k], [top, top], color="black", lw=1)
    step = 1 if k <= 20 else 2
    for r in range(1, k + 1):
        ax.plot([r, r], [top, top + 0.08], color="black", lw=1)
        if (r - 1) % step == 0 or r == k:
            ax.text(r, top + 0.12, str(r), ha="center", va="bottom", fontsize=8)
    end = min(1 + cd, k)  # a CD longer than the axis is drawn to its end, with an arrow, and said so
    ax.plot([1, end], [top + 0.45, top + 0.45], color="black", lw=1.5)
    ax.plot([1, 1], [top + 0.40, top + 0.50], color="black", lw=1.5)
    if end < 1 + cd:
        ax.annotate("", xy=(end + 0.4, top + 0.45), xytext=(end - 0.1, top + 0.45),
                    arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5})
    else:
        ax.plot([end, end], [top + 0.40, top + 0.50], color="black", lw=1.5)
    longer = " (longer than the axis: no two methods are shown to differ)" if end < 1 + cd else ""
    ax.text(1 + (end - 1) / 2, top + 0.52, f"CD = {cd:.2f}{longer}", ha="center", va="bottom", fontsize=8)
    for i, (name, r) in enumerate(items):
        left = i < half
        y = top - 0.3 - 0.2 * (i if left else len(items) - 1 - i)
        x_text = 0.6 if left else k + 0.4
        hl = name in highlight
        ax.plot([r, r, x_text], [top, y, y], color=HIGHLIGHT if hl else "0.3", lw=1.6 if hl else 0.7)
        ax.text(x_text, y, f"{_label(name, (controls or {}).get(name))} ({r:.2f})", ha="left" if not left else "right", va="center", fontsize=8,
                color=HIGHLIGHT if hl else "black", fontweight="bold" if hl else "normal")
    for g, run in enumerate(cd_groups(mr, cd)):
        y = top - 0.12 - 0.06 * g
        ax.plot([mr[run[0]] - 0.03, mr[run[-1]] + 0.03], [y, y], color="black", lw=2.5)
    ax.set_title(f"{title}: Friedman p = {friedman['p']:.3g}, N = {friedman['n']} datasets, k = {k} methods",
                 fontsize=9)
    return _png(fig)


def track_plots(tb, highlight: Collection[str] = ()) -> dict[str, bytes]:
    """The track's figures by file name: ``<track>-heatmap.png``, ``<track>-curves.png`` (when the track has
    curve points) and ``<track>-cd-<group>.png`` for each overall block with a Friedman test."""
    figs: dict[str, bytes] = {}
    hm = heatmap(tb, highlight)
    if hm is not None:
        figs[f"{tb.track}-heatmap.png"] = hm
    cv = curves(tb, highlight)
    if cv is not None:
        figs[f"{tb.track}-curves.png"] = cv
    for block in tb.overall:
        f = block.get("friedman") or {}
        if f.get("tested"):
            figs[f"{tb.track}-cd-{block['group']}.png"] = cd_diagram(f, f"{tb.track}: {block['title']}", highlight,
                                                                 controls_of(tb))
    return figs

# pragma: no mutate end
