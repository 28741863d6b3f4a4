"""Potential land cover: which share of each class can realistically change into which class.

Table ``data/params/potential_transitions.csv`` (an area's own copy in ``params_dir`` replaces it;
lines starting with ``#`` are comments). One row per transition:

``from, to, max_share, condition, source, ev, note``

* ``from`` / ``to``: legend keys (``unknown`` is not allowed on either side: missing land cover
  is never turned into something);
* ``max_share``: the share (0-1) of the cell's ``from`` cover that can change into ``to``;
* ``condition``: where the row applies, one of :data:`CONDITIONS`:

  - ``always``: every cell;
  - ``near_natura2000``: cells whose centre lies within ``natura2000_distance_m`` (m) of a
    Natura 2000 polygon (``ctx.layers['natura2000']``; inside counts as distance 0);
  - ``urban`` / ``rural``: the built-up share in a disc of ``urban_radius_m`` around the cell
    (the mean over the cells of the disc, :func:`biostress.indicators.disturbance.focal_mean`) is
    ``>= urban_min_built_share`` (urban) or below it (rural). Built-up = legend classes flagged
    ``impervious`` plus ``urban_mixed``;
  - ``shore``: cells with open water (legend flag ``water``) and at least
    ``shore_min_land_share`` of land cover (any class that is neither water nor ``unknown``):
    the bank cells, where a natural bank (reed belt) can be made.

* ``source``, ``ev`` (V/S/R/P), ``note``: where the number comes from and how sure it is.

Transition rule (:func:`potential_fractions`), per cell and ``from`` class ``c`` with cover
``f_c`` (share of the whole cell, as in ``ctx.fractions``): every row ``r`` from ``c`` whose
condition holds (mask ``m_r`` in 0-1) asks for ``s_r = max_share_r * m_r`` of ``f_c``. When the
rows together ask for more than all of it (``S_c = sum_r s_r > 1``) each is scaled by ``1/S_c``::

    moved_r = f_c * s_r * min(1, 1 / S_c)
    f'_c    = f_c * (1 - min(1, S_c))          (never negative)
    f'_k    = f_k + sum_{r: to_r = k} moved_r

so the cell's total cover is unchanged. All rows act on the *current* cover at once (one step:
cover moved into a class is not moved on by that class's own rows). Elementwise only: works on
numpy and dask arrays alike.

The scalar settings (distances, the built-up threshold) are read from ``potential_params.csv``
(``parameter,value,units,ev,source,note``) in ``params_dir`` or the built-in parameter folder when
such a file exists; otherwise the defaults :data:`DEFAULT_SETTINGS` below (all ev P) are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio import features

from ..errors import ConfigError, InputDataError
from ..grid import Grid
from ..indicators.base import params_path
from ..indicators.disturbance import focal_mean
from ..indicators.green import cover_share
from ..indicators.heat import finite_or_zero, is_dask, parse_float, read_table, where, xp_of
from ..landcover.legend import Legend

__all__ = [
    "CONDITIONS",
    "DEFAULT_SETTINGS",
    "SETTINGS_FILE",
    "TRANSITIONS_FILE",
    "PotentialSettings",
    "Transition",
    "TransitionTable",
    "built_share",
    "load_settings",
    "load_transitions",
    "near_natura2000_mask",
    "potential_fractions",
    "shore_mask",
    "urban_mask",
]

TRANSITIONS_FILE = "potential_transitions.csv"
SETTINGS_FILE = "potential_params.csv"
CONDITIONS = ("always", "near_natura2000", "urban", "rural", "shore")
_COLUMNS = ["from", "to", "max_share", "condition", "source", "ev"]

#: parameter -> (value, units, lower bound, upper bound, ev, source, note); used when no
#: ``potential_params.csv`` exists (an area's copy may override any subset of them).
DEFAULT_SETTINGS: dict[str, tuple[float, str, float, float, str, str, str]] = {
    "natura2000_distance_m": (
        1000.0, "m", 0.0, 20000.0, "P", "proposed (biostress)",
        "fields within this distance of a Natura 2000 site count as its surroundings (buffer / transition "
        "zone where margins, hedgerows and herb-rich grassland are realistic); a choice, not a norm"),
    "urban_radius_m": (
        200.0, "m", 0.0, 5000.0, "P", "proposed (biostress)",
        "radius of the disc over which the built-up share is averaged for the urban/rural condition"),
    "urban_min_built_share": (
        0.2, "fraction 0-1", 0.0, 1.0, "P", "proposed (biostress)",
        "built-up share (impervious classes + urban_mixed) in the disc from which a cell counts as urban; "
        "residential districts are usually well above it, farmland well below"),
    "shore_min_land_share": (
        0.05, "fraction 0-1", 0.0, 1.0, "P", "proposed (biostress)",
        "least land cover in a cell with water for it to count as a bank cell (shore condition)"),
}


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Transition:
    """One row: up to ``max_share`` (0-1) of the ``from_key`` cover may become ``to_key`` where
    ``condition`` holds."""

    from_key: str
    to_key: str
    max_share: float
    condition: str
    source: str = ""
    ev: str = ""
    note: str = ""


@dataclass(frozen=True)
class TransitionTable:
    rows: tuple[Transition, ...]
    path: str = "<transitions>"

    @property
    def conditions(self) -> list[str]:
        """Conditions used by rows with a positive share, in :data:`CONDITIONS` order."""
        used = {r.condition for r in self.rows if r.max_share > 0}
        return [c for c in CONDITIONS if c in used]

    def check_legend(self, legend: Legend) -> None:
        """ConfigError when a row names a class the legend does not have."""
        for r in self.rows:
            for k in (r.from_key, r.to_key):
                if k not in legend.keys:
                    raise ConfigError(f"{self.path}: the transition {r.from_key} -> {r.to_key} uses the class {k!r}, "
                                      f"which is not in the legend {legend.path}.",
                                      hint=f"Use legend keys: {', '.join(legend.keys)}")

    def provenance(self) -> pd.DataFrame:
        """The rows as a table (for the run's outputs): from, to, max_share, condition, ev, source, note."""
        return pd.DataFrame([{"from": r.from_key, "to": r.to_key, "max_share": r.max_share, "condition": r.condition,
                              "ev": r.ev, "source": r.source, "note": r.note} for r in self.rows],
                            columns=["from", "to", "max_share", "condition", "ev", "source", "note"])


def load_transitions(params_dir: Path | str | None = None, legend: Legend | None = None) -> TransitionTable:
    """Read and validate ``potential_transitions.csv`` (the area's copy in ``params_dir`` if it has
    one). Raises :class:`ConfigError` naming the file, line and column at fault."""
    p = params_path(TRANSITIONS_FILE, params_dir)
    df = read_table(p, _COLUMNS)
    rows: list[Transition] = []
    seen: dict[tuple[str, str, str], int] = {}
    for i, r in df.iterrows():
        line = int(i) + 2
        fk, tk, cond = r["from"].strip(), r["to"].strip(), r["condition"].strip()
        for col, k in (("from", fk), ("to", tk)):
            if not k:
                raise ConfigError(f"{p} line {line}: the column '{col}' is empty.", hint="Give a legend class key.")
            if k == "unknown":
                raise ConfigError(f"{p} line {line}: '{col}' is 'unknown'; land cover that no source maps cannot "
                                  "change into or out of anything.", hint="Use a real legend class.")
        if fk == tk:
            raise ConfigError(f"{p} line {line}: 'from' and 'to' are both {fk!r}.", hint="Remove the row.")
        if cond not in CONDITIONS:
            raise ConfigError(f"{p} line {line}: unknown condition {cond!r}.", hint=f"Use one of {', '.join(CONDITIONS)}.")
        share = parse_float(p, line, "max_share", r["max_share"], lo=0.0, hi=1.0)
        key = (fk, tk, cond)
        if key in seen:
            raise ConfigError(f"{p} line {line}: the transition {fk} -> {tk} ({cond}) is already on line {seen[key]}.",
                              hint="Keep one row per from, to and condition.")
        seen[key] = line
        rows.append(Transition(fk, tk, float(share), cond, r["source"].strip(), r["ev"].strip(),  # type: ignore[arg-type]
                               str(r.get("note", "")).strip()))
    table = TransitionTable(tuple(rows), str(p))
    if legend is not None:
        table.check_legend(legend)
    return table


@dataclass(frozen=True)
class PotentialSettings:
    """Scalar settings of the conditions (see the module docstring)."""

    natura2000_distance_m: float = DEFAULT_SETTINGS["natura2000_distance_m"][0]
    urban_radius_m: float = DEFAULT_SETTINGS["urban_radius_m"][0]
    urban_min_built_share: float = DEFAULT_SETTINGS["urban_min_built_share"][0]
    shore_min_land_share: float = DEFAULT_SETTINGS["shore_min_land_share"][0]
    provenance: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False)


