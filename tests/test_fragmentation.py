"""Fragmentation metrics against pylandstats, hand-computed values and known properties.

pylandstats conventions matched in the comparison (pylandstats 3.x, ``Landscape(arr, res=(c, c),
nodata=255, neighborhood_rule="8")``, class ``1`` = habitat):

* landscape area ``A`` = all cells that are not nodata (habitat or not), in m2;
* ``effective_mesh_size(class_val=1)`` = sum a_i^2 / A / 10_000 -> hectares (``hectares=True``);
* ``number_of_patches`` with the 8-neighbour rule (``scipy.ndimage.label`` with a 3 x 3 structure);
* ``largest_patch_index`` in percent of ``A``;
* ``edge_density(class_val=1)`` = total edge / A * 10_000 (m/ha), with ``count_boundary=False``:
  only cell sides between habitat and a *non-nodata* non-habitat cell count, 4-neighbour sides;
* ``area_mn`` = mean patch area in hectares.

Per unit, pylandstats runs on the raster with everything outside the unit set to nodata, which is
the CUT procedure (patches cut at the unit boundary).
"""

from __future__ import annotations

import dask.array as da
import geopandas as gpd
import numpy as np
import pytest
import shapely
from pylandstats import Landscape

from biostress.errors import ConfigError, InputDataError
from biostress.grid import Grid
from biostress.indicators import fragmentation as F
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend

LEGEND = load_legend()


