"""Guide species (gidssoorten / ecoprofiles): habitat suitability, habitat networks and the
stressor that limits suitability, per species.

Table: ``data/params/guide_species.yaml`` (validated; an area's own copy in ``params_dir``
overrides it). Every value has an ``ev`` mark (V/S/R/P) and a ``source`` from the knowledge base
section 1 (species table KB 1b, BST stress factors KB 1a, LARCH KB 1c).

Per species and cell ``x``:

1. **Class suitability** (0-1), the cover-weighted mean of the class weights over the part of
   the cell inside the area::

       H(x) = sum_k w_k f_k(x) / sum_k f_k(x)

   NaN outside the area and where more than ``max_unknown_share`` of the inside part is
   ``unknown`` (no source): missing land cover is not guessed.
2. **Stressor penalties.** Each stressor ``s`` is turned into an intensity ``I_s(x)`` in 0-1 by
   a linear ramp from ``zero_at`` to ``full_at`` (table ``stressors``). Inputs:

   * ``light``: ``ctx.rasters['light']`` (index 0-1), else the disturbance light proxy;
   * ``noise``: ``ctx.rasters['noise']`` (dB(A)), else the disturbance road-noise proxy;
   * ``heat``: ``ctx.rasters['heat']`` (heat-stress index 0-1, e.g. ``1 - heat_mitigation``),
     else not applied;
   * ``drought``: ``ctx.rasters['drought']`` (index 0-1, e.g. ``drought_vulnerability``), else not
     applied;
   * ``roads``: share of road and rail cover within 50 m (barrier and collision risk);
   * ``paving``: share of sealed cover within 100 m.

   The penalty is ``p_s(x) = P[rating_s] * I_s(x)`` with the species' sensitivity rating
   (H/M/L/?) and the maximum loss per rating ``P`` (H 0.8, M 0.4, L 0.1, ? 0: ev P).
3. **Suitability** ``S(x) = H(x) * prod_s (1 - p_s(x))``.
4. **Limiting stressor** = ``argmax_s p_s(x)`` (categorical; 0 = none when the largest penalty is
   below ``min_limiting_penalty``), where ``H(x) > 0``.
5. **Habitat patches**: 8-connected cells with ``S >= threshold``.
6. **Networks**: single linkage of patches whose edge-to-edge gap is at most the species'
   dispersal distance ``D``. The gap between two cells is their centre distance minus one cell
   (exact along rows and columns; on diagonals it is up to 0.41 cell larger than the gap between
   the cell corners, i.e. slightly conservative). Implemented with a Euclidean distance transform:
   every cell gets its nearest patch cell; neighbouring cells with different nearest patches give
   the candidate links, kept when the centre distance of the two patch cells is <= ``D + c``.
7. **Key population**: a network is large enough for a key population when its patch area
   (cell area times the share inside the area, ha) is at least the species' key-population area
   (LARCH key-patch approach, V for the concept; the areas themselves are mostly R/P).

Suitability, penalties and the limiting stressor are element-wise or neighbourhood operations on
numpy or dask arrays (halo = radius via ``dask.array.map_overlap``). Patches and networks are a
global operation: they are computed in memory on the (boolean) patch mask.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from rasterio import features
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from ..errors import ConfigError
from ..grid import Grid
from ..landcover.legend import Legend
from . import disturbance
from .base import IndicatorContext, IndicatorResult, params_path
from .common import OUTSIDE, focal_mean, is_dask, like, mask_outside, where

SPECIES_FILE = "guide_species.yaml"
EIGHT = np.ones((3, 3), dtype=bool)
EV = Literal["V", "S", "R", "P"]
RATING = Literal["H", "M", "L", "?"]
STRESSOR_COLOURS = ["#f0f0f0", "#fdd835", "#8e24aa", "#424242", "#9e9e9e", "#e53935", "#a1887f",
                    "#1e88e5", "#43a047", "#fb8c00", "#00acc1"]


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Sourced(_Model):
    value: float
    ev: EV
    source: str = Field(min_length=1)
    note: str = ""


class Rating(_Model):
    rating: RATING
    ev: EV
    source: str = Field(min_length=1)
    note: str = ""


class Habitat(_Model):
    weights: dict[str, float]
    ev: EV
    source: str = Field(min_length=1)
    note: str = ""

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in v.items() if not (0.0 <= w <= 1.0)}
        if bad:
            raise ValueError(f"class weights must be between 0 and 1: {bad}")
        if not any(w > 0 for w in v.values()):
            raise ValueError("at least one class weight must be above 0")
        return v


class Penalty(_Model):
    H: float = Field(ge=0, le=1)
    M: float = Field(ge=0, le=1)
    L: float = Field(ge=0, le=1)
    unknown: float = Field(alias="?", ge=0, le=1)
    ev: EV
    source: str = Field(min_length=1)
    note: str = ""

    def of(self, rating: str) -> float:
        return {"H": self.H, "M": self.M, "L": self.L, "?": self.unknown}[rating]


class Stressor(_Model):
    input: Literal["raster", "landcover_share"]
    raster: str | None = None
    derive: Literal["light_proxy", "noise_road_proxy"] | None = None
    classes: list[str] = []
    radius_m: float | None = Field(None, gt=0)
    units: str
    zero_at: float
    full_at: float
    ev: EV
    source: str = Field(min_length=1)
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Stressor:
        if self.full_at == self.zero_at:
            raise ValueError("full_at must differ from zero_at")
        if self.input == "raster" and not self.raster:
            raise ValueError("input 'raster' needs 'raster' (the key in ctx.rasters)")
        if self.input == "landcover_share" and (not self.classes or self.radius_m is None):
            raise ValueError("input 'landcover_share' needs 'classes' and 'radius_m'")
        return self


class Species(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_nl: str
    name_en: str
    sci: str
    habitat: Habitat
    key_area_ha: Sourced
    dispersal_m: Sourced
    suitability_threshold: Sourced | None = None
    sensitivity: dict[str, Rating]

    @model_validator(mode="after")
    def _check(self) -> Species:
        if self.key_area_ha.value <= 0:
            raise ValueError("key_area_ha must be above 0")
        if self.dispersal_m.value < 0:
            raise ValueError("dispersal_m must not be negative")
        if self.suitability_threshold is not None and not 0 < self.suitability_threshold.value <= 1:
            raise ValueError("suitability_threshold must be in (0, 1]")
        return self


class Defaults(_Model):
    suitability_threshold: Sourced
    min_limiting_penalty: Sourced
    max_unknown_share: Sourced
    penalty: Penalty


class SpeciesTable(_Model):
    version: Literal[1]
    defaults: Defaults
    stressors: dict[str, Stressor]
    species: list[Species] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> SpeciesTable:
        ids = [s.id for s in self.species]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"species ids repeated: {dup}")
        for name in self.stressors:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"stressor name {name!r} must be lower_snake_case")
        for s in self.species:
            missing = [n for n in self.stressors if n not in s.sensitivity]
            if missing:
                raise ValueError(f"species {s.id}: no sensitivity rating for {missing} (use '?' if unknown)")
        if len(self.stressors) > len(STRESSOR_COLOURS) - 1:
            raise ValueError(f"at most {len(STRESSOR_COLOURS) - 1} stressors")
        return self

    def threshold(self, sp: Species) -> float:
        return (sp.suitability_threshold or self.defaults.suitability_threshold).value


def load_species_table(params_dir: Path | str | None = None, legend: Legend | None = None) -> SpeciesTable:
    """Read and validate the guide-species YAML. With ``legend``, every class key (habitat
    weights, stressor classes) must be a legend key. Raises :class:`ConfigError`."""
    p = params_path(SPECIES_FILE, params_dir)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"Cannot read the guide-species table {p}: {e}") from e
    try:
        table = SpeciesTable.model_validate(doc)
    except ValidationError as e:
        msgs = "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()[:8])
        raise ConfigError(f"The guide-species table {p} is invalid: {msgs}",
                          hint="Every value needs ev (V/S/R/P) and a source; see the shipped table.") from None
    if legend is not None:
        for sp in table.species:
            for k in sp.habitat.weights:
                if k not in legend.keys:
                    raise ConfigError(f"{p}: species {sp.id} weights the unknown land-cover class {k!r}.",
                                      hint=f"Use classes of the legend {legend.path}: {', '.join(legend.keys)}")
        for name, st in table.stressors.items():
            for k in st.classes:
                if k not in legend.keys:
                    raise ConfigError(f"{p}: stressor {name} uses the unknown land-cover class {k!r}.")
    return table


# --------------------------------------------------------------------------------------------
# suitability and stressors (numpy or dask)
# --------------------------------------------------------------------------------------------

def _suitability_block(fr: np.ndarray, w: np.ndarray, unknown: int, max_unknown_share: float) -> np.ndarray:
    fr = np.asarray(fr, dtype=np.float64)
    total = fr.sum(axis=0)
    num = np.einsum("k,kij->ij", w, np.nan_to_num(fr, nan=0.0))  # no BLAS: safe inside dask threads
    ok = np.isfinite(total) & (total > 0)
    safe = np.where(ok, total, 1.0)
    h = np.where(ok, num / safe, np.nan)
    if unknown >= 0:
        h = np.where(np.nan_to_num(fr[unknown], nan=0.0) > max_unknown_share * safe, np.nan, h)
    return h.astype(np.float32)


def class_suitability(fractions: Any, keys: list[str], weights: dict[str, float],
                      max_unknown_share: float = 0.5) -> Any:
    """``H = sum_k w_k f_k / sum_k f_k`` (0-1) over the part of the cell inside the area; NaN
    outside, where no class has cover, or where ``unknown`` exceeds ``max_unknown_share``."""
    w = np.array([weights.get(k, 0.0) for k in keys], dtype=np.float64)
    unknown = keys.index("unknown") if "unknown" in keys else -1
    if is_dask(fractions):
        fr = fractions.rechunk({0: -1})
        return da.map_blocks(_suitability_block, fr, w, unknown, max_unknown_share, drop_axis=0,
                             dtype=np.float32, meta=np.empty((0, 0), np.float32))
    return _suitability_block(fractions, w, unknown, max_unknown_share)


def ramp(x: Any, zero_at: float, full_at: float) -> Any:
    """Intensity 0-1: ``clip((x - zero_at) / (full_at - zero_at), 0, 1)``; NaN -> 0."""
    r = (x - zero_at) / (full_at - zero_at)
    r = where(np.isfinite(r), r, 0.0)
    return da.clip(r, 0.0, 1.0) if is_dask(r) else np.clip(r, 0.0, 1.0)


def tidy_intensity(x: Any) -> Any:
    """Round an intensity to 1e-9 and store it as float32, the same way for numpy and dask: FFT
    rounding (~1e-16) then cannot move a value across a threshold differently in the chunked and
    in-memory runs (e.g. a disc share of exactly 0.15 giving a penalty of exactly 0.05)."""
    return (da.round(x, 9) if is_dask(x) else np.round(x, 9)).astype(np.float32)


def landcover_share(fractions: Any, keys: list[str], classes: list[str], cell: float, radius_m: float) -> Any:
    """Mean share (of the inside part of each cell) of ``classes`` within ``radius_m``."""
    total = fractions.sum(axis=0)
    part = None
    for k in classes:
        f = fractions[keys.index(k)]
        term = where(np.isfinite(f), f, 0.0)
        part = term if part is None else part + term
    share = where(np.isfinite(total) & (total > 0), part / where(total > 0, total, 1.0), np.nan)
    return focal_mean(share, cell, radius_m)


def stressor_intensities(ctx: IndicatorContext, table: SpeciesTable) -> tuple[dict[str, Any], list[str]]:
    """Intensity 0-1 of every stressor of the table (``None`` = no input: not applied), and notes
    saying where each came from."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    dparams = None
    for name, st in table.stressors.items():
        if st.input == "landcover_share":
            share = landcover_share(ctx.fractions, ctx.legend.keys, st.classes, ctx.grid.cell, st.radius_m or 0.0)
            out[name] = tidy_intensity(ramp(share, st.zero_at, st.full_at))
            continue
        arr = ctx.rasters.get(st.raster or "")
        if arr is not None:
            if tuple(arr.shape) != ctx.grid.shape:
                raise ConfigError(f"The raster '{st.raster}' has shape {tuple(arr.shape)}, the grid {ctx.grid.shape}.")
            out[name] = tidy_intensity(ramp(arr, st.zero_at, st.full_at))
            notes.append(f"Stressor {name}: ctx.rasters['{st.raster}'] ({st.units}).")
        elif st.derive is not None:
            dparams = dparams or disturbance.load_params(ctx.params_dir, ctx.legend)
            if st.derive == "light_proxy":
                arr = disturbance.light_proxy_from_context(ctx, dparams)
            else:
                arr, _ = disturbance.noise_proxy_from_context(ctx, dparams)
            out[name] = tidy_intensity(ramp(arr, st.zero_at, st.full_at))
            notes.append(f"Stressor {name}: no '{st.raster}' raster supplied; the disturbance {st.derive} "
                         "(a proxy from land cover) is used.")
        else:
            out[name] = None
            notes.append(f"Stressor {name}: no '{st.raster}' raster supplied; not applied.")
    return out, notes


