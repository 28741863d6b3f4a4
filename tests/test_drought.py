"""Drought vulnerability of vegetation: hand-computed sensitivity x exposure, and the proxy."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from biostress.errors import ConfigError
from biostress.grid import Grid
from biostress.indicators import drought
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend

LEGEND = load_legend()


def fractions(cells: list[list[dict[str, float]]]) -> np.ndarray:
    h, w = len(cells), len(cells[0])
    fr = np.zeros((len(LEGEND.classes), h, w), dtype=np.float32)
    for r in range(h):
        for c in range(w):
            for k, v in cells[r][c].items():
                fr[LEGEND.keys.index(k), r, c] = v
    return fr


def ctx_for(fr: np.ndarray, cell: float, rasters: dict | None = None) -> IndicatorContext:
    h, w = fr.shape[1:]
    dominant = np.where(np.isnan(fr[0]), 255, 1).astype(np.uint8)
    inside = np.nan_to_num(fr).sum(axis=0).astype(np.float32)
    return IndicatorContext(Grid("EPSG:28992", 0.0, h * cell, cell, w, h), LEGEND, fr, dominant, inside,
                            rasters=rasters or {})


def test_sensitivity_is_cover_weighted_over_known_cover():
    params = drought.load_params(legend=LEGEND)
    fr = fractions([[{"lawn_grass": 0.5, "road": 0.5}, {"lawn_grass": 0.3, "unknown": 0.7}, {"unknown": 1.0}]])
    s, known, missing = drought.vegetation_sensitivity(fr, LEGEND, params)
    # lawn 0.6, road 0: 0.5*0.6 = 0.3 ; unknown left out: 0.3*0.6/0.3 = 0.6
    np.testing.assert_allclose(s[0, :2], [0.3, 0.6], rtol=1e-6)
    assert np.isnan(s[0, 2]) and missing == []


def test_groundwater_classes_and_exposure():
    params = drought.load_params(legend=LEGEND)
    depth = np.array([30.0, 79.9, 80.0, 150.0, 200.0, np.nan])
    np.testing.assert_array_equal(drought.groundwater_class(depth, params.classes)[:5], [1, 2, 3, 4, 5])
    e = drought.groundwater_exposure(depth, params.classes)
    np.testing.assert_allclose(e[:5], [0.0, 0.1, 0.3, 0.7, 1.0])
    assert np.isnan(e[5])


def test_soil_moisture_exposure_fao56():
    # Ks = theta / (1 - p): p = 0.5 -> theta 0.25 gives Ks 0.5; theta >= 0.5 no stress
    np.testing.assert_allclose(drought.soil_moisture_exposure(np.array([0.8, 0.5, 0.25, 0.1, 0.0]), 0.5),
                               [0.0, 0.0, 0.5, 0.8, 1.0])
    np.testing.assert_allclose(drought.soil_moisture_exposure(np.array([0.3]), 0.4), [0.5])


def test_vulnerability_from_glg_by_hand():
    fr = fractions([[{"lawn_grass": 1.0}, {"trees_woodland": 0.5, "building": 0.5}, {"road": 1.0}]])
    glg = np.array([[1.5, 0.6, 2.5]])  # metres below surface
    ctx = ctx_for(fr, 10.0, {"glg": glg})
    import pandas as pd

    base = drought.load_params(legend=LEGEND)
    params = drought.DroughtParams(base.sensitivity, base.classes, 100.0, 0.5, 100.0, pd.DataFrame())
    s, _, _ = drought.vegetation_sensitivity(ctx.fractions, LEGEND, params)
    v = drought.drought_vulnerability(s, drought.groundwater_exposure(glg * 100.0, params.classes))
    # lawn 0.6 x class 120-180 (0.7) = 0.42 ; 0.5*0.5 trees = 0.25 x class 50-80 (0.1) = 0.025 ; road 0
    np.testing.assert_allclose(v[0], [0.42, 0.025, 0.0], rtol=1e-6)


def test_compute_with_glg_and_soil_moisture(tmp_path: Path):
    fr = fractions([[{"lawn_grass": 1.0}, {"lawn_grass": 1.0}]])
    glg = np.array([[1.5, 0.4]])  # m below surface (the configuration's unit)
    sm = np.array([[1.0, 0.25]])
    res = drought.compute(ctx_for(fr, 10.0, {"glg": glg, "soil_moisture": sm}))
    assert [r.name for r in res] == ["drought_vulnerability", "groundwater_class"]
    assert res[0].proxy is False
    # max(0.7, 0) * 0.6 = 0.42 ; max(0.0, 0.5) * 0.6 = 0.3
    np.testing.assert_allclose(res[0].array[0], [0.42, 0.3], rtol=1e-6)
    np.testing.assert_array_equal(res[1].array[0], [4, 1])
    assert res[1].palette == "categorical" and len(res[1].categories) == 5


def test_proxy_by_hand():
    # 100 m cells, 100 m radius: the disc is the cell and its 4 edge neighbours
    fr = fractions([
        [{"lawn_grass": 1.0}, {"road": 1.0}, {"lawn_grass": 1.0}],
        [{"lawn_grass": 1.0}, {"lawn_grass": 1.0}, {"lawn_grass": 1.0}],
        [{"lawn_grass": 1.0}, {"building": 1.0}, {"unknown": 1.0}],
    ])
    e = drought.impervious_surroundings(fr, LEGEND, 100.0, 100.0)
    assert e[1, 1] == pytest.approx(2 / 5)  # road (N) and building (S) among 5 cells
    assert e[2, 2] == pytest.approx(1 / 2)  # unknown left out: itself (no cover), W building, N lawn
    res = drought.compute(ctx_for(fr, 100.0))
    assert res[0].proxy is True and len(res) == 1
    assert any(n.startswith("PROXY") for n in res[0].notes)
    assert res[0].array[1, 1] == pytest.approx(0.6 * 0.4, rel=1e-6)
    assert np.isnan(res[0].array[2, 2])  # no known cover: no sensitivity


def test_only_ghg_is_not_used():
    fr = fractions([[{"lawn_grass": 1.0}]])
    res = drought.compute(ctx_for(fr, 10.0, {"ghg": np.array([[0.3]])}))
    assert res[0].proxy is True
    assert any("ghg" in n for n in res[0].notes)


def test_proxy_chunked_equals_in_memory():
    rng = np.random.default_rng(2)
    n = len(LEGEND.classes)
    fr = rng.dirichlet(np.ones(n) * 0.5, size=(50, 60)).transpose(2, 0, 1).astype(np.float32)
    mem = drought.impervious_surroundings(fr, LEGEND, 10.0, 100.0)
    lazy = drought.impervious_surroundings(da.from_array(fr, chunks=(n, 13, 17)), LEGEND, 10.0, 100.0)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), mem, rtol=1e-6, atol=1e-9)


def test_class_table_is_validated(tmp_path: Path):
    text = drought.params_path(drought.CLASSES_FILE).read_text(encoding="utf-8")
    (tmp_path / drought.CLASSES_FILE).write_text(text.replace(",80,120,0.3,", ",90,120,0.3,"), encoding="utf-8")
    with pytest.raises(ConfigError, match="contiguous"):
        drought.load_params(tmp_path, LEGEND)
    text = drought.params_path(drought.SENSITIVITY_FILE).read_text(encoding="utf-8")
    (tmp_path / drought.CLASSES_FILE).unlink()
    (tmp_path / drought.SENSITIVITY_FILE).write_text(text.replace("lawn_grass,0.6", "lawn_grass,1.6"), encoding="utf-8")
    with pytest.raises(ConfigError, match="sensitivity"):
        drought.load_params(tmp_path, LEGEND)
