"""The indicator stage streams over the grid: tile by tile (with halos) for local indicators, on a
coarsened grid for global ones when the grid is large. The tiled result must equal the whole-grid
one; the coarsening must keep areas (block means of cover fractions, checked by hand)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely

from biostress.grid import Grid
from biostress.indicator_stage import (
    RasterFiles,
    StageInputs,
    coarse_grid,
    coarsen_factor,
    dominant_of,
    module_reach,
    run_indicators,
    tile_windows,
)
from biostress.landcover.legend import load_legend
from biostress.store.cog import write_cog
from biostress.store.runfolder import RunFolder

LOCAL = ["green", "habitat_quality", "heat", "flooding", "drought", "nitrogen", "disturbance"]


def _landcover(tmp: Path, cell: float = 20.0, shape: tuple[int, int] = (200, 180)):
    """A synthetic town: smooth random blobs of buildings, paved, roads, grass, trees, water and
    arable land, a round area boundary (cells outside are NaN / 255)."""
    from scipy.ndimage import gaussian_filter

    legend = load_legend()
    rng = np.random.default_rng(3)
    keys = ["building", "paved_other", "road", "lawn_grass", "trees_woodland", "water", "arable", "garden_allotment"]
    h, w = shape
    raw = np.stack([gaussian_filter(rng.random((h, w)), 3) ** 6 for _ in keys])
    raw /= raw.sum(axis=0)
    fr = np.zeros((len(legend.keys), h, w), np.float32)
    for k, a in zip(keys, raw, strict=True):
        fr[legend.keys.index(k)] = a
    fr[:, 60:100, 40:90] = 0.0  # an 80 ha wood next to the town: park cooling reaches out of it
    fr[legend.keys.index("trees_woodland"), 60:100, 40:90] = 1.0
    yy, xx = np.mgrid[0:h, 0:w]
    inside = ((yy - h / 2) / (h * 0.48)) ** 2 + ((xx - w / 2) / (w * 0.48)) ** 2 <= 1
    fr[:, ~inside] = np.nan
    grid = Grid(crs="EPSG:28992", x0=100000.0, y1=430000.0, cell=cell, width=w, height=h)
    dom = dominant_of(fr, legend)
    fp, dp = tmp / "fractions.tif", tmp / "landcover.tif"
    write_cog(fp, fr, grid, nodata=float("nan"))
    write_cog(dp, dom, grid, nodata=255)
    x0, y0, x1, y1 = grid.bounds
    roads = gpd.GeoDataFrame({"class": ["primary", "minor", "motorway"]}, geometry=[
        shapely.LineString([(x0, y0 + 2000), (x1, y0 + 2500)]),
        shapely.LineString([(x0 + 3000, y0), (x0 + 3100, y1)]),
        shapely.LineString([(x0 + 500, y1 - 300), (x1 - 800, y0 + 700)])], crs=28992)
    units = gpd.GeoDataFrame({"code": ["a", "b", "c"]}, geometry=[
        shapely.box(x0, y0, x0 + 3210, y1), shapely.Point(x0 + 4000, y0 + 3000).buffer(1500),
        shapely.box(x0 + 3210, y0 + 111, x1, y1 - 97)], crs=28992)
    return grid, legend, fp, dp, roads, units


def _run(tmp: Path, name: str, grid, legend, fp, dp, roads, units, **kw):
    ug = {"buurt": units.copy()}
    inp = StageInputs(grid, legend, fp, dp, units=ug, layers={"roads": roads}, **kw)
    with RunFolder(tmp / name) as run:
        rep = run_indicators(run, inp)
    return rep, ug["buurt"], tmp / name


def test_tiled_equals_whole_grid(tmp_path: Path):
    grid, legend, fp, dp, roads, units = _landcover(tmp_path)
    kw = {"enabled": LOCAL, "stress_test": True, "potential": True, "opportunity": True}
    rep1, u1, out1 = _run(tmp_path, "whole", grid, legend, fp, dp, roads, units, tile_cells=4096, **kw)
    rep2, u2, out2 = _run(tmp_path, "tiled", grid, legend, fp, dp, roads, units, tile_cells=50, **kw)
    assert rep1.tiles == 1 and rep2.tiles == 16  # 200 x 180 cells in tiles of 50 -> 4 x 4
    # the halo covers the largest reach: habitat-quality threats reach 1200 m = 60 cells of 20 m
    assert rep2.halo_cells >= 1200 / 20
    assert set(rep1.outputs) == set(rep2.outputs)
    assert {"green_share", "habitat_quality", "heat_mitigation", "runoff_depth", "light_proxy",
            "noise_road_proxy", "stress_class", "stress_score", "potential_landcover", "gap_green_share",
            "potential_habitat_quality", "opportunity_gain", "opportunity_best_measure"} <= set(rep1.outputs)
    for name in rep1.outputs:
        with rasterio.open(out1 / f"{name}.tif") as a, rasterio.open(out2 / f"{name}.tif") as b:
            x, y = a.read(1).astype(np.float64), b.read(1).astype(np.float64)
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=name)
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-4, equal_nan=True, err_msg=name)
    with rasterio.open(out1 / "heat_mitigation.tif") as a, rasterio.open(out1 / "cooling_capacity.tif") as b:
        assert np.nansum(a.read(1) > b.read(1) + 0.01) > 100  # park cooling is exercised (and crosses tiles)
    # per unit, the stress class of the unit's mean score, by the bounds of the class table
    import csv

    from biostress.indicators.base import params_path

    text = params_path("stresstest_classes.csv").read_text(encoding="utf-8").splitlines()
    rows = list(csv.DictReader(line for line in text if not line.startswith("#")))
    lowers = sorted(float(r["lower"]) for r in rows)
    for mean, cls in zip(u1["stress_score_mean"], u1["stress_class"], strict=True):
        assert cls == sum(1 for lo in lowers if mean >= lo)
    cols = [c for c in u1.columns if c.endswith(("_mean", "_max"))]
    assert cols
    for c in cols:
        np.testing.assert_allclose(u1[c].to_numpy(float), u2[c].to_numpy(float), rtol=1e-4, atol=1e-4, err_msg=c)


def test_tiles_cover_the_grid_once():
    wins = tile_windows((150, 130), 40)
    assert len(wins) == 16
    cover = np.zeros((150, 130), int)
    for r0, r1, c0, c1 in wins:
        cover[r0:r1, c0:c1] += 1
    assert (cover == 1).all()


def test_read_coarse_is_the_area_weighted_block_mean(tmp_path: Path):
    grid = Grid(crs="EPSG:28992", x0=0.0, y1=50.0, cell=10.0, width=5, height=5)
    a = np.arange(25, dtype=np.float32).reshape(5, 5)
    a[0, 0] = np.nan
    write_cog(tmp_path / "a.tif", a, grid, nodata=float("nan"))
    files = RasterFiles(grid)
    files.add("a", tmp_path / "a.tif")
    c = files.read_coarse("a", 2, area_share=True)
    assert c.shape == (3, 3)
    # block (0,0) = cells 0(NaN),1,5,6 -> (0+1+5+6)/4 as a share of the whole coarse cell
    assert c[0, 0] == pytest.approx((1 + 5 + 6) / 4)
    # the last column block holds 2 real cells (4, 9) of 4: still / 4
    assert c[0, 2] == pytest.approx((4 + 9) / 4)
    m = files.read_coarse("a", 2)  # plain mean of the finite cells
    assert m[0, 0] == pytest.approx((1 + 5 + 6) / 3) and m[0, 2] == pytest.approx((4 + 9) / 2)
    assert m[2, 2] == pytest.approx(24.0)
    assert coarse_grid(grid, 2).shape == (3, 3) and coarse_grid(grid, 2).cell == 20.0


def test_coarsen_factor_bounds_the_cell_count():
    assert coarsen_factor((100, 100), 10_000) == 1
    f = coarsen_factor((8014, 11597), 9_000_000)
    assert -(-8014 // f) * -(-11597 // f) <= 9_000_000 < -(-8014 // (f - 1)) * -(-11597 // (f - 1))


def test_global_indicator_is_coarsened_on_a_large_grid_and_says_so(tmp_path: Path):
    grid, legend, fp, dp, roads, units = _landcover(tmp_path)
    rep, u, out = _run(tmp_path, "g", grid, legend, fp, dp, roads, units, enabled=["green", "fragmentation"],
                       global_max_cells=5000)
    f = rep.coarsened["fragmentation"]
    assert f == coarsen_factor(grid.shape, 5000) and f > 1
    with rasterio.open(out / "fragmentation_habitat.tif") as src:
        assert src.shape == grid.shape  # written back at full resolution
        arr = src.read(1)
    # nearest upsampling: every f x f block holds one value
    blk = arr[:f * (grid.height // f), :f * (grid.width // f)].reshape(grid.height // f, f, grid.width // f, f)
    first = blk[:, :1, :, :1]
    same = (blk == first) | (np.isnan(blk) & np.isnan(first))
    assert same.all()
    import json
    warnings = json.loads((out / "manifest.json").read_text())["warnings"]
    assert any("fragmentation" in w and f"{f} x {f}" in w for w in warnings)


def test_reach_of_the_local_indicators():
    from biostress.indicators.habitat_quality import load_params

    assert module_reach("habitat_quality", None, False) == max(t.max_dist for t in load_params().threats.values())
    assert module_reach("green", None, False) == 0.0
    from biostress.indicators.heat import load_params as heat_params

    assert module_reach("heat", None, False) == 5 * heat_params().cooling_distance_m  # InVEST kernel cut-off
    from biostress.indicators.drought import load_params as drought_params

    assert module_reach("drought", None, False) == drought_params().proxy_radius_m
    assert module_reach("flooding", None, False) == 0.0 and module_reach("flooding", None, True) is None
    assert module_reach("guide_species", None, False) is None


def test_species_records_coarsening_keeps_whole_aggregation_cells(tmp_path: Path):
    grid, legend, fp, dp, roads, units = _landcover(tmp_path)  # 20 m cells
    rep, u, out = _run(tmp_path, "sr", grid, legend, fp, dp, roads, units, enabled=["species_records"],
                       global_max_cells=5000, options={"species_records": {"cell_m": 100.0}})
    f = rep.coarsened["species_records"]
    assert f > 1 and (100.0 / 20.0) % f == 0  # 100 m = 5 cells of 20 m: f divides it
