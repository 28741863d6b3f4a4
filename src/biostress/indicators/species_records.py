"""Species records (Darwin Core): observed richness, sampling effort, red-list species and coverage.

Input
-----
* A Darwin Core **CSV** (GBIF "simple" occurrence download, which is tab-separated despite the
  name; an NDFF export with Darwin Core column names; any table with the terms as headers, plain
  ``scientificName``, prefixed ``dwc:scientificName`` or full URIs). The delimiter is decided from
  the header line (tab, comma, semicolon or pipe).
* A Darwin Core **Archive** (zip with ``meta.xml``). ``meta.xml`` is parsed to find the core data
  file, its delimiter, quote character, line ending, encoding, number of header lines and the index
  of every term (with ``default`` values); nothing is assumed about column order or names in the data
  file. An Occurrence core is read directly; an Event core with an Occurrence extension is joined on
  ``coreid`` (coordinates and dates of the event fill those the occurrence lacks). Archives are read in
  memory, member by member, never extracted; members with absolute paths, ``..`` components,
  backslashes or drive letters, encrypted members, more than ``max_members`` members, a declared
  or actual uncompressed size above ``max_bytes``, or a compression ratio above ``max_ratio`` are
  refused (:class:`~biostress.errors.UnsafeInputError`). ``meta.xml`` with a DOCTYPE or entity
  declarations is refused (no XML entity expansion).

Cleaning (counts of everything dropped are reported as notes)
-------------------------------------------------------------
* ``occurrenceStatus = absent`` records are excluded (a recorded absence is not an observation).
* ``basisOfRecord`` FossilSpecimen and LivingSpecimen (zoo, garden and collection specimens) are
  excluded: they say nothing about wild populations now.
* Records without valid WGS84 coordinates (``decimalLatitude`` -90..90, ``decimalLongitude``
  -180..180, not both 0) are excluded. A ``geodeticDatum`` other than WGS84/EPSG:4326 is reported.
* Species key: the binomial (first two words of ``species`` if present, else of
  ``acceptedScientificName``, else of ``scientificName``; authorship and infraspecific epithets
  dropped). Records identified only above species level (``taxonRank`` genus, family, ...; or a
  one-word name) count as sampling effort but not towards richness.
* ``coordinateUncertaintyInMeters`` larger than the aggregation cell: such records are counted and
  reported (they may belong to a neighbouring cell); with ``max_uncertainty_m`` they are excluded.

Indicators (per aggregation cell of ``cell_m`` metres, default 250 m, a whole multiple of the
analysis cell, aligned with the analysis grid; and per area unit)
------------------------------------------------------------------------------------------------
* ``records`` = number of records (sampling effort), count.
* ``richness`` = number of distinct species observed, count. **NaN where there are no records**: an
  unsampled cell is "not known", not "0 species".
* ``red_list_richness`` = number of distinct observed species on the red-list table
  (``red_list_nl.csv``), NaN where not sampled.
* ``coverage`` flag: 0 = not sampled (0 records), 1 = few records (< ``min_records``), 2 = sampled.

Observed richness depends strongly on effort: compare cells with similar ``records`` or use it as
presence information, not as an estimate of true richness.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import IO, Any
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import ConfigError, InputDataError, UnsafeInputError
from ..grid import Grid
from .base import IndicatorContext, IndicatorResult

__all__ = [
    "ArchiveFile",
    "CellCounts",
    "DwcRecords",
    "RED_LIST_FILE",
    "TERMS",
    "aggregate_to_cells",
    "clean_records",
    "compute",
    "expand_to_grid",
    "load_red_list",
    "parse_meta_xml",
    "per_unit",
    "read_dwc",
    "read_dwc_csv",
    "read_dwca",
    "records_to_points",
    "species_key",
]

DEFAULT_CELL_M = 250.0  # P: coarse enough that a cell has a chance to be visited, fine enough for a neighbourhood
DEFAULT_MIN_RECORDS = 5  # P: fewer records than this = "few records"
MAX_BYTES = 4 * 1024**3
MAX_RATIO = 200.0  # occurrence text compresses ~5-20x; a larger ratio on a large member smells of a zip bomb
MAX_MEMBERS = 10_000
RED_LIST_FILE = "red_list_nl.csv"
RED_LIST_CATEGORIES = {"VN": "verdwenen uit Nederland (regionally extinct)", "EB": "ernstig bedreigd (critically endangered)",
                       "BE": "bedreigd (endangered)", "KW": "kwetsbaar (vulnerable)", "GE": "gevoelig (near threatened)"}

# Darwin Core terms read (everything else is ignored)
TERMS = ("scientificName", "acceptedScientificName", "species", "taxonRank", "decimalLatitude", "decimalLongitude",
         "coordinateUncertaintyInMeters", "geodeticDatum", "eventDate", "year", "basisOfRecord", "occurrenceStatus",
         "individualCount", "vernacularName", "kingdom", "occurrenceID", "id", "coreid", "eventID")
_EVENT_TERMS = ("decimalLatitude", "decimalLongitude", "coordinateUncertaintyInMeters", "geodeticDatum", "eventDate",
                "year")
_DWC_NS = "http://rs.tdwg.org/dwc/text/"
_OCC = "occurrence"
_EVENT = "event"
_ABOVE_SPECIES = {"kingdom", "phylum", "class", "order", "family", "subfamily", "tribe", "genus", "subgenus",
                  "section", "superfamily", "suborder", "infraorder", "superorder", "subclass", "infraclass",
                  "subphylum", "division", "higherrank", "unranked"}
_EXCLUDED_BASIS = {"fossilspecimen", "livingspecimen"}


# --------------------------------------------------------------------------------------------------
# reading


@dataclass
class DwcRecords:
    """Records read from a Darwin Core file: the raw term columns (strings) and what was noticed."""

    frame: pd.DataFrame
    source: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ArchiveFile:
    """One data file described in ``meta.xml`` (the core or an extension)."""

    row_type: str  # lower-case local name: occurrence, event, ...
    location: str
    delimiter: str
    quotechar: str  # "" = no quoting
    line_terminator: str
    encoding: str
    ignore_header_lines: int
    columns: dict[str, int]  # term -> column index
    defaults: dict[str, str]  # term -> constant value
    id_index: int | None
    is_core: bool


def _local(term: str) -> str:
    """``http://rs.tdwg.org/dwc/terms/scientificName`` / ``dwc:scientificName`` -> ``scientificName``."""
    t = term.strip().strip('"').strip("\ufeff")
    return re.split(r"[/#:]", t)[-1] if t else t


