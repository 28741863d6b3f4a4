"""Per-unit statistics of indicator arrays: UnitWeights against exactextract's own operations and
a hand-computed case."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource

from biostress.grid import Grid
from biostress.pipeline import UnitWeights


def test_hand_computed_mean_sum_max():
    grid = Grid.from_bounds((0, 0, 20, 10), 10, "EPSG:28992")  # two cells: values 1 and 3
    arr = np.array([[1.0, 3.0]])
    # a unit covering all of the left cell and a quarter of the right one
    units = gpd.GeoDataFrame({"code": ["u"]}, geometry=[shapely.box(0, 0, 12.5, 10)], crs=28992)
    w = UnitWeights(units, grid)
    assert w.reduce(arr, "mean")[0] == pytest.approx((1 * 1 + 3 * 0.25) / 1.25)
    assert w.reduce(arr, "sum")[0] == pytest.approx(1 + 0.75)
    assert w.reduce(arr, "max")[0] == 3 and w.reduce(arr, "min")[0] == 1
    assert w.reduce(np.array([[np.nan, 3.0]]), "mean")[0] == pytest.approx(3.0)  # NaN cells left out
    assert w.reduce(np.array([[2.0, 5.0]]), "majority")[0] == 2.0  # weight 1 vs 0.25


def test_matches_exactextract_on_irregular_units():
    rng = np.random.default_rng(7)
    grid = Grid.from_bounds((1000, 2000, 1630, 2470), 10, "EPSG:28992")
    arr = rng.random(grid.shape)
    arr[rng.random(grid.shape) < 0.05] = np.nan
    polys = [shapely.Polygon([(1010, 2013), (1300, 2050), (1250, 2400), (1033, 2300)]),
             shapely.Point(1450, 2200).buffer(120), shapely.box(1001.5, 2001.5, 1628.3, 2468.7)]
    units = gpd.GeoDataFrame({"code": ["a", "b", "c"]}, geometry=polys, crs=28992)
    w = UnitWeights(units, grid)
    xmin, ymin, xmax, ymax = grid.bounds
    wkt = grid.pyproj_crs.to_wkt()
    ref = exact_extract(NumPyRasterSource(arr, xmin, ymin, xmax, ymax, srs_wkt=wkt, nodata=np.nan),
                        units.set_crs(wkt, allow_override=True), ["mean", "sum", "max"], include_cols=["code"],
                        output="pandas")
    np.testing.assert_allclose(w.reduce(arr, "mean"), ref["mean"], rtol=1e-9)
    np.testing.assert_allclose(w.reduce(arr, "sum"), ref["sum"], rtol=1e-9)
    np.testing.assert_allclose(w.reduce(arr, "max"), ref["max"], rtol=1e-12)
