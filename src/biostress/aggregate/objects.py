"""Objects a municipality manages: street segments, verges, parks and woods, with indicator means.

* **Street segments** (:func:`street_segments`): the run's ``roads`` layer (OpenMapTiles road centre lines with
  ``class``) split into pieces of equal length ``<= max_length_m`` (a line of length ``L`` gives
  ``ceil(L / max_length_m)`` pieces), each buffered by the half-width of its class plus ``verge_m`` (5 m, P) of
  verge. Half-widths are half of ``width_m`` of the first matching ``openmaptiles/transportation`` row of the
  land-cover mapping table (``landcover_mapping.csv``, the same widths that painted the roads into the land
  cover; ev R there). Rows mapped to ``ignore`` (tunnels, ferries, razed roads) give no segment.
* **Verges** (:func:`managed_objects`): the street buffer minus the carriageway (buffer by the half-width) of
  every road it touches, with the mean ``green_share`` of the run (exact coverage-weighted) and the green area
  ``green_m2 = green_share_mean * area_m2``.
* **Parks**: 4-connected areas of cells whose dominant class (``landcover.tif``) is one of ``park_keys``
  (lawn, herb-rich grassland, shrub, trees; private gardens and allotments are not public) of at least
  ``min_area_ha`` (0.5 ha: WHO Europe 2016 guidance of 0.5-1 ha, KB 4b, ev R), polygonised with
  :func:`rasterio.features.shapes`; ``area_m2 = cells * cell area``.
* **Woods**: the same for ``trees_woodland`` alone.

:func:`aggregate_objects` adds ``<raster>_mean`` (any exactextract statistic) of the run's rasters to each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio import features
from scipy import ndimage
from shapely.geometry import shape

from ..errors import InputDataError
from ..grid import Grid
from .zonal import _open, raster_path, zonal_stats

PARK_KEYS: tuple[str, ...] = ("lawn_grass", "herb_rich_grassland", "shrub", "trees_woodland")
WOOD_KEYS: tuple[str, ...] = ("trees_woodland",)
VERGE_M = 5.0  # P: a typical verge (berm) beside the carriageway
MIN_AREA_HA = 0.5  # R: WHO Europe 2016, public green of at least 0.5-1 ha (KB 4b)


# --------------------------------------------------------------------------------------------- streets
def road_half_widths(roads: gpd.GeoDataFrame, legend: Any) -> np.ndarray:
    """Half of the carriageway width (m) per road from the land-cover mapping table (NaN: not a surface)."""
    from ..landcover.mapping import IGNORE, classify, load_mapping

    rules = load_mapping(legend).for_layer("openmaptiles", "transportation")
    df = pd.DataFrame({c: roads[c].astype("string") for c in ("class", "brunnel") if c in roads.columns},
                      index=roads.index)
    idx = classify(df, rules)
    out = np.full(len(roads), np.nan)
    for i, k in enumerate(idx):
        if k >= 0 and rules[k].cls != IGNORE and rules[k].width_m:
            out[i] = rules[k].width_m / 2.0
    return out


def split_line(line: Any, max_length_m: float) -> list[Any]:
    """``line`` cut into ``ceil(L / max_length_m)`` pieces of equal length (one piece when shorter)."""
    from shapely.ops import substring

    length = float(line.length)
    n = max(1, math.ceil(length / max_length_m - 1e-9))
    if n == 1:
        return [line]
    step = length / n
    return [substring(line, i * step, (i + 1) * step) for i in range(n)]


def street_segments(run: Any, max_length_m: float = 250.0, *, verge_m: float = VERGE_M) -> gpd.GeoDataFrame:
    """Road centre lines of the run's ``roads`` layer split into segments of at most ``max_length_m`` m, each
    buffered by its class half-width + ``verge_m`` (flat caps). Columns: ``id``, ``class``, ``length_m`` (of the
    centre line), ``half_width_m``, ``buffer_m``, ``line`` (the centre line, WKT) and the buffer polygon."""
    if not max_length_m > 0:
        raise InputDataError(f"max_length_m must be positive, got {max_length_m}.")
    run = _open(run)
    roads = run.layers.get("roads")
    if roads is None:
        raise InputDataError(f"The run {run.path} has no 'roads' layer.",
                             hint="Street segments need the OpenMapTiles road centre lines of a run.")
    roads = roads[roads.geom_type.isin(["LineString", "MultiLineString"])].reset_index(drop=True)
    hw = road_half_widths(roads, run.legend)
    rows: list[dict] = []
    for i, (geom, cls) in enumerate(zip(roads.geometry.values, roads.get("class", pd.Series([""] * len(roads))),
                                        strict=True)):
        if not np.isfinite(hw[i]) or geom is None or geom.is_empty:
            continue
        for part in shapely.get_parts(geom):
            for seg in split_line(part, max_length_m):
                if seg.length <= 0:
                    continue
                rows.append({"class": str(cls), "length_m": float(seg.length), "half_width_m": float(hw[i]),
                             "buffer_m": float(hw[i] + verge_m), "road_index": i, "line": seg})
    if not rows:
        return gpd.GeoDataFrame({"id": [], "class": [], "length_m": [], "half_width_m": [], "buffer_m": [],
                                 "road_index": [], "line": []}, geometry=[], crs=run.grid.crs)
    df = pd.DataFrame(rows)
    lines = df.pop("line").to_numpy()
    poly = shapely.buffer(lines, df["buffer_m"].to_numpy(), cap_style="flat")
    out = gpd.GeoDataFrame(df, geometry=poly, crs=run.grid.crs)
    out.insert(0, "id", np.arange(len(out)))
    out["line"] = shapely.to_wkt(lines, rounding_precision=2)
    return out


def verges(segments: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The street buffers minus every carriageway (buffer by the half-width) they touch: the verge of each
    segment (``id`` of the segment, ``class``, ``area_m2``)."""
    lines = shapely.from_wkt(segments["line"].to_numpy())
    carriage = shapely.buffer(lines, segments["half_width_m"].to_numpy(), cap_style="flat")
    tree = shapely.STRtree(carriage)
    outer = segments.geometry.values
    src, hit = tree.query(outer, predicate="intersects")
    geoms = list(outer)
    order = np.argsort(src, kind="stable")
    src, hit = src[order], hit[order]
    bounds = np.flatnonzero(np.r_[True, src[1:] != src[:-1]]) if len(src) else np.zeros(0, int)
    for b, e in zip(bounds, np.r_[bounds[1:], len(src)], strict=True):
        i = int(src[b])
        geoms[i] = shapely.difference(outer[i], shapely.union_all(carriage[hit[b:e]]))
    out = gpd.GeoDataFrame({"id": segments["id"].to_numpy(), "class": segments["class"].to_numpy()},
                           geometry=geoms, crs=segments.crs)
    out["area_m2"] = out.geometry.area
    return out


