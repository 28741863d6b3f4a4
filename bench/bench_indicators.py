"""Benchmark: the full indicator set on a land-cover grid, wall time and peak memory.

Cases
  dordrecht-10m   the sample city (land cover from bench_ingest.py), all 11 indicators
  province-half-10m  the northern half of it (4,007 x 11,597 cells): memory must not grow with the area
  province-10m    the whole province of Zuid-Holland at 10 m (8,014 x 11,597 cells) from its vector tiles

Each case runs in its own process (its peak RSS is its own) and reads the land cover written by
``bench/bench_ingest.py`` (run first when missing). The indicator stage streams: local indicators
tile by tile (2048 x 2048 cells plus a halo of their reach), global ones on at most 9 million cells
(coarsened above that). Context: roads (OpenMapTiles transportation) for the noise proxy, Natura 2000
for nitrogen, municipalities (province) or neighbourhoods (Dordrecht) as units.

Prints a table (wall time per indicator, total, peak RSS) and appends it to bench/RESULTS.md.
Usage: python bench/bench_indicators.py [case ...]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import append_results, run_cases, run_child

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
SHARED = ROOT.parent / "shared" / "data"
CASES = ["dordrecht-10m", "province-half-10m", "province-10m"]
ORDER = ("green", "habitat_quality", "fragmentation", "connectivity", "heat", "flooding", "drought", "nitrogen",
         "disturbance", "species_records", "guide_species")


def one(case: str) -> dict:
    import geopandas as gpd
    import rasterio

    from biostress.grid import Grid
    from biostress.indicator_stage import StageInputs, run_indicators
    from biostress.landcover.legend import load_legend
    from biostress.sources.openmaptiles import read_openmaptiles
    from biostress.store.runfolder import RunFolder

    lc = WORK / case
    with rasterio.open(lc / "landcover.tif") as src:
        t = src.transform
        grid = Grid("EPSG:28992", t.c, t.f, t.a, src.width, src.height)
    t0 = time.perf_counter()
    if case.startswith("dordrecht"):
        data = ROOT / "examples/dordrecht/data"
        roads_src = data / "osm_geoparquet"
        units = gpd.read_file(data / "cbs_buurten_2024_generalised_dordrecht.geojson").to_crs(28992)
        units = units.rename(columns={"buurtcode": "code", "buurtnaam": "name"})
        n2k = gpd.read_file(data / "natura2000_within12km_dordrecht.gpkg").to_crs(28992)
        level = "buurt"
    else:
        roads_src = WORK / "zh_tiles" / "tiles"
        units = gpd.read_file(SHARED / "netherlands" / "cbs_gemeenten_2023_simplified1pct_stdekker.geojson").to_crs(28992)
        units = units.iloc[units.sindex.query(_box(grid.bounds), predicate="intersects")]
        units = units.rename(columns={c: "code" for c in units.columns if c.lower() in ("statcode", "gemeentecode")})
        n2k = gpd.read_file(SHARED / "netherlands" / "natura2000_nl_simplified10m.gpkg").to_crs(28992)
        level = "gemeente"
    if "code" not in units.columns:
        units["code"] = [f"u{i}" for i in range(len(units))]
    units = units[["code", "geometry"]].reset_index(drop=True)
    tr = read_openmaptiles(roads_src, grid.bounds, "EPSG:28992", layers=["transportation"]).get("transportation")
    roads = tr[tr.geom_type.isin(["LineString", "MultiLineString"])][["class", "geometry"]]
    n2k = n2k.iloc[n2k.sindex.query(_box(grid.bounds), predicate="intersects")]
    t_context = time.perf_counter() - t0
    out = WORK / f"indicators-{case}"
    inp = StageInputs(grid, load_legend(), lc / "landcover_fractions.tif", lc / "landcover.tif",
                      units={level: units}, layers={"roads": roads, "natura2000": n2k}, enabled=list(ORDER))
    t0 = time.perf_counter()
    with RunFolder(out, overwrite=True) as run:
        rep = run_indicators(run, inp)
        run.set_info("report", {"tiles": rep.tiles, "halo": rep.halo_cells, "coarsened": rep.coarsened})
    total = time.perf_counter() - t0
    timings = json.loads((out / "manifest.json").read_text())["timings"]
    return {"case": case, "shape": f"{grid.height}x{grid.width}", "cells": grid.height * grid.width,
            "tiles": rep.tiles, "halo": rep.halo_cells, "coarsened": rep.coarsened, "context_s": t_context,
            "indicators_s": total, "per_indicator": {k.removeprefix("indicator "): v for k, v in timings.items()
                                                     if k.startswith("indicator ")},
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "roads": len(roads)}


def _box(bounds):
    import shapely

    return shapely.box(*bounds)


def _crop_half(src_dir: Path, dst_dir: Path) -> None:
    """The northern half of the province's land cover (same grid origin and cells), block by block."""
    import rasterio
    from rasterio.windows import Window

    from biostress.grid import Grid
    from biostress.landcover.legend import load_legend
    from biostress.store.cog import CogWriter

    dst_dir.mkdir(parents=True, exist_ok=True)
    legend = load_legend()
    with rasterio.open(src_dir / "landcover.tif") as d, rasterio.open(src_dir / "landcover_fractions.tif") as f:
        t = d.transform
        grid = Grid("EPSG:28992", t.c, t.f, t.a, d.width, d.height // 2)
        with CogWriter(dst_dir / "landcover.tif", grid, 1, "uint8", nodata=255, colormap=legend.colormap()) as wd, \
             CogWriter(dst_dir / "landcover_fractions.tif", grid, f.count, "float32", band_names=legend.keys) as wf:
            for r0 in range(0, grid.height, 512):
                n = min(512, grid.height - r0)
                win = Window(0, r0, grid.width, n)
                wd.write(d.read(1, window=win), r0, 0)
                wf.write(f.read(window=win), r0, 0)


def _prepare(case: str) -> str | None:
    """Why ``case`` cannot run (None if it can); writes its land cover with bench_ingest.py when missing."""
    if case.startswith("province") and not (SHARED / "netherlands").is_dir():
        return f"{SHARED} not found"
    if case == "province-half-10m" and not (WORK / case / "landcover_fractions.tif").exists():
        if (reason := _prepare("province-10m")) is not None:
            return reason
        _crop_half(WORK / "province-10m", WORK / case)
    if not (WORK / case / "landcover_fractions.tif").exists():
        print(f"land cover for {case} missing: running bench_ingest.py {case} first ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "bench_ingest.py"), case], check=True)
    return None


def main() -> None:
    if run_child(one):
        return
    rows = run_cases(__file__, sys.argv[1:] or CASES, _prepare)
    names = [n for n in ORDER if any(n in r["per_indicator"] for r in rows)]
    head = ("| case | grid | cells | tiles (halo) | global coarsened | " + " | ".join(names)
            + " | indicators total s | peak RSS MB |")
    lines = [head, "|" + "---|" * (7 + len(names))]
    for r in rows:
        co = ", ".join(f"{k} x{v}" for k, v in r["coarsened"].items()) or "none"
        per = " | ".join(f"{r['per_indicator'].get(n, float('nan')):.1f}" for n in names)
        lines.append(f"| {r['case']} | {r['shape']} | {r['cells']:,} | {r['tiles']} ({r['halo']}) | {co} | {per} | "
                     f"{r['indicators_s']:.1f} | {r['peak_rss_mb']:,.0f} |")
    table = "\n".join(lines)
    print(table)
    append_results("bench_indicators.py", table,
                   "Seconds per indicator (per-tile times summed for the local ones); peak RSS of the whole process.")


if __name__ == "__main__":
    main()
