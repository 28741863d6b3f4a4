"""Per-cell gain, co-benefits and cost of applying one measure of the catalogue in a cell.

All functions are pure and elementwise on numpy arrays (NaN outside the area, where the cover fractions are
NaN). ``A`` is the cell area (m2), ``f_k`` the cover fraction of class ``k`` (share of the whole cell), and a
measure's transitions ``t`` move ``share_t * f_from(t)`` of the cell from class ``from`` to class ``to``
(:mod:`biostress.measures.catalogue`).

Biodiversity gain (:func:`habitat_gain`), m2 of habitat-equivalent::

    g_bio = A * sum_t share_t * f_from(t) * (H_to(t) - H_from(t))

``H`` is the InVEST habitat suitability of a class (0-1; ``habitat`` column of
``habitat_quality_sensitivity.csv``, :func:`biostress.indicators.habitat_quality.load_params`; HQ-UG,
knowledge base 5c, mostly ev P). One m2 turned from H = 0 into H = 1 is one m2 of habitat-equivalent. Threats
(degradation) are not re-run: the gain is the change of the habitat term only.

Proxy for measures without land-cover transitions (:func:`proxy_gain`; boxes, passages, lighting, crossings;
**a proxy, ev P**)::

    g_proxy = A * s_q * min(u_max, u_sp * n_species + u_rel * sum_s relief_s)

``s_q`` is the share of the cell the measure acts on (the summed cover of its ``quantity.classes``; all of the
known cover when it names none or for ``site`` measures), ``n_species`` the number of its guide species,
``relief_s`` its ``stressor_relief`` values (0-1) and ``u_sp``, ``u_rel``, ``u_max`` the proxy weights of
``opportunity_weights.csv`` (P). Measures with transitions get no proxy term (their stressor relief, e.g. the
drought relief of rewetting, is not counted).

Cooling co-benefit (:func:`cooling_gain`), m2 x cooling capacity::

    cooling = A * sum_t share_t * f_from(t) * (CC_to(t) - CC_from(t))
    CC_k = (w_s * shade_k + w_a * albedo_k + w_e * ETI_k) / (w_s + w_a + w_e),  ETI_k = kc_k

the InVEST Urban Cooling cooling capacity per class (UCM-UG eq. coolingcapacity_factors, weights 0.6 / 0.2 /
0.2, V; class values of ``heat_biophysical.csv``, :func:`biostress.indicators.heat.load_params`) with a uniform
reference evapotranspiration (ETI = Kc, as the heat indicator does without an ``et0`` raster).

Water co-benefit (:func:`water_gain`), m3 for the design storm: where the measure has a storage
(``water_storage_l``, litres per unit of the measure) ``water = units * water_storage_l / 1000`` (the storage
is assumed empty and filled once by the storm); otherwise, for measures with transitions, the drop in SCS
runoff volume of the cell (TR-55, :mod:`biostress.indicators.flooding`; the same composite curve number as the
``runoff_depth`` indicator)::

    water = V(before) - V(after),  V = Q(P, CN_cell) / 1000 * known * A,  CN_cell = sum_k f_k CN_k / sum_k f_k
    Q = (P - 0.2 S)**2 / (P - 0.2 S + S) for P > 0.2 S, else 0,  S = 25400 / CN - 254   (mm)

with ``P`` the design storm of ``flooding_params.csv`` (70 mm, R) and the curve numbers of
``flooding_curve_numbers.csv`` for the default soil group (or a ``soil_group`` raster). Measures with neither
give 0.

Cost (:func:`measure_cost`): :func:`biostress.measures.finance.cost_breakdown` for the units of one application
per cell (:func:`biostress.measures.catalogue.units_per_cell`): net present cost ``-NPV`` (EUR over the finance
horizon, 30 years at 2.25 % by default; negative = net income), gross investment ``capex`` (EUR) and the
equivalent annual cost (EUR/yr). Each cell is one application (subsidy caps apply per cell). An unknown capex
gives NaN.

Combined gain (:func:`combined_gain`), m2 of habitat-equivalent::

    g = g_bio + w_c * cooling + w_w * water

with the weights ``cooling_weight`` and ``water_weight`` of ``opportunity_weights.csv`` (P).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputDataError
from ..indicators import flooding, habitat_quality, heat
from ..indicators.base import params_path
from ..landcover.legend import Legend
from ..measures.catalogue import Measure, apply_transitions
from ..measures.finance import FinanceParams, cost_breakdown, load_finance_params, select_subsidies

__all__ = [
    "WEIGHTS_FILE",
    "CostLayers",
    "GainParams",
    "Weights",
    "class_cooling_capacity",
    "combined_gain",
    "cooling_gain",
    "habitat_gain",
    "known_cover",
    "load_gain_params",
    "load_weights",
    "measure_cost",
    "proxy_gain",
    "proxy_uplift",
    "runoff_volume",
    "water_gain",
]

WEIGHTS_FILE = "opportunity_weights.csv"
#: parameter -> (lowest, highest) allowed value
_WEIGHT_RANGES = {
    "cooling_weight": (0.0, 1e6),
    "water_weight": (0.0, 1e6),
    "proxy_uplift_per_species": (0.0, 1.0),
    "proxy_uplift_per_relief": (0.0, 1.0),
    "proxy_max_uplift": (0.0, 1.0),
}


@dataclass(frozen=True)
class Weights:
    """The weights of ``opportunity_weights.csv`` (see the module docstring; all ev P by default)."""

    cooling: float  # m2 habitat-equivalent per m2 x CC
    water: float  # m2 habitat-equivalent per m3
    proxy_per_species: float  # habitat suitability per guide species
    proxy_per_relief: float  # habitat suitability per unit of stressor relief
    proxy_max: float  # cap of the proxy uplift
    provenance: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False)


def load_weights(params_dir: Path | str | None = None) -> Weights:
    """Read and validate ``opportunity_weights.csv`` (``parameter,value,units,ev,source,note``; the area's copy
    in ``params_dir`` replaces the built-in one). Every parameter must be present once, within its range."""
    prov: list[dict] = []
    s = heat.read_scalars(params_path(WEIGHTS_FILE, params_dir), _WEIGHT_RANGES, prov)
    return Weights(s["cooling_weight"], s["water_weight"], s["proxy_uplift_per_species"],
                   s["proxy_uplift_per_relief"], s["proxy_max_uplift"], pd.DataFrame(prov))


@dataclass(frozen=True)
class GainParams:
    """Everything the gain functions read: ``habitat`` (class key -> H), ``cooling_capacity`` (class key ->
    CC), the flooding and finance parameters and the weights, each with its provenance."""

    habitat: dict[str, float]
    cooling_capacity: dict[str, float]
    flooding: flooding.FloodingParams
    finance: FinanceParams
    weights: Weights
    provenance: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False)


def class_cooling_capacity(params: heat.HeatParams) -> dict[str, float]:
    """``CC_k`` per class key from the heat biophysical table (ETI = Kc; see the module docstring)."""
    w = (params.weight_shade, params.weight_albedo, params.weight_eti)
    return {k: float(heat.cooling_capacity(r["shade"], r["albedo"], heat.evapotranspiration_index(r["kc"]), w))
            for k, r in params.biophysical.items()}


def load_gain_params(params_dir: Path | str | None = None, legend: Legend | None = None) -> GainParams:
    """Load the habitat-quality, heat, flooding, finance and opportunity-weight parameters (the area's copies
    in ``params_dir`` override the built-in tables)."""
    hq = habitat_quality.load_params(params_dir, legend)
    hp = heat.load_params(params_dir, legend)
    fp = flooding.load_params(params_dir, legend)
    fin = load_finance_params(params_dir=params_dir)
    w = load_weights(params_dir)
    prov = pd.concat([hq.provenance, hp.provenance, fp.provenance, w.provenance,
                      pd.DataFrame([{"table": "finance.yaml", "item": k, "value": str(v), "ev": fin.ev[k],
                                     "source": fin.source[k]}
                                    for k, v in (("discount_rate", fin.discount_rate),
                                                 ("horizon_yr", fin.horizon_yr))])],
                     ignore_index=True)
    return GainParams(dict(hq.habitat), class_cooling_capacity(hp), fp, fin, w, prov)


# --------------------------------------------------------------------------------------------
# the gains
# --------------------------------------------------------------------------------------------

def _check(fractions: Any, legend: Legend, cell_area_m2: float) -> np.ndarray:
    fr = np.asarray(fractions)
    if fr.ndim != 3 or fr.shape[0] != len(legend.classes):
        raise InputDataError(f"The land-cover stack must be (n_classes={len(legend.classes)}, H, W), "
                             f"got shape {tuple(fr.shape)}.")
    if not cell_area_m2 > 0:
        raise InputDataError(f"cell_area_m2 must be above 0, got {cell_area_m2}.")
    return fr


def _value(table: dict[str, float], key: str, what: str, measure: Measure) -> float:
    try:
        return float(table[key])
    except KeyError:
        raise ConfigError(f"Measure {measure.id!r} converts land cover {key!r}, which has no {what}.",
                          hint=f"Add a row for {key!r} to the {what} table.") from None


def _transition_delta(measure: Measure, fr: np.ndarray, legend: Legend, table: dict[str, float], what: str,
                      cell_area_m2: float) -> np.ndarray:
    """``A * sum_t share_t * f_from(t) * (v_to - v_from)``."""
    out = np.zeros(fr.shape[1:], dtype=np.float64)
    for t in measure.transitions:
        dv = _value(table, t.to, what, measure) - _value(table, t.from_, what, measure)
        out = out + t.share * fr[legend.keys.index(t.from_)].astype(np.float64) * dv
    return out * cell_area_m2


def known_cover(fractions: Any) -> np.ndarray:
    """Summed cover per cell (0-1); NaN outside the area (all fractions NaN)."""
    return _known(np.asarray(fractions))


def _known(fr: np.ndarray) -> np.ndarray:
    f = fr.astype(np.float64)
    return np.where(np.all(np.isnan(f), axis=0), np.nan, np.nansum(f, axis=0))


def _nan_outside(a: np.ndarray, fr: np.ndarray, known: np.ndarray | None) -> np.ndarray:
    k = _known(fr) if known is None else known
    return np.where(np.isnan(k), np.nan, a)


def habitat_gain(measure: Measure, fractions: Any, legend: Legend, habitat: dict[str, float],
                 cell_area_m2: float, known: np.ndarray | None = None) -> np.ndarray:
    """``g_bio`` (m2 habitat-equivalent) of the measure's transitions; 0 for a measure without any.
    ``known``: the summed cover per cell, NaN outside the area, when already computed (all gain functions)."""
    fr = _check(fractions, legend, cell_area_m2)
    return _nan_outside(_transition_delta(measure, fr, legend, habitat, "habitat suitability", cell_area_m2), fr,
                        known)


def proxy_uplift(measure: Measure, weights: Weights) -> float:
    """``min(u_max, u_sp * n_species + u_rel * sum_s relief_s)``; 0 for measures with transitions."""
    if measure.transitions:
        return 0.0
    relief = sum(float(v.value) for v in measure.stressor_relief.values() if v.value is not None)
    return min(weights.proxy_max,
               weights.proxy_per_species * len(measure.guide_species) + weights.proxy_per_relief * relief)


def proxy_gain(measure: Measure, fractions: Any, legend: Legend, weights: Weights, cell_area_m2: float,
               known: np.ndarray | None = None) -> np.ndarray:
    """``g_proxy`` (m2 habitat-equivalent, a proxy, ev P) for a measure without transitions; 0 otherwise."""
    fr = _check(fractions, legend, cell_area_m2)
    u = proxy_uplift(measure, weights)
    q = measure.quantity
    if q.basis == "class_area" and q.classes:
        share = np.zeros(fr.shape[1:], dtype=np.float64)
        for k in q.classes:
            share = share + np.nan_to_num(fr[legend.keys.index(k)].astype(np.float64))
    else:
        share = _known(fr) if known is None else known
    return _nan_outside(cell_area_m2 * share * u, fr, known)


def cooling_gain(measure: Measure, fractions: Any, legend: Legend, cooling_capacity: dict[str, float],
                 cell_area_m2: float, known: np.ndarray | None = None) -> np.ndarray:
    """Change of cooling capacity times area (m2 x CC) of the measure's transitions."""
    fr = _check(fractions, legend, cell_area_m2)
    return _nan_outside(_transition_delta(measure, fr, legend, cooling_capacity, "cooling capacity",
                                          cell_area_m2), fr, known)


