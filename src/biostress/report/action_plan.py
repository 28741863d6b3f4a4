"""The local action plan: the run's plan as measures, places, yearly costs, parties and gains.

Input: the plan blocks of a run (GeoPackage layer ``plan_measures``: one 100 m block per chosen
option with ``measure``, ``cost_npv`` (net present cost, EUR), ``capex`` (gross investment, EUR),
``eac`` (EUR/yr), ``gain`` (m2 habitat-equivalent), ``cooling``, ``water_m3``, ``area_m2``), the
area units and the measures catalogue. :func:`build_action_plan` derives per block:

* **where**: the unit of the finest level (buurt) that holds the largest part of the block
  (``area(block ∩ unit)``, largest first; ties to the first unit) and its parent (wijk); blocks
  outside every unit get an empty code;
* **quantity** of the measure (units of the catalogue): the plan block's ``units`` (the sum over its cells
  of :func:`biostress.measures.catalogue.units_per_cell`, as the opportunity map counts them); for plans
  written before blocks carried ``units``: ``per_m2 x area_m2`` for measures whose quantity follows the
  converted area, otherwise ``capex / capex per unit`` (unknown (NaN) when the capex per unit is 0 and the
  measure has yearly flows);
* **yearly flows** from :func:`biostress.measures.finance.cost_breakdown` for that quantity:
  maintenance ``opex_yr``, income ``revenue_yr`` (incl. avoided damage) and the number of
  replacements within the finance horizon (reinvestment, as in the plan);
* **subsidy**, implied by the plan's own net present cost so that the action plan adds up to the
  plan: ``subsidy = (-NPV without subsidy) - cost_npv`` (the opportunity map capped subsidies per
  cell, which the block totals cannot redo), clipped at 0 for rounding;
* **responsible party** from the catalogue's ``owner`` and ``setting``: urban or both-setting
  measures: public -> municipality, private -> owners / residents, both -> municipality with
  owners / residents; rural measures: public -> water board, private -> farmers, both -> farmers /
  water board.

**Costs per year** (:func:`schedule`, undiscounted, real prices): the investment and the subsidy in
year 1, a replacement investment at the start of year ``floor(k L) + 1`` for each replacement ``k``
(lifetime ``L``), maintenance and income in every year ``1..H`` (horizon ``H`` of
``finance.yaml``, 30 years by default, ev P). Its totals equal the finance module's undiscounted
``capex_horizon + opex_horizon - income x H``.

Writers: :func:`write_xlsx` (sheets readme, summary, by_measure, by_wijk, by_buurt, by_party,
schedule, blocks, targets), :func:`blocks_csv` and the GeoPackage layers written by
:func:`biostress.report.write_report`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputDataError
from ..measures.catalogue import Catalogue, Measure, load_catalogue
from ..measures.finance import FinanceParams, cost_breakdown, load_finance_params
from . import i18n
from .data import RunData, check_targets

#: party key by (setting, owner)
PARTIES: dict[tuple[str, str], str] = {
    ("urban", "public"): "municipality", ("urban", "private"): "owners", ("urban", "both"): "municipality_owners",
    ("both", "public"): "municipality", ("both", "private"): "owners", ("both", "both"): "municipality_owners",
    ("rural", "public"): "water_board", ("rural", "private"): "farmers", ("rural", "both"): "farmers_water_board",
}
_SUMS = ("capex", "subsidy", "net_capex", "opex_yr", "revenue_yr", "cost_npv", "eac", "gain", "cooling", "water_m3",
         "area_m2")
_REL_TOL = 1e-6


@dataclass
class ActionPlan:
    """The action plan of a run. ``blocks`` is a GeoDataFrame (grid CRS); the other frames are
    plain tables. ``horizon_yr`` and ``rate`` are those of the finance parameters."""

    blocks: gpd.GeoDataFrame
    by_measure: pd.DataFrame
    by_buurt: pd.DataFrame
    by_wijk: pd.DataFrame
    by_party: pd.DataFrame
    schedule: pd.DataFrame  # long: year, measure, capex, subsidy, opex, revenue, net
    totals: dict[str, float]
    horizon_yr: int
    rate: float
    targets: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    unit_level: str | None = None
    parent_level: str | None = None


def party_of(measure: Measure) -> str:
    """The responsible party key of a measure (see the module docstring)."""
    return PARTIES[(measure.setting, measure.owner)]


def assign_units(blocks: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For each block the index (position in ``units``) of the unit holding its largest part, -1 when
    it touches none, and that part as a share of the block's area."""
    n = len(blocks)
    best = np.full(n, -1, dtype=np.int64)
    share = np.zeros(n)
    if n == 0 or len(units) == 0:
        return best, share
    bg = np.asarray(blocks.geometry.values)
    ug = np.asarray(units.geometry.values)
    bi, ui = units.sindex.query(bg, predicate="intersects")
    if bi.size == 0:
        return best, share
    inter = shapely.area(shapely.intersection(bg[bi], ug[ui]))
    order = np.lexsort((ui, -inter, bi))  # per block: largest overlap first, then lowest unit index
    bi, ui, inter = bi[order], ui[order], inter[order]
    first = np.ones(bi.size, dtype=bool)
    first[1:] = bi[1:] != bi[:-1]
    keep = first & (inter > 0)
    best[bi[keep]] = ui[keep]
    area = shapely.area(bg)
    share[bi[keep]] = np.divide(inter[keep], area[bi[keep]], out=np.zeros(keep.sum()), where=area[bi[keep]] > 0)
    return best, share


