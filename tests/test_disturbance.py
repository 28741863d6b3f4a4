"""Disturbance proxies: noise and light decay checked against hand-computed values at known
distances from a single source cell and a single source line, chunked == in-memory, tables."""

from __future__ import annotations

import math
from pathlib import Path

import dask.array as da
import geopandas as gpd
import numpy as np
import pytest
import shapely

from biostress.errors import ConfigError
from biostress.grid import Grid
from biostress.indicators import disturbance as dist
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend

LEGEND = load_legend()
C = 10.0  # cell size (m)


def make_ctx(codes: np.ndarray, grid: Grid | None = None, chunks: int | None = None, **kw) -> IndicatorContext:
    """One-hot fractions from a grid of legend keys ('' = outside the area)."""
    grid = grid or Grid("EPSG:28992", 100000.0, 400000.0 + codes.shape[0] * C, C, codes.shape[1], codes.shape[0])
    fr = np.zeros((len(LEGEND.keys), *codes.shape), dtype=np.float32)
    dom = np.full(codes.shape, 255, dtype=np.uint8)
    for i, key in enumerate(LEGEND.keys):
        fr[i] = codes == key
        dom[codes == key] = LEGEND.by_key(key).code
    fr[:, codes == ""] = np.nan
    inside = (codes != "").astype(np.float32)
    if chunks:
        fr = da.from_array(fr, chunks=(-1, chunks, chunks))
        dom, inside = da.from_array(dom, chunks=chunks), da.from_array(inside, chunks=chunks)
    return IndicatorContext(grid, LEGEND, fr, dom, inside, **kw)


# ------------------------------------------------------------------ noise

def test_single_cell_source_point_decay():
    """One cell holding 10 m of road of level 70 dB at 10 m: e = 10**7 * 10 * 10/10 = 1e8 and
    E(r) = e * c / (pi r**2), so L(r) = 80 + 10 log10(10 / (pi r**2)): 6 dB per doubling."""
    em = np.zeros((81, 81))
    em[40, 40] = dist.emission_term(10.0, C, 70.0, 10.0)
    assert em[40, 40] == pytest.approx(1e8)
    lv = dist.level_db(dist.noise_energy(em, C, max_distance_m=300.0, min_distance_m=5.0), 0.0)
    for (dy, dx), r in (((0, 3), 30.0), ((0, 10), 100.0), ((3, 4), 50.0), ((0, 20), 200.0)):
        expected = 80 + 10 * math.log10(10 / (math.pi * r * r))
        assert lv[40 + dy, 40 + dx] == pytest.approx(expected, abs=1e-6)
    assert lv[40, 50] - lv[40, 45] == pytest.approx(-20 * math.log10(2), abs=1e-6)
    # the cell itself: distance held at r_min = 5 m
    assert lv[40, 40] == pytest.approx(80 + 10 * math.log10(10 / (math.pi * 25)), abs=1e-6)
    # beyond R_max (300 m) nothing arrives: 31 cells = 310 m
    assert dist.noise_energy(em, C, max_distance_m=300.0, min_distance_m=5.0)[40, 71] == pytest.approx(0, abs=1e-3)


def finite_line_level(level: float, d: float, r_max: float, x1: float = -math.inf, x2: float = math.inf) -> float:
    """Independent reference: an incoherent line source of level ``level`` at 10 m running from
    ``x1`` to ``x2`` (along the line, receiver at 0 and distance ``d``), truncated where points are
    farther than ``r_max`` from the receiver (|x| <= X = sqrt(r_max^2 - d^2)):
    E = 10**(L/10) * 10 / pi * integral dx / (d^2 + x^2) = 10**(L/10) * 10 / pi * (atan(b/d) - atan(a/d)) / d."""
    x = math.sqrt(r_max * r_max - d * d)
    a, b = max(x1, -x), min(x2, x)
    return level + 10 * math.log10(10.0 / math.pi * (math.atan(b / d) - math.atan(a / d)) / d)


def test_long_line_source_three_db_per_doubling():
    h, w = 161, 401
    em = np.zeros((h, w))
    em[80, :] = dist.emission_term(C, C, 70.0, 10.0)  # one cell of road per cell along row 80
    lv = dist.level_db(dist.noise_energy(em, C, max_distance_m=1000.0, min_distance_m=5.0), 0.0)
    for k in (1, 2, 4, 8, 16, 32, 64):
        assert lv[80 + k, 200] == pytest.approx(finite_line_level(70.0, k * C, 1000.0), abs=0.03), k
    # close to the road truncation hardly matters: L = 70 - 10 log10(d / 10), about 3 dB per doubling
    assert lv[80 + 1, 200] == pytest.approx(70.0, abs=0.05)
    assert lv[80 + 2, 200] - lv[80 + 4, 200] == pytest.approx(10 * math.log10(2), abs=0.1)


