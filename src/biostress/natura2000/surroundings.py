"""Natura 2000 surroundings: the pressures on a site from its surrounding zone, the rural measures
that fit in the zone, and what each costs and earns per hectare for the land user.

For provinces, water boards and farmers (biostress issue 4, item 7). All functions take the
pipeline's :class:`~biostress.indicators.base.IndicatorContext` (or frames) and return frames and
dicts; nothing is written. Geometry and cells: :mod:`biostress.natura2000.zone`.

Pressures (:func:`site_pressures`), per part (the site, the ring ``zone``):

* **area** (ha): of the polygon, of the part on the analysis grid, and of the part with land cover;
* **land-cover shares**, area-weighted with the exact cell coverage ``w`` (exactextract):
  ``share_k = sum_cells w * f_k / sum_cells w * sum_j f_j`` over cells with land cover
  (``ctx.fractions``; ``unknown`` is a class too, so the shares add up to 1);
* **nitrogen** (only when ``ctx.rasters`` has ``nitrogen_exceedance``, mol N/ha/yr; otherwise
  "not available: no deposition data", never estimated): the ``w``-weighted mean and the maximum
  exceedance, the share of the part with data above the KDW, and the share (and ha) of it in each
  AERIUS Monitor "afstand tot de KDW" class (knowledge base 2b, V). The class raster is
  ``nitrogen_kdw_class`` when present, else it is classified from ``nitrogen_deposition`` (or
  ``exceedance + KDW``) and ``nitrogen_kdw`` with
  :func:`biostress.indicators.nitrogen.classify_distance_to_kdw`;
* **drying-out**: the mean ``drought_vulnerability`` (0-1) in the site when the raster exists, and
  as the pressure from the surroundings the share of drained / intensively used land in the zone:
  ``arable + pasture + impervious classes`` (legend flag ``impervious``: building, road, other
  paved, rail). Which land drains a site is a proposal (P): farmland is ditch-drained in the
  Netherlands and sealed land sheds its rain;
* **fragmentation**: effective mesh size (Jaeger 2000, CUT and CBC; reused from
  :mod:`biostress.indicators.fragmentation`) of the natural cover (the ``cbi_natural`` classes of
  ``fragmentation_classes.csv`` covering at least ``natural_min_fraction`` of the cell) in the site,
  the zone and both together. Cells belong to a part by their centre and count only where there is
  land cover; CBC patches are complete within the window analysed (buffer + margin);
* **hostile share**: the share of impervious cover in the part of the zone within ``dispersal_m`` of
  the site (the whole zone by default).

Measures (:func:`zone_measures`): the catalogue's rural measures (setting ``rural`` or ``both``)
whose ``fits`` rule holds in zone cells (``biostress.measures.rules.evaluate(..., missing="false")``)
with the variables ``share_<class>``, ``green``/``impervious``/``water``
(:func:`~biostress.measures.rules.landcover_variables`), the indicator rasters in ``ctx.rasters``,
``setting`` (urban/rural from :func:`biostress.potential.transitions.urban_mask` with the
``potential_params.csv`` settings) and ``distance_natura2000_m`` (exact distance from the cell
centre to the nearest site of the layer). Per hectare of measure (see :func:`per_ha_units`) the
capex, subsidy, opex, revenue (ANLb payments are revenue in the catalogue), NPV over the finance
horizon, payback year and equivalent annual cost (:mod:`biostress.measures.finance`). Avoided damage
is left out: it does not accrue to the land user.

Unknown numbers are never invented: where the catalogue has no capex, opex or revenue (null or
absent) the NPV, payback and EAC are NaN and ``pays_off`` is ``"unknown"`` - unless the sign is
certain anyway: an unknown yearly cost can only lower the NPV (so a negative known NPV means "no"),
an unknown revenue can only raise it (a non-negative known NPV means "yes").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import ConfigError, InputDataError
from ..indicators import fragmentation as frag
from ..indicators.base import IndicatorContext, params_path
from ..indicators.disturbance import read_table
from ..indicators.nitrogen import classify_distance_to_kdw, load_distance_classes
from ..landcover.legend import Legend, load_legend
from ..measures.catalogue import Catalogue, Measure, converted_area_m2, load_catalogue, units_per_cell
from ..measures.finance import (
    FinanceParams,
    cost_breakdown,
    equivalent_annual_cost,
    load_finance_params,
    select_subsidies,
)
from ..measures.rules import INDICATOR_VARIABLES, Categorical, Rule, evaluate, landcover_variables
from ..potential.transitions import load_settings, urban_mask
from .zone import QUAD_SEGS, ZoneCells, check_distance, coverage, distance_to, surrounding_zone, zone_cells

FARM_TYPES_FILE = "natura2000_farm_types.csv"
#: classes counted as drained / intensively used land besides the legend's impervious classes (P)
DRAINED_CLASSES = ("arable", "pasture")
NOT_AVAILABLE_N = "not available: no deposition data"
_COST_FIELDS = ("capex_eur", "opex_eur_yr", "revenue_eur_yr")
_FARM_COLUMNS = ["farm_type", "name_en", "name_nl", "land_class", "typical_area_ha", "area_ev", "area_source",
                 "measure_id", "applied_share", "share_ev", "share_source"]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _sites(ctx: IndicatorContext) -> gpd.GeoDataFrame:
    sites = (ctx.layers or {}).get("natura2000")
    if sites is None or len(sites) == 0:
        raise InputDataError("The run has no Natura 2000 layer (ctx.layers['natura2000']).",
                             hint="Add a 'natura2000' source to the area configuration.")
    return sites


def _raster(ctx: IndicatorContext, cells: ZoneCells, name: str) -> np.ndarray | None:
    rasters = ctx.rasters or {}
    if name not in rasters or rasters[name] is None:
        return None
    arr = rasters[name]
    if tuple(arr.shape) != tuple(ctx.grid.shape):
        raise InputDataError(f"The raster '{name}' has shape {tuple(arr.shape)}, the analysis grid {ctx.grid.shape}.",
                             hint="Resample the raster onto the analysis grid.")
    return cells.take(arr).astype(np.float64)


def _stack(ctx: IndicatorContext, cells: ZoneCells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window of the land-cover stack (float64), the summed cover per cell (NaN = none) and
    whether the cell has land cover."""
    if ctx.fractions.shape[0] != len(ctx.legend.classes):
        raise InputDataError(f"The land-cover stack has {ctx.fractions.shape[0]} bands, the legend "
                             f"{len(ctx.legend.classes)} classes.")
    fr = cells.take(ctx.fractions).astype(np.float64)
    total = fr.sum(axis=0)
    return fr, total, np.isfinite(total) & (total > 0)


