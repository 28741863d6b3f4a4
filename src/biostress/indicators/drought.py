"""Drought: vulnerability of vegetation to summer drought.

The index combines how sensitive the vegetation of a cell is with how exposed it is::

    S_i = sum_k f_k s_k / sum_k f_k          cover-weighted drought sensitivity (0-1), classes with s_k
    V_i = S_i * E_i                          drought vulnerability (index 0-1)

``s_k`` per legend class is in ``data/params/drought_sensitivity.csv`` (ev P: a proposal for the
ecologist to review); paved and built classes have 0, so a half-paved cell scores half.

Exposure ``E`` (0-1), from the best data supplied in ``ctx.rasters``:

* ``glg`` (mean lowest groundwater level, m below surface as the area configuration documents
  it; the Dutch *GLG*) or, failing it, ``gxg`` (a groundwater depth, used in place of the GLG,
  noted): the depth falls in one of the classes of ``drought_groundwater_classes.csv``
  (boundaries 50 / 80 / 120 cm of the Dutch groundwater-table classes, *grondwatertrappen*, plus
  180 cm), each with an exposure value. ``drought_params.csv`` ``groundwater_depth_unit_cm``
  (default 100) converts the raster unit to cm; set 1 for rasters in cm below surface.
* ``soil_moisture`` (relative plant-available soil water, 0 = wilting point, 1 = field
  capacity): the FAO-56 water-stress coefficient (Allen et al. 1998, *Crop evapotranspiration*,
  FAO Irrigation and Drainage Paper 56, eq. 84 with ``theta = (TAW - Dr) / TAW``)::

      Ks = min(1, max(0, theta / (1 - p))),   E = 1 - Ks,   p = 0.5

  (no stress while less than the fraction ``p`` of the available water is used up).
* both: ``E = max(E_groundwater, E_soil)`` (the drier signal).

``ghg`` (winter high groundwater) alone says little about summer drought and is not used.

Proxy (no groundwater or soil-moisture raster; ``proxy=True``): exposure is the impervious share
of the surroundings, the cover-weighted share of classes flagged ``impervious`` within
``proxy_radius_m`` (100 m) of the cell, as a stand-in for drained, sealed and hotter urban
surroundings with little infiltration::

    E_proxy_i = sum_{j in disc(i)} I_j / sum_{j in disc(i)} known_j

This is a documented proxy (biostress proposal, ev P), not a water balance. The disc sum runs on
numpy or, chunk by chunk with a halo of the radius, on dask arrays.
"""

from __future__ import annotations

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
    disc_mean,
    finite_or_zero,
    mask_outside,
    where,
    xp_of,
)
from .heat import class_weighted
from .tables import class_rows, parse_float, read_scalars, read_table

__all__ = [
    "CLASSES_FILE",
    "DroughtParams",
    "GroundwaterClass",
    "PARAMS_FILE",
    "SENSITIVITY_FILE",
    "compute",
    "drought_vulnerability",
    "groundwater_class",
    "groundwater_exposure",
    "impervious_surroundings",
    "load_params",
    "soil_moisture_exposure",
    "vegetation_sensitivity",
]

SENSITIVITY_FILE = "drought_sensitivity.csv"
CLASSES_FILE = "drought_groundwater_classes.csv"
PARAMS_FILE = "drought_params.csv"


@dataclass(frozen=True)
class GroundwaterClass:
    code: int
    key: str
    label_en: str
    label_nl: str
    glg_min_cm: float  # inclusive
    glg_max_cm: float  # exclusive (inf for the last class)
    exposure: float
    colour: str


@dataclass(frozen=True)
class DroughtParams:
    sensitivity: dict[str, dict[str, float]]  # legend key -> {"sensitivity": s}
    classes: tuple[GroundwaterClass, ...]
    proxy_radius_m: float
    fao56_p: float
    depth_unit_cm: float
    provenance: pd.DataFrame


_SCALARS = {
    "proxy_radius_m": (1.0, 5000.0),
    "fao56_depletion_fraction_p": (0.0, 0.95),
    "groundwater_depth_unit_cm": (0.001, 1000.0),
}