def load_settings(params_dir: Path | str | None = None) -> PotentialSettings:
    """The condition settings: :data:`DEFAULT_SETTINGS`, overridden by the rows of a
    ``potential_params.csv`` (``parameter,value,units,ev,source,note``) in ``params_dir`` or the
    built-in parameter folder when one exists. Unknown or repeated parameters raise ConfigError."""
    values = {k: v[0] for k, v in DEFAULT_SETTINGS.items()}
    prov = {k: {"parameter": k, "value": v[0], "units": v[1], "ev": v[4], "source": v[5], "note": v[6],
                "table": "built-in default"} for k, v in DEFAULT_SETTINGS.items()}
    p = params_path(SETTINGS_FILE, params_dir)
    if p.exists():
        df = read_table(p, ["parameter", "value", "units", "ev", "source"])
        seen: set[str] = set()
        for i, r in df.iterrows():
            line = int(i) + 2
            name = r["parameter"].strip()
            if name not in DEFAULT_SETTINGS:
                raise ConfigError(f"{p} line {line}: unknown parameter {name!r}.",
                                  hint=f"Known parameters: {', '.join(DEFAULT_SETTINGS)}")
            if name in seen:
                raise ConfigError(f"{p} line {line}: parameter {name!r} is listed twice.")
            seen.add(name)
            _, units, lo, hi, *_ = DEFAULT_SETTINGS[name]
            values[name] = parse_float(p, line, "value", r["value"], lo=lo, hi=hi)  # type: ignore[assignment]
            prov[name] = {"parameter": name, "value": values[name], "units": r["units"], "ev": r["ev"].strip(),
                          "source": r["source"], "note": r.get("note", ""), "table": p.name}
    return PotentialSettings(**values, provenance=pd.DataFrame(list(prov.values())))


