"""OpenMapTiles reader: tile maths, decoding real tiles against independent references, the
MBTiles/PMTiles/GeoParquet/GeoPackage forms of the same data, and the errors users meet.

References used (none is this module's own output):
* tile bounds: the Web Mercator formula by hand and ``mercantile``;
* geometry: ``mapbox_vector_tile.decode`` (an independent MVT decoder);
* areas per class: the data provider's GeoParquet decode of the same tiles (tests/data/omt/NOTICE.md).
"""

from __future__ import annotations

import gzip
import random
import shutil
import sqlite3
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from biostress.errors import InputDataError, NoOverlapError
from biostress.sources.openmaptiles import (
    decode_tile,
    lonlat_to_tile,
    read_openmaptiles,
    tile_bounds_3857,
    tile_range_for_bbox,
)

DATA = Path(__file__).parent / "data" / "omt"
TILES = [(8405, 5427), (8405, 5428), (8406, 5427), (8406, 5428)]
RD = "EPSG:28992"
HALF = 20037508.342789244  # pi * 6378137: half the Web Mercator world width in metres
REL_TOL = 0.005  # decoded areas per class agree with the provider's to 0.5 % (observed: < 0.02 %)


def _footprint_rd() -> shapely.Geometry:
    """Union of the four fixture tiles in RD New, from mercantile's bounds (edges densified every 10 m)."""
    mercantile = pytest.importorskip("mercantile")
    tr = Transformer.from_crs(3857, RD, always_xy=True)
    polys = []
    for x, y in TILES:
        b = mercantile.xy_bounds(x, y, 14)
        ring = np.asarray(
            shapely.segmentize(shapely.box(b.left, b.bottom, b.right, b.top), 10).exterior.coords
        )
        polys.append(shapely.Polygon(np.column_stack(tr.transform(ring[:, 0], ring[:, 1]))))
    return shapely.union_all(polys)


@pytest.fixture(scope="module")
def footprint() -> shapely.Geometry:
    return _footprint_rd()


@pytest.fixture(scope="module")
def bbox(footprint: shapely.Geometry) -> tuple[float, float, float, float]:
    return footprint.bounds


@pytest.fixture(scope="module")
def from_dir(bbox: tuple[float, float, float, float]) -> dict[str, gpd.GeoDataFrame]:
    return read_openmaptiles(
        DATA / "tiles", bbox, RD, layers=["landcover", "water", "building", "transportation", "poi"]
    )


def _areas_by_class(gdf: gpd.GeoDataFrame, clip: shapely.Geometry, key: str | None) -> dict[str, float]:
    """Area (m²) of the union of each class within ``clip``."""
    geoms = shapely.intersection(np.asarray(gdf.geometry.array), clip)
    classes = gdf[key].to_numpy() if key else np.full(len(gdf), "all", dtype=object)
    return {str(c): shapely.union_all(geoms[classes == c]).area for c in set(classes)}


def _signature(layers: dict[str, gpd.GeoDataFrame]) -> dict[str, list[tuple[str, str, bytes]]]:
    """Per layer: the sorted (tile, class, normalised WKB) of every feature."""
    out = {}
    for name, g in layers.items():
        cls = [str(v) for v in g["class"]] if "class" in g else [""] * len(g)
        wkb = shapely.to_wkb(shapely.normalize(np.asarray(g.geometry.array)))
        out[name] = sorted(zip(g["tile"].tolist(), cls, wkb, strict=True))
    return out


