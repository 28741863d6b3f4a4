"""Everything the web tool reads from a run folder, read once when the server starts.

:class:`RunState` holds the manifest, the grid, the layer catalogue (:mod:`biostress.web.layers`),
one open :class:`~biostress.web.tiles.RasterSource` per raster layer, the area units per level (in the
run's CRS and as WGS84 GeoJSON features), the measures catalogue, the stress classes and the list of
downloadable files. Requests then only read raster windows; nothing scans folders per request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS, Transformer

from ..errors import InputDataError
from ..grid import Grid
from .layers import Layer, build_layers
from .tiles import RasterSource, VectorTiles, transformer

__all__ = ["LEVELS", "OBJECT_LAYERS", "Download", "ObjectLayer", "RunState", "load_objects", "load_state"]

log = logging.getLogger(__name__)

LEVELS = ("gemeente", "wijk", "buurt")
WGS84 = "EPSG:4326"
#: report-folder files that may be downloaded (by extension)
REPORT_EXTENSIONS = {".pdf", ".html", ".htm", ".xlsx", ".csv", ".gpkg", ".png", ".svg", ".json", ".zip", ".md"}
#: unit columns sent with vector tiles (besides these, every ``*_mean``/``_sum``/``_max``/``_min`` column)
UNIT_BASE_COLUMNS = ("code", "name", "level", "parent_code", "area_m2", "green_share", "impervious_share",
                     "stress_class", "dominant_class")
#: the report's file of streets and managed objects (biostress.report._write_aggregates) and its layers served
AGGREGATES_FILE = "aggregates.gpkg"
OBJECT_LAYERS = ("street_segments", "verges", "parks", "woods")
#: no tiles below these zooms (a z14 tile of a whole city's street buffers is ~250 kB; the app draws streets and
#: verges from zoom 15.5, parks and woods from 14)
OBJECT_MIN_ZOOM = {"street_segments": 15, "verges": 15, "parks": 14, "woods": 14}
#: object columns sent with vector tiles (besides these, every ``*_mean`` column)
OBJECT_BASE_COLUMNS = ("id", "class", "length_m", "area_m2")


@dataclass
class Download:
    name: str  # as in the URL /downloads/{name}
    path: Path
    kind: str
    description: str
    bytes: int


def _jsonable(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        return v
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _geojson_geometry(geom: Any, precision: int = 7) -> dict | None:
    if geom is None or geom.is_empty:
        return None
    return json.loads(shapely.to_geojson(shapely.set_precision(geom, 10 ** -precision)))


@dataclass
class Units:
    """The area units of one level: in the run's CRS, as WGS84 GeoJSON features, with an STR-tree each."""

    level: str
    frame: gpd.GeoDataFrame  # run CRS
    features: list[dict]  # WGS84 GeoJSON features (id = code)
    bounds_wgs84: np.ndarray  # (n, 4)
    tree_wgs84: shapely.STRtree
    tree: shapely.STRtree  # run CRS
    _tiles: VectorTiles | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tiles(self) -> VectorTiles:
        with self._lock:
            if self._tiles is None:
                cols = [c for c in self.frame.columns if c != "geometry" and (
                    c in UNIT_BASE_COLUMNS or c.endswith(("_mean", "_sum", "_max", "_min")))]
                props = self.frame[cols].to_dict("records")
                self._tiles = VectorTiles(self.level, self.frame.geometry.values, props, self.frame.crs)
            return self._tiles

    _cells: Any = None  # (grid, index per cell or -1, sure per cell): see index_cells

    def at(self, x: float, y: float) -> int | None:
        """Index of the unit holding point ``(x, y)`` (run CRS), or None: read from :meth:`index_cells`' raster
        where the point's cell is sure, else found with the STR-tree (the lowest index where units overlap)."""
        got = self._cells
        if got is not None:
            g, index, sure = got
            col = math.floor((x - g.x0) / g.cell)
            row = math.floor((g.y1 - y) / g.cell)
            if 0 <= row < g.height and 0 <= col < g.width and sure[row, col]:
                i = int(index[row, col])
                return None if i < 0 else i
        idx = self.tree.query(shapely.Point(x, y), predicate="intersects")
        return int(idx.min()) if idx.size else None

    def index_cells(self, grid: Grid, max_cells: int = 20_000_000) -> None:
        """Rasterise the units on ``grid`` (the unit whose polygon holds each cell centre, -1 for none) and mark
        the cells that are *sure*: the same single unit (or none) at the centres of the cell and its eight
        neighbours, so no unit boundary can cross the cell (units are far larger than a cell); cells on the
        grid's edge are never sure. :meth:`at`
        answers points in sure cells from the raster. Skipped above ``max_cells`` cells (memory)."""
        from rasterio.enums import MergeAlg
        from rasterio.features import rasterize
        from scipy import ndimage

        if grid.height * grid.width > max_cells or len(self.frame) >= 2**31 - 1:
            return
        shape, transform = (grid.height, grid.width), grid.transform
        geoms = list(self.frame.geometry.values)
        index = rasterize(((geom, i) for i, geom in enumerate(geoms) if geom is not None and not geom.is_empty),
                          out_shape=shape, transform=transform, fill=-1, dtype="int32")
        count = rasterize(((geom, 1) for geom in geoms if geom is not None and not geom.is_empty),
                          out_shape=shape, transform=transform, fill=0, dtype="uint8",
                          merge_alg=MergeAlg.add)
        same = ndimage.minimum_filter(index, 3, mode="nearest") == ndimage.maximum_filter(index, 3, mode="nearest")
        single = ndimage.maximum_filter(count, 3, mode="nearest") <= 1
        sure = same & single
        sure[0, :] = sure[-1, :] = sure[:, 0] = sure[:, -1] = False  # units beyond the grid's edge are unseen
        self._cells = (grid, index, sure)


