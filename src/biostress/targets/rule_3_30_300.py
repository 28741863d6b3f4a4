"""The 3-30-300 rule (Konijnendijk 2021; knowledge base 4b): 3 trees visible from every home, 30 % tree canopy
in every neighbourhood, the nearest public green space within 300 m (WHO Europe 2016/2017: at least 0.5-1 ha).

**300 m** - network distance along the run's ``roads`` lines:

* graph: nodes = the line vertices (coordinates rounded to ``decimals`` = 0.01 m, so lines sharing a vertex
  are joined), edges = consecutive vertices of a line with weight = their Euclidean distance (m); road classes
  in ``excluded_classes`` (motorways, rail, ferries, ...) are left out; undirected;
* each public green area (polygon) is entered from every node within ``access_m`` of its edge and from its
  nearest node, with a straight link of length ``d(park, node)``;
* each building (a building land-cover cell centre, or a building polygon) joins the network at its nearest node
  with a straight link of length ``d(building, node)``;
* distance ``D(b) = d(b, n_b) + min_p min_{n in access(p)} [d(p, n) + dist(n, n_b)]`` with ``dist`` the shortest
  path (:func:`scipy.sparse.csgraph.dijkstra` from one virtual source linked to every park entrance);
  the building is served when ``D(b) <= max_distance_m``.

Per unit: share of buildings served (0-1); it meets the target when the share is at least the target share
(``targets.yaml``, ev P). Buildings are all buildings, not only homes (the land cover does not tell the use).

**3 trees** - a proxy, only with a tree register (``trees_*`` layer of the run): share of buildings with at least
``min_trees`` register trees within ``tree_radius_m`` (30 m, P) of the building (cell centre or polygon edge).
Trees within 30 m are not necessarily visible from the home.

**30 %** - the canopy share of :mod:`.nrl` against 0.30.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra

from ..grid import Grid


@dataclass(frozen=True)
class WalkGraph:
    """Road network: node coordinates ``(n, 2)`` and an undirected weighted sparse graph ``(n, n)`` (m)."""

    nodes: np.ndarray
    graph: csr_matrix

    @property
    def n(self) -> int:
        return len(self.nodes)


def walk_graph(roads: gpd.GeoDataFrame | gpd.GeoSeries, excluded_classes: Iterable[str] = (),
               decimals: int = 2) -> WalkGraph:
    """The walking network of ``roads`` (lines with an optional ``class`` column), see the module docstring."""
    if isinstance(roads, gpd.GeoDataFrame) and "class" in roads.columns:
        excl = set(excluded_classes)
        roads = roads[~roads["class"].astype(str).isin(excl)]
    geoms = np.asarray(roads.geometry.values if hasattr(roads, "geometry") else roads)
    parts = shapely.get_parts(geoms[[g is not None for g in geoms]]) if len(geoms) else np.zeros(0, object)
    parts = parts[np.isin(shapely.get_type_id(parts), [1, 2])] if len(parts) else parts  # (Linear)Ring/LineString
    if len(parts) == 0:
        return WalkGraph(np.zeros((0, 2)), csr_matrix((0, 0)))
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    key = np.round(coords, decimals)
    nodes, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    same = idx[1:] == idx[:-1]
    a, b = inv[:-1][same], inv[1:][same]
    w = np.hypot(*(coords[1:][same] - coords[:-1][same]).T)
    keep = a != b
    a, b, w = a[keep], b[keep], w[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    df = pd.DataFrame({"a": lo, "b": hi, "w": np.maximum(w, 1e-9)}).groupby(["a", "b"], as_index=False)["w"].min()
    n = len(nodes)
    g = coo_matrix((df["w"].to_numpy(), (df["a"].to_numpy(), df["b"].to_numpy())), shape=(n, n)).tocsr()
    return WalkGraph(nodes, g)


def _nearest(tree: shapely.STRtree, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest tree geometry and its distance for every geometry (first on ties)."""
    src, hit = tree.query_nearest(geoms, return_distance=False, all_matches=False)
    near = np.full(len(geoms), -1, dtype=np.int64)
    near[src] = hit
    dist = np.full(len(geoms), np.inf)
    ok = near >= 0
    dist[ok] = shapely.distance(geoms[ok], np.asarray(tree.geometries)[near[ok]])
    return near, dist


