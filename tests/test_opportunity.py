"""The opportunity map against hand-computed cells, brute force and hand geometry.

Parameter values (H, kc/albedo/shade, curve numbers, the design storm, the finance defaults, the weights) are
read here straight from the shipped files with the csv/yaml modules, not through biostress, and the formulas
of docs/opportunity.md are written out in the tests.
"""

from __future__ import annotations

import csv
import math
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import yaml

from biostress.errors import ConfigError, InputDataError
from biostress.grid import Grid
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend
from biostress.measures import load_catalogue
from biostress.opportunity import (
    distance_to_polygons,
    load_weights,
    measure_colours,
    measure_layers,
    plan_candidates,
    rule_variables,
)
from biostress.opportunity.compute import compute

LEGEND = load_legend()
K = LEGEND.keys.index
N = len(LEGEND.classes)
DATA = Path(str(resources.files("biostress") / "data"))
CELL = 10.0
A = CELL * CELL


# ------------------------------------------------------------------ reading the shipped tables by hand

def _rows(path: Path) -> list[dict[str, str]]:
    lines = [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip() and not t.startswith("#")]
    return list(csv.DictReader(lines))


def table(name: str, key: str) -> dict[str, dict[str, str]]:
    return {r[key]: r for r in _rows(DATA / "params" / name)}


H = {k: float(r["habitat"]) for k, r in table("habitat_quality_sensitivity.csv", "class").items()}
BIO = table("heat_biophysical.csv", "key")
HEAT = {k: float(r["value"]) for k, r in table("heat_params.csv", "parameter").items()}
CN = table("flooding_curve_numbers.csv", "key")
FLOOD = {k: float(r["value"]) for k, r in table("flooding_params.csv", "parameter").items()}
WEIGHTS = {k: float(r["value"]) for k, r in table("opportunity_weights.csv", "parameter").items()}
FIN = yaml.safe_load((DATA / "measures" / "finance.yaml").read_text(encoding="utf-8"))
RATE, HORIZON = FIN["discount_rate"]["value"], FIN["horizon_yr"]["value"]
SOIL = "abcd"[int(FLOOD["default_soil_group"]) - 1]


def cc(key: str) -> float:
    """InVEST UCM cooling capacity with ETI = kc: (ws shade + wa albedo + we kc) / (ws + wa + we)."""
    r = BIO[key]
    ws, wa, we = HEAT["cc_weight_shade"], HEAT["cc_weight_albedo"], HEAT["cc_weight_eti"]
    return (ws * float(r["shade"]) + wa * float(r["albedo"]) + we * float(r["kc"])) / (ws + wa + we)


def cn(key: str) -> float:
    return float(CN[key][f"cn_{SOIL}"])


def runoff_mm(p: float, curve: float) -> float:
    """TR-55: S = 25400/CN - 254, Ia = 0.2 S, Q = (P - Ia)^2 / (P - Ia + S) if P > Ia else 0."""
    s = 25400.0 / curve - 254.0
    ia = FLOOD["initial_abstraction_ratio"] * s
    return (p - ia) ** 2 / (p - ia + s) if p > ia else 0.0


def annuity(r: float, n: int) -> float:
    return (1.0 - (1.0 + r) ** -n) / r


# ------------------------------------------------------------------ building inputs

def fractions(cells: list[list[dict[str, float] | None]]) -> np.ndarray:
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


def make_ctx(fr: np.ndarray, **kw) -> IndicatorContext:
    inside = np.nan_to_num(fr).sum(axis=0).astype(np.float32)
    dominant = np.where(inside > 0, 1, 255).astype(np.uint8)
    h, w = inside.shape
    grid = Grid("EPSG:28992", 100000.0, 400000.0 + CELL * h, CELL, w, h)
    return IndicatorContext(grid, LEGEND, fr, dominant, inside, **kw)


