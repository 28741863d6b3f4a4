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

import csv
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
import urllib.error
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
from test_web_api import _same_card, write_test_parcels  # noqa: E402  (float32-precision compare; parcels)

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
    doc["sources"].append({"name": "parcels", "kind": "parcels", "path": "data/parcels_brk.gpkg",
                           "licence": "CC-BY-4.0", "attribution": "test parcels (hand-made)", "date": "2025"})
    cache = Path(request.config.cache.mkdir("biostress_web_browser_run"))
    out = cache / _source_hash(doc)
    if (out / "manifest.json").is_file():
        return out
    for old in cache.iterdir():  # runs of older sources
        shutil.rmtree(old, ignore_errors=True)
    d = tmp_path_factory.mktemp("area")
    shutil.copytree(DATA / "data", d / "data")
    write_test_parcels(d / "data" / "parcels_brk.gpkg")
    (d / "area.yaml").write_text(yaml.safe_dump(doc))
    tmp_out = tmp_path_factory.mktemp("runs") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "_write_maps", lambda *a, **k: None)
        pipeline.run_area(load_area(d / "area.yaml"), tmp_out)
    shutil.move(str(tmp_out), str(out))
    return out


EDITOR = ("anna", "groen-en-blauw-2025")       # an editor of the run's municipality
OTHER_EDITOR = ("otto", "andere-gemeente-2025")  # an editor of another municipality


def municipality_of(run_dir: Path) -> str:
    """The run's municipality code: the area's ``code`` in the manifest, else its single gemeente unit."""
    code = json.loads((run_dir / "manifest.json").read_text())["parameters"]["area"].get("code")
    if not code:
        gm = gpd.read_file(run_dir / "biostress.gpkg", layer="units_gemeente")
        assert len(gm) == 1, "the run has no municipality code"
        code = str(gm["code"].iloc[0])
    return code


def write_aggregates(run_dir: Path, out: Path) -> Path:
    """``out/aggregates.gpkg``: the street segments, verges, parks and woods of the run with their indicator means,
    made with biostress.aggregate.aggregate_objects as the report step does (written atomically)."""
    from biostress.aggregate import aggregate_objects
    from biostress.report import AGGREGATE_RASTERS
    from biostress.runs import open_run
    from biostress.store import gpkg as G

    run = open_run(run_dir)
    objs = aggregate_objects(run, [r for r in AGGREGATE_RASTERS if r in run.files.paths])
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "aggregates.tmp.gpkg"
    tmp.unlink(missing_ok=True)
    for name, gdf in objs.items():
        if len(gdf):
            G.write_layer(tmp, name, gdf)
    tmp.replace(out / "aggregates.gpkg")
    return out


@pytest.fixture(scope="module")
def reports(run_dir, tmp_path_factory) -> Path:
    """The report folder served with the run: ``BIOSTRESS_WEB_TEST_REPORTS`` (e.g. biostress-demo-report), else one
    holding the run's aggregates.gpkg (next to the cached run, else in a temporary folder)."""
    env = os.environ.get("BIOSTRESS_WEB_TEST_REPORTS")
    if env:
        return Path(env)
    if os.environ.get("BIOSTRESS_WEB_TEST_RUN"):
        return write_aggregates(run_dir, tmp_path_factory.mktemp("reports"))
    out = run_dir.with_name(f"{run_dir.name}-report")  # cached with the run (and removed with it)
    if (out / "aggregates.gpkg").is_file():
        return out
    return write_aggregates(run_dir, out)


@pytest.fixture(scope="module")
def server(run_dir, reports, tmp_path_factory):
    """The real app under uvicorn on a free port (offline geocoder: coordinates and unit names), with a data folder,
    the report folder (streets and managed objects) and a users file holding an editor of the run's municipality and
    one of another municipality."""
    import uvicorn

    from biostress.web.app import create_app
    from biostress.web.auth import add_user

    data = tmp_path_factory.mktemp("webdata")
    users = tmp_path_factory.mktemp("users") / "users.json"
    municipality = municipality_of(run_dir)
    add_user(users, EDITOR[0], municipality, EDITOR[1])
    add_user(users, OTHER_EDITOR[0], "GM9999" if municipality != "GM9999" else "GM9998", OTHER_EDITOR[1])
    app = create_app(run_dir, users=users, data_dir=data, report_dir=reports, geocoder_url=None)
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
    yield {"url": f"http://127.0.0.1:{port}", "data": data, "users": users, "municipality": municipality,
           "reports": reports}
    srv.should_exit = True
    th.join(timeout=10)