# ------------------------------------------------------------------------------------------ tile maths
def test_tile_bounds_by_hand() -> None:
    # z0 is the whole Web Mercator square; z1 tile (1, 0) is its north-east quarter.
    assert tile_bounds_3857(0, 0, 0) == pytest.approx((-HALF, -HALF, HALF, HALF))
    assert tile_bounds_3857(1, 1, 0) == pytest.approx((0.0, 0.0, HALF, HALF), abs=1e-6)
    # z14: tile size 2 * HALF / 16384 = 2445.98 m; x 8405 starts 8405 tiles east of -HALF.
    size = 2 * HALF / 2**14
    assert size == pytest.approx(2445.984905, abs=1e-6)
    xmin, ymin, xmax, ymax = tile_bounds_3857(14, 8405, 5427)
    assert xmin == pytest.approx(-HALF + 8405 * size) and xmax - xmin == pytest.approx(size)
    assert ymax == pytest.approx(HALF - 5427 * size) and ymax - ymin == pytest.approx(size)


def test_tile_maths_against_mercantile() -> None:
    mercantile = pytest.importorskip("mercantile")
    for z, x, y in [(14, 8405, 5427), (14, 8346, 5438), (10, 525, 339), (3, 7, 0)]:
        assert tile_bounds_3857(z, x, y) == pytest.approx(tuple(mercantile.xy_bounds(x, y, z)), abs=1e-6)
    for lon, lat in [(4.6901, 51.8123), (-73.98, 40.75), (151.2, -33.86)]:
        t = mercantile.tile(lon, lat, 14)
        assert lonlat_to_tile(lon, lat, 14) == (t.x, t.y)


def test_tile_range_for_bbox(footprint: shapely.Geometry) -> None:
    inner = footprint.buffer(-50).bounds  # strictly inside the 2 x 2 block
    rng = tile_range_for_bbox(inner, RD, 14)
    assert (rng.xmin, rng.xmax, rng.ymin, rng.ymax) == (8405, 8406, 5427, 5428)


# ------------------------------------------------------------------------------- decoding, by hand
def test_decode_hand_made_tile() -> None:
    """Tile coordinates run y-down from the tile's north-west corner; holes stay holes; values typed."""
    square = "POLYGON ((100 100, 1100 100, 1100 1100, 100 1100, 100 100), (400 400, 400 600, 600 600, 600 400, 400 400))"
    features = [
        {"geometry": square, "properties": {"class": "lake", "depth": 2.5}},
        {"geometry": "POINT (2048 1024)", "properties": {"class": "spring"}},
        {
            "geometry": "LINESTRING (-200 2048, 4300 2048)",
            "properties": {"class": "canal"},
        },  # into the buffer
    ]
    data = mapbox_vector_tile.encode(
        [{"name": "water", "features": features}], default_options={"y_coord_down": True}
    )
    g = decode_tile(gzip.compress(data), 14, 8405, 5427)["water"]
    xmin, ymin, xmax, ymax = tile_bounds_3857(14, 8405, 5427)
    unit = (xmax - xmin) / 4096  # metres per tile unit
    lake, spring, canal = g.geometry
    assert lake.geom_type == "Polygon" and len(lake.interiors) == 1
    assert lake.area == pytest.approx((1000**2 - 200**2) * unit**2)
    assert lake.bounds == pytest.approx(
        (xmin + 100 * unit, ymax - 1100 * unit, xmin + 1100 * unit, ymax - 100 * unit)
    )
    assert (spring.x, spring.y) == pytest.approx((xmin + 2048 * unit, ymax - 1024 * unit))
    assert canal.length == pytest.approx(xmax - xmin)  # cut at the tile's edges
    assert g["class"].tolist() == ["lake", "spring", "canal"]
    assert g["depth"].iloc[0] == 2.5 and g["depth"].isna().sum() == 2
    assert g["tile"].unique().tolist() == ["14/8405/5427"]


# -------------------------------------------------------------------------------- decoding real tiles
def _sorted_bounds(geoms: np.ndarray) -> np.ndarray:
    """Bounds of every feature (rounded to cm), sorted: where the features are, not only how big."""
    b = np.round(shapely.bounds(geoms), 2)
    return b[np.lexsort(b.T[::-1])]


