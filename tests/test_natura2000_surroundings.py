"""Natura 2000 surroundings on a hand-made case.

The grid: 20 x 20 cells of 10 m (RD New, x 100000-100200, y 430000-430200). Site "A" is the square
x 100080-100120, y 430080-430120 (rows 8-11, cols 8-11 = 16 cells, 0.16 ha) covered by trees.
With a zone of d = 20 m the ring is four full strips of 2 x 4 cells (4 a d = 3200 m2, a = 40 m)
and four quarter discs of radius 20 m (pi d^2 = 1256.6 m2) that lie exactly in the 2 x 2 corner
blocks. Hand-placed land cover in the ring:

* north strip (rows 6-7, cols 8-11): arable                          800 m2 arable
* east strip (rows 8-11, cols 12-13): pasture                        800 m2 pasture
* south strip, row 12 (cols 8-11): other paved                       400 m2 paved
* south strip, row 13: half arable, half water                       200 m2 arable, 200 m2 water
* west strip (rows 8-11, cols 6-7): herb-rich grassland              800 m2 (natural cover)
* corner blocks: lawn                                                the quarter discs: 400 pi m2

Everything else is pasture. A second site "B" (far corner) is in the layer too.
"""

from __future__ import annotations

import math

import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from biostress.errors import ConfigError, InputDataError
from biostress.grid import Grid
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend
from biostress.measures import Catalogue, Value, load_catalogue
from biostress.natura2000 import (
    check_farm_types,
    farm_type_economics,
    load_farm_types,
    per_ha_units,
    site_pressures,
    surrounding_zone,
    surroundings_report,
    zone_measures,
)

LEGEND = load_legend()
X0, Y1, CELL, N = 100000.0, 430200.0, 10.0, 20
D = 20.0
A_SIDE = 40.0
Z = 4 * A_SIDE * D + math.pi * D**2  # ring area of a square buffered by D, m2
REL = 2e-3  # shapely approximates the quarter circles with 16 segments (area 0.16 % below pi d^2)


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def _sites(crs: str = "EPSG:28992") -> gpd.GeoDataFrame:
    a = shapely.box(X0 + 80, 430080, X0 + 120, 430120)
    b = shapely.box(X0, 430000, X0 + 20, 430020)
    return gpd.GeoDataFrame({"sitecode_hr": ["NL0000001", "NL0000002"], "slug": ["test-a", "test-b"],
                             "naam": ["Test site A", "Test site B"]}, geometry=[a, b], crs=crs)


def _fractions() -> np.ndarray:
    fr = np.zeros((len(LEGEND.classes), N, N), dtype=np.float32)
    k = LEGEND.keys.index

    def put(rows, cols, **shares):
        fr[:, rows, cols] = 0.0
        for key, v in shares.items():
            fr[k(key), rows, cols] = v

    put(slice(None), slice(None), pasture=1.0)
    put(slice(8, 12), slice(8, 12), trees_woodland=1.0)  # the site
    put(slice(6, 8), slice(8, 12), arable=1.0)  # north strip
    put(slice(8, 12), slice(12, 14), pasture=1.0)  # east strip
    put(slice(12, 13), slice(8, 12), paved_other=1.0)  # south strip, inner row
    put(slice(13, 14), slice(8, 12), arable=0.5, water=0.5)  # south strip, outer row
    put(slice(8, 12), slice(6, 8), herb_rich_grassland=1.0)  # west strip
    for rows in (slice(6, 8), slice(12, 14)):
        for cols in (slice(6, 8), slice(12, 14)):
            put(rows, cols, lawn_grass=1.0)  # corner blocks
    return fr


def _ctx(rasters: dict | None = None, fractions=None) -> IndicatorContext:
    grid = Grid("EPSG:28992", X0, Y1, CELL, N, N)
    fr = _fractions() if fractions is None else fractions
    return IndicatorContext(grid=grid, legend=LEGEND, fractions=fr, dominant=np.ones((N, N), np.uint8),
                            inside=np.ones((N, N), np.float32), layers={"natura2000": _sites()},
                            rasters=dict(rasters or {}))


# --------------------------------------------------------------------------------------------
# zone
# --------------------------------------------------------------------------------------------

