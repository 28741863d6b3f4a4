"""Parameter tables of the indicators: reading and validating the CSV files of ``data/params``.

Every parameter table is a CSV file read as text, one row per item, with an evidence mark ``ev``
(V verified, S secondary, R typical unverified value, P proposed default) and a ``source`` on every
row. Lines starting with ``#`` are comments and blank lines are skipped. Errors are
:class:`~biostress.errors.ConfigError` naming the file, the file line and the column, with a hint
on what to do.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..landcover.legend import Legend

__all__ = ["EV_MARKS", "class_rows", "parse_float", "read_scalars", "read_table"]

#: The evidence marks a parameter row may carry.
EV_MARKS = ("V", "S", "R", "P")


def read_table(path: Path, required: list[str]) -> pd.DataFrame:
    """Read a parameter CSV (all columns as text; lines starting with ``#`` are comments, blank lines
    are skipped) and check that it has the ``required`` columns. When ``ev`` / ``source`` are among
    them, every row must have an ``ev`` mark (V/S/R/P) and a non-empty ``source``.

    The index of the returned frame is ``file line - 2``, so that callers' ``int(i) + 2`` is the line
    of the row in the file (header on line 1) also when comment or blank lines precede it.
    Raises :class:`ConfigError` naming the file and line.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"Cannot read the parameter table {path}: {e}") from e
    kept = [(n, t) for n, t in enumerate(lines, start=1) if t.strip() and not t.lstrip().startswith("#")]
    try:
        df = pd.read_csv(io.StringIO("\n".join(t for _, t in kept)), dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001 - any parse failure is a config error
        raise ConfigError(f"Cannot read the parameter table {path}: {e}") from e
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ConfigError(f"The parameter table {path} lacks the column(s) {missing}.",
                          hint=f"The table needs the columns {required}.")
    # file line of each row (a quoted field spanning lines breaks the mapping: count data rows then)
    file_lines = [n for n, _ in kept[1:]] if len(df) == len(kept) - 1 else list(range(2, len(df) + 2))
    for i, r in df.iterrows():
        line = file_lines[int(i)]
        if "ev" in required and r["ev"].strip() not in EV_MARKS:
            raise ConfigError(f"{path} line {line}: ev must be one of {'/'.join(EV_MARKS)}, got {r['ev']!r}.",
                              hint="V verified, S secondary, R typical unverified value, P proposed default.")
        if "source" in required and not r["source"].strip():
            raise ConfigError(f"{path} line {line}: the source is empty.",
                              hint="Every parameter needs a source (or 'proposed (biostress)' with ev P).")
    df.index = pd.Index(file_lines[: len(df)]) - 2  # so that callers' ``int(i) + 2`` is the file line
    return df


def parse_float(path: Path, line: int, column: str, text: str, *, lo: float | None = None,
                hi: float | None = None, allow_empty: bool = False) -> float | None:
    """One number of a parameter table, checked to be finite and within ``[lo, hi]`` (None = open).

    Returns None for an empty cell when ``allow_empty``; otherwise raises :class:`ConfigError`
    naming the file, line and column (empty, not a number, or out of range).
    """
    t = str(text).strip()
    if not t:
        if allow_empty:
            return None
        raise ConfigError(f"{path} line {line}: {column} is empty.")
    try:
        v = float(t)
    except ValueError:
        raise ConfigError(f"{path} line {line}: {column} {text!r} is not a number.") from None
    if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"{path} line {line}: {column} = {v:g} is outside "
                          f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}].")
    return v


def read_scalars(path: Path, spec: dict[str, tuple[float, float]], prov: list[dict], *,
                 extra_columns: Sequence[str] = ()) -> dict[str, float]:
    """The numbers of a ``parameter,value,units,ev,source[,note]`` table (plus the required
    ``extra_columns``), as ``{parameter: value}``.

    Every name in ``spec`` (name -> (lo, hi)) must be listed exactly once and no other name may be;
    each value is range-checked with :func:`parse_float`. One provenance row per parameter
    (table, item, value, units, ev, source, note) is appended to ``prov``.
    """
    df = read_table(path, ["parameter", "value", "units", "ev", "source", *extra_columns])
    out: dict[str, float] = {}
    for i, r in df.iterrows():
        name = r["parameter"].strip()
        if name not in spec:
            raise ConfigError(f"{path} line {int(i) + 2}: unknown parameter {name!r}.",
                              hint=f"Known parameters: {', '.join(spec)}")
        if name in out:
            raise ConfigError(f"{path} line {int(i) + 2}: parameter {name!r} is listed twice.")
        lo, hi = spec[name]
        out[name] = parse_float(path, int(i) + 2, "value", r["value"], lo=lo, hi=hi)  # type: ignore[assignment]
        prov.append({"table": path.name, "item": name, "value": r["value"], "units": r["units"],
                     "ev": r["ev"].strip(), "source": r["source"], "note": r.get("note", "")})
    absent = [k for k in spec if k not in out]
    if absent:
        raise ConfigError(f"The parameter table {path} lacks the parameter(s) {absent}.")
    return out


def class_rows(path: Path, df: pd.DataFrame, legend: Legend | None = None,
               column: str = "key") -> Iterator[tuple[int, str, pd.Series]]:
    """The rows of a per-land-cover-class table read by :func:`read_table`, as ``(file line, class
    key, row)``. A key listed twice raises :class:`ConfigError`; with ``legend``, a key that is not a
    legend class raises the legend's ``ConfigError`` (``Legend.by_key``)."""
    seen: set[str] = set()
    for i, r in df.iterrows():
        line = int(i) + 2
        key = r[column].strip()
        if key in seen:
            raise ConfigError(f"{path} line {line}: class {key!r} is listed twice.")
        seen.add(key)
        if legend is not None:
            legend.by_key(key)
        yield line, key, r
