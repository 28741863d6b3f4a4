"""The geocoders: PDOK Locatieserver v3.1 against a local HTTP server answering from hand-written
recordings (tests/data/locatieserver, see NOTICE.md there; no internet), coordinates typed as text,
and area units / plan blocks of a run."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import geopandas as gpd
import pytest
import shapely
from pyproj import Transformer

from biostress.errors import ConfigError, FetchError, InputDataError, UnsafeInputError
from biostress.sources.geocode import (
    PDOK_LOCATIESERVER_URL,
    CoordinateGeocoder,
    Geocoder,
    PdokLocatieserver,
    Place,
    UnitGeocoder,
    parse_point_wkt,
)
from biostress.sources.http import USER_AGENT, Cache

RECORDED = Path(__file__).resolve().parent / "data" / "locatieserver"
API = "/bzk/locatieserver/search/v3_1"
#: query parameters of /free in the v3.1 OpenAPI specification; others are refused with 400
FREE_PARAMS = {"q", "rows", "start", "fq", "fl", "sort", "df", "bq", "wt", "lat", "lon"}


class LocatieserverStub:
    """A ThreadingHTTPServer on 127.0.0.1 that answers /free like the Locatieserver from the recordings."""

    def __init__(self) -> None:
        self.manifest = json.loads((RECORDED / "manifest.json").read_text(encoding="utf-8"))
        self.hits: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.scripted: list[tuple[int, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.host}{API}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def answer(self, path: str, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, str], bytes]:
        if path != API + "/free":
            return 404, {"Content-Type": "application/problem+json"}, json.dumps(
                {"title": "Not Found", "status": 404, "detail": f"no resource at {path}"}).encode()
        unknown = sorted({k for k, _ in pairs} - FREE_PARAMS)
        if unknown:
            body = (RECORDED / "error_unknown_parameter.json").read_text(encoding="utf-8")
            return 400, {"Content-Type": "application/problem+json"}, body.replace("{parameter}", unknown[0]).encode()
        q = dict(pairs)
        rows = int(q.get("rows", "10"))
        text = " ".join(q.get("q", "").split()).casefold()
        rec = next((e for e in self.manifest if e["path"] == path and e["q"] == text), None)
        doc = json.loads((RECORDED / (rec["file"] if rec else "free_no_match.json")).read_text(encoding="utf-8"))
        docs = doc["response"]["docs"]
        fq = q.get("fq", "")
        if fq.startswith("type:"):
            wanted = {t.strip() for t in fq[5:].strip("()").split(" OR ")}
            docs = [d for d in docs if d["type"] in wanted]
        if "fl" in q:
            fields = set(q["fl"].replace(",", " ").split())
            docs = [{k: v for k, v in d.items() if k in fields} for d in docs]
        doc["response"]["docs"] = docs[:rows]
        doc["response"]["numFound"] = len(docs)
        return 200, {"Content-Type": "application/json"}, json.dumps(doc).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                parts = urlsplit(self.path)
                pairs = parse_qsl(parts.query, keep_blank_values=True)
                with stub.lock:
                    stub.hits[parts.path] += 1
                    stub.requests.append({"path": parts.path, "query": pairs, "headers": dict(self.headers.items())})
                    scripted = stub.scripted.pop(0) if stub.scripted else None
                status, headers, body = scripted or stub.answer(parts.path, pairs)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        return Handler


@pytest.fixture
def stub() -> Iterator[LocatieserverStub]:
    s = LocatieserverStub()
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _geocoder(stub: LocatieserverStub, **kw: Any) -> PdokLocatieserver:
    return PdokLocatieserver(stub.base, allow_hosts=[stub.host], backoff=0.01, timeout=10, **kw)


# --------------------------------------------------------------------------------------------
# PDOK Locatieserver
# --------------------------------------------------------------------------------------------

def test_locatieserver_finds_an_address(stub: LocatieserverStub):
    g = _geocoder(stub)
    assert isinstance(g, Geocoder)
    places = g.search("Nieuwe Haven 29 Dordrecht")
    assert [p.label for p in places] == ["Nieuwe Haven 29, 3311AP Dordrecht", "Nieuwe Haven 27, 3311AP Dordrecht",
                                         "Nieuwe Haven 31, 3311AP Dordrecht"]
    best = places[0]
    # the recorded centroide_rd "POINT(105109.27 425555.5)", in RD New
    assert (best.x, best.y, best.crs, best.kind) == (105109.27, 425555.5, "EPSG:28992", "adres")
    assert best.id == "adr-0485cf27e59d0e634d7911848bb0d42e" and best.score == pytest.approx(17.203413)
    # the request speaks the v3.1 protocol: /free with q, rows, fq=type:adres and the fields asked for
    req = stub.requests[-1]
    assert req["path"] == API + "/free"
    q = dict(req["query"])
    assert q["q"] == "Nieuwe Haven 29 Dordrecht" and q["rows"] == "5" and q["fq"] == "type:adres"
    assert set(q["fl"].split()) >= {"weergavenaam", "centroide_rd", "type", "id", "score"}
    assert req["headers"]["User-Agent"] == USER_AGENT
    # the point agrees with the recorded centroide_ll (lon lat), converted independently
    lon, lat = Transformer.from_crs(28992, 4326, always_xy=True).transform(best.x, best.y)
    assert (lon, lat) == pytest.approx((4.66364801, 51.81638528), abs=1e-7)
    assert best.to("EPSG:4326") == pytest.approx((4.66364801, 51.81638528), abs=1e-7)


def test_locatieserver_rows_types_and_no_match(stub: LocatieserverStub):
    assert len(_geocoder(stub, rows=1).search("nieuwe  haven 29, DORDRECHT")) == 1
    assert _geocoder(stub).search("Nergensstraat 999 Nergenshuizen") == []
    g = _geocoder(stub, types=("adres", "postcode"))
    g.search("Nieuwe Haven 29 Dordrecht")
    assert dict(stub.requests[-1]["query"])["fq"] == "type:(adres OR postcode)"
    # only postcodes asked: the recorded addresses are filtered out by the server
    assert _geocoder(stub, types=("postcode",)).search("Nieuwe Haven 29 Dordrecht") == []


def test_locatieserver_uses_the_cache(stub: LocatieserverStub, tmp_path: Path):
    g = _geocoder(stub, cache=tmp_path / "cache")
    a = g.search("Nieuwe Haven 29 Dordrecht")
    b = g.search("Nieuwe Haven 29 Dordrecht")
    assert a == b and stub.hits[API + "/free"] == 1
    meta = Cache(tmp_path / "cache").meta_path(g.url("Nieuwe Haven 29 Dordrecht"))
    assert json.loads(meta.read_text())["url"].startswith(stub.base + "/free?")
    g.search("Nieuwe Haven 29 Dordrecht", refresh=True)
    assert stub.hits[API + "/free"] == 2


def test_locatieserver_retries_and_bad_answers(stub: LocatieserverStub, tmp_path: Path):
    # a 503 is retried, then the real answer comes
    stub.scripted.append((503, {"Content-Type": "text/plain"}, b"busy"))
    assert _geocoder(stub).search("Nieuwe Haven 29 Dordrecht")[0].label.startswith("Nieuwe Haven 29")
    # an HTML page instead of JSON: a FetchError that says what to check, and nothing is cached
    stub.scripted.append((200, {"Content-Type": "text/html"}, b"<html><body>maintenance</body></html>"))
    g = _geocoder(stub, cache=tmp_path / "c")
    with pytest.raises(FetchError, match="did not answer with a Locatieserver") as e:
        g.search("Nieuwe Haven 29 Dordrecht")
    assert "base URL" in str(e.value)
    assert Cache(tmp_path / "c").get(g.url("Nieuwe Haven 29 Dordrecht")) is None
    # JSON, but not a search result
    stub.scripted.append((200, {"Content-Type": "application/json"}, b'{"features": []}'))
    with pytest.raises(FetchError, match="Locatieserver"):
        _geocoder(stub).search("Nieuwe Haven 29 Dordrecht")
    # a wrong base URL: the server's 404 becomes a FetchError naming the URL and status
    with pytest.raises(FetchError, match="404"):
        PdokLocatieserver(f"http://{stub.host}/wrong/path", allow_hosts=[stub.host], backoff=0.01).search("x y")
    # the stub really refuses unknown parameters (the client never sends any)
    status, _, body = stub.answer(API + "/free", [("q", "a"), ("format", "xml")])
    assert status == 400 and b"'format'" in body


def test_locatieserver_refuses_bad_input(stub: LocatieserverStub):
    # an internal host that was not allowed is refused before any request
    with pytest.raises(UnsafeInputError):
        PdokLocatieserver(stub.base).search("Nieuwe Haven 29")
    assert stub.hits[API + "/free"] == 0
    g = _geocoder(stub)
    for bad in ("", "   ", "a\nb", "x" * 201):
        with pytest.raises(InputDataError):
            g.search(bad)
    for kw in ({"rows": 0}, {"rows": 101}, {"types": ("house",)}, {"types": ()}):
        with pytest.raises(ConfigError):
            PdokLocatieserver(stub.base, **kw)
    for url in ("ftp://api.pdok.nl/x", "api.pdok.nl/bzk", "https://api.pdok.nl/x?q=1"):
        with pytest.raises(ConfigError):
            PdokLocatieserver(url)
    assert PdokLocatieserver().url("a b").startswith(PDOK_LOCATIESERVER_URL + "/free?q=a+b&rows=5&fq=type%3Aadres")


def test_parse_point_wkt():
    assert parse_point_wkt("POINT(105109.27 425555.5)") == (105109.27, 425555.5)
    assert parse_point_wkt(" point ( -1e3 2 ) ") == (-1000.0, 2.0)
    for bad in ("POINT(1)", "POINT(1 2 3)", "LINESTRING(1 2, 3 4)", None, 5, "POINT(nan 1)"):
        assert parse_point_wkt(bad) is None


# --------------------------------------------------------------------------------------------
# coordinates
# --------------------------------------------------------------------------------------------

def test_coordinates_rd_and_wgs84():
    g = CoordinateGeocoder()
    for text in ("105109.27, 425555.5", "105109.27;425555.5", "(105109.27 425555.5)", " 105109.27   425555.5 "):
        [p] = g.search(text)
        assert (p.x, p.y, p.crs, p.kind) == (105109.27, 425555.5, "EPSG:28992", "rd")
    # latitude, longitude in degrees; and the swapped order, which cannot be confused in NL
    for text in ("51.81638528, 4.66364801", "4.66364801, 51.81638528"):
        [p] = g.search(text)
        assert (p.x, p.y, p.crs) == (4.66364801, 51.81638528, "EPSG:4326")
        # independent check: pyproj's inverse of the RD point recorded above
        x, y = Transformer.from_crs(4326, 28992, always_xy=True).transform(p.x, p.y)
        assert p.to("EPSG:28992") == pytest.approx((x, y), abs=1e-6)
        assert (x, y) == pytest.approx((105109.27, 425555.5), abs=0.01)


def test_coordinates_bad_input():
    g = CoordinateGeocoder()
    with pytest.raises(InputDataError, match="order y, x"):
        g.search("425555.5, 105109.27")
    with pytest.raises(InputDataError, match="not in the Netherlands"):
        g.search("900000, 425555")
    with pytest.raises(InputDataError, match="not in the Netherlands"):
        g.search("48.85, 2.35")  # Paris
    for bad in ("Nieuwe Haven 29", "105109,27 425555,5", "1 2 3", "", "nan, 1"):
        with pytest.raises(InputDataError):
            g.search(bad)
    with pytest.raises(ConfigError):
        CoordinateGeocoder("EPSG:4326")
    with pytest.raises(ConfigError):
        CoordinateGeocoder("not a crs")


# --------------------------------------------------------------------------------------------
# units and plan blocks
# --------------------------------------------------------------------------------------------

def _units() -> tuple[dict[str, gpd.GeoDataFrame], gpd.GeoDataFrame]:
    # an L-shaped buurt: its centroid lies outside, its representative point must not
    ell = shapely.Polygon([(0, 0), (100, 0), (100, 10), (10, 10), (10, 100), (0, 100)])
    buurt = gpd.GeoDataFrame({"code": ["BU01", "BU02"], "name": ["Oude Haven", "Nieuwe Haven en omgeving"]},
                             geometry=[ell, shapely.box(200, 0, 300, 100)], crs=28992)
    wijk = gpd.GeoDataFrame({"code": ["WK01"], "name": ["WK01"]}, geometry=[shapely.box(0, 0, 300, 100)], crs=28992)
    sites = gpd.GeoDataFrame({"site": [7, 7, 8], "measure": ["depaving", "hedge", "pond"]},
                             geometry=[shapely.box(0, 0, 10, 10), shapely.box(0, 0, 10, 10),
                                       shapely.box(10, 0, 20, 10)], crs=28992)
    return {"buurt": buurt, "wijk": wijk}, sites


def test_unit_geocoder():
    units, sites = _units()
    g = UnitGeocoder(units, sites)
    [p] = g.search("bu01")
    assert (p.kind, p.id, p.score, p.crs) == ("buurt", "BU01", 1.0, "EPSG:28992")
    assert units["buurt"].geometry.iloc[0].contains(shapely.Point(p.x, p.y))  # inside the L, not its centroid
    assert p.geometry.equals(units["buurt"].geometry.iloc[0])
    assert [(q.id, q.score) for q in g.search("nieuwe haven en omgeving")] == [("BU02", 0.9)]
    assert [q.id for q in g.search("haven")] == ["BU01", "BU02"]  # partial names
    assert [q.kind for q in g.search("WK01")] == ["wijk"]
    [b] = g.search("7")
    assert (b.kind, b.id) == ("plan_block", "7") and "depaving" in b.label and "hedge" in b.label
    assert (b.x, b.y) == (5.0, 5.0)
    assert g.search("9") == [] and g.search("no such place") == []
    with pytest.raises(InputDataError):
        g.search("")


def test_unit_geocoder_from_run(tmp_path: Path):
    units, sites = _units()
    gpkg = tmp_path / "run" / "biostress.gpkg"
    gpkg.parent.mkdir()
    units["buurt"].to_file(gpkg, layer="units_buurt")
    sites.to_file(gpkg, layer="plan_measures")
    g = UnitGeocoder.from_run(tmp_path / "run")
    assert [p.id for p in g.search("BU02")] == ["BU02"] and [p.kind for p in g.search("8")] == ["plan_block"]
    with pytest.raises(InputDataError, match="no biostress.gpkg"):
        UnitGeocoder.from_run(tmp_path)
    # the blocks of a separate plan folder ('biostress plan' writes one next to the run)
    plan = tmp_path / "plan" / "biostress.gpkg"
    plan.parent.mkdir()
    sites.assign(site=[40, 40, 41]).to_file(plan, layer="plan_measures")
    g = UnitGeocoder.from_run(tmp_path / "run", plan_dir=tmp_path / "plan")
    assert [p.id for p in g.search("40")] == ["40"] and g.search("7") == []
    with pytest.raises(InputDataError, match="holds no plan"):
        UnitGeocoder.from_run(tmp_path / "run", plan_dir=_plain_gpkg(tmp_path / "run2"))


def _plain_gpkg(folder: Path) -> Path:
    folder.mkdir()
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=28992).to_file(folder / "biostress.gpkg",
                                                                                    layer="other")
    return folder


def test_place_to_same_crs_is_identity():
    p = Place("x", 1.0, 2.0, "EPSG:28992", "rd", "1,2")
    assert p.to("EPSG:28992") == (1.0, 2.0)
