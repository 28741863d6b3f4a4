"""Tests of the online fetchers against a real HTTP server on 127.0.0.1 (no mocks).

The server (:class:`RecordedServer`) answers from ``tests/data/recorded/`` (see NOTICE.md there):
OGC API - Features pages in PDOK's format, WFS 2.0 JSON pages and a WFS ExceptionReport. It checks
every query parameter the way the services do and answers 400 (problem JSON or an OWS
ExceptionReport) for anything it does not understand or has no recording for, so a passing test
shows that the client speaks the protocol. Tests can also queue scripted answers (503, 429,
redirects, oversized or disguised bodies) for a path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

import pytest

try:  # the package may not be installed: fall back to the source tree
    import biostress.sources.http  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import geopandas as gpd  # noqa: E402

from biostress.errors import FetchError, UnsafeInputError  # noqa: E402
from biostress.sources.http import USER_AGENT, Cache, HTTPStatusError, fetch  # noqa: E402
from biostress.sources.ogc import (  # noqa: E402
    CRS84,
    PDOK_PRESETS,
    RD_NEW,
    fetch_file,
    fetch_ogcapi_features,
    fetch_preset,
    fetch_wfs,
)
from biostress.sources.safe import safe_url  # noqa: E402

RECORDED = Path(__file__).resolve().parent / "data" / "recorded"
SHARED = Path(__file__).resolve().parents[1] / "examples" / "dordrecht" / "data"  # the shipped sample
SOURCE_BUURTEN = SHARED / "cbs_buurten_2024_generalised_dordrecht.geojson"
SOURCE_N2K = SHARED / "natura2000_within12km_dordrecht.gpkg"

OGC_BASE = "/cbs/wijken-en-buurten-2024/ogc/v1"
OGC_ITEMS = OGC_BASE + "/collections/{}/items"
WFS_PATH = "/rvo/natura2000/wfs/v1_0"
BBOX_RD = (102166.0, 414557.0, 120347.0, 426301.0)  # the Dordrecht buurten's extent
FAST = {"backoff": 0.01, "timeout": 10}

OGC_PARAMS = {
    "f",
    "limit",
    "bbox",
    "bbox-crs",
    "crs",
    "cursor",
    "datetime",
    "gemeentecode",
    "buurtcode",
    "wijkcode",
}
OGC_CRSS = {
    CRS84,
    RD_NEW,
    "http://www.opengis.net/def/crs/EPSG/0/4258",
    "http://www.opengis.net/def/crs/EPSG/0/4326",
}
OGC_COLLECTIONS = {"buurten", "wijken", "gemeenten"}
WFS_TYPENAMES = {"natura2000:natura2000", "natura2000"}
WFS_SRS = {
    "EPSG:28992",
    "urn:ogc:def:crs:EPSG::28992",
    "EPSG:4258",
    "EPSG:4326",
    "urn:ogc:def:crs:EPSG::4326",
}
WFS_JSON_FORMATS = {"application/json", "json", "geojson", "application/json; subtype=geojson"}


@dataclass
class Scripted:
    """A canned answer for one request to a path (used before the recordings)."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    omit_length: bool = False


