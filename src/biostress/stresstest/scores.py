"""Stress test, step 1: indicator rasters to 0-1 scores, green diversity and land-cover sensitivity.

Formulas
--------
Every indicator row of ``data/params/stresstest_indicators.csv`` has fixed thresholds ``lo < hi``
in the indicator's own units (mm, dB(A), mol N/ha/yr, ...). The *goodness* score of a cell is::

    u = clip((x - lo) / (hi - lo), 0, 1)
    g = u          if direction == good_high
    g = 1 - u      if direction == bad_high

Robustness indicators contribute ``g`` (1 = robust); pressure indicators contribute the
exposure ``e = 1 - g`` (1 = fully exposed). Fixed thresholds, not per-area percentiles, keep two
municipalities comparable. NaN stays NaN (the indicator is left out at that cell).

Green diversity (computed here from the land-cover fractions): the cover of each class flagged
``green`` in the legend is summed over the disc of ``radius_m`` around the cell, ``C_k``; with
``p_k = C_k / sum_j C_j``::

    H  = -sum_k p_k ln p_k                  Shannon diversity (nats)
    N1 = exp(H)                             effective number of green classes (Hill number)

(Shannon 1948; Hill 1973, *Ecology* 54:427-432; Jost 2006, *Oikos* 113:363-375). ``N1 = 1`` for
a single green class *or no green at all* (the amount of green is the size aspect, not this one).
The disc sum runs on numpy or, chunk by chunk with a halo of the radius, on dask arrays.

Sensitivity per pressure ``p`` (``data/params/stresstest_sensitivity.csv``, 0-1 per legend class)::

    s_p = sum_k f_k s_kp / sum_k f_k         over the classes with a row (``unknown`` = no data)

Everything is elementwise on ``numpy`` or ``dask.array`` inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputDataError
from ..indicators.base import params_path
from ..indicators.heat import (
    class_weighted,
    fft_convolve,
    finite_or_zero,
    parse_float,
    read_table,
    where,
    xp_of,
)
from ..landcover.legend import Legend

__all__ = [
    "ASPECTS",
    "COMPUTED",
    "INDICATORS_FILE",
    "KNOWN_INDICATORS",
    "PRESSURES",
    "SENSITIVITY_FILE",
    "IndicatorRow",
    "SensitivityTable",
    "exposure",
    "goodness",
    "green_diversity",
    "load_indicators",
    "load_sensitivity",
    "sensitivity",
    "shannon",
    "weighted_mean",
]

INDICATORS_FILE = "stresstest_indicators.csv"
SENSITIVITY_FILE = "stresstest_sensitivity.csv"

PRESSURES: tuple[str, ...] = ("heat", "flooding", "drought", "nitrogen", "disturbance")
ASPECTS: dict[str, tuple[str, ...]] = {
    "robustness": ("size", "quality", "connectivity", "diversity"),
    "vulnerability": PRESSURES,
}
DIRECTIONS = ("good_high", "bad_high")

# indicator rasters the pipeline can hand over in ctx.rasters (name -> units), plus the one computed here
KNOWN_INDICATORS: dict[str, str] = {
    "green_share": "fraction 0-1",
    "canopy_share": "fraction 0-1",
    "impervious_share": "fraction 0-1",
    "ndvi": "index -1..1",
    "habitat_quality": "index 0-1",
    "habitat_degradation": "index",
    "habitat_patch_area": "ha",
    "cbi_connected_natural_area": "ha",
    "fragmentation_habitat": "class 0/1",
    "connectivity_current": "A",
    "guide_species_key_networks": "number of species",
    "species_richness": "species",
    "red_list_richness": "species",
    "heat_mitigation": "index 0-1",
    "cooling_capacity": "index 0-1",
    "runoff_depth": "mm",
    "depression_depth": "m",
    "drought_vulnerability": "index 0-1",
    "nitrogen_exceedance": "mol N/ha/yr",
    "light_proxy": "index 0-1",
    "noise_road_proxy": "dB(A)",
    "green_diversity": "effective number of green classes",
}
COMPUTED = ("green_diversity",)  # computed by the stress test itself from ctx.fractions

_IND_COLUMNS = ["indicator", "component", "aspect", "weight", "direction", "lo", "hi", "units",
                "apply_sensitivity", "radius_m", "ev", "source"]


@dataclass(frozen=True)
class IndicatorRow:
    """One row of ``stresstest_indicators.csv``."""

    indicator: str
    component: str  # robustness | vulnerability
    aspect: str  # size/quality/connectivity/diversity or a pressure
    weight: float  # >= 0; the rows of a component sum to 1
    direction: str  # good_high | bad_high
    lo: float  # indicator units: score 0 (good_high) or 1 (bad_high) at and below
    hi: float  # indicator units: score 1 (good_high) or 0 (bad_high) at and above
    units: str
    apply_sensitivity: bool  # vulnerability only: multiply the exposure by the land-cover sensitivity
    radius_m: float | None  # neighbourhood radius (m) of indicators computed here
    ev: str
    source: str
    note: str = ""


def load_indicators(params_dir: Path | str | None = None) -> list[IndicatorRow]:
    """Read and validate ``stresstest_indicators.csv`` (an area's copy in ``params_dir`` first).

    Checks: known indicator names, one row per indicator, component/aspect/direction values,
    ``lo < hi``, weights >= 0 summing to 1 (+-1e-6) per component, ``apply_sensitivity`` 0/1,
    ``radius_m`` >= 0 for computed indicators. Raises :class:`ConfigError` naming file and line.
    """
    path = params_path(INDICATORS_FILE, params_dir)
    df = read_table(path, _IND_COLUMNS)
    rows: list[IndicatorRow] = []
    seen: set[str] = set()
    for i, r in df.iterrows():
        line = int(i) + 2
        name = r["indicator"].strip()
        if name not in KNOWN_INDICATORS:
            raise ConfigError(f"{path} line {line}: unknown indicator {name!r}.",
                              hint=f"Use one of: {', '.join(KNOWN_INDICATORS)}.")
        if name in seen:
            raise ConfigError(f"{path} line {line}: indicator {name!r} is listed twice.",
                              hint="Keep one row per indicator.")
        seen.add(name)
        comp = r["component"].strip()
        if comp not in ASPECTS:
            raise ConfigError(f"{path} line {line}: component {comp!r} must be robustness or vulnerability.")
        aspect = r["aspect"].strip()
        if aspect not in ASPECTS[comp]:
            raise ConfigError(f"{path} line {line}: aspect {aspect!r} does not belong to {comp}.",
                              hint=f"Use one of {', '.join(ASPECTS[comp])}.")
        direction = r["direction"].strip()
        if direction not in DIRECTIONS:
            raise ConfigError(f"{path} line {line}: direction {direction!r} must be good_high or bad_high.")
        weight = parse_float(path, line, "weight", r["weight"], lo=0.0, hi=1.0)
        lo = parse_float(path, line, "lo", r["lo"])
        hi = parse_float(path, line, "hi", r["hi"])
        if not hi > lo:  # type: ignore[operator]
            raise ConfigError(f"{path} line {line}: hi ({hi:g}) must be larger than lo ({lo:g}).",
                              hint="Swap them and set direction instead to say which end is good.")
        app = r["apply_sensitivity"].strip()
        if app not in ("", "0", "1"):
            raise ConfigError(f"{path} line {line}: apply_sensitivity must be 0, 1 or empty, got {app!r}.")
        if comp == "vulnerability" and app == "":
            raise ConfigError(f"{path} line {line}: apply_sensitivity is empty for the pressure indicator {name!r}.",
                              hint="1 = multiply by the land-cover sensitivity; 0 = the indicator contains it.")
        radius = parse_float(path, line, "radius_m", r["radius_m"], lo=0.0, allow_empty=True)
        if name in COMPUTED and radius is None:
            raise ConfigError(f"{path} line {line}: {name} needs a neighbourhood radius_m (metres, >= 0).")
        rows.append(IndicatorRow(name, comp, aspect, float(weight), direction, float(lo), float(hi),  # type: ignore[arg-type]
                                 r["units"].strip(), app == "1", radius, r["ev"].strip(), r["source"].strip(),
                                 str(r.get("note", "")).strip()))
    for comp in ASPECTS:
        total = math.fsum(x.weight for x in rows if x.component == comp)
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"{path}: the {comp} weights add up to {total:g}, not 1.",
                              hint=f"Make the weights of the {comp} rows sum to 1 (weight 0 switches a row off).")
    return rows


def goodness(x: Any, lo: float, hi: float, direction: str) -> Any:
    """Score g (0-1, 1 = good) of the values ``x``: ``clip((x - lo)/(hi - lo), 0, 1)``, flipped
    for ``bad_high``. NaN stays NaN; float64, numpy or dask like ``x``.

    >>> goodness(np.array([-1.0, 0.25, 2.0, np.nan]), 0.0, 1.0, "bad_high")
    array([1.  , 0.75, 0.  ,  nan])
    """
    if direction not in DIRECTIONS:
        raise ConfigError(f"Unknown direction {direction!r}.", hint="Use good_high or bad_high.")
    if not hi > lo:
        raise ConfigError(f"hi ({hi:g}) must be larger than lo ({lo:g}).")
    xp = xp_of(x)
    u = xp.clip((x.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return u if direction == "good_high" else 1.0 - u


def exposure(x: Any, lo: float, hi: float, direction: str) -> Any:
    """Exposure e = 1 - g (0-1, 1 = fully exposed) of a pressure indicator."""
    return 1.0 - goodness(x, lo, hi, direction)


def weighted_mean(parts: list[tuple[float, Any]]) -> Any:
    """Elementwise ``sum_i w_i a_i / sum_i w_i`` over the parts whose value is finite at that cell
    (missing values are left out and the weights renormalised); NaN where none is finite.

    >>> weighted_mean([(0.25, np.array([1.0, np.nan])), (0.75, np.array([0.0, 0.5]))])
    array([0.25, 0.5 ])
    """
    parts = [(float(w), a) for w, a in parts if float(w) > 0]
    if not parts:
        raise ValueError("weighted_mean needs at least one part with a positive weight")
    num: Any = None
    den: Any = None
    for w, a in parts:
        a64 = a.astype(np.float64)
        ok = xp_of(a64).isfinite(a64)
        n = where(ok, w * a64, 0.0)
        d = where(ok, w, 0.0)
        num = n if num is None else num + n
        den = d if den is None else den + d
    return where(den > 0, num / where(den > 0, den, 1.0), np.nan)


def shannon(counts: Any) -> Any:
    """Shannon diversity H (nats) over the first axis of ``counts`` (covers, areas or fractions
    per class; NaN counts as 0): ``p_k = c_k / sum c``, ``H = -sum p_k ln p_k``; 0 where the sum is 0.

    >>> round(float(shannon(np.array([0.5, 0.5, 0.0]))), 6)   # ln 2
    0.693147
    """
    c = finite_or_zero(counts)
    if c.shape[0] == 0:
        raise InputDataError("shannon needs at least one class.")
    xp = xp_of(c)
    c = xp.clip(c, 0.0, None)
    total = c.sum(axis=0)
    ok = total > 0
    p = c / where(ok, total, 1.0)
    pos = p > 0
    terms = where(pos, p * xp.log(where(pos, p, 1.0)), 0.0)
    return where(ok, -terms.sum(axis=0), 0.0)


def _disc_kernel(cell: float, radius_m: float) -> np.ndarray:
    n = int(math.floor(radius_m / cell + 1e-9))
    off = np.arange(-n, n + 1, dtype=np.float64) * cell
    return (np.hypot(off[:, None], off[None, :]) <= radius_m + 1e-9).astype(np.float64)


def green_diversity(fractions: Any, legend: Legend, inside: Any, cell: float, radius_m: float) -> Any:
    """Effective number of green classes ``N1 = exp(H)`` within ``radius_m`` metres (cell centres
    within the radius; 0 = the cell alone), from the covers of the legend classes flagged green.
    1 = one green class or none; NaN where ``inside`` is 0. float32, numpy or dask like the input.
    """
    if fractions.ndim != 3 or fractions.shape[0] != len(legend.classes):
        raise InputDataError(f"The land-cover fractions have shape {tuple(fractions.shape)}; expected "
                             f"({len(legend.classes)}, rows, cols) for the legend {legend.path}.")
    if tuple(inside.shape) != tuple(fractions.shape[1:]):
        raise InputDataError(f"'inside' has shape {tuple(inside.shape)}, the fractions {tuple(fractions.shape[1:])}.")
    if not cell > 0 or not radius_m >= 0:
        raise ConfigError(f"Green diversity needs a positive cell size and radius >= 0, got {cell} and {radius_m}.")
    idx = [i for i, c in enumerate(legend.classes) if c.green]
    if not idx:
        raise ConfigError(f"The legend {legend.path} has no class flagged green: no green diversity.",
                          hint="Flag the vegetated classes green = 1 in the legend.")
    kernel = _disc_kernel(cell, radius_m)
    xp = xp_of(fractions)
    covers = xp.stack([fft_convolve(finite_or_zero(fractions[i]), kernel) for i in idx])
    n1 = xp.exp(shannon(where(covers > 1e-12, covers, 0.0)))  # FFT round-off leaves ~1e-17 where no cover
    return where(finite_or_zero(inside) > 0, n1, np.nan).astype(np.float32)


@dataclass(frozen=True)
class SensitivityTable:
    """``stresstest_sensitivity.csv``: key -> {pressure: 0-1}, and its provenance."""

    values: dict[str, dict[str, float]]
    provenance: pd.DataFrame
    path: str


def load_sensitivity(params_dir: Path | str | None = None, legend: Legend | None = None) -> SensitivityTable:
    """Read and validate ``stresstest_sensitivity.csv``: one row per legend key (unknown keys are a
    :class:`ConfigError` when ``legend`` is given), one 0-1 column per pressure."""
    path = params_path(SENSITIVITY_FILE, params_dir)
    df = read_table(path, ["key", *PRESSURES, "ev", "source"])
    values: dict[str, dict[str, float]] = {}
    for i, r in df.iterrows():
        line = int(i) + 2
        key = r["key"].strip()
        if legend is not None and key not in legend.keys:
            raise ConfigError(f"{path} line {line}: unknown land-cover class {key!r}.",
                              hint=f"Use the keys of the legend {legend.path}: {', '.join(legend.keys)}")
        if key in values:
            raise ConfigError(f"{path} line {line}: class {key!r} is listed twice.")
        values[key] = {p: float(parse_float(path, line, p, r[p], lo=0.0, hi=1.0)) for p in PRESSURES}  # type: ignore[arg-type]
    prov = df[["key", *PRESSURES, "ev", "source"] + (["note"] if "note" in df.columns else [])].reset_index(drop=True)
    return SensitivityTable(values, prov, str(path))


def sensitivity(fractions: Any, legend: Legend, table: SensitivityTable) -> tuple[dict[str, Any], list[str]]:
    """Cover-weighted sensitivity per pressure (0-1; NaN where no class with a row covers the cell)
    and the legend classes without a row (treated as no data, like ``unknown``)."""
    cw = class_weighted(fractions, legend, table.values, list(PRESSURES))
    return cw.values, cw.missing
