"""Natura 2000 surroundings of a finished run: the I/O edge that turns
:func:`biostress.natura2000.surroundings_report` into a deliverable run folder.

Command line (the CLI calls :func:`write_surroundings`)::

    biostress natura2000 RUN --site CODE [--distance M] --out DIR

``RUN`` is a folder ``biostress run`` or ``biostress demo`` wrote; ``CODE`` a site code, slug,
number or name of the run's ``natura2000`` layer (case does not matter; :func:`list_sites` lists
them); ``M`` the width of the surrounding zone in metres (default 1000); ``DIR`` the output folder,
written atomically (:class:`biostress.store.runfolder.RunFolder`: on any error it is not created or
left as it was).

Window. Only the cells of the run grid that cover ``buffer(site, M)`` plus a margin are read:
the margin is ``ceil(urban_radius_m / cell) + 1`` cells (the reach of the urban/rural setting the
measure rules use, as in :func:`biostress.natura2000.surroundings.zone_measures`, from
``potential_params.csv``) plus :data:`EXTRA_MARGIN_CELLS`. With that margin every number equals the
one computed on the whole grid (the report's own window lies inside it). The whole site layer of the
run is used (not only the sites near the window), so a site's area and the distance to the nearest
site are those of the run.

Output folder:

* vector layers ``natura2000_site`` (the site polygon, parts merged) and ``natura2000_zone`` (the
  ring ``buffer(site, M) - site``), styled for QGIS;
* tables ``natura2000_<frame>``: every frame of the report (``areas``, ``landcover``,
  ``nitrogen``, ``drying_out``, ``fragmentation``, ``hostile``, ``summary``, ``measures``,
  ``farm_types``) and ``natura2000_finance`` (discount rate, horizon, their evidence and source);
* ``maps/natura2000_<code>_en.png`` and ``..._nl.png``: the dominant land cover of the window with
  the site (thick) and zone (thin) outlines;
* ``manifest.json`` with the window grid, the parameters and the report's notes as warnings.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputDataError, NoOverlapError
from ..grid import Grid
from .zone import (
    CODE_COLUMNS,
    NAME_COLUMNS,
    QUAD_SEGS,
    _check_sites,
    _row_keys,
    _text,
    check_distance,
    coverage,
    find_site,
    window_for,
)

Progress = Callable[[str, int, int], None]
#: cells added around the report's own margin (urban-setting reach), so the window is never tight
EXTRA_MARGIN_CELLS = 2
#: longest side of the map in cells; larger windows are drawn from every n-th cell (nearest neighbour)
MAP_MAX_CELLS = 2000
_OUTSIDE = 255
_STEP = "natura2000 surroundings"
_TABLES = {
    "areas": "Area (ha) of the site and the zone: polygon, on the grid, with land cover",
    "landcover": "Land cover per class in the site and the zone (ha and share, area-weighted by exact cell coverage)",
    "nitrogen": "Nitrogen exceedance of the KDW (mol N/ha/yr) and AERIUS 'afstand tot de KDW' class shares per part",
    "drying_out": "Drying-out: mean drought vulnerability (0-1) and drained / intensive land shares per part",
    "fragmentation": "Natural cover and effective mesh size (ha, CUT and CBC) of the site, zone and both",
    "hostile": "Share of impervious (hostile) land cover in the zone within the dispersal reach",
    "summary": "Headline pressures on the site from its zone (long: part, pressure, metric, value, units, status)",
}


def _noop(step: str, done: int, total: int) -> None:
    pass


# --------------------------------------------------------------------------------------------
# sites of a run
# --------------------------------------------------------------------------------------------

def _site_layer(orun: Any) -> gpd.GeoDataFrame:
    sites = orun.layers.get("natura2000")
    if sites is None or len(sites) == 0:
        raise InputDataError(f"The run {orun.path} has no Natura 2000 site layer ('natura2000' in biostress.gpkg).",
                             hint="Add a 'natura2000' source (PDOK/RVO WFS or a GeoPackage with the site polygons) "
                                  "to the area configuration and run the area again.")
    return _check_sites(sites)


def _code_of(row: pd.Series) -> str:
    """The site's code: the first filled of ``sitecode_hr``, ``sitecode_vr``, ``sitecode``, ``slug``, ``nr``."""
    return next((_text(row[c]) for c in CODE_COLUMNS[:5] if c in row.index and _text(row[c])), "")