class RecordedServer:
    """A ThreadingHTTPServer on 127.0.0.1 serving the recorded PDOK responses."""

    def __init__(self) -> None:
        self.manifest: list[dict[str, Any]] = json.loads(
            (RECORDED / "manifest.json").read_text(encoding="utf-8")
        )
        self.hits: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.scripted: dict[str, list[Scripted]] = defaultdict(list)
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="recorded-server",
            daemon=True,
        )

    # -- control --------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def script(self, path: str, *answers: Scripted) -> None:
        with self.lock:
            self.scripted[path].extend(answers)

    def total_hits(self) -> int:
        with self.lock:
            return sum(self.hits.values())

    def recorded_body(self, name: str) -> bytes:
        return (RECORDED / name).read_bytes().replace(b"{base}", self.base.encode())

    # -- request handling ---------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                parts = urlsplit(self.path)
                query = parse_qsl(parts.query, keep_blank_values=True)
                with server.lock:
                    server.hits[parts.path] += 1
                    server.requests.append(
                        {"path": parts.path, "query": query, "headers": dict(self.headers.items())}
                    )
                    scripted = server.scripted[parts.path].pop(0) if server.scripted.get(parts.path) else None
                if scripted is not None:
                    self._send(
                        scripted.status, scripted.headers, scripted.body, omit_length=scripted.omit_length
                    )
                elif parts.path.startswith(OGC_BASE + "/collections/"):
                    self._send(*server.answer_ogc(parts.path, query))
                elif parts.path == WFS_PATH:
                    self._send(*server.answer_wfs(query))
                elif parts.path.startswith("/files/") and (RECORDED / parts.path[7:]).is_file():
                    self._send(
                        200,
                        {"Content-Type": "application/octet-stream"},
                        (RECORDED / parts.path[7:]).read_bytes(),
                    )
                else:
                    self._send(*_problem(404, "Not Found", f"no resource at {parts.path}"))

            def _send(
                self, status: int, headers: dict[str, str], body: bytes, omit_length: bool = False
            ) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if omit_length:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        return Handler

    def _recording(self, service: str, path: str, query: dict[str, str]) -> dict[str, Any] | None:
        for entry in self.manifest:
            if entry["service"] == service and entry["path"] == path and _query_equal(entry["query"], query):
                return entry
        return None

    def answer_ogc(self, path: str, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, str], bytes]:
        """OGC API - Features items, validated like PDOK's gokoala does."""
        coll = path[len(OGC_BASE + "/collections/") :].removesuffix("/items")
        if not path.endswith("/items") or coll not in OGC_COLLECTIONS:
            return _problem(404, "Not Found", f"collection '{coll}' does not exist")
        query = dict(pairs)
        if len(query) != len(pairs):
            return _problem(400, "Bad Request", "repeated query parameter")
        unknown = sorted(set(query) - OGC_PARAMS)
        if unknown:
            return _problem(400, "Bad Request", f"unknown query parameter(s): {', '.join(unknown)}")
        if query.get("f", "json") != "json":
            return _problem(400, "Bad Request", "this server only records f=json")
        try:
            limit = int(query.get("limit", "10"))
        except ValueError:
            return _problem(400, "Bad Request", "limit must be an integer")
        if not 1 <= limit <= 1000:
            return _problem(400, "Bad Request", "limit must be between 1 and 1000")
        for key in ("crs", "bbox-crs"):
            if key in query and query[key] not in OGC_CRSS:
                return _problem(400, "Bad Request", f"{key} '{query[key]}' is not supported")
        if "bbox-crs" in query and "bbox" not in query:
            return _problem(400, "Bad Request", "bbox-crs given without bbox")
        if "bbox" in query:
            nums = _floats(query["bbox"])
            if nums is None or len(nums) != 4 or not (nums[0] < nums[2] and nums[1] < nums[3]):
                return _problem(400, "Bad Request", "bbox must be minx,miny,maxx,maxy")
            if query.get("bbox-crs", CRS84) == CRS84 and not (
                -180 <= nums[0] <= 180 and -90 <= nums[1] <= 90
            ):
                return _problem(400, "Bad Request", "bbox is not in CRS84 (give bbox-crs)")
        entry = self._recording("ogcapi", path, query)
        if entry is None:
            return _problem(
                400, "Bad Request", f"no recorded response for this query: {sorted(query.items())}"
            )
        return entry["status"], dict(entry["headers"]), self.recorded_body(entry["file"])

    def answer_wfs(self, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, str], bytes]:
        """WFS 2.0 GetFeature, validated like MapServer does (parameter names case-insensitive)."""
        query = {k.lower(): v for k, v in pairs}
        if query.get("service", "").upper() != "WFS":
            return _ows_exception(
                "MissingParameterValue", "service", "msWFSDispatch(): WFS server error. SERVICE=WFS missing."
            )
        if query.get("version") != "2.0.0":
            return _ows_exception(
                "InvalidParameterValue", "version", "WFS Server does not support this version."
            )
        if query.get("request") != "GetFeature":
            return _ows_exception("OperationNotSupported", "request", "Only GetFeature is recorded.")
        typename = query.get("typenames") or query.get("typename")
        if not typename:
            return _ows_exception(
                "MissingParameterValue", "typenames", "Missing required parameter TYPENAMES."
            )
        if typename not in WFS_TYPENAMES:
            xml = (RECORDED / "wfs_exception_unknown_typename.xml").read_text(encoding="utf-8")
            body = xml.replace("{typename}", escape(typename, {"'": "&apos;"})).encode()
            return 400, {"Content-Type": "text/xml; charset=UTF-8"}, body
        if query.get("outputformat") not in WFS_JSON_FORMATS:
            return _ows_exception(
                "InvalidParameterValue", "outputformat", "Unsupported GetFeature outputFormat."
            )
        if query.get("srsname") not in WFS_SRS:
            return _ows_exception(
                "InvalidParameterValue", "srsname", "msWFSGetFeature(): WFS server error. Invalid SRSNAME."
            )
        for key in ("count", "startindex"):
            if key in query and not query[key].isdigit():
                return _ows_exception("InvalidParameterValue", key, f"Invalid {key.upper()} value.")
        if int(query.get("count", "1")) < 1:
            return _ows_exception("InvalidParameterValue", "count", "COUNT must be positive.")
        if "bbox" in query:
            parts = query["bbox"].split(",")
            nums = _floats(",".join(parts[:4]))
            if nums is None or len(parts) not in (4, 5) or not (nums[0] < nums[2] and nums[1] < nums[3]):
                return _ows_exception("InvalidParameterValue", "bbox", "Invalid BBOX.")
        entry = self._recording("wfs", WFS_PATH, query)
        if entry is None:
            return _ows_exception(
                "InvalidParameterValue", "", f"No recorded response for {sorted(query.items())}."
            )
        return entry["status"], dict(entry["headers"]), self.recorded_body(entry["file"])