def api(server, path, token: str | None = None):
    req = urllib.request.Request(server["url"] + path, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def http_status(server, path, method="GET", body: bytes | None = None, headers: dict | None = None):
    """(status, JSON answer, headers) of a request, error answers included."""
    req = urllib.request.Request(server["url"] + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), dict(e.headers)


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
    app.jump(lon, lat, 15.0)  # the buurt level (the street level starts at 15.5)
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
    t0 = time.monotonic()
    while not api(server, "/api/info").get("plot_cards_ready"):  # cards from the measure table: same numbers twice
        assert time.monotonic() - t0 < 300, "the plot cards were not ready in time"
        time.sleep(0.5)
    with rasterio.open(run_dir / "green_share.tif") as ds:
        gs = ds.read(1)
    rows, cols = np.nonzero(np.isfinite(gs) & (gs > 0.05) & (gs < 0.95))
    k = len(rows) // 2
    lon, lat = cell_centre(run_dir, int(rows[k]), int(cols[k]))
    app.jump(lon, lat, 15)  # buurt level (the popup names the buurt; from 15.5 on the streets take its place)
    px = page.evaluate("""([lon, lat]) => { const m = window.biostress.state.map; const p = m.project([lon, lat]);
        const r = m.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""", [lon, lat])
    with page.expect_response(lambda r: "/api/plot" in r.url) as plot:
        page.mouse.click(px[0], px[1])
    assert "compact=true" in plot.value.url and plot.value.json()["compact"] == 1  # the lean card
    page.wait_for_selector("#plot-card li[data-id=green_share]")
    shown = page.inner_text("#plot-card li[data-id=green_share] .v")
    assert abs(pct(shown) - 100 * float(gs[rows[k], cols[k]])) <= 0.51
    assert page.is_visible(".maplibregl-popup")
    # the map joins the compact card with the layer and measure texts it has: the full card, rendered the same
    full_url = plot.value.url.replace("&compact=true", "")
    full = page.evaluate("async (u) => (await fetch(u)).json()", full_url)
    card = page.evaluate("window.biostress.state.plot")
    _same_card(card, full)
    shown_text = page.inner_text("#plot-card")
    page.evaluate("(d) => window.biostress.renderPlot(d, null)", full)
    assert page.inner_text("#plot-card") == shown_text
    page.evaluate("(d) => window.biostress.renderPlot(d, null)", card)
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


def street_to_click(run_dir: Path, reports: Path):
    """A street segment of aggregates.gpkg with a green_share_mean and a point well inside it that no other segment
    covers and no unit outline passes near (so a pixel and a click there are this segment's), nearest to the focus:
    the centre of the 1 km run, else the buurt whose street segments (at least 40) differ most in their green-share
    colour (a view worth a screenshot)."""
    st = gpd.read_file(reports / "aggregates.gpkg", layer="street_segments")
    st = st[st["green_share_mean"].notna()].reset_index(drop=True)
    if os.environ.get("BIOSTRESS_WEB_TEST_RUN"):
        bu = gpd.read_file(run_dir / "biostress.gpkg", layer="units_buurt")
        pts = gpd.GeoDataFrame({"step": np.clip(np.floor(5 * st["green_share_mean"]), 0, 4)},
                               geometry=st.geometry.centroid, crs=st.crs)
        per = gpd.sjoin(pts, bu[["code", "geometry"]].to_crs(st.crs)).groupby("code")["step"].agg(["size", "std"])
        best = per[per["size"] >= 40]["std"].idxmax()
        focus = bu.to_crs(st.crs).set_index("code").loc[best].geometry.centroid
    else:
        focus = shapely.box(*BBOX).centroid
    lines = unit_lines(run_dir)
    geoms = st.geometry.values
    tree = shapely.STRtree(geoms)
    for i in np.argsort(st.distance(focus).to_numpy())[:400]:
        g = geoms[i]
        others = [j for j in tree.query(g.buffer(3.0), predicate="intersects") if j != i]
        free = g.difference(shapely.union_all(geoms[others]).buffer(2.0)) if others else g
        if free.is_empty:
            continue
        part = max(shapely.get_parts(free), key=lambda p: p.area)
        pt = shapely.ops.polylabel(part, tolerance=0.2)
        if pt.distance(part.boundary) >= 2.5 and pt.distance(g.boundary) >= 3.0 and pt.distance(lines) > 6.0:
            return st.iloc[i], pt
    raise AssertionError("no street segment with a free interior near the focus")


def test_street_level_draws_the_streets_in_their_colours_and_a_click_shows_their_values(app, run_dir, server):
    """Zoomed in past the neighbourhoods with 'mean per area', the map shows the street level: the street segments of
    the report's aggregates.gpkg (rendered features queried on the MapLibre map), each in the colour of its own
    green_share_mean read from the GeoPackage (five equal steps, Okabe-Ito when colour-blind friendly); a click on one
    opens a popup and a section of the plot card with its values, equal to the GeoPackage's; 'Managed objects' draws
    the parks, woods and verges (a park's own feature at its inside point)."""
    page = app.page
    gpkg = server["reports"] / "aggregates.gpkg"
    row, inner = street_to_click(run_dir, server["reports"])
    sid = int(row["id"])
    lon, lat = TO_WGS.transform(inner.x, inner.y)
    page.click("label[for=layer-green_share]")
    page.wait_for_function("window.biostress.state.active.id === 'green_share'")
    page.locator("#opacity").fill("100")
    page.check("input[name=view][value=units]")
    page.evaluate("window.biostress.state.plotMarker?.remove()")
    page.mouse.move(1, 1)  # off the map: no hover outline
    app.jump(lon, lat, 17)
    assert page.inner_text("#legend-level") == "Gebieden: straten"
    assert "Straten (straatsegmenten)" in page.inner_text("#legend-objects")
    hit = page.evaluate("""([lon, lat]) => { const m = window.biostress.state.map;
        return m.queryRenderedFeatures(m.project([lon, lat]), {layers: ['obj-fill-street_segments']})
          .map(f => f.properties.id); }""", [lon, lat])
    assert hit == [sid]
    drawn = page.evaluate("""() => new Set(window.biostress.state.map.queryRenderedFeatures(
        {layers: ['obj-fill-street_segments']}).map(f => f.properties.id)).size""")
    assert drawn >= 5
    step = min(4, max(0, math.floor(5 * float(row["green_share_mean"]))))
    page.click("#btn-legend-toggle")  # folded: in a small window the legend covers the centre of the map
    got = app.pixel(lon, lat)
    assert close(got, hex_rgb(RDYLGN[step])), (sid, row["green_share_mean"], got)
    page.click("#btn-legend-toggle")
    page.check("#cb-toggle")
    page.click("#btn-legend-toggle")
    app.idle()
    got = app.pixel(lon, lat)
    assert close(got, hex_rgb(OKABE_ITO[step])), (sid, row["green_share_mean"], got)
    page.click("#btn-legend-toggle")
    page.uncheck("#cb-toggle")
    page.click("#btn-legend-toggle")  # folded for the click too
    app.idle()

    # a click on the segment: the popup and the plot card show its values
    x, y = page.evaluate("""([lon, lat]) => { const m = window.biostress.state.map; const p = m.project([lon, lat]);
        const r = m.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""", [lon, lat])
    with page.expect_response(lambda r: "/api/plot" in r.url):
        page.mouse.click(x, y)
    page.click("#btn-legend-toggle")
    pop = page.locator(".maplibregl-popup .obj[data-object=street_segments]")
    assert pop.get_attribute("data-id") == str(sid)
    assert f"Straatsegment {sid}" in pop.inner_text()
    dd = pop.locator("dd")
    assert float(dd.get_attribute("data-value")) == pytest.approx(row["green_share_mean"], rel=1e-12)
    assert abs(pct(dd.inner_text()) - 100 * row["green_share_mean"]) <= 0.51
    sec = page.locator(f"#plot-card .objects-here .obj[data-object=street_segments][data-id='{sid}']")
    sec.wait_for()
    means = [c for c in row.index if c.endswith("_mean")]
    assert sec.locator("li").count() == len(means)
    for c in means:
        shown = sec.locator(f"li[data-mean={c.removesuffix('_mean')}]").get_attribute("data-value")
        if np.isfinite(row[c]):
            assert float(shown) == pytest.approx(row[c], rel=1e-12), c
        else:
            assert shown == "", c
    imp = sec.locator("li[data-mean=impervious_share] .v").inner_text()
    assert abs(pct(imp) - 100 * row["impervious_share_mean"]) <= 0.51
    # the same from the keyboard: Enter on the focused map opens the popup and card of the spot under the cross
    page.evaluate("window.biostress.state.popup?.remove()")
    app.jump(lon, lat, 17)
    page.focus(".maplibregl-canvas")
    with page.expect_response(lambda r: "/api/plot" in r.url):
        page.keyboard.press("Enter")
    assert page.get_attribute(".maplibregl-popup .obj[data-object=street_segments]", "data-id") == str(sid)
    page.locator(f"#plot-card .objects-here .obj[data-id='{sid}']").wait_for()
    if os.environ.get("BIOSTRESS_WEB_SCREENSHOTS"):  # more streets around the open popup for the docs
        app.jump(lon, lat, 16.2)
        app.shot("12_streets_nl.png")

    # managed objects: parks, woods and verges drawn on request, named in the legend
    page.evaluate("window.biostress.state.popup?.remove()")
    page.click("#tab-layers")
    page.check("#objects-toggle")
    names = page.inner_text("#legend-objects")
    assert "Bermen" in names and "Parken en plantsoenen" in names
    import pyogrio

    parks = gpd.read_file(gpkg, layer="parks") if "parks" in {n for n, _ in pyogrio.list_layers(gpkg)} else None
    if parks is not None and len(parks):
        park = parks.loc[parks.geometry.area.idxmax()]
        p = shapely.ops.polylabel(park.geometry, tolerance=0.5)
        plon, plat = TO_WGS.transform(p.x, p.y)
        app.jump(plon, plat, 15)
        assert page.inner_text("#legend-level") == "Gebieden: buurt"
        got_ids = page.evaluate("""([lon, lat]) => { const m = window.biostress.state.map;
            return m.queryRenderedFeatures(m.project([lon, lat]), {layers: ['obj-fill-parks']}).map(f => f.properties.id); }""",
                                [plon, plat])
        assert got_ids == [int(park["id"])]
        page.uncheck("#objects-toggle")
        assert page.evaluate("window.biostress.state.map.getLayoutProperty('obj-fill-parks', 'visibility')") == "none"
    else:
        page.uncheck("#objects-toggle")
    page.check("input[name=view][value=cells]")
    page.locator("#opacity").fill("80")


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


def _assert_wcag_aa(checks: dict) -> None:
    """Every text of ``checks`` ({name: {fg, bg, size px, weight}}) has WCAG 2.1 AA contrast: 4.5:1, or 3:1 for
    large text (>= 24 px, or >= 18.66 px bold; WCAG 2.1 SC 1.4.3)."""
    bad = {}
    for k, c in checks.items():
        large = c["size"] >= 24 or (c["size"] >= 18.66 and c["weight"] >= 700)
        ratio = contrast(c["fg"][:3], c["bg"][:3])
        if ratio < (3.0 if large else 4.5):
            bad[k] = round(ratio, 2)
    assert not bad, f"contrast below WCAG AA: {bad}"


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
    _assert_wcag_aa(checks)


# ---------------------------------------------------------------------------------------------------- editors
def test_categorical_legend_entries_carry_their_class_value(server, run_dir):
    """/api/layers: every entry of a class legend has the class code (`value`) that the raster holds; ramps have none.
    Expected codes from the stress-class table, the land-cover legend table and the run's own QGIS style."""
    import xml.etree.ElementTree as ET

    from biostress.landcover.legend import load_legend

    for lang in ("nl", "en"):
        lay = {x["id"]: x for x in api(server, f"/api/layers?lang={lang}")}
        classes = load_classes()
        assert [e["value"] for e in lay["stress_class"]["legend"]] == [c.code for c in classes]
        assert [e["value"] for e in lay["stress_class"]["legend_cb"]] == [c.code for c in classes]
        assert [(e["value"], e["colour"]) for e in lay["stress_class"]["legend"]] == [(c.code, c.colour) for c in classes]
        codes = [c.code for c in load_legend().classes]
        assert [e["value"] for e in lay["landcover"]["legend"]] == codes
        with rasterio.open(run_dir / "landcover.tif") as ds:
            present = {int(v) for v in np.unique(ds.read(1))} - ({int(ds.nodata)} if ds.nodata is not None else set())
        assert present <= set(codes)  # every code in the raster has its legend entry
        if "opportunity_best_measure" in lay:
            qml = ET.parse(run_dir / "opportunity_best_measure.qml").getroot()
            want = [int(round(float(e.get("value")))) for e in qml.iter("paletteEntry")]
            assert [e["value"] for e in lay["opportunity_best_measure"]["legend"]] == want
        assert all("value" not in e for e in lay["green_share"]["legend"])  # a ramp: five steps, no codes


class Editor(App):
    """A second browser context (its own sessionStorage) for the editor, shared by the editor tests in order."""

    def token(self) -> str | None:
        a = self.page.evaluate("sessionStorage.getItem('biostress.auth')")
        return json.loads(a)["token"] if a else None

    def login(self) -> None:
        """Log in through the dialog when not logged in yet (the first editor test checks this path in detail)."""
        p = self.page
        if p.is_visible("#user-box"):
            return
        p.click("#btn-login")
        p.fill("#login-user", EDITOR[0])
        p.fill("#login-password", EDITOR[1])
        with p.expect_response(lambda r: r.url.endswith("/api/auth/login")):
            p.click("#login-submit")
        p.wait_for_selector("#tab-editor:not([hidden])")

    def editor_tab(self) -> None:
        self.login()
        self.page.click("#tab-editor")
        self.page.wait_for_selector("#panel-editor:not([hidden])")


def new_app(browser, server, cls=App, init_script: str | None = None):
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True, locale="nl-NL")
    if init_script:
        ctx.add_init_script(init_script)
    page = ctx.new_page()
    a = cls(page, server)
    page.goto(server["url"] + "/")
    page.wait_for_selector("body[data-map-ready='1']", timeout=30000)
    a.idle()
    return ctx, a


