"""Static PNG preview maps: the dominant land-cover class and choropleths of unit shares.

The maps are drawn with matplotlib's object-oriented API (a bare :class:`~matplotlib.figure.Figure`
rendered by the Agg canvas; pyplot and its global state are not used), with no basemap and no
network access. Every map has a title, a legend outside the map on the right, a scale bar, a north
arrow (the grid is north-up, so it points to grid north), the CRS and an attribution line. PNGs are
written atomically: to a temporary file in the target folder, then ``os.replace``.

Layout is done in inches: the map keeps the aspect of the data extent, the legend panel has a fixed
width, and the figure grows to fit whichever of the two is taller, so the legend never overlaps the
map whatever the shape of the area.
"""

from __future__ import annotations

import math
import os
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrow, Rectangle
from pyproj import CRS

from ..grid import Grid
from ..landcover.legend import NODATA, Legend

Lang = Literal["en", "nl"]

#: Default classes of :func:`render_share_map` (fractions 0-1; the last class is closed at 1).
DEFAULT_SHARE_CLASSES: tuple[tuple[float, float], ...] = ((0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4),
                                                          (0.4, 1.0))
#: Dark red (little) to dark green (much), ColorBrewer RdYlGn.
DEFAULT_SHARE_COLOURS: tuple[str, ...] = ("#a50026", "#f46d43", "#fee08b", "#a6d96a", "#006837")
NO_VALUE_COLOUR = "#d9d9d9"

_TEXT = {
    "en": {
        "lc_legend": "Land cover",
        "lc_sub": "dominant class per {cell} cell,\n% of the area",
        "crs": "Coordinate system",
        "cell": "cell size",
        "north": "N",
        "scale": "Scale",
        "no_value": "No value",
        "units": "units",
        "share_sub": "% of the unit's area;\nnumber of units per class ({n} in all)",
    },
    "nl": {
        "lc_legend": "Landbedekking",
        "lc_sub": "dominante klasse per cel van {cell},\n% van de oppervlakte",
        "crs": "Coördinatenstelsel",
        "cell": "celgrootte",
        "north": "N",
        "scale": "Schaal",
        "no_value": "Geen waarde",
        "units": "eenheden",
        "share_sub": "% van de oppervlakte van de eenheid;\naantal eenheden per klasse ({n} in totaal)",
    },
}

# Layout constants (inches / points).
_LEGEND_W = 3.8
_MARGIN = 0.25
_TITLE_H = 0.55  # one title line; the map's top edge is this far below the figure's top
_TITLE_LINE_H = 0.27
_TITLE_FONT = 14
_ROW_H = 0.25
_LINE_H = 0.17  # extra height per wrapped label line
_LABEL_CHARS = 36
_GAP = 0.3  # between map and panel
_FURNITURE_H = 0.85  # scale bar and north arrow at the bottom of the panel
_LEGEND_FONT = 9.5
_FOOTER_FONT = 8.0


class LegendEntry(NamedTuple):
    """One line of a land-cover legend: class ``label`` (in the chosen language), ``colour``
    (#rrggbb) and ``share`` of the cells inside the area (0-1) whose dominant class it is."""

    label: str
    colour: str
    share: float


# ---------------------------------------------------------------------------------------------
# Helpers (pure, tested directly)
# ---------------------------------------------------------------------------------------------

def _check_lang(lang: str) -> str:
    if lang not in _TEXT:
        raise ValueError(f"lang must be one of {sorted(_TEXT)}, got {lang!r}")
    return lang