def measure(mid: str, rule: str, transitions=(), *, capex: float | None = 20.0, opex: float | None = 1.0,
            quantity: dict | None = None, **extra) -> dict:
    m = {"id": mid, "name_en": mid, "name_nl": mid, "explain_en": "A test measure for the tests.",
         "explain_nl": "Een testmaatregel voor de tests.", "setting": "both", "scale": "plot", "owner": "both",
         "unit": "m2", "fits": {"rule": rule, "ev": "P", "source": "T"},
         "transitions": [{"from": f, "to": t, "share": s, "ev": "P", "source": "T"} for f, t, s in transitions],
         "quantity": quantity or {"basis": "converted_area", "per_m2": 1, "ev": "P", "source": "T"},
         "capex_eur": {"value": capex, "ev": "R", "source": "T"},
         "lifetime_yr": {"value": None, "ev": "R", "source": "T"}, **extra}
    if opex is not None:
        m["opex_eur_yr"] = {"value": opex, "ev": "R", "source": "T"}
    return m


def catalogue(tmp_path: Path, *measures: dict):
    p = tmp_path / "measures.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "sources": {"T": "test"}, "measures": list(measures)}),
                 encoding="utf-8")
    return load_catalogue(p, species_ids=["egel", "wilde_bij", "ringmus"])


DEPAVE = ("depave", 'share("paved_other") >= 0.5', [("paved_other", "garden_allotment", 0.5)])
CELLS_2X2 = [[{"paved_other": 0.8, "building": 0.2}, {"paved_other": 0.5, "lawn_grass": 0.5}],
             [{"paved_other": 0.4, "lawn_grass": 0.6}, None]]


# ------------------------------------------------------------------ gain, co-benefits and cost by hand

def test_two_by_two_by_hand(tmp_path):
    cat = catalogue(tmp_path, measure(*DEPAVE))
    ctx = make_ctx(fractions(CELLS_2X2))
    lay = measure_layers(ctx, cat, regions=())["depave"]

    np.testing.assert_array_equal(lay["fits"], [[True, True], [False, False]])
    # cell (0, 0): 0.5 x 0.8 = 0.4 of the cell (40 m2) paved -> garden; cell (0, 1): 0.5 x 0.5 = 0.25 (25 m2)
    moved = {(0, 0): 0.4, (0, 1): 0.25}
    dh = H["garden_allotment"] - H["paved_other"]  # 0.4 - 0.05
    dcc = cc("garden_allotment") - cc("paved_other")
    p = FLOOD["design_storm_mm"]
    cn_before = {(0, 0): 0.8 * cn("paved_other") + 0.2 * cn("building"),
                 (0, 1): 0.5 * cn("paved_other") + 0.5 * cn("lawn_grass")}
    cn_after = {(0, 0): 0.4 * cn("paved_other") + 0.4 * cn("garden_allotment") + 0.2 * cn("building"),
                (0, 1): 0.25 * cn("paved_other") + 0.25 * cn("garden_allotment") + 0.5 * cn("lawn_grass")}
    af = annuity(RATE, HORIZON)
    for rc, s in moved.items():
        g_bio = A * s * dh
        cooling = A * s * dcc
        water = (runoff_mm(p, cn_before[rc]) - runoff_mm(p, cn_after[rc])) / 1000.0 * A
        q = A * s  # m2 of the measure
        cost = q * 20.0 + q * 1.0 * af  # capex + opex over the horizon, no replacement (lifetime unknown)
        assert lay["area_m2"][rc] == pytest.approx(q)
        assert lay["units"][rc] == pytest.approx(q)
        assert lay["gain_bio"][rc] == pytest.approx(g_bio)
        assert lay["cooling"][rc] == pytest.approx(cooling)
        assert lay["water_m3"][rc] == pytest.approx(water, rel=1e-6)
        assert lay["cost_npv"][rc] == pytest.approx(cost)
        assert lay["capex"][rc] == pytest.approx(q * 20.0)
        assert lay["eac"][rc] == pytest.approx(cost / af)
        assert lay["gain"][rc] == pytest.approx(g_bio + WEIGHTS["cooling_weight"] * cooling
                                                + WEIGHTS["water_weight"] * water, rel=1e-6)
    # (1, 0) does not fit (0.4 < 0.5), (1, 1) is outside the area: no gain, no cost
    for k in ("gain_bio", "cooling", "water_m3", "gain", "cost_npv", "capex", "area_m2"):
        assert np.isnan(lay[k][1, 0]) and np.isnan(lay[k][1, 1]), k
    # a concrete number as a sanity anchor: cell (0, 0) habitat gain = 100 m2 x 0.4 x (0.4 - 0.05) = 14 m2
    assert lay["gain_bio"][0, 0] == pytest.approx(14.0)