def runoff_volume(fractions: Any, legend: Legend, params: flooding.FloodingParams, cell: float,
                  soil_group: Any = None) -> np.ndarray:
    """SCS runoff volume (m3) of the design storm per cell, as the flooding indicator computes it."""
    cn, known, _ = flooding.composite_curve_number(np.asarray(fractions), legend, params, soil_group)
    q = flooding.scs_runoff_mm(params.design_storm_mm, cn, params.ia_ratio)
    v = flooding.runoff_volume_m3(q, known, cell)
    return np.where(np.isfinite(q), v, np.nan)


def water_gain(measure: Measure, fractions: Any, legend: Legend, params: flooding.FloodingParams, cell: float,
               units: Any, soil_group: Any = None, before: np.ndarray | None = None,
               known: np.ndarray | None = None) -> np.ndarray:
    """Water held for the design storm (m3): the measure's storage for ``units`` units where it has one, else
    the drop in runoff volume of its transitions, else 0. ``before``: the runoff volume of ``fractions``
    (:func:`runoff_volume`) when already computed."""
    fr = _check(fractions, legend, cell * cell)
    storage = measure.number("water_storage_l")
    if np.isfinite(storage):
        return _nan_outside(np.asarray(units, dtype=np.float64) * storage / 1000.0, fr, known)
    if not measure.transitions:
        return _nan_outside(np.zeros(fr.shape[1:]), fr, known)
    v0 = runoff_volume(fr, legend, params, cell, soil_group) if before is None else before
    v1 = runoff_volume(apply_transitions(measure, fr, legend), legend, params, cell, soil_group)
    return v0 - v1


