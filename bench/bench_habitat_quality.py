"""Benchmark: InVEST Habitat Quality 3.20 vs ``biostress habitat-quality``, whole commands.

Case
  dordrecht-4000  a 4000 x 4000 grid of 10 m cells (16 M cells): the Dordrecht land cover of
                  ``biostress demo`` mirrored 4 x 3 and cropped; three threats derived from it
                  (urban 600 m exponential, roads 1200 m linear, agriculture 1000 m linear),
                  k = 0.3, no access, no baseline.

Both commands read the same files and write their outputs (InVEST: tiled LZW GeoTIFFs plus its
intermediate rasters; biostress: the same GeoTIFFs, QGIS styles and a manifest). Each runs in its
own process, twice, alternating, after a warm-up read of the inputs (page cache); the best wall
time and CPU time (user + system) of each and the ratios are printed as a table and appended to bench/RESULTS.md with the machine and date. The outputs
are compared (same nodata mask, max abs difference) so a fast wrong answer cannot pass.

Needs natcap.invest 3.20 (validation/benchmark only). Usage: python bench/bench_habitat_quality.py [landcover.tif] [--no-record]
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _common import append_results

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work" / "hq_bench"
SIZE = 4000
THREATS = [  # name, LULC codes, max_dist (m), weight, decay
    ("urban", (1, 3, 20), 600.0, 1.0, "exponential"),
    ("roads", (2, 4), 1200.0, 0.7, "linear"),
    ("agri", (11, 12, 18), 1000.0, 0.5, "linear"),
]
K = 0.3
REPEATS = 2


def _exe(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else name


def build(landcover: Path) -> dict:
    import rasterio
    from rasterio.transform import from_origin

    sys.path.insert(0, str(ROOT / "bench"))
    from validate_invest_hq import sensitivity_csv

    WORK.mkdir(parents=True, exist_ok=True)
    with rasterio.open(landcover) as src:
        lc = src.read(1)
        crs = src.crs
        x0, y1 = src.transform.c, src.transform.f
    row = np.concatenate([lc, lc[:, ::-1], lc], axis=1)
    big = np.concatenate([row, row[::-1], row, row[::-1]], axis=0)[:SIZE, :SIZE].astype(np.int32)
    prof = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 1, "crs": crs,
            "transform": from_origin(x0, y1, 10.0, 10.0), "tiled": True, "blockxsize": 256, "blockysize": 256,
            "compress": "deflate"}
    with rasterio.open(WORK / "lulc_c.tif", "w", dtype="int32", nodata=255, **prof) as dst:
        dst.write(big, 1)
    rows = ["threat,max_dist,weight,decay,cur_path"]
    for name, codes, md, w, dk in THREATS:
        with rasterio.open(WORK / f"{name}_c.tif", "w", dtype="float32", nodata=None, **prof) as dst:
            dst.write(np.isin(big, codes).astype(np.float32), 1)
        rows.append(f"{name},{md:g},{w:g},{dk},{name}_c.tif")
    (WORK / "threats.csv").write_text("\n".join(rows) + "\n")
    sensitivity_csv(WORK / "sensitivity.csv", [t[0] for t in THREATS])
    return {"workspace_dir": str(WORK / "invest"), "results_suffix": "", "n_workers": -1,
            "lulc_cur_path": str(WORK / "lulc_c.tif"), "lulc_fut_path": "", "lulc_bas_path": "",
            "threats_table_path": str(WORK / "threats.csv"), "access_vector_path": "",
            "sensitivity_table_path": str(WORK / "sensitivity.csv"), "half_saturation_constant": K}


def _invest_one(args_json: str) -> None:
    import logging

    logging.disable(logging.INFO)
    from natcap.invest.habitat_quality import habitat_quality

    t0 = time.perf_counter()
    habitat_quality.execute(json.loads(args_json))
    print(json.dumps({"seconds": time.perf_counter() - t0,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of a command, including Python start-up and imports."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--invest-one":
        _invest_one(sys.argv[2])
        return
    record = "--no-record" not in sys.argv
    argv = [a for a in sys.argv[1:] if a != "--no-record"]
    sys.path.insert(0, str(ROOT / "bench"))
    from validate_invest_hq import compare, demo_landcover

    lc = Path(argv[0]) if argv else demo_landcover(ROOT / "bench" / "_work")
    args = build(lc)
    for p in WORK.glob("*.tif"):
        p.read_bytes()  # warm the page cache for both
    out = WORK / "biostress"
    bio_cmd = [_exe("biostress"), "-q", "habitat-quality", "--lulc", args["lulc_cur_path"], "--threats-table",
               args["threats_table_path"], "--sensitivity-table", args["sensitivity_table_path"],
               "--half-saturation", str(K), "--out", str(out), "--overwrite"]
    inv, bio = [], []
    for rep in range(REPEATS):  # alternate the two so that a change in machine load hits both
        shutil.rmtree(args["workspace_dir"], ignore_errors=True)
        print(f"run {rep + 1}/{REPEATS}: InVEST ...", file=sys.stderr, flush=True)
        inv.append(timed([sys.executable, __file__, "--invest-one", json.dumps(args)]))
        print(f"run {rep + 1}/{REPEATS}: biostress habitat-quality ...", file=sys.stderr, flush=True)
        bio.append(timed(bio_cmd))
    t_inv, c_inv = min(w for w, _ in inv), min(c for _, c in inv)
    t_bio, c_bio = min(w for w, _ in bio), min(c for _, c in bio)
    checks = {n: compare(Path(args["workspace_dir"]) / f"{n}.tif", out / f"{n}.tif") for n in ("deg_sum_c", "quality_c")}
    same = all(c["same_mask"] and c["max_abs_diff"] <= 1e-6 for c in checks.values())
    diff = max(c["max_abs_diff"] for c in checks.values())
    head = ("| case | grid | threats | InVEST 3.20 wall s | biostress wall s | speed-up (wall) | InVEST CPU s | "
            "biostress CPU s | speed-up (CPU) | max abs diff (deg, quality) | same nodata mask |")
    lines = [head, "|" + "---|" * 11,
             f"| dordrecht-4000 | {SIZE}x{SIZE} @ 10 m | {len(THREATS)} | {t_inv:.1f} | {t_bio:.1f} | "
             f"{t_inv / t_bio:.1f}x | {c_inv:.1f} | {c_bio:.1f} | {c_inv / c_bio:.1f}x | {diff:.1e} | {same} |"]
    table = "\n".join(lines)
    print(table)
    if not same:
        raise SystemExit("outputs differ from InVEST")
    if not record:
        return
    append_results("bench_habitat_quality.py", table,
                   f"Whole commands (process start to exit, best of {REPEATS}), natcap.invest 3.20 "
                   "`habitat_quality.execute` (n_workers -1) vs `biostress habitat-quality` on the same files.",
                   load_average=True)


if __name__ == "__main__":
    main()
