"""The one safe opener for user-supplied paths and URLs.

Rules (enforced here and nowhere else):

* User strings never reach GDAL as ``/vsi*`` paths, connection strings or URLs: anything that
  looks like one is refused before a file is touched.
* Paths are resolved (symlinks followed) and must lie inside an *allowed root* (by default the
  folder of the area configuration).
* The format is decided from the file's content (magic bytes) and must agree with the declared
  format; the GDAL driver is then named explicitly. A ``.gpkg`` that is really a zip, or a
  ``.tif`` that is really HTML, is refused with a message naming the file.
* URLs must be ``http``/``https``, carry no credentials, and (unless the host is explicitly
  allowed) may not point at loopback, link-local or private addresses.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import InputDataError, UnsafeInputError

# Formats biostress reads, with the GDAL driver used for each.
DRIVERS: dict[str, str] = {
    "gpkg": "GPKG",
    "geojson": "GeoJSON",
    "shp": "ESRI Shapefile",
    "fgb": "FlatGeobuf",
    "parquet": "Parquet",
    "gtiff": "GTiff",
    "csv": "CSV",
    "mbtiles": "MBTiles",
    "pmtiles": "PMTiles",
    "osmpbf": "OSM",
    "mvt": "MVT",
}

EXTENSIONS: dict[str, str] = {
    ".gpkg": "gpkg",
    ".geojson": "geojson",
    ".json": "geojson",
    ".shp": "shp",
    ".fgb": "fgb",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".tif": "gtiff",
    ".tiff": "gtiff",
    ".csv": "csv",
    ".txt": "csv",
    ".mbtiles": "mbtiles",
    ".pmtiles": "pmtiles",
    ".pbf": "osmpbf",
}

_FORBIDDEN = re.compile(r"(^|[/\\])vsi[a-z0-9_]*[/\\]|^[a-zA-Z][a-zA-Z0-9+.\-]*:", re.IGNORECASE)


def _looks_like_gdal_special(s: str) -> bool:
    """True for /vsi* paths, URLs and driver-prefixed connection strings (``PG:``, ``GPKG:``)."""
    if "\x00" in s:
        return True
    if _FORBIDDEN.search(s):
        # Allow Windows drive letters like C:\data (one letter then :\ or :/).
        return not re.match(r"^[a-zA-Z]:[\\/]", s)
    return False


def safe_path(user_path: str | os.PathLike[str], root: str | os.PathLike[str], *, must_exist: bool = True) -> Path:
    """Resolve ``user_path`` (relative to ``root`` unless absolute) and check it lies inside ``root``.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "a.csv").write_text("x,y\\n")
    4
    >>> safe_path("a.csv", d).name
    'a.csv'
    >>> safe_path("../etc/passwd", d, must_exist=False)
    Traceback (most recent call last):
    ...
    biostress.errors.UnsafeInputError: ...
    """
    s = os.fspath(user_path)
    if not s or not s.strip():
        raise UnsafeInputError("An empty path was given.", hint="Give the path of a data file.")
    if _looks_like_gdal_special(s):
        raise UnsafeInputError(
            f"Refused path {s!r}: URLs, GDAL virtual file systems (/vsi...) and connection strings are not "
            "accepted as file paths.",
            hint="Give a plain file path inside the project folder, or use a 'url:' source for online data.",
        )
    root_p = Path(root).resolve()
    p = Path(s)
    p = (p if p.is_absolute() else root_p / p).resolve()
    if p != root_p and root_p not in p.parents:
        raise UnsafeInputError(
            f"Refused path {s!r}: it resolves to {p}, outside the allowed folder {root_p}.",
            hint="Put the file inside the folder of the area configuration (or set 'data_root').",
        )
    if must_exist and not p.exists():
        raise InputDataError(f"File not found: {p}", hint="Check the path in the area configuration.")
    return p


def sniff_format(path: Path) -> str:
    """Decide a file's format from its first bytes. Returns a key of :data:`DRIVERS` or 'unknown'.

    A directory is reported as 'dir'. Text files are told apart (GeoJSON vs CSV) by their first
    non-blank character.
    """
    if path.is_dir():
        return "dir"
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        return "empty"
    if head.startswith(b"SQLite format 3\x00"):
        # GeoPackage sets application_id 'GPKG' (0x47504B47) at offset 68; MBTiles may set 'MPBX'.
        app_id = head[68:72]
        if app_id == b"GPKG":
            return "gpkg"
        if app_id == b"MPBX":
            return "mbtiles"
        return "sqlite"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "gtiff"
    if head.startswith(b"fgb\x03fgb"):
        return "fgb"
    if head[:4] == b"\x00\x00\x27\x0a":
        return "shp"
    if head.startswith(b"PMTiles"):
        return "pmtiles"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[4:13] == b"\x0a\x09OSMHeader" or b"OSMHeader" in head[:32]:
        return "osmpbf"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "geojson"
    if text[:1] == b"<":
        return "xml"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        try:
            head.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
            return "unknown"
        if any(b < 9 for b in head):
            return "unknown"
    if any(b < 9 for b in head):
        return "unknown"
    return "csv"


def check_format(path: Path, expected: str | None = None) -> str:
    """Sniff ``path`` and check it against ``expected`` (or the extension). Returns the format.

    Raises :class:`InputDataError` naming the file when the content is not what the name or the
    configuration says it is.
    """
    found = sniff_format(path)
    if found == "empty":
        raise InputDataError(f"{path} is empty (0 bytes).", hint="Re-download or re-export the file.")
    want = expected or EXTENSIONS.get(path.suffix.lower())
    if found == "sqlite" and want == "mbtiles":
        found = "mbtiles"  # MBTiles need not set an application id
    if want is None:
        if found in DRIVERS:
            return found
        raise InputDataError(
            f"Cannot tell the format of {path} (content looks like '{found}').",
            hint="Use one of: " + ", ".join(sorted(set(EXTENSIONS))),
        )
    if found != want:
        raise InputDataError(
            f"{path} is not a {want} file: its content looks like '{found}'. The file may be corrupt, "
            "truncated, or renamed.",
            hint=f"Export the data again as {want}, or give the right 'format:' for this source.",
        )
    if found == "geojson":
        _check_json(path)
    return found


def _check_json(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            doc = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputDataError(f"{path} is not valid JSON: {e}", hint="The file is corrupt or truncated; export it again.") from e
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        raise InputDataError(f"{path} is JSON but not GeoJSON (no FeatureCollection).", hint="Export it as GeoJSON.")


def _ip_is_internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def safe_url(url: str, *, allow_hosts: tuple[str, ...] = (), resolve: bool = True) -> str:
    """Check a user-supplied URL. Returns it unchanged when it is acceptable.

    ``allow_hosts`` lists hosts (``name`` or ``name:port``) that may be internal addresses, e.g. a
    test server on 127.0.0.1.
    """
    if not isinstance(url, str) or _has_ctrl(url):
        raise UnsafeInputError(f"Refused URL {url!r}: it contains control characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeInputError(
            f"Refused URL {url!r}: only http and https are allowed (got '{parts.scheme or 'no scheme'}').",
            hint="Use the https address of the service.",
        )
    if parts.username or parts.password:
        raise UnsafeInputError(f"Refused URL {url!r}: credentials in URLs are not accepted.")
    host = parts.hostname
    if not host:
        raise UnsafeInputError(f"Refused URL {url!r}: it has no host.")
    netloc_port = f"{host}:{parts.port}" if parts.port else host
    if host in allow_hosts or netloc_port in allow_hosts:
        return url
    addrs: list[str] = []
    try:
        addrs = [str(ipaddress.ip_address(host))]
    except ValueError:
        if host.lower() in ("localhost",) or host.lower().endswith(".localhost"):
            addrs = ["127.0.0.1"]
        elif resolve:
            try:
                addrs = sorted({ai[4][0] for ai in socket.getaddrinfo(host, parts.port or 443)})
            except OSError:
                addrs = []  # unresolvable hosts fail later, at fetch time, with a FetchError
    for a in addrs:
        if _ip_is_internal(ipaddress.ip_address(a.split("%")[0])):
            raise UnsafeInputError(
                f"Refused URL {url!r}: {host} is an internal address ({a}).",
                hint="Online sources must be public services. For a local test server, allow its host explicitly.",
            )
    return url


def _has_ctrl(s: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in s)
