"""Heat: InVEST Urban Cooling heat-mitigation index against hand-computed values and the formula."""

from __future__ import annotations

import math
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from biostress.errors import ConfigError
from biostress.grid import Grid
from biostress.indicators import heat
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend

LEGEND = load_legend()


def onehot(keys: list[list[str]]) -> np.ndarray:
    """(n_classes, H, W) fractions with one class per cell."""
    h, w = len(keys), len(keys[0])
    fr = np.zeros((len(LEGEND.classes), h, w), dtype=np.float32)
    for r in range(h):
        for c in range(w):
            fr[LEGEND.keys.index(keys[r][c]), r, c] = 1.0
    return fr


def custom_params(cooling_distance_m: float) -> heat.HeatParams:
    """Two-class table: 'paved_other' with CC = 0, 'trees_woodland' a green area with CC = 0.84."""
    table = {
        "paved_other": {"kc": 0.0, "albedo": 0.0, "shade": 0.0, "green_area": 0.0},
        "trees_woodland": {"kc": 1.0, "albedo": 0.2, "shade": 1.0, "green_area": 1.0},
    }
    import pandas as pd

    return heat.HeatParams(table, cooling_distance_m, 0.6, 0.2, 0.2, 20000.0, pd.DataFrame())


def hand_cc_park(park_cells: list[tuple[int, int]], target: tuple[int, int], r_px: int, cc_green: float) -> float:
    """UCM-UG eq. 3b with InVEST's normalised exponential kernel, by explicit loops (target far
    enough from the grid edge for the whole kernel to lie on valid cells)."""
    z = 0.0
    for dy in range(-5 * r_px, 5 * r_px + 1):
        for dx in range(-5 * r_px, 5 * r_px + 1):
            d = math.hypot(dy, dx)
            if d <= 5 * r_px:
                z += math.exp(-d / r_px)
    s = 0.0
    for y, x in park_cells:
        d = math.hypot(y - target[0], x - target[1])
        if d <= 5 * r_px:  # the kernel ends at 5 d_cool
            s += math.exp(-d / r_px)
    return cc_green * s / z


# --------------------------------------------------------------------------------------------
# cooling capacity
# --------------------------------------------------------------------------------------------

def test_cooling_capacity_of_one_cell_by_hand():
    params = heat.load_params(legend=LEGEND)
    keys = [["lawn_grass", "trees_woodland"]]
    out = heat.heat_mitigation_index(onehot(keys), LEGEND, params, cell=10.0)
    # lawn: 0.6*0 + 0.2*0.20 + 0.2*0.75 = 0.19 ; trees: 0.6*1 + 0.2*0.15 + 0.2*1.0 = 0.83
    np.testing.assert_allclose(out.cc[0], [0.19, 0.83], atol=1e-6)


def test_cooling_capacity_fraction_weighted_and_with_et0():
    params = heat.load_params(legend=LEGEND)
    fr = np.zeros((len(LEGEND.classes), 1, 2), dtype=np.float32)
    for col in (0, 1):  # half trees (kc 1, albedo .15, shade 1), half road (kc .75, albedo .15, shade 0)
        fr[LEGEND.keys.index("trees_woodland"), 0, col] = 0.5
        fr[LEGEND.keys.index("road"), 0, col] = 0.5
    out = heat.heat_mitigation_index(fr, LEGEND, params, cell=10.0)
    # kc .875, albedo .15, shade .5 -> 0.3 + 0.03 + 0.175
    np.testing.assert_allclose(out.cc[0], [0.505, 0.505], atol=1e-6)
    assert any("ETI = Kc" in n for n in out.notes)
    et0 = np.array([[4.0, 5.0]])
    out = heat.heat_mitigation_index(fr, LEGEND, params, cell=10.0, et0=et0)
    # ETI = 0.875 * 4/5 = 0.7 -> 0.3 + 0.03 + 0.14 ; second cell ETI = 0.875
    np.testing.assert_allclose(out.cc[0], [0.47, 0.505], atol=1e-6)


