"""PNG maps of raster results: stress-test classes, potential land cover, gaps and opportunities.

Two renderers share the page layout of :mod:`biostress.maps.preview` (title, map, legend panel on
the right, scale bar, north arrow, CRS and attribution line; written atomically):

* :func:`render_category_map`: a uint8 class raster (255 = outside the area, transparent) drawn
  with one colour per category; the legend gives each category's share of the cells inside.
* :func:`render_binned_map`: a float raster (NaN = no value) classified into bins
  ``[lo, hi)`` (the last bin closed, ``-inf``/``inf`` allowed for open ends), e.g. a diverging
  scale around a "no change" bin.

:func:`render_run_maps` draws the standard result maps of a run folder in English and Dutch,
reading each raster decimated to at most ``max_cells`` cells on its long side (nearest neighbour
for classes, the average of the non-NaN cells for values; GDAL resampling through rasterio's
``out_shape``, using the COG overviews), and, when the run holds a plan (layer ``plan_measures``),
:func:`render_plan_map`: the chosen blocks coloured by measure.

Colours are ColorBrewer schemes (Brewer, colorbrewer2.org): PRGn (purple = loss) and Greens
(gain); the stress-test classes use the colours of ``stresstest_classes.csv``; the plan map uses
Paul Tol's "muted" qualitative scheme (colour-blind-safe; Tol, SRON/EPS/TN/09-002).
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyogrio
import rasterio
import shapely
from matplotlib.patches import Rectangle
from rasterio.enums import Resampling
from rasterio.windows import Window

from ..errors import ConfigError, InputDataError
from ..grid import Grid
from ..landcover.legend import NODATA, Legend, load_legend
from .preview import (
    _LABEL_CHARS,
    _LEGEND_FONT,
    _LINE_H,
    _ROW_H,
    _TEXT,
    NO_VALUE_COLOUR,
    Lang,
    LegendEntry,
    _check_classes,
    _check_lang,
    _crs_text,
    _draw_footer,
    _draw_furniture,
    _draw_legend_panel,
    _draw_outlines,
    _fig_width,
    _fmt_pct,
    _footer_lines,
    _layout,
    _legend_height,
    _save_atomic,
    _setup_map_axes,
    classify_values,
    format_length,
)

__all__ = [
    "GAP_GREEN_BINS",
    "GAP_HABITAT_BINS",
    "GAP_COLOURS",
    "Category",
    "MapOutput",
    "bin_labels",
    "binned_legend",
    "category_legend",
    "GAIN_COLOURS",
    "GAIN_NONE_COLOUR",
    "PLAN_COLOURS",
    "PLAN_LAYER",
    "PLAN_OTHER_COLOUR",
    "PLAN_SEVERAL_COLOUR",
    "PlanLegendEntry",
    "format_count",
    "format_eur",
    "gain_bins",
    "gain_labels",
    "plan_legend",
    "render_binned_map",
    "render_category_map",
    "render_plan_map",
    "render_run_maps",
]

#: ``(value, label, "#rrggbb")``: one class of a category map.
Category = tuple[int, str, str]
#: ``(relative name in the run folder, path of the PNG written, description)``.
MapOutput = tuple[str, Path, str]

_HEX = re.compile(r"#[0-9a-fA-F]{6}")

_RTEXT = {
    "en": {
        "cat_sub": "per {cell} cell, % of the area",
        "no_change": "No change",
        "no_gain": "No gain",
    },
    "nl": {
        "cat_sub": "per cel van {cell}, % van de oppervlakte",
        "no_change": "Geen verandering",
        "no_gain": "Geen winst",
    },
}

#: Gap maps (potential minus current): two loss bins, a "no change" bin around 0, four gain bins.
#: Habitat quality is an index 0-1; the green share is drawn in percentage points (fraction x 100).
GAP_HABITAT_BINS: tuple[tuple[float, float], ...] = (
    (-math.inf, -0.05), (-0.05, -0.01), (-0.01, 0.01), (0.01, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, math.inf))
GAP_GREEN_BINS: tuple[tuple[float, float], ...] = (
    (-math.inf, -5.0), (-5.0, -1.0), (-1.0, 1.0), (1.0, 5.0), (5.0, 10.0), (10.0, 20.0), (20.0, math.inf))
#: PRGn purples for losses, a near-white "no change", ColorBrewer Greens (4 classes) for gains.
GAP_COLOURS: tuple[str, ...] = ("#af8dc3", "#e7d4e8", "#f7f7f7", "#bae4b3", "#74c476", "#31a354", "#006d2c")
_NO_CHANGE_BIN = 2
#: Opportunity gain: "no gain" then ColorBrewer Greens (light -> dark) for :func:`gain_bins`.
GAIN_NONE_COLOUR = "#f7f7f7"
GAIN_COLOURS: tuple[str, ...] = ("#c7e9c0", "#a1d99b", "#74c476", "#31a354", "#006d2c")


# ---------------------------------------------------------------------------------------------
# Legends (pure, tested directly)
# ---------------------------------------------------------------------------------------------

def _rgba(colour: str) -> tuple[int, int, int, int]:
    h = colour.lstrip("#")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255)


def _check_categories(categories: Sequence[Category]) -> None:
    if not categories:
        raise ValueError("at least one category is needed")
    seen: set[int] = set()
    for value, label, colour in categories:
        if not (isinstance(value, int | np.integer) and 0 <= int(value) <= 254):
            raise ValueError(f"category value {value!r} must be a whole number 0-254 (255 = outside the area)")
        if int(value) in seen:
            raise ValueError(f"category value {value} is given twice")
        seen.add(int(value))
        if not str(label).strip():
            raise ValueError(f"category {value} has no label")
        if not (isinstance(colour, str) and _HEX.fullmatch(colour)):
            raise ValueError(f"category {value}: colour {colour!r} is not #rrggbb")


def _inside_mask(inside: np.ndarray | None, shape: tuple[int, int], base: np.ndarray) -> np.ndarray:
    """Cells inside the area: ``base`` (cells with data) plus ``inside`` where given."""
    if inside is None:
        return base
    inside = np.asarray(inside, dtype=bool)
    if inside.shape != shape:
        raise ValueError(f"inside has shape {inside.shape}, the values {shape}")
    return base | inside


def category_legend(values: np.ndarray, categories: Sequence[Category], lang: Lang = "en", *,
                    inside: np.ndarray | None = None, show_empty: bool = True) -> list[LegendEntry]:
    """Legend of a class raster: one entry per category (in the order given) with its share of
    the cells inside the area, then (if any) a grey "No value" entry for the cells inside whose
    value is not a category.

    Cells inside = every value other than 255, plus the cells where ``inside`` is True (a 255 there
    counts as "no value"). ``show_empty=False`` leaves out categories with no cell. Shares are
    ``count / n_inside`` (0-1); all 0 when no cell is inside.
    """
    _check_lang(lang)
    _check_categories(categories)
    v = np.asarray(values)
    ins = _inside_mask(inside, v.shape, v != NODATA)
    counts = np.bincount(v[ins].astype(np.uint8).ravel(), minlength=256)
    total = int(counts.sum())
    out: list[LegendEntry] = []
    known = 0
    for value, label, colour in categories:
        n = int(counts[int(value)])
        known += n
        if n or show_empty:
            out.append(LegendEntry(label, colour.lower(), n / total if total else 0.0))
    if total - known:
        out.append(LegendEntry(_TEXT[lang]["no_value"], NO_VALUE_COLOUR, (total - known) / total))
    return out


def _decimals(edges: Sequence[float]) -> int:
    """Fewest decimals (0-6) that write every finite edge exactly (0.05 -> 2, 10 -> 0)."""
    finite = [e for e in edges if math.isfinite(e)]
    for d in range(7):
        if all(abs(round(e, d) - e) <= 1e-9 * max(1.0, abs(e)) for e in finite):
            return d
    return 6


def _fmt_num(v: float, decimals: int, lang: str) -> str:
    if v == 0:
        return "0"
    s = f"{abs(v):.{decimals}f}"
    if lang == "nl":
        s = s.replace(".", ",")
    return ("\u2212" if v < 0 else "") + s


def bin_labels(bins: Sequence[tuple[float, float]], lang: Lang = "en", unit_label: str = "",
               decimals: int | None = None) -> list[str]:
    """Legend labels of ``bins``: ``"0.10 – 0.20"``, ``"< 0"`` for ``(-inf, 0)`` and ``"≥ 0.5"``
    for ``(0.5, inf)`` (bins are ``[lo, hi)``), followed by `` unit_label`` when given.

    Every number gets the same number of decimals (``decimals``, default: the fewest that write
    all finite edges exactly); 0 is written ``0``; negative numbers with a minus sign (U+2212);
    Dutch with a decimal comma.
    """
    _check_lang(lang)
    d = _decimals([e for b in bins for e in b]) if decimals is None else decimals
    unit = f" {unit_label}" if unit_label else ""
    out = []
    for lo, hi in bins:
        if math.isinf(lo) and math.isinf(hi):
            out.append("all values" if lang == "en" else "alle waarden")
        elif math.isinf(lo):
            out.append(f"< {_fmt_num(hi, d, lang)}{unit}")
        elif math.isinf(hi):
            out.append(f"\u2265 {_fmt_num(lo, d, lang)}{unit}")
        else:
            out.append(f"{_fmt_num(lo, d, lang)} \u2013 {_fmt_num(hi, d, lang)}{unit}")
    return out


def _check_bins(bins: Sequence[tuple[float, float]], colours: Sequence[str]) -> None:
    _check_classes(bins, colours)
    for lo, hi in bins:
        if math.isnan(lo) or math.isnan(hi):
            raise ValueError(f"bin ({lo}, {hi}) has a NaN edge")
    for c in colours:
        if not (isinstance(c, str) and _HEX.fullmatch(c)):
            raise ValueError(f"colour {c!r} is not #rrggbb")


def binned_legend(values: np.ndarray, bins: Sequence[tuple[float, float]], colours: Sequence[str],
                  lang: Lang = "en", *, labels: Sequence[str] | None = None, unit_label: str = "",
                  inside: np.ndarray | None = None) -> list[LegendEntry]:
    """Legend of a value raster classified into ``bins`` (see :func:`classify_values`: ``[lo, hi)``,
    the last bin closed): every bin with its label (``labels`` or :func:`bin_labels`), colour and
    share of the cells inside, then a grey "No value" entry for the cells inside that are NaN or in
    no bin. Cells inside = finite values, plus the cells where ``inside`` is True."""
    _check_lang(lang)
    _check_bins(bins, colours)
    labs = list(labels) if labels is not None else bin_labels(bins, lang, unit_label)
    if len(labs) != len(bins):
        raise ValueError(f"{len(bins)} bins but {len(labs)} labels")
    v = np.asarray(values, dtype=np.float64)
    ins = _inside_mask(inside, v.shape, np.isfinite(v))
    idx = classify_values(v, bins)[ins]
    total = int(idx.size)
    counts = np.bincount(idx + 1, minlength=len(bins) + 1)  # slot 0: no value
    out = [LegendEntry(lab, col.lower(), int(n) / total if total else 0.0)
           for lab, col, n in zip(labs, colours, counts[1:], strict=True)]
    if counts[0]:
        out.append(LegendEntry(_TEXT[lang]["no_value"], NO_VALUE_COLOUR, int(counts[0]) / total))
    return out


def _nice_step(x: float) -> float:
    """Smallest 1, 2, 2.5 or 5 x 10^k that is >= ``x`` (> 0)."""
    k = math.floor(math.log10(x))
    for e in (k - 1, k, k + 1):
        for m in (1.0, 2.0, 2.5, 5.0):
            v = float(f"{m * 10.0 ** e:.12g}")
            if v >= x * (1 - 1e-12):
                return v
    return 10.0 ** (k + 1)


def gain_bins(values: np.ndarray, n: int = 5) -> list[tuple[float, float]]:
    """Bins for a gain raster: ``[(-inf, e), (e, s), (s, 2s), ..., ((n-1)s, inf)]``.

    ``s`` is the smallest 1, 2, 2.5 or 5 x 10^k such that ``n * s`` reaches the 98th percentile of
    the positive values (so at most about 2 % of the positive cells fall in the open last bin);
    ``s = 1`` without positive values. The first bin, up to ``e = s * 1e-6``, holds "no gain"
    (zero, up to floating-point noise, and losses); see :func:`gain_labels`.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    v = np.asarray(values, dtype=np.float64)
    pos = v[np.isfinite(v) & (v > 0)]
    s = _nice_step(float(np.percentile(pos, 98)) / n) if pos.size else 1.0
    e = s * 1e-6
    edges = [e, *[i * s for i in range(1, n)], math.inf]
    return [(-math.inf, e), *zip(edges[:-1], edges[1:], strict=True)]


