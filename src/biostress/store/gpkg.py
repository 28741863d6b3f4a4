"""GeoPackage output: vector layers and attribute tables, with QGIS default styles.

Layers are written with pyogrio (driver ``GPKG``). A QML style given with a layer is stored in
the ``layer_styles`` table exactly as QGIS creates it when you "Save as default" in a
GeoPackage (QGIS ``QgsOgrUtils::saveStyle``: an OGR attribute table with FID column ``id`` and
the columns below, registered in ``gpkg_contents`` with ``data_type = 'attributes'``). QGIS
looks a layer's default style up by ``f_table_schema = ''``, ``f_table_name = <layer>``,
``f_geometry_column = <geometry column>`` and ``useAsDefault = 1``, so a layer opened in QGIS
comes up already styled.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from ..errors import InputDataError

__all__ = [
    "LAYER_STYLES",
    "LAYER_STYLES_COLUMNS",
    "default_style",
    "list_layers",
    "read_layer",
    "write_layer",
    "write_table",
]

LAYER_STYLES = "layer_styles"

#: Columns of ``layer_styles`` in the order QGIS creates them (after the FID column ``id``).
LAYER_STYLES_COLUMNS = (
    "id",
    "f_table_catalog",
    "f_table_schema",
    "f_table_name",
    "f_geometry_column",
    "styleName",
    "styleQML",
    "styleSLD",
    "useAsDefault",
    "description",
    "owner",
    "ui",
    "update_time",
)

# What GDAL's GPKG driver emits for the OGR fields QGIS defines: OFTString width 256/30 ->
# TEXT(n), OFTInteger/OFSTBoolean -> BOOLEAN, OFTDateTime default CURRENT_TIMESTAMP ->
# DATETIME DEFAULT (strftime(...)), FID "id" -> INTEGER PRIMARY KEY AUTOINCREMENT.
_CREATE_LAYER_STYLES = """CREATE TABLE "layer_styles" (
  "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  "f_table_catalog" TEXT(256),
  "f_table_schema" TEXT(256),
  "f_table_name" TEXT(256),
  "f_geometry_column" TEXT(256),
  "styleName" TEXT(30),
  "styleQML" TEXT,
  "styleSLD" TEXT,
  "useAsDefault" BOOLEAN,
  "description" TEXT,
  "owner" TEXT(30),
  "ui" TEXT(30),
  "update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
)"""

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
_RESERVED_PREFIXES = ("gpkg_", "rtree_", "sqlite_")


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"Invalid {what} name {name!r}.")
    if name.lower() == LAYER_STYLES or name.lower().startswith(_RESERVED_PREFIXES):
        raise ValueError(f"{what.capitalize()} name {name!r} is reserved in a GeoPackage.")


@contextlib.contextmanager
def _connect(gpkg: Path) -> Iterator[sqlite3.Connection]:
    """A sqlite3 connection that commits on success, rolls back on error and always closes."""
    con = sqlite3.connect(str(gpkg))
    try:
        with con:
            yield con
    finally:
        con.close()


def _table_exists(con: sqlite3.Connection, name: str) -> bool:
    row = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND lower(name) = lower(?)", (name,)
    ).fetchone()
    return row is not None


def _ensure_layer_styles(con: sqlite3.Connection) -> None:
    """Create ``layer_styles`` and register it as an attributes table, as QGIS/OGR would."""
    if _table_exists(con, LAYER_STYLES):
        return
    con.execute(_CREATE_LAYER_STYLES)
    con.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, srs_id) "
        f"VALUES (?, 'attributes', ?, '', {_NOW}, 0)",
        (LAYER_STYLES, LAYER_STYLES),
    )


def _update_feature_count(con: sqlite3.Connection) -> None:
    """Keep GDAL's cached feature count (``gpkg_ogr_contents``) of ``layer_styles`` right."""
    if _table_exists(con, "gpkg_ogr_contents"):
        con.execute(
            "INSERT OR REPLACE INTO gpkg_ogr_contents (table_name, feature_count) "
            'VALUES (?, (SELECT COUNT(*) FROM "layer_styles"))',
            (LAYER_STYLES,),
        )


def _geometry_column(con: sqlite3.Connection, layer: str) -> str:
    row = con.execute(
        "SELECT column_name FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)", (layer,)
    ).fetchone()
    if row is None:
        raise InputDataError(f"Layer {layer!r} has no geometry column in the GeoPackage.")
    return str(row[0])


