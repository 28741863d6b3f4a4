"""Green structure: shares from the land-cover fractions and NDVI, against hand-computed values.

The per-unit check uses exactextract (the pipeline's summariser) on a unit that cuts boundary cells
and compares with the green area counted by hand, which is what "the share of the unit that is
green" means.
"""

from __future__ import annotations

import dask.array as da
import geopandas as gpd
import numpy as np
import pytest
import shapely
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource

from biostress.errors import ConfigError, InputDataError
from biostress.grid import Grid
from biostress.indicators import green
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend

LEGEND = load_legend()
K = LEGEND.keys.index


def _fractions(cells: dict[tuple[int, int], dict[str, float]], shape=(2, 3)) -> tuple[np.ndarray, np.ndarray]:
    """Fractions (n, H, W) from {cell: {class: fraction}}; 'inside' = their sum; NaN where inside == 0."""
    fr = np.zeros((len(LEGEND.classes), *shape), dtype=np.float32)
    for (r, c), d in cells.items():
        for k, v in d.items():
            fr[K(k), r, c] = v
    inside = fr.sum(axis=0)
    fr[:, inside <= 0] = np.nan
    return fr, inside


# A 2 x 3 grid. Cell (0,2) is outside the area; cell (0,1) is half inside (the top half of it is outside).
CELLS = {
    (0, 0): {"lawn_grass": 0.5, "trees_woodland": 0.2, "road": 0.3},
    (0, 1): {"building": 0.25, "shrub": 0.25},  # inside = 0.5
    (1, 0): {"water": 1.0},
    (1, 1): {"unknown": 0.4, "paved_other": 0.6},
    (1, 2): {"trees_woodland": 0.9, "urban_mixed": 0.1},
}
# hand-computed shares of the inside part of each cell
GREEN = [[0.7, 0.5, np.nan], [0.0, 0.0, 0.9]]
CANOPY = [[0.2, 0.0, np.nan], [0.0, 0.0, 0.9]]
IMPERVIOUS = [[0.3, 0.5, np.nan], [0.0, 0.6, 0.0]]


def test_shares_hand_computed():
    fr, inside = _fractions(CELLS)
    np.testing.assert_allclose(green.green_share(fr, LEGEND, inside), GREEN, atol=1e-6)
    np.testing.assert_allclose(green.canopy_share(fr, LEGEND, inside), CANOPY, atol=1e-6)
    np.testing.assert_allclose(green.impervious_share(fr, LEGEND, inside), IMPERVIOUS, atol=1e-6)
    assert green.green_share(fr, LEGEND, inside).dtype == np.float32


def test_shares_chunked_equal_in_memory():
    rng = np.random.default_rng(3)
    raw = rng.random((len(LEGEND.classes), 37, 41)).astype(np.float32)
    inside = np.clip(rng.random((37, 41)) * 1.5 - 0.2, 0, 1).astype(np.float32)
    fr = raw / raw.sum(axis=0) * inside
    fr[:, inside <= 0] = np.nan
    dfr = da.from_array(fr, chunks=(-1, 10, 13))
    dins = da.from_array(inside, chunks=(10, 13))
    for f in (green.green_share, green.impervious_share, green.canopy_share):
        a = f(fr, LEGEND, inside)
        b = f(dfr, LEGEND, dins)
        assert isinstance(b, da.Array)
        np.testing.assert_array_equal(a, b.compute())
    red, nir = rng.random((37, 41)), rng.random((37, 41))
    np.testing.assert_array_equal(green.ndvi(red, nir), green.ndvi(da.from_array(red, chunks=9),
                                                                   da.from_array(nir, chunks=9)).compute())


def test_ndvi_hand_computed():
    red = np.array([[0.10, 0.20, 0.0], [0.05, np.nan, 0.30]])
    nir = np.array([[0.50, 0.20, 0.0], [0.45, 0.40, 0.10]])
    # (0.5-0.1)/(0.6) = 2/3; 0/0.4 = 0; 0/0 -> NaN; 0.4/0.5 = 0.8; NaN band -> NaN; -0.2/0.4 = -0.5
    want = [[2 / 3, 0.0, np.nan], [0.8, np.nan, -0.5]]
    np.testing.assert_allclose(green.ndvi(red, nir), want, atol=1e-6)
    # a common gain does not change NDVI (reflectance x 10000 as stored by Sentinel-2 L2A)
    np.testing.assert_allclose(green.ndvi(red * 10000, nir * 10000), want, atol=1e-6)
    with pytest.raises(InputDataError):
        green.ndvi(red, nir[:, :2])


