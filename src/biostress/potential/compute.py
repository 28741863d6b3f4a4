"""Potential biodiversity: the indicators re-run on the potential land cover, and the gap.

:func:`compute` (same contract as an indicator module's ``compute(ctx)``):

1. builds the potential land cover with :func:`~biostress.potential.transitions.potential_fractions`
   (table ``potential_transitions.csv``; condition masks from :func:`condition_masks`);
2. re-runs the land-cover indicator modules (default :data:`DEFAULT_MODULES`, plus
   ``guide_species`` when its results are in ``ctx.rasters``, i.e. it ran in this run) on
   :func:`with_landcover` (a copy of the context with the potential fractions, the dominant class
   recomputed and the earlier indicator results removed), in the registry's order, feeding each
   module's results to the later ones as the pipeline does;
3. returns ``potential_landcover`` (dominant class of the potential cover, categorical, legend
   colours; with the transition table, the settings and the area per class as tables), and for
   every raster of those modules ``potential_<name>`` and, unless it is categorical,
   ``gap_<name> = potential - current`` (same units; positive = the potential value is higher).
   The current value is ``ctx.rasters[<name>]`` when present, else it is computed here on ``ctx``.
   With guide species, a table ``potential_guide_species`` gives per species the suitable area
   (``S >= threshold``) and the area in key-population networks, current and potential (ha;
   cell area times the part of the cell inside the area).

Not re-run as potentials: ``ndvi`` (measured from imagery) and ``depression_depth`` /
``depression_volume`` (terrain only): they do not depend on the land cover. Pressure rasters that
feed guide species (``light``, ``noise``, ``heat``, ``drought``) are recomputed when their module
is re-run; otherwise their current values are used for the potential (noted).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputDataError
from ..indicators import registry
from ..indicators.base import IndicatorContext, IndicatorResult
from ..indicators.heat import is_dask, like, mask_outside, xp_of
from ..landcover.legend import NODATA, UNKNOWN, Legend
from .transitions import (
    PotentialSettings,
    TransitionTable,
    load_settings,
    load_transitions,
    near_natura2000_mask,
    potential_fractions,
    shore_mask,
    urban_mask,
)

__all__ = [
    "DEFAULT_MODULES",
    "DERIVED_NAMES",
    "NOT_FROM_LANDCOVER",
    "STRESSORS",
    "compute",
    "condition_masks",
    "dominant_class",
    "is_derived",
    "run_modules",
    "with_landcover",
]

DEFAULT_MODULES = ("green", "habitat_quality", "heat", "flooding")
#: outputs of the land-cover modules that do not depend on the land cover (no potential/gap)
NOT_FROM_LANDCOVER = frozenset({"ndvi", "depression_depth", "depression_volume"})
#: raster names written by the indicator modules (removed by :func:`with_landcover`)
DERIVED_NAMES = frozenset({
    "green_share", "canopy_share", "impervious_share", "ndvi",
    "habitat_quality", "habitat_degradation", "habitat_rarity",
    "habitat_patch_area", "fragmentation_habitat", "cbi_connected_natural_area", "cbi_network",
    "connectivity_current", "connectivity_patches",
    "heat_mitigation", "cooling_capacity",
    "runoff_depth", "runoff_volume", "depression_depth", "depression_volume",
    "drought_vulnerability", "groundwater_class",
    "nitrogen_kdw", "nitrogen_kdw_basis", "nitrogen_sensitivity", "nitrogen_exceedance", "nitrogen_kdw_class",
    "light_proxy", "noise_road_proxy",
    "species_richness", "species_records", "red_list_richness", "species_coverage",
    "guide_species_key_networks", "potential_landcover",
})
_DERIVED_PATTERN = re.compile(r"^(guide_[a-z0-9_]+_(suitability|network|limiting)|(potential|gap)_[a-z0-9_]+)$")
#: indicator raster -> (stressor raster, transform, module): as ``biostress.pipeline._STRESSORS``
STRESSORS: dict[str, tuple[str, Any, str]] = {
    "light_proxy": ("light", lambda a: a, "disturbance"),
    "noise_road_proxy": ("noise", lambda a: a, "disturbance"),
    "heat_mitigation": ("heat", lambda a: 1.0 - a, "heat"),  # heat-stress index: 1 = hottest
    "drought_vulnerability": ("drought", lambda a: a, "drought"),
}


# --------------------------------------------------------------------------------------------
# context with another land cover
# --------------------------------------------------------------------------------------------

class _Subset(Mapping):
    """Some keys of a mapping, read from it only when asked for (the pipeline's rasters are read
    window by window on demand)."""

    def __init__(self, base: Mapping[str, Any], keys: Sequence[str]) -> None:
        self._base, self._keys, self._extra = base, list(keys), {}

    def __getitem__(self, key: str) -> Any:
        if key in self._extra:
            return self._extra[key]
        if key not in self._keys:
            raise KeyError(key)
        return self._base[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._extra[key] = value

    def setdefault(self, key: str, value: Any) -> Any:
        if key not in self:
            self._extra[key] = value
        return self[key]

    def put(self, key: str, value: Any) -> None:
        self.setdefault(key, value)

    def __iter__(self):
        return iter(dict.fromkeys([*self._keys, *self._extra]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*self._keys, *self._extra]))


def is_derived(name: str, rasters: dict[str, Any] | None = None) -> bool:
    """Whether ``name`` is an indicator result (or a pressure the pipeline derived from one: a
    stressor such as ``heat`` counts as derived when its indicator raster is in ``rasters``)."""
    if name in DERIVED_NAMES or _DERIVED_PATTERN.match(name):
        return True
    return any(name == key and src in (rasters or {}) for src, (key, _, _) in STRESSORS.items())


def _dominant_block(fr: np.ndarray, inside: np.ndarray, codes: np.ndarray) -> np.ndarray:
    f = np.nan_to_num(np.asarray(fr, dtype=np.float64), nan=0.0)
    dom = codes[np.argmax(f, axis=0)]  # ties: the first band = the lower code
    dom[~(f.sum(axis=0) > 0)] = UNKNOWN
    ins = np.asarray(inside).reshape(dom.shape)
    dom[~(ins > 0)] = NODATA  # NaN inside counts as outside
    return dom


def dominant_class(fractions: Any, legend: Legend, inside: Any) -> Any:
    """Dominant class code per cell (uint8): the class with the largest fraction (ties: the lower
    code), ``0`` (unknown) where no class covers any of the cell, ``255`` where ``inside <= 0``
    (outside the area). Per cell; numpy or dask (the output has the spatial chunks of the input)."""
    codes = np.asarray(legend.codes, dtype=np.uint8)
    if fractions.ndim != 3 or fractions.shape[0] != len(codes):
        raise InputDataError(f"The land-cover fractions have shape {tuple(fractions.shape)}; expected "
                             f"({len(codes)}, rows, cols) for the legend {legend.path}.")
    if tuple(inside.shape) != tuple(fractions.shape[1:]):
        raise InputDataError(f"'inside' has shape {tuple(inside.shape)}, the fractions {tuple(fractions.shape[1:])}.")
    if not is_dask(fractions):
        ins = inside.compute() if is_dask(inside) else inside
        return _dominant_block(fractions, ins, codes)
    import dask.array as da

    fr = fractions.rechunk({0: -1})
    ins = inside.rechunk(fr.chunks[1:]) if is_dask(inside) else da.from_array(np.asarray(inside), chunks=fr.chunks[1:])
    return da.map_blocks(_dominant_block, fr, ins[None], codes=codes, drop_axis=0, dtype=np.uint8,
                         chunks=fr.chunks[1:])


def with_landcover(ctx: IndicatorContext, fractions: Any) -> IndicatorContext:
    """A copy of ``ctx`` with ``fractions`` replaced, ``dominant`` recomputed
    (:func:`dominant_class`, from ``ctx.inside``) and the derived rasters (indicator results and
    the pressures derived from them, :func:`is_derived`) removed from ``rasters``, so that indicator
    modules recompute them. Inputs (dem, et0, soil_group, ...) are kept. ``ctx`` is not changed."""
    if tuple(fractions.shape) != tuple(ctx.fractions.shape):
        raise InputDataError(f"The new land-cover fractions have shape {tuple(fractions.shape)}, the context's "
                             f"{tuple(ctx.fractions.shape)}.", hint="Use the same legend and grid.")
    src = ctx.rasters or {}
    keep = [k for k in src if not is_derived(k, src)]  # names only: a lazy mapping is not read here
    rasters = _Subset(src, keep)
    return replace(ctx, fractions=fractions, dominant=dominant_class(fractions, ctx.legend, ctx.inside),
                   rasters=rasters, layers=dict(ctx.layers), units=dict(ctx.units))


# --------------------------------------------------------------------------------------------
# condition masks and module runs
# --------------------------------------------------------------------------------------------

def condition_masks(ctx: IndicatorContext, conditions: Sequence[str],
                    settings: PotentialSettings) -> tuple[dict[str, Any], list[str]]:
    """Masks (H, W) of the ``conditions`` on the context's grid and land cover, and notes."""
    masks: dict[str, Any] = {}
    notes: list[str] = []
    fr = ctx.fractions
    if "near_natura2000" in conditions:
        sites = (ctx.layers or {}).get("natura2000")
        if sites is None or len(sites) == 0:
            notes.append("no Natura 2000 layer: the transitions with condition near_natura2000 were not applied")
        m = near_natura2000_mask(ctx.grid, sites, settings.natura2000_distance_m)
        masks["near_natura2000"] = like(fr, m) if is_dask(fr) else m
    if "urban" in conditions or "rural" in conditions:
        urban, rural = urban_mask(fr, ctx.legend, ctx.inside, ctx.grid.cell, settings.urban_radius_m,
                                  settings.urban_min_built_share)
        masks["urban"], masks["rural"] = urban, rural
    if "shore" in conditions:
        masks["shore"] = shore_mask(fr, ctx.legend, ctx.inside, settings.shore_min_land_share)
    return masks, notes


