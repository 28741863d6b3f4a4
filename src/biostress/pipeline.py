"""The run: sources -> grid (land cover) -> per-unit summaries -> run folder.

:func:`prepare` reads everything an area needs into memory (units, boundary, grid, land-cover
pieces, context layers); :func:`run_area` computes and writes a run folder. Both are usable from
a notebook; the CLI only adds progress bars and messages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource

from . import __version__
from .config import LoadedArea, SourceSpec, load_area
from .errors import ConfigError, InputDataError, NoOverlapError
from .grid import Grid
from .landcover.features import layer_pieces
from .landcover.legend import NODATA, Legend, load_legend
from .landcover.mapping import MappingTable, Rule, load_mapping, parse_where
from .landcover.rasterize import (
    NO_SOURCE,
    LandCoverGrid,
    Piece,
    RasterLayer,
    rasterize_blocks,
    supersample_factor,
)
from .sources import Acquired, acquire
from .sources.vector_files import clean_geometries, read_vector
from .store import RunFolder, qml
from .units import cbs_hierarchy, hexagons, layer_units

Progress = Callable[[str, int, int], None]


def _noop(step: str, done: int, total: int) -> None:
    return None


@dataclass
class Prepared:
    """Everything read for an area, in the area CRS, before computation."""

    area: LoadedArea
    legend: Legend
    mapping: MappingTable
    boundary: shapely.Geometry
    grid: Grid
    units: dict[str, gpd.GeoDataFrame]
    pieces: list[Piece]
    rasters: list[RasterLayer]
    context: dict[str, gpd.GeoDataFrame]
    dem: list[tuple[str, Path, str]]  # (name, path, variable) of on-grid input rasters (DEM and others)
    inputs: list[Acquired]
    counts: dict[str, dict]
    notes: list[str] = field(default_factory=list)


def _bbox_gdf(gdf: gpd.GeoDataFrame, bbox: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    return gdf.iloc[np.sort(gdf.sindex.query(shapely.box(*bbox), predicate="intersects"))]


def _to_area_crs(gdf: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    return gdf if gdf.crs is not None and gdf.crs.equals(crs) else gdf.to_crs(crs)


def _check_overlap(name: str, location: str, gdf: gpd.GeoDataFrame, bbox: tuple[float, float, float, float]) -> None:
    if gdf.empty:
        raise NoOverlapError(f"Source '{name}' ({location}) has no features inside the area "
                             f"(area extent {tuple(round(v) for v in bbox)}).",
                             hint="Check that the file covers the area and that its CRS is right, or remove the source.")


def _read_units(area: LoadedArea, notes: list[str]) -> tuple[dict[str, gpd.GeoDataFrame], Acquired | None]:
    u = area.config.units
    crs = area.config.crs
    if u.kind in ("hexagon", "none"):
        return {}, None
    # internal spec (not validated: the units section was); licence/date exactly as configured
    spec = SourceSpec.model_construct(name="area units", kind="vector", path=u.path, url=u.url,
                                      service="ogcapi" if u.url else "file", collection=u.collection, filters=u.filters,
                                      page_size=u.page_size, layer=u.layer, licence=u.licence or None,
                                      attribution=u.attribution or None, date=u.date or None, override=False)
    acq = acquire(spec, area, bbox=area.config.boundary.bbox)
    gdf = acq.frame if acq.frame is not None else read_vector(acq.path, layer=u.layer)
    gdf = clean_geometries(_to_area_crs(gdf, crs), acq.location, want="polygon", notes=notes)
    if u.kind == "cbs":
        return cbs_hierarchy(gdf, source=acq.location), acq
    return layer_units(gdf, u.code_column, u.name_column, source=acq.location), acq


def _boundary(area: LoadedArea, units: dict[str, gpd.GeoDataFrame], notes: list[str]) -> tuple[shapely.Geometry, Acquired | None]:
    b = area.config.boundary
    crs = area.config.crs
    if b.bbox is not None:
        return shapely.box(*b.bbox), None
    if b.from_units:
        finest = units.get("buurt", units.get("unit"))
        return shapely.union_all(finest.geometry.values), None
    spec = SourceSpec.model_construct(name="boundary", kind="vector", path=b.path, url=None, layer=b.layer,
                                      licence=None, attribution=None, date=None, override=False)
    acq = acquire(spec, area)
    gdf = clean_geometries(_to_area_crs(read_vector(acq.path, layer=b.layer), crs), acq.location, want="polygon", notes=notes)
    geom = shapely.union_all(gdf.geometry.values)
    if geom.is_empty or geom.area <= 0:
        raise InputDataError(f"The boundary {acq.location} has no area.")
    return geom, acq


def _user_rules(spec: SourceSpec, legend: Legend, schema: str) -> list[Rule]:
    from .landcover.mapping import rule_from_row

    rules = []
    for value, cls in (spec.class_map or {}).items():
        where = f"{spec.class_column}={value}"
        parse_where(where, context=f"source '{spec.name}': ")
        rules.append(rule_from_row({"schema": schema, "layer": "features", "where": where, "class": cls,
                                    "priority": spec.priority, "width_m": "", "ev": "", "source": spec.name,
                                    "note": "class_map of the area configuration"}, legend, context=f"source '{spec.name}': "))
    return rules


def tree_crowns(points: gpd.GeoDataFrame, spec: SourceSpec, notes: list[str], label: str) -> gpd.GeoDataFrame:
    """Crown polygons from tree points: diameter from the crown column, else from height
    (crown diameter ~ 0.5 x height, R: typical for urban broadleaves), else the default."""
    n = len(points)
    diam = np.full(n, np.nan)
    if spec.crown_column:
        if spec.crown_column not in points.columns:
            raise InputDataError(f"{label} lacks the crown column '{spec.crown_column}'.")
        diam = pd.to_numeric(points[spec.crown_column], errors="coerce").to_numpy(dtype=float)
    if spec.height_column:
        if spec.height_column not in points.columns:
            raise InputDataError(f"{label} lacks the height column '{spec.height_column}'.")
        h = pd.to_numeric(points[spec.height_column], errors="coerce").to_numpy(dtype=float)
        diam = np.where(np.isfinite(diam) & (diam > 0), diam, 0.5 * h)
    bad = ~(np.isfinite(diam) & (diam > 0) & (diam < 60))
    if bad.any():
        notes.append(f"{label}: {int(bad.sum())} of {n} tree(s) have no usable crown or height; "
                     f"a crown of {spec.default_crown_m} m was assumed for them")
        diam = np.where(bad, spec.default_crown_m, diam)
    out = points.copy()
    if spec.species_column:
        if spec.species_column not in points.columns:
            raise InputDataError(f"{label} lacks the species column '{spec.species_column}'.",
                                 hint="Name the right column with 'species_column:' or leave it out.")
        out["species"] = points[spec.species_column].astype("string")
    out["crown_diameter_m"] = diam
    out["crown_estimated"] = bad
    return out.set_geometry(shapely.buffer(points.geometry.values, diam / 2.0, quad_segs=6))


def prepare(area: LoadedArea, progress: Progress = _noop) -> Prepared:
    """Read units, boundary, sources; classify land-cover features into pieces."""
    cfg = area.config
    notes: list[str] = []
    legend = load_legend(area.resolve(cfg.landcover.legend) if cfg.landcover.legend else None)
    mapping = load_mapping(legend, area.resolve(cfg.landcover.mapping) if cfg.landcover.mapping else None)
    progress("area units", 0, 1)
    units, units_acq = _read_units(area, notes)
    boundary, boundary_acq = _boundary(area, units, notes)
    grid = Grid.from_bounds(boundary.bounds, cfg.cell_size, cfg.crs)
    if not units:
        units = {"hexagon": hexagons(boundary, cfg.units.hex_size_m, cfg.crs)}
    progress("area units", 1, 1)
    bbox = grid.bounds
    inputs: list[Acquired] = [a for a in (units_acq, boundary_acq) if a is not None]
    pieces: list[Piece] = []
    rasters: list[RasterLayer] = []
    context: dict[str, gpd.GeoDataFrame] = {}
    dem: list[tuple[str, Path]] = []
    counts: dict[str, dict] = {}
    for order, spec in enumerate(cfg.sources):
        progress(f"source {spec.name}", 0, 1)
        acq = acquire(spec, area, bbox=bbox)
        inputs.append(acq)
        label = f"source '{spec.name}' ({acq.location})"
        common = {"source": order, "order": order, "override": spec.override}
        if spec.kind == "openmaptiles":
            from .sources.openmaptiles import read_openmaptiles

            # only layers that carry land cover are decoded (points of interest, labels etc. are not)
            layers = read_openmaptiles(acq.path, bbox, cfg.crs, layers=mapping.cover_layers("openmaptiles"),
                                       progress=lambda d, t, n=spec.name: progress(f"source {n}", d, t))
            if all(g.empty for g in layers.values()):
                raise NoOverlapError(f"{label} has no features inside the area.")
            c = {}
            for lname, gdf in layers.items():
                gdf = clean_geometries(gdf, f"{label} layer {lname}", notes=notes) if not gdf.empty else gdf
                p, c[lname] = layer_pieces(gdf, mapping.for_layer("openmaptiles", lname), legend,
                                           label=f"{spec.name}/{lname}", notes=notes, **common)
                pieces += p
            counts[spec.name] = c
            tr = layers.get("transportation")
            if tr is not None and not tr.empty and "roads" not in context:
                # road centre lines with their class: disturbance (noise) uses them
                lines = tr[tr.geom_type.isin(["LineString", "MultiLineString"])]
                context["roads"] = lines[[c for c in ("class", "brunnel", "geometry") if c in lines.columns]]
        elif spec.kind == "bgt":
            from .sources.bgt import read_bgt

            layers = acq.frame if acq.frame is not None else read_bgt(acq.path, bbox, cfg.crs)
            if all(g.empty for g in layers.values()):
                raise NoOverlapError(f"{label} has no BGT objects inside the area.")
            c = {}
            for lname, gdf in layers.items():
                gdf = clean_geometries(gdf, f"{label} layer {lname}", notes=notes) if not gdf.empty else gdf
                p, c[lname] = layer_pieces(gdf, mapping.for_layer("bgt", lname), legend, label=f"{spec.name}/{lname}",
                                           notes=notes, **common)
                pieces += p
            counts[spec.name] = c
        elif spec.kind == "osm_pbf":
            from .sources.osm_pbf import read_osm_pbf

            layers = read_osm_pbf(acq.path, bbox, cfg.crs, keys=mapping.keys("osm"))
            if all(g.empty for g in layers.values()):
                raise NoOverlapError(f"{label} has no mapped OSM features inside the area.")
            c = {}
            for lname, gdf in layers.items():
                p, c[lname] = layer_pieces(gdf, mapping.for_layer("osm", lname), legend, label=f"{spec.name}/{lname}",
                                           notes=notes, **common)
                pieces += p
            counts[spec.name] = c
        elif spec.kind in ("landcover_vector", "tree_register", "natura2000", "points", "vector", "parcels"):
            gdf = acq.frame if acq.frame is not None else read_vector(
                acq.path, fmt=spec.format, layer=spec.layer, crs=spec.crs, x_column=spec.x_column, y_column=spec.y_column)
            want = {"landcover_vector": "polygon", "natura2000": "polygon", "tree_register": "point",
                    "parcels": "polygon"}.get(spec.kind)
            gdf = clean_geometries(_to_area_crs(gdf, cfg.crs), label, want=want, notes=notes)
            if spec.kind == "natura2000":
                context["natura2000"] = gdf  # kept whole: sites near the area matter too
                continue
            gdf = _bbox_gdf(gdf, bbox)
            if spec.kind in ("points", "vector") and gdf.empty:
                # Context data: an empty overlap is plausible (no records here); say so and go on.
                notes.append(f"{label} has no features inside the area; the layer is not written")
                continue
            _check_overlap(spec.name, acq.location, gdf, bbox)
            if spec.kind == "landcover_vector":
                if spec.class_column not in gdf.columns:
                    raise InputDataError(f"{label} lacks the class column '{spec.class_column}' "
                                         f"(columns: {[c for c in gdf.columns if c != 'geometry']}).",
                                         hint="Set 'class_column:' of the source to the column that holds the class.")
                p, counts[spec.name] = layer_pieces(gdf, _user_rules(spec, legend, f"user:{spec.name}"), legend,
                                                    label=spec.name, notes=notes, **common)
                pieces += p
            elif spec.kind == "tree_register":
                crowns = tree_crowns(gdf, spec, notes, label)
                # the register's points, with crown diameter (and species) as used for the canopy
                context[f"trees_{_safe_name(spec.name)}"] = crowns.set_geometry(
                    gpd.GeoSeries(gdf.geometry.values, index=crowns.index, crs=gdf.crs))
                p, counts[spec.name] = layer_pieces(crowns, mapping.for_layer("trees", "crowns"), legend,
                                                    label=spec.name, notes=notes, **common)
                pieces += p
            elif spec.kind == "parcels":
                from .sources.parcels import parcel_frame

                frame = parcel_frame(gdf, spec.id_column, label)
                notes.extend(frame.attrs.get("notes", []))
                if "parcels" in context:  # several parcel sources: one layer
                    frame = gpd.GeoDataFrame(pd.concat([context["parcels"], frame], ignore_index=True),
                                             crs=frame.crs)
                context["parcels"] = frame
            else:
                context[_safe_name(spec.name)] = gdf
        elif spec.kind == "species_records":
            from .indicators.species_records import clean_records, read_dwc, records_to_points

            if acq.frame is not None:
                raise ConfigError(f"{label}: species records are read from a file (a Darwin Core Archive or CSV).",
                                  hint="Give 'path:' or a plain download 'url:' (service: file).")
            frame, rec_notes = clean_records(read_dwc(acq.path))
            notes.extend(f"{label}: {n}" for n in rec_notes)
            pts = _bbox_gdf(records_to_points(frame, cfg.crs), bbox)
            if pts.empty:
                notes.append(f"{label} has no usable records inside the area; species records are 'not sampled'")
                continue
            context[_safe_name(spec.name)] = pts
        elif spec.kind == "landcover_raster":
            from .sources.raster_files import check_overlap, class_shares, open_raster

            src = open_raster(acq.path)
            check_overlap(src, grid, acq.path)
            groups: dict[int, list[int]] = {}
            for r in mapping.for_layer(spec.scheme, "raster"):
                if r.cls == "ignore":
                    continue
                for cond in r.conditions:
                    if cond.key == "code" and cond.values:
                        groups.setdefault(legend.by_key(r.cls).code, []).extend(int(v) for v in cond.values)
            _report_unmapped_codes(src, groups, mapping, spec, label, notes)
            rasters.append(RasterLayer(order, lambda sub, s=src, g=groups: class_shares(s, sub, g)))
        elif spec.kind in ("dem", "raster"):
            from .sources.raster_files import check_overlap, open_raster

            with open_raster(acq.path) as src:
                check_overlap(src, grid, acq.path)
            dem.append((spec.name if spec.kind == "dem" else spec.variable, acq.path, "dem" if spec.kind == "dem" else spec.variable))
        progress(f"source {spec.name}", 1, 1)
    return Prepared(area, legend, mapping, boundary, grid, units, pieces, rasters, context, dem, inputs, counts, notes)


def _report_unmapped_codes(src, groups: dict[int, list[int]], mapping: MappingTable, spec: SourceSpec, label: str,
                           notes: list[str]) -> None:
    """Report raster codes present in the file (all pixels, or a 2048 x 2048 decimated read of large
    files) that no mapping row covers."""
    known = {int(v) for r in mapping.for_layer(spec.scheme, "raster") for c in r.conditions if c.values for v in c.values}
    from .sources.raster_files import read_band

    sample = read_band(src, out_shape=(min(src.height, 2048), min(src.width, 2048)))
    present = {int(v) for v in np.unique(sample.compressed())}
    unknown = sorted(present - known)
    if unknown:
        notes.append(f"{label}: raster codes {unknown} are not in the {spec.scheme} mapping and were not used")


def _safe_name(s: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_]+", "_", s).strip("_").lower() or "layer"


def unit_summaries(fractions: LandCoverGrid | Path, legend: Legend, units: gpd.GeoDataFrame,
                  grid: Grid | None = None) -> gpd.GeoDataFrame:
    """Area per land-cover class per unit: exact area-weighted sums (exactextract) of the cover
    fractions, times the cell area. Adds ``<key>_m2`` and ``<key>_share`` (of the unit area),
    ``green_share``, ``impervious_share`` and ``dominant_class`` (largest known class).

    ``fractions`` is an in-memory :class:`LandCoverGrid` or the path of a fractions GeoTIFF (one
    band per legend class, as written by :func:`run_area`; then ``grid`` is required).
    """
    if isinstance(fractions, LandCoverGrid):
        g = fractions.grid
        xmin, ymin, xmax, ymax = g.bounds
        wkt = g.pyproj_crs.to_wkt()
        rast = [NumPyRasterSource(fractions.fractions[i].astype(np.float64), xmin, ymin, xmax, ymax, srs_wkt=wkt,
                                  name=f"band_{i + 1}") for i in range(len(legend.classes))]
    else:
        if grid is None:
            raise ValueError("grid is needed with a fractions file")
        g = grid
        wkt = g.pyproj_crs.to_wkt()
        rast = str(fractions)
    vec = units[["code", "geometry"]].copy().set_crs(wkt, allow_override=True)
    df = exact_extract(rast, vec, ["sum"], include_cols=["code"], output="pandas")
    df = df.set_index("code").reindex(units["code"])
    out = units.copy()
    for i, c in enumerate(legend.classes):
        m2 = df[f"band_{i + 1}_sum"].to_numpy(dtype=float) * g.cell_area
        out[f"{c.key}_m2"] = m2
        out[f"{c.key}_share"] = m2 / out["area_m2"].to_numpy()
    _derived(out, legend)
    return out


def aggregate_up(child: gpd.GeoDataFrame, parent: gpd.GeoDataFrame, legend: Legend) -> gpd.GeoDataFrame:
    """Land-cover areas of ``parent`` units as sums over their children (``parent_code``).

    Exact when the parents are the union of their children (CBS wijk = its buurten), and it keeps
    the levels consistent: a wijk's m² per class is the sum of its buurten's.
    """
    cols = [f"{c.key}_m2" for c in legend.classes]
    sums = child.groupby("parent_code")[cols].sum()
    out = parent.copy()
    sums = sums.reindex(out["code"]).fillna(0.0)
    for c in legend.classes:
        out[f"{c.key}_m2"] = sums[f"{c.key}_m2"].to_numpy()
        out[f"{c.key}_share"] = out[f"{c.key}_m2"] / out["area_m2"]
    _derived(out, legend)
    return out


def _derived(out: gpd.GeoDataFrame, legend: Legend) -> None:
    shares = np.vstack([out[f"{c.key}_share"].to_numpy() for c in legend.classes])
    out["green_share"] = sum(out[f"{c.key}_share"] for c in legend.classes if c.green)
    out["impervious_share"] = sum(out[f"{c.key}_share"] for c in legend.classes if c.impervious)
    shares[legend.codes.index(0)] = -1
    best = shares.argmax(axis=0)
    known_any = shares.max(axis=0) > 0
    out["dominant_class"] = [legend.classes[i].key if k else "unknown" for i, k in zip(best, known_any, strict=True)]


def _summaries(fr_path: Path, legend: Legend, units: dict[str, gpd.GeoDataFrame], grid: Grid) -> dict[str, gpd.GeoDataFrame]:
    """Zonal sums for the finest level; coarser CBS levels are sums of their children."""
    if "buurt" in units:
        buurt = unit_summaries(fr_path, legend, units["buurt"], grid)
        wijk = aggregate_up(buurt, units["wijk"], legend)
        wijk_for_up = wijk.assign(parent_code=units["wijk"]["parent_code"].values)
        return {"gemeente": aggregate_up(wijk_for_up, units["gemeente"], legend), "wijk": wijk, "buurt": buurt}
    return {level: unit_summaries(fr_path, legend, ug, grid) for level, ug in units.items()}


@dataclass
class RunResult:
    out_dir: Path
    manifest: dict
    warnings: list[str]
    timings: dict[str, float]
    summary: pd.DataFrame


def run_area(area: LoadedArea | str | Path, out_dir: str | Path, *, overwrite: bool = False,
             progress: Progress = _noop) -> RunResult:
    """Run everything that exists on one area and write a run folder at ``out_dir``."""
    if not isinstance(area, LoadedArea):
        area = load_area(area)
    out_dir = Path(out_dir)
    t_all = time.perf_counter()
    with RunFolder(out_dir, overwrite=overwrite) as run:
        with run.step("read sources"):
            prep = prepare(area, progress)
        grid, legend = prep.grid, prep.legend
        run.set_grid(grid)
        with run.step("land cover"):
            sums, inside_sum = _stream_landcover(run, prep, progress)
        with run.step("write rasters"):
            inputs_on_grid = {}
            for name, path, variable in prep.dem:
                inputs_on_grid.setdefault(variable, _write_dem(run, name, path, grid, variable))
        with run.step("summaries per unit"):
            fr_path = run.path / "landcover_fractions.tif"
            summaries = _summaries(fr_path, legend, prep.units, grid)
        with run.step("indicators"):
            _run_indicators(run, prep, summaries, inputs_on_grid, progress)
        with run.step("write vectors"):
            _write_vectors(run, prep, summaries, legend)
        with run.step("maps"):
            _write_maps(run, prep, summaries)
        for n in prep.notes:
            run.add_warning(n)
        for a in prep.inputs:
            run.add_input(a.spec.name, a.location, sha256=a.sha256, licence=a.spec.licence,
                          attribution=a.spec.attribution, date=a.spec.date, kind=a.spec.kind, **a.extra)
        run.set_parameters({"area": json.loads(area.config.model_dump_json()), "legend": legend.path,
                            "mapping": prep.mapping.path,
                            "supersample_factor": supersample_factor(grid.cell, area.config.landcover.subcell_m)})
        run.set_info("feature_counts", prep.counts)
        run.set_info("area_ha", float(prep.boundary.area / 1e4))
        run.set_info("unknown_share", float(sums[legend.codes.index(0)] / max(inside_sum, 1e-9)))
        progress("write outputs", 1, 1)
        summary = _area_summary(sums, inside_sum, grid, legend)
        run.set_info("landcover_ha", {r.key: float(r.ha) for r in summary.itertuples()})
        run.set_info("total_seconds", time.perf_counter() - t_all)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    return RunResult(out_dir, manifest, prep.notes, manifest.get("timings", {}), summary)


def _area_summary(sums: np.ndarray, inside: float, grid: Grid, legend: Legend) -> pd.DataFrame:
    ca = grid.cell_area
    rows = [(c.key, c.name_en, float(sums[i] * ca / 1e4), float(sums[i] / max(inside, 1e-9)))
            for i, c in enumerate(legend.classes)]
    return pd.DataFrame(rows, columns=["key", "name", "ha", "share"])


def _stream_landcover(run: RunFolder, prep: Prepared, progress: Progress) -> tuple[np.ndarray, float]:
    """Rasterise block by block straight into the three land-cover COGs (bounded memory).

    Returns the sum of each class fraction over all cells and the sum of the inside share
    (multiply by the cell area for m²)."""
    grid, legend = prep.grid, prep.legend
    classes = [(c.code, f"{c.name_en} / {c.name_nl}", c.colour) for c in legend.classes]
    names = [""] * (legend.max_code + 1)
    for c in legend.classes:
        names[c.code] = c.name_en
    srcs = [s.name for s in prep.area.config.sources]
    palette = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]
    cmap = {i: _rgba(palette[i % len(palette)]) for i in range(len(srcs))}
    cmap[NO_SOURCE] = (0, 0, 0, 0)
    sums = np.zeros(len(legend.codes))
    inside_sum = 0.0
    with run.raster_writer(
            "landcover", grid, 1, "uint8", units="class code", nodata=NODATA, colormap=legend.colormap(),
            category_names=names, qml=qml.raster_paletted(classes),
            description="Dominant land-cover class per cell (largest cover fraction; 0 = no data, 255 = outside the area)",
    ) as dom, run.raster_writer(
            "landcover_fractions", grid, len(legend.codes), "float32", units="fraction of cell area (0-1)",
            nodata=float("nan"), band_names=legend.keys,
            qml=qml.raster_pseudocolor(0.0, 1.0, [(0.0, "#f7fcf5"), (0.5, "#74c476"), (1.0, "#00441b")], label_unit=""),
            description="Cover fraction of each land-cover class per cell, one band per class (band i = legend class i)",
    ) as frac, run.raster_writer(
            "landcover_source", grid, 1, "uint8", units="source index", nodata=NO_SOURCE, colormap=cmap,
            category_names=srcs, qml=qml.raster_paletted([(i, s, palette[i % len(palette)]) for i, s in enumerate(srcs)]),
            description="Which source decided the dominant class of each cell (index into the sources of the area "
                        "configuration; 255 = none)",
    ) as src:
        for b in rasterize_blocks(prep.pieces, grid, legend.codes, prep.boundary, rasters=prep.rasters,
                                  chunk=prep.area.config.landcover.chunk_cells,
                                  factor=supersample_factor(grid.cell, prep.area.config.landcover.subcell_m),
                                  progress=lambda d, t: progress("land cover", d, t)):
            sums += b.fractions.sum(axis=(1, 2), dtype=np.float64)
            inside_sum += float(b.inside.sum(dtype=np.float64))
            f = b.fractions
            f[:, b.inside <= 0] = np.nan
            dom.write(b.dominant, b.row0, b.col0)
            frac.write(f, b.row0, b.col0)
            src.write(b.decided_by, b.row0, b.col0)
    return sums, inside_sum


def _rgba(h: str) -> tuple[int, int, int, int]:
    h = h.lstrip("#")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255)


def _write_dem(run: RunFolder, name: str, path: Path, grid: Grid, variable: str = "dem") -> Path:
    """Resample a DEM (or another measured raster) onto the grid block by block; colour stretch
    from its 2-98 % range. Returns the written file."""
    from .sources.raster_files import continuous_block, open_raster, read_band

    with open_raster(path) as src:
        preview = read_band(src, out_shape=(max(1, src.height // 16), max(1, src.width // 16))).compressed()
        finite = preview[np.isfinite(preview)]
        lo, hi = (float(np.percentile(finite, 2)), float(np.percentile(finite, 98))) if finite.size else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1.0
        style = qml.raster_pseudocolor(lo, hi, [(lo, "#2c7bb6"), ((lo + hi) / 2, "#ffffbf"), (hi, "#d7191c")], label_unit=" m")
        out_name = f"dem_{_safe_name(name)}" if variable == "dem" else f"input_{variable}"
        units = "m" if variable == "dem" else (src.units[0] or "as in the source")
        what = f"Elevation from '{name}'" if variable == "dem" else f"Input raster '{variable}'"
        with run.raster_writer(out_name, grid, 1, "float32", units=units, nodata=float("nan"), qml=style,
                               description=f"{what} resampled to the analysis grid") as w:
            for r0, c0, sub in grid.windows(1024):
                w.write(continuous_block(src, sub), r0, c0)
    return run.path / f"{out_name}.tif"


def _attribution(prep: Prepared) -> str:
    seen: list[str] = []
    for a in prep.inputs:
        if not a.spec.attribution:
            continue
        t = f"{a.spec.attribution} ({a.spec.licence})" if a.spec.licence else a.spec.attribution
        if t not in seen:
            seen.append(t)
    return " · ".join(seen)


def _write_maps(run: RunFolder, prep: Prepared, summaries: dict[str, gpd.GeoDataFrame]) -> None:
    """PNG maps with legend, scale bar, north arrow and attribution (English and Dutch)."""
    import tempfile

    import rasterio

    from .maps import render_landcover_map, render_share_map

    grid = prep.grid
    # a preview of at most ~2000 cells on the long side (nearest neighbour) keeps memory bounded
    step = max(1, int(np.ceil(max(grid.shape) / 2000)))
    with rasterio.open(run.path / "landcover.tif") as src:
        dom = src.read(1, out_shape=(int(np.ceil(grid.height / step)), int(np.ceil(grid.width / step))),
                       resampling=rasterio.enums.Resampling.nearest)
    pgrid = Grid(grid.crs, grid.x0, grid.y1, grid.cell * step, dom.shape[1], dom.shape[0])
    finest = next((summaries[k] for k in ("buurt", "unit", "hexagon") if k in summaries), None)
    attribution = _attribution(prep)
    name = prep.area.config.name
    titles = {"en": (f"Land cover of {name}", f"Green share per unit, {name}", "Green share of the unit area"),
              "nl": (f"Landgebruik en bodembedekking {name}", f"Aandeel groen per gebied, {name}", "Aandeel groen")}
    if finest is not None and {"area_m2", "unknown_m2", "urban_mixed_m2"} <= set(finest.columns):
        # cover without data or built-up land not resolved further counts as not green: say the share is a floor
        unresolved = float((finest["unknown_m2"].sum() + finest["urban_mixed_m2"].sum()) / max(finest["area_m2"].sum(), 1))
        if unresolved >= 0.01:
            pct = f"{unresolved:.0%}"
            titles["en"] = (titles["en"][0], f"{titles['en'][1]} (a lower bound: the cover of {pct} of the area is "
                            "unknown or not resolved)", titles["en"][2])
            titles["nl"] = (titles["nl"][0], f"{titles['nl'][1]} (ondergrens: van {pct} van het gebied is de "
                            "bedekking onbekend of niet nader bepaald)", titles["nl"][2])
    with tempfile.TemporaryDirectory(dir=run.path) as td:
        for lang, (t1, t2, lt) in titles.items():
            p = render_landcover_map(dom, pgrid, prep.legend, Path(td) / "a.png", title=t1, boundary=prep.boundary,
                                     units=finest, lang=lang, attribution=attribution)
            run.write_file(f"maps/landcover_{lang}.png", p.read_bytes(), kind="png",
                           description=f"Map of the dominant land-cover class with legend ({lang})")
            if finest is not None:
                p = render_share_map(finest, "green_share", Path(td) / "b.png", title=t2, legend_title=lt, lang=lang,
                                     attribution=attribution, boundary=prep.boundary)
                run.write_file(f"maps/green_share_{lang}.png", p.read_bytes(), kind="png",
                               description=f"Choropleth of the green share per area unit ({lang}): {t2}")
        # stress test, potential and opportunity maps (those whose rasters this run wrote)
        from .maps.results import render_run_maps

        params_dir = prep.area.resolve(prep.area.config.indicators.params_dir) \
            if prep.area.config.indicators.params_dir else None
        for rel, p, desc in render_run_maps(run.path, grid, out_dir=Path(td), boundary=prep.boundary, units=finest,
                                            attribution=attribution, area_name=name, params_dir=params_dir,
                                            legend=prep.legend):
            run.write_file(rel, p.read_bytes(), kind="png", description=desc)


def _run_indicators(run: RunFolder, prep: Prepared, summaries: dict[str, gpd.GeoDataFrame],
                    inputs_on_grid: dict[str, Path], progress: Progress) -> None:
    """Compute every enabled indicator (streamed over the grid, see :mod:`biostress.indicator_stage`),
    write its rasters/layers and add its per-unit statistics as columns to the units layers."""
    from .indicator_stage import StageInputs, run_indicators

    cfg = prep.area.config
    params_dir = prep.area.resolve(cfg.indicators.params_dir) if cfg.indicators.params_dir else None
    inp = StageInputs(prep.grid, prep.legend, run.path / "landcover_fractions.tif", run.path / "landcover.tif",
                      rasters=dict(inputs_on_grid), units=summaries, layers=dict(prep.context),
                      enabled=cfg.indicators.enabled, params_dir=params_dir, stress_test=cfg.indicators.stress_test,
                      potential=cfg.indicators.potential, opportunity=cfg.indicators.opportunity,
                      tile_cells=cfg.indicators.tile_cells,
                      options={"species_records": {"cell_m": cfg.indicators.species_cell_m},
                               "opportunity": {"per_measure": cfg.indicators.opportunity_per_measure}},
                      global_max_cells=cfg.indicators.global_max_cells)
    rep = run_indicators(run, inp, progress)
    run.set_info("indicator_tiles", {"tiles": rep.tiles, "halo_cells": rep.halo_cells, "tile_cells": inp.tile_cells,
                                     "coarsened": rep.coarsened})
    if cfg.plan is not None and rep.files is not None:
        from .planning import candidates, make_plan, write_plan

        with run.step("plan"):
            block = max(1, int(round(cfg.plan.block_m / prep.grid.cell)))
            cands = candidates(inp, rep.files, block_cells=block, measures=cfg.plan.measures,
                               tile_cells=cfg.indicators.tile_cells, progress=progress)
            plan = make_plan(cands, prep.grid, budget=cfg.plan.budget_eur, weights=cfg.plan.weights,
                             targets=cfg.plan.targets, method=cfg.plan.method)
            write_plan(run, plan, prep.grid)


def _write_vectors(run: RunFolder, prep: Prepared, summaries: dict[str, gpd.GeoDataFrame], legend: Legend) -> None:
    green = [(0.0, 0.1, "< 10 %", "#a50026"), (0.1, 0.2, "10-20 %", "#f46d43"), (0.2, 0.3, "20-30 %", "#fee08b"),
             (0.3, 0.45, "30-45 %", "#a6d96a"), (0.45, 1.0001, "> 45 %", "#006837")]
    for level, gdf in summaries.items():
        run.write_vector(f"units_{level}", gdf, units="m2 and share of unit area",
                         description=f"Area units ({level}) with land-cover area (m2) and share per class",
                         qml=qml.vector_graduated("green_share", green))
    run.write_vector("boundary", gpd.GeoDataFrame({"name": [prep.area.config.name]}, geometry=[prep.boundary],
                                                  crs=prep.grid.crs),
                     units=None, description="Boundary of the area", qml=qml.vector_simple("#00000000", "#222222"))
    for name, gdf in prep.context.items():
        style = qml.vector_simple("#2ca02c55", "#1b5e20") if name == "natura2000" else None
        run.write_vector(name, gdf, units=None, description=f"Context layer '{name}' as read from its source", qml=style)
    run.write_table("landcover_legend", pd.DataFrame([c.__dict__ for c in legend.classes]),
                    description="The land-cover legend used in this run")
    rules = pd.DataFrame([{k: getattr(r, k) for k in ("schema", "layer", "where", "cls", "priority", "width_m", "ev",
                                                         "source", "note")} for r in prep.mapping.rules])
    run.write_table("landcover_mapping", rules.rename(columns={"cls": "class"}),
                    description="The mapping table used in this run (source codes/tags -> classes)")
    src = pd.DataFrame([{"index": i, "name": a.spec.name, "kind": a.spec.kind, "location": a.location,
                         "licence": a.spec.licence, "attribution": a.spec.attribution, "date": a.spec.date,
                         "sha256": a.sha256, "override": a.spec.override} for i, a in enumerate(
                             [x for x in prep.inputs if x.spec.name in {s.name for s in prep.area.config.sources}])])
    run.write_table("sources", src, description="Sources with provenance and licence; 'index' is the value in landcover_source.tif")
    if prep.notes:
        run.write_table("warnings", pd.DataFrame({"message": prep.notes}), description="What was missing, repaired or not used")


__all__ = ["Prepared", "RunResult", "prepare", "run_area", "unit_summaries", "__version__"]