@dataclass(frozen=True)
class CostLayers:
    """Per-cell cost of one application (EUR, arrays like ``units``)."""

    cost_npv: np.ndarray  # net present cost = -NPV; negative = net income
    capex: np.ndarray  # gross investment
    eac: np.ndarray  # equivalent annual cost, EUR/yr
    unquantified: list[str]


def measure_cost(measure: Measure, units: Any, finance: FinanceParams | None = None,
                 regions: Sequence[str] = ("NL",), on: date | None = None) -> CostLayers:
    """Cost of ``units`` units of the measure per cell with the subsidies open in ``regions`` (on ``on``):
    :func:`biostress.measures.finance.cost_breakdown`. NaN units give NaN costs."""
    u = np.asarray(units, dtype=np.float64)
    fin = finance or load_finance_params()
    out = {k: np.full(u.shape, np.nan) for k in ("cost_npv", "capex", "eac")}
    ok = np.isfinite(u)
    unq: list[str] = []
    if ok.any():
        b = cost_breakdown(measure, u[ok], select_subsidies(measure, regions, on), params=fin)
        out["cost_npv"][ok] = -np.asarray(b.npv, dtype=np.float64)
        out["capex"][ok] = np.asarray(b.capex, dtype=np.float64)
        out["eac"][ok] = np.asarray(b.eac, dtype=np.float64)
        unq = list(b.unquantified)
    return CostLayers(out["cost_npv"], out["capex"], out["eac"], unq)


def combined_gain(g_bio: Any, cooling: Any, water_m3: Any, weights: Weights) -> Any:
    """``g = g_bio + w_c * cooling + w_w * water`` (m2 habitat-equivalent)."""
    return g_bio + weights.cooling * cooling + weights.water * water_m3
