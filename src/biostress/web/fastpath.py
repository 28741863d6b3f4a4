"""A short way through the server for the two requests a map sends most: plot cards and raster tiles.

FastAPI spends about 0.3 ms per request on routing, parameter validation and building the response objects;
a compact plot card itself takes about 0.08 ms and a cached tile nothing. :class:`HotPaths` is plain ASGI middleware
in front of the app: it answers

* ``GET /api/plot?x=&y=[&crs=][&lang=][&measures=][&compact=]`` when the plot cards are served from the caches
  (:attr:`biostress.web.plot.PlotService.fast`), and
* ``GET /tiles/{layer}/{z}/{x}/{y}.png[?cb=]`` when the tile is in the tile cache or drawn from the
  memory-mapped layers,

with exactly the bytes and headers the FastAPI routes give. Anything else — another parameter, a value the
route would reject, a point outside the area, any error — is passed on to the app unchanged, so errors keep
their one format and the OpenAPI document still describes these routes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["HotPaths"]

_TILE = re.compile(r"^/tiles/([A-Za-z0-9_]+)/(\d{1,2})/(\d{1,9})/(\d{1,9})\.png$")
_PLOT_KEYS = {"x", "y", "crs", "lang", "measures", "compact"}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _bool(v: str) -> bool | None:
    v = v.lower()
    return True if v in _TRUE else (False if v in _FALSE else None)


class HotPaths:
    """ASGI middleware: see the module docstring. ``render_plot(x, y, crs, lang, measures, compact)`` and
    ``render_tile(layer, z, x, y, cb)`` give the body (bytes) or None to pass the request on."""

    def __init__(self, app: Any, render_plot: Callable[..., bytes | None],
                 render_tile: Callable[..., bytes | None], tile_headers: dict[str, str],
                 extra_headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.render_plot = render_plot
        self.render_tile = render_tile
        extra = [(k.lower().encode(), v.encode()) for k, v in (extra_headers or {}).items()]
        self.tile_headers = [(k.lower().encode(), v.encode()) for k, v in tile_headers.items()] + extra
        self.json_headers = [(b"content-type", b"application/json"), *extra]

    @classmethod
    def in_front_of(cls, app: Any) -> HotPaths:
        """The short way as the outermost layer around a :func:`biostress.web.app.create_app` app (what
        ``biostress serve`` runs): before FastAPI's own middleware, adding the same security headers."""
        return cls(app, **app.state.hot_paths)

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            body, headers = None, None
            path = scope["path"]
            try:
                if path == "/api/plot":
                    body = self._plot(scope.get("query_string", b""))
                    headers = self.json_headers
                elif path.startswith("/tiles/"):
                    body = self._tile(path, scope.get("query_string", b""))
                    headers = [(b"content-type", b"image/png"), *self.tile_headers]
            except Exception:  # noqa: BLE001 - the app answers it, with its own error format
                body = None
            if body is not None and headers is not None:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _plot(self, qs: bytes) -> bytes | None:
        pairs = parse_qsl(qs.decode("latin-1"), keep_blank_values=True)
        q = dict(pairs)
        if len(q) != len(pairs) or not q.keys() <= _PLOT_KEYS or "x" not in q or "y" not in q:
            return None
        if not (_NUMBER.match(q["x"]) and _NUMBER.match(q["y"])):
            return None
        x, y = float(q["x"]), float(q["y"])
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        lang = q.get("lang", "nl")
        measures = _bool(q.get("measures", "true"))
        compact = _bool(q.get("compact", "false"))
        if lang not in ("nl", "en") or measures is None or compact is None:
            return None
        return self.render_plot(x, y, q.get("crs", "EPSG:4326"), lang, measures, compact)

    def _tile(self, path: str, qs: bytes) -> bytes | None:
        m = _TILE.match(path)
        if m is None:
            return None
        cb = False
        if qs:
            pairs = parse_qsl(qs.decode("latin-1"), keep_blank_values=True)
            q = dict(pairs)
            if len(pairs) != 1 or q.keys() != {"cb"} or _bool(q["cb"]) is None:
                return None
            cb = bool(_bool(q["cb"]))
        layer, z, x, y = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
        return self.render_tile(layer, z, x, y, cb)
