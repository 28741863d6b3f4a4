"""The web tool in a real browser (Chromium via Playwright) against the real server on a run of the sample city.

The app is served by ``biostress.web.app.create_app`` under uvicorn on a free port; the run is a pipeline run on
1 km x 1 km of Dordrecht (built once and kept in pytest's cache, keyed by a hash of the biostress sources; set
``BIOSTRESS_WEB_TEST_RUN`` to use an existing run folder instead). Expected values come from independent paths:
raster values read with rasterio, unit values from the GeoPackage with geopandas, class colours from the
stress-class table and ColorBrewer/Okabe-Ito written out here, file checksums with hashlib, WCAG contrast with
the formula of WCAG 2.1 (relative luminance). With ``BIOSTRESS_WEB_SCREENSHOTS=docs/screenshots`` the tests also
save screenshots there (the ones in the docs come from ``BIOSTRESS_WEB_TEST_RUN`` = a run of the whole city).

Chromium: /usr/bin/chromium (Debian package ``chromium``) or ``BIOSTRESS_CHROMIUM``; the tests skip only when no
Chromium is found (``playwright install`` is not used).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import socket
import sqlite3
import threading
import time
import urllib.request
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.transform
import shapely
import shapely.ops
import yaml
from PIL import Image
from pyproj import Transformer

from biostress.stresstest import load_classes

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
pytest.importorskip("fastapi", reason="the web backend needs fastapi")
pytest.importorskip("uvicorn", reason="the web backend needs uvicorn")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "dordrecht"
BBOX = (105000.0, 424000.0, 106000.0, 425000.0)  # 1 km x 1 km of the old centre (RD New)
TO_WGS = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)
RDYLGN = ["#a50026", "#f46d43", "#fee08b", "#a6d96a", "#006837"]  # ColorBrewer RdYlGn 5, low -> high
OKABE_ITO = ["#d55e00", "#e69f00", "#f0e442", "#56b4e9", "#0072b2"]  # Okabe & Ito 2008, the colour-blind ramp
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# a small window keeps the number of tiles (and the time) down; screenshots for the docs use a larger one
VIEWPORT = ({"width": 1280, "height": 800} if os.environ.get("BIOSTRESS_WEB_SCREENSHOTS")
            else {"width": 880, "height": 600})


def _chromium() -> str | None:
    for p in (os.environ.get("BIOSTRESS_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
              shutil.which("chromium-browser")):
        if p and Path(p).is_file():
            return p
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found (apt-get install chromium, or set "
                                                          "BIOSTRESS_CHROMIUM to its path)")


# ---------------------------------------------------------------------------------------------------- run + server
def _source_hash(doc: dict) -> str:
    h = hashlib.sha256(json.dumps(doc, sort_keys=True).encode())
    for p in sorted((REPO / "src" / "biostress").rglob("*")):
        if p.is_file() and p.suffix in (".py", ".csv", ".yaml", ".json") and "web" not in p.parts:
            h.update(str(p.relative_to(REPO)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="module")
def run_dir(request, tmp_path_factory) -> Path:
    """A pipeline run on 1 km x 1 km of Dordrecht (quick local indicators, stress test, potential and opportunity
    map; no plan, no PNG maps). Cached between sessions until a biostress source file changes."""
    env = os.environ.get("BIOSTRESS_WEB_TEST_RUN")
    if env:
        return Path(env)
    import biostress.pipeline as pipeline
    from biostress.config import load_area

    doc = yaml.safe_load((DATA / "area.yaml").read_text())
    doc["boundary"] = {"bbox": list(BBOX)}
    doc.pop("plan", None)
    doc["indicators"] = {"enabled": ["green", "habitat_quality", "heat", "flooding", "drought", "disturbance"],
                         "opportunity_per_measure": False}
    cache = Path(request.config.cache.mkdir("biostress_web_browser_run"))
    out = cache / _source_hash(doc)
    if (out / "manifest.json").is_file():
        return out
    for old in cache.iterdir():  # runs of older sources
        shutil.rmtree(old, ignore_errors=True)
    d = tmp_path_factory.mktemp("area")
    shutil.copytree(DATA / "data", d / "data")
    (d / "area.yaml").write_text(yaml.safe_dump(doc))
    tmp_out = tmp_path_factory.mktemp("runs") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "_write_maps", lambda *a, **k: None)
        pipeline.run_area(load_area(d / "area.yaml"), tmp_out)
    shutil.move(str(tmp_out), str(out))
    return out


@pytest.fixture(scope="module")
def server(run_dir, tmp_path_factory):
    """The real app under uvicorn on a free port (offline geocoder: coordinates and unit names)."""
    import uvicorn

    from biostress.web.app import create_app

    data = tmp_path_factory.mktemp("webdata")
    app = create_app(run_dir, data_dir=data, geocoder_url=None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    t0 = time.monotonic()
    while not srv.started:
        if time.monotonic() - t0 > 30 or not th.is_alive():
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "data": data}
    srv.should_exit = True
    th.join(timeout=10)


def api(server, path):
    with urllib.request.urlopen(server["url"] + path, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


WAIT_IDLE = """async () => {
  const m = window.biostress.state.map;
  m.triggerRepaint();
  await m.once('idle');
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return true;
}"""


WAIT_STILL = """async () => {
  const m = window.biostress.state.map;
  if (m.isMoving()) await m.once('moveend');
  return true;
}"""


class App:
    """One page with the app loaded, shared by the tests of this module (loading it takes seconds)."""

    def __init__(self, page, server):
        self.page = page
        self.server = server
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def idle(self) -> None:
        self.page.evaluate(WAIT_IDLE)

    def wait_request(self, part: str, timeout_s: float = 10.0) -> None:
        """Wait until the page has requested a URL containing ``part`` (events arrive during Playwright calls)."""
        t0 = time.monotonic()
        while not any(part in u for u in self.requests):
            assert time.monotonic() - t0 < timeout_s, f"no request for {part}"
            self.page.wait_for_timeout(50)

    def shot(self, name: str) -> None:
        """A screenshot for the docs, only when BIOSTRESS_WEB_SCREENSHOTS names a folder (waits for the tiles)."""
        d = os.environ.get("BIOSTRESS_WEB_SCREENSHOTS")
        if d:
            self.idle()
            Path(d).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=Path(d) / name)

    def still(self) -> None:
        self.page.evaluate(WAIT_STILL)

    def jump(self, lon: float, lat: float, zoom: float, *, wait_tiles: bool = True) -> None:
        self.page.evaluate("([lon, lat, z]) => window.biostress.state.map.jumpTo({center: [lon, lat], zoom: z})",
                           [lon, lat, zoom])
        if wait_tiles:
            self.idle()

    def pixel(self, lon: float, lat: float, half: int = 2) -> tuple[int, int, int]:
        """Median colour of the (2 half + 1)^2 screen pixels at lon/lat."""
        x, y = self.page.evaluate("""([lon, lat]) => {
            const m = window.biostress.state.map; const p = m.project([lon, lat]);
            const r = m.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""", [lon, lat])
        png = self.page.screenshot(clip={"x": x - half, "y": y - half, "width": 2 * half + 1, "height": 2 * half + 1})
        a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
        return tuple(int(v) for v in np.median(a, axis=0))

    def reset(self) -> None:
        p = self.page
        p.evaluate("""() => { const b = window.biostress; b.cancelDrawing(); b.clearScenario();
                     if (b.state.popup) b.state.popup.remove(); b.selectTab('layers'); }""")
        if p.get_attribute("html", "lang") != "nl":
            p.click("#btn-lang")
            p.wait_for_function("document.documentElement.lang === 'nl' && document.querySelector('#layer-green_share')")


@pytest.fixture(scope="module")
def app_page(browser, server):
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True, locale="nl-NL")
    page = ctx.new_page()
    app = App(page, server)
    page.goto(server["url"] + "/")
    page.wait_for_selector("body[data-map-ready='1']", timeout=30000)
    app.idle()
    yield app
    ctx.close()


@pytest.fixture
def app(app_page):
    app_page.reset()
    app_page.errors.clear()
    yield app_page
    assert not app_page.errors, f"JavaScript errors in the page: {app_page.errors}"


def hex_rgb(h: str) -> tuple[int, int, int]:
    return tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))


def close(c1, c2, tol=3) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(c1, c2, strict=True))


def legend_colours(page) -> list[tuple[int, int, int]]:
    styles = page.eval_on_selector_all("#legend-items .sw", "els => els.map(e => getComputedStyle(e).backgroundColor)")
    return [tuple(int(v) for v in s[s.index("(") + 1:s.index(")")].split(",")[:3]) for s in styles]


def cell_centre(run_dir: Path, row: int, col: int) -> tuple[float, float]:
    with rasterio.open(run_dir / "green_share.tif") as ds:
        x, y = ds.xy(row, col)
    return TO_WGS.transform(x, y)


def unit_lines(run_dir: Path):
    return shapely.union_all([gpd.read_file(run_dir / "biostress.gpkg", layer=f"units_{lv}").boundary.union_all()
                              for lv in ("gemeente", "wijk", "buurt")])


def pct(text: str) -> float:
    return float(text.replace("%", "").replace("\u2212", "-").replace(".", "").replace(",", ".").strip())


# ---------------------------------------------------------------------------------------------------- tests
def test_app_loads_and_draws_the_run_in_its_class_colours(app, run_dir, server):
    """The default layer is the stress test; a cell of the map shows the colour of its class (raster read here)."""
    page = app.page
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["parameters"]["area"]["name"] in page.inner_text("#area-name")
    assert page.get_attribute("html", "lang") == "nl"
    assert page.is_checked("#layer-stress_class")
    classes = load_classes()
    assert legend_colours(page) == [hex_rgb(c.colour) for c in classes]
    assert "Zeer kwetsbaar" in page.inner_text("#legend-items")
    # no external requests: everything comes from this server (no CDN, no external base map)
    assert app.requests and all(u.startswith((server["url"], "data:", "blob:")) for u in app.requests)
    # find a cell whose 5 x 5 neighbourhood has one class, at least 20 m from any unit outline
    with rasterio.open(run_dir / "stress_class.tif") as ds:
        sc = ds.read(1).astype(float)
        nodata = ds.nodata
        transform = ds.transform
    valid = np.isfinite(sc) & (sc >= 1) & (sc <= 5) & ((sc != nodata) if nodata is not None else True)
    lines = unit_lines(run_dir)
    found = None
    for r in range(3, sc.shape[0] - 3, 3):
        for c in range(3, sc.shape[1] - 3, 3):
            win = sc[r - 2:r + 3, c - 2:c + 3]
            if not valid[r - 2:r + 3, c - 2:c + 3].all() or (win != win[0, 0]).any():
                continue
            x, y = rasterio.transform.xy(transform, r, c)
            if shapely.Point(x, y).distance(lines) > 20:
                found = (r, c, int(sc[r, c]))
                break
        if found:
            break
    assert found, "no homogeneous stress-class cell away from the outlines in the run"
    r, c, cls = found
    page.locator("#opacity").fill("100")
    lon, lat = cell_centre(run_dir, r, c)
    app.jump(lon, lat, 18)
    expected = hex_rgb(next(k.colour for k in classes if k.code == cls))
    got = app.pixel(lon, lat)
    assert close(got, expected), f"cell ({r}, {c}) class {cls}: map shows {got}, class colour {expected}"
    page.locator("#opacity").fill("80")
    page.evaluate("window.biostress.fitArea()")
    app.shot("01_stress_test_nl.png")


def built_up_places(run_dir: Path, n: int) -> list[tuple[float, float]]:
    """lon/lat of ``n`` mixed built-up cells (impervious share 0.3-0.8, green share >= 0.1, known land cover), spread
    over the run, nearest to the grid centre first: places inside the area where measures such as de-paving fit."""
    with rasterio.open(run_dir / "impervious_share.tif") as ds:
        imp = ds.read(1)
        transform = ds.transform
    with rasterio.open(run_dir / "green_share.tif") as ds:
        green = ds.read(1)
    with rasterio.open(run_dir / "landcover.tif") as ds:
        lc = ds.read(1)
    ok = np.isfinite(imp) & (imp >= 0.3) & (imp <= 0.8) & np.isfinite(green) & (green >= 0.1) & (lc > 0) & (lc < 255)
    rows, cols = np.nonzero(ok)
    assert len(rows), "no built-up cell in the run"
    h, w = imp.shape
    order = np.argsort((rows - h / 2) ** 2 + (cols - w / 2) ** 2)
    return [TO_WGS.transform(*rasterio.transform.xy(transform, int(rows[k]), int(cols[k]))) for k in order[:: max(1, len(order) // 200)][:n]]


def manifest_centre(run_dir: Path) -> tuple[float, float]:
    return built_up_places(run_dir, 1)[0]


def fitting_place(run_dir: Path, server) -> tuple[float, float, str]:
    """A built-up place near the centre where a measure that converts land cover fits (the plot card says so);
    de-paving where it fits there."""
    for lon, lat in built_up_places(run_dir, 40):
        card = api(server, f"/api/plot?x={lon}&y={lat}&lang=nl")
        fits = [m["id"] for m in card["measures"] if m["fits"] and (m.get("area_m2") or 0) > 0]
        if fits:
            return lon, lat, "depaving" if "depaving" in fits else fits[0]
    raise AssertionError("no place near the centre where a land-cover measure fits")


def test_switch_layer_colour_blind_legend_and_unit_means(app, run_dir):
    """Green share: RdYlGn legend, Okabe-Ito with the colour-blind toggle (and ?cb=1 tiles); 'mean per area' colours
    a buurt by its green_share_mean from the GeoPackage in five equal steps."""
    page = app.page
    with page.expect_request(lambda r: "/tiles/green_share/" in r.url and "cb=1" not in r.url):
        page.click("label[for=layer-green_share]")
    page.wait_for_function("window.biostress.state.active.id === 'green_share'")
    assert legend_colours(page) == [hex_rgb(c) for c in RDYLGN]
    with page.expect_request(lambda r: "/tiles/green_share/" in r.url and "cb=1" in r.url):
        page.check("#cb-toggle")
    assert legend_colours(page) == [hex_rgb(c) for c in OKABE_ITO]
    page.uncheck("#cb-toggle")
    # a buurt inside the run, coloured by its mean
    bu = gpd.read_file(run_dir / "biostress.gpkg", layer="units_buurt")
    area = shapely.box(*BBOX) if not os.environ.get("BIOSTRESS_WEB_TEST_RUN") else bu.union_all()
    bu = bu[bu.geometry.within(area) & bu["green_share_mean"].notna()]
    assert len(bu), "no buurt inside the run"
    row = bu.loc[bu.geometry.area.idxmax()]
    inner = shapely.ops.polylabel(row.geometry, tolerance=1.0)
    lon, lat = TO_WGS.transform(inner.x, inner.y)
    page.locator("#opacity").fill("100")
    page.check("input[name=view][value=units]")
    app.jump(lon, lat, 15.5)
    step = min(4, max(0, math.floor(5 * float(row["green_share_mean"]))))
    got = app.pixel(lon, lat)
    assert close(got, hex_rgb(RDYLGN[step])), (row["name"], row["green_share_mean"], got)
    assert "buurt" in page.inner_text("#legend-level")
    if os.environ.get("BIOSTRESS_WEB_SCREENSHOTS"):  # a view over several neighbourhoods for the docs
        page.locator("#opacity").fill("85")
        small = bu.loc[bu.geometry.area.idxmin()].geometry.centroid  # in the dense centre of town
        app.jump(*TO_WGS.transform(small.x, small.y), 13.8)
        app.shot("02_green_share_per_buurt_nl.png")
    page.check("input[name=view][value=cells]")
    page.locator("#opacity").fill("80")


def test_search_a_neighbourhood_and_read_its_plot_card(app, run_dir):
    """Search a buurt by name (offline geocoder), pick it with the keyboard: the card names that buurt and shows
    the green share of the raster cell at the point the geocoder gave."""
    page = app.page
    bu = gpd.read_file(run_dir / "biostress.gpkg", layer="units_buurt")
    area = shapely.box(*BBOX) if not os.environ.get("BIOSTRESS_WEB_TEST_RUN") else bu.union_all()
    inside = bu[bu.geometry.within(area)]
    names = inside["name"][~inside["name"].duplicated(keep=False) & (inside["name"] != inside["code"])]
    assert len(names), "no named buurt inside the run"
    name = str(names.iloc[0])
    page.fill("#search-input", name)
    with page.expect_response(lambda r: "/api/geocode" in r.url) as resp:
        page.press("#search-input", "Enter")
    hits = resp.value.json()
    page.wait_for_selector("#search-results [role=option][aria-selected=true]")
    assert name in page.inner_text("#search-results")
    first = hits[0]
    with page.expect_response(lambda r: "/api/plot" in r.url) as plot:
        page.press("#search-input", "Enter")
    assert plot.value.ok
    page.wait_for_selector("#plot-card .vals")
    assert page.is_visible("#panel-plot")
    card = page.inner_text("#plot-card")
    assert name in card
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:28992", always_xy=True).transform(first["x"], first["y"])
    with rasterio.open(run_dir / "green_share.tif") as ds:
        v = float(next(ds.sample([(x, y)]))[0])
    shown = page.inner_text("#plot-card li[data-id=green_share] .v")
    assert abs(pct(shown) - 100 * v) <= 0.51, (shown, v)
    app.shot("03_search_plot_card_nl.png")


def test_click_a_plot_then_propose_a_measure(app, run_dir, server):
    """A click on the map opens the card of that spot (its values = the rasters there) and the unit popup; the
    participation form stores a pending proposal (checked in the server's SQLite file)."""
    page = app.page
    with rasterio.open(run_dir / "green_share.tif") as ds:
        gs = ds.read(1)
    rows, cols = np.nonzero(np.isfinite(gs) & (gs > 0.05) & (gs < 0.95))
    k = len(rows) // 2
    lon, lat = cell_centre(run_dir, int(rows[k]), int(cols[k]))
    app.jump(lon, lat, 17)
    px = page.evaluate("""([lon, lat]) => { const m = window.biostress.state.map; const p = m.project([lon, lat]);
        const r = m.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""", [lon, lat])
    with page.expect_response(lambda r: "/api/plot" in r.url) as plot:
        page.mouse.click(px[0], px[1])
    card = plot.value.json()
    page.wait_for_selector("#plot-card li[data-id=green_share]")
    shown = page.inner_text("#plot-card li[data-id=green_share] .v")
    assert abs(pct(shown) - 100 * float(gs[rows[k], cols[k]])) <= 0.51
    assert page.is_visible(".maplibregl-popup")
    # the measures: the fitting ones come first, each with a cost or gain line and a scenario button
    fitting = [m for m in card["measures"] if m["fits"]]
    shown_measures = page.eval_on_selector_all("#plot-card .measure-card h4", "els => els.map(e => e.textContent)")
    if fitting:
        assert shown_measures[0] == fitting[0]["name"]
    # propose a measure here
    page.click("#propose summary")
    page.check("input[name=propose-kind][value=measure]")
    page.select_option("#propose-measure", index=1)
    text = f"Geveltuin bij nummer {int(time.time())} graag"
    page.fill("#propose-text", text)
    with page.expect_response(lambda r: r.url.endswith("/api/proposals") and r.request.method == "POST") as resp:
        page.click("#propose-submit")
    assert resp.value.status in (200, 201)
    pid = resp.value.json()["id"]
    page.wait_for_selector("#propose-msg.msg-ok")
    assert str(pid) in page.inner_text("#propose-msg")
    with sqlite3.connect(server["data"] / "proposals.sqlite") as db:
        got = db.execute("SELECT text, status, kind FROM proposals WHERE id = ?", (pid,)).fetchone()
    assert got == (text, "pending", "measure")
    app.shot("04_plot_card_proposal_nl.png")


def test_draw_a_scenario_with_the_mouse(app, run_dir):
    """Four clicks and a double-click draw the polygon; the POSTed polygon has those four corners; the result table
    lists exactly the indicators that changed, and the change map's tiles come from the scenario. The measure is
    one the plot card says fits at that place (de-paving where it does)."""
    page = app.page
    lon, lat, measure = fitting_place(run_dir, app.server)
    app.jump(lon, lat, 16, wait_tiles=False)
    page.click("#btn-legend-toggle")  # fold the legend away so that it does not cover the corners
    assert page.get_attribute("#btn-legend-toggle", "aria-expanded") == "false" and page.is_hidden("#legend-items")
    page.click("#tab-scenario")
    page.select_option("#scenario-measure", measure)
    page.click("#btn-draw")
    assert page.get_attribute("#btn-draw", "aria-pressed") == "true"
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    corners = [(cx - 70, cy - 60), (cx + 70, cy - 60), (cx + 70, cy + 60), (cx - 70, cy + 60)]
    for x, y in corners[:-1]:
        page.mouse.click(x, y)
    expected = page.evaluate("""(pts) => { const m = window.biostress.state.map;
        const r = m.getCanvas().getBoundingClientRect();
        return pts.map(([x, y]) => { const ll = m.unproject([x - r.left, y - r.top]); return [ll.lng, ll.lat]; }); }""",
                             [list(c) for c in corners])
    page.mouse.click(*corners[-1])
    with page.expect_response(lambda r: "/api/scenario" in r.url, timeout=60000) as resp:
        page.mouse.dblclick(*corners[-1])
    body = json.loads(resp.value.request.post_data)
    assert body["measure"] == measure
    ring = body["polygon"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    np.testing.assert_allclose(ring[:4], expected, atol=1e-6)
    res = resp.value.json()
    page.wait_for_selector("#scenario-result table.totals")
    changed = [t for t in res["totals"] if t["change"] is not None and abs(t["change"]) > 1e-9]
    assert page.locator("#scenario-result tbody tr").count() == len(changed) > 0
    if measure == "depaving":
        gs = next(t for t in res["totals"] if t["indicator"] == "green_share")
        assert gs["after"] > gs["before"]  # de-paving adds green
    app.wait_request(f"/tiles/scenario/{res['id']}/")
    assert page.get_attribute("#btn-draw", "aria-pressed") == "false"
    page.click("#btn-legend-toggle")
    assert page.is_visible("#legend-items")
    app.shot("05_scenario_nl.png")


def test_draw_a_scenario_with_the_keyboard_and_cancel_with_escape(app, run_dir):
    """Keyboard alternative: Space adds the map centre, arrow keys pan, Enter finishes; Esc cancels a drawing.
    (The server's answer to a scenario is tested above; here the request is answered with an error, which the
    panel must show.)"""
    page = app.page
    posted = []

    def answer(route):
        posted.append(json.loads(route.request.post_data))
        route.fulfill(status=503, content_type="application/json",
                      body=json.dumps({"error": "Scenario service busy (test)", "hint": "Try again later."}))

    is_scenario = lambda url: "/api/scenario" in url  # noqa: E731
    page.route(is_scenario, answer)  # well before the request: a route set just before it was sometimes missed
    try:
        app.jump(*manifest_centre(run_dir), 16, wait_tiles=False)
        page.click("#tab-scenario")
        page.select_option("#scenario-measure", "flower_grassland")
        page.click("#btn-draw")
        page.focus(".maplibregl-canvas")
        centres = []
        for key in (None, "ArrowRight", "ArrowDown"):
            if key:
                for _ in range(2):
                    page.keyboard.press(key)
                    app.still()
            c = page.evaluate("(() => { const c = window.biostress.state.map.getCenter(); return [c.lng, c.lat]; })()")
            centres.append(c)
            page.keyboard.press("Space")
        assert page.evaluate("window.biostress.state.vertices.length") == 3
        assert page.evaluate("document.activeElement === window.biostress.state.map.getCanvas()")
        page.keyboard.press("Enter")
        try:
            page.wait_for_selector("#scenario-result .msg-err", timeout=15000)
        except sync_api.TimeoutError:
            state = page.evaluate("""() => [document.activeElement.outerHTML.slice(0, 80), window.biostress.state.drawing,
                window.biostress.state.vertices.length, document.querySelector('#scenario-result').innerHTML.slice(0, 200)]""")
            raise AssertionError(f"no error shown after Enter: posted={posted}, page state={state}") from None
    finally:
        page.unroute(is_scenario)
    assert "Scenario service busy (test)" in page.inner_text("#scenario-result")
    ring = posted[0]["polygon"]["coordinates"][0]
    assert posted[0]["measure"] == "flower_grassland"
    np.testing.assert_allclose(ring[:3], centres, atol=1e-9)
    assert ring[0] == ring[-1] and len({tuple(p) for p in ring}) == 3  # panning moved the centre between corners
    # Esc cancels
    page.click("#btn-draw")
    page.focus(".maplibregl-canvas")
    page.keyboard.press("Space")
    page.keyboard.press("Escape")
    assert page.evaluate("window.biostress.state.drawing") is False
    assert page.evaluate("window.biostress.state.vertices.length") == 0
    assert page.is_hidden("#draw-tools")


def test_download_the_plot_report_and_the_geopackage(app, run_dir, tmp_path):
    """The card's report link downloads the plot report (HTML); the downloads panel's GeoPackage is the run's file."""
    page = app.page
    lon, lat = manifest_centre(run_dir)
    page.evaluate("([lon, lat]) => window.biostress.loadPlot({lng: lon, lat: lat})", [lon, lat])
    page.wait_for_selector("#plot-report-html")
    with page.expect_download(timeout=60000) as dl:
        page.click("#plot-report-html")
    rep = tmp_path / "report.html"
    dl.value.save_as(rep)
    html = rep.read_text(encoding="utf-8")
    assert "<html" in html.lower() and len(html) > 1000
    page.click("#tab-downloads")
    link = page.locator(".dl-list a", has_text="biostress.gpkg")
    link.wait_for()
    with page.expect_download() as dl:
        link.click()
    got = tmp_path / "b.gpkg"
    dl.value.save_as(got)
    assert hashlib.sha256(got.read_bytes()).hexdigest() == hashlib.sha256(
        (run_dir / "biostress.gpkg").read_bytes()).hexdigest()


def test_keyboard_skip_link_tabs_and_explanations(app):
    """Tab reaches the skip link first, Enter jumps to the panel; arrow keys move between tabs; the i button of a
    layer opens its explanation (what, how, certainty, action, sources)."""
    page = app.page
    # start the sequential focus navigation at the top of the page, as after loading it
    page.evaluate("document.body.tabIndex = -1; document.body.focus(); document.body.removeAttribute('tabindex')")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('skip-link')")
    assert page.evaluate("document.activeElement.textContent") == "Naar het zijpaneel"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "sidebar"
    page.focus("#tab-layers")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-plot"
    assert page.get_attribute("#tab-plot", "aria-selected") == "true" and page.is_visible("#panel-plot")
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.id") == "tab-explain"
    page.click("#tab-layers")
    page.focus(".layer-item[data-layer=green_share] .btn-icon")
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel-explain .explain h4")
    text = page.inner_text("#explain-body")
    for h in ("Wat is het?", "Hoe is het berekend?", "Hoe zeker is het?", "Wat kunt u doen?", "Bronnen"):
        assert h in text
    assert page.evaluate("document.activeElement.tagName") == "H3"
    # every button and link has an accessible name
    unnamed = page.evaluate("""() => [...document.querySelectorAll('button, a[href], input, select, textarea')]
        .filter(e => e.offsetParent !== null || e.type === 'radio')
        .filter(e => !(e.getAttribute('aria-label') || e.textContent.trim() || (e.id && document.querySelector(`label[for="${e.id}"]`))
                      || e.closest('label') || e.title)).map(e => e.outerHTML.slice(0, 80))""")
    assert not unnamed, unnamed


def test_language_switch(app, server):
    page = app.page
    en = {lay["id"]: lay["title"] for lay in api(server, "/api/layers?lang=en")}
    page.click("#btn-lang")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_function(f"document.querySelector('label[for=layer-green_share]').textContent.includes({json.dumps(en['green_share'])})")
    assert page.inner_text("#tab-layers") == "Map layers"
    assert page.inner_text("#btn-lang") == "Nederlands"
    assert page.inner_text("#legend-title") == en[page.evaluate("window.biostress.state.active.id")]
    page.evaluate("window.biostress.fitArea()")
    app.shot("06_layers_en.png")
    page.click("#btn-lang")
    page.wait_for_function("document.documentElement.lang === 'nl'")
    assert page.inner_text("#tab-layers") == "Kaartlagen"


# ---------------------------------------------------------------------------------------------------- contrast
def _luminance(rgb) -> float:
    def ch(c):
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4  # WCAG 2.1 relative luminance
    r, g, b = (ch(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_ratio_reference_values():
    """The formula against WCAG's own anchors: black on white 21:1, #767676 on white is the AA edge (4.54:1)."""
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast((118, 118, 118), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)
    assert contrast((255, 255, 255), (255, 255, 255)) == pytest.approx(1.0)


COLOURS_JS = """(sel) => [...document.querySelectorAll(sel)].filter(e => e.offsetParent !== null).slice(0, 3).map(e => {
  const parse = (s) => { const m = s.match(/rgba?\\(([^)]+)\\)/); const v = m[1].split(',').map(Number);
                         return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  let bg = null; let n = e;
  while (n && n.nodeType === 1) { const c = parse(getComputedStyle(n).backgroundColor); if (c[3] > 0.9) { bg = c; break; }
                                  n = n.parentElement; }
  const cs = getComputedStyle(e);
  return {fg: parse(cs.color), bg: bg || [255, 255, 255, 1], size: parseFloat(cs.fontSize), weight: parseInt(cs.fontWeight)};
})"""


def test_text_contrast_meets_wcag_aa(app):
    """Every kind of text (body, muted, buttons, tabs, top bar, links, legend, badges) has >= 4.5:1 (3:1 large)."""
    page = app.page
    page.click("#tab-downloads")
    page.wait_for_selector(".dl-list a")
    page.click("#tab-layers")
    checks = {}
    for sel in ("#panel-layers h2", "#panel-layers p.muted", ".layer-item label > span:last-child", ".layer-group > summary",
                ".btn-primary", ".tabs [role=tab][aria-selected=true]", ".tabs [role=tab][aria-selected=false]",
                ".brand h1", ".subtitle", "#btn-lang", "#legend-items li span:last-child", "#legend-title",
                ".cb-toggle span", ".maplibregl-ctrl-attrib-inner"):
        for i, c in enumerate(page.evaluate(COLOURS_JS, sel)):
            checks[f"{sel} #{i}"] = c
    page.click("#tab-downloads")
    for i, c in enumerate(page.evaluate(COLOURS_JS, ".dl-list a")):
        checks[f"link #{i}"] = c
    page.click("#tab-layers")
    assert len(checks) >= 14
    bad = {}
    for k, c in checks.items():
        large = c["size"] >= 24 or (c["size"] >= 18.66 and c["weight"] >= 700)
        ratio = contrast(c["fg"][:3], c["bg"][:3])
        if ratio < (3.0 if large else 4.5):
            bad[k] = round(ratio, 2)
    assert not bad, f"contrast below WCAG AA: {bad}"