def _parts(cells: ZoneCells) -> dict[str, np.ndarray]:
    return {"site": cells.site_cover, "zone": cells.zone_cover}


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else math.nan


def _idx(legend: Legend, keys: Iterable[str]) -> list[int]:
    return [legend.keys.index(k) for k in keys if k in legend.keys]


def _impervious(legend: Legend) -> list[int]:
    return [i for i, c in enumerate(legend.classes) if c.impervious]


def _cover_share(fr: np.ndarray, total: np.ndarray, ok: np.ndarray, w: np.ndarray, idx: list[int]) -> float:
    """``sum w * sum_{k in idx} f_k / sum w * total`` over cells with land cover."""
    ww = np.where(ok, w, 0.0)
    part = np.nansum(fr[idx], axis=0) if idx else np.zeros_like(total)
    return _ratio(float(np.sum(ww * np.where(ok, part, 0.0))), float(np.sum(ww * np.where(ok, total, 0.0))))


# --------------------------------------------------------------------------------------------
# pressures
# --------------------------------------------------------------------------------------------

def _areas(cells: ZoneCells, total: np.ndarray, ok: np.ndarray, cell_area: float) -> pd.DataFrame:
    rows = []
    for part, w in _parts(cells).items():
        geom = cells.site if part == "site" else cells.zone
        rows.append({"part": part, "area_ha": geom.area / 1e4,
                     "on_grid_ha": float(w.sum()) * cell_area / 1e4,
                     "with_landcover_ha": float(np.sum(np.where(ok, w * total, 0.0))) * cell_area / 1e4})
    df = pd.DataFrame(rows).set_index("part")
    df["landcover_share_of_area"] = df["with_landcover_ha"] / df["area_ha"]
    return df


def _landcover(cells: ZoneCells, fr: np.ndarray, total: np.ndarray, ok: np.ndarray, legend: Legend,
               cell_area: float) -> pd.DataFrame:
    out = pd.DataFrame({"key": legend.keys, "name_en": [c.name_en for c in legend.classes],
                        "name_nl": [c.name_nl for c in legend.classes]}).set_index("key")
    for part, w in _parts(cells).items():
        ww = np.where(ok, w, 0.0)
        amount = np.array([float(np.sum(ww * np.where(ok, fr[i], 0.0))) for i in range(len(legend.classes))])
        den = float(np.sum(ww * np.where(ok, total, 0.0)))
        out[f"{part}_ha"] = amount * cell_area / 1e4
        out[f"{part}_share"] = amount / den if den > 0 else np.nan
    return out


def _kdw_classes(ctx: IndicatorContext, cells: ZoneCells, exc: np.ndarray, classes: list[Any]
                 ) -> tuple[np.ndarray | None, str]:
    cls = _raster(ctx, cells, "nitrogen_kdw_class")
    if cls is not None:
        return cls, "AERIUS classes from ctx.rasters['nitrogen_kdw_class']."
    kdw = _raster(ctx, cells, "nitrogen_kdw")
    if kdw is None:
        return None, "AERIUS classes not available: no KDW raster (nitrogen_kdw) in the run."
    dep = _raster(ctx, cells, "nitrogen_deposition")
    how = "nitrogen_deposition and nitrogen_kdw"
    if dep is None:
        dep, how = exc + kdw, "exceedance + KDW"
    return np.asarray(classify_distance_to_kdw(dep, kdw, classes), dtype=np.float64), \
        f"AERIUS classes classified from {how}."


def _nitrogen(ctx: IndicatorContext, cells: ZoneCells, cell_area: float) -> tuple[pd.DataFrame, list[str]]:
    classes = load_distance_classes(ctx.params_dir)
    cols = ["status", "area_with_data_ha", "mean_exceedance", "max_exceedance", "share_above_kdw"]
    cols += [f"{c.key}_share" for c in classes] + [f"{c.key}_ha" for c in classes]
    exc = _raster(ctx, cells, "nitrogen_exceedance")
    if exc is None:
        rows = [{"part": p, "status": NOT_AVAILABLE_N} for p in ("site", "zone")]
        return pd.DataFrame(rows, columns=["part", *cols]).set_index("part"), [
            "Nitrogen: " + NOT_AVAILABLE_N + " (no nitrogen_exceedance raster; the exceedance is never estimated)."]
    cls, how = _kdw_classes(ctx, cells, exc, classes)
    notes = [how]
    rows = []
    for part, w in _parts(cells).items():
        has = np.isfinite(exc) & (w > 0)
        ww = np.where(has, w, 0.0)
        r: dict[str, Any] = {"part": part, "area_with_data_ha": float(ww.sum()) * cell_area / 1e4}
        if ww.sum() <= 0:
            r["status"] = "no exceedance values (no KDW: no N-sensitive habitat mapped here)"
            rows.append(r)
            continue
        r["status"] = "ok"
        e = np.where(has, exc, 0.0)
        r["mean_exceedance"] = float(np.sum(ww * e) / ww.sum())
        r["max_exceedance"] = float(np.max(exc[has]))
        r["share_above_kdw"] = float(np.sum(ww * (e > 0)) / ww.sum())
        if cls is not None:
            cw = np.where(np.isfinite(cls) & (w > 0), w, 0.0)
            for c in classes:
                a = float(np.sum(cw * (cls == c.code)))
                r[f"{c.key}_ha"] = a * cell_area / 1e4
                r[f"{c.key}_share"] = _ratio(a, float(cw.sum()))
        rows.append(r)
    return pd.DataFrame(rows, columns=["part", *cols]).set_index("part"), notes


