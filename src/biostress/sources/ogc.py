"""Clients for OGC API - Features and WFS 2.0, with presets for the PDOK services a Dutch
municipality uses.

What the protocols and services look like (checked in public sources, as of writing)
------------------------------------------------------------------------------------

OGC API - Features, Part 1 (OGC 17-069r4, https://docs.ogc.org/is/17-069r4/17-069r4.html) and
Part 2, CRS by reference (OGC 18-058, https://docs.ogc.org/is/18-058/18-058.html):

* Items: ``GET {base}/collections/{collectionId}/items?f=json&limit=..&bbox=..``; the answer is a
  GeoJSON ``FeatureCollection`` with ``links``, ``numberReturned`` (optional ``numberMatched``)
  and ``timeStamp``. Paging is *only* by following the link with ``rel="next"`` until there is
  none; the link is opaque (PDOK uses a ``cursor`` parameter, not an offset).
* Without Part 2 everything is in CRS84 (WGS 84, **longitude/latitude** order). Part 2 adds the
  ``crs`` (output CRS) and ``bbox-crs`` parameters, both CRS URIs such as
  ``http://www.opengis.net/def/crs/EPSG/0/28992``, and the ``Content-Crs`` response header
  (``Content-Crs: <http://www.opengis.net/def/crs/EPSG/0/28992>``). In a CRS given by URI the
  axis order is the CRS's own: EPSG:4326 is latitude/longitude, EPSG:28992 is x/y.
  Sources: the Part 2 OpenAPI building blocks (``bbox-crs``, ``crs`` parameters, ``storageCrs``);
  pygeoapi's docs/source/crs.rst (``Content-Crs`` header example, CRS84 default with lon/lat).
* Part 2 itself: https://docs.ogc.org/is/18-058/18-058.html (``crs``, ``bbox-crs``,
  ``Content-Crs``; CRS84 ``http://www.opengis.net/def/crs/OGC/1.3/CRS84`` is the default).
* PDOK serves its OGC APIs with *gokoala* (github.com/PDOK/gokoala). Its test fixtures
  (internal/ogc/features/testdata/expected_*.json) show the exact shape: ``links`` with
  ``self``/``alternate`` (JSON-FG, HTML)/``next``/``prev`` (``type: application/geo+json``),
  ``numberReturned``, ``timeStamp``, ``type``, ``features`` each with an ``id``; next links like
  ``.../items?cursor=DwA%7CNwyr1Q&f=json&limit=2``; no ``numberMatched``.

PDOK datasets used by the presets (sources: the pdok.nl page
https://www.pdok.nl/ogc-apis/-/article/cbs-wijken-en-buurten; public code calling these
endpoints, found by a code search, e.g. scripts requesting ``.../buurten/items?gemeentecode=..``,
``.../lv/bgt/ogc/v1/collections/<name>/items`` and the Natura 2000 WFS):

* CBS Wijken en Buurten 2024: ``https://api.pdok.nl/cbs/wijken-en-buurten-2024/ogc/v1``,
  collections ``buurten``, ``wijken``, ``gemeenten``; properties include ``buurtcode``,
  ``buurtnaam``, ``wijkcode``, ``gemeentecode``, ``gemeentenaam`` (plus the CBS key figures),
  and ``gemeentecode=GM....`` is accepted as a query parameter. (The stored copy of the pdok.nl
  page lists the 2024 API next to 2023 and 2025 ones, but shows the 2025 URL under the 2024
  heading, which looks like a slip on that page.) CBS / Kadaster, CC BY 4.0.
* BGT: ``https://api.pdok.nl/lv/bgt/ogc/v1``, collections such as ``pand``, ``wegdeel``,
  ``waterdeel``, ``begroeidterreindeel``, ``onbegroeidterreindeel`` (also ``spoor``,
  ``kunstwerkdeel_vlak``, ``vegetatieobject_punt``, ...); default output CRS84, RD with
  ``crs=http://www.opengis.net/def/crs/EPSG/0/28992``; feature ids are UUIDs; properties
  include ``lokaal_id``, ``relatieve_hoogteligging``, ``fysiek_voorkomen``. Kadaster, CC0 1.0.
* Natura 2000 (RVO): WFS ``https://service.pdok.nl/rvo/natura2000/wfs/v1_0``, type name
  ``natura2000:natura2000``, served in RD (EPSG:28992). Property names seen in public code
  differ by service version: ``naam_n2k``, ``nr``, ``bescherming``/``beschermin``,
  ``sitecode_v``/``sitecode_h`` (older: ``naamN2K``, ``sitecodeH``, ``sitecodeV``, ``status``);
  do not rely on them without checking the live schema (DescribeFeatureType). Cite RVO / PDOK
  (listed as CC0).

WFS 2.0 (OGC 09-025r2): ``service=WFS&version=2.0.0&request=GetFeature&typeNames=..``; paging
with ``count`` and ``startIndex``; ``bbox=minx,miny,maxx,maxy,<crs>`` (the 5th element names the
bbox CRS); ``srsName`` the output CRS. PDOK's WFS services run MapServer; its
``application/json`` output is OGR GeoJSON (``type``, ``name``, ``crs``, ``features``, no
``numberMatched``), so paging stops at the first page with fewer than ``count`` features (or when
``numberMatched`` is reached, for servers that send it). Errors come as an OWS 1.1
``ows:ExceptionReport`` (``ows:Exception exceptionCode=.. locator=..`` with
``ows:ExceptionText``), which MapServer (mapwfs20.c, msWFSException20) sends with HTTP 400 for
InvalidParameterValue/MissingParameterValue (older versions: HTTP 200); both are handled here.

Every result carries its provenance in ``gdf.attrs["provenance"]``: the first request URL, the
number of pages, the page URLs, the retrieval time, the SHA-256 of every page body and the
feature count.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import geopandas as gpd
import pandas as pd
import pyproj
import shapely
import shapely.geometry

from ..errors import BiostressError, FetchError, UnsafeInputError
from .http import DEFAULT_MAX_BYTES, Cache, CachedResponse, HTTPStatusError, fetch, parse_ows_exception
from .safe import safe_url

__all__ = [
    "CRS84",
    "PDOK_PRESETS",
    "RD_NEW",
    "fetch_file",
    "fetch_ogcapi_features",
    "fetch_preset",
    "fetch_wfs",
]

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
"""WGS 84 with longitude/latitude axis order: the OGC API - Features default."""

RD_NEW = "http://www.opengis.net/def/crs/EPSG/0/28992"
"""Amersfoort / RD New (EPSG:28992), the Dutch national grid."""

Progress = Callable[[int, int], None]
"""Called after each page with (pages so far, features so far)."""

_GEOJSON_ACCEPT = "application/geo+json, application/json;q=0.9"
_JSON_TYPES = ("application/geo+json", "application/json", "")

PDOK_PRESETS: dict[str, dict[str, str]] = {
    "cbs_buurten_2024": {
        "service": "ogcapi-features",
        "base_url": "https://api.pdok.nl/cbs/wijken-en-buurten-2024/ogc/v1",
        "collection": "buurten",
        "licence": "CC BY 4.0",
        "attribution": "CBS / Kadaster, Wijk- en buurtkaart 2024 (CC BY 4.0)",
    },
    "cbs_wijken_2024": {
        "service": "ogcapi-features",
        "base_url": "https://api.pdok.nl/cbs/wijken-en-buurten-2024/ogc/v1",
        "collection": "wijken",
        "licence": "CC BY 4.0",
        "attribution": "CBS / Kadaster, Wijk- en buurtkaart 2024 (CC BY 4.0)",
    },
    "cbs_gemeenten_2024": {
        "service": "ogcapi-features",
        "base_url": "https://api.pdok.nl/cbs/wijken-en-buurten-2024/ogc/v1",
        "collection": "gemeenten",
        "licence": "CC BY 4.0",
        "attribution": "CBS / Kadaster, Wijk- en buurtkaart 2024 (CC BY 4.0)",
    },
    **{
        f"bgt_{name}": {
            "service": "ogcapi-features",
            "base_url": "https://api.pdok.nl/lv/bgt/ogc/v1",
            "collection": name,
            "licence": "CC0 1.0",
            "attribution": "Basisregistratie Grootschalige Topografie (BGT), Kadaster / bronhouders, via PDOK (CC0 1.0)",
        }
        for name in ("pand", "wegdeel", "waterdeel", "begroeidterreindeel", "onbegroeidterreindeel")
    },
    "natura2000": {
        "service": "wfs",
        "base_url": "https://service.pdok.nl/rvo/natura2000/wfs/v1_0",
        "typename": "natura2000:natura2000",
        "licence": "CC0 1.0",
        "attribution": "Natura 2000-gebieden, Rijksdienst voor Ondernemend Nederland (RVO), via PDOK",
    },
}
"""Named PDOK sources: service kind, base URL, collection or WFS type name, licence, attribution."""


# --------------------------------------------------------------------------------------------
# helpers


def _crs_of(uri: str) -> pyproj.CRS:
    """A pyproj CRS from an OGC CRS URI, URN or ``EPSG:nnnn`` string."""
    s = uri.strip().strip("<>").strip()
    try:
        return pyproj.CRS.from_user_input(s)
    except pyproj.exceptions.CRSError as e:
        raise FetchError(
            f"Unknown coordinate reference system {s!r}: {e}", hint="Use an EPSG code or an OGC CRS URI."
        ) from e


def _same_crs(a: str, b: str) -> bool:
    a_s, b_s = a.strip().strip("<>").strip(), b.strip().strip("<>").strip()
    if a_s == b_s:
        return True
    try:
        return _crs_of(a_s) == _crs_of(b_s)
    except FetchError:
        return False


def _lat_first(crs: pyproj.CRS) -> bool:
    """True when the CRS's first axis is northing/latitude (e.g. EPSG:4326 by URI)."""
    axes = crs.axis_info
    return bool(axes) and axes[0].direction.lower() in ("north", "south")


