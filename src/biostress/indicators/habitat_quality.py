"""Habitat quality, degradation and rarity exactly as the InVEST Habitat Quality model 3.20 computes them.

Source: InVEST 3.20.2, ``src/natcap/invest/habitat_quality/habitat_quality.py`` (natcap/invest) with
``pygeoprocessing`` 2.4.11 ``distance_transform_edt``, and the user guide ``habitat_quality.rst``
(natcap/invest.users-guide, "HQ-UG"). The model, per land-cover (LULC) class ``j`` and cell ``x``:

Threat impact (HQ-UG eqs. 1-2)
    ``i_r(x) = 1 - d/d_max``                 (linear)
    ``i_r(x) = exp(-(2.99 / d_max) * d)``    (exponential; 5 % left at ``d_max``)
    and 0 where ``d > d_max``. ``d`` is the Euclidean distance from the centre of ``x`` to the
    centre of the **nearest** threat cell (a cell whose threat value is neither 0 nor nodata), in
    cells, and ``d_max = max_dist / cell size`` with ``max_dist`` in **metres** (the unit since
    InVEST 3.15; it was km before). Distances are whole-raster exact Euclidean distance
    transforms (Meijster et al. 2002 in InVEST, ``scipy.ndimage.distance_transform_edt`` here:
    identical float32 values, checked cell by cell).

    Since InVEST 3.13.0 the decay is applied to this distance, **not** by convolving the threat
    raster with a decay kernel (InVEST 3.3-3.12 did that; HISTORY.rst 3.13.0: "The model now uses
    an euclidean distance implementation for decaying threat rasters [...] the convolution
    implementation [...] was never properly documented in the User's Guide"). So the threat
    value ``r_y`` of HQ-UG eq. 3 only decides *whether* a cell is a source (``r_y != 0``): an
    intensity of 0.1 and 1 give the same result, and several sources do not add up.

Total degradation (HQ-UG eq. 3 as implemented)
    ``D_xj = sum_r (w_r / sum_r w_r) * i_r(x) * beta_x * S_jr``
    ``w_r`` threat weight, ``beta_x`` accessibility (0-1, 1 where no access polygon covers the
    cell centre), ``S_jr`` sensitivity of class ``j`` to threat ``r`` (0-1). Unitless, 0-1.

Habitat quality (HQ-UG eq. 4)
    ``Q_xj = H_j * (1 - D_xj**z / (D_xj**z + k**z))``, ``z = 2.5``, ``k`` the half-saturation
    constant (``Q = H_j / 2`` where ``D = k``). Unitless, 0-1.

Rarity (HQ-UG eqs. 5-6)
    ``R_j = 1 - N_j / (N_j_baseline + N_j)`` (``N`` = area of class ``j``; cells counted only
    where both maps have data), ``R_j = 0`` for a class absent from the baseline; ``R_x = R_j`` of
    the cell's class. 0.5 = no change, > 0.5 the class became rarer.

Nodata: outputs are nodata (NaN here) where the LULC is nodata (InVEST's ``raster_map`` propagates
the nodata of the habitat and sensitivity rasters). Threat cells that are nodata are not
sources. One deliberate difference: InVEST 3.20 counts threat cells holding NaN as sources
(``~isclose(NaN, nodata) & (NaN != 0)`` is true); here NaN is never a source.

Precision and validation: distances and impacts are float32 as in InVEST (same values), the sums
and the quality float64 (InVEST: float32), so outputs differ from InVEST's by float32 rounding
only. ``bench/validate_invest_hq.py`` runs both on 8.6-million-cell cases built from the
Dordrecht land cover: identical nodata masks, max abs difference <= 2e-7 for degradation, quality
and rarity. Speed: no intermediate rasters are written; the distance transform (scipy) is most of
the run time (``bench/bench_habitat_quality.py``).

Entry points
    * pure functions on numpy or dask arrays: :func:`threat_impact`, :func:`degradation`,
      :func:`habitat_suitability`, :func:`quality`, :func:`rarity` (dask: ``map_overlap`` with a
      halo of ``ceil(d_max) + 1`` cells, identical to the in-memory result);
    * :func:`run_invest_files`: the ``biostress habitat-quality`` command, which reads InVEST 3.20's
      own input files and writes its outputs under the same names (``deg_sum_c.tif``,
      ``quality_c.tif``, ``rarity_c.tif``, ``rarity_c.csv``, and ``_f`` for a future LULC);
    * :func:`compute`: the pipeline indicator on the harmonised land cover, with the NL urban
      parameter tables ``data/params/habitat_quality_*.csv`` (see the README there): threats are
      derived from cover fractions and the model is evaluated per class fraction (below).

Fraction-weighted model (pipeline)
    The pipeline knows the cover fraction ``f_xj`` of every class in a cell, not one class.
    Each fraction is treated as a piece of the cell of class ``j`` at the cell's position::

        D_x = sum_j f'_xj * D_xj            Q_x = sum_j f'_xj * H_j * (1 - D_xj**z / (D_xj**z + k**z))

    with ``f'`` the fractions renormalised over the classes with data (class ``unknown`` left out).
    A cell of a single class gives exactly InVEST's value. Threat sources are cells where the
    summed fraction of the threat's source classes reaches ``min_fraction`` (InVEST uses presence
    only, see above).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import ndimage

from ..errors import BiostressError, ConfigError, InputDataError
from ..grid import Grid
from .base import params_path
from .tables import EV_MARKS as EV_MARKS  # re-exported (defined in tables)
from .tables import read_table

if TYPE_CHECKING:  # imported lazily: the command-line path does not need geopandas
    from ..landcover.legend import Legend
    from .base import IndicatorContext, IndicatorResult

__all__ = [
    "DECAY_CONSTANT",
    "SCALING_PARAM",
    "SensitivityTable",
    "Threat",
    "compute",
    "decay",
    "degradation",
    "habitat_suitability",
    "load_params",
    "quality",
    "quality_from_fractions",
    "rarity",
    "read_sensitivity_table",
    "read_threats_table",
    "run_invest_files",
    "threat_impact",
]

#: HQ-UG eq. 4: ``z`` of the half-saturation function, hard-coded in InVEST (``_SCALING_PARAM``).
SCALING_PARAM = 2.5
#: HQ-UG eq. 2: exponential decay constant; ``exp(-2.99) = 0.050``, i.e. 5 % left at ``max_dist``.
DECAY_CONSTANT = 2.99
#: nodata InVEST 3.20 writes: deg_sum/quality via ``raster_map`` (float32 max), rarity via
#: ``reclassify_raster(..., _OUT_NODATA)`` (float32 min).
INVEST_NODATA = float(np.finfo(np.float32).max)
INVEST_RARITY_NODATA = float(np.finfo(np.float32).min)
DECAYS = ("linear", "exponential")
THREATS_FILE = "habitat_quality_threats.csv"
SENSITIVITY_FILE = "habitat_quality_sensitivity.csv"
PARAMS_FILE = "habitat_quality_params.csv"
OUTSIDE = 255


# --------------------------------------------------------------------------------------------
# parameter objects
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Threat:
    """One row of a threats table. ``max_dist`` in metres (InVEST 3.20 unit)."""

    name: str
    max_dist: float
    weight: float
    decay: str  # "linear" | "exponential"
    source_classes: tuple[str, ...] = ()  # pipeline only: legend keys whose fractions are the source
    min_fraction: float = 0.5  # pipeline only: summed fraction from which a cell is a source
    ev: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.decay not in DECAYS:
            raise ConfigError(f"Threat '{self.name}': decay must be 'linear' or 'exponential', got {self.decay!r}.")
        if not (math.isfinite(self.max_dist) and self.max_dist > 0):
            raise ConfigError(f"Threat '{self.name}': max_dist must be a positive distance in metres, "
                              f"got {self.max_dist}.")
        if not (math.isfinite(self.weight) and 0 <= self.weight <= 1):
            raise ConfigError(f"Threat '{self.name}': weight must be between 0 and 1, got {self.weight}.")


@dataclass(frozen=True)
class SensitivityTable:
    """Habitat suitability ``H_j`` and sensitivity ``S_jr`` per LULC code.

    ``codes`` are the LULC codes (sorted), ``habitat[i]`` and ``sensitivity[threat][i]`` belong
    to ``codes[i]``."""

    codes: np.ndarray
    habitat: np.ndarray
    sensitivity: dict[str, np.ndarray]
    names: tuple[str, ...] = ()
    path: str = "<sensitivity table>"

    @classmethod
    def from_frame(cls, df: pd.DataFrame, threats: Sequence[str] = (), path: str = "<sensitivity table>"
                   ) -> SensitivityTable:
        """From an InVEST-shaped frame indexed by LULC code with ``habitat`` and one column per threat."""
        cols = {str(c).strip().lower(): c for c in df.columns}
        if "habitat" not in cols:
            raise InputDataError(f"The sensitivity table {path} has no 'habitat' column.",
                                 hint="Columns: lucode, name (optional), habitat, one column per threat.")
        missing = [t for t in threats if t.lower() not in cols]
        if missing:
            raise InputDataError(f"The sensitivity table {path} has no column for the threat(s) {missing}.",
                                 hint=f"Every threat of the threats table needs a sensitivity column; found {list(cols)}.")
        try:
            codes = np.asarray([int(v) for v in df.index], dtype=np.int64)
        except (TypeError, ValueError):
            raise InputDataError(f"The sensitivity table {path}: LULC codes must be integers, got "
                                 f"{list(df.index)[:10]}.") from None
        if len(set(codes.tolist())) != len(codes):
            raise InputDataError(f"The sensitivity table {path} lists a LULC code twice.")
        order = np.argsort(codes)

        def col(name: str) -> np.ndarray:
            v = pd.to_numeric(df[cols[name.lower()]], errors="coerce").to_numpy(dtype=np.float64)
            if not np.all(np.isfinite(v)) or np.any(v < 0) or np.any(v > 1):
                bad = [int(codes[i]) for i in np.flatnonzero(~(np.isfinite(v) & (v >= 0) & (v <= 1)))[:10]]
                raise InputDataError(f"The sensitivity table {path}: column '{name}' must hold numbers "
                                     f"between 0 and 1 (LULC code(s) {bad}).")
            return v[order]

        names = tuple(str(df[cols["name"]].iloc[i]) for i in order) if "name" in cols else ()
        return cls(codes[order], col("habitat"), {t: col(t) for t in threats}, names, path)

    def index_of(self, lulc: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Row index of every valid cell's code (0 for invalid cells); raises :class:`InputDataError`
        for codes not in the table. A lookup table is used for codes 0..2**20, else a binary search."""
        lulc = np.asarray(lulc)
        lo, hi = int(self.codes[0]), int(self.codes[-1])
        if lo >= 0 and hi < 2**20:
            lut = np.full(hi + 2, -1, dtype=np.int32)
            lut[self.codes] = np.arange(len(self.codes), dtype=np.int32)
            if lulc.size and (lulc.min() < 0 or lulc.max() > hi):  # codes outside 0..hi: the last slot, -1
                lulc_safe = np.where((lulc >= 0) & (lulc <= hi), lulc, hi + 1)
            else:
                lulc_safe = lulc
            idx = lut[lulc_safe]
            known = idx >= 0
        else:
            idx = np.clip(np.searchsorted(self.codes, lulc), 0, len(self.codes) - 1).astype(np.int32)
            known = self.codes[idx] == lulc
        bad = valid & ~known
        if bad.any():
            unknown = sorted({int(v) for v in np.unique(lulc[bad])})
            raise InputDataError(
                f"The LULC raster has code(s) {unknown[:20]} that are not in the sensitivity table {self.path}.",
                hint="Add a row (lucode, habitat and a sensitivity per threat) for each of them, or set them "
                     "to the raster's nodata value.")
        idx[~valid] = 0
        return idx


