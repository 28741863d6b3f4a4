"""``biostress serve`` as a user starts it: the real command in its own process, with two uvicorn workers, over
real HTTP. Checks that the caches are prepared before it listens (and reused at the next start), that both
workers answer with the same card and tile as an app created in the test process, and bad options.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import mercantile
import numpy as np
import pytest
from PIL import Image

from test_web_api import run_dir  # noqa: F401  (the module fixture: a real run on 1 km x 1 km of Dordrecht)

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 10.0) -> tuple[int, bytes, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def _start(run: Path, data: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "biostress.cli", "serve", str(run), "--port", str(port),
                             "--data", str(data), *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        if proc.poll() is not None:
            raise AssertionError(f"serve stopped: {proc.stdout.read()}")
        try:
            if _get(base + "/api/info", 2)[0] == 200:
                return proc, base
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("serve did not answer within 2 minutes")


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def test_serve_with_two_workers_prepares_its_caches(run_dir, tmp_path):  # noqa: F811
    from fastapi.testclient import TestClient

    from biostress.web.app import create_app

    data = tmp_path / "data"
    proc, base = _start(run_dir, data, "--workers", "2", "--no-precompute")
    try:
        cache = data / "cache"
        layers = list(cache.glob("layers-*.f32"))
        assert len(layers) == 1 and not list(cache.glob("*.tmp"))  # written before the server listened
        status, body, _ = _get(base + "/api/info")
        info = json.loads(body)
        lon, lat = info["center"]
        ref = TestClient(create_app(run_dir, geocoder_url=None, warm=False, cache=False))
        want = ref.get(f"/api/plot?x={lon}&y={lat}&measures=false").json()
        for _ in range(12):  # several connections: both workers answer alike
            status, body, _ = _get(base + f"/api/plot?x={lon}&y={lat}&measures=false")
            assert status == 200
            card = json.loads(body)
            assert card["values"] == want["values"] and card["stress_class"] == want["stress_class"]
            assert card["buurt"] == want["buurt"]
        t = mercantile.tile(lon, lat, 16)
        status, png, headers = _get(base + f"/tiles/landcover/16/{t.x}/{t.y}.png")
        assert status == 200 and headers["Content-Type"] == "image/png" and png[:8] == b"\x89PNG\r\n\x1a\n"
        got = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
        gdal = np.asarray(Image.open(io.BytesIO(ref.get(f"/tiles/landcover/16/{t.x}/{t.y}.png").content)).convert("RGBA"))
        drawn = (gdal[..., 3] > 0) | (got[..., 3] > 0)
        assert drawn.sum() > 10_000 and (got == gdal).all(axis=-1)[drawn].mean() > 0.99  # as GDAL warps it
        assert headers.get("X-Content-Type-Options") == "nosniff"
    finally:
        out = _stop(proc)
    assert "caching" in out and "raster layers" in out
    # the next start reads the cache back instead of writing it again
    mtime = layers[0].stat().st_mtime_ns
    proc, base = _start(run_dir, data, "--no-precompute")
    try:
        assert _get(base + "/api/info")[0] == 200
    finally:
        out = _stop(proc)
    assert layers[0].stat().st_mtime_ns == mtime and "caching" not in out


def test_serve_rejects_bad_options(run_dir, tmp_path):  # noqa: F811
    r = subprocess.run([sys.executable, "-m", "biostress.cli", "serve", str(run_dir), "--workers", "0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "workers" in (r.stdout + r.stderr)
    r = subprocess.run([sys.executable, "-m", "biostress.cli", "serve", str(tmp_path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and "run folder" in (r.stdout + r.stderr)


def test_short_way_answers_as_the_routes(run_dir, tmp_path):  # noqa: F811
    """biostress.web.fastpath answers plot cards and tiles with the same bytes and headers as the FastAPI routes
    (reached here with a repeated parameter, which the short way leaves to the app), and leaves every request it
    does not fully understand to the app (same error answers)."""
    from fastapi.testclient import TestClient

    from biostress.web.app import create_app

    app = create_app(run_dir, data_dir=tmp_path, geocoder_url=None, warm=False)
    app.state.plots.warm()
    app.state.plots.precompute(tmp_path / "cache")
    client = TestClient(app)
    info = client.get("/api/info").json()
    lon, lat = info["center"]
    hits = app.state.fast_hits
    for q in (f"x={lon}&y={lat}", f"x={lon}&y={lat}&lang=en&measures=false", f"x={lon}&y={lat}&measures=0",
              f"x={lon}&y={lat}&compact=true", f"x={lon}&y={lat}&lang=en&compact=1&measures=false"):
        before = hits["plot"]
        fast = client.get(f"/api/plot?{q}")
        assert hits["plot"] == before + 1  # answered by the short way
        slow = client.get(f"/api/plot?{q}&crs=EPSG:4326&crs=EPSG:4326")  # repeated: left to the route
        assert hits["plot"] == before + 1
        assert fast.status_code == slow.status_code == 200
        assert fast.content == slow.content and fast.headers["content-type"] == slow.headers["content-type"]
        assert fast.headers["x-content-type-options"] == "nosniff"
    t = mercantile.tile(lon, lat, 16)
    for suffix in ("", "?cb=1"):
        before = hits["tile"]
        fast = client.get(f"/tiles/stress_class/16/{t.x}/{t.y}.png{suffix}")
        assert hits["tile"] == before + 1
        slow = client.get(f"/tiles/stress_class/16/{t.x}/{t.y}.png?cb={int(bool(suffix))}&cb={int(bool(suffix))}")
        assert hits["tile"] == before + 1
        assert fast.content == slow.content and fast.headers["cache-control"] == slow.headers["cache-control"]
    # what the short way does not take, the app answers as always
    before = dict(hits)
    assert client.get("/api/plot?x=5.9&y=52.9").status_code == 404  # outside the area
    assert client.get("/api/plot?x=abc&y=2").status_code == 422
    assert client.get("/api/plot?x=1_000&y=2").status_code != 200
    assert client.get(f"/api/plot?x={lon}&y={lat}&lang=de").status_code == 422
    assert client.get(f"/api/plot?x={lon}&y={lat}&crs=EPSG:3035").status_code == 400
    assert client.get(f"/api/plot?x={lon}&y={lat}&compact=maybe").status_code == 422
    assert client.get("/tiles/stress_class/3/8/0.png").status_code == 404
    assert client.get("/tiles/no_such_layer/3/0/0.png").status_code == 404
    assert client.get(f"/tiles/stress_class/16/{t.x}/{t.y}.png?cb=maybe").status_code == 422
    assert hits == before


def test_card_values_take_the_legend_class_of_the_style(run_dir, tmp_path):  # noqa: F811
    """The card's value items (built from a per-language plan) carry the label and colour that the layer's
    Style gives the same value (Style.label_of / colour_of), and the raster's value, for many cells."""
    import math

    import rasterio

    from biostress.web.app import create_app

    app = create_app(run_dir, data_dir=tmp_path, geocoder_url=None, warm=False)
    state, plots = app.state.run, app.state.plots
    g = state.grid
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(40):
        r, c = int(rng.integers(0, g.height)), int(rng.integers(0, g.width))
        for lang in ("nl", "en"):
            items = dict(plots._items(state.stack.array[plots._stack_rows(state.stack), r, c].tolist(), lang))
            for lid in ("green_share", "landcover", "stress_class", "habitat_quality", "heat_mitigation"):
                item = items[lid]
                with rasterio.open(run_dir / f"{lid}.tif") as ds:
                    v = float(ds.read(1, window=((r, r + 1), (c, c + 1)))[0, 0])
                    nodata = ds.nodata
                if math.isnan(v) or (nodata is not None and v == nodata):
                    assert item["value"] is None and item["colour"] is None
                    continue
                style = state.layers[lid].style
                assert item["value"] == pytest.approx(v)
                assert item["class_label"] == style.label_of(v, lang)
                assert item["colour"] == style.colour_of(v)
                checked += 1
    assert checked > 100


