"""Stress test, step 2: robustness R, vulnerability V, combined score S and the five classes.

Formulas (weights ``w_i`` from ``stresstest_indicators.csv``; every mean is taken per cell over
the terms that are finite there, so a missing indicator is left out and the weights renormalise)
------------------------------------------------------------------------------------------------
Robustness (0-1, 1 = robust), over the aspects a = size, quality, connectivity, diversity::

    R_a = sum_{i in a} w_i g_i / sum_{i in a} w_i          goodness scores g_i (scores.py)
    R   = sum_a W_a R_a / sum_a W_a,    W_a = sum_{i in a} w_i   (the table weights of the aspect)

Vulnerability (0-1, 1 = very vulnerable), over the pressures p = heat, flooding, drought,
nitrogen, disturbance::

    t_i = e_i * s_p     (apply_sensitivity = 1)   exposure x land-cover sensitivity of the cell
    t_i = e_i           (apply_sensitivity = 0)   the indicator already holds the sensitivity
    V_p = sum_{i in p} w_i t_i / sum_{i in p} w_i
    V   = sum_p W_p V_p / sum_p W_p,    W_p = sum_{i in p} w_i

With every indicator present both reduce to the plain weighted means ``R = sum_i w_i g_i`` and
``V = sum_i w_i t_i`` (the weights of a component sum to 1). Renormalising within an aspect
first keeps the balance between aspects when one of two indicators of an aspect is missing.

Combined score and classes::

    S = R * (1 - V)                  0-1: high only where green is robust *and* little stressed
    class k  where  lower_k <= S < lower_(k+1)      (stresstest_classes.csv; class 1 from lower_1 = 0)

Class 1 (dark red) = very vulnerable / not robust ... class 5 (dark green) = robust, little stress.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputDataError
from ..indicators.base import params_path
from ..indicators.heat import is_dask, parse_float, read_table, where, xp_of
from .scores import ASPECTS, IndicatorRow, exposure, goodness, weighted_mean

__all__ = [
    "CLASSES_FILE",
    "Component",
    "StressClass",
    "categories",
    "classify",
    "combine",
    "load_classes",
    "palette",
    "robustness",
    "stress_score",
    "vulnerability",
]

CLASSES_FILE = "stresstest_classes.csv"
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class StressClass:
    """One row of ``stresstest_classes.csv``."""

    code: int
    label_en: str
    label_nl: str
    lower: float  # lower bound of the combined score S (inclusive)
    colour: str  # #rrggbb, default palette (dark red -> dark green)
    colour_cb: str  # #rrggbb, colour-blind-safe palette
    ev: str
    source: str


def load_classes(params_dir: Path | str | None = None) -> list[StressClass]:
    """Read and validate ``stresstest_classes.csv``: classes numbered 1..n (n >= 2) in order,
    ``lower`` starting at 0 and strictly increasing below 1, colours ``#rrggbb``."""
    path = params_path(CLASSES_FILE, params_dir)
    df = read_table(path, ["class", "label_en", "label_nl", "lower", "colour", "colour_cb", "ev", "source"])
    out: list[StressClass] = []
    for i, r in df.iterrows():
        line = int(i) + 2
        try:
            code = int(r["class"].strip())
        except ValueError:
            raise ConfigError(f"{path} line {line}: class {r['class']!r} is not a whole number.") from None
        if code != len(out) + 1:
            raise ConfigError(f"{path} line {line}: class {code} out of order.",
                              hint="Number the classes 1, 2, 3, ... from the worst (lowest score) up.")
        lower = float(parse_float(path, line, "lower", r["lower"], lo=0.0, hi=1.0))  # type: ignore[arg-type]
        if code == 1 and lower != 0.0:
            raise ConfigError(f"{path} line {line}: the lower bound of class 1 must be 0, got {lower:g}.")
        if out and not lower > out[-1].lower:
            raise ConfigError(f"{path} line {line}: lower {lower:g} must be above the previous class's "
                              f"{out[-1].lower:g}.")
        if code > 1 and not lower < 1.0:
            raise ConfigError(f"{path} line {line}: lower {lower:g} must be below 1 (the score's maximum).")
        cols = {}
        for c in ("colour", "colour_cb"):
            v = r[c].strip()
            if not _HEX.fullmatch(v):
                raise ConfigError(f"{path} line {line}: {c} {v!r} is not a hex colour.", hint="Write it as #1a9850.")
            cols[c] = v.lower()
        for c in ("label_en", "label_nl"):
            if not r[c].strip():
                raise ConfigError(f"{path} line {line}: {c} is empty.")
        out.append(StressClass(code, r["label_en"].strip(), r["label_nl"].strip(), lower, cols["colour"],
                               cols["colour_cb"], r["ev"].strip(), r["source"].strip()))
    if len(out) < 2:
        raise ConfigError(f"{path} has {len(out)} class(es); the stress test needs at least 2 (5 by default).")
    return out


def palette(cb: bool = False, classes: list[StressClass] | None = None) -> list[str]:
    """Colours of classes 1..n: the default dark red -> dark green, or (``cb=True``) the
    colour-blind-safe orange -> blue."""
    cls = load_classes() if classes is None else classes
    return [c.colour_cb if cb else c.colour for c in cls]


