"""BGT (Basisregistratie Grootschalige Topografie): the Dutch large-scale base map, as land cover.

The BGT divides the ground surface into object types (pand, wegdeel, begroeidterreindeel, ...)
with domain values (``fysiek_voorkomen``, ``functie``, ``type``) that the mapping table turns into
land-cover classes (schema ``bgt``). Only ground-level objects (``relatieve_hoogteligging`` 0)
are land cover; bridges and tunnels are ignored, the ground below them is mapped separately.

Accepted forms: a GeoPackage with one layer per object type, a folder with one file per object
type (named after it, optionally prefixed ``bgt_``), or the PDOK OGC API Features service
(``url:`` with ``service: ogcapi``; one collection per object type). Attribute names from the
different BGT exports (``bgt-fysiekVoorkomen``, ``fysiekVoorkomen``, ``fysiek_voorkomen``, ...) are
normalised to the snake_case names the PDOK OGC API uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely

from ..errors import InputDataError
from .safe import EXTENSIONS, check_format
from .vector_files import read_vector

#: Object types read by default (all that carry ground cover, plus those the mapping ignores on purpose).
BGT_LAYERS = ("pand", "overigbouwwerk", "wegdeel", "ondersteunendwegdeel", "begroeidterreindeel",
              "onbegroeidterreindeel", "waterdeel", "ondersteunendwaterdeel", "overbruggingsdeel")

_ATTR = {"fysiekvoorkomen": "fysiek_voorkomen", "functie": "functie", "function": "functie", "type": "type",
         "relatievehoogteligging": "relatieve_hoogteligging", "plusfysiekvoorkomen": "plus_fysiek_voorkomen",
         "plusfunctie": "plus_functie", "plustype": "plus_type"}


def layer_name(name: str) -> str | None:
    """Object type of a layer or file name: ``bgt_wegdeel`` / ``BGT-Wegdeel`` / ``wegdeel`` -> ``wegdeel``."""
    n = re.sub(r"^bgt[_\-\s]?", "", Path(name).stem.lower())
    n = re.sub(r"[_\-\s]?(v|vlak|polygon)$", "", n)
    return n if n.isalpha() else None


def normalise_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rename BGT attribute columns to the PDOK OGC API names (``fysiek_voorkomen``, ...)."""
    ren = {}
    for c in gdf.columns:
        key = re.sub(r"^(bgt|imgeo)[\-_:]", "", str(c)).replace("_", "").replace("-", "").lower()
        if key in _ATTR and c != gdf.geometry.name:
            ren[c] = _ATTR[key]
    out = gdf.rename(columns=ren)
    for c in ("relatieve_hoogteligging",):
        if c in out.columns:
            out[c] = out[c].astype("string").str.replace(r"\.0$", "", regex=True)
    return out


def read_bgt(path: Path, bbox: tuple[float, float, float, float], crs: str, *,
             layers: Iterable[str] = BGT_LAYERS) -> dict[str, gpd.GeoDataFrame]:
    """Read BGT object types from a GeoPackage or a folder of files, clipped to ``bbox`` (in ``crs``)."""
    wanted = set(layers)
    found: dict[str, tuple[Path, str | None]] = {}
    if path.is_dir():
        for f in sorted(path.iterdir()):
            n = layer_name(f.name)
            if n in wanted and f.suffix.lower() in EXTENSIONS:
                found[n] = (f, None)
    else:
        check_format(path, "gpkg")
        for lname, geom in pyogrio.list_layers(path):
            n = layer_name(str(lname))
            if geom is not None and n in wanted:
                found[n] = (path, str(lname))
    if not found:
        raise InputDataError(f"{path} holds no BGT object types (looked for {sorted(wanted)}).",
                             hint="Give a BGT GeoPackage with one layer per object type (e.g. 'pand', 'bgt_wegdeel') "
                                  "or a folder with one file per object type.")
    out = {}
    for n, (f, lname) in found.items():
        g = read_vector(f, layer=lname)
        g = g.to_crs(crs) if not g.crs.equals(crs) else g
        g = g.iloc[sorted(g.sindex.query(shapely.box(*bbox), predicate="intersects"))]
        out[n] = normalise_columns(g)
    return out


def fetch_bgt(base_url: str, bbox: tuple[float, float, float, float], crs_uri: str, *, cache, allow_hosts=(),
              layers: Iterable[str] = BGT_LAYERS, page_size: int = 1000) -> tuple[dict[str, gpd.GeoDataFrame], list[dict]]:
    """Fetch BGT object types from an OGC API Features service (PDOK ``/lv/bgt/ogc/v1``).

    Returns the layers and the provenance of each collection fetched."""
    from .ogc import fetch_ogcapi_features

    base = base_url.split("/collections/")[0].rstrip("/")
    out, prov = {}, []
    for n in layers:
        g = fetch_ogcapi_features(base, n, bbox=bbox, bbox_crs=crs_uri, crs=crs_uri, cache=cache, allow_hosts=allow_hosts,
                                  limit=page_size)
        prov.append(dict(g.attrs.get("provenance", {}), collection=n))
        out[n] = normalise_columns(g)
    return out, prov
