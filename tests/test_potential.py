"""Potential land cover and the gap to it, against hand-computed cells and hand geometry.

Every expected value below is worked out by hand from the transition rule of
``biostress.potential.transitions`` (moved = f * share, scaled by 1/S when the rows from one class
ask for S > 1 of it) and the definitions of the indicators (green share = green cover / inside).
"""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import geopandas as gpd
import numpy as np
import pytest
import shapely

from biostress.errors import ConfigError, InputDataError
from biostress.grid import Grid
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend
from biostress.potential import compute as pc
from biostress.potential import transitions as pt

LEGEND = load_legend()
K = LEGEND.keys.index
N = len(LEGEND.classes)
HEADER = "from,to,max_share,condition,source,ev,note"


def table(tmp_path: Path, *rows: str) -> pt.TransitionTable:
    """Write a transitions table with ``rows`` into ``tmp_path`` and load it (area override)."""
    (tmp_path / pt.TRANSITIONS_FILE).write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return pt.load_transitions(tmp_path, LEGEND)


def fractions(cells: list[list[dict[str, float] | None]]) -> np.ndarray:
    """(N, H, W) float32 from rows of {class: fraction} (None = outside the area: NaN)."""
    h, w = len(cells), len(cells[0])
    fr = np.zeros((N, h, w), dtype=np.float32)
    for r, row in enumerate(cells):
        for c, d in enumerate(row):
            if d is None:
                fr[:, r, c] = np.nan
            else:
                for k, v in d.items():
                    fr[K(k), r, c] = v
    return fr


def expect(cells: list[list[dict[str, float]]]) -> np.ndarray:
    return fractions(cells).astype(np.float64)


# ------------------------------------------------------------------ the transition rule

def test_hand_computed_cell_paved_and_lawn(tmp_path):
    t = table(tmp_path, "paved_other,garden_allotment,0.3,always,test,P,",
              "lawn_grass,herb_rich_grassland,0.5,always,test,P,")
    fr = fractions([[{"paved_other": 0.6, "lawn_grass": 0.4}]])
    out = pt.potential_fractions(fr, LEGEND, t)
    # paved 0.6 -> 0.6 * 0.3 = 0.18 garden, 0.42 stays; lawn 0.4 -> 0.2 herb-rich, 0.2 stays
    want = expect([[{"paved_other": 0.42, "garden_allotment": 0.18, "lawn_grass": 0.2, "herb_rich_grassland": 0.2}]])
    np.testing.assert_allclose(out, want, atol=1e-7)
    assert out.dtype == np.float32
    assert out.sum() == pytest.approx(1.0, abs=1e-6)


def test_caps_when_two_transitions_share_a_source(tmp_path):
    t = table(tmp_path, "paved_other,garden_allotment,0.7,always,test,P,",
              "paved_other,herb_rich_grassland,0.6,urban,test,P,",
              "building,green_roof,0.5,urban,test,P,")
    cell = {"paved_other": 0.5, "building": 0.5}
    fr = fractions([[cell, cell, cell]])
    urban = np.array([[1.0, 0.0, 0.5]])  # urban, rural, half (a partial condition)
    out = pt.potential_fractions(fr, LEGEND, t, {"urban": urban})
    want = expect([[
        # asks 0.7 + 0.6 = 1.3 > 1: each scaled by 1/1.3, nothing paved left
        {"garden_allotment": 0.5 * 0.7 / 1.3, "herb_rich_grassland": 0.5 * 0.6 / 1.3,
         "building": 0.25, "green_roof": 0.25},
        # only the 'always' row: 0.35 garden, 0.15 paved left; building unchanged
        {"paved_other": 0.15, "garden_allotment": 0.35, "building": 0.5},
        # asks 0.7 + 0.5 * 0.6 = 1.0 exactly: all paved moves; roofs 0.5 * 0.5 * 0.5 = 0.125
        {"garden_allotment": 0.35, "herb_rich_grassland": 0.15, "building": 0.375, "green_roof": 0.125},
    ]])
    np.testing.assert_allclose(out, want, atol=1e-7)
    assert (out >= 0).all()


