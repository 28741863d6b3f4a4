"""Dutch and English strings of the reports, in one place, and number formatting per language.

Numbers follow the language's conventions: English ``1,234.5`` (comma for thousands, point for
decimals), Dutch ``1.234,5`` (point for thousands, comma for decimals; Taaladvies.net, "Getallen:
punt of komma"). Percentages are written ``12.5%`` / ``12,5%``, amounts ``€ 1,234`` / ``€ 1.234``,
large amounts ``€ 2.0 million`` / ``€ 2,0 miljoen``.

``t(key, lang, **values)`` returns the string ``key`` in ``lang`` with ``{placeholders}`` filled
in; an unknown key is a programming error (``KeyError``), an unknown language a
:class:`~biostress.errors.ConfigError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

from ..errors import ConfigError

Lang = Literal["en", "nl"]
LANGS: tuple[str, ...] = ("en", "nl")
DASH = "\u2013"  # shown for a missing value

# key -> (English, Dutch)
STRINGS: dict[str, tuple[str, str]] = {
    # --- titles and headings -----------------------------------------------------------------
    "report_title": ("Biodiversity stress test and opportunities", "Biodiversiteitsstresstest en kansen"),
    "action_plan_title": ("Local action plan for biodiversity", "Lokaal actieplan biodiversiteit"),
    "n2k_title": ("Natura 2000 surroundings", "Omgeving Natura 2000-gebied"),
    "summary": ("Summary for the council", "Samenvatting voor het bestuur"),
    "contents": ("Contents", "Inhoud"),
    "sec_landcover": ("Land cover", "Landbedekking"),
    "sec_stress": ("Stress test", "Stresstest"),
    "sec_ranking": ("Neighbourhoods ranked", "Buurten op volgorde"),
    "sec_potential": ("Potential and gaps", "Potentie en opgave"),
    "sec_opportunities": ("Opportunities and measures", "Kansen en maatregelen"),
    "sec_plan": ("The plan", "Het plan"),
    "sec_targets": ("Targets", "Doelen"),
    "sec_methods": ("Methods", "Methode"),
    "sec_sources": ("Data sources", "Gegevensbronnen"),
    "sec_uncertain": ("What is missing or uncertain", "Wat ontbreekt of onzeker is"),
    "run_of": ("Run of {date}", "Berekening van {date}"),
    "page": ("page", "pagina"),
    "of": ("of", "van"),
    # --- summary ------------------------------------------------------------------------------
    "key_numbers": ("Key numbers", "Kerngetallen"),
    "k_area": ("Area", "Oppervlakte"),
    "k_green": ("Green", "Groen"),
    "k_canopy": ("Tree canopy", "Bladerdak van bomen"),
    "k_impervious": ("Paved and built", "Verhard en bebouwd"),
    "k_vulnerable": ("Vulnerable", "Kwetsbaar"),
    "k_green_note": ("share of the area covered by green", "deel van het gebied dat groen is"),
    "k_canopy_note": ("share of the area under trees", "deel van het gebied onder bomen"),
    "k_impervious_note": ("buildings, roads and paving", "gebouwen, wegen en verharding"),
    "k_vulnerable_note": ("of the area in stress-test class 1 or 2", "van het gebied in stresstestklasse 1 of 2"),
    "lower_bound_note": ("a lower bound: for {pct} of the area the cover is unknown or not resolved",
                         "een ondergrens: van {pct} van het gebied is de bedekking onbekend of niet nader bepaald"),
    "stress_classes_head": ("Stress-test classes (share of the area)", "Stresstestklassen (deel van het gebied)"),
    "stress_explain": (
        "The stress test combines how robust the green is (size, quality, diversity) with the pressures on it "
        "(heat, flooding, drought, light, noise). Class 1 is very vulnerable, class 5 very robust.",
        "De stresstest combineert hoe robuust het groen is (omvang, kwaliteit, variatie) met de druk erop "
        "(hitte, wateroverlast, droogte, licht, geluid). Klasse 1 is zeer kwetsbaar, klasse 5 zeer robuust."),
    "most_vulnerable": ("The three most vulnerable neighbourhoods", "De drie kwetsbaarste buurten"),
    "best_measures": ("Best measures", "Beste maatregelen"),
    "plan_sentence": (
        "The plan spends {cost} (net present cost over {years} years) on {n} blocks of {block}: {gain} m² of "
        "habitat-equivalent gain, {water} m³ of rain storage.",
        "Het plan besteedt {cost} (netto contante kosten over {years} jaar) aan {n} blokken van {block}: "
        "{gain} m² habitatwinst (habitat-equivalent), {water} m³ regenwaterberging."),
    "no_plan": ("This run holds no plan; the measures below are the opportunities with the most gain per euro.",
                "Deze berekening bevat geen plan; hieronder de kansen met de meeste winst per euro."),
    "no_measures": ("No measure data in this run.", "Geen gegevens over maatregelen in deze berekening."),
    "target_status": ("Target status", "Stand van de doelen"),
    "targets_summary": ("{met} met, {not_met} not met, {unknown} unknown", "{met} gehaald, {not_met} niet gehaald, "
                        "{unknown} onbekend"),
    "targets_missing": ("Target status is not available for this run.",
                        "De stand van de doelen is voor deze berekening niet beschikbaar."),
    "uncertain_short": ("What is uncertain", "Wat onzeker is"),
    "see_section": ("Details: section '{name}'.", "Details: hoofdstuk '{name}'."),
    "proxies_named": ("Estimated with a stand-in (proxy): {names}.", "Geschat met een vervangende maat (proxy): {names}."),
    "params_proposed": (
        "Most weights and thresholds are proposals (evidence mark P or R) that an ecologist should review.",
        "De meeste gewichten en grenzen zijn voorstellen (bewijsmerk P of R) die een ecoloog moet nakijken."),
    # --- tables ---------------------------------------------------------------------------------
    "col_rank": ("#", "#"),
    "col_unit": ("Neighbourhood", "Buurt"),
    "col_wijk": ("District", "Wijk"),
    "col_code": ("Code", "Code"),
    "col_score": ("Stress score", "Stressscore"),
    "col_class": ("Class", "Klasse"),
    "col_green": ("Green", "Groen"),
    "col_canopy": ("Canopy", "Bladerdak"),
    "col_impervious": ("Paved", "Verhard"),
    "col_area_ha": ("Area (ha)", "Oppervlakte (ha)"),
    "col_share": ("Share", "Aandeel"),
    "col_measure": ("Measure", "Maatregel"),
    "col_blocks": ("Blocks", "Blokken"),
    "col_cells": ("Cells", "Cellen"),
    "col_converted_ha": ("Converted (ha)", "Omgevormd (ha)"),
    "col_cost_npv": ("Net present cost", "Netto contante kosten"),
    "col_capex": ("Investment", "Investering"),
    "col_opex": ("Maintenance / yr", "Beheer / jaar"),
    "col_eac": ("Cost / yr", "Kosten / jaar"),
    "col_gain": ("Habitat gain (m²)", "Habitatwinst (m²)"),
    "col_gain_per_keur": ("Gain per € 1,000", "Winst per € 1.000"),
    "col_cooling": ("Cooling", "Verkoeling"),
    "col_water": ("Water (m³)", "Water (m³)"),
    "col_party": ("Responsible", "Verantwoordelijk"),
    "col_target": ("Target", "Doel"),
    "col_value": ("Value", "Waarde"),
    "col_threshold": ("Threshold", "Norm"),
    "col_status": ("Status", "Status"),
    "col_ev": ("Evidence", "Bewijs"),
    "col_source": ("Source", "Bron"),
    "col_name": ("Name", "Naam"),
    "col_licence": ("Licence", "Licentie"),
    "col_date": ("Date", "Datum"),
    "col_attribution": ("Attribution", "Naamsvermelding"),
    "col_kind": ("Kind", "Soort"),
    "col_class_name": ("Class", "Klasse"),
    "col_current": ("Now", "Nu"),
    "col_potential": ("Potential", "Potentie"),
    "col_change": ("Change", "Verandering"),
    "col_indicator": ("Indicator", "Indicator"),
    "col_year": ("Year", "Jaar"),
    "col_subsidy": ("Subsidy", "Subsidie"),
    "col_revenue": ("Income / yr", "Inkomsten / jaar"),
    "col_net": ("Net cost", "Netto kosten"),
    "col_total": ("Total", "Totaal"),
    "col_targets_not_met": ("Targets not met here", "Doelen hier niet gehaald"),
    "col_level": ("Level", "Niveau"),
    "col_met": ("Met", "Gehaald"),
    "col_not_met": ("Not met", "Niet gehaald"),
    "col_unknown": ("Unknown", "Onbekend"),
    "col_note": ("Note", "Toelichting"),
    "col_quantity": ("Quantity", "Grootheid"),
    "total": ("Total", "Totaal"),
    "no_value": ("No value", "Geen waarde"),
    "col_location": ("Location", "Locatie"),
    "col_parties": ("Who", "Wie"),
    "col_targets_count": ("Targets met / not met", "Doelen gehaald / niet"),
    "col_opex_period": ("Maintenance", "Beheer"),
    "col_revenue_period": ("Income", "Inkomsten"),
    "status_met": ("met", "gehaald"),
    "status_not met": ("not met", "niet gehaald"),
    "status_unknown": ("unknown", "onbekend"),
    "status_excluded": ("excluded", "uitgezonderd"),
    "level_gemeente": ("municipality", "gemeente"),
    "level_wijk": ("district", "wijk"),
    "level_buurt": ("neighbourhood", "buurt"),
    "level_unit": ("area unit", "gebied"),
    "level_hexagon": ("hexagon", "zeshoek"),
    # --- sections -------------------------------------------------------------------------------
    "landcover_intro": (
        "What covers the ground, from the open map data listed under 'Data sources'. Each 10 m cell gets the share "
        "of every class; the map shows the largest class per cell.",
        "Wat de grond bedekt, uit de open kaartgegevens onder 'Gegevensbronnen'. Elke cel van 10 m krijgt het aandeel "
        "van elke klasse; de kaart toont per cel de grootste klasse."),
    "chart_landcover": ("Land-cover composition of the area", "Samenstelling van de landbedekking"),
    "chart_stress_wijk": ("Stress-test classes per district (share of the district's area)",
                          "Stresstestklassen per wijk (deel van de oppervlakte van de wijk)"),
    "chart_ranking": ("The {n} most vulnerable neighbourhoods (lowest mean stress score)",
                      "De {n} kwetsbaarste buurten (laagste gemiddelde stressscore)"),
    "chart_score_axis": ("mean stress score (0 = very vulnerable, 1 = very robust)",
                         "gemiddelde stressscore (0 = zeer kwetsbaar, 1 = zeer robuust)"),
    "chart_share_axis": ("share of the area", "deel van de oppervlakte"),
    "chart_ha_axis": ("hectares", "hectare"),
    "stress_intro": (
        "Each 10 m cell gets a score S = robustness x (1 - vulnerability) between 0 and 1, grouped in five classes. "
        "The class of a neighbourhood is the class of its mean score.",
        "Elke cel van 10 m krijgt een score S = robuustheid x (1 - kwetsbaarheid) tussen 0 en 1, ingedeeld in vijf "
        "klassen. De klasse van een buurt is de klasse van haar gemiddelde score."),
    "class_bounds": ("score from {lo} to {hi}", "score van {lo} tot {hi}"),
    "ranking_intro": (
        "All neighbourhoods, most vulnerable first (lowest mean stress score). Green and canopy are shares of the "
        "neighbourhood's area.",
        "Alle buurten, de kwetsbaarste eerst (laagste gemiddelde stressscore). Groen en bladerdak zijn aandelen van "
        "de oppervlakte van de buurt."),
    "no_stress": ("This run has no stress-test results.", "Deze berekening heeft geen stresstestresultaten."),
    "potential_intro": (
        "The potential is what the area could become with realistic changes of its land cover (proposed transitions, "
        "see the methods); the gap is potential minus now.",
        "De potentie is wat het gebied kan worden met realistische veranderingen van de landbedekking (voorgestelde "
        "omvormingen, zie de methode); de opgave is potentie min nu."),
    "no_potential": ("This run has no potential land cover.", "Deze berekening heeft geen potentiële landbedekking."),
    "opportunities_intro": (
        "Where each measure of the catalogue fits, what it would add (habitat, cooling, water) and what it costs "
        "(net present cost over {years} years at {rate} real discount rate).",
        "Waar elke maatregel uit de catalogus past, wat die zou opleveren (habitat, verkoeling, water) en wat die kost "
        "(netto contante kosten over {years} jaar tegen {rate} reële discontovoet)."),
    "no_opportunities": ("This run has no opportunity map.", "Deze berekening heeft geen kansenkaart."),
    "plan_intro": (
        "The plan chooses one measure per block of {block} so that the habitat gain is largest within the budget. "
        "The local action plan (separate document and spreadsheet) lists every block with its costs per year and "
        "who carries it out.",
        "Het plan kiest één maatregel per blok van {block}, zodat de habitatwinst binnen het budget zo groot mogelijk "
        "is. Het lokale actieplan (apart document en rekenblad) noemt elk blok met de kosten per jaar en wie het "
        "uitvoert."),
    "no_plan_section": ("This run holds no plan. Add a 'plan' section to the area configuration to make one.",
                        "Deze berekening bevat geen plan. Voeg een onderdeel 'plan' toe aan de gebiedsconfiguratie."),
    "targets_intro": (
        "Each target compares an indicator with a threshold, per area unit. 'Unknown' means the data to judge it "
        "are missing.",
        "Elk doel vergelijkt een indicator met een norm, per gebied. 'Onbekend' betekent dat de gegevens om het te "
        "beoordelen ontbreken."),
    "targets_by_buurt": ("Neighbourhoods per target", "Buurten per doel"),
    "methods_text": (
        "Land cover comes from open map data rasterised to 10 m cells with the share of each class per cell. "
        "Indicators follow published models where one exists (InVEST Habitat Quality and Urban Cooling, the SCS "
        "curve-number runoff method); the stress test, potential and measures use tables of parameters, each with its "
        "source and an evidence mark. Costs are net present values in real prices.",
        "De landbedekking komt uit open kaartgegevens, omgezet naar cellen van 10 m met per cel het aandeel van elke "
        "klasse. De indicatoren volgen gepubliceerde modellen waar die bestaan (InVEST Habitat Quality en Urban "
        "Cooling, de SCS-curve-number-methode voor afstroming); de stresstest, potentie en maatregelen gebruiken "
        "parametertabellen, elk met bron en bewijsmerk. Kosten zijn netto contante waarden in reële prijzen."),
    "methods_docs": ("Documentation (in the biostress repository):", "Documentatie (in de biostress-repository):"),
    "ev_head": ("Evidence marks", "Bewijsmerken"),
    "ev_V": ("verified: read in the source itself", "geverifieerd: in de bron zelf gelezen"),
    "ev_S": ("secondary: from a page quoting the source", "secundair: van een pagina die de bron citeert"),
    "ev_R": ("a typical value, not verified: a placeholder", "een gangbare waarde, niet geverifieerd: een plaatshouder"),
    "ev_P": ("a proposed default, not a published value", "een voorgestelde standaardwaarde, geen gepubliceerde waarde"),
    "ev_counts": ("Parameter rows of this run by evidence mark: {counts}.",
                  "Parameterregels van deze berekening per bewijsmerk: {counts}."),
    "finance_line": ("Finance: discount rate {rate} (ev {rate_ev}), horizon {years} years (ev {years_ev}).",
                     "Financiën: discontovoet {rate} (ev {rate_ev}), looptijd {years} jaar (ev {years_ev})."),
    "software_line": ("Made with biostress {version}.", "Gemaakt met biostress {version}."),
    "sources_intro": ("Every data set this run read, with its licence and date.",
                      "Alle gegevens die deze berekening las, met licentie en datum."),
    "uncertain_intro": (
        "What the results cannot tell, in plain words. The technical messages of the run follow each group.",
        "Wat de uitkomsten niet kunnen zeggen, in gewone woorden. De technische meldingen van de berekening staan "
        "onder elke groep."),
    "technical": ("Technical messages", "Technische meldingen"),
    "map_missing": ("(map not in this run)", "(kaart niet in deze berekening)"),
    "maps_head": ("Maps", "Kaarten"),
    # --- action plan --------------------------------------------------------------------------
    "ap_intro": (
        "The measures the plan chose, where they go, what they cost each year and who carries them out. The "
        "spreadsheet action_plan.xlsx and the GeoPackage action_plan.gpkg hold every block.",
        "De maatregelen die het plan koos, waar ze komen, wat ze per jaar kosten en wie ze uitvoert. Het rekenblad "
        "action_plan.xlsx en de GeoPackage action_plan.gpkg bevatten elk blok."),
    "ap_totals": ("Totals", "Totalen"),
    "ap_by_measure": ("Per measure", "Per maatregel"),
    "ap_by_wijk": ("Per district", "Per wijk"),
    "ap_by_buurt": ("Per neighbourhood", "Per buurt"),
    "ap_schedule": ("Costs per year", "Kosten per jaar"),
    "ap_schedule_note": (
        "Investment in year 1 and at each replacement (start of the year), maintenance and income every year, in "
        "today's prices (not discounted). Net present cost over {years} years at {rate}: {npv}.",
        "Investering in jaar 1 en bij elke vervanging (begin van het jaar), beheer en inkomsten elk jaar, in prijzen "
        "van nu (niet verdisconteerd). Netto contante kosten over {years} jaar tegen {rate}: {npv}."),
    "ap_years": ("years {a}-{b}", "jaren {a}-{b}"),
    "ap_year": ("year {a}", "jaar {a}"),
    "ap_parties": ("Who carries it out", "Wie voert het uit"),
    "ap_no_plan": ("This run holds no plan, so there is no action plan.",
                   "Deze berekening bevat geen plan, dus er is geen actieplan."),
    "ap_q_blocks": ("Blocks with a measure", "Blokken met een maatregel"),
    "ap_q_capex": ("Investment (gross)", "Investering (bruto)"),
    "ap_q_subsidy": ("Subsidies", "Subsidies"),
    "ap_q_opex": ("Maintenance per year", "Beheer per jaar"),
    "ap_q_revenue": ("Income per year", "Inkomsten per jaar"),
    "ap_q_npv": ("Net present cost", "Netto contante kosten"),
    "ap_q_eac": ("Equivalent annual cost", "Jaarlijkse kosten (annuïteit)"),
    "ap_q_gain": ("Habitat gain (m² habitat-equivalent)", "Habitatwinst (m² habitat-equivalent)"),
    "ap_q_cooling": ("Cooling (m² x cooling capacity)", "Verkoeling (m² x koelcapaciteit)"),
    "ap_q_water": ("Rain storage (m³, design storm)", "Regenwaterberging (m³, maatgevende bui)"),
    "ap_q_budget": ("Budget", "Budget"),
    "ap_targets": ("Targets in the plan's neighbourhoods", "Doelen in de buurten van het plan"),
    "ap_unit_outside": ("outside the units", "buiten de gebieden"),
    "party_municipality": ("municipality", "gemeente"),
    "party_atom_municipality": ("municipality", "gemeente"),
    "party_atom_owners": ("owners/residents", "eigenaren/bewoners"),
    "party_atom_farmers": ("farmers", "agrariërs"),
    "party_atom_water_board": ("water board", "waterschap"),
    "party_owners": ("owners / residents", "eigenaren / bewoners"),
    "party_municipality_owners": ("municipality with owners / residents", "gemeente met eigenaren / bewoners"),
    "party_farmers": ("farmers", "agrariërs"),
    "party_water_board": ("water board", "waterschap"),
    "party_farmers_water_board": ("farmers / water board", "agrariërs / waterschap"),
    # --- Natura 2000 ------------------------------------------------------------------------------
    "n2k_intro": (
        "Pressures on the Natura 2000 site from its surroundings (a zone of {dist} around it), promising measures in "
        "that zone, what they cost and earn per hectare and per farm type, and their combined effect.",
        "Druk op het Natura 2000-gebied vanuit de omgeving (een zone van {dist} eromheen), kansrijke maatregelen in "
        "die zone, wat ze kosten en opleveren per hectare en per bedrijfstype, en hun gezamenlijke effect."),
    "n2k_pressures": ("Pressures on the site", "Druk op het gebied"),
    "n2k_areas": ("Site and zone", "Gebied en zone"),
    "n2k_landcover": ("Land cover in the site and the zone", "Landbedekking in het gebied en de zone"),
    "n2k_measures": ("Promising measures in the zone", "Kansrijke maatregelen in de zone"),
    "n2k_farm_types": ("Per farm type", "Per bedrijfstype"),
    "n2k_finance": ("Finance assumptions", "Financiële uitgangspunten"),
    "n2k_details": ("Further tables", "Overige tabellen"),
    "n2k_combined": ("Combined effect", "Gezamenlijk effect"),
    "n2k_empty": ("This folder holds no Natura 2000 surroundings tables.",
                  "Deze map bevat geen tabellen van de omgeving van een Natura 2000-gebied."),
}

# Readable names of indicators (for the uncertainty section and tables)
INDICATOR_NAMES: dict[str, tuple[str, str]] = {
    "green_share": ("green share", "aandeel groen"),
    "canopy_share": ("tree canopy", "bladerdak"),
    "impervious_share": ("paved share", "aandeel verharding"),
    "habitat_quality": ("habitat quality", "habitatkwaliteit"),
    "habitat_degradation": ("habitat degradation", "aantasting van habitat"),
    "heat_mitigation": ("heat mitigation", "hitteverzachting"),
    "cooling_capacity": ("cooling capacity", "koelcapaciteit"),
    "runoff_depth": ("storm runoff", "afstroming bij hevige bui"),
    "runoff_volume": ("storm runoff volume", "afstromend volume bij hevige bui"),
    "depression_depth": ("depressions", "laagten"),
    "drought_vulnerability": ("drought vulnerability", "droogtegevoeligheid"),
    "nitrogen_exceedance": ("nitrogen exceedance", "stikstofoverschrijding"),
    "light_proxy": ("artificial light at night", "kunstlicht 's nachts"),
    "noise_road_proxy": ("road noise", "wegverkeerslawaai"),
    "connectivity_current": ("connectivity", "verbondenheid"),
    "fragmentation_habitat": ("fragmentation", "versnippering"),
    "species_richness": ("species richness", "soortenrijkdom"),
    "guide_species_key_networks": ("guide-species networks", "netwerken van gidssoorten"),
    "opportunity_gain": ("expected gain of measures", "verwachte winst van maatregelen"),
    "stress_class": ("stress test", "stresstest"),
    "stress_score": ("stress test", "stresstest"),
    "stress_robustness": ("stress test", "stresstest"),
    "stress_vulnerability": ("stress test", "stresstest"),
}

# Warning groups: prefix of a run warning ("<prefix>: ...") -> (English heading, Dutch heading)
GROUPS: dict[str, tuple[str, str]] = {
    "landcover": ("Land cover", "Landbedekking"),
    "green": ("Green and canopy", "Groen en bladerdak"),
    "habitat_quality": ("Habitat quality", "Habitatkwaliteit"),
    "fragmentation": ("Fragmentation", "Versnippering"),
    "cbi_connected_natural_area": ("Connected nature", "Verbonden natuur"),
    "connectivity": ("Connectivity", "Verbondenheid"),
    "heat": ("Heat", "Hitte"),
    "flooding": ("Flooding", "Wateroverlast"),
    "drought": ("Drought", "Droogte"),
    "nitrogen": ("Nitrogen", "Stikstof"),
    "disturbance": ("Light and noise", "Licht en geluid"),
    "species_records": ("Species observations", "Waarnemingen van soorten"),
    "guide_species": ("Guide species", "Gidssoorten"),
    "stresstest": ("Stress test", "Stresstest"),
    "potential": ("Potential", "Potentie"),
    "opportunity": ("Opportunities", "Kansen"),
    "plan": ("Plan", "Plan"),
    "other": ("Other", "Overig"),
}

# Plain-language sentences triggered by a (lower-case) phrase in a warning: (group, phrase, en, nl).
# {pct} is filled from the first percentage in the message when the sentence uses it.
LAY_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("green", "'unknown' (no source covers it)",
     "For {pct} of the area no map shows what covers the ground. Green and paved shares are minimum values there.",
     "Van {pct} van het gebied laat geen kaart zien wat de grond bedekt. Aandelen groen en verharding zijn daar "
     "minimumwaarden."),
    ("green", "'urban_mixed'",
     "{pct} of the area is built-up land whose green part is not known (gardens behind houses, for instance).",
     "{pct} van het gebied is bebouwd terrein waarvan het groene deel onbekend is (bijvoorbeeld achtertuinen)."),
    ("green", "canopy = cover of the trees_woodland class",
     "Single trees in streets and gardens are only counted when the map draws them; the tree canopy is a minimum.",
     "Losse bomen in straten en tuinen tellen alleen mee als de kaart ze tekent; het bladerdak is een minimum."),
    ("green", "ndvi not computed",
     "No satellite image of vegetation was used.", "Er is geen satellietbeeld van begroeiing gebruikt."),
    ("habitat_quality", "edge effect",
     "Threats just outside the area are not known, so habitat near the border looks better than it may be.",
     "Bedreigingen net buiten het gebied zijn onbekend, dus habitat bij de grens lijkt beter dan het mogelijk is."),
    ("heat", "no 'et0'",
     "The cooling by evaporation is estimated from the land cover alone (no evaporation data).",
     "De verkoeling door verdamping is alleen uit de landbedekking geschat (geen verdampingsgegevens)."),
    ("flooding", "no soil_group",
     "The soil is assumed to be the same everywhere (no soil map).",
     "De bodem is overal gelijk verondersteld (geen bodemkaart)."),
    ("flooding", "sewers, surface water and run-on",
     "Sewers and water flowing from street to street are not modelled: the runoff shows where rain cannot soak in, "
     "not where streets flood.",
     "Riolering en water dat van straat naar straat stroomt zijn niet gemodelleerd: de afstroming laat zien waar "
     "regen niet kan wegzakken, niet waar straten onderlopen."),
    ("flooding", "no elevation data",
     "No elevation data: low spots where water collects are not shown.",
     "Geen hoogtegegevens: laagten waar water blijft staan zijn niet berekend."),
    ("drought", "proxy",
     "Drought is a rough estimate from paving nearby, not from groundwater data.",
     "Droogte is een ruwe schatting uit de verharding in de buurt, niet uit grondwatergegevens."),
    ("nitrogen", "no nitrogen deposition raster",
     "No nitrogen deposition data: the pressure of nitrogen on nature is not included.",
     "Geen gegevens over stikstofdepositie: de druk van stikstof op de natuur telt niet mee."),
    ("nitrogen", "kdw values",
     "The critical nitrogen loads used are older values that must be checked.",
     "De gebruikte kritische stikstofdeposities zijn oudere waarden die gecontroleerd moeten worden."),
    ("disturbance", "noise proxy",
     "Road noise is a rough estimate from the road type, not a noise map.",
     "Wegverkeerslawaai is een ruwe schatting uit het wegtype, geen geluidskaart."),
    ("disturbance", "light proxy",
     "Light at night is estimated from roads, paving and buildings, not measured.",
     "Licht 's nachts is geschat uit wegen, verharding en gebouwen, niet gemeten."),
    ("species_records", "no species records",
     "No species observations were used: the results say nothing about which species actually live here.",
     "Er zijn geen waarnemingen van soorten gebruikt: de uitkomsten zeggen niets over welke soorten hier echt leven."),
    ("stresstest", "all weights, thresholds and sensitivities are proposals",
     "The weights and class limits of the stress test are proposals that an ecologist should review.",
     "De gewichten en klassegrenzen van de stresstest zijn voorstellen die een ecoloog moet nakijken."),
    ("stresstest", "without any indicator",
     "Some parts of the stress test have no data in this run and are left out.",
     "Sommige onderdelen van de stresstest hebben in deze berekening geen gegevens en tellen niet mee."),
    ("potential", "potential land cover",
     "The potential is a scenario of proposed changes, not a plan or a forecast.",
     "De potentie is een scenario van voorgestelde veranderingen, geen plan of voorspelling."),
    ("plan", "options left out",
     "Some measures could not be planned because their cost or effect is not known.",
     "Sommige maatregelen konden niet worden ingepland omdat hun kosten of effect onbekend zijn."),
    ("opportunity", "proxy",
     "For measures that do not change the land cover (nest boxes, lighting) the habitat gain is a rough estimate.",
     "Voor maatregelen die de landbedekking niet veranderen (nestkasten, verlichting) is de habitatwinst een ruwe "
     "schatting."),
)


def check_lang(lang: str) -> str:
    """``lang`` if it is a language of the reports, else a :class:`ConfigError`."""
    if lang not in LANGS:
        raise ConfigError(f"Unknown report language {lang!r}.", hint="Use 'nl' (Dutch) or 'en' (English).")
    return lang


def t(key: str, lang: str, **values: Any) -> str:
    """The string ``key`` in ``lang`` with ``{placeholders}`` filled from ``values``."""
    en, nl = STRINGS[key]
    s = nl if check_lang(lang) == "nl" else en
    return s.format(**values) if values else s


def indicator_name(name: str, lang: str) -> str:
    """A readable name of an indicator raster (the raster name itself when unknown)."""
    pair = INDICATOR_NAMES.get(name)
    if pair is None:
        return name.replace("_", " ")
    return pair[1] if check_lang(lang) == "nl" else pair[0]


def group_name(group: str, lang: str) -> str:
    en, nl = GROUPS.get(group, (group.replace("_", " ").capitalize(),) * 2)
    return nl if check_lang(lang) == "nl" else en


# --------------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------------

def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt_num(x: Any, lang: str, digits: int = 0) -> str:
    """``x`` with ``digits`` decimals and a thousands separator: ``1,234.5`` (en) / ``1.234,5`` (nl).
    NaN, None and non-numbers give a dash. ``-0`` is written ``0``."""
    v = _finite(x)
    if v is None:
        return DASH
    s = f"{v:,.{max(0, int(digits))}f}"
    if s.lstrip("-").strip("0.,") == "":
        s = s.lstrip("-")
    if check_lang(lang) == "nl":
        s = s.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return s.replace("-", "\u2212")


def fmt_pct(share: Any, lang: str, digits: int = 0, *, tiny: bool = False) -> str:
    """A share 0-1 as a percentage: ``12.5%`` (en) / ``12,5%`` (nl). With ``tiny``, a positive share
    that would round to 0 is written ``<0.1%`` / ``<0,1%`` (at ``digits`` = 1)."""
    v = _finite(share)
    if v is None:
        return DASH
    step = 10.0 ** -max(0, int(digits))
    if tiny and 0 < 100.0 * v < step / 2:
        return f"<{fmt_num(step, lang, max(0, int(digits)))}%"
    return f"{fmt_num(100.0 * v, lang, digits)}%"


def fmt_eur(x: Any, lang: str, digits: int = 0) -> str:
    """An amount in euros: ``€ 1,234`` (en) / ``€ 1.234`` (nl)."""
    v = _finite(x)
    if v is None:
        return DASH
    return f"\u2212€ {fmt_num(-v, lang, digits)}" if v < 0 else f"€ {fmt_num(v, lang, digits)}"


def fmt_eur_short(x: Any, lang: str) -> str:
    """A rounded amount for running text: ``€ 2.0 million`` / ``€ 2,0 miljoen``, ``€ 345 thousand`` /
    ``€ 345 duizend``; below 10,000 the whole amount."""
    v = _finite(x)
    if v is None:
        return DASH
    a = abs(v)
    sign = "\u2212" if v < 0 else ""
    nl = check_lang(lang) == "nl"
    if a >= 1e9:
        return f"{sign}€ {fmt_num(a / 1e9, lang, 1)} {'miljard' if nl else 'billion'}"
    if a >= 1e6:
        return f"{sign}€ {fmt_num(a / 1e6, lang, 1)} {'miljoen' if nl else 'million'}"
    if a >= 1e4:
        return f"{sign}€ {fmt_num(a / 1e3, lang, 0)} {'duizend' if nl else 'thousand'}"
    return f"{sign}€ {fmt_num(a, lang, 0)}"


def fmt_length(m: Any, lang: str) -> str:
    """A distance: ``100 m``, ``1.5 km`` / ``1,5 km``."""
    v = _finite(m)
    if v is None:
        return DASH
    return f"{fmt_num(v / 1000.0, lang, 1)} km" if v >= 1000 else f"{fmt_num(v, lang, 0)} m"


def fmt_value(x: Any, lang: str, unit: str = "") -> str:
    """A value of a table of mixed quantities: shares (unit 'share', '0-1 share', 'fraction') as a
    percentage, EUR as an amount, other numbers with 0-2 decimals by size; text as it is."""
    if isinstance(x, str):
        return x
    v = _finite(x)
    if v is None:
        return DASH
    u = (unit or "").lower()
    if u.startswith(("share", "fraction")):
        return fmt_pct(v, lang, 1)
    if u.startswith("eur"):
        return fmt_eur(v, lang)
    a = abs(v)
    if a >= 100 or float(v).is_integer():
        digits = 0
    elif a >= 10:
        digits = 1
    elif a >= 0.1:
        digits = 2
    else:
        digits = 4
    return fmt_num(v, lang, digits)


def join_list(items: Iterable[str], lang: str) -> str:
    """``a, b and c`` / ``a, b en c``."""
    xs = [str(i) for i in items]
    if len(xs) <= 1:
        return "".join(xs)
    word = " en " if check_lang(lang) == "nl" else " and "
    return ", ".join(xs[:-1]) + word + xs[-1]


__all__ = [
    "DASH", "GROUPS", "INDICATOR_NAMES", "LANGS", "LAY_RULES", "STRINGS", "Lang", "check_lang", "fmt_eur",
    "fmt_eur_short", "fmt_length", "fmt_num", "fmt_pct", "fmt_value", "group_name", "indicator_name", "join_list",
    "t",
]