def gain_labels(bins: Sequence[tuple[float, float]], lang: Lang = "en", unit_label: str = "") -> list[str]:
    """Labels of :func:`gain_bins`: "No gain" / "Geen winst", then the bins with the tiny first
    edge written as 0 (``"0 – 0.1"``, ..., ``"≥ 0.4"``)."""
    shown = [(0.0, bins[1][1]), *bins[2:]]
    return [_RTEXT[lang]["no_gain"], *bin_labels(shown, lang, unit_label)]


# ---------------------------------------------------------------------------------------------
# Renderers
# ---------------------------------------------------------------------------------------------

def _draw(rgba: np.ndarray, grid: Grid, entries: list[LegendEntry], out_png: Path, *, title: str,
          legend_title: str, subtitle: str, boundary, units, lang: str, attribution: str, dpi: int,
          map_size_in: float) -> Path:
    t = _TEXT[lang]
    rows = [(e.colour, e.label, _fmt_pct(e.share, lang)) for e in entries]
    footer = _footer_lines([f"{_crs_text(grid.crs, lang)} · {t['cell']} {format_length(grid.cell)}", attribution],
                           _fig_width(grid.bounds, map_size_in))
    lay = _layout(grid.bounds, _legend_height(rows, subtitle), len(footer), map_size_in, title)
    xmin, ymin, xmax, ymax = grid.bounds
    lay.ax_map.imshow(rgba, extent=(xmin, xmax, ymin, ymax), origin="upper", interpolation="nearest", zorder=1)
    _draw_outlines(lay.ax_map, units, boundary, grid.crs)
    _setup_map_axes(lay.ax_map, lay.bounds)  # after plotting: geopandas and imshow autoscale
    _draw_legend_panel(lay.ax_panel, legend_title, subtitle, rows)
    _draw_furniture(lay, lang)
    _draw_footer(lay.fig, lay.fig_w, footer)
    return _save_atomic(lay.fig, out_png, dpi)