@pytest.fixture(scope="module")
def editor_page(browser, server):
    ctx, a = new_app(browser, server, Editor)
    yield a
    ctx.close()


@pytest.fixture
def editor(editor_page):
    editor_page.errors.clear()
    p = editor_page.page
    p.evaluate("() => { const b = window.biostress; if (b.state.popup) b.state.popup.remove(); }")
    yield editor_page
    assert not editor_page.errors, f"JavaScript errors in the editor's page: {editor_page.errors}"


@pytest.fixture
def resident(browser, server):
    """Anyone: a separate browser context without a login."""
    ctx, a = new_app(browser, server)
    yield a
    assert not a.errors, f"JavaScript errors in the resident's page: {a.errors}"
    ctx.close()


def test_read_only_server_explains_that_nobody_can_log_in(browser, server):
    """A server without a data folder (writable.uploads and .plans false in /api/info) shows a short explanation
    instead of the log-in button."""
    ctx = browser.new_context(viewport=VIEWPORT, locale="nl-NL")
    page = ctx.new_page()

    def read_only(route):
        info = route.fetch().json()
        info["writable"] = {"proposals": True, "uploads": False, "plans": False}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(info))

    page.route(lambda url: url.endswith("/api/info"), read_only)
    try:
        page.goto(server["url"] + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=30000)
        assert page.is_visible("#readonly-note")
        assert "Alleen inzien" in page.inner_text("#readonly-note")
        assert page.is_hidden("#btn-login") and page.is_hidden("#tab-editor")
    finally:
        ctx.close()
    # the real server is writable: the log-in button is there and the note is not
    ctx, a = new_app(browser, server)
    try:
        assert a.page.is_visible("#btn-login") and a.page.is_hidden("#readonly-note")
    finally:
        ctx.close()


