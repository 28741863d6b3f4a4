"""Heat: the InVEST Urban Cooling Model heat-mitigation index (daytime, 'factors' method).

Source: InVEST user guide, *Urban Cooling* (github.com/natcap/invest.users-guide,
``urban_cooling_model.rst``; knowledge base key UCM-UG, V) and the model source
(github.com/natcap/invest, ``src/natcap/invest/urban_cooling_model.py``, the version with the
``cc_masked_green_areas`` fix of natcap/invest PR #1791, i.e. InVEST >= 3.15 up to 3.20), whose
arithmetic is reproduced here step by step:

1. Evapotranspiration index (UG eq. *eti*)::

       ETI_i = Kc_i * ET0_i / ET_max          (dimensionless; ET_max = max of ET0 over the grid)

   Without an ``et0`` raster ET0 is taken as uniform, so ``ETI = Kc`` (noted).

2. Cooling capacity (UG eq. *coolingcapacity_factors*; weights are divided by their sum as in
   the source, defaults 0.6 / 0.2 / 0.2)::

       CC_i = 0.6 * shade_i + 0.2 * albedo_i + 0.2 * ETI_i          (index 0-1)

3. Green area within the cooling distance ``d_cool`` (UG eq. 3a). The source convolves the
   green-area flag with an *unnormalised* disc kernel of radius ``r = round(d_cool / cell)``
   pixels (``pygeoprocessing.kernels.dichotomous_kernel``: cells whose centre distance
   ``<= r`` pixels)::

       GA_i = cell_area * sum_{j: d(i,j) <= r} g_j                  (m2)

4. Park cooling (UG eq. 3b: a distance-weighted average of the CC of green cells). The source
   convolves ``g_j * CC_j`` (``mask_cc_green_areas_op``) with the exponential kernel of
   ``pygeoprocessing.kernels.exponential_decay_kernel(max_distance=5r, expected_distance=r)``,
   which is *normalised to sum 1*::

       CC_park_i = sum_j g_j * CC_j * w_ij,   w_ij = exp(-d_ij / r) / sum_k exp(-d_ik / r)
                   over d_ij <= 5 r (pixels)

5. Heat mitigation (UG eq. 4; ``hm_op`` of the source, ``GA < 2 ha`` keeps CC)::

       HM_i = CC_i        if CC_i >= CC_park_i or GA_i < 2 ha
              CC_park_i   otherwise                                  (index 0-1)

Both convolutions use ``pygeoprocessing.convolve_2d(ignore_nodata_and_edges=True)`` in the
source: the weighted sum is divided by the kernel weight that falls on valid cells and
multiplied by the kernel sum, so cells near the grid edge or next to no-data are not pulled
towards 0 (:func:`edge_corrected_convolve`). In the interior of a fully valid grid this is the
plain sum above.

Fractional land cover (biostress adaptation, exact for single-class cells)
    InVEST maps one class per pixel. Here a cell holds cover fractions ``f_k`` of the legend
    classes. Every biophysical parameter ``p`` (kc, shade, albedo) is the cover-weighted mean
    over the classes with known parameters, ``p_i = sum_k f_k p_k / sum_k f_k``; because CC is
    linear in them, ``CC_i`` is the cover-weighted mean of the class CCs. The green flag becomes
    the green cover share ``g_i = sum_{k green} f_k`` and ``g_i * CC_i`` becomes the CC carried
    by the green part, ``sum_{k green} f_k CC_k``. The *valid* weight of a cell in the edge
    correction is its known cover ``sum_k f_k`` (0 outside the area and for the ``unknown``
    class, the no-data of the legend). For cells of one class these reduce to InVEST's values.

Parameters: ``data/params/heat_biophysical.csv`` (kc, albedo, shade, green_area per legend class,
with ``ev`` and ``source``; seeded from the Lausanne UCM biophysical table, knowledge-base 5d,
LSN) and ``data/params/heat_params.csv`` (d_cool, weights, 2 ha threshold). The cover-weighted
class parameters (:func:`class_weighted`) are shared with ``flooding`` and ``drought``; the table and
array helpers live in :mod:`biostress.indicators.tables` and :mod:`biostress.indicators.common`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputDataError
from ..landcover.legend import Legend
from .base import IndicatorContext, IndicatorResult, params_path

# ``name as name``: re-exported helpers (they live in ``common`` / ``tables``; other packages import
# them from this module)
from .common import OUTSIDE as OUTSIDE
from .common import (
    check_fractions_shape,
    context_raster,
    distance_grid,
    fft_convolve,
    finite_or_zero,
    mask_outside,
    scalar,
    where,
    xp_of,
)
from .common import disc_mean as disc_mean
from .common import is_dask as is_dask
from .common import like as like
from .tables import EV_MARKS as EV_MARKS
from .tables import class_rows, parse_float, read_scalars, read_table

__all__ = [
    "BIOPHYSICAL_FILE",
    "HeatParams",
    "PARAMS_FILE",
    "class_weighted",
    "cooling_capacity",
    "cc_park",
    "dichotomous_kernel",
    "edge_corrected_convolve",
    "evapotranspiration_index",
    "exponential_kernel",
    "green_area_sum",
    "heat_mitigation",
    "heat_mitigation_index",
    "kernel_radius_px",
    "load_params",
    "compute",
]

BIOPHYSICAL_FILE = "heat_biophysical.csv"
PARAMS_FILE = "heat_params.csv"


# --------------------------------------------------------------------------------------------
# cover-weighted class parameters (shared with flooding and drought)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassWeights:
    """Per-cell cover-weighted values of per-class parameters (see :func:`class_weighted`)."""

    known: Any  # (H, W) summed cover of the classes with parameters (0-1); 0 outside the area
    values: dict[str, Any]  # parameter -> (H, W) weighted mean over the known cover (NaN where known == 0)
    missing: list[str]  # legend classes without a parameter row (treated as no data)


def class_weighted(fractions: Any, legend: Legend, table: dict[str, dict[str, float]],
                   columns: list[str]) -> ClassWeights:
    """Cover-weighted mean of per-class parameters: ``p_i = sum_k f_ki p_k / sum_k f_ki`` over the
    classes ``k`` that have a row in ``table`` (key -> {column: value}); classes without a row
    (and the ``unknown`` class unless it has one) count as no data. NaN fractions count as 0."""
    if fractions.ndim != 3 or fractions.shape[0] != len(legend.classes):
        raise InputDataError(f"The land-cover fractions have shape {tuple(fractions.shape)}; expected "
                             f"({len(legend.classes)}, rows, cols) for the legend {legend.path}.")
    known: Any = None
    sums: dict[str, Any] = {c: None for c in columns}
    missing = []
    for i, cls in enumerate(legend.classes):
        row = table.get(cls.key)
        if row is None:
            if cls.key != "unknown":
                missing.append(cls.key)
            continue
        f = finite_or_zero(fractions[i])
        known = f if known is None else known + f
        for c in columns:
            term = f * float(row[c])
            sums[c] = term if sums[c] is None else sums[c] + term
    if known is None:
        known = finite_or_zero(fractions[0]) * 0.0
    ok = known > 1e-9
    safe = where(ok, known, 1.0)
    values = {c: where(ok, (sums[c] if sums[c] is not None else known * 0.0) / safe, np.nan) for c in columns}
    return ClassWeights(known, values, missing)


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeatParams:
    biophysical: dict[str, dict[str, float]]  # legend key -> kc, albedo, shade, green_area
    cooling_distance_m: float
    weight_shade: float
    weight_albedo: float
    weight_eti: float
    green_area_threshold_m2: float
    provenance: pd.DataFrame


_SCALARS = {
    "green_area_cooling_distance_m": (0.0, 20000.0),
    "cc_weight_shade": (0.0, 1.0),
    "cc_weight_albedo": (0.0, 1.0),
    "cc_weight_eti": (0.0, 1.0),
    "green_area_threshold_ha": (0.0, 1000.0),
}


def load_params(params_dir: Path | str | None = None, legend: Legend | None = None) -> HeatParams:
    """Read and validate ``heat_biophysical.csv`` and ``heat_params.csv`` (an area's own copies in
    ``params_dir`` replace the built-in ones). With ``legend``, class keys are checked against it."""
    prov: list[dict] = []
    sp = params_path(PARAMS_FILE, params_dir)
    s = read_scalars(sp, _SCALARS, prov)
    if s["cc_weight_shade"] + s["cc_weight_albedo"] + s["cc_weight_eti"] <= 0:
        raise ConfigError(f"{sp}: the three CC weights add up to 0.")
    bp = params_path(BIOPHYSICAL_FILE, params_dir)
    df = read_table(bp, ["key", "kc", "albedo", "shade", "green_area", "ev", "source"])
    table: dict[str, dict[str, float]] = {}
    for line, key, r in class_rows(bp, df, legend):  # ConfigError for a repeated or unknown class
        row = {
            "kc": parse_float(bp, line, "kc", r["kc"], lo=0.0, hi=2.0),
            "albedo": parse_float(bp, line, "albedo", r["albedo"], lo=0.0, hi=1.0),
            "shade": parse_float(bp, line, "shade", r["shade"], lo=0.0, hi=1.0),
            "green_area": parse_float(bp, line, "green_area", r["green_area"], lo=0.0, hi=1.0),
        }
        if row["green_area"] not in (0.0, 1.0):
            raise ConfigError(f"{bp} line {line}: green_area must be 0 or 1, got {r['green_area']!r}.")
        table[key] = row  # type: ignore[assignment]
        prov.append({"table": bp.name, "item": key,
                     "value": f"kc={r['kc']} albedo={r['albedo']} shade={r['shade']} green_area={r['green_area']}",
                     "units": "-", "ev": r["ev"].strip(), "source": r["source"], "note": r.get("note", "")})
    return HeatParams(table, s["green_area_cooling_distance_m"], s["cc_weight_shade"], s["cc_weight_albedo"],
                      s["cc_weight_eti"], s["green_area_threshold_ha"] * 10000.0, pd.DataFrame(prov))


# --------------------------------------------------------------------------------------------
# the model (pure functions on numpy or dask arrays)
# --------------------------------------------------------------------------------------------

def evapotranspiration_index(kc: Any, et0: Any = None, et_max: Any = None) -> Any:
    """``ETI = Kc * ET0 / ET_max`` (UCM-UG eq. *eti*). Without ``et0``, ET0 is uniform: ``ETI = Kc``.
    ``et_max`` defaults to the maximum of ``et0`` (NaN ignored), as in InVEST.

    >>> float(evapotranspiration_index(np.float64(0.8), np.float64(4.0), 5.0))
    0.64
    """
    if et0 is None:
        return kc
    if et_max is None:
        et_max = xp_of(et0).nanmax(et0)
    return kc * et0 / et_max


def cooling_capacity(shade: Any, albedo: Any, eti: Any, weights: tuple[float, float, float] = (0.6, 0.2, 0.2)) -> Any:
    """``CC = w_s shade + w_a albedo + w_e ETI`` with the weights divided by their sum (InVEST
    ``calc_cc_op_factors``; UCM-UG eq. *coolingcapacity_factors*, defaults 0.6/0.2/0.2).

    >>> round(float(cooling_capacity(0.5, 0.2, 0.8)), 6)
    0.5
    """
    ws, wa, we = (float(w) for w in weights)
    total = ws + wa + we
    if total <= 0:
        raise ConfigError("The cooling-capacity weights add up to 0.")
    return (ws / total) * shade + (wa / total) * albedo + (we / total) * eti


def kernel_radius_px(cooling_distance_m: float, cell: float) -> int:
    """InVEST's ``int(numpy.round(d_cool / cell))`` (round half to even)."""
    return int(np.round(float(cooling_distance_m) / float(cell)))


