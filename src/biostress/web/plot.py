"""The plot card: what the map says about one place, and which measures fit there.

For a point (WGS84 lon/lat or RD New metres) the card gives:

* the value of every raster layer of the run at the grid cell holding the point (read from the
  run's COGs: the same numbers as the rasters), with its legend class label and colour;
* the buurt (finest area unit) holding the point, the stress class, the potential land cover and the
  gap layers, the pressures;
* the measures of the catalogue evaluated on the cells whose centre lies within ``radius_m``
  (default 25 m) of the point: for each measure the number of those cells where its ``fits`` rule
  holds and, summed over them (each cell = one application, as in the opportunity map and the plan
  candidates, :mod:`biostress.opportunity.compute`), the combined gain (m2 habitat-equivalent),
  cooling (m2 x CC), water held for the design storm (m3), the net present cost ``cost_eur`` (EUR over
  the finance horizon; < 0 = net income), the investment ``capex_eur`` and the equivalent annual cost,
  plus the measure's subsidies from the catalogue.

The measure layers are computed with :func:`biostress.opportunity.measure_layers` on blocks of
``BLOCK`` x ``BLOCK`` cells grown by the opportunity map's reach (300 m: the 200 m disc of the
urban/rural setting and the water distances see the same surroundings as in the pipeline run), and
kept in an LRU cache, so the first click in a block takes a few hundred ms and later clicks there
read the cache. The distance to Natura 2000 is computed once for the whole grid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputDataError
from .disc import compile_kernels, disc_cells, disc_totals, disc_totals_numpy, legend_entries
from .layers import LANGS, N_STEPS
from .state import RunState

__all__ = ["BLOCK", "PLOT_RADIUS_M", "MeasureTable", "PlotService"]

PLOT_RADIUS_M = 25.0
BLOCK = 32
#: measure layers kept per block (see :data:`biostress.opportunity.compute.LAYERS`)
KEEP = ("fits", "units", "area_m2", "gain_bio", "cooling", "water_m3", "gain", "cost_npv", "capex", "eac")
ACCEPTED_CRS = ("EPSG:4326", "EPSG:28992")
_NO_DATA = ("geen gegevens", "no data")


@dataclass
class MeasureTable:
    """The measure layers of a whole run where each measure fits, sorted by ``key = (row x width + col) x
    measures + measure position`` (the fitting measures of one cell lie together, from ``starts[cell]`` to
    ``starts[cell + 1]``: compressed sparse rows); ``values[i]`` = the layers of :data:`KEEP` after ``fits``
    at ``keys[i]`` (float32)."""

    ids: list[str]
    unknown: list[list[str]]
    cells: int  # rows x cols of the grid
    keys: np.ndarray  # int64, sorted
    values: np.ndarray  # float32 (n, len(KEEP) - 1)
    starts: np.ndarray | None = None  # int64 (cells + 1): first entry of each cell (made on first use)

    def cell_starts(self) -> np.ndarray:
        """``starts`` (made once: one :func:`numpy.searchsorted` of all cells)."""
        if self.starts is None:
            self.starts = np.searchsorted(self.keys, np.arange(self.cells + 1, dtype=np.int64) * len(self.ids))
        return self.starts

    def totals(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per measure (table order): the number of cells ``flat`` (``row x width + col``, int64) where it
        fits (int64) and the sums of the layers of :data:`KEEP` after ``fits`` over them (float64 (measures,
        layers); NaN where no fitting cell has a value)."""
        return disc_totals_numpy(self.cell_starts(), self.keys, self.values, len(self.ids), flat)

    def around(self, grid: Any, gx: float, gy: float, radius: float) -> tuple[int, np.ndarray, np.ndarray]:
        """``(cells, n_fit, sums)``: :meth:`totals` over the cells whose centre lies within ``radius`` of
        ``(gx, gy)`` on ``grid`` (:func:`biostress.web.disc.disc_totals`: one compiled loop)."""
        return disc_totals(self.cell_starts(), self.keys, self.values, len(self.ids), grid.x0, grid.y1,
                           grid.cell, grid.width, grid.height, gx, gy, radius)

    @staticmethod
    def rows(n_fit: np.ndarray, s: np.ndarray) -> tuple[list[int], list[list[float | None]]]:
        """:meth:`totals` as lists, None for NaN."""
        none = [None] * s.shape[1]  # a measure that fits nowhere here: no sums (shared, read only)
        sums = [none if not f else [None if x != x else x for x in row]
                for f, row in zip(n_fit.tolist(), s.tolist(), strict=True)]
        return n_fit.tolist(), sums

    def sums(self, cells: list[tuple[int, int]], width: int) -> dict[str, dict[str, Any]]:
        """As :meth:`PlotService.measure_sums` for ``cells``."""
        n_fit, sums = self.rows(*self.totals(np.array([r * width + c for r, c in cells], np.int64).reshape(-1)))
        n_cells, names = len(cells), KEEP[1:]
        return {mid: {"cells": n_cells, "cells_fit": n_fit[i], "unknown": self.unknown[i],
                      **dict(zip(names, sums[i], strict=True))} for i, mid in enumerate(self.ids)}

    def save(self, cache_dir: Path, key: str) -> None:
        """Write ``measures-<key>.npz`` into ``cache_dir`` (temporary name, then renamed)."""
        fd, tmp = tempfile.mkstemp(prefix=f"measures-{key}.", suffix=".tmp", dir=cache_dir)
        os.close(fd)
        try:
            with open(tmp, "wb") as f:
                np.savez(f, keys=self.keys, values=self.values, cells=np.int64(self.cells),
                         meta=np.frombuffer(json.dumps({"ids": self.ids, "unknown": self.unknown}).encode(),
                                            dtype=np.uint8))
            os.replace(tmp, Path(cache_dir) / f"measures-{key}.npz")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    @classmethod
    def load(cls, cache_dir: Path, key: str, cells: int) -> MeasureTable | None:
        """The table saved under ``key``, or None (absent, unreadable or for another grid)."""
        p = Path(cache_dir) / f"measures-{key}.npz"
        if not p.is_file():
            return None
        try:
            with np.load(p) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                if int(z["cells"]) != cells:
                    return None
                return cls(list(meta["ids"]), [list(u) for u in meta["unknown"]], cells, z["keys"], z["values"])
        except (OSError, ValueError, KeyError):
            return None


