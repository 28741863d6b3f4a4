"""Nitrogen: KDW per cell, exceedance and the AERIUS classes, checked against hand-computed values,
the class boundaries of the sources (inclusive or exclusive), the knowledge base and the real
Natura 2000 sites near Dordrecht."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dask.array as da
import geopandas as gpd
import numpy as np
import pytest
import shapely

from biostress.errors import ConfigError, InputDataError
from biostress.grid import Grid
from biostress.indicators import nitrogen as n2
from biostress.indicators.base import IndicatorContext
from biostress.indicators.disturbance import params_path
from biostress.landcover.legend import load_legend

N2000 = Path(__file__).resolve().parents[1] / "examples" / "dordrecht" / "data" / "natura2000_within12km_dordrecht.gpkg"
KB = Path(__file__).resolve().parents[2] / "shared" / "knowledge" / "knowledge-base.md"
LEGEND = load_legend()


def make_ctx(grid: Grid, *, outside: np.ndarray | None = None, chunks: int | None = None, **kw) -> IndicatorContext:
    """All cells 'herb_rich_grassland' (land cover does not matter for nitrogen)."""
    fr = np.zeros((len(LEGEND.keys), *grid.shape), dtype=np.float32)
    fr[LEGEND.keys.index("herb_rich_grassland")] = 1.0
    dom = np.full(grid.shape, LEGEND.by_key("herb_rich_grassland").code, dtype=np.uint8)
    if outside is not None:
        fr[:, outside] = np.nan
        dom[outside] = 255
    inside = np.where(dom == 255, 0.0, 1.0).astype(np.float32)
    if chunks:
        fr, dom, inside = (da.from_array(a, chunks=(-1, chunks, chunks) if a.ndim == 3 else chunks)
                           for a in (fr, dom, inside))
        kw["rasters"] = {k: da.from_array(v, chunks=chunks) for k, v in kw.get("rasters", {}).items()}
    return IndicatorContext(grid, LEGEND, fr, dom, inside, **kw)


def by_name(results):
    return {r.name: r for r in results}


def site(box: tuple[float, float, float, float], code: str, sensitive: bool | None, **extra) -> dict:
    d = {"sitecode_hr": code, "naam": code, "geometry": shapely.box(*box), **extra}
    if sensitive is not None:
        d["stikstofgevoelig"] = sensitive
    return d


# ------------------------------------------------------------------ pure functions

def test_exceedance_hand_computed():
    dep = np.array([1000.0, 2500.0, np.nan, 700.0], dtype=np.float32)
    kdw = np.array([1071.0, 2400.0, 714.0, np.nan], dtype=np.float32)
    out = n2.exceedance(dep, kdw)
    np.testing.assert_array_equal(out[:2], [-71.0, 100.0])
    assert np.isnan(out[2:]).all()


# deposition, expected class, for KDW = 1000 mol. Classes: 1 geen, 2 bijna, 3 lichte, 4 matige, 5 sterke.
BOUNDARY_CASES = [
    (0.0, 1), (929.0, 1),
    (930.0, 1),      # = KDW - 70: 'naderend overbelast' is deposition > KDW - 70 (RIVM 2025-0020)
    (930.01, 2),
    (1000.0, 2),     # = KDW: overbelast is deposition above the KDW
    (1000.01, 3),
    (1070.0, 3),     # = KDW + 70: 'up to 70 mol above the KDW'
    (1070.01, 4),
    (1999.99, 4),    # below 2 x KDW
    (2000.0, 5),     # >= 2 x KDW
    (9000.0, 5),
]


def test_distance_classes_at_the_boundaries():
    classes = n2.load_distance_classes()
    assert [c.key for c in classes] == ["geen_overbelasting", "bijna_overbelast", "lichte_overbelasting",
                                        "matige_overbelasting", "sterke_overbelasting"]
    dep = np.array([d for d, _ in BOUNDARY_CASES])
    got = n2.classify_distance_to_kdw(dep, np.full(dep.shape, 1000.0), classes)
    np.testing.assert_array_equal(got, [c for _, c in BOUNDARY_CASES])


def test_distance_classes_with_a_real_kdw_value():
    # H6230 heischrale graslanden, KDW 714 (VD2012 R): 644 is exactly 70 below, 1428 = 2 x KDW
    classes = n2.load_distance_classes()
    dep = np.array([643.0, 644.0, 645.0, 714.0, 715.0, 784.0, 785.0, 1427.0, 1428.0, np.nan])
    got = n2.classify_distance_to_kdw(dep, np.full(dep.shape, 714.0), classes)
    np.testing.assert_array_equal(got[:-1], [1, 1, 2, 2, 3, 3, 4, 4, 5])
    assert np.isnan(got[-1])


def test_sensitivity_classes_at_the_boundaries():
    classes = n2.load_sensitivity_classes()
    kdw = np.array([429.0, 1399.99, 1400.0, 2399.99, 2400.0, 2429.0, np.nan])
    got = n2.classify_sensitivity(kdw, classes)
    np.testing.assert_array_equal(got[:-1], [1, 1, 2, 2, 3, 3])
    assert np.isnan(got[-1])


def test_classification_chunked_equals_in_memory():
    rng = np.random.default_rng(3)
    dep = rng.uniform(300, 4000, (37, 41))
    kdw = rng.choice([429.0, 714.0, 1071.0, 1429.0, 2400.0, np.nan], size=dep.shape)
    dep[:, :3] = np.round(kdw[:, :3] + 70)  # exact boundaries too
    classes = n2.load_distance_classes()
    a = n2.classify_distance_to_kdw(dep, kdw, classes)
    b = n2.classify_distance_to_kdw(da.from_array(dep, chunks=10), da.from_array(kdw, chunks=10), classes).compute()
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ compute(): sites and missing data

GRID = Grid("EPSG:28992", 100000.0, 401000.0, 100.0, 10, 10)  # 1 x 1 km, 100 m cells


def test_missing_deposition_is_reported_not_invented():
    sites = gpd.GeoDataFrame([site((100000, 400000, 100450, 401000), "NLA", True)], crs="EPSG:28992")
    res = by_name(n2.compute(make_ctx(GRID, layers={"natura2000": sites})))
    assert set(res) == {"nitrogen_kdw", "nitrogen_kdw_basis", "nitrogen_sensitivity"}
    notes = " ".join(res["nitrogen_kdw"].notes)
    assert "No nitrogen deposition raster" in notes
    kdw = res["nitrogen_kdw"].array
    assert np.all(kdw[:, :5] == 2400.0) and np.isnan(kdw[:, 5:]).all()


def test_deposition_gives_exceedance_and_classes():
    sites = gpd.GeoDataFrame([site((100000, 400000, 100450, 401000), "NLA", True)], crs="EPSG:28992")
    dep = np.tile(np.array([2300, 2330, 2331, 2400, 2470, 2471, 4799, 4800, 5000, 100], dtype=np.float32), (10, 1))
    res = by_name(n2.compute(make_ctx(GRID, layers={"natura2000": sites}, rasters={"nitrogen_deposition": dep})))
    exc, cls = res["nitrogen_exceedance"].array, res["nitrogen_kdw_class"].array
    np.testing.assert_array_equal(exc[0, :5], [-100, -70, -69, 0, 70])
    np.testing.assert_array_equal(cls[0, :5], [1, 1, 2, 2, 3])
    assert np.isnan(exc[:, 5:]).all() and np.isnan(cls[:, 5:]).all()  # no habitat there
    table = res["nitrogen_kdw"].tables["nitrogen_sites"]
    row = table.iloc[0]
    assert row["kdw_basis"] == "default_lower_bound" and row["area_with_kdw_ha"] == pytest.approx(50.0)
    assert row["bijna_overbelast_ha"] == pytest.approx(20.0) and row["geen_overbelasting_ha"] == pytest.approx(20.0)
    assert row["mean_exceedance"] == pytest.approx(np.mean([-100, -70, -69, 0, 70]))


def test_not_sensitive_and_unknown_sites_get_no_kdw():
    sites = gpd.GeoDataFrame([site((100000, 400000, 100250, 401000), "NLA", False),
                              site((100320, 400000, 100550, 401000), "NLB", None)], crs="EPSG:28992")
    res = by_name(n2.compute(make_ctx(GRID, layers={"natura2000": sites},
                                      rasters={"nitrogen_deposition": np.full(GRID.shape, 3000.0)})))
    assert np.isnan(res["nitrogen_kdw"].array).all() and np.isnan(res["nitrogen_exceedance"].array).all()
    basis = res["nitrogen_kdw_basis"].array
    assert (basis[:, :3] == n2.BASIS["not_sensitive"][0]).all()
    assert (basis[:, 3:6] == n2.BASIS["unknown"][0]).all()


def test_no_layers_at_all():
    res = by_name(n2.compute(make_ctx(GRID)))
    assert np.isnan(res["nitrogen_kdw"].array).all()
    assert any("No Natura 2000 layer" in n for n in res["nitrogen_kdw"].notes)


def test_outside_the_area_is_nan():
    out = np.zeros(GRID.shape, bool)
    out[0, :] = True
    sites = gpd.GeoDataFrame([site((100000, 400000, 101000, 401000), "NLA", True)], crs="EPSG:28992")
    res = by_name(n2.compute(make_ctx(GRID, outside=out, layers={"natura2000": sites})))
    assert np.isnan(res["nitrogen_kdw"].array[0]).all() and (res["nitrogen_kdw"].array[1:] == 2400).all()


def test_deposition_on_another_grid_is_refused():
    with pytest.raises(InputDataError):
        n2.compute(make_ctx(GRID, rasters={"nitrogen_deposition": np.zeros((3, 3))}))


def test_site_row_and_overlap_take_the_lowest_kdw(tmp_path):
    shutil.copy(params_path(n2.SITES_FILE), tmp_path / n2.SITES_FILE)
    with open(tmp_path / n2.SITES_FILE, "a", encoding="utf-8") as f:
        f.write("NLB,H6230,,site_habitat_type,R,test,most sensitive type\n")
        f.write("nlc,,1500,site_value,R,test,\n")
    sites = gpd.GeoDataFrame([site((100000, 400000, 100550, 401000), "NLA", True),
                              site((100420, 400000, 100780, 401000), "NLB", True),
                              site((100820, 400000, 101000, 401000), "NLC", False)], crs="EPSG:28992")
    res = by_name(n2.compute(make_ctx(GRID, layers={"natura2000": sites}, params_dir=tmp_path)))
    kdw, basis = res["nitrogen_kdw"].array[5], res["nitrogen_kdw_basis"].array[5]
    # all_touched: NLA (x 100000-100550) touches columns 0-5, NLB columns 4-7, NLC columns 8-9;
    # NLC is not N-sensitive in the layer, but its own row gives a KDW
    np.testing.assert_array_equal(kdw, [2400, 2400, 2400, 2400, 714, 714, 714, 714, 1500, 1500])
    np.testing.assert_array_equal(basis, [4, 4, 4, 4, 2, 2, 2, 2, 3, 3])


def test_habitat_map_uses_the_lowest_kdw_of_overlapping_types():
    habitats = gpd.GeoDataFrame({"habitattype": ["H3150", "6230", "ZGH6510A", "L4030"]},
                                geometry=[shapely.box(100000, 400000, 100450, 401000),
                                          shapely.box(100320, 400000, 100680, 401000),
                                          shapely.box(100810, 400000, 100890, 401000),
                                          shapely.box(100910, 400000, 100990, 401000)], crs="EPSG:28992")
    res = by_name(n2.compute(make_ctx(GRID, layers={"habitat_types": habitats})))
    row = res["nitrogen_kdw"].array[5]
    # H3150 2143 in columns 0-4, H6230 714 in columns 3-6 (lower wins), nothing in 7,
    # search area ZGH6510A counts as H6510A (1429) in 8, L4030 has no KDW in the table
    np.testing.assert_array_equal(row[:7], [2143, 2143, 2143, 714, 714, 714, 714])
    assert np.isnan(row[7]) and row[8] == 1429 and np.isnan(row[9])
    assert any("L4030" in n for n in res["nitrogen_kdw"].notes)
    np.testing.assert_array_equal(np.isfinite(res["nitrogen_kdw_basis"].array[5]), np.isfinite(row))
    assert (res["nitrogen_kdw_basis"].array[5, :7] == 1).all()


def test_real_natura2000_sites_near_dordrecht():
    """The Dordtse Biesbosch (N-sensitive in the RVO/PDOK layer) gets the lower-bound default in every
    cell it touches and nowhere else; checked against shapely cell boxes."""
    sites = gpd.read_file(N2000)
    grid = Grid.from_bounds((107000, 418000, 110000, 421000), 50.0, "EPSG:28992")
    res = by_name(n2.compute(make_ctx(grid, layers={"natura2000": sites})))
    kdw = res["nitrogen_kdw"].array
    xs, ys = grid.cell_centers()
    cells = shapely.box(xs[None, :] - 25, ys[:, None] - 25, xs[None, :] + 25, ys[:, None] + 25)
    bies = sites.loc[sites["slug"] == "biesbosch"].geometry.iloc[0]
    touched = shapely.intersects(cells, bies) & ~shapely.touches(cells, bies)
    assert touched.any() and (~touched).any()
    np.testing.assert_array_equal(np.isfinite(kdw), touched)
    assert (kdw[touched] == 2400).all()
    table = res["nitrogen_kdw"].tables["nitrogen_sites"].set_index("site_code")
    assert table.loc["NL3000040", "kdw_basis"] == "default_lower_bound"
    assert table.loc["NL2003021", "kdw_basis"] == "not_sensitive"  # Hollands Diep


def test_chunked_compute_equals_in_memory():
    sites = gpd.GeoDataFrame([site((100000, 400000, 100550, 401000), "NLA", True)], crs="EPSG:28992")
    dep = np.random.default_rng(1).uniform(1500, 5500, GRID.shape).astype(np.float32)
    a = by_name(n2.compute(make_ctx(GRID, layers={"natura2000": sites}, rasters={"nitrogen_deposition": dep})))
    b = by_name(n2.compute(make_ctx(GRID, layers={"natura2000": sites}, rasters={"nitrogen_deposition": dep},
                                    chunks=4)))
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k].array), b[k].array.compute())


# ------------------------------------------------------------------ tables

def _kb_block(title: str) -> str:
    text = KB.read_text(encoding="utf-8")
    start = text.index(title)
    return text[start:].split("```csv", 1)[1].split("```", 1)[0]


@pytest.mark.skipif(not KB.exists(), reason="knowledge base not available")
def test_kdw_table_matches_the_knowledge_base():
    rows = [r.split(",") for r in _kb_block("### 2a.").strip().splitlines()[1:]]
    kb = {r[0]: (float(r[2]), r[4]) for r in rows}
    table = n2.load_kdw_table()
    assert set(table) == set(kb)
    for code, (mol, ev) in kb.items():
        assert table[code].kdw_mol == mol and table[code].ev == ev


@pytest.mark.skipif(not KB.exists(), reason="knowledge base not available")
def test_sensitivity_bounds_match_the_knowledge_base():
    text = KB.read_text(encoding="utf-8")
    assert re.search(r'zeer_gevoelig: "KDW < 1400', text) and re.search(r'gevoelig: "1400 <= KDW < 2400"', text)
    c = n2.load_sensitivity_classes()
    assert (c[0].upper, c[0].upper_inclusive, c[1].lower, c[1].lower_inclusive) == (1400, False, 1400, True)
    assert (c[1].upper, c[1].upper_inclusive, c[2].lower, c[2].lower_inclusive) == (2400, False, 2400, True)
    assert all(x.ev == "V" for x in c)


def _copy_table(tmp_path: Path, name: str, edit) -> Path:
    text = params_path(name).read_text(encoding="utf-8")
    (tmp_path / name).write_text(edit(text), encoding="utf-8")
    return tmp_path


def test_bad_ev_mark_is_refused(tmp_path):
    d = _copy_table(tmp_path, n2.KDW_FILE, lambda t: t.replace(",R,", ",X,", 1))
    with pytest.raises(ConfigError, match="ev must be one of"):
        n2.load_kdw_table(d)


def test_kg_and_mol_must_agree(tmp_path):
    d = _copy_table(tmp_path, n2.KDW_FILE, lambda t: t.replace("H3110,Zeer zwakgebufferde vennen,429,6.0",
                                                               "H3110,Zeer zwakgebufferde vennen,529,6.0"))
    with pytest.raises(ConfigError, match="disagree"):
        n2.load_kdw_table(d)


def test_overlapping_class_bounds_are_refused(tmp_path):
    # make 'bijna' include KDW - 70 as well: both sides of that bound inclusive
    d = _copy_table(tmp_path, n2.DISTANCE_FILE,
                    lambda t: t.replace("Nearly overloaded,1,-70,0,", "Nearly overloaded,1,-70,1,"))
    with pytest.raises(ConfigError, match="exactly one"):
        n2.load_distance_classes(d)


def test_site_table_needs_the_defaults(tmp_path):
    d = _copy_table(tmp_path, n2.SITES_FILE, lambda t: "\n".join(x for x in t.splitlines() if not x.startswith("*unknown")))
    with pytest.raises(ConfigError, match=r"\*unknown"):
        n2.load_site_rules(d)