def species_penalties(sp: Species, intensities: dict[str, Any], penalty: Penalty) -> dict[str, Any]:
    """``p_s = P[rating_s] * I_s`` per stressor (``None`` where the stressor has no input or the
    maximum penalty of the rating is 0)."""
    out: dict[str, Any] = {}
    for name, inten in intensities.items():
        pmax = penalty.of(sp.sensitivity[name].rating)
        out[name] = None if inten is None or pmax <= 0 else inten * pmax
    return out


def apply_penalties(h: Any, penalties: dict[str, Any]) -> Any:
    """``S = H * prod_s (1 - p_s)``."""
    s = h
    for p in penalties.values():
        if p is not None:
            s = s * (1.0 - p)
    return s.astype(np.float32)


def limiting_stressor(h: Any, penalties: dict[str, Any], min_penalty: float) -> Any:
    """Category per cell: ``i + 1`` for the stressor (in table order) with the largest penalty,
    0 when that penalty is below ``min_penalty``; NaN where ``H`` is NaN or 0."""
    names = list(penalties)
    zero = h * 0.0
    stack_in = [zero if penalties[n] is None else penalties[n] + zero for n in names]
    if not stack_in:
        return where(np.isfinite(h) & (h > 0), np.float32(0), np.float32(np.nan))
    if is_dask(h) or any(is_dask(a) for a in stack_in):
        st = da.stack([da.asarray(a) for a in stack_in])
        arg, mx = da.argmax(st, axis=0), da.max(st, axis=0)
    else:
        st = np.stack(stack_in)
        arg, mx = np.argmax(st, axis=0), np.max(st, axis=0)
    cat = where(mx >= min_penalty, arg + 1, 0).astype(np.float32)
    return where(np.isfinite(h) & (h > 0), cat, np.nan).astype(np.float32)