def test_unknown_cover_is_left_out_of_the_cell_mean():
    params = heat.load_params(legend=LEGEND)
    fr = np.zeros((len(LEGEND.classes), 1, 2), dtype=np.float32)
    fr[LEGEND.keys.index("lawn_grass"), 0, 0] = 0.4
    fr[LEGEND.keys.index("unknown"), 0, 0] = 0.6
    fr[LEGEND.keys.index("unknown"), 0, 1] = 1.0
    out = heat.heat_mitigation_index(fr, LEGEND, params, cell=10.0)
    assert out.cc[0, 0] == pytest.approx(0.19, abs=1e-6)
    assert np.isnan(out.cc[0, 1]) and np.isnan(out.hm[0, 1])


def test_weights_are_normalised_as_in_invest():
    assert heat.cooling_capacity(1.0, 1.0, 1.0, (3.0, 1.0, 1.0)) == pytest.approx(1.0)
    assert heat.cooling_capacity(1.0, 0.0, 0.0, (3.0, 1.0, 1.0)) == pytest.approx(0.6)


# --------------------------------------------------------------------------------------------
# kernels (InVEST / pygeoprocessing definitions)
# --------------------------------------------------------------------------------------------

def test_kernels_follow_pygeoprocessing():
    k = heat.exponential_kernel(3)
    assert k.shape == (31, 31) and k.sum() == pytest.approx(1.0)
    assert k[15, 15] / k[15, 18] == pytest.approx(math.e)  # 1/e at the expected distance
    assert k[15, 0] > 0 and k[0, 0] == 0  # 15 px away is in, the corner (21 px) is out
    d = heat.dichotomous_kernel(3)
    assert d.shape == (7, 7) and d.sum() == 29  # cells with centre distance <= 3 px
    assert heat.kernel_radius_px(450, 10) == 45 and heat.kernel_radius_px(25, 10) == 2  # round half to even


def test_edge_correction_matches_brute_force():
    rng = np.random.default_rng(1)
    sig = rng.random((9, 11))
    valid = (rng.random((9, 11)) > 0.3).astype(float)
    valid[4, 5] = 1.0
    sig = sig * valid
    k = heat.exponential_kernel(1)
    got = heat.edge_corrected_convolve(sig, valid, k)
    ry = k.shape[0] // 2
    for r, c in [(0, 0), (4, 5), (8, 10), (2, 7)]:
        num = den = 0.0
        for dy in range(-ry, ry + 1):
            for dx in range(-ry, ry + 1):
                y, x = r + dy, c + dx
                if 0 <= y < 9 and 0 <= x < 11:
                    num += sig[y, x] * k[dy + ry, dx + ry]
                    den += valid[y, x] * k[dy + ry, dx + ry]
        expect = num / den * k.sum() if valid[r, c] > 0 else np.nan
        np.testing.assert_allclose(got[r, c], expect, rtol=1e-9, equal_nan=True)


# --------------------------------------------------------------------------------------------
# park cooling and the 2 ha rule
# --------------------------------------------------------------------------------------------

def _grid_with_park(park: list[tuple[int, int]], n: int = 41) -> np.ndarray:
    keys = [["paved_other"] * n for _ in range(n)]
    for y, x in park:
        keys[y][x] = "trees_woodland"
    return onehot(keys)


def test_park_of_at_least_2_ha_raises_hm_of_a_nearby_paved_cell():
    # 50 m cells, d_cool = 150 m -> r = 3 px; a 4 x 4 park (4 ha) east of the target
    park = [(y, x) for y in range(18, 22) for x in range(21, 25)]
    target = (20, 20)
    params = custom_params(150.0)
    out = heat.heat_mitigation_index(_grid_with_park(park), LEGEND, params, cell=50.0)
    # green cells within 3 px of the target: dx=1: dy -2..1 (4), dx=2: dy -2..1 (4), dx=3: dy 0 (1) -> 9 cells
    assert out.green_area_m2[target] == pytest.approx(9 * 2500.0, rel=1e-6)
    cc_green = 0.6 * 1.0 + 0.2 * 0.2 + 0.2 * 1.0
    expect = hand_cc_park(park, target, 3, cc_green)
    assert out.cc[target] == pytest.approx(0.0, abs=1e-9)
    assert out.cc_park[target] == pytest.approx(expect, rel=1e-6)
    assert out.hm[target] == pytest.approx(expect, rel=1e-6)
    assert expect > 0.05
    # a paved cell far from the park (beyond 5 r) keeps its own CC
    assert out.hm[20, 2] == pytest.approx(0.0, abs=1e-9)