def test_sums_preserved_never_negative_and_dask_equals_numpy():
    rng = np.random.default_rng(7)
    h, w = 23, 29
    raw = rng.random((N, h, w)) ** 3
    inside = np.clip(rng.random((h, w)) * 1.4 - 0.2, 0, 1)
    fr = (raw / raw.sum(axis=0) * inside).astype(np.float32)
    fr[:, inside <= 0] = np.nan
    t = pt.load_transitions(legend=LEGEND)  # the built-in table
    masks = {"near_natura2000": rng.random((h, w)) > 0.5, "urban": rng.random((h, w)) > 0.4,
             "shore": rng.random((h, w)) > 0.7}
    masks["rural"] = ~masks["urban"]
    out = pt.potential_fractions(fr, LEGEND, t, masks)
    ok = inside > 0
    assert np.isnan(out[:, ~ok]).all()
    assert (out[:, ok] >= 0).all()
    np.testing.assert_allclose(out[:, ok].sum(axis=0), fr[:, ok].sum(axis=0), atol=2e-6)
    # classes without a row 'from' them only gain; the unknown class never changes
    np.testing.assert_array_equal(out[K("unknown")], fr[K("unknown")])
    assert (out[K("herb_rich_grassland"), ok] >= fr[K("herb_rich_grassland"), ok]).all()
    dfr = da.from_array(fr, chunks=(-1, 8, 10))
    dmasks = {k: da.from_array(v, chunks=(8, 10)) for k, v in masks.items()}
    dout = pt.potential_fractions(dfr, LEGEND, t, dmasks)
    assert isinstance(dout, da.Array) and dout.chunks == dfr.chunks
    np.testing.assert_allclose(dout.compute(), out, atol=1e-7, equal_nan=True)


def test_missing_or_misshaped_mask_is_an_error(tmp_path):
    t = table(tmp_path, "road,trees_woodland,0.2,urban,test,P,")
    fr = fractions([[{"road": 1.0}, {"road": 1.0}]])
    with pytest.raises(InputDataError, match="urban"):
        pt.potential_fractions(fr, LEGEND, t, {})
    with pytest.raises(InputDataError, match="shape"):
        pt.potential_fractions(fr, LEGEND, t, {"urban": np.ones((2, 2), bool)})
    with pytest.raises(InputDataError, match="fractions"):
        pt.potential_fractions(fr[:5], LEGEND, t, {"urban": np.ones((1, 2), bool)})


# ------------------------------------------------------------------ condition masks

def test_near_natura2000_hand_geometry():
    grid = Grid("EPSG:28992", 0.0, 60.0, 10.0, 8, 6)
    # the polygon is exactly cell (row 3, col 3): x 30-40, y 20-30; the distance from the centre of the
    # cell (dr, dc) cells away is hypot(max(0, 10|dc| - 5), max(0, 10|dr| - 5)) m
    sites = gpd.GeoDataFrame({"name": ["N2000"]}, geometry=[shapely.box(30, 20, 40, 30)], crs="EPSG:28992")
    near12 = np.zeros((6, 8), bool)
    near12[2:5, 2:5] = True  # 5 m (sides) and 7.07 m (corners); 15 m (two cells away) is out
    np.testing.assert_array_equal(pt.near_natura2000_mask(grid, sites, 12.0), near12)
    near16 = np.zeros((6, 8), bool)
    near16[1:6, 1:6] = True  # 15 m and hypot(15, 5) = 15.8 m are in ...
    for r, c in ((1, 1), (1, 5), (5, 1), (5, 5)):  # ... hypot(15, 15) = 21.2 m is not
        near16[r, c] = False
    np.testing.assert_array_equal(pt.near_natura2000_mask(grid, sites, 16.0), near16)
    # a site given in another CRS is reprojected
    np.testing.assert_array_equal(pt.near_natura2000_mask(grid, sites.to_crs("EPSG:4326"), 16.0), near16)
    # a site beyond the grid still reaches into it: x <= -15, distance from column c = 20 + 10 c
    far = gpd.GeoDataFrame(geometry=[shapely.box(-100, -100, -15, 200)], crs="EPSG:28992")
    want = np.zeros((6, 8), bool)
    want[:, :3] = True  # 20, 30, 40 m <= 40 m
    np.testing.assert_array_equal(pt.near_natura2000_mask(grid, far, 40.0), want)
    assert not pt.near_natura2000_mask(grid, None, 1000.0).any()


