"""The plot report: for one address or spot, what is there, what could be there, which measures fit
and what they cost, bring and what subsidies exist, written for a resident or a business.

The plot
--------
A *plot* is the circle of ``radius_m`` (default 25 m, about a house with its garden: 1,963 m²) around
the point, or a polygon when one is given (a cadastral parcel of a ``parcels`` source, an area unit or a
plan block, see :func:`plot_report_cli`; the web tool gives the parcel holding the point). Each cell of the run grid takes part with its coverage
``w_c`` = the share of the cell inside the plot (area of cell ∩ plot / cell area; the circle is a
256-sided polygon, whose area is 0.01 % below the circle's). Every number of the plot is a
coverage-weighted sum or mean over its cells::

    land cover (m2) of class k   = sum_c w_c f_kc A                 (f = cover fraction, A = cell area)
    share of class k             = that / sum_c w_c (sum_k f_kc) A  (of the part with land-cover data)
    indicator x (mean)           = sum_c w_c x_c / sum_c w_c        (over the cells where x has a value)

The *surroundings* are the plot grown by ``surroundings_m`` (default 100 m), the same way. The
*neighbourhood* is the finest area unit of the run (buurt if present) holding the point (for a
polygon: the unit overlapping it most), with the unit's own ``<indicator>_mean`` from the run; the
municipality likewise (level ``gemeente``). The stress-test class of the plot is the class of the
plot's mean stress score (``stresstest_classes.csv``), as for units.

What could be there: the ``potential_<x>`` and ``gap_<x>`` rasters of the run (coverage-weighted
means) and the potential land cover (coverage-weighted shares of the classes of
``potential_landcover.tif``).

Measures
--------
The ``fits`` rule of every measure of the catalogue is evaluated on the plot's cells with the rule
variables of :func:`biostress.opportunity.variables.rule_variables`, computed on the plot's window
grown by :data:`CONTEXT_MARGIN_M` (500 m), so the urban/rural setting (a 200 m disc), the distance
to water (rules read up to 300 m) and to Natura 2000 see the same surroundings as in the run. A
measure is listed when its rule holds in at least one cell with ``w_c > 0``. A rule that reads an
unknown categorical variable (roof shape, land owner) does not fit; if it would fit for some value of
that variable, it is listed as *possible* with the condition ("if the roof is flat").

For a fitting measure, the plot is **one application**: the quantity is ``sum_c w_c u_c`` over the
fitting cells, with ``u_c`` the units of one application in cell ``c``
(:func:`biostress.measures.catalogue.units_per_cell`: m2 converted, façade m2, boxes, ...); a
measure priced per site (a crossing) counts ``per_site`` once. The costs are
:func:`biostress.measures.finance.cost_breakdown` of that quantity with the subsidies of the
catalogue that are open in ``regions`` on date ``on`` (caps per application apply once): capex,
subsidy, net capex, yearly cost, NPV and equivalent annual cost over the finance horizon (30 years,
2.25 % real by default; ``finance.yaml``). What it brings is the coverage-weighted sum of the
opportunity layers (:func:`biostress.opportunity.compute.measure_layers`: habitat gain in m2
habitat-equivalent, cooling, water held in the design storm in m3; for a per-site measure the value
of its best cell). Every subsidy of the catalogue of a listed measure is shown, with whether it
counts for ``regions`` (the catalogue's subsidies are examples from particular municipalities and
water boards: the report says so and names the run's area).

Output: :func:`write_plot_report` writes ``<stem>.html`` (self-contained: the map is embedded),
``<stem>.pdf`` (WeasyPrint, resources only from ``data:`` URLs and files inside the output folder)
and ``<stem>.json`` (the numbers), each atomically (temporary file + :func:`os.replace`).
"""

from __future__ import annotations

import base64
import contextlib
import io
import itertools
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from ..errors import ConfigError, InputDataError, NoOverlapError
from ..grid import Grid
from . import i18n

__all__ = [
    "CONTEXT_MARGIN_M",
    "INDICATORS",
    "MAX_RADIUS_M",
    "PlotReport",
    "cell_coverage",
    "plot_report",
    "plot_report_cli",
    "render_html",
    "render_pdf",
    "weighted_mean",
    "write_plot_report",
]

#: the rule variables are computed on the plot's window grown by this many metres (P): the urban test
#: reads a 200 m disc and the catalogue's distance rules at most 300 m
CONTEXT_MARGIN_M = 500.0
MAX_RADIUS_M = 1000.0
MAX_SURROUNDINGS_M = 1000.0
#: sides of the polygon standing in for the circle (area 1 - sin(2 pi / n) n / (2 pi) = 0.01 % too small)
CIRCLE_SIDES = 256
MAP_DPI = 150

# (name, English label, Dutch label, better: "high"/"low", format, tolerance for "about the same",
#  English explanation, Dutch explanation)
INDICATORS: tuple[tuple[str, str, str, str, str, float, str, str], ...] = (
    ("green_share", "Green", "Groen", "high", "pct", 0.05,
     "Part of the ground with plants: grass, shrubs, trees, gardens.",
     "Deel van de grond met planten: gras, struiken, bomen, tuinen."),
    ("canopy_share", "Trees (crowns)", "Bomen (kronen)", "high", "pct", 0.05,
     "Part of the ground under tree crowns.", "Deel van de grond onder boomkronen."),
    ("impervious_share", "Paved and built", "Verhard en bebouwd", "low", "pct", 0.05,
     "Part that is built on or paved: rain cannot soak in.", "Deel dat bebouwd of verhard is: regen zakt er niet in."),
    ("habitat_quality", "Habitat for plants and animals", "Leefgebied voor planten en dieren", "high", "idx", 0.05,
     "How good the place is for wildlife, from 0 (poor) to 1 (very good).",
     "Hoe goed de plek is voor planten en dieren, van 0 (slecht) tot 1 (heel goed)."),
    ("heat_mitigation", "Cooling on hot days", "Verkoeling op hete dagen", "high", "idx", 0.05,
     "How well the place stays cool on a hot day, from 0 (hot) to 1 (cool).",
     "Hoe goed de plek koel blijft op een hete dag, van 0 (heet) tot 1 (koel)."),
    ("runoff_depth", "Rain running off in a downpour", "Regen die wegstroomt bij een hoosbui", "low", "mm", 3.0,
     "Millimetres of rain that cannot soak in during a heavy downpour and runs off.",
     "Millimeters regen die bij een hoosbui niet in de grond zakken en wegstromen."),
    ("drought_vulnerability", "Drought stress of plants", "Droogtestress van planten", "low", "idx", 0.05,
     "How much the plants suffer in a dry period, from 0 (little) to 1 (a lot).",
     "Hoeveel de planten lijden in een droge periode, van 0 (weinig) tot 1 (veel)."),
    ("light_proxy", "Artificial light at night", "Kunstlicht 's nachts", "low", "idx", 0.05,
     "Estimated light at night from streets and buildings, from 0 (dark) to 1 (bright).",
     "Geschat licht 's nachts van straten en gebouwen, van 0 (donker) tot 1 (fel)."),
    ("noise_road_proxy", "Road traffic noise", "Verkeerslawaai", "low", "db", 3.0,
     "Estimated noise of road traffic, in decibels (every 10 dB more sounds twice as loud).",
     "Geschat geluid van wegverkeer, in decibel (elke 10 dB meer klinkt twee keer zo hard)."),
    ("nitrogen_exceedance", "Nitrogen above what nature can bear", "Stikstof boven wat de natuur aankan", "low",
     "num", 50.0, "Nitrogen deposition above the critical load of the habitat (mol N per ha per year).",
     "Stikstofneerslag boven de kritische waarde van de natuur (mol N per ha per jaar)."),
    ("species_richness", "Species recorded", "Waargenomen soorten", "high", "num", 1.0,
     "Number of species seen here in the observations used by the run.",
     "Aantal soorten dat hier is waargenomen in de gebruikte waarnemingen."),
    ("stress_robustness", "Robustness of the green", "Robuustheid van het groen", "high", "idx", 0.05,
     "Size, quality, connection and variety of the green, from 0 to 1.",
     "Omvang, kwaliteit, samenhang en variatie van het groen, van 0 tot 1."),
    ("stress_vulnerability", "Pressure on nature", "Druk op de natuur", "low", "idx", 0.05,
     "Heat, flooding, drought, nitrogen, light and noise together, from 0 (little) to 1 (a lot).",
     "Hitte, wateroverlast, droogte, stikstof, licht en geluid samen, van 0 (weinig) tot 1 (veel)."),
    ("stress_score", "Stress-test score", "Stresstestscore", "high", "idx", 0.05,
     "Robustness times (1 - pressure): from 0 (very vulnerable) to 1 (very robust).",
     "Robuustheid maal (1 - druk): van 0 (zeer kwetsbaar) tot 1 (zeer robuust)."),
)
_IND = {r[0]: r for r in INDICATORS}
POTENTIAL = ("green_share", "canopy_share", "impervious_share", "habitat_quality", "heat_mitigation", "runoff_depth")