def test_compute_maps_and_table(tmp_path):
    cat = catalogue(tmp_path, measure(*DEPAVE))
    ctx = make_ctx(fractions(CELLS_2X2))
    res = {r.name: r for r in compute(ctx, cat, regions=())}
    lay = measure_layers(ctx, cat, regions=())["depave"]
    gain = res["opportunity_gain"].array
    np.testing.assert_allclose(gain[0], lay["gain"][0], rtol=1e-6)
    assert gain[1, 0] == 0.0 and np.isnan(gain[1, 1])  # nothing fits: 0; outside: NaN
    np.testing.assert_array_equal(res["opportunity_best_measure"].array[0], [1, 1])
    assert res["opportunity_best_measure"].array[1, 0] == 0 and np.isnan(res["opportunity_best_measure"].array[1, 1])
    np.testing.assert_array_equal(res["opportunity_count"].array[0], [1, 1])
    t = res["opportunity_gain"].tables["opportunity_measures"].set_index("measure")
    assert t.loc["depave", "cells_fit"] == 2
    assert t.loc["depave", "converted_area_ha"] == pytest.approx((40 + 25) / 1e4)
    af = annuity(RATE, HORIZON)
    assert t.loc["depave", "cost_npv_eur"] == pytest.approx(65 * (20 + af))
    assert t.loc["depave", "gain_bio_per_eur"] == pytest.approx(65 * 0.35 / (65 * (20 + af)))
    cats = res["opportunity_best_measure"].categories
    assert [c[0] for c in cats] == [0, 1] and res["opportunity_best_measure"].palette == "categorical"


def test_best_measure_is_the_argmax_and_count_the_fitting_measures(tmp_path):
    cat = catalogue(
        tmp_path,
        measure("a", 'share("paved_other") >= 0.2', [("paved_other", "garden_allotment", 0.5)]),
        measure("b", 'share("lawn_grass") >= 0.2', [("lawn_grass", "herb_rich_grassland", 0.5)]),
        measure("c", "share(\"paved_other\") + share(\"lawn_grass\") >= 0.3",
                [("paved_other", "trees_woodland", 0.2), ("lawn_grass", "trees_woodland", 0.1)]))
    rng = np.random.default_rng(7)
    fr = np.zeros((N, 6, 6), np.float32)
    for k in ("paved_other", "lawn_grass", "building", "pasture"):
        fr[K(k)] = rng.random((6, 6))
    fr /= fr.sum(axis=0)
    fr[:, 5, 5] = np.nan
    ctx = make_ctx(fr)
    layers = measure_layers(ctx, cat, regions=())
    res = {r.name: r for r in compute(ctx, cat, regions=())}
    best, count, gain = (res[n].array for n in ("opportunity_best_measure", "opportunity_count", "opportunity_gain"))
    ids = ["a", "b", "c"]
    for r in range(6):
        for c in range(6):
            if (r, c) == (5, 5):
                assert np.isnan(best[r, c]) and np.isnan(count[r, c])
                continue
            fitting = [(layers[m]["gain"][r, c], i + 1) for i, m in enumerate(ids) if layers[m]["fits"][r, c]]
            assert count[r, c] == len(fitting)
            if not fitting:
                assert best[r, c] == 0 and gain[r, c] == 0
                continue
            top = max(g for g, _ in fitting)
            first = min(i for g, i in fitting if g == top)  # ties: first in catalogue order
            assert best[r, c] == first
            assert gain[r, c] == pytest.approx(top, rel=1e-6)
    assert len(np.unique(best[np.isfinite(best)])) >= 2  # the case really mixes measures
    # one raster per measure: its own gain where it fits, NaN elsewhere
    per = {r.name: r.array for r in compute(ctx, cat, regions=(), per_measure=True)}
    for m in ids:
        fits = np.asarray(layers[m]["fits"], bool)
        assert np.isnan(per[f"opportunity_{m}"][~fits]).all()
        np.testing.assert_allclose(per[f"opportunity_{m}"][fits], layers[m]["gain"][fits], rtol=1e-6)