def _random_case(seed: int = 0, shape=(64, 75), p: float = 0.45):
    rng = np.random.default_rng(seed)
    hab = rng.random(shape) < p
    uid = np.zeros(shape, dtype=np.int64)
    h, w = shape
    uid[: h // 2, : w // 2] = 1
    uid[: h // 2, w // 2:] = 2
    uid[h // 2:, :] = 3
    uid[h - 6:, w - 9:] = 0  # cells in no unit (outside the area)
    hab &= uid > 0
    return hab, uid


def _pls(hab: np.ndarray, valid: np.ndarray, cell: float) -> dict[str, float]:
    arr = np.where(valid, hab.astype(np.uint8), 255).astype(np.uint8)
    ls = Landscape(arr, res=(cell, cell), nodata=255, neighborhood_rule="8")
    return {"meff_cut_ha": ls.effective_mesh_size(class_val=1), "n_patches": ls.number_of_patches(class_val=1),
            "lpi_pct": ls.largest_patch_index(class_val=1), "ed_m_per_ha": ls.edge_density(class_val=1),
            "area_mn_ha": ls.area_mn(class_val=1)}


@pytest.mark.parametrize("seed,cell", [(0, 10.0), (1, 25.0), (2, 2.5)])
def test_whole_area_matches_pylandstats(seed, cell):
    hab, uid = _random_case(seed)
    got = F.landscape_metrics(hab, uid > 0, cell)
    ref = _pls(hab, uid > 0, cell)
    for k, v in ref.items():
        assert got[k] == pytest.approx(v, rel=1e-9), k
    assert got["area_ha"] == pytest.approx((uid > 0).sum() * cell * cell / 1e4)


def test_per_unit_cut_matches_pylandstats_per_unit():
    hab, uid = _random_case(5)
    df = F.patch_metrics_per_unit(hab, uid, 10.0)
    assert list(df.index) == [1, 2, 3]
    for u in (1, 2, 3):
        ref = _pls(hab, uid == u, 10.0)
        for k, v in ref.items():
            assert df.loc[u, k] == pytest.approx(v, rel=1e-9), (u, k)


def test_hand_computed_cut_and_cbc():
    # 10 m cells (1 are = 100 m2). Two units side by side (columns 0-2 and 3-5).
    # Patch P spans both units: 2 cells in unit 1, 4 cells in unit 2 (6 cells = 600 m2 complete).
    # Patch Q: 1 cell in unit 1. Patch R: 2 cells in unit 2, cut into two pieces by... no: one piece.
    hab = np.array([
        [0, 1, 1, 1, 1, 0],
        [0, 0, 0, 1, 1, 0],
        [1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 1],
    ], dtype=bool)
    uid = np.array([[1, 1, 1, 2, 2, 2]] * 4)
    df = F.patch_metrics_per_unit(hab, uid, 10.0)
    a_unit = 12 * 100.0  # m2
    # unit 1: pieces 200 (P part) and 100 (Q) -> CUT = (200^2 + 100^2) / 1200 m2
    # CBC = (200 * 600 + 100 * 100) / 1200
    assert df.loc[1, "meff_cut_ha"] == pytest.approx((200**2 + 100**2) / a_unit / 1e4)
    assert df.loc[1, "meff_cbc_ha"] == pytest.approx((200 * 600 + 100 * 100) / a_unit / 1e4)
    # unit 2: P part 400, R 200 -> CUT = (400^2 + 200^2)/1200, CBC = (400*600 + 200*200)/1200
    assert df.loc[2, "meff_cut_ha"] == pytest.approx((400**2 + 200**2) / a_unit / 1e4)
    assert df.loc[2, "meff_cbc_ha"] == pytest.approx((400 * 600 + 200 * 200) / a_unit / 1e4)
    assert list(df["n_patches"]) == [2, 2]
    assert df.loc[1, "lpi_pct"] == pytest.approx(100 * 200 / 1200)
    # edges of unit 1 (cell sides between habitat and non-habitat inside unit 1, 10 m each):
    # (0,1): left (0,0), below (1,1) -> 2; (0,2): below (1,2) -> 1 (its right side is the unit edge);
    # (2,0): above (1,0), right (2,1), below (3,0) -> 3. Total 6 sides = 60 m.
    assert df.loc[1, "te_m"] == pytest.approx(60.0)
    assert df.loc[1, "ed_m_per_ha"] == pytest.approx(60.0 / a_unit * 1e4)
    # whole area: P 600, Q 100, R 200 over 2400 m2
    whole = F.landscape_metrics(hab, np.ones_like(hab), 10.0)
    assert whole["meff_cut_ha"] == pytest.approx((600**2 + 100**2 + 200**2) / 2400 / 1e4)
    assert F.effective_mesh_size([600, 100, 200], 2400) == pytest.approx((600**2 + 100**2 + 200**2) / 2400)


def test_cbc_is_area_additive_and_equals_mean_of_patch_area_raster():
    hab, uid = _random_case(7, p=0.5)
    df = F.patch_metrics_per_unit(hab, uid, 10.0)
    whole = F.landscape_metrics(hab, uid > 0, 10.0)
    # Moser et al. 2007: A_total * m_eff(total) = sum_units A_unit * m_eff^CBC(unit); CUT is smaller
    assert (df["area_ha"] * df["meff_cbc_ha"]).sum() / df["area_ha"].sum() == pytest.approx(whole["meff_cbc_ha"])
    assert whole["meff_cbc_ha"] == pytest.approx(whole["meff_cut_ha"])
    assert (df["meff_cut_ha"] <= df["meff_cbc_ha"] + 1e-12).all()
    assert (df["area_ha"] * df["meff_cut_ha"]).sum() / df["area_ha"].sum() < whole["meff_cut_ha"]
    pa = F.patch_area_raster(hab, 10.0, uid > 0)
    for u in (1, 2, 3):
        assert float(np.nanmean(np.where(uid == u, pa, np.nan))) == pytest.approx(df.loc[u, "meff_cbc_ha"], rel=1e-6)
    assert np.isnan(pa[uid == 0]).all()


def test_chunked_equals_in_memory():
    hab, uid = _random_case(11, shape=(83, 91), p=0.5)
    dh, du = da.from_array(hab, chunks=(20, 17)), da.from_array(uid, chunks=(20, 17))
    a = F.patch_metrics_per_unit(hab, uid, 10.0)
    b = F.patch_metrics_per_unit(dh, du, 10.0)
    np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(F.patch_area_raster(hab, 10.0, uid > 0),
                                  F.patch_area_raster(dh, 10.0, du > 0).compute())
    # the same regions: equal label <=> equal label, cell by cell
    la, na = F.label_zones(np.where(hab, uid, 0))
    lb, nb = F.label_zones(da.where(dh, du, 0))
    lb = lb.compute()
    assert na == nb
    pairs = np.unique(np.stack([la.ravel(), lb.ravel()]), axis=1)
    assert pairs.shape[1] == na + 1  # a one-to-one correspondence of labels (and background)


def test_chunked_labelling_joins_across_chunk_corners():
    # a diagonal line crossing chunk corners is one 8-connected patch, and 4-connected it is many
    hab = np.eye(12, dtype=bool)
    for conn, n in ((8, 1), (4, 12)):
        lab, k = F.label_zones(da.from_array(hab, chunks=3), connectivity=conn)
        assert k == n
        assert len(np.unique(lab.compute()[hab])) == n


def test_rasterize_units_chunked_and_cell_centres():
    grid = Grid.from_bounds((0, 0, 100, 60), 10, "EPSG:28992")
    units = gpd.GeoDataFrame({"code": ["a", "b"]},
                             geometry=[shapely.box(0, 0, 46, 60), shapely.box(46, 0, 100, 60)], crs=grid.crs)
    ids = F.rasterize_units(units, grid)
    # columns 0-3 (centres 5..35) in a, column 4 (centre 45) in a, 5.. in b
    assert (ids[:, :5] == 1).all() and (ids[:, 5:] == 2).all()
    np.testing.assert_array_equal(ids, F.rasterize_units(units, grid, chunks=(4, 3)).compute())


# --------------------------------------------------------------------------------------------------
# CBI indicator 2


def _cbi_case():
    nat = np.zeros((20, 60), bool)
    bar = np.zeros_like(nat)
    nat[5:10, 0:5] = True  # A: 25 cells
    nat[5:10, 14:19] = True  # B: gap of 9 cells (90 m) to A -> connected
    nat[5:10, 29:34] = True  # C: gap of 10 cells (100 m) to B -> not connected (rule is "< 100 m")
    nat[5:10, 40:45] = True  # D: 6 cells from C, but a barrier line between them
    bar[:, 37] = True
    return nat, bar


def test_cbi_gap_rule_and_barrier_hand_computed():
    nat, bar = _cbi_case()
    r = F.cbi_connectivity(nat, bar, 10.0, gap_m=100.0)
    # groups: {A, B} 0.5 ha, C 0.25 ha, D 0.25 ha; A_total = 1.0 ha
    assert r.n_patches == 4 and r.n_groups == 3
    assert r.meff_ha == pytest.approx((0.5**2 + 0.25**2 + 0.25**2) / 1.0)
    assert r.natural_ha == pytest.approx(1.0)
    assert sorted(r.groups["area_ha"]) == pytest.approx([0.25, 0.25, 0.5])
    assert r.group_area[7, 2] == pytest.approx(0.5) and r.group_area[7, 16] == pytest.approx(0.5)
    assert np.isnan(r.group_area[0, 0])
    # without the barrier C and D join; with a 101 m rule B and C join too
    assert F.cbi_connectivity(nat, np.zeros_like(bar), 10.0, 100.0).n_groups == 2
    assert F.cbi_connectivity(nat, bar, 10.0, 101.0).n_groups == 2
    # a barrier with a hole: the path around through the hole is longer than 100 m here -> still separate
    bar2 = bar.copy()
    bar2[0, 37] = False
    assert F.cbi_connectivity(nat, bar2, 10.0, 100.0).n_groups == 3
    # ... but a hole right between them lets them connect (gap through the hole is 6 cells)
    bar3 = bar.copy()
    bar3[7, 37] = False
    assert F.cbi_connectivity(nat, bar3, 10.0, 100.0).n_groups == 2
    # minimum patch size drops small patches from the natural area entirely
    nat4 = nat.copy()
    nat4[15, 50] = True  # a 1-cell patch (100 m2)
    r4 = F.cbi_connectivity(nat4, bar, 10.0, 100.0, min_patch_m2=1000)
    assert r4.n_patches == 4 and r4.natural_ha == pytest.approx(1.0) and np.isnan(r4.group_area[15, 50])


def test_cbi_diagonal_barrier_cannot_be_squeezed_through():
    nat = np.zeros((12, 12), bool)
    nat[0:3, 0:3] = True
    nat[9:12, 9:12] = True
    bar = np.fliplr(np.eye(12, dtype=bool))  # a 1-cell diagonal line between the two patches
    assert F.cbi_connectivity(nat, bar, 10.0, 100.0).n_groups == 2
    # without it they are 6 cells apart diagonally (centre path 7*sqrt(2)*10 - 10 = 89 m) -> connected
    assert F.cbi_connectivity(nat, np.zeros_like(bar), 10.0, 100.0).n_groups == 1


def test_cbi_chunked_equals_in_memory():
    rng = np.random.default_rng(4)
    nat = ndimage_blobs(rng, (70, 90))
    bar = (rng.random((70, 90)) < 0.08) & ~nat
    a = F.cbi_connectivity(nat, bar, 10.0, 100.0)
    b = F.cbi_connectivity(da.from_array(nat, chunks=(23, 19)), da.from_array(bar, chunks=(23, 19)), 10.0, 100.0)
    assert (a.n_groups, a.n_patches) == (b.n_groups, b.n_patches)
    assert a.meff_ha == pytest.approx(b.meff_ha, rel=1e-12)
    np.testing.assert_array_equal(a.group_area, np.asarray(b.group_area))
    # chunks thinner than the halo (merged internally) and a single chunk across
    c = F.cbi_connectivity(da.from_array(nat, chunks=(5, 90)), da.from_array(bar, chunks=(5, 90)), 10.0, 100.0)
    assert c.n_groups == a.n_groups and c.meff_ha == pytest.approx(a.meff_ha, rel=1e-12)
    assert F._merge_thin((5,) * 14, 12) == (15, 15, 15, 25)


def ndimage_blobs(rng: np.random.Generator, shape) -> np.ndarray:
    from scipy import ndimage

    return ndimage.uniform_filter(rng.random(shape), 5) > 0.56


def test_geodesic_distance_around_a_wall_and_chunked():
    # source at (0, 0); a wall in column 2 except at row 4: the way to (0, 4) goes down and up again
    src = np.zeros((6, 6), np.int64)
    src[0, 0] = 7
    passable = np.ones((6, 6), bool)
    passable[:4, 2] = False
    dist, lab = F.geodesic_nearest(src, passable, 10.0, 200.0)
    # shortest path by hand: (0,0) -> (3,1): 2 straight + 1 diagonal step = 20 + 14.14 m;
    # (3,1) -> (4,2) -> (3,3): 2 diagonal steps through the gap (allowed: of the two corner cells of each
    # step, (4,1) and (4,3) are open) = 28.28 m; (3,3) -> (0,3): 3 straight = 30 m. Total 92.43 m.
    assert dist[0, 3] == pytest.approx(20 + 10 * 2**0.5 + 20 * 2**0.5 + 30, abs=1e-9)
    assert lab[0, 3] == 7 and dist[0, 0] == 0 and np.isinf(dist[0, 2])
    d2, l2 = F.geodesic_nearest(da.from_array(src, chunks=2), da.from_array(passable, chunks=2), 10.0, 200.0)
    np.testing.assert_array_equal(dist, d2.compute())
    np.testing.assert_array_equal(lab, l2.compute())


def test_cbi_score():
    th = (200, 500, 1000, 1500)
    assert [F.cbi_score(v, th) for v in (0, 200, 200.1, 500, 999, 1200, 1501)] == [0, 0, 1, 1, 2, 3, 4]
    assert F.cbi_score(float("nan"), th) is None


def test_barrier_width_rule_from_fractions():
    # Roads along columns on a 10 m grid: cover fraction per column across the road.
    cell = 10.0

    def road(profile):
        share = np.zeros((9, 11))
        share[:, 3:3 + len(profile)] = profile
        return share

    wide = road([0.25, 1.0, 0.25])  # 15 m road centred on a cell
    straddling = road([0.75, 0.75])  # 15 m road on a cell edge
    narrow = road([0.2, 1.0, 0.2])  # 14 m
    small = road([1.0])  # 10 m
    assert F.barrier_mask(wide, cell, 15.0, 0.5)[4, 4]
    assert F.barrier_mask(straddling, cell, 15.0, 0.5)[4, 3:5].all()
    assert not F.barrier_mask(narrow, cell, 15.0, 0.5).any()
    assert not F.barrier_mask(small, cell, 15.0, 0.5).any()
    # width 0 disables the rule
    assert F.barrier_mask(small, cell, 0.0, 0.5)[:, 3].all()
    np.testing.assert_array_equal(F.barrier_mask(wide, cell, 15.0, 0.5),
                                  F.barrier_mask(da.from_array(wide, chunks=4), cell, 15.0, 0.5).compute())


# --------------------------------------------------------------------------------------------------
# parameters and the entry point


def test_params_defaults_and_override(tmp_path):
    p = F.load_params(LEGEND)
    assert "trees_woodland" in p.habitat and "road" in p.cbi_barrier and "lawn_grass" not in p.cbi_natural
    assert p.gap_m == 100 and p.barrier_min_width_m == 15 and p.score_thresholds_ha == (200, 500, 1000, 1500)
    (tmp_path / "fragmentation_classes.csv").write_text(
        "key,habitat,cbi_natural,cbi_barrier,ev,source,note\nlawn_grass,1,1,0,V,own survey,\n", encoding="utf-8")
    own = F.load_params(LEGEND, tmp_path)
    assert own.habitat == ("lawn_grass",) and own.cbi_natural == ("lawn_grass",) and own.cbi_barrier == ()
    assert own.notes and "not in fragmentation_classes.csv" in own.notes[0]
    assert own.gap_m == 100  # the yaml still comes from the built-in file


@pytest.mark.parametrize("text,match", [
    ("key,habitat,cbi_natural,cbi_barrier,ev,source\nforest,1,1,0,P,x\n", "Unknown land-cover class"),
    ("key,habitat,cbi_natural,cbi_barrier,ev,source\nshrub,1,1,0,X,x\n", "evidence mark"),
    ("key,habitat,cbi_natural,cbi_barrier,ev,source\nshrub,yes,1,0,P,x\n", "must be 0 or 1"),
    ("key,habitat,cbi_natural,cbi_barrier,ev,source\nroad,0,1,1,P,x\n", "both natural and barrier"),
    ("key,habitat,ev,source\nroad,0,P,x\n", "lacks the column"),
])
def test_bad_class_table(tmp_path, text, match):
    (tmp_path / "fragmentation_classes.csv").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        F.load_params(LEGEND, tmp_path)


def test_bad_params_yaml(tmp_path):
    (tmp_path / "fragmentation_params.yaml").write_text(
        "habitat_min_fraction: {value: 1.5, ev: P, source: x}\ncbi: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        F.load_params(LEGEND, tmp_path)


def test_bad_rasters():
    with pytest.raises(InputDataError):
        F.patch_metrics_per_unit(np.zeros((3, 3), bool), np.zeros((3, 4), int), 10.0)
    with pytest.raises(ConfigError):
        F.label_zones(np.zeros((3, 3), bool), connectivity=6)
    with pytest.raises(InputDataError):
        F.label_zones(np.zeros((2, 3, 3), bool))


def _ctx(chunked: bool = False) -> IndicatorContext:
    """30 x 40 cells of 10 m: woodland blocks, a 20 m wide road across, lawn elsewhere; 2 units."""
    grid = Grid(crs="EPSG:28992", x0=0.0, y1=300.0, cell=10.0, width=40, height=30)
    n = len(LEGEND.classes)
    fr = np.zeros((n, 30, 40), np.float32)
    k = LEGEND.keys.index
    fr[k("lawn_grass")] = 1.0
    for sl in [(slice(2, 10), slice(2, 12)), (slice(2, 10), slice(20, 26)), (slice(18, 28), slice(5, 35))]:
        fr[k("lawn_grass")][sl] = 0.0
        fr[k("trees_woodland")][sl] = 1.0
    fr[:, 13:15, :] = 0.0
    fr[k("road"), 13:15, :] = 1.0
    inside = fr.sum(axis=0)
    dom = np.full((30, 40), 7, np.uint8)
    units = gpd.GeoDataFrame({"code": ["U1", "U2"], "name": ["west", "east"]},
                             geometry=[shapely.box(0, 0, 200, 300), shapely.box(200, 0, 400, 300)], crs=grid.crs)
    if chunked:
        fr, inside = da.from_array(fr, chunks=(-1, 11, 13)), da.from_array(inside, chunks=(11, 13))
    return IndicatorContext(grid, LEGEND, fr, dom, inside, units={"unit": units})


def test_compute_entry_point_and_chunked():
    res = {r.name: r for r in F.compute(_ctx())}
    assert set(res) == {"habitat_patch_area", "fragmentation_habitat", "cbi_connected_natural_area", "cbi_network"}
    layer = res["habitat_patch_area"].layers["fragmentation_unit"]
    assert list(layer["code"]) == ["U1", "U2"]
    # lawn + woodland are both habitat: everything but the road is one patch on each side of the road
    # (north 13 rows x 40 = 520 cells, south 15 x 40 = 600 cells); each unit has 20 columns of it
    assert list(layer["n_patches"]) == [2, 2]
    a_unit = 30 * 20 * 100.0
    want = (13 * 20 * 100 * 520 * 100 + 15 * 20 * 100 * 600 * 100) / a_unit / 1e4
    assert layer["meff_cbc_ha"].tolist() == pytest.approx([want, want])
    # CBI: three woodland blocks; the two northern ones are 8 cells apart -> one group; the road
    # (20 m wide) separates north and south
    tab = res["cbi_connected_natural_area"].tables["cbi_indicator2"].set_index("item")["value"]
    assert tab["n_groups"] == 2 and tab["n_patches"] == 3
    nat_ha = (80 + 48 + 300) * 100 / 1e4
    assert tab["meff_natural_ha"] == pytest.approx((1.28**2 + 3.0**2) / nat_ha)
    assert tab["score_0_4"] == 0
    net = res["cbi_network"].array
    assert (net[13:15, :] == 2).all() and net[5, 5] == 1 and net[0, 0] == 0
    chunked = {r.name: r for r in F.compute(_ctx(chunked=True))}
    for name, r in res.items():
        np.testing.assert_array_equal(np.asarray(r.array), np.asarray(chunked[name].array))
    pd_a = res["habitat_patch_area"].layers["fragmentation_unit"].drop(columns="geometry")
    pd_b = chunked["habitat_patch_area"].layers["fragmentation_unit"].drop(columns="geometry")
    assert pd_a.equals(pd_b)