def _unescape(s: str | None, default: str) -> str:
    if s is None:
        return default
    return (s.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r").replace('\\"', '"')
            .replace("\\'", "'").replace("\\\\", "\\"))


def parse_meta_xml(text: str | bytes, source: str = "meta.xml") -> list[ArchiveFile]:
    """Parse a Darwin Core text ``meta.xml``: the core first, then the extensions.

    Raises :class:`UnsafeInputError` for DOCTYPE/ENTITY declarations and :class:`InputDataError`
    for anything that is not a valid descriptor.
    """
    raw = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    if re.search(r"<!\s*(DOCTYPE|ENTITY)", raw, re.IGNORECASE):
        raise UnsafeInputError(f"{source}: DOCTYPE or ENTITY declarations are not accepted in meta.xml.",
                               hint="A Darwin Core archive descriptor needs neither; export the archive again.")
    try:
        root = ET.fromstring(raw.encode("utf-8"))
    except ET.ParseError as e:
        raise InputDataError(f"{source} is not valid XML: {e}") from e

    def name(el: ET.Element) -> str:
        return el.tag.split("}")[-1]

    if name(root) != "archive":
        raise InputDataError(f"{source}: the root element is <{name(root)}>, not <archive>.")
    out: list[ArchiveFile] = []
    for el in root:
        kind = name(el)
        if kind not in ("core", "extension"):
            continue
        files = [f for f in el if name(f) == "files"]
        locs = [(loc.text or "").strip() for f in files for loc in f if name(loc) == "location"]
        if not locs or not locs[0]:
            raise InputDataError(f"{source}: a <{kind}> has no <files><location>.")
        cols: dict[str, int] = {}
        defaults: dict[str, str] = {}
        id_index = None
        for f in el:
            tag = name(f)
            if tag in ("id", "coreid") and f.get("index") is not None:
                try:
                    id_index = int(f.get("index", ""))
                except ValueError:
                    raise InputDataError(f"{source}: <{tag}> index {f.get('index')!r} is not a number.") from None
            if tag != "field":
                continue
            term = _local(f.get("term", ""))
            if not term:
                raise InputDataError(f"{source}: a <field> has no term.")
            if f.get("index") is not None:
                try:
                    idx = int(f.get("index", ""))
                except ValueError:
                    raise InputDataError(f"{source}: field {term} has index {f.get('index')!r}, not a number.") from None
                if idx < 0:
                    raise InputDataError(f"{source}: field {term} has a negative index.")
                cols[term] = idx
            if f.get("default") is not None:
                defaults[term] = f.get("default", "")
        try:
            header = int(el.get("ignoreHeaderLines", "0") or 0)
        except ValueError:
            raise InputDataError(f"{source}: ignoreHeaderLines {el.get('ignoreHeaderLines')!r} is not a number.") from None
        delim = _unescape(el.get("fieldsTerminatedBy"), ",")
        if not delim:
            raise InputDataError(f"{source}: empty fieldsTerminatedBy.")
        out.append(ArchiveFile(
            row_type=_local(el.get("rowType", "")).lower(), location=locs[0], delimiter=delim,
            quotechar=_unescape(el.get("fieldsEnclosedBy"), '"'), line_terminator=_unescape(el.get("linesTerminatedBy"), "\n"),
            encoding=el.get("encoding", "UTF-8") or "UTF-8", ignore_header_lines=max(0, header), columns=cols,
            defaults=defaults, id_index=id_index, is_core=kind == "core"))
    if not any(a.is_core for a in out):
        raise InputDataError(f"{source}: no <core> element.")
    return sorted(out, key=lambda a: not a.is_core)


class _Limited(io.RawIOBase):
    """A read-only stream that fails once more than ``limit`` bytes were read (headers can lie)."""

    def __init__(self, raw: IO[bytes], limit: int, label: str) -> None:
        self._raw, self._left, self._label, self._limit = raw, limit, label, limit

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        self._left -= len(data)
        if self._left < 0:
            raise UnsafeInputError(f"{self._label} is larger than the limit of {self._limit:,} bytes.",
                                   hint="Filter the download to the area (or raise max_bytes).")
        b[:len(data)] = data
        return len(data)


def _safe_member_name(n: str) -> bool:
    if not n or "\x00" in n or "\\" in n or n.startswith("/") or re.match(r"^[A-Za-z]:", n):
        return False
    return ".." not in PurePosixPath(n).parts