def _read_units(gpkg: Path, layer: str, grid_crs: str, level: str) -> Units:
    from ..stresstest import classify

    gdf = gpd.read_file(gpkg, layer=layer)
    if gdf.crs is None:
        gdf = gdf.set_crs(grid_crs)
    gdf = gdf.to_crs(grid_crs)
    if "code" not in gdf.columns:
        gdf["code"] = [f"{level}_{i}" for i in range(len(gdf))]
    gdf["code"] = gdf["code"].astype(str)
    if "stress_class" not in gdf.columns and "stress_score_mean" in gdf.columns:
        with contextlib.suppress(Exception):  # a unit class is a convenience, not essential
            gdf["stress_class"] = classify(gdf["stress_score_mean"].clip(0, 1))
    w = gdf.to_crs(WGS84)
    props = gdf.drop(columns="geometry")
    features = []
    for rec, geom in zip(props.to_dict("records"), w.geometry.values, strict=True):
        p = {k: _jsonable(v) for k, v in rec.items()}
        p.setdefault("level", level)
        features.append({"type": "Feature", "id": str(rec["code"]), "geometry": _geojson_geometry(geom),
                         "properties": p})
    geoms_w = np.asarray(w.geometry.values, dtype=object)
    return Units(level, gdf, features, shapely.bounds(geoms_w), shapely.STRtree(geoms_w),
                 shapely.STRtree(np.asarray(gdf.geometry.values, dtype=object)))


@dataclass
class ObjectLayer:
    """Street segments or one kind of managed object (verges, parks, woods) of ``aggregates.gpkg``, in the run's
    CRS, served as vector tiles from ``min_zoom`` up (properties: :data:`OBJECT_BASE_COLUMNS` and the ``*_mean``
    columns; the ``line`` WKT and bookkeeping columns are left out to keep tiles small)."""

    name: str
    frame: gpd.GeoDataFrame  # run CRS, valid polygons
    columns: list[str]  # the *_mean columns
    min_zoom: int
    _tiles: VectorTiles | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def count(self) -> int:
        return len(self.frame)

    def tiles(self) -> VectorTiles:
        with self._lock:
            if self._tiles is None:  # built at the first tile (reprojection and STR-tree: ~0.4 s for 15,000)
                cols = [c for c in self.frame.columns if c != "geometry"]
                props = self.frame[cols].to_dict("records")
                merc = self.frame.geometry.to_crs("EPSG:3857").values
                self._tiles = VectorTiles(self.name, [_valid(g) for g in merc], props, "EPSG:3857")
            return self._tiles

    def render(self, z: int, x: int, y: int) -> bytes:
        """MVT bytes of tile ``z/x/y``; b"" (answered 204) below :attr:`min_zoom` or without features."""
        if z < self.min_zoom:
            return b""
        return self.tiles().render(z, x, y)

    def info(self) -> dict[str, Any]:
        from .texts import OBJECTS

        t = OBJECTS.get(self.name) or {"title": (self.name, self.name)}
        return {"name": self.name, "title": {"nl": t["title"][0], "en": t["title"][1]}, "count": self.count,
                "columns": list(self.columns), "min_zoom": self.min_zoom,
                "tiles": f"/tiles/vector/{self.name}/{{z}}/{{x}}/{{y}}.pbf"}