_TABLE_FORMAT = 3  # 3: fits only where units > 0; 2: keys cell-major; 1: measure-major


def _table_key(state: RunState) -> str:
    """A key of what the measure table depends on: the run, the catalogue and parameter files, the code."""
    h = hashlib.sha256(f"table-format-{_TABLE_FORMAT}|{state.manifest.get('run_id') or state.run_dir}".encode())
    h.update(json.dumps([m.id for m in state.catalogue.measures]).encode())
    pkg = Path(__file__).resolve().parents[1]
    roots = [pkg / "opportunity", pkg / "measures", pkg / "data"]
    if state.params_dir is not None:
        roots.append(Path(state.params_dir))
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in (".py", ".yaml", ".yml", ".csv", ".json"):
                st = p.stat()
                h.update(f"|{p.name}|{st.st_size}|{st.st_mtime_ns}".encode())
    mp = state.run_dir / "manifest.json"
    if mp.is_file():
        h.update(str(mp.stat().st_mtime_ns).encode())
    return h.hexdigest()[:20]


def _cell(a: np.ndarray, row: int, col: int) -> float:
    """``a[row, col]`` as a float; NaN beyond the array (a block at the grid's edge)."""
    return float(a[row, col]) if row < a.shape[0] and col < a.shape[1] else math.nan


#: the numbers of a measure row in :meth:`PlotService.card_compact` (after the measure id)
MEASURE_FIELDS = ("cells_fit", "quantity", "area_m2", "gain", "gain_bio", "cooling", "water_m3", "cost_eur",
                  "capex_eur", "eac_eur_yr")
#: the measure layer (:data:`KEEP`) each field after ``cells_fit`` sums
_FIELD_SOURCES = ("units", "area_m2", "gain", "gain_bio", "cooling", "water_m3", "cost_npv", "capex", "eac")
#: their columns in :meth:`MeasureTable.totals` (= :data:`KEEP` after ``fits``)
_FIELD_COLUMNS = [KEEP[1:].index(k) for k in _FIELD_SOURCES]


def subsidy_json(sb: Any) -> dict[str, Any]:
    """A catalogue subsidy as the API gives it (plot card and ``GET /api/measures``)."""
    return {"programme": sb.programme, "region": sb.region, "per": sb.per, "amount_eur": sb.amount_eur,
            "share": sb.share, "max_eur": sb.max_eur,
            "valid_until": sb.valid_until.isoformat() if sb.valid_until else None,
            "condition": sb.condition or None, "ev": sb.ev}


def _objects(items: list[Any]) -> np.ndarray:
    """``items`` as a 1-d object array (lists stay whole), to reorder with an index array."""
    out = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        out[i] = x
    return out