def _drying(ctx: IndicatorContext, cells: ZoneCells, fr: np.ndarray, total: np.ndarray, ok: np.ndarray
            ) -> tuple[pd.DataFrame, list[str]]:
    legend = ctx.legend
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    dv = _raster(ctx, cells, "drought_vulnerability")
    for part, w in _parts(cells).items():
        if dv is None:
            rows.append({"part": part, "metric": "mean_drought_vulnerability", "value": math.nan, "units": "0-1",
                         "status": "not available: no drought_vulnerability raster"})
            continue
        has = np.isfinite(dv) & (w > 0)
        ww = np.where(has, w, 0.0)
        rows.append({"part": part, "metric": "mean_drought_vulnerability",
                     "value": _ratio(float(np.sum(ww * np.where(has, dv, 0.0))), float(ww.sum())), "units": "0-1",
                     "status": "ok" if ww.sum() > 0 else "no values in this part"})
    if dv is None:
        notes.append("Drying-out: no drought_vulnerability raster (drought indicator not run): only the drained "
                     "share of the zone is given.")
    imp = _impervious(legend)
    groups = {"arable_share": _idx(legend, ["arable"]), "pasture_share": _idx(legend, ["pasture"]),
              "paved_share": imp, "drained_share": sorted(set(_idx(legend, DRAINED_CLASSES)) | set(imp))}
    for part, w in _parts(cells).items():
        for metric, idx in groups.items():
            rows.append({"part": part, "metric": metric, "value": _cover_share(fr, total, ok, w, idx),
                         "units": "share of land cover 0-1", "status": "ok"})
    return pd.DataFrame(rows), notes


def _fragmentation(ctx: IndicatorContext, cells: ZoneCells, fr: np.ndarray, ok: np.ndarray) -> pd.DataFrame:
    p = frag.load_params(ctx.legend, ctx.params_dir)
    inside = cells.take(ctx.inside).astype(np.float64) if ctx.inside is not None else np.where(ok, 1.0, 0.0)
    natural = frag.habitat_mask(fr, ctx.legend, p.cbi_natural, np.nan_to_num(inside), p.natural_min_fraction) & ok
    uid = np.where(cells.site_centre & ok, 1, np.where(cells.zone_centre & ok, 2, 0)).astype(np.int64)
    cell = cells.grid.cell
    per = frag.patch_metrics_per_unit(natural, uid, cell, n_units=2)
    both = frag.landscape_metrics(natural, uid > 0, cell)
    df = pd.concat([per, pd.DataFrame([both])], ignore_index=True)
    df.index = pd.Index(["site", "zone", "site_and_zone"], name="part")
    keep = ["area_ha", "habitat_ha", "habitat_share", "n_patches", "meff_cut_ha", "meff_cbc_ha"]
    df = df[keep].rename(columns={"habitat_ha": "natural_ha", "habitat_share": "natural_share"})
    df["natural_classes"] = ";".join(p.cbi_natural)
    return df


def _hostile(ctx: IndicatorContext, cells: ZoneCells, fr: np.ndarray, total: np.ndarray, ok: np.ndarray,
             distance_m: float, dispersal_m: float | None, cell_area: float) -> pd.DataFrame:
    reach = distance_m if dispersal_m is None else min(check_distance(dispersal_m, "dispersal_m"), distance_m)
    if reach < distance_m:
        ring = shapely.difference(shapely.buffer(cells.site, reach, quad_segs=QUAD_SEGS), cells.site)
        w = coverage(ring, cells.grid)
    else:
        w = cells.zone_cover
    ww = np.where(ok, w, 0.0)
    share = _cover_share(fr, total, ok, w, _impervious(ctx.legend))
    land_ha = float(np.sum(ww * np.where(ok, total, 0.0))) * cell_area / 1e4
    return pd.DataFrame([{"reach_m": reach, "area_with_landcover_ha": land_ha, "hostile_share": share,
                          "hostile_ha": share * land_ha if land_ha > 0 else math.nan,
                          "hostile_classes": ";".join(ctx.legend.keys[i] for i in _impervious(ctx.legend))}])


def _pressures(ctx: IndicatorContext, cells: ZoneCells, distance_m: float, dispersal_m: float | None) -> dict:
    ca = ctx.grid.cell_area
    fr, total, ok = _stack(ctx, cells)
    notes: list[str] = []
    areas = _areas(cells, total, ok, ca)
    for part, r in areas.iterrows():
        if r["area_ha"] > 0 and r["with_landcover_ha"] < 0.99 * r["area_ha"]:
            notes.append(f"Only {r['with_landcover_ha'] / r['area_ha']:.0%} of the {part} has land cover on the "
                         "analysis grid: its statistics describe that part.")
    nitrogen, n_notes = _nitrogen(ctx, cells, ca)
    drying, d_notes = _drying(ctx, cells, fr, total, ok)
    fragmentation = _fragmentation(ctx, cells, fr, ok)
    hostile = _hostile(ctx, cells, fr, total, ok, distance_m, dispersal_m, ca)
    notes += n_notes + d_notes
    summary = _summary(areas, nitrogen, drying, fragmentation, hostile)
    return {"areas": areas, "landcover": _landcover(cells, fr, total, ok, ctx.legend, ca), "nitrogen": nitrogen,
            "drying_out": drying, "fragmentation": fragmentation, "hostile": hostile, "summary": summary,
            "notes": notes}


