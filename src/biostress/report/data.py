"""Everything a report needs, collected from a run folder into plain dataclasses and frames.

:func:`collect` reads the manifest, the units layers, the plan and the tables of the run's
GeoPackage, the stress-test classes and the list of maps, and derives the numbers the report shows:

* key numbers of the whole area (:func:`key_numbers`): area-weighted means over the units of the
  coarsest level (one municipality: its own values), ``sum(x_i * area_i) / sum(area_i)``;
* stress-class shares (:func:`stress_class_shares`): cells of ``stress_class.tif`` per class
  divided by the cells with a class; without that raster, the area of the finest units per class of
  their mean score;
* classes per wijk (:func:`class_shares_per_unit`): the cells of each class inside each wijk
  (wijk polygons burnt onto the run grid, cell centres inside);
* the ranking (:func:`ranking`): the finest units sorted by their mean stress score, lowest (most
  vulnerable) first, units without a score last;
* potential versus now (:func:`potential_table`), the opportunities (:func:`opportunity_table`),
  the plan per measure, the run's warnings grouped for a lay reader (:func:`group_warnings`), the
  data sources with licence and date (:func:`sources_table`) and the target status
  (:func:`target_summary`).

Nothing here renders; :mod:`biostress.report.html` turns a :class:`RunData` into pages.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import InputDataError
from ..landcover.legend import Legend, load_legend
from ..stresstest.classes import StressClass, classify, load_classes
from . import i18n

#: levels of area units from coarse to fine
LEVELS = ("gemeente", "wijk", "buurt", "unit", "hexagon")
#: (current column, potential column, indicator name, unit kind) of the potential table
POTENTIAL_PAIRS = (
    ("green_share_mean", "potential_green_share_mean", "green_share", "share"),
    ("canopy_share_mean", "potential_canopy_share_mean", "canopy_share", "share"),
    ("impervious_share_mean", "potential_impervious_share_mean", "impervious_share", "share"),
    ("habitat_quality_mean", "potential_habitat_quality_mean", "habitat_quality", "index"),
    ("heat_mitigation_mean", "potential_heat_mitigation_mean", "heat_mitigation", "index"),
    ("cooling_capacity_mean", "potential_cooling_capacity_mean", "cooling_capacity", "index"),
    ("runoff_depth_mean", "potential_runoff_depth_mean", "runoff_depth", "mm"),
    ("runoff_volume_sum", "potential_runoff_volume_sum", "runoff_volume", "m3"),
)
#: run maps the report shows, in order (``<name>_<lang>.png`` in the run's ``maps`` folder)
REPORT_MAPS = ("landcover", "green_share", "stress_class", "potential_landcover", "gap_green_share",
               "gap_habitat_quality", "opportunity_gain", "plan")
_PCT = re.compile(r"(\d+(?:\.\d+)?)\s*%")


@dataclass
class RunData:
    """A run folder read for reporting. ``units`` maps level -> GeoDataFrame (grid CRS)."""

    run_dir: Path
    manifest: dict
    name: str
    code: str
    created: str
    legend: Legend
    units: dict[str, gpd.GeoDataFrame]
    tables: dict[str, pd.DataFrame]
    classes: list[StressClass]
    maps: dict[str, Path]  # "<name>_<lang>" -> PNG
    plan_blocks: gpd.GeoDataFrame | None = None
    plan_by_measure: pd.DataFrame | None = None
    plan_summary: pd.DataFrame | None = None
    params_dir: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def gpkg(self) -> Path:
        return self.run_dir / "biostress.gpkg"

    @property
    def levels(self) -> list[str]:
        return [lv for lv in LEVELS if lv in self.units]

    @property
    def top_level(self) -> str | None:
        lv = self.levels
        return lv[0] if lv else None

    @property
    def finest_level(self) -> str | None:
        lv = self.levels
        return lv[-1] if lv else None

    @property
    def warnings(self) -> list[str]:
        return [str(w) for w in self.manifest.get("warnings", [])]

    @property
    def has_plan(self) -> bool:
        return self.plan_blocks is not None and len(self.plan_blocks) > 0

    def table(self, suffix: str) -> pd.DataFrame | None:
        """The GeoPackage table named ``suffix`` or ending in ``_<suffix>`` (indicator tables are
        prefixed with their raster name), or None."""
        if suffix in self.tables:
            return self.tables[suffix]
        for k, v in self.tables.items():
            if k.endswith(f"_{suffix}"):
                return v
        return None

    def map_path(self, name: str, lang: str) -> Path | None:
        return self.maps.get(f"{name}_{lang}")

    def output_description(self, rel: str) -> str:
        for o in self.manifest.get("outputs", []):
            if o.get("path") == rel and not o.get("layer"):
                return str(o.get("description") or "")
        return ""


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

def _read_manifest(run_dir: Path) -> dict:
    p = run_dir / "manifest.json"
    if not p.is_file():
        raise InputDataError(f"{run_dir} is not a biostress run folder (no manifest.json).",
                             hint="Give the folder 'biostress run' or 'biostress demo' wrote.")
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputDataError(f"The manifest of {run_dir} cannot be read ({e}).",
                             hint="Run the area again to write a complete run folder.") from None
    if not isinstance(m, dict):
        raise InputDataError(f"The manifest of {run_dir} is not a JSON object.")
    return m


def _classes_from_table(df: pd.DataFrame | None) -> list[StressClass] | None:
    if df is None or df.empty or not {"code", "label_en", "label_nl", "lower", "colour"} <= set(df.columns):
        return None
    out = []
    for r in df.sort_values("code").itertuples(index=False):
        out.append(StressClass(int(r.code), str(r.label_en), str(r.label_nl), float(r.lower), str(r.colour),
                               str(getattr(r, "colour_cb", r.colour)), str(getattr(r, "ev", "")),
                               str(getattr(r, "source", ""))))
    return out if len(out) >= 2 else None


def _params_dir(manifest: dict) -> Path | None:
    pd_ = (manifest.get("parameters") or {}).get("area", {}).get("indicators", {}).get("params_dir")
    if pd_ and Path(pd_).is_absolute() and Path(pd_).is_dir():
        return Path(pd_)
    return None


def collect(run_dir: str | Path) -> RunData:
    """Read a run folder (see the module docstring). A folder without manifest or GeoPackage is an
    :class:`InputDataError`."""
    import pyogrio

    run_dir = Path(run_dir)
    man = _read_manifest(run_dir)
    gpkg = run_dir / "biostress.gpkg"
    if not gpkg.is_file():
        raise InputDataError(f"{run_dir} has no biostress.gpkg.",
                             hint="Run the area again: the units and tables of the run are missing.")
    area = (man.get("parameters") or {}).get("area") or {}
    crs = (man.get("grid") or {}).get("crs")
    units: dict[str, gpd.GeoDataFrame] = {}
    tables: dict[str, pd.DataFrame] = {}
    plan_blocks = None
    for name, gtype in pyogrio.list_layers(gpkg):
        name = str(name)
        if name.startswith("units_"):
            gdf = gpd.read_file(gpkg, layer=name)
            units[name.removeprefix("units_")] = gdf.to_crs(crs) if crs and gdf.crs is not None else gdf
        elif name == "plan_measures":
            plan_blocks = gpd.read_file(gpkg, layer=name)
        elif gtype is None and name not in ("layer_styles", "plan_candidates", "landcover_mapping"):
            tables[name] = pyogrio.read_dataframe(gpkg, layer=name)
    maps = {}
    mdir = run_dir / "maps"
    if mdir.is_dir():
        for p in sorted(mdir.glob("*.png")):
            maps[p.stem] = p
    classes = _classes_from_table(tables.get("stress_class_stresstest_classes")) or load_classes(_params_dir(man))
    legend_path = (man.get("parameters") or {}).get("legend")
    legend = load_legend(legend_path if legend_path and Path(legend_path).is_file() else None)
    created = str(man.get("created") or man.get("started") or "")[:10]
    return RunData(run_dir=run_dir, manifest=man, name=str(area.get("name") or run_dir.name),
                   code=str(area.get("code") or ""), created=created, legend=legend, units=units, tables=tables,
                   classes=classes, maps=maps, plan_blocks=plan_blocks, plan_by_measure=tables.get("plan_by_measure"),
                   plan_summary=tables.get("plan_summary"), params_dir=_params_dir(man))


# --------------------------------------------------------------------------------------------
# key numbers
# --------------------------------------------------------------------------------------------

def weighted_mean(values: Any, weights: Any) -> float:
    """``sum(v_i * w_i) / sum(w_i)`` over the pairs where both are finite (NaN when none)."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(v) & np.isfinite(w) & (w > 0)
    return float((v[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else math.nan


def _col(df: pd.DataFrame, *names: str) -> pd.Series | None:
    for n in names:
        if n in df.columns:
            return pd.to_numeric(df[n], errors="coerce")
    return None


@dataclass
class KeyNumbers:
    area_ha: float
    green_share: float
    canopy_share: float
    impervious_share: float
    unresolved_share: float  # unknown + urban_mixed cover (green/impervious shares are lower bounds there)
    habitat_quality: float


def key_numbers(data: RunData) -> KeyNumbers:
    """Area-weighted means over the units of the coarsest level (see the module docstring)."""
    lv = data.top_level
    if lv is None:
        info = data.manifest.get("info") or {}
        return KeyNumbers(float(info.get("area_ha", math.nan)), math.nan, math.nan, math.nan,
                          float(info.get("unknown_share", math.nan)), math.nan)
    u = data.units[lv]
    area = _col(u, "area_m2")
    w = area if area is not None else pd.Series(np.ones(len(u)))

    def mean(*cols: str) -> float:
        c = _col(u, *cols)
        return math.nan if c is None else weighted_mean(c, w)

    unresolved = math.nan
    if area is not None and "unknown_m2" in u.columns:
        unres = pd.to_numeric(u["unknown_m2"], errors="coerce").fillna(0)
        if "urban_mixed_m2" in u.columns:
            unres = unres + pd.to_numeric(u["urban_mixed_m2"], errors="coerce").fillna(0)
        unresolved = float(unres.sum() / area.sum()) if area.sum() > 0 else math.nan
    return KeyNumbers(
        area_ha=float(area.sum() / 1e4) if area is not None else math.nan,
        green_share=mean("green_share", "green_share_mean"),
        canopy_share=mean("canopy_share_mean", "canopy_share"),
        impervious_share=mean("impervious_share", "impervious_share_mean"),
        unresolved_share=unresolved,
        habitat_quality=mean("habitat_quality_mean"))


# --------------------------------------------------------------------------------------------
# stress test
# --------------------------------------------------------------------------------------------

def _read_stress_raster(data: RunData) -> tuple[np.ndarray, np.ndarray, Any] | None:
    """The stress classes (float, NaN = no class), the inside mask (``landcover.tif`` != 255, or
    every cell when that raster is missing) and the transform."""
    import rasterio

    p = data.run_dir / "stress_class.tif"
    if not p.is_file():
        return None
    with rasterio.open(p) as src:
        a = src.read(1).astype(np.float64)
        if src.nodata is not None and not (isinstance(src.nodata, float) and math.isnan(src.nodata)):
            a[a == src.nodata] = np.nan
        transform = src.transform
    lc = data.run_dir / "landcover.tif"
    inside = np.ones(a.shape, dtype=bool)
    if lc.is_file():
        with rasterio.open(lc) as src:
            d = src.read(1)
        if d.shape == a.shape:
            inside = d != 255
    return a, inside | np.isfinite(a), transform


def stress_class_shares(data: RunData) -> pd.DataFrame | None:
    """Per class: code, labels, colour, lower bound, cells and ``share`` of the area (the cells
    inside the area, as on the stress-class map); ``attrs["no_value_share"]`` is the share of the
    area without a class. Without ``stress_class.tif``: the area of the finest units per class of
    their mean score (``no_value_share`` = units without a score)."""
    n = len(data.classes)
    counts = np.zeros(n)
    r = _read_stress_raster(data)
    if r is not None:
        a, inside, _t = r
        total = float(inside.sum())
        k = a[np.isfinite(a)].astype(np.int64)
        k = k[(k >= 1) & (k <= n)]
        counts = np.bincount(k - 1, minlength=n).astype(np.float64)
    else:
        lv = data.finest_level
        if lv is None:
            return None
        u = data.units[lv]
        score = _col(u, "stress_score_mean")
        if score is None or "area_m2" not in u.columns:
            return None
        cls = np.asarray(classify(score.clip(0.0, 1.0).to_numpy(), data.classes))
        area = pd.to_numeric(u["area_m2"], errors="coerce").to_numpy()
        for k in range(1, n + 1):
            counts[k - 1] = np.nansum(np.where(cls == k, area, 0.0))
        total = float(np.nansum(area))
    if total <= 0 or counts.sum() <= 0:
        return None
    df = pd.DataFrame({"code": [c.code for c in data.classes], "label_en": [c.label_en for c in data.classes],
                       "label_nl": [c.label_nl for c in data.classes],
                       "colour": [c.colour for c in data.classes], "lower": [c.lower for c in data.classes],
                       "count": counts, "share": counts / total})
    df.attrs["no_value_share"] = max(0.0, 1.0 - float(counts.sum()) / total)
    return df


def class_shares_per_unit(data: RunData, level: str = "wijk") -> pd.DataFrame | None:
    """Share of each unit's area (its cells inside the run's area, cell centres inside the unit's
    polygon) in each stress class. Rows: units (code, name); columns ``class_1 .. class_n``,
    ``no_value`` (cells without a class) and ``cells``."""
    from rasterio.features import rasterize

    if level not in data.units:
        return None
    r = _read_stress_raster(data)
    if r is None:
        return None
    a, inside, transform = r
    u = data.units[level].reset_index(drop=True)
    ids = rasterize(((g, i + 1) for i, g in enumerate(u.geometry) if g is not None and not g.is_empty),
                    out_shape=a.shape, transform=transform, fill=0, dtype="int32")
    n = len(data.classes)
    k = np.where(np.isfinite(a), a, 0).astype(np.int64)
    k = np.where((k >= 1) & (k <= n), k, 0)  # 0 = no value
    ok = inside & (ids > 0)
    idx = (ids[ok] - 1) * (n + 1) + k[ok]
    m = np.bincount(idx, minlength=len(u) * (n + 1)).reshape(len(u), n + 1).astype(np.float64)
    tot = m.sum(axis=1, keepdims=True)
    shares = np.divide(m, tot, out=np.full_like(m, np.nan), where=tot > 0)
    out = pd.DataFrame(shares[:, 1:], columns=[f"class_{c.code}" for c in data.classes])
    out["no_value"] = shares[:, 0]
    out.insert(0, "name", u["name"].astype(str) if "name" in u.columns else u.index.astype(str))
    out.insert(0, "code", u["code"].astype(str) if "code" in u.columns else u.index.astype(str))
    out["cells"] = tot[:, 0]
    return out[out["cells"] > 0].reset_index(drop=True)


def ranking(data: RunData) -> pd.DataFrame | None:
    """The finest units by mean stress score, lowest first (ties by code), units without a score
    last. Columns: rank, code, name, parent_name, score, class, green_share, canopy_share,
    impervious_share, area_ha."""
    lv = data.finest_level
    if lv is None:
        return None
    u = data.units[lv]
    score = _col(u, "stress_score_mean")
    if score is None:
        return None
    df = pd.DataFrame({
        "code": u["code"].astype(str) if "code" in u.columns else u.index.astype(str),
        "name": u["name"].astype(str) if "name" in u.columns else "",
        "parent_code": u["parent_code"].astype(str) if "parent_code" in u.columns else "",
        "score": score.to_numpy(dtype=np.float64),
        "green_share": _series(u, "green_share", "green_share_mean"),
        "canopy_share": _series(u, "canopy_share_mean", "canopy_share"),
        "impervious_share": _series(u, "impervious_share", "impervious_share_mean"),
        "area_ha": _series(u, "area_m2") / 1e4,
    })
    cls = _col(u, "stress_class")
    computed = np.asarray(classify(np.clip(df["score"].to_numpy(), 0.0, 1.0), data.classes), dtype=np.float64)
    df["class"] = cls.to_numpy(dtype=np.float64) if cls is not None else computed
    parents = {}
    for plv in data.levels:
        if plv != lv and "code" in data.units[plv].columns and "name" in data.units[plv].columns:
            parents.update(dict(zip(data.units[plv]["code"].astype(str), data.units[plv]["name"].astype(str),
                                    strict=False)))
    df["parent_name"] = df["parent_code"].map(parents).fillna("")
    df["_nan"] = ~np.isfinite(df["score"])
    df = df.sort_values(["_nan", "score", "code"], kind="mergesort").drop(columns="_nan").reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df


def _series(u: pd.DataFrame, *names: str) -> np.ndarray:
    c = _col(u, *names)
    return np.full(len(u), np.nan) if c is None else c.to_numpy(dtype=np.float64)


# --------------------------------------------------------------------------------------------
# potential, opportunities, plan
# --------------------------------------------------------------------------------------------

def potential_table(data: RunData) -> pd.DataFrame | None:
    """Now, potential and change of the area-level indicators (area-weighted over the coarsest
    units; sums for volumes)."""
    lv = data.top_level
    if lv is None:
        return None
    u = data.units[lv]
    w = _col(u, "area_m2")
    w = w if w is not None else pd.Series(np.ones(len(u)))
    rows = []
    for cur, pot, name, kind in POTENTIAL_PAIRS:
        if cur not in u.columns or pot not in u.columns:
            continue
        if cur.endswith("_sum"):
            a = float(pd.to_numeric(u[cur], errors="coerce").sum())
            b = float(pd.to_numeric(u[pot], errors="coerce").sum())
        else:
            a, b = weighted_mean(_col(u, cur), w), weighted_mean(_col(u, pot), w)
        rows.append({"indicator": name, "kind": kind, "current": a, "potential": b, "change": b - a})
    return pd.DataFrame(rows) if rows else None


def opportunity_table(data: RunData) -> pd.DataFrame | None:
    """The run's ``opportunity_measures`` table, measures that fit somewhere, by combined gain per
    EUR (highest first; measures without a cost last)."""
    df = data.table("opportunity_measures")
    if df is None or df.empty:
        return None
    df = df.copy()
    if "cells_fit" in df.columns:
        df = df[pd.to_numeric(df["cells_fit"], errors="coerce").fillna(0) > 0]
    key = pd.to_numeric(df.get("gain_combined_per_eur"), errors="coerce")
    df["_k"] = key.fillna(-np.inf)
    return df.sort_values("_k", ascending=False).drop(columns="_k").reset_index(drop=True)


def plan_by_measure(data: RunData) -> pd.DataFrame | None:
    """``plan_by_measure`` by habitat gain (highest first)."""
    df = data.plan_by_measure
    if df is None or df.empty:
        return None
    return df.sort_values("gain", ascending=False, kind="mergesort").reset_index(drop=True)


def plan_totals(data: RunData) -> dict[str, float]:
    """Totals of the plan blocks (cost = net present cost floored at 0, capex, eac, gain, cooling,
    water_m3, area_m2, blocks) and the budget of ``plan_summary``."""
    out: dict[str, float] = {}
    if data.plan_blocks is not None:
        for k in ("cost", "cost_npv", "capex", "eac", "gain", "cooling", "water_m3", "area_m2"):
            if k in data.plan_blocks.columns:
                out[k] = float(pd.to_numeric(data.plan_blocks[k], errors="coerce").sum())
        out["blocks"] = float(len(data.plan_blocks))
    s = data.plan_summary
    if s is not None and {"quantity", "value"} <= set(s.columns):
        kv = dict(zip(s["quantity"].astype(str), s["value"], strict=False))
        for k in ("budget_eur", "block_m"):
            with contextlib.suppress(TypeError, ValueError):
                out[k] = float(kv.get(k))
    info = (data.manifest.get("info") or {}).get("plan") or {}
    if "block_m" in info:
        out["block_m"] = float(info["block_m"])  # metres (plan_summary's block_m counts cells)
    elif "block_m" in out:
        out["block_m"] = out["block_m"] * float((data.manifest.get("grid") or {}).get("cell", 1.0))
    if "budget_eur" not in out and info.get("budget_eur") is not None:
        out["budget_eur"] = float(info["budget_eur"])
    return out


# --------------------------------------------------------------------------------------------
# targets
# --------------------------------------------------------------------------------------------

TARGET_COLUMNS = ("level", "code", "name", "target_id", "indicator", "value", "threshold", "comparison", "unit",
                  "status", "gap", "ev", "source", "note")
STATUSES = ("met", "not met", "unknown", "excluded")


def check_targets(df: pd.DataFrame) -> pd.DataFrame:
    """The target table with its columns checked (:data:`TARGET_COLUMNS`, statuses of
    :data:`STATUSES`); a clear :class:`InputDataError` otherwise."""
    if not isinstance(df, pd.DataFrame):
        raise InputDataError(f"The target table must be a DataFrame, got {type(df).__name__}.")
    missing = [c for c in TARGET_COLUMNS if c not in df.columns]
    if missing:
        raise InputDataError(f"The target table lacks the column(s) {missing}.",
                             hint="Pass the table of biostress.targets.evaluate_run(run).")
    bad = sorted(set(df["status"].astype(str)) - set(STATUSES))
    if bad:
        raise InputDataError(f"The target table has unknown status value(s) {bad}.",
                             hint=f"Use one of {', '.join(STATUSES)}.")
    return df


def target_summary(targets: pd.DataFrame | None, data: RunData) -> dict[str, Any] | None:
    """``top``: the rows of the coarsest level present; ``counts``: per target, the number of units
    of the finest level per status; ``totals``: met / not met / unknown over ``top``."""
    if targets is None or targets.empty:
        return None
    df = check_targets(targets)
    levels = [lv for lv in LEVELS if lv in set(df["level"].astype(str))]
    if not levels:
        levels = sorted(set(df["level"].astype(str)))
    top = df[df["level"].astype(str) == levels[0]].reset_index(drop=True)
    fine = df[df["level"].astype(str) == levels[-1]]
    counts = (fine.groupby(["target_id", "status"]).size().unstack(fill_value=0)
              .reindex(columns=list(STATUSES), fill_value=0).reset_index())
    totals = {s: int((top["status"] == s).sum()) for s in STATUSES}
    return {"top": top, "top_level": levels[0], "fine_level": levels[-1], "counts": counts, "totals": totals}


# --------------------------------------------------------------------------------------------
# sources and warnings
# --------------------------------------------------------------------------------------------

def sources_table(data: RunData) -> pd.DataFrame:
    """One row per input: name, kind, location, licence, attribution, date (the manifest's inputs,
    completed from the GeoPackage table ``sources``)."""
    rows: dict[str, dict[str, Any]] = {}
    for i in data.manifest.get("inputs", []) or []:
        name = str(i.get("name", ""))
        rows[name] = {"name": name, "kind": i.get("kind") or "", "location": i.get("url") or i.get("path") or "",
                      "licence": i.get("licence") or "", "attribution": i.get("attribution") or "",
                      "date": str(i.get("date") or "")}
    src = data.tables.get("sources")
    if src is not None:
        for r in src.to_dict("records"):
            name = str(r.get("name", ""))
            row = rows.setdefault(name, {"name": name, "kind": "", "location": "", "licence": "",
                                         "attribution": "", "date": ""})
            for k in ("kind", "location", "licence", "attribution", "date"):
                v = r.get(k)
                if not row.get(k) and v is not None and not (isinstance(v, float) and math.isnan(v)):
                    row[k] = str(v)
    return pd.DataFrame(list(rows.values()), columns=["name", "kind", "location", "licence", "attribution", "date"])


def _group_of(msg: str) -> str:
    head = msg.split(":", 1)[0].strip().lower() if ":" in msg else ""
    if head in i18n.GROUPS:
        return head
    if head.startswith("source ") or head.startswith("area units") or "landcover" in head:
        return "landcover"
    for g in i18n.GROUPS:
        if head.startswith(g):
            return g
    return "other"


@dataclass
class WarningGroup:
    key: str
    lay: list[str]  # plain-language sentences (in the report language)
    messages: list[str]  # the run's own messages


def group_warnings(data: RunData, lang: str) -> list[WarningGroup]:
    """The run's warnings grouped by topic (the ``<topic>:`` prefix), each group with the plain
    sentences of :data:`biostress.report.i18n.LAY_RULES` its messages trigger."""
    groups: dict[str, WarningGroup] = {}
    for msg in data.warnings:
        g = _group_of(msg)
        grp = groups.setdefault(g, WarningGroup(g, [], []))
        grp.messages.append(msg)
        low = msg.lower()
        for rg, phrase, en, nl in i18n.LAY_RULES:
            if rg == g and phrase in low:
                m = _PCT.search(msg)
                pct = i18n.fmt_pct(float(m.group(1)) / 100.0, lang, 0) if m else ""
                s = (nl if lang == "nl" else en).format(pct=pct or "?")
                if s not in grp.lay:
                    grp.lay.append(s)
    order = list(i18n.GROUPS)
    return sorted(groups.values(), key=lambda x: order.index(x.key) if x.key in order else len(order))


def proxy_indicators(data: RunData) -> list[str]:
    """Indicator rasters the run marks as proxies (documented stand-ins, not measurements): the
    pipeline appends ``(proxy: ...)`` to their description; also rasters whose name or units say
    'proxy' and indicators whose warning says PROXY. Potential, gap and per-measure opportunity
    rasters are left out (they repeat their indicator)."""
    names: list[str] = []
    for o in data.manifest.get("outputs", []) or []:
        p = str(o.get("path", ""))
        if o.get("kind") != "raster" or "/" in p or not p.endswith(".tif"):
            continue
        name = p.removesuffix(".tif")
        if name.startswith(("gap_", "potential_")) or (name.startswith("opportunity_") and name != "opportunity_gain"):
            continue
        desc, units = str(o.get("description") or ""), str(o.get("units") or "")
        if "(proxy:" in desc or "proxy" in units.lower() or "proxy" in name:
            names.append(name)
    group_to_raster = {"drought": "drought_vulnerability"}
    for msg in data.warnings:
        g = _group_of(msg)
        if "PROXY" in msg and g in group_to_raster:
            names.append(group_to_raster[g])
    return list(dict.fromkeys(names))


def ev_counts(data: RunData) -> dict[str, int]:
    """Rows of the run's parameter tables per evidence mark (V, S, R, P)."""
    counts = {k: 0 for k in ("V", "S", "R", "P")}
    for name, df in data.tables.items():
        if "ev" not in df.columns or name in ("sources", "landcover_legend"):
            continue
        for v in df["ev"].astype(str):
            for mark in re.findall(r"\b([VSRP])\b", v.upper())[:1]:
                counts[mark] += 1
    return counts


__all__ = [
    "KeyNumbers", "LEVELS", "POTENTIAL_PAIRS", "REPORT_MAPS", "RunData", "STATUSES", "TARGET_COLUMNS",
    "WarningGroup", "check_targets", "class_shares_per_unit", "collect", "ev_counts", "group_warnings",
    "key_numbers", "opportunity_table", "plan_by_measure", "plan_totals", "potential_table", "proxy_indicators",
    "ranking", "sources_table", "stress_class_shares", "target_summary", "weighted_mean",
]
