"""Sources: adapters that bring open geodata into the area's CRS, behind one safe opener.

Each adapter takes a :class:`~biostress.config.SourceSpec` and returns plain data (GeoDataFrames
per layer, or a raster handle); file and network I/O happen only here. Provenance (path or URL,
checksum, licence, attribution, date) is returned with the data so the run can record it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import LoadedArea, SourceSpec
from ..errors import ConfigError


@dataclass
class Acquired:
    """Where a source's data now is on disk (or in memory, for feature services)."""

    spec: SourceSpec
    path: Path | None
    location: str  # path or URL as the user gave it
    sha256: str | None
    extra: dict = field(default_factory=dict)
    frame: object | None = None  # GeoDataFrame when fetched from a feature service


def sha256_path(path: Path) -> str:
    """SHA-256 of a file, or of a folder (its files' relative paths and contents, in sorted order)."""
    h = hashlib.sha256()
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                p = Path(root) / f
                h.update(str(p.relative_to(path)).encode())
                h.update(b"\0")
                _hash_file(p, h)
    else:
        _hash_file(path, h)
    return h.hexdigest()


def _hash_file(p: Path, h) -> None:
    with open(p, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)


def acquire(spec: SourceSpec, area: LoadedArea, *, bbox: tuple[float, float, float, float] | None = None) -> Acquired:
    """Resolve a local source safely, or fetch an online one into the cache."""
    if spec.path is not None:
        p = area.resolve(spec.path)
        return Acquired(spec, p, spec.path, sha256_path(p))
    from .http import Cache
    from .ogc import fetch_file, fetch_ogcapi_features, fetch_wfs

    cache = Cache(area.cache_dir)
    hosts = tuple(area.config.allow_hosts)
    crs = area.config.crs
    if spec.service == "file":
        p = fetch_file(spec.url, cache=cache, allow_hosts=hosts)
        return Acquired(spec, p, spec.url, sha256_path(p))
    if spec.kind == "bgt":
        if bbox is None:
            raise ConfigError(f"Source '{spec.name}': an online BGT source needs the area's extent first.",
                              hint="Give the boundary as a file or bbox.")
        from .bgt import fetch_bgt

        layers, prov = fetch_bgt(spec.url, bbox, _crs_uri(crs), cache=cache, allow_hosts=hosts, page_size=spec.page_size)
        digest = hashlib.sha256("".join(s for p in prov for s in p.get("sha256s", [])).encode()).hexdigest()
        return Acquired(spec, None, spec.url, digest, extra={"retrieved_at": prov[0].get("retrieved_at") if prov else None,
                                                             "collections": [p["collection"] for p in prov]},
                        frame=layers)
    if spec.service == "ogcapi":
        base, _, _ = spec.url.partition("/collections/")
        uri = _crs_uri(crs)
        gdf = fetch_ogcapi_features(base, spec.collection, bbox=bbox, bbox_crs=uri, crs=uri, cache=cache, allow_hosts=hosts,
                                    limit=spec.page_size, filters=spec.filters)
    else:
        gdf = fetch_wfs(spec.url, spec.collection, bbox=bbox, srs=crs, cache=cache, allow_hosts=hosts, count=spec.page_size)
    prov = dict(gdf.attrs.get("provenance", {}))
    digest = hashlib.sha256("".join(prov.get("sha256s", [])).encode()).hexdigest() if prov.get("sha256s") else None
    return Acquired(spec, None, spec.url, digest, extra={"retrieved_at": prov.get("retrieved_at"), "pages": prov.get("pages")},
                    frame=gdf)


def _crs_uri(crs: str) -> str:
    from pyproj import CRS

    auth = CRS.from_user_input(crs).to_authority()
    if not auth:
        return crs
    return f"http://www.opengis.net/def/crs/{auth[0]}/0/{auth[1]}"