def species_rasters(fractions: Any, dominant: Any, keys: list[str], sp: Species, intensities: dict[str, Any],
                    defaults: Defaults) -> tuple[Any, Any]:
    """Suitability ``S`` and limiting-stressor category of one species, NaN outside the area
    (``dominant == 255``). One fused block function (numpy, or one dask task per chunk) built from
    :func:`class_suitability`, :func:`species_penalties`, :func:`apply_penalties` and
    :func:`limiting_stressor`."""
    w = np.array([sp.habitat.weights.get(k, 0.0) for k in keys], dtype=np.float64)
    unknown = keys.index("unknown") if "unknown" in keys else -1
    names = list(intensities)
    used = [n for n in names if intensities[n] is not None and defaults.penalty.of(sp.sensitivity[n].rating) > 0]

    def block(fr: np.ndarray, dom: np.ndarray, *ints: np.ndarray) -> np.ndarray:
        h = _suitability_block(fr, w, unknown, defaults.max_unknown_share.value)
        given = dict(zip(used, ints, strict=True))
        pens = species_penalties(sp, {n: given.get(n) for n in names}, defaults.penalty)
        out = np.stack([apply_penalties(h, pens), limiting_stressor(h, pens, defaults.min_limiting_penalty.value)])
        out[:, np.asarray(dom) == OUTSIDE] = np.nan
        return out

    ints = [intensities[n] for n in used]
    if is_dask(fractions) or is_dask(dominant) or any(is_dask(x) for x in ints):
        fr = da.asarray(fractions).rechunk({0: -1})
        args: list[Any] = [fr, "kij", da.asarray(dominant), "ij"]
        for x in ints:
            args += [da.asarray(x), "ij"]
        out = da.blockwise(block, "bij", *args, new_axes={"b": 2}, concatenate=True, dtype=np.float32,
                           meta=np.empty((0, 0, 0), np.float32))
    else:
        out = block(np.asarray(fractions), np.asarray(dominant), *[np.asarray(x) for x in ints])
    return out[0], out[1]