def legend_entries(dominant: np.ndarray, legend: Legend, lang: Lang = "en") -> list[LegendEntry]:
    """The classes present in ``dominant`` in legend (code) order, with their share of the cells
    that are inside the area (every value except ``NODATA`` = 255).

    Raises ``ValueError`` for a code the legend does not know (a raster/legend mismatch).
    """
    _check_lang(lang)
    counts = np.bincount(np.asarray(dominant, dtype=np.uint8).ravel(), minlength=256)
    counts[NODATA] = 0
    total = int(counts.sum())
    known = {c.code for c in legend.classes}
    unknown = sorted(set(np.flatnonzero(counts).tolist()) - known)
    if unknown:
        raise ValueError(f"class code(s) {unknown} in the raster are not in the legend {legend.path}")
    out = []
    for c in legend.classes:
        n = int(counts[c.code])
        if n:
            out.append(LegendEntry(c.name_nl if lang == "nl" else c.name_en, c.colour, n / total))
    return out


def nice_scale_length(extent_m: float, max_fraction: float = 0.25) -> float:
    """Length of the scale bar in metres for a map ``extent_m`` wide.

    Rule: the largest number of the form 1, 2 or 5 x 10^k (k any integer) that is at most
    ``max_fraction`` (a quarter by default) of the extent. So 12 345 m -> 2000 m (a quarter is
    3086), 10 000 m -> 2000 m, 8 000 m -> 2000 m, 7 999 m -> 1000 m, 400 m -> 100 m.
    """
    if not (extent_m > 0 and math.isfinite(extent_m)):
        raise ValueError(f"extent must be a positive finite length, got {extent_m}")
    target = extent_m * max_fraction
    k = math.floor(math.log10(target))
    best = 10.0 ** (k - 1)
    for e in (k, k + 1):  # k + 1 guards against log10 rounding just below an integer
        for m in (1, 2, 5):
            v = m * 10.0 ** e
            if v <= target * (1 + 1e-12):
                best = max(best, v)
    # round away floating-point noise (e.g. 0.30000000000000004)
    return float(f"{best:.12g}")


def format_length(m: float) -> str:
    """``2000`` -> ``"2 km"``, ``500`` -> ``"500 m"``, ``2500`` -> ``"2.5 km"``."""
    if m >= 1000:
        return f"{m / 1000:g} km"
    return f"{m:g} m"


def _fmt_pct(share: float, lang: str) -> str:
    pct = share * 100
    s = "<0.1" if 0 < pct < 0.05 else f"{pct:.1f}"
    if lang == "nl":
        s = s.replace(".", ",")
    return f"{s} %"


def share_class_labels(classes: Sequence[tuple[float, float]], lang: Lang = "en") -> list[str]:
    """``[(0, .1), (.4, 1)]`` -> ``["0–10 %", "40–100 %"]`` (values as % of the unit's area)."""
    def f(v: float) -> str:
        s = f"{v * 100:.4g}"
        return s.replace(".", ",") if lang == "nl" else s

    return [f"{f(lo)}–{f(hi)} %" for lo, hi in classes]


def classify_values(values: np.ndarray, classes: Sequence[tuple[float, float]]) -> np.ndarray:
    """Index of the class of each value; classes are ``[lo, hi)`` except the last, which is
    ``[lo, hi]``. ``-1`` for NaN or a value in no class."""
    v = np.asarray(values, dtype=np.float64)
    idx = np.full(v.shape, -1, dtype=np.int64)
    last = len(classes) - 1
    for i, (lo, hi) in enumerate(classes):
        inside = (v >= lo) & ((v <= hi) if i == last else (v < hi))
        idx[(idx == -1) & inside] = i
    return idx


def _check_classes(classes: Sequence[tuple[float, float]], colours: Sequence[str]) -> None:
    if not classes:
        raise ValueError("at least one class is needed")
    if len(classes) != len(colours):
        raise ValueError(f"{len(classes)} classes but {len(colours)} colours")
    for (lo, hi), nxt in zip(classes, [*classes[1:], None], strict=True):
        if not lo < hi:
            raise ValueError(f"class ({lo}, {hi}) is empty")
        if nxt is not None and nxt[0] < hi:
            raise ValueError(f"classes ({lo}, {hi}) and {nxt} overlap or are not in increasing order")


def _crs_text(crs: str | CRS | None, lang: str) -> str:
    if crs is None:
        return ""
    c = CRS.from_user_input(crs)
    epsg = c.to_epsg()
    name = c.name
    return f"{_TEXT[lang]['crs']}: {name}" + (f" (EPSG:{epsg})" if epsg else "")


