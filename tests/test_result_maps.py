"""Result maps: category and binned legends by hand, rendered PNGs read back, and a run folder."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from shapely.geometry import box

from biostress.errors import InputDataError
from biostress.grid import Grid
from biostress.landcover.legend import NODATA
from biostress.maps import preview
from biostress.maps.results import (
    GAP_COLOURS,
    GAP_HABITAT_BINS,
    _read_preview,
    bin_labels,
    binned_legend,
    category_legend,
    gain_bins,
    gain_labels,
    render_binned_map,
    render_category_map,
    render_run_maps,
)
from biostress.store.cog import write_cog

DPI = 100
MAP_IN = 6.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRID = Grid("EPSG:28992", 100_000.0, 400_400.0, 10.0, 60, 40)  # 600 m x 400 m
CATS = [(1, "Very vulnerable", "#a50026"), (2, "Vulnerable", "#f46d43"), (3, "Moderate", "#fee08b"),
        (4, "Robust", "#a6d96a"), (5, "Very robust", "#006837")]
# Okabe & Ito colours as written in stresstest_classes.csv (colour_cb), classes 1 and 5
CB_1, CB_5 = "#d55e00", "#0072b2"
TABLE_1 = "#123456"  # a colour only the synthetic raster's colour table has


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)], dtype=np.int64)


def _read_rgb(path: Path) -> np.ndarray:
    return np.round(mpimg.imread(path)[..., :3] * 255).astype(np.int64)


def _pixel(row: int, col: int, grid: Grid = GRID) -> tuple[int, int]:
    """PNG (row, col) of the centre of grid cell (row, col): the map's upper-left corner is at
    (_MARGIN, _TITLE_H) inches and its longest side (600 m here) is MAP_IN inches."""
    inch_per_m = MAP_IN / (grid.width * grid.cell)
    return (int((preview._TITLE_H + (row + 0.5) * grid.cell * inch_per_m) * DPI),
            int((preview._MARGIN + (col + 0.5) * grid.cell * inch_per_m) * DPI))


def _colour_at(rgb: np.ndarray, row: int, col: int) -> np.ndarray:
    r, c = _pixel(row, col)
    patch = rgb[r - 2:r + 3, c - 2:c + 3].reshape(-1, 3)
    assert (patch == patch[0]).all(), "sample a uniform region"
    return patch[0]


def _swatches(rgb: np.ndarray, colour: str) -> int:
    """Number of 5 x 5 pixel blocks of exactly ``colour`` right of the map (the legend swatches)."""
    panel = rgb[:, int((preview._MARGIN + MAP_IN + 0.1) * DPI):]
    match = np.abs(panel - _rgb(colour)).max(axis=2) <= 1
    return int(np.lib.stride_tricks.sliding_window_view(match, (5, 5)).all(axis=(2, 3)).sum())


# Synthetic class raster on GRID: thirds of class 1 | 3 | 5; bottom-right 10 x 10 cells outside;
# top-right 10 x 10 cells inside the area but without a class (255 there, inside by the mask).
STRESS = np.empty(GRID.shape, dtype=np.uint8)
STRESS[:, :20], STRESS[:, 20:40], STRESS[:, 40:] = 1, 3, 5
STRESS[30:, 50:] = NODATA
STRESS[:10, 50:] = NODATA
INSIDE = np.ones(GRID.shape, dtype=bool)
INSIDE[30:, 50:] = False


# ---------------------------------------------------------------------------------------------
# Legends
# ---------------------------------------------------------------------------------------------

def test_category_legend_shares_by_hand():
    # inside: 2400 - 100 outside = 2300 cells; class 1 = 40 x 20 = 800, class 3 = 800,
    # class 5 = 800 - 100 outside - 100 without a class = 600, no value = 100
    entries = category_legend(STRESS, CATS, "en", inside=INSIDE)
    assert [e.label for e in entries] == ["Very vulnerable", "Vulnerable", "Moderate", "Robust", "Very robust",
                                          "No value"]
    assert [e.share for e in entries] == pytest.approx([800 / 2300, 0, 800 / 2300, 0, 600 / 2300, 100 / 2300])
    assert entries[-1].colour == preview.NO_VALUE_COLOUR
    # without the mask the 255 cells are outside: 2200 cells, no "No value"
    entries = category_legend(STRESS, CATS, "nl", show_empty=False)
    assert [e.label for e in entries] == ["Very vulnerable", "Moderate", "Very robust"]
    assert [e.share for e in entries] == pytest.approx([800 / 2200, 800 / 2200, 600 / 2200])


def test_category_legend_value_not_in_categories_is_no_value_in_dutch():
    v = np.array([[1, 1, 7], [0, NODATA, 5]], dtype=np.uint8)  # 7 and 0 are not categories
    entries = category_legend(v, CATS, "nl", show_empty=False)
    assert [(e.label, e.share) for e in entries] == [("Very vulnerable", 0.4), ("Very robust", 0.2),
                                                     ("Geen waarde", 0.4)]


def test_category_legend_rejects_bad_categories():
    v = np.ones((2, 2), dtype=np.uint8)
    with pytest.raises(ValueError, match="twice"):
        category_legend(v, [(1, "a", "#000000"), (1, "b", "#ffffff")])
    with pytest.raises(ValueError, match="rrggbb"):
        category_legend(v, [(1, "a", "red")])
    with pytest.raises(ValueError, match="0-254"):
        category_legend(v, [(255, "a", "#000000")])
    with pytest.raises(ValueError, match="lang"):
        category_legend(v, CATS, "de")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inside has shape"):
        category_legend(v, CATS, inside=np.ones((3, 3), dtype=bool))


def test_bin_labels_english_and_dutch():
    assert bin_labels(GAP_HABITAT_BINS) == ["< \u22120.05", "\u22120.05 \u2013 \u22120.01", "\u22120.01 \u2013 0.01",
                                            "0.01 \u2013 0.05", "0.05 \u2013 0.10", "0.10 \u2013 0.20", "\u2265 0.20"]
    assert bin_labels([(-math.inf, 0), (0, 0.5), (0.5, math.inf)], "nl", "mm") == [
        "< 0 mm", "0 \u2013 0,5 mm", "\u2265 0,5 mm"]
    assert bin_labels([(0, 10), (10, 25)]) == ["0 \u2013 10", "10 \u2013 25"]
    assert bin_labels([(0, 1)], decimals=2) == ["0 \u2013 1.00"]


def test_binned_legend_shares_by_hand():
    v = np.array([[-0.1, 0.0, 0.005], [0.15, np.nan, 0.3]])
    inside = np.ones(v.shape, dtype=bool)
    # bins: [-inf,-0.05) [-0.05,-0.01) [-0.01,0.01) [0.01,0.05) [0.05,0.1) [0.1,0.2) [0.2,inf]
    entries = binned_legend(v, GAP_HABITAT_BINS, GAP_COLOURS, inside=inside)
    assert [e.share for e in entries] == pytest.approx([1 / 6, 0, 2 / 6, 0, 0, 1 / 6, 1 / 6, 1 / 6])
    assert entries[-1].label == "No value" and entries[-1].colour == preview.NO_VALUE_COLOUR
    # without the mask NaN is outside: 5 cells, no "No value" entry
    entries = binned_legend(v, GAP_HABITAT_BINS, GAP_COLOURS, "nl")
    assert [e.share for e in entries] == pytest.approx([1 / 5, 0, 2 / 5, 0, 0, 1 / 5, 1 / 5])
    assert entries[0].label == "< \u22120,05"


def test_binned_legend_value_between_bins_is_no_value_and_validation():
    entries = binned_legend(np.array([0.5, 1.5, 2.5, 3.0]), [(0, 1), (2, 3)], ["#000000", "#ffffff"],
                            labels=["low", "high"])
    assert [(e.label, e.share) for e in entries] == [("low", 0.25), ("high", 0.5), ("No value", 0.25)]
    with pytest.raises(ValueError, match="colours"):
        binned_legend(np.zeros(2), [(0, 1), (1, 2)], ["#000000"])
    with pytest.raises(ValueError, match="overlap"):
        binned_legend(np.zeros(2), [(0, 1.5), (1, 2)], ["#000000", "#ffffff"])
    with pytest.raises(ValueError, match="labels"):
        binned_legend(np.zeros(2), [(0, 1)], ["#000000"], labels=["a", "b"])
    with pytest.raises(ValueError, match="rrggbb"):
        binned_legend(np.zeros(2), [(0, 1)], ["green"])


def _flat(bins: list[tuple[float, float]]) -> list[float]:
    return [e for b in bins for e in b]


def test_gain_bins_nice_step():
    v = np.concatenate([np.linspace(0.01, 1.0, 100), [0.0, -0.2, np.nan]])
    # positives 0.01..1.00: 98th percentile = 0.9802; / 5 = 0.196 -> step 0.2
    assert _flat(gain_bins(v)) == pytest.approx([-math.inf, 2e-7, 2e-7, 0.2, 0.2, 0.4, 0.4, 0.6, 0.6, 0.8,
                                                 0.8, math.inf])
    assert gain_labels(gain_bins(v), "nl") == ["Geen winst", "0 \u2013 0,2", "0,2 \u2013 0,4", "0,4 \u2013 0,6",
                                               "0,6 \u2013 0,8", "\u2265 0,8"]
    # 98th percentile 30 -> 30 / 5 = 6 -> 10 (1, 2, 2.5, 5 x 10^k: 5 < 6 <= 10); no positives -> step 1
    assert gain_bins(np.full(10, 30.0))[2] == pytest.approx((10, 20))
    assert _flat(gain_bins(np.zeros(4), n=2)) == pytest.approx([-math.inf, 1e-6, 1e-6, 1.0, 1.0, math.inf])
    # 98th percentile 1.2 / 4 = 0.3 -> 0.5; 0.25 / 5 = 0.05 -> 0.05 exactly; 0.125 / 5 = 0.025 -> 0.025
    assert gain_bins(np.full(5, 1.2), n=4)[2][0] == pytest.approx(0.5)
    assert gain_bins(np.full(5, 0.25))[2][0] == pytest.approx(0.05)
    assert gain_bins(np.full(5, 0.125))[2][0] == pytest.approx(0.025)


# ---------------------------------------------------------------------------------------------
# Renderers
# ---------------------------------------------------------------------------------------------

def test_category_map_png_colours_and_legend(tmp_path):
    out = render_category_map(STRESS, GRID, CATS, tmp_path / "c.png", title="Stress", legend_title="Class",
                              boundary=box(*GRID.bounds), inside=INSIDE, attribution="test", dpi=DPI,
                              map_size_in=MAP_IN)
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    rgb = _read_rgb(out)
    h, w = rgb.shape[:2]
    assert 1000 <= w <= 1120 and 450 <= h <= 800  # map 6 in + gap + legend 3.8 in + margins
    assert (_colour_at(rgb, 20, 10) == _rgb("#a50026")).all()
    assert (_colour_at(rgb, 20, 30) == _rgb("#fee08b")).all()
    assert (_colour_at(rgb, 20, 45) == _rgb("#006837")).all()
    assert (_colour_at(rgb, 5, 55) == _rgb(preview.NO_VALUE_COLOUR)).all()  # inside, no class
    assert (_colour_at(rgb, 35, 55) == 255).all()  # outside: transparent over white
    # every category has a legend swatch, even the empty classes 2 and 4
    for _, _, colour in CATS:
        assert _swatches(rgb, colour) > 100, colour
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]


def test_binned_map_png_diverging_colours(tmp_path):
    v = np.full(GRID.shape, np.nan, dtype=np.float32)
    v[:, :20], v[:, 20:40], v[:, 40:] = -0.1, 0.0, 0.15
    v[30:, 50:] = np.nan
    out = render_binned_map(v, GRID, GAP_HABITAT_BINS, GAP_COLOURS, tmp_path / "b.png", title="Gap",
                            legend_title="Change", unit_label="", lang="nl", dpi=DPI, map_size_in=MAP_IN)
    rgb = _read_rgb(out)
    assert (_colour_at(rgb, 20, 10) == _rgb(GAP_COLOURS[0])).all()  # < -0.05: purple
    assert (_colour_at(rgb, 20, 30) == _rgb(GAP_COLOURS[2])).all()  # no change
    assert (_colour_at(rgb, 20, 45) == _rgb(GAP_COLOURS[5])).all()  # 0.1-0.2: green
    assert (_colour_at(rgb, 35, 55) == 255).all()  # NaN without a mask: outside


def test_renderers_reject_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        render_category_map(STRESS[:, :10], GRID, CATS, tmp_path / "x.png", title="t", legend_title="l")
    with pytest.raises(ValueError, match="shape"):
        render_binned_map(np.zeros((40, 10)), GRID, [(0, 1)], ["#000000"], tmp_path / "y.png", title="t",
                          legend_title="l", unit_label="")
    with pytest.raises(ValueError, match="whole numbers"):
        render_category_map(STRESS.astype(np.float32), GRID, CATS, tmp_path / "x.png", title="t", legend_title="l")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Run folder
# ---------------------------------------------------------------------------------------------

def _write_run(d: Path) -> Path:
    d.mkdir()
    lc = np.full(GRID.shape, 10, dtype=np.uint8)  # trees
    lc[:10, 50:] = 0  # unknown land cover: inside, but no stress class
    lc[30:, 50:] = NODATA
    write_cog(d / "landcover.tif", lc, GRID, nodata=NODATA, colormap={10: (0, 128, 0, 255), NODATA: (0, 0, 0, 0)})
    table = {1: (*_rgb(TABLE_1).tolist(), 255), 3: (254, 224, 139, 255), 5: (0, 104, 55, 255), NODATA: (0, 0, 0, 0)}
    write_cog(d / "stress_class.tif", STRESS, GRID, nodata=NODATA, colormap=table)
    pot = np.where(lc == NODATA, NODATA, 5).astype(np.uint8)  # water ...
    pot[:, 30:] = np.where(lc[:, 30:] == NODATA, NODATA, 10)  # ... and trees
    write_cog(d / "potential_landcover.tif", pot, GRID, nodata=NODATA)
    gap = np.full(GRID.shape, np.nan, dtype=np.float32)
    gap[:, :20], gap[:, 20:40], gap[:, 40:] = -0.1, 0.0, 0.15
    gap[lc == NODATA] = np.nan
    write_cog(d / "gap_habitat_quality.tif", gap, GRID, nodata=float("nan"), units="index 0-1")
    write_cog(d / "gap_green_share.tif", np.where(lc == NODATA, np.nan, 0.25).astype(np.float32), GRID,
              nodata=float("nan"), units="fraction 0-1")
    return d


@pytest.fixture(scope="module")
def run_maps(tmp_path_factory):
    base = tmp_path_factory.mktemp("run")
    run = _write_run(base / "run")
    out = render_run_maps(run, GRID, out_dir=base / "png", boundary=box(*GRID.bounds), attribution="test",
                          area_name="Testdorp", dpi=DPI, map_size_in=MAP_IN)
    return out


def test_run_maps_names_both_languages_and_missing_skipped(run_maps):
    names = [n for n, _, _ in run_maps]
    stems = ["stress_class", "stress_class_cb", "potential_landcover", "gap_habitat_quality", "gap_green_share"]
    assert names == [f"maps/{s}_{lang}.png" for s in stems for lang in ("en", "nl")]  # no opportunity_gain
    for name, path, desc in run_maps:
        assert path.name == Path(name).name and path.read_bytes()[:8] == PNG_SIGNATURE
        assert desc.endswith(f"({name[-6:-4]})")


def test_run_maps_stress_colours_table_and_colour_blind(run_maps):
    paths = {n: p for n, p, _ in run_maps}
    default = _read_rgb(paths["maps/stress_class_en.png"])
    cb = _read_rgb(paths["maps/stress_class_cb_nl.png"])
    assert (_colour_at(default, 20, 10) == _rgb(TABLE_1)).all()  # from the raster's colour table
    assert (_colour_at(cb, 20, 10) == _rgb(CB_1)).all()
    assert (_colour_at(cb, 20, 45) == _rgb(CB_5)).all()
    assert (_colour_at(cb, 5, 55) == _rgb(preview.NO_VALUE_COLOUR)).all()  # inside by landcover.tif
    assert _swatches(cb, CB_1) > 100 and _swatches(cb, CB_5) > 100
    assert _swatches(cb, TABLE_1) == 0 and _swatches(cb, "#a50026") == 0


def test_run_maps_gap_and_potential_colours(run_maps):
    paths = {n: p for n, p, _ in run_maps}
    gap = _read_rgb(paths["maps/gap_habitat_quality_nl.png"])
    assert (_colour_at(gap, 20, 10) == _rgb(GAP_COLOURS[0])).all()
    assert (_colour_at(gap, 20, 45) == _rgb(GAP_COLOURS[5])).all()
    green = _read_rgb(paths["maps/gap_green_share_en.png"])
    assert (_colour_at(green, 20, 10) == _rgb(GAP_COLOURS[6])).all()  # 25 percentage points: >= 20
    pot = _read_rgb(paths["maps/potential_landcover_en.png"])
    assert (_colour_at(pot, 20, 10) == _rgb("#3a7dc9")).all()  # water (landcover_legend.csv)
    assert (_colour_at(pot, 20, 45) == _rgb("#1d7a3a")).all()  # trees and woodland
    assert _swatches(pot, "#a23b3b") == 0  # building: not present, not listed


def test_run_maps_opportunity_only_and_empty_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert render_run_maps(run, GRID, out_dir=tmp_path / "png") == []
    v = np.zeros(GRID.shape, dtype=np.float32)
    v[:, 30:] = 0.5
    write_cog(run / "opportunity_gain.tif", v, GRID, nodata=float("nan"), units="index 0-1")
    out = render_run_maps(run, GRID, out_dir=tmp_path / "png", dpi=50, map_size_in=4)
    assert [n for n, _, _ in out] == ["maps/opportunity_gain_en.png", "maps/opportunity_gain_nl.png"]
    assert all(p.read_bytes()[:8] == PNG_SIGNATURE for _, p, _ in out)


def test_run_maps_raster_off_grid_is_input_error(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    other = Grid("EPSG:28992", 100_000.0, 400_400.0, 10.0, 30, 40)
    write_cog(run / "gap_green_share.tif", np.zeros(other.shape, dtype=np.float32), other, nodata=float("nan"))
    with pytest.raises(InputDataError, match="not on the analysis grid"):
        render_run_maps(run, GRID, out_dir=tmp_path / "png")


def test_read_preview_block_mean_and_nearest(tmp_path):
    grid = Grid("EPSG:28992", 0.0, 50.0, 10.0, 5, 5)
    a = np.arange(25, dtype=np.float32).reshape(5, 5)
    a[2, 2] = np.nan
    write_cog(tmp_path / "v.tif", a, grid, nodata=float("nan"))
    pv = _read_preview(tmp_path / "v.tif", grid, max_cells=3, categorical=False)
    # step = ceil(5 / 3) = 2: 2 x 2 blocks, the last row/column padded with NaN; NaN left out
    expected = [[(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4, (4 + 9) / 2],
                [(10 + 11 + 15 + 16) / 4, (13 + 17 + 18) / 3, (14 + 19) / 2],
                [(20 + 21) / 2, (22 + 23) / 2, 24]]
    np.testing.assert_allclose(pv.values, expected, rtol=1e-6)
    assert (pv.grid.cell, pv.grid.shape, pv.grid.x0, pv.grid.y1) == (20.0, (3, 3), 0.0, 50.0)
    c = np.arange(25, dtype=np.uint8).reshape(5, 5)
    write_cog(tmp_path / "c.tif", c, grid, nodata=NODATA)
    pc = _read_preview(tmp_path / "c.tif", grid, max_cells=3, categorical=True)
    assert pc.values.dtype == np.uint8 and pc.values.shape == (3, 3)
    for i in range(3):
        for j in range(3):
            block = c[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            assert pc.values[i, j] in block  # nearest: one of the block's own classes, never a mean
