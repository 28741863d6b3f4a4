"""Pluvial flooding: TR-55 runoff values, composite curve numbers and Priority-Flood depressions."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from biostress.errors import ConfigError
from biostress.grid import Grid
from biostress.indicators import flooding
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend

LEGEND = load_legend()
IN = 25.4  # mm per inch


def fractions(cells: list[list[dict[str, float]]]) -> np.ndarray:
    h, w = len(cells), len(cells[0])
    fr = np.zeros((len(LEGEND.classes), h, w), dtype=np.float32)
    for r in range(h):
        for c in range(w):
            for k, v in cells[r][c].items():
                fr[LEGEND.keys.index(k), r, c] = v
    return fr


# --------------------------------------------------------------------------------------------
# runoff
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("p_in", "cn", "q_in"), [
    # TR-55 (1986) table 2-1 "Runoff depth for selected CN's and rainfall amounts" (inches)
    (1.0, 90, 0.32),
    (1.0, 98, 0.79),
    (2.0, 80, 0.56),
    (3.0, 75, 0.96),
    (6.0, 60, 1.92),
    (6.0, 70, 2.81),  # also TR-55 example 2-1 (Dyer County, pasture, 6 in 25-yr storm)
    # worked textbook example: weighted CN 94.82, P = 9 in -> Q = 8.38 in
    (9.0, 94.82, 8.38),
])
def test_scs_runoff_matches_published_values(p_in, cn, q_in):
    q = flooding.scs_runoff_mm(p_in * IN, np.float64(cn))
    assert float(q) / IN == pytest.approx(q_in, abs=0.005)


def test_no_runoff_below_initial_abstraction_and_all_runoff_at_cn_100():
    # CN 80: S = 2.5 in, Ia = 0.5 in
    assert float(flooding.scs_runoff_mm(0.4 * IN, np.float64(80))) == 0.0
    assert float(flooding.scs_runoff_mm(0.5 * IN, np.float64(80))) == 0.0
    assert float(flooding.scs_runoff_mm(70.0, np.float64(100))) == pytest.approx(70.0)
    assert np.isnan(flooding.scs_runoff_mm(70.0, np.array([np.nan]))[0])
    assert flooding.potential_retention_mm(80.0) == pytest.approx(63.5)  # 2.5 in


def test_composite_curve_number_and_runoff_of_a_mixed_cell():
    params = flooding.load_params(legend=LEGEND)
    fr = fractions([[{"building": 0.5, "lawn_grass": 0.5}, {"lawn_grass": 1.0}, {"unknown": 1.0}]])
    cn, known, notes = flooding.composite_curve_number(fr, LEGEND, params)
    # default soil group C: building 98, lawn 74 -> 86
    np.testing.assert_allclose(cn[0, :2], [86.0, 74.0])
    assert np.isnan(cn[0, 2]) and known[0, 2] == 0
    assert any("soil group C" in n for n in notes)
    q = flooding.scs_runoff_mm(70.0, cn)
    s = 25400 / 86 - 254  # 41.349 mm
    expect = (70 - 0.2 * s) ** 2 / (70 - 0.2 * s + s)  # 36.97 mm
    assert q[0, 0] == pytest.approx(expect, rel=1e-6) and expect == pytest.approx(36.97, abs=0.01)
    v = flooding.runoff_volume_m3(q, known, cell=10.0)
    assert v[0, 0] == pytest.approx(expect / 1000 * 100, rel=1e-6)


def test_soil_group_raster_overrides_the_default():
    params = flooding.load_params(legend=LEGEND)
    fr = fractions([[{"lawn_grass": 1.0}] * 4])
    soil = np.array([[1.0, 4.0, np.nan, 9.0]])
    cn, _, notes = flooding.composite_curve_number(fr, LEGEND, params, soil)
    np.testing.assert_allclose(cn[0], [39.0, 80.0, 74.0, 74.0])
    assert any("2 cells" in n for n in notes)


def test_runoff_chunked_equals_in_memory():
    rng = np.random.default_rng(5)
    n = len(LEGEND.classes)
    fr = rng.dirichlet(np.ones(n), size=(30, 40)).transpose(2, 0, 1).astype(np.float32)
    soil = rng.integers(0, 6, size=(30, 40)).astype(float)
    params = flooding.load_params(legend=LEGEND)
    cn, known, _ = flooding.composite_curve_number(fr, LEGEND, params, soil)
    cnl, knownl, _ = flooding.composite_curve_number(da.from_array(fr, chunks=(n, 7, 9)), LEGEND, params,
                                                     da.from_array(soil, chunks=(7, 9)))
    assert isinstance(cnl, da.Array)
    np.testing.assert_allclose(cnl.compute(), cn, rtol=1e-6)
    np.testing.assert_allclose(flooding.scs_runoff_mm(70.0, cnl).compute(), flooding.scs_runoff_mm(70.0, cn),
                               rtol=1e-6)


# --------------------------------------------------------------------------------------------
# depressions
# --------------------------------------------------------------------------------------------

def test_pit_fill_depth_by_hand():
    dem = np.array([
        [5, 5, 5, 5, 5],
        [5, 2, 3, 4, 5],
        [5, 3, 1, 3, 5],
        [5, 4, 3, 2, 5],
        [5, 5, 5, 5, 4],  # the outlet: the basin spills over the corner at 4 m
    ], dtype=float)
    depth = flooding.depression_depth(dem)
    expect = np.array([
        [0, 0, 0, 0, 0],
        [0, 2, 1, 0, 0],
        [0, 1, 3, 1, 0],
        [0, 0, 1, 2, 0],
        [0, 0, 0, 0, 0],
    ], dtype=float)
    np.testing.assert_allclose(depth, expect)


def test_cells_without_elevation_are_outlets():
    dem = np.full((5, 5), 5.0)
    dem[2, 2] = 1.0
    dem[1, 2] = 3.0
    d1 = flooding.depression_depth(dem)
    assert d1[2, 2] == pytest.approx(4.0) and d1[1, 2] == pytest.approx(2.0)  # closed by the 5 m rim
    dem2 = dem.copy()
    dem2[1, 1] = np.nan  # a hole in the DEM next to the pit: water leaves there
    d2 = flooding.depression_depth(dem2)
    assert d2[2, 2] == 0.0 and np.isnan(d2[1, 1])


def test_nested_depressions_and_flats():
    dem = np.array([
        [9, 9, 9, 9, 9, 9, 9],
        [9, 1, 9, 3, 3, 3, 9],
        [9, 9, 9, 3, 2, 3, 9],
        [9, 6, 6, 3, 3, 3, 9],
        [9, 9, 9, 9, 9, 9, 7],
    ], dtype=float)
    # one basin spilling over 9 - the left pit (1) is closed by 9s: filled to 9 (depth 8); the right
    # basin (2, 3) and the 6-flat connect to the outlet at 7 (corner, diagonal from the 3 at [3, 5])
    depth = flooding.depression_depth(dem)
    assert depth[1, 1] == pytest.approx(8.0)
    assert depth[2, 4] == pytest.approx(5.0) and depth[1, 3] == pytest.approx(4.0)
    assert depth[3, 1] == pytest.approx(1.0)


def _planchon_darboux_fill(z: np.ndarray) -> np.ndarray:
    """Independent reference: the filled surface is the fixed point of W = max(Z, min_neighbours W)
    with W = Z on cells touching the edge or a no-data cell (Planchon & Darboux 2001, without epsilon)."""
    h, w = z.shape
    finite = np.isfinite(z)
    pad = np.pad(~finite, 1, constant_values=True)
    seed = np.zeros_like(finite)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                seed |= pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
    seed &= finite
    wv = np.where(seed, z, np.inf)
    wv[~finite] = np.nan
    while True:
        p = np.pad(np.where(finite, wv, np.inf), 1, constant_values=np.inf)
        m = np.full((h, w), np.inf)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy or dx:
                    m = np.minimum(m, p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w])
        new = np.where(seed | ~finite, wv, np.maximum(z, m))
        if np.array_equal(new, wv, equal_nan=True):
            return new
        wv = new


def test_priority_flood_matches_an_independent_algorithm():
    rng = np.random.default_rng(11)
    z = rng.random((40, 50)) * 10
    z[rng.random((40, 50)) < 0.03] = np.nan
    np.testing.assert_allclose(flooding.priority_flood_fill(z), _planchon_darboux_fill(z), equal_nan=True)


def test_depression_depth_keeps_dask():
    dem = np.full((6, 6), 5.0)
    dem[2:4, 2:4] = 3.0
    d = flooding.depression_depth(da.from_array(dem, chunks=3))
    assert isinstance(d, da.Array)
    np.testing.assert_allclose(d.compute()[2:4, 2:4], 2.0)


# --------------------------------------------------------------------------------------------
# parameters and compute(ctx)
# --------------------------------------------------------------------------------------------

def test_curve_number_table_is_validated(tmp_path: Path):
    text = flooding.params_path(flooding.CN_FILE).read_text(encoding="utf-8")
    (tmp_path / flooding.CN_FILE).write_text(text.replace("building,98,98,98,98", "building,98,98,98,120"),
                                             encoding="utf-8")
    with pytest.raises(ConfigError, match="cn_d"):
        flooding.load_params(tmp_path, LEGEND)
    (tmp_path / flooding.CN_FILE).write_text(text.replace(",S,\"TR-55 table 2-2a: streets", ",,\"TR-55 table 2-2a: streets"),
                                             encoding="utf-8")
    with pytest.raises(ConfigError, match="ev must be"):
        flooding.load_params(tmp_path, LEGEND)


def _ctx(rasters: dict) -> IndicatorContext:
    fr = fractions([[{"road": 1.0}, {"lawn_grass": 1.0}, {"building": 0.5, "trees_woodland": 0.5}]] * 3)
    fr[:, 0, 0] = np.nan
    dominant = np.full((3, 3), 2, dtype=np.uint8)
    dominant[0, 0] = 255
    inside = np.nan_to_num(fr).sum(axis=0).astype(np.float32)
    return IndicatorContext(Grid("EPSG:28992", 0.0, 30.0, 10.0, 3, 3), LEGEND, fr, dominant, inside,
                            rasters=rasters)


def test_compute_without_dem_notes_it():
    res = flooding.compute(_ctx({}))
    assert [r.name for r in res] == ["runoff_depth", "runoff_volume"]
    assert flooding.NO_DEM_NOTE in res[0].notes
    assert res[1].summarise == ("sum",)
    q = res[0].array
    assert np.isnan(q[0, 0])
    assert q[1, 0] == pytest.approx(float(flooding.scs_runoff_mm(70.0, np.float64(98))), rel=1e-5)
    assert res[1].array[1, 0] == pytest.approx(q[1, 0] / 1000 * 100, rel=1e-5)


def test_compute_with_dem_adds_depressions():
    dem = np.array([[3.0, 3.0, 3.0], [3.0, 2.5, 3.0], [3.0, 3.0, 3.0]])
    res = flooding.compute(_ctx({"dem": dem}))
    assert [r.name for r in res] == ["runoff_depth", "runoff_volume", "depression_depth", "depression_volume"]
    assert flooding.NO_DEM_NOTE not in res[0].notes
    assert res[2].array[1, 1] == pytest.approx(0.5)
    assert res[3].array[1, 1] == pytest.approx(50.0)
    assert np.isnan(res[2].array[0, 0])