# (key) -> (English, Dutch); strings of this report only (the shared ones come from report.i18n)
_S: dict[str, tuple[str, str]] = {
    "title": ("Your plot: nature, heat and water", "Uw perceel: natuur, hitte en water"),
    "subtitle": ("What is there, what could be there, and what you can do", "Wat er is, wat er kan en wat u kunt doen"),
    "made": ("Made on {date} from the biostress run of {area} ({run_date}).",
             "Gemaakt op {date} met de biostress-berekening van {area} ({run_date})."),
    "plot_disc": ("The plot is the circle of {r} around the point (about {area}); there are no parcel boundaries "
                  "in this report.", "Het perceel is de cirkel van {r} rond het punt (ongeveer {area}); perceelgrenzen "
                  "uit het kadaster zitten niet in dit rapport."),
    "plot_poly": ("The plot is {what} (about {area}).", "Het perceel is {what} (ongeveer {area})."),
    "surroundings_are": ("The surroundings are the plot and {d} around it.",
                         "De omgeving is het perceel en {d} eromheen."),
    "sec_summary": ("In short", "In het kort"),
    "sec_there": ("What is there now", "Wat er nu is"),
    "sec_compare": ("Your plot compared with the neighbourhood", "Uw perceel vergeleken met de buurt"),
    "sec_could": ("What could be there", "Wat er zou kunnen"),
    "sec_measures": ("Measures that fit", "Maatregelen die passen"),
    "sec_own": ("On your own house and garden", "Aan uw eigen huis en tuin"),
    "sec_shared": ("Together with neighbours or the municipality", "Samen met buren of de gemeente"),
    "sec_possible": ("Possible, but we do not know enough", "Mogelijk, maar we weten te weinig"),
    "sec_subsidies": ("Subsidies", "Subsidies"),
    "sec_how": ("How this was calculated", "Hoe dit is berekend"),
    "sec_sources": ("Sources", "Bronnen"),
    "s_green": ("Your plot is {green} green and {paved} paved or built on; {canopy} is under trees.",
                "Uw perceel is voor {green} groen en voor {paved} verhard of bebouwd; {canopy} ligt onder bomen."),
    "s_green_nb": ("In {nb} this is {green} green and {paved} paved.",
                   "In {nb} is dat {green} groen en {paved} verhard."),
    "s_class_nb": ("The neighbourhood as a whole: class {code}, {label}.", "De buurt als geheel: klasse {code}, {label}."),
    "s_measures": ("{n} measures fit here; {own} of them on your own house or garden.",
                   "Hier passen {n} maatregelen; {own} daarvan aan uw eigen huis of tuin."),
    "s_none": ("No measure of the catalogue fits here with the data we have.",
               "Met de gegevens die we hebben past hier geen maatregel uit de catalogus."),
    "s_top": ("Most nature gain for the money: {names}.", "De meeste natuurwinst voor het geld: {names}."),
    "map_caption": ("Land cover around the plot (solid circle); dashed: the surroundings.",
                    "Landbedekking rond het perceel (doorgetrokken cirkel); gestreept: de omgeving."),
    "col_class": ("Land cover", "Landbedekking"),
    "col_plot": ("Plot", "Perceel"),
    "col_plot_m2": ("Plot (m²)", "Perceel (m²)"),
    "col_surr": ("Surroundings", "Omgeving"),
    "col_nb": ("Neighbourhood", "Buurt"),
    "col_mun": ("Municipality", "Gemeente"),
    "col_compared": ("Plot vs. neighbourhood", "Perceel t.o.v. buurt"),
    "col_what": ("What it means", "Wat het betekent"),
    "col_now": ("Now", "Nu"),
    "col_could": ("Could be", "Kan worden"),
    "col_measure": ("Measure", "Maatregel"),
    "col_amount": ("How much", "Hoeveel"),
    "col_invest": ("Investment", "Investering"),
    "col_subsidy": ("Subsidy", "Subsidie"),
    "col_net": ("You pay", "U betaalt"),
    "col_year": ("Per year", "Per jaar"),
    "col_brings": ("What it brings", "Wat het oplevert"),
    "col_condition": ("Fits if", "Past als"),
    "col_programme": ("Scheme", "Regeling"),
    "col_region": ("Where", "Waar"),
    "col_amount_sub": ("Amount", "Bedrag"),
    "col_counted": ("In the costs above", "In de kosten hierboven"),
    "better": ("better", "beter"),
    "worse": ("worse", "slechter"),
    "same": ("about the same", "ongeveer gelijk"),
    "yes": ("yes", "ja"),
    "no": ("no", "nee"),
    "expired": ("closed since {d}", "gesloten sinds {d}"),
    "other_region": ("only in {r}", "alleen in {r}"),
    "per_unit": ("€ {a} per {u}", "€ {a} per {u}"),
    "share_capex": ("{p} of the investment", "{p} van de investering"),
    "per_application": ("€ {a} per application", "€ {a} per aanvraag"),
    "max": ("at most € {a}", "maximaal € {a}"),
    "until": ("until {d}", "tot {d}"),
    "brings_water": ("holds {v} m³ of rain", "houdt {v} m³ regen vast"),
    "brings_nature": ("nature gain ≈ {v} m² of good habitat", "natuurwinst ≈ {v} m² goed leefgebied"),
    "brings_cool": ("cooler", "koeler"),
    "brings_for": ("for {groups}", "voor {groups}"),
    "payback": ("pays back in {n} years", "terugverdiend in {n} jaar"),
    "cost_note": (
        "Costs are rough catalogue prices (excluding VAT, price years 2007-2024), for the amounts shown; 'per year' is "
        "the equivalent yearly cost over {h} years at {r} (investment, replacement and maintenance spread out).",
        "Kosten zijn grove prijzen uit de catalogus (zonder btw, prijspeil 2007-2024), voor de getoonde hoeveelheden; "
        "'per jaar' zijn de jaarlijkse kosten over {h} jaar bij {r} rente (investering, vervanging en onderhoud "
        "uitgesmeerd)."),
    "sub_note": (
        "The subsidies in the catalogue are examples from particular municipalities and water boards. Only those "
        "for {regions} are counted in the costs above. This run covers {area}: ask your municipality and water board "
        "which schemes are open for you.",
        "De subsidies in de catalogus zijn voorbeelden van bepaalde gemeenten en waterschappen. Alleen die voor "
        "{regions} zijn meegeteld in de kosten hierboven. Deze berekening gaat over {area}: vraag bij uw gemeente en "
        "waterschap welke regelingen voor u open staan."),
    "no_subsidies": ("The catalogue lists no subsidy for the measures that fit here.",
                     "De catalogus noemt geen subsidie voor de maatregelen die hier passen."),
    "cond_roof_flat": ("the roof is flat", "het dak plat is"),
    "cond_roof_pitched": ("the roof is pitched", "het dak schuin is"),
    "cond_owner_public": ("the land belongs to the municipality", "de grond van de gemeente is"),
    "cond_owner_private": ("the land is privately owned", "de grond particulier bezit is"),
    "cond_owner_unknown": ("the owner is not known", "de eigenaar onbekend is"),
    "cond_roof_unknown": ("the roof shape is not known", "de dakvorm onbekend is"),
    "cond_setting_urban": ("the place counts as urban", "de plek als stedelijk telt"),
    "cond_setting_rural": ("the place counts as rural", "de plek als landelijk telt"),
    "lc_note": ("Shares are of the part with known land cover; '{unknown}' means no source covers it.",
                "Aandelen zijn van het deel met bekende landbedekking; '{unknown}' betekent dat geen bron het dekt."),
    "unknown_high": ("For {p} of the plot the land cover is not known: read the numbers as a rough picture.",
                     "Van {p} van het perceel is de landbedekking onbekend: lees de getallen als een ruwe schets."),
    "potential_lc": ("The land cover could become mostly: {names}.", "De landbedekking zou vooral kunnen worden: {names}."),
    "potential_note": ("'Could be' is a scenario of proposed changes for the whole area, not a plan or a promise.",
                       "'Kan worden' is een scenario van voorgestelde veranderingen voor het hele gebied, geen plan of "
                       "belofte."),
    "how_plot": ("Every number of the plot is a weighted mean of the 10 m grid cells it covers, each weighted by the "
                 "part of the cell inside the plot.",
                 "Elk getal van het perceel is een gewogen gemiddelde van de rastercellen (10 m) die het bedekt, elk "
                 "gewogen naar het deel van de cel binnen het perceel."),
    "how_measures": ("A measure is listed when its rule in the catalogue (for example 'at least 20 % buildings') holds "
                     "in at least one cell of the plot. Amounts and costs are for the whole plot as one application.",
                     "Een maatregel staat erin als zijn regel in de catalogus (bijvoorbeeld 'minstens 20 % gebouwen') "
                     "opgaat in minstens één cel van het perceel. Hoeveelheden en kosten gelden voor het hele perceel "
                     "als één toepassing."),
    "how_ev": ("Many prices, thresholds and effects are typical values or proposals that experts still have to check "
               "(evidence marks R and P). Use this report to start a conversation, not to take decisions.",
               "Veel prijzen, grenzen en effecten zijn gangbare waarden of voorstellen die deskundigen nog moeten "
               "controleren (bewijsmerken R en P). Gebruik dit rapport om het gesprek te beginnen, niet om te "
               "besluiten."),
    "how_proxy": ("Light, noise and drought are estimated from the land cover (proxies), not measured.",
                  "Licht, geluid en droogte zijn geschat uit de landbedekking (benaderingen), niet gemeten."),
    "point": ("Point", "Punt"),
    "no_nb": ("no neighbourhood data", "geen buurtgegevens"),
    "unit_what": ("{level} {name}", "{level} {name}"),
    "block_what": ("plan block {id}", "planblok {id}"),
    "ev_legend": ("Evidence: V verified, S secondary source, R typical value, P proposal.",
                  "Bewijs: V geverifieerd, S secundaire bron, R gangbare waarde, P voorstel."),
    "stress_badge": ("Stress-test class of your plot", "Stresstestklasse van uw perceel"),
    "mixed_high": ("For {p} of the plot we only know that it is built-up land; gardens and green inside it are not "
                   "mapped, so the real green share can be higher.",
                   "Van {p} van het perceel weten we alleen dat het bebouwd gebied is; tuinen en groen daarin zijn niet "
                   "in kaart gebracht, dus het echte aandeel groen kan hoger zijn."),
    "unknown_data": ("Not known in this run: {what}. Measures that depend on it are under 'Possible' or left out.",
                     "Niet bekend in deze berekening: {what}. Maatregelen die daarvan afhangen staan onder 'Mogelijk' of "
                     "ontbreken."),
    "unknown_cost": ("unknown", "onbekend"),
    "no_surface": ("no suitable surface found in the plot", "geen geschikte oppervlakte gevonden in het perceel"),
    "sub_for": ("{measure}: {text}", "{measure}: {text}"),
    "brings_label": ("Brings", "Levert op"),
    "not_quantified": ("not expressed in numbers here", "hier niet in getallen uitgedrukt"),
    "whole_note": ("Boxes, bricks, trees and other items are rounded to whole pieces (at least one).",
                   "Kasten, stenen, bomen en andere losse dingen zijn afgerond op hele stuks (minstens één)."),
    "footer": ("biostress plot report", "biostress perceelrapport"),
}

