"""OpenStreetMap data in the OpenMapTiles schema, in the forms users actually get it.

Accepted sources (:func:`read_openmaptiles`):

* a directory of Mapbox Vector Tiles ``{z}/{x}/{y}.pbf`` (raw or gzip-compressed; the pyramid may
  sit in a ``tiles/`` sub-folder, as in the tarballs of OpenMapTiles/tilemaker exports);
* an ``.mbtiles`` file (SQLite ``tiles(zoom_level, tile_column, tile_row, tile_data)``, TMS rows,
  tile data usually gzipped);
* a ``.pmtiles`` (v3) file;
* a directory of already decoded GeoParquet files named ``<layer>.parquet`` (any CRS);
* a ``.gpkg`` with one table per layer.

Vector tiles are decoded from the protobuf message (the ``vector_tile.proto`` classes shipped with
``mapbox-vector-tile``) with a numpy implementation of the MVT geometry encoding (spec 2.1, section
4.3): the command streams of all features of a layer are walked together, coordinates (zig-zag
deltas) are decoded and accumulated with numpy, and geometries are built with
:func:`shapely.from_ragged_array`. This reads the same geometries as ``mapbox_vector_tile.decode``
(the tests compare both on real tiles), which is pure Python per coordinate and alone needs ~110 s
for the 1,722 zoom-14 tiles of a province (5 million features); this reader decodes, cuts, repairs
and reprojects the nine main layers of those tiles in about 60 s of CPU.

Tile coordinates (y down, 0..extent) are mapped to Web Mercator (EPSG:3857, metres) with the tile's
bounds, clipped to the tile (tiles carry a buffer, without clipping features would be duplicated
across tiles), polygons are made valid and only their polygonal parts kept, and the result is
reprojected to the requested CRS with pyproj, tile by tile (memory stays near the size of the result).

Data: © OpenStreetMap contributors, ODbL 1.0 (attribution required when the output is shared).
"""

from __future__ import annotations

import bisect
import gzip
import logging
import math
import mmap
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from mapbox_vector_tile.Mapbox import vector_tile_pb2
from pyproj import CRS, Transformer

from ..errors import InputDataError, NoOverlapError
from .safe import check_format

Bbox = tuple[float, float, float, float]
Progress = Callable[[int, int], None]

#: Web Mercator (EPSG:3857) half circumference in metres: the world spans [-ORIGIN, ORIGIN] in x and y.
ORIGIN_SHIFT = math.pi * 6378137.0
#: Latitude limit of Web Mercator tiles (degrees).
MAX_LAT = 85.0511287798066

_GEOM_POINT, _GEOM_LINE, _GEOM_POLYGON = 1, 2, 3
_CMD_MOVE, _CMD_LINE, _CMD_CLOSE = 1, 2, 7
log = logging.getLogger(__name__)

_TILE_HINT = "The tile is corrupt or not a Mapbox Vector Tile; export or download the tiles again."


# --------------------------------------------------------------------------------------------- tile math
@dataclass(frozen=True)
class TileRange:
    """An inclusive range of XYZ tiles (y counted from the north, as in slippy maps)."""

    z: int
    xmin: int
    ymin: int
    xmax: int
    ymax: int

    def __str__(self) -> str:
        return f"z{self.z} x {self.xmin}-{self.xmax}, y {self.ymin}-{self.ymax}"

    @property
    def count(self) -> int:
        """Number of tiles in the range."""
        return (self.xmax - self.xmin + 1) * (self.ymax - self.ymin + 1)


def tile_bounds_3857(z: int, x: int, y: int) -> Bbox:
    """Bounds ``(xmin, ymin, xmax, ymax)`` of XYZ tile ``z/x/y`` in EPSG:3857 metres."""
    size = 2 * ORIGIN_SHIFT / (1 << z)
    xmin = -ORIGIN_SHIFT + x * size
    ymax = ORIGIN_SHIFT - y * size
    return (xmin, ymax - size, xmin + size, ymax)


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """XYZ tile ``(x, y)`` at zoom ``z`` holding the WGS84 point (degrees); clamped to the world."""
    n = 1 << z
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    fx = (lon + 180.0) / 360.0 * n
    fy = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return min(max(int(math.floor(fx)), 0), n - 1), min(max(int(math.floor(fy)), 0), n - 1)


def tile_range_for_bbox(bbox: Bbox, crs: str, z: int) -> TileRange:
    """Tiles at zoom ``z`` that intersect ``bbox`` (given in ``crs``; edges densified to WGS84)."""
    west, south, east, north = bbox_to_wgs84(bbox, crs)
    x0, y0 = lonlat_to_tile(west, north, z)
    x1, y1 = lonlat_to_tile(east, south, z)
    return TileRange(z, x0, y0, x1, y1)


def bbox_to_wgs84(bbox: Bbox, crs: str) -> Bbox:
    """``bbox`` in ``crs`` to a lon/lat (EPSG:4326) box enclosing it (21 points per edge)."""
    _check_bbox(bbox)
    tr = Transformer.from_crs(CRS.from_user_input(crs), "EPSG:4326", always_xy=True)
    return tuple(tr.transform_bounds(*bbox, densify_pts=21))  # type: ignore[return-value]


