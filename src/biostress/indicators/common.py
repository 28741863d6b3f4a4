"""Array helpers shared by the indicator modules: the same code on ``numpy`` and ``dask.array``.

Per-cell helpers (:func:`where`, :func:`finite_or_zero`, :func:`mask_outside`) only use elementwise
operations of the array's own module, so dask arrays stay lazy. The neighbourhood helpers
(:func:`fft_convolve`, :func:`disc_mean`, :func:`focal_mean`) convolve a dask array chunk by chunk
with a halo of the kernel radius (``dask.array.map_overlap``), which gives the in-memory result up to
floating-point rounding.

``dask`` and ``scipy`` are imported only when needed: a module that uses these helpers on numpy
arrays does not load them (:func:`is_dask` looks ``dask.array`` up in ``sys.modules``; an array can
only be a dask array once that module is loaded).
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputDataError

if TYPE_CHECKING:
    from .base import IndicatorContext

__all__ = [
    "OUTSIDE",
    "check_fractions_shape",
    "context_raster",
    "disc_kernel",
    "disc_mean",
    "distance_grid",
    "fft_convolve",
    "finite_or_zero",
    "focal_mean",
    "is_dask",
    "like",
    "mask_outside",
    "scalar",
    "where",
    "xp_of",
]

#: Value of the dominant-class raster outside the area (``indicator_stage`` writes it).
OUTSIDE = 255


def is_dask(a: Any) -> bool:
    """Whether ``a`` is a ``dask.array.Array`` (False without loading dask when it is not loaded)."""
    # by the type's module name: safe while another thread is still importing dask
    return type(a).__module__.split(".")[0] == "dask"


def xp_of(*arrays: Any) -> Any:
    """The array module for ``arrays``: ``dask.array`` if any argument is a dask array, else ``numpy``."""
    return sys.modules["dask.array"] if any(is_dask(a) for a in arrays) else np


def where(cond: Any, a: Any, b: Any) -> Any:
    """``np.where(cond, a, b)`` that stays lazy when any argument is a dask array."""
    return xp_of(cond, a, b).where(cond, a, b)


def finite_or_zero(a: Any) -> Any:
    """``a`` as float64 with NaN and +-inf replaced by 0 (numpy or dask like ``a``)."""
    a64 = a.astype(np.float64)
    return where(xp_of(a).isfinite(a64), a64, 0.0)


def like(template: Any, arr: np.ndarray) -> Any:
    """``arr`` (numpy, shape (H, W)) as a dask array with the last two chunk axes of ``template``
    when ``template`` is a dask array; else ``arr`` unchanged."""
    if is_dask(template):
        return sys.modules["dask.array"].from_array(arr, chunks=template.chunks[-2:])
    return arr


def mask_outside(arr: Any, dominant: Any) -> Any:
    """float32 copy of ``arr`` with NaN where ``dominant == 255`` (:data:`OUTSIDE`, outside the area)."""
    return where(dominant == OUTSIDE, np.float32(np.nan), arr).astype(np.float32)


def scalar(x: Any) -> float:
    """A 0-d numpy or dask value as a Python float (computing it when it is dask)."""
    return float(x.compute()) if is_dask(x) else float(x)


def fft_convolve(arr: Any, kernel: np.ndarray) -> Any:
    """2-D convolution of ``arr`` (H, W; no NaN: replace it first) with an odd-sided ``kernel``, by
    FFT (``scipy.signal.oaconvolve``, mode 'same'): output aligned with ``arr``, zeros beyond the
    edges, float64. A 1 x 1 kernel is an exact multiplication.

    A ``dask.array`` is convolved chunk by chunk with a halo of ``kernel.shape // 2`` cells
    (``dask.array.map_overlap``, boundary 0; the halo is capped at ``n - 1`` cells on an axis of
    length ``n``, which already reaches every cell): the same result as in memory up to rounding.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(f"The kernel must be 2-D with odd sides, got shape {k.shape}.")
    ry, rx = k.shape[0] // 2, k.shape[1] // 2

    def _conv(block: np.ndarray) -> np.ndarray:
        b = np.asarray(block, dtype=np.float64)
        if not b.size:
            return b
        if k.size == 1:
            return b * k[0, 0]
        from scipy import signal

        return signal.oaconvolve(b, k, mode="same")

    if is_dask(arr):
        h, w = arr.shape[-2:]
        depth = {0: min(ry, max(h - 1, 0)), 1: min(rx, max(w - 1, 0))}
        a64 = arr.astype(np.float64)
        if depth[0] == 0 and depth[1] == 0:
            return a64.map_blocks(_conv, dtype=np.float64)
        return a64.map_overlap(_conv, depth=depth, boundary=0, dtype=np.float64, trim=True)
    return _conv(arr)


