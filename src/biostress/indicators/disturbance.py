"""Disturbance proxies: road-traffic noise and artificial light, from land cover (and road lines).

Both outputs are **proxies** (``IndicatorResult.proxy = True``): they place sources from the land
cover (or from road centre lines with a road class, when a ``roads`` layer is supplied) and
spread them with a distance decay. They are not noise maps (no traffic counts, screening by
buildings, ground or air absorption) and not light measurements (no lamp inventory or radiance).
Every parameter comes from the tables ``data/params/disturbance_*.csv`` with an ``ev`` mark
(V verified, S secondary, R typical unverified value, P proposed default) and a ``source``.

Noise proxy (dB(A), daily-average level, ``noise_road_proxy``)
    Each cell is a set of incoherent point sources; energies add::

        e(y) = sum_k 10**(L_k / 10) * d_ref_k * len_k(y) / c       (source strength of cell y)
        E(x) = sum_y e(y) * g(|x - y|)                             (FFT convolution)
        g(r) = c / (pi * max(r, r_min)**2)   for r <= R_max, else 0  (r in m)
        L(x) = max(10 * log10(E(x)), L_floor)

    ``L_k`` is the level at the reference distance ``d_ref_k`` from a long straight road of class
    ``k`` (table ``disturbance_noise_sources.csv``, R), ``len_k(y)`` the road length of class ``k``
    in cell ``y`` (m) and ``c`` the cell size (m). Summing the point kernel ``g`` (6 dB per
    doubling, 20*log10) along a straight line gives ``1 / d``, i.e. the geometric spreading of
    a line source: ``L(d) = L_k - 10*log10(d / d_ref_k)``, 3 dB per doubling of distance (EPD-HK,
    V). Without road lines, the road length is estimated from the cover fraction of ``road`` (and
    ``rail``): ``len(y) = f(y) * c**2 / w`` with a typical width ``w`` (R).

Light proxy (index 0-1, ``light_proxy``)
    ``lit(y) = sum_k w_k * f_k(y)`` is the lit share of cell ``y`` (weights per land-cover class,
    ``disturbance_light_sources.csv``, P). It is spread with the exponential decay of the InVEST
    Habitat Quality model (HQ-UG, V: ``exp(-2.99 d / d_max)`` falls to 5 % at ``d_max``; the
    300 m reach is the proposed NL default of the knowledge base, P), normalised so that a fully
    lit neighbourhood gives 1::

        light(x) = sum_y lit(y) * K(|x - y|),   K(r) = exp(-theta * r / d_max) / Z   for r <= d_max
        Z = sum over the disc r <= d_max of exp(-theta * r / d_max)

    i.e. the distance-weighted lit share of the surroundings.

Sources outside the area (NaN land cover) count as zero, so values near the area boundary are
underestimated unless a road-line layer reaching beyond the area is supplied. Both convolutions
run on ``numpy`` arrays or, chunk by chunk with a halo of ``R_max`` (``d_max``), on
``dask.array`` arrays (:func:`fft_convolve`, ``dask.array.map_overlap``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import ConfigError
from ..grid import Grid
from ..landcover.legend import Legend
from .base import IndicatorContext, IndicatorResult, params_path

# ``name as name``: re-exported helpers (they live in ``common`` / ``tables``; other modules import
# them from this module)
from .common import OUTSIDE as OUTSIDE
from .common import check_fractions_shape, distance_grid, fft_convolve, is_dask, like, mask_outside, where
from .common import disc_kernel as disc_kernel
from .common import focal_mean as focal_mean
from .tables import EV_MARKS as EV_MARKS
from .tables import class_rows, parse_float, read_scalars, read_table

PARAMS_FILE = "disturbance_params.csv"
NOISE_FILE = "disturbance_noise_sources.csv"
LIGHT_FILE = "disturbance_light_sources.csv"
ROAD_CLASS_COLUMNS = ("class", "highway", "road_class")


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NoiseSource:
    """One noise source type: a land-cover class (``kind='landcover'``) or a road class of a
    road-line layer (``kind='road_class'``)."""

    kind: str
    key: str
    aliases: tuple[str, ...]
    level_db: float | None  # level at ref_distance_m from a long straight road; None = no traffic
    ref_distance_m: float
    width_m: float | None  # typical width (m), converts a cover fraction into a road length
    ev: str
    source: str


@dataclass(frozen=True)
class DisturbanceParams:
    noise_sources: tuple[NoiseSource, ...]
    lit_weights: dict[str, float]
    noise_max_distance_m: float
    noise_min_distance_m: float
    noise_floor_db: float
    light_max_distance_m: float
    light_decay: float
    provenance: pd.DataFrame  # every parameter with ev and source (written as an output table)

    def road_class_source(self, value: str) -> NoiseSource | None:
        v = str(value).strip().lower()
        for s in self.noise_sources:
            if s.kind == "road_class" and (v == s.key or v in s.aliases):
                return s
        return None


_SCALARS = {  # name -> (lo, hi)
    "noise_max_distance_m": (1.0, 20000.0),
    "noise_min_distance_m": (0.01, 1000.0),
    "noise_floor_db": (0.0, 120.0),
    "light_max_distance_m": (1.0, 20000.0),
    "light_decay_constant": (0.0, 50.0),
}


def load_params(params_dir: Path | str | None = None, legend: Legend | None = None) -> DisturbanceParams:
    """Read and validate the three disturbance tables (an area's own copies in ``params_dir``
    override the built-in ones). With ``legend``, land-cover keys are checked against it."""
    prov: list[dict] = []
    scalars = read_scalars(params_path(PARAMS_FILE, params_dir), _SCALARS, prov, extra_columns=["note"])

    pn = params_path(NOISE_FILE, params_dir)
    dn = read_table(pn, ["kind", "key", "aliases", "level_db", "ref_distance_m", "width_m", "ev", "source", "note"])
    sources = []
    seen: set[tuple[str, str]] = set()
    for i, r in dn.iterrows():
        line = int(i) + 2
        kind, key = r["kind"].strip(), r["key"].strip()
        if kind not in ("landcover", "road_class"):
            raise ConfigError(f"{pn} line {line}: kind must be 'landcover' or 'road_class', got {kind!r}.")
        if (kind, key) in seen:
            raise ConfigError(f"{pn} line {line}: {kind} {key!r} is listed twice.")
        seen.add((kind, key))
        if kind == "landcover" and legend is not None:
            legend.by_key(key)  # raises ConfigError for an unknown class
        level = parse_float(pn, line, "level_db", r["level_db"], allow_empty=True, lo=0.0, hi=140.0)
        ref = parse_float(pn, line, "ref_distance_m", r["ref_distance_m"], lo=0.1, hi=1000.0)
        width = parse_float(pn, line, "width_m", r["width_m"], allow_empty=kind == "road_class", lo=0.1, hi=200.0)
        aliases = tuple(a.strip().lower() for a in r["aliases"].split("|") if a.strip())
        sources.append(NoiseSource(kind, key, aliases, level, ref, width, r["ev"].strip(), r["source"]))
        prov.append({"table": pn.name, "item": f"{kind}:{key}", "value": r["level_db"], "units": "dB(A) at ref distance",
                     "ev": r["ev"], "source": r["source"], "note": r["note"]})

    pl = params_path(LIGHT_FILE, params_dir)
    dl = read_table(pl, ["key", "lit_weight", "ev", "source", "note"])
    weights: dict[str, float] = {}
    for line, key, r in class_rows(pl, dl, legend):
        weights[key] = parse_float(pl, line, "lit_weight", r["lit_weight"], lo=0.0, hi=1.0)  # type: ignore[assignment]
        prov.append({"table": pl.name, "item": key, "value": r["lit_weight"], "units": "lit share weight 0-1",
                     "ev": r["ev"], "source": r["source"], "note": r["note"]})

    return DisturbanceParams(tuple(sources), weights, scalars["noise_max_distance_m"],
                             scalars["noise_min_distance_m"], scalars["noise_floor_db"],
                             scalars["light_max_distance_m"], scalars["light_decay_constant"],
                             pd.DataFrame(prov))


# --------------------------------------------------------------------------------------------
# noise
# --------------------------------------------------------------------------------------------

def line_source_kernel(cell: float, max_distance_m: float, min_distance_m: float) -> np.ndarray:
    """Point-source kernel ``g(r) = c / (pi * max(r, r_min)**2)`` (1/m) for ``r <= R_max``.

    Summed along a straight line of cells (one cell of road per cell) it gives ``1 / d`` at
    perpendicular distance ``d`` (``integral dx / (d**2 + x**2) = pi / d``), so the level falls
    by ``10*log10(d2 / d1)`` between two distances: the geometric spreading of a line source.
    """
    r = distance_grid(cell, max_distance_m)
    r_eff = np.maximum(r, max(min_distance_m, 1e-6))
    g = cell / (math.pi * r_eff**2)
    g[r > max_distance_m + 1e-9] = 0.0
    return g


def noise_energy(emission: Any, cell: float, *, max_distance_m: float, min_distance_m: float) -> Any:
    """Relative sound energy ``E(x) = sum_y e(y) g(|x-y|)`` (see the module docstring).

    ``emission`` (H, W): ``e(y) = sum_k 10**(L_k/10) * d_ref_k * len_k(y) / c`` (:func:`emission_term`),
    with ``L_k`` the level at ``d_ref_k`` from a long straight road. Returns energy
    (``10*log10`` of it is the level in dB); never negative.
    """
    k = line_source_kernel(cell, max_distance_m, min_distance_m)
    e = fft_convolve(where(np.isfinite(emission), emission, 0.0), k)
    return where(e > 0, e, 0.0)


def emission_term(length_m: Any, cell: float, level: float, ref_distance_m: float) -> Any:
    """``10**(L/10) * d_ref * len / c``: source strength of ``length_m`` metres of road per cell
    whose long straight stretch has level ``L`` (dB) at ``ref_distance_m``."""
    return 10.0 ** (level / 10.0) * ref_distance_m * length_m / cell


def level_db(energy: Any, floor_db: float) -> Any:
    """``max(10*log10(E), floor_db)`` in dB; energy 0 (no source within reach) gives the floor."""
    floor_e = 10.0 ** (floor_db / 10.0)
    if is_dask(energy):
        return 10.0 * da.log10(da.maximum(energy, floor_e))
    return 10.0 * np.log10(np.maximum(energy, floor_e))


def road_length_grid(lines: gpd.GeoDataFrame, grid: Grid, class_column: str) -> dict[str, np.ndarray]:
    """Road length (m) per cell and road class from a line layer in the grid CRS.

    Lines are cut into pieces of at most a quarter cell (``shapely.segmentize``); each piece adds
    its length to the cell holding its midpoint. The error per cell is at most a quarter cell of
    length where a line crosses a cell edge. Classes are lower-cased values of ``class_column``.
    """
    out: dict[str, np.ndarray] = {}
    if lines.empty:
        return out
    g = lines[[class_column, "geometry"]].explode(index_parts=False)
    g = g[g.geometry.notna() & ~g.geometry.is_empty]
    g = g[shapely.get_type_id(g.geometry.values) == 1]  # LineString parts only
    if g.empty:
        return out
    geoms = shapely.segmentize(g.geometry.values, grid.cell / 4.0)
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    same = idx[1:] == idx[:-1]
    a, b, seg_of = coords[:-1][same], coords[1:][same], idx[:-1][same]
    mid = (a + b) / 2.0
    length = np.hypot(*(b - a).T)
    col = np.floor((mid[:, 0] - grid.x0) / grid.cell).astype(np.int64)
    row = np.floor((grid.y1 - mid[:, 1]) / grid.cell).astype(np.int64)
    ok = (col >= 0) & (col < grid.width) & (row >= 0) & (row < grid.height)
    cls = g[class_column].astype(str).str.strip().str.lower().to_numpy()[seg_of]
    flat = row * grid.width + col
    for c in np.unique(cls[ok]):
        m = ok & (cls == c)
        out[str(c)] = np.bincount(flat[m], weights=length[m], minlength=grid.width * grid.height
                                  ).reshape(grid.shape)
    return out


def noise_emission(ctx: IndicatorContext, params: DisturbanceParams) -> tuple[Any, list[str]]:
    """Source strength per cell ``e(y)`` from the road-line layer ``ctx.layers['roads']`` (a road
    class column ``class``/``highway``/``road_class``) if present, else from the cover fraction
    of ``road``; plus the land-cover sources other than ``road`` (``rail``). Returns the array
    (H, W) and notes."""
    notes: list[str] = []
    cell = ctx.grid.cell
    roads = ctx.layers.get("roads")
    col = None
    if roads is not None and not roads.empty:
        col = next((c for c in ROAD_CLASS_COLUMNS if c in roads.columns), None)
        if col is None:
            notes.append("The 'roads' layer has no road class column (class/highway/road_class): "
                         "road noise sources are taken from the road cover fraction instead.")
    em: Any = None
    if col is not None:
        if roads.crs is not None and not roads.crs.equals(ctx.grid.crs):
            roads = roads.to_crs(ctx.grid.crs)
        lengths = road_length_grid(roads, ctx.grid, col)
        e = np.zeros(ctx.grid.shape, dtype=np.float64)
        unknown = []
        for cls, ln in lengths.items():
            s = params.road_class_source(cls)
            if s is None:
                unknown.append(cls)
                continue
            if s.level_db is not None:
                e += emission_term(ln, cell, s.level_db, s.ref_distance_m)
        if unknown:
            notes.append(f"Road classes without a noise source level (not counted): {', '.join(sorted(unknown))}.")
        em = like(ctx.dominant, e)
        notes.append(f"Road noise sources: road centre lines of the 'roads' layer by class ('{col}').")
    for s in params.noise_sources:
        if s.kind != "landcover" or s.level_db is None:
            continue
        if s.key == "road" and col is not None:
            continue  # roads come from the lines
        f = ctx.fraction(s.key)
        length_per_cell = where(np.isfinite(f), f, 0.0) * (cell * cell / s.width_m)  # type: ignore[operator]
        term = emission_term(length_per_cell, cell, s.level_db, s.ref_distance_m)
        em = term if em is None else em + term
        if s.key == "road":
            notes.append(f"Road noise sources: the '{s.key}' cover fraction as road length (typical width "
                         f"{s.width_m:g} m, level {s.level_db:g} dB(A) at {s.ref_distance_m:g} m, ev {s.ev}): "
                         "no road classes or traffic counts.")
    if em is None:
        em = like(ctx.dominant, np.zeros(ctx.grid.shape, dtype=np.float64))
    return em, notes


# --------------------------------------------------------------------------------------------
# light
# --------------------------------------------------------------------------------------------

def light_kernel(cell: float, max_distance_m: float, decay: float = 2.99) -> np.ndarray:
    """Normalised exponential decay ``exp(-decay * r / d_max) / Z`` over the disc ``r <= d_max``
    (InVEST Habitat Quality exponential threat decay; ``decay = 2.99`` gives 5 % at ``d_max``)."""
    r = distance_grid(cell, max_distance_m)
    k = np.exp(-decay * r / max_distance_m)
    k[r > max_distance_m + 1e-9] = 0.0
    return k / k.sum()


def lit_share(fractions: Any, keys: list[str], weights: dict[str, float]) -> Any:
    """``lit(y) = sum_k w_k f_k(y)``: lit share of each cell (NaN fractions count as 0)."""
    out: Any = None
    for key, w in weights.items():
        if w <= 0:
            continue
        f = fractions[keys.index(key)]
        term = where(np.isfinite(f), f, 0.0) * w
        out = term if out is None else out + term
    if out is None:
        out = fractions[0] * 0.0
    return out


def light_proxy(lit: Any, cell: float, max_distance_m: float, decay: float = 2.99) -> Any:
    """Distance-weighted lit share (0-1): ``sum_y lit(y) K(|x-y|)`` with :func:`light_kernel`."""
    v = fft_convolve(where(np.isfinite(lit), lit, 0.0), light_kernel(cell, max_distance_m, decay))
    if is_dask(v):
        return da.clip(v, 0.0, 1.0)
    return np.clip(v, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

def noise_proxy_from_context(ctx: IndicatorContext, params: DisturbanceParams | None = None) -> tuple[Any, list[str]]:
    """Noise proxy level (dB(A)) on the grid, NaN outside the area, and notes."""
    params = params or load_params(ctx.params_dir, ctx.legend)
    em, notes = noise_emission(ctx, params)
    energy = noise_energy(em, ctx.grid.cell, max_distance_m=params.noise_max_distance_m,
                          min_distance_m=params.noise_min_distance_m)
    return mask_outside(level_db(energy, params.noise_floor_db), ctx.dominant), notes


def light_proxy_from_context(ctx: IndicatorContext, params: DisturbanceParams | None = None) -> Any:
    """Light proxy index (0-1) on the grid, NaN outside the area."""
    params = params or load_params(ctx.params_dir, ctx.legend)
    lit = lit_share(ctx.fractions, ctx.legend.keys, params.lit_weights)
    return mask_outside(light_proxy(lit, ctx.grid.cell, params.light_max_distance_m, params.light_decay),
                        ctx.dominant)


def compute(ctx: IndicatorContext) -> list[IndicatorResult]:
    """Noise and light proxies. See the module docstring for formulas, units and sources."""
    params = load_params(ctx.params_dir, ctx.legend)
    check_fractions_shape(ctx)
    noise, notes = noise_proxy_from_context(ctx, params)
    common = ("Sources outside the area (no land cover there) are not counted, so values near the area "
              "boundary are too low.")
    noise_notes = notes + [
        "Noise proxy: geometric spreading only (3 dB per doubling of distance from a road); no screening "
        "by buildings, ground or air absorption, traffic counts or speeds. Source levels are typical values "
        "(ev R): check them against a noise map (e.g. the RIVM/Atlas Leefomgeving Lden map) before use.",
        f"Levels below {params.noise_floor_db:g} dB(A) are not resolved and shown as {params.noise_floor_db:g}.",
        common,
    ]
    light = light_proxy_from_context(ctx, params)
    light_notes = [
        "Light proxy: lit share of each cell from the land cover (weights ev P) spread with the InVEST "
        f"exponential decay (5 % at {params.light_max_distance_m:g} m, ev P); no lamp inventory or night-time "
        "radiance. Replace by a measured light raster (e.g. VIIRS or an aerial night image) where available.",
        common,
    ]
    tables = {"disturbance_parameters": params.provenance}
    return [
        IndicatorResult(
            name="noise_road_proxy", array=noise, units="dB(A) (proxy, daily average)",
            description=("Road-traffic noise proxy: typical source level per road (class) spread with line-source "
                         "geometric spreading, L = L_ref - 10 log10(d / 10 m); energies of all roads summed."),
            title_en="Road noise (proxy)", title_nl="Verkeerslawaai (benadering)", palette="bad_high",
            vmin=params.noise_floor_db, vmax=75.0, summarise=("mean", "max"), tables=tables,
            notes=noise_notes, proxy=True),
        IndicatorResult(
            name="light_proxy", array=light, units="index 0-1 (distance-weighted lit share)",
            description=("Artificial-light proxy: lit share of roads, paving and buildings within "
                         f"{params.light_max_distance_m:g} m, weighted by exp(-2.99 d / d_max)."),
            title_en="Artificial light (proxy)", title_nl="Kunstlicht (benadering)", palette="bad_high",
            vmin=0.0, vmax=1.0, summarise=("mean", "max"), notes=light_notes, proxy=True),
    ]
