"""Species records: Darwin Core CSV and Archive reading, cleaning, per-cell and per-unit counts.

The hand-made fixtures (tests/data/species) hold 12 records at these RD New positions; with a grid
from (105000, 424000) to (105300, 424200), 10 m cells and 100 m aggregation cells (2 rows x 3 cols):

====  ===========  ==============================  ==========================================  ========
id    x, y          name                            why                                         cell
====  ===========  ==============================  ==========================================  ========
r01   105050,150    Passer domesticus               red list (GE)                               (0, 0)
r02   105060,160    Passer domesticus               same species again                          (0, 0)
r03   105070,130    Turdus merula                                                               (0, 0)
r04   105040,120    Turdus (GENUS)                  effort only, not richness                   (0, 0)
r05   105150,150    Triturus cristatus              red list (KW)                               (0, 1)
r06   105160,140    Erinaceus europaeus                                                         (0, 1)
r07   105170,130    Erinaceus europaeus             occurrenceStatus ABSENT: excluded           -
r08   105250,050    Hyla arborea                    red list; uncertainty 5000 m > cell         (1, 2)
r09   105250,060    Hyla arborea                                                                (1, 2)
r10   105120,050    Mammuthus primigenius           FossilSpecimen: excluded                    -
r11   (none)        Vulpes vulpes                   no coordinates: excluded                    -
r12   105080,180    Parus major major (SUBSPECIES)  counts as Parus major                       (0, 0)
====  ===========  ==============================  ==========================================  ========
(y given as 424000 + the number shown)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from biostress.errors import ConfigError, InputDataError, UnsafeInputError
from biostress.grid import Grid
from biostress.indicators import species_records as S
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend

DATA = Path(__file__).parent / "data" / "species"
SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dordrecht" / "data"
LEGEND = load_legend()
GRID = Grid.from_bounds((105000, 424000, 105300, 424200), 10, "EPSG:28992")

RECORDS = [[5, 2, 0], [0, 0, 2]]
RICHNESS = [[3, 2, np.nan], [np.nan, np.nan, 1]]
RED = [[1, 1, np.nan], [np.nan, np.nan, 1]]
UNCERTAIN = [[0, 0, 0], [0, 0, 1]]
SPECIES = {"Passer domesticus", "Turdus merula", "Triturus cristatus", "Erinaceus europaeus", "Hyla arborea",
           "Parus major"}


def _dwca(tmp_path: Path, members: dict[str, bytes | str] | None = None, name: str = "dwca.zip") -> Path:
    members = members if members is not None else {
        "meta.xml": (DATA / "meta.xml").read_bytes(),
        "data/occurrence.txt": (DATA / "dwca_occurrence.txt").read_bytes(),
    }
    p = tmp_path / name
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return p


def _counts(recs: S.DwcRecords, cell_m: float = 100.0) -> S.CellCounts:
    frame, _ = S.clean_records(recs)
    pts = S.records_to_points(frame, GRID.crs)
    red_keys = set(S.load_red_list()["key"])
    codes = {s: i for i, s in enumerate(sorted(set(frame["species"].dropna())))}
    sp = np.array([codes.get(s, -1) if isinstance(s, str) else -1 for s in frame["species"]])
    red = np.array([isinstance(s, str) and s in red_keys for s in frame["species"]])
    return S.aggregate_to_cells(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(), sp, red, GRID, cell_m,
                                frame["uncertainty_m"].to_numpy())


def _check_hand_counts(cc: S.CellCounts) -> None:
    assert cc.factor == 10 and cc.grid.shape == (2, 3)
    np.testing.assert_array_equal(cc.records, RECORDS)
    np.testing.assert_array_equal(cc.richness, RICHNESS)  # NaN where not sampled, not 0
    np.testing.assert_array_equal(cc.red_list, RED)
    np.testing.assert_array_equal(cc.uncertain, UNCERTAIN)
    assert cc.outside == 0


def test_dwca_with_unusual_descriptor(tmp_path):
    recs = S.read_dwc(_dwca(tmp_path))
    f = recs.frame
    assert len(f) == 12
    # columns found through meta.xml indexes, not names or order; quotes and defaults applied
    assert f.loc[2, "scientificName"] == "Turdus merula Linnaeus, 1758"
    assert f.loc[0, "basisOfRecord"] == "HumanObservation"  # blank -> default
    assert f.loc[8, "basisOfRecord"] == "MachineObservation"
    assert (f["geodeticDatum"] == "EPSG:4326").all()  # default-only field
    assert f.loc[0, "occurrenceID"] == "r01"
    frame, notes = S.clean_records(recs)
    assert len(frame) == 9 and set(frame["species"].dropna()) == SPECIES
    text = " ".join(notes)
    assert "1 of 12 record(s) recorded as absent" in text and "fossil" in text and "without valid WGS84" in text
    assert "not identified to species" in text
    _check_hand_counts(_counts(recs))


def test_gbif_csv_gives_the_same_counts():
    recs = S.read_dwc(DATA / "gbif_simple.csv")
    assert "species" in recs.frame.columns and len(recs.frame) == 12
    _check_hand_counts(_counts(recs))


def test_comma_csv_with_prefixed_terms_and_cp1252(tmp_path):
    p = tmp_path / "ndff.csv"
    text = ("dwc:scientificName,dwc:decimalLatitude,dwc:decimalLongitude,dwc:vernacularName\n"
            "Passer domesticus,51.80374763,4.66299143,Mus\u00e9e mus\n"
            "Hyla arborea,51.80295659,4.66590389,Boomkikker\n")
    p.write_bytes(text.encode("cp1252"))
    recs = S.read_dwc(p)
    assert list(recs.frame["scientificName"]) == ["Passer domesticus", "Hyla arborea"]
    assert any("Windows-1252" in n for n in recs.notes)


def test_event_core_with_occurrence_extension(tmp_path):
    meta = """<archive xmlns="http://rs.tdwg.org/dwc/text/">
      <core rowType="http://rs.tdwg.org/dwc/terms/Event" fieldsTerminatedBy="\\t" fieldsEnclosedBy=""
            ignoreHeaderLines="1" encoding="UTF-8">
        <files><location>event.txt</location></files>
        <id index="0"/>
        <field index="1" term="http://rs.tdwg.org/dwc/terms/eventDate"/>
        <field index="2" term="http://rs.tdwg.org/dwc/terms/decimalLatitude"/>
        <field index="3" term="http://rs.tdwg.org/dwc/terms/decimalLongitude"/>
      </core>
      <extension rowType="http://rs.tdwg.org/dwc/terms/Occurrence" fieldsTerminatedBy=";" ignoreHeaderLines="0">
        <files><location>occ.txt</location></files>
        <coreid index="2"/>
        <field index="0" term="http://rs.tdwg.org/dwc/terms/scientificName"/>
        <field index="1" term="http://rs.tdwg.org/dwc/terms/occurrenceStatus"/>
      </extension>
    </archive>"""
    event = "id\teventDate\tlat\tlon\ne1\t2020-05-01\t51.80374763\t4.66299143\ne2\t2020-05-02\t51.80295659\t4.66590389\n"
    occ = "Passer domesticus;present;e1\nTurdus merula;present;e1\nHyla arborea;absent;e2\nHyla arborea;present;e2\n"
    recs = S.read_dwc(_dwca(tmp_path, {"meta.xml": meta, "event.txt": event, "occ.txt": occ}))
    frame, _ = S.clean_records(recs)
    assert len(frame) == 3 and frame["lat"].notna().all()
    pts = S.records_to_points(frame, GRID.crs)
    cells = sorted(zip(((pts.geometry.y.to_numpy() - 424000) // 100).astype(int),
                       ((pts.geometry.x.to_numpy() - 105000) // 100).astype(int), strict=True))
    assert cells == [(0, 2), (1, 0), (1, 0)]  # rows counted from the bottom here: y 424150 -> 1, 424060 -> 0


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt", "C:/evil.txt", "a\\b.txt"])
def test_hostile_member_paths_refused(tmp_path, member):
    p = _dwca(tmp_path, {"meta.xml": (DATA / "meta.xml").read_bytes(),
                         "data/occurrence.txt": (DATA / "dwca_occurrence.txt").read_bytes(), member: b"x"})
    with pytest.raises(UnsafeInputError, match="unsafe paths"):
        S.read_dwc(p)


def test_meta_pointing_outside_refused(tmp_path):
    meta = (DATA / "meta.xml").read_text().replace("data/occurrence.txt", "../occurrence.txt")
    with pytest.raises(UnsafeInputError, match="unsafe path"):
        S.read_dwc(_dwca(tmp_path, {"meta.xml": meta, "data/occurrence.txt": b"x"}))


def test_size_limits_and_zip_bomb(tmp_path):
    with pytest.raises(UnsafeInputError, match="expands to"):
        S.read_dwca(_dwca(tmp_path), max_bytes=1000)
    bomb = _dwca(tmp_path, {"meta.xml": (DATA / "meta.xml").read_bytes(), "data/occurrence.txt": b"0" * (30 * 1024**2)},
                 name="bomb.zip")
    with pytest.raises(UnsafeInputError, match="zip bomb"):
        S.read_dwca(bomb)
    with pytest.raises(UnsafeInputError, match="members"):
        S.read_dwca(_dwca(tmp_path), max_members=1)
    # a stream that is longer than it claims is cut off
    lim = S._Limited(io.BytesIO(b"x" * 100), 50, "test")
    with pytest.raises(UnsafeInputError):
        io.BufferedReader(lim).read()
    with pytest.raises(UnsafeInputError):
        S.read_dwc_csv(DATA / "gbif_simple.csv", max_bytes=10)


@pytest.mark.parametrize("meta,err,match", [
    ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><archive/>', UnsafeInputError, "DOCTYPE"),
    ("<archive><core rowType='http://rs.tdwg.org/dwc/terms/Occurrence'><files><location>nothere.txt</location></files>"
     "</core></archive>", InputDataError, "not in the archive"),
    ("<archive><core rowType='http://rs.tdwg.org/dwc/terms/Occurrence' fieldsTerminatedBy='|' ignoreHeaderLines='2'>"
     "<files><location>data/occurrence.txt</location></files><field index='42' term='scientificName'/></core></archive>",
     InputDataError, "has 10 column"),
    ("<archive><extension><files><location>x.txt</location></files></extension></archive>", InputDataError, "no <core>"),
    ("<archive><core/></archive>", InputDataError, "no <files><location>"),
    ("<archive", InputDataError, "not valid XML"),
    ("<archive><core rowType='Taxon'><files><location>data/occurrence.txt</location></files></core></archive>",
     InputDataError, "no occurrence data"),
])
def test_bad_meta_xml(tmp_path, meta, err, match):
    p = _dwca(tmp_path, {"meta.xml": meta, "data/occurrence.txt": (DATA / "dwca_occurrence.txt").read_bytes()})
    with pytest.raises(err, match=match):
        S.read_dwc(p)


def test_core_without_row_type_is_read_as_occurrences(tmp_path):
    meta = (DATA / "meta.xml").read_text().replace(' rowType="http://rs.tdwg.org/dwc/terms/Occurrence"', "")
    recs = S.read_dwc(_dwca(tmp_path, {"meta.xml": meta,
                                       "data/occurrence.txt": (DATA / "dwca_occurrence.txt").read_bytes()}))
    assert len(recs.frame) == 12 and any("no rowType" in n for n in recs.notes)


def test_bad_inputs(tmp_path):
    (tmp_path / "x.csv").write_text("name,lat,lon\nA b,1,2\n")
    with pytest.raises(InputDataError, match="lacks the Darwin Core column"):
        S.clean_records(S.read_dwc(tmp_path / "x.csv"))
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(InputDataError, match="empty"):
        S.read_dwc(tmp_path / "e.csv")
    (tmp_path / "b.bin").write_bytes(b"\x00\x01\x02\x03" * 50)
    with pytest.raises(InputDataError):
        S.read_dwc(tmp_path / "b.bin")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputDataError, match="zip"):
        S.read_dwc(tmp_path / "broken.zip")
    with pytest.raises(InputDataError, match="not found"):
        S.read_dwc(tmp_path / "missing.csv")


def test_species_key():
    assert S.species_key("Ondatra zibethicus (Linnaeus, 1766)") == "Ondatra zibethicus"
    assert S.species_key("Myocastor coypus Molina, 1782") == "Myocastor coypus"
    assert S.species_key("Parus major major") == "Parus major"
    assert S.species_key("Parus major", "GENUS") is None
    assert S.species_key("Parus sp.") is None and S.species_key("Parus") is None and S.species_key(None) is None
    assert S.species_key("Aves") is None


def test_red_list_table(tmp_path):
    red = S.load_red_list()
    assert {"Passer domesticus", "Triturus cristatus", "Hyla arborea"} <= set(red["key"])
    assert set(red["ev"]) <= {"V", "S", "R", "P"} and (red["source"].str.len() > 0).all()
    assert not {"Ondatra zibethicus", "Myocastor coypus"} & set(red["key"])  # invasive exotics are not red-listed
    (tmp_path / "red_list_nl.csv").write_text(
        "scientificName,dutchName,group,category,list,ev,source\nAlcedo atthis,IJsvogel,birds,XX,own,R,x\n")
    with pytest.raises(ConfigError, match="categories"):
        S.load_red_list(tmp_path)
    (tmp_path / "red_list_nl.csv").write_text(
        "scientificName,dutchName,group,category,list,ev,source\nAlcedo atthis,IJsvogel,birds,KW,own,V,x\n")
    assert list(S.load_red_list(tmp_path)["key"]) == ["Alcedo atthis"]


def test_expand_to_grid_chunked():
    coarse = np.arange(6, dtype=np.float32).reshape(2, 3)
    a = S.expand_to_grid(coarse, 4, (7, 10))
    assert a.shape == (7, 10) and a[3, 3] == 0 and a[4, 4] == 4 and a[6, 9] == 5
    np.testing.assert_array_equal(a, S.expand_to_grid(coarse, 4, (7, 10), chunks=(3, 4)).compute())


def _ctx(layers: dict, grid: Grid = GRID, units: dict | None = None, chunked: bool = False) -> IndicatorContext:
    n = len(LEGEND.classes)
    fr = np.zeros((n, *grid.shape), np.float32)
    fr[LEGEND.keys.index("lawn_grass")] = 1.0
    inside = np.ones(grid.shape, np.float32)
    dom = np.full(grid.shape, 7, np.uint8)
    if chunked:
        fr, inside = da.from_array(fr, chunks=(-1, 7, 9)), da.from_array(inside, chunks=(7, 9))
    return IndicatorContext(grid, LEGEND, fr, dom, inside, units=units or {}, layers=layers)


def _layer_from_csv() -> gpd.GeoDataFrame:
    df = S.read_dwc(DATA / "gbif_simple.csv").frame
    lat = pd.to_numeric(df["decimalLatitude"], errors="coerce")
    lon = pd.to_numeric(df["decimalLongitude"], errors="coerce")
    ok = lat.notna()
    g = gpd.GeoDataFrame(df[ok], geometry=gpd.points_from_xy(lon[ok], lat[ok]), crs="EPSG:4326")
    return g.to_crs(GRID.crs)


def test_compute_hand_made_layer_per_cell_and_per_unit():
    units = gpd.GeoDataFrame({"code": ["W", "E", "X"], "name": ["west", "east", "empty"]},
                             geometry=[shapely.box(105000, 424000, 105120, 424200),
                                       shapely.box(105120, 424000, 105300, 424200),
                                       shapely.box(105300, 424000, 105400, 424200)], crs=GRID.crs)
    res = {r.name: r for r in S.compute(_ctx({"obs": _layer_from_csv()}, units={"unit": units}), cell_m=100)}
    rich = res["species_richness"].array
    # the 100 m cell (0,0) covers rows 0-9, cols 0-9 of the 10 m grid
    assert rich[0, 0] == 3 and rich[9, 9] == 3 and rich[0, 10] == 2 and np.isnan(rich[0, 20]) and rich[19, 29] == 1
    assert res["species_records"].array[5, 5] == 5 and res["species_records"].array[15, 5] == 0
    assert res["red_list_richness"].array[0, 10] == 1
    cov = res["species_coverage"].array
    assert cov[0, 0] == 2 and cov[0, 10] == 1 and cov[0, 20] == 0 and cov[19, 29] == 1
    lay = res["species_records"].layers["species_records_unit"].set_index("code")
    # W: r01-r04, r12 -> 5 records, 3 species, 1 red-listed; E: r05, r06, r08, r09 -> 4, 3, 2
    assert lay.loc["W", "records"] == 5 and lay.loc["W", "richness"] == 3 and lay.loc["W", "red_list_richness"] == 1
    assert lay.loc["E", "records"] == 4 and lay.loc["E", "richness"] == 3 and lay.loc["E", "red_list_richness"] == 2
    assert lay.loc["E", "records_uncertain"] == 1 and "Hyla arborea" in lay.loc["E", "red_list_species"]
    assert lay.loc["X", "records"] == 0 and np.isnan(lay.loc["X", "richness"]) and not lay.loc["X", "sampled"]
    cells = res["species_records"].tables["species_records_cells"].set_index(["row", "col"])
    assert cells.loc[(0, 0), "x_centre"] == 105050 and cells.loc[(0, 0), "y_centre"] == 424150
    assert cells.loc[(1, 2), "records_uncertain"] == 1 and len(cells) == 3  # only sampled cells are listed
    notes = " ".join(res["species_records"].notes)
    assert "larger than the 100 m aggregation cell" in notes and "excluded" in notes
    chunked = {r.name: r for r in S.compute(_ctx({"obs": _layer_from_csv()}, chunked=True), cell_m=100)}
    for name, r in res.items():
        np.testing.assert_array_equal(np.asarray(r.array), np.asarray(chunked[name].array))


def test_compute_without_records_is_not_sampled_everywhere():
    res = {r.name: r for r in S.compute(_ctx({}), cell_m=100)}
    assert (res["species_coverage"].array == 0).all()
    assert np.isnan(res["species_richness"].array).all()
    assert (res["species_records"].array == 0).all()
    assert any("no species records supplied" in n for n in res["species_records"].notes)
    with pytest.raises(ConfigError, match="whole multiple"):
        S.compute(_ctx({}), cell_m=125)


# --------------------------------------------------------------------------------------------------
# real data: muskrat and coypu catches in Dordrecht (Unie van Waterschappen, CC0)


CATCH_SPECIES = {"Muskusrat": "Ondatra zibethicus (Linnaeus, 1766)", "Beverrat": "Myocastor coypus (Molina, 1782)"}


def _catches_as_dwc() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The catches mapped to Darwin Core terms: scientificName from CatchTypeName, WGS84 from RD x/y,
    eventDate (ISO) from CreatedOn (d-m-yyyy hh:mm), individualCount from NumberOfCatches."""
    raw = pd.read_csv(SAMPLE / "muskrat_coypu_catches_2019_dordrecht.csv")
    to_ll = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(raw["x_rd"].to_numpy(), raw["y_rd"].to_numpy())
    dwc = pd.DataFrame({
        "occurrenceID": [f"uvw-2019-{i}" for i in range(len(raw))],
        "scientificName": raw["CatchTypeName"].map(CATCH_SPECIES),
        "taxonRank": "SPECIES",
        "decimalLatitude": [f"{v:.9f}" for v in lat],
        "decimalLongitude": [f"{v:.9f}" for v in lon],
        "eventDate": pd.to_datetime(raw["CreatedOn"], format="%d-%m-%Y %H:%M").dt.strftime("%Y-%m-%dT%H:%M"),
        "individualCount": raw["NumberOfCatches"],
        "basisOfRecord": "HumanObservation",
        "occurrenceStatus": "present",
        "geodeticDatum": "EPSG:4326",
    })
    return raw, dwc


