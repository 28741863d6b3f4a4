"""Turn a source's features into land-cover pieces with the mapping table.

Polygons keep their area; lines and points become polygons by buffering with half the
``width_m`` of the rule that matched them (roads, ditches, hedges, single trees). Features no rule
matches are reported as unmapped in the run's warnings; features a rule marks ``ignore`` (points
of interest, designations, tunnels) are counted but carry no land cover.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from .legend import Legend
from .mapping import IGNORE, Rule, classify, describe_unmapped
from .rasterize import Piece


def layer_pieces(gdf: gpd.GeoDataFrame, rules: list[Rule], legend: Legend, *, source: int, order: int,
                 override: bool, label: str, notes: list[str]) -> tuple[list[Piece], dict[str, int]]:
    """Classify ``gdf`` with ``rules`` and group it into pieces. Returns pieces and counts."""
    counts = {"features": len(gdf), "mapped": 0, "ignored": 0, "unmapped": 0, "no_width": 0}
    if gdf.empty:
        return [], counts
    if not rules:
        notes.append(f"{label}: no mapping rules for this layer; its {len(gdf)} feature(s) were not used "
                     "(add rows to the mapping table to use them)")
        counts["unmapped"] = len(gdf)
        return [], counts
    idx = classify(gdf, rules)
    unmapped = idx < 0
    if unmapped.any():
        counts["unmapped"] = int(unmapped.sum())
        desc = describe_unmapped(gdf, rules, idx)
        notes.append(f"{label}: {counts['unmapped']} feature(s) match no mapping rule and were not used: " + "; ".join(desc))
    geoms = gdf.geometry.values
    dims = shapely.get_dimensions(geoms)
    groups: dict[tuple[int, int], list[np.ndarray]] = {}
    for ri in np.unique(idx[idx >= 0]):
        rule = rules[ri]
        sel = idx == ri
        if rule.cls == IGNORE:
            counts["ignored"] += int(sel.sum())
            continue
        g = geoms[sel]
        d = dims[sel]
        polys = g[d == 2]
        others = g[d < 2]
        if len(others):
            if rule.width_m is None:
                counts["no_width"] += len(others)
                notes.append(f"{label}: {len(others)} point/line feature(s) matched '{rule.where}' -> {rule.cls}, "
                             "but the rule has no width_m, so they carry no area")
            else:
                buffered = shapely.buffer(others, rule.width_m / 2.0, quad_segs=4)
                polys = np.concatenate([polys, buffered])
        polys = polys[~shapely.is_empty(polys)]
        if len(polys) == 0:
            continue
        counts["mapped"] += int(sel.sum())
        code = legend.by_key(rule.cls).code
        groups.setdefault((code, rule.priority), []).append(polys)
    pieces = [
        Piece(cls=code, source=source, precedence=(int(override), prio, order), geoms=np.concatenate(parts),
              label=f"{label}:{legend.classes[[c.code for c in legend.classes].index(code)].key}")
        for (code, prio), parts in sorted(groups.items())
    ]
    return pieces, counts
