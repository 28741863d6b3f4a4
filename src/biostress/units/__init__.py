"""Area units and their hierarchy: gemeente -> wijk -> buurt (-> parcel), or any polygon layer, or hexagons.

CBS codes (Wijk- en buurtkaart): a buurt ``BU`` + 8 digits = gemeente (4) + wijk (2) + buurt (2);
its wijk is ``WK`` + the first 6 digits, its gemeente ``GM`` + the first 4. Wijken and the
gemeente are derived by merging buurten, so the levels nest exactly (their totals agree).

Every units layer has the columns ``code``, ``name``, ``level``, ``parent_code`` and
``area_m2``. Parcels (BRK) are the level below buurt in the data model; they are not part of
the open sample data.
"""

from __future__ import annotations

import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InputDataError

LEVELS = ("gemeente", "wijk", "buurt")
_BU = re.compile(r"^BU(\d{4})(\d{2})(\d{2})$")


def cbs_hierarchy(buurten: gpd.GeoDataFrame, *, source: str = "CBS buurten") -> dict[str, gpd.GeoDataFrame]:
    """Build gemeente, wijk and buurt layers from a CBS buurten layer and check their codes.

    Raises :class:`InputDataError` when columns are missing or a code does not fit its parents.
    """
    need = ["buurtcode", "wijkcode", "gemeentecode"]
    missing = [c for c in need if c not in buurten.columns]
    if missing:
        raise InputDataError(f"{source} lacks the column(s) {missing} (columns: {[c for c in buurten.columns if c != 'geometry']}).",
                             hint="Use the 'buurten' layer of the CBS Wijk- en buurtkaart, or units kind 'layer' with a code_column.")
    b = buurten.copy()
    bad = []
    for bc, wc, gc in zip(b["buurtcode"], b["wijkcode"], b["gemeentecode"], strict=True):
        m = _BU.match(str(bc))
        if not m or str(wc) != f"WK{m.group(1)}{m.group(2)}" or str(gc) != f"GM{m.group(1)}":
            bad.append(f"{bc} (wijk {wc}, gemeente {gc})")
    if bad:
        raise InputDataError(f"{source}: {len(bad)} buurt code(s) do not fit their wijk/gemeente code: {bad[:5]}",
                             hint="Check that the file is an unmodified CBS Wijk- en buurtkaart.")
    if b["buurtcode"].duplicated().any():
        dup = b.loc[b["buurtcode"].duplicated(), "buurtcode"].tolist()
        raise InputDataError(f"{source}: buurt codes occur more than once: {dup[:5]}")
    name_col = "buurtnaam" if "buurtnaam" in b.columns else None
    buurt = gpd.GeoDataFrame({
        "code": b["buurtcode"].astype(str),
        "name": b[name_col].astype(str) if name_col else b["buurtcode"].astype(str),
        "level": "buurt",
        "parent_code": b["wijkcode"].astype(str),
        "gemeentecode": b["gemeentecode"].astype(str),
    }, geometry=b.geometry.values, crs=b.crs)
    wnames = b["wijknaam"] if "wijknaam" in b.columns else None
    wijk = buurt.dissolve(by="parent_code", as_index=False, aggfunc="first")
    wijk = gpd.GeoDataFrame({
        "code": wijk["parent_code"], "name": wijk["parent_code"] if wnames is None else
        wijk["parent_code"].map(dict(zip(b["wijkcode"], wnames, strict=True))),
        "level": "wijk", "parent_code": wijk["gemeentecode"], "gemeentecode": wijk["gemeentecode"],
    }, geometry=wijk.geometry.values, crs=b.crs)
    gnames = dict(zip(b["gemeentecode"], b["gemeentenaam"], strict=True)) if "gemeentenaam" in b.columns else {}
    gem = buurt.dissolve(by="gemeentecode", as_index=False, aggfunc="first")
    gem = gpd.GeoDataFrame({
        "code": gem["gemeentecode"], "name": gem["gemeentecode"].map(lambda c: gnames.get(c, c)),
        "level": "gemeente", "parent_code": None, "gemeentecode": gem["gemeentecode"],
    }, geometry=gem.geometry.values, crs=b.crs)
    out = {"gemeente": gem, "wijk": wijk, "buurt": buurt}
    for k, v in out.items():
        v["area_m2"] = v.geometry.area
        out[k] = v.sort_values("code").reset_index(drop=True)
    return out