def test_editor_login_wrong_password_then_right(editor, server):
    """The dialog opens from the header, Esc closes it (focus back on the button); a wrong password shows the
    error and stores nothing; the right one (typed with the keyboard) logs in: name in the header, editor tab
    selected, a token in sessionStorage that the server accepts."""
    page = editor.page
    assert page.is_hidden("#tab-editor") and page.is_hidden("#user-box")
    page.click("#btn-login")
    assert page.evaluate("document.getElementById('login-dialog').open")
    assert page.evaluate("document.activeElement.id") == "login-user"
    page.keyboard.press("Escape")
    assert not page.evaluate("document.getElementById('login-dialog').open")
    assert page.evaluate("document.activeElement.id") == "btn-login"
    # wrong password
    page.keyboard.press("Enter")
    assert page.evaluate("document.getElementById('login-dialog').open")
    page.keyboard.type(EDITOR[0])
    page.keyboard.press("Tab")
    page.keyboard.type("not-the-password")
    with page.expect_response(lambda r: r.url.endswith("/api/auth/login")) as resp:
        page.keyboard.press("Enter")
    assert resp.value.status == 401
    page.wait_for_selector("#login-error:not([hidden])")
    assert "Onbekende gebruiker of verkeerd wachtwoord" in page.inner_text("#login-error")
    assert page.get_attribute("#login-error", "role") == "alert"
    assert editor.token() is None and page.is_hidden("#tab-editor")
    assert page.evaluate("document.activeElement.id") == "login-password"
    editor.shot("07_login_dialog_nl.png")
    # the right password
    page.keyboard.type(EDITOR[1])
    with page.expect_response(lambda r: r.url.endswith("/api/auth/login")) as resp:
        page.keyboard.press("Enter")
    assert resp.value.status == 200
    page.wait_for_selector("#tab-editor:not([hidden])")
    assert not page.evaluate("document.getElementById('login-dialog').open")
    assert EDITOR[0] in page.inner_text("#user-name")
    assert page.is_hidden("#btn-login") and page.is_visible("#btn-logout")
    assert page.get_attribute("#tab-editor", "aria-selected") == "true" and page.is_visible("#panel-editor")
    token = editor.token()
    assert token and api(server, "/api/auth/me", token) == {"user": EDITOR[0], "municipality": server["municipality"],
                                                            "editor": True}