def network_distance_to_green(net: WalkGraph, parks: Any, homes: Any, *, access_m: float = 20.0,
                              limit_m: float = np.inf) -> np.ndarray:
    """Network distance (m) from each home geometry to the nearest park (see the module docstring); ``inf`` when
    no park is reachable within ``limit_m``."""
    homes = np.asarray(homes.geometry.values if hasattr(homes, "geometry") else homes, dtype=object)
    parks = np.asarray(parks.geometry.values if hasattr(parks, "geometry") else parks, dtype=object)
    out = np.full(len(homes), np.inf)
    if net.n == 0 or len(parks) == 0 or len(homes) == 0:
        return out
    pts = shapely.points(net.nodes)
    tree = shapely.STRtree(pts)
    # park entrances: every node within access_m, plus the nearest node
    src, hit = tree.query(parks, predicate="dwithin", distance=access_m) if access_m > 0 else (
        np.zeros(0, np.int64), np.zeros(0, np.int64))
    p_near, _ = _nearest(tree, parks)
    src = np.r_[src, np.arange(len(parks))[p_near >= 0]]
    hit = np.r_[hit, p_near[p_near >= 0]]
    d_link = shapely.distance(parks[src], pts[hit])
    entry = pd.Series(d_link).groupby(hit).min()
    s = net.n  # virtual source
    ent_nodes = entry.index.to_numpy(dtype=np.int64)
    ent_w = np.maximum(entry.to_numpy(dtype=float), 1e-9)
    g = net.graph.tocoo()
    rows = np.r_[g.row, np.full(len(ent_nodes), s)]
    cols = np.r_[g.col, ent_nodes]
    data = np.r_[g.data, ent_w]
    big = coo_matrix((data, (rows, cols)), shape=(s + 1, s + 1)).tocsr()
    dist = dijkstra(big, directed=False, indices=s, limit=limit_m)
    h_near, h_link = _nearest(tree, homes)
    ok = h_near >= 0
    out[ok] = h_link[ok] + dist[h_near[ok]]
    # the virtual source's tiny link weights of parks touching a node count as 0
    return np.where(out <= limit_m + 1e-6, out, np.inf)


def trees_within(homes: Any, trees: Any, radius_m: float) -> np.ndarray:
    """Number of tree points within ``radius_m`` of each home geometry."""
    homes = np.asarray(homes.geometry.values if hasattr(homes, "geometry") else homes, dtype=object)
    trees = np.asarray(trees.geometry.values if hasattr(trees, "geometry") else trees, dtype=object)
    if len(homes) == 0 or len(trees) == 0:
        return np.zeros(len(homes), dtype=np.int64)
    tree = shapely.STRtree(trees)
    src, _ = tree.query(homes, predicate="dwithin", distance=radius_m)
    return np.bincount(src, minlength=len(homes)).astype(np.int64)


def building_cells(dominant: np.ndarray, codes: Iterable[int], grid: Grid) -> gpd.GeoSeries:
    """Cell-centre points of the cells whose dominant class is in ``codes``."""
    r, c = np.nonzero(np.isin(np.asarray(dominant), np.asarray(list(codes))))
    xs = grid.x0 + (c + 0.5) * grid.cell
    ys = grid.y1 - (r + 0.5) * grid.cell
    return gpd.GeoSeries(shapely.points(xs, ys), crs=grid.crs)


def share_per_unit(units: gpd.GeoDataFrame, homes: gpd.GeoSeries, flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: (number of homes, share of them with ``flag``); NaN share for units without homes. A home
    belongs to the unit holding its point (representative point for polygons)."""
    n = np.zeros(len(units))
    share = np.full(len(units), np.nan)
    if len(homes) == 0 or len(units) == 0:
        return n, share
    pts = shapely.point_on_surface(np.asarray(homes.values, dtype=object))
    tree = shapely.STRtree(units.geometry.values)
    src, hit = tree.query(pts, predicate="intersects")
    first = pd.Series(hit).groupby(src).min()  # a point on a shared edge goes to one unit only
    h, u = first.index.to_numpy(), first.to_numpy()
    cnt = np.bincount(u, minlength=len(units)).astype(float)
    yes = np.bincount(u, weights=np.asarray(flag, dtype=float)[h], minlength=len(units))
    n[:] = cnt
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(cnt > 0, yes / cnt, np.nan)
    return n, share


__all__ = ["WalkGraph", "building_cells", "network_distance_to_green", "share_per_unit", "trees_within",
           "walk_graph"]
