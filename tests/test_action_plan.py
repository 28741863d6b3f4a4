"""Local action plan: spreadsheet, CSV and GeoPackage against the run's plan (read here with pyogrio),
units by largest overlap (brute force), parties, yearly costs by hand, the net present cost identity
written out independently, targets per neighbourhood and bad input."""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import yaml
from shapely.geometry import box

from biostress.errors import InputDataError
from biostress.measures.catalogue import load_catalogue
from biostress.measures.finance import load_finance_params
from biostress.report import action_plan as A
from biostress.report import data as D
from biostress.report import write_report
from biostress.report.html import action_plan_context, render

DATA = Path(__file__).resolve().parents[1] / "examples" / "dordrecht"
BBOX = [104000, 423500, 106000, 425500]


def small_run(tmp_path_factory) -> Path:
    """The same 2 x 2 km run as test_report.py (made once per session, in the session's base temp)."""
    from biostress.config import load_area
    from biostress.pipeline import run_area

    base = tmp_path_factory.getbasetemp()
    out = base / "report_small_run"
    if (out / "manifest.json").is_file():
        return out
    area_dir = base / "report_small_area"
    if not (area_dir / "data").is_dir():
        area_dir.mkdir(exist_ok=True)
        shutil.copytree(DATA / "data", area_dir / "data")
    doc = yaml.safe_load((DATA / "area.yaml").read_text())
    doc["boundary"] = {"bbox": BBOX}
    (area_dir / "area.yaml").write_text(yaml.safe_dump(doc))
    run_area(load_area(area_dir / "area.yaml"), out, overwrite=True)
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return small_run(tmp_path_factory)


@pytest.fixture(scope="module")
def plan(run_dir) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(run_dir / "biostress.gpkg", layer="plan_measures")


@pytest.fixture(scope="module")
def targets(run_dir, plan) -> pd.DataFrame:
    b = pyogrio.read_dataframe(run_dir / "biostress.gpkg", layer="units_buurt")
    inside = gpd.sjoin(plan, b[["code", "geometry"]], predicate="within")  # blocks wholly inside one buurt
    c1, c2 = inside["code"].value_counts().index[:2]
    rows = [("buurt", c1, "b1", "r330_canopy_30", "canopy_share", 0.1, 0.3, ">=", "share (0-1)", "not met", 0.2, "S",
             "", ""),
            ("buurt", c1, "b1", "cbi_water", "permeable_share", 70.0, 60.0, ">=", "%", "met", 0.0, "S", "", ""),
            ("buurt", c2, "b2", "r330_canopy_30", "canopy_share", 0.4, 0.3, ">=", "share (0-1)", "met", 0.0, "S",
             "", "")]
    return pd.DataFrame(rows, columns=list(D.TARGET_COLUMNS))


@pytest.fixture(scope="module")
def written(run_dir, targets, tmp_path_factory):
    out = tmp_path_factory.mktemp("ap") / "rep"
    return out, write_report(run_dir, out, lang="en", pdf=False, targets=targets)


@pytest.fixture(scope="module")
def ap(run_dir, targets) -> A.ActionPlan:
    return A.build_action_plan(D.collect(run_dir), targets=targets)


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------

def test_xlsx_sheets_columns_and_totals(written, plan, run_dir):
    from openpyxl import load_workbook

    out, _ = written
    wb = load_workbook(out / "action_plan.xlsx", read_only=True)
    assert {"readme", "summary", "by_measure", "by_wijk", "by_buurt", "by_party", "schedule", "blocks",
            "targets"} <= set(wb.sheetnames)

    def frame(name: str) -> pd.DataFrame:
        rows = list(wb[name].iter_rows(values_only=True))
        return pd.DataFrame(rows[1:], columns=rows[0])

    blocks = frame("blocks")
    assert {"site", "measure", "unit_code", "parent_code", "party", "capex", "subsidy", "opex_yr", "cost_npv",
            "gain", "water_m3", "x", "y"} <= set(blocks.columns)
    assert len(blocks) == len(plan)
    bym = frame("by_measure").set_index("measure")
    pbm = pyogrio.read_dataframe(run_dir / "biostress.gpkg", layer="plan_by_measure").set_index("measure")
    assert set(bym.index) == set(pbm.index)
    for col in ("capex", "gain", "water_m3", "blocks"):
        np.testing.assert_allclose(bym.loc[pbm.index, col].astype(float), pbm[col].astype(float), rtol=1e-9)
    summ = dict(frame("summary")[["quantity", "value"]].itertuples(index=False))
    np.testing.assert_allclose(summ["cost_npv"], plan["cost_npv"].sum(), rtol=1e-9)
    np.testing.assert_allclose(summ["capex"], plan["capex"].sum(), rtol=1e-9)
    assert summ["blocks"] == len(plan)
    ps = pyogrio.read_dataframe(run_dir / "biostress.gpkg", layer="plan_summary")
    total_gain = float(ps.set_index("quantity").loc["total_gain", "value"])
    np.testing.assert_allclose(summ["gain"], total_gain, rtol=1e-9)
    # by wijk and by buurt add up to the same totals
    for name in ("by_wijk", "by_buurt", "by_party"):
        np.testing.assert_allclose(frame(name)["cost_npv"].astype(float).sum(), plan["cost_npv"].sum(), rtol=1e-9)
    sched = frame("schedule")
    assert set(sched["year"]) == set(range(1, 31))