def test_an_editor_of_another_municipality_can_change_nothing(browser, server):
    """Logging in works, but the panel says that this user edits another area and shows no editing tools."""
    ctx, a = new_app(browser, server)
    try:
        p = a.page
        p.click("#btn-login")
        p.fill("#login-user", OTHER_EDITOR[0])
        p.fill("#login-password", OTHER_EDITOR[1])
        p.click("#login-submit")
        p.wait_for_selector("#tab-editor:not([hidden])")
        assert p.is_visible("#editor-warning") and server["municipality"] in p.inner_text("#editor-warning")
        assert p.is_hidden("#editor-sections")
        assert not a.errors
    finally:
        ctx.close()


def test_a_stale_token_is_dropped_at_start(browser, server):
    """A token the server no longer accepts (here: a forged one) is checked at start; the app logs out and says so."""
    forged = json.dumps({"token": "eyJzdWIiOiJhbm5hIn0.forged", "user": EDITOR[0], "municipality": "GM0505",
                         "editor": True, "expires": int(time.time()) + 3600})
    ctx, a = new_app(browser, server, init_script=f"sessionStorage.setItem('biostress.auth', {json.dumps(forged)})")
    try:
        p = a.page
        p.wait_for_selector("#btn-login:not([hidden])")
        assert p.is_hidden("#tab-editor") and p.is_hidden("#user-box")
        assert p.evaluate("sessionStorage.getItem('biostress.auth')") is None
        assert "opnieuw in" in p.inner_text("#toast")
    finally:
        ctx.close()


