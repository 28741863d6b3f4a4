"""Local rasters: land-cover rasters (ESA WorldCover, CORINE) and elevation (AHN), aligned to the grid.

Rasters are opened with the GTiff driver named explicitly after the content check, read per grid
block (bounded memory) and resampled onto the analysis grid:

* class rasters -> the share of each grid cell per class: the class indicator (1 inside the
  class, 0 elsewhere, source nodata excluded) averaged onto the grid (``Resampling.average``);
* continuous rasters (DEM) -> block average when the source is finer than the grid, bilinear
  when it is coarser.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS as RioCRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import from_bounds

from ..errors import InputDataError, NoOverlapError
from ..grid import Grid
from .safe import check_format


def open_raster(path: Path) -> rasterio.DatasetReader:
    """Open a GeoTIFF/COG after checking its content; refuse rasters without CRS."""
    check_format(path, "gtiff")
    try:
        src = rasterio.open(path, driver="GTiff")
    except rasterio.errors.RasterioError as e:
        raise InputDataError(f"Cannot read the raster {path}: {e}", hint="The file may be corrupt or truncated.") from e
    if src.crs is None:
        src.close()
        raise InputDataError(f"The raster {path} has no CRS.", hint="Assign its CRS (e.g. gdal_edit.py -a_srs EPSG:28992).")
    return src


def read_band(src: rasterio.DatasetReader, **kwargs) -> np.ma.MaskedArray:
    """``src.read(1, masked=True, **kwargs)``; a read failure (corrupt or truncated file) becomes an
    :class:`InputDataError` naming the file."""
    try:
        return src.read(1, masked=True, **kwargs)
    except rasterio.errors.RasterioError as e:
        raise InputDataError(f"Cannot read the raster {src.name}: {e}",
                             hint="The file may be corrupt or truncated; download or export it again.") from e


def check_overlap(src: rasterio.DatasetReader, grid: Grid, path: Path) -> None:
    b = transform_bounds(src.crs, RioCRS.from_user_input(grid.crs), *src.bounds, densify_pts=21)
    g = grid.bounds
    if b[0] >= g[2] or b[2] <= g[0] or b[1] >= g[3] or b[3] <= g[1]:
        raise NoOverlapError(f"The raster {path} (extent {tuple(round(v) for v in b)} in {grid.crs}) does not overlap the area "
                             f"(extent {tuple(round(v) for v in g)}).", hint="Check that the file covers the area and that its CRS is right.")


def _read_block(src: rasterio.DatasetReader, sub: Grid, margin_cells: int = 2):
    """Read the part of band 1 covering ``sub`` (plus a margin), as (array, transform) or None."""
    b = transform_bounds(RioCRS.from_user_input(sub.crs), src.crs, *sub.bounds, densify_pts=21)
    resx, resy = src.res
    b = (b[0] - margin_cells * resx, b[1] - margin_cells * resy, b[2] + margin_cells * resx, b[3] + margin_cells * resy)
    win = from_bounds(*b, transform=src.transform).round_offsets().round_lengths()
    win = win.intersection(rasterio.windows.Window(0, 0, src.width, src.height)) if _overlaps(win, src) else None
    if win is None or win.width <= 0 or win.height <= 0:
        return None
    arr = read_band(src, window=win)
    return arr, src.window_transform(win)


def _overlaps(win, src) -> bool:
    return not (win.col_off >= src.width or win.row_off >= src.height or win.col_off + win.width <= 0
                or win.row_off + win.height <= 0)


def class_shares(src: rasterio.DatasetReader, sub: Grid, groups: dict[int, list[int]]) -> dict[int, np.ndarray]:
    """Share of each cell of ``sub`` per target class; ``groups`` maps class code -> source codes."""
    out: dict[int, np.ndarray] = {}
    blk = _read_block(src, sub)
    if blk is None:
        return out
    arr, tr = blk
    valid = ~np.ma.getmaskarray(arr)
    data = np.ma.getdata(arr)
    for cls, codes in groups.items():
        ind = (np.isin(data, codes) & valid).astype(np.float32)
        if not ind.any():
            continue
        dst = np.zeros(sub.shape, dtype=np.float32)
        reproject(ind, dst, src_transform=tr, src_crs=src.crs, dst_transform=sub.transform,
                  dst_crs=RioCRS.from_user_input(sub.crs), resampling=Resampling.average, src_nodata=None, dst_nodata=None)
        out[cls] = dst
    return out


def continuous_block(src: rasterio.DatasetReader, sub: Grid) -> np.ndarray:
    """Band 1 resampled onto ``sub`` (NaN where the source has no data)."""
    dst = np.full(sub.shape, np.nan, dtype=np.float32)
    blk = _read_block(src, sub)
    if blk is None:
        return dst
    arr, tr = blk
    data = np.ma.filled(arr.astype(np.float32), np.nan)
    finer = max(src.res) < sub.cell
    reproject(data, dst, src_transform=tr, src_crs=src.crs, dst_transform=sub.transform,
              dst_crs=RioCRS.from_user_input(sub.crs), resampling=Resampling.average if finer else Resampling.bilinear,
              src_nodata=np.nan, dst_nodata=np.nan)
    return dst