_MISSING_NAMES = {"roof": ("roof shape", "dakvorm"), "owner": ("land ownership", "eigendom van de grond"),
                  "school_share": ("school grounds", "schoolpleinen"),
                  "culvert_share": ("piped watercourses", "duikers en ingebuisde watergangen"),
                  "distance_natura2000_m": ("Natura 2000 sites", "Natura 2000-gebieden"),
                  "nitrogen_exceedance": ("nitrogen deposition", "stikstofneerslag"),
                  "distance_water_m": ("open water", "open water"), "setting": ("urban or rural", "stad of platteland")}
#: units counted in whole pieces: a plot gets at least one of a fitting measure
COUNTABLE = ("unit", "tree", "crossing")
_LEVELS = {"buurt": ("neighbourhood", "buurt"), "wijk": ("district", "wijk"), "gemeente": ("municipality", "gemeente"),
           "hexagon": ("hexagon", "zeshoek"), "plan_block": ("plan block", "planblok"), "perceel": ("parcel", "perceel")}
_GROUPS = {"birds": ("birds", "vogels"), "bats": ("bats", "vleermuizen"), "pollinators": ("pollinators", "bestuivers"),
           "butterflies": ("butterflies", "vlinders"), "insects": ("insects", "insecten"),
           "amphibians": ("amphibians", "amfibieën"), "reptiles": ("reptiles", "reptielen"),
           "mammals": ("mammals", "zoogdieren"), "fish": ("fish", "vissen"), "plants": ("plants", "planten"),
           "soil": ("soil life", "bodemleven"), "aquatic": ("water life", "waterleven")}
_UNITS = {"m2": ("m²", "m²"), "m3": ("m³", "m³"), "m": ("m", "m"), "ha": ("ha", "ha"), "tree": ("trees", "bomen"),
          "unit": ("pieces", "stuks"), "crossing": ("crossings", "passages")}
_UNIT1 = {"m2": ("m²", "m²"), "m3": ("m³", "m³"), "m": ("m", "m"), "ha": ("ha", "ha"), "tree": ("tree", "boom"),
          "unit": ("piece", "stuk"), "crossing": ("crossing", "passage")}


def _s(key: str, lang: str, **kw: Any) -> str:
    en, nl = _S[key]
    s = nl if lang == "nl" else en
    return s.format(**kw) if kw else s


def _pair(d: Mapping[str, tuple[str, str]], key: str, lang: str) -> str:
    en, nl = d.get(key, (key.replace("_", " "),) * 2)
    return nl if lang == "nl" else en


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------

def cell_coverage(geom: Any, grid: Grid) -> np.ndarray:
    """Share (0-1) of every cell of ``grid`` inside ``geom``: area(cell ∩ geom) / cell area (shapely, exact for
    the polygon). float64, ``grid.shape``; 0 for cells the polygon does not reach."""
    out = np.zeros(grid.shape, np.float64)
    if geom is None or geom.is_empty:
        return out
    cell = grid.cell
    x0, y0, x1, y1 = geom.bounds
    c0, c1 = max(0, math.floor((x0 - grid.x0) / cell)), min(grid.width, math.ceil((x1 - grid.x0) / cell))
    r0, r1 = max(0, math.floor((grid.y1 - y1) / cell)), min(grid.height, math.ceil((grid.y1 - y0) / cell))
    if r0 >= r1 or c0 >= c1:
        return out
    rr, cc = np.mgrid[r0:r1, c0:c1]
    left = grid.x0 + cc * cell
    top = grid.y1 - rr * cell
    boxes = shapely.box(left, top - cell, left + cell, top)
    shapely.prepare(geom)
    area = shapely.area(shapely.intersection(boxes, geom))
    out[r0:r1, c0:c1] = np.clip(area / (cell * cell), 0.0, 1.0)
    return out


def weighted_mean(values: Any, weights: np.ndarray) -> float:
    """``sum w x / sum w`` over the cells where ``x`` is finite and ``w > 0``; NaN when there are none."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v) & (weights > 0)
    den = float(weights[ok].sum())
    return float((weights[ok] * v[ok]).sum() / den) if den > 0 else math.nan


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------

@dataclass
class PlotReport:
    """The plot report's numbers and tables (see the module docstring for every formula).

    Tables (pandas): ``landcover`` (key, name, colour, plot_m2, plot_share, surroundings_share),
    ``indicators`` (name, label, explain, better, format, plot, surroundings, neighbourhood, municipality,
    verdict), ``potential`` (name, label, format, better, now, could_be, change), ``potential_landcover``
    (key, name, share), ``measures`` (one row per fitting measure: id, name, group ``own``/``shared``,
    quantity, unit, capex/subsidy/net_capex/opex_yr/npv/eac (EUR), payback_year, gain_bio_m2, cooling,
    water_m3, cells_fit, fit_area_m2, evidence marks, ...), ``possible`` (id, name, condition),
    ``subsidies`` (measure, programme, region, text, counted, reason, ev, source)."""

    run_dir: str
    lang: str
    label: str
    x: float
    y: float
    crs: str
    kind: str  # "disc" or "polygon"
    radius_m: float | None
    surroundings_m: float
    plot_area_m2: float
    known_area_m2: float
    unknown_share: float
    cells: int
    area_name: str
    area_code: str
    run_date: str
    regions: tuple[str, ...]
    landcover: pd.DataFrame
    shares: dict[str, float]
    indicators: pd.DataFrame
    stress: dict[str, Any]
    potential: pd.DataFrame
    potential_landcover: pd.DataFrame
    measures: pd.DataFrame
    possible: pd.DataFrame
    subsidies: pd.DataFrame
    neighbourhood: dict[str, Any]
    municipality: dict[str, Any]
    finance: dict[str, Any]
    caveats: list[str] = field(default_factory=list)  # for the reader: how far to trust the numbers
    notes: list[str] = field(default_factory=list)  # for the reader: what is not known
    tech_notes: list[str] = field(default_factory=list)  # English, technical (variables and measure ids)
    sources: list[dict[str, str]] = field(default_factory=list)
    geometry: Any = field(default=None, repr=False)
    map_png: bytes | None = field(default=None, repr=False)
    created: str = ""
    what: str = ""  # for a polygon plot: what it is ("buurt BU0505...", "plan block 7")
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The numbers as plain JSON-able data (tables as lists of records; NaN as None)."""
        def rec(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _jsonable(v) for k, v in r.items()} for r in df.to_dict("records")]

        return {
            "run_dir": self.run_dir, "lang": self.lang, "label": self.label, "x": self.x, "y": self.y, "crs": self.crs,
            "kind": self.kind, "what": self.what, "radius_m": self.radius_m, "surroundings_m": self.surroundings_m,
            "plot_area_m2": self.plot_area_m2, "known_area_m2": self.known_area_m2,
            "unknown_share": _jsonable(self.unknown_share), "cells": self.cells, "area_name": self.area_name,
            "area_code": self.area_code, "regions": list(self.regions), "created": self.created,
            "shares": {k: _jsonable(v) for k, v in self.shares.items()},
            "stress": {k: _jsonable(v) for k, v in self.stress.items()},
            "neighbourhood": {k: _jsonable(v) for k, v in self.neighbourhood.items()},
            "municipality": {k: _jsonable(v) for k, v in self.municipality.items()},
            "finance": {k: _jsonable(v) for k, v in self.finance.items()},
            "landcover": rec(self.landcover), "indicators": rec(self.indicators), "potential": rec(self.potential),
            "potential_landcover": rec(self.potential_landcover), "measures": rec(self.measures),
            "possible": rec(self.possible), "subsidies": rec(self.subsidies), "caveats": list(self.caveats),
            "notes": list(self.notes), "tech_notes": list(self.tech_notes),
            "sources": list(self.sources),
        }


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, date | datetime):
        return v.isoformat()
    return v