def _summary(areas: pd.DataFrame, nitrogen: pd.DataFrame, drying: pd.DataFrame, fragmentation: pd.DataFrame,
             hostile: pd.DataFrame) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []

    def add(part: str, pressure: str, metric: str, value: Any, units: str, status: str = "ok") -> None:
        rows.append({"part": part, "pressure": pressure, "metric": metric, "value": value, "units": units,
                     "status": status})

    for part, r in areas.iterrows():
        add(str(part), "area", "area_ha", r["area_ha"], "ha")
    for part, r in nitrogen.iterrows():
        st = str(r["status"])
        add(str(part), "nitrogen", "mean_exceedance", r["mean_exceedance"], "mol N/ha/yr", st)
        add(str(part), "nitrogen", "max_exceedance", r["max_exceedance"], "mol N/ha/yr", st)
        add(str(part), "nitrogen", "share_above_kdw", r["share_above_kdw"], "share 0-1", st)
    for _, r in drying.iterrows():
        add(r["part"], "drying_out", r["metric"], r["value"], r["units"], r["status"])
    for part, r in fragmentation.iterrows():
        add(str(part), "fragmentation", "meff_cut_ha", r["meff_cut_ha"], "ha")
    h = hostile.iloc[0]
    add("zone", "hostile_surroundings", f"hostile_share_within_{h['reach_m']:g}_m", h["hostile_share"],
        "share of land cover 0-1")
    return pd.DataFrame(rows)


def site_pressures(ctx: IndicatorContext, site_code: str, distance_m: float, *,
                   dispersal_m: float | None = None) -> dict[str, Any]:
    """Pressures on a Natura 2000 site from its surrounding zone (see the module docstring).

    Returns a dict of frames: ``areas`` (per part: ha), ``landcover`` (per class: ha and share in
    site and zone), ``nitrogen`` (per part: exceedance statistics and AERIUS class shares, or the
    status "not available: no deposition data"), ``drying_out`` (long: part, metric, value,
    units, status), ``fragmentation`` (per part: natural ha and share, patches, m_eff CUT and CBC
    in ha), ``hostile`` (impervious share within ``dispersal_m``), ``summary`` (long) and
    ``notes`` (list of text)."""
    d = check_distance(distance_m)
    cells = zone_cells(_sites(ctx), site_code, d, ctx.grid)
    return _pressures(ctx, cells, d, dispersal_m)


# --------------------------------------------------------------------------------------------
# economics of one measure for the land user
# --------------------------------------------------------------------------------------------

def per_ha_units(measure: Measure) -> tuple[float, str]:
    """Units of the measure in one hectare of measure, and what that hectare is:

    * unit ``ha``: 1 (a hectare under contract / of the measure);
    * unit ``m2``: 10 000;
    * other units, basis ``converted_area``: ``per_m2 * 10 000`` per ha of converted land (e.g. a
      hedgerow of 0.3333 m per m2 of shrub: 3 333 m per ha);
    * basis ``class_area``: ``per_ha`` per ha of the land it is applied on;
    * basis ``site`` (crossings): not per ha (NaN)."""
    q = measure.quantity
    if measure.unit == "ha":
        return 1.0, "ha of measure (unit ha)"
    if measure.unit == "m2":
        return 10_000.0, "ha of measure (10 000 m2)"
    if q.basis == "converted_area":
        return float(q.per_m2) * 10_000.0, f"ha of converted land ({float(q.per_m2) * 1e4:g} {measure.unit}/ha)"
    if q.basis == "class_area":
        return float(q.per_ha), f"ha of land where applied ({float(q.per_ha):g} {measure.unit}/ha)"
    return math.nan, f"not per ha: priced per {measure.unit}"


def _unknown_fields(measure: Measure) -> list[str]:
    return [f for f in _COST_FIELDS if getattr(measure, f) is None or getattr(measure, f).value is None]


def _ev(measure: Measure, name: str) -> str:
    v = getattr(measure, name)
    return "absent" if v is None else v.ev


def _pays_off(unknown: list[str], npv_known: float) -> tuple[str, str]:
    if "capex_eur" in unknown:
        return "unknown", "no capex in the catalogue"
    if not math.isfinite(npv_known):
        return "unknown", "no NPV"
    uo, ur = "opex_eur_yr" in unknown, "revenue_eur_yr" in unknown
    if uo and ur:
        return "unknown", "yearly cost and revenue not in the catalogue"
    if uo:
        return ("no", "NPV < 0 even without the unknown yearly cost") if npv_known < 0 else \
            ("unknown", "yearly cost not in the catalogue")
    if ur:
        return ("yes", "NPV >= 0 even without the unknown revenue") if npv_known >= 0 else \
            ("unknown", "revenue not in the catalogue")
    return ("yes", "NPV >= 0") if npv_known >= 0 else ("no", "NPV < 0")