def load_params(params_dir: Path | str | None = None, legend: Legend | None = None) -> DroughtParams:
    """Read and validate the three drought tables (an area's own copies in ``params_dir`` replace
    the built-in ones). Groundwater classes must be contiguous and non-overlapping from 0 cm."""
    prov: list[dict] = []
    s = read_scalars(params_path(PARAMS_FILE, params_dir), _SCALARS, prov)
    sp = params_path(SENSITIVITY_FILE, params_dir)
    df = read_table(sp, ["key", "sensitivity", "ev", "source"])
    sens: dict[str, dict[str, float]] = {}
    for line, key, r in class_rows(sp, df, legend):
        sens[key] = {"sensitivity": float(parse_float(sp, line, "sensitivity", r["sensitivity"], lo=0.0, hi=1.0))}  # type: ignore[arg-type]
        prov.append({"table": sp.name, "item": key, "value": r["sensitivity"], "units": "0-1", "ev": r["ev"].strip(),
                     "source": r["source"], "note": r.get("note", "")})
    cp = params_path(CLASSES_FILE, params_dir)
    dc = read_table(cp, ["code", "key", "label_en", "label_nl", "glg_min_cm", "glg_max_cm", "exposure", "colour",
                         "ev", "source"])
    classes = []
    for i, r in dc.iterrows():
        line = int(i) + 2
        code = parse_float(cp, line, "code", r["code"], lo=1, hi=254)
        lo = parse_float(cp, line, "glg_min_cm", r["glg_min_cm"], lo=0.0)
        hi = parse_float(cp, line, "glg_max_cm", r["glg_max_cm"], allow_empty=True)
        exp = parse_float(cp, line, "exposure", r["exposure"], lo=0.0, hi=1.0)
        classes.append(GroundwaterClass(int(code), r["key"].strip(), r["label_en"], r["label_nl"], float(lo),  # type: ignore[arg-type]
                                        float("inf") if hi is None else float(hi), float(exp), r["colour"].strip()))  # type: ignore[arg-type]
        prov.append({"table": cp.name, "item": r["key"].strip(), "value": f"{r['glg_min_cm']}-{r['glg_max_cm']} cm: "
                     f"exposure {r['exposure']}", "units": "cm below surface", "ev": r["ev"].strip(),
                     "source": r["source"], "note": r.get("note", "")})
    classes.sort(key=lambda c: c.glg_min_cm)
    if not classes or classes[0].glg_min_cm != 0.0 or classes[-1].glg_max_cm != float("inf"):
        raise ConfigError(f"{cp}: the groundwater classes must start at 0 cm and the last must be open-ended "
                          "(empty glg_max_cm).")
    for a, b in zip(classes, classes[1:], strict=False):
        if a.glg_max_cm != b.glg_min_cm:
            raise ConfigError(f"{cp}: class {a.key!r} ends at {a.glg_max_cm:g} cm but {b.key!r} starts at "
                              f"{b.glg_min_cm:g} cm; classes must be contiguous.")
    if len({c.code for c in classes}) != len(classes):
        raise ConfigError(f"{cp}: class codes must be unique.")
    return DroughtParams(sens, tuple(classes), s["proxy_radius_m"], s["fao56_depletion_fraction_p"],
                         s["groundwater_depth_unit_cm"], pd.DataFrame(prov))


# --------------------------------------------------------------------------------------------
# pure functions (numpy or dask)
# --------------------------------------------------------------------------------------------

def vegetation_sensitivity(fractions: Any, legend: Legend, params: DroughtParams) -> tuple[Any, Any, list[str]]:
    """``S = sum_k f_k s_k / sum_k f_k`` over classes with a sensitivity; returns (S, known cover, missing keys)."""
    cw = class_weighted(fractions, legend, params.sensitivity, ["sensitivity"])
    return cw.values["sensitivity"], cw.known, cw.missing


def groundwater_class(depth_cm: Any, classes: tuple[GroundwaterClass, ...]) -> Any:
    """Class code of each groundwater depth (cm below surface; ``min <= depth < max``); NaN where
    the depth is NaN or negative (water above the surface is class 1 territory only if the table
    starts below 0, which it does not)."""
    d = depth_cm.astype(np.float64)
    out = d * np.nan
    for c in classes:
        out = where((d >= c.glg_min_cm) & (d < c.glg_max_cm), float(c.code), out)
    return out


def groundwater_exposure(depth_cm: Any, classes: tuple[GroundwaterClass, ...]) -> Any:
    """Exposure (0-1) of the class of each groundwater depth (cm below surface); NaN where unknown."""
    d = depth_cm.astype(np.float64)
    out = d * np.nan
    for c in classes:
        out = where((d >= c.glg_min_cm) & (d < c.glg_max_cm), c.exposure, out)
    return out


def soil_moisture_exposure(theta: Any, p: float = 0.5) -> Any:
    """``E = 1 - Ks``, ``Ks = clip(theta / (1 - p), 0, 1)`` (FAO-56 eq. 84 with relative available
    water ``theta``); NaN where ``theta`` is NaN.

    >>> [float(x) for x in soil_moisture_exposure(np.array([1.0, 0.5, 0.25, 0.0]))]
    [0.0, 0.0, 0.5, 1.0]
    """
    xp = xp_of(theta)
    ks = xp.clip(theta.astype(np.float64) / (1.0 - p), 0.0, 1.0)
    return 1.0 - ks


