"""OGC API - Features (Part 1: Core, OGC 17-069r4) over the area units of a run.

Collections = the unit levels (``gemeente``, ``wijk``, ``buurt``, ...). Items are GeoJSON features in
WGS84 (CRS84, lon/lat), ``id`` = the unit code, properties = every column of the units layer (NaN ->
null). ``/items`` supports ``bbox=minlon,minlat,maxlon,maxlat`` (features whose geometry intersects
the box), ``limit`` (1-1000, default 10) and ``offset``; the answer carries ``numberMatched``,
``numberReturned``, ``timeStamp`` and ``self`` / ``next`` / ``prev`` links (OGC 17-069r4, 7.15).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import numpy as np
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from ..errors import InputDataError
from .state import RunState

__all__ = ["CONFORMANCE", "ogc_router"]

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
MAX_LIMIT = 1000


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    """``"minx,miny,maxx,maxy"`` -> floats (lon/lat); :class:`InputDataError` when malformed."""
    if bbox is None or bbox == "":
        return None
    parts = bbox.split(",")
    try:
        v = [float(p) for p in parts]
    except ValueError:
        raise InputDataError(f"bbox {bbox!r} is not four numbers.", hint="Give bbox=minlon,minlat,maxlon,maxlat.") from None
    if len(v) != 4 or not all(np.isfinite(v)) or v[0] > v[2] or v[1] > v[3]:
        raise InputDataError(f"bbox {bbox!r} must be minlon,minlat,maxlon,maxlat with min <= max.")
    return v[0], v[1], v[2], v[3]


def ogc_router(state: RunState) -> APIRouter:
    r = APIRouter(prefix="/ogc", tags=["OGC API Features"])

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def collection(level: str, request: Request) -> dict[str, Any]:
        u = state.units[level]
        b = u.bounds_wgs84
        ext = [float(np.nanmin(b[:, 0])), float(np.nanmin(b[:, 1])), float(np.nanmax(b[:, 2])),
               float(np.nanmax(b[:, 3]))] if len(b) else list(state.bounds_wgs84)
        root = base(request)
        return {
            "id": level, "title": f"Area units: {level}", "itemType": "feature",
            "description": f"The {level} units of the run '{state.name}' with their land-cover and indicator values.",
            "extent": {"spatial": {"bbox": [ext], "crs": CRS84}},
            "crs": [CRS84], "storageCrs": CRS84,
            "links": [
                {"href": f"{root}/ogc/collections/{level}", "rel": "self", "type": "application/json"},
                {"href": f"{root}/ogc/collections/{level}/items", "rel": "items", "type": GEOJSON},
            ],
        }

    def units_or_404(level: str):
        u = state.units.get(level)
        if u is None:
            return None, JSONResponse({"code": "NotFound", "description": f"No collection {level!r}.",
                                       "error": f"No collection {level!r}."}, status_code=404)
        return u, None

    @r.get("")
    @r.get("/")
    def landing(request: Request) -> dict[str, Any]:
        root = base(request)
        return {
            "title": f"biostress: {state.name}",
            "description": "Area units of a biodiversity stress test run (OGC API - Features).",
            "links": [
                {"href": f"{root}/ogc", "rel": "self", "type": "application/json", "title": "This document"},
                {"href": f"{root}/openapi.json", "rel": "service-desc",
                 "type": "application/vnd.oai.openapi+json;version=3.0", "title": "The API definition"},
                {"href": f"{root}/ogc/conformance", "rel": "conformance", "type": "application/json",
                 "title": "Conformance classes"},
                {"href": f"{root}/ogc/collections", "rel": "data", "type": "application/json",
                 "title": "Collections"},
            ],
        }

    @r.get("/conformance")
    def conformance() -> dict[str, Any]:
        return {"conformsTo": CONFORMANCE}

    @r.get("/collections")
    def collections(request: Request) -> dict[str, Any]:
        root = base(request)
        return {"links": [{"href": f"{root}/ogc/collections", "rel": "self", "type": "application/json"}],
                "collections": [collection(level, request) for level in state.units]}

    @r.get("/collections/{level}")
    def one_collection(level: str, request: Request):
        u, err = units_or_404(level)
        return err if err is not None else collection(level, request)

    @r.get("/collections/{level}/items")
    def items(level: str, request: Request, bbox: str | None = None,
              limit: int = Query(10, ge=1, le=MAX_LIMIT), offset: int = Query(0, ge=0)):
        u, err = units_or_404(level)
        if err is not None:
            return err
        box = parse_bbox(bbox)
        if box is None:
            idx = np.arange(len(u.features))
        else:
            idx = np.sort(u.tree_wgs84.query(shapely.box(*box), predicate="intersects"))
        matched = int(idx.size)
        page = idx[offset:offset + limit]
        feats = [u.features[int(i)] for i in page]
        root = base(request)

        def link(off: int, rel: str) -> dict[str, str]:
            q: dict[str, Any] = {"limit": limit, "offset": off}
            if bbox:
                q["bbox"] = bbox
            return {"href": f"{root}/ogc/collections/{level}/items?{urlencode(q)}", "rel": rel, "type": GEOJSON}

        links = [link(offset, "self"),
                 {"href": f"{root}/ogc/collections/{level}", "rel": "collection", "type": "application/json"}]
        if offset + limit < matched:
            links.append(link(offset + limit, "next"))
        if offset > 0:
            links.append(link(max(0, offset - limit), "prev"))
        body = {"type": "FeatureCollection", "features": feats, "numberMatched": matched,
                "numberReturned": len(feats), "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "links": links}
        return JSONResponse(body, media_type=GEOJSON)

    @r.get("/collections/{level}/items/{code}")
    def item(level: str, code: str, request: Request):
        u, err = units_or_404(level)
        if err is not None:
            return err
        f = next((f for f in u.features if f["id"] == code), None)
        if f is None:
            return JSONResponse({"code": "NotFound", "description": f"No feature {code!r} in {level!r}.",
                                 "error": f"No feature {code!r} in {level!r}."}, status_code=404)
        root = base(request)
        body = {**f, "links": [
            {"href": f"{root}/ogc/collections/{level}/items/{code}", "rel": "self", "type": GEOJSON},
            {"href": f"{root}/ogc/collections/{level}", "rel": "collection", "type": "application/json"}]}
        return JSONResponse(body, media_type=GEOJSON)

    return r