def _polygon_parts(g: shapely.Geometry) -> shapely.Geometry:
    """Only the polygons of ``g`` (repair and cutting can leave lines and points in a collection)."""
    return shapely.MultiPolygon(
        [p for p in shapely.get_parts(shapely.get_parts(g)) if p.geom_type == "Polygon"]
    )


def _reference_decode(x: int, y: int) -> dict[str, tuple[np.ndarray, float, float]]:
    """mapbox_vector_tile's decode (y down), mapped to EPSG:3857, made valid and cut to the tile."""
    data = (DATA / "tiles" / "14" / str(x) / f"{y}.pbf").read_bytes()
    b = tile_bounds_3857(14, x, y)
    box = shapely.box(*b)
    out = {}
    for name, layer in mapbox_vector_tile.decode(data, default_options={"y_coord_down": True}).items():
        ext = layer["extent"]

        def to3857(c: np.ndarray, ext: int = ext) -> np.ndarray:
            return np.column_stack(
                [b[0] + c[:, 0] * (b[2] - b[0]) / ext, b[3] - c[:, 1] * (b[3] - b[1]) / ext]
            )

        geoms = np.array(
            [shapely.transform(shapely.geometry.shape(f["geometry"]), to3857) for f in layer["features"]]
        )
        poly = np.array([f["geometry"]["type"].endswith("Polygon") for f in layer["features"]])
        geoms[poly] = shapely.make_valid(geoms[poly])
        geoms = shapely.intersection(geoms, box)
        geoms[poly] = [_polygon_parts(g) for g in geoms[poly]]
        # Polygon features count when some area is left (collapsed parts are not polygons).
        kept = np.where(poly, shapely.area(geoms) > 0, ~shapely.is_empty(geoms))
        geoms, poly = geoms[kept], poly[kept]
        out[name] = (
            _sorted_bounds(geoms),
            float(shapely.area(geoms).sum()),
            float(shapely.length(geoms[~poly]).sum()),
        )
    return out


@pytest.mark.parametrize("x,y", TILES)
def test_decoder_agrees_with_mapbox_vector_tile(x: int, y: int) -> None:
    mine = decode_tile((DATA / "tiles" / "14" / str(x) / f"{y}.pbf").read_bytes(), 14, x, y)
    ref = _reference_decode(x, y)
    assert set(mine) == {k for k, v in ref.items() if len(v[0])}
    for name, (bounds, area, length) in ref.items():
        g = mine[name]
        assert g.crs == "EPSG:3857"
        lines = ~g.geom_type.isin(["Polygon", "MultiPolygon"])
        assert len(g) == len(bounds), name
        np.testing.assert_allclose(
            _sorted_bounds(np.asarray(g.geometry.array)), bounds, atol=0.011, err_msg=name
        )
        assert g.area.sum() == pytest.approx(area, rel=1e-6, abs=1e-3), name
        assert g[lines].length.sum() == pytest.approx(length, rel=1e-6, abs=1e-3), name


@pytest.mark.parametrize("layer,key", [("landcover", "class"), ("water", "class"), ("building", None)])
def test_areas_per_class_match_provider_geoparquet(
    from_dir: dict, footprint: shapely.Geometry, layer: str, key: str | None
) -> None:
    ref = gpd.read_parquet(DATA / "geoparquet" / f"{layer}.parquet")
    got = from_dir[layer]
    assert got.crs == RD
    want = _areas_by_class(ref, footprint, key)
    have = _areas_by_class(got, footprint, key)
    assert sum(want.values()) > 1e5  # the comparison is about real amounts of land
    assert set(have) == set(want)
    for cls, area in want.items():
        assert have[cls] == pytest.approx(area, rel=REL_TOL), f"{layer} {cls}"
    # Same places, not only the same amounts: the two decodes overlap almost completely.
    mine = shapely.union_all(shapely.intersection(np.asarray(got.geometry.array), footprint))
    theirs = shapely.union_all(shapely.intersection(np.asarray(ref.geometry.array), footprint))
    assert shapely.intersection(mine, theirs).area == pytest.approx(theirs.area, rel=REL_TOL)


