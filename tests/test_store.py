"""Tests of the default store: QML styles, COG, GeoPackage (+ QGIS layer_styles), RunFolder."""

from __future__ import annotations

import json
import os
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from shapely.geometry import LineString, Point, box

try:
    import biostress.store  # noqa: F401
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from biostress.errors import BiostressError, InputDataError, OutputExistsError
from biostress.grid import Grid
from biostress.store import (
    MANIFEST_NAME,
    RunFolder,
    default_style,
    list_layers,
    qml,
    read_layer,
    sha256_file,
    write_cog,
    write_layer,
    write_table,
)
from biostress.store import runfolder as runfolder_mod
from biostress.store.gpkg import LAYER_STYLES_COLUMNS

SRC_DIR = Path(runfolder_mod.__file__).resolve().parents[2]
CRS = "EPSG:28992"


def _grid(width: int, height: int, cell: float = 10.0) -> Grid:
    return Grid(CRS, 120000.0, 430000.0 + height * cell, cell, width, height)


def _parse_qml(text: str) -> ET.Element:
    return ET.fromstring(text)  # must cope with the <!DOCTYPE> line


def _tree(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file below ``folder``."""
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def _siblings(out: Path, tag: str) -> list[Path]:
    return sorted(p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.{tag}-"))


# ---------------------------------------------------------------------------------------------
# A small TIFF reader to check the COG layout independently of GDAL
# ---------------------------------------------------------------------------------------------

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8, 17: 8, 18: 8}
_TYPE_FMT = {3: "H", 4: "I", 16: "Q"}


def _read_ifds(path: Path) -> tuple[bytes, int, list[dict[int, list[int]]]]:
    """(file head, offset of the first IFD, [{tag: values}] for integer tags of each IFD)."""
    data = path.read_bytes()
    bo = {b"II": "<", b"MM": ">"}[data[:2]]
    magic = struct.unpack(bo + "H", data[2:4])[0]
    big = magic == 43
    assert magic in (42, 43)
    first = struct.unpack(bo + "Q", data[8:16])[0] if big else struct.unpack(bo + "I", data[4:8])[0]
    ifds = []
    off = first
    while off:
        if big:
            n = struct.unpack(bo + "Q", data[off : off + 8])[0]
            pos, esize, inline = off + 8, 20, 8
        else:
            n = struct.unpack(bo + "H", data[off : off + 2])[0]
            pos, esize, inline = off + 2, 12, 4
        tags: dict[int, list[int]] = {}
        for i in range(n):
            e = data[pos + i * esize : pos + (i + 1) * esize]
            tag, typ = struct.unpack(bo + "HH", e[:4])
            count = struct.unpack(bo + ("Q" if big else "I"), e[4 : 12 if big else 8])[0]
            raw = e[12:] if big else e[8:]
            if typ not in _TYPE_FMT:
                continue
            size = _TYPE_SIZES[typ] * count
            if size <= inline:
                buf = raw[:size]
            else:
                voff = struct.unpack(bo + ("Q" if big else "I"), raw)[0]
                buf = data[voff : voff + size]
            tags[tag] = list(struct.unpack(bo + _TYPE_FMT[typ] * count, buf))
        ifds.append({"offset": [off], **tags})
        nxt = data[pos + n * esize : pos + n * esize + (8 if big else 4)]
        off = struct.unpack(bo + ("Q" if big else "I"), nxt)[0]
    return data[: first + 16], first, ifds


def assert_cog_layout(path: Path) -> None:
    """The guarantees of GDAL's COG layout, checked on the bytes: ghost header, tiled IFDs,
    all IFDs before the image data, overview data before full-resolution data."""
    head, first_ifd, ifds = _read_ifds(path)
    assert b"GDAL_STRUCTURAL_METADATA_SIZE=" in head[:64]
    assert b"LAYOUT=IFDS_BEFORE_DATA" in head
    assert b"BLOCK_ORDER=ROW_MAJOR" in head
    assert all(322 in ifd and 323 in ifd for ifd in ifds), "every IFD must be tiled"
    widths = [ifd[256][0] for ifd in ifds]
    assert widths == sorted(widths, reverse=True), "full resolution first, then smaller overviews"
    offsets = [[o for o in ifd[324] if o] for ifd in ifds]
    first_data = min(min(o) for o in offsets if o)
    assert max(ifd["offset"][0] for ifd in ifds) < first_data, "IFDs must precede the image data"
    for big, small in zip(offsets, offsets[1:], strict=False):
        if big and small:
            assert min(big) > max(small), "overview tiles must come before full-resolution tiles"
    for offs in offsets:
        assert offs == sorted(offs), "tiles in row-major order"


# ---------------------------------------------------------------------------------------------
# QML
# ---------------------------------------------------------------------------------------------


def test_qml_raster_paletted():
    text = qml.raster_paletted([(1, "Bos", "#267300"), (2, "Water & sloot", "#0064FF"), (7, "Glas", "#ff000080")])
    assert text.startswith("<!DOCTYPE qgis")
    root = _parse_qml(text)
    assert root.tag == "qgis"
    rr = root.find("./pipe/rasterrenderer")
    assert rr is not None and rr.get("type") == "paletted" and rr.get("band") == "1"
    entries = [(e.get("value"), e.get("label"), e.get("color"), e.get("alpha")) for e in rr.iter("paletteEntry")]
    assert entries == [
        ("1", "Bos", "#267300", "255"),
        ("2", "Water & sloot", "#0064ff", "255"),
        ("7", "Glas", "#ff0000", "128"),
    ]


def test_qml_raster_pseudocolor():
    text = qml.raster_pseudocolor(0, 1.5, [(0, "#ffffcc"), (0.75, "#41b6c4"), (1.5, "#253494")], label_unit="m")
    rr = _parse_qml(text).find("./pipe/rasterrenderer")
    assert rr is not None and rr.get("type") == "singlebandpseudocolor"
    assert (rr.get("classificationMin"), rr.get("classificationMax")) == ("0", "1.5")
    shader = rr.find("./rastershader/colorrampshader")
    assert shader is not None and shader.get("colorRampType") == "INTERPOLATED"
    items = [(i.get("value"), i.get("color"), i.get("label")) for i in shader.iter("item")]
    assert items == [("0", "#ffffcc", "0 m"), ("0.75", "#41b6c4", "0.75 m"), ("1.5", "#253494", "1.5 m")]
    with pytest.raises(ValueError):
        qml.raster_pseudocolor(1, 0, [(0, "#000000"), (1, "#ffffff")])
    with pytest.raises(ValueError):
        qml.raster_pseudocolor(0, 1, [(1, "#000000"), (0, "#ffffff")])


@pytest.mark.parametrize("geometry,layer_class", [("polygon", "SimpleFill"), ("line", "SimpleLine"),
                                                  ("point", "SimpleMarker")])
def test_qml_vector_categorized(geometry, layer_class):
    text = qml.vector_categorized("klasse", [(1, "Natuur", "#00aa00"), ("b", "Bebouwd", "#cc0000")], geometry)
    root = _parse_qml(text)
    r = root.find("renderer-v2")
    assert r is not None and r.get("type") == "categorizedSymbol" and r.get("attr") == "klasse"
    cats = [(c.get("value"), c.get("type"), c.get("label"), c.get("symbol")) for c in r.iter("category")]
    assert cats == [("1", "integer", "Natuur", "0"), ("b", "string", "Bebouwd", "1")]
    symbols = r.findall("./symbols/symbol")
    assert [s.get("name") for s in symbols] == ["0", "1"]
    assert all(s.find("layer").get("class") == layer_class for s in symbols)
    colour_key = "line_color" if geometry == "line" else "color"
    colours = [s.find(f"./layer/Option/Option[@name='{colour_key}']").get("value") for s in symbols]
    assert colours == ["0,170,0,255", "204,0,0,255"]
    legacy = [s.find(f"./layer/prop[@k='{colour_key}']").get("v") for s in symbols]
    assert legacy == colours
    assert root.findtext("layerGeometryType") == {"point": "0", "line": "1", "polygon": "2"}[geometry]


def test_qml_vector_graduated_and_simple():
    text = qml.vector_graduated("score", [(0, 0.5, "laag", "#fee5d9"), (0.5, 1, "hoog", "#a50f15")])
    r = _parse_qml(text).find("renderer-v2")
    assert r is not None and r.get("type") == "graduatedSymbol" and r.get("attr") == "score"
    ranges = [(x.get("lower"), x.get("upper"), x.get("label")) for x in r.iter("range")]
    assert ranges == [("0", "0.5", "laag"), ("0.5", "1", "hoog")]
    assert "254,229,217,255" in text and "165,15,21,255" in text
    simple = _parse_qml(qml.vector_simple("#112233", "#445566", "polygon"))
    opts = {o.get("name"): o.get("value") for o in simple.iter("Option") if o.get("name")}
    assert opts["color"] == "17,34,51,255" and opts["outline_color"] == "68,85,102,255"
    with pytest.raises(ValueError):
        qml.vector_simple("red", "#000000", "polygon")
    with pytest.raises(ValueError):
        qml.vector_simple("#ff0000", "#000000", "surface")


# ---------------------------------------------------------------------------------------------
# COG
# ---------------------------------------------------------------------------------------------


def test_cog_categorical_round_trip(tmp_path):
    grid = _grid(1024, 1100)
    rng = np.random.default_rng(1)
    data = rng.choice(np.array([1, 3], np.uint8), size=grid.shape)
    data[:10, :10] = 0  # nodata
    colormap = {0: (0, 0, 0, 0), 1: (38, 115, 0, 255), 2: (0, 100, 255, 255), 3: (230, 0, 0, 255)}
    style = qml.raster_paletted([(1, "bos", "#267300"), (2, "water", "#0064ff"), (3, "bebouwd", "#e60000")])
    out = write_cog(tmp_path / "landcover.tif", data, grid, nodata=0, colormap=colormap, band_names=["klasse"],
                    units="class", description="Landgebruik", category_names=["geen", "bos", "water", "bebouwd"],
                    qml=style)
    assert out == tmp_path / "landcover.tif"
    # nothing but the COG and its sidecars is left in the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landcover.qml", "landcover.tif", "landcover.tif.aux.xml"]
    with rasterio.open(out) as src:
        assert np.array_equal(src.read(1), data)
        assert src.crs.to_epsg() == 28992
        assert src.transform == grid.transform
        assert (src.width, src.height, src.count, src.dtypes[0]) == (1024, 1100, 1, "uint8")
        assert src.nodata == 0
        assert src.descriptions == ("klasse",)
        assert src.units == ("class",)
        assert src.tags()["TIFFTAG_IMAGEDESCRIPTION"] == "Landgebruik"
        cmap = src.colormap(1)
        assert {k: cmap[k] for k in colormap} == colormap
        assert src.profile["tiled"] and src.block_shapes == [(512, 512)]
        assert src.overviews(1) == [2, 4]
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
        assert src.compression.name == "deflate"
    # overviews of classes are resampled with nearest neighbour: only existing class values
    with rasterio.open(out, overview_level=0) as ovr:
        assert set(np.unique(ovr.read(1)).tolist()) <= {0, 1, 3}
    assert_cog_layout(out)
    aux = ET.parse(tmp_path / "landcover.tif.aux.xml").getroot()
    assert [c.text for c in aux.iter("Category")] == ["geen", "bos", "water", "bebouwd"]
    assert (tmp_path / "landcover.qml").read_text() == style


def test_cog_continuous_multiband_round_trip(tmp_path):
    grid = _grid(1024, 1024, cell=25.0)
    yy, xx = np.mgrid[0 : grid.height, 0 : grid.width]
    b1 = (xx * 0.5 + yy * 0.25).astype(np.float32)
    b2 = np.sin(xx / 50.0).astype(np.float32)
    b1[5, 7] = -9999.0
    data = np.stack([b1, b2])
    out = write_cog(tmp_path / "stress.tif", data, grid, nodata=-9999.0, band_names=["druk", "kans"], units="index")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stress.tif"]
    with rasterio.open(out) as src:
        assert np.array_equal(src.read(), data)
        assert src.count == 2 and src.dtypes == ("float32", "float32")
        assert src.nodata == -9999.0
        assert src.descriptions == ("druk", "kans")
        assert src.units == ("index", "index")
        assert src.transform == grid.transform and src.crs.to_epsg() == 28992
        assert src.overviews(1) == [2] and src.overviews(2) == [2]
        tags = src.tags(ns="IMAGE_STRUCTURE")
        assert tags["LAYOUT"] == "COG" and tags["PREDICTOR"] == "3"
    # continuous overviews are averages of 2x2 blocks (away from the nodata cell)
    with rasterio.open(out, overview_level=0) as ovr:
        o = ovr.read(2)
    expected = b2.reshape(512, 2, 512, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(o[10:, 10:], expected[10:, 10:], atol=1e-5)
    assert_cog_layout(out)


def test_cog_overview_resampling_follows_categorical(tmp_path):
    grid = _grid(1024, 1024)
    data = np.where(np.indices(grid.shape).sum(axis=0) % 2 == 0, 1, 3).astype(np.uint8)  # checkerboard

    def overview_values(**kwargs) -> set[int]:
        out = write_cog(tmp_path / "c.tif", data, grid, **kwargs)
        with rasterio.open(out, overview_level=0) as ovr:
            return set(np.unique(ovr.read(1)).tolist())

    assert overview_values(category_names=["", "a", "", "b"]) <= {1, 3}  # nearest: classes stay classes
    assert overview_values(categorical=True) <= {1, 3}
    assert overview_values() == {2}  # continuous: average of 1 and 3


def test_cog_rewrite_and_bool(tmp_path):
    grid = _grid(20, 10)
    write_cog(tmp_path / "m.tif", np.ones(grid.shape, np.uint8), grid, qml=qml.raster_paletted([(1, "a", "#000000")]))
    assert (tmp_path / "m.qml").exists()
    mask = np.zeros(grid.shape, bool)
    mask[2, 3] = True
    write_cog(tmp_path / "m.tif", mask, grid)  # replaces, and drops the now stale style
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]
    with rasterio.open(tmp_path / "m.tif") as src:
        assert src.dtypes[0] == "uint8" and src.read(1).sum() == 1


def test_cog_rejects_bad_input(tmp_path):
    grid = _grid(20, 10)
    with pytest.raises(InputDataError, match="does not match the grid"):
        write_cog(tmp_path / "x.tif", np.zeros((11, 20), np.float32), grid)
    with pytest.raises(InputDataError, match="does not fit"):
        write_cog(tmp_path / "x.tif", np.zeros(grid.shape, np.uint8), grid, nodata=-9999)
    with pytest.raises(ValueError, match="colour table"):
        write_cog(tmp_path / "x.tif", np.zeros(grid.shape, np.float32), grid, colormap={0: (0, 0, 0, 0)})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# GeoPackage
# ---------------------------------------------------------------------------------------------


def _zones() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"zone": ["a", "b", "c"], "klasse": [1, 2, 1], "score": [0.25, 0.5, np.nan]},
        geometry=[box(120000, 430000, 120100, 430100), box(120100, 430000, 120300, 430050),
                  box(120000, 430100, 120050, 430400)],
        crs=CRS,
    )


def test_gpkg_layers_round_trip_and_qgis_styles(tmp_path):
    gpkg = tmp_path / "out.gpkg"
    zones = _zones()
    points = gpd.GeoDataFrame({"naam": ["p1", "p2"]}, geometry=[Point(120010, 430010), Point(120200, 430020)], crs=CRS)
    lines = gpd.GeoDataFrame({"id_": [7]}, geometry=[LineString([(120000, 430000), (120300, 430300)])], crs=CRS)
    zone_style = qml.vector_categorized("klasse", [(1, "een", "#ff0000"), (2, "twee", "#00ff00")])
    point_style = qml.vector_simple("#0000ff", "#000000", "point")
    write_layer(gpkg, "zones", zones, qml=zone_style, description="Zones")
    write_layer(gpkg, "points", points, qml=point_style)
    write_layer(gpkg, "lines", lines)  # no style
    write_table(gpkg, "stats", pd.DataFrame({"klasse": [1, 2], "area_ha": [1.5, 2.25]}), description="Stats")

    assert sorted(list_layers(gpkg)) == ["lines", "points", "stats", "zones"]
    for name, gdf in (("zones", zones), ("points", points), ("lines", lines)):
        back = read_layer(gpkg, name)
        assert back.crs.to_epsg() == 28992
        assert list(back.columns) == list(gdf.columns)
        assert back.geometry.geom_equals(gdf.geometry).all()
        pd.testing.assert_frame_equal(pd.DataFrame(back.drop(columns="geometry")),
                                      pd.DataFrame(gdf.drop(columns="geometry")), check_dtype=False)
    stats = read_layer(gpkg, "stats")
    assert list(stats.columns) == ["klasse", "area_ha"] and stats["area_ha"].tolist() == [1.5, 2.25]

    # OGR sees layer_styles as a table without geometry, with QGIS' field definitions
    layers = {str(n): g for n, g in pyogrio.list_layers(gpkg)}
    assert "layer_styles" in layers and layers["layer_styles"] is None
    info = pyogrio.read_info(gpkg, layer="layer_styles")
    assert info["fid_column"] == "id"
    assert list(info["fields"]) == list(LAYER_STYLES_COLUMNS[1:])
    fields = dict(zip(info["fields"], zip(info["ogr_types"], info["ogr_subtypes"], strict=True), strict=True))
    assert fields["useAsDefault"] == ("OFTInteger", "OFSTBoolean")
    assert fields["update_time"][0] == "OFTDateTime"
    assert fields["styleQML"][0] == "OFTString"

    con = sqlite3.connect(gpkg)
    try:
        cols = [(r[1], r[2]) for r in con.execute("PRAGMA table_info('layer_styles')")]
        assert [c for c, _ in cols] == list(LAYER_STYLES_COLUMNS)
        assert dict(cols)["f_table_name"] == "TEXT(256)" and dict(cols)["styleName"] == "TEXT(30)"
        assert dict(cols)["useAsDefault"] == "BOOLEAN" and dict(cols)["update_time"] == "DATETIME"
        assert con.execute("SELECT data_type FROM gpkg_contents WHERE table_name='layer_styles'").fetchone() == (
            "attributes",)
        rows = con.execute(
            "SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleName, styleQML, "
            "useAsDefault, update_time FROM layer_styles ORDER BY f_table_name").fetchall()
        assert [r[2] for r in rows] == ["points", "zones"]
        for cat, schema, table, geom, style_name, style, default, updated in rows:
            assert (cat, schema, default, style_name) == ("", "", 1, table)
            assert geom == "geom"
            assert style == {"zones": zone_style, "points": point_style}[table]
            assert updated and updated.endswith("Z")
        # the lookup QGIS does when it opens the layer
        q = ("SELECT styleQML FROM layer_styles WHERE f_table_schema='' AND f_table_name=? "
             "AND f_geometry_column=? AND useAsDefault=1")
        assert con.execute(q, ("zones", "geom")).fetchone()[0] == zone_style
        assert con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name='layer_styles'"
                           ).fetchone() == (2,)
    finally:
        con.close()
    assert default_style(gpkg, "zones") == zone_style
    assert default_style(gpkg, "lines") is None

    # replacing a layer replaces its data and its style (one default row per layer)
    new_style = qml.vector_graduated("score", [(0, 1, "alles", "#123456")])
    write_layer(gpkg, "zones", zones.iloc[:1], qml=new_style)
    assert len(read_layer(gpkg, "zones")) == 1
    assert default_style(gpkg, "zones") == new_style
    write_layer(gpkg, "zones", zones)  # replaced without a style: no stale style left
    assert default_style(gpkg, "zones") is None
    assert default_style(gpkg, "points") == point_style
    assert len(read_layer(gpkg, "zones")) == 3


def test_gpkg_rejects_bad_input(tmp_path):
    gpkg = tmp_path / "x.gpkg"
    with pytest.raises(InputDataError, match="no CRS"):
        write_layer(gpkg, "a", gpd.GeoDataFrame({"v": [1]}, geometry=[Point(0, 0)]))
    with pytest.raises(ValueError, match="reserved"):
        write_layer(gpkg, "layer_styles", _zones())
    with pytest.raises(ValueError):
        write_table(gpkg, "t", _zones())
    write_layer(gpkg, "a", _zones())
    with pytest.raises(InputDataError, match="no layer"):
        read_layer(gpkg, "nope")


# ---------------------------------------------------------------------------------------------
# RunFolder
# ---------------------------------------------------------------------------------------------


def _fill_run(run: RunFolder, value: int = 1) -> None:
    grid = _grid(40, 30)
    run.set_parameters({"cell": 10, "value": value})
    with run.step("rasters"):
        run.write_raster("score", np.full(grid.shape, value, np.float32), grid, units="index",
                         description="Score", qml=qml.raster_pseudocolor(0, 2, [(0, "#ffffff"), (2, "#ff0000")]))
        run.write_raster("classes", np.full(grid.shape, value, np.uint8), grid, units="class",
                         description="Classes", colormap={1: (255, 0, 0, 255)}, category_names=["-", "een"])
    with run.step("vectors"):
        run.write_vector("zones", _zones(), units=None, description="Zones",
                         qml=qml.vector_simple("#00ff00", "#000000", "polygon"))
        run.write_table("stats", pd.DataFrame({"v": [value]}), description="Stats")
    run.write_file("tables/summary.csv", f"v\n{value}\n", kind="csv", description="Summary")


def test_runfolder_success_manifest_lists_every_file(tmp_path):
    out = tmp_path / "result"
    with RunFolder(out) as run:
        staging = run.path
        assert staging.parent == out.parent and staging.name.startswith(".result.staging-")
        assert run.gpkg == staging / "biostress.gpkg"
        _fill_run(run)
        run.add_input("bgt", "https://example.org/bgt.zip", sha256="ab" * 32, licence="CC0",
                      attribution="Kadaster", date="2024-05-01", layer="pand")
        run.add_input("local", tmp_path / "in.gpkg", sha256=None, licence=None, attribution=None, date=None)
        run.add_warning("a warning")
        run.set_info("area", "Dordrecht")
        run.set_info("odd", {"nan": float("nan"), "arr": np.arange(2), "p": Path("x")})
        (run.path / "extra.txt").write_text("hand written")  # not registered: listed anyway
        assert not out.exists()  # nothing is visible before the end
    assert not staging.exists() and _siblings(out, "staging") == []
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    files = _tree(out)
    files.pop(MANIFEST_NAME)
    listed = {o["path"]: o["sha256"] for o in manifest["outputs"]}
    assert listed == files  # every file, with the right checksum
    assert all(o["bytes"] == (out / o["path"]).stat().st_size for o in manifest["outputs"])
    assert set(files) == {"score.tif", "score.qml", "classes.tif", "classes.tif.aux.xml", "biostress.gpkg",
                          "tables/summary.csv", "extra.txt"}
    by_key = {(o["path"], o.get("layer")): o for o in manifest["outputs"]}
    score = by_key[("score.tif", None)]
    assert (score["kind"], score["units"], score["dtype"], score["bands"]) == ("raster", "index", "float32", 1)
    zones = by_key[("biostress.gpkg", "zones")]
    assert (zones["kind"], zones["feature_count"], zones["geometry_type"]) == ("vector", 3, "Polygon")
    assert by_key[("biostress.gpkg", "stats")]["kind"] == "table"
    assert by_key[("tables/summary.csv", None)]["file_kind"] == "csv"
    assert any("extra.txt" in w for w in manifest["warnings"]) and "a warning" in manifest["warnings"]
    assert manifest["grid"] == _grid(40, 30).to_dict()
    assert manifest["parameters"] == {"cell": 10, "value": 1}
    assert manifest["inputs"][0] == {"name": "bgt", "url": "https://example.org/bgt.zip", "sha256": "ab" * 32,
                                     "licence": "CC0", "attribution": "Kadaster", "date": "2024-05-01",
                                     "layer": "pand"}
    assert manifest["inputs"][1]["path"] == str(tmp_path / "in.gpkg")
    assert manifest["info"]["odd"] == {"nan": None, "arr": [0, 1], "p": "x"}
    assert set(manifest["timings"]) == {"rasters", "vectors", "total"}
    assert all(v >= 0 for v in manifest["timings"].values())
    assert {"python", "numpy", "gdal", "rasterio", "geopandas", "shapely", "pyproj", "pyogrio"} <= set(
        manifest["software"])
    assert manifest["software"]["gdal"] == rasterio.__gdal_version__
    assert len(manifest["run_id"]) == 36 and manifest["created"].endswith("Z")
    assert "biostress_version" in manifest
    # the GeoPackage in the run folder carries the QGIS default style
    assert default_style(out / "biostress.gpkg", "zones") is not None


def test_runfolder_exception_leaves_previous_result_untouched(tmp_path):
    out = tmp_path / "result"
    with RunFolder(out) as run:
        _fill_run(run, value=1)
    before = _tree(out)
    with pytest.raises(RuntimeError, match="boom"), RunFolder(out, overwrite=True) as run:
        _fill_run(run, value=2)
        staging = run.path
        raise RuntimeError("boom")
    assert _tree(out) == before
    assert not staging.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def test_runfolder_refuses_existing_output_without_overwrite(tmp_path):
    out = tmp_path / "result"
    with RunFolder(out) as run:
        _fill_run(run)
    before = _tree(out)
    with pytest.raises(OutputExistsError) as err:
        RunFolder(out)
    assert err.value.exit_code == 2
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]
    # a file in the way is refused even with overwrite
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(OutputExistsError, match="file"):
        RunFolder(afile, overwrite=True)
    assert afile.read_text() == "x"
    # an existing empty folder is fine; overwrite replaces a full one
    (tmp_path / "empty").mkdir()
    with RunFolder(tmp_path / "empty") as run:
        run.write_file("a.txt", "a", kind="text", description="a")
    with RunFolder(out, overwrite=True) as run:
        _fill_run(run, value=2)
    assert _tree(out) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file", "result"]


def test_runfolder_refuses_when_output_appears_during_the_run(tmp_path):
    out = tmp_path / "result"
    with pytest.raises(OutputExistsError), RunFolder(out) as run:
        _fill_run(run)
        out.mkdir()
        (out / "someone_else.txt").write_text("keep me")
    assert [p.name for p in out.iterdir()] == ["someone_else.txt"]
    assert _siblings(out, "staging") == []


def test_runfolder_usage_errors(tmp_path):
    run = RunFolder(tmp_path / "r")
    with pytest.raises(BiostressError):
        run.write_file("a.txt", "a", kind="text", description="")
    with run:
        for bad in ("../escape.txt", "/abs.txt", MANIFEST_NAME, "a b.txt"):
            with pytest.raises(ValueError):
                run.write_file(bad, "x", kind="text", description="")
        run.write_file("a.txt", "a", kind="text", description="")
        with pytest.raises(ValueError, match="already written"):
            run.write_file("a.txt", "b", kind="text", description="")
    assert not (tmp_path / "escape.txt").exists()
    with pytest.raises(BiostressError):
        run.write_file("b.txt", "b", kind="text", description="")


_CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[2])
    import numpy as np
    from biostress.grid import Grid
    from biostress.store import RunFolder
    grid = Grid("EPSG:28992", 120000.0, 430300.0, 10.0, 40, 30)
    with RunFolder(sys.argv[1], overwrite=True) as run:
        run.write_raster("score", np.full(grid.shape, 9, np.float32), grid, units="index", description="new")
        run.write_file("tables/summary.csv", "v\\n9\\n", kind="csv", description="new")
        print("READY", run.path, flush=True)
        time.sleep(120)
    """
)


