"""A small, pluggable geocoder: from an address, coordinates or an area-unit code to a point.

Every geocoder has one method, ``search(text) -> list[Place]`` (best match first; an empty list
when nothing matches). A :class:`Place` carries a label, the point ``x, y`` in ``crs``, what kind
of place it is, an id and a score.

* :class:`PdokLocatieserver` asks the PDOK Locatieserver (v3.1), the open Dutch geocoder of the
  BAG addresses, postcodes, streets and places. Request (documented at
  ``https://api.pdok.nl/bzk/locatieserver/search/v3_1/ui/``)::

      GET {base_url}/free?q=<text>&rows=<n>&fq=type:adres&fl=id weergavenaam type score centroide_rd centroide_ll

  Answer (JSON): ``{"response": {"numFound": n, "start": 0, "maxScore": s, "numFoundExact": true,
  "docs": [{"id": "adr-...", "weergavenaam": "Nieuwe Haven 29, 3311AP Dordrecht", "type": "adres",
  "score": 12.3, "centroide_rd": "POINT(105109.27 425555.5)", "centroide_ll": "POINT(4.67 51.81)"}]}}``.
  ``centroide_rd`` is the point in RD New (EPSG:28992); it is used, else ``centroide_ll`` (lon lat,
  EPSG:4326). Requests go through :func:`biostress.sources.http.fetch` (URL safety, retries, size cap,
  optional content-addressed :class:`~biostress.sources.http.Cache`); the service's base URL is
  :data:`PDOK_LOCATIESERVER_URL` unless another is given (e.g. a mirror or a test server, whose host
  must then be in ``allow_hosts`` when it is an internal address).
* :class:`CoordinateGeocoder` (offline) reads ``"x, y"`` in a projected CRS (default RD New) or
  ``"lat, lon"`` in WGS84 degrees. Inside the Netherlands the two are told apart by their size
  (RD New metres are in the thousands, degrees are not), and latitude (50.5-53.8) and longitude
  (3.2-7.3) ranges do not overlap, so ``"lon, lat"`` is recognised and swapped too.
* :class:`UnitGeocoder` (offline) finds an area unit of a run (buurt, wijk, gemeente) by code or
  name, or a block of the run's plan by its ``site`` number; the place is the unit's
  representative point (:func:`shapely.point_on_surface`, always inside the polygon), and
  ``Place.geometry`` holds the polygon.

Errors: service failures are :class:`~biostress.errors.FetchError` (from the HTTP layer, or here
when the answer is not a Locatieserver response); bad search text or bad coordinates are
:class:`~biostress.errors.InputDataError`; a bad base URL is a :class:`~biostress.errors.ConfigError`.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode, urlsplit

from ..errors import ConfigError, FetchError, InputDataError
from .http import Cache, fetch

__all__ = [
    "PDOK_LOCATIESERVER_URL",
    "RD_NEW",
    "WGS84",
    "CoordinateGeocoder",
    "Geocoder",
    "PdokLocatieserver",
    "Place",
    "UnitGeocoder",
    "parse_locatieserver",
    "parse_point_wkt",
    "transform_point",
]

#: The public PDOK Locatieserver v3.1 search API (no key needed); override with ``base_url``.
PDOK_LOCATIESERVER_URL = "https://api.pdok.nl/bzk/locatieserver/search/v3_1"
RD_NEW = "EPSG:28992"
WGS84 = "EPSG:4326"
#: the fields asked of the Locatieserver (``fl``): only what a Place needs
LOCATIESERVER_FIELDS = ("id", "weergavenaam", "type", "score", "centroide_rd", "centroide_ll")
#: Locatieserver document types (``type``) that can be asked for with ``types``
LOCATIESERVER_TYPES = ("adres", "postcode", "weg", "woonplaats", "gemeente", "provincie", "perceel",
                       "hectometerpaal", "appartementsrecht", "buurt", "wijk", "waterschap")
MAX_QUERY_CHARS = 200
MAX_ROWS = 100
#: RD New validity box (m, EPSG:28992 area of use incl. the Wadden and the 12-mile zone, rounded out)
RD_BOUNDS = (-7_000.0, 289_000.0, 300_000.0, 629_000.0)
#: WGS84 box of the Netherlands (degrees): latitude and longitude ranges do not overlap
NL_LAT = (50.5, 53.8)
NL_LON = (3.2, 7.3)

_POINT = re.compile(r"^\s*POINT\s*\(\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)\s*\)\s*$", re.IGNORECASE)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"^\s*\(?\s*({_NUMBER})\s*(?:[,;]\s*|\s+)({_NUMBER})\s*\)?\s*$")


@dataclass(frozen=True)
class Place:
    """A geocoded place: ``label`` (what to show), the point ``x, y`` in ``crs`` (x = easting or
    longitude), ``kind`` (e.g. ``adres``, ``buurt``, ``rd``, ``wgs84``, ``plan_block``), the source's
    ``id`` and a ``score`` (higher = better; comparable only within one geocoder's answer).
    ``geometry`` is the polygon for places that are areas (units, plan blocks), else None."""

    label: str
    x: float
    y: float
    crs: str
    kind: str
    id: str
    score: float = 1.0
    geometry: Any = field(default=None, compare=False, repr=False)

    def to(self, crs: str) -> tuple[float, float]:
        """The point in ``crs`` (x, y; easting/northing or lon/lat)."""
        return transform_point(self.x, self.y, self.crs, crs)


@runtime_checkable
class Geocoder(Protocol):
    """Anything with ``search(text) -> list[Place]`` (best first, empty when nothing matches)."""

    def search(self, text: str) -> list[Place]:  # pragma: no cover - protocol
        ...


def transform_point(x: float, y: float, src: str, dst: str) -> tuple[float, float]:
    """Reproject one point (axis order x/easting/longitude first, whatever the CRS definition says)."""
    from pyproj import CRS, Transformer

    if CRS.from_user_input(src).equals(CRS.from_user_input(dst)):
        return float(x), float(y)
    t = Transformer.from_crs(src, dst, always_xy=True)
    a, b = t.transform(float(x), float(y))
    if not (math.isfinite(a) and math.isfinite(b)):
        raise InputDataError(f"The point ({x}, {y}) in {src} cannot be expressed in {dst}.",
                             hint="Check the coordinates and their order.")
    return float(a), float(b)


def _clean_text(text: Any, what: str = "search text") -> str:
    if not isinstance(text, str):
        raise InputDataError(f"The {what} must be text, got {type(text).__name__}.")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InputDataError(f"The {what} {text!r} contains control characters.", hint="Type it on one line.")
    t = " ".join(text.split())
    if not t:
        raise InputDataError(f"The {what} is empty.", hint="Give an address, e.g. 'Nieuwe Haven 29, Dordrecht'.")
    if len(t) > MAX_QUERY_CHARS:
        raise InputDataError(f"The {what} is {len(t)} characters long; at most {MAX_QUERY_CHARS} are accepted.",
                             hint="Give a street, house number and place.")
    return t


def parse_point_wkt(text: Any) -> tuple[float, float] | None:
    """``"POINT(x y)"`` -> ``(x, y)``; None for anything else (or non-finite numbers)."""
    if not isinstance(text, str):
        return None
    m = _POINT.match(text)
    if not m:
        return None
    try:
        x, y = float(m.group(1)), float(m.group(2))
    except ValueError:
        return None
    return (x, y) if math.isfinite(x) and math.isfinite(y) else None


# --------------------------------------------------------------------------------------------
# PDOK Locatieserver
# --------------------------------------------------------------------------------------------

class PdokLocatieserver:
    """The PDOK Locatieserver v3.1 ``/free`` search (see the module docstring).

    ``base_url``: the search API root (default :data:`PDOK_LOCATIESERVER_URL`); ``cache``: a
    :class:`~biostress.sources.http.Cache` (answers are stored by URL; ``refresh=True`` in
    :meth:`search` asks again); ``allow_hosts``: internal hosts that may be used (test servers);
    ``rows``: at most this many places (1-100); ``types``: the document types asked for
    (``fq=type:adres`` by default; several become ``type:(adres OR postcode)``).
    """

    def __init__(self, base_url: str = PDOK_LOCATIESERVER_URL, *, cache: Cache | str | Path | None = None,
                 allow_hosts: Iterable[str] = (), rows: int = 5, types: Sequence[str] = ("adres",),
                 timeout: float = 15.0, retries: int = 2, backoff: float = 1.0) -> None:
        if not isinstance(base_url, str) or urlsplit(base_url).scheme not in ("http", "https") \
                or not urlsplit(base_url).hostname:
            raise ConfigError(f"The Locatieserver address {base_url!r} is not an http(s) URL.",
                              hint=f"Use the service root, e.g. {PDOK_LOCATIESERVER_URL}")
        if urlsplit(base_url).query or urlsplit(base_url).fragment:
            raise ConfigError(f"The Locatieserver address {base_url!r} must not carry a query or fragment.",
                              hint=f"Use the service root, e.g. {PDOK_LOCATIESERVER_URL}")
        if not (isinstance(rows, int) and not isinstance(rows, bool) and 1 <= rows <= MAX_ROWS):
            raise ConfigError(f"rows must be a whole number from 1 to {MAX_ROWS}, got {rows!r}.")
        types = tuple(types)
        bad = [t for t in types if t not in LOCATIESERVER_TYPES]
        if not types or bad:
            raise ConfigError(f"Unknown Locatieserver type(s) {bad or '(none)'}.",
                              hint=f"Use some of: {', '.join(LOCATIESERVER_TYPES)}")
        self.base_url = base_url.rstrip("/")
        self.cache = Cache(cache) if isinstance(cache, str | Path) else cache
        self.allow_hosts = tuple(allow_hosts)
        self.rows = rows
        self.types = types
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    def url(self, text: str) -> str:
        """The request URL for ``text`` (parameters in a fixed order, so cached answers are found again)."""
        q = _clean_text(text)
        fq = f"type:{self.types[0]}" if len(self.types) == 1 else f"type:({' OR '.join(self.types)})"
        return f"{self.base_url}/free?" + urlencode(
            [("q", q), ("rows", str(self.rows)), ("fq", fq), ("fl", " ".join(LOCATIESERVER_FIELDS))])

    def search(self, text: str, *, refresh: bool = False) -> list[Place]:
        """Places for ``text``, best first (as the service ranks them)."""
        url = self.url(text)
        resp = fetch(url, cache=self.cache, allow_hosts=self.allow_hosts, timeout=self.timeout,
                     retries=self.retries, backoff=self.backoff, max_bytes=5 * 1024 * 1024,
                     accept="application/json", refresh=refresh)
        try:
            body = resp.read_bytes()
        finally:
            if self.cache is None:
                with contextlib.suppress(OSError):
                    resp.path.unlink()
        try:
            places = parse_locatieserver(body)
        except FetchError:
            if self.cache is not None:
                self.cache.discard(url)  # never keep an unusable answer
            raise FetchError(f"{url} did not answer with a Locatieserver search result.",
                             hint="Check the base URL: it must be the Locatieserver v3.1 search API root, e.g. "
                                  f"{PDOK_LOCATIESERVER_URL}") from None
        return places


def parse_locatieserver(body: bytes) -> list[Place]:
    """Places from a Locatieserver ``/free`` JSON answer (``response.docs``), in the service's order.

    Documents without a usable point are skipped. Raises :class:`FetchError` when the body is not
    such an answer."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FetchError(f"The Locatieserver answer is not JSON ({e}).") from None
    resp = doc.get("response") if isinstance(doc, dict) else None
    docs = resp.get("docs") if isinstance(resp, dict) else None
    if not isinstance(docs, list):
        raise FetchError("The Locatieserver answer has no response.docs list.")
    out: list[Place] = []
    for d in docs:
        if not isinstance(d, dict):
            continue
        pt, crs = parse_point_wkt(d.get("centroide_rd")), RD_NEW
        if pt is None:
            pt, crs = parse_point_wkt(d.get("centroide_ll")), WGS84
        if pt is None:
            continue
        try:
            score = float(d.get("score", 0.0))
        except (TypeError, ValueError):
            score = 0.0
        label = str(d.get("weergavenaam") or d.get("id") or "")
        out.append(Place(label, pt[0], pt[1], crs, str(d.get("type", "")), str(d.get("id", "")),
                         score if math.isfinite(score) else 0.0))
    return out


# --------------------------------------------------------------------------------------------
# coordinates
# --------------------------------------------------------------------------------------------

def _in(v: float, lohi: tuple[float, float]) -> bool:
    return lohi[0] <= v <= lohi[1]


class CoordinateGeocoder:
    """Coordinates typed as text (offline): ``"105109, 425555"`` (projected, in ``crs``, default
    RD New) or ``"51.81, 4.67"`` (WGS84 latitude, longitude; ``"4.67, 51.81"`` is read as
    longitude, latitude). Separators: comma, semicolon or spaces; decimal point only."""

    def __init__(self, crs: str = RD_NEW) -> None:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            c = CRS.from_user_input(crs)
        except CRSError as e:
            raise ConfigError(f"Unknown CRS {crs!r}: {e}", hint="Use e.g. 'EPSG:28992'.") from None
        if not c.is_projected:
            raise ConfigError(f"The CRS {crs!r} of typed x, y coordinates must be projected (metres).",
                              hint="Use e.g. 'EPSG:28992'; degrees are recognised as latitude, longitude.")
        self.crs = crs
        self._is_rd = c.equals(CRS.from_user_input(RD_NEW))

    def search(self, text: str) -> list[Place]:
        t = _clean_text(text, "coordinates")
        m = _PAIR.match(t)
        if not m:
            raise InputDataError(
                f"Cannot read coordinates from {t!r}.",
                hint="Give 'x, y' in RD New metres (e.g. '105109, 425555') or 'latitude, longitude' in degrees "
                     "(e.g. '51.8101, 4.6702'), with a decimal point.")
        a, b = float(m.group(1)), float(m.group(2))
        if not (math.isfinite(a) and math.isfinite(b)):
            raise InputDataError(f"The coordinates {t!r} are not finite numbers.")
        if abs(a) <= 180 and abs(b) <= 180:  # degrees
            if _in(a, NL_LAT) and _in(b, NL_LON):
                lat, lon = a, b
            elif _in(a, NL_LON) and _in(b, NL_LAT):
                lon, lat = a, b
            else:
                raise InputDataError(
                    f"The coordinates {t!r} look like degrees but are not in the Netherlands "
                    f"(latitude {NL_LAT[0]}-{NL_LAT[1]}, longitude {NL_LON[0]}-{NL_LON[1]}).",
                    hint="Give 'latitude, longitude' (e.g. '51.8101, 4.6702') or RD New metres.")
            return [Place(f"{lat:.6f}, {lon:.6f} (WGS84)", lon, lat, WGS84, "wgs84", f"{lat:.6f},{lon:.6f}")]
        if self._is_rd:
            x0, y0, x1, y1 = RD_BOUNDS
            if not (x0 <= a <= x1 and y0 <= b <= y1):
                if x0 <= b <= x1 and y0 <= a <= y1:
                    raise InputDataError(f"The coordinates {t!r} seem to be in the order y, x.",
                                         hint=f"Give x (easting) first: '{b:g}, {a:g}'.")
                raise InputDataError(f"The coordinates {t!r} are not in the Netherlands in RD New "
                                     f"(x {x0:g} to {x1:g}, y {y0:g} to {y1:g}).",
                                     hint="Give RD New metres, e.g. '105109, 425555'.")
        kind = "rd" if self._is_rd else "xy"
        return [Place(f"x {a:.1f}, y {b:.1f} ({self.crs})", a, b, self.crs, kind, f"{a:.2f},{b:.2f}")]


# --------------------------------------------------------------------------------------------
# area units and plan blocks of a run
# --------------------------------------------------------------------------------------------

class UnitGeocoder:
    """Area units (``level -> GeoDataFrame`` with ``code``, ``name``) and, optionally, the plan
    blocks (GeoDataFrame with ``site``) of a run (offline).

    Matching (case and spacing ignored): exact code (score 1.0), exact name (0.9), then names
    containing the text (0.5; at most ``max_results``). Digits alone also match a plan block's
    ``site`` (1.0). With ``parcels`` (GeoDataFrame with ``parcel_id``, :mod:`biostress.sources.parcels`) a
    parcel id matches its parcel (1.0; case, spaces and separators ignored), the start of one (at least 5
    characters) the first ``max_results`` parcels it begins (0.6)."""

    def __init__(self, units: Mapping[str, Any], sites: Any = None, *, parcels: Any = None,
                 max_results: int = 10) -> None:
        self.units = {lvl: gdf for lvl, gdf in units.items() if gdf is not None and len(gdf)}
        self.sites = sites if sites is not None and len(sites) else None
        self.parcels = parcels if parcels is not None and len(parcels) and "parcel_id" in parcels else None
        self._parcel_keys: Any = None
        self.max_results = max_results

    @classmethod
    def from_run(cls, run_dir: str | Path, plan_dir: str | Path | None = None) -> UnitGeocoder:
        """The units (``units_*`` layers) and plan blocks (``plan_measures``) of a run folder; the plan
        blocks of ``plan_dir`` (a folder 'biostress plan' wrote) instead when given."""
        import geopandas as gpd
        import pyogrio

        def gpkg_of(folder: str | Path, what: str) -> Path:
            p = Path(folder) / "biostress.gpkg"
            if not p.is_file():
                raise InputDataError(f"{folder} has no biostress.gpkg with {what}.",
                                     hint="Give a folder written by 'biostress run', 'biostress demo' or "
                                          "'biostress plan'.")
            return p

        gpkg = gpkg_of(run_dir, "area units")
        units: dict[str, Any] = {}
        sites = parcels = None
        for name, _ in pyogrio.list_layers(gpkg):
            if name.startswith("units_"):
                units[name.removeprefix("units_")] = gpd.read_file(gpkg, layer=name)
            elif name == "plan_measures" and plan_dir is None:
                sites = gpd.read_file(gpkg, layer=name)
            elif name == "parcels":
                parcels = gpd.read_file(gpkg, layer=name)
        if plan_dir is not None:
            pg = gpkg_of(plan_dir, "a plan")
            if "plan_measures" not in {n for n, _ in pyogrio.list_layers(pg)}:
                raise InputDataError(f"{plan_dir} holds no plan (no layer plan_measures).",
                                     hint="Give the folder 'biostress plan' wrote.")
            sites = gpd.read_file(pg, layer="plan_measures")
        return cls(units, sites, parcels=parcels)

    @staticmethod
    def _norm(s: Any) -> str:
        return " ".join(str(s).split()).casefold()

    def search(self, text: str) -> list[Place]:
        t = self._norm(_clean_text(text, "unit code or name"))
        hits: list[tuple[float, Place]] = []
        seen: set[tuple[str, str]] = set()

        def add(score: float, kind: str, ident: str, label: str, geom: Any, crs: Any) -> None:
            if (kind, ident) in seen or geom is None or geom.is_empty:
                return
            seen.add((kind, ident))
            p = geom.point_on_surface() if hasattr(geom, "point_on_surface") else geom.representative_point()
            hits.append((score, Place(label, float(p.x), float(p.y), _crs_text(crs), kind, ident, score, geom)))

        for lvl, gdf in self.units.items():
            codes = gdf["code"].astype(str) if "code" in gdf else None
            names = gdf["name"].astype(str) if "name" in gdf else None
            for i in range(len(gdf)):
                code = codes.iloc[i] if codes is not None else ""
                name = names.iloc[i] if names is not None else ""
                label = f"{name} ({code})" if name and name != code else code
                geom = gdf.geometry.iloc[i]
                if code and self._norm(code) == t:
                    add(1.0, lvl, code, label, geom, gdf.crs)
                elif name and self._norm(name) == t:
                    add(0.9, lvl, code, label, geom, gdf.crs)
                elif name and len(t) >= 3 and t in self._norm(name):
                    add(0.5, lvl, code, label, geom, gdf.crs)
        if self.parcels is not None:
            import numpy as np

            from .parcels import parcel_key

            if self._parcel_keys is None:
                self._parcel_keys = self.parcels["parcel_id"].map(parcel_key)
            key = parcel_key(text)
            exact = self._parcel_keys == key
            near = (self._parcel_keys.str.startswith(key) & ~exact) if len(key) >= 5 else exact & False
            for score, mask in ((1.0, exact), (0.6, near)):
                for i in np.flatnonzero(mask.to_numpy())[:self.max_results].tolist():
                    pid = str(self.parcels["parcel_id"].iloc[i])
                    add(score, "perceel", pid, pid, self.parcels.geometry.iloc[i], self.parcels.crs)
        if self.sites is not None and "site" in self.sites and t.isdigit():
            site = self.sites[self.sites["site"].astype(str) == t]
            if len(site):
                geom = site.geometry.union_all() if len(site) > 1 else site.geometry.iloc[0]
                measures = ", ".join(sorted({str(m) for m in site.get("measure", [])}))
                add(1.0, "plan_block", t, f"plan block {t}" + (f" ({measures})" if measures else ""), geom,
                    self.sites.crs)
        hits.sort(key=lambda h: -h[0])
        return [p for _, p in hits[: self.max_results]]


def _crs_text(crs: Any) -> str:
    if crs is None:
        return RD_NEW
    try:
        auth = crs.to_authority()
    except AttributeError:
        return str(crs)
    return f"{auth[0]}:{auth[1]}" if auth else crs.to_string()