def _num(v: float) -> str:
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"bbox values must be finite numbers, got {v!r}")
    return format(f, ".12g")


def _bbox_values(bbox: Sequence[float]) -> list[str]:
    vals = list(bbox)
    if len(vals) != 4:
        raise ValueError(f"bbox must have 4 numbers (minx, miny, maxx, maxy), got {len(vals)}")
    minx, miny, maxx, maxy = (float(v) for v in vals)
    if not (minx < maxx and miny < maxy):
        raise ValueError(f"bbox must satisfy minx < maxx and miny < maxy, got {vals}")
    return [_num(v) for v in vals]


def _with_params(base_url: str, params: Mapping[str, str]) -> str:
    """``base_url`` with ``params`` added; existing query keys with the same name
    (case-insensitive) are replaced."""
    parts = urlsplit(base_url)
    keep = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in {p.lower() for p in params}
    ]
    query = urlencode(keep + list(params.items()), quote_via=quote, safe=":")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _load_json(resp: CachedResponse) -> Any:
    raw = resp.read_bytes()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        snippet = raw[:120].decode("utf-8", "replace").strip()
        what = f"content type {resp.content_type!r}" if resp.content_type else "no content type"
        raise FetchError(
            f"{resp.url} answered ({what}) with a body that is not valid JSON: {e}. It starts with: {snippet!r}",
            hint="The service may be down for maintenance or returned an error page. Try again later; "
            "if it persists, open the URL in a browser to see what it sends.",
        ) from e