def _floats(s: str) -> list[float] | None:
    try:
        vals = [float(x) for x in s.split(",")]
    except ValueError:
        return None
    return vals if all(math.isfinite(v) for v in vals) else None


def _query_equal(recorded: dict[str, str], got: dict[str, str]) -> bool:
    """Same keys and values; bbox numbers compared as numbers (its 5th element as text)."""
    if set(recorded) != set(got):
        return False
    for k, v in recorded.items():
        if k == "bbox":
            a, b = v.split(","), got[k].split(",")
            na, nb = _floats(",".join(a[:4])), _floats(",".join(b[:4]))
            if na is None or nb is None or len(a) != len(b) or a[4:] != b[4:]:
                return False
            if any(abs(x - y) > 1e-9 * max(1.0, abs(x)) for x, y in zip(na, nb, strict=True)):
                return False
        elif got[k] != v:
            return False
    return True


def _problem(status: int, title: str, detail: str) -> tuple[int, dict[str, str], bytes]:
    body = {
        "title": title,
        "status": status,
        "detail": detail,
        "timeStamp": datetime.now().astimezone().isoformat(),
    }
    return status, {"Content-Type": "application/problem+json"}, json.dumps(body).encode()


def _ows_exception(code: str, locator: str, text: str) -> tuple[int, dict[str, str], bytes]:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="2.0.0" xml:lang="en-US">\n'
        f'  <ows:Exception exceptionCode="{code}" locator="{escape(locator)}">\n'
        f"    <ows:ExceptionText>{escape(text)}</ows:ExceptionText>\n"
        "  </ows:Exception>\n</ows:ExceptionReport>\n"
    )
    return 400, {"Content-Type": "text/xml; charset=UTF-8"}, xml.encode()


@pytest.fixture
def server() -> Iterator[RecordedServer]:
    """A fresh recorded-response server per test (hit counters start at zero)."""
    srv = RecordedServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _buurten_rd(server: RecordedServer, **kw: Any) -> gpd.GeoDataFrame:
    return fetch_ogcapi_features(
        server.base + OGC_BASE,
        "buurten",
        bbox=BBOX_RD,
        limit=50,
        filters={"gemeentecode": "GM0505"},
        allow_hosts=(server.host,),
        **FAST,
        **kw,
    )


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# ------------------------------------------------------------------------------------------------
# OGC API - Features