# --------------------------------------------------------------------------------------------
# array helpers (numpy and dask)
# --------------------------------------------------------------------------------------------

def _is_dask(*arrays: Any) -> bool:
    """Whether any argument is a ``dask.array.Array`` (without importing dask, which is slow to load)."""
    return any(type(a).__module__.startswith("dask.") for a in arrays)


def _da() -> Any:
    import dask.array

    return dask.array


def _valid_lulc(lulc: np.ndarray, nodata: float | None) -> np.ndarray:
    if nodata is None:
        return np.ones(lulc.shape, dtype=bool)
    if np.isnan(nodata):
        return ~np.isnan(lulc) if lulc.dtype.kind == "f" else np.ones(lulc.shape, dtype=bool)
    return lulc != nodata


def _check_integral(lulc: np.ndarray, valid: np.ndarray) -> np.ndarray:
    if lulc.dtype.kind in "iu":
        return lulc
    if lulc.dtype.kind == "b":
        return lulc.astype(np.int8)
    v = lulc[valid]
    if v.size and not np.all(np.isfinite(v) & (v == np.round(v))):
        raise InputDataError("The LULC raster holds values that are not whole numbers (LULC codes must be integers).")
    return np.where(valid, lulc, 0).astype(np.int64)


def _reclass_block(lulc: np.ndarray, table: SensitivityTable, values: np.ndarray, nodata: float | None) -> np.ndarray:
    lulc = np.asarray(lulc)
    valid = _valid_lulc(lulc, nodata)
    codes = _check_integral(lulc, valid)
    out = values[table.index_of(codes, valid)].astype(np.float64)
    out[~valid] = np.nan
    return out


def _reclass(lulc: Any, table: SensitivityTable, values: np.ndarray, nodata: float | None) -> Any:
    """``values[code]`` per cell (float64), NaN where ``lulc == nodata``; numpy or dask."""
    if _is_dask(lulc):
        return lulc.map_blocks(_reclass_block, table, values, nodata, dtype=np.float64)
    return _reclass_block(lulc, table, values, nodata)