def _check_zip(zf: zipfile.ZipFile, label: str, max_bytes: int, max_ratio: float, max_members: int) -> None:
    infos = zf.infolist()
    if len(infos) > max_members:
        raise UnsafeInputError(f"{label} has {len(infos)} members (limit {max_members}).")
    bad = [i.filename for i in infos if not _safe_member_name(i.filename)]
    if bad:
        raise UnsafeInputError(f"{label} contains members with unsafe paths: {bad[:5]}",
                               hint="Archive members must be plain relative paths without '..'.")
    total = 0
    for i in infos:
        if i.flag_bits & 0x1:
            raise UnsafeInputError(f"{label}: member {i.filename} is encrypted.")
        total += i.file_size
        if i.file_size > 10 * 1024**2 and i.file_size > max_ratio * max(i.compress_size, 1):
            raise UnsafeInputError(f"{label}: member {i.filename} expands {i.file_size / max(i.compress_size, 1):.0f} "
                                   f"times (limit {max_ratio:g}); refused as a possible zip bomb.")
    if total > max_bytes:
        raise UnsafeInputError(f"{label} expands to {total:,} bytes (limit {max_bytes:,}).",
                               hint="Filter the download to the area (or raise max_bytes).")


def _open_member(zf: zipfile.ZipFile, name: str, label: str, max_bytes: int) -> IO[bytes]:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise InputDataError(f"{label}: meta.xml names the data file '{name}', which is not in the archive "
                             f"(members: {zf.namelist()[:10]}).") from None
    return io.BufferedReader(_Limited(zf.open(info), min(max_bytes, info.file_size), f"{label}:{name}"))


def _data_columns(opener: Callable[[], IO[bytes]], spec: ArchiveFile, label: str) -> int:
    """Number of fields in the first data row (after the header lines), read with the same dialect."""
    with opener() as raw:
        text = io.TextIOWrapper(raw, encoding=spec.encoding, newline="")
        for _ in range(spec.ignore_header_lines):
            text.readline()
        reader = csv.reader(text, delimiter=spec.delimiter[0] if len(spec.delimiter) == 1 else "\x00",
                            quotechar=spec.quotechar[0] if spec.quotechar else None,
                            quoting=csv.QUOTE_MINIMAL if spec.quotechar else csv.QUOTE_NONE)
        if len(spec.delimiter) > 1:
            line = text.readline().rstrip("\r\n")
            return len(line.split(spec.delimiter)) if line else 0
        row = next(reader, None)
    return len(row) if row else 0


def _read_table(opener: Callable[[], IO[bytes]], spec: ArchiveFile, label: str, wanted: set[str]) -> pd.DataFrame:
    """Read the columns of ``wanted`` terms (plus the id column) from one archive data file."""
    idx = {t: i for t, i in spec.columns.items() if t in wanted}
    if spec.id_index is not None:
        idx["_id"] = spec.id_index
    try:
        ncols = _data_columns(opener, spec, label)
    except LookupError:
        raise InputDataError(f"{label}: unknown encoding {spec.encoding!r} in meta.xml.") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputDataError(f"{label}: cannot read {spec.location} as described by meta.xml: {e}") from e
    beyond = {t: i for t, i in idx.items() if i >= ncols}
    if ncols and beyond:
        raise InputDataError(f"{label}: meta.xml places {sorted(beyond)} at column(s) {sorted(set(beyond.values()))}, "
                             f"but {spec.location} has {ncols} column(s).",
                             hint="The descriptor does not fit the data file (delimiter or field indexes).")
    use = sorted(set(idx.values()))
    kw: dict[str, Any] = {"sep": spec.delimiter if len(spec.delimiter) == 1 else re.escape(spec.delimiter),
                          "header": None, "names": list(range(max(ncols, 1))), "skiprows": spec.ignore_header_lines,
                          "dtype": str, "keep_default_na": False, "na_filter": False, "usecols": use,
                          "chunksize": 200_000}
    if spec.quotechar:
        kw["quotechar"] = spec.quotechar[0]
    else:
        kw["quoting"] = csv.QUOTE_NONE
    if len(spec.delimiter) > 1:
        kw["engine"] = "python"
    elif spec.line_terminator not in ("\n", "\r\n", "\r") and len(spec.line_terminator) == 1:
        kw["lineterminator"] = spec.line_terminator
    parts = []
    if ncols:
        try:
            with opener() as raw:
                text = io.TextIOWrapper(raw, encoding=spec.encoding, newline="")
                for chunk in pd.read_csv(text, **kw):
                    parts.append(chunk)
        except UnsafeInputError:
            raise
        except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as e:
            raise InputDataError(f"{label}: cannot read {spec.location} as described by meta.xml: {e}",
                                 hint="Check delimiter, quotes and encoding in meta.xml against the data file.") from e
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=use)
    out = pd.DataFrame({t: df[i].fillna("") for t, i in idx.items()})
    for t, v in spec.defaults.items():
        if t in wanted:
            out[t] = out[t].where(out[t].astype(str).str.len() > 0, v) if t in out.columns else v
    return out


