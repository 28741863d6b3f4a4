"""Bad input: a clear error that names the file and says what to do, and nothing is lost.

Every failing run here is checked to leave no output folder (and no staging leftovers) behind.
Areas are 1 km x 1 km boxes of Dordrecht with small hand-made layers or copies of the shipped
sample data, so each pipeline run takes a second or two.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from affine import Affine
from shapely.geometry import GeometryCollection, LineString, Point, Polygon, box

from biostress.config import load_area
from biostress.errors import InputDataError, NoOverlapError, UnsafeInputError
from biostress.pipeline import prepare, run_area
from biostress.sources.raster_files import open_raster
from biostress.sources.vector_files import read_vector
from conftest import SAMPLE_DATA, source

RD = "EPSG:28992"
CLASS_MAP = {"gras": "lawn_grass", "bos": "trees_woodland"}
# a square well inside the 1 km test box
SQUARE = box(105400, 424400, 105600, 424600)
# self-intersecting bow-tie: two triangles of 1 ha each meeting at (105200, 424200)
BOWTIE = Polygon([(105100, 424100), (105300, 424300), (105300, 424100), (105100, 424300), (105100, 424100)])
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def green(path: str, **extra) -> dict:
    """A landcover_vector source reading column 'typ' with :data:`CLASS_MAP`."""
    return source("green", "landcover_vector", path, class_column="typ", class_map=CLASS_MAP, **extra)


def write_layer(path: Path, geoms: list, classes: list[str], crs: str | None = RD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    gdf = gpd.GeoDataFrame({"typ": classes}, geometry=gpd.GeoSeries(geoms), crs=crs)
    pyogrio.write_dataframe(gdf, path)
    return path


def write_geojson(path: Path, coords_rd: list[tuple[float, float]], crs_name: str | None) -> Path:
    """A GeoJSON square polygon with the given coordinates, with a legacy 'crs' member or none."""
    doc: dict = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"typ": "gras"},
        "geometry": {"type": "Polygon", "coordinates": [[list(c) for c in coords_rd]]}}]}
    if crs_name:
        doc["crs"] = {"type": "name", "properties": {"name": crs_name}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def write_tif(path: Path, value: float | int, dtype: str = "uint8", size: int = 400) -> Path:
    """An uncompressed GeoTIFF (3 m cells, RD) covering the test box."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype=dtype, crs=RD,
                       transform=Affine(3, 0, 104900, 0, -3, 425100)) as dst:
        dst.write(np.full((1, size, size), value, dtype=dtype))
    return path


def square_coords(x0=105100.0, y0=424100.0, s=200.0):
    return [(x0, y0), (x0 + s, y0), (x0 + s, y0 + s), (x0, y0 + s), (x0, y0)]


def assert_nothing_written(out: Path) -> None:
    assert not out.exists(), f"{out} was created by a failing run"
    if out.parent.exists():
        left = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
        assert left == [], f"staging folders left behind: {left}"


def run_fails(area_yaml: Path, exc: type[Exception]) -> Exception:
    """Run the area into a fresh output folder, expect ``exc``, check nothing was written."""
    out = area_yaml.parent.parent / "out"
    with pytest.raises(exc) as ei:
        run_area(area_yaml, out)
    assert type(ei.value) is exc, f"expected exactly {exc.__name__}, got {type(ei.value).__name__}: {ei.value}"
    assert_nothing_written(out)
    return ei.value



# --------------------------------------------------------------------------------------------- 1. CRS


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_shapefile_without_crs_is_refused_and_declared_crs_fixes_it(write_area, tmp_path):
    shp = write_layer(tmp_path / "proj" / "green.shp", [SQUARE], ["bos"], crs=None)
    assert not shp.with_suffix(".prj").exists()
    e = run_fails(write_area([green("green.shp")]), InputDataError)
    assert "green.shp" in e.message and "has no coordinate reference system" in e.message
    assert "crs:" in e.hint and ".prj" in e.hint
    assert e.exit_code == 1
    # doing what the hint says works
    res = run_area(write_area([green("green.shp", crs=RD)]), tmp_path / "out")
    assert res.manifest["info"]["landcover_ha"]["trees_woodland"] == pytest.approx(4.0, abs=0.05)


