"""Local vector files: GeoPackage, GeoJSON, Shapefile, FlatGeobuf, GeoParquet and CSV with coordinates.

Every reader goes through :func:`biostress.sources.safe.check_format` (content must match the
declared format; the GDAL driver is named explicitly) and then through the same checks:

* CRS: a file without CRS needs ``crs:`` in the configuration; a declared CRS that contradicts the
  file's is refused; coordinates that cannot be in the stated CRS (RD metres labelled WGS84
  degrees) are refused.
* Geometry: empty geometries are dropped and counted; invalid ones are repaired with
  ``shapely.make_valid`` and counted; parts of the wrong dimension are dropped and counted.
* Columns: :func:`require_columns` names the file, the missing columns and the ones present.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from ..errors import InputDataError
from .safe import DRIVERS, check_format

POLYGONAL = ("Polygon", "MultiPolygon")


def read_vector(
    path: Path,
    *,
    fmt: str | None = None,
    layer: str | None = None,
    crs: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector file into a GeoDataFrame (CRS checked, not yet reprojected)."""
    found = check_format(path, fmt)
    if found == "csv":
        return read_csv_points(path, x_column=x_column, y_column=y_column, crs=crs)
    try:
        if found == "parquet":
            gdf = gpd.read_parquet(path)
        elif found in ("gpkg", "geojson", "shp", "fgb"):
            if found == "gpkg" and layer is None:
                layers = pyogrio.list_layers(path)
                spatial = [str(n) for n, g in layers if g is not None]
                if len(spatial) > 1:
                    raise InputDataError(
                        f"{path} holds several layers: {spatial}.",
                        hint="Say which one with 'layer:' in the source.",
                    )
            # The driver is fixed by the sniffed format. pyogrio cannot restrict GDAL's drivers, so
            # check which driver GDAL chose before any feature is read, and refuse a mismatch.
            info = pyogrio.read_info(path, layer=layer)
            if info.get("driver") != DRIVERS[found]:
                raise InputDataError(
                    f"{path}: GDAL would read this {found} file with the {info.get('driver')} driver.",
                    hint=f"Export the data as a clean {found} file.",
                )
            gdf = pyogrio.read_dataframe(path, layer=layer, on_invalid="ignore")
        else:
            raise InputDataError(
                f"{path} is a {found} file, which is not a vector format biostress reads here."
            )
    except InputDataError:
        raise
    except Exception as e:  # noqa: BLE001 - GDAL/pyarrow errors become data errors naming the file
        raise InputDataError(
            f"Cannot read {path}: {e}", hint="The file may be corrupt or truncated; export it again."
        ) from e
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputDataError(f"{path} has no geometry column.")
    return _check_crs(gdf, path, crs)


def read_csv_points(
    path: Path, *, x_column: str | None, y_column: str | None, crs: str | None
) -> gpd.GeoDataFrame:
    """CSV with coordinate columns -> points. ``crs`` is required (a CSV carries none)."""
    if not crs:
        raise InputDataError(
            f"{path} is a CSV file and carries no CRS.",
            hint="Add 'crs:' to the source, e.g. EPSG:28992 for RD New or EPSG:4326 for lon/lat.",
        )
    try:
        df = pd.read_csv(path, sep=None, engine="python")
    except Exception as e:  # noqa: BLE001
        raise InputDataError(f"Cannot read {path} as CSV: {e}") from e
    xc = x_column or _guess(df, ("x", "x_rd", "xcoord", "lon", "longitude", "decimalLongitude"))
    yc = y_column or _guess(df, ("y", "y_rd", "ycoord", "lat", "latitude", "decimalLatitude"))
    if xc is None or yc is None:
        raise InputDataError(
            f"{path}: no coordinate columns found (columns: {list(df.columns)}).",
            hint="Name them with 'x_column:' and 'y_column:' in the source.",
        )
    require_columns(df, [xc, yc], path)
    x = pd.to_numeric(df[xc], errors="coerce")
    y = pd.to_numeric(df[yc], errors="coerce")
    bad = x.isna() | y.isna()
    if bad.all():
        raise InputDataError(f"{path}: the columns {xc}/{yc} hold no numbers.")
    df = df.loc[~bad].copy()
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(x[~bad], y[~bad]), crs=crs)
    gdf.attrs["dropped_rows"] = int(bad.sum())
    return _check_crs(gdf, path, None)