def _check_shape(values: np.ndarray, grid: Grid) -> None:
    if values.ndim != 2 or values.shape != grid.shape:
        raise ValueError(f"values have shape {values.shape}, the grid {grid.shape}")


def render_category_map(values: np.ndarray, grid: Grid, categories: Sequence[Category], out_png: Path, *,
                        title: str, legend_title: str, boundary=None, units=None, lang: Lang = "en",
                        attribution: str = "", dpi: int = 150, inside: np.ndarray | None = None,
                        subtitle: str | None = None, show_empty: bool = True,
                        map_size_in: float = 9.0) -> Path:
    """Draw the class raster ``values`` (uint8 rows x cols matching ``grid``; 255 = outside the
    area, transparent) to ``out_png`` (PNG, written atomically) and return its path.

    ``categories``: ``[(value, label, "#rrggbb"), ...]``; cells inside with any other value are
    drawn grey and listed as "No value" / "Geen waarde". The legend lists every category (only
    those present with ``show_empty=False``) with its share of the cells inside
    (:func:`category_legend`; ``inside``: optional bool mask of cells inside the area, so that a
    255 inside counts as no value). ``subtitle`` defaults to "per <cell> cell, % of the area".
    ``boundary`` (shapely, grid CRS) is outlined thick, ``units`` (GeoDataFrame) thin.
    """
    _check_lang(lang)
    v = np.asarray(values)
    _check_shape(v, grid)
    if v.dtype.kind not in "ui":
        raise ValueError(f"a category raster must hold whole numbers, got {v.dtype}")
    if v.size and (v.min() < 0 or v.max() > 255):
        raise ValueError("category raster values must be 0-255 (255 = outside the area)")
    v = v.astype(np.uint8)
    entries = category_legend(v, categories, lang, inside=inside, show_empty=show_empty)
    lut = np.zeros((256, 4), dtype=np.uint8)
    lut[:] = _rgba(NO_VALUE_COLOUR)
    for value, _, colour in categories:
        lut[int(value)] = _rgba(colour)
    rgba = lut[v]
    ins = _inside_mask(inside, v.shape, v != NODATA)
    rgba[~ins] = 0  # outside: transparent
    if subtitle is None:
        subtitle = _RTEXT[lang]["cat_sub"].format(cell=format_length(grid.cell))
    return _draw(rgba, grid, entries, out_png, title=title, legend_title=legend_title, subtitle=subtitle,
                 boundary=boundary, units=units, lang=lang, attribution=attribution, dpi=dpi,
                 map_size_in=map_size_in)