def _check_bbox(bbox: Bbox) -> None:
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox) or bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
        raise InputDataError(
            f"Invalid bounding box {bbox!r}: expected (xmin, ymin, xmax, ymax) with xmin < xmax "
            "and ymin < ymax."
        )


# ------------------------------------------------------------------------------------------ tile sources
class _TileSource:
    """A store of encoded vector tiles, addressed by XYZ ``z/x/y``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def zooms(self) -> list[int]:
        """Zoom levels that hold at least one tile."""
        raise NotImplementedError

    def tiles(self, rng: TileRange) -> list[tuple[int, int]]:
        """Tiles ``(x, y)`` present within ``rng``, sorted."""
        raise NotImplementedError

    def coverage(self, z: int) -> TileRange | None:
        """The range of tiles present at zoom ``z`` (None when it holds none)."""
        raise NotImplementedError

    def read(self, z: int, x: int, y: int) -> bytes:
        """The tile's bytes as stored (maybe gzipped)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release file handles."""


class _DirSource(_TileSource):
    """``{z}/{x}/{y}.pbf`` (or ``.mvt``) below ``path`` or below ``path/tiles``."""

    SUFFIXES = (".pbf", ".mvt")

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.root = path / "tiles" if not _numeric_dirs(path) and (path / "tiles").is_dir() else path

    def zooms(self) -> list[int]:
        return sorted(_numeric_dirs(self.root))

    def _ys(self, z: int, x: int) -> Iterator[int]:
        xdir = self.root / str(z) / str(x)
        with os.scandir(xdir) as it:
            for e in it:
                stem, suffix = os.path.splitext(e.name)
                if suffix in self.SUFFIXES and stem.isdigit() and e.is_file():
                    yield int(stem)

    def tiles(self, rng: TileRange) -> list[tuple[int, int]]:
        xs = [x for x in _numeric_dirs(self.root / str(rng.z)) if rng.xmin <= x <= rng.xmax]
        return sorted((x, y) for x in xs for y in self._ys(rng.z, x) if rng.ymin <= y <= rng.ymax)

    def coverage(self, z: int) -> TileRange | None:
        xs = sorted(_numeric_dirs(self.root / str(z)))
        ys = [y for x in xs for y in self._ys(z, x)]
        if not ys:
            return None
        return TileRange(z, xs[0], min(ys), xs[-1], max(ys))

    def read(self, z: int, x: int, y: int) -> bytes:
        for suffix in self.SUFFIXES:
            p = self.root / str(z) / str(x) / f"{y}{suffix}"
            if p.is_file():
                return p.read_bytes()
        raise InputDataError(
            f"tile {z}/{x}/{y} is missing from {self.path}."
        )  # pragma: no cover - listed before


def _numeric_dirs(path: Path) -> list[int]:
    if not path.is_dir():
        return []
    with os.scandir(path) as it:
        return [int(e.name) for e in it if e.name.isdigit() and e.is_dir()]


