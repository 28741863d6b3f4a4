"""The indicator stage of a run: every enabled indicator, streamed over the grid in bounded memory.

The indicator modules are pure functions of arrays (:mod:`biostress.indicators`); this module is
the I/O edge around them. It reads the land cover from the run's COGs window by window, calls each
module's ``compute(ctx)``, writes the results block by block as styled COGs and accumulates the
per-unit statistics, so the memory a run needs does not grow with the size of the area:

* **Local indicators** (their value at a cell depends only on the land cover within a known
  reach: green, habitat quality, heat, runoff, drought, nitrogen, disturbance) run tile by tile.
  Each tile is read with a halo of at least the indicator's reach (the largest threat distance of
  habitat quality, five cooling distances for the urban cooling model's exponential kernel, the
  noise and light kernels, the drought proxy's radius),
  so the inner part of the tile is the same as a whole-grid computation (up to floating-point
  rounding of FFT convolutions, ~1e-6). Tiles are ``tile_cells`` x ``tile_cells`` cells (default
  2048); a grid that fits in one tile is computed in one piece.
* **Global indicators** (patches, networks and flows that reach across the whole area:
  fragmentation, connectivity, guide-species networks, species-record aggregation, depression
  filling on a DEM) run on the whole grid when it has at most ``global_max_cells`` cells
  (default 9 million, i.e. 30 x 30 km at 10 m). A larger grid is coarsened first by an integer
  factor (cover fractions averaged over blocks of cells, so areas are kept) and the result is
  written back at full resolution (nearest); the run notes say so. This keeps their memory bounded
  too, at the price of resolution, which is stated.

Per-unit statistics are exact coverage-weighted (exactextract cell coverage of each unit, per tile)
and merged over tiles: ``mean`` and ``sum`` weighted by coverage, ``min``/``max``/``majority`` over
every cell the unit touches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource

from .grid import Grid
from .landcover.legend import Legend
from .store import qml
from .store.runfolder import RunFolder

Progress = Callable[[str, int, int], None]

OUTSIDE = 255
DEFAULT_TILE_CELLS = 2048
DEFAULT_GLOBAL_MAX_CELLS = 9_000_000

# indicator result -> (stressor name the guide-species table uses, conversion)
STRESSORS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "light_proxy": ("light", lambda a: a),
    "noise_road_proxy": ("noise", lambda a: a),
    "heat_mitigation": ("heat", lambda a: 1.0 - a),  # heat stress index: 1 = hottest
    "drought_vulnerability": ("drought", lambda a: a),
}

RAMP_GOOD = ["#a50026", "#f46d43", "#fee08b", "#a6d96a", "#006837"]


def _noop(step: str, done: int, total: int) -> None:
    pass


# --------------------------------------------------------------------------------------------- reach
def module_reach(name: str, params_dir: Path | None, has_dem: bool) -> float | None:
    """How far (m) the land cover around a cell influences an indicator's value at the cell,
    or ``None`` when the indicator is global (needs the whole area at once)."""
    if name in ("green", "nitrogen"):
        return 0.0
    if name == "drought":
        from .indicators.drought import load_params as drought_params

        return float(drought_params(params_dir).proxy_radius_m)  # the proxy's impervious surroundings
    if name == "flooding":
        return None if has_dem else 0.0  # runoff is per cell; depression filling needs the whole DEM
    if name == "habitat_quality":
        from .indicators.habitat_quality import load_params

        p = load_params(params_dir)
        return max((t.max_dist for t in p.threats.values()), default=0.0)
    if name == "heat":
        from .indicators.heat import load_params as heat_params

        # InVEST's park-cooling kernel is exp(-d / d_cool) cut at 5 d_cool (pygeoprocessing); GA uses d_cool
        return 5.0 * float(heat_params(params_dir).cooling_distance_m)
    if name == "disturbance":
        from .indicators.disturbance import load_params as dist_params

        p = dist_params(params_dir)
        return float(max(p.noise_max_distance_m, p.light_max_distance_m))
    if name == "stresstest":
        from .stresstest import load_indicators

        return max((float(r.radius_m or 0.0) for r in load_indicators(params_dir)), default=0.0)
    if name == "potential":
        from .potential.compute import DEFAULT_MODULES
        from .potential.transitions import load_settings

        # the re-run modules (runoff is per cell; the potential does not recompute depressions) and the
        # neighbourhood of the urban/rural condition
        reaches = [module_reach(m, params_dir, False) or 0.0 for m in DEFAULT_MODULES]
        return max([*reaches, float(load_settings(params_dir).urban_radius_m)])
    if name == "opportunity":
        from .measures import load_catalogue
        from .potential.transitions import load_settings

        # rules compare distances to water cells computed on the window: the halo must hold the largest
        # distance a rule asks about; the urban/rural setting averages over a disc
        reach = float(load_settings(params_dir).urban_radius_m)
        for m in load_catalogue(params_dir=params_dir).measures:
            for num in re.findall(r"distance_water_m\s*[<>]=?\s*([0-9.]+)", m.fits.rule):
                reach = max(reach, float(num))
        return reach
    return None  # fragmentation, connectivity, species_records, guide_species, anything unknown


# ----------------------------------------------------------------------------------------- reading
class RasterFiles:
    """Rasters on the analysis grid, by name, read window by window (or block-averaged)."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.paths: dict[str, Path] = {}
        self.derived: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {}

    def add(self, name: str, path: Path) -> None:
        self.paths.setdefault(name, Path(path))

    def derive(self, name: str, base: str, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        if name not in self.paths and name not in self.derived:
            self.derived[name] = (base, fn)

    def names(self) -> list[str]:
        return list(self.paths) + list(self.derived)

    def read(self, name: str, rows: tuple[int, int], cols: tuple[int, int], *, band: int | None = 1) -> np.ndarray:
        """Window ``rows x cols`` (half-open ranges, inside the grid) as float32 with NaN for nodata
        (uint8 rasters are returned as they are)."""
        import rasterio
        from rasterio.windows import Window

        if name in self.derived:
            base, fn = self.derived[name]
            return fn(self.read(base, rows, cols)).astype(np.float32)
        win = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
        with rasterio.open(self.paths[name]) as src:
            a = src.read(band, window=win) if band is not None else src.read(window=win)
            if a.dtype == np.uint8:
                return a
            a = a.astype(np.float32, copy=False)
            if src.nodata is not None and not np.isnan(src.nodata):
                a[a == src.nodata] = np.nan
            return a

    def read_coarse(self, name: str, f: int, *, band: int | None = 1, area_share: bool = False,
                    rows_per_pass: int = 512) -> np.ndarray:
        """Block mean over ``f x f`` cells, streamed in row bands so memory stays at the coarse size.

        ``area_share``: the values are shares of the cell area (cover fractions), so NaN cells
        (outside the area) count as 0 and the block value is the share of the whole coarse cell;
        otherwise the mean of the finite cells. A block without finite cells is NaN."""
        h, w = self.grid.shape
        ch, cw = math.ceil(h / f), math.ceil(w / f)
        step = max(1, rows_per_pass // f) * f
        out = None
        for r0 in range(0, h, step):
            r1 = min(h, r0 + step)
            a = self.read(name, (r0, r1), (0, w), band=band).astype(np.float32)
            if a.ndim == 2:
                a = a[np.newaxis]
            if out is None:
                out = np.full((a.shape[0], ch, cw), np.nan, np.float32)
            pad = np.full((a.shape[0], math.ceil((r1 - r0) / f) * f, cw * f), np.nan, np.float32)
            pad[:, : r1 - r0, :w] = a
            blocks = pad.reshape(a.shape[0], pad.shape[1] // f, f, cw, f)
            fin = np.isfinite(blocks)
            valid = fin.any(axis=(2, 4))
            den = float(f * f) if area_share else np.maximum(fin.sum(axis=(2, 4)), 1)
            s = np.nansum(blocks, axis=(2, 4)) / den
            out[:, r0 // f: r0 // f + s.shape[1]] = np.where(valid, s, np.nan)
        assert out is not None
        return out[0] if band is not None else out


class LazyRasters(Mapping):
    """``ctx.rasters`` for one window: each raster is read when an indicator asks for it."""

    def __init__(self, files: RasterFiles, reader: Callable[[str], np.ndarray]) -> None:
        self._files, self._reader, self._cache = files, reader, {}

    def put(self, key: str, arr: np.ndarray) -> None:
        """Add an array computed for this window (an earlier indicator's result) unless present."""
        if key not in self:
            self._cache[key] = arr

    def setdefault(self, key: str, arr: np.ndarray) -> np.ndarray:
        self.put(key, arr)
        return self[key]

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._cache:
            if key not in self._files.names() or key.startswith("__"):
                raise KeyError(key)
            self._cache[key] = self._reader(key)
        return self._cache[key]

    def _keys(self) -> list[str]:
        return [k for k in dict.fromkeys([*self._files.names(), *self._cache]) if not k.startswith("__")]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


# ------------------------------------------------------------------------------------ unit statistics
@dataclass
class _Acc:
    n: int
    wsum: np.ndarray = field(init=False)
    vwsum: np.ndarray = field(init=False)
    vmin: np.ndarray = field(init=False)
    vmax: np.ndarray = field(init=False)
    hist: list[dict[float, float]] = field(init=False)

    def __post_init__(self) -> None:
        self.wsum = np.zeros(self.n)
        self.vwsum = np.zeros(self.n)
        self.vmin = np.full(self.n, np.inf)
        self.vmax = np.full(self.n, -np.inf)
        self.hist = [{} for _ in range(self.n)]


class UnitCoverage:
    """Exact coverage of the units of one level over one window (exactextract ``cell_id`` and
    ``coverage``): which cells each unit covers and by which share."""

    def __init__(self, units: gpd.GeoDataFrame, grid: Grid) -> None:
        xmin, ymin, xmax, ymax = grid.bounds
        self.n = len(units)
        self.index: list[int] = []
        self.cells: list[np.ndarray] = []
        self.cover: list[np.ndarray] = []
        hit = units.sindex.query(_box(grid.bounds), predicate="intersects") if len(units) else np.zeros(0, int)
        if len(hit) == 0:
            return
        sub = units.iloc[np.sort(hit)]
        wkt = grid.pyproj_crs.to_wkt()
        rast = NumPyRasterSource(np.zeros(grid.shape, dtype=np.uint8), xmin, ymin, xmax, ymax, srs_wkt=wkt)
        df = exact_extract(rast, sub[["geometry"]].assign(_i=np.sort(hit)).set_crs(wkt, allow_override=True),
                           ["cell_id", "coverage"], include_cols=["_i"], output="pandas")
        for i, c, w in zip(df["_i"], df["cell_id"], df["coverage"], strict=True):
            c = np.asarray(c if isinstance(c, np.ndarray | list) else [], dtype=np.int64)
            if c.size:
                self.index.append(int(i))
                self.cells.append(c)
                self.cover.append(np.asarray(w, dtype=np.float64))


def _box(bounds: tuple[float, float, float, float]):
    import shapely

    return shapely.box(*bounds)


class UnitStats:
    """Per-unit statistics of one raster, accumulated window by window."""

    def __init__(self, n: int, ops: tuple[str, ...]) -> None:
        for op in ops:
            if op not in ("mean", "sum", "min", "max", "majority"):
                raise ValueError(f"unknown summary operation {op!r}")
        self.ops, self.acc = ops, _Acc(n)

    def add(self, cov: UnitCoverage, arr: np.ndarray) -> None:
        flat = np.asarray(arr, dtype=np.float64).reshape(-1)
        a = self.acc
        for i, c, w in zip(cov.index, cov.cells, cov.cover, strict=True):
            v = flat[c]
            ok = np.isfinite(v) & (w > 0)
            if not ok.any():
                continue
            v, w = v[ok], w[ok]
            a.wsum[i] += w.sum()
            a.vwsum[i] += (v * w).sum()
            a.vmin[i] = min(a.vmin[i], v.min())
            a.vmax[i] = max(a.vmax[i], v.max())
            if "majority" in self.ops:
                vals, inv = np.unique(v, return_inverse=True)
                for val, s in zip(vals, np.bincount(inv, weights=w), strict=True):
                    a.hist[i][float(val)] = a.hist[i].get(float(val), 0.0) + float(s)

    def result(self, op: str) -> np.ndarray:
        a = self.acc
        seen = a.wsum > 0
        out = np.full(a.n, np.nan)
        if op == "mean":
            out[seen] = a.vwsum[seen] / a.wsum[seen]
        elif op == "sum":
            out[seen] = a.vwsum[seen]
        elif op == "min":
            out[seen] = a.vmin[seen]
        elif op == "max":
            out[seen] = a.vmax[seen]
        elif op == "majority":
            for i in np.flatnonzero(seen):
                h = a.hist[i]
                out[i] = max(h, key=lambda k: (h[k], -k))
        return out


# ------------------------------------------------------------------------------------------ writing
class _Sample:
    """A bounded sample of a raster's finite values for its colour stretch (2nd-98th percentile)."""

    def __init__(self, cap: int = 1_000_000) -> None:
        self.cap, self.parts, self.n = cap, [], 0

    def add(self, arr: np.ndarray) -> None:
        v = arr[np.isfinite(arr)]
        if v.size > 100_000:
            v = v[:: v.size // 100_000 + 1]
        if self.n < self.cap:
            self.parts.append(v.astype(np.float32))
            self.n += v.size

    def values(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)


def _rgba(h: str) -> tuple[int, int, int, int]:
    h = h.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), int(h[6:8], 16) if len(h) == 8 else 255


def _style(r, sample: np.ndarray) -> tuple[float, float, str]:
    lo = r.vmin if r.vmin is not None else (float(np.percentile(sample, 2)) if sample.size else 0.0)
    hi = r.vmax if r.vmax is not None else (float(np.percentile(sample, 98)) if sample.size else 1.0)
    hi = hi if hi > lo else lo + 1.0
    ramp = RAMP_GOOD if r.palette == "good_high" else RAMP_GOOD[::-1]
    stops = [(lo + (hi - lo) * i / 4, c) for i, c in enumerate(ramp)]
    return lo, hi, qml.raster_pseudocolor(lo, hi, stops, label_unit=f" {r.units}")


class ResultSink:
    """One indicator raster written block by block, with its per-unit statistics."""

    def __init__(self, stack: ExitStack, run: RunFolder, r, grid: Grid, units: dict[str, gpd.GeoDataFrame]) -> None:
        self.r, self.categorical = r, r.palette == "categorical" and bool(r.categories)
        note = f" (proxy: {r.description})" if r.proxy else ""
        if self.categorical:
            self.w = stack.enter_context(run.raster_writer(
                r.name, grid, 1, "uint8", units=r.units, description=r.description + note, nodata=255,
                colormap={int(v): _rgba(col) for v, _, col in r.categories} | {255: (0, 0, 0, 0)},
                qml=qml.raster_paletted([(int(v), lab, col) for v, lab, col in r.categories])))
        else:
            self.w = stack.enter_context(run.raster_writer(
                r.name, grid, 1, "float32", units=r.units, description=r.description + note, nodata=float("nan")))
        self.sample = _Sample()
        self.stats = {} if self.categorical else {lvl: UnitStats(len(ug), tuple(r.summarise)) for lvl, ug in units.items()}
        self.any_finite = False

    def write(self, arr: np.ndarray, row0: int, col0: int, cov: dict[str, UnitCoverage] | None) -> None:
        arr = np.asarray(arr, dtype=np.float32)
        if self.categorical:
            self.w.write(np.where(np.isfinite(arr), arr, 255).astype(np.uint8), row0, col0)
            return
        self.w.write(arr, row0, col0)
        self.sample.add(arr)
        self.any_finite = self.any_finite or bool(np.isfinite(arr).any())
        if cov is not None:
            for lvl, st in self.stats.items():
                st.add(cov[lvl], arr)

    def finish(self, units: dict[str, gpd.GeoDataFrame]) -> tuple[float, float] | None:
        """Set the colour stretch and add the unit columns (see :func:`add_unit_columns`)."""
        cols: dict[str, dict[str, np.ndarray]] = {}
        out = self.finish_into(cols)
        add_unit_columns(units, cols)
        return out

    def finish_into(self, cols: dict[str, dict[str, np.ndarray]]) -> tuple[float, float] | None:
        """Set the colour stretch (written when the COG is made); put the unit statistics into
        ``cols`` (level -> column -> values)."""
        if self.categorical:
            return None
        lo, hi, style = _style(self.r, self.sample.values())
        self.w.qml = style
        if self.any_finite:
            for lvl, st in self.stats.items():
                for op in self.r.summarise:
                    cols.setdefault(lvl, {})[f"{self.r.name}_{op}"] = st.result(op)
        return lo, hi


def add_unit_columns(units: dict[str, gpd.GeoDataFrame], cols: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Add (or replace) columns of the units layers in one go (``units`` entries are replaced)."""
    for lvl, c in cols.items():
        if not c or lvl not in units:
            continue
        ug = units[lvl].drop(columns=[k for k in c if k in units[lvl].columns])
        units[lvl] = pd.concat([ug, pd.DataFrame(dict(c), index=ug.index)], axis=1).copy()


# ------------------------------------------------------------------------------------------- the stage
@dataclass
class StageInputs:
    grid: Grid
    legend: Legend
    fractions: Path  # landcover_fractions.tif
    dominant: Path  # landcover.tif
    rasters: dict[str, Path] = field(default_factory=dict)  # optional inputs on the grid, by variable
    units: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    enabled: list[str] | None = None
    params_dir: Path | None = None
    stress_test: bool = False  # after the indicators: robustness, vulnerability, five classes
    potential: bool = False  # after the indicators: potential land cover and its gaps
    opportunity: bool = False  # after the indicators: where which measure fits and what it brings
    tile_cells: int = DEFAULT_TILE_CELLS
    global_max_cells: int = DEFAULT_GLOBAL_MAX_CELLS
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # module name -> keyword arguments of compute


@dataclass
class StageReport:
    tiles: int = 0
    halo_cells: int = 0
    coarsened: dict[str, int] = field(default_factory=dict)  # global module -> factor
    outputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: RasterFiles | None = None  # the land cover, inputs and every raster written, by name


def tile_windows(shape: tuple[int, int], tile: int) -> list[tuple[int, int, int, int]]:
    """Inner windows ``(r0, r1, c0, c1)`` of at most ``tile x tile`` cells covering the grid."""
    h, w = shape
    return [(r, min(h, r + tile), c, min(w, c + tile)) for r in range(0, h, tile) for c in range(0, w, tile)]


def _clip_layers(layers: Mapping[str, gpd.GeoDataFrame], bounds: tuple[float, float, float, float]) -> dict:
    out = {}
    for k, g in layers.items():
        if g is None or g.empty:
            out[k] = g
            continue
        hit = g.sindex.query(_box(bounds), predicate="intersects")
        out[k] = g.iloc[np.sort(hit)]
    return out


# context layers are clipped to the window grown by this much, so that a vector feature just outside
# a window still counts for conditions measured by distance (e.g. "within 1 km of Natura 2000")
LAYER_MARGIN_M = 5000.0


def _grow(b: tuple[float, float, float, float], m: float) -> tuple[float, float, float, float]:
    return (b[0] - m, b[1] - m, b[2] + m, b[3] + m)


_NUM = re.compile(r"[-+]?\d[\d.,]*%?")


class _Notes:
    """Notes of one module over all tiles, each message once. A message whose numbers differ from
    tile to tile (e.g. a share of missing data) is kept in the first tile's wording and marked."""

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}
        self.first: dict[str, str] = {}

    def add(self, notes: list[str]) -> None:
        for n in notes:
            self.seen.setdefault(_NUM.sub("#", n), set()).add(n)
            self.first.setdefault(_NUM.sub("#", n), n)

    def messages(self) -> list[str]:
        return [self.first[k] if len(v) == 1 else f"{self.first[k]} (first tile of {len(v)} differing)"
                for k, v in self.seen.items()]


def run_indicators(run: RunFolder, inp: StageInputs, progress: Progress = _noop) -> StageReport:
    """Compute the enabled indicators, write their rasters (styled COGs), layers and tables to
    ``run`` and add their per-unit statistics as columns to ``inp.units`` (in place)."""
    from .indicators.registry import modules

    mods = modules(inp.enabled)
    report = StageReport()
    grid = inp.grid
    files = RasterFiles(grid)
    files.add("__fractions__", inp.fractions)
    files.add("__dominant__", inp.dominant)
    for var, p in inp.rasters.items():
        files.add(var, p)
    report.files = files
    if not mods:
        return report
    has_dem = "dem" in inp.rasters
    local, glob = [], []
    for name, mod in mods:
        reach = module_reach(name, inp.params_dir, has_dem)
        (local if reach is not None else glob).append((name, mod, reach))
    total = len(mods)
    done = 0
    if local:
        halo = max(int(math.ceil(reach / grid.cell)) + 2 for _, _, reach in local)
        report.halo_cells = halo
        wins = tile_windows(grid.shape, max(16, int(inp.tile_cells)))
        report.tiles = len(wins)
        _run_local(run, inp, files, local, wins, halo, report, progress, total)
        done = len(local)
    for name, mod, _ in glob:
        progress("indicators", done, total)
        with run.step(f"indicator {name}"):
            _run_global(run, inp, files, name, mod, report)
        done += 1
    progress("indicators", total, total)
    post = _post_modules(inp)
    if post:  # they read the indicators above, window by window
        halo = max(int(math.ceil(reach / grid.cell)) + 2 for _, _, reach in post)
        wins = tile_windows(grid.shape, max(16, int(inp.tile_cells)))
        if inp.potential and len(wins) > 1 and any(n.startswith("guide_") for n in files.paths):
            from .potential.compute import DEFAULT_MODULES

            # guide-species networks span the area: re-running them tile by tile would cut them up
            inp.options.setdefault("potential", {"modules": list(DEFAULT_MODULES)})
            run.add_warning("potential: guide-species networks are not recomputed on the potential land cover when "
                            f"the area is run in {len(wins)} tiles (they need the whole area at once)")
        margin = LAYER_MARGIN_M
        if inp.potential:
            from .potential.transitions import load_settings

            margin = max(margin, float(load_settings(inp.params_dir).natura2000_distance_m) + 2 * grid.cell)
        _run_local(run, inp, files, post, wins, halo, report, progress, total, step="stress test and potential",
                   margin_m=margin)
    if inp.stress_test:  # the class of each unit from its mean score (the map's classes, per unit)
        from .stresstest import classify, load_classes

        classes = load_classes(inp.params_dir)
        for ug in inp.units.values():
            if "stress_score_mean" in ug.columns:
                ug["stress_class"] = classify(ug["stress_score_mean"].to_numpy(dtype=float), classes)
    return report


def _post_modules(inp: StageInputs) -> list[tuple[str, Any, float]]:
    out = []
    if inp.stress_test:
        from . import stresstest

        out.append(("stresstest", stresstest, module_reach("stresstest", inp.params_dir, False)))
    if inp.potential:
        from .potential import compute as potential

        out.append(("potential", potential, module_reach("potential", inp.params_dir, False)))
    if inp.opportunity:
        from .opportunity import compute as opportunity

        out.append(("opportunity", opportunity, module_reach("opportunity", inp.params_dir, False)))
    return out


def _window_context(inp: StageInputs, files: RasterFiles, r0: int, r1: int, c0: int, c1: int, margin_m: float = 0.0):
    from .indicators.base import IndicatorContext

    sub = inp.grid.window(r0, c0, r1 - r0, c1 - c0)
    fr = files.read("__fractions__", (r0, r1), (c0, c1), band=None)
    dom = files.read("__dominant__", (r0, r1), (c0, c1))
    inside = np.nan_to_num(fr, nan=0.0).sum(axis=0)
    rasters = LazyRasters(files, lambda k: files.read(k, (r0, r1), (c0, c1)))
    ctx = IndicatorContext(sub, inp.legend, fr, dom, inside, units={}, layers=_clip_layers(inp.layers, _grow(sub.bounds, margin_m)),
                           rasters=rasters, params_dir=inp.params_dir)
    return ctx


def _run_local(run, inp, files, local, wins, halo, report, progress, total, step="indicators (tiles)",
               margin_m: float = LAYER_MARGIN_M) -> None:
    grid = inp.grid
    h, w = grid.shape
    sinks: dict[str, ResultSink] = {}
    notes = {name: _Notes() for name, _, _ in local}
    tables: dict[str, list[pd.DataFrame]] = {}
    meta: dict[str, Any] = {}
    with ExitStack() as stack:
        for k, (r0, r1, c0, c1) in enumerate(wins):
            progress(step, k, len(wins))
            R0, R1, C0, C1 = max(0, r0 - halo), min(h, r1 + halo), max(0, c0 - halo), min(w, c1 + halo)
            ctx = _window_context(inp, files, R0, R1, C0, C1, margin_m=margin_m)
            if not np.any(np.asarray(ctx.dominant) != OUTSIDE):
                _write_empty(sinks, r0, r1, c0, c1)
                continue
            inner = (slice(r0 - R0, r1 - R0), slice(c0 - C0, c1 - C0))
            sub_inner = grid.window(r0, c0, r1 - r0, c1 - c0)
            cov = {lvl: UnitCoverage(ug, sub_inner) for lvl, ug in inp.units.items()}
            produced: dict[str, np.ndarray] = {}
            for name, mod, _ in local:
                with run.step(f"indicator {name}"):
                    results = mod.compute(ctx, **inp.options.get(name, {}))
                for r in results:
                    arr = np.asarray(r.array, dtype=np.float32)
                    if r.name not in sinks:
                        sinks[r.name] = ResultSink(stack, run, r, grid, inp.units)
                        meta[r.name] = r
                        for p0, p1, q0, q1 in wins[:k]:  # tiles before this one had no such result
                            _write_empty({r.name: sinks[r.name]}, p0, p1, q0, q1)
                    sinks[r.name].write(arr[inner], r0, c0, cov)
                    produced[r.name] = arr
                    for tn, df in r.tables.items():
                        tables.setdefault(f"{r.name}|{tn}", []).append(pd.DataFrame(df))
                    notes[name].add(r.notes)
                    ctx.rasters.put(r.name, arr)  # later indicators in this tile may use it
                    if r.name in STRESSORS:
                        key, fn = STRESSORS[r.name]
                        ctx.rasters.put(key, fn(arr))
            for name in set(sinks) - set(produced):  # a result a module did not produce in this tile
                _write_empty({name: sinks[name]}, r0, r1, c0, c1)
        progress(step, len(wins), len(wins))
        cols: dict[str, dict[str, np.ndarray]] = {}
        for s in sinks.values():
            s.finish_into(cols)
        add_unit_columns(inp.units, cols)
    for name in sinks:
        report.outputs.append(name)
        files.add(name, run.path / f"{name}.tif")
        if name in STRESSORS:
            key, fn = STRESSORS[name]
            files.derive(key, name, fn)
    for name, _, _ in local:
        for n in notes[name].messages():
            run.add_warning(f"{name}: {n}")
    for key, dfs in tables.items():
        rname, tname = key.split("|", 1)
        df = pd.concat(dfs, ignore_index=True).drop_duplicates()
        if len(dfs) > 1 and len(df) > len(dfs[0]):
            # a table summed over the window differs per tile and would count the halos twice
            run.add_warning(f"{rname}: table '{tname}' is computed per window and is not written for a run in "
                            f"{len(wins)} tiles; the per-unit columns of the units layers hold the same information")
            continue
        run.write_table(f"{rname}_{tname}" if not tname.startswith(rname) else tname, df,
                        description=f"{meta[rname].title_en}: {tname}")


def _write_empty(sinks: Mapping[str, ResultSink], r0: int, r1: int, c0: int, c1: int) -> None:
    for s in sinks.values():
        s.write(np.full((r1 - r0, c1 - c0), np.nan, np.float32), r0, c0, None)


def coarsen_factor(shape: tuple[int, int], max_cells: int) -> int:
    """Smallest integer ``f`` with ``ceil(H/f) * ceil(W/f) <= max_cells``."""
    h, w = shape
    f = 1
    while math.ceil(h / f) * math.ceil(w / f) > max_cells:
        f += 1
    return f


def coarse_grid(grid: Grid, f: int) -> Grid:
    return Grid(grid.crs, grid.x0, grid.y1, grid.cell * f, math.ceil(grid.width / f), math.ceil(grid.height / f))


def dominant_of(fractions: np.ndarray, legend: Legend) -> np.ndarray:
    """Dominant class code per cell from cover fractions (255 outside, 0 where nothing covers)."""
    f = np.nan_to_num(fractions, nan=0.0)
    codes = np.asarray(legend.codes, dtype=np.uint8)
    dom = codes[np.argmax(f, axis=0)]
    inside = f.sum(axis=0)
    dom = np.where(f.max(axis=0) > 0, dom, 0).astype(np.uint8)
    dom[inside <= 0] = OUTSIDE
    return dom


def _run_global(run, inp: StageInputs, files: RasterFiles, name: str, mod, report: StageReport) -> None:
    from .indicators.base import IndicatorContext

    grid = inp.grid
    f = coarsen_factor(grid.shape, inp.global_max_cells)
    if f > 1 and name == "species_records":
        # records are counted on cells of cell_m: the coarse cell must divide them (e.g. 250 m = 5 x 50 m)
        k = max(1, int(round(float(inp.options.get(name, {}).get("cell_m", 250.0)) / grid.cell)))
        f = next((d for d in range(f, k + 1) if k % d == 0), k)
    if f == 1:
        g = grid
        fr = files.read("__fractions__", (0, grid.height), (0, grid.width), band=None)
        dom = files.read("__dominant__", (0, grid.height), (0, grid.width))
        rasters = LazyRasters(files, lambda k: files.read(k, (0, grid.height), (0, grid.width)))
    else:
        report.coarsened[name] = f
        g = coarse_grid(grid, f)
        fr = files.read_coarse("__fractions__", f, band=None, area_share=True)
        dom = dominant_of(fr, inp.legend)
        rasters = LazyRasters(files, lambda k: files.read_coarse(k, f))
    inside = np.nan_to_num(fr, nan=0.0).sum(axis=0)
    ctx = IndicatorContext(g, inp.legend, fr, dom, inside, units=inp.units, layers=dict(inp.layers),
                           rasters=rasters, params_dir=inp.params_dir)
    results = mod.compute(ctx, **inp.options.get(name, {}))
    del fr
    if f > 1:
        run.add_warning(f"{name}: the grid has {grid.height * grid.width:,} cells, more than this global indicator "
                        f"computes at once ({inp.global_max_cells:,}); it was computed on {g.cell:g} m cells "
                        f"(land-cover fractions averaged over {f} x {f} cells) and written back at {grid.cell:g} m")
    cov = {lvl: UnitCoverage(ug, g) for lvl, ug in inp.units.items()}
    for r in results:
        arr = np.asarray(r.array, dtype=np.float32)
        for n in r.notes:
            run.add_warning(f"{r.name}: {n}")
        with ExitStack() as stack:
            sink = ResultSink(stack, run, r, grid, inp.units)
            # unit statistics on the grid the indicator was computed on (exact coverage there)
            if not sink.categorical:
                for lvl, st in sink.stats.items():
                    st.add(cov[lvl], arr)
                    sink.any_finite = sink.any_finite or bool(np.isfinite(arr).any())
            for r0 in range(0, grid.height, 1024):
                r1 = min(grid.height, r0 + 1024)
                if f == 1:
                    blk = arr[r0:r1]
                else:
                    rows = np.arange(r0, r1) // f
                    cols = np.arange(grid.width) // f
                    blk = arr[rows][:, cols]
                sink.write(blk, r0, 0, None)
            sink.finish(inp.units)
        report.outputs.append(r.name)
        files.add(r.name, run.path / f"{r.name}.tif")
        if r.name in STRESSORS:
            key, fn = STRESSORS[r.name]
            files.derive(key, r.name, fn)
        for lname, gdf in r.layers.items():
            run.write_vector(f"{r.name}_{lname}" if not lname.startswith(r.name) else lname, gdf, units=None,
                             description=f"{r.title_en}: {lname}")
        for tname, df in r.tables.items():
            run.write_table(f"{r.name}_{tname}" if not tname.startswith(r.name) else tname, pd.DataFrame(df),
                            description=f"{r.title_en}: {tname}")