def render_binned_map(values: np.ndarray, grid: Grid, bins: Sequence[tuple[float, float]],
                      colours: Sequence[str], out_png: Path, *, title: str, legend_title: str, unit_label: str,
                      labels: Sequence[str] | None = None, boundary=None, units=None, lang: Lang = "en",
                      attribution: str = "", dpi: int = 150, inside: np.ndarray | None = None,
                      subtitle: str | None = None, map_size_in: float = 9.0) -> Path:
    """Draw the value raster ``values`` (float rows x cols matching ``grid``; NaN = no value)
    classified into ``bins`` (``[lo, hi)`` in increasing order, the last closed; ``-inf``/``inf``
    for open ends) coloured ``colours`` (first = lowest; diverging schemes are fine) to ``out_png``.

    Legend labels come from :func:`bin_labels` with ``unit_label`` appended (``""`` for none)
    unless ``labels`` are given; each bin shows its share of the cells inside. NaN cells are
    transparent (outside), except where ``inside`` is True: those, and values in no bin, are grey
    "No value". Returns the path written.
    """
    _check_lang(lang)
    v = np.asarray(values)
    _check_shape(v, grid)
    if v.dtype.kind not in "fiu":
        raise ValueError(f"a value raster must hold numbers, got {v.dtype}")
    v = v.astype(np.float64)
    entries = binned_legend(v, bins, colours, lang, labels=labels, unit_label=unit_label, inside=inside)
    idx = classify_values(v, bins)
    lut = np.array([_rgba(NO_VALUE_COLOUR), *(_rgba(c) for c in colours)], dtype=np.uint8)
    rgba = lut[idx + 1]
    rgba[~_inside_mask(inside, v.shape, np.isfinite(v))] = 0
    if subtitle is None:
        subtitle = _RTEXT[lang]["cat_sub"].format(cell=format_length(grid.cell))
    return _draw(rgba, grid, entries, out_png, title=title, legend_title=legend_title, subtitle=subtitle,
                 boundary=boundary, units=units, lang=lang, attribution=attribution, dpi=dpi,
                 map_size_in=map_size_in)


# ---------------------------------------------------------------------------------------------
# Run folder
# ---------------------------------------------------------------------------------------------

@dataclass
class _Preview:
    values: np.ndarray
    grid: Grid
    colormap: dict[int, tuple[int, ...]] | None
    unit: str


def _read_preview(path: Path, grid: Grid, max_cells: int, categorical: bool) -> _Preview:
    """``path`` read with at most ``max_cells`` cells on the long side: blocks of ``step x step``
    cells (``step = ceil(long side / max_cells)``) become one cell, by nearest neighbour
    (``categorical``) or by the mean of the non-NaN cells. The last row/column of blocks is padded
    with nodata so the preview cells stay square and aligned with the grid."""
    step = max(1, math.ceil(max(grid.shape) / max_cells))
    oh, ow = math.ceil(grid.height / step), math.ceil(grid.width / step)
    with rasterio.open(path) as ds:
        if (ds.height, ds.width) != grid.shape or not ds.transform.almost_equals(grid.transform):
            raise InputDataError(f"{path.name} ({ds.height} x {ds.width} cells) is not on the analysis grid "
                                 f"({grid.height} x {grid.width}).",
                                 hint="Render the maps of the run that wrote this raster, with its own grid.")
        nodata = ds.nodata if ds.nodata is not None else (NODATA if categorical else math.nan)
        kw: dict = {"out_shape": (oh, ow),
                    "resampling": Resampling.nearest if categorical else Resampling.average}
        if (oh * step, ow * step) != grid.shape:
            kw.update(window=Window(0, 0, ow * step, oh * step), boundless=True, fill_value=nodata)
        a = ds.read(1, **kw)
        try:
            cmap = dict(ds.colormap(1)) if categorical else None
        except ValueError:  # no colour table
            cmap = None
        unit = ds.units[0] or ""
    if categorical:
        a = np.where(a == nodata, NODATA, a).astype(np.uint8) if nodata != NODATA else a.astype(np.uint8)
    else:
        a = a.astype(np.float32)
        if not math.isnan(nodata):
            a[a == nodata] = np.nan
    return _Preview(a, Grid(grid.crs, grid.x0, grid.y1, grid.cell * step, ow, oh), cmap, unit)


def _hex(rgba: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in rgba[:3]))


def _with_area(text: str, area_name: str) -> str:
    return f"{text}, {area_name}" if area_name else text


_TITLES = {
    "stress_class": {"en": "Stress test: robustness and vulnerability",
                     "nl": "Stresstest: robuustheid en kwetsbaarheid"},
    "potential_landcover": {"en": "Potential land cover", "nl": "Potentiële landbedekking"},
    "gap_habitat_quality": {"en": "Potential gain in habitat quality",
                            "nl": "Potentiële winst in habitatkwaliteit"},
    "gap_green_share": {"en": "Potential gain in green share", "nl": "Potentiële toename van het aandeel groen"},
    "opportunity_gain": {"en": "Opportunities: expected gain", "nl": "Kansen: verwachte winst"},
}
_LEGEND_TITLES = {
    "stress_class": {"en": "Stress-test class", "nl": "Stresstestklasse"},
    "potential_landcover": {"en": "Land cover", "nl": "Landbedekking"},
    "gap_habitat_quality": {"en": "Change in habitat quality", "nl": "Verandering habitatkwaliteit"},
    "gap_green_share": {"en": "Change in green share", "nl": "Verandering aandeel groen"},
    "opportunity_gain": {"en": "Expected gain", "nl": "Verwachte winst"},
}
_SUBTITLES = {
    "stress_class": {"en": "score S = robustness × (1 − vulnerability);\n",
                     "nl": "score S = robuustheid × (1 − kwetsbaarheid);\n"},
    "potential_landcover": {"en": "dominant class after realistic changes;\n",
                            "nl": "dominante klasse na realistische veranderingen;\n"},
    "gap_habitat_quality": {"en": "potential minus current (index 0-1);\n",
                            "nl": "potentieel min huidig (index 0-1);\n"},
    "gap_green_share": {"en": "potential minus current;\n", "nl": "potentieel min huidig;\n"},
    "opportunity_gain": {"en": "{unit}", "nl": "{unit}"},
}
_CB = {"en": " (colour-blind-safe colours)", "nl": " (kleurenblindvriendelijke kleuren)"}
_PP = {"en": "percentage points", "nl": "procentpunt"}
_UNIT_NL = {"index 0-1": "index 0-1", "fraction 0-1": "fractie 0-1"}
_DESCRIPTIONS = {
    "stress_class": "Map of the stress-test classes (robustness and vulnerability) with legend ({lang})",
    "stress_class_cb": "Map of the stress-test classes in colour-blind-safe colours with legend ({lang})",
    "potential_landcover": "Map of the potential land cover (dominant class) with legend ({lang})",
    "gap_habitat_quality": "Map of the potential gain in habitat quality (potential minus current) ({lang})",
    "gap_green_share": "Map of the potential gain in green share (potential minus current) ({lang})",
    "opportunity_gain": "Map of the expected gain of the opportunities ({lang})",
    "plan": "Map of the plan: the measure chosen in each block, with the number of blocks and the cost "
            "per measure ({lang})",
}