# --------------------------------------------------------------------------------------------
# condition masks
# --------------------------------------------------------------------------------------------

def near_natura2000_mask(grid: Grid, sites: gpd.GeoDataFrame | None, distance_m: float) -> np.ndarray:
    """``True`` where the cell centre lies within ``distance_m`` (m, ``<=``) of a site polygon
    (inside a site = distance 0). Exact (shapely ``dwithin`` on the cell centres); the candidates
    are the cells of the site polygons buffered by ``distance_m + cell`` (rasterio). Sites in
    another CRS are reprojected to the grid's. In memory (bool, ``grid.shape``)."""
    out = np.zeros(grid.shape, dtype=bool)
    if sites is None or len(sites) == 0:
        return out
    if sites.crs is not None and not sites.crs.equals(grid.pyproj_crs):
        sites = sites.to_crs(grid.crs)
    geoms = [g for g in sites.geometry if g is not None and not g.is_empty]
    if not geoms:
        return out
    site = shapely.union_all(shapely.make_valid(np.asarray(geoms, dtype=object)))
    reach = shapely.buffer(site, distance_m + grid.cell, quad_segs=8)
    cand = features.rasterize([(reach, 1)], out_shape=grid.shape, transform=grid.transform, fill=0,
                              all_touched=True, dtype="uint8").astype(bool)
    rows, cols = np.nonzero(cand)
    if rows.size == 0:
        return out
    x = grid.x0 + (cols + 0.5) * grid.cell
    y = grid.y1 - (rows + 0.5) * grid.cell
    shapely.prepare(site)
    out[rows, cols] = shapely.dwithin(site, shapely.points(x, y), distance_m)
    return out


def _indices(legend: Legend, pred) -> list[int]:
    return [i for i, c in enumerate(legend.classes) if pred(c)]


def built_share(fractions: Any, legend: Legend, inside: Any) -> Any:
    """Built-up share of the inside part of each cell: impervious classes + ``urban_mixed``
    (0-1; NaN where ``inside <= 0``)."""
    idx = _indices(legend, lambda c: c.impervious or c.key == "urban_mixed")
    return cover_share(fractions, idx, inside)


def urban_mask(fractions: Any, legend: Legend, inside: Any, cell: float, radius_m: float,
               min_share: float) -> tuple[Any, Any]:
    """``(urban, rural)`` boolean masks: the mean built-up share (:func:`built_share`) of the
    cells whose centre lies within ``radius_m`` (cells outside the area and beyond the grid edge
    left out of the mean) is ``>= min_share`` / ``< min_share``. Cells outside the area are
    neither. numpy or dask (halo = radius)."""
    b = built_share(fractions, legend, inside)
    m = focal_mean(b.astype(np.float64), cell, radius_m)
    ok = xp_of(m).isfinite(m) & xp_of(b).isfinite(b)
    # the disc mean is a ratio of FFT sums: compare with a tolerance of 1e-9
    urban = ok & (m >= min_share - 1e-9)
    rural = ok & (m < min_share - 1e-9)
    return urban, rural