def test_ogc_paging_returns_all_buurten_with_source_geometries(server: RecordedServer) -> None:
    pages: list[tuple[int, int]] = []
    gdf = _buurten_rd(server, progress=lambda p, n: pages.append((p, n)))

    assert len(gdf) == 132
    assert server.hits[OGC_ITEMS.format("buurten")] == 3
    assert pages == [(1, 50), (2, 100), (3, 132)]
    assert gdf.crs.to_epsg() == 28992
    assert gdf.columns[0] == "id" and gdf["id"].is_unique and gdf["id"].notna().all()
    assert gdf["buurtcode"].is_unique and set(gdf["gemeentecode"]) == {"GM0505"}

    prov = gdf.attrs["provenance"]
    assert prov["pages"] == 3 and prov["feature_count"] == 132 and len(prov["sha256s"]) == 3
    assert prov["url"].startswith(server.base + OGC_ITEMS.format("buurten") + "?")
    datetime.fromisoformat(prov["retrieved_at"].replace("Z", "+00:00"))

    # The first request carried the protocol parameters (Part 1 + Part 2) exactly.
    first = dict(server.requests[0]["query"])
    assert first["bbox"].split(",") == ["102166", "414557", "120347", "426301"]
    assert first["bbox-crs"] == RD_NEW and first["crs"] == RD_NEW
    assert first["limit"] == "50" and first["f"] == "json" and first["gemeentecode"] == "GM0505"
    assert "cursor" not in first
    assert all("cursor" in dict(r["query"]) for r in server.requests[1:])
    assert server.requests[0]["headers"]["User-Agent"] == USER_AGENT and USER_AGENT.startswith("biostress/")

    if not SOURCE_BUURTEN.exists():
        pytest.skip(f"source data {SOURCE_BUURTEN} not available for the geometry comparison")
    src = gpd.read_file(SOURCE_BUURTEN).set_index("buurtcode")
    got = gdf.set_index("buurtcode")
    assert set(got.index) == set(src.index)
    rel = (got.area - src.area.reindex(got.index)).abs() / src.area.reindex(got.index)
    assert rel.max() < 1e-6
    assert got.geometry.geom_equals_exact(src.geometry.reindex(got.index), tolerance=1e-6).all()


def test_ogc_default_crs84_is_lon_lat(server: RecordedServer) -> None:
    bbox84 = next(e for e in server.manifest if e["file"] == "ogc_buurten_crs84.json")["query"]["bbox"]
    gdf = fetch_ogcapi_features(
        server.base + OGC_BASE,
        "buurten",
        bbox=[float(v) for v in bbox84.split(",")],
        bbox_crs=CRS84,
        crs=None,
        filters={"gemeentecode": "GM0505"},
        allow_hosts=(server.host,),
        **FAST,
    )
    query = dict(server.requests[0]["query"])
    assert "crs" not in query and "bbox-crs" not in query  # CRS84 is the protocol default
    assert gdf.crs == "OGC:CRS84"
    minx, miny, maxx, maxy = gdf.total_bounds
    assert 4.5 < minx < maxx < 5.0 and 51.6 < miny < maxy < 51.9  # x = longitude
    assert gdf.attrs["provenance"]["content_crs"] == f"<{CRS84}>"
    if SOURCE_BUURTEN.exists():
        src = gpd.read_file(SOURCE_BUURTEN).set_index("buurtcode")
        back = gdf.to_crs(28992).set_index("buurtcode")
        rel = (back.area - src.area.reindex(back.index)).abs() / src.area.reindex(back.index)
        assert rel.max() < 1e-5  # the recording rounds degrees to 1e-9 (about 0.1 mm)


