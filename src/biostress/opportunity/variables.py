"""The per-cell variables the ``fits`` rules of the measures catalogue read, for one context window.

:func:`rule_variables` gathers, for ``ctx`` (an :class:`~biostress.indicators.base.IndicatorContext`):

* the land-cover variables (:func:`biostress.measures.rules.landcover_variables`): ``share_<key>`` (0-1 of the
  cell) for every legend class and the flag sums ``green``, ``impervious``, ``water``;
* every indicator raster of :data:`~biostress.measures.rules.INDICATOR_VARIABLES` that ``ctx.rasters`` holds
  (the names are looked up first, so a lazily read mapping only reads the rasters that exist);
* ``distance_natura2000_m`` (m): Euclidean distance from each cell centre to the Natura 2000 sites of
  ``ctx.layers["natura2000"]`` (:func:`distance_to_polygons`); not supplied when the layer is absent;
* ``distance_water_m`` (m): Euclidean distance from each cell centre to the centre of the nearest cell whose
  open-water share (legend flag ``water``) is at least :data:`WATER_MIN_SHARE` (:func:`distance_to_cells`);
* ``setting`` (``"urban"`` / ``"rural"``, a :class:`~biostress.measures.rules.Categorical`): the built-up share
  (impervious classes + ``urban_mixed``) averaged over a disc of ``urban_radius_m`` (200 m) is at least
  ``urban_min_built_share`` (0.2): :func:`biostress.potential.transitions.urban_mask` with the settings of
  :func:`biostress.potential.transitions.load_settings` (ev P);
* the context variables ``owner``, ``roof``, ``school_share``, ``culvert_share`` when ``ctx.rasters`` holds a
  raster of that name (``owner`` / ``roof``: codes ``k`` = the k-th label of
  :data:`~biostress.measures.rules.CATEGORIES`, e.g. owner 0 public, 1 private, 2 unknown; NaN = no value).

The variables of :data:`~biostress.measures.rules.INDICATOR_VARIABLES` and
:data:`~biostress.measures.rules.CONTEXT_VARIABLES` that could not be supplied are listed in
:attr:`RuleVariables.missing`; :func:`unknown_notes` turns them into notes such as "unknown: no ownership data".
Rules are then evaluated with ``missing="false"``: a condition on an absent variable is false, so the measure
is shown as "not known to fit", never as fitting.

Distances (:func:`scipy.ndimage.distance_transform_edt`, exact Euclidean distance transform, sampling = cell
size): the sites are rasterised on the grid (a cell is a site cell when its centre lies inside a polygon; a
polygon that holds no cell centre marks the cells it touches), so a distance runs from a cell centre to the
centre of the nearest site cell and over-estimates the distance to the polygon edge by at most half a cell
diagonal (7 m at 10 m cells). Site cells have distance 0. The sites are rasterised on the grid grown by
``max_distance_m`` on every side, so sites just outside the window count; distances above ``max_distance_m``
are set to ``inf`` ("farther than max_distance_m"): keep rule thresholds at or below it. Water distances only
see the water inside the window (``inf`` when the window holds none). Both are NaN outside the area.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from rasterio import features
from scipy import ndimage

from ..errors import InputDataError
from ..grid import Grid
from ..indicators.base import IndicatorContext
from ..measures.rules import (
    CATEGORIES,
    CONTEXT_VARIABLES,
    INDICATOR_VARIABLES,
    Categorical,
    landcover_variables,
)
from ..potential.transitions import load_settings, urban_mask

__all__ = [
    "DEFAULT_MAX_DISTANCE_M",
    "UNKNOWN_REASONS",
    "WATER_MIN_SHARE",
    "RuleVariables",
    "as_categorical",
    "distance_to_cells",
    "distance_to_polygons",
    "rule_variables",
    "unknown_notes",
]

#: distances to Natura 2000 are computed up to this many metres (P; twice the largest threshold, 1000 m, of
#: the built-in catalogue); beyond it they are ``inf``
DEFAULT_MAX_DISTANCE_M = 5000.0
#: least open-water share of a cell for it to count as water in ``distance_water_m`` (P)
WATER_MIN_SHARE = 0.5

#: why a variable is absent, for the notes (variable -> reason)
UNKNOWN_REASONS: dict[str, str] = {
    "owner": "no ownership data",
    "roof": "no roof-shape data",
    "school_share": "no school-grounds data",
    "culvert_share": "no culvert (piped watercourse) data",
    "distance_natura2000_m": "no Natura 2000 layer",
    "distance_water_m": "no land cover to find open water",
    "nitrogen_exceedance": "no nitrogen deposition data",
    "setting": "no land cover to tell urban from rural",
}


class RuleVariables(dict):
    """The rule variables (name -> per-cell array, scalar or :class:`Categorical`), with ``missing``: the
    indicator and context variables that could not be supplied (sorted), and ``notes``."""

    def __init__(self, values: Mapping[str, Any], missing: Iterable[str] = (), notes: Iterable[str] = ()) -> None:
        super().__init__(values)
        self.missing: list[str] = sorted(set(missing))
        self.notes: list[str] = list(notes)


def _np(a: Any) -> np.ndarray:
    return np.asarray(a.compute() if hasattr(a, "compute") else a)


def distance_to_cells(source: np.ndarray, cell: float) -> np.ndarray:
    """Distance (m) from every cell centre to the centre of the nearest ``source`` cell (0 on source cells):
    ``d = cell * sqrt(di**2 + dj**2)`` minimised over the source cells (exact Euclidean distance transform,
    :func:`scipy.ndimage.distance_transform_edt`). ``inf`` everywhere when there is no source cell."""
    src = np.asarray(source, dtype=bool)
    if src.ndim != 2:
        raise InputDataError(f"The source mask must be 2-D, got shape {src.shape}.")
    if cell <= 0:
        raise InputDataError(f"The cell size must be above 0, got {cell}.")
    if not src.any():
        return np.full(src.shape, np.inf)
    return ndimage.distance_transform_edt(~src, sampling=float(cell))


def distance_to_polygons(grid: Grid, sites: gpd.GeoDataFrame | None,
                         max_distance_m: float = DEFAULT_MAX_DISTANCE_M) -> np.ndarray:
    """Distance (m) from every cell centre of ``grid`` to the nearest site cell (see the module docstring):
    0 inside a site, ``inf`` farther than ``max_distance_m`` or when there is no site. Sites in another CRS are
    reprojected to the grid's. float64, ``grid.shape``."""
    if not max_distance_m >= 0 or not math.isfinite(max_distance_m):
        raise InputDataError(f"max_distance_m must be a finite distance >= 0, got {max_distance_m}.")
    out = np.full(grid.shape, np.inf)
    if sites is None or len(sites) == 0:
        return out
    if sites.crs is not None and not sites.crs.equals(grid.pyproj_crs):
        sites = sites.to_crs(grid.crs)
    geoms = [g for g in shapely.make_valid(np.asarray(sites.geometry.values, dtype=object))
             if g is not None and not g.is_empty]
    if not geoms:
        return out
    pad = int(math.ceil(max_distance_m / grid.cell)) + 1
    shape = (grid.height + 2 * pad, grid.width + 2 * pad)
    transform = Affine(grid.cell, 0.0, grid.x0 - pad * grid.cell, 0.0, -grid.cell, grid.y1 + pad * grid.cell)
    ids = features.rasterize([(g, i + 1) for i, g in enumerate(geoms)], out_shape=shape, transform=transform,
                             fill=0, all_touched=False, dtype="uint32")
    src = ids > 0
    present = set(np.unique(ids[src]).tolist())
    thin = [g for i, g in enumerate(geoms) if i + 1 not in present]
    if thin:  # polygons that hold no cell centre: mark the cells they touch
        src |= features.rasterize(thin, out_shape=shape, transform=transform, fill=0, default_value=1,
                                  all_touched=True, dtype="uint8").astype(bool)
    d = distance_to_cells(src, grid.cell)[pad:pad + grid.height, pad:pad + grid.width]
    return np.where(d <= max_distance_m + 1e-9, d, np.inf)


