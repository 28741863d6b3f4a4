"""The web tool's HTTP API (FastAPI): map layers, tiles, plot cards, scenarios, downloads, OGC API
Features, editors, uploads and participation. The contract is in ``docs/web.md``.

:func:`create_app` reads the run folder once (:func:`biostress.web.state.load_state`) and serves it;
every request then reads only raster windows or cached values. Languages: ``?lang=nl`` (default) or
``en``. Errors are JSON ``{"error": message, "hint": what to do}`` with a fitting status code.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ..errors import BiostressError, InputDataError, NoOverlapError
from .auth import Authenticator, AuthError, User, load_users
from .cellcache import cache_dir_for
from .fastpath import HotPaths
from .layers import LANGS
from .ogc import ogc_router
from .participation import ProposalStore, RateLimiter
from .plot import PlotService, PointOutside, subsidy_json
from .scenario import ScenarioService
from .state import RunState, download_title, load_state
from .tiles import LRUBytes, check_tile
from .uploads import DEFAULT_MAX_BYTES, TooLarge, UploadStore

__all__ = ["ApiError", "create_app"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
Lang = Annotated[str, Query(pattern="^(nl|en)$", description="Language: nl (default) or en")]
MAX_JSON_BYTES = 256 * 1024
MAX_PLAN_BYTES = 2 * 1024 * 1024
PNG_HEADERS = {"Cache-Control": "public, max-age=3600"}
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def _clean_nan(o: Any) -> Any:
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _clean_nan(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_clean_nan(v) for v in o]
    return o


def _default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    return str(o)


def json_bytes(content: Any) -> bytes:
    """``content`` as compact UTF-8 JSON (orjson; NaN and inf become null; numpy values, dates)."""
    try:
        return orjson.dumps(content, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        pass
    try:
        s = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_default)
    except ValueError:
        s = json.dumps(_clean_nan(content), ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                       default=_default)
    return s.encode("utf-8")


class FastJSON(JSONResponse):
    """JSON without FastAPI's per-field encoder (much faster for large answers); NaN/inf become null."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


class ApiError(Exception):
    """An error answered as ``{"error", "hint"}`` with HTTP ``status``."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


def _status_of(e: BiostressError) -> int:
    if isinstance(e, AuthError):
        return e.status
    if isinstance(e, TooLarge):
        return 413
    if isinstance(e, PointOutside):
        return 404
    if isinstance(e, NoOverlapError):
        return 400
    return 400


async def read_json(request: Request, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The request body as JSON, refused with 413 above ``max_bytes`` (counted while reading)."""
    cl = request.headers.get("content-length")
    if cl is not None and cl.isdigit() and int(cl) > max_bytes:
        raise ApiError(413, f"The request body is larger than {max_bytes} bytes.")
    buf = bytearray()
    async for chunk in request.stream():
        buf.extend(chunk)
        if len(buf) > max_bytes:
            raise ApiError(413, f"The request body is larger than {max_bytes} bytes.")
    try:
        return json.loads(bytes(buf).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "The request body is not valid JSON.", "Send a JSON object.") from None


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _coords_query(q: str) -> bool:
    return re.fullmatch(r"\s*\(?\s*[-+]?[\d.]+(?:[eE][-+]?\d+)?\s*(?:[,;]\s*|\s+)[-+]?[\d.]+(?:[eE][-+]?\d+)?\s*\)?\s*",
                        q) is not None


