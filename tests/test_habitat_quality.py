"""Habitat quality (InVEST 3.20): hand-computed values, the InVEST file interface, the pipeline
indicator, and (where natcap.invest is installed) a comparison with InVEST itself."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from typer.testing import CliRunner

from biostress.cli import app
from biostress.errors import ConfigError, InputDataError
from biostress.grid import Grid
from biostress.indicators import habitat_quality as hq
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend

CELL = 10.0
N = 41  # grid of N x N cells, the single threat cell in the middle
C = N // 2


def one_cell_threat() -> np.ndarray:
    t = np.zeros((N, N), dtype=np.float32)
    t[C, C] = 1.0
    return t


def sens_frame(**threats: float) -> pd.DataFrame:
    """Class 1 habitat 1.0 with the given sensitivities, class 2 non-habitat (all 0)."""
    return pd.DataFrame({"habitat": [1.0, 0.0], **{k: [v, 0.0] for k, v in threats.items()}}, index=[1, 2])


# --------------------------------------------------------------------------------------------
# hand-computed: distance decay (HQ-UG eqs. 1-2, InVEST 3.20: distance to the nearest source)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("dr", "dc", "linear", "exponential"), [
    (0, 0, 1.0, 1.0),
    (3, 0, 1 - 30 / 100, math.exp(-2.99 * 30 / 100)),
    (0, -5, 1 - 50 / 100, math.exp(-2.99 * 50 / 100)),
    (3, 4, 1 - 50 / 100, math.exp(-2.99 * 50 / 100)),       # 3-4-5 triangle: 50 m
    (-1, 1, 1 - math.sqrt(200) / 100, math.exp(-2.99 * math.sqrt(200) / 100)),
    (6, 8, 0.0, math.exp(-2.99)),                           # exactly max_dist: 1 - 1 = 0, exp keeps 5 %
    (7, 8, 0.0, 0.0),                                       # 106.3 m > 100 m: cut to 0
    (0, 11, 0.0, 0.0),
])
def test_single_threat_cell_decay_by_hand(dr: int, dc: int, linear: float, exponential: float):
    t = one_cell_threat()
    lin = hq.threat_impact(t, 100.0, "linear", CELL)
    exp = hq.threat_impact(t, 100.0, "exponential", CELL)
    assert lin[C + dr, C + dc] == pytest.approx(linear, abs=1e-7)
    assert exp[C + dr, C + dc] == pytest.approx(exponential, abs=1e-7)


def test_exponential_constant_leaves_five_percent_at_max_dist():
    assert math.exp(-hq.DECAY_CONSTANT) == pytest.approx(0.0503, abs=1e-4)


def test_nearest_source_counts_not_the_sum_of_sources():
    """InVEST >= 3.13: two sources at the same distance give the impact of one (no convolution),
    and the threat intensity only decides presence."""
    one = one_cell_threat()
    two = one.copy()
    two[C, C + 6] = 0.25  # a second, weaker source 60 m to the east
    i1 = hq.threat_impact(one, 100.0, "linear", CELL)
    i2 = hq.threat_impact(two, 100.0, "linear", CELL)
    # the cell 30 m east of the first source is 30 m from the second one too: 1 - 0.3, not 2 x 0.7
    assert i2[C, C + 3] == pytest.approx(0.7, abs=1e-7)
    assert i1[C, C + 3] == pytest.approx(0.7, abs=1e-7)
    # 0.25 counts as fully present: right on the weak source the impact is 1
    assert i2[C, C + 6] == pytest.approx(1.0)


def test_max_dist_is_metres_and_scales_with_cell_size():
    t = one_cell_threat()
    # 5 cells away is 50 m at 10 m cells but 100 m at 20 m cells
    assert hq.threat_impact(t, 100.0, "linear", 10.0)[C, C + 5] == pytest.approx(0.5)
    assert hq.threat_impact(t, 100.0, "linear", 20.0)[C, C + 5] == pytest.approx(0.0)
    assert hq.threat_impact(t, 200.0, "linear", 20.0)[C, C + 5] == pytest.approx(0.5)


def test_no_source_gives_no_impact_and_nodata_is_not_a_source():
    t = np.zeros((N, N), dtype=np.float32)
    assert not hq.threat_impact(t, 100.0, "exponential", CELL).any()
    t[:, :] = -9
    t[C, C] = 1.0
    imp = hq.threat_impact(t, 100.0, "linear", CELL, nodata=-9)
    assert imp[C, C + 3] == pytest.approx(0.7)
    t[C, C] = np.nan  # NaN is never a source
    assert not hq.threat_impact(t, 100.0, "linear", CELL, nodata=-9).any()


def test_threat_values_outside_0_1_are_refused():
    t = one_cell_threat() * 2
    with pytest.raises(InputDataError, match="between 0 and 1"):
        hq.threat_impact(t, 100.0, "linear", CELL)


# --------------------------------------------------------------------------------------------
# hand-computed: degradation (eq. 3), quality (eq. 4), access, rarity (eqs. 5-6)
# --------------------------------------------------------------------------------------------

def test_degradation_one_threat_by_hand():
    lulc = np.ones((N, N), dtype=np.int32)
    lulc[C + 3, C + 4] = 2  # non-habitat with sensitivity 0
    table = {"road": hq.Threat("road", 100.0, 0.4, "linear")}
    d = hq.degradation(lulc, {"road": one_cell_threat()}, table, sens_frame(road=0.8), cell_size=CELL)
    # weight 0.4 / sum 0.4 = 1; S = 0.8; i = 1 - d/100
    assert d[C, C + 3] == pytest.approx(0.8 * (1 - 30 / 100))
    assert d[C - 3, C + 4] == pytest.approx(0.8 * 0.5)
    assert d[C + 3, C + 4] == 0.0
    assert d[C, C + 15] == 0.0


def test_degradation_two_threats_weights_are_normalised():
    lulc = np.ones((N, N), dtype=np.int32)
    a = one_cell_threat()
    b = np.zeros_like(a)
    b[C, 0] = 1.0  # western edge
    table = {"a": hq.Threat("a", 100.0, 0.2, "linear"), "b": hq.Threat("b", 300.0, 0.6, "exponential")}
    d = hq.degradation(lulc, {"a": a, "b": b}, table, sens_frame(a=1.0, b=0.5), cell_size=CELL)
    # cell (C, C - 4): 40 m from a, 160 m from b; weights 0.25 and 0.75
    expect = 0.25 * 1.0 * (1 - 40 / 100) + 0.75 * 0.5 * math.exp(-2.99 * 160 / 300)
    assert d[C, C - 4] == pytest.approx(expect, abs=1e-7)
    # the same weights x 10 give the same result (only relative weights matter)
    table10 = {"a": hq.Threat("a", 100.0, 0.02, "linear"), "b": hq.Threat("b", 300.0, 0.06, "exponential")}
    d10 = hq.degradation(lulc, {"a": a, "b": b}, table10, sens_frame(a=1.0, b=0.5), cell_size=CELL)
    np.testing.assert_allclose(d10, d, atol=1e-12)


def test_access_scales_degradation_linearly():
    lulc = np.ones((N, N), dtype=np.int32)
    table = {"road": hq.Threat("road", 100.0, 1.0, "linear")}
    access = np.ones((N, N))
    access[:, C + 1:] = 0.3
    d = hq.degradation(lulc, {"road": one_cell_threat()}, table, sens_frame(road=1.0), access, cell_size=CELL)
    assert d[C, C - 2] == pytest.approx(0.8)
    assert d[C, C + 2] == pytest.approx(0.3 * 0.8)
    access[:, :] = 0.0
    assert not hq.degradation(lulc, {"road": one_cell_threat()}, table, sens_frame(road=1.0), access,
                              cell_size=CELL).any()


def test_half_saturation_formula_by_hand():
    k = 0.05
    d = np.array([0.0, 0.05, 0.1, 0.025, 1.0])
    h = np.array([0.8, 0.8, 0.8, 1.0, 1.0])
    q = hq.quality(d, h, k)
    assert q[0] == pytest.approx(0.8)                       # no degradation: Q = H
    assert q[1] == pytest.approx(0.4)                       # D = k: Q = H / 2
    assert q[2] == pytest.approx(0.8 / (1 + 2**2.5))        # D = 2k: 1 - 2^z/(2^z+1) = 1/(1+2^z)
    assert q[3] == pytest.approx(1 - 0.5**2.5 / (0.5**2.5 + 1))
    assert q[4] == pytest.approx(1 / (1 + 20**2.5))
    assert hq.quality(0.3, 0.0, k) == 0.0                   # non-habitat stays 0
    with pytest.raises(ConfigError):
        hq.quality(d, h, 0.0)


def test_rarity_by_hand():
    base = np.array([[1, 1, 1, 1], [2, 2, 9, 9]])
    cur = np.array([[1, 1, 3, 3], [2, 2, 9, 1]])
    r, tab = hq.rarity(cur, base, lulc_nodata=None, baseline_nodata=9)
    # baseline (without nodata 9): N1 = 4, N2 = 2. current where the baseline has data: N1 = 2, N2 = 2, N3 = 2
    assert tab == pytest.approx({1: 1 - 2 / (4 + 2), 2: 1 - 2 / (2 + 2), 3: 0.0})
    assert r[0, 0] == pytest.approx(2 / 3) and r[1, 0] == pytest.approx(0.5) and r[0, 2] == 0.0
    assert np.isnan(r[1, 2]) and np.isnan(r[1, 3])          # baseline nodata masks the current map


def test_lulc_nodata_gives_nan_and_unknown_codes_are_errors():
    lulc = np.ones((N, N), dtype=np.int32)
    lulc[0, 0] = 255
    table = {"road": hq.Threat("road", 100.0, 1.0, "linear")}
    d = hq.degradation(lulc, {"road": one_cell_threat()}, table, sens_frame(road=1.0), cell_size=CELL,
                       lulc_nodata=255)
    assert np.isnan(d[0, 0]) and np.isfinite(d[1, 1])
    lulc[0, 0] = 7
    with pytest.raises(InputDataError, match=r"code\(s\) \[7\]"):
        hq.degradation(lulc, {"road": one_cell_threat()}, table, sens_frame(road=1.0), cell_size=CELL,
                       lulc_nodata=255)


def test_dask_chunks_equal_in_memory():
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(3)
    lulc = rng.integers(1, 3, (300, 260)).astype(np.int32)
    a = (rng.random((300, 260)) < 0.002).astype(np.float32)
    b = (rng.random((300, 260)) < 0.0005).astype(np.float32)
    table = {"a": hq.Threat("a", 230.0, 1.0, "linear"), "b": hq.Threat("b", 910.0, 0.5, "exponential")}
    s = sens_frame(a=0.7, b=0.9)
    ref = hq.degradation(lulc, {"a": a, "b": b}, table, s, cell_size=CELL)
    for chunks in ((64, 50), (128, 260)):  # halo of b (92 cells) larger than a chunk, and one column of chunks
        got = hq.degradation(da.from_array(lulc, chunks=chunks), {"a": da.from_array(a, chunks=chunks),
                             "b": da.from_array(b, chunks=chunks)}, table, s, cell_size=CELL).compute()
        np.testing.assert_array_equal(got, ref)
    hab = hq.habitat_suitability(da.from_array(lulc, chunks=(64, 50)), s).compute()
    np.testing.assert_array_equal(hab, np.where(lulc == 1, 1.0, 0.0))
    r1, t1 = hq.rarity(lulc, np.ones_like(lulc))
    r2, t2 = hq.rarity(da.from_array(lulc, chunks=(64, 50)), da.from_array(np.ones_like(lulc), chunks=(64, 50)))
    assert t1 == t2
    np.testing.assert_array_equal(r2.compute(), r1)


# --------------------------------------------------------------------------------------------
# InVEST file interface (biostress habitat-quality)
# --------------------------------------------------------------------------------------------

def _tif(path: Path, arr: np.ndarray, nodata=None, x0: float = 100000.0, cell: float = CELL) -> Path:
    prof = {"driver": "GTiff", "width": arr.shape[1], "height": arr.shape[0], "count": 1, "dtype": arr.dtype.name,
            "crs": "EPSG:28992", "transform": from_origin(x0, 400000.0, cell, cell), "nodata": nodata}
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr, 1)
    return path


def make_invest_inputs(d: Path, *, access: bool = True, baseline: bool = True) -> dict[str, Path]:
    """A 41 x 41 case: class 1 habitat everywhere, one road cell in the middle (linear 100 m) and a
    farm column at the west edge (exponential 300 m); access 0.5 on the eastern half."""
    import geopandas as gpd
    import shapely

    d.mkdir(parents=True, exist_ok=True)
    (d / "threats").mkdir(exist_ok=True)
    lulc = np.ones((N, N), dtype=np.int32)
    lulc[0, 0] = 255
    lulc[N - 1, :] = 2
    _tif(d / "lulc.tif", lulc, nodata=255)
    _tif(d / "threats" / "road.tif", one_cell_threat())
    farm = np.zeros((N, N), dtype=np.float32)
    farm[:, 0] = 1.0
    _tif(d / "threats" / "farm.tif", farm)
    (d / "threats.csv").write_text("THREAT,MAX_DIST,WEIGHT,DECAY,CUR_PATH,BASE_PATH\n"
                                   "Road,100,0.2,linear,threats/road.tif,\n"
                                   "farm,300,0.6,Exponential,threats/farm.tif,\n")
    (d / "sens.csv").write_text("lucode,name,habitat,road,FARM\n1,meadow,1.0,1.0,0.5\n2,built,0,0,0\n")
    out = {"lulc": d / "lulc.tif", "threats": d / "threats.csv", "sens": d / "sens.csv"}
    if access:
        east = shapely.box(100000.0 + (C + 1) * CELL, 400000.0 - N * CELL, 100000.0 + N * CELL, 400000.0)
        gpd.GeoDataFrame({"ACCESS": [0.5]}, geometry=[east], crs="EPSG:28992").to_file(d / "access.gpkg")
        out["access"] = d / "access.gpkg"
    if baseline:
        base = np.ones((N, N), dtype=np.int32)
        base[0, 0] = 255
        _tif(d / "base.tif", base, nodata=255)
        out["base"] = d / "base.tif"
    return out


def _cli(args: list[str]):
    return CliRunner().invoke(app, args)


def _read(path: Path) -> tuple[np.ndarray, float]:
    with rasterio.open(path) as src:
        return src.read(1), src.nodata


def test_cli_writes_invest_outputs_with_hand_computed_values(tmp_path: Path):
    f = make_invest_inputs(tmp_path / "in")
    out = tmp_path / "out"
    res = _cli(["habitat-quality", "--lulc", str(f["lulc"]), "--threats-table", str(f["threats"]),
                "--sensitivity-table", str(f["sens"]), "--access", str(f["access"]), "--lulc-baseline",
                str(f["base"]), "--half-saturation", "0.1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("deg_sum_c.tif", "quality_c.tif", "rarity_c.tif", "rarity_c.csv", "manifest.json"):
        assert (out / name).is_file(), name
    deg, nd = _read(out / "deg_sum_c.tif")
    assert deg.dtype == np.float32 and nd == pytest.approx(float(np.finfo(np.float32).max))
    assert deg[0, 0] == nd                                       # LULC nodata
    # cell (C, C - 3): road 30 m (w 0.25, S 1), farm 170 m (w 0.75, S 0.5), access 1
    expect = 0.25 * (1 - 30 / 100) + 0.75 * 0.5 * math.exp(-2.99 * 170 / 300)
    assert deg[C, C - 3] == pytest.approx(expect, abs=1e-6)
    # cell (C, C + 3): road 30 m, farm 230 m, access 0.5 (eastern polygon)
    expect_e = 0.5 * (0.25 * (1 - 30 / 100) + 0.75 * 0.5 * math.exp(-2.99 * 230 / 300))
    assert deg[C, C + 3] == pytest.approx(expect_e, abs=1e-6)
    assert deg[N - 1, 5] == 0.0                                  # non-habitat, sensitivity 0
    q, _ = _read(out / "quality_c.tif")
    assert q[C, C - 3] == pytest.approx(1 - expect**2.5 / (expect**2.5 + 0.1**2.5), abs=1e-6)
    assert q[N - 1, 5] == 0.0
    r, rnd = _read(out / "rarity_c.tif")
    assert rnd == pytest.approx(float(np.finfo(np.float32).min)) and r[0, 0] == rnd
    n1 = N * N - 1 - N  # class 1 cells where both maps have data
    assert r[1, 1] == pytest.approx(1 - n1 / ((N * N - 1) + n1), abs=1e-6)
    assert r[N - 1, 5] == 0.0                                    # class 2 is not in the baseline
    rows = (out / "rarity_c.csv").read_text().split()
    assert rows[0] == "lucode,rarity_value" and rows[2] == "2,0.0"


def test_cli_refuses_bad_inputs_clearly(tmp_path: Path):
    f = make_invest_inputs(tmp_path / "in", access=False, baseline=False)
    base = ["habitat-quality", "--lulc", str(f["lulc"]), "--threats-table", str(f["threats"]),
            "--sensitivity-table", str(f["sens"]), "--half-saturation", "0.1", "--out"]
    assert _cli([*base, str(tmp_path / "ok")]).exit_code == 0
    # output exists without --overwrite
    res = _cli([*base, str(tmp_path / "ok")])
    assert res.exit_code == 2 and "already exists" in res.output
    # missing column
    (tmp_path / "t2.csv").write_text("threat,weight,decay,cur_path\nroad,1,linear,in/threats/road.tif\n")
    res = _cli([*base[:4], str(tmp_path / "t2.csv"), *base[5:], str(tmp_path / "o2")])
    assert res.exit_code == 1 and "max_dist" in res.output
    # sensitivity column missing for a threat
    (tmp_path / "s2.csv").write_text("lucode,habitat,road\n1,1,1\n2,0,0\n")
    res = _cli([*base[:6], str(tmp_path / "s2.csv"), *base[7:], str(tmp_path / "o3")])
    assert res.exit_code == 1 and "farm" in res.output
    # unknown lucode
    (tmp_path / "s3.csv").write_text("lucode,habitat,road,farm\n1,1,1,1\n")
    res = _cli([*base[:6], str(tmp_path / "s3.csv"), *base[7:], str(tmp_path / "o4")])
    assert res.exit_code == 1 and "[2]" in res.output and "not in the sensitivity table" in res.output
    # threat raster on another grid
    _tif(f["threats"].parent / "threats" / "road.tif", one_cell_threat(), x0=100005.0)
    res = _cli([*base, str(tmp_path / "o5")])
    assert res.exit_code == 1 and "not on the grid" in res.output
    # bad path
    (tmp_path / "t3.csv").write_text("threat,max_dist,weight,decay,cur_path\nroad,100,1,linear,nowhere.tif\n"
                                     "farm,300,1,linear,nowhere2.tif\n")
    res = _cli([*base[:4], str(tmp_path / "t3.csv"), *base[5:], str(tmp_path / "o6")])
    assert res.exit_code == 1 and "nowhere.tif" in res.output and "does not exist" in res.output
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o6").exists()


# --------------------------------------------------------------------------------------------
# the NL parameter tables and the pipeline indicator
# --------------------------------------------------------------------------------------------

def test_builtin_params_are_valid_and_cover_the_legend():
    legend = load_legend()
    p = hq.load_params(None, legend)
    assert set(p.threats) >= {"urban_dense", "main_roads", "local_roads", "arable_intensive"}
    assert p.threats["urban_dense"].max_dist == 600 and p.threats["urban_dense"].decay == "exponential"
    assert p.half_saturation == 0.28
    assert {k for k in legend.keys if k != "unknown"} <= set(p.habitat)
    assert p.habitat["building"] == 0.0 and p.habitat["reed_wetland"] == 1.0
    assert set(p.provenance["ev"]) <= {"V", "S", "R", "P"}


def test_params_errors_name_file_and_line(tmp_path: Path):
    src = Path(hq.params_path(hq.THREATS_FILE)).parent
    for name in (hq.THREATS_FILE, hq.SENSITIVITY_FILE, hq.PARAMS_FILE):
        (tmp_path / name).write_text((src / name).read_text())
    text = (tmp_path / hq.THREATS_FILE).read_text().replace(",0.7,linear,road,0.6,P,", ",0.7,linear,road,0.6,X,")
    (tmp_path / hq.THREATS_FILE).write_text(text)
    with pytest.raises(ConfigError, match=r"habitat_quality_threats.csv line 3: ev"):
        hq.load_params(tmp_path, load_legend())
    (tmp_path / hq.THREATS_FILE).write_text((src / hq.THREATS_FILE).read_text())
    lines = (tmp_path / hq.SENSITIVITY_FILE).read_text().splitlines()
    (tmp_path / hq.SENSITIVITY_FILE).write_text("\n".join(ln for ln in lines if not ln.startswith("shrub,")) + "\n")
    with pytest.raises(ConfigError, match="shrub"):
        hq.load_params(tmp_path, load_legend())
    lines[4] = lines[4].replace("paved_other,0.05", "paved_other,1.5")
    (tmp_path / hq.SENSITIVITY_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=r"habitat_quality_sensitivity.csv line 5: habitat = 1.5"):
        hq.load_params(tmp_path, load_legend())


def _ctx(fractions: np.ndarray, dominant: np.ndarray) -> IndicatorContext:
    legend = load_legend()
    grid = Grid("EPSG:28992", 100000.0, 400000.0, CELL, fractions.shape[2], fractions.shape[1])
    return IndicatorContext(grid, legend, fractions.astype(np.float32), dominant.astype(np.uint8),
                            np.ones(dominant.shape, np.float32))


def test_compute_single_class_cells_equal_the_invest_functions():
    legend = load_legend()
    keys = legend.keys
    rng = np.random.default_rng(5)
    choices = [legend.by_key(k).code for k in ("building", "road", "trees_woodland", "herb_rich_grassland", "arable",
                                               "water", "garden_allotment")]
    dom = rng.choice(choices, size=(60, 70)).astype(np.uint8)
    dom[:5, :5] = 255
    frac = np.zeros((len(keys), 60, 70), np.float32)
    for i, c in enumerate(legend.codes):
        frac[i] = dom == c
    frac[:, dom == 255] = np.nan
    res = {r.name: r for r in hq.compute(_ctx(frac, dom))}
    assert set(res) == {"habitat_quality", "habitat_degradation"}
    assert res["habitat_quality"].palette == "good_high" and res["habitat_degradation"].palette == "bad_high"
    p = hq.load_params(None, legend)
    # InVEST on the dominant class, threats = cells of the source classes (fraction 1 >= threshold)
    threats = {n: np.isin(dom, [legend.by_key(k).code for k in t.source_classes]).astype(np.float32)
               for n, t in p.threats.items()}
    sens = pd.DataFrame({"habitat": [p.habitat.get(k, 0.0) for k in keys],
                         **{n: [p.sensitivity[n].get(k, 0.0) for k in keys] for n in p.threats}},
                        index=legend.codes)
    d = hq.degradation(dom, threats, p.threats, sens, cell_size=CELL, lulc_nodata=255)
    q = hq.quality(d, hq.habitat_suitability(dom, sens, lulc_nodata=255), p.half_saturation)
    np.testing.assert_allclose(res["habitat_degradation"].array, d, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(res["habitat_quality"].array, q, atol=1e-6, equal_nan=True)
    assert np.isnan(res["habitat_quality"].array[0, 0])


def test_compute_mixed_cell_is_fraction_weighted_by_hand():
    legend = load_legend()
    dom = np.full((31, 31), legend.by_key("pasture").code, np.uint8)
    frac = np.zeros((len(legend.keys), 31, 31), np.float32)
    frac[legend.keys.index("pasture")] = 1.0
    # one building cell in the middle (urban_dense source); the cell 3 east is half woodland, half lawn
    frac[:, 15, 15] = 0
    frac[legend.keys.index("building"), 15, 15] = 1.0
    frac[:, 15, 18] = 0
    frac[legend.keys.index("trees_woodland"), 15, 18] = 0.4
    frac[legend.keys.index("lawn_grass"), 15, 18] = 0.4
    frac[legend.keys.index("unknown"), 15, 18] = 0.2   # left out and renormalised
    res = {r.name: r for r in hq.compute(_ctx(frac, dom))}
    p = hq.load_params(None, legend)
    w = p.threats["urban_dense"].weight / sum(t.weight for t in p.threats.values())
    i = math.exp(-2.99 * 30 / 600)  # 30 m from the building, exponential 600 m; no other source present
    d_wood = w * i * p.sensitivity["urban_dense"]["trees_woodland"]
    d_lawn = w * i * p.sensitivity["urban_dense"]["lawn_grass"]
    k = p.half_saturation

    def qf(dd: float, h: float) -> float:
        return h * (1 - dd**2.5 / (dd**2.5 + k**2.5))

    assert res["habitat_degradation"].array[15, 18] == pytest.approx(0.5 * d_wood + 0.5 * d_lawn, abs=1e-6)
    assert res["habitat_quality"].array[15, 18] == pytest.approx(
        0.5 * qf(d_wood, p.habitat["trees_woodland"]) + 0.5 * qf(d_lawn, p.habitat["lawn_grass"]), abs=1e-6)


def test_compute_rarity_with_a_baseline():
    legend = load_legend()
    wood, past = legend.by_key("trees_woodland").code, legend.by_key("pasture").code
    dom = np.full((10, 10), past, np.uint8)
    dom[:, :2] = wood
    frac = np.zeros((len(legend.keys), 10, 10), np.float32)
    frac[legend.keys.index("pasture")] = dom == past
    frac[legend.keys.index("trees_woodland")] = dom == wood
    ctx = _ctx(frac, dom)
    base = np.full((10, 10), wood, np.uint8)
    base[:, 5:] = past
    ctx.rasters["landcover_baseline"] = base
    r = {x.name: x for x in hq.compute(ctx)}["habitat_rarity"].array
    assert r[0, 0] == pytest.approx(1 - 20 / (50 + 20))      # woodland: 50 cells before, 20 now
    assert r[0, 9] == pytest.approx(1 - 80 / (50 + 80))


# --------------------------------------------------------------------------------------------
# InVEST 3.20 itself (only where natcap.invest is installed)
# --------------------------------------------------------------------------------------------

def test_matches_natcap_invest_on_a_small_case(tmp_path: Path):
    hqi = pytest.importorskip("natcap.invest.habitat_quality.habitat_quality",
                              reason="natcap.invest 3.20 is not installed (validation-only dependency)")
    f = make_invest_inputs(tmp_path / "in")
    # a larger, irregular threat pattern on top of the hand-made one
    rng = np.random.default_rng(11)
    road = (rng.random((N, N)) < 0.01).astype(np.float32) * rng.choice([0.3, 1.0], (N, N)).astype(np.float32)
    _tif(f["lulc"].parent / "threats" / "road.tif", road)
    args = {"workspace_dir": str(tmp_path / "invest"), "results_suffix": "", "n_workers": -1,
            "lulc_cur_path": str(f["lulc"]), "lulc_fut_path": "", "lulc_bas_path": str(f["base"]),
            "threats_table_path": str(f["threats"]), "access_vector_path": str(f["access"]),
            "sensitivity_table_path": str(f["sens"]), "half_saturation_constant": 0.1}
    hqi.execute(args)
    hq.run_invest_files(f["lulc"], f["threats"], f["sens"], 0.1, tmp_path / "bio", access_path=f["access"],
                        baseline_path=f["base"])
    for name in ("deg_sum_c", "quality_c", "rarity_c"):
        a, na = _read(tmp_path / "invest" / f"{name}.tif")
        b, nb = _read(tmp_path / "bio" / f"{name}.tif")
        ma, mb = np.isclose(a, na), np.isclose(b, nb)
        np.testing.assert_array_equal(ma, mb)
        assert np.max(np.abs(a[~ma].astype(float) - b[~mb].astype(float))) <= 1e-6, name
    assert (tmp_path / "invest" / "rarity_c.csv").read_text().split()[0] == \
        (tmp_path / "bio" / "rarity_c.csv").read_text().split()[0]


def test_cli_future_scenario_uses_fut_path(tmp_path: Path):
    f = make_invest_inputs(tmp_path / "in", access=False, baseline=False)
    d = f["lulc"].parent
    (d / "threats.csv").write_text("threat,max_dist,weight,decay,cur_path,fut_path\n"
                                   "road,100,0.2,linear,threats/road.tif,threats/farm.tif\n"
                                   "farm,300,0.6,exponential,threats/farm.tif,threats/road.tif\n")
    res = _cli(["habitat-quality", "--lulc", str(f["lulc"]), "--lulc-future", str(f["lulc"]), "--threats-table",
                str(d / "threats.csv"), "--sensitivity-table", str(f["sens"]), "--half-saturation", "0.1", "--out",
                str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    dc, _ = _read(tmp_path / "out" / "deg_sum_c.tif")
    df, _ = _read(tmp_path / "out" / "deg_sum_f.tif")
    # future: road threat = the farm column (linear 100 m, w 0.25, S 1), farm threat = the road cell
    # (exponential 300 m, w 0.75, S 0.5). Cell (C, 2): 20 m from the column, 180 m from the road cell
    expect = 0.25 * (1 - 20 / 100) + 0.75 * 0.5 * math.exp(-2.99 * 180 / 300)
    assert df[C, 2] == pytest.approx(expect, abs=1e-6)
    assert dc[C, 2] != pytest.approx(expect, abs=1e-3)
    assert (tmp_path / "out" / "quality_f.tif").is_file()


def test_compute_on_dask_equals_numpy():
    da = pytest.importorskip("dask.array")
    legend = load_legend()
    rng = np.random.default_rng(8)
    codes = np.array(legend.codes[1:])
    dom = rng.choice(codes, size=(90, 110)).astype(np.uint8)
    frac = rng.random((len(legend.keys), 90, 110)).astype(np.float32)
    frac /= frac.sum(axis=0)
    ref = {r.name: r.array for r in hq.compute(_ctx(frac, dom))}
    ctx = _ctx(frac, dom)
    ctx.fractions = da.from_array(frac, chunks=(len(legend.keys), 40, 50))
    ctx.dominant = da.from_array(dom, chunks=(40, 50))
    got = {r.name: np.asarray(r.array.compute()) for r in hq.compute(ctx)}
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], atol=1e-6, equal_nan=True)