def test_zone_is_a_ring_of_the_right_area():
    z = surrounding_zone(_sites(), "NL0000001", D)
    assert len(z) == 1 and z["site_name"].iloc[0] == "Test site A"
    assert z["area_ha"].iloc[0] == pytest.approx(Z / 1e4, rel=REL)
    assert z["site_area_ha"].iloc[0] == pytest.approx(0.16)
    ring = z.geometry.iloc[0]
    assert not ring.contains(shapely.Point(X0 + 100, 430100))  # the site itself is not in the ring
    assert ring.contains(shapely.Point(X0 + 100, 430130))  # 10 m north of the site
    assert not ring.contains(shapely.Point(X0 + 100, 430145))  # 25 m north: beyond the ring
    # matched on the slug and the name too, case-insensitively
    assert surrounding_zone(_sites(), "TEST-A", D)["area_ha"].iloc[0] == pytest.approx(z["area_ha"].iloc[0])


def test_unknown_site_lists_the_available_ones():
    with pytest.raises(InputDataError) as e:
        surrounding_zone(_sites(), "NL9999999", D)
    assert "NL9999999" in str(e.value) and "NL0000001" in str(e.value) and "NL0000002" in str(e.value)


@pytest.mark.parametrize("bad", [0, -5, float("nan"), "far"])
def test_distance_must_be_positive(bad):
    with pytest.raises(ConfigError, match="distance_m"):
        surrounding_zone(_sites(), "NL0000001", bad)


def test_geographic_layer_is_refused():
    with pytest.raises(InputDataError, match="geographic"):
        surrounding_zone(_sites().to_crs("EPSG:4326"), "NL0000001", D)


def test_no_natura2000_layer_is_a_clear_error():
    ctx = _ctx()
    ctx.layers = {}
    with pytest.raises(InputDataError, match="Natura 2000"):
        site_pressures(ctx, "NL0000001", D)


# --------------------------------------------------------------------------------------------
# pressures
# --------------------------------------------------------------------------------------------

def test_areas_and_landcover_shares_by_hand():
    p = site_pressures(_ctx(), "NL0000001", D)
    areas = p["areas"]
    assert areas.loc["site", "area_ha"] == pytest.approx(0.16)
    assert areas.loc["site", "with_landcover_ha"] == pytest.approx(0.16)
    assert areas.loc["zone", "area_ha"] == pytest.approx(Z / 1e4, rel=REL)
    assert areas.loc["zone", "with_landcover_ha"] == pytest.approx(Z / 1e4, rel=REL)
    lc = p["landcover"]
    assert lc.loc["trees_woodland", "site_share"] == pytest.approx(1.0)
    expected = {"arable": 1000.0, "pasture": 800.0, "paved_other": 400.0, "water": 200.0,
                "herb_rich_grassland": 800.0, "lawn_grass": math.pi * D**2, "trees_woodland": 0.0}
    for key, m2 in expected.items():
        assert lc.loc[key, "zone_share"] == pytest.approx(m2 / Z, rel=REL, abs=1e-9), key
    assert lc.loc["arable", "zone_ha"] == pytest.approx(0.1, rel=1e-6)
    assert lc["zone_share"].sum() == pytest.approx(1.0)


def test_drained_share_and_hostile_share_by_hand():
    p = site_pressures(_ctx(), "NL0000001", D)
    dry = p["drying_out"].set_index(["part", "metric"])["value"]
    assert dry[("zone", "drained_share")] == pytest.approx((1000 + 800 + 400) / Z, rel=REL)
    assert dry[("zone", "paved_share")] == pytest.approx(400 / Z, rel=REL)
    assert dry[("site", "drained_share")] == pytest.approx(0.0)
    assert p["hostile"]["hostile_share"].iloc[0] == pytest.approx(400 / Z, rel=REL)
    # within 10 m of the site: inner rows/columns of the strips + quarter discs of radius 10 m
    near = site_pressures(_ctx(), "NL0000001", D, dispersal_m=10)["hostile"].iloc[0]
    assert near["reach_m"] == 10
    assert near["hostile_share"] == pytest.approx(400 / (4 * A_SIDE * 10 + math.pi * 100), rel=REL)


def test_without_deposition_nitrogen_is_not_available():
    p = site_pressures(_ctx(), "NL0000001", D)
    n = p["nitrogen"]
    assert set(n["status"]) == {"not available: no deposition data"}
    assert n[["mean_exceedance", "max_exceedance"]].isna().all().all()
    dry = p["drying_out"].set_index(["part", "metric"])
    assert dry.loc[("site", "mean_drought_vulnerability"), "status"].startswith("not available")