def test_runfolder_sigkill_mid_run_keeps_previous_result(tmp_path):
    out = tmp_path / "result"
    with RunFolder(out) as run:
        _fill_run(run, value=1)
    before = _tree(out)
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(SRC_DIR)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready, "child did not get ready in time"
        line = proc.stdout.readline()
        assert line.startswith("READY"), proc.stderr.read()
        staging = Path(line.split(" ", 1)[1].strip())
        assert (staging / "score.tif").exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _tree(out) == before  # the previous complete result, byte for byte
    assert _siblings(out, "staging") == [staging]  # the killed run's leftovers
    # the next run removes the dead run's staging folder
    with RunFolder(out, overwrite=True) as run:
        assert not staging.exists()
        _fill_run(run, value=3)
    assert _siblings(out, "staging") == [] and _siblings(out, "old") == []
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["parameters"]["value"] == 3


def test_runfolder_keeps_staging_of_live_runs(tmp_path):
    out = tmp_path / "result"
    live = tmp_path / f".result.staging-{os.getpid()}-deadbeef"
    live.mkdir()
    with RunFolder(out) as run:
        run.write_file("a.txt", "a", kind="text", description="")
    assert live.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_runfolder_restores_orphaned_previous_result(tmp_path):
    """A run killed between its two renames leaves out_dir missing and the previous result in
    .old-<pid>-<id>: the next run puts it back before anything else."""
    out = tmp_path / "result"
    with RunFolder(out) as run:
        _fill_run(run, value=1)
    before = _tree(out)
    pid = _dead_pid()
    os.rename(out, tmp_path / f".result.old-{pid}-0123abcd")
    (tmp_path / f".result.staging-{pid}-4567abcd").mkdir()  # the new result, never moved in
    with pytest.raises(OutputExistsError):
        RunFolder(out)  # restored, so it exists again
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]
    # a leftover .old- next to an existing out_dir (crash after the second rename) is removed
    leftover = tmp_path / f".result.old-{pid}-89abcdef"
    leftover.mkdir()
    (leftover / "x").write_text("x")
    with RunFolder(out, overwrite=True) as run:
        assert not leftover.exists()
        _fill_run(run, value=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def test_runfolder_failed_swap_puts_previous_result_back(tmp_path, monkeypatch):
    out = tmp_path / "result"
    with RunFolder(out) as run:
        _fill_run(run, value=1)
    before = _tree(out)
    real_rename = os.rename

    def flaky_rename(src, dst):
        if Path(src).name.startswith(".result.staging-"):
            raise OSError("simulated failure while moving the new result in")
        return real_rename(src, dst)

    monkeypatch.setattr(runfolder_mod.os, "rename", flaky_rename)
    with pytest.raises(OSError, match="simulated"), RunFolder(out, overwrite=True) as run:
        _fill_run(run, value=2)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]
