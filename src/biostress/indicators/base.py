"""The contract between the pipeline and the indicator modules.

The pipeline builds one :class:`IndicatorContext` per run (the land cover on the analysis grid,
the area units, context layers) and calls each module's ``compute(ctx)``. A module returns
:class:`IndicatorResult` objects; the pipeline writes their rasters as styled COGs, their vector
layers into the GeoPackage, summarises every raster per area unit, and records the notes as
warnings (missing data is reported, never invented).

Arrays are ``numpy`` or ``dask.array`` (tell them apart by type): indicator code must work on
both, using ``dask.array.map_overlap`` with a halo for neighbourhood operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from ..grid import Grid
from ..landcover.legend import Legend


@dataclass
class IndicatorContext:
    grid: Grid
    legend: Legend
    fractions: Any  # (n_classes, H, W) float32, band i = legend.classes[i]; NaN outside the area
    dominant: Any  # (H, W) uint8 class code; 255 outside the area, 0 = no data
    inside: Any  # (H, W) float32 share of each cell inside the area
    units: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)  # level -> units (code, name, geometry)
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)  # context layers: natura2000, trees_*, points
    # optional inputs on the grid, by the source's ``variable``: "dem", "red", "nir", "nitrogen_deposition", "glg",
    # ...; the pipeline also adds earlier indicators' results and the stressors "light", "noise", "heat", "drought"
    rasters: dict[str, Any] = field(default_factory=dict)
    params_dir: Path | None = None  # an area's own parameter tables (override the built-in ones)

    def fraction(self, key: str) -> Any:
        """Cover fraction (0-1) of the class ``key`` per cell."""
        return self.fractions[self.legend.keys.index(key)]

    def share_where(self, flag: str) -> Any:
        """Summed fraction of all classes with a legend flag ('green', 'impervious', 'water')."""
        idx = [i for i, c in enumerate(self.legend.classes) if getattr(c, flag)]
        return self.fractions[idx].sum(axis=0)


@dataclass
class IndicatorResult:
    """One output raster (and optionally vector layers) of an indicator."""

    name: str  # file-safe name, e.g. "habitat_quality"
    array: Any  # (H, W) on ctx.grid; NaN = no value
    units: str  # e.g. "index 0-1", "mm", "mol N/ha/yr"
    description: str
    title_en: str
    title_nl: str
    palette: str = "good_high"  # "good_high" (red->green), "bad_high" (green->red), or "categorical"
    vmin: float | None = None
    vmax: float | None = None
    categories: list[tuple[int, str, str]] | None = None  # (value, label, #colour) for categorical rasters
    summarise: tuple[str, ...] = ("mean",)  # exactextract ops per area unit
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    proxy: bool = False  # True when the value is a documented proxy, not a measurement


def nan_outside(arr: np.ndarray, dominant: np.ndarray) -> np.ndarray:
    """Set cells outside the area (dominant == 255) to NaN."""
    out = np.asarray(arr, dtype=np.float32).copy()
    out[np.asarray(dominant) == 255] = np.nan
    return out


def params_path(name: str, params_dir: Path | str | None = None) -> Path:
    """The area's own copy of a parameter table if it has one, else the built-in table."""
    if params_dir is not None:
        p = Path(params_dir) / name
        if p.exists():
            return p
    return Path(str(resources.files("biostress") / "data" / "params" / name))
