"""Stress test: hand-computed robustness / vulnerability / score, classes, palettes, bad tables, dask."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest

from biostress.errors import ConfigError, InputDataError
from biostress.grid import Grid
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend
from biostress.stresstest import (
    classify,
    compute,
    goodness,
    green_diversity,
    load_classes,
    load_indicators,
    load_sensitivity,
    palette,
    shannon,
)
from biostress.stresstest.scores import weighted_mean

LEGEND = load_legend()
PARAMS = Path(str(resources.files("biostress") / "data" / "params"))


def fractions(cells: list[list[dict[str, float] | None]]) -> np.ndarray:
    """(classes, H, W) cover fractions; None = a cell outside the area (NaN)."""
    h, w = len(cells), len(cells[0])
    fr = np.zeros((len(LEGEND.classes), h, w), dtype=np.float32)
    for r in range(h):
        for c in range(w):
            if cells[r][c] is None:
                fr[:, r, c] = np.nan
                continue
            for k, v in cells[r][c].items():
                fr[LEGEND.keys.index(k), r, c] = v
    return fr


def ctx_for(fr, cell: float, rasters: dict, params_dir: Path | None = None) -> IndicatorContext:
    h, w = fr.shape[1:]
    dominant = np.where(np.isnan(np.asarray(fr[0])), 255, 1).astype(np.uint8)
    inside = np.nan_to_num(np.asarray(fr)).sum(axis=0).astype(np.float32)
    return IndicatorContext(Grid("EPSG:28992", 0.0, h * cell, cell, w, h), LEGEND, fr, dominant, inside,
                            rasters=rasters, params_dir=params_dir)


def by_name(results):
    return {r.name: r for r in results}


def table_copy(tmp_path: Path, name: str, old: str | None = None, new: str = "") -> Path:
    """Copy a built-in table into tmp_path (the area's params_dir), replacing ``old`` by ``new``."""
    text = (PARAMS / name).read_text(encoding="utf-8")
    if old is not None:
        assert old in text, old
        text = text.replace(old, new, 1)
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


# -------------------------------------------------------------------------------------------------
# scores
# -------------------------------------------------------------------------------------------------

def test_goodness_is_clipped_linear_and_flipped():
    x = np.array([-10.0, 0.0, 25.0, 70.0, 100.0, np.nan])
    # (x - 0) / 70 clipped: 0, 0, 25/70, 1, 1
    np.testing.assert_allclose(goodness(x, 0.0, 70.0, "good_high"), [0, 0, 25 / 70, 1, 1, np.nan])
    np.testing.assert_allclose(goodness(x, 0.0, 70.0, "bad_high"), [1, 1, 45 / 70, 0, 0, np.nan])
    # noise thresholds 42..65 dB: 53.5 dB is halfway
    assert goodness(np.array([53.5]), 42.0, 65.0, "bad_high")[0] == pytest.approx(0.5)
    with pytest.raises(ConfigError):
        goodness(x, 1.0, 1.0, "good_high")
    with pytest.raises(ConfigError):
        goodness(x, 0.0, 1.0, "sideways")


def test_weighted_mean_leaves_out_missing_values():
    a = np.array([1.0, np.nan, np.nan])
    b = np.array([0.0, 0.5, np.nan])
    # cell 0: (0.25*1 + 0.75*0)/1 = 0.25; cell 1: only b -> 0.5; cell 2: nothing -> NaN
    np.testing.assert_allclose(weighted_mean([(0.25, a), (0.75, b)]), [0.25, 0.5, np.nan])


def test_shannon_by_hand():
    counts = np.array([[0.5, 1.0, 0.0, 0.2], [0.5, 0.0, 0.0, 0.2], [0.0, 0.0, 0.0, 0.2], [0.0, 0.0, 0.0, 0.2]])
    # two equal classes: ln 2; one class: 0; nothing: 0; four equal classes: ln 4
    np.testing.assert_allclose(shannon(counts), [math.log(2), 0.0, 0.0, math.log(4)], atol=1e-12)
    # 0.7/0.2/0.1: -(0.7 ln 0.7 + 0.2 ln 0.2 + 0.1 ln 0.1) = 0.249668 + 0.321888 + 0.230259
    assert float(shannon(np.array([0.7, 0.2, 0.1]))) == pytest.approx(0.801819, abs=1e-6)


def test_green_diversity_own_cell_and_neighbourhood():
    fr = fractions([[{"lawn_grass": 0.5, "trees_woodland": 0.5},
                     {"lawn_grass": 0.25, "trees_woodland": 0.25, "shrub": 0.25, "road": 0.25},
                     {"road": 1.0}, None]])
    inside = np.nan_to_num(fr).sum(axis=0)
    # radius 0: own cell. N1 = exp(H): 2 equal green classes -> 2; 3 equal green (road is not green) -> 3;
    # no green -> 1; outside -> NaN
    np.testing.assert_allclose(green_diversity(fr, LEGEND, inside, 10.0, 0.0)[0], [2, 3, 1, np.nan], rtol=1e-5)
    # radius 10 m on 10 m cells: the cell and its 4 edge neighbours (diagonals are 14.1 m away)
    fr2 = fractions([[{"road": 1.0}, {"trees_woodland": 1.0}, {"road": 1.0}],
                     [{"shrub": 1.0}, {"lawn_grass": 1.0}, {"road": 1.0}],
                     [{"road": 1.0}, {"road": 1.0}, {"herb_rich_grassland": 1.0}]])
    g = green_diversity(fr2, LEGEND, np.ones((3, 3)), 10.0, 10.0)
    # centre: trees, shrub, lawn, road, road -> 3 equal green classes -> N1 = 3
    assert g[1, 1] == pytest.approx(3.0, rel=1e-5)
    # corner (0,0): itself road, (0,1) trees, (1,0) shrub -> 2
    assert g[0, 0] == pytest.approx(2.0, rel=1e-5)
    # corner (2,2): herb-rich itself, (1,2) road, (2,1) road -> 1 class
    assert g[2, 2] == pytest.approx(1.0, rel=1e-5)
    # (1,2): itself road, (0,2) road, (2,2) herb-rich, (1,1) lawn -> 2
    assert g[1, 2] == pytest.approx(2.0, rel=1e-5)


def test_sensitivity_is_cover_weighted():
    from biostress.stresstest import sensitivity

    table = load_sensitivity(legend=LEGEND)
    fr = fractions([[{"lawn_grass": 0.5, "trees_woodland": 0.5}, {"herb_rich_grassland": 0.2, "unknown": 0.8}]])
    s, missing = sensitivity(fr, LEGEND, table)
    # the table rows: lawn heat 0.6, trees heat 0.3 -> 0.45; unknown is no data -> herb-rich alone (0.9 nitrogen)
    assert table.values["lawn_grass"]["heat"] == 0.6 and table.values["trees_woodland"]["heat"] == 0.3
    assert s["heat"][0, 0] == pytest.approx(0.45)
    assert s["nitrogen"][0, 1] == pytest.approx(table.values["herb_rich_grassland"]["nitrogen"])
    assert missing == []


# -------------------------------------------------------------------------------------------------
# compute: hand-computed cells
# -------------------------------------------------------------------------------------------------

# cell size 100 m: the default diversity radius (50 m) covers the cell alone
CELL = 100.0


def three_cells(nitrogen: bool = False, guide: bool = True):
    fr = fractions([[{"lawn_grass": 0.5, "trees_woodland": 0.5}, {"road": 1.0}, {"herb_rich_grassland": 1.0}, None]])
    nan = np.nan
    r = {
        "green_share": [1.0, 0.0, 1.0, nan],
        "habitat_patch_area": [2.5, 0.0, 10.0, nan],
        "habitat_quality": [0.6, 0.0, nan, nan],
        "guide_species_key_networks": [1.0, 0.0, 5.0, nan],
        "heat_mitigation": [0.415, 0.1, 0.83, nan],
        "runoff_depth": [7.0, 64.0, 0.0, nan],
        "depression_depth": [0.06, 0.0, nan, nan],
        "drought_vulnerability": [0.3, 0.0, 0.5, nan],
        "light_proxy": [0.2, 0.9, 1.0, nan],
        "noise_road_proxy": [53.5, 70.0, 30.0, nan],
        "cooling_capacity": [0.0, 0.0, 0.0, nan],  # not in the table with a weight: ignored
    }
    if nitrogen:
        r["nitrogen_exceedance"] = [465.0, nan, nan, nan]
    if not guide:
        del r["guide_species_key_networks"]
    return fr, {k: np.array([v], dtype=np.float32) for k, v in r.items()}


def test_hand_computed_cells():
    fr, rasters = three_cells()
    out = by_name(compute(ctx_for(fr, CELL, rasters)))
    R = out["stress_robustness"].array[0]
    V = out["stress_vulnerability"].array[0]
    S = out["stress_score"].array[0]
    C = out["stress_class"].array[0]

    # Cell A (half lawn, half trees). Weights: size 0.2 green_share + 0.1 patch area, quality 0.25,
    # connectivity 0.2, diversity 0.25.
    size = (0.2 * 1.0 + 0.1 * (2.5 / 5)) / 0.3                 # 0.8333
    div = (2.0 - 1.0) / (4.0 - 1.0)                            # N1 = 2 green classes -> 1/3
    r_a = 0.3 * size + 0.25 * 0.6 + 0.2 * (1 / 5) + 0.25 * div  # 0.523333
    # sensitivities (table): heat (0.6 + 0.3)/2, flooding (0.5 + 0.4)/2, disturbance (0.3 + 0.8)/2
    heat = (1 - 0.415 / 0.83) * 0.45                           # 0.5 * 0.45 = 0.225
    flood = (0.05 * (7 / 70) * 0.45 + 0.15 * (0.06 / 0.3) * 0.45) / 0.2   # 0.07875
    drought = 0.3                                              # contains its sensitivity: used as is
    dist = (0.1 * 0.2 * 0.55 + 0.1 * ((53.5 - 42) / 23) * 0.55) / 0.2     # 0.1925
    v_a = (heat + flood + drought + dist) / 4                  # nitrogen missing: 4 pressures of 0.2 each
    assert R[0] == pytest.approx(r_a, abs=1e-6) and r_a == pytest.approx(0.5233333, abs=1e-6)
    assert V[0] == pytest.approx(v_a, abs=1e-6) and v_a == pytest.approx(0.1990625, abs=1e-7)
    assert S[0] == pytest.approx(r_a * (1 - v_a), abs=1e-6)   # 0.41916 -> class 3
    assert C[0] == 3

    # Cell B (road): nothing robust (N1 = 1 -> 0), sensitivities 0 -> V = 0, S = 0, class 1
    assert (R[1], V[1], S[1], C[1]) == (pytest.approx(0.0), pytest.approx(0.0), pytest.approx(0.0), 1)

    # Cell C (herb-rich grassland): habitat_quality NaN -> the quality aspect left out
    r_c = (0.3 * 1.0 + 0.2 * 1.0 + 0.25 * 0.0) / 0.75          # patch 10 ha clipped to 1; N1 = 1
    # heat 0 (HM 0.83); flooding: runoff 0 only (depression NaN); drought 0.5; light 1 * 0.7, noise below 42 -> 0
    v_c = (0.0 + 0.0 + 0.5 + (0.1 * 0.7 + 0.1 * 0.0) / 0.2) / 4  # 0.2125
    assert R[2] == pytest.approx(r_c, abs=1e-6)
    assert V[2] == pytest.approx(v_c, abs=1e-6)
    assert S[2] == pytest.approx(r_c * (1 - v_c), abs=1e-6) and C[2] == 3   # 0.525

    # outside the area: NaN everywhere
    assert all(np.isnan(out[n].array[0, 3]) for n in ("stress_robustness", "stress_vulnerability",
                                                      "stress_score", "stress_class"))
    # the diversity raster is exported; the notes name the missing nitrogen indicator
    np.testing.assert_allclose(out["stress_green_diversity"].array[0, :3], [2, 1, 1], rtol=1e-5)
    assert any("nitrogen_exceedance" in n and "left out" in n for n in out["stress_vulnerability"].notes)
    assert out["stress_class"].categories[0] == (1, "Very vulnerable / Zeer kwetsbaar", "#a50026")
    assert out["stress_class"].palette == "categorical"


def test_present_nitrogen_and_missing_guide_species_change_the_weights():
    fr, rasters = three_cells(nitrogen=True, guide=False)
    out = by_name(compute(ctx_for(fr, CELL, rasters)))
    # nitrogen at cell A: exposure (465 + 70) / (1000 + 70) = 0.5, sensitivity (0.2 + 0.5)/2 = 0.35
    heat, flood, drought, dist = 0.225, 0.07875, 0.3, 0.1925
    v_a = (heat + flood + drought + 0.5 * 0.35 + dist) / 5
    assert out["stress_vulnerability"].array[0, 0] == pytest.approx(v_a, abs=1e-6)
    # nitrogen NaN at cells B and C: left out there (V of C as before)
    assert out["stress_vulnerability"].array[0, 2] == pytest.approx(0.2125, abs=1e-6)
    # no guide-species raster: connectivity aspect left out, the other aspects renormalised (0.8 in all)
    r_a = (0.3 * (0.25 / 0.3) + 0.25 * 0.6 + 0.25 * (1 / 3)) / 0.8   # 0.6041667
    assert out["stress_robustness"].array[0, 0] == pytest.approx(r_a, abs=1e-6)
    notes = " ".join(out["stress_robustness"].notes)
    assert "guide_species_key_networks" in notes and "connectivity" in notes
    # nitrogen has values in 1 of the 3 inside cells: reported
    assert any("nitrogen_exceedance has a value in 33.3%" in n for n in out["stress_vulnerability"].notes)
    status = out["stress_score"].tables["stresstest_indicators"].set_index("indicator")["status"]
    assert status["nitrogen_exceedance"] == "used" and status["guide_species_key_networks"] == "not available"
    assert status["connectivity_current"] == "weight 0"


def test_no_indicators_gives_nan_with_notes():
    fr = fractions([[{"lawn_grass": 1.0}]])
    # green diversity is computed from the land cover, so robustness exists; vulnerability does not
    out = by_name(compute(ctx_for(fr, CELL, {})))
    assert out["stress_robustness"].array[0, 0] == pytest.approx(0.0)   # one green class: N1 = 1 -> 0
    assert np.isnan(out["stress_vulnerability"].array[0, 0]) and np.isnan(out["stress_score"].array[0, 0])
    assert np.isnan(out["stress_class"].array[0, 0])
    assert any("no pressure indicator" in n for n in out["stress_vulnerability"].notes)


def test_raster_of_the_wrong_shape_is_refused():
    fr, rasters = three_cells()
    rasters["green_share"] = np.zeros((2, 2), dtype=np.float32)
    with pytest.raises(InputDataError, match="green_share"):
        compute(ctx_for(fr, CELL, rasters))


def test_dask_equals_numpy():
    rng = np.random.default_rng(7)
    h, w = 24, 29
    raw = rng.random((len(LEGEND.classes), h, w)) ** 3
    raw[0] = 0.0
    fr = (raw / raw.sum(axis=0)).astype(np.float32)
    fr[:, :3, :5] = np.nan  # outside the area
    names = {"green_share": 1, "habitat_patch_area": 8, "habitat_quality": 1, "guide_species_key_networks": 6,
             "heat_mitigation": 1, "runoff_depth": 70, "depression_depth": 0.4, "drought_vulnerability": 1,
             "nitrogen_exceedance": 1500, "light_proxy": 1, "noise_road_proxy": 75}
    rasters = {k: (rng.random((h, w)) * s).astype(np.float32) for k, s in names.items()}
    rasters["nitrogen_exceedance"][rasters["nitrogen_exceedance"] < 700] = np.nan
    ref = by_name(compute(ctx_for(fr, 10.0, rasters)))
    dfr = da.from_array(fr, chunks=(len(LEGEND.classes), 13, 15))
    drs = {k: da.from_array(v, chunks=(13, 15)) for k, v in rasters.items()}
    ctx = ctx_for(dfr, 10.0, drs)
    ctx.inside = da.from_array(ctx.inside, chunks=(13, 15))
    got = by_name(compute(ctx))
    names = ("stress_robustness", "stress_vulnerability", "stress_score", "stress_class", "stress_green_diversity")
    assert all(isinstance(got[n].array, da.Array) for n in names)
    arrays = da.compute(*(got[n].array for n in names))
    for name, arr in zip(names, arrays, strict=True):
        np.testing.assert_allclose(arr, ref[name].array, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=name)
    assert np.isfinite(ref["stress_score"].array).sum() > 0.9 * (h * w - 15)
    assert set(np.unique(ref["stress_class"].array[np.isfinite(ref["stress_class"].array)])) <= {1, 2, 3, 4, 5}


# -------------------------------------------------------------------------------------------------
# classes
# -------------------------------------------------------------------------------------------------

def test_classes_at_the_exact_bounds():
    # default bounds 0 / 0.2 / 0.4 / 0.6 / 0.8; a bound belongs to the class above it; 1.0 is class 5
    v = np.array([0.0, 0.19999999, 0.2, 0.39999, 0.4, 0.6, 0.79999, 0.8, 1.0, np.nan])
    np.testing.assert_array_equal(classify(v), [1, 1, 2, 2, 3, 4, 4, 5, 5, np.nan])
    # unit means as a pandas Series and a list
    np.testing.assert_array_equal(classify(pd.Series([0.55, 0.61])), [3, 4])
    np.testing.assert_array_equal(classify([0.05]), [1])
    # dask
    np.testing.assert_array_equal(classify(da.from_array(v, chunks=4)).compute(), classify(v))
    with pytest.raises(InputDataError, match="outside 0-1"):
        classify(np.array([0.5, 1.2]))
    with pytest.raises(InputDataError):
        classify(np.array(["a", "b"]))
    with pytest.raises(InputDataError):
        classify({"a": 1})


def test_classes_follow_an_area_table(tmp_path):
    d = table_copy(tmp_path, "stresstest_classes.csv", "\n2,Vulnerable,Kwetsbaar,0.2,", "\n2,Vulnerable,Kwetsbaar,0.3,")
    classes = load_classes(d)
    np.testing.assert_array_equal(classify(np.array([0.25, 0.3]), classes), [1, 2])


def test_palettes():
    default, cb = palette(), palette(cb=True)
    assert default[0] == "#a50026" and default[-1] == "#006837" and len(default) == 5
    assert cb != default and len(set(cb)) == 5

    def srgb_to_linear(h: str) -> np.ndarray:
        c = np.array([int(h[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
        return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)

    def lab(lin: np.ndarray) -> np.ndarray:
        # IEC 61966-2-1 sRGB -> XYZ (D65), then CIE 1976 L*a*b*
        m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
        t = (m @ lin) / np.array([0.95047, 1.0, 1.08883])
        f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])

    # sanity of the formulas: white L* 100, black 0, mid grey #777777 L* ~ 50
    assert lab(srgb_to_linear("#ffffff"))[0] == pytest.approx(100, abs=0.05)
    assert lab(srgb_to_linear("#000000"))[0] == pytest.approx(0, abs=1e-9)
    assert lab(srgb_to_linear("#777777"))[0] == pytest.approx(50.0, abs=0.5)

    for pal in (default, cb):
        L = [lab(srgb_to_linear(h))[0] for h in pal]
        # diverging: lightness rises monotonically from each end to the middle class, so contrast with the
        # light middle grows monotonically towards both extremes
        assert L[0] < L[1] < L[2] and L[2] > L[3] > L[4], L

    def hue(h: str) -> float:
        c = lab(srgb_to_linear(h))
        return math.degrees(math.atan2(c[2], c[1])) % 360

    # default ends: red (hue < 45 deg) and green (100-200 deg); the colour-blind ends must not be that pair
    assert hue(default[0]) < 45 and 100 < hue(default[-1]) < 200
    assert not (hue(cb[0]) < 45 and 100 < hue(cb[-1]) < 200)

    # simulated deuteranopia and protanopia (Machado, Oliveira & Fernandes 2009, severity 1.0, linear RGB)
    deut = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]])
    prot = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                     [-0.003882, -0.048116, 1.051998]])
    for m in (deut, prot):
        def sim(pal, m=m):
            return [lab(np.clip(m @ srgb_to_linear(h), 0, 1)) for h in pal]

        s_def, s_cb = sim(default), sim(cb)
        de_cb = [np.linalg.norm(s_cb[i] - s_cb[j]) for i in range(5) for j in range(i + 1, 5)]
        de_def = [np.linalg.norm(s_def[i] - s_def[j]) for i in range(5) for j in range(i + 1, 5)]
        # every pair of classes stays distinguishable (CIE76 dE > 15) and better than the default's worst pair
        assert min(de_cb) > 15 and min(de_cb) > min(de_def)
        # the two ends: clearly apart for the colour-blind palette, close for red/green
        assert np.linalg.norm(s_cb[0] - s_cb[4]) > 3 * np.linalg.norm(s_def[0] - s_def[4])