def _canonical_code(sites: gpd.GeoDataFrame, site_code: str) -> str:
    """The code (:func:`_code_of`) of the first row ``site_code`` matches, e.g. ``NL3000040`` for
    ``biesbosch``."""
    key = _text(site_code).lower()
    for _, r in sites.iterrows():
        if key in _row_keys(r):
            return _code_of(r) or _text(site_code)
    return _text(site_code)


def _label(code: str, name: str) -> str:
    return f"{code} ({name})" if name and name != code else code


def _name_of(row: pd.Series) -> str:
    return next((_text(row[c]) for c in NAME_COLUMNS if c in row.index and _text(row[c])), "")


def _polygonal(geom: Any) -> Any:
    """The polygons of ``geom`` as one MultiPolygon (drops points and lines make_valid may leave)."""
    polys: list[Any] = []
    for g in shapely.get_parts(geom):
        if isinstance(g, shapely.Polygon):
            polys.append(g)
        elif isinstance(g, shapely.MultiPolygon):
            polys.extend(g.geoms)
        elif isinstance(g, shapely.GeometryCollection):
            polys.extend(_polygonal(g).geoms)
    return shapely.MultiPolygon([p for p in polys if not p.is_empty])


def _area_geometry(orun: Any) -> Any:
    """The run's area: the ``boundary`` layer of its GeoPackage; else the union of the units of
    the coarsest level; else the grid's bounding box."""
    gpkg = Path(orun.path) / "biostress.gpkg"
    if gpkg.is_file():
        import pyogrio

        if "boundary" in {str(n) for n, _ in pyogrio.list_layers(gpkg)}:
            b = gpd.read_file(gpkg, layer="boundary")
            if len(b) and b.crs is not None:
                b = b.to_crs(orun.grid.crs)
            geoms = [g for g in b.geometry.values if g is not None and not g.is_empty]
            if geoms:
                return shapely.union_all(shapely.make_valid(np.asarray(geoms, dtype=object)))
    if orun.units:
        coarsest = min(orun.units.values(), key=len)
        geoms = [g for g in coarsest.geometry.values if g is not None and not g.is_empty]
        if geoms:
            return shapely.union_all(shapely.make_valid(np.asarray(geoms, dtype=object)))
    return shapely.box(*orun.grid.bounds)


def _sites_table(sites: gpd.GeoDataFrame, area: Any) -> pd.DataFrame:
    rows: dict[str, dict[str, Any]] = {}
    for _, r in sites.iterrows():
        g = r.geometry
        if g is None or g.is_empty:
            continue
        code = _code_of(r) or _name_of(r) or "?"
        e = rows.setdefault(code, {"code": code, "name": _name_of(r), "parts": []})
        e["parts"].append(shapely.make_valid(g))
    out = []
    for e in rows.values():
        geom = shapely.union_all(np.asarray(e["parts"], dtype=object))
        out.append({"code": e["code"], "name": e["name"], "area_ha": geom.area / 1e4,
                    "distance_to_area_m": float(shapely.distance(geom, area))})
    df = pd.DataFrame(out, columns=["code", "name", "area_ha", "distance_to_area_m"])
    return df.sort_values(["distance_to_area_m", "code"], kind="stable").reset_index(drop=True)