def test_urban_rural_from_the_built_share_around_a_cell():
    # column 0 buildings, the rest pasture; radius 10 m at 10 m cells = the cell and its 4 neighbours
    # (beyond the grid edge and outside the area left out of the mean). Means by hand:
    #   rows 0 and 2: col0 2/3, col1 1/4, col2 0, col3 0;   row 1: col0 3/4, col1 1/5, col2 0, col3 0
    cells = [[{"building": 1.0}] + [{"pasture": 1.0}] * 3 for _ in range(3)]
    fr = fractions(cells)
    inside = np.ones((3, 4), np.float32)
    urban, rural = pt.urban_mask(fr, LEGEND, inside, 10.0, 10.0, 0.2)
    want = np.array([[1, 1, 0, 0]] * 3, bool)
    np.testing.assert_array_equal(urban, want)
    np.testing.assert_array_equal(rural, ~want)
    urban, _ = pt.urban_mask(fr, LEGEND, inside, 10.0, 10.0, 0.22)  # 1/5 < 0.22 <= 1/4
    np.testing.assert_array_equal(urban, [[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0]])
    # a cell outside the area is neither urban nor rural
    cells[2][3] = None
    fr = fractions(cells)
    inside[2, 3] = 0
    urban, rural = pt.urban_mask(da.from_array(fr, chunks=(-1, 2, 2)), LEGEND, da.from_array(inside, chunks=2),
                                 10.0, 10.0, 0.2)
    u, r = urban.compute(), rural.compute()
    assert not u[2, 3] and not r[2, 3]
    np.testing.assert_array_equal(u, want & (inside > 0))


def test_shore_cells():
    fr = fractions([[{"water": 1.0}, {"water": 0.5, "lawn_grass": 0.5}, {"water": 0.98, "unknown": 0.02},
                     {"water": 0.97, "lawn_grass": 0.03}, {"lawn_grass": 1.0}]])
    inside = np.ones((1, 5), np.float32)
    np.testing.assert_array_equal(pt.shore_mask(fr, LEGEND, inside, 0.05), [[False, True, False, False, False]])
    np.testing.assert_array_equal(pt.shore_mask(fr, LEGEND, inside, 0.0), [[False, True, False, True, False]])


# ------------------------------------------------------------------ dominant class and context

def test_dominant_class_hand_cases_numpy_and_dask():
    fr = fractions([[{"paved_other": 0.42, "lawn_grass": 0.2, "herb_rich_grassland": 0.2, "garden_allotment": 0.18},
                     {"lawn_grass": 0.5, "herb_rich_grassland": 0.5}, None, {}]])
    inside = np.array([[1.0, 1.0, 0.0, 1.0]], np.float32)
    want = [[3, 7, 255, 0]]  # largest; tie -> lower code; outside; inside but nothing covers it
    got = pc.dominant_class(fr, LEGEND, inside)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.uint8
    dgot = pc.dominant_class(da.from_array(fr, chunks=(5, 1, 2)), LEGEND, da.from_array(inside, chunks=(1, 2)))
    np.testing.assert_array_equal(dgot.compute(), want)


def _ctx(cells, **kw) -> IndicatorContext:
    fr = fractions(cells)
    inside = np.nan_to_num(fr).sum(axis=0).astype(np.float32)
    dominant = pc.dominant_class(fr, LEGEND, inside)
    h, w = inside.shape
    grid = Grid("EPSG:28992", 100000.0, 400000.0 + 10.0 * h, 10.0, w, h)
    return IndicatorContext(grid, LEGEND, fr, dominant, inside, **kw)