def _check_feature_collection(doc: Any, url: str) -> list[dict]:
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list) or not all(isinstance(f, dict) for f in feats):
            raise FetchError(f"{url} answered a FeatureCollection without a valid 'features' list.")
        return feats
    if isinstance(doc, dict) and any(k in doc for k in ("title", "detail", "description", "code")):
        said = " - ".join(str(doc[k]) for k in ("title", "detail", "description", "code") if doc.get(k))
        raise FetchError(
            f"{url} answered an error instead of features: {said}", hint="Check the request parameters."
        )
    raise FetchError(
        f"{url} answered JSON that is not a GeoJSON FeatureCollection.",
        hint="Check that the URL is a features endpoint (…/collections/<name>/items or a WFS GetFeature).",
    )


def _to_frame(features: list[dict], url: str, swap_axes: bool) -> tuple[pd.DataFrame, list[Any]]:
    rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    ids: list[Any] = []
    for i, f in enumerate(features):
        props = f.get("properties") or {}
        if not isinstance(props, dict):
            raise FetchError(f"{url}: feature {i} has 'properties' that are not an object.")
        rows.append(props)
        ids.append(f.get("id"))
        g = f.get("geometry")
        if g is None:
            geoms.append(None)
            continue
        try:
            geom = shapely.geometry.shape(g)
        except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as e:
            raise FetchError(f"{url}: feature {i} has an unreadable geometry: {e}") from e
        geoms.append(geom)
    if swap_axes:
        geoms = _swap_xy(geoms)
    df = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    if any(x is not None for x in ids):
        col = "id" if "id" not in df.columns else "feature_id"
        df.insert(0, col, ids)
    return df, geoms