# --------------------------------------------------------------------------------------------
# patches and networks (numpy, in memory)
# --------------------------------------------------------------------------------------------

def habitat_patches(suitability: np.ndarray, threshold: float) -> tuple[np.ndarray, int]:
    """8-connected patches of ``suitability >= threshold``: labels (int32, 0 = none) and count."""
    s = np.asarray(suitability, dtype=np.float64)
    mask = np.isfinite(s) & (s >= threshold)
    labels, n = ndimage.label(mask, structure=EIGHT)
    return labels.astype(np.int32), int(n)


def _shift_pairs(a: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = a.shape[-2:]
    c0, c1 = max(0, -dx), w - max(0, dx)
    return a[..., 0:h - dy, c0:c1], a[..., dy:h, c0 + dx:c1 + dx]


def link_patches(labels: np.ndarray, n: int, cell: float, dispersal_m: float) -> tuple[np.ndarray, int]:
    """Single-linkage networks of patches whose gap (centre distance - one cell) is <= ``dispersal_m``.

    Returns ``network_of`` (length ``n + 1``; ``network_of[patch]`` = network id 1..m, index 0 = 0)
    and ``m``. Candidate links come from the discrete Voronoi diagram of the patch cells (nearest
    patch cell of every cell from ``scipy.ndimage.distance_transform_edt``): two 8-neighbouring
    cells whose nearest patch cells belong to different patches propose a link with the centre
    distance of those two patch cells.
    """
    if n == 0:
        return np.zeros(1, dtype=np.int32), 0
    if n == 1:
        return np.array([0, 1], dtype=np.int32), 1
    limit = (dispersal_m + cell) / cell  # in cells, centre to centre
    iy, ix = ndimage.distance_transform_edt(labels == 0, return_distances=False, return_indices=True)
    near = labels[iy, ix]
    a_list, b_list = [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        la, lb = _shift_pairs(near, dy, dx)
        diff = la != lb
        if not diff.any():
            continue
        ya, yb = _shift_pairs(iy, dy, dx)
        xa, xb = _shift_pairs(ix, dy, dx)
        d2 = (ya[diff].astype(np.int64) - yb[diff]) ** 2 + (xa[diff].astype(np.int64) - xb[diff]) ** 2
        keep = d2 <= limit * limit + 1e-9
        a_list.append(la[diff][keep])
        b_list.append(lb[diff][keep])
    a = np.concatenate(a_list) if a_list else np.zeros(0, np.int32)
    b = np.concatenate(b_list) if b_list else np.zeros(0, np.int32)
    g = sparse.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n + 1, n + 1)).tocsr()
    _, comp = csgraph.connected_components(g, directed=False)
    comp = comp[1:]
    # renumber 1..m in order of the first patch of each network
    _, first = np.unique(comp, return_index=True)
    order = np.argsort(np.argsort(first))
    remap = np.empty(comp.max() + 1, dtype=np.int32)
    remap[np.unique(comp)] = order + 1
    return np.concatenate([[0], remap[comp]]).astype(np.int32), int(len(first))