def test_with_landcover_replaces_fractions_recomputes_dominant_and_drops_derived():
    ctx = _ctx([[{"paved_other": 1.0}, {"lawn_grass": 1.0}]])
    one = np.ones((1, 2), np.float32)
    ctx.rasters = {"dem": one, "et0": one, "green_share": one, "heat_mitigation": one, "heat": one,
                   "guide_egel_suitability": one, "potential_green_share": one, "drought": one}
    new = fractions([[{"garden_allotment": 1.0}, {"lawn_grass": 0.4, "herb_rich_grassland": 0.6}]])
    c2 = pc.with_landcover(ctx, new)
    assert c2.fractions is new
    np.testing.assert_array_equal(c2.dominant, [[13, 8]])
    # inputs stay; indicator results go, and 'heat' (derived from heat_mitigation, which is present) too;
    # 'drought' stays: there is no drought_vulnerability it could come from
    assert set(c2.rasters) == {"dem", "et0", "drought"}
    assert "green_share" in ctx.rasters and ctx.dominant.tolist() == [[3, 7]]  # the original is untouched
    with pytest.raises(InputDataError, match="shape"):
        pc.with_landcover(ctx, new[:, :, :1])


# ------------------------------------------------------------------ a small real run

ALWAYS = ("paved_other,garden_allotment,0.3,always,test,P,", "lawn_grass,herb_rich_grassland,0.5,always,test,P,",
          "building,green_roof,0.25,always,test,P,", "water,reed_wetland,0.2,always,test,P,")
A = {"paved_other": 0.6, "lawn_grass": 0.4}
A_HALF = {"paved_other": 0.3, "lawn_grass": 0.2}  # half of the cell inside the area
B = {"building": 0.5, "road": 0.5}
C = {"water": 1.0}
D = {"pasture": 1.0}


def _grid_cells():
    return [[None] * 6] + [[A_HALF if r == 1 else A, A, B, B, C, D] for r in range(1, 5)]


def test_small_run_gap_green_share_hand_computed(tmp_path):
    table(tmp_path, *ALWAYS)
    ctx = _ctx(_grid_cells(), params_dir=tmp_path)
    res = {r.name: r for r in pc.compute(ctx)}
    nan = np.nan
    # change in green cover / inside: A 0.3 * 0.6 = 0.18 (lawn -> herb-rich stays green); A_HALF
    # (0.09 + 0.1 + 0.1)/0.5 - 0.2/0.5 = 0.18; B 0.25 * 0.5 = 0.125; C 0.2 (water -> reed); D 0
    row = [0.18, 0.18, 0.125, 0.125, 0.2, 0.0]
    want = np.array([[nan] * 6] + [row] * 4)
    np.testing.assert_allclose(res["gap_green_share"].array, want, atol=1e-6)
    assert (res["gap_green_share"].array[1:] >= 0).all()
    np.testing.assert_allclose(res["gap_impervious_share"].array[1:], [[-0.18, -0.18, -0.125, -0.125, 0, 0]] * 4,
                               atol=1e-6)
    # potential dominant class: A paved 0.42 (3); B road 0.5 > building 0.375 (2); C water 0.8 (5); D pasture (12)
    np.testing.assert_array_equal(res["potential_landcover"].array, [[255] * 6] + [[3, 3, 2, 2, 5, 12]] * 4)
    expected_names = {"potential_landcover", "potential_green_share", "gap_green_share", "potential_canopy_share",
                      "potential_heat_mitigation", "gap_heat_mitigation", "potential_cooling_capacity",
                      "potential_runoff_depth", "gap_runoff_depth", "potential_habitat_quality",
                      "gap_habitat_quality", "gap_habitat_degradation"}
    assert expected_names <= set(res)
    assert "potential_ndvi" not in res and "potential_depression_depth" not in res
    # every transition replaces cover by one with a lower curve number (flooding_curve_numbers.csv):
    # the design-storm runoff cannot rise anywhere
    assert (np.nan_to_num(res["gap_runoff_depth"].array) <= 1e-6).all()
    lc = res["potential_landcover"]
    assert lc.palette == "categorical" and (3, "Other paved / Overig verhard", "#9b9b9b") in lc.categories
    change = lc.tables["potential_landcover_change"].set_index("class")
    # garden: 0.3 * paved (7 cells of 0.6 + 1 of 0.3 = 4.5 cells) = 1.35 cells of 100 m2 = 0.0135 ha
    assert change.loc["garden_allotment", "change_ha"] == pytest.approx(0.0135, abs=1e-7)
    assert change["change_ha"].sum() == pytest.approx(0.0, abs=1e-7)
    assert set(lc.tables["potential_transitions"]["ev"]) == {"P"}
    assert not ctx.rasters  # the caller's context is not changed