def _swap_xy(geoms: list[Any]) -> list[Any]:
    """Swap the first two coordinates of every geometry (keeping z), e.g. lat/lon -> lon/lat."""
    arr = pd.Series(geoms, dtype=object).to_numpy()
    if not len(arr):
        return []
    has_z = shapely.has_z(arr)
    out = arr.copy()
    out[~has_z] = shapely.transform(arr[~has_z], lambda c: c[:, [1, 0]])
    if has_z.any():
        out[has_z] = shapely.transform(arr[has_z], lambda c: c[:, [1, 0, 2]], include_z=True)
    return list(out)


def _frame(frames: list[pd.DataFrame], geoms: list[Any], crs: pyproj.CRS) -> gpd.GeoDataFrame:
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return gpd.GeoDataFrame(
        df, geometry=gpd.GeoSeries(geoms, crs=crs, index=df.index if len(df) else None), crs=crs
    )


def _looks_geographic(geoms: list[Any]) -> bool:
    arr = [g for g in geoms if g is not None and not g.is_empty]
    if not arr:
        return False
    minx, miny, maxx, maxy = shapely.total_bounds(arr)
    return -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90


def _provenance(
    first_url: str, responses: list[CachedResponse], n_features: int, service: str, crs: str, **extra: Any
) -> dict[str, Any]:
    return {
        "service": service,
        "url": first_url,
        "pages": len(responses),
        "page_urls": [r.url for r in responses],
        "retrieved_at": min((r.retrieved_at for r in responses), default=None),
        "sha256s": [r.sha256 for r in responses],
        "from_cache": all(r.from_cache for r in responses) if responses else False,
        "feature_count": n_features,
        "crs": crs,
        **extra,
    }


def _cleanup(resp: CachedResponse, cache: Cache | None) -> None:
    """Delete a response's temporary file when no cache owns it."""
    if cache is None:
        with contextlib.suppress(FileNotFoundError):
            resp.path.unlink()


@contextlib.contextmanager
def _page(resp: CachedResponse, cache: Cache | None) -> Iterator[None]:
    """Scope in which a page is read and checked: an unusable page is dropped from the cache
    (so the next run asks again), and a temporary file is always removed."""
    try:
        yield
    except BiostressError:
        if cache is not None:
            cache.discard(resp.url)
        raise
    finally:
        _cleanup(resp, cache)


# --------------------------------------------------------------------------------------------
# OGC API - Features


