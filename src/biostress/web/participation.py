"""Participation: residents propose a measure or report an observation on the map; editors moderate.

Proposals are stored in SQLite (``<data dir>/proposals.sqlite``, or in memory without a data folder).
Anyone may post one (rate-limited per client: at most ``max_posts`` per ``window_s`` seconds; text at
most ``MAX_TEXT`` characters); it starts as ``pending`` and becomes public only when an editor of the
municipality approves it. The public list never shows the contact field. Exports (CSV, GeoJSON)
are for editors; CSV cells that a spreadsheet would read as a formula (starting with ``= + - @``,
tab or CR) get a leading apostrophe (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import math
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import InputDataError

__all__ = ["MAX_TEXT", "ProposalStore", "RateLimiter"]

MAX_TEXT = 2000
MAX_CONTACT = 200
MAX_SPECIES = 120
KINDS = ("measure", "observation")
STATUSES = ("pending", "approved", "rejected")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS proposals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('measure', 'observation')),
    lon REAL NOT NULL,
    lat REAL NOT NULL,
    text TEXT NOT NULL,
    measure TEXT,
    species TEXT,
    contact TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    moderated_by TEXT,
    moderated_at TEXT
);
CREATE INDEX IF NOT EXISTS proposals_status ON proposals (status);
"""
PUBLIC_FIELDS = ("id", "created", "kind", "lon", "lat", "text", "measure", "species")
ALL_FIELDS = (*PUBLIC_FIELDS, "contact", "status", "moderated_by", "moderated_at")


class RateLimiter:
    """At most ``limit`` events per ``window_s`` seconds per key (sliding window, in memory)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = int(limit), float(window_s)
        self._events: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            ev = [t for t in self._events.get(key, []) if now - t < self.window_s]
            if len(ev) >= self.limit:
                self._events[key] = ev
                return False
            ev.append(now)
            self._events[key] = ev
            if len(self._events) > 10_000:  # forget idle clients
                for k in [k for k, v in self._events.items() if not v or now - v[-1] >= self.window_s]:
                    del self._events[k]
            return True


def _clean(v: Any, name: str, max_len: int, required: bool = False) -> str | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise InputDataError(f"'{name}' is empty.", hint=f"Write a short {name}.")
        return None
    if not isinstance(v, str):
        raise InputDataError(f"'{name}' must be text.")
    t = v.strip()
    if len(t) > max_len:
        raise InputDataError(f"'{name}' is {len(t)} characters long; at most {max_len} are accepted.",
                             hint="Make it shorter.")
    if any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 for c in t):
        raise InputDataError(f"'{name}' contains control characters.")
    return t


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _csv_safe(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


class ProposalStore:
    """The proposals of one run (SQLite; thread-safe)."""

    def __init__(self, path: Path | None, bounds_wgs84: Sequence[float], measure_ids: Sequence[str]) -> None:
        self.path = path
        self.bounds = tuple(float(b) for b in bounds_wgs84)
        self.measure_ids = set(measure_ids)
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.executescript(_SCHEMA)
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, doc: Any) -> dict[str, Any]:
        """Check and store a proposal (``{kind, x, y, text, measure?, species?, contact?}``, x/y = lon/lat)."""
        if not isinstance(doc, dict):
            raise InputDataError("Send a JSON object {kind, x, y, text}.")
        kind = doc.get("kind")
        if kind not in KINDS:
            raise InputDataError(f"'kind' must be one of {', '.join(KINDS)}, got {kind!r}.")
        try:
            lon, lat = float(doc.get("x")), float(doc.get("y"))
        except (TypeError, ValueError):
            raise InputDataError("'x' and 'y' must be numbers (longitude, latitude).") from None
        w, s, e, n = self.bounds
        if not (math.isfinite(lon) and math.isfinite(lat) and w <= lon <= e and s <= lat <= n):
            raise InputDataError(f"The point ({lon}, {lat}) lies outside the area.",
                                 hint="Give longitude, latitude (WGS84) inside the map's area.")
        text = _clean(doc.get("text"), "text", MAX_TEXT, required=True)
        measure = _clean(doc.get("measure"), "measure", 64)
        if measure is not None and measure not in self.measure_ids:
            raise InputDataError(f"Unknown measure {measure!r}.", hint="Use an id from GET /api/measures.")
        if kind == "measure" and measure is None:
            raise InputDataError("A proposal of kind 'measure' needs 'measure' (an id from GET /api/measures).")
        species = _clean(doc.get("species"), "species", MAX_SPECIES)
        contact = _clean(doc.get("contact"), "contact", MAX_CONTACT)
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO proposals (created, kind, lon, lat, text, measure, species, contact) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (_now(), kind, lon, lat, text, measure, species, contact))
            self._db.commit()
            pid = int(cur.lastrowid)
        return {"id": pid, "status": "pending"}

    def list(self, *, all_: bool = False) -> list[dict[str, Any]]:
        """Approved proposals (public fields), or with ``all_`` every proposal with every field."""
        fields = ALL_FIELDS if all_ else PUBLIC_FIELDS
        sql = f"SELECT {', '.join(fields)} FROM proposals"  # noqa: S608 - fixed field names
        if not all_:
            sql += " WHERE status = 'approved'"
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id").fetchall()
        return [{k: r[k] for k in fields} for r in rows]

    def moderate(self, pid: int, status: Any, editor: str) -> dict[str, Any] | None:
        """Set the status of proposal ``pid`` (approved / rejected / pending); None when there is none."""
        if status not in STATUSES:
            raise InputDataError(f"'status' must be one of {', '.join(STATUSES)}, got {status!r}.")
        with self._lock:
            cur = self._db.execute("UPDATE proposals SET status = ?, moderated_by = ?, moderated_at = ? WHERE id = ?",
                                   (status, editor, _now(), int(pid)))
            self._db.commit()
            if cur.rowcount == 0:
                return None
        return {"id": int(pid), "status": status}

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(ALL_FIELDS)
        for r in self.list(all_=True):
            w.writerow([_csv_safe(r[k]) for k in ALL_FIELDS])
        return buf.getvalue()

    def to_geojson(self) -> dict[str, Any]:
        feats = []
        for r in self.list(all_=True):
            props = {k: r[k] for k in ALL_FIELDS if k not in ("lon", "lat")}
            feats.append({"type": "Feature", "id": r["id"],
                          "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]}, "properties": props})
        return {"type": "FeatureCollection", "features": feats}
