"""Map tiles of a run: raster tiles (PNG) from the run's COGs and vector tiles (MVT) of the area units.

Tile scheme: XYZ in Web Mercator (EPSG:3857), 256 px, tile ``(z, x, y)`` covers
``[-R + x s, -R + (x + 1) s] x [R - (y + 1) s, R - y s]`` with ``R = 20037508.342789244`` m (half the
equator in the spherical Mercator of EPSG:3857) and ``s = 2 R / 2^z`` (OSGeo Tile Map Service /
"slippy map" convention, y counted from the north).

Raster tiles: the tile's window of the COG is warped to EPSG:3857 at the tile's resolution with a
rasterio :class:`~rasterio.vrt.WarpedVRT` (nearest neighbour, so every pixel shows the value of one
cell), reading the coarsest overview whose cells are still no larger than a tile pixel (COG overviews:
averages for continuous rasters, nearest for classes). Pixels outside the raster, on its nodata value
or NaN are transparent. Colours come from the layer's :class:`~biostress.web.layers.Style`. PNGs are
encoded with Pillow and kept in an LRU cache (bytes-bounded).

Vector tiles: the units of one level, reprojected to EPSG:3857 once, are found with an STR-tree,
clipped to the tile grown by a small buffer, simplified to a quarter of a tile unit and encoded with
``mapbox_vector_tile.encode`` (extent 4096), layer name = the level.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from ..errors import InputDataError
from .layers import Style

__all__ = [
    "EMPTY_PNG",
    "HALF_WORLD",
    "MAX_ZOOM",
    "TILE_SIZE",
    "LRUBytes",
    "RasterSource",
    "VectorTiles",
    "check_tile",
    "encode_png",
    "encode_png_indexed",
    "tile_bounds",
    "transformer",
]

HALF_WORLD = 20037508.342789244
TILE_SIZE = 256
MAX_ZOOM = 24
WEB_MERCATOR = "EPSG:3857"


_TRANSFORMERS: dict[tuple[str, str], Transformer] = {}
_TLOCK = threading.Lock()


def _make_transformer(src: str, dst: str) -> Transformer:
    """``always_xy`` Transformer from ``src`` to ``dst`` built from the PROJ pipeline string of the best
    available operation. pyproj re-creates a Transformer in every thread that uses it; one made from
    CRS names then searches the PROJ database again (~100 ms per web-server thread), one made from a
    pipeline string does not (~1 ms). Falls back to :meth:`Transformer.from_crs` when the pipeline
    cannot be written out or does not reproduce it."""
    from pyproj.transformer import TransformerGroup

    ref = Transformer.from_crs(src, dst, always_xy=True)
    try:
        group = TransformerGroup(src, dst, always_xy=True)
        if not group.transformers:
            return ref
        fast = Transformer.from_pipeline(group.transformers[0].to_proj4())
        aou = ref.area_of_use or group.transformers[0].area_of_use
        if aou is None:
            return ref
        lon, lat = (aou.west + aou.east) / 2, (aou.south + aou.north) / 2
        probe = Transformer.from_crs("EPSG:4326", src, always_xy=True).transform(lon, lat)
        a, b = ref.transform(*probe), fast.transform(*probe)
        if all(math.isfinite(v) for v in (*a, *b)) and abs(a[0] - b[0]) < 1e-6 * max(1.0, abs(a[0])) \
                and abs(a[1] - b[1]) < 1e-6 * max(1.0, abs(a[1])):
            return fast
    except Exception:  # noqa: BLE001 - the slow path is always correct
        pass
    return ref


def transformer(src: Any, dst: Any) -> Transformer:
    """A cached ``always_xy`` Transformer (see :func:`_make_transformer`)."""
    key = (src.to_string() if hasattr(src, "to_string") else str(src),
           dst.to_string() if hasattr(dst, "to_string") else str(dst))
    with _TLOCK:
        t = _TRANSFORMERS.get(key)
        if t is None:
            t = _make_transformer(key[0], key[1])
            _TRANSFORMERS[key] = t
        return t


def check_tile(z: int, x: int, y: int) -> None:
    """Raise :class:`InputDataError` unless ``0 <= z <= MAX_ZOOM`` and ``0 <= x, y < 2^z``."""
    if not (0 <= z <= MAX_ZOOM) or not (0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise InputDataError(f"There is no tile {z}/{x}/{y}.", hint=f"Use 0 <= z <= {MAX_ZOOM} and 0 <= x, y < 2^z.")


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """``(left, bottom, right, top)`` of XYZ tile ``z/x/y`` in EPSG:3857 metres (module docstring).

    >>> tile_bounds(0, 0, 0) == (-HALF_WORLD, -HALF_WORLD, HALF_WORLD, HALF_WORLD)
    True
    """
    s = 2 * HALF_WORLD / 2 ** z
    return (-HALF_WORLD + x * s, HALF_WORLD - (y + 1) * s, -HALF_WORLD + (x + 1) * s, HALF_WORLD - y * s)


def encode_png(rgba: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 4) uint8 RGBA image (Pillow, fast compression)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba, dtype=np.uint8), "RGBA").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def encode_png_indexed(index: np.ndarray, lut: np.ndarray) -> bytes:
    """PNG bytes of an (H, W) image of rows of the RGBA table ``lut`` (at most 256 rows) as an indexed
    (palette) PNG with its alpha in a tRNS chunk: a quarter of the pixels' bytes of RGBA, the same colours
    once decoded (PNG 1.2, sections 4.1.2 PLTE and 4.2.1.1 tRNS)."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(index, dtype=np.uint8), "P")
    img.putpalette(np.ascontiguousarray(lut[:, :3], dtype=np.uint8).tobytes(), rawmode="RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1, transparency=np.ascontiguousarray(lut[:, 3], np.uint8).tobytes())
    return buf.getvalue()


EMPTY_PNG = encode_png(np.zeros((TILE_SIZE, TILE_SIZE, 4), np.uint8))


class LRUBytes:
    """A thread-safe LRU cache of byte strings, bounded by their total size (``max_bytes``)."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = int(max_bytes)
        self._d: OrderedDict[Any, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any) -> bytes | None:
        with self._lock:
            v = self._d.get(key)
            if v is None:
                self.misses += 1
                return None
            self._d.move_to_end(key)
            self.hits += 1
            return v

    def put(self, key: Any, value: bytes) -> None:
        with self._lock:
            old = self._d.pop(key, None)
            if old is not None:
                self._size -= len(old)
            if len(value) > self.max_bytes:
                return
            self._d[key] = value
            self._size += len(value)
            while self._size > self.max_bytes and self._d:
                _, v = self._d.popitem(last=False)
                self._size -= len(v)

    def get_or_make(self, key: Any, make: Callable[[], bytes]) -> bytes:
        v = self.get(key)
        if v is None:
            v = make()
            self.put(key, v)
        return v


class RasterSource:
    """One band of a raster (a run's COG, or an in-memory array) opened once, with its overviews.

    Reads are serialised with a lock (a GDAL dataset handle is not thread-safe)."""

    def __init__(self, path: Path | str | None = None, band: int = 1, *, dataset: Any = None,
                 memfile: Any = None) -> None:
        self.path = Path(path) if path is not None else None
        self.band = band
        self._lock = threading.Lock()
        self._memfile = memfile  # keeps an in-memory file alive
        self._ds = dataset if dataset is not None else rasterio.open(self.path)
        ds = self._ds
        self.crs = ds.crs
        self.transform = ds.transform
        self.width, self.height = ds.width, ds.height
        self.dtype = ds.dtypes[band - 1]
        self.nodata = ds.nodata
        self.is_float = np.issubdtype(np.dtype(self.dtype), np.floating)
        self.cell = abs(self.transform.a)
        self.factors = list(ds.overviews(band)) if self.path is not None else []
        self._ovr: dict[int, Any] = {}
        self._to_src = transformer(WEB_MERCATOR, self.crs)
        self._cells: np.ndarray | None = None  # the layer in memory (see attach)
        self._grid: Any = None
        left, bottom, right, top = ds.bounds
        xs = np.concatenate([np.linspace(left, right, 21), np.full(21, right), np.linspace(right, left, 21),
                             np.full(21, left)])
        ys = np.concatenate([np.full(21, top), np.linspace(top, bottom, 21), np.full(21, bottom),
                             np.linspace(bottom, top, 21)])
        mx, my = transformer(self.crs, WEB_MERCATOR).transform(xs, ys)
        self.bounds_3857 = (float(np.min(mx)), float(np.min(my)), float(np.max(mx)), float(np.max(my)))

    @classmethod
    def from_array(cls, array: np.ndarray, transform: Affine, crs: Any) -> RasterSource:
        """A source over an in-memory float32 array (NaN = no value), e.g. a scenario's change."""
        from rasterio.io import MemoryFile

        a = np.asarray(array, dtype=np.float32)
        mem = MemoryFile()
        with mem.open(driver="GTiff", width=a.shape[1], height=a.shape[0], count=1, dtype="float32", crs=crs,
                      transform=transform, nodata=float("nan")) as w:
            w.write(a, 1)
        return cls(None, 1, dataset=mem.open(), memfile=mem)

    def close(self) -> None:
        with self._lock:
            for d in self._ovr.values():
                d.close()
            self._ds.close()
            if self._memfile is not None:
                self._memfile.close()

    def attach(self, cells: np.ndarray, grid: Any) -> None:
        """Read full-resolution tiles and windows from ``cells`` (this layer as a float32 ``(rows, cols)``
        array on ``grid``, NaN = no value, e.g. a :class:`~biostress.web.cellcache.LayerStack` view) instead
        of through GDAL: no lock, no warping (:func:`~biostress.web.cellcache.tile_cells`)."""
        if cells.shape != (self.height, self.width):
            raise ValueError(f"attach: array of shape {cells.shape} for a raster of {(self.height, self.width)}")
        self._cells, self._grid = cells, grid

    @property
    def in_memory(self) -> bool:
        """Whether tiles and values come from an attached array (:meth:`attach`) rather than GDAL."""
        return self._cells is not None

    def intersects(self, b: Sequence[float]) -> bool:
        x0, y0, x1, y1 = self.bounds_3857
        return not (b[2] <= x0 or b[0] >= x1 or b[3] <= y0 or b[1] >= y1)

    def _overview_level(self, pixel_src: float) -> int:
        """The coarsest overview whose cell is <= ``pixel_src`` (-1: full resolution)."""
        level = -1
        for i, f in enumerate(self.factors):
            if self.cell * f <= pixel_src * 1.0001:
                level = i
        return level

    def _dataset_for(self, pixel_src: float) -> Any:
        """The full-resolution dataset or the coarsest overview whose cell is <= ``pixel_src``."""
        level = self._overview_level(pixel_src)
        if level < 0 or self.path is None:
            return self._ds
        d = self._ovr.get(level)
        if d is None:
            d = rasterio.open(self.path, overview_level=level)
            self._ovr[level] = d
        return d

    def read_tile(self, z: int, x: int, y: int, size: int = TILE_SIZE) -> tuple[np.ndarray, np.ndarray] | None:
        """``(values, valid)`` of tile ``z/x/y`` (``size`` x ``size``; valid = inside the raster and not
        nodata), or None when the tile misses the raster."""
        b = tile_bounds(z, x, y)
        if not self.intersects(b):
            return None
        # the tile pixel in source units: the tile's extent along its centre line, reprojected
        cy = (b[1] + b[3]) / 2
        sx, _ = self._to_src.transform([b[0], b[2]], [cy, cy])
        pixel_src = abs(sx[1] - sx[0]) / size
        if self._cells is not None and self._overview_level(pixel_src) < 0:
            from .cellcache import tile_cells

            got = tile_cells(self._grid, self._to_src, b, size)
            if got is None:
                return None
            rows, cols, inside = got
            values = self._cells[rows, cols]
            return values, inside & np.isfinite(values)
        transform = Affine((b[2] - b[0]) / size, 0.0, b[0], 0.0, -(b[3] - b[1]) / size, b[3])
        with self._lock:
            ds = self._dataset_for(pixel_src)
            src_nodata = self.nodata if self.nodata is not None else (float("nan") if self.is_float else None)
            kw: dict[str, Any] = {"src_nodata": src_nodata} if src_nodata is not None else {}
            with WarpedVRT(ds, crs=WEB_MERCATOR, transform=transform, width=size, height=size,
                           resampling=Resampling.nearest, add_alpha=True, **kw) as vrt:
                data = vrt.read([self.band, vrt.count])
        values, alpha = data[0], data[1]
        valid = alpha > 0
        if self.nodata is not None and not (isinstance(self.nodata, float) and math.isnan(self.nodata)):
            valid &= values != self.nodata
        return values, valid

    def value_at(self, row: int, col: int) -> float | None:
        """The value of cell ``(row, col)`` (None outside the raster, on nodata or NaN)."""
        if not (0 <= row < self.height and 0 <= col < self.width):
            return None
        if self._cells is not None:
            v = float(self._cells[row, col])
            return v if math.isfinite(v) else None
        with self._lock:
            v = self._ds.read(self.band, window=((row, row + 1), (col, col + 1)))[0, 0]
        v = float(v)
        if not math.isfinite(v) or (self.nodata is not None and v == self.nodata):
            return None
        return v

    def window(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Values of rows ``r0:r1``, columns ``c0:c1`` as float64 (NaN on nodata), clamped to the raster."""
        r0, r1 = max(0, r0), min(self.height, r1)
        c0, c1 = max(0, c0), min(self.width, c1)
        if self._cells is not None:
            return np.asarray(self._cells[r0:r1, c0:c1], dtype=np.float64)
        with self._lock:
            a = self._ds.read(self.band, window=((r0, r1), (c0, c1))).astype(np.float64)
        if self.nodata is not None and not math.isnan(float(self.nodata)):
            a[a == self.nodata] = np.nan
        return a

    def render(self, z: int, x: int, y: int, style: Style) -> bytes:
        """PNG bytes of tile ``z/x/y`` coloured with ``style`` (:data:`EMPTY_PNG` when it misses the raster)."""
        got = self.read_tile(z, x, y)
        if got is None:
            return EMPTY_PNG
        values, valid = got
        if not valid.any():
            return EMPTY_PNG
        lut = style.lut()
        if len(lut) <= 256:
            return encode_png_indexed(style.index(values, valid), lut)
        return encode_png(style.colourise(values, valid))


def _props(row: dict[str, Any]) -> dict[str, Any]:
    """Properties an MVT can carry: text, whole numbers and finite floats (NaN/None left out)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if v is None:
            continue
        if isinstance(v, bool | np.bool_):
            out[k] = bool(v)
        elif isinstance(v, int | np.integer):
            out[k] = int(v)
        elif isinstance(v, float | np.floating):
            if math.isfinite(float(v)):
                out[k] = float(v)
        elif isinstance(v, str):
            out[k] = v
    return out


class VectorTiles:
    """Vector tiles of one layer: geometries in EPSG:3857 (any CRS in, reprojected once) and their properties."""

    def __init__(self, name: str, geometries: Sequence[Any], properties: Sequence[dict[str, Any]],
                 crs: Any) -> None:
        import geopandas as gpd

        g = gpd.GeoSeries(list(geometries), crs=crs).to_crs(WEB_MERCATOR)
        self.name = name
        self.geoms = np.asarray(shapely.make_valid(np.asarray(g.values, dtype=object)), dtype=object)
        self.props = [_props(p) for p in properties]
        self.tree = shapely.STRtree(self.geoms)

    def render(self, z: int, x: int, y: int, buffer_px: int = 8) -> bytes:
        """MVT bytes of tile ``z/x/y`` (b"" when no feature touches it)."""
        import mapbox_vector_tile

        b = tile_bounds(z, x, y)
        buf = (b[2] - b[0]) / TILE_SIZE * buffer_px
        clip = (b[0] - buf, b[1] - buf, b[2] + buf, b[3] + buf)
        idx = self.tree.query(shapely.box(*clip), predicate="intersects")
        if idx.size == 0:
            return b""
        idx = np.sort(idx)
        tol = (b[2] - b[0]) / 4096 / 4
        geoms = shapely.clip_by_rect(self.geoms[idx], *clip)
        geoms = shapely.simplify(geoms, tol, preserve_topology=True)
        feats = []
        for i, g in zip(idx, geoms, strict=True):
            if g is None or g.is_empty or shapely.area(g) <= 0 and g.geom_type.endswith("Polygon"):
                continue
            feats.append({"geometry": g, "properties": self.props[int(i)], "id": int(i) + 1})
        if not feats:
            return b""
        return mapbox_vector_tile.encode([{"name": self.name, "features": feats}],
                                         default_options={"quantize_bounds": b, "extents": 4096})
