"""The surrounding zone of a Natura 2000 site and its cells on the analysis grid.

Geometry (CRS units, metres; the site layer must be in a projected CRS):

    zone = buffer(site, distance_m) - site            (a ring; shapely buffer, 16 segments per quarter circle)

A site is picked by its code or name in the ``natura2000`` context layer (the PDOK/RVO layer has
``sitecode_hr``, ``sitecode_vr``, ``slug``, ``nr`` and ``naam``; ``sitecode`` and ``name`` are
accepted too). Several rows that match one code (a site cut into parts) are merged.

Cells (:func:`zone_cells`): on a window of the grid around the buffer,

* ``site_cover`` / ``zone_cover``: the exact share (0-1) of each cell covered by the site / the
  ring, from exactextract (``coverage``: the area of the polygon inside the cell divided by the
  cell area; Baston 2022, exactextract, exact for polygons). Area-weighted statistics use these.
* ``site_centre`` / ``zone_centre``: the cell centre lies in the site / the ring (rasterio
  ``rasterize``, ``all_touched=False``). The patch metrics use these, as in
  :mod:`biostress.indicators.fragmentation` (a cell belongs to the unit that holds its centre).
* ``distance_m`` (computed on first use): distance (m) from each cell centre to the site polygon
  (0 inside), exact (shapely) for the cells the buffer touches; NaN elsewhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio import features

from ..errors import ConfigError, InputDataError, NoOverlapError
from ..grid import Grid

#: columns of the site layer a site code is matched against (case-insensitive), in this order
CODE_COLUMNS = ("sitecode_hr", "sitecode_vr", "sitecode", "slug", "nr", "naam", "name")
#: columns holding the site name
NAME_COLUMNS = ("naam", "name", "slug")
QUAD_SEGS = 16  # segments per quarter circle of the buffer


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _row_keys(row: pd.Series) -> list[str]:
    return [_text(row[c]).lower() for c in CODE_COLUMNS if c in row.index and _text(row[c])]


def _row_label(row: pd.Series) -> str:
    code = next((_text(row[c]) for c in CODE_COLUMNS[:5] if c in row.index and _text(row[c])), "")
    name = next((_text(row[c]) for c in NAME_COLUMNS if c in row.index and _text(row[c])), "")
    return f"{code} ({name})" if code and name and code != name else (code or name or "?")


def check_distance(distance_m: Any, what: str = "distance_m") -> float:
    """``distance_m`` as a float; ConfigError unless it is a finite number above 0."""
    try:
        d = float(distance_m)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number of metres, got {distance_m!r}.",
                          hint="Give the width of the surrounding zone in metres, e.g. 1000.") from None
    if not math.isfinite(d) or d <= 0:
        raise ConfigError(f"{what} must be above 0 m, got {distance_m!r}.",
                          hint="Give the width of the surrounding zone in metres, e.g. 1000.")
    return d


def _check_sites(sites: Any) -> gpd.GeoDataFrame:
    if not isinstance(sites, gpd.GeoDataFrame) or sites.empty:
        raise InputDataError("There is no Natura 2000 site layer (or it is empty).",
                             hint="Add a 'natura2000' source to the area configuration (PDOK/RVO WFS or a "
                                  "GeoPackage with the site polygons).")
    if sites.crs is not None and not sites.crs.is_projected:
        raise InputDataError(f"The Natura 2000 layer is in a geographic CRS ({sites.crs.name}): distances "
                             "would be in degrees.", hint="Reproject it to a metric CRS such as EPSG:28992.")
    return sites


def find_site(sites: gpd.GeoDataFrame, site_code: str) -> tuple[Any, str, str]:
    """The site geometry (parts merged, made valid), its code and name. ``site_code`` is matched
    case-insensitively against :data:`CODE_COLUMNS`; InputDataError lists the available sites."""
    sites = _check_sites(sites)
    key = _text(site_code).lower()
    hit = [i for i, (_, r) in enumerate(sites.iterrows()) if key and key in _row_keys(r)]
    if not hit:
        labels = sorted({_row_label(r) for _, r in sites.iterrows()})
        raise InputDataError(f"No Natura 2000 site {site_code!r} in the site layer.",
                             hint="Use a site code, slug, number or name of the layer: " + ", ".join(labels))
    rows = sites.iloc[hit]
    geoms = [g for g in rows.geometry.values if g is not None and not g.is_empty]
    if not geoms:
        raise InputDataError(f"The Natura 2000 site {site_code!r} has no geometry.")
    geom = shapely.union_all(shapely.make_valid(np.asarray(geoms, dtype=object)))
    first = rows.iloc[0]
    name = next((_text(first[c]) for c in NAME_COLUMNS if c in first.index and _text(first[c])), "")
    return geom, _text(site_code), name


def surrounding_zone(sites: gpd.GeoDataFrame, site_code: str, distance_m: float) -> gpd.GeoDataFrame:
    """The ring around a site: ``buffer(site, distance_m) - site``.

    Returns one row: ``site_code``, ``site_name``, ``distance_m``, ``area_ha`` (ring area, ha),
    ``site_area_ha`` and the ring ``geometry`` in the CRS of ``sites``."""
    d = check_distance(distance_m)
    geom, code, name = find_site(sites, site_code)
    ring = shapely.difference(shapely.buffer(geom, d, quad_segs=QUAD_SEGS), geom)
    return gpd.GeoDataFrame({"site_code": [code], "site_name": [name], "distance_m": [d],
                             "area_ha": [ring.area / 1e4], "site_area_ha": [geom.area / 1e4]},
                            geometry=[ring], crs=sites.crs)


# --------------------------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------------------------

def coverage(geom: Any, grid: Grid) -> np.ndarray:
    """Exact share (0-1) of each cell of ``grid`` covered by the polygon ``geom`` (exactextract
    ``cell_id`` + ``coverage``). float64, ``grid.shape``."""
    from exactextract import exact_extract
    from exactextract.raster import NumPyRasterSource

    out = np.zeros(grid.shape, dtype=np.float64)
    if geom is None or geom.is_empty:
        return out
    xmin, ymin, xmax, ymax = grid.bounds
    wkt = grid.pyproj_crs.to_wkt()
    rast = NumPyRasterSource(np.zeros(grid.shape, dtype=np.uint8), xmin, ymin, xmax, ymax, srs_wkt=wkt)
    df = exact_extract(rast, gpd.GeoDataFrame(geometry=[geom], crs=wkt), ["cell_id", "coverage"], output="pandas")
    ids = np.asarray(df["cell_id"].iloc[0], dtype=np.int64)
    cov = np.asarray(df["coverage"].iloc[0], dtype=np.float64)
    if ids.size:
        np.add.at(out.reshape(-1), ids, cov)
    return np.clip(out, 0.0, 1.0)


def centre_mask(geom: Any, grid: Grid) -> np.ndarray:
    """True where the cell centre lies in the polygon ``geom`` (rasterio, not all_touched)."""
    if geom is None or geom.is_empty:
        return np.zeros(grid.shape, dtype=bool)
    return features.rasterize([(geom, 1)], out_shape=grid.shape, transform=grid.transform, fill=0,
                              all_touched=False, dtype="uint8").astype(bool)


def _segments(geom: Any) -> np.ndarray:
    """The boundary of a polygon as an array of two-point line strings."""
    parts = shapely.get_parts(shapely.boundary(geom))
    segs = []
    for line in parts:
        c = shapely.get_coordinates(line)
        if len(c) >= 2:
            segs.append(np.stack([c[:-1], c[1:]], axis=1))
    if not segs:
        return np.zeros(0, dtype=object)
    return shapely.linestrings(np.concatenate(segs))


def distance_to(geom: Any, grid: Grid, where: np.ndarray) -> np.ndarray:
    """Distance (m) from the centres of the cells where ``where`` is True to the polygon ``geom``
    (0 inside); NaN elsewhere. Exact: 0 where the centre lies in the polygon, else the distance to
    the nearest boundary segment (shapely STRtree nearest-neighbour query)."""
    out = np.full(grid.shape, np.nan)
    rows, cols = np.nonzero(where)
    if rows.size == 0 or geom is None or geom.is_empty:
        return out
    xs, ys = grid.cell_centers()
    x, y = xs[cols], ys[rows]
    shapely.prepare(geom)
    inside = shapely.contains_xy(geom, x, y)  # on the boundary: nearest segment at distance 0
    dist = np.zeros(rows.size)
    segs = _segments(geom)
    todo = ~inside
    if todo.any() and len(segs):
        (_, nearest), d = shapely.STRtree(segs).query_nearest(shapely.points(x[todo], y[todo]),
                                                                 return_distance=True, all_matches=False)
        dist[np.flatnonzero(todo)] = d
    out[rows, cols] = dist
    return out


@dataclass(frozen=True)
class ZoneCells:
    """The site and its ring on a window ``rows`` x ``cols`` (slices of the analysis grid)."""

    grid: Grid  # the window
    rows: slice
    cols: slice
    site: Any  # site polygon
    zone: Any  # ring polygon
    site_cover: np.ndarray  # (h, w) share of each cell in the site, 0-1
    zone_cover: np.ndarray  # (h, w) share of each cell in the ring, 0-1
    site_centre: np.ndarray  # (h, w) bool
    zone_centre: np.ndarray  # (h, w) bool

    @cached_property
    def distance_m(self) -> np.ndarray:
        """(h, w) distance of the cell centre to the site, m (NaN beyond the buffer); computed on
        first use."""
        return distance_to(self.site, self.grid, (self.site_cover + self.zone_cover) > 0)

    def take(self, arr: Any) -> np.ndarray:
        """The window of a (H, W) or (n, H, W) array of the full grid, as numpy."""
        a = arr[..., self.rows, self.cols]
        if hasattr(a, "compute"):
            a = a.compute()
        return np.asarray(a)


def window_for(geom: Any, grid: Grid, margin_cells: int = 1) -> tuple[slice, slice]:
    """Rows and columns of ``grid`` covering ``geom``'s bounds plus ``margin_cells``, clipped to
    the grid. NoOverlapError when the geometry lies outside the grid."""
    gx0, gy0, gx1, gy1 = grid.bounds
    x0, y0, x1, y1 = geom.bounds
    if x1 <= gx0 or x0 >= gx1 or y1 <= gy0 or y0 >= gy1:
        raise NoOverlapError("The Natura 2000 site and its surrounding zone lie outside the analysis grid.",
                             hint="Choose a site near the area, or enlarge the area (grid margin).")
    c0 = max(0, math.floor((x0 - grid.x0) / grid.cell) - margin_cells)
    c1 = min(grid.width, math.ceil((x1 - grid.x0) / grid.cell) + margin_cells)
    r0 = max(0, math.floor((grid.y1 - y1) / grid.cell) - margin_cells)
    r1 = min(grid.height, math.ceil((grid.y1 - y0) / grid.cell) + margin_cells)
    return slice(r0, r1), slice(c0, c1)


def zone_cells(sites: gpd.GeoDataFrame, site_code: str, distance_m: float, grid: Grid,
               margin_cells: int = 1) -> ZoneCells:
    """Site and ring cells on a window of ``grid`` around ``buffer(site, distance_m)`` with
    ``margin_cells`` extra cells on each side. Sites in another CRS are reprojected to the grid's."""
    sites = _check_sites(sites)
    if sites.crs is not None and not sites.crs.equals(grid.pyproj_crs):
        sites = sites.to_crs(grid.crs)
    zone = surrounding_zone(sites, site_code, distance_m)
    site, _, _ = find_site(sites, site_code)
    ring = zone.geometry.iloc[0]
    rows, cols = window_for(shapely.buffer(site, float(distance_m), quad_segs=QUAD_SEGS), grid, margin_cells)
    win = grid.window(rows.start, cols.start, rows.stop - rows.start, cols.stop - cols.start)
    site_cov = coverage(site, win)
    zone_cov = coverage(ring, win)
    return ZoneCells(grid=win, rows=rows, cols=cols, site=site, zone=ring, site_cover=site_cov,
                     zone_cover=zone_cov, site_centre=centre_mask(site, win), zone_centre=centre_mask(ring, win))