def test_editor_uploads_files_and_sees_their_checks_and_a_refusal(editor, server, tmp_path):
    """A GeoJSON and a GeoPackage made here are accepted and listed with the feature count and CRS written; a text
    file named .gpkg is refused with the API's own error text, and nothing of it is kept."""
    page = editor.page
    editor.editor_tab()
    rng = np.random.default_rng(7)
    xs = rng.uniform(BBOX[0] + 100, BBOX[2] - 100, 7)
    ys = rng.uniform(BBOX[1] + 100, BBOX[3] - 100, 7)
    trees = gpd.GeoDataFrame({"soort": [f"boom {i}" for i in range(7)], "kroon_m": rng.uniform(2, 9, 7)},
                             geometry=gpd.points_from_xy(xs, ys), crs="EPSG:28992").to_crs("EPSG:4326")
    gj = tmp_path / "bomen.geojson"
    trees.to_file(gj, driver="GeoJSON")
    parcels = gpd.GeoDataFrame({"eigenaar": ["gemeente", "school", "woningcorporatie"]},
                               geometry=[shapely.box(BBOX[0] + 100 * i, BBOX[1], BBOX[0] + 100 * i + 80, BBOX[1] + 80)
                                         for i in range(3)], crs="EPSG:28992")
    gp = tmp_path / "percelen.gpkg"
    parcels.to_file(gp, driver="GPKG")
    for path, n, geom, crs in ((gj, len(trees), "Point", "EPSG:4326"), (gp, len(parcels), "Polygon", "EPSG:28992")):
        page.set_input_files("#upload-file", str(path))
        with page.expect_response(lambda r: "/api/uploads?" in r.url and r.request.method == "POST") as resp:
            page.click("#upload-submit")
        assert resp.value.status == 201, resp.value.text()
        row = f"#upload-list li[data-name='{path.name}']"
        page.wait_for_selector(row)
        assert page.inner_text(f"{row} .upload-content") == f"{n} objecten ({geom})"
        assert crs in page.inner_text(f"{row} .upload-checks")
        assert "Geaccepteerd" in page.inner_text(row)
        assert "geaccepteerd" in page.inner_text("#upload-msg")
    # what the server stored: the same bytes
    folder = server["data"] / "uploads" / server["municipality"]
    stored = {p.name.split("_", 1)[1]: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*_*")}
    assert stored == {gj.name: hashlib.sha256(gj.read_bytes()).hexdigest(),
                      gp.name: hashlib.sha256(gp.read_bytes()).hexdigest()}
    listed = api(server, "/api/uploads", editor.token())
    assert sorted((u["name"], u["features"]) for u in listed) == [(gj.name, 7), (gp.name, 3)]
    # a disguised file
    fake = tmp_path / "eigendom.gpkg"
    fake.write_text("Dit is geen GeoPackage maar gewone tekst.\n" * 20)
    page.set_input_files("#upload-file", str(fake))
    with page.expect_response(lambda r: "/api/uploads?" in r.url and r.request.method == "POST") as resp:
        page.click("#upload-submit")
    assert resp.value.status == 400
    # the API's error for these bytes, asked over plain HTTP (the browser may no longer hold the answer's body)
    status, err, _ = http_status(server, f"/api/uploads?name={fake.name}", "POST", fake.read_bytes(),
                                 {"Authorization": f"Bearer {editor.token()}"})
    assert status == 400 and "gpkg" in err["error"]
    page.wait_for_selector("#upload-msg.msg-err")
    shown = page.inner_text("#upload-msg")
    assert err["error"] in shown and fake.name in shown and "geweigerd" in shown
    assert err["error"] in page.inner_text(f"#upload-list li.rejected[data-name='{fake.name}'] .upload-error")
    assert not any(p.name.endswith(fake.name) for p in folder.iterdir())
    assert len(api(server, "/api/uploads", editor.token())) == 2
    page.evaluate("document.getElementById('upload-crs').closest('.field').scrollIntoView({block: 'start'})")
    editor.shot("08_editor_uploads_nl.png")


def test_resident_proposal_is_moderated_and_shown_on_the_public_map(editor, resident, server, run_dir):
    """A resident (no login) reports an observation from the plot card; the editor sees it pending with the contact,
    approves it; the server's SQLite file and the public API say approved (without the contact), and a fresh
    anonymous page draws it as a marker of the public layer, with a popup and a legend entry."""
    page = resident.page
    lon, lat = built_up_places(run_dir, 5)[-1]
    page.evaluate("([lon, lat]) => window.biostress.loadPlot({lng: lon, lat: lat})", [lon, lat])
    page.wait_for_selector("#propose summary")
    page.click("#propose summary")
    page.check("input[name=propose-kind][value=observation]")
    page.fill("#propose-species", "egel")
    text = "Egel gezien onder de heg bij het speeltuintje, ’s avonds rond tien uur."
    page.fill("#propose-text", text)
    page.fill("#propose-contact", "bewoner@example.org")
    with page.expect_response(lambda r: r.url.endswith("/api/proposals") and r.request.method == "POST") as resp:
        page.click("#propose-submit")
    pid = resp.value.json()["id"]
    assert pid not in [p["id"] for p in api(server, "/api/proposals")]  # pending: not public
    # another resident proposes a measure nearby (plain HTTP), so that the editor's list holds more than one
    lon2, lat2 = lon + 0.0016, lat - 0.0007  # about 130 m east-south-east
    status, other, _ = http_status(server, "/api/proposals", "POST", json.dumps(
        {"kind": "measure", "measure": "facade_garden", "x": lon2, "y": lat2,
         "text": "Hier is ruimte voor geveltuintjes langs de hele gevelwand."}).encode(), {"Content-Type": "application/json"})
    assert status == 201
    # the editor: pending, with the contact
    ed = editor.page
    editor.editor_tab()
    with ed.expect_response(lambda r: "/api/proposals?all=1" in r.url):
        ed.click("#moderation-refresh")
    ed.select_option("#moderation-filter", "pending")
    item = f"#moderation-list li[data-id='{pid}']"
    ed.wait_for_selector(item)
    assert ed.get_attribute(item, "data-status") == "pending"
    got = ed.inner_text(item)
    assert text in got and "bewoner@example.org" in got and "Waarneming: egel" in got and "In behandeling" in got
    assert ed.locator("#moderation-list > li").count() == len(
        [p for p in api(server, "/api/proposals?all=1", editor.token()) if p["status"] == "pending"])
    ed.select_option("#moderation-filter", "all")
    assert "Voorgestelde maatregel: Geveltuin" in ed.inner_text(f"#moderation-list li[data-id='{other['id']}']")
    ed.evaluate("document.getElementById('moderation-title').scrollIntoView({block: 'start'})")
    editor.shot("09_moderation_nl.png")
    # show on map: the map centres on the contribution and a popup tells what it is
    ed.click(f"{item} button[data-action=show]")
    centre = ed.evaluate("(() => { const c = window.biostress.state.map.getCenter(); return [c.lng, c.lat]; })()")
    np.testing.assert_allclose(centre, [lon, lat], atol=1e-6)
    assert text in ed.inner_text(".maplibregl-popup")
    # approve
    with ed.expect_response(lambda r: f"/api/proposals/{pid}/moderate" in r.url) as mod:
        ed.click(f"{item} button[data-action=approved]")
    assert mod.value.status == 200
    ed.select_option("#moderation-filter", "approved")
    ed.wait_for_selector(f"#moderation-list li[data-id='{pid}'][data-status=approved]")
    with sqlite3.connect(server["data"] / "proposals.sqlite") as db:
        row = db.execute("SELECT status, moderated_by, kind, species FROM proposals WHERE id = ?", (pid,)).fetchone()
    assert row == ("approved", EDITOR[0], "observation", "egel")
    public = {p["id"]: p for p in api(server, "/api/proposals")}
    assert pid in public and public[pid]["text"] == text and "contact" not in public[pid]
    assert other["id"] not in public
    # the measure as well (the public layer then has both kinds of marker)
    ed.select_option("#moderation-filter", "all")
    with ed.expect_response(lambda r: f"/api/proposals/{other['id']}/moderate" in r.url):
        ed.click(f"#moderation-list li[data-id='{other['id']}'] button[data-action=approved]")
    ed.wait_for_selector(f"#moderation-list li[data-id='{other['id']}'][data-status=approved]")
    assert {pid, other["id"]} <= {p["id"] for p in api(server, "/api/proposals")}
    # anyone, on a fresh page: the public layer holds it
    page.reload()
    page.wait_for_selector("body[data-map-ready='1']", timeout=30000)
    page.wait_for_function(f"[{pid}, {other['id']}].every(i => window.biostress.state.proposalsPublic.some(p => p.id === i))")
    assert page.is_visible("#legend-proposals")
    assert "Waarneming" in page.inner_text("#legend-proposals")
    page.click("#btn-legend-toggle")  # fold the legend: in the small test window it covers the map's centre
    resident.jump(lon, lat, 17)
    hit = page.evaluate("""([lon, lat]) => { const m = window.biostress.state.map; const p = m.project([lon, lat]);
        return m.queryRenderedFeatures([[p.x - 3, p.y - 3], [p.x + 3, p.y + 3]], {layers: ['proposals']})
                .map(f => f.properties.id); }""", [lon, lat])
    assert pid in hit
    assert close(resident.pixel(lon, lat, half=1), (255, 255, 255), tol=12)  # an observation: white dot, purple ring
    x, y = page.evaluate("""([lon, lat]) => { const m = window.biostress.state.map; const p = m.project([lon, lat]);
        const r = m.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""", [lon, lat])
    page.mouse.click(x, y)
    page.wait_for_selector(f".maplibregl-popup [data-proposal='{pid}']")
    assert text in page.inner_text(".maplibregl-popup") and "bewoner@example.org" not in page.content()
    page.click("#btn-legend-toggle")
    if os.environ.get("BIOSTRESS_WEB_SCREENSHOTS"):  # with some surroundings for the docs
        resident.jump(lon + 0.0004, lat - 0.00035, 15.8)
    resident.shot("10_proposal_on_map_nl.png")
    # the layers panel lists it too (keyboard and screen-reader users)
    page.click("#tab-layers")
    page.click("#public-proposals > summary")
    assert text in page.inner_text(f"#public-proposals-list li[data-id='{pid}']")


def test_editor_exports_proposals_as_csv_and_geojson(editor, server, tmp_path):
    """The export buttons fetch with the token and save a file; its rows are the server's SQLite rows."""
    page = editor.page
    editor.editor_tab()
    with sqlite3.connect(server["data"] / "proposals.sqlite") as db:
        want = db.execute("SELECT id, kind, status, text, contact, lon, lat FROM proposals ORDER BY id").fetchall()
    assert want, "no proposals to export (the tests above send some)"
    with page.expect_download() as dl:
        page.click("#export-csv")
    assert dl.value.suggested_filename == "proposals.csv"
    path = tmp_path / "proposals.csv"
    dl.value.save_as(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["id"]), r["kind"], r["status"], r["text"], r["contact"] or None) for r in rows] == \
        [w[:5] for w in want]
    with page.expect_download() as dl:
        page.click("#export-geojson")
    path = tmp_path / "proposals.geojson"
    dl.value.save_as(path)
    fc = json.loads(path.read_text(encoding="utf-8"))
    assert [(f["id"], f["properties"]["status"], *f["geometry"]["coordinates"]) for f in fc["features"]] == \
        [(w[0], w[2], w[5], w[6]) for w in want]
    assert "proposals.geojson" in page.inner_text("#moderation-msg")