class _MBTilesSource(_TileSource):
    """MBTiles 1.3: SQLite table/view ``tiles`` with TMS rows (row 0 in the south)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            cols = {r[1] for r in self.db.execute("PRAGMA table_info(tiles)")}
        except sqlite3.DatabaseError as e:
            self.close()
            raise InputDataError(
                f"{path} cannot be read as MBTiles: {e}",
                hint="The file may be corrupt or truncated; export it again.",
            ) from e
        need = {"zoom_level", "tile_column", "tile_row", "tile_data"}
        if not need <= cols:
            self.close()
            raise InputDataError(
                f"{path} is an SQLite file but not MBTiles: it has no table 'tiles' with columns "
                f"{sorted(need)}.",
                hint="Give an MBTiles file of vector tiles (OpenMapTiles schema).",
            )

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise InputDataError(
                f"{self.path} cannot be read as MBTiles: {e}",
                hint="The file may be corrupt or truncated; export it again.",
            ) from e

    def zooms(self) -> list[int]:
        return sorted(int(r[0]) for r in self._query("SELECT DISTINCT zoom_level FROM tiles"))

    def tiles(self, rng: TileRange) -> list[tuple[int, int]]:
        n = 1 << rng.z
        rows = self._query(
            "SELECT tile_column, tile_row FROM tiles WHERE zoom_level=? AND tile_column BETWEEN ? AND ? "
            "AND tile_row BETWEEN ? AND ?",
            (rng.z, rng.xmin, rng.xmax, n - 1 - rng.ymax, n - 1 - rng.ymin),
        )
        return sorted((int(c), n - 1 - int(r)) for c, r in rows)

    def coverage(self, z: int) -> TileRange | None:
        n = 1 << z
        ((x0, x1, r0, r1),) = self._query(
            "SELECT MIN(tile_column), MAX(tile_column), MIN(tile_row), MAX(tile_row) "
            "FROM tiles WHERE zoom_level=?",
            (z,),
        )
        return None if x0 is None else TileRange(z, int(x0), n - 1 - int(r1), int(x1), n - 1 - int(r0))

    def read(self, z: int, x: int, y: int) -> bytes:
        rows = self._query(
            "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
            (z, x, (1 << z) - 1 - y),
        )
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else b""

    def close(self) -> None:
        self.db.close()


class _PMTilesSource(_TileSource):
    """PMTiles v3, read with the ``pmtiles`` package (directories walked without reading tile data)."""

    def __init__(self, path: Path) -> None:
        from pmtiles import tile as pmt

        super().__init__(path)
        self._pmt = pmt
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        try:
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self.header = pmt.deserialize_header(self._map[0:127])
        except Exception as e:  # noqa: BLE001 - any parse failure is a data error naming the file
            self._file.close()
            raise InputDataError(
                f"{path} cannot be read as PMTiles: {e!r}",
                hint="The file may be corrupt, truncated or not PMTiles v3; export it again.",
            ) from e
        if self.header["tile_type"] not in (pmt.TileType.MVT, pmt.TileType.UNKNOWN):
            self.close()
            raise InputDataError(
                f"{path} holds {self.header['tile_type'].name} tiles, not vector tiles (MVT).",
                hint="Give a vector-tile PMTiles file in the OpenMapTiles schema.",
            )
        self._entries: dict[int, tuple[int, int]] = {}

    def zooms(self) -> list[int]:
        return list(range(self.header["min_zoom"], self.header["max_zoom"] + 1))

    def _walk(self, offset: int, length: int, lo: int, hi: int) -> Iterator[tuple[int, int, int, int]]:
        """Yield ``(tile_id, run_length, offset, length)`` of tile entries with ids in ``[lo, hi]``."""
        h = self.header
        try:
            entries = self._pmt.deserialize_directory(self._map[offset : offset + length])
        except Exception as e:  # noqa: BLE001
            raise InputDataError(
                f"{self.path}: a PMTiles directory cannot be decoded: {e!r}",
                hint="The file is corrupt or truncated; export it again.",
            ) from e
        for i, e in enumerate(entries):
            nxt = entries[i + 1].tile_id if i + 1 < len(entries) else None
            if e.run_length == 0:  # leaf directory covering ids [e.tile_id, next entry)
                if e.tile_id <= hi and (nxt is None or nxt > lo):
                    yield from self._walk(h["leaf_directory_offset"] + e.offset, e.length, lo, hi)
            elif e.tile_id <= hi and e.tile_id + e.run_length - 1 >= lo:
                yield e.tile_id, e.run_length, h["tile_data_offset"] + e.offset, e.length

    def tiles(self, rng: TileRange) -> list[tuple[int, int]]:
        if rng.count > 4_000_000:
            raise InputDataError(
                f"The area of interest needs {rng.count:,} tiles ({rng}) from {self.path}; that is too many to read.",
                hint="Use a smaller area, or a lower 'zoom'.",
            )
        wanted = {
            self._pmt.zxy_to_tileid(rng.z, x, y): (x, y)
            for x in range(rng.xmin, rng.xmax + 1)
            for y in range(rng.ymin, rng.ymax + 1)
        }
        ids = sorted(wanted)
        found = []
        for tid, run, off, length in self._walk(
            self.header["root_offset"], self.header["root_length"], ids[0], ids[-1]
        ):
            for t in ids[
                bisect.bisect_left(ids, tid) : bisect.bisect_left(ids, tid + run)
            ]:  # runs can be long
                self._entries[t] = (off, length)
                found.append(wanted[t])
        return sorted(found)

    def coverage(self, z: int) -> TileRange | None:
        h = self.header
        if not h["min_zoom"] <= z <= h["max_zoom"]:
            return None
        x0, y0 = lonlat_to_tile(h["min_lon_e7"] / 1e7, h["max_lat_e7"] / 1e7, z)
        x1, y1 = lonlat_to_tile(h["max_lon_e7"] / 1e7, h["min_lat_e7"] / 1e7, z)
        return TileRange(z, x0, y0, x1, y1)

    def read(self, z: int, x: int, y: int) -> bytes:
        off, length = self._entries[self._pmt.zxy_to_tileid(z, x, y)]
        data = self._map[off : off + length]
        comp = self.header["tile_compression"]
        if comp in (self._pmt.Compression.BROTLI, self._pmt.Compression.ZSTD):
            raise InputDataError(
                f"{self.path} uses {comp.name} tile compression, which biostress does not read.",
                hint="Convert it, e.g. with 'pmtiles convert' from gzip-compressed MBTiles.",
            )
        return data

    def close(self) -> None:
        if not self._map.closed:
            self._map.close()
        self._file.close()


# ---------------------------------------------------------------------------------------- MVT decoding
@dataclass
class _Chunk:
    """Decoded features of one layer of one tile: geometries and attribute columns."""

    geoms: np.ndarray
    props: dict[str, np.ndarray]
    tile: str


def decode_tile(
    data: bytes, z: int, x: int, y: int, *, layers: Iterable[str] | None = None, label: str = ""
) -> dict[str, gpd.GeoDataFrame]:
    """Decode one vector tile to GeoDataFrames in EPSG:3857 (metres), clipped to the tile, polygons valid.

    ``data`` may be gzip-compressed. ``label`` names the source in error messages.
    """
    chunks = _decode_tile(data, z, x, y, set(layers) if layers is not None else None, label or "<bytes>")
    return {name: _to_frame([c], "EPSG:3857") for name, c in chunks.items()}


def _decode_tile(
    data: bytes, z: int, x: int, y: int, layers: set[str] | None, label: str
) -> dict[str, _Chunk]:
    """Decode tile bytes to EPSG:3857 chunks; every failure becomes an :class:`InputDataError` naming
    the tile. An empty (0-byte) tile is a valid tile without layers."""
    try:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        msg = vector_tile_pb2.tile()
        msg.ParseFromString(data)
        bounds = tile_bounds_3857(z, x, y)
        out: dict[str, _Chunk] = {}
        for layer in msg.layers:
            if (layers is None or layer.name in layers) and len(layer.features):
                chunk = _decode_layer(layer, bounds, f"{z}/{x}/{y}")
                if chunk is not None:
                    out[layer.name] = chunk
        return out
    except InputDataError:
        raise
    except Exception as e:  # noqa: BLE001 - protobuf DecodeError, gzip/zlib errors, bad indices: a corrupt tile
        raise InputDataError(
            f"tile {z}/{x}/{y} in {label} cannot be decoded: {type(e).__name__}: {e}", hint=_TILE_HINT
        ) from e


def _decode_layer(layer: vector_tile_pb2.tile.Layer, bounds: Bbox, tile: str) -> _Chunk | None:
    """Decode all features of one layer and their attributes (features without geometry dropped)."""
    ftypes, streams, tags = zip(*[(f.type, f.geometry, f.tags) for f in layer.features], strict=True)
    props = _layer_properties(layer, tags)
    geoms = _decode_geometries(streams, np.asarray(ftypes, np.int8), layer.extent or 4096, bounds)
    keep = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    if not len(keep):
        return None
    return _Chunk(geoms[keep], {k: v[keep] for k, v in props.items()}, tile)


def _layer_properties(layer: vector_tile_pb2.tile.Layer, tags: tuple) -> dict[str, np.ndarray]:
    """Attribute columns (object arrays, None where a feature lacks the key) of all features."""
    n = len(tags)
    values = np.empty(len(layer.values) + 1, dtype=object)
    for i, v in enumerate(layer.values):
        fields = v.ListFields()
        values[i] = fields[0][1] if fields else None
    values[-1] = None
    ntags = np.fromiter(map(len, tags), np.int64, n)
    if (ntags % 2).any():
        raise ValueError(f"layer '{layer.name}': a feature has an odd number of tags")
    flat = np.fromiter(chain.from_iterable(tags), np.int64, int(ntags.sum()))
    kidx, vidx = flat[0::2], flat[1::2]
    if len(kidx) and (kidx.max() >= len(layer.keys) or vidx.max() >= len(layer.values)):
        raise ValueError(f"layer '{layer.name}': a tag refers to a key or value that does not exist")
    owner = np.repeat(np.arange(n), ntags // 2)
    cols: dict[str, np.ndarray] = {}
    for k, key in enumerate(layer.keys):
        sel = kidx == k
        pos = np.full(n, -1, dtype=np.int64)
        pos[owner[sel]] = vidx[sel]
        cols[key] = values[pos]
    return cols


def _command_positions(flat: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Positions of the command integers in the concatenated geometry streams (MVT spec 4.3.1).

    Every feature's stream is walked from its start, all features at once (numpy), one command per
    round: a command ``(count << 3) | id`` is followed by ``2 * count`` parameters for MoveTo/LineTo
    and none for ClosePath. The few features still unfinished when fewer than 32 remain (large
    multipolygons) are finished in plain Python.
    """
    step = np.where((flat & 7) == _CMD_CLOSE, 1, 1 + 2 * (flat >> 3))
    found: list[np.ndarray] = []
    live = starts < ends
    pos, end = starts[live], ends[live]
    while len(pos) > 32:
        found.append(pos)
        pos = pos + step[pos]
        if (pos > end).any():
            raise ValueError("a geometry command runs past the end of its feature")
        live = pos < end
        pos, end = pos[live], end[live]
    rest: list[int] = []
    fl = flat.tolist() if len(pos) else []
    for p, e in zip(pos.tolist(), end.tolist(), strict=True):
        while p < e:
            rest.append(p)
            c = fl[p]
            p += 1 if c & 7 == _CMD_CLOSE else 1 + 2 * (c >> 3)
        if p != e:
            raise ValueError("a geometry command runs past the end of its feature")
    hdr = np.sort(np.concatenate([*found, np.asarray(rest, dtype=np.int64)]))
    cmd = flat[hdr] & 7
    if not np.isin(cmd, (_CMD_MOVE, _CMD_LINE, _CMD_CLOSE)).all():
        raise ValueError(f"unknown geometry command {int(cmd[~np.isin(cmd, (1, 2, 7))][0])}")
    return hdr


