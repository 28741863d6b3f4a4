"""Nitrogen: deposition against the critical deposition value (KDW) of Natura 2000 habitat.

Formulas and units (all in mol N/ha/yr; 1 kg N/ha/yr = 71.4 mol N/ha/yr)
    exceedance(x) = deposition(x) - KDW(x)                        (AERIUS "afstand tot de KDW")

    KDW(x) is the lowest KDW of the habitat present in cell ``x`` (AERIUS uses the lowest KDW of a
    hexagon, "Minimale kritische depositie", Handboek Data AERIUS 2026, S). Where it comes from is
    recorded per cell (``nitrogen_kdw_basis``):

    1. a habitat-type map (``ctx.layers['habitat_types']``, column ``habitattype``/``habitat_type``/
       ``code``): KDW per type from ``nitrogen_kdw.csv`` (knowledge base 2a: VD2012 values, ev R,
       replaced by the 2023 revision in AERIUS: to be checked);
    2. without a map, per Natura 2000 site (``ctx.layers['natura2000']``) from
       ``nitrogen_site_defaults.csv``: a row for the site (matched on site code, slug, number or
       name) with its most sensitive habitat type or a KDW; else a default by the site's
       ``stikstofgevoelig`` attribute. The default for an N-sensitive site is 2400 mol, the upper
       limit of "stikstofgevoelig" (KDW < 2400, AERIUS, V): the exceedance and class computed with
       it are **lower bounds** (ev P), labelled as such. Not N-sensitive or unknown sites get no KDW.

Classes
    * AERIUS sensitivity class of the KDW (``nitrogen_sensitivity_classes.csv``, V):
      zeer gevoelig KDW < 1400; gevoelig 1400 <= KDW < 2400; minder/niet gevoelig KDW >= 2400.
    * AERIUS Monitor "afstand tot de KDW" class of the deposition (``nitrogen_distance_classes.csv``,
      V): geen overbelasting dep <= KDW - 70; bijna overbelast KDW - 70 < dep <= KDW; lichte
      overbelasting KDW < dep <= KDW + 70; matige overbelasting KDW + 70 < dep < 2 KDW; sterke
      overbelasting dep >= 2 KDW. Bounds are ``factor * KDW + offset`` with an inclusive flag per
      bound in the table (the equality cases are explained in its ``note`` column).

Missing data: without a deposition raster (``ctx.rasters['nitrogen_deposition']``, mol N/ha/yr on
the grid; ``'nitrogen'`` is accepted too) only the KDW layers are returned, with a note; the
exceedance is never estimated. Sources: knowledge base sections 2a-2b (keys VD2012, KDW2023, AERIUS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio import features

from ..errors import ConfigError, InputDataError
from ..grid import Grid
from .base import IndicatorContext, IndicatorResult, params_path
from .common import is_dask, like, mask_outside, where
from .tables import parse_float, read_table

KDW_FILE = "nitrogen_kdw.csv"
SENSITIVITY_FILE = "nitrogen_sensitivity_classes.csv"
DISTANCE_FILE = "nitrogen_distance_classes.csv"
SITES_FILE = "nitrogen_site_defaults.csv"
MOL_PER_KG_N = 71.4  # knowledge base unit note (1000 / 14.007 = 71.39)
DEPOSITION_KEYS = ("nitrogen_deposition", "nitrogen")
HABITAT_COLUMNS = ("habitattype", "habitat_type", "habtype", "code")
SITE_MATCH_COLUMNS = ("sitecode_hr", "sitecode_vr", "sitecode", "slug", "nr", "naam", "name")

#: KDW basis codes of the ``nitrogen_kdw_basis`` raster.
BASIS: dict[str, tuple[int, str, str]] = {
    "habitat_map": (1, "KDW of the mapped habitat type (lowest where types overlap)", "#238b45"),
    "site_habitat_type": (2, "KDW of the site's most sensitive habitat type (site table)", "#74c476"),
    "site_value": (3, "KDW given for the site (site table)", "#c7e9c0"),
    "default_lower_bound": (4, "Site N-sensitive, habitat types unknown: 2400 used (lower bound)", "#fdae6b"),
    "not_sensitive": (5, "Site not N-sensitive: no KDW", "#d9d9d9"),
    "unknown": (6, "Site sensitivity unknown: no KDW", "#969696"),
}


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KdwEntry:
    code: str
    name_nl: str
    kdw_mol: float
    ev: str
    source: str


@dataclass(frozen=True)
class ValueClass:
    """A class on a KDW value: ``lower <(=) KDW <(=) upper`` (bounds in mol; None = open)."""

    code: int
    key: str
    label_nl: str
    label_en: str
    lower: float | None
    lower_inclusive: bool
    upper: float | None
    upper_inclusive: bool
    colour: str
    ev: str
    source: str


@dataclass(frozen=True)
class DistanceClass:
    """An AERIUS distance-to-KDW class: ``a_lo*KDW + b_lo <(=) deposition <(=) a_hi*KDW + b_hi``."""

    code: int
    key: str
    label_nl: str
    label_en: str
    lower: tuple[float, float] | None  # (factor, offset)
    lower_inclusive: bool
    upper: tuple[float, float] | None
    upper_inclusive: bool
    colour: str
    ev: str
    source: str


@dataclass(frozen=True)
class SiteRule:
    site: str  # a site key, or '*sensitive' / '*not_sensitive' / '*unknown'
    habitat_type: str
    kdw_mol: float | None
    basis: str
    ev: str
    source: str


def normalise_habitat_code(code: Any) -> str:
    """'6510a' -> 'H6510A'; 'ZGH6510A' (search area) -> 'H6510A'. Other codes upper-cased."""
    c = str(code).strip().upper().replace(" ", "")
    if c.startswith("ZG"):
        c = c[2:]
    if c[:1].isdigit():
        c = "H" + c
    return c


def _flag(path: Path, line: int, col: str, text: str) -> bool:
    t = text.strip()
    if t not in ("0", "1"):
        raise ConfigError(f"{path} line {line}: {col} must be 0 or 1, got {text!r}.")
    return t == "1"


def load_kdw_table(params_dir: Path | str | None = None) -> dict[str, KdwEntry]:
    """KDW per habitat type (mol N/ha/yr), validated: unique codes, KDW > 0, and mol and kg
    consistent (``|kg * 71.4 - mol| <= 1.5``) where both are given."""
    p = params_path(KDW_FILE, params_dir)
    df = read_table(p, ["code", "name_nl", "kdw_mol", "kdw_kg", "ev", "source", "note"])
    out: dict[str, KdwEntry] = {}
    for i, r in df.iterrows():
        line = int(i) + 2
        code = normalise_habitat_code(r["code"])
        if code in out:
            raise ConfigError(f"{p} line {line}: habitat type {code} is listed twice.")
        mol = parse_float(p, line, "kdw_mol", r["kdw_mol"], lo=1.0, hi=20000.0)
        kg = parse_float(p, line, "kdw_kg", r["kdw_kg"], allow_empty=True, lo=0.0, hi=300.0)
        if kg is not None and abs(kg * MOL_PER_KG_N - mol) > 1.5:  # type: ignore[operator]
            raise ConfigError(f"{p} line {line}: kdw_mol {mol:g} and kdw_kg {kg:g} disagree "
                              f"({kg:g} kg = {kg * MOL_PER_KG_N:.0f} mol).")
        out[code] = KdwEntry(code, r["name_nl"], float(mol), r["ev"].strip(), r["source"])  # type: ignore[arg-type]
    return out


def load_sensitivity_classes(params_dir: Path | str | None = None) -> list[ValueClass]:
    """AERIUS sensitivity classes of a KDW, validated to tile the axis without gaps or overlaps."""
    p = params_path(SENSITIVITY_FILE, params_dir)
    df = read_table(p, ["code", "key", "label_nl", "label_en", "lower_mol", "lower_inclusive", "upper_mol",
                        "upper_inclusive", "colour", "ev", "source", "note"])
    out = []
    for i, r in df.iterrows():
        line = int(i) + 2
        lo = parse_float(p, line, "lower_mol", r["lower_mol"], allow_empty=True)
        hi = parse_float(p, line, "upper_mol", r["upper_mol"], allow_empty=True)
        out.append(ValueClass(int(parse_float(p, line, "code", r["code"], lo=1, hi=254)), r["key"].strip(),  # type: ignore[arg-type]
                              r["label_nl"], r["label_en"], lo,
                              lo is not None and _flag(p, line, "lower_inclusive", r["lower_inclusive"]), hi,
                              hi is not None and _flag(p, line, "upper_inclusive", r["upper_inclusive"]),
                              r["colour"].strip(), r["ev"].strip(), r["source"]))
    _check_tiling(p, [(c.lower, c.lower_inclusive, c.upper, c.upper_inclusive) for c in out])
    return out


def load_distance_classes(params_dir: Path | str | None = None) -> list[DistanceClass]:
    """AERIUS Monitor distance-to-KDW classes, validated: consecutive rows share their bound
    (same factor and offset) with exactly one of the two sides inclusive; first and last open."""
    p = params_path(DISTANCE_FILE, params_dir)
    df = read_table(p, ["code", "key", "label_nl", "label_en", "lower_factor", "lower_offset", "lower_inclusive",
                        "upper_factor", "upper_offset", "upper_inclusive", "colour", "ev", "source", "note"])
    out = []
    for i, r in df.iterrows():
        line = int(i) + 2
        bounds = []
        for side in ("lower", "upper"):
            f = parse_float(p, line, f"{side}_factor", r[f"{side}_factor"], allow_empty=True, lo=0.0, hi=100.0)
            o = parse_float(p, line, f"{side}_offset", r[f"{side}_offset"], allow_empty=True)
            if (f is None) != (o is None):
                raise ConfigError(f"{p} line {line}: give both {side}_factor and {side}_offset, or neither.")
            b = None if f is None else (f, o)
            bounds.append((b, b is not None and _flag(p, line, f"{side}_inclusive", r[f"{side}_inclusive"])))
        out.append(DistanceClass(int(parse_float(p, line, "code", r["code"], lo=1, hi=254)), r["key"].strip(),  # type: ignore[arg-type]
                                 r["label_nl"], r["label_en"], bounds[0][0], bounds[0][1], bounds[1][0],
                                 bounds[1][1], r["colour"].strip(), r["ev"].strip(), r["source"]))
    _check_tiling(p, [(c.lower, c.lower_inclusive, c.upper, c.upper_inclusive) for c in out])
    return out


def _check_tiling(path: Path, bounds: list[tuple[Any, bool, Any, bool]]) -> None:
    if not bounds:
        raise ConfigError(f"The class table {path} is empty.")
    if bounds[0][0] is not None or bounds[-1][2] is not None:
        raise ConfigError(f"{path}: the first class must have no lower bound and the last no upper bound.")
    for k in range(len(bounds) - 1):
        up, up_inc = bounds[k][2], bounds[k][3]
        lo, lo_inc = bounds[k + 1][0], bounds[k + 1][1]
        if up is None or lo is None or up != lo:
            raise ConfigError(f"{path} line {k + 2}: its upper bound must equal the lower bound of the next row.",
                              hint="Classes must follow each other without gaps or overlaps.")
        if up_inc == lo_inc:
            raise ConfigError(f"{path} line {k + 2}: exactly one of its upper bound and the next row's lower "
                              "bound must be inclusive.")


def load_site_rules(params_dir: Path | str | None = None,
                    kdw_table: dict[str, KdwEntry] | None = None) -> dict[str, SiteRule]:
    """Per-site KDW rules keyed by lower-cased site key; the three defaults ``*sensitive``,
    ``*not_sensitive`` and ``*unknown`` are required."""
    p = params_path(SITES_FILE, params_dir)
    df = read_table(p, ["site", "habitat_type", "kdw_mol", "basis", "ev", "source", "note"])
    kdw_table = kdw_table if kdw_table is not None else load_kdw_table(params_dir)
    out: dict[str, SiteRule] = {}
    for i, r in df.iterrows():
        line = int(i) + 2
        site = r["site"].strip().lower()
        if not site:
            raise ConfigError(f"{p} line {line}: site is empty.")
        if site in out:
            raise ConfigError(f"{p} line {line}: site {site!r} is listed twice.")
        basis = r["basis"].strip()
        if basis not in BASIS or basis == "habitat_map":
            raise ConfigError(f"{p} line {line}: basis {basis!r} is not one of "
                              f"{', '.join(b for b in BASIS if b != 'habitat_map')}.")
        ht = normalise_habitat_code(r["habitat_type"]) if r["habitat_type"].strip() else ""
        kdw = parse_float(p, line, "kdw_mol", r["kdw_mol"], allow_empty=True, lo=1.0, hi=20000.0)
        if basis == "site_habitat_type":
            if ht not in kdw_table:
                raise ConfigError(f"{p} line {line}: habitat type {ht or '(empty)'} is not in {KDW_FILE}.",
                                  hint="Add the type to the KDW table or give kdw_mol with basis site_value.")
            if kdw is not None and kdw != kdw_table[ht].kdw_mol:
                raise ConfigError(f"{p} line {line}: kdw_mol {kdw:g} differs from the KDW table value "
                                  f"{kdw_table[ht].kdw_mol:g} of {ht}; leave kdw_mol empty.")
            kdw = kdw_table[ht].kdw_mol
        elif basis in ("site_value", "default_lower_bound") and kdw is None:
            raise ConfigError(f"{p} line {line}: basis {basis} needs kdw_mol.")
        elif basis in ("not_sensitive", "unknown") and kdw is not None:
            raise ConfigError(f"{p} line {line}: basis {basis} takes no kdw_mol.")
        out[site] = SiteRule(site, ht, kdw, basis, r["ev"].strip(), r["source"])
    for d in ("*sensitive", "*not_sensitive", "*unknown"):
        if d not in out:
            raise ConfigError(f"The site table {p} lacks the default row '{d}'.")
    return out


# --------------------------------------------------------------------------------------------
# pure array functions
# --------------------------------------------------------------------------------------------

def exceedance(deposition: Any, kdw: Any) -> Any:
    """``deposition - KDW`` (mol N/ha/yr); NaN where either is missing. numpy or dask."""
    return (deposition.astype(np.float64) - kdw.astype(np.float64)).astype(np.float32)


def classify_sensitivity(kdw: Any, classes: list[ValueClass]) -> Any:
    """AERIUS sensitivity class code of each KDW value (NaN where KDW is NaN)."""
    k = kdw.astype(np.float64)
    out = where(np.isfinite(k), np.float32(0), np.float32(np.nan))
    for c in classes:
        cond = np.isfinite(k)
        if c.lower is not None:
            cond = cond & ((k >= c.lower) if c.lower_inclusive else (k > c.lower))
        if c.upper is not None:
            cond = cond & ((k <= c.upper) if c.upper_inclusive else (k < c.upper))
        out = where(cond, np.float32(c.code), out)
    return out.astype(np.float32)


def classify_distance_to_kdw(deposition: Any, kdw: Any, classes: list[DistanceClass]) -> Any:
    """AERIUS Monitor "afstand tot de KDW" class code per cell (NaN where deposition or KDW is
    missing). Bounds are ``factor * KDW + offset`` (float64); where classes overlap (only for
    KDW < 70 mol, which no habitat type has) the later row wins."""
    d = deposition.astype(np.float64)
    k = kdw.astype(np.float64)
    ok = np.isfinite(d) & np.isfinite(k)
    out = where(ok, np.float32(0), np.float32(np.nan))
    for c in classes:
        cond = ok
        if c.lower is not None:
            lo = c.lower[0] * k + c.lower[1]
            cond = cond & ((d >= lo) if c.lower_inclusive else (d > lo))
        if c.upper is not None:
            hi = c.upper[0] * k + c.upper[1]
            cond = cond & ((d <= hi) if c.upper_inclusive else (d < hi))
        out = where(cond, np.float32(c.code), out)
    return out.astype(np.float32)


def _paint(shapes: list[tuple[Any, int]], grid: Grid, all_touched: bool = True) -> np.ndarray:
    """Paint ``(geometry, index)`` pairs in order (later wins) onto an int32 grid; -1 = none."""
    if not shapes:
        return np.full(grid.shape, -1, dtype=np.int32)
    return features.rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=-1,
                              all_touched=all_touched, dtype="int32")


def kdw_from_habitat_map(habitats: gpd.GeoDataFrame, grid: Grid, kdw_table: dict[str, KdwEntry],
                         column: str) -> tuple[np.ndarray, list[str]]:
    """Lowest KDW of the mapped habitat types touching each cell (``all_touched``, as AERIUS
    counts a hexagon that habitat partly overlaps). Returns (KDW float32, NaN = none) and notes."""
    notes: list[str] = []
    codes = habitats[column].map(normalise_habitat_code)
    known = codes.isin(list(kdw_table))
    if (~known).any():
        notes.append("Habitat types without a KDW in the table (left out): "
                     + ", ".join(sorted(set(codes[~known]))) + ".")
    h = habitats[known].assign(_kdw=[kdw_table[c].kdw_mol for c in codes[known]])
    h = h.sort_values("_kdw", ascending=False)  # painted last = lowest KDW
    values = h["_kdw"].to_numpy(dtype=np.float64)
    idx = _paint([(g, i) for i, g in enumerate(h.geometry.values) if g is not None and not g.is_empty], grid)
    kdw = np.where(idx >= 0, values[np.maximum(idx, 0)] if len(values) else np.nan, np.nan).astype(np.float32)
    return kdw, notes


def _site_key_values(row: pd.Series) -> list[str]:
    vals = []
    for c in SITE_MATCH_COLUMNS:
        if c in row.index and row[c] is not None and not (isinstance(row[c], float) and math.isnan(row[c])):
            vals.append(str(row[c]).strip().lower())
    return vals


def site_rules_for(sites: gpd.GeoDataFrame, rules: dict[str, SiteRule]) -> list[SiteRule]:
    """The rule that applies to each site: its own row, else the default for its
    ``stikstofgevoelig`` attribute (true/false), else ``*unknown``."""
    out = []
    for _, row in sites.iterrows():
        rule = next((rules[k] for k in _site_key_values(row) if k in rules), None)
        if rule is None:
            flag = row.get("stikstofgevoelig") if "stikstofgevoelig" in row.index else None
            if isinstance(flag, str):
                flag = {"true": True, "1": True, "ja": True, "false": False, "0": False, "nee": False}.get(
                    flag.strip().lower())
            if flag is None or (isinstance(flag, float) and math.isnan(flag)):
                rule = rules["*unknown"]
            else:
                rule = rules["*sensitive"] if bool(flag) else rules["*not_sensitive"]
        out.append(rule)
    return out


def kdw_from_sites(sites: gpd.GeoDataFrame, grid: Grid, rules: list[SiteRule]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KDW per cell from the site rules (the lowest KDW where sites overlap; sites without a KDW
    only where no site with one touches the cell). Returns KDW (float32, NaN = none), basis code
    (float32, NaN = no site) and the index of the deciding site (int32, -1 = none)."""
    order = sorted(range(len(rules)), key=lambda i: (rules[i].kdw_mol is not None,
                                                     -(rules[i].kdw_mol or 0.0)))
    geoms = sites.geometry.values
    idx = _paint([(geoms[i], i) for i in order if geoms[i] is not None and not geoms[i].is_empty], grid)
    kdw_of = np.array([np.nan if r.kdw_mol is None else r.kdw_mol for r in rules] + [np.nan])
    basis_of = np.array([BASIS[r.basis][0] for r in rules] + [np.nan], dtype=np.float64)
    sel = np.where(idx >= 0, idx, len(rules))
    return kdw_of[sel].astype(np.float32), basis_of[sel].astype(np.float32), idx


