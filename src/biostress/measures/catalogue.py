"""The measures catalogue: urban Bio-NBS and rural measures around Natura 2000.

Data: ``biostress/data/measures/measures.yaml`` (fields, units and how to add a measure in the
``README.md`` next to it and in ``docs/measures.md``). An area can use its own copy: a file
``measures.yaml`` in its ``params_dir`` replaces the built-in catalogue.

Every number is a :class:`Value` with its evidence mark ``ev`` (V verified, S secondary,
R placeholder, P proposed) and source keys from the catalogue's ``sources`` list (the keys of the
biostress knowledge base, section 0, plus a few for pages that base quotes). Where the source gives
a range, ``low``/``high`` keep it and ``value`` is the midpoint (``midpoint: true``).

Validation on load (:func:`load_catalogue`): structure and types (pydantic), then land-cover class
keys against the legend, guide-species ids against ``guide_species.yaml``, the ``fits`` rule
against the rule language and its variable vocabulary (:mod:`biostress.measures.rules`), shares
0-1, no negative costs, lifetimes > 0, unique ids, known source keys. Any problem is a
:class:`~biostress.errors.ConfigError` naming the measure id and the field.

Per-cell helpers (numpy or dask): :func:`converted_area_m2` (m2 of land cover a measure converts
in a cell: ``A = sum_t share_t * f_from(t) * cell_area``), :func:`units_per_cell` (how many units
of the measure that is) and :func:`apply_transitions` (the land-cover stack after the measure).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError, InputDataError
from ..indicators.base import params_path
from ..landcover.legend import Legend, load_legend
from . import rules

MEASURES_FILE = "measures.yaml"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C safe loader when libyaml is there
EV = Literal["V", "S", "R", "P"]
STRESSORS = ("light", "noise", "roads", "paving", "heat", "drought")
SPECIES_GROUPS = ("birds", "bats", "pollinators", "butterflies", "insects", "amphibians", "reptiles",
                  "mammals", "fish", "plants", "soil", "aquatic")
VALUE_FIELDS = ("capex_eur", "opex_eur_yr", "lifetime_yr", "revenue_eur_yr", "avoided_damage_eur_yr",
                "cooling_c", "water_storage_l", "runoff_coefficient", "green_factor_ugf", "green_factor_bff")
_NON_NEGATIVE = ("capex_eur", "opex_eur_yr", "revenue_eur_yr", "avoided_damage_eur_yr", "cooling_c",
                 "water_storage_l")
_ZERO_ONE = ("runoff_coefficient", "green_factor_ugf", "green_factor_bff")


def data_path(name: str, params_dir: Path | str | None = None) -> Path:
    """The area's own copy of a measures data file (in ``params_dir``) if it has one, else the
    built-in file in ``biostress/data/measures``."""
    if params_dir is not None:
        p = Path(params_dir) / name
        if p.exists():
            return p
    return Path(str(resources.files("biostress") / "data" / "measures" / name))


# --------------------------------------------------------------------------------------------
# the schema
# --------------------------------------------------------------------------------------------

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _as_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


class Value(_Model):
    """A number with its evidence: ``value`` (None = not known), optional range ``low``-``high``,
    ``midpoint`` (value is the midpoint of the range), ``ev``, ``source`` keys, price ``year``."""

    value: float | None
    low: float | None = None
    high: float | None = None
    midpoint: bool = False
    ev: EV
    source: list[str] = Field(min_length=1)
    year: int | None = Field(None, ge=1990, le=2100)
    note: str = ""

    _src = field_validator("source", mode="before")(_as_list)

    @model_validator(mode="after")
    def _range(self) -> Value:
        lo, hi, v = self.low, self.high, self.value
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"low {lo} is above high {hi}")
        if v is not None and ((lo is not None and v < lo) or (hi is not None and v > hi)):
            raise ValueError(f"value {v} lies outside its range {lo}-{hi}")
        if self.midpoint:
            if lo is None or hi is None or v is None:
                raise ValueError("midpoint: true needs value, low and high")
            if not math.isclose(v, (lo + hi) / 2, rel_tol=1e-9, abs_tol=1e-9):
                raise ValueError(f"midpoint: true but value {v} is not ({lo} + {hi}) / 2 = {(lo + hi) / 2}")
        return self

    def numbers(self) -> list[float]:
        return [x for x in (self.value, self.low, self.high) if x is not None]


class Fits(_Model):
    """Where in a cell the measure fits: a rule of :mod:`biostress.measures.rules`."""

    rule: str = Field(min_length=1)
    ev: EV
    source: list[str] = Field(min_length=1)
    note: str = ""

    _src = field_validator("source", mode="before")(_as_list)


class Transition(_Model):
    """``share`` (0-1) of the ``from`` cover of a cell that becomes ``to`` where the measure is applied."""

    from_: str = Field(alias="from")
    to: str
    share: float
    ev: EV
    source: list[str] = Field(min_length=1)
    note: str = ""

    _src = field_validator("source", mode="before")(_as_list)


class Quantity(_Model):
    """How many units of the measure one application in a cell takes.

    - ``converted_area``: ``per_m2`` units per m2 of converted land cover (m2 measures: 1;
      street tree: 1/25 = 0.04 per m2 of crown; ha measures: 0.0001);
    - ``class_area``: ``per_ha`` units per ha of the cover of ``classes`` in the cell (all of the cell
      when ``classes`` is empty), for measures that do not change land cover (boxes, lamps, façades);
    - ``site``: ``per_site`` units per application, whatever the cell size (crossings).
    """

    basis: Literal["converted_area", "class_area", "site"]
    per_m2: float | None = None
    per_ha: float | None = None
    classes: list[str] = []
    per_site: float | None = None
    ev: EV
    source: list[str] = Field(min_length=1)
    note: str = ""

    _src = field_validator("source", mode="before")(_as_list)

    @model_validator(mode="after")
    def _basis(self) -> Quantity:
        need = {"converted_area": "per_m2", "class_area": "per_ha", "site": "per_site"}[self.basis]
        for f in ("per_m2", "per_ha", "per_site"):
            v = getattr(self, f)
            if f == need and (v is None or v <= 0):
                raise ValueError(f"basis {self.basis} needs {f} above 0")
            if f != need and v is not None:
                raise ValueError(f"basis {self.basis} does not use {f}")
        if self.classes and self.basis != "class_area":
            raise ValueError("classes only go with basis class_area")
        return self


class Subsidy(_Model):
    """A subsidy: ``amount_eur`` per unit (``per: unit``) or per application (``per: application``),
    or a ``share`` of the capex (``per: share_of_capex``); ``max_eur`` caps it per application."""

    programme: str = Field(min_length=1)
    per: Literal["unit", "share_of_capex", "application"]
    amount_eur: float | None = Field(None, ge=0)
    share: float | None = Field(None, gt=0, le=1)
    max_eur: float | None = Field(None, ge=0)
    region: str = Field(min_length=1)
    valid_until: date | None = None
    condition: str = ""
    ev: EV
    source: list[str] = Field(min_length=1)
    note: str = ""

    _src = field_validator("source", mode="before")(_as_list)

    @model_validator(mode="after")
    def _amount(self) -> Subsidy:
        if self.per == "share_of_capex":
            if self.share is None or self.amount_eur is not None:
                raise ValueError("per share_of_capex needs share (0-1) and no amount_eur")
        elif self.amount_eur is None or self.share is not None:
            raise ValueError(f"per {self.per} needs amount_eur and no share")
        return self


class Measure(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_en: str = Field(min_length=1)
    name_nl: str = Field(min_length=1)
    explain_en: str = Field(min_length=10)
    explain_nl: str = Field(min_length=10)
    setting: Literal["urban", "rural", "both"]
    scale: Literal["building", "plot", "street", "district", "landscape", "road"]
    owner: Literal["public", "private", "both"]
    unit: Literal["m2", "m3", "m", "ha", "tree", "unit", "crossing"]
    fits: Fits
    transitions: list[Transition] = []
    quantity: Quantity
    stressor_relief: dict[Literal["light", "noise", "roads", "paving", "heat", "drought"], Value] = {}
    species_groups: list[Literal["birds", "bats", "pollinators", "butterflies", "insects", "amphibians",
                                 "reptiles", "mammals", "fish", "plants", "soil", "aquatic"]] = []
    guide_species: list[str] = []
    capex_eur: Value
    opex_eur_yr: Value | None = None
    lifetime_yr: Value
    subsidies: list[Subsidy] = []
    revenue_eur_yr: Value | None = None
    avoided_damage_eur_yr: Value | None = None
    cooling_c: Value | None = None
    water_storage_l: Value | None = None
    runoff_coefficient: Value | None = None
    green_factor_ugf: Value | None = None
    green_factor_bff: Value | None = None
    notes: str = ""

    def number(self, name: str, default: float = math.nan) -> float:
        """Central value of a :class:`Value` field (``default`` when absent or unknown)."""
        v = getattr(self, name)
        return default if v is None or v.value is None else float(v.value)

    @property
    def changes_landcover(self) -> bool:
        return bool(self.transitions)


class _File(_Model):
    version: Literal[1]
    sources: dict[str, str]
    measures: list[Measure] = Field(min_length=1)


# --------------------------------------------------------------------------------------------
# the catalogue
# --------------------------------------------------------------------------------------------

@dataclass
class Catalogue:
    """The validated catalogue: ``measures`` in file order, ``sources`` (key -> citation)."""

    measures: list[Measure]
    sources: dict[str, str]
    path: str
    _by_id: dict[str, Measure] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {m.id: m for m in self.measures}

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.measures]

    def __len__(self) -> int:
        return len(self.measures)

    def __iter__(self):
        return iter(self.measures)

    def get(self, measure_id: str) -> Measure:
        try:
            return self._by_id[measure_id]
        except KeyError:
            raise ConfigError(f"No measure {measure_id!r} in the catalogue {self.path}.",
                              hint=f"Use one of: {', '.join(self.ids)}") from None

    def by_setting(self, setting: str) -> list[Measure]:
        """Measures for ``"urban"`` or ``"rural"`` (including those marked ``both``)."""
        if setting not in ("urban", "rural", "both"):
            raise ConfigError(f"Unknown setting {setting!r}.", hint="Use 'urban', 'rural' or 'both'.")
        if setting == "both":
            return [m for m in self.measures if m.setting == "both"]
        return [m for m in self.measures if m.setting in (setting, "both")]

    def evaluate_fits(self, variables: Mapping[str, Any], missing: Literal["error", "false"] = "false",
                      ids: Iterable[str] | None = None) -> dict[str, rules.Evaluation]:
        """Where each measure fits (bool per cell) and which of its variables were absent."""
        chosen = [self.get(i) for i in ids] if ids is not None else self.measures
        return {m.id: rules.evaluate(rules.Rule.parse(m.fits.rule), variables, missing) for m in chosen}

    def to_frame(self) -> pd.DataFrame:
        """One row per measure, flat, for reports and downloads. Each number ``f`` gives the columns
        ``f``, ``f_low``, ``f_high``, ``f_ev``, ``f_source`` (keys joined by ';'), ``f_note``."""
        rows = []
        for m in self.measures:
            r: dict[str, Any] = {
                "id": m.id, "name_en": m.name_en, "name_nl": m.name_nl, "setting": m.setting, "scale": m.scale,
                "owner": m.owner, "unit": m.unit, "explain_en": m.explain_en, "explain_nl": m.explain_nl,
                "fits": m.fits.rule, "fits_ev": m.fits.ev, "fits_source": ";".join(m.fits.source),
                "transitions": "; ".join(f"{t.from_}->{t.to}:{t.share:g} ({t.ev})" for t in m.transitions),
                "quantity_basis": m.quantity.basis, "quantity_per_m2": m.quantity.per_m2,
                "quantity_per_ha": m.quantity.per_ha, "quantity_classes": ";".join(m.quantity.classes),
                "quantity_per_site": m.quantity.per_site, "quantity_ev": m.quantity.ev,
                "species_groups": ";".join(m.species_groups), "guide_species": ";".join(m.guide_species),
                "stressor_relief": "; ".join(f"{k}:{v.value:g} ({v.ev})" for k, v in m.stressor_relief.items()
                                             if v.value is not None),
            }
            for f in VALUE_FIELDS:
                v: Value | None = getattr(m, f)
                r[f] = np.nan if v is None or v.value is None else v.value
                r[f"{f}_low"] = np.nan if v is None or v.low is None else v.low
                r[f"{f}_high"] = np.nan if v is None or v.high is None else v.high
                r[f"{f}_ev"] = "" if v is None else v.ev
                r[f"{f}_source"] = "" if v is None else ";".join(v.source)
                r[f"{f}_note"] = "" if v is None else v.note
            r["subsidies"] = "; ".join(_subsidy_text(s) for s in m.subsidies)
            r["notes"] = m.notes
            rows.append(r)
        return pd.DataFrame(rows)

    def sources_frame(self) -> pd.DataFrame:
        """The source keys and their citations."""
        return pd.DataFrame({"key": list(self.sources), "source": list(self.sources.values())})


def _subsidy_text(s: Subsidy) -> str:
    amount = f"{s.share:.0%} of capex" if s.per == "share_of_capex" else f"EUR {s.amount_eur:g} per {s.per}"
    cap = f", max EUR {s.max_eur:g}" if s.max_eur is not None else ""
    until = f", until {s.valid_until}" if s.valid_until else ""
    return f"{s.programme} ({s.region}): {amount}{cap}{until} [{s.ev}; {';'.join(s.source)}]"


# --------------------------------------------------------------------------------------------
# loading and validation
# --------------------------------------------------------------------------------------------

def _species_ids(params_dir: Path | str | None) -> list[str]:
    p = params_path("guide_species.yaml", params_dir)
    try:
        doc = yaml.load(p.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
        return [str(s["id"]) for s in doc["species"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
        raise ConfigError(f"Cannot read the guide-species ids from {p}: {e}") from e


def _where(doc: Any, loc: tuple[Any, ...]) -> str:
    """'measure <id>, field <a.b>' for a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "measures" and isinstance(loc[1], int):
        try:
            mid = doc["measures"][loc[1]].get("id", f"#{loc[1] + 1}")
        except (AttributeError, IndexError, KeyError, TypeError):
            mid = f"#{loc[1] + 1}"
        rest = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc[2:]).lstrip(".")
        return f"measure {mid!r}, field {rest or '(whole entry)'!r}"
    return f"field {'.'.join(str(x) for x in loc)!r}"