def as_categorical(name: str, codes: Any) -> Categorical:
    """A categorical rule variable from a raster of codes: value ``k`` = the k-th label of
    ``CATEGORIES[name]``; NaN or any other value = no value."""
    labels = CATEGORIES[name]
    a = _np(codes).astype(np.float64)
    ok = np.isfinite(a) & (a >= 0) & (a < len(labels)) & (a == np.floor(np.where(np.isfinite(a), a, 0.0)))
    return Categorical(np.where(ok, a, -1).astype(np.int16), tuple(labels))


def rule_variables(ctx: IndicatorContext, *, max_distance_m: float = DEFAULT_MAX_DISTANCE_M) -> RuleVariables:
    """The variables the measure rules read, on ``ctx``'s grid (see the module docstring)."""
    fr = ctx.fractions
    if fr.ndim != 3 or tuple(fr.shape[1:]) != ctx.grid.shape:
        raise InputDataError(f"The land-cover fractions have shape {tuple(fr.shape)}; expected "
                             f"({len(ctx.legend.classes)}, {ctx.grid.height}, {ctx.grid.width}) for the grid.")
    values: dict[str, Any] = dict(landcover_variables(fr, ctx.legend))
    notes: list[str] = []
    known = np.nansum(_np(fr).astype(np.float64), axis=0)
    inside = known > 0
    names = set(ctx.rasters.keys()) if ctx.rasters else set()  # names only: nothing is read here
    for name in INDICATOR_VARIABLES:
        if name in names:
            arr = ctx.rasters[name]
            if tuple(arr.shape) != ctx.grid.shape:
                raise InputDataError(f"The '{name}' raster has shape {tuple(arr.shape)}, the grid {ctx.grid.shape}.",
                                     hint="Resample it onto the analysis grid.")
            values[name] = arr
    for name in ("school_share", "culvert_share", "owner", "roof"):
        if name in names:
            arr = ctx.rasters[name]
            if tuple(arr.shape) != ctx.grid.shape:
                raise InputDataError(f"The '{name}' raster has shape {tuple(arr.shape)}, the grid {ctx.grid.shape}.",
                                     hint="Resample it onto the analysis grid.")
            values[name] = as_categorical(name, arr) if name in CATEGORIES else arr
    sites = (ctx.layers or {}).get("natura2000")
    if sites is not None:
        d = distance_to_polygons(ctx.grid, sites, max_distance_m)
        values["distance_natura2000_m"] = np.where(inside, d, np.nan)
        notes.append(f"distance_natura2000_m: cell centre to the nearest Natura 2000 cell (rasterised sites, exact "
                     f"Euclidean distance transform); beyond {max_distance_m:g} m counted as farther (inf)")
    water = _np(values["water"])
    dw = distance_to_cells(np.nan_to_num(water, nan=0.0) >= WATER_MIN_SHARE - 1e-9, ctx.grid.cell)
    values["distance_water_m"] = np.where(inside, dw, np.nan)
    settings = load_settings(ctx.params_dir)
    urban, rural = urban_mask(fr, ctx.legend, ctx.inside, ctx.grid.cell, settings.urban_radius_m,
                              settings.urban_min_built_share)
    codes = np.where(_np(urban), 0, np.where(_np(rural), 1, -1)).astype(np.int16)
    values["setting"] = Categorical(codes, ("urban", "rural"))
    missing = [n for n in (*INDICATOR_VARIABLES, *CONTEXT_VARIABLES) if n not in values]
    return RuleVariables(values, missing, notes)


def unknown_notes(missing: Iterable[str], needed_by: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """Notes for absent variables: ``"unknown: no ownership data (owner): measures tiny_forest, ..."``.
    ``needed_by``: variable -> the measures whose rule reads it (only those variables are reported when given)."""
    out = []
    for name in sorted(set(missing)):
        who = sorted(set(needed_by.get(name, ()))) if needed_by is not None else []
        if needed_by is not None and not who:
            continue
        reason = UNKNOWN_REASONS.get(name, f"the indicator {name} was not computed"
                                     if name in INDICATOR_VARIABLES else "no data")
        tail = f": measures {', '.join(who)} are not shown where their rule needs it" if who else ""
        out.append(f"unknown: {reason} ({name}){tail}")
    return out