def test_features_are_cut_to_their_tile(from_dir: dict) -> None:
    tr = Transformer.from_crs(3857, RD, always_xy=True)
    for name in ("landcover", "water", "building", "transportation"):
        g = from_dir[name]
        assert set(g["tile"]) <= {f"14/{x}/{y}" for x, y in TILES}
        for tile, part in g.groupby("tile"):
            _, x, y = map(int, tile.split("/"))
            ring = np.asarray(
                shapely.segmentize(shapely.box(*tile_bounds_3857(14, x, y)), 10).exterior.coords
            )
            cell = shapely.Polygon(np.column_stack(tr.transform(ring[:, 0], ring[:, 1]))).buffer(0.05)
            assert shapely.within(np.asarray(part.geometry.array), cell).all(), f"{name} leaves tile {tile}"


def test_attributes_and_types(from_dir: dict) -> None:
    lc = from_dir["landcover"]
    assert {"class", "subclass", "tile"} <= set(lc.columns)
    assert {"grass", "wood", "farmland"} <= set(lc["class"])
    assert lc.geom_type.isin(["Polygon", "MultiPolygon"]).all() and lc.is_valid.all()
    tr = from_dir["transportation"]
    assert {"class", "brunnel"} <= set(tr.columns)
    assert tr.geom_type.isin(["LineString", "MultiLineString"]).all()
    poi = from_dir["poi"]
    assert poi.geom_type.isin(["Point", "MultiPoint"]).all() and poi["name"].notna().any()


def test_bbox_filter_and_progress(footprint: shapely.Geometry) -> None:
    # A 300 m box in the middle of tile 8405/5427: only that tile is read, features intersect the box.
    tr = Transformer.from_crs(3857, RD, always_xy=True)
    b = tile_bounds_3857(14, 8405, 5427)
    cx, cy = tr.transform((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    small = (cx - 150, cy - 150, cx + 150, cy + 150)
    calls: list[tuple[int, int]] = []
    res = read_openmaptiles(DATA, small, RD, layers=["building"], progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 1)]
    g = res["building"]
    assert len(g) > 10 and set(g["tile"]) == {"14/8405/5427"}
    assert g.intersects(shapely.box(*small)).all()
    everything = read_openmaptiles(DATA, footprint.bounds, RD, layers=["building"])["building"]
    assert len(everything) > len(g)


def test_missing_layer_is_empty(bbox: tuple) -> None:
    res = read_openmaptiles(DATA / "tiles", bbox, RD, layers=["water", "aerodrome_label"])
    assert len(res["water"]) > 0 and len(res["aerodrome_label"]) == 0 and res["aerodrome_label"].crs == RD


# ------------------------------------------------------------------------------ other forms, same data
def _tile_bytes() -> dict[tuple[int, int], bytes]:
    return {(x, y): (DATA / "tiles" / "14" / str(x) / f"{y}.pbf").read_bytes() for x, y in TILES}


def test_gzipped_tiles_in_tiles_subfolder(tmp_path: Path, bbox: tuple, from_dir: dict) -> None:
    for (x, y), data in _tile_bytes().items():
        p = tmp_path / "export" / "tiles" / "14" / str(x) / f"{y}.pbf"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(gzip.compress(data) if x == 8405 else data)
    res = read_openmaptiles(tmp_path / "export", bbox, RD, layers=list(from_dir))
    assert _signature(res) == _signature(from_dir)


def test_mbtiles_gives_the_same_features(tmp_path: Path, bbox: tuple, from_dir: dict) -> None:
    path = tmp_path / "dordrecht.mbtiles"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE metadata (name TEXT, value TEXT);"
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);"
        "INSERT INTO metadata VALUES ('format', 'pbf');"
    )
    for (x, y), data in _tile_bytes().items():
        db.execute(
            "INSERT INTO tiles VALUES (14, ?, ?, ?)", (x, 2**14 - 1 - y, gzip.compress(data))
        )  # TMS rows
    db.commit()
    db.close()
    res = read_openmaptiles(path, bbox, RD, layers=list(from_dir))
    assert _signature(res) == _signature(from_dir)


