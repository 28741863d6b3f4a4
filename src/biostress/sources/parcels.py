"""Cadastral parcels: the ids people know their plot by ("DDT00 K 1234"), for search and the plot card.

A ``parcels`` source (``docs/area-config.md``) is any polygon layer with a parcel id: the Kadaster's BRK
Kadastrale kaart (layer *Perceel*, CC-BY 4.0; as GeoPackage or GML download, or from PDOK's OGC API), or a
municipality's own parcel register. :func:`parcel_frame` picks the id column, writes the id in one form and
keeps ``parcel_id``, ``area_m2`` (of the polygon, m²) and the geometry; the run stores it as the layer
``parcels`` of ``biostress.gpkg``. :func:`parcel_key` is the form ids are compared in (case, spaces and
separators ignored), so "ddt00k1234", "DDT00 K 1234" and "DDT00-K-1234" find the same parcel.

BRK attribute names (Kadastrale kaart v5; GML/GeoPackage in camel case, the OGC API in snake case):
``AKRKadastraleGemeenteCodeWaarde`` / ``akr_kadastrale_gemeente_code_waarde`` (e.g. DDT00), ``sectie`` (K),
``perceelnummer`` (1234).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import InputDataError

__all__ = ["ID_COLUMNS", "parcel_frame", "parcel_key"]

#: columns taken as the parcel id when ``id_column`` is not given (case ignored), in this order
ID_COLUMNS = ("parcel_id", "perceel_id", "perceel", "parcel")
#: the BRK columns that together make the id: kadastrale gemeente code, sectie, perceelnummer
_BRK = (("akrkadastralegemeentecodewaarde", "akr_kadastrale_gemeente_code_waarde", "kadastralegemeentecode",
         "kadastrale_gemeente_code"), ("sectie",), ("perceelnummer",))
_SEP = re.compile(r"[\s\-_./:]+")


def parcel_key(text: Any) -> str:
    """The form parcel ids are compared in: upper case without spaces and separators.

    >>> parcel_key(" ddt00 k 1234 "), parcel_key("DDT00-K-1234")
    ('DDT00K1234', 'DDT00K1234')
    """
    return _SEP.sub("", str(text)).upper()


def _column(gdf: Any, names: tuple[str, ...]) -> str | None:
    lower = {str(c).lower(): c for c in gdf.columns if c != "geometry"}
    return next((lower[n] for n in names if n in lower), None)


def parcel_frame(gdf: Any, id_column: str | None = None, label: str = "parcels") -> Any:
    """``gdf`` (polygons, projected CRS) as ``parcel_id`` (text), ``area_m2`` and geometry.

    The id comes from ``id_column``, else from the first of :data:`ID_COLUMNS`, else from the BRK columns
    (``"<gemeente code> <sectie> <perceelnummer>"``). Parcels without an id are dropped and reported in the
    returned frame's ``attrs["notes"]``; no id column at all raises :class:`InputDataError`."""
    import geopandas as gpd

    notes: list[str] = []
    if id_column is not None:
        if id_column not in gdf.columns:
            raise InputDataError(f"{label} has no column '{id_column}' (columns: {_names(gdf)}).",
                                 hint="Set 'id_column:' of the source to the column that holds the parcel id.")
        ids = gdf[id_column]
    else:
        col = _column(gdf, ID_COLUMNS)
        parts = [_column(gdf, names) for names in _BRK]
        if col is not None:
            ids = gdf[col]
        elif all(p is not None for p in parts):
            code, section, number = (gdf[p] for p in parts)
            ids = code.astype("string").str.strip() + " " + section.astype("string").str.strip() + " " + \
                number.astype("Int64").astype("string")
        else:
            raise InputDataError(f"{label} has no parcel id column (columns: {_names(gdf)}).",
                                 hint="Set 'id_column:', or give a layer with parcel_id, or the BRK columns "
                                      "AKRKadastraleGemeenteCodeWaarde, sectie and perceelnummer.")
    text = ids.astype("string").str.strip()
    ok = text.notna() & (text.str.len() > 0)
    if (~ok).any():
        notes.append(f"{label}: {int((~ok).sum())} parcels without an id left out")
    out = gpd.GeoDataFrame({"parcel_id": text[ok].astype(str).to_numpy()},
                           geometry=gdf.geometry[ok].to_numpy(), crs=gdf.crs)
    if out.crs is not None and not out.crs.is_projected:
        raise InputDataError(f"{label} is in a geographic CRS ({out.crs.to_string()}); parcels need the area's "
                             "projected CRS.", hint="Read it through the pipeline, which reprojects sources.")
    out["area_m2"] = out.geometry.area
    if out.empty:
        raise InputDataError(f"{label} has no parcel with an id.", hint="Check the id column.")
    out = out[["parcel_id", "area_m2", "geometry"]]
    out.attrs["notes"] = notes
    return out


def _names(gdf: Any) -> list[str]:
    return [str(c) for c in gdf.columns if c != "geometry"][:20]