def _lut(legend: Legend) -> np.ndarray:
    lut = np.zeros((256, 4), dtype=np.uint8)  # unknown codes and NODATA: transparent
    for c in legend.classes:
        lut[c.code] = c.rgba
    lut[NODATA] = (0, 0, 0, 0)
    return lut


# ---------------------------------------------------------------------------------------------
# Layout and map furniture
# ---------------------------------------------------------------------------------------------

class _Layout(NamedTuple):
    fig: Figure
    ax_map: object
    ax_panel: object
    fig_w: float
    panel_h: float  # inches; panel y coordinates run from 0 (top) to panel_h (bottom)
    bounds: tuple[float, float, float, float]  # data extent shown (exact map aspect)
    inch_per_m: float


def _title_lines(title: str, fig_w: float) -> list[str]:
    """The title wrapped to the figure width (bold 14 pt: about 0.65 em per character)."""
    width = max(20, int((fig_w - 2 * _MARGIN) * 72 / (_TITLE_FONT * 0.65)))
    return textwrap.wrap(title, width) or [""]


def _map_size(bounds: tuple[float, float, float, float], map_size_in: float) -> tuple[float, float]:
    w, h = bounds[2] - bounds[0], bounds[3] - bounds[1]
    if w >= h:
        map_w, map_h = map_size_in, map_size_in * h / w
    else:
        map_w, map_h = map_size_in * w / h, map_size_in
    # very flat or very narrow areas: keep room for title, legend and furniture
    return max(map_w, 3.0), max(map_h, 3.0)


def _fig_width(bounds: tuple[float, float, float, float], map_size_in: float) -> float:
    return _MARGIN + _map_size(bounds, map_size_in)[0] + _GAP + _LEGEND_W + _MARGIN


def _layout(bounds: tuple[float, float, float, float], legend_h: float, n_footer: int,
            map_size_in: float, title: str) -> _Layout:
    """A figure with the map (aspect of ``bounds``, longest side ``map_size_in`` inches) on the left
    and a panel on the right holding the legend (``legend_h`` inches, top) and the scale bar and
    north arrow (bottom); ``n_footer`` text lines at the bottom of the figure."""
    xmin, ymin, xmax, ymax = bounds
    map_w, map_h = _map_size(bounds, map_size_in)
    # widen the data extent (about its centre) to the exact aspect of the map axes
    w, h = xmax - xmin, ymax - ymin
    if w / h < map_w / map_h:
        cx, w = (xmin + xmax) / 2, h * map_w / map_h
        xmin, xmax = cx - w / 2, cx + w / 2
    else:
        cy, h = (ymin + ymax) / 2, w * map_h / map_w
        ymin, ymax = cy - h / 2, cy + h / 2
    panel_h = max(map_h, legend_h + _FURNITURE_H)
    footer_h = 0.2 + n_footer * _FOOTER_FONT / 72 * 1.45
    fig_w = _MARGIN + map_w + _GAP + _LEGEND_W + _MARGIN
    title_lines = _title_lines(title, fig_w)
    title_h = _TITLE_H + (len(title_lines) - 1) * _TITLE_LINE_H
    fig_h = title_h + panel_h + footer_h
    fig = Figure(figsize=(fig_w, fig_h), facecolor="white")
    fig.suptitle("\n".join(title_lines), x=_MARGIN / fig_w, ha="left", y=1 - 0.14 / fig_h, va="top",
                 fontsize=_TITLE_FONT, fontweight="bold", linespacing=1.25)
    ax_map = fig.add_axes((_MARGIN / fig_w, (footer_h + panel_h - map_h) / fig_h, map_w / fig_w, map_h / fig_h))
    ax_panel = fig.add_axes(((_MARGIN + map_w + _GAP) / fig_w, footer_h / fig_h, _LEGEND_W / fig_w,
                             panel_h / fig_h))
    ax_panel.set_axis_off()
    ax_panel.set_xlim(0, _LEGEND_W)
    ax_panel.set_ylim(panel_h, 0)  # y in inches from the top of the panel
    return _Layout(fig, ax_map, ax_panel, fig_w, panel_h, (xmin, ymin, xmax, ymax), map_w / w)