def render_run_maps(run_dir: Path | str, grid: Grid, *, out_dir: Path | str, boundary=None, units=None,
                    attribution: str = "", area_name: str = "", params_dir: Path | str | None = None,
                    legend: Legend | None = None, max_cells: int = 2000, dpi: int = 150,
                    map_size_in: float = 9.0) -> list[MapOutput]:
    """Render the standard result maps of the run folder ``run_dir`` (on ``grid``) in English and
    Dutch into ``out_dir`` and return ``(relative name, path, description)`` per PNG, e.g.
    ``("maps/stress_class_en.png", out_dir / "stress_class_en.png", "Map of ...")``.

    Each raster that exists is drawn; missing ones are skipped:

    * ``stress_class.tif``: classes of ``stresstest_classes.csv`` (``params_dir`` may hold the
      area's copy), colours from the raster's colour table (falling back to the table), labels
      label_en / label_nl; again in the colour-blind-safe colours ``colour_cb``
      (``stress_class_cb_{lang}.png``).
    * ``potential_landcover.tif``: land-cover ``legend`` (default :func:`load_legend`) colours and
      names; only the classes present are listed.
    * ``gap_habitat_quality.tif`` (:data:`GAP_HABITAT_BINS`) and ``gap_green_share.tif`` (drawn
      in percentage points, :data:`GAP_GREEN_BINS`): purple for losses, a "no change" bin around
      0, white -> dark green for gains (:data:`GAP_COLOURS`).
    * ``opportunity_gain.tif``: light -> dark green, bins from :func:`gain_bins`.
    * the layer ``plan_measures`` of ``biostress.gpkg`` (a plan): :func:`render_plan_map`
      (``plan_{lang}.png``), measure names from the catalogue (``params_dir``'s copy if present),
      drawn over the extent of ``grid``.

    Rasters are read at most ``max_cells`` cells on the long side (:func:`_read_preview`). The
    cells inside the area are taken from ``landcover.tif`` when present (255 = outside), so that
    cells inside without a value show as "No value". A raster not on ``grid`` is an
    :class:`InputDataError`.
    """
    from ..stresstest import load_classes

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if max_cells < 1:
        raise ValueError(f"max_cells must be at least 1, got {max_cells}")
    out: list[MapOutput] = []
    inside = None
    if (run_dir / "landcover.tif").exists():
        lc = _read_preview(run_dir / "landcover.tif", grid, max_cells, categorical=True)
        inside = lc.values != NODATA
    common = {"boundary": boundary, "units": units, "attribution": attribution, "dpi": dpi,
              "map_size_in": map_size_in, "inside": inside}

    def emit(stem: str, kind: str, lang: str, path: Path) -> None:
        out.append((f"maps/{stem}_{lang}.png", path, _DESCRIPTIONS[kind].format(lang=lang)))

    def texts(kind: str, lang: str, cell: float, **fmt: str) -> dict[str, str]:
        sub = _SUBTITLES[kind][lang].format(**fmt) + _RTEXT[lang]["cat_sub"].format(cell=format_length(cell))
        return {"title": _with_area(_TITLES[kind][lang], area_name), "legend_title": _LEGEND_TITLES[kind][lang],
                "subtitle": sub}

    p = run_dir / "stress_class.tif"
    if p.exists():
        pv = _read_preview(p, grid, max_cells, categorical=True)
        classes = load_classes(params_dir)
        cmap = pv.colormap or {}
        for cb in (False, True):
            stem = "stress_class_cb" if cb else "stress_class"
            for lang in ("en", "nl"):
                cats = [(c.code, c.label_nl if lang == "nl" else c.label_en,
                         c.colour_cb if cb else (_hex(cmap[c.code]) if c.code in cmap else c.colour))
                        for c in classes]
                tx = texts("stress_class", lang, pv.grid.cell)
                if cb:
                    tx["title"] += _CB[lang]
                path = render_category_map(pv.values, pv.grid, cats, out_dir / f"{stem}_{lang}.png",
                                           lang=lang, **tx, **common)  # type: ignore[arg-type]
                emit(stem, stem, lang, path)

    p = run_dir / "potential_landcover.tif"
    if p.exists():
        pv = _read_preview(p, grid, max_cells, categorical=True)
        leg = load_legend() if legend is None else legend
        for lang in ("en", "nl"):
            cats = [(c.code, c.name_nl if lang == "nl" else c.name_en, c.colour) for c in leg.classes]
            path = render_category_map(pv.values, pv.grid, cats, out_dir / f"potential_landcover_{lang}.png",
                                       lang=lang, show_empty=False,  # type: ignore[arg-type]
                                       **texts("potential_landcover", lang, pv.grid.cell), **common)
            emit("potential_landcover", "potential_landcover", lang, path)

    for name, bins, scale, unit in (("gap_habitat_quality", GAP_HABITAT_BINS, 1.0, None),
                                    ("gap_green_share", GAP_GREEN_BINS, 100.0, _PP)):
        p = run_dir / f"{name}.tif"
        if not p.exists():
            continue
        pv = _read_preview(p, grid, max_cells, categorical=False)
        vals = pv.values * np.float32(scale)
        for lang in ("en", "nl"):
            ul = unit[lang] if unit else ""
            labels = bin_labels(bins, lang, ul)  # type: ignore[arg-type]
            labels[_NO_CHANGE_BIN] = f"{_RTEXT[lang]['no_change']} ({labels[_NO_CHANGE_BIN]})"
            path = render_binned_map(vals, pv.grid, bins, GAP_COLOURS, out_dir / f"{name}_{lang}.png",
                                     unit_label=ul, labels=labels, lang=lang,  # type: ignore[arg-type]
                                     **texts(name, lang, pv.grid.cell), **common)
            emit(name, name, lang, path)

    p = run_dir / "opportunity_gain.tif"
    if p.exists():
        pv = _read_preview(p, grid, max_cells, categorical=False)
        bins = gain_bins(pv.values, len(GAIN_COLOURS))
        for lang in ("en", "nl"):
            unit = _UNIT_NL.get(pv.unit, pv.unit) if lang == "nl" else pv.unit
            labels = gain_labels(bins, lang)  # type: ignore[arg-type]
            tx = texts("opportunity_gain", lang, pv.grid.cell, unit=f"{unit};\n" if unit else "")
            path = render_binned_map(pv.values, pv.grid, bins, (GAIN_NONE_COLOUR, *GAIN_COLOURS),
                                     out_dir / f"opportunity_gain_{lang}.png", unit_label="", labels=labels,
                                     lang=lang, **tx, **common)  # type: ignore[arg-type]
            emit("opportunity_gain", "opportunity_gain", lang, path)

    gpkg = run_dir / "biostress.gpkg"
    if gpkg.is_file() and PLAN_LAYER in {n for n, _ in pyogrio.list_layers(gpkg)}:
        import geopandas as gpd

        from ..measures import load_catalogue

        blocks = gpd.read_file(gpkg, layer=PLAN_LAYER)
        if blocks.crs is not None and grid.crs is not None:
            blocks = blocks.to_crs(grid.crs)
        cat = load_catalogue(params_dir=params_dir, legend=legend)
        for lang in ("en", "nl"):
            path = render_plan_map(blocks, out_dir / f"plan_{lang}.png",
                                   title=_with_area(_PTEXT[lang]["title"], area_name),
                                   legend_title=_PTEXT[lang]["legend"], boundary=boundary, units=units,
                                   lang=lang, attribution=attribution, catalogue=cat,  # type: ignore[arg-type]
                                   dpi=dpi, map_size_in=map_size_in, bounds=grid.bounds)
            emit("plan", "plan", lang, path)
    return out


