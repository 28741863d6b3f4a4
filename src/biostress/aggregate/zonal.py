"""Exact area-weighted zonal statistics of a run's rasters over any polygons.

For a polygon ``P`` and a raster with values ``v_i`` on cells ``C_i``, exactextract (Baston 2022,
github.com/isciences/exactextract) computes the exact share of each cell covered by the polygon,
``w_i = area(P ∩ C_i) / area(C_i)`` (0-1), and the statistics use those weights:

* ``mean  = sum_i w_i v_i / sum_i w_i`` over the cells with a value (NaN and nodata cells are left out,
  so they neither count as 0 nor dilute the mean);
* ``sum   = sum_i w_i v_i`` (in raster units x cells: multiply by the cell area for an areal density);
* ``count = sum_i w_i`` (covered cells with a value, in cells; 0 when there is none);
* ``min``/``max``/``majority``/``median``/``stdev`` over the cells the polygon touches
  (``majority`` and ``median`` weighted by ``w_i``).

A polygon with no valued cell gets NaN. Rasters are read from the run folder file by file (exactextract reads
each polygon's window from the GeoTIFF), so memory does not grow with the raster size ("streamed per raster").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely

from ..errors import ConfigError, InputDataError

OPS = ("mean", "sum", "count", "min", "max", "majority", "median", "stdev")


def _open(run: Any) -> Any:
    from ..runs import OpenRun, open_run

    return run if isinstance(run, OpenRun) else open_run(run)


def raster_path(run: Any, name: str) -> Path:
    """The GeoTIFF of the run raster ``name`` (``green_share``, ``landcover``, ``landcover_fractions``, ...)."""
    run = _open(run)
    p = run.files.paths.get(name)
    if p is None:
        alias = {"landcover": "__dominant__", "landcover_fractions": "__fractions__"}.get(name)
        p = run.files.paths.get(alias) if alias else None
    if p is None and (run.path / f"{name}.tif").is_file():
        p = run.path / f"{name}.tif"
    if p is None:
        have = sorted(n for n in run.files.paths if not n.startswith("__"))
        raise InputDataError(f"The run {run.path} has no raster {name!r}.",
                             hint=f"Use one of: {', '.join(have + ['landcover', 'landcover_fractions'])}.")
    return Path(p)


def _polygons(polygons: Any, crs: Any) -> gpd.GeoDataFrame:
    if isinstance(polygons, gpd.GeoDataFrame):
        gdf = gpd.GeoDataFrame(geometry=polygons.geometry.values, index=polygons.index, crs=polygons.crs)
    elif isinstance(polygons, gpd.GeoSeries):
        gdf = gpd.GeoDataFrame(geometry=polygons)
    else:
        geoms = list(polygons) if isinstance(polygons, Iterable) else [polygons]
        gdf = gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms))
    if gdf.crs is None:
        gdf = gdf.set_crs(crs)
    elif not gdf.crs.equals(crs):
        gdf = gdf.to_crs(crs)
    types = set(gdf.geometry.dropna().geom_type)
    if types - {"Polygon", "MultiPolygon"}:
        raise InputDataError(f"zonal_stats needs polygons; got {sorted(types)}.",
                             hint="Buffer lines or points first (e.g. street_segments buffers road lines).")
    return gdf


def zonal_stats(run: Any, polygons: Any, rasters: str | Sequence[str], ops: Sequence[str] = ("mean",)) -> pd.DataFrame:
    """Exact coverage-weighted statistics of the run's ``rasters`` over ``polygons``.

    ``run`` is a run folder or :class:`biostress.runs.OpenRun`; ``polygons`` a GeoDataFrame / GeoSeries / list of
    polygons (reprojected to the run grid's CRS; no CRS = the grid's). Returns a DataFrame on the polygons' index
    with one column ``<raster>_<op>`` per raster and operation (multi-band rasters: ``<raster>_<band>_<op>``,
    the band named by its description, e.g. the land-cover key of ``landcover_fractions``). NaN cells are left
    out; polygons without any valued cell (or empty geometries) get NaN.
    """
    from exactextract import exact_extract

    run = _open(run)
    names = [rasters] if isinstance(rasters, str) else list(rasters)
    ops = list(ops)
    bad = [o for o in ops if o not in OPS]
    if bad or not ops:
        raise ConfigError(f"Unknown zonal statistic(s) {bad or ops}.", hint=f"Use some of: {', '.join(OPS)}.")
    gdf = _polygons(polygons, run.grid.pyproj_crs)
    out = pd.DataFrame(index=gdf.index)
    geom = gdf.geometry.values
    ok = ~(shapely.is_empty(geom) | shapely.is_missing(geom))
    sub = gpd.GeoDataFrame(geometry=shapely.make_valid(geom[ok]), crs=gdf.crs).reset_index(drop=True)
    for name in names:
        path = raster_path(run, name)
        with rasterio.open(path) as src:
            descr = [d or f"b{i + 1}" for i, d in enumerate(src.descriptions)] if src.count > 1 else [None]
        want = ops if "count" in ops else [*ops, "count"]
        df = exact_extract(str(path), sub, want, output="pandas") if len(sub) else pd.DataFrame()
        for b, d in enumerate(descr):
            pre = "" if d is None else f"band_{b + 1}_"
            cnt = pd.to_numeric(df[f"{pre}count"]).to_numpy(float) if len(sub) else np.zeros(0)
            for op in ops:
                col = f"{name}_{op}" if d is None else f"{name}_{d}_{op}"
                vals = np.full(len(gdf), np.nan)
                if op == "count":
                    vals[:] = 0.0
                if len(sub):
                    v = pd.to_numeric(df[f"{pre}{op}"], errors="coerce").to_numpy(dtype=float)
                    vals[ok] = v if op == "count" else np.where(cnt > 0, v, np.nan)
                out[col] = vals
    return out


__all__ = ["OPS", "raster_path", "zonal_stats"]