def read_dwca(path: str | Path, *, max_bytes: int = MAX_BYTES, max_ratio: float = MAX_RATIO,
              max_members: int = MAX_MEMBERS) -> DwcRecords:
    """Read the occurrence records of a Darwin Core Archive (zip). See the module docstring."""
    p = Path(path)
    label = str(p)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as e:
        raise InputDataError(f"{label} is not a readable zip archive: {e}") from e
    with zf:
        _check_zip(zf, label, max_bytes, max_ratio, max_members)
        names = zf.namelist()
        if "meta.xml" not in names:
            data = [n for n in names if n.lower().endswith((".txt", ".csv", ".tsv")) and not n.endswith("/")]
            if len(data) != 1:
                raise InputDataError(f"{label} has no meta.xml and not exactly one data file ({data[:5]}).",
                                     hint="A Darwin Core Archive needs a meta.xml descriptor.")
            recs = _read_csv_stream(lambda: _open_member(zf, data[0], label, max_bytes), f"{label}:{data[0]}")
            recs.notes.append(f"{label}: no meta.xml; the single data file was read with its header row")
            return recs
        info = zf.getinfo("meta.xml")
        if info.file_size > 1024**2:
            raise UnsafeInputError(f"{label}: meta.xml is {info.file_size:,} bytes (limit 1 MB).")
        with _open_member(zf, "meta.xml", label, 1024**2) as f:
            specs = parse_meta_xml(f.read(), f"{label}:meta.xml")
        for s in specs:
            if not _safe_member_name(s.location):
                raise UnsafeInputError(f"{label}: meta.xml points at the unsafe path {s.location!r}.")
        core = specs[0]
        occ_ext = next((s for s in specs[1:] if s.row_type == _OCC), None)
        wanted = set(TERMS)
        notes: list[str] = []
        if not core.row_type and occ_ext is None:
            notes.append(f"{label}: the core in meta.xml has no rowType; read as occurrences")
        if core.row_type == _OCC or (not core.row_type and occ_ext is None):
            frame = _read_table(lambda: _open_member(zf, core.location, label, max_bytes), core, label, wanted)
        elif core.row_type == _EVENT and occ_ext is not None:
            occ = _read_table(lambda: _open_member(zf, occ_ext.location, label, max_bytes), occ_ext, label, wanted)
            ev = _read_table(lambda: _open_member(zf, core.location, label, max_bytes), core, label, set(_EVENT_TERMS))
            if "_id" not in occ.columns or "_id" not in ev.columns:
                raise InputDataError(f"{label}: the event core or occurrence extension has no id/coreid column.")
            ev = ev.drop_duplicates("_id").set_index("_id")
            for t in _EVENT_TERMS:
                if t in ev.columns:
                    from_event = occ["_id"].map(ev[t]).fillna("")
                    occ[t] = occ[t].where(occ[t].astype(str).str.len() > 0, from_event) if t in occ.columns else from_event
            frame = occ
            notes.append(f"{label}: event core joined to its occurrence extension on coreid")
        else:
            raise InputDataError(f"{label}: the core is '{core.row_type or '?'}' and there is no occurrence data "
                                 "(need an Occurrence core, or an Event core with an Occurrence extension).")
    frame = frame.drop(columns=[c for c in ("_id",) if c in frame.columns])
    return DwcRecords(frame, label, notes)


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in ("\t", ",", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv_stream(opener: Callable[[], IO[bytes]], label: str) -> DwcRecords:
    """Read a delimited text file with a header row of term names, streaming in chunks and keeping
    only the :data:`TERMS` columns. UTF-8 (with or without BOM); falls back to Windows-1252."""
    notes: list[str] = []
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            with opener() as raw:
                text = io.TextIOWrapper(raw, encoding=encoding, newline="")
                header = text.readline()
                if not header.strip():
                    raise InputDataError(f"{label} has no header row.")
                delim = _sniff_delimiter(header)
                names = next(csv.reader([header], delimiter=delim,
                                        quoting=csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL))
                local = [_local(n) for n in names]
                use = [i for i, n in enumerate(local) if n in TERMS]
                kw: dict[str, Any] = {"sep": delim, "header": None, "names": list(range(len(names))), "dtype": str,
                                      "keep_default_na": False, "na_filter": False, "usecols": use,
                                      "chunksize": 200_000}
                if delim == "\t":
                    kw["quoting"] = csv.QUOTE_NONE  # GBIF downloads: tab-separated, quotes are data
                parts = list(pd.read_csv(text, **kw)) if use else []
            break
        except UnicodeDecodeError:
            if encoding == "cp1252":
                raise InputDataError(f"{label} is neither UTF-8 nor Windows-1252 text.") from None
            notes.append(f"{label} is not UTF-8; read as Windows-1252")
        except (pd.errors.ParserError, ValueError) as e:
            raise InputDataError(f"{label} is not a readable delimited text file: {e}") from e
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=use)
    out = pd.DataFrame({local[i]: df[i].fillna("") if i in df.columns else "" for i in use})
    return DwcRecords(out, label, notes)


