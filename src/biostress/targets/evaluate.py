"""Evaluate targets per unit (buurt, wijk, ...) and per municipality, as one long table.

:func:`evaluate_run` builds a unit table per level (the run's ``units_<level>`` columns plus the derived
quantities of :data:`biostress.targets.spec.DERIVED`) and compares every target row with it
(:func:`evaluate_table`). One output row per (level, unit, target) with the columns

``level, code, name, framework, target_id, title, indicator, value, threshold, comparison, unit, status, gap,
score, ev, source, note``

* ``value`` and ``threshold`` are in the target's unit (the indicator times ``scale``);
* ``status``: ``met`` / ``not met`` / ``unknown`` (no data: the note says what is missing) / ``excluded``
  (NRL Art. 8(1) exclusion rule, or a regional target of a municipality that is not in the region);
* ``gap``: how much is missing to reach the threshold, in the target's unit: ``max(threshold - value, 0)`` for
  ``>=`` and ``>``, ``max(value - threshold, 0)`` for ``<=`` and ``<`` (0 when met; NaN when unknown or excluded;
  a strict comparison at exactly the threshold is not met with gap 0). Values within a relative 1e-9 of the
  threshold count as equal to it (float rounding);
* ``score``: Singapore Index points 0-4 for ``cbi`` targets (NaN otherwise).

:func:`compare_municipalities` puts several runs (municipalities) side by side.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import ConfigError
from . import cbi as cbi_mod
from . import nrl
from . import rule_3_30_300 as r330
from .spec import RegionalTargets, Target, TargetSet, load_regional, load_targets

COLUMNS = ["level", "code", "name", "framework", "target_id", "title", "indicator", "value", "threshold",
           "comparison", "unit", "status", "gap", "score", "ev", "source", "note"]
NO_BASELINE = "no baseline (2024) run: give baseline= a run folder of the reference year"


# ------------------------------------------------------------------------------------------- comparison
def _tol(thr: float) -> float:
    return 1e-9 * max(1.0, abs(thr))


def compare(value: float, comparison: str, threshold: float) -> tuple[bool, float]:
    """(met, gap) of ``value <comparison> threshold`` (see the module docstring).

    >>> compare(0.25, ">=", 0.30)
    (False, 0.04999999999999999)
    >>> compare(0.30, ">", 0.30), compare(5.0, "<=", 4.0)
    ((False, 0.0), (False, 1.0))
    """
    t = _tol(threshold)
    if comparison in (">=", ">"):
        met = value >= threshold - t if comparison == ">=" else value > threshold + t
        gap = 0.0 if met else max(threshold - value, 0.0)
    elif comparison in ("<=", "<"):
        met = value <= threshold + t if comparison == "<=" else value < threshold - t
        gap = 0.0 if met else max(value - threshold, 0.0)
    else:
        raise ConfigError(f"Unknown comparison {comparison!r}.", hint="Use >=, >, <= or <.")
    return bool(met), float(gap)


def _suggest(name: str, columns: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(columns), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def evaluate_table(table: pd.DataFrame, targets: Sequence[Target], *, reasons: dict[str, str] | None = None,
                   baseline: pd.DataFrame | None = None, baseline_label: str = "") -> pd.DataFrame:
    """Compare ``targets`` with a unit table (columns ``level``, ``code``, ``name`` and the indicators).

    ``reasons``: why an indicator is missing or NaN (indicator -> text, shown as the note of unknown rows).
    ``baseline``: the same kind of table of the baseline run (matched on ``level`` and ``code``) for
    ``no_net_loss`` targets; without it they are unknown (``"no baseline (2024) run"``) unless excluded.
    """
    reasons = reasons or {}
    rows: list[dict] = []
    base_idx = None
    if baseline is not None:
        base_idx = baseline.set_index(["level", "code"])
    for t in targets:
        has_col = t.indicator in table.columns
        for _, r in table.iterrows():
            level = str(r.get("level", ""))
            if t.levels is not None and level not in t.levels:
                continue
            raw = r[t.indicator] if has_col else np.nan
            value = float(raw) * t.scale if raw is not None and pd.notna(raw) else np.nan
            thr = t.threshold
            notes = [t.note] if t.note else []
            score = np.nan
            status = None
            if t.kind == "no_net_loss":
                thr = np.nan
                if base_idx is not None:
                    key = (level, r["code"])
                    if key in base_idx.index and t.indicator in base_idx.columns:
                        bv = base_idx.loc[key, t.indicator]
                        bv = bv.iloc[0] if isinstance(bv, pd.Series) else bv
                        thr = float(bv) * t.scale if pd.notna(bv) else np.nan
                        notes.append(f"baseline {baseline_label}".strip())
                    else:
                        notes.append(f"unit {r['code']} ({level}) is not in the baseline run {baseline_label}".strip())
                if t.exclusion is not None:
                    g = r.get("nrl_green_space_share", np.nan)
                    c = r.get("canopy_share", np.nan)
                    if bool(nrl.excluded(np.array([g], float), np.array([c], float), t.exclusion)[0]):
                        status = "excluded"
                        ex = t.exclusion
                        notes.append(f"may be excluded (NRL Art. 8(1)): green space {100 * g:.1f} % > "
                                     f"{100 * ex.green_space_share_gt.value:g} % and canopy {100 * c:.1f} % > "
                                     f"{100 * ex.canopy_share_gt.value:g} % "
                                     f"(ev {ex.green_space_share_gt.ev}/{ex.canopy_share_gt.ev})")
            elif t.kind == "cbi":
                assert t.bands is not None
                score = float(cbi_mod.cbi_points(value, t.bands)[0])
                notes.append(f"CBI bands (lower bounds of 1-4 points) {list(t.bands)} {t.unit}; target "
                             f"{t.target_points or 4} points")
            gap = np.nan
            if status is None:
                if not np.isfinite(value):
                    status = "unknown"
                    if not has_col:
                        notes.append(reasons.get(t.indicator) or
                                     f"the units have no column '{t.indicator}'"
                                     f"{_suggest(t.indicator, [str(c) for c in table.columns])}")
                    else:
                        notes.append(reasons.get(t.indicator, f"no value of '{t.indicator}' for this unit"))
                elif thr is None or not np.isfinite(thr):
                    status = "unknown"
                    if t.kind == "no_net_loss" and base_idx is None:
                        notes.append(NO_BASELINE)
                else:
                    met, gap = compare(value, t.comparison, float(thr))
                    status = "met" if met else "not met"
            rows.append({"level": level, "code": r.get("code"), "name": r.get("name"), "framework": t.framework,
                         "target_id": t.id, "title": t.title_en, "indicator": t.indicator, "value": value,
                         "threshold": thr if thr is not None else np.nan, "comparison": t.comparison,
                         "unit": t.unit, "status": status, "gap": gap, "score": score, "ev": t.ev,
                         "source": t.source, "note": "; ".join(n for n in notes if n)})
    return pd.DataFrame(rows, columns=COLUMNS)


# ------------------------------------------------------------------------------------------ unit tables
def _open(run: Any) -> Any:
    from ..runs import OpenRun, open_run

    return run if isinstance(run, OpenRun) else open_run(run)


def _gpkg_layers(run: Any) -> list[str]:
    p = Path(run.path) / "biostress.gpkg"
    if not p.is_file():
        return []
    import pyogrio

    return [str(n) for n, _ in pyogrio.list_layers(p)]


def _read_layer(run: Any, name: str) -> gpd.GeoDataFrame:
    return gpd.read_file(Path(run.path) / "biostress.gpkg", layer=name).to_crs(run.grid.crs)


def _buildings(run: Any, spec: TargetSet, buildings: gpd.GeoDataFrame | None, dominant: np.ndarray,
               notes: list[str]) -> gpd.GeoSeries:
    """Building geometries: ``buildings`` given, else a ``buildings`` layer of the run, else building cells."""
    if buildings is None:
        names = [n for n in _gpkg_layers(run) if n == "buildings" or n.startswith("buildings_")]
        if names:
            buildings = _read_layer(run, names[0])
    if buildings is None:
        codes = [run.legend.by_key(k).code for k in spec.settings.rule_3_30_300.building_keys]
        notes.append("buildings: building land-cover cells (cell centres), all uses - a proxy for homes")
        return r330.building_cells(dominant, codes, run.grid)
    b = buildings.to_crs(run.grid.crs) if buildings.crs is not None else buildings.set_crs(run.grid.crs)
    use = next((c for c in b.columns if c.lower() in ("gebruiksdoel", "use", "building_use")), None)
    res = b[use].astype(str).str.lower().str.contains("woon|resid", regex=True) if use is not None else None
    if res is not None and res.any():
        b = b[res]
        notes.append(f"buildings: the {len(b)} residential building polygons (column '{use}')")
    else:
        notes.append(f"buildings: {len(b)} building polygons, all uses (no residential use column)")
    return gpd.GeoSeries(b.geometry.values, crs=run.grid.crs)


def _trees(run: Any) -> gpd.GeoDataFrame | None:
    names = [n for n in _gpkg_layers(run) if n.startswith("trees_")]
    if not names:
        return None
    return pd.concat([_read_layer(run, n)[["geometry"]] for n in names], ignore_index=True)


@dataclass
class _RunData:
    """What the targets need from the whole run (computed once for all levels)."""

    parks: gpd.GeoDataFrame
    homes: gpd.GeoSeries
    served: np.ndarray | None  # per building: public green within the network distance
    three: np.ndarray | None  # per building: enough register trees nearby
    natural_keys: list[str] | None
    natura2000: gpd.GeoDataFrame | None
    reasons: dict[str, str] = field(default_factory=dict)


def _run_data(run: Any, spec: TargetSet, buildings: gpd.GeoDataFrame | None) -> _RunData:
    import rasterio

    from ..aggregate.objects import green_components
    from ..aggregate.zonal import raster_path

    s, r = spec.settings, spec.settings.rule_3_30_300
    reasons: dict[str, str] = {}
    with rasterio.open(raster_path(run, "landcover")) as src:
        dom = src.read(1)
    codes = [run.legend.by_key(k).code for k in r.public_green_keys if k != "garden_allotment"]
    parks = green_components(dom, codes, run.grid, r.min_public_green_ha.value)
    notes: list[str] = []
    homes = _buildings(run, spec, buildings, dom, notes)
    del dom
    reasons["_notes"] = "; ".join(notes)
    served = three = None
    roads = run.layers.get("roads")
    if roads is None or roads.empty:
        reasons["homes_near_public_green_share"] = "the run has no 'roads' layer: no network distance"
    else:
        net = r330.walk_graph(roads, r.walk_excluded_classes)
        d = r330.network_distance_to_green(net, parks, homes, access_m=r.park_access_m.value,
                                           limit_m=r.max_distance_m.value)
        served = d <= r.max_distance_m.value
        reasons["homes_near_public_green_share"] = "no buildings in the unit"
    trees = _trees(run)
    if trees is None:
        reasons["homes_with_3_trees_share"] = "no tree register (trees_* layer) in the run"
    else:
        three = r330.trees_within(homes, trees, r.tree_radius_m.value) >= r.min_trees.value
        reasons["homes_with_3_trees_share"] = "no buildings in the unit"
    try:
        nat_keys = cbi_mod.natural_keys(run.legend, s.cbi, run.params_dir)
    except ConfigError as e:
        nat_keys = None
        reasons["natural_area_share"] = f"natural classes unknown: {e.message}"
    n2k = run.layers.get("natura2000")
    if n2k is None:
        reasons["natura2000_share"] = "the run has no natura2000 layer"
    return _RunData(parks, homes, served, three, nat_keys, n2k, reasons)


def _level_table(run: Any, spec: TargetSet, level: str, units: gpd.GeoDataFrame,
                 data: _RunData | None) -> tuple[pd.DataFrame, dict[str, str]]:
    """The unit table of one level and the reasons for its missing quantities."""
    s = spec.settings
    why = dict(data.reasons) if data is not None else {}
    u = units.reset_index(drop=True)
    t = pd.DataFrame({c: u[c] for c in u.columns if c != u.geometry.name})
    t["level"] = level
    q = nrl.nrl_quantities(u, run.legend, s.nrl)
    for c in q.columns:
        t[c] = q[c].to_numpy()
    if np.isnan(q["nrl_green_space_m2"].to_numpy(dtype=float)).any():
        for k in q.columns:
            why.setdefault(k, "the units have no land-cover areas (<class>_m2 columns)")
    if data is None:
        return t, why
    if data.served is not None:
        n, t["homes_near_public_green_share"] = r330.share_per_unit(u, data.homes, data.served)
        t["buildings_n"] = n
    if data.three is not None:
        t["homes_with_3_trees_share"] = r330.share_per_unit(u, data.homes, data.three)[1]
    if data.natural_keys is not None:
        t["natural_area_share"] = cbi_mod.natural_area_share(u, data.natural_keys)
    meff = cbi_mod.connectivity_meff(u)
    if meff is not None:
        t["cbi_connectivity_meff_ha"] = meff
        why["cbi_connectivity_meff_ha"] = "no CBI natural area in the unit: connectivity undefined"
    else:
        why["cbi_connectivity_meff_ha"] = (f"the run has no CBI connectivity output ({cbi_mod.CONNECTIVITY_COLUMN}; "
                                           "fragmentation indicator)")
    if data.natura2000 is not None:
        t["natura2000_share"] = cbi_mod.natura2000_share(u, data.natura2000)
    t["permeable_share"] = cbi_mod.permeable_share(u, run.legend, s.cbi)
    pop, col = cbi_mod.population(u, s.cbi.population_columns)
    if pop is not None:
        t["public_green_m2_per_inhabitant"] = cbi_mod.public_green_per_inhabitant(u, data.parks, pop)
        why["public_green_m2_per_inhabitant"] = f"no inhabitants in column '{col}' for this unit"
    else:
        why["public_green_m2_per_inhabitant"] = (
            f"no population column in the units (looked for {', '.join(s.cbi.population_columns)})")
    return t, why


def unit_tables(run: Any, spec: TargetSet | None = None, *, buildings: gpd.GeoDataFrame | None = None,
                light: bool = False) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, str]]]:
    """Per level: the units' columns plus the derived quantities of :data:`~biostress.targets.spec.DERIVED`;
    and per level the reasons for missing quantities (indicator -> text; ``_notes``: how buildings were found).
    ``light``: only the NRL areas (enough for a baseline run)."""
    run = _open(run)
    spec = spec or load_targets(params_dir=run.params_dir, legend=run.legend)
    if not run.units:
        raise ConfigError(f"The run {run.path} has no area units (units_<level> layers).",
                          hint="Targets are evaluated per unit: run the area with units (CBS buurten or hexagons).")
    data = None if light else _run_data(run, spec, buildings)
    tables: dict[str, pd.DataFrame] = {}
    reasons: dict[str, dict[str, str]] = {}
    for level, units in run.units.items():
        tables[level], reasons[level] = _level_table(run, spec, level, units, data)
    return tables, reasons


# ------------------------------------------------------------------------------------------- entry point
def _municipality_codes(run: Any) -> set[str]:
    codes: set[str] = set()
    for level, u in run.units.items():
        if level == "gemeente" and "code" in u.columns:
            codes |= {str(c) for c in u["code"]}
        if "gemeentecode" in u.columns:
            codes |= {str(c) for c in u["gemeentecode"].dropna()}
    return codes


def _regional_rows(run: Any, tables: dict[str, pd.DataFrame], reasons: dict[str, dict[str, str]],
                   reg: RegionalTargets) -> pd.DataFrame:
    member = _municipality_codes(run) & set(reg.codes)
    label = f"regional: {reg.name}"
    parts = []
    for t in reg.targets:
        t = t.model_copy(update={"framework": label})
        for level, tab in tables.items():
            part = evaluate_table(tab, [t], reasons=reasons.get(level))
            if not member and len(part):
                part["status"] = "excluded"
                part["gap"] = np.nan
                part["note"] = (f"the municipality ({', '.join(sorted(_municipality_codes(run))) or 'code unknown'}) "
                                f"is not one of the municipalities of '{reg.name}'")
            parts.append(part)
    if reg.example:
        for p in parts:
            p["note"] = p["note"].map(lambda n: ("EXAMPLE targets; " + n) if n else "EXAMPLE targets")
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


def evaluate_run(run: Any, *, targets: TargetSet | str | Path | None = None,
                 regional: RegionalTargets | str | Path | None = None, baseline: Any = None,
                 buildings: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """Targets of a run folder (or :class:`biostress.runs.OpenRun`) per unit and level, as one long table.

    ``targets``: a :class:`TargetSet` or a targets file (default: the area's ``targets.yaml`` in its params_dir,
    else the built-in one). ``regional``: a regional targets file or :class:`RegionalTargets`. ``baseline``:
    another run folder of the same units (the 2024 reference) for the NRL no-net-loss targets. ``buildings``:
    building polygons to use instead of the run's ``buildings`` layer or building cells.
    """
    run = _open(run)
    spec = targets if isinstance(targets, TargetSet) else load_targets(targets, params_dir=run.params_dir,
                                                                       legend=run.legend)
    reg = regional if isinstance(regional, RegionalTargets) or regional is None else load_regional(regional)
    tables, reasons = unit_tables(run, spec, buildings=buildings)
    base_tab = None
    label = ""
    if baseline is not None:
        b = _open(baseline)
        bt, _ = unit_tables(b, spec, light=True)
        base_tab = pd.concat([x[["level", "code", "nrl_green_space_m2", "canopy_m2"]] for x in bt.values()],
                             ignore_index=True)
        label = f"{b.path.name} (created {b.manifest.get('created', '?')})"
    parts = []
    for level, tab in tables.items():
        parts.append(evaluate_table(tab, spec.targets, reasons=reasons.get(level), baseline=base_tab,
                                    baseline_label=label))
    if reg is not None:
        parts.append(_regional_rows(run, tables, reasons, reg))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    note = next((r["_notes"] for r in reasons.values() if r.get("_notes")), None)
    if note:
        m = out["target_id"].isin(["r330_green_300m", "r330_3_trees"])
        out.loc[m, "note"] = out.loc[m, "note"].map(lambda n: f"{n}; {note}" if n else note)
    return out


def compare_municipalities(runs: Sequence[Any], targets: TargetSet | str | Path | None = None, *,
                           regional: RegionalTargets | str | Path | None = None,
                           baselines: Sequence[Any] | None = None, level: str = "gemeente") -> pd.DataFrame:
    """Several runs (one per municipality) side by side at ``level``: one row per target, per municipality the
    columns ``<code>_value``, ``<code>_status`` and ``<code>_gap`` (a code already used by an earlier run gets
    ``#<run number>``); ``threshold`` when it is the same for all; ``n_met`` = how many municipalities meet it."""
    if baselines is not None and len(baselines) != len(runs):
        raise ConfigError(f"{len(baselines)} baseline run(s) for {len(runs)} run(s).",
                          hint="Give one baseline per run (or None for a run without one).")
    longs = []
    for i, r in enumerate(runs):
        df = evaluate_run(r, targets=targets, regional=regional, baseline=baselines[i] if baselines else None)
        longs.append(df[df["level"] == level])
    if not longs:
        return pd.DataFrame()
    key = ["framework", "target_id", "title", "indicator", "comparison", "unit", "ev", "source"]
    base = pd.concat([d[key] for d in longs]).drop_duplicates("target_id").set_index("target_id")
    out = base.copy()
    thr: dict[str, set] = {}
    met = pd.Series(0, index=out.index)
    seen: set[str] = set()
    for i, d in enumerate(longs):
        codes = {str(c) for c in d["code"]}
        rename = {c: (c if c not in seen else f"{c}#{i + 1}") for c in codes}
        seen |= set(rename.values())
        for _, r in d.iterrows():
            c = rename[str(r["code"])]
            out.loc[r["target_id"], f"{c}_value"] = r["value"]
            out.loc[r["target_id"], f"{c}_status"] = r["status"]
            out.loc[r["target_id"], f"{c}_gap"] = r["gap"]
            tv = None if pd.isna(r["threshold"]) else round(float(r["threshold"]), 12)
            thr.setdefault(r["target_id"], set()).add(tv)
            met[r["target_id"]] += int(r["status"] == "met")
    out.insert(5, "threshold", [next(iter(thr[t])) if len(thr.get(t, ())) == 1 and None not in thr[t] else np.nan
                                for t in out.index])
    out["n_met"] = met.reindex(out.index).to_numpy()
    return out.reset_index()


__all__ = ["COLUMNS", "NO_BASELINE", "compare", "compare_municipalities", "evaluate_run", "evaluate_table",
           "unit_tables"]
