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
from scipy import signal

from ..errors import ConfigError, InputDataError
from ..grid import Grid
from ..landcover.legend import Legend
from .base import IndicatorContext, IndicatorResult, params_path

EV_MARKS = ("V", "S", "R", "P")
PARAMS_FILE = "disturbance_params.csv"
NOISE_FILE = "disturbance_noise_sources.csv"
LIGHT_FILE = "disturbance_light_sources.csv"
ROAD_CLASS_COLUMNS = ("class", "highway", "road_class")
OUTSIDE = 255


# --------------------------------------------------------------------------------------------
# parameter tables
# --------------------------------------------------------------------------------------------


def read_table(path: Path, required: list[str]) -> pd.DataFrame:
    """Read a parameter CSV (all columns as text) and check the columns and the ``ev``/``source``
    provenance of every row. Raises :class:`ConfigError` naming the file and line."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, comment=None)
    except Exception as e:  # noqa: BLE001 - any parse failure is a config error
        raise ConfigError(f"Cannot read the parameter table {path}: {e}") from e
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ConfigError(f"The parameter table {path} lacks the column(s) {missing}.",
                          hint=f"The table needs the columns {required}.")
    for i, r in df.iterrows():
        line = int(i) + 2
        if "ev" in required and r["ev"].strip() not in EV_MARKS:
            raise ConfigError(f"{path} line {line}: ev must be one of {'/'.join(EV_MARKS)}, got {r['ev']!r}.",
                              hint="V verified, S secondary, R typical unverified value, P proposed default.")
        if "source" in required and not r["source"].strip():
            raise ConfigError(f"{path} line {line}: the source is empty.",
                              hint="Every parameter needs a source (or 'proposed' with ev P).")
    return df


def parse_float(path: Path, line: int, column: str, text: str, *, allow_empty: bool = False,
                lo: float | None = None, hi: float | None = None) -> float | None:
    """Parse one number of a parameter table, with a bounds check and a clear error."""
    t = text.strip()
    if not t:
        if allow_empty:
            return None
        raise ConfigError(f"{path} line {line}: {column} is empty.")
    try:
        v = float(t)
    except ValueError:
        raise ConfigError(f"{path} line {line}: {column} {text!r} is not a number.") from None
    if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise ConfigError(f"{path} line {line}: {column} = {v} is outside {rng}.")
    return v


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
    p = params_path(PARAMS_FILE, params_dir)
    df = read_table(p, ["parameter", "value", "units", "ev", "source", "note"])
    scalars: dict[str, float] = {}
    prov = []
    for i, r in df.iterrows():
        name = r["parameter"].strip()
        if name not in _SCALARS:
            raise ConfigError(f"{p} line {int(i) + 2}: unknown parameter {name!r}.",
                              hint=f"Known parameters: {', '.join(_SCALARS)}")
        lo, hi = _SCALARS[name]
        scalars[name] = parse_float(p, int(i) + 2, "value", r["value"], lo=lo, hi=hi)  # type: ignore[assignment]
        prov.append({"table": p.name, "item": name, "value": r["value"], "units": r["units"], "ev": r["ev"],
                     "source": r["source"], "note": r["note"]})
    absent = [k for k in _SCALARS if k not in scalars]
    if absent:
        raise ConfigError(f"The parameter table {p} lacks the parameter(s) {absent}.")

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
    for i, r in dl.iterrows():
        line = int(i) + 2
        key = r["key"].strip()
        if key in weights:
            raise ConfigError(f"{pl} line {line}: class {key!r} is listed twice.")
        if legend is not None:
            legend.by_key(key)
        weights[key] = parse_float(pl, line, "lit_weight", r["lit_weight"], lo=0.0, hi=1.0)  # type: ignore[assignment]
        prov.append({"table": pl.name, "item": key, "value": r["lit_weight"], "units": "lit share weight 0-1",
                     "ev": r["ev"], "source": r["source"], "note": r["note"]})

    return DisturbanceParams(tuple(sources), weights, scalars["noise_max_distance_m"],
                             scalars["noise_min_distance_m"], scalars["noise_floor_db"],
                             scalars["light_max_distance_m"], scalars["light_decay_constant"],
                             pd.DataFrame(prov))


# --------------------------------------------------------------------------------------------
# array helpers (numpy and dask)
# --------------------------------------------------------------------------------------------

def is_dask(a: Any) -> bool:
    return isinstance(a, da.Array)


def where(cond: Any, a: Any, b: Any) -> Any:
    """``np.where`` that keeps dask arrays lazy."""
    if is_dask(cond) or is_dask(a) or is_dask(b):
        return da.where(cond, a, b)
    return np.where(cond, a, b)


def mask_outside(arr: Any, dominant: Any) -> Any:
    """float32 copy of ``arr`` with NaN where ``dominant == 255`` (outside the area)."""
    return where(dominant == OUTSIDE, np.float32(np.nan), arr).astype(np.float32)


def like(template: Any, arr: np.ndarray) -> Any:
    """Wrap a numpy array as dask with the chunks of ``template`` when ``template`` is dask."""
    if is_dask(template):
        return da.from_array(arr, chunks=template.chunks[-2:])
    return arr


def fft_convolve(arr: Any, kernel: np.ndarray) -> Any:
    """2-D convolution of ``arr`` with an odd-sized ``kernel`` (output aligned with ``arr``,
    zeros beyond the edges), by FFT (``scipy.signal.oaconvolve``).

    For a ``dask.array`` input every chunk is convolved with a halo of ``kernel.shape // 2`` cells
    (``dask.array.map_overlap``, boundary 0), which gives the same result as the in-memory
    convolution up to floating-point rounding. NaN must be replaced before calling.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(f"The kernel must be 2-D with odd sides, got shape {k.shape}.")
    ry, rx = k.shape[0] // 2, k.shape[1] // 2

    def _conv(block: np.ndarray) -> np.ndarray:
        b = np.asarray(block, dtype=np.float64)
        if not b.size:
            return b
        return signal.oaconvolve(b, k, mode="same")

    if is_dask(arr):
        # a halo of n - 1 cells already reaches every cell of an axis of length n
        h, w = arr.shape[-2:]
        depth = {0: min(ry, max(h - 1, 0)), 1: min(rx, max(w - 1, 0))}
        return arr.astype(np.float64).map_overlap(_conv, depth=depth, boundary=0, dtype=np.float64, trim=True)
    return _conv(arr)


