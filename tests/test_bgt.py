"""BGT as a land-cover source: a hand-made BGT extract (GeoPackage with the attribute names of a
BGT export, and the same objects served over real HTTP as OGC API Features) with hand-computed
class areas. Domain values are those of the Geonovum IMGeo/BGT catalogue."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import pytest
import shapely
import yaml

from biostress.config import load_area
from biostress.landcover.rasterize import rasterize
from biostress.pipeline import prepare
from biostress.sources.bgt import layer_name, normalise_columns

X0, Y0 = 105000.0, 424000.0


def _objects() -> dict[str, gpd.GeoDataFrame]:
    """A 40 x 20 m block: a house, a garden (erf), a street, a green verge, grass, a ditch, a bridge."""
    b = shapely.box
    return {
        "pand": gpd.GeoDataFrame({"relatieveHoogteligging": [0]}, geometry=[b(X0, Y0 + 10, X0 + 10, Y0 + 20)], crs=28992),
        "onbegroeidterreindeel": gpd.GeoDataFrame(
            {"bgt-fysiekVoorkomen": ["erf"], "relatieveHoogteligging": [0]},
            geometry=[b(X0 + 10, Y0 + 10, X0 + 20, Y0 + 20)], crs=28992),
        "wegdeel": gpd.GeoDataFrame(
            {"bgt-functie": ["rijbaan lokale weg", "fietspad"], "bgt-fysiekVoorkomen": ["gesloten verharding"] * 2,
             "relatieveHoogteligging": [0, 1]},
            geometry=[b(X0, Y0, X0 + 20, Y0 + 10), b(X0 + 20, Y0 + 4, X0 + 40, Y0 + 6)], crs=28992),  # 2nd: a bridge
        "begroeidterreindeel": gpd.GeoDataFrame(
            {"bgt-fysiekVoorkomen": ["grasland overig", "loofbos"], "relatieveHoogteligging": [0, 0]},
            geometry=[b(X0 + 20, Y0 + 10, X0 + 40, Y0 + 20), b(X0 + 20, Y0 + 6, X0 + 40, Y0 + 10)], crs=28992),
        "waterdeel": gpd.GeoDataFrame({"bgt-type": ["waterloop"], "relatieveHoogteligging": [0]},
                                      geometry=[b(X0 + 20, Y0, X0 + 40, Y0 + 6)], crs=28992),
    }


# expected m2 inside the 40 x 20 m area (the bridge deck is ignored: the water below counts)
EXPECTED = {"building": 100, "urban_mixed": 100, "road": 200, "lawn_grass": 200, "trees_woodland": 80, "water": 120}


def _area(tmp_path, source: dict) -> gpd.GeoDataFrame:
    doc = {"name": "bgt test", "cell_size": 10, "boundary": {"bbox": [X0, Y0, X0 + 40, Y0 + 20]},
           "units": {"kind": "none"}, "sources": [source]}
    (tmp_path / "area.yaml").write_text(yaml.safe_dump(doc))
    return load_area(tmp_path / "area.yaml")


def _check(prep):
    lc = rasterize(prep.pieces, prep.grid, prep.legend.codes, prep.boundary)
    for key, m2 in EXPECTED.items():
        got = float(lc.fraction(prep.legend.by_key(key).code).sum()) * prep.grid.cell_area
        assert got == pytest.approx(m2, abs=1e-3), key
    assert float(lc.fraction(0).sum()) == pytest.approx(0.0, abs=1e-9)
    assert prep.counts["bgt"]["wegdeel"]["ignored"] == 1


def test_names_are_normalised():
    assert layer_name("bgt_begroeidterreindeel.gml") == "begroeidterreindeel"
    assert layer_name("BGT-Wegdeel") == "wegdeel"
    g = normalise_columns(gpd.GeoDataFrame({"bgt-fysiekVoorkomen": ["erf"], "relatieveHoogteligging": [0.0]},
                                           geometry=[shapely.Point(0, 0)]))
    assert list(g.columns[:2]) == ["fysiek_voorkomen", "relatieve_hoogteligging"]
    assert g["relatieve_hoogteligging"].iloc[0] == "0"


def test_bgt_geopackage_hand_computed(tmp_path):
    for name, g in _objects().items():
        g.to_file(tmp_path / "bgt.gpkg", layer=f"bgt_{name}", driver="GPKG")
    prep = prepare(_area(tmp_path, {"name": "bgt", "kind": "bgt", "path": "bgt.gpkg", "licence": "CC0-1.0",
                                    "attribution": "Kadaster BGT", "date": "2025"}))
    _check(prep)


class _OgcApi(BaseHTTPRequestHandler):
    objects: dict = {}
    seen: list = []

    def log_message(self, *a):  # noqa: D401 - silence
        pass

    def do_GET(self):  # noqa: N802
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        type(self).seen.append((u.path, q))
        parts = u.path.strip("/").split("/")
        # /lv/bgt/ogc/v1/collections/<name>/items
        name = parts[5] if len(parts) == 7 and parts[:5] == ["lv", "bgt", "ogc", "v1", "collections"] and parts[6] == "items" else None
        ok = (name is not None and q.get("f") == "json" and q.get("crs", "").endswith("/EPSG/0/28992")
              and q.get("bbox-crs", "").endswith("/EPSG/0/28992") and "bbox" in q)
        if not ok:
            self.send_response(400)
            self.end_headers()
            return
        g = type(self).objects.get(name)
        feats = json.loads(g.to_json())["features"] if g is not None else []
        for f in feats:
            props = normalise_columns(gpd.GeoDataFrame(f["properties"], index=[0], geometry=[shapely.Point(0, 0)])
                                      ).drop(columns="geometry").iloc[0].to_dict()
            f["properties"] = {k: (int(v) if k == "relatieve_hoogteligging" else v) for k, v in props.items()}
        body = json.dumps({"type": "FeatureCollection", "numberReturned": len(feats), "features": feats,
                           "links": [{"rel": "self", "href": f"http://{self.headers['Host']}{self.path}"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Crs", "<http://www.opengis.net/def/crs/EPSG/0/28992>")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_bgt_from_ogcapi_over_http(tmp_path):
    _OgcApi.objects = _objects()
    _OgcApi.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _OgcApi)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        host = f"127.0.0.1:{srv.server_address[1]}"
        _area(tmp_path, {"name": "bgt", "kind": "bgt", "url": f"http://{host}/lv/bgt/ogc/v1", "service": "ogcapi",
                                "licence": "CC0-1.0", "attribution": "Kadaster BGT", "date": "2025"})
        doc = yaml.safe_load((tmp_path / "area.yaml").read_text())
        doc["allow_hosts"] = [host]
        (tmp_path / "area.yaml").write_text(yaml.safe_dump(doc))
        prep = prepare(load_area(tmp_path / "area.yaml"))
        _check(prep)
        asked = {p.split("/")[-2] for p, _ in _OgcApi.seen}
        assert {"pand", "wegdeel", "begroeidterreindeel", "waterdeel"} <= asked
    finally:
        srv.shutdown()
        srv.server_close()