def layer_units(gdf: gpd.GeoDataFrame, code_column: str, name_column: str | None, *, source: str) -> dict[str, gpd.GeoDataFrame]:
    """Units from any polygon layer with a unique code column."""
    if code_column not in gdf.columns:
        raise InputDataError(f"{source} lacks the code column '{code_column}' (columns: {[c for c in gdf.columns if c != 'geometry']}).")
    if name_column and name_column not in gdf.columns:
        raise InputDataError(f"{source} lacks the name column '{name_column}'.")
    codes = gdf[code_column].astype(str)
    if codes.duplicated().any():
        raise InputDataError(f"{source}: codes in '{code_column}' are not unique: {codes[codes.duplicated()].tolist()[:5]}")
    u = gpd.GeoDataFrame({"code": codes, "name": gdf[name_column].astype(str) if name_column else codes,
                          "level": "unit", "parent_code": None}, geometry=gdf.geometry.values, crs=gdf.crs)
    u["area_m2"] = u.geometry.area
    return {"unit": u.sort_values("code").reset_index(drop=True)}


def hexagons(boundary: shapely.Geometry, size_m: float, crs: str) -> gpd.GeoDataFrame:
    """Flat-topped hexagons of width ``size_m`` (edge to edge across flats, vertical) covering
    ``boundary``, clipped to it. Codes ``HEX_<col>_<row>``.

    A hexagon with flat-to-flat width ``d`` has side ``s = d / sqrt(3)`` and area ``3*sqrt(3)/2*s**2``.
    """
    s = size_m / math.sqrt(3.0)
    xmin, ymin, xmax, ymax = boundary.bounds
    dx = 1.5 * s
    dy = size_m
    cols = np.arange(math.floor(xmin / dx) - 1, math.ceil(xmax / dx) + 2)
    rows = np.arange(math.floor(ymin / dy) - 1, math.ceil(ymax / dy) + 2)
    cc, rr = np.meshgrid(cols, rows)
    cx = cc * dx
    cy = rr * dy + np.where(cc % 2 == 1, dy / 2.0, 0.0)
    ang = np.deg2rad(np.arange(0, 360, 60))
    xs = cx.ravel()[:, None] + s * np.cos(ang)[None, :]
    ys = cy.ravel()[:, None] + s * np.sin(ang)[None, :]
    rings = np.stack([xs, ys], axis=-1)
    polys = shapely.polygons(rings)
    tree = shapely.STRtree(polys)
    hit = tree.query(boundary, predicate="intersects")
    clipped = shapely.intersection(polys[hit], boundary)
    keep = ~shapely.is_empty(clipped) & (shapely.area(clipped) > 0)
    codes = [f"HEX_{c}_{r}" for c, r in zip(cc.ravel()[hit][keep], rr.ravel()[hit][keep], strict=True)]
    g = gpd.GeoDataFrame({"code": codes, "name": codes, "level": "hexagon", "parent_code": None},
                         geometry=clipped[keep], crs=crs)
    g["area_m2"] = g.geometry.area
    return g.reset_index(drop=True)


def check_nesting(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, *, tolerance_m2: float = 1.0) -> pd.DataFrame:
    """For each child unit: its parent by code and the area of the child lying outside that parent.

    Returns a frame with ``code``, ``parent_code`` and ``outside_m2``; rows exceeding
    ``tolerance_m2`` are nesting errors.
    """
    par = parents.set_index("code").geometry
    missing = ~children["parent_code"].isin(par.index)
    if missing.any():
        raise InputDataError(f"{int(missing.sum())} unit(s) name a parent that does not exist: "
                             f"{children.loc[missing, 'parent_code'].unique().tolist()[:5]}")
    pg = par.loc[children["parent_code"]].values
    outside = shapely.area(shapely.difference(children.geometry.values, pg))
    return pd.DataFrame({"code": children["code"].values, "parent_code": children["parent_code"].values,
                         "outside_m2": outside, "ok": outside <= tolerance_m2})