def _nitrogen_rasters() -> dict:
    kdw = np.full((N, N), np.nan, dtype=np.float32)
    kdw[8:12, 8:10] = 1000.0
    kdw[8:12, 10:12] = 2000.0
    exc_site = np.array([[-100, -70, -50, 0],
                         [30, 70, 71, 500],
                         [999, 1000, 1999, 2000],
                         [200, 200, -500, -500]], dtype=np.float32)
    dep = np.full((N, N), 1500.0, dtype=np.float32)
    dep[8:12, 8:12] = kdw[8:12, 8:12] + exc_site
    exc = dep - kdw  # NaN where there is no KDW
    return {"nitrogen_deposition": dep, "nitrogen_kdw": kdw, "nitrogen_exceedance": exc}


def test_exceedance_statistics_and_aerius_classes_by_hand():
    p = site_pressures(_ctx(_nitrogen_rasters()), "NL0000001", D)
    site = p["nitrogen"].loc["site"]
    assert site["status"] == "ok"
    assert site["area_with_data_ha"] == pytest.approx(0.16)
    assert site["mean_exceedance"] == pytest.approx((-220 + 671 + 5998 - 600) / 16)
    assert site["max_exceedance"] == pytest.approx(2000.0)
    assert site["share_above_kdw"] == pytest.approx(10 / 16)
    # classes by hand (AERIUS Monitor: <= -70 geen; (-70, 0] bijna; (0, 70] licht; (70, KDW) matig; >= KDW sterk):
    # row 8: geen geen bijna bijna; row 9: licht licht matig matig; row 10: matig sterk matig sterk;
    # row 11: matig matig geen geen
    expected = {"geen_overbelasting": 4, "bijna_overbelast": 2, "lichte_overbelasting": 2,
                "matige_overbelasting": 6, "sterke_overbelasting": 2}
    for key, n in expected.items():
        assert site[f"{key}_share"] == pytest.approx(n / 16), key
        assert site[f"{key}_ha"] == pytest.approx(n * 0.01), key
    assert p["nitrogen"].loc["zone", "status"].startswith("no exceedance values")
    # without the deposition raster the classes come from exceedance + KDW: the same
    r = _nitrogen_rasters()
    del r["nitrogen_deposition"]
    again = site_pressures(_ctx(r), "NL0000001", D)["nitrogen"].loc["site"]
    for key, n in expected.items():
        assert again[f"{key}_share"] == pytest.approx(n / 16), key


def test_drought_vulnerability_mean_in_the_site():
    dv = np.full((N, N), 0.9, dtype=np.float32)
    dv[8:10, 8:12] = 0.2
    dv[10:12, 8:12] = 0.6
    dry = site_pressures(_ctx({"drought_vulnerability": dv}), "NL0000001", D)["drying_out"]
    dry = dry.set_index(["part", "metric"])["value"]
    assert dry[("site", "mean_drought_vulnerability")] == pytest.approx(0.4)
    assert dry[("zone", "mean_drought_vulnerability")] == pytest.approx(0.9)


def test_effective_mesh_size_of_natural_cover_by_hand():
    f = site_pressures(_ctx(), "NL0000001", D)["fragmentation"]
    # cells by centre: site 16; zone 32 strip cells + 3 of each 2x2 corner block (the far corner cell's
    # centre is 21.2 m from the site) = 44. Natural: the 16 site cells and the 8 west-strip cells, one patch.
    assert f.loc["site", "area_ha"] == pytest.approx(0.16)
    assert f.loc["zone", "area_ha"] == pytest.approx(0.44)
    assert f.loc["site", "meff_cut_ha"] == pytest.approx(1600**2 / 1600 / 1e4)
    assert f.loc["zone", "meff_cut_ha"] == pytest.approx(800**2 / 4400 / 1e4)
    assert f.loc["site_and_zone", "meff_cut_ha"] == pytest.approx(2400**2 / 6000 / 1e4)
    assert f.loc["site_and_zone", "n_patches"] == 1
    assert f.loc["zone", "natural_ha"] == pytest.approx(0.08)


