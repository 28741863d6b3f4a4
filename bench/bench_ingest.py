"""Benchmark: ingest + land-cover grid.

Cases
  dordrecht-10m   the sample city (GeoParquet OSM), 10 m cells
  dordrecht-2m    the same at 2 m cells
  province-10m    the whole province of Zuid-Holland from its 1,722 zoom-14 OpenMapTiles vector tiles, 10 m

Each case runs in its own process (so its peak memory is its own): read sources -> classify ->
rasterise block by block into tiled GeoTIFFs -> COG. Wall time per stage and peak RSS are printed as a table
and appended to bench/RESULTS.md with the machine and date.

The province tiles come from ../shared (not shipped); the case is skipped when they are absent.
Usage: python bench/bench_ingest.py [case ...]
"""

from __future__ import annotations

import resource
import sys
import tarfile
import time
from pathlib import Path

from _common import append_results, run_cases, run_child

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
SHARED = ROOT.parent / "shared" / "data"
TILES_TGZ = SHARED / "zuid-holland" / "tokenless-tiles_zuid-holland_z14_openmaptiles_2021.tar.gz"
CASES = ["dordrecht-10m", "dordrecht-2m", "province-10m"]


def one(case: str) -> dict:
    import geopandas as gpd
    import shapely

    from biostress.grid import Grid
    from biostress.landcover.features import layer_pieces
    from biostress.landcover.legend import load_legend
    from biostress.landcover.mapping import load_mapping
    from biostress.landcover.rasterize import rasterize_blocks, supersample_factor
    from biostress.sources.openmaptiles import read_openmaptiles
    from biostress.store.cog import CogWriter

    legend = load_legend()
    mapping = load_mapping(legend)
    t = {}
    t0 = time.perf_counter()
    if case.startswith("dordrecht"):
        cell = 10.0 if case.endswith("10m") else 2.0
        boundary = gpd.read_file(ROOT / "examples/dordrecht/data/municipality_outline_dordrecht.geojson").union_all()
        src = ROOT / "examples/dordrecht/data/osm_geoparquet"
    else:
        cell = 10.0
        tiles = WORK / "zh_tiles"
        if not (tiles / "tiles").is_dir():
            tiles.mkdir(parents=True, exist_ok=True)
            with tarfile.open(TILES_TGZ) as tf:
                tf.extractall(tiles, filter="data")
        src = tiles / "tiles"
        boundary = None
    grid_bounds = boundary.bounds if boundary is not None else None
    if boundary is None:
        # the province: the extent of all tiles, in RD New
        from pyproj import Transformer

        from biostress.sources.openmaptiles import tile_bounds_3857

        xs = sorted(int(p.name) for p in (src / "14").iterdir())
        ys = sorted(int(p.stem) for x in (src / "14").iterdir() for p in x.iterdir())
        a = tile_bounds_3857(14, xs[0], ys[-1])
        b = tile_bounds_3857(14, xs[-1], ys[0])
        tr = Transformer.from_crs(3857, 28992, always_xy=True)
        x0, y0, x1, y1 = tr.transform_bounds(a[0], a[1], b[2], b[3], densify_pts=21)
        grid_bounds = (x0, y0, x1, y1)
        boundary = shapely.box(*grid_bounds)
    layers = read_openmaptiles(src, grid_bounds, "EPSG:28992", layers=mapping.cover_layers("openmaptiles"))
    t["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    notes: list[str] = []
    pieces = []
    nfeat = 0
    for name, gdf in layers.items():
        nfeat += len(gdf)
        p, _ = layer_pieces(gdf, mapping.for_layer("openmaptiles", name), legend, source=0, order=0, override=False,
                            label=name, notes=notes)
        pieces += p
    del layers
    t["classify"] = time.perf_counter() - t0
    grid = Grid.from_bounds(grid_bounds, cell, "EPSG:28992")
    out = WORK / case
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with CogWriter(out / "landcover.tif", grid, 1, "uint8", nodata=255, colormap=legend.colormap()) as dom, \
         CogWriter(out / "landcover_fractions.tif", grid, len(legend.codes), "float32", band_names=legend.keys) as fr:
        for b in rasterize_blocks(pieces, grid, legend.codes, boundary, chunk=256):
            dom.write(b.dominant, b.row0, b.col0)
            fr.write(b.fractions, b.row0, b.col0)
    t["rasterise+write"] = time.perf_counter() - t0
    return {"case": case, "cells": grid.width * grid.height, "shape": f"{grid.height}x{grid.width}",
            "factor": supersample_factor(cell), "features": nfeat, "pieces": len(pieces), **t,
            "total": sum(t.values()), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    if run_child(one):
        return
    rows = run_cases(__file__, sys.argv[1:] or CASES,
                     lambda c: f"{TILES_TGZ} not found" if c == "province-10m" and not TILES_TGZ.exists() else None)
    head = "| case | grid (rows x cols) | cells | sub-cells/edge | features | read s | classify s | rasterise+write s | total s | peak RSS MB |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r['case']} | {r['shape']} | {r['cells']:,} | {r['factor']} | {r['features']:,} | {r['read']:.1f} | "
                     f"{r['classify']:.1f} | {r['rasterise+write']:.1f} | {r['total']:.1f} | {r['peak_rss_mb']:,.0f} |")
    table = "\n".join(lines)
    print(table)
    append_results("bench_ingest.py", table)


if __name__ == "__main__":
    main()
