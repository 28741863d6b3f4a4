"""Plans for a run: candidates from the opportunity layers, the optimiser, and the plan's outputs.

1. **Candidates** (:func:`candidates`): the grid is cut into blocks (sites) of ``block_cells`` x
   ``block_cells`` cells (100 m x 100 m at 10 m cells). One option = one measure applied in every
   cell of a block where its rule fits (:func:`biostress.opportunity.plan_candidates`), with its net
   present cost, habitat gain and co-benefits. The grid is processed tile by tile (tiles are whole
   blocks, read with a halo of the rules' reach), one measure at a time, so memory stays bounded.
2. **Choice** (:func:`make_plan`): :func:`biostress.plans.solve` maximises the gain (plus weighted
   co-benefits) within the budget, at most one measure per block, or reaches targets at least cost.
3. **Outputs** (:func:`plan_blocks`, :func:`write_plan`): the chosen blocks as polygons with their
   measure, cost and gains (GeoPackage layer ``plan_measures``), a summary per measure and the
   plan's totals.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import ConfigError, InputDataError
from .grid import Grid
from .indicator_stage import (
    LAYER_MARGIN_M,
    RasterFiles,
    StageInputs,
    _window_context,
    module_reach,
    tile_windows,
)

Progress = Callable[[str, int, int], None]


def _noop(step: str, done: int, total: int) -> None:
    pass


@dataclass
class Plan:
    result: Any  # biostress.plans.PlanResult
    candidates: pd.DataFrame
    blocks: gpd.GeoDataFrame  # the chosen options as block polygons
    by_measure: pd.DataFrame
    block_cells: int
    budget: float | None
    notes: list[str] = field(default_factory=list)


def candidates(inp: StageInputs, files: RasterFiles, *, block_cells: int = 10, measures: Sequence[str] | None = None,
               tile_cells: int = 2048, progress: Progress = _noop) -> pd.DataFrame:
    """Plan options for the whole grid (see the module docstring); ``files`` must hold the run's
    indicator rasters (the rules read some of them)."""
    from .measures import load_catalogue
    from .opportunity import measure_layers, plan_candidates
    from .opportunity.variables import rule_variables

    if block_cells < 1:
        raise ConfigError(f"block_cells must be >= 1, got {block_cells}.")
    grid = inp.grid
    cat = load_catalogue(params_dir=inp.params_dir, legend=inp.legend)
    chosen = [m.id for m in cat.measures] if measures is None else list(measures)
    unknown = [m for m in chosen if m not in {x.id for x in cat.measures}]
    if unknown:
        raise ConfigError(f"Unknown measure(s) {unknown}.", hint="See docs/measures.md for the catalogue ids.")
    tile = max(block_cells, (max(tile_cells, block_cells) // block_cells) * block_cells)
    halo = int(math.ceil((module_reach("opportunity", inp.params_dir, False) or 0.0) / grid.cell)) + 2
    nc_global = -(-grid.width // block_cells)
    h, w = grid.shape
    frames = []
    dropped: dict[str, int] = {}
    wins = tile_windows(grid.shape, tile)
    for k, (r0, r1, c0, c1) in enumerate(wins):
        progress("plan candidates", k, len(wins))
        R0, R1, C0, C1 = max(0, r0 - halo), min(h, r1 + halo), max(0, c0 - halo), min(w, c1 + halo)
        ctx = _window_context(inp, files, R0, R1, C0, C1, margin_m=LAYER_MARGIN_M)
        if not np.any(np.asarray(ctx.dominant) != 255):
            continue
        variables = rule_variables(ctx)
        inner = (slice(r0 - R0, r1 - R0), slice(c0 - C0, c1 - C0))
        sub = grid.window(r0, c0, r1 - r0, c1 - c0)
        for mid in chosen:
            lay = measure_layers(ctx, cat, [mid], variables=variables)[mid]
            lay = {key: np.asarray(a)[inner] for key, a in lay.items()}
            df = plan_candidates({mid: lay}, sub, block_cells, catalogue=cat)
            for m, n in df.attrs.get("dropped", {}).items():
                dropped[m] = dropped.get(m, 0) + n
            if df.empty:
                continue
            df["block_row"] += r0 // block_cells
            df["block_col"] += c0 // block_cells
            df["site"] = df["block_row"] * nc_global + df["block_col"]
            frames.append(df)
    progress("plan candidates", len(wins), len(wins))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["site", "measure", "cost", "gain", "cooling", "water_m3", "area_m2", "x", "y", "block_row", "block_col"])
    out.attrs["dropped"] = dropped
    out.attrs["block_cells"] = block_cells
    return out


def make_plan(cands: pd.DataFrame, grid: Grid, *, budget: float | None = None, weights: Mapping[str, float] | None = None,
              targets: Mapping[str, float] | None = None, method: str = "auto",
              time_limit: float | None = 120.0) -> Plan:
    """Choose the options (:func:`biostress.plans.solve`) and describe the plan."""
    from .plans import solve

    if budget is None and not targets:
        raise ConfigError("A plan needs a budget (EUR) or targets to reach.",
                          hint="Give --budget, or --target column=value (e.g. gain=5000).")
    if budget is not None and not budget >= 0:
        raise ConfigError(f"The budget must be a non-negative amount in EUR, got {budget}.")
    block_cells = int(cands.attrs.get("block_cells", 10))
    notes: list[str] = []
    if cands.attrs.get("dropped"):
        notes.append("options left out (unknown cost or gain, or a loss of habitat): " + ", ".join(
            f"{m} {n}" for m, n in sorted(cands.attrs["dropped"].items())))
    if cands.empty:
        raise InputDataError("No measure fits anywhere in this area, so there is nothing to plan.",
                             hint="Check the measure rules (docs/measures.md) and the data they need.")
    opts = cands.drop(columns=["x", "y", "block_row", "block_col"], errors="ignore")
    sense = "max_benefit" if budget is not None else "min_cost"
    res = solve(opts, budget=budget, sense=sense, weights=weights, targets=targets, method=method,
                time_limit=time_limit)
    chosen = cands.loc[res.chosen.index] if len(res.chosen) else cands.iloc[:0]
    blocks = plan_blocks(chosen, grid, block_cells)
    by = (chosen.groupby("measure")[["cost", "capex", "eac", "gain", "cooling", "water_m3", "area_m2"]].sum()
          .assign(blocks=chosen.groupby("measure").size()) if len(chosen) else pd.DataFrame())
    return Plan(res, cands, blocks, by.reset_index() if len(by) else by, block_cells, budget, notes)


def plan_blocks(chosen: pd.DataFrame, grid: Grid, block_cells: int) -> gpd.GeoDataFrame:
    """The chosen options as block polygons (grid CRS)."""
    b = block_cells
    x0 = grid.x0 + chosen["block_col"].to_numpy() * b * grid.cell
    y1 = grid.y1 - chosen["block_row"].to_numpy() * b * grid.cell
    x1 = np.minimum(x0 + b * grid.cell, grid.x0 + grid.width * grid.cell)
    y0 = np.maximum(y1 - b * grid.cell, grid.y1 - grid.height * grid.cell)
    geoms = shapely.box(x0, y0, x1, y1) if len(chosen) else []
    cols = [c for c in ("site", "measure", "cost", "cost_npv", "capex", "eac", "gain", "cooling", "water_m3",
                        "area_m2", "units", "cells") if c in chosen.columns]
    return gpd.GeoDataFrame(chosen[cols].reset_index(drop=True), geometry=list(geoms), crs=grid.crs)


def summary_table(plan: Plan) -> pd.DataFrame:
    """One row per quantity: the plan's totals, status, bound and gap (for reports and downloads)."""
    r = plan.result
    rows = [("status", r.status), ("method", r.method), ("budget_eur", plan.budget),
            ("objective", r.objective), ("bound", r.bound), ("gap", r.gap), ("bound_method", r.bound_method),
            ("options_considered", len(plan.candidates)), ("options_chosen", len(plan.blocks)),
            ("block_m", plan.block_cells), ("seconds", r.time_s), ("message", r.message)]
    for k in ("cost", "capex", "eac", "gain", "cooling", "water_m3", "area_m2"):
        if k in r.totals:
            rows.append((f"total_{k}", r.totals[k]))
    return pd.DataFrame(rows, columns=["quantity", "value"]).astype({"value": str})


def write_plan(run, plan: Plan, grid: Grid, *, prefix: str = "plan") -> None:
    """Write the plan into a run folder (:class:`biostress.store.RunFolder`)."""
    from .store import qml

    run.write_vector(f"{prefix}_measures", plan.blocks, units="EUR, m2 habitat-equivalent, m3",
                     description="The plan: which measure in which block (cost = net present cost, EUR; gain = "
                                 "habitat gain in m2 habitat-equivalent; cooling; water_m3)",
                     qml=qml.vector_simple("#1a985088", "#00441b"))
    run.write_table(f"{prefix}_by_measure", plan.by_measure, description="The plan per measure: blocks, costs, gains")
    run.write_table(f"{prefix}_summary", summary_table(plan), description="The plan's totals, status and optimality gap")
    for n in plan.notes:
        run.add_warning(f"plan: {n}")
    if plan.result.message:
        run.add_warning(f"plan: {plan.result.message}")
    cell_m = grid.cell * plan.block_cells
    run.set_info("plan", {"status": plan.result.status, "budget_eur": plan.budget, "block_m": cell_m,
                          "gap": plan.result.gap, "options": len(plan.candidates), "chosen": len(plan.blocks)})