# -------------------------------------------------------------------------------------------------
# bad tables
# -------------------------------------------------------------------------------------------------

def test_default_tables_load():
    rows = load_indicators()
    for comp in ("robustness", "vulnerability"):
        assert math.fsum(r.weight for r in rows if r.component == comp) == pytest.approx(1.0)
    assert {r.aspect for r in rows if r.component == "vulnerability" and r.weight > 0} == {
        "heat", "flooding", "drought", "nitrogen", "disturbance"}
    assert set(load_sensitivity(legend=LEGEND).values) == set(LEGEND.keys) - {"unknown"}


@pytest.mark.parametrize("old,new,match", [
    ("green_share,robustness,size,0.20,", "green_share,robustness,size,0.30,", "add up to"),
    ("light_proxy,", "light_pollution,", "unknown indicator"),
    ("habitat_quality,robustness,quality,", "habitat_quality,robustness,heat,", "does not belong"),
    ("runoff_depth,vulnerability,flooding,0.05,bad_high,0,70,", "runoff_depth,vulnerability,flooding,0.05,bad_high,70,0,",
     "larger than lo"),
    ("light_proxy,vulnerability,disturbance,0.10,bad_high,0,1,index 0-1,1,", "light_proxy,vulnerability,disturbance,"
     "0.10,upwards,0,1,index 0-1,1,", "direction"),
    ("heat_mitigation,vulnerability,heat,0.20,good_high,0,0.83,index 0-1,1,,P,",
     "heat_mitigation,vulnerability,heat,0.20,good_high,0,0.83,index 0-1,1,,X,", "ev must be"),
])
def test_bad_indicator_table(tmp_path, old, new, match):
    d = table_copy(tmp_path, "stresstest_indicators.csv", old, new)
    with pytest.raises(ConfigError, match=match):
        load_indicators(d)
    fr, rasters = three_cells()
    with pytest.raises(ConfigError, match=match):
        compute(ctx_for(fr, CELL, rasters, params_dir=d))


