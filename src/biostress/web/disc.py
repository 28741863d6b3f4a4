"""The two loops of a plot card, compiled (numba): measure sums near a point, legend entries of values.

A plot card sums, for every measure of the catalogue, the measure layers over the grid cells whose centre lies
within ``radius`` metres of the clicked point, taking only the cells where the measure fits
(:class:`biostress.web.plot.MeasureTable`: compressed sparse rows of ``(cell, measure)`` entries). With NumPy
that is some twenty array operations of about a microsecond each on a few dozen numbers; this loop does the
same in a few microseconds, which is what lets the server answer thousands of clicks a second (issue 6,
``bench/bench_web.py``). :func:`disc_totals_numpy` is the same computation in NumPy: the reference the tests
hold the loop to.

Summation order: cells row-major (rows top to bottom, then columns left to right), within a cell the
entries in table order; float64 accumulators.
"""

from __future__ import annotations

import math

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; this keeps the module importable without it
    njit = None

__all__ = ["compile_kernels", "disc_cells", "disc_totals", "disc_totals_numpy", "legend_entries",
           "legend_entries_numpy"]


def disc_cells(x0: float, y1: float, cell: float, width: int, height: int, gx: float, gy: float,
               radius: float) -> np.ndarray:
    """``row x width + col`` (int64, row-major) of the cells whose centre lies within ``radius`` (+1e-9) of
    ``(gx, gy)``; the cell holding the point when there is none; empty off the grid."""
    c, r = math.floor((gx - x0) / cell), math.floor((y1 - gy) / cell)
    if not (0 <= r < height and 0 <= c < width):
        return np.zeros(0, np.int64)
    n = int(math.ceil(radius / cell)) + 1
    rr = np.arange(max(0, r - n), min(height, r + n + 1))
    cc = np.arange(max(0, c - n), min(width, c + n + 1))
    dy = (y1 - (rr + 0.5) * cell) - gy
    dx = (x0 + (cc + 0.5) * cell) - gx
    inside = np.hypot(dx[None, :], dy[:, None]) <= radius + 1e-9
    flat = (rr[:, None] * width + cc[None, :])[inside]
    return flat if flat.size else np.array([r * width + c], np.int64)