def test_proxy_gain_and_storage_water(tmp_path):
    box = measure("box", 'share("trees_woodland") >= 0.1', opex=0.0,
                  quantity={"basis": "class_area", "per_ha": 10, "classes": ["trees_woodland"], "ev": "P",
                            "source": "T"},
                  guide_species=["egel", "ringmus"],
                  stressor_relief={"light": {"value": 0.5, "ev": "P", "source": "T"}})
    roof = measure("roof", 'share("building") >= 0.5', [("building", "green_roof", 0.5)],
                   water_storage_l={"value": 25, "ev": "S", "source": "T"})
    cat = catalogue(tmp_path, box, roof)
    ctx = make_ctx(fractions([[{"trees_woodland": 0.3, "building": 0.7}]]))
    lay = measure_layers(ctx, cat, regions=())
    uplift = min(WEIGHTS["proxy_max_uplift"],
                 WEIGHTS["proxy_uplift_per_species"] * 2 + WEIGHTS["proxy_uplift_per_relief"] * 0.5)
    assert lay["box"]["gain_bio"][0, 0] == pytest.approx(A * 0.3 * uplift)
    assert lay["box"]["units"][0, 0] == pytest.approx(10 * 0.3 * A / 1e4)  # 10 boxes per ha of trees
    assert lay["box"]["cooling"][0, 0] == 0 and lay["box"]["water_m3"][0, 0] == 0
    # the roof: 0.5 x 0.7 x 100 = 35 m2 of green roof holding 25 l/m2
    assert lay["roof"]["water_m3"][0, 0] == pytest.approx(35 * 25 / 1000)
    assert lay["roof"]["gain_bio"][0, 0] == pytest.approx(35 * (H["green_roof"] - H["building"]))


def test_a_measure_with_nothing_to_place_does_not_fit(tmp_path):
    """A measure counted per ha of some classes fits only where the cell has some of them: its rule may hold in a
    cell without them (here: enough garden or built-up mixed cover), but with 0 units there is nothing to place
    and it must not show a gain there (as hedgehog passages in the shipped catalogue)."""
    hog = measure("hog", '(share("garden_allotment") + share("urban_mixed")) >= 0.3', opex=0.0, capex=0.0,
                  quantity={"basis": "class_area", "per_ha": 50, "classes": ["garden_allotment"], "ev": "P",
                            "source": "T"},
                  guide_species=["egel"], stressor_relief={"paving": {"value": 0.2, "ev": "P", "source": "T"}})
    cat = catalogue(tmp_path, hog)
    ctx = make_ctx(fractions([[{"urban_mixed": 1.0}, {"urban_mixed": 0.8, "garden_allotment": 0.2}],
                              [{"garden_allotment": 0.1, "paved_other": 0.9}, {"urban_mixed": 0.5,
                                                                              "garden_allotment": 0.5}]]))
    lay = measure_layers(ctx, cat, regions=())["hog"]
    # rule: 1.0, 1.0, 0.1 (no), 1.0; units > 0 where there is garden: (0, 1) and (1, 1)
    np.testing.assert_array_equal(lay["fits"], [[False, True], [False, True]])
    assert lay["units"][0, 1] == pytest.approx(50 * 0.2 * A / 1e4) and lay["units"][1, 1] == pytest.approx(50 * 0.5 * A / 1e4)
    assert np.isnan(lay["gain"][0, 0]) and np.isnan(lay["units"][0, 0])
    assert lay["gain"][0, 1] > 0