def test_ogc_server_rejects_requests_off_protocol(server: RecordedServer) -> None:
    with pytest.raises(HTTPStatusError) as ei:
        fetch_ogcapi_features(
            server.base + OGC_BASE, "buurten", bbox=BBOX_RD, limit=5000, allow_hosts=(server.host,), **FAST
        )
    assert ei.value.status == 400 and "limit must be between 1 and 1000" in str(ei.value)
    assert server.hits[OGC_ITEMS.format("buurten")] == 1  # a 400 is not retried
    with pytest.raises(FetchError, match="HTTP 404.*collection 'buurt' does not exist"):
        fetch_ogcapi_features(
            server.base + OGC_BASE, "buurt", bbox=BBOX_RD, allow_hosts=(server.host,), **FAST
        )


def test_ogc_crs_mismatch_is_refused(server: RecordedServer) -> None:
    page = json.loads(server.recorded_body("ogc_buurten_rd_p3.json"))
    server.script(
        OGC_ITEMS.format("buurten"),
        Scripted(
            200,
            {"Content-Type": "application/geo+json", "Content-Crs": f"<{CRS84}>"},
            json.dumps(page).encode(),
        ),
    )
    with pytest.raises(FetchError, match="answered in CRS"):
        _buurten_rd(server)


def test_ogc_ignored_crs_without_header_is_detected(server: RecordedServer, tmp_path: Path) -> None:
    """A server that ignores 'crs' and sends degrees without Content-Crs must not pass as RD."""
    page = json.loads(server.recorded_body("ogc_buurten_crs84.json"))
    server.script(
        OGC_ITEMS.format("buurten"),
        Scripted(200, {"Content-Type": "application/geo+json"}, json.dumps(page).encode()),
    )
    with pytest.raises(FetchError, match="look like degrees"):
        _buurten_rd(server, cache=Cache(tmp_path))
    assert _files(tmp_path) == []


def test_ogc_lat_lon_crs_is_swapped_to_x_y(server: RecordedServer) -> None:
    """EPSG:4326 by URI has latitude first (Part 2); GeoPandas wants x = longitude."""
    epsg4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
    page = json.loads(server.recorded_body("ogc_buurten_crs84.json"))

    def swap(c: Any) -> Any:
        return [c[1], c[0]] if isinstance(c[0], float) else [swap(x) for x in c]

    for f in page["features"]:
        f["geometry"]["coordinates"] = swap(f["geometry"]["coordinates"])
    headers = {"Content-Type": "application/geo+json", "Content-Crs": f"<{epsg4326}>"}
    server.script(OGC_ITEMS.format("buurten"), Scripted(200, headers, json.dumps(page).encode()))
    gdf = fetch_ogcapi_features(
        server.base + OGC_BASE,
        "buurten",
        bbox=None,
        crs=epsg4326,
        limit=1000,
        allow_hosts=(server.host,),
        **FAST,
    )
    assert dict(server.requests[0]["query"])["crs"] == epsg4326
    assert gdf.crs.to_epsg() == 4326
    minx, miny, maxx, maxy = gdf.total_bounds
    assert 4.5 < minx < maxx < 5.0 and 51.6 < miny < maxy < 51.9


# ------------------------------------------------------------------------------------------------
# cache


