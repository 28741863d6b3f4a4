"""Rasterise classified land-cover features onto the analysis grid: exact cover fractions per class,
the dominant class per cell and which source decided it.

Method
------
1. Every land-cover source yields *pieces*: the polygons of one class from one source at one
   priority (lines and points are already buffered to polygons). Each piece has a precedence key
   ``(override, priority, source order)``; higher wins where pieces overlap.
2. The grid is processed in square blocks so memory stays bounded. Each block is painted on a
   sub-grid of ``factor`` x ``factor`` sub-cells per cell (about 1 m sub-cells by default,
   :func:`supersample_factor`) with GDAL's rasteriser, pieces in increasing precedence so the
   highest is painted last; a sub-cell belongs to the piece whose polygon contains its centre.
   The area boundary is painted the same way and masks everything outside it.
3. Counting sub-cells per cell and piece gives the cover fraction of each piece, in steps of
   ``1 / factor**2``; class fraction = sum over its pieces. The error of a cell's fraction is
   bounded by the sub-cells that polygon edges cut (at most half a sub-cell along each edge;
   tests/test_landcover.py checks this against exact shapely areas on the real sample).
4. Raster land-cover sources (WorldCover, CORINE) are the background: their class shares (block
   averages of the class indicator, reprojected with average resampling) fill, in proportion,
   whatever part of each cell no vector piece covers.
5. ``unknown`` = part of the cell inside the boundary that no source covers. It is reported,
   never filled in.
6. Dominant class = the class with the largest fraction (``unknown`` included; ties go to the
   lower code). ``decided_by`` = the source whose piece gives the dominant class the most area.

All fractions are of the full cell area, so for a cell on the area boundary they sum to the part
of the cell inside the area (``inside``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import shapely
import shapely.errors
from affine import Affine
from rasterio import features

from ..grid import Grid
from .legend import NODATA, UNKNOWN

NO_SOURCE = 255


@dataclass
class Piece:
    """Polygons of one class from one source at one priority."""

    cls: int
    source: int
    precedence: tuple[int, int, int]
    geoms: np.ndarray
    label: str = ""
    _tree: shapely.STRtree | None = field(default=None, repr=False)

    @property
    def tree(self) -> shapely.STRtree:
        if self._tree is None:
            self._tree = shapely.STRtree(self.geoms)
        return self._tree

    def clip(self, box: tuple[float, float, float, float]) -> shapely.Geometry | None:
        idx = self.tree.query(shapely.box(*box))
        if len(idx) == 0:
            return None
        parts = shapely.clip_by_rect(self.geoms[idx], *box)
        parts = parts[~shapely.is_empty(parts)]
        if len(parts) == 0:
            return None
        g = shapely.union_all(parts)
        return None if g.is_empty else g


@dataclass
class RasterLayer:
    """A raster land-cover source: ``fractions(subgrid) -> {class code: share of cell}``."""

    source: int
    fractions: Callable[[Grid], dict[int, np.ndarray]]


@dataclass
class BlockResult:
    row0: int
    col0: int
    grid: Grid
    fractions: np.ndarray  # (n_codes, h, w) float32, band i = class code codes[i]
    inside: np.ndarray  # (h, w) float32, share of the cell inside the boundary
    dominant: np.ndarray  # (h, w) uint8 class code, 255 outside
    decided_by: np.ndarray  # (h, w) uint8 source index, 255 none


def _clip(geoms: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Clip to a rectangle; falls back to a full intersection for rings GEOS's fast clip rejects."""
    try:
        return shapely.clip_by_rect(geoms, *box)
    except shapely.errors.GEOSException:
        return shapely.intersection(shapely.make_valid(geoms), shapely.box(*box))


def supersample_factor(cell: float, subcell: float = 1.0) -> int:
    """Sub-cells per cell edge: sub-cells of about ``subcell`` metres (default 1 m, so a 6 m tree
    crown or a 2 m ditch is still sampled well), at least 4 per edge (0.5 m sub-cells at 2 m
    cells), at most 50.

    >>> supersample_factor(10), supersample_factor(2), supersample_factor(25, 5.0)
    (10, 4, 5)
    """
    return int(min(50, max(4, round(cell / subcell))))