def _set_default_style(gpkg: Path, layer: str, qml: str | None, description: str) -> None:
    with _connect(gpkg) as con:
        has_table = _table_exists(con, LAYER_STYLES)
        if qml is None and not has_table:
            return
        _ensure_layer_styles(con)
        # a replaced layer must not keep the style of its predecessor
        con.execute('DELETE FROM "layer_styles" WHERE f_table_name = ?', (layer,))
        if qml is not None:
            geom = _geometry_column(con, layer)
            con.execute(
                'INSERT INTO "layer_styles" (f_table_catalog, f_table_schema, f_table_name, '
                "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner, ui) "
                "VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', NULL)",
                (layer, geom, layer, qml, description or layer),
            )
        _update_feature_count(con)
        con.execute(
            f"UPDATE gpkg_contents SET last_change = {_NOW} WHERE table_name = ?", (LAYER_STYLES,)
        )


def write_layer(
    gpkg: Path | str,
    layer: str,
    gdf: gpd.GeoDataFrame,
    *,
    qml: str | None = None,
    description: str = "",
) -> Path:
    """Write ``gdf`` as vector layer ``layer`` of ``gpkg`` (created if missing), replacing a layer
    of that name, and store ``qml`` as its QGIS default style. Returns the GeoPackage path."""
    gpkg = Path(gpkg)
    _check_name(layer, "layer")
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputDataError(f"Layer {layer!r}: a GeoDataFrame with a geometry column is needed.")
    if gdf.crs is None:
        raise InputDataError(f"Layer {layer!r} has no CRS; set one before writing.")
    try:
        pyogrio.write_dataframe(
            gdf,
            gpkg,
            layer=layer,
            driver="GPKG",
            layer_options={"DESCRIPTION": description, "IDENTIFIER": layer},
        )
    except Exception as exc:  # pyogrio/GDAL errors: report the file and layer
        raise InputDataError(f"Could not write layer {layer!r} to {gpkg}: {exc}") from exc
    _set_default_style(gpkg, layer, qml, description)
    return gpkg


def write_table(gpkg: Path | str, name: str, df: pd.DataFrame, *, description: str = "") -> Path:
    """Write ``df`` as a non-spatial (``attributes``) table ``name`` of ``gpkg``, replacing it."""
    gpkg = Path(gpkg)
    _check_name(name, "table")
    if isinstance(df, gpd.GeoDataFrame):
        raise ValueError(f"Table {name!r} is a GeoDataFrame; use write_layer for spatial data.")
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"Table {name!r} must be a pandas DataFrame, got {type(df).__name__}.")
    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        df = df.reset_index()
    try:
        pyogrio.write_dataframe(
            df,
            gpkg,
            layer=name,
            driver="GPKG",
            layer_options={"DESCRIPTION": description, "IDENTIFIER": name},
        )
    except Exception as exc:
        raise InputDataError(f"Could not write table {name!r} to {gpkg}: {exc}") from exc
    _set_default_style(gpkg, name, None, description)
    return gpkg


def read_layer(gpkg: Path | str, layer: str) -> gpd.GeoDataFrame:
    """Read layer (or attribute table) ``layer`` of ``gpkg``."""
    gpkg = Path(gpkg)
    if not gpkg.is_file():
        raise InputDataError(f"GeoPackage {gpkg} does not exist.")
    if layer not in list_layers(gpkg, include_styles=True):
        raise InputDataError(f"GeoPackage {gpkg} has no layer {layer!r}.")
    return pyogrio.read_dataframe(gpkg, layer=layer)


def list_layers(gpkg: Path | str, *, include_styles: bool = False) -> list[str]:
    """Names of the layers and attribute tables in ``gpkg`` (without ``layer_styles`` unless
    ``include_styles``)."""
    gpkg = Path(gpkg)
    if not gpkg.is_file():
        raise InputDataError(f"GeoPackage {gpkg} does not exist.")
    names = [str(n) for n, _ in pyogrio.list_layers(gpkg)]
    return [n for n in names if include_styles or n != LAYER_STYLES]


def default_style(gpkg: Path | str, layer: str) -> str | None:
    """The QML of ``layer``'s default style in ``layer_styles``, or ``None``."""
    gpkg = Path(gpkg)
    if not gpkg.is_file():
        raise InputDataError(f"GeoPackage {gpkg} does not exist.")
    with _connect(gpkg) as con:
        if not _table_exists(con, LAYER_STYLES):
            return None
        row = con.execute(
            'SELECT styleQML FROM "layer_styles" WHERE f_table_schema = \'\' AND f_table_name = ? '
            "AND useAsDefault = 1 ORDER BY update_time DESC, id DESC LIMIT 1",
            (layer,),
        ).fetchone()
    return None if row is None else str(row[0])