def test_unit_mean_is_share_of_unit_area():
    # 3 x 3 cells of 10 m; the area (and the single unit) is y < 25: the top row is half inside.
    grid = Grid.from_bounds((0, 0, 30, 30), 10, "EPSG:28992")
    cells = {(0, 0): {"lawn_grass": 0.5}, (0, 1): {"lawn_grass": 0.2, "road": 0.3}, (0, 2): {"building": 0.5},
             (1, 0): {"trees_woodland": 1.0}, (1, 1): {"road": 1.0}, (1, 2): {"lawn_grass": 0.25, "building": 0.75},
             (2, 0): {"water": 1.0}, (2, 1): {"shrub": 0.5, "water": 0.5}, (2, 2): {"herb_rich_grassland": 1.0}}
    fr, inside = _fractions(cells, (3, 3))
    share = green.green_share(fr, LEGEND, inside)
    unit = shapely.box(0, 0, 30, 25)
    # green area by hand (m2): 50 + 20 + 0 + 100 + 0 + 25 + 0 + 50 + 100 = 345 of 750 m2
    want = 345 / 750
    rast = NumPyRasterSource(share.astype(np.float64), *grid.bounds, srs_wkt=grid.pyproj_crs.to_wkt())
    vec = gpd.GeoDataFrame({"code": ["u"]}, geometry=[unit], crs=grid.crs)
    got = exact_extract(rast, vec, ["mean"], output="pandas")["mean"].iloc[0]
    assert got == pytest.approx(want, abs=1e-6)
    # without dividing by 'inside' the boundary cells would be undercounted: check that this test would notice
    naive = np.nan_to_num(fr[[i for i, c in enumerate(LEGEND.classes) if c.green]]).sum(axis=0)
    rast2 = NumPyRasterSource(naive.astype(np.float64), *grid.bounds, srs_wkt=grid.pyproj_crs.to_wkt())
    assert exact_extract(rast2, vec, ["mean"], output="pandas")["mean"].iloc[0] < want - 0.02


def _ctx(rasters=None, chunked=False) -> IndicatorContext:
    fr, inside = _fractions(CELLS)
    dom = np.where(inside > 0, 7, 255).astype(np.uint8)
    grid = Grid(crs="EPSG:28992", x0=0.0, y1=20.0, cell=10.0, width=3, height=2)
    if chunked:
        fr, inside = da.from_array(fr, chunks=(-1, 1, 2)), da.from_array(inside, chunks=(1, 2))
    return IndicatorContext(grid, LEGEND, fr, dom, inside, rasters=rasters or {})


def test_compute_without_multispectral_reports_it():
    res = {r.name: r for r in green.compute(_ctx())}
    assert set(res) == {"green_share", "canopy_share", "impervious_share"}
    assert all(r.summarise == ("mean",) for r in res.values())
    notes = " ".join(n for r in res.values() for n in r.notes)
    assert "no multispectral raster supplied" in notes
    assert "'unknown'" in notes and "'urban_mixed'" in notes
    np.testing.assert_allclose(res["green_share"].array, GREEN, atol=1e-6)


def test_compute_with_red_and_nir_and_chunked():
    red = np.array([[0.1, 0.2, 0.3], [0.05, 0.1, 0.1]])
    nir = np.array([[0.5, 0.2, 0.6], [0.45, 0.3, 0.1]])
    res = {r.name: r for r in green.compute(_ctx({"red": red, "nir": nir}))}
    # cell (0,2) is outside the area: NaN even though the bands have values there
    np.testing.assert_allclose(res["ndvi"].array, [[2 / 3, 0.0, np.nan], [0.8, 0.5, 0.0]], atol=1e-6)
    assert not any("no multispectral" in n for r in res.values() for n in r.notes)
    chunked = {r.name: r for r in green.compute(_ctx({"red": red, "nir": nir}, chunked=True))}
    for name, r in res.items():
        np.testing.assert_array_equal(np.asarray(r.array), np.asarray(chunked[name].array))
    with pytest.raises(InputDataError, match="'red' raster"):
        green.compute(_ctx({"red": red[:, :2], "nir": nir[:, :2]}))


def test_bad_class_or_flag():
    fr, inside = _fractions(CELLS)
    with pytest.raises(ConfigError, match="Unknown land-cover class"):
        green.canopy_share(fr, LEGEND, inside, keys=("oak_forest",))
    with pytest.raises(ConfigError):
        green.flag_indices(LEGEND, "blue")
    with pytest.raises(InputDataError):
        green.cover_share(fr[0], [0], inside)