def test_editor_saves_a_scenario_as_a_plan_that_anyone_can_open(editor, resident, server, run_dir):
    """The editor computes a real scenario (three corners added at the map centre) and saves it with a name; the
    plan file on the server holds that measure, polygon and result; a resident opens it from the list and sees the
    area and the result table, without the save form."""
    page = editor.page
    editor.login()
    lon, lat, measure = fitting_place(run_dir, server)
    page.click("#tab-scenario")
    page.select_option("#scenario-measure", measure)
    page.click("#btn-draw")
    corners = [(lon - 0.0006, lat - 0.0004), (lon + 0.0006, lat - 0.0004), (lon, lat + 0.0005)]
    for c in corners:
        editor.jump(*c, 16, wait_tiles=False)
        page.click("#btn-add-centre")
    with page.expect_response(lambda r: "/api/scenario" in r.url, timeout=90000) as resp:
        page.click("#btn-finish")
    assert resp.value.status == 200
    posted = json.loads(resp.value.request.post_data)
    result = resp.value.json()
    page.wait_for_selector("#plan-save:not([hidden]) #plan-name")
    name = "Proef in het centrum"
    page.fill("#plan-name", name)
    with page.expect_response(lambda r: r.url.endswith("/api/plans") and r.request.method == "POST") as saved:
        page.click("#plan-save-btn")
    assert saved.value.status == 201
    plan_id = saved.value.json()["id"]
    page.wait_for_selector(f"#plan-list li[data-plan='{plan_id}']")
    assert name in page.inner_text("#plan-msg")
    rec = json.loads((server["data"] / "plans" / f"{plan_id}.json").read_text())
    assert rec["name"] == name and rec["author"] == EDITOR[0] and rec["municipality"] == server["municipality"]
    assert rec["plan"]["measure"] == measure == posted["measure"]
    assert rec["plan"]["polygon"] == posted["polygon"]
    np.testing.assert_allclose(posted["polygon"]["coordinates"][0][:3], corners, atol=1e-7)
    assert rec["plan"]["result"]["totals"] == result["totals"]
    # anyone opens it
    rp = resident.page
    rp.click("#tab-scenario")
    rp.wait_for_selector(f"#plan-list li[data-plan='{plan_id}']")
    with rp.expect_response(lambda r: f"/api/plans/{plan_id}" in r.url):
        rp.click(f"#plan-list li[data-plan='{plan_id}'] button")
    rp.wait_for_selector("#scenario-result .plan-banner")
    assert name in rp.inner_text("#scenario-result .plan-banner")
    changed = [x for x in result["totals"] if x["change"] is not None and abs(x["change"]) > 1e-9]
    assert rp.locator("#scenario-result tbody tr").count() == len(changed)
    np.testing.assert_allclose(rp.evaluate("window.biostress.state.vertices"), corners, atol=1e-7)
    assert rp.is_hidden("#plan-save")
    resident.shot("11_saved_plan_nl.png")
    page.evaluate("window.biostress.clearScenario()")