# ------------------------------------------------------------------ rule variables

def test_distance_to_a_hand_placed_square():
    grid = Grid("EPSG:28992", 0.0, 100.0, CELL, 10, 10)
    # a 20 m square: cells of columns 6-7, rows 2-3 (centres x 65, 75; y 75, 65)
    sq = gpd.GeoDataFrame(geometry=[shapely.box(60, 60, 80, 80)], crs="EPSG:28992")
    d = distance_to_polygons(grid, sq, 1000.0)
    assert d[2, 6] == 0 and d[3, 7] == 0
    assert d[9, 0] == pytest.approx(math.hypot(65 - 5, 65 - 5))  # centre (5, 5) to site centre (65, 65)
    assert d[2, 0] == pytest.approx(60.0)  # centre (5, 75) to (65, 75)
    assert d[0, 9] == pytest.approx(math.hypot(95 - 75, 95 - 75))
    # brute force: every cell against every site-cell centre; and within half a cell diagonal of the polygon
    site = [(x, y) for x in (65, 75) for y in (65, 75)]
    for r in range(10):
        for c in range(10):
            x, y = 5 + 10 * c, 95 - 10 * r
            assert d[r, c] == pytest.approx(min(math.hypot(x - a, y - b) for a, b in site))
            true = shapely.distance(shapely.Point(x, y), shapely.box(60, 60, 80, 80))
            assert true - 1e-9 <= d[r, c] <= true + CELL / math.sqrt(2) + 1e-9


def test_distance_sees_sites_beyond_the_window_and_caps():
    grid = Grid("EPSG:28992", 0.0, 100.0, CELL, 10, 10)
    outside = gpd.GeoDataFrame(geometry=[shapely.box(120, 90, 130, 100)], crs="EPSG:28992")  # 2 cells east
    d = distance_to_polygons(grid, outside, 1000.0)
    assert d[0, 9] == pytest.approx(30.0)  # (95, 95) to the site cell centre (125, 95)
    capped = distance_to_polygons(grid, outside, 50.0)
    assert capped[0, 9] == pytest.approx(30.0) and np.isinf(capped[9, 0])
    thin = gpd.GeoDataFrame(geometry=[shapely.box(61, 61, 63, 63)], crs="EPSG:28992")  # holds no cell centre
    d = distance_to_polygons(grid, thin, 1000.0)
    assert d[3, 6] == 0 and d[9, 0] == pytest.approx(math.hypot(60, 60))
    assert np.isinf(distance_to_polygons(grid, None)).all()


def test_rule_variables_distances_setting_owner_and_missing():
    cells = [[{"water": 1.0}, {"pasture": 1.0}, {"pasture": 1.0}, {"pasture": 1.0}],
             [{"pasture": 1.0}, {"pasture": 1.0}, {"pasture": 1.0}, None]]
    ctx = make_ctx(fractions(cells))
    v = rule_variables(ctx)
    assert "distance_natura2000_m" not in v and "distance_natura2000_m" in v.missing
    assert {"owner", "roof", "school_share", "culvert_share", "light_proxy"} <= set(v.missing)
    np.testing.assert_allclose(v["distance_water_m"][0], [0, 10, 20, 30])
    assert v["distance_water_m"][1, 2] == pytest.approx(math.hypot(20, 10)) and np.isnan(v["distance_water_m"][1, 3])
    assert v["setting"].equals("rural")[0, 1] and not v["setting"].equals("urban")[0, 1]
    assert not v["setting"].equals("rural")[1, 3]  # outside: neither
    # an owner raster (codes 0 public, 1 private, 2 unknown) and a Natura 2000 layer are used when present
    owner = np.array([[0, 1, 2, np.nan], [0, 0, 0, 0]], np.float32)
    x0, y1 = ctx.grid.x0, ctx.grid.y1
    n2k = gpd.GeoDataFrame(geometry=[shapely.box(x0, y1 - 10, x0 + 10, y1)], crs="EPSG:28992")
    ctx2 = make_ctx(fractions(cells), rasters={"owner": owner, "light_proxy": np.zeros((2, 4), np.float32)},
                    layers={"natura2000": n2k})
    v2 = rule_variables(ctx2)
    np.testing.assert_array_equal(v2["owner"].equals("public"), [[True, False, False, False], [True] * 4])
    assert v2["distance_natura2000_m"][0, 3] == pytest.approx(30.0)
    assert "owner" not in v2.missing and "light_proxy" not in v2.missing