@pytest.mark.parametrize("padding", [False, True])
def test_pmtiles_gives_the_same_features(tmp_path: Path, bbox: tuple, from_dir: dict, padding: bool) -> None:
    from pmtiles.tile import Compression, TileType, deserialize_header, tileid_to_zxy, zxy_to_tileid
    from pmtiles.writer import write

    path = tmp_path / "dordrecht.pmtiles"
    tiles = [(zxy_to_tileid(14, x, y), gzip.compress(d)) for (x, y), d in _tile_bytes().items()]
    if padding:
        # ~20,000 random tiles on both sides of ours along the Hilbert curve (none in the area asked
        # for): the directory then needs leaf directories, and ours sit in a middle one.
        rnd = random.Random(1)
        ids = [t for t, _ in tiles]
        for tid in range(min(ids) - 40_000, max(ids) + 40_000, 4):
            _, x, y = tileid_to_zxy(tid + rnd.randint(0, 3))
            if not (8400 <= x <= 8411 and 5422 <= y <= 5433):
                tiles.append((zxy_to_tileid(14, x, y), rnd.randbytes(rnd.randint(1, 250))))
    with write(str(path)) as w:
        for tid, data in sorted(tiles):
            w.write_tile(tid, data)
        w.finalize(
            {
                "tile_type": TileType.MVT,
                "tile_compression": Compression.GZIP,
                "min_lon_e7": int(4.65e7),
                "min_lat_e7": int(51.79e7),
                "max_lon_e7": int(4.70e7),
                "max_lat_e7": int(51.82e7),
                "center_zoom": 14,
                "center_lon_e7": int(4.68e7),
                "center_lat_e7": int(51.80e7),
            },
            {"name": "test"},
        )
    assert (deserialize_header(path.read_bytes()[:127])["leaf_directory_length"] > 0) == padding
    res = read_openmaptiles(path, bbox, RD, layers=list(from_dir))
    assert _signature(res) == _signature(from_dir)


def test_empty_tile_is_fine(tmp_path: Path, bbox: tuple) -> None:
    """0-byte tiles occur in real exports (no features there): they are valid, empty tiles."""
    shutil.copytree(DATA / "tiles", tmp_path / "tiles")
    (tmp_path / "tiles" / "14" / "8406" / "5428.pbf").write_bytes(b"")
    res = read_openmaptiles(tmp_path / "tiles", bbox, RD, layers=["water"])
    assert "14/8406/5428" not in set(res["water"]["tile"]) and len(res["water"]) > 0


def test_geoparquet_folder_is_reprojected(tmp_path: Path, footprint: shapely.Geometry) -> None:
    # Write the provider's layers in WGS84; reading them back in RD New must give the same areas.
    for p in (DATA / "geoparquet").glob("*.parquet"):
        gpd.read_parquet(p).to_crs(4326).to_parquet(tmp_path / p.name)
    res = read_openmaptiles(tmp_path, footprint.bounds, RD)
    assert set(res) == {"landcover", "water", "building"}
    for name, g in res.items():
        ref = gpd.read_parquet(DATA / "geoparquet" / f"{name}.parquet")
        assert g.crs == RD and len(g) == len(ref)
        assert g.area.sum() == pytest.approx(ref.area.sum(), rel=1e-6)