def _setup_map_axes(ax, bounds: tuple[float, float, float, float]) -> None:
    xmin, ymin, xmax, ymax = bounds
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_facecolor("white")
    for s in ax.spines.values():
        s.set_edgecolor("#888888")
        s.set_linewidth(0.6)


def _draw_furniture(lay: _Layout, lang: str) -> float:
    """Scale bar (bottom left of the panel, drawn at the map's scale) and north arrow (bottom
    right; the map is north-up, so it points to grid north). Returns the scale-bar length in metres."""
    ax = lay.ax_panel
    width_m = lay.bounds[2] - lay.bounds[0]
    # at most a quarter of the map, and short enough to leave the north arrow room in the panel
    length = nice_scale_length(width_m, min(0.25, (_LEGEND_W - 1.0) / (width_m * lay.inch_per_m)))
    bar_in = length * lay.inch_per_m
    bar_h = 0.09
    y_bar = lay.panel_h - 0.12 - bar_h  # top edge of the bar, panel y runs downwards
    half = bar_in / 2
    for i, fc in enumerate(("black", "white")):
        ax.add_patch(Rectangle((0.05 + i * half, y_bar), half, bar_h, facecolor=fc, edgecolor="black",
                               linewidth=0.8))
    for frac in (0.0, 0.5, 1.0) if bar_in >= 0.9 else (0.0, 1.0):  # short bar: no middle label
        v = length * frac
        label = format_length(v) if frac == 1.0 else (f"{v / 1000:g}" if length >= 1000 else f"{v:g}")
        if lang == "nl":
            label = label.replace(".", ",")
        ax.text(0.05 + bar_in * frac, y_bar - 0.05, label, ha="center", va="bottom", fontsize=_LEGEND_FONT - 0.5)
    ax.text(0.05, y_bar - 0.30, _TEXT[lang]["scale"], ha="left", va="bottom", fontsize=_LEGEND_FONT - 1,
            color="#444444")
    # north arrow: bottom right of the panel, level with the scale bar
    xa = _LEGEND_W - 0.3
    ax.add_patch(FancyArrow(xa, lay.panel_h - 0.06, 0, -0.42, width=0.06, head_width=0.22, head_length=0.2,
                            length_includes_head=True, color="black"))
    ax.text(xa, lay.panel_h - 0.5, _TEXT[lang]["north"], ha="center", va="bottom", fontsize=11,
            fontweight="bold")
    return length


def _draw_footer(fig: Figure, fig_w: float, lines: list[str]) -> None:
    y = 0.12
    fig_h = fig.get_figheight()
    for line in reversed(lines):
        fig.text(_MARGIN / fig_w, y / fig_h, line, ha="left", va="bottom", fontsize=_FOOTER_FONT,
                 color="#333333")
        y += _FOOTER_FONT / 72 * 1.45


def _footer_lines(parts: list[str], fig_w: float) -> list[str]:
    width = max(40, int((fig_w - 2 * _MARGIN) * 72 / (_FOOTER_FONT * 0.55)))
    out: list[str] = []
    for p in parts:
        if p:
            out.extend(textwrap.wrap(p, width))
    return out


def _wrap_label(label: str) -> list[str]:
    """A legend label on at most two lines of ``_LABEL_CHARS`` characters (ellipsis beyond)."""
    lines = textwrap.wrap(label, _LABEL_CHARS) or [""]
    if len(lines) > 2:
        rest = " ".join(lines[1:])
        lines = [lines[0], rest[: _LABEL_CHARS - 1] + "…"]
    return lines


def _row_height(label: str) -> float:
    return _ROW_H + (len(_wrap_label(label)) - 1) * _LINE_H