def test_csv_and_geopackage(written, plan):
    out, _ = written
    csv = pd.read_csv(out / "action_plan.csv")
    assert len(csv) == len(plan) and set(csv["site"]) == set(plan["site"])
    np.testing.assert_allclose(csv["capex"].sum(), plan["capex"].sum(), rtol=1e-6)
    info = pyogrio.read_info(out / "action_plan.gpkg", layer="action_plan_blocks")
    assert info["features"] == len(plan)
    assert {"measure", "unit_code", "unit_name", "party", "capex", "opex_yr", "cost_npv", "gain"} <= set(info["fields"])
    g = pyogrio.read_dataframe(out / "action_plan.gpkg", layer="action_plan_blocks")
    np.testing.assert_allclose(g.area.sum(), plan.area.sum(), rtol=1e-9)
    layers = {n for n, _ in pyogrio.list_layers(out / "action_plan.gpkg")}
    assert {"action_plan_by_measure", "action_plan_by_buurt", "action_plan_schedule"} <= layers


# --------------------------------------------------------------------------------------------
# content
# --------------------------------------------------------------------------------------------

def test_units_by_largest_overlap_hand_made():
    units = gpd.GeoDataFrame({"code": ["A", "B"]}, geometry=[box(0, 0, 70, 100), box(70, 0, 200, 100)],
                             crs="EPSG:28992")
    blocks = gpd.GeoDataFrame({"site": [1, 2, 3, 4]},
                              geometry=[box(0, 0, 100, 100),      # 70 % in A, 30 % in B -> A
                                        box(100, 0, 200, 100),    # all in B
                                        box(500, 500, 600, 600),  # outside -> -1
                                        box(20, 0, 120, 100)],    # 50 in A, 50 in B -> tie: first unit (A)
                              crs="EPSG:28992")
    best, share = A.assign_units(blocks, units)
    assert best.tolist() == [0, 1, -1, 0]
    np.testing.assert_allclose(share, [0.7, 1.0, 0.0, 0.5])


def test_blocks_lie_mostly_in_their_buurt(ap, run_dir):
    """Brute force on a sample: no other buurt holds more of the block than the one it was given."""
    b = gpd.read_file(run_dir / "biostress.gpkg", layer="units_buurt")
    code = b["code"].astype(str).to_numpy()
    rng = np.random.default_rng(5)
    idx = rng.choice(len(ap.blocks), size=min(60, len(ap.blocks)), replace=False)
    for i in idx:
        geom = ap.blocks.geometry.iloc[i]
        areas = np.array([shapely.area(shapely.intersection(geom, u)) for u in b.geometry])
        got = ap.blocks["unit_code"].iloc[i]
        if areas.max() <= 0:
            assert got == ""
        else:
            assert areas[code == got][0] == pytest.approx(areas.max(), rel=1e-9)


@pytest.mark.parametrize(("setting", "owner", "party"), [
    ("urban", "public", "municipality"), ("urban", "private", "owners"), ("urban", "both", "municipality_owners"),
    ("both", "public", "municipality"), ("rural", "private", "farmers"), ("rural", "public", "water_board"),
    ("rural", "both", "farmers_water_board"),
])
def test_party_from_owner_and_setting(setting, owner, party):
    assert A.party_of(SimpleNamespace(setting=setting, owner=owner)) == party


