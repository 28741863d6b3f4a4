"""Local sources: every vector format, tree registers, land-cover rasters, DEM, hexagon units, overrides.

References are independent: shapely/pyogrio round trips of the real CBS buurten, hand-computed
areas and fractions on small synthetic layouts, a closed-form hexagon area.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import yaml
from affine import Affine

from biostress.config import load_area
from biostress.landcover.rasterize import rasterize
from biostress.pipeline import prepare
from biostress.sources.vector_files import read_vector
from biostress.units import hexagons

DATA = Path(__file__).resolve().parents[1] / "examples" / "dordrecht" / "data"
X0, Y0 = 105000.0, 424000.0  # a corner inside Dordrecht (RD New)


@pytest.mark.parametrize("ext,driver", [("gpkg", "GPKG"), ("geojson", "GeoJSON"), ("shp", "ESRI Shapefile"),
                                        ("fgb", "FlatGeobuf"), ("parquet", None)])
def test_vector_formats_round_trip_real_buurten(tmp_path, ext, driver):
    ref = gpd.read_file(DATA / "cbs_buurten_2024_generalised_dordrecht.geojson")
    p = tmp_path / f"buurten.{ext}"
    if driver:
        ref.to_file(p, driver=driver)
    else:
        ref.to_parquet(p)
    got = read_vector(p)
    assert got.crs.to_epsg() == 28992
    assert sorted(got["buurtcode"]) == sorted(ref["buurtcode"])
    a = got.set_index("buurtcode").geometry.area.sort_index()
    b = ref.set_index("buurtcode").geometry.area.sort_index()
    np.testing.assert_allclose(a.values, b.values, rtol=1e-9)


def test_csv_points_real_catches():
    g = read_vector(DATA / "muskrat_coypu_catches_2019_dordrecht.csv", crs="EPSG:28992", x_column="x_rd", y_column="y_rd")
    assert len(g) == 152
    assert g.geometry.x.iloc[0] == pytest.approx(114475.1249)


def _area_yaml(tmp_path: Path, sources: list[dict], bbox=(X0, Y0, X0 + 40, Y0 + 40), cell=20, units=None) -> Path:
    doc = {"name": "test", "crs": "EPSG:28992", "cell_size": cell, "boundary": {"bbox": list(bbox)},
           "units": units or {"kind": "none", "hex_size_m": 100}, "sources": sources}
    p = tmp_path / "area.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def _src(name, kind, path, **kw):
    return {"name": name, "kind": kind, "path": path, "licence": "CC0-1.0", "attribution": "test", "date": "2025", **kw}


def test_tree_register_crowns_hand_computed(tmp_path):
    # three trees: crown 8 m given; height 12 m -> crown 6 m; nothing -> default 6 m (reported)
    (tmp_path / "trees.csv").write_text("id,x,y,kroon,hoogte,soort\n"
                                        f"1,{X0 + 10},{Y0 + 30},8,,Quercus robur\n"
                                        f"2,{X0 + 30},{Y0 + 30},,12,Tilia\n"
                                        f"3,{X0 + 10},{Y0 + 10},,,Acer\n")
    area = load_area(_area_yaml(tmp_path, [_src("trees", "tree_register", "trees.csv", crs="EPSG:28992",
                                                 crown_column="kroon", height_column="hoogte",
                                                 species_column="soort")]))
    prep = prepare(area)
    lc = rasterize(prep.pieces, prep.grid, prep.legend.codes, prep.boundary)
    tr = lc.fraction(prep.legend.by_key("trees_woodland").code)
    # polygon with 24 sides (quad_segs=6) inscribed in radius r: n/2 r^2 sin(2 pi / n)
    def ngon(r):
        return 24 / 2 * r * r * math.sin(2 * math.pi / 24)
    # sampling bound: 1 m sub-cells, so at most half a sub-cell along the crown's perimeter
    def tol(r):
        return 2 * math.pi * r * 0.5 / 400
    assert tr[0, 0] == pytest.approx(ngon(4.0) / 400, abs=tol(4.0))   # top-left 20 m cell: crown 8 m
    assert tr[0, 1] == pytest.approx(ngon(3.0) / 400, abs=tol(3.0))   # top-right: from height 12 m
    assert tr[1, 0] == pytest.approx(ngon(3.0) / 400, abs=tol(3.0))   # bottom-left: default 6 m
    assert tr[0, 0] > tr[0, 1]
    assert tr[1, 1] == 0
    assert any("1 of 3 tree(s) have no usable crown or height" in n for n in prep.notes)
    trees = prep.context["trees_trees"]
    assert trees["crown_diameter_m"].tolist() == [8.0, 6.0, 6.0]
    assert trees["species"].tolist() == ["Quercus robur", "Tilia", "Acer"]
    assert trees.geom_type.eq("Point").all()


def _write_raster(path: Path, arr: np.ndarray, x0: float, y1: float, res: float, crs="EPSG:28992", nodata=0):
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1, dtype=arr.dtype,
                       crs=crs, transform=Affine(res, 0, x0, 0, -res, y1), nodata=nodata) as d:
        d.write(arr, 1)


def test_worldcover_raster_fractions_and_background_fill(tmp_path):
    # 10 m WorldCover codes on a 40 x 40 m area; grid of 20 m cells -> 4 source pixels per cell
    wc = np.array([[10, 10, 30, 40],
                   [10, 30, 30, 40],
                   [80, 80, 50, 50],
                   [80, 0, 50, 50]], dtype=np.uint8)
    _write_raster(tmp_path / "wc.tif", wc, X0, Y0 + 40, 10)
    # a building polygon (vector) covering the left half of the bottom-right cell
    gpd.GeoDataFrame({"t": ["pand"]}, geometry=[shapely.box(X0 + 20, Y0, X0 + 30, Y0 + 20)], crs=28992).to_file(
        tmp_path / "b.gpkg")
    area = load_area(_area_yaml(tmp_path, [
        _src("wc", "landcover_raster", "wc.tif", scheme="worldcover"),
        _src("bgt", "landcover_vector", "b.gpkg", class_column="t", class_map={"pand": "building"}),
    ]))
    prep = prepare(area)
    lc = rasterize(prep.pieces, prep.grid, prep.legend.codes, prep.boundary, rasters=prep.rasters)
    L = prep.legend
    f = {k: lc.fraction(L.by_key(k).code) for k in ("trees_woodland", "lawn_grass", "arable", "water", "urban_mixed",
                                                     "building")}
    assert f["trees_woodland"][0, 0] == pytest.approx(0.75) and f["lawn_grass"][0, 0] == pytest.approx(0.25)
    assert f["lawn_grass"][0, 1] == pytest.approx(0.5) and f["arable"][0, 1] == pytest.approx(0.5)
    # bottom-left: 3 water pixels and one nodata pixel -> 0.75 water, 0.25 unknown (not guessed)
    assert f["water"][1, 0] == pytest.approx(0.75) and lc.fraction(0)[1, 0] == pytest.approx(0.25)
    # bottom-right: building covers 0.5 (vector wins), the raster fills the other half
    assert f["building"][1, 1] == pytest.approx(0.5) and f["urban_mixed"][1, 1] == pytest.approx(0.5)
    assert lc.decided_by[0, 0] == 0 and lc.decided_by[1, 1] in (0, 1)


def test_corine_unknown_code_is_reported(tmp_path):
    arr = np.full((4, 4), 311, dtype=np.int16)
    arr[0, 0] = 777  # not a CORINE code
    _write_raster(tmp_path / "clc.tif", arr, X0, Y0 + 40, 10, nodata=-128)
    area = load_area(_area_yaml(tmp_path, [_src("clc", "landcover_raster", "clc.tif", scheme="corine")], cell=10))
    prep = prepare(area)
    assert any("777" in n and "not in the corine mapping" in n for n in prep.notes)
    lc = rasterize(prep.pieces, prep.grid, prep.legend.codes, prep.boundary, rasters=prep.rasters)
    assert lc.fraction(prep.legend.by_key("trees_woodland").code)[1, 1] == pytest.approx(1.0)
    assert lc.fraction(0)[0, 0] == pytest.approx(1.0)


def test_dem_block_average_hand_computed(tmp_path):
    # 5 m DEM of the plane z = 0.01 * (x - X0) + 2; the 10 m cell average equals z at the cell centre
    n = 8
    xs = X0 + 2.5 + 5 * np.arange(n)
    z = np.tile(0.01 * (xs - X0) + 2.0, (n, 1)).astype(np.float32)
    _write_raster(tmp_path / "ahn.tif", z, X0, Y0 + 40, 5, nodata=-9999.0)
    (tmp_path / "g.geojson").write_text(gpd.GeoDataFrame({"t": ["g"]}, geometry=[shapely.box(X0, Y0, X0 + 40, Y0 + 40)],
                                                         crs=28992).to_json())
    area = load_area(_area_yaml(tmp_path, [
        _src("g", "landcover_vector", "g.geojson", class_column="t", class_map={"g": "lawn_grass"}),
        _src("ahn", "dem", "ahn.tif")], cell=10))
    from biostress.pipeline import run_area

    res = run_area(area, tmp_path / "run")
    with rasterio.open(res.out_dir / "dem_ahn.tif") as src:
        got = src.read(1)
    centres = X0 + 5 + 10 * np.arange(4)
    np.testing.assert_allclose(got, np.tile(0.01 * (centres - X0) + 2.0, (4, 1)), atol=1e-5)


def test_override_source_takes_its_polygon(tmp_path):
    gpd.GeoDataFrame({"t": ["pand"]}, geometry=[shapely.box(X0, Y0, X0 + 40, Y0 + 40)], crs=28992).to_file(
        tmp_path / "b.gpkg")
    gpd.GeoDataFrame({"type": ["bos", "onbekend"]}, geometry=[shapely.box(X0, Y0 + 20, X0 + 20, Y0 + 40),
                                                              shapely.box(X0 + 20, Y0, X0 + 40, Y0 + 20)],
                     crs=28992).to_file(tmp_path / "groen.gpkg")
    area = load_area(_area_yaml(tmp_path, [
        _src("national", "landcover_vector", "b.gpkg", class_column="t", class_map={"pand": "building"}),
        _src("local", "landcover_vector", "groen.gpkg", class_column="type", class_map={"bos": "trees_woodland"},
             override=True, priority=10),
    ]))
    prep = prepare(area)
    lc = rasterize(prep.pieces, prep.grid, prep.legend.codes, prep.boundary)
    tr = prep.legend.by_key("trees_woodland").code
    assert lc.dominant[0, 0] == tr and lc.decided_by[0, 0] == 1
    assert lc.dominant[1, 1] == prep.legend.by_key("building").code and lc.decided_by[1, 1] == 0
    assert any("onbekend" in n and "match no mapping rule" in n for n in prep.notes)


def test_hexagon_units_cover_the_boundary():
    boundary = shapely.Polygon([(0, 0), (1000, 0), (1300, 800), (200, 900)])
    h = hexagons(boundary, 100.0, "EPSG:28992")
    assert h.geometry.area.sum() == pytest.approx(boundary.area, rel=1e-9)
    assert not h["code"].duplicated().any()
    s = 100.0 / math.sqrt(3)
    full = h.geometry.area.max()
    assert full == pytest.approx(3 * math.sqrt(3) / 2 * s * s, rel=1e-9)
    # hexagons do not overlap
    assert shapely.union_all(h.geometry.values).area == pytest.approx(h.geometry.area.sum(), rel=1e-9)
