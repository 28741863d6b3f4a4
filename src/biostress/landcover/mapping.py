"""Mapping tables: from each source's codes and tags to the harmonised land-cover classes.

A mapping table is a CSV (default ``biostress/data/landcover_mapping.csv``) with the columns

``schema, layer, where, class, priority, width_m, ev, source, note``

* ``schema``/``layer`` name the source schema (``openmaptiles``, ``osm``, ``trees``, ``worldcover``,
  ``corine`` or a user schema) and one of its layers.
* ``where`` is a declarative condition, never evaluated as code: ``*`` (everything), or clauses
  joined by ``&``, each ``key=v1|v2`` (value is one of), ``key!=v1|v2`` (value is none of, or
  missing), ``key=*`` (present and not empty/"no") or ``key!=*`` (missing or empty).
* ``class`` is a legend key, or ``ignore`` for features that are deliberately not land cover.
* ``priority``: where features overlap, the higher priority decides (a building on a residential
  area wins). Equal priorities: the later source in the area configuration wins.
* ``width_m``: for line features, the full width of the surface they stand for; the line is
  buffered by half of it. Lines with no width are not land cover.
* ``ev``/``source``/``note``: evidence mark (V verified, S secondary, R typical value, P
  proposed), where the number comes from, and remarks for the ecologist.

Within a layer the first matching row wins. Features that no row matches are counted and
reported (never silently dropped) as "unmapped".
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .legend import Legend

IGNORE = "ignore"
_COND = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_:.\-]*)\s*(!=|=)\s*(.+?)\s*$")


@dataclass(frozen=True)
class Condition:
    key: str
    negate: bool
    values: tuple[str, ...] | None  # None = '*'

    def mask(self, df: pd.DataFrame) -> np.ndarray:
        if self.key in df.columns:
            col = df[self.key]
            s = col.astype("string").fillna("").str.strip()
        else:
            s = pd.Series([""] * len(df), index=df.index, dtype="string")
        present = (s != "") & (s.str.lower() != "no")
        hit = present if self.values is None else s.isin(self.values)
        hit = hit.to_numpy(dtype=bool)
        return ~hit if self.negate else hit


@dataclass(frozen=True)
class Rule:
    schema: str
    layer: str
    where: str
    conditions: tuple[Condition, ...]
    cls: str
    priority: int
    width_m: float | None
    ev: str
    source: str
    note: str
    line: int

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.conditions]

    def mask(self, df: pd.DataFrame) -> np.ndarray:
        m = np.ones(len(df), dtype=bool)
        for c in self.conditions:
            m &= c.mask(df)
        return m


def parse_where(where: str, *, context: str = "") -> tuple[Condition, ...]:
    """Parse a ``where`` expression.

    >>> parse_where("class=grass & subclass!=garden|allotments")[1]
    Condition(key='subclass', negate=True, values=('garden', 'allotments'))
    >>> parse_where("*")
    ()
    """
    w = (where or "").strip()
    if w in ("", "*"):
        return ()
    out = []
    for clause in w.split("&"):
        m = _COND.match(clause)
        if not m:
            raise ConfigError(f"{context}cannot read the condition {clause.strip()!r} in {where!r}.",
                              hint="Write conditions as key=value, key=a|b, key!=value, key=* joined by &.")
        key, op, vals = m.groups()
        values = None if vals.strip() == "*" else tuple(v.strip() for v in vals.split("|"))
        out.append(Condition(key, op == "!=", values))
    return tuple(out)


@dataclass(frozen=True)
class MappingTable:
    rules: tuple[Rule, ...]
    path: str

    def for_layer(self, schema: str, layer: str) -> list[Rule]:
        return [r for r in self.rules if r.schema == schema and r.layer == layer]

    def layers(self, schema: str) -> list[str]:
        return sorted({r.layer for r in self.rules if r.schema == schema})

    def cover_layers(self, schema: str) -> list[str]:
        """Layers of ``schema`` that at least one rule maps to a land-cover class (not only 'ignore')."""
        return sorted({r.layer for r in self.rules if r.schema == schema and r.cls != IGNORE})

    def keys(self, schema: str) -> list[str]:
        """All attribute keys that the rules of ``schema`` look at."""
        return sorted({k for r in self.rules if r.schema == schema for k in r.keys})

    def extended(self, extra: list[Rule]) -> MappingTable:
        """A table with ``extra`` rules placed before the existing ones (they match first)."""
        return MappingTable(tuple(extra) + self.rules, self.path)


def default_mapping_path() -> Path:
    return Path(str(resources.files("biostress") / "data" / "landcover_mapping.csv"))


def load_mapping(legend: Legend, path: str | Path | None = None) -> MappingTable:
    """Read and validate a mapping table against ``legend``. Lines starting with '#' are comments."""
    p = Path(path) if path else default_mapping_path()
    try:
        text = "\n".join(ln for ln in p.read_text(encoding="utf-8").splitlines() if not ln.startswith("#"))
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001
        raise ConfigError(f"Cannot read the land-cover mapping table {p}: {e}") from e
    need = ["schema", "layer", "where", "class", "priority", "width_m", "ev", "source", "note"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ConfigError(f"The mapping table {p} lacks the column(s) {missing}.")
    rules = [rule_from_row(r, legend, context=f"{p}: ") for _, r in df.iterrows()]
    return MappingTable(tuple(rules), str(p))


def rule_from_row(r: dict | pd.Series, legend: Legend, *, context: str = "", line: int = 0) -> Rule:
    cls = str(r["class"]).strip()
    if cls != IGNORE:
        legend.by_key(cls)
    try:
        prio = int(str(r.get("priority", "0") or "0"))
    except ValueError:
        raise ConfigError(f"{context}priority {r.get('priority')!r} is not an integer.") from None
    wtxt = str(r.get("width_m", "") or "").strip()
    try:
        width = float(wtxt) if wtxt else None
    except ValueError:
        raise ConfigError(f"{context}width_m {wtxt!r} is not a number.") from None
    if width is not None and not width > 0:
        raise ConfigError(f"{context}width_m must be positive, got {width}.")
    ev = str(r.get("ev", "") or "")
    if ev and ev not in ("V", "S", "R", "P"):
        raise ConfigError(f"{context}evidence mark {ev!r} must be V, S, R or P.")
    return Rule(str(r["schema"]).strip(), str(r["layer"]).strip(), str(r["where"]),
                parse_where(str(r["where"]), context=context), cls, prio, width, ev,
                str(r.get("source", "") or ""), str(r.get("note", "") or ""), line)


def classify(df: pd.DataFrame, rules: list[Rule]) -> np.ndarray:
    """Index of the first rule matching each row (-1 = unmapped). Vectorised per rule."""
    out = np.full(len(df), -1, dtype=np.int32)
    for i, rule in enumerate(rules):
        todo = out < 0
        if not todo.any():
            break
        out[todo & rule.mask(df)] = i
    return out


def describe_unmapped(df: pd.DataFrame, rules: list[Rule], idx: np.ndarray, *, limit: int = 10) -> list[str]:
    """Human-readable counts of unmapped features, by the attribute values the rules look at."""
    keys = sorted({k for r in rules for k in r.keys}) or [c for c in df.columns if c != "geometry"][:3]
    sub = df.loc[idx < 0]
    if sub.empty:
        return []
    cnt: Counter[str] = Counter()
    for _, row in sub[[k for k in keys if k in sub.columns]].iterrows():
        desc = " & ".join(f"{k}={row[k]}" for k in row.index if pd.notna(row[k]) and str(row[k]) != "")
        cnt[desc or "(no attributes)"] += 1
    return [f"{v} feature(s) with {k}" for k, v in cnt.most_common(limit)]