def _zigzag(v: np.ndarray) -> np.ndarray:
    return (v >> 1) ^ -(v & 1)


def _decode_geometries(streams: tuple, ftype: np.ndarray, extent: int, bounds: Bbox) -> np.ndarray:
    """Decode the geometry streams of one layer to shapely geometries in EPSG:3857 (None when a
    feature has no usable geometry). Points, lines and polygons keep their MVT type."""
    n = len(streams)
    lengths = np.fromiter(map(len, streams), np.int64, n)
    flat = np.fromiter(chain.from_iterable(streams), np.int64, int(lengths.sum()))
    starts = np.concatenate([[0], np.cumsum(lengths)])
    hdr = _command_positions(flat, starts[:-1], starts[1:])
    cmd, cnt = flat[hdr] & 7, flat[hdr] >> 3
    cmd_feat = np.searchsorted(starts, hdr, side="right") - 1
    # Vertices: one per (x, y) parameter pair of MoveTo/LineTo; deltas accumulate within a feature.
    nvert = np.where(cmd == _CMD_CLOSE, 0, cnt)
    vcmd = np.repeat(np.arange(len(hdr)), nvert)
    k = np.arange(len(vcmd)) - np.repeat(np.cumsum(nvert) - nvert, nvert)
    px = hdr[vcmd] + 1 + 2 * k
    vfeat = cmd_feat[vcmd]
    x, y = _cumsum_by_group(_zigzag(flat[px]), vfeat), _cumsum_by_group(_zigzag(flat[px + 1]), vfeat)
    xy = _to_3857(x, y, extent, bounds)
    moveto = cmd[vcmd] == _CMD_MOVE
    out = np.full(n, None, dtype=object)
    for gtype in (_GEOM_POINT, _GEOM_LINE, _GEOM_POLYGON):
        fsel = ftype == gtype
        if not fsel.any():
            continue
        vsel = fsel[vfeat]
        local = (np.cumsum(fsel) - 1)[vfeat[vsel]]
        nf = int(fsel.sum())
        if gtype == _GEOM_POINT:
            g = _build_points(xy[vsel], local, nf, bounds)
        else:
            if len(local) and not moveto[vsel][np.r_[True, local[1:] != local[:-1]]].all():
                raise ValueError("a line or polygon does not start with MoveTo")
            build = _build_lines if gtype == _GEOM_LINE else _build_polygons
            g = build(xy[vsel], x[vsel], y[vsel], local, moveto[vsel], nf, bounds)
        out[np.flatnonzero(fsel)] = g
    return out


