"""Uploads: a municipality's extra data (trees, ownership, school grounds, ...) sent by an editor.

``POST /api/uploads?name=<file name>[&crs=EPSG:28992]`` with the file as the raw request body. The
file is streamed to ``<data dir>/uploads/<municipality>/`` while its size is counted (refused with
413 above ``max_bytes``, default 50 MB, before and while reading), then checked the way biostress
checks every user file: the content must match the extension (magic bytes,
:func:`biostress.sources.safe.check_format`, so an HTML page or a zip renamed ``.gpkg`` is refused)
and the file must be readable (:func:`biostress.sources.vector_files.read_vector` for vector formats,
rasterio for GeoTIFF). A refused file is deleted. Accepted: GeoPackage, GeoJSON, FlatGeobuf,
GeoParquet, CSV with coordinates (give ``crs``) and GeoTIFF.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import InputDataError

__all__ = ["ALLOWED_EXTENSIONS", "DEFAULT_MAX_BYTES", "TooLarge", "UploadStore"]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
ALLOWED_EXTENSIONS = {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".fgb": "fgb",
                      ".parquet": "parquet", ".geoparquet": "parquet", ".csv": "csv", ".tif": "gtiff",
                      ".tiff": "gtiff"}
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class TooLarge(InputDataError):
    """The upload is larger than the limit (HTTP 413)."""


def safe_name(name: Any) -> tuple[str, str]:
    """``(stored file name, format)`` for a user-given file name: base name only, characters outside
    ``A-Za-z0-9._-`` replaced, extension from :data:`ALLOWED_EXTENSIONS`."""
    if not isinstance(name, str) or not name.strip():
        raise InputDataError("Give the file name: POST /api/uploads?name=trees.gpkg.")
    base = re.split(r"[\\/]", name.strip())[-1]
    base = _SAFE.sub("_", base).lstrip(".")[:120]
    ext = Path(base).suffix.lower()
    if ext not in ALLOWED_EXTENSIONS or not Path(base).stem:
        raise InputDataError(f"Files of type {ext or '(none)'} are not accepted.",
                             hint="Send " + ", ".join(sorted(ALLOWED_EXTENSIONS)) + ".")
    return base, ALLOWED_EXTENSIONS[ext]


class UploadStore:
    """Uploaded files of one municipality (see the module docstring)."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()

    def begin(self, municipality: str, name: str) -> tuple[Path, str]:
        """A fresh path for the upload ``name`` of ``municipality`` and the expected format."""
        base, fmt = safe_name(name)
        d = self.root / re.sub(r"[^A-Za-z0-9_-]", "_", municipality)
        d.mkdir(parents=True, exist_ok=True)
        uid = secrets.token_hex(8)
        return d / f"{uid}_{base}", fmt

    def check(self, path: Path, fmt: str, *, crs: str | None, user: str, original: str) -> dict[str, Any]:
        """Check the stored file (format by content, readable, CRS); delete it and raise on failure."""
        from ..sources.safe import check_format

        try:
            found = check_format(path, fmt)
            info: dict[str, Any] = {"format": found}
            if found == "gtiff":
                import rasterio

                try:
                    with rasterio.open(path, driver="GTiff") as src:
                        if src.crs is None:
                            raise InputDataError(f"{original} has no coordinate system.",
                                                 hint="Export the raster with its CRS (e.g. EPSG:28992).")
                        info.update({"bands": src.count, "width": src.width, "height": src.height,
                                     "crs": src.crs.to_string(), "bounds": list(src.bounds)})
                except rasterio.errors.RasterioError as e:
                    raise InputDataError(f"{original} is not a readable GeoTIFF ({e}).") from None
            else:
                from ..sources.vector_files import read_vector

                gdf = read_vector(path, fmt=found, crs=crs)
                info.update({"features": int(len(gdf)), "crs": gdf.crs.to_string() if gdf.crs else None,
                             "geometry_types": sorted({str(t) for t in gdf.geom_type.dropna().unique()}),
                             "columns": [str(c) for c in gdf.columns if c != gdf.geometry.name][:100],
                             "bounds": [float(v) for v in gdf.total_bounds] if len(gdf) else None})
        except InputDataError as e:  # name the file as the user called it, not where it is stored
            with contextlib.suppress(OSError):
                path.unlink()
            raise InputDataError(e.message.replace(str(path), original).replace(path.name, original),
                                 hint=e.hint) from None
        except Exception:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        meta = {"id": path.name.split("_", 1)[0], "name": original, "stored_as": path.name,
                "bytes": path.stat().st_size, "sha256": h.hexdigest(), "uploaded_by": user,
                "uploaded": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **info}
        md = path.parent / "meta"
        md.mkdir(exist_ok=True)
        (md / f"{meta['id']}.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return meta

    def list(self, municipality: str) -> list[dict[str, Any]]:
        d = self.root / re.sub(r"[^A-Za-z0-9_-]", "_", municipality)
        out = []
        for p in sorted((d / "meta").glob("*.json")) if (d / "meta").is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                out.append(json.loads(p.read_text(encoding="utf-8")))
        return out