def rasterize_blocks(pieces: list[Piece], grid: Grid, codes: list[int], boundary: shapely.Geometry, *,
                     rasters: list[RasterLayer] | None = None, chunk: int = 256, factor: int | None = None,
                     progress: Callable[[int, int], None] | None = None) -> Iterator[BlockResult]:
    """Yield one :class:`BlockResult` per block of ``chunk`` x ``chunk`` cells (see module doc).

    Each block is painted on a sub-grid of ``factor`` x ``factor`` sub-cells per cell, pieces in
    increasing precedence so that the highest one is painted last (GDAL rasterize, sub-cell
    centres). Counting sub-cells per cell gives the fractions, in steps of ``1/factor**2``.
    """
    f = factor or supersample_factor(grid.cell)
    chunk = max(16, min(chunk, 4096 // f))  # at most 4096 x 4096 sub-cells per block (bounded memory)
    order = sorted(pieces, key=lambda p: p.precedence)  # lowest first: the last painted wins
    if len(order) > 65534:
        raise ValueError("too many land-cover pieces")
    code_index = {c: i for i, c in enumerate(codes)}
    piece_cls = np.array([code_index[p.cls] for p in order], dtype=np.int64)
    piece_src = np.array([p.source for p in order], dtype=np.uint8)
    n_blocks = len(list(grid.windows(chunk)))
    btree = shapely.STRtree([boundary])
    dtype = np.uint8 if len(order) < 255 else np.uint16
    for k, (r0, c0, sub) in enumerate(grid.windows(chunk)):
        h, w = sub.shape
        box = sub.bounds
        frac = np.zeros((len(codes), h, w), dtype=np.float64)
        best = np.zeros((len(codes), h, w), dtype=np.float64)
        best_src = np.full((len(codes), h, w), NO_SOURCE, dtype=np.uint8)
        inside = np.zeros((h, w), dtype=np.float64)
        bgeom = shapely.clip_by_rect(boundary, *box) if len(btree.query(shapely.box(*box))) else None
        if bgeom is not None and not bgeom.is_empty:
            st = Affine(sub.cell / f, 0.0, sub.x0, 0.0, -sub.cell / f, sub.y1)
            shape = (h * f, w * f)
            mask = features.rasterize([(bgeom, 1)], out_shape=shape, transform=st, fill=0, dtype=np.uint8)
            shapes = []
            qbox = shapely.box(*box)
            for i, p in enumerate(order):
                idx = p.tree.query(qbox)
                if len(idx):
                    shapes.extend((g, i + 1) for g in _clip(p.geoms[idx], box) if not g.is_empty)
            if shapes:
                paint = features.rasterize(shapes, out_shape=shape, transform=st, fill=0, dtype=dtype)
            else:
                paint = np.zeros(shape, dtype=dtype)
            paint[mask == 0] = 0
            inside = mask.reshape(h, f, w, f).sum(axis=(1, 3), dtype=np.int64) / (f * f)
            n = len(order) + 1
            cell_id = (np.arange(h)[:, None, None, None] * w + np.arange(w)[None, None, :, None])
            cell_id = np.broadcast_to(cell_id, (h, f, w, f))
            counts = np.bincount((cell_id * n + paint.reshape(h, f, w, f)).ravel(), minlength=h * w * n)
            counts = counts.reshape(h, w, n)[:, :, 1:].transpose(2, 0, 1) / (f * f)  # (pieces, h, w)
            present = counts.reshape(len(order), -1).any(axis=1) if len(order) else np.zeros(0, dtype=bool)
            for i in np.flatnonzero(present):
                cov = counts[i]
                ci = piece_cls[i]
                frac[ci] += cov
                better = cov > best[ci]
                best[ci][better] = cov[better]
                best_src[ci][better] = piece_src[i]
            if rasters:
                remaining = np.clip(inside - frac.sum(axis=0), 0.0, None)
                for rl in rasters:
                    shares = rl.fractions(sub)
                    add_total = np.zeros((h, w))
                    for code, share in shares.items():
                        add = remaining * np.clip(share, 0.0, 1.0)
                        i = code_index[code]
                        frac[i] += add
                        add_total += add
                        better = add > best[i]
                        best[i][better] = add[better]
                        best_src[i][better] = rl.source
                    remaining = np.clip(remaining - add_total, 0.0, None)
        u = code_index[UNKNOWN]
        frac[u] = np.clip(inside - (frac.sum(axis=0) - frac[u]), 0.0, 1.0)
        frac = np.clip(frac, 0.0, 1.0)
        dom_i = np.argmax(frac, axis=0)
        dominant = np.asarray(codes, dtype=np.uint8)[dom_i]
        decided = np.take_along_axis(best_src, dom_i[None], axis=0)[0]
        out_mask = inside <= 0
        dominant[out_mask] = NODATA
        decided[out_mask | (dominant == UNKNOWN)] = NO_SOURCE
        if progress:
            progress(k + 1, n_blocks)
        yield BlockResult(r0, c0, sub, frac.astype(np.float32), inside.astype(np.float32), dominant, decided)


@dataclass
class LandCoverGrid:
    """Whole-grid land cover (for areas that fit in memory)."""

    grid: Grid
    codes: list[int]
    fractions: np.ndarray  # (n_codes, H, W) float32
    inside: np.ndarray
    dominant: np.ndarray
    decided_by: np.ndarray

    def fraction(self, code: int) -> np.ndarray:
        return self.fractions[self.codes.index(code)]


def rasterize(pieces: list[Piece], grid: Grid, codes: list[int], boundary: shapely.Geometry, **kw) -> LandCoverGrid:
    """Assemble all blocks of :func:`rasterize_blocks` into whole-grid arrays."""
    H, W = grid.shape
    fr = np.zeros((len(codes), H, W), dtype=np.float32)
    ins = np.zeros((H, W), dtype=np.float32)
    dom = np.full((H, W), NODATA, dtype=np.uint8)
    dec = np.full((H, W), NO_SOURCE, dtype=np.uint8)
    for b in rasterize_blocks(pieces, grid, codes, boundary, **kw):
        h, w = b.grid.shape
        sl = (slice(b.row0, b.row0 + h), slice(b.col0, b.col0 + w))
        fr[(slice(None), *sl)] = b.fractions
        ins[sl] = b.inside
        dom[sl] = b.dominant
        dec[sl] = b.decided_by
    return LandCoverGrid(grid, list(codes), fr, ins, dom, dec)