def load_catalogue(path: str | Path | None = None, *, legend: Legend | None = None,
                   species_ids: Iterable[str] | None = None,
                   params_dir: Path | str | None = None) -> Catalogue:
    """Read and validate a measures catalogue (default: ``params_dir/measures.yaml`` if present,
    else the built-in one). ``legend`` defaults to the built-in legend and ``species_ids`` to the
    ids of ``guide_species.yaml`` (the area's copy in ``params_dir`` if present)."""
    p = Path(path) if path is not None else data_path(MEASURES_FILE, params_dir)
    try:
        doc = yaml.load(p.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"Cannot read the measures catalogue {p}: {e}",
                          hint="Check that the file exists and is valid YAML.") from e
    if not isinstance(doc, dict):
        raise ConfigError(f"The measures catalogue {p} must be a mapping with version, sources and measures.")
    if isinstance(doc.get("measures"), list):
        ids = [m.get("id") for m in doc["measures"] if isinstance(m, dict)]
        dup = sorted({str(i) for i in ids if ids.count(i) > 1})
        if dup:
            raise ConfigError(f"{p}: measure id(s) {dup} appear more than once.", hint="Every id must be unique.")
    try:
        parsed = _File.model_validate(doc)
    except ValidationError as e:
        msgs = "; ".join(f"{_where(doc, tuple(err['loc']))}: {err['msg']}" for err in e.errors()[:6])
        raise ConfigError(f"The measures catalogue {p} is invalid: {msgs}",
                          hint="See biostress/data/measures/README.md for the fields and their units.") from None
    legend = legend or load_legend()
    species = set(species_ids) if species_ids is not None else set(_species_ids(params_dir))
    known = rules.known_variables(legend)
    for m in parsed.measures:
        _check_measure(m, p, legend, species, known, parsed.sources)
    return Catalogue(list(parsed.measures), dict(parsed.sources), str(p))