def _ordered(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in registry.ORDER]
    if unknown:
        registry.modules(list(unknown))  # raises ConfigError listing the known modules
    return [n for n in registry.ORDER if n in set(names)]


def run_modules(ctx: IndicatorContext, names: Sequence[str]) -> dict[str, list[IndicatorResult]]:
    """Run the indicator modules ``names`` on ``ctx`` in the given order; like the pipeline, each
    result is added to ``ctx.rasters`` (if not there yet) and so are the pressures derived from it
    (:data:`STRESSORS`) for later modules. Modules this version lacks are skipped."""
    out: dict[str, list[IndicatorResult]] = {}
    for name, mod in registry.modules(list(names)):
        results = mod.compute(ctx)
        out[name] = results
        for r in results:
            ctx.rasters.setdefault(r.name, r.array)
            if r.name in STRESSORS:
                key, fn, _ = STRESSORS[r.name]
                ctx.rasters.setdefault(key, fn(r.array.astype(np.float32)))
    return out


def _gap(pot: Any, cur: Any, dominant: Any) -> Any:
    xp = xp_of(pot, cur)
    p, c = pot.astype(np.float64), cur.astype(np.float64)
    ok = xp.isfinite(p) & xp.isfinite(c)
    return mask_outside(xp.where(ok, p - c, np.nan), dominant)