def test_gpkg_one_table_per_layer(tmp_path: Path, footprint: shapely.Geometry) -> None:
    path = tmp_path / "omt.gpkg"
    for name in ("landcover", "water"):
        gpd.read_parquet(DATA / "geoparquet" / f"{name}.parquet").to_crs(3857).to_file(
            path, layer=name, driver="GPKG"
        )
    res = read_openmaptiles(path, footprint.bounds, RD, layers=["water", "landcover", "park"])
    assert len(res["park"]) == 0
    for name in ("landcover", "water"):
        ref = gpd.read_parquet(DATA / "geoparquet" / f"{name}.parquet")
        assert res[name].crs == RD and len(res[name]) == len(ref)
        assert res[name].area.sum() == pytest.approx(ref.area.sum(), rel=1e-6)


# ------------------------------------------------------------------------------------------- errors
def test_corrupt_tile_is_named(tmp_path: Path, bbox: tuple) -> None:
    shutil.copytree(DATA / "tiles", tmp_path / "tiles")
    bad = tmp_path / "tiles" / "14" / "8406" / "5427.pbf"
    bad.write_bytes(bad.read_bytes()[:5000])  # truncated
    with pytest.raises(InputDataError) as e:
        read_openmaptiles(tmp_path / "tiles", bbox, RD, layers=["building"])
    assert "tile 14/8406/5427" in str(e.value) and str(tmp_path / "tiles") in str(e.value)
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")  # a broken gzip stream
    with pytest.raises(InputDataError, match="tile 14/8406/5427"):
        read_openmaptiles(tmp_path / "tiles", bbox, RD, layers=["building"])


def test_bbox_outside_the_tiles() -> None:
    amsterdam = (120000.0, 485000.0, 123000.0, 488000.0)
    with pytest.raises(NoOverlapError) as e:
        read_openmaptiles(DATA / "tiles", amsterdam, RD)
    msg = str(e.value)
    assert str(DATA / "tiles") in msg
    assert "x 8405-8406, y 5427-5428" in msg  # what the source covers
    rng = tile_range_for_bbox(amsterdam, RD, 14)
    assert f"x {rng.xmin}-{rng.xmax}, y {rng.ymin}-{rng.ymax}" in msg  # what was asked


@pytest.mark.filterwarnings("ignore:The filename extension should be:RuntimeWarning")
def test_mbtiles_that_is_something_else(tmp_path: Path, bbox: tuple) -> None:
    fake = tmp_path / "tiles.mbtiles"
    fake.write_text("zoom_level,tile_column\n14,8405\n")
    with pytest.raises(InputDataError, match=str(fake)):
        read_openmaptiles(fake, bbox, RD)
    gpkg = tmp_path / "really_a_gpkg.mbtiles"
    gpd.read_parquet(DATA / "geoparquet" / "water.parquet").to_file(gpkg, driver="GPKG")
    with pytest.raises(InputDataError, match="really_a_gpkg.mbtiles is not a mbtiles file"):
        read_openmaptiles(gpkg, bbox, RD)
    other = tmp_path / "other.mbtiles"
    sqlite3.connect(other).executescript("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);")
    with pytest.raises(InputDataError, match="no table 'tiles'"):
        read_openmaptiles(other, bbox, RD)


def test_unsupported_sources(tmp_path: Path, bbox: tuple) -> None:
    shp = tmp_path / "roads.shp"
    shp.write_bytes(b"\x00\x00\x27\x0a" + bytes(96))
    with pytest.raises(InputDataError, match="roads.shp is not an OpenMapTiles source"):
        read_openmaptiles(shp, bbox, RD)
    with pytest.raises(InputDataError, match="File not found"):
        read_openmaptiles(tmp_path / "missing.pmtiles", bbox, RD)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="holds no vector tiles"):
        read_openmaptiles(tmp_path / "empty", bbox, RD)
    with pytest.raises(InputDataError, match="no tiles at zoom 12"):
        read_openmaptiles(DATA / "tiles", bbox, RD, zoom=12)
    fake = tmp_path / "x.pmtiles"
    fake.write_bytes(b"PMTiles\x02" + bytes(200))  # version 2 header
    with pytest.raises(InputDataError, match="x.pmtiles cannot be read as PMTiles"):
        read_openmaptiles(fake, bbox, RD)