def _cumsum_by_group(d: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``d`` restarting at each new value of the (sorted) ``group``."""
    if not len(d):
        return d
    cs = np.cumsum(d)
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    return cs - np.repeat(cs[first] - d[first], np.diff(np.r_[first, len(d)]))


def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _to_3857(x: np.ndarray, y: np.ndarray, extent: int, bounds: Bbox) -> np.ndarray:
    """Tile coordinates (y down, 0..extent) to EPSG:3857 metres within ``bounds``, as an (n, 2) array."""
    xmin, ymin, xmax, ymax = bounds
    sx, sy = (xmax - xmin) / extent, (ymax - ymin) / extent
    return np.column_stack([xmin + x * sx, ymax - y * sy])


def _collect(parts: np.ndarray, part_feat: np.ndarray, n: int, multi: Callable) -> np.ndarray:
    """Group single parts per feature: the part itself when alone, else ``multi(parts)``; None when none."""
    out = np.full(n, None, dtype=object)
    counts = np.bincount(part_feat, minlength=n)
    single = counts[part_feat] == 1
    out[part_feat[single]] = parts[single]
    if not single.all():
        feats, inverse = np.unique(part_feat[~single], return_inverse=True)
        out[feats] = multi(parts[~single], indices=inverse)
    return out


def _build_points(xy: np.ndarray, feat: np.ndarray, n: int, bounds: Bbox) -> np.ndarray:
    """Point (MultiPoint when a feature has several) per feature; points in the tile buffer dropped."""
    return _clip(_collect(shapely.points(xy), feat, n, shapely.multipoints), bounds)


def _build_lines(
    xy: np.ndarray, x: np.ndarray, y: np.ndarray, feat: np.ndarray, moveto: np.ndarray, n: int, bounds: Bbox
) -> np.ndarray:
    """LineString (MultiLineString) per feature, clipped to the tile; parts of < 2 vertices dropped."""
    part = np.cumsum(moveto) - 1
    part_len = np.bincount(part, minlength=int(moveto.sum()))
    ok = part_len >= 2
    keep = ok[part]
    lines = shapely.from_ragged_array(shapely.GeometryType.LINESTRING, xy[keep], (_offsets(part_len[ok]),))
    return _clip(_collect(lines, feat[moveto][ok], n, shapely.multilinestrings), bounds)


def _build_polygons(
    xy: np.ndarray, x: np.ndarray, y: np.ndarray, feat: np.ndarray, moveto: np.ndarray, n: int, bounds: Bbox
) -> np.ndarray:
    """Valid Polygon (MultiPolygon) per feature, clipped to the tile.

    Rings are closed; a ring with the winding of its feature's first ring starts a new polygon, the
    others are its holes (MVT spec 4.3.4.4, read as leniently as ``mapbox_vector_tile``); zero-area
    rings are dropped.
    """
    ring = np.cumsum(moveto) - 1
    ring_len = np.bincount(ring, minlength=int(moveto.sum()))
    ring_start = np.flatnonzero(moveto)
    area2 = _ring_area2(x, y, ring, ring_start, ring_len)
    ok = area2 != 0
    sign, rfeat = np.sign(area2[ok]), feat[ring_start[ok]]
    first = np.r_[True, rfeat[1:] != rfeat[:-1]] if len(rfeat) else np.zeros(0, bool)
    exterior = sign == np.repeat(sign[first], np.diff(np.r_[np.flatnonzero(first), len(rfeat)]))
    # Closed ring coordinates: each kept ring's vertices followed by its first vertex.
    keep_v = ok[ring]
    rxy = xy[keep_v]
    kept_len = ring_len[ok]
    ends = np.cumsum(kept_len)
    rxy = np.insert(rxy, ends, rxy[ends - kept_len], axis=0)
    polys = shapely.from_ragged_array(
        shapely.GeometryType.POLYGON,
        rxy,
        (_offsets(kept_len + 1), _offsets(np.diff(np.r_[np.flatnonzero(exterior), len(exterior)]))),
    )
    geoms = _collect(polys, rfeat[exterior], n, shapely.multipolygons)
    bad = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if bad.any():
        geoms[bad] = _polygonal(shapely.make_valid(geoms[bad]))
    return _polygonal(_clip(geoms, bounds))


def _ring_area2(
    x: np.ndarray, y: np.ndarray, ring: np.ndarray, start: np.ndarray, length: np.ndarray
) -> np.ndarray:
    """Twice the signed (shoelace) area of each ring, in integer tile units (exact); ``ring`` is the
    ring index of each vertex, rings are implicitly closed."""
    if not len(start):
        return np.zeros(0, np.int64)
    nxt = np.arange(1, len(x) + 1)
    last = start + length - 1
    nxt[last] = start  # the closing edge of each ring
    term = x * y[nxt] - x[nxt] * y
    return np.bincount(ring, weights=term, minlength=len(start)).astype(np.int64)


def _clip(geoms: np.ndarray, bounds: Bbox) -> np.ndarray:
    """Clip to the tile (its buffer would duplicate features); only geometries reaching outside it."""
    b = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        out = (b[:, 0] < bounds[0]) | (b[:, 1] < bounds[1]) | (b[:, 2] > bounds[2]) | (b[:, 3] > bounds[3])
    if out.any():
        geoms = geoms.copy()
        geoms[out] = shapely.clip_by_rect(geoms[out], *bounds)
    return geoms


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal parts of each geometry (an empty Polygon when none)."""
    tid = shapely.get_type_id(geoms)
    odd = np.flatnonzero((tid != 3) & (tid != 6) & (tid != -1))
    if not len(odd):
        return geoms
    geoms = geoms.copy()
    for i in odd:
        polys = [
            p
            for p in shapely.get_parts(shapely.get_parts(geoms[i]))
            if shapely.get_type_id(p) == 3 and not p.is_empty
        ]
        geoms[i] = (
            (polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)) if polys else shapely.Polygon()
        )
    return geoms