def _quantity(m: Measure, capex: np.ndarray, area_m2: np.ndarray) -> np.ndarray:
    q = m.quantity
    if q.basis == "converted_area":
        return q.per_m2 * np.nan_to_num(area_m2, nan=0.0)
    unit_capex = m.number("capex_eur")
    if math.isfinite(unit_capex) and unit_capex > 0:
        return capex / unit_capex
    flows = [m.number(f, 0.0) for f in ("opex_eur_yr", "revenue_eur_yr", "avoided_damage_eur_yr")]
    return np.zeros_like(capex) if all(f == 0 for f in flows) else np.full_like(capex, np.nan)


def build_action_plan(data: RunData, *, catalogue: Catalogue | None = None, finance: FinanceParams | None = None,
                      targets: pd.DataFrame | None = None) -> ActionPlan | None:
    """The action plan of the run's plan (None when the run has no plan); see the module docstring."""
    if not data.has_plan:
        return None
    cat = catalogue or load_catalogue(params_dir=data.params_dir, legend=data.legend)
    fin = finance or load_finance_params(params_dir=data.params_dir)
    b = data.plan_blocks.copy()
    need = {"measure", "cost_npv", "capex", "eac", "gain"}
    if not need <= set(b.columns):
        raise InputDataError(f"The plan layer of {data.run_dir} lacks the column(s) {sorted(need - set(b.columns))}.",
                             hint="Run the area again with this version of biostress.")
    for c in ("cooling", "water_m3", "area_m2", "cost"):
        if c not in b.columns:
            b[c] = 0.0
    b = b.reset_index(drop=True)
    notes: list[str] = []
    # measures ---------------------------------------------------------------------------
    n = len(b)
    cols = {k: np.full(n, np.nan) for k in ("quantity", "opex_yr", "revenue_yr", "subsidy", "replacements",
                                            "lifetime_yr")}
    name_en, name_nl, party, unit, setting, owner = ([""] * n for _ in range(6))
    for mid, idx in b.groupby("measure").indices.items():
        m = cat.get(str(mid))
        capex = pd.to_numeric(b["capex"].iloc[idx], errors="coerce").to_numpy(dtype=np.float64)
        area = pd.to_numeric(b["area_m2"].iloc[idx], errors="coerce").to_numpy(dtype=np.float64)
        qty = _quantity(m, capex, area)
        if "units" in b.columns:  # the plan's own count, where it has one
            units = pd.to_numeric(b["units"].iloc[idx], errors="coerce").to_numpy(dtype=np.float64)
            qty = np.where(np.isfinite(units), units, qty)
        ok = np.isfinite(qty)
        br = cost_breakdown(m, np.where(ok, qty, 0.0), None, params=fin)
        cost0 = -np.asarray(br.npv, dtype=np.float64)  # net present cost without subsidy
        plan_cost = pd.to_numeric(b["cost_npv"].iloc[idx], errors="coerce").to_numpy(dtype=np.float64)
        sub = cost0 - plan_cost
        tol = 1.0 + _REL_TOL * np.abs(cost0)
        if np.any(sub < -tol):
            notes.append(f"{mid}: the plan's cost is above the catalogue's cost without subsidy in "
                         f"{int((sub < -tol).sum())} block(s) (catalogue changed since the run?); subsidy set to 0")
        sub = np.where(sub < np.maximum(0.005, _REL_TOL * np.abs(cost0)), 0.0, sub)  # rounding, not a subsidy
        sub = np.where(ok, sub, np.nan)
        if not ok.all():
            notes.append(f"{mid}: quantity unknown in {int((~ok).sum())} block(s) (capex per unit is 0 or "
                         "unknown): its yearly costs are not given there")
        cols["quantity"][idx] = np.where(ok, qty, np.nan)
        cols["opex_yr"][idx] = np.where(ok, np.asarray(br.opex_yr, dtype=np.float64) * np.ones_like(qty), np.nan)
        income = np.asarray(br.revenue_yr, dtype=np.float64) + np.asarray(br.avoided_yr, dtype=np.float64)
        cols["revenue_yr"][idx] = np.where(ok, income * np.ones_like(qty), np.nan)
        cols["subsidy"][idx] = sub
        cols["replacements"][idx] = br.replacements
        cols["lifetime_yr"][idx] = m.number("lifetime_yr", math.inf)
        for i in idx:
            name_en[i], name_nl[i], party[i], unit[i] = m.name_en, m.name_nl, party_of(m), m.unit
            setting[i], owner[i] = m.setting, m.owner
    b["name_en"], b["name_nl"], b["unit"], b["setting"], b["owner"] = name_en, name_nl, unit, setting, owner
    b["party"] = party
    b["party_en"] = [i18n.t(f"party_{p}", "en") for p in party]
    b["party_nl"] = [i18n.t(f"party_{p}", "nl") for p in party]
    for k, v in cols.items():
        b[k] = v
    b["net_capex"] = pd.to_numeric(b["capex"], errors="coerce") - b["subsidy"]
    # where ----------------------------------------------------------------------------------
    lv = data.finest_level
    parent_lv = None
    b["unit_code"], b["unit_name"], b["parent_code"], b["parent_name"], b["unit_share"] = "", "", "", "", 0.0
    if lv is not None:
        u = data.units[lv].reset_index(drop=True)
        u = u.to_crs(b.crs) if b.crs is not None and u.crs is not None and not u.crs.equals(b.crs) else u
        best, share = assign_units(b, u)
        hit = best >= 0
        codes = u["code"].astype(str).to_numpy() if "code" in u.columns else np.arange(len(u)).astype(str)
        names = u["name"].astype(str).to_numpy() if "name" in u.columns else codes
        pcodes = u["parent_code"].astype(str).to_numpy() if "parent_code" in u.columns else np.full(len(u), "")
        b.loc[hit, "unit_code"] = codes[best[hit]]
        b.loc[hit, "unit_name"] = names[best[hit]]
        b.loc[hit, "parent_code"] = pcodes[best[hit]]
        b["unit_share"] = share
        levels = data.levels
        if levels.index(lv) > 0:
            parent_lv = levels[levels.index(lv) - 1]
            pu = data.units[parent_lv]
            if "code" in pu.columns and "name" in pu.columns:
                pmap = dict(zip(pu["code"].astype(str), pu["name"].astype(str), strict=False))
                b["parent_name"] = b["parent_code"].map(pmap).fillna("")
        if (~hit).any():
            notes.append(f"{int((~hit).sum())} block(s) lie outside every {lv}")
    # tables -----------------------------------------------------------------------------------
    by_measure = _group(b, ["measure", "name_en", "name_nl", "party", "party_en", "party_nl"])
    by_buurt = _group(b, ["unit_code", "unit_name", "parent_code", "parent_name"])
    by_wijk = _group(b, ["parent_code", "parent_name"])
    by_party = _group(b, ["party", "party_en", "party_nl"])
    for df in (by_buurt, by_wijk):
        key = "unit_code" if "unit_code" in df.columns else "parent_code"
        per = b.groupby(key)["measure"].agg(lambda s: ";".join(sorted(set(s)))).to_dict()
        df["measures"] = [per.get(c, "") for c in df[key]]
    tg = None
    if targets is not None and not targets.empty:
        tg = check_targets(targets)
        for df, level, key in ((by_buurt, lv, "unit_code"), (by_wijk, parent_lv, "parent_code")):
            rows = tg[tg["level"].astype(str) == str(level)]
            for status, col in (("not met", "targets_not_met"), ("met", "targets_met")):
                sel = rows[rows["status"].astype(str) == status]
                agg = sel.groupby(sel["code"].astype(str))["target_id"].agg(lambda s: ";".join(sorted(set(map(str, s)))))
                found = agg.to_dict()
                df[col] = [found.get(str(c), "") for c in df[key]]
    fin_h, fin_r = fin.horizon_yr, fin.discount_rate
    totals = {k: float(pd.to_numeric(b[k], errors="coerce").sum(min_count=1)) for k in _SUMS}
    totals["blocks"] = float(len(b))
    pt = _budget(data)
    if pt is not None:
        totals["budget_eur"] = pt
    sched = schedule(b, fin_h)
    return ActionPlan(b, by_measure, by_buurt, by_wijk, by_party, sched, totals, fin_h, fin_r, tg, notes, lv, parent_lv)