def threat_sources(threat: np.ndarray, nodata: float | None = None) -> np.ndarray:
    """Cells that are a threat source: value neither 0 nor nodata (``pygeoprocessing``'s rule,
    ``~isclose(value, nodata) & (value != 0)``) nor NaN. Values outside 0-1 raise
    :class:`InputDataError` (InVEST 3.20 refuses them too)."""
    t = np.asarray(threat)
    valid = ~np.isnan(t) if t.dtype.kind == "f" else np.ones(t.shape, dtype=bool)
    if nodata is not None and not np.isnan(nodata):
        valid &= ~np.isclose(t, nodata)
    bad = (t < 0) | (t > 1)
    bad &= valid
    if bad.any():
        v = t[bad]
        raise InputDataError(f"Threat rasters must hold values between 0 and 1 (found {v.min():g} to {v.max():g}).",
                             hint="Scale the threat to 0-1 or set cells without data to the raster's nodata value.")
    valid &= t != 0
    return valid


def decay(distance_cells: np.ndarray, max_dist_cells: float, kind: str, *, out: np.ndarray | None = None) -> np.ndarray:
    """Threat impact ``i`` at a distance (in cells) from the nearest source (HQ-UG eqs. 1-2).

    ``linear``: ``1 - d / d_max``; ``exponential``: ``exp(-2.99 d / d_max)``; 0 where
    ``d > d_max``. Computed in float32 in the same order as InVEST 3.20's ``_decay_distance``
    (whose float32 distance raster and Python-float constants make numpy work in float32), so
    the values are InVEST's to the last bit or within a float32 rounding (< 1e-7). ``out``: a
    float32 array to write into (may be ``distance_cells`` itself).
    """
    if kind not in DECAYS:
        raise ConfigError(f"Unknown decay {kind!r}: use 'linear' or 'exponential'.")
    d = np.asarray(distance_cells, dtype=np.float32)
    m = np.float32(max_dist_cells)
    cut = d > m
    if out is None:
        out = np.empty(d.shape, dtype=np.float32)
    if kind == "linear":
        np.subtract(m, d, out=out)
        out /= m
    else:
        np.multiply(d, np.float32(-DECAY_CONSTANT), out=out)
        out /= m
        np.exp(out, out=out)
    out[cut] = 0.0
    return out


def nearest_source_distance2(sources: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance (cells², integer) from every cell to the nearest source cell.

    ``scipy.ndimage.distance_transform_edt``'s exact feature transform (the index of the nearest
    source) with the squared distance taken from the indices, which skips scipy's float64
    post-processing (int32 arithmetic while it cannot overflow). Requires at least one source."""
    ft = ndimage.distance_transform_edt(~sources, return_distances=False, return_indices=True)
    it = np.int32 if max(sources.shape) < 32768 else np.int64
    ft = ft.astype(it, copy=False)
    # in place on the index arrays: large temporaries cost more than the arithmetic (page faults)
    dr, dc = ft[0], ft[1]
    dr -= np.arange(sources.shape[0], dtype=it)[:, None]
    dr *= dr
    dc -= np.arange(sources.shape[1], dtype=it)[None, :]
    dc *= dc
    dr += dc
    return dr


def _impact_block(threat: np.ndarray, max_dist_cells: float, kind: str, nodata: float | None) -> np.ndarray:
    src = threat_sources(threat, nodata)
    if not src.any():
        return np.zeros(src.shape, dtype=np.float32)
    # the distance InVEST's float32 distance raster holds: sqrt of the exact integer d², rounded once
    dist = nearest_source_distance2(src).astype(np.float32)
    np.sqrt(dist, out=dist)
    return decay(dist, max_dist_cells, kind, out=dist)


def halo_cells(max_dist: float, cell_size: float) -> int:
    """Halo (cells) a chunk needs so that every source within ``max_dist`` metres is seen."""
    return int(math.ceil(max_dist / cell_size)) + 1


def threat_impact(threat: Any, max_dist: float, decay_kind: str, cell_size: float,
                  nodata: float | None = None) -> Any:
    """Impact ``i_r(x)`` (0-1, float32 as in InVEST) of one threat on every cell (HQ-UG eqs. 1-2).

    ``threat``: threat raster (0-1; a source is a cell with a value other than 0 and nodata),
    ``max_dist``: reach in metres, ``cell_size``: metres per cell (square cells). The distance is
    to the nearest source cell (centre to centre); beyond ``max_dist`` the impact is 0. Cells
    beyond the array edge are no source. A dask array is processed chunk by chunk with a halo of
    :func:`halo_cells` cells, which gives exactly the in-memory result.
    """
    if not (cell_size > 0):
        raise ConfigError(f"The cell size must be positive, got {cell_size}.")
    max_cells = max_dist / cell_size
    if _is_dask(threat):
        halo = halo_cells(max_dist, cell_size)
        # a halo as wide as the array already shows every chunk the whole array (dask refuses more)
        depth = {0: min(halo, threat.shape[0]), 1: min(halo, threat.shape[1])}
        # cells beyond the raster edge are filled with 0: no source there
        fn = partial(_impact_block, max_dist_cells=max_cells, kind=decay_kind, nodata=nodata)
        return threat.map_overlap(fn, depth=depth, boundary=0, trim=True, dtype=np.float32)
    return _impact_block(threat, max_cells, decay_kind, nodata)


def _as_threats(threat_table: Any) -> dict[str, Threat]:
    """Accept ``{name: Threat}``, a list of :class:`Threat`, or an InVEST-shaped frame indexed by
    threat with columns ``max_dist`` (m), ``weight``, ``decay``."""
    if isinstance(threat_table, pd.DataFrame):
        out = {}
        cols = {str(c).strip().lower(): c for c in threat_table.columns}
        for name, r in threat_table.iterrows():
            out[str(name).strip().lower()] = Threat(str(name).strip().lower(), float(r[cols["max_dist"]]),
                                                    float(r[cols["weight"]]), str(r[cols["decay"]]).strip().lower())
        return out
    if isinstance(threat_table, Mapping):
        return dict(threat_table)
    return {t.name: t for t in threat_table}


def _as_sensitivity(table: Any, threats: Sequence[str]) -> SensitivityTable:
    if isinstance(table, SensitivityTable):
        missing = [t for t in threats if t not in table.sensitivity]
        if missing:
            raise InputDataError(f"The sensitivity table {table.path} has no column for the threat(s) {missing}.")
        return table
    return SensitivityTable.from_frame(table, threats)


def normalised_weights(threats: Mapping[str, Threat]) -> dict[str, float]:
    """``w_r / sum_r w_r`` (HQ-UG eq. 3)."""
    total = sum(t.weight for t in threats.values())
    if not total > 0:
        raise ConfigError("The threat weights add up to 0: at least one threat needs a weight above 0.")
    return {n: t.weight / total for n, t in threats.items()}


# --------------------------------------------------------------------------------------------
# the model (pure functions)
# --------------------------------------------------------------------------------------------

def degradation(lulc: Any, threats: Mapping[str, Any], threat_table: Any, sensitivity_table: Any,
                access: Any = None, cell_size: float = 1.0, *, lulc_nodata: float | None = None,
                threat_nodata: Mapping[str, float | None] | None = None) -> Any:
    """Total degradation ``D_xj = sum_r (w_r / sum w) * i_r(x) * beta_x * S_jr`` (HQ-UG eq. 3 as
    InVEST 3.20 implements it; unitless, 0-1), float64, NaN where ``lulc == lulc_nodata``.

    Args:
        lulc: LULC codes (H, W), integer (numpy or dask).
        threats: threat name -> threat raster (H, W) on the same grid, values 0-1 (0 = no source).
        threat_table: ``{name: Threat}`` or an InVEST-shaped frame (index threat; max_dist in m,
            weight, decay).
        sensitivity_table: :class:`SensitivityTable` or an InVEST frame indexed by lucode
            (``habitat`` and one column per threat).
        access: accessibility ``beta_x`` (0-1) per cell, or None for 1 everywhere.
        cell_size: metres per (square) cell.
        lulc_nodata: LULC nodata value; threat_nodata: threat name -> nodata value.
    """
    tt = _as_threats(threat_table)
    missing = [n for n in tt if n not in threats]
    if missing:
        raise InputDataError(f"No threat raster for the threat(s) {missing}.")
    sens = _as_sensitivity(sensitivity_table, list(tt))
    weights = normalised_weights(tt)
    nod = dict(threat_nodata or {})
    for name in tt:
        if tuple(threats[name].shape) != tuple(lulc.shape):
            raise InputDataError(f"The threat raster '{name}' has shape {tuple(threats[name].shape)}, "
                                 f"the LULC {tuple(lulc.shape)}.")
    if access is not None and tuple(access.shape) != tuple(lulc.shape):
        raise InputDataError(f"The access raster has shape {tuple(access.shape)}, the LULC {tuple(lulc.shape)}.")
    if not tt:
        raise ConfigError("The threats table lists no threat.")
    dask_mode = _is_dask(lulc, access, *threats.values())
    if not dask_mode:  # look the codes up once
        lulc_np = np.asarray(lulc)
        valid = _valid_lulc(lulc_np, lulc_nodata)
        idx = sens.index_of(_check_integral(lulc_np, valid), valid)
    total: Any = None
    buf = None
    for name, t in tt.items():
        imp = threat_impact(threats[name], t.max_dist, t.decay, cell_size, nod.get(name))
        coef = sens.sensitivity[name] * weights[name]
        if dask_mode:
            term = imp * _reclass(lulc, sens, coef, lulc_nodata)
            total = term if total is None else total + term
            continue
        # numpy: in place, one float64 buffer (large temporaries cost more than the arithmetic)
        if total is None:
            total = np.take(coef, idx, mode="clip")  # idx is always in range
            total *= imp
        else:
            buf = np.take(coef, idx, out=buf, mode="clip")
            buf *= imp
            total += buf
        del imp
    if not dask_mode:
        total[~valid] = np.nan
    if access is not None:
        total = total * access
    return total


def habitat_suitability(lulc: Any, sensitivity_table: Any, *, lulc_nodata: float | None = None) -> Any:
    """``H_j`` of every cell's class (0-1, float64), NaN where ``lulc == lulc_nodata``."""
    sens = _as_sensitivity(sensitivity_table, [])
    return _reclass(lulc, sens, sens.habitat, lulc_nodata)