def _raster_on_grid(ctx: IndicatorContext, keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for k in keys:
        if k in ctx.rasters and ctx.rasters[k] is not None:
            arr = ctx.rasters[k]
            if tuple(arr.shape) != ctx.grid.shape:
                raise InputDataError(f"The raster '{k}' has shape {tuple(arr.shape)}, the analysis grid "
                                     f"{ctx.grid.shape}.", hint="Resample the raster onto the analysis grid.")
            return k, arr
    return None, None


def _categories(classes: list[Any]) -> list[tuple[int, str, str]]:
    return [(c.code, f"{c.label_nl} / {c.label_en}", c.colour) for c in classes]


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

def compute(ctx: IndicatorContext) -> list[IndicatorResult]:
    """KDW, its basis and sensitivity class, and (with deposition data) the exceedance and the
    AERIUS Monitor class. See the module docstring for formulas, units and sources."""
    kdw_table = load_kdw_table(ctx.params_dir)
    sens_classes = load_sensitivity_classes(ctx.params_dir)
    dist_classes = load_distance_classes(ctx.params_dir)
    rules = load_site_rules(ctx.params_dir, kdw_table)
    grid = ctx.grid
    notes: list[str] = []
    sites = ctx.layers.get("natura2000")
    habitats = ctx.layers.get("habitat_types")
    site_table = pd.DataFrame()

    if sites is not None and not sites.empty and sites.crs is not None and not sites.crs.equals(grid.crs):
        sites = sites.to_crs(grid.crs)
    if habitats is not None and not habitats.empty:
        col = next((c for c in HABITAT_COLUMNS if c in habitats.columns), None)
        if col is None:
            raise InputDataError(f"The habitat-type layer has no type column (one of {', '.join(HABITAT_COLUMNS)}).")
        if habitats.crs is not None and not habitats.crs.equals(grid.crs):
            habitats = habitats.to_crs(grid.crs)
        kdw_np, n = kdw_from_habitat_map(habitats, grid, kdw_table, col)
        notes += n
        basis_np = np.where(np.isfinite(kdw_np), np.float32(BASIS["habitat_map"][0]), np.float32(np.nan))
        notes.append("KDW from the habitat-type map (lowest KDW where types overlap in a cell).")
    elif sites is not None and not sites.empty:
        site_rules = site_rules_for(sites, rules)
        kdw_np, basis_np, _ = kdw_from_sites(sites, grid, site_rules)
        site_table = _site_table(sites, site_rules)
        used = sorted({r.basis for r in site_rules})
        notes.append("No habitat-type map: KDW per Natura 2000 site from the site table "
                     f"({', '.join(used)}).")
        if "default_lower_bound" in used:
            notes.append("For N-sensitive sites without a row of their own the KDW 2400 mol/ha/yr is used (the upper "
                         "limit of 'stikstofgevoelig'): their exceedance and class are lower bounds (ev P).")
    else:
        kdw_np = np.full(grid.shape, np.nan, dtype=np.float32)
        basis_np = kdw_np.copy()
        notes.append("No Natura 2000 layer and no habitat-type map: no KDW.")

    notes.append("KDW values: VD2012 as recalled in the knowledge base (ev R); AERIUS uses the 2023 revision "
                 "(KDW2023). Check the values before use.")
    kdw = mask_outside(like(ctx.dominant, kdw_np), ctx.dominant)
    basis = mask_outside(like(ctx.dominant, basis_np), ctx.dominant)
    sens = classify_sensitivity(kdw, sens_classes)
    tables: dict[str, Any] = {"nitrogen_kdw_table": pd.DataFrame([vars(e) for e in kdw_table.values()])}
    if not site_table.empty:
        tables["nitrogen_sites"] = site_table

    dep_key, dep = _raster_on_grid(ctx, DEPOSITION_KEYS)
    if dep is None:
        notes.append("No nitrogen deposition raster was supplied (ctx.rasters['nitrogen_deposition'], "
                     "mol N/ha/yr): the exceedance and the AERIUS classes are not computed.")
    results = [
        IndicatorResult(name="nitrogen_kdw", array=kdw, units="mol N/ha/yr",
                        description="Critical deposition value (KDW) of the Natura 2000 habitat in each cell "
                                    "(lowest where several types meet).",
                        title_en="Critical nitrogen deposition (KDW)", title_nl="Kritische depositiewaarde (KDW)",
                        palette="good_high", vmin=400.0, vmax=2500.0, summarise=("min", "mean"),
                        tables=tables, notes=notes),
        IndicatorResult(name="nitrogen_kdw_basis", array=basis, units="category",
                        description="Where the KDW of each cell comes from (habitat map, site table or default).",
                        title_en="KDW basis", title_nl="Herkomst KDW", palette="categorical",
                        categories=[(v[0], f"{k}: {v[1]}", v[2]) for k, v in BASIS.items()],
                        summarise=("majority",)),
        IndicatorResult(name="nitrogen_sensitivity", array=sens, units="category",
                        description="AERIUS nitrogen-sensitivity class of the KDW (<1400, 1400-2400, >=2400 mol).",
                        title_en="Nitrogen sensitivity (AERIUS)", title_nl="Stikstofgevoeligheid (AERIUS)",
                        palette="categorical", categories=_categories(sens_classes), summarise=("majority",)),
    ]
    if dep is not None:
        dep = dep.astype(np.float32)
        exc = mask_outside(exceedance(dep, kdw), ctx.dominant)
        cls = mask_outside(classify_distance_to_kdw(dep, kdw, dist_classes), ctx.dominant)
        dep_notes = [f"Deposition from ctx.rasters['{dep_key}'] (mol N/ha/yr)."]
        if not site_table.empty:
            site_table = _site_summary(site_table, sites, grid, ctx, dep, kdw, cls, dist_classes)
            tables["nitrogen_sites"] = site_table
        results += [
            IndicatorResult(name="nitrogen_exceedance", array=exc, units="mol N/ha/yr",
                            description="Deposition minus KDW (positive = above the KDW) in Natura 2000 habitat.",
                            title_en="Nitrogen deposition minus KDW", title_nl="Afstand tot de KDW",
                            palette="bad_high", vmin=-1000.0, vmax=2000.0, summarise=("mean", "max"),
                            notes=dep_notes),
            IndicatorResult(name="nitrogen_kdw_class", array=cls, units="category",
                            description="AERIUS Monitor class of the distance to the KDW.",
                            title_en="Distance to the KDW (AERIUS Monitor classes)",
                            title_nl="Afstand tot de KDW (klassen AERIUS Monitor)", palette="categorical",
                            categories=_categories(dist_classes), summarise=("majority",), notes=dep_notes),
        ]
    return results


def _site_table(sites: gpd.GeoDataFrame, rules: list[SiteRule]) -> pd.DataFrame:
    rows = []
    for (_, s), r in zip(sites.iterrows(), rules, strict=True):
        rows.append({
            "site_code": next((str(s[c]) for c in ("sitecode_hr", "sitecode_vr", "sitecode")
                               if c in s.index and isinstance(s[c], str) and s[c]), ""),
            "site_name": next((str(s[c]) for c in ("naam", "name", "slug") if c in s.index and s[c] is not None), ""),
            "stikstofgevoelig": s.get("stikstofgevoelig") if "stikstofgevoelig" in s.index else None,
            "rule": r.site, "habitat_type": r.habitat_type, "kdw_mol": r.kdw_mol, "kdw_basis": r.basis,
            "ev": r.ev, "source": r.source,
        })
    return pd.DataFrame(rows)


def _site_summary(table: pd.DataFrame, sites: gpd.GeoDataFrame, grid: Grid, ctx: IndicatorContext, dep: Any,
                  kdw: Any, cls: Any, classes: list[DistanceClass]) -> pd.DataFrame:
    """Per site inside the area: area with a KDW, mean deposition, mean and max exceedance and the
    area (ha) per AERIUS class."""
    to_np = (lambda a: a.compute()) if is_dask(dep) or is_dask(kdw) else np.asarray
    d, k, c = (np.asarray(to_np(a), dtype=np.float64) for a in (dep, kdw, cls))
    inside = np.asarray(to_np(ctx.inside), dtype=np.float64) if ctx.inside is not None else np.ones(grid.shape)
    ha = grid.cell_area / 10000.0
    out = table.copy()
    extra: dict[str, list[float]] = {"area_with_kdw_ha": [], "mean_deposition": [], "mean_exceedance": [],
                                     "max_exceedance": []}
    for cl in classes:
        extra[f"{cl.key}_ha"] = []
    for geom in sites.geometry.values:
        m = _paint([(geom, 0)], grid) == 0 if geom is not None and not geom.is_empty else np.zeros(grid.shape, bool)
        m &= np.isfinite(k) & np.isfinite(d)
        w = np.where(m, np.nan_to_num(inside), 0.0)
        area = float(w.sum() * ha)
        extra["area_with_kdw_ha"].append(area)
        if w.sum() > 0:
            extra["mean_deposition"].append(float((w * np.where(m, d, 0)).sum() / w.sum()))
            extra["mean_exceedance"].append(float((w * np.where(m, d - k, 0)).sum() / w.sum()))
            extra["max_exceedance"].append(float(np.nanmax(np.where(m, d - k, np.nan))))
        else:
            extra["mean_deposition"].append(np.nan)
            extra["mean_exceedance"].append(np.nan)
            extra["max_exceedance"].append(np.nan)
        for cl in classes:
            extra[f"{cl.key}_ha"].append(float((w * (c == cl.code)).sum() * ha))
    for key, vals in extra.items():
        out[key] = vals
    return out