def test_current_values_are_taken_from_the_context_when_present(tmp_path):
    table(tmp_path, *ALWAYS)
    ctx = _ctx(_grid_cells(), params_dir=tmp_path)
    ctx.rasters["green_share"] = np.zeros(ctx.grid.shape, np.float32)  # a stand-in 'current' green share
    res = {r.name: r for r in pc.compute(ctx, ["green"])}
    # gap = potential - 0 = the potential green share: A (0.4 + 0.18), B 0.125, C 0.2, D 1
    np.testing.assert_allclose(res["gap_green_share"].array[1:], [[0.58, 0.58, 0.125, 0.125, 0.2, 1.0]] * 4,
                               atol=1e-6)
    # canopy share was not in the context: computed (no trees anywhere: gap 0)
    np.testing.assert_allclose(res["gap_canopy_share"].array[1:], 0.0, atol=1e-7)
    assert not any(n.startswith("potential_heat") for n in res)


def test_builtin_table_with_natura2000_and_guide_species():
    # 6 x 8 cells of 10 m: rows 0-2 town (paved/lawn/buildings), rows 3-5 pasture; a Natura 2000 site
    # 500 m west of the grid (default distance 1000 m: all pasture is near it)
    town = [[A, B, {"lawn_grass": 1.0}, B, A, B, {"lawn_grass": 1.0}, A] for _ in range(3)]
    cells = town + [[D] * 8 for _ in range(3)]
    site = gpd.GeoDataFrame(geometry=[shapely.box(99000, 399000, 99500, 401000)], crs="EPSG:28992")
    ctx = _ctx(cells, layers={"natura2000": site})
    res = {r.name: r for r in pc.compute(ctx, ["green", "guide_species"])}
    assert (res["gap_green_share"].array >= -1e-7).all()
    change = res["potential_landcover"].tables["potential_landcover_change"].set_index("class")
    # herb-rich grassland gained, by hand (ha = cells * 0.01):
    #   lawn 0.5 * (6 cells of 1.0 + 9 of 0.4) = 4.8 cells; paved 0.15 * 9 cells of 0.6 = 0.81 cells;
    #   pasture near Natura 2000: 0.3 * 24 cells = 7.2 cells       -> 12.81 cells = 0.1281 ha
    assert change.loc["herb_rich_grassland", "change_ha"] == pytest.approx(0.1281, abs=1e-6)
    assert change.loc["shrub", "change_ha"] == pytest.approx(0.03 * 24 * 0.01, abs=1e-7)
    gs = res["potential_landcover"].tables["potential_guide_species"].set_index("species")
    assert len(gs) > 5
    np.testing.assert_allclose(gs["change_suitable_ha"], gs["potential_suitable_ha"] - gs["current_suitable_ha"])
    # the common blue weights herb-rich grassland 1.0, green roofs 0.3, gardens 0.2 over lawn 0.2, pasture 0.3
    # and paving/buildings 0 (only pasture -> shrub, 0.03 of it, loses 0.3 * 0.03); its road and paving
    # stressors can only fall and heat is not rated: its suitability cannot drop anywhere and rises somewhere
    gap = res["gap_guide_icarusblauwtje_suitability"].array
    assert np.nanmin(gap) >= -1e-6 and np.nanmax(gap) > 0.05
    assert "potential_guide_species_key_networks" in res and "gap_guide_icarusblauwtje_suitability" in res
    assert "gap_guide_icarusblauwtje_network" not in res  # categorical: no difference raster