def test_units_from_the_cell_raster_equal_the_polygons(run_dir):  # noqa: F811
    """Units.at answers from the rasterised units where a cell is sure; for random points and for points just
    beside every unit boundary it gives the unit that geopandas finds with a point-in-polygon test."""
    import geopandas as gpd
    import shapely

    from biostress.web.state import load_state

    state = load_state(run_dir)
    g = state.grid
    u = state.units["buurt"]
    u.index_cells(g)
    assert u._cells is not None and u._cells[2].mean() > 0.5  # most cells are answered from the raster
    frame = gpd.read_file(run_dir / "biostress.gpkg", layer="units_buurt").to_crs(g.crs)
    rng = np.random.default_rng(5)
    xs = g.x0 + rng.uniform(0, g.width * g.cell, 3000)
    ys = g.y1 - rng.uniform(0, g.height * g.cell, 3000)
    # and points 0.5 m on either side of the boundaries
    lines = shapely.get_parts(shapely.boundary(frame.geometry.values))
    pts = shapely.get_coordinates(shapely.segmentize(lines, 7.0))
    off = rng.choice([-0.5, 0.5], size=pts.shape)
    xs = np.concatenate([xs, pts[:, 0] + off[:, 0]])
    ys = np.concatenate([ys, pts[:, 1] + off[:, 1]])
    inside = (xs > g.x0) & (xs < g.x0 + g.width * g.cell) & (ys < g.y1) & (ys > g.y1 - g.height * g.cell)
    xs, ys = xs[inside], ys[inside]
    points = gpd.GeoSeries(shapely.points(xs, ys), crs=g.crs)
    hits = gpd.sjoin(gpd.GeoDataFrame(geometry=points), frame[["code", "geometry"]], predicate="intersects")
    first = hits.groupby(level=0)["index_right"].min()  # overlaps: the first unit (the frames share the order)
    assert list(frame["code"].astype(str)) == list(u.frame["code"])
    for i in range(len(xs)):
        got = u.at(float(xs[i]), float(ys[i]))
        want = first.get(i)
        assert got == (None if want is None else int(want)), i
