"""Preview maps: legend entries, scale-bar rule, class breaks, and the rendered PNGs read back."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import matplotlib.image as mpimg
import numpy as np
import pytest
from shapely.geometry import box

from biostress.grid import Grid
from biostress.landcover.legend import NODATA, load_legend
from biostress.maps import (
    DEFAULT_SHARE_COLOURS,
    LegendEntry,
    classify_values,
    format_length,
    legend_entries,
    nice_scale_length,
    preview,
    render_landcover_map,
    render_share_map,
    share_class_labels,
)

BUILDING, WATER, TREES = 1, 5, 10
DPI = 100
MAP_IN = 6.0  # longest side of the map in inches


@pytest.fixture(scope="module")
def legend():
    return load_legend()


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.int64)


def _read_rgb(path: Path) -> np.ndarray:
    """PNG as (rows, cols, 3) ints 0-255."""
    img = mpimg.imread(path)
    return np.round(img[..., :3] * 255).astype(np.int64)


@pytest.fixture(scope="module")
def synthetic():
    """600 m x 400 m at 10 m: left half building, top right water, bottom right trees, except a
    100 m x 100 m corner (bottom right) outside the area."""
    grid = Grid("EPSG:28992", 100_000.0, 400_400.0, 10.0, 60, 40)
    dom = np.empty(grid.shape, dtype=np.uint8)
    dom[:, :30] = BUILDING
    dom[:20, 30:] = WATER
    dom[20:, 30:] = TREES
    dom[30:, 50:] = NODATA
    return grid, dom


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def test_legend_entries_only_present_classes_with_hand_computed_shares(synthetic, legend):
    _, dom = synthetic
    entries = legend_entries(dom, legend, "en")
    # inside = 2400 - 100 cells; building 40*30, water 20*30, trees 20*30 - 10*10
    assert [e.label for e in entries] == ["Building", "Water", "Trees and woodland"]
    assert [e.colour for e in entries] == ["#a23b3b", "#3a7dc9", "#1d7a3a"]
    assert [e.share for e in entries] == pytest.approx([1200 / 2300, 600 / 2300, 500 / 2300])
    assert sum(e.share for e in entries) == pytest.approx(1.0)
    label, colour, share = entries[0]  # a plain (label, colour, share) triple
    assert isinstance(entries[0], LegendEntry) and (label, colour) == ("Building", "#a23b3b")
    assert share == pytest.approx(12 / 23)


def test_legend_entries_dutch_names_and_legend_order(legend):
    dom = np.array([[TREES, TREES, 0], [BUILDING, NODATA, NODATA]], dtype=np.uint8)
    entries = legend_entries(dom, legend, "nl")
    assert [e.label for e in entries] == ["Geen gegevens", "Gebouw", "Bomen en bos"]
    assert [e.share for e in entries] == pytest.approx([0.25, 0.25, 0.5])


def test_legend_entries_rejects_unknown_code_and_language(legend):
    with pytest.raises(ValueError, match="not in the legend"):
        legend_entries(np.array([[1, 200]], dtype=np.uint8), legend)
    with pytest.raises(ValueError, match="lang"):
        legend_entries(np.array([[1]], dtype=np.uint8), legend, "de")  # type: ignore[arg-type]


def test_legend_entries_all_outside_is_empty(legend):
    assert legend_entries(np.full((3, 3), NODATA, dtype=np.uint8), legend) == []


@pytest.mark.parametrize(("extent", "expected"), [
    (12_345, 2000),  # a quarter is 3086 -> 2000
    (10_000, 2000),  # a quarter is exactly 2500 -> 2000 (2500 is not 1/2/5 x 10^k)
    (8_000, 2000),  # exactly a quarter is allowed
    (7_999, 1000),
    (20_000, 5000),
    (18_190, 2000),  # Dordrecht
    (400, 100),
    (600, 100),
    (4_000_000, 1_000_000),
    (3.0, 0.5),
])
def test_nice_scale_length_rule(extent, expected):
    assert nice_scale_length(extent) == expected


def test_nice_scale_length_is_always_1_2_5_times_power_of_ten():
    for extent in np.geomspace(1.0, 1e7, 500):
        v = nice_scale_length(float(extent))
        mantissa = v / 10 ** math.floor(math.log10(v) + 1e-9)
        assert round(mantissa, 9) in (1, 2, 5)
        assert extent / 10 < v <= extent / 4 * (1 + 1e-9)


def test_nice_scale_length_rejects_bad_extent():
    for bad in (0, -5, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            nice_scale_length(bad)


def test_format_length():
    assert [format_length(v) for v in (50, 500, 1000, 2500, 20000)] == ["50 m", "500 m", "1 km", "2.5 km", "20 km"]


def test_classify_values_half_open_classes_last_closed():
    classes = [(0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 1.0)]
    v = np.array([0.0, 0.0999, 0.1, 0.25, 0.4, 1.0, 1.01, -0.1, np.nan])
    assert classify_values(v, classes).tolist() == [0, 0, 1, 2, 4, 4, -1, -1, -1]


def test_share_class_labels():
    classes = [(0, 0.1), (0.1, 0.2), (0.4, 1.0)]
    assert share_class_labels(classes) == ["0–10 %", "10–20 %", "40–100 %"]
    assert share_class_labels([(0, 0.125)], "nl") == ["0–12,5 %"]


# ---------------------------------------------------------------------------------------------
# Rendered land-cover map
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def landcover_png(tmp_path_factory, synthetic, legend):
    grid, dom = synthetic
    out = tmp_path_factory.mktemp("maps") / "lc.png"
    xmin, ymin, xmax, ymax = grid.bounds
    units = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[box(xmin, ymin, xmin + 300, ymax),
                                                              box(xmin + 300, ymin, xmax, ymax)],
                             crs="EPSG:28992")
    got = render_landcover_map(dom, grid, legend, out, title="Synthetic", boundary=box(*grid.bounds),
                               units=units, attribution="© OpenStreetMap contributors (ODbL) · test",
                               dpi=DPI, map_size_in=MAP_IN)
    assert got == out
    return out


def _map_pixel(x: float, y: float, grid: Grid) -> tuple[int, int]:
    """(row, col) of the PNG pixel showing map point (x, y): the map's upper-left corner is at
    (_MARGIN, _TITLE_H) inches and its longest side is MAP_IN inches."""
    xmin, _, xmax, ymax = grid.bounds
    inch_per_m = MAP_IN / (xmax - xmin)
    col = (preview._MARGIN + (x - xmin) * inch_per_m) * DPI
    row = (preview._TITLE_H + (ymax - y) * inch_per_m) * DPI
    return int(row), int(col)


def test_landcover_png_size_and_no_temp_files(landcover_png):
    img = mpimg.imread(landcover_png)
    h, w = img.shape[:2]
    # map 6 in + gap + legend panel + margins = 10.6 in; height = title + max(map, legend) + footer
    assert 1000 <= w <= 1120
    assert 450 <= h <= 800
    assert [p.name for p in landcover_png.parent.iterdir()] == ["lc.png"]


def test_landcover_png_class_colours_at_region_centres(landcover_png, synthetic, legend):
    grid, _ = synthetic
    rgb = _read_rgb(landcover_png)
    x0, y0 = grid.x0, grid.y1 - 400
    checks = {  # centre of each known region -> expected colour
        (x0 + 150, y0 + 200): legend.by_key("building").colour,
        (x0 + 450, y0 + 300): legend.by_key("water").colour,
        (x0 + 400, y0 + 100): legend.by_key("trees_woodland").colour,
        (x0 + 550, y0 + 50): "#ffffff",  # outside the area: transparent over white
    }
    for (x, y), colour in checks.items():
        r, c = _map_pixel(x, y, grid)
        patch = rgb[r - 2:r + 3, c - 2:c + 3].reshape(-1, 3)
        assert (np.abs(patch - _rgb(colour)) <= 1).all(), ((x, y), colour, patch[0])


def test_landcover_png_legend_lists_only_present_classes(landcover_png, legend):
    """Each present class colour fills a legend swatch (0.32 x 0.18 in at 100 dpi) right of the map;
    no other class colour fills any 5 x 5 pixel block there (anti-aliased text may hit a grey)."""
    rgb = _read_rgb(landcover_png)
    panel = rgb[:, int((preview._MARGIN + MAP_IN + 0.1) * DPI):]
    present = {"building", "water", "trees_woodland"}
    for c in legend.classes:
        match = np.abs(panel - _rgb(c.colour)).max(axis=2) <= 1
        n = int(np.lib.stride_tricks.sliding_window_view(match, (5, 5)).all(axis=(2, 3)).sum())
        if c.key in present:
            assert n > 250, c.key
        else:
            assert n == 0, c.key


def test_landcover_png_scale_bar_length(landcover_png, synthetic):
    """The scale bar outline is the longest black run right of the map: 100 m at 6 in per 600 m."""
    grid, _ = synthetic
    rgb = _read_rgb(landcover_png)
    panel = rgb[:, int((preview._MARGIN + MAP_IN + 0.1) * DPI):]
    black = (panel < 60).all(axis=2)
    longest = 0
    for row in black:
        run = best = 0
        for v in row:
            run = run + 1 if v else 0
            best = max(best, run)
        longest = max(longest, best)
    expected = nice_scale_length(600) * MAP_IN / 600 * DPI  # 100 m -> 1 in -> 100 px
    assert expected == 100
    assert abs(longest - expected) <= 3


def test_landcover_render_replaces_existing_file_atomically(tmp_path, synthetic, legend):
    grid, dom = synthetic
    out = tmp_path / "sub" / "lc.png"
    out.parent.mkdir()
    out.write_bytes(b"old")
    render_landcover_map(dom, grid, legend, out, title="t", lang="nl", dpi=50, map_size_in=4)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["lc.png"]


def test_landcover_render_rejects_shape_mismatch(tmp_path, synthetic, legend):
    grid, dom = synthetic
    with pytest.raises(ValueError, match="shape"):
        render_landcover_map(dom[:, :10], grid, legend, tmp_path / "x.png", title="t")
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------------------------------
# Rendered share map
# ---------------------------------------------------------------------------------------------

def test_share_map_fills_units_with_class_colours(tmp_path):
    # 3 x 2 squares of 100 m; values in each default class and one missing
    x0, y0 = 100_000.0, 400_000.0
    cells = [(i, j) for j in (1, 0) for i in range(3)]  # top row first
    values = [0.05, 0.15, 0.25, 0.35, 0.9, np.nan]
    units = gpd.GeoDataFrame({"green_share": values},
                             geometry=[box(x0 + i * 100, y0 + j * 100, x0 + (i + 1) * 100, y0 + (j + 1) * 100)
                                       for i, j in cells], crs="EPSG:28992")
    out = render_share_map(units, "green_share", tmp_path / "share.png", title="Green share",
                           legend_title="Green share", attribution="test", dpi=DPI, map_size_in=MAP_IN)
    rgb = _read_rgb(out)
    # the map shows the units' extent (plus a small margin) at MAP_IN inches for ~300 m
    inch_per_m = MAP_IN / 300
    expected = [*DEFAULT_SHARE_COLOURS, preview.NO_VALUE_COLOUR]
    for (i, j), colour in zip(cells, expected, strict=True):
        cx, cy = (i - 1) * 100, (j - 0.5) * 100  # offset from the map centre
        col = int((preview._MARGIN + MAP_IN / 2 + cx * inch_per_m) * DPI)
        row = int((preview._TITLE_H + MAP_IN * 200 / 300 / 2 - cy * inch_per_m) * DPI)
        patch = rgb[row - 3:row + 4, col - 3:col + 4].reshape(-1, 3)
        assert (np.abs(patch - _rgb(colour)) <= 1).all(), ((i, j), colour, patch[0])
    assert [p.name for p in tmp_path.iterdir()] == ["share.png"]


def test_share_map_validates_classes_and_crs(tmp_path):
    units = gpd.GeoDataFrame({"v": [0.1]}, geometry=[box(0, 0, 100, 100)], crs="EPSG:28992")
    with pytest.raises(ValueError, match="colours"):
        render_share_map(units, "v", tmp_path / "a.png", title="t", classes=[(0, 0.5), (0.5, 1)])
    with pytest.raises(ValueError, match="overlap"):
        render_share_map(units, "v", tmp_path / "a.png", title="t", classes=[(0, 0.6), (0.5, 1)],
                         colours=["#000000", "#ffffff"])
    with pytest.raises(ValueError, match="column"):
        render_share_map(units, "nope", tmp_path / "a.png", title="t")
    with pytest.raises(ValueError, match="projected"):
        render_share_map(units.set_crs("EPSG:4326", allow_override=True), "v", tmp_path / "a.png", title="t")
    assert not (tmp_path / "a.png").exists()