def read_dwc_csv(path: str | Path, *, max_bytes: int = MAX_BYTES) -> DwcRecords:
    """Read a Darwin Core CSV/TSV (header row with term names)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise InputDataError(f"Cannot read {p}: {e}") from e
    if size > max_bytes:
        raise UnsafeInputError(f"{p} is {size:,} bytes (limit {max_bytes:,}).",
                               hint="Filter the download to the area (or raise max_bytes).")
    return _read_csv_stream(lambda: open(p, "rb"), str(p))


def read_dwc(path: str | Path, **kw: Any) -> DwcRecords:
    """Read a Darwin Core CSV or Archive, deciding by content (zip magic bytes), not by name."""
    from ..sources.safe import sniff_format

    p = Path(path)
    if not p.is_file():
        raise InputDataError(f"File not found: {p}")
    fmt = sniff_format(p)
    if fmt == "zip":
        return read_dwca(p, **kw)
    if fmt in ("csv", "geojson"):  # a header starting with '[' or '{' is implausible; let the CSV reader say so
        return read_dwc_csv(p, max_bytes=kw.get("max_bytes", MAX_BYTES))
    if fmt == "empty":
        raise InputDataError(f"{p} is empty (0 bytes).")
    raise InputDataError(f"{p} is neither a Darwin Core CSV nor a Darwin Core Archive (content looks like '{fmt}').")


# --------------------------------------------------------------------------------------------------
# cleaning


_WORD = re.compile(r"^[A-Z][a-zA-Z\-]+$")
_EPITHET = re.compile(r"^[a-z][a-z\-]+$")


def species_key(name: Any, rank: Any = None) -> str | None:
    """Binomial ``Genus epithet`` of a scientific name, or None when not identified to species.

    >>> species_key("Ondatra zibethicus (Linnaeus, 1766)")
    'Ondatra zibethicus'
    >>> species_key("Microtus oeconomus arenicola"), species_key("Ondatra"), species_key("Parus major", "genus")
    ('Microtus oeconomus', None, None)
    """
    if rank is not None and isinstance(rank, str) and rank.strip().lower().replace(" ", "") in _ABOVE_SPECIES:
        return None
    if not isinstance(name, str):
        return None
    words = name.replace("×", " ").split()
    words = [w for w in words if w not in ("x", "cf.", "aff.", "cf", "aff")]
    if len(words) < 2 or not _WORD.match(words[0]) or not _EPITHET.match(words[1]):
        return None
    if words[1] in ("sp", "spp", "indet") or words[1].endswith("."):
        return None
    return f"{words[0]} {words[1]}"


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.astype(str).str.strip().str.replace(",", ".", regex=False), errors="coerce")


def clean_records(recs: DwcRecords | pd.DataFrame, *, max_uncertainty_m: float | None = None,
                  label: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Normalise and filter records (see the module docstring).

    Returns ``(frame, notes)``; frame columns: ``species`` (binomial or None), ``scientificName``,
    ``lat``, ``lon``, ``uncertainty_m`` (NaN = not given), ``eventDate``, ``year``, ``basisOfRecord``.
    """
    df = recs.frame if isinstance(recs, DwcRecords) else recs
    label = label or (recs.source if isinstance(recs, DwcRecords) else "species records")
    notes = list(recs.notes) if isinstance(recs, DwcRecords) else []
    cols = {_local(str(c)): c for c in df.columns}
    df = df.rename(columns={v: k for k, v in cols.items()})
    need = [t for t in ("decimalLatitude", "decimalLongitude") if t not in df.columns]
    if not {"scientificName", "species", "acceptedScientificName"} & set(df.columns):
        need.insert(0, "scientificName")
    if need:
        raise InputDataError(f"{label} lacks the Darwin Core column(s) {need} "
                             f"(columns: {[str(c) for c in df.columns][:20]}).",
                             hint="Species records need scientificName, decimalLatitude and decimalLongitude (WGS84).")
    n0 = len(df)

    def col(t: str) -> pd.Series:
        return df[t].fillna("").astype(str).str.strip() if t in df.columns else pd.Series([""] * len(df), index=df.index)

    status = col("occurrenceStatus").str.lower()
    absent = status == "absent"
    basis = col("basisOfRecord").str.lower().str.replace("_", "", regex=False)
    excluded_basis = basis.isin(_EXCLUDED_BASIS)
    lat, lon = _num(col("decimalLatitude")), _num(col("decimalLongitude"))
    bad_xy = ~(lat.between(-90, 90) & lon.between(-180, 180)) | ((lat == 0) & (lon == 0))
    unc = _num(col("coordinateUncertaintyInMeters"))
    datum = col("geodeticDatum").str.upper()
    odd_datum = ~datum.isin(["", "WGS84", "WGS 84", "EPSG:4326", "WGS1984", "WGS 1984", "NOT RECORDED", "UNKNOWN"])
    keep = ~absent & ~excluded_basis & ~bad_xy
    too_uncertain = pd.Series(False, index=df.index)
    if max_uncertainty_m is not None:
        too_uncertain = unc > max_uncertainty_m
        keep &= ~too_uncertain
    for n, what in ((int(absent.sum()), "recorded as absent (occurrenceStatus)"),
                    (int((excluded_basis & ~absent).sum()), "fossil or living (zoo/garden/collection) specimens"),
                    (int((bad_xy & ~absent & ~excluded_basis).sum()), "without valid WGS84 coordinates"),
                    (int((too_uncertain & ~absent & ~excluded_basis & ~bad_xy).sum()),
                     f"with a coordinate uncertainty above {max_uncertainty_m} m")):
        if n:
            notes.append(f"{label}: {n} of {n0} record(s) {what} were excluded")
    if int((odd_datum & keep).sum()):
        notes.append(f"{label}: {int((odd_datum & keep).sum())} record(s) give a geodeticDatum other than WGS84 "
                     f"({sorted(set(datum[odd_datum & keep]))[:3]}); their coordinates were read as WGS84")
    rank = col("taxonRank")
    sp = pd.Series([None] * len(df), index=df.index, dtype=object)
    for t in ("species", "acceptedScientificName", "scientificName"):  # first usable name wins
        todo = sp.isna()
        if not todo.any():
            break
        names = col(t)[todo]
        combos = pd.DataFrame({"n": names, "r": rank[todo]})
        uniq = combos.drop_duplicates()
        keys = {(n, r): species_key(n, r or None) for n, r in zip(uniq["n"], uniq["r"], strict=True)}
        sp[todo] = [keys[(n, r)] for n, r in zip(combos["n"], combos["r"], strict=True)]
    out = pd.DataFrame({
        "species": sp,
        "scientificName": col("scientificName"),
        "lat": lat, "lon": lon, "uncertainty_m": unc,
        "eventDate": col("eventDate"),
        "year": _num(col("year")),
        "basisOfRecord": col("basisOfRecord"),
    })[keep].reset_index(drop=True)
    y = out["year"].where(out["year"].notna(), _num(out["eventDate"].str.slice(0, 4)))
    out["year"] = y
    unident = int(out["species"].isna().sum())
    if unident:
        notes.append(f"{label}: {unident} record(s) are not identified to species: they count as sampling effort, "
                     "not towards richness")
    if len(out) and y.notna().any():
        notes.append(f"{label}: {len(out)} record(s) used, years {int(y.min())}-{int(y.max())}")
    elif len(out):
        notes.append(f"{label}: {len(out)} record(s) used (no dates)")
    return out, notes


