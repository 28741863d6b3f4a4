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
LSN) and ``data/params/heat_params.csv`` (d_cool, weights, 2 ha threshold). The module also holds
small helpers shared with ``flooding`` and ``drought`` (parameter tables, numpy/dask
convolution with a halo).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
from scipy import signal

from ..errors import ConfigError, InputDataError
from ..landcover.legend import Legend
from .base import IndicatorContext, IndicatorResult, params_path

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

EV_MARKS = ("V", "S", "R", "P")
BIOPHYSICAL_FILE = "heat_biophysical.csv"
PARAMS_FILE = "heat_params.csv"
OUTSIDE = 255


# --------------------------------------------------------------------------------------------
# shared helpers: parameter tables and numpy/dask arrays (also used by flooding and drought)
# --------------------------------------------------------------------------------------------


def read_table(path: Path, required: list[str]) -> pd.DataFrame:
    """Read a parameter CSV (text columns; lines starting with ``#`` are comments) and check the
    required columns and that every row has an ``ev`` mark (V/S/R/P) and a ``source``."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except OSError as e:
        raise ConfigError(f"Cannot read the parameter table {path}: {e}") from e
    kept = [(n, t) for n, t in enumerate(lines, start=1) if t.strip() and not t.lstrip().startswith("#")]
    try:
        df = pd.read_csv(io.StringIO("\n".join(t for _, t in kept)), dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001 - any parse failure is a config error
        raise ConfigError(f"Cannot read the parameter table {path}: {e}") from e
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ConfigError(f"The parameter table {path} lacks the column(s) {missing}.",
                          hint=f"The table needs the columns {required}.")
    # file line of each row (a quoted field spanning lines breaks the mapping: count data rows then)
    file_lines = [n for n, _ in kept[1:]] if len(df) == len(kept) - 1 else list(range(2, len(df) + 2))
    for i, r in df.iterrows():
        line = file_lines[int(i)]
        if r["ev"].strip() not in EV_MARKS:
            raise ConfigError(f"{path} line {line}: ev must be one of {'/'.join(EV_MARKS)}, got {r['ev']!r}.",
                              hint="V verified, S secondary, R typical unverified value, P proposed default.")
        if not r["source"].strip():
            raise ConfigError(f"{path} line {line}: the source is empty.",
                              hint="Every parameter needs a source (or 'proposed (biostress)' with ev P).")
    df.index = pd.Index(file_lines[: len(df)]) - 2  # so that callers' ``int(i) + 2`` is the file line
    return df


def parse_float(path: Path, line: int, column: str, text: str, *, lo: float | None = None,
                hi: float | None = None, allow_empty: bool = False) -> float | None:
    """One number of a parameter table, range-checked, with an error naming file, row and column."""
    t = str(text).strip()
    if not t:
        if allow_empty:
            return None
        raise ConfigError(f"{path} line {line}: {column} is empty.")
    try:
        v = float(t)
    except ValueError:
        raise ConfigError(f"{path} line {line}: {column} {text!r} is not a number.") from None
    if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"{path} line {line}: {column} = {v:g} is outside "
                          f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}].")
    return v


def read_scalars(path: Path, spec: dict[str, tuple[float, float]], prov: list[dict]) -> dict[str, float]:
    """A ``parameter,value,units,ev,source,note`` table of numbers; every name in ``spec``
    (name -> (lo, hi)) must be present. Rows are appended to ``prov``."""
    df = read_table(path, ["parameter", "value", "units", "ev", "source"])
    out: dict[str, float] = {}
    for i, r in df.iterrows():
        name = r["parameter"].strip()
        if name not in spec:
            raise ConfigError(f"{path} line {int(i) + 2}: unknown parameter {name!r}.",
                              hint=f"Known parameters: {', '.join(spec)}")
        if name in out:
            raise ConfigError(f"{path} line {int(i) + 2}: parameter {name!r} is listed twice.")
        lo, hi = spec[name]
        out[name] = parse_float(path, int(i) + 2, "value", r["value"], lo=lo, hi=hi)  # type: ignore[assignment]
        prov.append({"table": path.name, "item": name, "value": r["value"], "units": r["units"],
                     "ev": r["ev"].strip(), "source": r["source"], "note": r.get("note", "")})
    absent = [k for k in spec if k not in out]
    if absent:
        raise ConfigError(f"The parameter table {path} lacks the parameter(s) {absent}.")
    return out


def is_dask(a: Any) -> bool:
    return isinstance(a, da.Array)


def xp_of(*arrays: Any) -> Any:
    """``dask.array`` if any argument is a dask array, else ``numpy``."""
    return da if any(is_dask(a) for a in arrays) else np


def where(cond: Any, a: Any, b: Any) -> Any:
    """``np.where`` that stays lazy for dask inputs."""
    return xp_of(cond, a, b).where(cond, a, b)


def finite_or_zero(a: Any) -> Any:
    """``a`` as float64 with NaN/inf replaced by 0."""
    a64 = a.astype(np.float64)
    return where(xp_of(a).isfinite(a64), a64, 0.0)


def like(template: Any, arr: np.ndarray) -> Any:
    """Wrap a numpy array as dask with the chunks of ``template`` when ``template`` is dask."""
    if is_dask(template):
        return da.from_array(arr, chunks=template.chunks[-2:])
    return arr


def mask_outside(arr: Any, dominant: Any) -> Any:
    """float32 copy of ``arr`` with NaN where ``dominant == 255`` (outside the area)."""
    return where(dominant == OUTSIDE, np.float32(np.nan), arr).astype(np.float32)


def fft_convolve(arr: Any, kernel: np.ndarray) -> Any:
    """2-D convolution of ``arr`` (no NaN) with an odd-sided ``kernel``, output aligned with
    ``arr``, zeros beyond the edges (``scipy.signal.oaconvolve``, mode 'same').

    A ``dask.array`` is convolved chunk by chunk with a halo of ``kernel.shape // 2`` cells
    (``dask.array.map_overlap``, boundary 0): the same result as in memory up to rounding.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(f"The kernel must be 2-D with odd sides, got shape {k.shape}.")
    ry, rx = k.shape[0] // 2, k.shape[1] // 2

    def _conv(block: np.ndarray) -> np.ndarray:
        b = np.asarray(block, dtype=np.float64)
        if not b.size:
            return b
        if k.size == 1:
            return b * k[0, 0]
        return signal.oaconvolve(b, k, mode="same")

    if is_dask(arr):
        if ry == 0 and rx == 0:
            return arr.astype(np.float64).map_blocks(_conv, dtype=np.float64)
        return arr.astype(np.float64).map_overlap(_conv, depth={0: ry, 1: rx}, boundary=0,
                                                  dtype=np.float64, trim=True)
    return _conv(arr)