def test_csv_without_crs_is_refused(write_area, sample_copy, tmp_path):
    write_layer(tmp_path / "proj" / "green.gpkg", [SQUARE], ["bos"])
    sample_copy("muskrat_coypu_catches_2019_dordrecht.csv", as_name="catches.csv")
    e = run_fails(write_area([green("green.gpkg"), source("catches", "points", "catches.csv")]), InputDataError)
    assert "catches.csv" in e.message and "CSV" in e.message and "carries no CRS" in e.message
    assert "crs:" in e.hint and "EPSG:28992" in e.hint


@pytest.mark.parametrize("crs_member", [None, "urn:ogc:def:crs:EPSG::4326", "urn:ogc:def:crs:OGC:1.3:CRS84"])
def test_rd_metres_in_geojson_labelled_wgs84_are_refused(write_area, tmp_path, crs_member):
    # no 'crs' member means WGS84 by RFC 7946; the legacy member says so explicitly
    write_geojson(tmp_path / "proj" / "green.geojson", square_coords(), crs_member)
    e = run_fails(write_area([green("green.geojson")]), InputDataError)
    assert "green.geojson" in e.message
    assert "WGS 84" in e.message and "projected metres" in e.message
    assert "105100" in e.message and "424100" in e.message  # shows the offending range
    assert "EPSG:28992" in e.hint


def test_rd_metres_in_geopackage_labelled_epsg4326_are_refused(write_area, tmp_path):
    write_layer(tmp_path / "proj" / "green.gpkg", [SQUARE], ["bos"], crs="EPSG:4326")
    e = run_fails(write_area([green("green.gpkg")]), InputDataError)
    assert "green.gpkg" in e.message and "degrees" in e.message and "projected metres" in e.message
    assert "EPSG:28992" in e.hint


def test_lonlat_degrees_labelled_rd_are_refused(tmp_path):
    p = tmp_path / "trees.csv"
    p.write_text("lon,lat\n4.67,51.81\n4.68,51.80\n", encoding="utf-8")
    with pytest.raises(InputDataError) as ei:
        read_vector(p, crs=RD)
    e = ei.value
    assert str(p) in e.message and "outside the area where its CRS EPSG:28992" in e.message
    assert "EPSG:4326" in e.hint


@pytest.mark.parametrize("declared", ["EPSG:4326", "EPSG:3857"])
def test_declared_crs_contradicting_the_file_is_refused(write_area, tmp_path, declared):
    write_layer(tmp_path / "proj" / "green.gpkg", [SQUARE], ["bos"])
    e = run_fails(write_area([green("green.gpkg", crs=declared)]), InputDataError)
    assert "green.gpkg" in e.message
    assert "says its CRS is EPSG:28992" in e.message and f"the configuration says {declared}" in e.message
    assert "Remove 'crs:'" in e.hint


# ------------------------------------------------------------------------- 2. not what the name says


def _zip(p: Path) -> None:
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("layer.shp", b"not really")


@pytest.mark.parametrize(("name", "make", "looks_like", "fmt"), [
    ("green.gpkg", _zip, "zip", "gpkg"),
    ("green.gpkg", lambda p: p.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>"), "xml", "gpkg"),
    ("green.geojson", lambda p: p.write_text("x,y,typ\n105100,424100,gras\n"), "csv", "geojson"),
    ("green.geojson", lambda p: p.write_bytes(PNG_1PX), "unknown", "geojson"),
])
def test_vector_file_whose_content_is_not_its_extension(write_area, tmp_path, name, make, looks_like, fmt):
    (tmp_path / "proj").mkdir()
    make(tmp_path / "proj" / name)
    e = run_fails(write_area([green(name)]), InputDataError)
    assert name in e.message
    assert f"is not a {fmt} file: its content looks like '{looks_like}'" in e.message
    assert f"Export the data again as {fmt}" in e.hint


def test_png_renamed_tif_is_refused(write_area, tmp_path):
    write_layer(tmp_path / "proj" / "green.gpkg", [SQUARE], ["bos"])
    (tmp_path / "proj" / "worldcover.tif").write_bytes(PNG_1PX)
    e = run_fails(write_area([green("green.gpkg"), source("wc", "landcover_raster", "worldcover.tif",
                                                          scheme="worldcover")]), InputDataError)
    assert "worldcover.tif is not a gtiff file" in e.message and "renamed" in e.message
    assert "gtiff" in e.hint


def test_json_that_is_not_geojson_is_refused(write_area, tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "green.geojson").write_text('{"error": "rate limited"}')
    e = run_fails(write_area([green("green.geojson")]), InputDataError)
    assert "green.geojson is JSON but not GeoJSON" in e.message and "GeoJSON" in e.hint


def test_truncated_geojson_is_refused(write_area, tmp_path):
    p = write_geojson(tmp_path / "proj" / "green.geojson", square_coords(), None)
    p.write_bytes(p.read_bytes()[:60])
    e = run_fails(write_area([green("green.geojson")]), InputDataError)
    assert "green.geojson is not valid JSON" in e.message and "truncated" in e.hint


@pytest.mark.parametrize("name", ["green.gpkg", "green.geojson", "worldcover.tif"])
def test_empty_file_is_refused(write_area, tmp_path, name):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / name).write_bytes(b"")
    spec = (source("wc", "landcover_raster", name, scheme="worldcover") if name.endswith(".tif")
            else green(name))
    e = run_fails(write_area([spec]), InputDataError)
    assert f"{name} is empty (0 bytes)" in e.message
    assert "export the file" in e.hint


