"""EU Nature Restoration Law (Regulation (EU) 2024/1991), Article 8: urban green space and tree canopy.

Source: knowledge base section 4a (NRL, ev V, paraphrased).

* Art. 3(20): urban green space = the total area of trees, bushes, shrubs, permanent herbaceous vegetation,
  lichens and mosses, ponds and watercourses. Here, per unit:
  ``G = sum_{c in green space classes} A_c`` [m2], with ``A_c`` the unit's ``<class>_m2`` (exact land-cover area
  of the class in the unit) and the classes = legend classes with the flags of ``settings.nrl.green_space_flags``
  (green) plus ``green_space_keys`` (water), minus ``green_space_exclude_keys`` (arable: the NRL methodological
  note counts no 'periodically herbaceous' land, ev S). Share ``g = G / A_unit``.
* Art. 3(21): urban tree canopy cover; here the ``canopy_keys`` classes (trees_woodland):
  ``T = sum A_c`` [m2], share ``t = T / A_unit``.
* Art. 8(1): by 31 Dec 2030 **no net loss** of ``G`` and of ``T`` compared with 2024: met when
  ``value >= baseline value`` (a baseline run of the same units); gap = ``baseline - value`` m2.
  Units with ``g > 0.45`` **and** ``t > 0.10`` may be excluded (strictly greater: a unit exactly at 45 % or
  10 % is not excluded).

The law sets the targets for the national total of urban ecosystem areas; per buurt, wijk or municipality
they are a local reading of the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..landcover.legend import Legend
from .spec import Exclusion, NrlSettings


def class_keys(legend: Legend, flags: Iterable[str] = (), keys: Iterable[str] = (),
               exclude: Iterable[str] = ()) -> list[str]:
    """Legend keys with any of ``flags`` (green / impervious / water) or listed in ``keys``, minus ``exclude``,
    in legend order."""
    flags, keys, exclude = set(flags), set(keys), set(exclude)
    return [c.key for c in legend.classes
            if (c.key in keys or any(getattr(c, f) for f in flags)) and c.key not in exclude]


def green_space_keys(legend: Legend, s: NrlSettings) -> list[str]:
    """The land-cover classes counted as NRL urban green space."""
    return class_keys(legend, s.green_space_flags, s.green_space_keys, s.green_space_exclude_keys)


def area_of(units: pd.DataFrame, keys: Iterable[str]) -> np.ndarray:
    """Summed ``<key>_m2`` of ``keys`` per unit (m2); NaN when a column is missing."""
    keys = list(keys)
    cols = [f"{k}_m2" for k in keys]
    if any(c not in units.columns for c in cols):
        return np.full(len(units), np.nan)
    if not cols:
        return np.zeros(len(units))
    return units[cols].to_numpy(dtype=float).sum(axis=1)


def unit_area(units: pd.DataFrame) -> np.ndarray:
    """Unit area (m2): the ``area_m2`` column, else the geometry area."""
    if "area_m2" in units.columns:
        return units["area_m2"].to_numpy(dtype=float)
    if "geometry" in units.columns:
        return np.asarray(units.geometry.area, dtype=float)
    return np.full(len(units), np.nan)


def _share(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def nrl_quantities(units: pd.DataFrame, legend: Legend, s: NrlSettings) -> pd.DataFrame:
    """``nrl_green_space_m2``, ``nrl_green_space_share``, ``canopy_m2``, ``canopy_share`` per unit (index kept)."""
    a = unit_area(units)
    g = area_of(units, green_space_keys(legend, s))
    t = area_of(units, s.canopy_keys)
    return pd.DataFrame({"nrl_green_space_m2": g, "nrl_green_space_share": _share(g, a),
                         "canopy_m2": t, "canopy_share": _share(t, a)}, index=units.index)


def excluded(green_share: np.ndarray, canopy_share: np.ndarray, ex: Exclusion) -> np.ndarray:
    """NRL Art. 8(1) exclusion: green-space share > a AND canopy share > b (strict; NaN = not excluded)."""
    g = np.asarray(green_share, dtype=float)
    t = np.asarray(canopy_share, dtype=float)
    a, b = ex.green_space_share_gt.value, ex.canopy_share_gt.value
    with np.errstate(invalid="ignore"):
        return (g > a + 1e-12 * max(1.0, abs(a))) & (t > b + 1e-12 * max(1.0, abs(b)))


__all__ = ["area_of", "class_keys", "excluded", "green_space_keys", "nrl_quantities", "unit_area"]