def disc_totals_numpy(starts: np.ndarray, keys: np.ndarray, values: np.ndarray, m: int,
                      flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per measure ``0..m-1``: the number of cells ``flat`` where it fits (int64) and the sums of its
    ``values`` columns over them (float64 (m, columns); NaN where no fitting cell has a finite value).
    ``starts[cell] .. starts[cell + 1]`` are the cell's entries; ``keys % m`` their measure."""
    lo, hi = starts[flat], starts[flat + 1]
    n = hi - lo
    rows = np.repeat(lo - np.concatenate(([0], np.cumsum(n)[:-1])), n) + np.arange(int(n.sum()))
    mi = keys[rows] % m
    v = values[rows].astype(np.float64)
    finite = np.isfinite(v)
    onehot = np.equal.outer(np.arange(m), mi).astype(np.float64)  # (m, hits)
    n_fit = onehot.sum(axis=1).astype(np.int64)
    return n_fit, np.where((onehot @ finite) > 0, onehot @ np.where(finite, v, 0.0), np.nan)


def _add_cell(f, starts, keys, values, m, n_fit, sums, has):  # pragma: no cover - compiled
    for e in range(starts[f], starts[f + 1]):
        mi = keys[e] % m
        n_fit[mi] += 1
        for j in range(values.shape[1]):
            x = values[e, j]
            if math.isfinite(x):
                sums[mi, j] += x
                has[mi, j] = True


def _disc_totals_loop(starts, keys, values, m, x0, y1, cell, width, height, gx, gy, radius):  # pragma: no cover
    k = values.shape[1]
    n_fit = np.zeros(m, np.int64)
    sums = np.zeros((m, k))
    has = np.zeros((m, k), np.bool_)
    c = int(math.floor((gx - x0) / cell))
    r = int(math.floor((y1 - gy) / cell))
    if not (0 <= r < height and 0 <= c < width):
        return 0, n_fit, np.full((m, k), np.nan)
    n = int(math.ceil(radius / cell)) + 1
    count = 0
    for rr in range(max(0, r - n), min(height, r + n + 1)):
        dy = (y1 - (rr + 0.5) * cell) - gy
        for cc in range(max(0, c - n), min(width, c + n + 1)):
            if math.hypot((x0 + (cc + 0.5) * cell) - gx, dy) <= radius + 1e-9:
                count += 1
                _add(rr * width + cc, starts, keys, values, m, n_fit, sums, has)
    if count == 0:  # no cell centre that near: the cell holding the point
        count = 1
        _add(r * width + c, starts, keys, values, m, n_fit, sums, has)
    return count, n_fit, np.where(has, sums, np.nan)


_add = njit(cache=True, nogil=True)(_add_cell) if njit is not None else _add_cell
_loop = njit(cache=True, nogil=True)(_disc_totals_loop) if njit is not None else None


def disc_totals(starts: np.ndarray, keys: np.ndarray, values: np.ndarray, m: int, x0: float, y1: float,
                cell: float, width: int, height: int, gx: float, gy: float,
                radius: float) -> tuple[int, np.ndarray, np.ndarray]:
    """``(cells, n_fit, sums)``: :func:`disc_totals_numpy` over :func:`disc_cells` of ``(gx, gy)``, with
    ``cells`` their number, in one compiled loop (NumPy when numba is missing)."""
    if _loop is None:  # pragma: no cover
        flat = disc_cells(x0, y1, cell, width, height, gx, gy, radius)
        n_fit, sums = disc_totals_numpy(starts, keys, values, m, flat)
        return int(flat.size), n_fit, sums
    count, n_fit, sums = _loop(starts, keys, values, m, float(x0), float(y1), float(cell), int(width),
                               int(height), float(gx), float(gy), float(radius))
    return int(count), n_fit, sums


def legend_entries_numpy(at: np.ndarray, vmin: np.ndarray, span: np.ndarray, ramp: np.ndarray, zero: np.ndarray,
                         codes: np.ndarray, offset: np.ndarray, lut: np.ndarray, n_steps: int) -> np.ndarray:
    """The legend entry (int64; -1 = not drawn) of value ``at[i]`` of layer ``i``: NaN/inf and, where
    ``zero[i]``, ``|v| < 1e-9`` are not drawn; a ramp (``ramp[i]``) has ``n_steps`` equal steps of
    ``span[i] / n_steps`` from ``vmin[i]``, values beyond the ends take the first or last; a class table
    maps a whole value ``0 <= v < codes[i]`` to ``lut[offset[i] + v]`` (-1 = no such class)."""
    v = at.astype(np.float64)
    ok = np.isfinite(v)
    v = np.where(ok, v, 0.0)
    ok &= ~(zero & (np.abs(v) < 1e-9))
    step = np.clip(np.floor((v - vmin) / span * n_steps), 0, n_steps - 1)
    r = np.rint(v)
    code_ok = ok & (r >= 0) & (r < codes) & (np.abs(v - r) < 1e-6)
    entry = np.where(code_ok, lut[np.where(code_ok, offset + r, 0).astype(np.int64)], -1)
    return np.where(ramp, np.where(ok, step, -1), entry).astype(np.int64)


def _legend_loop(at, vmin, span, ramp, zero, codes, offset, lut, n_steps):  # pragma: no cover
    out = np.full(at.shape[0], -1, np.int64)
    for i in range(at.shape[0]):
        v = float(at[i])
        if not math.isfinite(v) or (zero[i] and abs(v) < 1e-9):
            continue
        if ramp[i]:
            out[i] = min(max(math.floor((v - vmin[i]) / span[i] * n_steps), 0), n_steps - 1)
        else:
            r = np.rint(v)
            if r >= 0 and r < codes[i] and abs(v - r) < 1e-6:
                out[i] = lut[offset[i] + int(r)]
    return out


_legend = njit(cache=True, nogil=True)(_legend_loop) if njit is not None else None


def legend_entries(at: np.ndarray, vmin: np.ndarray, span: np.ndarray, ramp: np.ndarray, zero: np.ndarray,
                   codes: np.ndarray, offset: np.ndarray, lut: np.ndarray, n_steps: int) -> np.ndarray:
    """:func:`legend_entries_numpy` in one compiled loop (NumPy when numba is missing)."""
    if _legend is None:  # pragma: no cover
        return legend_entries_numpy(at, vmin, span, ramp, zero, codes, offset, lut, n_steps)
    return _legend(at, vmin, span, ramp, zero, codes, offset, lut, n_steps)


def compile_kernels() -> None:
    """Compile both loops for the argument types the plot card passes (or read them from numba's cache), so
    that the first click does not wait for it (called when the server warms up)."""
    i8, f4, f8 = np.int64, np.float32, np.float64
    disc_totals(np.zeros(2, i8), np.zeros(0, i8), np.zeros((0, 9), f4), 1, 0.0, 10.0, 10.0, 1, 1, 5.0, 5.0, 25.0)
    legend_entries(np.zeros(1, f4), np.zeros(1, f8), np.ones(1, f8), np.ones(1, bool), np.zeros(1, bool),
                   np.zeros(1, i8), np.zeros(1, i8), np.full(1, -1, i8), 5)