def test_cache_is_used_on_second_call_and_sidecar_is_complete(server: RecordedServer, tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    first = _buurten_rd(server, cache=cache)
    hits = server.total_hits()
    assert hits == 3 and not first.attrs["provenance"]["from_cache"]

    second = _buurten_rd(server, cache=cache)
    assert server.total_hits() == hits  # nothing asked of the server
    assert second.attrs["provenance"]["from_cache"]
    assert second.attrs["provenance"]["sha256s"] == first.attrs["provenance"]["sha256s"]
    assert second.geometry.geom_equals_exact(first.geometry, tolerance=0).all()

    url = first.attrs["provenance"]["url"]
    meta = json.loads(cache.meta_path(url).read_text(encoding="utf-8"))
    assert meta["url"] == url and meta["status"] == 200
    assert datetime.fromisoformat(meta["retrieved_at"].replace("Z", "+00:00")).tzinfo is not None
    body = (cache.root / meta["file"]).read_bytes()
    assert meta["sha256"] == hashlib.sha256(body).hexdigest() == first.attrs["provenance"]["sha256s"][0]
    assert meta["bytes"] == len(body)
    assert meta["content_type"] == "application/geo+json"
    assert meta["headers"]["Content-Crs"] == f"<{RD_NEW}>"
    assert not [p for p in _files(cache.root) if p.name.endswith(".part")]

    _buurten_rd(server, cache=cache, refresh=True)
    assert server.total_hits() == hits + 3


def test_corrupt_cache_entry_is_fetched_again(server: RecordedServer, tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    url = server.base + "/files/wfs_exception_unknown_typename.xml"
    r1 = fetch(url, cache=cache, allow_hosts=(server.host,), **FAST)
    r1.path.write_bytes(b"tampered")
    assert cache.get(url) is None
    r2 = fetch(url, cache=cache, allow_hosts=(server.host,), **FAST)
    assert not r2.from_cache and r2.sha256 == r1.sha256 and server.total_hits() == 2


# ------------------------------------------------------------------------------------------------
# retries and HTTP errors


@pytest.mark.parametrize("status", [503, 429])
def test_retry_then_success(server: RecordedServer, status: int) -> None:
    server.script(WFS_PATH, Scripted(status, {"Retry-After": "0", "Content-Type": "text/plain"}, b"busy"))
    gdf = fetch_wfs(
        server.base + WFS_PATH,
        "natura2000:natura2000",
        bbox=BBOX_RD,
        count=1,
        allow_hosts=(server.host,),
        **FAST,
    )
    assert len(gdf) == 2
    assert server.hits[WFS_PATH] == 4  # 1 refused + 3 pages


def test_retries_exhausted_give_fetch_error(server: RecordedServer) -> None:
    server.script("/flaky", *[Scripted(503, {"Content-Type": "text/plain"}, b"down for maintenance")] * 3)
    with pytest.raises(FetchError, match=r"after 3 attempt\(s\): HTTP 503.*down for maintenance"):
        fetch(server.base + "/flaky", retries=2, allow_hosts=(server.host,), **FAST)
    assert server.hits["/flaky"] == 3


def test_404_names_the_url(server: RecordedServer) -> None:
    url = server.base + "/nowhere/collections/x/items?f=json"
    with pytest.raises(HTTPStatusError) as ei:
        fetch(url, allow_hosts=(server.host,), **FAST)
    assert ei.value.status == 404 and ei.value.url == url
    assert url in str(ei.value) and "404" in str(ei.value) and "What to do" in str(ei.value)
    assert server.hits["/nowhere/collections/x/items"] == 1


# ------------------------------------------------------------------------------------------------
# WFS 2.0


def test_wfs_paging_natura2000(server: RecordedServer) -> None:
    gdf = fetch_wfs(
        server.base + WFS_PATH,
        "natura2000:natura2000",
        bbox=BBOX_RD,
        count=1,
        allow_hosts=(server.host,),
        **FAST,
    )
    assert len(gdf) == 2 and gdf.crs.to_epsg() == 28992
    assert sorted(gdf["naam_n2k"]) == ["Biesbosch", "Hollands Diep"]
    prov = gdf.attrs["provenance"]
    assert prov["pages"] == 3 and prov["feature_count"] == 2  # pages of 1, 1 and 0
    queries = [{k.lower(): v for k, v in r["query"]} for r in server.requests]
    assert [q["startindex"] for q in queries] == ["0", "1", "2"]
    q = queries[0]
    assert (q["service"], q["version"], q["request"]) == ("WFS", "2.0.0", "GetFeature")
    assert q["typenames"] == "natura2000:natura2000" and q["outputformat"] == "application/json"
    assert q["srsname"] == "EPSG:28992" and q["count"] == "1"
    assert q["bbox"] == "102166,414557,120347,426301,EPSG:28992"
    if SOURCE_N2K.exists():
        src = gpd.read_file(SOURCE_N2K).set_index("nr")
        got = gdf.set_index("nr")
        rel = (got.area - src.area.reindex(got.index)).abs() / src.area.reindex(got.index)
        assert rel.max() < 1e-6


def test_wfs_exception_report_becomes_fetch_error(server: RecordedServer) -> None:
    with pytest.raises(FetchError) as ei:
        fetch_wfs(
            server.base + WFS_PATH, "natura2000:bestaatniet", bbox=BBOX_RD, allow_hosts=(server.host,), **FAST
        )
    msg = str(ei.value)
    assert "TYPENAME 'natura2000:bestaatniet' doesn't exist in this server" in msg
    assert "InvalidParameterValue" in msg and "locator 'typename'" in msg
    assert server.hits[WFS_PATH] == 1


def test_wfs_exception_report_with_status_200(server: RecordedServer, tmp_path: Path) -> None:
    """Older MapServers send the ExceptionReport with HTTP 200; it must not be cached as data."""
    body = (RECORDED / "wfs_exception_unknown_typename.xml").read_bytes().replace(b"{typename}", b"x")
    server.script(WFS_PATH, Scripted(200, {"Content-Type": "text/xml; charset=UTF-8"}, body))
    cache = Cache(tmp_path)
    with pytest.raises(FetchError, match="reported an error: msWFSGetFeature"):
        fetch_wfs(
            server.base + WFS_PATH,
            "natura2000:natura2000",
            bbox=BBOX_RD,
            cache=cache,
            allow_hosts=(server.host,),
            **FAST,
        )
    assert _files(tmp_path) == []


# ------------------------------------------------------------------------------------------------
# hostile links and redirects


@pytest.mark.parametrize(
    "href",
    [
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/items",
        "http://127.0.0.1:1/x",
    ],
)
def test_hostile_next_link_is_refused(server: RecordedServer, tmp_path: Path, href: str) -> None:
    page = json.loads(server.recorded_body("ogc_buurten_rd_p1.json"))
    for link in page["links"]:
        if link["rel"] == "next":
            link["href"] = href
    server.script(
        OGC_ITEMS.format("buurten"),
        Scripted(
            200,
            {"Content-Type": "application/geo+json", "Content-Crs": f"<{RD_NEW}>"},
            json.dumps(page).encode(),
        ),
    )
    with pytest.raises(UnsafeInputError, match="Refused the next-page link"):
        _buurten_rd(server, cache=Cache(tmp_path))
    assert server.total_hits() == 1
    assert _files(tmp_path) == []  # the page with the hostile link is not kept


@pytest.mark.parametrize("kind", ["file", "metadata", "other-port", "localhost-name"])
def test_redirect_to_hostile_url_is_refused(server: RecordedServer, kind: str) -> None:
    location = {
        "file": "file:///etc/passwd",
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "other-port": "http://127.0.0.1:1/secret",
        "localhost-name": f"http://localhost:{server.port}/files/manifest.json",
    }[kind]
    server.script("/moved", Scripted(302, {"Location": location}, b""))
    with pytest.raises(UnsafeInputError, match="Refused redirect"):
        fetch(server.base + "/moved", allow_hosts=(server.host,), **FAST)
    assert server.hits["/files/manifest.json"] == 0


def test_safe_redirect_is_followed(server: RecordedServer) -> None:
    server.script("/moved", Scripted(301, {"Location": "/files/manifest.json"}, b""))
    r = fetch(server.base + "/moved", allow_hosts=(server.host,), **FAST)
    assert r.final_url == server.base + "/files/manifest.json"
    assert json.loads(r.read_bytes()) == server.manifest
    r.path.unlink()


def test_unsafe_start_urls_are_refused(server: RecordedServer) -> None:
    for url in ("file:///etc/passwd", "http://10.0.0.1/items", server.base + "/files/manifest.json"):
        with pytest.raises(UnsafeInputError):
            fetch(url, **FAST)  # the test server is internal and not allowed here
    assert server.total_hits() == 0


# ------------------------------------------------------------------------------------------------
# size cap and bad bodies


@pytest.mark.parametrize("omit_length", [False, True])
def test_response_larger_than_max_bytes_is_refused(
    server: RecordedServer, tmp_path: Path, omit_length: bool
) -> None:
    server.script(
        "/big", Scripted(200, {"Content-Type": "application/octet-stream"}, b"x" * 300_000, omit_length)
    )
    cache = Cache(tmp_path / "cache")
    with pytest.raises(FetchError, match="limit of 100,000 bytes"):
        fetch(server.base + "/big", cache=cache, max_bytes=100_000, allow_hosts=(server.host,), **FAST)
    assert _files(tmp_path) == []
    assert cache.get(server.base + "/big") is None


def test_non_json_body_disguised_as_json(server: RecordedServer, tmp_path: Path) -> None:
    html = b"<!DOCTYPE html><html><head><title>PDOK - onderhoud</title></head><body>Even geduld</body></html>"
    server.script(OGC_ITEMS.format("buurten"), Scripted(200, {"Content-Type": "application/geo+json"}, html))
    cache = Cache(tmp_path)
    with pytest.raises(FetchError, match=r"not valid JSON.*PDOK - onderhoud") as ei:
        _buurten_rd(server, cache=cache)
    assert "What to do" in str(ei.value)
    assert _files(tmp_path) == []  # the bad body was not kept


def test_json_that_is_not_a_feature_collection(server: RecordedServer) -> None:
    server.script(
        OGC_ITEMS.format("buurten"),
        Scripted(200, {"Content-Type": "application/json"}, b'{"collections": []}'),
    )
    with pytest.raises(FetchError, match="not a GeoJSON FeatureCollection"):
        _buurten_rd(server)


# ------------------------------------------------------------------------------------------------
# plain files and presets


def test_fetch_file_with_cache_and_checksum(server: RecordedServer, tmp_path: Path) -> None:
    url = server.base + "/files/wfs_exception_unknown_typename.xml"
    want = hashlib.sha256((RECORDED / "wfs_exception_unknown_typename.xml").read_bytes()).hexdigest()
    cache = Cache(tmp_path / "cache")
    p = fetch_file(url, cache=cache, allow_hosts=(server.host,), expected_sha256=want, **FAST)
    assert p.parent == cache.root and p.suffix == ".xml"
    assert hashlib.sha256(p.read_bytes()).hexdigest() == want
    out = fetch_file(url, cache=cache, dest=tmp_path / "out" / "x.xml", allow_hosts=(server.host,), **FAST)
    assert out.read_bytes() == p.read_bytes() and server.total_hits() == 1
    with pytest.raises(FetchError, match="not the expected"):
        fetch_file(url, cache=cache, allow_hosts=(server.host,), expected_sha256="0" * 64, **FAST)
    assert cache.get(url) is None


def test_fetch_preset_against_recorded_server(server: RecordedServer) -> None:
    gdf = fetch_preset(
        "natura2000",
        bbox=BBOX_RD,
        base_url=server.base + WFS_PATH,
        count=1,
        allow_hosts=(server.host,),
        **FAST,
    )
    prov = gdf.attrs["provenance"]
    assert len(gdf) == 2 and prov["preset"] == "natura2000" and "RVO" in prov["attribution"]


def test_pdok_presets_are_well_formed() -> None:
    assert (
        PDOK_PRESETS["cbs_buurten_2024"]["base_url"]
        == "https://api.pdok.nl/cbs/wijken-en-buurten-2024/ogc/v1"
    )
    assert {PDOK_PRESETS[f"cbs_{c}_2024"]["collection"] for c in ("buurten", "wijken", "gemeenten")} == {
        "buurten",
        "wijken",
        "gemeenten",
    }
    for c in ("pand", "wegdeel", "waterdeel", "begroeidterreindeel", "onbegroeidterreindeel"):
        assert PDOK_PRESETS[f"bgt_{c}"]["base_url"] == "https://api.pdok.nl/lv/bgt/ogc/v1"
    assert PDOK_PRESETS["natura2000"]["typename"] == "natura2000:natura2000"
    for name, p in PDOK_PRESETS.items():
        assert p["service"] in ("ogcapi-features", "wfs"), name
        assert ("collection" in p) != ("typename" in p), name
        assert p["licence"] and p["attribution"], name
        assert safe_url(p["base_url"], resolve=False) == p["base_url"]