def _valid(geom: Any) -> Any:
    """``geom`` made valid (a buffer of 0 where GEOS cannot repair it)."""
    if geom is None or geom.is_valid:
        return geom
    try:
        return shapely.make_valid(geom)
    except shapely.errors.GEOSException:
        return geom.buffer(0)


def _polygonal(geom: Any, min_area: float = 1e-4) -> Any:
    """``geom`` made valid and reduced to its polygons of more than ``min_area`` (the slivers that buffering and
    differencing leave behind collapse on reprojection); None when nothing is left."""
    if geom is None or geom.is_empty:
        return None
    polys = [g for g in shapely.get_parts(_valid(geom)) if g.geom_type == "Polygon" and g.area > min_area]
    if not polys:
        return None
    return _valid(shapely.multipolygons(polys)) if len(polys) > 1 else polys[0]


def load_objects(path: Path, grid_crs: str) -> dict[str, ObjectLayer]:
    """The layers :data:`OBJECT_LAYERS` of ``aggregates.gpkg`` at ``path`` (missing or empty layers skipped),
    reprojected to ``grid_crs``, invalid geometries made valid."""
    out: dict[str, ObjectLayer] = {}
    try:
        names = {str(n) for n, _ in pyogrio.list_layers(path)}
    except Exception as e:  # noqa: BLE001 - an unreadable report file must not stop the server
        log.warning("%s is not readable (%s): no streets or managed objects", path, e)
        return out
    for name in OBJECT_LAYERS:
        if name not in names:
            continue
        try:
            fields = [str(f) for f in pyogrio.read_info(path, layer=name)["fields"]]
            cols = [c for c in fields if c in OBJECT_BASE_COLUMNS or c.endswith("_mean")]
            gdf = gpd.read_file(path, layer=name, columns=cols)
        except Exception as e:  # noqa: BLE001
            log.warning("layer %s of %s is not readable (%s): skipped", name, path, e)
            continue
        if gdf.crs is None:
            gdf = gdf.set_crs(grid_crs)
        gdf = gdf.to_crs(grid_crs)
        geoms = np.array([_polygonal(g) for g in gdf.geometry.values], dtype=object)
        keep = np.array([g is not None for g in geoms], dtype=bool)
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))[keep].reset_index(drop=True)
        if not len(gdf):
            continue
        gdf = gdf[[c for c in cols if c in gdf.columns] + ["geometry"]]
        out[name] = ObjectLayer(name, gdf, [c for c in cols if c.endswith("_mean")], OBJECT_MIN_ZOOM.get(name, 14))
    return out


def _aggregates_path(run_dir: Path, report_dir: Path | None) -> Path | None:
    for d in (report_dir, run_dir):
        if d is not None and (d / AGGREGATES_FILE).is_file():
            return d / AGGREGATES_FILE
    return None