def measure_economics(measure: Measure, quantity: float, *, regions: Iterable[str] = ("NL",),
                      rate: float | None = None, horizon_yr: int | None = None,
                      params: FinanceParams | None = None) -> dict[str, Any]:
    """Land-user economics of ``quantity`` units of ``measure`` (EUR, real prices; see
    :func:`biostress.measures.finance.cost_breakdown` for the cash flows, without avoided damage).

    Keys: ``capex``, ``subsidy`` (one-off, from :func:`select_subsidies` for ``regions``),
    ``opex_yr``, ``revenue_yr``, ``cost_yr`` (annualised net capex + opex: the equivalent annual
    cost of the costs alone), ``net_yr`` (revenue - cost_yr = -EAC), ``npv``, ``eac``,
    ``payback_year`` (undiscounted), ``npv_known`` (NPV with unknown numbers counted as 0),
    ``pays_off`` (yes/no/unknown), ``reason`` and ``unknown`` (fields without a number). Values
    that depend on an unknown number are NaN."""
    land = measure.model_copy(update={"avoided_damage_eur_yr": None})
    unknown = _unknown_fields(measure)
    nan = math.nan
    if not math.isfinite(quantity):
        return {"capex": nan, "subsidy": nan, "opex_yr": nan, "revenue_yr": nan, "cost_yr": nan, "net_yr": nan,
                "npv": nan, "eac": nan, "payback_year": nan, "npv_known": nan, "pays_off": "unknown",
                "reason": "not priced per ha", "unknown": unknown}
    p = params or load_finance_params()
    subs = select_subsidies(measure, tuple(regions))
    b = cost_breakdown(land, quantity, subs, rate=rate, horizon_yr=horizon_yr, params=p)
    cost_known = "capex_eur" not in unknown and "opex_eur_yr" not in unknown
    cost_yr = nan
    if cost_known:  # EAC of the costs alone: no revenue
        cost_yr = float(equivalent_annual_cost(b.capex, b.opex_yr, measure.number("lifetime_yr", math.inf), b.rate,
                                               0.0, b.subsidy, 0.0, b.horizon_yr))
    known = not unknown
    pays, reason = _pays_off(unknown, float(b.npv))
    return {
        "capex": float(b.capex), "subsidy": float(b.subsidy),
        "opex_yr": nan if "opex_eur_yr" in unknown else float(b.opex_yr),
        "revenue_yr": nan if "revenue_eur_yr" in unknown else float(b.revenue_yr),
        "cost_yr": cost_yr,
        "net_yr": -float(b.eac) if known else nan,
        "npv": float(b.npv) if known else nan, "eac": float(b.eac) if known else nan,
        "payback_year": float(b.payback_year) if known else nan,
        "npv_known": float(b.npv), "pays_off": pays, "reason": reason, "unknown": unknown,
    }


def _economics_columns(measure: Measure, regions: Iterable[str], rate: float | None, horizon_yr: int | None,
                       params: FinanceParams) -> dict[str, Any]:
    upha, basis = per_ha_units(measure)
    kw = {"regions": regions, "rate": rate, "horizon_yr": horizon_yr, "params": params}
    ha = measure_economics(measure, upha, **kw)  # type: ignore[arg-type]
    unit = measure_economics(measure, 1.0, **kw)  # type: ignore[arg-type]
    if not math.isfinite(upha):  # crossings: decide on one unit
        ha["pays_off"], ha["reason"] = unit["pays_off"], unit["reason"] + " (per " + measure.unit + ")"
    return {
        "per_ha_basis": basis, "units_per_ha": upha,
        "capex_eur_per_ha": ha["capex"], "subsidy_eur_per_ha": ha["subsidy"],
        "opex_eur_per_ha_yr": ha["opex_yr"], "revenue_eur_per_ha_yr": ha["revenue_yr"],
        "cost_eur_per_ha_yr": ha["cost_yr"], "net_eur_per_ha_yr": ha["net_yr"],
        "npv_eur_per_ha": ha["npv"], "npv_known_eur_per_ha": ha["npv_known"], "eac_eur_per_ha_yr": ha["eac"],
        "payback_year": ha["payback_year"], "pays_off": ha["pays_off"], "pays_off_reason": ha["reason"],
        "capex_eur_per_unit": unit["capex"], "npv_eur_per_unit": unit["npv"],
        "unknown": ";".join(ha["unknown"]),
        "capex_ev": _ev(measure, "capex_eur"), "opex_ev": _ev(measure, "opex_eur_yr"),
        "revenue_ev": _ev(measure, "revenue_eur_yr"),
    }


# --------------------------------------------------------------------------------------------
# measures in the zone
# --------------------------------------------------------------------------------------------

def _margin_cells(ctx: IndicatorContext) -> int:
    s = load_settings(ctx.params_dir)
    return int(math.ceil(s.urban_radius_m / ctx.grid.cell)) + 1


def _override(value: Any, ctx: IndicatorContext, cells: ZoneCells) -> Any:
    if isinstance(value, Categorical):
        if tuple(value.codes.shape) == tuple(ctx.grid.shape):
            return Categorical(cells.take(value.codes), value.labels)
        return value
    if tuple(getattr(value, "shape", ())) == tuple(ctx.grid.shape):
        return cells.take(value)
    if getattr(value, "shape", ()) != ():
        raise InputDataError(f"A rule variable has shape {tuple(value.shape)}; give (H, W) = {ctx.grid.shape} "
                             "arrays on the analysis grid or scalars.")
    return value


def rule_variables(ctx: IndicatorContext, cells: ZoneCells, fr: np.ndarray,
                   variables: Mapping[str, Any] | None = None, needed: Iterable[str] | None = None) -> dict[str, Any]:
    """Per-cell rule variables on the window of ``cells``: land-cover shares and flag sums,
    the indicator rasters present in ``ctx.rasters``, ``setting`` (urban/rural, a
    :class:`Categorical`) and ``distance_natura2000_m``; ``variables`` (full-grid arrays or
    scalars) override or add to them. With ``needed`` (the variables the rules read) the costly
    ``setting`` and ``distance_natura2000_m`` are only computed when a rule reads them."""
    legend = ctx.legend
    want = None if needed is None else set(needed)
    given = set(variables or {})
    out: dict[str, Any] = dict(landcover_variables(fr, legend))
    for name in INDICATOR_VARIABLES:
        r = _raster(ctx, cells, name)
        if r is not None:
            out[name] = r
    if (want is None or "setting" in want) and "setting" not in given:
        s = load_settings(ctx.params_dir)
        inside = cells.take(ctx.inside).astype(np.float64) if ctx.inside is not None else \
            np.where(np.isfinite(fr.sum(axis=0)), 1.0, 0.0)
        urban, rural = urban_mask(fr, legend, inside, cells.grid.cell, s.urban_radius_m, s.urban_min_built_share)
        codes = np.where(np.asarray(urban), 0, np.where(np.asarray(rural), 1, -1)).astype(np.int8)
        out["setting"] = Categorical(codes, ("urban", "rural"))
    if (want is None or "distance_natura2000_m" in want) and "distance_natura2000_m" not in given:
        sites = _sites(ctx)
        if sites.crs is not None and not sites.crs.equals(ctx.grid.pyproj_crs):
            sites = sites.to_crs(ctx.grid.crs)
        geoms = [g for g in sites.geometry.values if g is not None and not g.is_empty]
        allsites = shapely.union_all(shapely.make_valid(np.asarray(geoms, dtype=object)))
        out["distance_natura2000_m"] = distance_to(allsites, cells.grid, cells.zone_cover > 0)
    for k, v in (variables or {}).items():
        out[k] = _override(v, ctx, cells)
    return out