@dataclass
class Networks:
    """Patches and networks of one species on the grid."""

    patch_labels: np.ndarray  # int32, 0 = not habitat
    network_of_patch: np.ndarray  # network id per patch label
    network_ids: np.ndarray  # int32 per cell, 0 = not habitat
    table: pd.DataFrame  # per network: network_id, n_patches, area_ha, effective_area_ha, key_population
    status: np.ndarray  # float32: 0 not habitat, 1 network below key area, 2 at or above; NaN outside


def species_networks(suitability: np.ndarray, threshold: float, cell: float, dispersal_m: float,
                     key_area_ha: float, inside: np.ndarray | None = None) -> Networks:
    """Patches, networks and key-population test for one species (see the module docstring)."""
    s = np.asarray(suitability, dtype=np.float64)
    labels, n = habitat_patches(s, threshold)
    net_of, m = link_patches(labels, n, cell, dispersal_m)
    ins = np.ones(s.shape) if inside is None else np.nan_to_num(np.asarray(inside, dtype=np.float64))
    ha = cell * cell / 10000.0
    flat = labels.ravel()
    patch_area = np.bincount(flat, weights=ins.ravel() * ha, minlength=n + 1)
    patch_eff = np.bincount(flat, weights=(ins * np.nan_to_num(s)).ravel() * ha, minlength=n + 1)
    net_area = np.bincount(net_of[1:], weights=patch_area[1:], minlength=m + 1)
    net_eff = np.bincount(net_of[1:], weights=patch_eff[1:], minlength=m + 1)
    net_npatch = np.bincount(net_of[1:], minlength=m + 1)
    viable = net_area >= key_area_ha - 1e-9
    table = pd.DataFrame({"network_id": np.arange(1, m + 1, dtype=np.int32), "n_patches": net_npatch[1:],
                          "area_ha": net_area[1:], "effective_area_ha": net_eff[1:],
                          "key_population": viable[1:]})
    network_ids = net_of[labels]
    status = np.where(network_ids > 0, np.where(viable[network_ids], 2.0, 1.0), 0.0).astype(np.float32)
    status[~np.isfinite(s)] = np.nan
    return Networks(labels, net_of, network_ids.astype(np.int32), table, status)