def test_park_under_2_ha_has_no_park_effect():
    # 3 x 3 park east of the target: only 7 of its cells lie within 3 px -> 1.75 ha < 2 ha
    park = [(y, x) for y in range(19, 22) for x in range(21, 24)]
    target = (20, 20)
    out = heat.heat_mitigation_index(_grid_with_park(park), LEGEND, custom_params(150.0), cell=50.0)
    assert out.green_area_m2[target] == pytest.approx(7 * 2500.0, rel=1e-6)
    assert out.cc_park[target] > out.cc[target]  # the park would cool, but it is too small
    assert out.hm[target] == pytest.approx(out.cc[target], abs=1e-9)


def test_park_cooling_with_the_built_in_table_on_a_half_park_grid():
    n = 41
    keys = [["road"] * 21 + ["trees_woodland"] * 20 for _ in range(n)]
    params = heat.load_params(legend=LEGEND)
    out = heat.heat_mitigation_index(onehot(keys), LEGEND, heat.HeatParams(
        params.biophysical, 150.0, 0.6, 0.2, 0.2, 20000.0, params.provenance), cell=50.0)
    target = (20, 20)
    park = [(y, x) for y in range(n) for x in range(21, n)]
    expect = hand_cc_park(park, target, 3, 0.83)
    assert out.cc[target] == pytest.approx(0.18, abs=1e-6)  # road: 0.2*0.15 + 0.2*0.75
    assert expect > 0.18
    assert out.hm[target] == pytest.approx(expect, rel=1e-6)