def _measures(ctx: IndicatorContext, cells: ZoneCells, catalogue: Catalogue | None, regions: Iterable[str],
              rate: float | None, horizon_yr: int | None, params: FinanceParams | None,
              variables: Mapping[str, Any] | None, include_unknown: bool) -> pd.DataFrame:
    cat = catalogue if catalogue is not None else load_catalogue(params_dir=ctx.params_dir)
    p = params or load_finance_params(params_dir=ctx.params_dir)
    legend = ctx.legend
    ca = ctx.grid.cell_area
    fr, total, ok = _stack(ctx, cells)
    rural = [(m, Rule.parse(m.fits.rule)) for m in cat.by_setting("rural")]
    var = rule_variables(ctx, cells, fr, variables, needed=set().union(*(r.variables for _, r in rural)))
    rows = []
    for m, rule in rural:
        ev = evaluate(rule, var, missing="false")
        fit = np.asarray(ev.value, dtype=bool) & ok
        w = np.where(fit, cells.zone_cover, 0.0)
        fits_ha = float(w.sum()) * ca / 1e4
        base = {"measure_id": m.id, "name_en": m.name_en, "name_nl": m.name_nl, "setting": m.setting,
                "unit": m.unit, "owner": m.owner, "fits_rule": m.fits.rule,
                "missing_variables": ";".join(ev.missing)}
        if fits_ha <= 0:
            if include_unknown and ev.missing:
                rows.append({**base, "status": f"unknown: no data for {', '.join(ev.missing)}", "fits_ha": np.nan})
            continue
        units = np.nan_to_num(np.asarray(units_per_cell(m, fr, legend, ca), dtype=np.float64))
        conv = np.nan_to_num(np.asarray(converted_area_m2(m, fr, legend, ca))) if m.transitions else np.zeros_like(w)
        status = "fits" if not ev.missing else f"fits (where known; no data for {', '.join(ev.missing)})"
        rows.append({**base, "status": status, "fits_ha": fits_ha, "converted_ha": float(np.sum(conv * w)) / 1e4,
                     "units_in_zone": float(np.sum(units * w)),
                     **_economics_columns(m, regions, rate, horizon_yr, p)})
    cols = ["measure_id", "name_en", "name_nl", "setting", "unit", "owner", "status", "fits_ha", "converted_ha",
            "units_in_zone", "per_ha_basis", "units_per_ha", "capex_eur_per_ha", "subsidy_eur_per_ha",
            "opex_eur_per_ha_yr", "revenue_eur_per_ha_yr", "cost_eur_per_ha_yr", "net_eur_per_ha_yr",
            "npv_eur_per_ha", "npv_known_eur_per_ha", "eac_eur_per_ha_yr", "payback_year", "pays_off",
            "pays_off_reason", "capex_eur_per_unit", "npv_eur_per_unit", "unknown", "capex_ev", "opex_ev",
            "revenue_ev", "fits_rule", "missing_variables"]
    df = pd.DataFrame(rows, columns=cols)
    df.attrs.update({"discount_rate": p.discount_rate if rate is None else rate,
                     "horizon_yr": p.horizon_yr if horizon_yr is None else horizon_yr,
                     "regions": ";".join(regions)})
    return df


def zone_measures(ctx: IndicatorContext, site_code: str, distance_m: float, catalogue: Catalogue | None = None,
                  *, regions: Iterable[str] = ("NL",), rate: float | None = None, horizon_yr: int | None = None,
                  finance_params: FinanceParams | None = None, variables: Mapping[str, Any] | None = None,
                  include_unknown: bool = False) -> pd.DataFrame:
    """The rural measures (setting ``rural`` or ``both``) that fit in the surrounding zone.

    One row per measure that fits somewhere in the zone: ``fits_ha`` (zone area of the cells where
    the rule holds, weighted by the cells' zone coverage), ``converted_ha`` (land cover the measure
    converts there), ``units_in_zone``, and per hectare of measure (``per_ha_basis``) the capex,
    one-off subsidy (``regions``), yearly opex and revenue, annualised cost, net yearly result, NPV
    over the finance horizon, EAC, payback year and ``pays_off`` (yes / no / unknown, with the
    reason); per unit the capex and NPV; the evidence marks of capex, opex and revenue.

    A measure whose rule holds nowhere in the zone is left out; with ``include_unknown`` those
    that hold nowhere *because* a variable is missing (e.g. ``owner``) are listed with status
    "unknown: no data for ...". ``variables`` adds or overrides rule variables (full-grid arrays
    or scalars, e.g. ``{"setting": "rural"}``). Discount rate and horizon default to
    ``finance.yaml`` (they are in ``df.attrs``)."""
    d = check_distance(distance_m)
    cells = zone_cells(_sites(ctx), site_code, d, ctx.grid, margin_cells=_margin_cells(ctx))
    return _measures(ctx, cells, catalogue, tuple(regions), rate, horizon_yr, finance_params, variables,
                     include_unknown)


