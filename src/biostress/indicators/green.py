"""Green structure: green, tree-canopy and impervious share per cell, and NDVI from multispectral bands.

Formulas
--------
All shares come from the harmonised land-cover fractions (``ctx.fractions``; each band is the share
of the *whole* cell covered by one legend class, so at the area boundary they sum to ``inside``, the
part of the cell inside the area):

* green share      ``G = sum_{c: green}      f_c / inside``   (legend flag ``green``)
* impervious share ``I = sum_{c: impervious} f_c / inside``   (legend flag ``impervious``)
* canopy share     ``T = sum_{c in canopy}   f_c / inside``   (default class ``trees_woodland``;
  tree registers reach it through the land cover: their crowns are painted as ``trees_woodland``)

Units: fraction of the cell area inside the area (0-1). Dividing by ``inside`` makes a boundary cell
carry the share of its inside part, so the pipeline's coverage-weighted per-unit mean (exactextract
``mean``, weight = part of the cell in the unit) gives the share of the unit area that is green /
canopy / impervious (exact when the unit edge is the area edge or a cell edge; otherwise each cell's
cover is taken as spread evenly over the cell). Cells outside the area are NaN.

What the shares do not invent: the ``unknown`` class (no source covers that part of the cell) and
``urban_mixed`` (built-up land whose green part is not known) count as neither green nor impervious,
so G and I are lower bounds there; :func:`compute` reports how much of the area that concerns.

NDVI (Rouse et al. 1974, "Monitoring vegetation systems in the Great Plains with ERTS"):
``NDVI = (NIR - Red) / (NIR + Red)``, dimensionless, -1..1, from surface reflectance (or any two
bands on the same linear scale *without offset*: the ratio is invariant to a common gain, not to an
offset such as Sentinel-2's BOA_ADD_OFFSET, which must be removed first). Cells where
``NIR + Red <= 0`` or either band is missing are NaN.

Every function works on ``numpy`` and ``dask.array`` inputs alike (elementwise operations only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, InputDataError
from ..landcover.legend import Legend
from .base import IndicatorContext, IndicatorResult
from .common import scalar, xp_of

CANOPY_CLASSES: tuple[str, ...] = ("trees_woodland",)
FLAGS = ("green", "impervious", "water")

__all__ = [
    "CANOPY_CLASSES",
    "canopy_share",
    "class_indices",
    "compute",
    "cover_share",
    "flag_indices",
    "green_share",
    "impervious_share",
    "ndvi",
]


def flag_indices(legend: Legend, flag: str) -> list[int]:
    """Band indices (into ``ctx.fractions``) of the legend classes with ``flag`` set."""
    if flag not in FLAGS:
        raise ConfigError(f"Unknown legend flag '{flag}'.", hint=f"Use one of {FLAGS}.")
    return [i for i, c in enumerate(legend.classes) if getattr(c, flag)]


def class_indices(legend: Legend, keys: Sequence[str]) -> list[int]:
    """Band indices of the legend classes ``keys`` (ConfigError naming the legend if one is unknown)."""
    for k in keys:
        legend.by_key(k)  # raises ConfigError with the list of known keys
    return [legend.keys.index(k) for k in keys]


def cover_share(fractions: Any, indices: Sequence[int], inside: Any) -> Any:
    """Share of the inside part of each cell covered by the classes ``indices``.

    ``sum_i fractions[i] / inside`` where ``inside > 0``, NaN elsewhere; clipped to 0-1 (rounding in
    the fractions may exceed 1 by a few 1e-7). Returns float32, numpy or dask like the input.
    """
    xp = xp_of(fractions)
    if fractions.ndim != 3:
        raise InputDataError(f"Cover fractions must be (classes, rows, cols), got shape {fractions.shape}.")
    if tuple(inside.shape) != tuple(fractions.shape[1:]):
        raise InputDataError(f"'inside' has shape {inside.shape}, the fractions {fractions.shape[1:]}.")
    if len(indices) == 0:
        total = xp.zeros_like(inside, dtype=np.float32)
    else:
        sel = fractions[list(indices)].astype(np.float64)
        total = xp.where(xp.isnan(sel), 0.0, sel).sum(axis=0)
    ins = inside.astype(np.float64)
    ok = ins > 0
    share = xp.where(ok, total / xp.where(ok, ins, 1.0), np.nan)
    return xp.clip(share, 0.0, 1.0).astype(np.float32)


def green_share(fractions: Any, legend: Legend, inside: Any) -> Any:
    """Green share G (0-1): classes flagged ``green`` in the legend. See the module docstring."""
    return cover_share(fractions, flag_indices(legend, "green"), inside)


def impervious_share(fractions: Any, legend: Legend, inside: Any) -> Any:
    """Impervious share I (0-1): classes flagged ``impervious`` in the legend."""
    return cover_share(fractions, flag_indices(legend, "impervious"), inside)


def canopy_share(fractions: Any, legend: Legend, inside: Any, keys: Sequence[str] = CANOPY_CLASSES) -> Any:
    """Tree-canopy share T (0-1): the cover of ``keys`` (default ``trees_woodland``)."""
    return cover_share(fractions, class_indices(legend, keys), inside)


def ndvi(red: Any, nir: Any) -> Any:
    """NDVI = (NIR - Red) / (NIR + Red), float32, NaN where NIR + Red <= 0 or a band is not finite.

    >>> ndvi(np.array([[0.1, 0.0]]), np.array([[0.5, 0.0]]))
    array([[0.6666667,       nan]], dtype=float32)
    """
    if tuple(red.shape) != tuple(nir.shape):
        raise InputDataError(f"The red band {tuple(red.shape)} and the NIR band {tuple(nir.shape)} differ in shape.",
                             hint="Resample both bands onto the analysis grid.")
    xp = xp_of(red, nir)
    r = red.astype(np.float64)
    n = nir.astype(np.float64)
    s = n + r
    ok = xp.isfinite(r) & xp.isfinite(n) & (s > 0)
    out = xp.where(ok, (n - r) / xp.where(ok, s, 1.0), np.nan)
    return out.astype(np.float32)


def _nan_outside(arr: Any, inside: Any) -> Any:
    xp = xp_of(arr)
    return xp.where(inside > 0, arr, np.nan).astype(np.float32)


def compute(ctx: IndicatorContext) -> list[IndicatorResult]:
    """Green, canopy and impervious share per cell (summarised per unit as the mean = share of the
    unit), and NDVI when ``ctx.rasters`` has ``red`` and ``nir`` (else a note)."""
    fr, legend, inside = ctx.fractions, ctx.legend, ctx.inside
    notes: list[str] = []
    keys = legend.keys
    xp = xp_of(fr)
    inside_sum = scalar(xp.nansum(inside.astype(np.float64)))
    for key, what in (("unknown", "no source covers it"), ("urban_mixed", "built-up land whose green part is not known")):
        if key in keys and inside_sum > 0:
            s = scalar(xp.nansum(fr[keys.index(key)].astype(np.float64))) / inside_sum
            if s > 0.0005:
                notes.append(f"{s:.1%} of the area is '{key}' ({what}); it counts as neither green nor impervious, "
                             "so the green and impervious shares are lower bounds there")
    canopy_keys = [k for k in CANOPY_CLASSES if k in keys]
    results = [
        IndicatorResult(
            "green_share", green_share(fr, legend, inside), "fraction 0-1",
            "Share of each cell (its part inside the area) covered by classes flagged green in the legend; "
            "the per-unit mean is the green share of the unit",
            "Green share", "Aandeel groen", palette="good_high", vmin=0.0, vmax=1.0, summarise=("mean",),
            notes=list(notes)),
        IndicatorResult(
            "impervious_share", impervious_share(fr, legend, inside), "fraction 0-1",
            "Share of each cell covered by classes flagged impervious (buildings, roads, paving, rail); "
            "the per-unit mean is the impervious share of the unit",
            "Impervious share", "Aandeel verhard", palette="bad_high", vmin=0.0, vmax=1.0, summarise=("mean",)),
    ]
    if canopy_keys:
        results.insert(1, IndicatorResult(
            "canopy_share", canopy_share(fr, legend, inside, canopy_keys), "fraction 0-1",
            "Share of each cell under tree canopy: the trees_woodland land-cover class, which includes the crowns "
            "of tree-register trees; the per-unit mean is the canopy share of the unit",
            "Tree canopy share", "Aandeel boomkroon", palette="good_high", vmin=0.0, vmax=1.0, summarise=("mean",),
            notes=["canopy = cover of the trees_woodland class; trees mapped only as points without a tree register, "
                   "or standing in orchards and nurseries, are not counted"]))
    else:
        notes.append("the legend has no 'trees_woodland' class: no tree canopy share computed")
        results[0].notes.append(notes[-1])
    rasters = ctx.rasters or {}
    if "red" in rasters and "nir" in rasters:
        red, nir = rasters["red"], rasters["nir"]
        for name, band in (("red", red), ("nir", nir)):
            if tuple(band.shape) != tuple(ctx.grid.shape):
                raise InputDataError(f"The '{name}' raster has shape {tuple(band.shape)}, the analysis grid "
                                     f"{ctx.grid.shape}.", hint="Resample the band onto the analysis grid.")
        results.append(IndicatorResult(
            "ndvi", _nan_outside(ndvi(red, nir), inside), "index -1..1",
            "Normalised difference vegetation index (NIR - Red) / (NIR + Red) from the supplied red and near-infrared "
            "bands (surface reflectance)", "NDVI (vegetation index)", "NDVI (vegetatie-index)",
            palette="good_high", vmin=-0.2, vmax=0.9, summarise=("mean",)))
    else:
        missing = [b for b in ("red", "nir") if b not in rasters]
        results[0].notes.append(f"no multispectral raster supplied (missing band(s): {', '.join(missing)}): NDVI not "
                                "computed")
    return results