def network_polygons(networks: Networks, grid: Grid) -> gpd.GeoDataFrame:
    """One multipolygon per network (its patches), with the columns of ``networks.table``.

    The patches of a network never touch (they would be one 8-connected patch), so their
    polygons are collected without a union."""
    ids = networks.network_ids
    if not (ids > 0).any():
        return gpd.GeoDataFrame(networks.table.assign(geometry=[]), geometry="geometry", crs=grid.crs)
    parts: dict[int, list[Any]] = {}
    for geom, val in features.shapes(ids, mask=ids > 0, transform=grid.transform, connectivity=8):
        rings = geom["coordinates"]
        parts.setdefault(int(val), []).append(shapely.Polygon(rings[0], rings[1:]))
    geoms = [shapely.MultiPolygon(parts.get(int(i), [])) for i in networks.table["network_id"]]
    return gpd.GeoDataFrame(networks.table.copy(), geometry=geoms, crs=grid.crs)


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

def _np(a: Any) -> np.ndarray:
    return np.asarray(a.compute() if is_dask(a) else a)


def compute(ctx: IndicatorContext) -> list[IndicatorResult]:
    """Per species: suitability, network status and limiting stressor rasters; plus the number
    of species with a key-population network per cell, with the network layer and summary table."""
    table = load_species_table(ctx.params_dir, ctx.legend)
    d = table.defaults
    names = list(table.stressors)
    intens, notes = stressor_intensities(ctx, table)
    lazy = [k for k, v in intens.items() if is_dask(v)]
    if lazy:  # evaluate the neighbourhood operations once, not once per species
        done = dask.persist(*[intens[k] for k in lazy])
        intens.update(zip(lazy, done, strict=True))
    inside = _np(ctx.inside) if ctx.inside is not None else None
    cats = [(0, "none / geen", STRESSOR_COLOURS[0])] + [
        (i + 1, n, STRESSOR_COLOURS[i + 1]) for i, n in enumerate(names)]
    results: list[IndicatorResult] = []
    layers: list[gpd.GeoDataFrame] = []
    rows = []
    viable_count = np.zeros(ctx.grid.shape, dtype=np.float32)
    ha = ctx.grid.cell_area / 10000.0
    for sp in table.species:
        s, lim = species_rasters(ctx.fractions, ctx.dominant, ctx.legend.keys, sp, intens, d)
        if is_dask(s) or is_dask(lim):
            s_np, lim_np = (np.asarray(x) for x in dask.compute(s, lim))
        else:
            s_np, lim_np = np.asarray(s), np.asarray(lim)
        thr = table.threshold(sp)
        net = species_networks(s_np, thr, ctx.grid.cell, sp.dispersal_m.value, sp.key_area_ha.value, inside)
        viable_count += (net.status == 2).astype(np.float32)
        gdf = network_polygons(net, ctx.grid)
        gdf.insert(0, "species", sp.id)
        gdf.insert(1, "key_area_ha", sp.key_area_ha.value)
        gdf.insert(2, "dispersal_m", sp.dispersal_m.value)
        layers.append(gdf)
        unknown_ratings = [n for n in names if sp.sensitivity[n].rating == "?"]
        row = {"species": sp.id, "name_nl": sp.name_nl, "name_en": sp.name_en,
               "key_area_ha": sp.key_area_ha.value, "key_area_ev": sp.key_area_ha.ev,
               "dispersal_m": sp.dispersal_m.value, "dispersal_ev": sp.dispersal_m.ev,
               "threshold": thr, "n_patches": int(net.patch_labels.max()), "n_networks": len(net.table),
               "habitat_area_ha": float(net.table["area_ha"].sum()),
               "largest_network_ha": float(net.table["area_ha"].max()) if len(net.table) else 0.0,
               "n_key_networks": int(net.table["key_population"].sum()),
               "area_in_key_networks_ha": float(net.table.loc[net.table["key_population"], "area_ha"].sum()),
               "mean_suitability": float(np.nanmean(s_np)) if np.isfinite(s_np).any() else math.nan,
               "unknown_sensitivity": ", ".join(unknown_ratings)}
        w = np.nan_to_num(inside) if inside is not None else np.ones(ctx.grid.shape)
        for i, n in enumerate(names):
            row[f"limited_by_{n}_ha"] = float((w * (lim_np == i + 1)).sum() * ha)
        rows.append(row)
        sp_notes = [f"Class weights ev {sp.habitat.ev}; key-population area {sp.key_area_ha.value:g} ha "
                    f"(ev {sp.key_area_ha.ev}); dispersal {sp.dispersal_m.value:g} m (ev {sp.dispersal_m.ev})."]
        if unknown_ratings:
            sp_notes.append(f"Sensitivity unknown ('?'), not penalised: {', '.join(unknown_ratings)}.")
        title = f"{sp.name_en} ({sp.sci})"
        results += [
            IndicatorResult(name=f"guide_{sp.id}_suitability", array=s, units="index 0-1",
                            description=f"Habitat suitability for {sp.name_en}: cover-weighted class suitability "
                                        "times (1 - penalty) of each stressor.",
                            title_en=f"Habitat suitability: {title}", title_nl=f"Geschiktheid leefgebied: {sp.name_nl}",
                            palette="good_high", vmin=0.0, vmax=1.0, notes=sp_notes),
            IndicatorResult(name=f"guide_{sp.id}_network", array=like(ctx.dominant, net.status), units="category",
                            description=(f"Habitat patches (suitability >= {thr:g}) of {sp.name_en} linked into networks "
                                         f"within {sp.dispersal_m.value:g} m; 2 = network large enough for a key "
                                         f"population (>= {sp.key_area_ha.value:g} ha)."),
                            title_en=f"Habitat network: {title}", title_nl=f"Netwerk leefgebied: {sp.name_nl}",
                            palette="categorical", summarise=("majority",),
                            categories=[(0, "no habitat / geen leefgebied", "#f0f0f0"),
                                        (1, "network too small / netwerk te klein", "#fdae61"),
                                        (2, "key population possible / sleutelpopulatie mogelijk", "#1a9641")]),
            IndicatorResult(name=f"guide_{sp.id}_limiting", array=lim, units="category",
                            description=f"Stressor with the largest suitability penalty for {sp.name_en}.",
                            title_en=f"Limiting stressor: {title}", title_nl=f"Beperkende stressfactor: {sp.name_nl}",
                            palette="categorical", categories=cats, summarise=("majority",)),
        ]
    summary = pd.DataFrame(rows)
    layer = pd.concat(layers, ignore_index=True) if layers else gpd.GeoDataFrame()
    layer = gpd.GeoDataFrame(layer, geometry="geometry", crs=ctx.grid.crs)
    count = mask_outside(like(ctx.dominant, viable_count), ctx.dominant)
    results.insert(0, IndicatorResult(
        name="guide_species_key_networks", array=count, units="number of species",
        description="Number of guide species for which the cell lies in a habitat network large enough for a key "
                    "population.",
        title_en="Guide species with a key-population network", title_nl="Gidssoorten met een sleutelnetwerk",
        palette="good_high", vmin=0.0, vmax=float(len(table.species)), summarise=("mean", "max"),
        layers={"guide_species_networks": layer},
        tables={"guide_species_summary": summary, "guide_species_table": _provenance(table)},
        notes=notes + ["Guide-species values are mostly expert judgement (R) or proposed (P): see the ev column of "
                       "guide_species_table and have an ecologist review them."],
    ))
    return results