def quality(degradation: Any, habitat: Any, half_saturation: float) -> Any:
    """Habitat quality ``Q_xj = H_j * (1 - D**z / (D**z + k**z))``, ``z = 2.5`` (HQ-UG eq. 4;
    unitless, 0-1). ``k`` (> 0) is the half-saturation constant: ``Q = H/2`` where ``D = k``
    (HQ-UG default 0.05; rule of thumb: half of the largest ``D`` of a first run)."""
    if not (half_saturation > 0 and math.isfinite(half_saturation)):
        raise ConfigError(f"The half-saturation constant must be a positive number, got {half_saturation}.")
    ksq = half_saturation ** SCALING_PARAM
    if isinstance(degradation, np.ndarray) and degradation.dtype.kind == "f" and degradation.ndim:
        q = np.power(degradation, SCALING_PARAM)  # in place from here: no large temporaries
        den = q + ksq
        q /= den
        del den
        np.subtract(1.0, q, out=q)
        q *= habitat
        return q
    dz = degradation ** SCALING_PARAM
    return habitat * (1.0 - dz / (dz + ksq))


def _np_counts(arr: np.ndarray, valid: np.ndarray) -> dict[int, int]:
    vals, counts = np.unique(np.asarray(arr)[np.asarray(valid)].astype(np.int64), return_counts=True)
    return {int(v): int(c) for v, c in zip(vals, counts, strict=True)}


def _code_counts(arr: Any, valid: Any) -> dict[int, int]:
    """Number of valid cells per code (numpy, or dask block by block)."""
    if not _is_dask(arr, valid):
        return _np_counts(arr, valid)
    import dask

    da = _da()
    arr = da.asarray(arr)
    valid = da.asarray(valid).rechunk(arr.chunks)
    parts = [dask.delayed(_np_counts)(a, v) for a, v in
             zip(arr.to_delayed().ravel(), valid.to_delayed().ravel(), strict=True)]
    out: dict[int, int] = {}
    for part in dask.compute(*parts):
        for k, v in part.items():
            out[k] = out.get(k, 0) + v
    return out


