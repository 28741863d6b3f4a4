"""Downloading with a content-addressed cache, using only the standard library.

:func:`fetch` is the one way biostress reads anything over HTTP. It

* checks every URL with :func:`biostress.sources.safe.safe_url` before it is requested, and
  every redirect target before it is followed (a redirect handler refuses ``file://`` and other
  schemes, credentials, and internal hosts that were not explicitly allowed);
* streams the body to a temporary file, refusing bodies larger than ``max_bytes`` (the partial
  file is removed, nothing reaches the cache);
* retries connection errors, HTTP 429 and 5xx with exponential backoff, honouring
  ``Retry-After``;
* turns other 4xx/3xx answers into a :class:`HTTPStatusError` (a
  :class:`~biostress.errors.FetchError`) that names the URL and the status and says what to do;
* sends ``User-Agent: biostress/<version>``;
* stores the body in a :class:`Cache` (``root/<sha256 of url>.<ext>``) next to a sidecar JSON
  (``root/<sha256 of url>.meta.json``) with the URL, the retrieval time (ISO 8601, UTC), the
  SHA-256 and size of the body, content type, HTTP status and a few response headers. Both are
  written atomically (temporary file + :func:`os.replace`).
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import json
import os
import re
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from ..errors import FetchError, UnsafeInputError
from .safe import safe_url

__all__ = [
    "DEFAULT_MAX_BYTES",
    "USER_AGENT",
    "Cache",
    "CachedResponse",
    "HTTPStatusError",
    "fetch",
]

DEFAULT_MAX_BYTES = 500 * 1024 * 1024
"""Default size cap of one response body (500 MiB)."""

MAX_RETRY_WAIT = 120.0
"""Longest single wait between retries, in seconds, whatever ``Retry-After`` asks for."""

_CHUNK = 1 << 16
_ERROR_BODY_LIMIT = 64 * 1024
_KEPT_HEADERS = ("Content-Crs", "Content-Length", "ETag", "Last-Modified", "Date")
_EXT_BY_TYPE = {
    "application/geo+json": "json",
    "application/json": "json",
    "application/problem+json": "json",
    "application/vnd.ogc.fg+json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/gml+xml": "xml",
    "text/html": "html",
    "text/plain": "txt",
    "text/csv": "csv",
    "application/zip": "zip",
    "application/gzip": "gz",
    "application/geopackage+sqlite3": "gpkg",
    "image/tiff": "tif",
}
_EXT_BY_SUFFIX = (
    ".osm.pbf",
    ".geojson",
    ".json",
    ".gpkg",
    ".zip",
    ".gz",
    ".tif",
    ".tiff",
    ".csv",
    ".xml",
    ".fgb",
    ".parquet",
    ".pmtiles",
    ".mbtiles",
    ".pbf",
)


def _version() -> str:
    """The installed biostress version, or a placeholder when running from a source tree."""
    try:
        from importlib.metadata import version

        return version("biostress")
    except Exception:
        try:
            from .. import __version__  # type: ignore[attr-defined]

            return str(__version__)
        except Exception:
            return "0+unknown"


USER_AGENT = f"biostress/{_version()}"


class HTTPStatusError(FetchError):
    """A service answered with an HTTP status that is not success and not worth retrying.

    Carries ``url``, ``status``, the first 64 KiB of the error ``body`` and its ``content_type``,
    so that callers (e.g. the WFS client) can turn a service's own error document into a clearer
    message.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int,
        body: bytes = b"",
        content_type: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.url = url
        self.status = status
        self.body = body
        self.content_type = content_type