def test_schedule_by_hand():
    # capex 1000, lifetime 10 -> replacements at t = 10, 20 (start of years 11, 21); none at 30 (= horizon)
    # lifetime 17.5 -> one replacement at t = 17.5, paid in year 18
    blocks = pd.DataFrame({"measure": ["a", "a", "b"], "capex": [600.0, 400.0, 200.0], "subsidy": [100.0, 0.0, 0.0],
                           "opex_yr": [30.0, 20.0, 5.0], "revenue_yr": [0.0, 0.0, 1.0],
                           "lifetime_yr": [10.0, 10.0, 17.5], "replacements": [2, 2, 1]})
    s = A.schedule(blocks, 30)
    a = s[s["measure"] == "a"].set_index("year")
    assert a.loc[1, "capex"] == 1000 and a.loc[11, "capex"] == 1000 and a.loc[21, "capex"] == 1000
    assert a["capex"].sum() == 3000 and a.loc[1, "subsidy"] == 100 and a["subsidy"].sum() == 100
    assert (a["opex"] == 50).all() and a["net"].sum() == 3000 - 100 + 30 * 50
    b = s[s["measure"] == "b"].set_index("year")
    assert b.loc[18, "capex"] == 200 and b["capex"].sum() == 400
    assert b["net"].sum() == pytest.approx(400 + 30 * (5 - 1))
    summ = A.schedule_summary(s, 30)
    assert summ[["first", "last"]].values.tolist() == [[1, 1], [2, 5], [6, 10], [11, 20], [21, 30]]
    assert summ["net"].sum() == pytest.approx(s["net"].sum())
    with pytest.raises(InputDataError):
        A.schedule(blocks, 0)


def test_quantities_and_yearly_costs_follow_the_catalogue(ap):
    cat = load_catalogue()
    b = ap.blocks
    for mid, g in b.groupby("measure"):
        m = cat.get(mid)
        capex_u = m.number("capex_eur")
        if m.quantity.basis == "converted_area":
            np.testing.assert_allclose(g["quantity"], m.quantity.per_m2 * g["area_m2"], rtol=1e-12)
        if capex_u > 0:  # the plan's investment = quantity x price per unit
            np.testing.assert_allclose(g["capex"], g["quantity"] * capex_u, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(g["opex_yr"], g["quantity"] * m.number("opex_eur_yr", 0.0), rtol=1e-9, atol=1e-9)
        assert (g["quantity"] > 0).all(), mid  # a chosen block has something to place, also when it costs nothing


def test_net_present_cost_identity(ap):
    """cost_npv = capex (1 + sum_k (1+r)^-kL) - subsidy + (opex - income) AF(r, H), written out here."""
    fin = load_finance_params()
    r, h = fin.discount_rate, fin.horizon_yr
    af = sum((1 + r) ** -t for t in range(1, h + 1))
    for _mid, g in ap.blocks.groupby("measure"):
        lt = float(g["lifetime_yr"].iloc[0])
        repl = sum((1 + r) ** -(k * lt) for k in range(1, 1000) if math.isfinite(lt) and k * lt < h - 1e-9)
        cost = g["capex"] * (1 + repl) - g["subsidy"] + (g["opex_yr"] - g["revenue_yr"]) * af
        np.testing.assert_allclose(cost, g["cost_npv"], rtol=1e-6, atol=1e-4)


def test_targets_per_neighbourhood(ap, targets):
    c1, c2 = targets["code"].iloc[0], targets["code"].iloc[2]
    bb = ap.by_buurt.set_index("unit_code")
    assert {c1, c2} <= set(bb.index)
    assert bb.loc[c1, "targets_not_met"] == "r330_canopy_30" and bb.loc[c1, "targets_met"] == "cbi_water"
    assert bb.loc[c2, "targets_not_met"] == "" and bb.loc[c2, "targets_met"] == "r330_canopy_30"
    others = bb.drop(index=[c1, c2])
    assert (others["targets_not_met"] == "").all() and (others["targets_met"] == "").all()
    assert (ap.targets is not None) and len(ap.targets) == 3


def test_action_plan_page_and_no_plan(ap, run_dir):
    data = D.collect(run_dir)
    html = render("action_plan.html.j2", action_plan_context(ap, data, "nl"))
    assert "Lokaal actieplan biodiversiteit: " in html and "Kosten per jaar" in html
    assert f"{len(ap.blocks):,}".replace(",", ".") in html
    empty = dataclasses.replace(data, plan_blocks=None, plan_by_measure=None)
    assert A.build_action_plan(empty) is None
    html = render("action_plan.html.j2", action_plan_context(None, empty, "en"))
    assert "This run holds no plan, so there is no action plan." in html


def test_bad_plan_layer(run_dir, plan):
    data = D.collect(run_dir)
    broken = dataclasses.replace(data, plan_blocks=plan.drop(columns=["capex"]))
    with pytest.raises(InputDataError, match="capex"):
        A.build_action_plan(broken)
    with pytest.raises(InputDataError, match="lacks the column"):
        A.build_action_plan(data, targets=pd.DataFrame({"level": ["buurt"]}))