def impervious_surroundings(fractions: Any, legend: Legend, cell: float, radius_m: float) -> Any:
    """Proxy exposure: share of impervious cover within ``radius_m`` of each cell, over the known
    cover (``unknown`` and outside the area left out); NaN where the disc has no known cover."""
    imp: Any = None
    known: Any = None
    for i, c in enumerate(legend.classes):
        if c.key == "unknown":
            continue
        f = finite_or_zero(fractions[i])
        known = f if known is None else known + f
        if c.impervious:
            imp = f if imp is None else imp + f
    if known is None:
        raise InputDataError("The legend has no classes besides 'unknown'.")
    if imp is None:
        imp = known * 0.0
    ok = known > 1e-9
    share = where(ok, imp / where(ok, known, 1.0), 0.0)
    return disc_mean(share, known, cell, radius_m)


def drought_vulnerability(sensitivity: Any, exposure: Any) -> Any:
    """``V = S * E`` (0-1); NaN where either is NaN."""
    return sensitivity * exposure


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

def compute(ctx: IndicatorContext) -> list[IndicatorResult]:
    """Drought vulnerability from groundwater / soil-moisture rasters, else the documented proxy."""
    params = load_params(ctx.params_dir, ctx.legend)
    check_fractions_shape(ctx)
    sens, _known, missing = vegetation_sensitivity(ctx.fractions, ctx.legend, params)
    notes: list[str] = []
    if missing:
        notes.append(f"classes without a drought sensitivity in {SENSITIVITY_FILE} were treated as no data: "
                     f"{', '.join(missing)}")
    notes.append("Vegetation drought sensitivity per land-cover class is a proposal (ev P) for the ecologist to "
                 "review (drought_parameters table).")
    glg, gxg, ghg = context_raster(ctx, "glg"), context_raster(ctx, "gxg"), context_raster(ctx, "ghg")
    sm = context_raster(ctx, "soil_moisture")
    depth = glg if glg is not None else gxg
    exposures = []
    results: list[IndicatorResult] = []
    tables = {"drought_parameters": params.provenance}
    if depth is not None:
        depth_cm = depth.astype(np.float64) * params.depth_unit_cm
        exposures.append(groundwater_exposure(depth_cm, params.classes))
        name = "glg" if glg is not None else "gxg"
        if glg is None:
            notes.append("no 'glg' raster: the 'gxg' groundwater depth is used in place of the mean lowest level "
                         "(GLG); summer groundwater is usually deeper, so exposure may be underestimated")
        notes.append(f"Groundwater exposure from '{name}' in classes of {CLASSES_FILE} (Dutch grondwatertrap "
                     "boundaries; exposure values ev P)")
        cats = [(c.code, f"{c.label_en} / {c.label_nl}", c.colour) for c in params.classes]
        results.append(IndicatorResult(
            name="groundwater_class", array=mask_outside(groundwater_class(depth_cm, params.classes), ctx.dominant),
            units="class", description=f"Class of the {name.upper()} groundwater depth (cm below surface)",
            title_en="Summer groundwater depth class", title_nl="Klasse grondwaterstand (zomer)",
            palette="categorical", categories=cats, summarise=("majority",)))
    elif ghg is not None:
        notes.append("only a 'ghg' (winter high groundwater) raster was supplied: it does not describe summer "
                     "drought and was not used")
    if sm is not None:
        exposures.append(soil_moisture_exposure(sm, params.fao56_p))
        notes.append(f"Soil-moisture exposure 1 - Ks (FAO-56, p = {params.fao56_p:g}) from 'soil_moisture' "
                     "(relative plant-available water 0-1)")
    proxy = not exposures
    if proxy:
        exposure = impervious_surroundings(ctx.fractions, ctx.legend, ctx.grid.cell, params.proxy_radius_m)
        notes.append(f"PROXY: no groundwater (glg/gxg) or soil_moisture raster. Exposure = share of impervious "
                     f"cover within {params.proxy_radius_m:g} m (a stand-in for drained, sealed and hotter "
                     "surroundings; ev P), not a water balance. Supply a GLG or soil-moisture raster to replace it.")
    elif len(exposures) == 2:
        xp = xp_of(*exposures)
        exposure = xp.fmax(exposures[0], exposures[1])
        notes.append("Groundwater and soil-moisture exposure combined as the larger (drier) of the two")
    else:
        exposure = exposures[0]
    v = drought_vulnerability(sens, exposure)
    desc = ("Drought vulnerability of vegetation: cover-weighted drought sensitivity of the vegetation x exposure "
            + ("(proxy: impervious share of the surroundings)" if proxy else "(from groundwater / soil moisture)"))
    results.insert(0, IndicatorResult(
        name="drought_vulnerability", array=mask_outside(v, ctx.dominant), units="index 0-1",
        description=desc, title_en="Drought vulnerability of vegetation" + (" (proxy)" if proxy else ""),
        title_nl="Droogtegevoeligheid van groen" + (" (benadering)" if proxy else ""), palette="bad_high",
        vmin=0.0, vmax=1.0, summarise=("mean",), tables=tables, notes=notes, proxy=proxy))
    return results
