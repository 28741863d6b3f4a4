"""Fragmentation of habitat: effective mesh size (CUT and CBC), patch metrics, and the City
Biodiversity Index connectivity indicator.

Effective mesh size (Jaeger 2000)
---------------------------------
Jaeger, J.A.G. (2000) Landscape division, splitting index, and effective mesh size: new measures of
landscape fragmentation. Landscape Ecology 15: 115-130.

``m_eff = (1 / A_total) * sum_i A_i**2``  [ha]

with ``A_i`` the area of habitat patch ``i`` and ``A_total`` the area of the reporting unit (all of
it, habitat or not). ``m_eff`` is the expected area of habitat reachable from a random point of the
unit without crossing non-habitat; it lies between 0 and the unit area.

Per reporting unit two conventions exist:

* **CUT** (cutting-out, Jaeger 2000): patches are cut at the unit boundary; ``A_i`` is the area of
  a connected piece of habitat inside the unit.
  ``m_eff^CUT = (1/A_unit) * sum_i A_i**2``.
* **CBC** (cross-boundary connections; Moser, B., Jaeger, J.A.G., Tappeiner, U., Tasser, E.,
  Eiselt, B. (2007) Modification of the effective mesh size for measuring landscape fragmentation
  to solve the boundary problem. Landscape Ecology 22: 447-459):
  ``m_eff^CBC = (1/A_unit) * sum_i A_i * A_i^cmpl``, with ``A_i`` the part of patch ``i`` inside
  the unit and ``A_i^cmpl`` the complete patch area, also outside the unit (here: within the
  analysed area; patches that continue beyond the area boundary are cut there). CBC values are
  area-additive: ``A_total * m_eff(total) = sum_units A_unit * m_eff^CBC(unit)``.

Equivalently, ``m_eff^CBC`` is the mean over the unit's cells of "the complete area of the habitat
patch this cell belongs to (0 for non-habitat)": :func:`compute` writes exactly that raster
(``habitat_patch_area``), so the pipeline's per-unit mean of it is the CBC effective mesh size.

Raster conventions (chosen to match ``pylandstats``, the reference used in the tests):
patches are 8-connected (``scipy.ndimage.label``, queen's case); areas are cell counts times the
cell area; ``A_unit`` counts every cell of the unit (a cell belongs to the unit whose polygon holds
its centre); m_eff and mean patch area (``area_mn``) are in hectares; the largest patch index
``LPI = 100 * max_i A_i / A_unit`` (percent); edge density ``ED = 10_000 * TE / A_unit`` (m/ha) with
``TE`` the total length of cell sides between a habitat and a non-habitat cell of the same unit -
sides on the unit or area boundary are not edges (pylandstats ``count_boundary=False``), and edges
are counted between 4-neighbours whatever the patch rule.

City Biodiversity Index, indicator 2 (connectivity measures)
------------------------------------------------------------
Singapore Index on Cities' Biodiversity, User's Manual (2014), indicator 2 "Connectivity measures
or ecological networks to counter fragmentation" (text checked in a secondary transcription, see
``fragmentation_params.yaml``):

``m_eff^CBI = (1 / A_total) * sum_g A_g**2`` [ha], with ``A_total`` the total area of all *natural
areas* and ``A_g`` the area of a group of natural patches that are connected: "patches are
considered as connected if they are less than 100 m apart", except across anthropogenic barriers:
roads 15 m or more wide (or smaller with more than 5000 cars per day), highly modified rivers,
heavily concretised canals, heavily built-up areas and other structures the city considers a
barrier.

What is implemented here (documented approximations):

* natural area = cells whose ``cbi_natural`` classes cover >= ``natural_min_fraction``
  (``fragmentation_classes.csv``; managed lawns, parks, gardens, sports fields are not natural);
* barrier = cells whose ``cbi_barrier`` classes (buildings, roads, paving, rail) cover
  >= ``barrier_min_fraction`` *and* that lie in a band of barrier at least ``barrier_min_width_m``
  wide: the mean barrier cover in the ``k x k`` window around the cell (``k = 2*ceil(W/(2c)) + 1``
  cells) must be >= ``W / (k c)``, which a straight, axis-parallel road of width ``>= W`` just meets
  (diagonal roads from about ``W / sqrt(2)``). Traffic volumes are not known, so narrow busy roads
  are not barriers; water is not a barrier by default (the land cover cannot tell a modified river);
* the gap between two patches is the shortest path between their cells through non-barrier cells
  (8-neighbour steps of ``c`` and ``c*sqrt(2)``, no corner-cutting between two barrier cells),
  measured centre to centre minus one cell (``c``), which is exact for gaps along rows and columns;
  patches with a gap ``< gap_m`` are connected, and connection is transitive (groups are the
  connected components). Shortest paths are found by ``ceil(gap_m / c) + 1`` synchronous relaxation
  sweeps (a bounded multi-source Dijkstra), so the computation is local with a halo of that many
  cells and runs chunk by chunk on dask arrays.

The CBI scoring (0-4 points) uses ``score_thresholds_ha`` (evidence mark R: not verified).

Per-unit results (:func:`patch_metrics_per_unit`) take a raster of unit ids (:func:`rasterize_units`).
Labelling works on numpy arrays in memory and on dask arrays chunk by chunk (labels merged across
chunk borders with a union-find over the label pairs that touch).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import ConfigError, InputDataError
from ..grid import Grid
from ..landcover.legend import Legend
from .base import IndicatorContext, IndicatorResult
from .common import is_dask, xp_of

__all__ = [
    "CbiResult",
    "FragmentationParams",
    "barrier_mask",
    "cbi_connectivity",
    "cbi_score",
    "compute",
    "effective_mesh_size",
    "geodesic_nearest",
    "habitat_mask",
    "label_patches",
    "label_zones",
    "landscape_metrics",
    "load_params",
    "patch_area_raster",
    "patch_metrics_per_unit",
    "rasterize_units",
]

CLASSES_FILE = "fragmentation_classes.csv"
PARAMS_FILE = "fragmentation_params.yaml"
_EV = ("V", "S", "R", "P")
_STRUCT = {8: np.ones((3, 3), dtype=bool), 4: ndimage.generate_binary_structure(2, 1)}


# --------------------------------------------------------------------------------------------------
# array helpers (numpy or dask)


def _compute(*arrays: Any) -> tuple:
    if any(is_dask(a) for a in arrays):
        import dask

        return tuple(np.asarray(a) for a in dask.compute(*arrays))
    return tuple(np.asarray(a) for a in arrays)


def _bincount(x: Any, weights: Any = None, minlength: int = 0) -> Any:
    """Lazy for dask (``compute`` it with :func:`_compute`), eager for numpy."""
    if is_dask(x) or is_dask(weights):
        import dask.array as da

        x = x if is_dask(x) else da.from_array(x)
        w = None if weights is None else (weights if is_dask(weights) else da.from_array(weights))
        x = x.ravel()
        if w is not None:
            w = w.ravel().rechunk(x.chunks)
        return da.bincount(x, weights=w, minlength=minlength)
    return np.bincount(np.asarray(x).ravel(), weights=None if weights is None else np.asarray(weights).ravel(),
                       minlength=minlength)


def _take(lut: np.ndarray, labels: Any) -> Any:
    """``lut[labels]`` blockwise."""
    if is_dask(labels):
        return labels.map_blocks(lambda b: lut[b], dtype=lut.dtype, meta=np.empty((0, 0), lut.dtype))
    return lut[labels]


# --------------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class FragmentationParams:
    """Habitat, CBI natural and barrier classes (legend keys) and the scalar parameters."""

    habitat: tuple[str, ...]
    cbi_natural: tuple[str, ...]
    cbi_barrier: tuple[str, ...]
    habitat_min_fraction: float = 0.5
    natural_min_fraction: float = 0.5
    gap_m: float = 100.0
    barrier_min_width_m: float = 15.0
    barrier_min_fraction: float = 0.5
    min_patch_m2: float = 0.0
    score_thresholds_ha: tuple[float, ...] = (200.0, 500.0, 1000.0, 1500.0)
    sources: dict[str, str] = field(default_factory=dict)  # which files were used
    notes: tuple[str, ...] = ()


def _param_file(name: str, params_dir: Path | None) -> Path:
    if params_dir is not None:
        p = Path(params_dir) / name
        if p.is_file():
            return p
    return Path(str(resources.files("biostress") / "data" / "params" / name))


def _value(doc: dict, key: str, path: Path, lo: float, hi: float) -> float:
    entry = doc.get(key)
    if not isinstance(entry, dict) or "value" not in entry:
        raise ConfigError(f"{path}: '{key}' needs a 'value' (with 'ev' and 'source').")
    ev = str(entry.get("ev", ""))
    if ev not in _EV:
        raise ConfigError(f"{path}: '{key}' has evidence mark {ev!r}; use one of {_EV}.")
    try:
        v = float(entry["value"])
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: '{key}' must be a number, got {entry['value']!r}.") from None
    if not lo <= v <= hi:
        raise ConfigError(f"{path}: '{key}' = {v} is outside {lo}..{hi}.")
    return v


def load_params(legend: Legend, params_dir: Path | None = None) -> FragmentationParams:
    """Read ``fragmentation_classes.csv`` and ``fragmentation_params.yaml`` (an area's own copies in
    ``params_dir`` replace the built-in ones) and check them against the legend."""
    cpath = _param_file(CLASSES_FILE, params_dir)
    ppath = _param_file(PARAMS_FILE, params_dir)
    try:
        text = cpath.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"Cannot read {cpath}: {e}") from e
    reader = csv.DictReader(io.StringIO(text))
    need = ["key", "habitat", "cbi_natural", "cbi_barrier", "ev", "source"]
    missing = [c for c in need if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"{cpath} lacks the column(s) {missing}.", hint=f"Columns: {need + ['note']}.")
    rows = [r for r in reader if r.get("key") and not r["key"].strip().startswith("#")]
    sets: dict[str, list[str]] = {"habitat": [], "cbi_natural": [], "cbi_barrier": []}
    seen = set()
    for i, r in enumerate(rows):
        key = r["key"].strip()
        legend.by_key(key)  # ConfigError for unknown keys
        if key in seen:
            raise ConfigError(f"{cpath}: class '{key}' is listed twice.")
        seen.add(key)
        if r["ev"].strip() not in _EV:
            raise ConfigError(f"{cpath} row {i + 1} ({key}): evidence mark {r['ev']!r} must be one of {_EV}.")
        for col in sets:
            v = (r[col] or "").strip()
            if v not in ("0", "1"):
                raise ConfigError(f"{cpath} row {i + 1} ({key}): {col} must be 0 or 1, got {v!r}.")
            if v == "1":
                sets[col].append(key)
    if set(sets["cbi_natural"]) & set(sets["cbi_barrier"]):
        raise ConfigError(f"{cpath}: classes {sorted(set(sets['cbi_natural']) & set(sets['cbi_barrier']))} are both "
                          "natural and barrier.")
    notes = []
    absent = [k for k in legend.keys if k not in seen]
    if absent:
        notes.append(f"legend classes {absent} are not in {cpath.name}: counted as neither habitat nor barrier")
    try:
        doc = yaml.safe_load(ppath.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"Cannot read {ppath}: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("cbi"), dict):
        raise ConfigError(f"{ppath} must be a mapping with 'habitat_min_fraction' and a 'cbi' section.")
    cbi = doc["cbi"]
    th = cbi.get("score_thresholds_ha", {})
    thresholds = th.get("value") if isinstance(th, dict) else None
    if (not isinstance(thresholds, list) or len(thresholds) != 4
            or any(not isinstance(t, int | float) for t in thresholds) or sorted(thresholds) != thresholds):
        raise ConfigError(f"{ppath}: cbi.score_thresholds_ha.value must be 4 increasing numbers (ha).")
    return FragmentationParams(
        habitat=tuple(sets["habitat"]), cbi_natural=tuple(sets["cbi_natural"]), cbi_barrier=tuple(sets["cbi_barrier"]),
        habitat_min_fraction=_value(doc, "habitat_min_fraction", ppath, 0.0, 1.0),
        natural_min_fraction=_value(cbi, "natural_min_fraction", ppath, 0.0, 1.0),
        gap_m=_value(cbi, "gap_m", ppath, 0.0, 10_000.0),
        barrier_min_width_m=_value(cbi, "barrier_min_width_m", ppath, 0.0, 1000.0),
        barrier_min_fraction=_value(cbi, "barrier_min_fraction", ppath, 0.0, 1.0),
        min_patch_m2=_value(cbi, "min_patch_m2", ppath, 0.0, 1e9),
        score_thresholds_ha=tuple(float(t) for t in thresholds),
        sources={"classes": str(cpath), "params": str(ppath)}, notes=tuple(notes))


# --------------------------------------------------------------------------------------------------
# masks


def _share(fractions: Any, legend: Legend, keys: Sequence[str], inside: Any) -> Any:
    xp = xp_of(fractions)
    idx = [legend.keys.index(k) for k in keys]
    if not idx:
        return xp.zeros_like(inside, dtype=np.float64)
    sel = fractions[idx].astype(np.float64)
    tot = xp.where(xp.isnan(sel), 0.0, sel).sum(axis=0)
    ins = inside.astype(np.float64)
    return xp.where(ins > 0, tot / xp.where(ins > 0, ins, 1.0), 0.0)


def habitat_mask(fractions: Any, legend: Legend, keys: Sequence[str], inside: Any, min_fraction: float) -> Any:
    """Boolean mask: the classes ``keys`` cover at least ``min_fraction`` of the cell's part inside
    the area (cells outside the area are never habitat)."""
    share = _share(fractions, legend, keys, inside)
    return (share >= min_fraction - 1e-9) & (inside > 0)


def _barrier_np(share: np.ndarray, cell: float, min_width_m: float, min_fraction: float) -> np.ndarray:
    share = np.nan_to_num(np.asarray(share, dtype=np.float64), nan=0.0)
    cand = share >= min_fraction - 1e-9
    if min_width_m <= 0:
        return cand
    k = 2 * math.ceil(min_width_m / (2 * cell)) + 1
    # window mean over the cells that exist (a road running off the raster edge keeps its width)
    total = ndimage.uniform_filter(share, size=k, mode="constant", cval=0.0)
    count = ndimage.uniform_filter(np.ones_like(share), size=k, mode="constant", cval=0.0)
    return cand & (total / count >= min_width_m / (k * cell) - 1e-9)


def barrier_mask(barrier_share: Any, cell: float, min_width_m: float, min_fraction: float) -> Any:
    """CBI barrier cells: barrier-class cover >= ``min_fraction`` in a band at least ``min_width_m``
    wide (mean cover in the ``k x k`` window >= ``W/(k c)``, ``k = 2*ceil(W/(2c)) + 1``, the mean taken
    over the window cells that lie on the raster; see the module docstring). ``barrier_share`` is the
    barrier-class share per cell (0 outside the area)."""
    if is_dask(barrier_share):
        k = 2 * math.ceil(min_width_m / (2 * cell)) + 1 if min_width_m > 0 else 1
        return barrier_share.map_overlap(_barrier_np, depth=k // 2, boundary="none", dtype=bool, cell=cell,
                                         min_width_m=min_width_m, min_fraction=min_fraction)
    return _barrier_np(barrier_share, cell, min_width_m, min_fraction)


# --------------------------------------------------------------------------------------------------
# labelling


def _label_np(zones: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    """Label connected cells of equal non-zero zone value (numpy, in memory)."""
    zones = np.asarray(zones)
    st = _STRUCT[connectivity]
    if zones.dtype == bool:
        lab, n = ndimage.label(zones, structure=st)
        return lab.astype(np.int64), int(n)
    if zones.size and zones.min() < 0:
        raise InputDataError("Zone ids must be >= 0 (0 = background).")
    out = np.zeros(zones.shape, dtype=np.int64)
    n = 0
    if zones.size == 0 or zones.max() == 0:
        return out, 0
    for v, sl in enumerate(ndimage.find_objects(zones.astype(np.int64)), start=1):
        if sl is None:
            continue
        m = zones[sl] == v
        lab, k = ndimage.label(m, structure=st)
        view = out[sl]
        view[m] = lab[m] + n
        n += int(k)
    return out, n


def _label_dask(zones: Any, connectivity: int) -> tuple[Any, int]:
    """Chunk-wise labelling: label each chunk, offset its labels, then merge labels that touch across
    chunk borders (for 8-connectivity also diagonally) with a union-find (graph components)."""
    if zones.dtype != bool:
        zones = zones.astype(np.int64)
    nrb, ncb = zones.numblocks

    def _count(block: np.ndarray) -> np.ndarray:
        return np.array([[_label_np(block, connectivity)[1]]], dtype=np.int64)

    counts = zones.map_blocks(_count, chunks=((1,) * nrb, (1,) * ncb), dtype=np.int64,
                              meta=np.empty((0, 0), np.int64)).compute()
    flat = counts.ravel()
    offsets = (np.cumsum(flat) - flat).reshape(counts.shape)
    total = int(flat.sum())

    def _lab(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        loc = block_info[0]["chunk-location"]
        lab, _ = _label_np(block, connectivity)
        return np.where(lab > 0, lab + offsets[loc[0], loc[1]], 0)

    labels = zones.map_blocks(_lab, dtype=np.int64, meta=np.empty((0, 0), np.int64))
    if total == 0:
        return labels, 0
    pairs: list[np.ndarray] = []
    cuts = [(0, int(b)) for b in np.cumsum(zones.chunks[0])[:-1]] + [(1, int(b)) for b in np.cumsum(zones.chunks[1])[:-1]]
    strips = []
    for axis, b in cuts:
        sl_a = (slice(b - 1, b), slice(None)) if axis == 0 else (slice(None), slice(b - 1, b))
        sl_b = (slice(b, b + 1), slice(None)) if axis == 0 else (slice(None), slice(b, b + 1))
        strips += [labels[sl_a].ravel(), labels[sl_b].ravel(), zones[sl_a].ravel(), zones[sl_b].ravel()]
    strips = _compute(*strips) if strips else ()
    for i in range(0, len(strips), 4):
        la, lb, za, zb = strips[i:i + 4]
        cand = [(la, lb, za, zb)]
        if connectivity == 8:
            cand += [(la[:-1], lb[1:], za[:-1], zb[1:]), (la[1:], lb[:-1], za[1:], zb[:-1])]
        for a, b, x, y in cand:
            ok = (a > 0) & (b > 0) & (x == y)
            if ok.any():
                pairs.append(np.stack([a[ok], b[ok]], axis=1))
    lut = _components(total, np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64))
    return _take(lut, labels), int(lut.max())


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Lookup table ``lut[0..n]``: node -> component number (1..k), 0 -> 0, for an undirected graph on
    nodes 1..n with edges ``pairs``; components numbered in order of their smallest node."""
    if len(pairs) == 0:
        return np.arange(n + 1, dtype=np.int64)
    g = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n + 1, n + 1))
    _, comp = connected_components(g, directed=False)
    # renumber components by their smallest node (node 0 is its own component)
    _, first = np.unique(comp, return_index=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    lut = rank[comp].astype(np.int64)  # node 0 -> 0 because it is the smallest node
    return lut


def label_zones(zones: Any, connectivity: int = 8) -> tuple[Any, int]:
    """Label connected regions of equal non-zero value in an integer (or boolean) raster.

    Returns ``(labels, n)``: int64 labels 1..n (0 = background) and the number of regions. With a
    boolean mask this is ``scipy.ndimage.label``; with unit ids where habitat (0 elsewhere) it gives
    the patches cut at unit boundaries (CUT). numpy in memory, dask chunk by chunk (label numbers
    may differ between the two; the regions are the same).
    """
    if connectivity not in _STRUCT:
        raise ConfigError(f"connectivity must be 4 or 8, got {connectivity}.")
    if zones.ndim != 2:
        raise InputDataError(f"A 2-D raster is needed, got shape {zones.shape}.")
    if is_dask(zones):
        return _label_dask(zones, connectivity)
    return _label_np(np.asarray(zones), connectivity)


def label_patches(habitat: Any, connectivity: int = 8) -> tuple[Any, int]:
    """Habitat patches of a boolean mask (8-connected by default): ``(labels, n)``."""
    return label_zones(habitat.astype(bool), connectivity)


def patch_area_raster(habitat: Any, cell: float, valid: Any = None, connectivity: int = 8) -> Any:
    """Complete area (ha) of the patch each habitat cell belongs to; 0 for non-habitat cells, NaN
    where ``valid`` is False. Its mean over a unit is the CBC effective mesh size of the unit."""
    labels, n = label_patches(habitat, connectivity)
    (area,) = _compute(_bincount(labels, minlength=n + 1))
    area = area.astype(np.float64) * cell * cell / 1e4
    area[0] = 0.0
    out = _take(area, labels)
    if valid is not None:
        out = xp_of(out).where(valid, out, np.nan)
    return out.astype(np.float32)


def effective_mesh_size(areas: Sequence[float] | np.ndarray, total_area: float,
                        complete: Sequence[float] | np.ndarray | None = None) -> float:
    """``m_eff = sum_i A_i * A_i^cmpl / A_total`` in the units of the inputs (m^2 in -> m^2 out).

    Without ``complete`` this is Jaeger's CUT formula ``sum A_i^2 / A_total``.

    >>> effective_mesh_size([1.0, 2.0, 3.0], 10.0)
    1.4
    >>> effective_mesh_size([1.0], 10.0, complete=[5.0])
    0.5
    """
    a = np.asarray(areas, dtype=np.float64)
    c = a if complete is None else np.asarray(complete, dtype=np.float64)
    if total_area <= 0:
        return float("nan")
    return float(np.sum(a * c) / total_area)


# --------------------------------------------------------------------------------------------------
# patch metrics per unit


_METRIC_COLUMNS = ["area_ha", "habitat_ha", "habitat_share", "n_patches", "area_mn_ha", "lpi_pct", "te_m",
                   "ed_m_per_ha", "meff_cut_ha", "meff_cbc_ha"]


def patch_metrics_per_unit(habitat: Any, unit_ids: Any, cell: float, n_units: int | None = None,
                           connectivity: int = 8) -> pd.DataFrame:
    """Fragmentation metrics per reporting unit from a boolean habitat raster and a raster of unit
    ids (1..n, 0 = in no unit). See the module docstring for formulas and conventions.

    Columns: ``area_ha`` (unit area counted in cells), ``habitat_ha``, ``habitat_share``,
    ``n_patches`` (CUT pieces inside the unit), ``area_mn_ha`` (mean patch area, NaN without
    habitat), ``lpi_pct``, ``te_m`` (total edge), ``ed_m_per_ha``, ``meff_cut_ha`` and
    ``meff_cbc_ha``. Index: unit id 1..n.
    """
    if tuple(habitat.shape) != tuple(unit_ids.shape):
        raise InputDataError(f"Habitat raster {tuple(habitat.shape)} and unit raster {tuple(unit_ids.shape)} differ.")
    xp = xp_of(unit_ids) if is_dask(unit_ids) else xp_of(habitat)
    hab = habitat.astype(bool)
    uid = unit_ids.astype(np.int64)
    if n_units is None:
        (mx,) = _compute(uid.max())
        n_units = int(mx)
    if n_units < 1:
        return pd.DataFrame(columns=_METRIC_COLUMNS, index=pd.Index([], name="unit"))
    ca = cell * cell
    m = n_units + 1
    # global patches (for CBC) and pieces cut at unit boundaries (CUT)
    glab, ng = label_zones(hab, connectivity)
    (garea,) = _compute(_bincount(glab, minlength=ng + 1))
    garea = garea.astype(np.float64) * ca
    garea[0] = 0.0
    pieces_zone = xp.where(hab, uid, 0)
    clab, nc = label_zones(pieces_zone, connectivity)
    # edges between 4-neighbours of the same unit that differ in habitat
    eh = (uid[:, :-1] == uid[:, 1:]) & (hab[:, :-1] != hab[:, 1:])
    ev = (uid[:-1, :] == uid[1:, :]) & (hab[:-1, :] != hab[1:, :])
    # CBC numerator: sum_i A_i,in * A_i,cmpl = sum over habitat cells of (cell area * complete patch area)
    unit_cells, cbc_num, piece_cells, piece_uid_sum, e_h, e_v = _compute(
        _bincount(uid, minlength=m),
        _bincount(uid, weights=_take(garea, glab), minlength=m),
        _bincount(clab, minlength=nc + 1),
        _bincount(clab, weights=uid, minlength=nc + 1),
        _bincount(uid[:, :-1], weights=eh.astype(np.float64), minlength=m),
        _bincount(uid[:-1, :], weights=ev.astype(np.float64), minlength=m),
    )
    unit_cells = unit_cells[:m].astype(np.float64)
    a_unit = unit_cells * ca
    pc = piece_cells[1:].astype(np.float64)
    punit = np.rint(piece_uid_sum[1:] / np.maximum(pc, 1)).astype(np.int64)
    parea = pc * ca
    n_p = np.bincount(punit, minlength=m)[:m].astype(np.int64)
    hab_area = np.bincount(punit, weights=parea, minlength=m)[:m]
    sumsq = np.bincount(punit, weights=parea ** 2, minlength=m)[:m]
    largest = np.zeros(m)
    if len(punit):
        np.maximum.at(largest, punit, parea)
    te = (e_h[:m] + e_v[:m]) * cell
    with np.errstate(invalid="ignore", divide="ignore"):
        df = pd.DataFrame({
            "area_ha": a_unit / 1e4,
            "habitat_ha": hab_area / 1e4,
            "habitat_share": np.where(a_unit > 0, hab_area / a_unit, np.nan),
            "n_patches": n_p,
            "area_mn_ha": np.where(n_p > 0, hab_area / np.maximum(n_p, 1) / 1e4, np.nan),
            "lpi_pct": np.where(a_unit > 0, 100.0 * largest / a_unit, np.nan),
            "te_m": te,
            "ed_m_per_ha": np.where(a_unit > 0, te / a_unit * 1e4, np.nan),
            "meff_cut_ha": np.where(a_unit > 0, sumsq / a_unit / 1e4, np.nan),
            "meff_cbc_ha": np.where(a_unit > 0, ca * cbc_num[:m] / a_unit / 1e4, np.nan),
        })
    df.index.name = "unit"
    return df.iloc[1:]


def landscape_metrics(habitat: Any, valid: Any, cell: float, connectivity: int = 8) -> dict[str, float]:
    """The metrics of :func:`patch_metrics_per_unit` for the whole area (``valid`` = cells inside it)."""
    uid = valid.astype(np.int64)
    row = patch_metrics_per_unit(habitat & valid.astype(bool), uid, cell, n_units=1, connectivity=connectivity)
    return {k: float(v) for k, v in row.iloc[0].items()}


def rasterize_units(units: gpd.GeoDataFrame, grid: Grid, chunks: Any = None) -> Any:
    """Unit ids 1..n (row order of ``units``; 0 = no unit) on ``grid``, a cell belonging to the unit
    whose polygon holds its centre. ``chunks`` (e.g. ``ctx.fractions.chunks[1:]``) gives a dask array
    rasterised chunk by chunk."""
    from rasterio import features

    if units.crs is not None and not units.crs.equals(grid.crs):
        units = units.to_crs(grid.crs)
    geoms = list(units.geometry.values)
    if len(geoms) >= 2**31 - 1:
        raise InputDataError("Too many units to rasterise.")

    def _burn(sub: Grid) -> np.ndarray:
        import shapely

        box = shapely.box(*sub.bounds)
        shapes = [(g, i + 1) for i, g in enumerate(geoms) if g is not None and not g.is_empty and g.intersects(box)]
        if not shapes:
            return np.zeros(sub.shape, dtype=np.int32)
        return features.rasterize(shapes, out_shape=sub.shape, transform=sub.transform, fill=0, dtype="int32",
                                  all_touched=False)

    if chunks is None:
        return _burn(grid)
    import dask.array as da

    template = da.zeros(grid.shape, chunks=chunks, dtype=np.int32)

    def _block(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        (r0, _), (c0, _) = block_info[0]["array-location"]
        return _burn(grid.window(r0, c0, block.shape[0], block.shape[1]))

    return template.map_blocks(_block, dtype=np.int32, meta=np.empty((0, 0), np.int32))


# --------------------------------------------------------------------------------------------------
# CBI connectivity

_NEIGH = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def _shift(a: np.ndarray, dy: int, dx: int, fill: Any) -> np.ndarray:
    """``out[y, x] = a[y + dy, x + dx]`` (``fill`` where that falls outside)."""
    out = np.full_like(a, fill)
    h, w = a.shape
    ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    out[yd, xd] = a[ys, xs]
    return out


def _relax(source_labels: np.ndarray, passable: np.ndarray, cell: float, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Synchronous Bellman-Ford sweeps: geodesic distance (cell centre to centre, through passable
    cells, 8-neighbour steps, no corner-cutting between two impassable cells) to the nearest source
    cell (``source_labels > 0``) and that source's label. Deterministic: on ties the first neighbour in
    a fixed order wins, and a cell keeps its value unless a neighbour offers a strictly shorter one."""
    lab = np.where(source_labels > 0, source_labels, 0).astype(np.int64)
    dist = np.where(lab > 0, 0.0, np.inf)
    passable = np.asarray(passable, dtype=bool) | (lab > 0)
    steps = []
    for dy, dx in _NEIGH:
        w = cell * (math.sqrt(2.0) if dy and dx else 1.0)
        allowed = passable.copy()
        if dy and dx:  # no squeezing diagonally between two impassable cells
            allowed &= _shift(passable, dy, 0, False) | _shift(passable, 0, dx, False)
        allowed &= _shift(passable, dy, dx, False)
        steps.append((dy, dx, w, allowed))
    for _ in range(iters):
        best_d = dist.copy()
        best_l = lab.copy()
        for dy, dx, w, allowed in steps:
            nd = _shift(dist, dy, dx, np.inf) + w
            better = allowed & (nd < best_d - 1e-9)
            if better.any():
                best_d = np.where(better, nd, best_d)
                best_l = np.where(better, _shift(lab, dy, dx, 0), best_l)
        if np.array_equal(best_d, dist):
            break
        dist, lab = best_d, best_l
    return dist, lab


def geodesic_nearest(source_labels: Any, passable: Any, cell: float, max_dist: float) -> tuple[Any, Any]:
    """Distance (m, cell centre to centre) to, and label of, the nearest source cell through
    passable cells, exact for every cell closer than ``max_dist`` (farther cells may be inf or an
    over-estimate). numpy, or dask with a halo of ``ceil(max_dist / cell) + 1`` cells."""
    iters = int(math.ceil(max_dist / cell)) + 1
    if is_dask(source_labels) or is_dask(passable):
        import dask.array as da

        src = source_labels if is_dask(source_labels) else da.from_array(source_labels)
        src = src.rechunk(tuple(_merge_thin(c, iters) for c in src.chunks))
        pas = (passable if is_dask(passable) else da.from_array(passable)).rechunk(src.chunks)

        def _d(s: np.ndarray, p: np.ndarray) -> np.ndarray:
            return _relax(s, p, cell, iters)[0]

        def _lab(s: np.ndarray, p: np.ndarray) -> np.ndarray:
            return _relax(s, p, cell, iters)[1]

        depth = {ax: (iters if len(c) > 1 else 0) for ax, c in enumerate(src.chunks)}
        kw = {"depth": depth, "boundary": "none", "trim": True}
        dist = da.map_overlap(_d, src, pas, dtype=np.float64, **kw)
        lab = da.map_overlap(_lab, src, pas, dtype=np.int64, **kw)
        return dist, lab
    return _relax(np.asarray(source_labels), np.asarray(passable), cell, iters)


def _pairs_np(near: np.ndarray, dist: np.ndarray, bar: np.ndarray, cell: float, gap_m: float,
              region: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Pairs of patch labels ``(a, b)`` connected by a gap ``< gap_m``: for neighbouring non-barrier
    cells p, q whose nearest patches differ, gap = d(p) + |pq| + d(q) - cell. Only cells p inside
    ``region = (r0, r1, c0, c1)`` are looked at (q may lie outside it)."""
    h, w = near.shape
    r0, r1, c0, c1 = region if region is not None else (0, h, 0, w)
    out = []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        step = cell * (math.sqrt(2.0) if dy and dx else 1.0)
        ya, yb = r0, min(r1, h - dy)
        xa, xb = max(c0, -dx), min(c1, w - max(dx, 0))
        if ya >= yb or xa >= xb:
            continue
        pa, pb = (slice(ya, yb), slice(xa, xb)), (slice(ya + dy, yb + dy), slice(xa + dx, xb + dx))
        la, lb = near[pa], near[pb]
        ok = (la > 0) & (lb > 0) & (la != lb) & ~bar[pa] & ~bar[pb] & (dist[pa] + step + dist[pb] - cell < gap_m - 1e-9)
        if dy and dx:  # no corner-cutting between two barrier cells
            c_a = bar[slice(ya, yb), slice(xa + dx, xb + dx)]  # (y, x + dx)
            c_b = bar[slice(ya + dy, yb + dy), slice(xa, xb)]  # (y + dy, x)
            ok &= ~c_a | ~c_b
        if ok.any():
            out.append(np.stack([la[ok], lb[ok]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)


def _merge_thin(chunks: tuple[int, ...], depth: int) -> tuple[int, ...]:
    """Merge chunks thinner than ``depth`` into their neighbour (so a halo of ``depth`` fits).

    >>> _merge_thin((23, 23, 23, 1), 12), _merge_thin((5,) * 14, 12)
    ((23, 23, 24), (15, 15, 15, 25))
    """
    out: list[int] = []
    acc = 0
    for c in chunks:
        acc += c
        if acc >= depth:
            out.append(acc)
            acc = 0
    if acc:
        if out:
            out[-1] += acc
        else:
            out.append(acc)
    return tuple(out)


def _connection_pairs(labels: Any, bar: Any, cell: float, gap_m: float) -> np.ndarray:
    """All connected patch pairs (numpy in memory; dask: one task per chunk, relaxation and pair
    search on the chunk with a halo of ``ceil(gap/cell) + 2`` cells)."""
    iters = int(math.ceil(gap_m / cell)) + 1
    if not (is_dask(labels) or is_dask(bar)):
        dist, near = _relax(np.asarray(labels), ~np.asarray(bar, dtype=bool), cell, iters)
        return _pairs_np(near, dist, np.asarray(bar, dtype=bool), cell, gap_m)
    import dask
    import dask.array as da

    depth = iters + 1
    lab = labels if is_dask(labels) else da.from_array(labels)
    lab = lab.rechunk(tuple(_merge_thin(c, depth) for c in lab.chunks))
    b = (bar if is_dask(bar) else da.from_array(bar)).astype(bool).rechunk(lab.chunks)
    halo = {ax: (depth if len(c) > 1 else 0) for ax, c in enumerate(lab.chunks)}  # chunks are >= depth thick
    lab_o = da.overlap.overlap(lab, depth=halo, boundary="none")
    bar_o = da.overlap.overlap(b, depth=halo, boundary="none")
    nrb, ncb = lab.numblocks

    def _block(lb: np.ndarray, bb: np.ndarray, i: int, j: int) -> np.ndarray:
        top, left = (halo[0] if i > 0 else 0), (halo[1] if j > 0 else 0)
        h, w = lab.chunks[0][i], lab.chunks[1][j]
        dist, near = _relax(lb, ~bb, cell, iters)
        return _pairs_np(near, dist, bb, cell, gap_m, (top, top + h, left, left + w))

    tasks = [dask.delayed(_block)(lab_o.blocks[i, j], bar_o.blocks[i, j], i, j)
             for i in range(nrb) for j in range(ncb)]
    parts = [p for p in dask.compute(*tasks) if len(p)]
    return np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)


@dataclass
class CbiResult:
    """CBI indicator 2 for the whole area."""

    meff_ha: float  # sum A_g^2 / A_natural (ha); NaN without natural area
    natural_ha: float
    n_patches: int
    n_groups: int
    score: int | None
    group_area: Any  # (H, W) float32: ha of the connected group each natural cell belongs to, NaN elsewhere
    groups: pd.DataFrame  # one row per group: area_ha, n_patches


def cbi_score(meff_ha: float, thresholds: Sequence[float]) -> int | None:
    """Points 0-4: the number of thresholds (ha) that ``meff_ha`` exceeds (None for NaN).

    >>> cbi_score(150, (200, 500, 1000, 1500)), cbi_score(501, (200, 500, 1000, 1500))
    (0, 2)
    """
    if not np.isfinite(meff_ha):
        return None
    return int(sum(meff_ha > t for t in thresholds))


def cbi_connectivity(natural: Any, barrier: Any, cell: float, gap_m: float = 100.0, min_patch_m2: float = 0.0,
                     thresholds: Sequence[float] = (200.0, 500.0, 1000.0, 1500.0), valid: Any = None) -> CbiResult:
    """Effective mesh size of natural areas with the CBI connection rule (see the module docstring).

    ``natural`` and ``barrier`` are boolean rasters (a natural cell is never a barrier); patches are
    8-connected; two patches whose gap through non-barrier cells is ``< gap_m`` are connected.
    """
    nat = natural.astype(bool)
    bar = barrier.astype(bool) & ~nat
    labels, n = label_patches(nat, 8)
    (cells,) = _compute(_bincount(labels, minlength=n + 1))
    parea = cells.astype(np.float64) * cell * cell
    parea[0] = 0.0
    keep = parea >= min_patch_m2
    keep[0] = False
    if not keep[1:].all():
        labels = _take(np.where(keep, np.arange(n + 1), 0), labels)
    pairs = _connection_pairs(labels, bar, cell, gap_m)
    edges = np.unique(pairs, axis=0) if len(pairs) else np.zeros((0, 2), np.int64)
    lut = _components(n, edges)
    lut[~keep] = 0
    # renumber groups densely
    used = np.unique(lut[lut > 0])
    dense = np.zeros(int(lut.max()) + 1, dtype=np.int64)
    dense[used] = np.arange(1, len(used) + 1)
    gid = dense[lut]
    ng = len(used)
    garea = np.bincount(gid, weights=parea, minlength=ng + 1)
    gnp = np.bincount(gid, weights=keep.astype(np.float64), minlength=ng + 1)
    garea[0] = 0.0
    a_nat = float(parea[keep].sum())
    meff = float(np.sum(garea[1:] ** 2) / a_nat / 1e4) if a_nat > 0 else float("nan")
    area_lut = np.concatenate([[np.nan], garea[1:] / 1e4])[gid]
    group_area = _take(area_lut.astype(np.float32), labels)
    if valid is not None:
        group_area = xp_of(group_area).where(valid, group_area, np.nan)
    groups = pd.DataFrame({"area_ha": garea[1:] / 1e4, "n_patches": gnp[1:].astype(int)},
                          index=pd.RangeIndex(1, ng + 1, name="group"))
    return CbiResult(meff, a_nat / 1e4, int(keep[1:].sum()), ng, cbi_score(meff, thresholds), group_area, groups)


# --------------------------------------------------------------------------------------------------
# entry point


def compute(ctx: IndicatorContext) -> list[IndicatorResult]:
    """Habitat patches (connected area raster, per-unit CUT/CBC effective mesh size and patch
    metrics) and CBI indicator 2 (connected natural area raster, score) for the area."""
    p = load_params(ctx.legend, ctx.params_dir)
    cell = float(ctx.grid.cell)
    fr, inside, legend = ctx.fractions, ctx.inside, ctx.legend
    xp = xp_of(fr)
    valid = inside > 0
    notes = list(p.notes)
    hab = habitat_mask(fr, legend, p.habitat, inside, p.habitat_min_fraction)
    patch_area = patch_area_raster(hab, cell, valid)
    whole = landscape_metrics(hab, valid, cell)
    layers: dict[str, gpd.GeoDataFrame] = {}
    chunks = fr.chunks[1:] if is_dask(fr) else None
    for level, ug in (ctx.units or {}).items():
        if ug is None or len(ug) == 0:
            continue
        uid = rasterize_units(ug, ctx.grid, chunks=chunks)
        uid = xp.where(valid, uid, 0)
        df = patch_metrics_per_unit(hab, uid, cell, n_units=len(ug))
        keep = [c for c in ("code", "name", "level", "parent_code") if c in ug.columns]
        out = gpd.GeoDataFrame(ug[keep].reset_index(drop=True), geometry=ug.geometry.values, crs=ug.crs)
        for c in df.columns:
            out[c] = df[c].to_numpy()
        empty = int((df["area_ha"] == 0).sum())
        if empty:
            notes.append(f"{empty} {level} unit(s) hold no cell centre of the grid: their fragmentation metrics are NaN")
            for c in df.columns:
                out.loc[df["area_ha"].to_numpy() == 0, c] = np.nan
        layers[f"fragmentation_{level}"] = out
    summary = pd.DataFrame([{"metric": k, "value": v} for k, v in whole.items()])
    hab_cat = xp.where(valid, hab.astype(np.float32), np.nan)
    # CBI indicator 2
    nat = habitat_mask(fr, legend, p.cbi_natural, inside, p.natural_min_fraction)
    bshare = _share(fr, legend, p.cbi_barrier, inside)
    bar = barrier_mask(bshare, cell, p.barrier_min_width_m, p.barrier_min_fraction) & valid & ~nat
    cbi = cbi_connectivity(nat, bar, cell, p.gap_m, p.min_patch_m2, p.score_thresholds_ha, valid)
    cbi_table = pd.DataFrame([
        {"item": "meff_natural_ha", "value": cbi.meff_ha, "note": "sum of squared group areas / natural area"},
        {"item": "score_0_4", "value": cbi.score, "note": f"thresholds {list(p.score_thresholds_ha)} ha (ev R)"},
        {"item": "natural_ha", "value": cbi.natural_ha, "note": f"classes {list(p.cbi_natural)}"},
        {"item": "n_patches", "value": cbi.n_patches, "note": "8-connected natural patches"},
        {"item": "n_groups", "value": cbi.n_groups, "note": f"patches with a gap < {p.gap_m:g} m not crossing a barrier"},
        {"item": "barrier_classes", "value": None, "note": ", ".join(p.cbi_barrier)},
        {"item": "barrier_min_width_m", "value": p.barrier_min_width_m, "note": "roads narrower than this are not barriers"},
    ])
    cbi_notes = ["CBI connectivity follows the User's Manual (2014) rule as implemented in biostress (see the "
                 "module documentation): traffic volumes are unknown, so narrow busy roads are not barriers; water is "
                 "neither natural area nor barrier by default"]
    if not np.isfinite(cbi.meff_ha):
        cbi_notes.append("no natural area (CBI classes) in the area: the CBI connectivity is not defined")
    network = xp.where(valid, xp.where(nat, 1.0, xp.where(bar, 2.0, 0.0)), np.nan).astype(np.float32)
    return [
        IndicatorResult(
            "habitat_patch_area", patch_area, "ha",
            "Area of the whole habitat patch (8-connected) that each habitat cell belongs to, 0 for non-habitat "
            "cells; its mean over a unit is the effective mesh size with cross-boundary connections (Moser et al. "
            "2007)", "Connected habitat area (effective mesh size per unit)",
            "Aaneengesloten leefgebied (effectieve maaswijdte per gebied)", palette="good_high", vmin=0.0,
            summarise=("mean",), layers=layers, tables={"summary": summary}, notes=notes),
        IndicatorResult(
            "fragmentation_habitat", hab_cat, "class",
            f"Habitat mask used for the fragmentation metrics: classes {list(p.habitat)} covering at least "
            f"{p.habitat_min_fraction:g} of the cell", "Habitat mask (fragmentation)", "Leefgebied (versnippering)",
            palette="categorical", categories=[(0, "not habitat / geen leefgebied", "#e0e0e0"),
                                               (1, "habitat / leefgebied", "#1a9850")], summarise=("mean",)),
        IndicatorResult(
            "cbi_connected_natural_area", cbi.group_area, "ha",
            f"Area of the connected group of natural areas (CBI indicator 2: patches less than {p.gap_m:g} m apart "
            "and not separated by a barrier) each natural cell belongs to; NaN elsewhere. Its mean over a unit is "
            "the CBI effective mesh size of the unit's natural areas (cross-boundary connections)",
            "Connected natural area (CBI indicator 2)", "Verbonden natuurgebied (CBI-indicator 2)",
            palette="good_high", vmin=0.0, summarise=("mean",), tables={"cbi_indicator2": cbi_table,
                                                                      "cbi_groups": cbi.groups.reset_index()},
            notes=cbi_notes),
        IndicatorResult(
            "cbi_network", network, "class",
            "Natural areas and barriers as used for CBI indicator 2", "CBI natural areas and barriers",
            "CBI natuurgebied en barrières", palette="categorical",
            categories=[(0, "other / overig", "#f0f0f0"), (1, "natural area / natuurgebied", "#1b7837"),
                        (2, "barrier / barrière", "#b2182b")], summarise=("mean",)),
    ]
