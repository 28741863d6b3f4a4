"""Zonal statistics over any polygons and managed objects (biostress.aggregate).

A tiny run folder is built by hand: a 30 x 24 grid of 10 m cells with a known ``green_share`` raster
(value = (row * 31 + col) % 17 / 16, some cells NaN), land cover with lawn / tree / garden blocks of known size,
and a ``roads`` layer. References are computed independently in the tests:

* zonal statistics: for every cell, the shapely intersection of the polygon with the cell box gives the weight
  ``w = area / cell area``; ``mean = sum w v / sum w`` over the cells with a value, ``sum = sum w v``,
  ``count = sum w`` - partial cells, holes, cells outside the grid and NaN cells included;
* street segments and verges: areas of flat-capped buffers of straight lines written out by hand;
* parks and woods: 4-connected blocks of whole cells, areas = cells x 100 m2.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from biostress.aggregate import (
    aggregate_objects,
    green_components,
    managed_objects,
    street_segments,
    zonal_stats,
)
from biostress.aggregate.objects import split_line, verges
from biostress.errors import ConfigError, InputDataError
from biostress.grid import Grid
from biostress.indicator_stage import dominant_of
from biostress.landcover.legend import load_legend
from biostress.runs import open_run
from biostress.store.runfolder import RunFolder

CELL = 10.0
H, W = 24, 30
GRID = Grid(crs="EPSG:28992", x0=150000.0, y1=420000.0, cell=CELL, width=W, height=H)
X0, Y0, X1, Y1 = GRID.bounds
LEGEND = load_legend()
K = LEGEND.keys.index


def _green() -> np.ndarray:
    r, c = np.mgrid[0:H, 0:W]
    v = ((r * 31 + c) % 17 / 16.0).astype(np.float32)
    v[3:6, 4:9] = np.nan  # a block of cells without a value
    v[10, :] = np.nan  # and a whole row
    return v


def _fractions() -> np.ndarray:
    fr = np.zeros((len(LEGEND.keys), H, W), np.float32)
    fr[K("paved_other")] = 1.0
    blocks = {
        "lawn_grass": [(1, 9, 1, 8)],  # rows 1-8, cols 1-7: 56 cells = 0.56 ha
        "trees_woodland": [(1, 9, 8, 15),  # 56 cells next to the lawn: one park of 112 cells with it
                           (14, 22, 20, 27)],  # 56 cells alone: a wood and a park
        "shrub": [(12, 16, 1, 5),  # 16 cells = 0.16 ha: too small
                  (16, 20, 5, 9)],  # 16 cells touching the one above only at a corner: separate
        "garden_allotment": [(14, 22, 10, 18)],  # 64 cells: private, never a park
    }
    for key, bl in blocks.items():
        for r0, r1, c0, c1 in bl:
            fr[:, r0:r1, c0:c1] = 0.0
            fr[K(key), r0:r1, c0:c1] = 1.0
    return fr


ROADS = gpd.GeoDataFrame(
    {"class": ["minor", "path", "minor", "ferry", "minor"], "brunnel": [None, None, "tunnel", None, None]},
    geometry=[shapely.LineString([(X0 + 20, Y0 + 60), (X0 + 20 + 600, Y0 + 60)]),  # 600 m (runs off the grid)
              shapely.LineString([(X0 + 30, Y0 + 200), (X0 + 130, Y0 + 200)]),  # 100 m path
              shapely.LineString([(X0, Y0), (X0 + 50, Y0)]),  # tunnel: not a surface
              shapely.LineString([(X0, Y0 + 5), (X0 + 50, Y0 + 5)]),  # ferry: not a surface
              shapely.LineString([(X0 + 1000, Y0 + 1000), (X0 + 1000, Y0 + 1100)])],  # off the grid, 100 m
    crs="EPSG:28992")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("agg") / "run"
    fr = _fractions()
    with RunFolder(path) as run:
        run.set_grid(GRID)
        run.write_raster("landcover_fractions", fr, GRID, units="fraction", description="fractions",
                         nodata=float("nan"), band_names=LEGEND.keys)
        run.write_raster("landcover", dominant_of(fr, LEGEND), GRID, units="class", description="dominant",
                         nodata=255)
        run.write_raster("green_share", _green(), GRID, units="0-1", description="green", nodata=float("nan"))
        run.write_vector("roads", ROADS, units=None, description="roads")
    return path


# ------------------------------------------------------------------------------------ independent reference
def _reference(poly, values: np.ndarray) -> tuple[float, float, float]:
    """(mean, sum, count) from shapely intersections of ``poly`` with every cell box."""
    sw = swv = 0.0
    for r in range(H):
        for c in range(W):
            box = shapely.box(X0 + c * CELL, Y1 - (r + 1) * CELL, X0 + (c + 1) * CELL, Y1 - r * CELL)
            w = poly.intersection(box).area / CELL**2
            if w > 0 and np.isfinite(values[r, c]):
                sw += w
                swv += w * float(values[r, c])
    return (swv / sw if sw > 0 else math.nan), (swv if sw > 0 else math.nan), sw


POLYS = {
    "triangle": shapely.Polygon([(X0 + 13, Y1 - 7), (X0 + 187, Y1 - 33), (X0 + 61, Y1 - 154)]),
    "rotated": shapely.affinity.rotate(shapely.box(X0 + 103, Y0 + 41, X0 + 181, Y0 + 119), 27),
    "holed": shapely.box(X0 + 35, Y1 - 95, X0 + 145, Y1 - 15).difference(
        shapely.box(X0 + 55, Y1 - 70, X0 + 85, Y1 - 40)),
    "half_outside": shapely.box(X1 - 25, Y0 + 5, X1 + 40, Y0 + 37),
    "on_nan_row": shapely.box(X0 + 12, Y1 - 108, X0 + 88, Y1 - 102),  # inside row 10 only: all NaN
    "outside": shapely.box(X1 + 100, Y1 + 100, X1 + 150, Y1 + 150),
}


def test_zonal_stats_match_shapely_cell_intersections(run_dir):
    gdf = gpd.GeoDataFrame({"name": list(POLYS)}, geometry=list(POLYS.values()), crs="EPSG:28992")
    gdf.index = [10, 11, 12, 13, 14, 15]  # the result keeps the polygons' index
    z = zonal_stats(run_dir, gdf, "green_share", ("mean", "sum", "count", "min", "max"))
    assert list(z.index) == [10, 11, 12, 13, 14, 15]
    g = _green()
    for i, (name, poly) in zip(gdf.index, POLYS.items(), strict=True):
        mean, total, count = _reference(poly, g)
        if name in ("on_nan_row", "outside"):
            assert math.isnan(z.loc[i, "green_share_mean"]) and math.isnan(z.loc[i, "green_share_sum"]), name
            assert z.loc[i, "green_share_count"] == 0.0
            continue
        assert z.loc[i, "green_share_mean"] == pytest.approx(mean, rel=1e-6), name
        assert z.loc[i, "green_share_sum"] == pytest.approx(total, rel=1e-6), name
        assert z.loc[i, "green_share_count"] == pytest.approx(count, rel=1e-6), name
    # min / max over the cells touched: the triangle's corner cell (0, 1) holds (0*31+1)%17/16
    assert z.loc[10, "green_share_min"] <= 1 / 16 <= z.loc[10, "green_share_max"]


def test_zonal_stats_nan_cells_neither_zero_nor_diluting(run_dir):
    # a box of 2 x 1 cells: one NaN cell (row 3, col 4) and one valued (row 3, col 3): mean = the valued cell
    poly = shapely.box(X0 + 30, Y1 - 40, X0 + 50, Y1 - 30)
    z = zonal_stats(run_dir, [poly], ["green_share"], ("mean", "count"))
    assert z["green_share_mean"].iloc[0] == pytest.approx((3 * 31 + 3) % 17 / 16, abs=1e-7)
    assert z["green_share_count"].iloc[0] == pytest.approx(1.0)


def test_zonal_stats_multiband_named_by_class(run_dir):
    poly = POLYS["rotated"]
    z = zonal_stats(run_dir, gpd.GeoSeries([poly], crs="EPSG:28992"), "landcover_fractions", ("mean",))
    fr = _fractions()
    for key in ("trees_woodland", "paved_other", "garden_allotment"):
        assert z[f"landcover_fractions_{key}_mean"].iloc[0] == pytest.approx(_reference(poly, fr[K(key)])[0], abs=1e-6)


def test_zonal_stats_reprojects_polygons(run_dir):
    poly = POLYS["triangle"]
    wgs = gpd.GeoSeries([poly], crs="EPSG:28992").to_crs("EPSG:4326")
    z = zonal_stats(run_dir, wgs, "green_share")
    assert z["green_share_mean"].iloc[0] == pytest.approx(_reference(poly, _green())[0], rel=1e-4)


def test_zonal_stats_bad_input(run_dir):
    with pytest.raises(ConfigError, match="Unknown zonal statistic"):
        zonal_stats(run_dir, [POLYS["triangle"]], "green_share", ("average",))
    with pytest.raises(InputDataError, match="no raster 'heat_mitigation'"):
        zonal_stats(run_dir, [POLYS["triangle"]], "heat_mitigation")
    with pytest.raises(InputDataError, match="needs polygons"):
        zonal_stats(run_dir, [shapely.LineString([(X0, Y0), (X1, Y1)])], "green_share")
    with pytest.raises(InputDataError, match="not a biostress run folder"):
        zonal_stats(run_dir.parent / "nowhere", [POLYS["triangle"]], "green_share")


# ---------------------------------------------------------------------------------------------- streets
def test_split_line_equal_pieces():
    line = shapely.LineString([(0, 0), (300, 0), (300, 300)])  # 600 m with a bend
    pieces = split_line(line, 250)
    assert len(pieces) == 3  # ceil(600 / 250)
    assert [p.length for p in pieces] == pytest.approx([200, 200, 200])
    assert pieces[1].coords[0] == pytest.approx((200, 0)) and pieces[1].coords[-1] == pytest.approx((300, 100))
    assert len(split_line(line, 600)) == 1 and len(split_line(line, 599.9)) == 2


def test_street_segments_lengths_and_buffers(run_dir):
    seg = street_segments(run_dir, max_length_m=250)
    # minor street: 600 m -> 3 x 200 m; path: 100 m -> 1; the far minor street: 100 m -> 1; tunnel, ferry: none
    assert sorted(seg["class"]) == ["minor"] * 4 + ["path"]
    minor = seg[(seg["class"] == "minor") & (seg["length_m"] > 150)]
    assert list(minor["length_m"]) == pytest.approx([200, 200, 200])
    # minor streets are 7 m wide in landcover_mapping.csv (half 3.5 m) + 5 m verge: 200 m x 2 x 8.5 m
    assert list(minor["half_width_m"]) == [3.5] * 3
    assert list(minor.geometry.area) == pytest.approx([200 * 2 * 8.5] * 3)
    path = seg[seg["class"] == "path"].iloc[0]
    assert path["half_width_m"] == 1.25 and path.geometry.area == pytest.approx(100 * 2 * 6.25)
    assert seg["id"].tolist() == list(range(len(seg)))
    assert seg["length_m"].sum() == pytest.approx(800)


def test_street_segments_without_roads_layer(tmp_path):
    path = tmp_path / "run"
    fr = _fractions()
    with RunFolder(path) as run:
        run.set_grid(GRID)
        run.write_raster("landcover_fractions", fr, GRID, units="fraction", description="f", nodata=float("nan"),
                         band_names=LEGEND.keys)
        run.write_raster("landcover", dominant_of(fr, LEGEND), GRID, units="class", description="d", nodata=255)
    with pytest.raises(InputDataError, match="no 'roads' layer"):
        street_segments(path)
    objs = managed_objects(path)
    assert "verges" not in objs and len(objs["parks"]) == 2


def test_verges_cut_out_every_carriageway():
    # two 'minor' streets of 100 m crossing in their middles; half-width 3.5 m, verge 5 m
    a = shapely.LineString([(0, 50), (100, 50)])
    b = shapely.LineString([(50, 0), (50, 100)])
    seg = gpd.GeoDataFrame({"id": [0, 1], "class": ["minor", "minor"], "half_width_m": [3.5, 3.5],
                            "line": shapely.to_wkt([a, b])},
                           geometry=shapely.buffer([a, b], 8.5, cap_style="flat"), crs="EPSG:28992")
    v = verges(seg)
    # outer 100 x 17 = 1700; own carriageway 100 x 7 = 700; the other carriageway inside the outer buffer
    # 7 x 17 = 119, of which 7 x 7 = 49 overlaps the own carriageway: verge = 1700 - (700 + 119 - 49) = 930
    assert list(v["area_m2"]) == pytest.approx([930, 930])
    assert not v.geometry.iloc[0].intersects(shapely.buffer(b, 3.4, cap_style="flat"))


def test_managed_objects_parks_woods_and_verge_green(run_dir):
    objs = managed_objects(run_dir)
    parks = objs["parks"].sort_values("cells").reset_index(drop=True)
    # lawn (56) + trees (56) joined = 112 cells; the lone tree block 56; shrubs (16 + 16) too small; gardens never
    assert list(parks["cells"]) == [56, 112]
    assert list(parks["area_ha"]) == pytest.approx([0.56, 1.12])
    assert list(parks.geometry.area) == pytest.approx([5600, 11200])
    lone = shapely.box(X0 + 200, Y1 - 220, X0 + 270, Y1 - 140)
    assert parks.geometry.iloc[0].equals(lone)
    woods = objs["woods"]
    assert sorted(woods["cells"]) == [56, 56]  # the two tree blocks, each >= 0.5 ha
    # garden block 64 cells = 0.64 ha is not public green: no park covers it
    garden = shapely.box(X0 + 100, Y1 - 220, X0 + 180, Y1 - 140)
    assert all(p.intersection(garden).area == 0 for p in objs["parks"].geometry)
    # the verge of the first 200 m of the minor street: 200 x 2 x 5 = 2000 m2, green share from the raster
    v = objs["verges"]
    first = v.iloc[0]
    assert first["area_m2"] == pytest.approx(2000)
    assert first["green_share_mean"] == pytest.approx(_reference(first.geometry, _green())[0], rel=1e-6)
    assert first["green_m2"] == pytest.approx(first["green_share_mean"] * 2000)


def test_green_components_min_area_and_connectivity():
    grid = Grid(crs="EPSG:28992", x0=0.0, y1=100.0, cell=10.0, width=10, height=10)
    dom = np.zeros((10, 10), np.uint8)
    dom[0:5, 0:5] = 7  # 25 cells = 0.25 ha
    dom[5:10, 5:10] = 7  # touches the first block only at a corner: a separate 4-connected area
    out = green_components(dom, [7], grid, 0.25)
    assert sorted(out["cells"]) == [25, 25]
    assert len(green_components(dom, [7], grid, 0.26)) == 0


def test_aggregate_objects_adds_indicator_means(run_dir):
    objs = aggregate_objects(run_dir, ["green_share"], ops=("mean",))
    assert set(objs) == {"street_segments", "verges", "parks", "woods"}
    g = _green()
    for name in ("parks", "woods", "street_segments"):
        gdf = objs[name]
        for _, row in gdf.iterrows():
            ref = _reference(row.geometry, g)[0]
            if math.isnan(ref):
                assert math.isnan(row["green_share_mean"])
            else:
                assert row["green_share_mean"] == pytest.approx(ref, rel=1e-6), name
    # segments off the grid (the last 200 m of the long street, the far street) have no value
    far = objs["street_segments"][objs["street_segments"].geometry.bounds["minx"] > X1]
    assert len(far) == 2 and far["green_share_mean"].isna().all()


def test_open_run_object_accepted(run_dir):
    run = open_run(run_dir)
    z = zonal_stats(run, [POLYS["holed"]], "green_share")
    assert z["green_share_mean"].iloc[0] == pytest.approx(_reference(POLYS["holed"], _green())[0], rel=1e-6)
