"""The harmonised land-cover legend: an editable CSV of about 20 classes.

The default legend is ``biostress/data/landcover_legend.csv``; an area configuration may point at
its own copy (``landcover.legend``). Columns: ``code`` (0-254, 0 = no data), ``key`` (identifier
used by mapping tables), ``name_en``, ``name_nl``, ``colour`` (#rrggbb), ``green``, ``impervious``,
``water`` (0/1 flags used by later indicators) and ``description``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from ..errors import ConfigError

UNKNOWN = 0
NODATA = 255

_REQUIRED = ["code", "key", "name_en", "name_nl", "colour", "green", "impervious", "water", "description"]


@dataclass(frozen=True)
class LandCoverClass:
    code: int
    key: str
    name_en: str
    name_nl: str
    colour: str
    green: bool
    impervious: bool
    water: bool
    description: str

    @property
    def rgba(self) -> tuple[int, int, int, int]:
        h = self.colour.lstrip("#")
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255)


@dataclass(frozen=True)
class Legend:
    classes: tuple[LandCoverClass, ...]
    path: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {c.key: c for c in self.classes})

    def by_key(self, key: str) -> LandCoverClass:
        try:
            return self._by_key[key]  # type: ignore[attr-defined]
        except KeyError:
            raise ConfigError(
                f"Unknown land-cover class '{key}'.",
                hint=f"Use one of the classes of the legend {self.path}: {', '.join(self.keys)}",
            ) from None

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.classes]

    @property
    def codes(self) -> list[int]:
        return [c.code for c in self.classes]

    @property
    def max_code(self) -> int:
        return max(self.codes)

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        cmap = {c.code: c.rgba for c in self.classes}
        cmap[NODATA] = (0, 0, 0, 0)
        return cmap


def default_legend_path() -> Path:
    return Path(str(resources.files("biostress") / "data" / "landcover_legend.csv"))


def load_legend(path: str | Path | None = None) -> Legend:
    """Read and validate a legend CSV (codes unique, 0..254, class 0 = unknown, colours #rrggbb)."""
    p = Path(path) if path else default_legend_path()
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001 - any parse failure is a config error
        raise ConfigError(f"Cannot read the land-cover legend {p}: {e}") from e
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ConfigError(f"The land-cover legend {p} lacks the column(s) {missing}.",
                          hint=f"A legend needs the columns {_REQUIRED}.")
    classes = []
    for i, r in df.iterrows():
        line = i + 2
        try:
            code = int(r["code"])
        except ValueError:
            raise ConfigError(f"{p} line {line}: code {r['code']!r} is not an integer.") from None
        if not 0 <= code <= 254:
            raise ConfigError(f"{p} line {line}: code {code} must be between 0 and 254 (255 is nodata).")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", r["key"]):
            raise ConfigError(f"{p} line {line}: key {r['key']!r} must be lower_snake_case.")
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", r["colour"]):
            raise ConfigError(f"{p} line {line}: colour {r['colour']!r} must look like #1d7a3a.")
        flags = {}
        for f in ("green", "impervious", "water"):
            if r[f] not in ("0", "1"):
                raise ConfigError(f"{p} line {line}: {f} must be 0 or 1, got {r[f]!r}.")
            flags[f] = r[f] == "1"
        classes.append(LandCoverClass(code, r["key"], r["name_en"], r["name_nl"], r["colour"].lower(),
                                      flags["green"], flags["impervious"], flags["water"], r["description"]))
    codes = [c.code for c in classes]
    keys = [c.key for c in classes]
    if len(set(codes)) != len(codes) or len(set(keys)) != len(keys):
        raise ConfigError(f"The legend {p} repeats a code or key.")
    if UNKNOWN not in codes or classes[codes.index(UNKNOWN)].key != "unknown":
        raise ConfigError(f"The legend {p} must have code 0 with key 'unknown' (the no-data class).")
    return Legend(tuple(sorted(classes, key=lambda c: c.code)), str(p))