def test_dask_fractions_give_the_same_pressures():
    a = site_pressures(_ctx(), "NL0000001", D)
    b = site_pressures(_ctx(fractions=da.from_array(_fractions(), chunks=(-1, 8, 8))), "NL0000001", D)
    pd.testing.assert_frame_equal(a["landcover"], b["landcover"])
    pd.testing.assert_frame_equal(a["fragmentation"], b["fragmentation"])


# --------------------------------------------------------------------------------------------
# measures in the zone
# --------------------------------------------------------------------------------------------

def _hand_npv(capex: float, opex: float, revenue: float, life: float | None, r: float, horizon: int) -> float:
    """Cash flows of docs/measures.md written out: -capex at 0, (revenue - opex) at the end of years
    1..H, a replacement -capex at every k*life < H."""
    v = -capex
    for t in range(1, horizon + 1):
        v += (revenue - opex) / (1 + r) ** t
    k = 1
    while life is not None and k * life < horizon:
        v -= capex / (1 + r) ** (k * life)
        k += 1
    return v


def test_fitting_rural_measures_and_their_areas(catalogue):
    df = zone_measures(_ctx(), "NL0000001", D, catalogue).set_index("measure_id")
    assert df.loc["field_margin", "fits_ha"] == pytest.approx(0.12)  # north strip + the half-arable row
    assert df.loc["field_margin", "converted_ha"] == pytest.approx(0.05 * 0.1)  # 5 % of 1000 m2 arable
    assert df.loc["extensive_grassland", "fits_ha"] == pytest.approx(0.08)  # east strip
    assert df.loc["buffer_strip", "fits_ha"] == pytest.approx(0.04)  # water and arable in one row
    assert df.loc["hedgerow_rural", "fits_ha"] == pytest.approx(0.20)
    assert df.loc["rewetting", "fits_ha"] == pytest.approx(0.08)  # pasture within 1000 m of a site
    # pond fits on lawn, pasture and herb-rich grassland: the corner quarter discs count with their coverage
    assert df.loc["pond", "fits_ha"] == pytest.approx((800 + 800 + math.pi * D**2) / 1e4, rel=REL)
    # no road in the zone: the crossings fit nowhere and are absent; no measure is urban-only
    assert "wildlife_crossing" not in df.index and "amphibian_tunnel" not in df.index
    assert set(df["setting"]) <= {"rural", "both"}
    # rules needing ownership data fit nowhere here: absent unless asked for
    assert "flower_grassland" not in df.index


def test_unknown_variables_are_reported_when_asked(catalogue):
    df = zone_measures(_ctx(), "NL0000001", D, catalogue, include_unknown=True).set_index("measure_id")
    assert df.loc["flower_grassland", "status"] == "unknown: no data for owner"
    assert math.isnan(df.loc["flower_grassland", "fits_ha"])
    assert "nest_box" not in df.index  # fits nowhere, no missing data: absent


def test_setting_can_be_overridden(catalogue):
    df = zone_measures(_ctx(), "NL0000001", D, catalogue, variables={"setting": "urban"})
    assert not (df["setting"] == "rural").any()  # every rural-only rule asks for setting == "rural"
    assert "pond" in set(df["measure_id"])


def test_npv_per_ha_equals_a_hand_computation(catalogue):
    r, h = 0.03, 20
    df = zone_measures(_ctx(), "NL0000001", D, catalogue, rate=r, horizon_yr=h).set_index("measure_id")
    for mid in ("extensive_grassland", "field_margin"):
        m = catalogue.get(mid)
        assert m.unit == "ha"
        capex, opex, rev = m.capex_eur.value, m.opex_eur_yr.value, m.revenue_eur_yr.value
        life = m.lifetime_yr.value
        expected = _hand_npv(capex, opex, rev, life, r, h)
        row = df.loc[mid]
        assert row["units_per_ha"] == 1.0
        assert row["npv_eur_per_ha"] == pytest.approx(expected, rel=1e-9)
        af = sum(1 / (1 + r) ** t for t in range(1, h + 1))
        assert row["eac_eur_per_ha_yr"] == pytest.approx(-expected / af, rel=1e-9)
        assert row["cost_eur_per_ha_yr"] == pytest.approx(-_hand_npv(capex, opex, 0.0, life, r, h) / af, rel=1e-9)
        assert row["revenue_eur_per_ha_yr"] == pytest.approx(rev)
        assert row["pays_off"] == ("yes" if expected >= 0 else "no")
    assert df.attrs["discount_rate"] == r and df.attrs["horizon_yr"] == h