def _np(a: Any) -> np.ndarray:
    return np.asarray(a.compute() if is_dask(a) else a)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------

def _landcover_table(ctx: IndicatorContext, pot: Any) -> pd.DataFrame:
    xp = xp_of(ctx.fractions, pot)
    cur_ha = _np(xp.nansum(ctx.fractions.astype(np.float64), axis=(1, 2))) * ctx.grid.cell_area / 1e4
    pot_ha = _np(xp.nansum(pot.astype(np.float64), axis=(1, 2))) * ctx.grid.cell_area / 1e4
    return pd.DataFrame({"class": ctx.legend.keys, "name_en": [c.name_en for c in ctx.legend.classes],
                         "current_ha": cur_ha, "potential_ha": pot_ha, "change_ha": pot_ha - cur_ha})


def guide_species_table(ctx: IndicatorContext, current: dict[str, Any], potential: dict[str, Any]) -> pd.DataFrame:
    """Per guide species: suitable area and area in key-population networks (ha), for two sets of
    guide-species rasters (``current`` and ``potential``, by result name) and their change."""
    from ..indicators.guide_species import load_species_table

    table = load_species_table(ctx.params_dir, ctx.legend)
    w = np.nan_to_num(_np(ctx.inside).astype(np.float64)) * ctx.grid.cell_area / 1e4  # ha per cell
    rows = []
    for sp in table.species:
        thr = table.threshold(sp)
        row: dict[str, Any] = {"species": sp.id, "name_en": sp.name_en, "name_nl": sp.name_nl, "threshold": thr}
        for what, arrays in (("current", current), ("potential", potential)):
            s = arrays.get(f"guide_{sp.id}_suitability")
            net = arrays.get(f"guide_{sp.id}_network")
            row[f"{what}_suitable_ha"] = float((w * (np.nan_to_num(_np(s), nan=-1.0) >= thr)).sum()) \
                if s is not None else math.nan
            row[f"{what}_key_network_ha"] = float((w * (np.nan_to_num(_np(net)) == 2)).sum()) \
                if net is not None else math.nan
        row["change_suitable_ha"] = row["potential_suitable_ha"] - row["current_suitable_ha"]
        row["change_key_network_ha"] = row["potential_key_network_ha"] - row["current_key_network_ha"]
        rows.append(row)
    cols = ["species", "name_en", "name_nl", "threshold", "current_suitable_ha", "potential_suitable_ha",
            "change_suitable_ha", "current_key_network_ha", "potential_key_network_ha", "change_key_network_ha"]
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

