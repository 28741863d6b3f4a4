"""The default store: one self-describing run folder per run, replaced atomically.

A run folder holds Cloud-Optimised GeoTIFFs (with QGIS ``.qml`` sidecars), one GeoPackage with
the vector layers and tables (with QGIS default styles in ``layer_styles``), side files (CSV,
JSON) and ``manifest.json`` listing every file with its checksum, the inputs, parameters,
timings and software versions. See :class:`RunFolder`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from . import qml
from .cog import write_cog
from .gpkg import default_style, list_layers, read_layer, write_layer, write_table
from .runfolder import MANIFEST_NAME, RunFolder, software_versions

__all__ = [
    "MANIFEST_NAME",
    "RunFolder",
    "default_style",
    "list_layers",
    "qml",
    "read_layer",
    "sha256_file",
    "software_versions",
    "write_cog",
    "write_layer",
    "write_table",
]


def sha256_file(path: Path | str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of the file at ``path``, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()