def exponential_kernel(radius_px: int) -> np.ndarray:
    """``pygeoprocessing.kernels.exponential_decay_kernel(max_distance=5 r, expected_distance=r)``:
    ``exp(-d / r)`` for centre distances ``d <= 5 r`` (pixels), normalised to sum 1."""
    if radius_px <= 0:
        return np.ones((1, 1))
    max_d = 5 * radius_px
    d = distance_grid(1.0, int(math.floor(max_d)))  # pixels
    k = np.where(d <= max_d, np.exp(-d / radius_px), 0.0)
    return k / k.sum()


def dichotomous_kernel(radius_px: int) -> np.ndarray:
    """``pygeoprocessing.kernels.dichotomous_kernel(max_distance=r, normalize=False)``: 1 where the
    centre distance is ``<= r`` pixels, else 0."""
    d = distance_grid(1.0, max(int(radius_px), 0))  # pixels
    return (d <= radius_px).astype(np.float64)


def edge_corrected_convolve(sig: Any, valid: Any, kernel: np.ndarray) -> Any:
    """``pygeoprocessing.convolve_2d(ignore_nodata_and_edges=True, mask_nodata=True)``:
    ``(sum_j s_j k_ij) / (sum_j v_j k_ij) * sum(k)`` where ``v`` is the valid weight (0-1) of each
    cell and ``s`` the signal (0 where not valid); NaN where the cell itself is not valid or no
    kernel weight falls on valid cells."""
    k = np.asarray(kernel, dtype=np.float64)
    v = finite_or_zero(valid)
    num = fft_convolve(finite_or_zero(sig), k)
    den = fft_convolve(v, k)
    tol = 1e-9 * float(k.sum())
    ok = (v > 0) & (den > tol)
    return where(ok, num / where(ok, den, 1.0) * float(k.sum()), np.nan)