# ------------------------------------------------------------------------------------- frame assembly
class _Projector:
    """EPSG:3857 chunks to the output CRS, keeping only geometries that intersect ``bbox`` (in that CRS).

    A tile lying well inside the box needs no per-feature test; features of other tiles are first
    pre-filtered in EPSG:3857 against the box's outline (densified, grown by 10 m), so that only those
    near or in the box are reprojected and tested exactly.
    """

    def __init__(self, bbox: Bbox, crs: str) -> None:
        self.crs = CRS.from_user_input(crs)
        self.box = shapely.box(*bbox)
        shapely.prepare(self.box)
        self.identity = self.crs.equals(CRS.from_epsg(3857))
        self.tr = None if self.identity else Transformer.from_crs("EPSG:3857", self.crs, always_xy=True)
        inv = Transformer.from_crs(self.crs, "EPSG:3857", always_xy=True)
        ring = np.asarray(
            shapely.segmentize(self.box, max((bbox[2] - bbox[0]), (bbox[3] - bbox[1])) / 100).exterior.coords
        )
        merc = shapely.Polygon(np.column_stack(inv.transform(ring[:, 0], ring[:, 1])))
        self.near = shapely.buffer(merc, 10.0)
        self.inside = shapely.buffer(merc, -10.0)
        shapely.prepare(self.near)
        shapely.prepare(self.inside)

    def __call__(self, chunk: _Chunk, bounds: Bbox) -> _Chunk | None:
        tile_box = shapely.box(*bounds)
        geoms, keep = chunk.geoms, None
        if not self.inside.contains(tile_box):
            keep = shapely.intersects(self.near, geoms)
            geoms = geoms[keep]
        if self.tr is not None and len(geoms):
            tr = self.tr
            geoms = shapely.transform(geoms, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))
        if keep is not None:
            exact = shapely.intersects(self.box, geoms)
            idx = np.flatnonzero(keep)[exact]
            geoms = geoms[exact]
            if not len(idx):
                return None
            return _Chunk(geoms, {k: v[idx] for k, v in chunk.props.items()}, chunk.tile)
        return _Chunk(geoms, chunk.props, chunk.tile)


def _to_frame(chunks: list[_Chunk], crs: str | CRS, *, with_tile: bool = True) -> gpd.GeoDataFrame:
    """Concatenate chunks of one layer into a GeoDataFrame in ``crs`` (the CRS of the chunks)."""
    keys: list[str] = []
    for c in chunks:
        keys += [k for k in c.props if k not in keys]
    n = sum(len(c.geoms) for c in chunks)
    data: dict[str, object] = {}
    for k in keys:
        col = np.empty(n, dtype=object)
        i = 0
        for c in chunks:
            col[i : i + len(c.geoms)] = c.props.get(k)
            i += len(c.geoms)
        data[k] = pd.Series(col).infer_objects()
    if "name" not in data and "name:latin" in data:
        data["name"] = data["name:latin"]
    if with_tile:
        data["tile"] = pd.Series(
            np.repeat([c.tile for c in chunks], [len(c.geoms) for c in chunks]), dtype=object
        )
    geoms = np.concatenate([c.geoms for c in chunks]) if chunks else np.empty(0, dtype=object)
    return gpd.GeoDataFrame(data, geometry=gpd.array.from_shapely(geoms, crs=crs))


