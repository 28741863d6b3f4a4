"""The layer catalogue of the web tool: which map layers a run has, their colours, legends and texts.

Colours come from the run itself: the QGIS style (``<name>.qml``) the pipeline wrote next to every
raster holds either a colour table (``paletteEntry value= color= label=``) or a colour ramp of five
stops from ``vmin`` to ``vmax`` (``colorrampshader`` items). The web tiles show a ramp as **five
equal steps**: a value ``v`` gets colour ``k = clip(floor(5 (v - vmin) / (vmax - vmin)), 0, 4)``, so
the legend (``"0 - 0.2"``, ...) says exactly which colour a value gets. Class tables are shown as
they are (land cover from the run's legend table, stress classes from
:func:`biostress.stresstest.load_classes`, the best measure with the catalogue's names); each of their
legend entries carries its class ``value`` (the code in the raster) besides ``colour`` and ``label``.

Colour-blind-safe variants (``legend_cb``): the stress classes use the ``colour_cb`` column of
``stresstest_classes.csv`` (Okabe & Ito 2008); a ramp built from the same five ColorBrewer RdYlGn
colours is mapped colour by colour to those Okabe-Ito colours (red -> vermillion ... green -> blue),
so "bad" and "good" keep their order.

Texts (what / how / certainty / action, Dutch and English) come from :mod:`biostress.web.texts`;
families of layers (``potential_<x>``, ``gap_<x>``, ``opportunity_<measure>``, ``guide_<sp>_<part>``)
get texts built from templates here.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .texts import GROUP_TITLES, LAYERS, OBJECTS

__all__ = [
    "LANGS",
    "N_STEPS",
    "Layer",
    "Style",
    "build_layers",
    "format_number",
    "object_layer",
    "parse_qml",
]

LANGS = ("nl", "en")
N_STEPS = 5
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
#: rasters of a run that are not map layers of the web tool (inputs, bookkeeping, multi-band)
SKIP = {"landcover_fractions", "landcover_source", "scenario_landcover"}
#: groups in display order
GROUP_ORDER = ("current", "pressures", "stress", "potential", "opportunities", "measures", "guide_species", "base")


def _rgba(colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    h = colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), alpha


def format_number(v: float, lang: str, step: float | None = None) -> str:
    """A number for a legend: digits chosen from the step between classes (or the value), Dutch decimal comma.

    >>> format_number(0.25, "nl"), format_number(17.5, "en", 17.5), format_number(1234.0, "en")
    ('0,25', '18', '1234')
    """
    ref = abs(step) if step else abs(v)
    digits = 0 if ref >= 10 or ref == 0 else (1 if ref >= 1 else (2 if ref >= 0.01 else 4))
    s = f"{v:.{digits}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    if s in ("-0", ""):
        s = "0"
    return s.replace(".", ",") if lang == "nl" else s


@dataclass
class Style:
    """How values become colours.

    ``kind == "categorical"``: ``values[i]`` (whole numbers) get ``colours[i]``; ``labels[i]`` is
    ``(nl, en)``. ``kind == "ramp"``: ``N_STEPS`` equal steps from ``vmin`` to ``vmax``, colours
    ``colours[0..4]`` (values below vmin take the first, above vmax the last). ``zero_transparent``:
    values with ``|v| < 1e-9`` are not drawn (scenario changes). NaN and nodata are never drawn."""

    kind: str
    colours: list[str]
    values: list[int] = field(default_factory=list)
    labels: list[tuple[str, str]] = field(default_factory=list)
    vmin: float = 0.0
    vmax: float = 1.0
    percent: bool = False  # ramp labels in percent (values are fractions 0-1)
    zero_transparent: bool = False

    def __post_init__(self) -> None:
        for c in self.colours:
            if not _HEX.match(c):
                raise ValueError(f"Colour {c!r} is not #rrggbb.")
        if self.kind == "ramp":
            if len(self.colours) != N_STEPS or not (math.isfinite(self.vmin) and math.isfinite(self.vmax)):
                raise ValueError("A ramp needs five colours and finite vmin, vmax.")
            if self.vmax <= self.vmin:
                self.vmax = self.vmin + 1.0
        elif self.kind == "categorical":
            if len(self.values) != len(self.colours):
                raise ValueError("A colour table needs one colour per value.")
        else:
            raise ValueError(f"Unknown style kind {self.kind!r}.")
        self._lut: np.ndarray | None = None

    # -- colours -----------------------------------------------------------------------------------------
    def lut(self) -> np.ndarray:
        """RGBA table (uint8, shape (n, 4)) indexed by class value (categorical) or step (ramp);
        the last row is transparent."""
        if self._lut is None:
            if self.kind == "ramp":
                rows = [_rgba(c) for c in self.colours] + [(0, 0, 0, 0)]
            else:
                n = max(self.values, default=0) + 1
                table = np.zeros((n + 1, 4), np.uint8)
                for v, c in zip(self.values, self.colours, strict=True):
                    if v >= 0:
                        table[v] = _rgba(c)
                self._lut = table
                return table
            self._lut = np.array(rows, np.uint8)
        return self._lut

    def index(self, values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Row of :meth:`lut` for every value (the transparent last row where there is nothing to draw)."""
        v = np.asarray(values, dtype=np.float64)
        lut = self.lut()
        none = len(lut) - 1
        ok = np.isfinite(v)
        if valid is not None:
            ok &= valid
        if self.zero_transparent:
            ok &= np.abs(np.where(ok, v, 0.0)) >= 1e-9
        if self.kind == "ramp":
            k = np.floor((np.where(ok, v, self.vmin) - self.vmin) / (self.vmax - self.vmin) * N_STEPS)
            k = np.clip(k, 0, N_STEPS - 1).astype(np.int64)
        else:
            r = np.where(ok, np.round(v), -1.0)
            ok &= (r >= 0) & (r < none) & (np.abs(np.where(ok, v, 0.0) - r) < 1e-6)
            k = np.where(ok, r, none).astype(np.int64)
            if ok.any():  # values without a colour in the table stay transparent
                ok &= lut[k, 3] > 0
        return np.where(ok, k, none)

    def colourise(self, values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """(H, W, 4) uint8 RGBA image of ``values`` (transparent where NaN, not ``valid`` or uncoloured)."""
        return self.lut()[self.index(values, valid)]

    def step_of(self, value: float | None) -> int | None:
        """Row of :meth:`lut` for one value (same rule as :meth:`index`), None when it is not drawn."""
        if value is None or not math.isfinite(value):
            return None
        if self.zero_transparent and abs(value) < 1e-9:
            return None
        lut = self.lut()
        if self.kind == "ramp":
            k = math.floor((value - self.vmin) / (self.vmax - self.vmin) * N_STEPS)
            return min(max(k, 0), N_STEPS - 1)
        r = round(value)
        if abs(value - r) >= 1e-6 or not 0 <= r < len(lut) - 1 or lut[r, 3] == 0:
            return None
        return int(r)

    def colour_of(self, value: float | None) -> str | None:
        """The ``#rrggbb`` a single value is drawn with, or None when it is not drawn."""
        k = self.step_of(value)
        if k is None:
            return None
        if self.kind == "ramp":
            return self.colours[k]
        return self.colours[self.values.index(k)]

    def label_of(self, value: float | None, lang: str) -> str | None:
        """The legend label of a single value (None when it is not drawn)."""
        k = self.step_of(value)
        if k is None:
            return None
        if self.kind == "ramp":
            return self.legend(lang)[k]["label"]
        i = self.values.index(k)
        return self.labels[i][LANGS.index(lang)] if self.labels else str(k)

    # -- legend ------------------------------------------------------------------------------------------
    def edges(self) -> list[float]:
        step = (self.vmax - self.vmin) / N_STEPS
        return [self.vmin + i * step for i in range(N_STEPS + 1)]

    def legend(self, lang: str) -> list[dict[str, Any]]:
        """``[{colour, label}]`` in the language ``lang`` (a fresh list; built once per language); class tables
        also give each entry its class ``value`` (the code in the raster, e.g. the land-cover code)."""
        cache = self.__dict__.setdefault("_legend_cache", {})
        if lang not in cache:
            cache[lang] = self._legend(lang)
        return [dict(e) for e in cache[lang]]

    def _legend(self, lang: str) -> list[dict[str, Any]]:
        if self.kind == "categorical":
            li = LANGS.index(lang)
            return [{"value": int(v), "colour": c, "label": (self.labels[i][li] if self.labels else str(v))}
                    for i, (v, c) in enumerate(zip(self.values, self.colours, strict=True))]
        e = self.edges()
        scale = 100.0 if self.percent else 1.0
        step = (e[1] - e[0]) * scale
        suffix = " %" if self.percent else ""
        out = []
        for i, c in enumerate(self.colours):
            a, b = format_number(e[i] * scale, lang, step), format_number(e[i + 1] * scale, lang, step)
            if i == 0:
                label = f"< {b}{suffix}"
            elif i == N_STEPS - 1:
                label = f"≥ {a}{suffix}"
            else:
                label = f"{a} – {b}{suffix}"
            out.append({"colour": c, "label": label})
        return out

    def with_colours(self, colours: list[str]) -> Style:
        return Style(self.kind, list(colours), list(self.values), list(self.labels), self.vmin, self.vmax,
                     self.percent, self.zero_transparent)


def _split_label(label: str) -> tuple[str, str]:
    """``"English / Nederlands"`` (how the pipeline labels classes) -> ``(nl, en)``."""
    parts = label.split(" / ")
    if len(parts) >= 2 and len(parts) % 2 == 0:
        h = len(parts) // 2
        return " / ".join(parts[h:]), " / ".join(parts[:h])
    return label, label


def _palette_entries(path: Path) -> list[dict[str, str]]:
    try:
        return [dict(e.attrib) for e in ET.parse(path).getroot().findall(".//paletteEntry")]
    except (ET.ParseError, OSError):
        return []


def parse_qml(path: Path) -> Style | None:
    """The :class:`Style` of a QGIS raster style written by :mod:`biostress.store.qml` (None when the
    file holds neither a colour table nor a ramp of at least two stops)."""
    try:
        root = ET.parse(path).getroot()  # files the pipeline wrote itself
    except (ET.ParseError, OSError):
        return None
    entries = root.findall(".//paletteEntry")
    if entries:
        values, colours, labels = [], [], []
        for e in entries:
            try:
                v = int(round(float(e.get("value", ""))))
            except ValueError:
                continue
            c = (e.get("color") or "").lower()
            if not _HEX.match(c) or not 0 <= v <= 65535:
                continue
            values.append(v)
            colours.append(c)
            labels.append(_split_label(e.get("label") or str(v)))
        return Style("categorical", colours, values, labels) if values else None
    items = root.findall(".//colorrampshader/item")
    stops = []
    for it in items:
        try:
            stops.append((float(it.get("value", "")), (it.get("color") or "").lower()))
        except ValueError:
            continue
    stops = [(v, c) for v, c in stops if math.isfinite(v) and _HEX.match(c)]
    if len(stops) < 2:
        return None
    stops.sort(key=lambda s: s[0])
    vmin, vmax = stops[0][0], stops[-1][0]
    if len(stops) == N_STEPS:
        colours = [c for _, c in stops]
    else:  # resample the ramp's stops to five colours (nearest stop of each step's centre)
        centres = [vmin + (i + 0.5) * (vmax - vmin) / N_STEPS for i in range(N_STEPS)]
        colours = [min(stops, key=lambda s, x=x: abs(s[0] - x))[1] for x in centres]
    return Style("ramp", colours, vmin=vmin, vmax=vmax)


@dataclass
class Layer:
    """One map layer of the web tool."""

    id: str
    group: str
    kind: str  # "raster" | "vector"
    title: tuple[str, str]
    unit: tuple[str, str]
    explain: dict[str, tuple[str, str]]
    tiles: str
    style: Style | None = None
    style_cb: Style | None = None
    path: Path | None = None  # raster file
    sources: list[dict[str, str]] = field(default_factory=list)
    order: int = 999
    extra: dict[str, Any] = field(default_factory=dict)
    extra_text: dict[str, tuple[str, str]] = field(default_factory=dict)  # more (nl, en) fields of the JSON

    def to_json(self, lang: str) -> dict[str, Any]:
        li = LANGS.index(lang)
        out: dict[str, Any] = {
            "id": self.id, "group": self.group, "group_title": GROUP_TITLES[self.group][li],
            "title": self.title[li], "unit": self.unit[li], "kind": self.kind, "tiles": self.tiles,
            "legend": self.style.legend(lang) if self.style else [],
            "explain": {k: v[li] for k, v in self.explain.items()},
            "sources": self.sources,
        }
        if self.style_cb is not None:
            out["legend_cb"] = self.style_cb.legend(lang)
        if self.style is not None and self.style.kind == "ramp":
            out["range"] = [self.style.vmin, self.style.vmax]
        out.update(self.extra)
        out.update({k: v[li] for k, v in self.extra_text.items()})
        return out


# ------------------------------------------------------------------------------------------------------
# texts for families of layers
# ------------------------------------------------------------------------------------------------------

def _base_text(name: str) -> dict[str, Any]:
    t = LAYERS.get(name)
    if t is not None:
        return dict(t)
    words = name.replace("_", " ")
    return {"title": (words, words), "unit": ("", ""), "group": "current"}


def _family_text(name: str, measures: dict[str, Any], species: dict[str, tuple[str, str]]) -> dict[str, Any] | None:
    if name.startswith("gap_"):
        b = _base_text(name.removeprefix("gap_"))
        tn, te = b["title"]
        return {
            "group": "potential", "order": 52, "title": (f"Winst mogelijk: {tn.lower()}", f"Possible gain: {te.lower()}"),
            "unit": b.get("unit", ("", "")),
            "what": (f"Hoeveel '{tn.lower()}' kan veranderen als de realistische veranderingen worden gedaan "
                     "(potentie min nu).", f"How much '{te.lower()}' could change if the realistic changes were "
                     "made (potential minus now)."),
            "how": ("Dezelfde berekening als de huidige kaart, opnieuw gedaan op de mogelijke bodembedekking.",
                    "The same computation as the current map, redone on the potential land cover."),
            "certainty": ("Zo zeker als de overgangstabel (P/R) en de indicator zelf.",
                          "As certain as the transition table (P/R) and the indicator itself."),
            "action": ("Grote winst = een goede plek voor maatregelen; klik voor wat past.",
                       "A large gain = a good place for measures; click for what fits."),
        }
    if name.startswith("potential_"):
        b = _base_text(name.removeprefix("potential_"))
        tn, te = b["title"]
        return {
            "group": "potential", "order": 51, "title": (f"Potentie: {tn.lower()}", f"Potential: {te.lower()}"),
            "unit": b.get("unit", ("", "")),
            "what": (f"'{tn}' zoals het zou zijn na de realistische veranderingen.",
                     f"'{te}' as it would be after the realistic changes."),
            "how": ("De indicator opnieuw berekend op de mogelijke bodembedekking.",
                    "The indicator recomputed on the potential land cover."),
            "certainty": ("Zo zeker als de overgangstabel (P/R) en de indicator zelf.",
                          "As certain as the transition table (P/R) and the indicator itself."),
            "action": ("Vergelijk met de huidige kaart om te zien waar het verschil te maken is.",
                       "Compare with the current map to see where the difference can be made."),
        }
    if name.startswith("opportunity_") and name.removeprefix("opportunity_") in measures:
        m = measures[name.removeprefix("opportunity_")]
        return {
            "group": "opportunities", "order": 63, "title": (f"Kans: {m.name_nl}", f"Opportunity: {m.name_en}"),
            "unit": ("m2 natuurwaarde per vak", "m2 habitat-equivalent per cell"),
            "what": (f"Waar '{m.name_nl}' past en wat het daar oplevert. {m.explain_nl}",
                     f"Where '{m.name_en}' fits and what it brings there. {m.explain_en}"),
            "how": ("De passingsregel van de maatregel (catalogus) per vak; de winst = leefgebied + 0,5 x "
                    "verkoeling + 7 x waterberging.", "The measure's fit rule (catalogue) per cell; the gain = "
                    "habitat + 0.5 x cooling + 7 x water storage."),
            "certainty": (f"Passingsregel: {m.fits.ev}; kosten: {m.capex_eur.ev} (V gecontroleerd, S secundair, "
                          "R typische waarde, P voorstel).", f"Fit rule: {m.fits.ev}; cost: {m.capex_eur.ev} "
                          "(V verified, S secondary, R typical value, P proposal)."),
            "action": ("Klik op een plek voor de kosten en subsidies.", "Click a place for the costs and subsidies."),
        }
    m = re.fullmatch(r"guide_([a-z0-9_]+?)_(suitability|network|limiting)", name)
    if m and m.group(1) in species:
        nl, en = species[m.group(1)]
        part = m.group(2)
        titles = {"suitability": (f"{nl}: geschikt leefgebied", f"{en}: habitat suitability"),
                  "network": (f"{nl}: netwerk", f"{en}: network"),
                  "limiting": (f"{nl}: beperkende druk", f"{en}: limiting pressure")}
        what = {"suitability": (f"Hoe geschikt elk vak is voor de {nl.lower()}, 1 = zeer geschikt.",
                                f"How suitable each cell is for the {en.lower()}, 1 = very suitable."),
                "network": (f"Of het leefgebied van de {nl.lower()} een netwerk vormt dat groot genoeg is voor een "
                            "duurzame (sleutel)populatie.", f"Whether the habitat of the {en.lower()} forms a "
                            "network large enough for a lasting (key) population."),
                "limiting": (f"Welke druk (licht, lawaai, wegen, hitte, droogte) de {nl.lower()} hier het meest "
                             "beperkt.", f"Which pressure (light, noise, roads, heat, drought) limits the "
                             f"{en.lower()} most here.")}
        return {
            "group": "guide_species", "order": 71, "title": titles[part],
            "unit": ("index 0-1", "index 0-1") if part == "suitability" else ("klasse", "class"),
            "what": what[part],
            "how": ("Geschiktheid van de bedekking min de druk waar de soort gevoelig voor is; leefgebieden binnen "
                    "de verspreidingsafstand vormen een netwerk.", "Suitability of the cover minus the pressures "
                    "the species is sensitive to; habitats within the dispersal distance form a network."),
            "certainty": ("Gevoeligheden en normen zijn deels typische waarden (R) en voorstellen (P) "
                          "(guide_species.yaml).", "Sensitivities and norms are partly typical values (R) and "
                          "proposals (P) (guide_species.yaml)."),
            "action": (f"Maatregelen voor de {nl.lower()} staan bij de maatregelen (gidssoorten per maatregel).",
                       f"Measures for the {en.lower()} are listed with the measures (guide species per measure)."),
        }
    return None


def _texts(name: str, description: str, units: str, measures: dict[str, Any],
           species: dict[str, tuple[str, str]]) -> dict[str, Any]:
    t = LAYERS.get(name) or _family_text(name, measures, species)
    if t is None:  # a raster this version has no text for: say what the run says about it
        words = name.replace("_", " ").capitalize()
        d = description or words
        t = {"group": "current", "order": 900, "title": (words, words), "unit": (units, units),
             "what": (d, d), "how": (d, d),
             "certainty": ("Zie de waarschuwingen van de berekening.", "See the warnings of the run."),
             "action": ("", "")}
    return dict(t)


def _ramp_cb(style: Style, cb_map: dict[str, str]) -> Style | None:
    if style.kind != "ramp" or not all(c in cb_map for c in style.colours):
        return None
    return style.with_colours([cb_map[c] for c in style.colours])


def _species_names(params_dir: Path | None) -> dict[str, tuple[str, str]]:
    import yaml

    from ..indicators.base import params_path

    try:
        doc = yaml.safe_load(params_path("guide_species.yaml", params_dir).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    out = {}
    for s in (doc or {}).get("species", []) or []:
        if isinstance(s, dict) and "id" in s:
            out[str(s["id"])] = (str(s.get("name_nl", s["id"])), str(s.get("name_en", s["id"])))
    return out


def build_layers(run_dir: Path, manifest: dict, *, legend_rows: list[dict] | None, classes: list[Any],
                 catalogue: Any, sources: list[dict[str, str]], vector_layers: dict[str, str],
                 params_dir: Path | None = None, unknown_share: float | None = None,
                 objects: dict[str, dict[str, Any]] | None = None) -> dict[str, Layer]:
    """All map layers of the run at ``run_dir``, keyed by id (display order: group, then order, then id).

    ``legend_rows``: the run's land-cover legend table (code, key, name_nl, name_en, colour);
    ``classes``: the stress classes; ``catalogue``: the measures catalogue; ``sources``: the
    ``[{name, licence, date}]`` of the run's inputs; ``vector_layers``: vector layer id -> group;
    ``objects``: the streets and managed objects of the report's ``aggregates.gpkg`` (name ->
    ``{count, columns, min_zoom}``, see :func:`object_layer`)."""
    measures = {m.id: m for m in catalogue.measures} if catalogue is not None else {}
    species = _species_names(params_dir)
    cb_map = {c.colour.lower(): c.colour_cb.lower() for c in classes}
    out: dict[str, Layer] = {}
    for o in manifest.get("outputs", []):
        rel = str(o.get("path", ""))
        if o.get("kind") != "raster" or "/" in rel or not rel.endswith(".tif") or o.get("grid"):
            continue
        name = rel.removesuffix(".tif")
        if name in SKIP or name.startswith(("input_", "dem_")) or int(o.get("bands", 1) or 1) != 1:
            continue
        path = run_dir / rel
        if not path.is_file():
            continue
        t = _texts(name, str(o.get("description", "")), str(o.get("units") or ""), measures, species)
        style = parse_qml(path.with_suffix(".qml"))
        style_cb = None
        if name in ("landcover", "potential_landcover") and legend_rows:
            style = Style("categorical", [r["colour"].lower() for r in legend_rows],
                          [int(r["code"]) for r in legend_rows], [(r["name_nl"], r["name_en"]) for r in legend_rows])
        elif name == "stress_class" and classes:
            style = Style("categorical", [c.colour for c in classes], [c.code for c in classes],
                          [(c.label_nl, c.label_en) for c in classes])
            style_cb = style.with_colours([c.colour_cb for c in classes])
        elif name == "opportunity_best_measure" and style is not None and style.kind == "categorical":
            labels = []
            raw_labels = {e.get("value", ""): e.get("label", "") for e in _palette_entries(path.with_suffix(".qml"))}
            for v, lab in zip(style.values, style.labels, strict=True):
                raw = raw_labels.get(str(v), "")
                hit = next((m for m in measures.values() if raw.startswith(f"{m.name_en} / ")), None)
                labels.append((hit.name_nl, hit.name_en) if hit is not None else lab)
            style = Style("categorical", style.colours, style.values, labels)
        if style is None:
            style = Style("ramp", ["#a50026", "#f46d43", "#fee08b", "#a6d96a", "#006837"], vmin=0.0, vmax=1.0)
        if style.kind == "ramp":
            style.percent = str(o.get("units") or "").startswith("fraction")
            if style_cb is None:
                style_cb = _ramp_cb(style, cb_map)
        explain = {k: t.get(k, ("", "")) for k in ("what", "how", "certainty", "action")}
        if unknown_share is not None and unknown_share >= 0.01 and name in (
                "landcover", "green_share", "canopy_share", "impervious_share"):
            pct = f"{unknown_share:.0%}"
            nl, en = explain["certainty"]
            explain["certainty"] = (f"{nl} In deze berekening is van {pct} van het gebied de bedekking onbekend.",
                                    f"{en} In this run the cover of {pct} of the area is unknown.")
        out[name] = Layer(name, t.get("group", "current"), "raster", t["title"], t.get("unit", ("", "")), explain,
                          f"/tiles/{name}/{{z}}/{{x}}/{{y}}.png", style, style_cb, path, list(sources),
                          int(t.get("order", 500)))
    for vid, group in vector_layers.items():
        out[vid] = _vector_layer(vid, group, sources)
    for name, meta in (objects or {}).items():
        out[name] = object_layer(name, meta, sources)
    return dict(sorted(out.items(), key=lambda kv: (GROUP_ORDER.index(kv[1].group), kv[1].order, kv[0])))


_VECTOR_TEXT: dict[str, dict[str, tuple[str, str]]] = {
    "units": {
        "title": ("Gebieden: {level}", "Areas: {level}"),
        "what": ("De grenzen van de {level}en met hun gemiddelde waarden (klik voor de cijfers).",
                 "The boundaries of the {level} units with their mean values (click for the numbers)."),
        "how": ("CBS Wijk- en buurtkaart; per gebied het gemiddelde of de som van elke kaart (exactextract).",
                "CBS district and neighbourhood map; per unit the mean or sum of every map (exactextract)."),
        "certainty": ("Grenzen V (CBS); de cijfers zo zeker als de kaart waar ze van komen.",
                      "Boundaries V (CBS); the numbers as certain as the map they come from."),
        "action": ("Vergelijk buurten en kies waar u begint.", "Compare neighbourhoods and choose where to start."),
    },
    "natura2000": {
        "title": ("Natura 2000-gebieden", "Natura 2000 sites"),
        "what": ("Europees beschermde natuurgebieden in en rond het gebied.",
                 "European protected nature sites in and around the area."),
        "how": ("Begrenzing van RVO / PDOK.", "Boundaries from RVO / PDOK."),
        "certainty": ("Officiële grenzen (V).", "Official boundaries (V)."),
        "action": ("Plannen in de buurt vragen extra zorg (stikstof, verstoring).",
                   "Plans nearby need extra care (nitrogen, disturbance)."),
    },
    "plan_measures": {
        "title": ("Plan: maatregelen per blok", "Plan: measures per block"),
        "what": ("Het voorbeeldplan: welke maatregel in welk blok van 100 m, binnen het budget.",
                 "The sample plan: which measure in which 100 m block, within the budget."),
        "how": ("De planoptimalisatie kiest per blok de maatregel met de meeste winst per euro.",
                "The plan optimiser chooses per block the measure with the largest gain per euro."),
        "certainty": ("Zo zeker als de kosten (vaak R) en de gewichten (P).",
                      "As certain as the costs (often R) and the weights (P)."),
        "action": ("Een vertrekpunt voor het gesprek, geen besluit.", "A starting point for the talk, not a decision."),
    },
    "boundary": {
        "title": ("Grens van het gebied", "Area boundary"),
        "what": ("De grens van het berekende gebied.", "The boundary of the computed area."),
        "how": ("Uit de gebiedsinstellingen.", "From the area settings."),
        "certainty": ("V", "V"),
        "action": ("", ""),
    },
}
_LEVEL_NAMES = {"gemeente": ("gemeente", "municipality"), "wijk": ("wijk", "district"),
                "buurt": ("buurt", "neighbourhood")}


def _vector_layer(vid: str, group: str, sources: list[dict[str, str]]) -> Layer:
    if vid.startswith("units_"):
        level = vid.removeprefix("units_")
        nl, en = _LEVEL_NAMES.get(level, (level, level))
        t = _VECTOR_TEXT["units"]
        fill = {k: (v[0].replace("{level}", nl), v[1].replace("{level}", en)) for k, v in t.items()}
        return Layer(vid, group, "vector", fill["title"], ("", ""),
                     {k: fill[k] for k in ("what", "how", "certainty", "action")},
                     f"/tiles/units/{level}/{{z}}/{{x}}/{{y}}.pbf", None, None, None, list(sources),
                     {"gemeente": 90, "wijk": 91, "buurt": 92}.get(level, 93),
                     {"source_layer": level, "level": level})
    t = _VECTOR_TEXT.get(vid, {"title": (vid, vid), "what": ("", ""), "how": ("", ""), "certainty": ("", ""),
                               "action": ("", "")})
    return Layer(vid, group, "vector", t["title"], ("", ""), {k: t[k] for k in ("what", "how", "certainty", "action")},
                 f"/tiles/vector/{vid}/{{z}}/{{x}}/{{y}}.pbf", None, None, None, list(sources), 95,
                 {"source_layer": vid})


def object_layer(name: str, meta: dict[str, Any], sources: list[dict[str, str]]) -> Layer:
    """The catalogue entry of a street / managed-object layer (``street_segments``, ``verges``, ``parks``,
    ``woods``): vector tiles at ``/tiles/vector/<name>/...`` (none below ``meta["min_zoom"]``), with
    ``object`` (its name), ``count``, ``columns`` (the ``*_mean`` properties), ``min_zoom`` and the name of one
    object in the language asked (``item``). Not a theme of the layer list: the app draws it as the street level
    (street segments) or under "Managed objects" (the others)."""
    t = OBJECTS.get(name) or {"title": (name, name), "one": (name, name), "unit": ("", "")}
    explain = {k: t.get(k, ("", "")) for k in ("what", "how", "certainty", "action")}
    return Layer(name, "base", "vector", t["title"], t.get("unit", ("", "")), explain,
                 f"/tiles/vector/{name}/{{z}}/{{x}}/{{y}}.pbf", None, None, None, list(sources),
                 {"street_segments": 96, "verges": 97, "parks": 98, "woods": 99}.get(name, 100),
                 {"source_layer": name, "object": name, "count": int(meta.get("count", 0)),
                  "columns": list(meta.get("columns", [])), "min_zoom": int(meta.get("min_zoom", 0))},
                 {"item": t.get("one", t["title"])})