# ------------------------------------------------------------------------------------- parks and woods
def green_components(dominant: np.ndarray, codes: Sequence[int], grid: Grid, min_area_ha: float) -> gpd.GeoDataFrame:
    """4-connected areas of cells whose class code is in ``codes`` with at least ``min_area_ha``, as polygons
    (``id``, ``cells``, ``area_m2``, ``area_ha``)."""
    mask = np.isin(np.asarray(dominant), np.asarray(list(codes), dtype=np.int64))
    lab, n = ndimage.label(mask)  # 4-connectivity (rook)
    cols = {"id": [], "cells": [], "area_m2": [], "area_ha": []}
    if n == 0:
        return gpd.GeoDataFrame(cols, geometry=[], crs=grid.crs)
    cells = np.bincount(lab.ravel(), minlength=n + 1)
    keep = np.flatnonzero(cells * grid.cell_area >= min_area_ha * 1e4 - 1e-6)
    keep = keep[keep > 0]
    if len(keep) == 0:
        return gpd.GeoDataFrame(cols, geometry=[], crs=grid.crs)
    new = np.zeros(n + 1, dtype=np.int32)
    new[keep] = np.arange(1, len(keep) + 1)
    lab2 = new[lab]
    parts: dict[int, list[Any]] = {}
    for geom, val in features.shapes(lab2, mask=lab2 > 0, connectivity=4, transform=grid.transform):
        parts.setdefault(int(val), []).append(shape(geom))
    ids = sorted(parts)
    geoms = [shapely.union_all(parts[k]) if len(parts[k]) > 1 else parts[k][0] for k in ids]
    c = cells[keep][np.asarray(ids) - 1]
    return gpd.GeoDataFrame({"id": np.asarray(ids) - 1, "cells": c, "area_m2": c * grid.cell_area,
                             "area_ha": c * grid.cell_area / 1e4}, geometry=geoms, crs=grid.crs)