def disc_mean(values: Any, weight: Any, cell: float, radius_m: float) -> Any:
    """Weighted mean of ``values`` over the disc of ``radius_m`` (cell centres within the
    radius) around each cell: ``sum_j w_j v_j / sum_j w_j``; NaN where the disc has no weight.
    Works on numpy and dask (halo = radius)."""
    n = int(math.floor(radius_m / cell + 1e-9))
    off = np.arange(-n, n + 1, dtype=np.float64) * cell
    k = (np.hypot(off[:, None], off[None, :]) <= radius_m + 1e-9).astype(np.float64)
    w = finite_or_zero(weight)
    num = fft_convolve(w * finite_or_zero(values), k)
    den = fft_convolve(w, k)
    return where(den > 1e-9, num / where(den > 1e-9, den, 1.0), np.nan)


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


def scalar(x: Any) -> float:
    return float(x.compute()) if is_dask(x) else float(x)


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
    for i, r in df.iterrows():
        line = int(i) + 2
        key = r["key"].strip()
        if key in table:
            raise ConfigError(f"{bp} line {line}: class {key!r} is listed twice.")
        if legend is not None:
            legend.by_key(key)  # ConfigError naming the legend's classes
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


def _pixel_distances(apothem: int) -> np.ndarray:
    off = np.arange(-apothem, apothem + 1, dtype=np.float64)
    return np.hypot(off[:, None], off[None, :])


def exponential_kernel(radius_px: int) -> np.ndarray:
    """``pygeoprocessing.kernels.exponential_decay_kernel(max_distance=5 r, expected_distance=r)``:
    ``exp(-d / r)`` for centre distances ``d <= 5 r`` (pixels), normalised to sum 1."""
    if radius_px <= 0:
        return np.ones((1, 1))
    max_d = 5 * radius_px
    d = _pixel_distances(int(math.floor(max_d)))
    k = np.where(d <= max_d, np.exp(-d / radius_px), 0.0)
    return k / k.sum()


def dichotomous_kernel(radius_px: int) -> np.ndarray:
    """``pygeoprocessing.kernels.dichotomous_kernel(max_distance=r, normalize=False)``: 1 where the
    centre distance is ``<= r`` pixels, else 0."""
    d = _pixel_distances(max(int(radius_px), 0))
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
    if tuple(ctx.fractions.shape[-2:]) != ctx.grid.shape:
        raise InputDataError(f"The land-cover fractions have shape {tuple(ctx.fractions.shape[-2:])}, "
                             f"the grid {ctx.grid.shape}.")
    et0 = (ctx.rasters or {}).get("et0")
    if et0 is not None and tuple(et0.shape) != ctx.grid.shape:
        raise InputDataError(f"The 'et0' raster has shape {tuple(et0.shape)}, the analysis grid {ctx.grid.shape}.",
                             hint="Resample it onto the analysis grid.")
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