def test_rural_measure_near_natura2000_and_unknown_notes(tmp_path):
    cat = catalogue(tmp_path,
                    measure("rewet", 'setting == "rural" and distance_natura2000_m <= 15',
                            [("pasture", "reed_wetland", 0.2)]),
                    measure("park", 'owner == "public" and share("pasture") > 0', [("pasture", "shrub", 0.1)]))
    cells = [[{"pasture": 1.0}] * 4]
    ctx = make_ctx(fractions(cells))
    x0, y1 = ctx.grid.x0, ctx.grid.y1
    ctx.layers = {"natura2000": gpd.GeoDataFrame(geometry=[shapely.box(x0, y1 - 10, x0 + 10, y1)],
                                                 crs="EPSG:28992")}
    res = {r.name: r for r in compute(ctx, cat, regions=())}
    # distances 0, 10, 20, 30 m: rewetting fits in the first two cells; park never (no ownership data)
    np.testing.assert_array_equal(res["opportunity_count"].array, [[1, 1, 0, 0]])
    notes = " ".join(res["opportunity_gain"].notes)
    assert "unknown: no ownership data (owner): measures park" in notes


# ------------------------------------------------------------------ plan candidates

def test_plan_candidates_sum_the_cells_of_each_block(tmp_path):
    cat = catalogue(tmp_path, measure(*DEPAVE),
                    measure("lawn", 'share("lawn_grass") >= 0.3', [("lawn_grass", "herb_rich_grassland", 0.5)]))
    rng = np.random.default_rng(3)
    fr = np.zeros((N, 5, 5), np.float32)
    for k in ("paved_other", "lawn_grass", "building"):
        fr[K(k)] = rng.random((5, 5))
    fr /= fr.sum(axis=0)
    ctx = make_ctx(fr)
    layers = measure_layers(ctx, cat, regions=())
    df = plan_candidates(layers, ctx.grid, block_cells=2)
    assert df.attrs["dropped"] == {}
    nrb = ncb = 3  # ceil(5 / 2)
    seen = 0
    for mid, lay in layers.items():
        for br in range(nrb):
            for bc in range(ncb):
                rows, cols = slice(2 * br, 2 * br + 2), slice(2 * bc, 2 * bc + 2)
                f = lay["fits"][rows, cols]
                hit = df[(df["measure"] == mid) & (df["site"] == br * ncb + bc)]
                if not f.any():
                    assert hit.empty
                    continue
                seen += 1
                assert len(hit) == 1
                row = hit.iloc[0]
                for col, k in (("cost_npv", "cost_npv"), ("gain", "gain_bio"), ("cooling", "cooling"),
                               ("water_m3", "water_m3"), ("area_m2", "area_m2"), ("capex", "capex")):
                    assert row[col] == pytest.approx(lay[k][rows, cols][f].sum()), (mid, br, bc, col)
                assert row["cells"] == f.sum()
                # quantity by hand: 1 m2 of measure per m2 converted = 0.5 x the 'from' share x cell area
                src = fr[K("paved_other" if mid == "depave" else "lawn_grass")][rows, cols]
                assert row["units"] == pytest.approx((0.5 * src[f] * A).sum(), rel=1e-5), (mid, br, bc)
                # block centre: x0 + (first col + last col + 1) / 2 cells
                c_end, r_end = min(2 * bc + 2, 5), min(2 * br + 2, 5)
                assert row["x"] == pytest.approx(ctx.grid.x0 + (2 * bc + c_end) / 2 * CELL)
                assert row["y"] == pytest.approx(ctx.grid.y1 - (2 * br + r_end) / 2 * CELL)
    assert seen == len(df) > 0
    assert (df["cost"] >= 0).all() and (df["gain"] >= 0).all()
    # the totals over all sites equal the totals over all fitting cells
    for mid, lay in layers.items():
        assert df.loc[df["measure"] == mid, "gain"].sum() == pytest.approx(lay["gain_bio"][lay["fits"]].sum())