def distance_grid(cell: float, radius_m: float) -> np.ndarray:
    """Distances (m) from the centre cell to every cell centre of the ``(2n+1) x (2n+1)`` window that
    holds the disc of ``radius_m``, ``n = floor(radius_m / cell)``. With ``cell = 1`` the distances
    are in pixels (``radius_m`` then a whole number of pixels, the window's apothem)."""
    n = int(math.floor(radius_m / cell + 1e-9))
    off = np.arange(-n, n + 1, dtype=np.float64) * cell
    return np.hypot(off[:, None], off[None, :])


def disc_kernel(cell: float, radius_m: float) -> np.ndarray:
    """1 for the cells whose centre lies within ``radius_m`` (m) of the centre cell, else 0."""
    return (distance_grid(cell, radius_m) <= radius_m + 1e-9).astype(np.float64)


def disc_mean(values: Any, weight: Any, cell: float, radius_m: float) -> Any:
    """Weighted mean of ``values`` over the disc of ``radius_m`` (cell centres within the radius,
    :func:`disc_kernel`) around each cell: ``sum_j w_j v_j / sum_j w_j``; NaN and inf count as 0
    (in both), NaN where the disc has no weight. Works on numpy and dask (halo = radius)."""
    k = disc_kernel(cell, radius_m)
    w = finite_or_zero(weight)
    num = fft_convolve(w * finite_or_zero(values), k)
    den = fft_convolve(w, k)
    return where(den > 1e-9, num / where(den > 1e-9, den, 1.0), np.nan)


def focal_mean(arr: Any, cell: float, radius_m: float) -> Any:
    """Mean of the finite values of ``arr`` over the disc of ``radius_m`` around each cell (cells
    beyond the grid edge and NaN cells are left out of the mean). NaN where the disc holds no
    finite value. Works on numpy and dask (halo = radius)."""
    k = disc_kernel(cell, radius_m)
    valid = xp_of(arr).isfinite(arr)
    num = fft_convolve(where(valid, arr, 0.0), k)
    den = fft_convolve(valid.astype(np.float64), k)
    den = where(den > 0.5, den, np.nan)  # at least one valid cell (FFT rounding guarded)
    return num / den


def check_fractions_shape(ctx: IndicatorContext) -> None:
    """Raise :class:`InputDataError` when the cover fractions ``(n, H, W)`` of ``ctx`` do not have the
    grid's ``(H, W)``."""
    if tuple(ctx.fractions.shape[-2:]) != ctx.grid.shape:
        raise InputDataError(f"The land-cover fractions have shape {tuple(ctx.fractions.shape[-2:])}, "
                             f"the grid {ctx.grid.shape}.")


def context_raster(ctx: IndicatorContext, *names: str) -> Any:
    """The first of the optional input rasters ``names`` present in ``ctx.rasters`` (None if none is),
    checked to be on the analysis grid (:class:`InputDataError` otherwise)."""
    for n in names:
        r = (ctx.rasters or {}).get(n)
        if r is not None:
            if tuple(r.shape) != ctx.grid.shape:
                raise InputDataError(f"The '{n}' raster has shape {tuple(r.shape)}, the analysis grid "
                                     f"{ctx.grid.shape}.", hint="Resample it onto the analysis grid.")
            return r
    return None