def green_area_sum(green_share: Any, valid: Any, cell: float, cooling_distance_m: float) -> Any:
    """``GA_i`` (m2): green cover within ``round(d_cool / cell)`` pixels (UCM-UG eq. 3a), edge
    corrected as in InVEST (see :func:`edge_corrected_convolve`)."""
    k = dichotomous_kernel(kernel_radius_px(cooling_distance_m, cell))
    return edge_corrected_convolve(green_share, valid, k) * (cell * cell)


def cc_park(cc_green: Any, valid: Any, cell: float, cooling_distance_m: float) -> Any:
    """``CC_park_i``: exponentially distance-weighted average of the CC carried by green cover
    (``cc_green = sum_{k green} f_k CC_k``; UCM-UG eq. 3b with InVEST's normalised kernel)."""
    k = exponential_kernel(kernel_radius_px(cooling_distance_m, cell))
    return edge_corrected_convolve(cc_green, valid, k)


def heat_mitigation(cc: Any, cc_park_: Any, ga_m2: Any, threshold_m2: float = 20000.0) -> Any:
    """``HM = CC if (CC >= CC_park or GA < threshold) else CC_park`` (UCM-UG eq. 4, InVEST
    ``hm_op``); NaN where CC is NaN.

    >>> heat_mitigation(np.array([0.2, 0.2, 0.5]), np.array([0.4, 0.4, 0.4]), np.array([3e4, 1e4, 3e4]))
    array([0.4, 0.2, 0.5])
    """
    keep = (cc >= cc_park_) | (ga_m2 < threshold_m2) | ~xp_of(cc_park_).isfinite(cc_park_)
    return where(keep, cc, cc_park_)