@dataclass
class RunState:
    run_dir: Path
    manifest: dict
    grid: Grid
    name: str
    code: str | None  # the municipality whose editors may write
    created: str | None
    legend_rows: list[dict]
    classes: list[Any]
    catalogue: Any
    params_dir: Path | None
    layers: dict[str, Layer]
    sources: dict[str, RasterSource]
    units: dict[str, Units]
    vectors: dict[str, VectorTiles | ObjectLayer]
    downloads: dict[str, Download]
    report_dir: Path | None
    inputs: list[dict[str, str]]
    bounds_wgs84: tuple[float, float, float, float]
    stack: Any = None  # cellcache.LayerStack of the raster layers, when cached (attach_stack)
    objects: dict[str, ObjectLayer] = field(default_factory=dict)  # streets and managed objects (aggregates.gpkg)
    parcels: Any = None  # GeoDataFrame parcel_id, area_m2 (run CRS) of a parcels source (biostress.sources.parcels)
    _report_scan: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def attribution(self) -> str:
        seen: list[str] = []
        for i in self.inputs:
            a = i.get("attribution") or ""
            if not a:
                continue
            t = f"{a} ({i['licence']})" if i.get("licence") else a
            if t not in seen:
                seen.append(t)
        return " · ".join(seen)

    def transformer(self, src: str, dst: str) -> Transformer:
        return transformer(src, dst)

    def to_grid(self, x: float, y: float, crs: str) -> tuple[float, float]:
        """A point in ``crs`` (EPSG:4326 lon/lat, EPSG:28992 or the run's CRS) in the run's CRS."""
        if not (math.isfinite(x) and math.isfinite(y)):
            raise InputDataError("The coordinates must be finite numbers.")
        if CRS.from_user_input(crs) == CRS.from_user_input(self.grid.crs):
            return float(x), float(y)
        gx, gy = self.transformer(crs, self.grid.crs).transform(x, y)
        if not (math.isfinite(gx) and math.isfinite(gy)):
            raise InputDataError(f"The point ({x}, {y}) in {crs} cannot be placed on the map.",
                                 hint="Give longitude, latitude (EPSG:4326) or RD New metres (EPSG:28992).")
        return float(gx), float(gy)

    def to_wgs84(self, x: float, y: float) -> tuple[float, float]:
        lon, lat = self.transformer(self.grid.crs, WGS84).transform(x, y)
        return float(lon), float(lat)

    def cell_of(self, x: float, y: float) -> tuple[int, int] | None:
        """``(row, col)`` of the grid cell holding ``(x, y)`` (run CRS), or None outside the grid."""
        g = self.grid
        col = math.floor((x - g.x0) / g.cell)
        row = math.floor((g.y1 - y) / g.cell)
        if 0 <= row < g.height and 0 <= col < g.width:
            return row, col
        return None

    def bounds_to_wgs84(self, b: tuple[float, float, float, float]) -> list[float]:
        from rasterio.warp import transform_bounds

        return [float(v) for v in transform_bounds(self.grid.crs, WGS84, *b, densify_pts=21)]

    def attach_stack(self, cache_dir: Path, progress: Any = None) -> None:
        """Copy the raster layers into one memory-mapped array (:mod:`biostress.web.cellcache`) and read
        tiles, windows and cell values from it from now on."""
        from .cellcache import build_stack

        stack = build_stack(self.sources, self.grid, cache_dir, str(self.manifest.get("run_id") or ""), progress)
        for u in self.units.values():
            u.index_cells(self.grid)
        for lid in stack.ids:
            self.sources[lid].attach(stack.layer(lid), self.grid)
        self.stack = stack

    def refresh_report_downloads(self, min_interval_s: float = 10.0) -> None:
        """Re-list the report folder (at most every ``min_interval_s``; reports may be written later)."""
        if self.report_dir is None:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._report_scan < min_interval_s:
                return
            self._report_scan = now
            for k in [k for k in self.downloads if k.startswith("report/")]:
                del self.downloads[k]
            self.downloads.update(_report_downloads(self.report_dir))


#: titles of the files ``biostress report`` writes (``{lang}`` = the report's language), per UI language
_REPORT_TITLES: tuple[tuple[str, tuple[str, str]], ...] = (
    (r"report_(nl|en)\.pdf", ("Gemeenterapport, {lang} (PDF)", "Municipality report, {lang} (PDF)")),
    (r"report_(nl|en)\.html?", ("Gemeenterapport, {lang} (webpagina)", "Municipality report, {lang} (web page)")),
    (r"action_plan_(nl|en)\.pdf", ("Lokaal actieplan, {lang} (PDF)", "Local action plan, {lang} (PDF)")),
    (r"action_plan_(nl|en)\.html?", ("Lokaal actieplan, {lang} (webpagina)", "Local action plan, {lang} (web page)")),
    (r"action_plan\.xlsx", ("Actieplan als spreadsheet (Excel)", "Action plan as a spreadsheet (Excel)")),
    (r"action_plan\.csv", ("Actieplan als tabel (CSV)", "Action plan as a table (CSV)")),
    (r"action_plan\.gpkg", ("Actieplan op de kaart (GeoPackage voor QGIS)", "Action plan on the map (GeoPackage for QGIS)")),
    (r"aggregates\.gpkg", ("Straten, bermen, parken en bossen met hun gemiddelden, en de doelen per gebied "
                           "(GeoPackage)", "Streets, verges, parks and woods with their means, and the targets per "
                           "area (GeoPackage)")),
    (r"natura2000_(nl|en)\.pdf", ("Natura 2000-omgevingsrapport, {lang} (PDF)",
                                  "Natura 2000 surroundings report, {lang} (PDF)")),
    (r"natura2000_(nl|en)\.html?", ("Natura 2000-omgevingsrapport, {lang} (webpagina)",
                                    "Natura 2000 surroundings report, {lang} (web page)")),
    (r"manifest\.json", ("Wat het rapport gebruikte: bronnen, parameters (JSON)",
                         "What the report used: sources, parameters (JSON)")),
)
_LANG_NAMES = {"nl": ("Nederlands", "Dutch"), "en": ("Engels", "English")}