class _Geocoder:
    """Coordinates and unit codes/names offline; addresses from the PDOK Locatieserver when ``url`` is set."""

    def __init__(self, state: RunState, url: str | None, cache_dir: Path | None) -> None:
        self.state = state
        self.url = url
        self.cache_dir = cache_dir
        self._units: Any = None
        self._pdok: Any = None
        self._memo = LRUBytes(2 * 1024 * 1024)
        self._lock = threading.Lock()

    def _unit_geocoder(self) -> Any:
        from ..sources.geocode import UnitGeocoder

        with self._lock:
            if self._units is None:
                import geopandas as gpd

                sites = None
                if "plan_measures" in self.state.vectors:
                    sites = gpd.read_file(self.state.run_dir / "biostress.gpkg", layer="plan_measures")
                self._units = UnitGeocoder({lvl: u.frame for lvl, u in self.state.units.items()}, sites,
                                           parcels=self.state.parcels)
            return self._units

    def _place(self, p: Any) -> dict[str, Any]:
        lon, lat = p.to("EPSG:4326")
        out = {"label": p.label, "x": lon, "y": lat, "kind": p.kind, "id": p.id}
        if p.geometry is not None and not p.geometry.is_empty:
            from rasterio.warp import transform_bounds

            out["bbox"] = [float(v) for v in transform_bounds(p.crs, "EPSG:4326", *p.geometry.bounds)]
        return out

    def _inside(self, d: dict[str, Any], margin: float = 0.01) -> bool:
        w, s, e, n = self.state.bounds_wgs84
        return w - margin <= d["x"] <= e + margin and s - margin <= d["y"] <= n + margin

    def search(self, q: str) -> list[dict[str, Any]]:
        from ..sources.geocode import CoordinateGeocoder

        q = " ".join(str(q).split())
        if not q:
            raise InputDataError("The search text is empty.", hint="Type an address, a buurt name or 'x, y'.")
        if len(q) > 200:
            raise InputDataError("The search text is longer than 200 characters.")
        if _coords_query(q):
            return [self._place(p) for p in CoordinateGeocoder().search(q)]
        out = [self._place(p) for p in self._unit_geocoder().search(q)]
        if self.url:
            out = self._addresses(q) + out
        return out[:20]

    def _addresses(self, q: str) -> list[dict[str, Any]]:
        from ..errors import FetchError
        from ..sources.geocode import PdokLocatieserver

        key = q.casefold()
        got = self._memo.get(key)
        if got is not None:
            return json.loads(got)
        try:
            if self._pdok is None:
                self._pdok = PdokLocatieserver(self.url, rows=10, types=("adres", "postcode", "weg", "woonplaats"),
                                               timeout=6.0, retries=0, cache=self.cache_dir)
            res = [self._place(p) for p in self._pdok.search(q)]
            inside = [d for d in res if self._inside(d)]
            if not inside and self.state.name.casefold() not in key:
                inside = [d for d in (self._place(p) for p in self._pdok.search(f"{q} {self.state.name}"))
                          if self._inside(d)]
        except (FetchError, InputDataError, OSError):
            return []  # offline: coordinates and units still work
        self._memo.put(key, json.dumps(inside).encode())
        return inside


