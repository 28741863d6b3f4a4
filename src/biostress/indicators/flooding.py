"""Pluvial flooding: SCS curve-number runoff of a design storm, and depressions where water collects.

Runoff (USDA SCS/NRCS, *Urban Hydrology for Small Watersheds*, Technical Release 55, 2nd ed. 1986,
chapter 2, eqs. 2-1 to 2-4; written in millimetres)::

    S  = 25400 / CN - 254                     potential maximum retention (mm)
    Ia = lambda * S,  lambda = 0.2            initial abstraction (mm)
    Q  = (P - Ia)**2 / (P - Ia + S)   if P > Ia, else 0     direct runoff depth (mm)
    V  = Q / 1000 * A                         runoff volume of a cell (m3), A = known cover * cell area

``CN`` is the curve number (0 < CN <= 100) of the cell: the cover-weighted mean of the class CNs
(``data/params/flooding_curve_numbers.csv``, TR-55 tables 2-2a to 2-2c per hydrologic soil group
A-D), as TR-55 worksheet 2 weights CN by area. The soil group is the default of
``flooding_params.csv`` unless a ``soil_group`` raster (1-4 = A-D) is supplied; cells where that
raster has no valid value take the default. ``P`` is the design-storm depth (mm) of
``flooding_params.csv``. Runoff volumes are summed per area unit. The curve-number method was
developed for daily and storm totals on small catchments: for a 1-hour cloudburst it describes
how much of the rain does not soak in, not how fast it runs off; sewers and surface water are
not modelled.

Depressions (where a DEM is supplied as ``ctx.rasters['dem']``, m): the depth of water a
depression holds before it spills, ``fill depth = filled DEM - DEM`` (m), where the filled DEM
comes from the Priority-Flood algorithm (Barnes, Lehman & Mulla 2014, *Computers &
Geosciences* 62:117-127, Algorithm 2 with a plain queue for cells inside pits; 8-connected). The
grid edge and cells without elevation are outlets: water reaching them leaves the grid (AHN
height models have no data on water and under buildings). Filling is a global operation: it
runs in memory, also when the arrays are dask arrays. The depression volume per cell is
``fill depth * cell area`` (m3).
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputDataError
from ..landcover.legend import Legend
from .base import IndicatorContext, IndicatorResult, params_path
from .common import (
    check_fractions_shape,
    context_raster,
    finite_or_zero,
    is_dask,
    like,
    mask_outside,
    scalar,
    where,
    xp_of,
)
from .heat import class_weighted
from .tables import class_rows, parse_float, read_scalars, read_table

__all__ = [
    "CN_FILE",
    "FloodingParams",
    "PARAMS_FILE",
    "SOIL_GROUPS",
    "composite_curve_number",
    "compute",
    "depression_depth",
    "load_params",
    "potential_retention_mm",
    "priority_flood_fill",
    "runoff_volume_m3",
    "scs_runoff_mm",
]

CN_FILE = "flooding_curve_numbers.csv"
PARAMS_FILE = "flooding_params.csv"
SOIL_GROUPS = ("A", "B", "C", "D")
NO_DEM_NOTE = "no elevation data: depressions not computed"


@dataclass(frozen=True)
class FloodingParams:
    curve_numbers: dict[str, dict[str, float]]  # legend key -> {"cn_a": .., "cn_b": .., "cn_c": .., "cn_d": ..}
    design_storm_mm: float
    design_storm_duration_h: float
    ia_ratio: float
    default_soil_group: int  # 1-4 = A-D
    provenance: pd.DataFrame


_SCALARS = {
    "design_storm_mm": (0.0, 1000.0),
    "design_storm_duration_h": (0.01, 240.0),
    "initial_abstraction_ratio": (0.0, 1.0),
    "default_soil_group": (1.0, 4.0),
}


def load_params(params_dir: Path | str | None = None, legend: Legend | None = None) -> FloodingParams:
    """Read and validate ``flooding_params.csv`` and ``flooding_curve_numbers.csv`` (an area's own
    copies in ``params_dir`` replace the built-in ones)."""
    prov: list[dict] = []
    sp = params_path(PARAMS_FILE, params_dir)
    s = read_scalars(sp, _SCALARS, prov)
    if s["default_soil_group"] != int(s["default_soil_group"]):
        raise ConfigError(f"{sp}: default_soil_group must be 1, 2, 3 or 4 (A-D), got {s['default_soil_group']:g}.")
    cp = params_path(CN_FILE, params_dir)
    cols = [f"cn_{g.lower()}" for g in SOIL_GROUPS]
    df = read_table(cp, ["key", *cols, "ev", "source"])
    table: dict[str, dict[str, float]] = {}
    for line, key, r in class_rows(cp, df, legend):
        row = {}
        for c in cols:
            v = parse_float(cp, line, c, r[c], lo=1.0, hi=100.0)
            row[c] = float(v)  # type: ignore[arg-type]
        table[key] = row
        prov.append({"table": cp.name, "item": key, "value": " ".join(f"{c}={r[c]}" for c in cols), "units": "CN",
                     "ev": r["ev"].strip(), "source": r["source"], "note": r.get("note", "")})
    return FloodingParams(table, s["design_storm_mm"], s["design_storm_duration_h"], s["initial_abstraction_ratio"],
                          int(s["default_soil_group"]), pd.DataFrame(prov))


# --------------------------------------------------------------------------------------------
# runoff (pure functions, numpy or dask)
# --------------------------------------------------------------------------------------------

def potential_retention_mm(cn: Any) -> Any:
    """``S = 25400 / CN - 254`` (mm; TR-55 eq. 2-4 in SI units).

    >>> float(potential_retention_mm(100.0)), round(float(potential_retention_mm(50.0)), 6)
    (0.0, 254.0)
    """
    return 25400.0 / cn - 254.0


def scs_runoff_mm(p_mm: Any, cn: Any, ia_ratio: float = 0.2) -> Any:
    """SCS curve-number runoff depth ``Q`` (mm) for rainfall ``P`` (mm) and curve number ``CN``:
    ``Q = (P - Ia)**2 / (P - Ia + S)`` for ``P > Ia``, else 0, with ``Ia = ia_ratio * S``
    (TR-55 eqs. 2-1, 2-2, 2-4). NaN where CN is NaN.

    >>> round(float(scs_runoff_mm(6 * 25.4, 70.0)) / 25.4, 2)   # TR-55 table 2-1: 6 in, CN 70
    2.81
    """
    s = potential_retention_mm(cn)
    ia = ia_ratio * s
    excess = p_mm - ia
    pos = excess > 0
    safe = where(pos, excess + s, 1.0)
    return where(pos, excess * excess / safe, where(xp_of(cn).isfinite(cn), 0.0, np.nan))


def composite_curve_number(fractions: Any, legend: Legend, params: FloodingParams,
                           soil_group: Any = None) -> tuple[Any, Any, list[str]]:
    """Cover-weighted CN per cell for the cell's hydrologic soil group.

    Returns ``(cn, known, notes)``: CN (NaN where no cover has a CN), the known cover (0-1) and
    notes. ``soil_group`` (H, W) holds 1-4 (A-D); other values or NaN take the default group.
    """
    cols = [f"cn_{g.lower()}" for g in SOIL_GROUPS]
    cw = class_weighted(fractions, legend, params.curve_numbers, cols)
    notes: list[str] = []
    if cw.missing:
        notes.append(f"classes without a curve number in {CN_FILE} were treated as no data: {', '.join(cw.missing)}")
    default = params.default_soil_group
    if soil_group is None:
        cn = cw.values[cols[default - 1]]
        notes.append(f"no soil_group raster: hydrologic soil group {SOIL_GROUPS[default - 1]} assumed everywhere "
                     "(flooding_params.csv default_soil_group); supply a 'soil_group' raster (1-4 = A-D) to refine")
        return cn, cw.known, notes
    xp = xp_of(soil_group)
    g = soil_group.astype(np.float64)
    valid = (g == 1.0) | (g == 2.0) | (g == 3.0) | (g == 4.0)
    g = where(valid, g, float(default))
    cn = cw.values[cols[0]]
    for k in range(2, 5):
        cn = where(g == float(k), cw.values[cols[k - 1]], cn)
    n_bad = scalar(xp.sum(~valid & (cw.known > 1e-9)))
    if n_bad:
        notes.append(f"{int(n_bad)} cells have no valid soil group in the soil_group raster: group "
                     f"{SOIL_GROUPS[default - 1]} assumed there")
    return cn, cw.known, notes


def runoff_volume_m3(q_mm: Any, known: Any, cell: float) -> Any:
    """``V = Q / 1000 * known * cell**2`` (m3): runoff of the part of the cell with known cover."""
    return q_mm / 1000.0 * finite_or_zero(known) * (cell * cell)


# --------------------------------------------------------------------------------------------
# depressions: Priority-Flood (Barnes et al. 2014)
# --------------------------------------------------------------------------------------------

def priority_flood_fill(dem: Any) -> np.ndarray:
    """Depression-filled DEM by Priority-Flood (Barnes, Lehman & Mulla 2014, Algorithm 2).

    Cells on the grid edge or next to a cell without elevation (NaN) seed a priority queue; cells
    are then visited from the lowest outward (8 neighbours) and raised to the level of the cell
    they were reached from when lower (``Z(n) = max(Z(n), Z(c))``); raised cells go to a plain
    queue (Algorithm 2), the others to the priority queue. NaN cells stay NaN and act as outlets.
    Runs in memory (a dask input is computed).

    >>> float(priority_flood_fill(np.array([[3., 3, 3], [3, 1, 3], [3, 3, 3]]))[1, 1])
    3.0
    """
    z = np.asarray(dem.compute() if is_dask(dem) else dem, dtype=np.float64)
    if z.ndim != 2:
        raise InputDataError(f"The DEM must be 2-D, got shape {z.shape}.")
    h, w = z.shape
    W = w + 2
    zp = np.full((h + 2, W), np.nan)
    zp[1:-1, 1:-1] = z
    open_cell = np.isfinite(zp)
    # seeds: finite cells with a non-finite (edge padding or no-data) 8-neighbour
    nb_missing = np.zeros_like(open_cell)
    pad = np.pad(~open_cell, 1, constant_values=True)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                nb_missing |= pad[1 + dy:1 + dy + h + 2, 1 + dx:1 + dx + W]
    seeds = np.flatnonzero(open_cell & nb_missing)
    flat = zp.ravel().tolist()
    closed = bytearray((~open_cell).ravel().astype(np.uint8).tobytes())
    for i in seeds.tolist():
        closed[i] = 1
    heap = [(flat[i], i) for i in seeds.tolist()]
    heapq.heapify(heap)
    pit: deque[int] = deque()
    offsets = (-W - 1, -W, -W + 1, -1, 1, W - 1, W, W + 1)
    push, pop = heapq.heappush, heapq.heappop
    while heap or pit:
        if pit:
            c = pit.popleft()
            zc = flat[c]
        else:
            zc, c = pop(heap)
        for o in offsets:
            n = c + o
            if closed[n]:
                continue
            closed[n] = 1
            if flat[n] <= zc:
                flat[n] = zc
                pit.append(n)
            else:
                push(heap, (flat[n], n))
    return np.asarray(flat, dtype=np.float64).reshape(h + 2, W)[1:-1, 1:-1]


def depression_depth(dem: Any) -> Any:
    """Fill depth ``filled DEM - DEM`` (m, >= 0; NaN where the DEM is NaN), numpy or dask like ``dem``."""
    z = np.asarray(dem.compute() if is_dask(dem) else dem, dtype=np.float64)
    depth = priority_flood_fill(z) - z
    depth[np.isfinite(depth)] = np.maximum(depth[np.isfinite(depth)], 0.0)
    return like(dem, depth)


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

def compute(ctx: IndicatorContext) -> list[IndicatorResult]:
    """Runoff depth and volume of the design storm; depression depth and volume where a DEM exists."""
    params = load_params(ctx.params_dir, ctx.legend)
    check_fractions_shape(ctx)
    cell = ctx.grid.cell
    soil = context_raster(ctx, "soil_group", "hsg")
    cn, known, notes = composite_curve_number(ctx.fractions, ctx.legend, params, soil)
    p = params.design_storm_mm
    q = scs_runoff_mm(p, cn, params.ia_ratio)
    vol = runoff_volume_m3(q, known, cell)
    vol = where(xp_of(q).isfinite(q), vol, np.nan)
    storm = f"{p:g} mm in {params.design_storm_duration_h:g} h"
    ev_storm = next((r["ev"] for r in params.provenance.to_dict("records") if r["item"] == "design_storm_mm"), "?")
    notes.append(f"Design storm {storm} (ev {ev_storm}; flooding_params.csv). SCS curve-number method (TR-55), "
                 f"Ia = {params.ia_ratio:g} S; sewers, surface water and run-on from neighbouring cells are not "
                 "modelled. Cover without land-cover data is left out of the volumes (lower bound).")
    tables = {"flooding_parameters": params.provenance}
    dem = context_raster(ctx, "dem")
    results = [
        IndicatorResult(
            name="runoff_depth", array=mask_outside(q, ctx.dominant), units="mm",
            description=f"Direct runoff of the design storm ({storm}) by the SCS curve-number method (TR-55) from "
                        "the cover-weighted curve number of the cell",
            title_en="Storm runoff", title_nl="Afstroming bij hevige bui", palette="bad_high", vmin=0.0, vmax=p,
            summarise=("mean",), tables=tables, notes=notes + ([NO_DEM_NOTE] if dem is None else [])),
        IndicatorResult(
            name="runoff_volume", array=mask_outside(vol, ctx.dominant), units="m3 per cell",
            description=f"Runoff volume of the design storm ({storm}) per cell; the per-unit sum is the unit's "
                        "runoff volume (m3)",
            title_en="Storm runoff volume", title_nl="Afstromingsvolume", palette="bad_high", vmin=0.0,
            summarise=("sum",)),
    ]
    if dem is None:
        return results
    depth = depression_depth(dem)
    dvol = depth * (cell * cell)
    n_nan = scalar(xp_of(dem).sum(~xp_of(dem).isfinite(dem.astype(np.float64)) & (ctx.dominant != 255)))
    dnotes = ["Priority-Flood depression filling (Barnes et al. 2014): depth of water a depression holds before it "
              "spills; the grid edge and cells without elevation are outlets. Infiltration and sewers are ignored."]
    if n_nan:
        dnotes.append(f"{int(n_nan)} cells inside the area have no elevation (e.g. water or buildings in AHN): "
                      "treated as outlets, no depth")
    results += [
        IndicatorResult(
            name="depression_depth", array=mask_outside(depth, ctx.dominant), units="m",
            description="Depth of the depressions of the DEM where rain water collects (filled DEM - DEM)",
            title_en="Depressions (water on the street)", title_nl="Laagtes (water op straat)", palette="bad_high",
            vmin=0.0, vmax=0.3, summarise=("mean", "max"), notes=dnotes),
        IndicatorResult(
            name="depression_volume", array=mask_outside(dvol, ctx.dominant), units="m3 per cell",
            description="Storage volume of the depressions per cell; the per-unit sum is the unit's volume (m3)",
            title_en="Depression storage", title_nl="Berging in laagtes", palette="bad_high", vmin=0.0,
            summarise=("sum",)),
    ]
    return results
