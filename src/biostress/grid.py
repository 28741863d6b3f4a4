"""The analysis grid: one projected raster grid per area that every raster aligns to.

The grid is snapped to whole multiples of the cell size in the area's CRS (so two runs of the
same area, or neighbouring areas with the same cell size, share cell edges), north-up, with
square cells. Cell ``(row, col)`` covers ``[x0 + col*c, x0 + (col+1)*c] x [y1 - (row+1)*c, y1 - row*c]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import CRS

from .errors import ConfigError


@dataclass(frozen=True)
class Grid:
    """A north-up grid: ``crs`` (any pyproj-understood string), origin ``(x0, y1)`` = upper-left
    corner, ``cell`` size in CRS units (metres), ``width`` columns and ``height`` rows."""

    crs: str
    x0: float
    y1: float
    cell: float
    width: int
    height: int

    @classmethod
    def from_bounds(cls, bounds: tuple[float, float, float, float], cell: float, crs: str) -> Grid:
        """Smallest snapped grid that covers ``bounds = (xmin, ymin, xmax, ymax)``.

        >>> g = Grid.from_bounds((101.0, 203.0, 149.0, 251.0), 10, "EPSG:28992")
        >>> (g.x0, g.y1, g.width, g.height)
        (100.0, 260.0, 5, 6)
        """
        if not cell > 0:
            raise ConfigError(f"Cell size must be positive, got {cell}.")
        c = CRS.from_user_input(crs)
        if not c.is_projected:
            raise ConfigError(
                f"The analysis CRS {crs} is not projected (cells must be in metres).",
                hint="Use a projected CRS such as EPSG:28992 (RD New) in the Netherlands or a UTM zone.",
            )
        xmin, ymin, xmax, ymax = bounds
        if not (xmax > xmin and ymax > ymin):
            raise ConfigError(f"The area bounds {bounds} are empty.")
        x0 = math.floor(xmin / cell) * cell
        y0 = math.floor(ymin / cell) * cell
        x1 = math.ceil(xmax / cell) * cell
        y1 = math.ceil(ymax / cell) * cell
        return cls(crs=str(crs), x0=float(x0), y1=float(y1), cell=float(cell),
                   width=int(round((x1 - x0) / cell)), height=int(round((y1 - y0) / cell)))

    @property
    def transform(self) -> Affine:
        return Affine(self.cell, 0.0, self.x0, 0.0, -self.cell, self.y1)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y1 - self.height * self.cell, self.x0 + self.width * self.cell, self.y1)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def cell_area(self) -> float:
        """Area of one cell in square CRS units (m²)."""
        return self.cell * self.cell

    @property
    def pyproj_crs(self) -> CRS:
        return CRS.from_user_input(self.crs)

    def window(self, row0: int, col0: int, nrows: int, ncols: int) -> Grid:
        """The sub-grid of ``nrows`` x ``ncols`` cells starting at ``(row0, col0)``."""
        return Grid(self.crs, self.x0 + col0 * self.cell, self.y1 - row0 * self.cell, self.cell, ncols, nrows)

    def windows(self, size: int = 512) -> Iterator[tuple[int, int, Grid]]:
        """Iterate over square blocks of at most ``size`` x ``size`` cells: ``(row0, col0, subgrid)``."""
        for r in range(0, self.height, size):
            for c in range(0, self.width, size):
                yield r, c, self.window(r, c, min(size, self.height - r), min(size, self.width - c))

    def cell_centers(self) -> tuple[np.ndarray, np.ndarray]:
        """1-D arrays of cell-centre x (per column) and y (per row) coordinates."""
        xs = self.x0 + (np.arange(self.width) + 0.5) * self.cell
        ys = self.y1 - (np.arange(self.height) + 0.5) * self.cell
        return xs, ys

    def to_dict(self) -> dict:
        return {"crs": self.crs, "x0": self.x0, "y1": self.y1, "cell": self.cell,
                "width": self.width, "height": self.height}