def list_sites(run_dir: str | Path) -> pd.DataFrame:
    """The Natura 2000 sites in the run folder ``run_dir``: one row per site code (parts merged)
    with ``code`` (``sitecode_hr``, else ``sitecode_vr``, ``sitecode``, ``slug``, ``nr``),
    ``name``, ``area_ha`` (polygon area, ha) and ``distance_to_area_m``: the shortest distance (m)
    from the site to the run's area (its ``boundary`` layer; 0 when they touch or overlap), nearest
    first. InputDataError when the run has no site layer."""
    from ..runs import open_run

    orun = open_run(run_dir)
    return _sites_table(_site_layer(orun), _area_geometry(orun))


# --------------------------------------------------------------------------------------------
# window
# --------------------------------------------------------------------------------------------

def margin_cells(cell: float, params_dir: Path | None = None) -> int:
    """Cells around the buffer read from the run: ``ceil(urban_radius_m / cell) + 1`` (the reach
    of the urban/rural setting, ``potential_params.csv``) ``+ EXTRA_MARGIN_CELLS``."""
    from ..potential.transitions import load_settings

    s = load_settings(params_dir)
    return int(math.ceil(s.urban_radius_m / cell)) + 1 + EXTRA_MARGIN_CELLS


def _nearest_hint(sites: gpd.GeoDataFrame, area: Any, distance_m: float) -> str:
    tab = _sites_table(sites, area)
    near = tab[tab["distance_to_area_m"] < distance_m].head(8)
    if near.empty:
        near = tab.head(5)
    names = ", ".join(f"{r.code} ({r.name}, {r.distance_to_area_m:.0f} m)" for r in near.itertuples())
    return f"Sites nearest to the run's area (distance): {names}. Choose one of these, or a wider zone."


def _window(orun: Any, sites: gpd.GeoDataFrame, site_geom: Any, code: str, distance_m: float,
            params_dir: Path | None) -> tuple[slice, slice, Any]:
    """Rows and columns of the run grid to read, and the buffer ``buffer(site, distance_m)``.
    NoOverlapError when the buffer misses the grid, or covers no cell with land cover."""
    grid: Grid = orun.grid
    buf = shapely.buffer(site_geom, distance_m, quad_segs=QUAD_SEGS)
    if not shapely.intersects(buf, shapely.box(*grid.bounds)):
        gap = shapely.distance(site_geom, shapely.box(*grid.bounds))
        raise NoOverlapError(f"The Natura 2000 site {code} and its zone of {distance_m:g} m do not overlap the run's "
                             f"grid: the site lies {gap:.0f} m from it.",
                             hint=_nearest_hint(sites, _area_geometry(orun), distance_m))
    rows, cols = window_for(buf, grid, margin_cells(grid.cell, params_dir))
    return rows, cols, buf


def _check_landcover(buf: Any, wgrid: Grid, dominant: np.ndarray, code: str, distance_m: float,
                     hint: Callable[[], str]) -> None:
    touched = coverage(buf, wgrid) > 0
    if not np.any(touched & (np.asarray(dominant) != _OUTSIDE)):
        raise NoOverlapError(f"The Natura 2000 site {code} and its zone of {distance_m:g} m overlap the run's grid "
                             "only outside the run's area: there is no land cover to analyse.", hint=hint())


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

