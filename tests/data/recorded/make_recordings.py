"""Rebuild the recorded service responses in this folder from the real open data.

There is no network where these tests were written, so the responses could not be captured from
the live PDOK services. Instead this script writes them *in the documented response format* of
those services (see ``NOTICE.md``), filled with the real data from ``/work/shared/data/dordrecht``:

* CBS buurten 2024 of Dordrecht (CBS / Kadaster, CC BY 4.0) as OGC API - Features pages
  (PDOK's server, gokoala: ``links`` with ``self``/``alternate``/``next``/``prev``,
  ``numberReturned``, ``timeStamp``, ``type``, ``features`` with an ``id``), once in RD New
  (``crs`` = EPSG:28992, three pages of 50/50/32) and once in the default CRS84 (lon/lat, one page).
* Natura 2000 sites (RVO, via PDOK) that intersect the Dordrecht bbox as WFS 2.0 GetFeature
  ``application/json`` pages (MapServer/OGR GeoJSON: ``type``, ``name``, ``crs``, ``features``),
  ``count=1``: pages of 1, 1 and 0 features.
* One WFS 2.0 ``ows:ExceptionReport`` (unknown type name) as MapServer writes it.

Links use a ``{base}`` placeholder that the test server replaces with its own address.

Run from the repository root::

    .venv/bin/python tests/data/recorded/make_recordings.py
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import geopandas as gpd
import shapely

SRC = Path("/work/shared/data/dordrecht")
OUT = Path(__file__).resolve().parent

RD = "http://www.opengis.net/def/crs/EPSG/0/28992"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
OGC_PATH = "/cbs/wijken-en-buurten-2024/ogc/v1/collections/buurten/items"
WFS_PATH = "/rvo/natura2000/wfs/v1_0"
BUURT_PROPS = ["buurtcode", "buurtnaam", "wijkcode", "gemeentecode", "gemeentenaam"]
TIMESTAMP = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _num(v: float) -> str:
    return format(float(v), ".12g")


def _round_coords(geom: dict, ndigits: int) -> dict:
    def r(c: object) -> object:
        if isinstance(c, (int, float)):
            return round(float(c), ndigits)
        return [r(x) for x in c]  # type: ignore[attr-defined]

    return {"type": geom["type"], "coordinates": r(geom["coordinates"])}


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{offset}|buurten".encode()).decode().rstrip("=")


def _ogc_links(
    query: dict[str, str], cursor: str | None, next_cursor: str | None, prev: tuple[str | None] | None
) -> list[dict]:
    def href(f: str, cur: str | None) -> str:
        q = dict(query)
        if cur:
            q["cursor"] = cur
        q["f"] = f
        return "{base}" + OGC_PATH + "?" + urlencode(sorted(q.items()))

    links = [
        {
            "rel": "self",
            "title": "This document as GeoJSON",
            "type": "application/geo+json",
            "href": href("json", cursor),
        },
        {
            "rel": "alternate",
            "title": "This document as JSON-FG",
            "type": "application/vnd.ogc.fg+json",
            "href": href("jsonfg", cursor),
        },
        {
            "rel": "alternate",
            "title": "This document as HTML",
            "type": "text/html",
            "href": href("html", cursor),
        },
    ]
    if next_cursor:
        links.append(
            {
                "rel": "next",
                "title": "Next page",
                "type": "application/geo+json",
                "href": href("json", next_cursor),
            }
        )
    if prev is not None:
        links.append(
            {
                "rel": "prev",
                "title": "Previous page",
                "type": "application/geo+json",
                "href": href("json", prev[0]),
            }
        )
    return links


def _ogc_pages(
    gdf: gpd.GeoDataFrame, query: dict[str, str], limit: int, ndigits: int, stem: str, content_crs: str
) -> list[dict]:
    feats = json.loads(gdf.to_json(drop_id=True))["features"]
    entries = []
    offsets = list(range(0, len(feats), limit))
    for i, off in enumerate(offsets):
        page = feats[off : off + limit]
        cursor = _cursor(off) if off else None
        nxt = _cursor(offsets[i + 1]) if i + 1 < len(offsets) else None
        prev = ((_cursor(offsets[i - 1]) if offsets[i - 1] else None),) if i else None
        out_feats = []
        for f in page:
            props = {k: f["properties"][k] for k in BUURT_PROPS}
            fid = str(uuid.uuid5(uuid.NAMESPACE_URL, "cbs:buurt:2024:" + props["buurtcode"]))
            out_feats.append(
                {
                    "id": fid,
                    "type": "Feature",
                    "geometry": _round_coords(f["geometry"], ndigits),
                    "properties": props,
                }
            )
        doc = {
            "links": _ogc_links(query, cursor, nxt, prev),
            "numberReturned": len(out_feats),
            "timeStamp": TIMESTAMP,
            "type": "FeatureCollection",
            "features": out_feats,
        }
        name = f"{stem}_p{i + 1}.json" if len(offsets) > 1 else f"{stem}.json"
        (OUT / name).write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        q = dict(query)
        if cursor:
            q["cursor"] = cursor
        entries.append(
            {
                "service": "ogcapi",
                "path": OGC_PATH,
                "query": q,
                "file": name,
                "status": 200,
                "headers": {"Content-Type": "application/geo+json", "Content-Crs": f"<{content_crs}>"},
            }
        )
    return entries


def main() -> None:
    buurten = gpd.read_file(SRC / "cbs_buurten_2024_generalised_dordrecht.geojson")
    assert len(buurten) == 132 and buurten.crs.to_epsg() == 28992
    bbox_rd = [float(v) for v in buurten.total_bounds]
    manifest: list[dict] = []

    # 1. RD New, three pages (limit=50), bbox in RD, filtered on the municipality code.
    q_rd = {
        "bbox": ",".join(_num(v) for v in bbox_rd),
        "bbox-crs": RD,
        "crs": RD,
        "f": "json",
        "gemeentecode": "GM0505",
        "limit": "50",
    }
    manifest += _ogc_pages(buurten, q_rd, 50, 3, "ogc_buurten_rd", RD)

    # 2. Default CRS (CRS84, lon/lat), one page (limit=1000), bbox in CRS84 (no bbox-crs, no crs).
    b84 = buurten.to_crs("OGC:CRS84")
    box84 = gpd.GeoSeries([shapely.box(*bbox_rd)], crs=28992).to_crs("OGC:CRS84").total_bounds
    box84 = [
        round(box84[0] - 5e-7, 6),
        round(box84[1] - 5e-7, 6),
        round(box84[2] + 5e-7, 6),
        round(box84[3] + 5e-7, 6),
    ]
    q_84 = {"bbox": ",".join(_num(v) for v in box84), "f": "json", "gemeentecode": "GM0505", "limit": "1000"}
    manifest += _ogc_pages(b84, q_84, 1000, 9, "ogc_buurten_crs84", CRS84)

    # 3. WFS 2.0 Natura 2000: sites whose geometry intersects the RD bbox, count=1.
    n2k = gpd.read_file(SRC / "natura2000_within12km_dordrecht.gpkg")
    sel = n2k[n2k.intersects(shapely.box(*bbox_rd))].sort_values("nr").reset_index(drop=True)
    feats = []
    for _, row in sel.iterrows():
        props = {
            "naam_n2k": row["naam"],
            "nr": int(row["nr"]),
            "bescherming": row["richtlijn"],
            "sitecode_v": row["sitecode_vr"] if isinstance(row["sitecode_vr"], str) else None,
            "sitecode_h": row["sitecode_hr"] if isinstance(row["sitecode_hr"], str) else None,
        }
        geom = _round_coords(shapely.geometry.mapping(row.geometry), 3)
        geom = json.loads(json.dumps(geom))
        feats.append({"type": "Feature", "properties": props, "geometry": geom})
    srs = "EPSG:28992"
    bbox_param = ",".join(_num(v) for v in bbox_rd) + "," + srs
    count = 1
    for i in range(len(feats) + 1):
        page = feats[i : i + count]
        doc = {
            "type": "FeatureCollection",
            "name": "natura2000",
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::28992"}},
            "features": page,
        }
        name = f"wfs_natura2000_p{i + 1}.json"
        (OUT / name).write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        manifest.append(
            {
                "service": "wfs",
                "path": WFS_PATH,
                "query": {
                    "service": "WFS",
                    "version": "2.0.0",
                    "request": "GetFeature",
                    "typenames": "natura2000:natura2000",
                    "outputformat": "application/json",
                    "srsname": srs,
                    "bbox": bbox_param,
                    "count": str(count),
                    "startindex": str(i * count),
                },
                "file": name,
                "status": 200,
                "headers": {"Content-Type": "application/json; subtype=geojson; charset=utf-8"},
            }
        )

    # 4. The ExceptionReport MapServer (WFS 2.0) writes for an unknown type name (HTTP 400).
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="2.0.0" xml:lang="en-US" '
        'xsi:schemaLocation="http://www.opengis.net/ows/1.1 http://schemas.opengis.net/ows/1.1.0/owsExceptionReport.xsd">\n'
        '  <ows:Exception exceptionCode="InvalidParameterValue" locator="typename">\n'
        "    <ows:ExceptionText>msWFSGetFeature(): WFS server error. TYPENAME '{typename}' doesn't exist in this "
        "server.  Please check the capabilities and reformulate your request.</ows:ExceptionText>\n"
        "  </ows:Exception>\n"
        "</ows:ExceptionReport>\n"
    )
    (OUT / "wfs_exception_unknown_typename.xml").write_text(xml, encoding="utf-8")

    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in OUT.iterdir() if p.is_file())
    print(f"wrote {len(manifest)} recordings, folder total {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