def download_title(name: str, lang: str) -> str | None:
    """A plain title of a report-folder file for the download list in ``lang`` ("nl" or "en"), or None.

    >>> download_title("report/report_nl.pdf", "en"), download_title("report/action_plan.xlsx", "nl")
    ('Municipality report, Dutch (PDF)', 'Actieplan als spreadsheet (Excel)')
    """
    li = 0 if lang == "nl" else 1
    base = name.rsplit("/", 1)[-1].lower()
    for pattern, titles in _REPORT_TITLES:
        m = re.fullmatch(pattern, base)
        if m:
            code = m.group(1) if m.groups() else None
            return titles[li].format(lang=_LANG_NAMES[code][li] if code else "")
    return None


def _report_downloads(report_dir: Path) -> dict[str, Download]:
    out: dict[str, Download] = {}
    if not report_dir.is_dir():
        return out
    root = report_dir.resolve()
    for p in sorted(root.rglob("*")):
        try:
            rel = p.relative_to(root)
        except ValueError:
            continue
        if len(rel.parts) > 2 or not p.is_file() or p.is_symlink() or p.suffix.lower() not in REPORT_EXTENSIONS:
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue
        real = p.resolve()
        if root not in real.parents:
            continue
        out[f"report/{rel.as_posix()}"] = Download(f"report/{rel.as_posix()}", real, p.suffix.lower().lstrip("."),
                                                   "Report / rapport", real.stat().st_size)
    return out


def _run_downloads(run_dir: Path, manifest: dict) -> dict[str, Download]:
    out: dict[str, Download] = {}
    root = run_dir.resolve()
    seen_gpkg = False
    for o in manifest.get("outputs", []):
        rel = str(o.get("path", ""))
        if not rel or rel.startswith("/") or ".." in Path(rel).parts:
            continue
        p = (root / rel).resolve()
        if root not in p.parents or not p.is_file():
            continue
        if rel == "biostress.gpkg":
            if seen_gpkg:
                continue
            seen_gpkg = True
            desc = "GeoPackage with the area units, context layers and tables"
            kind = "gpkg"
        else:
            kind = o.get("file_kind") or o.get("kind") or p.suffix.lstrip(".")
            if o.get("kind") == "raster":
                kind = "cog"
            desc = str(o.get("description") or "")
        out[rel] = Download(rel, p, str(kind), desc, p.stat().st_size)
    mp = root / "manifest.json"
    out["manifest.json"] = Download("manifest.json", mp, "json", "Run manifest: inputs, outputs, parameters, warnings",
                                    mp.stat().st_size)
    return out


def _params_dir(manifest: dict) -> Path | None:
    p = ((manifest.get("parameters") or {}).get("area") or {}).get("indicators", {}) or {}
    v = p.get("params_dir") if isinstance(p, dict) else None
    return Path(v) if v and Path(v).is_absolute() and Path(v).is_dir() else None


def _classes(gpkg: Path, layer_names: set[str], params_dir: Path | None) -> list[Any]:
    from ..stresstest import load_classes
    from ..stresstest.classes import StressClass

    if "stress_class_stresstest_classes" in layer_names:
        try:
            df = pyogrio.read_dataframe(gpkg, layer="stress_class_stresstest_classes")
            rows = [StressClass(int(r.code), str(r.label_en), str(r.label_nl), float(r.lower), str(r.colour).lower(),
                                str(getattr(r, "colour_cb", r.colour)).lower(), str(getattr(r, "ev", "")),
                                str(getattr(r, "source", ""))) for r in df.sort_values("code").itertuples()]
            if len(rows) >= 2:
                return rows
        except Exception:  # noqa: BLE001 - fall back to the built-in table
            pass
    return load_classes(params_dir)