# --------------------------------------------------------------------------------------------
# farm types
# --------------------------------------------------------------------------------------------

def _farm_error(path: str, line: Any, what: str, hint: str | None = None) -> ConfigError:
    where = f" line {line}" if line is not None else ""
    return ConfigError(f"Farm-type table {path}{where}: {what}", hint=hint or
                       f"See docs/natura2000.md for the columns of {FARM_TYPES_FILE}.")


def _units_per_land_ha(measure: Measure, land_class: str, legend: Legend) -> float:
    """Units of ``measure`` per hectare of ``land_class`` (a cell of 1 ha fully of that class)."""
    stack = np.zeros((len(legend.classes), 1, 1), dtype=np.float64)
    stack[legend.keys.index(land_class)] = 1.0
    return float(np.asarray(units_per_cell(measure, stack, legend, 10_000.0))[0, 0])


def check_farm_types(farm_types: pd.DataFrame, catalogue: Catalogue, legend: Legend | None = None,
                     path: str = "<farm types>") -> pd.DataFrame:
    """Validate a farm-type frame (columns of ``natura2000_farm_types.csv``) against the legend
    and the catalogue; returns it with typed numbers. Raises :class:`ConfigError`."""
    legend = legend or load_legend()
    missing = [c for c in _FARM_COLUMNS if c not in farm_types.columns]
    if missing:
        raise _farm_error(path, None, f"missing column(s) {missing}.", f"Columns: {_FARM_COLUMNS + ['note']}.")
    df = farm_types.copy()
    if df.empty:
        raise _farm_error(path, None, "no rows.")
    seen: dict[str, tuple[Any, ...]] = {}
    pairs: set[tuple[str, str]] = set()
    areas, shares = [], []
    for i, r in df.reset_index(drop=True).iterrows():
        line = int(i) + 2  # type: ignore[operator]
        ft = str(r["farm_type"]).strip()
        if not ft:
            raise _farm_error(path, line, "farm_type is empty.")
        lc = str(r["land_class"]).strip()
        if lc not in legend.keys:
            raise _farm_error(path, line, f"unknown land class {lc!r}.", f"Use a legend key: {', '.join(legend.keys)}")
        for col in ("area_ev", "share_ev"):
            if str(r[col]).strip() not in ("V", "S", "R", "P"):
                raise _farm_error(path, line, f"{col} must be V, S, R or P, got {r[col]!r}.")
        for col in ("area_source", "share_source"):
            if not str(r[col]).strip():
                raise _farm_error(path, line, f"{col} is empty.", "Every number needs a source (or 'proposed', ev P).")
        area = _number(r["typical_area_ha"], path, line, "typical_area_ha")
        share = _number(r["applied_share"], path, line, "applied_share")
        if area <= 0:
            raise _farm_error(path, line, f"typical_area_ha must be above 0, got {area}.")
        if not 0 < share <= 1:
            raise _farm_error(path, line, f"applied_share must be in (0, 1], got {share}.",
                              "The share of the farm's land on which the measure is applied.")
        farm = (str(r["name_en"]).strip(), lc, area)
        if seen.setdefault(ft, farm) != farm:
            raise _farm_error(path, line, f"farm type {ft!r} has a different name, land class or area than on an "
                                          "earlier row.", "Repeat the same farm data on every row of a farm type.")
        mid = str(r["measure_id"]).strip()
        if mid not in catalogue.ids:
            raise _farm_error(path, line, f"unknown measure {mid!r}.", f"Use a rural measure id of the catalogue: "
                              f"{', '.join(m.id for m in catalogue.by_setting('rural'))}")
        m = catalogue.get(mid)
        if m.setting not in ("rural", "both"):
            raise _farm_error(path, line, f"measure {mid!r} is an urban measure.")
        if m.quantity.basis == "site":
            raise _farm_error(path, line, f"measure {mid!r} is priced per {m.unit}, not per area of land.")
        if not _units_per_land_ha(m, lc, legend) > 0:
            raise _farm_error(path, line, f"measure {mid!r} does not act on the land class {lc!r} (no transition "
                                          "from it in the catalogue).")
        if (ft, mid) in pairs:
            raise _farm_error(path, line, f"measure {mid!r} is listed twice for {ft!r}.")
        pairs.add((ft, mid))
        areas.append(area)
        shares.append(share)
    df = df.reset_index(drop=True)
    df["typical_area_ha"] = areas
    df["applied_share"] = shares
    for c in ("farm_type", "land_class", "measure_id", "area_ev", "share_ev"):
        df[c] = df[c].astype(str).str.strip()
    return df


def _number(v: Any, path: str, line: int, col: str) -> float:
    try:
        x = float(str(v).strip())
    except ValueError:
        raise _farm_error(path, line, f"{col} {v!r} is not a number.") from None
    if not math.isfinite(x):
        raise _farm_error(path, line, f"{col} must be a finite number, got {v!r}.")
    return x


def load_farm_types(params_dir: Path | str | None = None, *, catalogue: Catalogue | None = None,
                    legend: Legend | None = None) -> pd.DataFrame:
    """Read and validate ``natura2000_farm_types.csv`` (the area's copy in ``params_dir`` if any)."""
    p = params_path(FARM_TYPES_FILE, params_dir)
    df = read_table(p, _FARM_COLUMNS)
    df = df[~df["farm_type"].str.strip().str.startswith("#")]
    cat = catalogue if catalogue is not None else load_catalogue(params_dir=params_dir)
    return check_farm_types(df, cat, legend, str(p))