def _guess(df: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    low = {c.lower(): c for c in df.columns}
    for n in names:
        if n.lower() in low:
            return low[n.lower()]
    return None


def _check_crs(gdf: gpd.GeoDataFrame, path: Path, declared: str | None) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        if not declared:
            raise InputDataError(
                f"{path} has no coordinate reference system (CRS).",
                hint="Add 'crs:' to the source (e.g. EPSG:28992), or fix the file (a Shapefile needs its .prj).",
            )
        gdf = gdf.set_crs(declared)
    elif declared and not CRS.from_user_input(declared).equals(gdf.crs, ignore_axis_order=True):
        raise InputDataError(
            f"{path} says its CRS is {gdf.crs.to_string()}, but the configuration says {declared}.",
            hint="Remove 'crs:' from the source, or fix the file's CRS.",
        )
    check_coordinates_fit_crs(gdf, path)
    return gdf


def check_coordinates_fit_crs(gdf: gpd.GeoDataFrame, path: Path | str) -> None:
    """Refuse coordinates that cannot be in the stated CRS (e.g. RD metres labelled WGS84)."""
    if gdf.empty:
        return
    b = gdf.total_bounds
    if not np.all(np.isfinite(b)):
        return
    c = CRS.from_user_input(gdf.crs)
    if c.is_geographic:
        if b[0] < -180.5 or b[2] > 180.5 or b[1] < -90.5 or b[3] > 90.5:
            raise InputDataError(
                f"{path} says its coordinates are in {c.name} (degrees), but they range over "
                f"x {b[0]:.0f}..{b[2]:.0f}, y {b[1]:.0f}..{b[3]:.0f}: these look like projected metres (e.g. RD New).",
                hint="Set the right CRS on the file (EPSG:28992 for Dutch RD coordinates) or declare it with 'crs:'.",
            )
        return
    aou = c.area_of_use
    if aou is not None:
        try:
            geo = (
                gdf.geometry.iloc[: min(len(gdf), 500)]
                .to_crs(
                    "EPSG:4326",
                )
                .total_bounds
            )
        except Exception:  # noqa: BLE001 - projection failure itself means the CRS is wrong
            geo = np.array([np.inf] * 4)
        slack = 2.0
        if (
            not np.all(np.isfinite(geo))
            or geo[2] < aou.west - slack
            or geo[0] > aou.east + slack
            or geo[3] < aou.south - slack
            or geo[1] > aou.north + slack
        ):
            raise InputDataError(
                f"{path}: its coordinates (x {b[0]:.4g}..{b[2]:.4g}, y {b[1]:.4g}..{b[3]:.4g}) lie outside the area where "
                f"its CRS {c.to_string()} ({c.name}) is used. The CRS label is probably wrong.",
                hint="Check the file's CRS (lon/lat data is EPSG:4326; Dutch RD coordinates are EPSG:28992).",
            )


def clean_geometries(
    gdf: gpd.GeoDataFrame, path: Path | str, *, want: str | None = None, notes: list[str] | None = None
) -> gpd.GeoDataFrame:
    """Drop empty/missing geometries, repair invalid ones, keep only the wanted dimension.

    ``want`` is 'polygon', 'line', 'point' or None (keep everything). Every change is counted into
    ``notes`` so it appears in the run's warnings. If nothing usable is left an error is raised.
    """
    notes = notes if notes is not None else []
    geom = gdf.geometry.values
    empty = shapely.is_missing(geom) | shapely.is_empty(geom)
    if empty.any():
        notes.append(f"{path}: dropped {int(empty.sum())} feature(s) with empty or missing geometry")
        gdf = gdf.loc[~empty]
        geom = gdf.geometry.values
    invalid = ~shapely.is_valid(geom)
    if invalid.any():
        reasons = (
            pd.Series(shapely.is_valid_reason(geom[invalid]))
            .str.replace(r"\[.*", "", regex=True)
            .value_counts()
        )
        notes.append(
            f"{path}: repaired {int(invalid.sum())} invalid geometr(y/ies) ({', '.join(f'{k}: {v}' for k, v in reasons.items())})"
        )
        geom = geom.copy()
        geom[invalid] = shapely.make_valid(geom[invalid])
        gdf = gdf.set_geometry(gpd.GeoSeries(geom, index=gdf.index, crs=gdf.crs))
    if want is not None:
        dim = {"point": 0, "line": 1, "polygon": 2}[want]
        geom = gdf.geometry.values
        kept = _keep_dimension(geom, dim)
        lost = shapely.is_empty(kept) | shapely.is_missing(kept)
        changed = int((shapely.get_type_id(geom) != shapely.get_type_id(kept)).sum()) - int(lost.sum())
        if lost.any():
            types = pd.Series(shapely.get_type_id(geom[lost])).map(_TYPE_NAMES).value_counts()
            notes.append(
                f"{path}: dropped {int(lost.sum())} feature(s) that are not {want}s "
                f"({', '.join(f'{k}: {v}' for k, v in types.items())})"
            )
        if changed > 0:
            notes.append(f"{path}: kept only the {want} parts of {changed} mixed geometr(y/ies)")
        gdf = gdf.set_geometry(gpd.GeoSeries(kept, index=gdf.index, crs=gdf.crs)).loc[~lost]
    if gdf.empty:
        raise InputDataError(
            f"{path} has no usable {want or ''} features left after removing empty/unusable geometries.".replace(
                "  ", " "
            ),
            hint="Check that the right file and layer are configured.",
        )
    return gdf


_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def _keep_dimension(geom: np.ndarray, dim: int) -> np.ndarray:
    """Keep only parts of dimension ``dim`` (0, 1, 2) of each geometry; others become empty."""
    out = geom.copy()
    tid = shapely.get_type_id(geom)
    dims = shapely.get_dimensions(geom)
    coll = tid == 7
    out[~coll & (dims != dim)] = None
    if coll.any():
        for i in np.flatnonzero(coll):
            parts = [p for p in shapely.get_parts(geom[i]) if shapely.get_dimensions(p) == dim]
            out[i] = shapely.union_all(parts) if parts else None
    return out


def require_columns(df: pd.DataFrame, columns: list[str], path: Path | str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        have = [c for c in df.columns if c != "geometry"]
        raise InputDataError(
            f"{path} lacks the column(s) {missing}. Columns present: {have}.",
            hint="Rename the columns in the file, or name the right ones in the source configuration.",
        )