def test_chunked_equals_in_memory():
    rng = np.random.default_rng(7)
    n = len(LEGEND.classes)
    fr = rng.dirichlet(np.ones(n) * 0.3, size=(60, 70)).transpose(2, 0, 1).astype(np.float32)
    fr[:, :3, :5] = np.nan  # outside the area
    et0 = rng.uniform(3, 5, size=(60, 70))
    params = heat.load_params(legend=LEGEND)
    p = heat.HeatParams(params.biophysical, 200.0, 0.6, 0.2, 0.2, 20000.0, params.provenance)
    mem = heat.heat_mitigation_index(fr, LEGEND, p, cell=20.0, et0=et0)
    lazy = heat.heat_mitigation_index(da.from_array(fr, chunks=(n, 17, 23)), LEGEND, p, cell=20.0,
                                      et0=da.from_array(et0, chunks=(17, 23)))
    assert isinstance(lazy.hm, da.Array)
    np.testing.assert_allclose(lazy.hm.compute(), mem.hm, rtol=1e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(lazy.green_area_m2.compute(), mem.green_area_m2, rtol=1e-5, atol=1e-3,
                               equal_nan=True)
    assert np.isnan(mem.hm[:3, :5]).all()
    assert np.isfinite(mem.hm[3:, 5:]).all()


# --------------------------------------------------------------------------------------------
# parameter table and compute(ctx)
# --------------------------------------------------------------------------------------------

def test_parameter_table_is_validated(tmp_path: Path):
    src = heat.params_path(heat.BIOPHYSICAL_FILE)
    text = src.read_text(encoding="utf-8")
    (tmp_path / heat.BIOPHYSICAL_FILE).write_text(text.replace("building,0.75,0.175,0,0,P", "building,0.75,0.175,0,0,X"),
                                                  encoding="utf-8")
    with pytest.raises(ConfigError, match="ev must be"):
        heat.load_params(tmp_path, LEGEND)
    (tmp_path / heat.BIOPHYSICAL_FILE).write_text(text.replace("building,0.75,0.175", "skyscraper,0.75,0.175"),
                                                  encoding="utf-8")
    with pytest.raises(ConfigError, match="skyscraper"):
        heat.load_params(tmp_path, LEGEND)
    (tmp_path / heat.BIOPHYSICAL_FILE).write_text(text.replace("building,0.75,0.175", "building,0.75,1.75"),
                                                  encoding="utf-8")
    with pytest.raises(ConfigError, match="albedo"):
        heat.load_params(tmp_path, LEGEND)
    p = heat.load_params(legend=LEGEND)
    assert set(p.biophysical) == set(LEGEND.keys) - {"unknown"}
    assert set(p.provenance["ev"]) <= {"V", "S", "R", "P"}


def test_compute_returns_results_with_nan_outside():
    keys = [["road"] * 6 + ["trees_woodland"] * 6 for _ in range(10)]
    fr = onehot(keys)
    fr[:, 0, :] = np.nan
    dominant = np.full((10, 12), 2, dtype=np.uint8)
    dominant[0, :] = 255
    inside = np.nan_to_num(fr).sum(axis=0).astype(np.float32)
    grid = Grid("EPSG:28992", 0.0, 500.0, 50.0, 12, 10)
    ctx = IndicatorContext(grid, LEGEND, fr, dominant, inside)
    res = heat.compute(ctx)
    names = [r.name for r in res]
    assert names == ["heat_mitigation", "cooling_capacity"]
    hm = res[0].array
    assert np.isnan(hm[0]).all() and np.isfinite(hm[1:]).all()
    assert (hm[1:] >= 0).all() and (hm[1:] <= 1).all()
    assert any("no 'et0'" in n for n in res[0].notes)
    assert "heat_parameters" in res[0].tables


# --------------------------------------------------------------------------------------------
# comparison with InVEST itself (only where natcap.invest is installed)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("with_nodata", [False, True])
def test_matches_natcap_invest_on_a_small_case(tmp_path: Path, with_nodata: bool):
    ucm = pytest.importorskip("natcap.invest.urban_cooling_model")
    import geopandas as gpd
    import rasterio
    import shapely

    keys = ["paved_other", "trees_woodland", "lawn_grass", "building"]
    rng = np.random.default_rng(3)
    n = 30
    lulc = rng.integers(0, len(keys), size=(n, n)).astype(np.int32)
    lulc[5:15, 5:15] = 1  # a 25 ha wood
    lulc[18:28, 2:12] = 0  # a paved block next to it
    if with_nodata:
        lulc[20:23, 15:19] = -1  # no land-cover data (biostress: the 'unknown' class)
        lulc[0, :] = -1
    cell = 50.0
    crs = "EPSG:28992"
    transform = rasterio.transform.from_origin(100000.0, 400000.0 + n * cell, cell, cell)
    prof = dict(driver="GTiff", width=n, height=n, count=1, crs=crs, transform=transform)
    with rasterio.open(tmp_path / "lulc.tif", "w", dtype="int32", nodata=-1, **prof) as dst:
        dst.write(lulc, 1)
    with rasterio.open(tmp_path / "et0.tif", "w", dtype="float32", nodata=-1, **prof) as dst:
        dst.write(np.full((n, n), 4.0, dtype=np.float32), 1)
    gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.box(100000.0, 400000.0, 100000.0 + n * cell,
                                                        400000.0 + n * cell)], crs=crs).to_file(tmp_path / "aoi.gpkg")
    params = heat.load_params(legend=LEGEND)
    rows = ["lucode,kc,green_area,shade,albedo"]
    for i, k in enumerate(keys):
        b = params.biophysical[k]
        rows.append(f"{i},{b['kc']},{int(b['green_area'])},{b['shade']},{b['albedo']}")
    (tmp_path / "bio.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    ws = tmp_path / "ws"
    ucm.execute({
        "workspace_dir": str(ws), "results_suffix": "", "t_ref": 21.0, "uhi_max": 2.0,
        "lulc_raster_path": str(tmp_path / "lulc.tif"), "ref_eto_raster_path": str(tmp_path / "et0.tif"),
        "aoi_vector_path": str(tmp_path / "aoi.gpkg"), "biophysical_table_path": str(tmp_path / "bio.csv"),
        "green_area_cooling_distance": 150.0, "t_air_average_radius": 100.0, "cc_method": "factors",
        "do_energy_valuation": False, "do_productivity_valuation": False, "n_workers": -1,
    })
    with rasterio.open(ws / "hm.tif") as src:
        invest_hm = src.read(1, masked=True).filled(np.nan)
    fr = onehot([[keys[v] if v >= 0 else "unknown" for v in row] for row in lulc])
    ours = heat.heat_mitigation_index(fr, LEGEND, heat.HeatParams(params.biophysical, 150.0, 0.6, 0.2, 0.2,
                                                                   20000.0, params.provenance), cell=cell)
    assert invest_hm.shape == ours.hm.shape
    np.testing.assert_allclose(ours.hm, invest_hm, atol=1e-5, equal_nan=True)
    park_cells = np.isfinite(ours.hm) & (np.abs(ours.hm - ours.cc) > 1e-3)
    assert park_cells.sum() > 20  # the comparison covers cells cooled by the park, not only CC