def _legend_height(rows: list[tuple[str, str, str]], subtitle: str) -> float:
    """Height in inches of a legend drawn by :func:`_draw_legend_panel`."""
    sub = (0.2 * (subtitle.count("\n") + 1) + 0.15) if subtitle else 0.0
    return 0.35 + sub + sum(_row_height(label) for _, label, _ in rows)


def _draw_legend_panel(ax, title: str, subtitle: str, rows: list[tuple[str, str, str]]) -> None:
    """Legend at the top of the panel; ``rows`` = (colour, label, right-aligned value). Long labels
    wrap onto a second line."""
    y = 0.0
    ax.text(0, y, title, fontsize=_LEGEND_FONT + 2, fontweight="bold", va="top", ha="left")
    y += 0.35
    if subtitle:
        ax.text(0, y, subtitle, fontsize=_LEGEND_FONT - 1, va="top", ha="left", color="#444444",
                linespacing=1.3)
        y += 0.2 * (subtitle.count("\n") + 1) + 0.15
    for colour, label, value in rows:
        lines = _wrap_label(label)
        ax.add_patch(Rectangle((0, y), 0.32, 0.18, facecolor=colour, edgecolor="#444444", linewidth=0.5))
        for i, line in enumerate(lines):
            ax.text(0.45, y + 0.09 + i * _LINE_H, line, fontsize=_LEGEND_FONT, va="center", ha="left")
        ax.text(_LEGEND_W - 0.05, y + 0.09, value, fontsize=_LEGEND_FONT, va="center", ha="right")
        y += _row_height(label)


def _draw_outlines(ax, units, boundary, crs) -> None:
    import geopandas as gpd

    if units is not None and len(units):
        u = units.to_crs(crs) if (crs is not None and units.crs is not None) else units
        u.boundary.plot(ax=ax, color="#404040", linewidth=0.35, zorder=10)
    if boundary is not None and not boundary.is_empty:
        gpd.GeoSeries([boundary]).boundary.plot(ax=ax, color="black", linewidth=1.3, zorder=11)


def _save_atomic(fig: Figure, out_png: Path, dpi: int) -> Path:
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_png.name}.", suffix=".tmp", dir=out_png.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=dpi, facecolor="white")
        os.replace(tmp, out_png)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_png


# ---------------------------------------------------------------------------------------------
# Public renderers
# ---------------------------------------------------------------------------------------------

def render_landcover_map(dominant: np.ndarray, grid: Grid, legend: Legend, out_png: Path, *, title: str,
                         boundary=None, units=None, lang: Lang = "en", attribution: str = "",
                         dpi: int = 150, map_size_in: float = 9.0) -> Path:
    """Draw the dominant land-cover class raster to ``out_png`` (PNG, written atomically) and
    return its path.

    ``dominant``: uint8 (rows, cols) matching ``grid``; 255 = outside the area, drawn transparent
    (white). ``boundary``: shapely geometry in the grid CRS, outlined thick; ``units``:
    GeoDataFrame whose outlines are drawn thin dark grey (reprojected to the grid CRS). The legend
    lists only the classes present, with their share of the cells inside the area (see
    :func:`legend_entries`). ``map_size_in``: longest side of the map in inches; the PNG is about
    ``(map_size_in + 4.4) * dpi`` pixels wide for a landscape area.
    """
    _check_lang(lang)
    dominant = np.asarray(dominant)
    if dominant.shape != grid.shape:
        raise ValueError(f"dominant has shape {dominant.shape}, the grid {grid.shape}")
    entries = legend_entries(dominant, legend, lang)
    t = _TEXT[lang]
    cell = format_length(grid.cell)
    subtitle = t["lc_sub"].format(cell=cell)
    rows = [(e.colour, e.label, _fmt_pct(e.share, lang)) for e in entries]
    footer = _footer_lines([f"{_crs_text(grid.crs, lang)} · {t['cell']} {cell}", attribution],
                           _fig_width(grid.bounds, map_size_in))
    lay = _layout(grid.bounds, _legend_height(rows, subtitle), len(footer), map_size_in, title)
    ax = lay.ax_map
    xmin, ymin, xmax, ymax = grid.bounds
    ax.imshow(_lut(legend)[dominant.astype(np.uint8)], extent=(xmin, xmax, ymin, ymax), origin="upper",
              interpolation="nearest", zorder=1)
    _draw_outlines(ax, units, boundary, grid.crs)
    _setup_map_axes(ax, lay.bounds)  # after plotting: geopandas and imshow autoscale
    _draw_legend_panel(lay.ax_panel, t["lc_legend"], subtitle, rows)
    _draw_furniture(lay, lang)
    _draw_footer(lay.fig, lay.fig_w, footer)
    return _save_atomic(lay.fig, out_png, dpi)