@pytest.mark.parametrize("keep", [1024, 1 / 3])
def test_truncated_geopackage_is_refused(write_area, sample_copy, tmp_path, keep):
    write_layer(tmp_path / "proj" / "green.gpkg", [SQUARE], ["bos"])
    gpkg = sample_copy("natura2000_within12km_dordrecht.gpkg", as_name="natura.gpkg")
    data = gpkg.read_bytes()
    gpkg.write_bytes(data[: int(keep if keep > 1 else len(data) * keep)])
    e = run_fails(write_area([green("green.gpkg"), source("n2k", "natura2000", "natura.gpkg")]), InputDataError)
    assert f"Cannot read {gpkg}" in e.message
    assert "corrupt or truncated" in e.hint


def test_truncated_geotiff_is_refused(write_area, tmp_path):
    tif = write_tif(tmp_path / "proj" / "worldcover.tif", 10)
    tif.write_bytes(tif.read_bytes()[: tif.stat().st_size // 2])
    e = run_fails(write_area([source("wc", "landcover_raster", "worldcover.tif", scheme="worldcover")]),
                  InputDataError)
    assert "Cannot read the raster" in e.message and "worldcover.tif" in e.message
    assert "corrupt or truncated" in e.hint


def test_geotiff_with_garbage_header_is_refused(tmp_path):
    tif = write_tif(tmp_path / "dem.tif", 1.5, dtype="float32", size=50)
    data = tif.read_bytes()
    tif.write_bytes(data[:8] + b"\xff" * 4096 + data[8 + 4096:])
    with pytest.raises(InputDataError) as ei:
        open_raster(tif).read(1)
    assert f"Cannot read the raster {tif}" in ei.value.message and "corrupt or truncated" in ei.value.hint


def test_truncated_dem_fails_mid_run_without_output(write_area, tmp_path):
    """The DEM is only read while outputs are written: the half-written run is discarded."""
    write_layer(tmp_path / "proj" / "green.gpkg", [SQUARE], ["bos"])
    dem = write_tif(tmp_path / "proj" / "dem.tif", 1.5, dtype="float32")
    dem.write_bytes(dem.read_bytes()[: int(dem.stat().st_size * 0.6)])
    e = run_fails(write_area([green("green.gpkg"), source("ahn", "dem", "dem.tif")]), InputDataError)
    assert f"Cannot read the raster {dem}" in e.message


# ---------------------------------------------------------------------------------- 3. geometries


def test_bowtie_polygon_is_repaired_and_reported(write_area, tmp_path):
    write_layer(tmp_path / "proj" / "green.geojson", [BOWTIE, SQUARE], ["gras", "bos"])
    res = run_area(write_area([green("green.geojson")]), tmp_path / "out")
    want = "source 'green' (green.geojson): repaired 1 invalid geometr(y/ies) (Self-intersection: 1)"
    assert want in res.warnings
    assert want in res.manifest["warnings"]
    # the repaired bow-tie keeps both triangles (2 x 1 ha), not one or none
    ha = res.manifest["info"]["landcover_ha"]
    assert ha["lawn_grass"] == pytest.approx(2.0, abs=0.05)
    assert ha["trees_woodland"] == pytest.approx(4.0, abs=0.05)
    table = pyogrio.read_dataframe(res.out_dir / "biostress.gpkg", layer="warnings")
    assert want in table["message"].tolist()


def test_empty_geometries_are_dropped_and_reported(write_area, tmp_path):
    write_layer(tmp_path / "proj" / "green.gpkg", [Polygon(), None, SQUARE], ["gras", "gras", "bos"])
    prep = prepare(load_area(write_area([green("green.gpkg")])))
    assert "source 'green' (green.gpkg): dropped 2 feature(s) with empty or missing geometry" in prep.notes
    assert prep.counts["green"]["features"] == 1 and prep.counts["green"]["mapped"] == 1


def test_points_and_lines_in_a_polygon_layer_are_dropped_and_reported(write_area, tmp_path):
    geoms = [Point(105500, 424500), LineString([(105000, 424000), (105100, 424100)]), SQUARE,
             GeometryCollection([box(105700, 424700, 105800, 424800), Point(105750, 424750)])]
    write_layer(tmp_path / "proj" / "green.gpkg", geoms, ["gras", "gras", "bos", "gras"])
    prep = prepare(load_area(write_area([green("green.gpkg")])))
    notes = [n for n in prep.notes if n.startswith("source 'green' (green.gpkg)")]
    assert "source 'green' (green.gpkg): dropped 2 feature(s) that are not polygons (Point: 1, LineString: 1)" in notes
    assert "source 'green' (green.gpkg): kept only the polygon parts of 1 mixed geometr(y/ies)" in notes
    assert prep.counts["green"] == {"features": 2, "mapped": 2, "ignored": 0, "unmapped": 0, "no_width": 0}


def test_layer_with_nothing_usable_is_an_error(write_area, tmp_path):
    write_layer(tmp_path / "proj" / "green.gpkg", [Point(105500, 424500), Polygon()], ["gras", "bos"])
    e = run_fails(write_area([green("green.gpkg")]), InputDataError)
    assert "source 'green' (green.gpkg) has no usable polygon features left" in e.message
    assert "right file and layer" in e.hint


# ----------------------------------------------------------------------------------- 4. no overlap

FAR = {"bbox": [200000.0, 500000.0, 201000.0, 501000.0]}


def test_vector_source_outside_the_area_is_no_overlap(write_area, tmp_path):
    write_layer(tmp_path / "proj" / "green.gpkg", [SQUARE], ["bos"])
    e = run_fails(write_area([green("green.gpkg")], boundary=FAR), NoOverlapError)
    assert "Source 'green' (green.gpkg) has no features inside the area" in e.message
    assert "(200000, 500000, 201000, 501000)" in e.message
    assert "covers the area" in e.hint and e.exit_code == 1


def test_openmaptiles_outside_the_area_is_no_overlap(write_area, sample_copy):
    omt = sample_copy("osm_geoparquet/landcover.parquet", as_name="osm/landcover.parquet").parent
    e = run_fails(write_area([source("osm", "openmaptiles", "osm")], boundary=FAR), NoOverlapError)
    assert f"No feature of {omt} intersects the area of interest" in e.message
    assert "landcover (" in e.message  # says what the data does cover
    assert "bounding box and CRS" in e.hint


# ---------------------------------------------------------------------------- 5. unknown codes/tags


def test_class_map_missing_a_value_is_reported_with_value_and_count(write_area, tmp_path):
    write_layer(tmp_path / "proj" / "green.gpkg",
                [SQUARE, box(105100, 424100, 105200, 424200), box(105700, 424700, 105800, 424800)],
                ["bos", "heide", "heide"])
    res = run_area(write_area([green("green.gpkg")]), tmp_path / "out")
    want = "green: 2 feature(s) match no mapping rule and were not used: 2 feature(s) with typ=heide"
    assert want in res.warnings and want in res.manifest["warnings"]
    assert res.manifest["info"]["feature_counts"]["green"]["unmapped"] == 2
    assert res.manifest["info"]["feature_counts"]["green"]["mapped"] == 1
    table = pyogrio.read_dataframe(res.out_dir / "biostress.gpkg", layer="warnings")
    assert want in table["message"].tolist()


def test_openmaptiles_unknown_class_is_reported(write_area, tmp_path):
    real = gpd.read_parquet(SAMPLE_DATA / "osm_geoparquet" / "landcover.parquet")
    odd = gpd.GeoDataFrame({"class": ["moonrock"] * 3, "subclass": [None] * 3},
                           geometry=[box(105100 + i * 100, 424100, 105150 + i * 100, 424150) for i in range(3)],
                           crs=real.crs)
    (tmp_path / "proj" / "osm").mkdir(parents=True)
    pd.concat([real, odd], ignore_index=True).to_parquet(tmp_path / "proj" / "osm" / "landcover.parquet")
    prep = prepare(load_area(write_area([source("osm", "openmaptiles", "osm")])))
    hits = [n for n in prep.notes if "moonrock" in n]
    assert hits == ["osm/landcover: 3 feature(s) match no mapping rule and were not used: "
                    "3 feature(s) with class=moonrock"]
    assert prep.counts["osm"]["landcover"]["unmapped"] == 3


# --------------------------------------------------------------------------------- 6. missing columns


def test_cbs_units_without_wijkcode(write_area, sample_copy, tmp_path):
    buurten = gpd.read_file(SAMPLE_DATA / "cbs_buurten_2024_generalised_dordrecht.geojson")
    (tmp_path / "proj").mkdir()
    buurten.drop(columns="wijkcode").to_file(tmp_path / "proj" / "buurten.geojson")
    write_layer(tmp_path / "proj" / "green.gpkg", [SQUARE], ["bos"])
    e = run_fails(write_area([green("green.gpkg")], units={"kind": "cbs", "path": "buurten.geojson"}), InputDataError)
    assert "buurten.geojson lacks the column(s) ['wijkcode']" in e.message
    assert "'buurtcode'" in e.message and "'gemeentecode'" in e.message  # lists what is there
    assert "CBS Wijk- en buurtkaart" in e.hint


def test_landcover_vector_class_column_missing(write_area, tmp_path):
    write_layer(tmp_path / "proj" / "green.gpkg", [SQUARE], ["bos"])
    spec = source("green", "landcover_vector", "green.gpkg", class_column="soort", class_map=CLASS_MAP)
    e = run_fails(write_area([spec]), InputDataError)
    assert "source 'green' (green.gpkg) lacks the class column 'soort' (columns: ['typ'])" in e.message
    assert "class_column" in e.hint


def test_csv_points_without_coordinate_columns(write_area, tmp_path):
    write_layer(tmp_path / "proj" / "green.gpkg", [SQUARE], ["bos"])
    (tmp_path / "proj" / "catches.csv").write_text("oost;noord;aantal\n105100;424100;1\n105200;424200;3\n")
    e = run_fails(write_area([green("green.gpkg"), source("catches", "points", "catches.csv", crs=RD)]),
                  InputDataError)
    assert "catches.csv: no coordinate columns found (columns: ['oost', 'noord', 'aantal'])" in e.message
    assert "x_column" in e.hint and "y_column" in e.hint


def test_csv_points_with_a_named_column_that_is_absent(write_area, sample_copy, tmp_path):
    write_layer(tmp_path / "proj" / "green.gpkg", [SQUARE], ["bos"])
    sample_copy("muskrat_coypu_catches_2019_dordrecht.csv", as_name="catches.csv")
    spec = source("catches", "points", "catches.csv", crs=RD, x_column="east", y_column="y_rd")
    e = run_fails(write_area([green("green.gpkg"), spec]), InputDataError)
    assert "catches.csv lacks the column(s) ['east']" in e.message and "'x_rd'" in e.message
    assert "Rename the columns" in e.hint


# ------------------------------------------------------------------------- 7. hostile paths and URLs

_WATCH: dict = {"events": None}


def _audit(event: str, args: tuple) -> None:
    events = _WATCH["events"]
    if events is None:
        return
    if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        events.append(("open", os.fsdecode(args[0])))
    elif event in ("socket.connect", "socket.getaddrinfo"):
        events.append((event, repr(args[1:2])))


sys.addaudithook(_audit)


@pytest.fixture
def no_reads(monkeypatch):
    """Records every Python-level open and network call; GDAL/Arrow readers fail the test outright."""

    def forbidden(*a, **k):
        raise AssertionError(f"a data reader was called: {a!r}")

    for mod, name in [(pyogrio, "read_dataframe"), (pyogrio, "read_info"), (pyogrio, "list_layers"),
                      (gpd, "read_parquet"), (gpd, "read_file"), (rasterio, "open")]:
        monkeypatch.setattr(mod, name, forbidden)
    events: list = []
    _WATCH["events"] = events
    yield events
    _WATCH["events"] = None


@pytest.fixture
def hostile_project(tmp_path):
    """A project folder next to a readable secret GeoPackage, with symlinks that lead out of it."""
    secret = write_layer(tmp_path / "secret.gpkg", [SQUARE], ["bos"])
    with zipfile.ZipFile(tmp_path / "secret.zip", "w") as z:
        z.write(secret, "a.gpkg")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "link.gpkg").symlink_to(secret)
    (proj / "outside").symlink_to(tmp_path, target_is_directory=True)
    return proj, secret


@pytest.mark.parametrize(("path", "why"), [
    ("../../etc/passwd", "outside the allowed folder"),
    ("../secret.gpkg", "outside the allowed folder"),
    ("/etc/passwd", "outside the allowed folder"),
    ("{secret}", "outside the allowed folder"),
    ("link.gpkg", "outside the allowed folder"),
    ("outside/secret.gpkg", "outside the allowed folder"),
    ("/vsicurl/http://example.com/a.gpkg", "GDAL virtual file systems"),
    ("/vsizip/{tmp}/secret.zip/a.gpkg", "GDAL virtual file systems"),
    ("data/../vsimem/x.gpkg", "GDAL virtual file systems"),
    ("file:///etc/passwd", "URLs"),
    ("http://example.com/a.gpkg", "URLs"),
    ("GPKG:{secret}:layer", "connection strings"),
    ("PG:dbname=postgres", "connection strings"),
])
def test_hostile_paths_are_refused_before_any_read(hostile_project, write_area, no_reads, path, why):
    proj, secret = hostile_project
    path = path.format(secret=secret, tmp=secret.parent)
    area = load_area(write_area([green(path)]))
    with pytest.raises(UnsafeInputError) as ei:
        prepare(area)
    e = ei.value
    assert e.exit_code == 2
    assert f"Refused path '{path}" in e.message or f"Refused path '{proj / path}" in e.message
    assert why in e.message
    assert e.hint and ("inside" in e.hint)
    if "outside the allowed folder" in why:
        assert f"outside the allowed folder {proj}" in e.message
    touched = [p for kind, p in no_reads if kind == "open"
               and os.path.realpath(p) in {str(secret), "/etc/passwd", str(secret.parent / "secret.zip")}]
    assert touched == []
    assert [x for x in no_reads if x[0] != "open"] == []


def test_symlink_target_is_named_in_the_refusal(hostile_project, write_area, no_reads):
    proj, secret = hostile_project
    with pytest.raises(UnsafeInputError) as ei:
        prepare(load_area(write_area([green("link.gpkg")])))
    assert f"it resolves to {secret}, outside the allowed folder {proj}" in ei.value.message


@pytest.mark.parametrize(("url", "why"), [
    ("file:///etc/passwd", "only http and https are allowed (got 'file')"),
    ("ftp://example.com/data.gpkg", "only http and https are allowed (got 'ftp')"),
    ("gopher://example.com/1", "only http and https are allowed (got 'gopher')"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is an internal address"),
    ("http://127.0.0.1:8080/a.gpkg", "127.0.0.1 is an internal address"),
    ("http://[::1]/a.gpkg", "::1 is an internal address"),
    ("http://localhost/a.gpkg", "localhost is an internal address"),
    ("http://2130706433/a.gpkg", "is an internal address (127.0.0.1)"),
    ("http://user:pw@example.com/a.gpkg", "credentials in URLs are not accepted"),
])
def test_hostile_urls_are_refused_without_network(write_area, no_reads, tmp_path, url, why):
    area = load_area(write_area([source("green", "landcover_vector", url=url, class_column="typ",
                                        class_map=CLASS_MAP)]))
    with pytest.raises(UnsafeInputError) as ei:
        prepare(area)
    assert ei.value.exit_code == 2
    assert f"Refused URL '{url}'" in ei.value.message and why in ei.value.message
    net = [x for x in no_reads if x[0] != "open"]
    if url == "http://2130706433/a.gpkg":  # a numeric host name is resolved (locally) to be checked
        net = [x for x in net if x[0] != "socket.getaddrinfo"]
    assert net == [], "a network call was made"
    assert not (tmp_path / "proj" / ".biostress-cache").exists() or not any(
        (tmp_path / "proj" / ".biostress-cache").iterdir())


def test_hostile_url_in_a_run_leaves_no_output(write_area, tmp_path, no_reads):
    spec = source("green", "landcover_vector", url="http://169.254.169.254/latest/meta-data/iam",
                  class_column="typ", class_map=CLASS_MAP)
    e = run_fails(write_area([spec]), UnsafeInputError)
    assert "internal address" in e.message