def categories(classes: list[StressClass] | None = None, cb: bool = False) -> list[tuple[int, str, str]]:
    """``(value, "label_en / label_nl", colour)`` per class, for a categorical IndicatorResult."""
    cls = load_classes() if classes is None else classes
    return [(c.code, f"{c.label_en} / {c.label_nl}", c.colour_cb if cb else c.colour) for c in cls]


def classify(values: Any, classes: list[StressClass] | None = None) -> Any:
    """Class (1..n, float; NaN where the value is NaN) of combined scores S, per cell or per unit
    mean: class k where ``lower_k <= S < lower_(k+1)``, the last class up to and including 1.

    Accepts numpy or dask arrays, pandas Series, lists and scalars (a list or Series becomes a
    numpy array). Finite numpy values outside 0-1 (by more than 1e-9) are an
    :class:`InputDataError`; dask values are not checked (they are clipped into classes 1..n).
    """
    cls = load_classes() if classes is None else classes
    if isinstance(values, pd.Series | list | tuple | int | float):
        values = np.asarray(values, dtype=np.float64)
    if not (is_dask(values) or isinstance(values, np.ndarray | np.generic)):
        raise InputDataError(f"classify needs numbers (array, Series or list), got {type(values).__name__}.")
    if not is_dask(values):
        values = np.asarray(values)
        if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
            raise InputDataError(f"classify needs real numbers, got dtype {values.dtype}.")
        v = values.astype(np.float64)
        bad = np.isfinite(v) & ((v < -1e-9) | (v > 1.0 + 1e-9))
        if bad.any():
            raise InputDataError(f"{int(bad.sum())} value(s) to classify lie outside 0-1 (e.g. {v[bad].flat[0]:g}).",
                                 hint="Classify the combined stress score S (0-1), or its per-unit mean.")
    v = values.astype(np.float64)
    k: Any = 1.0
    for c in cls[1:]:
        k = k + where(v >= c.lower, 1.0, 0.0)
    out = where(xp_of(v).isfinite(v), k, np.nan)
    return out.astype(np.float32) if hasattr(out, "astype") else out


def stress_score(r: Any, v: Any) -> Any:
    """Combined score ``S = R * (1 - V)`` (0-1); NaN where either is NaN.

    >>> float(stress_score(np.float64(0.8), np.float64(0.5)))
    0.4
    """
    return r * (1.0 - v)


@dataclass
class Component:
    """Result of :func:`combine` for one component."""

    value: Any  # (H, W) float64 0-1, NaN where no indicator has a value
    aspects: dict[str, Any]  # aspect -> (H, W) aspect mean (only aspects with an indicator present)
    used: list[str]  # indicators present and weighted
    missing: list[str]  # indicators with weight > 0 not available (left out)


def combine(rows: list[IndicatorRow], component: str, arrays: dict[str, Any],
            sens: dict[str, Any] | None = None) -> Component:
    """Weighted mean of the ``component`` rows over the indicators present in ``arrays`` (name ->
    raw indicator raster), renormalised per cell within and across aspects (module docstring).
    ``sens`` (pressure -> cell sensitivity) is needed for vulnerability rows with apply_sensitivity."""
    if component not in ASPECTS:
        raise ConfigError(f"Unknown component {component!r}.", hint="Use robustness or vulnerability.")
    mine = [r for r in rows if r.component == component and r.weight > 0]
    used = [r.indicator for r in mine if r.indicator in arrays]
    missing = [r.indicator for r in mine if r.indicator not in arrays]
    aspect_means: dict[str, Any] = {}
    aspect_weights: dict[str, float] = {}
    for aspect in ASPECTS[component]:
        rs = [r for r in mine if r.aspect == aspect]
        present = [r for r in rs if r.indicator in arrays]
        if not present:
            continue
        parts = []
        for r in present:
            x = arrays[r.indicator]
            if component == "robustness":
                t = goodness(x, r.lo, r.hi, r.direction)
            else:
                t = exposure(x, r.lo, r.hi, r.direction)
                if r.apply_sensitivity:
                    if sens is None or aspect not in sens:
                        raise ConfigError(f"No land-cover sensitivity for the pressure {aspect!r} "
                                          f"({r.indicator} has apply_sensitivity = 1).")
                    t = t * sens[aspect]
            parts.append((r.weight, t))
        aspect_means[aspect] = weighted_mean(parts)
        aspect_weights[aspect] = math.fsum(r.weight for r in rs)
    if not aspect_means:
        return Component(None, {}, [], missing)
    value = weighted_mean([(aspect_weights[a], m) for a, m in aspect_means.items()])
    return Component(value, aspect_means, used, missing)


def robustness(rows: list[IndicatorRow], arrays: dict[str, Any]) -> Component:
    """Robustness R (0-1) from the indicator rasters ``arrays``; see :func:`combine`."""
    return combine(rows, "robustness", arrays)


def vulnerability(rows: list[IndicatorRow], arrays: dict[str, Any], sens: dict[str, Any]) -> Component:
    """Vulnerability V (0-1) from the pressure rasters ``arrays`` and the cell sensitivities."""
    return combine(rows, "vulnerability", arrays, sens)