def _reproject_filter(gdf: gpd.GeoDataFrame, bbox: Bbox, crs: str) -> gpd.GeoDataFrame:
    """Reproject to ``crs`` and keep the geometries intersecting ``bbox`` (given in ``crs``)."""
    target = CRS.from_user_input(crs)
    if not target.equals(gdf.crs):
        gdf = gdf.to_crs(target)
    box = shapely.box(*bbox)
    shapely.prepare(box)
    keep = shapely.intersects(box, np.asarray(gdf.geometry.array))
    return gdf.loc[keep].reset_index(drop=True)


# ----------------------------------------------------------------------------------- public reader
def read_openmaptiles(
    path: Path,
    bbox: Bbox,
    crs: str,
    *,
    layers: Iterable[str] | None = None,
    zoom: int | None = None,
    progress: Progress | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """Read OpenMapTiles-schema OSM data within ``bbox`` into one GeoDataFrame per layer.

    Parameters
    ----------
    path:
        A tile directory ``{z}/{x}/{y}.pbf`` (optionally below ``tiles/``), an ``.mbtiles`` or
        ``.pmtiles`` file, a directory of ``<layer>.parquet`` GeoParquet files, or a ``.gpkg`` with one
        table per layer. The path is used as given: check it with :func:`~.safe.safe_path` first.
    bbox:
        ``(xmin, ymin, xmax, ymax)`` of the area of interest in ``crs`` units (metres for RD New).
        Only tiles intersecting it are read; returned geometries intersect it (they are not cut).
    crs:
        Output CRS, e.g. ``"EPSG:28992"``.
    layers:
        OpenMapTiles layer names to return (``landcover``, ``water``, ``building``, ...); all when None.
        A requested layer the source lacks is returned as an empty GeoDataFrame.
    zoom:
        Tile zoom to read; default the highest zoom present (14 for OpenMapTiles).
    progress:
        Called as ``progress(done, total)`` after each tile (after each layer for decoded sources).

    Returns
    -------
    ``{layer: GeoDataFrame}`` in ``crs``, with the layer's attributes as columns (``class``,
    ``subclass``, ``brunnel``, ``name``, ...; ``name`` copied from ``name:latin`` when the tiles only
    carry the latter) and, for tile sources, a ``tile`` column ``"z/x/y"``. MVT point, line and
    polygon features keep their own type; polygons are valid and polygonal.

    Raises
    ------
    InputDataError
        Unsupported or corrupt source (a corrupt tile is named ``z/x/y``).
    NoOverlapError
        No tile (or feature, for decoded sources) intersects ``bbox``.
    """
    path = Path(path)
    _check_bbox(bbox)
    wanted = list(dict.fromkeys(layers)) if layers is not None else None
    if path.is_dir():
        parquet = sorted(path.glob("*.parquet"))
        if parquet and not _DirSource(path).zooms():
            return _read_decoded(path, parquet, bbox, crs, wanted, progress)
        source: _TileSource = _DirSource(path)
    else:
        if not path.exists():
            raise InputDataError(f"File not found: {path}", hint="Check the path in the area configuration.")
        fmt = _file_format(path)
        if fmt == "gpkg":
            return _read_decoded(path, None, bbox, crs, wanted, progress)
        source = _MBTilesSource(path) if fmt == "mbtiles" else _PMTilesSource(path)
    try:
        return _read_tiles(source, bbox, crs, wanted, zoom, progress)
    finally:
        source.close()


def _file_format(path: Path) -> str:
    """Check a file source's content against its extension; only .mbtiles, .pmtiles, .gpkg accepted."""
    suffix = path.suffix.lower()
    fmt = {".mbtiles": "mbtiles", ".pmtiles": "pmtiles", ".gpkg": "gpkg"}.get(suffix)
    if fmt is None:
        raise InputDataError(
            f"{path} is not an OpenMapTiles source biostress reads (extension '{suffix or 'none'}').",
            hint="Give a folder of {z}/{x}/{y}.pbf tiles, an .mbtiles or .pmtiles file, a folder of "
            "<layer>.parquet files or a .gpkg with one table per layer.",
        )
    check_format(path, fmt)
    return fmt


def _select_tiles(
    source: _TileSource, bbox: Bbox, crs: str, zoom: int | None
) -> tuple[int, list[tuple[int, int]]]:
    """The zoom to read and the tiles of ``source`` that intersect ``bbox``."""
    zooms = source.zooms()
    if not zooms:
        raise InputDataError(
            f"{source.path} holds no vector tiles.",
            hint="Give a folder laid out as {z}/{x}/{y}.pbf, or an .mbtiles/.pmtiles file.",
        )
    z = max(zooms) if zoom is None else zoom
    if z not in zooms:
        raise InputDataError(
            f"{source.path} has no tiles at zoom {z} (zooms present: {zooms}).",
            hint="Leave 'zoom' unset to use the highest zoom present.",
        )
    rng = tile_range_for_bbox(bbox, crs, z)
    tiles = source.tiles(rng)
    if not tiles:
        cov = source.coverage(z)
        raise NoOverlapError(
            f"No tile of {source.path} intersects the area of interest: it needs tiles {rng}, "
            f"but the source covers {cov if cov else 'no tiles at zoom ' + str(z)}.",
            hint="Check the bounding box and CRS of the area, or use tiles that cover it.",
        )
    return z, tiles


def _read_tiles(
    source: _TileSource,
    bbox: Bbox,
    crs: str,
    layers: list[str] | None,
    zoom: int | None,
    progress: Progress | None,
) -> dict[str, gpd.GeoDataFrame]:
    """Decode the tiles intersecting ``bbox`` one by one (reprojected and filtered per tile, which
    keeps memory to the result plus one tile) and assemble the layers."""
    z, tiles = _select_tiles(source, bbox, crs, zoom)
    project = _Projector(bbox, crs)
    want = set(layers) if layers is not None else None
    per_layer: dict[str, list[_Chunk]] = {}
    for i, (x, y) in enumerate(tiles):
        bounds = tile_bounds_3857(z, x, y)
        for name, chunk in _decode_tile(source.read(z, x, y), z, x, y, want, str(source.path)).items():
            kept = project(chunk, bounds)
            if kept is not None:
                per_layer.setdefault(name, []).append(kept)
        if progress is not None:
            progress(i + 1, len(tiles))
    names = layers if layers is not None else sorted(per_layer)
    missing = [n for n in names if n not in per_layer]
    if missing:
        log.warning(
            "%s: no features of layer(s) %s in the area of interest; returned empty.", source.path, missing
        )
    return {name: _to_frame(per_layer.get(name, []), project.crs) for name in names}


def _read_decoded(
    path: Path,
    parquet: list[Path] | None,
    bbox: Bbox,
    crs: str,
    layers: list[str] | None,
    progress: Progress | None,
) -> dict[str, gpd.GeoDataFrame]:
    """Already decoded layers: ``<layer>.parquet`` files in a folder (``parquet``) or tables of a GeoPackage."""
    if parquet is not None:
        available: dict[str, Path | None] = {p.stem: p for p in parquet}
    else:
        available = {str(n): None for n, g in _gpkg_layers(path) if g is not None}
    names = layers if layers is not None else sorted(available)
    out: dict[str, gpd.GeoDataFrame] = {}
    extents: list[str] = []
    for i, name in enumerate(names):
        if name not in available:
            log.warning("%s has no layer '%s'; returned empty.", path, name)
            out[name] = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs))
        else:
            p = available[name]
            gdf = _read_parquet_layer(p) if p is not None else _read_gpkg_layer(path, name, bbox, crs)
            if len(gdf):
                b = gdf.to_crs(crs).total_bounds
                extents.append(f"{name} ({b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f})")
            out[name] = _reproject_filter(gdf, bbox, crs)
        if progress is not None:
            progress(i + 1, len(names))
    if not any(len(g) for g in out.values()):
        raise NoOverlapError(
            f"No feature of {path} intersects the area of interest {tuple(bbox)} ({crs}); the layers cover: "
            f"{'; '.join(extents) if extents else 'nothing there (no features read)'}.",
            hint="Check the bounding box and CRS of the area, or use data that cover it.",
        )
    return out


