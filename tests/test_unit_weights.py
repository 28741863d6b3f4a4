"""Per-unit statistics of indicator arrays (exact coverage, merged over tiles): against exactextract's
own operations on the whole raster and a hand-computed case."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource

from biostress.grid import Grid
from biostress.indicator_stage import UnitCoverage, UnitStats, tile_windows


def _stats(units, grid, arr, ops, tile=None):
    st = UnitStats(len(units), ops)
    for r0, r1, c0, c1 in tile_windows(grid.shape, tile or max(grid.shape)):
        st.add(UnitCoverage(units, grid.window(r0, c0, r1 - r0, c1 - c0)), arr[r0:r1, c0:c1])
    return st


def test_hand_computed_mean_sum_max():
    grid = Grid.from_bounds((0, 0, 20, 10), 10, "EPSG:28992")  # two cells: values 1 and 3
    # a unit covering all of the left cell and a quarter of the right one
    units = gpd.GeoDataFrame({"code": ["u"]}, geometry=[shapely.box(0, 0, 12.5, 10)], crs=28992)
    ops = ("mean", "sum", "max", "min", "majority")
    st = _stats(units, grid, np.array([[1.0, 3.0]]), ops)
    assert st.result("mean")[0] == pytest.approx((1 * 1 + 3 * 0.25) / 1.25)
    assert st.result("sum")[0] == pytest.approx(1 + 0.75)
    assert st.result("max")[0] == 3 and st.result("min")[0] == 1
    assert _stats(units, grid, np.array([[np.nan, 3.0]]), ops).result("mean")[0] == pytest.approx(3.0)  # NaN left out
    assert _stats(units, grid, np.array([[2.0, 5.0]]), ops).result("majority")[0] == 2.0  # weight 1 vs 0.25
    # split over two one-cell tiles: the same numbers
    st2 = _stats(units, grid, np.array([[1.0, 3.0]]), ops, tile=1)
    assert st2.result("mean")[0] == pytest.approx((1 * 1 + 3 * 0.25) / 1.25)
    assert st2.result("sum")[0] == pytest.approx(1.75)


def test_unit_outside_every_cell_is_nan():
    grid = Grid.from_bounds((0, 0, 20, 10), 10, "EPSG:28992")
    units = gpd.GeoDataFrame({"code": ["far"]}, geometry=[shapely.box(500, 500, 510, 510)], crs=28992)
    st = _stats(units, grid, np.array([[1.0, 3.0]]), ("mean",))
    assert np.isnan(st.result("mean")[0])


@pytest.mark.parametrize("tile", [None, 7, 16])
def test_matches_exactextract_on_irregular_units(tile):
    rng = np.random.default_rng(7)
    grid = Grid.from_bounds((1000, 2000, 1630, 2470), 10, "EPSG:28992")
    arr = rng.random(grid.shape)
    arr[rng.random(grid.shape) < 0.05] = np.nan
    cls = rng.integers(0, 4, grid.shape).astype(float)
    polys = [shapely.Polygon([(1010, 2013), (1300, 2050), (1250, 2400), (1033, 2300)]),
             shapely.Point(1450, 2200).buffer(120), shapely.box(1001.5, 2001.5, 1628.3, 2468.7)]
    units = gpd.GeoDataFrame({"code": ["a", "b", "c"]}, geometry=polys, crs=28992)
    xmin, ymin, xmax, ymax = grid.bounds
    wkt = grid.pyproj_crs.to_wkt()
    u = units.set_crs(wkt, allow_override=True)
    ref = exact_extract(NumPyRasterSource(arr, xmin, ymin, xmax, ymax, srs_wkt=wkt, nodata=np.nan), u,
                        ["mean", "sum", "max", "min"], include_cols=["code"], output="pandas")
    st = _stats(units, grid, arr, ("mean", "sum", "max", "min"), tile)
    np.testing.assert_allclose(st.result("mean"), ref["mean"], rtol=1e-9)
    np.testing.assert_allclose(st.result("sum"), ref["sum"], rtol=1e-9)
    np.testing.assert_allclose(st.result("max"), ref["max"], rtol=1e-12)
    np.testing.assert_allclose(st.result("min"), ref["min"], rtol=1e-12)
    ref_maj = exact_extract(NumPyRasterSource(cls, xmin, ymin, xmax, ymax, srs_wkt=wkt), u, ["majority"],
                            include_cols=["code"], output="pandas")
    np.testing.assert_array_equal(_stats(units, grid, cls, ("majority",), tile).result("majority"),
                                  ref_maj["majority"])