def rarity(lulc: Any, lulc_baseline: Any, *, lulc_nodata: float | None = None,
           baseline_nodata: float | None = None, cell_area: float = 1.0,
           baseline_cell_area: float | None = None) -> tuple[Any, dict[int, float]]:
    """Habitat rarity (HQ-UG eqs. 5-6, InVEST 3.20 ``_compute_rarity_operation``).

    ``R_j = 1 - N_j / (N_j_baseline + N_j)`` with ``N`` the area (cell count x cell area) of class
    ``j``; the current map is first masked to where the baseline has data; ``R_j = 0`` for a
    class absent from the baseline. Returns the raster ``R_x`` (float64, NaN where either map
    is nodata) and ``{code: R_j}``.
    """
    if tuple(lulc.shape) != tuple(lulc_baseline.shape):
        raise InputDataError(f"The baseline LULC has shape {tuple(lulc_baseline.shape)}, the LULC {tuple(lulc.shape)}.")
    xp = _da() if _is_dask(lulc, lulc_baseline) else np
    vb = _mask(lulc_baseline, baseline_nodata, xp)
    vx = _mask(lulc, lulc_nodata, xp) & vb
    nb = _code_counts(lulc_baseline, vb)
    nx = _code_counts(lulc, vx)
    ab = cell_area if baseline_cell_area is None else baseline_cell_area
    r = {}
    for code, n in nx.items():
        if code in nb:
            num = n * cell_area
            r[code] = 1.0 - num / (nb[code] * ab + num)
        else:
            r[code] = 0.0
    codes = np.asarray(sorted(r), dtype=np.int64)
    vals = np.asarray([r[int(c)] for c in codes], dtype=np.float64)
    table = SensitivityTable(codes if codes.size else np.zeros(1, np.int64),
                             vals if vals.size else np.zeros(1), {}, path="<rarity>")

    def block(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        out = np.full(x.shape, np.nan)
        if valid.any():
            idx = table.index_of(x.astype(np.int64), valid)
            out[valid] = table.habitat[idx[valid]]
        return out

    if xp is not np:
        return xp.map_blocks(block, xp.asarray(lulc), vx, dtype=np.float64), r
    return block(np.asarray(lulc), vx), r


def _mask(arr: Any, nodata: float | None, xp: Any) -> Any:
    if nodata is None:
        return np.ones(arr.shape, dtype=bool) if xp is np else xp.ones(arr.shape, dtype=bool, chunks=arr.chunks)
    if np.isnan(nodata):
        return ~xp.isnan(arr)
    return arr != nodata


def quality_from_fractions(fractions: Any, habitat: np.ndarray, sensitivity: np.ndarray,
                           impacts: Sequence[Any], weights: Sequence[float], half_saturation: float,
                           access: Any = None) -> tuple[Any, Any]:
    """Fraction-weighted degradation and quality (see the module docstring).

    Args:
        fractions: (n_classes, H, W) cover fractions, already renormalised over the classes with
            data (NaN where the cell has none).
        habitat: (n_classes,) ``H_j``; sensitivity: (n_threats, n_classes) ``S_jr``.
        impacts: per threat ``i_r(x)`` (H, W); weights: normalised ``w_r / sum w``.
        half_saturation: ``k``; access: ``beta_x`` or None.

    Returns ``(D_x, Q_x)`` with ``D_x = sum_j f_j D_xj`` and ``Q_x = sum_j f_j Q_xj``.
    """
    d_tot: Any = None
    q_tot: Any = None
    for j in range(fractions.shape[0]):
        coef = [float(w) * float(sensitivity[r, j]) for r, w in enumerate(weights)]
        dj: Any = 0.0
        for c, imp in zip(coef, impacts, strict=True):
            if c:
                dj = dj + c * imp
        if access is not None:
            dj = dj * access
        f = fractions[j]
        qj = quality(dj, float(habitat[j]), half_saturation)
        d_tot = f * dj if d_tot is None else d_tot + f * dj
        q_tot = f * qj if q_tot is None else q_tot + f * qj
    return d_tot, q_tot


# --------------------------------------------------------------------------------------------
# InVEST input files (the drop-in command)
# --------------------------------------------------------------------------------------------

def _read_invest_csv(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV as InVEST does: separator sniffed, UTF-8 with or without BOM, headers stripped
    and lower-cased, empty rows dropped."""
    if not path.is_file():
        raise InputDataError(f"The {what} {path} does not exist or is not a file.")
    try:
        df = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig", index_col=False, dtype=str,
                         keep_default_na=False)
    except UnicodeDecodeError:
        raise InputDataError(f"The {what} {path} must be encoded as UTF-8 or ASCII.") from None
    except Exception as e:  # noqa: BLE001 - any parse failure is reported as such
        raise InputDataError(f"Cannot read the {what} {path}: {e}") from e
    df = df[[c for c in df.columns if not str(c).startswith("Unnamed:")]]
    df.columns = [str(c).strip().lower() for c in df.columns]
    df = df.apply(lambda s: s.str.strip())
    df = df[~(df == "").all(axis=1)].reset_index(drop=True)
    if df.columns.duplicated().any():
        raise InputDataError(f"The {what} {path} repeats the column(s) {sorted(set(df.columns[df.columns.duplicated()]))}.")
    return df


def _number(path: Path, line: int, column: str, text: str, lo: float | None = None, hi: float | None = None) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputDataError(f"{path} line {line}: {column} {text!r} is not a number.") from None
    if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        raise InputDataError(f"{path} line {line}: {column} = {v:g} is outside [{lo}, {hi}].")
    return v


def read_threats_table(path: Path | str) -> tuple[dict[str, Threat], dict[str, dict[str, Path | None]]]:
    """Read an InVEST 3.20 threats table.

    Columns (case-insensitive): ``threat``, ``max_dist`` (metres), ``weight`` (0-1), ``decay``
    (linear/exponential), ``cur_path`` and optional ``fut_path``, ``base_path`` (paths absolute or
    relative to the CSV). Returns the threats and ``{scenario: {threat: path or None}}`` for the
    scenarios ``cur``, ``fut``, ``bas``.
    """
    path = Path(path)
    df = _read_invest_csv(path, "threats table")
    required = ["threat", "max_dist", "weight", "decay", "cur_path"]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputDataError(f"The threats table {path} lacks the column(s) {missing}.",
                             hint="InVEST 3.20 threats tables have: threat, max_dist (m), weight, decay, cur_path "
                                  "[, fut_path, base_path].")
    threats: dict[str, Threat] = {}
    paths: dict[str, dict[str, Path | None]] = {"cur": {}, "fut": {}, "bas": {}}
    for i, r in df.iterrows():
        line = int(i) + 2
        name = r["threat"].lower()
        if not name:
            raise InputDataError(f"{path} line {line}: the threat name is empty.")
        if name in threats:
            raise InputDataError(f"{path} line {line}: the threat '{name}' is listed twice.")
        md = _number(path, line, "max_dist", r["max_dist"], lo=0.0)
        if md <= 0:
            raise InputDataError(f"{path} line {line}: max_dist must be above 0 (metres).")
        w = _number(path, line, "weight", r["weight"], lo=0.0, hi=1.0)
        dk = r["decay"].lower()
        if dk not in DECAYS:
            raise InputDataError(f"{path} line {line}: decay must be 'linear' or 'exponential', got {r['decay']!r}.")
        threats[name] = Threat(name, md, w, dk)
        for scen, col in (("cur", "cur_path"), ("fut", "fut_path"), ("bas", "base_path")):
            p = r[col] if col in df.columns else ""
            paths[scen][name] = (path.parent / p).resolve() if p else None
    if not threats:
        raise InputDataError(f"The threats table {path} lists no threat.")
    return threats, paths


def read_sensitivity_table(path: Path | str, threats: Sequence[str]) -> SensitivityTable:
    """Read an InVEST 3.20 sensitivity table: ``lucode``, ``name`` (optional), ``habitat`` (0-1)
    and one column per threat (0-1), headers case-insensitive."""
    path = Path(path)
    df = _read_invest_csv(path, "sensitivity table")
    if "lucode" not in df.columns:
        hint = " (InVEST before 3.15 called it 'lulc')" if "lulc" in df.columns else ""
        raise InputDataError(f"The sensitivity table {path} has no 'lucode' column{hint}.",
                             hint="Columns: lucode, name (optional), habitat, one column per threat.")
    for i, r in df.iterrows():
        if not re.fullmatch(r"[+-]?\d+(\.0*)?", r["lucode"]):
            raise InputDataError(f"{path} line {int(i) + 2}: lucode {r['lucode']!r} is not an integer.")
    df = df.set_index(df["lucode"].astype(float).astype(np.int64)).drop(columns="lucode")
    return SensitivityTable.from_frame(df, list(threats), str(path))


@dataclass
class _Raster:
    array: np.ndarray
    nodata: float | None
    grid: Grid
    crs: Any
    path: Path


def _read_raster(path: Path, what: str) -> _Raster:
    import rasterio

    if not Path(path).is_file():
        raise InputDataError(f"The {what} {path} does not exist or is not a file.")
    try:
        with rasterio.open(path) as src:
            if src.count < 1:
                raise InputDataError(f"The {what} {path} has no band.")
            t = src.transform
            if t.b != 0 or t.d != 0 or t.e >= 0:
                raise InputDataError(f"The {what} {path} is not north-up (rotated or flipped).",
                                     hint="Warp it to a north-up grid first (gdalwarp).")
            if not math.isclose(abs(t.a), abs(t.e), rel_tol=1e-9):
                raise InputDataError(f"The {what} {path} has non-square cells ({t.a:g} x {-t.e:g}).",
                                     hint="Resample it to square cells first (gdalwarp -tr).")
            if src.crs is None or not src.crs.is_projected:
                raise InputDataError(f"The {what} {path} has no projected CRS (distances must be in metres).")
            arr = src.read(1)
            crs = src.crs
            grid = Grid(crs.to_wkt(), float(t.c), float(t.f), float(t.a), src.width, src.height)
            return _Raster(arr, src.nodata, grid, crs, Path(path))
    except BiostressError:
        raise
    except Exception as e:  # noqa: BLE001 - rasterio raises several types for unreadable files
        raise InputDataError(f"Cannot read the {what} {path}: {e}") from e


def _same_grid(a: _Raster, b: _Raster, what: str) -> None:
    ga, gb = a.grid, b.grid
    tol = 1e-6 * ga.cell
    if (ga.width, ga.height) != (gb.width, gb.height) or abs(ga.x0 - gb.x0) > tol or abs(ga.y1 - gb.y1) > tol \
            or abs(ga.cell - gb.cell) > tol or a.crs != b.crs:
        raise InputDataError(
            f"The {what} {b.path} is not on the grid of the LULC {a.path}: "
            f"{gb.width}x{gb.height} cells of {gb.cell:g} from ({gb.x0:g}, {gb.y1:g}) vs "
            f"{ga.width}x{ga.height} cells of {ga.cell:g} from ({ga.x0:g}, {ga.y1:g}).",
            hint="Align it to the LULC first, e.g. gdalwarp -r near -t_srs <LULC CRS> -tr <cell> <cell> "
                 "-te <LULC bounds> (InVEST aligns inputs itself; biostress refuses to guess).")


def rasterize_access(vector_path: Path | str, grid: Grid) -> np.ndarray:
    """Accessibility ``beta_x`` (float32) from polygons with an ``access`` field (0-1), as InVEST
    3.20 does: reprojected to the grid CRS, burnt where the cell centre is inside a polygon (later
    features over earlier ones), 1 where no polygon covers the cell."""
    import geopandas as gpd
    from rasterio import features

    p = Path(vector_path)
    if not p.exists():
        raise InputDataError(f"The access vector {p} does not exist.")
    try:
        gdf = gpd.read_file(p)
    except Exception as e:  # noqa: BLE001
        raise InputDataError(f"Cannot read the access vector {p}: {e}") from e
    col = next((c for c in gdf.columns if str(c).lower() == "access"), None)
    if col is None:
        raise InputDataError(f"The access vector {p} has no 'access' field.",
                             hint="Add a numeric field 'access' (0 = inaccessible to threats, 1 = fully accessible).")
    vals = pd.to_numeric(gdf[col], errors="coerce")
    if vals.isna().any() or (vals < 0).any() or (vals > 1).any():
        raise InputDataError(f"The access vector {p}: every 'access' value must be a number between 0 and 1.")
    if gdf.crs is None:
        raise InputDataError(f"The access vector {p} has no CRS.")
    gdf = gdf.to_crs(grid.crs)
    shapes = [(g, float(v)) for g, v in zip(gdf.geometry, vals, strict=True) if g is not None and not g.is_empty]
    bad = [g.geom_type for g, _ in shapes if g.geom_type not in ("Polygon", "MultiPolygon")]
    if bad:
        raise InputDataError(f"The access vector {p} must hold polygons, found {sorted(set(bad))}.")
    out = np.ones(grid.shape, dtype=np.float32)
    if shapes:
        out = features.rasterize(shapes, out=out, transform=grid.transform, all_touched=False)
    return out


def _geotiff_bytes(arr: np.ndarray, like: _Raster, nodata: float, description: str) -> bytes:
    """A tiled, LZW-compressed float32 GeoTIFF (InVEST's ``pygeoprocessing`` creation options) in memory."""
    from rasterio.io import MemoryFile

    prof = {"driver": "GTiff", "width": arr.shape[1], "height": arr.shape[0], "count": 1, "dtype": "float32",
            "crs": like.crs, "transform": like.grid.transform, "nodata": nodata, "tiled": True, "blockxsize": 256,
            "blockysize": 256, "compress": "lzw", "bigtiff": "IF_SAFER"}
    with MemoryFile() as mf:
        with mf.open(**prof) as dst:
            dst.write(arr, 1)
            dst.update_tags(TIFFTAG_IMAGEDESCRIPTION=description)
        return mf.read()


def run_invest_files(lulc_path: Path | str, threats_table_path: Path | str, sensitivity_table_path: Path | str,
                     half_saturation: float, out_dir: Path | str, *, access_path: Path | str | None = None,
                     baseline_path: Path | str | None = None, future_path: Path | str | None = None,
                     overwrite: bool = False) -> dict[str, Path]:
    """InVEST 3.20 Habitat Quality on InVEST's own input files; writes its outputs under the same
    names into ``out_dir`` (atomically, as a biostress run folder with ``manifest.json``).

    Outputs: ``deg_sum_c.tif``, ``quality_c.tif`` (and ``_f`` with a future LULC), with a baseline
    ``rarity_c.tif`` + ``rarity_c.csv`` (and ``rarity_f``): tiled LZW float32 GeoTIFFs as InVEST
    writes them, with InVEST's nodata values (``deg_sum``/``quality``: float32 max; ``rarity``:
    float32 min), a QGIS ``.qml`` style each, and ``manifest.json`` (inputs with checksums). All rasters must already be on
    the current LULC's grid (same CRS, origin, square cell size and shape).
    """
    from ..store import RunFolder, qml, sha256_file

    if not (half_saturation > 0 and math.isfinite(half_saturation)):
        raise ConfigError(f"--half-saturation must be a positive number, got {half_saturation}.")
    threats, tpaths = read_threats_table(threats_table_path)
    sens = read_sensitivity_table(sensitivity_table_path, list(threats))
    cur = _read_raster(Path(lulc_path), "LULC raster")
    grid = cur.grid
    scen: dict[str, _Raster] = {"c": cur}
    if future_path:
        scen["f"] = _read_raster(Path(future_path), "future LULC raster")
        _same_grid(cur, scen["f"], "future LULC raster")
    base = None
    if baseline_path:
        base = _read_raster(Path(baseline_path), "baseline LULC raster")
        _same_grid(cur, base, "baseline LULC raster")
        # InVEST reclassifies the baseline's habitat too, so unknown codes are an error there as well
        habitat_suitability(base.array, sens, lulc_nodata=base.nodata)
    access = None
    if access_path:
        access = rasterize_access(access_path, grid)
    inputs = [("lulc_cur", cur.path), ("threats_table", Path(threats_table_path)),
              ("sensitivity_table", Path(sensitivity_table_path))]
    results: dict[str, np.ndarray] = {}
    rar_tables: dict[str, dict[int, float]] = {}
    for key, lulc in scen.items():
        col = "cur" if key == "c" else "fut"
        rasters, nodatas = {}, {}
        for name in threats:
            p = tpaths[col][name]
            if p is None:
                raise InputDataError(f"The threats table {threats_table_path} gives no {col}_path for the threat "
                                     f"'{name}'.", hint=f"Fill in the {col}_path column for every threat.")
            t = _read_raster(p, f"threat raster '{name}' ({col}_path)")
            _same_grid(cur, t, f"threat raster '{name}'")
            rasters[name], nodatas[name] = t.array, t.nodata
            inputs.append((f"threat_{name}_{col}", p))
        d = degradation(lulc.array, rasters, threats, sens, access, grid.cell, lulc_nodata=lulc.nodata,
                        threat_nodata=nodatas)
        h = habitat_suitability(lulc.array, sens, lulc_nodata=lulc.nodata)
        results[f"deg_sum_{key}"] = d
        results[f"quality_{key}"] = quality(d, h, half_saturation)
        if base is not None:
            r, tab = rarity(lulc.array, base.array, lulc_nodata=lulc.nodata, baseline_nodata=base.nodata,
                            cell_area=grid.cell_area, baseline_cell_area=base.grid.cell_area)
            results[f"rarity_{key}"] = r
            rar_tables[key] = tab
    for extra, p in (("lulc_fut", future_path), ("lulc_bas", baseline_path), ("access_vector", access_path)):
        if p:
            inputs.append((extra, Path(p)))

    texts = {
        "deg_sum": ("index 0-1", "Relative level of habitat degradation (InVEST 3.20 deg_sum, HQ-UG eq. 3)"),
        "quality": ("index 0-1", "Relative level of habitat quality (InVEST 3.20 quality, HQ-UG eq. 4)"),
        "rarity": ("index 0-1", "Relative habitat rarity vs the baseline (InVEST 3.20 rarity, HQ-UG eqs. 5-6)"),
    }
    ramp = ["#a50026", "#f46d43", "#fee08b", "#a6d96a", "#006837"]
    written: dict[str, str] = {}
    with RunFolder(out_dir, overwrite=overwrite) as run:
        run.set_grid(grid)
        run.set_parameters({"model": "habitat_quality (InVEST 3.20 compatible)", "half_saturation_constant":
                            half_saturation, "scaling_param_z": SCALING_PARAM,
                            "threats": {n: {"max_dist_m": t.max_dist, "weight": t.weight, "decay": t.decay}
                                        for n, t in threats.items()}})
        for name, p in inputs:
            run.add_input(name, str(p), sha256=sha256_file(p) if Path(p).is_file() else None, licence=None,
                          attribution=None, date=None)
        for name, arr in results.items():
            kind = name.rsplit("_", 1)[0]
            nod = INVEST_RARITY_NODATA if kind == "rarity" else INVEST_NODATA
            units, desc = texts[kind]
            out32 = arr.astype(np.float32)
            out32[np.isnan(out32)] = nod
            data = _geotiff_bytes(out32, cur, nod, desc)
            del out32
            run.write_file(f"{name}.tif", data, kind="geotiff", units=units, description=desc)
            colours = ramp[::-1] if kind == "deg_sum" else ramp
            style = qml.raster_pseudocolor(0.0, 1.0, [(i / 4, c) for i, c in enumerate(colours)])
            run.write_file(f"{name}.qml", style, kind="qgis-style", description=f"QGIS style for {name}.tif")
            written[name] = f"{name}.tif"
        for key, tab in rar_tables.items():
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(["lucode", "rarity_value"])
            for code in sorted(tab):
                w.writerow([code, repr(float(tab[code]))])
            run.write_file(f"rarity_{key}.csv", buf.getvalue(), kind="csv",
                           description="Rarity value per LULC code (InVEST 3.20 rarity table)")
    return {k: Path(run.out_dir) / v for k, v in written.items()}


# --------------------------------------------------------------------------------------------
# pipeline parameter tables
# --------------------------------------------------------------------------------------------


def _cfg_number(path: Path, line: int, column: str, text: str, lo: float, hi: float) -> float:
    try:
        v = float(text.strip())
    except ValueError:
        raise ConfigError(f"{path} line {line}: {column} {text!r} is not a number.") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ConfigError(f"{path} line {line}: {column} = {v:g} is outside [{lo:g}, {hi:g}].")
    return v


@dataclass(frozen=True)
class HQParams:
    """The pipeline's habitat-quality parameters (validated)."""

    threats: dict[str, Threat]
    habitat: dict[str, float]  # legend key -> H_j
    sensitivity: dict[str, dict[str, float]]  # threat -> legend key -> S_jr
    half_saturation: float
    provenance: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_params(params_dir: Path | str | None = None, legend: Legend | None = None) -> HQParams:
    """Read and validate ``habitat_quality_threats.csv``, ``habitat_quality_sensitivity.csv`` and
    ``habitat_quality_params.csv`` (an area's own copies in ``params_dir`` override the built-in
    ones). Errors are :class:`ConfigError` naming the file and line. With ``legend``, every class
    of the legend must have a sensitivity row and every source class must exist."""
    prov: list[dict[str, str]] = []
    pt = params_path(THREATS_FILE, params_dir)
    dt_ = read_table(pt, ["threat", "max_dist", "weight", "decay", "source_classes", "min_fraction",
                                "ev", "source", "note"])
    threats: dict[str, Threat] = {}
    for i, r in dt_.iterrows():
        line = int(i) + 2
        name = r["threat"].strip()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ConfigError(f"{pt} line {line}: threat {name!r} must be lower_snake_case.")
        if name in threats:
            raise ConfigError(f"{pt} line {line}: threat {name!r} is listed twice.")
        classes = tuple(c.strip() for c in r["source_classes"].split("|") if c.strip())
        if not classes:
            raise ConfigError(f"{pt} line {line}: source_classes is empty (legend keys separated by '|').")
        if legend is not None:
            for c in classes:
                if c not in legend.keys:
                    raise ConfigError(f"{pt} line {line}: source class {c!r} is not in the legend {legend.path}.")
        dk = r["decay"].strip()
        if dk not in DECAYS:
            raise ConfigError(f"{pt} line {line}: decay must be 'linear' or 'exponential', got {dk!r}.")
        threats[name] = Threat(name, _cfg_number(pt, line, "max_dist", r["max_dist"], 1e-9, 1e6),
                               _cfg_number(pt, line, "weight", r["weight"], 0.0, 1.0), dk, classes,
                               _cfg_number(pt, line, "min_fraction", r["min_fraction"], 1e-9, 1.0),
                               r["ev"].strip(), r["source"].strip())
        prov.append({"table": pt.name, "item": f"threat:{name}",
                     "value": f"max_dist={r['max_dist']} m; weight={r['weight']}; decay={dk}; "
                              f"sources={'|'.join(classes)} >= {r['min_fraction']}",
                     "ev": r["ev"], "source": r["source"], "note": r["note"]})
    if not threats:
        raise ConfigError(f"The parameter table {pt} lists no threat.")
    normalised_weights(threats)

    ps = params_path(SENSITIVITY_FILE, params_dir)
    ds = read_table(ps, ["class", "habitat", *threats, "ev", "source", "note"])
    habitat: dict[str, float] = {}
    sens: dict[str, dict[str, float]] = {t: {} for t in threats}
    for i, r in ds.iterrows():
        line = int(i) + 2
        key = r["class"].strip()
        if key in habitat:
            raise ConfigError(f"{ps} line {line}: class {key!r} is listed twice.")
        if legend is not None and key not in legend.keys:
            raise ConfigError(f"{ps} line {line}: class {key!r} is not in the legend {legend.path}.")
        habitat[key] = _cfg_number(ps, line, "habitat", r["habitat"], 0.0, 1.0)
        for t in threats:
            sens[t][key] = _cfg_number(ps, line, t, r[t], 0.0, 1.0)
        prov.append({"table": ps.name, "item": f"class:{key}",
                     "value": f"H={r['habitat']}; " + "; ".join(f"S_{t}={r[t]}" for t in threats),
                     "ev": r["ev"], "source": r["source"], "note": r["note"]})
    if legend is not None:
        absent = [k for k in legend.keys if k != "unknown" and k not in habitat]
        if absent:
            raise ConfigError(f"The sensitivity table {ps} has no row for the legend class(es) {absent}.",
                              hint="Add a row (class, habitat, one sensitivity per threat, ev, source, note) for each.")

    pp = params_path(PARAMS_FILE, params_dir)
    dp = read_table(pp, ["parameter", "value", "units", "ev", "source", "note"])
    k = None
    for i, r in dp.iterrows():
        line = int(i) + 2
        if r["parameter"].strip() != "half_saturation_constant":
            raise ConfigError(f"{pp} line {line}: unknown parameter {r['parameter']!r}.",
                              hint="Known parameters: half_saturation_constant")
        k = _cfg_number(pp, line, "value", r["value"], 1e-9, 10.0)
        prov.append({"table": pp.name, "item": "half_saturation_constant", "value": r["value"], "ev": r["ev"],
                     "source": r["source"], "note": r["note"]})
    if k is None:
        raise ConfigError(f"The parameter table {pp} lacks the parameter half_saturation_constant.")
    return HQParams(threats, habitat, sens, k, pd.DataFrame(prov))


# --------------------------------------------------------------------------------------------
# pipeline entry point
# --------------------------------------------------------------------------------------------

def _nan0(a: Any) -> Any:
    return _da().nan_to_num(a) if _is_dask(a) else np.nan_to_num(a)


def threat_presence(ctx: IndicatorContext, threat: Threat) -> Any:
    """1 where the summed cover fraction of the threat's source classes is at least
    ``min_fraction``, else 0 (outside the area: 0, unknown)."""
    share: Any = None
    for key in threat.source_classes:
        f = _nan0(ctx.fraction(key))
        share = f if share is None else share + f
    return (share >= threat.min_fraction - 1e-9).astype(np.float32)


def compute(ctx: IndicatorContext) -> list[IndicatorResult]:
    """``habitat_quality`` (0-1), ``habitat_degradation`` (0-1) and, with a baseline land cover
    in ``ctx.rasters['landcover_baseline']`` (class codes on the grid), ``habitat_rarity``."""
    from .base import IndicatorResult

    p = load_params(ctx.params_dir, ctx.legend)
    if tuple(ctx.fractions.shape[-2:]) != ctx.grid.shape:
        raise InputDataError(f"The land-cover fractions have shape {tuple(ctx.fractions.shape[-2:])}, "
                             f"the grid {ctx.grid.shape}.")
    keys = [k for k in ctx.legend.keys if k != "unknown"]
    idx = [ctx.legend.keys.index(k) for k in keys]
    frac = _nan0(ctx.fractions[idx])
    known = frac.sum(axis=0)
    xp = _da() if _is_dask(frac) else np
    norm = frac / xp.where(known > 0, known, np.nan)
    weights = normalised_weights(p.threats)
    names = list(p.threats)
    impacts = [threat_impact(threat_presence(ctx, p.threats[n]), p.threats[n].max_dist, p.threats[n].decay,
                             ctx.grid.cell) for n in names]
    hab = np.asarray([p.habitat[k] for k in keys])
    sens = np.asarray([[p.sensitivity[n][k] for k in keys] for n in names])
    d, q = quality_from_fractions(norm, hab, sens, impacts, [weights[n] for n in names], p.half_saturation)
    outside = ctx.dominant == OUTSIDE
    d = xp.where(outside, np.nan, d).astype(np.float32)
    q = xp.where(outside, np.nan, q).astype(np.float32)
    thr = "; ".join(f"{n}: {'|'.join(t.source_classes)} >= {t.min_fraction:g}, {t.max_dist:g} m, w {t.weight:g}, "
                    f"{t.decay} (ev {t.ev})" for n, t in p.threats.items())
    notes = [
        f"InVEST 3.20 Habitat Quality on the land-cover fractions: threat sources are cells whose source-class "
        f"fraction reaches a threshold ({thr}); impact decays with the distance to the nearest source. "
        f"H and S per class from habitat_quality_sensitivity.csv (mostly ev P, sensitivities partly VPCH, V); "
        f"k = {p.half_saturation:g}. Mixed cells: fraction-weighted per class.",
        "Threat sources outside the area are not known, so degradation near the area boundary is too low "
        "(InVEST's edge effect). No accessibility (beta = 1 everywhere).",
    ]
    tables = {"habitat_quality_parameters": p.provenance}
    out = [
        IndicatorResult(
            name="habitat_quality", array=q, units="index 0-1",
            description=("Habitat quality (InVEST Habitat Quality 3.20): Q = H (1 - D^2.5 / (D^2.5 + k^2.5)), "
                         "fraction-weighted over the cover classes of each cell."),
            title_en="Habitat quality", title_nl="Habitatkwaliteit", palette="good_high", vmin=0.0, vmax=1.0,
            summarise=("mean",), tables=tables, notes=notes, proxy=True),
        IndicatorResult(
            name="habitat_degradation", array=d, units="index 0-1",
            description=("Habitat degradation (InVEST Habitat Quality 3.20): D = sum_r w_r/sum(w) i_r(d) S_jr, "
                         "distance decay from the nearest threat source, fraction-weighted over the cover classes. "
                         "Cover that is not habitat has sensitivity 0 and so no degradation, as in InVEST."),
            title_en="Habitat degradation", title_nl="Habitataantasting", palette="bad_high", vmin=0.0,
            vmax=None, summarise=("mean",), proxy=True),
    ]
    base = ctx.rasters.get("landcover_baseline")
    if base is not None:
        cur = ctx.dominant
        valid_cur = (cur != OUTSIDE) & (cur != 0)
        valid_base = (base != OUTSIDE) & (base != 0)
        cur_m = xp.where(valid_cur, cur, 0)
        base_m = xp.where(valid_base, base, 0)
        r, _ = rarity(cur_m, base_m, lulc_nodata=0, baseline_nodata=0)
        r = xp.where(valid_cur & valid_base, r, np.nan).astype(np.float32)
        out.append(IndicatorResult(
            name="habitat_rarity", array=r, units="index 0-1 (0.5 = unchanged)",
            description="Habitat rarity vs the baseline land cover (InVEST 3.20): R_j = 1 - N_j / (N_j,base + N_j).",
            title_en="Habitat rarity", title_nl="Zeldzaamheid habitat", palette="bad_high", vmin=0.0, vmax=1.0,
            notes=["Rarity of the dominant class of each cell against ctx.rasters['landcover_baseline']."]))
    return out
