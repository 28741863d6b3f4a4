"""Plain-language titles and explanations (Dutch and English) of every map layer of the web tool.

Each entry of :data:`LAYERS` gives, per language, the layer's ``title``, ``unit`` and four short texts
for a lay reader: ``what`` it shows, ``how`` it is computed, how ``certainty`` (how sure it is: the
evidence marks of its method and parameters, V verified / S secondary / R typical value not verified /
P proposed by biostress, as in ``/work/shared/knowledge/knowledge-base.md`` and the parameter tables)
and ``action`` (what a resident or the municipality can do). Families of layers (``potential_<x>``,
``gap_<x>``, ``opportunity_<measure>``, ``guide_<species>_<part>``) are written from templates in
:mod:`biostress.web.layers`.

Each text is a pair ``(nl, en)``. The group says where the layer sits in the layer list.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["GROUP_TITLES", "LAYERS", "OBJECTS", "LayerText"]


class LayerText(TypedDict, total=False):
    group: str
    title: tuple[str, str]
    unit: tuple[str, str]
    what: tuple[str, str]
    how: tuple[str, str]
    certainty: tuple[str, str]
    action: tuple[str, str]
    order: int


GROUP_TITLES: dict[str, tuple[str, str]] = {
    "current": ("Huidige natuur", "Current nature"),
    "pressures": ("Druk op de natuur", "Pressures"),
    "stress": ("Stresstest", "Stress test"),
    "potential": ("Potentie", "Potential"),
    "opportunities": ("Kansen", "Opportunities"),
    "measures": ("Maatregelen", "Measures"),
    "guide_species": ("Gidssoorten", "Guide species"),
    "base": ("Basiskaart", "Base map"),
}

_LOWER_BOUND = ("Land waarvan de bedekking onbekend is telt niet als groen: het aandeel is een ondergrens.",
                "Land whose cover is unknown does not count as green: the share is a lower bound.")

LAYERS: dict[str, LayerText] = {
    # ---------------------------------------------------------------- current nature
    "landcover": {
        "group": "current", "order": 0,
        "title": ("Bodembedekking", "Land cover"), "unit": ("klasse", "class"),
        "what": ("Wat er het meest ligt in elk vak van 10 x 10 m: gebouw, weg, gras, bomen, water, ...",
                 "What covers most of each 10 x 10 m cell: building, road, grass, trees, water, ..."),
        "how": ("Uit open kaarten (OpenStreetMap, BGT of andere bronnen van het gebied) ingetekend op een raster "
                "van 1 m en per vak van 10 m geteld; de grootste klasse geeft de kleur.",
                "Drawn from open maps (OpenStreetMap, BGT or the area's other sources) on a 1 m raster and "
                "counted per 10 m cell; the largest class gives the colour."),
        "certainty": ("Zo goed als de bronkaarten (V voor de methode). Grijs = geen bron dekt dit stuk; "
                      "'stedelijk gemengd' = bebouwd land waarvan niet bekend is hoeveel groen er is.",
                      "As good as the source maps (V for the method). Grey = no source covers this part; "
                      "'urban mixed' = built-up land whose green part is not known."),
        "action": ("Klopt iets niet? Verbeter OpenStreetMap of meld het via een waarneming; een nieuwe "
                   "berekening neemt het mee.",
                   "Something wrong? Improve OpenStreetMap or report it as an observation; a new run uses it."),
    },
    "green_share": {
        "group": "current", "order": 1,
        "title": ("Aandeel groen", "Green share"), "unit": ("aandeel 0-1", "share 0-1"),
        "what": ("Welk deel van elk vak groen is: gras, struiken, bomen, riet, tuinen, groene daken.",
                 "Which part of each cell is green: grass, shrubs, trees, reed, gardens, green roofs."),
        "how": ("De bedekking per klasse opgeteld over de klassen die in de legenda als groen gelden.",
                "The cover of the classes flagged green in the legend, added up per cell."),
        "certainty": ("Methode V; de klassen komen uit de bronkaarten. " + _LOWER_BOUND[0],
                      "Method V; the classes come from the source maps. " + _LOWER_BOUND[1]),
        "action": ("Tegels eruit, planten erin: geveltuin, groene schoolplein, groen dak. De Europese "
                   "natuurherstelwet vraagt vanaf 2030 geen verlies en daarna groei van stedelijk groen.",
                   "Tiles out, plants in: façade garden, green schoolyard, green roof. The EU Nature Restoration "
                   "Law asks for no loss of urban green by 2030 and growth after that."),
    },
    "canopy_share": {
        "group": "current", "order": 2,
        "title": ("Boomkroonbedekking", "Tree canopy"), "unit": ("aandeel 0-1", "share 0-1"),
        "what": ("Welk deel van elk vak onder boomkronen ligt.", "Which part of each cell lies under tree crowns."),
        "how": ("De bedekking van de klasse bomen/bos, met de kronen van bomen uit een bomenregister als die er is.",
                "The cover of the trees/woodland class, including the crowns of tree-register trees when given."),
        "certainty": ("Methode V; bomen die alleen als punt op de kaart staan (zonder register) tellen niet mee, "
                      "dus vaak een ondergrens.",
                      "Method V; trees mapped only as points (without a register) are not counted, so often a "
                      "lower bound."),
        "action": ("Plant bomen met goede groeiruimte; de 3-30-300-regel vraagt 30 % kroonbedekking per buurt.",
                   "Plant trees with good rooting space; the 3-30-300 rule asks for 30 % canopy per neighbourhood."),
    },
    "impervious_share": {
        "group": "current", "order": 3,
        "title": ("Aandeel verhard", "Paved share"), "unit": ("aandeel 0-1", "share 0-1"),
        "what": ("Welk deel van elk vak dicht is: gebouwen, wegen, bestrating, spoor.",
                 "Which part of each cell is sealed: buildings, roads, paving, rail."),
        "how": ("De bedekking van de klassen die in de legenda als verhard gelden, opgeteld.",
                "The cover of the classes flagged impervious in the legend, added up."),
        "certainty": ("Methode V. Land met onbekende bedekking telt niet mee: een ondergrens.",
                      "Method V. Land with unknown cover does not count: a lower bound."),
        "action": ("Minder tegels betekent minder hitte en wateroverlast: doe mee met tegelwippen.",
                   "Fewer tiles mean less heat and flooding: join the tile-lifting (tegelwippen)."),
    },
    "habitat_quality": {
        "group": "current", "order": 4,
        "title": ("Kwaliteit leefgebied", "Habitat quality"), "unit": ("index 0-1", "index 0-1"),
        "what": ("Hoe geschikt elk vak is als leefgebied voor planten en dieren, 1 = zeer goed.",
                 "How suitable each cell is as habitat for plants and animals, 1 = very good."),
        "how": ("Het InVEST Habitat Quality-model: geschiktheid van de bedekking, verlaagd door bedreigingen in de "
                "buurt (drukke bebouwing, wegen, intensieve akkers) die met de afstand afnemen.",
                "The InVEST Habitat Quality model: suitability of the cover, lowered by threats nearby (dense "
                "buildings, roads, intensive arable land) that fade with distance."),
        "certainty": ("Het model is gepubliceerd (V); de geschiktheid en gevoeligheid per klasse zijn voorstellen "
                      "(P) die een ecoloog moet nakijken. Gebruik het om plekken te vergelijken, niet als meting.",
                      "The model is published (V); suitability and sensitivity per class are proposals (P) for an "
                      "ecologist to review. Use it to compare places, not as a measurement."),
        "action": ("Meer inheemse beplanting, kruidenrijk gras en rust (minder licht, minder verkeer) verhogen de "
                   "kwaliteit.", "More native planting, herb-rich grassland and quiet (less light, less traffic) "
                   "raise the quality."),
    },
    "habitat_patch_area": {
        "group": "current", "order": 5,
        "title": ("Omvang natuurgebied", "Habitat patch size"), "unit": ("ha", "ha"),
        "what": ("Hoe groot het aaneengesloten stuk natuur is waar het vak bij hoort.",
                 "How large the connected piece of habitat is that the cell belongs to."),
        "how": ("Aaneengesloten vakken met leefgebied vormen een gebied; per vak de oppervlakte ervan. Het "
                "buurtgemiddelde is de effectieve maaswijdte (Jaeger 2000).",
                "Connected habitat cells form a patch; each cell shows its area. The unit mean is the effective "
                "mesh size (Jaeger 2000)."),
        "certainty": ("Methode V (getoetst aan pylandstats); wat als leefgebied telt is een voorstel (P).",
                      "Method V (checked against pylandstats); what counts as habitat is a proposal (P)."),
        "action": ("Verbind losse stukjes groen: een haag, een groene strook of een faunapassage maakt van twee "
                   "kleine gebieden één groot.", "Connect separate bits of green: a hedge, a green strip or a "
                   "wildlife passage turns two small patches into one large one."),
    },
    "fragmentation_habitat": {
        "group": "current", "order": 6,
        "title": ("Versnippering", "Fragmentation"), "unit": ("index", "index"),
        "what": ("Hoe versnipperd het leefgebied rond het vak is.", "How fragmented the habitat around the cell is."),
        "how": ("Uit de vorm en grootte van de natuurgebieden en de barrières (wegen, spoor, bebouwing) ertussen.",
                "From the shape and size of the habitat patches and the barriers (roads, rail, buildings) between "
                "them."),
        "certainty": ("Methode V; de drempels zijn voorstellen (P).", "Method V; the thresholds are proposals (P)."),
        "action": ("Haal barrières weg of maak passages: egeltunnels in schuttingen, faunapassages onder wegen.",
                   "Remove barriers or add passages: hedgehog gaps in fences, wildlife tunnels under roads."),
    },
    "cbi_connected_natural_area": {
        "group": "current", "order": 7,
        "title": ("Verbonden natuur (CBI)", "Connected nature (CBI)"), "unit": ("index", "index"),
        "what": ("Hoeveel natuur er verbonden is, zoals de City Biodiversity Index (indicator 2) het meet.",
                 "How much nature is connected, as the City Biodiversity Index (indicator 2) measures it."),
        "how": ("Natuurgebieden op minder dan 100 m van elkaar tellen als één groep; de maat is de effectieve "
                "omvang van die groepen.", "Habitat patches less than 100 m apart count as one group; the measure "
                "is the effective size of those groups."),
        "certainty": ("De index is gepubliceerd (V); de keuze van wat natuur is, is een voorstel (P).",
                      "The index is published (V); the choice of what counts as nature is a proposal (P)."),
        "action": ("Overbrug gaten van meer dan 100 m tussen groen met bomenrijen of bloemrijke bermen.",
                   "Bridge gaps over 100 m between green areas with tree rows or flower-rich verges."),
    },
    "cbi_network": {
        "group": "current", "order": 8,
        "title": ("Natuurnetwerk (CBI)", "Nature network (CBI)"), "unit": ("groep", "group"),
        "what": ("Welke natuurgebieden samen één groep vormen.", "Which habitat patches form one group together."),
        "how": ("Gebieden op minder dan 100 m van elkaar zijn verbonden (City Biodiversity Index, indicator 2).",
                "Patches less than 100 m apart are connected (City Biodiversity Index, indicator 2)."),
        "certainty": ("Methode V; de afstand van 100 m volgt de index.", "Method V; the 100 m distance follows the index."),
        "action": ("Kleine groepen zijn kwetsbaar: verbind ze met de grote.",
                   "Small groups are vulnerable: connect them with the large ones."),
    },
    "connectivity_current": {
        "group": "current", "order": 9,
        "title": ("Verbindingen (stroomdichtheid)", "Connectivity (current density)"), "unit": ("index", "index"),
        "what": ("Waar dieren zich het meest verplaatsen tussen natuurgebieden: de belangrijke routes.",
                 "Where animals move most between habitat patches: the important routes."),
        "how": ("Circuittheorie zoals in Circuitscape: het landschap als een elektrisch netwerk met weerstand per "
                "bedekking.", "Circuit theory as in Circuitscape: the landscape as an electrical network with a "
                "resistance per cover class."),
        "certainty": ("Methode V; weerstanden per klasse zijn typische waarden (R) of voorstellen (P).",
                      "Method V; resistances per class are typical values (R) or proposals (P)."),
        "action": ("Bescherm de drukke routes en houd ze donker en groen.",
                   "Protect the busy routes and keep them dark and green."),
    },
    "species_richness": {
        "group": "current", "order": 10,
        "title": ("Waargenomen soorten", "Species recorded"), "unit": ("aantal soorten", "number of species"),
        "what": ("Hoeveel verschillende soorten er in de buurt van het vak zijn waargenomen.",
                 "How many different species have been recorded near the cell."),
        "how": ("Waarnemingen (bijv. Waarneming.nl, NDFF, GBIF) geteld per vak; vakken zonder waarnemingen blijven "
                "leeg.", "Records (e.g. Waarneming.nl, NDFF, GBIF) counted per cell; cells without records stay "
                "empty."),
        "certainty": ("Volgt vooral waar mensen kijken: veel soorten = vaak veel waarnemers. Geen volledige telling.",
                      "Mostly follows where people look: many species often means many observers. Not a census."),
        "action": ("Tel mee: geef uw waarnemingen door, dan wordt de kaart beter.",
                   "Help count: report your sightings and the map gets better."),
    },
    "species_records": {
        "group": "current", "order": 11,
        "title": ("Aantal waarnemingen", "Number of records"), "unit": ("aantal", "count"),
        "what": ("Hoeveel waarnemingen er per vak zijn: de zoekinspanning.", "How many records there are per cell: "
                 "the recording effort."),
        "how": ("Alle waarnemingen uit de bronnen van het gebied geteld per vak.",
                "All records of the area's sources counted per cell."),
        "certainty": ("Een telling van meldingen, geen maat voor natuur.", "A count of reports, not a measure of nature."),
        "action": ("Witte vlekken zijn plekken waar nog niemand keek: ga daar eens kijken.",
                   "Blank spots are places nobody has looked yet: go and have a look there."),
    },
    "red_list_richness": {
        "group": "current", "order": 12,
        "title": ("Rode-lijstsoorten", "Red-list species"), "unit": ("aantal soorten", "number of species"),
        "what": ("Hoeveel bedreigde soorten (Rode Lijst) er in de buurt zijn waargenomen.",
                 "How many threatened (red-list) species have been recorded nearby."),
        "how": ("Waarnemingen vergeleken met de Nederlandse Rode Lijsten.", "Records matched with the Dutch red lists."),
        "certainty": ("Zo volledig als de waarnemingen; gevoelige soorten worden soms vervaagd gemeld.",
                      "As complete as the records; sensitive species are sometimes reported blurred."),
        "action": ("Houd rekening met deze soorten bij werk in de openbare ruimte.",
                   "Take these species into account in works in public space."),
    },
    "species_coverage": {
        "group": "current", "order": 13,
        "title": ("Dekking waarnemingen", "Recording coverage"), "unit": ("aandeel", "share"),
        "what": ("Of een vak genoeg waarnemingen heeft om iets te zeggen.", "Whether a cell has enough records to "
                 "say something."),
        "how": ("Vakken met waarnemingen tegenover alle vakken.", "Cells with records against all cells."),
        "certainty": ("Een maat voor de gegevens, niet voor de natuur.", "A measure of the data, not of nature."),
        "action": ("Meer waarnemingen maken de soortenkaarten betrouwbaarder.",
                   "More records make the species maps more reliable."),
    },
    "ndvi": {
        "group": "current", "order": 14,
        "title": ("Vegetatie-index (NDVI)", "Vegetation index (NDVI)"), "unit": ("index -1..1", "index -1..1"),
        "what": ("Hoe groen en vitaal de begroeiing is volgens satelliet- of luchtfoto's.",
                 "How green and vital the vegetation is according to satellite or aerial images."),
        "how": ("NDVI = (NIR - Rood) / (NIR + Rood) uit de nabij-infrarode en rode band.",
                "NDVI = (NIR - Red) / (NIR + Red) from the near-infrared and red bands."),
        "certainty": ("Een gemeten waarde (V), afhankelijk van seizoen en opnamedatum.",
                      "A measured value (V), depending on season and image date."),
        "action": ("Lage waarden in tuinen en pleinen wijzen op veel verharding.",
                   "Low values in gardens and squares point at a lot of paving."),
    },
    # ---------------------------------------------------------------- pressures
    "heat_mitigation": {
        "group": "pressures", "order": 20,
        "title": ("Verkoeling", "Cooling"), "unit": ("index 0-1", "index 0-1"),
        "what": ("Hoeveel verkoeling er overdag is, 1 = koelst. Lage waarden = hittegevoelige plekken.",
                 "How much cooling there is by day, 1 = coolest. Low values = heat-prone places."),
        "how": ("Het InVEST Urban Cooling-model: schaduw, weerkaatsing en verdamping van de bedekking, plus de "
                "koelte van parken van 2 ha of meer in de buurt.",
                "The InVEST Urban Cooling model: shade, reflection and evaporation of the cover, plus the coolness "
                "of parks of 2 ha or more nearby."),
        "certainty": ("Model V; de waarden per klasse komen uit een gepubliceerde tabel (Lausanne, V) en voorstellen "
                      "(P). Een index, geen temperatuur.",
                      "Model V; the values per class come from a published table (Lausanne, V) and proposals (P). "
                      "An index, not a temperature."),
        "action": ("Bomen voor schaduw, groene daken en minder tegels verkoelen het meest.",
                   "Trees for shade, green roofs and fewer tiles cool the most."),
    },
    "cooling_capacity": {
        "group": "pressures", "order": 21,
        "title": ("Koelvermogen", "Cooling capacity"), "unit": ("index 0-1", "index 0-1"),
        "what": ("Hoeveel het vak zelf koelt, zonder de parken in de buurt.",
                 "How much the cell itself cools, without the parks nearby."),
        "how": ("CC = 0,6 x schaduw + 0,2 x weerkaatsing + 0,2 x verdamping (InVEST Urban Cooling).",
                "CC = 0.6 x shade + 0.2 x albedo + 0.2 x evaporation (InVEST Urban Cooling)."),
        "certainty": ("Formule V; klassewaarden deels gemeten (V), deels voorgesteld (P).",
                      "Formula V; class values partly measured (V), partly proposed (P)."),
        "action": ("Vervang steen door groen en plant bomen.", "Replace stone by green and plant trees."),
    },
    "runoff_depth": {
        "group": "pressures", "order": 22,
        "title": ("Afstromend regenwater", "Rain runoff"), "unit": ("mm", "mm"),
        "what": ("Hoeveel water er bij een flinke bui (70 mm in een uur) van het vak afstroomt in plaats van "
                 "in de grond te zakken.", "How much water runs off the cell in a heavy storm (70 mm in one hour) "
                 "instead of soaking in."),
        "how": ("De SCS-curvenummermethode (USDA TR-55) met een curvenummer per bedekking.",
                "The SCS curve-number method (USDA TR-55) with a curve number per cover class."),
        "certainty": ("Methode S; de bui van 70 mm is een typische ontwerpbui (R). Zegt niets over riool of "
                      "hoogteverschillen.", "Method S; the 70 mm storm is a typical design storm (R). It says "
                      "nothing about sewers or terrain height."),
        "action": ("Regenton, afgekoppelde regenpijp, wadi of minder tegels houden het water vast.",
                   "A rain barrel, a disconnected downpipe, a wadi or fewer tiles hold the water."),
    },
    "runoff_volume": {
        "group": "pressures", "order": 23,
        "title": ("Afstromend volume", "Runoff volume"), "unit": ("m3 per vak", "m3 per cell"),
        "what": ("Het volume regenwater dat bij de ontwerpbui per vak afstroomt.",
                 "The volume of rain that runs off each cell in the design storm."),
        "how": ("Afstroming (mm) maal de oppervlakte van het vak.", "Runoff (mm) times the area of the cell."),
        "certainty": ("Als de afstroming: methode S, bui R.", "As the runoff: method S, storm R."),
        "action": ("Berging in tuin of straat vangt dit volume op.", "Storage in garden or street catches this volume."),
    },
    "depression_depth": {
        "group": "pressures", "order": 24,
        "title": ("Laagtes (water op straat)", "Depressions (ponding)"), "unit": ("m", "m"),
        "what": ("Waar regenwater kan blijven staan omdat het terrein daar lager ligt.",
                 "Where rainwater can pond because the ground is lower there."),
        "how": ("Uit het hoogtemodel (AHN): laagtes gevuld tot ze overlopen (priority-flood, Barnes 2014).",
                "From the elevation model (AHN): depressions filled until they spill (priority-flood, Barnes 2014)."),
        "certainty": ("Methode V; zonder riool en duikers, dus een bovengrens van water op straat.",
                      "Method V; without sewers and culverts, so an upper bound of water on the street."),
        "action": ("Laagtes zijn goede plekken voor een wadi of regentuin.",
                   "Depressions are good places for a wadi or rain garden."),
    },
    "drought_vulnerability": {
        "group": "pressures", "order": 25,
        "title": ("Droogtegevoeligheid", "Drought vulnerability"), "unit": ("index 0-1", "index 0-1"),
        "what": ("Hoe kwetsbaar de begroeiing is voor droogte, 1 = zeer kwetsbaar.",
                 "How vulnerable the vegetation is to drought, 1 = very vulnerable."),
        "how": ("Gevoeligheid van de begroeiing maal de blootstelling: grondwaterstand of bodemvocht als die er "
                "zijn, anders de verharding in de omgeving (een benadering).",
                "Sensitivity of the vegetation times exposure: groundwater level or soil moisture when available, "
                "otherwise the paving in the surroundings (a proxy)."),
        "certainty": ("Zonder grondwatergegevens een benadering (P); de gevoeligheden zijn voorstellen (P).",
                      "Without groundwater data a proxy (P); the sensitivities are proposals (P)."),
        "action": ("Laat regenwater in de grond zakken en kies droogtetolerante, inheemse planten.",
                   "Let rainwater soak into the ground and choose drought-tolerant native plants."),
    },
    "nitrogen_exceedance": {
        "group": "pressures", "order": 26,
        "title": ("Stikstofoverschrijding", "Nitrogen exceedance"), "unit": ("mol N/ha/jr", "mol N/ha/yr"),
        "what": ("Hoeveel de stikstofneerslag boven de kritische waarde van de natuur ligt.",
                 "How far nitrogen deposition exceeds the critical load of the habitat."),
        "how": ("Depositie min de kritische depositiewaarde (KDW) per Natura 2000-habitattype.",
                "Deposition minus the critical deposition value (KDW) per Natura 2000 habitat type."),
        "certainty": ("KDW-waarden uit Van Dobben 2012 (R, herzien in 2023); depositie uit de opgegeven bron.",
                      "KDW values from Van Dobben 2012 (R, revised in 2023); deposition from the given source."),
        "action": ("Minder uitstoot en bufferzones rond gevoelige natuur helpen.",
                   "Lower emissions and buffer zones around sensitive habitat help."),
    },
    "nitrogen_kdw": {
        "group": "pressures", "order": 27,
        "title": ("Kritische stikstofwaarde", "Critical nitrogen load"), "unit": ("mol N/ha/jr", "mol N/ha/yr"),
        "what": ("Hoeveel stikstof de Natura 2000-natuur in het vak verdraagt (KDW).",
                 "How much nitrogen the Natura 2000 habitat in the cell tolerates (KDW)."),
        "how": ("De KDW van het habitattype; waar meerdere typen liggen de laagste.",
                "The KDW of the habitat type; where several types meet the lowest."),
        "certainty": ("Waarden uit de KDW-tabel (R/V per rij); de herziening van 2023 kan afwijken.",
                      "Values from the KDW table (R/V per row); the 2023 revision may differ."),
        "action": ("Lage waarden = zeer gevoelige natuur: extra zorg bij plannen in de buurt.",
                   "Low values = very sensitive habitat: extra care with plans nearby."),
    },
    "nitrogen_sensitivity": {
        "group": "pressures", "order": 28,
        "title": ("Stikstofgevoeligheid", "Nitrogen sensitivity"), "unit": ("klasse", "class"),
        "what": ("De gevoeligheidsklasse van de natuur voor stikstof (AERIUS).",
                 "The sensitivity class of the habitat to nitrogen (AERIUS)."),
        "how": ("De KDW ingedeeld in klassen: < 1400, 1400-2400, >= 2400 mol.",
                "The KDW grouped in classes: < 1400, 1400-2400, >= 2400 mol."),
        "certainty": ("Klassegrenzen uit AERIUS (V).", "Class bounds from AERIUS (V)."),
        "action": ("Zeer gevoelige natuur vraagt om lage uitstoot in de omgeving.",
                   "Very sensitive habitat needs low emissions around it."),
    },
    "nitrogen_kdw_basis": {
        "group": "pressures", "order": 29,
        "title": ("Herkomst KDW", "Origin of the KDW"), "unit": ("klasse", "class"),
        "what": ("Waar de kritische waarde van het vak vandaan komt: habitatkaart, gebiedstabel of standaard.",
                 "Where the critical load of the cell comes from: habitat map, site table or default."),
        "how": ("Vastgelegd bij het berekenen van de KDW.", "Recorded while computing the KDW."),
        "certainty": ("Een standaardwaarde is minder zeker dan een habitatkaart.",
                      "A default value is less certain than a habitat map."),
        "action": ("Een habitattypenkaart van de provincie maakt dit nauwkeuriger.",
                   "A habitat-type map from the province makes this more precise."),
    },
    "light_proxy": {
        "group": "pressures", "order": 30,
        "title": ("Kunstlicht (benadering)", "Artificial light (proxy)"), "unit": ("index 0-1", "index 0-1"),
        "what": ("Hoeveel kunstlicht er 's nachts waarschijnlijk is: verlichte wegen, pleinen en gebouwen in de "
                 "buurt.", "How much artificial light there probably is at night: lit roads, squares and buildings "
                 "nearby."),
        "how": ("Verlicht oppervlak binnen 300 m, gewogen naar afstand (exp(-2,99 d / 300 m)). Geen meting.",
                "Lit surface within 300 m, weighted by distance (exp(-2.99 d / 300 m)). Not a measurement."),
        "certainty": ("Een benadering (P); metingen of satellietbeelden van nachtlicht zijn beter.",
                      "A proxy (P); measurements or night-light satellite images are better."),
        "action": ("Vleermuisvriendelijke (amber) verlichting, lagere masten en licht uit waar het kan.",
                   "Bat-friendly (amber) lighting, lower poles and lights off where possible."),
    },
    "noise_road_proxy": {
        "group": "pressures", "order": 31,
        "title": ("Verkeerslawaai (benadering)", "Road noise (proxy)"), "unit": ("dB(A)", "dB(A)"),
        "what": ("Hoeveel verkeerslawaai er waarschijnlijk is, als daggemiddelde.",
                 "How much road-traffic noise there probably is, as a daily average."),
        "how": ("Een typisch geluidsniveau per wegtype dat met de afstand afneemt (lijnbron, -10 log10(d / 10 m)); "
                "alle wegen opgeteld.", "A typical noise level per road type fading with distance (line source, "
                "-10 log10(d / 10 m)); all roads added up."),
        "certainty": ("Een benadering (P/R); de officiële geluidkaarten van de gemeente zijn nauwkeuriger.",
                      "A proxy (P/R); the municipality's official noise maps are more accurate."),
        "action": ("Lagere snelheid, stil asfalt en groene geluidswallen helpen mens en dier.",
                   "Lower speeds, quiet asphalt and green noise barriers help people and wildlife."),
    },
    "habitat_degradation": {
        "group": "pressures", "order": 32,
        "title": ("Aantasting leefgebied", "Habitat degradation"), "unit": ("index", "index"),
        "what": ("Hoe sterk bedreigingen uit de omgeving het leefgebied aantasten.",
                 "How strongly threats from the surroundings degrade the habitat."),
        "how": ("InVEST Habitat Quality: bedreigingen (bebouwing, wegen, akkers) gewogen naar afstand en "
                "gevoeligheid.", "InVEST Habitat Quality: threats (buildings, roads, arable land) weighted by "
                "distance and sensitivity."),
        "certainty": ("Model V; afstanden en gewichten zijn voorstellen (P) op basis van gepubliceerde sets.",
                      "Model V; distances and weights are proposals (P) based on published sets."),
        "action": ("Buffers van groen tussen natuur en drukke wegen verminderen de aantasting.",
                   "Green buffers between habitat and busy roads reduce the degradation."),
    },
    # ---------------------------------------------------------------- stress test
    "stress_class": {
        "group": "stress", "order": 40,
        "title": ("Stresstest: klasse", "Stress test: class"), "unit": ("klasse 1-5", "class 1-5"),
        "what": ("Hoe robuust en hoe onder druk de natuur is: van 1 (zeer kwetsbaar) tot 5 (zeer robuust).",
                 "How robust and how stressed nature is: from 1 (very vulnerable) to 5 (very robust)."),
        "how": ("Score S = robuustheid x (1 - kwetsbaarheid), ingedeeld in vijf gelijke klassen. Robuustheid: "
                "hoeveelheid, kwaliteit, samenhang en variatie van groen; kwetsbaarheid: hitte, water, droogte, "
                "stikstof en verstoring.",
                "Score S = robustness x (1 - vulnerability), in five equal classes. Robustness: amount, quality, "
                "connection and variety of green; vulnerability: heat, water, drought, nitrogen and disturbance."),
        "certainty": ("Een voorstel (P): gewichten en drempels staan in tabellen voor de ecoloog. Gebruik het om "
                      "plekken te vergelijken.", "A proposal (P): weights and thresholds are in tables for the "
                      "ecologist. Use it to compare places."),
        "action": ("Rode plekken hebben het eerst hulp nodig: meer en beter groen, minder hitte en verharding.",
                   "Red places need help first: more and better green, less heat and paving."),
    },
    "stress_score": {
        "group": "stress", "order": 41,
        "title": ("Stresstest: score", "Stress test: score"), "unit": ("index 0-1", "index 0-1"),
        "what": ("De gecombineerde score van de stresstest, 1 = robuust en weinig druk.",
                 "The combined stress-test score, 1 = robust and little stress."),
        "how": ("S = R x (1 - V), per vak.", "S = R x (1 - V), per cell."),
        "certainty": ("Een voorstel (P).", "A proposal (P)."),
        "action": ("Zie de klasse.", "See the class."),
    },
    "stress_robustness": {
        "group": "stress", "order": 42,
        "title": ("Robuustheid", "Robustness"), "unit": ("index 0-1", "index 0-1"),
        "what": ("Hoeveel, hoe goed, hoe verbonden en hoe gevarieerd het groen is, 1 = robuust.",
                 "How much, how good, how connected and how varied the green is, 1 = robust."),
        "how": ("Gewogen gemiddelde van groenaandeel, omvang en kwaliteit van leefgebied, netwerken van "
                "gidssoorten en variatie in groen.", "Weighted mean of green share, habitat size and quality, guide-"
                "species networks and variety of green."),
        "certainty": ("Gewichten en drempels zijn voorstellen (P).", "Weights and thresholds are proposals (P)."),
        "action": ("Meer soorten groen door elkaar (bomen, struiken, kruiden) maakt robuuster.",
                   "More kinds of green mixed (trees, shrubs, herbs) make it more robust."),
    },
    "stress_vulnerability": {
        "group": "stress", "order": 43,
        "title": ("Kwetsbaarheid", "Vulnerability"), "unit": ("index 0-1", "index 0-1"),
        "what": ("Hoe sterk het groen onder druk staat van hitte, water, droogte, stikstof en verstoring, "
                 "1 = zeer kwetsbaar.", "How strongly the green is stressed by heat, water, drought, nitrogen and "
                 "disturbance, 1 = very vulnerable."),
        "how": ("Blootstelling aan elke druk maal de gevoeligheid van de begroeiing, gewogen gemiddeld.",
                "Exposure to each pressure times the sensitivity of the vegetation, weighted mean."),
        "certainty": ("Gevoeligheden en gewichten zijn voorstellen (P).", "Sensitivities and weights are proposals (P)."),
        "action": ("Verminder de grootste druk ter plekke (zie de kaartlagen onder 'Druk').",
                   "Reduce the largest pressure on the spot (see the layers under 'Pressures')."),
    },
    "stress_green_diversity": {
        "group": "stress", "order": 44,
        "title": ("Variatie in groen", "Variety of green"), "unit": ("groenklassen (effectief)", "green classes (effective)"),
        "what": ("Hoeveel soorten groen er binnen 50 m zijn, als effectief aantal.",
                 "How many kinds of green there are within 50 m, as an effective number."),
        "how": ("Shannon-diversiteit van de groenklassen, N1 = exp(H) (Hill 1973).",
                "Shannon diversity of the green classes, N1 = exp(H) (Hill 1973)."),
        "certainty": ("Formule V; zo goed als de bodembedekking.", "Formula V; as good as the land cover."),
        "action": ("Voeg een andere laag toe: struiken bij gras, bloemen onder bomen.",
                   "Add another layer: shrubs by the grass, flowers under the trees."),
    },
    # ---------------------------------------------------------------- potential
    "potential_landcover": {
        "group": "potential", "order": 50,
        "title": ("Mogelijke bodembedekking", "Potential land cover"), "unit": ("klasse", "class"),
        "what": ("Wat er in elk vak zou kunnen liggen als de realistische veranderingen worden gedaan.",
                 "What could cover each cell if the realistic changes were made."),
        "how": ("Overgangen uit een tabel (bijv. 15 % van de bestrating wordt kruidenrijk grasland, 30 % van de "
                "platte daken groen) toegepast op de huidige bedekking.",
                "Transitions from a table (e.g. 15 % of paving becomes herb-rich grassland, 30 % of flat roofs "
                "green) applied to the current cover."),
        "certainty": ("De aandelen zijn voorstellen (P) of typische waarden (R).",
                      "The shares are proposals (P) or typical values (R)."),
        "action": ("Bespreek met de buurt welke veranderingen echt kunnen.",
                   "Discuss with the neighbourhood which changes can really be made."),
    },
    # ---------------------------------------------------------------- opportunities
    "opportunity_gain": {
        "group": "opportunities", "order": 60,
        "title": ("Kansen: winst", "Opportunities: gain"), "unit": ("m2 natuurwaarde per vak",
                                                                    "m2 habitat-equivalent per cell"),
        "what": ("Hoeveel natuur, verkoeling en waterberging de beste passende maatregel in het vak oplevert.",
                 "How much nature, cooling and water storage the best fitting measure brings in the cell."),
        "how": ("Per maatregel uit de catalogus: past hij (regels), wat verandert er aan de bedekking, en de winst "
                "= leefgebied + 0,5 x verkoeling + 7 x waterberging.",
                "Per measure of the catalogue: does it fit (rules), how does the cover change, and the gain = "
                "habitat + 0.5 x cooling + 7 x water storage."),
        "certainty": ("De gewichten zijn voorstellen (P); de kosten zijn vaak typische waarden (R).",
                      "The weights are proposals (P); the costs are often typical values (R)."),
        "action": ("Klik op een plek voor de maatregelen die daar passen en wat ze kosten.",
                   "Click a place for the measures that fit there and what they cost."),
    },
    "opportunity_best_measure": {
        "group": "opportunities", "order": 61,
        "title": ("Kansen: beste maatregel", "Opportunities: best measure"), "unit": ("maatregel", "measure"),
        "what": ("Welke maatregel in het vak de meeste winst geeft.", "Which measure gives the largest gain in the cell."),
        "how": ("Van de maatregelen die passen de grootste gecombineerde winst.",
                "Of the measures that fit, the one with the largest combined gain."),
        "certainty": ("Hangt af van de regels en gewichten (P); gegevens over eigendom en daken ontbreken vaak.",
                      "Depends on the rules and weights (P); ownership and roof data are often missing."),
        "action": ("Klik voor alle passende maatregelen, niet alleen de beste.",
                   "Click for all measures that fit, not only the best."),
    },
    "opportunity_count": {
        "group": "opportunities", "order": 62,
        "title": ("Kansen: aantal maatregelen", "Opportunities: number of measures"), "unit": ("aantal", "count"),
        "what": ("Hoeveel maatregelen uit de catalogus in het vak passen.", "How many catalogue measures fit in the cell."),
        "how": ("De passingsregels van alle maatregelen geteld.", "The fit rules of all measures counted."),
        "certainty": ("Regels zijn voorstellen (P).", "Rules are proposals (P)."),
        "action": ("Veel kansen = een goede plek om te beginnen.", "Many opportunities = a good place to start."),
    },
    "guide_species_key_networks": {
        "group": "guide_species", "order": 70,
        "title": ("Gidssoorten met sleutelnetwerk", "Guide species with a key network"),
        "unit": ("aantal soorten", "number of species"),
        "what": ("Voor hoeveel gidssoorten het vak in een netwerk ligt dat groot genoeg is voor een duurzame "
                 "populatie.", "For how many guide species the cell lies in a network large enough for a lasting "
                 "population."),
        "how": ("Per soort: geschikt leefgebied (bedekking min druk van licht, lawaai, wegen, hitte, droogte), "
                "gebieden binnen de verspreidingsafstand verbonden, het netwerk getoetst aan de oppervlaktenorm.",
                "Per species: suitable habitat (cover minus pressure from light, noise, roads, heat, drought), "
                "patches within dispersal distance connected, the network tested against the area norm."),
        "certainty": ("Gevoeligheden en normen zijn deels typische waarden (R) en voorstellen (P).",
                      "Sensitivities and norms are partly typical values (R) and proposals (P)."),
        "action": ("Verbind leefgebieden zodat meer soorten een sleutelnetwerk halen.",
                   "Connect habitats so more species reach a key network."),
    },
}


_MEANS_HOW = ("Per {nl} het exacte oppervlaktegewogen gemiddelde van de vakken van 10 m: elk vak telt mee naar het "
              "deel van het vak dat binnen {nl_the} ligt (exactextract). Zo zijn de cijfers op dezelfde schaal als "
              "de kaart per vak en dezelfde als in aggregates.gpkg van het rapport.",
              "Per {en} the exact area-weighted mean of the 10 m cells: each cell counts with the part of it that "
              "lies inside {en_the} (exactextract). So the numbers are on the same scale as the map per cell and "
              "the same as in the report's aggregates.gpkg.")


def _how(extra: tuple[str, str], nl: str, nl_the: str, en: str, en_the: str) -> tuple[str, str]:
    return (f"{extra[0]} {_MEANS_HOW[0].format(nl=nl, nl_the=nl_the)}",
            f"{extra[1]} {_MEANS_HOW[1].format(en=en, en_the=en_the)}")


#: the streets and managed objects of the report's ``aggregates.gpkg`` (:mod:`biostress.aggregate.objects`):
#: title, the name of one object (``one``), what / how / certainty / action, per language ``(nl, en)``
OBJECTS: dict[str, LayerText | dict] = {
    "street_segments": {
        "title": ("Straten (straatsegmenten)", "Streets (street segments)"),
        "one": ("Straatsegment", "Street segment"),
        "unit": ("gemiddelde per segment", "mean per segment"),
        "what": ("Het fijnste niveau na de buurt: elke straat in stukken van hoogstens 250 m, met de rijbaan en "
                 "5 m berm aan weerszijden. Klik op een straat voor haar cijfers.",
                 "The finest level after the neighbourhood: every street in pieces of at most 250 m, with the "
                 "carriageway and 5 m of verge on each side. Click a street for its numbers."),
        "how": _how(("Wegen uit OpenStreetMap (OpenMapTiles), in gelijke stukken van hoogstens 250 m geknipt en "
                     "gebufferd met de halve rijbaanbreedte van hun wegklasse plus 5 m berm.",
                     "Roads from OpenStreetMap (OpenMapTiles), cut into equal pieces of at most 250 m and buffered "
                     "by half the carriageway width of their road class plus 5 m of verge."),
                    "straatsegment", "de buffer", "street segment", "the buffer"),
        "certainty": ("Rijbaanbreedtes per wegklasse zijn typische waarden (R), de berm van 5 m een voorstel (P); "
                      "de cijfers zo zeker als de kaart waar ze van komen.",
                      "Carriageway widths per road class are typical values (R), the 5 m verge a proposal (P); "
                      "the numbers as certain as the map they come from."),
        "action": ("Vergelijk straten in uw buurt: waar is het heet, versteend of kaal? Daar helpen bomen, "
                   "geveltuinen en minder tegels het meest.",
                   "Compare the streets of your neighbourhood: where is it hot, paved or bare? That is where "
                   "trees, façade gardens and fewer tiles help most."),
    },
    "verges": {
        "title": ("Bermen", "Verges"),
        "one": ("Berm", "Verge"),
        "unit": ("gemiddelde per berm", "mean per verge"),
        "what": ("De strook van 5 m naast de rijbaan van elk straatsegment: de plek voor bomen, bloemrijk gras "
                 "en wadi's.", "The 5 m strip beside the carriageway of each street segment: the place for "
                 "trees, flower-rich grass and swales."),
        "how": _how(("De buffer van het straatsegment min de rijbanen van alle wegen die hij raakt.",
                     "The street segment's buffer minus the carriageways of every road it touches."),
                    "berm", "de berm", "verge", "the verge"),
        "certainty": ("De bermbreedte van 5 m is een voorstel (P); echte bermen zijn smaller of breder.",
                      "The verge width of 5 m is a proposal (P); real verges are narrower or wider."),
        "action": ("Kale, versteende bermen zijn de eerste kandidaten voor bomen en bloemrijk gras.",
                   "Bare, paved verges are the first candidates for trees and flower-rich grass."),
    },
    "parks": {
        "title": ("Parken en plantsoenen", "Parks and public green"),
        "one": ("Park", "Park"),
        "unit": ("gemiddelde per park", "mean per park"),
        "what": ("Aaneengesloten openbaar groen (gras, bloemrijk grasland, struiken, bomen) van minstens 0,5 ha; "
                 "tuinen en volkstuinen tellen niet mee.",
                 "Connected public green (grass, flower-rich grassland, shrubs, trees) of at least 0.5 ha; "
                 "gardens and allotments do not count."),
        "how": _how(("Vakken met die bodembedekking die aan elkaar grenzen vormen één park.",
                     "Cells with that land cover that touch each other form one park."),
                    "park", "het park", "park", "the park"),
        "certainty": ("De ondergrens van 0,5 ha volgt WHO Europa (R); de grenzen zijn die van de vakken van 10 m.",
                      "The lower limit of 0.5 ha follows WHO Europe (R); the edges are those of the 10 m cells."),
        "action": ("Parken met weinig leefgebied of veel verharding hebben de meeste ruimte voor natuurlijker "
                   "beheer.", "Parks with little habitat or much paving have the most room for more natural "
                   "management."),
    },
    "woods": {
        "title": ("Bossen en bosjes", "Woods"),
        "one": ("Bos", "Wood"),
        "unit": ("gemiddelde per bos", "mean per wood"),
        "what": ("Aaneengesloten bos en bomengroepen van minstens 0,5 ha.",
                 "Connected woodland and groups of trees of at least 0.5 ha."),
        "how": _how(("Vakken met vooral bomen die aan elkaar grenzen vormen één bos.",
                     "Cells mostly covered by trees that touch each other form one wood."),
                    "bos", "het bos", "wood", "the wood"),
        "certainty": ("Zo goed als de bronkaarten van de bomen (V voor de methode); de ondergrens van 0,5 ha is R.",
                      "As good as the source maps of the trees (V for the method); the lower limit of 0.5 ha is R."),
        "action": ("Bossen zijn kernen van het groene netwerk: verbind ze met bomenrijen en bermen.",
                   "Woods are cores of the green network: connect them with rows of trees and verges."),
    },
}