def test_plan_candidates_drops_what_the_optimiser_cannot_take(tmp_path):
    cat = catalogue(
        tmp_path,
        measure("unknown_cost", 'share("lawn_grass") > 0', [("lawn_grass", "shrub", 0.5)], capex=None),
        measure("loss", 'share("herb_rich_grassland") > 0', [("herb_rich_grassland", "water", 0.5)]),
        measure("crossing", 'share("road") > 0', capex=1000.0, opex=0.0,
                quantity={"basis": "site", "per_site": 1, "ev": "P", "source": "T"}))
    ctx = make_ctx(fractions([[{"lawn_grass": 0.5, "road": 0.5}, {"herb_rich_grassland": 0.5, "road": 0.5}]]))
    layers = measure_layers(ctx, cat, regions=())
    df = plan_candidates(layers, ctx.grid, block_cells=2)
    assert df.attrs["dropped"] == {"unknown_cost": 1, "loss": 1}
    assert list(df["measure"]) == ["crossing"] and df.iloc[0]["cost"] == pytest.approx(2000.0)  # one per cell
    once = plan_candidates(layers, ctx.grid, block_cells=2, catalogue=cat)
    assert once.iloc[0]["cost"] == pytest.approx(1000.0)  # one crossing per block


# ------------------------------------------------------------------ bad input and small helpers

def test_bad_input_is_reported(tmp_path):
    cat = catalogue(tmp_path, measure(*DEPAVE))
    ctx = make_ctx(fractions(CELLS_2X2))
    layers = measure_layers(ctx, cat, regions=())
    with pytest.raises(ConfigError, match="block_cells"):
        plan_candidates(layers, ctx.grid, block_cells=0)
    with pytest.raises(InputDataError, match="shape"):
        plan_candidates(layers, Grid("EPSG:28992", 0.0, 30.0, CELL, 3, 3))
    with pytest.raises(InputDataError, match="lack"):
        plan_candidates({"depave": {"fits": layers["depave"]["fits"]}}, ctx.grid)
    with pytest.raises(ConfigError, match="nope"):
        measure_layers(ctx, cat, ["nope"])
    bad = make_ctx(fractions(CELLS_2X2))
    bad.fractions = bad.fractions[:5]
    with pytest.raises(InputDataError, match="fractions"):
        compute(bad, cat)
    (tmp_path / "opportunity_weights.csv").write_text(
        "parameter,value,units,ev,source,note\ncooling_weight,0.5,-,X,test,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="ev"):
        load_weights(tmp_path)
    (tmp_path / "opportunity_weights.csv").write_text(
        "parameter,value,units,ev,source,note\ncooling_weight,0.5,-,P,test,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="lacks the parameter"):
        load_weights(tmp_path)


def test_shipped_weights_load_with_evidence_and_colours_are_distinct():
    w = load_weights()
    assert (w.cooling, w.water) == (WEIGHTS["cooling_weight"], WEIGHTS["water_weight"])
    assert set(w.provenance["ev"]) <= {"V", "S", "R", "P"} and all(w.provenance["source"].str.len() > 0)
    cols = measure_colours(60)
    assert len(set(cols)) == 60 and all(len(c) == 7 and c.startswith("#") for c in cols)