def test_floor_and_no_sources():
    lv = dist.level_db(dist.noise_energy(np.zeros((20, 20)), C, max_distance_m=100.0, min_distance_m=5.0), 40.0)
    assert (lv == 40.0).all()


def test_road_length_grid_counts_metres_per_cell():
    grid = Grid("EPSG:28992", 100000.0, 400100.0, C, 10, 10)
    lines = gpd.GeoDataFrame({"class": ["primary", "Minor"]}, crs="EPSG:28992",
                             geometry=[shapely.LineString([(100000, 400055), (100100, 400055)]),
                                       shapely.LineString([(100003, 400003), (100063, 400083)])])
    out = dist.road_length_grid(lines, grid, "class")
    assert set(out) == {"primary", "minor"}
    np.testing.assert_allclose(out["primary"][4], np.full(10, 10.0))  # row 4 covers y 400050-400060
    assert out["primary"].sum() == pytest.approx(100.0)
    assert out["minor"].sum() == pytest.approx(100.0)  # the 60 x 80 diagonal is 100 m long


def test_noise_from_a_road_line_layer_matches_the_line_law():
    """A straight motorway (78 dB at 10 m, table) across the 1010 m wide grid (only the part inside
    the grid is counted: 505 m either side of the receiver column): the level at distance d equals
    the finite line-source reference."""
    codes = np.full((101, 101), "lawn_grass", dtype=object)
    grid = Grid("EPSG:28992", 100000.0, 401010.0, C, 101, 101)
    road = gpd.GeoDataFrame({"highway": ["motorway"]}, crs="EPSG:28992",
                            geometry=[shapely.LineString([(98000, 400505), (103000, 400505)])])
    ctx = make_ctx(codes, grid, layers={"roads": road})
    res = {r.name: r for r in dist.compute(ctx)}
    lv = res["noise_road_proxy"].array
    params = dist.load_params()
    assert params.road_class_source("motorway").level_db == 78
    for k in (3, 6, 12, 24, 48):
        assert lv[50 + k, 50] == pytest.approx(finite_line_level(78.0, k * C, 1000.0, -505, 505), abs=0.05), k
    assert res["noise_road_proxy"].proxy and res["light_proxy"].proxy


def test_noise_from_the_road_fraction():
    """Without lines, a road of cover fraction f is f * c^2 / w metres long (w = 7 m, table): a full
    row of road cells is 10 * 10 / 7 m of road per cell at 60 dB."""
    codes = np.full((61, 301), "lawn_grass", dtype=object)
    codes[30, :] = "road"
    lv = dist.compute(make_ctx(codes))[0].array
    per_cell = C * C / 7.0  # metres of road per cell
    for k in (2, 5, 10):
        d = k * C
        # the row is 3 km long, the receiver in the middle: truncation at 1 km applies
        ref = finite_line_level(60.0, d, 1000.0) + 10 * math.log10(per_cell / C)
        assert lv[30 + k, 150] == pytest.approx(ref, abs=0.05)


# ------------------------------------------------------------------ light

def test_light_single_cell_hand_values():
    d_max = 100.0
    lit = np.zeros((41, 41))
    lit[20, 20] = 1.0
    out = dist.light_proxy(lit, C, d_max)
    # Z = sum of exp(-2.99 r / d_max) over the offsets within d_max, counted here with plain loops
    z = sum(math.exp(-2.99 * math.hypot(i, j) * C / d_max)
            for i in range(-10, 11) for j in range(-10, 11) if math.hypot(i, j) * C <= d_max)
    for (dy, dx) in ((0, 0), (0, 3), (6, 8), (0, 10)):
        r = math.hypot(dy, dx) * C
        assert out[20 + dy, 20 + dx] == pytest.approx(math.exp(-2.99 * r / d_max) / z, rel=1e-9, abs=1e-15)
    assert out[20, 20 + 10] / out[20, 20] == pytest.approx(0.0503, abs=1e-4)  # 5 % left at d_max
    assert out[20, 31] == pytest.approx(0.0, abs=1e-12) and out[27, 28] == pytest.approx(0.0, abs=1e-12)


