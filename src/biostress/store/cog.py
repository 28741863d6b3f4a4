"""Cloud-Optimised GeoTIFF output through GDAL's COG driver (via rasterio).

:func:`write_cog` first writes a plain tiled GeoTIFF (ZSTD, fast) next to the target, then has
GDAL's ``COG`` driver copy it into the final layout (DEFLATE with a predictor, 512² tiles,
overviews down to one tile, IFDs before the data). Band descriptions, units, nodata and the
colour table survive the copy (they live in TIFF tags). Category names have no TIFF tag: GDAL
keeps them in a ``<name>.tif.aux.xml`` (PAM) sidecar, which QGIS and GDAL read automatically.

Everything is written under temporary names in the target folder and moved into place with
:func:`os.replace` at the end, so a reader never sees a half-written file at ``path``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.dtypes import in_dtype_range
from rasterio.windows import Window

from ..errors import InputDataError
from ..grid import Grid

__all__ = ["CogWriter", "write_cog", "COG_BLOCKSIZE", "sidecar_paths"]

COG_BLOCKSIZE = 512
_SUPPORTED = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32", "float64"}


def sidecar_paths(path: Path) -> tuple[Path, Path]:
    """The sidecars :func:`write_cog` may create for ``path``: ``(<name>.qml, <name>.tif.aux.xml)``."""
    path = Path(path)
    return path.with_suffix(".qml"), path.with_name(path.name + ".aux.xml")


def _prepare(data: np.ndarray, grid: Grid, nodata: float | None) -> np.ndarray:
    """Validate and normalise ``data`` to a ``(bands, rows, cols)`` array of a GDAL type."""
    if np.ma.isMaskedArray(data):
        if nodata is None:
            raise InputDataError("A masked array was given without a nodata value to fill it with.")
        data = np.ma.filled(data, nodata)
    arr = np.asarray(data)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    elif arr.ndim != 3:
        raise InputDataError(f"Raster data must be 2-D or bands x rows x cols, got shape {arr.shape}.")
    if arr.shape[1:] != grid.shape:
        raise InputDataError(
            f"Raster data of shape {arr.shape[1:]} (rows, cols) does not match the grid {grid.shape}."
        )
    if arr.shape[0] < 1:
        raise InputDataError("Raster data has no bands.")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    if arr.dtype.name not in _SUPPORTED:
        raise InputDataError(f"Raster data type {arr.dtype} cannot be written to a GeoTIFF.")
    if nodata is not None:
        if np.isnan(nodata):
            if arr.dtype.kind != "f":
                raise InputDataError(f"nodata=NaN needs a floating-point raster, got {arr.dtype}.")
        elif not in_dtype_range(nodata, arr.dtype.name):
            raise InputDataError(f"nodata={nodata} does not fit the raster data type {arr.dtype}.")
    return arr


def _write_pam(path: Path, category_names: Sequence[str], bands: int) -> None:
    """A GDAL PAM ``.aux.xml`` with category names for every band (read by GDAL on open)."""
    cats = "".join(f"      <Category>{escape(str(c))}</Category>\n" for c in category_names)
    body = "".join(
        f'  <PAMRasterBand band="{b}">\n    <CategoryNames>\n{cats}    </CategoryNames>\n  </PAMRasterBand>\n'
        for b in range(1, bands + 1)
    )
    path.write_text(f"<PAMDataset>\n{body}</PAMDataset>\n", encoding="utf-8")


def _unlink(*paths: Path) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


class CogWriter:
    """Write a raster block by block (bounded memory), then turn it into a COG on close.

    ``with CogWriter(path, grid, count, dtype, ...) as w: w.write(block, row0, col0)``. On a clean
    exit the tiled GeoTIFF written so far is converted by GDAL's COG driver (which streams) and
    moved into place with its sidecars; on an exception nothing appears at ``path``.
    Options as for :func:`write_cog`.
    """

    def __init__(self, path: Path | str, grid: Grid, count: int, dtype: str, *, nodata: float | None = None,
                 colormap: Mapping[int, tuple[int, int, int, int]] | None = None,
                 band_names: Sequence[str] | None = None, units: str | None = None, description: str | None = None,
                 category_names: Sequence[str] | None = None, qml: str | None = None,
                 categorical: bool | None = None) -> None:
        self.path = path = Path(path)
        if path.suffix.lower() not in {".tif", ".tiff"}:
            raise ValueError(f"COG output path must end in .tif, got {path.name}.")
        if not path.parent.is_dir():
            raise InputDataError(f"Output folder {path.parent} does not exist.")
        if dtype not in _SUPPORTED:
            raise InputDataError(f"Raster data type {dtype} cannot be written to a GeoTIFF.")
        if nodata is not None and not np.isnan(nodata) and not in_dtype_range(nodata, dtype):
            raise InputDataError(f"nodata={nodata} does not fit the raster data type {dtype}.")
        if nodata is not None and np.isnan(nodata) and np.dtype(dtype).kind != "f":
            raise InputDataError(f"nodata=NaN needs a floating-point raster, got {dtype}.")
        if band_names is not None and len(band_names) != count:
            raise ValueError(f"{len(band_names)} band names given for {count} bands.")
        if colormap is not None and (count != 1 or dtype not in {"uint8", "uint16"}):
            raise ValueError(f"A colour table needs a single-band uint8/uint16 raster, got {count} x {dtype}.")
        self.grid, self.count, self.dtype = grid, count, dtype
        self.categorical = (colormap is not None or category_names is not None) if categorical is None else categorical
        self.predictor = 3 if np.dtype(dtype).kind == "f" else 2
        self.category_names, self.qml = category_names, qml
        token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.src_tmp = path.with_name(f".{path.stem}.src-{token}.tif")
        self.dst_tmp = path.with_name(f".{path.stem}.cog-{token}.tif")
        self.src_aux = self.src_tmp.with_name(self.src_tmp.name + ".aux.xml")
        self.dst_aux = self.dst_tmp.with_name(self.dst_tmp.name + ".aux.xml")
        self.qml_tmp = path.with_name(f".{path.stem}.qml-{token}")
        profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": count, "dtype": dtype,
                   "crs": grid.crs, "transform": grid.transform, "nodata": nodata, "tiled": True,
                   "blockxsize": COG_BLOCKSIZE, "blockysize": COG_BLOCKSIZE, "compress": "ZSTD", "zstd_level": 1,
                   "bigtiff": "IF_SAFER"}
        self._ds = rasterio.open(self.src_tmp, "w", **profile)
        for b in range(1, count + 1):
            if band_names is not None:
                self._ds.set_band_description(b, str(band_names[b - 1]))
            if units:
                self._ds.set_band_unit(b, units)
        if colormap is not None:
            self._ds.write_colormap(1, {int(k): tuple(int(c) for c in v) for k, v in colormap.items()})
        if description:
            self._ds.update_tags(TIFFTAG_IMAGEDESCRIPTION=description)

    def write(self, block: np.ndarray, row0: int = 0, col0: int = 0) -> None:
        """Write a ``(rows, cols)`` or ``(bands, rows, cols)`` block at ``(row0, col0)``."""
        arr = np.asarray(block)
        if arr.ndim == 2:
            arr = arr[np.newaxis]
        if arr.shape[0] != self.count:
            raise InputDataError(f"Block has {arr.shape[0]} bands, the raster {self.count}.")
        self._ds.write(arr.astype(self.dtype, copy=False), window=Window(col0, row0, arr.shape[2], arr.shape[1]))

    def __enter__(self) -> CogWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._ds.close()
            if exc_type is None:
                self._finish()
        finally:
            _unlink(self.src_tmp, self.src_aux, self.dst_tmp, self.dst_aux, self.qml_tmp)

    def _finish(self) -> None:
        path = self.path
        qml_path, aux_path = sidecar_paths(path)
        if self.category_names is not None:
            _write_pam(self.src_aux, self.category_names, self.count)
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            rasterio.shutil.copy(
                self.src_tmp, self.dst_tmp, driver="COG", COMPRESS="DEFLATE", PREDICTOR=str(self.predictor),
                BLOCKSIZE=str(COG_BLOCKSIZE), OVERVIEWS="AUTO",
                RESAMPLING="NEAREST" if self.categorical else "AVERAGE", BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS")
        # sidecars first, the raster last: once ``path`` is new, so are its sidecars
        if self.dst_aux.exists():
            os.replace(self.dst_aux, aux_path)
        else:
            _unlink(aux_path)
        if self.qml is not None:
            self.qml_tmp.write_text(self.qml, encoding="utf-8")
            os.replace(self.qml_tmp, qml_path)
        else:
            _unlink(qml_path)
        os.replace(self.dst_tmp, path)


def write_cog(
    path: Path | str,
    data: np.ndarray,
    grid: Grid,
    *,
    nodata: float | None = None,
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None,
    band_names: Sequence[str] | None = None,
    units: str | None = None,
    description: str | None = None,
    category_names: Sequence[str] | None = None,
    qml: str | None = None,
    categorical: bool | None = None,
) -> Path:
    """Write ``data`` on ``grid`` as a Cloud-Optimised GeoTIFF at ``path`` and return ``path``.

    ``data`` is 2-D ``(rows, cols)`` or 3-D ``(bands, rows, cols)`` and must match ``grid.shape``.
    ``colormap`` (value -> RGBA) is stored as the GeoTIFF colour table (single-band uint8/uint16
    only). ``band_names`` become band descriptions, ``units`` the unit type of every band,
    ``description`` the TIFF image description. ``category_names[i]`` names value ``i``
    (written to the ``.aux.xml`` sidecar). ``qml`` is written as the QGIS style sidecar
    ``<name>.qml``.

    ``categorical`` selects the overview resampling: nearest neighbour for classes, average for
    continuous values. It defaults to ``True`` when a colour map or category names are given.
    """
    arr = _prepare(data, grid, nodata)
    with CogWriter(path, grid, arr.shape[0], arr.dtype.name, nodata=nodata, colormap=colormap, band_names=band_names,
                   units=units, description=description, category_names=category_names, qml=qml,
                   categorical=categorical) as w:
        w.write(arr)
    return Path(path)