def distance_grid(cell: float, radius_m: float) -> np.ndarray:
    """Distances (m) from the centre cell to every cell of the ``(2n+1)^2`` window that holds the
    disc of ``radius_m``, ``n = floor(radius_m / cell)``."""
    n = int(math.floor(radius_m / cell + 1e-9))
    off = np.arange(-n, n + 1, dtype=np.float64) * cell
    return np.hypot(off[:, None], off[None, :])


def disc_kernel(cell: float, radius_m: float) -> np.ndarray:
    """1 for cells whose centre lies within ``radius_m`` of the centre cell, else 0."""
    return (distance_grid(cell, radius_m) <= radius_m + 1e-9).astype(np.float64)


def focal_mean(arr: Any, cell: float, radius_m: float) -> Any:
    """Mean of the finite values of ``arr`` over the disc of ``radius_m`` around each cell (cells
    beyond the grid edge and NaN cells are left out of the mean). NaN where the disc holds no
    finite value. Works on numpy and dask (halo = radius)."""
    k = disc_kernel(cell, radius_m)
    valid = np.isfinite(arr) if not is_dask(arr) else da.isfinite(arr)
    num = fft_convolve(where(valid, arr, 0.0), k)
    den = fft_convolve(valid.astype(np.float64), k)
    den = where(den > 0.5, den, np.nan)  # at least one valid cell (FFT rounding guarded)
    return num / den


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
    if tuple(ctx.fractions.shape[-2:]) != ctx.grid.shape:
        raise InputDataError(f"The land-cover fractions have shape {ctx.fractions.shape[-2:]}, "
                             f"the grid {ctx.grid.shape}.")
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