def test_muskrat_catches_real_data(tmp_path):
    raw, dwc = _catches_as_dwc()
    assert dwc["scientificName"].notna().all()  # every catch type is mapped
    p = tmp_path / "catches_dwc.csv"
    dwc.to_csv(p, index=False)
    recs = S.read_dwc(p)
    frame, notes = S.clean_records(recs)
    assert len(frame) == len(raw) == 152
    # the 2019 file holds muskrat catches only (no coypu): observed richness is 1 wherever sampled
    assert set(frame["species"]) == {"Ondatra zibethicus"}
    assert "years 2019-2019" in " ".join(notes)
    grid = Grid.from_bounds((100000, 415000, 122000, 428000), 50, "EPSG:28992")
    pts = S.records_to_points(frame, grid.crs)
    sp = np.zeros(len(pts), dtype=np.int64)
    cc = S.aggregate_to_cells(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(), sp, np.zeros(len(pts), bool),
                              grid, 250.0)
    # independent reference: 250 m cells counted from the original RD coordinates
    col = ((raw["x_rd"] - grid.x0) // 250).astype(int)
    row = ((grid.y1 - raw["y_rd"]) // 250).astype(int)
    ref = np.zeros(cc.records.shape, dtype=int)
    np.add.at(ref, (row.to_numpy(), col.to_numpy()), 1)
    np.testing.assert_array_equal(cc.records, ref)
    assert cc.records.sum() == 152 and cc.outside == 0
    np.testing.assert_array_equal(np.isnan(cc.richness), ref == 0)
    assert np.nanmax(cc.richness) == 1 and np.nanmin(cc.richness) == 1
    np.testing.assert_array_equal(cc.red_list[ref > 0], 0)  # muskrat is not red-listed


def test_muskrat_catches_per_buurt():
    raw, dwc = _catches_as_dwc()
    buurten = gpd.read_file(SAMPLE / "cbs_buurten_2024_generalised_dordrecht.geojson").to_crs("EPSG:28992")
    units = gpd.GeoDataFrame({"code": buurten["buurtcode"].astype(str), "name": buurten["buurtnaam"]},
                             geometry=buurten.geometry.values, crs=buurten.crs)
    layer = gpd.GeoDataFrame(dwc, geometry=gpd.points_from_xy(raw["x_rd"], raw["y_rd"]), crs="EPSG:28992")
    grid = Grid.from_bounds(tuple(units.total_bounds), 50, "EPSG:28992")
    res = {r.name: r for r in S.compute(_ctx({"catches": layer}, grid=grid, units={"buurt": units}))}
    lay = res["species_records"].layers["species_records_buurt"].set_index("code")
    # independent reference: shapely point-in-polygon, one buurt per catch (the first that covers it)
    ref = dict.fromkeys(units["code"], 0)
    for x, y in zip(raw["x_rd"], raw["y_rd"], strict=True):
        pt = shapely.Point(x, y)
        hit = next((c for c, g in zip(units["code"], units.geometry, strict=True) if g.covers(pt)), None)
        if hit is not None:
            ref[hit] += 1
    assert lay["records"].to_dict() == ref
    # the catch file covers the water board's surroundings too: only part of it lies in the municipality
    assert 0 < sum(ref.values()) < 152
    sampled = lay["records"] > 0
    assert (lay.loc[sampled, "richness"] == 1).all() and lay.loc[~sampled, "richness"].isna().all()
    assert (lay.loc[sampled, "species_list"] == "Ondatra zibethicus").all()
    assert (lay["sampled"] == sampled).all()


def test_dwca_as_a_source_of_an_area(tmp_path, write_area):
    """A Darwin Core Archive named as a 'species_records' source reaches the indicator through a run."""
    import rasterio

    from biostress.config import load_area
    from biostress.pipeline import run_area
    from conftest import source

    proj = tmp_path / "proj"
    proj.mkdir()
    _dwca(proj, name="gbif.zip")
    gpd.GeoDataFrame({"typ": ["gras"]}, geometry=[shapely.box(105000, 424000, 106000, 425000)],
                     crs="EPSG:28992").to_file(proj / "green.gpkg")
    area = load_area(write_area(
        [source("green", "landcover_vector", "green.gpkg", class_column="typ", class_map={"gras": "lawn_grass"}),
         source("records", "species_records", "gbif.zip")],
        indicators={"enabled": ["species_records"], "species_cell_m": 100, "stress_test": False,
                    "potential": False}))
    run_area(area, tmp_path / "out")
    with rasterio.open(tmp_path / "out" / "species_richness.tif") as src:
        vals = {xy: v[0] for xy, v in zip([(105050, 424150), (105150, 424150), (105250, 424050)],
                                          src.sample([(105050, 424150), (105150, 424150), (105250, 424050)]),
                                          strict=True)}
    # richness per 100 m cell from the fixture table in the module docstring
    assert vals[(105050, 424150)] == RICHNESS[0][0]
    assert vals[(105150, 424150)] == RICHNESS[0][1]
    assert vals[(105250, 424050)] == RICHNESS[1][2]