# ---------------------------------------------------------------------------------------------
# Plan map: the measure chosen in each block
# ---------------------------------------------------------------------------------------------

#: Paul Tol's "muted" qualitative scheme (9 colours, distinct for colour-blind readers; Tol, P.,
#: "Colour Schemes", SRON/EPS/TN/09-002, personal.sron.nl/~pault), in Tol's order. Measures get
#: these in legend order (most blocks first); with more than nine measures the first eight keep
#: theirs and the rest share :data:`PLAN_OTHER_COLOUR` (see :func:`plan_legend`).
PLAN_COLOURS: tuple[str, ...] = ("#cc6677", "#332288", "#ddcc77", "#117733", "#88ccee", "#882255", "#44aa99",
                                 "#999933", "#aa4499")
#: GeoPackage layer of a run's plan (block polygons with ``measure`` and ``cost``).
PLAN_LAYER = "plan_measures"
#: Tol's pale grey: the measures without a colour of their own, one "other measures" legend row.
PLAN_OTHER_COLOUR = "#dddddd"
#: Blocks that hold more than one measure (plans with shared site capacity).
PLAN_SEVERAL_COLOUR = "#777777"

_PTEXT = {
    "en": {"block": "block", "blocks": "blocks", "other": "Other measures ({n})",
           "several": "Blocks with several measures", "none": "No measures chosen",
           "size": "blocks of {w} × {h};\nper measure: blocks and net present cost;\n",
           "total": "total: {n} {blocks}, {cost}", "title": "Plan: measures for the budget",
           "legend": "Measure", "block_foot": "block size"},
    "nl": {"block": "blok", "blocks": "blokken", "other": "Overige maatregelen ({n})",
           "several": "Blokken met meer maatregelen", "none": "Geen maatregelen gekozen",
           "size": "blokken van {w} × {h};\nper maatregel: blokken en netto contante kosten;\n",
           "total": "totaal: {n} {blocks}, {cost}", "title": "Plan: maatregelen voor het budget",
           "legend": "Maatregel", "block_foot": "blokgrootte"},
}


class PlanLegendEntry(NamedTuple):
    """One row of the plan legend: ``name`` of the measure (or group) in the map language, its
    ``colour`` (#rrggbb), the number of ``blocks`` that hold it and their total ``cost`` (EUR, the
    plan's net present cost); ``measures`` lists the catalogue ids drawn in this colour."""

    name: str
    colour: str
    blocks: int
    cost: float
    measures: tuple[str, ...]
    lang: str = "en"

    @property
    def detail(self) -> str:
        """``"64 blocks, EUR 344k"``."""
        return f"{format_count(self.blocks, self.lang)} {_block_word(self.blocks, self.lang)}, " \
               f"{format_eur(self.cost, self.lang)}"

    @property
    def label(self) -> str:
        """``"Street tree with good rooting space — 64 blocks, EUR 344k"``."""
        return f"{self.name} \u2014 {self.detail}"


def _block_word(n: int, lang: str) -> str:
    return _PTEXT[lang]["block" if n == 1 else "blocks"]


def format_count(n: int, lang: Lang = "en") -> str:
    """A whole number with a thousands separator: ``6,813`` (English), ``6.813`` (Dutch)."""
    s = f"{int(n):,}"
    return s.replace(",", ".") if lang == "nl" else s


def format_eur(v: float, lang: Lang = "en") -> str:
    """An amount in euros, three significant digits: English ``EUR 611``, ``EUR 12.3k``, ``EUR 344k``,
    ``EUR 1.23M``, ``EUR 4.5bn``; Dutch ``EUR 611``, ``EUR 12.300``, ``EUR 344.000``,
    ``EUR 1,23 mln``, ``EUR 4,5 mld``. ``0`` is ``EUR 0``; a positive amount below 0.5 ``< EUR 1``."""
    _check_lang(lang)
    if not math.isfinite(v):
        raise ValueError(f"an amount must be finite, got {v}")
    sign = "\u2212" if v < 0 else ""
    a = abs(v)
    if a == 0:
        return "EUR 0"
    if a < 0.5:
        return "< EUR 1" if v > 0 else "> \u2212EUR 1"
    if a < 999.5:
        return f"{sign}EUR {a:.0f}"
    r = float(f"{a:.3g}")  # three significant digits
    if lang == "nl" and r < 1e6:
        return f"{sign}EUR {format_count(int(r), 'nl')}"
    for div, en, nl in ((1e9, "bn", " mld"), (1e6, "M", " mln"), (1e3, "k", "")):
        if r >= div:
            s = f"{r / div:.3g}"
            if lang == "nl":
                return f"{sign}EUR {s.replace('.', ',')}{nl}"
            return f"{sign}EUR {s}{en}"
    raise AssertionError("unreachable")  # pragma: no cover