def _provenance(table: SpeciesTable) -> pd.DataFrame:
    """Every species value with its ev mark and source, long format."""
    rows = []
    for sp in table.species:
        rows.append({"species": sp.id, "item": "habitat_weights", "value": str(sp.habitat.weights),
                     "ev": sp.habitat.ev, "source": sp.habitat.source})
        for item in ("key_area_ha", "dispersal_m", "suitability_threshold"):
            v = getattr(sp, item) or (table.defaults.suitability_threshold if item == "suitability_threshold" else None)
            rows.append({"species": sp.id, "item": item, "value": v.value, "ev": v.ev, "source": v.source})
        for n, r in sp.sensitivity.items():
            rows.append({"species": sp.id, "item": f"sensitivity_{n}", "value": r.rating, "ev": r.ev,
                         "source": r.source})
    for n, st in table.stressors.items():
        rows.append({"species": "*", "item": f"stressor_{n}", "value": f"{st.zero_at:g}-{st.full_at:g} {st.units}",
                     "ev": st.ev, "source": st.source})
    p = table.defaults.penalty
    rows.append({"species": "*", "item": "penalty", "value": f"H {p.H}, M {p.M}, L {p.L}, ? {p.unknown}",
                 "ev": p.ev, "source": p.source})
    return pd.DataFrame(rows)
