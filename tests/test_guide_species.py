"""Guide species: table validation, suitability and penalties by hand, networks that merge or
split exactly at the dispersal distance, the key-population threshold and the limiting-stressor
map; chunked == in-memory."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import yaml
from scipy import ndimage
from scipy.sparse import coo_matrix, csgraph

from biostress.errors import ConfigError
from biostress.grid import Grid
from biostress.indicators import guide_species as gs
from biostress.indicators.base import IndicatorContext
from biostress.landcover.legend import load_legend

LEGEND = load_legend()
KB = Path(__file__).resolve().parents[2] / "shared" / "knowledge" / "knowledge-base.md"
C = 10.0


def make_ctx(codes: np.ndarray, chunks: int | None = None, **kw) -> IndicatorContext:
    """One-hot fractions from a grid of legend keys ('' = outside the area)."""
    h, w = codes.shape
    grid = Grid("EPSG:28992", 100000.0, 400000.0 + h * C, C, w, h)
    fr = np.zeros((len(LEGEND.keys), h, w), dtype=np.float32)
    dom = np.full((h, w), 255, dtype=np.uint8)
    for i, key in enumerate(LEGEND.keys):
        fr[i] = codes == key
        dom[codes == key] = LEGEND.by_key(key).code
    fr[:, codes == ""] = np.nan
    inside = (codes != "").astype(np.float32)
    if chunks:
        fr = da.from_array(fr, chunks=(-1, chunks, chunks))
        dom, inside = da.from_array(dom, chunks=chunks), da.from_array(inside, chunks=chunks)
        kw["rasters"] = {k: da.from_array(v, chunks=chunks) for k, v in kw.get("rasters", {}).items()}
    return IndicatorContext(grid, LEGEND, fr, dom, inside, **kw)


# ------------------------------------------------------------------ the table

BRIEF_SPECIES = {"icarusblauwtje", "kleine_vos", "egel", "huismus", "gierzwaluw", "dwergvleermuis",
                 "bruine_kikker_pad", "kamsalamander", "ringslang", "ijsvogel", "zanglijster", "wilde_bij"}


def test_shipped_table_is_valid_and_complete():
    t = gs.load_species_table(legend=LEGEND)
    ids = {s.id for s in t.species}
    assert len(ids) >= 12 and ids >= BRIEF_SPECIES
    assert list(t.stressors) == ["light", "noise", "roads", "paving", "heat", "drought"]
    for s in t.species:
        assert s.key_area_ha.source and s.dispersal_m.source and s.habitat.source
        assert all(r.source for r in s.sensitivity.values())


@pytest.mark.skipif(not KB.exists(), reason="knowledge base not available")
def test_ratings_match_the_knowledge_base():
    """Transcription check: every H/M/L/? rating equals the first letter of the KB 1b cell."""
    text = KB.read_text(encoding="utf-8")
    block = text[text.index("### 1b."):].split("```csv", 1)[1].split("```", 1)[0]
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(block.strip()))}
    columns = {"light": "light", "roads": "roads_barrier", "noise": "noise", "paving": "paving",
               "drought": "drought", "heat": "heat", "pesticide": "pesticide"}
    t = gs.load_species_table()
    for sp in t.species:
        kb = rows[sp.id]
        for ours, theirs in columns.items():
            assert sp.sensitivity[ours].rating == kb[theirs].strip()[0], (sp.id, ours)
    # the one value the BST verified: drought is not negative for the common blue
    assert t.species[0].sensitivity["drought"].ev == "V"
    assert next(s for s in t.species if s.id == "kamsalamander").dispersal_m.value == 700  # SB2000


def _write_table(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load(gs.params_path(gs.SPECIES_FILE).read_text(encoding="utf-8"))
    edit(doc)
    (tmp_path / gs.SPECIES_FILE).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["species"][0]["key_area_ha"].pop("ev"), "ev"),
    (lambda d: d["species"][0]["dispersal_m"].update(ev="X"), "ev"),
    (lambda d: d["species"][1]["sensitivity"].pop("noise"), "no sensitivity rating"),
    (lambda d: d["species"][2]["habitat"]["weights"].update(lawn_grass=1.5), "between 0 and 1"),
    (lambda d: d["species"][3].update(id="egel"), "repeated"),
    (lambda d: d["stressors"]["noise"].update(full_at=45), "full_at"),
    (lambda d: d["species"][0]["sensitivity"]["light"].update(source=""), "source"),
])
def test_invalid_tables_are_refused(tmp_path, edit, match):
    with pytest.raises(ConfigError, match=match):
        gs.load_species_table(_write_table(tmp_path, edit))


def test_unknown_land_cover_class_is_refused(tmp_path):
    d = _write_table(tmp_path, lambda d: d["species"][0]["habitat"]["weights"].update(meadow=1.0))
    with pytest.raises(ConfigError, match="meadow"):
        gs.load_species_table(d, LEGEND)


# ------------------------------------------------------------------ suitability and penalties

def test_class_suitability_by_hand():
    k = LEGEND.keys
    fr = np.zeros((len(k), 1, 4), dtype=np.float32)
    fr[k.index("herb_rich_grassland"), 0] = [0.5, 0.25, 0.2, 0.0]
    fr[k.index("lawn_grass"), 0] = [0.5, 0.25, 0.0, 0.0]
    fr[k.index("unknown"), 0] = [0.0, 0.0, 0.3, 0.0]
    fr[:, 0, 3] = np.nan  # outside
    h = gs.class_suitability(fr, k, {"herb_rich_grassland": 1.0, "lawn_grass": 0.2}, max_unknown_share=0.5)
    # (0.5*1 + 0.5*0.2)/1 = 0.6; boundary cell (inside 0.5): (0.25 + 0.05)/0.5 = 0.6;
    # 0.3 of 0.5 inside is unknown (60 % > 50 %): NaN; outside: NaN
    np.testing.assert_allclose(h[0, :2], [0.6, 0.6], rtol=1e-6)
    assert np.isnan(h[0, 2:]).all()


def test_ramp():
    x = np.array([40.0, 45.0, 55.0, 65.0, 80.0, np.nan])
    np.testing.assert_allclose(gs.ramp(x, 45, 65), [0, 0, 0.5, 1, 1, 0])


def test_penalties_suitability_and_limiting_by_hand():
    t = gs.load_species_table()
    sp = next(s for s in t.species if s.id == "egel")  # light M, noise L, roads H, paving H, heat L, drought M
    inten = {"light": np.array([1.0, 0.0, 0.5, 0.0, 0.01, 0.125]), "noise": np.array([0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
             "roads": np.array([0.0, 0.0, 0.5, 0.0, 0.0, 0.0]), "paving": None, "heat": None,
             "drought": np.zeros(6)}
    pens = gs.species_penalties(sp, inten, t.defaults.penalty)
    assert pens["paving"] is None and pens["heat"] is None
    h = np.array([1.0, 0.5, 0.8, 0.0, 0.9, 1.0])
    s = gs.apply_penalties(h, pens)
    # cell 0: light 0.4*1 -> 0.6; cell 1: noise 0.1*1 -> 0.45; cell 2: (1-0.2)(1-0.4) * 0.8 = 0.384
    np.testing.assert_allclose(s, [0.6, 0.45, 0.384, 0.0, 0.9 * (1 - 0.004), 0.95], rtol=1e-6)
    lim = gs.limiting_stressor(h, pens, min_penalty=0.05)
    # cell 2: roads (0.4) beats light (0.2); cell 3: no habitat -> NaN; cell 4: 0.004 < 0.05 -> none;
    # cell 5: light 0.4 * 0.125 = 0.05 exactly, not below the minimum -> light
    np.testing.assert_array_equal(lim[:3], [1, 2, 3])
    assert np.isnan(lim[3]) and lim[4] == 0 and lim[5] == 1


# ------------------------------------------------------------------ networks

def two_patches(gap_cells: int) -> np.ndarray:
    s = np.zeros((6, 4 + gap_cells + 4))
    s[2:4, 1:3] = 1.0
    s[2:4, 3 + gap_cells:5 + gap_cells] = 1.0
    return s


@pytest.mark.parametrize("gap", [1, 5, 12])
def test_networks_merge_and_split_exactly_at_the_dispersal_distance(gap):
    s = two_patches(gap)
    gap_m = gap * C  # edge to edge along the row
    for dispersal, n_networks in ((gap_m, 1), (gap_m + 5, 1), (gap_m - 0.01, 2), (0.0, 2)):
        net = gs.species_networks(s, 0.5, C, dispersal, key_area_ha=0.01)
        assert len(net.table) == n_networks, (gap, dispersal)
        assert net.patch_labels.max() == 2


def test_touching_diagonal_cells_are_one_patch():
    s = np.zeros((4, 4))
    s[0, 0] = s[1, 1] = 1.0
    net = gs.species_networks(s, 0.5, C, 0.0, 0.01)
    assert net.patch_labels.max() == 1 and len(net.table) == 1


def test_diagonal_gap_is_centre_distance_minus_one_cell():
    s = np.zeros((6, 7))
    s[0, 0] = s[3, 4] = 1.0  # centres 50 m apart -> gap 40 m
    assert len(gs.species_networks(s, 0.5, C, 40.0, 0.01).table) == 1
    assert len(gs.species_networks(s, 0.5, C, 39.99, 0.01).table) == 2


def test_single_linkage_chains_patches():
    s = np.zeros((3, 13))
    s[1, [0, 5, 12]] = 1.0  # A-B gap 40 m, B-C gap 60 m, A-C gap 110 m
    assert len(gs.species_networks(s, 0.5, C, 60.0, 0.01).table) == 1
    net = gs.species_networks(s, 0.5, C, 40.0, 0.01)
    assert len(net.table) == 2 and net.network_ids[1, 0] == net.network_ids[1, 5] != net.network_ids[1, 12]
    assert len(gs.species_networks(s, 0.5, C, 39.0, 0.01).table) == 3


def brute_force_networks(labels: np.ndarray, n: int, dispersal: float) -> np.ndarray:
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    d = np.hypot(ys[:, None] - ys[None, :], xs[:, None] - xs[None, :]) * C - C  # gap: centre distance - cell
    a, b = np.nonzero(d <= dispersal + 1e-9)
    _, comp = csgraph.connected_components(coo_matrix((np.ones(len(a)), (lab[a], lab[b])), shape=(n + 1, n + 1)),
                                           directed=False)
    return comp[1:]


@pytest.mark.parametrize("seed", range(6))
def test_linking_equals_brute_force_single_linkage(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((40, 50)) < 0.06
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    for dispersal in (0.0, 10.0, 20.0, 10 * math.sqrt(13) - 10, 45.0, 70.0):
        ours, m = gs.link_patches(labels.astype(np.int32), n, C, dispersal)
        ref = brute_force_networks(labels, n, dispersal)
        pairs = set(zip(ours[1:].tolist(), ref.tolist(), strict=True))
        assert len(pairs) == m == len(set(ref.tolist())), (seed, dispersal)


def test_key_population_threshold():
    s = np.zeros((5, 12))
    s[1:3, 1:3] = 0.8  # 4 cells = 0.04 ha
    s[1:3, 6:9] = 0.6  # 6 cells = 0.06 ha, 30 m from the first
    inside = np.ones(s.shape)
    net = gs.species_networks(s, 0.5, C, 30.0, key_area_ha=0.10, inside=inside)
    assert net.table["area_ha"].tolist() == pytest.approx([0.10])
    assert net.table["key_population"].tolist() == [True]  # exactly the key area
    assert net.table["effective_area_ha"].iloc[0] == pytest.approx(0.04 * 0.8 + 0.06 * 0.6)
    assert not gs.species_networks(s, 0.5, C, 30.0, key_area_ha=0.1001, inside=inside).table["key_population"][0]
    split = gs.species_networks(s, 0.5, C, 29.0, key_area_ha=0.05, inside=inside)
    assert split.table["key_population"].tolist() == [False, True]
    assert split.status[1, 1] == 1 and split.status[1, 6] == 2 and split.status[0, 0] == 0
    # a cell half outside the area counts half
    inside[1, 6] = 0.5
    assert gs.species_networks(s, 0.5, C, 30.0, 0.1, inside).table["area_ha"][0] == pytest.approx(0.095)


def test_network_polygons_have_the_network_area():
    s = np.zeros((8, 10))
    s[1:3, 1:4] = 1.0
    s[5:7, 6:9] = 1.0
    s[4, 0] = 1.0
    grid = Grid("EPSG:28992", 0.0, 80.0, C, 10, 8)
    net = gs.species_networks(s, 0.5, C, 20.0, 0.05)
    gdf = gs.network_polygons(net, grid)
    assert len(gdf) == len(net.table) == 2
    np.testing.assert_allclose(gdf.geometry.area / 10000.0, gdf["area_ha"])
    assert gdf.geometry.is_valid.all() and gdf.crs.to_epsg() == 28992


# ------------------------------------------------------------------ compute()

def one_species_table(tmp_path: Path) -> Path:
    """A one-species table with light, noise (rasters) and roads (land cover) as stressors."""
    def edit(d):
        sp = next(s for s in d["species"] if s["id"] == "egel")
        sp["habitat"]["weights"] = {"shrub": 1.0, "lawn_grass": 0.5}
        sp["key_area_ha"]["value"] = 0.5
        sp["dispersal_m"]["value"] = 20.0
        sp["sensitivity"] = {k: v for k, v in sp["sensitivity"].items() if k in ("light", "noise", "roads")}
        d["species"] = [sp]
        d["stressors"] = {k: v for k, v in d["stressors"].items() if k in ("light", "noise", "roads")}
    return _write_table(tmp_path, edit)


def test_limiting_stressor_map_from_rasters(tmp_path):
    codes = np.full((30, 40), "shrub", dtype=object)
    codes[:, 36:] = "road"
    light = np.zeros(codes.shape)
    light[:10, :] = 1.0  # top: fully lit
    noise = np.full(codes.shape, 40.0)
    noise[10:20, :] = 65.0  # middle: noisy (full intensity at 65 dB)
    ctx = make_ctx(codes, rasters={"light": light, "noise": noise}, params_dir=one_species_table(tmp_path))
    res = {r.name: r for r in gs.compute(ctx)}
    lim, s = res["guide_egel_limiting"].array, res["guide_egel_suitability"].array
    # egel: light M (0.4), noise L (0.1), roads H (0.8); roads share within 50 m of column 0-30 is 0
    assert (lim[:10, :25] == 1).all() and (lim[10:20, :25] == 2).all() and (lim[20:, :25] == 0).all()
    np.testing.assert_allclose(s[:10, :25], 0.6, rtol=1e-6)
    np.testing.assert_allclose(s[10:20, :25], 0.9, rtol=1e-6)
    np.testing.assert_allclose(s[20:, :25], 1.0, rtol=1e-6)
    assert (lim[20:, 33:36] == 3).all()  # next to the road, roads limit
    assert np.isnan(lim[:, 36:]).all()  # road cells are no habitat
    table = res["guide_species_key_networks"].tables["guide_species_summary"]
    assert table.loc[0, "limited_by_light_ha"] == pytest.approx(np.sum(lim == 1) * 0.01)
    notes = " ".join(res["guide_species_key_networks"].notes)
    assert "ctx.rasters['light']" in notes and "ctx.rasters['noise']" in notes


def test_network_status_through_compute(tmp_path):
    codes = np.full((20, 30), "building", dtype=object)  # weight 0 and no stressor in this table
    codes[2:7, 2:12] = "shrub"  # 50 cells = 0.5 ha: a key population on its own
    codes[12:14, 2:4] = "shrub"  # 4 cells, gap 40 m: a separate small network (dispersal 20 m)
    ctx = make_ctx(codes, rasters={"light": np.zeros(codes.shape), "noise": np.zeros(codes.shape)},
                   params_dir=one_species_table(tmp_path))
    res = {r.name: r for r in gs.compute(ctx)}
    status = res["guide_egel_network"].array
    assert (status[2:7, 2:12] == 2).all() and (status[12:14, 2:4] == 1).all() and (status[0] == 0).all()
    layer = res["guide_species_key_networks"].layers["guide_species_networks"]
    assert sorted(layer["key_population"].tolist()) == [False, True]


def test_derived_stressors_and_missing_rasters_are_noted():
    codes = np.full((20, 20), "garden_allotment", dtype=object)
    codes[10, :] = "road"
    res = gs.compute(make_ctx(codes))
    notes = " ".join(res[0].notes)
    assert "light_proxy" in notes and "noise_road_proxy" in notes
    assert "no 'heat' raster supplied; not applied" in notes and "no 'drought' raster" in notes
    assert len(res) == 1 + 3 * len(gs.load_species_table().species)


def test_chunked_equals_in_memory():
    rng = np.random.default_rng(11)
    keys = np.array(["shrub", "garden_allotment", "herb_rich_grassland", "road", "building", "water",
                     "trees_woodland", "lawn_grass"], dtype=object)
    codes = rng.choice(keys, size=(48, 52), p=[0.2, 0.15, 0.15, 0.15, 0.1, 0.05, 0.1, 0.1])
    codes[:, :2] = ""
    heat = rng.uniform(0, 1, codes.shape)
    a = gs.compute(make_ctx(codes, rasters={"heat": heat}))
    b = gs.compute(make_ctx(codes, chunks=13, rasters={"heat": heat}))
    for ra, rb in zip(a, b, strict=True):
        assert ra.name == rb.name
        x = np.asarray(ra.array)
        y = np.asarray(rb.array.compute() if isinstance(rb.array, da.Array) else rb.array)
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    sa, sb = (r[0].tables["guide_species_summary"] for r in (a, b))
    np.testing.assert_allclose(sa.select_dtypes("number"), sb.select_dtypes("number"), rtol=1e-5)
