"""Scenarios from the web tool: a measure on a drawn polygon, its effect and its cost.

``POST /api/scenario {measure, polygon, part?}`` reprojects the polygon (GeoJSON geometry in WGS84)
to the run's CRS and calls :func:`biostress.scenarios.run_scenario` (no output folder): the local
indicators are re-run on the affected window only, which equals a full re-run. The answer gives per
indicator the mean before and after over the changed cells and their difference, the cost (catalogue
numbers), the converted land cover and the window (WGS84 bounds). The per-cell changes are kept in
memory (the last ``max_results`` scenarios) and served as delta tiles
``/tiles/scenario/{id}/{layer}/{z}/{x}/{y}.png``: a five-step diverging ramp from ``-m`` to ``+m``
(``m`` = the largest absolute change of that layer; blue = up, red = down, cells without change are
transparent).

Limits (the server has few cores): one scenario at a time, a polygon of at most ``max_vertices``
vertices and ``max_area_ha`` hectares.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from ..errors import InputDataError
from .layers import LANGS, Style
from .state import RunState
from .tiles import RasterSource

__all__ = ["DELTA_COLOURS", "ScenarioService", "polygon_from_geojson"]

#: ColorBrewer RdBu (5 classes): strong decrease ... strong increase
DELTA_COLOURS = ["#ca0020", "#f4a582", "#f7f7f7", "#92c5de", "#0571b0"]
MAX_VERTICES = 5000
MAX_AREA_HA = 100.0


def polygon_from_geojson(geom: Any, state: RunState, *, max_vertices: int = MAX_VERTICES,
                         max_area_ha: float = MAX_AREA_HA) -> Any:
    """A (Multi)Polygon GeoJSON geometry in WGS84 -> a valid shapely geometry in the run's CRS."""
    if not isinstance(geom, dict):
        raise InputDataError("'polygon' must be a GeoJSON geometry object (WGS84 lon/lat).")
    if geom.get("type") == "Feature":
        geom = geom.get("geometry") or {}
    if geom.get("type") not in ("Polygon", "MultiPolygon"):
        raise InputDataError(f"'polygon' must be a Polygon or MultiPolygon, got {geom.get('type')!r}.")
    try:
        g = shapely.geometry.shape(geom)
    except (ValueError, TypeError, AttributeError, IndexError) as e:
        raise InputDataError(f"'polygon' is not a valid GeoJSON geometry ({e}).") from None
    n = shapely.get_num_coordinates(g)
    if n > max_vertices:
        raise InputDataError(f"The polygon has {n} vertices; at most {max_vertices} are accepted.",
                             hint="Draw a simpler polygon.")
    x0, y0, x1, y1 = g.bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise InputDataError("The polygon's coordinates are not longitude, latitude (WGS84).")
    t = state.transformer("EPSG:4326", state.grid.crs)
    g = shapely.transform(g, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    if not g.is_valid:
        g = shapely.make_valid(g)
        g = shapely.union_all([p for p in getattr(g, "geoms", [g]) if p.geom_type in ("Polygon", "MultiPolygon")])
    if g.is_empty or g.area <= 0:
        raise InputDataError("The polygon is empty.", hint="Draw a polygon with an area.")
    if g.area / 1e4 > max_area_ha:
        raise InputDataError(f"The polygon covers {g.area / 1e4:.1f} ha; at most {max_area_ha:g} ha are accepted.",
                             hint="Draw a smaller area, or run the scenario with 'biostress scenario'.")
    return g


@dataclass
class ScenarioEntry:
    id: str
    measure: str
    sources: dict[str, RasterSource]
    styles: dict[str, Style]
    result: dict[str, Any]


class ScenarioService:
    """Runs scenarios one at a time and keeps the last ``max_results`` for their delta tiles."""

    def __init__(self, state: RunState, *, modules: tuple[str, ...] | None = None, max_results: int = 16) -> None:
        self.state = state
        self.modules = modules
        self.max_results = max_results
        self._results: OrderedDict[str, ScenarioEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()

    def get(self, sid: str) -> ScenarioEntry | None:
        with self._lock:
            return self._results.get(sid)

    def run(self, doc: Any, lang: str = "nl") -> dict[str, Any]:
        from ..scenarios import Change, run_scenario

        if not isinstance(doc, dict):
            raise InputDataError("Send a JSON object {measure, polygon}.")
        mid = doc.get("measure")
        ids = [m.id for m in self.state.catalogue.measures]
        if not isinstance(mid, str) or mid not in ids:
            raise InputDataError(f"Unknown measure {mid!r}.", hint="Use an id from GET /api/measures.")
        part = doc.get("part", 1.0)
        if not isinstance(part, int | float) or isinstance(part, bool) or not 0.0 < float(part) <= 1.0:
            raise InputDataError(f"'part' must be a number in (0, 1], got {part!r}.")
        poly = polygon_from_geojson(doc.get("polygon"), self.state)
        kw: dict[str, Any] = {"params_dir": self.state.params_dir, "catalogue": self.state.catalogue}
        if self.modules is not None:
            kw["modules"] = self.modules
        with self._run_lock:
            res = run_scenario(self.state.run_dir, [Change(mid, poly, part=float(part))], None, **kw)
        li = LANGS.index(lang)
        g = self.state.grid
        r0, r1, c0, c1 = res.window
        sub = g.window(r0, c0, r1 - r0, c1 - c0)
        sid = secrets.token_hex(6)
        sources: dict[str, RasterSource] = {}
        styles: dict[str, Style] = {}
        delta_layers = []
        for name, d in res.deltas.items():
            a = np.asarray(d, dtype=np.float32)
            m = float(np.nanmax(np.abs(a))) if np.isfinite(a).any() else 0.0
            if not m > 1e-9:
                continue
            sources[name] = RasterSource.from_array(a, sub.transform, g.crs)
            styles[name] = Style("ramp", list(DELTA_COLOURS), vmin=-m, vmax=m, zero_transparent=True)
            lay = self.state.layers.get(name)
            delta_layers.append({"layer": name, "title": lay.title[li] if lay else name,
                                 "unit": lay.unit[li] if lay else "", "legend": styles[name].legend(lang),
                                 "tiles": f"/tiles/scenario/{sid}/{name}/{{z}}/{{x}}/{{y}}.png"})
        totals = []
        for r in res.totals.to_dict("records"):
            b, a = r.get("mean_before_changed"), r.get("mean_after_changed")
            lay = self.state.layers.get(r["indicator"])
            totals.append({"indicator": r["indicator"], "title": lay.title[li] if lay else r["indicator"],
                           "unit": lay.unit[li] if lay else "", "before": _num(b), "after": _num(a),
                           "change": _num(a - b) if _num(a) is not None and _num(b) is not None else None,
                           "sum_change_window": _num(r.get("sum_change_window")),
                           "cells_changed": int(r.get("cells_changed", 0))})
        cost = {k: (_num(v) if isinstance(v, float | int | np.floating | np.integer) else v)
                for k, v in (res.costs.to_dict("records")[0] if len(res.costs) else {}).items()}
        landcover = [{"class": r["class"], "name": r["name_nl"] if lang == "nl" else r["name_en"],
                      "change_ha": _num(r["change_ha"])} for r in res.landcover.to_dict("records")]
        units = {}
        for level, tab in res.units.items():
            rows = tab.replace({np.nan: None}).to_dict("records")
            units[level] = [{k: (_num(v) if isinstance(v, float | np.floating) else v) for k, v in row.items()}
                            for row in rows]
        out = {
            "id": sid, "measure": mid, "part": float(part),
            "totals": totals, "cost": cost, "landcover": landcover, "notes": list(res.notes), "units": units,
            "window_bounds_wgs84": self.state.bounds_to_wgs84(sub.bounds),
            "delta_tiles": f"/tiles/scenario/{sid}/{{layer}}/{{z}}/{{x}}/{{y}}.png",
            "delta_layers": delta_layers,
        }
        with self._lock:
            self._results[sid] = ScenarioEntry(sid, mid, sources, styles, out)
            while len(self._results) > self.max_results:
                self._results.popitem(last=False)  # its datasets close when the last tile request is done
        return out


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