def _check_args(radius_m: Any, surroundings_m: Any, lang: str, regions: Any) -> tuple[str, ...]:
    i18n.check_lang(lang)
    for name, v, hi in (("radius_m", radius_m, MAX_RADIUS_M), ("surroundings_m", surroundings_m, MAX_SURROUNDINGS_M)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not 0 < v <= hi:
            raise ConfigError(f"{name} must be a distance above 0 and at most {hi:g} m, got {v!r}.",
                              hint="A house with its garden: radius_m 15-30; a block: 50-100.")
    if isinstance(regions, str):
        regions = (regions,)
    regs = tuple(str(r) for r in regions)
    if not regs:
        raise ConfigError("No subsidy region given.", hint="Use regions=('NL',) for national schemes only.")
    return regs


def plot_report(run_dir: str | Path, *, x: float, y: float, radius_m: float = 25.0, lang: str = "nl",
                out_dir: str | Path | None = None, label: str | None = None, crs: str | None = None,
                geometry: Any = None, what: str = "", regions: Sequence[str] = ("NL",), on: date | None = None,
                surroundings_m: float = 100.0, params_dir: str | Path | None = None, pdf: bool = True,
                map_image: bool = True, extra_sources: Sequence[Mapping[str, str]] = ()) -> PlotReport:
    """The report of the plot around ``(x, y)`` (in ``crs``, default the run's CRS) of the run in ``run_dir``.

    The plot is the circle of ``radius_m`` around the point, or ``geometry`` (a shapely polygon in ``crs``)
    when given (``what`` says what it is, e.g. "buurt Oud Krispijn"). ``regions``: the catalogue's subsidy
    regions that apply (e.g. ``("NL", "AGV")``); ``on``: the date for open subsidies (default today). With
    ``out_dir`` the report is also written there (:func:`write_plot_report`; ``pdf=False`` skips the PDF).
    ``extra_sources``: further sources to credit (dicts with ``attribution``, ``licence``, ``date``), e.g. the
    geocoder."""
    from ..measures.finance import load_finance_params
    from ..runs import open_run

    regs = _check_args(radius_m, surroundings_m, lang, regions)
    try:
        x, y = float(x), float(y)
    except (TypeError, ValueError):
        raise InputDataError(f"The point ({x!r}, {y!r}) is not two numbers.") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InputDataError(f"The point ({x}, {y}) is not finite.")
    run = open_run(run_dir, params_dir=Path(params_dir) if params_dir is not None else None)
    grid = run.grid
    if crs is not None:
        from ..sources.geocode import transform_point

        x, y = transform_point(x, y, crs, grid.crs)
        if geometry is not None:
            from pyproj import Transformer

            tr = Transformer.from_crs(crs, grid.crs, always_xy=True)
            geometry = shapely.transform(geometry, lambda a: np.column_stack(tr.transform(a[:, 0], a[:, 1])))
    if geometry is not None:
        if not hasattr(geometry, "geom_type") or geometry.geom_type not in ("Polygon", "MultiPolygon") \
                or geometry.is_empty:
            raise InputDataError("The plot geometry must be a (multi)polygon.")
        plot_geom = shapely.make_valid(geometry)
        kind = "polygon"
    else:
        plot_geom = shapely.Point(x, y).buffer(radius_m, quad_segs=CIRCLE_SIDES // 4)
        kind = "disc"
    gx0, gy0, gx1, gy1 = grid.bounds
    if not plot_geom.intersects(shapely.box(gx0, gy0, gx1, gy1)):
        raise NoOverlapError(
            f"The point ({x:.1f}, {y:.1f}) in {grid.crs} lies outside the grid of the run {run_dir} "
            f"(x {gx0:g}-{gx1:g}, y {gy0:g}-{gy1:g}).",
            hint="Check the address or coordinates, or use the run of the area where the plot lies.")
    surr_geom = plot_geom.buffer(surroundings_m, quad_segs=CIRCLE_SIDES // 4)

    # the window: the surroundings grown by the context margin, clipped to the grid
    wx0, wy0, wx1, wy1 = surr_geom.buffer(CONTEXT_MARGIN_M).bounds
    c0, c1 = max(0, math.floor((wx0 - grid.x0) / grid.cell)), min(grid.width, math.ceil((wx1 - grid.x0) / grid.cell))
    r0, r1 = max(0, math.floor((grid.y1 - wy1) / grid.cell)), min(grid.height, math.ceil((grid.y1 - wy0) / grid.cell))
    ctx = run.context(r0, r1, c0, c1)
    wgrid = ctx.grid
    fr = np.asarray(ctx.fractions, dtype=np.float64)
    known = np.nansum(fr, axis=0)
    w = cell_coverage(plot_geom, wgrid)
    ws = cell_coverage(surr_geom, wgrid)
    A = wgrid.cell_area
    known_m2 = float((w * known).sum() * A)
    if known_m2 <= 0:
        raise NoOverlapError(f"The plot around ({x:.1f}, {y:.1f}) lies outside the area of the run {run_dir} "
                             "(no land cover there).",
                             hint="Check the address or coordinates, or use the run of the area where the plot lies.")
    plot_m2 = float(w.sum() * A)
    legend = run.legend

    # --- land cover -------------------------------------------------------------------------
    fr0 = np.nan_to_num(fr, nan=0.0)
    plot_k = (fr0 * w).sum(axis=(1, 2)) * A
    surr_k = (fr0 * ws).sum(axis=(1, 2)) * A
    lc = pd.DataFrame({
        "key": legend.keys, "code": legend.codes,
        "name": [c.name_nl if lang == "nl" else c.name_en for c in legend.classes],
        "colour": [c.colour for c in legend.classes],
        "plot_m2": plot_k, "plot_share": plot_k / known_m2,
        "surroundings_share": surr_k / surr_k.sum() if surr_k.sum() > 0 else np.nan,
    })
    unknown_share = float(lc.loc[lc["key"] == "unknown", "plot_share"].sum()) if "unknown" in legend.keys else 0.0

    # --- indicators ---------------------------------------------------------------------------
    names = set(ctx.rasters.keys()) if ctx.rasters else set()

    def flag_share(flag: str) -> np.ndarray:
        idx = [i for i, c in enumerate(legend.classes) if getattr(c, flag)]
        s = fr0[idx].sum(axis=0) if idx else np.zeros(wgrid.shape)
        return np.where(known > 0, s / np.where(known > 0, known, 1.0), np.nan)

    def raster(name: str) -> np.ndarray | None:
        if name in names:
            return np.asarray(ctx.rasters[name], dtype=np.float64)
        if name in ("green_share", "impervious_share"):  # fall back on the legend flags
            return flag_share(name.removesuffix("_share"))
        if name == "canopy_share" and "trees_woodland" in legend.keys:
            i = legend.keys.index("trees_woodland")
            return np.where(known > 0, fr0[i] / np.where(known > 0, known, 1.0), np.nan)
        return None

    nb, mun = _units_at(run.units, x, y, plot_geom if kind == "polygon" else None)
    rows = []
    values: dict[str, np.ndarray] = {}
    for name, en, nl, better, fmt, tol, ex_en, ex_nl in INDICATORS:
        a = raster(name)
        if a is None:
            continue
        values[name] = a
        pv = weighted_mean(a, w)
        nbv = _unit_value(nb, name)
        rows.append({"name": name, "label": nl if lang == "nl" else en, "explain": ex_nl if lang == "nl" else ex_en,
                     "better": better, "format": fmt, "plot": pv, "surroundings": weighted_mean(a, ws),
                     "neighbourhood": nbv, "municipality": _unit_value(mun, name),
                     "verdict": _verdict(pv, nbv, better, tol)})
    ind = pd.DataFrame(rows, columns=["name", "label", "explain", "better", "format", "plot", "surroundings",
                                      "neighbourhood", "municipality", "verdict"])
    shares = {k: float(ind.loc[ind["name"] == k, "plot"].iloc[0]) if (ind["name"] == k).any() else math.nan
              for k in ("green_share", "canopy_share", "impervious_share")}

    # --- stress test ----------------------------------------------------------------------------
    stress = _stress(ind, nb, run.params_dir, lang)

    # --- potential --------------------------------------------------------------------------------
    prow = []
    for name in POTENTIAL:
        if f"potential_{name}" not in names:
            continue
        now = weighted_mean(values[name], w) if name in values else math.nan
        pot = weighted_mean(ctx.rasters[f"potential_{name}"], w)
        gap = weighted_mean(ctx.rasters[f"gap_{name}"], w) if f"gap_{name}" in names else pot - now
        r = _IND[name]
        prow.append({"name": name, "label": r[2] if lang == "nl" else r[1], "format": r[4], "better": r[3],
                     "now": now, "could_be": pot, "change": gap})
    pot_df = pd.DataFrame(prow, columns=["name", "label", "format", "better", "now", "could_be", "change"])
    plc = pd.DataFrame(columns=["key", "name", "share"])
    if "potential_landcover" in names:
        codes = np.asarray(ctx.rasters["potential_landcover"])
        tot = 0.0
        prs = []
        for c in legend.classes:
            m = codes == c.code
            s = float(w[m].sum())
            tot += s
            prs.append({"key": c.key, "name": c.name_nl if lang == "nl" else c.name_en, "share": s})
        if tot > 0:
            plc = pd.DataFrame(prs)
            plc["share"] = plc["share"] / tot
            plc = plc[plc["share"] > 0].sort_values("share", ascending=False).reset_index(drop=True)

    # --- measures ---------------------------------------------------------------------------------
    cat = _catalogue(run.params_dir, legend)
    fin = load_finance_params(params_dir=run.params_dir)
    on = on or date.today()
    meas, possible, subs, unknown_vars = _measures(run, ctx, (r0, c0), w, cat, fin, regs, on, lang)

    area = run.manifest.get("parameters", {}).get("area", {}) if isinstance(run.manifest.get("parameters"), dict) else {}
    area_name = str(area.get("name") or mun.get("name") or "")
    area_code = str(area.get("code") or mun.get("code") or "")
    caveats = []
    if unknown_share > 0.1:
        caveats.append(_s("unknown_high", lang, p=i18n.fmt_pct(unknown_share, lang)))
    mixed = float(lc.loc[lc["key"] == "urban_mixed", "plot_share"].sum()) if "urban_mixed" in legend.keys else 0.0
    if mixed > 0.1:
        caveats.append(_s("mixed_high", lang, p=i18n.fmt_pct(mixed, lang)))
    notes = []
    miss = sorted({v for n in unknown_vars for v in re.findall(r"\((\w+)\):", n)})
    if miss:
        notes.append(_s("unknown_data", lang, what=i18n.join_list([_pair(_MISSING_NAMES, v, lang) for v in miss], lang)))
    if (meas["unit"].isin(COUNTABLE)).any():
        notes.append(_s("whole_note", lang))
    rep = PlotReport(
        run_dir=str(run_dir), lang=lang, label=label or _default_label(x, y, grid.crs, lang), x=x, y=y, crs=grid.crs,
        kind=kind, radius_m=float(radius_m) if kind == "disc" else None, surroundings_m=float(surroundings_m),
        plot_area_m2=plot_m2, known_area_m2=known_m2, unknown_share=unknown_share, cells=int((w > 0).sum()),
        area_name=area_name, area_code=area_code, run_date=str(run.manifest.get("created", ""))[:10], regions=regs,
        landcover=lc, shares=shares, indicators=ind, stress=stress, potential=pot_df, potential_landcover=plc,
        measures=meas, possible=possible, subsidies=subs, neighbourhood=nb, municipality=mun,
        finance={"rate": fin.discount_rate, "horizon_yr": fin.horizon_yr, "on": on.isoformat()},
        caveats=caveats, notes=notes, tech_notes=unknown_vars, sources=_sources(run.manifest) + list(extra_sources),
        geometry=plot_geom,
        created=datetime.now(UTC).date().isoformat(), what=what)
    if map_image:
        rep.map_png = _map_png(ctx, legend, plot_geom, surr_geom, (x, y) if kind == "disc" else None, lang,
                               rep.sources)
    if out_dir is not None:
        write_plot_report(rep, out_dir, pdf=pdf)
    return rep


_CATALOGUES: dict[tuple[Any, ...], Any] = {}


def _catalogue(params_dir: Path | None, legend: Any) -> Any:
    """The validated catalogue, kept while its files (catalogue, guide species) are unchanged."""
    from ..indicators.base import params_path
    from ..measures.catalogue import MEASURES_FILE, data_path, load_catalogue

    key: list[Any] = [str(params_dir), legend.path, legend.keys.__repr__()]
    for p in (data_path(MEASURES_FILE, params_dir), params_path("guide_species.yaml", params_dir)):
        try:
            st = Path(p).stat()
            key += [str(p), st.st_mtime_ns, st.st_size]
        except OSError:
            key += [str(p), None, None]
    k = tuple(key)
    if k not in _CATALOGUES:
        _CATALOGUES.clear()
        _CATALOGUES[k] = load_catalogue(params_dir=params_dir, legend=legend)
    return _CATALOGUES[k]


def _default_label(x: float, y: float, crs: str, lang: str) -> str:
    return f"{_s('point', lang)} x {i18n.fmt_num(x, lang, 0)}, y {i18n.fmt_num(y, lang, 0)} ({crs})"


def _verdict(plot: float, nb: float, better: str, tol: float) -> str:
    if not (math.isfinite(plot) and math.isfinite(nb)):
        return ""
    d = plot - nb
    if abs(d) <= tol:
        return "same"
    return "better" if (d > 0) == (better == "high") else "worse"


def _units_at(units: Mapping[str, Any], x: float, y: float, geom: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The finest unit (buurt first) and the municipality at the point (or overlapping ``geom`` most)."""
    pt = shapely.Point(x, y)

    def pick(gdf: Any, level: str) -> dict[str, Any]:
        if gdf is None or not len(gdf):
            return {}
        if geom is None:
            hit = gdf[gdf.geometry.covers(pt)]
            if not len(hit):
                return {}
            row = hit.iloc[0]
        else:
            ov = gdf.geometry.intersection(geom).area
            if not (ov > 0).any():
                return {}
            row = gdf.loc[ov.idxmax()]
        out = {k: row[k] for k in row.index if k != "geometry"}
        out["level"] = str(out.get("level") or level)
        out["code"] = str(out.get("code", ""))
        out["name"] = str(out.get("name") or out["code"])
        return out

    levels = [lv for lv in ("buurt", "hexagon", "wijk") if lv in units] + \
        [lv for lv in units if lv not in ("buurt", "hexagon", "wijk", "gemeente")]
    nb: dict[str, Any] = {}
    for lv in levels:
        nb = pick(units[lv], lv)
        if nb:
            break
    mun = pick(units.get("gemeente"), "gemeente")
    return nb, mun


def _unit_value(unit: Mapping[str, Any], name: str) -> float:
    for col in (f"{name}_mean", name if name.endswith("_share") else ""):
        if col and col in unit:
            try:
                v = float(unit[col])
            except (TypeError, ValueError):
                continue
            if math.isfinite(v):
                return v
    return math.nan


def _stress(ind: pd.DataFrame, nb: Mapping[str, Any], params_dir: Path | None, lang: str) -> dict[str, Any]:
    from ..stresstest.classes import classify, load_classes

    classes = load_classes(params_dir)
    by = {c.code: c for c in classes}
    out: dict[str, Any] = {"score": math.nan, "code": None, "label": "", "colour": "", "nb_score": math.nan,
                           "nb_code": None, "nb_label": "", "nb_colour": ""}
    hit = ind[ind["name"] == "stress_score"]
    for prefix, v in (("", float(hit["plot"].iloc[0]) if len(hit) else math.nan),
                      ("nb_", _unit_value(nb, "stress_score"))):
        if not math.isfinite(v):
            continue
        k = int(classify(float(min(max(v, 0.0), 1.0)), classes))
        c = by[k]
        out.update({f"{prefix}score": v, f"{prefix}code": k, f"{prefix}label": c.label_nl if lang == "nl" else c.label_en,
                    f"{prefix}colour": c.colour})
    out["n_classes"] = len(classes)
    return out


def _crop_variables(variables: Any, sl: tuple[slice, slice]) -> Any:
    from ..measures.rules import Categorical
    from ..opportunity.variables import RuleVariables

    vals = {}
    for k, v in variables.items():
        if isinstance(v, Categorical):
            vals[k] = Categorical(np.asarray(v.codes)[sl], v.labels)
        elif getattr(v, "ndim", 0) == 2:
            vals[k] = np.asarray(v)[sl]
        else:
            vals[k] = v
    return RuleVariables(vals, variables.missing, variables.notes)


def _measures(run: Any, ctx: Any, origin: tuple[int, int], w: np.ndarray, cat: Any, fin: Any,
              regions: tuple[str, ...], on: date, lang: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    from ..measures.finance import cost_breakdown, select_subsidies
    from ..measures.rules import CATEGORIES, Rule, evaluate
    from ..opportunity.compute import measure_layers
    from ..opportunity.variables import UNKNOWN_REASONS, rule_variables

    rows_any = np.flatnonzero((w > 0).any(axis=1))
    cols_any = np.flatnonzero((w > 0).any(axis=0))
    sl = (slice(int(rows_any[0]), int(rows_any[-1]) + 1), slice(int(cols_any[0]), int(cols_any[-1]) + 1))
    variables = rule_variables(ctx)
    sub_vars = _crop_variables(variables, sl)
    wg = ctx.grid
    R0, C0 = origin
    sub_ctx = run.context(R0 + sl[0].start, R0 + sl[0].stop, C0 + sl[1].start, C0 + sl[1].stop)
    ws = w[sl]
    inplot = ws > 0
    fitting = [m.id for m in cat.measures
               if (np.asarray(evaluate(Rule.parse(m.fits.rule), sub_vars, missing="false").value, bool) & inplot).any()]
    layers = measure_layers(sub_ctx, cat, fitting, variables=sub_vars, regions=(), on=on) if fitting else {}
    A = wg.cell_area
    rows: list[dict[str, Any]] = []
    possible: list[dict[str, Any]] = []
    missing_used: dict[str, list[str]] = {}
    listed: list[Any] = []
    for m in cat.measures:
        lay = layers.get(m.id)
        fits = np.asarray(lay["fits"], bool) & inplot if lay is not None else np.zeros_like(inplot)
        name = m.name_nl if lang == "nl" else m.name_en
        if not fits.any():
            rule = Rule.parse(m.fits.rule)
            miss = rule.missing(sub_vars)
            for v in miss:
                missing_used.setdefault(v, []).append(m.id)
            cond = _possible_condition(rule, sub_vars, miss, inplot, CATEGORIES, evaluate)
            if cond is not None:
                possible.append({"id": m.id, "name": name, "condition": " & ".join(_cond_text(k, v, lang)
                                                                                 for k, v in cond.items()),
                                 "explain": m.explain_nl if lang == "nl" else m.explain_en,
                                 "group": _group(m)})
                listed.append(m)
            continue
        listed.append(m)
        if m.quantity.basis == "site":
            q = float(m.quantity.per_site)
            gains = _site_values(lay, fits)
        else:
            raw = float((ws[fits] * np.nan_to_num(lay["units"][fits])).sum())
            q = float(max(1, round(raw))) if m.unit in COUNTABLE and raw > 0 else raw
            scale = q / raw if raw > 0 else 1.0  # gains follow the whole pieces
            gains = {k: scale * float((ws[fits] * np.nan_to_num(lay[k][fits])).sum()) for k in _GAIN_LAYERS}
        subs = select_subsidies(m, regions, on)
        b = cost_breakdown(m, q, subs, params=fin)
        rows.append({
            "id": m.id, "name": name, "explain": m.explain_nl if lang == "nl" else m.explain_en, "group": _group(m),
            "setting": m.setting, "scale": m.scale, "owner": m.owner, "unit": m.unit, "quantity": q,
            "capex_eur": float(b.capex), "subsidy_eur": float(b.subsidy), "net_capex_eur": float(b.net_capex),
            "opex_eur_yr": float(b.opex_yr), "revenue_eur_yr": float(b.revenue_yr), "avoided_eur_yr": float(b.avoided_yr),
            "npv_eur": float(b.npv), "eac_eur_yr": float(b.eac), "payback_year": float(b.payback_year),
            "replacements": int(b.replacements), "gain_bio_m2": gains["gain_bio"], "cooling": gains["cooling"],
            "water_m3": gains["water_m3"], "gain_m2": gains["gain"], "cells_fit": int(fits.sum()),
            "fit_area_m2": float(ws[fits].sum() * A), "gain_is_proxy": not m.transitions,
            "species_groups": ";".join(m.species_groups), "capex_ev": m.capex_eur.ev, "fits_ev": m.fits.ev,
            "unquantified": ";".join(b.unquantified),
            "subsidies_counted": "; ".join(s.programme for s in subs),
        })
    cols = ["id", "name", "explain", "group", "setting", "scale", "owner", "unit", "quantity", "capex_eur",
            "subsidy_eur", "net_capex_eur", "opex_eur_yr", "revenue_eur_yr", "avoided_eur_yr", "npv_eur", "eac_eur_yr",
            "payback_year", "replacements", "gain_bio_m2", "cooling", "water_m3", "gain_m2", "cells_fit",
            "fit_area_m2", "gain_is_proxy", "species_groups", "capex_ev", "fits_ev", "unquantified",
            "subsidies_counted"]
    meas = pd.DataFrame(rows, columns=cols)
    pos = pd.DataFrame(possible, columns=["id", "name", "condition", "explain", "group"])
    srows = []
    for m in listed:
        for s in m.subsidies:
            counted = s.region in regions and (s.valid_until is None or s.valid_until >= on)
            fits_now = m.id in set(meas["id"])
            expired = s.valid_until is not None and s.valid_until < on
            reason = "" if counted else (_s("expired", lang, d=s.valid_until.isoformat()) if expired
                                         else _s("other_region", lang, r=s.region) if s.region not in regions else "")
            srows.append({"measure": m.id, "measure_name": m.name_nl if lang == "nl" else m.name_en,
                          "programme": s.programme, "region": s.region, "text": _subsidy_text(s, m.unit, lang),
                          "counted": bool(counted and fits_now), "reason": reason, "ev": s.ev,
                          "source": ";".join(s.source), "valid_until": s.valid_until.isoformat() if s.valid_until else ""})
    subs_df = pd.DataFrame(srows, columns=["measure", "measure_name", "programme", "region", "text", "counted",
                                           "reason", "ev", "source", "valid_until"])
    notes = []
    for v, ids in sorted(missing_used.items()):
        reason = UNKNOWN_REASONS.get(v, v)
        notes.append(f"unknown: {reason} ({v}): {', '.join(ids)}")
    return meas, pos, subs_df, notes


_GAIN_LAYERS = ("gain_bio", "cooling", "water_m3", "gain")


def _site_values(lay: Mapping[str, np.ndarray], fits: np.ndarray) -> dict[str, float]:
    """The gains of a per-site measure (one crossing): those of its best fitting cell."""
    best = np.where(fits, np.nan_to_num(lay["gain"], nan=-np.inf), -np.inf)
    i = np.unravel_index(int(np.argmax(best)), best.shape)
    return {k: float(np.nan_to_num(lay[k][i])) for k in _GAIN_LAYERS}


def _group(m: Any) -> str:
    return "own" if m.owner in ("private", "both") and m.scale in ("building", "plot") else "shared"


def _possible_condition(rule: Any, variables: Any, missing: Sequence[str], inplot: np.ndarray,
                        categories: Mapping[str, Sequence[str]], evaluate: Any) -> dict[str, str] | None:
    """The first assignment of labels to the absent categorical variables under which the rule holds in a plot
    cell (None when an absent variable is not categorical or no assignment works)."""
    if not missing or any(v not in categories for v in missing):
        return None
    for combo in itertools.product(*[[lab for lab in categories[v] if lab != "unknown"] for v in missing]):
        trial = dict(variables)
        trial.update(dict(zip(missing, combo, strict=True)))
        val = np.asarray(evaluate(rule, trial, missing="false").value, bool)
        if np.broadcast_to(val, inplot.shape)[inplot].any():
            return dict(zip(missing, combo, strict=True))
    return None


def _cond_text(var: str, label: str, lang: str) -> str:
    key = f"cond_{var}_{label}"
    return _s(key, lang) if key in _S else f"{var} = {label}"


def _subsidy_text(s: Any, unit: str, lang: str) -> str:
    if s.per == "unit":
        txt = _s("per_unit", lang, a=i18n.fmt_num(s.amount_eur, lang, 2 if s.amount_eur % 1 else 0),
                 u=_pair(_UNIT1, unit, lang))
    elif s.per == "share_of_capex":
        txt = _s("share_capex", lang, p=i18n.fmt_pct(s.share, lang))
    else:
        txt = _s("per_application", lang, a=i18n.fmt_num(s.amount_eur, lang))
    if s.max_eur is not None:
        txt += ", " + _s("max", lang, a=i18n.fmt_num(s.max_eur, lang))
    if s.valid_until is not None:
        txt += ", " + _s("until", lang, d=s.valid_until.isoformat())
    return txt


def _sources(manifest: Mapping[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    area = (manifest.get("parameters") or {}).get("area") or {}
    items = list(area.get("sources") or [])
    if isinstance(area.get("units"), dict) and area["units"].get("attribution"):
        items.append({"name": "units", **area["units"]})
    items += [i for i in manifest.get("inputs") or [] if isinstance(i, dict)]
    for s in items:
        att = str(s.get("attribution") or "").strip()
        if not att or att in seen:
            continue
        seen.add(att)
        out.append({"name": str(s.get("name") or ""), "attribution": att, "licence": str(s.get("licence") or ""),
                    "date": str(s.get("date") or "")})
    return out


# --------------------------------------------------------------------------------------------
# the map
# --------------------------------------------------------------------------------------------

def _map_png(ctx: Any, legend: Any, plot_geom: Any, surr_geom: Any, pt: tuple[float, float] | None, lang: str,
             sources: list[dict[str, str]]) -> bytes:
    """A small PNG: the dominant land cover around the plot, the plot (solid) and surroundings (dashed)
    outlines, the point, a scale bar and a north arrow."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrow, Rectangle

    from ..maps.preview import format_length, nice_scale_length

    g = ctx.grid
    x0, y0, x1, y1 = surr_geom.buffer(max(20.0, 0.15 * math.sqrt(surr_geom.area))).bounds
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    x0, x1, y0, y1 = cx - side / 2, cx + side / 2, cy - side / 2, cy + side / 2
    dom = np.asarray(ctx.dominant)
    lut = np.zeros((256, 4), np.uint8)
    for c in legend.classes:
        lut[c.code] = c.rgba
    rgba = lut[dom]
    fig = Figure(figsize=(4.2, 4.2), dpi=MAP_DPI)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_facecolor("#ffffff")
    gx0, gy0, gx1, gy1 = g.bounds
    ax.imshow(rgba, extent=(gx0, gx1, gy0, gy1), interpolation="nearest", origin="upper")
    for geom, style in ((surr_geom, {"ls": (0, (4, 3)), "lw": 1.4}), (plot_geom, {"ls": "-", "lw": 2.4})):
        polys = getattr(geom, "geoms", [geom])
        for p in polys:
            xs, ys = p.exterior.xy
            ax.plot(xs, ys, color="white", lw=style["lw"] + 2.0, ls="-", solid_capstyle="round")
            ax.plot(xs, ys, color="#111111", **style)
    if pt is not None:
        ax.plot([pt[0]], [pt[1]], marker="o", ms=6, mfc="#d7191c", mec="white", mew=1.5)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    # scale bar (bottom left) and north arrow (top right)
    L = nice_scale_length(side, 0.3)
    bx, by = x0 + 0.05 * side, y0 + 0.06 * side
    ax.add_patch(Rectangle((bx - 0.015 * side, by - 0.03 * side), L + 0.03 * side, 0.085 * side, fc="white", ec="none",
                           alpha=0.85))
    ax.add_patch(Rectangle((bx, by), L, 0.012 * side, fc="#111111", ec="#111111"))
    ax.text(bx + L / 2, by + 0.022 * side, format_length(L), ha="center", va="bottom", fontsize=7)
    nx, ny = x1 - 0.07 * side, y1 - 0.16 * side
    ax.add_patch(FancyArrow(nx, ny, 0, 0.08 * side, width=0.012 * side, head_width=0.04 * side,
                            head_length=0.035 * side, length_includes_head=True, color="#111111"))
    ax.text(nx, ny + 0.09 * side, "N", ha="center", va="bottom", fontsize=8, fontweight="bold")
    att = "; ".join(s["attribution"] for s in sources[:2])
    if att:
        ax.text(x1 - 0.01 * side, y0 + 0.01 * side, att, ha="right", va="bottom", fontsize=5.5, color="#333333",
                bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1.0})
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=MAP_DPI)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# HTML, PDF, JSON
# --------------------------------------------------------------------------------------------

def _fmt(v: Any, fmt: str, lang: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return i18n.DASH
    if fmt == "pct":
        return i18n.fmt_pct(v, lang)
    if fmt == "idx":
        return i18n.fmt_num(v, lang, 2)
    if fmt == "mm":
        return f"{i18n.fmt_num(v, lang, 0)} mm"
    if fmt == "db":
        return f"{i18n.fmt_num(v, lang, 0)} dB"
    return i18n.fmt_value(v, lang)


def _fmt_change(v: Any, fmt: str, lang: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return i18n.DASH
    if fmt == "pct":
        s = f"{i18n.fmt_num(100 * v, lang, 0)} %-pt" if lang == "en" else f"{i18n.fmt_num(100 * v, lang, 0)} %-punt"
    else:
        s = _fmt(v, fmt, lang)
    return ("+" + s) if v > 0 and not s.startswith(("+", "\u2212")) else s


def _amount(q: float, unit: str, lang: str) -> str:
    if not math.isfinite(q):
        return i18n.DASH
    digits = 0 if q >= 10 or unit in ("unit", "tree", "crossing") else 1
    if unit == "ha":
        digits = 2
    n = i18n.fmt_num(q, lang, digits)
    return f"{n} {_pair(_UNIT1 if n in ('1', '1,0', '1.0') else _UNITS, unit, lang)}"


def _brings(r: Mapping[str, Any], lang: str) -> str:
    parts = []
    if math.isfinite(r["water_m3"]) and r["water_m3"] >= 0.05:
        parts.append(_s("brings_water", lang, v=i18n.fmt_num(r["water_m3"], lang, 1 if r["water_m3"] < 10 else 0)))
    if math.isfinite(r["gain_bio_m2"]) and r["gain_bio_m2"] >= 0.5:
        parts.append(_s("brings_nature", lang, v=i18n.fmt_num(r["gain_bio_m2"], lang, 0)))
    if math.isfinite(r["cooling"]) and r["cooling"] > 0.05:
        parts.append(_s("brings_cool", lang))
    groups = [g for g in str(r.get("species_groups") or "").split(";") if g]
    if groups:
        parts.append(_s("brings_for", lang, groups=i18n.join_list([_pair(_GROUPS, g, lang) for g in groups], lang)))
    return "; ".join(parts) or _s("not_quantified", lang)


#: smallest change that shows after rounding (per format): smaller ones are not coloured good or bad
_SHOWN_CHANGE = {"pct": 0.005, "idx": 0.005, "mm": 0.5, "db": 0.5}


def _page_data(rep: PlotReport) -> dict[str, Any]:
    lang = rep.lang
    S = {k: _s(k, lang) for k in _S if "{" not in _s(k, lang)}
    nb_name = rep.neighbourhood.get("name") or ""
    nb_level = _pair(_LEVELS, str(rep.neighbourhood.get("level", "buurt")), lang)
    nb_text = f"{nb_level} {nb_name}".strip() if nb_name else _s("no_nb", lang)
    m2 = f"{i18n.fmt_num(rep.plot_area_m2, lang, 0)} m²"
    if rep.kind == "disc":
        plot_text = _s("plot_disc", lang, r=i18n.fmt_length(rep.radius_m, lang), area=m2)
    else:
        plot_text = _s("plot_poly", lang, what=rep.what or rep.label, area=m2)
    summary = [_s("s_green", lang, green=_fmt(rep.shares.get("green_share"), "pct", lang),
                  paved=_fmt(rep.shares.get("impervious_share"), "pct", lang),
                  canopy=_fmt(rep.shares.get("canopy_share"), "pct", lang))]
    gi = rep.indicators.set_index("name") if len(rep.indicators) else pd.DataFrame()
    if "green_share" in gi.index and math.isfinite(gi.loc["green_share", "neighbourhood"]):
        summary.append(_s("s_green_nb", lang, nb=nb_text, green=_fmt(gi.loc["green_share", "neighbourhood"], "pct", lang),
                          paved=_fmt(gi.loc["impervious_share", "neighbourhood"] if "impervious_share" in gi.index
                                     else math.nan, "pct", lang)))
    summary.extend(rep.caveats)
    st = rep.stress
    later: list[str] = []
    if st.get("nb_code"):
        later.append(_s("s_class_nb", lang, code=st["nb_code"], label=st["nb_label"].lower()))
    m = rep.measures
    if len(m):
        later.append(_s("s_measures", lang, n=len(m), own=int((m["group"] == "own").sum())))
        cost = m["npv_eur"].abs().where(m["npv_eur"].abs() > 0)
        eff = m.assign(per=m["gain_m2"] / cost)
        top = eff[np.isfinite(eff["per"]) & (eff["gain_m2"] > 0)].sort_values("per", ascending=False).head(3)
        if len(top):
            later.append(_s("s_top", lang, names=i18n.join_list(top["name"].str.lower(), lang)))
    else:
        later.append(_s("s_none", lang))

    lc = rep.landcover[(rep.landcover["plot_m2"] > 0.05) | (rep.landcover["surroundings_share"] > 0.005)]
    lc = lc.sort_values(["plot_m2", "surroundings_share"], ascending=False)
    lc_rows = [{"name": r["name"], "colour": r["colour"], "m2": i18n.fmt_num(r["plot_m2"], lang, 0),
                "share": i18n.fmt_pct(r["plot_share"], lang), "surr": i18n.fmt_pct(r["surroundings_share"], lang)}
               for _, r in lc.iterrows()]
    ind = rep.indicators[rep.indicators[["plot", "neighbourhood", "municipality"]].notna().any(axis=1)]
    ind_rows = [{"label": r["label"], "explain": r["explain"], "plot": _fmt(r["plot"], r["format"], lang),
                 "nb": _fmt(r["neighbourhood"], r["format"], lang), "mun": _fmt(r["municipality"], r["format"], lang),
                 "verdict": _s(r["verdict"], lang) if r["verdict"] else "", "vclass": r["verdict"]}
                for _, r in ind.iterrows()]
    pot_rows = []
    for _, r in rep.potential.iterrows():
        ch = r["change"]
        moved = math.isfinite(ch) and abs(ch) >= _SHOWN_CHANGE.get(r["format"], 1e-6)
        pot_rows.append({"label": r["label"], "now": _fmt(r["now"], r["format"], lang),
                         "could": _fmt(r["could_be"], r["format"], lang), "change": _fmt_change(ch, r["format"], lang),
                         "good": ((ch > 0) == (r["better"] == "high")) if moved else None})
    plc = rep.potential_landcover.head(3)
    pot_lc = _s("potential_lc", lang, names=i18n.join_list(
        [f"{r['name'].lower()} ({i18n.fmt_pct(r['share'], lang)})" for _, r in plc.iterrows()], lang)) if len(plc) else ""

    def money(v: float) -> str:
        return i18n.fmt_eur(v, lang) if math.isfinite(v) else _s("unknown_cost", lang)

    def mrows(group: str) -> list[dict[str, Any]]:
        out = []
        for _, r in rep.measures[rep.measures["group"] == group].iterrows():
            row = {"name": r["name"], "explain": r["explain"], "ev": r["capex_ev"]}
            if not r["quantity"] > 0:
                row.update({"amount": i18n.DASH, "capex": i18n.DASH, "subsidy": i18n.DASH, "net": i18n.DASH,
                            "year": i18n.DASH, "brings": _s("no_surface", lang), "muted": True})
            else:
                pay = r["payback_year"]
                brings = _brings(r, lang)
                if math.isfinite(pay) and pay > 0:
                    brings += "; " + _s("payback", lang, n=int(pay))
                row.update({"amount": _amount(r["quantity"], r["unit"], lang), "capex": money(r["capex_eur"]),
                            "subsidy": money(r["subsidy_eur"]) if r["subsidy_eur"] > 0 else i18n.DASH,
                            "net": money(r["net_capex_eur"]), "year": money(r["eac_eur_yr"]), "brings": brings,
                            "muted": False})
            out.append(row)
        return out

    # subsidies grouped by scheme: one row per programme and region, the measures and amounts inside
    sub_rows = []
    if len(rep.subsidies):
        for (prog, region), g in rep.subsidies.groupby(["programme", "region"], sort=False):
            counted = bool(g["counted"].any())
            sub_rows.append({"programme": prog, "ev": "/".join(sorted(set(g["ev"]))),
                             "lines": [_s("sub_for", lang, measure=r["measure_name"], text=r["text"])
                                       for _, r in g.iterrows()],
                             "counted": _s("yes", lang) if counted else (g["reason"].iloc[0] or _s("no", lang)),
                             "region": region})
    regions = i18n.join_list(rep.regions, lang)
    area = f"{rep.area_name} ({rep.area_code})" if rep.area_code else rep.area_name
    return {
        "lang": lang, "S": S, "label": rep.label, "plot_text": plot_text,
        "surr_text": _s("surroundings_are", lang, d=i18n.fmt_length(rep.surroundings_m, lang)),
        "made": _s("made", lang, date=rep.created, area=rep.area_name or "?", run_date=rep.run_date or "?"),
        "summary": summary, "summary_later": later, "stress": st, "n_classes": st.get("n_classes", 5),
        "map": base64.b64encode(rep.map_png).decode("ascii") if rep.map_png else None,
        "lc_rows": lc_rows, "lc_note": _s("lc_note", lang, unknown=_unknown_name(rep))
        if (lc["key"] == "unknown").any() else "", "ind_rows": ind_rows,
        "nb_text": nb_text, "mun_text": rep.municipality.get("name") or "", "pot_rows": pot_rows, "pot_lc": pot_lc,
        "own": mrows("own"), "shared": mrows("shared"),
        "possible": [{"name": r["name"], "condition": r["condition"], "explain": r["explain"]}
                     for _, r in rep.possible.iterrows()],
        "subsidies": sub_rows, "sub_note": _s("sub_note", lang, regions=regions, area=area or "?"),
        "cost_note": _s("cost_note", lang, h=rep.finance.get("horizon_yr", 30),
                        r=i18n.fmt_pct(rep.finance.get("rate", math.nan), lang, 2)),
        "notes": rep.notes, "sources": rep.sources,
    }


def _unknown_name(rep: PlotReport) -> str:
    hit = rep.landcover[rep.landcover["key"] == "unknown"]
    return str(hit["name"].iloc[0]) if len(hit) else "unknown"


def render_html(rep: PlotReport) -> str:
    """The report as one HTML page (the template ``report/templates/plot_report.html.j2``, autoescaped)."""
    import jinja2

    tpl = (resources.files("biostress") / "report" / "templates" / "plot_report.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(tpl).render(**_page_data(rep))


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _local_fetcher(root: Path) -> Any:
    """A WeasyPrint URL fetcher that serves ``data:`` URLs and files inside ``root`` and refuses everything else."""
    from urllib.parse import unquote, urlsplit

    weasyprint = _weasyprint()
    root = root.resolve()

    def check(url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "data":
            return
        if parts.scheme == "file" and parts.netloc in ("", "localhost"):
            p = Path(unquote(parts.path)).resolve()
            if p == root or root in p.parents:
                return
        raise ValueError(f"refused to fetch {url[:80]!r}: only data: URLs and files inside {root} are allowed")

    base = getattr(weasyprint, "URLFetcher", None)
    if base is not None:  # WeasyPrint >= 66: a URLFetcher subclass
        class LocalFetcher(base):  # type: ignore[misc, valid-type]
            def fetch(self, url: str, headers: Any = None) -> Any:
                check(url)
                return super().fetch(url, headers)

        return LocalFetcher(allowed_protocols=("data", "file"), allow_redirects=False)

    def fetcher(url: str, *args: Any, **kwargs: Any) -> Any:  # older WeasyPrint: a function returning a dict
        check(url)
        return weasyprint.default_url_fetcher(url, *args, **kwargs)

    return fetcher


def _weasyprint() -> Any:
    """WeasyPrint, or the report module's error that names the system packages to install."""
    try:
        from .pdf import load_weasyprint
    except ImportError:  # the shared report helpers are not there: import directly
        import weasyprint

        return weasyprint
    return load_weasyprint()


def render_pdf(html: str, out_dir: Path) -> bytes:
    """The PDF of ``html`` (WeasyPrint; resources only from ``data:`` URLs and files inside ``out_dir``)."""
    weasyprint = _weasyprint()
    return weasyprint.HTML(string=html, base_url=str(out_dir.resolve()) + os.sep,
                           url_fetcher=_local_fetcher(out_dir)).write_pdf()


_STEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")


def write_plot_report(rep: PlotReport, out_dir: str | Path, *, stem: str = "plot_report", pdf: bool = True,
                      json_file: bool = True) -> dict[str, Path]:
    """Write ``<stem>.html`` (and ``<stem>.json``, ``<stem>.pdf``) into ``out_dir`` (created when missing), each
    atomically, the PDF last: when WeasyPrint cannot be loaded the HTML and JSON are there and the error says
    what to install. Returns kind -> path (also kept in ``rep.files``)."""
    if not _STEM.match(stem) or stem.endswith("."):
        raise ConfigError(f"The file name {stem!r} is not a plain file name.", hint="Use letters, digits, - _ and .")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder.", hint="Give a folder for the report.")
    out.mkdir(parents=True, exist_ok=True)
    html = render_html(rep)
    files: dict[str, Path] = {}
    p = out / f"{stem}.html"
    _atomic_write(p, html.encode("utf-8"))
    files["html"] = p
    if json_file:
        p = out / f"{stem}.json"
        _atomic_write(p, (json.dumps(rep.to_dict(), indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
        files["json"] = p
    rep.files = {k: str(v) for k, v in files.items()}
    if pdf:
        p = out / f"{stem}.pdf"
        _atomic_write(p, render_pdf(html, out))
        files["pdf"] = p
        rep.files["pdf"] = str(p)
    return files


# --------------------------------------------------------------------------------------------
# the command line helper
# --------------------------------------------------------------------------------------------

def plot_report_cli(run_dir: str | Path, query: str, kind: str, lang: str = "nl", out_dir: str | Path | None = None,
                    geocoder: Any = None, *, radius_m: float = 25.0, regions: Sequence[str] = ("NL",),
                    pdf: bool = True, map_image: bool = True, plan_dir: str | Path | None = None) -> PlotReport:
    """Resolve ``query`` and write the plot report (what ``biostress plot`` calls).

    ``kind``: ``"address"`` (``geocoder``, default :class:`~biostress.sources.geocode.PdokLocatieserver`),
    ``"xy"`` (``"x, y"`` in the run's CRS or ``"lat, lon"``; :class:`~biostress.sources.geocode.CoordinateGeocoder`)
    or ``"unit"`` (a unit code or name, or a plan block ``site`` of the run:
    :class:`~biostress.sources.geocode.UnitGeocoder`, with the plan blocks of ``plan_dir`` when given; the plot
    is then that polygon). The best-scoring place is
    used. ``out_dir`` defaults to ``plot_<slug of the place>`` in the current folder (never inside the run)."""
    from ..runs import open_run
    from ..sources.geocode import CoordinateGeocoder, PdokLocatieserver, UnitGeocoder

    i18n.check_lang(lang)
    if kind not in ("address", "xy", "unit"):
        raise ConfigError(f"Unknown kind of plot query {kind!r}.", hint="Use 'address', 'xy' or 'unit'.")
    run = open_run(run_dir)
    if geocoder is None:
        geocoder = {"address": PdokLocatieserver, "xy": lambda: CoordinateGeocoder(run.grid.crs),
                    "unit": lambda: UnitGeocoder.from_run(run_dir, plan_dir)}[kind]()
    places = geocoder.search(query)
    if not places:
        what = {"address": "address", "xy": "coordinates", "unit": "unit, plan block or parcel"}[kind]
        raise InputDataError(f"No place found for the {what} {query!r}.",
                             hint={"address": "Check the spelling; give street, house number and place, e.g. "
                                              "'Nieuwe Haven 29, Dordrecht'.",
                                   "xy": "Give 'x, y' in RD New or 'latitude, longitude'.",
                                   "unit": "Give a buurt or wijk code (e.g. BU05050100), its name, a plan block "
                                           "number or a parcel id (e.g. DDT00 K 1234) of a run with parcels."}[kind])
    place = max(places, key=lambda p: p.score)
    geom = place.geometry if kind == "unit" else None
    what, label = "", place.label
    if geom is not None and place.kind == "plan_block":
        what = _s("block_what", lang, id=place.id)
        label = what + _block_measures(geocoder, place.id, run, lang)
    elif geom is not None:
        what = _s("unit_what", lang, level=_pair(_LEVELS, place.kind, lang), name=place.label)
    if out_dir is None:
        slug = re.sub(r"[^a-z0-9]+", "_", place.label.casefold()).strip("_")[:60] or "plot"
        out_dir = Path.cwd() / f"plot_{slug}"
    return plot_report(run_dir, x=place.x, y=place.y, crs=place.crs, radius_m=radius_m, lang=lang, out_dir=out_dir,
                       label=label, geometry=geom, what=what, regions=regions, pdf=pdf, map_image=map_image,
                       extra_sources=_geocoder_sources(geocoder))


def _block_measures(geocoder: Any, site: str, run: Any, lang: str) -> str:
    """``": <measure names>"`` of a plan block (from the geocoder's plan layer), or ``""``."""
    sites = getattr(geocoder, "sites", None)
    if sites is None or "measure" not in sites or "site" not in sites:
        return ""
    ids = sorted({str(m) for m in sites.loc[sites["site"].astype(str) == str(site), "measure"]})
    cat = _catalogue(run.params_dir, run.legend)
    names = []
    for i in ids:
        try:
            m = cat.get(i)
            names.append(m.name_nl if lang == "nl" else m.name_en)
        except ConfigError:
            names.append(i)
    return (": " + i18n.join_list(names, lang)) if names else ""


def _geocoder_sources(geocoder: Any) -> list[dict[str, str]]:
    """Credit the PDOK Locatieserver (BAG addresses) when it found the place."""
    from ..sources.geocode import PdokLocatieserver

    if isinstance(geocoder, PdokLocatieserver):
        return [{"name": "geocoder", "attribution": f"PDOK Locatieserver ({geocoder.base_url}): BAG addresses, "
                 "Kadaster", "licence": "CC0-1.0", "date": datetime.now(UTC).date().isoformat()}]
    return []