def records_to_points(frame: pd.DataFrame, crs: str) -> gpd.GeoDataFrame:
    """Point layer of cleaned records (WGS84 lat/lon) in ``crs``."""
    g = gpd.GeoDataFrame(frame.copy(), geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")
    return g.to_crs(crs)


# --------------------------------------------------------------------------------------------------
# red list


def load_red_list(params_dir: Path | None = None) -> pd.DataFrame:
    """The red-list table (``red_list_nl.csv``; an area's own copy in ``params_dir`` replaces it).

    Columns: ``scientificName``, ``dutchName``, ``group``, ``category`` (VN, EB, BE, KW, GE), ``list``
    (which Rode Lijst), ``ev``, ``source``, ``note``; adds ``key`` (the binomial).
    """
    path = None
    if params_dir is not None and (Path(params_dir) / RED_LIST_FILE).is_file():
        path = Path(params_dir) / RED_LIST_FILE
    path = path or Path(str(resources.files("biostress") / "data" / "params" / RED_LIST_FILE))
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
        df = pd.read_csv(io.StringIO("\n".join(lines)), dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ConfigError(f"Cannot read the red list {path}: {e}") from e
    need = ["scientificName", "dutchName", "group", "category", "list", "ev", "source"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ConfigError(f"The red list {path} lacks the column(s) {missing}.", hint=f"Columns: {need + ['note']}.")
    bad = df[~df["category"].isin(list(RED_LIST_CATEGORIES))]
    if len(bad):
        raise ConfigError(f"{path}: categories {sorted(set(bad['category']))} are not Rode Lijst categories "
                          f"{list(RED_LIST_CATEGORIES)}.")
    bad = df[~df["ev"].isin(["V", "S", "R", "P"])]
    if len(bad):
        raise ConfigError(f"{path}: evidence marks must be V, S, R or P (rows {list(bad.index + 2)[:5]}).")
    df["key"] = [species_key(n) for n in df["scientificName"]]
    if df["key"].isna().any():
        raise ConfigError(f"{path}: {list(df.loc[df['key'].isna(), 'scientificName'])[:5]} are not binomials.")
    if df["key"].duplicated().any():
        raise ConfigError(f"{path}: {list(df.loc[df['key'].duplicated(), 'key'])[:5]} are listed twice.")
    df.attrs["path"] = str(path)
    return df


# --------------------------------------------------------------------------------------------------
# aggregation


@dataclass
class CellCounts:
    """Per aggregation cell (rows x cols of the coarse grid)."""

    grid: Grid  # the coarse grid
    factor: int  # coarse cell = factor x factor analysis cells
    records: np.ndarray  # int64
    richness: np.ndarray  # float64, NaN where records == 0
    red_list: np.ndarray  # float64, NaN where records == 0
    uncertain: np.ndarray  # int64: records with uncertainty above the coarse cell size
    outside: int  # records outside the grid


def _coarse_grid(grid: Grid, cell_m: float) -> tuple[Grid, int]:
    f = cell_m / grid.cell
    if not cell_m > 0 or abs(f - round(f)) > 1e-6 or round(f) < 1:
        raise ConfigError(f"The aggregation cell of {cell_m} m is not a whole multiple of the analysis cell "
                          f"({grid.cell} m).", hint="Choose e.g. 100 or 250 m with 10 m cells.")
    k = int(round(f))
    return Grid(grid.crs, grid.x0, grid.y1, grid.cell * k, math.ceil(grid.width / k), math.ceil(grid.height / k)), k


def aggregate_to_cells(x: np.ndarray, y: np.ndarray, species: np.ndarray, red: np.ndarray, grid: Grid,
                       cell_m: float = DEFAULT_CELL_M, uncertainty_m: np.ndarray | None = None) -> CellCounts:
    """Count records, distinct species and distinct red-list species per aggregation cell.

    ``x, y``: record coordinates in the grid CRS; ``species``: integer species id per record (-1 = not
    identified to species); ``red``: bool per record (its species is on the red list). A record on a
    cell edge belongs to the cell to its right / below (half-open cells ``[x0, x1) x (y0, y1]``).
    """
    cg, k = _coarse_grid(grid, cell_m)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    sp = np.asarray(species, dtype=np.int64)
    red = np.asarray(red, dtype=bool)
    col = np.floor((x - cg.x0) / cg.cell).astype(np.int64)
    row = np.floor((cg.y1 - y) / cg.cell).astype(np.int64)
    # the coarse grid may overhang the analysis grid: only the part over the analysis grid counts
    inside = (col >= 0) & (row >= 0) & (x < grid.bounds[2]) & (y > grid.bounds[1]) & np.isfinite(x) & np.isfinite(y)
    inside &= (col < cg.width) & (row < cg.height)
    n_cells = cg.width * cg.height
    flat = (row * cg.width + col)[inside]
    records = np.bincount(flat, minlength=n_cells)
    s_in, r_in = sp[inside], red[inside]
    ident = s_in >= 0
    pairs = np.unique(np.stack([flat[ident], s_in[ident]], axis=1), axis=0) if ident.any() else np.zeros((0, 2), np.int64)
    rich = np.bincount(pairs[:, 0], minlength=n_cells).astype(np.float64)
    rpairs = np.unique(np.stack([flat[ident & r_in], s_in[ident & r_in]], axis=1), axis=0) if (ident & r_in).any() \
        else np.zeros((0, 2), np.int64)
    redc = np.bincount(rpairs[:, 0], minlength=n_cells).astype(np.float64)
    unc = np.zeros(n_cells, dtype=np.int64)
    if uncertainty_m is not None:
        u = np.asarray(uncertainty_m, dtype=np.float64)[inside]
        unc = np.bincount(flat[np.nan_to_num(u, nan=0.0) > cg.cell], minlength=n_cells)
    empty = records == 0
    rich[empty] = np.nan
    redc[empty] = np.nan
    shape = (cg.height, cg.width)
    return CellCounts(cg, k, records.reshape(shape), rich.reshape(shape), redc.reshape(shape), unc.reshape(shape),
                      int((~inside).sum()))


def expand_to_grid(coarse: np.ndarray, factor: int, shape: tuple[int, int], chunks: Any = None) -> Any:
    """Repeat each coarse cell over its ``factor x factor`` analysis cells (cropped to ``shape``).
    With ``chunks`` a dask array built block by block."""
    coarse = np.asarray(coarse)

    def _block(r0: int, c0: int, h: int, w: int) -> np.ndarray:
        rows = (np.arange(r0, r0 + h) // factor)
        cols = (np.arange(c0, c0 + w) // factor)
        return coarse[np.ix_(rows, cols)]

    if chunks is None:
        return _block(0, 0, shape[0], shape[1])
    import dask.array as da

    template = da.zeros(shape, chunks=chunks, dtype=coarse.dtype)

    def _mb(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        (r0, r1), (c0, c1) = block_info[0]["array-location"]
        return _block(r0, c0, r1 - r0, c1 - c0)

    return template.map_blocks(_mb, dtype=coarse.dtype, meta=np.empty((0, 0), coarse.dtype))


def per_unit(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame, red_keys: set[str], cell_m: float,
             max_names: int = 30) -> pd.DataFrame:
    """Richness, records, red-list species and coverage per unit from the record points (a record
    belongs to the unit whose polygon contains it; on a shared edge, to the first such unit). Index: the units' ``code``; richness and red-list
    richness are NaN for units without records (not sampled)."""
    codes = units["code"].astype(str).to_numpy() if "code" in units.columns else np.arange(len(units)).astype(str)
    res = pd.DataFrame(index=pd.Index(codes, name="code"))
    res["records"] = 0
    res["richness"] = np.nan
    res["red_list_richness"] = np.nan
    res["records_uncertain"] = 0
    res["species_list"] = ""
    res["red_list_species"] = ""
    if len(points) == 0 or len(units) == 0:
        res["sampled"] = False
        return res
    u = units[["geometry"]].assign(_code=codes)
    pts = points if points.crs is None or units.crs is None or points.crs.equals(units.crs) else points.to_crs(units.crs)
    j = gpd.sjoin(pts[["species", "uncertainty_m", "geometry"]], u, how="inner", predicate="intersects")
    j = j[~j.index.duplicated(keep="first")]  # a point on a shared edge counts once (first unit)
    g = j.groupby("_code")
    res.loc[g.size().index, "records"] = g.size().to_numpy()
    unc = j["uncertainty_m"].fillna(0) > cell_m
    res.loc[g.size().index, "records_uncertain"] = unc.groupby(j["_code"]).sum().reindex(g.size().index).to_numpy()
    for code, sub in g:
        spp = sorted(set(sub["species"].dropna()))
        reds = [s for s in spp if s in red_keys]
        res.loc[code, "richness"] = len(spp)
        res.loc[code, "red_list_richness"] = len(reds)
        res.loc[code, "species_list"] = "; ".join(spp[:max_names]) + (" ..." if len(spp) > max_names else "")
        res.loc[code, "red_list_species"] = "; ".join(reds)
    res["sampled"] = res["records"] > 0
    return res


# --------------------------------------------------------------------------------------------------
# entry point


def _record_layers(ctx: IndicatorContext) -> Iterator[tuple[str, gpd.GeoDataFrame]]:
    for name, gdf in (ctx.layers or {}).items():
        if isinstance(gdf, gpd.GeoDataFrame) and "scientificName" in {_local(str(c)) for c in gdf.columns}:
            yield name, gdf


def _from_layer(name: str, gdf: gpd.GeoDataFrame, crs: str) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Clean a point layer that carries Darwin Core columns; its geometry gives the position (the layer
    was read with its own coordinates), decimalLatitude/Longitude are filled from it where missing."""
    g = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].copy()
    g = g[g.geometry.geom_type == "Point"]
    dropped = len(gdf) - len(g)
    ll = g.to_crs("EPSG:4326") if g.crs is not None else g
    df = pd.DataFrame(g.drop(columns=g.geometry.name))
    df.columns = [_local(str(c)) for c in df.columns]
    df["decimalLatitude"] = ll.geometry.y.to_numpy().astype(str)
    df["decimalLongitude"] = ll.geometry.x.to_numpy().astype(str)
    frame, notes = clean_records(DwcRecords(df, f"layer '{name}'"))
    if dropped:
        notes.append(f"layer '{name}': {dropped} feature(s) without a point geometry were skipped")
    return records_to_points(frame, crs), notes


def compute(ctx: IndicatorContext, *, cell_m: float = DEFAULT_CELL_M,
            min_records: int = DEFAULT_MIN_RECORDS) -> list[IndicatorResult]:
    """Richness, effort, red-list richness and coverage per aggregation cell (rasters on the analysis
    grid) and per unit (vector layers), from every context layer with Darwin Core columns."""
    grid = ctx.grid
    red = load_red_list(ctx.params_dir)
    red_keys = set(red["key"])
    notes: list[str] = [f"red list: {len(red)} species from {Path(red.attrs['path']).name} "
                        f"(evidence marks: {dict(red['ev'].value_counts())}); species not on it are not counted as "
                        "red-listed, which is not proof they are not threatened"]
    layers = list(_record_layers(ctx))
    pts_all: list[gpd.GeoDataFrame] = []
    for name, gdf in layers:
        pts, n = _from_layer(name, gdf, grid.crs)
        pts_all.append(pts)
        notes += n
    chunks = ctx.fractions.chunks[1:] if type(ctx.fractions).__module__.split(".")[0] == "dask" else None
    inside = ctx.inside
    xp = np
    if chunks is not None:
        import dask.array as da

        xp = da
    if pts_all:
        pts = pd.concat(pts_all, ignore_index=True)
        pts = gpd.GeoDataFrame(pts, geometry="geometry", crs=grid.crs)
    else:
        pts = gpd.GeoDataFrame({"species": pd.Series([], dtype=object), "uncertainty_m": pd.Series([], dtype=float)},
                               geometry=gpd.GeoSeries([], crs=grid.crs), crs=grid.crs)
        notes.append("no species records supplied (no context layer with Darwin Core columns): every cell is "
                     "'not sampled'")
    codes = {s: i for i, s in enumerate(sorted(set(pts["species"].dropna())))}
    sp_id = np.array([codes.get(s, -1) if isinstance(s, str) else -1 for s in pts["species"]], dtype=np.int64)
    is_red = np.array([isinstance(s, str) and s in red_keys for s in pts["species"]], dtype=bool)
    cc = aggregate_to_cells(pts.geometry.x.to_numpy() if len(pts) else np.zeros(0),
                            pts.geometry.y.to_numpy() if len(pts) else np.zeros(0), sp_id, is_red, grid, cell_m,
                            pts["uncertainty_m"].to_numpy(dtype=float) if len(pts) else None)
    if cc.outside:
        notes.append(f"{cc.outside} record(s) lie outside the analysis grid and were not used")
    n_unc = int(cc.uncertain.sum())
    if n_unc:
        notes.append(f"{n_unc} record(s) have a coordinate uncertainty larger than the {cell_m:g} m aggregation cell: "
                     "they may belong to a neighbouring cell")
    cov = np.where(cc.records == 0, 0, np.where(cc.records < min_records, 1, 2)).astype(np.float32)
    shape = grid.shape

    def fine(a: np.ndarray) -> Any:
        arr = expand_to_grid(a.astype(np.float32), cc.factor, shape, chunks)
        return xp.where(inside > 0, arr, np.nan).astype(np.float32)

    layers_out: dict[str, gpd.GeoDataFrame] = {}
    for level, ug in (ctx.units or {}).items():
        if ug is None or len(ug) == 0:
            continue
        df = per_unit(pts, ug, red_keys, cell_m)
        keep = [c for c in ("code", "name", "level", "parent_code") if c in ug.columns]
        out = gpd.GeoDataFrame(ug[keep].reset_index(drop=True), geometry=ug.geometry.values, crs=ug.crs)
        codes_u = ug["code"].astype(str).to_numpy() if "code" in ug.columns else np.arange(len(ug)).astype(str)
        for c in df.columns:
            out[c] = df[c].reindex(codes_u).to_numpy()
        layers_out[f"species_records_{level}"] = out
    xs, ys = cc.grid.cell_centers()
    per_cell = pd.DataFrame({
        "row": np.repeat(np.arange(cc.grid.height), cc.grid.width),
        "col": np.tile(np.arange(cc.grid.width), cc.grid.height),
        "x_centre": np.tile(xs, cc.grid.height), "y_centre": np.repeat(ys, cc.grid.width),
        "records": cc.records.ravel(), "richness": cc.richness.ravel(), "red_list_richness": cc.red_list.ravel(),
        "records_uncertain": cc.uncertain.ravel()})
    per_cell = per_cell[per_cell["records"] > 0].reset_index(drop=True)
    species_tab = (pts.groupby("species").size().rename("records").reset_index() if len(pts)
                   else pd.DataFrame({"species": [], "records": []}))
    if len(species_tab):
        species_tab["red_list_category"] = species_tab["species"].map(red.set_index("key")["category"]).fillna("")
    desc_cell = f"per {cell_m:g} m cell"
    return [
        IndicatorResult(
            "species_coverage", fine(cov), "class",
            f"Sampling coverage {desc_cell}: 0 = not sampled (no records; richness unknown, not zero), 1 = fewer than "
            f"{min_records} records, 2 = sampled", "Species records coverage", "Dekking waarnemingen",
            palette="categorical", categories=[(0, "not sampled / niet bemonsterd", "#d9d9d9"),
                                               (1, f"< {min_records} records / waarnemingen", "#fdae61"),
                                               (2, "sampled / bemonsterd", "#2c7bb6")],
            summarise=("mean",)),
        IndicatorResult(
            "species_richness", fine(cc.richness), "species",
            f"Number of distinct species observed {desc_cell} (Darwin Core records; NaN = not sampled). Depends on "
            "sampling effort; per-unit values are in the species_records layers", "Observed species richness",
            "Waargenomen soortenrijkdom", palette="good_high", vmin=0.0, summarise=("max",)),
        IndicatorResult(
            "species_records", fine(cc.records.astype(np.float64)), "records",
            f"Number of species records {desc_cell} (sampling effort); per-unit richness, effort, red-list species "
            "and coverage are in the species_records_<level> layers", "Number of records (sampling effort)",
            "Aantal waarnemingen (inspanning)", palette="good_high", vmin=0.0, summarise=("max",),
            layers=layers_out, tables={"species_records_cells": per_cell, "species_records_species": species_tab},
            notes=notes),
        IndicatorResult(
            "red_list_richness", fine(cc.red_list), "species",
            f"Number of distinct red-list species observed {desc_cell} (NaN = not sampled)",
            "Observed red-list species", "Waargenomen Rode-Lijstsoorten", palette="good_high", vmin=0.0,
            summarise=("max",)),
    ]
