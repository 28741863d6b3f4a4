"""Singapore Index on Cities' Biodiversity (City Biodiversity Index, CBI): the indicators open data can give.

Sources: knowledge base 4b (the 2014 User's Manual: 23 indicators each scored 0-4, ev V/R; the 2021 handbook,
CBD Technical Series 98, ev R). Scoring bands are in ``targets.yaml`` with their own evidence marks: the bands
of indicator 1, protected areas, permeable areas, canopy and recreation come from a public implementation of
the 2021 handbook (github.com/wri/cities-urbanshift, ev S); connectivity uses the 2014 bands of
``fragmentation_params.yaml`` (ev R).

Per unit (areas in m2 from the run's exact land-cover areas ``<class>_m2``):

* **natural areas** (indicator 1): ``sum_{c in natural} A_c / A_unit`` (natural classes: ``settings.cbi.natural_keys``
  or the ``cbi_natural`` classes of ``fragmentation_classes.csv``);
* **connectivity** (indicator 2): the run's ``cbi_connected_natural_area_mean`` = mean over the unit's natural cells
  of the area of their connected group = ``sum_g A_g,in * A_g / A_nat,in`` [ha] (effective mesh size with
  cross-boundary connections; see :mod:`biostress.indicators.fragmentation`);
* **protected areas**: ``area(unit ∩ union(Natura 2000)) / area(unit)`` (only Natura 2000: a lower bound);
* **water regulation**: permeable / terrestrial land, permeable = classes not flagged impervious or water and not
  unknown / urban_mixed / green_roof, terrestrial = ``A_unit - sum_{c water} A_c``;
* **climate regulation**: canopy share (:mod:`.nrl`);
* **recreation**: ``area(unit ∩ public green areas) / population`` [m2 per inhabitant], only with a population
  column in the units.

Points: ``p = #{k : value >= bands[k]}`` (0-4), ``bands`` = lower bounds of 1, 2, 3 and 4 points.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..landcover.legend import Legend
from .nrl import _share, area_of, class_keys, unit_area
from .spec import CbiSettings

CONNECTIVITY_COLUMN = "cbi_connected_natural_area_mean"


def cbi_points(value: Iterable[float] | float, bands: Sequence[float]) -> np.ndarray:
    """CBI points 0-4: how many of the 4 increasing ``bands`` the value reaches (NaN stays NaN).

    >>> cbi_points([0.5, 1.0, 19.9, 20.0], (1, 7, 14, 20)).tolist()
    [0.0, 1.0, 3.0, 4.0]
    """
    v = np.atleast_1d(np.asarray(value, dtype=float))
    b = np.asarray(bands, dtype=float)
    tol = 1e-9 * np.maximum(1.0, np.abs(b))
    pts = (v[:, None] >= b[None, :] - tol[None, :]).sum(axis=1).astype(float)
    return np.where(np.isfinite(v), pts, np.nan)


def natural_keys(legend: Legend, s: CbiSettings, params_dir: Path | str | None = None) -> list[str]:
    """CBI natural-area classes: the settings' list, else ``cbi_natural`` of ``fragmentation_classes.csv``."""
    if s.natural_keys:
        return list(s.natural_keys)
    from ..indicators.fragmentation import load_params

    return list(load_params(legend, Path(params_dir) if params_dir else None).cbi_natural)


def natural_area_share(units: pd.DataFrame, keys: Iterable[str]) -> np.ndarray:
    """Natural-class area / unit area (0-1)."""
    return _share(area_of(units, keys), unit_area(units))


def permeable_share(units: pd.DataFrame, legend: Legend, s: CbiSettings) -> np.ndarray:
    """Permeable land / terrestrial land (0-1), see the module docstring."""
    excl = set(class_keys(legend, s.permeable_exclude_flags)) | set(s.permeable_exclude_keys)
    perm = area_of(units, [k for k in legend.keys if k not in excl])
    terr = unit_area(units) - area_of(units, class_keys(legend, s.terrestrial_exclude_flags))
    return _share(perm, terr)


def overlap_area(units: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    """Area (m2) of each unit covered by the union of ``polygons`` (overlaps counted once)."""
    geoms = [g for g in np.asarray(polygons.geometry.values if hasattr(polygons, "geometry") else polygons)
             if g is not None and not g.is_empty]
    out = np.zeros(len(units))
    if not geoms or len(units) == 0:
        return out
    tree = shapely.STRtree(geoms)
    u = units.geometry.values
    src, hit = tree.query(u, predicate="intersects")
    for i in np.unique(src):
        parts = shapely.union_all(np.asarray(geoms, dtype=object)[hit[src == i]])
        out[i] = shapely.area(shapely.intersection(u[i], parts))
    return out


def natura2000_share(units: gpd.GeoDataFrame, natura2000: gpd.GeoDataFrame) -> np.ndarray:
    """Share (0-1) of each unit's polygon inside Natura 2000 sites."""
    return _share(overlap_area(units, natura2000.to_crs(units.crs) if units.crs else natura2000),
                  np.asarray(units.geometry.area, dtype=float))


def population(units: pd.DataFrame, columns: Iterable[str]) -> tuple[np.ndarray | None, str | None]:
    """Inhabitants per unit from the first of ``columns`` present (case-insensitive); negative values (CBS
    secrecy codes) become NaN. ``(None, None)`` when no column is there."""
    lower = {c.lower(): c for c in units.columns}
    for name in columns:
        col = lower.get(name.lower())
        if col is not None:
            v = pd.to_numeric(units[col], errors="coerce").to_numpy(dtype=float)
            return np.where(v >= 0, v, np.nan), col
    return None, None


def public_green_per_inhabitant(units: gpd.GeoDataFrame, parks: gpd.GeoDataFrame, pop: np.ndarray) -> np.ndarray:
    """Public green area in the unit (m2) per inhabitant (NaN for units without inhabitants)."""
    green = overlap_area(units, parks)
    return _share(green, np.asarray(pop, dtype=float))


def connectivity_meff(units: pd.DataFrame) -> np.ndarray | None:
    """The run's CBI connectivity per unit (ha), or None when the run has no fragmentation output."""
    if CONNECTIVITY_COLUMN not in units.columns:
        return None
    return pd.to_numeric(units[CONNECTIVITY_COLUMN], errors="coerce").to_numpy(dtype=float)


__all__ = ["CONNECTIVITY_COLUMN", "cbi_points", "connectivity_meff", "natura2000_share", "natural_area_share",
           "natural_keys", "overlap_area", "permeable_share", "population", "public_green_per_inhabitant"]