def test_unknown_numbers_are_not_invented(catalogue):
    df = zone_measures(_ctx(), "NL0000001", D, catalogue).set_index("measure_id")
    assert catalogue.get("rewetting").capex_eur.value is None
    row = df.loc["rewetting"]
    assert row["pays_off"] == "unknown" and math.isnan(row["npv_eur_per_ha"]) and math.isnan(row["capex_eur_per_ha"])
    # hedgerow: capex known, yearly cost and revenue not
    row = df.loc["hedgerow_rural"]
    assert row["pays_off"] == "unknown" and math.isnan(row["npv_eur_per_ha"])
    assert math.isnan(row["opex_eur_per_ha_yr"]) and "opex_eur_yr" in row["unknown"]
    assert row["units_per_ha"] == pytest.approx(catalogue.get("hedgerow_rural").quantity.per_m2 * 1e4)


def _variant(base, new_id: str, **values):
    upd = {"id": new_id}
    for k, v in values.items():
        upd[k] = Value(value=v, ev="R", source=["KB"])
    return base.model_copy(update=upd)


def test_pays_off_when_the_sign_is_certain(catalogue):
    fm = catalogue.get("field_margin")
    cat = Catalogue([
        _variant(fm, "fm_profit", revenue_eur_yr=3000.0),
        _variant(fm, "fm_no_opex", opex_eur_yr=None),  # known NPV > 0 but the cost is unknown
        _variant(fm, "fm_no_opex_loss", opex_eur_yr=None, revenue_eur_yr=0.0),  # loses even without the cost
        _variant(fm, "fm_no_rev_free", capex_eur=0.0, opex_eur_yr=0.0, revenue_eur_yr=None),  # NPV >= 0 anyway
        _variant(fm, "fm_no_rev_loss", revenue_eur_yr=None),
    ], catalogue.sources, "test")
    r, h = 0.03, 20
    df = zone_measures(_ctx(), "NL0000001", D, cat, rate=r, horizon_yr=h).set_index("measure_id")
    capex, opex, life = fm.capex_eur.value, fm.opex_eur_yr.value, fm.lifetime_yr.value
    assert df.loc["fm_profit", "npv_eur_per_ha"] == pytest.approx(_hand_npv(capex, opex, 3000.0, life, r, h))
    assert df.loc["fm_profit", "pays_off"] == "yes"
    assert df.loc["fm_profit", "payback_year"] == 1  # -350 + (3000 - opex) > 0 after one year
    assert df.loc["fm_no_opex", "pays_off"] == "unknown"
    assert df.loc["fm_no_opex_loss", "pays_off"] == "no"
    assert df.loc["fm_no_rev_free", "pays_off"] == "yes"
    assert df.loc["fm_no_rev_loss", "pays_off"] == "unknown"
    assert df.loc[["fm_no_opex", "fm_no_opex_loss", "fm_no_rev_free"], "npv_eur_per_ha"].isna().all()


def test_per_ha_units():
    cat = load_catalogue()
    assert per_ha_units(cat.get("field_margin"))[0] == 1.0
    assert per_ha_units(cat.get("pond"))[0] == 10_000.0
    assert math.isnan(per_ha_units(cat.get("wildlife_crossing"))[0])


# --------------------------------------------------------------------------------------------
# farm types
# --------------------------------------------------------------------------------------------

def _farm(**over) -> pd.DataFrame:
    row = {"farm_type": "arable_test", "name_en": "Arable", "name_nl": "Akkerbouw", "land_class": "arable",
           "typical_area_ha": "40", "area_ev": "R", "area_source": "test", "measure_id": "field_margin",
           "applied_share": "0.5", "share_ev": "P", "share_source": "test", "note": ""}
    row.update(over)
    return pd.DataFrame([row])