def compute(ctx: IndicatorContext, modules: Sequence[str] | None = None, *, table: TransitionTable | None = None,
            settings: PotentialSettings | None = None) -> list[IndicatorResult]:
    """Potential land cover, and ``potential_<name>`` / ``gap_<name>`` for the rasters of the
    land-cover modules (see the module docstring). ``modules`` defaults to :data:`DEFAULT_MODULES`
    plus ``guide_species`` when its results are in ``ctx.rasters``; ``table`` and ``settings``
    default to the (area's or built-in) parameter files."""
    legend = ctx.legend
    rasters = ctx.rasters or {}
    if tuple(ctx.fractions.shape[-2:]) != ctx.grid.shape:
        raise InputDataError(f"The land-cover fractions have shape {tuple(ctx.fractions.shape[-2:])}, "
                             f"the grid {ctx.grid.shape}.")
    table = table if table is not None else load_transitions(ctx.params_dir, legend)
    table.check_legend(legend)
    settings = settings if settings is not None else load_settings(ctx.params_dir)
    if modules is None:
        names = list(DEFAULT_MODULES)
        if "guide_species_key_networks" in rasters:
            names.append("guide_species")
    else:
        names = list(modules)
    names = _ordered(names)

    masks, notes = condition_masks(ctx, table.conditions, settings)
    pot = potential_fractions(ctx.fractions, legend, table, masks)
    pctx = with_landcover(ctx, pot)
    for key, _, module in STRESSORS.values():
        if key in rasters and key not in pctx.rasters and module not in names:
            pctx.rasters[key] = rasters[key]
            if "guide_species" in names:
                notes.append(f"the '{key}' pressure is not recomputed for the potential ({module} is not re-run): "
                             "its current value is used")
    potential = run_modules(pctx, names)

    # current values: ctx.rasters[name] when present, else computed here (the module run once on ctx)
    cctx = replace(ctx, rasters=dict(rasters))
    current: dict[str, Any] = {}
    computed: list[str] = []
    for name, results in potential.items():
        wanted = [r.name for r in results if r.name not in NOT_FROM_LANDCOVER]
        fresh: dict[str, Any] = {}
        if any(n not in rasters for n in wanted):
            computed.append(name)
            fresh = {r.name: r.array for r in run_modules(cctx, [name]).get(name, [])}
        for n in wanted:
            cur = rasters[n] if n in rasters else fresh.get(n)
            if cur is not None:
                current[n] = cur
    if computed:
        notes.append(f"current values of {', '.join(computed)} were computed here (not in the run's rasters)")

    results: list[IndicatorResult] = []
    skipped: list[str] = []
    for res in potential.values():
        for r in res:
            if r.name in NOT_FROM_LANDCOVER:
                skipped.append(r.name)
                continue
            p_arr = r.array if r.palette == "categorical" else mask_outside(r.array, pctx.dominant)
            results.append(replace(
                r, name=f"potential_{r.name}", array=p_arr, title_en=f"Potential: {r.title_en}",
                title_nl=f"Potentieel: {r.title_nl}",
                description=f"{r.description} - for the potential land cover (potential_landcover)",
                layers={}, tables={}, notes=[]))
            if r.palette == "categorical":
                continue
            cur = current.get(r.name)
            if cur is None:
                continue
            if tuple(cur.shape) != ctx.grid.shape:
                raise InputDataError(f"ctx.rasters['{r.name}'] has shape {tuple(cur.shape)}, the grid {ctx.grid.shape}.")
            span = (r.vmax - r.vmin) if r.vmin is not None and r.vmax is not None else None
            results.append(IndicatorResult(
                name=f"gap_{r.name}", array=_gap(r.array, cur, pctx.dominant), units=r.units,
                description=f"Potential minus current {r.title_en.lower()} (positive = higher in the potential land "
                            f"cover; {r.units})",
                title_en=f"Gap to potential: {r.title_en}", title_nl=f"Verschil met potentieel: {r.title_nl}",
                palette=r.palette, vmin=-span if span else None, vmax=span if span else None,
                summarise=r.summarise, proxy=r.proxy))
    if skipped:
        notes.append(f"no potential for {', '.join(sorted(set(skipped)))}: they do not depend on the land cover")

    tables: dict[str, Any] = {"potential_transitions": table.provenance(),
                              "potential_settings": settings.provenance,
                              "potential_landcover_change": _landcover_table(ctx, pot)}
    if "guide_species" in potential:
        pot_arrays = {r.name: r.array for r in potential["guide_species"]}
        tables["potential_guide_species"] = guide_species_table(ctx, current, pot_arrays)
    notes.insert(0, "Potential land cover: every transition of potential_transitions.csv whose condition holds, applied "
                    "once to the current cover; the shares are proposals (P) or typical values (R), not published "
                    "norms: see the potential_transitions table and edit it per area. Re-run on it: "
                    f"{', '.join(potential)}.")
    categories = [(c.code, f"{c.name_en} / {c.name_nl}", c.colour) for c in legend.classes]
    results.insert(0, IndicatorResult(
        name="potential_landcover", array=pctx.dominant, units="class code",
        description="Dominant land-cover class of the potential land cover (what each place could become with the "
                    "realistic changes of potential_transitions.csv)",
        title_en="Potential land cover", title_nl="Potentiële landbedekking", palette="categorical",
        categories=categories, summarise=("majority",), tables=tables, notes=notes))
    return results