def fetch_ogcapi_features(
    base_url: str,
    collection: str,
    *,
    bbox: Sequence[float] | None,
    bbox_crs: str | None = RD_NEW,
    crs: str | None = RD_NEW,
    limit: int = 1000,
    max_pages: int = 10000,
    cache: Cache | None = None,
    allow_hosts: Iterable[str] = (),
    progress: Progress | None = None,
    filters: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 1.0,
    refresh: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> gpd.GeoDataFrame:
    """All features of ``collection`` (within ``bbox``) from an OGC API - Features service.

    Requests ``{base_url}/collections/{collection}/items?f=json&limit=..&bbox=..&bbox-crs=..&crs=..``
    and follows ``rel="next"`` links until there are none. ``bbox_crs`` and ``crs`` are CRS URIs
    (Part 2); CRS84 is the protocol default and is then not sent, so servers without Part 2 work
    too. ``filters`` adds queryable-property parameters (e.g. ``{"gemeentecode": "GM0505"}``).

    The output CRS is taken from the ``Content-Crs`` header (it must match what was asked for);
    without that header the requested CRS is assumed (CRS84 when none was requested) and a
    projected CRS whose coordinates all look like degrees is refused. Coordinates in a CRS with
    latitude first (e.g. EPSG:4326 by URI) are swapped so that x is the longitude, as GeoPandas
    expects. The feature ``id`` becomes the first column (``feature_id`` if a property is already
    called ``id``). ``gdf.attrs["provenance"]`` records url, pages, retrieved_at, sha256s and
    feature_count.
    """
    hosts = tuple(allow_hosts)
    if not collection or "/" in collection or collection in (".", ".."):
        raise ValueError(f"invalid collection name {collection!r}")
    if limit < 1:
        raise ValueError("limit must be >= 1")
    params: dict[str, str] = {"f": "json", "limit": str(int(limit))}
    if bbox is not None:
        params["bbox"] = ",".join(_bbox_values(bbox))
        if bbox_crs is not None and not _same_crs(bbox_crs, CRS84):
            params["bbox-crs"] = bbox_crs
    if crs is not None and not _same_crs(crs, CRS84):
        params["crs"] = crs
    for k, v in (filters or {}).items():
        if k.lower() in ("f", "limit", "bbox", "bbox-crs", "crs"):
            raise ValueError(f"filter {k!r} clashes with a protocol parameter")
        params[k] = str(v)

    expected_uri = crs if crs is not None else CRS84
    expected = _crs_of(expected_uri)
    swap = _lat_first(expected)
    items = base_url.rstrip("/") + "/collections/" + quote(collection, safe="") + "/items"
    first_url = _with_params(items, params)
    safe_url(first_url, allow_hosts=hosts)

    responses: list[CachedResponse] = []
    frames: list[pd.DataFrame] = []
    geoms: list[Any] = []
    seen: set[str] = set()
    number_matched: int | None = None
    url: str | None = first_url
    while url is not None:
        if len(responses) >= max_pages:
            raise FetchError(
                f"Stopped after {max_pages} pages of {first_url}; the result would be incomplete.",
                hint="Use a smaller bbox, a larger limit, or raise max_pages.",
            )
        seen.add(url)
        resp = fetch(
            url,
            cache=cache,
            allow_hosts=hosts,
            timeout=timeout,
            max_bytes=max_bytes,
            retries=retries,
            backoff=backoff,
            accept=_GEOJSON_ACCEPT,
            refresh=refresh,
        )
        with _page(resp, cache):
            doc = _load_json(resp)
            feats = _check_feature_collection(doc, url)
            content_crs = resp.header("Content-Crs")
            if content_crs and not _same_crs(content_crs, expected_uri):
                raise FetchError(
                    f"{url} answered in CRS {content_crs} although {expected_uri} was asked for.",
                    hint="The service may not support this CRS; use one listed in the collection's 'crs' metadata.",
                )
            df, page_geoms = _to_frame(feats, url, swap)
            if not content_crs and expected.is_projected and _looks_geographic(page_geoms):
                raise FetchError(
                    f"{url} sent no Content-Crs header and its coordinates look like degrees, although "
                    f"{expected_uri} was asked for: the service probably ignored the 'crs' parameter.",
                    hint="Ask without 'crs' (CRS84) and reproject locally, or use a service that supports Part 2.",
                )
            next_url = _next_link(doc, url, hosts)
        if number_matched is None and isinstance(doc.get("numberMatched"), int):
            number_matched = doc["numberMatched"]
        responses.append(resp)
        frames.append(df)
        geoms.extend(page_geoms)
        if progress is not None:
            progress(len(responses), len(geoms))
        url = next_url
        if url is not None and url in seen:
            raise FetchError(
                f"{first_url}: the service's next link repeats an earlier page ({url}); stopping."
            )

    gdf = _frame(frames, geoms, expected)
    gdf.attrs["provenance"] = _provenance(
        first_url,
        responses,
        len(gdf),
        "OGC API - Features",
        expected_uri,
        collection=collection,
        content_crs=responses[0].header("Content-Crs") if responses else None,
        number_matched=number_matched,
    )
    return gdf


def _next_link(doc: Any, page_url: str, hosts: tuple[str, ...]) -> str | None:
    """The absolute ``rel="next"`` link of a page (JSON flavours preferred), checked with safe_url."""
    links = doc.get("links") if isinstance(doc, dict) else None
    if not isinstance(links, list):
        return None
    candidates = [
        lk
        for lk in links
        if isinstance(lk, dict) and lk.get("rel") == "next" and isinstance(lk.get("href"), str) and lk["href"]
    ]
    if not candidates:
        return None
    json_like = [
        lk for lk in candidates if str(lk.get("type", "")).split(";")[0].strip().lower() in _JSON_TYPES
    ]
    chosen = (json_like or candidates)[0]["href"]
    target = urljoin(page_url, chosen)
    try:
        safe_url(target, allow_hosts=hosts)
    except UnsafeInputError as e:
        raise UnsafeInputError(
            f"Refused the next-page link {chosen!r} returned by {page_url}: {e.message}",
            hint="A service's paging links must point at a public http(s) address.",
        ) from e
    return target


# --------------------------------------------------------------------------------------------
# WFS 2.0


def _wfs_error(resp_url: str, body: bytes) -> FetchError | None:
    text = parse_ows_exception(body)
    if text is None:
        return None
    return FetchError(
        f"The WFS at {resp_url} reported an error: {text}",
        hint="Check the type name (see GetCapabilities), the srs and the bbox.",
    )


def fetch_wfs(
    base_url: str,
    typename: str,
    *,
    bbox: Sequence[float] | None,
    srs: str = "EPSG:28992",
    count: int = 1000,
    max_pages: int = 10000,
    cache: Cache | None = None,
    allow_hosts: Iterable[str] = (),
    progress: Progress | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 1.0,
    refresh: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> gpd.GeoDataFrame:
    """All features of ``typename`` (within ``bbox``, given in ``srs``) from a WFS 2.0 service.

    Sends ``GetFeature`` with ``outputFormat=application/json``, ``srsName=srs``,
    ``bbox=minx,miny,maxx,maxy,<srs>``, ``count`` and ``startIndex``, and pages until a page has
    fewer than ``count`` features (or ``numberMatched``, when sent, is reached), so ``count`` must
    not exceed the server's maximum page size (PDOK: 1000, the default here). An OWS
    ExceptionReport (with any HTTP status) becomes a :class:`~biostress.errors.FetchError` with
    the service's text. The result is in ``srs``; GeoJSON coordinates are read as x/y (use a
    projected ``srs`` such as RD to avoid axis-order ambiguity). ``gdf.attrs["provenance"]``
    records url, pages, retrieved_at, sha256s and feature_count.
    """
    hosts = tuple(allow_hosts)
    if not typename or not typename.strip():
        raise ValueError("typename must not be empty")
    if count < 1:
        raise ValueError("count must be >= 1")
    target_crs = _crs_of(srs)
    base_params: dict[str, str] = {
        "service": "WFS",
        "version": "2.0.0",
        "request": "GetFeature",
        "typeNames": typename,
        "outputFormat": "application/json",
        "srsName": srs,
    }
    if bbox is not None:
        base_params["bbox"] = ",".join([*_bbox_values(bbox), srs])

    def page_url(start: int) -> str:
        return _with_params(base_url, {**base_params, "count": str(int(count)), "startIndex": str(start)})

    first_url = page_url(0)
    safe_url(first_url, allow_hosts=hosts)
    responses: list[CachedResponse] = []
    frames: list[pd.DataFrame] = []
    geoms: list[Any] = []
    start = previous_start = 0
    while True:
        if len(responses) >= max_pages:
            raise FetchError(
                f"Stopped after {max_pages} pages of {first_url}; the result would be incomplete.",
                hint="Use a smaller bbox, a larger count, or raise max_pages.",
            )
        url = page_url(start)
        try:
            resp = fetch(
                url,
                cache=cache,
                allow_hosts=hosts,
                timeout=timeout,
                max_bytes=max_bytes,
                retries=retries,
                backoff=backoff,
                accept="application/json, application/geo+json;q=0.9, text/xml;q=0.5",
                refresh=refresh,
            )
        except HTTPStatusError as e:
            err = _wfs_error(url, e.body)
            if err is not None:
                raise err from e
            raise
        with _page(resp, cache):
            with resp.path.open("rb") as fh:
                raw_head = fh.read(512).lstrip()
            if raw_head.startswith(b"<"):
                err = _wfs_error(url, resp.read_bytes())
                if err is not None:
                    raise err
                raise FetchError(
                    f"{url} answered XML instead of GeoJSON.",
                    hint="The service may not support outputFormat=application/json for this type.",
                )
            doc = _load_json(resp)
            feats = _check_feature_collection(doc, url)
            crs_member = doc.get("crs")
            name = crs_member.get("properties", {}).get("name") if isinstance(crs_member, dict) else None
            if isinstance(name, str) and not _same_crs(name, srs):
                raise FetchError(f"{url} answered in CRS {name} although {srs} was asked for.")
            if responses and feats and resp.sha256 == responses[-1].sha256:
                raise FetchError(
                    f"{url} returned the same page as startIndex={previous_start}: the service seems to "
                    "ignore startIndex, so paging cannot work.",
                    hint="Raise count so that everything fits in one page, or use a smaller bbox.",
                )
            df, page_geoms = _to_frame(feats, url, swap_axes=False)
        responses.append(resp)
        frames.append(df)
        geoms.extend(page_geoms)
        if progress is not None:
            progress(len(responses), len(geoms))
        matched = doc.get("numberMatched")
        if len(feats) < count or (isinstance(matched, int) and len(geoms) >= matched):
            break
        previous_start, start = start, start + len(feats)

    gdf = _frame(frames, geoms, target_crs)
    gdf.attrs["provenance"] = _provenance(first_url, responses, len(gdf), "WFS 2.0.0", srs, typename=typename)
    return gdf


# --------------------------------------------------------------------------------------------
# plain files and presets


def fetch_file(
    url: str,
    *,
    cache: Cache | None,
    dest: str | os.PathLike[str] | None = None,
    allow_hosts: Iterable[str] = (),
    timeout: float = 60.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    retries: int = 3,
    backoff: float = 1.0,
    refresh: bool = False,
    expected_sha256: str | None = None,
) -> Path:
    """Download a plain file (e.g. an ``.osm.pbf`` extract) and return its path.

    With a ``cache`` the file stays in the cache (and is copied to ``dest`` if given); without
    one it is moved to ``dest`` or left in a temporary file the caller owns. With
    ``expected_sha256`` a body with another checksum is refused (and dropped from the cache).
    """
    resp = fetch(
        url,
        cache=cache,
        allow_hosts=allow_hosts,
        timeout=timeout,
        max_bytes=max_bytes,
        retries=retries,
        backoff=backoff,
        refresh=refresh,
    )
    if expected_sha256 and resp.sha256 != expected_sha256.strip().lower():
        if cache is not None:
            cache.discard(url)
        else:
            _cleanup(resp, None)
        raise FetchError(
            f"{url} has SHA-256 {resp.sha256}, not the expected {expected_sha256}.",
            hint="The file changed on the server or was corrupted; check the source and update the checksum.",
        )
    if dest is None:
        return resp.path
    out = Path(dest)
    out.parent.mkdir(parents=True, exist_ok=True)
    if cache is not None:
        shutil.copyfile(resp.path, out)
    else:
        shutil.move(str(resp.path), out)
    return out


def fetch_preset(
    name: str,
    *,
    bbox: Sequence[float] | None,
    cache: Cache | None = None,
    base_url: str | None = None,
    **kwargs: Any,
) -> gpd.GeoDataFrame:
    """Fetch one of :data:`PDOK_PRESETS` in RD New (bbox in RD as well).

    ``base_url`` overrides the preset's address (e.g. a mirror); other keyword arguments go to
    :func:`fetch_ogcapi_features` or :func:`fetch_wfs`. The preset's licence and attribution are
    added to the provenance.
    """
    try:
        preset = PDOK_PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown preset {name!r}; choose one of: {', '.join(sorted(PDOK_PRESETS))}"
        ) from None
    url = base_url or preset["base_url"]
    if preset["service"] == "wfs":
        gdf = fetch_wfs(url, preset["typename"], bbox=bbox, cache=cache, **kwargs)
    else:
        gdf = fetch_ogcapi_features(url, preset["collection"], bbox=bbox, cache=cache, **kwargs)
    gdf.attrs["provenance"].update(
        {"preset": name, "licence": preset["licence"], "attribution": preset["attribution"]}
    )
    return gdf
