"""Raw OSM PBF reader: a small extract written here with osmium.SimpleWriter, checked against
polygons built independently from the same coordinates (projected with pyproj, measured with shapely)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import osmium
import pytest
import shapely
from osmium.osm import mutable
from pyproj import Transformer

from biostress.errors import ConfigError, InputDataError, NoOverlapError
from biostress.sources.osm_pbf import read_osm_pbf

RD = "EPSG:28992"
KEYS = ["building", "landuse", "highway", "natural"]
TO_RD = Transformer.from_crs("EPSG:4326", RD, always_xy=True)

# lon/lat near the centre of Dordrecht
BUILDING = [(4.6700, 51.8100), (4.6707, 51.8100), (4.6707, 51.8104), (4.6700, 51.8104)]
GRASS_OUTER = [(4.6750, 51.8050), (4.6790, 51.8050), (4.6790, 51.8080), (4.6750, 51.8080)]
GRASS_HOLE = [(4.6760, 51.8060), (4.6770, 51.8060), (4.6770, 51.8070), (4.6760, 51.8070)]
ROAD = [(4.6650, 51.8000), (4.6700, 51.8020), (4.6760, 51.8030)]
LOOP = [(4.6800, 51.8100), (4.6810, 51.8100), (4.6810, 51.8106)]  # a closed highway=service way
TREE = (4.6720, 51.8090)
BENCH = (4.6721, 51.8091)  # amenity=bench only: not selected
FAR_BUILDING = [(4.9000, 52.3700), (4.9005, 52.3700), (4.9005, 52.3703), (4.9000, 52.3703)]  # Amsterdam


def _rd_polygon(outer: list[tuple[float, float]], holes: tuple = ()) -> shapely.Polygon:
    """The reference: the same lon/lat vertices projected with pyproj, as a shapely polygon."""

    def proj(ring: list[tuple[float, float]]) -> np.ndarray:
        a = np.asarray(ring)
        return np.column_stack(TO_RD.transform(a[:, 0], a[:, 1]))

    return shapely.Polygon(proj(outer), [proj(h) for h in holes])


def _write_extract(path: Path, header_box: tuple[float, float, float, float] | None = None) -> None:
    nodes: dict[int, tuple[float, float]] = {}
    ways: list[mutable.Way] = []

    def way(wid: int, coords: list[tuple[float, float]], tags: dict[str, str], closed: bool) -> None:
        ids = []
        for c in coords:
            nid = 1000 + len(nodes)
            nodes[nid] = c
            ids.append(nid)
        ways.append(mutable.Way(id=wid, nodes=ids + ids[:1] if closed else ids, tags=tags))

    way(10, BUILDING, {"building": "yes", "name": "Huis"}, closed=True)
    way(11, GRASS_OUTER, {}, closed=True)
    way(12, GRASS_HOLE, {}, closed=True)
    way(13, ROAD, {"highway": "residential", "name": "Voorstraat"}, closed=False)
    way(14, LOOP, {"highway": "service"}, closed=True)
    way(15, FAR_BUILDING, {"building": "house"}, closed=True)
    way(16, [(4.671, 51.806), (4.672, 51.806)], {"waterway": "ditch"}, closed=False)  # no selected key
    header = None
    if header_box is not None:
        header = osmium.io.Header()
        header.add_box(osmium.osm.Box(*header_box))
    writer = osmium.SimpleWriter(str(path), header=header) if header else osmium.SimpleWriter(str(path))
    writer.add_node(mutable.Node(id=1, location=TREE, tags={"natural": "tree"}))
    writer.add_node(mutable.Node(id=2, location=BENCH, tags={"amenity": "bench"}))
    for nid, c in sorted(nodes.items()):
        writer.add_node(mutable.Node(id=nid, location=c))
    for w in ways:
        writer.add_way(w)
    writer.add_relation(
        mutable.Relation(
            id=20,
            members=[("w", 11, "outer"), ("w", 12, "inner")],
            tags={"type": "multipolygon", "landuse": "grass"},
        )
    )
    writer.close()


@pytest.fixture
def extract(tmp_path: Path) -> Path:
    path = tmp_path / "dordrecht.osm.pbf"
    _write_extract(path)
    return path


DORDRECHT = (100000.0, 415000.0, 120000.0, 427000.0)


def test_areas_against_independent_polygons(extract: Path) -> None:
    res = read_osm_pbf(extract, DORDRECHT, RD, keys=KEYS)
    areas = res["areas"].set_index(["osm_type", "osm_id"])
    assert areas.crs == RD
    assert sorted(areas.index) == [("relation", 20), ("way", 10)]  # far building out, service loop is a line
    building = areas.loc[("way", 10)]
    ref_building = _rd_polygon(BUILDING)
    assert ref_building.area == pytest.approx(48.6 * 44.5, rel=0.02)  # ~49 m x 44 m, sanity of the reference
    assert building.geometry.area == pytest.approx(ref_building.area, rel=1e-9)
    assert building.geometry.symmetric_difference(ref_building).area < 1e-6
    assert building["building"] == "yes" and building["landuse"] is None and building["highway"] is None
    grass = areas.loc[("relation", 20)]
    ref_grass = _rd_polygon(GRASS_OUTER, (GRASS_HOLE,))
    assert grass["landuse"] == "grass" and grass["building"] is None
    assert grass.geometry.area == pytest.approx(ref_grass.area, rel=1e-9)
    assert (
        grass.geometry.area < _rd_polygon(GRASS_OUTER).area - 0.9 * _rd_polygon(GRASS_HOLE).area
    )  # hole cut out
    hole_centre = _rd_polygon(GRASS_HOLE).centroid
    assert not grass.geometry.contains(hole_centre)
    assert grass.geometry.symmetric_difference(ref_grass).area < 1e-6


def test_lines_points_and_columns(extract: Path) -> None:
    res = read_osm_pbf(extract, DORDRECHT, RD, keys=KEYS)
    assert set(res) == {"areas", "lines", "points"}
    for gdf in res.values():
        assert list(gdf.columns) == ["osm_id", "osm_type", *KEYS, "geometry"]
    lines = res["lines"].set_index("osm_id")
    assert sorted(lines.index) == [13, 14]  # the ditch has no selected key
    road = lines.loc[13]
    a = np.asarray(ROAD)
    ref_road = shapely.LineString(np.column_stack(TO_RD.transform(a[:, 0], a[:, 1])))
    assert road.geometry.length == pytest.approx(ref_road.length, rel=1e-9)
    assert road["highway"] == "residential" and road["osm_type"] == "way" and road["building"] is None
    assert lines.loc[14, "highway"] == "service" and lines.loc[14].geometry.is_closed
    points = res["points"]
    assert points["osm_id"].tolist() == [1] and points["natural"].tolist() == [
        "tree"
    ]  # the bench is not kept
    x, y = TO_RD.transform(*TREE)
    assert (points.geometry.iloc[0].x, points.geometry.iloc[0].y) == pytest.approx((x, y), abs=1e-6)


def test_bbox_filter(extract: Path) -> None:
    # A box around the building only: the grass, road and tree lie outside it.
    b = _rd_polygon(BUILDING).bounds
    res = read_osm_pbf(extract, (b[0] - 5, b[1] - 5, b[2] + 5, b[3] + 5), RD, keys=KEYS)
    assert res["areas"]["osm_id"].tolist() == [10]
    assert len(res["lines"]) == 0 and len(res["points"]) == 0
    # Amsterdam: only the far building.
    far = _rd_polygon(FAR_BUILDING).buffer(100).bounds
    res = read_osm_pbf(extract, far, RD, keys=["building"])
    assert res["areas"]["osm_id"].tolist() == [15]
    assert list(res["areas"].columns) == ["osm_id", "osm_type", "building", "geometry"]


def test_no_overlap(tmp_path: Path, extract: Path) -> None:
    groningen = (230000.0, 575000.0, 240000.0, 585000.0)
    with pytest.raises(NoOverlapError, match=str(extract)):
        read_osm_pbf(extract, groningen, RD, keys=KEYS)
    boxed = tmp_path / "boxed.osm.pbf"
    _write_extract(boxed, header_box=(4.6, 51.7, 4.95, 52.4))
    with pytest.raises(NoOverlapError, match="does not overlap"):
        read_osm_pbf(boxed, groningen, RD, keys=KEYS)
    assert len(read_osm_pbf(boxed, DORDRECHT, RD, keys=KEYS)["areas"]) == 2


def test_corrupt_and_wrong_files(tmp_path: Path, extract: Path) -> None:
    data = extract.read_bytes()
    truncated = tmp_path / "truncated.osm.pbf"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputDataError, match="truncated.osm.pbf"):
        read_osm_pbf(truncated, DORDRECHT, RD, keys=KEYS)
    scrambled = tmp_path / "scrambled.osm.pbf"
    scrambled.write_bytes(data[:40] + bytes(b ^ 0x5A for b in data[40:]))
    with pytest.raises(InputDataError, match="scrambled.osm.pbf"):
        read_osm_pbf(scrambled, DORDRECHT, RD, keys=KEYS)
    html = tmp_path / "download.osm.pbf"
    html.write_text("<html><body>404 Not Found</body></html>")
    with pytest.raises(InputDataError, match="download.osm.pbf is not a osmpbf file"):
        read_osm_pbf(html, DORDRECHT, RD, keys=KEYS)
    with pytest.raises(ConfigError):
        read_osm_pbf(extract, DORDRECHT, RD, keys=[])