def _file_code(code: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", code).strip("_.-")
    return s or "site"


def _attribution(manifest: dict) -> str:
    seen: list[str] = []
    for i in manifest.get("inputs", []) or []:
        a = str(i.get("attribution") or "").strip()
        if not a:
            continue
        lic = str(i.get("licence") or "").strip()
        t = f"{a} ({lic})" if lic else a
        if t not in seen:
            seen.append(t)
    return " · ".join(seen)


def _map_titles(name: str, code: str, distance_m: float) -> dict[str, str]:
    from ..maps import format_length

    d = format_length(distance_m)
    label = f"{name} ({code})" if name and name != code else code
    return {
        "en": f"Natura 2000 {label} and its surroundings within {d}: land cover "
              "(thick line: site; thin lines: zone)",
        "nl": f"Natura 2000-gebied {label} en de omgeving tot {d}: bodembedekking "
              "(dikke lijn: gebied; dunne lijnen: zone)",
    }


def _map_raster(dominant: np.ndarray, wgrid: Grid) -> tuple[np.ndarray, Grid]:
    """The dominant classes of the window, every n-th cell when it is larger than MAP_MAX_CELLS."""
    step = max(1, int(math.ceil(max(wgrid.shape) / MAP_MAX_CELLS)))
    if step == 1:
        return np.asarray(dominant, dtype=np.uint8), wgrid
    d = np.asarray(dominant, dtype=np.uint8)[::step, ::step]
    return d, Grid(wgrid.crs, wgrid.x0, wgrid.y1, wgrid.cell * step, d.shape[1], d.shape[0])


def _finance_table(finance: dict) -> pd.DataFrame:
    ev, src = finance.get("ev", {}) or {}, finance.get("source", {}) or {}
    rows = [{"parameter": k, "value": float(finance[k]), "units": u, "ev": str(ev.get(k, "")),
             "source": str(src.get(k, ""))} for k, u in (("discount_rate", "1/yr (real)"), ("horizon_yr", "yr"))]
    rows.append({"parameter": "regions", "value": math.nan, "units": str(finance.get("regions", "")), "ev": "",
                 "source": "subsidy regions used"})
    return pd.DataFrame(rows)


def _clean(df: pd.DataFrame) -> pd.DataFrame:
    """A copy GeoPackage can store: all-empty object columns as float, other objects as text."""
    out = df.copy()
    out.attrs = {}
    for c in out.columns:
        s = out[c]
        if s.dtype == object:
            if s.isna().all():
                out[c] = s.astype("float64")
            else:
                out[c] = s.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    return out


def write_surroundings(run_dir: str | Path, site_code: str, out_dir: str | Path, *, distance_m: float = 1000.0,
                       overwrite: bool = False, progress: Progress | None = None,
                       params_dir: Path | None = None, dispersal_m: float | None = None) -> Path:
    """Analyse the surroundings of the Natura 2000 site ``site_code`` in the run folder ``run_dir``
    (a zone ``distance_m`` metres wide) and write the result to the run folder ``out_dir``
    (atomically; see the module docstring for its content). Returns ``out_dir``.

    Errors (raised before anything is written): ConfigError for a distance of 0 m or less;
    InputDataError when ``run_dir`` is not a run folder, has no site layer, or has no site
    ``site_code`` (the message lists the sites' codes and names); NoOverlapError when the site and
    its zone lie outside the run's grid or only on cells without land cover; OutputExistsError when
    ``out_dir`` exists and is not empty and ``overwrite`` is False. ``progress(step, done, total)``
    is called as the work advances. ``params_dir``: the area's own parameter tables;
    ``dispersal_m``: reach of the hostile-land share (default: the whole zone)."""
    from ..runs import open_run
    from ..store import qml
    from ..store.runfolder import RunFolder
    from .surroundings import surroundings_report

    prog = progress or _noop
    total = 4
    prog(_STEP, 0, total)
    d = check_distance(distance_m)
    run_dir = Path(run_dir)
    orun = open_run(run_dir, params_dir=params_dir)
    sites = _site_layer(orun)
    site_geom, _, name = find_site(sites, site_code)
    site_code_out = _canonical_code(sites, site_code)  # e.g. NL3000040 for "biesbosch"
    label = _label(site_code_out, name)
    rows, cols, buf = _window(orun, sites, site_geom, label, d, params_dir)
    r0, r1, c0, c1 = rows.start, rows.stop, cols.start, cols.stop
    wgrid = orun.grid.window(r0, c0, r1 - r0, c1 - c0)
    ctx = orun.context(r0, r1, c0, c1)
    ctx.layers = {**ctx.layers, "natura2000": sites}  # the whole layer: site areas and distances as in the run
    dominant = np.asarray(ctx.dominant)
    _check_landcover(buf, wgrid, dominant, label, d, lambda: _nearest_hint(sites, _area_geometry(orun), d))
    out = RunFolder(out_dir, overwrite=overwrite)  # fails fast when out_dir exists
    prog(_STEP, 1, total)
    rep = surroundings_report(ctx, site_code, d, dispersal_m=dispersal_m)
    prog(_STEP, 2, total)
    site_name = str(rep["site"]["site_name"] or name)
    fcode = _file_code(site_code_out)
    zone = rep["zone"].assign(site_code=site_code_out)
    site_gdf = gpd.GeoDataFrame({"site_code": [site_code_out], "site_name": [site_name],
                                 "area_ha": [site_geom.area / 1e4], "zone_distance_m": [d]},
                                geometry=[_polygonal(site_geom)], crs=orun.grid.crs)
    zone_gdf = gpd.GeoDataFrame(zone.drop(columns="geometry").reset_index(drop=True),
                                geometry=[_polygonal(zone.geometry.iloc[0])], crs=orun.grid.crs)
    with out as run:
        run.set_grid(wgrid)
        run.set_parameters({"run_dir": str(run_dir.resolve()), "site": site_code, "distance_m": d,
                            "dispersal_m": dispersal_m, "params_dir": str(params_dir) if params_dir else None})
        run.set_info("window", {"rows": [r0, r1], "cols": [c0, c1], "margin_cells": margin_cells(wgrid.cell,
                                                                                                 params_dir)})
        run.set_info("site", rep["site"])
        run.set_info("finance", rep["finance"])
        run.set_info("base_run", str(run_dir.resolve()))
        run.write_vector("natura2000_site", site_gdf, units=None,
                         description=f"Natura 2000 site {site_code_out} {site_name} (parts merged)",
                         qml=qml.vector_simple("#2ca02c55", "#1b5e20", width=0.8))
        run.write_vector("natura2000_zone", zone_gdf, units=None,
                         description=f"Surrounding zone of {site_code_out}: buffer of {d:g} m minus the site",
                         qml=qml.vector_simple("#ff7f0e22", "#d95f02", width=0.5))
        for key, desc in _TABLES.items():
            run.write_table(f"natura2000_{key}", _clean(rep["pressures"][key]), description=desc)
        run.write_table("natura2000_measures", _clean(rep["measures"]),
                        description="Rural measures that fit in the zone, with their economics per ha of measure "
                                    "(EUR, real prices; NaN where the catalogue has no number)")
        run.write_table("natura2000_farm_types", _clean(rep["farm_types"]),
                        description="Economics of the measures per typical farm type (EUR per ha and per farm)")
        run.write_table("natura2000_finance", _finance_table(rep["finance"]),
                        description="Discount rate and horizon of the NPV / EAC columns, with evidence and source")
        prog(_STEP, 3, total)
        dom, mgrid = _map_raster(dominant, wgrid)
        attribution = _attribution(orun.manifest)
        with tempfile.TemporaryDirectory() as td:
            from ..maps import render_landcover_map

            for lang, title in _map_titles(site_name, site_code_out, d).items():
                p = render_landcover_map(dom, mgrid, orun.legend, Path(td) / f"map_{lang}.png", title=title,
                                         boundary=site_geom, units=zone_gdf[["geometry"]], lang=lang,
                                         attribution=attribution)
                run.write_file(f"maps/natura2000_{fcode}_{lang}.png", p.read_bytes(), kind="png",
                               description=f"Dominant land cover of the zone around {site_code_out} with the site "
                                           f"and zone outlines ({lang})")
        for n in rep["notes"]:
            run.add_warning(n)
    prog(_STEP, total, total)
    return out.out_dir


__all__ = ["EXTRA_MARGIN_CELLS", "list_sites", "margin_cells", "write_surroundings"]