def _budget(data: RunData) -> float | None:
    info = (data.manifest.get("info") or {}).get("plan") or {}
    v = info.get("budget_eur")
    try:
        return float(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def _group(b: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    g = b.groupby(list(keys), dropna=False, sort=False)
    out = g[list(_SUMS)].sum(min_count=1)
    out["blocks"] = g.size()
    out = out.reset_index().sort_values("gain", ascending=False, kind="mergesort").reset_index(drop=True)
    return out


def schedule(blocks: pd.DataFrame, horizon_yr: int) -> pd.DataFrame:
    """Undiscounted costs per year and measure (see the module docstring): columns year, measure,
    capex, subsidy, opex, revenue, net (= capex - subsidy + opex - revenue)."""
    if horizon_yr < 1:
        raise InputDataError(f"The horizon must be at least 1 year, got {horizon_yr}.")
    years = np.arange(1, horizon_yr + 1)
    frames = []
    for mid, g in blocks.groupby("measure", sort=True):
        capex = float(pd.to_numeric(g["capex"], errors="coerce").sum())
        sub = float(np.nansum(g["subsidy"]))
        opex = float(np.nansum(g["opex_yr"]))
        rev = float(np.nansum(g["revenue_yr"]))
        lt = float(g["lifetime_yr"].iloc[0])
        k = int(g["replacements"].iloc[0]) if np.isfinite(g["replacements"].iloc[0]) else 0
        cap = np.zeros(horizon_yr)
        cap[0] = capex
        for j in range(1, k + 1):
            y = int(math.floor(j * lt + 1e-9)) + 1
            if y <= horizon_yr:
                cap[y - 1] += capex
        subs = np.zeros(horizon_yr)
        subs[0] = sub
        frames.append(pd.DataFrame({"year": years, "measure": mid, "capex": cap, "subsidy": subs,
                                    "opex": np.full(horizon_yr, opex), "revenue": np.full(horizon_yr, rev)}))
    if not frames:
        return pd.DataFrame(columns=["year", "measure", "capex", "subsidy", "opex", "revenue", "net"])
    out = pd.concat(frames, ignore_index=True)
    out["net"] = out["capex"] - out["subsidy"] + out["opex"] - out["revenue"]
    return out


def schedule_summary(sched: pd.DataFrame, horizon_yr: int) -> pd.DataFrame:
    """The schedule summed over measures in periods: year 1, years 2-5, 6-10, then per 10 years."""
    per_year = sched.groupby("year")[["capex", "subsidy", "opex", "revenue", "net"]].sum()
    edges = [(1, 1), (2, 5), (6, 10)] + [(a, a + 9) for a in range(11, max(horizon_yr, 11) + 1, 10)]
    rows = []
    for a, z in edges:
        z = min(z, horizon_yr)
        if a > horizon_yr:
            break
        part = per_year.loc[a:z]
        rows.append({"first": a, "last": z, **{k: float(part[k].sum()) for k in per_year.columns}})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------

BLOCK_COLUMNS = ("site", "measure", "name_en", "name_nl", "unit", "quantity", "party", "party_en", "party_nl",
                 "unit_code", "unit_name", "parent_code", "parent_name", "unit_share", "capex", "subsidy", "net_capex",
                 "opex_yr", "revenue_yr", "replacements", "cost_npv", "eac", "gain", "cooling", "water_m3", "area_m2",
                 "x", "y")

README_ROWS = (
    ("site", "block id of the plan (row x columns + column of 100 m blocks)", "blok-id van het plan"),
    ("measure", "measure id of the catalogue (docs/measures.md)", "id van de maatregel in de catalogus"),
    ("quantity / unit", "amount of the measure in the catalogue's unit (m2, tree, unit, ...)",
     "hoeveelheid van de maatregel in de eenheid van de catalogus"),
    ("party", "who carries it out: municipality, owners / residents, farmers, water board",
     "wie het uitvoert: gemeente, eigenaren / bewoners, agrariërs, waterschap"),
    ("unit_code / parent_code", "neighbourhood (buurt) and district (wijk) holding most of the block",
     "buurt en wijk met het grootste deel van het blok"),
    ("capex", "gross investment in year 1, EUR", "bruto investering in jaar 1, EUR"),
    ("subsidy", "subsidy in year 1, EUR (implied by the plan's net present cost)",
     "subsidie in jaar 1, EUR (afgeleid uit de netto contante kosten van het plan)"),
    ("opex_yr / revenue_yr", "maintenance and income (incl. avoided damage) per year, EUR/yr",
     "beheer en inkomsten (incl. vermeden schade) per jaar, EUR/jaar"),
    ("cost_npv", "net present cost over the horizon, EUR (negative = net income)",
     "netto contante kosten over de looptijd, EUR (negatief = netto opbrengst)"),
    ("eac", "equivalent annual cost, EUR/yr", "jaarlijkse kosten (annuïteit), EUR/jaar"),
    ("gain", "habitat gain, m2 habitat-equivalent", "habitatwinst, m2 habitat-equivalent"),
    ("cooling", "cooling co-benefit, m2 x cooling capacity", "verkoeling, m2 x koelcapaciteit"),
    ("water_m3", "rain storage or less runoff in the design storm, m3", "berging of minder afstroming bij de "
     "maatgevende bui, m3"),
    ("area_m2", "land cover converted, m2", "omgevormde landbedekking, m2"),
    ("x / y", "block centre, EPSG:28992 (RD New) or the run's CRS", "midden van het blok, CRS van de berekening"),
)


def blocks_table(ap: ActionPlan) -> pd.DataFrame:
    """The blocks without geometry, with the block centre (x, y) in the grid CRS."""
    b = ap.blocks
    c = b.geometry.centroid
    df = pd.DataFrame(b.drop(columns="geometry"))
    df["x"], df["y"] = c.x.round(1).to_numpy(), c.y.round(1).to_numpy()
    return df[[k for k in BLOCK_COLUMNS if k in df.columns]]


def summary_rows(ap: ActionPlan) -> pd.DataFrame:
    """Quantity, value, unit rows of the plan's totals (for the spreadsheet)."""
    t = ap.totals
    rows = [("blocks", t.get("blocks"), "count"), ("budget", t.get("budget_eur"), "EUR"),
            ("capex", t.get("capex"), "EUR"), ("subsidy", t.get("subsidy"), "EUR"),
            ("net_capex", t.get("net_capex"), "EUR"), ("opex_yr", t.get("opex_yr"), "EUR/yr"),
            ("revenue_yr", t.get("revenue_yr"), "EUR/yr"), ("cost_npv", t.get("cost_npv"), "EUR"),
            ("eac", t.get("eac"), "EUR/yr"), ("gain", t.get("gain"), "m2 habitat-equivalent"),
            ("cooling", t.get("cooling"), "m2 x cooling capacity"), ("water_m3", t.get("water_m3"), "m3"),
            ("area_m2", t.get("area_m2"), "m2"), ("horizon_yr", ap.horizon_yr, "years"),
            ("discount_rate", ap.rate, "per year, real")]
    return pd.DataFrame(rows, columns=["quantity", "value", "unit"])


_EUR_COLS = {"capex", "subsidy", "net_capex", "opex_yr", "revenue_yr", "cost_npv", "eac", "opex", "revenue", "net",
             "value"}


def write_xlsx(ap: ActionPlan, path: Path) -> Path:
    """The action plan as an Excel workbook (openpyxl): one sheet per table, a header row, frozen
    panes, column widths and number formats (EUR '#,##0', shares '0.0%')."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    sheets: list[tuple[str, pd.DataFrame]] = [
        ("readme", pd.DataFrame(README_ROWS, columns=["column", "meaning", "betekenis"])),
        ("summary", summary_rows(ap)),
        ("by_measure", ap.by_measure), ("by_wijk", ap.by_wijk), ("by_buurt", ap.by_buurt),
        ("by_party", ap.by_party), ("schedule", ap.schedule), ("blocks", blocks_table(ap)),
    ]
    if ap.targets is not None:
        sheets.append(("targets", ap.targets))
    if ap.notes:
        sheets.append(("notes", pd.DataFrame({"note": ap.notes})))
    wb = Workbook()
    wb.remove(wb.active)
    head_font = Font(bold=True, color="FFFFFF")
    head_fill = PatternFill("solid", fgColor="2E5E3E")
    for name, df in sheets:
        ws = wb.create_sheet(name)
        cols = [str(c) for c in df.columns]
        ws.append(cols)
        for cell in ws[1]:
            cell.font, cell.fill = head_font, head_fill
        for row in df.itertuples(index=False):
            ws.append([_cell(v) for v in row])
        ws.freeze_panes = "A2"
        for j, c in enumerate(cols, start=1):
            letter = get_column_letter(j)
            width = max([len(c)] + [len(str(v)) for v in df.iloc[:200, j - 1].tolist()]) if len(df) else len(c)
            ws.column_dimensions[letter].width = min(max(8, width + 2), 60)
            fmt = "#,##0" if c in _EUR_COLS else ("0.0%" if c.endswith("share") else None)
            if fmt and name != "summary":
                for cell in ws[letter][1:]:
                    cell.number_format = fmt
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _cell(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def blocks_csv(ap: ActionPlan) -> str:
    """The blocks table as CSV text (UTF-8, comma-separated, point decimals)."""
    return blocks_table(ap).to_csv(index=False, float_format="%.6g", lineterminator="\n")


__all__ = ["ActionPlan", "BLOCK_COLUMNS", "PARTIES", "assign_units", "blocks_csv", "blocks_table",
           "build_action_plan", "party_of", "schedule", "schedule_summary", "summary_rows", "write_xlsx"]