def test_light_of_a_fully_lit_neighbourhood_is_the_weight():
    """300 m reach = 30 cells: the centre of a 100 x 100 block sees only that block."""
    big = np.full((100, 100), "road", dtype=object)
    lb = {r.name: r for r in dist.compute(make_ctx(big))}["light_proxy"].array
    assert lb[50, 50] == pytest.approx(1.0, abs=1e-9)  # weight of road = 1 (table)
    half = np.full((100, 100), "building", dtype=object)
    lh = {r.name: r for r in dist.compute(make_ctx(half))}["light_proxy"].array
    assert lh[50, 50] == pytest.approx(0.5, abs=1e-9)  # weight of building = 0.5 (table)


# ------------------------------------------------------------------ chunked == in-memory

def test_chunked_equals_in_memory():
    rng = np.random.default_rng(7)
    keys = np.array(["road", "building", "lawn_grass", "trees_woodland", "rail", "paved_other", "water"], dtype=object)
    codes = rng.choice(keys, size=(90, 70))
    codes[:4, :] = ""  # outside
    road = gpd.GeoDataFrame({"class": ["primary", "minor"]}, crs="EPSG:28992",
                            geometry=[shapely.LineString([(99990, 400300), (100710, 400600)]),
                                      shapely.LineString([(100100, 400000), (100300, 400900)])])
    for layers in ({}, {"roads": road}):
        a = dist.compute(make_ctx(codes, layers=layers))
        b = dist.compute(make_ctx(codes, chunks=16, layers=layers))  # chunks smaller than the halo
        for ra, rb in zip(a, b, strict=True):
            assert isinstance(rb.array, da.Array)
            x, y = ra.array, rb.array.compute()
            np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)
        assert np.isnan(a[0].array[:4]).all() and np.isfinite(a[0].array[4:]).all()


def test_focal_mean_matches_brute_force_and_chunks():
    rng = np.random.default_rng(2)
    x = rng.random((30, 33))
    x[rng.random(x.shape) < 0.2] = np.nan
    got = dist.focal_mean(x, C, 25.0)
    ref = np.full(x.shape, np.nan)
    for i in range(30):
        for j in range(33):
            vals = [x[i + a, j + b] for a in range(-2, 3) for b in range(-2, 3)
                    if 0 <= i + a < 30 and 0 <= j + b < 33 and math.hypot(a, b) * C <= 25.0 and np.isfinite(x[i + a, j + b])]
            if vals:
                ref[i, j] = np.mean(vals)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dist.focal_mean(da.from_array(x, chunks=7), C, 25.0).compute(), ref, rtol=1e-9)


# ------------------------------------------------------------------ tables

def _copy(tmp_path: Path, name: str, edit) -> Path:
    for n in (dist.PARAMS_FILE, dist.NOISE_FILE, dist.LIGHT_FILE):
        text = dist.params_path(n).read_text(encoding="utf-8")
        (tmp_path / n).write_text(edit(text) if n == name else text, encoding="utf-8")
    return tmp_path


def test_tables_load_with_provenance():
    p = dist.load_params(legend=LEGEND)
    assert set(p.provenance["ev"]) <= {"V", "S", "R", "P"}
    assert (p.provenance["source"].str.len() > 0).all()
    assert p.light_decay == 2.99 and p.light_max_distance_m == 300


def test_bad_tables_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="ev must be"):
        dist.load_params(_copy(tmp_path / "a", dist.LIGHT_FILE, lambda t: t.replace(",P,", ",Q,", 1)), LEGEND)
    with pytest.raises(ConfigError, match="Unknown land-cover class"):
        dist.load_params(_copy(tmp_path / "b", dist.LIGHT_FILE, lambda t: t.replace("paved_other,", "asphalt,")), LEGEND)
    with pytest.raises(ConfigError, match="lacks the parameter"):
        dist.load_params(_copy(tmp_path / "c", dist.PARAMS_FILE,
                               lambda t: "\n".join(x for x in t.splitlines() if "noise_floor" not in x)), LEGEND)
    with pytest.raises(ConfigError, match="outside"):
        dist.load_params(_copy(tmp_path / "d", dist.LIGHT_FILE, lambda t: t.replace("road,1.0,", "road,1.5,")), LEGEND)


@pytest.fixture(autouse=True)
def _mk(tmp_path):
    for s in ("a", "b", "c", "d"):
        (tmp_path / s).mkdir()
