"""The web API (biostress.web) on a real run of 1 km x 1 km of Dordrecht: every endpoint of the contract.

Expected values come from independent paths: raster values read with rasterio at the point, tile pixels
placed with mercantile, colours written out from the stress-class table and ColorBrewer, unit membership
and bbox hits from geopandas, cells within 25 m counted by brute force, costs from the catalogue price.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import mercantile
import numpy as np
import pytest
import rasterio
import shapely
import yaml
from PIL import Image
from pyproj import Transformer

from biostress.config import load_area
from biostress.landcover.legend import load_legend
from biostress.measures import load_catalogue
from biostress.stresstest import load_classes

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from biostress.web.app import create_app  # noqa: E402
from biostress.web.auth import add_user, hash_password, verify_password  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "examples" / "dordrecht"
BBOX = (105000.0, 424000.0, 106000.0, 425000.0)
TO_WGS = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)
RDYLGN = ["#a50026", "#f46d43", "#fee08b", "#a6d96a", "#006837"]  # ColorBrewer RdYlGn, as the run's QML styles
UPLOAD_LIMIT = 200_000
# hand-made parcels (BRK columns): two side by side, one without a sectie (dropped), one outside the area
PARCELS_BOXES = [(105100.0, 424100.0, 105140.0, 424130.0), (105140.0, 424100.0, 105170.0, 424130.0),
                 (105300.0, 424300.0, 105320.0, 424320.0), (110000.0, 430000.0, 110020.0, 430020.0)]
PARCELS_CODE = ("DDT00", "DDT00", "DDT00", "DDT01")
PARCELS_SECTION = ("K", "K", None, "A")


def write_test_parcels(path: Path) -> None:
    """Hand-made cadastral parcels in the BRK Kadastrale kaart schema (not real parcels: ids and shapes for the
    tests), as a GeoPackage layer 'Perceel'."""
    gpd.GeoDataFrame({"AKRKadastraleGemeenteCodeWaarde": list(PARCELS_CODE), "sectie": list(PARCELS_SECTION),
                      "perceelnummer": [1234, 1235, 1236, 99]},
                     geometry=[shapely.box(*b) for b in PARCELS_BOXES], crs="EPSG:28992").to_file(path, layer="Perceel")
PROPOSALS_PER_WINDOW = 8


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A pipeline run on 1 km x 1 km of Dordrecht: the quick local indicators, stress test, potential and
    opportunity map; no plan, no PNG maps (they are not served) so the fixture stays fast."""
    import biostress.pipeline as pipeline

    d = tmp_path_factory.mktemp("area")
    shutil.copytree(DATA / "data", d / "data")
    doc = yaml.safe_load((DATA / "area.yaml").read_text())
    doc["boundary"] = {"bbox": list(BBOX)}
    doc.pop("plan", None)
    doc["indicators"] = {"enabled": ["green", "habitat_quality", "heat", "flooding", "drought", "disturbance"],
                         "opportunity_per_measure": False}
    write_test_parcels(d / "data" / "parcels_brk.gpkg")
    doc["sources"].append({"name": "parcels", "kind": "parcels", "path": "data/parcels_brk.gpkg",
                           "licence": "CC-BY-4.0", "attribution": "test parcels (hand-made)", "date": "2025"})
    (d / "area.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path_factory.mktemp("runs") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "_write_maps", lambda *a, **k: None)
        pipeline.run_area(load_area(d / "area.yaml"), out)
    (out / "not_listed.txt").write_text("a file in the run folder that the manifest does not list")
    return out


@pytest.fixture(scope="module")
def env(run_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("web")
    users = d / "users.json"
    add_user(users, "anna", "GM0505", "anna-password")
    add_user(users, "bob", "GM0999", "bob-password")
    reports = d / "reports"
    reports.mkdir()
    (reports / "report_nl.pdf").write_bytes(b"%PDF-1.4\n% test report\n")
    (reports / "actions.csv").write_text("measure,cost\n")
    app = create_app(run_dir, users=users, data_dir=d / "data", report_dir=reports, geocoder_url=None,
                     scenario_modules=("green", "flooding"), max_upload_bytes=UPLOAD_LIMIT,
                     proposal_limit=(PROPOSALS_PER_WINDOW, 600.0))
    client = TestClient(app)
    tokens = {u: client.post("/api/auth/login", json={"user": u, "password": f"{u}-password"}).json()["token"]
              for u in ("anna", "bob")}
    return {"app": app, "client": client, "data": d / "data", "reports": reports,
            "anna": {"Authorization": f"Bearer {tokens['anna']}"}, "bob": {"Authorization": f"Bearer {tokens['bob']}"}}


@pytest.fixture(scope="module")
def client(env) -> TestClient:
    return env["client"]


def _cell_centre(run_dir: Path, row: int, col: int) -> tuple[float, float]:
    with rasterio.open(run_dir / "green_share.tif") as s:
        x, y = s.xy(row, col)
    return float(x), float(y)


def _pixel(client: TestClient, layer: str, lon: float, lat: float, z: int = 18, cb: bool = False) -> tuple:
    """RGBA of the tile pixel holding (lon, lat), placed independently with mercantile."""
    t = mercantile.tile(lon, lat, z)
    r = client.get(f"/tiles/{layer}/{z}/{t.x}/{t.y}.png" + ("?cb=1" if cb else ""))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    assert img.size == (256, 256) and img.mode in ("RGBA", "P")  # P: indexed colours with a tRNS alpha table
    img = img.convert("RGBA")
    b = mercantile.xy_bounds(t)
    mx, my = mercantile.xy(lon, lat)
    px = int((mx - b.left) / (b.right - b.left) * 256)
    py = int((b.top - my) / (b.top - b.bottom) * 256)
    return img.getpixel((px, py))


def _rgb(h: str) -> tuple[int, int, int]:
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


# ------------------------------------------------------------------------------------------------------
# info, layers, measures, static app
# ------------------------------------------------------------------------------------------------------

def test_info(client):
    j = client.get("/api/info").json()
    assert j["name"] == "Dordrecht" and j["crs"] == "EPSG:28992" and j["code"] == "GM0505"
    corners = [TO_WGS.transform(x, y) for x in BBOX[::2] for y in BBOX[1::2]]
    w, s, e, n = j["bounds_wgs84"]
    assert w == pytest.approx(min(c[0] for c in corners), abs=1e-6)
    assert e == pytest.approx(max(c[0] for c in corners), abs=1e-6)
    assert s == pytest.approx(min(c[1] for c in corners), abs=1e-6)
    assert n == pytest.approx(max(c[1] for c in corners), abs=1e-6)
    assert j["center"] == pytest.approx([(w + e) / 2, (s + n) / 2])
    assert j["levels"] == ["gemeente", "wijk", "buurt"] and j["languages"] == ["nl", "en"]
    assert "OpenStreetMap" in j["attribution"] and "ODbL-1.0" in j["attribution"]
    assert j["created"]


def test_layers_have_legends_and_texts_in_both_languages(client):
    nl = {x["id"]: x for x in client.get("/api/layers?lang=nl").json()}
    en = {x["id"]: x for x in client.get("/api/layers?lang=en").json()}
    assert client.get("/api/layers?lang=de").status_code == 422
    groups = {"current", "pressures", "stress", "potential", "opportunities", "measures", "guide_species", "base"}
    need = {"landcover", "green_share", "canopy_share", "habitat_quality", "heat_mitigation", "runoff_depth",
            "drought_vulnerability", "light_proxy", "noise_road_proxy", "stress_class", "potential_landcover",
            "gap_habitat_quality", "gap_green_share", "opportunity_gain", "opportunity_best_measure"}
    assert need <= set(nl)
    for lid, lay in nl.items():
        assert lay["group"] in groups and lay["kind"] in ("raster", "vector")
        if lay["kind"] == "raster":
            assert lay["tiles"] == f"/tiles/{lid}/{{z}}/{{x}}/{{y}}.png"
            assert lay["legend"] and all(e["colour"].startswith("#") and e["label"] for e in lay["legend"])
            for lang_lay in (lay, en[lid]):
                assert all(lang_lay["explain"][k] for k in ("what", "how", "certainty", "action")), lid
            assert lay["sources"] and {"name", "licence", "date"} <= set(lay["sources"][0])
    assert nl["green_share"]["title"] == "Aandeel groen" and en["green_share"]["title"] == "Green share"
    # a ramp is five equal steps with the ColorBrewer colours of its QGIS style
    assert [e["colour"] for e in nl["green_share"]["legend"]] == RDYLGN
    assert [e["label"] for e in en["green_share"]["legend"]] == ["< 20 %", "20 – 40 %", "40 – 60 %", "60 – 80 %",
                                                                 "≥ 80 %"]
    assert nl["habitat_quality"]["legend"][1]["label"] == "0,2 – 0,4"  # Dutch decimal comma
    # runoff is 'bad high': its QML ramp runs green -> red over 0-70 mm
    assert [e["colour"] for e in en["runoff_depth"]["legend"]] == RDYLGN[::-1]
    classes = load_classes()
    sc = en["stress_class"]
    assert [e["colour"] for e in sc["legend"]] == [c.colour for c in classes]
    assert [e["colour"] for e in sc["legend_cb"]] == [c.colour_cb for c in classes]
    assert [e["label"] for e in nl["stress_class"]["legend"]] == [c.label_nl for c in classes]
    legend = load_legend()
    assert [e["label"] for e in en["landcover"]["legend"]] == [c.name_en for c in legend.classes]
    assert nl["units_buurt"]["kind"] == "vector" and nl["units_buurt"]["tiles"] == "/tiles/units/buurt/{z}/{x}/{y}.pbf"


def test_measures_catalogue(client):
    cat = load_catalogue()
    en = client.get("/api/measures?lang=en").json()
    nl = client.get("/api/measures?lang=nl").json()
    assert [m["id"] for m in en] == [m.id for m in cat.measures]
    roof = next(m for m in en if m["id"] == "green_roof_extensive")
    assert roof["capex_eur"]["value"] == pytest.approx(59.27) and roof["capex_eur"]["ev"] == "S"  # docs/measures.md
    assert any("Versluis" in s["text"] for s in roof["sources"])
    assert next(m for m in nl if m["id"] == "depaving")["name"] == cat.get("depaving").name_nl
    assert roof["explain"] == cat.get("green_roof_extensive").explain_en


def test_index_openapi_and_report(client):
    import importlib.util

    if importlib.util.find_spec("biostress.report.plot") is None:
        assert client.get("/api/report?x=4.669&y=51.807").status_code == 501
    else:
        card = client.get("/api/plot?x=105405&y=424595&crs=EPSG:28992&measures=false").json()
        r = client.get(card["report_url"])
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and b"<html" in r.content
        assert client.get("/api/report?x=5.9&y=52.9").status_code == 404
        assert client.get("/api/report?x=4.669&y=51.807&format=docx").status_code == 422
    r = client.get("/")
    assert r.status_code == 200 and "html" in r.headers["content-type"]
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 404  # needs a CDN: off


# ------------------------------------------------------------------------------------------------------
# tiles
# ------------------------------------------------------------------------------------------------------

def _interior_cell(run_dir: Path, name: str, step: float) -> tuple[int, int, float]:
    """A cell whose value is well inside a legend step (not within 1 % of a step edge)."""
    with rasterio.open(run_dir / f"{name}.tif") as s:
        a = s.read(1).astype(float)
    frac = np.abs(a / step - np.round(a / step))
    ok = np.isfinite(a) & (frac > 0.05)
    ok[:5], ok[-5:], ok[:, :5], ok[:, -5:] = False, False, False, False
    rr, cc = np.nonzero(ok)
    i = len(rr) // 2
    return int(rr[i]), int(cc[i]), float(a[rr[i], cc[i]])


def test_raster_tile_has_the_cell_colour(client, run_dir):
    r, c, v = _interior_cell(run_dir, "green_share", 0.2)
    x, y = _cell_centre(run_dir, r, c)
    lon, lat = TO_WGS.transform(x, y)
    k = min(int(math.floor(v / 0.2)), 4)  # five equal steps over 0-1
    assert _pixel(client, "green_share", lon, lat)[:4] == (*_rgb(RDYLGN[k]), 255)
    # colour-blind-safe variant: the Okabe-Ito colour of the same step
    cb = [c.colour_cb for c in load_classes()]
    assert _pixel(client, "green_share", lon, lat, cb=True)[:3] == _rgb(cb[k])
    # land cover: the legend colour of the cell's class
    with rasterio.open(run_dir / "landcover.tif") as s:
        code = int(s.read(1)[r, c])
    colour = next(cl.colour for cl in load_legend().classes if cl.code == code)
    assert _pixel(client, "landcover", lon, lat)[:4] == (*_rgb(colour), 255)
    # stress class: the class colour, and its colour-blind variant with ?cb=1
    with rasterio.open(run_dir / "stress_class.tif") as s:
        k = int(s.read(1)[r, c])
    cls = load_classes()[k - 1]
    assert _pixel(client, "stress_class", lon, lat)[:3] == _rgb(cls.colour)
    assert _pixel(client, "stress_class", lon, lat, cb=True)[:3] == _rgb(cls.colour_cb)


def test_tile_outside_the_area_is_transparent(client, run_dir):
    far = mercantile.tile(5.9, 52.9, 14)  # Friesland: no data there
    r = client.get(f"/tiles/green_share/14/{far.x}/{far.y}.png")
    assert r.status_code == 200
    assert np.asarray(Image.open(io.BytesIO(r.content)))[..., 3].max() == 0
    # a pixel 50 m west of the grid, in a tile that also holds area cells
    lon, lat = TO_WGS.transform(BBOX[0] - 50, (BBOX[1] + BBOX[3]) / 2)
    assert _pixel(client, "green_share", lon, lat, z=16)[3] == 0
    lon_in, lat_in = TO_WGS.transform(BBOX[0] + 55, (BBOX[1] + BBOX[3]) / 2)
    assert _pixel(client, "green_share", lon_in, lat_in, z=16)[3] == 255
    assert client.get("/tiles/green_share/3/8/0.png").status_code == 404  # x >= 2^z
    assert client.get("/tiles/no_such_layer/3/0/0.png").status_code == 404


def test_vector_tile_of_units(client, run_dir):
    units = gpd.read_file(run_dir / "biostress.gpkg", layer="units_buurt")
    centre = shapely.Point((BBOX[0] + BBOX[2]) / 2, (BBOX[1] + BBOX[3]) / 2)
    row = units[units.contains(centre)].iloc[0]
    lon, lat = TO_WGS.transform(centre.x, centre.y)
    t = mercantile.tile(lon, lat, 15)
    r = client.get(f"/tiles/units/buurt/15/{t.x}/{t.y}.pbf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    tile = mapbox_vector_tile.decode(r.content)
    feats = {f["properties"]["code"]: f for f in tile["buurt"]["features"]}
    f = feats[row["code"]]
    assert f["properties"]["name"] == row["name"]
    assert f["properties"]["green_share_mean"] == pytest.approx(row["green_share_mean"], rel=1e-6)
    x0, y0, x1, y1 = shapely.geometry.shape(f["geometry"]).bounds
    assert -200 <= x0 < x1 <= 4096 + 200 and -200 <= y0 < y1 <= 4096 + 200  # clipped to the tile plus a buffer
    far = mercantile.tile(5.9, 52.9, 15)
    assert client.get(f"/tiles/units/buurt/15/{far.x}/{far.y}.pbf").status_code == 204
    assert client.get("/tiles/units/province/1/0/0.pbf").status_code == 404
    gj = client.get("/api/units/buurt").json()
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == len(units)


# ------------------------------------------------------------------------------------------------------
# plot card
# ------------------------------------------------------------------------------------------------------

def test_plot_card_equals_the_rasters(client, run_dir):
    units = gpd.read_file(run_dir / "biostress.gpkg", layer="units_buurt")
    for r, c in ((50, 50), (20, 77), (81, 13)):
        x, y = _cell_centre(run_dir, r, c)
        x, y = x + 3.0, y - 2.0  # not at the centre: the point still falls in cell (r, c)
        lon, lat = TO_WGS.transform(x, y)
        for q in (f"x={x}&y={y}&crs=EPSG:28992", f"x={lon}&y={lat}"):
            card = client.get(f"/api/plot?{q}&lang=en&measures=false").json()
            assert card["cell"]["row"] == r and card["cell"]["col"] == c
            items = card["values"] + card["pressures"] + card["potential"]["values"] + card["opportunities"]
            assert {"green_share", "habitat_quality", "heat_mitigation", "runoff_depth"} <= {i["id"] for i in items}
            for it in items:
                with rasterio.open(run_dir / f"{it['id']}.tif") as s:
                    row, col = s.index(x, y)
                    v = float(s.read(1, window=((row, row + 1), (col, col + 1)))[0, 0])
                    nodata = s.nodata
                if not math.isfinite(v) or (nodata is not None and v == nodata):
                    assert it["value"] is None, it["id"]
                else:
                    assert it["value"] == pytest.approx(v, rel=1e-6, abs=1e-9), it["id"]
            with rasterio.open(run_dir / "stress_class.tif") as s:
                k = int(next(s.sample([(x, y)]))[0])
            assert card["stress_class"]["value"] == k
            assert card["stress_class"]["label"] == load_classes()[k - 1].label_en
            want = units[units.contains(shapely.Point(x, y))]["code"].iloc[0]
            assert card["buurt"]["code"] == want
        assert card["x"] == pytest.approx(lon, abs=1e-7) and card["y"] == pytest.approx(lat, abs=1e-7)


def test_plot_measures_within_25_m(client, run_dir):
    with rasterio.open(run_dir / "opportunity_best_measure.tif") as s:
        best = s.read(1)
    with rasterio.open(run_dir / "opportunity_count.tif") as s:
        count = s.read(1)
    rr, cc = np.nonzero((best > 0) & (best != 255))
    i = len(rr) // 2
    r, c = int(rr[i]), int(cc[i])
    x, y = _cell_centre(run_dir, r, c)
    card = client.get(f"/api/plot?x={x}&y={y}&crs=EPSG:28992").json()
    ms = {m["id"]: m for m in card["measures"]}
    cat = load_catalogue()
    assert list(ms) and set(ms) == set(cat.ids)
    # cells whose centre lies within 25 m of a cell centre (10 m cells), by brute force: 21
    n = sum(1 for di in range(-3, 4) for dj in range(-3, 4) if math.hypot(10 * di, 10 * dj) <= 25)
    assert n == 21 and all(m["cells"] == n for m in ms.values())
    # the pipeline's best measure of this very cell fits on the card, and at least as many measures fit
    best_id = cat.measures[int(best[r, c]) - 1].id
    assert ms[best_id]["fits"] and ms[best_id]["cells_fit"] >= 1
    assert sum(m["fits"] for m in ms.values()) >= int(count[r, c])
    fitting = [m for m in card["measures"] if m["fits"]]
    assert card["measures"][:len(fitting)] == fitting  # fitting measures first
    for m in card["measures"]:
        assert 0 <= m["cells_fit"] <= m["cells"]
        if not m["fits"]:
            assert m["gain"] is None and m["cost_eur"] is None
    dep = ms["depaving"]
    if dep["fits"]:  # capex = quantity x 20 EUR/m2 (catalogue price, docs/measures.md)
        assert dep["capex_eur"] == pytest.approx(dep["quantity"] * 20.0, rel=1e-4)


def test_measures_of_one_cell_equal_the_opportunity_map(env, run_dir):
    """With a radius of 0 the card's measures are those of the point's cell: the pipeline's opportunity map
    (computed on the whole grid at once) must give the same count, best measure and gain."""
    from biostress.web.plot import PlotService

    svc = PlotService(env["app"].state.run, radius_m=0.0)
    rasters = {}
    for name in ("opportunity_best_measure", "opportunity_count", "opportunity_gain"):
        with rasterio.open(run_dir / f"{name}.tif") as s:
            rasters[name] = s.read(1)
    ids = load_catalogue().ids
    best_map = rasters["opportunity_best_measure"]
    rr, cc = np.nonzero((best_map > 0) & (best_map != 255))
    some = [(rr[i], cc[i]) for i in np.linspace(0, len(rr) - 1, 4).astype(int)]  # cells where a measure fits
    rng = np.random.default_rng(1)
    checked_best = 0
    for r, c in [*some, *rng.integers(0, 100, size=(4, 2))]:
        if best_map[r, c] == 255:
            continue
        sums = svc.measure_sums(*_cell_centre(run_dir, int(r), int(c)))
        fitting = {m: d for m, d in sums.items() if d["cells_fit"]}
        assert len(fitting) == rasters["opportunity_count"][r, c]
        best = int(rasters["opportunity_best_measure"][r, c])
        if best == 0:
            assert not fitting and rasters["opportunity_gain"][r, c] == 0
            continue
        gains = {m: d["gain"] for m, d in fitting.items()}
        assert gains[ids[best - 1]] == pytest.approx(float(rasters["opportunity_gain"][r, c]), rel=1e-4, abs=1e-4)
        assert max(gains.values()) == pytest.approx(gains[ids[best - 1]], rel=1e-4, abs=1e-4)
        checked_best += 1
    assert checked_best >= 4


def test_plot_errors_and_repeated_requests(client, run_dir):
    r = client.get("/api/plot?x=5.9&y=52.9")
    assert r.status_code == 404 and "outside" in r.json()["error"]
    assert client.get("/api/plot?x=1&y=2&crs=EPSG:3035").status_code == 400
    assert client.get("/api/plot?x=abc&y=2").status_code == 422
    x, y = _cell_centre(run_dir, 40, 40)
    first = client.get(f"/api/plot?x={x}&y={y}&crs=EPSG:28992").json()
    again = client.get(f"/api/plot?x={x}&y={y}&crs=EPSG:28992").json()  # from the caches now
    assert again == first
    t = mercantile.tile(*TO_WGS.transform(x, y), 16)
    a = client.get(f"/tiles/habitat_quality/16/{t.x}/{t.y}.png").content
    assert client.get(f"/tiles/habitat_quality/16/{t.x}/{t.y}.png").content == a


def test_layer_stack_equals_the_cogs(env, run_dir, tmp_path):
    """The memory-mapped copy of the layers (biostress.web.cellcache) holds the COGs' values (nodata as NaN),
    is reused while the run is unchanged and rebuilt when a layer file changes."""
    import os

    from biostress.web.cellcache import build_stack

    state = env["app"].state.run
    stack = state.stack
    assert stack is not None and {"green_share", "landcover", "habitat_quality"} <= set(stack.ids)
    for lid in ("green_share", "landcover", "habitat_quality", "stress_class"):
        with rasterio.open(run_dir / f"{lid}.tif") as s:
            a = s.read(1).astype(np.float64)
            if s.nodata is not None and not math.isnan(s.nodata):
                a[a == s.nodata] = np.nan
        np.testing.assert_array_equal(np.asarray(stack.layer(lid), dtype=np.float64), a)
    again = build_stack(state.sources, state.grid, stack.path.parent, str(state.manifest.get("run_id")))
    assert again.path == stack.path
    p = run_dir / "green_share.tif"
    st = p.stat()
    try:
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        fresh = build_stack(state.sources, state.grid, tmp_path, str(state.manifest.get("run_id")))
        assert fresh.path != stack.path and fresh.path.parent == tmp_path
        assert not list(tmp_path.glob("*.tmp"))  # written atomically
    finally:
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("z", [14, 16, 18])
def test_tile_pixels_take_the_cell_of_their_centre(env, run_dir, z):
    """tile_cells against every pixel centre projected exactly with PROJ (no lattice)."""
    from biostress.web.cellcache import tile_cells
    from biostress.web.tiles import transformer

    state = env["app"].state.run
    g = state.grid
    lon, lat = TO_WGS.transform(BBOX[0] + 300, BBOX[1] + 700)
    t = mercantile.tile(lon, lat, z)
    b = mercantile.xy_bounds(t)
    got = tile_cells(g, transformer("EPSG:3857", g.crs), (b.left, b.bottom, b.right, b.top))
    assert got is not None
    rows, cols, inside = got
    u = np.arange(256) + 0.5
    mx, my = np.meshgrid(b.left + u * (b.right - b.left) / 256, b.top - u * (b.top - b.bottom) / 256)
    x, y = Transformer.from_crs("EPSG:3857", g.crs, always_xy=True).transform(mx, my)
    r_ref, c_ref = np.floor((g.y1 - y) / g.cell), np.floor((x - g.x0) / g.cell)
    in_ref = (r_ref >= 0) & (r_ref < g.height) & (c_ref >= 0) & (c_ref < g.width)
    np.testing.assert_array_equal(inside, in_ref)
    np.testing.assert_array_equal(rows[in_ref], r_ref[in_ref])
    np.testing.assert_array_equal(cols[in_ref], c_ref[in_ref])


def test_cached_tiles_equal_gdal_warping(run_dir, tmp_path):
    """Tiles drawn from the memory-mapped layers against tiles warped by GDAL (rasterio WarpedVRT, nearest)
    from the COGs: the same colours except where GDAL's approximate transformer (error <= 1/8 pixel) puts a
    pixel centre lying on a cell edge into the neighbour cell."""
    slow = TestClient(create_app(run_dir, geocoder_url=None, cache=False, warm=False))
    fast = TestClient(create_app(run_dir, data_dir=tmp_path, geocoder_url=None, warm=False))
    assert fast.app.state.run.stack is not None and slow.app.state.run.stack is None
    lon, lat = TO_WGS.transform((BBOX[0] + BBOX[2]) / 2, (BBOX[1] + BBOX[3]) / 2)
    n = same = 0
    for z in (14, 15, 16, 17):
        t = mercantile.tile(lon, lat, z)
        for layer in ("landcover", "green_share", "stress_class"):
            url = f"/tiles/{layer}/{z}/{t.x}/{t.y}.png"
            a = np.asarray(Image.open(io.BytesIO(fast.get(url).content)).convert("RGBA"))
            b = np.asarray(Image.open(io.BytesIO(slow.get(url).content)).convert("RGBA"))
            drawn = (a[..., 3] > 0) | (b[..., 3] > 0)
            n += int(drawn.sum())
            same += int((drawn & (a == b).all(axis=-1)).sum())
    assert n > 50_000
    assert same / n > 0.995, (same, n)


# ------------------------------------------------------------------------------------------------------
# geocoder (offline)
# ------------------------------------------------------------------------------------------------------

def test_geocode_offline(client, run_dir):
    got = client.get("/api/geocode", params={"q": "105500, 424500"}).json()
    lon, lat = TO_WGS.transform(105500, 424500)
    assert got[0]["x"] == pytest.approx(lon, abs=1e-7) and got[0]["y"] == pytest.approx(lat, abs=1e-7)
    got = client.get("/api/geocode", params={"q": "51.807, 4.669"}).json()
    assert got[0]["x"] == pytest.approx(4.669) and got[0]["y"] == pytest.approx(51.807)
    units = gpd.read_file(run_dir / "biostress.gpkg", layer="units_buurt")
    name = units["name"].iloc[0]
    got = client.get("/api/geocode", params={"q": name}).json()
    assert got[0]["kind"] == "buurt" and got[0]["id"] == units["code"].iloc[0] and len(got[0]["bbox"]) == 4
    assert client.get("/api/geocode", params={"q": "qqqqzzzz"}).json() == []
    assert client.get("/api/geocode", params={"q": "   "}).status_code == 400


# ------------------------------------------------------------------------------------------------------
# scenario
# ------------------------------------------------------------------------------------------------------

def test_scenario_depaving(client, run_dir):
    with rasterio.open(run_dir / "landcover_fractions.tif") as s:
        paved = s.read(4)  # band 4 = paved_other (legend order)
    ok = np.nan_to_num(paved) > 0.5
    ok[:3], ok[-3:], ok[:, :3], ok[:, -3:] = False, False, False, False
    rr, cc = np.nonzero(ok)
    r, c = int(rr[len(rr) // 2]), int(cc[len(cc) // 2])
    x, y = _cell_centre(run_dir, r, c)
    ring = [TO_WGS.transform(x + dx, y + dy) for dx, dy in ((-15, -15), (15, -15), (15, 15), (-15, 15), (-15, -15))]
    res = client.post("/api/scenario", json={"measure": "depaving", "polygon": {"type": "Polygon",
                                                                                "coordinates": [ring]}})
    assert res.status_code == 200, res.text
    j = res.json()
    tot = {t["indicator"]: t for t in j["totals"]}
    assert tot["green_share"]["change"] > 0 and tot["impervious_share"]["change"] < 0  # paving becomes green
    assert tot["green_share"]["after"] == pytest.approx(tot["green_share"]["before"] + tot["green_share"]["change"])
    cost = j["cost"]
    assert cost["measure"] == "depaving" and cost["quantity"] > 0
    assert cost["capex_eur"] == pytest.approx(cost["quantity"] * 20.0, rel=1e-6)  # 20 EUR/m2, docs/measures.md
    w, s, e, n = j["window_bounds_wgs84"]
    lon, lat = TO_WGS.transform(x, y)
    assert w <= lon <= e and s <= lat <= n
    layers = {d["layer"]: d for d in j["delta_layers"]}
    assert "green_share" in layers
    url = j["delta_tiles"].replace("{layer}", "green_share")
    t = mercantile.tile(lon, lat, 18)
    img = Image.open(io.BytesIO(client.get(url.format(z=18, x=t.x, y=t.y)).content)).convert("RGBA")
    b = mercantile.xy_bounds(t)
    mx, my = mercantile.xy(lon, lat)
    px = img.getpixel((int((mx - b.left) / (b.right - b.left) * 256), int((b.top - my) / (b.top - b.bottom) * 256)))
    up = {_rgb(h) for h in ("#f7f7f7", "#92c5de", "#0571b0")}  # the upper three steps of the diverging ramp
    assert px[3] == 255 and px[:3] in up
    far = mercantile.tile(5.9, 52.9, 18)
    img = Image.open(io.BytesIO(client.get(url.format(z=18, x=far.x, y=far.y)).content)).convert("RGBA")
    assert np.asarray(img)[..., 3].max() == 0
    bad = {"type": "Polygon", "coordinates": [ring]}
    assert client.post("/api/scenario", json={"measure": "no_such", "polygon": bad}).status_code == 400
    assert client.post("/api/scenario", json={"measure": "depaving", "polygon": {"type": "Point",
                                                                                 "coordinates": [lon, lat]}}).status_code == 400
    far_ring = [(5.9, 52.9), (5.901, 52.9), (5.901, 52.901), (5.9, 52.901), (5.9, 52.9)]
    r = client.post("/api/scenario", json={"measure": "depaving", "polygon": {"type": "Polygon",
                                                                              "coordinates": [far_ring]}})
    assert r.status_code == 400 and "outside" in r.json()["error"]
    assert client.get("/tiles/scenario/nope/green_share/1/0/0.png").status_code == 404
    assert client.post("/api/scenario", content=b"{not json").status_code == 400


# ------------------------------------------------------------------------------------------------------
# downloads
# ------------------------------------------------------------------------------------------------------

def test_downloads_and_path_traversal(client, run_dir):
    names = {d["name"] for d in client.get("/api/downloads").json()}
    assert {"biostress.gpkg", "manifest.json", "green_share.tif", "stress_class.tif",
            "report/report_nl.pdf", "report/actions.csv"} <= names
    by_name = {d["name"]: d for d in client.get("/api/downloads?lang=en").json()}
    title = by_name["report/report_nl.pdf"]["title"]
    assert "report" in title.lower() and "Dutch" in title and "PDF" in title  # which file, in the user's language
    assert "Nederlands" in {d["name"]: d for d in client.get("/api/downloads?lang=nl").json()}[
        "report/report_nl.pdf"]["title"]
    assert by_name["report/actions.csv"]["title"] is None  # an unknown file keeps its name only
    r = client.get("/downloads/green_share.tif")
    assert r.status_code == 200 and r.content == (run_dir / "green_share.tif").read_bytes()
    r = client.get("/downloads/report/report_nl.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    for bad in ("/downloads/not_listed.txt", "/downloads/..%2f..%2f..%2fetc%2fpasswd",
                "/downloads/%2e%2e/%2e%2e/etc/passwd", "/downloads/report/..%2fmanifest.json",
                "/downloads/%2Fetc%2Fpasswd", "/downloads/report/%2e%2e/%2e%2e/users.json",
                "/downloads/green_share.tif%00.png"):
        r = client.get(bad)
        assert r.status_code == 404, bad
        assert b"root:" not in r.content


# ------------------------------------------------------------------------------------------------------
# OGC API Features
# ------------------------------------------------------------------------------------------------------

def test_ogc_api_features(client, run_dir):
    land = client.get("/ogc").json()
    assert {"self", "conformance", "data", "service-desc"} <= {ln["rel"] for ln in land["links"]}
    conf = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert [c["id"] for c in client.get("/ogc/collections").json()["collections"]] == ["gemeente", "wijk", "buurt"]
    units = gpd.read_file(run_dir / "biostress.gpkg", layer="units_buurt")
    # page through everything with the next links
    seen, url, pages = [], "/ogc/collections/buurt/items?limit=25", 0
    while url:
        r = client.get(url)
        assert r.headers["content-type"].startswith("application/geo+json")
        j = r.json()
        assert j["numberMatched"] == len(units) and j["numberReturned"] == len(j["features"]) <= 25
        seen += [f["id"] for f in j["features"]]
        nxt = [ln["href"] for ln in j["links"] if ln["rel"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
        pages += 1
    assert sorted(seen) == sorted(units["code"]) and len(set(seen)) == len(seen)
    assert pages == math.ceil(len(units) / 25)
    # bbox: the buurten that intersect the run's box, by geopandas in WGS84
    corners = [TO_WGS.transform(x, y) for x in BBOX[::2] for y in BBOX[1::2]]
    box = (min(c[0] for c in corners), min(c[1] for c in corners), max(c[0] for c in corners),
           max(c[1] for c in corners))
    want = set(units.to_crs("EPSG:4326").loc[lambda d: d.intersects(shapely.box(*box)), "code"])
    j = client.get("/ogc/collections/buurt/items", params={"bbox": ",".join(map(str, box)), "limit": 1000}).json()
    assert {f["id"] for f in j["features"]} == want and j["numberMatched"] == len(want) < len(units)
    g = shapely.geometry.shape(j["features"][0]["geometry"])
    assert g.geom_type in ("Polygon", "MultiPolygon") and g.intersects(shapely.box(*box))  # lon/lat (CRS84)
    code = units["code"].iloc[3]
    one = client.get(f"/ogc/collections/buurt/items/{code}").json()
    assert one["id"] == code and one["properties"]["name"] == units["name"].iloc[3]
    assert client.get("/ogc/collections/buurt/items/NOPE").status_code == 404
    assert client.get("/ogc/collections/province").status_code == 404
    assert client.get("/ogc/collections/buurt/items?limit=0").status_code == 422
    assert client.get("/ogc/collections/buurt/items?bbox=1,2,3").status_code == 400


# ------------------------------------------------------------------------------------------------------
# editors: login, tokens, uploads, plans
# ------------------------------------------------------------------------------------------------------

def test_password_hashes():
    h = hash_password("correct horse")
    assert h.startswith("scrypt$") and verify_password("correct horse", h) and not verify_password("wrong", h)
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    key = hashlib.pbkdf2_hmac("sha256", b"pbkdf2 pass", salt, 100_000)
    b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    stored = f"pbkdf2_sha256$100000${b64(salt)}${b64(key)}"
    assert verify_password("pbkdf2 pass", stored) and not verify_password("pbkdf2 pas", stored)
    assert not verify_password("x", "md5$abc")


def test_auth(env, client):
    assert client.post("/api/auth/login", json={"user": "anna", "password": "nope"}).status_code == 401
    assert client.post("/api/auth/login", json={"user": "nobody", "password": "x"}).status_code == 401
    me = client.get("/api/auth/me", headers=env["anna"]).json()
    assert me == {"user": "anna", "municipality": "GM0505", "editor": True}
    body = b'{"type": "FeatureCollection", "features": []}'
    r = client.post("/api/uploads?name=a.geojson", content=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/uploads?name=a.geojson", content=body, headers=env["bob"]).status_code == 403
    tok = env["anna"]["Authorization"].split()[1]
    head, sig = tok.split(".")
    forged = {"Authorization": f"Bearer {head}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"}
    assert client.get("/api/auth/me", headers=forged).status_code == 401
    auth = env["app"].state.auth
    expired = auth.sign({"sub": "anna", "mun": "GM0505", "iat": 0, "exp": int(time.time()) - 10})
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    other = auth.sign({"sub": "anna", "mun": "GM0999", "iat": 0, "exp": int(time.time()) + 100})
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    assert client.get("/api/proposals?all=1").status_code == 401


def test_uploads(env, client):
    up = env["data"] / "uploads" / "GM0505"
    src = DATA / "data" / "cbs_buurten_2024_generalised_dordrecht.geojson"
    n = len(json.loads(src.read_text())["features"])
    r = client.post("/api/uploads?name=buurten.geojson", content=src.read_bytes(), headers=env["anna"])
    assert r.status_code == 201, r.text
    j = r.json()
    assert j["features"] == n and j["crs"] == "EPSG:28992" and j["bytes"] == src.stat().st_size
    assert (up / j["stored_as"]).read_bytes() == src.read_bytes()
    before = sorted(p.name for p in up.iterdir())
    # an HTML page named .gpkg, and a zip named .gpkg: refused by content, not by name, and not kept
    for body in (b"<!doctype html><html><body>not a geopackage</body></html>", b"PK\x03\x04" + b"\x00" * 200):
        r = client.post("/api/uploads?name=trees.gpkg", content=body, headers=env["anna"])
        assert r.status_code == 400 and "not a gpkg file" in r.json()["error"]
        assert str(env["data"]) not in r.json()["error"]  # the server's folders are not shown
    assert client.post("/api/uploads?name=tool.exe", content=b"MZ", headers=env["anna"]).status_code == 400
    assert client.post("/api/uploads?name=../../x.geojson", content=src.read_bytes(),
                       headers=env["anna"]).status_code == 201  # stored under a safe name inside the folder
    too_big = b"{" + b" " * (UPLOAD_LIMIT + 10) + b"}"
    assert client.post("/api/uploads?name=big.geojson", content=too_big, headers=env["anna"]).status_code == 413

    def chunks():
        for _ in range(30):
            yield b" " * 10_000

    assert client.post("/api/uploads?name=big2.geojson", content=chunks(), headers=env["anna"]).status_code == 413
    after = sorted(p.name for p in up.iterdir())
    assert len(after) == len(before) + 1 and all(p.resolve().parent == up.resolve() for p in up.iterdir())
    listed = client.get("/api/uploads", headers=env["anna"]).json()
    assert {d["name"] for d in listed} == {"buurten.geojson", "../../x.geojson"}


def test_plans(env, client):
    plan = {"name": "Groene schoolpleinen", "measures": [{"measure": "schoolyard", "site": 12}]}
    assert client.post("/api/plans", json=plan).status_code == 401
    assert client.post("/api/plans", json=plan, headers=env["bob"]).status_code == 403
    assert client.post("/api/plans", json={"measures": []}, headers=env["anna"]).status_code == 400
    r = client.post("/api/plans", json=plan, headers=env["anna"])
    assert r.status_code == 201
    pid = r.json()["id"]
    assert any(p["id"] == pid and p["name"] == plan["name"] for p in client.get("/api/plans").json())
    assert client.get(f"/api/plans/{pid}").json()["plan"] == plan
    assert client.get("/api/plans/..%2f..%2fusers").status_code == 404


# ------------------------------------------------------------------------------------------------------
# participation
# ------------------------------------------------------------------------------------------------------

def test_participation_and_moderation(env, client):
    lon, lat = TO_WGS.transform(105400, 424600)
    post = {"kind": "observation", "x": lon, "y": lat, "text": "Egel gezien bij de haag", "species": "egel",
            "contact": "anna@example.org"}
    r = client.post("/api/proposals", json=post)
    assert r.status_code == 201 and r.json()["status"] == "pending"
    pid = r.json()["id"]
    assert pid not in [p["id"] for p in client.get("/api/proposals").json()]  # pending: not public
    allp = {p["id"]: p for p in client.get("/api/proposals?all=1", headers=env["anna"]).json()}
    assert allp[pid]["contact"] == "anna@example.org" and allp[pid]["status"] == "pending"
    assert client.post(f"/api/proposals/{pid}/moderate", json={"status": "approved"},
                       headers=env["bob"]).status_code == 403
    assert client.post(f"/api/proposals/{pid}/moderate", json={"status": "approved"}).status_code == 401
    assert client.post(f"/api/proposals/{pid}/moderate", json={"status": "maybe"},
                       headers=env["anna"]).status_code == 400
    assert client.post("/api/proposals/99999/moderate", json={"status": "approved"},
                       headers=env["anna"]).status_code == 404
    r = client.post(f"/api/proposals/{pid}/moderate", json={"status": "approved"}, headers=env["anna"])
    assert r.json() == {"id": pid, "status": "approved"}
    pub = {p["id"]: p for p in client.get("/api/proposals").json()}
    assert pub[pid]["text"] == post["text"] and "contact" not in pub[pid]
    posted = 1
    # refused: bad kind, a measure that is not in the catalogue, text too long, a point outside the area
    for bad in ({**post, "kind": "wish"}, {**post, "kind": "measure", "measure": "unicorns"},
                {**post, "text": "x" * 2001}, {**post, "x": 5.9, "y": 52.9}, {**post, "text": "  "}):
        r = client.post("/api/proposals", json=bad)
        posted += 1
        assert r.status_code == 400, bad
    r = client.post("/api/proposals", json={**post, "kind": "measure", "measure": "hedge",
                                            "text": "=HYPERLINK(\"http://evil\")"})
    posted += 1
    assert r.status_code == 201
    csv_text = client.get("/api/proposals.csv", headers=env["anna"]).text
    assert csv_text.splitlines()[0].startswith("id,created,kind") and "'=HYPERLINK" in csv_text
    assert client.get("/api/proposals.csv").status_code == 401
    gj = client.get("/api/proposals.geojson", headers=env["anna"]).json()
    f = next(f for f in gj["features"] if f["id"] == pid)
    assert f["geometry"]["coordinates"] == pytest.approx([lon, lat])
    # rate limit: at most PROPOSALS_PER_WINDOW posts per client (the refused ones count too)
    codes = [client.post("/api/proposals", json=post).status_code for _ in range(PROPOSALS_PER_WINDOW)]
    assert codes.count(201) == PROPOSALS_PER_WINDOW - posted and codes[-1] == 429


# ------------------------------------------------------------------------------------------------------
# over real HTTP
# ------------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_over_real_http(env, run_dir):
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(env["app"], host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/api/info", timeout=10) as r:
            assert json.loads(r.read())["name"] == "Dordrecht"
        lon, lat = TO_WGS.transform(105500, 424500)
        t = mercantile.tile(lon, lat, 15)
        with urllib.request.urlopen(f"{base}/tiles/landcover/15/{t.x}/{t.y}.png", timeout=10) as r:
            assert r.headers["Content-Type"] == "image/png" and r.read(8) == b"\x89PNG\r\n\x1a\n"
        with urllib.request.urlopen(f"{base}/api/plot?x={lon}&y={lat}&lang=en&measures=false", timeout=10) as r:
            card = json.loads(r.read())
        with rasterio.open(run_dir / "green_share.tif") as s:
            v = float(next(s.sample([(105500, 424500)]))[0])
        assert next(i for i in card["values"] if i["id"] == "green_share")["value"] == pytest.approx(v)
        req = urllib.request.Request(f"{base}/api/uploads?name=a.geojson", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 401
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{base}/downloads/..%2fnot_listed.txt", timeout=10)
        assert e.value.code == 404
    finally:
        server.should_exit = True
        th.join(timeout=10)


def test_precomputed_measures_equal_the_block_computation(env, run_dir, tmp_path):
    """PlotService.precompute (whole grid in bands, sparse table) gives the same measure sums as the
    per-block computation around each point (different windows, same opportunity-map reach), and the
    table saved in the cache folder is read back unchanged."""
    from biostress.web.plot import MeasureTable, PlotService, _table_key

    state = env["app"].state.run
    rng = np.random.default_rng(3)
    g = state.grid
    points = [(g.x0 + rng.uniform(30, g.width * g.cell - 30), g.y1 - rng.uniform(30, g.height * g.cell - 30))
              for _ in range(12)]
    blocks = PlotService(state)
    ref = [blocks.measure_sums(x, y) for x, y in points]
    table_svc = PlotService(state)
    table = table_svc.precompute(tmp_path, band_rows=37)  # bands that do not line up with the 32-cell blocks
    assert table_svc._table is table and table.keys.size > 0 and np.all(np.diff(table.keys) > 0)
    n_fit = 0
    for (x, y), want in zip(points, ref, strict=True):
        got = table_svc.measure_sums(x, y)
        assert got.keys() == want.keys()
        for mid in want:
            assert got[mid]["cells_fit"] == want[mid]["cells_fit"], mid
            assert got[mid]["unknown"] == want[mid]["unknown"]
            n_fit += want[mid]["cells_fit"]
            for k, v in want[mid].items():
                if k in ("cells", "cells_fit", "unknown"):
                    continue
                assert (got[mid][k] is None) == (v is None), (mid, k)
                if v is not None:
                    assert got[mid][k] == pytest.approx(v, rel=1e-5, abs=1e-3), (mid, k)
    assert n_fit > 0
    for x, y in points[:4]:  # the card's measure list: the same from the table as from the blocks
        a, b = table_svc.measures(x, y, "en"), blocks.measures(x, y, "en")
        assert [d["id"] for d in a] == [d["id"] for d in b] or [d["fits"] for d in a] == [d["fits"] for d in b]
        b_by = {d["id"]: d for d in b}
        for d in a:
            want = b_by[d["id"]]
            assert d.keys() == want.keys()
            for k, v in want.items():
                if isinstance(v, float):
                    assert d[k] == pytest.approx(v, rel=1e-5, abs=1e-3), (d["id"], k)
                else:
                    assert d[k] == v, (d["id"], k)
    back = MeasureTable.load(tmp_path, _table_key(state), g.height * g.width)
    assert back is not None and back.ids == table.ids
    np.testing.assert_array_equal(back.keys, table.keys)
    np.testing.assert_array_equal(back.values, table.values)
    assert MeasureTable.load(tmp_path, "another-run", g.height * g.width) is None
    assert not list(tmp_path.glob("*.tmp"))


def test_streets_and_managed_objects_as_vector_tiles(run_dir, tmp_path):
    """A report folder with aggregates.gpkg (made by biostress.aggregate.aggregate_objects on the run, as the report
    step does): its street segments come as vector tiles whose *_mean properties equal the GeoPackage's for the same
    ids (read with geopandas), only the segments touching the tile (found with geopandas in EPSG:3857), each drawn on
    its own buffer; no tiles below the minimum zoom (204); /api/info lists the objects and the layer catalogue
    explains them in Dutch and English."""
    from biostress.aggregate import aggregate_objects
    from biostress.report import AGGREGATE_RASTERS
    from biostress.runs import open_run
    from biostress.store import gpkg as G

    run = open_run(run_dir)
    objs = aggregate_objects(run, [r for r in AGGREGATE_RASTERS if r in run.files.paths])
    assert len(objs["street_segments"]) > 50, "the 1 km run has streets"
    reports = tmp_path / "reports"
    reports.mkdir()
    for name, gdf in objs.items():
        if len(gdf):
            G.write_layer(reports / "aggregates.gpkg", name, gdf)
    client = TestClient(create_app(run_dir, report_dir=reports, geocoder_url=None, warm=False, cache=False))
    gpkg = reports / "aggregates.gpkg"
    streets = gpd.read_file(gpkg, layer="street_segments")
    means = [c for c in streets.columns if c.endswith("_mean")]
    assert {"green_share_mean", "impervious_share_mean", "heat_mitigation_mean", "stress_score_mean"} <= set(means)

    # /api/info and the layer catalogue
    objects = {o["name"]: o for o in client.get("/api/info").json()["objects"]}
    assert set(objects) == {n for n, g in objs.items() if len(g)}
    st = objects["street_segments"]
    assert st["count"] == len(streets) and st["columns"] == means and st["min_zoom"] == 15
    assert st["title"] == {"nl": "Straten (straatsegmenten)", "en": "Streets (street segments)"}
    assert st["tiles"] == "/tiles/vector/street_segments/{z}/{x}/{y}.pbf"
    nl = {x["id"]: x for x in client.get("/api/layers?lang=nl").json()}
    en = {x["id"]: x for x in client.get("/api/layers?lang=en").json()}
    for name in objects:
        assert nl[name]["object"] == name and nl[name]["kind"] == "vector" and nl[name]["tiles"] == objects[name]["tiles"]
        assert nl[name]["count"] == objects[name]["count"] and nl[name]["columns"] == objects[name]["columns"]
        for k in ("what", "how", "certainty", "action"):
            assert nl[name]["explain"][k] and en[name]["explain"][k] and nl[name]["explain"][k] != en[name]["explain"][k]
        assert "area-weighted mean of the 10 m cells" in en[name]["explain"]["how"]
        assert "oppervlaktegewogen gemiddelde van de vakken van 10 m" in nl[name]["explain"]["how"]
    assert (nl["street_segments"]["item"], en["street_segments"]["item"]) == ("Straatsegment", "Street segment")

    # a z16 tile at the centre of the run: the segments touching it, with the GeoPackage's values
    centre = shapely.Point((BBOX[0] + BBOX[2]) / 2, (BBOX[1] + BBOX[3]) / 2)
    lon, lat = TO_WGS.transform(centre.x, centre.y)
    t = mercantile.tile(lon, lat, 16)
    r = client.get(f"/tiles/vector/street_segments/16/{t.x}/{t.y}.pbf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    feats = mapbox_vector_tile.decode(r.content)["street_segments"]["features"]
    by_id = streets.set_index("id")
    assert len(feats) >= 10
    b = mercantile.xy_bounds(t)
    merc = streets.to_crs("EPSG:3857").set_index("id").geometry
    size = b.right - b.left
    for f in feats:
        p = f["properties"]
        row = by_id.loc[p["id"]]
        assert set(p) <= {"id", "class", "length_m", *means}  # compact: no centre-line WKT, no bookkeeping columns
        assert p["class"] == row["class"] and p["length_m"] == pytest.approx(row["length_m"], rel=1e-12)
        for c in means:
            if np.isfinite(row[c]):
                assert p[c] == pytest.approx(row[c], rel=1e-12, abs=1e-15), (p["id"], c)
            else:
                assert c not in p
        # the feature is drawn on its own buffer: a point inside the decoded polygon (tile units, y up) lies on it
        g = shapely.geometry.shape(f["geometry"])
        inner = g.representative_point()
        x = b.left + inner.x / 4096 * size
        y = b.bottom + inner.y / 4096 * (b.top - b.bottom)
        assert merc.loc[p["id"]].buffer(0.5).contains(shapely.Point(x, y)), p["id"]
    got = {f["properties"]["id"] for f in feats}
    inside = set(merc.index[merc.intersects(shapely.box(b.left + 1, b.bottom + 1, b.right - 1, b.top - 1))])
    grown = 8 / 256 * size + 1  # the tile's buffer of 8 pixels
    near = set(merc.index[merc.intersects(shapely.box(b.left - grown, b.bottom - grown, b.right + grown,
                                                      b.top + grown))])
    assert inside <= got <= near
    # no tiles below the minimum zoom, none outside the area, unknown layers 404
    for z in (14, 12):
        tz = mercantile.tile(lon, lat, z)
        assert client.get(f"/tiles/vector/street_segments/{z}/{tz.x}/{tz.y}.pbf").status_code == 204
    far = mercantile.tile(5.9, 52.9, 16)
    assert client.get(f"/tiles/vector/street_segments/16/{far.x}/{far.y}.pbf").status_code == 204
    if "parks" in objects:
        t13 = mercantile.tile(lon, lat, 13)
        assert client.get(f"/tiles/vector/parks/13/{t13.x}/{t13.y}.pbf").status_code == 204
    assert client.get("/tiles/vector/streets/16/0/0.pbf").status_code == 404
    # load_objects: missing layers skipped, another CRS reprojected, a self-crossing polygon made valid, extra
    # columns left out
    from biostress.web.state import load_objects

    bow = shapely.Polygon([(105400, 424400), (105500, 424500), (105500, 424400), (105400, 424500)])  # a bow tie
    odd = gpd.GeoDataFrame({"id": [7], "area_m2": [5000.0], "green_share_mean": [0.5], "note": ["x"]},
                           geometry=[bow], crs="EPSG:28992")
    odd.to_crs("EPSG:4326").to_file(tmp_path / "odd.gpkg", layer="parks")
    got = load_objects(tmp_path / "odd.gpkg", "EPSG:28992")
    assert list(got) == ["parks"] and got["parks"].columns == ["green_share_mean"]
    frame = got["parks"].frame
    assert list(frame.columns) == ["id", "area_m2", "green_share_mean", "geometry"] and frame.crs == "EPSG:28992"
    assert frame.geometry.iloc[0].is_valid and frame.geometry.iloc[0].area == pytest.approx(5000.0, rel=1e-3)
    lon, lat = TO_WGS.transform(105450, 424420)
    t = mercantile.tile(lon, lat, 16)
    feats = mapbox_vector_tile.decode(got["parks"].render(16, t.x, t.y))["parks"]["features"]
    assert [f["properties"] for f in feats] == [{"id": 7, "area_m2": 5000.0, "green_share_mean": 0.5}]
    t13 = mercantile.tile(lon, lat, 13)
    assert got["parks"].render(13, t13.x, t13.y) == b""


# ------------------------------------------------------------------------------------------------------
# the compact plot card and the compiled loops behind the cards
# ------------------------------------------------------------------------------------------------------

def test_disc_loops_equal_numpy_and_a_brute_force_count():
    """biostress.web.disc: the compiled measure sums over the cells within a radius equal a brute-force loop
    over every cell of the grid (and the NumPy version), for random sparse tables, points (also off the grid)
    and radii (also 0: the cell holding the point); the compiled legend entries equal the NumPy ones."""
    from biostress.web.disc import (
        disc_cells,
        disc_totals,
        disc_totals_numpy,
        legend_entries,
        legend_entries_numpy,
    )

    rng = np.random.default_rng(5)
    height, width, m, k = 23, 31, 6, 9
    x0, y1, cell = 1000.0, 5000.0, 10.0
    fits = rng.random((height * width, m)) < 0.3
    cell_of_entry, measure_of_entry = np.nonzero(fits)
    keys = (cell_of_entry * m + measure_of_entry).astype(np.int64)
    values = rng.normal(size=(keys.size, k)).astype(np.float32)
    values[rng.random(values.shape) < 0.15] = np.nan
    starts = np.searchsorted(keys, np.arange(height * width + 1, dtype=np.int64) * m)
    entry = {int(key): i for i, key in enumerate(keys)}
    checked = 0
    for _ in range(300):
        gx, gy = x0 + rng.uniform(-25, width * cell + 25), y1 - rng.uniform(-25, height * cell + 25)
        radius = float(rng.choice([0.0, 4.0, 25.0, 37.5]))
        count, n_fit, sums = disc_totals(starts, keys, values, m, x0, y1, cell, width, height, gx, gy, radius)
        r, c = math.floor((y1 - gy) / cell), math.floor((gx - x0) / cell)
        if not (0 <= r < height and 0 <= c < width):
            assert count == 0 and n_fit.sum() == 0 and np.isnan(sums).all()
            assert disc_cells(x0, y1, cell, width, height, gx, gy, radius).size == 0
            continue
        near = [(i, j) for i in range(height) for j in range(width)
                if math.hypot(x0 + (j + 0.5) * cell - gx, y1 - (i + 0.5) * cell - gy) <= radius + 1e-9] or [(r, c)]
        want_n = np.zeros(m, int)
        want = np.zeros((m, k))
        has = np.zeros((m, k), bool)
        for i, j in near:
            for mm in range(m):
                e = entry.get((i * width + j) * m + mm)
                if e is None:
                    continue
                want_n[mm] += 1
                for col in range(k):
                    if math.isfinite(values[e, col]):
                        want[mm, col] += float(values[e, col])
                        has[mm, col] = True
        want[~has] = np.nan
        assert count == len(near)
        np.testing.assert_array_equal(n_fit, want_n)
        np.testing.assert_allclose(sums, want, rtol=1e-12, atol=1e-12, equal_nan=True)
        flat = disc_cells(x0, y1, cell, width, height, gx, gy, radius)
        assert flat.tolist() == [i * width + j for i, j in near]
        n2, s2 = disc_totals_numpy(starts, keys, values, m, flat)
        np.testing.assert_array_equal(n2, want_n)
        np.testing.assert_allclose(s2, want, rtol=1e-12, atol=1e-12, equal_nan=True)
        checked += 1
    assert checked > 200
    # legend entries: 3 ramps (one hiding zeros) and 2 class tables, values at and beside every edge
    vmin, span = np.array([0.0, -1.0, 0.0, 0.0, 0.0]), np.array([1.0, 2.0, 50.0, 1.0, 1.0])
    ramp, zero = np.array([True, True, True, False, False]), np.array([False, True, False, True, False])
    codes, offset = np.array([0, 0, 0, 4, 3]), np.array([0, 0, 0, 1, 5])
    lut = np.array([-1, -1, 0, -1, 1, 0, 1, 2], np.int64)  # table 1: codes 1, 3; table 2: codes 0, 1, 2
    probes = np.array([-0.1, 0.0, 0.19999, 0.2, 0.5, 0.99, 1.0, 1.5, 2.0, 2.5, 3.0, 1e-10, np.nan, np.inf, -2.0])
    for v in probes:
        at = np.full(5, v, np.float32)
        got = legend_entries(at, vmin, span, ramp, zero, codes, offset, lut, 5)
        np.testing.assert_array_equal(got, legend_entries_numpy(at, vmin, span, ramp, zero, codes, offset, lut, 5))
        f = float(np.float32(v))
        if math.isfinite(f):  # by hand: floor((v - vmin) / span * 5) clipped to 0..4
            assert got[0] == min(max(math.floor(f * 5), 0), 4)
            assert got[1] == (-1 if abs(f) < 1e-9 else min(max(math.floor((f + 1) / 2 * 5), 0), 4))
            whole = abs(f - round(f)) < 1e-6
            assert got[3] == ({1: 0, 3: 1}.get(round(f), -1) if whole and abs(f) >= 1e-9 else -1)
            assert got[4] == ({0: 0, 1: 1, 2: 2}.get(round(f), -1) if whole else -1)
        else:
            assert (got == -1).all()


def _wait_for_cards(app, seconds: float = 300.0) -> None:
    t0 = time.monotonic()
    while not app.state.plots.fast:
        assert time.monotonic() - t0 < seconds, "the measure table was not ready in time"
        time.sleep(0.2)


def _join_compact(d: dict, layers: list[dict], measures: list[dict], lang: str) -> dict:
    """The compact card joined with /api/layers and /api/measures, written from docs/web.md ("Plot card")."""
    by_layer = {lay["id"]: lay for lay in layers}
    by_measure = {m["id"]: m for m in measures}
    no_data = {"nl": "geen gegevens", "en": "no data"}[lang]

    def item(t: list) -> dict:
        lid, v, k = t
        lay = by_layer[lid]
        e = None if k is None else lay["legend"][k]
        return {"id": lid, "title": lay["title"], "value": v, "unit": lay["unit"],
                "class_label": no_data if v is None else (e["label"] if e else None),
                "colour": e["colour"] if e else None}

    out = {k: v for k, v in d.items() if k not in ("compact", "cells", "measure_fields", "measure_ids",
                                                     "unknown_variables")}
    for key in ("values", "pressures", "opportunities", "guide_species"):
        out[key] = [item(t) for t in d[key]]
    pot = [item(t) for t in d["potential"]]
    out["potential"] = {"values": pot, "landcover": next((v for v in pot if v["id"] == "potential_landcover"), None)}
    if d["stress_class"] is not None:
        s = item(d["stress_class"])
        k = d["stress_class"][2]
        cb = None if k is None else by_layer["stress_class"]["legend_cb"][k]["colour"]
        out["stress_class"] = {**s, "label": s["class_label"], "colour_cb": cb}
    if d["measures"] is not None:
        out["measures"] = []
        for mid, row in zip(d["measure_ids"], d["measures"], strict=True):
            m = by_measure[mid]
            nums = dict(zip(d["measure_fields"], row, strict=True))
            out["measures"].append({"id": mid, "name": m["name"], "explain": m["explain"], "unit": m["unit"],
                                    "subsidies": [{k: s[k] for k in ("programme", "region", "per", "amount_eur",
                                                                     "share", "max_eur", "valid_until", "condition",
                                                                     "ev")} for s in m["subsidies"]],
                                    "guide_species": m["guide_species"], **nums, "fits": nums["cells_fit"] > 0,
                                    "cells": d["cells"], "unknown_variables": d["unknown_variables"].get(mid, [])})
    return out


def _same_card(got, want, path: str = "card") -> None:
    """Equal, numbers at float32 precision (the compact card's): the stored layers are float32."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), (path, set(got) ^ set(want))
        for k in want:
            _same_card(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            _same_card(a, b, f"{path}[{i}]")
    elif isinstance(want, float) or (isinstance(want, int) and not isinstance(want, bool) and isinstance(got, float)):
        assert got is not None and np.float32(got) == pytest.approx(np.float32(want), rel=2e-7, abs=1e-30), path
    else:
        assert got == want, (path, got, want)


def test_compact_card_joined_with_the_layer_and_measure_texts_is_the_card(env, client, run_dir):
    """GET /api/plot?compact=true (what the map asks for) joined with /api/layers and /api/measures as
    docs/web.md describes gives the full card, for many points, both languages, with and without measures;
    it is less than a third of the bytes."""
    _wait_for_cards(env["app"])
    info = client.get("/api/info").json()
    w, s, e, n = info["bounds_wgs84"]
    rng = np.random.default_rng(17)
    fitting = 0
    for i in range(16):
        lon, lat = w + rng.uniform(0.1, 0.9) * (e - w), s + rng.uniform(0.1, 0.9) * (n - s)
        lang = ("nl", "en")[i % 2]
        layers = client.get(f"/api/layers?lang={lang}").json()
        measures = client.get(f"/api/measures?lang={lang}").json()
        for extra in ("", "&measures=false"):
            full = client.get(f"/api/plot?x={lon}&y={lat}&lang={lang}{extra}")
            compact = client.get(f"/api/plot?x={lon}&y={lat}&lang={lang}{extra}&compact=true")
            if full.status_code == 404:  # a point outside the area: both say so
                assert compact.status_code == 404
                continue
            assert full.status_code == compact.status_code == 200
            assert 3 * len(compact.content) < len(full.content)
            d = compact.json()
            assert d["compact"] == 1
            _same_card(_join_compact(d, layers, measures, lang), full.json())
            fitting += sum(1 for m in full.json()["measures"] or [] if m["fits"])
    assert fitting > 0


def test_compact_card_from_the_blocks_equals_the_one_from_the_table(env, run_dir):
    """Before the measure table is ready a card's measures come from the 32 x 32 blocks: the compact card is
    the same either way (numbers at float32 precision)."""
    from biostress.web.plot import PlotService

    state = env["app"].state.run
    _wait_for_cards(env["app"])
    blocks = PlotService(state)
    g = state.grid
    rng = np.random.default_rng(23)
    for _ in range(6):
        x, y = g.x0 + rng.uniform(30, g.width * g.cell - 30), g.y1 - rng.uniform(30, g.height * g.cell - 30)
        a = env["app"].state.plots.card_compact(x, y, state.grid.crs, "en")
        b = blocks.card_compact(x, y, state.grid.crs, "en")
        assert a["measure_fields"] == b["measure_fields"] and a["cells"] == b["cells"]
        assert a["unknown_variables"] == b["unknown_variables"]
        assert sorted(a["measure_ids"]) == sorted(b["measure_ids"])
        rows_b = dict(zip(b["measure_ids"], b["measures"].tolist(), strict=True))
        for mid, row in zip(a["measure_ids"], a["measures"].tolist(), strict=True):
            np.testing.assert_allclose(row, rows_b[mid], rtol=1e-5, atol=1e-3, equal_nan=True, err_msg=mid)
        assert [a[k] for k in ("values", "pressures", "potential")] == [b[k] for k in ("values", "pressures",
                                                                                        "potential")]



# ------------------------------------------------------------------------------------------------------
# cadastral parcels (a 'parcels' source)
# ------------------------------------------------------------------------------------------------------

def test_parcels_are_found_by_their_id_and_named_on_the_card(client, run_dir):
    """The run keeps the parcels with an id inside the area (BRK columns -> 'DDT00 K 1234', area of the box);
    the offline search finds a parcel by its id written any way, lists the parcels an id begins, and the card
    (full and compact) names the parcel holding the point."""
    gdf = gpd.read_file(run_dir / "biostress.gpkg", layer="parcels")
    areas = dict(zip(gdf["parcel_id"], gdf["area_m2"], strict=True))
    assert set(areas) == {"DDT00 K 1234", "DDT00 K 1235"}  # no sectie: left out; DDT01 A 99: outside
    assert areas["DDT00 K 1234"] == pytest.approx(40 * 30) and areas["DDT00 K 1235"] == pytest.approx(30 * 30)
    to_rd = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True)
    for q in ("DDT00 K 1234", "ddt00k1234", "DDT00-K-1234"):
        got = client.get("/api/geocode", params={"q": q}).json()
        assert got[0]["kind"] == "perceel" and got[0]["id"] == "DDT00 K 1234", got
        assert shapely.box(*PARCELS_BOXES[0]).contains(shapely.Point(*to_rd.transform(got[0]["x"], got[0]["y"])))
    got = client.get("/api/geocode", params={"q": "DDT00 K 123"}).json()
    assert {g["id"] for g in got if g["kind"] == "perceel"} == {"DDT00 K 1234", "DDT00 K 1235"}
    assert [g for g in client.get("/api/geocode", params={"q": "DDT00 K 9"}).json() if g["kind"] == "perceel"] == []
    for (x, y), want in (((105120.0, 424115.0), {"id": "DDT00 K 1234", "area_m2": 1200.0}),
                         ((105165.0, 424101.0), {"id": "DDT00 K 1235", "area_m2": 900.0}),
                         ((105500.0, 424500.0), None)):
        for extra in ("", "&compact=true"):
            card = client.get(f"/api/plot?x={x}&y={y}&crs=EPSG:28992&measures=false{extra}").json()
            assert card["parcel"] == want, (x, y, extra)


def test_the_plot_report_of_a_point_in_a_parcel_covers_that_parcel(client):
    """Inside a parcel the plot report's plot is the parcel (its area), elsewhere the 25 m circle."""
    to_wgs = TO_WGS.transform
    lon, lat = to_wgs(105120.0, 424115.0)
    rep = client.get(f"/api/report?x={lon}&y={lat}&lang=en&format=json").json()
    assert rep["kind"] == "polygon" and rep["plot_area_m2"] == pytest.approx(1200.0, rel=1e-6)
    assert "DDT00 K 1234" in json.dumps(rep)
    lon, lat = to_wgs(105500.0, 424500.0)
    rep = client.get(f"/api/report?x={lon}&y={lat}&lang=en&format=json").json()
    assert rep["kind"] == "disc" and rep["plot_area_m2"] == pytest.approx(math.pi * 25 ** 2, rel=1e-3)