@dataclass(frozen=True)
class HeatOutputs:
    hm: Any
    cc: Any
    cc_park: Any
    green_area_m2: Any
    notes: list[str]


def heat_mitigation_index(fractions: Any, legend: Legend, params: HeatParams, cell: float,
                          et0: Any = None) -> HeatOutputs:
    """The whole chain on cover fractions ``(n_classes, H, W)`` (see the module docstring).
    Returns HM, CC, CC_park and GA (NaN where the cell has no known cover) and notes."""
    cw = class_weighted(fractions, legend, params.biophysical, ["kc", "albedo", "shade"])
    notes: list[str] = []
    if cw.missing:
        notes.append(f"classes without a row in {BIOPHYSICAL_FILE} were treated as no data: {', '.join(cw.missing)}")
    xp = xp_of(fractions, et0)
    ratio: Any
    if et0 is None:
        ratio = 1.0
        notes.append("no 'et0' (reference evapotranspiration) raster: ET0 taken as uniform, so ETI = Kc")
    else:
        e = et0.astype(np.float64)
        e_max = xp.nanmax(xp.where(cw.known > 1e-9, e, np.nan))
        ratio = e / e_max
    weights = (params.weight_shade, params.weight_albedo, params.weight_eti)
    cc = cooling_capacity(cw.values["shade"], cw.values["albedo"],
                          evapotranspiration_index(cw.values["kc"]) * ratio, weights)
    # CC carried by the green part of each cell: sum over green classes of f_k * CC_k
    green: Any = None
    cc_green: Any = None
    for i, c in enumerate(legend.classes):
        row = params.biophysical.get(c.key)
        if row is None or row["green_area"] != 1.0:
            continue
        f = finite_or_zero(fractions[i])
        cc_k = cooling_capacity(row["shade"], row["albedo"], row["kc"] * ratio, weights)
        green = f if green is None else green + f
        cc_green = f * cc_k if cc_green is None else cc_green + f * cc_k
    if green is None:
        green = cw.known * 0.0
        cc_green = cw.known * 0.0
        notes.append("no legend class is a green area (green_area = 1): no park cooling")
    if et0 is not None:
        cc_green = finite_or_zero(cc_green)
    park = cc_park(cc_green, cw.known, cell, params.cooling_distance_m)
    ga = green_area_sum(green, cw.known, cell, params.cooling_distance_m)
    hm = heat_mitigation(cc, park, ga, params.green_area_threshold_m2)
    if kernel_radius_px(params.cooling_distance_m, cell) == 0:
        notes.append(f"the cooling distance {params.cooling_distance_m:g} m is under half a cell ({cell:g} m): "
                     "parks only count in their own cell")
    return HeatOutputs(hm.astype(np.float32), cc.astype(np.float32), park.astype(np.float32),
                       ga.astype(np.float32), notes)