def _dominant(run: Any) -> np.ndarray:
    with rasterio.open(raster_path(run, "landcover")) as src:
        return src.read(1)


def parks(run: Any, *, keys: Sequence[str] = PARK_KEYS, min_area_ha: float = MIN_AREA_HA) -> gpd.GeoDataFrame:
    """Connected public green areas (classes ``keys``, garden_allotment never) of at least ``min_area_ha``."""
    run = _open(run)
    keys = [k for k in keys if k != "garden_allotment"]
    codes = [run.legend.by_key(k).code for k in keys]
    return green_components(_dominant(run), codes, run.grid, min_area_ha)


def woods(run: Any, *, min_area_ha: float = MIN_AREA_HA) -> gpd.GeoDataFrame:
    """Connected trees_woodland areas of at least ``min_area_ha``."""
    run = _open(run)
    codes = [run.legend.by_key(k).code for k in WOOD_KEYS]
    return green_components(_dominant(run), codes, run.grid, min_area_ha)


def managed_objects(run: Any, *, max_length_m: float = 250.0, verge_m: float = VERGE_M,
                    min_area_ha: float = MIN_AREA_HA, park_keys: Sequence[str] = PARK_KEYS,
                    segments: gpd.GeoDataFrame | None = None) -> dict[str, gpd.GeoDataFrame]:
    """``verges`` (when the run has roads; with ``green_share_mean`` and ``green_m2`` when it has ``green_share``),
    ``parks`` and ``woods`` of the run (see the module docstring). ``segments``: street segments already made
    with :func:`street_segments` (else they are made here)."""
    run = _open(run)
    out: dict[str, gpd.GeoDataFrame] = {}
    if segments is None and run.layers.get("roads") is not None:
        segments = street_segments(run, max_length_m, verge_m=verge_m)
    if segments is not None:
        v = verges(segments)
        if "green_share" in run.files.paths and len(v):
            g = zonal_stats(run, v, "green_share")["green_share_mean"].to_numpy()
            v["green_share_mean"] = g
            v["green_m2"] = np.where(np.isfinite(g), g, 0.0) * v["area_m2"].to_numpy()
        out["verges"] = v
    dom = _dominant(run)
    codes = [run.legend.by_key(k).code for k in park_keys if k != "garden_allotment"]
    out["parks"] = green_components(dom, codes, run.grid, min_area_ha)
    out["woods"] = green_components(dom, [run.legend.by_key(k).code for k in WOOD_KEYS], run.grid, min_area_ha)
    return out


def aggregate_objects(run: Any, rasters: str | Sequence[str], *, ops: Sequence[str] = ("mean",),
                      max_length_m: float = 250.0) -> dict[str, gpd.GeoDataFrame]:
    """``street_segments`` (when the run has roads), ``verges``, ``parks`` and ``woods`` of the run, each with
    ``<raster>_<op>`` columns (exact coverage-weighted zonal statistics of the run's ``rasters``)."""
    run = _open(run)
    objs: dict[str, gpd.GeoDataFrame] = {}
    if run.layers.get("roads") is not None:
        objs["street_segments"] = street_segments(run, max_length_m)
    objs.update(managed_objects(run, max_length_m=max_length_m, segments=objs.get("street_segments")))
    for gdf in objs.values():
        if len(gdf):
            st = zonal_stats(run, gdf, rasters, ops)
            for c in st.columns:
                gdf[c] = st[c].to_numpy()
    return objs


__all__ = ["MIN_AREA_HA", "PARK_KEYS", "VERGE_M", "aggregate_objects", "green_components", "managed_objects",
           "parks", "road_half_widths", "split_line", "street_segments", "verges", "woods"]