def test_compute_on_dask_equals_numpy():
    site = gpd.GeoDataFrame(geometry=[shapely.box(100000, 400000, 100020, 400020)], crs="EPSG:28992")
    ctx = _ctx(_grid_cells(), layers={"natura2000": site})
    res = {r.name: r.array for r in pc.compute(ctx, ["green", "flooding"])}
    dctx = IndicatorContext(ctx.grid, LEGEND, da.from_array(ctx.fractions, chunks=(-1, 3, 4)),
                            da.from_array(ctx.dominant, chunks=(3, 4)), da.from_array(ctx.inside, chunks=(3, 4)),
                            layers=ctx.layers)
    dres = {r.name: r.array for r in pc.compute(dctx, ["green", "flooding"])}
    assert set(dres) == set(res)
    for name, arr in res.items():
        assert isinstance(dres[name], da.Array), name
        np.testing.assert_allclose(np.asarray(dres[name].compute(), float), np.asarray(arr, float), atol=1e-6,
                                   equal_nan=True, err_msg=name)


def test_default_modules_add_guide_species_only_when_it_ran(tmp_path):
    table(tmp_path, *ALWAYS)
    ctx = _ctx(_grid_cells(), params_dir=tmp_path)
    names = {r.name for r in pc.compute(ctx)}
    assert "potential_heat_mitigation" in names and not any("guide" in n for n in names)
    with pytest.raises(ConfigError, match="Unknown indicator"):
        pc.compute(ctx, ["green", "greenness"])


# ------------------------------------------------------------------ bad tables

GOOD = "paved_other,garden_allotment,0.3,always,test,P,"


@pytest.mark.parametrize(("row", "match"), [
    ("paved_other,garden_allotment,0.3,sometimes,test,P,", "unknown condition 'sometimes'"),
    ("paved_other,garden_allotment,1.5,always,test,P,", "max_share = 1.5 is outside"),
    ("paved_other,garden_allotment,-0.1,always,test,P,", "max_share"),
    ("paved_other,garden_allotment,lots,always,test,P,", "max_share 'lots' is not a number"),
    ("paved_other,spaceship,0.3,always,test,P,", "'spaceship', which is not in the legend"),
    ("paved_other,garden_allotment,0.3,always,test,X,", "ev must be one of"),
    ("paved_other,garden_allotment,0.3,always,,P,", "source is empty"),
    ("lawn_grass,lawn_grass,0.3,always,test,P,", "both 'lawn_grass'"),
    ("unknown,lawn_grass,0.3,always,test,P,", "'from' is 'unknown'"),
    (GOOD, "already on line 2"),
])
def test_bad_table_rows_raise_config_error(tmp_path, row, match):
    with pytest.raises(ConfigError, match=match):
        table(tmp_path, GOOD, row)


def test_bad_table_file_and_settings(tmp_path):
    (tmp_path / pt.TRANSITIONS_FILE).write_text("from,to,max_share,source,ev\nroad,shrub,0.1,x,P\n")
    with pytest.raises(ConfigError, match=r"lacks the column\(s\) \['condition'\]"):
        pt.load_transitions(tmp_path)
    p = tmp_path / pt.SETTINGS_FILE
    p.write_text("parameter,value,units,ev,source\nnatura2000_distance_m,250,m,P,test\n")
    s = pt.load_settings(tmp_path)
    assert s.natura2000_distance_m == 250.0 and s.urban_radius_m == pt.DEFAULT_SETTINGS["urban_radius_m"][0]
    p.write_text("parameter,value,units,ev,source\nurban_min_built_share,2,fraction,P,test\n")
    with pytest.raises(ConfigError, match="urban_min_built_share|value = 2"):
        pt.load_settings(tmp_path)
    p.write_text("parameter,value,units,ev,source\nbuffer_m,2,m,P,test\n")
    with pytest.raises(ConfigError, match="unknown parameter 'buffer_m'"):
        pt.load_settings(tmp_path)


def test_builtin_table_is_valid_and_sourced():
    t = pt.load_transitions(legend=LEGEND)
    assert len(t.rows) >= 10
    assert all(r.source and r.ev in ("V", "S", "R", "P") for r in t.rows)
    assert {r.condition for r in t.rows} == set(pt.CONDITIONS)
    # no class gives away more than all of its cover under one set of conditions that can hold together
    for key in {r.from_key for r in t.rows}:
        for excl in ("urban", "rural"):
            total = sum(r.max_share for r in t.rows if r.from_key == key and r.condition != excl)
            assert total <= 1.0, key
