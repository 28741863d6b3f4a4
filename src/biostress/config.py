"""The area configuration: one YAML file that describes an area, its grid, its units and its sources.

Validated with pydantic; the JSON Schema is published as ``docs/area.schema.json`` (regenerate
with ``biostress schema``). Every field is documented in ``docs/area-config.md``.

Paths in the file are relative to the folder of the YAML file and must stay inside the
``data_root`` (by default that same folder): see :mod:`biostress.sources.safe`.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from .errors import ConfigError

SourceKind = Literal[
    "openmaptiles", "osm_pbf", "bgt", "landcover_vector", "landcover_raster", "tree_register",
    "natura2000", "dem", "raster", "points", "vector", "species_records", "parcels",
]
LANDCOVER_KINDS = ("openmaptiles", "osm_pbf", "bgt", "landcover_vector", "landcover_raster", "tree_register")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceSpec(_Strict):
    """One input data set, in the order it should be applied (later overrides earlier at equal priority)."""

    name: Annotated[str, Field(min_length=1, max_length=80, description="Short unique name, used in reports and as the 'decided by' label.")]
    kind: SourceKind = Field(description=(
        "openmaptiles: OSM in the OpenMapTiles schema (tile folder {z}/{x}/{y}.pbf, .mbtiles, .pmtiles, "
        "a folder of GeoParquet layers or a GeoPackage); osm_pbf: a raw .osm.pbf extract; bgt: the Dutch BGT "
        "(GeoPackage or folder with one layer per object type, or the PDOK OGC API with service: ogcapi); landcover_vector: "
        "a polygon layer with a class column (a municipality's green map, BGT); landcover_raster: ESA "
        "WorldCover or CORINE codes; tree_register: tree points; natura2000: Natura 2000 site polygons; "
        "dem: elevation raster (AHN); raster: any other measured raster named by 'variable' (nitrogen deposition, "
        "multispectral bands, groundwater); points: point records (CSV with coordinates or a point layer); "
        "vector: any other context layer copied into the run; species_records: species observations as a Darwin Core "
        "Archive (.zip, e.g. a GBIF download) or a Darwin Core CSV/TSV (e.g. an NDFF export), used by the "
        "species_records indicator; parcels: cadastral parcels (e.g. the Kadaster's BRK Kadastrale kaart, layer "
        "Perceel): found by their id in the web tool's search and named on the plot card."))
    path: str | None = Field(None, description="File or folder, relative to the area file. Either path or url.")
    url: str | None = Field(None, description="Online source (http/https). Fetched once, then cached with URL, time and checksum.")
    service: Literal["file", "ogcapi", "wfs"] = Field("file", description="Protocol for url: plain download, OGC API Features, or WFS 2.0.")
    collection: str | None = Field(None, description="OGC API collection id or WFS type name.")
    filters: dict[str, str] | None = Field(None, description="OGC API: property filters sent as query parameters, e.g. {gemeentecode: GM0505}.")
    page_size: int = Field(1000, ge=1, le=10000, description="Features per request when paging an OGC API / WFS service.")
    format: str | None = Field(None, description="Declared file format (gpkg, geojson, shp, fgb, parquet, gtiff, csv, mbtiles, pmtiles, osmpbf). Default: from the extension. The content must agree.")
    layer: str | None = Field(None, description="Layer inside a multi-layer file (GeoPackage).")
    crs: str | None = Field(None, description="CRS of a file that does not carry one (CSV). A file that carries a CRS must not contradict it.")
    licence: Annotated[str, Field(min_length=1, description="Licence of the data, e.g. 'ODbL-1.0', 'CC-BY-4.0', 'CC0-1.0'.")]
    attribution: Annotated[str, Field(min_length=1, description="Attribution line shown on maps and in reports.")]
    date: str = Field(description="Date (or year, or year-month) the data describes: YYYY, YYYY-MM or YYYY-MM-DD.")
    override: bool = Field(False, description="Local data that must win over all other land-cover sources where they overlap (e.g. the municipality's own green map).")
    scheme: Literal["worldcover", "corine"] | None = Field(None, description="Code list of a landcover_raster.")
    class_column: str | None = Field(None, description="landcover_vector: the column holding the class or type.")
    class_map: dict[str, str] | None = Field(None, description="landcover_vector: value of class_column -> legend key (or 'ignore'). Unlisted values are reported.")
    priority: int = Field(70, ge=0, le=1000, description="landcover_vector: overlap priority of its features (see the mapping table).")
    variable: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$", description=(
        "raster: what the raster measures, as indicators look it up: nitrogen_deposition (mol N/ha/yr), red, nir "
        "(multispectral bands for NDVI), gxg/ghg/glg (groundwater depth, m), soil_moisture, soil_group (1-4 = A-D), "
        "et0 (reference evapotranspiration, mm/day), ..."))
    x_column: str | None = Field(None, description="CSV points: column with x (or longitude).")
    y_column: str | None = Field(None, description="CSV points: column with y (or latitude).")
    species_column: str | None = Field(None, description="tree_register: column with the species name (copied to 'species' in the trees layer).")
    crown_column: str | None = Field(None, description="tree_register: column with crown diameter in metres.")
    height_column: str | None = Field(None, description="tree_register: column with tree height in metres (crown estimated from it when no crown).")
    default_crown_m: float = Field(6.0, gt=0, le=40, description="tree_register: crown diameter used when neither crown nor height is known (m).")
    id_column: str | None = Field(None, description=(
        "parcels: the column with the parcel id. Default: a column parcel_id, perceel_id, perceel or parcel, else "
        "the BRK columns kadastrale gemeente code + sectie + perceelnummer (written as 'DDT00 K 1234')."))
    description: str = ""

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, v: object) -> str:
        # before pydantic's str check: YAML reads an unquoted 2024 as int, 2024-05-01 as a date
        v = str(v)
        for fmt in ("%Y", "%Y-%m", "%Y-%m-%d"):
            try:
                _dt.datetime.strptime(v, fmt)
                return v
            except ValueError:
                pass
        raise ValueError(f"date {v!r} must be YYYY, YYYY-MM or YYYY-MM-DD")

    @model_validator(mode="after")
    def _check(self) -> SourceSpec:
        if (self.path is None) == (self.url is None):
            raise ValueError(f"source '{self.name}': give exactly one of 'path' or 'url'")
        if self.url is not None and self.service in ("ogcapi", "wfs") and not self.collection and self.kind != "bgt":
            raise ValueError(f"source '{self.name}': an {self.service} source needs 'collection'")
        if self.kind == "bgt" and self.url is not None and self.service != "ogcapi":
            raise ValueError(f"source '{self.name}': an online bgt source must use service: ogcapi (PDOK OGC API Features)")
        if self.kind == "raster" and not self.variable:
            raise ValueError(f"source '{self.name}': a raster source needs 'variable' (e.g. nitrogen_deposition)")
        if self.kind == "landcover_raster" and self.scheme is None:
            raise ValueError(f"source '{self.name}': a landcover_raster needs 'scheme' (worldcover or corine)")
        if self.kind == "landcover_vector" and (not self.class_column or not self.class_map):
            raise ValueError(f"source '{self.name}': a landcover_vector needs 'class_column' and 'class_map'")
        if self.crs is not None:
            _check_crs(self.crs)
        return self


class BoundarySpec(_Strict):
    """The area of interest. One of: a polygon file, the union of the area units, or a box."""

    path: str | None = Field(None, description="Polygon file; all polygons are merged.")
    layer: str | None = None
    from_units: bool = Field(False, description="Use the union of the area units as the boundary.")
    bbox: tuple[float, float, float, float] | None = Field(None, description="xmin, ymin, xmax, ymax in the area CRS.")

    @model_validator(mode="after")
    def _one(self) -> BoundarySpec:
        n = sum([self.path is not None, self.from_units, self.bbox is not None])
        if n != 1:
            raise ValueError("boundary: give exactly one of 'path', 'from_units: true' or 'bbox'")
        if self.bbox is not None:
            x0, y0, x1, y1 = self.bbox
            if not (x1 > x0 and y1 > y0):
                raise ValueError(f"boundary bbox {self.bbox} is empty (need xmin < xmax and ymin < ymax)")
        return self


class UnitsSpec(_Strict):
    """Area units to summarise results by."""

    kind: Literal["cbs", "layer", "hexagon", "none"] = Field(description=(
        "cbs: a CBS wijk- en buurtkaart buurten layer (buurtcode, wijkcode, gemeentecode): gemeente, wijk "
        "and buurt are derived with their official codes; layer: any polygon layer with a code column; "
        "hexagon: a hexagon grid over the boundary; none: no units (a hexagon grid is still made for summaries)."))
    path: str | None = Field(None, description="cbs/layer: the polygon file.")
    url: str | None = Field(None, description="cbs: fetch from an OGC API Features service instead of a file.")
    collection: str | None = None
    filters: dict[str, str] | None = Field(None, description="OGC API: property filters, e.g. {gemeentecode: GM0505}.")
    page_size: int = Field(1000, ge=1, le=10000)
    layer: str | None = None
    code_column: str | None = Field(None, description="layer: unique code per unit.")
    name_column: str | None = Field(None, description="layer: display name per unit.")
    hex_size_m: float = Field(250.0, gt=0, le=10000, description="Hexagon edge-to-edge width in metres.")
    licence: str = "CC-BY-4.0"
    attribution: str = "CBS / Kadaster, Wijk- en buurtkaart"
    date: str = ""

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, v: object) -> str:
        return v if v is None else str(v)  # unquoted YAML dates/years (see SourceSpec.date)

    @model_validator(mode="after")
    def _check(self) -> UnitsSpec:
        if self.kind in ("cbs", "layer") and not (self.path or self.url):
            raise ValueError(f"units kind '{self.kind}' needs 'path' (or 'url')")
        if self.kind == "layer" and not self.code_column:
            raise ValueError("units kind 'layer' needs 'code_column'")
        return self


class LandCoverSpec(_Strict):
    legend: str | None = Field(None, description="Own legend CSV (default: the built-in legend).")
    mapping: str | None = Field(None, description="Own mapping table CSV (default: the built-in table).")
    subcell_m: float = Field(1.0, ge=0.05, le=20, description="Size of the sub-cells used to measure cover fractions (m). Smaller is more exact and slower; cost grows with (area / subcell_m)^2.")
    chunk_cells: int = Field(512, ge=64, le=4096, description="Rasterise in blocks of this many cells square (bounds memory).")


class PlanSpec(_Strict):
    budget_eur: float | None = Field(None, ge=0, description="Budget (EUR, net present cost over the finance horizon) for the plan; without it, give targets and the plan reaches them at least cost.")
    block_m: float = Field(100.0, gt=0, le=5000, description="Size (m) of the blocks a plan chooses measures for (one measure per block; rounded to whole cells).")
    measures: list[str] | None = Field(None, description="Only these measure ids (default: the whole catalogue).")
    weights: dict[str, float] = Field(default_factory=dict, description="Weights of co-benefits in the objective, e.g. {cooling: 0.5, water_m3: 7} (objective = gain + sum of weight x co-benefit).")
    targets: dict[str, float] = Field(default_factory=dict, description="Minimum totals the plan must reach, e.g. {gain: 50000, water_m3: 2000}.")
    method: Literal["auto", "milp", "greedy"] = Field("auto", description="auto: exact (HiGHS) up to 10 000 options, the heuristic with its optimality gap above.")


class IndicatorsSpec(_Strict):
    enabled: list[str] | None = Field(None, description="Indicators to compute (default: all). See docs/indicators.md.")
    params_dir: str | None = Field(None, description="Folder with the area's own parameter tables (same file names as biostress/data/params); they replace the built-in ones.")
    stress_test: bool = Field(True, description="After the indicators, run the stress test: robustness, vulnerability and five classes (docs/stresstest.md).")
    potential: bool = Field(True, description="After the indicators, compute the potential land cover and the gap between potential and current (docs/potential.md).")
    opportunity: bool = Field(True, description="After the indicators, compute the opportunity map: where each measure of the catalogue fits and what it brings (docs/opportunity.md).")
    opportunity_per_measure: bool = Field(True, description="Also write one raster per measure (opportunity_<id>: its gain where it fits) and its sum per unit.")
    species_cell_m: float = Field(250.0, ge=10.0, le=10_000.0, description="Cell size (m) over which species records are counted (richness, sampling effort); coarser than the analysis grid so that a cell has a chance to have been visited.")
    tile_cells: int = Field(2048, ge=64, le=16384, description="Local indicators run tile by tile on tiles of this many cells square (with a halo of their reach), so memory does not grow with the area.")
    global_max_cells: int = Field(9_000_000, ge=10_000, le=400_000_000, description="Global indicators (fragmentation, connectivity, guide-species networks, species records, depressions) run on at most this many cells; a larger grid is coarsened for them by an integer factor (stated in the run's warnings).")


class AreaConfig(_Strict):
    """An area to analyse."""

    name: Annotated[str, Field(min_length=1, max_length=120, description="Name of the area, e.g. 'Dordrecht'.")]
    code: str | None = Field(None, description="Official code, e.g. CBS gemeentecode GM0505.")
    crs: str = Field("EPSG:28992", description="Projected CRS of the analysis grid (EPSG:28992 = RD New in the Netherlands).")
    cell_size: float = Field(10.0, ge=1.0, le=100.0, description="Cell size of the analysis grid in metres (1-100).")
    boundary: BoundarySpec
    units: UnitsSpec = UnitsSpec(kind="none")
    sources: Annotated[list[SourceSpec], Field(min_length=1)]
    landcover: LandCoverSpec = LandCoverSpec()
    indicators: IndicatorsSpec = IndicatorsSpec()
    plan: PlanSpec | None = Field(None, description="A plan to make in every run: which measures where for a budget or targets (docs/plans.md).")
    data_root: str | None = Field(None, description="Folder that all paths must stay inside (default: the folder of this file).")
    cache_dir: str | None = Field(None, description="Cache for online sources (default: <data_root>/.biostress-cache).")
    allow_hosts: list[str] = Field(default_factory=list, description="Hosts (name or name:port) allowed to resolve to internal addresses, e.g. a test server.")

    @field_validator("crs")
    @classmethod
    def _crs(cls, v: str) -> str:
        c = _check_crs(v)
        if not c.is_projected:
            raise ValueError(f"crs {v} is not projected: the grid needs metres (use e.g. EPSG:28992)")
        return v

    @model_validator(mode="after")
    def _unique(self) -> AreaConfig:
        names = [s.name for s in self.sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"source names must be unique; repeated: {sorted(dup)}")
        if not any(s.kind in LANDCOVER_KINDS for s in self.sources):
            raise ValueError("at least one land-cover source is needed (openmaptiles, osm_pbf, landcover_vector, landcover_raster or tree_register)")
        if self.boundary.from_units and self.units.kind not in ("cbs", "layer"):
            raise ValueError("boundary.from_units needs units of kind 'cbs' or 'layer'")
        return self


def _check_crs(v: str) -> CRS:
    try:
        return CRS.from_user_input(v)
    except CRSError as e:
        raise ValueError(f"unknown CRS {v!r}: {e}") from None


class LoadedArea:
    """An :class:`AreaConfig` with the folder it was read from (to resolve its paths)."""

    def __init__(self, config: AreaConfig, base_dir: Path, source_file: Path | None = None) -> None:
        self.config = config
        self.base_dir = base_dir.resolve()
        self.source_file = source_file
        root = Path(config.data_root) if config.data_root else Path(".")
        self.root = (root if root.is_absolute() else self.base_dir / root).resolve()
        cache = Path(config.cache_dir) if config.cache_dir else self.root / ".biostress-cache"
        self.cache_dir = cache if cache.is_absolute() else (self.base_dir / cache).resolve()

    def resolve(self, user_path: str, *, must_exist: bool = True) -> Path:
        """Resolve a path from the config safely (inside the data root)."""
        from .sources.safe import _looks_like_gdal_special, safe_path

        if not str(user_path).strip() or _looks_like_gdal_special(str(user_path)):
            # check the string as the user wrote it: joined to base_dir, 'PG:...' or 'file://...'
            # would no longer look like a connection string or URL
            return safe_path(str(user_path), self.root, must_exist=must_exist)
        p = Path(user_path)
        if not p.is_absolute():
            p = self.base_dir / p
        return safe_path(p, self.root, must_exist=must_exist)


def load_area(path: str | Path) -> LoadedArea:
    """Read and validate an area YAML file. Raises :class:`ConfigError` with every problem listed."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Area configuration not found: {p}", hint="Give the path of an area YAML file, e.g. examples/dordrecht/area.yaml.")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p} is not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{p} must hold a mapping of settings (name, boundary, sources, ...).")
    return LoadedArea(parse_area(doc, where=str(p)), p.parent, p)


def parse_area(doc: dict, *, where: str = "area configuration") -> AreaConfig:
    try:
        return AreaConfig.model_validate(doc)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
            msg = re.sub(r"^Value error, ", "", err["msg"])
            lines.append(f"  - {loc}: {msg}")
        raise ConfigError(f"{where} is not a valid area configuration:\n" + "\n".join(lines),
                          hint="See docs/area-config.md for every field.") from None


def json_schema() -> dict:
    """The JSON Schema of the area configuration."""
    s = AreaConfig.model_json_schema()
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["title"] = "biostress area configuration"
    return s