def _read_parquet_layer(p: Path) -> gpd.GeoDataFrame:
    """One ``<layer>.parquet`` GeoParquet file (must carry its CRS)."""
    check_format(p, "parquet")
    try:
        gdf = gpd.read_parquet(p)
    except Exception as e:  # noqa: BLE001 - pyarrow/geopandas errors become data errors naming the file
        raise InputDataError(
            f"Cannot read {p} as GeoParquet: {e}",
            hint="The file may be corrupt or not GeoParquet; export it again.",
        ) from e
    if gdf.crs is None:
        raise InputDataError(f"{p} carries no CRS.", hint="Write the GeoParquet with its CRS (geo metadata).")
    return gdf


def _gpkg_layers(path: Path) -> list:
    try:
        return list(pyogrio.list_layers(path))
    except Exception as e:  # noqa: BLE001
        raise InputDataError(
            f"Cannot read {path} as GeoPackage: {e}",
            hint="The file may be corrupt or truncated; export it again.",
        ) from e


def _read_gpkg_layer(path: Path, layer: str, bbox: Bbox, crs: str) -> gpd.GeoDataFrame:
    """One GeoPackage table, pre-filtered with the bbox transformed to the table's CRS."""
    try:
        info = pyogrio.read_info(path, layer=layer)
        if info.get("driver") != "GPKG":
            raise InputDataError(
                f"{path}: GDAL would read this GeoPackage with the {info.get('driver')} driver.",
                hint="Export the data as a clean GeoPackage.",
            )
        if not info.get("crs"):
            raise InputDataError(
                f"Table '{layer}' of {path} carries no CRS.", hint="Assign a CRS and export again."
            )
        tr = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_user_input(info["crs"]), always_xy=True)
        return pyogrio.read_dataframe(
            path, layer=layer, bbox=tuple(tr.transform_bounds(*bbox, densify_pts=21))
        )
    except InputDataError:
        raise
    except Exception as e:  # noqa: BLE001
        raise InputDataError(
            f"Cannot read table '{layer}' of {path}: {e}",
            hint="The file may be corrupt or truncated; export it again.",
        ) from e
