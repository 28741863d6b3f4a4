"""The opportunity map (kansenkaart): where which measure fits, what it gains, and the plan candidates.

:func:`measure_layers` gives, per measure of the catalogue and per cell, whether it fits (its ``fits`` rule on
:func:`~biostress.opportunity.variables.rule_variables`, evaluated with ``missing="false"``, and only inside the
area, and only where one application has units above 0 to place: a measure counted per ha of some classes does
not fit a cell without them) and, where it fits, the gains and costs of :mod:`biostress.opportunity.gain`:

========== ===================================================================== ===========================
layer      meaning                                                               units
========== ===================================================================== ===========================
fits       the measure fits in the cell                                          bool
units      units of the measure for one application in the cell                 the measure's unit
area_m2    land cover the measure converts (0 for measures without transitions)  m2
gain_bio   habitat gain ``g_bio`` (proxy ``g_proxy`` without transitions)       m2 habitat-equivalent
cooling    change of cooling capacity times area                                 m2 x CC
water_m3   water held for the design storm                                       m3
gain       combined ``g_bio + w_c cooling + w_w water``                         m2 habitat-equivalent
cost_npv   net present cost (-NPV over the finance horizon; < 0 = net income)    EUR
capex      gross investment                                                       EUR
eac        equivalent annual cost                                                 EUR/yr
========== ===================================================================== ===========================

All but ``fits`` are NaN where the measure does not fit (and outside the area).

:func:`compute` (an indicator-style ``compute(ctx)``) returns ``opportunity_gain`` (the combined gain of the
best measure of each cell: the fitting measure with the largest combined gain, the first in catalogue order on
ties; 0 where no measure fits), ``opportunity_best_measure`` (categorical: 1..n = that measure's position in
the list of measures considered, 0 = none fits), ``opportunity_count`` (number of measures that fit) and the
table ``opportunity_measures`` (per measure: cells where it fits, converted area, total gains, costs, gain per
EUR). The table sums over the context's window.

:func:`plan_candidates` turns the layers into the candidate table of :func:`biostress.plans.optimize.solve`.

Everything is computed in memory (dask inputs are computed first).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputDataError
from ..grid import Grid
from ..indicators.base import IndicatorContext, IndicatorResult
from ..measures.catalogue import Catalogue, Measure, converted_area_m2, load_catalogue, units_per_cell
from ..measures.rules import Rule, evaluate
from .gain import (
    GainParams,
    combined_gain,
    cooling_gain,
    habitat_gain,
    known_cover,
    load_gain_params,
    measure_cost,
    proxy_gain,
    runoff_volume,
    water_gain,
)
from .variables import RuleVariables, rule_variables, unknown_notes

__all__ = [
    "iter_measure_layers",
    "LAYERS",
    "NONE_COLOUR",
    "compute",
    "measure_colours",
    "measure_layers",
    "plan_candidates",
]

#: the per-measure layers of :func:`measure_layers`
LAYERS = ("fits", "units", "area_m2", "gain_bio", "cooling", "water_m3", "gain", "cost_npv", "capex", "eac")
#: layers that :func:`plan_candidates` sums per block (``fits`` is counted)
_SUMMED = ("cost_npv", "capex", "eac", "gain_bio", "cooling", "water_m3", "area_m2", "gain")
NONE_COLOUR = "#f0f0f0"
#: Kelly's (1965) colours of maximum contrast, without white and black
_KELLY = ("#f3c300", "#875692", "#f38400", "#a1caf1", "#be0032", "#c2b280", "#848482", "#008856", "#e68fac",
          "#0067a5", "#f99379", "#604e97", "#f6a600", "#b3446c", "#dcd300", "#882d17", "#8db600", "#654522",
          "#e25822", "#2b3d26")


def measure_colours(n: int) -> list[str]:
    """``n`` distinct colours (#rrggbb): Kelly's 20 colours of maximum contrast, then golden-angle hues at
    alternating lightness. Never :data:`NONE_COLOUR`."""
    out: list[str] = []
    seen = {NONE_COLOUR}
    for c in _KELLY:
        if len(out) == n:
            return out
        out.append(c)
        seen.add(c)
    i = 0
    while len(out) < n:
        h = (i * 0.618033988749895) % 1.0
        light = (0.35, 0.55, 0.45)[i % 3]
        r, g, b = colorsys.hls_to_rgb(h, light, 0.75)
        c = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
        if c not in seen:
            out.append(c)
            seen.add(c)
        i += 1
    return out


def _np(a: Any) -> np.ndarray:
    return np.asarray(a.compute() if hasattr(a, "compute") else a)


def _choose(catalogue: Catalogue, measures: Iterable[str] | None) -> list[Measure]:
    if measures is None:
        return list(catalogue.measures)
    ids = list(measures)
    if not ids:
        raise ConfigError("No measures chosen for the opportunity map.", hint="Leave 'measures' out to use all.")
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ConfigError(f"Measure(s) {dup} are listed twice.", hint="List every measure id once.")
    return [catalogue.get(i) for i in ids]  # ConfigError naming the known ids


def _check_ctx(ctx: IndicatorContext) -> np.ndarray:
    fr = _np(ctx.fractions)
    if fr.ndim != 3 or fr.shape[0] != len(ctx.legend.classes) or tuple(fr.shape[1:]) != ctx.grid.shape:
        raise InputDataError(f"The land-cover fractions have shape {tuple(fr.shape)}; expected "
                             f"({len(ctx.legend.classes)}, {ctx.grid.height}, {ctx.grid.width}).")
    return fr


class _Run:
    """What all measures of one context share: fractions, rule variables, parameters, runoff before."""

    def __init__(self, ctx: IndicatorContext, params: GainParams | None, variables: RuleVariables | None,
                 regions: Sequence[str], on: date | None) -> None:
        self.ctx = ctx
        self.fr = _check_ctx(ctx)
        self.params = params if params is not None else load_gain_params(ctx.params_dir, ctx.legend)
        self.variables = variables if variables is not None else rule_variables(ctx)
        self.regions, self.on = tuple(regions), on
        self.known = known_cover(self.fr)
        self.inside = np.nan_to_num(self.known) > 0
        self.cell = ctx.grid.cell
        self.area = ctx.grid.cell_area
        names = set(ctx.rasters.keys()) if ctx.rasters else set()
        soil = next((n for n in ("soil_group", "hsg") if n in names), None)  # as the flooding indicator
        self.soil = None if soil is None else _np(ctx.rasters[soil])
        if self.soil is not None and self.soil.shape != ctx.grid.shape:
            raise InputDataError(f"The '{soil}' raster has shape {self.soil.shape}, the grid {ctx.grid.shape}.")
        self._before: np.ndarray | None = None
        self.missing_by_measure: dict[str, tuple[str, ...]] = {}
        self.unquantified: dict[str, list[str]] = {}

    def before(self) -> np.ndarray:
        if self._before is None:
            self._before = runoff_volume(self.fr, self.ctx.legend, self.params.flooding, self.cell, self.soil)
        return self._before

    def layers(self, m: Measure) -> dict[str, np.ndarray]:
        legend, p = self.ctx.legend, self.params
        e = evaluate(Rule.parse(m.fits.rule), self.variables, missing="false")
        self.missing_by_measure[m.id] = e.missing
        fits = _np(e.value).astype(bool) & self.inside
        units = np.asarray(units_per_cell(m, self.fr, legend, self.area), float) if fits.any() else None
        if units is not None:  # and where one application has something to place: no hedgehog passage without gardens
            fits &= ~(np.nan_to_num(units, nan=1.0) <= 0)
        nan = np.full(fits.shape, np.nan)
        out: dict[str, np.ndarray] = {"fits": fits}
        if not fits.any():
            out.update({k: nan.copy() for k in LAYERS[1:]})
            return out
        units = np.where(fits, units, np.nan)
        area = converted_area_m2(m, self.fr, legend, self.area) if m.transitions else np.zeros(fits.shape)
        g = habitat_gain(m, self.fr, legend, p.habitat, self.area, self.known) if m.transitions \
            else proxy_gain(m, self.fr, legend, p.weights, self.area, self.known)
        cool = cooling_gain(m, self.fr, legend, p.cooling_capacity, self.area, self.known)
        needs_runoff = m.transitions and not np.isfinite(m.number("water_storage_l"))
        water = water_gain(m, self.fr, legend, p.flooding, self.cell, units, self.soil,
                           before=self.before() if needs_runoff else None, known=self.known)
        cost = measure_cost(m, units, p.finance, self.regions, self.on)
        self.unquantified[m.id] = cost.unquantified
        out.update({"units": units, "area_m2": area, "gain_bio": g, "cooling": cool, "water_m3": water,
                    "cost_npv": cost.cost_npv, "capex": cost.capex, "eac": cost.eac})
        for k in LAYERS[1:]:
            if k != "gain" and k in out:
                out[k] = np.where(fits, np.asarray(out[k], dtype=np.float64), np.nan)
        out["gain"] = combined_gain(out["gain_bio"], out["cooling"], out["water_m3"], p.weights)
        return {k: out[k] for k in LAYERS}


def _iter_layers(run: _Run, chosen: Sequence[Measure]) -> Iterator[tuple[Measure, dict[str, np.ndarray]]]:
    for m in chosen:
        yield m, run.layers(m)


def iter_measure_layers(ctx: IndicatorContext, catalogue: Catalogue | None = None,
                        measures: Iterable[str] | None = None, *, params: GainParams | None = None,
                        variables: RuleVariables | None = None, regions: Sequence[str] = ("NL",),
                        on: date | None = None) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """:func:`measure_layers` one measure at a time (``(id, layers)``), so only one measure's layers are held:
    the rule variables and the runoff before are computed once for all."""
    cat = catalogue if catalogue is not None else load_catalogue(params_dir=ctx.params_dir, legend=ctx.legend)
    run = _Run(ctx, params, variables, regions, on)
    for m, lay in _iter_layers(run, _choose(cat, measures)):
        yield m.id, lay


def measure_layers(ctx: IndicatorContext, catalogue: Catalogue | None = None, measures: Iterable[str] | None = None,
                   *, params: GainParams | None = None, variables: RuleVariables | None = None,
                   regions: Sequence[str] = ("NL",), on: date | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Per measure id (catalogue order, or the order of ``measures``) the layers of :data:`LAYERS` on ctx's
    grid (see the module docstring). ``catalogue`` defaults to the area's or built-in catalogue; ``params`` and
    ``variables`` to :func:`~biostress.opportunity.gain.load_gain_params` and
    :func:`~biostress.opportunity.variables.rule_variables`; ``regions`` / ``on`` choose the subsidies
    (:func:`biostress.measures.finance.select_subsidies`; ``()`` for none). float64 arrays: mind the memory
    (10 layers per measure) and pass ``measures`` for large windows."""
    cat = catalogue if catalogue is not None else load_catalogue(params_dir=ctx.params_dir, legend=ctx.legend)
    run = _Run(ctx, params, variables, regions, on)
    return {m.id: lay for m, lay in _iter_layers(run, _choose(cat, measures))}


def _table_row(m: Measure, lay: Mapping[str, np.ndarray], missing: Sequence[str], unquantified: Sequence[str],
               proxy: bool) -> dict[str, Any]:
    f = lay["fits"]

    def total(k: str) -> float:
        v = lay[k][f]
        return float(v.sum()) if v.size else 0.0  # NaN stays NaN (e.g. unknown capex)

    cost = total("cost_npv")
    g_bio, g = total("gain_bio"), total("gain")

    def per(x: float) -> float:
        return x / cost if cost > 0 else math.nan

    return {"measure": m.id, "name_en": m.name_en, "name_nl": m.name_nl, "setting": m.setting, "unit": m.unit,
            "cells_fit": int(f.sum()), "converted_area_ha": total("area_m2") / 1e4, "units": total("units"),
            "gain_bio_m2": g_bio, "gain_is_proxy": proxy, "cooling_m2cc": total("cooling"),
            "water_m3": total("water_m3"), "gain_combined_m2": g, "cost_npv_eur": cost,
            "capex_eur": total("capex"), "eac_eur_yr": total("eac"), "gain_bio_per_eur": per(g_bio),
            "gain_combined_per_eur": per(g), "unknown_variables": ";".join(missing),
            "unquantified": ";".join(unquantified)}


def compute(ctx: IndicatorContext, catalogue: Catalogue | None = None, measures: Iterable[str] | None = None, *,
            regions: Sequence[str] = ("NL",), on: date | None = None, per_measure: bool = False) -> list[IndicatorResult]:
    """``opportunity_gain``, ``opportunity_best_measure`` and ``opportunity_count`` with the table
    ``opportunity_measures`` (see the module docstring); with ``per_measure`` also
    ``opportunity_<measure id>``: the combined gain of that measure where it fits (NaN elsewhere)."""
    cat = catalogue if catalogue is not None else load_catalogue(params_dir=ctx.params_dir, legend=ctx.legend)
    chosen = _choose(cat, measures)
    run = _Run(ctx, None, None, regions, on)
    w = run.params.weights
    shape = ctx.grid.shape
    best_gain = np.full(shape, -np.inf)
    best = np.zeros(shape, dtype=np.int32)
    count = np.zeros(shape, dtype=np.int32)
    rows = []
    per: list[IndicatorResult] = []
    for i, (m, lay) in enumerate(_iter_layers(run, chosen), start=1):
        f = lay["fits"]
        count += f
        g = np.where(f & np.isfinite(lay["gain"]), lay["gain"], -np.inf)
        better = g > best_gain
        best = np.where(better, i, best)
        best_gain = np.where(better, g, best_gain)
        rows.append(_table_row(m, lay, run.missing_by_measure.get(m.id, ()), run.unquantified.get(m.id, []),
                               proxy=not m.transitions))
        if per_measure:
            per.append(IndicatorResult(
                name=f"opportunity_{m.id}", array=np.where(f, lay["gain"], np.nan).astype(np.float32),
                units="m2 habitat-equivalent per cell",
                description=f"Combined gain of '{m.name_en}' where its rule fits (NaN where it does not)",
                title_en=f"Opportunity: {m.name_en}", title_nl=f"Kans: {m.name_nl}", palette="good_high", vmin=0.0,
                summarise=("sum",), proxy=not m.transitions))
    inside = run.inside
    gain = np.where(inside, np.where(np.isfinite(best_gain), best_gain, 0.0), np.nan).astype(np.float32)
    best_map = np.where(inside, best, np.nan).astype(np.float32)
    count_map = np.where(inside, count, np.nan).astype(np.float32)
    table = pd.DataFrame(rows)

    needed: dict[str, list[str]] = {}
    for mid, miss in run.missing_by_measure.items():
        for v in miss:
            needed.setdefault(v, []).append(mid)
    notes = [
        f"Combined gain = g_bio + {w.cooling:g} x cooling + {w.water:g} x water (opportunity_weights.csv, ev "
        f"{_ev(run.params, 'cooling_weight')}/{_ev(run.params, 'water_weight')}): g_bio = cell area x sum of "
        "converted shares x (H_to - H_from) with the InVEST habitat suitability H (habitat_quality_sensitivity.csv); "
        "cooling = converted area x change of the InVEST UCM cooling capacity; water = the measure's storage or "
        "the drop in SCS runoff of the design storm. Best measure = the fitting measure with the largest combined "
        "gain; one application per cell.",
        "Measures that do not change the land cover (boxes, passages, lighting, crossings) get a proxy habitat gain "
        "from the number of guide species they serve and their stressor relief (ev P): see gain_is_proxy.",
        *unknown_notes(run.variables.missing, needed),
        *run.variables.notes,
    ]
    unq = sorted({m for m, u in run.unquantified.items() if "capex_eur" in u})
    if unq:
        notes.append(f"cost unknown (no capex in the catalogue): {', '.join(unq)}")
    tables = {"opportunity_measures": table, "opportunity_parameters": run.params.provenance}
    colours = measure_colours(len(chosen))
    cats = [(0, "no measure fits / geen maatregel past", NONE_COLOUR)] + [
        (i, f"{m.name_en} / {m.name_nl}", colours[i - 1]) for i, m in enumerate(chosen, start=1)]
    return [
        IndicatorResult(
            name="opportunity_gain", array=gain, units="m2 habitat-equivalent per cell",
            description="Combined gain of the best-fitting measure: habitat gain (InVEST habitat suitability x "
                        "converted area) plus weighted cooling and water co-benefits; 0 where no measure fits",
            title_en="Opportunities: expected gain", title_nl="Kansen: verwachte winst", palette="good_high",
            vmin=0.0, summarise=("sum", "mean"), tables=tables, notes=notes, proxy=True),
        IndicatorResult(
            name="opportunity_best_measure", array=best_map, units="category",
            description="The measure with the largest combined gain among those that fit (0 = none fits)",
            title_en="Opportunities: best measure", title_nl="Kansen: beste maatregel", palette="categorical",
            categories=cats, summarise=("majority",)),
        IndicatorResult(
            name="opportunity_count", array=count_map, units="measures",
            description="Number of measures of the catalogue whose rule fits the cell",
            title_en="Opportunities: number of fitting measures", title_nl="Kansen: aantal passende maatregelen",
            palette="good_high", vmin=0.0, vmax=float(len(chosen)), summarise=("mean", "max")),
    ] + per


def _ev(params: GainParams, item: str) -> str:
    p = params.weights.provenance
    hit = p[p["item"] == item] if len(p) else p
    return str(hit["ev"].iloc[0]) if len(hit) else "?"


# --------------------------------------------------------------------------------------------
# plan candidates
# --------------------------------------------------------------------------------------------

def _block_sum(a: np.ndarray, b: int) -> np.ndarray:
    h, w = a.shape
    nr, nc = -(-h // b), -(-w // b)
    p = np.zeros((nr * b, nc * b), dtype=np.float64)
    p[:h, :w] = a
    return p.reshape(nr, b, nc, b).sum(axis=(1, 3))


def _block_max(a: np.ndarray, b: int) -> np.ndarray:
    h, w = a.shape
    nr, nc = -(-h // b), -(-w // b)
    p = np.full((nr * b, nc * b), -np.inf)
    p[:h, :w] = a
    return p.reshape(nr, b, nc, b).max(axis=(1, 3))


def plan_candidates(layers: Mapping[str, Mapping[str, Any]], grid: Grid, block_cells: int = 10, *,
                    catalogue: Catalogue | None = None) -> pd.DataFrame:
    """The candidate options of the plan optimiser from :func:`measure_layers`.

    The grid is cut into blocks of ``block_cells`` x ``block_cells`` cells (a *site*; 100 m x 100 m at 10 m
    cells; blocks at the right and bottom edges may be smaller). **One option = applying the measure in every
    cell of the block where it fits**: its values are the sums over those cells. Columns: ``site`` (block id
    ``block_row * n_block_cols + block_col``), ``measure``, ``cost`` (net present cost, EUR, floored at 0 as
    the optimiser needs), ``cost_npv`` (the same, not floored; < 0 = net income), ``capex`` (EUR), ``eac``
    (EUR/yr), ``gain`` (habitat gain g_bio, m2 habitat-equivalent), ``cooling`` (m2 x CC), ``water_m3``,
    ``gain_combined``, ``area_m2`` (converted land cover), ``units`` (the measure's quantity in its catalogue
    unit; when the layers have ``units``), ``cells`` (fitting cells), ``x``, ``y`` (centre of the block's
    cells, grid CRS), ``block_row``, ``block_col``.

    With ``catalogue``, measures with quantity basis ``site`` (crossings) count one application per block
    (the cost of the block's costliest cell), not one per fitting cell.

    Options the optimiser cannot take are left out and counted in ``df.attrs["dropped"]`` (measure -> number):
    unknown cost (no capex) or gain (NaN), and a negative habitat gain (the measure loses habitat there).
    """
    if not isinstance(block_cells, int | np.integer) or isinstance(block_cells, bool) or block_cells < 1:
        raise ConfigError(f"block_cells must be a whole number of cells >= 1, got {block_cells!r}.",
                          hint="E.g. 10 for 100 m blocks at 10 m cells.")
    b = int(block_cells)
    h, w = grid.shape
    nr, nc = -(-h // b), -(-w // b)
    r0 = np.arange(nr) * b
    c0 = np.arange(nc) * b
    xs = grid.x0 + (c0 + np.minimum(c0 + b, w)) / 2.0 * grid.cell
    ys = grid.y1 - (r0 + np.minimum(r0 + b, h)) / 2.0 * grid.cell
    site_basis = {m.id for m in catalogue.measures if m.quantity.basis == "site"} if catalogue is not None else set()
    frames = []
    dropped: dict[str, int] = {}
    for mid, lay in layers.items():
        missing = [k for k in ("fits", *_SUMMED) if k not in lay]
        if missing:
            raise InputDataError(f"The layers of measure {mid!r} lack {missing}.",
                                 hint="Pass the output of biostress.opportunity.measure_layers.")
        fits = np.asarray(lay["fits"])
        if fits.shape != (h, w):
            raise InputDataError(f"The layers of measure {mid!r} have shape {fits.shape}, the grid {(h, w)}.")
        fits = fits.astype(bool)
        cells = _block_sum(fits.astype(np.float64), b)
        rr, cc = np.nonzero(cells > 0)
        if rr.size == 0:
            continue
        cols: dict[str, np.ndarray] = {}
        for k in _SUMMED:
            a = np.asarray(lay[k], dtype=np.float64)
            if a.shape != (h, w):
                raise InputDataError(f"Layer {k!r} of measure {mid!r} has shape {a.shape}, the grid {(h, w)}.")
            if mid in site_basis and k in ("cost_npv", "capex", "eac"):
                s = _block_max(np.where(fits, a, -np.inf), b)
                s = np.where(_block_sum(np.where(fits, np.isnan(a), False).astype(np.float64), b) > 0, np.nan, s)
            else:
                s = _block_sum(np.where(fits, a, 0.0), b)  # NaN in a fitting cell stays NaN
            cols[k] = s[rr, cc]
        units = None
        if "units" in lay:  # the measure's quantity in the block (units of the catalogue)
            u = np.asarray(lay["units"], dtype=np.float64)
            s = _block_max(np.where(fits, u, -np.inf), b) if mid in site_basis else _block_sum(np.where(fits, u, 0.0), b)
            units = s[rr, cc]
        df = pd.DataFrame({
            "site": (rr * nc + cc).astype(np.int64), "measure": mid,
            "cost": np.maximum(cols["cost_npv"], 0.0), "cost_npv": cols["cost_npv"], "capex": cols["capex"],
            "eac": cols["eac"], "gain": cols["gain_bio"], "cooling": cols["cooling"], "water_m3": cols["water_m3"],
            "gain_combined": cols["gain"], "area_m2": cols["area_m2"], "cells": cells[rr, cc].astype(np.int64),
            "x": xs[cc], "y": ys[rr], "block_row": rr.astype(np.int64), "block_col": cc.astype(np.int64)})
        if units is not None:
            df.insert(df.columns.get_loc("area_m2") + 1, "units", units)
        bad = ~np.isfinite(df["cost_npv"]) | ~np.isfinite(df["gain"]) | (df["gain"] < 0)
        for k in ("cooling", "water_m3"):
            bad |= ~np.isfinite(df[k])
        if bad.any():
            dropped[mid] = int(bad.sum())
            df = df[~bad]
        frames.append(df)
    cols_order = ["site", "measure", "cost", "cost_npv", "capex", "eac", "gain", "cooling", "water_m3",
                  "gain_combined", "area_m2", "cells", "x", "y", "block_row", "block_col"]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols_order)
    if "units" in out.columns:
        cols_order.insert(cols_order.index("area_m2") + 1, "units")
    out = out[cols_order].reset_index(drop=True)
    out.attrs["dropped"] = dropped
    out.attrs["block_cells"] = b
    return out
