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

from ..errors import InputDataError
from ..grid import Grid

__all__ = ["write_cog", "COG_BLOCKSIZE", "sidecar_paths"]

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
    path = Path(path)
    if path.suffix.lower() not in {".tif", ".tiff"}:
        raise ValueError(f"COG output path must end in .tif, got {path.name}.")
    if not path.parent.is_dir():
        raise InputDataError(f"Output folder {path.parent} does not exist.")
    arr = _prepare(data, grid, nodata)
    bands, rows, cols = arr.shape
    dtype = arr.dtype.name
    if band_names is not None and len(band_names) != bands:
        raise ValueError(f"{len(band_names)} band names given for {bands} bands.")
    if colormap is not None and (bands != 1 or dtype not in {"uint8", "uint16"}):
        raise ValueError(f"A colour table needs a single-band uint8/uint16 raster, got {bands} x {dtype}.")
    if categorical is None:
        categorical = colormap is not None or category_names is not None
    predictor = 3 if arr.dtype.kind == "f" else 2

    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    src_tmp = path.with_name(f".{path.stem}.src-{token}.tif")
    dst_tmp = path.with_name(f".{path.stem}.cog-{token}.tif")
    src_aux = src_tmp.with_name(src_tmp.name + ".aux.xml")
    dst_aux = dst_tmp.with_name(dst_tmp.name + ".aux.xml")
    qml_tmp = path.with_name(f".{path.stem}.qml-{token}")
    qml_path, aux_path = sidecar_paths(path)
    try:
        profile = {
            "driver": "GTiff",
            "width": cols,
            "height": rows,
            "count": bands,
            "dtype": dtype,
            "crs": grid.crs,
            "transform": grid.transform,
            "nodata": nodata,
            "tiled": True,
            "blockxsize": COG_BLOCKSIZE,
            "blockysize": COG_BLOCKSIZE,
            "compress": "ZSTD",
            "zstd_level": 1,
            "bigtiff": "IF_SAFER",
        }
        with rasterio.open(src_tmp, "w", **profile) as dst:
            dst.write(arr)
            for b in range(1, bands + 1):
                if band_names is not None:
                    dst.set_band_description(b, str(band_names[b - 1]))
                if units:
                    dst.set_band_unit(b, units)
            if colormap is not None:
                dst.write_colormap(1, {int(k): tuple(int(c) for c in v) for k, v in colormap.items()})
            if description:
                dst.update_tags(TIFFTAG_IMAGEDESCRIPTION=description)
        if category_names is not None:
            _write_pam(src_aux, category_names, bands)
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            rasterio.shutil.copy(
                src_tmp,
                dst_tmp,
                driver="COG",
                COMPRESS="DEFLATE",
                PREDICTOR=str(predictor),
                BLOCKSIZE=str(COG_BLOCKSIZE),
                OVERVIEWS="AUTO",
                RESAMPLING="NEAREST" if categorical else "AVERAGE",
                BIGTIFF="IF_SAFER",
                NUM_THREADS="ALL_CPUS",
            )
        # sidecars first, the raster last: once ``path`` is new, so are its sidecars
        if dst_aux.exists():
            os.replace(dst_aux, aux_path)
        else:
            _unlink(aux_path)
        if qml is not None:
            qml_tmp.write_text(qml, encoding="utf-8")
            os.replace(qml_tmp, qml_path)
        else:
            _unlink(qml_path)
        os.replace(dst_tmp, path)
    finally:
        _unlink(src_tmp, src_aux, dst_tmp, dst_aux, qml_tmp)
    return path