def _check_measure(m: Measure, p: Path, legend: Legend, species: set[str], known: Mapping[str, str],
                   sources: Mapping[str, str]) -> None:
    def bad(fieldname: str, what: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{p}: measure {m.id!r}, field {fieldname!r}: {what}", hint=hint)

    def check_sources(fieldname: str, keys: list[str]) -> None:
        unknown = [k for k in keys if k not in sources]
        if unknown:
            raise bad(fieldname, f"unknown source key(s) {unknown}.",
                      "Add the key with its citation to the 'sources' list at the top of the catalogue.")

    try:
        rules.validate_rule(m.fits.rule, known)
    except ConfigError as e:
        raise bad("fits.rule", e.message, e.hint) from None
    check_sources("fits.source", m.fits.source)
    keys = set(legend.keys)
    per_from: dict[str, float] = {}
    for i, t in enumerate(m.transitions):
        for end, k in (("from", t.from_), ("to", t.to)):
            if k not in keys:
                raise bad(f"transitions[{i}].{end}", f"unknown land-cover class {k!r}.",
                          f"Use a class of the legend {legend.path}: {', '.join(legend.keys)}")
        if t.from_ == t.to:
            raise bad(f"transitions[{i}]", f"converts {t.from_!r} into itself.")
        if not 0 < t.share <= 1:
            raise bad(f"transitions[{i}].share", f"{t.share} is outside 0-1 (a share of the 'from' cover).")
        per_from[t.from_] = per_from.get(t.from_, 0.0) + t.share
        check_sources(f"transitions[{i}].source", t.source)
    over = {k: round(s, 6) for k, s in per_from.items() if s > 1 + 1e-9}
    if over:
        raise bad("transitions", f"the shares taken from one class add up to more than 1: {over}.")
    q = m.quantity
    for k in q.classes:
        if k not in keys:
            raise bad("quantity.classes", f"unknown land-cover class {k!r}.")
    if q.basis == "converted_area" and not m.transitions:
        raise bad("quantity.basis", "converted_area needs transitions (no land cover is converted).",
                  "Use basis class_area or site for measures that do not change land cover.")
    check_sources("quantity.source", q.source)
    unknown_sp = [s for s in m.guide_species if s not in species]
    if unknown_sp:
        raise bad("guide_species", f"unknown guide species id(s) {unknown_sp}.",
                  f"Use ids of guide_species.yaml: {', '.join(sorted(species))}")
    for k, v in m.stressor_relief.items():
        if v.value is None or not all(0 <= x <= 1 for x in v.numbers()):
            raise bad(f"stressor_relief.{k}", "must be a number between 0 and 1 (share of the stressor removed).")
        check_sources(f"stressor_relief.{k}.source", v.source)
    for f in VALUE_FIELDS:
        v = getattr(m, f)
        if v is None:
            continue
        check_sources(f"{f}.source", v.source)
        nums = v.numbers()
        if f in _NON_NEGATIVE and any(x < 0 for x in nums):
            raise bad(f, f"must not be negative (got {nums}).")
        if f in _ZERO_ONE and any(not 0 <= x <= 1 for x in nums):
            raise bad(f, f"must be between 0 and 1 (got {nums}).")
        if f == "lifetime_yr" and any(x <= 0 for x in nums):
            raise bad(f, f"must be above 0 years (got {nums}); leave value empty (null) for a measure "
                         "without replacement.")
    for i, s in enumerate(m.subsidies):
        check_sources(f"subsidies[{i}].source", s.source)


# --------------------------------------------------------------------------------------------
# per-cell effects (numpy or dask)
# --------------------------------------------------------------------------------------------

def _check_stack(fractions: Any, legend: Legend) -> None:
    if fractions.ndim != 3 or fractions.shape[0] != len(legend.classes):
        raise InputDataError(f"The land-cover stack must be (n_classes={len(legend.classes)}, H, W), "
                             f"got shape {tuple(fractions.shape)}.")


def converted_area_m2(measure: Measure, fractions: Any, legend: Legend, cell_area_m2: float) -> Any:
    """Land cover (m2) the measure converts in each cell: ``sum_t share_t * f_from(t) * cell_area``.
    NaN outside the area (where the cover fractions are NaN)."""
    _check_stack(fractions, legend)
    if cell_area_m2 <= 0:
        raise InputDataError(f"cell_area_m2 must be above 0, got {cell_area_m2}.")
    out = np.zeros_like(fractions[0], dtype=np.float64)
    for t in measure.transitions:
        out = out + t.share * fractions[legend.keys.index(t.from_)]
    return out * cell_area_m2


def units_per_cell(measure: Measure, fractions: Any, legend: Legend, cell_area_m2: float) -> Any:
    """Units of the measure for one application in each cell (see :class:`Quantity`)."""
    q = measure.quantity
    if q.basis == "converted_area":
        return q.per_m2 * converted_area_m2(measure, fractions, legend, cell_area_m2)
    _check_stack(fractions, legend)
    if cell_area_m2 <= 0:
        raise InputDataError(f"cell_area_m2 must be above 0, got {cell_area_m2}.")
    total = fractions.sum(axis=0)  # NaN outside the area
    if q.basis == "site":
        return np.where(np.isnan(total), np.nan, q.per_site + np.zeros_like(total))
    if q.classes:
        share = np.zeros_like(total)
        for k in q.classes:
            share = share + fractions[legend.keys.index(k)]
    else:
        share = np.where(np.isnan(total), np.nan, 1.0 + np.zeros_like(total))
    return q.per_ha * share * (cell_area_m2 / 10_000.0)


def apply_transitions(measure: Measure, fractions: Any, legend: Legend, where: Any = None) -> Any:
    """The land-cover stack after applying the measure in the cells where ``where`` is true (all
    cells when None), or on the part ``where`` (0-1, float) of each cell (e.g. the share of the cell
    inside a drawn polygon): for each transition ``share * f_from * part`` moves from ``from`` to
    ``to``; all amounts are taken from the stack before the measure. Shares per cell still add up as
    before."""
    _check_stack(fractions, legend)
    bands = [fractions[i] for i in range(fractions.shape[0])]
    if where is None:
        mask: Any = 1.0
    elif getattr(where, "dtype", np.dtype(bool)).kind == "b":
        mask = np.where(where, 1.0, 0.0)
    else:
        mask = np.clip(np.nan_to_num(where, nan=0.0), 0.0, 1.0)
    for t in measure.transitions:
        i, j = legend.keys.index(t.from_), legend.keys.index(t.to)
        moved = t.share * fractions[i] * mask
        bands[i] = bands[i] - moved
        bands[j] = bands[j] + moved
    return np.stack(bands).astype(fractions.dtype)
