"""Open an existing run folder for follow-up work (scenarios, plans, Natura 2000 surroundings, reports).

A run folder holds the land cover (``landcover_fractions.tif``, ``landcover.tif``), every indicator
raster on the same grid, the context layers and area units in ``biostress.gpkg`` and the
``manifest.json`` that describes it all. :class:`OpenRun` gives indicator contexts for any window
of the grid, reading rasters only when an indicator asks for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd

from .errors import InputDataError
from .grid import Grid
from .indicator_stage import LAYER_MARGIN_M, STRESSORS, RasterFiles, StageInputs, _window_context
from .indicators.base import IndicatorContext
from .landcover.legend import Legend, load_legend

CONTEXT_LAYERS = ("roads", "natura2000", "habitat_types")


@dataclass
class OpenRun:
    path: Path
    manifest: dict
    grid: Grid
    legend: Legend
    files: RasterFiles
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    units: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    params_dir: Path | None = None
    input_names: set[str] = field(default_factory=set)  # measured inputs (dem, et0, ...), not indicator results

    @property
    def inputs(self) -> StageInputs:
        return StageInputs(self.grid, self.legend, self.path / "landcover_fractions.tif", self.path / "landcover.tif",
                           layers=self.layers, units=self.units, params_dir=self.params_dir)

    def context(self, r0: int = 0, r1: int | None = None, c0: int = 0, c1: int | None = None, *,
                indicators: bool = True, margin_m: float = LAYER_MARGIN_M) -> IndicatorContext:
        """An indicator context for rows ``r0:r1`` and columns ``c0:c1`` (default: the whole grid).
        With ``indicators`` the run's indicator rasters are available in ``ctx.rasters`` (read on
        demand); without, only the measured inputs (DEM, ...), so indicators are recomputed."""
        r1 = self.grid.height if r1 is None else r1
        c1 = self.grid.width if c1 is None else c1
        files = self.files if indicators else self.inputs_only
        return _window_context(self.inputs, files, r0, r1, c0, c1, margin_m=margin_m)

    @property
    def inputs_only(self) -> RasterFiles:
        f = RasterFiles(self.grid)
        for name, p in self.files.paths.items():
            if name.startswith("__") or name in self.input_names:
                f.add(name, p)
        return f


def open_run(run_dir: str | Path, *, legend: Legend | None = None, params_dir: Path | None = None) -> OpenRun:
    """Open ``run_dir`` (a folder 'biostress run' or 'biostress demo' wrote); clear errors when it is not one."""
    run_dir = Path(run_dir)
    man_p = run_dir / "manifest.json"
    if not man_p.is_file():
        raise InputDataError(f"{run_dir} is not a biostress run folder (no manifest.json).",
                             hint="Give the folder a 'biostress run' or 'biostress demo' wrote.")
    try:
        man = json.loads(man_p.read_text())
        g = man["grid"]
        grid = Grid(g["crs"], float(g["x0"]), float(g["y1"]), float(g["cell"]), int(g["width"]), int(g["height"]))
    except (KeyError, TypeError, ValueError) as e:
        raise InputDataError(f"The manifest of {run_dir} is not valid ({e}).",
                             hint="Run the area again to write a complete run folder.") from None
    for f in ("landcover_fractions.tif", "landcover.tif"):
        if not (run_dir / f).is_file():
            raise InputDataError(f"{run_dir} has no {f}.", hint="Run the area again: the land cover is missing.")
    files = RasterFiles(grid)
    files.add("__fractions__", run_dir / "landcover_fractions.tif")
    files.add("__dominant__", run_dir / "landcover.tif")
    inputs: set[str] = set()
    skip = {"landcover.tif", "landcover_fractions.tif", "landcover_source.tif"}
    for o in man.get("outputs", []):
        p = str(o.get("path", ""))
        if o.get("kind") != "raster" or not p.endswith(".tif") or p in skip or "/" in p or o.get("grid"):
            continue
        if not (run_dir / p).is_file():
            continue
        name = p.removesuffix(".tif")
        if name.startswith("input_"):
            name = name.removeprefix("input_")
            inputs.add(name)
        elif name.startswith("dem_"):
            name = "dem"
            inputs.add(name)
        files.add(name, run_dir / p)
    for name, (key, fn) in STRESSORS.items():
        if name in files.paths:
            files.derive(key, name, fn)
    layers: dict[str, gpd.GeoDataFrame] = {}
    units: dict[str, gpd.GeoDataFrame] = {}
    gpkg = run_dir / "biostress.gpkg"
    if gpkg.is_file():
        import pyogrio

        for n, _ in pyogrio.list_layers(gpkg):
            if n in CONTEXT_LAYERS:
                layers[n] = gpd.read_file(gpkg, layer=n).to_crs(grid.crs)
            elif n.startswith("units_"):
                units[n.removeprefix("units_")] = gpd.read_file(gpkg, layer=n).to_crs(grid.crs)
    return OpenRun(run_dir, man, grid, legend or load_legend(), files, layers, units, params_dir, inputs)


__all__ = ["OpenRun", "open_run"]
