"""The run's raster layers as one memory-mapped array, for fast plot lookups and map tiles.

A request that reads a window of each of ~60 Cloud-Optimised GeoTIFFs through GDAL costs about 0.1 ms per
layer plus a lock per dataset; with 64 clients at once the lookups queue behind each other. When the server
starts, :func:`build_stack` copies every raster layer that lies on the run's grid into one float32 array of
shape ``(layers, rows, cols)`` (NaN = no value: the COG's nodata or NaN) in a cache file, streamed in bands
of rows so memory stays bounded, written to a temporary name and renamed when complete (atomic). The file is
opened as a :class:`numpy.memmap`: the operating system keeps the pages in its cache, shared between worker
processes, and a lookup of one cell is ``array[:, row, col]``.

The cache file is named after a key of the run (its ``run_id``, and per layer the id, path, size and
modification time), so a re-run of the area or a changed layer writes a new cache and a stale one is never
read. Cache folder: the server's data folder, else ``<run>/.web-cache`` when the run folder is writable, else
a temporary folder.

Tiles (:func:`tile_cells`): the cells shown by the pixels of an XYZ tile at full resolution. The pixel
centres of a 17 x 17 lattice over the tile (every 16th pixel edge) are projected exactly from Web Mercator
to the run's CRS with PROJ, the others bilinearly between them (over 16 pixels the projection is linear to
well under a millimetre at the zoom levels that show cells), then ``row = floor((y1 - y) / cell)``,
``col = floor((x - x0) / cell)``: the cell holding the pixel centre, the same choice as nearest-neighbour
warping.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..grid import Grid

__all__ = ["LayerStack", "build_stack", "cache_dir_for", "tile_cells"]

ROWS_PER_BAND = 256
_LATTICE = 16  # pixels between exactly projected points


@dataclass
class LayerStack:
    """Raster layers on one grid as a read-only ``(layers, rows, cols)`` float32 array (NaN = no value)."""

    ids: list[str]
    array: np.ndarray
    path: Path | None = None

    def __post_init__(self) -> None:
        self.index = {lid: i for i, lid in enumerate(self.ids)}

    def __contains__(self, lid: str) -> bool:
        return lid in self.index

    def layer(self, lid: str) -> np.ndarray:
        """The ``(rows, cols)`` array of layer ``lid`` (a view)."""
        return self.array[self.index[lid]]



def cache_dir_for(run_dir: Path, data_dir: Path | None) -> Path:
    """Where the server keeps its caches (see the module docstring)."""
    if data_dir is not None:
        d = Path(data_dir) / "cache"
        d.mkdir(parents=True, exist_ok=True)
        return d
    d = Path(run_dir) / ".web-cache"
    with contextlib.suppress(OSError):
        d.mkdir(exist_ok=True)
        probe = d / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return d
    d = Path(tempfile.gettempdir()) / f"biostress-web-cache-{os.getuid() if hasattr(os, 'getuid') else 0}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _key(run_id: str, sources: Mapping[str, Any]) -> str:
    h = hashlib.sha256(str(run_id).encode())
    for lid, src in sources.items():
        p = getattr(src, "path", None)
        st = p.stat() if p is not None and p.exists() else None
        h.update(f"|{lid}|{p}|{st.st_size if st else 0}|{st.st_mtime_ns if st else 0}".encode())
    return h.hexdigest()[:20]


def build_stack(sources: Mapping[str, Any], grid: Grid, cache_dir: Path, run_id: str = "",
                progress: Callable[[str], None] | None = None) -> LayerStack:
    """The :class:`LayerStack` of ``sources`` (``{layer id: RasterSource}``; those not on ``grid`` are left
    out), read from the cache in ``cache_dir`` or written there first (module docstring)."""
    ids = [lid for lid, s in sources.items() if (s.height, s.width) == (grid.height, grid.width)]
    chosen = {lid: sources[lid] for lid in ids}
    key = _key(run_id, chosen)
    path = Path(cache_dir) / f"layers-{key}.f32"
    meta = path.with_suffix(".json")
    shape = (len(ids), grid.height, grid.width)
    if path.is_file() and meta.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError):
            m = json.loads(meta.read_text(encoding="utf-8"))
            if m["ids"] == ids and tuple(m["shape"]) == shape and path.stat().st_size == 4 * int(np.prod(shape)):
                return LayerStack(ids, np.memmap(path, dtype=np.float32, mode="r", shape=shape), path)
    if not ids:
        return LayerStack([], np.zeros((0, grid.height, grid.width), np.float32))
    if progress:
        progress(f"caching {len(ids)} raster layers ({4 * np.prod(shape) / 2**20:.0f} MB) in {cache_dir}")
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=cache_dir)
    os.close(fd)
    try:
        out = np.memmap(tmp, dtype=np.float32, mode="w+", shape=shape)
        for i, lid in enumerate(ids):
            src = chosen[lid]
            for r0 in range(0, grid.height, ROWS_PER_BAND):
                r1 = min(grid.height, r0 + ROWS_PER_BAND)
                out[i, r0:r1] = src.window(r0, r1, 0, grid.width)
        out.flush()
        del out
        os.replace(tmp, path)
        tmp_meta = meta.with_suffix(".json.tmp")
        tmp_meta.write_text(json.dumps({"ids": ids, "shape": list(shape), "run_id": run_id}), encoding="utf-8")
        os.replace(tmp_meta, meta)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return LayerStack(ids, np.memmap(path, dtype=np.float32, mode="r", shape=shape), path)


# ----------------------------------------------------------------------------------------------------------
# tile pixels -> grid cells
# ----------------------------------------------------------------------------------------------------------
_TILE_CACHE: OrderedDict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = OrderedDict()
_TILE_LOCK = threading.Lock()
_TILE_KEEP = 128  # ~0.6 MB each


_WEIGHTS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _weights(size: int) -> tuple[np.ndarray, np.ndarray]:
    """For the pixel centres ``i + 0.5``: the lattice knot ``k`` before each (knots at pixel edges 0, 16, ...)
    and the share ``t`` of the way to the next one."""
    got = _WEIGHTS.get(size)
    if got is None:
        n = size // _LATTICE + 1
        u = np.arange(size, dtype=np.float64) + 0.5
        k = np.minimum((u // _LATTICE).astype(np.intp), n - 2)
        got = (k, (u - k * _LATTICE) / _LATTICE)
        _WEIGHTS[size] = got
    return got


def tile_cells(grid: Grid, to_grid: Any, bounds: tuple[float, float, float, float], size: int = 256,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(rows, cols, inside)`` of the pixels of a tile with EPSG:3857 ``bounds`` ``(left, bottom, right,
    top)``: the grid cell holding each pixel centre (module docstring); ``inside`` marks pixels on the grid;
    rows/cols are 0 elsewhere. None when no pixel is on the grid. ``to_grid``: an ``always_xy`` PROJ
    transformer from EPSG:3857 to the grid's CRS. Kept in a small LRU cache (shared by all layers)."""
    key = (grid.crs, grid.x0, grid.y1, grid.cell, grid.width, grid.height, tuple(bounds), size)
    with _TILE_LOCK:
        if key in _TILE_CACHE:
            _TILE_CACHE.move_to_end(key)
            return _TILE_CACHE[key]
    left, bottom, right, top = bounds
    res_x, res_y = (right - left) / size, (top - bottom) / size
    n = size // _LATTICE + 1
    knots = np.arange(n, dtype=np.float64) * _LATTICE  # pixel-edge positions 0, 16, ..., size
    kx, ky = np.meshgrid(left + knots * res_x, top - knots * res_y)
    gx, gy = to_grid.transform(kx.ravel(), ky.ravel())
    gx, gy = np.asarray(gx).reshape(n, n), np.asarray(gy).reshape(n, n)
    k, t = _weights(size)

    def interp(a: np.ndarray) -> np.ndarray:  # bilinear: along the columns on the knot rows, then down
        along = a[:, k] * (1 - t) + a[:, k + 1] * t  # (n, size)
        return along[k] * (1 - t)[:, None] + along[k + 1] * t[:, None]

    x, y = interp(gx), interp(gy)
    cols = np.floor((x - grid.x0) / grid.cell)
    rows = np.floor((grid.y1 - y) / grid.cell)
    inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
    got: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    if inside.any():
        got = (np.where(inside, rows, 0).astype(np.int32), np.where(inside, cols, 0).astype(np.int32), inside)
    with _TILE_LOCK:
        _TILE_CACHE[key] = got
        while len(_TILE_CACHE) > _TILE_KEEP:
            _TILE_CACHE.popitem(last=False)
    return got