def farm_type_economics(catalogue: Catalogue, farm_types: pd.DataFrame, *, regions: Iterable[str] = ("NL",),
                        rate: float | None = None, horizon_yr: int | None = None,
                        params: FinanceParams | None = None, legend: Legend | None = None) -> pd.DataFrame:
    """Per farm type and applicable measure: cost and earnings per hectare of measure per year and
    per typical farm.

    ``units_per_land_ha`` = units of the measure per ha of the farm's land class (the catalogue's
    quantity and transitions); on a typical farm the measure is applied on ``applied_share`` of
    its ``typical_area_ha``: ``units_per_farm = units_per_land_ha * applied_share * typical_area_ha``
    and ``measure_ha_per_farm = units_per_farm / units_per_ha``. Money columns as in
    :func:`measure_economics` (``cost_*_yr``: annualised net capex + opex; ``revenue_*_yr``;
    ``net_*_yr = revenue - cost``), NaN where the catalogue has no number."""
    legend = legend or load_legend()
    ft = check_farm_types(farm_types, catalogue, legend)
    p = params or load_finance_params()
    regs = tuple(regions)
    rows = []
    for _, r in ft.iterrows():
        m = catalogue.get(r["measure_id"])
        upha, basis = per_ha_units(m)
        per_land = _units_per_land_ha(m, r["land_class"], legend)
        units_farm = per_land * r["applied_share"] * r["typical_area_ha"]
        kw = {"regions": regs, "rate": rate, "horizon_yr": horizon_yr, "params": p}
        ha = measure_economics(m, upha, **kw)  # type: ignore[arg-type]
        farm = measure_economics(m, units_farm, **kw)  # type: ignore[arg-type]
        rows.append({
            "farm_type": r["farm_type"], "farm_name_en": r["name_en"], "farm_name_nl": r.get("name_nl", ""),
            "land_class": r["land_class"], "typical_area_ha": r["typical_area_ha"], "area_ev": r["area_ev"],
            "measure_id": m.id, "measure_name_en": m.name_en, "unit": m.unit, "applied_share": r["applied_share"],
            "share_ev": r["share_ev"], "units_per_land_ha": per_land, "units_per_farm": units_farm,
            "per_ha_basis": basis, "measure_ha_per_farm": units_farm / upha,
            "capex_eur_per_ha": ha["capex"], "cost_eur_per_ha_yr": ha["cost_yr"],
            "revenue_eur_per_ha_yr": ha["revenue_yr"], "net_eur_per_ha_yr": ha["net_yr"],
            "npv_eur_per_ha": ha["npv"], "payback_year": ha["payback_year"],
            "capex_eur_farm": farm["capex"], "subsidy_eur_farm": farm["subsidy"], "cost_eur_farm_yr": farm["cost_yr"],
            "revenue_eur_farm_yr": farm["revenue_yr"], "net_eur_farm_yr": farm["net_yr"], "npv_eur_farm": farm["npv"],
            "pays_off": farm["pays_off"], "pays_off_reason": farm["reason"], "unknown": ";".join(farm["unknown"]),
            "capex_ev": _ev(m, "capex_eur"), "opex_ev": _ev(m, "opex_eur_yr"), "revenue_ev": _ev(m, "revenue_eur_yr"),
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# the bundle
# --------------------------------------------------------------------------------------------

def surroundings_report(ctx: IndicatorContext, site_code: str, distance_m: float = 1000.0, *,
                        catalogue: Catalogue | None = None, farm_types: pd.DataFrame | None = None,
                        dispersal_m: float | None = None, regions: Iterable[str] = ("NL",),
                        rate: float | None = None, horizon_yr: int | None = None) -> dict[str, Any]:
    """Everything for the report writer: ``site`` (code, name, distance), ``zone`` (GeoDataFrame),
    ``pressures`` (:func:`site_pressures`), ``measures`` (:func:`zone_measures`, with the measures
    that are unknown for lack of data), ``farm_types`` (:func:`farm_type_economics`, with a column
    ``fits_in_zone``), ``finance`` (rate, horizon, evidence) and ``notes``."""
    d = check_distance(distance_m)
    sites = _sites(ctx)
    cat = catalogue if catalogue is not None else load_catalogue(params_dir=ctx.params_dir)
    fp = load_finance_params(params_dir=ctx.params_dir)
    zone = surrounding_zone(sites.to_crs(ctx.grid.crs) if sites.crs is not None else sites, site_code, d)
    cells = zone_cells(sites, site_code, d, ctx.grid, margin_cells=_margin_cells(ctx))
    pressures = _pressures(ctx, cells, d, dispersal_m)
    regs = tuple(regions)
    measures = _measures(ctx, cells, cat, regs, rate, horizon_yr, fp, None, True)
    ft = farm_types if farm_types is not None else load_farm_types(ctx.params_dir, catalogue=cat, legend=ctx.legend)
    farms = farm_type_economics(cat, ft, regions=regs, rate=rate, horizon_yr=horizon_yr, params=fp, legend=ctx.legend)
    fitting = set(measures.loc[measures["fits_ha"] > 0, "measure_id"])
    farms["fits_in_zone"] = farms["measure_id"].isin(fitting)
    notes = list(pressures["notes"])
    notes.append("Measure costs and ANLb payments are mostly placeholders (ev R) or derived (P) in the catalogue: "
                 "check the tarievenlijst of the agricultural collective before deciding.")
    return {
        "site": {"site_code": zone["site_code"].iloc[0], "site_name": zone["site_name"].iloc[0], "distance_m": d,
                 "dispersal_m": dispersal_m},
        "zone": zone, "pressures": pressures, "measures": measures, "farm_types": farms,
        "finance": {"discount_rate": fp.discount_rate if rate is None else rate,
                    "horizon_yr": fp.horizon_yr if horizon_yr is None else horizon_yr,
                    "ev": dict(fp.ev), "source": dict(fp.source), "regions": ";".join(regs)},
        "notes": notes,
    }