@dataclass(frozen=True)
class CachedResponse:
    """A response body on disk plus what is known about it.

    ``path`` is inside the cache when a cache was used; otherwise it is a temporary file the
    caller owns (and should delete when done).
    """

    path: Path
    url: str
    sha256: str
    retrieved_at: str
    content_type: str | None
    from_cache: bool
    status: int = 200
    size: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str | None = None

    def header(self, name: str) -> str | None:
        """A kept response header (case-insensitive), e.g. ``Content-Crs``."""
        low = name.lower()
        for k, v in self.headers.items():
            if k.lower() == low:
                return v
        return None

    def read_bytes(self) -> bytes:
        """The whole body."""
        return self.path.read_bytes()


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file's content, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _guess_ext(url: str, content_type: str | None) -> str:
    path = urlsplit(url).path.lower()
    for suffix in _EXT_BY_SUFFIX:
        if path.endswith(suffix):
            return suffix.lstrip(".")
    if content_type:
        base = content_type.split(";", 1)[0].strip().lower()
        if base in _EXT_BY_TYPE:
            return _EXT_BY_TYPE[base]
        if base.endswith("+json"):
            return "json"
        if base.endswith("+xml"):
            return "xml"
    return "bin"


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(Path(tmp))
        raise


def _unlink(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class Cache:
    """A folder of downloaded bodies keyed by the SHA-256 of their URL.

    Each entry is ``<key>.<ext>`` (the body) and ``<key>.meta.json`` (the sidecar)::

        {"url": ..., "retrieved_at": "2025-01-31T12:00:00Z", "sha256": <of the body>,
         "bytes": 1234, "content_type": "application/geo+json", "status": 200,
         "file": "<key>.json", "headers": {"Content-Crs": "<...>"}, "final_url": ...}

    :meth:`get` verifies the body against the recorded SHA-256, so a truncated or edited file is
    treated as a miss and downloaded again.
    """

    META_SUFFIX = ".meta.json"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @staticmethod
    def key(url: str) -> str:
        """The cache key of ``url``: the hex SHA-256 of the URL string."""
        return hashlib.sha256(url.encode("utf-8")).hexdigest()

    def meta_path(self, url: str) -> Path:
        """Where the sidecar JSON of ``url`` lives."""
        return self.root / f"{self.key(url)}{self.META_SUFFIX}"

    def _read_meta(self, url: str) -> dict | None:
        mp = self.meta_path(url)
        try:
            meta = json.loads(mp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("url") != url or not isinstance(meta.get("file"), str):
            return None
        return meta

    def get(self, url: str, *, verify: bool = True) -> CachedResponse | None:
        """The cached response for ``url``, or ``None`` when absent or corrupt."""
        meta = self._read_meta(url)
        if meta is None:
            return None
        body = self.root / Path(meta["file"]).name
        if not body.is_file():
            return None
        if verify and sha256_file(body) != meta.get("sha256"):
            return None
        return CachedResponse(
            path=body,
            url=url,
            sha256=str(meta["sha256"]),
            retrieved_at=str(meta.get("retrieved_at", "")),
            content_type=meta.get("content_type"),
            from_cache=True,
            status=int(meta.get("status", 200)),
            size=int(meta.get("bytes", body.stat().st_size)),
            headers=dict(meta.get("headers") or {}),
            final_url=meta.get("final_url"),
        )

    def new_temp(self) -> Path:
        """A fresh, empty temporary file inside the cache folder (same file system as entries)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".download.", suffix=".part", dir=self.root)
        os.close(fd)
        return Path(name)

    def put(
        self,
        url: str,
        source: Path,
        *,
        sha256: str | None = None,
        content_type: str | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        retrieved_at: str | None = None,
        final_url: str | None = None,
        ext: str | None = None,
    ) -> CachedResponse:
        """Store the file ``source`` as the body of ``url`` (moved when it is inside the cache
        folder, copied otherwise) and write its sidecar. Returns the stored entry."""
        self.root.mkdir(parents=True, exist_ok=True)
        ext = re.sub(r"[^a-z0-9.]", "", (ext or _guess_ext(url, content_type)).lower())[:16] or "bin"
        key = self.key(url)
        dest = self.root / f"{key}.{ext}"
        digest = sha256 or sha256_file(source)
        old = self._read_meta(url)
        source = Path(source)
        if source.resolve().parent == self.root.resolve():
            os.replace(source, dest)
        else:
            tmp = self.new_temp()
            try:
                shutil.copyfile(source, tmp)
                os.replace(tmp, dest)
            except BaseException:
                _unlink(tmp)
                raise
        size = dest.stat().st_size
        when = retrieved_at or _now_iso()
        meta = {
            "url": url,
            "retrieved_at": when,
            "sha256": digest,
            "bytes": size,
            "content_type": content_type,
            "status": status,
            "file": dest.name,
            "headers": dict(headers or {}),
            "final_url": final_url if final_url and final_url != url else None,
        }
        _atomic_write_text(self.meta_path(url), json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        if old and old["file"] != dest.name:
            _unlink(self.root / Path(old["file"]).name)
        return CachedResponse(
            path=dest,
            url=url,
            sha256=digest,
            retrieved_at=when,
            content_type=content_type,
            from_cache=False,
            status=status,
            size=size,
            headers=dict(headers or {}),
            final_url=meta["final_url"],
        )

    def discard(self, url: str) -> None:
        """Forget ``url`` (e.g. because its body turned out to be unusable)."""
        meta = self._read_meta(url)
        _unlink(self.meta_path(url))
        if meta:
            _unlink(self.root / Path(meta["file"]).name)


class _Retryable(Exception):
    """Internal: a failure worth another attempt."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _SafeRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to URLs that pass :func:`safe_url` with the same ``allow_hosts``."""

    max_redirections = 5

    def __init__(self, allow_hosts: tuple[str, ...]) -> None:
        super().__init__()
        self.allow_hosts = allow_hosts

    def _check(self, req: urllib.request.Request, fp: object, headers: Mapping[str, str]) -> None:
        location = headers.get("location") or headers.get("uri")
        if not location:
            return
        target = urljoin(req.full_url, location)
        try:
            safe_url(target, allow_hosts=self.allow_hosts)
        except UnsafeInputError as e:
            close = getattr(fp, "close", None)
            if callable(close):
                close()
            raise UnsafeInputError(
                f"Refused redirect from {req.full_url} to {target!r}: {e.message}",
                hint="A service may only redirect to public http(s) addresses. If this is a trusted internal "
                "server, allow its host explicitly.",
            ) from e

    def http_error_302(self, req, fp, code, msg, headers):  # type: ignore[no-untyped-def, override]
        """Check the target, then let urllib follow the redirect as usual."""
        self._check(req, fp, headers)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302  # type: ignore[assignment]


def _build_opener(allow_hosts: tuple[str, ...]) -> urllib.request.OpenerDirector:
    """An opener that speaks only http(s): no file://, ftp:// or data: handlers are installed."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
        urllib.request.HTTPDefaultErrorHandler(),
        _SafeRedirectHandler(allow_hosts),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _read_limited(fp: object, limit: int) -> bytes:
    read = getattr(fp, "read", None)
    if not callable(read):
        return b""
    try:
        data = read(limit)
    except (OSError, http.client.HTTPException):
        return b""
    return data if isinstance(data, bytes) else b""


def describe_error_body(body: bytes, content_type: str | None = None) -> str:
    """A one-line summary of a service's error document (OGC problem JSON, OWS exception XML or text)."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            parts = [str(doc[k]) for k in ("title", "detail", "description", "code", "message") if doc.get(k)]
            if parts:
                return " - ".join(dict.fromkeys(parts))
    if text.startswith("<"):
        exc = parse_ows_exception(body)
        if exc:
            return exc
        text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:300] + ("..." if len(text) > 300 else "")


def parse_ows_exception(body: bytes) -> str | None:
    """The text of an OWS ``ExceptionReport`` (WFS 2.0) or ``ServiceExceptionReport`` (WFS 1.x).

    Returns ``None`` when ``body`` is not such a document. Documents with a DTD are not parsed
    (no entity expansion of untrusted XML).
    """
    import xml.etree.ElementTree as ET

    head = body[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in body[: 1 << 20].lower():
        return None
    try:
        root = ET.fromstring(body[: 1 << 20])
    except ET.ParseError:
        return None

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    if local(root.tag) not in ("ExceptionReport", "ServiceExceptionReport"):
        return None
    parts: list[str] = []
    for el in root.iter():
        if local(el.tag) not in ("Exception", "ServiceException"):
            continue
        texts = [
            t.text.strip() for t in el.iter() if local(t.tag) == "ExceptionText" and t.text and t.text.strip()
        ]
        if not texts and el.text and el.text.strip():
            texts = [el.text.strip()]
        code = el.get("exceptionCode") or el.get("code")
        locator = el.get("locator")
        label = ", ".join(x for x in (code, f"locator '{locator}'" if locator else None) if x)
        msg = " ".join(texts) or "(no text)"
        parts.append(f"{msg} [{label}]" if label else msg)
    return "; ".join(parts) if parts else "(empty exception report)"


_STATUS_HINTS = {
    400: "The service rejected the request. Check the collection or layer name, the bbox and the CRS.",
    401: "The service requires credentials. biostress only uses open services; check the URL.",
    403: "The service refused access. Check the URL; open services should not need a key.",
    404: "Check the address and the collection or layer name (see the service's /collections or GetCapabilities).",
    405: "The service does not accept GET at this address; check the URL.",
    406: "The service cannot answer in the requested format; check the URL and the 'f'/outputFormat parameter.",
    410: "The resource was removed; look up the current address of this dataset.",
    413: "Ask for a smaller area (bbox) or a smaller page size.",
    414: "The request URL is too long; ask for a smaller area or fewer parameters.",
}


def _status_error(
    url: str, status: int, reason: str, body: bytes, content_type: str | None
) -> HTTPStatusError:
    detail = describe_error_body(body, content_type)
    msg = f"{url} answered HTTP {status}{f' ({reason})' if reason else ''}."
    if detail:
        msg += f" The service said: {detail}"
    hint = _STATUS_HINTS.get(status)
    if hint is None:
        hint = "Check the URL and the request parameters." if 400 <= status < 500 else "Check the URL."
    return HTTPStatusError(msg, url=url, status=status, body=body, content_type=content_type, hint=hint)


def _new_target(cache: Cache | None) -> Path:
    if cache is not None:
        return cache.new_temp()
    fd, name = tempfile.mkstemp(prefix="biostress-", suffix=".part")
    os.close(fd)
    return Path(name)


def _attempt(
    opener: urllib.request.OpenerDirector,
    url: str,
    headers: dict[str, str],
    target: Path,
    timeout: float,
    max_bytes: int,
) -> tuple[int, str | None, dict[str, str], str, str, int]:
    """One request. Returns (status, content_type, kept headers, final url, sha256, size)."""
    req = urllib.request.Request(url, headers=headers, method="GET")
    try:
        resp = opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        status = e.code
        ct = e.headers.get("Content-Type") if e.headers else None
        body = _read_limited(e, _ERROR_BODY_LIMIT)
        retry_after = _parse_retry_after(e.headers.get("Retry-After")) if e.headers else None
        e.close()
        if status == 429 or 500 <= status <= 599:
            raise _Retryable(
                f"HTTP {status} ({e.reason}){': ' + describe_error_body(body, ct) if body else ''}",
                retry_after=retry_after,
            ) from e
        raise _status_error(url, status, str(e.reason or ""), body, ct) from e
    except urllib.error.URLError as e:
        if isinstance(e.reason, ssl.SSLCertVerificationError):
            raise FetchError(
                f"Could not verify the TLS certificate of {url}: {e.reason}",
                hint="Check the address; if you are behind a company proxy, configure its certificate.",
            ) from e
        raise _Retryable(f"connection failed: {e.reason}") from e
    except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
        raise _Retryable(f"connection failed: {e.__class__.__name__}: {e}") from e

    with resp:
        status = int(getattr(resp, "status", 200) or 200)
        ct = resp.headers.get("Content-Type")
        kept = {h: resp.headers[h] for h in _KEPT_HEADERS if resp.headers.get(h) is not None}
        declared = resp.headers.get("Content-Length")
        declared_n = int(declared) if declared and declared.strip().isdigit() else None
        if declared_n is not None and declared_n > max_bytes:
            raise FetchError(
                f"{url} is {declared_n:,} bytes, more than the limit of {max_bytes:,} bytes.",
                hint="Ask for a smaller area (bbox) or raise max_bytes if the file is really needed.",
            )
        h = hashlib.sha256()
        n = 0
        try:
            with open(target, "wb") as f:
                while chunk := resp.read(_CHUNK):
                    n += len(chunk)
                    if n > max_bytes:
                        raise FetchError(
                            f"{url} sent more than the limit of {max_bytes:,} bytes; the download was stopped.",
                            hint="Ask for a smaller area (bbox) or raise max_bytes if the file is really needed.",
                        )
                    h.update(chunk)
                    f.write(chunk)
        except (TimeoutError, ConnectionError, http.client.HTTPException) as e:
            raise _Retryable(f"the download broke off after {n:,} bytes: {e.__class__.__name__}") from e
        if declared_n is not None and n != declared_n:
            raise _Retryable(f"the download broke off after {n:,} of {declared_n:,} bytes")
        return status, ct, kept, resp.geturl(), h.hexdigest(), n


def fetch(
    url: str,
    *,
    cache: Cache | None = None,
    allow_hosts: Iterable[str] = (),
    timeout: float = 30.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
    retries: int = 3,
    backoff: float = 1.0,
    accept: str | None = None,
    refresh: bool = False,
) -> CachedResponse:
    """Download ``url`` (or take it from ``cache``) and return where the body is.

    ``allow_hosts`` lists hosts (``name`` or ``name:port``) that may be internal addresses, e.g.
    a test server; it applies to the URL and to every redirect. ``retries`` is the number of
    further attempts after a connection error, 429 or 5xx; the waits are ``backoff * 2**n``
    seconds unless the server sends ``Retry-After`` (capped at :data:`MAX_RETRY_WAIT`).
    ``refresh=True`` ignores a cached copy (and replaces it).

    Raises :class:`~biostress.errors.UnsafeInputError` for refused URLs or redirects,
    :class:`HTTPStatusError` for non-retryable HTTP errors and
    :class:`~biostress.errors.FetchError` otherwise.
    """
    hosts = tuple(allow_hosts)
    safe_url(url, allow_hosts=hosts)
    if retries < 0 or max_bytes <= 0 or timeout <= 0:
        raise ValueError("retries must be >= 0, max_bytes and timeout > 0")
    if cache is not None and not refresh:
        hit = cache.get(url)
        if hit is not None:
            return hit

    opener = _build_opener(hosts)
    headers = {"User-Agent": USER_AGENT, "Accept": accept or "*/*", "Accept-Encoding": "identity"}
    attempt = 0
    while True:
        target = _new_target(cache)
        try:
            status, ct, kept, final_url, digest, size = _attempt(
                opener, url, headers, target, timeout, max_bytes
            )
        except _Retryable as e:
            _unlink(target)
            if attempt >= retries:
                raise FetchError(
                    f"Could not download {url} after {attempt + 1} attempt(s): {e.reason}.",
                    hint="Check the address and the internet connection; the service may also be busy or down. "
                    "Try again later, or use a cached or local copy.",
                ) from e
            wait = e.retry_after if e.retry_after is not None else backoff * (2**attempt)
            time.sleep(min(max(wait, 0.0), MAX_RETRY_WAIT))
            attempt += 1
            continue
        except BaseException:
            _unlink(target)
            raise
        retrieved = _now_iso()
        if cache is not None:
            return cache.put(
                url,
                target,
                sha256=digest,
                content_type=ct,
                status=status,
                headers=kept,
                retrieved_at=retrieved,
                final_url=final_url,
            )
        final_path = target.with_name(target.name.removesuffix(".part") + "." + _guess_ext(url, ct))
        os.replace(target, final_path)
        return CachedResponse(
            path=final_path,
            url=url,
            sha256=digest,
            retrieved_at=retrieved,
            content_type=ct,
            from_cache=False,
            status=status,
            size=size,
            headers=kept,
            final_url=final_url if final_url != url else None,
        )