def _measure_name(measure_id: str, catalogue, lang: str) -> str:
    if catalogue is None:
        return measure_id
    try:
        m = catalogue.get(measure_id)
    except ConfigError:  # a measure the catalogue does not know (another area's catalogue): its id
        return measure_id
    return m.name_nl if lang == "nl" else m.name_en


def _check_blocks(blocks) -> None:
    missing = [c for c in ("measure", "cost") if c not in blocks.columns]
    if missing:
        raise InputDataError(f"The plan blocks have no column(s) {missing}.",
                             hint="Pass the layer 'plan_measures' of a plan (columns site, measure, cost, ...).")
    if len(blocks) and (blocks.crs is None or not blocks.crs.is_projected):
        raise InputDataError("The plan blocks have no projected CRS (metres), so no scale bar can be drawn.",
                             hint="Give the blocks the CRS of the analysis grid (e.g. EPSG:28992).")
    if blocks["measure"].isna().any():
        raise InputDataError(f"{int(blocks['measure'].isna().sum())} plan block(s) have no measure.",
                             hint="Every row of 'plan_measures' must name a catalogue measure id.")
    cost = blocks["cost"].to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(cost).all():
        raise InputDataError(f"{int((~np.isfinite(cost)).sum())} plan block(s) have no finite cost.",
                             hint="Every row of 'plan_measures' needs a cost in EUR.")
    if len(blocks) and (blocks.geometry.isna().any() or blocks.geometry.is_empty.any()):
        raise InputDataError("Some plan blocks have no geometry.", hint="Every row needs its block polygon.")


def _block_keys(blocks) -> np.ndarray:
    """One key per row: rows with the same block polygon share a key (WKB, normalised)."""
    return blocks.geometry.normalize().to_wkb().to_numpy()


def plan_legend(blocks, lang: Lang = "en", catalogue=None,
                colours: Sequence[str] = PLAN_COLOURS) -> tuple[list[PlanLegendEntry], np.ndarray]:
    """Legend of a plan and the fill colour of each row of ``blocks`` (GeoDataFrame with columns
    ``measure`` (catalogue id) and ``cost`` (EUR)).

    One entry per measure, ordered by number of blocks (most first), then cost (highest first),
    then id; names from ``catalogue`` (``name_en`` / ``name_nl``; the id when the catalogue lacks it
    or is None). The first ``len(colours)`` measures get ``colours`` in that order; if there are
    more, the first ``len(colours) - 1`` keep theirs and the rest are merged into one "Other
    measures (k)" entry in :data:`PLAN_OTHER_COLOUR` (its blocks and cost are the sums). Blocks =
    rows of the measure; cost = sum of their ``cost``. Rows whose block polygon is also that of
    another row with a different measure are coloured :data:`PLAN_SEVERAL_COLOUR`, and a last
    entry "Blocks with several measures" gives their number of distinct blocks and their cost.
    """
    _check_lang(lang)
    _check_blocks(blocks)
    if not colours:
        raise ValueError("at least one colour is needed")
    meas = blocks["measure"].astype(str).to_numpy()
    cost = blocks["cost"].to_numpy(dtype=np.float64)
    ids, inv, counts = np.unique(meas, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=cost, minlength=len(ids))
    order = sorted(range(len(ids)), key=lambda i: (-counts[i], -sums[i], ids[i]))
    n_col = len(order) if len(order) <= len(colours) else len(colours) - 1
    entries: list[PlanLegendEntry] = []
    colour_of: dict[str, str] = {}
    for i in order[:n_col]:
        c = colours[len(entries)].lower()
        colour_of[ids[i]] = c
        entries.append(PlanLegendEntry(_measure_name(ids[i], catalogue, lang), c, int(counts[i]),
                                       float(sums[i]), (str(ids[i]),), lang))
    rest = order[n_col:]
    if rest:
        for i in rest:
            colour_of[ids[i]] = PLAN_OTHER_COLOUR
        entries.append(PlanLegendEntry(_PTEXT[lang]["other"].format(n=len(rest)), PLAN_OTHER_COLOUR,
                                       int(sum(counts[i] for i in rest)), float(sum(sums[i] for i in rest)),
                                       tuple(str(ids[i]) for i in rest), lang))
    fill = np.array([colour_of[m] for m in meas], dtype=object)
    if len(blocks):
        keys = _block_keys(blocks)
        _, kinv = np.unique(keys, return_inverse=True)
        # blocks with more than one distinct measure
        pairs = np.unique(np.stack([kinv, inv]), axis=1)
        multi = np.bincount(pairs[0], minlength=kinv.max() + 1) > 1
        several = multi[kinv]
        if several.any():
            fill[several] = PLAN_SEVERAL_COLOUR
            entries.append(PlanLegendEntry(_PTEXT[lang]["several"], PLAN_SEVERAL_COLOUR, int(multi.sum()),
                                           float(cost[several].sum()), tuple(sorted(set(meas[several]))), lang))
    return entries, fill


def _block_size(blocks) -> tuple[float, float]:
    """Width and height of the largest block (m): blocks on the grid edge may be cut."""
    b = blocks.geometry.bounds
    return float((b["maxx"] - b["minx"]).max()), float((b["maxy"] - b["miny"]).max())


def _plan_bounds(blocks, boundary, units) -> tuple[float, float, float, float]:
    """Extent of the blocks, the boundary and the units (in the blocks' CRS), 2 % padding."""
    boxes = []
    if len(blocks):
        boxes.append(tuple(float(v) for v in blocks.total_bounds))
    if boundary is not None and not boundary.is_empty:
        boxes.append(tuple(float(v) for v in boundary.bounds))
    if units is not None and len(units):
        u = units.to_crs(blocks.crs) if (blocks.crs is not None and units.crs is not None) else units
        boxes.append(tuple(float(v) for v in u.total_bounds))
    if not boxes:
        raise ValueError("nothing to draw: no blocks, no boundary and no units (or pass bounds)")
    xmin, ymin = min(b[0] for b in boxes), min(b[1] for b in boxes)
    xmax, ymax = max(b[2] for b in boxes), max(b[3] for b in boxes)
    pad = 0.02 * max(xmax - xmin, ymax - ymin)
    return xmin - pad, ymin - pad, xmax + pad, ymax + pad


