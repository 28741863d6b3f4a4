"""Target definitions: loading and validating ``targets.yaml`` and regional target files.

Built-in file: ``biostress/data/targets/targets.yaml`` (an area replaces it with a ``targets.yaml`` in its
``indicators.params_dir``). A regional file (``regional_example.yaml`` shows the format) names a group of
municipalities (CBS codes) and threshold rows evaluated the same way for each of them.

A target row compares one per-unit **indicator** (a derived quantity, see :data:`DERIVED`, or any column of the
run's ``units_<level>`` layers) with a threshold. Kinds:

* ``threshold``: status met when ``indicator * scale  <comparison>  value``;
* ``no_net_loss``: met when the unit's value is at least its value in a baseline run (NRL Art. 8(1));
  an optional ``exclusion`` (green-space share > a, canopy share > b) marks the unit "excluded";
* ``cbi``: Singapore Index points ``0..4`` = number of ``bands`` (lower bounds of 1, 2, 3, 4 points) the value
  reaches (``value >= band``); the target is reached at ``target_points`` (threshold = ``bands[points - 1]``).

Every number keeps its source and evidence mark ``ev`` (V verified, S secondary, R placeholder, P proposed), taken
from the knowledge base section 4. Errors in a file raise :class:`biostress.errors.ConfigError` naming the file,
the row and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError
from ..landcover.legend import Legend, load_legend

TARGETS_FILE = "targets.yaml"
REGIONAL_EXAMPLE_FILE = "regional_example.yaml"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
EV = Literal["V", "S", "R", "P"]
Comparison = Literal[">=", ">", "<=", "<"]
LEGEND_FLAGS = ("green", "impervious", "water")

#: Per-unit quantities the evaluation derives from a run (name -> meaning, unit).
DERIVED: dict[str, str] = {
    "nrl_green_space_m2": "urban green space per NRL Art. 3(20) (settings.nrl classes), m2",
    "nrl_green_space_share": "urban green space / unit area, 0-1",
    "canopy_m2": "tree canopy (settings.nrl.canopy_keys classes), m2",
    "canopy_share": "tree canopy / unit area, 0-1",
    "homes_near_public_green_share": "share of buildings within max_distance_m (network) of public green >= "
                                     "min_public_green_ha, 0-1",
    "homes_with_3_trees_share": "share of buildings with >= min_trees register trees within tree_radius_m, 0-1",
    "natural_area_share": "CBI natural-area classes / unit area, 0-1",
    "cbi_connectivity_meff_ha": "CBI indicator 2 effective mesh size of the unit's natural areas, ha",
    "natura2000_share": "Natura 2000 area / unit area, 0-1",
    "permeable_share": "permeable land / terrestrial land, 0-1",
    "public_green_m2_per_inhabitant": "public green areas (>= min_public_green_ha) in the unit / population, m2",
}


def data_path(name: str, params_dir: Path | str | None = None) -> Path:
    """The area's own copy of a targets file (in ``params_dir``) if it has one, else the built-in file in
    ``biostress/data/targets``."""
    if params_dir is not None:
        p = Path(params_dir) / name
        if p.is_file():
            return p
    return Path(str(resources.files("biostress") / "data" / "targets" / name))


# ------------------------------------------------------------------------------------------------ schema
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Param(_Model):
    """One number with its evidence mark and source."""

    value: float
    ev: EV
    source: str = Field(min_length=1)
    note: str = ""

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class Exclusion(_Model):
    """NRL Art. 8(1): units with green-space share > a AND canopy share > b may be excluded."""

    green_space_share_gt: Param
    canopy_share_gt: Param


class Target(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["threshold", "no_net_loss", "cbi"] = "threshold"
    framework: str = ""
    title_en: str = ""
    title_nl: str = ""
    indicator: str = Field(min_length=1)
    comparison: Comparison = ">="
    value: float | None = None
    unit: str = Field(min_length=1)
    scale: float = 1.0
    levels: tuple[str, ...] | None = None
    bands: tuple[float, float, float, float] | None = None
    target_points: int | None = Field(default=None, ge=1, le=4)
    exclusion: Exclusion | None = None
    ev: EV
    source: str = Field(min_length=1)
    note: str = ""

    @model_validator(mode="before")
    @classmethod
    def _level_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "level" in data:
            data = dict(data)
            lv = data.pop("level")
            if "levels" in data:
                raise ValueError("give either 'level' or 'levels', not both")
            data["levels"] = [lv] if isinstance(lv, str) else lv
        return data

    @model_validator(mode="after")
    def _check(self) -> Target:
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be a positive number, got {self.scale}")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError("value must be a finite number")
        if self.kind == "threshold":
            if self.value is None:
                raise ValueError("a threshold target needs a 'value'")
            if self.bands is not None or self.target_points is not None:
                raise ValueError("'bands' and 'target_points' belong to kind: cbi")
        elif self.kind == "no_net_loss":
            if self.value is not None or self.comparison != ">=":
                raise ValueError("a no_net_loss target takes its threshold from the baseline run: leave out "
                                 "'value' and 'comparison'")
        elif self.kind == "cbi":
            if self.bands is None:
                raise ValueError("a cbi target needs 'bands': the lower bounds of 1, 2, 3 and 4 points")
            if any(not math.isfinite(b) for b in self.bands) or any(
                    b1 <= b0 for b0, b1 in zip(self.bands, self.bands[1:], strict=False)):
                raise ValueError(f"bands {list(self.bands)} must be 4 strictly increasing numbers")
            if self.comparison != ">=" or self.value is not None:
                raise ValueError("a cbi target takes its threshold from 'bands' and 'target_points': leave out "
                                 "'value' and 'comparison'")
        if self.exclusion is not None and self.kind != "no_net_loss":
            raise ValueError("'exclusion' belongs to kind: no_net_loss")
        return self

    @property
    def threshold(self) -> float | None:
        """The fixed threshold (None for no_net_loss: it comes from the baseline)."""
        if self.kind == "cbi":
            assert self.bands is not None
            return float(self.bands[(self.target_points or 4) - 1])
        return self.value


class NrlSettings(_Model):
    green_space_flags: tuple[Literal["green", "impervious", "water"], ...] = ("green",)
    green_space_keys: tuple[str, ...] = ("water",)
    green_space_exclude_keys: tuple[str, ...] = ()
    canopy_keys: tuple[str, ...] = ("trees_woodland",)
    ev: EV = "P"
    source: str = ""
    note: str = ""


class Rule330Settings(_Model):
    public_green_keys: tuple[str, ...] = ("lawn_grass", "herb_rich_grassland", "shrub", "trees_woodland")
    min_public_green_ha: Param
    max_distance_m: Param
    park_access_m: Param
    walk_excluded_classes: tuple[str, ...] = ()
    tree_radius_m: Param
    min_trees: Param
    building_keys: tuple[str, ...] = ("building",)

    @model_validator(mode="after")
    def _check(self) -> Rule330Settings:
        for name in ("min_public_green_ha", "max_distance_m", "tree_radius_m", "min_trees"):
            if not getattr(self, name).value > 0:
                raise ValueError(f"{name}.value must be positive")
        if self.park_access_m.value < 0:
            raise ValueError("park_access_m.value must not be negative")
        if not self.public_green_keys or not self.building_keys:
            raise ValueError("public_green_keys and building_keys must not be empty")
        return self


class CbiSettings(_Model):
    natural_keys: tuple[str, ...] = ()
    permeable_exclude_flags: tuple[Literal["green", "impervious", "water"], ...] = ("impervious", "water")
    permeable_exclude_keys: tuple[str, ...] = ("unknown", "urban_mixed", "green_roof")
    terrestrial_exclude_flags: tuple[Literal["green", "impervious", "water"], ...] = ("water",)
    population_columns: tuple[str, ...] = ("population",)
    ev: EV = "P"
    source: str = ""
    note: str = ""


class Settings(_Model):
    nrl: NrlSettings
    rule_3_30_300: Rule330Settings
    cbi: CbiSettings


class _TargetFile(_Model):
    version: int = 1
    name: str = Field(min_length=1)
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    settings: Settings
    targets: tuple[Target, ...] = Field(min_length=1)


class Municipality(_Model):
    code: str = Field(min_length=1)
    name: str = ""


class _RegionalFile(_Model):
    name: str = Field(min_length=1)
    example: bool = False
    description: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    municipalities: tuple[Municipality, ...] = Field(min_length=1)
    targets: tuple[Target, ...] = Field(min_length=1)


@dataclass(frozen=True)
class TargetSet:
    """Validated built-in (or area) targets."""

    name: str
    settings: Settings
    targets: tuple[Target, ...]
    sources: dict[str, str]
    path: str

    def get(self, target_id: str) -> Target:
        for t in self.targets:
            if t.id == target_id:
                return t
        raise KeyError(target_id)


@dataclass(frozen=True)
class RegionalTargets:
    """Shared targets of a group of municipalities."""

    name: str
    municipalities: tuple[Municipality, ...]
    targets: tuple[Target, ...]
    example: bool
    path: str

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(m.code for m in self.municipalities)


# ----------------------------------------------------------------------------------------------- loading
def _read(p: Path, what: str) -> dict:
    try:
        doc = yaml.load(p.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"Cannot read the {what} file {p}: {e}",
                          hint="Check that the file exists and is valid YAML (see docs/targets.md).") from e
    if not isinstance(doc, dict):
        raise ConfigError(f"The {what} file {p} must be a mapping (name, ..., targets).",
                          hint="See docs/targets.md for the format.")
    if isinstance(doc.get("targets"), list):
        ids = [t.get("id") for t in doc["targets"] if isinstance(t, dict)]
        dup = sorted({str(i) for i in ids if ids.count(i) > 1})
        if dup:
            raise ConfigError(f"{p}: target id(s) {dup} appear more than once.", hint="Every target id must be unique.")
    return doc


def _where(doc: dict, loc: tuple[Any, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "targets" and isinstance(loc[1], int):
        try:
            tid = doc["targets"][loc[1]].get("id", f"#{loc[1] + 1}")
        except (AttributeError, IndexError, KeyError, TypeError):
            tid = f"#{loc[1] + 1}"
        rest = ".".join(str(x) for x in loc[2:])
        return f"target {tid!r}" + (f", field {rest!r}" if rest else "")
    return f"field {'.'.join(str(x) for x in loc)!r}"


def _validate(model: type[_Model], doc: dict, p: Path, what: str) -> Any:
    try:
        return model.model_validate(doc)
    except ValidationError as e:
        msgs = "; ".join(f"{_where(doc, tuple(err['loc']))}: {err['msg']}" for err in e.errors()[:6])
        raise ConfigError(f"The {what} file {p} is invalid: {msgs}",
                          hint="See docs/targets.md for the fields, their units and the evidence marks V/S/R/P."
                          ) from None


def _check_keys(keys: tuple[str, ...], legend: Legend, p: Path, field: str) -> None:
    bad = [k for k in keys if k not in legend.keys]
    if bad:
        raise ConfigError(f"{p}: {field} names unknown land-cover class(es) {bad}.",
                          hint=f"Use keys of the legend: {', '.join(legend.keys)}.")


def load_targets(path: str | Path | None = None, *, params_dir: Path | str | None = None,
                 legend: Legend | None = None) -> TargetSet:
    """Read and validate a targets file (default: ``params_dir/targets.yaml`` if present, else the built-in one);
    land-cover keys are checked against ``legend`` (default: the built-in legend)."""
    p = Path(path) if path is not None else data_path(TARGETS_FILE, params_dir)
    doc = _read(p, "targets")
    parsed: _TargetFile = _validate(_TargetFile, doc, p, "targets")
    legend = legend or load_legend()
    s = parsed.settings
    for field, keys in (("settings.nrl.green_space_keys", s.nrl.green_space_keys),
                        ("settings.nrl.green_space_exclude_keys", s.nrl.green_space_exclude_keys),
                        ("settings.nrl.canopy_keys", s.nrl.canopy_keys),
                        ("settings.rule_3_30_300.public_green_keys", s.rule_3_30_300.public_green_keys),
                        ("settings.rule_3_30_300.building_keys", s.rule_3_30_300.building_keys),
                        ("settings.cbi.natural_keys", s.cbi.natural_keys),
                        ("settings.cbi.permeable_exclude_keys", s.cbi.permeable_exclude_keys)):
        _check_keys(keys, legend, p, field)
    if "garden_allotment" in s.rule_3_30_300.public_green_keys:
        raise ConfigError(f"{p}: settings.rule_3_30_300.public_green_keys includes garden_allotment.",
                          hint="Private gardens and allotments are not public green space: leave them out.")
    return TargetSet(parsed.name, s, parsed.targets, dict(parsed.sources), str(p))


def load_regional(path: str | Path) -> RegionalTargets:
    """Read and validate a regional targets file (municipality codes and threshold rows)."""
    p = Path(path)
    doc = _read(p, "regional targets")
    parsed: _RegionalFile = _validate(_RegionalFile, doc, p, "regional targets")
    codes = [m.code for m in parsed.municipalities]
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        raise ConfigError(f"{p}: municipality code(s) {dup} appear more than once.")
    wrong = [t.id for t in parsed.targets if t.kind != "threshold"]
    if wrong:
        raise ConfigError(f"{p}: regional target(s) {wrong} are not of kind 'threshold'.",
                          hint="Regional rows compare a unit column with a value: give indicator, comparison, "
                               "value, unit, level, ev and source.")
    return RegionalTargets(parsed.name, parsed.municipalities, parsed.targets, parsed.example, str(p))


def regional_example_path() -> Path:
    """The shipped example of regional targets (clearly marked as an example)."""
    return data_path(REGIONAL_EXAMPLE_FILE)


__all__ = ["DERIVED", "Exclusion", "Municipality", "Param", "RegionalTargets", "Target", "TargetSet", "data_path",
           "load_regional", "load_targets", "regional_example_path"]