@pytest.mark.parametrize("old,new,match", [
    ("\nshrub,", "\nscrubland,", "unknown land-cover class"),
    ("\nroad,0.0,0.0,", "\nroad,1.5,0.0,", "outside"),
    ("\nrail,0.05,0.0,", "\nrail,high,0.0,", "not a number"),
])
def test_bad_sensitivity_table(tmp_path, old, new, match):
    d = table_copy(tmp_path, "stresstest_sensitivity.csv", old, new)
    with pytest.raises(ConfigError, match=match):
        load_sensitivity(d, LEGEND)


@pytest.mark.parametrize("old,new,match", [
    ("#a6d96a", "green", "not a hex colour"),
    ("#0072b2", "#0072b", "not a hex colour"),
    ("\n3,Moderate,Matig,0.4,", "\n3,Moderate,Matig,0.1,", "must be above"),
    ("\n1,Very vulnerable,Zeer kwetsbaar,0.0,", "\n1,Very vulnerable,Zeer kwetsbaar,0.1,", "must be 0"),
    ("\n4,Robust,", "\n7,Robust,", "out of order"),
])
def test_bad_classes_table(tmp_path, old, new, match):
    d = table_copy(tmp_path, "stresstest_classes.csv", old, new)
    with pytest.raises(ConfigError, match=match):
        load_classes(d)
