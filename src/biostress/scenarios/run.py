"""Run a scenario on an existing run folder (the I/O edge of scenarios).

Window logic. A measure changes the land cover only inside the changed cells ``C`` (the cells a
drawn polygon touches). A local indicator's value at a cell depends on the land cover within its
reach ``R`` (:func:`biostress.indicator_stage.module_reach`), so only cells within ``R`` of ``C``
can change: the *output window* is ``bbox(C)`` grown by ``R``. To compute those cells exactly, each
needs the land cover within ``R`` of it: the *input window* is the output window grown by ``R``
again. Before and after are computed on the same input window, and the difference is reported on
the output window; everywhere else the change is exactly zero. A test checks this against a full
re-run of the whole grid.

Costs use the measure's catalogue numbers (:func:`biostress.measures.finance.cost_breakdown`) for
the units the measure needs in the changed cells (:func:`biostress.measures.units_per_cell` times
the part of each cell where it is applied).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputDataError, NoOverlapError
from ..grid import Grid
from ..indicator_stage import (
    LAYER_MARGIN_M,
    RasterFiles,
    StageInputs,
    UnitCoverage,
    UnitStats,
    _window_context,
    module_reach,
)
from ..indicators.base import IndicatorContext
from ..landcover.legend import Legend
from ..store import qml
from ..store.runfolder import RunFolder

Progress = Callable[[str, int, int], None]
#: the indicators a scenario re-runs (local ones: their change is confined to a window)
DEFAULT_MODULES = ("green", "habitat_quality", "heat", "flooding", "drought", "disturbance")
#: rasters summed (not averaged) when reporting totals
_SUMMED = {"runoff_volume": "m3"}


@dataclass
class Change:
    """A measure applied on a polygon (in the run's CRS), or on ``cells``: the part (0-1) of each
    cell of the run grid where it is applied (e.g. a plan's chosen blocks where the measure fits);
    ``part`` = share of the polygon (or of ``cells``) where it is applied, e.g. 0.5 when half of the
    paving in the drawn area is removed."""

    measure: str
    geometry: Any = None
    part: float = 1.0
    cells: np.ndarray | None = None

    def applied(self, grid: Grid, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Part of each cell of the window ``r0:r1, c0:c1`` where the measure is applied."""
        if self.cells is not None:
            return np.clip(np.asarray(self.cells[r0:r1, c0:c1], dtype=np.float64), 0.0, 1.0) * self.part
        return _coverage(self.geometry, grid.window(r0, c0, r1 - r0, c1 - c0)) * self.part

    def extent(self, grid: Grid) -> tuple[int, int, int, int] | None:
        """Rows and columns ``(r0, r1, c0, c1)`` of the cells the change touches, or None if none."""
        if self.cells is not None:
            rr, cc = np.nonzero(np.asarray(self.cells) > 0)
            return (int(rr.min()), int(rr.max()) + 1, int(cc.min()), int(cc.max()) + 1) if rr.size else None
        gx0, _, _, _ = grid.bounds
        x0, y0, x1, y1 = shapely.bounds(self.geometry)
        c0, c1 = math.floor((x0 - gx0) / grid.cell), math.ceil((x1 - gx0) / grid.cell)
        r0, r1 = math.floor((grid.y1 - y1) / grid.cell), math.ceil((grid.y1 - y0) / grid.cell)
        r0, r1, c0, c1 = max(0, r0), min(grid.height, r1), max(0, c0), min(grid.width, c1)
        return (r0, r1, c0, c1) if r1 > r0 and c1 > c0 else None


@dataclass
class ScenarioResult:
    out_dir: Path | None
    window: tuple[int, int, int, int]  # output window rows/cols (r0, r1, c0, c1) on the run grid
    totals: pd.DataFrame  # per indicator: mean before/after over the changed cells, sum of change
    units: dict[str, pd.DataFrame]  # per level: unit code, indicator mean before/after/change
    costs: pd.DataFrame  # per change: quantity, capex, subsidy, net capex, opex/yr, NPV, EAC
    landcover: pd.DataFrame  # converted area per class (ha, after minus before)
    notes: list[str] = field(default_factory=list)
    deltas: dict[str, np.ndarray] = field(default_factory=dict)  # name -> change on the output window
    guide_species: pd.DataFrame | None = None  # per species: suitable / key-network area before, after, change


def _noop(step: str, done: int, total: int) -> None:
    pass


def affected_windows(cells: tuple[int, int, int, int], reach_cells: int,
                     shape: tuple[int, int]) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Output and input windows ``(r0, r1, c0, c1)`` for changed cells in ``cells`` (half-open),
    clamped to the grid: output = cells grown by ``reach_cells``, input = output grown again."""
    h, w = shape
    r0, r1, c0, c1 = cells

    def grow(a0, a1, b0, b1, n):
        return max(0, a0 - n), min(h, a1 + n), max(0, b0 - n), min(w, b1 + n)

    out = grow(r0, r1, c0, c1, reach_cells)
    return out, grow(*out, reach_cells)


def _cells_outline(ch: Change, grid: Grid) -> Any:
    """Polygons of the cells a cell-based change touches (for the scenario's map layer)."""
    from rasterio import features

    mask = (np.asarray(ch.cells) > 0).astype(np.uint8)
    shapes = [shapely.geometry.shape(g) for g, v in features.shapes(mask, mask=mask.astype(bool),
                                                                       transform=grid.transform) if v]
    return shapely.union_all(shapes) if shapes else shapely.Polygon()


def plan_changes(orun: Any, blocks: gpd.GeoDataFrame, block_cells: int, catalogue: Any = None) -> list[Change]:
    """The changes a plan makes: per measure, the cells of its chosen blocks where the measure fits
    (the same cells the plan's options counted)."""
    from ..opportunity import measure_layers
    from ..opportunity.variables import rule_variables

    grid = orun.grid
    if blocks.empty:
        return []
    need = {"measure", "geometry"}
    if not need <= set(blocks.columns):
        raise InputDataError(f"The plan layer lacks the columns {sorted(need - set(blocks.columns))}.")
    ctx = orun.context()
    variables = rule_variables(ctx)
    out = []
    for mid, grp in blocks.groupby("measure"):
        chosen = np.zeros(grid.shape, bool)
        for x0, y0, x1, y1 in shapely.bounds(grp.geometry.values):
            c0, c1 = int(round((x0 - grid.x0) / grid.cell)), int(round((x1 - grid.x0) / grid.cell))
            r0, r1 = int(round((grid.y1 - y1) / grid.cell)), int(round((grid.y1 - y0) / grid.cell))
            chosen[max(r0, 0):r1, max(c0, 0):c1] = True
        fits = np.asarray(measure_layers(ctx, catalogue, [str(mid)], variables=variables)[str(mid)]["fits"], bool)
        cells = (fits & chosen).astype(np.float64)
        if cells.any():
            out.append(Change(str(mid), None, 1.0, cells))
    return out


def _coverage(geom: Any, grid: Grid) -> np.ndarray:
    """Share (0-1) of each cell covered by ``geom`` (exactextract cell coverage)."""
    cov = UnitCoverage(gpd.GeoDataFrame({"code": ["x"]}, geometry=[geom], crs=grid.crs), grid)
    out = np.zeros(grid.shape, np.float64)
    for c, w in zip(cov.cells, cov.cover, strict=True):
        out.reshape(-1)[c] += w
    return np.clip(out, 0.0, 1.0)


def scenario_on_context(ctx: IndicatorContext, new_fractions: Any,
                        modules: Sequence[str] = DEFAULT_MODULES) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Run ``modules`` on ``ctx`` and on its land cover replaced by ``new_fractions``; returns
    ``name -> (before, after)`` for every non-categorical raster. Pure (no I/O)."""
    from ..potential.compute import run_modules, with_landcover

    after_ctx = with_landcover(ctx, new_fractions)
    before_ctx = with_landcover(ctx, ctx.fractions)
    before = run_modules(before_ctx, modules)
    after = run_modules(after_ctx, modules)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, results in before.items():
        amap = {r.name: r for r in after.get(name, [])}
        for r in results:
            if r.palette == "categorical" or r.name not in amap:
                continue
            out[r.name] = (np.asarray(r.array, np.float64), np.asarray(amap[r.name].array, np.float64))
    return out


def run_scenario(run_dir: str | Path, changes: Sequence[Change], out_dir: str | Path | None = None, *,
                 overwrite: bool = False, modules: Sequence[str] = DEFAULT_MODULES, params_dir: Path | None = None,
                 catalogue: Any = None, legend: Legend | None = None, networks: bool = False,
                 progress: Progress = _noop) -> ScenarioResult:
    """Apply ``changes`` to the land cover of the run at ``run_dir``, re-run ``modules`` on the
    affected window and report the change; written to ``out_dir`` when given (atomically).

    ``networks``: also re-run the guide species (habitat networks are global: on the whole grid,
    with the pressures they use recomputed before and after) and report per species the change of
    suitable area and of area in key-population networks."""
    from ..measures import cost_breakdown, load_catalogue, select_subsidies, units_per_cell
    from ..measures.catalogue import apply_transitions
    from ..runs import open_run

    run_dir = Path(run_dir)
    orun = open_run(run_dir, legend=legend, params_dir=params_dir)
    grid, legend = orun.grid, orun.legend
    cat = catalogue or load_catalogue(params_dir=params_dir)
    if not changes:
        raise InputDataError("A scenario needs at least one change (a measure on a polygon).")
    measures = []
    for ch in changes:
        try:
            m = cat.get(ch.measure)
        except Exception:
            m = None
        if m is None:
            raise InputDataError(f"Unknown measure '{ch.measure}'.",
                                 hint=f"Choose one of: {', '.join(x.id for x in cat.measures)}.")
        if not 0.0 < ch.part <= 1.0:
            raise InputDataError(f"The applied part of measure '{ch.measure}' must be in (0, 1], got {ch.part}.")
        if ch.cells is not None:
            if tuple(np.shape(ch.cells)) != grid.shape:
                raise InputDataError(f"The cells of measure '{ch.measure}' have shape {np.shape(ch.cells)}, the "
                                     f"run's grid {grid.shape}.")
        else:
            g = ch.geometry
            if g is None or shapely.is_empty(g) or not shapely.is_valid(g):
                raise InputDataError(f"The polygon of measure '{ch.measure}' is empty or invalid.",
                                     hint="Draw a simple polygon without self-intersections.")
        measures.append(m)
    # changed cells: the union of the changes' cells
    boxes = []
    for ch in changes:
        box = ch.extent(grid)
        if box is None:
            raise NoOverlapError(f"The {'cells' if ch.cells is not None else 'polygon'} of measure '{ch.measure}' "
                                 "lie outside the area of the run.",
                                 hint=f"Draw it inside {grid.bounds} ({grid.crs}).")
        boxes.append(box)
    cells = (min(b[0] for b in boxes), max(b[1] for b in boxes), min(b[2] for b in boxes), max(b[3] for b in boxes))
    reach = max((module_reach(n, params_dir, False) or 0.0) for n in modules)
    reach_cells = int(math.ceil(reach / grid.cell)) + 2
    outw, inw = affected_windows(cells, reach_cells, grid.shape)
    progress("scenario", 0, 3)
    units = orun.units
    inp = orun.inputs
    files = orun.inputs_only  # indicator results are recomputed before and after
    R0, R1, C0, C1 = inw
    ctx = _window_context(inp, files, R0, R1, C0, C1, margin_m=LAYER_MARGIN_M)
    fr = np.asarray(ctx.fractions, dtype=np.float32)
    new = fr
    notes: list[str] = []
    cost_rows = []
    for ch, m in zip(changes, measures, strict=True):
        part = ch.applied(grid, R0, R1, C0, C1)
        part[~np.isfinite(fr).any(axis=0)] = 0.0
        before = new
        new = apply_transitions(m, new, legend, part)
        if not m.transitions:
            notes.append(f"{m.id}: does not change the land cover (its effect is on guide species / stressors); the "
                         "indicators do not change, only its cost is counted")
        q = units_per_cell(m, np.nan_to_num(before), legend, grid.cell_area) * part
        cb = cost_breakdown(m, np.array([float(np.nansum(q))]), select_subsidies(m))
        area_ha = float(np.nansum(part) * grid.cell_area / 1e4)
        cost_rows.append({"measure": m.id, "name_en": m.name_en, "name_nl": m.name_nl, "area_ha": area_ha,
                          "quantity": float(cb.quantity[0]), "unit": m.unit, "capex_eur": float(cb.capex[0]),
                          "subsidy_eur": float(cb.subsidy[0]), "net_capex_eur": float(cb.net_capex[0]),
                          "opex_eur_yr": float(cb.opex_yr[0]), "npv_eur": float(cb.npv[0]),
                          "eac_eur_yr": float(cb.eac[0]), "horizon_yr": cb.horizon_yr,
                          "unquantified": ", ".join(cb.unquantified)})
    progress("scenario", 1, 3)
    pairs = scenario_on_context(ctx, new.astype(np.float32), modules)
    progress("scenario", 2, 3)
    inner = (slice(outw[0] - R0, outw[1] - R0), slice(outw[2] - C0, outw[3] - C0))
    out_grid = grid.window(outw[0], outw[2], outw[1] - outw[0], outw[3] - outw[2])
    changed = (np.abs(np.nan_to_num(new - fr)).sum(axis=0) > 1e-9)[inner]
    deltas: dict[str, np.ndarray] = {}
    rows = []
    for name, (b, a) in pairs.items():
        d = (a - b)[inner]
        deltas[name] = d.astype(np.float32)
        bi, ai = b[inner], a[inner]
        sel = changed & np.isfinite(bi) & np.isfinite(ai)
        rows.append({"indicator": name, "mean_before_changed": float(np.mean(bi[sel])) if sel.any() else np.nan,
                     "mean_after_changed": float(np.mean(ai[sel])) if sel.any() else np.nan,
                     "sum_change_window": float(np.nansum(d)),
                     "cells_changed": int((np.abs(np.nan_to_num(d)) > 1e-9).sum()),
                     "max_abs_change": float(np.nanmax(np.abs(d))) if np.isfinite(d).any() else 0.0})
    totals = pd.DataFrame(rows)
    # land cover converted
    lc_rows = []
    for i, c in enumerate(legend.classes):
        dha = float(np.nansum((new[i] - fr[i])[inner]) * grid.cell_area / 1e4)
        if abs(dha) > 1e-9:
            lc_rows.append({"class": c.key, "name_en": c.name_en, "name_nl": c.name_nl, "change_ha": dha})
    landcover = pd.DataFrame(lc_rows, columns=["class", "name_en", "name_nl", "change_ha"])
    # per unit: the change of the unit mean = sum over the window of change x coverage / unit weight
    unit_tables: dict[str, pd.DataFrame] = {}
    for level, ug in units.items():
        cov = UnitCoverage(ug[["code", "geometry"]], out_grid)
        if not cov.index:
            continue
        idx = sorted(set(cov.index))
        tab = pd.DataFrame({"code": ug["code"].iloc[idx].to_numpy()})
        if "name" in ug.columns:
            tab["name"] = ug["name"].iloc[idx].to_numpy()
        for name, d in deltas.items():
            st = UnitStats(len(ug), ("sum",))
            st.add(cov, d)
            dsum = st.result("sum")[idx]
            w_all = (ug.geometry.area.to_numpy()[idx] / grid.cell_area)  # unit weight in cells
            col = f"{name}_mean"
            if col in ug.columns:
                before = ug[col].to_numpy(dtype=float)[idx]
                tab[f"{name}_before"] = before
                tab[f"{name}_after"] = before + dsum / w_all
            tab[f"{name}_change"] = dsum / w_all
        unit_tables[level] = tab
    costs = pd.DataFrame(cost_rows)
    res = ScenarioResult(None, outw, totals, unit_tables, costs, landcover, notes, deltas)
    if networks:
        progress("guide-species networks", 0, 1)
        res.guide_species = _networks(inp, files, grid, legend, changes, measures, apply_transitions)
        progress("guide-species networks", 1, 1)
    if out_dir is not None:
        res.out_dir = _write(Path(out_dir), overwrite, res, out_grid, changes, new[:, inner[0], inner[1]], legend, grid,
                             run_dir)
    progress("scenario", 3, 3)
    return res


def _networks(inp: StageInputs, files: RasterFiles, grid: Grid, legend: Legend, changes: Sequence[Change],
              measures: Sequence[Any], apply_transitions: Callable) -> pd.DataFrame:
    """Guide-species suitability and networks on the whole grid, before and after the changes."""
    from ..potential.compute import guide_species_table, run_modules, with_landcover

    ctx = _window_context(inp, files, 0, grid.height, 0, grid.width, margin_m=0.0)
    fr = np.asarray(ctx.fractions, dtype=np.float32)
    new = fr
    for ch, m in zip(changes, measures, strict=True):
        part = ch.applied(grid, 0, grid.height, 0, grid.width)
        part[~np.isfinite(fr).any(axis=0)] = 0.0
        new = apply_transitions(m, new, legend, part)
    names = ("heat", "drought", "disturbance", "guide_species")  # the pressures guide species use, then them
    arrays = {}
    for key, f in (("before", fr), ("after", new)):
        c = with_landcover(ctx, f.astype(np.float32))
        res = run_modules(c, names).get("guide_species", [])
        arrays[key] = {r.name: r.array for r in res}
    tab = guide_species_table(ctx, arrays["before"], arrays["after"])
    return tab.rename(columns=lambda c: c.replace("current_", "before_").replace("potential_", "after_"))


def _write(out: Path, overwrite: bool, res: ScenarioResult, out_grid: Grid, changes: Sequence[Change],
           new_fr: np.ndarray, legend: Legend, grid: Grid, run_dir: Path) -> Path:
    from ..indicator_stage import dominant_of

    with RunFolder(out, overwrite=overwrite) as run:
        run.set_grid(out_grid)
        for name, d in res.deltas.items():
            m = float(np.nanmax(np.abs(d))) if np.isfinite(d).any() else 0.0
            m = m if m > 0 else 1.0
            stops = [(-m, "#b2182b"), (-m / 2, "#ef8a62"), (0.0, "#f7f7f7"), (m / 2, "#67a9cf"), (m, "#2166ac")]
            run.write_raster(f"change_{name}", d, out_grid, units="change (after - before)",
                             description=f"Change of {name} by the scenario (after minus before)", nodata=float("nan"),
                             qml=qml.raster_pseudocolor(-m, m, stops, label_unit=""))
        dom = dominant_of(new_fr, legend)
        run.write_raster("scenario_landcover", dom, out_grid, units="class code", nodata=255,
                         description="Dominant land-cover class after the scenario",
                         colormap=legend.colormap(), qml=qml.raster_paletted(
                             [(c.code, f"{c.name_en} / {c.name_nl}", c.colour) for c in legend.classes]))
        gdf = gpd.GeoDataFrame({"measure": [c.measure for c in changes], "part": [c.part for c in changes]},
                               geometry=[c.geometry if c.geometry is not None else _cells_outline(c, grid)
                                         for c in changes], crs=grid.crs)
        run.write_vector("scenario_changes", gdf, units=None, description="Where which measure is applied")
        run.write_table("scenario_totals", res.totals, description="Change per indicator (changed cells and window)")
        run.write_table("scenario_costs", res.costs, description="Costs per change (EUR; catalogue numbers)")
        run.write_table("scenario_landcover_change", res.landcover, description="Converted land cover (ha)")
        if res.guide_species is not None:
            run.write_table("scenario_guide_species", res.guide_species,
                            description="Per guide species: suitable and key-network area (ha) before, after, change")
        for level, tab in res.units.items():
            run.write_table(f"scenario_units_{level}", tab, description=f"Indicator means per {level}: before, after, change")
        for n in res.notes:
            run.add_warning(n)
        run.set_info("base_run", str(run_dir))
        run.set_info("window", {"rows": res.window[:2], "cols": res.window[2:]})
    return out