def shore_mask(fractions: Any, legend: Legend, inside: Any, min_land_share: float) -> Any:
    """Cells holding open water (legend flag ``water``) and land cover (neither water nor
    ``unknown``) of at least ``min_land_share`` of the inside part. Elementwise, numpy or dask."""
    water = _sum_bands(fractions, _indices(legend, lambda c: c.water))
    land = _sum_bands(fractions, _indices(legend, lambda c: not c.water and c.key != "unknown"))
    ins = finite_or_zero(inside)
    return (water > 0) & (land > 0) & (land >= min_land_share * ins - 1e-9)


def _sum_bands(fractions: Any, idx: list[int]) -> Any:
    if not idx:
        return finite_or_zero(fractions[0]) * 0.0
    total = finite_or_zero(fractions[idx[0]])
    for i in idx[1:]:
        total = total + finite_or_zero(fractions[i])
    return total


# --------------------------------------------------------------------------------------------
# the transition itself
# --------------------------------------------------------------------------------------------

def potential_fractions(fractions: Any, legend: Legend, table: TransitionTable,
                        masks: Mapping[str, Any] | None = None) -> Any:
    """Potential cover fractions ``(n_classes, H, W)`` float32 after applying every transition
    whose condition holds (see the module docstring for the rule).

    ``masks`` maps a condition to an ``(H, W)`` array (bool, or 0-1 for a partial condition; NaN
    counts as 0); ``always`` needs none. A condition used by the table without a mask raises
    :class:`InputDataError`. Cells (bands) that are NaN stay NaN. numpy or dask like the input
    (elementwise; dask output has the input's chunks)."""
    if fractions.ndim != 3 or fractions.shape[0] != len(legend.classes):
        raise InputDataError(f"The land-cover fractions have shape {tuple(fractions.shape)}; expected "
                             f"({len(legend.classes)}, rows, cols) for the legend {legend.path}.")
    table.check_legend(legend)
    masks = dict(masks or {})
    shape = tuple(fractions.shape[1:])
    missing = [c for c in table.conditions if c != "always" and c not in masks]
    if missing:
        raise InputDataError(f"No mask for the condition(s) {missing} used by {table.path}.",
                             hint="Pass a (rows, cols) mask per condition (see condition_masks in "
                                  "biostress.potential.compute).")
    for c, m in masks.items():
        if c != "always" and tuple(m.shape) != shape:
            raise InputDataError(f"The mask of condition {c!r} has shape {tuple(m.shape)}, the fractions {shape}.")
    keys = legend.keys
    by_from: dict[int, list[tuple[int, float, str]]] = {}
    for r in table.rows:
        if r.max_share > 0:
            by_from.setdefault(keys.index(r.from_key), []).append((keys.index(r.to_key), r.max_share, r.condition))
    if not by_from:
        return fractions.astype(np.float32)
    f64 = fractions.astype(np.float64)
    added: dict[int, Any] = {}
    kept: dict[int, Any] = {}
    for src, rows in by_from.items():
        f0 = finite_or_zero(f64[src])
        asks = []
        for dst, share, cond in rows:
            if cond == "always":
                asks.append((dst, share))
            else:
                m = masks[cond]
                m = finite_or_zero(m) if m.dtype.kind == "f" else m.astype(np.float64)
                asks.append((dst, xp_of(m).clip(m, 0.0, 1.0) * share))
        total: Any = asks[0][1]
        for _, s in asks[1:]:
            total = total + s
        over = total > 1.0
        scale = where(over, 1.0 / where(over, total, 1.0), 1.0)  # min(1, 1 / S_c)
        for dst, s in asks:
            moved = f0 * s * scale
            added[dst] = moved if dst not in added else added[dst] + moved
        kept[src] = f64[src] * (1.0 - where(over, 1.0, total))  # f_c (1 - min(1, S_c)) >= 0
    bands = []
    for i in range(len(keys)):
        b = kept.get(i, f64[i])
        bands.append(b + added[i] if i in added else b)
    out = xp_of(fractions, *bands).stack(bands).astype(np.float32)
    if is_dask(out) and is_dask(fractions):
        out = out.rechunk(fractions.chunks)
    return out