def render_share_map(units, column: str, out_png: Path, *, title: str,
                     classes: Sequence[tuple[float, float]] = DEFAULT_SHARE_CLASSES,
                     colours: Sequence[str] = DEFAULT_SHARE_COLOURS, legend_title: str = "",
                     lang: Lang = "en", attribution: str = "", boundary=None, dpi: int = 150,
                     map_size_in: float = 9.0) -> Path:
    """Choropleth of ``units[column]`` (a share 0-1 of each unit's area, e.g. ``green_share``) to
    ``out_png`` (PNG, written atomically); returns its path.

    ``classes``: ``(lo, hi)`` pairs in increasing order, ``[lo, hi)`` except the last ``[lo, hi]``,
    coloured ``colours`` (first = lowest; default dark red -> dark green). Units with no value or a
    value in no class are drawn grey and listed as "No value". The legend shows the classes as %
    with the number of units in each. ``units`` must be in a projected CRS (metres);
    ``boundary`` (same CRS) is outlined thick.
    """
    _check_lang(lang)
    _check_classes(classes, colours)
    if column not in units.columns:
        raise ValueError(f"units have no column {column!r}")
    if len(units) == 0:
        raise ValueError("no units to draw")
    if units.crs is None or not units.crs.is_projected:
        raise ValueError("units must have a projected CRS (metres) to draw a scale bar")
    t = _TEXT[lang]
    idx = classify_values(units[column].to_numpy(dtype=np.float64, na_value=np.nan), classes)
    counts = [int((idx == i).sum()) for i in range(len(classes))]
    rows = [(c, lab, str(n)) for c, lab, n in zip(colours, share_class_labels(classes, lang), counts, strict=True)]
    n_none = int((idx == -1).sum())
    if n_none:
        rows.append((NO_VALUE_COLOUR, t["no_value"], str(n_none)))
    subtitle = t["share_sub"].format(n=len(units))
    xmin, ymin, xmax, ymax = (float(v) for v in units.total_bounds)
    if boundary is not None and not boundary.is_empty:
        bx = boundary.bounds
        xmin, ymin, xmax, ymax = min(xmin, bx[0]), min(ymin, bx[1]), max(xmax, bx[2]), max(ymax, bx[3])
    pad = 0.02 * max(xmax - xmin, ymax - ymin)
    bounds = (xmin - pad, ymin - pad, xmax + pad, ymax + pad)
    footer = _footer_lines([_crs_text(units.crs, lang), attribution], _fig_width(bounds, map_size_in))
    lay = _layout(bounds, _legend_height(rows, subtitle), len(footer), map_size_in, title)
    ax = lay.ax_map
    fill = [colours[i] if i >= 0 else NO_VALUE_COLOUR for i in idx]
    units.plot(ax=ax, color=fill, edgecolor="white", linewidth=0.5, zorder=5)
    _draw_outlines(ax, None, boundary, None)
    _setup_map_axes(ax, lay.bounds)
    _draw_legend_panel(lay.ax_panel, legend_title or column, subtitle, rows)
    _draw_furniture(lay, lang)
    _draw_footer(lay.fig, lay.fig_w, footer)
    return _save_atomic(lay.fig, out_png, dpi)
