"""Raw OpenStreetMap extracts (``.osm.pbf``, e.g. from Geofabrik) read with pyosmium.

:func:`read_osm_pbf` returns three layers, each with ``osm_id``, ``osm_type`` and one string column
per requested key:

* ``areas``: polygons assembled by libosmium from closed ways and from multipolygon relations
  (holes included). A closed way counts as an area unless it is tagged ``area=no`` or all of its
  requested keys are linear by OSM convention (a closed ``highway=service`` loop is a line; add
  ``area=yes`` to make it an area); see :data:`LINEAR_KEYS` and :data:`LINEAR_VALUES`.
* ``lines``: open ways and the closed ways that are not areas.
* ``points``: tagged nodes.

Only objects carrying at least one of the requested keys are kept; geometries (built in WGS84 by
``osmium.geom.WKBFactory``) are reprojected to the requested CRS and filtered to the bounding box
(geometries intersecting it are kept whole). Closed ways whose polygon cannot be assembled and ways
with missing nodes (cut at the border of an extract) are skipped and reported in the log.

Data: © OpenStreetMap contributors, ODbL 1.0 (attribution required when the output is shared).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import osmium.filter
import pandas as pd
import shapely
from pyproj import CRS

from ..errors import ConfigError, InputDataError, NoOverlapError
from .openmaptiles import bbox_to_wgs84
from .safe import check_format

log = logging.getLogger(__name__)

Bbox = tuple[float, float, float, float]
LAYERS = ("areas", "lines", "points")

#: Keys whose closed ways are lines by OSM convention (unless ``area=yes``), with the values that
#: are areas nevertheless.
LINEAR_KEYS: dict[str, frozenset[str]] = {
    "highway": frozenset({"services", "rest_area", "platform"}),
    "railway": frozenset({"platform", "station"}),
    "barrier": frozenset(),
    "waterway": frozenset({"riverbank", "dock", "boatyard"}),
    "aerialway": frozenset(),
    "route": frozenset(),
}
#: Values that are linear for keys that are otherwise areal.
LINEAR_VALUES: dict[str, frozenset[str]] = {
    "natural": frozenset({"coastline", "tree_row", "cliff", "ridge", "arete"}),
    "power": frozenset({"line", "minor_line", "cable"}),
    "man_made": frozenset({"embankment", "dyke", "breakwater", "groyne"}),
}


@dataclass
class _Layer:
    """Features of one output layer as they are read: WKB (hex, WGS84), ids, types and tags."""

    wkb: list[str] = field(default_factory=list)
    osm_id: list[int] = field(default_factory=list)
    osm_type: list[str] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)

    def add(self, wkb: str, osm_id: int, osm_type: str, tags: dict[str, str]) -> None:
        self.wkb.append(wkb)
        self.osm_id.append(osm_id)
        self.osm_type.append(osm_type)
        self.tags.append(tags)


def read_osm_pbf(path: Path, bbox: Bbox, crs: str, *, keys: Iterable[str]) -> dict[str, gpd.GeoDataFrame]:
    """Read the objects of an ``.osm.pbf`` extract that carry one of ``keys`` within ``bbox``.

    Parameters
    ----------
    path:
        An OSM PBF file (check it with :func:`~.safe.safe_path` first).
    bbox:
        ``(xmin, ymin, xmax, ymax)`` in ``crs`` units; objects intersecting it are returned whole.
    crs:
        Output CRS, e.g. ``"EPSG:28992"``.
    keys:
        OSM tag keys to select objects by (``building``, ``landuse``, ``natural``, ``highway``, ...);
        each becomes a string column (None where the object lacks it).

    Returns
    -------
    ``{"areas", "lines", "points": GeoDataFrame}`` in ``crs`` with columns ``osm_id`` (int),
    ``osm_type`` (``node``/``way``/``relation``), one column per key, and ``geometry``.

    Raises
    ------
    ConfigError
        No keys given.
    InputDataError
        The file is not OSM PBF or cannot be read (corrupt, truncated).
    NoOverlapError
        The file's declared bounding box does not overlap ``bbox``.
    """
    path = Path(path)
    keys = list(dict.fromkeys(keys))
    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise ConfigError(
            f"No OSM keys given to select objects from {path}.",
            hint="List the tag keys to read, e.g. keys: [building, landuse, natural].",
        )
    check_format(path, "osmpbf")
    bbox_ll = bbox_to_wgs84(bbox, crs)
    layers = _scan(path, keys, bbox_ll)
    frames = {name: _to_frame(layers[name], keys, crs) for name in LAYERS}
    out = {name: _in_bbox(gdf, bbox) for name, gdf in frames.items()}
    _check_overlap(path, frames, out, bbox, crs)
    return out


def _is_linear(tags: Mapping[str, str], keys: list[str]) -> bool:
    """True when a closed way with ``tags`` is a line, not an area (OSM convention)."""
    area = tags.get("area")
    if area == "yes":
        return False
    if area == "no":
        return True
    present = [k for k in keys if k in tags]
    return bool(present) and all(_linear_tag(k, tags[k]) for k in present)


def _linear_tag(key: str, value: str) -> bool:
    if key in LINEAR_KEYS:
        return value not in LINEAR_KEYS[key]
    return value in LINEAR_VALUES.get(key, ())


def _scan(path: Path, keys: list[str], bbox_ll: Bbox) -> dict[str, _Layer]:
    """One pass (two for the areas) over the file with pyosmium; every read failure names the file."""
    out = {name: _Layer() for name in LAYERS}
    fab = osmium.geom.WKBFactory()
    skipped = {"ways with missing nodes": 0, "closed ways not assembled into polygons": 0}
    closed_areas: set[int] = set()
    try:
        fp = osmium.FileProcessor(osmium.io.File(str(path), "pbf"))
        _check_header_box(fp, path, bbox_ll)
        fp = (
            fp.with_locations()
            .with_areas(osmium.filter.KeyFilter(*keys))
            .with_filter(osmium.filter.KeyFilter(*keys))
        )
        for obj in fp:
            if obj.is_node():
                out["points"].add(fab.create_point(obj), obj.id, "node", _tags(obj, keys))
            elif obj.is_way():
                _add_way(obj, keys, out["lines"], closed_areas, fab, skipped)
            elif obj.is_area():
                _add_area(obj, keys, out["areas"], closed_areas, fab)
    except InputDataError:
        raise
    except Exception as e:  # noqa: BLE001 - libosmium reports corrupt/truncated data as RuntimeError and others
        raise InputDataError(
            f"{path} cannot be read as an OSM PBF file: {e}",
            hint="The file may be corrupt or truncated; download the extract again.",
        ) from e
    skipped["closed ways not assembled into polygons"] = len(closed_areas)
    for what, n in skipped.items():
        if n:
            log.warning("%s: %d %s were skipped.", path, n, what)
    return out


def _check_header_box(fp: osmium.FileProcessor, path: Path, bbox_ll: Bbox) -> None:
    """Refuse early when the file declares a bounding box that misses the area of interest."""
    box = fp.header.box()
    if not box.valid():
        return
    w, s, e, n = box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat
    if w > bbox_ll[2] or e < bbox_ll[0] or s > bbox_ll[3] or n < bbox_ll[1]:
        raise NoOverlapError(
            f"{path} covers lon {w:.4f} to {e:.4f}, lat {s:.4f} to {n:.4f}, which does not overlap the area of "
            f"interest (lon {bbox_ll[0]:.4f} to {bbox_ll[2]:.4f}, lat {bbox_ll[1]:.4f} to {bbox_ll[3]:.4f}).",
            hint="Use an OSM extract that covers the area (e.g. the province from download.geofabrik.de).",
        )


def _tags(obj: osmium.osm.OSMObject, keys: list[str]) -> dict[str, str]:
    tags = obj.tags
    return {k: tags[k] for k in keys if k in tags}


def _add_way(
    way: osmium.osm.Way,
    keys: list[str],
    lines: _Layer,
    closed_areas: set[int],
    fab: osmium.geom.WKBFactory,
    skipped: dict[str, int],
) -> None:
    """An open way, or a closed way that is linear, becomes a line; other closed ways wait for their area."""
    if len(way.nodes) >= 4 and way.is_closed() and not _is_linear(way.tags, keys):
        closed_areas.add(way.id)
        return
    try:
        wkb = fab.create_linestring(way)
    except (osmium.InvalidLocationError, RuntimeError):
        skipped["ways with missing nodes"] += 1
        return
    lines.add(wkb, way.id, "way", _tags(way, keys))


def _add_area(
    area: osmium.osm.Area, keys: list[str], areas: _Layer, closed_areas: set[int], fab: osmium.geom.WKBFactory
) -> None:
    """Areas from multipolygon relations, and from the closed ways that are not linear."""
    osm_id = area.orig_id()
    if area.from_way():
        if osm_id not in closed_areas:
            return  # a linear closed way, already a line
        closed_areas.discard(osm_id)
    areas.add(
        fab.create_multipolygon(area), osm_id, "way" if area.from_way() else "relation", _tags(area, keys)
    )


def _to_frame(layer: _Layer, keys: list[str], crs: str) -> gpd.GeoDataFrame:
    """WGS84 WKB to a GeoDataFrame reprojected to ``crs``."""
    geoms = shapely.from_wkb(np.asarray(layer.wkb, dtype=object)) if layer.wkb else np.empty(0, dtype=object)
    data: dict[str, object] = {
        "osm_id": pd.Series(layer.osm_id, dtype=np.int64),
        "osm_type": pd.Series(layer.osm_type, dtype=object),
    }
    for k in keys:  # object dtype: str values, None where absent (not NaN)
        data[k] = pd.Series([t.get(k) for t in layer.tags], dtype=object)
    gdf = gpd.GeoDataFrame(data, geometry=gpd.array.from_shapely(geoms, crs="EPSG:4326"))
    return gdf.to_crs(CRS.from_user_input(crs))


def _in_bbox(gdf: gpd.GeoDataFrame, bbox: Bbox) -> gpd.GeoDataFrame:
    """The rows whose geometry intersects ``bbox`` (same CRS)."""
    box = shapely.box(*bbox)
    shapely.prepare(box)
    return gdf.loc[shapely.intersects(box, np.asarray(gdf.geometry.array))].reset_index(drop=True)


def _check_overlap(
    path: Path, frames: dict[str, gpd.GeoDataFrame], kept: dict[str, gpd.GeoDataFrame], bbox: Bbox, crs: str
) -> None:
    """Objects were read but none lies in the box, and their extent misses it: say where the data are."""
    if any(len(g) for g in kept.values()) or not any(len(g) for g in frames.values()):
        return
    b = np.array([g.total_bounds for g in frames.values() if len(g)])
    extent = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
    if not shapely.box(*extent).intersects(shapely.box(*bbox)):
        raise NoOverlapError(
            f"The selected objects of {path} lie in ({extent[0]:.0f}, {extent[1]:.0f}, {extent[2]:.0f}, "
            f"{extent[3]:.0f}) ({crs}), which does not overlap the area of interest {tuple(bbox)}.",
            hint="Use an OSM extract that covers the area (e.g. the province from download.geofabrik.de).",
        )