def load_state(run_dir: str | Path, report_dir: str | Path | None = None) -> RunState:
    """Read the run folder at ``run_dir`` for serving (clear :class:`InputDataError` when it is not one)."""
    from ..landcover.legend import load_legend
    from ..measures import load_catalogue

    run_dir = Path(run_dir).resolve()
    mp = run_dir / "manifest.json"
    if not mp.is_file():
        raise InputDataError(f"{run_dir} is not a biostress run folder (no manifest.json).",
                             hint="Give the folder 'biostress run' or 'biostress demo' wrote.")
    try:
        manifest = json.loads(mp.read_text(encoding="utf-8"))
        g = manifest["grid"]
        grid = Grid(g["crs"], float(g["x0"]), float(g["y1"]), float(g["cell"]), int(g["width"]), int(g["height"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputDataError(f"The manifest of {run_dir} is not valid ({e}).",
                             hint="Run the area again to write a complete run folder.") from None
    area = (manifest.get("parameters") or {}).get("area") or {}
    params_dir = _params_dir(manifest)
    gpkg = run_dir / "biostress.gpkg"
    layer_names = {str(n) for n, _ in pyogrio.list_layers(gpkg)} if gpkg.is_file() else set()
    legend_rows: list[dict] = []
    if "landcover_legend" in layer_names:
        df = pyogrio.read_dataframe(gpkg, layer="landcover_legend")
        legend_rows = [{"code": int(r["code"]), "key": str(r["key"]), "name_nl": str(r["name_nl"]),
                        "name_en": str(r["name_en"]), "colour": str(r["colour"]).lower()} for r in df.to_dict("records")]
    if not legend_rows:
        legend_rows = [{"code": c.code, "key": c.key, "name_nl": c.name_nl, "name_en": c.name_en, "colour": c.colour}
                       for c in load_legend().classes]
    classes = _classes(gpkg, layer_names, params_dir)
    catalogue = load_catalogue(params_dir=params_dir)
    units: dict[str, Units] = {}
    for level in LEVELS:
        if f"units_{level}" in layer_names:
            units[level] = _read_units(gpkg, f"units_{level}", grid.crs, level)
    for n in sorted(layer_names):  # other unit levels (hexagons, custom units)
        if n.startswith("units_") and n.removeprefix("units_") not in units:
            lvl = n.removeprefix("units_")
            units[lvl] = _read_units(gpkg, n, grid.crs, lvl)
    vectors: dict[str, VectorTiles] = {}
    vector_groups: dict[str, str] = {f"units_{lvl}": "base" for lvl in units}
    for name, group in (("natura2000", "base"), ("plan_measures", "measures"), ("boundary", "base")):
        if name in layer_names:
            gdf = gpd.read_file(gpkg, layer=name)
            if gdf.crs is None:
                gdf = gdf.set_crs(grid.crs)
            props = gdf.drop(columns="geometry").to_dict("records")
            vectors[name] = VectorTiles(name, gdf.geometry.values, props, gdf.crs)
            vector_groups[name] = group
    rdir = Path(report_dir).resolve() if report_dir is not None else None
    agg = _aggregates_path(run_dir, rdir)
    objects = load_objects(agg, grid.crs) if agg is not None else {}
    vectors.update(objects)
    inputs = [{k: str(i.get(k) or "") for k in ("name", "licence", "attribution", "date", "kind")}
              for i in manifest.get("inputs", [])]
    sources = [{"name": i["name"], "licence": i["licence"], "date": i["date"]} for i in inputs]
    info = manifest.get("info") or {}
    layers = build_layers(run_dir, manifest, legend_rows=legend_rows, classes=classes, catalogue=catalogue,
                          sources=sources, vector_layers=vector_groups, params_dir=params_dir,
                          unknown_share=info.get("unknown_share"),
                          objects={n: {"count": o.count, "columns": o.columns, "min_zoom": o.min_zoom}
                                   for n, o in objects.items()})
    rasters = {lid: RasterSource(lay.path) for lid, lay in layers.items() if lay.kind == "raster" and lay.path}
    downloads = _run_downloads(run_dir, manifest)
    if rdir is not None:
        downloads.update(_report_downloads(rdir))
    code = area.get("code") or None
    if code is None and "gemeente" in units and len(units["gemeente"].frame) == 1:
        code = str(units["gemeente"].frame["code"].iloc[0])
    parcels = None
    if "parcels" in layer_names:
        parcels = gpd.read_file(gpkg, layer="parcels")
        parcels = parcels.set_crs(grid.crs) if parcels.crs is None else parcels.to_crs(grid.crs)
    state = RunState(run_dir, manifest, grid, str(area.get("name") or run_dir.name), code,
                     manifest.get("created"), legend_rows, classes, catalogue, params_dir, layers, rasters, units,
                     vectors, downloads, rdir, inputs, (0.0, 0.0, 0.0, 0.0), objects=objects, parcels=parcels)
    state.bounds_wgs84 = tuple(state.bounds_to_wgs84(grid.bounds))  # type: ignore[assignment]
    state._report_scan = time.monotonic()
    return state