def test_logout_removes_the_editor_panel_and_writes_need_a_token(editor, server):
    """After logging out the editor tab and panel are gone, the token is forgotten, and writing without a token is
    answered 401 (from the page and over plain HTTP)."""
    page = editor.page
    editor.editor_tab()
    assert editor.token()
    page.click("#btn-logout")
    page.wait_for_selector("#btn-login:not([hidden])")
    assert page.is_hidden("#tab-editor") and page.is_hidden("#panel-editor") and page.is_hidden("#user-box")
    assert page.get_attribute("#tab-layers", "aria-selected") == "true"
    assert editor.token() is None
    assert page.evaluate("document.activeElement.id") == "btn-login"
    statuses = page.evaluate("""async () => {
        const a = await fetch('/api/proposals/1/moderate', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                            body: JSON.stringify({status: 'rejected'})});
        const b = await fetch('/api/uploads?name=x.geojson', {method: 'POST', body: '{}'});
        const c = await fetch('/api/proposals.csv');
        return [a.status, b.status, c.status]; }""")
    assert statuses == [401, 401, 401]
    status, body, headers = http_status(server, "/api/plans", "POST", b'{"name": "x"}',
                                        {"Content-Type": "application/json"})
    assert status == 401 and body["error"] and headers.get("www-authenticate", headers.get("WWW-Authenticate")) == "Bearer"
    with sqlite3.connect(server["data"] / "proposals.sqlite") as db:
        row = db.execute("SELECT status FROM proposals WHERE id = 1").fetchone()
    assert row is None or row[0] != "rejected"


def test_every_text_is_in_dutch_and_english(app):
    """i18n.js has the same keys in both languages, and every data-i18n key of the page exists."""
    page = app.page
    keys = page.evaluate("[Object.keys(window.BIOSTRESS_I18N.nl).sort(), Object.keys(window.BIOSTRESS_I18N.en).sort()]")
    assert keys[0] == keys[1]
    used = page.evaluate("""[...document.querySelectorAll('[data-i18n], [data-i18n-placeholder], [data-i18n-aria-label]')]
        .flatMap(e => [e.dataset.i18n, e.dataset.i18nPlaceholder, e.dataset.i18nAriaLabel]).filter(Boolean)""")
    assert set(used) <= set(keys[0]), set(used) - set(keys[0])


def test_editor_panel_text_contrast_meets_wcag_aa(editor, server):
    """The editor's texts (top bar, panel, upload list, status badges, moderation items) have >= 4.5:1 (3:1 large)."""
    page = editor.page
    status, _, _ = http_status(server, "/api/proposals", "POST", json.dumps(
        {"kind": "observation", "species": "gierzwaluw", "x": server_centre(server)[0], "y": server_centre(server)[1],
         "text": "Gierzwaluwen onder de dakrand."}).encode(), {"Content-Type": "application/json"})
    assert status == 201
    editor.editor_tab()
    with page.expect_response(lambda r: "/api/proposals?all=1" in r.url):
        page.click("#moderation-refresh")
    page.select_option("#moderation-filter", "all")
    page.wait_for_selector("#moderation-list .badge.status-pending")
    checks = {}
    for sel in ("#user-name", "#btn-logout", "#tab-editor", "#panel-editor h2", "#editor-who", ".editor-card h3",
                ".editor-card p.muted", ".editor-card .help", ".file-row label.btn", ".file-name", "#upload-submit",
                "#upload-list li > *", ".upload-name", ".upload-checks", "#moderation-list .badge", ".mod-item h4",
                ".mod-text", ".mod-item .small", ".mod-item .btn-primary", ".mod-item .btn:not(.btn-primary)",
                "#moderation-filter"):
        for i, c in enumerate(page.evaluate(COLOURS_JS, sel)):
            checks[f"{sel} #{i}"] = c
    assert len(checks) >= 20
    _assert_wcag_aa(checks)


def server_centre(server) -> tuple[float, float]:
    return tuple(api(server, "/api/info")["center"])


def test_editor_panel_switches_language(editor):
    """With an editor logged in, the language button also turns the editor's panel and header into English."""
    page = editor.page
    editor.editor_tab()
    page.click("#btn-lang")
    page.wait_for_function("document.documentElement.lang === 'en'")
    try:
        assert page.inner_text("#tab-editor") == "Editor"
        assert page.inner_text("#user-name") == f"Logged in as {EDITOR[0]}"
        assert page.inner_text("#btn-logout") == "Log out"
        assert page.inner_text("#uploads-title") == "Upload data"
        assert page.eval_on_selector("#moderation-filter option[value=all]", "o => o.textContent").startswith("All (")
        statuses = set(page.eval_on_selector_all("#moderation-list .badge", "els => els.map(e => e.textContent)"))
        assert statuses and statuses <= {"Pending", "Approved", "Rejected"}
    finally:
        page.click("#btn-lang")
        page.wait_for_function("document.documentElement.lang === 'nl'")


def test_search_a_parcel_by_its_id_and_read_its_card(app, run_dir):
    """A parcel id typed any way finds the parcel (offline); its card names the parcel and its area."""
    if os.environ.get("BIOSTRESS_WEB_TEST_RUN"):
        pytest.skip("the given run has no test parcels")
    page = app.page
    page.fill("#search-input", "ddt00-k-1234")
    with page.expect_response(lambda r: "/api/geocode" in r.url):
        page.press("#search-input", "Enter")
    page.wait_for_selector("#search-results [role=option][aria-selected=true]")
    first = page.inner_text("#search-results [role=option][aria-selected=true]")
    assert "DDT00 K 1234" in first and "perceel" in first.lower()
    with page.expect_response(lambda r: "/api/plot" in r.url) as plot:
        page.press("#search-input", "Enter")
    assert plot.value.json()["parcel"] == {"id": "DDT00 K 1234", "area_m2": 1200.0}
    page.wait_for_selector("#plot-card dd.parcel")
    assert page.inner_text("#plot-card dd.parcel") == "DDT00 K 1234 (1.200 m²)"