def _card_order(n_fit: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """The order of the card's measures: fitting ones first, then by gain (largest first, unknown last);
    stable (catalogue order on ties)."""
    return np.lexsort((-np.where(np.isnan(gain), -np.inf, gain), n_fit <= 0))


def _legend_steps(at: np.ndarray, plan: dict[str, Any]) -> list[int | None]:
    """Legend entry of each value of ``at`` (see :meth:`PlotService._compact_plan`; the rule of
    :meth:`PlotService._items`): ramps by equal steps from ``vmin`` (clipped to the first and last), class
    tables by the position of the class code (whole values only); None = not drawn."""
    k = legend_entries(at, plan["vmin"], plan["span"], plan["ramp"], plan["zero"], plan["codes"], plan["offset"],
                       plan["lut"], N_STEPS)
    return [None if x < 0 else x for x in k.tolist()]


class PointOutside(InputDataError):
    """The point lies outside the run's area."""


class PlotService:
    """Plot cards of one run (thread-safe; see the module docstring)."""

    def __init__(self, state: RunState, *, radius_m: float = PLOT_RADIUS_M, max_blocks: int = 96) -> None:
        self.state = state
        self.radius_m = float(radius_m)
        self.max_blocks = max_blocks
        self._blocks: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._compute_lock = threading.Lock()
        self._orun: Any = None
        self._n2k: np.ndarray | None = None
        self._n2k_done = False
        self._gain_params: Any = None
        self._halo: int | None = None
        self._rules: dict[str, Any] = {}
        self._table: MeasureTable | None = None
        self._names: dict[str, tuple[list[str], list[str]]] | None = None
        self._meta: dict[tuple[str, str], Any] = {}
        self._stacked: tuple[Any, list[int] | None] | None = None
        self._compact: dict[str, Any] | None = None
        self._parcels: tuple[Any, list[str], list[float]] | None = None
        self._measure_meta: dict[str, dict[str, dict[str, Any]]] = {}

    @property
    def fast(self) -> bool:
        """Whether a card comes from the caches only (layer stack attached, measures precomputed)."""
        return self._table is not None and self.state.stack is not None

    # ------------------------------------------------------------------------------------------------
    def locate(self, x: float, y: float, crs: str) -> tuple[float, float, int, int]:
        """The point in the run's CRS and its cell ``(row, col)``; :class:`PointOutside` off the area."""
        crs = (crs or "EPSG:4326").upper()
        if crs not in ACCEPTED_CRS and crs != self.state.grid.crs.upper():
            raise InputDataError(f"Unknown crs {crs!r}.", hint="Use EPSG:4326 (lon, lat) or EPSG:28992 (RD New).")
        gx, gy = self.state.to_grid(x, y, crs) if crs != self.state.grid.crs.upper() else (float(x), float(y))
        cell = self.state.cell_of(gx, gy)
        lc = self.state.sources.get("landcover")
        if cell is None or (lc is not None and lc.value_at(*cell) is None):
            raise PointOutside(f"The point ({x}, {y}) lies outside the area of this run.",
                               hint="Click inside the area, or search an address in it.")
        return gx, gy, cell[0], cell[1]

    def _values_block(self, br: int, bc: int) -> dict[str, np.ndarray]:
        """All raster layers on block ``(br, bc)`` (float64, NaN = no value), cached."""
        key = ("values", br, bc)
        with self._lock:
            got = self._blocks.get(key)
            if got is not None:
                self._blocks.move_to_end(key)
                return got
        r0, c0 = br * BLOCK, bc * BLOCK
        got = {lid: src.window(r0, r0 + BLOCK, c0, c0 + BLOCK) for lid, src in self.state.sources.items()}
        with self._lock:
            self._blocks[key] = got
            self._trim()
        return got

    def _trim(self) -> None:
        while len(self._blocks) > self.max_blocks:
            self._blocks.popitem(last=False)

    def _stack_rows(self, stack: Any) -> list[int] | None:
        """The stack's layer index of every raster layer (in :meth:`_raster_ids` order), or None when the stack
        lacks one of them."""
        if self._stacked is None or self._stacked[0] is not stack:
            ids = self._raster_ids()
            self._stacked = (stack, [stack.index[lid] for lid in ids] if all(lid in stack for lid in ids) else None)
        return self._stacked[1]

    def _raster_ids(self) -> list[str]:
        return [lid for lid, lay in self.state.layers.items() if lay.kind == "raster" and lid in self.state.sources]

    def _items(self, at: Any, lang: str) -> list[tuple[str, dict[str, Any]]]:
        """The value items ``{id, title, value, unit, class_label, colour}`` of the raster layers from ``at``
        (their values at one cell, in :meth:`_raster_ids` order; NaN = no value): label and colour of the
        value's legend entry (:func:`_legend_steps`, the rule of :meth:`~biostress.web.layers.Style.step_of`);
        a class code as a whole number."""
        plan = self._compact_plan()
        at = np.asarray(at, dtype=np.float32)
        no_data = _NO_DATA[LANGS.index(lang)]
        out = []
        for (lid, _), v, k in zip(plan["ids"], at.tolist(), _legend_steps(at, plan), strict=True):
            title, unit, legend, categorical = self._describe(lid, lang)
            if not math.isfinite(v):
                out.append((lid, {"id": lid, "title": title, "value": None, "unit": unit, "class_label": no_data,
                                  "colour": None}))
                continue
            if categorical and v == int(v):
                v = int(v)  # a class code
            label, colour = legend[k] if k is not None else (None, None)
            out.append((lid, {"id": lid, "title": title, "value": v, "unit": unit, "class_label": label,
                              "colour": colour}))
        return out

    def _describe(self, lid: str, lang: str) -> tuple[str, str, list[tuple[str, str]], bool]:
        """``(title, unit, legend, categorical)`` of layer ``lid`` in ``lang``, made once: ``legend`` = the
        ``(label, colour)`` of each entry of the layer's legend (as ``GET /api/layers`` gives it)."""
        key = (lid, lang)
        got = self._meta.get(key)
        if got is None:
            lay = self.state.layers[lid]
            li = LANGS.index(lang)
            style = lay.style
            legend = [(e["label"], e["colour"]) for e in style.legend(lang)] if style is not None else []
            got = (lay.title[li], lay.unit[li], legend, style is not None and style.kind == "categorical")
            self._meta[key] = got
        return got

    def _at(self, row: int, col: int) -> np.ndarray:
        """The values of all raster layers (:meth:`_raster_ids` order) at cell ``(row, col)``: float32,
        NaN = no value; one read of the memory-mapped layers when they are attached."""
        stack = self.state.stack
        rows = self._stack_rows(stack) if stack is not None else None
        if rows is not None:
            return stack.array[rows, row, col]
        block = self._values_block(row // BLOCK, col // BLOCK)
        return np.array([_cell(block[lid], row % BLOCK, col % BLOCK) for lid in self._raster_ids()], np.float32)

    def _head(self, gx: float, gy: float, row: int, col: int, lang: str) -> dict[str, Any]:
        """What a card says about the place itself: coordinates, cell, area units, report link."""
        lon, lat = self.state.to_wgs84(gx, gy)
        g = self.state.grid
        units = self._units(gx, gy)
        return {
            "x": lon, "y": lat, "crs": "EPSG:4326",
            "x_run": gx, "y_run": gy, "crs_run": g.crs,
            "cell": {"row": row, "col": col, "size_m": g.cell,
                     "centre": [g.x0 + (col + 0.5) * g.cell, g.y1 - (row + 0.5) * g.cell]},
            "buurt": self._unit(gx, gy, units), "units": units, "parcel": self._parcel(gx, gy),
            "radius_m": self.radius_m, "report_url": self._report_url(lon, lat, lang), "lang": lang,
        }

    def _parcel(self, gx: float, gy: float) -> dict[str, Any] | None:
        """``{id, area_m2}`` of the cadastral parcel holding the point, when the run has parcels."""
        hit = self.parcel_at(gx, gy)
        return None if hit is None else {"id": hit[0], "area_m2": round(hit[1], 1)}

    def parcel_at(self, gx: float, gy: float) -> tuple[str, float, Any] | None:
        """``(id, area m², polygon)`` of the parcel holding ``(gx, gy)`` (run CRS), None without one (or
        without parcels in the run); overlapping parcels (rare): the first in the layer."""
        parcels = self.state.parcels
        if parcels is None or not len(parcels):
            return None
        import shapely

        if self._parcels is None:
            self._parcels = (shapely.STRtree(parcels.geometry.values), parcels["parcel_id"].astype(str).tolist(),
                             parcels["area_m2"].astype(float).tolist() if "area_m2" in parcels
                             else parcels.geometry.area.tolist())
        tree, ids, areas = self._parcels
        hit = tree.query(shapely.Point(gx, gy), predicate="intersects")
        if not len(hit):
            return None
        i = int(hit.min())
        return ids[i], areas[i], parcels.geometry.iloc[i]

    def _bucket(self, lid: str) -> str:
        """The card section of raster layer ``lid``."""
        if lid == "stress_class":
            return "stress_class"
        return {"current": "values", "stress": "values", "pressures": "pressures", "potential": "potential",
                "guide_species": "guide_species"}.get(self.state.layers[lid].group, "opportunities")

    def card(self, x: float, y: float, crs: str = "EPSG:4326", lang: str = "nl", *,
             measures: bool = True) -> dict[str, Any]:
        """The plot card of point ``(x, y)`` in ``crs`` (see the module docstring)."""
        gx, gy, row, col = self.locate(x, y, crs)
        out = self._head(gx, gy, row, col, lang)
        buckets: dict[str, list[dict[str, Any]]] = {"values": [], "pressures": [], "potential": [],
                                                    "opportunities": [], "guide_species": []}
        stress: dict[str, Any] | None = None
        for lid, item in self._items(self._at(row, col), lang):
            b = self._bucket(lid)
            if b == "stress_class":
                v = item["value"]
                cls = next((c for c in self.state.classes if v is not None and c.code == int(round(v))), None)
                stress = {**item, "label": item["class_label"], "colour_cb": cls.colour_cb if cls else None}
                continue
            buckets[b].append(item)
        potential = buckets["potential"]
        out.update({
            "values": buckets["values"], "stress_class": stress, "pressures": buckets["pressures"],
            "potential": {"values": potential,
                          "landcover": next((v for v in potential if v["id"] == "potential_landcover"), None)},
            "opportunities": buckets["opportunities"], "guide_species": buckets["guide_species"],
            "measures": self.measures(gx, gy, lang) if measures else None,
        })
        return out

    def card_compact(self, x: float, y: float, crs: str = "EPSG:4326", lang: str = "nl", *,
                     measures: bool = True) -> dict[str, Any]:
        """The plot card of :meth:`card` without what does not depend on the place (what the map asks for:
        ~1/5 of the bytes). The texts come from ``GET /api/layers`` and ``GET /api/measures``:

        * each layer value is ``[id, value, k]``: ``value`` at float32 precision (that of the stored layers;
          None = no value) and ``k`` its entry in the layer's ``legend`` (label and colour; None = not drawn);
          ``stress_class`` is one such triple; ``potential`` is the list of its values;
        * ``measures`` are rows of numbers named by ``measure_fields`` (those of :meth:`card`'s measures at
          float32 precision; None = no value) for the measures ``measure_ids``, in the card's order (fitting
          ones first, by gain); ``cells`` = cells within ``radius_m``; ``unknown_variables`` names, per
          measure, the rule variables this run lacks (only where there are any).

        :meth:`card` = this card joined with the layer and measure texts (tested, also in the browser)."""
        gx, gy, row, col = self.locate(x, y, crs)
        out = self._head(gx, gy, row, col, lang)
        plan = self._compact_plan()
        at = self._at(row, col)
        k = _legend_steps(at, plan)
        buckets: dict[str, Any] = {"values": [], "pressures": [], "potential": [], "opportunities": [],
                                   "guide_species": [], "stress_class": None}
        for (lid, b), v, kk in zip(plan["ids"], at, k, strict=True):
            item = [lid, v if math.isfinite(v) else None, kk]
            if b == "stress_class":
                buckets[b] = item
            else:
                buckets[b].append(item)
        out.update(buckets)
        out["compact"] = 1
        if measures:
            out.update(self._measures_compact(gx, gy))
        else:
            out["measures"] = None
        return out

    def _compact_plan(self) -> dict[str, Any]:
        """Per raster layer (:meth:`_raster_ids` order), made once: its card section and how a value becomes
        its legend entry (:func:`_legend_steps`)."""
        plan = self._compact
        if plan is None:
            ids, vmin, span, ramp, zero, codes, offset = [], [], [], [], [], [], []
            lut = [-1]  # per class table: class code -> legend position (-1 = none), after one -1 for the rest
            for lid in self._raster_ids():
                style = self.state.layers[lid].style
                ids.append((lid, self._bucket(lid)))
                ramp.append(style is not None and style.kind == "ramp")
                vmin.append(style.vmin if ramp[-1] else 0.0)
                span.append((style.vmax - style.vmin) if ramp[-1] else 1.0)
                zero.append(bool(style is not None and style.zero_transparent))
                table = [int(v) for v in style.values] if style is not None and style.kind == "categorical" else []
                codes.append(max(table) + 1 if table else 0)
                offset.append(len(lut))
                lut += [table.index(c) if c in table else -1 for c in range(codes[-1])]
            plan = {"ids": ids, "vmin": np.array(vmin), "span": np.array(span), "ramp": np.array(ramp, bool),
                    "zero": np.array(zero, bool), "codes": np.array(codes), "offset": np.array(offset),
                    "lut": np.array(lut, np.int64)}
            self._compact = plan
        return plan

    def _measures_compact(self, gx: float, gy: float) -> dict[str, Any]:
        n_cells, ids, n_fit, nums, unknown = self._measure_numbers(gx, gy)
        return {"cells": n_cells, "measure_fields": list(MEASURE_FIELDS), "measure_ids": ids,
                "measures": np.column_stack((n_fit, nums)).astype(np.float32),
                "unknown_variables": {mid: u for mid, u in zip(ids, unknown, strict=True) if u}}

    def _measure_numbers(self, gx: float, gy: float) -> tuple[int, list[str], np.ndarray, np.ndarray, list]:
        """The measures of the card at ``(gx, gy)``, in the card's order (:func:`_card_order`): ``(cells within
        the radius, ids, cells where each fits (int64), its sums (float64 (measures, fields after cells_fit of
        :data:`MEASURE_FIELDS`); NaN = none), the rule variables the run lacks)``. From the measure table
        when it is ready (one compiled loop), else from the blocks (:meth:`measure_sums`)."""
        table = self._table
        if table is not None:
            n_cells, n_fit, s = table.around(self.state.grid, gx, gy, self.radius_m)
            pos, ids, unknown = self._catalogue_order(table)
            n_fit, nums = n_fit[pos], s[:, _FIELD_COLUMNS][pos]
        else:
            sums = self.measure_sums(gx, gy)
            ids = [m.id for m in self.state.catalogue.measures if m.id in sums]
            n_cells = sums[ids[0]]["cells"] if ids else len(self.cells_within(gx, gy))
            n_fit = np.array([sums[mid]["cells_fit"] for mid in ids], np.int64)
            nums = np.array([[np.nan if sums[mid][k] is None else sums[mid][k] for k in _FIELD_SOURCES]
                             for mid in ids], np.float64).reshape(len(ids), len(_FIELD_SOURCES))
            unknown = _objects([sums[mid]["unknown"] for mid in ids])
            ids = _objects(ids)
        order = _card_order(n_fit, nums[:, _FIELD_SOURCES.index("gain")])
        return int(n_cells), ids[order].tolist(), n_fit[order], nums[order], unknown[order].tolist()

    def _catalogue_order(self, table: MeasureTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Made once per table: the table positions of the catalogue's measures in catalogue order (those the
        table has), and their ids and unknown rule variables (object arrays, to be reordered per card)."""
        key = ("order", id(table))
        got = self._meta.get(key)
        if got is None:
            at = {mid: i for i, mid in enumerate(table.ids)}
            pos = [at[m.id] for m in self.state.catalogue.measures if m.id in at]
            got = (np.array(pos, np.int64), _objects([table.ids[i] for i in pos]),
                   _objects([table.unknown[i] for i in pos]))
            self._meta[key] = got
        return got

    def _units(self, gx: float, gy: float) -> dict[str, dict[str, str] | None]:
        if self._names is None:
            self._names = {level: (u.frame["code"].astype(str).tolist(),
                                   u.frame.get("name", u.frame["code"]).astype(str).tolist())
                           for level, u in self.state.units.items()}
        out: dict[str, dict[str, str] | None] = {}
        for level, u in self.state.units.items():
            i = u.at(gx, gy)
            codes, names = self._names[level]
            out[level] = None if i is None else {"code": codes[i], "name": names[i]}
        return out

    def _unit(self, gx: float, gy: float, units: dict[str, dict[str, str] | None] | None = None,
              ) -> dict[str, str] | None:
        units = self._units(gx, gy) if units is None else units
        for level in ("buurt", "wijk", "gemeente", *units):
            if units.get(level):
                return {**units[level], "level": level}  # type: ignore[dict-item]
        return None

    @staticmethod
    def _report_url(lon: float, lat: float, lang: str) -> str | None:
        import importlib.util

        try:
            found = importlib.util.find_spec("biostress.report.plot") is not None
        except (ImportError, ValueError):
            found = False
        return f"/api/report?x={lon:.7f}&y={lat:.7f}&lang={lang}&format=html" if found else None

    # ------------------------------------------------------------------------------------------------
    # measures within the radius
    # ------------------------------------------------------------------------------------------------
    def _setup(self) -> None:
        if self._orun is not None:
            return
        from ..indicator_stage import module_reach
        from ..opportunity.gain import load_gain_params
        from ..runs import open_run

        orun = open_run(self.state.run_dir, params_dir=self.state.params_dir)
        self._gain_params = load_gain_params(self.state.params_dir, orun.legend)
        reach = module_reach("opportunity", self.state.params_dir, False)
        reach = 300.0 if reach is None else float(reach)
        self._halo = int(math.ceil(reach / self.state.grid.cell))
        self._orun = orun

    def warm(self) -> None:
        """Open the run and compute the whole-grid distances now (call in a background thread at start),
        so the first click only computes its block."""
        compile_kernels()
        with self._compute_lock:
            self._setup()
            self._n2k_distance()

    def _n2k_distance(self) -> np.ndarray | None:
        if not self._n2k_done:
            from ..opportunity.variables import distance_to_polygons

            sites = self._orun.layers.get("natura2000")
            self._n2k = None if sites is None else distance_to_polygons(self._orun.grid, sites).astype(np.float32)
            self._n2k_done = True
        return self._n2k

    def _block(self, br: int, bc: int) -> dict[str, Any]:
        key = (br, bc)
        with self._lock:
            got = self._blocks.get(key)
            if got is not None:
                self._blocks.move_to_end(key)
                return got
        with self._compute_lock:  # one block at a time (CPU-bound), and never twice
            with self._lock:
                got = self._blocks.get(key)
            if got is not None:
                return got
            got = self._compute_block(br, bc)
            with self._lock:
                self._blocks[key] = got
                self._trim()
            return got

    def _window_layers(self, r0: int, r1: int, c0: int, c1: int):
        """``(measure id, unknown variables, {layer: array on rows r0:r1, cols c0:c1})`` per measure, computed
        on the window grown by the opportunity map's reach (one measure's layers held at a time)."""
        from ..measures.rules import Rule
        from ..opportunity.compute import iter_measure_layers
        from ..opportunity.variables import RuleVariables, rule_variables

        self._setup()
        g = self.state.grid
        h = int(self._halo or 0)
        R0, R1, C0, C1 = max(0, r0 - h), min(g.height, r1 + h), max(0, c0 - h), min(g.width, c1 + h)
        ctx = self._orun.context(R0, R1, C0, C1)
        n2k = self._n2k_distance()
        ctx.layers = {k: v for k, v in (ctx.layers or {}).items() if k != "natura2000"}
        var = rule_variables(ctx)
        values = dict(var)
        missing = list(var.missing)
        if n2k is not None:
            inside = np.nan_to_num(np.asarray(ctx.inside, dtype=np.float64)) > 0
            values["distance_natura2000_m"] = np.where(inside, n2k[R0:R1, C0:C1].astype(np.float64), np.nan)
            missing = [m for m in missing if m != "distance_natura2000_m"]
        variables = RuleVariables(values, missing, var.notes)
        inner = (slice(r0 - R0, r1 - R0), slice(c0 - C0, c1 - C0))
        for mid, lay in iter_measure_layers(ctx, self.state.catalogue, params=self._gain_params,
                                            variables=variables):
            rule = self._rules.get(mid)
            if rule is None:
                rule = Rule.parse(self.state.catalogue.get(mid).fits.rule)
                self._rules[mid] = rule
            unknown = [v for v in sorted(rule.variables) if v in set(missing)]
            yield mid, unknown, {k: lay[k][inner] for k in KEEP}

    def _compute_block(self, br: int, bc: int) -> dict[str, Any]:
        g = self.state.grid
        r0, r1 = br * BLOCK, min(g.height, (br + 1) * BLOCK)
        c0, c1 = bc * BLOCK, min(g.width, (bc + 1) * BLOCK)
        ids, unknown, fits, vals = [], [], [], []
        for mid, unk, lay in self._window_layers(r0, r1, c0, c1):
            ids.append(mid)
            unknown.append(unk)
            fits.append(np.asarray(lay["fits"], dtype=bool))
            vals.append(np.stack([np.asarray(lay[k], dtype=np.float32) for k in KEEP[1:]]))
        return {"r0": r0, "c0": c0, "ids": ids, "unknown": unknown, "fits": np.stack(fits), "values": np.stack(vals)}

    # ------------------------------------------------------------------------------------------------
    # the whole grid at once (sparse: only the cells where a measure fits)
    # ------------------------------------------------------------------------------------------------
    def precompute(self, cache_dir: Path | None = None, band_rows: int = 128,
                   progress: Callable[[str], None] | None = None) -> MeasureTable:
        """Compute the measure layers of the whole grid, in bands of ``band_rows`` rows (memory bounded by
        one band and one measure), keep them for the cells where each measure fits (:class:`MeasureTable`)
        and use them for every later card. With ``cache_dir`` the table is saved there (atomically) and
        read back on the next start of the same run."""
        g = self.state.grid
        key = None
        if cache_dir is not None:
            key = _table_key(self.state)
            got = MeasureTable.load(cache_dir, key, g.height * g.width)
            if got is not None:
                got.cell_starts()  # ready before the first card: cell index made, loops compiled
                compile_kernels()
                self._table = got
                return got
        keys: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        ids: list[str] = []
        unknown: dict[str, list[str]] = {}
        n = g.height * g.width
        per_measure: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        for b, r0 in enumerate(range(0, g.height, band_rows)):
            r1 = min(g.height, r0 + band_rows)
            with self._compute_lock:  # a band at a time: clicks meanwhile compute their block in between
                for mid, unk, lay in self._window_layers(r0, r1, 0, g.width):
                    if mid not in per_measure:
                        ids.append(mid)
                        per_measure[mid] = ([], [])
                    unknown.setdefault(mid, unk)
                    f = np.asarray(lay["fits"], dtype=bool)
                    rr, cc = np.nonzero(f)
                    per_measure[mid][0].append((r0 + rr).astype(np.int64) * g.width + cc)
                    per_measure[mid][1].append(np.stack([np.asarray(lay[k], dtype=np.float32)[rr, cc]
                                                         for k in KEEP[1:]], axis=1))
            if progress:
                progress(f"measures for the plot cards: {min(100, round(100 * r1 / g.height))}% "
                         f"(band {b + 1} of {math.ceil(g.height / band_rows)})")
        for i, mid in enumerate(ids):
            k, v = per_measure.pop(mid)
            keys.append(np.concatenate(k) * len(ids) + i if k else np.zeros(0, np.int64))
            vals.append(np.concatenate(v) if v else np.zeros((0, len(KEEP) - 1), np.float32))
        all_keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        order = np.argsort(all_keys, kind="stable")
        table = MeasureTable(ids, [unknown[m] for m in ids], n, all_keys[order],
                             (np.concatenate(vals) if vals else np.zeros((0, len(KEEP) - 1), np.float32))[order])
        if cache_dir is not None and key is not None:
            table.save(cache_dir, key)
        table.cell_starts()
        compile_kernels()
        self._table = table
        return table

    def cells_within(self, gx: float, gy: float) -> list[tuple[int, int]]:
        """Cells whose centre lies within ``radius_m`` of ``(gx, gy)`` (the cell holding the point at least),
        row-major."""
        width = self.state.grid.width
        return [(f // width, f % width) for f in self._flat_within(gx, gy).tolist()]

    def _flat_within(self, gx: float, gy: float) -> np.ndarray:
        """:meth:`cells_within` as ``row x width + col`` (int64)."""
        g = self.state.grid
        return disc_cells(g.x0, g.y1, g.cell, g.width, g.height, gx, gy, self.radius_m)

    def measure_sums(self, gx: float, gy: float) -> dict[str, dict[str, Any]]:
        """Per measure: cells within the radius where it fits and the sums of its layers over them
        (None where no fitting cell has a value)."""
        cells = self.cells_within(gx, gy)
        if self._table is not None:
            return self._table.sums(cells, self.state.grid.width)
        by_block: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for r, c in cells:
            by_block.setdefault((r // BLOCK, c // BLOCK), []).append((r, c))
        ids: list[str] = []
        unknown: list[list[str]] = []
        n_fit = sums = has = None
        for (br, bc), cs in by_block.items():
            blk = self._block(br, bc)
            rr = np.array([r - blk["r0"] for r, _ in cs])
            cc = np.array([c - blk["c0"] for _, c in cs])
            f = blk["fits"][:, rr, cc]  # (measures, cells)
            v = np.where(f[:, None, :], blk["values"][:, :, rr, cc].astype(np.float64), np.nan)
            if n_fit is None:
                ids, unknown = blk["ids"], blk["unknown"]
                n_fit, sums, has = f.sum(axis=1), np.nansum(v, axis=2), np.isfinite(v).any(axis=2)
            else:
                n_fit, sums, has = n_fit + f.sum(axis=1), sums + np.nansum(v, axis=2), has | np.isfinite(v).any(axis=2)
        out: dict[str, dict[str, Any]] = {}
        for i, mid in enumerate(ids):
            d: dict[str, Any] = {"cells": len(cells), "cells_fit": int(n_fit[i]), "unknown": unknown[i]}
            for j, k in enumerate(KEEP[1:]):
                d[k] = float(sums[i, j]) if has[i, j] else None
            out[mid] = d
        return out

    def measures(self, gx: float, gy: float, lang: str) -> list[dict[str, Any]]:
        """The measures list of the card (fitting ones first, by gain)."""
        meta = self._measure_meta.get(lang)
        if meta is None:  # what does not depend on the place, made once per language
            meta = {m.id: {"id": m.id, "name": m.name_nl if lang == "nl" else m.name_en,
                           "explain": m.explain_nl if lang == "nl" else m.explain_en, "unit": m.unit,
                           "subsidies": [subsidy_json(sb) for sb in m.subsidies],
                           "guide_species": list(m.guide_species)} for m in self.state.catalogue.measures}
            self._measure_meta[lang] = meta
        n_cells, ids, n_fit, nums, unknown = self._measure_numbers(gx, gy)
        names = MEASURE_FIELDS[1:]
        return [{**meta[mid], "fits": f > 0, "cells_fit": f, "cells": n_cells,
                 **{k: None if x != x else x for k, x in zip(names, row, strict=True)}, "unknown_variables": u}
                for mid, f, row, u in zip(ids, n_fit.tolist(), nums.tolist(), unknown, strict=True)]