def compute(ctx: IndicatorContext) -> list[IndicatorResult]:
    """Heat-mitigation index and cooling capacity (InVEST UCM, daytime factors)."""
    params = load_params(ctx.params_dir, ctx.legend)
    check_fractions_shape(ctx)
    et0 = context_raster(ctx, "et0")
    out = heat_mitigation_index(ctx.fractions, ctx.legend, params, ctx.grid.cell, et0)
    notes = list(out.notes)
    notes.append(
        f"InVEST Urban Cooling (daytime 'factors' method): CC = {params.weight_shade:g} shade + "
        f"{params.weight_albedo:g} albedo + {params.weight_eti:g} ETI; parks count where at least "
        f"{params.green_area_threshold_m2 / 1e4:g} ha of green lies within {params.cooling_distance_m:g} m. "
        "As in InVEST, green cover need not be contiguous: many small green spaces within reach count like one "
        "park. Parameters per class are partly proposed values (see the heat_parameters table, ev column).")
    unknown = ctx.legend.keys.index("unknown") if "unknown" in ctx.legend.keys else None
    if unknown is not None:
        xp = xp_of(ctx.fractions)
        ins = scalar(xp.nansum(finite_or_zero(ctx.inside)))
        unk = scalar(xp.nansum(finite_or_zero(ctx.fractions[unknown])))
        if ins > 0 and unk / ins > 0.0005:
            notes.append(f"{unk / ins:.1%} of the area has no land-cover data: left out of the cell values "
                         "(and of the neighbourhood sums, which are corrected for the missing part as InVEST "
                         "does at no-data and edges)")
    notes.append("Cells near the area boundary: land cover outside the area is not known; the neighbourhood sums "
                 "are corrected for the missing part (InVEST edge handling), i.e. the surroundings are assumed "
                 "to resemble the part inside.")
    tables = {"heat_parameters": params.provenance}
    return [
        IndicatorResult(
            name="heat_mitigation", array=mask_outside(out.hm, ctx.dominant), units="index 0-1",
            description=("InVEST Urban Cooling heat-mitigation index HM: the cooling capacity of the cell, or the "
                         "distance-weighted cooling capacity of green areas >= 2 ha within the cooling distance where "
                         "that is higher (daytime)"),
            title_en="Heat mitigation (InVEST urban cooling)", title_nl="Verkoelend vermogen (InVEST)",
            palette="good_high", vmin=0.0, vmax=1.0, summarise=("mean",), tables=tables, notes=notes),
        IndicatorResult(
            name="cooling_capacity", array=mask_outside(out.cc, ctx.dominant), units="index 0-1",
            description="Cooling capacity CC = 0.6 shade + 0.2 albedo + 0.2 ETI of the cell's own land cover",
            title_en="Cooling capacity", title_nl="Koelcapaciteit", palette="good_high", vmin=0.0, vmax=1.0,
            summarise=("mean",)),
    ]