def test_farm_type_economics_by_hand(catalogue):
    r, h = 0.03, 20
    df = farm_type_economics(catalogue, _farm(), rate=r, horizon_yr=h).iloc[0]
    m = catalogue.get("field_margin")
    share = next(t.share for t in m.transitions if t.from_ == "arable")
    per_land = m.quantity.per_m2 * share * 10_000  # ha of margin per ha of arable land
    units = per_land * 0.5 * 40
    assert df["units_per_land_ha"] == pytest.approx(per_land)
    assert df["units_per_farm"] == pytest.approx(units)
    capex, opex, rev, life = m.capex_eur.value, m.opex_eur_yr.value, m.revenue_eur_yr.value, m.lifetime_yr.value
    af = sum(1 / (1 + r) ** t for t in range(1, h + 1))
    assert df["revenue_eur_per_ha_yr"] == pytest.approx(rev)
    assert df["revenue_eur_farm_yr"] == pytest.approx(rev * units)
    assert df["cost_eur_per_ha_yr"] == pytest.approx(-_hand_npv(capex, opex, 0.0, life, r, h) / af)
    assert df["npv_eur_farm"] == pytest.approx(units * _hand_npv(capex, opex, rev, life, r, h))
    assert df["net_eur_farm_yr"] == pytest.approx(units * _hand_npv(capex, opex, rev, life, r, h) / af)


@pytest.mark.parametrize("over,match", [
    ({"measure_id": "no_such_measure"}, "unknown measure"),
    ({"applied_share": "1.5"}, "applied_share"),
    ({"typical_area_ha": "-3"}, "typical_area_ha"),
    ({"typical_area_ha": "many"}, "not a number"),
    ({"land_class": "pasture"}, "does not act on the land class"),
    ({"land_class": "moon"}, "unknown land class"),
    ({"area_ev": "X"}, "area_ev"),
    ({"area_source": " "}, "area_source"),
    ({"measure_id": "wildlife_crossing"}, "not per area"),
])
def test_bad_farm_types_are_refused(catalogue, over, match):
    with pytest.raises(ConfigError, match=match):
        check_farm_types(_farm(**over), catalogue)


def test_urban_measure_and_missing_column_are_refused(catalogue):
    urban = next(m.id for m in catalogue.measures if m.setting == "urban")
    with pytest.raises(ConfigError, match="urban measure"):
        check_farm_types(_farm(measure_id=urban), catalogue)
    with pytest.raises(ConfigError, match="missing column"):
        check_farm_types(_farm().drop(columns=["applied_share"]), catalogue)


def test_shipped_farm_types_load(catalogue):
    ft = load_farm_types(catalogue=catalogue)
    assert {"dairy_peat", "dairy_clay_sand", "arable", "horticulture_bulbs"} <= set(ft["farm_type"])
    assert set(ft["area_ev"]) <= {"V", "S", "R", "P"} and set(ft["share_ev"]) <= {"V", "S", "R", "P"}


# --------------------------------------------------------------------------------------------
# the bundle
# --------------------------------------------------------------------------------------------

def test_report_bundles_everything(catalogue):
    rep = surroundings_report(_ctx(_nitrogen_rasters()), "test-a", D, catalogue=catalogue)
    assert rep["site"]["site_name"] == "Test site A"
    assert rep["zone"]["area_ha"].iloc[0] == pytest.approx(Z / 1e4, rel=REL)
    assert rep["pressures"]["nitrogen"].loc["site", "status"] == "ok"
    assert "flower_grassland" in set(rep["measures"]["measure_id"])  # listed as unknown in the report
    farms = rep["farm_types"].set_index(["farm_type", "measure_id"])
    assert bool(farms.loc[("arable", "field_margin"), "fits_in_zone"])
    assert rep["finance"]["horizon_yr"] > 0


def test_cell_distance_matches_shapely_brute_force():
    from biostress.natura2000.zone import distance_to, zone_cells

    grid = Grid("EPSG:28992", X0, Y1, CELL, N, N)
    site = shapely.Polygon([(X0 + 50, 430050), (X0 + 130, 430050), (X0 + 130, 430090), (X0 + 90, 430090),
                            (X0 + 90, 430150), (X0 + 50, 430150)])  # an L: concave corner
    got = distance_to(site, grid, np.ones((N, N), dtype=bool))
    xs, ys = grid.cell_centers()
    for r in range(N):
        for c in range(N):
            assert got[r, c] == pytest.approx(shapely.Point(xs[c], ys[r]).distance(site), abs=1e-9)
    cells = zone_cells(_sites(), "NL0000001", D, grid)
    near = cells.distance_m[np.isfinite(cells.distance_m)]
    assert near.min() == 0.0 and near.max() <= D + CELL * math.sqrt(2)