def create_app(run_dir: str | Path, *, users: str | Path | None = None, data_dir: str | Path | None = None,
               report_dir: str | Path | None = None, max_upload_bytes: int = DEFAULT_MAX_BYTES,
               geocoder_url: str | None = "default", scenario_modules: tuple[str, ...] | None = None,
               proposal_limit: tuple[int, float] = (10, 600.0), tile_cache_bytes: int = 192 * 1024 * 1024,
               warm: bool = True, cache: bool = True, precompute: bool = True,
               progress: Callable[[str], None] | None = None) -> FastAPI:
    """The FastAPI app serving the run folder ``run_dir``.

    ``users``: the editors file (:mod:`biostress.web.auth`; without it nobody can write);
    ``data_dir``: where proposals (SQLite), uploads, saved plans and the token secret are kept
    (without it proposals live in memory and uploads/plans are refused); ``report_dir``: a folder
    of reports offered for download; ``geocoder_url``: the PDOK Locatieserver root ("default" = the
    public service, None = offline: coordinates and unit names only); ``scenario_modules``: the
    indicators a scenario re-runs (default: those of :func:`biostress.scenarios.run_scenario`);
    ``proposal_limit``: at most that many proposals per client per that many seconds; ``warm``: prepare
    the plot cards' measure computation in a background thread right away and, with ``precompute``, compute
    the measures of the whole grid there (:meth:`PlotService.precompute`; cards read them when done, before
    that each click computes its 32 x 32 block); ``cache``: copy the raster
    layers into one memory-mapped cache file at start (:mod:`biostress.web.cellcache`; fast lookups and
    tiles), kept in ``data_dir``/cache, else ``<run>/.web-cache``, else a temporary folder; ``progress``:
    called with a line of text about slow start-up steps."""
    from ..sources.geocode import PDOK_LOCATIESERVER_URL

    _preload()
    state = load_state(run_dir, report_dir)
    data = Path(data_dir).resolve() if data_dir is not None else None
    if data is not None:
        data.mkdir(parents=True, exist_ok=True)
    cache_dir = cache_dir_for(state.run_dir, data) if cache else None
    if cache_dir is not None:
        state.attach_stack(cache_dir, progress)
    auth = Authenticator(load_users(users) if users is not None else {}, state.code, data)
    plots = PlotService(state)
    if warm:
        def _warm() -> None:
            if precompute:  # first: read back from the cache in a second, when `biostress serve` prepared it
                plots.precompute(cache_dir, progress=progress)
            plots.warm()

        threading.Thread(target=_quiet(_warm), name="biostress-warm", daemon=True).start()
    scenarios = ScenarioService(state, modules=scenario_modules)
    proposals = ProposalStore(data / "proposals.sqlite" if data else None, state.bounds_wgs84, state.catalogue.ids)
    uploads = UploadStore(data / "uploads", max_upload_bytes) if data else None
    geocoder = _Geocoder(state, PDOK_LOCATIESERVER_URL if geocoder_url == "default" else geocoder_url,
                         (data / "geocode_cache") if data else None)
    tiles = LRUBytes(tile_cache_bytes)
    post_limit = RateLimiter(*proposal_limit)
    scenario_limit = RateLimiter(20, 600.0)

    app = FastAPI(title=f"biostress: {state.name}", version="1", docs_url=None, redoc_url=None,
                  default_response_class=FastJSON,
                  description="Biodiversity stress test and opportunity map of one run (see docs/web.md).")
    app.state.run = state
    app.state.plots = plots
    app.state.tiles = tiles
    app.state.scenarios = scenarios
    app.state.proposals = proposals
    app.state.auth = auth

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError) -> JSONResponse:
        return JSONResponse({"error": e.message, "hint": e.hint}, status_code=e.status)

    @app.exception_handler(BiostressError)
    async def _bs_error(request: Request, e: BiostressError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(e, AuthError) and e.status == 401 else None
        return JSONResponse({"error": e.message, "hint": e.hint}, status_code=_status_of(e), headers=headers)

    def _fast_plot(x: float, y: float, crs: str, lang: str, measures: bool, compact: bool) -> bytes | None:
        if not plots.fast:
            return None
        try:
            card = plots.card_compact if compact else plots.card
            body = json_bytes(card(x, y, crs, lang, measures=measures))
        except BiostressError:
            return None  # the route answers it
        fast_hits["plot"] += 1
        return body

    def _tile_job(layer: str, cb: bool) -> tuple[Any, Any, tuple[str, bool]] | None:
        """``(source, style, cache key prefix)`` of a raster layer's tiles, or None when there is no such layer."""
        lay, src = state.layers.get(layer), state.sources.get(layer)
        if lay is None or src is None or lay.style is None:
            return None
        use_cb = bool(cb and lay.style_cb is not None)
        return src, (lay.style_cb if use_cb else lay.style), (layer, use_cb)

    def _fast_tile(layer: str, z: int, x: int, y: int, cb: bool) -> bytes | None:
        try:
            check_tile(z, x, y)
        except InputDataError:
            return None
        job = _tile_job(layer, cb)
        if job is None:
            return None
        src, style, key = job[0], job[1], (*job[2], z, x, y)
        b = tiles.get(key)
        if b is None and src.in_memory:
            b = tiles.get_or_make(key, lambda: src.render(z, x, y, style))
        if b is not None:
            fast_hits["tile"] += 1
        return b

    fast_hits = {"plot": 0, "tile": 0}  # answers of the short way (tests, monitoring)
    app.state.fast_hits = fast_hits
    app.add_middleware(HotPaths, render_plot=_fast_plot, render_tile=_fast_tile, tile_headers=PNG_HEADERS)
    app.state.hot_paths = {"render_plot": _fast_plot, "render_tile": _fast_tile, "tile_headers": PNG_HEADERS,
                           "extra_headers": SECURITY_HEADERS}
    app.add_middleware(_SecurityHeaders)

    def editor(authorization: str | None) -> User:
        return auth.editor(authorization)

    # ------------------------------------------------------------------ app and info
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        p = STATIC_DIR / "index.html"
        if p.is_file():
            return FileResponse(p, media_type="text/html")
        return HTMLResponse(f"<!doctype html><meta charset=utf-8><title>biostress</title><h1>biostress: "
                            f"{_html(state.name)}</h1><p>The map app is not installed; the API is at "
                            "<a href=/api/info>/api/info</a>, <a href=/api/layers>/api/layers</a>, "
                            "<a href=/ogc>/ogc</a>.</p>")

    @app.get("/api/info")
    def info():
        w, s, e, n = state.bounds_wgs84
        return FastJSON({"name": state.name, "code": state.code, "crs": state.grid.crs, "cell_m": state.grid.cell,
                "bounds_wgs84": [w, s, e, n], "center": [(w + e) / 2, (s + n) / 2],
                "levels": list(state.units), "languages": list(LANGS), "attribution": state.attribution,
                "sources": state.inputs, "created": state.created, "run_id": state.manifest.get("run_id"),
                "area_ha": (state.manifest.get("info") or {}).get("area_ha"),
                "writable": {"proposals": True, "uploads": uploads is not None, "plans": data is not None},
                "plot_radius_m": plots.radius_m, "plot_cards_ready": plots.fast,
                "objects": [o.info() for o in state.objects.values()]})

    @app.get("/api/layers")
    def layers(lang: Lang = "nl"):
        return FastJSON([lay.to_json(lang) for lay in state.layers.values()])

    # ------------------------------------------------------------------ tiles
    def _png(data_: bytes) -> Response:
        return Response(data_, media_type="image/png", headers=PNG_HEADERS)

    @app.get("/tiles/units/{level}/{z}/{x}/{y}.pbf")
    async def unit_tile(level: str, z: int, x: int, y: int):
        _tile_ok(z, x, y)
        u = state.units.get(level)
        if u is None:
            raise ApiError(404, f"No unit level {level!r}.", f"Use one of {', '.join(state.units)}.")
        key = ("units", level, z, x, y)
        b = tiles.get(key)
        if b is None:  # encoding an MVT can take longer: off the event loop
            b = await run_in_threadpool(tiles.get_or_make, key, lambda: u.tiles().render(z, x, y))
        return _mvt(b)

    @app.get("/tiles/vector/{name}/{z}/{x}/{y}.pbf")
    def vector_tile(name: str, z: int, x: int, y: int):
        _tile_ok(z, x, y)
        v = state.vectors.get(name)
        if v is None:
            raise ApiError(404, f"No vector layer {name!r}.")
        return _mvt(tiles.get_or_make(("vector", name, z, x, y), lambda: v.render(z, x, y)))

    @app.get("/tiles/scenario/{sid}/{layer}/{z}/{x}/{y}.png")
    def scenario_tile(sid: str, layer: str, z: int, x: int, y: int):
        _tile_ok(z, x, y)
        entry = scenarios.get(sid)
        if entry is None or layer not in entry.sources:
            raise ApiError(404, f"No scenario layer {sid}/{layer}.", "Run the scenario again (results are kept "
                           "for the last scenarios only).")
        src, style = entry.sources[layer], entry.styles[layer]
        return _png(tiles.get_or_make(("scenario", sid, layer, z, x, y), lambda: src.render(z, x, y, style)))

    @app.get("/tiles/{layer}/{z}/{x}/{y}.png")
    async def raster_tile(layer: str, z: int, x: int, y: int, cb: bool = False):
        _tile_ok(z, x, y)
        job = _tile_job(layer, cb)
        if job is None:
            raise ApiError(404, f"No raster layer {layer!r}.", "See GET /api/layers.")
        src, style, key = job[0], job[1], (*job[2], z, x, y)
        b = tiles.get(key)
        if b is None:
            def make() -> bytes:
                return src.render(z, x, y, style)

            # from the memory-mapped cells a tile takes ~2 ms: drawn right here; through GDAL: in a thread
            b = tiles.get_or_make(key, make) if src.in_memory else await run_in_threadpool(tiles.get_or_make, key, make)
        return _png(b)

    # ------------------------------------------------------------------ units, plot, geocode, measures
    @app.get("/api/units/{level}")
    def units_geojson(level: str):
        u = state.units.get(level)
        if u is None:
            raise ApiError(404, f"No unit level {level!r}.", f"Use one of {', '.join(state.units)}.")
        b = tiles.get_or_make(("units-geojson", level), lambda: json.dumps(
            {"type": "FeatureCollection", "features": u.features}, separators=(",", ":")).encode())
        return Response(b, media_type="application/geo+json")

    @app.get("/api/plot")
    async def plot(x: float, y: float, crs: str = "EPSG:4326", lang: Lang = "nl", measures: bool = True,
                   compact: Annotated[bool, Query(description=(
                       "Leave out the layer and measure texts of /api/layers and /api/measures: values as "
                       "[id, value, legend entry], measures as rows of numbers (docs/web.md, 'Plot card')."))] = False):
        card = plots.card_compact if compact else plots.card
        if plots.fast:  # well under 1 ms from the caches: right here, no thread hand-off
            return FastJSON(card(x, y, crs, lang, measures=measures))
        return FastJSON(await run_in_threadpool(card, x, y, crs, lang, measures=measures))

    report_lock = threading.Lock()
    reports = LRUBytes(64 * 1024 * 1024)

    @app.get("/api/report")
    def report(x: float, y: float, lang: Lang = "nl", crs: str = "EPSG:4326",
               format: Annotated[str, Query(pattern="^(html|pdf|json)$")] = "html"):  # noqa: A002
        try:
            from ..report import plot as plot_mod
        except ImportError:
            raise ApiError(501, "Plot reports are not available in this version.") from None
        gx, gy, _, _ = plots.locate(x, y, crs)
        parcel = plots.parcel_at(gx, gy)  # the plot is the parcel when the run has parcels, else the circle
        key = ("report", round(gx), round(gy), lang, format, parcel[0] if parcel else None)
        media = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "json": "application/json"}[format]
        got = reports.get(key)
        if got is None:
            with report_lock:  # one report at a time: it reads the run and may render a PDF
                rep = plot_mod.plot_report(state.run_dir, x=round(gx), y=round(gy), crs=state.grid.crs,
                                           radius_m=plots.radius_m, lang=lang, params_dir=state.params_dir,
                                           pdf=False, map_image=format != "json",
                                           geometry=parcel[2] if parcel else None,
                                           what=(f"{'perceel' if lang == 'nl' else 'parcel'} {parcel[0]}"
                                                 if parcel else ""))
                if format == "html":
                    got = plot_mod.render_html(rep).encode("utf-8")
                elif format == "json":
                    d = {k: v for k, v in rep.to_dict().items() if k not in ("run_dir", "files")}  # no server paths
                    got = json.dumps(_clean_nan(d), default=_default).encode("utf-8")
                else:
                    import tempfile

                    with tempfile.TemporaryDirectory() as td:
                        files = plot_mod.write_plot_report(rep, td, pdf=True, json_file=False)
                        got = Path(files["pdf"]).read_bytes()
            reports.put(key, got)
        headers = {"Content-Disposition": f'inline; filename="plot_report.{format}"'} if format == "pdf" else None
        return Response(got, media_type=media, headers=headers)

    @app.get("/api/geocode")
    def geocode(q: Annotated[str, Query(max_length=400)], lang: Lang = "nl"):
        return geocoder.search(q)

    @app.get("/api/measures")
    def measures(lang: Lang = "nl"):
        return FastJSON([_measure_json(m, state.catalogue.sources, lang) for m in state.catalogue.measures])

    # ------------------------------------------------------------------ scenario
    @app.post("/api/scenario")
    async def scenario(request: Request, lang: Lang = "nl"):
        doc = await read_json(request)
        if not scenario_limit.allow(_client(request)):
            raise ApiError(429, "Too many scenarios from this address; wait a few minutes.")
        return FastJSON(await run_in_threadpool(scenarios.run, doc, lang))

    # ------------------------------------------------------------------ downloads
    @app.get("/api/downloads")
    def downloads(lang: Lang = "nl"):
        state.refresh_report_downloads()
        return FastJSON([{"name": d.name, "kind": d.kind, "bytes": d.bytes, "description": d.description,
                          "title": (download_title(d.name, lang) if d.name.startswith("report/") else None),
                          "url": f"/downloads/{d.name}"} for d in state.downloads.values()])

    @app.get("/downloads/{name:path}")
    def download(name: str):
        d = state.downloads.get(name)
        if d is None and name.startswith("report/"):
            state.refresh_report_downloads(min_interval_s=1.0)
            d = state.downloads.get(name)
        if d is None or not d.path.is_file():
            raise ApiError(404, f"No download {name!r}.", "See GET /api/downloads for the files offered.")
        inline = d.path.suffix.lower() in (".pdf", ".html", ".htm", ".png", ".svg")
        return FileResponse(d.path, filename=d.path.name, content_disposition_type="inline" if inline else "attachment")

    # ------------------------------------------------------------------ editors
    @app.post("/api/auth/login")
    async def login(request: Request):
        doc = await read_json(request, 8 * 1024)
        if not isinstance(doc, dict):
            raise ApiError(400, "Send {\"user\": ..., \"password\": ...}.")
        return await run_in_threadpool(auth.login, doc.get("user"), doc.get("password"), _client(request))

    @app.get("/api/auth/me")
    def me(authorization: Annotated[str | None, Header()] = None):
        u = auth.verify(_bearer(authorization))
        return {"user": u.username, "municipality": u.municipality, "editor": u.municipality == state.code}

    @app.post("/api/uploads", status_code=201)
    async def upload(request: Request, name: str, crs: str | None = None,
                     authorization: Annotated[str | None, Header()] = None):
        u = editor(authorization)
        if uploads is None:
            raise ApiError(503, "This server keeps no uploads.", "Start it with --data DIR.")
        cl = request.headers.get("content-length")
        if cl is not None and cl.isdigit() and int(cl) > uploads.max_bytes:
            raise TooLarge(f"The file is {int(cl)} bytes; at most {uploads.max_bytes} are accepted.")
        if crs is not None and not re.fullmatch(r"EPSG:\d{4,6}", crs):
            raise ApiError(400, f"crs {crs!r} is not of the form EPSG:<code>.")
        path, fmt = uploads.begin(u.municipality, name)
        size = 0
        try:
            with open(path, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > uploads.max_bytes:
                        raise TooLarge(f"The file is larger than {uploads.max_bytes} bytes.",
                                       hint="Split it or ask the administrator for a higher limit.")
                    f.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if size == 0:
            path.unlink(missing_ok=True)
            raise ApiError(400, "The upload is empty.", "Send the file as the request body.")
        return await run_in_threadpool(uploads.check, path, fmt, crs=crs, user=u.username, original=name)

    @app.get("/api/uploads")
    def list_uploads(authorization: Annotated[str | None, Header()] = None):
        u = editor(authorization)
        return [] if uploads is None else uploads.list(u.municipality)

    plans_lock = threading.Lock()

    @app.post("/api/plans", status_code=201)
    async def save_plan(request: Request, authorization: Annotated[str | None, Header()] = None):
        u = editor(authorization)
        if data is None:
            raise ApiError(503, "This server keeps no plans.", "Start it with --data DIR.")
        doc = await read_json(request, MAX_PLAN_BYTES)
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not 0 < len(doc["name"].strip()) <= 200:
            raise ApiError(400, "A plan needs a 'name' (1-200 characters).")
        pid = secrets.token_hex(8)
        rec = {"id": pid, "name": doc["name"].strip(), "created": _now(), "author": u.username,
               "municipality": u.municipality, "run_id": state.manifest.get("run_id"), "plan": doc}
        d = data / "plans"
        d.mkdir(exist_ok=True)
        with plans_lock:
            (d / f"{pid}.json").write_text(json.dumps(rec), encoding="utf-8")
        return {"id": pid, "name": rec["name"], "created": rec["created"]}

    @app.get("/api/plans")
    def list_plans():
        d = data / "plans" if data else None
        out = []
        for p in sorted(d.glob("*.json")) if d and d.is_dir() else []:
            try:
                r = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            out.append({k: r.get(k) for k in ("id", "name", "created", "author", "municipality")})
        return out

    @app.get("/api/plans/{pid}")
    def get_plan(pid: str):
        if data is None or not re.fullmatch(r"[0-9a-f]{16}", pid) or not (data / "plans" / f"{pid}.json").is_file():
            raise ApiError(404, f"No plan {pid!r}.")
        return JSONResponse(json.loads((data / "plans" / f"{pid}.json").read_text(encoding="utf-8")))

    # ------------------------------------------------------------------ participation
    @app.post("/api/proposals", status_code=201)
    async def propose(request: Request):
        doc = await read_json(request, 16 * 1024)
        if not post_limit.allow(_client(request)):
            raise ApiError(429, "Too many proposals from this address; try again later.")
        return proposals.add(doc)

    @app.get("/api/proposals")
    def list_proposals(all: int = 0, authorization: Annotated[str | None, Header()] = None):  # noqa: A002
        if all:
            editor(authorization)
            return proposals.list(all_=True)
        return proposals.list()

    @app.post("/api/proposals/{pid}/moderate")
    async def moderate(pid: int, request: Request, authorization: Annotated[str | None, Header()] = None):
        u = editor(authorization)
        doc = await read_json(request, 4 * 1024)
        got = proposals.moderate(pid, doc.get("status") if isinstance(doc, dict) else None, u.username)
        if got is None:
            raise ApiError(404, f"No proposal {pid}.")
        return got

    @app.get("/api/proposals.csv")
    def proposals_csv(authorization: Annotated[str | None, Header()] = None):
        editor(authorization)
        return PlainTextResponse(proposals.to_csv(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="proposals.csv"'})

    @app.get("/api/proposals.geojson")
    def proposals_geojson(authorization: Annotated[str | None, Header()] = None):
        editor(authorization)
        return JSONResponse(proposals.to_geojson(), media_type="application/geo+json")

    # ------------------------------------------------------------------ OGC API Features, static files
    app.include_router(ogc_router(state))
    if STATIC_DIR.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
        app.mount("/", StaticFiles(directory=STATIC_DIR), name="app")
    return app


class _SecurityHeaders:
    """ASGI middleware adding ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin`` to every
    response (plain ASGI: no per-request task as with ``@app.middleware``)."""

    _EXTRA = tuple((k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items())

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self._EXTRA if k not in have]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _preload() -> None:
    """Import the heavy modules requests use, here in the main thread: worker threads importing the same
    module at once can see it half-initialised (``biostress.indicators.common.is_dask`` looks up
    ``sys.modules["dask.array"]``, which exists while dask is still being imported by another thread)."""
    import importlib

    for name in ("dask.array", "biostress.opportunity", "biostress.opportunity.variables", "biostress.scenarios",
                 "biostress.runs", "biostress.sources.geocode", "biostress.report.plot"):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _quiet(f):
    """``f`` run for its side effect in a background thread: errors surface on the first real request."""

    def run() -> None:
        with contextlib.suppress(Exception):
            f()

    return run


def _tile_ok(z: int, x: int, y: int) -> None:
    try:
        check_tile(z, x, y)
    except InputDataError as e:
        raise ApiError(404, e.message, e.hint) from None


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _mvt(b: bytes) -> Response:
    if not b:
        return Response(status_code=204, headers=PNG_HEADERS)
    return Response(b, media_type="application/vnd.mapbox-vector-tile", headers=PNG_HEADERS)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _html(s: str) -> str:
    import html

    return html.escape(s)


def _value_json(v: Any, sources: dict[str, str]) -> dict[str, Any] | None:
    if v is None:
        return None
    return {"value": v.value, "low": v.low, "high": v.high, "ev": v.ev,
            "source": [sources.get(s, s) for s in v.source], "note": v.note or None}


def _measure_json(m: Any, sources: dict[str, str], lang: str) -> dict[str, Any]:
    nl = lang == "nl"
    keys: list[str] = []
    for v in (m.capex_eur, m.opex_eur_yr, m.lifetime_yr, m.revenue_eur_yr, m.fits):
        for s in (getattr(v, "source", None) or []):
            if s not in keys:
                keys.append(s)
    return {
        "id": m.id, "name": m.name_nl if nl else m.name_en, "name_nl": m.name_nl, "name_en": m.name_en,
        "explain": m.explain_nl if nl else m.explain_en, "setting": m.setting, "scale": m.scale,
        "owner": m.owner, "unit": m.unit,
        "capex_eur": _value_json(m.capex_eur, sources), "opex_eur_yr": _value_json(m.opex_eur_yr, sources),
        "lifetime_yr": _value_json(m.lifetime_yr, sources), "revenue_eur_yr": _value_json(m.revenue_eur_yr, sources),
        "water_storage_l": _value_json(m.water_storage_l, sources),
        "fits": {"rule": m.fits.rule, "ev": m.fits.ev},
        "transitions": [{"from": t.from_, "to": t.to, "share": t.share, "ev": t.ev} for t in m.transitions],
        "species_groups": list(m.species_groups), "guide_species": list(m.guide_species),
        "subsidies": [subsidy_json(s) for s in m.subsidies],
        "sources": [{"key": k, "text": sources.get(k, k)} for k in keys],
    }