def _plan_legend_height(entries: list[PlanLegendEntry], subtitle: str) -> float:
    sub = (0.2 * (subtitle.count("\n") + 1) + 0.15) if subtitle else 0.0
    return 0.35 + sub + sum(_plan_row_height(e) for e in entries)


def _plan_row_height(e: PlanLegendEntry) -> float:
    return _ROW_H + _LINE_H * len(textwrap.wrap(e.name, _LABEL_CHARS) or [""])


def _draw_plan_legend(ax, title: str, subtitle: str, entries: list[PlanLegendEntry]) -> None:
    """Legend at the top of the panel: per entry a swatch, the measure name (wrapped) and below it,
    in grey, the number of blocks and the cost."""
    y = 0.0
    ax.text(0, y, title, fontsize=_LEGEND_FONT + 2, fontweight="bold", va="top", ha="left")
    y += 0.35
    if subtitle:
        ax.text(0, y, subtitle, fontsize=_LEGEND_FONT - 1, va="top", ha="left", color="#444444", linespacing=1.3)
        y += 0.2 * (subtitle.count("\n") + 1) + 0.15
    for e in entries:
        lines = textwrap.wrap(e.name, _LABEL_CHARS) or [""]
        ax.add_patch(Rectangle((0, y), 0.32, 0.18, facecolor=e.colour, edgecolor="#444444", linewidth=0.5))
        for i, line in enumerate(lines):
            ax.text(0.45, y + 0.09 + i * _LINE_H, line, fontsize=_LEGEND_FONT, va="center", ha="left")
        ax.text(0.45, y + 0.09 + len(lines) * _LINE_H, e.detail, fontsize=_LEGEND_FONT - 1, va="center",
                ha="left", color="#444444")
        y += _plan_row_height(e)


def render_plan_map(blocks, out_png: Path, *, title: str, legend_title: str, boundary=None, units=None,
                    lang: Lang = "en", attribution: str = "", catalogue=None, dpi: int = 150,
                    map_size_in: float = 9.0, bounds: tuple[float, float, float, float] | None = None) -> Path:
    """Map of a plan to ``out_png`` (PNG, written atomically); returns its path.

    ``blocks``: GeoDataFrame of the chosen blocks (layer ``plan_measures``: block polygons with at
    least ``measure`` = catalogue id and ``cost`` = net present cost in EUR), in a projected CRS.
    Each block is filled with the colour of its measure (:func:`plan_legend`: Tol's muted
    colour-blind-safe scheme, most blocks first); the legend names each measure in ``lang``
    (``catalogue``: a :class:`biostress.measures.Catalogue`; None = the built-in one) with its
    number of blocks and total cost, e.g. "Street tree with good rooting space — 64 blocks,
    EUR 344k"; the subtitle gives the block size and the plan's totals. ``units`` (GeoDataFrame,
    reprojected to the blocks' CRS) are outlined thin grey, ``boundary`` (shapely, blocks' CRS)
    thick black; scale bar, north arrow, CRS and ``attribution`` as on the other maps. ``bounds``
    (xmin, ymin, xmax, ymax) fixes the extent shown (default: blocks, boundary and units, 2 %
    padding). An empty plan draws the outlines with "No measures chosen".
    """
    import geopandas as gpd

    from ..measures import load_catalogue

    _check_lang(lang)
    if not isinstance(blocks, gpd.GeoDataFrame):
        raise InputDataError("The plan blocks must be a GeoDataFrame (layer 'plan_measures').")
    _check_blocks(blocks)
    if catalogue is None:
        catalogue = load_catalogue()
    crs = blocks.crs if blocks.crs is not None else (units.crs if units is not None else None)
    entries, fill = plan_legend(blocks, lang, catalogue)
    t = _PTEXT[lang]
    if len(blocks):
        w, h = _block_size(blocks)
        n_blocks = len(np.unique(_block_keys(blocks)))
        subtitle = t["size"].format(w=format_length(w), h=format_length(h)) + t["total"].format(
            n=format_count(n_blocks, lang), blocks=_block_word(n_blocks, lang),
            cost=format_eur(float(blocks["cost"].sum()), lang))
        foot = f" · {t['block_foot']} {format_length(w)}"
    else:
        subtitle, foot = t["none"], ""
    if bounds is None:
        bounds = _plan_bounds(blocks, boundary, units)
    footer = _footer_lines([_crs_text(crs, lang) + foot, attribution], _fig_width(bounds, map_size_in))
    lay = _layout(bounds, _plan_legend_height(entries, subtitle), len(footer), map_size_in, title)
    ax = lay.ax_map
    if len(blocks):
        # one dissolved polygon per colour: no antialiasing seams between neighbouring blocks;
        # "several measures" last, on top of the blocks it shares
        geoms = blocks.geometry.to_numpy()
        for colour in sorted(set(fill), key=lambda c: c == PLAN_SEVERAL_COLOUR):
            merged = shapely.union_all(geoms[fill == colour])
            gpd.GeoSeries([merged], crs=blocks.crs).plot(ax=ax, color=colour, linewidth=0, zorder=5)
    if units is not None and len(units):
        u = units.to_crs(crs) if (crs is not None and units.crs is not None) else units
        u.boundary.plot(ax=ax, color="#8c8c8c", linewidth=0.35, zorder=10)
    _draw_outlines(ax, None, boundary, crs)
    _setup_map_axes(ax, lay.bounds)  # after plotting: geopandas autoscales
    _draw_plan_legend(lay.ax_panel, legend_title, subtitle, entries)
    _draw_furniture(lay, lang)
    _draw_footer(lay.fig, lay.fig_w, footer)
    return _save_atomic(lay.fig, out_png, dpi)
