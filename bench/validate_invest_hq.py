"""Validation: ``biostress habitat-quality`` against InVEST Habitat Quality 3.20 itself.

Both run on the same InVEST input files (LULC, threat rasters, threats and sensitivity tables,
access vector), built from real data: the Dordrecht land cover of ``biostress demo``
(``landcover.tif``, 1176 x 1819 cells of 10 m, nodata 255 outside the municipality).

Cases
  A  LULC resampled to 5 m (2352 x 3638 cells); 3 threats, exponential decay; access polygons
     (the CBS neighbourhoods of Dordrecht with an access value each); a baseline LULC for rarity;
     one threat raster with intensities 0.25-1 and nodata cells.
  B  LULC mirrored 2 x 2 at 10 m (2352 x 3638 cells); 3 threats, linear decay; no access.

For every output both must have the same nodata mask and a max abs difference <= 1e-6
(deg_sum_c, quality_c, and rarity_c in case A). Prints a table; exits 1 on a failure.

Needs natcap.invest 3.20 in the same environment (a validation-only dependency; see
``src/biostress/data/params/README.md`` for the install recipe).
Usage: python bench/validate_invest_hq.py [--work DIR] [--landcover landcover.tif] [--small]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-6

# LULC code -> legend key of the biostress legend (data/landcover_legend.csv)
THREATS_A = [  # name, codes, value, max_dist (m), weight, decay
    ("urban", (1, 3), 1.0, 600.0, 1.0, "exponential"),
    ("roads", (2, 4), "ramp", 1200.0, 0.7, "exponential"),
    ("agri", (11, 12, 18), 1.0, 1000.0, 0.7, "exponential"),
]
THREATS_B = [
    ("built", (1, 3, 20), 1.0, 500.0, 1.0, "linear"),
    ("roads", (2,), 0.5, 365.0, 0.5, "linear"),
    ("agri", (11, 18), 1.0, 1500.0, 0.3, "linear"),
]


def _biostress() -> str:
    exe = Path(sys.executable).with_name("biostress")
    return str(exe) if exe.exists() else "biostress"


def demo_landcover(work: Path) -> Path:
    """``landcover.tif`` of the Dordrecht demo run (made with ``biostress demo`` if missing)."""
    for p in (Path("/tmp/hqdemo/landcover.tif"), work / "demo" / "landcover.tif"):
        if p.exists():
            return p
    subprocess.run([_biostress(), "-q", "demo", "--out", str(work / "demo"), "--overwrite"], check=True)
    return work / "demo" / "landcover.tif"


def _write(path: Path, arr: np.ndarray, transform, crs, nodata) -> Path:
    import rasterio

    prof = {"driver": "GTiff", "width": arr.shape[1], "height": arr.shape[0], "count": 1, "dtype": arr.dtype.name,
            "crs": crs, "transform": transform, "nodata": nodata, "tiled": True, "blockxsize": 256,
            "blockysize": 256, "compress": "deflate"}
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr, 1)
    return path


def sensitivity_csv(path: Path, threats: list[str]) -> Path:
    """lucode 0-20 with H and S from the biostress NL table (data/params/habitat_quality_sensitivity.csv),
    threat columns taken from its columns in turn."""
    from biostress.indicators.habitat_quality import load_params
    from biostress.landcover.legend import load_legend

    legend = load_legend()
    p = load_params(None, legend)
    cols = list(p.sensitivity)
    lines = ["lucode,name,habitat," + ",".join(threats)]
    for c in legend.classes:
        s = [p.sensitivity[cols[i % len(cols)]][c.key] for i in range(len(threats))]
        lines.append(f"{c.code},{c.key},{p.habitat.get(c.key, 0)}," + ",".join(map(str, s)))
    path.write_text("\n".join(lines) + "\n")
    return path


def build_case(case: str, work: Path, landcover: Path, small: bool = False) -> dict:
    """Write the InVEST inputs of a case into ``work/case`` and return the InVEST args."""
    import geopandas as gpd
    import rasterio
    from affine import Affine

    d = work / f"case_{case}"
    if d.exists():
        shutil.rmtree(d)
    (d / "threats").mkdir(parents=True)
    with rasterio.open(landcover) as src:
        lc = src.read(1)
        t, crs = src.transform, src.crs
    if small:
        lc = lc[300:560, 600:950]
        t = t * Affine.translation(600, 300)
    if case == "A":
        lulc = np.repeat(np.repeat(lc, 2, axis=0), 2, axis=1)
        t = t * Affine.scale(0.5)
        threats = THREATS_A
    else:
        lulc = np.block([[lc, lc[:, ::-1]], [lc[::-1, :], lc[::-1, ::-1]]])
        threats = THREATS_B
    lulc = np.ascontiguousarray(lulc).astype(np.int32)
    nodata = 255
    _write(d / "lulc_c.tif", lulc, t, crs, nodata)
    rows = ["threat,max_dist,weight,decay,cur_path,base_path"]
    rng = np.random.default_rng(7)
    for name, codes, value, md, w, dk in threats:
        m = np.isin(lulc, codes)
        if value == "ramp":  # intensities 0.25-1 (InVEST 3.20 only looks at != 0) and nodata outside
            arr = np.where(m, rng.choice([0.25, 0.5, 1.0], size=m.shape), 0.0).astype(np.float32)
            arr[lulc == nodata] = -1.0
            tn = -1.0
        else:
            arr = (m * float(value)).astype(np.float32)
            tn = None
        _write(d / "threats" / f"{name}_c.tif", arr, t, crs, tn)
        rows.append(f"{name},{md:g},{w:g},{dk},threats/{name}_c.tif,")
    (d / "threats.csv").write_text("\n".join(rows) + "\n")
    sensitivity_csv(d / "sensitivity.csv", [x[0] for x in threats])
    args = {"workspace_dir": str(d / "invest"), "results_suffix": "", "n_workers": -1,
            "lulc_cur_path": str(d / "lulc_c.tif"), "lulc_fut_path": "", "lulc_bas_path": "",
            "threats_table_path": str(d / "threats.csv"), "access_vector_path": "",
            "sensitivity_table_path": str(d / "sensitivity.csv"),
            "half_saturation_constant": 0.1 if case == "A" else 0.3}
    if case == "A":
        units = gpd.read_file(ROOT / "examples/dordrecht/data/cbs_buurten_2024_generalised_dordrecht.geojson")
        units = units.to_crs(crs)[["geometry"]].copy()
        units["access"] = np.round(np.linspace(0.1, 1.0, len(units)) ** 2, 3)
        units.to_file(d / "access.gpkg", driver="GPKG")
        args["access_vector_path"] = str(d / "access.gpkg")
        # baseline: built-up land of the eastern half was pasture; roads stay
        base = lulc.copy()
        east = np.zeros_like(base, dtype=bool)
        east[:, base.shape[1] // 2:] = True
        base[east & np.isin(base, (1, 3, 20))] = 12
        _write(d / "lulc_b.tif", base, t, crs, nodata)
        args["lulc_bas_path"] = str(d / "lulc_b.tif")
    return args


def run_invest(args: dict) -> float:
    from natcap.invest.habitat_quality import habitat_quality

    t0 = time.perf_counter()
    habitat_quality.execute(dict(args))
    return time.perf_counter() - t0


def run_biostress(args: dict, out: Path) -> float:
    cmd = [_biostress(), "-q", "habitat-quality", "--lulc", args["lulc_cur_path"], "--threats-table",
           args["threats_table_path"], "--sensitivity-table", args["sensitivity_table_path"],
           "--half-saturation", str(args["half_saturation_constant"]), "--out", str(out), "--overwrite"]
    if args["access_vector_path"]:
        cmd += ["--access", args["access_vector_path"]]
    if args["lulc_bas_path"]:
        cmd += ["--lulc-baseline", args["lulc_bas_path"]]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def compare(a_path: Path, b_path: Path) -> dict:
    """Nodata masks and max abs difference of two single-band rasters."""
    import rasterio

    with rasterio.open(a_path) as a, rasterio.open(b_path) as b:
        x, y = a.read(1).astype(np.float64), b.read(1).astype(np.float64)
        mx = np.isclose(x, a.nodata) if a.nodata is not None else np.zeros(x.shape, bool)
        my = np.isclose(y, b.nodata) if b.nodata is not None else np.zeros(y.shape, bool)
    same = bool(np.array_equal(mx, my))
    v = ~mx & ~my
    diff = float(np.max(np.abs(x[v] - y[v]))) if v.any() else 0.0
    return {"cells": int(x.size), "nodata": int(mx.sum()), "same_mask": same, "max_abs_diff": diff,
            "mean": float(x[v].mean()) if v.any() else float("nan"), "max": float(x[v].max()) if v.any() else 0.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "_work" / "hq_validate")
    ap.add_argument("--landcover", type=Path, default=None)
    ap.add_argument("--small", action="store_true", help="small crop (quick check)")
    ap.add_argument("--cases", default="AB")
    ns = ap.parse_args()
    logging.disable(logging.INFO)
    ns.work.mkdir(parents=True, exist_ok=True)
    lc = ns.landcover or demo_landcover(ns.work)
    rows = []
    ok = True
    for case in ns.cases:
        args = build_case(case, ns.work, lc, ns.small)
        t_inv = run_invest(args)
        out = ns.work / f"case_{case}" / "biostress"
        t_bio = run_biostress(args, out)
        inv = Path(args["workspace_dir"])
        names = ["deg_sum_c", "quality_c"] + (["rarity_c"] if args["lulc_bas_path"] else [])
        import rasterio

        with rasterio.open(args["lulc_cur_path"]) as s:
            shape = f"{s.height}x{s.width} @ {s.res[0]:g} m"
        for n in names:
            r = compare(inv / f"{n}.tif", out / f"{n}.tif")
            good = r["same_mask"] and r["max_abs_diff"] <= TOL
            ok &= good
            rows.append({"case": case, "grid": shape, "output": n, **r, "ok": good, "invest_s": t_inv,
                         "biostress_s": t_bio})
        if args["lulc_bas_path"]:
            a = (inv / "rarity_c.csv").read_text().split()
            b = (out / "rarity_c.csv").read_text().split()
            csv_ok = len(a) == len(b) and all(
                x.split(",")[0] == y.split(",")[0] and (i == 0 or abs(float(x.split(",")[1]) - float(y.split(",")[1])) <= TOL)
                for i, (x, y) in enumerate(zip(a, b, strict=True)))
            ok &= csv_ok
            rows.append({"case": case, "grid": shape, "output": "rarity_c.csv", "cells": len(a) - 1, "nodata": 0,
                         "same_mask": csv_ok, "max_abs_diff": 0.0, "mean": float("nan"), "max": float("nan"),
                         "ok": csv_ok, "invest_s": t_inv, "biostress_s": t_bio})
    head = ("| case | grid | output | cells | nodata cells | same nodata mask | max abs diff | mean | max | ok | "
            "InVEST s | biostress s |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(f"| {r['case']} | {r['grid']} | {r['output']} | {r['cells']:,} | {r['nodata']:,} | {r['same_mask']} | "
                     f"{r['max_abs_diff']:.2e} | {r['mean']:.4f} | {r['max']:.4f} | {'yes' if r['ok'] else 'NO'} | "
                     f"{r['invest_s']:.1f} | {r['biostress_s']:.1f} |")
    print("\n".join(lines))
    (ns.work / "validation.json").write_text(json.dumps(rows, indent=1))
    print(f"\n{'PASS' if ok else 'FAIL'}: tolerance {TOL:g}, machine {os.uname().nodename}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
